//! A content-addressed blob store: a directory of `sha256/<hex>` files
//!
//! The `blobs/` directory of an OCI image layout is such a store, and so is the build cache.
//! Blobs are written to a temporary file in the store and renamed to their digest only once
//! complete and flushed to disk, so a killed process never leaves a partial blob under its
//! final name.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::image::{Digest, Sha256Digest};
use sha2::{Digest as _, Sha256};

use crate::error::{IoContext, OciError, Result};

/// Turns a raw sha256 hash into a digest
pub fn sha256_digest(hash: &[u8]) -> Digest {
    let hex = hex::encode(hash);
    // 64 lowercase hex digits is always a valid sha256 digest
    match Sha256Digest::from_str(&hex) {
        Ok(digest) => digest.into(),
        Err(_) => unreachable!("hex-encoded sha256 is a valid digest"),
    }
}

/// The sha256 digest of some bytes
pub fn digest_of(bytes: &[u8]) -> Digest {
    sha256_digest(&Sha256::digest(bytes))
}

/// The hex part of a sha256 digest, or an error for other algorithms
pub fn sha256_hex(digest: &Digest) -> Result<&str> {
    match digest.algorithm() {
        oci_spec::image::DigestAlgorithm::Sha256 => Ok(digest.digest()),
        _ => Err(OciError::InvalidDigest {
            digest: digest.to_string(),
        }),
    }
}

/// A writer that hashes and counts what passes through it
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    pub(crate) fn finish(self) -> (W, Digest, u64) {
        (
            self.inner,
            sha256_digest(&self.hasher.finalize()),
            self.written,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes what passes through it
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        Ok(read)
    }
}

/// A directory of blobs named `sha256/<hex>`
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// Opens the store at `root`, creating it if needed
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs_err::create_dir_all(root.join("sha256"))?;
        Ok(Self { root })
    }

    /// The store's directory
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this digest is (or would be) stored
    pub fn path(&self, digest: &Digest) -> Result<PathBuf> {
        let hex = sha256_hex(digest)?;
        Ok(self.root.join("sha256").join(hex))
    }

    /// Whether the store holds a blob with this digest (its content is not checked)
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest)
            .map(|path| path.is_file())
            .unwrap_or(false)
    }

    /// Starts writing a new blob; its digest is known once [`BlobWriter::commit`] is called
    pub fn writer(&self) -> Result<BlobWriter> {
        let dir = self.root.join("sha256");
        let file = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .at("create a temporary blob in", &dir)?;
        Ok(BlobWriter {
            store: self.clone(),
            inner: HashingWriter::new(io::BufWriter::new(file)),
        })
    }

    /// Stores some bytes, returning their digest and size
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<(Digest, u64)> {
        let digest = digest_of(bytes);
        if self.contains(&digest) {
            return Ok((digest, bytes.len() as u64));
        }
        let mut writer = self.writer()?;
        writer.write_all(bytes).at("write a blob in", &self.root)?;
        writer.commit()
    }

    /// Reads a whole blob, checking that it hashes to its digest
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_verified(digest)?
            .read_to_end(&mut bytes)
            .map_err(|error| self.unwrap_verify_error(digest, error))?;
        Ok(bytes)
    }

    /// Opens a blob for streaming; reading it to the end fails if the content does not match
    /// the digest, so a consumer must read to EOF (the error kind is `InvalidData`)
    pub fn open_verified(&self, digest: &Digest) -> Result<VerifiedBlob> {
        let path = self.path(digest)?;
        let file = match fs_err::File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(OciError::MissingBlob {
                    digest: digest.to_string(),
                    store: self.root.clone(),
                })
            }
            Err(error) => return Err(error.into()),
        };
        Ok(VerifiedBlob {
            inner: HashingReader::new(io::BufReader::new(file)),
            expected: digest.clone(),
            store: self.root.clone(),
            done: false,
        })
    }

    /// Reads the blob through and checks its digest
    pub fn verify(&self, digest: &Digest) -> Result<()> {
        let mut blob = self.open_verified(digest)?;
        io::copy(&mut blob, &mut io::sink())
            .map_err(|error| self.unwrap_verify_error(digest, error))?;
        Ok(())
    }

    /// Copies a blob from another store, hard-linking when both are on one filesystem;
    /// a blob already present is kept as is
    pub fn copy_from(&self, other: &BlobStore, digest: &Digest) -> Result<()> {
        let target = self.path(digest)?;
        if target.is_file() {
            return Ok(());
        }
        let source = other.path(digest)?;
        if !source.is_file() {
            return Err(OciError::MissingBlob {
                digest: digest.to_string(),
                store: other.root.clone(),
            });
        }
        // Link to a temporary name first so the final name only ever holds a whole blob
        let dir = self.root.join("sha256");
        let temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .at("create a temporary blob in", &dir)?;
        let temp_path = temp.into_temp_path();
        fs_err::remove_file(&temp_path)?;
        if std::fs::hard_link(&source, &temp_path).is_err() {
            let mut from = fs_err::File::open(&source)?;
            let mut to = fs_err::File::create(&temp_path)?;
            io::copy(&mut from, &mut to).at("copy a blob to", &temp_path)?;
            to.sync_all()?;
        }
        fs_err::rename(&temp_path, &target)?;
        // The temporary name is gone; forget it without trying to delete it
        let _ = temp_path.keep();
        Ok(())
    }

    pub(crate) fn unwrap_verify_error(&self, digest: &Digest, error: io::Error) -> OciError {
        match error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Mismatch>())
        {
            Some(mismatch) => OciError::DigestMismatch {
                expected: digest.to_string(),
                actual: mismatch.0.clone(),
                store: self.root.clone(),
            },
            None => OciError::IoAt {
                action: "read blob from",
                path: self.path(digest).unwrap_or_else(|_| self.root.clone()),
                source: error,
            },
        }
    }
}

#[derive(Debug)]
struct Mismatch(String);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "blob content hashes to `{}`", self.0)
    }
}

impl std::error::Error for Mismatch {}

/// A blob being read; fails at EOF if the content does not hash to the digest
pub struct VerifiedBlob {
    inner: HashingReader<io::BufReader<fs_err::File>>,
    expected: Digest,
    store: PathBuf,
    done: bool,
}

impl VerifiedBlob {
    /// The store the blob is read from
    pub fn store(&self) -> &Path {
        &self.store
    }
}

impl Read for VerifiedBlob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        if read == 0 && !buf.is_empty() && !self.done {
            self.done = true;
            let hasher = self.inner.hasher.clone();
            let actual = sha256_digest(&hasher.finalize());
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    Mismatch(actual.to_string()),
                ));
            }
        }
        Ok(read)
    }
}

/// A blob being written to a temporary file in the store
pub struct BlobWriter {
    store: BlobStore,
    inner: HashingWriter<io::BufWriter<tempfile::NamedTempFile>>,
}

impl BlobWriter {
    /// Flushes the blob to disk and moves it under its digest; returns the digest and size
    pub fn commit(self) -> Result<(Digest, u64)> {
        let (writer, digest, size) = self.inner.finish();
        let dir = self.store.root.join("sha256");
        let file = writer
            .into_inner()
            .map_err(|error| error.into_error())
            .at("write a blob in", &dir)?;
        file.as_file().sync_all().at("flush a blob in", &dir)?;
        let target = self.store.path(&digest)?;
        if target.is_file() {
            // Same content already stored; the temporary file is dropped and deleted
            return Ok((digest, size));
        }
        file.persist(&target)
            .map_err(|error| error.error)
            .at("store blob", &target)?;
        sync_dir(&dir)?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Flushes a directory's entries to disk
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    fs_err::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_and_detect_corruption() {
        let temp = tempfile::tempdir().unwrap();
        let store = BlobStore::open(temp.path().join("blobs")).unwrap();
        let (digest, size) = store.write_bytes(b"hello").unwrap();
        assert_eq!(size, 5);
        assert_eq!(
            digest.to_string(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(store.read(&digest).unwrap(), b"hello");
        // No temporary file is left behind
        let names: Vec<_> = std::fs::read_dir(temp.path().join("blobs/sha256"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);

        std::fs::write(store.path(&digest).unwrap(), b"tampered").unwrap();
        assert!(matches!(
            store.read(&digest),
            Err(OciError::DigestMismatch { .. })
        ));
        assert!(matches!(
            store.verify(&digest),
            Err(OciError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let temp = tempfile::tempdir().unwrap();
        let store = BlobStore::open(temp.path()).unwrap();
        let mut writer = store.writer().unwrap();
        writer.write_all(b"partial").unwrap();
        drop(writer);
        assert_eq!(
            std::fs::read_dir(temp.path().join("sha256"))
                .unwrap()
                .count(),
            0
        );
    }
}
