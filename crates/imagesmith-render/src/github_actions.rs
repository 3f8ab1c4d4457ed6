//! GitHub Actions workflows: `validate.yml` (specs on pull requests, SARIF to code scanning),
//! `build-golden.yml` (daily and on recipe change, matrix over OS), `build-docker-image.yml`
//! (customized images: validate, build, Trivy and Grype gates from the project's thresholds,
//! push with immutable `v<semver>` and `v<semver>-<run id>-<run attempt>` tags) and
//! `deploy-infra.yml` (Terraform plan and apply). AWS access is always OIDC role assumption;
//! no keys. Actions are referenced by commit, with the release in a comment (`ACTIONS`).
//!
//! Issue 12, workflows that run in a fresh repository: secrets a component marks optional do
//! not fail a build when they are absent; a run id never makes a tag or a name unique
//! without the run attempt (a re-run keeps the run id); the job uploading SARIF has
//! `security-events: write` and `actions: read` (a private repository needs both); the AMI
//! job waits for the Image Builder build it starts; and every job that assumes an AWS role
//! runs in a named GitHub environment (`BUILD_ENVIRONMENTS`, `DEPLOY_ENVIRONMENT`), which
//! the OIDC subject of its token names.

use crate::common::{header, Gate, Input};
use crate::dockerfile::golden_reference;
use crate::{yaml, Rendered, TerraformBackend};
use imagesmith_model::{ImageType, Infrastructure, OsFamily, Runner, Severity};
use imagesmith_plan::{LockedImage, Parent, Role};
use serde_json::{json, Value};

/// Every third-party action the workflows use: name, the commit its release tag points at,
/// and that release. Workflows reference an action by this commit, with the release in a
/// comment (`uses: actions/checkout@<sha> # v4.4.0`), never by a tag, which its owner (or
/// whoever holds its owner's credentials) can move (issue 12).
///
/// Each commit is `git rev-parse '<release>^{commit}'` (the commit, not an annotated tag
/// object) in the action's repository, for the newest release of the major version in use;
/// where the repository has a major tag (`v4`, …), it points at that same commit.
///
/// `aquasecurity/trivy-action`: on 2026-03-19 its tags were force-pushed to a credential
/// stealer (GHSA-69fq-xp46-6x23). The maintainers re-created the releases up to 0.34.0 as
/// `v`-prefixed tags at the original commits and removed the un-prefixed ones, so `@0.28.0`
/// no longer resolves and a job using it fails at "Set up job". v0.36.0 is the newest release:
/// a signed tag from 2026-04-22, after the incident, on `master`; it pins
/// `aquasecurity/setup-trivy` by commit (v0.2.6, whose tags were moved too) and installs Trivy
/// v0.70.0 by default, not the malicious 0.69.4 to 0.69.6. The restored `v0.28.0` would still
/// fetch `aquasecurity/setup-trivy@v0.2.1` by tag.
#[rustfmt::skip]
const ACTIONS: &[(&str, &str, &str)] = &[
    ("actions/cache", "0057852bfaa89a56745cba8c7296529d2fc39830", "v4.3.0"),
    ("actions/checkout", "11d5960a326750d5838078e36cf38b85af677262", "v4.4.0"),
    ("anchore/scan-action", "1638637db639e0ade3258b51db49a9a137574c3e", "v6.5.1"),
    ("aquasecurity/trivy-action", "ed142fd0673e97e23eac54620cfb913e5ce36c25", "v0.36.0"),
    ("aws-actions/amazon-ecr-login", "03f1aad4c6c7ffd436567f42f9384779290529bd", "v2.1.7"),
    ("aws-actions/configure-aws-credentials", "7474bc4690e29a8392af63c5b98e7449536d5c3a", "v4.3.1"),
    ("docker/build-push-action", "10e90e3645eae34f1e60eeb005ba3a3d33f178e8", "v6.19.2"),
    ("docker/setup-buildx-action", "8d2750c68a42422c14e847fe6c8ac0403b4cbd6f", "v3.12.0"),
    // upload-sarif lives in, and is released with, the codeql-action repository.
    ("github/codeql-action/upload-sarif", "dd903d2e4f5405488e5ef1422510ee31c8b32357", "v3.36.2"),
    ("hashicorp/setup-terraform", "b9cd54a3c349d3f38e8881555d616ced269862dd", "v3.1.2"),
];

const CACHE: &str = "actions/cache";
const CHECKOUT: &str = "actions/checkout";
const AWS_CREDENTIALS: &str = "aws-actions/configure-aws-credentials";
const ECR_LOGIN: &str = "aws-actions/amazon-ecr-login";
const BUILDX: &str = "docker/setup-buildx-action";
const BUILD_PUSH: &str = "docker/build-push-action";
const TRIVY: &str = "aquasecurity/trivy-action";
const GRYPE: &str = "anchore/scan-action";
const UPLOAD_SARIF: &str = "github/codeql-action/upload-sarif";
const SETUP_TERRAFORM: &str = "hashicorp/setup-terraform";

/// What makes a name or a tag unique to one run of a workflow. A re-run keeps the run id and
/// increments the attempt, so the id alone collides with the tags of the first attempt.
const RUN: &str = "${{ github.run_id }}-${{ github.run_attempt }}";
/// `RUN` as a shell expands it in a `run:` step.
const RUN_SHELL: &str = "$GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT";

/// The GitHub environment of the jobs that assume the build role: golden images, then
/// customized container images. A job in an environment gets an OIDC token whose subject is
/// `repo:<owner>/<name>:environment:<environment>`, which the role's trust policy can name,
/// and the environment's protection rules (branches, reviewers) gate the role.
pub(crate) const BUILD_ENVIRONMENTS: [&str; 2] = ["golden-images", "container-images"];
/// The GitHub environment of the job that assumes the deploy role.
pub(crate) const DEPLOY_ENVIRONMENT: &str = "production";

/// How long the AMI job waits for the Image Builder build it starts, in minutes.
const AMI_TIMEOUT_MINUTES: u32 = 240;

/// The `uses:` value of `action`: its name at its pinned commit. `pin_comments` adds the
/// release after it when the workflow is written.
fn uses(action: &str) -> String {
    let (name, commit, _) = ACTIONS
        .iter()
        .find(|(name, _, _)| *name == action)
        .unwrap_or_else(|| panic!("{action} has no pin in ACTIONS"));
    format!("{name}@{commit}")
}

/// `text` with ` # <release>` after every `uses: <name>@<commit>` line of a pinned action.
fn pin_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16 * ACTIONS.len());
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let release = body
            .trim_start()
            .trim_start_matches("- ")
            .strip_prefix("uses: ")
            .and_then(|value| value.split_once('@'))
            .and_then(|(name, commit)| {
                ACTIONS
                    .iter()
                    .find(|(n, c, _)| *n == name && *c == commit)
                    .map(|(_, _, release)| *release)
            });
        match release {
            Some(release) => {
                out.push_str(body);
                out.push_str(" # ");
                out.push_str(release);
                out.push_str(&line[body.len()..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

fn folders(input: &Input<'_>) -> (Vec<String>, Vec<String>, Vec<String>) {
    let paths = input
        .project()
        .and_then(|p| p.paths.clone())
        .unwrap_or_default();
    // The documents the plan was made from, relative to the project root: a folder gets a
    // path filter only when one of them is in it, so that every filter matches a file of the
    // repository (the starter project has no `components/`; GitHub matches nothing for it).
    let mut sources: Vec<String> = Vec::new();
    for image in &input.plan.images {
        sources.push(crate::common::clean_source(&image.source));
        for component in &image.components {
            sources.push(crate::common::clean_source(&component.source));
        }
    }
    let or = |given: &[String], default: &str| -> Vec<String> {
        let folders = if given.is_empty() {
            vec![default.to_string()]
        } else {
            given.to_vec()
        };
        folders
            .into_iter()
            .map(|f| f.trim_start_matches("./").trim_end_matches('/').to_string())
            .filter(|f| {
                sources.iter().any(|s| {
                    s.strip_prefix(f.as_str())
                        .is_some_and(|r| r.starts_with('/'))
                })
            })
            .collect()
    };
    (
        or(&paths.specs, "specs"),
        or(&paths.recipes, "recipes"),
        or(&paths.components, "components"),
    )
}

fn globs(folders: &[String]) -> Vec<Value> {
    folders
        .iter()
        .map(|f| json!(format!("{}/**", f.trim_end_matches('/'))))
        .collect()
}

/// `rest` below the output folder, as a path from the repository root (no `./`).
fn out_path(input: &Input<'_>, rest: &str) -> String {
    input.options.out_path(rest)
}

/// The step that installs imagesmith: built from the commit the project pins
/// (`imagesmith: {git, rev}`: the commit pins the source, `--locked` the checksums of every
/// dependency in its `Cargo.lock`), else downloaded from the repository variables
/// `IMAGESMITH_URL` and `IMAGESMITH_SHA256` (a binary the platform team hosts), failing with
/// both ways named when neither is set.
///
/// With a pinned commit, the built binary is cached (`actions/cache`, keyed on the commit
/// and the runner's OS and architecture): a warm run restores `~/.cargo/bin/imagesmith` and
/// skips the build, a cold one builds it and saves it when the job succeeds.
fn install_imagesmith(input: &Input<'_>) -> Vec<Value> {
    match input.project().and_then(|p| p.imagesmith.as_ref()) {
        Some(source) => vec![
            json!({
                "name": "Restore the imagesmith build of this commit",
                "id": "imagesmith-cache",
                "uses": uses(CACHE),
                "with": {
                    "path": IMAGESMITH_BINARY,
                    "key": format!("imagesmith-{}-${{{{ runner.os }}}}-${{{{ runner.arch }}}}", source.rev),
                },
            }),
            json!({
                "name": format!("Install imagesmith (commit {}, locked dependencies)", &source.rev[..12]),
                "if": "steps.imagesmith-cache.outputs.cache-hit != 'true'",
                "env": {
                    "IMAGESMITH_GIT": source.git,
                    "IMAGESMITH_REV": source.rev,
                },
                "run": "set -euo pipefail\ncargo install --locked --git \"$IMAGESMITH_GIT\" --rev \"$IMAGESMITH_REV\" --root \"$HOME/.cargo\" imagesmith\n",
            }),
            json!({
                "name": "imagesmith on PATH",
                "run": "set -euo pipefail\necho \"$HOME/.cargo/bin\" >> \"$GITHUB_PATH\"\n\"$HOME/.cargo/bin/imagesmith\" --version\n",
            }),
        ],
        None => vec![json!({
            "name": "Install imagesmith (the binary of IMAGESMITH_URL, checked against IMAGESMITH_SHA256)",
            "env": {
                "IMAGESMITH_URL": "${{ vars.IMAGESMITH_URL }}",
                "IMAGESMITH_SHA256": "${{ vars.IMAGESMITH_SHA256 }}",
            },
            "run": concat!(
                "set -euo pipefail\n",
                "if [ -z \"${IMAGESMITH_URL:-}\" ] || [ -z \"${IMAGESMITH_SHA256:-}\" ]; then\n",
                "  echo \"::error::No way to install imagesmith: pin its source in imagesmith.yaml (imagesmith: {git: <repository>, rev: <commit>}) and render again, or set the repository variables IMAGESMITH_URL (a binary you host) and IMAGESMITH_SHA256 (its sha256)\"\n",
                "  exit 1\n",
                "fi\n",
                "curl -fsSL --retry 3 -o \"$RUNNER_TEMP/imagesmith\" \"$IMAGESMITH_URL\"\n",
                "echo \"$IMAGESMITH_SHA256  $RUNNER_TEMP/imagesmith\" | sha256sum -c -\n",
                "sudo install -m 0755 \"$RUNNER_TEMP/imagesmith\" /usr/local/bin/imagesmith\n",
                "imagesmith --version\n",
            ),
        })],
    }
}

/// Where `cargo install` puts the imagesmith binary, and the one path the cache keeps.
const IMAGESMITH_BINARY: &str = "~/.cargo/bin/imagesmith";

/// The role a job assumes: the repository variable `variable`, else, when the picked stack
/// creates the role and the project names its account, that role's ARN.
fn role(input: &Input<'_>, variable: &str, name: Option<String>) -> String {
    match name.and_then(|name| input.role_arn(&name)) {
        Some(arn) => format!("${{{{ vars.{variable} || '{arn}' }}}}"),
        None => format!("${{{{ vars.{variable} }}}}"),
    }
}

/// The role the build jobs assume.
fn build_role(input: &Input<'_>) -> String {
    role(input, "AWS_BUILD_ROLE_ARN", input.stack_build_role())
}

/// The role `deploy-infra.yml` assumes.
fn deploy_role(input: &Input<'_>) -> String {
    role(input, "AWS_DEPLOY_ROLE_ARN", input.stack_deploy_role())
}

/// The `runs-on` of the jobs that build, scan and push images (they need docker and AWS):
/// the picked stack's CodeBuild project when `ci.runner` is `codebuild`, else GitHub-hosted.
/// The label `codebuild-<project>-<run id>-<run attempt>` makes the project's
/// `WORKFLOW_JOB_QUEUED` webhook start a build that runs this job and only this job.
/// actionlint leaves a label holding `${{ }}` unchecked, so it needs no
/// `self-hosted-runner` configuration (a literal `codebuild-…` label it rejects as unknown).
fn build_runner(input: &Input<'_>) -> String {
    match (input.runner(), input.stack_runner_project()) {
        (Runner::Codebuild, Some(project)) => format!("codebuild-{project}-{RUN}"),
        _ => "ubuntu-latest".to_string(),
    }
}

fn aws_login(role: &str) -> Value {
    json!({
        "name": "Assume the AWS role (OIDC, no stored keys)",
        "uses": uses(AWS_CREDENTIALS),
        "with": {
            "role-to-assume": role,
            "role-session-name": format!("imagesmith-{RUN}"),
            "aws-region": "${{ env.AWS_REGION }}",
        },
    })
}

fn severities(fail_on: Severity) -> String {
    Severity::ALL
        .iter()
        .filter(|s| **s >= fail_on)
        .map(|s| s.as_str().to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// Splices a list among a job's steps into the steps (a group of steps such as
/// `install_imagesmith`'s is written where one step would be).
fn flatten_steps(workflow: &mut Value) {
    let Some(jobs) = workflow.get_mut("jobs").and_then(Value::as_object_mut) else {
        return;
    };
    for job in jobs.values_mut() {
        if let Some(steps) = job.get_mut("steps").and_then(Value::as_array_mut) {
            let mut flat = Vec::with_capacity(steps.len());
            for step in steps.drain(..) {
                match step {
                    Value::Array(group) => flat.extend(group),
                    step => flat.push(step),
                }
            }
            *steps = flat;
        }
    }
}

fn write(input: &Input<'_>, rendered: &mut Rendered, name: &str, what: &str, mut workflow: Value) {
    flatten_steps(&mut workflow);
    let mut sources: Vec<String> = Vec::new();
    if let Some(project) = input.project_source() {
        sources.push(format!("{project} (project `{}`)", input.name()));
    }
    for image in &input.plan.images {
        sources.push(format!(
            "{} (image `{}`)",
            crate::common::clean_source(&image.source),
            image.name
        ));
    }
    let mut text = yaml::comment(&header(what, &sources));
    text.push_str(&pin_comments(&yaml::to_string(&workflow)));
    rendered.push(format!(".github/workflows/{name}"), text);
}

/// Writes the four workflows.
pub(crate) fn render(input: &Input<'_>, rendered: &mut Rendered) {
    if input.project().is_some_and(|p| p.imagesmith.is_none()) {
        rendered.note(
            out_path(input, ".github/workflows"),
            "imagesmith.yaml pins no source of imagesmith (`imagesmith: {git: <repository>, rev: <commit>}`): the workflows install it from the repository variables IMAGESMITH_URL and IMAGESMITH_SHA256, which must be set",
        );
    }
    let stack = match input.infrastructure() {
        Infrastructure::Cloudformation => "the CloudFormation stacks of `cloudformation/` (`infrastructure: cloudformation`, the default): they push to the project's repository names and `deploy-infra.yml` deploys the stacks; `infrastructure: terraform` picks the Terraform configuration".to_string(),
        Infrastructure::Terraform => format!(
            "the Terraform configuration of `terraform/` (`infrastructure: terraform`) with its default names: they push to `{}<image>`, start the pipelines `{}-<image>` and `deploy-infra.yml` applies it; rendered workflows do not follow `name_prefix` or `repository_prefix` set at apply time",
            crate::common::terraform_repository_prefix(input),
            crate::common::terraform_prefix(input),
        ),
    };
    rendered.note(
        out_path(input, ".github/workflows"),
        format!("The workflows target {stack}"),
    );
    if let Some(project) = input
        .stack_runner_project()
        .filter(|_| input.runner() == Runner::Codebuild)
    {
        rendered.note(
            out_path(input, ".github/workflows"),
            format!("The build jobs run on the CodeBuild project `{project}` (`ci.runner: codebuild`); validation stays on GitHub-hosted runners"),
        );
    }
    validate(input, rendered);
    build_golden(input, rendered);
    build_docker_image(input, rendered);
    deploy_infra(input, rendered);
}

/// The permissions of a job that uploads SARIF to code scanning, and no more.
fn sarif_permissions() -> Value {
    json!({ "actions": "read", "contents": "read", "security-events": "write" })
}

fn validate(input: &Input<'_>, rendered: &mut Rendered) {
    let (specs, recipes, components) = folders(input);
    let mut paths = globs(&specs);
    paths.extend(globs(&recipes));
    paths.extend(globs(&components));
    paths.push(json!("imagesmith.yaml"));
    paths.push(json!("imagesmith.lock"));
    // The rendered files too: the drift gate fails a pull request that edits one by hand.
    // The folders are those of the files rendered so far (the other targets render first),
    // so each filter matches a file of the repository.
    let mut rendered_folders: Vec<String> = rendered
        .files
        .iter()
        .filter_map(|f| f.path.split_once('/').map(|(top, _)| top.to_string()))
        .collect();
    rendered_folders.push(".github".into());
    rendered_folders.sort();
    rendered_folders.dedup();
    for folder in &rendered_folders {
        let glob = if folder == ".github" {
            out_path(input, ".github/workflows/**")
        } else {
            out_path(input, &format!("{folder}/**"))
        };
        if !paths.contains(&json!(glob)) {
            paths.push(json!(glob));
        }
    }
    let check = input.options.command_line(&["--check"]);
    let update = input.options.command_line(&[]);
    let workflow = json!({
        "name": "validate",
        "on": {
            "pull_request": { "paths": paths },
            // Weekly: which pins have newer releases, and which fell out of support.
            "schedule": [{ "cron": "23 6 * * 1" }],
            "workflow_dispatch": {},
        },
        // Nothing by default; each job asks for what it needs.
        "permissions": {},
        "jobs": {
            "outdated": {
                "name": "Newer releases, end-of-life and revoked pins",
                "if": "github.event_name != 'pull_request'",
                "runs-on": "ubuntu-latest",
                "permissions": { "contents": "read" },
                "steps": [
                    { "uses": uses(CHECKOUT) },
                    json!(install_imagesmith(input)),
                    {
                        "name": "Outdated pins (fails when one is revoked or past its end of life)",
                        "run": "imagesmith outdated",
                    },
                ],
            },
            "validate": {
                "name": "Validate specs, recipes and components",
                "runs-on": "ubuntu-latest",
                // Uploading SARIF writes code scanning alerts; in a private repository the
                // upload also reads the workflow run (`actions: read`).
                "permissions": sarif_permissions(),
                "steps": [
                    { "uses": uses(CHECKOUT) },
                    json!(install_imagesmith(input)),
                    {
                        "name": "Validate (annotations on the pull request)",
                        "run": "imagesmith validate --format github",
                    },
                    {
                        "name": "The lock is up to date (run `imagesmith lock` and commit it)",
                        "run": "imagesmith lock --check",
                    },
                    {
                        "name": format!("The rendered files are up to date (run `{update}` and commit them)"),
                        "run": check,
                    },
                    {
                        "name": "Validate (SARIF for code scanning)",
                        "if": "always()",
                        "run": "imagesmith validate --format sarif > imagesmith.sarif || true\n",
                    },
                    {
                        "name": "Upload SARIF",
                        "if": "always()",
                        "uses": uses(UPLOAD_SARIF),
                        "with": { "sarif_file": "imagesmith.sarif", "category": "imagesmith" },
                    },
                ],
            },
        },
    });
    write(
        input,
        rendered,
        "validate.yml",
        "Workflow: validate specs, recipes and components on pull requests",
        workflow,
    );
}

/// The secrets of an image as the secrets step (`read_secrets`) and BuildKit take them:
/// `ENV,secret-id,required|optional` lines and `id=ENV` lines.
fn secret_inputs(input: &Input<'_>, image: &LockedImage) -> (String, String) {
    let mut ids = Vec::new();
    let mut envs = Vec::new();
    for component in &image.components {
        for parameter in component.component.parameters.iter().filter(|p| p.secret) {
            let env = parameter
                .env
                .clone()
                .unwrap_or_else(|| parameter.name.to_ascii_uppercase());
            let (id, required) = crate::awstoe::secret_ids(input.plan, &component.component)
                .into_iter()
                .find(|(name, _, _)| name == &parameter.name)
                .map(|(_, id, required)| (id, required))
                .unwrap_or((String::new(), parameter.required));
            let need = if required { "required" } else { "optional" };
            ids.push(format!("{env},{id},{need}"));
            envs.push(format!("{}={env}", parameter.name));
        }
    }
    (ids.join("\n"), envs.join("\n"))
}

/// Reads the secrets of `matrix.secret-ids` from AWS Secrets Manager into the environment of
/// the later steps, masked in the log. A required secret that cannot be read fails the step
/// with its id and the reason; an optional one that is absent is set empty, with a notice,
/// and the build goes on (the aws-secretsmanager-get-secrets action fails on any secret it
/// cannot read, optional or not).
fn read_secrets() -> Value {
    json!({
        "name": "Read build secrets from AWS Secrets Manager",
        "if": "matrix.secret-ids != ''",
        "env": { "SECRET_IDS": "${{ matrix.secret-ids }}" },
        "run": READ_SECRETS,
    })
}

/// The script of `read_secrets`.
const READ_SECRETS: &str = r#"set -euo pipefail
failed=0
while IFS=, read -r name id need; do
  [ -n "$name" ] || continue
  if value=$(aws secretsmanager get-secret-value --secret-id "$id" \
      --query SecretString --output text </dev/null 2>"$RUNNER_TEMP/secret.err"); then
    while IFS= read -r line; do
      if [ -n "$line" ]; then echo "::add-mask::$line"; fi
    done <<< "$value"
    delimiter="EOF_$(openssl rand -hex 16)"
    printf '%s<<%s\n%s\n%s\n' "$name" "$delimiter" "$value" "$delimiter" >> "$GITHUB_ENV"
  elif [ "$need" = required ]; then
    echo "::error::Cannot read the required secret $id from AWS Secrets Manager: $(tr '\n' ' ' < "$RUNNER_TEMP/secret.err")"
    echo "hint: create it, and let the build role read it"
    failed=1
  else
    echo "::notice::The optional secret $id is not set ($(tr '\n' ' ' < "$RUNNER_TEMP/secret.err")); building without it"
    echo "$name=" >> "$GITHUB_ENV"
  fi
done <<< "$SECRET_IDS"
rm -f "$RUNNER_TEMP/secret.err"
exit "$failed"
"#;

/// Build, scan and push steps for one container image; `matrix` names the matrix fields.
fn container_steps(input: &Input<'_>, customized: bool) -> Vec<Value> {
    let (trivy, grype, snyk) = input.gates();
    let mut steps = vec![
        json!({ "uses": uses(CHECKOUT) }),
        aws_login(&build_role(input)),
        json!({ "name": "Log in to ECR", "id": "ecr", "uses": uses(ECR_LOGIN) }),
        json!({ "uses": uses(BUILDX) }),
        read_secrets(),
    ];
    let mut build_args = String::new();
    if customized {
        steps.push(json!({
            "name": "Find the newest golden parent",
            "id": "golden",
            "env": { "GOLDEN_REPOSITORY": "${{ matrix.golden-repository }}", "REGISTRY": "${{ steps.ecr.outputs.registry }}" },
            "run": "digest=$(aws ecr describe-images --repository-name \"$GOLDEN_REPOSITORY\" \\\n  --query 'sort_by(imageDetails,&imagePushedAt)[-1].imageDigest' --output text)\nif [ -z \"$digest\" ] || [ \"$digest\" = None ]; then\n  echo \"::error::The golden repository $GOLDEN_REPOSITORY has no image; run build-golden first\"\n  exit 1\nfi\necho \"image=$REGISTRY/$GOLDEN_REPOSITORY@$digest\" >> \"$GITHUB_OUTPUT\"\n",
        }));
        build_args = "GOLDEN_IMAGE=${{ steps.golden.outputs.image }}".to_string();
    }
    // The local tag the scanners read; unique to the run attempt.
    let scanned = format!("imagesmith-scan/${{{{ matrix.image }}}}:{RUN}");
    let mut build = json!({
        "name": "Build",
        "uses": uses(BUILD_PUSH),
        "with": {
            "context": out_path(input, "docker/${{ matrix.image }}"),
            "file": out_path(input, "docker/${{ matrix.image }}/Dockerfile"),
            "load": true,
            "push": false,
            "tags": scanned,
            "labels": "org.opencontainers.image.revision=${{ github.sha }}\norg.opencontainers.image.source=${{ github.server_url }}/${{ github.repository }}\n",
            "secret-envs": "${{ matrix.secret-envs }}",
        },
    });
    if !build_args.is_empty() {
        build["with"]["build-args"] = json!(build_args);
    }
    steps.push(build);
    if let Some(Gate {
        fail_on,
        ignore_unfixed,
    }) = trivy
    {
        steps.push(json!({
            "name": format!("Trivy: fail on {} or worse", fail_on.as_str()),
            "uses": uses(TRIVY),
            "with": {
                "image-ref": &scanned,
                "severity": severities(fail_on),
                "ignore-unfixed": ignore_unfixed,
                "exit-code": "1",
                "format": "table",
            },
        }));
    }
    if let Some(Gate {
        fail_on,
        ignore_unfixed,
    }) = grype
    {
        steps.push(json!({
            "name": format!("Grype: fail on {} or worse", fail_on.as_str()),
            "uses": uses(GRYPE),
            "with": {
                "image": &scanned,
                "severity-cutoff": fail_on.as_str(),
                "only-fixed": ignore_unfixed,
                "fail-build": true,
                "output-format": "table",
            },
        }));
    }
    if let Some(Gate { fail_on, .. }) = snyk {
        steps.push(json!({
            "name": format!("Snyk: fail on {} or worse", fail_on.as_str()),
            "env": { "SNYK_TOKEN": "${{ secrets.SNYK_TOKEN }}" },
            "run": format!("npx --yes snyk@1 container test \"{scanned}\" --severity-threshold={}\n", fail_on.as_str()),
        }));
    }
    let mut push = json!({
        "name": "Push with immutable tags",
        "env": {
            "REGISTRY": "${{ steps.ecr.outputs.registry }}",
            "REPOSITORY": "${{ matrix.repository }}",
            "VERSION": "${{ matrix.version }}",
            "SCANNED": &scanned,
        },
        "run": format!("set -euo pipefail\ntarget=\"$REGISTRY/$REPOSITORY\"\n# Every run attempt gets its own tag (a re-run keeps the run id); the release tag is\n# pushed once, the first time the version is built (ECR tags are IMMUTABLE).\nrun=\"v$VERSION-{RUN_SHELL}\"\ndocker tag \"$SCANNED\" \"$target:$run\"\ndocker push \"$target:$run\"\nif aws ecr describe-images --repository-name \"$REPOSITORY\" --image-ids imageTag=\"v$VERSION\" >/dev/null 2>&1; then\n  echo \"::notice::$target:v$VERSION exists and is immutable; pushed only $run\"\nelse\n  docker tag \"$SCANNED\" \"$target:v$VERSION\"\n  docker push \"$target:v$VERSION\"\nfi\n"),
    });
    if customized {
        push["if"] = json!("github.event_name != 'pull_request'");
    }
    steps.push(push);
    steps
}

fn matrix_entry(input: &Input<'_>, image: &LockedImage) -> Value {
    let (ids, envs) = secret_inputs(input, image);
    let mut entry = json!({
        "image": image.name,
        "os": image.os.id,
        "repository": input.stack_repository(image),
        "version": input.image_semver(image),
        "secret-ids": ids,
        "secret-envs": envs,
    });
    if let Parent::Golden { name } = &image.parent {
        if let Some(golden) = input.plan.image(name) {
            let repository = input.stack_repository(golden);
            // The lock's reference names the project's repository; the stack's may differ.
            let reference =
                golden_reference(input, golden).replacen(&input.repository(golden), &repository, 1);
            entry["golden-repository"] = json!(repository);
            entry["golden-default"] = json!(reference);
        }
    }
    entry
}

fn build_golden(input: &Input<'_>, rendered: &mut Rendered) {
    let (_, recipes, components) = folders(input);
    let mut paths = globs(&recipes);
    paths.extend(globs(&components));
    paths.push(json!("imagesmith.yaml"));
    paths.push(json!(out_path(input, "docker/golden-*/**")));
    let mut jobs = serde_json::Map::new();
    let containers: Vec<Value> = input
        .images(ImageType::Container, Some(Role::Golden))
        .filter(|(_, i)| i.os.family == OsFamily::Linux)
        .map(|(_, i)| matrix_entry(input, i))
        .collect();
    if !containers.is_empty() {
        jobs.insert(
            "container".into(),
            json!({
                "name": "Golden container image on ${{ matrix.os }}",
                "runs-on": build_runner(input),
                "environment": BUILD_ENVIRONMENTS[0],
                "strategy": { "fail-fast": false, "matrix": { "include": containers } },
                "steps": container_steps(input, false),
            }),
        );
    }
    let amis: Vec<Value> = input
        .images(ImageType::Ami, Some(Role::Golden))
        .map(|(_, i)| {
            json!({
                "image": i.name,
                "os": i.os.id,
                "pipeline": input.stack_pipeline(i),
                "parameter": input.stack_ami_parameter(i),
            })
        })
        .collect();
    if !amis.is_empty() {
        jobs.insert(
            "ami".into(),
            json!({
                "name": "Golden AMI on ${{ matrix.os }}",
                // GitHub-hosted even with `ci.runner: codebuild`: the job builds nothing, it
                // starts a pipeline and waits up to AMI_TIMEOUT_MINUTES for it, longer than
                // the runner project's build timeout.
                "runs-on": "ubuntu-latest",
                "environment": BUILD_ENVIRONMENTS[0],
                "timeout-minutes": AMI_TIMEOUT_MINUTES + 15,
                "strategy": { "fail-fast": false, "matrix": { "include": amis } },
                "steps": [
                    aws_login(&build_role(input)),
                    {
                        "name": "Start the Image Builder pipeline",
                        "id": "start",
                        "env": { "PIPELINE": "${{ matrix.pipeline }}" },
                        "run": START_AMI,
                    },
                    {
                        "name": "Wait for the image build (fails when it fails)",
                        "env": {
                            "BUILD": "${{ steps.start.outputs.build }}",
                            "PARAMETER": "${{ matrix.parameter }}",
                            "ROLE": build_role(input),
                            "TIMEOUT_MINUTES": AMI_TIMEOUT_MINUTES.to_string(),
                        },
                        "run": WAIT_AMI,
                    },
                ],
            }),
        );
    }
    if jobs.is_empty() {
        jobs.insert(
            "nothing".into(),
            json!({ "runs-on": "ubuntu-latest", "steps": [{ "run": "echo \"The project has no golden images\"" }] }),
        );
    }
    let workflow = json!({
        "name": "build-golden",
        "on": {
            "schedule": [{ "cron": "17 5 * * *" }],
            "push": { "branches": ["main"], "paths": paths },
            "workflow_dispatch": {},
        },
        "permissions": { "contents": "read", "id-token": "write" },
        "concurrency": { "group": "build-golden", "cancel-in-progress": false },
        "env": { "AWS_REGION": input.region() },
        "jobs": jobs,
    });
    write(
        input,
        rendered,
        "build-golden.yml",
        "Workflow: build golden images daily and when a recipe changes, one job per OS",
        workflow,
    );
}

/// Starts the pipeline of `$PIPELINE` and writes the image build version it starts to the
/// `build` output.
const START_AMI: &str = r#"set -euo pipefail
account=$(aws sts get-caller-identity --query Account --output text)
partition=$(aws sts get-caller-identity --query Arn --output text | cut -d: -f2)
arn="arn:$partition:imagebuilder:$AWS_REGION:$account:image-pipeline/$PIPELINE"
build=$(aws imagebuilder start-image-pipeline-execution --image-pipeline-arn "$arn" \
  --query imageBuildVersionArn --output text)
echo "Started $build"
echo "build=$build" >> "$GITHUB_OUTPUT"
"#;

/// Polls the image build `$BUILD` until it is `AVAILABLE`; fails with the state's reason when
/// it ends otherwise, and after `$TIMEOUT_MINUTES`. The credentials of the job last an hour
/// (the role's default maximum), an AMI build can take longer: every 45 minutes the script
/// assumes `$ROLE` again with a new OIDC token of the job.
const WAIT_AMI: &str = r#"set -euo pipefail
start=$(date +%s)
deadline=$((start + TIMEOUT_MINUTES * 60))
assumed=$start
assume() {
  local token credentials key secret session
  token=$(curl -fsS -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
    "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=sts.amazonaws.com" | jq -r .value)
  echo "::add-mask::$token"
  credentials=$(aws sts assume-role-with-web-identity --role-arn "$ROLE" \
    --role-session-name "imagesmith-$GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT" \
    --web-identity-token "$token" \
    --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)
  read -r key secret session <<< "$credentials"
  echo "::add-mask::$secret"
  echo "::add-mask::$session"
  export AWS_ACCESS_KEY_ID="$key" AWS_SECRET_ACCESS_KEY="$secret" AWS_SESSION_TOKEN="$session"
}
state() {
  aws imagebuilder get-image --image-build-version-arn "$BUILD" --query "image.state.$1" --output text
}
while :; do
  if [ $(($(date +%s) - assumed)) -ge 2700 ]; then
    assume
    assumed=$(date +%s)
  fi
  status=$(state status)
  case "$status" in
    AVAILABLE)
      ami=$(aws imagebuilder get-image --image-build-version-arn "$BUILD" \
        --query 'image.outputResources.amis[0].image' --output text)
      echo "::notice::$BUILD is available: $ami (SSM parameter ${PARAMETER:-none})"
      exit 0
      ;;
    FAILED | CANCELLED | DEPRECATED | DISABLED | DELETED)
      echo "::error::The image build $BUILD is $status: $(state reason)"
      exit 1
      ;;
  esac
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "::error::The image build $BUILD is still $status after $TIMEOUT_MINUTES minutes; it goes on in Image Builder"
    exit 1
  fi
  echo "$BUILD: $status"
  sleep 60
done
"#;

fn build_docker_image(input: &Input<'_>, rendered: &mut Rendered) {
    let (specs, _, components) = folders(input);
    let mut paths = globs(&specs);
    paths.extend(globs(&components));
    paths.push(json!(out_path(input, "docker/**")));
    let images: Vec<Value> = input
        .images(ImageType::Container, Some(Role::Customized))
        .filter(|(_, i)| i.os.family == OsFamily::Linux)
        .map(|(_, i)| matrix_entry(input, i))
        .collect();
    let mut jobs = serde_json::Map::new();
    jobs.insert(
        "validate".into(),
        json!({
            "name": "Validate",
            "runs-on": "ubuntu-latest",
            "permissions": { "contents": "read" },
            "steps": [
                { "uses": uses(CHECKOUT) },
                json!(install_imagesmith(input)),
                { "name": "Validate", "run": "imagesmith validate --format github" },
                { "name": "The lock is up to date", "run": "imagesmith lock --check" },
            ],
        }),
    );
    if images.is_empty() {
        jobs.insert(
            "build".into(),
            json!({
                "needs": "validate",
                "runs-on": "ubuntu-latest",
                "steps": [{ "run": "echo \"The project has no customized container images\"" }],
            }),
        );
    } else {
        jobs.insert(
            "build".into(),
            json!({
                "name": "${{ matrix.image }}",
                "needs": "validate",
                "runs-on": build_runner(input),
                "environment": BUILD_ENVIRONMENTS[1],
                "strategy": { "fail-fast": false, "matrix": { "include": images } },
                "steps": container_steps(input, true),
            }),
        );
    }
    let workflow = json!({
        "name": "build-docker-image",
        "on": {
            "pull_request": { "paths": paths.clone() },
            "push": { "branches": ["main"], "paths": paths },
            "workflow_dispatch": {},
        },
        "permissions": { "contents": "read", "id-token": "write" },
        "env": { "AWS_REGION": input.region() },
        "jobs": jobs,
    });
    write(
        input,
        rendered,
        "build-docker-image.yml",
        "Workflow: customized container images — validate, build, scan, push with immutable tags",
        workflow,
    );
}

fn deploy_infra(input: &Input<'_>, rendered: &mut Rendered) {
    match input.infrastructure() {
        Infrastructure::Cloudformation => deploy_cloudformation(input, rendered),
        Infrastructure::Terraform => deploy_terraform(input, rendered),
    }
}

/// `deploy-infra.yml` for the CloudFormation stacks: a change set of every stack on pull
/// requests (not executed), deployed on `main`. Golden stacks go first, one at a time: a
/// customized recipe's parent is the golden pipeline's image.
fn deploy_cloudformation(input: &Input<'_>, rendered: &mut Rendered) {
    let mut stacks: Vec<(Role, String)> = input
        .plan
        .images
        .iter()
        .enumerate()
        .filter(|(index, image)| crate::pipeline::pipeline(input, *index, image).is_ok())
        .map(|(_, image)| {
            (
                image.role,
                format!(
                    "{} {}",
                    crate::common::cloudformation_stack(input, image),
                    out_path(input, &format!("cloudformation/{}", image.name))
                ),
            )
        })
        .collect();
    stacks.sort_by_key(|(role, _)| *role != Role::Golden);
    let lines: Vec<String> = stacks.into_iter().map(|(_, line)| line).collect();
    let directory = out_path(input, "cloudformation");
    let workflow = json!({
        "name": "deploy-infra",
        "on": {
            "pull_request": { "paths": [format!("{directory}/**")] },
            "push": { "branches": ["main"], "paths": [format!("{directory}/**")] },
            "workflow_dispatch": {},
        },
        "permissions": { "contents": "read", "id-token": "write" },
        "concurrency": { "group": "deploy-infra", "cancel-in-progress": false },
        "env": { "AWS_REGION": input.region() },
        "jobs": {
            "cloudformation": {
                "name": "CloudFormation change sets, deployed on main",
                "runs-on": "ubuntu-latest",
                "environment": DEPLOY_ENVIRONMENT,
                "timeout-minutes": 180,
                "steps": [
                    { "uses": uses(CHECKOUT) },
                    aws_login(&deploy_role(input)),
                    {
                        "name": "Deploy the stacks (golden first; change sets only on pull requests)",
                        "env": {
                            "STACKS": lines.join("\n"),
                            "EXECUTE": "${{ github.event_name != 'pull_request' && github.ref == 'refs/heads/main' }}",
                            "TEMPLATE_BUCKET": "${{ vars.CLOUDFORMATION_TEMPLATE_BUCKET }}",
                        },
                        "run": DEPLOY_STACKS,
                    },
                ],
            },
        },
    });
    write(
        input,
        rendered,
        "deploy-infra.yml",
        "Workflow: CloudFormation change sets on pull requests, deployed on main, through OIDC role assumption",
        workflow,
    );
}

/// Deploys each `<stack> <folder>` line of `$STACKS` with its `parameters.json`; without
/// `$EXECUTE` = `true` only the change set is created. A template over CloudFormation's
/// 51,200-byte inline limit goes through the S3 bucket `$TEMPLATE_BUCKET`.
const DEPLOY_STACKS: &str = r#"set -euo pipefail
while read -r stack folder; do
  [ -n "$stack" ] || continue
  # Read first, so that a missing or broken parameters.json fails the step.
  parameters=$(jq -r '.[] | "\(.ParameterKey)=\(.ParameterValue)"' "$folder/parameters.json")
  mapfile -t overrides <<< "$parameters"
  args=(--stack-name "$stack" --template-file "$folder/template.yaml"
    --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset
    --parameter-overrides "${overrides[@]}")
  if [ -n "${TEMPLATE_BUCKET:-}" ]; then
    args+=(--s3-bucket "$TEMPLATE_BUCKET" --s3-prefix "$stack")
  elif [ "$(wc -c < "$folder/template.yaml")" -gt 51200 ]; then
    echo "::error::$folder/template.yaml is over CloudFormation's 51,200-byte inline limit; set the repository variable CLOUDFORMATION_TEMPLATE_BUCKET to an S3 bucket the deploy role may write"
    exit 1
  fi
  if [ "$EXECUTE" != true ]; then
    args+=(--no-execute-changeset)
  fi
  echo "::group::$stack"
  aws cloudformation deploy "${args[@]}"
  echo "::endgroup::"
done <<< "$STACKS"
"#;

/// `deploy-infra.yml` for the Terraform configuration: plan on pull requests, apply on main.
fn deploy_terraform(input: &Input<'_>, rendered: &mut Rendered) {
    let directory = out_path(input, "terraform");
    let mut env =
        json!({ "AWS_REGION": input.region(), "TF_IN_AUTOMATION": "true", "TF_INPUT": "false" });
    if let TerraformBackend::Cloud { hostname, .. } = &input.options.terraform_backend {
        let host = hostname
            .clone()
            .unwrap_or_else(|| "app.terraform.io".to_string());
        env[format!("TF_TOKEN_{}", host.replace(['.', '-'], "_"))] =
            json!("${{ secrets.TF_API_TOKEN }}");
    }
    let workflow = json!({
        "name": "deploy-infra",
        "on": {
            "pull_request": { "paths": [format!("{directory}/**")] },
            "push": { "branches": ["main"], "paths": [format!("{directory}/**")] },
            "workflow_dispatch": {},
        },
        "permissions": { "contents": "read", "id-token": "write" },
        "concurrency": { "group": "deploy-infra", "cancel-in-progress": false },
        "env": env,
        "jobs": {
            "terraform": {
                "name": "Terraform plan and apply",
                "runs-on": "ubuntu-latest",
                "environment": DEPLOY_ENVIRONMENT,
                "defaults": { "run": { "working-directory": directory } },
                "steps": [
                    { "uses": uses(CHECKOUT) },
                    aws_login(&deploy_role(input)),
                    { "uses": uses(SETUP_TERRAFORM), "with": { "terraform_version": "1.9.8", "terraform_wrapper": false } },
                    { "name": "Init", "run": "terraform init" },
                    { "name": "Validate", "run": "terraform validate" },
                    {
                        "name": "Plan",
                        "env": { "TF_VAR_github_repository": "${{ github.repository }}" },
                        "run": "terraform plan -out=tfplan",
                    },
                    {
                        "name": "Apply",
                        "if": "github.event_name == 'push' && github.ref == 'refs/heads/main'",
                        "run": "terraform apply tfplan",
                    },
                ],
            },
        },
    });
    write(
        input,
        rendered,
        "deploy-infra.yml",
        "Workflow: Terraform plan on pull requests, apply on main, through OIDC role assumption",
        workflow,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_one_pin_by_commit() {
        for action in [
            CACHE,
            CHECKOUT,
            AWS_CREDENTIALS,
            ECR_LOGIN,
            BUILDX,
            BUILD_PUSH,
            TRIVY,
            GRYPE,
            UPLOAD_SARIF,
            SETUP_TERRAFORM,
        ] {
            assert_eq!(
                ACTIONS
                    .iter()
                    .filter(|(name, _, _)| *name == action)
                    .count(),
                1,
                "{action}"
            );
            assert!(uses(action).starts_with(&format!("{action}@")));
        }
        for (name, commit, release) in ACTIONS {
            assert!(
                commit.len() == 40
                    && commit
                        .chars()
                        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
                "{name}: {commit} is not a commit id"
            );
            assert!(
                release.starts_with('v') && release[1..].split('.').count() == 3,
                "{name}: {release} is not a vX.Y.Z release"
            );
        }
    }

    #[test]
    fn pinned_uses_lines_get_their_release() {
        let pinned = uses(CHECKOUT);
        let text = format!(
            "steps:\n  - uses: {pinned}\n  - name: x\n    uses: {pinned}\n    run: |\n      uses: other@v1\n"
        );
        assert_eq!(
            pin_comments(&text),
            format!(
                "steps:\n  - uses: {pinned} # v4.4.0\n  - name: x\n    uses: {pinned} # v4.4.0\n    run: |\n      uses: other@v1\n"
            )
        );
    }
}
