//! Integration tests of `imagesmith-render`: snapshots of the seed project's rendered tree,
//! determinism, and every rendered file checked by the tool that owns its format.

mod checkers;
mod snapshots;
mod support;
