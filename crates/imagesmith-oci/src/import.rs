//! Base images from a root filesystem directory or tarball

use std::io::{self, BufWriter};
use std::path::Path;

use oci_spec::image::{Arch, Descriptor, Os};

use crate::error::{IoContext, Result};
use crate::image::{HistoryEntry, Image, ImageBuilder};
use crate::layer::{write_layer, Compression, Encoder, Layer, LayerOptions};
use crate::store::{BlobStore, HashingWriter};

/// Makes a single-layer image from a root filesystem directory
pub fn import_rootfs_dir(
    store: &BlobStore,
    rootfs: &Path,
    options: &LayerOptions,
    architecture: Arch,
    os: Os,
) -> Result<Image> {
    let layer = write_layer(store, rootfs, options)?;
    let mut builder = ImageBuilder::new(architecture, os, options.source_date_epoch);
    builder.add_layer(
        &layer,
        HistoryEntry {
            created_by: String::from("imagesmith import rootfs directory"),
            comment: None,
        },
    );
    builder.build(store)
}

/// Makes a single-layer image from a root filesystem tarball (plain, gzip or zstd); its
/// entries are kept as they are and recompressed with `compression`
pub fn import_rootfs_tarball(
    store: &BlobStore,
    tarball: &Path,
    compression: Compression,
    architecture: Arch,
    os: Os,
    source_date_epoch: u64,
) -> Result<Image> {
    let file = fs_err::File::open(tarball)?;
    let mut decoder = crate::apply::decoder(file, &tarball.display().to_string())?;
    let blob = store.writer()?;
    let encoder = Encoder::new(compression, blob).at("start compressing", tarball)?;
    let mut hashing = HashingWriter::new(BufWriter::new(encoder));
    io::copy(&mut decoder, &mut hashing).at("import rootfs tarball", tarball)?;
    let (writer, diff_id, uncompressed_size) = hashing.finish();
    let encoder = writer
        .into_inner()
        .map_err(|error| error.into_error())
        .at("import rootfs tarball", tarball)?;
    let blob = encoder.finish().at("import rootfs tarball", tarball)?;
    let (digest, size) = blob.commit()?;
    let layer = Layer {
        descriptor: Descriptor::new(compression.media_type(), size, digest),
        diff_id,
        uncompressed_size,
    };
    let mut builder = ImageBuilder::new(architecture, os, source_date_epoch);
    builder.add_layer(
        &layer,
        HistoryEntry {
            created_by: String::from("imagesmith import rootfs tarball"),
            comment: None,
        },
    );
    builder.build(store)
}
