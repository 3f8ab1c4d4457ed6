//! The build cache: blobs, layer records keyed by what decides a layer, the overlay-ready
//! upper directories of built layers, extracted bases, logs and finished images
//!
//! Layout under the cache root (paths are short because overlay options must fit in a page):
//!
//! ```text
//! blobs/sha256/<hex>      every blob (layers, configs, manifests, SBOMs)
//! l/<key>.json            layer record: written last, after its blob and upper directory
//! u/<key16>/              the upper directory a layer was made from (an overlay lower dir)
//! b/<key16>/              an extracted base root filesystem
//! bases/<key16>/          the base as an OCI image layout (its record, written last)
//! t/<manifest hex>        marker: this image's test phase passed
//! s/<manifest hex>.json   the SBOM artifacts of an image
//! images/<name>/          the last image built under that name, as an OCI image layout
//! logs/<image>/           step logs (secrets redacted)
//! w/                      scratch directories of running builds (emptied when a build starts)
//! lock                    flock held while a build uses the cache; names its pid
//! ```
//!
//! Every record is written to a temporary file and renamed, after what it points to is
//! complete, so a build killed at any moment leaves either no record or a valid one; the
//! temporary files it leaves are removed by the next build, under the lock.

use std::io::Write;
use std::path::{Path, PathBuf};

use imagesmith_oci::BlobStore;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::BuildError;

/// The cache directory: `$IMAGESMITH_CACHE_DIR`, else `$XDG_CACHE_HOME/imagesmith`, else
/// `~/.cache/imagesmith`
pub fn default_cache_dir() -> PathBuf {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = non_empty("IMAGESMITH_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = non_empty("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("imagesmith");
    }
    let home = non_empty("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache").join("imagesmith")
}

/// A layer built for one component on one parent
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The cache key
    pub key: String,
    /// The compressed blob's digest
    pub digest: String,
    /// The compressed blob's size
    pub size: u64,
    /// The blob's media type
    pub media_type: String,
    /// The uncompressed tar's digest
    pub diff_id: String,
    /// The component and version, for people reading the cache
    pub component: String,
}

/// The build cache, locked for the lifetime of this value
#[derive(Debug)]
pub struct Cache {
    root: PathBuf,
    blobs: BlobStore,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl Cache {
    /// Opens (creating) the cache at `root`, waits for other builds using it to finish, and
    /// removes scratch directories left by killed builds
    pub fn open(root: &Path) -> Result<Self, BuildError> {
        Self::open_reporting(root, &|_| {})
    }

    /// [`Cache::open`], telling `waiting` (once) when another build holds the cache and
    /// this one waits for it, as cargo's "Blocking waiting for file lock" does
    pub fn open_reporting(root: &Path, waiting: &dyn Fn(&str)) -> Result<Self, BuildError> {
        fs_err::create_dir_all(root)?;
        let root = std::path::absolute(root)?;
        for dir in ["l", "u", "b", "bases", "t", "s", "images", "logs", "w"] {
            fs_err::create_dir_all(root.join(dir))?;
        }
        let lock = lock(&root.join("lock"), waiting)?;
        let blobs = BlobStore::open(root.join("blobs")).map_err(BuildError::oci("cache"))?;
        let cache = Cache {
            root,
            blobs,
            _lock: lock,
        };
        // What killed builds left: nobody else holds the lock, so nothing uses it
        for entry in fs_err::read_dir(cache.root.join("w"))? {
            remove_tree(&entry?.path())?;
        }
        remove_stale_temporaries(&cache.root)?;
        Ok(cache)
    }

    /// The cache directory
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob store
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// A subdirectory of the cache
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Where the upper directory of the layer with this key is kept
    pub fn upper_dir(&self, key: &str) -> PathBuf {
        self.root.join("u").join(short(key))
    }

    /// The record of the layer with this key, when it and everything it points to exist
    pub fn layer(&self, key: &str) -> Result<Option<LayerRecord>, BuildError> {
        let path = self.root.join("l").join(format!("{}.json", hex_part(key)));
        let Some(record) = read_json::<LayerRecord>(&path)? else {
            return Ok(None);
        };
        let digest = parse_digest(&record.digest, &path)?;
        if !self.blobs.contains(&digest) || !self.upper_dir(key).is_dir() {
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// Records a layer; its blob and upper directory must already be in place
    pub fn put_layer(&self, record: &LayerRecord) -> Result<(), BuildError> {
        let path = self
            .root
            .join("l")
            .join(format!("{}.json", hex_part(&record.key)));
        write_json_atomic(&path, record)
    }

    /// A fresh scratch directory for one overlay: `<dir>/u`, `<dir>/w`, `<dir>/m`
    pub fn scratch(&self) -> Result<tempfile::TempDir, BuildError> {
        let dir = tempfile::Builder::new()
            .prefix("")
            .rand_bytes(6)
            .tempdir_in(self.root.join("w"))?;
        for sub in ["u", "w", "m"] {
            fs_err::create_dir(dir.path().join(sub))?;
        }
        Ok(dir)
    }

    /// Whether the image with this manifest digest passed its test phase
    pub fn tested(&self, manifest: &str) -> bool {
        self.root.join("t").join(hex_part(manifest)).is_file()
    }

    /// Records that the image with this manifest digest passed its test phase
    pub fn mark_tested(&self, manifest: &str) -> Result<(), BuildError> {
        write_atomic(&self.root.join("t").join(hex_part(manifest)), b"passed\n")
    }
}

/// Takes the cache's lock (an exclusive `flock` on `path`, released by the kernel however
/// the build ends), waiting for the build that holds it, whose pid the file names
fn lock(
    path: &Path,
    waiting: &dyn Fn(&str),
) -> Result<nix::fcntl::Flock<std::fs::File>, BuildError> {
    use nix::fcntl::{Flock, FlockArg};
    let failed = |errno| BuildError::Mount {
        action: "lock the cache at",
        path: path.to_path_buf(),
        source: errno,
    };
    let file = fs_err::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)?
        .into_parts()
        .0;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => {
            let holder = std::fs::read_to_string(path).unwrap_or_default();
            waiting(&waiting_message(path, holder.trim()));
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| failed(errno))?
        }
        Err((_, errno)) => return Err(failed(errno)),
    };
    // Who holds it, for the next build's message (the outer process's pid: the one a
    // person sees in `ps` and can kill)
    lock.set_len(0)?;
    std::io::Seek::rewind(&mut *lock)?;
    writeln!(lock, "{}", imagesmith_sandbox::build_pid())?;
    Ok(lock)
}

/// What a build waiting for the cache's lock says
pub(crate) fn waiting_message(lock: &Path, holder: &str) -> String {
    let dir = lock.parent().unwrap_or(lock).display();
    if holder.is_empty() || !holder.bytes().all(|byte| byte.is_ascii_digit()) {
        format!("Blocking waiting for the lock on the cache `{dir}`: another build is using it")
    } else {
        format!(
            "Blocking waiting for the lock on the cache `{dir}`: the build with pid `{holder}` is using it\nhint: each build waits for the one before; give builds that should run at once their own `--cache-dir DIR`"
        )
    }
}

/// Whether an entry of the cache is a temporary one: `.tmp-*` (records, blobs) or
/// `.NAME.tmp-*` (image layouts and archives being written), and the `.`-prefixed
/// directories of a base being written
fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

/// Removes the temporary files and directories killed builds left in the cache (the
/// caller holds its lock, so no build is writing them): records, blobs, layouts, bases.
/// (The http cache empties its own `tmp/` when its proxy starts, and scratch directories
/// under `w/` are removed by [`Cache::open`].)
pub(crate) fn remove_stale_temporaries(root: &Path) -> Result<usize, BuildError> {
    let mut dirs: Vec<PathBuf> = ["", "l", "t", "s", "images", "blobs/sha256"]
        .iter()
        .map(|dir| root.join(dir))
        .collect();
    if let Ok(entries) = std::fs::read_dir(root.join("logs")) {
        dirs.extend(
            entries
                .flatten()
                .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
                .map(|entry| entry.path()),
        );
    }
    let mut removed = 0;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if is_temporary(&entry.file_name().to_string_lossy()) {
                remove_tree(&entry.path())?;
                removed += 1;
            }
        }
    }
    // A base is written under a `.`-prefixed name and renamed when complete
    for entry in fs_err::read_dir(root.join("bases"))? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'))
        {
            remove_tree(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The first 16 hex digits of a key: enough to be unique in one cache, short for overlay
pub fn short(key: &str) -> String {
    hex_part(key).chars().take(16).collect()
}

fn hex_part(key: &str) -> &str {
    key.strip_prefix("sha256:").unwrap_or(key)
}

pub(crate) fn parse_digest(
    text: &str,
    record: &Path,
) -> Result<imagesmith_oci::oci_spec::image::Digest, BuildError> {
    text.parse().map_err(|_| BuildError::Cache {
        path: record.to_path_buf(),
        message: format!("`{text}` is not a digest"),
    })
}

/// `sha256:<hex>` of the canonical JSON of `value`
pub fn key_of(value: &impl Serialize) -> String {
    let bytes = imagesmith_oci::canonical_json(value, "cache key").unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
}

/// The OCI chain id of `diff_id` on top of a parent chain (`None` for the first layer)
pub fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_owned(),
        Some(parent) => format!(
            "sha256:{}",
            hex::encode(Sha256::digest(format!("{parent} {diff_id}").as_bytes()))
        ),
    }
}

/// Reads a JSON record; `None` when it does not exist
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, BuildError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(fs_err::read(path).err().unwrap_or(error).into()),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| BuildError::Cache {
            path: path.to_path_buf(),
            message: error.to_string(),
        })
}

/// Writes JSON to a temporary sibling, flushes it and renames it into place
pub(crate) fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<(), BuildError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|error| BuildError::Cache {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Writes bytes to a temporary sibling, flushes it and renames it into place
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(parent)?;
    let mut file = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(parent)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    fs_err::File::open(parent)?.sync_all()?;
    Ok(())
}

/// Removes a tree, first making directories writable (overlayfs leaves `work/work` 000)
pub(crate) fn remove_tree(path: &Path) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !metadata.is_dir() {
        fs_err::remove_file(path)?;
        return Ok(());
    }
    if std::fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    fn open_up(dir: &Path) {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    open_up(&entry.path());
                }
            }
        }
    }
    open_up(path);
    fs_err::remove_dir_all(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        let first = "sha256:aa";
        assert_eq!(chain_id(None, first), first);
        let second = chain_id(Some(first), "sha256:bb");
        assert_eq!(
            second,
            format!(
                "sha256:{}",
                hex::encode(Sha256::digest(b"sha256:aa sha256:bb"))
            )
        );
    }

    #[test]
    fn records_need_their_blob_and_upper_dir() {
        let temp = tempfile::tempdir().unwrap();
        let cache = Cache::open(temp.path()).unwrap();
        let (digest, size) = cache.blobs().write_bytes(b"layer").unwrap();
        let record = LayerRecord {
            key: key_of(&"k"),
            digest: digest.to_string(),
            size,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            diff_id: digest.to_string(),
            component: "c 1".into(),
        };
        cache.put_layer(&record).unwrap();
        assert_eq!(cache.layer(&record.key).unwrap(), None);
        fs_err::create_dir_all(cache.upper_dir(&record.key)).unwrap();
        assert_eq!(cache.layer(&record.key).unwrap(), Some(record));
    }

    #[test]
    fn opening_removes_temporary_files_of_killed_builds() {
        let temp = tempfile::tempdir().unwrap();
        drop(Cache::open(temp.path()).unwrap());
        let root = temp.path();
        let stale = [
            "l/.tmp-a1b2c3",
            "t/.tmp-x",
            "blobs/sha256/.tmp-Qw3rty",
            "images/.golden.tmp-9zX",
            "logs/golden/.tmp-1",
            ".tmp-top",
        ];
        std::fs::create_dir_all(root.join("logs/golden")).unwrap();
        for file in stale {
            std::fs::write(root.join(file), b"half").unwrap();
        }
        std::fs::create_dir_all(root.join("images/.custom.tmp-dir/blobs")).unwrap();
        std::fs::create_dir_all(root.join("bases/.0123456789abcdef")).unwrap();
        let kept = [
            "l/0123.json",
            "images/golden.report.json",
            "logs/golden/step.json",
        ];
        for file in kept {
            std::fs::write(root.join(file), b"{}").unwrap();
        }
        let _cache = Cache::open(root).unwrap();
        for file in stale {
            assert!(!root.join(file).exists(), "{file} is left");
        }
        assert!(!root.join("images/.custom.tmp-dir").exists());
        assert!(!root.join("bases/.0123456789abcdef").exists());
        for file in kept {
            assert!(root.join(file).is_file(), "{file} was removed");
        }
    }

    #[test]
    fn a_second_build_waits_for_the_lock_and_names_the_first() {
        let temp = tempfile::tempdir().unwrap();
        let first = Cache::open(temp.path()).unwrap();
        let holder = std::fs::read_to_string(temp.path().join("lock")).unwrap();
        assert_eq!(holder.trim(), imagesmith_sandbox::build_pid().to_string());
        let (said, got) = std::sync::mpsc::channel();
        let root = temp.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let said = std::sync::Mutex::new(said);
            let cache = Cache::open_reporting(&root, &|message| {
                let _ = said.lock().unwrap().send(message.to_owned());
            });
            cache.map(|_| ())
        });
        // The second build says why it waits, then waits
        let message = got.recv().unwrap();
        assert!(
            message.starts_with("Blocking waiting for the lock on the cache"),
            "{message}"
        );
        assert!(
            message.contains(&format!("pid `{}`", holder.trim())),
            "{message}"
        );
        assert!(!second.is_finished());
        drop(first);
        second.join().unwrap().unwrap();
        assert!(waiting_message(Path::new("/c/lock"), "").contains("another build"));
    }

    #[test]
    fn opening_removes_scratch_of_killed_builds() {
        let temp = tempfile::tempdir().unwrap();
        let stale = {
            let cache = Cache::open(temp.path()).unwrap();
            let scratch = cache.scratch().unwrap();
            scratch.keep()
        };
        assert!(stale.is_dir());
        let _cache = Cache::open(temp.path()).unwrap();
        assert!(!stale.exists());
    }
}
