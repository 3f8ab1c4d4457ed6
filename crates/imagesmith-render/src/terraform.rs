//! Terraform for the seed's infrastructure and the Image Builder pipelines.
//!
//! `terraform/bootstrap/` (local state) creates what the main configuration's state and
//! deployments need first: the S3 state bucket with its DynamoDB lock table, the GitHub OIDC
//! provider and the deploy role `deploy-infra.yml` assumes. `terraform/` then holds the ECR
//! repositories (IMMUTABLE tags), the CodeBuild project used as a GitHub Actions runner, IAM,
//! and the same Image Builder resources as the CloudFormation stacks: components, recipes,
//! infrastructure, distribution, pipelines, lifecycle policies and failed-build alarms. The
//! state backend is S3 + DynamoDB (default) or Terraform Cloud/Enterprise.

use crate::awstoe::DocKind;
use crate::common::{
    header, image_builder_cron, platform, snake, start_condition, timezone, Input,
};
use crate::hcl::{from_json, raw, s, to_string, Block, Expr, Item};
use crate::pipeline::{pipeline, ParentImage, Pipeline, RecipeComponent};
use crate::{Rendered, TerraformBackend};
use imagesmith_model::ImageType;
use imagesmith_plan::Role;
use serde_json::json;
use std::collections::BTreeSet;

fn comment_header(what: &str, sources: &[String]) -> String {
    let mut out = String::new();
    for line in header(what, sources) {
        out.push_str("# ");
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
    out
}

fn project_sources(input: &Input<'_>) -> Vec<String> {
    let mut sources: Vec<String> = Vec::new();
    if let Some(project) = input.project_source() {
        sources.push(format!("{project} (project `{}`)", input.name()));
    }
    for image in &input.plan.images {
        let line = format!(
            "{} (image `{}`)",
            crate::common::clean_source(&image.source),
            image.name
        );
        if !sources.contains(&line) {
            sources.push(line);
        }
    }
    sources
}

fn file(rendered: &mut Rendered, path: &str, what: &str, sources: &[String], blocks: &[Block]) {
    let mut text = comment_header(what, sources);
    text.push_str(&to_string(blocks));
    rendered.push(path.to_string(), text);
}

fn partition() -> &'static str {
    "${data.aws_partition.current.partition}"
}

fn account() -> &'static str {
    "${data.aws_caller_identity.current.account_id}"
}

fn tags(input: &Input<'_>, image: Option<&str>) -> Expr {
    let mut entries = vec![("imagesmith:project".to_string(), s(input.name()))];
    if let Some(image) = image {
        entries.push(("imagesmith:image".to_string(), s(image)));
    }
    Expr::Map(entries)
}

fn state_names(input: &Input<'_>) -> (String, String) {
    (
        format!("{}-tfstate", input.name()),
        format!("{}-tfstate-lock", input.name()),
    )
}

/// Writes the Terraform tree.
pub(crate) fn render(input: &Input<'_>, rendered: &mut Rendered) {
    let sources = project_sources(input);
    let pipelines: Vec<Pipeline<'_>> = input
        .plan
        .images
        .iter()
        .enumerate()
        .filter_map(|(index, image)| pipeline(input, index, image).ok())
        .collect();
    versions(input, rendered, &sources);
    variables(input, rendered, &sources, &pipelines);
    ecr(input, rendered, &sources);
    codebuild(input, rendered, &sources);
    iam(input, rendered, &sources, &pipelines);
    shared_imagebuilder(input, rendered, &sources);
    for p in &pipelines {
        image_pipeline(input, rendered, p);
    }
    components(input, rendered, &pipelines);
    outputs(input, rendered, &sources, &pipelines);
    if input.options.terraform_backend == TerraformBackend::S3 {
        bootstrap(input, rendered, &sources);
    }
    readme(input, rendered, &sources);
}

/// The AWS provider both roots need: 5.100.0 is the version the render crate's tests run
/// `terraform validate` against (`tests/it/terraform.rs`); 6.0 changed resource schemas, so it
/// is kept out until the tree is validated against it.
fn required_providers() -> Block {
    Block::new("required_providers")
        .comment("5.100 is the version `terraform validate` checks; 6.x changed resource schemas.")
        .attr(
            "aws",
            Expr::Map(vec![
                ("source".to_string(), s("hashicorp/aws")),
                ("version".to_string(), s(">= 5.100.0, < 6.0.0")),
            ]),
        )
}

/// `${var.name_prefix}-<suffix>`: every name the main root gives a resource starts with the
/// stack's prefix, so it can live next to the CloudFormation stacks (which use the project's
/// names) in one account.
fn prefixed(suffix: &str) -> Expr {
    Expr::Template(format!("${{var.name_prefix}}-{suffix}"))
}

/// The default `name_prefix`: the project's name with `-tf`.
fn default_prefix(input: &Input<'_>) -> String {
    crate::common::terraform_prefix(input)
}

/// The SSM parameter a golden AMI's distribution writes its newest AMI id to, below
/// `/imagebuilder/` and the stack's prefix: Image Builder's service-linked role may write
/// only `parameter/imagebuilder/*` (see `common::golden_ami_parameter_below`).
fn golden_ami_parameter(p: &Pipeline<'_>) -> Expr {
    Expr::Template(crate::common::golden_ami_parameter_below(
        "${var.name_prefix}",
        p.image,
    ))
}

/// The Image Builder name of a pipeline's recipe, pipeline and images below the prefix.
fn image_suffix(p: &Pipeline<'_>) -> String {
    p.image.name.to_ascii_lowercase()
}

/// `lifecycle { create_before_destroy = true }` for Image Builder resources that are replaced
/// rather than updated: the pipeline moves to the new resource before the old one is deleted
/// (otherwise the delete fails with ResourceDependencyException while the pipeline still
/// points at it, hashicorp/terraform-provider-aws#39985).
fn create_before_destroy() -> Block {
    Block::new("lifecycle").attr("create_before_destroy", Expr::Bool(true))
}

fn versions(input: &Input<'_>, rendered: &mut Rendered, sources: &[String]) {
    let (bucket, table) = state_names(input);
    let backend = match &input.options.terraform_backend {
        TerraformBackend::S3 => Block::labelled("backend", &["s3"])
            .comment("Created by terraform/bootstrap; see README.md.")
            .attr("bucket", s(&bucket))
            .attr("key", s(format!("{}/terraform.tfstate", input.name())))
            .attr("region", s(input.region()))
            .attr("dynamodb_table", s(&table))
            .attr("encrypt", Expr::Bool(true)),
        TerraformBackend::Cloud {
            organization,
            workspace,
            hostname,
        } => {
            let mut block = Block::new("cloud");
            if organization.is_none() {
                block = block.comment("The organization comes from TF_CLOUD_ORGANIZATION.");
            }
            block
                .attr_opt("hostname", hostname.clone().map(s))
                .attr_opt("organization", organization.clone().map(s))
                .block(
                    Block::new("workspaces").attr(
                        "name",
                        s(workspace
                            .clone()
                            .unwrap_or_else(|| format!("{}-infra", input.name()))),
                    ),
                )
        }
    };
    let terraform = Block::new("terraform")
        .attr("required_version", s(">= 1.6.0"))
        .block(required_providers())
        .block(backend);
    let provider = Block::labelled("provider", &["aws"])
        .attr("region", raw("var.region"))
        .block(Block::new("default_tags").attr("tags", tags(input, None)));
    file(
        rendered,
        "terraform/versions.tf",
        "Terraform settings, state backend and AWS provider",
        sources,
        &[
            terraform,
            provider,
            Block::labelled("data", &["aws_partition", "current"]),
            Block::labelled("data", &["aws_caller_identity", "current"]),
        ],
    );
}

fn variable(name: &str, kind: &str, description: &str, default: Option<Expr>) -> Block {
    Block::labelled("variable", &[name])
        .attr("description", s(description))
        .attr("type", raw(kind))
        .attr_opt("default", default)
}

/// `name_prefix`, the same in both roots (the bootstrap scopes the deploy role to it).
fn name_prefix_variable(input: &Input<'_>) -> Block {
    variable(
        "name_prefix",
        "string",
        "Prefix of every resource name, so these resources and the CloudFormation stacks can share an account",
        Some(s(default_prefix(input))),
    )
    .block(
        Block::new("validation")
            .comment("S3 bucket prefixes (37 characters with `-logs-`) and IAM names bound the length.")
            .attr(
                "condition",
                raw("can(regex(\"^[a-z0-9][a-z0-9-]{0,29}[a-z0-9]$\", var.name_prefix))"),
            )
            .attr(
                "error_message",
                s("name_prefix must be 2 to 31 lowercase letters, digits and hyphens."),
            ),
    )
}

/// `repository_prefix`: ECR repository names are `<repository_prefix><image>`.
fn repository_prefix_variable(input: &Input<'_>) -> Block {
    variable(
        "repository_prefix",
        "string",
        "Prefix of the ECR repository names; the default keeps them apart from the CloudFormation stacks' repositories, set it to the project's registry prefix when Terraform alone owns them",
        Some(s(crate::common::terraform_repository_prefix(input))),
    )
}

fn variables(
    input: &Input<'_>,
    rendered: &mut Rendered,
    sources: &[String],
    pipelines: &[Pipeline<'_>],
) {
    let mut blocks = vec![
        variable(
            "region",
            "string",
            "The AWS region of every resource",
            Some(s(input.region())),
        ),
        name_prefix_variable(input),
        repository_prefix_variable(input),
        variable(
            "github_repository",
            "string",
            "The GitHub repository (owner/name) whose workflows may assume the build role",
            None,
        ),
        variable(
            "instance_types",
            "list(string)",
            "Instance types Image Builder builds and tests on",
            Some(Expr::List(vec![s("m5.large"), s("m5a.large")])),
        ),
        variable(
            "subnet_id",
            "string",
            "Subnet to build in; null uses the default VPC",
            Some(raw("null")),
        ),
        variable(
            "security_group_ids",
            "list(string)",
            "Security groups of the build instances (with subnet_id)",
            Some(Expr::List(Vec::new())),
        ),
        variable(
            "notification_email",
            "string",
            "Email address told about failed builds; empty subscribes nobody",
            Some(s("")),
        ),
        variable(
            "pipeline_status",
            "string",
            "ENABLED or DISABLED: whether schedules run the pipelines",
            Some(s("ENABLED")),
        ),
    ];
    if pipelines
        .iter()
        .any(|p| p.image.image_type == ImageType::Ami)
    {
        blocks.push(variable(
            "shared_account_ids",
            "list(string)",
            "AWS accounts AMIs are shared with",
            Some(Expr::List(Vec::new())),
        ));
        blocks.push(variable(
            "retained_images",
            "number",
            "How many of the newest AMIs of each recipe the lifecycle policies keep",
            Some(Expr::Num(5)),
        ));
    }
    blocks.push(variable(
        "github_token_secret_name",
        "string",
        "Secrets Manager secret holding a GitHub token the CodeBuild runner connects with (create it before the first apply, see README.md)",
        Some(s(format!("{}/github-token", default_prefix(input)))),
    ));
    blocks.push(variable(
        "runner_image",
        "string",
        "The CodeBuild image of the GitHub Actions runner project",
        Some(s("aws/codebuild/amazonlinux2-x86_64-standard:5.0")),
    ));
    file(
        rendered,
        "terraform/variables.tf",
        "Input variables",
        sources,
        &blocks,
    );
}

/// `jsonencode(<value>)`, its strings literal.
fn json_policy(value: &serde_json::Value) -> Expr {
    Expr::Call("jsonencode".to_string(), Box::new(from_json(value)))
}

fn ecr(input: &Input<'_>, rendered: &mut Rendered, sources: &[String]) {
    let lifecycle = input.ecr_lifecycle_policy();
    let pull = input.ecr_pull_policy();
    let mut blocks = Vec::new();
    for (_, image) in input.images(ImageType::Container, None) {
        blocks.push(
            Block::labelled("resource", &["aws_ecr_repository", &snake(&image.name)])
                .attr(
                    "name",
                    Expr::Template(format!("${{var.repository_prefix}}{}", image.name)),
                )
                .attr("image_tag_mutability", s("IMMUTABLE"))
                .block(
                    Block::new("image_scanning_configuration")
                        .attr("scan_on_push", Expr::Bool(true)),
                )
                .block(Block::new("encryption_configuration").attr("encryption_type", s("AES256")))
                .attr("tags", tags(input, Some(&image.name))),
        );
        let repository = raw(format!("aws_ecr_repository.{}.name", snake(&image.name)));
        if let Some(policy) = &lifecycle {
            blocks.push(
                Block::labelled(
                    "resource",
                    &["aws_ecr_lifecycle_policy", &snake(&image.name)],
                )
                .comment("registry.lifecycle of imagesmith.yaml")
                .attr("repository", repository.clone())
                .attr("policy", json_policy(policy)),
            );
        }
        if let Some(policy) = &pull {
            blocks.push(
                Block::labelled(
                    "resource",
                    &["aws_ecr_repository_policy", &snake(&image.name)],
                )
                .comment("registry.pull_accounts and registry.pull_organization of imagesmith.yaml")
                .attr("repository", repository)
                .attr("policy", json_policy(policy)),
            );
        }
    }
    if blocks.is_empty() {
        return;
    }
    file(
        rendered,
        "terraform/ecr.tf",
        "ECR repositories, one per container image, with IMMUTABLE tags and scan on push",
        sources,
        &blocks,
    );
}

fn repository_arns(input: &Input<'_>) -> Vec<Expr> {
    input
        .images(ImageType::Container, None)
        .map(|(_, image)| raw(format!("aws_ecr_repository.{}.arn", snake(&image.name))))
        .collect()
}

fn policy(statements: serde_json::Value) -> Expr {
    Expr::Call(
        "jsonencode".to_string(),
        Box::new(from_json(
            &json!({ "Version": "2012-10-17", "Statement": statements }),
        )),
    )
}

/// A policy document whose `Resource` lists are Terraform expressions.
/// The statement that lets a build read its components' secrets, when there are any.
fn secrets_statement(secret_ids: &BTreeSet<&String>) -> Option<(serde_json::Value, Vec<Expr>)> {
    if secret_ids.is_empty() {
        return None;
    }
    let resources = secret_ids
        .iter()
        .map(|id| {
            Expr::Template(format!(
                "arn:{}:secretsmanager:${{var.region}}:{}:secret:{id}-*",
                partition(),
                account()
            ))
        })
        .collect();
    Some((
        json!({ "Sid": "ComponentSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"] }),
        resources,
    ))
}

fn policy_with(statements: Vec<(serde_json::Value, Vec<Expr>)>) -> Expr {
    let statements = statements
        .into_iter()
        .map(|(statement, resources)| {
            let Expr::Map(mut entries) = from_json(&statement) else {
                return from_json(&statement);
            };
            entries.push(("Resource".to_string(), Expr::List(resources)));
            Expr::Map(entries)
        })
        .collect();
    Expr::Call(
        "jsonencode".to_string(),
        Box::new(Expr::Map(vec![
            ("Version".to_string(), s("2012-10-17")),
            ("Statement".to_string(), Expr::List(statements)),
        ])),
    )
}

fn assume(service: &str) -> Expr {
    policy(json!([{
        "Effect": "Allow",
        "Principal": { "Service": service },
        "Action": "sts:AssumeRole",
    }]))
}

fn codebuild(input: &Input<'_>, rendered: &mut Rendered, sources: &[String]) {
    let name = "${var.name_prefix}-runner";
    let mut repositories = repository_arns(input);
    let role = Block::labelled("resource", &["aws_iam_role", "runner"])
        .attr("name", Expr::Template(format!("{name}-codebuild")))
        .attr(
            "description",
            s("CodeBuild project used as a GitHub Actions runner"),
        )
        .attr("assume_role_policy", assume("codebuild.amazonaws.com"));
    let mut statements = vec![
        (
            json!({
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            }),
            vec![Expr::Template(format!(
                "arn:{}:logs:${{var.region}}:{}:log-group:/aws/codebuild/{name}*",
                partition(),
                account()
            ))],
        ),
        (
            json!({ "Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"] }),
            vec![s("*")],
        ),
        (
            json!({ "Sid": "GitHubToken", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"] }),
            vec![raw("data.aws_secretsmanager_secret.github_token.arn")],
        ),
    ];
    if !repositories.is_empty() {
        statements.push((
            json!({
                "Sid": "EcrPushPull",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
                    "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload",
                    "ecr:PutImage", "ecr:UploadLayerPart",
                ],
            }),
            std::mem::take(&mut repositories),
        ));
    }
    let role_policy = Block::labelled("resource", &["aws_iam_role_policy", "runner"])
        .attr("name", s("runner"))
        .attr("role", raw("aws_iam_role.runner.id"))
        .attr("policy", policy_with(statements));
    let project = Block::labelled("resource", &["aws_codebuild_project", "runner"])
        .attr("name", Expr::Template(name.to_string()))
        .attr(
            "description",
            s("GitHub Actions runner: jobs with `runs-on: codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}` run here"),
        )
        .attr("service_role", raw("aws_iam_role.runner.arn"))
        .attr("build_timeout", Expr::Num(120))
        .block(Block::new("artifacts").attr("type", s("NO_ARTIFACTS")))
        .block(
            Block::new("environment")
                .attr("compute_type", s("BUILD_GENERAL1_MEDIUM"))
                .attr("image", raw("var.runner_image"))
                .attr("type", s("LINUX_CONTAINER"))
                .attr("image_pull_credentials_type", s("CODEBUILD"))
                .comment("Docker builds need a privileged container.")
                .attr("privileged_mode", Expr::Bool(true)),
        )
        .block(
            Block::new("source")
                .attr("type", s("GITHUB"))
                .attr(
                    "location",
                    Expr::Template("https://github.com/${var.github_repository}.git".to_string()),
                )
                .attr("git_clone_depth", Expr::Num(1)),
        )
        .block(
            Block::new("logs_config").block(
                Block::new("cloudwatch_logs")
                    .attr("group_name", Expr::Template(format!("/aws/codebuild/{name}"))),
            ),
        )
        .comment("CodeBuild refuses a GITHUB source before the account has a credential.")
        .attr(
            "depends_on",
            Expr::List(vec![raw("aws_codebuild_source_credential.github")]),
        );
    let secret = Block::labelled("data", &["aws_secretsmanager_secret", "github_token"])
        .comment("Created once before the first apply (README.md); Terraform reads only its ARN.")
        .attr("name", raw("var.github_token_secret_name"));
    let credential = Block::labelled("resource", &["aws_codebuild_source_credential", "github"])
        .comment("CodeBuild reaches GitHub with the token in Secrets Manager. A CodeConnections")
        .comment("connection would need someone to finish its handshake in the console before the")
        .comment(
            "webhook can be created; with SECRETS_MANAGER an apply runs unattended and the token",
        )
        .comment("itself never enters Terraform variables or state. An account and region hold one")
        .comment("GitHub credential: this replaces one imported by hand.")
        .attr("auth_type", s("SECRETS_MANAGER"))
        .attr("server_type", s("GITHUB"))
        .attr(
            "token",
            raw("data.aws_secretsmanager_secret.github_token.arn"),
        );
    let webhook = Block::labelled("resource", &["aws_codebuild_webhook", "runner"])
        .attr("project_name", raw("aws_codebuild_project.runner.name"))
        .attr("build_type", s("BUILD"))
        .block(
            Block::new("filter_group").block(
                Block::new("filter")
                    .attr("type", s("EVENT"))
                    .attr("pattern", s("WORKFLOW_JOB_QUEUED")),
            ),
        )
        .attr(
            "depends_on",
            Expr::List(vec![raw("aws_codebuild_source_credential.github")]),
        );
    file(
        rendered,
        "terraform/codebuild.tf",
        "CodeBuild project used as a GitHub Actions runner",
        sources,
        &[secret, credential, role, role_policy, project, webhook],
    );
}

fn iam(input: &Input<'_>, rendered: &mut Rendered, sources: &[String], pipelines: &[Pipeline<'_>]) {
    let name = "${var.name_prefix}";
    let mut blocks = vec![
        Block::labelled("resource", &["aws_iam_role", "image_builder_instance"])
            .attr(
                "name",
                Expr::Template(format!("{name}-imagebuilder-instance")),
            )
            .attr("path", s("/executionServiceEC2Role/"))
            .attr("description", s("Image Builder build and test instances"))
            .attr("assume_role_policy", assume("ec2.amazonaws.com")),
    ];
    for (label, managed) in [
        ("ssm", "AmazonSSMManagedInstanceCore"),
        ("image_builder", "EC2InstanceProfileForImageBuilder"),
        (
            "image_builder_ecr",
            "EC2InstanceProfileForImageBuilderECRContainerBuilds",
        ),
    ] {
        blocks.push(
            Block::labelled("resource", &["aws_iam_role_policy_attachment", label])
                .attr("role", raw("aws_iam_role.image_builder_instance.name"))
                .attr(
                    "policy_arn",
                    Expr::Template(format!("arn:{}:iam::aws:policy/{managed}", partition())),
                ),
        );
    }
    let secret_ids: BTreeSet<&String> = pipelines.iter().flat_map(|p| &p.secret_ids).collect();
    let mut statements = vec![(
        json!({ "Sid": "BuildLogs", "Effect": "Allow", "Action": ["s3:PutObject"] }),
        vec![Expr::Template("${aws_s3_bucket.logs.arn}/*".to_string())],
    )];
    statements.extend(secrets_statement(&secret_ids));
    blocks.push(
        Block::labelled(
            "resource",
            &["aws_iam_role_policy", "image_builder_instance"],
        )
        .attr("name", s("imagesmith"))
        .attr("role", raw("aws_iam_role.image_builder_instance.id"))
        .attr("policy", policy_with(statements)),
    );
    blocks.push(
        Block::labelled("resource", &["aws_iam_instance_profile", "image_builder"])
            .attr("name", Expr::Template(format!("{name}-imagebuilder")))
            .attr("path", s("/executionServiceEC2Role/"))
            .attr("role", raw("aws_iam_role.image_builder_instance.name")),
    );
    if pipelines
        .iter()
        .any(|p| p.image.image_type == ImageType::Ami)
    {
        blocks.push(
            Block::labelled("resource", &["aws_iam_role", "lifecycle"])
                .attr(
                    "name",
                    Expr::Template(format!("{name}-imagebuilder-lifecycle")),
                )
                .attr("assume_role_policy", assume("imagebuilder.amazonaws.com")),
        );
        blocks.push(
            Block::labelled("resource", &["aws_iam_role_policy_attachment", "lifecycle"])
                .attr("role", raw("aws_iam_role.lifecycle.name"))
                .attr(
                    "policy_arn",
                    Expr::Template(format!(
                        "arn:{}:iam::aws:policy/service-role/EC2ImageBuilderLifecycleExecutionPolicy",
                        partition()
                    )),
                ),
        );
    }
    // The role build workflows assume through GitHub OIDC: push images, start pipelines, read
    // component secrets. No long-lived keys exist anywhere.
    let mut build_statements = vec![
        (
            json!({ "Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"] }),
            vec![s("*")],
        ),
        (
            json!({
                "Sid": "StartPipelines",
                "Effect": "Allow",
                "Action": ["imagebuilder:StartImagePipelineExecution", "imagebuilder:GetImagePipeline"],
            }),
            vec![Expr::Template(format!(
                "arn:{}:imagebuilder:${{var.region}}:{}:image-pipeline/{name}-*",
                partition(),
                account()
            ))],
        ),
    ];
    let repositories = repository_arns(input);
    if !repositories.is_empty() {
        build_statements.push((
            json!({
                "Sid": "EcrPushPull",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
                    "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload",
                    "ecr:PutImage", "ecr:UploadLayerPart",
                ],
            }),
            repositories,
        ));
    }
    build_statements.extend(secrets_statement(&secret_ids));
    blocks.push(
        Block::labelled("data", &["aws_iam_openid_connect_provider", "github"])
            .comment("Created by terraform/bootstrap.")
            .attr("url", s("https://token.actions.githubusercontent.com")),
    );
    blocks.push(
        Block::labelled("resource", &["aws_iam_role", "github_build"])
            .attr("name", Expr::Template(format!("{name}-github-build")))
            .attr(
                "description",
                s("Assumed by GitHub Actions build workflows through OIDC"),
            )
            .attr(
                "assume_role_policy",
                // Only jobs in the environments the build workflows name (which the
                // repository can limit to protected branches), not any branch or fork PR
                github_trust(
                    "data.aws_iam_openid_connect_provider.github.arn",
                    &crate::github_actions::BUILD_ENVIRONMENTS
                        .map(|name| format!("repo:${{var.github_repository}}:environment:{name}")),
                ),
            ),
    );
    blocks.push(
        Block::labelled("resource", &["aws_iam_role_policy", "github_build"])
            .attr("name", s("build"))
            .attr("role", raw("aws_iam_role.github_build.id"))
            .attr("policy", policy_with(build_statements)),
    );
    file(
        rendered,
        "terraform/iam.tf",
        "IAM: Image Builder instance role and profile, lifecycle role, GitHub Actions build role",
        sources,
        &blocks,
    );
}

/// A trust policy for GitHub's OIDC tokens of `subjects` (`repo:owner/name:…` patterns).
fn github_trust(provider_arn: &str, subjects: &[impl AsRef<str>]) -> Expr {
    Expr::Call(
        "jsonencode".to_string(),
        Box::new(Expr::Map(vec![
            ("Version".to_string(), s("2012-10-17")),
            (
                "Statement".to_string(),
                Expr::List(vec![Expr::Map(vec![
                    ("Effect".to_string(), s("Allow")),
                    (
                        "Principal".to_string(),
                        Expr::Map(vec![("Federated".to_string(), raw(provider_arn))]),
                    ),
                    ("Action".to_string(), s("sts:AssumeRoleWithWebIdentity")),
                    (
                        "Condition".to_string(),
                        Expr::Map(vec![
                            (
                                "StringEquals".to_string(),
                                Expr::Map(vec![(
                                    "token.actions.githubusercontent.com:aud".to_string(),
                                    s("sts.amazonaws.com"),
                                )]),
                            ),
                            (
                                "StringLike".to_string(),
                                Expr::Map(vec![(
                                    "token.actions.githubusercontent.com:sub".to_string(),
                                    match subjects {
                                        [one] => Expr::Template(one.as_ref().to_string()),
                                        _ => Expr::List(
                                            subjects
                                                .iter()
                                                .map(|subject| {
                                                    Expr::Template(subject.as_ref().to_string())
                                                })
                                                .collect(),
                                        ),
                                    },
                                )]),
                            ),
                        ]),
                    ),
                ])]),
            ),
        ])),
    )
}

fn shared_imagebuilder(_input: &Input<'_>, rendered: &mut Rendered, sources: &[String]) {
    let name = "${var.name_prefix}";
    let blocks = vec![
        Block::labelled("resource", &["aws_s3_bucket", "logs"])
            .attr("bucket_prefix", Expr::Template(format!("{name}-logs-")))
            .attr("force_destroy", Expr::Bool(false)),
        Block::labelled("resource", &["aws_s3_bucket_public_access_block", "logs"])
            .attr("bucket", raw("aws_s3_bucket.logs.id"))
            .attr("block_public_acls", Expr::Bool(true))
            .attr("block_public_policy", Expr::Bool(true))
            .attr("ignore_public_acls", Expr::Bool(true))
            .attr("restrict_public_buckets", Expr::Bool(true)),
        Block::labelled(
            "resource",
            &["aws_s3_bucket_server_side_encryption_configuration", "logs"],
        )
        .attr("bucket", raw("aws_s3_bucket.logs.id"))
        .block(
            Block::new("rule").block(
                Block::new("apply_server_side_encryption_by_default")
                    .attr("sse_algorithm", s("AES256")),
            ),
        ),
        Block::labelled("resource", &["aws_sns_topic", "failed_builds"]).attr(
            "name",
            Expr::Template(format!("{name}-imagebuilder-failed-builds")),
        ),
        Block::labelled("resource", &["aws_sns_topic_policy", "failed_builds"])
            .attr("arn", raw("aws_sns_topic.failed_builds.arn"))
            .attr(
                "policy",
                // Only this project's rule may publish: without `aws:SourceArn` any
                // EventBridge rule of any account could (confused deputy).
                Expr::Call(
                    "jsonencode".to_string(),
                    Box::new(Expr::Map(vec![
                        ("Version".to_string(), s("2012-10-17")),
                        (
                            "Statement".to_string(),
                            Expr::List(vec![Expr::Map(vec![
                                ("Sid".to_string(), s("EventBridgePublishesFailedBuilds")),
                                ("Effect".to_string(), s("Allow")),
                                (
                                    "Principal".to_string(),
                                    Expr::Map(vec![(
                                        "Service".to_string(),
                                        s("events.amazonaws.com"),
                                    )]),
                                ),
                                ("Action".to_string(), s("sns:Publish")),
                                (
                                    "Resource".to_string(),
                                    Expr::List(vec![raw("aws_sns_topic.failed_builds.arn")]),
                                ),
                                (
                                    "Condition".to_string(),
                                    Expr::Map(vec![(
                                        "ArnEquals".to_string(),
                                        Expr::Map(vec![(
                                            "aws:SourceArn".to_string(),
                                            raw("aws_cloudwatch_event_rule.failed_builds.arn"),
                                        )]),
                                    )]),
                                ),
                            ])]),
                        ),
                    ])),
                ),
            ),
        Block::labelled("resource", &["aws_sns_topic_subscription", "failed_builds"])
            .attr("count", raw("var.notification_email == \"\" ? 0 : 1"))
            .attr("topic_arn", raw("aws_sns_topic.failed_builds.arn"))
            .attr("protocol", s("email"))
            .attr("endpoint", raw("var.notification_email")),
        Block::labelled("resource", &["aws_cloudwatch_event_rule", "failed_builds"])
            .attr(
                "name",
                Expr::Template(format!("{name}-imagebuilder-failed-builds")),
            )
            .attr(
                "description",
                s("Failed Image Builder builds of this project"),
            )
            .attr(
                "event_pattern",
                Expr::Call(
                    "jsonencode".to_string(),
                    Box::new(Expr::Map(vec![
                        (
                            "source".to_string(),
                            Expr::List(vec![s("aws.imagebuilder")]),
                        ),
                        (
                            "detail-type".to_string(),
                            Expr::List(vec![s("EC2 Image Builder Image State Change")]),
                        ),
                        (
                            "resources".to_string(),
                            Expr::List(vec![Expr::Map(vec![(
                                "prefix".to_string(),
                                Expr::Template(format!(
                                    "arn:{}:imagebuilder:${{var.region}}:{}:image/{name}-",
                                    partition(),
                                    account()
                                )),
                            )])]),
                        ),
                        (
                            "detail".to_string(),
                            Expr::Map(vec![(
                                "state".to_string(),
                                Expr::Map(vec![(
                                    "status".to_string(),
                                    Expr::List(vec![s("FAILED")]),
                                )]),
                            )]),
                        ),
                    ])),
                ),
            ),
        Block::labelled(
            "resource",
            &["aws_cloudwatch_event_target", "failed_builds"],
        )
        .attr("rule", raw("aws_cloudwatch_event_rule.failed_builds.name"))
        .attr("target_id", s("sns"))
        .attr("arn", raw("aws_sns_topic.failed_builds.arn")),
        Block::labelled(
            "resource",
            &["aws_cloudwatch_metric_alarm", "failed_builds"],
        )
        .attr(
            "alarm_name",
            Expr::Template(format!("{name}-imagebuilder-failed-builds")),
        )
        .attr(
            "alarm_description",
            s("An Image Builder build failed; its logs are in the log bucket"),
        )
        .attr("namespace", s("AWS/Events"))
        .attr("metric_name", s("TriggeredRules"))
        .attr(
            "dimensions",
            Expr::Map(vec![(
                "RuleName".to_string(),
                raw("aws_cloudwatch_event_rule.failed_builds.name"),
            )]),
        )
        .attr("statistic", s("Sum"))
        .attr("period", Expr::Num(300))
        .attr("evaluation_periods", Expr::Num(1))
        .attr("threshold", Expr::Num(1))
        .attr("comparison_operator", s("GreaterThanOrEqualToThreshold"))
        .attr("treat_missing_data", s("notBreaching"))
        .attr(
            "alarm_actions",
            Expr::List(vec![raw("aws_sns_topic.failed_builds.arn")]),
        ),
        Block::labelled(
            "resource",
            &["aws_imagebuilder_infrastructure_configuration", "builder"],
        )
        .attr("name", Expr::Template(format!("{name}-infrastructure")))
        .attr(
            "description",
            s("Build and test instances of every pipeline"),
        )
        .attr(
            "instance_profile_name",
            raw("aws_iam_instance_profile.image_builder.name"),
        )
        .attr("instance_types", raw("var.instance_types"))
        .attr("subnet_id", raw("var.subnet_id"))
        .attr("security_group_ids", raw("var.security_group_ids"))
        .attr("terminate_instance_on_failure", Expr::Bool(true))
        .attr("sns_topic_arn", raw("aws_sns_topic.failed_builds.arn"))
        .block(
            Block::new("instance_metadata_options")
                .attr("http_tokens", s("required"))
                .attr("http_put_response_hop_limit", Expr::Num(2)),
        )
        .block(
            Block::new("logging").block(
                Block::new("s3_logs")
                    .attr("s3_bucket_name", raw("aws_s3_bucket.logs.id"))
                    .attr("s3_key_prefix", s("imagebuilder")),
            ),
        )
        .block(create_before_destroy()),
    ];
    file(
        rendered,
        "terraform/imagebuilder.tf",
        "Image Builder resources every pipeline shares: logs, infrastructure, failed-build alarm",
        sources,
        &blocks,
    );
}

fn component_label(p: &Pipeline<'_>, logical: &str) -> String {
    snake(&format!("{}_{}", p.image.name, logical))
}

fn parent_expr(input: &Input<'_>, p: &Pipeline<'_>) -> Expr {
    match &p.parent {
        ParentImage::Literal(text) => s(text),
        ParentImage::Template(text) => Expr::Template(
            text.replace("${", "$${")
                .replace("{region}", "${var.region}")
                .replace("arn:aws:", &format!("arn:{}:", partition())),
        ),
        ParentImage::Golden(name) => Expr::Template(format!(
            "arn:{}:imagebuilder:${{var.region}}:{}:image/${{var.name_prefix}}-{}/x.x.x",
            partition(),
            account(),
            name.strip_prefix(&format!("{}-", input.name().to_ascii_lowercase()))
                .unwrap_or(name)
        )),
    }
}

fn image_pipeline(input: &Input<'_>, rendered: &mut Rendered, p: &Pipeline<'_>) {
    let label = snake(&p.image.name);
    let container = p.image.image_type == ImageType::Container;
    let mut blocks = Vec::new();
    let mut recipe_components = Vec::new();
    for component in &p.components {
        match component {
            RecipeComponent::Managed { name } => {
                recipe_components.push(Item::Block(Block::new("component").attr(
                    "component_arn",
                    Expr::Template(format!(
                        "arn:{}:imagebuilder:${{var.region}}:aws:component/{name}/x.x.x",
                        partition()
                    )),
                )));
            }
            RecipeComponent::Own { doc, logical } => {
                let doc = &input.docs[*doc];
                let resource = component_label(p, logical);
                let description = match doc.kind {
                    DocKind::Component => {
                        format!("{} {}: {}", doc.component, doc.version, doc.description)
                    }
                    _ => doc.description.clone(),
                };
                blocks.push(
                    Block::labelled("resource", &["aws_imagebuilder_component", &resource])
                        .attr(
                            "name",
                            prefixed(&format!(
                                "{}-{}",
                                image_suffix(p),
                                doc.stem().replace(['_', '.'], "-")
                            )),
                        )
                        .attr("version", s(&doc.image_builder_version))
                        .attr("platform", s(platform(doc.family)))
                        .attr("description", s(description))
                        .attr(
                            "change_description",
                            s(format!(
                                "imagesmith content version {}",
                                doc.image_builder_version
                            )),
                        )
                        .attr(
                            "data",
                            Expr::Call(
                                "file".to_string(),
                                Box::new(Expr::Template(format!(
                                    "${{path.module}}/components/{}",
                                    doc.path.trim_start_matches("awstoe/")
                                ))),
                            ),
                        )
                        .attr("tags", tags(input, Some(&p.image.name)))
                        .block(create_before_destroy()),
                );
                recipe_components.push(Item::Block(Block::new("component").attr(
                    "component_arn",
                    raw(format!("aws_imagebuilder_component.{resource}.arn")),
                )));
            }
        }
    }
    let description = p
        .image
        .description
        .clone()
        .unwrap_or_else(|| format!("{} image {}", p.image.image_type.as_str(), p.image.name));
    let recipe_reference;
    if container {
        let mut recipe =
            Block::labelled("resource", &["aws_imagebuilder_container_recipe", &label])
                .attr("name", prefixed(&image_suffix(p)))
                .attr("version", s(&p.recipe_version))
                .attr("description", s(&description))
                .attr("parent_image", parent_expr(input, p))
                .attr("container_type", s("DOCKER"))
                .attr("working_directory", s("/tmp"));
        if p.platform_override {
            recipe = recipe.attr("platform_override", s(platform(p.image.os.family)));
        }
        recipe = recipe
            .attr(
                "dockerfile_template_data",
                Expr::Heredoc(p.dockerfile_template.clone().unwrap_or_default()),
            )
            .items(recipe_components)
            .block(
                Block::new("target_repository")
                    .attr(
                        "repository_name",
                        raw(format!("aws_ecr_repository.{label}.name")),
                    )
                    .attr("service", s("ECR")),
            )
            .attr("tags", tags(input, Some(&p.image.name)))
            .block(create_before_destroy());
        blocks.push(recipe);
        recipe_reference = (
            "container_recipe_arn",
            format!("aws_imagebuilder_container_recipe.{label}.arn"),
        );
        blocks.push(
            Block::labelled(
                "resource",
                &["aws_imagebuilder_distribution_configuration", &label],
            )
            .attr(
                "name",
                prefixed(&format!("{}-distribution", image_suffix(p))),
            )
            .block(
                Block::new("distribution")
                    .attr("region", raw("var.region"))
                    .block(
                        Block::new("container_distribution_configuration")
                            .attr("description", s(&description))
                            .block(
                                Block::new("target_repository")
                                    .attr(
                                        "repository_name",
                                        raw(format!("aws_ecr_repository.{label}.name")),
                                    )
                                    .attr("service", s("ECR")),
                            ),
                    ),
            )
            .attr("tags", tags(input, Some(&p.image.name)))
            .block(create_before_destroy()),
        );
    } else {
        let mut recipe = Block::labelled("resource", &["aws_imagebuilder_image_recipe", &label])
            .attr("name", prefixed(&image_suffix(p)))
            .attr("version", s(&p.recipe_version))
            .attr("description", s(&description))
            .attr("parent_image", parent_expr(input, p))
            .attr("working_directory", s("/tmp"));
        if let Some((device, size)) = &p.root_device {
            recipe = recipe.block(
                Block::new("block_device_mapping")
                    .attr("device_name", s(device))
                    .block(
                        Block::new("ebs")
                            .attr("delete_on_termination", s("true"))
                            .attr("encrypted", s("true"))
                            .attr("volume_size", Expr::Num(*size))
                            .attr("volume_type", s("gp3")),
                    ),
            );
        }
        recipe = recipe
            .items(recipe_components)
            .block(
                Block::new("systems_manager_agent")
                    .attr("uninstall_after_build", Expr::Bool(false)),
            )
            .attr("tags", tags(input, Some(&p.image.name)))
            .block(create_before_destroy());
        blocks.push(recipe);
        recipe_reference = (
            "image_recipe_arn",
            format!("aws_imagebuilder_image_recipe.{label}.arn"),
        );
        let mut regions = vec![raw("var.region")];
        for region in &input.options.distribution_regions {
            regions.push(s(region));
        }
        let mut distribution = Block::labelled(
            "resource",
            &["aws_imagebuilder_distribution_configuration", &label],
        )
        .attr(
            "name",
            prefixed(&format!("{}-distribution", image_suffix(p))),
        );
        for region in regions {
            let mut per_region = Block::new("distribution").attr("region", region);
            if p.image.role == Role::Golden {
                // Each Region's parameter names that Region's newest golden AMI.
                per_region = per_region.block(
                    Block::new("ssm_parameter_configuration")
                        .comment("Written by Image Builder's service-linked role, whose AWS managed policy")
                        .comment("AWSServiceRoleForImageBuilder allows ssm:PutParameter on parameter/imagebuilder/*")
                        .comment("only: the name is below /imagebuilder/, so no IAM of this configuration is needed.")
                        .attr("parameter_name", golden_ami_parameter(p))
                        .attr("data_type", s("aws:ec2:image")),
                );
            }
            distribution = distribution.block(
                per_region.block(
                    Block::new("ami_distribution_configuration")
                        .attr(
                            "name",
                            prefixed(&format!(
                                "{}-{{{{ imagebuilder:buildDate }}}}",
                                image_suffix(p)
                            )),
                        )
                        .attr("description", s(&description))
                        .attr(
                            "ami_tags",
                            Expr::Map(vec![
                                ("imagesmith:project".to_string(), s(input.name())),
                                ("imagesmith:image".to_string(), s(&p.image.name)),
                                (
                                    "imagesmith:recipe-version".to_string(),
                                    s(&p.recipe_version),
                                ),
                            ]),
                        )
                        .block(
                            Block::new("launch_permission")
                                .attr("user_ids", raw("var.shared_account_ids")),
                        ),
                ),
            );
        }
        blocks.push(
            distribution
                .attr("tags", tags(input, Some(&p.image.name)))
                .block(create_before_destroy()),
        );
        blocks.push(
            Block::labelled("resource", &["aws_imagebuilder_lifecycle_policy", &label])
                .attr("name", prefixed(&format!("{}-retention", image_suffix(p))))
                .attr(
                    "description",
                    s(format!("Keep the newest AMIs of {}", p.name)),
                )
                .attr("execution_role", raw("aws_iam_role.lifecycle.arn"))
                .attr("resource_type", s("AMI_IMAGE"))
                .attr("status", s("ENABLED"))
                .block(
                    Block::new("policy_detail")
                        .block(
                            Block::new("action").attr("type", s("DELETE")).block(
                                Block::new("include_resources")
                                    .attr("amis", Expr::Bool(true))
                                    .attr("snapshots", Expr::Bool(true)),
                            ),
                        )
                        .block(
                            Block::new("filter")
                                .attr("type", s("COUNT"))
                                .attr("value", raw("var.retained_images")),
                        ),
                )
                .block(
                    Block::new("resource_selection")
                        .comment(
                            "A concrete version (the provider and the API reject `x.x.x`): the",
                        )
                        .comment(
                            "current recipe's. AMIs built from earlier recipe versions are not",
                        )
                        .comment("selected and stay until deleted by hand.")
                        .block(
                            Block::new("recipe")
                                .attr(
                                    "name",
                                    raw(format!("aws_imagebuilder_image_recipe.{label}.name")),
                                )
                                .attr(
                                    "semantic_version",
                                    raw(format!("aws_imagebuilder_image_recipe.{label}.version")),
                                ),
                        ),
                )
                .attr(
                    "depends_on",
                    Expr::List(vec![raw("aws_iam_role_policy_attachment.lifecycle")]),
                ),
        );
    }
    let mut scanning =
        Block::new("image_scanning_configuration").attr("image_scanning_enabled", Expr::Bool(true));
    if container {
        scanning = scanning.block(Block::new("ecr_configuration").attr(
            "repository_name",
            raw(format!("aws_ecr_repository.{label}.name")),
        ));
    }
    blocks.push(
        Block::labelled("resource", &["aws_imagebuilder_image_pipeline", &label])
            .attr("name", prefixed(&image_suffix(p)))
            .attr("description", s(&description))
            .attr(recipe_reference.0, raw(recipe_reference.1))
            .attr(
                "infrastructure_configuration_arn",
                raw("aws_imagebuilder_infrastructure_configuration.builder.arn"),
            )
            .attr(
                "distribution_configuration_arn",
                raw(format!(
                    "aws_imagebuilder_distribution_configuration.{label}.arn"
                )),
            )
            .attr("enhanced_image_metadata_enabled", Expr::Bool(true))
            .attr("status", raw("var.pipeline_status"))
            .block(
                Block::new("schedule")
                    .attr(
                        "schedule_expression",
                        s(image_builder_cron(input.project(), p.image.role)),
                    )
                    .attr(
                        "pipeline_execution_start_condition",
                        s(start_condition(input.project(), p.image.role)),
                    )
                    .attr("timezone", s(timezone(input.project()))),
            )
            .block(
                Block::new("image_tests_configuration")
                    .attr("image_tests_enabled", Expr::Bool(true))
                    .attr("timeout_minutes", Expr::Num(90)),
            )
            .block(scanning)
            .attr("tags", tags(input, Some(&p.image.name))),
    );
    let mut text = comment_header(
        &format!(
            "Image Builder pipeline of `{}` (recipe version {})",
            p.image.name, p.recipe_version
        ),
        &input.image_sources(p.image),
    );
    text.push_str(&to_string(&blocks));
    rendered.push(format!("terraform/imagebuilder-{}.tf", p.image.name), text);
}

/// Copies of the AWSTOE documents the components read with `file()`, so the Terraform tree
/// stands alone.
fn components(input: &Input<'_>, rendered: &mut Rendered, pipelines: &[Pipeline<'_>]) {
    let mut used = BTreeSet::new();
    for p in pipelines {
        for component in &p.components {
            if let RecipeComponent::Own { doc, .. } = component {
                used.insert(*doc);
            }
        }
    }
    for index in used {
        let doc = &input.docs[index];
        rendered.push(
            format!(
                "terraform/components/{}",
                doc.path.trim_start_matches("awstoe/")
            ),
            doc.text(),
        );
    }
}

fn outputs(
    input: &Input<'_>,
    rendered: &mut Rendered,
    sources: &[String],
    pipelines: &[Pipeline<'_>],
) {
    let mut blocks = vec![
        Block::labelled("output", &["github_build_role_arn"])
            .attr(
                "description",
                s("Set as the AWS_BUILD_ROLE_ARN variable of the GitHub repository"),
            )
            .attr("value", raw("aws_iam_role.github_build.arn")),
        Block::labelled("output", &["codebuild_runner"])
            .attr(
                "description",
                s("The CodeBuild project GitHub Actions jobs can run on"),
            )
            .attr("value", raw("aws_codebuild_project.runner.name")),
    ];
    let mut repositories = Vec::new();
    let mut pipeline_arns = Vec::new();
    let mut golden_amis = Vec::new();
    let mut golden_repositories = Vec::new();
    for p in pipelines {
        let label = snake(&p.image.name);
        let golden = p.image.role == Role::Golden;
        if p.image.image_type == ImageType::Container {
            repositories.push((
                p.image.name.clone(),
                raw(format!("aws_ecr_repository.{label}.repository_url")),
            ));
            if golden {
                golden_repositories.push((
                    p.image.name.clone(),
                    raw(format!("aws_ecr_repository.{label}.repository_url")),
                ));
            }
        } else if golden {
            golden_amis.push((p.image.name.clone(), golden_ami_parameter(p)));
        }
        pipeline_arns.push((
            p.image.name.clone(),
            raw(format!("aws_imagebuilder_image_pipeline.{label}.arn")),
        ));
    }
    if !repositories.is_empty() {
        blocks.push(
            Block::labelled("output", &["repository_urls"])
                .attr("description", s("ECR repository of each container image"))
                .attr("value", Expr::Map(repositories)),
        );
    }
    if !golden_amis.is_empty() {
        blocks.push(
            Block::labelled("output", &["golden_ami_parameters"])
                .attr(
                    "description",
                    s("SSM parameter naming the newest AMI of each golden AMI image (in each distribution Region)"),
                )
                .attr("value", Expr::Map(golden_amis)),
        );
    }
    if !golden_repositories.is_empty() {
        blocks.push(
            Block::labelled("output", &["golden_repository_urls"])
                .attr(
                    "description",
                    s("ECR repository of each golden container image (`imagesmith publish` publishes the digests)"),
                )
                .attr("value", Expr::Map(golden_repositories)),
        );
    }
    blocks.push(
        Block::labelled("output", &["log_bucket"])
            .attr(
                "description",
                s("S3 bucket of the Image Builder build logs"),
            )
            .attr("value", raw("aws_s3_bucket.logs.id")),
    );
    blocks.push(
        Block::labelled("output", &["image_pipeline_arns"])
            .attr("description", s("Image Builder pipeline of each image"))
            .attr("value", Expr::Map(pipeline_arns)),
    );
    let _ = input;
    file(
        rendered,
        "terraform/outputs.tf",
        "Outputs",
        sources,
        &blocks,
    );
}

/// One policy statement with Terraform expressions as resources and an optional condition.
fn statement(sid: &str, actions: &[&str], resources: Vec<Expr>, condition: Option<Expr>) -> Expr {
    let mut entries = vec![
        ("Sid".to_string(), s(sid)),
        ("Effect".to_string(), s("Allow")),
        (
            "Action".to_string(),
            Expr::List(actions.iter().map(|a| s(*a)).collect()),
        ),
        ("Resource".to_string(), Expr::List(resources)),
    ];
    if let Some(condition) = condition {
        entries.push(("Condition".to_string(), condition));
    }
    Expr::Map(entries)
}

/// The deploy role's policy: the main root's resources, scoped by name.
fn deploy_policy() -> Expr {
    let p = partition();
    let a = account();
    let at = |text: String| Expr::Template(text);
    let ib = |kind: &str| {
        at(format!(
            "arn:{p}:imagebuilder:${{var.region}}:{a}:{kind}/${{var.name_prefix}}-*"
        ))
    };
    let roles = vec![
        at(format!("arn:{p}:iam::{a}:role/${{var.name_prefix}}-*")),
        at(format!(
            "arn:{p}:iam::{a}:role/executionServiceEC2Role/${{var.name_prefix}}-*"
        )),
    ];
    let managed: Vec<Expr> = [
        "AmazonSSMManagedInstanceCore",
        "EC2InstanceProfileForImageBuilder",
        "EC2InstanceProfileForImageBuilderECRContainerBuilds",
        "service-role/EC2ImageBuilderLifecycleExecutionPolicy",
    ]
    .iter()
    .map(|m| at(format!("arn:{p}:iam::aws:policy/{m}")))
    .collect();
    let logs_bucket = format!("arn:{p}:s3:::${{var.name_prefix}}-logs-*");
    let statements = vec![
        statement(
            "TerraformStateBucket",
            &["s3:ListBucket", "s3:GetBucketVersioning"],
            vec![raw("aws_s3_bucket.state.arn")],
            None,
        ),
        statement(
            "TerraformStateObjects",
            &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            vec![Expr::Template("${aws_s3_bucket.state.arn}/*".to_string())],
            None,
        ),
        statement(
            "TerraformStateLock",
            &["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
            vec![raw("aws_dynamodb_table.lock.arn")],
            None,
        ),
        statement(
            "ImageBuilder",
            &["imagebuilder:*"],
            [
                "component",
                "image-recipe",
                "container-recipe",
                "infrastructure-configuration",
                "distribution-configuration",
                "image-pipeline",
                "lifecycle-policy",
                "image",
            ]
            .iter()
            .map(|kind| ib(kind))
            .collect(),
            None,
        ),
        statement(
            "ImageBuilderRead",
            &["imagebuilder:Get*", "imagebuilder:List*"],
            vec![s("*")],
            None,
        ),
        statement(
            "ImageBuilderServiceLinkedRole",
            &["iam:CreateServiceLinkedRole"],
            vec![at(format!(
                "arn:{p}:iam::{a}:role/aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder"
            ))],
            Some(Expr::Map(vec![(
                "StringEquals".to_string(),
                Expr::Map(vec![("iam:AWSServiceName".to_string(), s("imagebuilder.amazonaws.com"))]),
            )])),
        ),
        statement(
            "EcrRepositories",
            &["ecr:*"],
            vec![at(format!(
                "arn:{p}:ecr:${{var.region}}:{a}:repository/${{var.repository_prefix}}*"
            ))],
            None,
        ),
        statement(
            "EcrRead",
            &["ecr:GetAuthorizationToken", "ecr:DescribeRepositories"],
            vec![s("*")],
            None,
        ),
        statement(
            "IamRoles",
            &[
                "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateRole",
                "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole",
                "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy",
                "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
            ],
            roles.clone(),
            None,
        ),
        statement(
            "IamManagedPolicies",
            &["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
            roles.clone(),
            Some(Expr::Map(vec![(
                "ArnEquals".to_string(),
                Expr::Map(vec![("iam:PolicyARN".to_string(), Expr::List(managed))]),
            )])),
        ),
        statement(
            "IamPassRole",
            &["iam:PassRole"],
            roles,
            Some(Expr::Map(vec![(
                "StringEquals".to_string(),
                Expr::Map(vec![(
                    "iam:PassedToService".to_string(),
                    Expr::List(vec![
                        s("ec2.amazonaws.com"),
                        s("imagebuilder.amazonaws.com"),
                        s("codebuild.amazonaws.com"),
                    ]),
                )]),
            )])),
        ),
        statement(
            "IamInstanceProfiles",
            &[
                "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:GetInstanceProfile",
                "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile",
                "iam:TagInstanceProfile", "iam:UntagInstanceProfile",
            ],
            vec![at(format!(
                "arn:{p}:iam::{a}:instance-profile/executionServiceEC2Role/${{var.name_prefix}}-*"
            ))],
            None,
        ),
        statement(
            "GitHubOidcProvider",
            &["iam:GetOpenIDConnectProvider"],
            vec![raw("aws_iam_openid_connect_provider.github.arn")],
            None,
        ),
        statement(
            "ListOidcProviders",
            &["iam:ListOpenIDConnectProviders"],
            vec![s("*")],
            None,
        ),
        statement(
            "LogBucket",
            &["s3:*"],
            vec![at(logs_bucket.clone()), at(format!("{logs_bucket}/*"))],
            None,
        ),
        statement(
            "CodeBuildRunner",
            &["codebuild:*"],
            vec![at(format!(
                "arn:{p}:codebuild:${{var.region}}:{a}:project/${{var.name_prefix}}-runner"
            ))],
            None,
        ),
        statement(
            "CodeBuildSourceCredential",
            &[
                "codebuild:ImportSourceCredentials",
                "codebuild:DeleteSourceCredentials",
                "codebuild:ListSourceCredentials",
            ],
            vec![s("*")],
            None,
        ),
        statement(
            "GitHubTokenSecret",
            &["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            vec![at(format!(
                "arn:{p}:secretsmanager:${{var.region}}:{a}:secret:${{var.name_prefix}}/*"
            ))],
            None,
        ),
        statement(
            "FailedBuildAlarm",
            &["sns:*", "events:*", "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms",
              "cloudwatch:TagResource", "cloudwatch:UntagResource", "cloudwatch:ListTagsForResource"],
            vec![
                at(format!("arn:{p}:sns:${{var.region}}:{a}:${{var.name_prefix}}-*")),
                at(format!("arn:{p}:events:${{var.region}}:{a}:rule/${{var.name_prefix}}-*")),
                at(format!("arn:{p}:cloudwatch:${{var.region}}:{a}:alarm:${{var.name_prefix}}-*")),
            ],
            None,
        ),
        statement(
            "SsmParameters",
            &[
                "ssm:GetParameter", "ssm:GetParameters", "ssm:PutParameter", "ssm:DeleteParameter",
                "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:ListTagsForResource",
            ],
            vec![at(format!(
                "arn:{p}:ssm:${{var.region}}:{a}:parameter/${{var.name_prefix}}/*"
            ))],
            None,
        ),
        statement(
            "PublicSsmParameters",
            &["ssm:GetParameter", "ssm:GetParameters"],
            vec![at(format!("arn:{p}:ssm:${{var.region}}::parameter/aws/service/*"))],
            None,
        ),
        statement(
            "Describe",
            &[
                "cloudwatch:DescribeAlarms", "ssm:DescribeParameters", "ec2:DescribeImages",
                "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs",
            ],
            vec![s("*")],
            None,
        ),
    ];
    Expr::Call(
        "jsonencode".to_string(),
        Box::new(Expr::Map(vec![
            ("Version".to_string(), s("2012-10-17")),
            ("Statement".to_string(), Expr::List(statements)),
        ])),
    )
}

fn bootstrap(input: &Input<'_>, rendered: &mut Rendered, sources: &[String]) {
    let (bucket, table) = state_names(input);
    let blocks = vec![
        Block::new("terraform")
            .attr("required_version", s(">= 1.6.0"))
            .block(required_providers()),
        Block::labelled("variable", &["region"])
            .attr("type", raw("string"))
            .attr("default", s(input.region())),
        Block::labelled("variable", &["github_repository"])
            .attr(
                "description",
                s("The GitHub repository (owner/name) allowed to deploy from its main branch"),
            )
            .attr("type", raw("string")),
        name_prefix_variable(input),
        repository_prefix_variable(input),
        Block::labelled("provider", &["aws"]).attr("region", raw("var.region")),
        Block::labelled("data", &["aws_partition", "current"]),
        Block::labelled("data", &["aws_caller_identity", "current"]),
        Block::labelled("resource", &["aws_s3_bucket", "state"])
            .attr("bucket", s(&bucket))
            .block(Block::new("lifecycle").attr("prevent_destroy", Expr::Bool(true))),
        Block::labelled("resource", &["aws_s3_bucket_versioning", "state"])
            .attr("bucket", raw("aws_s3_bucket.state.id"))
            .block(Block::new("versioning_configuration").attr("status", s("Enabled"))),
        Block::labelled(
            "resource",
            &[
                "aws_s3_bucket_server_side_encryption_configuration",
                "state",
            ],
        )
        .attr("bucket", raw("aws_s3_bucket.state.id"))
        .block(
            Block::new("rule").block(
                Block::new("apply_server_side_encryption_by_default")
                    .attr("sse_algorithm", s("AES256")),
            ),
        ),
        Block::labelled("resource", &["aws_s3_bucket_public_access_block", "state"])
            .attr("bucket", raw("aws_s3_bucket.state.id"))
            .attr("block_public_acls", Expr::Bool(true))
            .attr("block_public_policy", Expr::Bool(true))
            .attr("ignore_public_acls", Expr::Bool(true))
            .attr("restrict_public_buckets", Expr::Bool(true)),
        Block::labelled("resource", &["aws_dynamodb_table", "lock"])
            .attr("name", s(&table))
            .attr("billing_mode", s("PAY_PER_REQUEST"))
            .attr("hash_key", s("LockID"))
            .block(
                Block::new("attribute")
                    .attr("name", s("LockID"))
                    .attr("type", s("S")),
            )
            .block(Block::new("point_in_time_recovery").attr("enabled", Expr::Bool(true))),
        Block::labelled("resource", &["aws_iam_openid_connect_provider", "github"])
            .attr("url", s("https://token.actions.githubusercontent.com"))
            .attr("client_id_list", Expr::List(vec![s("sts.amazonaws.com")]))
            .comment("GitHub's published thumbprints; AWS no longer checks them for this provider.")
            .attr(
                "thumbprint_list",
                Expr::List(vec![
                    s("6938fd4d98bab03faadb97b34396831e3780aea1"),
                    s("1c58a3a8518e8759bf075b76b750d4f2df264fcd"),
                ]),
            ),
        Block::labelled("resource", &["aws_iam_role", "github_deploy"])
            .attr("name", s(crate::common::terraform_deploy_role(input)))
            .attr(
                "description",
                s("Assumed by deploy-infra.yml on the main branch through OIDC"),
            )
            .attr(
                "assume_role_policy",
                github_trust(
                    "aws_iam_openid_connect_provider.github.arn",
                    &["repo:${var.github_repository}:environment:production"],
                ),
            ),
        Block::labelled("resource", &["aws_iam_role_policy", "github_deploy"])
            .comment(
                "What the main root manages and nothing else: resources named with name_prefix,",
            )
            .comment("the ECR repositories below repository_prefix and this state. The role's own")
            .comment("name is outside name_prefix, so it cannot widen its own rights.")
            .attr("name", s("deploy"))
            .attr("role", raw("aws_iam_role.github_deploy.id"))
            .attr("policy", deploy_policy()),
        Block::labelled("output", &["state_bucket"]).attr("value", raw("aws_s3_bucket.state.id")),
        Block::labelled("output", &["lock_table"])
            .attr("value", raw("aws_dynamodb_table.lock.name")),
        Block::labelled("output", &["github_deploy_role_arn"])
            .attr(
                "description",
                s("Set as the AWS_DEPLOY_ROLE_ARN variable of the GitHub repository"),
            )
            .attr("value", raw("aws_iam_role.github_deploy.arn")),
    ];
    file(
        rendered,
        "terraform/bootstrap/main.tf",
        "Bootstrap (local state): Terraform state bucket, lock table, GitHub OIDC provider and deploy role",
        sources,
        &blocks,
    );
}

fn readme(input: &Input<'_>, rendered: &mut Rendered, sources: &[String]) {
    let (bucket, table) = state_names(input);
    let prefix = default_prefix(input);
    let region = input.region();
    let mut text = String::from("<!--\n");
    for line in header("README of the Terraform configuration", sources) {
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str("-->\n# Terraform\n\n");
    text.push_str(&format!(
        "Every resource is named with `name_prefix` (default `{prefix}`) and the ECR\nrepositories with `repository_prefix` (default `{prefix}/`), so this configuration\nand the CloudFormation stacks, which use the project's names, can live in one account. When Terraform alone owns the\nproject's repositories, set `repository_prefix` to the project's registry prefix. Keep both\nvalues the same in `bootstrap/` and here: the deploy role is scoped to them. The workflows use\nthis configuration's default names when `imagesmith.yaml` says `infrastructure: terraform`\n(the CloudFormation stacks' names otherwise); they do not follow other values of the two.\n\n"
    ));
    text.push_str("## Deploying from a fresh account\n\n");
    let secret_step = format!(
        "The CodeBuild runner reaches GitHub with a token kept in Secrets Manager. Create it\nbefore the main configuration's first apply, which reads it (a personal access token with the `repo` and `admin:repo_hook` scopes, or a fine-grained token of the\nrepository with webhook and contents access). Terraform reads only the secret's ARN, so the\ntoken is in neither variables nor state:\n\n```sh\naws secretsmanager create-secret --region {region} --name {prefix}/github-token --secret-string \"$GITHUB_TOKEN\"\n```\n\nAnother name goes in `github_token_secret_name` (and must stay below `<name_prefix>/` for the\ndeploy role to read it).\n\n"
    );
    match &input.options.terraform_backend {
        TerraformBackend::S3 => {
            text.push_str(&format!(
                "1. Bootstrap the state. `bootstrap/` keeps local state (keep its `terraform.tfstate`) and\n   creates the S3 bucket `{bucket}`, the DynamoDB lock table\n   `{table}`, the GitHub OIDC provider and the deploy role:\n\n   ```sh\n   cd bootstrap\n   terraform init\n   terraform apply -var github_repository=OWNER/REPO\n   cd ..\n   ```\n\n2. The GitHub token. "
            ));
            // Indented to stay inside the numbered list.
            let indented: Vec<String> = secret_step
                .trim_end()
                .lines()
                .map(|l| {
                    if l.is_empty() {
                        String::new()
                    } else {
                        format!("   {l}")
                    }
                })
                .collect();
            text.push_str(indented.join("\n").trim_start());
            text.push_str("\n\n");
            text.push_str("3. The main configuration:\n\n   ```sh\n   terraform init\n   terraform apply -var github_repository=OWNER/REPO\n   ```\n\n4. Set the repository variables `AWS_DEPLOY_ROLE_ARN` (bootstrap output) and\n   `AWS_BUILD_ROLE_ARN` (main output) so the workflows can assume the roles; no access keys are\n   stored anywhere. From then on `deploy-infra.yml` applies this configuration from `main`.\n\n");
        }
        TerraformBackend::Cloud { .. } => {
            text.push_str("State lives in Terraform Cloud/Enterprise (`cloud` block in `versions.tf`). The GitHub\nOIDC provider is read with a data source: create it once (for example with the\n`aws_iam_openid_connect_provider` resource) before the first apply.\n\n");
            text.push_str(&secret_step);
            text.push_str("Then run `terraform login`, `terraform init` and\n`terraform apply -var github_repository=OWNER/REPO`.\n\n");
        }
    }
    text.push_str("Image Builder components read their AWSTOE documents from `components/`, copies of the\nrendered `awstoe/` documents. Component and recipe versions are derived from their content, so\nan apply after a change creates new versions next to the old ones; components, recipes and\nconfigurations are created before the ones they replace are destroyed, so the pipelines move\nover first.\n\nA customized pipeline's parent is the newest image of its golden pipeline: run the golden\npipeline once before the first customized build.\n\n");
    text.push_str(&format!(
        "## Tearing down\n\n1. Stop new builds: `terraform apply -var github_repository=OWNER/REPO -var pipeline_status=DISABLED`.\n2. Delete the images the pipelines built (recipes with images cannot be deleted):\n   `aws imagebuilder list-images --region {region} --owner Self` lists them, and\n   `aws imagebuilder delete-image --region {region} --image-build-version-arn ARN` deletes one\n   (AMIs and snapshots are deregistered separately, or left to the lifecycle policies).\n3. Empty the ECR repositories (a repository with images is not deleted):\n\n   ```sh\n   for repo in $(terraform output -json repository_urls | jq -r '.[] | sub(\"^[^/]*/\"; \"\")'); do\n     aws ecr list-images --region {region} --repository-name \"$repo\" --query 'imageIds[*]' --output json > /tmp/ids.json\n     [ \"$(jq length /tmp/ids.json)\" = 0 ] || aws ecr batch-delete-image --region {region} --repository-name \"$repo\" --image-ids file:///tmp/ids.json\n   done\n   ```\n\n   (`batch-delete-image` takes up to 100 images a call: repeat until the lists are empty.)\n4. Empty the build log bucket: `aws s3 rm \"s3://$(terraform output -raw log_bucket)\" --recursive`.\n5. `terraform destroy -var github_repository=OWNER/REPO`, then delete the GitHub token secret\n   if nothing else uses it (`aws secretsmanager delete-secret --region {region} --secret-id NAME`).\n"
    ));
    if input.options.terraform_backend == TerraformBackend::S3 {
        text.push_str(&format!(
            "6. The state bucket last, once nothing else is left in its state. It has `prevent_destroy`\n   and versioning, so it is removed by hand after the rest of the bootstrap. `terraform destroy`\n   there also deletes the GitHub OIDC provider: keep it (`terraform state rm\n   aws_iam_openid_connect_provider.github` first) when other stacks of the account use it.\n\n   ```sh\n   cd bootstrap\n   terraform state rm aws_s3_bucket_public_access_block.state aws_s3_bucket_server_side_encryption_configuration.state aws_s3_bucket_versioning.state aws_s3_bucket.state\n   terraform destroy -var github_repository=OWNER/REPO\n   aws s3api list-object-versions --bucket {bucket} --output json --query '{{Objects: [Versions, DeleteMarkers][][].{{Key: Key, VersionId: VersionId}}}}' > /tmp/versions.json\n   aws s3api delete-objects --bucket {bucket} --delete file:///tmp/versions.json\n   aws s3api delete-bucket --bucket {bucket} --region {region}\n   ```\n"
        ));
    }
    rendered.push("terraform/README.md", text);
}
