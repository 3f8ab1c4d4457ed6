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
    /// `/proc/sys/kernel/apparmor_restrict_unprivileged_userns` is 1 (Ubuntu 23.10 and
    /// later): user namespaces are created without capabilities
    AppArmorRestrictsUserNamespaces,
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
            Unsupported::AppArmorRestrictsUserNamespaces => write!(
                f,
                "AppArmor restricts unprivileged user namespaces (`/proc/sys/kernel/apparmor_restrict_unprivileged_userns` is 1)\n  hint: build as root, or allow `userns` for imagesmith in an AppArmor profile"
            ),
            Unsupported::KernelTooOldForRootlessOverlay { release } => write!(
                f,
                "kernel `{release}` cannot mount overlay in a user namespace (needs 5.11 or later)\n  hint: build as root"
            ),
        }
    }
}

/// Why a rootless build maps only the user itself (root) into its user namespace
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleIdReason {
    /// The user has no range in `/etc/subuid` or `/etc/subgid`
    NoSubordinateIds {
        /// The user name (or uid)
        user: String,
    },
    /// `newuidmap` or `newgidmap` is not installed
    NoNewIdMap,
}

impl std::fmt::Display for SingleIdReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SingleIdReason::NoSubordinateIds { user } => write!(
                f,
                "user `{user}` has no subordinate ids in `/etc/subuid` and `/etc/subgid`, so only root is mapped in the build's user namespace and steps cannot give files to other users (chown, packages that add system users)\n  hint: run `sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}` (a range no other user has), or build as root"
            ),
            SingleIdReason::NoNewIdMap => write!(
                f,
                "`newuidmap` and `newgidmap` are not installed, so only root is mapped in the build's user namespace and steps cannot give files to other users\n  hint: install them (`apt-get install uidmap`) and give the user a range in `/etc/subuid` and `/etc/subgid`"
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
    /// Entering the build's user namespace failed
    #[error("Cannot enter a user namespace: {reason}")]
    UserNamespace {
        /// What went wrong, with a hint
        reason: String,
    },
    /// The proxy's listening socket made in the sandbox did not reach the runner
    #[error("The sandbox did not hand over the listening socket of the build's proxy: {reason}\nhint: this is a bug in imagesmith; run the build again with `--no-network` to build without the network")]
    ProxyListener {
        /// What went wrong
        reason: String,
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
