//! Findings of issue 13 for this group of components (see `mod.rs`): falcon_sensor,
//! process_exporter and windows_exporter.

use crate::replay::{document, only_steps, replay, Call, Outcome, Recording};
use imagesmith_awstoe::AwstoeDocument;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// Where the Falcon documents keep the installer between their build steps.
const FALCON_WORK: &str = "/var/tmp/imagesmith-falcon-sensor";

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn answer(args: &str, stdout: &str, stderr: &str, exit: i32) -> Call {
    Call {
        args: Some(args.to_string()),
        stdout: stdout.to_string(),
        stderr: stderr.to_string(),
        exit,
        script: None,
    }
}

fn scripted(args: &str, script: &str) -> Call {
    Call {
        args: Some(args.to_string()),
        script: Some(script.to_string()),
        ..Call::default()
    }
}

fn recording(
    source: &str,
    files: &[(&str, &str)],
    absent: &[&str],
    tools: Vec<(&str, Vec<Call>)>,
) -> Recording {
    Recording {
        version: String::from("test"),
        os: Vec::new(),
        source: source.to_string(),
        files: files
            .iter()
            .map(|(path, text)| (path.to_string(), text.to_string()))
            .collect(),
        absent: absent.iter().map(|path| path.to_string()).collect(),
        tools: tools
            .into_iter()
            .map(|(path, calls)| (path.to_string(), calls))
            .collect(),
    }
}

fn run(
    document: &AwstoeDocument,
    recording: &Recording,
    downloads: &BTreeMap<String, Vec<u8>>,
) -> Option<Outcome> {
    replay(document, &["build"], recording, downloads)
}

/// The secrets imagesmith mounts for the Falcon build steps.
const FALCON_SECRETS: [(&str, &str); 3] = [
    ("/run/secrets/falcon_client_id", "test-client-id\n"),
    ("/run/secrets/falcon_client_secret", "test-client-secret\n"),
    (
        "/run/secrets/falcon_cid",
        "0123456789ABCDEF0123456789ABCDEF-B0\n",
    ),
];

/// The Falcon API as a fake `curl`: the OAuth2 token, the v3 installers query and the v3
/// download. The installers are those of sensor 7.18.17106 for Amazon Linux 2023, arm64 listed
/// first: the API returns every architecture's installer unless the filter names one
/// (`architectures:"x86_64"` / `"arm64"`, CrowdStrike falcon-scripts
/// bash/install/falcon-linux-install.sh). Fields of each resource as the API's
/// `GetCombinedSensorInstallersByQueryV3` returns them (name, os, os_version, sha256, version,
/// file_type, architectures).
fn falcon_api(x86: &[u8], arm: &[u8]) -> Call {
    let (x86_sha, arm_sha) = (sha256(x86), sha256(arm));
    let x86_text = String::from_utf8_lossy(x86);
    let arm_text = String::from_utf8_lossy(arm);
    scripted(
        "*",
        &format!(
            r#"set -euo pipefail
all="$*"
out=; filter=; prev=
for a in "$@"; do
  if [ "$prev" = -o ]; then out=$a; fi
  case "$a" in filter=*) filter=${{a#filter=}} ;; esac
  prev=$a
done
arm='{{"name": "falcon-sensor-7.18.0-17106.amzn2023.aarch64.rpm", "os": "Amazon Linux", "os_version": "2023", "sha256": "{arm_sha}", "version": "7.18.17106", "file_type": "rpm", "architectures": ["arm64"]}}'
x86='{{"name": "falcon-sensor-7.18.0-17106.amzn2023.x86_64.rpm", "os": "Amazon Linux", "os_version": "2023", "sha256": "{x86_sha}", "version": "7.18.17106", "file_type": "rpm", "architectures": ["x86_64"]}}'
case "$all" in
  *https://api.crowdstrike.com/oauth2/token*)
    cat >/dev/null
    echo '{{"access_token": "test-token", "expires_in": 1799, "token_type": "bearer"}}' ;;
  *https://api.crowdstrike.com/sensors/combined/installers/v3*)
    case "$filter" in
      'os:"Amazon Linux"+os_version:"*2023*"'*'+architectures:"x86_64"') list=$x86 ;;
      'os:"Amazon Linux"+os_version:"*2023*"'*'+architectures:"arm64"') list=$arm ;;
      'os:"Amazon Linux"+os_version:"*2023*"'*) list="$arm, $x86" ;;
      *) list= ;;
    esac
    echo "{{\"meta\": {{\"query_time\": 0.01}}, \"resources\": [$list], \"errors\": []}}" ;;
  *"https://api.crowdstrike.com/sensors/entities/download-installer/v3?id={x86_sha}"*)
    printf '%s' '{x86_text}' > "$out" ;;
  *"https://api.crowdstrike.com/sensors/entities/download-installer/v3?id={arm_sha}"*)
    printf '%s' '{arm_text}' > "$out" ;;
  *) printf 'replay: the Falcon API fake has no answer to `curl %s`\n' "$all" >&2; exit 127 ;;
esac
"#
        ),
    )
}

/// Issue 13, "falcon_sensor: the installer query filters architecture only on aarch64 (an x86_64
/// host can get another architecture's package) and uses the v1 endpoints": the download step
/// asks the v3 endpoints for this machine's architecture, on x86_64 and on aarch64.
#[test]
fn falcon_installer_query_filters_the_architecture_and_uses_v3() {
    let x86 = b"falcon-sensor 7.18.0-17106 x86_64 package\n";
    let arm = b"falcon-sensor 7.18.0-17106 aarch64 package\n";
    let rendered = document("falcon_sensor", "amazonlinux2023");
    let step = only_steps(&rendered.document, "build", &["DownloadInstaller"]);
    for (machine, token, bytes) in [
        ("x86_64", "x86_64", &x86[..]),
        ("aarch64", "arm64", &arm[..]),
    ] {
        let fakes = recording(
            "the Falcon API (CrowdStrike falcon-scripts) and uname -m",
            &FALCON_SECRETS,
            &[],
            vec![
                ("/usr/bin/curl", vec![falcon_api(x86, arm)]),
                (
                    "/usr/bin/uname",
                    vec![answer("-m", &format!("{machine}\n"), "", 0)],
                ),
            ],
        );
        let Some(outcome) = run(&step, &fakes, &BTreeMap::new()) else {
            return;
        };
        assert!(outcome.passed, "{machine}:\n{}", outcome.output);
        let expected = format!(
            "Downloading Falcon sensor 7.18.17106 for {token} ({})",
            sha256(bytes)
        );
        assert!(
            outcome.output.contains(&expected),
            "{machine}: expected `{expected}`:\n{}",
            outcome.output
        );
    }
}

/// Issue 13, "falcon_sensor: the Windows filter differs from the vendor's
/// (`platform:'windows'`)" and the v3 endpoints (CrowdStrike falcon-scripts,
/// powershell/install/falcon_windows_install.ps1). About what the document says: PowerShell
/// does not run here.
#[test]
fn falcon_windows_installer_query_uses_the_vendors_filter_and_v3() {
    let windows = crate::replay::windows_document("falcon_sensor");
    let text = windows.to_string();
    assert!(
        text.contains(r#"$filter = \"platform:'windows'\""#),
        "{text}"
    );
    assert!(!text.contains(r#"os:\"Windows\""#), "{text}");
    assert!(text.contains("/sensors/combined/installers/v3?"), "{text}");
    assert!(
        text.contains("/sensors/entities/download-installer/v3?"),
        "{text}"
    );
    assert!(!text.contains("/v1?"), "{text}");
}

/// `rpm -Kv` of a package signed with the key CrowdStrike's falcon-sensor installer key
/// (key ID 30a0847e), in rpm's format as recorded on Debian 12 with rpm 4.18.0+dfsg-1+deb12u1
/// (a stand-in package signed with a test key; only the key ID differs).
const RPM_K_OK: &str = "/var/tmp/imagesmith-falcon-sensor/falcon-sensor.rpm:
    Header V4 RSA/SHA256 Signature, key ID 30a0847e: OK
    Header SHA256 digest: OK
    Header SHA1 digest: OK
    Payload SHA256 digest: OK
    V4 RSA/SHA256 Signature, key ID 30a0847e: OK
    MD5 digest: OK
";
/// The same without the key in the rpm database (recorded likewise; rpm exits 1).
const RPM_K_NOKEY: &str = "/var/tmp/imagesmith-falcon-sensor/falcon-sensor.rpm:
    Header V4 RSA/SHA256 Signature, key ID 30a0847e: NOKEY
    Header SHA256 digest: OK
    Header SHA1 digest: OK
    Payload SHA256 digest: OK
    V4 RSA/SHA256 Signature, key ID 30a0847e: NOKEY
    MD5 digest: OK
";
/// Signed by another key (key ID 7ed3527e, the test key), recorded likewise; rpm exits 1.
const RPM_K_OTHER_KEY: &str = "/var/tmp/imagesmith-falcon-sensor/falcon-sensor.rpm:
    Header V4 RSA/SHA512 Signature, key ID 7ed3527e: NOKEY
    Header SHA256 digest: OK
    Header SHA1 digest: OK
    Payload SHA256 digest: OK
    MD5 digest: OK
";
/// An unsigned package, recorded likewise: rpm exits 0.
const RPM_K_UNSIGNED: &str = "/var/tmp/imagesmith-falcon-sensor/falcon-sensor.rpm:
    Header SHA256 digest: OK
    Header SHA1 digest: OK
    Payload SHA256 digest: OK
    MD5 digest: OK
";
/// A package changed after signing, recorded likewise (digests shortened): rpm exits 1.
const RPM_K_BAD: &str = "/var/tmp/imagesmith-falcon-sensor/falcon-sensor.rpm:
    Header V4 RSA/SHA256 Signature, key ID 30a0847e: OK
    Header SHA256 digest: OK
    Header SHA1 digest: OK
    Payload SHA256 digest: BAD (Expected af39e1c1 != 3cf1fbee)
    MD5 digest: BAD (Expected 415620c8 != e2c42ed7)
";
/// `gpg --show-keys --with-colons` of the CrowdStrike key block after its expiry (2028-03-24),
/// recorded on Debian 12 with gnupg 2.2.40 (`--faked-system-time 20280401T000000`).
const GPG_EXPIRED: &str = "pub:e:4096:1:F94CFD1230A0847E:1742923456:1837531456::-:::sc::::::23::0:
fpr:::::::::40B4B3B82AC91F10CC41DCB4F94CFD1230A0847E:
uid:e::::1742923456::6D0E0A6DC5D6BB8E7AAF4B8559ED57A4D0239380::CrowdStrike, Inc. (falcon-sensor installer key) <support@crowdstrike.com>::::::::::0:
sub:e:4096:1:A9CFB5D626989927:1742923456:1837531456:::::e::::::23:
fpr:::::::::370ACC472239BF97B1BD2B2FA9CFB5D626989927:
";

/// A fake rpm whose `-Kv` answers `checked` with `exit` once `--import` ran, and NOKEY before.
fn rpm_checking(checked: &str, exit: i32) -> Vec<Call> {
    let marker = format!("{FALCON_WORK}/.imported");
    vec![
        scripted("--import *", &format!("touch {marker}\n")),
        scripted(
            "-Kv *",
            &format!(
                "if [ -e {marker} ]; then printf '%s' '{checked}'; exit {exit}; fi\nprintf '%s' '{RPM_K_NOKEY}'; exit 1\n"
            ),
        ),
    ]
}

/// Issue 13, "the Falcon rpm key is not imported": the CrowdStrike key, pinned by fingerprint,
/// is imported and rpm verifies the package; a package signed by no key, another key, a
/// changed package and an expired key are refused.
#[test]
fn falcon_rpm_key_is_imported_and_a_bad_signature_refused() {
    let rendered = document("falcon_sensor", "amazonlinux2023");
    let step = only_steps(&rendered.document, "build", &["VerifySignature"]);
    let package = format!("{FALCON_WORK}/falcon-sensor.rpm");
    let files = [(package.as_str(), "a stand-in rpm\n")];
    let source = "rpm -Kv texts recorded on Debian 12 with rpm 4.18.0";
    let good = recording(
        source,
        &files,
        &[],
        vec![("/usr/bin/rpm", rpm_checking(RPM_K_OK, 0))],
    );
    let Some(outcome) = run(&step, &good, &BTreeMap::new()) else {
        return;
    };
    assert!(outcome.passed, "{}", outcome.output);
    assert!(
        outcome.output.contains("key ID 30a0847e: OK"),
        "{}",
        outcome.output
    );
    let refused = [
        ("unsigned", rpm_checking(RPM_K_UNSIGNED, 0), None),
        (
            "signed by another key",
            rpm_checking(RPM_K_OTHER_KEY, 1),
            None,
        ),
        ("changed after signing", rpm_checking(RPM_K_BAD, 1), None),
        (
            "an expired key",
            rpm_checking(RPM_K_OK, 0),
            Some(vec![answer(
                "--batch --show-keys --with-colons *",
                GPG_EXPIRED,
                "",
                0,
            )]),
        ),
    ];
    for (case, rpm, gpg) in refused {
        let mut tools = vec![("/usr/bin/rpm", rpm)];
        if let Some(gpg) = gpg {
            tools.push(("/usr/bin/gpg", gpg));
        }
        let fakes = recording(source, &files, &[], tools);
        let outcome = run(&step, &fakes, &BTreeMap::new()).expect("the sandbox runs");
        assert!(!outcome.passed, "{case} was accepted:\n{}", outcome.output);
        assert!(
            outcome.output.contains("refusing it"),
            "{case}:\n{}",
            outcome.output
        );
    }
}

/// AL2023-minimal's `dnf`, microdnf 3.8.1 (amazon-linux-2023#556): installs by name, and a
/// local file fails as rpm-software-management/microdnf#20 records.
fn microdnf(installed: &str) -> Vec<Call> {
    vec![
        scripted(
            "install -y *",
            &format!(
                "shift 2\nfor p in \"$@\"; do\n  case \"$p\" in */*|*.rpm) echo \"error: No package matches '$p'\" >&2; exit 1 ;; esac\ndone\ntouch {installed}\necho Complete.\n"
            ),
        ),
        answer("clean all", "Complete.\n", "", 0),
    ]
}

/// Issue 13, "on `amazonlinux:2023-minimal`, `dnf` is microdnf and cannot install a local rpm
/// (falcon)": the rpm's missing dependency is installed by name, then the rpm with `rpm -U`.
#[test]
fn falcon_rpm_installs_where_dnf_is_microdnf() {
    let rendered = document("falcon_sensor", "amazonlinux2023");
    let step = only_steps(&rendered.document, "build", &["InstallPackage"]);
    let package = format!("{FALCON_WORK}/falcon-sensor.rpm");
    let libnl = "/var/tmp/imagesmith-libnl3-installed";
    // rpm -U --test's answer as recorded on Debian 12 with rpm 4.18.0 (a stand-in package
    // requiring libnl3).
    let failed = "error: Failed dependencies:\n\tlibnl3 is needed by falcon-sensor-7.18.0-17106.amzn2023.x86_64\n";
    let rpm = vec![
        scripted(
            "-U --test *",
            &format!(
                "if [ -e {libnl} ]; then exit 0; fi\nprintf '%b' '{}' >&2; exit 1\n",
                failed.replace('\n', "\\n").replace('\t', "\\t")
            ),
        ),
        scripted(
            "-U --replacepkgs *",
            &format!(
                "if [ -e {libnl} ]; then exit 0; fi\nprintf '%b' '{}' >&2; exit 1\n",
                failed.replace('\n', "\\n").replace('\t', "\\t")
            ),
        ),
    ];
    let fakes = recording(
        "rpm 4.18.0 texts recorded on Debian 12; microdnf's from rpm-software-management/microdnf#20",
        &[(package.as_str(), "a stand-in rpm\n")],
        &[],
        vec![("/usr/bin/rpm", rpm), ("/usr/bin/dnf", microdnf(libnl))],
    );
    let Some(outcome) = run(&step, &fakes, &BTreeMap::new()) else {
        return;
    };
    assert!(outcome.passed, "{}", outcome.output);
}

/// The release files of process-exporter 0.8.7 for `asset`, served as downloads.
fn process_exporter_downloads(asset: &str, bytes: Vec<u8>) -> BTreeMap<String, Vec<u8>> {
    let base = "https://github.com/ncabatoff/process-exporter/releases/download/v0.8.7/";
    let checksums = format!("{}  {asset}\n", sha256(&bytes));
    BTreeMap::from([
        (format!("{base}{asset}"), bytes),
        (format!("{base}checksums.txt"), checksums.into_bytes()),
    ])
}

/// Issue 13, "on `amazonlinux:2023-minimal`, `dnf` is microdnf and cannot install a local rpm
/// (process_exporter)": the whole build phase with microdnf as `dnf`, the rpm installed by
/// `rpm -U`, its systemctl-only scriptlets skipped without systemd.
#[test]
fn process_exporter_rpm_installs_where_dnf_is_microdnf() {
    let rendered = document("process_exporter", "amazonlinux2023");
    let asset = "process-exporter_0.8.7_linux_amd64.rpm";
    let downloads = process_exporter_downloads(asset, b"a stand-in rpm\n".to_vec());
    let rpm = vec![answer(
        &format!("-U --replacepkgs --noscripts /tmp/{asset}"),
        "",
        "",
        0,
    )];
    let fakes = recording(
        "microdnf's answer from rpm-software-management/microdnf#20",
        &[],
        &[],
        vec![
            ("/usr/bin/rpm", rpm),
            (
                "/usr/bin/dnf",
                microdnf("/var/tmp/imagesmith-dnf-installed"),
            ),
        ],
    );
    let Some(outcome) = run(&rendered.document, &fakes, &downloads) else {
        return;
    };
    assert!(outcome.passed, "{}", outcome.output);
}

/// A .deb of process-exporter 0.8.7 as nfpm lays it out (repo .goreleaser.yml), with the
/// upstream postinst recorded in `tests/fixtures/vendor/process_exporter/postinst`.
fn process_exporter_deb() -> Vec<u8> {
    let fixtures = crate::replay::fixtures_dir().join("process_exporter");
    let postinst = std::fs::read(fixtures.join("postinst")).expect("the recorded postinst");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().join("pkg");
    let put = |path: &str, contents: &[u8], mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        let at = root.join(path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(&at, contents).unwrap();
        std::fs::set_permissions(&at, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    put(
        "DEBIAN/control",
        b"Package: process-exporter\nVersion: 0.8.7\nArchitecture: amd64\nMaintainer: nick.cabatoff+procexp@gmail.com\nDescription: Prometheus exporter to report on processes running\n",
        0o644,
    );
    put("DEBIAN/postinst", &postinst, 0o755);
    put(
        "usr/bin/process-exporter",
        b"#!/bin/sh\necho stand-in\n",
        0o755,
    );
    put(
        "lib/systemd/system/process-exporter.service",
        b"[Unit]\nDescription=Process Exporter for Prometheus\n",
        0o644,
    );
    let deb = dir.path().join("process-exporter.deb");
    let status = std::process::Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&deb)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run dpkg-deb");
    assert!(status.success(), "dpkg-deb --build");
    std::fs::read(&deb).expect("the built .deb")
}

/// Issue 13, "process_exporter (Ubuntu/AL2023 upstream package): its postinst calls `systemctl`
/// bare, which exits 127 in a container (ncabatoff/process-exporter#113); policy-rc.d does not
/// stop it": a .deb with the recorded postinst installs through the Ubuntu document's build
/// steps in the sandbox (no systemd, no systemctl, as in the ubuntu:22.04 image) and is
/// installed afterwards.
#[test]
fn process_exporter_deb_with_a_bare_systemctl_postinst_installs_without_systemd() {
    if !Path::new("/usr/bin/dpkg-deb").exists() {
        eprintln!("skipped: no dpkg-deb");
        return;
    }
    let rendered = document("process_exporter", "ubuntu2204");
    let asset = "process-exporter_0.8.7_linux_amd64.deb";
    let downloads = process_exporter_downloads(asset, process_exporter_deb());
    let mut json = serde_json::to_value(&rendered.document).expect("a document");
    let phases = json["phases"].as_array_mut().expect("phases");
    phases.retain(|p| p["name"] == "build");
    phases[0]["steps"]
        .as_array_mut()
        .expect("steps")
        .push(serde_json::json!({
            "name": "CheckInstalled",
            "action": "ExecuteBash",
            "inputs": {"commands": [
                "set -euo pipefail\ndpkg-query -W -f='${Status}' process-exporter | grep '^install ok installed$' >/dev/null\ntest -x /usr/bin/process-exporter"
            ]}
        }));
    let build: AwstoeDocument = serde_json::from_value(json).expect("still a document");
    // No network in the sandbox: `apt-get update` answers as it does offline; the install is
    // apt's own, through dpkg, which runs the postinst.
    let fakes = recording(
        "the ubuntu:22.04 image has no systemctl; apt-get update offline",
        &[],
        &["/usr/bin/systemctl"],
        vec![],
    );
    let Some(outcome) = run(&build, &fakes, &downloads) else {
        return;
    };
    assert!(outcome.passed, "{}", outcome.output);
}
