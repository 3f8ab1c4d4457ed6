//! `imagesmith outdated [--format json]`: per pinned component, its version, the newest release
//! of the same major line and the newest overall, and whether it is deprecated, end-of-life,
//! withdrawn (its vendor downloads pulled) or revoked. Exit 1 when anything is revoked or past
//! its end of life.

use crate::project::relock;
use crate::{current_dir, ExitStatus};
use imagesmith_index::{compare, prefix_matches, Target};
use imagesmith_model::{Component, VersionNote};
use imagesmith_validate::{today, versions::pattern_matches};
use serde::Serialize;
use std::io::Write;

/// Arguments of `outdated`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Images to look at (default: every image of the project).
    pub names: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

/// The `--format` values of `outdated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table.
    Human,
    /// `{"pins":[{image, component, os, version, newest_in_major, newest, status, ...}]}`.
    Json,
}

/// One pinned component of one image.
#[derive(Debug, Clone, Serialize)]
pub struct Pin {
    /// The image.
    pub image: String,
    /// The component.
    pub component: String,
    /// The image's OS.
    pub os: String,
    /// The locked version.
    pub version: String,
    /// The newest release of the same major line, when newer.
    pub newest_in_major: Option<String>,
    /// The newest release, when newer.
    pub newest: Option<String>,
    /// `revoked`, `withdrawn` (real, but its vendor downloads were pulled), `end-of-life`,
    /// `deprecated` or `current`.
    pub status: &'static str,
    /// Since when, for end of life and deprecation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How old the index data is, in days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_age_days: Option<i64>,
}

/// Runs `outdated`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let cwd = current_dir()?;
    let relocked = match relock(&cwd)? {
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
    if relocked.on_disk.is_some() && !relocked.up_to_date() {
        eprintln!("warning: `imagesmith.lock` is out of date: shown is what `imagesmith lock` would pin now");
    }
    let index = &relocked.project.context.index;
    let today = today();
    let mut pins = Vec::new();
    for image in &selected.images {
        let target = Target {
            os: &image.os.id,
            family: image.os.family.as_str(),
            arch: &selected.architecture,
        };
        for component in &image.components {
            let version = component.version.as_str();
            let entry = index.get(&component.name);
            let major = version.split('.').next().unwrap_or(version);
            // A line an OS package installs (`nodejs: 22` on AL2023) is not a release: only a
            // newer line counts, not the releases of its own.
            let is_release = entry.is_some_and(|e| e.releases.iter().any(|r| r.version == version));
            let newer = |within: Option<&str>| {
                entry
                    .and_then(|e| e.newest(target, within))
                    .map(|r| r.version.clone())
                    .filter(|v| {
                        if is_release {
                            compare(v, version).is_gt()
                        } else {
                            within.is_none()
                                && compare(v.split('.').next().unwrap_or(v), major).is_gt()
                        }
                    })
            };
            let release = entry.and_then(|e| e.releases.iter().find(|r| r.version == version));
            let revoked_in_index = release.and_then(|r| r.revoked.clone());
            let withdrawn = release.and_then(|r| r.withdrawn.as_ref());
            let (status, note) = status_of(&component.component, version, &today);
            let (status, since, reason) = match (revoked_in_index, status, withdrawn) {
                (Some(reason), _, _) => ("revoked", None, Some(reason)),
                // A catalog revocation outranks the index's withdrawal; a withdrawal outranks
                // end of life and deprecation (the release cannot be had at all).
                (None, status, Some(w)) if status != "revoked" => {
                    ("withdrawn", w.since.clone(), Some(w.reason.clone()))
                }
                (None, status, _) => (
                    status,
                    note.and_then(|n| n.date.clone()),
                    note.and_then(|n| n.reason.clone()),
                ),
            };
            pins.push(Pin {
                image: image.name.clone(),
                component: component.name.clone(),
                os: image.os.id.clone(),
                version: version.to_string(),
                newest_in_major: newer(Some(major)),
                newest: newer(None),
                status,
                since,
                reason,
                index_age_days: entry
                    .and_then(|e| crate::commands::index::days_between(&e.updated, &today)),
            });
        }
    }
    let failing = pins
        .iter()
        .any(|p| matches!(p.status, "revoked" | "end-of-life"));
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "pins": pins }))?
            )?;
        }
        Format::Human => {
            let shown: Vec<&Pin> = pins
                .iter()
                .filter(|p| p.newest.is_some() || p.status != "current")
                .collect();
            if shown.is_empty() {
                eprintln!("Every pin is current ({} pins)", pins.len());
            } else {
                writeln!(
                    out,
                    "{:<32} {:<18} {:<12} {:<14} {:<14} status",
                    "image", "component", "version", "newest major", "newest"
                )?;
                for pin in &shown {
                    let status = match (&pin.since, &pin.reason) {
                        (Some(since), Some(reason)) if pin.status == "withdrawn" => {
                            format!("withdrawn since {since}: {reason}")
                        }
                        (Some(since), _) => format!("{} since {since}", pin.status),
                        (None, Some(reason)) if pin.status == "withdrawn" => {
                            format!("withdrawn: {reason}")
                        }
                        (None, Some(reason)) if pin.status == "revoked" => {
                            format!("revoked: {reason}")
                        }
                        _ => pin.status.to_string(),
                    };
                    writeln!(
                        out,
                        "{:<32} {:<18} {:<12} {:<14} {:<14} {status}",
                        pin.image,
                        pin.component,
                        pin.version,
                        pin.newest_in_major.as_deref().unwrap_or("-"),
                        pin.newest.as_deref().unwrap_or("-"),
                    )?;
                }
                eprintln!(
                    "{} of {} pins have newer releases or a status; {}",
                    shown.len(),
                    pins.len(),
                    if failing {
                        "some are revoked or past their end of life (exit 1)"
                    } else {
                        "none is revoked or past its end of life"
                    }
                );
            }
        }
    }
    Ok(if failing {
        ExitStatus::Invalid
    } else {
        ExitStatus::Success
    })
}

/// The status of `version` by the catalog's notes in effect on `today`.
fn status_of<'c>(
    component: &'c Component,
    version: &str,
    today: &str,
) -> (&'static str, Option<&'c VersionNote>) {
    let applies = |n: &&VersionNote| {
        (pattern_matches(n.version.as_str(), version)
            || prefix_matches(n.version.as_str(), version))
            && n.date.as_deref().is_none_or(|d| d <= today)
    };
    let versions = &component.versions;
    if let Some(note) = versions.revoked.iter().find(applies) {
        ("revoked", Some(note))
    } else if let Some(note) = versions.end_of_life.iter().find(applies) {
        ("end-of-life", Some(note))
    } else if let Some(note) = versions.deprecated.iter().find(applies) {
        ("deprecated", Some(note))
    } else {
        ("current", None)
    }
}
