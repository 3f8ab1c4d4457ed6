//! The small interface the builder implements so the executor can run commands and fetch
//! files without this crate knowing about namespaces, mounts or the AWS SDK.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// A program and its arguments; the first item is looked up in the image's `PATH`
    /// when it has no `/`.
    Argv(Vec<String>),
    /// A script file already written inside the image, run by `interpreter`
    /// (`["bash"]`): the host runs `interpreter… script`.
    Script {
        /// The interpreter and its options.
        interpreter: Vec<String>,
        /// The script, as a path inside the image.
        script: String,
    },
}

impl Program {
    /// The command line, as it would be typed.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Program::Argv(argv) => argv.clone(),
            Program::Script {
                interpreter,
                script,
            } => interpreter
                .iter()
                .cloned()
                .chain(std::iter::once(script.clone()))
                .collect(),
        }
    }
}

/// A command to run inside the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    /// The step that asks, for the host's own logs.
    pub step: String,
    /// What to run.
    pub program: Program,
    /// The environment, in full (nothing is inherited from imagesmith's own).
    pub env: Vec<(String, String)>,
    /// The working directory, as a path inside the image.
    pub cwd: String,
    /// Stop the command after this long; `None` is no limit.
    pub timeout: Option<Duration>,
    /// Bytes written to the command's standard input (empty input when `None`).
    pub stdin: Option<Vec<u8>>,
}

/// What a command did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOutput {
    /// The exit code; `None` when a signal ended it.
    pub exit_code: Option<i32>,
    /// Everything it wrote to standard output.
    pub stdout: Vec<u8>,
    /// Everything it wrote to standard error.
    pub stderr: Vec<u8>,
    /// Whether the host stopped it because the timeout passed.
    pub timed_out: bool,
}

/// An HTTP(S) download asked of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRequest {
    /// The URL.
    pub url: String,
    /// Where to write the body, on the host (inside the image root).
    pub destination: PathBuf,
    /// Skip TLS certificate validation (`ignoreCertificateErrors`).
    pub ignore_certificate_errors: bool,
    /// Give up after this long; `None` is no limit.
    pub timeout: Option<Duration>,
}

/// An S3 download asked of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3DownloadRequest {
    /// `s3://bucket/key`, or `s3://bucket/prefix/*` for every object under a prefix.
    pub source: String,
    /// Where to write, on the host (inside the image root); a folder for a prefix, or when
    /// it ends with `/`.
    pub destination: PathBuf,
    /// The account that must own the bucket.
    pub expected_bucket_owner: Option<String>,
    /// Replace existing files.
    pub overwrite: bool,
}

/// An S3 upload asked of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3UploadRequest {
    /// What to upload, on the host (inside the image root); may end with a `*` pattern.
    pub source: PathBuf,
    /// `s3://bucket/key` or a key prefix ending with `/`.
    pub destination: String,
    /// Upload folders recursively.
    pub recurse: bool,
    /// The account that must own the bucket.
    pub expected_bucket_owner: Option<String>,
}

/// A failure of the host itself (not of the command it ran).
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The host cannot do this at all in this build or configuration.
    #[error("{what} is not configured: {hint}")]
    NotConfigured {
        /// What was asked (`S3Download`).
        what: &'static str,
        /// How to enable it.
        hint: String,
    },
    /// The command could not be started.
    #[error("Could not start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A download failed.
    #[error("Could not download `{url}`: {message}")]
    Download {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("Could not {operation} `{path}`: {source}")]
    Io {
        /// What was being done (`write`).
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An S3 download failed.
    #[error(transparent)]
    S3(#[from] super::s3::S3Error),
    /// Anything else the host reports.
    #[error("{0}")]
    Other(String),
}

/// The hint of a host with no S3 client: imagesmith's S3 support is the `aws` feature.
pub fn aws_feature_hint(target: &str) -> String {
    format!(
        "imagesmith was built without the `aws` feature, so `{target}` cannot be reached through the AWS SDK\nhint: use an imagesmith built with the `aws` feature (README: \"S3 downloads: the `aws` feature\")"
    )
}

/// What the executor asks of the builder: run commands rooted at the image, and fetch files.
///
/// Only [`Host::root`] and [`Host::run`] are required; downloads default to "not
/// configured" so a host without network access still runs every other action.
pub trait Host {
    /// The image's root filesystem as seen by file actions on the host side; every path an
    /// action touches is resolved inside it.
    fn root(&self) -> &Path;

    /// Runs a command inside the image and captures its output.
    fn run(&mut self, request: &RunRequest) -> Result<RunOutput, HostError>;

    /// Downloads a URL to a file (WebDownload); the executor verifies the checksum.
    fn download(&mut self, request: &DownloadRequest) -> Result<(), HostError> {
        Err(HostError::NotConfigured {
            what: "WebDownload",
            hint: format!(
                "this host has no HTTP client; cannot fetch `{}`",
                request.url
            ),
        })
    }

    /// Downloads S3 objects (S3Download).
    fn s3_download(&mut self, request: &S3DownloadRequest) -> Result<(), HostError> {
        Err(HostError::NotConfigured {
            what: "S3Download",
            hint: aws_feature_hint(&request.source),
        })
    }

    /// Uploads files to S3 (S3Upload).
    fn s3_upload(&mut self, request: &S3UploadRequest) -> Result<(), HostError> {
        Err(HostError::NotConfigured {
            what: "S3Upload",
            hint: format!(
                "imagesmith does not upload to S3 yet, so `{}` cannot be written",
                request.destination
            ),
        })
    }
}
