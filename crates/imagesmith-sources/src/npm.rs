//! npm: the full packument `{registry}/{package}`
//! (<https://github.com/npm/registry/blob/main/docs/responses/package-metadata.md>).
//!
//! The abbreviated document (`application/vnd.npm.install-v1+json`) has no `time`, so the
//! full one is read. Dates come from `time.<version>`. npm publishes sha512 (`integrity`) and
//! sha1 (`shasum`) of a tarball, no sha256, and the tarball does not depend on the platform,
//! so releases record no artifacts. `deprecated` is a notice, not a withdrawal: npm still
//! installs the version, so it is not recorded as revoked.

use crate::http::Http;
use crate::util::{date_of, is_semver_prerelease};
use crate::{Context, SourceError, VersionSource};
use imagesmith_index::Release;
use serde::Deserialize;
use std::collections::BTreeMap;

pub(crate) const REGISTRY: &str = "https://registry.npmjs.org";

pub(crate) struct Npm<'a> {
    pub package: &'a str,
    pub registry: Option<&'a str>,
}

#[derive(Deserialize)]
struct Packument {
    #[serde(default)]
    versions: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    time: BTreeMap<String, serde_json::Value>,
}

impl VersionSource for Npm<'_> {
    fn releases(&self, http: &Http, ctx: &Context<'_>) -> Result<Vec<Release>, SourceError> {
        let name_ok = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.~".contains(&b))
        };
        let valid = match self.package.strip_prefix('@') {
            Some(scoped) => scoped
                .split_once('/')
                .is_some_and(|(scope, name)| name_ok(scope) && name_ok(name)),
            None => name_ok(self.package),
        };
        if !valid {
            return Err(SourceError::Config {
                kind: "npm",
                message: format!("`{}` is not an npm package name", self.package),
            });
        }
        let registry = self.registry.unwrap_or(REGISTRY).trim_end_matches('/');
        // A scoped name keeps its `@` and encodes its `/` (`@scope%2fname`).
        let path = self.package.replace('/', "%2f");
        let packument: Packument = http
            .get(ctx, &format!("{registry}/{path}"), Some("application/json"))?
            .json()?;
        Ok(packument
            .versions
            .keys()
            .filter(|v| !is_semver_prerelease(v))
            .map(|version| Release {
                version: version.clone(),
                date: packument
                    .time
                    .get(version)
                    .and_then(|t| t.as_str())
                    .and_then(date_of),
                artifacts: BTreeMap::new(),
                build: None,
                revoked: None,
                withdrawn: None,
            })
            .collect())
    }
}
