//! Integration tests of imagesmith-sandbox, one module per area

mod plan;
mod root;
