//! Issue 10: every real upstream version. The version index accepts real releases (exact or a
//! prefix), rejects made-up ones with the nearest real versions, `lock` pins every download's
//! checksum through a mirror with a credential, `outdated` reports newer and end-of-life pins,
//! and `index update` makes a new release orderable.

use crate::mirror::{serve, Mirror};
use crate::{imagesmith, stdout};
use sha2::{Digest, Sha256, Sha512};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn diagnostics(output: &Output) -> Vec<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The errors among the diagnostics.
fn errors(output: &Output) -> Vec<serde_json::Value> {
    diagnostics(output)
        .into_iter()
        .filter(|d| d["severity"] == "error")
        .collect()
}

#[test]
fn real_exact_versions_are_accepted_and_made_up_ones_get_the_nearest() {
    let dir = tempfile::tempdir().unwrap();
    // Each of the issue's examples, on the OS it names.
    write(
        dir.path(),
        "node.yaml",
        "image_type: container\nbase_image: golden-container-debian12\ncomponents:\n  nodejs: 20.11.1\n  opa: 0.61.0\n",
    );
    write(
        dir.path(),
        "python.yaml",
        "image_type: ami\nbase_image: golden-ami-ubuntu2204\ncomponents:\n  python: 3.12\n  terraform: \"1.7\"\n",
    );
    let ok = imagesmith(
        &["validate", "--format", "json", "node.yaml", "python.yaml"],
        dir.path(),
    );
    let errors = errors(&ok);
    assert!(errors.is_empty(), "{errors:#?}");

    write(
        dir.path(),
        "fake.yaml",
        "image_type: container\nbase_image: golden-container-debian12\ncomponents:\n  terraform: 1.6.99\n",
    );
    let bad = imagesmith(&["validate", "--format", "json", "fake.yaml"], dir.path());
    assert_eq!(bad.status.code(), Some(1));
    let found = diagnostics(&bad);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["code"], "unknown-release");
    assert_eq!(found[0]["line"], 4);
    let hint = found[0]["hint"].as_str().unwrap();
    assert!(
        hint.contains("1.6.6") && hint.contains("1.7.0"),
        "the hint names the nearest real releases: {hint}"
    );
}

#[test]
fn the_plan_installs_the_exact_release_a_prefix_resolves_to() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "imagesmith.yaml",
        "kind: project\nname: exact\nos: [ubuntu2204, amazonlinux2023]\n",
    );
    // A line the OS packages stays a line; an exact release takes the nodejs.org tarball.
    write(
        dir.path(),
        "specs/web.yaml",
        "image_type: container\nbase_image: golden-container-ubuntu2204\ncomponents:\n  nodejs: \"20\"\n  python: 3.12\n",
    );
    write(
        dir.path(),
        "specs/api.yaml",
        "image_type: container\nbase_image: golden-container-amazonlinux2023\ncomponents:\n  nodejs: 20.11.1\n",
    );
    let lock = imagesmith(&["lock", "--offline"], dir.path());
    assert!(
        lock.status.success(),
        "{}",
        String::from_utf8_lossy(&lock.stderr)
    );
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("imagesmith.lock")).unwrap())
            .unwrap();
    let web = &lock["images"]["web"]["components"];
    let node = web["nodejs"]["version"].as_str().unwrap();
    assert!(
        node.starts_with("20.") && node.split('.').count() == 3,
        "{node}"
    );
    let url = web["nodejs"]["artifact"]["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!("https://nodejs.org/dist/v{node}/node-v{node}-linux-x64.tar.gz")
    );
    // Python 3.12 on Ubuntu 22.04 comes from the deadsnakes PPA.
    let python = &web["python"]["artifact"];
    assert!(
        python["repository"]
            .as_str()
            .unwrap()
            .contains("deadsnakes"),
        "{python}"
    );
    let api = &lock["images"]["api"]["components"]["nodejs"];
    assert_eq!(api["version"], "20.11.1");
    assert_eq!(api["artifact"]["type"], "download", "{api}");
}

/// Fixture artifacts for every download `imagesmith.lock` left unpinned, with the checksum
/// files their vendors publish beside them, served under `/<host>/<path>`.
pub(crate) fn fixture_files(
    lock: &serde_json::Value,
) -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, String>) {
    let mut files = BTreeMap::new();
    let mut expected = BTreeMap::new();
    for image in lock["images"].as_object().unwrap().values() {
        for component in image["components"].as_object().unwrap().values() {
            let artifact = &component["artifact"];
            if artifact["type"] != "download" || !artifact["checksum"].is_null() {
                continue;
            }
            let url = artifact["url"].as_str().unwrap();
            let path = |u: &str| format!("/{}", u.strip_prefix("https://").unwrap());
            let body = format!("fixture artifact of {url}\n").into_bytes();
            let sha256 = hex::encode(Sha256::digest(&body));
            let name = url.rsplit('/').next().unwrap();
            let checksum = match artifact["checksum_url"].as_str() {
                Some(list) if list.ends_with(".sha512") => {
                    let sha512 = hex::encode(Sha512::digest(&body));
                    files.insert(
                        path(list),
                        format!("SHA512({name})= {sha512}\n").into_bytes(),
                    );
                    format!("sha512:{sha512}")
                }
                Some(list) if list.ends_with(".sha256") => {
                    files.insert(path(list), format!("{sha256}\n").into_bytes());
                    format!("sha256:{sha256}")
                }
                Some(list) => {
                    // A list file: ours among others, as vendors publish them.
                    let decoy = hex::encode(Sha256::digest(b"another file"));
                    let text = format!("{decoy}  other-{name}\n{sha256}  {name}\n");
                    let entry = files.entry(path(list)).or_insert_with(Vec::new);
                    entry.extend_from_slice(text.as_bytes());
                    format!("sha256:{sha256}")
                }
                None => format!("sha256:{sha256}"),
            };
            files.insert(path(url), body);
            expected.insert(url.to_string(), checksum);
        }
    }
    (files, expected)
}

pub(crate) fn lock_through(mirror: &Mirror, dir: &Path, credential: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imagesmith"));
    command
        .arg("lock")
        .current_dir(dir)
        .env("IMAGESMITH_TODAY", crate::TODAY)
        .env("NO_COLOR", "1")
        .env_remove("IMAGESMITH_OFFLINE");
    if credential {
        let (name, value) = mirror.auth_env();
        command.env(name, value);
    }
    command.output().unwrap()
}

#[test]
fn the_seed_spec_locks_a_checksum_for_every_artifact_through_a_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let init = imagesmith(&["init"], root);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let offline: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("imagesmith.lock")).unwrap()).unwrap();
    let seed = &offline["images"]["customized-app"]["components"];
    // The seed's spec, exactly as customers write it.
    for name in ["splunk_indexer", "aws_cli", "docker", "python", "trivy"] {
        assert!(seed.get(name).is_some(), "{name} in {seed}");
    }
    assert_eq!(
        seed["splunk_indexer"]["parameters"]["build"],
        "51ccf43db5bd"
    );
    let (files, expected) = fixture_files(&offline);
    assert!(expected.len() >= 5, "{expected:#?}");
    let mirror = serve(files);
    let project = std::fs::read_to_string(root.join("imagesmith.yaml")).unwrap();
    std::fs::write(
        root.join("imagesmith.yaml"),
        format!(
            "{project}\nmirrors:\n  \"https://\": \"{}/\"\n",
            mirror.base
        ),
    )
    .unwrap();

    // Without the mirror's credential nothing is pinned, and lock says which and why.
    let denied = lock_through(&mirror, root, false);
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(stderr.contains("not pinned: docker 27.0.3"), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains(crate::mirror::TOKEN));

    let locked = lock_through(&mirror, root, true);
    let stderr = String::from_utf8_lossy(&locked.stderr);
    assert!(locked.status.success(), "{stderr}");
    assert!(!stderr.contains("not pinned"), "{stderr}");
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("imagesmith.lock")).unwrap()).unwrap();
    let mut pinned = 0;
    for image in lock["images"].as_object().unwrap().values() {
        for (name, component) in image["components"].as_object().unwrap() {
            let artifact = &component["artifact"];
            if artifact["type"] != "download" {
                continue;
            }
            let url = artifact["url"].as_str().unwrap();
            let checksum = artifact["checksum"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} `{url}` is not pinned"));
            if let Some(want) = expected.get(url) {
                assert_eq!(checksum, want, "{name} `{url}`");
                pinned += 1;
            }
            assert!(
                component.get("resolved_at_build").is_none()
                    || !component["resolved_at_build"]
                        .as_str()
                        .unwrap()
                        .contains("checksum"),
                "{component}"
            );
        }
    }
    assert_eq!(
        pinned,
        lock_count(&lock, &expected),
        "every fixture download is pinned"
    );
    // Docker's static archive has no vendor checksum: its hash reaches the document.
    let docker = &lock["images"]["customized-app"]["components"]["docker"];
    assert_eq!(
        format!(
            "sha256:{}",
            docker["parameters"]["sha256"].as_str().unwrap()
        ),
        docker["artifact"]["checksum"].as_str().unwrap()
    );
    assert!(mirror.asked.lock().unwrap().iter().any(|(_, token)| *token));
    // Offline, the pins are carried over: the lock is up to date without the network.
    let check = imagesmith(&["lock", "--check"], root);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

fn lock_count(lock: &serde_json::Value, expected: &BTreeMap<String, String>) -> usize {
    let mut count = 0;
    for image in lock["images"].as_object().unwrap().values() {
        for component in image["components"].as_object().unwrap().values() {
            if let Some(url) = component["artifact"]["url"].as_str() {
                count += usize::from(expected.contains_key(url));
            }
        }
    }
    count
}

#[test]
fn a_download_without_its_build_hash_is_refused_at_validate() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "splunk.yaml",
        "image_type: container\nbase_image: golden-container-amazonlinux2023\ncomponents:\n  splunk_indexer: 9.3.1\n",
    );
    let output = imagesmith(&["validate", "--format", "json", "splunk.yaml"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let found = diagnostics(&output);
    assert_eq!(found[0]["code"], "unpinnable", "{found:#?}");
    assert!(found[0]["message"].as_str().unwrap().contains("`build`"));
    // Given the build hash, it is valid.
    write(
        dir.path(),
        "splunk.yaml",
        "image_type: container\nbase_image: golden-container-amazonlinux2023\ncomponents:\n  splunk_indexer: 9.3.1\nparameters:\n  splunk_indexer:\n    build: 0123456789ab\n",
    );
    let output = imagesmith(&["validate", "--format", "json", "splunk.yaml"], dir.path());
    let errors = errors(&output);
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn outdated_lists_newer_releases_and_the_end_of_life_python() {
    let dir = tempfile::tempdir().unwrap();
    assert!(imagesmith(&["init"], dir.path()).status.success());
    let human = imagesmith(&["outdated"], dir.path());
    assert_eq!(human.status.code(), Some(1), "end of life fails the run");
    let text = stdout(&human);
    let python = text
        .lines()
        .find(|l| l.starts_with("customized-app") && l.contains(" python "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(python.contains("end-of-life since 2026-10-31"), "{python}");
    let json = imagesmith(&["outdated", "--format", "json"], dir.path());
    let pins: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let pins = pins["pins"].as_array().unwrap();
    let trivy = pins
        .iter()
        .find(|p| p["image"] == "customized-app" && p["component"] == "trivy")
        .unwrap();
    // The starter pins 0.69.3: the seed's 0.53.0 was withdrawn (issue 13, `withdrawn.rs`).
    assert_eq!(trivy["version"], "0.69.3");
    assert!(trivy["newest"].as_str().is_some(), "{trivy}");
    assert_eq!(trivy["status"], "current");
    let python = pins
        .iter()
        .find(|p| p["image"] == "customized-app" && p["component"] == "python")
        .unwrap();
    assert_eq!(python["status"], "end-of-life");
    assert_eq!(python["version"], "3.10");
}

#[test]
fn index_update_makes_a_new_release_orderable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let index_json = r#"{"name": "terraform", "versions": {
      "1.99.0": {"name": "terraform", "version": "1.99.0", "shasums": "terraform_1.99.0_SHA256SUMS",
        "builds": [{"name": "terraform", "version": "1.99.0", "os": "linux", "arch": "amd64",
          "filename": "terraform_1.99.0_linux_amd64.zip",
          "url": "https://releases.hashicorp.com/terraform/1.99.0/terraform_1.99.0_linux_amd64.zip"}]},
      "1.99.1-beta1": {"name": "terraform", "version": "1.99.1-beta1", "builds": []}
    }}"#;
    let sums = format!("{}  terraform_1.99.0_linux_amd64.zip\n", "ab".repeat(32));
    let mirror = serve(BTreeMap::from([
        (
            "/hashicorp/terraform/index.json".to_string(),
            index_json.as_bytes().to_vec(),
        ),
        (
            "/hashicorp/terraform/1.99.0/terraform_1.99.0_SHA256SUMS".to_string(),
            sums.into_bytes(),
        ),
    ]));
    write(
        root,
        "imagesmith.yaml",
        &format!(
            "kind: project\nname: fresh\nos: [debian12]\nmirrors:\n  \"https://releases.hashicorp.com/\": \"{}/hashicorp/\"\n",
            mirror.base
        ),
    );
    write(
        root,
        "specs/tf.yaml",
        "image_type: container\nbase_image: golden-container-debian12\ncomponents:\n  terraform: 1.99.0\n",
    );
    let before = imagesmith(&["validate", "--format", "json"], root);
    assert_eq!(diagnostics(&before)[0]["code"], "unknown-release");

    let (name, value) = mirror.auth_env();
    let update = Command::new(env!("CARGO_BIN_EXE_imagesmith"))
        .args(["index", "update", "terraform", "--cache-dir"])
        .arg(root.join(".cache"))
        .current_dir(root)
        .env("IMAGESMITH_TODAY", crate::TODAY)
        .env(name, value)
        .output()
        .unwrap();
    assert!(
        update.status.success(),
        "{}",
        String::from_utf8_lossy(&update.stderr)
    );
    let text = std::fs::read_to_string(root.join("index/terraform.json")).unwrap();
    assert!(text.contains("\"1.99.0\""), "the new release is recorded");
    assert!(!text.contains("beta"), "pre-releases are not");
    assert!(
        text.contains("\"1.6.6\""),
        "releases the source no longer lists are kept"
    );
    assert!(text.contains(&"ab".repeat(32)), "with the vendor's sha256");

    let after = imagesmith(&["validate", "--format", "json"], root);
    let errors = errors(&after);
    assert!(errors.is_empty(), "{errors:#?}");
    let list = imagesmith(&["index", "list"], root);
    assert!(
        stdout(&list).contains("index/terraform.json"),
        "{}",
        stdout(&list)
    );
}

#[test]
fn parameter_values_that_would_break_out_of_a_build_script_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "node.yaml",
        "image_type: container\nbase_image: golden-container-ubuntu2204\ncomponents:\n  nodejs: 22.12.0\nparameters:\n  nodejs:\n    sha256: \"x\\nIMAGESMITH_PARAMETER\\ntouch /tmp/pwned\"\n",
    );
    let output = imagesmith(&["validate", "--format", "json", "node.yaml"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let found = diagnostics(&output);
    assert!(
        found
            .iter()
            .any(|d| d["code"] == "invalid-parameter-value" && d["line"] == 7),
        "{found:#?}"
    );
    // The forwarder's default release knows its build hash: valid as written.
    write(
        dir.path(),
        "uf.yaml",
        "image_type: container\nbase_image: golden-container-debian12\ncomponents:\n  splunk_forwarder:\n",
    );
    let output = imagesmith(&["validate", "--format", "json", "uf.yaml"], dir.path());
    let errors = errors(&output);
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn distribution_packages_are_judged_by_the_catalog_not_by_upstream_releases() {
    let dir = tempfile::tempdir().unwrap();
    // Upstream chrony is at 4.8, Ubuntu 22.04 packages 4.2: a bare `4` must not lock `chrony=4.8*`.
    write(
        dir.path(),
        "golden-container-ubuntu2204.yaml",
        "kind: recipe\nname: golden-container-ubuntu2204\nimage_type: container\nos: ubuntu2204\nbase_image: ubuntu:22.04\ncomponents:\n  chrony: \"4\"\n",
    );
    let output = imagesmith(
        &[
            "validate",
            "--format",
            "json",
            "golden-container-ubuntu2204.yaml",
        ],
        dir.path(),
    );
    let found = diagnostics(&output);
    assert_eq!(found[0]["code"], "unsupported-version", "{found:#?}");
}
