//! AWS CLI v2: the version headings of its changelog
//! (<https://raw.githubusercontent.com/aws/aws-cli/v2/CHANGELOG.rst>).
//!
//! The changelog gives no dates. AWS publishes a PGP signature (`.sig`) beside each installer
//! but no checksum, so the artifacts carry no sha256.

use crate::http::Http;
use crate::util::is_numeric_version;
use crate::{Context, SourceError, VersionSource};
use imagesmith_index::{ArtifactRef, Release};
use std::collections::BTreeMap;

pub(crate) const CHANGELOG: &str = "https://raw.githubusercontent.com/aws/aws-cli/v2/CHANGELOG.rst";

pub(crate) struct AwsCli<'a> {
    pub url: Option<&'a str>,
}

impl VersionSource for AwsCli<'_> {
    fn releases(&self, http: &Http, ctx: &Context<'_>) -> Result<Vec<Release>, SourceError> {
        let answer = http.get(ctx, self.url.unwrap_or(CHANGELOG), None)?;
        Ok(headings(answer.text()?)
            .into_iter()
            .map(|version| Release {
                artifacts: artifacts(version),
                version: version.to_string(),
                date: None,
                build: None,
                revoked: None,
                withdrawn: None,
            })
            .collect())
    }
}

/// The `2.x.y` headings: a version line underlined by at least as many `=`.
fn headings(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines
        .windows(2)
        .filter_map(|pair| {
            let (title, rule) = (pair[0].trim(), pair[1]);
            let underlined =
                rule.len() >= title.len() && !rule.is_empty() && rule.bytes().all(|b| b == b'=');
            (underlined && is_numeric_version(title) && title.starts_with("2.")).then_some(title)
        })
        .collect()
}

fn artifacts(version: &str) -> BTreeMap<String, ArtifactRef> {
    [("linux/x86_64", "x86_64"), ("linux/arm64", "aarch64")]
        .into_iter()
        .map(|(key, arch)| {
            (
                key.to_string(),
                ArtifactRef {
                    url: format!(
                        "https://awscli.amazonaws.com/awscli-exe-linux-{arch}-{version}.zip"
                    ),
                    sha256: None,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_only() {
        let text = "=========\nCHANGELOG\n=========\n\n2.17.1\n======\n\n* api-change:``s3``: x\n\n2.17.0\n======\n\n1.0\n===\nnot\n==\n";
        assert_eq!(headings(text), ["2.17.1", "2.17.0"]);
    }
}
