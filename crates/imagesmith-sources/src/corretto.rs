//! Amazon Corretto: the GitHub releases of `corretto/corretto-<major>`
//! (<https://github.com/corretto/corretto-21/releases>).
//!
//! The releases carry no assets; their notes hold a table of download links on
//! `corretto.aws`. Artifacts are the `.tar.gz`/`.zip` links of those notes whose file name
//! names a platform, with a sha256 when the same table row shows 64 hex digits.

use crate::github;
use crate::http::Http;
use crate::util::{date_of, is_numeric_version, is_sha256, platform_key, strip_v};
use crate::{Context, SourceError, VersionSource};
use imagesmith_index::{ArtifactRef, Release};
use std::collections::BTreeMap;

pub(crate) struct Corretto<'a> {
    pub major: &'a str,
    pub api: Option<&'a str>,
}

impl VersionSource for Corretto<'_> {
    fn releases(&self, http: &Http, ctx: &Context<'_>) -> Result<Vec<Release>, SourceError> {
        if !is_numeric_version(self.major) || self.major.contains('.') {
            return Err(SourceError::Config {
                kind: "corretto",
                message: format!("the major line `{}` is not a number", self.major),
            });
        }
        let repository = format!("corretto/corretto-{}", self.major);
        let listed = github::list(http, ctx, self.api, &repository)?;
        Ok(listed
            .iter()
            .filter_map(|gh| {
                let version = strip_v(&gh.tag_name);
                // `21.0.5.11.1`; other tags (`jdk-…` mirrors of OpenJDK) are not releases.
                let line_ok =
                    version == self.major || version.starts_with(&format!("{}.", self.major));
                (is_numeric_version(version) && line_ok).then(|| Release {
                    version: version.to_string(),
                    date: gh.published_at.as_deref().and_then(date_of),
                    artifacts: gh
                        .body
                        .as_deref()
                        .map(|b| body_artifacts(b, version))
                        .unwrap_or_default(),
                    build: None,
                    revoked: None,
                    withdrawn: None,
                })
            })
            .collect())
    }
}

/// The archive links of a release's notes for `version`, by platform.
fn body_artifacts(body: &str, version: &str) -> BTreeMap<String, ArtifactRef> {
    let mut out = BTreeMap::new();
    for line in body.lines() {
        let sha256 = line
            .split(|c: char| !c.is_ascii_hexdigit())
            .find(|t| is_sha256(t))
            .map(str::to_ascii_lowercase);
        for start in line.match_indices("https://").map(|(i, _)| i) {
            let url: String = line[start..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !"()[]<>|\"'".contains(*c))
                .collect();
            let file = url.rsplit('/').next().unwrap_or_default();
            let archive = file.ends_with(".tar.gz") || file.ends_with(".zip");
            if !archive || !file.contains(version) {
                continue;
            }
            if let Some(key) = platform_key(file) {
                out.entry(key).or_insert(ArtifactRef {
                    url,
                    sha256: sha256.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_from_a_notes_table() {
        let sha = "b".repeat(64);
        let body = format!(
            "|Platform|Type|Download Link|Checksum (SHA256)|\n|---|---|---|---|\n\
             |Linux x64|JDK|[amazon-corretto-21.0.5.11.1-linux-x64.tar.gz](https://corretto.aws/downloads/resources/21.0.5.11.1/amazon-corretto-21.0.5.11.1-linux-x64.tar.gz)|`{sha}`|\n\
             |Linux aarch64|JDK|[x](https://corretto.aws/downloads/resources/21.0.5.11.1/amazon-corretto-21.0.5.11.1-linux-aarch64.tar.gz)||\n\
             |Linux x64|JDK|[deb](https://corretto.aws/downloads/resources/21.0.5.11.1/java-21-amazon-corretto-jdk_21.0.5.11-1_amd64.deb)||\n"
        );
        let map = body_artifacts(&body, "21.0.5.11.1");
        assert_eq!(map.len(), 2, "{map:?}");
        assert_eq!(map["linux/x86_64"].sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(map["linux/arm64"].sha256, None);
    }
}
