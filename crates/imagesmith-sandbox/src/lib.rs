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
//! # What a command may do
//!
//! The command keeps only Docker's default capabilities ([`DEFAULT_CAPABILITIES`]: enough
//! for package managers to `chown`, switch to their own users and `setcap`), runs with
//! `no_new_privs` (set-user-id programs do not raise privileges) and under a seccomp filter
//! that fails [`DENIED_SYSCALLS`] (modules, kexec, the kernel keyring, BPF, perf, ptrace,
//! swap) with `EPERM`. The bounding set is dropped before the ids change, while
//! `CAP_SETPCAP` is still there; `no_new_privs` and the filter come last.
//!
//! # Root and rootless
//!
//! [`detect_mode`] picks the [`Mode`]. As root, namespaces and mounts are made directly.
//! An unprivileged build first re-executes itself in a user namespace
//! ([`reexec_in_user_namespace`], as buildah and podman do): root there is the user, ids 1
//! to 65536 are its range in `/etc/subuid` and `/etc/subgid` (mapped with `newuidmap` and
//! `newgidmap`), and everything then runs as for root ([`Mode::UserNamespace`]), except that
//! overlays use `userxattr` and device nodes cannot be created. A user without subordinate
//! ids gets a single-id namespace, where giving a file to another user fails; when the
//! kernel allows no user namespace at all, [`SandboxError::Unsupported`] lists why and how
//! to fix it. Every decision is made by [`plan_user_namespace`] and [`detect_mode_on`] over a
//! [`HostInfo`], so each is unit-tested with a fake host.
//!
//! Either way, the whole build runs in mount and pid namespaces of its own
//! ([`reexec_in_build_namespaces`]): when it dies, for any reason, every helper it started
//! dies with it and every mount it made vanishes.
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

mod build_namespaces;
mod config;
mod error;
mod harden;
mod idmap;
mod plan;
mod preflight;
mod run;
mod syscalls;
mod userns;

pub use build_namespaces::{
    build_pid, exit_code, pid_namespace_steps, reexec_in_build_namespaces, rootful_steps,
    spawn_in_namespaces, wait_forwarding_signals, BUILD_PID_VARIABLE, NAMESPACES_MARKER,
};
pub use config::{Mode, OverlayRoot, SandboxConfig, Secret};
pub use error::{SandboxError, SingleIdReason, Unsupported};
pub use harden::{
    default_capability_mask, seccomp_program, Capability, SeccompProgram, SockFilter,
    DEFAULT_CAPABILITIES, DENIED_SYSCALLS,
};
pub use idmap::{subordinate_ranges, IdMap, IdRange, SubordinateRange};
pub use plan::{execute, mount_points, overlay_options, plan, MountPoint, Step, DEVICES};
pub use preflight::{
    detect_mode, detect_mode_on, in_user_namespace, kernel_at_least, plan_user_namespace, HostInfo,
    LinuxHost, UserNamespacePlan, REEXEC_MARKER,
};
pub use run::{LinuxSandbox, OutputSink, RunOutput, Sandbox, Stream};
pub use syscalls::{
    forward_signals_to, Call, ForkRole, LinuxSyscalls, RecordingSyscalls, Syscalls,
    FORWARDED_SIGNALS,
};
pub use userns::{reexec_in_user_namespace, Reexec};
