//! Single-file outputs: oci-archive (a tar of an image layout) and docker-archive (as
//! `docker save` writes and `docker load` reads)

use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use crate::error::{IoContext, OciError, Result};
use crate::image::{canonical_json, Image};
use crate::layout::{index_json, parent_of, OCI_LAYOUT_FILE};
use crate::store::{sha256_hex, sync_dir, BlobStore, HashingWriter};

/// Writes `images` (each named by its tag) as an oci-archive tarball at `dest`, atomically
pub fn write_oci_archive(
    dest: &Path,
    store: &BlobStore,
    images: &[(&str, &Image)],
    source_date_epoch: u64,
) -> Result<()> {
    let mut digests: Vec<_> = images.iter().flat_map(|(_, image)| image.blobs()).collect();
    digests.sort_by_key(|digest| digest.to_string());
    digests.dedup();
    let index = index_json(images)?;
    write_tar_atomically(dest, source_date_epoch, |tar| {
        tar.directory("blobs/")?;
        tar.directory("blobs/sha256/")?;
        for digest in &digests {
            let path = store.path(digest)?;
            let mut blob = store.open_verified(digest)?;
            let size = fs_err::metadata(&path)?.len();
            tar.file(
                &format!("blobs/sha256/{}", sha256_hex(digest)?),
                size,
                &mut blob,
            )?;
        }
        tar.bytes("index.json", &index)?;
        tar.bytes("oci-layout", OCI_LAYOUT_FILE.as_bytes())?;
        Ok(())
    })
}

/// Writes one image as a docker-archive tarball at `dest`, atomically: `manifest.json`, the
/// config as `<hex>.json`, and each layer uncompressed as `<diff_id hex>/layer.tar`
///
/// `repo_tags` are full names such as `registry.example.com/golden/debian12:1.0.0`.
pub fn write_docker_archive(
    dest: &Path,
    store: &BlobStore,
    image: &Image,
    repo_tags: &[String],
    source_date_epoch: u64,
) -> Result<()> {
    let config_digest = image.manifest.config().digest();
    let config_name = format!("{}.json", sha256_hex(config_digest)?);
    let config_bytes = store.read(config_digest)?;
    let diff_ids = image.diff_ids();
    if diff_ids.len() != image.layers().len() {
        return Err(OciError::LayerCountMismatch {
            digest: image.digest().to_string(),
            layers: image.layers().len(),
            diff_ids: diff_ids.len(),
        });
    }
    let mut layer_names = Vec::new();
    for diff_id in diff_ids {
        let hex = diff_id
            .strip_prefix("sha256:")
            .ok_or_else(|| OciError::InvalidDigest {
                digest: diff_id.clone(),
            })?;
        layer_names.push(format!("{hex}/layer.tar"));
    }
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": repo_tags,
        "Layers": layer_names,
    }]);
    let manifest = canonical_json(&manifest, "docker-archive manifest")?;
    let temp_dir = parent_of(dest);
    write_tar_atomically(dest, source_date_epoch, |tar| {
        let mut seen = std::collections::HashSet::new();
        for ((layer, diff_id), name) in image.layers().iter().zip(diff_ids).zip(&layer_names) {
            if !seen.insert(name.clone()) {
                continue;
            }
            // The tar header needs the size up front, so decompress to a temporary file
            let mut uncompressed =
                tempfile::tempfile_in(&temp_dir).at("create a temporary file in", &temp_dir)?;
            let blob = store.open_verified(layer.digest())?;
            let mut decoder = crate::apply::decoder(blob, layer.digest().as_ref())?;
            let mut hashing = HashingWriter::new(BufWriter::new(&mut uncompressed));
            io::copy(&mut decoder, &mut hashing).at("decompress layer into", &temp_dir)?;
            let (writer, actual, size) = hashing.finish();
            writer
                .into_inner()
                .map_err(|error| error.into_error())
                .at("decompress layer into", &temp_dir)?;
            if actual.to_string() != *diff_id {
                return Err(OciError::DiffIdMismatch {
                    layer: layer.digest().to_string(),
                    expected: diff_id.clone(),
                    actual: actual.to_string(),
                });
            }
            io::Seek::rewind(&mut uncompressed).at("rewind a temporary file in", &temp_dir)?;
            let directory = name.trim_end_matches("layer.tar");
            tar.directory(directory)?;
            tar.file(name, size, &mut uncompressed)?;
        }
        tar.bytes(&config_name, &config_bytes)?;
        tar.bytes("manifest.json", &manifest)?;
        Ok(())
    })
}

/// A tar being written with fixed metadata: root-owned, dated `source_date_epoch`
pub(crate) struct TarWriter<'a> {
    builder: tar::Builder<BufWriter<&'a mut tempfile::NamedTempFile>>,
    mtime: u64,
    dest: &'a Path,
}

impl TarWriter<'_> {
    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(self.mtime);
        header.set_size(size);
        header
    }

    fn directory(&mut self, path: &str) -> Result<()> {
        let mut header = self.header(tar::EntryType::Directory, 0o755, 0);
        self.builder
            .append_data(&mut header, path, io::empty())
            .at("write archive", self.dest)
    }

    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> Result<()> {
        let mut header = self.header(tar::EntryType::Regular, 0o644, size);
        self.builder
            .append_data(&mut header, path, data)
            .at("write archive", self.dest)
    }

    fn bytes(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.file(path, bytes.len() as u64, &mut &bytes[..])
    }
}

fn write_tar_atomically(
    dest: &Path,
    source_date_epoch: u64,
    fill: impl FnOnce(&mut TarWriter<'_>) -> Result<()>,
) -> Result<()> {
    let parent = parent_of(dest);
    fs_err::create_dir_all(&parent)?;
    // What a killed writer of `dest` left
    crate::temporary::remove_stale_temporaries(dest)?;
    let mut temp = tempfile::Builder::new()
        .prefix(&crate::temporary::prefix(dest))
        .tempfile_in(&parent)
        .at("create a temporary file in", &parent)?;
    let _writing = crate::temporary::hold(temp.path())?;
    {
        let mut tar = TarWriter {
            builder: tar::Builder::new(BufWriter::new(&mut temp)),
            mtime: source_date_epoch,
            dest,
        };
        fill(&mut tar)?;
        let mut writer = tar.builder.into_inner().at("write archive", dest)?;
        writer.flush().at("write archive", dest)?;
    }
    crate::pause_point("write-archive");
    temp.as_file().sync_all().at("flush archive", dest)?;
    temp.persist(dest)
        .map_err(|error| error.error)
        .at("move the finished archive to", dest)?;
    sync_dir(&parent)?;
    Ok(())
}
