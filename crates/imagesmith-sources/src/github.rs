//! GitHub releases: the REST API's "List releases"
//! (<https://docs.github.com/en/rest/releases/releases#list-releases>), paged by `Link`.

use crate::http::Http;
use crate::util::{date_of, is_sha256, parse_checksums, platform_key, strip_v};
use crate::{Context, SourceError, VersionSource};
use imagesmith_index::{compare, ArtifactRef, Release};
use serde::Deserialize;
use std::collections::BTreeMap;

pub(crate) const API: &str = "https://api.github.com";

/// Pages followed at most (100 releases each).
const MAX_PAGES: usize = 50;

pub(crate) struct GithubReleases<'a> {
    pub repository: &'a str,
    pub checksum_asset: Option<&'a str>,
    pub api: Option<&'a str>,
}

/// The fields of a release object that are read.
#[derive(Debug, Deserialize)]
pub(crate) struct GhRelease {
    pub tag_name: String,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub prerelease: bool,
    #[serde(default)]
    pub published_at: Option<String>,
    #[serde(default)]
    pub assets: Vec<GhAsset>,
    #[serde(default)]
    pub body: Option<String>,
}

/// A release asset.
#[derive(Debug, Deserialize)]
pub(crate) struct GhAsset {
    pub name: String,
    pub browser_download_url: String,
}

/// Every release of `repository`, drafts and pre-releases dropped.
pub(crate) fn list(
    http: &Http,
    ctx: &Context<'_>,
    api: Option<&str>,
    repository: &str,
) -> Result<Vec<GhRelease>, SourceError> {
    let valid = repository.split_once('/').is_some_and(|(owner, name)| {
        let ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        ok(owner) && ok(name)
    });
    if !valid {
        return Err(SourceError::Config {
            kind: "github_releases",
            message: format!("`{repository}` is not `owner/name`"),
        });
    }
    let api = api.unwrap_or(API).trim_end_matches('/');
    let mut url = format!("{api}/repos/{repository}/releases?per_page=100");
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let answer = http.get(ctx, &url, Some("application/vnd.github+json"))?;
        let page: Vec<GhRelease> = answer.json()?;
        out.extend(page.into_iter().filter(|r| !r.draft && !r.prerelease));
        match answer.next_link() {
            // The next page is named by the vendor's URL; it goes through the mirrors again.
            Some(next) => url = next,
            None => break,
        }
    }
    Ok(out)
}

impl VersionSource for GithubReleases<'_> {
    fn releases(&self, http: &Http, ctx: &Context<'_>) -> Result<Vec<Release>, SourceError> {
        let listed = list(http, ctx, self.api, self.repository)?;
        let mut releases: Vec<(Release, &GhRelease)> = listed
            .iter()
            .filter_map(|gh| {
                let version = strip_v(&gh.tag_name);
                if !version.starts_with(|c: char| c.is_ascii_digit()) {
                    return None;
                }
                Some((
                    Release {
                        version: version.to_string(),
                        date: gh.published_at.as_deref().and_then(date_of),
                        artifacts: artifacts(&gh.assets),
                        build: None,
                        revoked: None,
                        withdrawn: None,
                    },
                    gh,
                ))
            })
            .collect();
        if let Some(pattern) = self.checksum_asset {
            releases.sort_by(|a, b| compare(&b.0.version, &a.0.version));
            for (release, gh) in releases.iter_mut().take(ctx.newest_with_checksums) {
                let name = pattern
                    .replace("{{ version }}", &release.version)
                    .replace("{{version}}", &release.version);
                let Some(asset) = gh.assets.iter().find(|a| a.name == name) else {
                    continue;
                };
                let Some(answer) = http.get_optional(ctx, &asset.browser_download_url)? else {
                    continue;
                };
                let sums = parse_checksums(answer.text()?);
                fill(&mut release.artifacts, &sums);
            }
        }
        Ok(releases.into_iter().map(|(r, _)| r).collect())
    }
}

/// Sets the sha256 of each artifact whose file name the checksums list.
pub(crate) fn fill(artifacts: &mut BTreeMap<String, ArtifactRef>, sums: &BTreeMap<String, String>) {
    for artifact in artifacts.values_mut() {
        let file = artifact.url.rsplit('/').next().unwrap_or_default();
        if let Some(hex) = sums.get(file).filter(|h| is_sha256(h)) {
            artifact.sha256 = Some(hex.clone());
        }
    }
}

/// Assets by platform: the download archive of each recognizable platform, not signatures,
/// checksums, SBOMs or OS packages.
fn artifacts(assets: &[GhAsset]) -> BTreeMap<String, ArtifactRef> {
    let mut best: BTreeMap<String, (usize, &GhAsset)> = BTreeMap::new();
    for asset in assets {
        let Some(rank) = rank(&asset.name) else {
            continue;
        };
        let Some(key) = platform_key(&asset.name) else {
            continue;
        };
        if best.get(&key).is_none_or(|(r, _)| rank < *r) {
            best.insert(key, (rank, asset));
        }
    }
    best.into_iter()
        .map(|(key, (_, asset))| {
            (
                key,
                ArtifactRef {
                    url: asset.browser_download_url.clone(),
                    sha256: None,
                },
            )
        })
        .collect()
}

/// Lower is preferred; `None` is not a download.
fn rank(name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    const SKIP: &[&str] = &[
        ".sig",
        ".asc",
        ".pem",
        ".cert",
        ".crt",
        ".sha256",
        ".sha256sum",
        ".sha512",
        ".md5",
        ".sbom",
        ".spdx",
        ".json",
        ".jsonl",
        ".txt",
        ".deb",
        ".rpm",
        ".apk",
        ".pkg",
        ".dmg",
        ".bundle",
        ".pub",
    ];
    if SKIP.iter().any(|s| lower.ends_with(s)) {
        return None;
    }
    const PREFERRED: &[&str] = &[".tar.gz", ".tgz", ".zip", ".tar.xz", ".tar.zst", ".tar.bz2"];
    Some(
        PREFERRED
            .iter()
            .position(|s| lower.ends_with(s))
            .unwrap_or(PREFERRED.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_preferred_over_packages_and_signatures() {
        let asset = |name: &str| GhAsset {
            name: name.to_string(),
            browser_download_url: format!("https://github.com/o/r/releases/download/v1/{name}"),
        };
        let map = artifacts(&[
            asset("tool_1.0_linux_amd64.deb"),
            asset("tool_1.0_linux_amd64.tar.gz.sig"),
            asset("tool_1.0_linux_amd64"),
            asset("tool_1.0_linux_amd64.tar.gz"),
            asset("tool_1.0_linux_arm64.zip"),
            asset("checksums.txt"),
        ]);
        assert_eq!(map.len(), 2);
        assert!(map["linux/x86_64"].url.ends_with("linux_amd64.tar.gz"));
        assert!(map["linux/arm64"].url.ends_with("linux_arm64.zip"));
    }
}
