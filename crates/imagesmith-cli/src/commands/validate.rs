//! `imagesmith validate [PATH...]`.

use crate::{color_stdout, current_dir, ExitStatus, OutputFormat};
use anyhow::Context as _;
use imagesmith_diagnostics::{render, Diagnostics, Format, HumanOptions, SourceFile};
use imagesmith_model::DocumentKind;
use imagesmith_validate::{check_files, discover, find_project_root, today, Keep, PROJECT_FILE};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
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
    let reports = check_files(&files, &cwd, kind, &today, Keep::Diagnostics)
        .context("Cannot load a project of the files to check")?;

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
