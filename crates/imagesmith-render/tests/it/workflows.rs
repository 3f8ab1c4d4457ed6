//! Issue 12, workflows that run in a fresh repository: optional secrets stay optional, tags
//! survive a re-run, the SARIF upload has its permissions, the AMI job waits for its build,
//! and every job assuming an AWS role runs in a named environment. The shell steps run
//! under bash with a fake `aws` (and `sleep`) on `PATH`.

use crate::support::render_seed;
use imagesmith_model::decode;
use imagesmith_yaml::{load_str, Limits};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// The rendered workflow `name` (`build-golden.yml`) as JSON.
fn workflow(name: &str) -> Value {
    let rendered = render_seed();
    let path = format!(".github/workflows/{name}");
    let file = rendered.file(&path).unwrap_or_else(|| panic!("{path}"));
    let loaded = load_str(path.clone(), &file.contents, Limits::DEFAULT);
    decode::to_json(&loaded.root.unwrap_or_else(|| panic!("{path} is not YAML")))
}

const WORKFLOWS: [&str; 4] = [
    "validate.yml",
    "build-golden.yml",
    "build-docker-image.yml",
    "deploy-infra.yml",
];

fn jobs(workflow: &Value) -> Vec<(&String, &Value)> {
    workflow["jobs"].as_object().expect("jobs").iter().collect()
}

fn steps(job: &Value) -> &[Value] {
    job["steps"].as_array().map_or(&[], Vec::as_slice)
}

/// The step of `job` named `name`.
fn step<'a>(job: &'a Value, name: &str) -> &'a Value {
    steps(job)
        .iter()
        .find(|s| s["name"].as_str().is_some_and(|n| n.starts_with(name)))
        .unwrap_or_else(|| panic!("no step `{name}`"))
}

fn uses(step: &Value, action: &str) -> bool {
    step["uses"]
        .as_str()
        .is_some_and(|u| u.starts_with(&format!("{action}@")))
}

/// Runs `script` under `bash` in `dir` with `dir/bin` first on `PATH` and `env`.
fn run_bash(dir: &Path, script: &str, env: &[(&str, &str)]) -> Output {
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .env("RUNNER_TEMP", dir)
        .env("GITHUB_ENV", dir.join("github_env"))
        .env("GITHUB_OUTPUT", dir.join("github_output"));
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("bash runs")
}

/// A temporary folder with an executable `bin/<name>` of `body`.
fn fake(dir: &Path, name: &str, body: &str) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let path = bin.join(name);
    std::fs::write(&path, format!("#!/usr/bin/env bash\n{body}")).expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn every_run_step_parses_with_bash_n() {
    for name in WORKFLOWS {
        let workflow = workflow(name);
        for (job_name, job) in jobs(&workflow) {
            for step in steps(job) {
                let Some(script) = step["run"].as_str() else {
                    continue;
                };
                // `${{ … }}` is replaced before the shell runs; any word stands for it here.
                let mut plain = String::new();
                let mut rest = script;
                while let Some((before, after)) = rest.split_once("${{") {
                    plain.push_str(before);
                    plain.push_str("EXPR");
                    rest = after.split_once("}}").map_or("", |(_, a)| a);
                }
                plain.push_str(rest);
                let output = Command::new("bash")
                    .arg("-n")
                    .arg("-c")
                    .arg(&plain)
                    .output()
                    .expect("bash runs");
                assert!(
                    output.status.success(),
                    "{name} job {job_name}: `bash -n` fails on\n{script}\n{}",
                    text(&output)
                );
            }
        }
    }
}

/// The secrets step of the golden container job, and the `secret-ids` of the Amazon Linux
/// image (which installs the Falcon sensor).
fn secrets_step() -> (String, String) {
    let workflow = workflow("build-golden.yml");
    let job = &workflow["jobs"]["container"];
    let script = step(job, "Read build secrets")["run"]
        .as_str()
        .expect("a run step")
        .to_string();
    let ids = job["strategy"]["matrix"]["include"]
        .as_array()
        .expect("matrix")
        .iter()
        .find(|e| e["image"] == "golden-container-amazonlinux2023")
        .expect("the amazonlinux2023 entry")["secret-ids"]
        .as_str()
        .expect("secret-ids")
        .to_string();
    (script, ids)
}

/// A fake `aws secretsmanager get-secret-value` that knows the secrets of `known` (id=value).
fn fake_secrets_manager(dir: &Path, known: &[(&str, &str)]) {
    let mut body = String::from("id=''\nwhile [ $# -gt 0 ]; do\n  if [ \"$1\" = --secret-id ]; then id=$2; fi\n  shift\ndone\ncase \"$id\" in\n");
    for (id, value) in known {
        body.push_str(&format!("  {id}) echo '{value}' ;;\n"));
    }
    body.push_str("  *) echo \"An error occurred (ResourceNotFoundException): Secrets Manager can't find the specified secret.\" >&2; exit 254 ;;\nesac\n");
    fake(dir, "aws", &body);
}

#[test]
fn an_absent_optional_secret_does_not_fail_the_job() {
    let (script, ids) = secrets_step();
    assert!(
        ids.contains("FALCON_PROVISIONING_TOKEN,imagesmith/falcon/provisioning_token,optional"),
        "{ids}"
    );
    assert!(
        ids.contains("FALCON_CLIENT_ID,imagesmith/falcon/client_id,required"),
        "{ids}"
    );
    for name in WORKFLOWS {
        let workflow = workflow(name);
        for (_, job) in jobs(&workflow) {
            assert!(
                !steps(job)
                    .iter()
                    .any(|s| uses(s, "aws-actions/aws-secretsmanager-get-secrets")),
                "{name}: the action fails on an absent optional secret"
            );
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    fake_secrets_manager(
        dir.path(),
        &[
            ("imagesmith/falcon/client_id", "id-value"),
            ("imagesmith/falcon/client_secret", "secret-value"),
            ("imagesmith/falcon/cid", "cid-value"),
        ],
    );
    let output = run_bash(dir.path(), &script, &[("SECRET_IDS", &ids)]);
    let log = text(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains(
            "::notice::The optional secret imagesmith/falcon/provisioning_token is not set"
        ),
        "{log}"
    );
    for value in ["id-value", "secret-value", "cid-value"] {
        assert!(log.contains(&format!("::add-mask::{value}")), "{log}");
    }
    let env = std::fs::read_to_string(dir.path().join("github_env")).expect("GITHUB_ENV");
    assert!(env.contains("FALCON_PROVISIONING_TOKEN=\n"), "{env}");
    assert!(env.contains("\nsecret-value\n"), "{env}");
}

#[test]
fn an_absent_required_secret_fails_with_its_id() {
    let (script, ids) = secrets_step();
    let dir = tempfile::tempdir().expect("temp dir");
    fake_secrets_manager(
        dir.path(),
        &[
            ("imagesmith/falcon/client_id", "id-value"),
            ("imagesmith/falcon/cid", "cid-value"),
            ("imagesmith/falcon/provisioning_token", "token-value"),
        ],
    );
    let output = run_bash(dir.path(), &script, &[("SECRET_IDS", &ids)]);
    let log = text(&output);
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains("::error::Cannot read the required secret imagesmith/falcon/client_secret")
            && log.contains("ResourceNotFoundException"),
        "{log}"
    );
    assert!(log.contains("::add-mask::token-value"), "{log}");
}

#[test]
fn tags_and_names_from_the_run_id_include_the_run_attempt() {
    let rendered = render_seed();
    let mut seen = 0;
    for name in WORKFLOWS {
        let file = rendered
            .file(&format!(".github/workflows/{name}"))
            .expect("workflow");
        for (pattern, attempt) in [
            (
                "${{ github.run_id }}",
                "${{ github.run_id }}-${{ github.run_attempt }}",
            ),
            ("$GITHUB_RUN_ID", "$GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT"),
        ] {
            let all = file.contents.matches(pattern).count();
            seen += all;
            assert_eq!(
                all,
                file.contents.matches(attempt).count(),
                "{name}: `{pattern}` without the run attempt"
            );
        }
    }
    assert!(seen > 0);
    let workflow = workflow("build-docker-image.yml");
    let build = &workflow["jobs"]["build"];
    assert_eq!(
        step(build, "Build")["with"]["tags"],
        "imagesmith-scan/${{ matrix.image }}:${{ github.run_id }}-${{ github.run_attempt }}"
    );
    let push = step(build, "Push")["run"].as_str().expect("push");
    assert!(
        push.contains("run=\"v$VERSION-$GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT\""),
        "{push}"
    );
}

#[test]
fn the_sarif_upload_job_has_its_permissions_and_no_more() {
    let mut uploads = 0;
    for name in WORKFLOWS {
        let workflow = workflow(name);
        for (job_name, job) in jobs(&workflow) {
            if !steps(job)
                .iter()
                .any(|s| uses(s, "github/codeql-action/upload-sarif"))
            {
                continue;
            }
            uploads += 1;
            assert_eq!(
                job["permissions"],
                serde_json::json!({
                    "actions": "read",
                    "contents": "read",
                    "security-events": "write",
                }),
                "{name} job {job_name}"
            );
        }
    }
    assert_eq!(uploads, 1);
    let validate = workflow("validate.yml");
    assert_eq!(validate["permissions"], serde_json::json!({}));
    for (job_name, job) in jobs(&validate) {
        assert!(job["permissions"].is_object(), "{job_name}");
    }
}

/// The two steps of the AMI job.
fn ami_steps() -> (String, String, Value) {
    let workflow = workflow("build-golden.yml");
    let job = workflow["jobs"]["ami"].clone();
    let start = step(&job, "Start the Image Builder pipeline")["run"]
        .as_str()
        .expect("start")
        .to_string();
    let wait = step(&job, "Wait for the image build")["run"]
        .as_str()
        .expect("wait")
        .to_string();
    (start, wait, job)
}

/// Runs the wait step with a fake `aws get-image` answering the statuses in `statuses`
/// (one a call, the last one for ever) and a `sleep` that returns at once.
fn wait_with(statuses: &[&str], timeout_minutes: &str) -> Output {
    let (_, wait, _) = ami_steps();
    let dir = tempfile::tempdir().expect("temp dir");
    let states = dir.path().join("states");
    std::fs::write(&states, statuses.join("\n") + "\n").expect("write");
    fake(
        dir.path(),
        "aws",
        &format!(
            r#"states={states}
case "$*" in
  *image.state.status*)
    status=$(head -n 1 "$states")
    if [ "$(wc -l < "$states")" -gt 1 ]; then sed -i 1d "$states"; fi
    echo "$status" ;;
  *image.state.reason*) echo "Component build failed: exit status 1" ;;
  *amis*) echo ami-0123456789abcdef0 ;;
  *) echo "unexpected aws $*" >&2; exit 2 ;;
esac
"#,
            states = states.display()
        ),
    );
    fake(dir.path(), "sleep", "exit 0\n");
    let build = "arn:aws:imagebuilder:us-east-1:123456789012:image/x/1.0.0/1";
    run_bash(
        dir.path(),
        &wait,
        &[
            ("BUILD", build),
            ("ROLE", "arn:aws:iam::123456789012:role/build"),
            ("TIMEOUT_MINUTES", timeout_minutes),
        ],
    )
}

#[test]
fn the_ami_job_waits_for_its_build() {
    let (start, wait, job) = ami_steps();
    assert!(
        start.contains("aws imagebuilder start-image-pipeline-execution")
            && start.contains(">> \"$GITHUB_OUTPUT\""),
        "{start}"
    );
    assert!(
        wait.starts_with("set -euo pipefail\n")
            && wait.contains("aws imagebuilder get-image --image-build-version-arn \"$BUILD\""),
        "{wait}"
    );
    let wait_step = step(&job, "Wait for the image build");
    assert_eq!(
        wait_step["env"]["BUILD"],
        "${{ steps.start.outputs.build }}"
    );
    assert!(job["timeout-minutes"]
        .as_u64()
        .is_some_and(|t| t > wait_step["env"]["TIMEOUT_MINUTES"]
            .as_str()
            .and_then(|m| m.parse().ok())
            .expect("minutes")));

    let available = wait_with(&["PENDING", "BUILDING", "TESTING", "AVAILABLE"], "240");
    let log = text(&available);
    assert!(available.status.success(), "{log}");
    assert!(log.contains("is available: ami-0123456789abcdef0"), "{log}");

    for end in ["FAILED", "CANCELLED"] {
        let failed = wait_with(&["BUILDING", end], "240");
        let log = text(&failed);
        assert!(!failed.status.success(), "{log}");
        assert!(
            log.contains(&format!("is {end}: Component build failed: exit status 1")),
            "{log}"
        );
    }

    let late = wait_with(&["BUILDING"], "0");
    let log = text(&late);
    assert!(!late.status.success(), "{log}");
    assert!(log.contains("is still BUILDING after 0 minutes"), "{log}");
}

#[test]
fn the_start_step_writes_the_build_it_started() {
    let (start, _, _) = ami_steps();
    let dir = tempfile::tempdir().expect("temp dir");
    fake(
        dir.path(),
        "aws",
        r#"case "$*" in
  *"start-image-pipeline-execution --image-pipeline-arn arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/p "*)
    echo arn:aws:imagebuilder:us-east-1:123456789012:image/p/1.0.0/4 ;;
  *"get-caller-identity --query Account "*) echo 123456789012 ;;
  *"get-caller-identity --query Arn "*) echo arn:aws:sts::123456789012:assumed-role/build/x ;;
  *) echo "unexpected aws $*" >&2; exit 2 ;;
esac
"#,
    );
    let output = run_bash(
        dir.path(),
        &start,
        &[("PIPELINE", "p"), ("AWS_REGION", "us-east-1")],
    );
    assert!(output.status.success(), "{}", text(&output));
    let written = std::fs::read_to_string(dir.path().join("github_output")).expect("output");
    assert_eq!(
        written,
        "build=arn:aws:imagebuilder:us-east-1:123456789012:image/p/1.0.0/4\n"
    );
}

#[test]
fn jobs_assuming_an_aws_role_run_in_a_named_environment() {
    let mut assuming = 0;
    for name in WORKFLOWS {
        let workflow = workflow(name);
        for (job_name, job) in jobs(&workflow) {
            if !steps(job)
                .iter()
                .any(|s| uses(s, "aws-actions/configure-aws-credentials"))
            {
                continue;
            }
            assuming += 1;
            let environment = job["environment"].as_str().unwrap_or_default();
            let expected = match (name, job_name.as_str()) {
                ("build-golden.yml", _) => "golden-images",
                ("build-docker-image.yml", _) => "container-images",
                ("deploy-infra.yml", _) => "production",
                _ => panic!("{name} job {job_name} assumes a role"),
            };
            assert_eq!(environment, expected, "{name} job {job_name}");
        }
    }
    assert_eq!(assuming, 4, "container, ami, build and terraform jobs");
}

#[test]
fn the_ami_wait_assumes_its_role_again_before_the_credentials_expire() {
    let (_, wait, _) = ami_steps();
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = dir.path().join("clock");
    std::fs::write(&clock, "1000\n").expect("write");
    // Every call of `date` is 50 minutes after the one before.
    fake(
        dir.path(),
        "date",
        &format!(
            "now=$(cat {clock})\necho \"$now\"\necho $((now + 3000)) > {clock}\n",
            clock = clock.display()
        ),
    );
    fake(
        dir.path(),
        "curl",
        r#"case "$*" in
  *"Authorization: bearer request-token"*"https://token.example/?x=1&audience=sts.amazonaws.com"*)
    echo '{"value":"oidc-token"}' ;;
  *) echo "unexpected curl $*" >&2; exit 2 ;;
esac
"#,
    );
    fake(
        dir.path(),
        "aws",
        r#"case "$*" in
  *"assume-role-with-web-identity --role-arn arn:aws:iam::123456789012:role/build "*"--web-identity-token oidc-token "*)
    printf 'ASIAFRESH\tfresh-secret\tfresh-session\n' ;;
  *image.state.status*)
    if [ "${AWS_SESSION_TOKEN:-}" = fresh-session ]; then echo AVAILABLE; else echo BUILDING; fi ;;
  *amis*) echo ami-0123456789abcdef0 ;;
  *) echo "unexpected aws $*" >&2; exit 2 ;;
esac
"#,
    );
    fake(dir.path(), "sleep", "exit 0\n");
    let output = run_bash(
        dir.path(),
        &wait,
        &[
            (
                "BUILD",
                "arn:aws:imagebuilder:us-east-1:123456789012:image/x/1.0.0/1",
            ),
            ("ROLE", "arn:aws:iam::123456789012:role/build"),
            ("TIMEOUT_MINUTES", "240"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://token.example/?x=1"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_RUN_ATTEMPT", "2"),
        ],
    );
    let log = text(&output);
    assert!(output.status.success(), "{log}");
    for secret in ["oidc-token", "fresh-secret", "fresh-session"] {
        assert!(log.contains(&format!("::add-mask::{secret}\n")), "{log}");
    }
    assert!(log.contains("is available: ami-0123456789abcdef0"), "{log}");
}

fn install_steps(rendered: &imagesmith_render::Rendered) -> Value {
    let file = rendered
        .file(".github/workflows/validate.yml")
        .expect("validate.yml");
    let loaded = load_str("validate.yml", &file.contents, Limits::DEFAULT);
    decode::to_json(&loaded.root.expect("YAML"))["jobs"]["validate"].clone()
}

/// The seed with `imagesmith: {git, rev}` pinned, rendered.
fn render_pinned(rev: &str) -> imagesmith_render::Rendered {
    let project = crate::support::seed_copy(|text| {
        format!("{text}\nimagesmith:\n  git: https://github.com/example/imagesmith\n  rev: {rev}\n")
    });
    let plan = crate::support::load(project.path());
    imagesmith_render::render(
        &plan,
        &imagesmith_render::RenderOptions::new(&[imagesmith_render::Target::All]),
    )
    .expect("renders")
}

#[test]
fn imagesmith_is_built_from_the_pinned_commit_with_locked_dependencies() {
    let rev = "0123456789abcdef0123456789abcdef01234567";
    let rendered = render_pinned(rev);
    assert!(
        !rendered
            .notes
            .iter()
            .any(|note| note.message.contains("IMAGESMITH_URL")),
        "{:?}",
        rendered.notes
    );
    let job = install_steps(&rendered);
    let install = step(&job, "Install imagesmith");
    assert_eq!(install["env"]["IMAGESMITH_REV"], rev);
    let on_path = step(&job, "imagesmith on PATH");
    let script = format!(
        "{}\n{}",
        install["run"].as_str().expect("run"),
        on_path["run"].as_str().expect("run")
    );
    let dir = tempfile::tempdir().expect("temp dir");
    fake(
        dir.path(),
        "cargo",
        "echo \"$@\" > \"$RUNNER_TEMP/cargo-args\"\nmkdir -p \"$HOME/.cargo/bin\"\nprintf '#!/bin/sh\\necho imagesmith 0.1.0\\n' > \"$HOME/.cargo/bin/imagesmith\"\nchmod +x \"$HOME/.cargo/bin/imagesmith\"\n",
    );
    let github_path = dir.path().join("github_path");
    let home = dir.path().to_str().expect("utf-8");
    let output = run_bash(
        dir.path(),
        &script,
        &[
            ("IMAGESMITH_GIT", "https://github.com/example/imagesmith"),
            ("IMAGESMITH_REV", rev),
            ("GITHUB_PATH", github_path.to_str().expect("utf-8")),
            ("HOME", home),
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let args = std::fs::read_to_string(dir.path().join("cargo-args")).expect("cargo ran");
    assert!(
        args.starts_with(&format!(
            "install --locked --git https://github.com/example/imagesmith --rev {rev} --root {home}/.cargo "
        )),
        "{args}"
    );
    assert!(text(&output).contains("imagesmith 0.1.0"));
    assert!(std::fs::read_to_string(github_path)
        .expect("GITHUB_PATH written")
        .contains(".cargo/bin"));
}

/// Issue 12: the build of the pinned commit is cached, keyed on the commit, and a cache hit
/// skips `cargo install`; the cached path is where `cargo install --root ~/.cargo` puts it.
#[test]
fn the_pinned_imagesmith_build_is_cached_by_commit() {
    let rev = "0123456789abcdef0123456789abcdef01234567";
    let rendered = render_pinned(rev);
    for name in WORKFLOWS {
        let file = rendered
            .file(&format!(".github/workflows/{name}"))
            .expect("workflow");
        let loaded = load_str(name, &file.contents, Limits::DEFAULT);
        let workflow = decode::to_json(&loaded.root.expect("YAML"));
        for (job_name, job) in jobs(&workflow) {
            let Some(index) = steps(job).iter().position(|s| {
                s["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("Install imagesmith"))
            }) else {
                continue;
            };
            let cache = &steps(job)[index - 1];
            assert!(uses(cache, "actions/cache"), "{name} {job_name}: {cache}");
            assert_eq!(cache["with"]["path"], "~/.cargo/bin/imagesmith");
            let key = cache["with"]["key"].as_str().expect("key");
            assert!(key.contains(rev), "{key}");
            let install = &steps(job)[index];
            assert_eq!(
                install["if"],
                format!(
                    "steps.{}.outputs.cache-hit != 'true'",
                    cache["id"].as_str().expect("id")
                )
            );
            assert!(install["run"]
                .as_str()
                .is_some_and(|r| r.contains("--root \"$HOME/.cargo\"")));
        }
    }
}

#[test]
fn without_a_pinned_source_the_install_fails_naming_both_ways() {
    let rendered = render_seed();
    assert!(
        rendered
            .notes
            .iter()
            .any(|note| note.message.contains("pins no source of imagesmith")),
        "{:?}",
        rendered.notes
    );
    let job = install_steps(&rendered);
    let install = step(&job, "Install imagesmith");
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run_bash(
        dir.path(),
        install["run"].as_str().expect("run"),
        &[("IMAGESMITH_URL", ""), ("IMAGESMITH_SHA256", "")],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let said = text(&output);
    assert!(
        said.contains("::error::No way to install imagesmith"),
        "{said}"
    );
    assert!(said.contains("imagesmith: {git:"), "{said}");
    assert!(said.contains("IMAGESMITH_SHA256"), "{said}");
}
