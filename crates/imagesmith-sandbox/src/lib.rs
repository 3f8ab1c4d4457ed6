//! Sandboxed execution of build steps in Linux namespaces over an overlay root
//!
//! A command runs in new mount, pid, uts and ipc namespaces (and a network namespace with only
//! loopback unless the network is allowed), rooted by `pivot_root` at an overlay of the image's
//! layers whose upper directory collects its changes. `/proc`, a minimal `/dev` and, for the
//! run only, secrets on a read-only tmpfs are mounted in; none of it reaches the host or the
//! upper directory.
//!
//! The setup is a list of [`Step`]s computed by [`plan`] before forking, then executed in the
//! child through the [`Syscalls`] trait: [`LinuxSyscalls`] for real, [`RecordingSyscalls`] in
//! tests. The child forks twice: once to enter the pid namespace, once so that pid 1 is a tiny
//! init that reaps orphans and exits with the command's status. Nothing is global.
//!
//! ```no_run
//! # fn main() -> Result<(), imagesmith_sandbox::SandboxError> {
//! use imagesmith_sandbox::{detect_mode, LinuxSandbox, OverlayRoot, Sandbox, SandboxConfig};
//! let root = OverlayRoot {
//!     lower_dirs: vec!["/build/base".into()],
//!     upper_dir: "/build/step1/upper".into(),
//!     work_dir: "/build/step1/work".into(),
//!     merged_dir: "/build/step1/merged".into(),
//! };
//! let command = vec!["/bin/sh".into(), "-c".into(), "echo hello > /x".into()];
//! let config = SandboxConfig::new(root, command, detect_mode()?);
//! let output = LinuxSandbox::new().run(&config, None)?;
//! assert!(output.success());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod config;
mod error;
mod plan;
mod preflight;
mod run;
mod syscalls;

pub use config::{Mode, OverlayRoot, SandboxConfig, Secret};
pub use error::{SandboxError, Unsupported};
pub use plan::{execute, mount_points, plan, MountPoint, Step, DEVICES};
pub use preflight::{detect_mode, kernel_at_least};
pub use run::{LinuxSandbox, OutputSink, RunOutput, Sandbox, Stream};
pub use syscalls::{Call, ForkRole, LinuxSyscalls, RecordingSyscalls, Syscalls};
