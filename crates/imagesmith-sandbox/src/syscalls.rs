//! Every privileged call the sandbox makes, behind a trait
//!
//! [`LinuxSyscalls`] makes the calls; it runs in a child process between `fork` and `exec`,
//! so it only makes plain system calls (no locks, no allocation for paths under 1 KiB).
//! [`RecordingSyscalls`] records them so the sandbox's logic is testable without root.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::harden::SeccompProgram;

/// What a process does after forking
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkRole {
    /// The parent waits for the child and exits with its status (used to enter a new pid
    /// namespace, which only children join)
    ForwardExit,
    /// The parent is the pid namespace's init: it reaps every orphan and exits with the
    /// child's status as soon as the child exits, which ends the namespace
    Reap,
    /// As [`ForkRole::ForwardExit`], and passes the signals that ask a program to stop
    /// ([`FORWARDED_SIGNALS`]) on to the child, so `kill PID` of the outer process (or a
    /// supervisor's `SIGTERM`) reaches the program at the end of the chain
    ForwardExitAndSignals,
    /// As [`ForkRole::Reap`], and passes [`FORWARDED_SIGNALS`] on to the child: the init
    /// of a pid namespace receives a signal from outside only when it has a handler
    ReapAndForwardSignals,
}

/// The signals a forwarding parent ([`ForkRole::ForwardExitAndSignals`],
/// [`ForkRole::ReapAndForwardSignals`], [`forward_signals_to`]) passes on to its child
pub const FORWARDED_SIGNALS: [nix::sys::signal::Signal; 4] = [
    nix::sys::signal::Signal::SIGINT,
    nix::sys::signal::Signal::SIGTERM,
    nix::sys::signal::Signal::SIGHUP,
    nix::sys::signal::Signal::SIGQUIT,
];

/// The process [`forward_signal`] sends to (0: none yet)
static FORWARD_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward_signal(signal: libc::c_int) {
    let pid = FORWARD_TO.load(std::sync::atomic::Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Passes [`FORWARDED_SIGNALS`] received by this process on to `pid` from now on (it only
/// makes system calls, so it may run between `fork` and `exec`)
pub fn forward_signals_to(pid: i32) -> Result<(), Errno> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    FORWARD_TO.store(pid, std::sync::atomic::Ordering::SeqCst);
    let action = SigAction::new(
        SigHandler::Handler(forward_signal),
        // waitpid is restarted, so the waiting loop never sees EINTR
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in FORWARDED_SIGNALS {
        // SAFETY: the handler only loads an atomic and calls kill(2)
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(())
}

/// The privileged calls the sandbox needs; each returns the kernel's error
pub trait Syscalls: Send + Sync {
    /// `unshare(2)`
    fn unshare(&self, flags: CloneFlags) -> Result<(), Errno>;
    /// `mount(2)`
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&CStr>,
    ) -> Result<(), Errno>;
    /// `umount2(2)`
    fn umount(&self, target: &Path, flags: MntFlags) -> Result<(), Errno>;
    /// `pivot_root(2)`
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno>;
    /// `chdir(2)`
    fn chdir(&self, path: &Path) -> Result<(), Errno>;
    /// `mkdir(2)`; an existing directory is not an error
    fn mkdir(&self, path: &Path, mode: u32) -> Result<(), Errno>;
    /// Creates (or truncates) a file and writes `contents`
    fn write_file(&self, path: &Path, mode: u32, contents: &[u8]) -> Result<(), Errno>;
    /// `symlink(2)`
    fn symlink(&self, target: &Path, link: &Path) -> Result<(), Errno>;
    /// `sethostname(2)`
    fn sethostname(&self, name: &str) -> Result<(), Errno>;
    /// Brings the loopback interface of the current network namespace up
    fn loopback_up(&self) -> Result<(), Errno>;
    /// Makes a TCP socket listening on `127.0.0.1:port` in the current network namespace,
    /// sends it over the `AF_UNIX` socket `channel` with `SCM_RIGHTS`, and closes both here
    /// (so neither reaches the command)
    fn listen_proxy(&self, port: u16, channel: RawFd) -> Result<(), Errno>;
    /// Sets the real, effective and saved ids; `groups` also sets the supplementary groups
    /// to just `gid` (not allowed in a single-id user namespace)
    fn set_ids(&self, uid: u32, gid: u32, groups: bool) -> Result<(), Errno>;
    /// Forks; returns in the child, while the parent plays `role` and never returns
    fn fork(&self, role: ForkRole) -> Result<(), Errno>;
    /// Removes every capability not in `keep` (bit N is capability N) from the bounding
    /// set, so no later `execve` can regain it
    fn drop_bounding_capabilities(&self, keep: u64) -> Result<(), Errno>;
    /// Limits the effective and permitted capabilities to `keep`, and clears the
    /// inheritable and ambient ones
    fn limit_capabilities(&self, keep: u64) -> Result<(), Errno>;
    /// Sets `no_new_privs`: set-user-id programs and file capabilities no longer raise
    /// privileges
    fn no_new_privileges(&self) -> Result<(), Errno>;
    /// Installs a seccomp filter
    fn seccomp(&self, program: &SeccompProgram) -> Result<(), Errno>;
    /// Tells the parent this process's pid on `notify` and waits on `wait` until it has
    /// written the id maps (with `newuidmap` and `newgidmap`, which only the parent can run
    /// while this process is between `fork` and `exec`); a non-zero byte means it failed
    fn await_id_maps(&self, notify: RawFd, wait: RawFd) -> Result<(), Errno>;
    /// Asks for `SIGKILL` when the parent dies (entering a user namespace clears it)
    fn die_with_parent(&self) -> Result<(), Errno>;
}

/// The real calls, through `nix`
#[derive(Debug, Clone, Copy, Default)]
pub struct LinuxSyscalls;

impl Syscalls for LinuxSyscalls {
    fn unshare(&self, flags: CloneFlags) -> Result<(), Errno> {
        nix::sched::unshare(flags)
    }

    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&CStr>,
    ) -> Result<(), Errno> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        nix::mount::umount2(target, flags)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno> {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn chdir(&self, path: &Path) -> Result<(), Errno> {
        nix::unistd::chdir(path)
    }

    fn mkdir(&self, path: &Path, mode: u32) -> Result<(), Errno> {
        match nix::unistd::mkdir(path, nix::sys::stat::Mode::from_bits_truncate(mode)) {
            Err(Errno::EEXIST) => Ok(()),
            other => other,
        }
    }

    fn write_file(&self, path: &Path, mode: u32, contents: &[u8]) -> Result<(), Errno> {
        use nix::fcntl::OFlag;
        let fd = nix::fcntl::open(
            path,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::from_bits_truncate(mode),
        )?;
        let mut rest = contents;
        while !rest.is_empty() {
            match nix::unistd::write(&fd, rest) {
                Ok(written) => rest = &rest[written..],
                Err(Errno::EINTR) => {}
                Err(errno) => return Err(errno),
            }
        }
        Ok(())
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<(), Errno> {
        nix::unistd::symlinkat(target, nix::fcntl::AT_FDCWD, link)
    }

    fn sethostname(&self, name: &str) -> Result<(), Errno> {
        nix::unistd::sethostname(name)
    }

    fn loopback_up(&self) -> Result<(), Errno> {
        // SAFETY: plain socket and ioctl calls on a zeroed `ifreq` naming `lo`
        unsafe {
            let socket = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            if socket < 0 {
                return Err(Errno::last());
            }
            let mut request: libc::ifreq = std::mem::zeroed();
            for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
                *slot = *byte as libc::c_char;
            }
            let result = if libc::ioctl(socket, libc::SIOCGIFFLAGS, &mut request) < 0 {
                Err(Errno::last())
            } else {
                request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
                if libc::ioctl(socket, libc::SIOCSIFFLAGS, &request) < 0 {
                    Err(Errno::last())
                } else {
                    Ok(())
                }
            };
            libc::close(socket);
            result
        }
    }

    fn listen_proxy(&self, port: u16, channel: RawFd) -> Result<(), Errno> {
        // Plain libc calls with stack buffers: this runs between fork and exec, where nix's
        // `sendmsg` (which allocates its control buffer) is not safe
        // SAFETY: socket calls on descriptors this function owns or was given, with
        // properly sized and aligned buffers on the stack
        unsafe {
            let socket = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if socket < 0 {
                return Err(Errno::last());
            }
            let result = (|| {
                let one: libc::c_int = 1;
                if libc::setsockopt(
                    socket,
                    libc::SOL_SOCKET,
                    libc::SO_REUSEADDR,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                ) < 0
                {
                    return Err(Errno::last());
                }
                let mut address: libc::sockaddr_in = std::mem::zeroed();
                address.sin_family = libc::AF_INET as libc::sa_family_t;
                address.sin_port = port.to_be();
                address.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
                if libc::bind(
                    socket,
                    (&address as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                ) < 0
                {
                    return Err(Errno::last());
                }
                if libc::listen(socket, 128) < 0 {
                    return Err(Errno::last());
                }
                let mut byte = [0u8; 1];
                let mut iov = libc::iovec {
                    iov_base: byte.as_mut_ptr().cast(),
                    iov_len: byte.len(),
                };
                // Room for one descriptor's control message, aligned for `cmsghdr`
                let mut control = [0u64; 8];
                let space = libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize;
                if space > std::mem::size_of_val(&control) {
                    return Err(Errno::EINVAL);
                }
                let mut message: libc::msghdr = std::mem::zeroed();
                message.msg_iov = &mut iov;
                message.msg_iovlen = 1;
                message.msg_control = control.as_mut_ptr().cast();
                message.msg_controllen = space as _;
                let header = libc::CMSG_FIRSTHDR(&message);
                if header.is_null() {
                    return Err(Errno::EINVAL);
                }
                (*header).cmsg_level = libc::SOL_SOCKET;
                (*header).cmsg_type = libc::SCM_RIGHTS;
                (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<libc::c_int>(), socket);
                loop {
                    if libc::sendmsg(channel, &message, libc::MSG_NOSIGNAL) >= 0 {
                        return Ok(());
                    }
                    if Errno::last() != Errno::EINTR {
                        return Err(Errno::last());
                    }
                }
            })();
            libc::close(socket);
            libc::close(channel);
            result
        }
    }

    fn set_ids(&self, uid: u32, gid: u32, groups: bool) -> Result<(), Errno> {
        use nix::unistd::{Gid, Uid};
        let gid = Gid::from_raw(gid);
        let uid = Uid::from_raw(uid);
        if groups {
            nix::unistd::setgroups(&[gid])?;
        }
        nix::unistd::setresgid(gid, gid, gid)?;
        nix::unistd::setresuid(uid, uid, uid)
    }

    fn fork(&self, role: ForkRole) -> Result<(), Errno> {
        use nix::sys::wait::{waitpid, WaitStatus};
        let parent = nix::unistd::getpid();
        // SAFETY: called between fork and exec; both sides only make system calls
        match unsafe { nix::unistd::fork() }? {
            nix::unistd::ForkResult::Child => {
                // Die with the parent, so killing the sandbox's process group or the
                // builder never leaves this process behind
                let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
                // The parent may have died before that: then no signal comes. (The first
                // process of a new pid namespace sees its parent as 0.)
                let now = nix::unistd::getppid().as_raw();
                if now != 0 && now != parent.as_raw() {
                    exit(255);
                }
                Ok(())
            }
            nix::unistd::ForkResult::Parent { child } => {
                // Close inherited descriptors (std's exec-status pipe, our error pipe) so
                // the builder sees EOF on them as soon as the command is running
                // SAFETY: close_range only closes descriptors
                unsafe {
                    libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                }
                let waited = match role {
                    ForkRole::ForwardExit | ForkRole::ForwardExitAndSignals => Some(child),
                    ForkRole::Reap | ForkRole::ReapAndForwardSignals => None,
                };
                if matches!(
                    role,
                    ForkRole::ForwardExitAndSignals | ForkRole::ReapAndForwardSignals
                ) && forward_signals_to(child.as_raw()).is_err()
                {
                    // The child would run on without its signals: stop both
                    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                    exit(255);
                }
                loop {
                    match waitpid(waited, None) {
                        Ok(WaitStatus::Exited(pid, code)) if pid == child => exit(code),
                        Ok(WaitStatus::Signaled(pid, signal, _)) if pid == child => {
                            exit(128 + signal as i32)
                        }
                        Ok(_) | Err(Errno::EINTR) => {}
                        Err(_) => exit(255),
                    }
                }
            }
        }
    }

    fn drop_bounding_capabilities(&self, keep: u64) -> Result<(), Errno> {
        for capability in 0..64u64 {
            if keep & (1 << capability) != 0 {
                continue;
            }
            // SAFETY: prctl with integer arguments
            let result = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0) };
            if result != 0 {
                match Errno::last() {
                    // Past the last capability this kernel knows
                    Errno::EINVAL => break,
                    errno => return Err(errno),
                }
            }
        }
        Ok(())
    }

    fn limit_capabilities(&self, keep: u64) -> Result<(), Errno> {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: libc::c_int,
        }
        #[repr(C)]
        #[derive(Clone, Copy, Default)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        const VERSION_3: u32 = 0x2008_0522;
        let mut header = Header {
            version: VERSION_3,
            pid: 0,
        };
        let mut data = [Data::default(); 2];
        // SAFETY: capget and capset with a version 3 header and two data structs
        unsafe {
            if libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) != 0 {
                return Err(Errno::last());
            }
            for (index, part) in data.iter_mut().enumerate() {
                let mask = (keep >> (32 * index)) as u32;
                part.effective &= mask;
                part.permitted &= mask;
                part.inheritable = 0;
            }
            if libc::syscall(libc::SYS_capset, &header, data.as_ptr()) != 0 {
                return Err(Errno::last());
            }
            if libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(Errno::last());
            }
        }
        Ok(())
    }

    fn no_new_privileges(&self) -> Result<(), Errno> {
        // SAFETY: prctl with integer arguments
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(Errno::last());
        }
        Ok(())
    }

    fn seccomp(&self, program: &SeccompProgram) -> Result<(), Errno> {
        #[repr(C)]
        struct Program {
            len: libc::c_ushort,
            filter: *const crate::harden::SockFilter,
        }
        let length =
            libc::c_ushort::try_from(program.instructions.len()).map_err(|_| Errno::EINVAL)?;
        let prog = Program {
            len: length,
            filter: program.instructions.as_ptr(),
        };
        // SAFETY: the kernel copies the program, which outlives the call
        let result = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const Program,
            )
        };
        if result != 0 {
            return Err(Errno::last());
        }
        Ok(())
    }

    fn await_id_maps(&self, notify: RawFd, wait: RawFd) -> Result<(), Errno> {
        let pid = nix::unistd::getpid().as_raw().to_le_bytes();
        // SAFETY: plain reads and writes on descriptors the parent prepared
        unsafe {
            if libc::write(notify, pid.as_ptr().cast(), pid.len()) != pid.len() as isize {
                return Err(Errno::last());
            }
            let mut status = [1u8];
            loop {
                match libc::read(wait, status.as_mut_ptr().cast(), 1) {
                    1 => break,
                    0 => return Err(Errno::EPIPE),
                    _ if Errno::last() == Errno::EINTR => continue,
                    _ => return Err(Errno::last()),
                }
            }
            if status[0] != 0 {
                return Err(Errno::EPERM);
            }
        }
        Ok(())
    }

    fn die_with_parent(&self) -> Result<(), Errno> {
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: `_exit` skips atexit handlers and stdio flushing, as a forked child must
    unsafe { libc::_exit(code) }
}

/// One recorded call
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `unshare`
    Unshare(CloneFlags),
    /// `mount`
    Mount {
        /// The source
        source: Option<PathBuf>,
        /// The mount point
        target: PathBuf,
        /// The filesystem type
        fstype: Option<String>,
        /// The flags
        flags: MsFlags,
        /// The options
        data: Option<String>,
    },
    /// `umount2`
    Umount(PathBuf, MntFlags),
    /// `pivot_root`
    PivotRoot(PathBuf, PathBuf),
    /// `chdir`
    Chdir(PathBuf),
    /// `mkdir`
    Mkdir(PathBuf, u32),
    /// A file written (secret contents are recorded too: tests only)
    WriteFile(PathBuf, u32, Vec<u8>),
    /// `symlink`
    Symlink(PathBuf, PathBuf),
    /// `sethostname`
    Sethostname(String),
    /// Loopback brought up
    LoopbackUp,
    /// The proxy's listener made on this port and sent to the runner
    ListenProxy(u16),
    /// Ids set
    SetIds(u32, u32, bool),
    /// A fork, continuing as the child
    Fork(ForkRole),
    /// Capabilities not in the mask dropped from the bounding set
    DropBoundingCapabilities(u64),
    /// Effective and permitted capabilities limited to the mask
    LimitCapabilities(u64),
    /// `no_new_privs` set
    NoNewPrivileges,
    /// A seccomp filter of this many instructions installed
    Seccomp(usize),
    /// Waited for the parent to write the id maps
    AwaitIdMaps,
    /// Asked to die with the parent
    DieWithParent,
}

/// Records every call and succeeds, or fails the call whose index is `fail_at`
#[derive(Debug, Default)]
pub struct RecordingSyscalls {
    calls: Mutex<Vec<Call>>,
    fail_at: Option<(usize, Errno)>,
}

impl RecordingSyscalls {
    /// A recorder where every call succeeds
    pub fn new() -> Self {
        Self::default()
    }

    /// A recorder where the call with this index (from 0) fails with `errno`
    pub fn failing_at(index: usize, errno: Errno) -> Self {
        Self {
            calls: Mutex::new(Vec::new()),
            fail_at: Some((index, errno)),
        }
    }

    /// The calls made so far
    pub fn calls(&self) -> Vec<Call> {
        self.calls
            .lock()
            .map(|calls| calls.clone())
            .unwrap_or_default()
    }

    fn record(&self, call: Call) -> Result<(), Errno> {
        let mut calls = match self.calls.lock() {
            Ok(calls) => calls,
            Err(poisoned) => poisoned.into_inner(),
        };
        calls.push(call);
        match self.fail_at {
            Some((index, errno)) if index + 1 == calls.len() => Err(errno),
            _ => Ok(()),
        }
    }
}

impl Syscalls for RecordingSyscalls {
    fn unshare(&self, flags: CloneFlags) -> Result<(), Errno> {
        self.record(Call::Unshare(flags))
    }

    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&CStr>,
    ) -> Result<(), Errno> {
        self.record(Call::Mount {
            source: source.map(Path::to_path_buf),
            target: target.to_path_buf(),
            fstype: fstype.map(str::to_owned),
            flags,
            data: data.map(|data| data.to_string_lossy().into_owned()),
        })
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        self.record(Call::Umount(target.to_path_buf(), flags))
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno> {
        self.record(Call::PivotRoot(
            new_root.to_path_buf(),
            put_old.to_path_buf(),
        ))
    }

    fn chdir(&self, path: &Path) -> Result<(), Errno> {
        self.record(Call::Chdir(path.to_path_buf()))
    }

    fn mkdir(&self, path: &Path, mode: u32) -> Result<(), Errno> {
        self.record(Call::Mkdir(path.to_path_buf(), mode))
    }

    fn write_file(&self, path: &Path, mode: u32, contents: &[u8]) -> Result<(), Errno> {
        self.record(Call::WriteFile(path.to_path_buf(), mode, contents.to_vec()))
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<(), Errno> {
        self.record(Call::Symlink(target.to_path_buf(), link.to_path_buf()))
    }

    fn sethostname(&self, name: &str) -> Result<(), Errno> {
        self.record(Call::Sethostname(name.to_owned()))
    }

    fn loopback_up(&self) -> Result<(), Errno> {
        self.record(Call::LoopbackUp)
    }

    fn listen_proxy(&self, port: u16, _channel: RawFd) -> Result<(), Errno> {
        self.record(Call::ListenProxy(port))
    }

    fn set_ids(&self, uid: u32, gid: u32, groups: bool) -> Result<(), Errno> {
        self.record(Call::SetIds(uid, gid, groups))
    }

    fn fork(&self, role: ForkRole) -> Result<(), Errno> {
        self.record(Call::Fork(role))
    }

    fn drop_bounding_capabilities(&self, keep: u64) -> Result<(), Errno> {
        self.record(Call::DropBoundingCapabilities(keep))
    }

    fn limit_capabilities(&self, keep: u64) -> Result<(), Errno> {
        self.record(Call::LimitCapabilities(keep))
    }

    fn no_new_privileges(&self) -> Result<(), Errno> {
        self.record(Call::NoNewPrivileges)
    }

    fn seccomp(&self, program: &SeccompProgram) -> Result<(), Errno> {
        self.record(Call::Seccomp(program.instructions.len()))
    }

    fn await_id_maps(&self, _notify: RawFd, _wait: RawFd) -> Result<(), Errno> {
        self.record(Call::AwaitIdMaps)
    }

    fn die_with_parent(&self) -> Result<(), Errno> {
        self.record(Call::DieWithParent)
    }
}
