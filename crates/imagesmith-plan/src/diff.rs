//! The changelog between two locks: images and components added, removed and changed.

use crate::lockfile::LockFile;
use serde::Serialize;
use std::fmt::Write as _;

/// What changed in one image between two locks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageDiff {
    /// The image.
    pub name: String,
    /// Its version before (`None`: added).
    pub from: Option<String>,
    /// Its version after (`None`: removed).
    pub to: Option<String>,
    /// Components added, with their versions.
    pub added: Vec<(String, String)>,
    /// Components removed, with the versions they had.
    pub removed: Vec<(String, String)>,
    /// Components whose version changed: name, before, after.
    pub changed: Vec<(String, String, String)>,
    /// Other reasons it changed (documents, artifacts, parent, base).
    pub other: Vec<String>,
}

/// The changelog between two locks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changelog {
    /// Every image that differs, by name.
    pub images: Vec<ImageDiff>,
}

/// The changelog from lock `a` to lock `b`.
pub fn diff(a: &LockFile, b: &LockFile) -> Changelog {
    let mut names: Vec<&String> = a.images.keys().chain(b.images.keys()).collect();
    names.sort();
    names.dedup();
    let mut images = Vec::new();
    for name in names {
        let before = a.images.get(name);
        let after = b.images.get(name);
        let mut entry = ImageDiff {
            name: name.clone(),
            from: before.map(|e| e.version.clone()),
            to: after.map(|e| e.version.clone()),
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
            other: Vec::new(),
        };
        match (before, after) {
            (Some(before), Some(after)) => {
                if before == after {
                    continue;
                }
                for change in crate::compare(before, after, None) {
                    use crate::Change;
                    match change {
                        Change::ComponentAdded { component, version } => {
                            entry.added.push((component, version))
                        }
                        Change::ComponentRemoved { component, version } => {
                            entry.removed.push((component, version))
                        }
                        Change::ComponentVersion {
                            component,
                            from,
                            to,
                            ..
                        } => entry.changed.push((component, from, to)),
                        other => entry.other.push(other.describe(&|_| None)),
                    }
                }
            }
            (None, Some(after)) => {
                entry.added = after
                    .components
                    .iter()
                    .map(|(n, c)| (n.clone(), c.version.clone()))
                    .collect();
            }
            (Some(before), None) => {
                entry.removed = before
                    .components
                    .iter()
                    .map(|(n, c)| (n.clone(), c.version.clone()))
                    .collect();
            }
            (None, None) => continue,
        }
        images.push(entry);
    }
    Changelog { images }
}

impl Changelog {
    /// The changelog as markdown: a section per image, a line per change.
    pub fn markdown(&self) -> String {
        let mut out = String::from("# Changes\n");
        if self.images.is_empty() {
            out.push_str("\nNo image changed.\n");
            return out;
        }
        for image in &self.images {
            let versions = match (&image.from, &image.to) {
                (Some(from), Some(to)) if from == to => to.clone(),
                (Some(from), Some(to)) => format!("{from} → {to}"),
                (None, Some(to)) => format!("new, {to}"),
                (Some(from), None) => format!("removed, was {from}"),
                (None, None) => String::new(),
            };
            let _ = write!(out, "\n## `{}` ({versions})\n\n", image.name);
            for (name, from, to) in &image.changed {
                let _ = writeln!(out, "- changed `{name}` {from} → {to}");
            }
            for (name, version) in &image.added {
                let _ = writeln!(out, "- added `{name}` {version}");
            }
            for (name, version) in &image.removed {
                let _ = writeln!(out, "- removed `{name}` {version}");
            }
            for other in &image.other {
                let _ = writeln!(out, "- {other}");
            }
        }
        out
    }
}
