//! Tests of the gates: scanner reports in the tools' JSON formats, and hygiene checks on
//! small layouts made with imagesmith-oci.

mod gates;
mod hygiene;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use imagesmith_oci::oci_spec::image::{Arch, Os};
use imagesmith_oci::{
    write_layer, write_layout, BlobStore, HistoryEntry, ImageBuilder, LayerOptions,
};

/// The report fixtures.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// One file of a layer: path, content, mode.
pub type File<'a> = (&'a str, &'a [u8], u32);

/// Writes a layout at `dir/layout` with one layer per entry of `layers`, running as `user`.
pub fn layout(dir: &Path, layers: &[&[File]], user: Option<&str>) -> PathBuf {
    let store = BlobStore::open(dir.join("store")).unwrap();
    let mut builder = ImageBuilder::new(Arch::Amd64, Os::Linux, 0);
    for (index, files) in layers.iter().enumerate() {
        let root = dir.join(format!("layer{index}"));
        std::fs::create_dir_all(&root).unwrap();
        for (path, content, mode) in files.iter() {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        let mut options = LayerOptions::new(0);
        options.exclude.clear();
        let layer = write_layer(&store, &root, &options).unwrap();
        builder.add_layer(
            &layer,
            HistoryEntry {
                created_by: format!("layer {index}"),
                comment: None,
            },
        );
    }
    if let Some(user) = user {
        builder.set_user(user);
    }
    let image = builder.build(&store).unwrap();
    let dest = dir.join("layout");
    write_layout(&dest, &store, &[("latest", &image)]).unwrap();
    dest
}
