use std::os::unix::fs::MetadataExt;

use imagesmith_oci::{apply_layers, ApplyOptions, BlobStore, Compression, LayerOptions};

use crate::{entries, layer_of, sample_tree, EPOCH};

#[test]
fn entries_are_sorted_dated_and_keep_links() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("root");
    sample_tree(&root);
    let store = BlobStore::open(temp.path().join("blobs")).unwrap();
    let layer = layer_of(&store, &root, &LayerOptions::new(EPOCH));
    let entries = entries(&store, &layer);
    let paths: Vec<&str> = entries.iter().map(|entry| entry.0.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert!(entries.iter().all(|entry| entry.3 == EPOCH));
    let find = |path: &str| entries.iter().find(|entry| entry.0 == path).unwrap();
    assert_eq!(find("usr/bin/hi").1, tar::EntryType::Symlink);
    assert_eq!(find("usr/bin/hello").1, tar::EntryType::Regular);
    assert_eq!(find("usr/bin/hello").2, 0o755);
    assert_eq!(find("usr/bin/hello2").1, tar::EntryType::Link);
    assert_eq!(
        layer.descriptor.media_type().to_string(),
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
}

#[test]
fn default_excludes_drop_apt_lists_and_tmp_contents() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("root");
    sample_tree(&root);
    let store = BlobStore::open(temp.path().join("blobs")).unwrap();
    let layer = layer_of(&store, &root, &LayerOptions::new(EPOCH));
    let paths: Vec<String> = entries(&store, &layer)
        .into_iter()
        .map(|entry| entry.0)
        .collect();
    assert!(paths.contains(&"tmp".to_owned()), "{paths:?}");
    assert!(paths.contains(&"var/lib/apt/lists".to_owned()), "{paths:?}");
    assert!(
        !paths.iter().any(|path| path.starts_with("tmp/")),
        "{paths:?}"
    );
    assert!(
        !paths
            .iter()
            .any(|path| path.starts_with("var/lib/apt/lists/")),
        "{paths:?}"
    );

    let mut options = LayerOptions::new(EPOCH);
    options.exclude = vec!["/etc".to_owned()];
    let layer = layer_of(&store, &root, &options);
    let paths: Vec<String> = entries(&store, &layer)
        .into_iter()
        .map(|entry| entry.0)
        .collect();
    assert!(
        !paths.iter().any(|path| path.starts_with("etc")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|path| path.starts_with("tmp/")),
        "{paths:?}"
    );
}

#[test]
fn same_tree_same_digests_whatever_the_file_times() {
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let temp = tempfile::tempdir().unwrap();
        let first = temp.path().join("first");
        let second = temp.path().join("second");
        sample_tree(&first);
        std::thread::sleep(std::time::Duration::from_millis(20));
        sample_tree(&second);
        let mut options = LayerOptions::new(EPOCH);
        options.compression = compression;
        let store_a = BlobStore::open(temp.path().join("a")).unwrap();
        let store_b = BlobStore::open(temp.path().join("b")).unwrap();
        let a = layer_of(&store_a, &first, &options);
        let b = layer_of(&store_b, &second, &options);
        assert_eq!(a, b, "{compression:?}");
        let same = a.descriptor.digest() == &a.diff_id;
        assert_eq!(same, compression == Compression::None, "{compression:?}");
    }
}

/// Makes an overlay-style upper dir by hand: needs root for the 0:0 device and trusted xattr
#[test]
fn overlay_whiteouts_become_oci_whiteouts_and_apply() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: creating overlay whiteouts needs root");
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let store = BlobStore::open(temp.path().join("blobs")).unwrap();
    let base = temp.path().join("base");
    sample_tree(&base);
    std::fs::create_dir_all(base.join("opaque/old")).unwrap();
    std::fs::write(base.join("opaque/old/file"), "old").unwrap();
    std::fs::write(base.join("etc/gone"), "gone").unwrap();
    let mut options = LayerOptions::new(EPOCH);
    options.exclude.clear();
    let base_layer = layer_of(&store, &base, &options);

    let upper = temp.path().join("upper");
    std::fs::create_dir_all(upper.join("etc")).unwrap();
    std::fs::create_dir_all(upper.join("opaque")).unwrap();
    std::fs::write(upper.join("opaque/new"), "new").unwrap();
    xattr::set(upper.join("opaque"), "trusted.overlay.opaque", b"y").unwrap();
    nix::sys::stat::mknod(
        &upper.join("etc/gone"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .unwrap();
    options.overlay = true;
    options.xattrs = true;
    let layer = layer_of(&store, &upper, &options);
    let paths: Vec<String> = entries(&store, &layer)
        .into_iter()
        .map(|entry| entry.0)
        .collect();
    assert_eq!(
        paths,
        [
            "etc",
            "etc/.wh.gone",
            "opaque",
            "opaque/.wh..wh..opq",
            "opaque/new"
        ],
    );

    let rootfs = temp.path().join("rootfs");
    apply_layers(
        &store,
        &[base_layer.descriptor.clone(), layer.descriptor.clone()],
        &rootfs,
        ApplyOptions::default(),
    )
    .unwrap();
    assert!(!rootfs.join("etc/gone").exists());
    assert!(rootfs.join("etc/hostname").exists());
    assert!(!rootfs.join("opaque/old").exists());
    assert_eq!(
        std::fs::read_to_string(rootfs.join("opaque/new")).unwrap(),
        "new"
    );
    let hello = std::fs::metadata(rootfs.join("usr/bin/hello")).unwrap();
    assert_eq!(hello.nlink(), 2);
    assert_eq!(
        std::fs::read_link(rootfs.join("usr/bin/hi"))
            .unwrap()
            .to_str(),
        Some("hello")
    );
}

#[test]
fn rootless_owner_is_recorded_as_root() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("root");
    sample_tree(&root);
    let file = root.join("etc/hostname");
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::chown(&file, Some(1234), Some(1234)).unwrap();
    }
    let metadata = std::fs::metadata(&file).unwrap();
    let store = BlobStore::open(temp.path().join("blobs")).unwrap();
    let mut options = LayerOptions::new(EPOCH);
    options.compression = Compression::None;
    options.owner_as_root = Some((metadata.uid(), metadata.gid()));
    let layer = layer_of(&store, &root, &options);
    let tar = std::fs::File::open(store.path(layer.descriptor.digest()).unwrap()).unwrap();
    let mut archive = tar::Archive::new(tar);
    let entry = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|entry| entry.path().unwrap().to_str() == Some("etc/hostname"))
        .unwrap();
    assert_eq!(entry.header().uid().unwrap(), 0);
    assert_eq!(entry.header().gid().unwrap(), 0);
    assert_eq!(entry.header().username_bytes(), Some(&b""[..]));
}
