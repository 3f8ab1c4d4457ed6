//! `imagesmith init [DIR]`.

use crate::ExitStatus;
use anyhow::Context as _;
use imagesmith_catalog::embedded_files;
use std::path::{Path, PathBuf};

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the project (default: the current folder).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
}

/// The files `init` writes: the starter project, then every built-in golden recipe the
/// starter does not already hold, so the team can edit them.
pub fn starter_files() -> Vec<(String, &'static str)> {
    let mut files: Vec<(String, &'static str)> = embedded_files("starter")
        .into_iter()
        .map(|f| (f.path.trim_start_matches("starter/").to_string(), f.text))
        .collect();
    for recipe in embedded_files("recipes") {
        let name = recipe.path.to_string();
        if !files.iter().any(|(path, _)| path == &name) {
            files.push((name, recipe.text));
        }
    }
    files.sort();
    files
}

/// Runs `init`. Existing files are never overwritten without `--force`; nothing is written
/// when any would be.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let files = starter_files();
    if !args.force {
        let existing: Vec<PathBuf> = files
            .iter()
            .map(|(path, _)| args.dir.join(path))
            .filter(|p| p.exists())
            .collect();
        if !existing.is_empty() {
            eprintln!(
                "error: `imagesmith init` would overwrite {} existing file(s):",
                existing.len()
            );
            for p in &existing {
                eprintln!("  {}", p.display());
            }
            eprintln!("hint: choose an empty folder, or pass `--force`");
            return Ok(ExitStatus::Invalid);
        }
    }
    for (path, text) in &files {
        write(&args.dir.join(path), text)?;
    }
    // The starter project is locked, so that `build` and `render` work on it at once.
    let relocked = match crate::project::relock(&args.dir)? {
        Ok(relocked) => relocked,
        Err(status) => return Ok(status),
    };
    if crate::project::refuse_unobtainable(&relocked, &args.dir, "init") {
        return Ok(ExitStatus::Invalid);
    }
    let lock = args.dir.join(imagesmith_plan::LOCK_FILE);
    if let Err(error) = relocked.fresh_file().write(&lock) {
        eprintln!("error: {error}\nhint: {}", error.hint());
        return Ok(ExitStatus::Failure);
    }
    eprintln!(
        "Wrote {} files and `{}` to `{}`; next: `imagesmith plan`, then `imagesmith build`",
        files.len(),
        imagesmith_plan::LOCK_FILE,
        args.dir.display(),
    );
    Ok(ExitStatus::Success)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::write(path, text).with_context(|| format!("Cannot write `{}`", path.display()))
}
