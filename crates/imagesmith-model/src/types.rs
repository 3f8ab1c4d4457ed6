use indexmap::IndexMap;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// The characters a version may contain: nothing a shell would interpret.
pub const VERSION_PATTERN: &str = r"^[0-9A-Za-z][0-9A-Za-z._+~-]{0,63}$";

/// The characters a component, OS or image name may contain.
pub const NAME_PATTERN: &str = r"^[a-z][a-z0-9_]{0,63}$";

/// A version exactly as written (`3.10` stays `3.10`).
///
/// In a spec or recipe it may also be `latest`; a missing value follows the project default.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionText(pub String);

impl VersionText {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this asks for the newest version the catalog supports.
    pub fn is_latest(&self) -> bool {
        self.0 == "latest"
    }
}

impl fmt::Display for VersionText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for VersionText {
    fn from(s: &str) -> Self {
        VersionText(s.to_string())
    }
}

impl JsonSchema for VersionText {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Editors parse `3.10` as a number; imagesmith reads it as the text `3.10`.
        json_schema!({
            "description": "A version as written (`3.10` is read as the text 3.10), or `latest`. Letters, digits and `._+~-` only.",
            "anyOf": [
                { "type": "string", "pattern": VERSION_PATTERN },
                { "type": "number" }
            ]
        })
    }
}

/// What an image is built as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageType {
    /// An OCI container image.
    Container,
    /// An Amazon Machine Image.
    Ami,
}

impl ImageType {
    /// The name as written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageType::Container => "container",
            ImageType::Ami => "ami",
        }
    }

    /// Every image type.
    pub const ALL: [ImageType; 2] = [ImageType::Container, ImageType::Ami];
}

/// The kinds of document a user writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DocumentKind {
    /// A customer spec: components on top of a golden image.
    Spec,
    /// A golden recipe: an OS base image plus pinned components.
    Recipe,
    /// A component definition: catalog metadata plus AWSTOE documents.
    Component,
    /// The project file, `imagesmith.yaml`.
    Project,
    /// An operating system of the catalog.
    Os,
}

impl DocumentKind {
    /// The name as written in `kind:`.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Spec => "spec",
            DocumentKind::Recipe => "recipe",
            DocumentKind::Component => "component",
            DocumentKind::Project => "project",
            DocumentKind::Os => "os",
        }
    }

    /// Every kind.
    pub const ALL: [DocumentKind; 5] = [
        DocumentKind::Spec,
        DocumentKind::Recipe,
        DocumentKind::Component,
        DocumentKind::Project,
        DocumentKind::Os,
    ];
}

/// A customer spec: what a team orders on top of a golden image.
///
/// ```yaml
/// image_type: container
/// base_image: golden-container-amazonlinux2023
/// components:
///   python: 3.10
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Optional document kind, `spec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DocumentKind>,
    /// The image name; defaults to the file name without extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the image is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `container` or `ami`; must match the golden base image.
    pub image_type: ImageType,
    /// The golden image to build on: `golden-{container|ami}-{os}`.
    pub base_image: String,
    /// The image's semantic version (`1.0.0`); tags are derived from it and never moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionText>,
    /// Component name to version; an empty value follows the project default.
    #[serde(default)]
    pub components: IndexMap<String, Option<VersionText>>,
    /// Component parameters: component name to parameter name to value (never secrets).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub parameters: IndexMap<String, IndexMap<String, String>>,
    /// Extra image labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// Environment variables set in the image.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environment: IndexMap<String, String>,
    /// The default user of the container (a non-root name or uid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A golden recipe: an OS base image plus pinned components.
///
/// ```yaml
/// base_image: amazonlinux:2023
/// components:
///   chrony: 4.2
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Optional document kind, `recipe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DocumentKind>,
    /// The golden image name, `golden-{container|ami}-{os}`; defaults to the file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the image is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `container` or `ami`; inferred from the base image when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_type: Option<ImageType>,
    /// The OS id (`amazonlinux2023`); inferred from the base image when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// The OS base: a container image (`amazonlinux:2023`), an AMI id, an `ssm:` parameter,
    /// or an Image Builder image ARN.
    pub base_image: String,
    /// The recipe's semantic version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionText>,
    /// Component name to version (`latest` allowed); an empty value follows the default.
    #[serde(default)]
    pub components: IndexMap<String, Option<VersionText>>,
    /// Component parameters: component name to parameter name to value (never secrets).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub parameters: IndexMap<String, IndexMap<String, String>>,
    /// Extra image labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// Environment variables set in the image.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environment: IndexMap<String, String>,
    /// The default user of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// The project file, `imagesmith.yaml`: ties recipes, specs and components together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// Optional document kind, `project`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DocumentKind>,
    /// The project name, used to name pipelines and repositories.
    pub name: String,
    /// Where images are pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<Registry>,
    /// The operating systems golden images are built for.
    #[serde(default)]
    pub os: Vec<String>,
    /// The default version of every component: the one variable to edit to upgrade every
    /// image that follows it. A value is a version, or a mapping with `default` and per-OS
    /// versions.
    #[serde(default)]
    pub defaults: IndexMap<String, DefaultVersion>,
    /// Scanner gates applied after a build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanners: Option<Scanners>,
    /// When pipelines rebuild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Where the project's documents are, relative to the project file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Paths>,
    /// URL prefix rewrites for vendor downloads (an Artifactory or Nexus mirror):
    /// `https://github.com/: https://mirror.example.com/github/`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub mirrors: IndexMap<String, String>,
    /// How strictly versions are judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// What build and validate steps may reach through the build's proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<ProjectNetwork>,
    /// Where the rendered CI workflows install imagesmith from: its git repository and a
    /// commit, built with `cargo install --locked` (the commit pins the source, the lock
    /// file's checksums every dependency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imagesmith: Option<ToolSource>,
    /// The stack the rendered workflows deploy and push to: `cloudformation` (default; the
    /// stacks of `cloudformation/<image>/`, named after the project) or `terraform` (the
    /// configuration of `terraform/`, whose names start with its default `name_prefix`
    /// `<project>-tf` and whose repositories with `repository_prefix` `<project>-tf/`).
    /// Repository, pipeline, role and SSM parameter names in the workflows, and what
    /// `deploy-infra.yml` deploys, follow the stack picked here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure: Option<Infrastructure>,
    /// How the rendered CI workflows run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<Ci>,
}

/// An infrastructure stack the rendered files describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Infrastructure {
    /// The CloudFormation stacks, one per image, named after the project.
    #[default]
    Cloudformation,
    /// The Terraform configuration, named with its default `name_prefix` (`<project>-tf`).
    Terraform,
}

impl Infrastructure {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Infrastructure::Cloudformation => "cloudformation",
            Infrastructure::Terraform => "terraform",
        }
    }
}

/// How the rendered CI workflows run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ci {
    /// Where the jobs that build, scan and push images run: `github` (default,
    /// GitHub-hosted `ubuntu-latest`) or `codebuild` (the AWS CodeBuild project the picked
    /// `infrastructure` creates as a GitHub Actions runner; only `terraform` creates one).
    /// Validation jobs stay on GitHub-hosted runners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<Runner>,
}

/// Where CI build jobs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Runner {
    /// GitHub-hosted `ubuntu-latest`.
    #[default]
    Github,
    /// The CodeBuild-hosted GitHub Actions runner of the picked stack.
    Codebuild,
}

/// A pinned source of imagesmith for CI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolSource {
    /// The git repository (`https://github.com/example/imagesmith`).
    pub git: String,
    /// The commit, 40 hex digits: a tag or branch could move.
    pub rev: String,
}

/// The network of build and validate steps: their only way out is the build's proxy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectNetwork {
    /// The hosts steps may reach (`deb.debian.org`, `*.amazonaws.com`, `mirror.example:8443`),
    /// besides the hosts of `mirrors` and the Debian mirror; any other is refused (HTTP 403)
    /// and logged. Absent: any public host. HTTPS (`CONNECT`) goes to port 443 unless an
    /// entry names another port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<String>>,
}

/// One entry of an egress allow-list: a host name or address, or `*.` and a domain (any
/// host under it, not the domain itself), with an optional `:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// Whether it was `*.domain`.
    pub wildcard: bool,
    /// The host, or the domain after `*.`, lowercase (an IPv6 address without brackets).
    pub host: String,
    /// The port, when one is named.
    pub port: Option<u16>,
}

impl HostPattern {
    /// Reads an entry; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let text = text.trim();
        if text.contains("://") || text.contains('/') {
            return Err(format!(
                "`{text}` is a URL; an egress entry is a host name (`deb.debian.org`)"
            ));
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let Some((address, after)) = rest.split_once(']') else {
                return Err(format!("`{text}` has `[` without `]`"));
            };
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').unwrap_or(after)),
            };
            (address, port)
        } else if text.matches(':').count() > 1 {
            (text, None)
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let port = match port {
            None => None,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => Some(port),
                _ => return Err(format!("`{text}` has an invalid port `{port}`")),
            },
        };
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(domain) => (true, domain),
            None => (false, host),
        };
        let host = host.to_ascii_lowercase();
        if host.parse::<std::net::IpAddr>().is_ok() && !wildcard {
            return Ok(HostPattern {
                wildcard,
                host,
                port,
            });
        }
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(format!(
                "`{text}` is not a host name (letters, digits, `-` and `.`; `*.` only as the first label)"
            ));
        }
        Ok(HostPattern {
            wildcard,
            host,
            port,
        })
    }

    /// Whether it allows `host` (any case); a pattern naming a port allows only that port.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|own| own != port) {
            return false;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if self.wildcard {
            host.strip_suffix(self.host.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
        } else {
            host == self.host
        }
    }
}

/// A default version: one for every OS, or one per OS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DefaultVersion {
    /// The same version on every OS.
    Version(VersionText),
    /// `default` plus versions for given OS ids.
    PerOs(IndexMap<String, VersionText>),
}

/// Where images are pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// `ecr` (Amazon ECR) or `oci` (any OCI distribution registry).
    #[serde(rename = "type")]
    pub kind: RegistryKind,
    /// The AWS account id (ECR), 12 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The AWS region (ECR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The registry host and optional path (OCI), e.g. `registry.example.com/platform`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Prefix of every repository name, e.g. `imagesmith/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_prefix: Option<String>,
    /// The ECR lifecycle policy of every repository. Absent: no lifecycle policy (images
    /// are kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<RegistryLifecycle>,
    /// AWS accounts (12 digits) that may pull every repository's images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_accounts: Vec<String>,
    /// An AWS Organizations id (`o-` and 10 to 32 lowercase letters or digits) whose
    /// accounts may pull every repository's images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_organization: Option<String>,
}

/// Which images an ECR lifecycle policy keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryLifecycle {
    /// How many of the newest tagged images to keep; older tagged images expire. Absent:
    /// tagged images never expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_tagged: Option<u32>,
    /// Days after which untagged images expire. Absent: untagged images never expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_untagged_days: Option<u32>,
}

/// A kind of registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegistryKind {
    /// Amazon ECR, with IMMUTABLE tags.
    Ecr,
    /// Any OCI distribution registry.
    Oci,
}

/// Vulnerability scanner gates.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scanners {
    /// Trivy gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trivy: Option<ScannerGate>,
    /// Grype gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grype: Option<ScannerGate>,
    /// Snyk gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snyk: Option<ScannerGate>,
    /// Findings accepted for a while: each names a vulnerability id, why, and until when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<Waiver>,
}

/// A finding accepted until a date: it does not fail a gate while the waiver is live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// The vulnerability id as the scanner reports it (`CVE-2024-1234`, `GHSA-...`,
    /// `SNYK-DEBIAN12-...`).
    pub id: String,
    /// Why the finding is accepted (not empty).
    pub reason: String,
    /// The last day the waiver holds, `YYYY-MM-DD`; after it the finding counts again.
    pub expires: String,
    /// Only findings in this package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Only findings in this image of the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// When a scanner fails the build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScannerGate {
    /// Whether the scanner runs.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Fail on findings of this severity or worse (default `high`).
    #[serde(default = "high")]
    pub fail_on: Severity,
    /// Ignore findings that have no fixed version yet (default `true`: only findings with a
    /// fix fail the gate; `false` counts unfixed ones too).
    #[serde(default = "yes")]
    pub ignore_unfixed: bool,
}

impl Default for ScannerGate {
    fn default() -> Self {
        ScannerGate {
            enabled: true,
            fail_on: Severity::High,
            ignore_unfixed: true,
        }
    }
}

fn yes() -> bool {
    true
}

fn high() -> Severity {
    Severity::High
}

/// A vulnerability severity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// When pipelines rebuild.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// A cron expression (Image Builder syntax, 6 fields, e.g. `cron(0 9 1 * ? *)` or
    /// `0 9 1 * ? *`), evaluated in `timezone`.
    pub cron: String,
    /// IANA time zone, default `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Rebuild only when a dependency changed (`dependency_updates`) or always (`always`).
    /// Default: `always` for golden pipelines, `dependency_updates` for customized ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_condition: Option<StartCondition>,
}

/// When a scheduled pipeline run starts a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartCondition {
    /// Only when a component or the parent image has a newer version.
    DependencyUpdates,
    /// Every time.
    Always,
}

/// Where the project's documents are.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    /// Folders of golden recipes (default `recipes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipes: Vec<String>,
    /// Folders of customer specs (default `specs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub specs: Vec<String>,
    /// Folders of the project's own components (default `components`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
}

/// How strictly versions are judged.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// What a deprecated version is: `warning` (default) or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<PolicyLevel>,
    /// What a version past its end of life is: `warning` (default) or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_of_life: Option<PolicyLevel>,
    /// What a withdrawn release (real, but its vendor downloads were pulled) is: `warning`
    /// (default) or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<PolicyLevel>,
}

/// How a policy finding is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PolicyLevel {
    /// Reported, accepted.
    Warning,
    /// Rejected.
    Error,
}

/// A component definition: catalog metadata plus one AWSTOE document per OS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// Optional document kind, `component`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DocumentKind>,
    /// The name specs use (`node_exporter`): lowercase letters, digits and `_`.
    pub name: String,
    /// One line on what it is.
    pub description: String,
    /// What it is for.
    pub category: Category,
    /// The vendor's documentation or home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// Only golden recipes may install it.
    #[serde(default)]
    pub golden_only: bool,
    /// Components that cannot be in the same image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// Capabilities it provides; two components providing the same one conflict
    /// (`time-daemon`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provides: Vec<String>,
    /// Which versions exist and how they are judged.
    pub versions: Versions,
    /// Parameters its documents take (secrets included, never as literals).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    /// How it is installed on each OS, keyed by OS id.
    pub platforms: IndexMap<String, Platform>,
}

/// What a component is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Endpoint security agents.
    Security,
    /// Metrics and logs agents.
    Observability,
    /// Time synchronisation.
    Time,
    /// Language runtimes.
    Runtime,
    /// Developer and infrastructure tools.
    Tooling,
    /// Vulnerability and code scanners.
    Scanner,
    /// Log platforms.
    Logging,
    /// Container runtimes.
    Containers,
}

/// How a component's versions are written and judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Versions {
    /// The form a version must take.
    pub syntax: VersionSyntax,
    /// The version used when neither the spec nor the project names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<VersionText>,
    /// Supported versions, newest last: exact (`1.8.2`) or a prefix pattern (`1.8.*`).
    pub supported: Vec<VersionText>,
    /// Versions that still work but should be replaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deprecated: Vec<VersionNote>,
    /// Versions past their vendor's end of life.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub end_of_life: Vec<VersionNote>,
    /// Versions that must never be installed (withdrawn or compromised releases).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<VersionNote>,
}

/// The form versions take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionSyntax {
    /// `MAJOR.MINOR.PATCH`, digits only (`1.8.2`).
    Semver,
    /// `MAJOR.MINOR` (`3.10`).
    MajorMinor,
    /// `MAJOR` (`21`).
    Major,
    /// One to four dot-separated numbers (`1.247354.0`, `4.2`).
    Dotted,
    /// A distribution package version (`1:2.9.19-1`): digits first, then `[0-9A-Za-z.+~:-]`.
    Package,
}

impl VersionSyntax {
    /// A human description with an example.
    pub fn describe(self) -> &'static str {
        match self {
            VersionSyntax::Semver => "MAJOR.MINOR.PATCH, e.g. `1.8.2`",
            VersionSyntax::MajorMinor => "MAJOR.MINOR, e.g. `3.10`",
            VersionSyntax::Major => "a major version, e.g. `21`",
            VersionSyntax::Dotted => "dot-separated numbers, e.g. `1.247354.0`",
            VersionSyntax::Package => "a package version, e.g. `2.9.19-1`",
        }
    }
}

/// A note on versions matching a pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionNote {
    /// An exact version or a prefix pattern (`3.8.*`).
    pub version: VersionText,
    /// The date it took effect, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Why, with the advisory or announcement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A parameter of a component's documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// The name used in documents as `{{ name }}`.
    pub name: String,
    /// What it is.
    pub description: String,
    /// A secret is passed to the step at run time and never written to a layer, a log or a
    /// rendered file.
    #[serde(default)]
    pub secret: bool,
    /// Whether a value must be given.
    #[serde(default)]
    pub required: bool,
    /// The value used when none is given (never for secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The environment variable a local build reads the value from (`FALCON_CLIENT_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The AWS Secrets Manager or SSM parameter name a pipeline reads it from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_secret: Option<String>,
}

/// How a component is installed on one OS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// Versions available on this OS, when narrower than `versions.supported`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<VersionText>>,
    /// The default version on this OS, when it differs from `versions.default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<VersionText>,
    /// Where the bits come from for a given version.
    pub artifact: Artifact,
    /// Limits of this OS or of containers (`falcon needs the host kernel`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The AWSTOE document that installs, validates and tests it.
    pub document: AwstoeDocument,
    /// The method used for versions `versions` does not list: the vendor's (or the de-facto)
    /// install where the OS package cannot give what is ordered (Node.js tarballs for an exact
    /// release, a newer Python than the distribution ships).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<Box<Platform>>,
}

impl Platform {
    /// Whether this method installs `version`: it lists it in `versions`, or lists none.
    pub fn serves(&self, version: &str) -> bool {
        match &self.versions {
            None => true,
            Some(patterns) => patterns.iter().any(|p| match p.as_str().strip_suffix('*') {
                Some(prefix) => version.starts_with(prefix),
                None => p.as_str() == version,
            }),
        }
    }

    /// The method installing `version`: this one when it serves it, else the first of its
    /// `otherwise` chain that does, else the last of the chain (whose `versions` then reject it).
    pub fn method_for(&self, version: &str) -> &Platform {
        let mut method = self;
        while !method.serves(version) {
            match &method.otherwise {
                Some(next) => method = next,
                None => break,
            }
        }
        method
    }
}

/// Where a component's bits come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Artifact {
    /// An OS package from the OS repositories or a vendor repository.
    Package {
        /// Package names, the first one carrying the version.
        names: Vec<String>,
        /// The version constraint given to the package manager, with `{{ version }}`
        /// (`{{ version }}*`); absent means whatever the repository holds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// A vendor repository to add first, if the OS repositories lack it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repository: Option<PackageRepository>,
    },
    /// A vendor release download, verified by checksum.
    Download {
        /// URL template with `{{ version }}` and `{{ arch }}`.
        url: String,
        /// How the download is verified.
        checksum: Checksum,
        /// How the vendor maps architectures into the URL (`x86_64: amd64`).
        #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
        arch: IndexMap<String, String>,
    },
    /// Fetched through an authenticated vendor API at build time (needs secrets).
    VendorApi {
        /// The API and what it returns.
        description: String,
        /// The secret parameters it needs.
        requires: Vec<String>,
    },
}

/// A vendor package repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageRepository {
    /// The repository URL (apt source line URL, or a `.repo` file URL for dnf).
    pub url: String,
    /// The signing key URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_url: Option<String>,
    /// The signing key fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
}

/// How a download is verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checksum {
    /// `sha256` or `sha512`.
    pub algorithm: ChecksumAlgorithm,
    /// URL template of the vendor's checksum file (`…/sha256sums.txt`) or per-file
    /// checksum (`…/opa_linux_amd64_static.sha256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Known checksums by version and architecture key (`1.8.2/amd64`), for vendors that
    /// publish none or to pin beyond the vendor's file.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub values: IndexMap<String, String>,
    /// A detached signature URL template, when the vendor signs releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_url: Option<String>,
    /// The signing key fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
}

/// A checksum algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

/// An EC2 Image Builder (AWSTOE) component document, schemaVersion 1.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwstoeDocument {
    /// The document name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Always `1.0`.
    #[serde(rename = "schemaVersion")]
    pub schema_version: String,
    /// Parameters: a list of single-key mappings, name to definition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<IndexMap<String, AwstoeParameter>>,
    /// Constants: a list of single-key mappings, name to definition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constants: Vec<IndexMap<String, AwstoeConstant>>,
    /// The phases: `build`, `validate`, `test`.
    pub phases: Vec<Phase>,
}

/// An AWSTOE parameter definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwstoeParameter {
    /// Always `string`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The default value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An AWSTOE constant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwstoeConstant {
    /// Always `string`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value.
    pub value: String,
}

/// A phase of an AWSTOE document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// `build`, `validate` or `test`.
    pub name: String,
    /// The steps, run in order.
    pub steps: Vec<Step>,
}

/// A step of a phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique within the phase; used in `{{ phase.step.outputs.stdout }}`.
    pub name: String,
    /// The action module (`ExecuteBash`, `WebDownload`, …).
    pub action: String,
    /// Seconds before the step is stopped (-1: no limit).
    #[serde(
        rename = "timeoutSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout_seconds: Option<i64>,
    /// `Abort` (default), `Continue` or `Ignore`.
    #[serde(rename = "onFailure", default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    /// How many times the step is tried.
    #[serde(
        rename = "maxAttempts",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_attempts: Option<i64>,
    /// A loop: `forEach` or `for`, with an optional `name`.
    #[serde(rename = "loop", default, skip_serializing_if = "Option::is_none")]
    pub loop_: Option<serde_json::Value>,
    /// A condition: a comparison, or `and`/`or`/`not` of them.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<serde_json::Value>,
    /// The action's inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Value>,
}

/// An operating system the catalog knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Os {
    /// Optional document kind, `os`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DocumentKind>,
    /// The id used in image names (`amazonlinux2023`).
    pub id: String,
    /// The display name.
    pub name: String,
    /// `linux` or `windows`.
    pub family: OsFamily,
    /// `supported`, or `planned` (validated, not built).
    pub status: OsStatus,
    /// The package manager.
    pub package_manager: PackageManager,
    /// Container base images for this OS, the first one the default (`amazonlinux:2023`).
    pub container_images: Vec<String>,
    /// The public SSM parameter of the latest AMI, per architecture.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub ami_ssm_parameters: IndexMap<String, String>,
    /// The Image Builder managed parent image, per architecture.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub imagebuilder_parents: IndexMap<String, String>,
    /// The Image Builder platform (`Linux`, `Windows`).
    pub imagebuilder_platform: String,
    /// End of standard support, `YYYY-MM-DD`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_of_life: Option<String>,
    /// Where the dates and facts come from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// An OS family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OsFamily {
    /// Linux.
    Linux,
    /// Windows.
    Windows,
}

impl OsFamily {
    /// The name as written (`linux`).
    pub fn as_str(self) -> &'static str {
        match self {
            OsFamily::Linux => "linux",
            OsFamily::Windows => "windows",
        }
    }
}

/// Whether imagesmith builds an OS yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OsStatus {
    /// Built and tested.
    Supported,
    /// Known, validated, not yet built.
    Planned,
}

/// A package manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    /// apt/dpkg.
    Apt,
    /// dnf/rpm.
    Dnf,
    /// Windows installers (MSI, EXE).
    Windows,
}
