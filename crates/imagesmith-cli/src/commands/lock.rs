//! `imagesmith lock [--check]` and `imagesmith plan [NAME...]`.

use crate::project::{lock_path, refuse_unobtainable, relock, relock_with, Relocked};
use crate::{current_dir, ExitStatus};
use imagesmith_plan::{lock_published, ArtifactEntry, ImageChange, LockedProject, Pins, LOCK_FILE};
use imagesmith_sources::{pin, Context, Credentials, Http, HttpOptions, PinnedBy};
use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

/// Arguments of `lock`.
#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// Write nothing; exit 1 when `imagesmith.lock` is missing or would change (for CI).
    #[arg(long)]
    pub check: bool,
    /// Pin only what the index and the previous lock give; fetch no checksum file or artifact.
    #[arg(long, env = "IMAGESMITH_OFFLINE")]
    pub offline: bool,
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
    let mut relocked = match relock_with(&cwd, !args.check)? {
        Ok(relocked) => relocked,
        Err(status) => return Ok(status),
    };
    if refuse_unobtainable(&relocked, &cwd, "lock") {
        return Ok(ExitStatus::Invalid);
    }
    if !args.check && lock_path(&relocked.project).is_some() {
        let pins = if args.offline {
            report_unpinned(&unpinned(&relocked.fresh), "`--offline`");
            Pins::new()
        } else {
            pin_downloads(&relocked.fresh)
        };
        if !pins.is_empty() {
            match lock_published(
                &relocked.project,
                relocked.on_disk.as_ref(),
                &pins,
                Some(&relocked.published),
            ) {
                Ok(fresh) => relocked.fresh = fresh,
                Err(error) => {
                    eprintln!("error: {error}");
                    return Ok(ExitStatus::Invalid);
                }
            }
        }
        if !args.offline && refuse_unserved(&relocked.fresh) {
            return Ok(ExitStatus::Invalid);
        }
    }
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

/// A withdrawn release locks only through a mirror that serves it: one whose checksum could
/// not be had through the project's mirrors is refused (`true`), not left to the build.
fn refuse_unserved(locked: &LockedProject) -> bool {
    let mut refused = false;
    for image in &locked.images {
        for component in &image.components {
            if let (
                Some(withdrawn),
                ArtifactEntry::Download {
                    url,
                    checksum: None,
                    ..
                },
            ) = (&component.withdrawn, &component.artifact)
            {
                eprintln!(
                    "error: `{}` {} of image `{}` was withdrawn ({}), and the mirror `{}` did not serve it",
                    component.name,
                    component.version,
                    image.name,
                    withdrawn.reason,
                    locked.mirror(url)
                );
                eprintln!(
                    "hint: check that the mirror kept the file and its checksum file{}",
                    withdrawn
                        .nearest
                        .as_deref()
                        .map(|n| format!(
                            ", or move `{}` to {n}, the nearest obtainable release",
                            component.name
                        ))
                        .unwrap_or_default()
                );
                refused = true;
            }
        }
    }
    refused
}

/// Downloads whose checksum nothing pinned yet: (component, version, URL, checksum file).
fn unpinned(locked: &LockedProject) -> Vec<(String, String, String, Option<String>)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for image in &locked.images {
        for component in &image.components {
            if let ArtifactEntry::Download {
                url,
                checksum: None,
                checksum_url,
                ..
            } = &component.artifact
            {
                if seen.insert(url.clone()) {
                    out.push((
                        component.name.clone(),
                        component.version.to_string(),
                        url.clone(),
                        checksum_url.clone(),
                    ));
                }
            }
        }
    }
    out
}

fn report_unpinned(missing: &[(String, String, String, Option<String>)], why: &str) {
    for (name, version, url, _) in missing {
        eprintln!("  not pinned: {name} {version} `{url}` ({why}); the build checks it against the vendor's checksum file, or treats the component as unavailable");
    }
}

/// Pins every download the index and the previous lock left open: from the vendor's checksum
/// file, else by downloading the artifact once, both through the project's mirrors. A host that
/// cannot be reached is tried once; what stays open is named with why.
fn pin_downloads(locked: &LockedProject) -> Pins {
    let missing = unpinned(locked);
    let mut pins = Pins::new();
    if missing.is_empty() {
        return pins;
    }
    let http = Http::new(HttpOptions {
        connect_timeout: Duration::from_secs(10),
        timeout: Duration::from_secs(300),
        attempts: 2,
        max_body: 2 << 30,
        ..HttpOptions::default()
    });
    let mut context = Context::new(&imagesmith_validate::today(), Credentials::from_process());
    context.mirrors = locked.mirrors.clone();
    let mut dead_hosts: BTreeSet<String> = BTreeSet::new();
    let mut left = Vec::new();
    for (name, version, url, checksum_url) in missing {
        let fetched = checksum_url.as_deref().unwrap_or(&url);
        let host = host_of(&locked.mirror(fetched));
        if dead_hosts.contains(&host) {
            left.push((
                name,
                version,
                url,
                checksum_url,
                format!("`{host}` is not reachable"),
            ));
            continue;
        }
        match pin(&http, &context, &url, checksum_url.as_deref()) {
            Ok((checksum, by)) => {
                let from = match by {
                    PinnedBy::ChecksumFile(file) => format!("from `{file}`"),
                    PinnedBy::Download(bytes) => format!("by hashing the download ({bytes} bytes)"),
                };
                eprintln!("  pinned {name} {version}: {checksum} {from}");
                pins.insert(url, checksum);
            }
            Err(error) => {
                if matches!(error, imagesmith_sources::SourceError::Transport { .. }) {
                    dead_hosts.insert(host);
                }
                left.push((name, version, url, checksum_url, error.to_string()));
            }
        }
    }
    for (name, version, url, _, why) in &left {
        eprintln!("  not pinned: {name} {version} `{url}`: {why}");
    }
    if !left.is_empty() {
        eprintln!("hint: {} downloads stay unpinned: the build checks them against the vendor's checksum file, or treats them as unavailable; set a mirror in the project's `mirrors` (credentials as `IMAGESMITH_AUTH_<HOST>`) and lock again", left.len());
    }
    pins
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split(['/', '?', '#'])
        .next()
        .unwrap_or(rest)
        .to_string()
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
    if refuse_unobtainable(&relocked, &cwd, "plan") {
        return Ok(ExitStatus::Invalid);
    }
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
            let images: Vec<serde_json::Value> = changes
                .iter()
                .map(|change| {
                    let mut value = serde_json::to_value(change).unwrap_or_default();
                    if let Some(object) = value.as_object_mut() {
                        object.insert(
                            "published".into(),
                            serde_json::to_value(
                                relocked.published.get(&change.name, &change.version),
                            )
                            .unwrap_or_default(),
                        );
                    }
                    value
                })
                .collect();
            let json = serde_json::json!({ "images": images });
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
                match relocked.published.get(&change.name, &change.version) {
                    Some(publication) => {
                        let _ = writeln!(
                            stdout,
                            "      published: {}@{} ({})",
                            publication.repository, publication.digest, publication.published
                        );
                    }
                    None => {
                        if let Some(latest) = relocked.published.latest(&change.name) {
                            let _ = writeln!(
                                stdout,
                                "      not published yet (v{} is, as {}@{})",
                                latest.version, latest.repository, latest.digest
                            );
                        }
                    }
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
