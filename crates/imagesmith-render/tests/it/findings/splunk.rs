//! Findings of issue 13 for this group of components (see `mod.rs`): `splunk_indexer`,
//! `splunk_forwarder` and `wiz`.

use crate::replay::{document, only_steps, replay, vendor, windows_document, Call, Recording};
use imagesmith_awstoe::AwstoeDocument;
use std::collections::BTreeMap;

/// The Linux OSes the replay covers.
const LINUX: [&str; 3] = ["amazonlinux2023", "debian12", "ubuntu2204"];

/// The Splunk components, their home and the user they run as.
const SPLUNK: [(&str, &str, &str); 2] = [
    ("splunk_indexer", "/opt/splunk", "splunk"),
    ("splunk_forwarder", "/opt/splunkforwarder", "splunkfwd"),
];

/// `document` with its `version` parameter defaulting to `version`, as render writes it for a
/// spec pinning that version.
fn at_version(document: &AwstoeDocument, version: &str) -> AwstoeDocument {
    let mut json = serde_json::to_value(document).expect("a document serializes");
    let parameters = json["parameters"].as_array_mut().expect("parameters");
    let parameter = parameters
        .iter_mut()
        .find_map(|p| p.get_mut("version"))
        .expect("a version parameter");
    parameter["default"] = serde_json::Value::String(version.to_string());
    serde_json::from_value(json).expect("still a document")
}

/// Issue 13: "splunk 10.2+: `splunk start` as root needs `--run-as-root`". The documents run
/// every splunk command as Splunk's own user instead, so the validate and test phases of a
/// 10.2+ release pass against its recorded behaviour, where a `splunk start` as root fails.
#[test]
fn splunk_10_2_start_as_root_needs_run_as_root() {
    let fixture = vendor("splunk_indexer");
    for os in LINUX {
        let rendered = document("splunk_indexer", os);
        let recording = fixture
            .recording("10.4.2", os)
            .expect("a recording of 10.4.2, which refuses root");
        // The test phase starts Splunk (the validate phase is the replay test's).
        let Some(outcome) = replay(
            &at_version(&rendered.document, "10.4.2"),
            &["test"],
            recording,
            &BTreeMap::new(),
        ) else {
            return;
        };
        assert!(outcome.passed, "{}: {}", rendered.path, outcome.output);
        assert!(
            !outcome.output.contains("--run-as-root option"),
            "{}: {}",
            rendered.path,
            outcome.output
        );
    }
}

/// The same finding on every Linux OS and for both components: every splunk command of the
/// validate and test phases runs as Splunk's own user (`splunk`, or `splunkfwd` for the
/// forwarder, as the vendor's packages create them), never as root. The recording of the
/// default version answers only when called as that user.
#[test]
fn splunk_runs_as_its_own_user_never_root() {
    for (component, home, user) in SPLUNK {
        for os in LINUX {
            let rendered = document(component, os);
            let recording = only_as(
                vendor_recording(component, &rendered.version, os),
                &format!("{home}/bin/splunk"),
                user,
            );
            // The test phase starts, checks and stops Splunk.
            let Some(outcome) = replay(&rendered.document, &["test"], &recording, &BTreeMap::new())
            else {
                return;
            };
            assert!(outcome.passed, "{}: {}", rendered.path, outcome.output);
        }
    }
}

/// The vendor recording of `version` on `os`.
fn vendor_recording(component: &str, version: &str, os: &str) -> Recording {
    vendor(component)
        .recording(version, os)
        .unwrap_or_else(|| panic!("no recording of {component} {version} on {os}"))
        .clone()
}

/// `recording` whose `tool` answers its recorded calls only when run as `user`.
fn only_as(mut recording: Recording, tool: &str, user: &str) -> Recording {
    let calls = recording.tools.remove(tool).expect("the tool is recorded");
    let guarded = calls
        .into_iter()
        .map(|call| {
            let guard = format!(
                "if [ \"$(id -un)\" != {user} ]; then echo \"splunk run as $(id -un), not {user}\" >&2; exit 1; fi\n"
            );
            let answer = match &call.script {
                Some(script) => script.clone(),
                None => format!(
                    "cat <<'IMAGESMITH_STDOUT'\n{}IMAGESMITH_STDOUT\ncat >&2 <<'IMAGESMITH_STDERR'\n{}IMAGESMITH_STDERR\nexit {}\n",
                    with_newline(&call.stdout),
                    with_newline(&call.stderr),
                    call.exit
                ),
            };
            Call {
                script: Some(guard + &answer),
                ..call
            }
        })
        .collect();
    recording.tools.insert(tool.to_string(), guarded);
    recording
}

fn with_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

/// Issue 13: "the admin password is passed on a command line (visible in `ps`), where
/// `splunk hash-passwd -` reads it from stdin (docker-splunk#318)". The seeding step runs
/// against a splunk that hashes only what it reads on standard input after `hash-passwd -`
/// and fails when the password is an argument; the password appears in no output.
#[test]
fn splunk_admin_password_is_passed_on_a_command_line() {
    const PASSWORD: &str = "Imagesmith-replay-s3cret";
    for (component, home, user) in SPLUNK {
        for os in LINUX {
            let rendered = document(component, os);
            let step = only_steps(&rendered.document, "build", &["SeedAdminAndConfigure"]);
            let base = vendor_recording(component, &rendered.version, os);
            // hash-passwd's usage and refusal are the vendor's (docker-splunk#318); the hash is
            // an example in crypt(3) SHA-512 form.
            let hashing = Recording::from_yaml(&format!(
                r#"
version: "{version}"
source: splunk hash-passwd, usage text from docker-splunk#318
files:
  /run/secrets/splunk_admin_password: "{PASSWORD}\n"
tools:
  {home}/bin/splunk:
    - args: "hash-passwd -"
      script: |
        if [ "$(id -un)" != {user} ]; then echo "hash-passwd run as $(id -un)" >&2; exit 1; fi
        read -r password || true
        if [ "$password" != '{PASSWORD}' ]; then echo "wrong password on stdin" >&2; exit 1; fi
        echo '$6$imagesmithreplay$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ./0123456789abcdefghijklmn'
    - args: "hash-passwd *"
      stderr: "a password on the command line\n"
      exit: 1
    - args: "hash-passwd"
      stderr: "ERROR: Received 0 arguments, expected 1.\nusage: hash-passwd PASSWORD\n"
      exit: 1
"#,
                version = rendered.version
            ));
            let Some(outcome) = replay(&step, &["build"], &base.with(hashing), &BTreeMap::new())
            else {
                return;
            };
            assert!(outcome.passed, "{}: {}", rendered.path, outcome.output);
            assert!(
                !outcome.output.contains(PASSWORD),
                "{}: the password reached a log: {}",
                rendered.path,
                outcome.output
            );
        }
    }
}

/// The same finding on Windows: the password reaches `splunk.exe hash-passwd -` on standard
/// input, never as an argument (no PowerShell runs here, so the rendered script is read).
#[test]
fn splunk_admin_password_is_passed_on_a_command_line_on_windows() {
    for (component, _, _) in SPLUNK {
        let document = windows_document(component);
        let script = serde_json::to_string(&document).expect("json");
        assert!(
            script.contains("hash-passwd -"),
            "{component}: no `hash-passwd -`"
        );
        assert!(
            !script.contains("hash-passwd $password"),
            "{component}: the password is an argument of hash-passwd"
        );
        assert!(
            script.contains("StandardInput.Write("),
            "{component}: the password is not written to standard input"
        );
    }
}

/// Issue 13: "Check both Splunk components against the vendor's 9.4+/10.x file names … the
/// Windows MSI URLs were added unconfirmed". The Windows document of each default version
/// resolves the MSI the vendor publishes, as the `releases` fixture records it.
#[test]
fn splunk_windows_msi_names_are_the_vendors() {
    for (component, product, prefix) in [
        ("splunk_indexer", "splunk", "splunk"),
        ("splunk_forwarder", "universalforwarder", "splunkforwarder"),
    ] {
        let fixture = vendor(component);
        let published: Vec<String> = fixture.releases.iter().flat_map(|r| r.all_urls()).collect();
        let document = windows_document(component);
        let text = serde_json::to_string(&document).expect("json");
        let version = "10.0.2";
        let build = "e2d18b4767e9";
        // What ResolveAsset prints for the default version (>= 9.4 naming).
        assert!(
            text.contains(&format!("\\\"{prefix}-$v-$build-windows-x64.msi\\\"")),
            "{component}: {text}"
        );
        let url = format!(
            "https://download.splunk.com/products/{product}/releases/{version}/windows/{prefix}-{version}-{build}-windows-x64.msi"
        );
        assert!(
            published.contains(&url),
            "{component}: {url} is not recorded"
        );
    }
}
