//! HashiCorp releases: `{base}/{product}/index.json`
//! (<https://releases.hashicorp.com/terraform/index.json>) and each version's `SHA256SUMS`.
//!
//! The index names no dates. Checksums cost one request per version, so only the newest
//! [`Context::newest_with_checksums`] versions get them.

use crate::github::fill;
use crate::http::Http;
use crate::util::{is_semver_prerelease, newest_first, parse_checksums, platform_key};
use crate::{Context, SourceError, VersionSource};
use imagesmith_index::{ArtifactRef, Release};
use serde::Deserialize;
use std::collections::BTreeMap;

pub(crate) const BASE: &str = "https://releases.hashicorp.com";

pub(crate) struct Hashicorp<'a> {
    pub product: &'a str,
    pub base: Option<&'a str>,
}

#[derive(Deserialize)]
struct ProductIndex {
    versions: BTreeMap<String, VersionEntry>,
}

#[derive(Deserialize)]
struct VersionEntry {
    version: String,
    #[serde(default)]
    shasums: Option<String>,
    #[serde(default)]
    builds: Vec<Build>,
}

#[derive(Deserialize)]
struct Build {
    os: String,
    arch: String,
    url: String,
}

impl VersionSource for Hashicorp<'_> {
    fn releases(&self, http: &Http, ctx: &Context<'_>) -> Result<Vec<Release>, SourceError> {
        if self.product.is_empty()
            || !self
                .product
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            || self.product.starts_with('.')
        {
            return Err(SourceError::Config {
                kind: "hashicorp",
                message: format!("`{}` is not a product name", self.product),
            });
        }
        let base = self.base.unwrap_or(BASE).trim_end_matches('/');
        let index: ProductIndex = http
            .get(ctx, &format!("{base}/{}/index.json", self.product), None)?
            .json()?;
        // `1.7.0-beta1`, `-rc1`, `-alpha…` are pre-releases; `+ent` builds are other editions.
        let entries: Vec<&VersionEntry> = index
            .versions
            .values()
            .filter(|v| !is_semver_prerelease(&v.version) && !v.version.contains('+'))
            .collect();
        let versions: Vec<&str> = entries.iter().map(|e| e.version.as_str()).collect();
        let mut releases: Vec<Release> = entries
            .iter()
            .map(|entry| Release {
                version: entry.version.clone(),
                date: None,
                artifacts: artifacts(&entry.builds),
                build: None,
                revoked: None,
                withdrawn: None,
            })
            .collect();
        for i in newest_first(&versions)
            .into_iter()
            .take(ctx.newest_with_checksums)
        {
            let Some(shasums) = entries[i].shasums.as_deref() else {
                continue;
            };
            if shasums.contains('/') || releases[i].artifacts.is_empty() {
                continue;
            }
            let url = format!("{base}/{}/{}/{shasums}", self.product, entries[i].version);
            let Some(answer) = http.get_optional(ctx, &url)? else {
                continue;
            };
            let sums = parse_checksums(answer.text()?);
            fill(&mut releases[i].artifacts, &sums);
        }
        Ok(releases)
    }
}

fn artifacts(builds: &[Build]) -> BTreeMap<String, ArtifactRef> {
    builds
        .iter()
        .filter_map(|b| {
            let key = platform_key(&format!("{}_{}", b.os, b.arch))?;
            Some((
                key,
                ArtifactRef {
                    url: b.url.clone(),
                    sha256: None,
                },
            ))
        })
        .collect()
}
