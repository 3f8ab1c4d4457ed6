//! The sandbox as a list of steps, computed before forking and executed in the child

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::config::{Mode, Network, OverlayRoot, SandboxConfig};
use crate::error::SandboxError;
use crate::harden::{default_capability_mask, seccomp_program, SeccompProgram};
use crate::syscalls::{ForkRole, Syscalls};

/// Device nodes bind-mounted from the host into the sandbox's `/dev`: the OCI runtime
/// specification's default devices (with `/dev/pts`, `/dev/ptmx`, `/dev/shm` and the `fd`
/// links, set up apart), and nothing else
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Paths under `/proc` made read-only, as runc does: the sysctls (`kernel.core_pattern`
/// would run a program of the step's choosing as host root), the magic SysRq key, and the
/// interrupt, bus and filesystem settings
pub const READ_ONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Paths hidden, as runc does: files under `/dev/null`, directories under an empty
/// read-only tmpfs; those the kernel does not have are skipped
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// The paths of [`READ_ONLY_PATHS`] and [`MASKED_PATHS`] this kernel has, each with
/// whether it is a directory (looked up in the host's `/proc` and `/sys`: the kernel is the
/// same inside)
pub fn kernel_paths(paths: &[&str]) -> Vec<(PathBuf, bool)> {
    paths
        .iter()
        .filter_map(|path| {
            let metadata = std::fs::symlink_metadata(path).ok()?;
            Some((PathBuf::from(path), metadata.is_dir()))
        })
        .collect()
}

/// One step of setting up the sandbox
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Enter new namespaces
    Unshare(CloneFlags),
    /// Write a file (id maps, secrets, empty bind-mount targets)
    WriteFile {
        /// The file
        path: PathBuf,
        /// Its mode when created
        mode: u32,
        /// The content
        contents: Vec<u8>,
    },
    /// Mount something
    Mount {
        /// The source
        source: Option<PathBuf>,
        /// The mount point
        target: PathBuf,
        /// The filesystem type
        fstype: Option<&'static str>,
        /// The flags
        flags: MsFlags,
        /// The options, ready for the kernel
        data: Option<CString>,
    },
    /// Create a directory
    Mkdir {
        /// The directory
        path: PathBuf,
        /// Its mode
        mode: u32,
    },
    /// Create a symlink
    Symlink {
        /// What it points to
        target: PathBuf,
        /// The link
        link: PathBuf,
    },
    /// Fork (see [`ForkRole`])
    Fork(ForkRole),
    /// Set the hostname
    Sethostname(String),
    /// Bring loopback up
    LoopbackUp,
    /// Make a TCP socket listening on `127.0.0.1:port` in the current network namespace,
    /// send it over the `AF_UNIX` socket `channel` (`SCM_RIGHTS`) and close it here
    ListenProxy {
        /// The port
        port: u16,
        /// The sandbox's end of the runner's socket pair ([`PROXY_CHANNEL_UNSET`] until
        /// the runner attaches it, see [`attach_proxy_channel`])
        channel: RawFd,
    },
    /// Make `new_root` the root and detach the old one
    PivotRoot {
        /// The new root
        new_root: PathBuf,
    },
    /// Change directory
    Chdir(PathBuf),
    /// Drop to the command's ids
    SetIds {
        /// The uid
        uid: u32,
        /// The gid
        gid: u32,
        /// Whether to set supplementary groups too
        groups: bool,
    },
    /// Drop every capability not in the mask from the bounding set
    DropBoundingCapabilities(u64),
    /// Limit the effective and permitted capabilities to the mask
    LimitCapabilities(u64),
    /// Set `no_new_privs`
    NoNewPrivileges,
    /// Install a seccomp filter
    Seccomp(SeccompProgram),
    /// Tell the parent our pid and wait for it to write the id maps
    AwaitIdMaps {
        /// Where the pid is written
        notify: RawFd,
        /// Where the parent's answer is read
        wait: RawFd,
    },
    /// Die when the parent dies
    DieWithParent,
}

impl Step {
    /// A short description naming the paths, for error messages
    pub fn describe(&self) -> String {
        match self {
            Step::Unshare(flags) => format!("unshare({flags:?})"),
            Step::WriteFile { path, .. } => format!("writing `{}`", path.display()),
            Step::Mount {
                source,
                target,
                fstype,
                ..
            } => format!(
                "mounting {} on `{}`",
                match (fstype, source) {
                    (Some(fstype), _) => format!("`{fstype}`"),
                    (None, Some(source)) => format!("`{}`", source.display()),
                    (None, None) => String::from("(remount)"),
                },
                target.display()
            ),
            Step::Mkdir { path, .. } => format!("creating directory `{}`", path.display()),
            Step::Symlink { link, .. } => format!("creating symlink `{}`", link.display()),
            Step::Fork(role) => format!("fork ({role:?})"),
            Step::Sethostname(name) => format!("setting hostname `{name}`"),
            Step::LoopbackUp => String::from("bringing up loopback"),
            Step::ListenProxy { port, .. } => {
                format!("listening on the sandbox's `127.0.0.1:{port}` for the build's proxy")
            }
            Step::PivotRoot { new_root } => format!("pivot_root into `{}`", new_root.display()),
            Step::Chdir(path) => format!("changing directory to `{}`", path.display()),
            Step::SetIds { uid, gid, .. } => format!("switching to uid {uid}, gid {gid}"),
            Step::DropBoundingCapabilities(keep) => {
                format!("dropping capabilities outside {keep:#x} from the bounding set")
            }
            Step::LimitCapabilities(keep) => format!("limiting capabilities to {keep:#x}"),
            Step::NoNewPrivileges => String::from("setting no_new_privs"),
            Step::Seccomp(_) => String::from("installing the seccomp filter"),
            Step::AwaitIdMaps { .. } => {
                String::from("waiting for `newuidmap` and `newgidmap` to write the id maps")
            }
            Step::DieWithParent => String::from("setting the parent-death signal"),
        }
    }

    /// Runs the step through `syscalls`
    pub fn execute(&self, syscalls: &dyn Syscalls) -> Result<(), Errno> {
        match self {
            Step::Unshare(flags) => syscalls.unshare(*flags),
            Step::WriteFile {
                path,
                mode,
                contents,
            } => syscalls.write_file(path, *mode, contents),
            Step::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => syscalls.mount(source.as_deref(), target, *fstype, *flags, data.as_deref()),
            Step::Mkdir { path, mode } => syscalls.mkdir(path, *mode),
            Step::Symlink { target, link } => syscalls.symlink(target, link),
            Step::Fork(role) => syscalls.fork(*role),
            Step::Sethostname(name) => syscalls.sethostname(name),
            Step::LoopbackUp => syscalls.loopback_up(),
            Step::ListenProxy { port, channel } => syscalls.listen_proxy(*port, *channel),
            Step::PivotRoot { new_root } => {
                // pivot_root(".", ".") stacks the old root on the new one; detaching it
                // leaves no way back to the host's files and needs no directory in the image
                syscalls.chdir(new_root)?;
                syscalls.pivot_root(Path::new("."), Path::new("."))?;
                syscalls.mount(
                    None,
                    Path::new("."),
                    None,
                    MsFlags::MS_SLAVE | MsFlags::MS_REC,
                    None,
                )?;
                syscalls.umount(Path::new("."), MntFlags::MNT_DETACH)?;
                syscalls.chdir(Path::new("/"))
            }
            Step::Chdir(path) => syscalls.chdir(path),
            Step::SetIds { uid, gid, groups } => syscalls.set_ids(*uid, *gid, *groups),
            Step::DropBoundingCapabilities(keep) => syscalls.drop_bounding_capabilities(*keep),
            Step::LimitCapabilities(keep) => syscalls.limit_capabilities(*keep),
            Step::NoNewPrivileges => syscalls.no_new_privileges(),
            Step::Seccomp(program) => syscalls.seccomp(program),
            Step::AwaitIdMaps { notify, wait } => syscalls.await_id_maps(*notify, *wait),
            Step::DieWithParent => syscalls.die_with_parent(),
        }
    }
}

/// The channel of a planned [`Step::ListenProxy`] before the runner attaches its own
pub const PROXY_CHANNEL_UNSET: RawFd = -1;

/// Gives every [`Step::ListenProxy`] of `steps` the runner's end of its socket pair
/// (only known once the runner makes it, just before forking)
pub fn attach_proxy_channel(steps: &mut [Step], fd: RawFd) {
    for step in steps {
        if let Step::ListenProxy { channel, .. } = step {
            *channel = fd;
        }
    }
}

/// Runs steps in order; on failure returns the index of the failing step and the error
pub fn execute(steps: &[Step], syscalls: &dyn Syscalls) -> Result<(), (usize, Errno)> {
    for (index, step) in steps.iter().enumerate() {
        step.execute(syscalls).map_err(|errno| (index, errno))?;
    }
    Ok(())
}

/// A path inside the image that the sandbox mounts over, and whether it must be created
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    /// The path inside the image, absolute
    pub path: PathBuf,
    /// A directory (otherwise a file)
    pub directory: bool,
    /// Whether no layer has it, so it is created in the merged tree (and removed from the
    /// upper directory after the run)
    pub missing: bool,
}

/// The paths the sandbox mounts over, for this config
pub fn mount_points(config: &SandboxConfig) -> Vec<(PathBuf, bool)> {
    let mut points = vec![
        (PathBuf::from("/proc"), true),
        (PathBuf::from("/dev"), true),
        (PathBuf::from("/sys"), true),
    ];
    if !config.secrets.is_empty() {
        points.push((config.secrets_dir.clone(), true));
    }
    points
}

/// `path` (absolute, inside the image) joined onto `root`
pub fn inside(root: &Path, path: &Path) -> PathBuf {
    let mut joined = root.to_path_buf();
    for component in path.components() {
        if let Component::Normal(part) = component {
            joined.push(part);
        }
    }
    joined
}

/// The steps for `config`, given which mount points are missing from the image
pub fn plan(
    config: &SandboxConfig,
    mount_points: &[MountPoint],
) -> Result<Vec<Step>, SandboxError> {
    let invalid = |reason: String| SandboxError::InvalidConfig { reason };
    let root = &config.root;
    if root.lower_dirs.is_empty() {
        return Err(invalid(String::from(
            "the overlay needs at least one lower directory (an empty one for `scratch`)",
        )));
    }
    if config.command.is_empty() {
        return Err(invalid(String::from("the command is empty")));
    }
    for secret in &config.secrets {
        if secret.name.is_empty() || secret.name.contains('/') || secret.name.starts_with('.') {
            return Err(invalid(format!(
                "secret name `{}` must be a plain file name",
                secret.name
            )));
        }
    }
    let merged = &root.merged_dir;
    let mut steps = Vec::new();
    if config.mode.single_id() && (config.uid != 0 || config.gid != 0) {
        return Err(invalid(format!(
            "only root is mapped in this user namespace; uid {} gid {} cannot be used\nhint: give the user subordinate ids (`sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER`), run the step as root, or build as root",
            config.uid, config.gid
        )));
    }
    if let Mode::Rootless { uid, gid } = config.mode {
        steps.push(Step::Unshare(CloneFlags::CLONE_NEWUSER));
        for (file, contents) in [
            ("/proc/self/setgroups", String::from("deny")),
            ("/proc/self/uid_map", format!("0 {uid} 1\n")),
            ("/proc/self/gid_map", format!("0 {gid} 1\n")),
        ] {
            steps.push(Step::WriteFile {
                path: PathBuf::from(file),
                mode: 0o644,
                contents: contents.into_bytes(),
            });
        }
        // Entering the user namespace cleared it
        steps.push(Step::DieWithParent);
    }
    // Always a network namespace of its own: a step with the network reaches the outside
    // only through the proxy's socket made in it below
    let flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNET;
    steps.push(Step::Unshare(flags));
    // Nothing mounted from here on propagates to the host
    steps.push(mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?);
    steps.push(Step::Fork(ForkRole::ForwardExit));
    steps.push(Step::Sethostname(config.hostname.clone()));
    steps.push(Step::LoopbackUp);
    if let Network::Proxy { port, .. } = config.network {
        if port == 0 {
            return Err(invalid(String::from(
                "the proxy's port in the sandbox must not be 0",
            )));
        }
        steps.push(Step::ListenProxy {
            port,
            channel: PROXY_CHANNEL_UNSET,
        });
    }

    let options = overlay_options(root, config.mode.in_user_namespace())?;
    // Device nodes a step makes (or an image ships) cannot be opened, and set-user-id
    // programs do not raise privileges (`no_new_privs` already says so): both can still be
    // installed, and `mknod`, `chmod u+s` and file capabilities work as before
    steps.push(mount(
        Some(Path::new("overlay")),
        merged,
        Some("overlay"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(&options),
    )?);

    for point in mount_points.iter().filter(|point| point.missing) {
        let path = inside(merged, &point.path);
        if let Some(parent) = point.path.parent() {
            for ancestor in parent.ancestors().collect::<Vec<_>>().into_iter().rev() {
                if ancestor.parent().is_some() {
                    steps.push(Step::Mkdir {
                        path: inside(merged, ancestor),
                        mode: 0o755,
                    });
                }
            }
        }
        steps.push(if point.directory {
            Step::Mkdir { path, mode: 0o755 }
        } else {
            Step::WriteFile {
                path,
                mode: 0o644,
                contents: Vec::new(),
            }
        });
    }

    let walled = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let proc_dir = inside(merged, Path::new("/proc"));
    steps.push(mount(
        Some(Path::new("proc")),
        &proc_dir,
        Some("proc"),
        walled,
        None,
    )?);
    let sys_dir = inside(merged, Path::new("/sys"));
    // Every step has a network namespace of its own, so even in a user namespace a sysfs
    // (which shows the mounter's network namespace) can be mounted: read-only, as runc does
    steps.push(mount(
        Some(Path::new("sysfs")),
        &sys_dir,
        Some("sysfs"),
        walled | MsFlags::MS_RDONLY,
        None,
    )?);
    steps.extend(kernel_walls(
        merged,
        &kernel_paths(READ_ONLY_PATHS),
        &kernel_paths(MASKED_PATHS),
    )?);

    let dev = inside(merged, Path::new("/dev"));
    // `nodev` too: the devices are bind mounts of the host's nodes, with their own flags
    steps.push(mount(
        Some(Path::new("tmpfs")),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?);
    for device in DEVICES {
        let target = dev.join(device);
        steps.push(Step::WriteFile {
            path: target.clone(),
            mode: 0o666,
            contents: Vec::new(),
        });
        steps.push(mount(
            Some(&Path::new("/dev").join(device)),
            &target,
            None,
            MsFlags::MS_BIND,
            None,
        )?);
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        steps.push(Step::Symlink {
            target: PathBuf::from(target),
            link: dev.join(link),
        });
    }
    steps.push(Step::Mkdir {
        path: dev.join("shm"),
        mode: 0o1777,
    });
    steps.push(mount(
        Some(Path::new("shm")),
        &dev.join("shm"),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )?);
    if config.dev_pts {
        steps.push(Step::Mkdir {
            path: dev.join("pts"),
            mode: 0o755,
        });
        steps.push(mount(
            Some(Path::new("devpts")),
            &dev.join("pts"),
            Some("devpts"),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=620"),
        )?);
        steps.push(Step::Symlink {
            target: PathBuf::from("pts/ptmx"),
            link: dev.join("ptmx"),
        });
    }

    if !config.secrets.is_empty() {
        // On a tmpfs of their own, so they never reach the upper directory; the tmpfs
        // disappears with the sandbox's mount namespace
        let target = inside(merged, &config.secrets_dir);
        let secret_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        steps.push(mount(
            Some(Path::new("tmpfs")),
            &target,
            Some("tmpfs"),
            secret_flags,
            Some("mode=755,size=16m"),
        )?);
        for secret in &config.secrets {
            steps.push(Step::WriteFile {
                path: target.join(&secret.name),
                mode: 0o444,
                contents: secret.contents.clone(),
            });
        }
        steps.push(mount(
            None,
            &target,
            None,
            secret_flags | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )?);
    }

    steps.push(Step::PivotRoot {
        new_root: merged.clone(),
    });
    steps.push(Step::Fork(ForkRole::Reap));
    steps.push(Step::Chdir(config.cwd.clone()));
    // The bounding set first, while CAP_SETPCAP is still there (a non-root uid loses it)
    let keep = default_capability_mask();
    steps.push(Step::DropBoundingCapabilities(keep));
    steps.push(Step::SetIds {
        uid: config.uid,
        gid: config.gid,
        groups: match config.mode {
            Mode::Rootful => true,
            Mode::UserNamespace {
                single_id,
                setgroups,
            } => setgroups && !single_id,
            Mode::Rootless { .. } => false,
        },
    });
    steps.push(Step::LimitCapabilities(keep));
    // Last: without CAP_SYS_ADMIN a seccomp filter needs no_new_privs
    steps.push(Step::NoNewPrivileges);
    if let Some(program) = seccomp_program() {
        steps.push(Step::Seccomp(program));
    }
    Ok(steps)
}

/// The mounts making `read_only` paths read-only and hiding `masked` ones (paths inside the
/// image with whether each is a directory), once `/proc` and `/sys` are mounted in `merged`
///
/// A read-only path is bound onto itself and the bind remounted read-only, keeping
/// `nosuid`, `nodev` and `noexec` (which the `/proc` mount has and a user namespace could
/// not clear). A masked file gets the host's `/dev/null` bound over it, a masked directory
/// an empty read-only tmpfs.
pub fn kernel_walls(
    merged: &Path,
    read_only: &[(PathBuf, bool)],
    masked: &[(PathBuf, bool)],
) -> Result<Vec<Step>, SandboxError> {
    let walled = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let mut steps = Vec::new();
    for (path, _) in read_only {
        let target = inside(merged, path);
        steps.push(mount(
            Some(&target),
            &target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?);
        steps.push(mount(
            None,
            &target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | walled,
            None,
        )?);
    }
    for (path, directory) in masked {
        let target = inside(merged, path);
        steps.push(if *directory {
            mount(
                Some(Path::new("tmpfs")),
                &target,
                Some("tmpfs"),
                walled | MsFlags::MS_RDONLY,
                None,
            )?
        } else {
            mount(
                Some(Path::new("/dev/null")),
                &target,
                None,
                MsFlags::MS_BIND,
                None,
            )?
        });
    }
    Ok(steps)
}

/// The overlay mount options for `root`: the same for the sandbox and the builder's own
/// mount, so either can reuse the work directory
///
/// As root, renames copy up whole directories instead of leaving redirects, so the upper
/// directory is a plain diff a layer can be made from. In a user namespace, overlayfs keeps
/// its attributes as `user.overlay.*` (`userxattr`), which already implies no redirects
/// (renaming a lower directory fails with `EXDEV` and tools copy it instead); whiteouts are
/// still 0:0 character devices, which Linux 5.8 and later let anyone create.
pub fn overlay_options(
    root: &OverlayRoot,
    in_user_namespace: bool,
) -> Result<String, SandboxError> {
    let lower = root
        .lower_dirs
        .iter()
        .map(|dir| overlay_path(dir))
        .collect::<Result<Vec<_>, _>>()?
        .join(":");
    let mut options = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        overlay_path(&root.upper_dir)?,
        overlay_path(&root.work_dir)?
    );
    if in_user_namespace {
        options.push_str(",userxattr,metacopy=off,index=off");
    } else {
        options.push_str(",redirect_dir=off,metacopy=off,index=off");
    }
    Ok(options)
}

fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&'static str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<Step, SandboxError> {
    let data = data
        .map(|data| {
            CString::new(data).map_err(|_| SandboxError::InvalidConfig {
                reason: format!(
                    "mount options for `{}` contain a NUL byte",
                    target.display()
                ),
            })
        })
        .transpose()?;
    Ok(Step::Mount {
        source: source.map(Path::to_path_buf),
        target: target.to_path_buf(),
        fstype,
        flags,
        data,
    })
}

/// Overlay options separate with `,` and `:`; paths containing them cannot be passed
fn overlay_path(path: &Path) -> Result<String, SandboxError> {
    let bytes = path.as_os_str().as_bytes();
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains([',', ':', '\\']) && path.is_absolute() => Ok(text.to_owned()),
        _ => Err(SandboxError::InvalidConfig {
            reason: format!(
                "overlay directory `{}` must be an absolute UTF-8 path without `,`, `:` or `\\`",
                path.display()
            ),
        }),
    }
}
