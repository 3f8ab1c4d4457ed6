//! Findings of issue 13 for this group of components (see `mod.rs`): aws_cli, snyk, trivy and
//! grype.
//!
//! The signature findings run the rendered download and verify steps through
//! [`crate::replay`] with the downloads served: the document's embedded key block and pinned
//! fingerprint are swapped for a throwaway key's (made here with gpg, expired, revoked or valid),
//! so the step's own logic decides, exactly as it would for the vendor's key.

use crate::replay::{document, only_steps, replay, vendor, with_script, Outcome, Recording};
use imagesmith_awstoe::AwstoeDocument;
use std::collections::BTreeMap;
use std::process::Command;

use super::gpg::gpg;

const AWS_CLI_FINGERPRINT: &str = "FB5DB77FD5C118B80511ADA8A6310ACC4672475C";
const SNYK_FINGERPRINT: &str = "467717A30B2B4658415975629691DA64D0025194";
const ZIP_OSES: [&str; 2] = ["amazonlinux2023", "ubuntu2204"];
const KEY_BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const KEY_END: &str = "-----END PGP PUBLIC KEY BLOCK-----";

/// A throwaway signing key in its own GnuPG home.
struct Key {
    home: tempfile::TempDir,
    fingerprint: String,
}

impl Key {
    /// A key valid for a year, or (with `expired`) one made in 2020 that expired a day later.
    fn new(name: &str, expired: bool) -> Key {
        let home = tempfile::Builder::new()
            .prefix("imagesmith-gpg-")
            .tempdir()
            .expect("a GnuPG home");
        let uid = format!("{name} <{name}@example.invalid>");
        let mut args = vec!["--quick-gen-key", &uid, "ed25519", "sign"];
        if expired {
            args.splice(0..0, ["--faked-system-time", "20200101T000000"]);
            args.push("1d");
        } else {
            args.push("1y");
        }
        gpg(home.path(), &args);
        let listing =
            String::from_utf8(gpg(home.path(), &["--with-colons", "--list-keys"])).expect("UTF-8");
        let fingerprint = listing
            .lines()
            .find_map(|line| line.strip_prefix("fpr:::::::::"))
            .and_then(|rest| rest.split(':').next())
            .expect("a fingerprint")
            .to_string();
        Key { home, fingerprint }
    }

    /// Revokes the key with the revocation certificate gpg wrote when it made it.
    fn revoke(&self) {
        let path = self
            .home
            .path()
            .join("openpgp-revocs.d")
            .join(format!("{}.rev", self.fingerprint));
        // gpg guards the certificate with a leading colon against an accidental import
        let text = std::fs::read_to_string(&path)
            .expect("the revocation certificate")
            .replace(":-----BEGIN", "-----BEGIN");
        let certificate = self.home.path().join("revoke.asc");
        std::fs::write(&certificate, text).expect("write");
        gpg(
            self.home.path(),
            &["--import", certificate.to_str().expect("UTF-8")],
        );
    }

    fn public_block(&self) -> String {
        String::from_utf8(gpg(
            self.home.path(),
            &["--armor", "--export", &self.fingerprint],
        ))
        .expect("UTF-8")
    }

    fn sign(&self, data: &[u8], how: &str) -> Vec<u8> {
        let input = self.home.path().join("input");
        std::fs::write(&input, data).expect("write");
        let mut args = vec![how, "--output", "-"];
        if self.expired() {
            // Signed while the key was still valid
            args.splice(0..0, ["--faked-system-time", "20200101T010000"]);
        }
        args.push(input.to_str().expect("UTF-8"));
        gpg(self.home.path(), &args)
    }

    fn expired(&self) -> bool {
        let listing = String::from_utf8(gpg(self.home.path(), &["--with-colons", "--list-keys"]))
            .expect("UTF-8");
        listing.lines().any(|line| line.starts_with("pub:e:"))
    }
}

impl Drop for Key {
    /// Stops the gpg-agent that key generation started for this home.
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// `document` with the key block of `phase`/`step` swapped for `block` and the pinned
/// fingerprint `pinned` for `fingerprint`.
fn with_key(
    document: &AwstoeDocument,
    phase: &str,
    step: &str,
    pinned: &str,
    block: &str,
    fingerprint: &str,
) -> AwstoeDocument {
    // Panics unless `phase` has the step
    only_steps(document, phase, &[step]);
    with_script(document, step, |text| {
        let start = text.find(KEY_BEGIN).expect("an embedded key block");
        let end = text.find(KEY_END).expect("the key block's end") + KEY_END.len();
        assert!(text.contains(pinned), "{step} does not pin {pinned}");
        format!("{}{}{}", &text[..start], block.trim_end(), &text[end..])
            .replace(pinned, fingerprint)
    })
}

/// The embedded key block of `phase`/`step` of `document`.
fn embedded_key(document: &AwstoeDocument, phase: &str, step: &str) -> String {
    let json = serde_json::to_value(document).expect("serializes");
    let text = json["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == phase)
        .flat_map(|p| p["steps"].as_array().into_iter().flatten())
        .find(|s| s["name"] == step)
        .and_then(|s| s["inputs"]["commands"][0].as_str())
        .unwrap_or_else(|| panic!("{}: no {phase}/{step}", document.name))
        .to_string();
    let start = text.find(KEY_BEGIN).expect("an embedded key block");
    let end = text.find(KEY_END).expect("the key block's end") + KEY_END.len();
    text[start..end].to_string()
}

/// `(fingerprint, expiry)` of the primary key of an armored block; expiry 0 when it has none.
fn key_facts(block: &str) -> (String, u64) {
    let home = tempfile::Builder::new()
        .prefix("imagesmith-gpg-")
        .tempdir()
        .expect("a GnuPG home");
    let path = home.path().join("key.asc");
    std::fs::write(&path, block).expect("write");
    let listing = String::from_utf8(gpg(
        home.path(),
        &[
            "--with-colons",
            "--show-keys",
            path.to_str().expect("UTF-8"),
        ],
    ))
    .expect("UTF-8");
    let pub_line = listing
        .lines()
        .find(|l| l.starts_with("pub:"))
        .expect("a primary key");
    let expiry = pub_line.split(':').nth(6).unwrap_or_default();
    let fingerprint = listing
        .lines()
        .find_map(|line| line.strip_prefix("fpr:::::::::"))
        .and_then(|rest| rest.split(':').next())
        .expect("a fingerprint")
        .to_string();
    (fingerprint, expiry.parse().unwrap_or(0))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn no_tools() -> Recording {
    Recording {
        version: String::from("none"),
        source: String::from("no fake tools: the host's gpg, awk and sha256sum"),
        ..Recording::default()
    }
}

/// The AWS CLI zip document of `os` with a throwaway key pinned, run up to its Verify step with
/// `zip` and `signature` served.
fn aws_cli_verify(os: &str, key: &Key, zip: &[u8], signature: &[u8]) -> Option<Outcome> {
    let rendered = document("aws_cli", os);
    let swapped = with_key(
        &rendered.document,
        "build",
        "Verify",
        AWS_CLI_FINGERPRINT,
        &key.public_block(),
        &key.fingerprint,
    );
    let steps = only_steps(&swapped, "build", &["Download", "Verify"]);
    let url = format!(
        "https://awscli.amazonaws.com/awscli-exe-linux-x86_64-{}.zip",
        rendered.version
    );
    let downloads = BTreeMap::from([
        (url.clone(), zip.to_vec()),
        (format!("{url}.sig"), signature.to_vec()),
    ]);
    replay(&steps, &["build"], &no_tools(), &downloads)
}

#[test]
fn aws_cli_key_expiry_an_expired_or_revoked_key_is_refused_and_a_valid_one_passes() {
    let zip = b"PK\x03\x04 a stand-in for the AWS CLI zip".to_vec();
    let valid = Key::new("valid", false);
    let expired = Key::new("expired", true);
    assert!(expired.expired(), "the throwaway key should have expired");
    let revoked = Key::new("revoked", false);
    let revoked_signature = revoked.sign(&zip, "--detach-sign");
    revoked.revoke();
    let other = Key::new("other", false);
    for os in ZIP_OSES {
        let Some(good) = aws_cli_verify(os, &valid, &zip, &valid.sign(&zip, "--detach-sign"))
        else {
            return;
        };
        assert!(
            good.passed,
            "{os}: a valid signature is refused:\n{}",
            good.output
        );
        assert!(good.output.contains("good signature"), "{}", good.output);

        // An expired key, a revoked key, a zip that is not the signed one, and a valid key
        // that is not the pinned one (which gpg alone accepts)
        let mut tampered = zip.clone();
        tampered.extend_from_slice(b" and one byte more");
        let cases = [
            (
                &expired,
                &zip,
                expired.sign(&zip, "--detach-sign"),
                "an expired key passes",
                Some("EXPKEYSIG"),
            ),
            (
                &revoked,
                &zip,
                revoked_signature.clone(),
                "a revoked key passes",
                Some("REVKEYSIG"),
            ),
            (
                &valid,
                &tampered,
                valid.sign(&zip, "--detach-sign"),
                "a tampered zip passes",
                Some("BADSIG"),
            ),
            (
                &valid,
                &zip,
                other.sign(&zip, "--detach-sign"),
                "another key passes",
                None,
            ),
        ];
        for (key, served, signature, why, says) in cases {
            let outcome = aws_cli_verify(os, key, served, &signature).expect("runs");
            assert!(!outcome.passed, "{os}: {why}:\n{}", outcome.output);
            assert_eq!(
                outcome.failed_step.as_deref(),
                Some("build/Verify"),
                "{why}"
            );
            if let Some(says) = says {
                assert!(outcome.output.contains(says), "{why}: {}", outcome.output);
            }
        }
    }
}

#[test]
fn aws_cli_key_expiry_the_embedded_key_is_the_pinned_one_and_not_expired() {
    for os in ZIP_OSES {
        let rendered = document("aws_cli", os);
        let (fingerprint, expiry) = key_facts(&embedded_key(&rendered.document, "build", "Verify"));
        assert_eq!(fingerprint, AWS_CLI_FINGERPRINT, "{os}");
        assert!(
            expiry == 0 || expiry > now(),
            "{os}: the embedded AWS CLI key expired at {expiry}: refresh it from the AWS CLI User Guide"
        );
    }
}

/// The Snyk document of `os` with a throwaway key pinned, run up to VerifyAndInstall with the
/// binary and `sums` served.
fn snyk_verify(os: &str, key: &Key, binary: &[u8], sums: &[u8]) -> Option<Outcome> {
    let rendered = document("snyk", os);
    let swapped = with_key(
        &rendered.document,
        "build",
        "VerifyAndInstall",
        SNYK_FINGERPRINT,
        &key.public_block(),
        &key.fingerprint,
    );
    let steps = only_steps(&swapped, "build", &["Download", "VerifyAndInstall"]);
    let base = format!("https://downloads.snyk.io/cli/v{}/", rendered.version);
    let downloads = BTreeMap::from([
        (format!("{base}snyk-linux"), binary.to_vec()),
        (format!("{base}sha256sums.txt.asc"), sums.to_vec()),
    ]);
    replay(&steps, &["build"], &no_tools(), &downloads)
}

fn sha256_line(data: &[u8], name: &str) -> String {
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join(name);
    std::fs::write(&path, data).expect("write");
    let output = Command::new("sha256sum")
        .arg(&path)
        .output()
        .expect("sha256sum");
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    format!(
        "{}  {name}\n",
        text.split_whitespace().next().expect("a hash")
    )
}

#[test]
fn snyk_clear_signed_sums_are_verified_with_the_pinned_key_before_a_hash_is_read() {
    let binary = b"\x7fELF a stand-in for snyk-linux".to_vec();
    let tampered = b"\x7fELF not the binary Snyk signed".to_vec();
    let sums = format!(
        "{}{}",
        sha256_line(b"alpine", "snyk-alpine"),
        sha256_line(&binary, "snyk-linux")
    );
    let valid = Key::new("snyk-valid", false);
    let expired = Key::new("snyk-expired", true);
    let other = Key::new("snyk-other", false);
    let signed = valid.sign(sums.as_bytes(), "--clear-sign");
    for os in crate::replay::LINUX {
        let Some(good) = snyk_verify(os, &valid, &binary, &signed) else {
            return;
        };
        assert!(
            good.passed,
            "{os}: the signed sums are refused:\n{}",
            good.output
        );
        assert!(good.output.contains("snyk-linux: OK"), "{}", good.output);

        // What the old document accepted (the same hashes without a signature), sums signed
        // by another key, and sums signed by an expired key
        let by_other = other.sign(sums.as_bytes(), "--clear-sign");
        let by_expired = expired.sign(sums.as_bytes(), "--clear-sign");
        for (key, signed_sums, why, says) in [
            (&valid, sums.as_bytes(), "unsigned sums pass", None),
            (
                &valid,
                &by_other[..],
                "sums signed by another key pass",
                None,
            ),
            (
                &expired,
                &by_expired[..],
                "an expired key passes",
                Some("EXPKEYSIG"),
            ),
        ] {
            let outcome = snyk_verify(os, key, &binary, signed_sums).expect("runs");
            assert!(!outcome.passed, "{os}: {why}:\n{}", outcome.output);
            if let Some(says) = says {
                assert!(outcome.output.contains(says), "{}", outcome.output);
            }
        }

        // A line outside the signature naming the tampered binary: only the signed text counts
        let mut smuggled = sha256_line(&tampered, "snyk-linux").into_bytes();
        smuggled.extend_from_slice(&signed);
        let outcome = snyk_verify(os, &valid, &tampered, &smuggled).expect("runs");
        assert!(
            !outcome.passed,
            "{os}: an unsigned line is trusted:\n{}",
            outcome.output
        );
    }
}

#[test]
fn snyk_the_embedded_key_is_the_pinned_one_and_not_expired() {
    for os in crate::replay::LINUX {
        let rendered = document("snyk", os);
        let (fingerprint, expiry) = key_facts(&embedded_key(
            &rendered.document,
            "build",
            "VerifyAndInstall",
        ));
        assert_eq!(fingerprint, SNYK_FINGERPRINT, "{os}");
        assert!(
            expiry == 0 || expiry > now(),
            "{os}: the embedded Snyk key expired at {expiry}: refresh it from the Snyk docs"
        );
    }
}

#[test]
fn trivy_signs_with_sigstore_only_and_the_notes_say_what_is_verified() {
    let (catalog, _) = imagesmith_catalog::builtin();
    let trivy = catalog.components.get("trivy").expect("trivy");
    for (os, platform) in &trivy.platforms {
        let notes = platform.notes.join("\n");
        assert!(
            notes.contains("sigstore") && notes.contains("checksums"),
            "{os}: the notes do not say what is and is not verified:\n{notes}"
        );
        assert!(
            notes.contains("not checked"),
            "{os}: the notes do not say the sigstore bundles are not checked:\n{notes}"
        );
    }
}

#[test]
fn trivy_test_finds_the_planted_secret_with_the_recorded_trivy_and_keeps_its_cache_out_of_tmp() {
    let vendor = vendor("trivy");
    for os in crate::replay::LINUX {
        let rendered = document("trivy", os);
        let recorded = vendor
            .recording(&rendered.version, os)
            .expect("a recording");
        let Some(outcome) = replay(&rendered.document, &["test"], recorded, &BTreeMap::new())
        else {
            return;
        };
        assert!(outcome.passed, "{os}:\n{}", outcome.output);
        assert!(outcome.output.contains("github-pat"), "{}", outcome.output);
        // Without HOME (SSM) trivy's default cache is os.TempDir()/trivy (pkg/cache/dir.go),
        // which would stay in the image
        let script = rendered.json["phases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["name"] == "test")
            .flat_map(|p| p["steps"].as_array().into_iter().flatten())
            .filter_map(|s| s["inputs"]["commands"][0].as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            script.contains("--cache-dir \"$work/cache\""),
            "{os}: the test does not give trivy a cache directory of its own"
        );
    }
}

#[test]
fn grype_db_status_without_a_db_is_the_only_failure_the_test_accepts() {
    let vendor = vendor("grype");
    let broken = Recording::from_yaml(
        r#"
version: any
source: a grype whose configuration cannot be read (the text of cmd/grype/cli/commands/db_status.go's first error)
tools:
  /usr/local/bin/grype:
    - args: db status
      stderr: "[0000] ERROR unable to create distribution client: invalid configuration\n"
      exit: 1
"#,
    );
    for os in crate::replay::LINUX {
        let rendered = document("grype", os);
        let recorded = vendor
            .recording(&rendered.version, os)
            .expect("a recording");
        let Some(outcome) = replay(&rendered.document, &["test"], recorded, &BTreeMap::new())
        else {
            return;
        };
        assert!(
            outcome.passed,
            "{os}: the recorded no-DB status fails:\n{}",
            outcome.output
        );
        assert!(
            outcome.output.contains("Status:    invalid"),
            "{}",
            outcome.output
        );

        // The old test swallowed every failure of `grype db status` with `|| echo`
        let outcome = replay(
            &rendered.document,
            &["test"],
            &recorded.clone().with(broken.clone()),
            &BTreeMap::new(),
        )
        .expect("runs");
        assert!(
            !outcome.passed,
            "{os}: a broken grype passes:\n{}",
            outcome.output
        );
    }
}
