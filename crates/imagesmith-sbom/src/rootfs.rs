//! Paths inside an image root filesystem, with symbolic links resolved against the image's
//! root rather than the host's (an image's `/usr/share/doc/x -> /usr/share/doc/y` must not
//! read the host's files).

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::SbomError;

/// How many symbolic links one lookup may follow (Linux's `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// Resolves `relative` inside `root`; `None` when it does not exist.
pub(crate) fn resolve(root: &Path, relative: &Path) -> Result<Option<PathBuf>, SbomError> {
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, relative);
    let mut resolved: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&name);
        let metadata = match std::fs::symlink_metadata(&candidate) {
            Ok(metadata) => metadata,
            Err(error) if missing(&error) => return Ok(None),
            Err(source) => {
                return Err(SbomError::Read {
                    path: candidate,
                    source,
                })
            }
        };
        if metadata.file_type().is_symlink() {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(SbomError::SymlinkLoop {
                    path: relative.to_path_buf(),
                });
            }
            let target = std::fs::read_link(&candidate).map_err(|source| SbomError::Read {
                path: candidate.clone(),
                source,
            })?;
            if target.is_absolute() {
                resolved.clear();
            }
            push_components(&mut pending, &target);
        } else {
            resolved.push(name);
        }
    }
    let mut path = root.to_path_buf();
    path.extend(&resolved);
    Ok(Some(path))
}

/// Reads a file inside `root`; `None` when it does not exist.
pub(crate) fn read(root: &Path, relative: &str) -> Result<Option<(PathBuf, Vec<u8>)>, SbomError> {
    let Some(path) = resolve(root, Path::new(relative))? else {
        return Ok(None);
    };
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some((path, bytes))),
        Err(error) if missing(&error) => Ok(None),
        Err(source) => Err(SbomError::Read { path, source }),
    }
}

/// Whether an error means "not there": missing, or a file where a directory was expected.
fn missing(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Pushes the components of `path` so that the first one is popped first.
fn push_components(stack: &mut Vec<OsString>, path: &Path) {
    let names: Vec<OsString> = path
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    stack.extend(names.into_iter().rev());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_links_stay_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        std::fs::create_dir_all(root.join("usr/share/doc/real")).unwrap();
        std::fs::write(root.join("usr/share/doc/real/copyright"), "inside").unwrap();
        symlink("/usr/share/doc/real", root.join("usr/share/doc/link")).unwrap();
        symlink("/etc/hostname", root.join("escape")).unwrap();
        symlink("../../../../../../../etc/hostname", root.join("usr/escape")).unwrap();

        let (_, bytes) = read(root, "usr/share/doc/link/copyright").unwrap().unwrap();
        assert_eq!(bytes, b"inside");
        // The host's /etc/hostname is never reached.
        assert!(read(root, "escape").unwrap().is_none());
        assert!(read(root, "usr/escape").unwrap().is_none());
    }

    #[test]
    fn link_loops_are_an_error() {
        let root = tempfile::tempdir().unwrap();
        symlink("b", root.path().join("a")).unwrap();
        symlink("a", root.path().join("b")).unwrap();
        let error = read(root.path(), "a").unwrap_err();
        assert!(matches!(error, SbomError::SymlinkLoop { .. }), "{error}");
    }

    #[test]
    fn a_file_in_place_of_a_directory_is_missing() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("usr"), "").unwrap();
        assert!(read(root.path(), "usr/share/doc").unwrap().is_none());
    }
}
