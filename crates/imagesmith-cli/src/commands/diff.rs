//! `imagesmith diff A B`: the changelog between two locks (files, or git revisions of the
//! project's `imagesmith.lock`).

use crate::{current_dir, ExitStatus};
use imagesmith_plan::{diff, LockFile, LOCK_FILE};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The older lock: a file, a folder holding `imagesmith.lock`, or a git revision
    /// (`HEAD~1`, `v1.4.0`, `REV:path/to/imagesmith.lock`).
    pub a: String,
    /// The newer lock, as for A (`.` is the working tree's).
    pub b: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: DiffFormat,
}

/// The `--format` values of `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// A section per image, a line per change.
    Markdown,
    /// The changelog as JSON.
    Json,
}

/// Why a lock could not be had.
#[derive(Debug, thiserror::Error)]
enum SourceError {
    #[error("`{given}` is neither a lock file nor a git revision of `{LOCK_FILE}`: {reason}")]
    NotFound { given: String, reason: String },
    #[error(transparent)]
    Lock(#[from] imagesmith_plan::LockError),
}

/// Reads the lock `given` names, relative to `cwd`.
fn load(given: &str, cwd: &Path) -> Result<LockFile, SourceError> {
    let path = cwd.join(given);
    let file = if path.is_dir() {
        path.join(LOCK_FILE)
    } else {
        path.clone()
    };
    if file.is_file() {
        return LockFile::read(&file)?.ok_or_else(|| SourceError::NotFound {
            given: given.to_string(),
            reason: "it vanished while being read".to_string(),
        });
    }
    // A git revision: `REV:path` as git writes it, or `REV` for the project's lock file.
    let spec = if given.contains(':') {
        given.to_string()
    } else {
        let root = imagesmith_validate::find_project_root(cwd).unwrap_or_else(|| cwd.into());
        let prefix = git(cwd, &["rev-parse", "--show-prefix"]).unwrap_or_default();
        let relative = root
            .strip_prefix(cwd)
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(LOCK_FILE);
        let in_repository = Path::new(prefix.trim()).join(relative);
        format!("{given}:{}", in_repository.to_string_lossy())
    };
    let text = git(cwd, &["show", &spec]).map_err(|reason| SourceError::NotFound {
        given: given.to_string(),
        reason,
    })?;
    Ok(LockFile::parse(Path::new(&spec), &text)?)
}

fn git(cwd: &Path, args: &[&str]) -> Result<String, String> {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(cwd)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    String::from_utf8(output.stdout).map_err(|e| e.to_string())
}

/// Runs `diff`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let cwd = current_dir()?;
    let mut locks = Vec::new();
    for given in [&args.a, &args.b] {
        match load(given, &cwd) {
            Ok(lock) => locks.push(lock),
            Err(error) => {
                eprintln!("error: {error}");
                eprintln!("hint: name a lock file, a folder holding one, or a git revision");
                return Ok(ExitStatus::Invalid);
            }
        }
    }
    let changelog = diff(&locks[0], &locks[1]);
    let text = match args.format {
        DiffFormat::Markdown => changelog.markdown(),
        DiffFormat::Json => serde_json::to_string_pretty(&changelog)? + "\n",
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    Ok(ExitStatus::Success)
}
