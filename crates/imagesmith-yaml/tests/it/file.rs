//! Reading user files (issue 8): FIFOs, devices, sockets and folders are refused before a
//! read can block; sizes are bounded.

use imagesmith_yaml::{open_regular, read_regular, FileKind, ReadError};
use std::path::Path;
use std::process::Command;

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
}

fn kind_of(error: ReadError) -> FileKind {
    match error {
        ReadError::NotRegular { kind, .. } => kind,
        other => panic!("expected NotRegular, got {other:?}"),
    }
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("spec.yaml");
    mkfifo(&fifo);
    // No writer: a plain open for reading would block forever.
    let error = read_regular(&fifo, 1024).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "`{}` is a FIFO (named pipe), not a regular file",
            fifo.display()
        )
    );
    assert!(error.hint().is_some());
    assert_eq!(kind_of(open_regular(&fifo).unwrap_err()), FileKind::Fifo);
}

#[test]
fn a_symbolic_link_to_a_fifo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let link = dir.path().join("link.yaml");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    assert_eq!(
        kind_of(read_regular(&link, 1024).unwrap_err()),
        FileKind::Fifo
    );
}

#[test]
fn devices_folders_and_sockets_are_refused() {
    assert_eq!(
        kind_of(read_regular(Path::new("/dev/zero"), 1024).unwrap_err()),
        FileKind::CharDevice
    );
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        kind_of(read_regular(dir.path(), 1024).unwrap_err()),
        FileKind::Directory
    );
    let socket = dir.path().join("s.yaml");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    assert_eq!(
        kind_of(read_regular(&socket, 1024).unwrap_err()),
        FileKind::Socket
    );
}

#[test]
fn sizes_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big");
    std::fs::write(&file, vec![b'x'; 101]).unwrap();
    match read_regular(&file, 100).unwrap_err() {
        ReadError::TooLarge { size, limit, .. } => assert_eq!((size, limit), (101, 100)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(read_regular(&file, 101).unwrap().len(), 101);
}

#[test]
fn a_missing_file_names_itself() {
    let error = read_regular(Path::new("/nonexistent/spec.yaml"), 10).unwrap_err();
    assert!(matches!(error, ReadError::Io { .. }));
    assert!(error
        .to_string()
        .starts_with("Cannot read `/nonexistent/spec.yaml`: "));
}
