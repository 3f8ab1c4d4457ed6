//! Running a command in the sandbox: fork, set up in the child, capture output, time out

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::config::{Network, SandboxConfig, ServeGuard};
use crate::error::SandboxError;
use crate::plan::{attach_proxy_channel, execute, inside, mount_points, plan, MountPoint};
use crate::syscalls::{LinuxSyscalls, Syscalls};

/// Which stream a chunk of output came from
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output
    Stdout,
    /// Standard error
    Stderr,
}

/// Called with each chunk of output as it arrives (for live progress)
pub type OutputSink = Arc<dyn Fn(Stream, &[u8]) + Send + Sync>;

/// What a finished command did
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// The exit code; a command killed by signal `N` exits `128 + N`
    pub exit_code: i32,
    /// Whether the timeout killed it
    pub timed_out: bool,
    /// Everything it wrote to stdout
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr
    pub stderr: Vec<u8>,
    /// How long it ran
    pub duration: Duration,
}

impl RunOutput {
    /// Exited 0 within the timeout
    pub fn success(&self) -> bool {
        self.exit_code == 0 && !self.timed_out
    }
}

/// Runs commands rooted at an image filesystem; the builder depends on this trait so it can
/// be tested with a fake
pub trait Sandbox {
    /// Runs `config.command` and waits for it
    fn run(
        &self,
        config: &SandboxConfig,
        output: Option<OutputSink>,
    ) -> Result<RunOutput, SandboxError>;
}

/// The Linux sandbox: namespaces, an overlay, `pivot_root`
#[derive(Debug, Clone, Default)]
pub struct LinuxSandbox<S = LinuxSyscalls> {
    syscalls: S,
}

impl LinuxSandbox<LinuxSyscalls> {
    /// The sandbox making real system calls
    pub fn new() -> Self {
        Self {
            syscalls: LinuxSyscalls,
        }
    }
}

impl<S: Syscalls + Clone + 'static> LinuxSandbox<S> {
    /// A sandbox making its privileged calls through `syscalls`
    pub fn with_syscalls(syscalls: S) -> Self {
        Self { syscalls }
    }
}

impl<S: Syscalls + Clone + 'static> Sandbox for LinuxSandbox<S> {
    fn run(
        &self,
        config: &SandboxConfig,
        output: Option<OutputSink>,
    ) -> Result<RunOutput, SandboxError> {
        let root = &config.root;
        for dir in [&root.upper_dir, &root.work_dir, &root.merged_dir] {
            fs_err::create_dir_all(dir)?;
        }
        let points = inspect_mount_points(config)?;
        let cleanup = Cleanup::new(&root.upper_dir, &points);
        let steps = plan(config, &points)?;
        let result = spawn_and_wait(config, steps, self.syscalls.clone(), output);
        // Even when the run failed, take our mount points back out of the upper directory
        let cleaned = cleanup.run();
        // Overlayfs leaves `work/work` with mode 000; without this an unprivileged builder
        // could not delete its own build directory
        let scratch = root.work_dir.join("work");
        if scratch.is_dir() {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs_err::set_permissions(&scratch, std::fs::Permissions::from_mode(0o700));
        }
        let output = result?;
        cleaned?;
        Ok(output)
    }
}

fn spawn_and_wait<S: Syscalls + 'static>(
    config: &SandboxConfig,
    mut steps: Vec<crate::plan::Step>,
    syscalls: S,
    sink: Option<OutputSink>,
) -> Result<RunOutput, SandboxError> {
    let (error_read, error_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|errno| SandboxError::Io(errno.into()))?;
    // The proxy's listener comes back over this pair: both ends close on exec, and the
    // sandbox's forks close every inherited descriptor, so none reaches the command
    let channel = match config.network {
        Network::Proxy { .. } => {
            use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
            let (ours, theirs) = socketpair(
                AddressFamily::Unix,
                SockType::SeqPacket,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .map_err(|errno| SandboxError::Io(errno.into()))?;
            attach_proxy_channel(&mut steps, theirs.as_raw_fd());
            Some((ours, theirs))
        }
        Network::None => None,
    };
    let error_fd = error_write.as_raw_fd();
    let descriptions: Vec<String> = steps.iter().map(|step| step.describe()).collect();

    let program = config.command[0].clone();
    let mut command = Command::new(&program);
    command
        .args(&config.command[1..])
        .env_clear()
        .envs(config.env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure only makes system calls on data prepared before the fork
    unsafe {
        command.pre_exec(move || {
            let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
            // A session of its own (which is also a process group of its own, killed
            // whole on timeout) without a controlling terminal: `/dev/tty` fails with
            // ENXIO and no terminal of the host can be given input (`TIOCSTI`)
            nix::unistd::setsid()?;
            execute_or_report(&steps, &syscalls, error_fd)
        });
    }
    let started = Instant::now();
    let spawned = command.spawn();
    drop(error_write);
    let ours = channel.map(|(ours, theirs)| {
        drop(theirs);
        ours
    });
    let mut child = match spawned {
        Ok(child) => child,
        Err(source) => {
            return Err(setup_error(&error_read, &descriptions)
                .unwrap_or(SandboxError::Spawn { program, source }))
        }
    };
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    // `spawn` returned once the command was executed, and the listener was sent before
    // that: it is waiting in our end (connections the command makes meanwhile wait in the
    // listener's backlog). Served until the run ends, when the guard is dropped.
    let _serving: Option<ServeGuard> = match (&config.network, ours) {
        (Network::Proxy { server, .. }, Some(ours)) => match receive_listener(&ours) {
            Ok(listener) => Some(server.serve(listener)),
            Err(reason) => {
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                return Err(SandboxError::ProxyListener { reason });
            }
        },
        _ => None,
    };

    let log = match &config.log_file {
        Some(path) => Some(Arc::new(Mutex::new(
            fs_err::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        ))),
        None => None,
    };
    let readers = [
        child
            .stdout
            .take()
            .map(|out| reader(out, Stream::Stdout, log.clone(), sink.clone())),
        child
            .stderr
            .take()
            .map(|err| reader(err, Stream::Stderr, log.clone(), sink.clone())),
    ];

    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Some(timeout) = config.timeout {
            if !timed_out && started.elapsed() >= timeout {
                timed_out = true;
                // The whole process group; init's death then ends the pid namespace
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let duration = started.elapsed();
    let [stdout, stderr] = readers.map(|reader| {
        reader
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default()
    });
    if let Some(error) = setup_error(&error_read, &descriptions) {
        return Err(error);
    }
    let exit_code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(255);
    Ok(RunOutput {
        exit_code,
        timed_out,
        stdout,
        stderr,
        duration,
    })
}

/// The listening socket a [`crate::Step::ListenProxy`] sent over `channel`
fn receive_listener(channel: &OwnedFd) -> Result<std::net::TcpListener, String> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::FromRawFd;
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let message = recvmsg::<()>(
        channel.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|errno| format!("receiving it failed: {errno}"))?;
    let mut received = Vec::new();
    for control in message
        .cmsgs()
        .map_err(|errno| format!("reading its control message failed: {errno}"))?
    {
        if let ControlMessageOwned::ScmRights(fds) = control {
            received.extend(fds);
        }
    }
    let mut fds = received.into_iter();
    let Some(fd) = fds.next() else {
        return Err(String::from("no descriptor arrived"));
    };
    // SAFETY: the kernel just gave us these descriptors; nothing else owns them
    for extra in fds {
        drop(unsafe { OwnedFd::from_raw_fd(extra) });
    }
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let listener = std::net::TcpListener::from(owned);
    match listener.local_addr() {
        Ok(address) if address.ip().is_loopback() => Ok(listener),
        Ok(address) => Err(format!("it listens on `{address}`, not on loopback")),
        Err(error) => Err(format!("it is not a TCP socket: {error}")),
    }
}

fn reader(
    mut stream: impl Read + Send + 'static,
    kind: Stream,
    log: Option<Arc<Mutex<fs_err::File>>>,
    sink: Option<OutputSink>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut captured = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            let read = match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let chunk = &buffer[..read];
            captured.extend_from_slice(chunk);
            if let Some(log) = &log {
                if let Ok(mut file) = log.lock() {
                    // Logging is best effort; the output is also returned to the caller
                    let _ = file.write_all(chunk);
                }
            }
            if let Some(sink) = &sink {
                sink(kind, chunk);
            }
        }
        captured
    })
}

/// Runs `steps` between fork and exec; on failure writes the failing step's index and the
/// error to `error_fd` for [`setup_error`]
pub(crate) fn execute_or_report(
    steps: &[crate::plan::Step],
    syscalls: &dyn Syscalls,
    error_fd: std::os::fd::RawFd,
) -> std::io::Result<()> {
    match execute(steps, syscalls) {
        Ok(()) => Ok(()),
        Err((index, errno)) => {
            let mut record = [0u8; 8];
            record[..4].copy_from_slice(&(index as u32).to_le_bytes());
            record[4..].copy_from_slice(&(errno as i32).to_le_bytes());
            // SAFETY: a plain write of a stack buffer
            unsafe {
                libc::write(error_fd, record.as_ptr().cast(), record.len());
            }
            Err(std::io::Error::from_raw_os_error(errno as i32))
        }
    }
}

/// The setup failure a child reported through [`execute_or_report`], if any
pub(crate) fn setup_error(error_read: &OwnedFd, descriptions: &[String]) -> Option<SandboxError> {
    let mut record = [0u8; 8];
    let mut file = std::fs::File::from(error_read.try_clone().ok()?);
    let mut filled = 0;
    while filled < record.len() {
        match file.read(&mut record[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(read) => filled += read,
        }
    }
    if filled < record.len() {
        return None;
    }
    let index = u32::from_le_bytes([record[0], record[1], record[2], record[3]]) as usize;
    let errno = i32::from_le_bytes([record[4], record[5], record[6], record[7]]);
    Some(SandboxError::Setup {
        step: descriptions
            .get(index)
            .cloned()
            .unwrap_or_else(|| format!("step {index}")),
        errno: Errno::from_raw(errno),
    })
}

/// What the image has at `path` (absolute), looking through upper then lower directories
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    Missing,
    Directory,
    File,
    Symlink,
}

fn presence(layers: &[&Path], path: &Path) -> Presence {
    for layer in layers {
        match std::fs::symlink_metadata(inside(layer, path)) {
            Ok(metadata) if metadata.file_type().is_char_device() && metadata.rdev_is_zero() => {
                return Presence::Missing
            }
            Ok(metadata) if metadata.file_type().is_symlink() => return Presence::Symlink,
            Ok(metadata) if metadata.is_dir() => return Presence::Directory,
            Ok(_) => return Presence::File,
            Err(_) => {}
        }
    }
    Presence::Missing
}

trait RdevZero {
    fn rdev_is_zero(&self) -> bool;
}

impl RdevZero for std::fs::Metadata {
    fn rdev_is_zero(&self) -> bool {
        std::os::unix::fs::MetadataExt::rdev(self) == 0
    }
}

fn inspect_mount_points(config: &SandboxConfig) -> Result<Vec<MountPoint>, SandboxError> {
    let mut layers: Vec<&Path> = vec![&config.root.upper_dir];
    layers.extend(config.root.lower_dirs.iter().map(PathBuf::as_path));
    let mut points = Vec::new();
    for (path, directory) in mount_points(config) {
        // No component may be a symlink: a mount follows it, on the host's side
        for ancestor in path
            .ancestors()
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .skip(1)
        {
            if presence(&layers, ancestor) == Presence::Symlink {
                return Err(SandboxError::SymlinkMountPoint {
                    path: ancestor.to_path_buf(),
                });
            }
        }
        let missing = match presence(&layers, &path) {
            Presence::Missing => true,
            Presence::Directory if directory => false,
            Presence::File if !directory => false,
            _ => {
                return Err(SandboxError::InvalidConfig {
                    reason: format!(
                        "`{}` in the image is not a {}",
                        path.display(),
                        if directory { "directory" } else { "file" }
                    ),
                })
            }
        };
        points.push(MountPoint {
            path,
            directory,
            missing,
        });
    }
    Ok(points)
}

/// Paths the sandbox creates in the upper directory only to mount over them; removed after
/// the run when still empty, so they do not end up in the layer
struct Cleanup {
    paths: Vec<PathBuf>,
}

impl Cleanup {
    fn new(upper: &Path, points: &[MountPoint]) -> Self {
        let mut paths = Vec::new();
        for point in points {
            for ancestor in point.path.ancestors() {
                if ancestor.parent().is_none() {
                    break;
                }
                let in_upper = inside(upper, ancestor);
                // Only what is not in the upper directory yet can be ours
                if std::fs::symlink_metadata(&in_upper).is_err() && !paths.contains(&in_upper) {
                    paths.push(in_upper);
                }
            }
        }
        // Deepest first
        paths.sort_by_key(|path| std::cmp::Reverse(path.components().count()));
        Self { paths }
    }

    fn run(self) -> Result<(), SandboxError> {
        for path in self.paths {
            let Ok(metadata) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if metadata.is_dir() {
                let empty = fs_err::read_dir(&path)?.next().is_none();
                if empty && !opaque(&path) {
                    fs_err::remove_dir(&path)?;
                }
            } else if metadata.is_file() && metadata.len() == 0 {
                fs_err::remove_file(&path)?;
            }
        }
        Ok(())
    }
}

fn opaque(path: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|name| matches!(xattr::get(path, name), Ok(Some(value)) if value == b"y"))
}
