//! Reading a file the user named: regular files only, never more than a limit.
//!
//! A path on the command line or in a project folder may be a FIFO (a read blocks until
//! someone writes, which may be never), a device (`/dev/zero` never ends) or a socket. Every
//! reader of user input goes through [`open_regular`] or [`read_regular`], which refuse all of
//! them before a read can block, and read at most one byte past the limit.

use std::fmt;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What a path is when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A folder.
    Directory,
    /// A FIFO (named pipe).
    Fifo,
    /// A character device (`/dev/zero`, a terminal).
    CharDevice,
    /// A block device (a disk).
    BlockDevice,
    /// A Unix socket.
    Socket,
    /// Anything else that is not a regular file.
    Other,
}

impl FileKind {
    fn of(metadata: &Metadata) -> Self {
        let file_type = metadata.file_type();
        if file_type.is_dir() {
            FileKind::Directory
        } else if file_type.is_fifo() {
            FileKind::Fifo
        } else if file_type.is_char_device() {
            FileKind::CharDevice
        } else if file_type.is_block_device() {
            FileKind::BlockDevice
        } else if file_type.is_socket() {
            FileKind::Socket
        } else {
            FileKind::Other
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a folder",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Other => "a special file",
        })
    }
}

/// Why a user's file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// It could not be opened or read.
    #[error("Cannot read `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is a FIFO, a device, a socket or a folder.
    #[error("`{}` is {kind}, not a regular file", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        kind: FileKind,
    },
    /// It is larger than the limit.
    #[error("`{}` is {size} bytes, larger than the limit of {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size (at least `limit + 1` when it grew while being read).
        size: u64,
        /// The limit.
        limit: u64,
    },
}

impl ReadError {
    /// How to fix it, for a `hint:` line.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ReadError::Io { .. } => None,
            ReadError::NotRegular { .. } => Some(
                "imagesmith reads only regular files; write the content to a file and name that",
            ),
            ReadError::TooLarge { .. } => None,
        }
    }
}

/// Opens `path` for reading if it is a regular file (after following symbolic links), and
/// returns it with its metadata.
///
/// The path is checked before it is opened, so a device is never opened at all (opening one
/// can do something: rewind a tape, start a watchdog). It is opened with `O_NONBLOCK`, so a
/// FIFO swapped in after the check cannot block the open, and `O_NOCTTY`, so a terminal
/// cannot become the controlling one; what was opened is checked again (`fstat`) before a
/// byte is read. `O_NONBLOCK` changes nothing for reads of a regular file.
pub fn open_regular(path: &Path) -> Result<(File, Metadata), ReadError> {
    // std rather than fs-err: every error below names the path itself.
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_regular = |metadata: &Metadata| ReadError::NotRegular {
        path: path.to_path_buf(),
        kind: FileKind::of(metadata),
    };
    let before = std::fs::metadata(path).map_err(io)?;
    if !before.is_file() {
        return Err(not_regular(&before));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    if !metadata.is_file() {
        return Err(not_regular(&metadata));
    }
    Ok((file, metadata))
}

/// Reads the regular file at `path` whole, refusing it when it is larger than `limit` bytes
/// (by its size, and by what a read finds, should it grow meanwhile).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, metadata) = open_regular(path)?;
    let too_large = |size: u64| ReadError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    };
    if metadata.len() > limit {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}
