//! `imagesmith validate [PATH...]`.

use crate::{color_stdout, current_dir, ExitStatus, OutputFormat};
use anyhow::Context as _;
use imagesmith_diagnostics::{render, Diagnostics, Format, HumanOptions, SourceFile};
use imagesmith_model::DocumentKind;
use imagesmith_validate::{
    check_file, discover, find_project_root, load_project, today, Context, FileReport,
    LoadedProject, PROJECT_FILE,
};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or folders to check (default: the current project).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
    /// Read every file as this kind instead of recognising it.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
}

/// A document kind on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    /// A customer spec.
    Spec,
    /// A golden recipe.
    Recipe,
    /// A component definition.
    Component,
    /// A project file.
    Project,
    /// An OS definition of the catalog.
    Os,
}

impl From<KindArg> for DocumentKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Spec => DocumentKind::Spec,
            KindArg::Recipe => DocumentKind::Recipe,
            KindArg::Component => DocumentKind::Component,
            KindArg::Project => DocumentKind::Project,
            KindArg::Os => DocumentKind::Os,
        }
    }
}

/// Runs `validate`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let cwd = current_dir()?;
    let today = today();
    let kind = args.kind.map(DocumentKind::from);
    let paths = if args.paths.is_empty() {
        match find_project_root(&cwd) {
            Some(root) => vec![root],
            None => {
                eprintln!(
                    "error: No `{PROJECT_FILE}` in `{}` or any folder above it",
                    cwd.display()
                );
                eprintln!("hint: name the files to check (`imagesmith validate spec.yaml`), or run `imagesmith init`");
                return Ok(ExitStatus::Failure);
            }
        }
    } else {
        args.paths.clone()
    };
    // Decoding the built-in catalog and listing the files do not depend on each other.
    let (files, _) = rayon::join(|| discover(&paths), imagesmith_catalog::builtin);
    let files = files.context("Cannot list the files to check")?;
    let reports = check_files(&files, &cwd, kind, &today, Keep::Diagnostics)?;

    let mut diagnostics = Diagnostics::new();
    let mut sources: HashMap<Arc<str>, SourceFile> = HashMap::new();
    let count = reports.len();
    for report in reports {
        if !report.diagnostics.is_empty() {
            sources.insert(report.path.clone(), report.source);
            diagnostics.extend(report.diagnostics);
        }
    }
    diagnostics.sort();
    let format = match args.format {
        OutputFormat::Human => Format::Human,
        OutputFormat::Json => Format::Json,
        OutputFormat::Sarif => Format::Sarif,
        OutputFormat::Github => Format::Github,
    };
    let text = render(
        &diagnostics,
        &sources,
        count,
        format,
        HumanOptions {
            color: color_stdout(),
        },
    );
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not a failure of the checks.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    Ok(if diagnostics.has_errors() {
        ExitStatus::Invalid
    } else {
        ExitStatus::Success
    })
}

/// What a report keeps of each file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Documents and sources, for commands that go on to plan.
    Everything,
    /// Only diagnostics and the sources they point into: thousands of files stay cheap.
    Diagnostics,
}

/// Checks files, each in the context of the project it belongs to (or the built-in catalog).
pub fn check_files(
    files: &[PathBuf],
    base: &Path,
    kind: Option<DocumentKind>,
    today: &str,
    keep: Keep,
) -> anyhow::Result<Vec<FileReport>> {
    // Group files by project so each project is loaded once.
    let mut groups: BTreeMap<Option<PathBuf>, Vec<&PathBuf>> = BTreeMap::new();
    // Thousands of files share a few folders: look each folder's project up once.
    let mut roots: HashMap<&Path, Option<PathBuf>> = HashMap::new();
    for file in files {
        let parent = file.parent().unwrap_or(Path::new("."));
        let root = roots
            .entry(parent)
            .or_insert_with(|| {
                find_project_root(if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                })
            })
            .clone();
        groups.entry(root).or_default().push(file);
    }
    let mut reports = Vec::with_capacity(files.len());
    for (root, group) in groups {
        let project = match &root {
            Some(root) => Some(
                load_project(root, base, today)
                    .with_context(|| format!("Cannot load the project at `{}`", root.display()))?,
            ),
            None => None,
        };
        reports.append(&mut check_group(
            &group,
            base,
            kind,
            today,
            project.as_ref(),
            keep,
        ));
    }
    Ok(reports)
}

/// Checks files of one project (or of none: the built-in catalog) in parallel.
pub fn check_group(
    files: &[&PathBuf],
    base: &Path,
    kind: Option<DocumentKind>,
    today: &str,
    project: Option<&LoadedProject>,
    keep: Keep,
) -> Vec<FileReport> {
    let builtin;
    let context = match project {
        Some(project) => &project.context,
        None => {
            let mut context = Context::builtin();
            context.today = today.to_string();
            builtin = context;
            &builtin
        }
    };
    let project_file = project.map(|p| p.root.join(PROJECT_FILE));
    files
        .par_iter()
        .map(|file| {
            if let (Some(project), Some(project_file)) = (project, &project_file) {
                let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
                if &absolute == project_file {
                    return project.project_report.clone();
                }
            }
            let mut report = check_file(file, base, kind, context);
            if keep == Keep::Diagnostics {
                report.document = None;
                if report.diagnostics.is_empty() {
                    report.source = SourceFile::new(report.path.clone(), "");
                }
            }
            report
        })
        .collect()
}
