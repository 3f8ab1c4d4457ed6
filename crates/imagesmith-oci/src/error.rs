//! The error type of this crate

use std::path::PathBuf;

/// Everything that can go wrong while reading or writing OCI images
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// A file operation failed; `fs-err` puts the path in the message
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An operation on a path failed where the underlying error does not name the path
    #[error("Failed to {action} `{path}`")]
    IoAt {
        /// What was being done
        action: &'static str,
        /// The file or directory concerned
        path: PathBuf,
        /// The underlying error
        #[source]
        source: std::io::Error,
    },
    /// A blob's content does not hash to its name
    #[error("Blob `{expected}` in `{store}` is corrupt: its content hashes to `{actual}`")]
    DigestMismatch {
        /// The digest the blob is stored under
        expected: String,
        /// The digest of the content that was read
        actual: String,
        /// The blob store or layout directory
        store: PathBuf,
    },
    /// A blob named by a manifest or index is not in the store
    #[error("Blob `{digest}` is missing from `{store}`")]
    MissingBlob {
        /// The digest looked for
        digest: String,
        /// The blob store or layout directory
        store: PathBuf,
    },
    /// A digest is not of the form `sha256:<64 hex digits>`
    #[error("Invalid digest `{digest}`: only `sha256:<64 lowercase hex digits>` is supported")]
    InvalidDigest {
        /// The text that was given
        digest: String,
    },
    /// A JSON document (manifest, config, index) could not be read or written
    #[error("Failed to {action} {what} `{path}`")]
    Json {
        /// `parse` or `serialize`
        action: &'static str,
        /// Which document, e.g. `image manifest`
        what: &'static str,
        /// The file, or the digest of the blob
        path: String,
        /// The underlying error
        #[source]
        source: serde_json::Error,
    },
    /// An `oci-spec` builder refused its input
    #[error("Failed to build the OCI {what}")]
    Spec {
        /// Which object, e.g. `image manifest`
        what: &'static str,
        /// The underlying error
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// An exclusion pattern is not a valid glob
    #[error("Invalid exclude pattern `{pattern}`\nhint: patterns are absolute globs such as `/var/lib/apt/lists/*`")]
    Pattern {
        /// The pattern that was given
        pattern: String,
        /// The underlying error
        #[source]
        source: glob::PatternError,
    },
    /// No manifest in a layout carries the requested reference name
    #[error("No image named `{reference}` in `{layout}`; it holds: {available}")]
    UnknownReference {
        /// The requested `org.opencontainers.image.ref.name`
        reference: String,
        /// The layout directory
        layout: PathBuf,
        /// The names present, comma separated
        available: String,
    },
    /// No reference was given and the layout holds more or fewer than one image
    #[error("`{layout}` holds {count} images, so one must be named; it holds: {available}")]
    AmbiguousImage {
        /// The layout directory
        layout: PathBuf,
        /// How many manifests the index lists
        count: usize,
        /// The names present, comma separated
        available: String,
    },
    /// An image index lists no manifest for this platform
    #[error("Image index `{digest}` has no manifest for `{platform}`")]
    NoMatchingPlatform {
        /// The digest of the index
        digest: String,
        /// `os/architecture`
        platform: String,
    },
    /// A media type this crate cannot handle
    #[error("Unsupported media type `{media_type}` for {what}")]
    UnsupportedMediaType {
        /// The media type found
        media_type: String,
        /// Where it was found, e.g. `layer sha256:...`
        what: String,
    },
    /// A tarball uses a compression this crate cannot read
    #[error("`{path}` is neither a plain tar nor gzip or zstd compressed")]
    UnsupportedCompression {
        /// The tarball
        path: PathBuf,
    },
    /// A layer entry would write outside the target directory
    #[error("Layer `{layer}` entry `{entry}` is unsafe: {reason}")]
    UnsafeEntry {
        /// The layer digest
        layer: String,
        /// The entry path in the tar
        entry: String,
        /// Why it was refused
        reason: &'static str,
    },
    /// A layer's uncompressed content does not hash to the image config's `diff_id`
    #[error(
        "Layer `{layer}` does not match its diff_id `{expected}` (content hashes to `{actual}`)"
    )]
    DiffIdMismatch {
        /// The layer digest
        layer: String,
        /// The diff_id in the config
        expected: String,
        /// The hash of the uncompressed content
        actual: String,
    },
    /// The manifest and the config disagree on the number of layers
    #[error("Image `{digest}` lists {layers} layers but {diff_ids} diff_ids")]
    LayerCountMismatch {
        /// The manifest digest
        digest: String,
        /// Layers in the manifest
        layers: usize,
        /// diff_ids in the config
        diff_ids: usize,
    },
}

/// The result type of this crate
pub type Result<T, E = OciError> = std::result::Result<T, E>;

pub(crate) trait IoContext<T> {
    fn at(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| OciError::IoAt {
            action,
            path: path.into(),
            source,
        })
    }
}
