//! The error type of the builder

use std::path::PathBuf;

/// A component that cannot be built on this machine, and why
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unavailable {
    /// The image it belongs to
    pub image: String,
    /// The component
    pub component: String,
    /// Every reason found (a missing secret, an unreachable download…)
    pub reasons: Vec<String>,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "image `{}`, component `{}`: {}",
            self.image,
            self.component,
            self.reasons.join("; ")
        )
    }
}

/// Which step of which phase of which component of which image failed, and why
#[derive(Debug, Clone)]
pub struct StepFailure {
    /// The image
    pub image: String,
    /// The component
    pub component: String,
    /// `build`, `validate` or `test`
    pub phase: String,
    /// The step name
    pub step: String,
    /// Why it failed (secrets redacted)
    pub message: String,
    /// The JSON log of the run
    pub log: PathBuf,
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Image `{}`, component `{}`: step `{}` of phase `{}` failed: {}\nhint: the step log is `{}`",
            self.image,
            self.component,
            self.step,
            self.phase,
            self.message,
            self.log.display()
        )
    }
}

/// Everything that can go wrong in a build
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Components cannot be obtained here and `--skip-unavailable` was not given
    #[error(
        "{} cannot be built on this machine:\n{}\nhint: provide the secrets (`--secret NAME=FILE` or the parameter's environment variable) or a mirror for the downloads, or pass `--skip-unavailable` to build the images without them (they are then listed in the `io.imagesmith.omitted` label, the report and the SBOM)",
        plural(.components.len(), "component"),
        .components.iter().map(|c| format!("  - {c}")).collect::<Vec<_>>().join("\n")
    )]
    Unavailable {
        /// Each component and why
        components: Vec<Unavailable>,
    },
    /// A step of a component's document failed: an expected outcome of a bad recipe
    #[error("{0}")]
    StepFailed(Box<StepFailure>),
    /// The input is invalid (a bad `--secret`, an unknown base reference, a bad document)
    #[error("{message}")]
    Invalid {
        /// What is wrong, with a hint
        message: String,
    },
    /// An image could not be built because the image it builds on failed
    #[error("Image `{image}` was not built because `{parent}` failed")]
    ParentFailed {
        /// The image
        image: String,
        /// Its golden parent
        parent: String,
    },
    /// Several images failed, or the test phases of several components of one image
    #[error("{}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many {
        /// Each failure
        errors: Vec<BuildError>,
    },
    /// The base image could not be obtained
    #[error("Cannot get base image `{reference}`: {message}")]
    Base {
        /// The reference from the recipe
        reference: String,
        /// Why, with a hint
        message: String,
    },
    /// The base image could not be pulled from its registry (the registry error carries its
    /// own hint: which credential sources were tried, what to check)
    #[error("Cannot pull base image `{reference}`: {error}")]
    Pull {
        /// The reference from the recipe
        reference: String,
        /// What went wrong; not a `source`, so the message is printed once
        error: Box<imagesmith_oci::registry::RegistryError>,
    },
    /// The sandbox failed (not the command in it)
    #[error("Image `{image}`, component `{component}`, phase `{phase}`: the sandbox failed")]
    Sandbox {
        /// The image
        image: String,
        /// The component
        component: String,
        /// The phase
        phase: String,
        /// The underlying error
        #[source]
        source: imagesmith_sandbox::SandboxError,
    },
    /// The sandbox cannot run here at all
    #[error(transparent)]
    SandboxUnsupported(imagesmith_sandbox::SandboxError),
    /// Mounting or unmounting the build's own view of the image failed
    #[error("Failed to {action} `{path}`: {source}")]
    Mount {
        /// What was being done
        action: &'static str,
        /// The mount point
        path: PathBuf,
        /// The error
        #[source]
        source: nix::errno::Errno,
    },
    /// Writing or reading an OCI blob, layer or layout failed
    #[error("Image `{image}`: {source}")]
    Oci {
        /// The image (or base) concerned
        image: String,
        /// The underlying error
        #[source]
        source: imagesmith_oci::OciError,
    },
    /// A file operation failed; `fs-err` names the path
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The SBOM could not be made
    #[error("Image `{image}`: cannot make the SBOM: {message}")]
    Sbom {
        /// The image
        image: String,
        /// Why
        message: String,
    },
    /// A cache record is unreadable
    #[error("Cache record `{path}` is unreadable: {message}\nhint: delete it, or the whole cache directory, and build again")]
    Cache {
        /// The record
        path: PathBuf,
        /// Why
        message: String,
    },
    /// An external tool failed
    #[error("`{tool}` failed: {message}")]
    Tool {
        /// The program
        tool: String,
        /// Its exit status and the end of its output
        message: String,
    },
}

impl BuildError {
    /// Whether this is an expected outcome (invalid input, a failed step, an unavailable
    /// component: exit 1) rather than a failure of imagesmith itself (exit 2)
    pub fn is_expected(&self) -> bool {
        match self {
            BuildError::Unavailable { .. }
            | BuildError::StepFailed(_)
            | BuildError::Invalid { .. }
            | BuildError::ParentFailed { .. } => true,
            BuildError::Pull { error, .. } => error.is_input_error(),
            BuildError::Many { errors } => errors.iter().all(BuildError::is_expected),
            _ => false,
        }
    }

    pub(crate) fn pull(
        reference: &str,
    ) -> impl FnOnce(imagesmith_oci::registry::RegistryError) -> BuildError + '_ {
        move |error| BuildError::Pull {
            reference: reference.to_owned(),
            error: Box::new(error),
        }
    }

    pub(crate) fn oci(image: &str) -> impl FnOnce(imagesmith_oci::OciError) -> BuildError + '_ {
        move |source| BuildError::Oci {
            image: image.to_owned(),
            source,
        }
    }
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("1 {word}")
    } else {
        format!("{count} {word}s")
    }
}
