//! The one HTTP client every source uses: mirrors, credentials, retries, limits, a cache.

use crate::{Context, SourceError};
use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

/// How [`Http`] behaves.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (connect, headers and body).
    pub timeout: Duration,
    /// Attempts per request on connect errors, 5xx and 429 answers.
    pub attempts: u32,
    /// The wait before the second attempt; it doubles for each further one.
    pub backoff: Duration,
    /// The largest body accepted, compressed and after `.gz` decoding.
    pub max_body: u64,
    /// Where answers are cached by URL and revalidated (`ETag`, `Last-Modified`); none by default.
    pub cache_dir: Option<PathBuf>,
}

impl Default for HttpOptions {
    fn default() -> HttpOptions {
        HttpOptions {
            connect_timeout: Duration::from_secs(15),
            timeout: Duration::from_secs(120),
            attempts: 3,
            backoff: Duration::from_millis(500),
            max_body: 256 << 20,
            cache_dir: None,
        }
    }
}

/// The HTTP client (ureq, rustls), sending `User-Agent: imagesmith/<version>`.
#[derive(Debug)]
pub struct Http {
    agent: ureq::Agent,
    options: HttpOptions,
}

/// An answer, whatever its status, with the headers the sources read.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The URL asked (after mirrors).
    pub url: String,
    pub status: u16,
    pub body: Vec<u8>,
    pub link: Option<String>,
    pub www_authenticate: Option<String>,
}

impl Answer {
    /// The `rel="next"` target of the `Link` header.
    pub fn next_link(&self) -> Option<String> {
        next_link(self.link.as_deref()?)
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, SourceError> {
        std::str::from_utf8(&self.body).map_err(|_| SourceError::Parse {
            url: self.url.clone(),
            message: "the body is not UTF-8 text".to_string(),
        })
    }

    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, SourceError> {
        serde_json::from_slice(&self.body).map_err(|e| SourceError::Parse {
            url: self.url.clone(),
            message: format!("not the documented JSON: {e}"),
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheMeta {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    link: Option<String>,
}

impl Http {
    /// A client with these options.
    pub fn new(options: HttpOptions) -> Http {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(options.connect_timeout)
            .timeout(options.timeout)
            .user_agent(&format!("imagesmith/{}", env!("CARGO_PKG_VERSION")))
            .redirect_auth_headers(ureq::RedirectAuthHeaders::Never)
            .build();
        Http { agent, options }
    }

    /// GETs `url` through the mirrors with the host's credential; any status but 2xx/304 is an
    /// error.
    pub(crate) fn get(
        &self,
        ctx: &Context<'_>,
        url: &str,
        accept: Option<&str>,
    ) -> Result<Answer, SourceError> {
        let answer = self.get_answer(ctx, url, accept)?;
        if (200..300).contains(&answer.status) {
            return Ok(answer);
        }
        Err(status_error(&answer))
    }

    /// Like [`Http::get`], but a 404 is `None` (a checksum file a vendor did not publish), told
    /// to the progress hook.
    pub(crate) fn get_optional(
        &self,
        ctx: &Context<'_>,
        url: &str,
    ) -> Result<Option<Answer>, SourceError> {
        let answer = self.get_answer(ctx, url, None)?;
        match answer.status {
            200..=299 => Ok(Some(answer)),
            404 => {
                (ctx.progress)(&format!("{} is not there (HTTP 404); skipped", answer.url));
                Ok(None)
            }
            _ => Err(status_error(&answer)),
        }
    }

    /// GETs `url` through the mirrors with the host's credential, returning 4xx answers.
    pub(crate) fn get_answer(
        &self,
        ctx: &Context<'_>,
        url: &str,
        accept: Option<&str>,
    ) -> Result<Answer, SourceError> {
        let url = rewrite(&ctx.mirrors, url);
        let authorization = host_of(&url).and_then(|h| ctx.credentials.authorization(h));
        (ctx.progress)(&format!("GET {}", redact(&url)));
        self.request(&url, authorization.as_deref(), accept)
    }

    /// GETs an already rewritten `url` with this `Authorization`, retrying, caching and
    /// decoding `.gz` bodies; 4xx answers are returned, not errors.
    pub(crate) fn request(
        &self,
        url: &str,
        authorization: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Answer, SourceError> {
        self.request_with(url, authorization, accept, true)
    }

    /// GETs an already rewritten `url` keeping a `.gz` body compressed; not 2xx is an error.
    pub(crate) fn request_raw(
        &self,
        url: &str,
        authorization: Option<&str>,
    ) -> Result<Answer, SourceError> {
        let answer = self.request_with(url, authorization, None, false)?;
        if (200..300).contains(&answer.status) {
            return Ok(answer);
        }
        Err(status_error(&answer))
    }

    /// The body size limit.
    pub(crate) fn max_body(&self) -> u64 {
        self.options.max_body
    }

    fn request_with(
        &self,
        url: &str,
        authorization: Option<&str>,
        accept: Option<&str>,
        decode_gzip: bool,
    ) -> Result<Answer, SourceError> {
        let shown = redact(url);
        let cached = self.cache_meta(url);
        let mut wait = self.options.backoff;
        let mut attempt = 1;
        let response = loop {
            let mut request = self.agent.get(url);
            if let Some(value) = authorization {
                request = request.set("Authorization", value);
            }
            if let Some(value) = accept {
                request = request.set("Accept", value);
            }
            if let Some(meta) = &cached {
                if let Some(etag) = &meta.etag {
                    request = request.set("If-None-Match", etag);
                }
                if let Some(modified) = &meta.last_modified {
                    request = request.set("If-Modified-Since", modified);
                }
            }
            let (retry, result) = match request.call() {
                Ok(response) => (false, Ok(response)),
                Err(ureq::Error::Status(code, response)) => {
                    (code == 429 || code >= 500, Ok(response))
                }
                Err(ureq::Error::Transport(transport)) => {
                    let retry = matches!(
                        transport.kind(),
                        ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Io
                    );
                    // The transport's own message names the URL as given; build ours instead.
                    let message = match transport.message() {
                        Some(m) => format!("{} ({m})", transport.kind()),
                        None => transport.kind().to_string(),
                    };
                    (
                        retry,
                        Err(SourceError::Transport {
                            url: shown.clone(),
                            message,
                        }),
                    )
                }
            };
            if retry && attempt < self.options.attempts {
                attempt += 1;
                std::thread::sleep(wait);
                wait = wait.saturating_mul(2);
                continue;
            }
            break result?;
        };
        let status = response.status();
        let header = |name: &str| response.header(name).map(str::to_string);
        let (link, www_authenticate) = (header("link"), header("www-authenticate"));
        let (etag, last_modified) = (header("etag"), header("last-modified"));
        if status == 304 {
            if let Some(meta) = cached {
                let body = self.cache_read(url)?;
                let body = if decode_gzip && is_gzip(url) {
                    gunzip(&body, self.options.max_body, &shown)?
                } else {
                    body
                };
                return Ok(Answer {
                    url: shown,
                    status: 200,
                    body,
                    link: meta.link,
                    www_authenticate,
                });
            }
        }
        let body = limited(response.into_reader(), self.options.max_body, &shown)?;
        if status == 200 && (etag.is_some() || last_modified.is_some()) {
            self.cache_write(
                url,
                &CacheMeta {
                    url: shown.clone(),
                    etag,
                    last_modified,
                    link: link.clone(),
                },
                &body,
            )?;
        }
        // The cache keeps the bytes as served; they are decoded on every read.
        let body = if decode_gzip && is_gzip(url) && (200..300).contains(&status) {
            gunzip(&body, self.options.max_body, &shown)?
        } else {
            body
        };
        Ok(Answer {
            url: shown,
            status,
            body,
            link,
            www_authenticate,
        })
    }

    fn cache_path(&self, url: &str, extension: &str) -> Option<PathBuf> {
        let dir = self.options.cache_dir.as_ref()?;
        let key = hex::encode(Sha256::digest(url.as_bytes()));
        Some(dir.join(format!("{key}.{extension}")))
    }

    fn cache_meta(&self, url: &str) -> Option<CacheMeta> {
        let path = self.cache_path(url, "meta")?;
        let text = std::fs::read_to_string(path).ok()?;
        let meta: CacheMeta = serde_json::from_str(&text).ok()?;
        // Only a complete entry is used: both files present.
        self.cache_path(url, "body")?.is_file().then_some(meta)
    }

    fn cache_read(&self, url: &str) -> Result<Vec<u8>, SourceError> {
        let Some(path) = self.cache_path(url, "body") else {
            return Ok(Vec::new());
        };
        fs_err::read(&path).map_err(|source| SourceError::Cache {
            path: path.display().to_string(),
            source,
        })
    }

    fn cache_write(&self, url: &str, meta: &CacheMeta, body: &[u8]) -> Result<(), SourceError> {
        let (Some(body_path), Some(meta_path)) =
            (self.cache_path(url, "body"), self.cache_path(url, "meta"))
        else {
            return Ok(());
        };
        let io = |path: &PathBuf, source| SourceError::Cache {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = body_path.parent() {
            fs_err::create_dir_all(dir).map_err(|e| io(&body_path, e))?;
        }
        // Written beside, then renamed, so a crash leaves no half entry.
        let write = |path: &PathBuf, bytes: &[u8]| -> Result<(), SourceError> {
            let partial = path.with_extension("partial");
            fs_err::write(&partial, bytes).map_err(|e| io(path, e))?;
            fs_err::rename(&partial, path).map_err(|e| io(path, e))
        };
        write(&body_path, body)?;
        let meta = serde_json::to_vec(meta).unwrap_or_default();
        write(&meta_path, &meta)
    }
}

/// The error for an answer that is not 2xx, with a hint for the statuses a user can fix.
pub(crate) fn status_error(answer: &Answer) -> SourceError {
    let host = host_of(&answer.url).unwrap_or_default();
    let hint = match answer.status {
        401 | 403 => Some(format!(
            "set `{}` to `user:password` or `Bearer <token>`, or add a `machine {host}` entry to ~/.netrc",
            crate::auth::variable_for(host)
        )),
        404 => Some("check the source's settings and the project's mirrors".to_string()),
        429 => Some("the server limits requests; try again later (for api.github.com set `GITHUB_TOKEN`)".to_string()),
        _ => None,
    };
    SourceError::Status {
        url: answer.url.clone(),
        status: answer.status,
        hint,
    }
}

/// The gzip-decoded `body`, at most `limit` bytes.
pub(crate) fn gunzip(body: &[u8], limit: u64, url: &str) -> Result<Vec<u8>, SourceError> {
    limited(MultiGzDecoder::new(body), limit, url).map_err(|e| match e {
        SourceError::Transport { url, message } => SourceError::Parse {
            url,
            message: format!("not gzip data: {message}"),
        },
        other => other,
    })
}

fn limited(reader: impl Read, limit: u64, url: &str) -> Result<Vec<u8>, SourceError> {
    let mut body = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| SourceError::Transport {
            url: url.to_string(),
            message: format!("reading the body: {}", e.kind()),
        })?;
    if body.len() as u64 > limit {
        return Err(SourceError::TooLarge {
            url: url.to_string(),
            limit,
        });
    }
    Ok(body)
}

fn is_gzip(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.ends_with(".gz")
}

pub use imagesmith_index::rewrite;

/// The host of `url`, without user information or port.
pub(crate) fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    let host = host_port.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

/// `url` without user information, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// The target of `rel="next"` in a `Link` header (RFC 8288).
pub(crate) fn next_link(header: &str) -> Option<String> {
    for part in header.split(',') {
        let mut pieces = part.split(';');
        let target = pieces.next()?.trim();
        let is_next = pieces.any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=")
                .map(|v| v.trim_matches('"').split_whitespace().any(|r| r == "next"))
                .unwrap_or(false)
        });
        if is_next {
            return target
                .strip_prefix('<')
                .and_then(|t| t.strip_suffix('>'))
                .map(str::to_string);
        }
    }
    None
}

/// Resolves a `Link` target against the URL it came with (registries send `/v2/...`).
pub(crate) fn join(base: &str, target: &str) -> String {
    if target.contains("://") {
        return target.to_string();
    }
    let Some((scheme, rest)) = base.split_once("://") else {
        return target.to_string();
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    if target.starts_with('/') {
        format!("{scheme}://{authority}{target}")
    } else {
        let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
        format!("{dir}/{target}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    #[test]
    fn rewrite_first_prefix_wins() {
        let mut mirrors = IndexMap::new();
        mirrors.insert(
            "https://api.github.com/".to_string(),
            "http://m/gh/".to_string(),
        );
        mirrors.insert(
            "https://api.github.com/repos/".to_string(),
            "http://x/".to_string(),
        );
        assert_eq!(
            rewrite(&mirrors, "https://api.github.com/repos/a/b"),
            "http://m/gh/repos/a/b"
        );
        assert_eq!(
            rewrite(&mirrors, "https://pypi.org/x"),
            "https://pypi.org/x"
        );
    }

    #[test]
    fn hosts_and_redaction() {
        assert_eq!(host_of("https://u:p@h.example:8443/x"), Some("h.example"));
        assert_eq!(host_of("http://127.0.0.1:99"), Some("127.0.0.1"));
        assert_eq!(host_of("http://[::1]:99/x"), Some("::1"));
        assert_eq!(host_of("nothing"), None);
        assert_eq!(redact("https://u:secret@h/x@y"), "https://h/x@y");
        assert_eq!(redact("https://h/a"), "https://h/a");
    }

    #[test]
    fn link_next() {
        let header = r#"<https://api.github.com/repositories/1/releases?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/releases?per_page=100&page=5>; rel="last""#;
        assert_eq!(
            next_link(header).as_deref(),
            Some("https://api.github.com/repositories/1/releases?per_page=100&page=2")
        );
        assert_eq!(next_link(r#"<a>; rel="prev""#), None);
        assert_eq!(
            join("http://h:1/v2/x/tags/list", "/v2/x/tags/list?last=a"),
            "http://h:1/v2/x/tags/list?last=a"
        );
    }
}
