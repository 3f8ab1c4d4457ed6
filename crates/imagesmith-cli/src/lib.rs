//! The imagesmith command line: argument parsing, then one module per command.
//!
//! Exit codes: 0 success (warnings allowed), 1 the input is invalid or a gate failed,
//! 2 imagesmith itself failed (I/O, a bug, a missing tool).
#![deny(missing_docs)]

mod commands;
pub mod project;
pub mod secrets;

pub use commands::diff::{diff_layouts, layout_packages};

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It did what was asked.
    Success,
    /// The input was invalid, or a gate failed: an expected outcome.
    Invalid,
    /// imagesmith failed.
    Failure,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Invalid => ExitCode::from(1),
            ExitStatus::Failure => ExitCode::from(2),
        }
    }
}

/// imagesmith is a daemonless image factory: it makes golden and customized container images
/// and AMIs from one validated catalog of components.
///
/// It checks the YAML specs, recipes and project files you write, builds OCI images locally in
/// a sandbox, and renders EC2 Image Builder pipelines, Terraform, Dockerfiles, AWSTOE documents
/// and GitHub Actions workflows from the same model.
#[derive(Debug, Parser)]
#[command(name = "imagesmith", version, propagate_version = true)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check specs, recipes, components and project files; report every problem at once.
    Validate(commands::validate::Args),
    /// Print the JSON Schema (draft 2020-12) of a document kind.
    Schema(commands::schema::Args),
    /// List the components of the catalog, their OS support and versions.
    Catalog(commands::catalog::Args),
    /// Write a starter project: imagesmith.yaml, golden recipes and example specs.
    Init(commands::init::Args),
    /// Write `imagesmith.lock`, which `build` and `render` require
    ///
    /// The lock holds every image's exact component versions, artifacts and checksums,
    /// document digests, parameters, parent, version and tags.
    Lock(commands::lock::LockArgs),
    /// Show which images change against the lock, why, and their next versions
    ///
    /// Images are listed in build order (golden images first), each with its tags.
    Plan(commands::lock::PlanArgs),
    /// Change the one version that decides a component, re-lock, print what changes
    ///
    /// Only that scalar of the file changes: comments, quoting, order and flow style are kept.
    Bump(commands::bump::Args),
    /// The changelog between two locks (files or git revisions) or two built images
    Diff(commands::diff::Args),
    /// Fetch or list the version index: every real upstream release of each component
    Index(commands::index::Args),
    /// List pins with newer releases, and those deprecated, end-of-life, withdrawn or revoked
    ///
    /// Exit 1 when a pin is revoked or past its end of life.
    Outdated(commands::outdated::Args),
    /// Build images locally, without a daemon, into OCI image layouts.
    Build(commands::build::Args),
    /// Render Image Builder stacks, Terraform, Dockerfiles, AWSTOE documents and workflows.
    Render(commands::render::Args),
    /// Gate a built image: scanner findings, waivers and hygiene checks
    ///
    /// Trivy, Grype and Snyk findings are judged against the project's thresholds and
    /// waivers; the image's layers are checked for secrets, caches and permissions. Exit 0 passed, 1 a gate failed, 2 a scanner or check broke. The verdict is stored
    /// beside the image as an OCI artifact referring to it.
    Scan(commands::scan::Args),
    /// Push an OCI layout or built image to a registry, with its SBOMs; tags never move
    ///
    /// Blobs the registry has are skipped, chunked uploads resume, a tag naming other content
    /// is refused with both digests. `--sign-key` signs it in cosign's format.
    Push(commands::push::Args),
    /// Check an image's cosign-format signature with a public key, as `cosign verify --key`
    Verify(commands::verify::Args),
    /// Build, gate, push, sign and record the project's images, golden ones first
    ///
    /// Each image goes to the project's registry under the plan's tags; a version is
    /// published once, and a customized image only on a published golden digest.
    Publish(commands::publish::Args),
}

/// Output formats of commands that report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Human,
    /// JSON.
    Json,
    /// SARIF 2.1.0 (validate only).
    Sarif,
    /// GitHub workflow annotations (validate only).
    Github,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    run(cli).into()
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitStatus {
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(args),
        Command::Schema(args) => commands::schema::run(args),
        Command::Catalog(args) => commands::catalog::run(args),
        Command::Init(args) => commands::init::run(args),
        Command::Lock(args) => commands::lock::run_lock(args),
        Command::Plan(args) => commands::lock::run_plan(args),
        Command::Bump(args) => commands::bump::run(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Index(args) => commands::index::run(args),
        Command::Outdated(args) => commands::outdated::run(args),
        Command::Build(args) => commands::build::run(args),
        Command::Render(args) => commands::render::run(args),
        Command::Scan(args) => commands::scan::run(args),
        Command::Push(args) => commands::push::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Publish(args) => commands::publish::run(args),
    };
    match result {
        Ok(status) => status,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitStatus::Failure
        }
    }
}

/// The current folder, for commands that default to it.
pub(crate) fn current_dir() -> anyhow::Result<PathBuf> {
    std::env::current_dir().map_err(|e| anyhow::anyhow!("Cannot read the current folder: {e}"))
}

/// Whether to colour output written to stdout.
pub(crate) fn color_stdout() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}
