//! Pulling images from an OCI registry into a [`BlobStore`](crate::BlobStore), and pushing
//! them (with their referrers) back out
//!
//! [`RegistryClient::pull`] fetches a manifest (or an image index, from which the manifest for
//! this host's platform is chosen), its config and its layers, and returns an
//! [`Image`](crate::Image) like any other: every blob is checked against its digest and size
//! while it streams into the store, and only a complete, verified blob is renamed to its
//! digest, so a killed pull leaves the store consistent (and what it had already fetched is
//! not fetched again). The manifests are stored last. Docker v2 schema 2 and OCI media types
//! are accepted; the image keeps the registry's manifest bytes, so its digest is the
//! registry's.
//!
//! References are `[docker://]host[:port]/repository[:tag|@sha256:...]`; a name without a
//! host is on Docker Hub (`debian` is `docker.io/library/debian:latest`). See [`Reference`].
//!
//! Authentication follows the Distribution specification: requests go out anonymously; on
//! `401` the `WWW-Authenticate` challenge says what to do: `Basic` sends credentials,
//! `Bearer realm=...,service=...,scope=...` gets a token from the realm (with the
//! credentials, if any) from its `token` or `access_token` field and retries with it.
//! Credentials come from the [`CredentialSource`]s of [`RegistryOptions`], in order: the
//! caller's own (ECR, for one, plugs in here), `IMAGESMITH_REGISTRY_USERNAME` and
//! `IMAGESMITH_REGISTRY_PASSWORD` ([`EnvCredentials`]), then the auth files of
//! `skopeo login` and `docker login` ([`AuthFile::standard`]). They are never logged, and
//! never sent over plain HTTP except to a registry allowed plain HTTP.
//!
//! HTTPS is used, with the Mozilla root certificates. `localhost`, `127.0.0.1` and `::1`
//! registries, and those listed in `IMAGESMITH_INSECURE_REGISTRIES` (comma-separated
//! `host[:port]`), may also be reached over plain HTTP: HTTPS is tried first.
//!
//! Why not the `oci-client` crate: it is async (tokio, reqwest 0.13, hyper, h2 and
//! aws-lc-rs, a C build), brings a second major of `sha2`, and still leaves the credential
//! chain, the insecure-registry rule and the streaming into this store to write. The pull
//! side of the Distribution API is a few requests, so this module speaks it over the blocking
//! `ureq` client the workspace already builds.
//!
//! ```no_run
//! # fn main() -> Result<(), imagesmith_oci::registry::RegistryError> {
//! use imagesmith_oci::registry::{Reference, RegistryClient, RegistryOptions};
//! use imagesmith_oci::BlobStore;
//! let store = BlobStore::open("/var/cache/imagesmith/blobs")?;
//! let client = RegistryClient::new(RegistryOptions::from_env());
//! let reference = Reference::parse("registry.example.com/team/base:1.0")?;
//! let pulled = client.pull(&reference, &store, &|message| eprintln!("{message}"))?;
//! println!("{}", pulled.image.digest());
//! # Ok(()) }
//! ```
//!
//! [`RegistryClient::push`] is the other direction (see its module for the upload,
//! resume and immutable-tag rules); [`RegistryClient::manifest`],
//! [`RegistryClient::blob_bytes`], [`RegistryClient::put_blob_bytes`] and
//! [`RegistryClient::put_manifest`] are the raw requests signing and publishing build on.
//!
//! Not done: credential helpers (`credsStore`, `credHelpers`), OAuth2 refresh
//! tokens (`identitytoken`), HTTP proxies, resuming a blob half fetched.

mod auth;
mod client;
mod error;
mod push;
mod reference;

use std::fmt;
use std::time::Duration;

use oci_spec::image::{Arch, Os};

pub use auth::{
    AuthFile, CredentialError, CredentialSource, Credentials, EnvCredentials, PASSWORD_VAR,
    REGISTRY_VAR, USERNAME_VAR,
};
pub use client::{Pulled, RegistryClient};
pub use error::RegistryError;
pub use push::{referrers_tag, Fetched, PushOptions, Pushed, Referrer, DEFAULT_CHUNK_SIZE};
pub use reference::{Reference, DEFAULT_TAG, DOCKER_HUB};

/// The environment variable listing registries that may be reached over plain HTTP
pub const INSECURE_REGISTRIES_VAR: &str = "IMAGESMITH_INSECURE_REGISTRIES";

/// How a [`RegistryClient`] connects and authenticates
pub struct RegistryOptions {
    /// Where credentials come from, asked in order
    pub credentials: Vec<Box<dyn CredentialSource>>,
    /// Registries (`host` or `host:port`) that may be reached over plain HTTP, besides
    /// `localhost`, `127.0.0.1` and `::1`
    pub insecure: Vec<String>,
    /// The operating system of the image chosen from an index
    pub os: Os,
    /// The architecture of the image chosen from an index
    pub architecture: Arch,
    /// How long to wait to connect, and for each read
    pub timeout: Duration,
}

impl RegistryOptions {
    /// No credentials, no insecure registry, this host's platform, 60 s timeouts
    pub fn new() -> Self {
        Self {
            credentials: Vec::new(),
            insecure: Vec::new(),
            os: Os::default(),
            architecture: Arch::default(),
            timeout: Duration::from_secs(60),
        }
    }

    /// The credentials of the environment ([`EnvCredentials::from_env`], then
    /// [`AuthFile::standard`]) and the insecure registries of
    /// `IMAGESMITH_INSECURE_REGISTRIES`
    pub fn from_env() -> Self {
        let mut options = Self::new();
        options
            .credentials
            .push(Box::new(EnvCredentials::from_env()));
        for file in AuthFile::standard() {
            options.credentials.push(Box::new(file));
        }
        if let Ok(list) = std::env::var(INSECURE_REGISTRIES_VAR) {
            options.insecure = list
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|host| !host.is_empty())
                .map(str::to_owned)
                .collect();
        }
        options
    }

    /// Asks `source` first, before the sources already there
    pub fn with_source_first(mut self, source: impl CredentialSource + 'static) -> Self {
        self.credentials.insert(0, Box::new(source));
        self
    }

    /// Whether `registry` (`host[:port]`) may be reached over plain HTTP
    pub fn allows_plain_http(&self, registry: &str) -> bool {
        let host = host_of(registry);
        matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]")
            || self
                .insecure
                .iter()
                .any(|allowed| allowed == registry || allowed == host)
    }
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sources: Vec<String> = self
            .credentials
            .iter()
            .map(|source| source.describe())
            .collect();
        f.debug_struct("RegistryOptions")
            .field("credentials", &sources)
            .field("insecure", &self.insecure)
            .field("os", &self.os)
            .field("architecture", &self.architecture)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The host of `host[:port]` (an IPv6 literal keeps its brackets)
fn host_of(registry: &str) -> &str {
    match registry.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') && !host.is_empty() => host,
        _ => registry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_listed_registries() {
        let mut options = RegistryOptions::new();
        options.insecure = vec!["mirror.internal:5000".into(), "lab.internal".into()];
        for allowed in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:35000",
            "[::1]:5000",
            "mirror.internal:5000",
            "lab.internal",
            "lab.internal:8080",
        ] {
            assert!(options.allows_plain_http(allowed), "{allowed}");
        }
        for refused in [
            "mirror.internal",
            "mirror.internal:5001",
            "docker.io",
            "10.0.0.1",
        ] {
            assert!(!options.allows_plain_http(refused), "{refused}");
        }
    }
}
