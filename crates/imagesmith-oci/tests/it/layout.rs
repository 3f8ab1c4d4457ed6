use imagesmith_oci::oci_spec::image::{Arch, Os};
use imagesmith_oci::{
    apply_layers, import_rootfs_dir, import_rootfs_tarball, write_layout, ApplyOptions, BlobStore,
    Compression, ImageLayout, LayerOptions, OciError,
};

use crate::{image_of, layer_of, sample_tree, EPOCH};

#[test]
fn same_tree_twice_gives_the_same_manifest_digest() {
    let temp = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for run in ["one", "two"] {
        let root = temp.path().join(run).join("root");
        sample_tree(&root);
        let store = BlobStore::open(temp.path().join(run).join("cache")).unwrap();
        let layer = layer_of(&store, &root, &LayerOptions::new(EPOCH));
        let image = image_of(&store, &[layer]);
        let out = temp.path().join(run).join("out");
        write_layout(&out, &store, &[("latest", &image)]).unwrap();
        let index = std::fs::read(out.join("index.json")).unwrap();
        digests.push((image.digest().to_string(), index));
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn layout_round_trip_and_overwrite() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("root");
    sample_tree(&root);
    let store = BlobStore::open(temp.path().join("cache")).unwrap();
    let layer = layer_of(&store, &root, &LayerOptions::new(EPOCH));
    let image = image_of(&store, std::slice::from_ref(&layer));
    let out = temp.path().join("out");
    write_layout(&out, &store, &[("latest", &image)]).unwrap();
    // Writing again over an existing layout swaps it atomically and leaves no temp dir
    write_layout(&out, &store, &[("latest", &image), ("1.0.0", &image)]).unwrap();
    let siblings: Vec<_> = std::fs::read_dir(temp.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !siblings.iter().any(|name| name.contains(".tmp-")),
        "{siblings:?}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );

    let layout = ImageLayout::open(&out).unwrap();
    assert_eq!(layout.ref_names(), ["latest", "1.0.0"]);
    let read = layout.image(Some("1.0.0")).unwrap();
    assert_eq!(read.digest(), image.digest());
    assert_eq!(read.config, image.config);
    assert!(matches!(
        layout.image(None),
        Err(OciError::AmbiguousImage { .. })
    ));
    assert!(matches!(
        layout.image(Some("nope")),
        Err(OciError::UnknownReference { .. })
    ));

    let rootfs = temp.path().join("rootfs");
    apply_layers(
        layout.blobs(),
        read.layers(),
        &rootfs,
        ApplyOptions::default(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/hostname")).unwrap(),
        "imagesmith\n"
    );
}

#[test]
fn corrupt_blob_in_layout_is_detected() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("root");
    sample_tree(&root);
    let store = BlobStore::open(temp.path().join("cache")).unwrap();
    let layer = layer_of(&store, &root, &LayerOptions::new(EPOCH));
    let image = image_of(&store, &[layer]);
    let out = temp.path().join("out");
    write_layout(&out, &store, &[("latest", &image)]).unwrap();
    let layout = ImageLayout::open(&out).unwrap();
    let layer_path = layout.blobs().path(image.layers()[0].digest()).unwrap();
    // Hard-linked from the cache: replace rather than write through
    std::fs::remove_file(&layer_path).unwrap();
    std::fs::write(&layer_path, b"not a layer").unwrap();
    let result = apply_layers(
        layout.blobs(),
        image.layers(),
        &temp.path().join("rootfs"),
        ApplyOptions::default(),
    );
    assert!(result.is_err());
    assert!(store.verify(image.layers()[0].digest()).is_ok());
}

#[test]
fn import_directory_and_tarball_agree() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("root");
    sample_tree(&root);
    let store = BlobStore::open(temp.path().join("cache")).unwrap();
    let mut options = LayerOptions::new(EPOCH);
    options.compression = Compression::None;
    let from_dir = import_rootfs_dir(&store, &root, &options, Arch::Amd64, Os::Linux).unwrap();
    let tarball = store.path(from_dir.layers()[0].digest()).unwrap();
    let from_tar = import_rootfs_tarball(
        &store,
        &tarball,
        Compression::Zstd,
        Arch::Amd64,
        Os::Linux,
        EPOCH,
    )
    .unwrap();
    assert_eq!(from_dir.diff_ids(), from_tar.diff_ids());
    assert_eq!(
        from_tar.layers()[0].media_type().to_string(),
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
}

/// Regression: a layout holding SBOM artifacts that refer to the image still opens as that
/// one image (the builder stores SPDX and CycloneDX documents this way).
#[test]
fn artifacts_beside_an_image_are_not_images() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("root");
    sample_tree(&root);
    let store = BlobStore::open(temp.path().join("cache")).unwrap();
    let layer = layer_of(&store, &root, &LayerOptions::new(EPOCH));
    let image = image_of(&store, &[layer]);
    let out = temp.path().join("out");
    write_layout(&out, &store, &[("latest", &image)]).unwrap();
    let index_path = out.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let artifact = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "digest": image.manifest.config().digest().to_string(),
        "size": 2,
        "annotations": { "org.opencontainers.image.ref.name": "sbom-spdx" }
    });
    index["manifests"].as_array_mut().unwrap().push(artifact);
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();

    let layout = ImageLayout::open(&out).unwrap();
    assert_eq!(layout.image(None).unwrap().digest(), image.digest());
    let images = layout.images().unwrap();
    assert_eq!(images.keys().collect::<Vec<_>>(), ["latest"]);
}
