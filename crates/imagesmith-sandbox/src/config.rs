//! What to run and over which filesystem

use std::path::PathBuf;
use std::time::Duration;

/// How privileged operations are possible on this host
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Running as root: namespaces and mounts directly
    Rootful,
    /// Running as root inside a user namespace (the one [`crate::reexec_in_user_namespace`]
    /// enters, or any other): namespaces and mounts work as for root, but overlays need
    /// `userxattr`, device nodes cannot be created and only the mapped ids exist
    UserNamespace {
        /// Only one uid and one gid (root) are mapped: the user has no subordinate ids in
        /// `/etc/subuid` and `/etc/subgid`, so files cannot be given to other users
        single_id: bool,
        /// Whether `setgroups(2)` is allowed (`/proc/self/setgroups` is not `deny`)
        setgroups: bool,
    },
    /// Running as an unprivileged user: each run makes its own user namespace that maps
    /// root in the sandbox to this host user and group (a single-id mapping); enough for
    /// commands that only write as root, not for builds (see
    /// [`crate::reexec_in_user_namespace`])
    Rootless {
        /// The host uid mapped to root
        uid: u32,
        /// The host gid mapped to root
        gid: u32,
    },
}

impl Mode {
    /// Whether overlays are mounted in a user namespace (and so need `userxattr`)
    pub fn in_user_namespace(self) -> bool {
        !matches!(self, Mode::Rootful)
    }

    /// Whether ids other than root's cannot be used (a single-id user namespace)
    pub fn single_id(self) -> bool {
        match self {
            Mode::Rootful => false,
            Mode::UserNamespace { single_id, .. } => single_id,
            Mode::Rootless { .. } => true,
        }
    }
}

/// The overlay the command runs on: read-only lower layers, and the build's own upper, work
/// and mount-point directories (which must be on one filesystem, not itself an overlay)
#[derive(Debug, Clone)]
pub struct OverlayRoot {
    /// The lower directories, top-most first (overlayfs' order); at least one, e.g. a single
    /// extracted base
    pub lower_dirs: Vec<PathBuf>,
    /// Where the command's changes land; a layer is taken from it afterwards
    pub upper_dir: PathBuf,
    /// Overlayfs' scratch directory
    pub work_dir: PathBuf,
    /// Where the overlay is mounted (inside the sandbox's own mount namespace only)
    pub merged_dir: PathBuf,
}

/// A file given to the command only while it runs, on a read-only tmpfs
#[derive(Clone)]
pub struct Secret {
    /// The file name in the secrets directory (no `/`)
    pub name: String,
    /// The content
    pub contents: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("name", &self.name)
            .field("contents", &"<redacted>")
            .finish()
    }
}

/// Everything about one command run
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The filesystem
    pub root: OverlayRoot,
    /// The program and its arguments; a program without `/` is looked up in the `PATH` of
    /// `env`, inside the sandbox
    pub command: Vec<String>,
    /// The whole environment of the command
    pub env: Vec<(String, String)>,
    /// The working directory inside the sandbox
    pub cwd: PathBuf,
    /// The uid the command runs as inside the sandbox
    pub uid: u32,
    /// The gid the command runs as inside the sandbox
    pub gid: u32,
    /// The sandbox's hostname
    pub hostname: String,
    /// Whether the command can reach the network (the host's); otherwise it has its own
    /// network namespace with only loopback
    pub network: bool,
    /// Whether `/dev/pts` is mounted
    pub dev_pts: bool,
    /// Files mounted read-only in `secrets_dir` for this command only
    pub secrets: Vec<Secret>,
    /// Where secrets are mounted inside the sandbox
    pub secrets_dir: PathBuf,
    /// How long the command may run before its process group is killed
    pub timeout: Option<Duration>,
    /// A file the command's stdout and stderr are appended to, as they come
    pub log_file: Option<PathBuf>,
    /// Rootful or rootless; see [`crate::detect_mode`]
    pub mode: Mode,
}

impl SandboxConfig {
    /// A config running `command` as root in `/` with a default `PATH`, no network, no
    /// secrets, no timeout
    pub fn new(root: OverlayRoot, command: Vec<String>, mode: Mode) -> Self {
        Self {
            root,
            command,
            env: vec![(
                String::from("PATH"),
                String::from("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            )],
            cwd: PathBuf::from("/"),
            uid: 0,
            gid: 0,
            hostname: String::from("imagesmith"),
            network: false,
            dev_pts: true,
            secrets: Vec::new(),
            secrets_dir: PathBuf::from("/run/secrets"),
            timeout: None,
            log_file: None,
            mode,
        }
    }
}
