//! `imagesmith scan` (issue 11): exit 0 pass, 1 the gate failed, 2 the scanner broke; the
//! table, JSON and SARIF outputs.

use crate::{imagesmith, one_layer_layout, repo_root, required, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    repo_root()
        .join("crates/imagesmith-scan/tests/fixtures")
        .join(name)
}

/// A one-layer layout at `dir/image`.
fn image(dir: &Path) -> PathBuf {
    one_layer_layout(dir, "image", "scan\n").0
}

fn project(dir: &Path, scanners: &str) {
    std::fs::write(
        dir.join("imagesmith.yaml"),
        format!("kind: project\nname: demo\nscanners:\n{scanners}"),
    )
    .unwrap();
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_fixed_high_finding_fails_the_gate_with_exit_1_and_a_table() {
    let dir = tempfile::tempdir().unwrap();
    image(dir.path());
    project(dir.path(), "  trivy:\n    fail_on: high\n");
    let report = format!("trivy={}", fixture("trivy.json").display());
    let output = imagesmith(&["scan", "image", "--report", &report], dir.path());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(table.starts_with("FINDING"), "{table}");
    assert!(table.contains("WAIVED-BY"));
    assert!(table.contains("CVE-2024-5535"));
    assert!(
        stderr(&output).contains("the gate failed: 1 findings"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_waiver_passes_and_an_expired_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    image(dir.path());
    project(
        dir.path(),
        "  trivy: {}\n  waivers:\n    - id: CVE-2024-5535\n      reason: next base image\n      expires: 2026-12-31\n    - id: CVE-2023-45853\n      reason: no fix in Debian\n      expires: 2026-01-01\n",
    );
    let report = format!("trivy={}", fixture("trivy.json").display());
    let output = imagesmith(
        &["scan", "image", "--report", &report, "--format", "json"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let verdict: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(verdict["passed"], true);
    assert_eq!(verdict["expired_waivers"][0]["id"], "CVE-2023-45853");
    assert!(stderr(&output).contains("warning: The waiver of `CVE-2023-45853` expired"));
}

#[test]
fn a_configured_scanner_that_is_missing_broke_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    image(dir.path());
    project(dir.path(), "  grype:\n    fail_on: critical\n");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_imagesmith"))
        .args(["scan", "image"])
        .current_dir(dir.path())
        .env("IMAGESMITH_TODAY", crate::TODAY)
        .env("PATH", dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the scanner broke: grype:"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_garbage_report_broke_and_a_clean_one_passes() {
    let dir = tempfile::tempdir().unwrap();
    image(dir.path());
    project(dir.path(), "  snyk: {}\n");
    let garbage = format!("snyk={}", fixture("garbage.json").display());
    let output = imagesmith(&["scan", "image", "--report", &garbage], dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    std::fs::write(
        dir.path().join("clean.json"),
        r#"{"vulnerabilities":[],"ok":true}"#,
    )
    .unwrap();
    let output = imagesmith(
        &["scan", "image", "--report", "snyk=clean.json"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn sarif_output_matches_the_sarif_2_1_0_schema() {
    let dir = tempfile::tempdir().unwrap();
    image(dir.path());
    project(dir.path(), "  grype: {}\n");
    let report = format!("grype={}", fixture("grype.json").display());
    let output = imagesmith(
        &["scan", "image", "--report", &report, "--format", "sarif"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 4);
    let schema_path = repo_root().join(".ci/tools/sarif/sarif-schema-2.1.0.json");
    if !schema_path.is_file() {
        assert!(
            !required(),
            "SARIF schema missing at {}: run .ci/install-tools",
            schema_path.display()
        );
        eprintln!(
            "skipped: no SARIF schema at {} (run .ci/install-tools)",
            schema_path.display()
        );
        return;
    }
    let file = dir.path().join("scan.sarif");
    std::fs::write(&file, &output.stdout).unwrap();
    let checker = repo_root().join(".ci/tools/venv/bin/check-jsonschema");
    let checker = if checker.is_file() {
        checker
    } else {
        PathBuf::from("check-jsonschema")
    };
    let checked = std::process::Command::new(&checker)
        .args(["--regex-variant", "python", "--schemafile"])
        .arg(&schema_path)
        .arg(&file)
        .output();
    match checked {
        Ok(checked) => assert!(
            checked.status.success(),
            "{}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        ),
        Err(error) => {
            assert!(!required(), "check-jsonschema cannot run: {error}");
            eprintln!("skipped: check-jsonschema cannot run: {error}");
        }
    }
}

#[test]
fn a_waiver_for_an_image_the_project_lacks_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        "  trivy: {}\n  waivers:\n    - id: CVE-2024-5535\n      reason: fixed upstream next week\n      expires: 2026-12-31\n      image: golden-container-debian21\n    - id: CVE-2024-0001\n      reason: not reachable\n      expires: 2026-12-31\n      image: golden-container-debian12\n",
    );
    let output = imagesmith(&["validate"], dir.path());
    let text = stderr(&output) + &stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("unknown-image"), "{text}");
    assert!(text.contains("imagesmith.yaml:9:14"), "{text}");
    assert!(
        text.contains("did you mean `golden-container-debian12`?"),
        "{text}"
    );
    // Only the waiver that names no image is reported
    assert!(!text.contains("CVE-2024-0001"), "{text}");
}
