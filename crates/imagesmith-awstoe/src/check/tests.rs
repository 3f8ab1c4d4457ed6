//! One test per check, each with a document that passes and one that does not.

use super::*;
use serde_json::{json, Value};

fn doc(value: Value) -> AwstoeDocument {
    serde_json::from_value(value).expect("a well-formed document")
}

fn phases(phases: Value) -> AwstoeDocument {
    doc(json!({"name": "test-doc", "schemaVersion": "1.0", "phases": phases}))
}

fn steps(steps: Value) -> AwstoeDocument {
    phases(json!([{"name": "build", "steps": steps}]))
}

fn bash(name: &str, command: &str) -> Value {
    json!({"name": name, "action": "ExecuteBash", "inputs": {"commands": [command]}})
}

fn step(action: &str, inputs: Value) -> AwstoeDocument {
    steps(json!([{"name": "Step", "action": action, "inputs": inputs}]))
}

fn findings_with(document: &AwstoeDocument, options: &CheckOptions) -> Vec<Finding> {
    check(document, options)
}

fn findings(document: &AwstoeDocument) -> Vec<Finding> {
    findings_with(document, &CheckOptions::default())
}

fn codes(document: &AwstoeDocument) -> Vec<Code> {
    findings(document).into_iter().map(|f| f.code).collect()
}

/// The only finding, which must have `code`.
fn only(document: &AwstoeDocument, code: Code) -> Finding {
    let found = findings(document);
    assert_eq!(
        found.iter().map(|f| f.code).collect::<Vec<_>>(),
        [code],
        "{found:#?}"
    );
    found.into_iter().next().unwrap()
}

fn clean(document: &AwstoeDocument) {
    let found = findings(document);
    assert!(found.is_empty(), "{found:#?}");
}

fn windows() -> CheckOptions {
    CheckOptions {
        os_family: OsFamily::Windows,
        ..CheckOptions::default()
    }
}

#[test]
fn a_complete_document_is_clean() {
    clean(&doc(json!({
        "name": "node-exporter",
        "schemaVersion": "1.0",
        "parameters": [{"Version": {"type": "string", "default": "1.8.2"}}],
        "constants": [{"InstallDir": {"type": "string", "value": "/opt/node_exporter"}}],
        "phases": [
            {"name": "build", "steps": [
                {"name": "Download", "action": "WebDownload", "maxAttempts": 3, "inputs": [{
                    "source": "https://example.com/node_exporter-{{ Version }}.tar.gz",
                    "destination": "/tmp/node_exporter.tar.gz",
                    "checksum": "abc", "algorithm": "SHA256"
                }]},
                {"name": "Install", "action": "ExecuteBash", "timeoutSeconds": 600, "onFailure": "Abort",
                 "inputs": {"commands": [
                    "mkdir -p {{ InstallDir }}",
                    "tar -xzf {{ build.Download.inputs[0].destination }} -C {{ InstallDir }}",
                    "echo {{ build.Download.outputs.destination }}"
                 ]}},
                {"name": "Config", "action": "CreateFile", "inputs": [
                    {"path": "/etc/node_exporter.conf", "content": "x", "permissions": "0644", "owner": "root"}
                ]}
            ]},
            {"name": "validate", "steps": [
                {"name": "Version", "action": "ExecuteBash",
                 "inputs": {"commands": ["{{ InstallDir }}/node_exporter --version"]}},
                {"name": "Check", "action": "Assert",
                 "inputs": {"stringEquals": "{{ Version }}", "value": "{{ validate.Version.outputs.stdout }}"}}
            ]},
            {"name": "test", "steps": [bash("Run", "true")]}
        ]
    })));
}

#[test]
fn schema_version() {
    let mut document = steps(json!([bash("A", "true")]));
    clean(&document);
    document.schema_version = "2.0".into();
    let finding = only(&document, Code::SchemaVersion);
    assert_eq!(finding.path_string(), "schemaVersion");
    assert_eq!(finding.message, "Schema version `2.0` is not supported");
}

#[test]
fn phases_must_exist() {
    let finding = only(&phases(json!([])), Code::NoPhases);
    assert_eq!(finding.path_string(), "phases");
}

#[test]
fn unknown_phase_suggests() {
    let finding = only(
        &phases(json!([{"name": "biuld", "steps": [bash("A", "true")]}])),
        Code::UnknownPhase,
    );
    assert_eq!(finding.path_string(), "phases/0/name");
    assert_eq!(finding.hint.as_deref(), Some("did you mean `build`?"));
    clean(&phases(
        json!([{"name": "validate", "steps": [bash("A", "true")]}]),
    ));
}

#[test]
fn duplicate_phase() {
    let finding = only(
        &phases(json!([
            {"name": "build", "steps": [bash("A", "true")]},
            {"name": "build", "steps": [bash("B", "true")]}
        ])),
        Code::DuplicatePhase,
    );
    assert_eq!(finding.path_string(), "phases/1/name");
}

#[test]
fn empty_phase() {
    let finding = only(
        &phases(json!([{"name": "build", "steps": []}])),
        Code::EmptyPhase,
    );
    assert_eq!(finding.path_string(), "phases/0/steps");
}

#[test]
fn phase_order_is_a_warning() {
    let document = phases(json!([
        {"name": "test", "steps": [bash("A", "true")]},
        {"name": "build", "steps": [bash("B", "true")]}
    ]));
    let finding = only(&document, Code::PhaseOrder);
    assert_eq!(finding.severity, Severity::Warning);
}

#[test]
fn step_names() {
    let finding = only(
        &steps(json!([bash("my step", "true")])),
        Code::InvalidStepName,
    );
    assert_eq!(finding.path_string(), "phases/0/steps/0/name");
    clean(&steps(json!([bash("My-Step_2", "true")])));
    let finding = only(
        &steps(json!([bash("A", "true"), bash("A", "false")])),
        Code::DuplicateStepName,
    );
    assert_eq!(finding.path_string(), "phases/0/steps/1/name");
    // The same name in two phases is fine.
    clean(&phases(json!([
        {"name": "build", "steps": [bash("A", "true")]},
        {"name": "validate", "steps": [bash("A", "true")]}
    ])));
    only(
        &steps(json!([bash("{{ X }}", "true")])),
        Code::ExpressionNotAllowed,
    );
}

#[test]
fn unknown_action_suggests() {
    let finding = only(
        &step("ExecuteBsh", json!({"commands": ["x"]})),
        Code::UnknownAction,
    );
    assert_eq!(finding.path_string(), "phases/0/steps/0/action");
    assert_eq!(finding.hint.as_deref(), Some("did you mean `ExecuteBash`?"));
    let finding = only(
        &step("executebash", json!({"commands": ["x"]})),
        Code::UnknownAction,
    );
    assert_eq!(
        finding.hint.as_deref(),
        Some("action names are case-sensitive: use `ExecuteBash`")
    );
}

#[test]
fn windows_only_actions_in_linux_documents() {
    for (action, inputs) in [
        ("ExecutePowerShell", json!({"commands": ["Write-Host hi"]})),
        ("InstallMSI", json!({"path": "C:\\a.msi"})),
        ("UninstallMSI", json!({"path": "C:\\a.msi"})),
        (
            "SetRegistry",
            json!([{"path": "HKLM:\\SOFTWARE\\X", "name": "N", "value": "v", "type": "SZ"}]),
        ),
    ] {
        let document = step(action, inputs);
        let finding = only(&document, Code::WindowsOnlyAction);
        assert_eq!(finding.path_string(), "phases/0/steps/0/action");
        assert!(findings_with(&document, &windows()).is_empty());
    }
}

#[test]
fn linux_only_actions_in_windows_documents() {
    let document = step("ExecuteBash", json!({"commands": ["echo"]}));
    let found = findings_with(&document, &windows());
    assert_eq!(found[0].code, Code::LinuxOnlyAction);
    assert_eq!(found[0].hint.as_deref(), Some("use `ExecutePowerShell`"));
    let document = step("CreateSymlink", json!([{"path": "/a", "target": "/b"}]));
    assert_eq!(
        findings_with(&document, &windows())[0].code,
        Code::LinuxOnlyAction
    );
    clean(&document);
}

#[test]
fn options_not_on_windows() {
    let document = step("CreateFile", json!([{"path": "C:\\a.txt", "owner": "x"}]));
    let found = findings_with(&document, &windows());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].code, Code::OptionNotOnWindows);
    assert_eq!(found[0].path_string(), "phases/0/steps/0/inputs/0/owner");
}

#[test]
fn missing_inputs() {
    let document = steps(json!([{"name": "A", "action": "ExecuteBash"}]));
    let finding = only(&document, Code::MissingInputs);
    assert_eq!(finding.hint.as_deref(), Some("give `commands`"));
    only(&step("CopyFile", json!([])), Code::MissingInputs);
    // UpdateOS and Reboot need no inputs.
    clean(&steps(
        json!([{"name": "A", "action": "UpdateOS"}, {"name": "B", "action": "Reboot"}]),
    ));
}

#[test]
fn inputs_shape() {
    let finding = only(
        &step("CreateFile", json!({"path": "/a"})),
        Code::InputsShape,
    );
    assert_eq!(finding.message, "`CreateFile` takes a list of inputs");
    only(&step("ExecuteBash", json!(["echo"])), Code::InputsShape);
    only(&step("DeleteFile", json!(["/a"])), Code::InputsShape);
}

#[test]
fn unknown_input_suggests() {
    let found = findings(&step("ExecuteBash", json!({"comands": ["x"]})));
    // `commands` is then missing, too.
    assert_eq!(
        found.iter().map(|f| f.code).collect::<Vec<_>>(),
        [Code::UnknownInput, Code::MissingInput]
    );
    assert_eq!(found[0].path_string(), "phases/0/steps/0/inputs/comands");
    assert_eq!(found[0].hint.as_deref(), Some("did you mean `commands`?"));
    let finding = only(
        &step(
            "CopyFile",
            json!([{"source": "/a", "destination": "/b", "overwrit": true}]),
        ),
        Code::UnknownInput,
    );
    assert_eq!(finding.hint.as_deref(), Some("did you mean `overwrite`?"));
}

#[test]
fn missing_required_input() {
    let finding = only(
        &step("CopyFile", json!([{"source": "/a"}])),
        Code::MissingInput,
    );
    assert_eq!(finding.path_string(), "phases/0/steps/0/inputs/0");
    assert_eq!(finding.message, "`CopyFile` needs `destination`");
    clean(&step(
        "CopyFile",
        json!([{"source": "/a", "destination": "/b/"}]),
    ));
}

#[test]
fn input_types() {
    let finding = only(
        &step("ExecuteBash", json!({"commands": "echo hi"})),
        Code::InputType,
    );
    assert_eq!(
        finding.message,
        "`commands` of `ExecuteBash` must be a list of strings"
    );
    only(
        &step("DeleteFolder", json!([{"path": "/a", "force": "yes"}])),
        Code::InputType,
    );
    clean(&step(
        "DeleteFolder",
        json!([{"path": "/a", "force": true}]),
    ));
    only(
        &step("Reboot", json!({"delaySeconds": "soon"})),
        Code::InputType,
    );
    clean(&step("Reboot", json!({"delaySeconds": 60})));
    // A plain integer is accepted where a string is expected, as in AWSTOE's examples.
    clean(&step(
        "SetFilePermissions",
        json!([{"path": "/a", "permissions": 755}]),
    ));
}

#[test]
fn input_values() {
    let document = step(
        "WebDownload",
        json!([{"source": "https://x/a", "destination": "/a", "checksum": "1", "algorithm": "SHA-256"}]),
    );
    let finding = only(&document, Code::InvalidInputValue);
    assert_eq!(finding.hint.as_deref(), Some("did you mean `SHA256`?"));
    only(
        &step("ReadFile", json!([{"path": "/a", "encoding": "latin1"}])),
        Code::InvalidInputValue,
    );
    clean(&step(
        "ReadFile",
        json!([{"path": "/a", "encoding": "UTF-16-le"}]),
    ));
    only(
        &step(
            "SetFilePermissions",
            json!([{"path": "/a", "permissions": "999"}]),
        ),
        Code::InvalidInputValue,
    );
    only(
        &step(
            "S3Download",
            json!([{"source": "https://x", "destination": "/a"}]),
        ),
        Code::InvalidInputValue,
    );
    only(
        &step(
            "WebDownload",
            json!([{"source": "ftp://x/a", "destination": "/a"}]),
        ),
        Code::InvalidInputValue,
    );
}

#[test]
fn web_download_verification() {
    only(
        &step(
            "WebDownload",
            json!([{"source": "https://x/a", "destination": "/a", "checksum": "1"}]),
        ),
        Code::ChecksumIncomplete,
    );
    let finding = only(
        &step(
            "WebDownload",
            json!([{"source": "http://x/a", "destination": "/a"}]),
        ),
        Code::InsecureDownload,
    );
    assert_eq!(finding.severity, Severity::Warning);
    clean(&step(
        "WebDownload",
        json!([{"source": "https://x/a", "destination": "/a"}]),
    ));
}

#[test]
fn powershell_commands_or_file() {
    let options = windows();
    let both = step(
        "ExecutePowerShell",
        json!({"commands": ["x"], "file": "C:\\a.ps1"}),
    );
    assert_eq!(
        findings_with(&both, &options)[0].code,
        Code::ConflictingInputs
    );
    let neither = step("ExecutePowerShell", json!({}));
    assert_eq!(
        findings_with(&neither, &options)[0].code,
        Code::MissingInput
    );
    let one = step("ExecutePowerShell", json!({"file": "C:\\a.ps1"}));
    assert!(findings_with(&one, &options).is_empty());
}

#[test]
fn empty_commands_warn() {
    let finding = only(
        &step("ExecuteBash", json!({"commands": []})),
        Code::EmptyCommands,
    );
    assert_eq!(finding.severity, Severity::Warning);
}

#[test]
fn on_failure_values() {
    let mut a = bash("A", "true");
    a["onFailure"] = json!("abort");
    let finding = only(&steps(json!([a])), Code::InvalidOnFailure);
    assert_eq!(
        finding.hint.as_deref(),
        Some("values are case-sensitive: use `Abort`")
    );
    for value in ["Abort", "Continue", "Ignore"] {
        let mut a = bash("A", "true");
        a["onFailure"] = json!(value);
        clean(&steps(json!([a])));
    }
}

#[test]
fn timeouts() {
    for bad in [0, -2] {
        let mut a = bash("A", "true");
        a["timeoutSeconds"] = json!(bad);
        let finding = only(&steps(json!([a])), Code::InvalidTimeout);
        assert_eq!(finding.path_string(), "phases/0/steps/0/timeoutSeconds");
    }
    for good in [-1, 1, 43200, 86400] {
        let mut a = bash("A", "true");
        a["timeoutSeconds"] = json!(good);
        clean(&steps(json!([a])));
    }
    let reboot = steps(json!([{"name": "R", "action": "Reboot", "timeoutSeconds": 60}]));
    assert_eq!(
        only(&reboot, Code::TimeoutIgnored).severity,
        Severity::Warning
    );
}

#[test]
fn max_attempts() {
    let mut a = bash("A", "true");
    a["maxAttempts"] = json!(0);
    only(&steps(json!([a])), Code::InvalidMaxAttempts);
    let mut a = bash("A", "true");
    a["maxAttempts"] = json!(5);
    clean(&steps(json!([a])));
}

#[test]
fn execute_document_restrictions() {
    let ok = steps(json!([{"name": "N", "action": "ExecuteDocument",
        "inputs": {"document": "a.yaml", "phases": "build",
                   "parameters": [{"name": "p", "value": "v"}]}}]));
    clean(&ok);
    let retried = steps(
        json!([{"name": "N", "action": "ExecuteDocument", "maxAttempts": 2,
        "timeoutSeconds": 60, "inputs": {"document": "a.yaml"}}]),
    );
    assert_eq!(
        codes(&retried),
        [
            Code::ExecuteDocumentRestriction,
            Code::ExecuteDocumentRestriction
        ]
    );
    only(
        &step(
            "ExecuteDocument",
            json!({"document": "a", "parameters": [{"name": "p"}]}),
        ),
        Code::InputType,
    );
}

#[test]
fn loops_for_each() {
    let document = steps(json!([{"name": "A", "action": "ExecuteBash",
        "loop": {"name": "files", "forEach": ["a", "b"]},
        "inputs": {"commands": ["echo {{ loop.value }} {{ files.index }}"]}}]));
    clean(&document);
    let document = steps(json!([{"name": "A", "action": "ExecuteBash",
        "loop": {"forEach": {"list": "a;b", "delimiter": "|"}},
        "inputs": {"commands": ["echo {{ loop.value }}"]}}]));
    let finding = only(&document, Code::InvalidLoopDelimiter);
    assert_eq!(
        finding.path_string(),
        "phases/0/steps/0/loop/forEach/delimiter"
    );
    let empty = steps(json!([{"name": "A", "action": "ExecuteBash",
        "loop": {"forEach": []}, "inputs": {"commands": ["echo {{ loop.value }}"]}}]));
    assert_eq!(only(&empty, Code::EmptyLoop).severity, Severity::Warning);
}

#[test]
fn loops_for() {
    let with = |spec: Value| {
        steps(
            json!([{"name": "A", "action": "ExecuteBash", "loop": {"for": spec},
            "inputs": {"commands": ["echo {{ loop.value }}"]}}]),
        )
    };
    clean(&with(json!({"start": 1, "end": 3, "updateBy": 1})));
    clean(&with(json!({"start": 3, "end": 1, "updateBy": -1})));
    let finding = only(
        &with(json!({"start": 1, "end": 3, "updateBy": 0})),
        Code::LoopUpdateByZero,
    );
    assert_eq!(finding.path_string(), "phases/0/steps/0/loop/for/updateBy");
    let finding = only(
        &with(json!({"start": 1, "end": 3, "updateBy": -1})),
        Code::LoopInfinite,
    );
    assert_eq!(finding.hint.as_deref(), Some("use `updateBy: 1`"));
    only(&with(json!({"start": 1, "end": 3})), Code::InvalidLoop);
}

#[test]
fn loop_names() {
    let looped = |name: &str| {
        json!({"name": name, "action": "ExecuteBash", "loop": {"name": "L", "forEach": ["a"]},
            "inputs": {"commands": ["echo {{ L.value }}"]}})
    };
    let finding = only(
        &steps(json!([looped("A"), looped("B")])),
        Code::DuplicateLoopName,
    );
    assert_eq!(finding.path_string(), "phases/0/steps/1/loop/name");
    only(
        &steps(
            json!([{"name": "A", "action": "ExecuteBash", "loop": {"name": "has space", "forEach": ["a"]},
            "inputs": {"commands": ["echo"]}}]),
        ),
        Code::InvalidLoopName,
    );
}

#[test]
fn loop_variables_only_inside_their_loop() {
    let finding = only(
        &steps(json!([bash("A", "echo {{ loop.value }}")])),
        Code::LoopReferenceOutsideLoop,
    );
    assert_eq!(finding.path_string(), "phases/0/steps/0/inputs/commands/0");
    let document = steps(json!([{"name": "A", "action": "ExecuteBash",
        "loop": {"name": "first", "forEach": ["a"]},
        "inputs": {"commands": ["echo {{ other.value }}"]}}]));
    let finding = only(&document, Code::UnknownLoopName);
    assert!(finding.hint.unwrap().contains("`first`"));
    // A loop's own list cannot use its iteration variables.
    let document = steps(json!([{"name": "A", "action": "ExecuteBash",
        "loop": {"forEach": ["{{ loop.index }}"]}, "inputs": {"commands": ["echo {{ loop.value }}"]}}]));
    only(&document, Code::LoopReferenceOutsideLoop);
}

#[test]
fn conditions() {
    let with = |condition: Value| {
        let mut a = bash("A", "true");
        a["if"] = condition;
        steps(json!([a]))
    };
    clean(&with(json!({"and": [
        {"binaryExists": "apt-get"},
        {"not": {"fileExists": "/etc/redhat-release"}},
        {"numberGreaterThanEquals": 2, "value": "3"}
    ]})));
    clean(&with(
        json!([{"stringEquals": "x", "value": "y", "then": "Execute", "else": "Skip"}]),
    ));
    let finding = only(
        &with(json!({"stringEqual": "x", "value": "y"})),
        Code::UnknownOperator,
    );
    assert_eq!(finding.path_string(), "phases/0/steps/0/if/stringEqual");
    assert_eq!(
        finding.hint.as_deref(),
        Some("did you mean `stringEquals`?")
    );
    let finding = only(
        &with(json!({"stringEquals": "x"})),
        Code::ConditionMissingValue,
    );
    assert_eq!(finding.path_string(), "phases/0/steps/0/if/stringEquals");
    only(
        &with(json!({"not": {"not": {"not": {"not": {"not": {"stringIsEmpty": ""}}}}}})),
        Code::ConditionTooDeep,
    );
    only(
        &with(json!({"stringIsEmpty": "", "then": "run"})),
        Code::InvalidStepAction,
    );
    only(
        &with(json!({"stringIsEmpty": "", "stringEquals": "a", "value": "b"})),
        Code::InvalidCondition,
    );
    only(
        &with(json!({"patternMatches": "[", "value": "b"})),
        Code::InvalidPattern,
    );
}

#[test]
fn assert_inputs_are_a_condition() {
    clean(&step(
        "Assert",
        json!({"stringEquals": "2.1.1", "value": "2.1.1"}),
    ));
    only(
        &step("Assert", json!({"stringEquals": "2.1.1"})),
        Code::ConditionMissingValue,
    );
    only(
        &steps(json!([{"name": "A", "action": "Assert"}])),
        Code::MissingInputs,
    );
}

#[test]
fn unknown_variables_suggest() {
    let document = doc(json!({"name": "d", "schemaVersion": "1.0",
        "parameters": [{"Version": {"type": "string"}}],
        "phases": [{"name": "build", "steps": [bash("A", "echo {{ Verson }}")]}]}));
    let found = findings(&document);
    assert_eq!(found[0].code, Code::UnknownVariable);
    assert_eq!(
        found[0].message,
        "`{{ Verson }}` is not a parameter or constant of this document"
    );
    assert_eq!(found[0].hint.as_deref(), Some("did you mean `Version`?"));
    assert_eq!(found[1].code, Code::UnusedParameter);
}

#[test]
fn malformed_braces() {
    let finding = only(
        &steps(json!([bash("A", "echo {{ Version")])),
        Code::UnclosedExpression,
    );
    assert_eq!(finding.path_string(), "phases/0/steps/0/inputs/commands/0");
    only(
        &steps(json!([bash("A", "echo {{ }}")])),
        Code::EmptyExpression,
    );
    only(
        &steps(json!([bash("A", "echo {{ a.b.c }}")])),
        Code::MalformedExpression,
    );
    only(
        &steps(json!([bash("A", "echo {{ build.A.result.stdout }}")])),
        Code::MalformedExpression,
    );
    let finding = only(
        &steps(json!([bash("A", "docker inspect -f '{{ .Id }}' x")])),
        Code::UnresolvedExpression,
    );
    assert_eq!(finding.severity, Severity::Warning);
}

#[test]
fn chaining_from_earlier_steps() {
    clean(&steps(json!([
        bash("A", "echo hi"),
        bash("B", "echo {{ build.A.outputs.stdout }}")
    ])));
    clean(&phases(json!([
        {"name": "build", "steps": [bash("A", "echo hi")]},
        {"name": "validate", "steps": [bash("B", "echo {{ build.A.outputs.stdout }}")]}
    ])));
}

#[test]
fn chaining_forward_or_self() {
    let finding = only(
        &steps(json!([
            bash("A", "echo {{ build.B.outputs.stdout }}"),
            bash("B", "echo hi")
        ])),
        Code::ChainingForwardReference,
    );
    assert_eq!(finding.path_string(), "phases/0/steps/0/inputs/commands/0");
    let finding = only(
        &steps(json!([bash("A", "echo {{ build.A.outputs.stdout }}")])),
        Code::ChainingForwardReference,
    );
    assert!(finding.message.contains("cannot chain from itself"));
    only(
        &phases(json!([
            {"name": "build", "steps": [bash("A", "echo {{ validate.B.outputs.stdout }}")]},
            {"name": "validate", "steps": [bash("B", "echo hi")]}
        ])),
        Code::ChainingForwardReference,
    );
}

#[test]
fn chaining_unknown_phase_or_step() {
    let finding = only(
        &steps(json!([
            bash("A", "echo"),
            bash("B", "echo {{ biuld.A.outputs.stdout }}")
        ])),
        Code::ChainingUnknownPhase,
    );
    assert_eq!(finding.hint.as_deref(), Some("did you mean `build`?"));
    let finding = only(
        &steps(json!([
            bash("Install", "echo"),
            bash("B", "echo {{ build.Instal.outputs.stdout }}")
        ])),
        Code::ChainingUnknownStep,
    );
    assert_eq!(finding.hint.as_deref(), Some("did you mean `Install`?"));
}

#[test]
fn chaining_across_stages() {
    let finding = only(
        &phases(json!([
            {"name": "build", "steps": [bash("A", "echo hi")]},
            {"name": "test", "steps": [bash("B", "echo {{ build.A.outputs.stdout }}")]}
        ])),
        Code::ChainingAcrossStages,
    );
    assert_eq!(finding.path_string(), "phases/1/steps/0/inputs/commands/0");
}

#[test]
fn chaining_outputs_exist() {
    let finding = only(
        &steps(json!([
            bash("A", "echo"),
            bash("B", "echo {{ build.A.outputs.content }}")
        ])),
        Code::UnknownChainedOutput,
    );
    assert_eq!(finding.hint.as_deref(), Some("its outputs: `stdout`"));
    let finding = only(
        &steps(json!([
            {"name": "A", "action": "CreateFolder", "inputs": [{"path": "/a"}]},
            bash("B", "echo {{ build.A.outputs.stdout }}")
        ])),
        Code::UnknownChainedOutput,
    );
    assert_eq!(
        finding.hint.as_deref(),
        Some("`CreateFolder` has no outputs")
    );
    clean(&steps(json!([
        {"name": "R", "action": "ReadFile", "inputs": [{"path": "/etc/os-release"}]},
        {"name": "L", "action": "ListFiles", "inputs": [{"path": "/etc"}]},
        bash("B", "echo {{ build.R.outputs.content }} {{ build.L.outputs.files }}")
    ])));
}

#[test]
fn chaining_inputs_exist() {
    let download = json!({"name": "D", "action": "S3Download",
        "inputs": [{"source": "s3://b/k", "destination": "/tmp/k"}]});
    clean(&steps(json!([
        download.clone(),
        bash("B", "echo {{ build.D.inputs[0].destination }}")
    ])));
    let finding = only(
        &steps(json!([
            download.clone(),
            bash("B", "echo {{ build.D.inputs.destination }}")
        ])),
        Code::UnknownChainedInput,
    );
    assert!(finding.message.contains("give an index"));
    only(
        &steps(json!([
            download.clone(),
            bash("B", "echo {{ build.D.inputs[1].destination }}")
        ])),
        Code::UnknownChainedInput,
    );
    only(
        &steps(json!([
            download,
            bash("B", "echo {{ build.D.inputs[0].target }}")
        ])),
        Code::UnknownChainedInput,
    );
    clean(&steps(json!([
        bash("A", "x"),
        bash("B", "echo {{ build.A.inputs.commands }}")
    ])));
}

#[test]
fn chaining_in_loops_and_conditions() {
    let document = steps(json!([
        bash("List", "ls /opt"),
        {"name": "Each", "action": "ExecuteBash",
         "loop": {"forEach": {"list": "{{ build.List.outputs.stdout }}", "delimiter": "\n"}},
         "if": {"stringIsEmpty": "{{ build.List.outputs.stdout }}", "then": "Skip", "else": "Execute"},
         "inputs": {"commands": ["echo {{ loop.value }}"]}}
    ]));
    clean(&document);
}

#[test]
fn parameter_names() {
    let with = |parameters: Value| {
        doc(
            json!({"name": "d", "schemaVersion": "1.0", "parameters": parameters,
            "phases": [{"name": "build", "steps": [bash("A", "echo {{ ab }} {{ Good-Name_1 }}")]}]}),
        )
    };
    let found = findings(&with(
        json!([{"ab": {"type": "string"}}, {"Good-Name_1": {"type": "string"}}]),
    ));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].code, Code::InvalidVariableName);
    assert_eq!(found[0].path_string(), "parameters/0/ab");
    let found = findings(&with(json!([
        {"ab": {"type": "string"}, "Good-Name_1": {"type": "string"}}
    ])));
    assert!(found.iter().any(|f| f.code == Code::InvalidVariableEntry));
}

#[test]
fn parameter_types_and_duplicates() {
    let document = doc(json!({"name": "d", "schemaVersion": "1.0",
        "parameters": [{"Count": {"type": "integer"}}],
        "constants": [{"Count": {"type": "string", "value": "1"}}],
        "phases": [{"name": "build", "steps": [bash("A", "echo {{ Count }}")]}]}));
    assert_eq!(
        codes(&document),
        [Code::InvalidVariableType, Code::DuplicateVariable]
    );
}

#[test]
fn secrets_are_never_parameters() {
    let options = CheckOptions {
        secret_names: vec!["falcon_cid".into()],
        ..CheckOptions::default()
    };
    let document = doc(json!({"name": "d", "schemaVersion": "1.0",
        "parameters": [{"FalconCID": {"type": "string"}}],
        "constants": [{"falcon-cid": {"type": "string", "value": "x"}}],
        "phases": [{"name": "build", "steps": [bash("A", "echo {{ FalconCID }} {{ falcon-cid }}")]}]}));
    let found = findings_with(&document, &options);
    let codes: Vec<_> = found.iter().map(|f| f.code).collect();
    assert_eq!(codes, [Code::SecretAsParameter, Code::SecretAsConstant]);
    assert_eq!(
        found[0].hint.as_deref(),
        Some("remove it and read the secret from the file `/run/secrets/falcon_cid` in the step")
    );
    // Referring to the secret by name without declaring it is also caught.
    let document = steps(json!([bash("A", "echo {{ falcon_cid }}")]));
    let found = findings_with(&document, &options);
    assert_eq!(found[0].code, Code::SecretReference);
    // Reading the file is the way.
    let document = steps(json!([bash("A", "CID=$(cat /run/secrets/falcon_cid)")]));
    assert!(findings_with(&document, &options).is_empty());
}

#[test]
fn unused_variables_warn() {
    let document = doc(json!({"name": "d", "schemaVersion": "1.0",
        "parameters": [{"Unused": {"type": "string"}}],
        "constants": [{"AlsoUnused": {"type": "string", "value": "x"}}],
        "phases": [{"name": "build", "steps": [bash("A", "true")]}]}));
    let found = findings(&document);
    assert_eq!(
        found
            .iter()
            .map(|f| (f.code, f.severity))
            .collect::<Vec<_>>(),
        [
            (Code::UnusedParameter, Severity::Warning),
            (Code::UnusedConstant, Severity::Warning)
        ]
    );
    let quiet = CheckOptions {
        warn_unused: false,
        ..CheckOptions::default()
    };
    assert!(findings_with(&document, &quiet).is_empty());
}

#[test]
fn messages_follow_the_style() {
    // Capitalised, no trailing period, on a whole catalogue of broken documents.
    let broken = [
        steps(json!([bash("a b", "echo {{ x")])),
        step("Nope", json!({})),
        step("CopyFile", json!([{"source": 1}])),
        phases(json!([{"name": "deploy", "steps": []}])),
    ];
    for document in broken {
        for finding in findings(&document) {
            let first = finding.message.chars().next().unwrap();
            assert!(first.is_uppercase() || first == '`', "{}", finding.message);
            assert!(!finding.message.ends_with('.'), "{}", finding.message);
        }
    }
}
