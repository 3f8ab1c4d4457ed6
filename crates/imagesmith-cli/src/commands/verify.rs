//! `imagesmith verify REFERENCE --key PUB`: checks an image's cosign-format signature as
//! `cosign verify --key` does; and the signing `push --sign-key` and `publish` share.

use std::path::{Path, PathBuf};

use crate::ExitStatus;
use imagesmith_oci::registry::{Reference, RegistryClient, RegistryOptions};
use imagesmith_sign::{SignatureStore, SigningKey, StoreError, VerifyingKey};

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image: `HOST/REPOSITORY:TAG` or `HOST/REPOSITORY@sha256:...`.
    pub reference: String,
    /// The public key (`cosign.pub`, a PEM `PUBLIC KEY`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Reach the registry over plain HTTP (besides localhost, which may always).
    #[arg(long)]
    pub insecure: bool,
}

/// One repository of a registry, as the signature code sees it.
pub struct RegistryStore<'a> {
    client: &'a RegistryClient,
    repository: String,
}

impl<'a> RegistryStore<'a> {
    /// The store of `repository` (`HOST/REPOSITORY`).
    pub fn new(client: &'a RegistryClient, repository: &str) -> Self {
        RegistryStore {
            client,
            repository: repository.to_owned(),
        }
    }

    fn at(&self, tag: &str) -> Result<Reference, StoreError> {
        let text = if tag.starts_with("sha256:") {
            format!("{}@{tag}", self.repository)
        } else {
            format!("{}:{tag}", self.repository)
        };
        Ok(Reference::parse(&text)?)
    }
}

impl SignatureStore for RegistryStore<'_> {
    fn manifest(&self, tag: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.client.manifest(&self.at(tag)?)?.map(|f| f.bytes))
    }

    fn blob(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        let reference = self.at("latest")?;
        let digest = digest
            .parse()
            .map_err(|_| format!("invalid digest `{digest}`"))?;
        Ok(self.client.blob_bytes(&reference, &digest)?)
    }

    fn put_blob(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.client.put_blob_bytes(&self.at("latest")?, bytes)?;
        Ok(())
    }

    fn put_manifest(&self, tag: &str, bytes: &[u8], media_type: &str) -> Result<(), StoreError> {
        self.client
            .put_manifest(&self.at(tag)?, bytes, media_type)?;
        Ok(())
    }
}

/// Reads the signing key, if one is given; cosign's encrypted keys open with `COSIGN_PASSWORD`.
pub fn load_signing_key(path: Option<&Path>) -> Result<Option<SigningKey>, String> {
    let Some(path) = path else { return Ok(None) };
    let bytes = std::fs::read(path)
        .map_err(|error| format!("Cannot read the signing key `{}`: {error}", path.display()))?;
    let password = std::env::var("COSIGN_PASSWORD").ok();
    SigningKey::from_pem(&bytes, password.as_deref().map(str::as_bytes))
        .map(Some)
        .map_err(|error| format!("`{}`: {error}", path.display()))
}

/// Signs `digest` in `repository` (`HOST/REPOSITORY`) with `key`; the key's identity.
pub fn sign_pushed(
    client: &RegistryClient,
    key: &SigningKey,
    repository: &str,
    digest: &str,
) -> Result<String, String> {
    let store = RegistryStore::new(client, repository);
    let attached =
        imagesmith_sign::attach(&store, key, repository, digest).map_err(|e| e.to_string())?;
    let identity = key.verifying_key().identity();
    if attached.added {
        eprintln!(
            "Signed `{repository}@{digest}` ({}, key {identity})",
            attached.tag
        );
    } else {
        eprintln!("`{repository}@{digest}` is signed with this key already");
    }
    Ok(identity)
}

/// Runs `verify`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let key = match std::fs::read(&args.key) {
        Ok(bytes) => match VerifyingKey::from_pem(&bytes) {
            Ok(key) => key,
            Err(error) => {
                eprintln!("error: `{}`: {error}", args.key.display());
                return Ok(ExitStatus::Invalid);
            }
        },
        Err(error) => {
            eprintln!("error: Cannot read `{}`: {error}", args.key.display());
            return Ok(ExitStatus::Invalid);
        }
    };
    let reference = match Reference::parse(&args.reference) {
        Ok(reference) => reference,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitStatus::Invalid);
        }
    };
    let mut options = RegistryOptions::from_env();
    if args.insecure {
        options.insecure.push(reference.registry().to_owned());
    }
    let client = RegistryClient::new(options);
    let digest = match reference.digest() {
        Some(digest) => digest.to_string(),
        None => match client.manifest(&reference) {
            Ok(Some(fetched)) => fetched.digest.to_string(),
            Ok(None) => {
                eprintln!("error: `{}` is not in the registry", args.reference);
                return Ok(ExitStatus::Invalid);
            }
            Err(error) => {
                eprintln!("error: {error}");
                return Ok(ExitStatus::Failure);
            }
        },
    };
    let repository = format!("{}/{}", reference.registry(), reference.repository());
    let store = RegistryStore::new(&client, &repository);
    match imagesmith_sign::verify(&store, &key, &args.reference, &digest) {
        Ok(verified) => {
            println!(
                "{}",
                serde_json::to_string(&serde_json::json!([{
                    "critical": verified.payload.critical,
                    "optional": verified.payload.optional,
                }]))?
            );
            eprintln!(
                "Verified `{repository}@{digest}`: signed by key {} (cosign format, signature {} of `{}`)",
                key.identity(),
                verified.layer + 1,
                imagesmith_sign::signature_tag(&digest)
            );
            Ok(ExitStatus::Success)
        }
        Err(imagesmith_sign::SignError::Store(error)) => {
            eprintln!("error: {error}");
            Ok(ExitStatus::Failure)
        }
        Err(error) => {
            eprintln!("error: {error}");
            Ok(ExitStatus::Invalid)
        }
    }
}
