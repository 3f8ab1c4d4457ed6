//! Integration tests: `fake` runs the whole builder with a recording sandbox (no root
//! needed); `e2e` builds real images as root (run alone with
//! `cargo nextest run -p imagesmith-build -E 'test(e2e)'`); `rootless` builds a small
//! image as an unprivileged user (run as root, which switches to a throwaway user);
//! `escape` builds an image with a hostile component, rootful and rootless (issue 8);
//! `buildah` (called by `e2e`) builds the rendered Dockerfiles with buildah (issue 12)

mod buildah;
mod e2e;
mod e2e_support;
mod escape;
mod fake;
mod registry;
mod rootless;
