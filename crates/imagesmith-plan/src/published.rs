//! What `imagesmith publish` delivered: `imagesmith.published.json`, beside the lock.
//!
//! One entry per published image version: the locked inputs it was built from (the lock's
//! image digest), the manifest digest the registry holds, its reference and tags, the gate
//! verdict and who signed it. `publish` appends to it and refuses to publish a version
//! again with other content; `lock` reads it so that a version already published for other
//! inputs is never given to new ones (a lost or reset lock cannot re-use `v1.0.0`), and
//! `plan` shows what is published. The registry's immutable tags are the last word; this
//! file is the project's memory of them, committed with the lock.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::LockError;

/// The file's name, in the project folder.
pub const PUBLISHED_FILE: &str = "imagesmith.published.json";

/// The format version written in the file.
pub const PUBLISHED_FORMAT: u32 = 1;

/// Every published image version, by image name, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// [`PUBLISHED_FORMAT`].
    pub format: u32,
    /// By image name.
    #[serde(default)]
    pub images: BTreeMap<String, Vec<Publication>>,
}

/// One image version delivered to a registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publication {
    /// The image's semantic version.
    pub version: String,
    /// The digest of the locked inputs (`io.imagesmith.digest`).
    pub inputs: String,
    /// The manifest digest the registry holds.
    pub digest: String,
    /// `REGISTRY/REPOSITORY` it was pushed to.
    pub repository: String,
    /// The tags that name it.
    pub tags: Vec<String>,
    /// The golden image's manifest digest it was built on (customized images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_digest: Option<String>,
    /// `passed`, or what the gates said when run with `--no-gates`.
    pub verdict: String,
    /// The signing key's identity (`sha256:` of its public key), when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// Components built without (`--skip-unavailable`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omitted: Vec<String>,
    /// When, RFC 3339 UTC.
    pub published: String,
    /// The CI run or `--build-id` that published it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
}

impl Published {
    /// An empty record.
    pub fn new() -> Published {
        Published {
            format: PUBLISHED_FORMAT,
            images: BTreeMap::new(),
        }
    }

    /// Reads the record at `path`; an empty one when there is none.
    pub fn read(path: &Path) -> Result<Published, LockError> {
        let text = match fs_err::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Published::new()),
            Err(source) => {
                return Err(LockError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let invalid = |e: serde_json::Error| LockError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let published: Published = serde_json::from_str(&text).map_err(invalid)?;
        if published.format != PUBLISHED_FORMAT {
            return Err(LockError::Format {
                path: path.to_path_buf(),
                found: published.format,
            });
        }
        Ok(published)
    }

    /// Writes it to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let io = |source| LockError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        };
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        let temporary = path.with_extension(format!("json.{}.tmp", std::process::id()));
        fs_err::write(&temporary, text).map_err(io)?;
        fs_err::rename(&temporary, path).map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            io(e)
        })
    }

    /// The publication of `image` at `version`, if any.
    pub fn get(&self, image: &str, version: &str) -> Option<&Publication> {
        self.images
            .get(image)?
            .iter()
            .rev()
            .find(|p| p.version == version)
    }

    /// The newest publication of `image`.
    pub fn latest(&self, image: &str) -> Option<&Publication> {
        self.images.get(image)?.last()
    }

    /// Whether `version` of `image` was published from inputs other than `inputs`.
    pub fn taken(&self, image: &str, version: &str, inputs: &str) -> bool {
        self.get(image, version).is_some_and(|p| p.inputs != inputs)
    }

    /// Adds a publication (replacing one of the same version and digest).
    pub fn record(&mut self, image: &str, publication: Publication) {
        let list = self.images.entry(image.to_owned()).or_default();
        list.retain(|p| !(p.version == publication.version && p.digest == publication.digest));
        list.push(publication);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publication(version: &str, inputs: &str) -> Publication {
        Publication {
            version: version.into(),
            inputs: inputs.into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            repository: "127.0.0.1:5000/golden".into(),
            tags: vec![format!("v{version}")],
            parent_digest: None,
            verdict: "passed".into(),
            signed_by: None,
            omitted: Vec::new(),
            published: "2026-12-02T00:00:00Z".into(),
            build_id: None,
        }
    }

    #[test]
    fn a_version_published_from_other_inputs_is_taken() {
        let mut published = Published::new();
        published.record("golden", publication("1.0.0", "sha256:one"));
        assert!(published.taken("golden", "1.0.0", "sha256:two"));
        assert!(!published.taken("golden", "1.0.0", "sha256:one"));
        assert!(!published.taken("golden", "1.0.1", "sha256:two"));
        assert!(!published.taken("other", "1.0.0", "sha256:two"));
    }

    #[test]
    fn the_record_round_trips_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PUBLISHED_FILE);
        assert_eq!(Published::read(&path).unwrap(), Published::new());
        let mut published = Published::new();
        published.record("golden", publication("1.0.0", "sha256:one"));
        published.record("golden", publication("1.0.0", "sha256:one"));
        assert_eq!(published.images["golden"].len(), 1);
        published.write(&path).unwrap();
        assert_eq!(Published::read(&path).unwrap(), published);
        std::fs::write(&path, "{\"format\": 9}").unwrap();
        assert!(matches!(
            Published::read(&path),
            Err(LockError::Format { found: 9, .. })
        ));
    }
}
