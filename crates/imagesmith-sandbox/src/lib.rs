//! Sandboxed execution of build steps in Linux namespaces over an overlay root
//!
//! A command runs in new mount, pid, uts, ipc and network namespaces, rooted by `pivot_root`
//! at an overlay of the image's layers whose upper directory collects its changes. Its network
//! namespace has only loopback; with [`Network::Proxy`] a socket listening on its
//! `127.0.0.1:port` is made in it before the command starts and handed (`SCM_RIGHTS`) to a
//! [`ProxyServer`] of the caller, which serves it from the host's namespace: the command's
//! only way out, with nothing else of the host's network in reach. `/proc`, `/sys`, a minimal
//! `/dev` and, for the run only, secrets on a read-only tmpfs are mounted in; none of it
//! reaches the host or the upper directory.
//!
//! The setup is a list of [`Step`]s computed by [`plan`] before forking, then executed in the
//! child through the [`Syscalls`] trait: [`LinuxSyscalls`] for real, [`RecordingSyscalls`] in
//! tests. The child forks twice: once to enter the pid namespace, once so that pid 1 is a tiny
//! init that reaps orphans and exits with the command's status. Nothing is global.
//!
//! # What a command may do
//!
//! A build step is an untrusted program (a vendor's install script, a package's maintainer
//! scripts), so it runs behind the walls runc and Docker put around a container:
//!
//! - **Filesystems**: `/proc` with [`READ_ONLY_PATHS`] (the sysctls, `sysrq-trigger`, …)
//!   read-only and [`MASKED_PATHS`] (`/proc/kcore`, `/proc/keys`, `/sys/firmware`, …)
//!   hidden; `/sys` a read-only sysfs; `/dev` only the OCI default devices
//!   ([`DEVICES`]). The overlay root and every scratch mount are `nodev` and `nosuid`, so a
//!   device node made in the image cannot reach a host device.
//! - **Capabilities**: only [`DEFAULT_CAPABILITIES`] (Docker's without `CAP_NET_RAW`:
//!   enough for package managers to `chown`, switch to their own users and `setcap`),
//!   dropped from the bounding set before the ids change, while `CAP_SETPCAP` is still
//!   there, and `no_new_privs` (set-user-id programs do not raise privileges).
//! - **System calls**: a seccomp filter failing [`DENIED_SYSCALLS`] (modules, kexec, the
//!   kernel keyring, BPF, perf, ptrace, swap, the kernel log, every mount call, `setns`)
//!   and, by their arguments, [`ARGUMENT_RULES`]: new namespaces (`unshare -U`), `TIOCSTI`,
//!   packet sockets, block device nodes, as Docker's default profile does.
//! - **No terminal**: stdin is `/dev/null` and the command runs in a session of its own, so
//!   it has no controlling terminal to read or inject keystrokes into.
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
pub use config::{Mode, Network, OverlayRoot, ProxyServer, SandboxConfig, Secret, ServeGuard};
pub use error::{SandboxError, SingleIdReason, Unsupported};
pub use harden::{
    default_capability_mask, rules, seccomp_program, Capability, Check, Rule, SeccompProgram,
    SockFilter, ARGUMENT_RULES, DEFAULT_CAPABILITIES, DENIED_SYSCALLS,
};
pub use idmap::{subordinate_ranges, IdMap, IdRange, SubordinateRange};
pub use plan::{
    execute, kernel_paths, kernel_walls, mount_points, overlay_options, plan, MountPoint, Step,
    DEVICES, MASKED_PATHS, READ_ONLY_PATHS,
};
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
