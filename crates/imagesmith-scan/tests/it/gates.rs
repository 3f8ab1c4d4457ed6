//! Scanner gates on Trivy, Grype and Snyk reports: threshold, unfixed, waivers, expired
//! waivers, a missing scanner, a clean image, a garbage report.

use imagesmith_model::{ScannerGate, Scanners, Severity, Waiver};
use imagesmith_scan::{
    parse_report_file, scan, store_verdict, stored_verdict, Decision, ScanInput, Scanner, Status,
    VERDICT_MEDIA_TYPE,
};

use crate::{fixture, layout};

const TODAY: &str = "2026-11-21";

fn gate(fail_on: Severity, ignore_unfixed: bool) -> Option<ScannerGate> {
    Some(ScannerGate {
        enabled: true,
        fail_on,
        ignore_unfixed,
    })
}

fn only(scanner: Scanner, gate: Option<ScannerGate>, waivers: Vec<Waiver>) -> Scanners {
    let mut scanners = Scanners {
        waivers,
        ..Scanners::default()
    };
    match scanner {
        Scanner::Trivy => scanners.trivy = gate,
        Scanner::Grype => scanners.grype = gate,
        Scanner::Snyk => scanners.snyk = gate,
    }
    scanners
}

fn input(dir: &std::path::Path, scanner: Scanner, scanners: Scanners) -> ScanInput {
    ScanInput {
        layout: layout(dir, &[&[("etc/hostname", b"scan\n", 0o644)]], None),
        reference: None,
        image: "golden".into(),
        user: None,
        scanners: Some(scanners),
        reports: vec![(scanner, fixture(&format!("{scanner}.json")))],
        secrets: Vec::new(),
        today: TODAY.into(),
    }
}

fn waiver(id: &str, expires: &str) -> Waiver {
    Waiver {
        id: id.into(),
        reason: "patched in the next base image".into(),
        expires: expires.into(),
        package: None,
        image: None,
    }
}

#[test]
fn reports_parse_into_findings() {
    let trivy = parse_report_file(Scanner::Trivy, &fixture("trivy.json")).unwrap();
    assert_eq!(trivy.len(), 3);
    assert_eq!(trivy[0].id, "CVE-2024-5535");
    assert_eq!(trivy[0].fixed.as_deref(), Some("3.0.16-1~deb12u1"));
    assert_eq!(trivy[2].fixed, None);
    let grype = parse_report_file(Scanner::Grype, &fixture("grype.json")).unwrap();
    assert_eq!(grype.len(), 4);
    assert_eq!(grype[3].severity, imagesmith_scan::Severity::Negligible);
    let snyk = parse_report_file(Scanner::Snyk, &fixture("snyk.json")).unwrap();
    assert_eq!(snyk.len(), 3);
    assert_eq!(snyk[0].package, "openssl/libssl3");
}

#[test]
fn each_scanner_fails_on_a_fixed_high_finding() {
    for scanner in Scanner::ALL {
        let dir = tempfile::tempdir().unwrap();
        let verdict = scan(&input(
            dir.path(),
            scanner,
            only(scanner, gate(Severity::High, true), vec![]),
        ))
        .unwrap();
        assert_eq!(verdict.exit_code(), 1, "{scanner}: {verdict:#?}");
        assert_eq!(verdict.scanners[0].status, Status::Failed);
        assert_eq!(verdict.scanners[0].counts.counted, 1, "{scanner}");
        assert!(verdict.summary().starts_with("the gate failed: 1 findings"));
    }
}

#[test]
fn a_medium_finding_passes_with_fail_on_high() {
    for scanner in Scanner::ALL {
        let dir = tempfile::tempdir().unwrap();
        let verdict = scan(&input(
            dir.path(),
            scanner,
            only(scanner, gate(Severity::Critical, true), vec![]),
        ))
        .unwrap();
        // Only the unfixed critical is at the threshold, and unfixed findings are ignored.
        assert_eq!(verdict.exit_code(), 0, "{scanner}: {verdict:#?}");
        let medium = verdict
            .findings
            .iter()
            .find(|f| f.finding.severity == imagesmith_scan::Severity::Medium)
            .unwrap();
        assert_eq!(medium.decision, Decision::BelowThreshold);
    }
}

#[test]
fn unfixed_findings_count_only_with_ignore_unfixed_false() {
    for scanner in Scanner::ALL {
        let dir = tempfile::tempdir().unwrap();
        let ignoring = scan(&input(
            dir.path(),
            scanner,
            only(scanner, gate(Severity::Critical, true), vec![]),
        ))
        .unwrap();
        assert_eq!(ignoring.scanners[0].counts.unfixed, 1, "{scanner}");
        assert_eq!(ignoring.exit_code(), 0);
        let dir = tempfile::tempdir().unwrap();
        let counting = scan(&input(
            dir.path(),
            scanner,
            only(scanner, gate(Severity::Critical, false), vec![]),
        ))
        .unwrap();
        assert_eq!(counting.scanners[0].counts.counted, 1, "{scanner}");
        assert_eq!(counting.exit_code(), 1);
    }
}

#[test]
fn a_live_waiver_waives_and_an_expired_one_does_not() {
    let ids = [
        (Scanner::Trivy, "CVE-2024-5535"),
        (Scanner::Grype, "CVE-2024-5535"),
        (Scanner::Snyk, "SNYK-DEBIAN12-OPENSSL-7413544"),
    ];
    for (scanner, id) in ids {
        let dir = tempfile::tempdir().unwrap();
        let live = scan(&input(
            dir.path(),
            scanner,
            only(scanner, gate(Severity::High, true), vec![waiver(id, TODAY)]),
        ))
        .unwrap();
        assert_eq!(live.exit_code(), 0, "{scanner}: {live:#?}");
        let waived = live.findings.iter().find(|f| f.finding.id == id).unwrap();
        assert_eq!(waived.decision, Decision::Waived);
        assert!(waived.waived_by.as_deref().unwrap().starts_with(id));
        assert!(live.expired_waivers.is_empty());

        let dir = tempfile::tempdir().unwrap();
        let expired = scan(&input(
            dir.path(),
            scanner,
            only(
                scanner,
                gate(Severity::High, true),
                vec![waiver(id, "2026-11-20")],
            ),
        ))
        .unwrap();
        assert_eq!(expired.exit_code(), 1, "{scanner}");
        assert_eq!(expired.expired_waivers.len(), 1);
        let json = serde_json::to_value(&expired).unwrap();
        assert_eq!(json["expired_waivers"][0]["id"], id);
        let counted = expired
            .findings
            .iter()
            .find(|f| f.finding.id == id)
            .unwrap();
        assert_eq!(counted.decision, Decision::Counted);
        assert!(counted.expired_waiver.is_some());
    }
}

#[test]
fn a_waiver_for_another_package_or_image_does_not_waive() {
    let dir = tempfile::tempdir().unwrap();
    let mut other_package = waiver("CVE-2024-5535", TODAY);
    other_package.package = Some("libcrypto3".into());
    let mut other_image = waiver("CVE-2024-5535", TODAY);
    other_image.image = Some("another".into());
    let scanners = only(
        Scanner::Trivy,
        gate(Severity::High, true),
        vec![other_package, other_image],
    );
    let verdict = scan(&input(dir.path(), Scanner::Trivy, scanners)).unwrap();
    assert_eq!(verdict.exit_code(), 1);
}

#[test]
fn a_configured_scanner_that_is_not_installed_broke() {
    // The test process's PATH must not find trivy.
    let empty = tempfile::tempdir().unwrap();
    let saved = std::env::var_os("PATH");
    // SAFETY: no other test of this binary reads PATH while scanners run without reports.
    unsafe { std::env::set_var("PATH", empty.path()) };
    let dir = tempfile::tempdir().unwrap();
    let mut input = input(
        dir.path(),
        Scanner::Trivy,
        only(Scanner::Trivy, gate(Severity::High, true), vec![]),
    );
    input.reports.clear();
    let verdict = scan(&input);
    if let Some(path) = saved {
        unsafe { std::env::set_var("PATH", path) };
    }
    let verdict = verdict.unwrap();
    assert_eq!(verdict.exit_code(), 2);
    match &verdict.scanners[0].status {
        Status::Broke { reason } => assert!(reason.contains("not installed"), "{reason}"),
        other => panic!("expected broke, got {other:?}"),
    }
    assert!(verdict.summary().starts_with("the scanner broke: trivy:"));
}

#[test]
fn a_clean_report_passes() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("clean.json");
    std::fs::write(&report, r#"{"SchemaVersion":2,"ArtifactName":"x","Results":[{"Target":"x (debian 12.8)","Class":"os-pkgs","Type":"debian"}]}"#).unwrap();
    let mut input = input(
        dir.path(),
        Scanner::Trivy,
        only(Scanner::Trivy, gate(Severity::High, true), vec![]),
    );
    input.reports = vec![(Scanner::Trivy, report)];
    let verdict = scan(&input).unwrap();
    assert_eq!(verdict.exit_code(), 0, "{verdict:#?}");
    assert!(verdict.passed);
}

#[test]
fn a_garbage_or_unknown_schema_report_broke() {
    for name in ["garbage.json", "trivy-schema-1.json"] {
        let dir = tempfile::tempdir().unwrap();
        let mut input = input(
            dir.path(),
            Scanner::Trivy,
            only(Scanner::Trivy, gate(Severity::High, true), vec![]),
        );
        input.reports = vec![(Scanner::Trivy, fixture(name))];
        let verdict = scan(&input).unwrap();
        assert_eq!(verdict.exit_code(), 2, "{name}");
        match &verdict.scanners[0].status {
            Status::Broke { reason } => assert!(reason.contains(name), "{reason}"),
            other => panic!("expected broke, got {other:?}"),
        }
    }
    // A Grype report given as Trivy's is not Trivy's.
    assert!(parse_report_file(Scanner::Trivy, &fixture("grype.json")).is_err());
    assert!(parse_report_file(Scanner::Snyk, &fixture("trivy.json")).is_err());
    assert!(parse_report_file(Scanner::Grype, &fixture("snyk.json")).is_err());
}

#[test]
fn the_verdict_is_stored_beside_the_image_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let input = input(
        dir.path(),
        Scanner::Trivy,
        only(Scanner::Trivy, gate(Severity::High, true), vec![]),
    );
    let verdict = scan(&input).unwrap();
    store_verdict(&input.layout, &verdict).unwrap();
    store_verdict(&input.layout, &verdict).unwrap();
    let layout = imagesmith_oci::ImageLayout::open(&input.layout).unwrap();
    let verdicts: Vec<_> = layout
        .index()
        .manifests()
        .iter()
        .filter(|d| {
            d.artifact_type()
                .as_ref()
                .is_some_and(|t| t.to_string() == VERDICT_MEDIA_TYPE)
        })
        .collect();
    assert_eq!(verdicts.len(), 1);
    // The image is still the layout's only image.
    assert_eq!(
        layout.image(None).unwrap().digest().to_string(),
        verdict.digest
    );
    let stored = stored_verdict(&input.layout, &verdict.digest)
        .unwrap()
        .unwrap();
    assert_eq!(stored, verdict);
}
