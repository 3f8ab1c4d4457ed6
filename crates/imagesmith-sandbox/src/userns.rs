//! Rootless builds: this process re-executes itself in a user namespace, as buildah and
//! podman do
//!
//! A build does more than run commands: it extracts base layers with their owners, mounts
//! the image for AWSTOE file actions (which `chown` to the image's users), reads upper
//! directories whose files belong to those users to make layers, and deletes them again.
//! All of it must happen where root is the user and the image's users exist, that is
//! inside one user namespace. Only a single-threaded process can enter a user namespace,
//! so the build's process is started again in one: the parent forks, the child creates the
//! namespace and waits, the parent runs `newuidmap` and `newgidmap` on it (the set-user-id
//! helpers that let a user map the subordinate ids `/etc/subuid` and `/etc/subgid` give it),
//! and the child executes `/proc/self/exe` with the same arguments and environment, now as
//! root of the namespace with every capability in it. The parent only waits and passes the
//! exit code on. Inside, everything runs as for root, in [`Mode::UserNamespace`], with
//! mount and pid namespaces of its own, as a rootful build has
//! ([`crate::reexec_in_build_namespaces`]: a reaper as pid 1, parent-death signals,
//! signals passed on).
//!
//! Why not less: doing only the mount and the file actions in a forked child would run the
//! AWSTOE executor (allocations, locks) after `fork` in a multi-threaded process, and file
//! actions run inside the sandbox would need tools in the image; neither would cover base
//! extraction, reading directories like `/var/cache/apt/archives/partial` (`_apt`, 0700)
//! into layers, or deleting what the image's users own.
//!
//! Root in the namespace is the user; ids 1 to 65536 are its subordinate range, so a file
//! a step gives to uid 100 belongs to host uid `START + 99`, and is uid 100 again when read
//! inside. Without subordinate ids (or without `newuidmap`), only root is mapped: commands
//! that only write as root work, anything that gives files to another user fails, and the
//! build says why.
//!
//! [`Mode::UserNamespace`]: crate::Mode::UserNamespace

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use nix::sched::CloneFlags;

use crate::build_namespaces::{
    pid_namespace_steps, self_command, wait_forwarding_signals, NAMESPACES_MARKER,
};
use crate::error::SandboxError;
use crate::idmap::IdMap;
use crate::plan::Step;
use crate::preflight::{plan_user_namespace, LinuxHost, UserNamespacePlan, REEXEC_MARKER};
use crate::run::{execute_or_report, setup_error};
use crate::syscalls::LinuxSyscalls;

/// What [`reexec_in_user_namespace`] did
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reexec {
    /// This process is root already (in the initial user namespace or in another): go on
    NotNeeded,
    /// A copy of this process ran in a user namespace and exited with this code (`128 + N`
    /// when killed by signal `N`)
    Exited(i32),
}

/// Runs this program again in a user namespace when it is not root; see the module docs
///
/// Call it first thing in a command that builds: arguments, environment and working
/// directory are those of this process. As root it returns [`Reexec::NotNeeded`] at once
/// (and [`crate::reexec_in_build_namespaces`] is what gives a rootful build namespaces
/// of its own).
pub fn reexec_in_user_namespace() -> Result<Reexec, SandboxError> {
    match plan_user_namespace(&LinuxHost)? {
        None => Ok(Reexec::NotNeeded),
        Some(plan) => plan.reexec().map(Reexec::Exited),
    }
}

impl UserNamespacePlan {
    /// What the child does between `fork` and `exec`: create the namespace, get its maps
    /// (from the parent through `sync`, a pair of pipe ends, or by writing a single-id map
    /// itself), become root in it, create a mount namespace it owns and die with the parent
    pub fn child_steps(&self, sync: (std::os::fd::RawFd, std::os::fd::RawFd)) -> Vec<Step> {
        let mut steps = vec![Step::Unshare(CloneFlags::CLONE_NEWUSER)];
        if self.single_id.is_some() {
            // A process may map its own ids, if it gives up setgroups(2)
            for (file, contents) in [
                ("/proc/self/setgroups", String::from("deny")),
                ("/proc/self/uid_map", self.uid_map.render()),
                ("/proc/self/gid_map", self.gid_map.render()),
            ] {
                steps.push(Step::WriteFile {
                    path: PathBuf::from(file),
                    mode: 0o644,
                    contents: contents.into_bytes(),
                });
            }
            steps.push(Step::SetIds {
                uid: 0,
                gid: 0,
                groups: false,
            });
        } else {
            steps.push(Step::AwaitIdMaps {
                notify: sync.0,
                wait: sync.1,
            });
            // The host's supplementary groups are unmapped in the namespace: only root's
            steps.push(Step::SetIds {
                uid: 0,
                gid: 0,
                groups: true,
            });
        }
        // A mount namespace of the user namespace's own, where its root may mount (tools
        // such as mmdebstrap mount from the build's main thread); mounts made in it never
        // reach the host, whose shared mounts it only receives. And a pid namespace, so
        // no helper outlives the build (see crate::build_namespaces)
        steps.push(Step::Unshare(
            CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID,
        ));
        // Entering the namespace cleared it
        steps.push(Step::DieWithParent);
        steps.extend(pid_namespace_steps());
        steps
    }

    /// Runs `/proc/self/exe` with this process's arguments and environment in a new user
    /// namespace with these maps; returns its exit code
    pub fn reexec(&self) -> Result<i32, SandboxError> {
        let pipe = || {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|errno| SandboxError::Io(errno.into()))
        };
        let (notify_read, notify_write) = pipe()?;
        let (wait_read, wait_write) = pipe()?;
        let (error_read, error_write) = pipe()?;
        let steps = self.child_steps((notify_write.as_raw_fd(), wait_read.as_raw_fd()));
        let descriptions: Vec<String> = steps.iter().map(Step::describe).collect();
        let error_fd = error_write.as_raw_fd();

        // The parent is inside `spawn` while the child waits for its maps: a thread
        // writes them
        let maps = self
            .single_id
            .is_none()
            .then(|| (self.uid_map.clone(), self.gid_map.clone()));
        let helper = std::thread::spawn(move || -> Result<(), String> {
            let mut notify = std::fs::File::from(notify_read);
            let mut wait = std::fs::File::from(wait_write);
            let mut pid = [0u8; 4];
            if notify.read_exact(&mut pid).is_err() {
                // The child failed before asking, or needs nothing: `spawn` says which
                return Ok(());
            }
            let pid = i32::from_le_bytes(pid);
            let result = match &maps {
                Some((uid_map, gid_map)) => write_maps(pid, uid_map, gid_map),
                None => Ok(()),
            };
            // The child's answer; it cannot be gone (it waits for this), so errors are moot
            let _ = wait.write_all(&[u8::from(result.is_err())]);
            result
        });

        let mut command = self_command();
        command
            .env(
                REEXEC_MARKER,
                if self.single_id.is_some() {
                    "single-id"
                } else {
                    "subordinate-ids"
                },
            )
            .env(NAMESPACES_MARKER, "user-namespace");
        // SAFETY: the closure only makes system calls on data prepared before the fork
        unsafe {
            command.pre_exec(move || execute_or_report(&steps, &LinuxSyscalls, error_fd));
        }
        let spawned = command.spawn();
        drop((notify_write, wait_read, error_write));
        let mapped = helper
            .join()
            .unwrap_or_else(|_| Err(String::from("the thread writing the id maps panicked")));
        let child = match spawned {
            Ok(child) => child,
            Err(source) => {
                return Err(match mapped {
                    Err(reason) => SandboxError::UserNamespace { reason },
                    Ok(()) => {
                        setup_error(&error_read, &descriptions).unwrap_or(SandboxError::Spawn {
                            program: String::from("/proc/self/exe"),
                            source,
                        })
                    }
                })
            }
        };
        wait_forwarding_signals(child)
    }
}

/// Writes the maps of process `pid` with `newuidmap` and `newgidmap`
fn write_maps(pid: i32, uid_map: &IdMap, gid_map: &IdMap) -> Result<(), String> {
    for (program, map, file) in [
        ("newuidmap", uid_map, "/etc/subuid"),
        ("newgidmap", gid_map, "/etc/subgid"),
    ] {
        let arguments = map.arguments();
        let output = Command::new(program)
            .arg(pid.to_string())
            .args(&arguments)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|error| format!("cannot run `{program}`: {error}\n  hint: install it (`apt-get install uidmap`)"))?;
        if !output.status.success() {
            return Err(format!(
                "`{program} {pid} {}` failed ({}): {}\n  hint: `{program}` maps only the ranges `{file}` gives the user, and must be set-user-id root (or have CAP_SETUID)",
                arguments.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    Ok(())
}
