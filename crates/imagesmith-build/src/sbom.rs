//! SBOMs stored in the image layout as OCI artifacts referring to the image
//!
//! [`generate`] reads the image's merged root filesystem (mounted read-only by the builder)
//! with `imagesmith-sbom` (dpkg status, rpm database, os-release) and adds the planned
//! components, including the ones omitted with `--skip-unavailable` and why. Each document is
//! stored as an artifact manifest with `artifactType` and `subject`, and cached by image
//! digest.

use std::path::Path;

use imagesmith_oci::{canonical_json, BlobStore, Image, OciError};
use imagesmith_plan::LockedImage;

use crate::error::Unavailable;
use crate::preflight::render_url;

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
/// components are listed in them with the reason
pub fn generate(
    rootfs: &Path,
    image: &LockedImage,
    image_digest: &str,
    source_date_epoch: u64,
    omitted: &[Unavailable],
    mirrors: &indexmap::IndexMap<String, String>,
) -> Result<SbomDocuments, String> {
    use imagesmith_model::Artifact;
    use imagesmith_sbom::{ArtifactRef, ComponentRecord, SbomInput};
    let inventory = imagesmith_sbom::inventory(rootfs).map_err(|error| error.to_string())?;
    let components = image
        .components
        .iter()
        .map(|component| {
            let artifact = match &component.platform.artifact {
                Artifact::Package { names, .. } => ArtifactRef::Package {
                    names: names.clone(),
                },
                Artifact::Download { url, checksum, .. } => ArtifactRef::Download {
                    url: imagesmith_plan::rewrite(mirrors, &render_url(url, &component.parameters)),
                    checksum_url: checksum.url.as_ref().map(|url| {
                        imagesmith_plan::rewrite(mirrors, &render_url(url, &component.parameters))
                    }),
                    sha256: None,
                },
                Artifact::VendorApi { description, .. } => ArtifactRef::VendorApi {
                    description: description.clone(),
                },
            };
            ComponentRecord {
                name: component.name.clone(),
                version: component.version.to_string(),
                artifact,
                omitted: omitted
                    .iter()
                    .find(|item| item.component == component.name)
                    .map(|item| {
                        format!(
                            "not obtainable on the build machine (--skip-unavailable): {}",
                            item.reasons.join("; ")
                        )
                    }),
            }
        })
        .collect();
    let input = SbomInput {
        image_name: image.name.clone(),
        image_digest: image_digest.to_owned(),
        created: source_date_epoch,
        os: inventory.os,
        packages: inventory.packages,
        components,
    };
    let json = |value: serde_json::Value, what| {
        canonical_json(&value, what).map_err(|error| error.to_string())
    };
    Ok(SbomDocuments {
        spdx: json(imagesmith_sbom::spdx(&input), "SPDX document")?,
        cyclonedx: json(imagesmith_sbom::cyclonedx(&input), "CycloneDX document")?,
    })
}

/// An artifact manifest (empty config, one layer holding `document`) referring to `subject`,
/// with its blobs written to `store`; returned as an [`Image`] so it can be put in a layout
/// (the same as [`imagesmith_oci::artifact`], which verdicts use too)
pub fn artifact(
    store: &BlobStore,
    subject: &Image,
    media_type: &str,
    document: &[u8],
    created: &str,
) -> Result<Image, OciError> {
    imagesmith_oci::artifact(store, subject, media_type, document, created)
}
