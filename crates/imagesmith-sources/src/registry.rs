//! OCI registries: `{registry}/v2/{repository}/tags/list`, paged by `Link`
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-tags>).
//!
//! A `401` with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is answered by fetching a
//! token from the realm (anonymously, or with the realm host's credential) and asking again
//! (<https://distribution.github.io/distribution/spec/auth/token/>). Only tags that are
//! dot-separated numbers (a `v` allowed) are releases: `latest`, `2023-arm64v8` and digests
//! are not. Tags have no dates; artifacts are not recorded (a tag is resolved to a digest at
//! build time).

use crate::http::{host_of, join, rewrite, Answer, Http};
use crate::util::{is_numeric_version, strip_v};
use crate::{Context, SourceError, VersionSource};
use imagesmith_index::Release;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Pages followed at most.
const MAX_PAGES: usize = 100;

pub(crate) struct Registry<'a> {
    pub registry: &'a str,
    pub repository: &'a str,
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Token {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

const ACCEPT: &str = "application/json";

impl VersionSource for Registry<'_> {
    fn releases(&self, http: &Http, ctx: &Context<'_>) -> Result<Vec<Release>, SourceError> {
        let valid = !self.repository.is_empty()
            && self.repository.split('/').all(|part| {
                !part.is_empty()
                    && part != "."
                    && part != ".."
                    && part.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)
                    })
            });
        if !valid {
            return Err(SourceError::Config {
                kind: "registry",
                message: format!("`{}` is not a repository name", self.repository),
            });
        }
        let registry = self.registry.trim_end_matches('/');
        let registry = if registry.contains("://") {
            registry.to_string()
        } else {
            format!("https://{registry}")
        };
        // Registries page with a `Link` relative to themselves (`/v2/…`): it is resolved
        // against the vendor's URL, then mirrored, so a mirror under a path prefix works.
        let mut vendor_url = format!("{registry}/v2/{}/tags/list", self.repository);
        let mut url = rewrite(&ctx.mirrors, &vendor_url);
        let mut authorization = host_of(&url).and_then(|h| ctx.credentials.authorization(h));
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            (ctx.progress)(&format!("GET {}", crate::http::redact(&url)));
            let mut answer = http.request(&url, authorization.as_deref(), Some(ACCEPT))?;
            if answer.status == 401 {
                if let Some(challenge) = answer.www_authenticate.as_deref().and_then(bearer) {
                    let token = token(http, ctx, &challenge, self.repository, &answer)?;
                    authorization = Some(format!("Bearer {token}"));
                    answer = http.request(&url, authorization.as_deref(), Some(ACCEPT))?;
                }
            }
            if !(200..300).contains(&answer.status) {
                return Err(crate::http::status_error(&answer));
            }
            let list: TagList = answer.json()?;
            tags.extend(list.tags.unwrap_or_default());
            match answer.next_link() {
                Some(next) => {
                    vendor_url = join(&vendor_url, &next);
                    url = rewrite(&ctx.mirrors, &vendor_url);
                }
                None => break,
            }
        }
        Ok(tags
            .iter()
            .filter(|t| is_numeric_version(strip_v(t)))
            .map(|tag| Release {
                version: strip_v(tag).to_string(),
                date: None,
                artifacts: BTreeMap::new(),
                build: None,
                revoked: None,
                withdrawn: None,
            })
            .collect())
    }
}

/// A token from the challenge's realm, asked with the realm host's credential if any.
fn token(
    http: &Http,
    ctx: &Context<'_>,
    challenge: &BTreeMap<String, String>,
    repository: &str,
    denied: &Answer,
) -> Result<String, SourceError> {
    let Some(realm) = challenge.get("realm").filter(|r| r.starts_with("http")) else {
        return Err(SourceError::Parse {
            url: denied.url.clone(),
            message: "the Bearer challenge names no http(s) realm".to_string(),
        });
    };
    let scope = challenge
        .get("scope")
        .cloned()
        .unwrap_or_else(|| format!("repository:{repository}:pull"));
    let mut query = vec![("scope", scope)];
    if let Some(service) = challenge.get("service") {
        query.insert(0, ("service", service.clone()));
    }
    let query: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let separator = if realm.contains('?') { '&' } else { '?' };
    let url = format!("{realm}{separator}{}", query.join("&"));
    let answer = http.get(ctx, &url, Some(ACCEPT))?;
    let token: Token = answer.json()?;
    token
        .token
        .or(token.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| SourceError::Parse {
            url: answer.url.clone(),
            message: "the token answer has no `token`".to_string(),
        })
}

fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The parameters of a `Bearer` challenge (`realm="…",service="…",scope="…"`).
fn bearer(header: &str) -> Option<BTreeMap<String, String>> {
    let trimmed = header.trim_start();
    let (scheme, rest) = trimmed.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = bearer(r#"Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws",scope2="repository:a:pull,push""#).unwrap();
        assert_eq!(c["realm"], "https://public.ecr.aws/token/");
        assert_eq!(c["service"], "public.ecr.aws");
        assert_eq!(c["scope2"], "repository:a:pull,push");
        assert!(bearer(r#"Basic realm="x""#).is_none());
        assert_eq!(
            encode("repository:a/b:pull,push"),
            "repository:a/b:pull%2Cpush"
        );
    }
}
