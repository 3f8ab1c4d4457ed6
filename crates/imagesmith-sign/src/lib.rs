//! Image signatures in cosign's format, so that `cosign verify --key` accepts what
//! `imagesmith push --sign-key` and `imagesmith publish` sign, and `imagesmith verify` checks
//! what cosign signs
//!
//! A signature is a *simple-signing* payload ([`payload`]) naming the image's repository and
//! manifest digest, signed with ECDSA P-256 over its SHA-256 (ASN.1 DER, base64 in the
//! `dev.cosignproject.cosign/signature` annotation). The payloads are the layers
//! (`application/vnd.dev.cosign.simplesigning.v1+json`) of an OCI image manifest tagged
//! `sha256-<hex of the image digest>.sig` in the image's repository: one layer per
//! signature, so a second key adds a layer and keeps the first ([`attach`]).
//!
//! Keys ([`SigningKey::from_pem`]): PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` (what
//! `openssl ecparam -genkey` writes), and cosign's own `ENCRYPTED SIGSTORE PRIVATE KEY` (or
//! the older `ENCRYPTED COSIGN PRIVATE KEY`): a JSON envelope whose PKCS#8 key is sealed with
//! NaCl secretbox under a scrypt key of the password (`COSIGN_PASSWORD`). Only P-256 is
//! accepted, as cosign's default; any other key is refused with what it is.
//!
//! The registry is reached through [`SignatureStore`], which the command line implements on
//! its registry client, so this crate needs no network code (and tests use [`MemoryStore`]).
//!
//! Not here: keyless signing (a Fulcio certificate for an OIDC identity, the signature
//! recorded in Rekor) needs both services; [`Signer`] is where it goes. Verification does
//! not check Rekor bundles (`cosign verify --key` with `--insecure-ignore-tlog`, the
//! behaviour of a private deployment without a transparency log).
//!
//! Written here rather than taken from the `sigstore` crate: that crate is async (tokio,
//! reqwest), pulls in OpenID and TUF clients and a second TLS stack, and the key-based part
//! needed here is a payload, a manifest and one ECDSA operation over RustCrypto's `p256`.
#![deny(missing_docs)]

mod key;
mod store;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use key::{encrypt_cosign_key, SigningKey, VerifyingKey};
pub use store::{MemoryStore, SignatureStore, StoreError};

/// The media type of a signature layer (a simple-signing payload).
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding a layer's signature, base64 of ASN.1 DER.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The `type` of cosign's payload.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";
/// The media type of the signature manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// How an image is signed.
#[derive(Debug)]
pub enum Signer {
    /// With a private key the caller holds.
    Key(SigningKey),
    // Keyless (a Fulcio certificate for the CI's OIDC identity, recorded in Rekor) goes here:
    // it needs both services, which no air-gapped build reaches.
}

/// Why signing or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key file is not a key this crate reads.
    #[error("{0}")]
    Key(String),
    /// The encrypted key did not open with the password.
    #[error("the password does not open this encrypted key (COSIGN_PASSWORD)")]
    Password,
    /// The image has no signature manifest.
    #[error("`{reference}` is not signed: there is no `{tag}` in its repository")]
    Unsigned {
        /// The image.
        reference: String,
        /// The signature tag looked for.
        tag: String,
    },
    /// Signatures exist but none verifies with this key.
    #[error("no signature of `{reference}` verifies with this key ({count} signature(s) by other keys or broken)")]
    OtherKey {
        /// The image.
        reference: String,
        /// How many signatures there are.
        count: usize,
    },
    /// A signature verifies but its payload names another image.
    #[error("the signature of `{reference}` names another digest ({named}); it was copied from another image")]
    DigestMismatch {
        /// The image.
        reference: String,
        /// The digest the payload names.
        named: String,
    },
    /// The signature manifest is not one.
    #[error("the signature manifest `{tag}` is not valid: {reason}")]
    Manifest {
        /// Its tag.
        tag: String,
        /// What is wrong.
        reason: String,
    },
    /// The registry failed.
    #[error("the registry failed: {0}")]
    Store(#[source] StoreError),
}

/// cosign's simple-signing payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// What is claimed.
    pub critical: Critical,
    /// Annotations given at signing (`-a key=value`), or `null`.
    pub optional: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The claims of a payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    /// The repository.
    pub identity: Identity,
    /// The manifest digest.
    pub image: ImageClaim,
    /// [`PAYLOAD_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
}

/// The repository a payload names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `REGISTRY/REPOSITORY`, without tag or digest.
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// The manifest digest a payload names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageClaim {
    /// `sha256:<hex>`.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

/// The payload bytes cosign signs for `repository` (`REGISTRY/REPOSITORY`) at `digest`.
pub fn payload(repository: &str, digest: &str) -> Vec<u8> {
    let payload = Payload {
        critical: Critical {
            identity: Identity {
                docker_reference: repository.to_owned(),
            },
            image: ImageClaim {
                docker_manifest_digest: digest.to_owned(),
            },
            kind: PAYLOAD_TYPE.to_owned(),
        },
        optional: None,
    };
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// The tag of `digest`'s signatures: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// One signature: the payload and its DER signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// ECDSA P-256 over SHA-256 of the payload, ASN.1 DER.
    pub signature: Vec<u8>,
}

/// Signs `digest` of `repository` with `key`.
pub fn sign(key: &SigningKey, repository: &str, digest: &str) -> Signature {
    let payload = payload(repository, digest);
    let signature = key.sign(&payload);
    Signature { payload, signature }
}

/// What [`attach`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The signature tag.
    pub tag: String,
    /// Whether a signature was added (`false`: this key had signed it already).
    pub added: bool,
    /// How many signatures the manifest holds now.
    pub signatures: usize,
}

/// A verified signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Its payload.
    pub payload: Payload,
    /// Which layer of the signature manifest it is.
    pub layer: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    size: u64,
    digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The config blob cosign writes for a signature image (empty platform, a history entry and
/// one diff id per payload, the Go zero time).
fn config(layers: &[Descriptor]) -> Vec<u8> {
    let zero = "0001-01-01T00:00:00Z";
    let config = serde_json::json!({
        "architecture": "",
        "created": zero,
        "history": layers.iter().map(|_| serde_json::json!({"created": zero})).collect::<Vec<_>>(),
        "os": "",
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>(),
        },
        "config": {},
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

fn parse_manifest(tag: &str, bytes: &[u8]) -> Result<Manifest, SignError> {
    serde_json::from_slice(bytes).map_err(|error| SignError::Manifest {
        tag: tag.to_owned(),
        reason: error.to_string(),
    })
}

fn layer_signature(layer: &Descriptor) -> Option<Vec<u8>> {
    let text = layer
        .annotations
        .as_ref()?
        .get(SIGNATURE_ANNOTATION)?
        .as_str()?;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
}

/// Signs `digest` of `repository` with `key` and adds the signature to the image's
/// signature manifest in `store` (creating it); nothing is written when this key has
/// signed this digest already.
pub fn attach(
    store: &dyn SignatureStore,
    key: &SigningKey,
    repository: &str,
    digest: &str,
) -> Result<Attached, SignError> {
    let tag = signature_tag(digest);
    let existing = store.manifest(&tag).map_err(SignError::Store)?;
    let mut layers = match &existing {
        Some(bytes) => parse_manifest(&tag, bytes)?.layers,
        None => Vec::new(),
    };
    let verifying = key.verifying_key();
    for layer in &layers {
        if check_layer(store, &verifying, layer, digest, repository)?.is_ok() {
            return Ok(Attached {
                tag,
                added: false,
                signatures: layers.len(),
            });
        }
    }
    let signature = sign(key, repository, digest);
    store
        .put_blob(&signature.payload)
        .map_err(SignError::Store)?;
    let mut annotations = serde_json::Map::new();
    annotations.insert(
        SIGNATURE_ANNOTATION.into(),
        base64::engine::general_purpose::STANDARD
            .encode(&signature.signature)
            .into(),
    );
    layers.push(Descriptor {
        media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
        size: signature.payload.len() as u64,
        digest: digest_of(&signature.payload),
        annotations: Some(annotations),
    });
    let config = config(&layers);
    store.put_blob(&config).map_err(SignError::Store)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.into()),
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE.into(),
            size: config.len() as u64,
            digest: digest_of(&config),
            annotations: None,
        },
        layers,
        annotations: None,
    };
    let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    store
        .put_manifest(&tag, &bytes, MANIFEST_MEDIA_TYPE)
        .map_err(SignError::Store)?;
    Ok(Attached {
        tag,
        added: true,
        signatures: manifest.layers.len(),
    })
}

/// How one layer fares against a key: `Ok(Ok(payload))` verified, `Ok(Err(named))` the
/// signature verifies but names another digest (`None`: it does not verify).
fn check_layer(
    store: &dyn SignatureStore,
    key: &VerifyingKey,
    layer: &Descriptor,
    digest: &str,
    _repository: &str,
) -> Result<Result<Payload, Option<String>>, SignError> {
    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
        return Ok(Err(None));
    }
    let Some(signature) = layer_signature(layer) else {
        return Ok(Err(None));
    };
    let payload = store.blob(&layer.digest).map_err(SignError::Store)?;
    if digest_of(&payload) != layer.digest {
        return Ok(Err(None));
    }
    if !key.verify(&payload, &signature) {
        return Ok(Err(None));
    }
    let Ok(parsed) = serde_json::from_slice::<Payload>(&payload) else {
        return Ok(Err(None));
    };
    if parsed.critical.kind != PAYLOAD_TYPE {
        return Ok(Err(None));
    }
    if parsed.critical.image.docker_manifest_digest != digest {
        return Ok(Err(Some(parsed.critical.image.docker_manifest_digest)));
    }
    Ok(Ok(parsed))
}

/// Checks, as `cosign verify --key` does, that some signature of `digest` in `store` was made
/// with `key` over a payload naming `digest`; `reference` names the image in errors.
pub fn verify(
    store: &dyn SignatureStore,
    key: &VerifyingKey,
    reference: &str,
    digest: &str,
) -> Result<Verified, SignError> {
    let tag = signature_tag(digest);
    let Some(bytes) = store.manifest(&tag).map_err(SignError::Store)? else {
        return Err(SignError::Unsigned {
            reference: reference.to_owned(),
            tag,
        });
    };
    let manifest = parse_manifest(&tag, &bytes)?;
    let mut mismatch = None;
    for (layer, descriptor) in manifest.layers.iter().enumerate() {
        match check_layer(store, key, descriptor, digest, reference)? {
            Ok(payload) => return Ok(Verified { payload, layer }),
            Err(Some(named)) => mismatch = Some(named),
            Err(None) => {}
        }
    }
    Err(match mismatch {
        Some(named) => SignError::DigestMismatch {
            reference: reference.to_owned(),
            named,
        },
        None => SignError::OtherKey {
            reference: reference.to_owned(),
            count: manifest.layers.len(),
        },
    })
}
