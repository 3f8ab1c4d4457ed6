//! Deterministic layer tarballs from a directory tree or an overlayfs upper directory

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, Digest, MediaType};

use crate::error::{IoContext, OciError, Result};
use crate::store::{BlobStore, HashingWriter};

/// Paths left out of layers by default: package-manager caches, lists and logs, and `/tmp`
///
/// Patterns are absolute globs matched against the path inside the image; `*` does not cross
/// `/`; a matching directory is left out with everything under it. Whiteouts are never left
/// out, so a deletion of a file that matches is still recorded.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    "/var/cache/apt/archives/*.deb",
    "/var/cache/apt/archives/partial/*",
    "/var/cache/apt/*.bin",
    "/var/lib/apt/lists/*",
    "/var/log/apt/*",
    "/var/cache/dnf",
    "/var/cache/yum",
    "/var/cache/debconf/*-old",
    "/var/lib/dpkg/*-old",
    "/tmp/*",
];

/// How a layer blob is compressed
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// A plain tar
    None,
    /// gzip at level 6; the header carries no name and no time, so output is reproducible
    #[default]
    Gzip,
    /// zstd at level 3 on one thread, so output is reproducible
    Zstd,
}

impl Compression {
    /// The OCI media type of a layer compressed this way
    pub fn media_type(self) -> MediaType {
        match self {
            Compression::None => MediaType::ImageLayer,
            Compression::Gzip => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
        }
    }
}

/// How to turn a directory tree into a layer
#[derive(Debug, Clone)]
pub struct LayerOptions {
    /// The modification time of every entry, in seconds since the epoch
    pub source_date_epoch: u64,
    /// How the blob is compressed
    pub compression: Compression,
    /// Whether extended attributes are kept (as PAX `SCHILY.xattr.*` records); overlayfs'
    /// own attributes are never kept
    pub xattrs: bool,
    /// Whether the tree is an overlayfs upper directory, whose whiteouts (0:0 character
    /// devices) and opaque directories become OCI `.wh.` entries
    pub overlay: bool,
    /// Absolute glob patterns of paths to leave out; see [`DEFAULT_EXCLUDES`]
    pub exclude: Vec<String>,
    /// A host `(uid, gid)` recorded as root (0) in the layer: the tree was written by a
    /// rootless sandbox, whose root is that host user, and is read outside its namespace.
    /// A rootless build needs none: it reads its trees inside its user namespace, where
    /// owners already are the image's (host uid - subordinate start + 1)
    pub owner_as_root: Option<(u32, u32)>,
}

impl LayerOptions {
    /// Gzip, no xattrs, not an overlay, the [`DEFAULT_EXCLUDES`]
    pub fn new(source_date_epoch: u64) -> Self {
        Self {
            source_date_epoch,
            compression: Compression::Gzip,
            xattrs: false,
            overlay: false,
            exclude: DEFAULT_EXCLUDES.iter().map(|s| (*s).to_owned()).collect(),
            owner_as_root: None,
        }
    }
}

/// A layer blob in a store
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The descriptor of the (compressed) blob, as listed in a manifest
    pub descriptor: Descriptor,
    /// The sha256 of the uncompressed tar, as listed in the image config's rootfs
    pub diff_id: Digest,
    /// The size of the uncompressed tar
    pub uncompressed_size: u64,
}

/// Writes a layer from the tree at `root` into `store`
pub fn write_layer(store: &BlobStore, root: &Path, options: &LayerOptions) -> Result<Layer> {
    let blob = store.writer()?;
    let (blob, diff_id, uncompressed_size) = write_layer_to(root, options, blob)?;
    let (digest, size) = blob.commit()?;
    Ok(Layer {
        descriptor: Descriptor::new(options.compression.media_type(), size, digest),
        diff_id,
        uncompressed_size,
    })
}

/// Writes a compressed layer from the tree at `root` to `out`; returns `out`, the diff_id and
/// the uncompressed size
pub fn write_layer_to<W: Write>(
    root: &Path,
    options: &LayerOptions,
    out: W,
) -> Result<(W, Digest, u64)> {
    let excludes = Excludes::new(&options.exclude)?;
    let encoder =
        Encoder::new(options.compression, out).at("start compressing a layer of", root)?;
    let mut builder = tar::Builder::new(HashingWriter::new(encoder));
    let mut walker = Walker {
        options,
        excludes: &excludes,
        hardlinks: HashMap::new(),
    };
    walker.visit(&mut builder, root, Path::new(""))?;
    crate::pause_point("compress");
    let hashing = builder.into_inner().at("finish the layer tar of", root)?;
    let (encoder, diff_id, uncompressed_size) = hashing.finish();
    let out = encoder
        .finish()
        .at("finish compressing the layer of", root)?;
    Ok((out, diff_id, uncompressed_size))
}

/// A compressing writer
pub(crate) enum Encoder<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    pub(crate) fn new(compression: Compression, out: W) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Encoder::None(out),
            Compression::Gzip => {
                Encoder::Gzip(flate2::GzBuilder::new().write(out, flate2::Compression::new(6)))
            }
            Compression::Zstd => Encoder::Zstd(zstd::Encoder::new(out, 3)?),
        })
    }

    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Encoder::None(out) => Ok(out),
            Encoder::Gzip(encoder) => encoder.finish(),
            Encoder::Zstd(encoder) => encoder.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(out) => out.write(buf),
            Encoder::Gzip(encoder) => encoder.write(buf),
            Encoder::Zstd(encoder) => encoder.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(out) => out.flush(),
            Encoder::Gzip(encoder) => encoder.flush(),
            Encoder::Zstd(encoder) => encoder.flush(),
        }
    }
}

struct Excludes(Vec<glob::Pattern>);

impl Excludes {
    fn new(patterns: &[String]) -> Result<Self> {
        patterns
            .iter()
            .map(|pattern| {
                glob::Pattern::new(pattern).map_err(|source| OciError::Pattern {
                    pattern: pattern.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Excludes)
    }

    /// `relative` is the path inside the image without the leading `/`
    fn matches(&self, relative: &Path) -> bool {
        if self.0.is_empty() {
            return false;
        }
        let absolute = format!("/{}", relative.to_string_lossy());
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        self.0
            .iter()
            .any(|pattern| pattern.matches_with(&absolute, options))
    }
}

/// Overlayfs' own attributes, which must never reach a layer
fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// Whether overlayfs marked this directory opaque (as root or in a user namespace)
pub(crate) fn is_opaque_dir(path: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|name| matches!(xattr::get(path, name), Ok(Some(value)) if value == b"y"))
}

struct Walker<'a> {
    options: &'a LayerOptions,
    excludes: &'a Excludes,
    /// (device, inode) of files with several links -> the first path written
    hardlinks: HashMap<(u64, u64), PathBuf>,
}

impl Walker<'_> {
    fn visit<W: Write>(
        &mut self,
        builder: &mut tar::Builder<W>,
        dir: &Path,
        relative: &Path,
    ) -> Result<()> {
        let mut names: Vec<OsString> = fs_err::read_dir(dir)?
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect::<io::Result<_>>()?;
        // Byte order, independent of locale and of the directory's on-disk order
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let path = dir.join(&name);
            let entry = relative.join(&name);
            let metadata = fs_err::symlink_metadata(&path)?;
            let file_type = metadata.file_type();
            let whiteout =
                self.options.overlay && file_type.is_char_device() && metadata.rdev() == 0;
            if whiteout {
                let mut whiteout_name = OsString::from(".wh.");
                whiteout_name.push(&name);
                let mut header = self.header(&metadata, tar::EntryType::Regular);
                header.set_size(0);
                builder
                    .append_data(&mut header, relative.join(whiteout_name), io::empty())
                    .at("add a whiteout to the layer for", &path)?;
                continue;
            }
            if self.excludes.matches(&entry) {
                continue;
            }
            if file_type.is_dir() {
                let mut header = self.header(&metadata, tar::EntryType::Directory);
                self.append_xattrs(builder, &path)?;
                builder
                    .append_data(&mut header, &entry, io::empty())
                    .at("add a directory to the layer for", &path)?;
                if self.options.overlay && is_opaque_dir(&path) {
                    let mut header = self.header(&metadata, tar::EntryType::Regular);
                    header.set_size(0);
                    builder
                        .append_data(&mut header, entry.join(".wh..wh..opq"), io::empty())
                        .at("add an opaque whiteout to the layer for", &path)?;
                }
                self.visit(builder, &path, &entry)?;
            } else if file_type.is_symlink() {
                let target = fs_err::read_link(&path)?;
                let mut header = self.header(&metadata, tar::EntryType::Symlink);
                self.append_xattrs(builder, &path)?;
                builder
                    .append_link(&mut header, &entry, &target)
                    .at("add a symlink to the layer for", &path)?;
            } else if file_type.is_file() {
                if metadata.nlink() > 1 {
                    let key = (metadata.dev(), metadata.ino());
                    if let Some(first) = self.hardlinks.get(&key) {
                        let mut header = self.header(&metadata, tar::EntryType::Link);
                        builder
                            .append_link(&mut header, &entry, first)
                            .at("add a hard link to the layer for", &path)?;
                        continue;
                    }
                    self.hardlinks.insert(key, entry.clone());
                }
                let mut header = self.header(&metadata, tar::EntryType::Regular);
                header.set_size(metadata.len());
                self.append_xattrs(builder, &path)?;
                let file = fs_err::File::open(&path)?;
                builder
                    .append_data(&mut header, &entry, file)
                    .at("add a file to the layer for", &path)?;
            } else if file_type.is_char_device()
                || file_type.is_block_device()
                || file_type.is_fifo()
            {
                let kind = if file_type.is_char_device() {
                    tar::EntryType::Char
                } else if file_type.is_block_device() {
                    tar::EntryType::Block
                } else {
                    tar::EntryType::Fifo
                };
                let mut header = self.header(&metadata, kind);
                let rdev = metadata.rdev();
                header
                    .set_device_major(libc::major(rdev))
                    .at("record the device number of", &path)?;
                header
                    .set_device_minor(libc::minor(rdev))
                    .at("record the device number of", &path)?;
                builder
                    .append_data(&mut header, &entry, io::empty())
                    .at("add a device to the layer for", &path)?;
            }
            // Sockets cannot be stored in a tar and mean nothing in an image: left out
        }
        Ok(())
    }

    fn header(&self, metadata: &std::fs::Metadata, kind: tar::EntryType) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(metadata.mode() & 0o7777);
        let (mut uid, mut gid) = (metadata.uid(), metadata.gid());
        if let Some((host_uid, host_gid)) = self.options.owner_as_root {
            if uid == host_uid {
                uid = 0;
            }
            if gid == host_gid {
                gid = 0;
            }
        }
        header.set_uid(u64::from(uid));
        header.set_gid(u64::from(gid));
        header.set_mtime(self.options.source_date_epoch);
        header.set_size(0);
        // Empty user and group names: ownership is numeric only, as in the image's own files
        let _ = header.set_username("");
        let _ = header.set_groupname("");
        header
    }

    fn append_xattrs<W: Write>(&self, builder: &mut tar::Builder<W>, path: &Path) -> Result<()> {
        if !self.options.xattrs {
            return Ok(());
        }
        let names = match xattr::list(path) {
            Ok(names) => names,
            // A filesystem without xattrs has none to keep
            Err(error) if error.raw_os_error() == Some(libc::ENOTSUP) => return Ok(()),
            Err(error) => return Err(error).at("list the extended attributes of", path),
        };
        let mut records = Vec::new();
        for name in names {
            if is_overlay_xattr(name.as_bytes()) {
                continue;
            }
            let Some(name) = name.to_str() else { continue };
            if let Some(value) =
                xattr::get(path, name).at("read the extended attributes of", path)?
            {
                records.push((format!("SCHILY.xattr.{name}"), value));
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        records.sort();
        builder
            .append_pax_extensions(
                records
                    .iter()
                    .map(|(key, value)| (key.as_str(), value.as_slice())),
            )
            .at("add extended attributes to the layer for", path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_match_absolute_globs_within_one_component() {
        let excludes = Excludes::new(&[
            "/var/lib/apt/lists/*".to_owned(),
            "/var/cache/apt/archives/*.deb".to_owned(),
        ])
        .unwrap();
        assert!(excludes.matches(Path::new("var/lib/apt/lists/deb.debian.org_dists")));
        assert!(!excludes.matches(Path::new("var/lib/apt/lists")));
        assert!(excludes.matches(Path::new("var/cache/apt/archives/curl_8.deb")));
        assert!(!excludes.matches(Path::new("var/cache/apt/archives/lock")));
        assert!(!excludes.matches(Path::new("var/cache/apt/archives/partial/x.deb")));
    }

    #[test]
    fn invalid_pattern_is_an_error() {
        assert!(matches!(
            Excludes::new(&["/var/[".to_owned()]),
            Err(OciError::Pattern { .. })
        ));
    }
}
