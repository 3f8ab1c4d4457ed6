//! Findings of issue 13 for this group of components (see `mod.rs`): the CloudWatch agent
//! (build-suffix URLs, the AL2023 container's missing `useradd`, the package signature), and
//! chrony, systemd-timesyncd and node_exporter.

use crate::replay::{
    document, documents, only_steps, replay, windows_document, with_parameter, Recording,
};
use imagesmith_awstoe::AwstoeDocument;
use serde_json::Value;
use std::collections::BTreeMap;

/// The default release and its build token (microsoft/winget-pkgs#380855).
const VERSION: &str = "1.300068.0";
const BUILD: &str = "b1491";

/// `name -> value` of a rendered document's parameter defaults and constants.
fn variables(json: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (list, field) in [("parameters", "default"), ("constants", "value")] {
        for entry in json[list].as_array().into_iter().flatten() {
            for (name, spec) in entry.as_object().into_iter().flatten() {
                if let Some(value) = spec[field].as_str() {
                    out.insert(name.clone(), value.to_string());
                }
            }
        }
    }
    out
}

/// The WebDownload and InstallMSI sources of a rendered document, parameters filled in.
fn download_urls(json: &Value) -> Vec<String> {
    let variables = variables(json);
    let mut urls = Vec::new();
    for phase in json["phases"].as_array().into_iter().flatten() {
        for step in phase["steps"].as_array().into_iter().flatten() {
            let sources: Vec<&Value> = match step["action"].as_str() {
                Some("WebDownload") => step["inputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|input| &input["source"])
                    .collect(),
                Some("InstallMSI") => vec![&step["inputs"]["path"]],
                _ => Vec::new(),
            };
            for source in sources.into_iter().filter_map(Value::as_str) {
                let mut url = source.to_string();
                for (name, value) in &variables {
                    url = url.replace(&format!("{{{{ {name} }}}}"), value);
                }
                if url.starts_with("http") {
                    urls.push(url);
                }
            }
        }
    }
    urls
}

#[test]
fn cloudwatch_agent_build_suffix_urls() {
    let mut checked = 0;
    let linux = documents()
        .iter()
        .filter(|d| d.component == "cloudwatch_agent" && d.version == VERSION)
        .map(|d| (d.os.clone(), d.json.clone()));
    let windows = std::iter::once((
        "windows2022".to_string(),
        windows_document("cloudwatch_agent"),
    ));
    for (os, json) in linux.chain(windows) {
        let urls = download_urls(&json);
        let packages: Vec<&String> = urls.iter().filter(|u| !u.contains("/assets/")).collect();
        assert!(
            !packages.is_empty(),
            "{os}: no package download in {urls:?}"
        );
        for url in packages {
            assert!(
                url.contains(&format!("/{VERSION}{BUILD}/")),
                "{os}: {url} lacks the build token {BUILD} of {VERSION} (…/amd64/{VERSION}{BUILD}/…)"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 4, "the Linux documents and the Windows one");
}

#[test]
fn cloudwatch_agent_version_check_expects_the_build_suffix() {
    let rendered = document("cloudwatch_agent", "amazonlinux2023");
    let version_file = |text: &str| {
        Recording::from_yaml(&format!(
            r#"
version: "{VERSION}"
source: CWAGENT_VERSION as the Makefile writes it (version and build token)
files:
  /opt/aws/amazon-cloudwatch-agent/bin/CWAGENT_VERSION: "{text}\n"
tools:
  /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl: []
"#
        ))
    };
    let validate = only_steps(&rendered.document, "validate", &["CheckVersion"]);
    let none = BTreeMap::new();
    let Some(own) = replay(
        &validate,
        &["validate"],
        &version_file(&format!("{VERSION}{BUILD}")),
        &none,
    ) else {
        return;
    };
    assert!(own.passed, "{}", own.output);
    // Another build of the same version: a prefix match on `1.300068.0` would accept it.
    for other in [format!("{VERSION}b1400"), format!("{VERSION}1b1500")] {
        let outcome = replay(&validate, &["validate"], &version_file(&other), &none)
            .expect("the sandbox runs");
        assert!(!outcome.passed, "{other} passed: {}", outcome.output);
    }
}

#[test]
fn cloudwatch_agent_unknown_build_token_renders_no_guessed_url() {
    let none = BTreeMap::new();
    for os in ["amazonlinux2023", "debian12", "ubuntu2204"] {
        let rendered = document("cloudwatch_agent", os);
        let unknown = with_parameter(&rendered.document, "build", "");
        let check = only_steps(&unknown, "build", &["CheckBuild"]);
        let Some(outcome) = replay(&check, &["build"], &Recording::default(), &none) else {
            return;
        };
        assert!(!outcome.passed, "{os}: {}", outcome.output);
        assert!(
            outcome
                .output
                .contains("No build token known for CloudWatch agent"),
            "{os}: {}",
            outcome.output
        );
        let known = only_steps(&rendered.document, "build", &["CheckBuild"]);
        let outcome =
            replay(&known, &["build"], &Recording::default(), &none).expect("the sandbox runs");
        assert!(outcome.passed, "{os}: {}", outcome.output);
    }
    let windows = windows_document("cloudwatch_agent");
    let script = windows["phases"][0]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == "CheckBuild")
        .expect("a CheckBuild step before the Windows download");
    assert!(script["inputs"]["commands"][0]
        .as_str()
        .is_some_and(|s| s.contains("'^b[0-9]+$'")));
}

/// The rpm as it behaves on the AL2023 container image: its %pre runs groupadd and useradd,
/// which are missing (no shadow-utils), and ends with an echo, so `rpm -U` exits 0
/// (packaging/linux/amazon-cloudwatch-agent.spec).
const RPM_WITHOUT_USERADD: &str = r#"
version: "1.300068.0"
source: the %pre of packaging/linux/amazon-cloudwatch-agent.spec on an image without shadow-utils
tools:
  /usr/bin/rpm:
    - args: "-U /tmp/amazon-cloudwatch-agent.rpm"
      stdout: |
        create group cwagent, result: 127
        create user cwagent, result: 127
      exit: 0
"#;

#[test]
fn cloudwatch_agent_on_al2023_container_cwagent_user_is_checked() {
    let rendered = document("cloudwatch_agent", "amazonlinux2023");
    let install = only_steps(
        &rendered.document,
        "build",
        &["InstallPackage", "CheckUser"],
    );
    let none = BTreeMap::new();
    let Some(outcome) = replay(
        &install,
        &["build"],
        &Recording::from_yaml(RPM_WITHOUT_USERADD),
        &none,
    ) else {
        return;
    };
    assert!(!outcome.passed, "{}", outcome.output);
    assert_eq!(
        outcome.failed_step.as_deref(),
        Some("build/CheckUser"),
        "{}",
        outcome.output
    );
    assert!(outcome.output.contains("did not create user cwagent"));
    // With useradd there, the %pre creates the user and the step passes.
    let created = Recording::from_yaml(RPM_WITHOUT_USERADD).with(Recording::from_yaml(
        r#"
version: "1.300068.0"
source: getent's passwd line of the user the %pre's useradd creates (-r -M -d /home/cwagent -c "Cloudwatch Agent")
tools:
  /usr/bin/getent:
    - args: "passwd cwagent"
      stdout: "cwagent:x:998:998:Cloudwatch Agent:/home/cwagent:/sbin/nologin\n"
"#,
    ));
    let outcome = replay(&install, &["build"], &created, &none).expect("the sandbox runs");
    assert!(outcome.passed, "{}", outcome.output);
}

#[test]
fn cloudwatch_agent_on_al2023_container_shadow_utils_installed_first() {
    let rendered = document("cloudwatch_agent", "amazonlinux2023");
    let steps: Vec<&str> = rendered.document.phases[0]
        .steps
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let position = |name: &str| steps.iter().position(|s| *s == name);
    assert!(
        position("InstallPrerequisites") < position("InstallPackage"),
        "{steps:?}"
    );
    let prerequisites = only_steps(&rendered.document, "build", &["InstallPrerequisites"]);
    let dnf = Recording::from_yaml(
        r#"
version: "1.300068.0"
source: dnf, answering with the packages it is asked to install
tools:
  /usr/bin/dnf:
    - args: "install -y *"
      script: |
        shift 2
        echo "Installed: $*"
    - args: "clean all"
      stdout: "0 files removed\n"
"#,
    );
    let Some(outcome) = replay(&prerequisites, &["build"], &dnf, &BTreeMap::new()) else {
        return;
    };
    assert!(outcome.passed, "{}", outcome.output);
    assert!(
        outcome.output.contains("Installed: shadow-utils"),
        "{}",
        outcome.output
    );
}

/// gpg as it answers for the CloudWatch agent key and a package signed by it (status lines
/// per GnuPG's doc/DETAILS; the key id and fingerprint from the CloudWatch User Guide):
/// `key_validity` is the key listing's validity field (`e` expired, `r` revoked), `verdict` the
/// signature's status line, `signer` the fingerprint of the key that signed.
fn gpg(key_validity: &str, verdict: &str, signer: &str) -> Recording {
    Recording::from_yaml(&format!(
        r#"
version: "1.300068.0"
source: gpg --show-keys --with-colons and --status-fd output formats (GnuPG doc/DETAILS) for key D58167303B789C72
tools:
  /usr/bin/gpg:
    - args: "--batch --with-colons --show-keys *"
      stdout: |
        pub:{key_validity}:2048:1:{short}:1511913600:::-:::scESC::::::23::0:
        fpr:::::::::{signer}:
    - args: "--batch --quiet --import *"
      stdout: ""
    - args: "--batch --status-fd 1 --verify *"
      stdout: |
        [GNUPG:] NEWSIG
        [GNUPG:] KEY_CONSIDERED {signer} 0
        {verdict}
        [GNUPG:] VALIDSIG {signer} 2026-05-08 1778198400 0 4 0 1 8 00 {signer}
        [GNUPG:] TRUST_UNDEFINED 0 pgp
"#,
        short = &signer[24..],
    ))
}

#[test]
fn cloudwatch_agent_signature_pinned_key_expired_or_revoked_refused() {
    const PINNED: &str = "937616F3450B7D806CBD9725D58167303B789C72";
    const OTHER: &str = "0123456789ABCDEF0123456789ABCDEF01234567";
    let none = BTreeMap::new();
    for os in ["amazonlinux2023", "debian12"] {
        let rendered = document("cloudwatch_agent", os);
        let verify = only_steps(&rendered.document, "build", &["VerifySignature"]);
        let good = format!("[GNUPG:] GOODSIG {} Amazon CloudWatch Agent", &PINNED[24..]);
        let Some(outcome) = replay(&verify, &["build"], &gpg("-", &good, PINNED), &none) else {
            return;
        };
        assert!(outcome.passed, "{os}: {}", outcome.output);
        let refused = [
            (
                "an expired key (EXPKEYSIG, VALIDSIG still printed)",
                gpg(
                    "-",
                    &format!(
                        "[GNUPG:] EXPKEYSIG {} Amazon CloudWatch Agent",
                        &PINNED[24..]
                    ),
                    PINNED,
                ),
            ),
            (
                "a revoked key (REVKEYSIG)",
                gpg(
                    "-",
                    &format!(
                        "[GNUPG:] REVKEYSIG {} Amazon CloudWatch Agent",
                        &PINNED[24..]
                    ),
                    PINNED,
                ),
            ),
            ("a key file that has expired", gpg("e", &good, PINNED)),
            ("a key file that is revoked", gpg("r", &good, PINNED)),
            (
                "another key",
                gpg(
                    "-",
                    &format!("[GNUPG:] GOODSIG {} Someone Else", &OTHER[24..]),
                    OTHER,
                ),
            ),
        ];
        for (what, recording) in refused {
            let outcome = replay(&verify, &["build"], &recording, &none).expect("the sandbox runs");
            assert!(!outcome.passed, "{os}: {what} accepted: {}", outcome.output);
        }
    }
}

#[test]
fn cloudwatch_agent_one_document_per_package_family() {
    let rpm = document("cloudwatch_agent", "amazonlinux2023");
    let deb = document("cloudwatch_agent", "debian12");
    assert_ne!(rpm.document.name, deb.document.name);
    for (rendered, own, foreign) in [(rpm, "rpm -U", "dpkg"), (deb, "dpkg -i -E", "rpm ")] {
        let text = serde_json::to_string(&rendered.json).expect("json");
        assert!(text.contains(own), "{}: no `{own}`", rendered.path);
        assert!(
            !text.contains(foreign),
            "{}: mentions `{foreign}`",
            rendered.path
        );
    }
}

/// The rendered document of `component` at `version` on `os`, from a project whose one golden
/// AMI recipe installs it (systemd-timesyncd is in no built-in recipe, so the every-component
/// replay never renders it).
fn golden_document(component: &str, version: &str, os: &str, base: &str) -> AwstoeDocument {
    use imagesmith_model::decode;
    use imagesmith_render::{render, RenderOptions, Target};
    use imagesmith_yaml::{load_str, Limits};
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("recipes")).expect("mkdir");
    std::fs::write(
        root.join("imagesmith.yaml"),
        format!("kind: project\nname: time\nregistry:\n  type: ecr\n  account_id: \"123456789012\"\n  region: us-east-1\n  repository_prefix: time/\nos: [{os}]\n"),
    )
    .expect("write project");
    std::fs::write(
        root.join(format!("recipes/golden-ami-{os}.yaml")),
        format!("kind: recipe\nname: golden-ami-{os}\nimage_type: ami\nos: {os}\nbase_image: {base}\nversion: 1.0.0\ncomponents:\n  {component}: \"{version}\"\n"),
    )
    .expect("write recipe");
    let rendered = render(
        &crate::support::load(root),
        &RenderOptions::new(&[Target::Awstoe]),
    )
    .expect("renders");
    let file = rendered
        .files
        .iter()
        .find(|f| f.path.starts_with(&format!("awstoe/{os}/{component}-")))
        .unwrap_or_else(|| panic!("no {component} document on {os}"));
    let loaded = load_str(file.path.clone(), &file.contents, Limits::DEFAULT);
    let json = loaded.root.as_ref().map(decode::to_json).expect("YAML");
    serde_json::from_value(json).expect("an AWSTOE document")
}

#[test]
fn systemd_timesyncd_passes_on_its_version_and_fails_on_another() {
    let vendor = crate::replay::vendor("systemd_timesyncd");
    let none = BTreeMap::new();
    for (os, version, base) in [
        (
            "debian12",
            "252.39",
            "ssm:/aws/service/debian/release/12/latest/amd64",
        ),
        (
            "ubuntu2204",
            "249.11",
            "ssm:/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id",
        ),
    ] {
        let document = golden_document("systemd_timesyncd", version, os, base);
        let own = vendor.recording(version, os).expect("a recording");
        let Some(outcome) = replay(&document, &["validate", "test"], own, &none) else {
            return;
        };
        assert!(outcome.passed, "{os} {version}: {}", outcome.output);
        let others = vendor.others(version, os);
        assert!(!others.is_empty());
        for other in others {
            let outcome = replay(&document, &["validate", "test"], other, &none)
                .expect("the sandbox runs");
            assert!(
                !outcome.passed,
                "{os} {version} passed on {}: {}",
                other.version, outcome.output
            );
        }
    }
}
