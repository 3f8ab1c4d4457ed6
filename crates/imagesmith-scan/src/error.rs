//! The error type of this crate

use std::path::PathBuf;

/// What stops a scan before any verdict can be given
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The image layout could not be read
    #[error("Cannot read the image `{image}` in `{layout}`")]
    Layout {
        /// The layout directory
        layout: PathBuf,
        /// The image reference looked for
        image: String,
        /// What went wrong
        #[source]
        source: Box<imagesmith_oci::OciError>,
    },
    /// The verdict could not be stored in the layout
    #[error("Cannot store the verdict of `{image}` in `{layout}`")]
    Store {
        /// The layout directory
        layout: PathBuf,
        /// The image
        image: String,
        /// What went wrong
        #[source]
        source: Box<imagesmith_oci::OciError>,
    },
    /// No manifest of the layout has the verdict's image digest
    #[error("No image with digest `{digest}` in `{layout}`")]
    NoSubject {
        /// The layout directory
        layout: PathBuf,
        /// The digest looked for
        digest: String,
    },
    /// A date given to the scan is not `YYYY-MM-DD`
    #[error("Date `{0}` is not YYYY-MM-DD")]
    Date(String),
}

/// A scanner's report that cannot be read: "the scanner broke"
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be read
    #[error("Cannot read the {scanner} report `{path}`")]
    Read {
        /// The scanner
        scanner: &'static str,
        /// The report file
        path: PathBuf,
        /// What went wrong
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON
    #[error("The {scanner} report `{path}` is not JSON: {source}")]
    Json {
        /// The scanner
        scanner: &'static str,
        /// The report file (or `stdout of <tool>`)
        path: String,
        /// The parser's error
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is not the scanner's documented report format
    #[error("The {scanner} report `{path}` is not a {scanner} report: {reason}")]
    Format {
        /// The scanner
        scanner: &'static str,
        /// The report file (or `stdout of <tool>`)
        path: String,
        /// What is wrong
        reason: String,
    },
}
