//! Where signatures are kept: the image's repository, reached by the caller's client.

use std::collections::HashMap;
use std::sync::Mutex;

/// An error of a [`SignatureStore`].
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// The four registry operations signing needs, in one repository.
pub trait SignatureStore {
    /// The manifest tagged `tag`; `None` when there is none.
    fn manifest(&self, tag: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The blob `digest` (`sha256:<hex>`).
    fn blob(&self, digest: &str) -> Result<Vec<u8>, StoreError>;
    /// Uploads a blob.
    fn put_blob(&self, bytes: &[u8]) -> Result<(), StoreError>;
    /// Puts a manifest under `tag` (the signature tag is rewritten as signatures are added).
    fn put_manifest(&self, tag: &str, bytes: &[u8], media_type: &str) -> Result<(), StoreError>;
}

/// A store in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Manifests by tag.
    pub manifests: Mutex<HashMap<String, Vec<u8>>>,
    /// Blobs by digest.
    pub blobs: Mutex<HashMap<String, Vec<u8>>>,
}

impl SignatureStore for MemoryStore {
    fn manifest(&self, tag: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .manifests
            .lock()
            .map_err(|_| "poisoned")?
            .get(tag)
            .cloned())
    }

    fn blob(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        self.blobs
            .lock()
            .map_err(|_| "poisoned")?
            .get(digest)
            .cloned()
            .ok_or_else(|| format!("no blob {digest}").into())
    }

    fn put_blob(&self, bytes: &[u8]) -> Result<(), StoreError> {
        use sha2::Digest as _;
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
        self.blobs
            .lock()
            .map_err(|_| "poisoned")?
            .insert(digest, bytes.to_vec());
        Ok(())
    }

    fn put_manifest(&self, tag: &str, bytes: &[u8], _media_type: &str) -> Result<(), StoreError> {
        self.manifests
            .lock()
            .map_err(|_| "poisoned")?
            .insert(tag.to_owned(), bytes.to_vec());
        Ok(())
    }
}
