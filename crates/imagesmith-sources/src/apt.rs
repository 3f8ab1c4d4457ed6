//! apt: a suite's `Packages` index,
//! `{url}/dists/{suite}/{component}/binary-{arch}/Packages.gz`
//! (<https://wiki.debian.org/DebianRepository/Format#A.22Packages.22_Indices>), for `amd64`
//! (`x86_64`) and `arm64`.
//!
//! Versions are Debian's (`1:2.39.2-1.1`, epoch kept). `Packages` has no dates. Artifacts are
//! `{os}/<arch>` → `{url}/{Filename}` with its `SHA256`. The `Release` file that signs the
//! index is not checked here (apt checks it when installing).

use crate::http::Http;
use crate::util::is_sha256;
use crate::{Context, SourceError, VersionSource};
use imagesmith_index::{compare, ArtifactRef, Release};
use std::collections::BTreeMap;

pub(crate) struct Apt<'a> {
    pub url: &'a str,
    pub suite: &'a str,
    pub component: &'a str,
    pub package: &'a str,
    pub os: Option<&'a str>,
}

/// Debian's architecture names for the catalog's.
const ARCHES: &[(&str, &str)] = &[("amd64", "x86_64"), ("arm64", "arm64")];

impl VersionSource for Apt<'_> {
    fn releases(&self, http: &Http, ctx: &Context<'_>) -> Result<Vec<Release>, SourceError> {
        for (what, value) in [("suite", self.suite), ("component", self.component)] {
            if value.is_empty() || value.contains("..") || value.starts_with('/') {
                return Err(SourceError::Config {
                    kind: "apt",
                    message: format!("the {what} `{value}` is not a path in the archive"),
                });
            }
        }
        let root = self.url.trim_end_matches('/');
        let os = self.os.unwrap_or("linux");
        let mut by_version: BTreeMap<String, Release> = BTreeMap::new();
        let mut found_an_index = false;
        for (debian, arch) in ARCHES {
            let url = format!(
                "{root}/dists/{}/{}/binary-{debian}/Packages.gz",
                self.suite, self.component
            );
            let answer = http.get_answer(ctx, &url, None)?;
            // An archive without this architecture is not an error; one without both is.
            if answer.status == 404 {
                continue;
            }
            if !(200..300).contains(&answer.status) {
                return Err(crate::http::status_error(&answer));
            }
            found_an_index = true;
            for stanza in stanzas(answer.text()?) {
                if stanza.get("Package") != Some(&self.package) {
                    continue;
                }
                let (Some(version), Some(filename)) =
                    (stanza.get("Version"), stanza.get("Filename"))
                else {
                    continue;
                };
                let release = by_version
                    .entry(version.to_string())
                    .or_insert_with(|| Release {
                        version: version.to_string(),
                        date: None,
                        artifacts: BTreeMap::new(),
                        build: None,
                        revoked: None,
                        withdrawn: None,
                    });
                release.artifacts.insert(
                    format!("{os}/{arch}"),
                    ArtifactRef {
                        url: format!("{root}/{}", filename.trim_start_matches('/')),
                        sha256: stanza
                            .get("SHA256")
                            .filter(|h| is_sha256(h))
                            .map(|h| h.to_ascii_lowercase()),
                    },
                );
            }
        }
        if !found_an_index {
            return Err(SourceError::Status {
                url: crate::http::redact(&crate::http::rewrite(
                    &ctx.mirrors,
                    &format!("{root}/dists/{}/{}/", self.suite, self.component),
                )),
                status: 404,
                hint: Some("neither `binary-amd64` nor `binary-arm64` has a `Packages.gz`; check the suite and component".to_string()),
            });
        }
        let mut releases: Vec<Release> = by_version.into_values().collect();
        releases.sort_by(|a, b| compare(&a.version, &b.version));
        Ok(releases)
    }
}

/// The fields of each RFC 822-style stanza (continuation lines are dropped: the fields read
/// are single-line).
fn stanzas(text: &str) -> Vec<BTreeMap<&str, &str>> {
    let mut out = Vec::new();
    let mut current = BTreeMap::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            current.insert(key.trim(), value.trim());
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_split_on_blank_lines() {
        let text =
            "Package: a\nVersion: 1\nDescription: x\n more\n\nPackage: b\nVersion: 2:1.0-1\n";
        let s = stanzas(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1]["Version"], "2:1.0-1");
    }
}
