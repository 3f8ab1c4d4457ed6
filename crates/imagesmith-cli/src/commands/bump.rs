//! `imagesmith bump COMPONENT VERSION [--in FILE]`: changes the one scalar that decides a
//! component's version (no other byte of the file), re-locks, and prints the images that
//! change.

use crate::commands::lock::print_changes;
use crate::project::{lock_path, relock};
use crate::{current_dir, ExitStatus};
use imagesmith_plan::{DecidedBy, ImageChange, LOCK_FILE};
use imagesmith_validate::PROJECT_FILE;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Arguments of `bump`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component (`terraform`).
    pub component: String,
    /// Its new version (`1.7.0`).
    #[arg(value_name = "VERSION")]
    pub new_version: String,
    /// The file to change: `imagesmith.yaml` (its `defaults`), or a spec or recipe (its
    /// `components`). Default: the project default when images follow it, else the one
    /// document that pins the component.
    #[arg(long = "in", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// The value to change: a file of the project and the keys to it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Target {
    file: String,
    keys: Vec<String>,
    /// Whether a missing key may be added (a project default), or must exist (a pin).
    insert: bool,
}

fn relative(path: &Path, root: &Path, cwd: &Path) -> String {
    let absolute = std::path::absolute(cwd.join(path)).unwrap_or_else(|_| path.to_path_buf());
    absolute
        .strip_prefix(root)
        .unwrap_or(&absolute)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Which value decides the version, from where the lock says it was decided.
fn target(
    component: &str,
    places: &BTreeSet<DecidedBy>,
    file: Option<String>,
) -> Result<Target, (String, String)> {
    let defaults = vec!["defaults".to_string(), component.to_string()];
    let in_project: Vec<&DecidedBy> = places.iter().filter(|p| p.file == PROJECT_FILE).collect();
    let project_target = || -> Result<Target, (String, String)> {
        let keys = match in_project.as_slice() {
            [] => defaults.clone(),
            [one] => one.keys.clone(),
            // A per-OS mapping followed through several entries: its `default`, if images
            // follow it, is what changes; the OS-specific entries are edited with their own
            // pins in mind.
            many => match many
                .iter()
                .find(|p| p.keys.last().map(String::as_str) == Some("default"))
            {
                Some(default) => default.keys.clone(),
                None => {
                    return Err((
                        format!(
                            "`{component}` follows {} per-OS defaults: {}",
                            many.len(),
                            many.iter()
                                .map(|p| format!("`{}`", p.keys.join(".")))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        format!("edit the one you mean in `{PROJECT_FILE}`"),
                    ))
                }
            },
        };
        Ok(Target {
            file: PROJECT_FILE.to_string(),
            keys,
            insert: true,
        })
    };
    if let Some(file) = file {
        if file == PROJECT_FILE {
            return project_target();
        }
        return Ok(Target {
            file,
            keys: vec!["components".into(), component.to_string()],
            insert: false,
        });
    }
    if !in_project.is_empty() {
        return project_target();
    }
    let documents: Vec<&DecidedBy> = places
        .iter()
        .filter(|p| p.keys.first().map(String::as_str) == Some("components"))
        .collect();
    let follows_catalog = places.len() > documents.len();
    if follows_catalog {
        // Images follow the catalog's default: a project default makes the change theirs.
        return project_target();
    }
    match documents.as_slice() {
        [] => Err((
            format!("No image of the project has `{component}`"),
            format!("add `{component}` to a spec's `components`, or set a project default with `--in {PROJECT_FILE}`"),
        )),
        [one] => Ok(Target {
            file: one.file.clone(),
            keys: one.keys.clone(),
            insert: false,
        }),
        many => Err((
            format!(
                "`{component}` is pinned in {} documents: {}",
                many.len(),
                many.iter()
                    .map(|p| format!("`{}`", p.file))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "choose one with `--in FILE`, or make them follow a project default (omit the version and run `imagesmith bump --in imagesmith.yaml`)".to_string(),
        )),
    }
}

/// Runs `bump`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let cwd = current_dir()?;
    let relocked = match relock(&cwd)? {
        Ok(relocked) => relocked,
        Err(status) => return Ok(status),
    };
    let (Some(root), Some(lock)) = (relocked.project.root.clone(), lock_path(&relocked.project))
    else {
        eprintln!("error: No `{PROJECT_FILE}` in this folder or any folder above it");
        eprintln!("hint: `imagesmith bump` edits a project; run `imagesmith init` to start one");
        return Ok(ExitStatus::Invalid);
    };
    let was_stale = relocked.on_disk.is_some() && !relocked.up_to_date();
    let places: BTreeSet<DecidedBy> = relocked
        .fresh
        .images
        .iter()
        .flat_map(|image| &image.components)
        .filter(|c| c.name == args.component)
        .map(|c| c.decided_by.clone())
        .collect();
    let file = args.file.as_ref().map(|f| relative(f, &root, &cwd));
    let target = match target(&args.component, &places, file) {
        Ok(target) => target,
        Err((message, hint)) => {
            eprintln!("error: {message}\nhint: {hint}");
            return Ok(ExitStatus::Invalid);
        }
    };
    let path = root.join(&target.file);
    let original = match fs_err::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitStatus::Invalid);
        }
    };
    let keys: Vec<&str> = target.keys.iter().map(String::as_str).collect();
    let edited = if target.insert {
        imagesmith_yaml::edit::set_scalar(&original, &keys, &args.new_version)
    } else {
        imagesmith_yaml::edit::replace_scalar(&original, &keys, &args.new_version)
    };
    let edited = match edited {
        Ok(edited) => edited,
        Err(error) => {
            eprintln!("error: Cannot edit `{}`: {error}", target.file);
            if let Some(hint) = error.hint() {
                eprintln!("hint: {hint}");
            }
            return Ok(ExitStatus::Invalid);
        }
    };
    if edited.previous.as_deref() == Some(args.new_version.as_str()) {
        eprintln!(
            "`{}` is already {} in {}:{}",
            target.keys.join("."),
            args.new_version,
            target.file,
            edited.line
        );
        return Ok(ExitStatus::Success);
    }
    write_atomically(&path, &edited.text)?;
    // The edit must leave a valid, lockable project; otherwise the file is put back.
    let after = match relock(&cwd) {
        Ok(Ok(after)) => after,
        other => {
            write_atomically(&path, &original)?;
            eprintln!(
                "error: `{}` {} is not valid here; `{}` was left as it was",
                args.component, args.new_version, target.file
            );
            if let Err(error) = other {
                eprintln!("  caused by: {error:#}");
            }
            return Ok(ExitStatus::Invalid);
        }
    };
    if let Err(error) = after.fresh_file().write(&lock) {
        write_atomically(&path, &original)?;
        eprintln!("error: {error}\nhint: {}", error.hint());
        return Ok(ExitStatus::Failure);
    }
    let changes: Vec<ImageChange> = after.changes().into_iter().filter(|c| c.changed).collect();
    eprintln!(
        "Bumped `{}` {} -> {} at `{}` in {}:{}; `{LOCK_FILE}` updated",
        args.component,
        edited.previous.as_deref().unwrap_or("(unset)"),
        args.new_version,
        target.keys.join("."),
        target.file,
        edited.line
    );
    if was_stale {
        eprintln!("note: the lock was already out of date before this bump; the images below include those changes");
    }
    print_changes(&changes);
    for change in &changes {
        println!("{}\t{}", change.name, change.version);
    }
    Ok(ExitStatus::Success)
}

/// Writes `text` to `path` through a temporary file renamed over it, keeping its permissions.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let temporary = path.with_extension(format!("bump.{}.tmp", std::process::id()));
    fs_err::write(&temporary, text)?;
    if let Ok(metadata) = fs_err::metadata(path) {
        let _ = fs_err::set_permissions(&temporary, metadata.permissions());
    }
    fs_err::rename(&temporary, path)?;
    Ok(())
}
