use std::collections::BTreeMap;
use std::io::Read;

use imagesmith_oci::{write_docker_archive, write_oci_archive, BlobStore, LayerOptions};
use sha2::Digest as _;

use crate::{image_of, layer_of, sample_tree, EPOCH};

fn read_tar(path: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

#[test]
fn docker_archive_has_manifest_config_and_uncompressed_layers() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("root");
    sample_tree(&root);
    let store = BlobStore::open(temp.path().join("cache")).unwrap();
    let layer = layer_of(&store, &root, &LayerOptions::new(EPOCH));
    let image = image_of(&store, &[layer]);
    let dest = temp.path().join("image.docker.tar");
    write_docker_archive(
        &dest,
        &store,
        &image,
        &["example/test:1.0.0".to_owned()],
        EPOCH,
    )
    .unwrap();
    let files = read_tar(&dest);
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let entry = &manifest[0];
    assert_eq!(entry["RepoTags"][0], "example/test:1.0.0");
    let config_name = entry["Config"].as_str().unwrap();
    let config: serde_json::Value = serde_json::from_slice(&files[config_name]).unwrap();
    let layer_name = entry["Layers"][0].as_str().unwrap();
    let layer_hash = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(&files[layer_name]))
    );
    assert_eq!(config["rootfs"]["diff_ids"][0], layer_hash);
    assert_eq!(
        format!("sha256:{}", config_name.trim_end_matches(".json")),
        image.manifest.config().digest().to_string()
    );
}

#[test]
fn oci_archive_holds_the_layout_and_is_reproducible() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("root");
    sample_tree(&root);
    let store = BlobStore::open(temp.path().join("cache")).unwrap();
    let layer = layer_of(&store, &root, &LayerOptions::new(EPOCH));
    let image = image_of(&store, &[layer]);
    let first = temp.path().join("a.oci.tar");
    let second = temp.path().join("b.oci.tar");
    write_oci_archive(&first, &store, &[("latest", &image)], EPOCH).unwrap();
    write_oci_archive(&second, &store, &[("latest", &image)], EPOCH).unwrap();
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&second).unwrap()
    );
    let files = read_tar(&first);
    assert!(files.contains_key("oci-layout"));
    assert!(files.contains_key("index.json"));
    let manifest_path = format!("blobs/sha256/{}", image.digest().digest());
    assert!(files.contains_key(&manifest_path), "{:?}", files.keys());
}
