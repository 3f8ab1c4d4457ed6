//! Integration tests of imagesmith-sandbox, one module per area

mod escape;
mod namespaces;
mod plan;
mod root;
