//! `imagesmith push SOURCE DESTINATION`: an OCI layout (or a built image of the project) to
//! a registry, with its SBOMs and scan verdict as referrers, under a tag that never moves;
//! signed with `--sign-key`.

use std::path::PathBuf;

use crate::commands::verify::{load_signing_key, sign_pushed};
use crate::{current_dir, ExitStatus};
use imagesmith_oci::registry::{
    PushOptions, Reference, RegistryClient, RegistryError, RegistryOptions,
};
use imagesmith_oci::ImageLayout;

/// Arguments of `push`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An OCI layout (`DIR` or `oci:DIR[:TAG]`; default the layout's only image or `latest`),
    /// or the name of a built image of the project (its layout in the build cache).
    pub source: String,
    /// `REGISTRY/REPOSITORY:TAG` (or `@sha256:...`).
    pub destination: String,
    /// Reach the registry over plain HTTP (besides localhost, which may always).
    #[arg(long)]
    pub insecure: bool,
    /// Blobs larger than this go in chunks of this size (bytes; default 64 MiB).
    #[arg(long, value_name = "BYTES")]
    pub chunk_size: Option<u64>,
    /// Another repository of the same registry whose blobs may be mounted rather than
    /// uploaded (the golden image's). Repeatable.
    #[arg(long, value_name = "REPOSITORY")]
    pub mount_from: Vec<String>,
    /// Sign the pushed digest with this ECDSA P-256 private key (PEM; cosign's encrypted
    /// key too, its password in `COSIGN_PASSWORD`), in cosign's format.
    #[arg(long, value_name = "FILE", env = "IMAGESMITH_SIGN_KEY")]
    pub sign_key: Option<PathBuf>,
    /// The cache directory (default `$XDG_CACHE_HOME/imagesmith` or `~/.cache/imagesmith`).
    #[arg(long, value_name = "DIR", env = "IMAGESMITH_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Print what was pushed as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `push`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let cwd = current_dir()?;
    let (dir, tag) = match args.source.strip_prefix("oci:") {
        Some(rest) => match rest.rsplit_once(':') {
            Some((dir, tag)) if !tag.contains('/') => (cwd.join(dir), Some(tag.to_owned())),
            _ => (cwd.join(rest), None),
        },
        None => {
            let as_dir = cwd.join(&args.source);
            if as_dir.join("index.json").is_file() {
                (as_dir, None)
            } else {
                let cache = args
                    .cache_dir
                    .clone()
                    .unwrap_or_else(imagesmith_build::default_cache_dir);
                (cache.join("images").join(&args.source), None)
            }
        }
    };
    if !dir.join("index.json").is_file() {
        eprintln!(
            "error: `{}` is neither an OCI layout nor a built image (no `{}`)",
            args.source,
            dir.join("index.json").display()
        );
        eprintln!("hint: give a layout directory (`imagesmith build --output DIR` writes one per image) or build the image first");
        return Ok(ExitStatus::Invalid);
    }
    let key = match load_signing_key(args.sign_key.as_deref()) {
        Ok(key) => key,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitStatus::Invalid);
        }
    };
    let destination = match Reference::parse(&args.destination) {
        Ok(reference) => reference,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitStatus::Invalid);
        }
    };
    let layout = ImageLayout::open(&dir)?;
    let image = match tag.as_deref() {
        Some(tag) => layout.image(Some(tag)),
        None => layout.image(None).or_else(|_| layout.image(Some("latest"))),
    };
    let image = match image {
        Ok(image) => image,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitStatus::Invalid);
        }
    };
    let referrers = layout.referrers_of(&image)?;
    let client = client(&[destination.registry()], args.insecure);
    #[cfg(feature = "aws")]
    if let Err(message) = crate::commands::publish::ensure_ecr_repository(&format!(
        "{}/{}",
        destination.registry(),
        destination.repository()
    )) {
        eprintln!("error: {message}");
        return Ok(ExitStatus::Failure);
    }
    let mut options = PushOptions::default();
    if let Some(size) = args.chunk_size {
        options.chunk_size = size.max(1);
    }
    options.mount_from = args.mount_from.clone();
    options.state_dir = Some(
        args.cache_dir
            .clone()
            .unwrap_or_else(imagesmith_build::default_cache_dir)
            .join("push"),
    );
    let pushed = match client.push(
        layout.blobs(),
        &image,
        &referrers,
        &destination,
        &options,
        &|message| eprintln!("  {message}"),
    ) {
        Ok(pushed) => pushed,
        Err(error) => return Ok(report(&error)),
    };
    let repository = format!("{}/{}", destination.registry(), destination.repository());
    if let Some(key) = &key {
        if let Err(message) = sign_pushed(&client, key, &repository, pushed.digest.as_ref()) {
            eprintln!("error: pushed, but not signed: {message}");
            return Ok(ExitStatus::Failure);
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "digest": pushed.digest.to_string(),
                "reference": pushed.reference,
                "unchanged": pushed.unchanged,
                "blobs_uploaded": pushed.blobs_uploaded,
                "blobs_skipped": pushed.blobs_skipped,
                "blobs_mounted": pushed.blobs_mounted,
                "bytes_uploaded": pushed.bytes_uploaded,
                "referrers": pushed.referrers,
            }))?
        );
    } else {
        println!("{}@{}", repository, pushed.digest);
    }
    if pushed.unchanged {
        eprintln!(
            "`{}` already names {}: nothing pushed",
            args.destination, pushed.digest
        );
    } else {
        eprintln!(
            "Pushed `{}` ({}): {} blob(s) uploaded ({} bytes), {} already there, {} mounted, {} referrer(s)",
            args.destination,
            pushed.digest,
            pushed.blobs_uploaded,
            pushed.bytes_uploaded,
            pushed.blobs_skipped,
            pushed.blobs_mounted,
            pushed.referrers
        );
    }
    Ok(ExitStatus::Success)
}

/// A registry client with the standard credentials (and ECR's, with the `aws` feature);
/// `insecure` lets `hosts` be reached over plain HTTP.
pub fn client(hosts: &[&str], insecure: bool) -> RegistryClient {
    let mut options = RegistryOptions::from_env();
    #[cfg(feature = "aws")]
    if let Ok(aws) = imagesmith_aws::Aws::new() {
        options = options.with_source_first(imagesmith_aws::ecr::EcrAuth::new(&aws));
    }
    if insecure {
        for host in hosts {
            options.insecure.push((*host).to_owned());
        }
    }
    RegistryClient::new(options)
}

/// Prints a push error with its causes and hints; its exit status (a moved tag is the
/// user's to fix, 1; anything else 2).
pub fn report(error: &RegistryError) -> ExitStatus {
    eprintln!("error: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
    if let RegistryError::TagExists { .. } = error {
        eprintln!("hint: tags never move: publish a new version (`imagesmith bump`, then `imagesmith lock`) or push under a new tag");
        return ExitStatus::Invalid;
    }
    if let RegistryError::Unauthorized { registry, .. } = error {
        if registry.contains(".dkr.ecr.") && !cfg!(feature = "aws") {
            eprintln!("hint: `{registry}` is Amazon ECR; this imagesmith was built without the `aws` feature (cargo install --features aws), or log in with `aws ecr get-login-password | skopeo login --password-stdin -u AWS {registry}`");
        }
    }
    ExitStatus::Failure
}
