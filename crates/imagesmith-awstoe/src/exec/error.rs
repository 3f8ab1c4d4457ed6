//! Errors of the executor.

use super::host::HostError;
use super::root::PathError;

/// Why an action failed. Recorded in the step's log; the step's `onFailure` decides what
/// happens next.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// A Windows-only action on a Linux host; never silently skipped.
    #[error("`{action}` runs only on Windows and cannot run on this host")]
    NotRunnableHere {
        /// The action module.
        action: String,
    },
    /// An action imagesmith does not run locally.
    #[error("`{action}` is not supported by the local executor: {reason}")]
    Unsupported {
        /// The action module.
        action: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// The inputs do not have the form the action needs.
    #[error("Invalid inputs: {message}")]
    InvalidInputs {
        /// What is wrong.
        message: String,
    },
    /// A path that cannot be resolved inside the image.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A file operation failed.
    #[error("Could not {operation} `{path}`: {source}")]
    Io {
        /// What was being done (`create`, `copy`).
        operation: &'static str,
        /// The path inside the image.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file or folder that must exist does not.
    #[error("`{path}` does not exist")]
    NotFound {
        /// The path inside the image.
        path: String,
    },
    /// A file or folder exists and `overwrite` (or `force`) is off.
    #[error("`{path}` already exists and `{option}` is false")]
    AlreadyExists {
        /// The path inside the image.
        path: String,
        /// The option that would allow it.
        option: &'static str,
    },
    /// The host failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The command exited with a non-zero code.
    #[error("`{command}` exited with {}", describe_exit(*.exit_code))]
    NonZeroExit {
        /// The command line.
        command: String,
        /// The code, `None` for a signal.
        exit_code: Option<i32>,
    },
    /// The step ran longer than `timeoutSeconds`.
    #[error("Timed out after {seconds} seconds")]
    TimedOut {
        /// The timeout.
        seconds: i64,
    },
    /// A downloaded file has the wrong checksum.
    #[error("`{path}` has {algorithm} `{actual}`, expected `{expected}`")]
    ChecksumMismatch {
        /// The file inside the image.
        path: String,
        /// The algorithm.
        algorithm: String,
        /// The checksum in the document.
        expected: String,
        /// The checksum of the file.
        actual: String,
    },
    /// An `Assert` condition is false.
    #[error("The assertion is false")]
    AssertionFailed,
    /// The step's `if` chose `Abort`.
    #[error("The `if` condition chose `Abort`")]
    ConditionAbort,
    /// A condition could not be read or evaluated.
    #[error("Invalid condition: {message}")]
    Condition {
        /// What is wrong.
        message: String,
    },
    /// A loop could not be read.
    #[error("Invalid loop: {message}")]
    Loop {
        /// What is wrong.
        message: String,
    },
    /// An owner or group name unknown to the image.
    #[error("{kind} `{name}` is not in the image's `{file}`")]
    UnknownAccount {
        /// `User` or `Group`.
        kind: &'static str,
        /// The name.
        name: String,
        /// `/etc/passwd` or `/etc/group`.
        file: &'static str,
    },
    /// An iteration of a loop failed.
    #[error("Iteration {index} failed: {error}")]
    Iteration {
        /// The 0-based iteration index.
        index: usize,
        /// Why.
        error: Box<ActionError>,
    },
    /// The step kept asking for reboots (exit code 194).
    #[error("The step asked for a reboot {count} times")]
    TooManyReboots {
        /// How many times.
        count: u32,
    },
}

/// A failure of the run itself, before or around its steps (step failures are recorded in
/// the log, not returned).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The document has no such phase.
    #[error("Document `{document}` has no phase `{phase}`")]
    UnknownPhase {
        /// The document name.
        document: String,
        /// The phase asked for.
        phase: String,
    },
    /// A parameter has neither a value nor a default.
    #[error("Parameter `{name}` of document `{document}` has no value and no default")]
    MissingParameter {
        /// The document name.
        document: String,
        /// The parameter.
        name: String,
    },
}

fn describe_exit(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("code {code}"),
        None => "a signal".to_string(),
    }
}
