//! Integration tests of the `imagesmith` binary, one module per area.

mod index;
mod init;
mod inputs;
mod kill;
mod layout;
mod lock;
mod mirror;
mod push;
mod scan;
mod schema;
mod text;
mod validate;
mod withdrawn;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The date every test runs on, so end-of-life checks do not drift.
pub const TODAY: &str = "2026-11-21";

/// Runs the binary in `cwd` with a fixed date and no colour.
pub fn imagesmith(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imagesmith"))
        .args(args)
        .current_dir(cwd)
        .env("IMAGESMITH_TODAY", TODAY)
        .env("NO_COLOR", "1")
        .env_remove("CI_FORCE_COLOR")
        .output()
        .expect("the imagesmith binary runs")
}

/// The tests' fixture folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether a missing external tool must fail the test (CI) rather than skip it.
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// Stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A one-layer OCI layout at `dir/NAME` whose `/etc/motd` holds `text`, and its image.
pub fn one_layer_layout(dir: &Path, name: &str, text: &str) -> (PathBuf, imagesmith_oci::Image) {
    use imagesmith_oci::oci_spec::image::{Arch, Os};
    use imagesmith_oci::{
        write_layer, write_layout, BlobStore, HistoryEntry, ImageBuilder, LayerOptions,
    };
    let store = BlobStore::open(dir.join(format!("store-{name}"))).unwrap();
    let root = dir.join(format!("rootfs-{name}"));
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/motd"), text).unwrap();
    let layer = write_layer(&store, &root, &LayerOptions::new(0)).unwrap();
    let mut builder = ImageBuilder::new(Arch::Amd64, Os::Linux, 0);
    builder.add_layer(
        &layer,
        HistoryEntry {
            created_by: "rootfs".into(),
            comment: None,
        },
    );
    let image = builder.build(&store).unwrap();
    let dest = dir.join(name);
    write_layout(&dest, &store, &[("latest", &image)]).unwrap();
    (dest, image)
}
