//! What to run and over which filesystem

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
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

/// The network of a command: always a network namespace of its own, so the host's
/// interfaces, its loopback listeners and its traffic are out of reach
///
/// There is no way to share the host's network namespace: nothing the builder runs needs it
/// (BuildKit offers `--network=host` only as an explicit insecure entitlement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// Only loopback, with nothing on it (the test phase, `--no-network`)
    None,
    /// Only loopback, plus a TCP socket listening on the sandbox's `127.0.0.1:port`, made
    /// inside the namespace before the command starts and handed to `server`, which serves it
    /// from the host's side (the build's proxy) until the run ends
    ///
    /// The command resolves no names (the proxy does): it does not get the host's
    /// `/etc/resolv.conf` and keeps the image's own, where any lookup fails at once
    Proxy {
        /// The port on the sandbox's loopback
        port: u16,
        /// What serves the listening socket
        server: ProxyServer,
    },
}

impl Network {
    /// Whether the command has a way out (a proxy)
    pub fn is_proxy(&self) -> bool {
        matches!(self, Network::Proxy { .. })
    }
}

/// What a [`ProxyServer`] returns for a listener: kept while the command runs, dropped
/// (which must stop serving and close the listener) when the run ends
pub type ServeGuard = Box<dyn Send>;

/// Serves the listening socket [`Network::Proxy`] makes in a sandbox's network namespace;
/// called once per run, from the thread running the sandbox, as soon as the command has
/// started (connections made before then wait in the socket's backlog)
#[derive(Clone)]
pub struct ProxyServer(Arc<dyn Fn(TcpListener) -> ServeGuard + Send + Sync>);

impl ProxyServer {
    /// A server calling `serve` with each run's listener
    pub fn new(serve: impl Fn(TcpListener) -> ServeGuard + Send + Sync + 'static) -> Self {
        ProxyServer(Arc::new(serve))
    }

    /// Hands `listener` over; the guard is dropped when the run ends
    pub fn serve(&self, listener: TcpListener) -> ServeGuard {
        (self.0)(listener)
    }
}

impl std::fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyServer")
    }
}

impl PartialEq for ProxyServer {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ProxyServer {}

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
    /// What the command's network namespace (always its own) has besides loopback
    pub network: Network,
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
            network: Network::None,
            dev_pts: true,
            secrets: Vec::new(),
            secrets_dir: PathBuf::from("/run/secrets"),
            timeout: None,
            log_file: None,
            mode,
        }
    }
}
