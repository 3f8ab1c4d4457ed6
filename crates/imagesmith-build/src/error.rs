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
    /// The disk (or the quota) of the cache or the output is full: not a bug, not the
    /// mirror, not the recipe
    #[error("No space left on device: {error}\nhint: free space on the filesystem of `{}` (`df -h {}`), or build with a cache directory on a larger disk (`--cache-dir DIR` or `IMAGESMITH_CACHE_DIR`)", .dir.display(), .dir.display())]
    NoSpace {
        /// The cache directory (or the output directory) whose disk is full
        dir: PathBuf,
        /// What failed, naming the path or the stage; not a `source`, so the message is
        /// printed once
        error: Box<BuildError>,
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

    /// Whether this error comes from a full disk or quota: an `ENOSPC` or `EDQUOT` anywhere
    /// in its chain, or a tool (the bootstrap) that said so
    pub fn is_no_space(&self) -> bool {
        match self {
            BuildError::NoSpace { .. } => true,
            BuildError::Many { errors } => errors.iter().any(BuildError::is_no_space),
            BuildError::Base { message, .. } | BuildError::Tool { message, .. } => {
                says_no_space(message)
            }
            // A step's writes land in its upper directory, in the cache
            BuildError::StepFailed(failure) => says_no_space(&failure.message),
            BuildError::Mount { source, .. } => {
                matches!(
                    source,
                    nix::errno::Errno::ENOSPC | nix::errno::Errno::EDQUOT
                )
            }
            // `transparent`: its `source()` skips the I/O error itself
            BuildError::Io(error) => io_is_no_space(error) || chain_has_no_space(error),
            _ => chain_has_no_space(self),
        }
    }

    /// This error, as [`BuildError::NoSpace`] naming `dir` when it comes from a full disk
    /// (each one of [`BuildError::Many`] on its own)
    pub fn classify_no_space(self, dir: &std::path::Path) -> BuildError {
        match self {
            BuildError::NoSpace { .. } => self,
            BuildError::Many { errors } => BuildError::Many {
                errors: errors
                    .into_iter()
                    .map(|error| error.classify_no_space(dir))
                    .collect(),
            },
            error if error.is_no_space() => BuildError::NoSpace {
                dir: dir.to_path_buf(),
                error: Box::new(error),
            },
            error => error,
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

/// Whether a tool's output says the disk or the quota is full
pub(crate) fn says_no_space(text: &str) -> bool {
    text.contains("No space left on device") || text.contains("Disk quota exceeded")
}

/// Whether an I/O error is `ENOSPC` or `EDQUOT` (fs-err keeps the kind of the error it wraps)
fn io_is_no_space(io: &std::io::Error) -> bool {
    matches!(io.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
        || matches!(
            io.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        )
}

/// Whether an I/O error with `ENOSPC` or `EDQUOT` is anywhere in `error`'s chain
fn chain_has_no_space(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error
            .downcast_ref::<std::io::Error>()
            .is_some_and(io_is_no_space)
        {
            return true;
        }
        // `transparent` errors' `source()` skips the I/O error they hold
        if let Some(imagesmith_oci::OciError::Io(io)) = error.downcast_ref() {
            if io_is_no_space(io) {
                return true;
            }
        }
        if let Some(errno) = error.downcast_ref::<nix::errno::Errno>() {
            if matches!(errno, nix::errno::Errno::ENOSPC | nix::errno::Errno::EDQUOT) {
                return true;
            }
        }
        current = error.source();
    }
    false
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("1 {word}")
    } else {
        format!("{count} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_disk(path: &str) -> std::io::Error {
        // What fs-err makes of an ENOSPC: the path in the message, the errno inside
        let source = std::io::Error::from_raw_os_error(libc::ENOSPC);
        std::io::Error::new(source.kind(), fs_err_like(path, source))
    }

    /// An error naming a path with the OS error as its source, as fs-err's is
    #[derive(Debug)]
    struct PathError(String, std::io::Error);
    impl std::fmt::Display for PathError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "failed to write file `{}`", self.0)
        }
    }
    impl std::error::Error for PathError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.1)
        }
    }
    fn fs_err_like(path: &str, source: std::io::Error) -> PathError {
        PathError(path.to_owned(), source)
    }

    #[test]
    fn enospc_anywhere_is_no_space_left() {
        let cache = std::path::Path::new("/var/cache/imagesmith");
        let cases = [
            BuildError::Io(full_disk("/var/cache/imagesmith/blobs/sha256/.tmp-x")),
            BuildError::Io(std::io::Error::from_raw_os_error(libc::EDQUOT)),
            BuildError::Oci {
                image: "golden".into(),
                source: imagesmith_oci::OciError::IoAt {
                    action: "write layer",
                    path: "/var/cache/imagesmith/u/0123".into(),
                    source: std::io::Error::from_raw_os_error(libc::ENOSPC),
                },
            },
            BuildError::Oci {
                image: "golden".into(),
                source: imagesmith_oci::OciError::Io(full_disk("/out/.golden.oci.tar.tmp-1")),
            },
            BuildError::Mount {
                action: "mount the overlay on",
                path: "/var/cache/imagesmith/w/x/m".into(),
                source: nix::errno::Errno::ENOSPC,
            },
            BuildError::Base {
                reference: "debian:12".into(),
                message: "the bootstrap failed (exit status: 1):\ndpkg: error processing archive /var/cache/apt/archives/libc6.deb (--unpack):\n cannot copy extracted data for './usr/lib/x86_64-linux-gnu/libc.so.6' to '/usr/lib/x86_64-linux-gnu/libc.so.6.dpkg-new': failed to write (No space left on device)".into(),
            },
            BuildError::StepFailed(Box::new(StepFailure {
                image: "golden".into(),
                component: "chrony".into(),
                phase: "build".into(),
                step: "Install".into(),
                message: "exit status 100: E: Write error - write (28: No space left on device)".into(),
                log: "/var/cache/imagesmith/logs/golden/chrony.json".into(),
            })),
        ];
        for error in cases {
            let shown = error.to_string();
            let classified = error.classify_no_space(cache);
            let message = classified.to_string();
            assert!(
                matches!(classified, BuildError::NoSpace { .. }),
                "not classified: {shown}"
            );
            assert!(
                message.starts_with("No space left on device: "),
                "{message}"
            );
            // What failed is still said (the path or the stage)
            assert!(message.contains(&shown), "{message}");
            assert!(
                message.contains("hint: free space on the filesystem of `/var/cache/imagesmith`"),
                "{message}"
            );
            assert!(message.contains("--cache-dir DIR"), "{message}");
            assert!(!message.contains("mirror"), "{message}");
            assert!(!classified.is_expected());
        }
    }

    #[test]
    fn other_errors_are_left_alone() {
        let cache = std::path::Path::new("/c");
        for error in [
            BuildError::Io(std::io::Error::from_raw_os_error(libc::EACCES)),
            BuildError::Base {
                reference: "debian:12".into(),
                message: "the bootstrap failed: E: Failed to fetch http://deb.debian.org/".into(),
            },
            BuildError::Invalid {
                message: "bad".into(),
            },
        ] {
            assert!(!error.is_no_space(), "{error}");
            assert!(!matches!(
                error.classify_no_space(cache),
                BuildError::NoSpace { .. }
            ));
        }
        // One full disk among several failures: only that one is reclassified
        let many = BuildError::Many {
            errors: vec![
                BuildError::Invalid {
                    message: "bad".into(),
                },
                BuildError::Io(std::io::Error::from_raw_os_error(libc::ENOSPC)),
            ],
        }
        .classify_no_space(cache);
        let BuildError::Many { errors } = many else {
            panic!("not Many")
        };
        assert!(matches!(errors[0], BuildError::Invalid { .. }));
        assert!(matches!(errors[1], BuildError::NoSpace { .. }));
    }
}
