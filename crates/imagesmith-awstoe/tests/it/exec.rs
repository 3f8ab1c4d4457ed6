//! The executor against a host that runs commands on this machine in a temporary root.

use crate::host::LocalHost;
use imagesmith_awstoe::exec::{ExecError, ExecOptions, Executor, PhaseLog, Status, StepStatus};
use imagesmith_awstoe::AwstoeDocument;
use serde_json::{json, Value};
use sha2::Digest;
use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

fn doc(phases: Value) -> AwstoeDocument {
    serde_json::from_value(json!({"name": "test-doc", "schemaVersion": "1.0", "phases": phases}))
        .expect("a document")
}

fn build(steps: Value) -> AwstoeDocument {
    doc(json!([{"name": "build", "steps": steps}]))
}

fn bash(name: &str, commands: &[&str]) -> Value {
    json!({"name": name, "action": "ExecuteBash", "inputs": {"commands": commands}})
}

fn run_with(host: &mut LocalHost, document: &AwstoeDocument, options: ExecOptions) -> PhaseLog {
    Executor::new(host, options)
        .run_phase(document, "build")
        .expect("the phase runs")
}

fn run(host: &mut LocalHost, document: &AwstoeDocument) -> PhaseLog {
    run_with(host, document, ExecOptions::default())
}

#[test]
fn chaining_stdout_between_steps_and_phases() {
    let mut host = LocalHost::new();
    let document = doc(json!([
        {"name": "build", "steps": [
            bash("Greet", &["echo hello"]),
            bash("Use", &["echo '{{ build.Greet.outputs.stdout }} world' > greeting.txt", "cat greeting.txt"])
        ]},
        {"name": "validate", "steps": [
            bash("Check", &["test \"{{ build.Use.outputs.stdout }}\" = 'hello world'"])
        ]}
    ]));
    let log = Executor::new(&mut host, ExecOptions::default())
        .run_document(&document, &["build", "validate"])
        .unwrap();
    assert_eq!(log.status, Status::Success, "{}", log.to_json());
    assert_eq!(host.read("/greeting.txt"), "hello world\n");
    let step = log.phases[0].step("Use").unwrap();
    assert_eq!(step.outputs, json!({"stdout": "hello world"}));
    assert_eq!(
        step.inputs["commands"][0],
        "echo 'hello world' > greeting.txt"
    );
    assert_eq!(log.phases[1].steps[0].status, StepStatus::Success);
}

#[test]
fn chaining_inputs_by_index() {
    let mut host = LocalHost::new();
    host.write("/src/a.txt", "A");
    let document = build(json!([
        {"name": "Copy", "action": "CopyFile", "inputs": [
            {"source": "/src/a.txt", "destination": "/dst/"}
        ]},
        bash("Show", &["cat .{{ build.Copy.inputs[0].source }}"])
    ]));
    let log = run(&mut host, &document);
    assert_eq!(log.status, Status::Success, "{log:#?}");
    assert_eq!(log.steps[1].stdout, "A");
    assert_eq!(host.read("/dst/a.txt"), "A");
}

#[test]
fn parameters_and_constants() {
    let mut host = LocalHost::new();
    let document: AwstoeDocument = serde_json::from_value(json!({
        "name": "params", "schemaVersion": "1.0",
        "parameters": [{"Greeting": {"type": "string", "default": "hi"}},
                       {"Name": {"type": "string", "default": "you"}}],
        "constants": [{"Out": {"type": "string", "value": "out.txt"}}],
        "phases": [{"name": "build", "steps": [bash("Write", &["echo '{{ Greeting }} {{ Name }}' > {{ Out }}"])]}]
    }))
    .unwrap();
    let mut options = ExecOptions::default();
    options
        .parameters
        .insert("Name".into(), "imagesmith".into());
    options
        .parameters
        .insert("Unknown".into(), "ignored".into());
    let log = run_with(&mut host, &document, options);
    assert_eq!(log.status, Status::Success);
    assert_eq!(host.read("/out.txt"), "hi imagesmith\n");

    let mut without_default = document.clone();
    without_default.parameters[0]
        .get_mut("Greeting")
        .unwrap()
        .default = None;
    let error = Executor::new(&mut host, ExecOptions::default())
        .run_phase(&without_default, "build")
        .unwrap_err();
    assert!(matches!(error, ExecError::MissingParameter { .. }));
    assert_eq!(
        error.to_string(),
        "Parameter `Greeting` of document `params` has no value and no default"
    );
    let error = Executor::new(&mut host, ExecOptions::default())
        .run_phase(&document, "deploy")
        .unwrap_err();
    assert_eq!(error.to_string(), "Document `params` has no phase `deploy`");
}

#[test]
fn loops_for_each_and_for() {
    let mut host = LocalHost::new();
    let document = build(json!([
        {"name": "Each", "action": "ExecuteBash", "loop": {"name": "pkgs", "forEach": ["a", "b", "c"]},
         "inputs": {"commands": ["echo {{ loop.index }}:{{ pkgs.value }}"]}},
        {"name": "Files", "action": "CreateFile", "loop": {"for": {"start": 3, "end": 1, "updateBy": -1}},
         "inputs": [{"path": "/out/f{{ loop.value }}", "content": "{{ loop.index }}"}]},
        {"name": "Split", "action": "ExecuteBash",
         "loop": {"forEach": {"list": "{{ build.Each.outputs.stdout }}", "delimiter": "\n"}},
         "inputs": {"commands": ["echo item-{{ loop.value }}"]}}
    ]));
    let log = run(&mut host, &document);
    assert_eq!(log.status, Status::Success, "{log:#?}");
    assert_eq!(log.steps[0].outputs, json!({"stdout": "0:a\n1:b\n2:c"}));
    assert_eq!(host.read("/out/f3"), "0");
    assert_eq!(host.read("/out/f1"), "2");
    assert_eq!(
        log.steps[2].outputs,
        json!({"stdout": "item-0:a\nitem-1:b\nitem-2:c"})
    );
}

#[test]
fn failing_iteration_is_named() {
    let mut host = LocalHost::new();
    let document = build(json!([
        {"name": "Each", "action": "ExecuteBash", "loop": {"forEach": ["0", "3", "0"]},
         "inputs": {"commands": ["exit {{ loop.value }}"]}}
    ]));
    let log = run(&mut host, &document);
    assert_eq!(log.steps[0].status, StepStatus::Failed);
    assert!(
        log.steps[0]
            .failure_message
            .starts_with("Iteration 1 failed: `bash "),
        "{}",
        log.steps[0].failure_message
    );
    assert!(log.steps[0].failure_message.ends_with("exited with code 3"));
}

#[test]
fn if_skip_execute_abort() {
    let mut host = LocalHost::new();
    host.write("/usr/bin/present", "#!/bin/sh\n");
    std::fs::set_permissions(
        host.path("/usr/bin/present"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let document = build(json!([
        {"name": "Skipped", "action": "ExecuteBash", "if": {"binaryExists": "absent"},
         "inputs": {"commands": ["touch skipped"]}},
        {"name": "Run", "action": "ExecuteBash",
         "if": {"and": [{"binaryExists": "present"}, {"not": {"fileExists": "/nope"}}]},
         "inputs": {"commands": ["touch ran"]}},
        {"name": "Else", "action": "ExecuteBash",
         "if": [{"stringEquals": "a", "value": "b", "then": "Skip", "else": "Execute"}],
         "inputs": {"commands": ["touch else"]}},
        {"name": "Stop", "action": "ExecuteBash",
         "if": {"folderExists": "/usr/bin", "then": "Abort"},
         "inputs": {"commands": ["touch never"]}},
        bash("After", &["touch after"])
    ]));
    let log = run(&mut host, &document);
    let statuses: Vec<_> = log.steps.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            StepStatus::Skipped,
            StepStatus::Success,
            StepStatus::Success,
            StepStatus::Failed
        ]
    );
    assert!(!host.path("/skipped").exists());
    assert!(host.path("/ran").exists());
    assert!(host.path("/else").exists());
    assert!(!host.path("/never").exists());
    assert!(!host.path("/after").exists(), "Abort stops the phase");
    assert_eq!(log.status, Status::Failed);
    assert_eq!(
        log.failure_message,
        "Step `Stop` failed: The `if` condition chose `Abort`"
    );
}

#[test]
fn retries_until_success() {
    let counter = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 3 ]";
    let mut host = LocalHost::new();
    let mut step = bash("Flaky", &[counter]);
    step["maxAttempts"] = json!(3);
    let log = run(&mut host, &build(json!([step])));
    assert_eq!(log.steps[0].status, StepStatus::Success);
    assert_eq!(log.steps[0].attempts, 3);
    assert_eq!(log.steps[0].notes.len(), 2);

    let mut host = LocalHost::new();
    let mut step = bash("Flaky", &[counter]);
    step["maxAttempts"] = json!(2);
    let log = run(&mut host, &build(json!([step])));
    assert_eq!(log.steps[0].status, StepStatus::Failed);
    assert_eq!(log.steps[0].attempts, 2);
    assert_eq!(host.read("/count"), "2\n");
}

#[test]
fn on_failure_abort_continue_ignore() {
    let failing = |on_failure: &str| {
        let mut step = bash("Fail", &["exit 7"]);
        step["onFailure"] = json!(on_failure);
        build(json!([step, bash("Next", &["touch next"])]))
    };
    let mut host = LocalHost::new();
    let log = run(&mut host, &failing("Abort"));
    assert_eq!((log.status, log.steps.len()), (Status::Failed, 1));
    assert!(!host.path("/next").exists());

    let mut host = LocalHost::new();
    let log = run(&mut host, &failing("Continue"));
    assert_eq!((log.status, log.steps.len()), (Status::Failed, 2));
    assert!(host.path("/next").exists());

    let mut host = LocalHost::new();
    let log = run(&mut host, &failing("Ignore"));
    assert_eq!(log.status, Status::SuccessWithIgnoredFailure);
    assert_eq!(log.steps[0].status, StepStatus::IgnoredFailure);
    assert!(log.steps[0].failure_message.ends_with("exited with code 7"));
    assert!(host.path("/next").exists());
}

#[test]
fn timeout_stops_the_step() {
    let mut host = LocalHost::new();
    let mut step = bash("Slow", &["sleep 10"]);
    step["timeoutSeconds"] = json!(1);
    let start = Instant::now();
    let log = run(&mut host, &build(json!([step])));
    assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
    assert_eq!(log.steps[0].status, StepStatus::Failed);
    assert_eq!(log.steps[0].failure_message, "Timed out after 1 seconds");
    assert_eq!(log.steps[0].timeout_seconds, 1);
}

#[test]
fn bash_runs_like_awstoe() {
    // AWSTOE runs the script with plain `bash`: the last command decides.
    let mut host = LocalHost::new();
    let log = run(
        &mut host,
        &build(json!([bash("Lenient", &["false", "echo after"])])),
    );
    assert_eq!(log.steps[0].status, StepStatus::Success);
    assert_eq!(log.steps[0].stdout, "after\n");
    let options = ExecOptions {
        bash_errexit: true,
        ..ExecOptions::default()
    };
    let log = run_with(
        &mut host,
        &build(json!([bash("Strict", &["false", "echo after"])])),
        options,
    );
    assert_eq!(log.steps[0].status, StepStatus::Failed);
    assert!(
        host.dir
            .path()
            .join("tmp/imagesmith-awstoe")
            .read_dir()
            .unwrap()
            .next()
            .is_none(),
        "scripts are removed"
    );
}

#[test]
fn reboot_exit_code_runs_the_step_again() {
    let mut host = LocalHost::new();
    let document = build(json!([
        bash("Restart", &["if [ -f marker ]; then echo done; exit 0; fi", "touch marker", "exit 194"]),
        {"name": "Reboot", "action": "Reboot", "inputs": {"delaySeconds": 60}}
    ]));
    let log = run(&mut host, &document);
    assert_eq!(log.status, Status::Success, "{log:#?}");
    assert_eq!(log.steps[0].outputs, json!({"stdout": "done"}));
    assert!(log.steps[0].notes[0].contains("exited with 194"));
    assert!(log.steps[1].notes[0].starts_with("Reboot requested (delaySeconds 60)"));

    let mut host = LocalHost::new();
    let log = run(&mut host, &build(json!([bash("Forever", &["exit 194"])])));
    assert_eq!(
        log.steps[0].failure_message,
        "The step asked for a reboot 4 times"
    );
}

#[test]
fn execute_binary() {
    let mut host = LocalHost::new();
    let document = build(json!([
        {"name": "Echo", "action": "ExecuteBinary", "inputs": {"path": "/bin/echo", "arguments": ["-n", "a b"]}}
    ]));
    let log = run(&mut host, &document);
    assert_eq!(log.steps[0].outputs, json!({"stdout": "a b"}));
}

#[test]
fn assert_action() {
    let mut host = LocalHost::new();
    let document = build(json!([
        bash("Version", &["echo 2.1.1"]),
        {"name": "Yes", "action": "Assert",
         "inputs": {"stringEquals": "2.1.1", "value": "{{ build.Version.outputs.stdout }}"}},
        {"name": "No", "action": "Assert", "inputs": {"numberGreaterThan": 2, "value": "3"}}
    ]));
    let log = run(&mut host, &document);
    assert_eq!(log.steps[1].status, StepStatus::Success);
    assert_eq!(log.steps[2].status, StepStatus::Failed);
    assert_eq!(log.steps[2].failure_message, "The assertion is false");
}

#[test]
fn file_actions() {
    let mut host = LocalHost::new();
    host.write(
        "/etc/passwd",
        &format!(
            "root:x:0:0::/root:/bin/sh\napp:x:{uid}:{gid}::/home/app:/bin/sh\n",
            uid = current_uid(),
            gid = current_gid()
        ),
    );
    host.write(
        "/etc/group",
        &format!("root:x:0:\napp:x:{}:\n", current_gid()),
    );
    host.write("/src/one.log", "1");
    host.write("/src/two.log", "2");
    host.write("/src/keep.txt", "k");
    host.write("/tree/a/b.txt", "b");
    let document = build(json!([
        {"name": "Create", "action": "CreateFile", "inputs": [
            {"path": "/etc/app/app.conf", "content": "a=1\n", "permissions": "0640", "owner": "app"},
            {"path": "/etc/app/utf16.txt", "content": "hi", "encoding": "UTF-16"}
        ]},
        {"name": "Append", "action": "AppendFile", "inputs": [{"path": "/etc/app/app.conf", "content": "b=2\n"}]},
        {"name": "Read", "action": "ReadFile", "inputs": [{"path": "/etc/app/app.conf"}]},
        {"name": "ReadUtf16", "action": "ReadFile", "inputs": [{"path": "/etc/app/utf16.txt", "encoding": "utf16"}]},
        {"name": "Folder", "action": "CreateFolder", "inputs": [{"path": "/opt/app/data", "permissions": "0750"}]},
        {"name": "CopyLogs", "action": "CopyFile", "inputs": [{"source": "/src/*.log", "destination": "/logs/"}]},
        {"name": "CopyTree", "action": "CopyFolder", "inputs": [{"source": "/tree", "destination": "/copy/"}]},
        {"name": "MoveOne", "action": "MoveFile", "inputs": [{"source": "/src/keep.txt", "destination": "/moved.txt"}]},
        {"name": "MoveTree", "action": "MoveFolder", "inputs": [{"source": "/copy/tree", "destination": "/moved-tree"}]},
        {"name": "DeleteLogs", "action": "DeleteFile", "inputs": [{"path": "/src/*.log"}]},
        {"name": "DeleteTree", "action": "DeleteFolder", "inputs": [{"path": "/tree", "force": true}]},
        {"name": "Link", "action": "CreateSymlink", "inputs": [{"path": "/usr/local/bin/app-conf", "target": "/etc/app/app.conf"}]},
        {"name": "List", "action": "ListFiles", "inputs": [{"path": "/logs", "fileNamePattern": "*.log"}]},
        {"name": "Mode", "action": "SetFolderPermissions", "inputs": [{"path": "/opt/app", "permissions": "0700"}]},
        {"name": "FileMode", "action": "SetFilePermissions", "inputs": [{"path": "/moved.txt", "permissions": 600}]},
        {"name": "Own", "action": "SetFolderOwner", "inputs": [{"path": "/opt/app", "owner": "app", "group": "app"}]},
        {"name": "Encode", "action": "SetFileEncoding", "inputs": [{"path": "/moved.txt", "encoding": "utf-32-be"}]}
    ]));
    let log = run(&mut host, &document);
    assert_eq!(
        log.status,
        Status::Success,
        "{}",
        serde_json::to_string_pretty(&log).unwrap()
    );
    let mode = |p: &str| {
        std::fs::symlink_metadata(host.path(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(host.read("/etc/app/app.conf"), "a=1\nb=2\n");
    assert_eq!(mode("/etc/app/app.conf"), 0o640);
    assert_eq!(
        std::fs::read(host.path("/etc/app/utf16.txt")).unwrap(),
        [b'h', 0, b'i', 0]
    );
    assert_eq!(log.steps[2].outputs, json!({"content": "a=1\nb=2\n"}));
    assert_eq!(log.steps[3].outputs, json!({"content": "hi"}));
    assert_eq!(host.read("/logs/one.log"), "1");
    assert_eq!(host.read("/logs/two.log"), "2");
    assert_eq!(host.read("/moved.txt").len(), 4, "UTF-32 of one character");
    assert_eq!(host.read("/moved-tree/a/b.txt"), "b");
    assert!(!host.path("/copy/tree").exists());
    assert!(!host.path("/src/one.log").exists() && !host.path("/src/two.log").exists());
    assert!(!host.path("/tree").exists());
    assert_eq!(
        std::fs::read_link(host.path("/usr/local/bin/app-conf")).unwrap(),
        std::path::PathBuf::from("/etc/app/app.conf")
    );
    assert_eq!(
        log.steps[12].outputs,
        json!({"files": "/logs/one.log,/logs/two.log"})
    );
    assert_eq!(mode("/opt/app"), 0o700);
    assert_eq!(mode("/opt/app/data"), 0o700);
    assert_eq!(mode("/moved.txt"), 0o600);
}

#[test]
fn owners_come_from_the_image() {
    let mut host = LocalHost::new();
    host.write("/etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    host.write("/f", "x");
    let document = build(json!([
        {"name": "Own", "action": "SetFileOwner", "inputs": [{"path": "/f", "owner": "nobody-here"}]}
    ]));
    let log = run(&mut host, &document);
    assert_eq!(
        log.steps[0].failure_message,
        "User `nobody-here` is not in the image's `/etc/passwd`"
    );
}

#[test]
fn overwrite_false_and_missing_files() {
    let mut host = LocalHost::new();
    host.write("/exists", "old");
    let document = build(json!([
        {"name": "NoOverwrite", "action": "CreateFile", "onFailure": "Continue",
         "inputs": [{"path": "/exists", "content": "new", "overwrite": false}]},
        {"name": "Missing", "action": "AppendFile", "onFailure": "Continue",
         "inputs": [{"path": "/missing", "content": "x"}]},
        {"name": "NotEmpty", "action": "DeleteFolder", "onFailure": "Continue",
         "inputs": [{"path": "/etc"}]}
    ]));
    host.write("/etc/x", "x");
    let log = run(&mut host, &document);
    assert_eq!(host.read("/exists"), "old");
    assert_eq!(
        log.steps[0].failure_message,
        "`/exists` already exists and `overwrite` is false"
    );
    assert_eq!(log.steps[1].failure_message, "`/missing` does not exist");
    assert!(log.steps[2]
        .failure_message
        .starts_with("Could not delete (use `force: true`"));
}

#[test]
fn paths_never_leave_the_root() {
    let mut host = LocalHost::new();
    let outside = tempfile::tempdir().unwrap();
    let outside_path = outside.path().to_string_lossy().into_owned();
    // A link inside the image to an absolute path is read as a path inside the image.
    std::os::unix::fs::symlink(&outside_path, host.path("/abs-link")).unwrap();
    std::os::unix::fs::symlink("../../../../../..", host.path("/up-link")).unwrap();
    let document = build(json!([
        {"name": "Escape", "action": "CreateFile", "onFailure": "Continue",
         "inputs": [{"path": "/../escaped.txt", "content": "x"}]},
        {"name": "Relative", "action": "CreateFile", "onFailure": "Continue",
         "inputs": [{"path": "a/../../escaped.txt", "content": "x"}]},
        {"name": "ThroughLink", "action": "CreateFile",
         "inputs": [{"path": "/abs-link/through.txt", "content": "x"}]},
        {"name": "UpLink", "action": "CreateFile",
         "inputs": [{"path": "/up-link/up.txt", "content": "x"}]},
        {"name": "Copy", "action": "CopyFile", "onFailure": "Continue",
         "inputs": [{"source": "/../../etc/passwd", "destination": "/stolen"}]}
    ]));
    let log = run(&mut host, &document);
    assert_eq!(log.steps[0].status, StepStatus::Failed);
    assert_eq!(
        log.steps[0].failure_message,
        "`/../escaped.txt` leads outside the image root"
    );
    assert_eq!(
        log.steps[1].failure_message,
        "`a/../../escaped.txt` leads outside the image root"
    );
    assert_eq!(log.steps[2].status, StepStatus::Success);
    assert_eq!(log.steps[3].status, StepStatus::Success);
    assert_eq!(log.steps[4].status, StepStatus::Failed);
    assert!(!outside.path().join("through.txt").exists());
    assert!(host.path(&format!("{outside_path}/through.txt")).exists());
    assert!(host.path("/up.txt").exists());
    assert!(!host.path("/stolen").exists());
    assert!(!host
        .dir
        .path()
        .parent()
        .unwrap()
        .join("escaped.txt")
        .exists());
}

#[test]
fn windows_only_actions_are_reported() {
    let mut host = LocalHost::new();
    let document = build(json!([
        {"name": "Ps", "action": "ExecutePowerShell", "onFailure": "Continue", "inputs": {"commands": ["Write-Host"]}},
        {"name": "Msi", "action": "InstallMSI", "onFailure": "Ignore", "inputs": {"path": "C:\\a.msi"}},
        {"name": "Nested", "action": "ExecuteDocument", "onFailure": "Continue", "inputs": {"document": "a.yaml"}}
    ]));
    let log = run(&mut host, &document);
    assert_eq!(log.steps[0].status, StepStatus::Failed);
    assert_eq!(
        log.steps[0].failure_message,
        "`ExecutePowerShell` runs only on Windows and cannot run on this host"
    );
    assert_eq!(log.steps[0].attempts, 1);
    // Even ignored, it is in the log, never silently skipped.
    assert_eq!(log.steps[1].status, StepStatus::IgnoredFailure);
    assert!(log.steps[1].notes[0].contains("needs a Windows host"));
    assert!(log.steps[2]
        .failure_message
        .contains("`ExecuteDocument` is not supported"));
    assert!(host.runs.is_empty());
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn web_download_verifies_checksums() {
    let mut host = LocalHost::new();
    let body = b"binary".to_vec();
    host.downloads.insert(
        "https://example.com/dl/tool.tar.gz?x=1".into(),
        body.clone(),
    );
    let document = build(json!([
        {"name": "Good", "action": "WebDownload", "inputs": [
            {"source": "https://example.com/dl/tool.tar.gz?x=1", "destination": "/opt/dl/",
             "checksum": sha256(&body).to_uppercase(), "algorithm": "sha256"}
        ]},
        {"name": "Again", "action": "WebDownload", "inputs": [
            {"source": "https://example.com/dl/tool.tar.gz?x=1", "destination": "/opt/dl/tool.tar.gz",
             "checksum": sha256(&body), "algorithm": "SHA256"}
        ]},
        {"name": "Bad", "action": "WebDownload", "onFailure": "Continue", "inputs": [
            {"source": "https://example.com/dl/tool.tar.gz?x=1", "destination": "/opt/bad",
             "checksum": "00", "algorithm": "SHA256"}
        ]},
        {"name": "Missing", "action": "WebDownload", "onFailure": "Continue", "inputs": [
            {"source": "https://example.com/404", "destination": "/opt/404"}
        ]},
        {"name": "S3", "action": "S3Download", "onFailure": "Continue", "inputs": [
            {"source": "s3://bucket/key", "destination": "/opt/key"}
        ]}
    ]));
    let log = run(&mut host, &document);
    assert_eq!(log.steps[0].status, StepStatus::Success, "{log:#?}");
    assert_eq!(
        log.steps[0].outputs,
        json!({"destination": "/opt/dl/tool.tar.gz"})
    );
    assert_eq!(
        std::fs::read(host.path("/opt/dl/tool.tar.gz")).unwrap(),
        body
    );
    assert!(log.steps[1].notes[0].contains("not downloaded again"));
    assert_eq!(log.steps[2].status, StepStatus::Failed);
    assert!(log.steps[2]
        .failure_message
        .starts_with("`/opt/bad` has SHA256 `"));
    assert!(!host.path("/opt/bad").exists());
    assert!(host.path("/opt").read_dir().unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("partial")));
    assert_eq!(
        log.steps[3].failure_message,
        "Could not download `https://example.com/404`: 404 Not Found"
    );
    assert!(log.steps[4]
        .failure_message
        .starts_with("S3Download is not configured"));
}

#[test]
fn secrets_are_redacted_from_every_log() {
    let mut host = LocalHost::new();
    host.write("/run/secrets/token", "s3cr3t-value");
    let document = build(json!([
        bash(
            "Use",
            &[
                "TOKEN=$(cat /run/secrets/token 2>/dev/null || cat run/secrets/token)",
                "echo \"token is $TOKEN\"",
                "echo \"$TOKEN\" >&2"
            ]
        ),
        bash(
            "Chain",
            &["echo '{{ build.Use.outputs.stdout }}'", "exit 1"]
        )
    ]));
    let options = ExecOptions {
        secrets: vec!["s3cr3t-value".into()],
        ..ExecOptions::default()
    };
    let log = Executor::new(&mut host, options)
        .run_document(&document, &["build"])
        .unwrap();
    let json = log.to_json();
    assert!(!json.contains("s3cr3t"), "{json}");
    let use_step = &log.phases[0].steps[0];
    assert_eq!(use_step.stdout, "token is ****\n");
    assert_eq!(use_step.stderr, "****\n");
    assert_eq!(
        log.phases[0].steps[1].inputs["commands"][0],
        "echo 'token is ****'"
    );
}

#[test]
fn update_os_uses_the_image_package_manager() {
    let mut host = LocalHost::new();
    host.write("/usr/bin/apt-get", "");
    let document = build(json!([
        {"name": "Update", "action": "UpdateOS", "inputs": {"exclude": ["ec2-hibinit-agent"]}},
        {"name": "Bad", "action": "UpdateOS", "onFailure": "Continue", "inputs": {"include": ["x; rm -rf /"]}}
    ]));
    let log = run(&mut host, &document);
    assert_eq!(log.steps[0].status, StepStatus::Success);
    let script = &host.package_scripts[0];
    assert!(script.contains("apt-mark hold ec2-hibinit-agent"));
    assert!(script.contains("apt-get -y upgrade"));
    assert_eq!(
        log.steps[1].failure_message,
        "Invalid inputs: `x; rm -rf /` is not a package name"
    );

    let mut host = LocalHost::new();
    host.write("/usr/bin/dnf", "");
    let document =
        build(json!([{"name": "Update", "action": "UpdateOS", "inputs": {"include": ["kernel"]}}]));
    run(&mut host, &document);
    assert!(host.package_scripts[0].contains("dnf -y upgrade  kernel"));

    let mut host = LocalHost::new();
    let log = run(
        &mut host,
        &build(json!([{"name": "Update", "action": "UpdateOS"}])),
    );
    assert!(log.steps[0]
        .failure_message
        .contains("neither `apt-get` nor `dnf`/`yum`"));
}

#[test]
fn document_log_shape() {
    let mut host = LocalHost::new();
    let log = Executor::new(&mut host, ExecOptions::default())
        .run_document(&build(json!([bash("A", &["echo hi"])])), &["build"])
        .unwrap();
    let value: Value = serde_json::from_str(&log.to_json()).unwrap();
    assert_eq!(value["status"], "success");
    let step = &value["phases"][0]["steps"][0];
    for key in [
        "name",
        "action",
        "status",
        "failureMessage",
        "timeoutSeconds",
        "onFailure",
        "maxAttempts",
        "attempts",
        "startTime",
        "endTime",
        "inputs",
        "outputs",
        "loop",
        "stdout",
        "stderr",
        "notes",
    ] {
        assert!(step.get(key).is_some(), "missing {key}");
    }
    assert_eq!(step["timeoutSeconds"], 7200);
    assert_eq!(step["onFailure"], "Abort");
    assert!(step["startTime"].as_str().unwrap().ends_with('Z'));
}

fn current_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(0)
}

fn current_gid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::gid(&m))
        .unwrap_or(0)
}
