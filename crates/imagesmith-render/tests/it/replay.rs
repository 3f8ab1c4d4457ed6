//! Every Linux document's `validate` and `test` phases, run against recorded vendor behaviour
//! (issue 13, point 1: "Tests run every document's parsing logic … against those recordings in
//! a sandbox").
//!
//! A project holding every built-in golden recipe and every customer component of each Linux
//! OS (default versions) is rendered as AWSTOE documents. Each document runs through
//! `imagesmith_awstoe::exec` in the imagesmith sandbox, over an overlay whose lower layers are a
//! layer of fakes on top of this machine's root: the recording's files, and its tools as
//! scripts that answer each recorded call with the recorded output and exit code
//! (`tests/fixtures/vendor/README.md`). With the recording of the version the document
//! installs both phases must pass; with each recording of another version they must fail.
//!
//! Commands run as AWSTOE runs them under SSM on Image Builder: root, no `HOME`, the default
//! `PATH`, and (in the sandbox) no systemd and loopback only, as in a container.

// An API for the findings tests too; not every item is used by every test.
#![allow(dead_code)]

use crate::support::{every_component_project, load};
use imagesmith_awstoe::exec::{
    DownloadRequest, ExecOptions, Executor, Host, HostError, RunOutput, RunRequest, Status,
};
use imagesmith_awstoe::AwstoeDocument;
use imagesmith_model::decode;
use imagesmith_render::{render, RenderOptions, Target};
use imagesmith_sandbox::{LinuxSandbox, Mode, OverlayRoot, Sandbox, SandboxConfig};
use imagesmith_yaml::{load_str, Limits};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The Linux OSes whose documents are replayed.
pub const LINUX: [&str; 3] = ["amazonlinux2023", "debian12", "ubuntu2204"];

/// No command of a replayed step runs longer than this (a fake that never answers).
const STEP_LIMIT: Duration = Duration::from_secs(120);

/// A rendered AWSTOE document of one catalog component on one OS.
pub struct Rendered {
    /// The catalog component.
    pub component: String,
    /// The OS it was rendered for.
    pub os: String,
    /// The version it installs (the locked version, as its header names it).
    pub version: String,
    /// Where render put it (`awstoe/<os>/<file>.yaml`).
    pub path: String,
    /// The document.
    pub document: AwstoeDocument,
    /// The document as JSON.
    pub json: Value,
}

/// `(component, version, os)` from the header render writes, e.g.
/// `#   - <built-in>/components/opa.yaml (opa 1.21.0, amazonlinux2023)`.
fn header(text: &str) -> Option<(String, String, String)> {
    text.lines()
        .take_while(|line| line.starts_with('#'))
        .find_map(|line| {
            let rest = line.split("<built-in>/components/").nth(1)?;
            let (file, rest) = rest.split_once(" (")?;
            let inner = rest.strip_suffix(')')?;
            let (name_version, os) = inner.split_once(", ")?;
            let (name, version) = name_version.split_once(' ')?;
            // Not the documents render adds for a component's secrets
            (file.strip_suffix(".yaml") == Some(name) && !os.contains(' '))
                .then(|| (name.to_string(), version.to_string(), os.to_string()))
        })
}

/// The component documents of the every-component project of `oses`.
fn render_documents(name: &str, oses: &[&str]) -> Vec<Rendered> {
    let project = every_component_project(name, oses);
    let rendered = render(
        &load(project.path()),
        &RenderOptions::new(&[Target::Awstoe]),
    )
    .expect("renders");
    let mut documents = Vec::new();
    for file in &rendered.files {
        if !file.path.starts_with("awstoe/") || !file.path.ends_with(".yaml") {
            continue;
        }
        let Some((component, version, os)) = header(&file.contents) else {
            continue;
        };
        let loaded = load_str(file.path.clone(), &file.contents, Limits::DEFAULT);
        let json = loaded
            .root
            .as_ref()
            .map(decode::to_json)
            .unwrap_or_else(|| panic!("{} does not parse as YAML", file.path));
        let document: AwstoeDocument = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("{} is not an AWSTOE document: {e}", file.path));
        documents.push(Rendered {
            component,
            os,
            version,
            path: file.path.clone(),
            document,
            json,
        });
    }
    documents.sort_by(|a, b| (&a.component, &a.os, &a.path).cmp(&(&b.component, &b.os, &b.path)));
    documents
}

/// Every (component, Linux OS) rendered document, default versions (and the versions the
/// golden recipes pin).
pub fn documents() -> &'static [Rendered] {
    static DOCUMENTS: OnceLock<Vec<Rendered>> = OnceLock::new();
    DOCUMENTS.get_or_init(|| render_documents("replay", &LINUX))
}

/// The rendered document of `component` on `os`: the one of the catalog's default version
/// when there are several.
pub fn document(component: &str, os: &str) -> &'static Rendered {
    let (catalog, _) = imagesmith_catalog::builtin();
    let default = catalog
        .components
        .get(component)
        .and_then(|c| c.versions.default.as_ref())
        .map(|v| v.as_str().to_string());
    let matching: Vec<&Rendered> = documents()
        .iter()
        .filter(|d| d.component == component && d.os == os)
        .collect();
    matching
        .iter()
        .find(|d| Some(&d.version) == default.as_ref())
        .or(matching.first())
        .copied()
        .unwrap_or_else(|| panic!("no rendered document of {component} on {os}"))
}

/// The rendered `windows2022` document of `component` (not replayed: no PowerShell here).
pub fn windows_document(component: &str) -> Value {
    static DOCUMENTS: OnceLock<Vec<Rendered>> = OnceLock::new();
    DOCUMENTS
        .get_or_init(|| render_documents("replay-windows", &["windows2022"]))
        .iter()
        .find(|d| d.component == component)
        .map(|d| d.json.clone())
        .unwrap_or_else(|| panic!("no rendered windows2022 document of {component}"))
}

/// One recorded answer of a fake tool.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// A bash glob matched against the call's `"$*"`; any arguments when absent.
    #[serde(default)]
    pub args: Option<String>,
    /// What it prints on standard output.
    #[serde(default)]
    pub stdout: String,
    /// What it prints on standard error.
    #[serde(default)]
    pub stderr: String,
    /// Its exit code.
    #[serde(default)]
    pub exit: i32,
    /// Instead of the above: a bash script run with the call's arguments, working directory
    /// and standard input.
    #[serde(default)]
    pub script: Option<String>,
}

/// What a vendor's tools print at one version: files and fake tools laid over the root.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    /// The version the output belongs to.
    pub version: String,
    /// The OSes it applies to; every Linux OS when empty.
    #[serde(default)]
    pub os: Vec<String>,
    /// Where the texts come from.
    #[serde(default)]
    pub source: String,
    /// Files laid over the root, by absolute path.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Paths hidden from the root (whiteouts), e.g. a host tool the image would not have.
    #[serde(default)]
    pub absent: Vec<String>,
    /// Executables laid over the root, by absolute path, with their recorded answers.
    #[serde(default)]
    pub tools: BTreeMap<String, Vec<Call>>,
}

impl Recording {
    /// One recording in the fixture format.
    pub fn from_yaml(text: &str) -> Recording {
        let loaded = load_str("recording.yaml".to_string(), text, Limits::DEFAULT);
        let json = loaded
            .root
            .as_ref()
            .map(decode::to_json)
            .expect("a recording parses as YAML");
        serde_json::from_value(json).unwrap_or_else(|e| panic!("not a recording: {e}"))
    }

    /// This recording with `extra` laid over it: its files win, its calls are tried first.
    pub fn with(mut self, extra: Recording) -> Recording {
        self.files.extend(extra.files);
        self.absent.extend(extra.absent);
        for (tool, calls) in extra.tools {
            let mine = self.tools.remove(&tool).unwrap_or_default();
            self.tools
                .insert(tool, calls.into_iter().chain(mine).collect::<Vec<_>>());
        }
        self
    }

    fn applies_to(&self, os: &str) -> bool {
        self.os.is_empty() || self.os.iter().any(|o| o == os)
    }
}

/// Files a vendor publishes for one release.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The release.
    pub version: String,
    /// Where the list comes from.
    #[serde(default)]
    pub source: String,
    /// The URL the `files` are under (ends with `/`).
    #[serde(default)]
    pub base: Option<String>,
    /// File names under `base`.
    #[serde(default)]
    pub files: Vec<String>,
    /// Full URLs.
    #[serde(default)]
    pub urls: Vec<String>,
}

impl Release {
    /// Every URL of the release.
    pub fn all_urls(&self) -> Vec<String> {
        let base = self.base.clone().unwrap_or_default();
        self.files
            .iter()
            .map(|file| format!("{base}{file}"))
            .chain(self.urls.iter().cloned())
            .collect()
    }
}

/// A component's recorded vendor facts (`tests/fixtures/vendor/<component>.yaml`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vendor {
    /// The catalog component.
    pub component: String,
    /// What the vendor publishes.
    #[serde(default)]
    pub releases: Vec<Release>,
    /// What its tools print.
    #[serde(default)]
    pub recordings: Vec<Recording>,
}

impl Vendor {
    /// The recording of `version` on `os`.
    pub fn recording(&self, version: &str, os: &str) -> Option<&Recording> {
        self.recordings
            .iter()
            .find(|r| r.version == version && r.applies_to(os))
    }

    /// The recordings of other versions than `version` on `os`.
    pub fn others(&self, version: &str, os: &str) -> Vec<&Recording> {
        self.recordings
            .iter()
            .filter(|r| r.version != version && r.applies_to(os))
            .collect()
    }
}

/// Where the fixtures are.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vendor")
}

/// Loads `tests/fixtures/vendor/<component>.yaml`, or `None` when there is none.
pub fn try_vendor(component: &str) -> Option<Vendor> {
    let path = fixtures_dir().join(format!("{component}.yaml"));
    let text = std::fs::read_to_string(&path).ok()?;
    let loaded = load_str(path.display().to_string(), &text, Limits::DEFAULT);
    let json = loaded
        .root
        .as_ref()
        .map(decode::to_json)
        .unwrap_or_else(|| panic!("{} does not parse as YAML", path.display()));
    let vendor: Vendor = serde_json::from_value(json)
        .unwrap_or_else(|e| panic!("{} is not a vendor fixture: {e}", path.display()));
    assert_eq!(vendor.component, component, "{}", path.display());
    Some(vendor)
}

/// Loads `tests/fixtures/vendor/<component>.yaml`.
pub fn vendor(component: &str) -> Vendor {
    try_vendor(component)
        .unwrap_or_else(|| panic!("no fixture tests/fixtures/vendor/{component}.yaml"))
}

/// The components `REPLAY_ONLY` (comma-separated) restricts the tests to; all when unset.
pub fn selected(component: &str) -> bool {
    match std::env::var("REPLAY_ONLY") {
        Ok(list) if !list.trim().is_empty() => list.split(',').any(|c| c.trim() == component),
        _ => true,
    }
}

/// What a replay did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every phase succeeded.
    pub passed: bool,
    /// `phase/step` of the first failed step.
    pub failed_step: Option<String>,
    /// Every step's standard output and error, in order, each under a `== phase/step` line.
    pub output: String,
}

/// Whether the sandbox can run here (rootful: the overlay has this machine's root as a lower
/// layer); prints why not, and fails under `CI=true` (CI runs as root).
fn rootful() -> bool {
    if imagesmith_sandbox::detect_mode().is_ok_and(|mode| mode == Mode::Rootful)
        && Path::new("/dev/shm").is_dir()
    {
        return true;
    }
    let reason = "replaying documents needs root and /dev/shm (the sandbox lays an overlay over this machine's root)";
    assert!(
        std::env::var("CI").map_or(true, |value| value != "true"),
        "{reason}"
    );
    eprintln!("skipped: {reason}");
    false
}

/// The bash of one fake tool; its answers are files under `data` (inside the root).
fn fake_tool(tool: &str, source: &str, calls: &[Call], data: &str) -> String {
    let mut script = format!(
        "#!/bin/bash\n# imagesmith replay: {tool}, as recorded ({})\nd={data}\nargs=\"$*\"\n",
        source.replace('\n', " ")
    );
    for (i, call) in calls.iter().enumerate() {
        let condition = match call.args {
            Some(_) => format!("p=$(cat \"$d/{i}.args\"); if [[ \"$args\" == $p ]]; then"),
            None => String::from("if true; then"),
        };
        let answer = match call.script {
            Some(_) => format!("exec /bin/bash \"$d/{i}.sh\" \"$@\""),
            None => format!(
                "cat \"$d/{i}.stdout\"; cat \"$d/{i}.stderr\" >&2; exit {}",
                call.exit
            ),
        };
        script.push_str(&format!("{condition}\n  {answer}\nfi\n"));
    }
    script.push_str(&format!(
        "printf 'replay: no recording of `%s %s`\\n' '{tool}' \"$*\" >&2\nexit 127\n"
    ));
    script
}

fn write(path: &Path, contents: &[u8], mode: u32) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir in the fakes layer");
    }
    std::fs::write(path, contents).expect("write in the fakes layer");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Writes `recording` as an overlay layer in `layer`.
fn lay(recording: &Recording, layer: &Path) {
    let inside = |path: &str| layer.join(path.trim_start_matches('/'));
    for (path, contents) in &recording.files {
        write(&inside(path), contents.as_bytes(), 0o644);
    }
    for (n, (tool, calls)) in recording.tools.iter().enumerate() {
        let data = format!("/.imagesmith-replay/{n}");
        for (i, call) in calls.iter().enumerate() {
            let at = |suffix: &str| inside(&format!("{data}/{i}.{suffix}"));
            if let Some(args) = &call.args {
                write(&at("args"), args.as_bytes(), 0o644);
            }
            match &call.script {
                Some(body) => write(&at("sh"), body.as_bytes(), 0o755),
                None => {
                    write(&at("stdout"), call.stdout.as_bytes(), 0o644);
                    write(&at("stderr"), call.stderr.as_bytes(), 0o644);
                }
            }
        }
        let script = fake_tool(tool, &recording.source, calls, &data);
        write(&inside(tool), script.as_bytes(), 0o755);
    }
    for path in &recording.absent {
        let at = inside(path);
        if let Some(parent) = at.parent() {
            std::fs::create_dir_all(parent).expect("mkdir in the fakes layer");
        }
        // An overlay whiteout: a 0/0 character device hides the path in the layers below
        let status = std::process::Command::new("mknod")
            .arg(&at)
            .args(["c", "0", "0"])
            .status()
            .expect("run mknod");
        assert!(status.success(), "mknod {}", at.display());
    }
}

/// Runs the executor's commands in the sandbox over the fakes and this machine's root.
struct ReplayHost {
    root: OverlayRoot,
    downloads: BTreeMap<String, Vec<u8>>,
}

impl Host for ReplayHost {
    /// The upper directory: what the executor writes there (scripts, downloads) shows in the
    /// merged tree the commands see; files of the lower layers are not visible to file
    /// actions, which the validate and test phases do not use.
    fn root(&self) -> &Path {
        &self.root.upper_dir
    }

    fn run(&mut self, request: &RunRequest) -> Result<RunOutput, HostError> {
        if request.stdin.is_some() {
            return Err(HostError::Other(String::from(
                "the replay sandbox gives commands no standard input",
            )));
        }
        let mut config =
            SandboxConfig::new(self.root.clone(), request.program.argv(), Mode::Rootful);
        config.env = request.env.clone();
        config.cwd = PathBuf::from(&request.cwd);
        config.timeout = Some(request.timeout.map_or(STEP_LIMIT, |t| t.min(STEP_LIMIT)));
        let output = LinuxSandbox::new()
            .run(&config, None)
            .map_err(|e| HostError::Other(format!("the sandbox failed: {e}")))?;
        Ok(RunOutput {
            exit_code: Some(output.exit_code),
            stdout: output.stdout,
            stderr: output.stderr,
            timed_out: output.timed_out,
        })
    }

    fn download(&mut self, request: &DownloadRequest) -> Result<(), HostError> {
        let body = self
            .downloads
            .get(&request.url)
            .ok_or_else(|| HostError::Download {
                url: request.url.clone(),
                message: String::from("404 Not Found (no such download in the replay)"),
            })?;
        if let Some(parent) = request.destination.parent() {
            std::fs::create_dir_all(parent).map_err(|source| HostError::Io {
                operation: "mkdir",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&request.destination, body).map_err(|source| HostError::Io {
            operation: "write",
            path: request.destination.clone(),
            source,
        })
    }
}

/// The environment AWSTOE gives commands under SSM: no `HOME`.
fn ssm_options() -> ExecOptions {
    ExecOptions {
        env: vec![
            (
                "PATH".into(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ),
            ("LANG".into(), "C.UTF-8".into()),
        ],
        ..ExecOptions::default()
    }
}

/// Runs `phases` of `document` (whole phases, in document order, stopping at a failed one) in
/// the sandbox with `recording` laid over this machine's root; `downloads` (URL → bytes)
/// serve WebDownload steps. `None` when the sandbox cannot run here.
pub fn replay(
    document: &AwstoeDocument,
    phases: &[&str],
    recording: &Recording,
    downloads: &BTreeMap<String, Vec<u8>>,
) -> Option<Outcome> {
    if !rootful() {
        return None;
    }
    // Not on this machine's root filesystem: overlayfs refuses a layer inside another
    let dir = tempfile::Builder::new()
        .prefix("imagesmith-replay-")
        .tempdir_in("/dev/shm")
        .expect("a directory in /dev/shm");
    let layer = dir.path().join("fakes");
    std::fs::create_dir_all(&layer).expect("mkdir");
    lay(recording, &layer);
    let mut host = ReplayHost {
        root: OverlayRoot {
            lower_dirs: vec![layer, PathBuf::from("/")],
            upper_dir: dir.path().join("upper"),
            work_dir: dir.path().join("work"),
            merged_dir: dir.path().join("merged"),
        },
        downloads: downloads.clone(),
    };
    std::fs::create_dir_all(&host.root.upper_dir).expect("mkdir");
    let log = Executor::new(&mut host, ssm_options())
        .run_document(document, phases)
        .unwrap_or_else(|e| panic!("document {} cannot run: {e}", document.name));
    let mut output = String::new();
    let mut failed_step = None;
    for phase in &log.phases {
        for step in &phase.steps {
            output.push_str(&format!(
                "== {}/{} ({:?})\n{}{}",
                phase.name, step.name, step.status, step.stdout, step.stderr
            ));
            if !step.failure_message.is_empty() {
                output.push_str(&format!("failure: {}\n", step.failure_message));
            }
            if failed_step.is_none() && step.status == imagesmith_awstoe::exec::StepStatus::Failed {
                failed_step = Some(format!("{}/{}", phase.name, step.name));
            }
        }
    }
    Some(Outcome {
        passed: log.status != Status::Failed,
        failed_step,
        output,
    })
}

/// A copy of `document` keeping only the named steps of `phase`, and no other phase.
pub fn only_steps(document: &AwstoeDocument, phase: &str, steps: &[&str]) -> AwstoeDocument {
    let mut json = serde_json::to_value(document).expect("a document serializes");
    let phases = json["phases"].as_array_mut().expect("phases");
    phases.retain(|p| p["name"] == phase);
    assert!(!phases.is_empty(), "{} has no phase {phase}", document.name);
    let kept = phases[0]["steps"].as_array_mut().expect("steps");
    kept.retain(|s| steps.iter().any(|name| s["name"] == *name));
    assert_eq!(
        kept.len(),
        steps.len(),
        "{} lacks one of {steps:?}",
        document.name
    );
    serde_json::from_value(json).expect("still a document")
}

/// `document` with the default of its parameter `name` set to `value` (how a pin of another
/// value renders the same document).
pub fn with_parameter(document: &AwstoeDocument, name: &str, value: &str) -> AwstoeDocument {
    let mut json = serde_json::to_value(document).expect("a document serializes");
    let parameters = json["parameters"].as_array_mut().expect("parameters");
    let parameter = parameters
        .iter_mut()
        .find_map(|p| p.get_mut(name))
        .unwrap_or_else(|| panic!("{} has no parameter {name}", document.name));
    parameter["default"] = Value::String(value.to_string());
    serde_json::from_value(json).expect("still a document")
}

/// The default of the parameter `name` of `document`.
pub fn parameter(document: &AwstoeDocument, name: &str) -> String {
    let json = serde_json::to_value(document).expect("a document serializes");
    json["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find_map(|p| p.get(name)))
        .and_then(|p| p["default"].as_str())
        .unwrap_or_else(|| panic!("{} has no parameter {name}", document.name))
        .to_string()
}

/// `document` with `edit` applied to the script of each step named `step` (in any phase);
/// panics when there is none.
pub fn with_script(
    document: &AwstoeDocument,
    step: &str,
    edit: impl Fn(&str) -> String,
) -> AwstoeDocument {
    let mut json = serde_json::to_value(document).expect("a document serializes");
    let mut found = false;
    for phase in json["phases"].as_array_mut().expect("phases") {
        for s in phase["steps"].as_array_mut().expect("steps") {
            if s["name"] == step {
                for command in s["inputs"]["commands"].as_array_mut().expect("commands") {
                    let text = command.as_str().expect("a script").to_string();
                    *command = Value::String(edit(&text));
                }
                found = true;
            }
        }
    }
    assert!(found, "{} has no step {step}", document.name);
    serde_json::from_value(json).expect("still a document")
}

/// The last lines of a replay's output, for a failure message.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n    ")
}

#[test]
fn every_linux_document_passes_on_its_version_and_fails_on_another() {
    if !rootful() {
        return;
    }
    let none = BTreeMap::new();
    let mut problems = Vec::new();
    let (mut passes, mut refusals) = (0, 0);
    let selected_documents: Vec<&Rendered> = documents()
        .iter()
        .filter(|d| selected(&d.component))
        .collect();
    assert!(!selected_documents.is_empty(), "no document selected");
    for rendered in selected_documents {
        let at = format!(
            "{} ({} {} on {})",
            rendered.path, rendered.component, rendered.version, rendered.os
        );
        let Some(vendor) = try_vendor(&rendered.component) else {
            problems.push(format!(
                "{at}: no fixture tests/fixtures/vendor/{}.yaml",
                rendered.component
            ));
            continue;
        };
        match vendor.recording(&rendered.version, &rendered.os) {
            None => problems.push(format!(
                "{at}: no recording of version {} for {}",
                rendered.version, rendered.os
            )),
            Some(recording) => {
                let outcome = replay(&rendered.document, &["validate", "test"], recording, &none)
                    .expect("the sandbox runs");
                if outcome.passed {
                    passes += 1;
                } else {
                    problems.push(format!(
                        "{at}: fails on the recording of its own version at {}:\n    {}",
                        outcome.failed_step.unwrap_or_default(),
                        tail(&outcome.output)
                    ));
                }
            }
        }
        let others = vendor.others(&rendered.version, &rendered.os);
        if others.is_empty() {
            problems.push(format!(
                "{at}: no recording of another version for {}",
                rendered.os
            ));
        }
        for other in others {
            let outcome = replay(&rendered.document, &["validate", "test"], other, &none)
                .expect("the sandbox runs");
            if outcome.passed {
                problems.push(format!(
                    "{at}: passes on the recording of version {}:\n    {}",
                    other.version,
                    tail(&outcome.output)
                ));
            } else {
                refusals += 1;
            }
        }
    }
    eprintln!(
        "replay: {passes} documents pass on their own version's recording, {refusals} recordings of other versions refused, {} problems",
        problems.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_fake_answers_recorded_calls_and_refuses_others() {
    let recording = Recording::from_yaml(
        r#"
version: "1.0.0"
source: a test of the harness
files:
  /etc/imagesmith-replay-test: "hello\n"
tools:
  /usr/local/bin/imagesmith-fake:
    - args: --version
      stdout: "fake version 1.0.0\n"
    - args: "check *"
      script: |
        if [ "$2" = good ]; then echo fine; exit 0; fi
        echo "bad input: $2" >&2; exit 2
"#,
    );
    let document: AwstoeDocument = serde_json::from_value(serde_json::json!({
        "name": "replay-test",
        "schemaVersion": "1.0",
        "phases": [{"name": "validate", "steps": [
            {"name": "Version", "action": "ExecuteBash", "inputs": {"commands": [
                "set -euo pipefail\nimagesmith-fake --version | grep -q '^fake version 1.0.0$'\ngrep -q hello /etc/imagesmith-replay-test\nimagesmith-fake check good\n! imagesmith-fake check bad\ntest -z \"${HOME:-}\""
            ]}},
            {"name": "Unrecorded", "action": "ExecuteBash", "inputs": {"commands": ["imagesmith-fake --help"]}}
        ]}]
    }))
    .expect("a document");
    let Some(outcome) = replay(&document, &["validate"], &recording, &BTreeMap::new()) else {
        return;
    };
    assert!(!outcome.passed, "{}", outcome.output);
    assert_eq!(
        outcome.failed_step.as_deref(),
        Some("validate/Unrecorded"),
        "{}",
        outcome.output
    );
    assert!(
        outcome
            .output
            .contains("replay: no recording of `/usr/local/bin/imagesmith-fake --help`"),
        "{}",
        outcome.output
    );
    assert!(
        !Path::new("/usr/local/bin/imagesmith-fake").exists(),
        "the fake stayed in the sandbox"
    );
}
