//! SBOMs stored in the image layout as OCI artifacts referring to the image
//!
//! INTEGRATION POINT: `imagesmith-sbom` (SPDX 2.3 and CycloneDX JSON from a root
//! filesystem's dpkg status / rpm database plus the planned components) is being written
//! separately. [`generate`] is where it is called; until its API exists it returns `None` and
//! the build report says that no SBOM was made. Everything around it (mounting the image's
//! merged root filesystem read-only, storing each document as an artifact manifest with
//! `artifactType` and `subject`, caching by image digest) is in place.

use std::collections::HashMap;
use std::path::Path;

use imagesmith_oci::oci_spec::image::{
    Descriptor, ImageConfiguration, ImageManifestBuilder, MediaType,
};
use imagesmith_oci::{canonical_json, BlobStore, Image, OciError};
use imagesmith_plan::PlannedImage;

use crate::error::Unavailable;

/// SPDX JSON media type
pub const SPDX_MEDIA_TYPE: &str = "application/spdx+json";
/// CycloneDX JSON media type
pub const CYCLONEDX_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";

/// The two SBOM documents of an image
#[derive(Debug, Clone)]
pub struct SbomDocuments {
    /// SPDX 2.3 JSON
    pub spdx: Vec<u8>,
    /// CycloneDX JSON
    pub cyclonedx: Vec<u8>,
}

/// Makes the SBOMs of the image whose merged root filesystem is at `rootfs`; the omitted
/// components must be listed in them
pub fn generate(
    _rootfs: &Path,
    _image: &PlannedImage,
    _omitted: &[Unavailable],
) -> Option<SbomDocuments> {
    // INTEGRATION POINT: call `imagesmith_sbom::generate` here once it exists
    None
}

/// An artifact manifest (empty config, one layer holding `document`) referring to `subject`,
/// with its blobs written to `store`; returned as an [`Image`] so it can be put in a layout
pub fn artifact(
    store: &BlobStore,
    subject: &Image,
    media_type: &str,
    document: &[u8],
    created: &str,
) -> Result<Image, OciError> {
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
            what: "SBOM artifact manifest",
            source,
        })?;
    let bytes = canonical_json(&manifest, "SBOM artifact manifest")?;
    let (manifest_digest, manifest_size) = store.write_bytes(&bytes)?;
    let mut descriptor = Descriptor::new(MediaType::ImageManifest, manifest_size, manifest_digest);
    descriptor.set_artifact_type(Some(MediaType::Other(media_type.to_owned())));
    Ok(Image {
        descriptor,
        manifest,
        config: ImageConfiguration::default(),
    })
}
