//! Issue 12, the project picks the stack the workflows use (`infrastructure`), where their
//! build jobs run (`ci.runner`) and the ECR lifecycle and pull policies (`registry`): every
//! name a workflow uses is one the picked stack creates, read from the rendered
//! CloudFormation templates or from the rendered Terraform with its variables' defaults.

use crate::support::{load, render_seed, seed_copy};
use imagesmith_model::decode;
use imagesmith_render::{render, RenderOptions, Rendered, Target};
use imagesmith_validate::validate_project;
use imagesmith_yaml::{load_str, Limits};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn render_all(root: &Path) -> Rendered {
    render(&load(root), &RenderOptions::new(&[Target::All])).expect("renders")
}

fn contents<'a>(rendered: &'a Rendered, path: &str) -> &'a str {
    &rendered
        .file(path)
        .unwrap_or_else(|| panic!("{path} is not rendered"))
        .contents
}

fn yaml(rendered: &Rendered, path: &str) -> Value {
    let loaded = load_str(path.to_string(), contents(rendered, path), Limits::DEFAULT);
    decode::to_json(&loaded.root.unwrap_or_else(|| panic!("{path} is not YAML")))
}

fn workflow(rendered: &Rendered, name: &str) -> Value {
    yaml(rendered, &format!(".github/workflows/{name}"))
}

/// The seed with `infrastructure: terraform`, and `extra` appended.
fn terraform_seed(extra: &str) -> tempfile::TempDir {
    let extra = extra.to_string();
    seed_copy(move |text| format!("{text}\ninfrastructure: terraform\n{extra}"))
}

/// Every CloudFormation template of the tree, by image.
fn templates(rendered: &Rendered) -> Vec<(String, Value)> {
    rendered
        .files
        .iter()
        .filter_map(|f| {
            let image = f
                .path
                .strip_prefix("cloudformation/")?
                .strip_suffix("/template.yaml")?;
            Some((image.to_string(), yaml(rendered, &f.path)))
        })
        .collect()
}

/// The quoted value of `name = "..."` in the first block of `text` that starts with
/// `header` (`resource "aws_ecr_repository" "x" {`).
fn hcl_attribute(text: &str, header: &str, name: &str) -> Option<String> {
    let start = text.find(header)?;
    let body = &text[start..];
    let end = body.find("\n}\n").unwrap_or(body.len());
    body[..end].lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"').to_string())
    })
}

/// The Terraform template `value` with the defaults of `variables.tf` filled in.
fn with_defaults(rendered: &Rendered, value: &str) -> String {
    let variables = contents(rendered, "terraform/variables.tf");
    let mut out = value.to_string();
    for name in ["name_prefix", "repository_prefix"] {
        let default = hcl_attribute(variables, &format!("variable \"{name}\" {{"), "default")
            .unwrap_or_else(|| panic!("{name} has a default"));
        out = out.replace(&format!("${{var.{name}}}"), &default);
    }
    assert!(!out.contains("${"), "{out} has an unresolved reference");
    out
}

/// Every `resource "<kind>"` block's `name`, with the variables' defaults.
fn terraform_names(rendered: &Rendered, kind: &str, attribute: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in rendered
        .files
        .iter()
        .filter(|f| f.path.starts_with("terraform/") && !f.path.starts_with("terraform/bootstrap/"))
    {
        let header = format!("resource \"{kind}\" \"");
        let mut rest = file.contents.as_str();
        while let Some(at) = rest.find(&header) {
            rest = &rest[at..];
            if let Some(name) = hcl_attribute(rest, &header, attribute) {
                names.insert(with_defaults(rendered, &name));
            }
            rest = &rest[header.len()..];
        }
    }
    names
}

/// The matrix entries of every job of `workflow`.
fn matrix(workflow: &Value) -> Vec<Value> {
    workflow["jobs"]
        .as_object()
        .expect("jobs")
        .values()
        .flat_map(|job| {
            job["strategy"]["matrix"]["include"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// The repositories the workflows push to and pull golden parents from.
fn workflow_repositories(rendered: &Rendered) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for name in ["build-golden.yml", "build-docker-image.yml"] {
        for entry in matrix(&workflow(rendered, name)) {
            for key in ["repository", "golden-repository"] {
                if let Some(repository) = entry[key].as_str() {
                    out.insert(repository.to_string());
                }
            }
        }
    }
    assert!(out.len() >= 4, "{out:?}");
    out
}

fn ami_entries(rendered: &Rendered) -> Vec<Value> {
    let entries = workflow(rendered, "build-golden.yml")["jobs"]["ami"]["strategy"]["matrix"]
        ["include"]
        .as_array()
        .cloned()
        .expect("an AMI job");
    assert!(!entries.is_empty());
    entries
}

/// Every `role-to-assume` of the workflows.
fn roles(rendered: &Rendered) -> Vec<String> {
    let mut out = Vec::new();
    for name in [
        "build-golden.yml",
        "build-docker-image.yml",
        "deploy-infra.yml",
    ] {
        let workflow = workflow(rendered, name);
        for job in workflow["jobs"].as_object().expect("jobs").values() {
            for step in job["steps"].as_array().into_iter().flatten() {
                if let Some(role) = step["with"]["role-to-assume"].as_str() {
                    out.push(role.to_string());
                }
            }
        }
    }
    out
}

fn runs_on(workflow: &Value, job: &str) -> String {
    workflow["jobs"][job]["runs-on"]
        .as_str()
        .unwrap_or_else(|| panic!("job {job} has a runs-on"))
        .to_string()
}

#[test]
fn by_default_the_workflows_use_the_cloudformation_stacks_names() {
    let rendered = render_seed();
    let templates = templates(&rendered);
    let created: BTreeSet<String> = templates
        .iter()
        .filter_map(|(_, t)| {
            t["Resources"]["Repository"]["Properties"]["RepositoryName"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    let pushed = workflow_repositories(&rendered);
    assert!(
        pushed.is_subset(&created),
        "pushed {pushed:?}, created {created:?}"
    );
    for entry in ami_entries(&rendered) {
        let image = entry["image"].as_str().expect("image");
        let template = &templates.iter().find(|(i, _)| i == image).expect("stack").1;
        let resources = &template["Resources"];
        assert_eq!(
            entry["pipeline"],
            resources["ImagePipeline"]["Properties"]["Name"]
        );
        let parameter = &resources["DistributionConfiguration"]["Properties"]["Distributions"][0]
            ["SsmParameterConfigurations"][0]["ParameterName"];
        assert_eq!(&entry["parameter"], parameter);
    }
    // The stacks create no GitHub role: the workflows take the roles from variables.
    for role in roles(&rendered) {
        assert!(
            role == "${{ vars.AWS_BUILD_ROLE_ARN }}" || role == "${{ vars.AWS_DEPLOY_ROLE_ARN }}",
            "{role}"
        );
    }
    // deploy-infra.yml deploys every stack (golden first) and no Terraform.
    let deploy = workflow(&rendered, "deploy-infra.yml");
    let job = &deploy["jobs"]["cloudformation"];
    let step = job["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["env"]["STACKS"].is_string())
        .expect("a deploy step");
    assert!(step["run"]
        .as_str()
        .expect("run")
        .contains("aws cloudformation deploy"));
    let stacks: Vec<&str> = step["env"]["STACKS"]
        .as_str()
        .expect("stacks")
        .lines()
        .collect();
    assert_eq!(stacks.len(), templates.len(), "{stacks:?}");
    for (image, _) in &templates {
        let readme = contents(&rendered, &format!("cloudformation/{image}/README.md"));
        let line = stacks
            .iter()
            .find(|l| l.ends_with(&format!(" rendered/cloudformation/{image}")))
            .unwrap_or_else(|| panic!("{image} is not deployed: {stacks:?}"));
        let stack = line.split_once(' ').expect("stack folder").0;
        assert!(
            readme.contains(&format!("--stack-name {stack} ")),
            "{stack}"
        );
    }
    let golden_last = stacks
        .iter()
        .rposition(|l| l.contains("/golden-"))
        .expect("golden stacks");
    let customized_first = stacks
        .iter()
        .position(|l| !l.contains("/golden-"))
        .expect("customized stacks");
    assert!(golden_last < customized_first, "{stacks:?}");
    assert!(!contents(&rendered, ".github/workflows/deploy-infra.yml").contains("terraform"));
    assert!(
        rendered.notes.iter().any(|n| n
            .message
            .starts_with("The workflows target the CloudFormation stacks")),
        "{:?}",
        rendered.notes
    );
}

#[test]
fn with_terraform_the_workflows_use_its_default_names() {
    let project = terraform_seed("");
    let rendered = render_all(project.path());
    let created = terraform_names(&rendered, "aws_ecr_repository", "name");
    let pushed = workflow_repositories(&rendered);
    assert!(
        pushed.is_subset(&created),
        "pushed {pushed:?}, created {created:?}"
    );
    assert!(pushed
        .iter()
        .all(|r| r.starts_with("docker-image-4codebuild-tf/")));
    let pipelines = terraform_names(&rendered, "aws_imagebuilder_image_pipeline", "name");
    for entry in ami_entries(&rendered) {
        let pipeline = entry["pipeline"].as_str().expect("pipeline");
        assert!(
            pipelines.contains(pipeline),
            "{pipeline} not in {pipelines:?}"
        );
        let image = entry["image"].as_str().expect("image");
        let file = contents(&rendered, &format!("terraform/imagebuilder-{image}.tf"));
        let parameter = hcl_attribute(file, "ssm_parameter_configuration {", "parameter_name")
            .expect("a parameter");
        assert_eq!(entry["parameter"], with_defaults(&rendered, &parameter));
    }
    // The roles default to the ones Terraform creates, in the registry's account.
    let build_role = with_defaults(
        &rendered,
        &hcl_attribute(
            contents(&rendered, "terraform/iam.tf"),
            "resource \"aws_iam_role\" \"github_build\" {",
            "name",
        )
        .expect("build role"),
    );
    let deploy_role = hcl_attribute(
        contents(&rendered, "terraform/bootstrap/main.tf"),
        "resource \"aws_iam_role\" \"github_deploy\" {",
        "name",
    )
    .expect("deploy role");
    let roles = roles(&rendered);
    assert!(!roles.is_empty());
    for role in &roles {
        let expected = if role.contains("AWS_DEPLOY_ROLE_ARN") {
            format!("${{{{ vars.AWS_DEPLOY_ROLE_ARN || 'arn:aws:iam::123456789012:role/{deploy_role}' }}}}")
        } else {
            format!("${{{{ vars.AWS_BUILD_ROLE_ARN || 'arn:aws:iam::123456789012:role/{build_role}' }}}}")
        };
        assert_eq!(role, &expected);
    }
    let deploy = workflow(&rendered, "deploy-infra.yml");
    assert_eq!(
        deploy["jobs"]["terraform"]["defaults"]["run"]["working-directory"],
        "rendered/terraform"
    );
    assert!(!contents(&rendered, ".github/workflows/deploy-infra.yml").contains("cloudformation"));
    assert!(
        rendered.notes.iter().any(|n| n
            .message
            .starts_with("The workflows target the Terraform configuration")
            && n.message.contains("docker-image-4codebuild-tf/<image>")),
        "{:?}",
        rendered.notes
    );
}

#[test]
fn build_jobs_run_on_the_codebuild_runner_terraform_creates() {
    let project = terraform_seed("ci:\n  runner: codebuild\n");
    let rendered = render_all(project.path());
    let codebuild = contents(&rendered, "terraform/codebuild.tf");
    let header = "resource \"aws_codebuild_project\" \"runner\" {";
    let runner = with_defaults(
        &rendered,
        &hcl_attribute(codebuild, header, "name").expect("runner name"),
    );
    assert_eq!(runner, "docker-image-4codebuild-tf-runner");
    assert_eq!(
        hcl_attribute(codebuild, header, "privileged_mode").as_deref(),
        Some("true")
    );
    assert!(
        codebuild.contains("pattern = \"WORKFLOW_JOB_QUEUED\""),
        "{codebuild}"
    );
    let label =
        format!("codebuild-{runner}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}");
    let golden = workflow(&rendered, "build-golden.yml");
    assert_eq!(runs_on(&golden, "container"), label);
    let docker = workflow(&rendered, "build-docker-image.yml");
    assert_eq!(runs_on(&docker, "build"), label);
    // Validation stays GitHub-hosted; so does the AMI job, which outlasts the build timeout.
    assert_eq!(runs_on(&docker, "validate"), "ubuntu-latest");
    assert_eq!(runs_on(&golden, "ami"), "ubuntu-latest");
    let validate = workflow(&rendered, "validate.yml");
    for job in ["validate", "outdated"] {
        assert_eq!(runs_on(&validate, job), "ubuntu-latest");
    }
    // actionlint skips labels holding an expression: no `.github/actionlint.yaml` is
    // needed (checkers.rs runs actionlint on this tree).
    assert!(rendered.file(".github/actionlint.yaml").is_none());
    let plain = render_all(terraform_seed("").path());
    assert_eq!(
        runs_on(&workflow(&plain, "build-golden.yml"), "container"),
        "ubuntu-latest"
    );
}

/// The error diagnostics of the project in `dir`, as `(line, column, message, hint)`.
fn errors(dir: &Path) -> Vec<(u32, u32, String, String)> {
    match validate_project(dir, "2026-01-01").expect("loads") {
        Ok(_) => Vec::new(),
        Err(invalid) => invalid
            .diagnostics
            .iter()
            .filter(|d| d.severity == imagesmith_diagnostics::Severity::Error)
            .map(|d| {
                let start = d.span.expect("a span").start;
                (
                    start.line,
                    start.column,
                    d.message.clone(),
                    d.hint.clone().unwrap_or_default(),
                )
            })
            .collect(),
    }
}

/// The 1-based line and column of `needle` in the first `context` of the project file of
/// `dir` (`needle` alone when `context` is empty).
fn position_in(dir: &Path, context: &str, needle: &str) -> (u32, u32) {
    let text = std::fs::read_to_string(dir.join("imagesmith.yaml")).expect("project file");
    let context_at = if context.is_empty() {
        0
    } else {
        text.find(context).expect("context")
    };
    let at = context_at + text[context_at..].find(needle).expect("needle");
    let line = text[..at].matches('\n').count() as u32 + 1;
    let column = (at - text[..at].rfind('\n').map_or(0, |n| n + 1)) as u32 + 1;
    (line, column)
}

fn position(dir: &Path, needle: &str) -> (u32, u32) {
    position_in(dir, "", needle)
}

#[test]
fn a_codebuild_runner_with_cloudformation_is_refused_at_the_key() {
    let project = seed_copy(|text| format!("{text}\nci:\n  runner: codebuild\n"));
    let errors = errors(project.path());
    let (line, column) = position_in(project.path(), "runner: codebuild", "codebuild");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (l, c, message, hint) = &errors[0];
    assert_eq!((*l, *c), (line, column));
    assert!(
        message.contains("CloudFormation stacks create none"),
        "{message}"
    );
    assert!(hint.contains("infrastructure: terraform"), "{hint}");
    // With Terraform the same key is accepted.
    assert!(self::errors(terraform_seed("ci:\n  runner: codebuild\n").path()).is_empty());
}

/// The seed with registry lifecycle and pull policies, and `infrastructure` as given.
fn policy_seed(extra: &str) -> tempfile::TempDir {
    let extra = extra.to_string();
    seed_copy(move |text| {
        let text = text.replace(
            "  repository_prefix: docker-image-4codebuild/\n",
            "  repository_prefix: docker-image-4codebuild/\n  lifecycle: {keep_tagged: 50, expire_untagged_days: 7}\n  pull_accounts: [\"111122223333\", \"444455556666\"]\n  pull_organization: o-abc1234567\n",
        );
        format!("{text}{extra}")
    })
}

#[test]
fn ecr_lifecycle_and_pull_policies_come_from_the_project_file() {
    let rendered = render_all(policy_seed("").path());
    let actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ];
    let mut repositories = 0;
    for (image, template) in templates(&rendered) {
        let properties = &template["Resources"]["Repository"]["Properties"];
        if properties.is_null() {
            continue;
        }
        repositories += 1;
        let text = properties["LifecyclePolicy"]["LifecyclePolicyText"]
            .as_str()
            .unwrap_or_else(|| panic!("{image}: no lifecycle policy"));
        let lifecycle: Value = serde_json::from_str(text).expect("lifecycle JSON");
        let rules = lifecycle["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0]["selection"]["tagStatus"], "untagged");
        assert_eq!(rules[0]["selection"]["countType"], "sinceImagePushed");
        assert_eq!(rules[0]["selection"]["countNumber"], 7);
        assert_eq!(rules[1]["selection"]["tagStatus"], "tagged");
        assert_eq!(rules[1]["selection"]["countType"], "imageCountMoreThan");
        assert_eq!(rules[1]["selection"]["countNumber"], 50);
        let policy = &properties["RepositoryPolicyText"];
        let statements = policy["Statement"].as_array().expect("statements");
        assert_eq!(
            statements[0]["Principal"]["AWS"],
            serde_json::json!([
                "arn:aws:iam::111122223333:root",
                "arn:aws:iam::444455556666:root"
            ])
        );
        assert_eq!(
            statements[1]["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
            "o-abc1234567"
        );
        for statement in statements {
            assert_eq!(statement["Action"], serde_json::json!(actions));
        }
    }
    assert!(repositories >= 4);
    let ecr = contents(&rendered, "terraform/ecr.tf");
    for image in ["customer-container", "golden-container-ubuntu2204"] {
        let label = image.replace('-', "_");
        assert!(
            ecr.contains(&format!(
                "resource \"aws_ecr_lifecycle_policy\" \"{label}\" {{"
            )),
            "{ecr}"
        );
        assert!(
            ecr.contains(&format!(
                "resource \"aws_ecr_repository_policy\" \"{label}\" {{"
            )),
            "{ecr}"
        );
    }
    // `terraform fmt` aligns `=`: compare with single spaces.
    let ecr = ecr.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "\"arn:aws:iam::111122223333:root\"",
        "\"aws:PrincipalOrgID\" = \"o-abc1234567\"",
        "countNumber = 50",
        "countNumber = 7",
        "\"ecr:GetDownloadUrlForLayer\"",
    ] {
        assert!(ecr.contains(needle), "{needle} not in\n{ecr}");
    }
    // Absent keys: no lifecycle policy and no cross-account policy, as before.
    let seed = render_seed();
    assert!(!contents(&seed, "terraform/ecr.tf").contains("aws_ecr_lifecycle_policy"));
    assert!(!contents(&seed, "terraform/ecr.tf").contains("aws_ecr_repository_policy"));
    for (_, template) in templates(&seed) {
        let properties = &template["Resources"]["Repository"]["Properties"];
        assert!(properties["LifecyclePolicy"].is_null());
        assert!(properties["RepositoryPolicyText"].is_null());
    }
}

#[test]
fn bad_pull_accounts_and_organizations_are_errors_at_their_value() {
    let project = seed_copy(|text| {
        text.replace(
            "  repository_prefix: docker-image-4codebuild/\n",
            "  repository_prefix: docker-image-4codebuild/\n  pull_accounts: [\"111122223333\", \"12345\"]\n  pull_organization: o-ABC\n  lifecycle: {keep_tagged: 0}\n",
        )
    });
    let errors = errors(project.path());
    let at = |needle: &str| position(project.path(), needle);
    let find = |text: &str| {
        errors
            .iter()
            .find(|(_, _, message, _)| message.contains(text))
            .unwrap_or_else(|| panic!("no error about {text}: {errors:?}"))
    };
    let account = find("`12345`");
    assert_eq!((account.0, account.1), at("\"12345\""));
    assert!(account.2.contains("12 digits"), "{account:?}");
    let organization = find("`o-ABC`");
    assert_eq!((organization.0, organization.1), at("o-ABC"));
    assert!(organization.3.contains("o-"), "{organization:?}");
    let keep = find("keep_tagged");
    assert_eq!(
        (keep.0, keep.1),
        position_in(project.path(), "keep_tagged: 0", "0")
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
}

/// Runs the deploy step of the CloudFormation `deploy-infra.yml` in the rendered tree with a
/// fake `aws` that records its arguments; returns the exit code, the output and the calls.
fn run_deploy(rendered: &Rendered, env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let deploy = workflow(rendered, "deploy-infra.yml");
    let step = deploy["jobs"]["cloudformation"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["env"]["STACKS"].is_string())
        .expect("a deploy step")
        .clone();
    // The workflows name the files below the default output folder, `rendered/`.
    let dir = tempfile::tempdir().expect("temp dir");
    for file in &rendered.files {
        let path = dir.path().join("rendered").join(&file.path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &file.contents).expect("write");
    }
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let aws = bin.join("aws");
    std::fs::write(&aws, "#!/usr/bin/env bash\necho \"$*\" >> \"$CALLS\"\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let calls = dir.path().join("calls");
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(step["run"].as_str().expect("run"))
        .current_dir(dir.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("CALLS", &calls)
        .env("STACKS", step["env"]["STACKS"].as_str().expect("stacks"))
        .envs(env.iter().copied())
        .output()
        .expect("bash runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (
        output.status.code(),
        said,
        std::fs::read_to_string(&calls).unwrap_or_default(),
    )
}

#[test]
fn the_cloudformation_deploy_makes_change_sets_on_pull_requests_and_deploys_on_main() {
    if std::process::Command::new("jq")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: `jq` is not installed (GitHub-hosted runners have it)");
        return;
    }
    let rendered = render_seed();
    let bucket = [
        ("EXECUTE", "false"),
        ("TEMPLATE_BUCKET", "templates-bucket"),
    ];
    let (code, said, calls) = run_deploy(&rendered, &bucket);
    assert_eq!(code, Some(0), "{said}");
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), templates(&rendered).len(), "{calls:?}");
    for call in &calls {
        assert!(
            call.starts_with("cloudformation deploy --stack-name "),
            "{call}"
        );
        assert!(call.contains(" --no-execute-changeset"), "{call}");
        assert!(call.contains(" --s3-bucket templates-bucket "), "{call}");
        assert!(
            call.contains("CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"),
            "{call}"
        );
        assert!(call.contains(" PipelineStatus=ENABLED"), "{call}");
    }
    assert!(calls[0].contains("--stack-name docker-image-4codebuild-golden-"));
    let (code, said, calls) = run_deploy(
        &rendered,
        &[("EXECUTE", "true"), ("TEMPLATE_BUCKET", "templates-bucket")],
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(!calls.contains("--no-execute-changeset"), "{calls}");
    // A missing parameters file fails the step.
    let mut broken = render_seed();
    broken
        .files
        .retain(|f| f.path != "cloudformation/tooling-ami/parameters.json");
    let (code, said, _) = run_deploy(&broken, &bucket);
    assert_ne!(code, Some(0), "{said}");
    // A template over the inline limit without a bucket fails naming the variable.
    let (code, said, _) = run_deploy(&rendered, &[("EXECUTE", "false"), ("TEMPLATE_BUCKET", "")]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("CLOUDFORMATION_TEMPLATE_BUCKET"), "{said}");
}

/// A template over CloudFormation's 51,200-byte inline limit cannot be passed with
/// `--template-body`: its README uploads it to S3 and creates the stack from the URL.
#[test]
fn each_readme_deploys_its_template_the_way_cloudformation_accepts_its_size() {
    let rendered = render_seed();
    let mut seen = (0, 0);
    for (image, _) in templates(&rendered) {
        let size = contents(&rendered, &format!("cloudformation/{image}/template.yaml")).len();
        let readme = contents(&rendered, &format!("cloudformation/{image}/README.md"));
        if size > 51_200 {
            seen.0 += 1;
            assert!(!readme.contains("--template-body"), "{image}: {size} bytes");
            assert!(
                readme.contains("aws s3 cp template.yaml \"s3://$TEMPLATE_BUCKET/")
                    && readme.contains("--template-url \"https://$TEMPLATE_BUCKET.s3."),
                "{image}: {size} bytes\n{readme}"
            );
        } else {
            seen.1 += 1;
            assert!(
                readme.contains("--template-body file://template.yaml"),
                "{image}"
            );
            assert!(!readme.contains("--template-url"), "{image}");
        }
    }
    assert!(seen.0 > 0 && seen.1 > 0, "both kinds are covered: {seen:?}");
}

/// The failed-build topic takes messages only from the project's own EventBridge rule: the
/// policy names the rule in an `aws:SourceArn` condition (no confused deputy).
#[test]
fn only_the_projects_rule_may_publish_failed_builds() {
    let rendered = render_seed();
    let mut checked = 0;
    for (image, template) in templates(&rendered) {
        let statement = &template["Resources"]["NotificationTopicPolicy"]["Properties"]
            ["PolicyDocument"]["Statement"][0];
        assert_eq!(
            statement["Condition"]["ArnEquals"]["aws:SourceArn"],
            serde_json::json!({ "Fn::GetAtt": ["FailedBuildRule", "Arn"] }),
            "{image}: {statement}"
        );
        checked += 1;
    }
    assert!(checked > 0);
    let imagebuilder = contents(&rendered, "terraform/imagebuilder.tf");
    let start = imagebuilder
        .find("resource \"aws_sns_topic_policy\"")
        .expect("a topic policy");
    let block = &imagebuilder[start..start + imagebuilder[start..].find("\n}\n").unwrap()];
    assert!(
        block.contains("\"aws:SourceArn\" = aws_cloudwatch_event_rule.failed_builds.arn"),
        "{block}"
    );
}
