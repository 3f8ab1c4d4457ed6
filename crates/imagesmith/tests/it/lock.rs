//! Issue 9: the lock as the one seam. `lock`, `lock --check`, `plan`, `diff`, `bump`, and
//! `build`/`render` refusing a missing or stale lock, on the seed's upgrade: two specs follow
//! the project's `terraform` default, one pins 1.6.6, and a golden image follows the `opa`
//! default.

use crate::{imagesmith, stdout};
use std::path::Path;

const PROJECT: &str = "kind: project
name: upgrade
os: [debian12]

# Every image that omits a version follows these.
defaults:
  opa: 1.20.0   # the golden image's policy engine
  terraform: 1.6.6
  tflint: \"0.53.0\"
";

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "imagesmith.yaml", PROJECT);
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
  opa:
",
    );
    // Two followers of the default, in block and flow style.
    write(
        root,
        "specs/infra-ci.yaml",
        "image_type: container
base_image: golden-container-debian12
components:
  terraform:
  tflint:
",
    );
    write(
        root,
        "specs/infra-lint.yaml",
        "image_type: container\nbase_image: golden-container-debian12\ncomponents: {terraform: , aws_cli: 2.9.19, tflint: \"0.53.0\"}\n",
    );
    // One pin.
    write(
        root,
        "specs/legacy.yaml",
        "image_type: container
base_image: golden-container-debian12
components:
  terraform: 1.6.6
",
    );
    dir
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn ok(args: &[&str], cwd: &Path) -> std::process::Output {
    let output = imagesmith(args, cwd);
    assert_eq!(
        output.status.code(),
        Some(0),
        "imagesmith {}:\n{}{}",
        args.join(" "),
        stdout(&output),
        stderr(&output)
    );
    output
}

fn plan(cwd: &Path) -> Vec<serde_json::Value> {
    let output = ok(&["plan", "--format", "json"], cwd);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    json["images"].as_array().unwrap().clone()
}

fn changed(images: &[serde_json::Value]) -> Vec<String> {
    images
        .iter()
        .filter(|i| i["changed"] == true)
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

fn image<'a>(images: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    images.iter().find(|i| i["name"] == name).unwrap()
}

/// The line of `needle` in `text`, 1-based.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn lock_plan_and_the_stale_lock_refusals() {
    let dir = project();
    let root = dir.path();

    // No lock yet: build and render refuse, and say what to run.
    for args in [&["render", "--out", "out"][..], &["build", "--no-test"][..]] {
        let output = imagesmith(args, root);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("No `imagesmith.lock`"),
            "{}",
            stderr(&output)
        );
        assert!(stderr(&output).contains("imagesmith lock"));
    }
    let check = imagesmith(&["lock", "--check"], root);
    assert_eq!(check.status.code(), Some(1));

    ok(&["lock"], root);
    let lock = std::fs::read_to_string(root.join("imagesmith.lock")).unwrap();
    // Deterministic: locking again changes no byte, and the check passes.
    ok(&["lock"], root);
    assert_eq!(
        std::fs::read_to_string(root.join("imagesmith.lock")).unwrap(),
        lock
    );
    ok(&["lock", "--check"], root);
    let locked: serde_json::Value = serde_json::from_str(&lock).unwrap();
    let images = locked["images"].as_object().unwrap();
    assert_eq!(images.len(), 4);
    let follower = &images["infra-ci"];
    assert_eq!(follower["parent"]["golden"], "golden-container-debian12");
    assert_eq!(follower["components"]["terraform"]["version"], "1.6.6");
    assert_eq!(
        follower["components"]["terraform"]["decided_by"],
        "imagesmith.yaml#defaults.terraform"
    );
    assert_eq!(
        images["legacy"]["components"]["terraform"]["decided_by"],
        "specs/legacy.yaml#components.terraform"
    );
    assert_eq!(
        follower["components"]["terraform"]["artifact"]["url"],
        "https://releases.hashicorp.com/terraform/1.6.6/terraform_1.6.6_linux_amd64.zip"
    );
    assert_eq!(follower["version"], "1.0.0");
    assert!(!lock.contains("\"latest\""), "no `latest` left in the lock");

    // Nothing changed yet.
    let before = plan(root);
    assert!(changed(&before).is_empty(), "{before:?}");
    // Golden images first.
    assert_eq!(before[0]["name"], "golden-container-debian12");

    // The seed's upgrade: one line of the project file.
    let edited = PROJECT.replace("terraform: 1.6.6", "terraform: 1.7.0");
    write(root, "imagesmith.yaml", &edited);
    let after = plan(root);
    assert_eq!(changed(&after), ["infra-ci", "infra-lint"]);
    let line = line_of(&edited, "terraform: 1.7.0");
    for name in ["infra-ci", "infra-lint"] {
        let entry = image(&after, name);
        let reasons: Vec<&str> = entry["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(
            reasons,
            [format!(
                "`terraform` default 1.6.6 -> 1.7.0 in imagesmith.yaml:{line}"
            )],
            "{name}"
        );
        assert_eq!(entry["version"], "1.1.0", "a minor upgrade: {name}");
        let tags = entry["tags"].as_array().unwrap();
        assert_eq!(tags[0], "v1.1.0");
        assert!(tags[1].as_str().unwrap().starts_with("v1.1.0-"));
    }
    assert_eq!(image(&after, "legacy")["version"], "1.0.0");

    // The stale lock is refused, naming what changed and where.
    for args in [&["render", "--out", "out"][..], &["build", "--no-test"][..]] {
        let output = imagesmith(args, root);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let text = stderr(&output);
        assert!(text.contains("out of date"), "{text}");
        assert!(
            text.contains(&format!(
                "`terraform` default 1.6.6 -> 1.7.0 in imagesmith.yaml:{line}"
            )),
            "{text}"
        );
        assert!(text.contains("imagesmith lock"), "{text}");
        assert!(!root.join("out").exists(), "nothing was rendered");
    }
    let check = imagesmith(&["lock", "--check"], root);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert!(stderr(&check).contains("infra-ci"));

    // Re-locked, render works from the lock, and diff of the two locks lists the bump.
    std::fs::copy(root.join("imagesmith.lock"), root.join("old.lock")).unwrap();
    ok(&["lock"], root);
    ok(&["render", "--out", "out"], root);
    let dockerfile = std::fs::read_to_string(root.join("out/docker/infra-ci/Dockerfile")).unwrap();
    assert!(dockerfile.contains("io.imagesmith.component.terraform=\"1.7.0\""));
    assert!(dockerfile.contains("org.opencontainers.image.version=\"1.1.0\""));
    let diff = ok(
        &["diff", "old.lock", "imagesmith.lock", "--format", "json"],
        root,
    );
    let changelog: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
    let names: Vec<&str> = changelog["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["infra-ci", "infra-lint"]);
    assert_eq!(
        changelog["images"][0]["changed"][0],
        serde_json::json!(["terraform", "1.6.6", "1.7.0"])
    );
    let markdown = ok(&["diff", "old.lock", "imagesmith.lock"], root);
    assert!(stdout(&markdown).contains("- changed `terraform` 1.6.6 → 1.7.0"));
}

#[test]
fn a_golden_change_marks_its_children_changed() {
    let dir = project();
    let root = dir.path();
    ok(&["lock"], root);
    write(
        root,
        "imagesmith.yaml",
        &PROJECT.replace("opa: 1.20.0", "opa: 1.21.0"),
    );
    let after = plan(root);
    assert_eq!(
        changed(&after),
        [
            "golden-container-debian12",
            "infra-ci",
            "infra-lint",
            "legacy"
        ]
    );
    let golden = image(&after, "golden-container-debian12");
    assert_eq!(golden["version"], "1.1.0");
    for child in ["infra-ci", "infra-lint", "legacy"] {
        let entry = image(&after, child);
        assert_eq!(
            entry["reasons"][0], "parent changed: `golden-container-debian12` 1.0.0 -> 1.1.0",
            "{child}"
        );
        // Same inputs on a newer parent: a patch.
        assert_eq!(entry["version"], "1.0.1", "{child}");
    }
    std::fs::copy(root.join("imagesmith.lock"), root.join("old.lock")).unwrap();
    ok(&["lock"], root);
    let diff = ok(&["diff", "old.lock", "imagesmith.lock"], root);
    let text = stdout(&diff);
    assert!(
        text.contains("## `golden-container-debian12` (1.0.0 → 1.1.0)"),
        "{text}"
    );
    assert!(text.contains("- changed `opa` 1.20.0 → 1.21.0"), "{text}");
    assert!(text.contains("## `legacy` (1.0.0 → 1.0.1)"), "{text}");
}

#[test]
fn diff_reads_git_revisions() {
    let dir = project();
    let root = dir.path();
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(root)
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", stderr(&status));
    };
    git(&["init", "-q"]);
    ok(&["lock"], root);
    git(&["add", "."]);
    git(&["commit", "-qm", "first"]);
    write(
        root,
        "imagesmith.yaml",
        &PROJECT.replace("tflint: \"0.53.0\"", "tflint: \"0.54.0\""),
    );
    ok(&["lock"], root);
    let diff = ok(&["diff", "HEAD", ".", "--format", "json"], root);
    let changelog: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
    assert_eq!(changelog["images"][0]["name"], "infra-ci");
    assert_eq!(
        changelog["images"][0]["changed"][0],
        serde_json::json!(["tflint", "0.53.0", "0.54.0"])
    );
}

#[test]
fn bump_makes_the_one_line_edit_relocks_and_prints_the_images() {
    let dir = project();
    let root = dir.path();
    ok(&["lock"], root);
    let output = ok(&["bump", "terraform", "1.7.0"], root);
    // The same one-line edit a person would make, and no other byte.
    let after = std::fs::read_to_string(root.join("imagesmith.yaml")).unwrap();
    assert_eq!(
        after,
        PROJECT.replace("terraform: 1.6.6", "terraform: 1.7.0")
    );
    let printed: Vec<String> = stdout(&output).lines().map(str::to_string).collect();
    assert_eq!(printed, ["infra-ci\t1.1.0", "infra-lint\t1.1.0"]);
    assert!(
        stderr(&output).contains("defaults.terraform"),
        "{}",
        stderr(&output)
    );
    // Re-locked: the check passes and nothing is left to change.
    ok(&["lock", "--check"], root);
    assert!(changed(&plan(root)).is_empty());

    // A pin in a flow mapping, quoted, in the file named by `--in`: that scalar alone.
    let spec = root.join("specs/infra-lint.yaml");
    let before = std::fs::read_to_string(&spec).unwrap();
    let output = ok(
        &["bump", "tflint", "0.54.0", "--in", "specs/infra-lint.yaml"],
        root,
    );
    assert_eq!(
        std::fs::read_to_string(&spec).unwrap(),
        before.replace("tflint: \"0.53.0\"", "tflint: \"0.54.0\"")
    );
    assert_eq!(stdout(&output), "infra-lint\t1.2.0\n");
    // terraform follows the project default in two specs (what `bump` changed above); the
    // pin in specs/legacy.yaml is reached with `--in`, block style kept.
    ok(
        &["bump", "terraform", "1.6.5", "--in", "specs/legacy.yaml"],
        root,
    );
    assert_eq!(
        std::fs::read_to_string(root.join("specs/legacy.yaml")).unwrap(),
        "image_type: container\nbase_image: golden-container-debian12\ncomponents:\n  terraform: 1.6.5\n"
    );
    // A version the catalog does not have is refused and the file left as it was.
    let after = std::fs::read_to_string(root.join("imagesmith.yaml")).unwrap();
    let refused = imagesmith(&["bump", "opa", "0.1.0"], root);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("was left as it was"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("imagesmith.yaml")).unwrap(),
        after,
        "a refused bump loses nothing"
    );
    ok(&["lock", "--check"], root);
}

#[test]
fn bump_adds_a_project_default_when_images_follow_the_catalog() {
    let dir = project();
    let root = dir.path();
    // `infra-lint` follows the catalog's aws_cli default once its pin is gone.
    write(
        root,
        "specs/infra-lint.yaml",
        "image_type: container\nbase_image: golden-container-debian12\ncomponents: {terraform: , aws_cli: }\n",
    );
    ok(&["lock"], root);
    ok(&["bump", "aws_cli", "2.9.19"], root);
    let after = std::fs::read_to_string(root.join("imagesmith.yaml")).unwrap();
    assert_eq!(after, format!("{PROJECT}  aws_cli: 2.9.19\n"));
}

#[test]
fn a_broken_lock_is_refused_by_build_and_render_and_replaced_by_lock() {
    let dir = project();
    let root = dir.path();
    ok(&["lock"], root);
    let good = std::fs::read_to_string(root.join("imagesmith.lock")).unwrap();
    // A merge left its markers in the lock.
    write(
        root,
        "imagesmith.lock",
        &format!("<<<<<<< HEAD\n{good}=======\n{good}>>>>>>> other\n"),
    );
    for args in [&["render", "--out", "out"][..], &["lock", "--check"][..]] {
        let output = imagesmith(args, root);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&output).contains("is not a valid lock file"),
            "{}",
            stderr(&output)
        );
    }
    let output = ok(&["lock"], root);
    assert!(
        stderr(&output).contains("locked afresh"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("imagesmith.lock")).unwrap(),
        good
    );
}

/// Issue 11: `lock` reads `imagesmith.published.json`: a version already published from
/// other inputs (the lock was lost, say) is never given to new inputs, and `plan` shows
/// what is published.
#[test]
fn a_version_published_from_other_inputs_is_passed_over() {
    let dir = project();
    let root = dir.path();
    ok(&["lock", "--offline"], root);
    let images = plan(root);
    let golden = image(&images, "golden-container-debian12");
    assert_eq!(golden["version"], "1.0.0");
    assert!(golden["published"].is_null(), "{golden}");

    // v1.0.0 was published from other inputs; the lock is then lost
    let record = serde_json::json!({
        "format": 1,
        "images": {
            "golden-container-debian12": [{
                "version": "1.0.0",
                "inputs": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                "repository": "registry.example.com/golden-container-debian12",
                "tags": ["v1.0.0", "v1.0.0-000000000000"],
                "verdict": "passed",
                "published": "2026-11-01T00:00:00Z"
            }]
        }
    });
    write(
        root,
        "imagesmith.published.json",
        &serde_json::to_string_pretty(&record).unwrap(),
    );
    std::fs::remove_file(root.join("imagesmith.lock")).unwrap();
    ok(&["lock", "--offline"], root);
    let images = plan(root);
    let golden = image(&images, "golden-container-debian12");
    assert_eq!(golden["version"], "1.0.1", "{golden}");
    assert!(golden["tags"][0] == "v1.0.1", "{golden}");
    let human = stdout(&ok(&["plan"], root));
    assert!(
        human.contains("not published yet (v1.0.0 is, as registry.example.com/golden-container-debian12@sha256:1111"),
        "{human}"
    );

    // A record that is not one is refused with the file named
    write(root, "imagesmith.published.json", "{not json");
    let output = imagesmith(&["plan"], root);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("imagesmith.published.json"),
        "{}",
        stderr(&output)
    );
}
