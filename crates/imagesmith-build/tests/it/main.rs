//! Integration tests: `fake` runs the whole builder with a recording sandbox (no root
//! needed); `e2e` builds real images as root (run alone with
//! `cargo nextest run -p imagesmith-build -E 'test(e2e)'`)

mod e2e;
mod fake;
mod registry;
