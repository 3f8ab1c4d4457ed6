//! The error type of registry pulls and pushes

use super::auth::CredentialError;
use crate::OciError;

/// Everything that can go wrong while pulling from or pushing to a registry
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The reference cannot be parsed
    #[error("Invalid image reference `{reference}`: {reason}\nhint: write `[host[:port]/]repository[:tag][@sha256:digest]`, e.g. `registry.example.com/team/base:1.0`")]
    InvalidReference {
        /// The text that was given
        reference: String,
        /// What is wrong with it
        reason: String,
    },
    /// The registry (or its token service) refused the credentials, or wants some
    #[error(
        "Registry `{registry}` refused to serve `{repository}` (HTTP {status}{}): {}",
        detail_suffix(.detail),
        unauthorized_hint(.registry, .tried, .sent)
    )]
    Unauthorized {
        /// `host[:port]`
        registry: String,
        /// The repository
        repository: String,
        /// 401 or 403
        status: u16,
        /// The registry's own message, if any
        detail: Option<String>,
        /// Each credential source asked, in order, with its answer
        tried: Vec<String>,
        /// Whether credentials were sent (those of the last source tried)
        sent: bool,
    },
    /// The manifest or a blob does not exist
    #[error("{what} of `{reference}` was not found (HTTP 404{})\nhint: check the repository name and the tag or digest, e.g. with `skopeo inspect docker://{reference}`", detail_suffix(.detail))]
    NotFound {
        /// `Manifest`, `Blob sha256:...`
        what: String,
        /// The reference being pulled
        reference: String,
        /// The registry's own message, if any
        detail: Option<String>,
    },
    /// The TLS connection failed (certificate, or a plain HTTP server)
    #[error("TLS failed with registry `{registry}`: {message}\nhint: imagesmith trusts the Mozilla root certificates; a registry served over plain HTTP must be listed in `IMAGESMITH_INSECURE_REGISTRIES` (`localhost` and `127.0.0.1` always may)")]
    Tls {
        /// `host[:port]`
        registry: String,
        /// The TLS error
        message: String,
    },
    /// The registry cannot be reached
    #[error("Registry `{registry}` is unreachable: {message}\nhint: check the host name, the port and the network (no proxy is used)")]
    Unreachable {
        /// `host[:port]`
        registry: String,
        /// The connection error
        message: String,
    },
    /// A transfer broke off
    #[error("Failed to read {what} from `{registry}`: {message}\nhint: pull again; blobs already stored are not fetched again")]
    Transfer {
        /// `manifest`, `blob sha256:...`
        what: String,
        /// `host[:port]`
        registry: String,
        /// The read error
        message: String,
    },
    /// Any other HTTP error
    #[error("Registry request `{url}` failed with HTTP {status}{}", detail_suffix(.detail))]
    Http {
        /// The URL requested (without credentials)
        url: String,
        /// The status code
        status: u16,
        /// The registry's own message, if any
        detail: Option<String>,
    },
    /// Content does not hash to the digest it was asked by (or announced with)
    #[error("{what} from `{reference}` does not match its digest: expected `{expected}`, the content hashes to `{actual}`\nhint: the registry, a proxy or the network corrupted it; nothing was stored")]
    DigestMismatch {
        /// `Manifest`, `Blob`
        what: String,
        /// The reference being pulled
        reference: String,
        /// The digest asked for
        expected: String,
        /// The digest of what arrived
        actual: String,
    },
    /// Content is not the size its descriptor says
    #[error("{what} from `{reference}` is not the size its descriptor gives: expected {expected} bytes, got {actual}{}\nhint: nothing was stored", if *.more { " or more" } else { "" })]
    SizeMismatch {
        /// `Blob sha256:...`
        what: String,
        /// The reference being pulled
        reference: String,
        /// The descriptor's size
        expected: u64,
        /// The bytes that arrived
        actual: u64,
        /// Whether the transfer was cut at `actual` because it went past `expected`
        more: bool,
    },
    /// A manifest or index is larger than any sensible one
    #[error("{what} of `{reference}` is larger than {limit} bytes")]
    TooLarge {
        /// `Manifest`
        what: String,
        /// The reference being pulled
        reference: String,
        /// The limit
        limit: u64,
    },
    /// A media type that is not an image (Docker schema 1, an artifact...)
    #[error("`{reference}` has {what} of media type `{media_type}`, which is not a container image\nhint: images use the OCI or the Docker v2 schema 2 media types")]
    UnsupportedMediaType {
        /// The reference being pulled
        reference: String,
        /// `a manifest`, `a config`, `layer sha256:...`
        what: String,
        /// The media type found
        media_type: String,
    },
    /// An image index lists no manifest for the platform
    #[error("`{reference}` has no image for `{platform}`; it has: {available}")]
    NoMatchingPlatform {
        /// The reference being pulled
        reference: String,
        /// `os/architecture`
        platform: String,
        /// The platforms of the index, comma separated
        available: String,
    },
    /// A manifest, index or config is not valid JSON of its kind
    #[error("Failed to parse the {what} of `{reference}`: {source}")]
    Parse {
        /// `image manifest`, `image index`, `image config`
        what: &'static str,
        /// The reference being pulled
        reference: String,
        /// The parse error
        #[source]
        source: serde_json::Error,
    },
    /// The token service's address is unusable (or would receive credentials over plain HTTP)
    #[error("Registry `{registry}` sent an unusable token service address `{realm}`: {reason}")]
    BadRealm {
        /// `host[:port]`
        registry: String,
        /// The realm
        realm: String,
        /// Why it is refused
        reason: &'static str,
    },
    /// A credential source failed
    #[error("Cannot get credentials for `{registry}` from {source_name}: {source}")]
    Credentials {
        /// The source, e.g. `auth file `/root/.docker/config.json``
        source_name: String,
        /// `host[:port]`
        registry: String,
        /// What went wrong
        #[source]
        source: CredentialError,
    },
    /// The tag already names other content: tags are immutable
    #[error("Tag `{reference}` already names `{existing}`; refusing to move it to `{pushing}`\nhint: a published tag never changes: publish a new version under a new tag")]
    TagExists {
        /// The destination, `host/repository:tag`
        reference: String,
        /// The digest the registry's tag names
        existing: oci_spec::image::Digest,
        /// The digest being pushed
        pushing: oci_spec::image::Digest,
    },
    /// The registry answered outside the Distribution API (no upload location, one on
    /// another host, an upload session that does not match what was sent)
    #[error("Registry `{registry}` answered unexpectedly while {action}: {message}")]
    Protocol {
        /// `host[:port]`
        registry: String,
        /// `uploading blob sha256:...`
        action: String,
        /// What was wrong
        message: String,
    },
    /// The push state directory cannot be written
    #[error("Failed to {action} push state file `{path}`: {source}")]
    State {
        /// `write`, `read`
        action: &'static str,
        /// The state file
        path: std::path::PathBuf,
        /// The I/O error
        #[source]
        source: std::io::Error,
    },
    /// Storing a blob failed
    #[error(transparent)]
    Store(#[from] OciError),
}

impl RegistryError {
    /// Whether the error comes from what was asked (a bad reference, an image that does not
    /// exist or has no manifest for this platform) rather than from the registry, the network
    /// or the machine
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            RegistryError::InvalidReference { .. }
                | RegistryError::NotFound { .. }
                | RegistryError::NoMatchingPlatform { .. }
                | RegistryError::UnsupportedMediaType { .. }
                | RegistryError::TagExists { .. }
        )
    }
}

fn detail_suffix(detail: &Option<String>) -> String {
    match detail {
        Some(detail) => format!(": {detail}"),
        None => String::new(),
    }
}

fn unauthorized_hint(registry: &str, tried: &[String], sent: &bool) -> String {
    let tried = if tried.is_empty() {
        String::from("none is configured")
    } else {
        tried.join("; ")
    };
    let first = if *sent {
        "the credentials sent were refused"
    } else {
        "no credentials were found"
    };
    format!(
        "{first}\ncredential sources, in order: {tried}\nhint: log in with `skopeo login {registry}` (or `docker login`), set `IMAGESMITH_REGISTRY_USERNAME` and `IMAGESMITH_REGISTRY_PASSWORD`, or point `REGISTRY_AUTH_FILE` at an auth file"
    )
}
