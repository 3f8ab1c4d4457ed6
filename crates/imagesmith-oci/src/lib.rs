//! OCI images: deterministic layer tars, image config and manifest, image layout and archives
//!
//! Everything is pure Rust and needs no daemon. Blobs live in a [`BlobStore`] (the build
//! cache, or the `blobs/` of a layout); layers are made from directory trees with
//! [`write_layer`]; an [`ImageBuilder`] adds layers and config on a base and writes the
//! config and manifest blobs; [`write_layout`], [`write_oci_archive`] and
//! [`write_docker_archive`] write the result atomically.
//!
//! Same inputs give byte-identical blobs: entries are sorted, times are the given
//! `SOURCE_DATE_EPOCH`, JSON keys are sorted, and compression is single-threaded.
//!
//! ```no_run
//! # fn main() -> Result<(), imagesmith_oci::OciError> {
//! use imagesmith_oci::{write_layer, write_layout, BlobStore, HistoryEntry, ImageBuilder, LayerOptions};
//! use oci_spec::image::{Arch, Os};
//! let store = BlobStore::open("/var/cache/imagesmith/blobs")?;
//! let layer = write_layer(&store, "/tmp/rootfs".as_ref(), &LayerOptions::new(1_700_000_000))?;
//! let mut builder = ImageBuilder::new(Arch::Amd64, Os::Linux, 1_700_000_000);
//! builder.add_layer(&layer, HistoryEntry { created_by: "rootfs".into(), comment: None });
//! builder.set_cmd(vec!["/bin/sh".into()]);
//! let image = builder.build(&store)?;
//! write_layout("out/hello".as_ref(), &store, &[("latest", &image)])?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod apply;
mod archive;
mod error;
mod image;
mod import;
mod layer;
mod layout;
mod referrer;
pub mod registry;
mod store;
mod temporary;

pub use apply::{apply_layer, apply_layers, ApplyOptions};
pub use archive::{write_docker_archive, write_oci_archive};
pub use error::{OciError, Result};
pub use image::{canonical_json, rfc3339, HistoryEntry, Image, ImageBuilder, REF_NAME_ANNOTATION};
pub use import::{import_rootfs_dir, import_rootfs_tarball};
pub use layer::{write_layer, write_layer_to, Compression, Layer, LayerOptions, DEFAULT_EXCLUDES};
pub use layout::{index_json, write_layout, ImageLayout, OCI_LAYOUT_FILE};
pub use oci_spec;
pub use referrer::{artifact, put_referrer, referrers};

/// The testing hook [`pause_point`] reads: the name of a stage to stop at
pub const PAUSE_VARIABLE: &str = "IMAGESMITH_PAUSE_AT";

/// A testing hook, for tests that kill a build at a given stage: when `IMAGESMITH_PAUSE_AT`
/// is `stage`, prints `imagesmith: paused at `STAGE`` on stderr and sleeps until killed
///
/// The stages are `compress` (a layer's tar written into the compressor and its temporary
/// blob, before the blob is finished) and `write-archive` (an oci-archive or
/// docker-archive written to its temporary file, before it is renamed into place). Unset,
/// as it always is outside tests, it costs one environment lookup.
pub fn pause_point(stage: &str) {
    if std::env::var_os(PAUSE_VARIABLE).is_some_and(|value| value == stage) {
        eprintln!("imagesmith: paused at `{stage}` ({PAUSE_VARIABLE}, a testing hook)");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
pub use store::{digest_of, sha256_digest, sha256_hex, BlobStore, BlobWriter, VerifiedBlob};
pub use temporary::remove_stale_temporaries;
