//! Findings of issue 13 for this group of components (see `mod.rs`): nodejs, python, java,
//! docker.

use crate::replay::{
    document, only_steps, parameter, replay, with_parameter, with_script, Recording,
};
use imagesmith_awstoe::AwstoeDocument;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// dnf of AL2023 as recorded: it installs the packages the AL2023 User Guide names and
/// answers any other name as dnf 4 does ("No match for argument", "Unable to find a match").
fn al2023_dnf(known: &[&str]) -> Recording {
    let known = known.join(" ");
    Recording::from_yaml(&format!(
        r#"
version: al2023
source: dnf 4 of AL2023 (its messages for an unknown package name); package names from the AL2023 User Guide, "Node.js in AL2023"
tools:
  /usr/bin/dnf:
    - args: clean all
      stdout: "0 files removed\n"
    - args: "install *"
      script: |
        known=" {known} "
        missing=""
        for package in "$@"; do
          case "$package" in install | -*) continue ;; esac
          if [[ "$known" != *" $package "* ]]; then
            echo "No match for argument: $package"
            missing="$missing $package"
          fi
        done
        if [ -n "$missing" ]; then
          echo "Error: Unable to find a match:$missing" >&2
          exit 1
        fi
        echo "Complete!"
  /usr/sbin/alternatives:
    - args: "--set node /usr/bin/node-*"
      stdout: ""
"#
    ))
}

#[test]
fn nodejs_al2023_installs_npm_from_nodejs_npm() {
    // AL2023 User Guide, "Node.js in AL2023": Node 18's node and npm are the `nodejs` and
    // `nodejs-npm` packages; later lines are `nodejsN` and `nodejsN-npm`.
    let dnf = al2023_dnf(&[
        "nodejs",
        "nodejs-npm",
        "nodejs20",
        "nodejs20-npm",
        "nodejs22",
        "nodejs22-npm",
        "nodejs24",
        "nodejs24-npm",
    ]);
    let rendered = document("nodejs", "amazonlinux2023");
    assert_eq!(rendered.document.name, "nodejs-al2023");
    for line in ["18", "20", "22", "24"] {
        let install = only_steps(
            &with_parameter(&rendered.document, "version", line),
            "build",
            &["InstallFromRepository"],
        );
        let Some(outcome) = replay(&install, &["build"], &dnf, &BTreeMap::new()) else {
            return;
        };
        assert!(
            outcome.passed,
            "Node.js {line} does not install on AL2023:\n{}",
            outcome.output
        );
        assert!(
            !outcome.output.contains("No match for argument"),
            "{}",
            outcome.output
        );
    }
}

/// A throwaway GnuPG home making test keys; the agent it starts is stopped on drop.
struct TestKeys {
    home: tempfile::TempDir,
}

impl TestKeys {
    fn new() -> TestKeys {
        TestKeys {
            home: tempfile::Builder::new()
                .prefix("imagesmith-gpg-")
                .tempdir_in("/tmp")
                .expect("a GnuPG home"),
        }
    }

    fn gpg(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&super::gpg::gpg(self.home.path(), args)).into_owned()
    }

    /// A new signing key of `uid`, made at `at` (a `--faked-system-time`) and valid for
    /// `expires`; returns its fingerprint.
    fn generate(&self, uid: &str, at: Option<&str>, expires: &str) -> String {
        let mut args = Vec::new();
        if let Some(at) = at {
            args.extend(["--faked-system-time", at]);
        }
        args.extend(["--quick-gen-key", uid, "ed25519", "sign", expires]);
        self.gpg(&args);
        self.gpg(&["--with-colons", "--list-keys", uid])
            .lines()
            .find_map(|line| line.strip_prefix("fpr:"))
            .and_then(|rest| rest.split(':').find(|f| f.len() == 40))
            .expect("a fingerprint")
            .to_string()
    }

    /// A detached binary signature of `file` by `fingerprint`, made at `at`.
    fn sign(&self, fingerprint: &str, file: &Path, at: Option<&str>) -> Vec<u8> {
        let signature = self.home.path().join("signature.sig");
        let mut args = Vec::new();
        if let Some(at) = at {
            args.extend(["--faked-system-time", at]);
        }
        let file = file.to_str().expect("a UTF-8 path");
        let out = signature.to_str().expect("a UTF-8 path");
        args.extend([
            "--local-user",
            fingerprint,
            "--output",
            out,
            "--detach-sign",
            file,
        ]);
        self.gpg(&args);
        std::fs::read(&signature).expect("the signature")
    }

    /// Revokes `fingerprint` with the revocation certificate GnuPG wrote when making it.
    fn revoke(&self, fingerprint: &str) {
        let path = self
            .home
            .path()
            .join(format!("openpgp-revocs.d/{fingerprint}.rev"));
        let certificate = std::fs::read_to_string(&path).expect("a revocation certificate");
        // GnuPG escapes the armour line so the certificate is not imported by accident.
        let certificate = certificate.replace(":-----BEGIN", "-----BEGIN");
        let armoured = self.home.path().join("revoke.asc");
        std::fs::write(&armoured, certificate).expect("write");
        self.gpg(&["--import", armoured.to_str().expect("a UTF-8 path")]);
    }

    fn export(&self, fingerprints: &[&str]) -> String {
        let mut args = vec!["--armor", "--export"];
        args.extend(fingerprints);
        self.gpg(&args)
    }
}

impl Drop for TestKeys {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "all"])
            .status();
    }
}

/// The Node.js release keys the tarball documents pin (nodejs/release-keys, active keys).
const RELEASE_KEYS: [&str; 9] = [
    "5BE8A3F6C8A5C01D106C0AD820B1A390B168D356",
    "DD792F5973C6DE52C432CBDAC77ABFA00DDBF2B7",
    "CC68F5A3106FF448322E48ED27F5E38D5B0A215F",
    "8FCCA13FEF1D0C2E91008E09770F7A9A5AE15600",
    "890C08DB8579162FEE0DF9DB8BEAB4DFCF555EF4",
    "C82FA3AE1CBEDC6BE46B9360C43CEC45C17AB93C",
    "108F52B48DB57BB0CC439B2997B01419BD92F80A",
    "655F3B5C1FB3FA8D1A0CA6BDE4A7D232B936D2FD",
    "A363A499291CBBC940DD62E41F10027AF002F8B0",
];

/// The nodejs tarball document's verification with `fingerprints` pinned instead of the
/// Node.js release keys (whose secret halves a test cannot have).
fn with_release_keys(document: &AwstoeDocument, fingerprints: &[&str]) -> AwstoeDocument {
    with_script(document, "VerifyAndInstall", |script| {
        let pinned_start = script
            .find("release_keys=\"")
            .expect("the pinned fingerprints");
        let pinned_end = pinned_start + script[pinned_start..].find('\n').expect("a line");
        format!(
            "{}release_keys=\"{}\"{}",
            &script[..pinned_start],
            fingerprints.join(" "),
            &script[pinned_end..]
        )
    })
}

#[test]
fn nodejs_shasums256_is_verified_with_the_pinned_release_keys() {
    let rendered = document("nodejs", "ubuntu2204");
    let version = parameter(&rendered.document, "version");
    let arch = parameter(&rendered.document, "arch");
    let dist = format!("https://nodejs.org/dist/v{version}");
    let asset = format!("node-v{version}-{arch}.tar.gz");
    let script = serde_json::to_string(&rendered.json).expect("json");
    let key_urls: Vec<String> = RELEASE_KEYS
        .iter()
        .map(|fingerprint| {
            format!(
                "https://raw.githubusercontent.com/nodejs/release-keys/HEAD/keys/{fingerprint}.asc"
            )
        })
        .collect();
    for url in &key_urls {
        assert!(
            script.contains(url.as_str()),
            "{} does not download the release key {url}",
            rendered.path
        );
    }

    // A release tarball and its SHASUMS256.txt, as the dist directory serves them.
    let work = tempfile::tempdir().expect("a directory");
    let tree = work.path().join(format!("node-v{version}-{arch}/bin"));
    std::fs::create_dir_all(&tree).expect("mkdir");
    std::fs::write(tree.join("imagesmith-replay-node"), "#!/bin/sh\n").expect("write");
    let tarball = work.path().join(&asset);
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(work.path())
        .arg(format!("node-v{version}-{arch}"))
        .status()
        .expect("run tar");
    assert!(status.success());
    let bytes = std::fs::read(&tarball).expect("read");
    let digest = sha256_hex(&tarball);
    let sums = work.path().join("SHASUMS256.txt");
    std::fs::write(&sums, format!("{digest}  {asset}\n")).expect("write");

    let keys = TestKeys::new();
    let good = keys.generate("Release <release@example.org>", None, "never");
    let stranger = keys.generate("Stranger <stranger@example.org>", None, "never");
    let old = keys.generate("Old <old@example.org>", Some("20200101T000000"), "1d");
    let gone = keys.generate("Gone <gone@example.org>", None, "never");
    let signed_by_good = keys.sign(&good, &sums, None);
    let signed_by_stranger = keys.sign(&stranger, &sums, None);
    let signed_by_old = keys.sign(&old, &sums, Some("20200101T010000"));
    let signed_by_gone = keys.sign(&gone, &sums, None);
    keys.revoke(&gone);
    let pinned = keys.export(&[&good, &old, &gone]);

    let steps = only_steps(
        &rendered.document,
        "build",
        &["Download", "VerifyAndInstall"],
    );
    let with_test_keys = with_release_keys(&steps, &[&good, &old, &gone]);
    // Every release key URL serves the test keys (a key file is not trusted, only pinned
    // fingerprints are)
    let serve = |signature: &[u8], tarball: &[u8]| {
        let keys = key_urls
            .iter()
            .map(|url| (url.clone(), pinned.as_bytes().to_vec()));
        BTreeMap::from_iter(keys.chain([
            (
                format!("{dist}/SHASUMS256.txt"),
                std::fs::read(&sums).expect("read"),
            ),
            (format!("{dist}/SHASUMS256.txt.sig"), signature.to_vec()),
            (format!("{dist}/{asset}"), tarball.to_vec()),
        ]))
    };
    let none = Recording::default();
    let run = |document: &AwstoeDocument, signature: &[u8], tarball: &[u8]| {
        replay(document, &["build"], &none, &serve(signature, tarball))
    };

    // The document as rendered: a SHASUMS256.txt signed by a key that is not a Node.js
    // release key is refused (the old document never fetched the signature).
    let Some(outcome) = run(&steps, &signed_by_stranger, &bytes) else {
        return;
    };
    assert!(!outcome.passed, "{}", outcome.output);
    assert!(
        outcome
            .output
            .contains("is not signed by a Node.js release key"),
        "{}",
        outcome.output
    );

    // With the test keys pinned in its place: a good signature by a pinned key passes...
    let outcome = run(&with_test_keys, &signed_by_good, &bytes).expect("the sandbox runs");
    assert!(outcome.passed, "{}", outcome.output);
    assert!(
        outcome
            .output
            .contains(&format!("signed by Node.js release key {good}")),
        "{}",
        outcome.output
    );
    // ...one by a key that is not pinned, by an expired one or by a revoked one does not...
    for (signature, why) in [
        (
            &signed_by_stranger,
            "is not signed by a Node.js release key",
        ),
        (&signed_by_old, "signed by an expired or revoked key"),
        (&signed_by_gone, "signed by an expired or revoked key"),
    ] {
        let outcome = run(&with_test_keys, signature, &bytes).expect("the sandbox runs");
        assert!(!outcome.passed, "{why}: {}", outcome.output);
        assert!(outcome.output.contains(why), "{why}: {}", outcome.output);
    }
    // ...and a tarball that is not the one the signed sums name is refused.
    let mut tampered = bytes.clone();
    tampered.extend_from_slice(b"tampered");
    let outcome = run(&with_test_keys, &signed_by_good, &tampered).expect("the sandbox runs");
    assert!(!outcome.passed, "{}", outcome.output);
    assert!(outcome.output.contains("FAILED"), "{}", outcome.output);
}

fn sha256_hex(path: &PathBuf) -> String {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

#[test]
fn python_al2023_keeps_gnupg2_minimal() {
    // AL2023 preinstalls gnupg2-minimal and curl-minimal; dnf refuses gnupg2 and curl with
    // this conflict (amazon-linux-2023 #243 and #791, the message as quoted in
    // keithly/lambda-python-custom#78).
    let dnf = Recording::from_yaml(
        r#"
version: al2023
source: dnf of AL2023 with gnupg2-minimal and curl-minimal installed (amazon-linux-2023 issues 243 and 791; the conflict message as keithly/lambda-python-custom issue 78 quotes it)
tools:
  /usr/bin/dnf:
    - args: clean all
      stdout: "0 files removed\n"
    - args: "install *"
      script: |
        for package in "$@"; do
          case "$package" in
            gnupg2)
              echo "Error: " >&2
              echo " Problem: problem with installed package gnupg2-minimal-2.3.7-1.amzn2023.0.4.x86_64" >&2
              echo "  - package gnupg2-minimal-2.3.7-1.amzn2023.0.4.x86_64 from @System conflicts with gnupg2 provided by gnupg2-2.3.7-1.amzn2023.0.3.x86_64 from amazonlinux" >&2
              echo "  - conflicting requests" >&2
              echo "(try to add '--allowerasing' to the command line to replace conflicting packages or '--skip-broken' to skip uninstallable packages)" >&2
              exit 1 ;;
            curl)
              echo "Error: " >&2
              echo " Problem: problem with installed package curl-minimal-8.5.0-1.amzn2023.0.4.x86_64" >&2
              echo "  - package curl-minimal-8.5.0-1.amzn2023.0.4.x86_64 from @System conflicts with curl provided by curl-8.5.0-1.amzn2023.0.4.x86_64 from amazonlinux" >&2
              echo "  - conflicting requests" >&2
              exit 1 ;;
          esac
        done
        echo "Complete!"
  /usr/bin/curl:
    - script: |
        echo "curl: (6) Could not resolve host: www.python.org" >&2
        exit 6
"#,
    );
    let rendered = document("python", "amazonlinux2023");
    // 3.10 is the line AL2023 does not package: the source build installs its tools.
    let build = only_steps(
        &with_parameter(&rendered.document, "version", "3.10"),
        "build",
        &["BuildFromSource"],
    );
    let Some(outcome) = replay(&build, &["build"], &dnf, &BTreeMap::new()) else {
        return;
    };
    // dnf succeeded; the step went on to download the source (no network in the replay).
    assert!(
        !outcome.output.contains("conflicts with"),
        "{}",
        outcome.output
    );
    assert!(outcome.output.contains("Complete!"), "{}", outcome.output);
    assert!(
        outcome.output.contains("curl: (6) Could not resolve host"),
        "{}",
        outcome.output
    );
}
