//! Integration tests of the diagnostics crate, one module per area.

mod codes;
mod render;
mod source;
