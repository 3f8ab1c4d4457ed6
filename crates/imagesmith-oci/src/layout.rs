//! OCI image layout directories: writing atomically, and reading images back

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::image::{
    Arch, Descriptor, ImageConfiguration, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType,
    Os,
};

use crate::error::{IoContext, OciError, Result};
use crate::image::{canonical_json, Image, REF_NAME_ANNOTATION};
use crate::store::{sync_dir, BlobStore};

/// The content of the `oci-layout` file
pub const OCI_LAYOUT_FILE: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes an image layout at `dest` holding `images`, each named by its tag
/// (`org.opencontainers.image.ref.name`); blobs come from `store`
///
/// The layout is assembled in a temporary sibling directory, flushed to disk, then swapped
/// into place, so `dest` is always either the old layout or the new one. Blobs are
/// hard-linked from the store when it is on the same filesystem.
pub fn write_layout(dest: &Path, store: &BlobStore, images: &[(&str, &Image)]) -> Result<()> {
    let parent = parent_of(dest);
    fs_err::create_dir_all(&parent)?;
    // What a killed writer of `dest` left
    crate::temporary::remove_stale_temporaries(dest)?;
    let temp = tempfile::Builder::new()
        .prefix(&crate::temporary::prefix(dest))
        .tempdir_in(&parent)
        .at("create a temporary directory in", &parent)?;
    let _writing = crate::temporary::hold(temp.path())?;
    let blobs = BlobStore::open(temp.path().join("blobs"))?;
    for (_, image) in images {
        image.copy_blobs(store, &blobs)?;
    }
    sync_dir(&blobs.root().join("sha256"))?;
    sync_dir(blobs.root())?;
    write_synced(&temp.path().join("oci-layout"), OCI_LAYOUT_FILE.as_bytes())?;
    write_synced(&temp.path().join("index.json"), &index_json(images)?)?;
    sync_dir(temp.path())?;
    replace_dir(temp, dest)?;
    sync_dir(&parent)?;
    Ok(())
}

/// The `index.json` of a layout holding `images`, in the order given
pub fn index_json(images: &[(&str, &Image)]) -> Result<Vec<u8>> {
    let manifests = images
        .iter()
        .map(|(tag, image)| {
            let mut descriptor = image.descriptor.clone();
            let mut annotations: HashMap<String, String> =
                descriptor.annotations().clone().unwrap_or_default();
            annotations.insert(REF_NAME_ANNOTATION.to_owned(), (*tag).to_owned());
            descriptor.set_annotations(Some(annotations));
            descriptor
        })
        .collect::<Vec<_>>();
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(|source| OciError::Spec {
            what: "image index",
            source,
        })?;
    canonical_json(&index, "image index")
}

pub(crate) fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| String::from("image"))
}

pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = fs_err::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Moves a finished temporary directory to `dest`, atomically exchanging it with an existing
/// one, whose old content is then deleted with the temporary directory
fn replace_dir(temp: tempfile::TempDir, dest: &Path) -> Result<()> {
    if fs_err::symlink_metadata(dest).is_ok() {
        nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            temp.path(),
            nix::fcntl::AT_FDCWD,
            dest,
            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
        )
        .map_err(std::io::Error::from)
        .at("swap in the new image layout at", dest)?;
        // `temp` now names the old layout and is removed on drop
        drop(temp);
    } else {
        let path = temp.keep();
        fs_err::rename(&path, dest)?;
    }
    Ok(())
}

/// An OCI image layout directory opened for reading
#[derive(Debug, Clone)]
pub struct ImageLayout {
    root: PathBuf,
    index: ImageIndex,
    blobs: BlobStore,
}

impl ImageLayout {
    /// Opens the layout at `root`, reading its `index.json`
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let index_path = root.join("index.json");
        let bytes = fs_err::read(&index_path)?;
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|source| OciError::Json {
                action: "parse",
                what: "image index",
                path: index_path.display().to_string(),
                source,
            })?;
        let blobs_dir = root.join("blobs");
        if !blobs_dir.join("sha256").is_dir() {
            return Err(OciError::IoAt {
                action: "open the blobs of",
                path: root,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no blobs/sha256 directory; is this an OCI image layout?",
                ),
            });
        }
        Ok(Self {
            blobs: BlobStore::open(blobs_dir)?,
            root,
            index,
        })
    }

    /// The layout's directory
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The layout's `index.json`
    pub fn index(&self) -> &ImageIndex {
        &self.index
    }

    /// The layout's blobs
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The `org.opencontainers.image.ref.name` of each manifest that has one
    pub fn ref_names(&self) -> Vec<String> {
        self.index
            .manifests()
            .iter()
            .filter_map(|descriptor| {
                descriptor
                    .annotations()
                    .as_ref()
                    .and_then(|annotations| annotations.get(REF_NAME_ANNOTATION).cloned())
            })
            .collect()
    }

    /// Reads the image named `reference`, or the only image when `None`; an image index is
    /// resolved to the manifest for this host's platform
    pub fn image(&self, reference: Option<&str>) -> Result<Image> {
        let manifests = self.index.manifests();
        let available = || {
            let names = self.ref_names();
            if names.is_empty() {
                String::from("(no named images)")
            } else {
                names
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let descriptor = match reference {
            Some(reference) => manifests
                .iter()
                .find(|descriptor| {
                    descriptor
                        .annotations()
                        .as_ref()
                        .and_then(|annotations| annotations.get(REF_NAME_ANNOTATION))
                        .is_some_and(|name| name == reference)
                })
                .ok_or_else(|| OciError::UnknownReference {
                    reference: reference.to_owned(),
                    layout: self.root.clone(),
                    available: available(),
                })?,
            None => {
                // Artifacts that refer to an image (SBOMs, signatures) are not images.
                let images: Vec<&Descriptor> = manifests
                    .iter()
                    .filter(|d| d.artifact_type().is_none())
                    .collect();
                match images.as_slice() {
                    [only] => *only,
                    _ => {
                        return Err(OciError::AmbiguousImage {
                            layout: self.root.clone(),
                            count: images.len(),
                            available: available(),
                        })
                    }
                }
            }
        };
        self.image_from_descriptor(descriptor, 0)
    }

    fn image_from_descriptor(&self, descriptor: &Descriptor, depth: usize) -> Result<Image> {
        let bytes = self.blobs.read(descriptor.digest())?;
        let media_type = descriptor.media_type();
        let is_index = matches!(media_type, MediaType::ImageIndex)
            || matches!(media_type, MediaType::Other(other) if other == "application/vnd.docker.distribution.manifest.list.v2+json");
        if is_index && depth < 4 {
            let index: ImageIndex = parse(&bytes, "image index", descriptor.digest().as_ref())?;
            let (architecture, os) = (Arch::default(), Os::default());
            let chosen = index
                .manifests()
                .iter()
                .find(|candidate| {
                    candidate.platform().as_ref().is_some_and(|platform| {
                        *platform.architecture() == architecture && *platform.os() == os
                    })
                })
                .ok_or_else(|| OciError::NoMatchingPlatform {
                    digest: descriptor.digest().to_string(),
                    platform: format!("{os}/{architecture}"),
                })?;
            return self.image_from_descriptor(chosen, depth + 1);
        }
        let manifest: ImageManifest =
            parse(&bytes, "image manifest", descriptor.digest().as_ref())?;
        let config_bytes = self.blobs.read(manifest.config().digest())?;
        let config: ImageConfiguration = parse(
            &config_bytes,
            "image config",
            manifest.config().digest().as_ref(),
        )?;
        if manifest.layers().len() != config.rootfs().diff_ids().len() {
            return Err(OciError::LayerCountMismatch {
                digest: descriptor.digest().to_string(),
                layers: manifest.layers().len(),
                diff_ids: config.rootfs().diff_ids().len(),
            });
        }
        let mut descriptor = descriptor.clone();
        descriptor.set_annotations(None);
        Ok(Image {
            descriptor,
            manifest,
            config,
        })
    }

    /// The artifact manifests of the layout whose `subject` is `image` (its SBOMs, a scan
    /// verdict), in the order of `index.json`
    pub fn referrers_of(&self, image: &Image) -> Result<Vec<crate::registry::Referrer>> {
        let mut referrers = Vec::new();
        for descriptor in self.index.manifests() {
            if *descriptor.media_type() != MediaType::ImageManifest
                || descriptor.digest() == image.digest()
            {
                continue;
            }
            let bytes = self.blobs.read(descriptor.digest())?;
            if let Some(referrer) =
                crate::registry::Referrer::from_manifest(bytes, descriptor.media_type().clone())?
            {
                if referrer.subject == *image.digest() {
                    referrers.push(referrer);
                }
            }
        }
        Ok(referrers)
    }

    /// Every named image of the layout, by ref name (images without a name are skipped)
    pub fn images(&self) -> Result<BTreeMap<String, Image>> {
        let artifacts: Vec<String> = self
            .index
            .manifests()
            .iter()
            .filter(|d| d.artifact_type().is_some())
            .filter_map(|d| d.annotations().as_ref()?.get(REF_NAME_ANNOTATION).cloned())
            .collect();
        self.ref_names()
            .into_iter()
            .filter(|name| !artifacts.contains(name))
            .map(|name| {
                let image = self.image(Some(&name))?;
                Ok((name, image))
            })
            .collect()
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
    path: &str,
) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| OciError::Json {
        action: "parse",
        what,
        path: path.to_owned(),
        source,
    })
}
