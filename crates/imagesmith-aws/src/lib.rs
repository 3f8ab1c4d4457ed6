//! The AWS pieces of the local builder, kept in their own crate because the AWS SDK dominates
//! compile time: [`S3Client`] runs AWSTOE's `S3Download` (it implements
//! [`imagesmith_awstoe::exec::S3Fetch`], which the builder's host calls), and
//! [`ecr::EcrAuth`] turns an ECR registry host into registry credentials (it implements
//! [`imagesmith_oci::registry::CredentialSource`]).
//!
//! Everything goes through the standard AWS configuration, as the AWS CLI does: credentials
//! from the environment (`AWS_ACCESS_KEY_ID`…), the shared files and their profiles
//! (`AWS_PROFILE`, `credential_process`), web identity, the ECS container endpoint and the
//! EC2 instance metadata service (IAM Identity Center profiles are not supported: the SDK's
//! `sso` feature is left out to keep the build small); the region from `AWS_REGION` or the
//! profile (`us-east-1` when none is set); endpoint overrides from `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_ECR`, S3 then using path-style addressing, as
//! S3-compatible servers expect.
//!
//! The builder is synchronous, so the API is blocking: each [`Aws`] owns a current-thread
//! tokio runtime, and its configuration is loaded on first use (a build that never touches
//! S3 never looks for credentials).
//!
//! ```no_run
//! use imagesmith_aws::{Aws, S3Client};
//! use imagesmith_awstoe::exec::S3Fetch;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let s3 = S3Client::new(&Aws::new()?);
//! let mut body = Vec::new();
//! s3.get("my-bucket", "tools/agent.deb", None, &mut body)?;
//!
//! use imagesmith_oci::registry::CredentialSource;
//! let ecr = imagesmith_aws::ecr::EcrAuth::new(&Aws::new()?);
//! if let Some(login) = ecr.credentials("123456789012.dkr.ecr.eu-west-1.amazonaws.com")? {
//!     println!("{}", login.username()); // AWS
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod ecr;
mod s3;

use std::future::Future;
use std::sync::{Arc, OnceLock};

use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use s3::S3Client;

/// The region used when neither the environment nor the profile names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// A failure of the AWS client itself (as opposed to a failed request).
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The async runtime could not be created.
    #[error("Could not start the AWS client's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// No credentials could be found in the standard chain.
    #[error("No AWS credentials: {message}\nhint: set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, or `AWS_PROFILE`, or run on an instance or task with a role")]
    Credentials {
        /// What the credential chain said.
        message: String,
    },
}

/// The AWS configuration of this machine and the runtime the SDK runs on; cheap to clone
/// (clones share both).
#[derive(Clone)]
pub struct Aws {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: tokio::runtime::Runtime,
    config: OnceLock<SdkConfig>,
    credentials: OnceLock<Result<(), String>>,
}

impl std::fmt::Debug for Aws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws")
            .field("loaded", &self.inner.config.get().is_some())
            .finish()
    }
}

impl Aws {
    /// A client over the standard configuration, which is read on first use.
    pub fn new() -> Result<Self, AwsError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(AwsError::Runtime)?;
        Ok(Aws {
            inner: Arc::new(Inner {
                runtime,
                config: OnceLock::new(),
                credentials: OnceLock::new(),
            }),
        })
    }

    /// Runs a future to completion on this client's runtime.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.inner.runtime.block_on(future)
    }

    /// A client whose configuration is the standard one changed by `customize` (an endpoint,
    /// fixed credentials, a region), loaded now.
    pub fn with(
        customize: impl FnOnce(aws_config::ConfigLoader) -> aws_config::ConfigLoader,
    ) -> Result<Self, AwsError> {
        let aws = Self::new()?;
        let config = aws.load(customize);
        let _ = aws.inner.config.set(config);
        Ok(aws)
    }

    fn load(
        &self,
        customize: impl FnOnce(aws_config::ConfigLoader) -> aws_config::ConfigLoader,
    ) -> SdkConfig {
        // rustls over ring: the SDK's default client would build aws-lc-sys. The credential
        // and region providers (IMDS, ECS, STS) use it too
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
        let config = self.block_on(customize(loader).load());
        if config.region().is_some() {
            return config;
        }
        config
            .into_builder()
            .region(Region::from_static(DEFAULT_REGION))
            .build()
    }

    /// The shared configuration: region, credential chain, endpoint overrides, HTTP client.
    pub fn config(&self) -> &SdkConfig {
        self.inner.config.get_or_init(|| self.load(|loader| loader))
    }

    /// Whether the credential chain yields credentials; the answer is remembered.
    pub fn check_credentials(&self) -> Result<(), AwsError> {
        let answer = self.inner.credentials.get_or_init(|| {
            use aws_sdk_s3::config::ProvideCredentials as _;
            let Some(provider) = self.config().credentials_provider() else {
                return Err("no credential provider is configured".to_owned());
            };
            self.block_on(provider.provide_credentials())
                .map(|_| ())
                .map_err(|error| causes(&error))
        });
        answer
            .clone()
            .map_err(|message| AwsError::Credentials { message })
    }
}

/// An error and its sources on one line (`a: b: c`), each said once: the SDK's errors nest
/// deeply and often repeat their source in their own message.
pub(crate) fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !said.is_empty() && !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}
