//! The local builder: runs component phases in the sandbox and produces OCI images with
//! caching
//!
//! `imagesmith build` in a library: for each image of a [`LockedProject`](imagesmith_plan::LockedProject)
//! (golden images first, independent images in parallel), it resolves the base (a Debian
//! bootstrap, an OCI layout, a root filesystem), then for each component runs the AWSTOE
//! document's `build` and `validate` phases in one sandboxed overlay on the layers below and
//! turns the overlay's upper directory into a deterministic layer. The finished image's
//! `test` phase then runs in a fresh overlay that is thrown away. Layers are cached by their
//! parent chain, the component's digest and parameters, so an unchanged image rebuilds
//! without running any step.
//!
//! Reproducibility: every timestamp is the build epoch (`SOURCE_DATE_EPOCH`, default 0, the
//! same in every layer, history entry and `created` field), trees are normalised before a
//! layer is taken ([`normalize::REMOVED`]), and Debian bases are bootstrapped with
//! mmdebstrap under the same epoch.
//!
//! ```no_run
//! # fn demo(plan: &imagesmith_plan::LockedProject) -> Result<(), imagesmith_build::BuildError> {
//! use imagesmith_build::{progress, BuildOptions, Builder, HttpProbe, LinuxMounter};
//! use imagesmith_sandbox::LinuxSandbox;
//! let sandbox = LinuxSandbox::new();
//! let probe = HttpProbe::default();
//! let progress = progress::auto();
//! let builder = Builder {
//!     sandbox: &sandbox,
//!     mounter: &LinuxMounter,
//!     probe: &probe,
//!     progress: progress.as_ref(),
//! };
//! let mut options = BuildOptions::new();
//! options.output = Some("out".into());
//! options.skip_unavailable = true;
//! let summary = builder.build(plan, &options)?;
//! println!("{}", summary.images[0].digest);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod base;
mod builder;
pub mod cache;
mod error;
mod host;
pub mod httpcache;
pub mod mount;
pub mod normalize;
pub mod preflight;
pub mod progress;
pub mod sbom;

pub use builder::{
    BaseReport, BuildOptions, BuildSummary, Builder, ComponentReport, ImageReport, OutputFormat,
    RegistryCredentials, COMPONENT_LABEL_PREFIX, OMITTED_LABEL,
};
pub use cache::{default_cache_dir, Cache};
pub use error::{BuildError, StepFailure, Unavailable};
pub use mount::{LinuxMounter, Mounter, NoMounter};
pub use preflight::{HttpProbe, Probe, Secrets};
