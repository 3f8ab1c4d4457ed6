//! Integration tests of imagesmith-oci, one module per area

mod archive;
mod layer;
mod layout;
mod registry;
mod tools;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use imagesmith_oci::oci_spec::image::{Arch, Os};
use imagesmith_oci::{
    write_layer, BlobStore, HistoryEntry, Image, ImageBuilder, Layer, LayerOptions,
};

pub const EPOCH: u64 = 1_700_000_000;

/// A small tree with a file, an executable, a symlink, a hard link, an apt list and /tmp junk
pub fn sample_tree(root: &Path) {
    for dir in ["etc", "usr/bin", "var/lib/apt/lists", "tmp", "empty"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("etc/hostname"), "imagesmith\n").unwrap();
    std::fs::write(root.join("usr/bin/hello"), "#!/bin/sh\necho hello\n").unwrap();
    std::fs::set_permissions(
        root.join("usr/bin/hello"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("hello", root.join("usr/bin/hi")).unwrap();
    std::fs::hard_link(root.join("usr/bin/hello"), root.join("usr/bin/hello2")).unwrap();
    std::fs::write(root.join("var/lib/apt/lists/deb.debian.org_Packages"), "x").unwrap();
    std::fs::write(root.join("tmp/junk"), "junk").unwrap();
}

pub fn layer_of(store: &BlobStore, root: &Path, options: &LayerOptions) -> Layer {
    write_layer(store, root, options).unwrap()
}

pub fn image_of(store: &BlobStore, layers: &[Layer]) -> Image {
    let mut builder = ImageBuilder::new(Arch::Amd64, Os::Linux, EPOCH);
    for (index, layer) in layers.iter().enumerate() {
        builder.add_layer(
            layer,
            HistoryEntry {
                created_by: format!("step {index}"),
                comment: Some(String::from("test")),
            },
        );
    }
    builder
        .set_env("PATH", "/usr/bin:/bin")
        .set_label("org.opencontainers.image.title", "test")
        .set_label("com.example.version", "1.0.0")
        .set_cmd(vec!["/usr/bin/hello".to_owned()])
        .set_annotation("org.opencontainers.image.version", "1.0.0");
    builder.build(store).unwrap()
}

/// (path, type, mode, uid, mtime) of each entry of a (compressed) layer blob
pub fn entries(store: &BlobStore, layer: &Layer) -> Vec<(String, tar::EntryType, u32, u64)> {
    let mut bytes = Vec::new();
    store
        .open_verified(layer.descriptor.digest())
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let decoded: Box<dyn Read> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(&bytes[..]))
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::Decoder::new(&bytes[..]).unwrap())
    } else {
        Box::new(&bytes[..])
    };
    let mut archive = tar::Archive::new(decoded);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let header = entry.header();
            (
                entry.path().unwrap().display().to_string(),
                header.entry_type(),
                header.mode().unwrap(),
                header.mtime().unwrap(),
            )
        })
        .collect()
}
