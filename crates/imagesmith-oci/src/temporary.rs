//! The temporary siblings outputs are written to, and the removal of those a killed
//! writer left
//!
//! A layout or an archive is written to `.NAME.tmp-XXXXXX` beside its destination and
//! renamed into place when complete. Its writer holds an exclusive `flock` on it while
//! writing, which the kernel drops however the writer ends; so the next writer of the same
//! destination removes every such sibling it can lock: nobody is writing it. (A lock file
//! per destination would be simpler but would stay behind in the user's output directory.)

use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::{IoContext, Result};
use crate::layout::{file_name, parent_of};

/// The prefix of the temporary siblings of `dest`
pub(crate) fn prefix(dest: &Path) -> String {
    format!(".{}.tmp-", file_name(dest))
}

/// Locks the temporary file or directory at `path` for as long as the value lives
pub(crate) fn hold(path: &Path) -> Result<Flock<std::fs::File>> {
    let file = std::fs::File::open(path).at("open the temporary", path)?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, errno)| std::io::Error::from(errno))
        .at("lock the temporary", path)
}

/// Removes the temporary siblings of `dest` that no writer holds; returns how many
pub fn remove_stale_temporaries(dest: &Path) -> Result<usize> {
    let parent = parent_of(dest);
    let prefix = prefix(dest);
    let Ok(entries) = std::fs::read_dir(&parent) else {
        // No directory yet: nothing was left in it
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        // Held: a writer is at work on it
        let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            continue;
        };
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            fs_err::remove_dir_all(&path)?;
        } else {
            fs_err::remove_file(&path)?;
        }
        drop(lock);
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_temporaries_nobody_holds_are_removed() {
        let temp = tempfile::tempdir().unwrap();
        let dest = temp.path().join("golden.oci.tar");
        let stale_file = temp.path().join(".golden.oci.tar.tmp-AbC123");
        let stale_dir = temp.path().join(".golden.oci.tar.tmp-dir");
        let held = temp.path().join(".golden.oci.tar.tmp-held");
        let other = temp.path().join(".other.oci.tar.tmp-x");
        std::fs::write(&stale_file, b"half").unwrap();
        std::fs::create_dir_all(stale_dir.join("blobs")).unwrap();
        std::fs::write(&held, b"being written").unwrap();
        std::fs::write(&other, b"another destination's").unwrap();
        std::fs::write(&dest, b"the finished one").unwrap();
        let _writer = hold(&held).unwrap();
        assert_eq!(remove_stale_temporaries(&dest).unwrap(), 2);
        assert!(!stale_file.exists() && !stale_dir.exists());
        assert!(held.exists() && other.exists() && dest.exists());
        assert_eq!(
            remove_stale_temporaries(&temp.path().join("missing/x")).unwrap(),
            0
        );
    }
}
