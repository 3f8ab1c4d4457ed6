//! What every target shares: the input with its derived facts, provenance headers, names
//! and content-derived versions.

use crate::awstoe::{self, Doc};
use crate::{RenderError, RenderOptions, Rendered, Target};
use imagesmith_model::{ImageType, Infrastructure, OsFamily, Project, Runner, Severity};
use imagesmith_plan::{LockedImage, LockedProject, Parent, Role};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The largest value of an Image Builder version field, 2^30 - 1.
pub const IMAGE_BUILDER_FIELD_MAX: u64 = (1 << 30) - 1;

/// An Image Builder semantic version for `content`: `MAJOR.MINOR` from the first two numbers
/// of `base` (an upstream or declared version; `0.0` when it has none), `PATCH` from the
/// first 30 bits of the SHA-256 of `content`.
///
/// ```
/// use imagesmith_render::content_version;
/// let a = content_version(Some("1.6.6"), b"document A");
/// assert!(a.starts_with("1.6."));
/// assert_eq!(a, content_version(Some("1.6.6"), b"document A"));
/// assert_ne!(a, content_version(Some("1.6.6"), b"document B"));
/// ```
pub fn content_version(base: Option<&str>, content: &[u8]) -> String {
    let (major, minor) = base.map(leading_numbers).unwrap_or((0, 0));
    let hash = Sha256::digest(content);
    let patch = u64::from(u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]))
        & IMAGE_BUILDER_FIELD_MAX;
    format!("{major}.{minor}.{patch}")
}

/// The first two numbers of a version (`1:2.9.19-1` → 2, 9; `3.10` → 3, 10; `latest` → 0, 0),
/// each clamped to Image Builder's limit.
fn leading_numbers(version: &str) -> (u64, u64) {
    // A package epoch (`1:`) says nothing about the upstream version.
    let version = version.split_once(':').map_or(version, |(_, rest)| rest);
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<u64>()
                .map_or(IMAGE_BUILDER_FIELD_MAX, |n| n.min(IMAGE_BUILDER_FIELD_MAX))
        });
    let starts_with_digit = version.starts_with(|c: char| c.is_ascii_digit());
    if !starts_with_digit {
        return (0, 0);
    }
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}

/// Scanner thresholds when the project sets none: fail on HIGH and CRITICAL.
pub(crate) const DEFAULT_FAIL_ON: Severity = Severity::High;

/// A scanner gate as the workflows apply it.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    /// Fail on this severity or worse.
    pub fail_on: Severity,
    /// Skip findings with no fixed version.
    pub ignore_unfixed: bool,
}

/// The plan with everything the targets derive from it, computed once.
pub(crate) struct Input<'a> {
    pub plan: &'a LockedProject,
    pub options: &'a RenderOptions,
    /// Every AWSTOE document, sorted by path.
    pub docs: Vec<Doc>,
    /// Image index, component index → document index.
    pub doc_of: BTreeMap<(usize, usize), usize>,
    /// Component name and OS id → (fetch secrets, delete secrets) document indexes.
    pub secret_docs: BTreeMap<(String, String), (usize, usize)>,
    /// OS id → the OS update document of golden Linux container recipes.
    pub os_update_docs: BTreeMap<String, usize>,
}

impl<'a> Input<'a> {
    pub(crate) fn new(
        plan: &'a LockedProject,
        options: &'a RenderOptions,
    ) -> Result<Input<'a>, RenderError> {
        for image in &plan.images {
            if let Parent::Golden { name } = &image.parent {
                if plan.image(name).is_none() {
                    return Err(RenderError::MissingParent {
                        image: image.name.clone(),
                        parent: name.clone(),
                    });
                }
            }
        }
        let (docs, doc_of, secret_docs, os_update_docs) = awstoe::collect(plan)?;
        Ok(Input {
            plan,
            options,
            docs,
            doc_of,
            secret_docs,
            os_update_docs,
        })
    }

    pub(crate) fn project(&self) -> Option<&Project> {
        self.plan.settings.as_ref()
    }

    /// The project name, used as the prefix of every AWS name.
    pub(crate) fn name(&self) -> &str {
        &self.plan.project
    }

    /// The project's AWS region.
    pub(crate) fn region(&self) -> String {
        self.plan.region()
    }

    /// The ECR repository name of a container image.
    pub(crate) fn repository(&self, image: &LockedImage) -> String {
        image.repository.clone()
    }

    /// The Image Builder name of an image (also its recipe's name).
    pub(crate) fn image_builder_name(&self, image: &LockedImage) -> String {
        format!("{}-{}", self.name(), image.name)
    }

    /// The stack the workflows deploy and push to (`infrastructure`, default CloudFormation).
    pub(crate) fn infrastructure(&self) -> Infrastructure {
        self.project()
            .and_then(|p| p.infrastructure)
            .unwrap_or_default()
    }

    /// Where the workflows' build jobs run (`ci.runner`, default GitHub-hosted).
    pub(crate) fn runner(&self) -> Runner {
        self.project()
            .and_then(|p| p.ci.as_ref())
            .and_then(|ci| ci.runner)
            .unwrap_or_default()
    }

    /// The ECR repository of a container image in the picked stack: the project's own name
    /// (CloudFormation), or `repository_prefix` + image with Terraform's default prefix.
    pub(crate) fn stack_repository(&self, image: &LockedImage) -> String {
        match self.infrastructure() {
            Infrastructure::Cloudformation => self.repository(image),
            Infrastructure::Terraform => {
                format!("{}{}", terraform_repository_prefix(self), image.name)
            }
        }
    }

    /// The Image Builder pipeline of an image in the picked stack.
    pub(crate) fn stack_pipeline(&self, image: &LockedImage) -> String {
        match self.infrastructure() {
            Infrastructure::Cloudformation => self.image_builder_name(image).to_ascii_lowercase(),
            Infrastructure::Terraform => format!(
                "{}-{}",
                terraform_prefix(self),
                image.name.to_ascii_lowercase()
            ),
        }
    }

    /// The SSM parameter naming an image's newest golden AMI in the picked stack.
    pub(crate) fn stack_ami_parameter(&self, image: &LockedImage) -> String {
        match self.infrastructure() {
            Infrastructure::Cloudformation => golden_ami_parameter(self, image),
            Infrastructure::Terraform => golden_ami_parameter_below(&terraform_prefix(self), image),
        }
    }

    /// The CodeBuild project the picked stack creates as a GitHub Actions runner, if any.
    pub(crate) fn stack_runner_project(&self) -> Option<String> {
        match self.infrastructure() {
            Infrastructure::Cloudformation => None,
            Infrastructure::Terraform => Some(terraform_runner_project(self)),
        }
    }

    /// The IAM role the build workflows assume, by name, when the picked stack creates one
    /// (Terraform's `github_build`; the CloudFormation stacks create no GitHub role).
    pub(crate) fn stack_build_role(&self) -> Option<String> {
        match self.infrastructure() {
            Infrastructure::Cloudformation => None,
            Infrastructure::Terraform => Some(format!("{}-github-build", terraform_prefix(self))),
        }
    }

    /// The IAM role `deploy-infra.yml` assumes, by name, when the picked stack creates one
    /// (Terraform's bootstrap `github_deploy`).
    pub(crate) fn stack_deploy_role(&self) -> Option<String> {
        match self.infrastructure() {
            Infrastructure::Cloudformation => None,
            Infrastructure::Terraform => Some(terraform_deploy_role(self)),
        }
    }

    /// The ARN of role `name` in the registry's account, when the project names the account.
    pub(crate) fn role_arn(&self, name: &str) -> Option<String> {
        let account = self
            .project()
            .and_then(|p| p.registry.as_ref())
            .and_then(|r| r.account_id.as_ref())?;
        Some(format!(
            "arn:{}:iam::{account}:role/{name}",
            self.partition()
        ))
    }

    /// The AWS partition of the project's region.
    pub(crate) fn partition(&self) -> &'static str {
        let region = self.region();
        if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }

    /// The ECR lifecycle policy of every repository (`registry.lifecycle`), as the policy
    /// text's JSON; `None` when the project sets none (images are kept, as before).
    pub(crate) fn ecr_lifecycle_policy(&self) -> Option<serde_json::Value> {
        let lifecycle = self
            .project()
            .and_then(|p| p.registry.as_ref())
            .and_then(|r| r.lifecycle.as_ref())?;
        let mut rules = Vec::new();
        // Untagged images first: a rule with `tagStatus: any` would have to come last, and
        // `tagged` needs a pattern (`*`: every tag).
        if let Some(days) = lifecycle.expire_untagged_days {
            rules.push(serde_json::json!({
                "rulePriority": rules.len() + 1,
                "description": format!("Expire untagged images {days} days after their push"),
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": days,
                },
                "action": { "type": "expire" },
            }));
        }
        if let Some(count) = lifecycle.keep_tagged {
            rules.push(serde_json::json!({
                "rulePriority": rules.len() + 1,
                "description": format!("Keep the newest {count} tagged images"),
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": count,
                },
                "action": { "type": "expire" },
            }));
        }
        (!rules.is_empty()).then(|| serde_json::json!({ "rules": rules }))
    }

    /// The repository policy letting other accounts (`registry.pull_accounts`) and an
    /// organization's accounts (`registry.pull_organization`) pull, and nothing else; `None`
    /// when the project names neither.
    pub(crate) fn ecr_pull_policy(&self) -> Option<serde_json::Value> {
        let registry = self.project().and_then(|p| p.registry.as_ref())?;
        let actions = [
            "ecr:BatchCheckLayerAvailability",
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
        ];
        let mut statements = Vec::new();
        if !registry.pull_accounts.is_empty() {
            let principals: Vec<String> = registry
                .pull_accounts
                .iter()
                .map(|id| format!("arn:{}:iam::{id}:root", self.partition()))
                .collect();
            statements.push(serde_json::json!({
                "Sid": "PullFromAccounts",
                "Effect": "Allow",
                "Principal": { "AWS": principals },
                "Action": actions,
            }));
        }
        if let Some(organization) = &registry.pull_organization {
            statements.push(serde_json::json!({
                "Sid": "PullFromOrganization",
                "Effect": "Allow",
                "Principal": "*",
                "Action": actions,
                "Condition": { "StringEquals": { "aws:PrincipalOrgID": organization } },
            }));
        }
        (!statements.is_empty())
            .then(|| serde_json::json!({ "Version": "2012-10-17", "Statement": statements }))
    }

    /// The image's semantic version, from the lock.
    pub(crate) fn image_semver(&self, image: &LockedImage) -> String {
        image.version.clone()
    }

    /// The Trivy, Grype and Snyk gates (Snyk only when the project enables it).
    pub(crate) fn gates(&self) -> (Option<Gate>, Option<Gate>, Option<Gate>) {
        let scanners = self.project().and_then(|p| p.scanners.clone());
        let gate = |g: Option<&imagesmith_model::ScannerGate>, default: bool| match g {
            Some(g) if g.enabled => Some(Gate {
                fail_on: g.fail_on,
                ignore_unfixed: g.ignore_unfixed,
            }),
            Some(_) => None,
            None if default => Some(Gate {
                fail_on: DEFAULT_FAIL_ON,
                // As the model's default: only findings with a fix fail the gate.
                ignore_unfixed: true,
            }),
            None => None,
        };
        match scanners {
            Some(s) => (
                gate(s.trivy.as_ref(), s.trivy.is_none()),
                gate(s.grype.as_ref(), s.grype.is_none()),
                gate(s.snyk.as_ref(), false),
            ),
            None => (gate(None, true), gate(None, true), None),
        }
    }

    /// The images of a type and role, in plan order.
    pub(crate) fn images(
        &self,
        image_type: ImageType,
        role: Option<Role>,
    ) -> impl Iterator<Item = (usize, &'a LockedImage)> + '_ {
        self.plan
            .images
            .iter()
            .enumerate()
            .filter(move |(_, i)| i.image_type == image_type && role.is_none_or(|r| i.role == r))
    }

    /// The source file of a component, as shown in headers.
    pub(crate) fn component_source(&self, name: &str) -> String {
        self.plan
            .images
            .iter()
            .flat_map(|image| &image.components)
            .find(|component| component.name == name)
            .map(|component| clean_source(&component.source))
            .unwrap_or_else(|| format!("component `{name}`"))
    }

    /// The project file, when there is one.
    pub(crate) fn project_source(&self) -> Option<&'static str> {
        self.project().map(|_| imagesmith_validate::PROJECT_FILE)
    }

    /// Every input of an image: its own file, its golden parent's, its components' and the
    /// project file.
    pub(crate) fn image_sources(&self, image: &LockedImage) -> Vec<String> {
        let mut lines = vec![format!(
            "{} (image `{}`)",
            clean_source(&image.source),
            image.name
        )];
        if let Parent::Golden { name } = &image.parent {
            if let Some(parent) = self.plan.image(name) {
                lines.push(format!(
                    "{} (golden parent `{name}`)",
                    clean_source(&parent.source)
                ));
            }
        }
        for component in &image.components {
            lines.push(format!(
                "{} ({} {})",
                self.component_source(&component.name),
                component.name,
                component.version
            ));
        }
        if let Some(project) = self.project_source() {
            lines.push(format!("{project} (project `{}`)", self.name()));
        }
        lines
    }
}

/// A source path without anything machine-specific: absolute paths keep only their last two
/// parts (`specs/x.yaml`), so renders on different machines match.
pub(crate) fn clean_source(source: &str) -> String {
    let source = source.replace('\\', "/");
    let absolute = source.starts_with('/') || source.get(1..3) == Some(":/");
    if !absolute {
        return source.trim_start_matches("./").to_string();
    }
    let parts: Vec<&str> = source.split('/').filter(|p| !p.is_empty()).collect();
    parts[parts.len().saturating_sub(2)..].join("/")
}

/// The provenance header of a generated file, as plain lines (the caller adds the comment
/// syntax).
pub(crate) fn header(what: &str, sources: &[String]) -> Vec<String> {
    let mut lines = vec![
        format!("{what}"),
        "Generated by `imagesmith render`; do not edit. Change the inputs and render again."
            .to_string(),
        "Inputs:".to_string(),
    ];
    for source in sources {
        lines.push(format!("  - {source}"));
    }
    lines
}

/// A CloudFormation logical id or Terraform name fragment: `node_exporter` → `NodeExporter`.
pub(crate) fn pascal(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// A Terraform resource name: `golden-container-x` → `golden_container_x`.
pub(crate) fn snake(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The Image Builder platform of an OS family.
pub(crate) fn platform(family: OsFamily) -> &'static str {
    match family {
        OsFamily::Linux => "Linux",
        OsFamily::Windows => "Windows",
    }
}

/// The schedule when the project sets none: golden images rebuild daily (so the OS update
/// component picks up new patches), customized images monthly.
fn default_cron(role: Role) -> &'static str {
    match role {
        Role::Golden => "0 9 * * ? *",
        Role::Customized => "0 9 1 * ? *",
    }
}

/// A cron expression in Image Builder's `cron(...)` form: the project's, else the role's
/// default.
pub(crate) fn image_builder_cron(project: Option<&Project>, role: Role) -> String {
    let cron = project
        .and_then(|p| p.schedule.as_ref())
        .map(|s| s.cron.trim().to_string())
        .unwrap_or_else(|| default_cron(role).to_string());
    if cron.starts_with("cron(") {
        cron
    } else {
        format!("cron({cron})")
    }
}

/// Whether scheduled runs start only when a dependency changed. The project's
/// `schedule.start_condition` decides; without one, golden pipelines build on every
/// scheduled run (their OS packages change without any dependency changing, issue 12) and
/// customized pipelines only on dependency updates (a newer golden parent is one).
pub(crate) fn only_on_updates(project: Option<&Project>, role: Role) -> bool {
    match project
        .and_then(|p| p.schedule.as_ref())
        .and_then(|s| s.start_condition)
    {
        Some(imagesmith_model::StartCondition::Always) => false,
        Some(imagesmith_model::StartCondition::DependencyUpdates) => true,
        None => role == Role::Customized,
    }
}

/// The Image Builder `PipelineExecutionStartCondition` of a pipeline of `role`.
pub(crate) fn start_condition(project: Option<&Project>, role: Role) -> &'static str {
    if only_on_updates(project, role) {
        "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE"
    } else {
        "EXPRESSION_MATCH_ONLY"
    }
}

/// The Amazon-managed component that installs every pending OS update (`update-linux`,
/// `update-windows`), first in golden recipes.
pub(crate) fn os_update_component(family: OsFamily) -> &'static str {
    match family {
        OsFamily::Linux => "update-linux",
        OsFamily::Windows => "update-windows",
    }
}

/// The SSM parameter a golden AMI's distribution writes its newest AMI id to.
pub(crate) fn golden_ami_parameter(input: &Input<'_>, image: &LockedImage) -> String {
    golden_ami_parameter_below(input.name(), image)
}

/// The SSM parameter of a golden AMI below `prefix`, itself below `/imagebuilder/`.
///
/// Without a workflow execution role, Image Builder distributes with its service-linked role
/// `AWSServiceRoleForImageBuilder`, and the AWS managed policy of that name (AWS Managed
/// Policy Reference, "AWSServiceRoleForImageBuilder", v27) allows `ssm:GetParameter` and
/// `ssm:PutParameter` on `arn:aws:ssm:*:*:parameter/imagebuilder/*` only. A parameter there
/// needs no IAM of ours (a service-linked role cannot be given more); one anywhere else fails
/// the distribution with AccessDenied.
pub(crate) fn golden_ami_parameter_below(prefix: &str, image: &LockedImage) -> String {
    format!("/imagebuilder/{prefix}/golden/{}/ami-id", image.name)
}

/// The default `name_prefix` of the Terraform configuration: the project's name with `-tf`.
pub(crate) fn terraform_prefix(input: &Input<'_>) -> String {
    format!("{}-tf", input.name())
}

/// The default `repository_prefix` of the Terraform configuration: `<name_prefix>/`.
pub(crate) fn terraform_repository_prefix(input: &Input<'_>) -> String {
    format!("{}/", terraform_prefix(input))
}

/// The CodeBuild runner project the Terraform configuration creates, with its defaults.
pub(crate) fn terraform_runner_project(input: &Input<'_>) -> String {
    format!("{}-runner", terraform_prefix(input))
}

/// The deploy role of Terraform's bootstrap: outside `name_prefix`, so it cannot widen its
/// own rights.
pub(crate) fn terraform_deploy_role(input: &Input<'_>) -> String {
    format!("{}-github-deploy", input.name())
}

/// The stack name of an image's CloudFormation stack.
pub(crate) fn cloudformation_stack(input: &Input<'_>, image: &LockedImage) -> String {
    format!(
        "{}-imagebuilder",
        input.image_builder_name(image).to_ascii_lowercase()
    )
}

/// The schedule's time zone.
pub(crate) fn timezone(project: Option<&Project>) -> String {
    project
        .and_then(|p| p.schedule.as_ref())
        .and_then(|s| s.timezone.clone())
        .unwrap_or_else(|| "Etc/UTC".to_string())
}

/// The top-level README of the rendered tree: what is where and from what.
pub(crate) fn index(input: &Input<'_>, rendered: &mut Rendered) {
    let mut text = String::new();
    text.push_str("<!-- Generated by `imagesmith render`; do not edit. -->\n");
    text.push_str(&format!("# Rendered files of `{}`\n\n", input.name()));
    text.push_str("Generated by `imagesmith render` from the project's validated plan; every file names the\n");
    text.push_str("documents it came from in its first lines. Re-render instead of editing.\n\n");
    text.push_str("## Images\n\n| Image | Role | Type | OS | Built on | Components |\n|---|---|---|---|---|---|\n");
    for image in &input.plan.images {
        let parent = match &image.parent {
            Parent::Base { reference } => format!("`{reference}`"),
            Parent::Golden { name } => format!("`{name}`"),
        };
        let components: Vec<String> = image
            .components
            .iter()
            .map(|c| format!("{} {}", c.name, c.version))
            .collect();
        text.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            image.name,
            match image.role {
                Role::Golden => "golden",
                Role::Customized => "customized",
            },
            image.image_type.as_str(),
            image.os.id,
            parent,
            components.join(", ")
        ));
    }
    text.push_str("\n## Targets\n\n");
    let describe = |t: Target| {
        match t {
        Target::Awstoe => "`awstoe/<os>/` — one AWSTOE document per component, OS and version, parameters filled in",
        Target::Dockerfile => "`docker/<image>/` — a Dockerfile per container image and the step scripts its RUNs mount (`steps/`); the folder is the build context, for Docker (BuildKit) or buildah",
        Target::Cloudformation => "`cloudformation/<image>/` — EC2 Image Builder stacks with parameters and a README each",
        Target::Terraform => "`terraform/` — ECR, CodeBuild runner, IAM and Image Builder; `terraform/bootstrap/` — state bucket and lock table",
        Target::GithubActions => "`.github/workflows/` — validate, build-golden, build-docker-image and deploy-infra",
        Target::All => "",
    }
    };
    for target in Target::EVERY {
        if input.options.wants(target) {
            text.push_str(&format!("- {}\n", describe(target)));
        }
    }
    text.push_str("\n## Inputs\n\n");
    let mut sources: Vec<String> = Vec::new();
    for image in &input.plan.images {
        for source in input.image_sources(image) {
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
    }
    sources.sort();
    for source in sources {
        text.push_str(&format!("- {source}\n"));
    }
    rendered.push(index_path(input.options), text);
}

/// Where the index of the rendered files goes: `README.md` of the output folder, except in
/// the repository root (`--out .`), where `README.md` is the repository's own.
pub(crate) fn index_path(options: &RenderOptions) -> &'static str {
    if options.output_prefix().is_empty() {
        "RENDERED.md"
    } else {
        "README.md"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_stay_in_image_builder_range() {
        let v = content_version(Some("99999999999.3"), b"x");
        let fields: Vec<u64> = v.split('.').map(|f| f.parse().unwrap()).collect();
        assert_eq!(fields[0], IMAGE_BUILDER_FIELD_MAX);
        assert_eq!(fields[1], 3);
        assert!(fields[2] <= IMAGE_BUILDER_FIELD_MAX);
        assert!(content_version(Some("latest"), b"x").starts_with("0.0."));
        assert!(content_version(Some("1:2.9.19-1"), b"x").starts_with("2.9."));
    }

    #[test]
    fn cleans_absolute_sources() {
        assert_eq!(clean_source("/tmp/abc/specs/x.yaml"), "specs/x.yaml");
        assert_eq!(clean_source("./specs/x.yaml"), "specs/x.yaml");
        assert_eq!(
            clean_source("<built-in>/components/a.yaml"),
            "<built-in>/components/a.yaml"
        );
    }
}
