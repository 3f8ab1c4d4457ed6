//! `imagesmith init` writes a project that validates.

use crate::{imagesmith, stdout};

#[test]
fn init_writes_a_valid_project_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let output = imagesmith(&["init", "demo"], dir.path());
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let project = dir.path().join("demo");
    for file in [
        "imagesmith.yaml",
        "specs/static-code-scanner.yaml",
        "specs/customized-app.yaml",
        "recipes/golden-container-amazonlinux2023.yaml",
    ] {
        assert!(project.join(file).is_file(), "{file} missing");
    }
    let output = imagesmith(&["validate"], &project);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let again = imagesmith(&["init", "demo"], dir.path());
    assert_eq!(again.status.code(), Some(1));
}

#[test]
fn catalog_lists_every_component() {
    let dir = tempfile::tempdir().unwrap();
    let output = imagesmith(&["catalog", "--format", "json"], dir.path());
    assert_eq!(output.status.code(), Some(0));
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for expected in [
        "falcon_sensor",
        "cloudwatch_agent",
        "chrony",
        "systemd_timesyncd",
        "node_exporter",
        "process_exporter",
        "windows_exporter",
        "splunk_indexer",
        "splunk_forwarder",
        "aws_cli",
        "docker",
        "python",
        "nodejs",
        "terraform",
        "tflint",
        "terragrunt",
        "terratest",
        "opa",
        "java",
        "snyk",
        "wiz",
        "trivy",
        "grype",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from the catalog"
        );
    }
    let one = imagesmith(&["catalog", "python"], dir.path());
    assert_eq!(one.status.code(), Some(0));
    assert!(stdout(&one).contains("python"));
}
