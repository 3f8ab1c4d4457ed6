//! Hygiene checks on small layouts: secrets, apt lists, world-writable files, whiteouts,
//! the user.

use imagesmith_scan::{scan, ScanInput, Scanner, Status, Verdict};

use crate::{layout, File};

fn check(
    layers: &[&[File]],
    user: Option<&str>,
    wanted: Option<&str>,
    secrets: &[&str],
) -> Verdict {
    let dir = tempfile::tempdir().unwrap();
    let layout = layout(dir.path(), layers, user);
    // A clean Trivy report, so only the checks decide.
    let report = dir.path().join("trivy.json");
    std::fs::write(&report, r#"{"SchemaVersion":2,"Results":[]}"#).unwrap();
    scan(&ScanInput {
        layout,
        reference: None,
        image: "golden".into(),
        user: wanted.map(str::to_owned),
        scanners: Some(imagesmith_model::Scanners {
            trivy: Some(imagesmith_model::ScannerGate::default()),
            ..Default::default()
        }),
        reports: vec![(Scanner::Trivy, report)],
        secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
        today: "2026-11-21".into(),
    })
    .unwrap()
}

fn status<'a>(verdict: &'a Verdict, name: &str) -> (&'a Status, &'a [String]) {
    let check = verdict.checks.iter().find(|c| c.name == name).unwrap();
    (&check.status, &check.problems)
}

const CLEAN: &[File] = &[("etc/os-release", b"ID=debian\n", 0o644)];

#[test]
fn a_clean_image_passes_every_check() {
    let verdict = check(&[CLEAN], Some("app"), Some("app"), &["s3cr3t-value"]);
    assert_eq!(verdict.exit_code(), 0, "{verdict:#?}");
}

#[test]
fn a_secret_in_a_layer_is_found_even_when_a_later_layer_deletes_it() {
    let key = b"aws_access_key_id = AKIAQWERTYUIOPASDFGH\n";
    let verdict = check(
        &[
            CLEAN,
            &[("root/.aws/credentials", key, 0o600)],
            &[("root/.aws/.wh.credentials", b"", 0o644)],
        ],
        None,
        None,
        &[],
    );
    let (status, problems) = status(&verdict, "no-secrets");
    assert_eq!(*status, Status::Failed);
    assert!(problems[0].contains("AWS access key id"), "{problems:?}");
    assert!(problems[0].contains("/root/.aws/credentials"));
    assert_eq!(verdict.exit_code(), 1);
}

#[test]
fn a_build_secret_value_is_found_but_never_printed() {
    let verdict = check(
        &[&[("etc/app.conf", b"token=hunter2-build-token\n", 0o644)]],
        None,
        None,
        &["hunter2-build-token"],
    );
    let (status, problems) = status(&verdict, "no-secrets");
    assert_eq!(*status, Status::Failed);
    assert!(problems[0].contains("build secret #1"));
    assert!(!serde_json::to_string(&verdict).unwrap().contains("hunter2"));
}

#[test]
fn the_documentation_key_and_a_bare_pem_header_are_not_secrets() {
    let verdict = check(
        &[&[
            (
                "usr/share/doc/awscli/example",
                b"AKIAIOSFODNN7EXAMPLE\n",
                0o644,
            ),
            (
                "usr/bin/ssh-keygen",
                b"\0-----BEGIN OPENSSH PRIVATE KEY-----\n\0",
                0o755,
            ),
        ]],
        None,
        None,
        &[],
    );
    assert_eq!(*status(&verdict, "no-secrets").0, Status::Passed);
}

#[test]
fn apt_lists_left_behind_are_found() {
    let verdict = check(
        &[&[
            ("var/lib/apt/lists/lock", b"", 0o640),
            ("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4", b"lists", 0o644),
        ]],
        None,
        None,
        &[],
    );
    let (status, problems) = status(&verdict, "no-package-caches");
    assert_eq!(*status, Status::Failed);
    assert!(problems[0].contains("/var/lib/apt/lists"), "{problems:?}");
    // A warning: the verdict still passes.
    assert_eq!(verdict.exit_code(), 0);
}

#[test]
fn a_whiteout_removes_the_apt_lists() {
    let verdict = check(
        &[
            &[("var/lib/apt/lists/x_Packages", b"lists", 0o644)],
            &[("var/lib/apt/lists/.wh.x_Packages", b"", 0o644)],
        ],
        None,
        None,
        &[],
    );
    assert_eq!(
        *status(&verdict, "no-package-caches").0,
        Status::Passed,
        "{verdict:#?}"
    );
}

#[test]
fn a_world_writable_file_outside_tmp_is_found() {
    let verdict = check(
        &[&[("etc/app.conf", b"x", 0o666), ("tmp/scratch", b"x", 0o666)]],
        None,
        None,
        &[],
    );
    let (status, problems) = status(&verdict, "no-world-writable");
    assert_eq!(*status, Status::Failed);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("/etc/app.conf"));
    assert_eq!(verdict.exit_code(), 1);
}

#[test]
fn the_user_must_be_the_one_the_recipe_asks_for() {
    let root = check(&[CLEAN], None, Some("app"), &[]);
    assert_eq!(*status(&root, "non-root-user").0, Status::Failed);
    assert_eq!(root.exit_code(), 1);
    let other = check(&[CLEAN], Some("nobody"), Some("app"), &[]);
    assert_eq!(*status(&other, "non-root-user").0, Status::Failed);
    let asked_root = check(&[CLEAN], Some("0"), Some("0"), &[]);
    assert_eq!(*status(&asked_root, "non-root-user").0, Status::Failed);
    let unasked = check(&[CLEAN], None, None, &[]);
    assert!(matches!(
        status(&unasked, "non-root-user").0,
        Status::Skipped { .. }
    ));
}
