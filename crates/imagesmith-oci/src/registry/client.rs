//! The pull side of the Distribution API over a blocking HTTP client

use std::cell::RefCell;
use std::io::{Read, Write};

use oci_spec::image::{
    Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest, MediaType, Platform,
};
use sha2::{Digest as _, Sha256};

use super::auth::{self, Challenge, Lookup};
use super::reference::{parse_digest, Reference};
use super::{RegistryError, RegistryOptions};
use crate::image::Image;
use crate::store::{digest_of, sha256_digest, BlobStore};
use crate::OciError;

pub(super) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(super) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(super) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Every manifest type this client understands, for the `Accept` header
pub(super) const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
/// Layers: OCI (plain, gzip, zstd, non-distributable) and Docker's
const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];
/// containerd's limit: a manifest or index larger than this is not a real one
pub(super) const MAX_MANIFEST: u64 = 4 << 20;
/// Image configs are a few KiB; history-heavy ones stay far below this
const MAX_CONFIG: u64 = 16 << 20;
/// Token responses and error bodies
pub(super) const MAX_SMALL_BODY: u64 = 1 << 20;

/// Pulls images from registries, and pushes them (see [`RegistryClient::push`])
#[derive(Debug)]
pub struct RegistryClient {
    pub(super) options: RegistryOptions,
    pub(super) agent: ureq::Agent,
}

/// A pulled image, all of whose blobs are in the store
#[derive(Debug, Clone, PartialEq)]
pub struct Pulled {
    /// The image (its digest is the manifest's, as the registry has it)
    pub image: Image,
    /// The image index the image was chosen from, when the reference named one
    pub index: Option<Descriptor>,
}

impl RegistryClient {
    /// A client with these options
    pub fn new(options: RegistryOptions) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(options.timeout)
            .timeout_read(options.timeout)
            .timeout_write(options.timeout)
            .user_agent(concat!("imagesmith/", env!("CARGO_PKG_VERSION")))
            // Blob downloads are redirected to storage (S3...) that must not get our token
            .redirect_auth_headers(ureq::RedirectAuthHeaders::Never)
            .build();
        Self { options, agent }
    }

    /// A client with [`RegistryOptions::from_env`]
    pub fn from_env() -> Self {
        Self::new(RegistryOptions::from_env())
    }

    /// The options
    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// Pulls `reference` into `store`: the manifest (chosen from an index for the options'
    /// platform), the config and the layers not already stored; `log` hears of each step
    pub fn pull(
        &self,
        reference: &Reference,
        store: &BlobStore,
        log: &dyn Fn(&str),
    ) -> Result<Pulled, RegistryError> {
        let session = Session::new(self, reference);
        log(&format!("pulling `{reference}`"));
        let top = session.manifest(&reference.manifest_reference(), reference.digest(), None)?;
        let (index, fetched) = match top.kind {
            Kind::Index => {
                let index: ImageIndex = session.parse(&top.bytes, "image index")?;
                let chosen = self.choose(reference, &index)?;
                let child = session.manifest(
                    chosen.digest().as_ref(),
                    Some(chosen.digest()),
                    Some(chosen.size()),
                )?;
                if child.kind != Kind::Manifest {
                    return Err(RegistryError::UnsupportedMediaType {
                        reference: reference.to_string(),
                        what: format!("an index inside index `{}`", top.digest),
                        media_type: child.media_type,
                    });
                }
                (Some(top), child)
            }
            Kind::Manifest => (None, top),
        };
        let manifest: ImageManifest = session.parse(&fetched.bytes, "image manifest")?;

        let config = manifest.config();
        let config_type = config.media_type().to_string();
        if config_type != OCI_CONFIG && config_type != DOCKER_CONFIG {
            return Err(RegistryError::UnsupportedMediaType {
                reference: reference.to_string(),
                what: String::from("a config"),
                media_type: config_type,
            });
        }
        if config.size() > MAX_CONFIG {
            return Err(RegistryError::TooLarge {
                what: String::from("Image config"),
                reference: reference.to_string(),
                limit: MAX_CONFIG,
            });
        }
        for layer in manifest.layers() {
            let media_type = layer.media_type().to_string();
            if !LAYER_TYPES.contains(&media_type.as_str()) {
                return Err(RegistryError::UnsupportedMediaType {
                    reference: reference.to_string(),
                    what: format!("layer `{}`", layer.digest()),
                    media_type,
                });
            }
        }
        session.blob(config, store)?;
        let config_bytes = store.read(config.digest())?;
        let config: ImageConfiguration = session.parse(&config_bytes, "image config")?;
        if manifest.layers().len() != config.rootfs().diff_ids().len() {
            return Err(OciError::LayerCountMismatch {
                digest: fetched.digest.to_string(),
                layers: manifest.layers().len(),
                diff_ids: config.rootfs().diff_ids().len(),
            }
            .into());
        }
        let count = manifest.layers().len();
        for (number, layer) in manifest.layers().iter().enumerate() {
            let digest = layer.digest();
            if store.contains(digest) {
                log(&format!(
                    "layer {}/{count} `{}` already stored",
                    number + 1,
                    short(digest)
                ));
                continue;
            }
            log(&format!(
                "fetching layer {}/{count} `{}` ({})",
                number + 1,
                short(digest),
                human_size(layer.size())
            ));
            session.blob(layer, store)?;
        }

        // The manifests last: once one is stored, everything it names is
        store.write_bytes(&fetched.bytes)?;
        let index = match index {
            Some(index) => {
                store.write_bytes(&index.bytes)?;
                Some(Descriptor::new(
                    MediaType::from(index.media_type.as_str()),
                    index.bytes.len() as u64,
                    index.digest,
                ))
            }
            None => None,
        };
        let mut descriptor = Descriptor::new(
            MediaType::from(fetched.media_type.as_str()),
            fetched.bytes.len() as u64,
            fetched.digest,
        );
        let mut platform = Platform::default();
        platform.set_architecture(config.architecture().clone());
        platform.set_os(config.os().clone());
        descriptor.set_platform(Some(platform));
        Ok(Pulled {
            image: Image {
                descriptor,
                manifest,
                config,
            },
            index,
        })
    }

    /// The manifest of `index` for the options' platform
    fn choose<'a>(
        &self,
        reference: &Reference,
        index: &'a ImageIndex,
    ) -> Result<&'a Descriptor, RegistryError> {
        let (os, architecture) = (&self.options.os, &self.options.architecture);
        index
            .manifests()
            .iter()
            .find(|candidate| {
                candidate.platform().as_ref().is_some_and(|platform| {
                    platform.os() == os && platform.architecture() == architecture
                })
            })
            .ok_or_else(|| RegistryError::NoMatchingPlatform {
                reference: reference.to_string(),
                platform: format!("{os}/{architecture}"),
                available: {
                    let platforms: Vec<String> = index
                        .manifests()
                        .iter()
                        .map(|candidate| match candidate.platform() {
                            Some(platform) => match platform.variant() {
                                Some(variant) => format!(
                                    "`{}/{}/{variant}`",
                                    platform.os(),
                                    platform.architecture()
                                ),
                                None => {
                                    format!("`{}/{}`", platform.os(), platform.architecture())
                                }
                            },
                            None => String::from("(no platform)"),
                        })
                        .collect();
                    if platforms.is_empty() {
                        String::from("nothing")
                    } else {
                        platforms.join(", ")
                    }
                },
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Manifest,
    Index,
}

/// A manifest or index as the registry sent it
pub(super) struct Received {
    pub(super) bytes: Vec<u8>,
    pub(super) digest: Digest,
    pub(super) media_type: String,
    pub(super) kind: Kind,
}

/// How often a failed request is tried again, and how long to wait first
#[derive(Debug, Clone, Copy)]
pub(super) struct Retry {
    /// Tries after the first
    pub(super) attempts: u32,
    /// The wait before the first retry; each further one doubles it
    pub(super) base_delay: std::time::Duration,
}

impl Retry {
    /// No retry (pulls fail at once, as they always did)
    pub(super) const NONE: Retry = Retry {
        attempts: 0,
        base_delay: std::time::Duration::ZERO,
    };

    /// The wait before retry number `attempt` (0-based), capped at 30 s
    pub(super) fn delay(&self, attempt: u32) -> std::time::Duration {
        self.base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(std::time::Duration::from_secs(30))
    }
}

/// Whether a status is worth trying again: the registry is overloaded or broke
pub(super) fn is_transient(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// One pull or push: the registry's address and the authorization obtained so far
pub(super) struct Session<'a> {
    pub(super) client: &'a RegistryClient,
    pub(super) reference: &'a Reference,
    /// Retries of requests that can be sent again
    pub(super) retry: Retry,
    /// Whether tokens are asked for `pull,push` (when a challenge names no scope)
    pub(super) push: bool,
    /// `https://host[:port]` or `http://...`, found on first use
    base: RefCell<Option<String>>,
    /// The `Authorization` header value that works, once known
    authorization: RefCell<Option<String>>,
    /// What the credential sources answered, once asked
    lookup: RefCell<Option<Lookup>>,
    /// Whether the credentials found were sent (to the registry or its token service)
    sent: RefCell<bool>,
}

impl<'a> Session<'a> {
    pub(super) fn new(client: &'a RegistryClient, reference: &'a Reference) -> Self {
        Self {
            client,
            reference,
            retry: Retry::NONE,
            push: false,
            base: RefCell::new(None),
            authorization: RefCell::new(None),
            lookup: RefCell::new(None),
            sent: RefCell::new(false),
        }
    }

    pub(super) fn registry(&self) -> &str {
        self.reference.registry()
    }

    /// The scheme and host: HTTPS, or plain HTTP for an allowed registry that does not
    /// speak TLS
    pub(super) fn base(&self) -> String {
        if let Some(base) = self.base.borrow().as_ref() {
            return base.clone();
        }
        let host = self.reference.api_host();
        let https = format!("https://{host}");
        let base = if self.client.options.allows_plain_http(self.registry()) {
            match self.client.agent.get(&format!("{https}/v2/")).call() {
                Ok(_) | Err(ureq::Error::Status(..)) => https,
                Err(ureq::Error::Transport(_)) => format!("http://{host}"),
            }
        } else {
            https
        };
        *self.base.borrow_mut() = Some(base.clone());
        base
    }

    /// Asks the credential sources, once
    fn lookup(&self) -> Result<Lookup, RegistryError> {
        if let Some(lookup) = self.lookup.borrow().as_ref() {
            return Ok(lookup.clone());
        }
        let lookup = auth::lookup(&self.client.options.credentials, self.registry())?;
        *self.lookup.borrow_mut() = Some(lookup.clone());
        Ok(lookup)
    }

    /// A GET under `/v2/<repository>/`, authenticating when challenged; a status other
    /// than 2xx is an error (`NotFound` for 404)
    pub(super) fn get(
        &self,
        path: &str,
        accept: Option<&str>,
        what: &str,
    ) -> Result<ureq::Response, RegistryError> {
        let url = self.url(path);
        let headers: Vec<(&str, &str)> = accept
            .map(|accept| ("Accept", accept))
            .into_iter()
            .collect();
        let response = self.send("GET", &url, &headers, None, true)?;
        self.expect_success(response, &url, what)
    }

    /// `https://host/v2/<repository>/<path>`
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base(), self.reference.repository())
    }

    /// The response when it is 2xx; else `NotFound` (404) or `Http`
    pub(super) fn expect_success(
        &self,
        response: ureq::Response,
        url: &str,
        what: &str,
    ) -> Result<ureq::Response, RegistryError> {
        match response.status() {
            200..=299 => Ok(response),
            404 => Err(RegistryError::NotFound {
                what: what.to_owned(),
                reference: self.reference.to_string(),
                detail: error_detail(response),
            }),
            status => Err(RegistryError::Http {
                url: url.to_owned(),
                status,
                detail: error_detail(response),
            }),
        }
    }

    /// Sends a request with the authorization known so far, answering one 401 challenge;
    /// with `retry`, connection failures and 5xx/429 answers are tried again with backoff
    /// (the body is a slice, so it can be sent again). Returns the response whatever its
    /// status, except 401/403 (`Unauthorized`) and transport failures.
    pub(super) fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        retry: bool,
    ) -> Result<ureq::Response, RegistryError> {
        let mut challenged = false;
        let mut attempt = 0;
        loop {
            let mut request = self.client.agent.request(method, url);
            for (name, value) in headers {
                request = request.set(name, value);
            }
            if let Some(authorization) = self.authorization.borrow().as_deref() {
                request = request.set("Authorization", authorization);
            }
            let result = match body {
                Some(body) => request.send_bytes(body),
                None => request.call(),
            };
            let retries_left = retry && attempt < self.retry.attempts;
            let response = match result {
                Ok(response) => response,
                Err(ureq::Error::Status(401, response)) if !challenged => {
                    challenged = true;
                    let challenges: Vec<Challenge> = response
                        .all("www-authenticate")
                        .into_iter()
                        .flat_map(auth::parse_challenges)
                        .collect();
                    let detail = error_detail(response);
                    self.authenticate(&challenges, detail)?;
                    continue;
                }
                Err(ureq::Error::Status(status @ (401 | 403), response)) => {
                    return Err(self.unauthorized(status, error_detail(response)))
                }
                Err(ureq::Error::Status(status, response)) => {
                    if is_transient(status) && retries_left {
                        std::thread::sleep(self.retry.delay(attempt));
                        attempt += 1;
                        continue;
                    }
                    response
                }
                Err(ureq::Error::Transport(transport)) => {
                    if retries_left {
                        std::thread::sleep(self.retry.delay(attempt));
                        attempt += 1;
                        continue;
                    }
                    return Err(transport_error(self.registry(), &transport));
                }
            };
            return Ok(response);
        }
    }

    /// Answers a 401's challenges: a Bearer token from the realm, or Basic credentials
    fn authenticate(
        &self,
        challenges: &[Challenge],
        detail: Option<String>,
    ) -> Result<(), RegistryError> {
        if let Some(bearer) = challenges.iter().find(|challenge| challenge.is("bearer")) {
            let token = self.token(bearer)?;
            *self.authorization.borrow_mut() = Some(format!("Bearer {token}"));
            return Ok(());
        }
        if challenges.iter().any(|challenge| challenge.is("basic")) {
            return match self.lookup()?.found {
                Some((credentials, _)) => {
                    *self.sent.borrow_mut() = true;
                    *self.authorization.borrow_mut() = Some(credentials.basic_header());
                    Ok(())
                }
                None => Err(self.unauthorized(401, detail)),
            };
        }
        let schemes: Vec<&str> = challenges
            .iter()
            .map(|challenge| challenge.scheme.as_str())
            .collect();
        let detail = match (detail, schemes.is_empty()) {
            (detail, true) => detail.or_else(|| Some(String::from("no challenge was sent"))),
            (_, false) => Some(format!(
                "no supported authentication scheme in `{}`",
                schemes.join(", ")
            )),
        };
        Err(self.unauthorized(401, detail))
    }

    /// Gets a token from the realm of a Bearer challenge
    fn token(&self, challenge: &Challenge) -> Result<String, RegistryError> {
        let bad_realm = |realm: &str, reason| RegistryError::BadRealm {
            registry: self.registry().to_owned(),
            realm: realm.to_owned(),
            reason,
        };
        let realm = challenge
            .param("realm")
            .ok_or_else(|| bad_realm("", "the challenge has no realm"))?;
        let realm_host = if let Some(rest) = realm.strip_prefix("https://") {
            rest.split(['/', '?']).next().unwrap_or_default()
        } else if let Some(rest) = realm.strip_prefix("http://") {
            let host = rest.split(['/', '?']).next().unwrap_or_default();
            if !self.client.options.allows_plain_http(host) {
                return Err(bad_realm(
                    realm,
                    "it is plain HTTP on a host not allowed plain HTTP",
                ));
            }
            host
        } else {
            return Err(bad_realm(realm, "it is not an HTTP(S) URL"));
        };
        if realm_host.is_empty() {
            return Err(bad_realm(realm, "it has no host"));
        }
        let lookup = self.lookup()?;
        let actions = if self.push { "pull,push" } else { "pull" };
        let default_scope = format!("repository:{}:{actions}", self.reference.repository());
        let mut request = self
            .client
            .agent
            .get(realm)
            .query("scope", challenge.param("scope").unwrap_or(&default_scope));
        if let Some(service) = challenge.param("service") {
            request = request.query("service", service);
        }
        if let Some((credentials, _)) = &lookup.found {
            *self.sent.borrow_mut() = true;
            request = request.set("Authorization", &credentials.basic_header());
        }
        let response = match request.call() {
            Ok(response) => response,
            Err(ureq::Error::Status(status @ (401 | 403), response)) => {
                return Err(self.unauthorized(status, error_detail(response)))
            }
            Err(ureq::Error::Status(status, response)) => {
                return Err(RegistryError::Http {
                    url: realm.to_owned(),
                    status,
                    detail: error_detail(response),
                })
            }
            Err(ureq::Error::Transport(transport)) => {
                return Err(transport_error(realm_host, &transport))
            }
        };
        let body = self.read_limited(response, MAX_SMALL_BODY, "the token", "Token response")?;
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|source| RegistryError::Parse {
                what: "token response",
                reference: self.reference.to_string(),
                source,
            })?;
        parsed
            .token
            .filter(|token| !token.is_empty())
            .or(parsed.access_token.filter(|token| !token.is_empty()))
            .ok_or_else(|| RegistryError::Http {
                url: realm.to_owned(),
                status: 200,
                detail: Some(String::from(
                    "the token service answered without `token` or `access_token`",
                )),
            })
    }

    fn unauthorized(&self, status: u16, detail: Option<String>) -> RegistryError {
        // The sources are named in the message even when the registry asked for none
        let lookup = self.lookup().unwrap_or_default();
        RegistryError::Unauthorized {
            registry: self.registry().to_owned(),
            repository: self.reference.repository().to_owned(),
            status,
            detail,
            tried: lookup.tried,
            sent: *self.sent.borrow() && lookup.found.is_some(),
        }
    }

    /// Fetches a manifest or index by tag or digest, checking it against `digest` (and
    /// `size`) when given, else against the `Docker-Content-Digest` the registry announces
    pub(super) fn manifest(
        &self,
        reference: &str,
        digest: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<Received, RegistryError> {
        let response = self.get(&format!("manifests/{reference}"), Some(ACCEPT), "Manifest")?;
        let header_type = response.content_type().to_owned();
        let announced = response
            .header("docker-content-digest")
            .and_then(|value| parse_digest(value.trim()).ok());
        let bytes = self.read_limited(response, MAX_MANIFEST, "the manifest", "Manifest")?;
        let actual = digest_of(&bytes);
        let expected = digest.cloned().or(announced);
        if let Some(expected) = expected {
            if expected != actual {
                return Err(RegistryError::DigestMismatch {
                    what: String::from("Manifest"),
                    reference: self.reference.to_string(),
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        if let Some(size) = size {
            if size != bytes.len() as u64 {
                return Err(RegistryError::SizeMismatch {
                    what: String::from("Manifest"),
                    reference: self.reference.to_string(),
                    expected: size,
                    actual: bytes.len() as u64,
                    more: false,
                });
            }
        }
        #[derive(serde::Deserialize)]
        struct Shape {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            manifests: Option<serde::de::IgnoredAny>,
            layers: Option<serde::de::IgnoredAny>,
        }
        let shape: Shape = self.parse(&bytes, "image manifest")?;
        // The document's own media type wins; OCI allows it to be absent
        let media_type = shape.media_type.unwrap_or(header_type);
        let kind = match media_type.as_str() {
            OCI_INDEX | DOCKER_LIST => Kind::Index,
            OCI_MANIFEST | DOCKER_MANIFEST => Kind::Manifest,
            _ if shape.manifests.is_some() => Kind::Index,
            _ if shape.layers.is_some() && !media_type.contains("docker") => Kind::Manifest,
            _ => {
                return Err(RegistryError::UnsupportedMediaType {
                    reference: self.reference.to_string(),
                    what: String::from("a manifest"),
                    media_type,
                })
            }
        };
        let media_type = match (kind, media_type.as_str()) {
            (Kind::Index, OCI_INDEX | DOCKER_LIST)
            | (Kind::Manifest, OCI_MANIFEST | DOCKER_MANIFEST) => media_type,
            (Kind::Index, _) => OCI_INDEX.to_owned(),
            (Kind::Manifest, _) => OCI_MANIFEST.to_owned(),
        };
        Ok(Received {
            bytes,
            digest: actual,
            media_type,
            kind,
        })
    }

    /// Streams a blob into the store unless it is there, checking size and digest before
    /// it gets its name
    pub(super) fn blob(
        &self,
        descriptor: &Descriptor,
        store: &BlobStore,
    ) -> Result<(), RegistryError> {
        let digest = descriptor.digest();
        if store.contains(digest) {
            return Ok(());
        }
        let what = format!("Blob `{digest}`");
        let expected = descriptor.size();
        let response = self.get(&format!("blobs/{digest}"), None, &what)?;
        let mut body = response.into_reader().take(expected.saturating_add(1));
        let mut writer = store.writer()?;
        let mut hasher = Sha256::new();
        let mut received: u64 = 0;
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let read = match body.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    return Err(RegistryError::Transfer {
                        what: format!("blob `{digest}`"),
                        registry: self.registry().to_owned(),
                        message: error.to_string(),
                    })
                }
            };
            received += read as u64;
            if received > expected {
                return Err(RegistryError::SizeMismatch {
                    what,
                    reference: self.reference.to_string(),
                    expected,
                    actual: received,
                    more: true,
                });
            }
            hasher.update(&buffer[..read]);
            writer
                .write_all(&buffer[..read])
                .map_err(|source| OciError::IoAt {
                    action: "write a blob in",
                    path: store.root().to_path_buf(),
                    source,
                })?;
        }
        if received != expected {
            return Err(RegistryError::SizeMismatch {
                what,
                reference: self.reference.to_string(),
                expected,
                actual: received,
                more: false,
            });
        }
        let actual = sha256_digest(&hasher.finalize());
        if &actual != digest {
            // The writer is dropped: its temporary file goes with it
            return Err(RegistryError::DigestMismatch {
                what,
                reference: self.reference.to_string(),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        writer.commit()?;
        Ok(())
    }

    pub(super) fn read_limited(
        &self,
        response: ureq::Response,
        limit: u64,
        what: &str,
        title: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut bytes = Vec::new();
        response
            .into_reader()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| RegistryError::Transfer {
                what: what.to_owned(),
                registry: self.registry().to_owned(),
                message: error.to_string(),
            })?;
        if bytes.len() as u64 > limit {
            return Err(RegistryError::TooLarge {
                what: title.to_owned(),
                reference: self.reference.to_string(),
                limit,
            });
        }
        Ok(bytes)
    }

    pub(super) fn parse<T: serde::de::DeserializeOwned>(
        &self,
        bytes: &[u8],
        what: &'static str,
    ) -> Result<T, RegistryError> {
        serde_json::from_slice(bytes).map_err(|source| RegistryError::Parse {
            what,
            reference: self.reference.to_string(),
            source,
        })
    }
}

/// The registry's own explanation from an error body: Distribution's
/// `{"errors": [{"code": "...", "message": "..."}]}`, a token service's `{"details": "..."}`,
/// else short plain text
pub(super) fn error_detail(response: ureq::Response) -> Option<String> {
    let mut body = Vec::new();
    response
        .into_reader()
        .take(16 * 1024)
        .read_to_end(&mut body)
        .ok()?;
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(&body) {
        if let Some(serde_json::Value::Array(errors)) = object.get("errors") {
            let text: Vec<String> = errors
                .iter()
                .map(|entry| {
                    let field = |name| entry.get(name).and_then(serde_json::Value::as_str);
                    match (field("code"), field("message")) {
                        (Some(code), Some(message)) => format!("{code}: {message}"),
                        (Some(text), None) | (None, Some(text)) => text.to_owned(),
                        (None, None) => String::from("(no message)"),
                    }
                })
                .collect();
            return (!text.is_empty()).then(|| text.join("; "));
        }
        return ["details", "message", "error_description", "error"]
            .iter()
            .find_map(|name| object.get(*name).and_then(serde_json::Value::as_str))
            .map(str::to_owned);
    }
    let text = String::from_utf8_lossy(&body);
    let text = text.trim();
    let printable = !text.is_empty()
        && text.len() <= 200
        && !text.starts_with('<')
        && text.chars().all(|c| !c.is_control() || c == '\n');
    printable.then(|| text.replace('\n', " "))
}

/// Sorts a transport failure into unreachable and TLS
pub(super) fn transport_error(registry: &str, transport: &ureq::Transport) -> RegistryError {
    let mut message = transport
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| transport.kind().to_string());
    let mut source = std::error::Error::source(transport);
    while let Some(error) = source {
        let text = error.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = error.source();
    }
    let lower = message.to_ascii_lowercase();
    let tls = [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
    ]
    .iter()
    .any(|needle| lower.contains(needle));
    if tls && transport.kind() == ureq::ErrorKind::Io {
        RegistryError::Tls {
            registry: registry.to_owned(),
            message,
        }
    } else {
        RegistryError::Unreachable {
            registry: registry.to_owned(),
            message,
        }
    }
}

/// `sha256:` and the first 12 hex digits
pub(super) fn short(digest: &Digest) -> String {
    let text = digest.to_string();
    text.chars().take(7 + 12).collect()
}

pub(super) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(30 << 20), "30.0 MiB");
    }
}
