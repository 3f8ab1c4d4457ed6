//! PyPI: the JSON API `{base}/pypi/{package}/json`
//! (<https://docs.pypi.org/api/json/>).
//!
//! The date is the first upload of a release. A release whose files are all yanked is revoked
//! with the yank reason. Only a pure-Python wheel (`…-none-any.whl`) is recorded as an artifact,
//! for `linux` and `windows` on both architectures: for platform wheels pip picks the file
//! by interpreter, so those releases record none (available everywhere).

use crate::http::Http;
use crate::util::{date_of, is_sha256};
use crate::{Context, SourceError, VersionSource};
use imagesmith_index::{ArtifactRef, Release};
use serde::Deserialize;
use std::collections::BTreeMap;

pub(crate) const BASE: &str = "https://pypi.org";

pub(crate) struct Pypi<'a> {
    pub package: &'a str,
    pub base: Option<&'a str>,
}

#[derive(Deserialize)]
struct Project {
    releases: BTreeMap<String, Vec<File>>,
}

#[derive(Deserialize)]
struct File {
    filename: String,
    url: String,
    #[serde(default)]
    digests: BTreeMap<String, String>,
    #[serde(default)]
    upload_time_iso_8601: Option<String>,
    #[serde(default)]
    yanked: bool,
    #[serde(default)]
    yanked_reason: Option<String>,
}

impl VersionSource for Pypi<'_> {
    fn releases(&self, http: &Http, ctx: &Context<'_>) -> Result<Vec<Release>, SourceError> {
        if self.package.is_empty()
            || !self
                .package
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(SourceError::Config {
                kind: "pypi",
                message: format!("`{}` is not a PyPI project name", self.package),
            });
        }
        let base = self.base.unwrap_or(BASE).trim_end_matches('/');
        let project: Project = http
            .get(
                ctx,
                &format!("{base}/pypi/{}/json", self.package),
                Some("application/json"),
            )?
            .json()?;
        Ok(project
            .releases
            .iter()
            // A version with no files was never downloadable.
            .filter(|(version, files)| !files.is_empty() && !is_prerelease(version))
            .map(|(version, files)| release(version, files))
            .collect())
    }
}

fn release(version: &str, files: &[File]) -> Release {
    let date = files
        .iter()
        .filter_map(|f| f.upload_time_iso_8601.as_deref().and_then(date_of))
        .min();
    let revoked = files.iter().all(|f| f.yanked).then(|| {
        files
            .iter()
            .find_map(|f| f.yanked_reason.clone().filter(|r| !r.trim().is_empty()))
            .unwrap_or_else(|| "yanked on PyPI".to_string())
    });
    let mut artifacts = BTreeMap::new();
    if let Some(wheel) = files
        .iter()
        .find(|f| !f.yanked && f.filename.ends_with("-none-any.whl"))
    {
        let sha256 = wheel
            .digests
            .get("sha256")
            .filter(|h| is_sha256(h))
            .map(|h| h.to_ascii_lowercase());
        for key in [
            "linux/x86_64",
            "linux/arm64",
            "windows/x86_64",
            "windows/arm64",
        ] {
            artifacts.insert(
                key.to_string(),
                ArtifactRef {
                    url: wheel.url.clone(),
                    sha256: sha256.clone(),
                },
            );
        }
    }
    Release {
        version: version.to_string(),
        date,
        artifacts,
        build: None,
        revoked,
        withdrawn: None,
    }
}

/// A PEP 440 pre-release or development release (`1.0a1`, `2.0b2`, `3.0rc1`, `1.0.dev3`,
/// `1.0c1`, also the spellings `alpha`, `beta`, `pre`, `preview`); `.post1` is final.
pub(crate) fn is_prerelease(version: &str) -> bool {
    let lower = version.to_ascii_lowercase();
    let public = lower.split('+').next().unwrap_or(&lower);
    public
        .split(|c: char| !c.is_ascii_alphabetic())
        .any(|word| {
            matches!(
                word,
                "a" | "b" | "c" | "rc" | "alpha" | "beta" | "pre" | "preview" | "dev"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep440_prereleases() {
        for v in [
            "1.0a1",
            "2.0b2",
            "3.0rc1",
            "1.0.dev3",
            "1.0-alpha.1",
            "1.0c1",
            "2.0.0.preview1",
        ] {
            assert!(is_prerelease(v), "{v}");
        }
        for v in ["1.0", "1.0.post1", "2024.1.15", "1.0+local.abc"] {
            assert!(!is_prerelease(v), "{v}");
        }
    }
}
