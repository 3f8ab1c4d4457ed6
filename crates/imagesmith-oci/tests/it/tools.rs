//! Checks written layouts with skopeo and umoci when they are installed

use std::process::Command;

use imagesmith_oci::{write_layout, BlobStore, LayerOptions};

use crate::{image_of, layer_of, sample_tree, EPOCH};

fn installed(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

#[test]
fn skopeo_and_umoci_read_the_layout() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("root");
    sample_tree(&root);
    let store = BlobStore::open(temp.path().join("cache")).unwrap();
    let layer = layer_of(&store, &root, &LayerOptions::new(EPOCH));
    let image = image_of(&store, &[layer]);
    let out = temp.path().join("out");
    write_layout(&out, &store, &[("latest", &image)]).unwrap();

    if installed("skopeo") {
        let output = Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}:latest", out.display()))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let inspect: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(inspect["Digest"], image.digest().to_string());
        assert_eq!(inspect["Labels"]["com.example.version"], "1.0.0");
    } else {
        eprintln!("skipped skopeo check: `skopeo` is not installed (apt-get install skopeo)");
    }

    if installed("umoci") {
        let bundle = temp.path().join("bundle");
        let mut command = Command::new("umoci");
        command.arg("unpack");
        if !nix::unistd::geteuid().is_root() {
            command.arg("--rootless");
        }
        let output = command
            .arg("--image")
            .arg(format!("{}:latest", out.display()))
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(bundle.join("rootfs/etc/hostname")).unwrap(),
            "imagesmith\n"
        );
    } else {
        eprintln!("skipped umoci check: `umoci` is not installed (apt-get install umoci)");
    }
}
