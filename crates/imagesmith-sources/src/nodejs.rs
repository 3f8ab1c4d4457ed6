//! Node.js: the dist index `{base}/index.json` (<https://nodejs.org/dist/index.json>) and each
//! release's `{base}/v{version}/SHASUMS256.txt`.
//!
//! Dates come from the index. Checksums cost one request per release, so only the newest
//! [`Context::newest_per_major`] releases of each major line get them; older ones record
//! their artifacts without sha256.

use crate::github::fill;
use crate::http::Http;
use crate::util::{date_of, is_numeric_version, newest_first, parse_checksums, strip_v};
use crate::{Context, SourceError, VersionSource};
use imagesmith_index::{ArtifactRef, Release};
use serde::Deserialize;
use std::collections::BTreeMap;

pub(crate) const BASE: &str = "https://nodejs.org/dist";

pub(crate) struct NodejsDist<'a> {
    pub base: Option<&'a str>,
}

#[derive(Deserialize)]
struct Entry {
    version: String,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    files: Vec<String>,
}

/// The `files` entry, the catalog key and the download name's platform and suffix.
const PLATFORMS: &[(&str, &str, &str)] = &[
    ("linux-x64", "linux/x86_64", "linux-x64.tar.gz"),
    ("linux-arm64", "linux/arm64", "linux-arm64.tar.gz"),
    ("win-x64-zip", "windows/x86_64", "win-x64.zip"),
    ("win-arm64-zip", "windows/arm64", "win-arm64.zip"),
];

impl VersionSource for NodejsDist<'_> {
    fn releases(&self, http: &Http, ctx: &Context<'_>) -> Result<Vec<Release>, SourceError> {
        let base = self.base.unwrap_or(BASE).trim_end_matches('/');
        let entries: Vec<Entry> = http.get(ctx, &format!("{base}/index.json"), None)?.json()?;
        let mut releases: Vec<Release> = entries
            .iter()
            .filter_map(|entry| {
                let version = strip_v(&entry.version);
                if !is_numeric_version(version) {
                    return None;
                }
                let artifacts = PLATFORMS
                    .iter()
                    .filter(|(file, _, _)| entry.files.iter().any(|f| f == file))
                    .map(|(_, key, suffix)| {
                        (
                            key.to_string(),
                            ArtifactRef {
                                url: format!("{base}/v{version}/node-v{version}-{suffix}"),
                                sha256: None,
                            },
                        )
                    })
                    .collect();
                Some(Release {
                    version: version.to_string(),
                    date: entry
                        .date
                        .clone()
                        .filter(|d| date_of(d).as_deref() == Some(d.as_str())),
                    artifacts,
                    build: None,
                    revoked: None,
                    withdrawn: None,
                })
            })
            .collect();
        let versions: Vec<String> = releases.iter().map(|r| r.version.clone()).collect();
        let refs: Vec<&str> = versions.iter().map(String::as_str).collect();
        let mut per_major: BTreeMap<&str, usize> = BTreeMap::new();
        for i in newest_first(&refs) {
            let major = refs[i].split('.').next().unwrap_or_default();
            let seen = per_major.entry(major).or_default();
            if *seen >= ctx.newest_per_major || releases[i].artifacts.is_empty() {
                continue;
            }
            *seen += 1;
            let url = format!("{base}/v{}/SHASUMS256.txt", refs[i]);
            let Some(answer) = http.get_optional(ctx, &url)? else {
                continue;
            };
            let sums = parse_checksums(answer.text()?);
            fill(&mut releases[i].artifacts, &sums);
        }
        Ok(releases)
    }
}
