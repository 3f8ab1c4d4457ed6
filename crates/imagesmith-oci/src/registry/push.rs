//! The push side of the Distribution API: blobs first (skipped when the registry has them,
//! mounted from another repository, uploaded whole or in chunks, an interrupted chunked
//! upload resumed), the manifest last under a tag that never moves, then the referrers
//! (SBOMs, verdicts) with the `sha256-<hex>` tag fallback of registries without the
//! referrers API
//!
//! Written over the same blocking `ureq` session as the pull side, for the reasons given in
//! the [`registry`](super) module: `oci-client` is async and would still leave the
//! credential chain, the insecure rule, the streaming from the [`BlobStore`] and the resume
//! state to write.
//!
//! Memory stays bounded by the chunk size: a blob no larger than
//! [`PushOptions::chunk_size`] is read (and verified) whole and sent in one `PUT`; a larger
//! one is read chunk by chunk from [`BlobStore::open_verified`], each chunk sent with
//! `PATCH` and `Content-Range`. The local digest check happens at the end of the file,
//! before the final `PUT ?digest=`, so a corrupt local blob is never committed (and the
//! registry checks the digest too).
//!
//! Resume: after each chunk the upload URL and offset are written to
//! `<state_dir>/<sha256 of registry/repository@digest>.json`. The next push of that blob
//! asks the registry where the session stands (`GET` on the URL, the `Range` header) and
//! continues from there; a session that is gone (404) or that does not match restarts the
//! blob from the start. A failed chunk is retried the same way: the registry's `Range` tells
//! whether it landed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::image::{
    Descriptor, Digest, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType,
};
use sha2::{Digest as _, Sha256};

use super::client::{
    error_detail, human_size, is_transient, short, Retry, Session, ACCEPT, MAX_MANIFEST, OCI_INDEX,
};
use super::reference::{parse_digest, Reference};
use super::{RegistryClient, RegistryError};
use crate::image::{canonical_json, Image, REF_NAME_ANNOTATION};
use crate::store::{digest_of, BlobStore};
use crate::OciError;

/// The default [`PushOptions::chunk_size`]: 64 MiB. Distribution spends per request, not
/// per byte: on `bench/push.sh` (five 40 MiB layers) 8 MiB chunks pushed in 1.85 s, one
/// request per blob in 1.55 s, `skopeo copy` in 1.57 s. A chunk is held in memory once.
pub const DEFAULT_CHUNK_SIZE: u64 = 64 << 20;
/// Blobs read whole by [`RegistryClient::blob_bytes`] (configs, SBOMs, signatures)
const MAX_SMALL_BLOB: u64 = 64 << 20;

/// How [`RegistryClient::push`] uploads
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOptions {
    /// Blobs up to this size go in one request; larger ones in chunks of this size
    pub chunk_size: u64,
    /// How often a failed request (connection error, 5xx, 429) is tried again
    pub retries: u32,
    /// The wait before the first retry; each further one doubles it
    pub retry_delay: Duration,
    /// Repositories of the same registry that may hold the blobs already (the golden
    /// image's, say): blobs are mounted from them rather than uploaded
    pub mount_from: Vec<String>,
    /// Where interrupted chunked uploads are recorded, to be resumed (none: no resume)
    pub state_dir: Option<PathBuf>,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            retries: 4,
            retry_delay: Duration::from_millis(250),
            mount_from: Vec::new(),
            state_dir: None,
        }
    }
}

/// An artifact manifest referring to an image (an SBOM, a scan verdict), with its blobs
#[derive(Debug, Clone, PartialEq)]
pub struct Referrer {
    /// The manifest's descriptor (with its `artifactType`)
    pub descriptor: Descriptor,
    /// The manifest's bytes
    pub bytes: Vec<u8>,
    /// The blobs it names: config and layers
    pub blobs: Vec<Descriptor>,
    /// The image it refers to
    pub subject: Digest,
}

impl Referrer {
    /// Reads a referrer from its manifest bytes; `None` when the manifest has no `subject`
    pub fn from_manifest(bytes: Vec<u8>, media_type: MediaType) -> Result<Option<Self>, OciError> {
        let digest = digest_of(&bytes);
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|source| OciError::Json {
                action: "parse",
                what: "artifact manifest",
                path: digest.to_string(),
                source,
            })?;
        let Some(subject) = manifest.subject() else {
            return Ok(None);
        };
        let mut descriptor = Descriptor::new(media_type, bytes.len() as u64, digest);
        let artifact_type = manifest
            .artifact_type()
            .clone()
            .unwrap_or_else(|| manifest.config().media_type().clone());
        descriptor.set_artifact_type(Some(artifact_type));
        descriptor.set_annotations(manifest.annotations().clone());
        let mut blobs = vec![manifest.config().clone()];
        blobs.extend(manifest.layers().iter().cloned());
        Ok(Some(Self {
            descriptor,
            subject: subject.digest().clone(),
            bytes,
            blobs,
        }))
    }

    /// The manifest's digest
    pub fn digest(&self) -> &Digest {
        self.descriptor.digest()
    }
}

/// What a push did
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pushed {
    /// The image's manifest digest
    pub digest: Digest,
    /// Where it went, `host/repository:tag`
    pub reference: String,
    /// Blobs uploaded
    pub blobs_uploaded: usize,
    /// Blobs the registry had already
    pub blobs_skipped: usize,
    /// Blobs mounted from another repository
    pub blobs_mounted: usize,
    /// Bytes sent in blob uploads
    pub bytes_uploaded: u64,
    /// Whether the tag already named this image, so nothing of it was uploaded
    pub unchanged: bool,
    /// Referrers the registry holds for the image after the push (of those given)
    pub referrers: usize,
}

/// A manifest as a registry serves it
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The bytes, which hash to `digest`
    pub bytes: Vec<u8>,
    /// The media type (the document's own, else the `Content-Type`)
    pub media_type: String,
    /// The digest
    pub digest: Digest,
}

/// The record of an interrupted chunked upload
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct UploadState {
    registry: String,
    repository: String,
    digest: String,
    location: String,
    offset: u64,
}

/// What happened to one blob
enum BlobOutcome {
    Skipped,
    Mounted(String),
    Uploaded(u64),
}

/// Why a chunked upload must start over
struct Lost(String);

/// The fallback tag of the referrers of `subject`: `sha256-<hex>`
pub fn referrers_tag(subject: &Digest) -> String {
    subject.to_string().replace(':', "-")
}

impl RegistryClient {
    /// Pushes `image` (its blobs from `store`) to `dest`, then its `referrers`: blobs the
    /// registry has are skipped, others mounted from [`PushOptions::mount_from`] or
    /// uploaded; the manifest goes last. A tag that already names another digest is
    /// refused ([`RegistryError::TagExists`]); one that names this image means nothing is
    /// uploaded (`unchanged`). `progress` hears of each blob.
    pub fn push(
        &self,
        store: &BlobStore,
        image: &Image,
        referrers: &[Referrer],
        dest: &Reference,
        options: &PushOptions,
        progress: &dyn Fn(&str),
    ) -> Result<Pushed, RegistryError> {
        let session = self.push_session(dest, options);
        let digest = image.digest().clone();
        if let Some(wanted) = dest.digest() {
            if wanted != &digest {
                return Err(RegistryError::InvalidReference {
                    reference: dest.to_string(),
                    reason: format!("it names digest `{wanted}`, but the image is `{digest}`"),
                });
            }
        }
        let mut pushed = Pushed {
            digest: digest.clone(),
            reference: dest.to_string(),
            blobs_uploaded: 0,
            blobs_skipped: 0,
            blobs_mounted: 0,
            bytes_uploaded: 0,
            unchanged: false,
            referrers: 0,
        };
        // Immutable tags: asked before any blob work, so a re-push costs one request
        let target = dest.manifest_reference();
        if let Some(existing) = head_manifest(&session, &target)? {
            if existing != digest {
                return Err(RegistryError::TagExists {
                    reference: dest.to_string(),
                    existing,
                    pushing: digest,
                });
            }
            pushed.unchanged = true;
            progress(&format!("`{dest}` already names `{}`", short(&digest)));
        }
        if !pushed.unchanged {
            let manifest_bytes = store.read(&digest)?;
            let mut blobs = vec![image.manifest.config().clone()];
            blobs.extend(image.layers().iter().cloned());
            for blob in &blobs {
                push_blob(&session, store, blob, options, progress, &mut pushed)?;
            }
            let media_type = image.descriptor.media_type().to_string();
            put_manifest_bytes(&session, &target, &manifest_bytes, &media_type)?;
            progress(&format!("pushed `{dest}` as `{digest}`"));
        }
        let mut fallback = Vec::new();
        for referrer in referrers {
            let reference = referrer.digest().to_string();
            if head_manifest(&session, &reference)?.is_some() {
                pushed.referrers += 1;
                continue;
            }
            for blob in &referrer.blobs {
                push_blob(&session, store, blob, options, progress, &mut pushed)?;
            }
            let response = put_manifest_bytes(
                &session,
                &reference,
                &referrer.bytes,
                referrer.descriptor.media_type().as_ref(),
            )?;
            if response.header("oci-subject").is_none() {
                fallback.push(referrer);
            }
            pushed.referrers += 1;
            progress(&format!(
                "pushed referrer `{}` ({})",
                short(referrer.digest()),
                referrer
                    .descriptor
                    .artifact_type()
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ));
        }
        // Registries without the referrers API: the index under `sha256-<hex>` lists them
        let mut by_subject: Vec<(&Digest, Vec<&Referrer>)> = Vec::new();
        for referrer in fallback {
            match by_subject
                .iter_mut()
                .find(|(subject, _)| **subject == referrer.subject)
            {
                Some((_, list)) => list.push(referrer),
                None => by_subject.push((&referrer.subject, vec![referrer])),
            }
        }
        for (subject, list) in by_subject {
            update_fallback_index(&session, subject, &list)?;
        }
        Ok(pushed)
    }

    /// The referrers of `subject` in the repository of `repository`: the referrers API,
    /// else the `sha256-<hex>` fallback tag; none when neither exists
    pub fn referrers(
        &self,
        repository: &Reference,
        subject: &Digest,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        let session = Session::new(self, repository);
        let url = session.url(&format!("referrers/{subject}"));
        let response = session.send("GET", &url, &[("Accept", OCI_INDEX)], None, true)?;
        if response.status() == 200 {
            let bytes = session.read_limited(response, MAX_MANIFEST, "referrers", "Referrers")?;
            let index: ImageIndex = session.parse(&bytes, "image index")?;
            return Ok(index.manifests().clone());
        }
        match session_manifest(&session, &referrers_tag(subject))? {
            Some(fetched) => {
                let index: ImageIndex = session.parse(&fetched.bytes, "image index")?;
                Ok(index.manifests().clone())
            }
            None => Ok(Vec::new()),
        }
    }

    /// The manifest (or index) `reference` names, by tag or digest; `None` when the
    /// registry does not have it
    pub fn manifest(&self, reference: &Reference) -> Result<Option<Fetched>, RegistryError> {
        let session = Session::new(self, reference);
        session_manifest(&session, &reference.manifest_reference())
    }

    /// A small blob of the repository of `reference`, checked against `digest`
    pub fn blob_bytes(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<Vec<u8>, RegistryError> {
        let session = Session::new(self, reference);
        let what = format!("Blob `{digest}`");
        let response = session.get(&format!("blobs/{digest}"), None, &what)?;
        let bytes = session.read_limited(response, MAX_SMALL_BLOB, &what, &what)?;
        let actual = digest_of(&bytes);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                what,
                reference: reference.to_string(),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Uploads `bytes` as a blob of the repository of `reference` (unless it is there)
    pub fn put_blob_bytes(
        &self,
        reference: &Reference,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let options = PushOptions::default();
        let session = self.push_session(reference, &options);
        let digest = digest_of(bytes);
        if !blob_exists(&session, &digest)? {
            let location = start_upload(&session, &digest, None)?;
            finish_upload(&session, &location, &digest, Some(bytes))?;
        }
        Ok(digest)
    }

    /// Puts a manifest under the tag or digest of `reference`, as is: no immutability
    /// check (signatures live under the `sha256-<hex>.sig` tag, which grows)
    pub fn put_manifest(
        &self,
        reference: &Reference,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        let options = PushOptions::default();
        let session = self.push_session(reference, &options);
        put_manifest_bytes(&session, &reference.manifest_reference(), bytes, media_type)?;
        Ok(digest_of(bytes))
    }

    fn push_session<'a>(&'a self, dest: &'a Reference, options: &PushOptions) -> Session<'a> {
        let mut session = Session::new(self, dest);
        session.retry = Retry {
            attempts: options.retries,
            base_delay: options.retry_delay,
        };
        session.push = true;
        session
    }
}

/// The digest the registry has under `reference` (tag or digest), or `None` on 404
fn head_manifest(session: &Session<'_>, reference: &str) -> Result<Option<Digest>, RegistryError> {
    let url = session.url(&format!("manifests/{reference}"));
    let response = session.send("HEAD", &url, &[("Accept", ACCEPT)], None, true)?;
    match response.status() {
        200 => {
            let announced = response
                .header("docker-content-digest")
                .and_then(|value| parse_digest(value.trim()).ok());
            match announced {
                Some(digest) => Ok(Some(digest)),
                // Not announced: the bytes tell
                None => Ok(session_manifest(session, reference)?.map(|fetched| fetched.digest)),
            }
        }
        404 => Ok(None),
        _ => Err(session
            .expect_success(response, &url, "Manifest")
            .expect_err("not a success")),
    }
}

/// The manifest under `reference`, or `None` on 404
fn session_manifest(
    session: &Session<'_>,
    reference: &str,
) -> Result<Option<Fetched>, RegistryError> {
    match session.manifest(reference, None, None) {
        Ok(received) => Ok(Some(Fetched {
            bytes: received.bytes,
            media_type: received.media_type,
            digest: received.digest,
        })),
        Err(RegistryError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

fn put_manifest_bytes(
    session: &Session<'_>,
    reference: &str,
    bytes: &[u8],
    media_type: &str,
) -> Result<ureq::Response, RegistryError> {
    let url = session.url(&format!("manifests/{reference}"));
    let response = session.send(
        "PUT",
        &url,
        &[("Content-Type", media_type)],
        Some(bytes),
        true,
    )?;
    session.expect_success(response, &url, "Manifest")
}

fn blob_exists(session: &Session<'_>, digest: &Digest) -> Result<bool, RegistryError> {
    let url = session.url(&format!("blobs/{digest}"));
    let response = session.send("HEAD", &url, &[], None, true)?;
    match response.status() {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(session
            .expect_success(response, &url, &format!("Blob `{digest}`"))
            .expect_err("not a success")),
    }
}

/// Puts one blob in the registry, counting what was done in `pushed`
fn push_blob(
    session: &Session<'_>,
    store: &BlobStore,
    blob: &Descriptor,
    options: &PushOptions,
    progress: &dyn Fn(&str),
    pushed: &mut Pushed,
) -> Result<(), RegistryError> {
    let digest = blob.digest();
    match upload_blob(session, store, blob, options, progress)? {
        BlobOutcome::Skipped => {
            pushed.blobs_skipped += 1;
            progress(&format!("blob `{}` already in the registry", short(digest)));
        }
        BlobOutcome::Mounted(from) => {
            pushed.blobs_mounted += 1;
            progress(&format!("blob `{}` mounted from `{from}`", short(digest)));
        }
        BlobOutcome::Uploaded(bytes) => {
            pushed.blobs_uploaded += 1;
            pushed.bytes_uploaded += bytes;
            progress(&format!(
                "blob `{}` uploaded ({})",
                short(digest),
                human_size(bytes)
            ));
        }
    }
    Ok(())
}

fn upload_blob(
    session: &Session<'_>,
    store: &BlobStore,
    blob: &Descriptor,
    options: &PushOptions,
    progress: &dyn Fn(&str),
) -> Result<BlobOutcome, RegistryError> {
    let digest = blob.digest();
    if blob_exists(session, digest)? {
        return Ok(BlobOutcome::Skipped);
    }
    let repository = session.reference.repository();
    let mut location = None;
    for from in options.mount_from.iter().filter(|from| *from != repository) {
        let url = session.url(&format!("blobs/uploads/?mount={digest}&from={from}"));
        let response = session.send("POST", &url, &[], Some(&[]), true)?;
        match response.status() {
            201 => return Ok(BlobOutcome::Mounted(from.clone())),
            // Not mounted: the registry opened an upload session instead
            202 => location = Some(location_of(session, &response, digest)?),
            _ => {
                session.expect_success(response, &url, "Blob upload")?;
            }
        }
    }
    let state_path = options
        .state_dir
        .as_ref()
        .map(|dir| state_file(dir, session.reference, digest));
    let size = blob.size();
    // A recorded session, if the registry still has it as it was left
    let mut resume = None;
    if let Some(path) = &state_path {
        if let Some(state) = read_state(path)? {
            match upload_status(session, &state.location) {
                Ok(Some((location, offset))) if offset <= size => {
                    progress(&format!(
                        "resuming blob `{}` at {} of {}",
                        short(digest),
                        human_size(offset),
                        human_size(size)
                    ));
                    resume = Some((location, offset));
                }
                Ok(_) => {
                    progress(&format!(
                        "the interrupted upload of blob `{}` is gone; starting over",
                        short(digest)
                    ));
                    remove_state(path);
                }
                Err(error) => return Err(error),
            }
        }
    }
    let mut restarted = false;
    loop {
        let (location, offset) = match resume.take() {
            Some(resumed) => resumed,
            None => match location.take() {
                Some(location) => (location, 0),
                None => (start_upload(session, digest, None)?, 0),
            },
        };
        let result = if offset == 0 && size <= options.chunk_size {
            let mut bytes = Vec::with_capacity(size as usize);
            store
                .open_verified(digest)?
                .read_to_end(&mut bytes)
                .map_err(|error| store.unwrap_verify_error(digest, error))?;
            // A failed PUT leaves nothing to resume: a new session is opened each try
            let mut attempt = 0;
            let mut location = location;
            loop {
                match finish_upload(session, &location, digest, Some(&bytes)) {
                    Ok(()) => break Ok(bytes.len() as u64),
                    Err(error) if retriable(&error) && attempt < session.retry.attempts => {
                        std::thread::sleep(session.retry.delay(attempt));
                        attempt += 1;
                        location = start_upload(session, digest, None)?;
                    }
                    Err(error) => return Err(error),
                }
            }
        } else {
            chunked(
                session,
                store,
                blob,
                location,
                offset,
                options,
                state_path.as_deref(),
                progress,
            )?
        };
        match result {
            Ok(bytes) => {
                if let Some(path) = &state_path {
                    remove_state(path);
                }
                return Ok(BlobOutcome::Uploaded(bytes));
            }
            Err(Lost(reason)) if !restarted => {
                restarted = true;
                progress(&format!(
                    "restarting the upload of blob `{}`: {reason}",
                    short(digest)
                ));
                if let Some(path) = &state_path {
                    remove_state(path);
                }
            }
            Err(Lost(reason)) => {
                return Err(RegistryError::Protocol {
                    registry: session.reference.registry().to_owned(),
                    action: format!("uploading blob `{digest}`"),
                    message: reason,
                })
            }
        }
    }
}

/// Sends the blob from `offset` in chunks, then commits it; `Lost` when the session must
/// start over
#[allow(clippy::too_many_arguments)]
fn chunked(
    session: &Session<'_>,
    store: &BlobStore,
    blob: &Descriptor,
    mut location: String,
    start: u64,
    options: &PushOptions,
    state_path: Option<&Path>,
    progress: &dyn Fn(&str),
) -> Result<Result<u64, Lost>, RegistryError> {
    let digest = blob.digest();
    let size = blob.size();
    let mut reader = store.open_verified(digest)?;
    let chunk_size = usize::try_from(options.chunk_size.max(1)).unwrap_or(usize::MAX);
    let mut buffer = vec![0u8; chunk_size.min(usize::try_from(size.max(1)).unwrap_or(usize::MAX))];
    // What the registry has is read again locally, to hash the whole blob
    let mut skip = start;
    while skip > 0 {
        let want = usize::try_from(skip)
            .unwrap_or(usize::MAX)
            .min(buffer.len());
        let read = fill(&mut reader, &mut buffer[..want])
            .map_err(|error| store.unwrap_verify_error(digest, error))?;
        if read == 0 {
            return Ok(Err(Lost(String::from(
                "the registry has more bytes than the blob",
            ))));
        }
        skip -= read as u64;
    }
    let mut offset = start;
    let mut sent = 0;
    loop {
        let filled = fill(&mut reader, &mut buffer)
            .map_err(|error| store.unwrap_verify_error(digest, error))?;
        if filled == 0 {
            break;
        }
        let chunk = &buffer[..filled];
        location = match patch_chunk(session, location, offset, chunk)? {
            Ok(location) => location,
            Err(lost) => return Ok(Err(lost)),
        };
        offset += filled as u64;
        sent += filled as u64;
        if let Some(path) = state_path {
            write_state(
                path,
                &UploadState {
                    registry: session.reference.registry().to_owned(),
                    repository: session.reference.repository().to_owned(),
                    digest: digest.to_string(),
                    location: location.clone(),
                    offset,
                },
            )?;
        }
        progress(&format!(
            "blob `{}`: {} of {} sent",
            short(digest),
            human_size(offset),
            human_size(size)
        ));
        if filled < buffer.len() {
            // The end of the file was read (and the digest checked) by `fill`
            break;
        }
    }
    match finish_upload(session, &location, digest, None) {
        Ok(()) => Ok(Ok(sent)),
        // The commit may have landed before the answer was lost
        Err(error) if retriable(&error) || matches!(error, RegistryError::NotFound { .. }) => {
            if blob_exists(session, digest)? {
                Ok(Ok(sent))
            } else {
                Ok(Err(Lost(error.to_string())))
            }
        }
        Err(error) => Err(error),
    }
}

/// Reads until `buffer` is full or the end of the blob
fn fill(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Sends one chunk at `offset`; on a failure asks the registry where the session stands
/// and sends it again, or goes on when it landed
fn patch_chunk(
    session: &Session<'_>,
    mut location: String,
    offset: u64,
    chunk: &[u8],
) -> Result<Result<String, Lost>, RegistryError> {
    let end = offset + chunk.len() as u64;
    let range = format!("{offset}-{}", end - 1);
    let headers = [
        ("Content-Type", "application/octet-stream"),
        ("Content-Range", range.as_str()),
    ];
    let mut attempt = 0;
    loop {
        let error = match session.send("PATCH", &location, &headers, Some(chunk), false) {
            Ok(response) if response.status() == 202 => {
                return Ok(Ok(location_of(session, &response, &digest_of(b""))?))
            }
            Ok(response) if response.status() == 404 => {
                return Ok(Err(Lost(String::from("the upload session is gone"))))
            }
            Ok(response) if response.status() == 416 => {
                return Ok(Err(Lost(String::from(
                    "the registry refused the chunk's range",
                ))))
            }
            Ok(response) => match session.expect_success(response, &location, "Blob upload") {
                Ok(_) => {
                    return Ok(Err(Lost(String::from(
                        "the registry accepted the chunk without a `202`",
                    ))))
                }
                Err(error) => error,
            },
            Err(error) => error,
        };
        if !retriable(&error) {
            return Err(error);
        }
        // Where does the session stand?
        let mut last = error;
        loop {
            if attempt >= session.retry.attempts {
                return Err(last);
            }
            std::thread::sleep(session.retry.delay(attempt));
            attempt += 1;
            match upload_status(session, &location) {
                Ok(Some((current, have))) if have == offset => {
                    location = current;
                    break;
                }
                Ok(Some((current, have))) if have == end => return Ok(Ok(current)),
                Ok(Some((_, have))) => {
                    return Ok(Err(Lost(format!(
                        "the session holds {have} bytes, expected {offset} or {end}"
                    ))))
                }
                Ok(None) => return Ok(Err(Lost(String::from("the upload session is gone")))),
                Err(error) if retriable(&error) => last = error,
                Err(error) => return Err(error),
            }
        }
    }
}

/// Whether an error may pass when tried again: the network, or a registry that broke
fn retriable(error: &RegistryError) -> bool {
    match error {
        RegistryError::Unreachable { .. } | RegistryError::Transfer { .. } => true,
        RegistryError::Http { status, .. } => is_transient(*status),
        _ => false,
    }
}

/// `POST /v2/<name>/blobs/uploads/`: a new upload session's URL
fn start_upload(
    session: &Session<'_>,
    digest: &Digest,
    query: Option<&str>,
) -> Result<String, RegistryError> {
    let url = session.url(&format!("blobs/uploads/{}", query.unwrap_or_default()));
    let response = session.send("POST", &url, &[], Some(&[]), true)?;
    let response = session.expect_success(response, &url, "Blob upload")?;
    location_of(session, &response, digest)
}

/// The final `PUT ?digest=`, with the whole blob or (after chunks) nothing
fn finish_upload(
    session: &Session<'_>,
    location: &str,
    digest: &Digest,
    bytes: Option<&[u8]>,
) -> Result<(), RegistryError> {
    let separator = if location.contains('?') { '&' } else { '?' };
    let url = format!("{location}{separator}digest={digest}");
    let response = session.send(
        "PUT",
        &url,
        &[("Content-Type", "application/octet-stream")],
        Some(bytes.unwrap_or_default()),
        false,
    )?;
    session.expect_success(response, &url, &format!("Blob upload of `{digest}`"))?;
    Ok(())
}

/// `GET` on an upload URL: the session's fresh URL and the bytes it holds, `None` when it
/// is gone or refused
fn upload_status(
    session: &Session<'_>,
    location: &str,
) -> Result<Option<(String, u64)>, RegistryError> {
    let response = session.send("GET", location, &[], None, false)?;
    match response.status() {
        204 | 200 => {
            let Some(range) = response.header("range").map(str::to_owned) else {
                return Ok(None);
            };
            // Distribution writes `0-0` for an empty session (and for one byte)
            let have = match range.trim().strip_prefix("0-") {
                Some("0") => 0,
                Some(end) => match end.parse::<u64>() {
                    Ok(end) => end + 1,
                    Err(_) => return Ok(None),
                },
                None => return Ok(None),
            };
            let current = match response.header("location") {
                Some(_) => location_of(session, &response, &digest_of(b""))?,
                None => location.to_owned(),
            };
            Ok(Some((current, have)))
        }
        status if is_transient(status) => Err(RegistryError::Http {
            url: location.to_owned(),
            status,
            detail: error_detail(response),
        }),
        _ => Ok(None),
    }
}

/// The absolute upload URL of a `Location` header; one on another host is refused (it
/// would receive the credentials)
fn location_of(
    session: &Session<'_>,
    response: &ureq::Response,
    digest: &Digest,
) -> Result<String, RegistryError> {
    let protocol = |message: String| RegistryError::Protocol {
        registry: session.reference.registry().to_owned(),
        action: format!("uploading blob `{digest}`"),
        message,
    };
    let location = response
        .header("location")
        .ok_or_else(|| protocol(String::from("the answer has no `Location`")))?;
    let base = session.base();
    let absolute = if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        format!("{base}/{location}")
    };
    let same_host = absolute
        .strip_prefix(&base)
        .is_some_and(|rest| rest.starts_with('/'));
    if !same_host {
        return Err(protocol(format!(
            "the upload location `{absolute}` is not on `{base}`"
        )));
    }
    Ok(absolute)
}

fn state_file(dir: &Path, reference: &Reference, digest: &Digest) -> PathBuf {
    let key = format!(
        "{}/{}@{digest}",
        reference.registry(),
        reference.repository()
    );
    dir.join(format!(
        "{}.json",
        hex::encode(Sha256::digest(key.as_bytes()))
    ))
}

fn read_state(path: &Path) -> Result<Option<UploadState>, RegistryError> {
    match std::fs::read(path) {
        // A damaged record only means no resume
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RegistryError::State {
            action: "read",
            path: path.to_owned(),
            source,
        }),
    }
}

fn write_state(path: &Path, state: &UploadState) -> Result<(), RegistryError> {
    let failed = |source| RegistryError::State {
        action: "write",
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(failed)?;
    let bytes = serde_json::to_vec(state).map_err(|error| failed(error.into()))?;
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, bytes).map_err(failed)?;
    std::fs::rename(&temp, path).map_err(failed)
}

fn remove_state(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Adds `referrers` to the index under the fallback tag of `subject`, keeping what it lists
fn update_fallback_index(
    session: &Session<'_>,
    subject: &Digest,
    referrers: &[&Referrer],
) -> Result<(), RegistryError> {
    let tag = referrers_tag(subject);
    let mut manifests: Vec<Descriptor> = match session_manifest(session, &tag)? {
        Some(fetched) => {
            let index: ImageIndex = session.parse(&fetched.bytes, "image index")?;
            index.manifests().clone()
        }
        None => Vec::new(),
    };
    for referrer in referrers {
        if !manifests
            .iter()
            .any(|descriptor| descriptor.digest() == referrer.digest())
        {
            let mut descriptor = referrer.descriptor.clone();
            if let Some(annotations) = descriptor.annotations().clone() {
                let kept: std::collections::HashMap<String, String> = annotations
                    .into_iter()
                    .filter(|(name, _)| name != REF_NAME_ANNOTATION)
                    .collect();
                descriptor.set_annotations((!kept.is_empty()).then_some(kept));
            }
            manifests.push(descriptor);
        }
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(|source| OciError::Spec {
            what: "referrers index",
            source,
        })?;
    let bytes = canonical_json(&index, "referrers index")?;
    put_manifest_bytes(session, &tag, &bytes, OCI_INDEX)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_tag_and_state_file_names() {
        let digest = digest_of(b"subject");
        let tag = referrers_tag(&digest);
        assert!(tag.starts_with("sha256-"), "{tag}");
        assert_eq!(tag.len(), 7 + 64);
        let reference = Reference::parse("127.0.0.1:5000/team/app:1").unwrap();
        let one = state_file(Path::new("/state"), &reference, &digest);
        let other = state_file(
            Path::new("/state"),
            &Reference::parse("127.0.0.1:5000/team/other:1").unwrap(),
            &digest,
        );
        assert_ne!(one, other);
        assert!(one.to_string_lossy().ends_with(".json"));
    }

    #[test]
    fn retry_delays_double_and_are_capped() {
        let retry = Retry {
            attempts: 4,
            base_delay: Duration::from_millis(100),
        };
        assert_eq!(retry.delay(0), Duration::from_millis(100));
        assert_eq!(retry.delay(2), Duration::from_millis(400));
        assert_eq!(retry.delay(40), Duration::from_secs(30));
    }

    #[test]
    fn a_manifest_without_subject_is_no_referrer() {
        let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        let referrer = Referrer::from_manifest(bytes.to_vec(), MediaType::ImageManifest).unwrap();
        assert!(referrer.is_none());
    }
}
