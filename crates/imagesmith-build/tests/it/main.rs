//! Integration tests: `fake` runs the whole builder with a recording sandbox (no root
//! needed); `e2e` builds real images as root (run alone with
//! `cargo nextest run -p imagesmith-build -E 'test(e2e)'`); `rootless` builds a small
//! image as an unprivileged user (run as root, which switches to a throwaway user)

mod e2e;
mod fake;
mod registry;
mod rootless;
