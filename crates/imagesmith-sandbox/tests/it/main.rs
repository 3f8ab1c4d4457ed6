//! Integration tests of imagesmith-sandbox, one module per area

mod namespaces;
mod plan;
mod root;
