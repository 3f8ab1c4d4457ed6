//! `imagesmith lock [--check]` and `imagesmith plan [NAME...]`.

use crate::project::{lock_path, relock, relock_with, Relocked};
use crate::{current_dir, ExitStatus};
use imagesmith_plan::{ImageChange, LOCK_FILE};
use std::io::Write;

/// Arguments of `lock`.
#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// Write nothing; exit 1 when `imagesmith.lock` is missing or would change (for CI).
    #[arg(long)]
    pub check: bool,
}

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Images to show (default: every image of the project).
    pub names: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: PlanFormat,
}

/// The `--format` values of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// A line per image, then its reasons.
    Human,
    /// `{"images":[{"name","changed","reasons","version","tags"}]}`.
    Json,
}

fn no_project() -> ExitStatus {
    eprintln!("error: No `imagesmith.yaml` in this folder or any folder above it");
    eprintln!(
        "hint: the built-in catalog needs no lock (it is embedded in imagesmith); run `imagesmith init` to start a project"
    );
    ExitStatus::Invalid
}

/// Runs `lock`.
pub fn run_lock(args: LockArgs) -> anyhow::Result<ExitStatus> {
    let cwd = current_dir()?;
    let relocked = match relock_with(&cwd, !args.check)? {
        Ok(relocked) => relocked,
        Err(status) => return Ok(status),
    };
    let Some(path) = lock_path(&relocked.project) else {
        if args.check {
            // Nothing can be stale: the built-in catalog is locked with the binary.
            eprintln!("No project here: the built-in catalog needs no `{LOCK_FILE}`");
            return Ok(ExitStatus::Success);
        }
        return Ok(no_project());
    };
    let changed: Vec<ImageChange> = relocked
        .changes()
        .into_iter()
        .filter(|c| c.changed)
        .collect();
    if relocked.up_to_date() {
        eprintln!(
            "`{LOCK_FILE}` is up to date ({} images)",
            relocked.fresh.images.len()
        );
        return Ok(ExitStatus::Success);
    }
    if args.check {
        if relocked.on_disk.is_none() {
            eprintln!("error: No `{LOCK_FILE}`");
        } else {
            eprintln!("error: `{LOCK_FILE}` is out of date:");
        }
        print_changes(&changed);
        eprintln!("hint: run `imagesmith lock` and commit `{LOCK_FILE}`");
        return Ok(ExitStatus::Invalid);
    }
    if let Err(error) = relocked.fresh_file().write(&path) {
        eprintln!("error: {error}\nhint: {}", error.hint());
        return Ok(ExitStatus::Failure);
    }
    print_changes(&changed);
    eprintln!(
        "Locked {} images ({} changed) in `{LOCK_FILE}`",
        relocked.fresh.images.len(),
        changed.len()
    );
    Ok(ExitStatus::Success)
}

/// Prints changed images to stderr, a line each and their reasons below.
pub fn print_changes(changes: &[ImageChange]) {
    for change in changes {
        let versions = match &change.previous_version {
            Some(previous) if previous != &change.version => {
                format!("{previous} -> {}", change.version)
            }
            Some(_) => change.version.clone(),
            None => format!("new, {}", change.version),
        };
        eprintln!("  {} ({versions})", change.name);
        for reason in &change.reasons {
            eprintln!("      {reason}");
        }
    }
}

/// Runs `plan`.
pub fn run_plan(args: PlanArgs) -> anyhow::Result<ExitStatus> {
    let cwd = current_dir()?;
    let relocked: Relocked = match relock(&cwd)? {
        Ok(relocked) => relocked,
        Err(status) => return Ok(status),
    };
    let selected = match relocked.fresh.select(&args.names) {
        Ok(selected) => selected,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitStatus::Invalid);
        }
    };
    let wanted = |name: &str| {
        args.names.is_empty()
            || args.names.iter().any(|n| n == name)
            || selected.image(name).is_some()
    };
    let changes: Vec<ImageChange> = relocked
        .changes()
        .into_iter()
        .filter(|c| wanted(&c.name))
        .collect();
    let mut stdout = std::io::stdout().lock();
    match args.format {
        PlanFormat::Json => {
            let json = serde_json::json!({ "images": changes });
            let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(&json)?);
        }
        PlanFormat::Human => {
            if relocked.project.root.is_none() {
                eprintln!("note: no project here: the built-in catalog's golden images, locked with imagesmith itself");
            } else if relocked.on_disk.is_none() {
                eprintln!("note: no `{LOCK_FILE}` yet: every image is new");
            }
            for change in &changes {
                let mark = if change.changed { "~" } else { " " };
                let versions = match &change.previous_version {
                    Some(previous) if previous != &change.version => {
                        format!("{previous} -> {}", change.version)
                    }
                    _ => change.version.clone(),
                };
                let _ = writeln!(
                    stdout,
                    "{mark} {}\t{versions}\t{}",
                    change.name,
                    change.tags.join(", ")
                );
                for reason in &change.reasons {
                    let _ = writeln!(stdout, "      {reason}");
                }
            }
            let count = changes.iter().filter(|c| c.changed).count();
            let _ = writeln!(
                stdout,
                "{count} of {} images change; build order as listed",
                changes.len()
            );
        }
    }
    Ok(ExitStatus::Success)
}
