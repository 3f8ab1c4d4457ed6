//! Integration tests of the diagnostics crate, one module per area.

mod render;
mod source;
