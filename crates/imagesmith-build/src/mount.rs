//! The builder's own view of an image: an overlay mounted on the build thread
//!
//! AWSTOE file actions (CreateFile, CopyFolder, SetFileOwner…) act on the image from the
//! host side, so the builder needs the merged tree of the image while a phase runs. It
//! mounts the same overlay the sandbox uses (same lower, upper and work directories) at the
//! merged directory, in a private mount namespace of the build thread, and unmounts it
//! around every sandboxed command: only one overlay ever uses an upper directory at a time,
//! file actions see exactly what commands see (lower layers read through, copy-up and
//! whiteouts done by the kernel), and a killed build leaves no mount behind, because the
//! namespace dies with the process.
//!
//! Privileged calls go through the [`Mounter`] trait so the builder can be unit-tested
//! without root ([`NoMounter`]).
//!
//! Rootless, the build process runs as root of a user namespace
//! ([`imagesmith_sandbox::reexec_in_user_namespace`]): the mount namespace made here
//! belongs to it, the overlay is mounted with `userxattr`, and file actions run as root of
//! that namespace, so `SetFileOwner` gives files to the image's own users (host ids from
//! the user's subordinate range).

use std::path::Path;

use imagesmith_sandbox::OverlayRoot;
use nix::mount::{MntFlags, MsFlags};

use crate::error::BuildError;

/// Mounts the builder's view of an overlay
pub trait Mounter: Send + Sync {
    /// Gives the calling thread its own mount namespace whose mounts never propagate to the
    /// host; called once per build thread before any mount
    fn enter_private_namespace(&self) -> Result<(), BuildError>;
    /// Mounts `root` at its merged directory
    fn mount(&self, root: &OverlayRoot) -> Result<(), BuildError>;
    /// Unmounts the merged directory
    fn unmount(&self, merged: &Path) -> Result<(), BuildError>;
}

/// Real mounts (needs root)
#[derive(Debug, Clone, Copy, Default)]
pub struct LinuxMounter;

impl Mounter for LinuxMounter {
    fn enter_private_namespace(&self) -> Result<(), BuildError> {
        // Per thread: unshare(CLONE_NEWNS) affects only the calling thread
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|source| {
            BuildError::Mount {
                action: "create a private mount namespace for",
                path: "/".into(),
                source,
            }
        })?;
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|source| BuildError::Mount {
            action: "make mounts private under",
            path: "/".into(),
            source,
        })
    }

    fn mount(&self, root: &OverlayRoot) -> Result<(), BuildError> {
        // The same options as the sandbox's overlay, so either can reuse the work directory
        let options =
            imagesmith_sandbox::overlay_options(root, imagesmith_sandbox::in_user_namespace())
                .map_err(|error| BuildError::Invalid {
                    message: error.to_string(),
                })?;
        nix::mount::mount(
            Some("overlay"),
            &root.merged_dir,
            Some("overlay"),
            // A device node a step made cannot be opened by a file action running as the
            // builder (issue 8): reading `c 1 1` would read the host's memory
            MsFlags::MS_NODEV | MsFlags::MS_NOSUID,
            Some(options.as_str()),
        )
        .map_err(|source| BuildError::Mount {
            action: "mount the image overlay at",
            path: root.merged_dir.clone(),
            source,
        })
    }

    fn unmount(&self, merged: &Path) -> Result<(), BuildError> {
        // The steps' processes are killed with their PID namespace, but the kernel lets go
        // of their working directories and open files a moment later: on a loaded machine
        // the first unmount can meet EBUSY. Ask again for up to two seconds; then detach
        // the mount (the processes are dead, nothing can write through it any more).
        let mut tries = 0;
        loop {
            match nix::mount::umount2(merged, MntFlags::empty()) {
                Ok(()) => return Ok(()),
                Err(nix::errno::Errno::EBUSY) if tries < 40 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(nix::errno::Errno::EBUSY) => {
                    return nix::mount::umount2(merged, MntFlags::MNT_DETACH).map_err(|source| {
                        BuildError::Mount {
                            action: "unmount the image overlay at",
                            path: merged.to_path_buf(),
                            source,
                        }
                    })
                }
                Err(source) => {
                    return Err(BuildError::Mount {
                        action: "unmount the image overlay at",
                        path: merged.to_path_buf(),
                        source,
                    })
                }
            }
        }
    }
}

/// Mounts nothing: for tests with a fake sandbox, where the merged directory is a plain
/// directory
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMounter;

impl Mounter for NoMounter {
    fn enter_private_namespace(&self) -> Result<(), BuildError> {
        Ok(())
    }

    fn mount(&self, _root: &OverlayRoot) -> Result<(), BuildError> {
        Ok(())
    }

    fn unmount(&self, _merged: &Path) -> Result<(), BuildError> {
        Ok(())
    }
}
