//! Integration tests of imagesmith-sandbox, one module per area

mod escape;
mod plan;
mod root;
