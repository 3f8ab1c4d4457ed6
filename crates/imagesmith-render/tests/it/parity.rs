//! Issue 9: AWSTOE substitution, loops and conditions live in `imagesmith-awstoe` alone, and
//! render uses them. One document with parameters, constants, `forEach`/`for` loops and `if`
//! conditions is rendered to a Dockerfile and run by `imagesmith_awstoe::exec` with a
//! recording host: both must run the same shell commands in the same order.

use crate::support::load;
use imagesmith_awstoe::exec::{
    ExecOptions, Executor, Host, HostError, Program, RunOutput, RunRequest, StepStatus,
};
use imagesmith_awstoe::AwstoeDocument;
use imagesmith_render::{render, RenderOptions, Target};
use serde_json::{json, Value};
use std::path::Path;

/// The component's version, which the plan fills into the document's `version` parameter.
const VERSION: &str = "1.0.0";

fn bash(name: &str, command: &str) -> Value {
    json!({"name": name, "action": "ExecuteBash", "inputs": {"commands": [command]}})
}

/// Every construct both sides must agree on; each command is one line.
fn document() -> Value {
    let mut each = bash(
        "EachPackage",
        "echo install {{ pkgs.value }} as {{ loop.index }} into {{ Prefix }}",
    );
    each["loop"] = json!({"name": "pkgs", "forEach": ["curl", "jq"]});
    let mut count = bash(
        "CountDown",
        "echo countdown {{ loop.value }} of {{ version }}",
    );
    count["loop"] = json!({"for": {"start": 3, "end": 1, "updateBy": -1}});
    let mut split = bash("SplitList", "echo part {{ loop.index }}={{ loop.value }}");
    split["loop"] = json!({"forEach": {"list": "a;b;c", "delimiter": ";"}});
    let mut when = bash("WhenHello", "echo the greeting is {{ Greeting }}");
    when["if"] = json!({"stringEquals": "{{ Greeting }}", "value": "HELLO"});
    let mut skipped = bash("NeverRuns", "echo this never runs");
    skipped["if"] = json!({"not": {"stringEquals": "{{ Prefix }}", "value": "/opt/parity"}});
    let mut both = bash("LoopWithIf", "echo say {{ words.value }}");
    both["if"] = json!([{"and": [
        {"numberGreaterThanEquals": "{{ Threshold }}", "value": 2},
        {"patternMatches": "^1\\.", "value": "{{ version }}"}
    ]}]);
    both["loop"] = json!({"name": "words", "forEach": {"list": "{{ Greeting }},world"}});
    let mut otherwise = bash("ElseSkip", "echo no");
    otherwise["if"] = json!({"stringIsEmpty": "{{ Greeting }}", "then": "Execute", "else": "Skip"});
    json!({
        "name": "parity",
        "description": "Exercises every AWSTOE construct the Dockerfile renderer translates",
        "schemaVersion": "1.0",
        "parameters": [
            {"version": {"type": "string", "description": "The version"}},
            {"Greeting": {"type": "string", "default": "hello", "description": "A word"}}
        ],
        "constants": [
            {"Prefix": {"type": "string", "value": "/opt/parity"}},
            {"Threshold": {"type": "string", "value": "3"}}
        ],
        "phases": [{"name": "build", "steps": [
            bash("Greet", "echo {{ Greeting }} {{ version }} into {{ Prefix }}"),
            each, count, split, when, skipped, both, otherwise
        ]}]
    })
}

/// A project with one container recipe using one project component holding `document`.
fn write_project(root: &Path, document: &Value) {
    for folder in ["components", "recipes"] {
        std::fs::create_dir_all(root.join(folder)).expect("mkdir");
    }
    std::fs::write(
        root.join("imagesmith.yaml"),
        "kind: project\nname: parity\nos: [amazonlinux2023]\n",
    )
    .expect("write the project");
    std::fs::write(
        root.join("recipes/parity-container.yaml"),
        format!("kind: recipe\ndescription: Parity of render and exec\nbase_image: amazonlinux:2023\nversion: 1.0.0\ncomponents:\n  parity: {VERSION}\n"),
    )
    .expect("write the recipe");
    // JSON is YAML: the document goes in as one flow mapping.
    std::fs::write(
        root.join("components/parity.yaml"),
        format!(
            "kind: component\nname: parity\ndescription: Parity of render and exec\ncategory: tooling\nversions:\n  syntax: semver\n  default: {VERSION}\n  supported: [{VERSION}]\nplatforms:\n  amazonlinux2023:\n    artifact:\n      type: package\n      names: [coreutils]\n    document: {document}\n"
        ),
    )
    .expect("write the component");
}

/// The bodies of the step blocks (`(` … `)`) of the component's RUN, in order.
/// The Dockerfile's step scripts (`docker/parity-container/steps/`), in RUN order, joined.
fn steps_of(rendered: &imagesmith_render::Rendered) -> String {
    let dockerfile = &rendered
        .file("docker/parity-container/Dockerfile")
        .expect("a Dockerfile")
        .contents;
    // The RUNs name their scripts in order
    dockerfile
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("--mount=type=bind,source="))
        .filter_map(|mount| mount.split(',').next())
        .map(|step| {
            rendered
                .file(&format!("docker/parity-container/{step}"))
                .unwrap_or_else(|| panic!("the Dockerfile runs `{step}`, which is not rendered"))
                .contents
                .clone()
        })
        .collect()
}

fn dockerfile_runs(dockerfile: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut current: Option<String> = None;
    for line in dockerfile.lines() {
        match (&mut current, line) {
            (None, "(") => current = Some(String::new()),
            (Some(body), ")") => {
                runs.push(std::mem::take(body));
                current = None;
            }
            (Some(body), line) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, _) => {}
        }
    }
    runs
}

/// A host that runs nothing and records each script it is asked to run.
struct Recorder {
    root: tempfile::TempDir,
    scripts: Vec<String>,
}

impl Host for Recorder {
    fn root(&self) -> &Path {
        self.root.path()
    }

    fn run(&mut self, request: &RunRequest) -> Result<RunOutput, HostError> {
        let Program::Script { script, .. } = &request.program else {
            return Err(HostError::Other(format!(
                "Expected a script, got `{}`",
                request.program.argv().join(" ")
            )));
        };
        let path = self.root.path().join(script.trim_start_matches('/'));
        let text = std::fs::read_to_string(&path).map_err(|source| HostError::Io {
            operation: "read",
            path,
            source,
        })?;
        self.scripts.push(text);
        Ok(RunOutput {
            exit_code: Some(0),
            ..RunOutput::default()
        })
    }
}

#[test]
fn dockerfile_and_executor_run_the_same_commands() {
    let project = tempfile::tempdir().expect("temp dir");
    write_project(project.path(), &document());
    let plan = load(project.path());
    let rendered =
        render(&plan, &RenderOptions::new(&[Target::Dockerfile])).expect("the project renders");
    assert_eq!(rendered.notes, [], "every step is rendered");
    let dockerfile = &steps_of(&rendered);
    let from_dockerfile = dockerfile_runs(dockerfile);

    let document: AwstoeDocument = serde_json::from_value(document()).expect("a document");
    let mut host = Recorder {
        root: tempfile::tempdir().expect("temp dir"),
        scripts: Vec::new(),
    };
    let mut options = ExecOptions::default();
    options.parameters.insert("version".into(), VERSION.into());
    let log = Executor::new(&mut host, options)
        .run_phase(&document, "build")
        .expect("the phase runs");
    let statuses: Vec<(&str, StepStatus)> = log
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("Greet", StepStatus::Success),
            ("EachPackage", StepStatus::Success),
            ("CountDown", StepStatus::Success),
            ("SplitList", StepStatus::Success),
            ("WhenHello", StepStatus::Success),
            ("NeverRuns", StepStatus::Skipped),
            ("LoopWithIf", StepStatus::Success),
            ("ElseSkip", StepStatus::Skipped),
        ]
    );

    assert_eq!(from_dockerfile, host.scripts, "Dockerfile:\n{dockerfile}");
    // And what both run is what AWSTOE would.
    assert_eq!(
        host.scripts,
        [
            "echo hello 1.0.0 into /opt/parity\n",
            "echo install curl as 0 into /opt/parity\n",
            "echo install jq as 1 into /opt/parity\n",
            "echo countdown 3 of 1.0.0\n",
            "echo countdown 2 of 1.0.0\n",
            "echo countdown 1 of 1.0.0\n",
            "echo part 0=a\n",
            "echo part 1=b\n",
            "echo part 2=c\n",
            "echo the greeting is hello\n",
            "echo say hello\n",
            "echo say world\n",
        ]
    );
    assert!(
        dockerfile.contains(
            "# step NeverRuns (ExecuteBash)\n# skipped: its `if` condition chose `Skip`\n"
        ),
        "{dockerfile}"
    );
}

/// What only a running AWSTOE can know leaves the step out of the Dockerfile, with a note.
#[test]
fn chaining_and_image_conditions_are_left_out_with_a_note() {
    let mut doc = document();
    let mut probe = bash("OnlyWithBash", "echo bash is there");
    probe["if"] = json!({"binaryExists": "bash"});
    let steps = doc["phases"][0]["steps"].as_array_mut().expect("steps");
    steps.push(probe);
    steps.push(bash("Chained", "echo {{ build.Greet.outputs.stdout }}"));
    let project = tempfile::tempdir().expect("temp dir");
    write_project(project.path(), &doc);
    let plan = load(project.path());
    let rendered =
        render(&plan, &RenderOptions::new(&[Target::Dockerfile])).expect("the project renders");
    let notes: Vec<&str> = rendered.notes.iter().map(|n| n.message.as_str()).collect();
    assert_eq!(
        notes,
        [
            "Image `parity-container`: parity 1.0.0: build step `Chained` (ExecuteBash) uses `{{ build.Greet.outputs.stdout }}`, which only AWSTOE can resolve; it is left out of the Dockerfile",
            "Image `parity-container`: parity 1.0.0: build step `OnlyWithBash` (ExecuteBash) has an `if` condition on the image (`binaryExists`), which only a build can decide; it is left out of the Dockerfile",
        ]
    );
}

/// A statically decided `Abort` fails both: the executor stops the phase at the step, the
/// Dockerfile's RUN exits there.
#[test]
fn abort_fails_the_build_in_both() {
    let mut stop = bash("Stop", "echo never");
    stop["if"] = json!({"stringEquals": "{{ Greeting }}", "value": "bye", "else": "Abort"});
    let doc = json!({
        "name": "parity", "schemaVersion": "1.0",
        "parameters": [{"version": {"type": "string"}},
                       {"Greeting": {"type": "string", "default": "hello"}}],
        "phases": [{"name": "build", "steps": [
            bash("Greet", "echo {{ Greeting }}"), stop, bash("After", "echo after")
        ]}]
    });
    let project = tempfile::tempdir().expect("temp dir");
    write_project(project.path(), &doc);
    let plan = load(project.path());
    let rendered =
        render(&plan, &RenderOptions::new(&[Target::Dockerfile])).expect("the project renders");
    let dockerfile = &steps_of(&rendered);
    assert!(
        dockerfile.contains("# step Stop (ExecuteBash)\necho 'Step Stop failed: its `if` condition chose `Abort`' >&2\nexit 1\n# step After"),
        "{dockerfile}"
    );

    let document: AwstoeDocument = serde_json::from_value(doc).expect("a document");
    let mut host = Recorder {
        root: tempfile::tempdir().expect("temp dir"),
        scripts: Vec::new(),
    };
    let mut options = ExecOptions::default();
    options.parameters.insert("version".into(), VERSION.into());
    let log = Executor::new(&mut host, options)
        .run_phase(&document, "build")
        .expect("the phase runs");
    assert_eq!(host.scripts, ["echo hello\n"]);
    let statuses: Vec<StepStatus> = log.steps.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [StepStatus::Success, StepStatus::Failed]);
}
