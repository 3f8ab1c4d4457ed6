//! The error type of this crate

use std::path::PathBuf;

/// Why this host cannot run a sandbox
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    /// The kernel has no overlay filesystem
    NoOverlay,
    /// `/proc/sys/kernel/unprivileged_userns_clone` is 0 (Debian and Ubuntu kernels)
    UnprivilegedUserNamespacesDisabled,
    /// `/proc/sys/user/max_user_namespaces` is 0
    NoUserNamespacesAllowed,
    /// Unprivileged overlay mounts need Linux 5.11 or later
    KernelTooOldForRootlessOverlay {
        /// The running kernel release
        release: String,
    },
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsupported::NoOverlay => write!(
                f,
                "the kernel has no `overlay` filesystem (not in `/proc/filesystems`)\n  hint: run `modprobe overlay` as root"
            ),
            Unsupported::UnprivilegedUserNamespacesDisabled => write!(
                f,
                "unprivileged user namespaces are disabled (`/proc/sys/kernel/unprivileged_userns_clone` is 0)\n  hint: run `sysctl kernel.unprivileged_userns_clone=1` as root, or build as root"
            ),
            Unsupported::NoUserNamespacesAllowed => write!(
                f,
                "user namespaces are disabled (`/proc/sys/user/max_user_namespaces` is 0)\n  hint: run `sysctl user.max_user_namespaces=15000` as root, or build as root"
            ),
            Unsupported::KernelTooOldForRootlessOverlay { release } => write!(
                f,
                "kernel `{release}` cannot mount overlay in a user namespace (needs 5.11 or later)\n  hint: build as root"
            ),
        }
    }
}

/// Everything that can go wrong when running a command in a sandbox
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Neither rootful nor rootless sandboxes can run on this host
    #[error("Cannot run build steps in a sandbox on this host:\n{}", list(.problems))]
    Unsupported {
        /// Every problem found
        problems: Vec<Unsupported>,
    },
    /// A file operation failed; `fs-err` puts the path in the message
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A step of setting up the sandbox failed inside the child process
    #[error("Failed to set up the sandbox: {step} failed: {errno}")]
    Setup {
        /// The step, naming its paths
        step: String,
        /// The error the kernel returned
        errno: nix::errno::Errno,
    },
    /// The command could not be started in the sandbox
    #[error("Failed to start `{program}` in the sandbox")]
    Spawn {
        /// The program
        program: String,
        /// The underlying error
        #[source]
        source: std::io::Error,
    },
    /// A mount point inside the image is a symlink, which could lead a mount out of the image
    #[error("`{path}` in the image is a symlink; refusing to mount over it")]
    SymlinkMountPoint {
        /// The path inside the image
        path: PathBuf,
    },
    /// The configuration is not usable
    #[error("Invalid sandbox configuration: {reason}")]
    InvalidConfig {
        /// What is wrong
        reason: String,
    },
}

fn list(problems: &[Unsupported]) -> String {
    problems
        .iter()
        .map(|problem| format!("- {problem}"))
        .collect::<Vec<_>>()
        .join("\n")
}
