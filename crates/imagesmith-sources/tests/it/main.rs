//! Each source kind read from a local server serving the vendor's format, through a mirror
//! prefix and with a credential; the HTTP client's retries and cache; the merge.

mod server;

mod apt;
mod aws_cli;
mod corretto;
mod dnf;
mod github;
mod hashicorp;
mod http;
mod merge;
mod nodejs;
mod npm;
mod pypi;
mod registry;

use imagesmith_sources::{Context, Credentials, Http, HttpOptions};
use std::time::Duration;

/// `Basic base64("fixture:s3cret")`.
pub const BASIC: &str = "Basic Zml4dHVyZTpzM2NyZXQ=";
/// The credential the tests hand over for 127.0.0.1.
pub fn credentials() -> Credentials {
    Credentials::none().with_var("IMAGESMITH_AUTH_127_0_0_1", "fixture:s3cret")
}

/// A client with short back-offs and no cache.
pub fn http() -> Http {
    Http::new(HttpOptions {
        backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(20),
        ..HttpOptions::default()
    })
}

/// A context mirroring `from` to the server's `prefix`, with the fixture credential.
pub fn context(mirrors: &[(&str, String)]) -> Context<'static> {
    let mut ctx = Context::new("2025-01-31", credentials());
    for (from, to) in mirrors {
        ctx.mirrors.insert(from.to_string(), to.clone());
    }
    ctx
}

/// The same context without any credential.
pub fn anonymous(mirrors: &[(&str, String)]) -> Context<'static> {
    let mut ctx = context(mirrors);
    ctx.credentials = Credentials::none();
    ctx
}

/// Asserts the error is a 401 naming the variable to set, and shows no secret.
pub fn assert_unauthorized(error: imagesmith_sources::SourceError) {
    let text = error.to_string();
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("IMAGESMITH_AUTH_127_0_0_1"), "{text}");
    assert!(!text.contains("s3cret") && !text.contains(BASIC), "{text}");
}
