//! Artifacts that refer to an image (OCI 1.1 `subject`): SBOMs, scan verdicts; made, found and
//! stored in an image layout beside the image

use std::collections::HashMap;
use std::path::Path;

use oci_spec::image::{
    Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest, ImageManifestBuilder,
    MediaType,
};

use crate::error::{OciError, Result};
use crate::image::{canonical_json, Image, REF_NAME_ANNOTATION};
use crate::layout::{parent_of, ImageLayout};
use crate::store::{sync_dir, BlobStore};

/// An artifact manifest (empty config, one layer holding `document` of `media_type`)
/// referring to `subject`, with its blobs written to `store`; returned as an [`Image`] so it
/// can be put in a layout
pub fn artifact(
    store: &BlobStore,
    subject: &Image,
    media_type: &str,
    document: &[u8],
    created: &str,
) -> Result<Image> {
    let (empty_digest, empty_size) = store.write_bytes(b"{}")?;
    let (digest, size) = store.write_bytes(document)?;
    let mut subject_descriptor = Descriptor::new(
        MediaType::ImageManifest,
        subject.descriptor.size(),
        subject.digest().clone(),
    );
    subject_descriptor.set_platform(None);
    let mut annotations = HashMap::new();
    annotations.insert(
        "org.opencontainers.image.created".to_owned(),
        created.to_owned(),
    );
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .artifact_type(MediaType::Other(media_type.to_owned()))
        .config(Descriptor::new(
            MediaType::EmptyJSON,
            empty_size,
            empty_digest,
        ))
        .layers(vec![Descriptor::new(
            MediaType::Other(media_type.to_owned()),
            size,
            digest,
        )])
        .subject(subject_descriptor)
        .annotations(annotations)
        .build()
        .map_err(|source| OciError::Spec {
            what: "artifact manifest",
            source,
        })?;
    let bytes = canonical_json(&manifest, "artifact manifest")?;
    let (manifest_digest, manifest_size) = store.write_bytes(&bytes)?;
    let mut descriptor = Descriptor::new(MediaType::ImageManifest, manifest_size, manifest_digest);
    descriptor.set_artifact_type(Some(MediaType::Other(media_type.to_owned())));
    Ok(Image {
        descriptor,
        manifest,
        config: ImageConfiguration::default(),
    })
}

/// The artifacts of `layout` that refer to `subject`, with `artifact_type` when given: each
/// index descriptor with its manifest
pub fn referrers(
    layout: &ImageLayout,
    subject: &Digest,
    artifact_type: Option<&str>,
) -> Result<Vec<(Descriptor, ImageManifest)>> {
    let mut found = Vec::new();
    for descriptor in layout.index().manifests() {
        let Some(kind) = descriptor.artifact_type() else {
            continue;
        };
        if artifact_type.is_some_and(|wanted| kind.to_string() != wanted) {
            continue;
        }
        let bytes = layout.blobs().read(descriptor.digest())?;
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|source| OciError::Json {
                action: "parse",
                what: "artifact manifest",
                path: descriptor.digest().to_string(),
                source,
            })?;
        if manifest
            .subject()
            .as_ref()
            .is_some_and(|s| s.digest() == subject)
        {
            found.push((descriptor.clone(), manifest));
        }
    }
    Ok(found)
}

/// Adds `artifact` (made with [`artifact`] on the layout's own blob store) to the
/// `index.json` of the layout at `root` under `ref_name`, first removing every artifact of
/// the same `artifactType` referring to the same subject; `index.json` is replaced
/// atomically
pub fn put_referrer(root: &Path, ref_name: &str, artifact: &Image) -> Result<()> {
    let layout = ImageLayout::open(root)?;
    let kind = artifact
        .descriptor
        .artifact_type()
        .as_ref()
        .map(|k| k.to_string());
    let subject = artifact
        .manifest
        .subject()
        .as_ref()
        .map(|s| s.digest().clone());
    let stale: Vec<Digest> = match (&kind, &subject) {
        (Some(kind), Some(subject)) => referrers(&layout, subject, Some(kind))?
            .into_iter()
            .map(|(d, _)| d.digest().clone())
            .collect(),
        _ => Vec::new(),
    };
    let mut manifests: Vec<Descriptor> = layout
        .index()
        .manifests()
        .iter()
        .filter(|d| !stale.contains(d.digest()))
        .filter(|d| {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(REF_NAME_ANNOTATION))
                .is_none_or(|name| name != ref_name)
        })
        .cloned()
        .collect();
    let mut descriptor = artifact.descriptor.clone();
    let mut annotations = descriptor.annotations().clone().unwrap_or_default();
    annotations.insert(REF_NAME_ANNOTATION.to_owned(), ref_name.to_owned());
    descriptor.set_annotations(Some(annotations));
    manifests.push(descriptor);
    let mut index: ImageIndex = layout.index().clone();
    index.set_manifests(manifests);
    let bytes = canonical_json(&index, "image index")?;
    let path = root.join("index.json");
    let dir = parent_of(&path);
    let mut temp = tempfile::NamedTempFile::new_in(&dir).map_err(|source| OciError::IoAt {
        action: "create a temporary file in",
        path: dir.clone(),
        source,
    })?;
    std::io::Write::write_all(&mut temp, &bytes).map_err(|source| OciError::IoAt {
        action: "write",
        path: temp.path().to_path_buf(),
        source,
    })?;
    temp.as_file().sync_all().map_err(|source| OciError::IoAt {
        action: "flush",
        path: temp.path().to_path_buf(),
        source,
    })?;
    temp.persist(&path).map_err(|error| OciError::IoAt {
        action: "replace",
        path: path.clone(),
        source: error.error,
    })?;
    sync_dir(&dir)?;
    Ok(())
}
