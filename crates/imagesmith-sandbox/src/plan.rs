//! The sandbox as a list of steps, computed before forking and executed in the child

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::config::{Mode, SandboxConfig};
use crate::error::SandboxError;
use crate::syscalls::{ForkRole, Syscalls};

/// Device nodes bind-mounted from the host into the sandbox's `/dev`
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

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
            Step::PivotRoot { new_root } => format!("pivot_root into `{}`", new_root.display()),
            Step::Chdir(path) => format!("changing directory to `{}`", path.display()),
            Step::SetIds { uid, gid, .. } => format!("switching to uid {uid}, gid {gid}"),
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
    ];
    if config.network {
        points.push((PathBuf::from("/etc/resolv.conf"), false));
    }
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
    let rootless = matches!(config.mode, Mode::Rootless { .. });
    if let Mode::Rootless { uid, gid } = config.mode {
        if config.uid != 0 || config.gid != 0 {
            return Err(invalid(format!(
                "a rootless sandbox maps only root; uid {} gid {} cannot be used\nhint: run the step as root, or build as root",
                config.uid, config.gid
            )));
        }
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
    }
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWPID;
    if !config.network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
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
    if !config.network {
        steps.push(Step::LoopbackUp);
    }

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
    if rootless {
        options.push_str(",userxattr");
    } else {
        // Renames copy up whole directories instead of leaving redirects, so the upper
        // directory is a plain diff that a layer can be made from
        options.push_str(",redirect_dir=off,metacopy=off,index=off");
    }
    steps.push(mount(
        Some(Path::new("overlay")),
        merged,
        Some("overlay"),
        MsFlags::empty(),
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

    let proc_dir = inside(merged, Path::new("/proc"));
    steps.push(mount(
        Some(Path::new("proc")),
        &proc_dir,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )?);

    let dev = inside(merged, Path::new("/dev"));
    steps.push(mount(
        Some(Path::new("tmpfs")),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
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

    if config.network {
        let target = inside(merged, Path::new("/etc/resolv.conf"));
        steps.push(mount(
            Some(Path::new("/etc/resolv.conf")),
            &target,
            None,
            MsFlags::MS_BIND,
            None,
        )?);
        steps.push(mount(
            None,
            &target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )?);
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
    steps.push(Step::SetIds {
        uid: config.uid,
        gid: config.gid,
        groups: !rootless,
    });
    Ok(steps)
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
