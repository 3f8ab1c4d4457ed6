//! What every command that does work starts with: the project validated (nothing is locked,
//! built or rendered from a project with an invalid document), then locked, and for `build`
//! and `render` the lock file checked: a missing or stale `imagesmith.lock` is refused with
//! what changed.

use crate::{color_stdout, ExitStatus};
use anyhow::Context as _;
use imagesmith_diagnostics::{render, Format, HumanOptions};
use imagesmith_plan::{
    changes, lock_published, DecidedBy, ImageChange, LockFile, LockedProject, Pins, Published,
    LOCK_FILE, PUBLISHED_FILE,
};
use imagesmith_validate::{today, validate_project, ValidatedProject};
use std::path::{Path, PathBuf};

/// A validated project.
pub fn validated(cwd: &Path) -> anyhow::Result<Result<ValidatedProject, ExitStatus>> {
    let result = validate_project(cwd, &today()).context("Cannot load the project")?;
    match result {
        Ok(project) => Ok(Ok(project)),
        Err(invalid) => {
            eprint!(
                "{}",
                render(
                    &invalid.diagnostics,
                    &invalid.sources,
                    invalid.files,
                    Format::Human,
                    HumanOptions {
                        color: color_stdout()
                    }
                )
            );
            eprintln!("error: The project has invalid documents; nothing was done");
            Ok(Err(ExitStatus::Invalid))
        }
    }
}

/// The lock file of a project (none for the built-in catalog).
pub fn lock_path(project: &ValidatedProject) -> Option<PathBuf> {
    project.root.as_ref().map(|root| root.join(LOCK_FILE))
}

/// The publication record of a project (none for the built-in catalog).
pub fn published_path(project: &ValidatedProject) -> Option<PathBuf> {
    project.root.as_ref().map(|root| root.join(PUBLISHED_FILE))
}

/// A project locked afresh, with the lock file it is compared to.
#[derive(Debug)]
pub struct Relocked {
    /// The project.
    pub project: ValidatedProject,
    /// The lock file as it is on disk (`None`: missing, or the built-in catalog).
    pub on_disk: Option<LockFile>,
    /// The lock as it would be written now.
    pub fresh: LockedProject,
    /// What was published (`imagesmith.published.json`; empty without one).
    pub published: Published,
}

impl Relocked {
    /// The fresh lock's file form.
    pub fn fresh_file(&self) -> LockFile {
        LockFile::of(&self.fresh)
    }

    /// Whether the lock on disk is exactly what locking gives now.
    pub fn up_to_date(&self) -> bool {
        self.on_disk.as_ref() == Some(&self.fresh_file())
    }

    /// Every image against the lock on disk.
    pub fn changes(&self) -> Vec<ImageChange> {
        let order: Vec<String> = self.fresh.images.iter().map(|i| i.name.clone()).collect();
        let root = self.project.root.clone();
        let base = self.project.base.clone();
        let locate = move |place: &DecidedBy| locate(root.as_deref(), &base, place);
        let fresh = self.fresh_file();
        // The built-in catalog is locked with the binary: nothing of it changes.
        let old = match &self.project.root {
            None => Some(&fresh),
            Some(_) => self.on_disk.as_ref(),
        };
        changes(old, &fresh, &order, &locate)
    }
}

/// `FILE:LINE` of the value a [`DecidedBy`] names, shown relative to `base`.
pub fn locate(root: Option<&Path>, base: &Path, place: &DecidedBy) -> Option<String> {
    locate_at(root, base, place).map(|(file, line, _)| format!("{file}:{line}"))
}

/// The file (relative to `base`), line and column of the value a [`DecidedBy`] names.
fn locate_at(root: Option<&Path>, base: &Path, place: &DecidedBy) -> Option<(String, u32, u32)> {
    let root = root?;
    if place.file.starts_with('<') {
        return None;
    }
    let path = root.join(&place.file);
    let text = fs_err::read_to_string(&path).ok()?;
    let loaded =
        imagesmith_yaml::load_str(place.file.as_str(), &text, imagesmith_yaml::Limits::DEFAULT);
    let mut node = loaded.root.as_ref()?;
    for key in &place.keys {
        node = node.get(key)?;
    }
    let shown = pathdiff(&path, base);
    Some((shown, node.span.start.line, node.span.start.column))
}

/// Reports every withdrawn release the project would download from a vendor URL that no
/// mirror rewrites (a URL that 404s), at the value pinning it; `true` when there was one, and
/// `imagesmith {command}` must stop.
pub fn refuse_unobtainable(relocked: &Relocked, cwd: &Path, command: &str) -> bool {
    let missing = imagesmith_plan::unobtainable(&relocked.fresh);
    if missing.is_empty() {
        return false;
    }
    let mut seen = std::collections::BTreeSet::new();
    for pin in &missing {
        if !seen.insert((
            pin.decided_by.clone(),
            pin.component.clone(),
            pin.version.clone(),
        )) {
            continue;
        }
        let at = locate_at(relocked.project.root.as_deref(), cwd, &pin.decided_by)
            .map(|(file, line, column)| format!("{file}:{line}:{column}: "))
            .unwrap_or_default();
        eprintln!("error: {at}{pin}");
        eprintln!("hint: {}", pin.hint());
    }
    eprintln!("error: A withdrawn release cannot be downloaded from its vendor; `imagesmith {command}` did nothing");
    true
}

fn pathdiff(path: &Path, base: &Path) -> String {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (path, base) = (absolute(path), absolute(base));
    match path.strip_prefix(&base) {
        Ok(relative) => relative.to_string_lossy().replace('\\', "/"),
        Err(_) => path.to_string_lossy().to_string(),
    }
}

/// Validates and locks the project at or above `cwd` against its lock file.
pub fn relock(cwd: &Path) -> anyhow::Result<Result<Relocked, ExitStatus>> {
    relock_with(cwd, false)
}

/// As [`relock`]; with `replace_invalid`, a lock file that cannot be read as one (a merge
/// conflict, a truncated file) is set aside with a warning and the project locked afresh.
pub fn relock_with(
    cwd: &Path,
    replace_invalid: bool,
) -> anyhow::Result<Result<Relocked, ExitStatus>> {
    let project = match validated(cwd)? {
        Ok(project) => project,
        Err(status) => return Ok(Err(status)),
    };
    let on_disk = match lock_path(&project) {
        Some(path) => match LockFile::read(&path) {
            Ok(lock) => lock,
            Err(error @ imagesmith_plan::LockError::Invalid { .. }) if replace_invalid => {
                eprintln!("warning: {error}");
                eprintln!("hint: it is locked afresh: image versions start again from the documents (1.0.0 or their declared version); restore the lock from version control to keep them");
                None
            }
            Err(error) => {
                eprintln!("error: {error}\nhint: {}", error.hint());
                return Ok(Err(ExitStatus::Invalid));
            }
        },
        None => None,
    };
    let published = match published_path(&project) {
        Some(path) => match Published::read(&path) {
            Ok(published) => published,
            Err(error) => {
                eprintln!("error: {error}\nhint: {}", error.hint());
                return Ok(Err(ExitStatus::Invalid));
            }
        },
        None => Published::new(),
    };
    let fresh = match lock_published(&project, on_disk.as_ref(), &Pins::new(), Some(&published)) {
        Ok(fresh) => fresh,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(Err(ExitStatus::Invalid));
        }
    };
    Ok(Ok(Relocked {
        project,
        on_disk,
        fresh,
        published,
    }))
}

/// A project's locked model and its folder.
#[derive(Debug)]
pub struct Locked {
    /// The project folder, or `None` when running on the built-in catalog alone.
    pub root: Option<PathBuf>,
    /// The locked model.
    pub locked: LockedProject,
}

/// The locked model `build` and `render` work from: the project's `imagesmith.lock`, which
/// must exist and be up to date (the built-in catalog, embedded in the binary, is locked in
/// memory: nothing of it can change without a new binary). `only` narrows it to the images
/// named and the golden images they build on.
pub fn load_locked(
    cwd: &Path,
    only: &[String],
    command: &str,
) -> anyhow::Result<Result<Locked, ExitStatus>> {
    let relocked = match relock(cwd)? {
        Ok(relocked) => relocked,
        Err(status) => return Ok(Err(status)),
    };
    if refuse_unobtainable(&relocked, cwd, command) {
        return Ok(Err(ExitStatus::Invalid));
    }
    if let Some(path) = lock_path(&relocked.project) {
        let shown = pathdiff(&path, cwd);
        if relocked.on_disk.is_none() {
            eprintln!(
                "error: No `{shown}`: `imagesmith {command}` works only from a locked project"
            );
            eprintln!("hint: run `imagesmith lock` and commit `{LOCK_FILE}`");
            return Ok(Err(ExitStatus::Invalid));
        }
        if !relocked.up_to_date() {
            eprintln!("error: `{shown}` is out of date; `imagesmith {command}` did nothing");
            for change in relocked.changes().iter().filter(|c| c.changed) {
                eprintln!(
                    "  {} -> {}: {}",
                    change.name,
                    change.version,
                    change.reasons.join("; ")
                );
            }
            eprintln!(
                "hint: review the changes with `imagesmith plan`, then run `imagesmith lock`"
            );
            return Ok(Err(ExitStatus::Invalid));
        }
    }
    match relocked.fresh.select(only) {
        Ok(locked) => Ok(Ok(Locked {
            root: relocked.project.root.clone(),
            locked,
        })),
        Err(error) => {
            eprintln!("error: {error}");
            if let imagesmith_plan::PlanError::UnknownImage {
                suggestion: Some(s),
                ..
            } = &error
            {
                eprintln!("hint: did you mean `{s}`?");
            }
            Ok(Err(ExitStatus::Invalid))
        }
    }
}

/// Validates and locks the project at `dir`, writing its `imagesmith.lock` (what
/// `imagesmith lock` does, for programs and tests that set up projects).
pub fn lock_project(dir: &Path) -> anyhow::Result<PathBuf> {
    let relocked = match relock(dir)? {
        Ok(relocked) => relocked,
        Err(_) => anyhow::bail!("The project at `{}` cannot be locked", dir.display()),
    };
    let path = lock_path(&relocked.project)
        .ok_or_else(|| anyhow::anyhow!("No `imagesmith.yaml` at or above `{}`", dir.display()))?;
    relocked.fresh_file().write(&path)?;
    Ok(path)
}
