//! Integration tests of the YAML crate, one module per area.

mod edit;
mod file;
