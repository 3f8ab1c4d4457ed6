//! Findings of issue 13 for this group of components (see `mod.rs`): terraform, tflint,
//! terragrunt, terratest and opa.

use crate::replay::{document, only_steps, replay, vendor, Recording};
use std::collections::BTreeMap;
use std::process::Command;

/// The primary key fingerprint of the HashiCorp release key.
const HASHICORP: &str = "C874011F0AB405110D02105534365D9472D7468F";
/// Its signing subkey (`gpg --list-keys --with-subkey-fingerprints` of the embedded block).
const HASHICORP_SIGNING: &str = "374EC75B485913604A831CC7C820C6D5CD27AB87";

fn recording(component: &str, version: &str, os: &str) -> Recording {
    vendor(component)
        .recording(version, os)
        .unwrap_or_else(|| panic!("no recording of {component} {version} on {os}"))
        .clone()
}

/// The finding: with no `.tflint.hcl` the recommended preset warns on a `main.tf` without
/// `required_version`, and tflint exits 2 on a warning, so the old "good" case failed. The test
/// phase must pass on TFLint's recorded behaviour (the warning and exit 2 when the rule fires,
/// exit 1 on a syntax error), on every Linux document.
#[test]
fn tflint_test_passes_without_a_tflint_hcl() {
    for os in ["debian12", "ubuntu2204", "amazonlinux2023"] {
        let rendered = document("tflint", os);
        let recorded = recording("tflint", &rendered.version, os);
        let Some(outcome) = replay(&rendered.document, &["test"], &recorded, &BTreeMap::new())
        else {
            return;
        };
        assert!(outcome.passed, "{os}: {}", outcome.output);
    }
}

/// The test asserts tflint's documented exit statuses (0 clean, 2 issues found, 1 error): a
/// tflint that reports nothing (exit 0 everywhere) or treats a syntax error as a mere issue
/// (exit 2) must fail it.
#[test]
fn tflint_test_asserts_the_documented_exit_codes() {
    let rendered = document("tflint", "debian12");
    let lenient = Recording::from_yaml(
        r#"
version: "0.64.0"
source: a tflint that finds nothing (exit 0 on every module)
tools:
  /usr/local/bin/tflint:
    - args: "--format *"
      exit: 0
"#,
    );
    let errors_as_issues = Recording::from_yaml(
        r#"
version: "0.64.0"
source: a tflint that exits 2 on a syntax error
tools:
  /usr/local/bin/tflint:
    - args: "--format *"
      script: |
        if grep -q required_version main.tf; then exit 0; fi
        exit 2
"#,
    );
    for (name, fake) in [
        ("exit 0 everywhere", lenient),
        ("exit 2 on an error", errors_as_issues),
    ] {
        let Some(outcome) = replay(&rendered.document, &["test"], &fake, &BTreeMap::new()) else {
            return;
        };
        assert!(!outcome.passed, "{name}: {}", outcome.output);
    }
}

/// The finding: `opa eval --format raw` prints the values of a query's expressions on one line
/// separated by spaces (`true true`), so comparing it with `true` failed. The test phase must
/// pass on OPA's recorded raw output, and the recording must model the two-expression case.
#[test]
fn opa_test_does_not_compare_two_raw_expressions_with_true() {
    for os in ["debian12", "ubuntu2204", "amazonlinux2023"] {
        let rendered = document("opa", os);
        let recorded = recording("opa", &rendered.version, os);
        let Some(outcome) = replay(&rendered.document, &["test"], &recorded, &BTreeMap::new())
        else {
            return;
        };
        assert!(outcome.passed, "{os}: {}", outcome.output);
        assert!(
            outcome.output.contains("alice: true, bob: false"),
            "{os}: {}",
            outcome.output
        );
    }
    // The recorded raw formatter, asked the old two-expression query, prints `true true`.
    let probe: imagesmith_awstoe::AwstoeDocument = serde_json::from_value(serde_json::json!({
        "name": "opa-raw-probe",
        "schemaVersion": "1.0",
        "phases": [{"name": "test", "steps": [{"name": "Raw", "action": "ExecuteBash", "inputs": {"commands": [
            "set -euo pipefail\nresult=$(echo '{\"user\": \"alice\", \"roles\": [\"admin\"]}' | opa eval --stdin-input --format raw 'input.user == \"alice\"; \"admin\" in input.roles')\ntest \"$result\" = 'true true'"
        ]}}]}]
    }))
    .expect("a document");
    let recorded = recording("opa", "1.21.0", "debian12");
    let Some(outcome) = replay(&probe, &["test"], &recorded, &BTreeMap::new()) else {
        return;
    };
    assert!(outcome.passed, "{}", outcome.output);
}

/// The finding: AWSTOE under SSM runs without `HOME`, and Go then refuses to build (`GOCACHE is
/// not defined and neither $XDG_CACHE_HOME nor $HOME are defined`; golang/go#29267,
/// amazon-ssm-agent#427). The replay sandbox has no `HOME` either, and the recorded `go` prints
/// that error when nothing tells it where its build cache is: the step that installs terratest
/// and the test phase must both pass.
#[test]
fn terratest_builds_without_home_under_ssm() {
    for os in ["debian12", "ubuntu2204", "amazonlinux2023"] {
        let rendered = document("terratest", os);
        let recorded = recording("terratest", &rendered.version, os);
        let install = only_steps(&rendered.document, "build", &["InstallTerratest"]);
        for (what, doc, phases) in [
            ("build/InstallTerratest", &install, &["build"][..]),
            ("test", &rendered.document, &["test"][..]),
        ] {
            let Some(outcome) = replay(doc, phases, &recorded, &BTreeMap::new()) else {
                return;
            };
            assert!(outcome.passed, "{os} {what}: {}", outcome.output);
            assert!(
                !outcome.output.contains("GOCACHE is not defined"),
                "{os} {what}: {}",
                outcome.output
            );
        }
    }
}

/// A Terraform zip holding a `terraform` script, its SHA256SUMS and a signature, served to the
/// document's WebDownload step, with a fake `gpg` answering `--verify` with `status`.
struct Release {
    downloads: BTreeMap<String, Vec<u8>>,
    fake_gpg: Recording,
}

fn release(version: &str, status: &str) -> Release {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let terraform = dir.path().join("terraform");
    std::fs::write(&terraform, "#!/bin/sh\necho fake terraform\n").expect("write");
    let asset = format!("terraform_{version}_linux_amd64.zip");
    let zipped = Command::new("zip")
        .current_dir(dir.path())
        .args(["-q", &asset, "terraform"])
        .status()
        .expect("run zip");
    assert!(zipped.success(), "zip");
    let zip = std::fs::read(dir.path().join(&asset)).expect("read the zip");
    let digest = Command::new("sha256sum")
        .arg(dir.path().join(&asset))
        .output()
        .expect("run sha256sum");
    let hash = String::from_utf8_lossy(&digest.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string();
    let base = format!("https://releases.hashicorp.com/terraform/{version}");
    let mut downloads = BTreeMap::new();
    downloads.insert(format!("{base}/{asset}"), zip);
    downloads.insert(
        format!("{base}/terraform_{version}_SHA256SUMS"),
        format!("{hash}  {asset}\n").into_bytes(),
    );
    downloads.insert(
        format!("{base}/terraform_{version}_SHA256SUMS.sig"),
        b"signature".to_vec(),
    );
    // The old document fetched the key from hashicorp.com at build time.
    downloads.insert(
        String::from("https://www.hashicorp.com/.well-known/pgp-key.txt"),
        b"key".to_vec(),
    );
    let indented: String = status.lines().map(|l| format!("        {l}\n")).collect();
    let fake_gpg = Recording::from_yaml(&format!(
        r#"
version: "{version}"
source: gpg 2.2.40 status lines recorded on Debian 12 for a good signature and for one by an expired key (EXPKEYSIG, and still VALIDSIG), fingerprints replaced by the HashiCorp key's; REVKEYSIG as gnupg doc/DETAILS defines it
tools:
  /usr/local/bin/gpg:
    - args: "*--import*"
      exit: 0
    - args: "*--verify*"
      exit: 0
      stdout: |
{indented}"#
    ));
    Release {
        downloads,
        fake_gpg,
    }
}

fn status(verdict: &str, primary: &str) -> String {
    let long_id = &primary[24..];
    format!(
        "[GNUPG:] NEWSIG\n[GNUPG:] KEY_CONSIDERED {primary} 0\n[GNUPG:] SIG_ID JuRkspgTLF/5HyvIeA9zsbDUSKo 2026-04-01 1775001600\n[GNUPG:] {verdict} {long_id} HashiCorp Security (hashicorp.com/security) <security@hashicorp.com>\n[GNUPG:] VALIDSIG {HASHICORP_SIGNING} 2026-04-01 1775001600 0 4 0 1 10 00 {primary}\n"
    )
}

/// The finding (integrity): the terraform document must verify SHA256SUMS with the HashiCorp
/// key pinned by fingerprint and refuse an expired or revoked key. gpg reports a good
/// signature by an expired key as EXPKEYSIG and still prints VALIDSIG, which the old check
/// (VALIDSIG naming the fingerprint) accepted.
#[test]
fn terraform_refuses_sha256sums_signed_by_an_expired_or_revoked_key() {
    let rendered = document("terraform", "debian12");
    let version = rendered.version.clone();
    let steps = only_steps(
        &rendered.document,
        "build",
        &["Download", "VerifyAndInstall"],
    );
    let cases = [
        ("a good signature", status("GOODSIG", HASHICORP), true),
        ("an expired key", status("EXPKEYSIG", HASHICORP), false),
        ("a revoked key", status("REVKEYSIG", HASHICORP), false),
        (
            "another key",
            status("GOODSIG", "75DDEC44AF65DE83158B31A6C3B3BD5CB89AB985"),
            false,
        ),
    ];
    for (name, text, passes) in cases {
        let fixture = release(&version, &text);
        let Some(outcome) = replay(&steps, &["build"], &fixture.fake_gpg, &fixture.downloads)
        else {
            return;
        };
        assert_eq!(outcome.passed, passes, "{name}: {}", outcome.output);
    }
}

/// The HashiCorp key is embedded in the document (not fetched at build time from the site the
/// release comes from), and the block is the key of the pinned fingerprint, not expired today.
#[test]
fn terraform_embeds_the_pinned_hashicorp_key_unexpired() {
    let rendered = document("terraform", "amazonlinux2023");
    let text = rendered.json.to_string();
    assert!(
        !text.contains("pgp-key.txt\",\"destination"),
        "the key is still downloaded at build time"
    );
    let step = rendered.json["phases"][0]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == "VerifyAndInstall")
        .expect("a VerifyAndInstall step");
    let script = step["inputs"]["commands"][0].as_str().expect("a script");
    let begin = script
        .find("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        .expect("an embedded key block");
    let end = script
        .find("-----END PGP PUBLIC KEY BLOCK-----")
        .expect("its end")
        + "-----END PGP PUBLIC KEY BLOCK-----".len();
    let block: String = script[begin..end]
        .lines()
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    assert!(script.contains(HASHICORP), "the fingerprint is pinned");
    let home = tempfile::tempdir().expect("a GNUPGHOME");
    let key = home.path().join("key.asc");
    std::fs::write(&key, block).expect("write the key");
    let gpg = |args: &[&str]| {
        Command::new("gpg")
            .env("GNUPGHOME", home.path())
            .args(["--batch"])
            .args(args)
            .output()
    };
    let Ok(imported) = gpg(&["--import", key.to_str().expect("a path")]) else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "gpg is missing"
        );
        eprintln!("skipped: gpg is missing");
        return;
    };
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let listed = gpg(&["--with-colons", "--list-keys"]).expect("gpg --list-keys");
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listing.contains(&format!("fpr:::::::::{HASHICORP}:")),
        "{listing}"
    );
    let pub_line = listing
        .lines()
        .find(|l| l.starts_with("pub:"))
        .expect("a pub line");
    // Field 2 is the validity (`e` expired, `r` revoked), field 7 the expiry.
    let fields: Vec<&str> = pub_line.split(':').collect();
    assert!(!matches!(fields[1], "e" | "r"), "{pub_line}");
    assert!(
        listing.contains(&format!("fpr:::::::::{HASHICORP_SIGNING}:")),
        "{listing}"
    );
}
