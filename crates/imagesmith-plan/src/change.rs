//! What changed in an image between two locks, and the version that follows from it.

use crate::lockfile::{ImageEntry, LockFile};
use crate::DecidedBy;
use serde::Serialize;
use std::cmp::Ordering;

/// How much a change moves an image's semantic version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The same inputs rebuilt on a newer parent or base.
    Patch,
    /// A component added or upgraded, a document, artifact or setting changed.
    Minor,
    /// A new base OS, a component removed, or a component's major version changed.
    Major,
}

/// One reason an image differs from its previous lock entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    /// The image is not in the previous lock.
    Added,
    /// A component was added.
    ComponentAdded {
        /// The component.
        component: String,
        /// Its version.
        version: String,
    },
    /// A component was removed.
    ComponentRemoved {
        /// The component.
        component: String,
        /// The version it had.
        version: String,
    },
    /// A component's version changed.
    ComponentVersion {
        /// The component.
        component: String,
        /// The version before.
        from: String,
        /// The version now.
        to: String,
        /// The place that decides it now (`imagesmith.yaml#defaults.terraform`).
        decided_by: String,
        /// Whether the major version changed (or the version went down).
        major: bool,
    },
    /// A component's AWSTOE document changed.
    Document {
        /// The component.
        component: String,
    },
    /// A component's artifact (URL, checksum, packages) or parameters changed.
    Artifact {
        /// The component.
        component: String,
    },
    /// The base reference or OS changed.
    Base {
        /// Before.
        from: String,
        /// Now.
        to: String,
    },
    /// The base reference now resolves to another digest.
    BaseDigest {
        /// Before.
        from: String,
        /// Now.
        to: String,
    },
    /// The golden parent changed.
    Parent {
        /// The parent.
        parent: String,
        /// Its version before.
        from: String,
        /// Its version now.
        to: String,
        /// How much the parent changed.
        level: Level,
    },
    /// The image's labels, environment or user changed.
    Settings,
}

impl Change {
    /// How much the change moves the version.
    pub fn level(&self) -> Level {
        match self {
            Change::Added | Change::Base { .. } | Change::ComponentRemoved { .. } => Level::Major,
            Change::ComponentVersion { major: true, .. } => Level::Major,
            Change::ComponentVersion { .. }
            | Change::ComponentAdded { .. }
            | Change::Document { .. }
            | Change::Artifact { .. }
            | Change::Settings => Level::Minor,
            Change::BaseDigest { .. } => Level::Patch,
            Change::Parent { level, .. } => {
                if *level == Level::Major {
                    Level::Major
                } else {
                    Level::Patch
                }
            }
        }
    }

    /// The change in words; `locate` turns a `FILE#keys` place into `FILE:LINE` where it can.
    pub fn describe(&self, locate: &dyn Fn(&DecidedBy) -> Option<String>) -> String {
        match self {
            Change::Added => "new image (not in the lock)".to_string(),
            Change::ComponentAdded { component, version } => {
                format!("component `{component}` {version} added")
            }
            Change::ComponentRemoved { component, version } => {
                format!("component `{component}` {version} removed")
            }
            Change::ComponentVersion {
                component,
                from,
                to,
                decided_by,
                ..
            } => {
                let place = DecidedBy::parse(decided_by);
                let shown = locate(&place).unwrap_or_else(|| place.file.clone());
                let through = match place.keys.first().map(String::as_str) {
                    Some("defaults") => "default",
                    Some("versions") | Some("platforms") => "catalog default",
                    _ => "version",
                };
                format!("`{component}` {through} {from} -> {to} in {shown}")
            }
            Change::Document { component } => {
                format!("the AWSTOE document of `{component}` changed")
            }
            Change::Artifact { component } => {
                format!("the artifact or parameters of `{component}` changed")
            }
            Change::Base { from, to } => format!("base `{from}` -> `{to}`"),
            Change::BaseDigest { from, to } => format!("base digest moved {from} -> {to}"),
            Change::Parent {
                parent, from, to, ..
            } => format!("parent changed: `{parent}` {from} -> {to}"),
            Change::Settings => "labels, environment or user changed".to_string(),
        }
    }
}

fn major_of(version: &str) -> &str {
    version
        .split(['.', '-', '+', '~'])
        .next()
        .unwrap_or(version)
}

/// Every difference between an image's previous entry and its new one (versions and tags
/// aside: they follow from the differences). `parent_level` is how much its golden parent
/// changed, if it did.
pub fn compare(old: &ImageEntry, new: &ImageEntry, parent_level: Option<Level>) -> Vec<Change> {
    let mut changes = Vec::new();
    // A base is its name; `name@sha256:…` pins a digest of it, and a new digest of the same
    // name is the same inputs on a newer base.
    let name = |base: &Option<String>| {
        base.as_deref()
            .map(|r| r.split_once('@').map_or(r, |(name, _)| name).to_string())
    };
    if old.os != new.os || name(&old.parent.base) != name(&new.parent.base) {
        changes.push(Change::Base {
            from: old.parent.base.clone().unwrap_or_else(|| old.os.clone()),
            to: new.parent.base.clone().unwrap_or_else(|| new.os.clone()),
        });
    } else if old.parent.base.is_some() && old.parent.digest != new.parent.digest {
        let shown = |d: &Option<String>| d.clone().unwrap_or_else(|| "(unpinned)".into());
        changes.push(Change::BaseDigest {
            from: shown(&old.parent.digest),
            to: shown(&new.parent.digest),
        });
    }
    if let Some(parent) = &new.parent.golden {
        if old.parent.golden.as_ref() != Some(parent) {
            changes.push(Change::Base {
                from: old
                    .parent
                    .golden
                    .clone()
                    .or_else(|| old.parent.base.clone())
                    .unwrap_or_default(),
                to: parent.clone(),
            });
        } else if old.parent.digest != new.parent.digest {
            changes.push(Change::Parent {
                parent: parent.clone(),
                from: old.parent.version.clone().unwrap_or_default(),
                to: new.parent.version.clone().unwrap_or_default(),
                level: parent_level.unwrap_or(Level::Patch),
            });
        }
    }
    for (name, was) in &old.components {
        match new.components.get(name) {
            None => changes.push(Change::ComponentRemoved {
                component: name.clone(),
                version: was.version.clone(),
            }),
            Some(now) => {
                if was.version != now.version {
                    let down = imagesmith_validate::versions::compare(&now.version, &was.version)
                        == Ordering::Less;
                    changes.push(Change::ComponentVersion {
                        component: name.clone(),
                        from: was.version.clone(),
                        to: now.version.clone(),
                        decided_by: now.decided_by.clone(),
                        major: down || major_of(&was.version) != major_of(&now.version),
                    });
                } else if was.document != now.document {
                    changes.push(Change::Document {
                        component: name.clone(),
                    });
                } else if was.digest != now.digest {
                    changes.push(Change::Artifact {
                        component: name.clone(),
                    });
                }
            }
        }
    }
    for (name, now) in &new.components {
        if !old.components.contains_key(name) {
            changes.push(Change::ComponentAdded {
                component: name.clone(),
                version: now.version.clone(),
            });
        }
    }
    if old.labels != new.labels || old.environment != new.environment || old.user != new.user {
        changes.push(Change::Settings);
    }
    if changes.is_empty() && old.digest != new.digest {
        // Something the entry does not show (the order of components, say) changed.
        changes.push(Change::Settings);
    }
    changes
}

/// The version after `level` of change from `previous`; at least `declared` when the document
/// declares one. A new image starts at its declared version, or `1.0.0`.
pub fn next_version(
    previous: Option<&str>,
    level: Option<Level>,
    declared: Option<&str>,
) -> String {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let mut parts = v.split('.').map(|p| p.parse::<u64>().ok());
        let major = parts.next()??;
        let minor = parts.next().flatten().unwrap_or(0);
        let patch = parts.next().flatten().unwrap_or(0);
        Some((major, minor, patch))
    };
    let declared_parsed = declared.and_then(parse);
    let next = match previous.and_then(parse) {
        None => declared_parsed.unwrap_or((1, 0, 0)),
        Some((major, minor, patch)) => match level {
            None => (major, minor, patch),
            Some(Level::Patch) => (major, minor, patch + 1),
            Some(Level::Minor) => (major, minor + 1, 0),
            Some(Level::Major) => (major + 1, 0, 0),
        },
    };
    let next = match declared_parsed {
        Some(declared) if declared > next => declared,
        _ => next,
    };
    format!("{}.{}.{}", next.0, next.1, next.2)
}

/// One image of a plan: whether it changes against the lock, why, and its version and tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageChange {
    /// The image.
    pub name: String,
    /// Whether it differs from the lock.
    pub changed: bool,
    /// Why, in words.
    pub reasons: Vec<String>,
    /// The reasons, as data.
    #[serde(skip)]
    pub changes: Vec<Change>,
    /// Its version (the next one when it changed).
    pub version: String,
    /// The version in the lock, when it was there.
    pub previous_version: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
}

/// Every image of `new` against `old` (no lock at all: every image is new), in `new`'s
/// build order; images of `old` that are gone are listed at the end as removed.
pub fn changes(
    old: Option<&LockFile>,
    new: &LockFile,
    order: &[String],
    locate: &dyn Fn(&DecidedBy) -> Option<String>,
) -> Vec<ImageChange> {
    let mut levels: std::collections::HashMap<&str, Level> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for name in order {
        let Some(entry) = new.images.get(name) else {
            continue;
        };
        let previous = old.and_then(|o| o.images.get(name));
        let parent_level = entry
            .parent
            .golden
            .as_deref()
            .and_then(|p| levels.get(p).copied());
        let list = match previous {
            None => vec![Change::Added],
            Some(previous) => compare(previous, entry, parent_level),
        };
        if let Some(level) = list.iter().map(Change::level).max() {
            levels.insert(name.as_str(), level);
        }
        out.push(ImageChange {
            name: name.clone(),
            changed: !list.is_empty(),
            reasons: list.iter().map(|c| c.describe(locate)).collect(),
            changes: list,
            version: entry.version.clone(),
            previous_version: previous.map(|p| p.version.clone()),
            tags: entry.tags.clone(),
        });
    }
    if let Some(old) = old {
        for (name, entry) in &old.images {
            if !new.images.contains_key(name) {
                out.push(ImageChange {
                    name: name.clone(),
                    changed: true,
                    reasons: vec!["removed from the project".to_string()],
                    changes: Vec::new(),
                    version: entry.version.clone(),
                    previous_version: Some(entry.version.clone()),
                    tags: Vec::new(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(base: &str) -> ImageEntry {
        serde_json::from_value(serde_json::json!({
            "role": "golden", "type": "container", "os": "debian12", "source": "r.yaml",
            "parent": {"base": base, "digest": base.split_once('@').map(|(_, d)| d)},
            "version": "1.0.0", "tags": [], "digest": base, "components": {}
        }))
        .unwrap()
    }

    #[test]
    fn a_new_digest_of_the_same_base_is_a_patch_and_a_new_base_a_major() {
        let old = golden("registry.corp/debian@sha256:aaaa");
        let moved = compare(&old, &golden("registry.corp/debian@sha256:bbbb"), None);
        assert_eq!(
            moved,
            [Change::BaseDigest {
                from: "sha256:aaaa".into(),
                to: "sha256:bbbb".into()
            }]
        );
        assert_eq!(moved[0].level(), Level::Patch);
        let other = compare(&old, &golden("registry.corp/ubuntu@sha256:aaaa"), None);
        assert_eq!(other[0].level(), Level::Major);
    }

    #[test]
    fn versions_follow_the_level_of_change() {
        assert_eq!(next_version(None, None, None), "1.0.0");
        assert_eq!(next_version(None, None, Some("2.1.0")), "2.1.0");
        assert_eq!(next_version(Some("1.4.2"), None, None), "1.4.2");
        assert_eq!(
            next_version(Some("1.4.2"), Some(Level::Patch), None),
            "1.4.3"
        );
        assert_eq!(
            next_version(Some("1.4.2"), Some(Level::Minor), None),
            "1.5.0"
        );
        assert_eq!(
            next_version(Some("1.4.2"), Some(Level::Major), None),
            "2.0.0"
        );
        // A declared version higher than the computed one wins.
        assert_eq!(
            next_version(Some("1.4.2"), Some(Level::Minor), Some("3.0.0")),
            "3.0.0"
        );
        assert_eq!(
            next_version(Some("1.4.2"), Some(Level::Minor), Some("1.0.0")),
            "1.5.0"
        );
    }
}
