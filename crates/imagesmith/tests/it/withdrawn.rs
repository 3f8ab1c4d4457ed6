//! Issue 13, point 3: a withdrawn release is a status, not an absence. Trivy 0.27.0 to 0.69.1
//! lost their GitHub releases on 2026-03-01: the seed's `trivy: 0.53.0` validates with a
//! warning naming the reason and the nearest obtainable release (an error under `policy`), and
//! locks only through a mirror that serves it.

use crate::index::{fixture_files, lock_through};
use crate::mirror::serve;
use crate::{fixtures, imagesmith, stdout};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

const PROJECT: &str = "kind: project
name: withdrawn
os: [debian12]
";

const SPEC: &str = "image_type: container
base_image: golden-container-debian12
components:
  trivy: 0.53.0
";

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A project whose one spec pins the withdrawn `trivy` 0.53.0, with `extra` after the project
/// file.
fn project(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "imagesmith.yaml", &format!("{PROJECT}{extra}"));
    write(
        root,
        "recipes/golden-container-debian12.yaml",
        "kind: recipe
name: golden-container-debian12
description: The platform's Debian 12 base
image_type: container
os: debian12
base_image: debian:12
components:
  chrony: \"4.3\"
",
    );
    write(root, "specs/scanner.yaml", SPEC);
    dir
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn diagnostics(output: &Output) -> Vec<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn the_seed_examples_validate_with_a_withdrawn_warning() {
    let dir = fixtures().join("valid");
    for name in ["seed-static-code-scanner.yaml", "seed-customer-spec.yaml"] {
        let output = imagesmith(&["validate", "--format", "json", name], &dir);
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stdout(&output));
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let line = text.lines().position(|l| l == "  trivy: 0.53.0").unwrap() + 1;
        let found = diagnostics(&output)
            .into_iter()
            .find(|d| d["code"] == "withdrawn-release")
            .unwrap_or_else(|| panic!("{name}: {}", stdout(&output)));
        assert_eq!(found["severity"], "warning", "{found}");
        assert_eq!(found["path"], name);
        assert_eq!(found["line"], line, "{found}");
        assert_eq!(found["column"], 10, "{found}");
        let message = found["message"].as_str().unwrap();
        assert!(
            message.contains("`trivy` 0.53.0 was withdrawn on 2026-03-01"),
            "{message}"
        );
        assert!(
            message.contains("security incident (discussion #10265)"),
            "{message}"
        );
        let hint = found["hint"].as_str().unwrap();
        // The nearest obtainable release is the oldest newer one: 0.69.2, published after
        // the deletion; the revoked 0.69.4-0.69.6 are never offered.
        assert!(
            hint.contains("move to 0.69.2, the nearest obtainable release"),
            "{hint}"
        );
        assert!(hint.contains("`mirrors:`"), "{hint}");
    }
}

#[test]
fn a_withdrawn_pin_is_an_error_under_the_policy() {
    let dir = project("policy:\n  withdrawn: error\n");
    let output = imagesmith(&["validate", "--format", "json"], dir.path());
    assert_ne!(output.status.code(), Some(0), "{}", stdout(&output));
    let found = diagnostics(&output)
        .into_iter()
        .find(|d| d["code"] == "withdrawn-release")
        .unwrap_or_else(|| panic!("{}", stdout(&output)));
    assert_eq!(found["severity"], "error", "{found}");
    assert_eq!(found["path"], "specs/scanner.yaml", "{found}");
    assert_eq!(
        (found["line"].as_u64(), found["column"].as_u64()),
        (Some(4), Some(10))
    );
    // Without the policy the same project is valid, with the warning.
    let dir = project("policy:\n  withdrawn: warning\n");
    let output = imagesmith(&["validate"], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("warning[withdrawn-release]"));
}

#[test]
fn a_revoked_release_stays_an_error() {
    let dir = project("");
    write(
        dir.path(),
        "specs/scanner.yaml",
        &SPEC.replace("0.53.0", "0.69.4"),
    );
    let output = imagesmith(&["validate", "--format", "json"], dir.path());
    assert_ne!(output.status.code(), Some(0));
    let codes: Vec<_> = diagnostics(&output)
        .into_iter()
        .map(|d| d["code"].clone())
        .collect();
    assert!(codes.contains(&"revoked-version".into()), "{codes:?}");
}

#[test]
fn without_a_mirror_lock_plan_render_and_build_refuse_a_withdrawn_release() {
    let dir = project("");
    for args in [
        &["lock"][..],
        &["lock", "--offline"],
        &["plan"],
        &["render", "--out", "out"],
        &["build"],
    ] {
        let output = imagesmith(args, dir.path());
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {text}");
        assert!(
            text.contains("error: specs/scanner.yaml:4:10: `trivy` 0.53.0 of image `scanner` was withdrawn on 2026-03-01"),
            "{args:?}: {text}"
        );
        assert!(
            text.contains("no mirror serves `https://github.com/aquasecurity/trivy/releases/download/v0.53.0/trivy_0.53.0_Linux-64bit.tar.gz`"),
            "{args:?}: {text}"
        );
        assert!(
            text.contains("hint: add a mirror that kept it to `imagesmith.yaml` (`mirrors: {\"https://github.com/\": \"https://<your-mirror>/...\"}`), or move `trivy` to 0.69.2, the nearest obtainable release"),
            "{args:?}: {text}"
        );
        assert!(!dir.path().join("imagesmith.lock").exists(), "{args:?}");
        assert!(!dir.path().join("out").exists(), "{args:?}");
    }
}

#[test]
fn a_withdrawn_release_locks_through_a_mirror_that_serves_it() {
    // First the lock as it would be, to learn what the mirror has to serve.
    let dir = project("mirrors:\n  \"https://\": \"http://127.0.0.1:9/\"\n");
    let root = dir.path();
    let offline = imagesmith(&["lock", "--offline"], root);
    assert!(offline.status.success(), "{}", stderr(&offline));
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("imagesmith.lock")).unwrap()).unwrap();
    let trivy = &lock["images"]["scanner"]["components"]["trivy"];
    assert_eq!(trivy["version"], "0.53.0");
    let url = trivy["artifact"]["url"].as_str().unwrap().to_string();
    let (files, expected) = fixture_files(&lock);
    assert!(expected.contains_key(&url), "{expected:#?}");

    // A mirror that did not keep it: lock refuses, naming the mirror's URL.
    let empty = serve(BTreeMap::new());
    write(
        root,
        "imagesmith.yaml",
        &format!("{PROJECT}mirrors:\n  \"https://\": \"{}/\"\n", empty.base),
    );
    std::fs::remove_file(root.join("imagesmith.lock")).unwrap();
    let refused = lock_through(&empty, root, true);
    let text = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "`trivy` 0.53.0 of image `scanner` was withdrawn (GitHub release deleted in the aquasecurity/trivy security incident (discussion #10265) and not restored; the git tag remains), and the mirror `{}/github.com/aquasecurity/trivy/releases/download/v0.53.0/trivy_0.53.0_Linux-64bit.tar.gz` did not serve it",
            empty.base
        )),
        "{text}"
    );
    assert!(text.contains("or move `trivy` to 0.69.2"), "{text}");
    assert!(!root.join("imagesmith.lock").exists());

    // A mirror that kept the file and its checksums file: locked, pinned from the mirror.
    let mirror = serve(files);
    write(
        root,
        "imagesmith.yaml",
        &format!("{PROJECT}mirrors:\n  \"https://\": \"{}/\"\n", mirror.base),
    );
    let locked = lock_through(&mirror, root, true);
    let text = stderr(&locked);
    assert!(locked.status.success(), "{text}");
    assert!(text.contains("pinned trivy 0.53.0: sha256:"), "{text}");
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("imagesmith.lock")).unwrap()).unwrap();
    let trivy = &lock["images"]["scanner"]["components"]["trivy"];
    assert_eq!(
        trivy["artifact"]["url"],
        url.as_str(),
        "the vendor URL is recorded"
    );
    assert_eq!(trivy["artifact"]["checksum"], expected[&url].as_str());
    assert!(mirror
        .asked
        .lock()
        .unwrap()
        .iter()
        .any(|(path, _)| path.ends_with("trivy_0.53.0_checksums.txt")));
    // And the commands after lock accept it.
    let plan = imagesmith(&["plan"], root);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let check = imagesmith(&["lock", "--check"], root);
    assert!(check.status.success(), "{}", stderr(&check));
}

#[test]
fn outdated_shows_withdrawn_as_a_status() {
    let dir = project("");
    let human = imagesmith(&["outdated"], dir.path());
    let text = stdout(&human);
    assert_eq!(human.status.code(), Some(0), "{text}{}", stderr(&human));
    let line = text
        .lines()
        .find(|l| l.starts_with("scanner") && l.contains(" trivy "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("withdrawn since 2026-03-01: GitHub release deleted"),
        "{line}"
    );
    let json = imagesmith(&["outdated", "--format", "json"], dir.path());
    let pins: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let trivy = pins["pins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["component"] == "trivy")
        .unwrap()
        .clone();
    assert_eq!(trivy["status"], "withdrawn", "{trivy}");
    assert_eq!(trivy["since"], "2026-03-01", "{trivy}");
    assert_eq!(trivy["version"], "0.53.0");
}
