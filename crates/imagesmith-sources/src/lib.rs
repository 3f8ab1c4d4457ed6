//! Fetches where component versions come from into the version index.
//!
//! Each [`Source`] kind of `imagesmith-index` has one small reader in its own module that
//! parses the list as its vendor documents it (the GitHub releases API, HashiCorp's
//! `index.json`, the PyPI JSON API, npm packuments, the Node.js dist index, the AWS CLI
//! changelog, apt `Packages`, dnf `repodata`, OCI registry tags) into [`Release`]s. Every request
//! goes through the project's mirrors and carries the credential the environment holds for the
//! host actually asked ([`Credentials`]); [`Http`] adds timeouts, retries, a body size limit and
//! an on-disk cache revalidated by `ETag`/`Last-Modified`.
//!
//! [`update`] merges what a source lists now into an existing [`ComponentIndex`]: releases the
//! vendor no longer lists are kept, known checksums are kept, and a checksum that changed for
//! the same URL is an error.
//!
//! ```no_run
//! use imagesmith_sources::{fetch, Context, Credentials, Http, HttpOptions};
//! use imagesmith_index::Source;
//!
//! let http = Http::new(HttpOptions::default());
//! let ctx = Context::new("2025-01-31", Credentials::from_process());
//! let source = Source::Hashicorp { product: "terraform".into(), url: None };
//! let releases = fetch(&source, &http, &ctx)?;
//! println!("{} releases", releases.len());
//! # Ok::<(), imagesmith_sources::SourceError>(())
//! ```
#![deny(missing_docs)]

mod apt;
mod auth;
mod aws_cli;
mod corretto;
mod dnf;
mod github;
mod hashicorp;
mod http;
mod merge;
mod nodejs;
mod npm;
mod pin;
mod pypi;
mod registry;
mod util;
mod vendor;

pub use auth::Credentials;
pub use http::{rewrite, Http, HttpOptions};
pub use merge::update;
pub use pin::{checksum_in, pin, PinnedBy};

use imagesmith_index::{Release, Source};
use indexmap::IndexMap;

/// What every source reader is handed besides the HTTP client.
pub struct Context<'a> {
    /// URL prefix rewrites (`https://api.github.com/` → a mirror), first match wins.
    pub mirrors: IndexMap<String, String>,
    /// Credentials by host, from the environment.
    pub credentials: Credentials,
    /// Today, `YYYY-MM-DD`: the index's `updated`.
    pub today: String,
    /// How many of the newest versions get their checksum file fetched where that costs one
    /// request per version (HashiCorp); older ones are recorded without sha256.
    pub newest_with_checksums: usize,
    /// The same for each major line of Node.js (`SHASUMS256.txt` per release).
    pub newest_per_major: usize,
    /// Told what is being fetched, one line at a time.
    pub progress: &'a dyn Fn(&str),
}

fn quiet(_: &str) {}

impl Context<'static> {
    /// No mirrors, 20 newest versions with checksums, 3 per Node.js major line, no progress.
    pub fn new(today: &str, credentials: Credentials) -> Context<'static> {
        Context {
            mirrors: IndexMap::new(),
            credentials,
            today: today.to_string(),
            newest_with_checksums: 20,
            newest_per_major: 3,
            progress: &quiet,
        }
    }
}

/// Why a source could not be read or merged. URLs are shown without credentials.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The request did not get an answer.
    #[error("Cannot reach `{url}`: {message}")]
    Transport {
        /// The URL asked (after mirrors).
        url: String,
        /// What failed.
        message: String,
    },
    /// The server answered with an error status.
    #[error("`{url}` answered HTTP {status}{}", hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    Status {
        /// The URL asked (after mirrors).
        url: String,
        /// The status code.
        status: u16,
        /// What to do about it.
        hint: Option<String>,
    },
    /// The body is bigger than the limit.
    #[error("The answer of `{url}` is larger than {limit} bytes")]
    TooLarge {
        /// The URL asked.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The body is not what the vendor documents.
    #[error("Cannot read `{url}`: {message}")]
    Parse {
        /// The URL read.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// A source setting cannot be used.
    #[error("The `{kind}` source is not usable: {message}")]
    Config {
        /// The source kind.
        kind: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The cache could not be read or written.
    #[error("Cannot use the HTTP cache file `{path}`: {source}")]
    Cache {
        /// The cache file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The source gives another checksum for an artifact URL the index already has one for.
    #[error(
        "The sha256 of `{}` {} ({}) changed for the same URL `{}`: the index has `{}`, the source now says `{}`\nhint: a vendor does not rebuild a published file; check the mirror and the vendor before trusting it",
        .0.component, .0.version, .0.key, .0.url, .0.known, .0.fetched
    )]
    ChecksumChanged(Box<ChecksumChange>),
}

/// An artifact whose sha256 changed (see [`SourceError::ChecksumChanged`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumChange {
    /// The component.
    pub component: String,
    /// The release.
    pub version: String,
    /// The artifact key (`linux/x86_64`).
    pub key: String,
    /// The artifact URL.
    pub url: String,
    /// The sha256 the index has.
    pub known: String,
    /// The sha256 the source gives now.
    pub fetched: String,
}

/// Reads one kind of source into releases.
trait VersionSource {
    /// Every final release the source lists, in any order.
    fn releases(&self, http: &Http, ctx: &Context<'_>) -> Result<Vec<Release>, SourceError>;
}

/// Reads `source`: its final releases, versions without `v`, sorted oldest first and unique.
/// A `vendor` source lists nothing (its releases are kept in the index by [`update`]).
pub fn fetch(source: &Source, http: &Http, ctx: &Context<'_>) -> Result<Vec<Release>, SourceError> {
    let mut releases = match source {
        Source::GithubReleases {
            repository,
            checksum_asset,
            url,
        } => github::GithubReleases {
            repository,
            checksum_asset: checksum_asset.as_deref(),
            api: url.as_deref(),
        }
        .releases(http, ctx)?,
        Source::Hashicorp { product, url } => hashicorp::Hashicorp {
            product,
            base: url.as_deref(),
        }
        .releases(http, ctx)?,
        Source::Pypi { package, url } => pypi::Pypi {
            package,
            base: url.as_deref(),
        }
        .releases(http, ctx)?,
        Source::Npm { package, url } => npm::Npm {
            package,
            registry: url.as_deref(),
        }
        .releases(http, ctx)?,
        Source::NodejsDist { url } => nodejs::NodejsDist {
            base: url.as_deref(),
        }
        .releases(http, ctx)?,
        Source::Corretto { major, url } => corretto::Corretto {
            major,
            api: url.as_deref(),
        }
        .releases(http, ctx)?,
        Source::AwsCli { url } => aws_cli::AwsCli {
            url: url.as_deref(),
        }
        .releases(http, ctx)?,
        Source::Apt {
            url,
            suite,
            component,
            package,
            os,
        } => apt::Apt {
            url,
            suite,
            component,
            package,
            os: os.as_deref(),
        }
        .releases(http, ctx)?,
        Source::Dnf { url, package, os } => dnf::Dnf {
            url,
            package,
            os: os.as_deref(),
        }
        .releases(http, ctx)?,
        Source::Registry {
            registry,
            repository,
        } => registry::Registry {
            registry,
            repository,
        }
        .releases(http, ctx)?,
        Source::Vendor { description } => vendor::Vendor { description }.releases(http, ctx)?,
    };
    util::normalize(&mut releases);
    Ok(releases)
}
