//! Renderers: EC2 Image Builder pipelines (CloudFormation), Terraform, Dockerfiles, AWSTOE
//! documents and GitHub Actions workflows, all from one [`LockedProject`].
//!
//! [`render`] is pure: it reads the plan and the context it was made in, and returns the
//! files to write. The same input gives byte-identical files (maps keep the input's order or
//! are sorted, nothing reads the clock or the file system, no absolute path is written), and
//! every file starts with a comment naming the documents it was generated from — or, for the
//! JSON parameter files, which cannot hold comments, a README next to them does.
//!
//! ```
//! use imagesmith_render::{render, RenderOptions, Target};
//! //!
//! let context = Context::builtin();
//! let plan = imagesmith_plan::plan(&context, &[], &[], &[]).unwrap();
//! let rendered = render(&plan, &context, &RenderOptions::new(&[Target::All])).unwrap();
//! assert!(rendered.files.iter().any(|f| f.path == "README.md"));
//! ```
//!
//! # Versions derived from content
//!
//! Image Builder components and recipes are immutable: a `Name` + `Version` pair can be
//! created once, so a stack update that changes a component's document without changing its
//! version fails, and one that bumps a version by hand drifts from what was tested.
//! imagesmith therefore derives every Image Builder semantic version from the content it
//! names (see [`content_version`]):
//!
//! * `MAJOR.MINOR` are the first two numbers of the version the reader cares about — the
//!   component's upstream version (`terraform` 1.6.6 → `1.6`) or the image's declared version
//!   (`1.0.0` → `1.0`) — so a person can still tell what a version is about;
//! * `PATCH` is the first 30 bits of the SHA-256 of the rendered content (the AWSTOE document
//!   with its parameter defaults filled in; for a recipe, its parent, its components' names and
//!   versions, its Dockerfile template, block devices and working directory).
//!
//! Unchanged content therefore keeps its version across renders and machines, changed content
//! gets a new one, and a stack update creates the new version beside the old one instead of
//! colliding with it. Every field stays below 2^30, Image Builder's limit. The alternative, a
//! lock file of previously issued versions, would give ordered versions but makes rendering
//! depend on state that has to be committed and merged; hashing needs none. The price is that
//! `PATCH` values are not ordered, so recipes always name exact component versions (never
//! `x.x.x` for imagesmith's own components), and two different contents share a version only
//! with probability 2^-30 per `MAJOR.MINOR`.
#![deny(missing_docs)]

mod awstoe;
mod cloudformation;
mod common;
mod dockerfile;
mod github_actions;
mod hcl;
mod pipeline;
mod terraform;
mod yaml;

pub use common::{content_version, IMAGE_BUILDER_FIELD_MAX};

use imagesmith_plan::LockedProject;
use std::collections::BTreeSet;
use std::fmt;

/// What to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// EC2 Image Builder pipelines as CloudFormation templates, parameters and READMEs.
    Cloudformation,
    /// Terraform for the registry, runner, state and Image Builder resources.
    Terraform,
    /// One Dockerfile per container image.
    Dockerfile,
    /// One AWSTOE document per (component, OS, version).
    Awstoe,
    /// GitHub Actions workflows.
    GithubActions,
    /// Every target.
    All,
}

impl Target {
    /// Every concrete target, in rendering order.
    pub const EVERY: [Target; 5] = [
        Target::Awstoe,
        Target::Dockerfile,
        Target::Cloudformation,
        Target::Terraform,
        Target::GithubActions,
    ];

    /// The name as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Cloudformation => "cloudformation",
            Target::Terraform => "terraform",
            Target::Dockerfile => "dockerfile",
            Target::Awstoe => "awstoe",
            Target::GithubActions => "github-actions",
            Target::All => "all",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where Terraform keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerraformBackend {
    /// An S3 bucket with a DynamoDB lock table (created by `terraform/bootstrap`).
    S3,
    /// Terraform Cloud or Enterprise (`cloud` block).
    Cloud {
        /// The organization; `None` leaves it to `TF_CLOUD_ORGANIZATION`.
        organization: Option<String>,
        /// The workspace name.
        workspace: Option<String>,
        /// The hostname for Terraform Enterprise; `None` is app.terraform.io.
        hostname: Option<String>,
    },
}

/// How to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// The targets; [`Target::All`] means every one.
    pub targets: BTreeSet<Target>,
    /// The Terraform state backend.
    pub terraform_backend: TerraformBackend,
    /// Where the rendered tree sits relative to the repository root (`rendered`; `.` when it
    /// is the repository root itself): workflows refer to the Dockerfiles and Terraform
    /// through it (see [`RenderOptions::out_path`]).
    pub output_dir: String,
    /// Extra regions AMIs are copied to, besides the pipeline's own.
    pub distribution_regions: Vec<String>,
    /// The images the render was asked for (empty: all); the drift gate of `validate.yml`
    /// (`imagesmith render --check`) names them again, so it renders the same files.
    pub images: Vec<String>,
}

impl RenderOptions {
    /// Options for `targets` with the defaults: S3 backend, output in `rendered`.
    pub fn new(targets: &[Target]) -> RenderOptions {
        RenderOptions {
            targets: targets.iter().copied().collect(),
            terraform_backend: TerraformBackend::S3,
            output_dir: "rendered".to_string(),
            distribution_regions: Vec::new(),
            images: Vec::new(),
        }
    }

    /// The output folder as a path prefix, normalised: no `./`, no trailing `/`, and empty
    /// for the repository root (`.`).
    pub fn output_prefix(&self) -> String {
        self.output_dir
            .replace('\\', "/")
            .split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .collect::<Vec<_>>()
            .join("/")
    }

    /// `rest` (a path below the output folder) as a path from the repository root: GitHub
    /// path filters, working directories and build contexts never begin with `./` (a
    /// `./terraform/**` filter matches nothing), so the root output folder adds no prefix.
    ///
    /// ```
    /// use imagesmith_render::{RenderOptions, Target};
    /// let mut options = RenderOptions::new(&[Target::All]);
    /// assert_eq!(options.out_path("terraform/**"), "rendered/terraform/**");
    /// options.output_dir = ".".into();
    /// assert_eq!(options.out_path("terraform/**"), "terraform/**");
    /// options.output_dir = "./ci/out/".into();
    /// assert_eq!(options.out_path("docker"), "ci/out/docker");
    /// ```
    pub fn out_path(&self, rest: &str) -> String {
        let prefix = self.output_prefix();
        let rest = rest.trim_start_matches("./").trim_start_matches('/');
        match (prefix.is_empty(), rest.is_empty()) {
            (true, true) => ".".to_string(),
            (true, false) => rest.to_string(),
            (false, true) => prefix,
            (false, false) => format!("{prefix}/{rest}"),
        }
    }

    /// The `imagesmith render` command line for these options (see [`render_command`]).
    pub fn command_line(&self, extra: &[&str]) -> String {
        render_command(self, extra)
    }

    /// Whether `target` is to be rendered.
    pub fn wants(&self, target: Target) -> bool {
        self.targets.contains(&Target::All) || self.targets.contains(&target)
    }
}

/// `word` quoted for a POSIX shell (single quotes) when it holds anything but `[A-Za-z0-9._/=:@+-]`.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/=:@+-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The `imagesmith render` command that renders with `options` (same images, targets,
/// backend, regions and output folder, relative to the project root), with `extra` arguments
/// after `render`, quoted for a POSIX shell.
///
/// ```
/// use imagesmith_render::{render_command, RenderOptions, Target};
/// let mut options = RenderOptions::new(&[Target::All]);
/// options.output_dir = ".".into();
/// assert_eq!(render_command(&options, &["--check"]), "imagesmith render --check --out .");
/// ```
pub fn render_command(options: &RenderOptions, extra: &[&str]) -> String {
    let mut words: Vec<String> = vec!["imagesmith".into(), "render".into()];
    words.extend(extra.iter().map(|e| e.to_string()));
    words.push("--out".into());
    words.push(options.out_path(""));
    if !options.targets.contains(&Target::All) {
        for target in &options.targets {
            words.push("--target".into());
            words.push(target.as_str().into());
        }
    }
    if let TerraformBackend::Cloud {
        organization,
        workspace,
        hostname,
    } = &options.terraform_backend
    {
        words.push("--terraform-backend".into());
        words.push("cloud".into());
        for (flag, value) in [
            ("--terraform-cloud-organization", organization),
            ("--terraform-cloud-workspace", workspace),
            ("--terraform-cloud-hostname", hostname),
        ] {
            if let Some(value) = value {
                words.push(flag.into());
                words.push(value.clone());
            }
        }
    }
    for region in &options.distribution_regions {
        words.push("--distribution-region".into());
        words.push(region.clone());
    }
    words.extend(options.images.iter().cloned());
    words
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// The path below the output folder, with `/` separators.
    pub path: String,
    /// The text.
    pub contents: String,
}

/// Something the renderer could not express and left as a comment in a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Note {
    /// The rendered file holding the comment.
    pub file: String,
    /// What was left out and why.
    pub message: String,
}

/// The files of a render, sorted by path, and what could not be expressed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The files, sorted by path.
    pub files: Vec<RenderedFile>,
    /// Steps or features that were rendered as comments only.
    pub notes: Vec<Note>,
}

impl Rendered {
    /// The file at `path`.
    pub fn file(&self, path: &str) -> Option<&RenderedFile> {
        self.files.iter().find(|f| f.path == path)
    }

    fn push(&mut self, path: impl Into<String>, contents: impl Into<String>) {
        self.files.push(RenderedFile {
            path: path.into(),
            contents: contents.into(),
        });
    }

    fn note(&mut self, file: impl Into<String>, message: impl Into<String>) {
        self.notes.push(Note {
            file: file.into(),
            message: message.into(),
        });
    }
}

/// Why a plan could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// An AMI's OS has no base AMI for the plan's architecture.
    #[error("Image `{image}`: OS `{os}` has no AMI source for architecture `{architecture}`")]
    NoAmiSource {
        /// The image.
        image: String,
        /// The OS.
        os: String,
        /// The architecture.
        architecture: String,
    },
    /// A customized image names a golden parent that is not in the plan.
    #[error("Image `{image}` builds on `{parent}`, which is not in the plan")]
    MissingParent {
        /// The image.
        image: String,
        /// The parent.
        parent: String,
    },
    /// A component's AWSTOE document could not be turned into data.
    #[error("Component `{component}` on `{os}`: cannot serialize its AWSTOE document: {reason}")]
    Document {
        /// The component.
        component: String,
        /// The OS.
        os: String,
        /// Why.
        reason: String,
    },
}

/// Renders `plan` (made in `context`) for the targets in `options`.
pub fn render(plan: &LockedProject, options: &RenderOptions) -> Result<Rendered, RenderError> {
    let input = common::Input::new(plan, options)?;
    let mut rendered = Rendered::default();
    if options.wants(Target::Awstoe) {
        awstoe::render(&input, &mut rendered);
    }
    if options.wants(Target::Dockerfile) {
        dockerfile::render(&input, &mut rendered);
    }
    if options.wants(Target::Cloudformation) {
        cloudformation::render(&input, &mut rendered);
    }
    if options.wants(Target::Terraform) {
        terraform::render(&input, &mut rendered);
    }
    if options.wants(Target::GithubActions) {
        github_actions::render(&input, &mut rendered);
    }
    common::index(&input, &mut rendered);
    rendered.files.sort_by(|a, b| a.path.cmp(&b.path));
    rendered.notes.sort();
    rendered.notes.dedup();
    Ok(rendered)
}
