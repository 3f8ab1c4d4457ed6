//! The whole build in namespaces of its own, rootful and rootless, so every kill is
//! survivable (issue #8)
//!
//! A build starts helpers (mmdebstrap, apt-get, dpkg, the sandboxed steps) and mounts
//! (mmdebstrap's `proc`, `sys`, `dev/pts` and `/dev/shm` in the bootstrap tree, overlays
//! of the cache). Killed with `kill -9`, a build in the host's namespaces left the mounts
//! in the host's mount table (every later build then failed on them) and its helpers
//! running as orphans that went on writing the cache. So `imagesmith build` runs itself
//! again, as the rootless path already did in a user namespace ([`crate::userns`]), now
//! in a chain of three processes:
//!
//! ```text
//! imagesmith            (host)    waits, passes SIGINT/SIGTERM/SIGHUP/SIGQUIT on
//! └─ forwarder          (host)    unshare(NEWNS|NEWPID), / made rslave; waits, passes on
//!    └─ reaper          (pid 1)   reaps orphans; exits when the build does
//!       └─ imagesmith   (pid 2)   a fresh /proc; the build itself
//! ```
//!
//! Every process has `PR_SET_PDEATHSIG(SIGKILL)` towards its parent, so killing any of
//! them, the outer one alone included, kills the ones below; when the reaper (the pid
//! namespace's init) exits, the kernel kills every process left in the namespace; and when
//! the last process of the mount namespace is gone, all its mounts go with it. The root
//! is made `MS_SLAVE | MS_REC`: the host's mounts still appear in the build (a disk
//! mounted meanwhile), none of the build's reach the host.
//!
//! The outer process and the forwarder pass the signals that ask a program to stop on to
//! the next one, and the reaper to the build (a pid namespace's init gets a signal from
//! outside only when it has a handler), so `kill PID` or a supervisor's `SIGTERM` still
//! ends the build with its own signal; exit codes pass through unchanged, and a build
//! killed by signal `N` exits `128 + N`.

use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;

use crate::error::SandboxError;
use crate::plan::Step;
use crate::preflight::{plan_user_namespace, LinuxHost};
use crate::run::{execute_or_report, setup_error};
use crate::syscalls::{forward_signals_to, ForkRole, LinuxSyscalls};
use crate::userns::Reexec;

/// The environment variable marking a process that runs in the build's namespaces
/// (so it never re-executes itself twice); its value says how they were made
pub const NAMESPACES_MARKER: &str = "IMAGESMITH_BUILD_NAMESPACES";

/// The environment variable that gives the build, inside its pid namespace (where its
/// pid is 2), the host pid of the outer `imagesmith` process: the one to name in messages
/// and to `kill`
pub const BUILD_PID_VARIABLE: &str = "IMAGESMITH_BUILD_PID";

/// The pid that stands for this build on the host: the outer process's, when this one
/// runs in the build's namespaces, else this process's own
pub fn build_pid() -> u32 {
    std::env::var(BUILD_PID_VARIABLE)
        .ok()
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(std::process::id)
}

/// Runs this program again in namespaces of its own (see the module docs): as root in a
/// mount and a pid namespace, otherwise in a user namespace with both as well
///
/// Call it first thing in a command that builds: arguments, environment and working
/// directory are those of this process. Inside (the marker [`NAMESPACES_MARKER`] is set)
/// it returns [`Reexec::NotNeeded`] at once.
pub fn reexec_in_build_namespaces() -> Result<Reexec, SandboxError> {
    if std::env::var_os(NAMESPACES_MARKER).is_some() {
        return Ok(Reexec::NotNeeded);
    }
    match plan_user_namespace(&LinuxHost)? {
        Some(plan) => plan.reexec().map(Reexec::Exited),
        None => {
            let mut command = self_command();
            command.env(NAMESPACES_MARKER, "rootful");
            let child = spawn_in_namespaces(&mut command, rootful_steps())?;
            wait_forwarding_signals(child).map(Reexec::Exited)
        }
    }
}

/// The steps of a rootful build's first child, between `fork` and `exec`: new mount and
/// pid namespaces, then [`pid_namespace_steps`]
pub fn rootful_steps() -> Vec<Step> {
    let mut steps = vec![
        Step::Unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID),
        // Killing the outer process alone must take everything down
        Step::DieWithParent,
    ];
    steps.extend(pid_namespace_steps());
    steps
}

/// What follows `unshare(CLONE_NEWNS | CLONE_NEWPID)` in either path: make the root a
/// recursive slave, fork the forwarder and the reaper (each fork sets the parent-death
/// signal in the child), and mount the new pid namespace's `/proc` over the host's, in
/// the build's mount namespace only
pub fn pid_namespace_steps() -> Vec<Step> {
    vec![
        // Host mounts still propagate in; none of ours out
        Step::Mount {
            source: None,
            target: PathBuf::from("/"),
            fstype: None,
            flags: MsFlags::MS_SLAVE | MsFlags::MS_REC,
            data: None,
        },
        // Only children join a new pid namespace: the first one is its init
        Step::Fork(ForkRole::ForwardExitAndSignals),
        Step::Fork(ForkRole::ReapAndForwardSignals),
        // The host's /proc shows the host's pids: `/proc/self` would be wrong in here
        Step::Mount {
            source: Some(PathBuf::from("proc")),
            target: PathBuf::from("/proc"),
            fstype: Some("proc"),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            data: None,
        },
    ]
}

/// `/proc/self/exe` with this process's arguments (its name too) and environment
pub(crate) fn self_command() -> Command {
    let mut command = Command::new("/proc/self/exe");
    let mut arguments = std::env::args_os();
    if let Some(name) = arguments.next() {
        command.arg0(name);
    }
    command
        .args(arguments)
        .env(BUILD_PID_VARIABLE, std::process::id().to_string());
    command
}

/// Spawns `command` after running `steps` in its process between `fork` and `exec`; a
/// failing step is reported by its description and errno
pub fn spawn_in_namespaces(command: &mut Command, steps: Vec<Step>) -> Result<Child, SandboxError> {
    let (error_read, error_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|errno| SandboxError::Io(errno.into()))?;
    let descriptions: Vec<String> = steps.iter().map(Step::describe).collect();
    let error_fd = error_write.as_raw_fd();
    // SAFETY: the closure only makes system calls on data prepared before the fork
    unsafe {
        command.pre_exec(move || execute_or_report(&steps, &LinuxSyscalls, error_fd));
    }
    let spawned = command.spawn();
    drop(error_write);
    spawned.map_err(|source| {
        setup_error(&error_read, &descriptions).unwrap_or_else(|| SandboxError::Spawn {
            program: Path::new(command.get_program()).display().to_string(),
            source,
        })
    })
}

/// Waits for `child`, passing the signals that ask a program to stop on to it meanwhile;
/// returns its exit code, `128 + N` when it was killed by signal `N`
pub fn wait_forwarding_signals(mut child: Child) -> Result<i32, SandboxError> {
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    forward_signals_to(pid).map_err(|errno| SandboxError::Io(errno.into()))?;
    let status = child.wait()?;
    Ok(exit_code(status))
}

/// The exit code of a process that ended with `status`, `128 + N` for signal `N`
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(255)
}
