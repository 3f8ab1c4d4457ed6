//! `imagesmith.lock`: the locked model, written down.
//!
//! JSON, two-space indented, images sorted by name and components in install order, one
//! value per line: the same project always gives the same bytes, and a version bump changes
//! the lines of exactly the images it reaches. Line numbers and dates are never recorded, so
//! an edit elsewhere in a file does not touch the lock.

use crate::{
    digest_of, DecidedBy, Draft, LockedComponent, LockedImage, LockedProject, Parent, Role,
};
use imagesmith_model::{Artifact, ChecksumAlgorithm};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The lock file's name, next to `imagesmith.yaml`.
pub const LOCK_FILE: &str = "imagesmith.lock";

/// The format version written in every lock.
pub const LOCK_FORMAT: u32 = 1;

/// Why a lock file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The file could not be read or written.
    #[error("Cannot {action} `{path}`: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a lock imagesmith wrote.
    #[error("`{path}` is not a valid lock file: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The lock was written by a newer imagesmith.
    #[error("`{path}` has lock format {found}; this imagesmith reads format {LOCK_FORMAT}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The format it has.
        found: u32,
    },
}

impl LockError {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            LockError::Io { .. } => "check the file's permissions",
            LockError::Invalid { .. } => {
                "the lock is generated: restore it from version control or run `imagesmith lock`"
            }
            LockError::Format { .. } => {
                "upgrade imagesmith, or run `imagesmith lock` to rewrite it"
            }
        }
    }
}

/// The lock file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    /// Always [`LOCK_FORMAT`].
    pub format: u32,
    /// The project name.
    pub project: String,
    /// The target architecture.
    pub architecture: String,
    /// Every image, by name.
    pub images: BTreeMap<String, ImageEntry>,
}

/// One image of the lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageEntry {
    /// Golden or customized.
    pub role: Role,
    /// `container` or `ami`.
    #[serde(rename = "type")]
    pub image_type: String,
    /// The OS id.
    pub os: String,
    /// The document it came from.
    pub source: String,
    /// What it builds on.
    pub parent: ParentEntry,
    /// Its semantic version.
    pub version: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Digest of everything that decides its bits.
    pub digest: String,
    /// Its components, in install order.
    pub components: IndexMap<String, ComponentEntry>,
    /// The labels its document gives.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// Its environment variables.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environment: IndexMap<String, String>,
    /// Its default user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// An image's parent: an OS base (by digest when the reference pins one) or a golden image
/// of the lock (by its version and digest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentEntry {
    /// The base reference, for a golden image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The golden image, for a customized one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden: Option<String>,
    /// The golden parent's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The base's manifest digest, or the golden parent's input digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// One component of an image in the lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentEntry {
    /// The exact version.
    pub version: String,
    /// Where it came from: `document`, `project-default`, `catalog-default`, `latest`.
    pub from: String,
    /// The one place deciding it: `FILE#key.key`.
    pub decided_by: String,
    /// The file the component's definition came from.
    pub source: String,
    /// What it installs.
    pub artifact: ArtifactEntry,
    /// What only the build can know, said openly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at_build: Option<String>,
    /// Digest of its AWSTOE document.
    pub document: String,
    /// Its AWSTOE parameters (never secrets).
    pub parameters: IndexMap<String, String>,
    /// The secrets it needs (names only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Digest of everything that decides what it installs.
    pub digest: String,
}

impl ComponentEntry {
    /// The place deciding the version, parsed back.
    pub fn decided_by(&self) -> DecidedBy {
        DecidedBy::parse(&self.decided_by)
    }
}

/// A component's artifact as locked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ArtifactEntry {
    /// OS packages, installed by the package manager from the OS or a vendor repository.
    Package {
        /// The packages with their version constraint (`terraform=1.6.6*`).
        packages: Vec<String>,
        /// The vendor repository, when one is added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repository: Option<String>,
        /// The repository's signing key fingerprint.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_fingerprint: Option<String>,
    },
    /// A vendor download.
    Download {
        /// The URL (before the project's mirrors are applied).
        url: String,
        /// `sha256:<hex>` (or `sha512:`), when the catalog pins it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checksum: Option<String>,
        /// The vendor's checksum file it is checked against at build time otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checksum_url: Option<String>,
        /// The vendor's signature of the checksum file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature_url: Option<String>,
    },
    /// An authenticated vendor API, called at build time.
    VendorApi {
        /// The API and what it returns.
        api: String,
    },
}

/// Fills the `{{ name }}` placeholders of a catalog URL template from `parameters` (with
/// AWSTOE's own substitution: the catalog's templates are written as its documents are).
pub fn render_url(template: &str, parameters: &IndexMap<String, String>) -> String {
    use imagesmith_awstoe::expr::{substitute, Reference};
    substitute(template, |reference| match reference {
        Reference::Variable(name) => parameters.get(name).cloned(),
        _ => None,
    })
}

fn fill(template: &str, parameters: &IndexMap<String, String>) -> String {
    render_url(template, parameters)
}

/// The locked form of an artifact, and what of it only the build can know.
pub(crate) fn artifact_entry(
    artifact: &Artifact,
    parameters: &IndexMap<String, String>,
    arch: Option<&str>,
) -> (ArtifactEntry, Option<String>) {
    match artifact {
        Artifact::Package {
            names,
            version,
            repository,
        } => {
            let packages = names
                .iter()
                .enumerate()
                .map(|(i, name)| match (i, version) {
                    (0, Some(constraint)) => format!("{name}={}", fill(constraint, parameters)),
                    _ => name.clone(),
                })
                .collect();
            let why = format!(
                "the package manager picks the newest package matching {} in the repository",
                match version {
                    Some(constraint) => format!("`{}`", fill(constraint, parameters)),
                    None => "its name".to_string(),
                }
            );
            (
                ArtifactEntry::Package {
                    packages,
                    repository: repository.as_ref().map(|r| fill(&r.url, parameters)),
                    key_fingerprint: repository.as_ref().and_then(|r| r.key_fingerprint.clone()),
                },
                Some(why),
            )
        }
        Artifact::Download { url, checksum, .. } => {
            let version = parameters.get("version").map(String::as_str).unwrap_or("");
            let known = arch
                .and_then(|a| checksum.values.get(&format!("{version}/{a}")))
                .or_else(|| checksum.values.get(version));
            let algorithm = match checksum.algorithm {
                ChecksumAlgorithm::Sha256 => "sha256",
                ChecksumAlgorithm::Sha512 => "sha512",
            };
            let why = match (known, &checksum.url) {
                (Some(_), _) => None,
                (None, Some(file)) => Some(format!(
                    "the {algorithm} is read from the vendor's `{}` when the image is built",
                    fill(file, parameters)
                )),
                (None, None) => Some(format!("no {algorithm} is known for this download")),
            };
            (
                ArtifactEntry::Download {
                    url: fill(url, parameters),
                    checksum: known.map(|value| format!("{algorithm}:{value}")),
                    checksum_url: checksum.url.as_ref().map(|u| fill(u, parameters)),
                    signature_url: checksum.signature_url.as_ref().map(|u| fill(u, parameters)),
                },
                why,
            )
        }
        Artifact::VendorApi { description, .. } => (
            ArtifactEntry::VendorApi {
                api: description.clone(),
            },
            Some(format!(
                "fetched from the vendor's API when the image is built ({description})"
            )),
        ),
    }
}

fn component_entry(component: &LockedComponent) -> ComponentEntry {
    ComponentEntry {
        version: component.version.to_string(),
        from: crate::version_source_str(component.version_source).to_string(),
        decided_by: component.decided_by.to_key(),
        source: component.source.clone(),
        artifact: component.artifact.clone(),
        resolved_at_build: component.resolved_at_build.clone(),
        document: component.document_digest.clone(),
        parameters: component.parameters.clone(),
        secrets: component.secrets.clone(),
        digest: component.digest.clone(),
    }
}

fn parent_entry(parent: &Parent, images: &[LockedImage]) -> ParentEntry {
    match parent {
        Parent::Base { reference } => ParentEntry {
            base: Some(reference.clone()),
            golden: None,
            version: None,
            digest: reference
                .split_once('@')
                .map(|(_, digest)| digest.to_string()),
        },
        Parent::Golden { name } => {
            let golden = images.iter().find(|i| &i.name == name);
            ParentEntry {
                base: None,
                golden: Some(name.clone()),
                version: golden.map(|g| g.version.clone()),
                digest: golden.map(|g| g.digest.clone()),
            }
        }
    }
}

/// The entry of an image not yet given its version (`version` and `tags` empty).
pub(crate) fn entry_of_draft(draft: &Draft, images: &[LockedImage]) -> ImageEntry {
    ImageEntry {
        role: draft.role,
        image_type: draft.image_type.as_str().to_string(),
        os: draft.os.id.clone(),
        source: draft.source.clone(),
        parent: parent_entry(&draft.parent, images),
        version: String::new(),
        tags: Vec::new(),
        digest: draft.digest.clone(),
        components: draft
            .components
            .iter()
            .map(|c| (c.name.clone(), component_entry(c)))
            .collect(),
        labels: draft.labels.clone(),
        environment: draft.environment.clone(),
        user: draft.user.clone(),
    }
}

impl LockFile {
    /// The lock of `locked`.
    pub fn of(locked: &LockedProject) -> LockFile {
        let images = locked
            .images
            .iter()
            .map(|image| {
                let entry = ImageEntry {
                    role: image.role,
                    image_type: image.image_type.as_str().to_string(),
                    os: image.os.id.clone(),
                    source: image.source.clone(),
                    parent: parent_entry(&image.parent, &locked.images),
                    version: image.version.clone(),
                    tags: image.tags.clone(),
                    digest: image.digest.clone(),
                    components: image
                        .components
                        .iter()
                        .map(|c| (c.name.clone(), component_entry(c)))
                        .collect(),
                    labels: image.document_labels.clone(),
                    environment: image.environment.clone(),
                    user: image.user.clone(),
                };
                (image.name.clone(), entry)
            })
            .collect();
        LockFile {
            format: LOCK_FORMAT,
            project: locked.project.clone(),
            architecture: locked.architecture.clone(),
            images,
        }
    }

    /// The file's text: pretty JSON with a final newline.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Parses a lock's text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<LockFile, LockError> {
        #[derive(Deserialize)]
        struct Header {
            format: u32,
        }
        let invalid = |e: serde_json::Error| LockError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let header: Header = serde_json::from_str(text).map_err(invalid)?;
        if header.format != LOCK_FORMAT {
            return Err(LockError::Format {
                path: path.to_path_buf(),
                found: header.format,
            });
        }
        serde_json::from_str(text).map_err(invalid)
    }

    /// Reads the lock at `path`; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<LockFile>, LockError> {
        match fs_err::read_to_string(path) {
            Ok(text) => LockFile::parse(path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LockError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes the lock to `path` atomically (a temporary file renamed over it).
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let io = |source| LockError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        };
        let temporary = path.with_extension(format!("lock.{}.tmp", std::process::id()));
        fs_err::write(&temporary, self.to_text()).map_err(io)?;
        fs_err::rename(&temporary, path).map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            io(e)
        })
    }

    /// Digest of the whole lock.
    pub fn digest(&self) -> String {
        digest_of(self)
    }
}
