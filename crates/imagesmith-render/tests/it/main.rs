//! Integration tests of `imagesmith-render`: snapshots of the seed project's rendered tree,
//! determinism, every rendered file checked by the tool that owns its format, and the
//! Dockerfile's parity with the AWSTOE executor.

mod checkers;
mod parity;
mod snapshots;
mod support;
