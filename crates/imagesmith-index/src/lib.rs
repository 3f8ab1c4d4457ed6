//! The version index: every real upstream release of each component, where its versions come
//! from, and, where the vendor publishes them, its artifacts with their checksums.
//!
//! One JSON file per component (`index/<component>.json`), one release per line, sorted by
//! version, so a refresh shows as a few added lines in a diff. The built-in snapshot
//! (`catalog/index/` of the catalog crate) is embedded in the binary, so `validate` stays
//! offline; a project's own `index/` folder (written by `imagesmith index update`) replaces it
//! component by component.
//!
//! This crate is data and lookups only: no I/O but reading the project's files. Fetching the
//! sources lives in `imagesmith-sources`.
#![deny(missing_docs)]

mod version;

pub use version::{compare, prefix_matches};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The format version of index files.
pub const FORMAT: u32 = 1;

/// The project folder holding the index.
pub const INDEX_DIR: &str = "index";

/// The architecture assumed when a spec names none.
pub const DEFAULT_ARCH: &str = "x86_64";

/// Every release of one component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentIndex {
    /// [`FORMAT`].
    pub format: u32,
    /// The catalog component.
    pub component: String,
    /// Where the releases come from.
    pub source: Source,
    /// The published lists the releases were read from, by name and URL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cited: Vec<String>,
    /// When the releases were gathered, `YYYY-MM-DD`.
    pub updated: String,
    /// The list is known to be incomplete (the vendor publishes no full list): a version it
    /// lacks is judged by the catalog's `supported` patterns instead of being rejected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Final releases, oldest first.
    pub releases: Vec<Release>,
}

/// One release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The version as customers write it (`1.6.6`, no `v`).
    pub version: String,
    /// The release date, `YYYY-MM-DD`, when the source says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Artifacts by `<os or family>/<arch>` (`linux/x86_64`, `debian12/arm64`). A release with
    /// none is available everywhere the component is.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, ArtifactRef>,
    /// The vendor's build id, where its download names one (Splunk's build hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// Why the release must never be installed (a malicious or broken build), when it must
    /// not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    /// The release existed but its vendor downloads were pulled: it is still a real release,
    /// obtainable only from a mirror that kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<Withdrawn>,
}

impl Release {
    /// Whether the vendor still serves it and it may be installed: neither revoked nor
    /// withdrawn.
    pub fn obtainable(&self) -> bool {
        self.revoked.is_none() && self.withdrawn.is_none()
    }
}

/// Why and since when a release's vendor downloads are gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Withdrawn {
    /// What happened, as the vendor or an advisory says it.
    pub reason: String,
    /// The day the downloads went, `YYYY-MM-DD`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// A release artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactRef {
    /// Where the vendor publishes it (before the project's mirrors).
    pub url: String,
    /// Its SHA-256, hex, as the vendor published it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Where a component's versions come from. Every URL is the vendor's default unless `url` is
/// given; the project's `mirrors` rewrite them when fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// GitHub releases of a repository (the REST API's `releases` list).
    GithubReleases {
        /// `owner/name`.
        repository: String,
        /// The release asset holding checksums (`checksums.txt`, `{{ version }}` allowed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checksum_asset: Option<String>,
        /// The API base, `https://api.github.com` by default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// The HashiCorp releases index (`releases.hashicorp.com/<product>/index.json`).
    Hashicorp {
        /// The product (`terraform`).
        product: String,
        /// The base, `https://releases.hashicorp.com` by default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// A PyPI project (the JSON API).
    Pypi {
        /// The project name.
        package: String,
        /// The base, `https://pypi.org` by default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// An npm package (its packument).
    Npm {
        /// The package name.
        package: String,
        /// The registry, `https://registry.npmjs.org` by default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// The Node.js dist index (`index.json`) and each release's `SHASUMS256.txt`.
    NodejsDist {
        /// The base, `https://nodejs.org/dist` by default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Amazon Corretto releases of one major line (GitHub releases of `corretto/corretto-<major>`).
    Corretto {
        /// The major line (`21`).
        major: String,
        /// The API base, `https://api.github.com` by default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// The AWS CLI v2 changelog (`CHANGELOG.rst` of the `v2` branch).
    AwsCli {
        /// The changelog URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// An apt repository's `Packages` index of one suite.
    Apt {
        /// The archive root (`https://deb.debian.org/debian`).
        url: String,
        /// The suite (`bookworm`).
        suite: String,
        /// The archive component (`main`).
        component: String,
        /// The binary package.
        package: String,
        /// The OS the packages are for (`debian12`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        os: Option<String>,
    },
    /// A dnf repository's `repomd.xml` and `primary.xml`.
    Dnf {
        /// The repository root (the folder holding `repodata/`).
        url: String,
        /// The package.
        package: String,
        /// The OS the packages are for (`amazonlinux2023`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        os: Option<String>,
    },
    /// The tags of an OCI registry repository.
    Registry {
        /// The registry (`https://public.ecr.aws`).
        registry: String,
        /// The repository (`amazonlinux/amazonlinux`).
        repository: String,
    },
    /// A vendor that publishes no open list: what it publishes and how a build hash or checksum
    /// is had.
    Vendor {
        /// What the vendor publishes.
        description: String,
    },
}

impl Source {
    /// The kind, as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::GithubReleases { .. } => "github_releases",
            Source::Hashicorp { .. } => "hashicorp",
            Source::Pypi { .. } => "pypi",
            Source::Npm { .. } => "npm",
            Source::NodejsDist { .. } => "nodejs_dist",
            Source::Corretto { .. } => "corretto",
            Source::AwsCli { .. } => "aws_cli",
            Source::Apt { .. } => "apt",
            Source::Dnf { .. } => "dnf",
            Source::Registry { .. } => "registry",
            Source::Vendor { .. } => "vendor",
        }
    }
}

/// Where an index file came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Embedded in the binary.
    Builtin,
    /// A project file.
    Project(PathBuf),
}

/// A bad index file.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// It could not be read.
    #[error("Cannot read the index file `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is not an index file.
    #[error("The index file `{path}` is not valid: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The release that a requested version resolves to, on one OS and architecture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match<'i> {
    /// The release.
    pub release: &'i Release,
    /// Its artifact there, when the index records one.
    pub artifact: Option<&'i ArtifactRef>,
}

/// Where releases are looked for: an OS, its family and an architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The OS id (`debian12`).
    pub os: &'a str,
    /// `linux` or `windows`.
    pub family: &'a str,
    /// `x86_64` or `arm64`.
    pub arch: &'a str,
}

impl Target<'_> {
    fn keys(&self) -> [String; 2] {
        [
            format!("{}/{}", self.os, self.arch),
            format!("{}/{}", self.family, self.arch),
        ]
    }
}

impl ComponentIndex {
    /// Parses an index file, checking what serde cannot: the format, sorted unique versions,
    /// dates and checksums.
    pub fn parse(path: &str, text: &str) -> Result<ComponentIndex, IndexError> {
        let invalid = |message: String| IndexError::Invalid {
            path: path.to_string(),
            message,
        };
        let index: ComponentIndex =
            serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if index.format != FORMAT {
            return Err(invalid(format!(
                "format {} is not {FORMAT}, the one this imagesmith reads",
                index.format
            )));
        }
        for pair in index.releases.windows(2) {
            if compare(&pair[0].version, &pair[1].version).is_ge() {
                return Err(invalid(format!(
                    "releases are not sorted and unique: `{}` before `{}`",
                    pair[0].version, pair[1].version
                )));
            }
        }
        for release in &index.releases {
            if release.version.is_empty() || release.version.starts_with(['v', 'V']) {
                return Err(invalid(format!(
                    "`{}` is not a version as customers write it",
                    release.version
                )));
            }
            if let Some(date) = &release.date {
                if !imagesmith_model::decode::is_date(date) {
                    return Err(invalid(format!(
                        "release `{}` has the date `{date}`, not YYYY-MM-DD",
                        release.version
                    )));
                }
            }
            if let Some(withdrawn) = &release.withdrawn {
                if withdrawn.reason.trim().is_empty() {
                    return Err(invalid(format!(
                        "release `{}` is withdrawn with an empty `reason`",
                        release.version
                    )));
                }
                if let Some(since) = withdrawn
                    .since
                    .as_ref()
                    .filter(|d| !imagesmith_model::decode::is_date(d))
                {
                    return Err(invalid(format!(
                        "release `{}` is withdrawn since `{since}`, not YYYY-MM-DD",
                        release.version
                    )));
                }
            }
            for (key, artifact) in &release.artifacts {
                if let Some(sha) = &artifact.sha256 {
                    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(invalid(format!(
                            "release `{}` artifact `{key}` has a sha256 that is not 64 hex digits",
                            release.version
                        )));
                    }
                }
            }
        }
        Ok(index)
    }

    /// The file text: pretty-printed, one release per line, a trailing newline.
    pub fn to_text(&self) -> String {
        let mut head = self.clone();
        head.releases.clear();
        let head = serde_json::to_string_pretty(&head).unwrap_or_default();
        let Some(open) = head.rfind("\"releases\": []") else {
            return head;
        };
        let mut out = String::with_capacity(head.len() + self.releases.len() * 64);
        out.push_str(&head[..open]);
        out.push_str("\"releases\": [");
        for (i, release) in self.releases.iter().enumerate() {
            let line = one_line(release);
            let _ = write!(
                out,
                "\n    {}{}",
                line,
                if i + 1 < self.releases.len() { "," } else { "" }
            );
        }
        if !self.releases.is_empty() {
            out.push_str("\n  ");
        }
        out.push(']');
        out.push_str(&head[open + "\"releases\": []".len()..]);
        out.push('\n');
        out
    }

    /// Sorts releases and drops repeated versions (the first seen wins).
    pub fn normalize(&mut self) {
        self.releases
            .sort_by(|a, b| compare(&a.version, &b.version));
        self.releases.dedup_by(|b, a| a.version == b.version);
    }

    /// The releases available on `target`: those with an artifact for its OS or family and
    /// architecture, and those recording no artifacts at all.
    pub fn available<'i>(&'i self, target: Target<'_>) -> impl Iterator<Item = &'i Release> + 'i {
        let keys = target.keys();
        self.releases.iter().filter(move |r| {
            r.artifacts.is_empty() || keys.iter().any(|k| r.artifacts.contains_key(k))
        })
    }

    /// Resolves `requested` on `target`: the release of exactly that version, else the newest
    /// one it is a prefix of (`3.12` → `3.12.8`, `1.7` → `1.7.5`, `20` → `20.19.5`).
    /// Revoked releases are matched only exactly, so a prefix never lands on one; a prefix
    /// lands on a withdrawn release only when no obtainable one matches it.
    pub fn resolve<'i>(&'i self, requested: &str, target: Target<'_>) -> Option<Match<'i>> {
        let mut best: Option<&Release> = None;
        let mut withdrawn: Option<&Release> = None;
        for release in self.available(target) {
            if release.version == requested {
                best = Some(release);
                withdrawn = None;
                break;
            }
            if release.revoked.is_none() && prefix_matches(requested, &release.version) {
                if release.withdrawn.is_none() {
                    best = Some(release);
                } else {
                    withdrawn = Some(release);
                }
            }
        }
        best.or(withdrawn).map(|release| Match {
            release,
            artifact: artifact_of(release, target),
        })
    }

    /// The newest obtainable release on `target` (neither revoked nor withdrawn), or the
    /// newest of those that `within` is a prefix of.
    pub fn newest<'i>(&'i self, target: Target<'_>, within: Option<&str>) -> Option<&'i Release> {
        self.available(target)
            .filter(|r| r.obtainable())
            .filter(|r| within.is_none_or(|w| prefix_matches(w, &r.version)))
            .last()
    }

    /// Up to `n` obtainable versions nearest `requested` on `target`: the newest below it and
    /// the oldest above it, alternately, in version order.
    pub fn nearest(&self, requested: &str, target: Target<'_>, n: usize) -> Vec<&str> {
        let versions: Vec<&str> = self
            .available(target)
            .filter(|r| r.obtainable())
            .map(|r| r.version.as_str())
            .collect();
        let split = versions.partition_point(|v| compare(v, requested).is_lt());
        let (mut below, mut above) = (split, split);
        let mut out = Vec::new();
        while out.len() < n && (below > 0 || above < versions.len()) {
            if below > 0 {
                below -= 1;
                out.push(versions[below]);
            }
            if out.len() < n && above < versions.len() {
                out.push(versions[above]);
                above += 1;
            }
        }
        out.sort_by(|a, b| compare(a, b));
        out
    }
}

impl ComponentIndex {
    /// The obtainable release closest to `version` on `target` that `allowed` accepts (the
    /// catalog's own revoked list): the oldest newer one, else the newest older one. What a
    /// withdrawn pin is told to move to.
    pub fn nearest_obtainable<'i>(
        &'i self,
        version: &str,
        target: Target<'_>,
        allowed: impl Fn(&Release) -> bool,
    ) -> Option<&'i Release> {
        let candidates: Vec<&Release> = self
            .available(target)
            .filter(|r| r.obtainable() && r.version != version && allowed(r))
            .collect();
        candidates
            .iter()
            .find(|r| compare(&r.version, version).is_gt())
            .or_else(|| {
                candidates
                    .iter()
                    .rev()
                    .find(|r| compare(&r.version, version).is_lt())
            })
            .copied()
    }
}

/// The artifact of `release` on `target`: for its OS first, then its family.
pub fn artifact_of<'i>(release: &'i Release, target: Target<'_>) -> Option<&'i ArtifactRef> {
    target.keys().iter().find_map(|k| release.artifacts.get(k))
}

/// `value` as JSON on one line with a space after `:` and `,` (`{"version": "1.6.6"}`).
fn one_line<T: Serialize>(value: &T) -> String {
    struct Spaced;
    impl serde_json::ser::Formatter for Spaced {
        fn begin_object_key<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            separate(writer, first)
        }
        fn begin_object_value<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
        ) -> std::io::Result<()> {
            writer.write_all(b": ")
        }
        fn begin_array_value<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            separate(writer, first)
        }
    }
    fn separate<W: ?Sized + std::io::Write>(writer: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, Spaced);
    if value.serialize(&mut serializer).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Rewrites `url` by the first mirror whose prefix it starts with (Artifactory/Nexus: the
/// vendor URL `https://releases.hashicorp.com/` served as `https://artifactory/hashicorp/`).
/// One rule for every URL imagesmith fetches: version sources, checksum files, downloads.
pub fn rewrite(mirrors: &IndexMap<String, String>, url: &str) -> String {
    for (from, to) in mirrors {
        if let Some(rest) = url.strip_prefix(from.as_str()) {
            return format!("{to}{rest}");
        }
    }
    url.to_string()
}

/// The indexes of every component that has one, with where each came from.
#[derive(Debug, Clone, Default)]
pub struct Index {
    components: IndexMap<String, (Arc<ComponentIndex>, Origin)>,
}

impl Index {
    /// The built-in snapshot, parsed once per process.
    ///
    /// The embedded files are checked by this crate's tests, so a broken one is skipped here
    /// rather than stopping every command.
    pub fn builtin() -> &'static Index {
        static BUILTIN: OnceLock<Index> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let mut index = Index::default();
            for (path, result) in builtin_files() {
                if let Ok(component) = result {
                    let _ = path;
                    index.insert(component, Origin::Builtin);
                }
            }
            index
        })
    }

    /// The built-in snapshot with the project's `index/*.json` files on top: a project file
    /// replaces the built-in entry of its component.
    pub fn for_project(root: &Path) -> Result<Index, IndexError> {
        let mut index = Index::builtin().clone();
        for (path, component) in read_dir(&root.join(INDEX_DIR))? {
            index.insert(component, Origin::Project(path));
        }
        Ok(index)
    }

    /// Adds or replaces a component's index.
    pub fn insert(&mut self, component: ComponentIndex, origin: Origin) {
        self.components
            .insert(component.component.clone(), (Arc::new(component), origin));
    }

    /// The index of `component`, if it has one with releases.
    pub fn get(&self, component: &str) -> Option<&ComponentIndex> {
        self.components
            .get(component)
            .map(|(c, _)| c.as_ref())
            .filter(|c| !c.releases.is_empty())
    }

    /// The index of `component` even when it lists no releases (a vendor source).
    pub fn entry(&self, component: &str) -> Option<(&ComponentIndex, &Origin)> {
        self.components
            .get(component)
            .map(|(c, origin)| (c.as_ref(), origin))
    }

    /// Every component's index, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&ComponentIndex, &Origin)> {
        self.components.values().map(|(c, o)| (c.as_ref(), o))
    }

    /// How many components have an index.
    pub fn len(&self) -> usize {
        self.components.len()
    }

    /// Whether none has.
    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }
}

/// Every built-in index file, parsed (for tests and `index` listings).
pub fn builtin_files() -> Vec<(String, Result<ComponentIndex, IndexError>)> {
    imagesmith_catalog::embedded_files(INDEX_DIR)
        .into_iter()
        .filter(|f| f.path.ends_with(".json"))
        .map(|f| {
            let path = format!("{}/{}", imagesmith_catalog::BUILT_IN, f.path);
            let parsed = ComponentIndex::parse(&path, f.text);
            (path, parsed)
        })
        .collect()
}

/// Reads every `*.json` file of a project's index folder, sorted by name; a missing folder is
/// an empty index.
pub fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, ComponentIndex)>, IndexError> {
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(IndexError::Read {
                path: dir.display().to_string(),
                source,
            })
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let shown = path.display().to_string();
        let text = fs_err::read_to_string(&path).map_err(|source| IndexError::Read {
            path: shown.clone(),
            source,
        })?;
        let component = ComponentIndex::parse(&shown, &text)?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if stem != component.component {
            return Err(IndexError::Invalid {
                path: shown,
                message: format!(
                    "it is the index of `{}`; name it `{}.json`",
                    component.component, component.component
                ),
            });
        }
        out.push((path, component));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
