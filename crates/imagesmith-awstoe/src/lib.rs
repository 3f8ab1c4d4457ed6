//! AWSTOE component documents: static checks and a local executor.
//!
//! [`check`] finds every problem in an [`AwstoeDocument`] without running it: phase and step
//! names, action modules and their inputs, `timeoutSeconds`/`onFailure`/`maxAttempts`, loops,
//! `if` conditions, `{{ … }}` references (parameters, constants, loop variables, chaining) and
//! imagesmith's own rules (secrets are never parameters, actions match the OS family).
//!
//! [`expand`] works a step out the way AWSTOE does before running it: its `if` decided, its
//! loop unrolled and every `{{ … }}` substituted. It is the one home of these semantics: the
//! executor and the Dockerfile renderer both expand steps through it.
//!
//! [`exec`] runs a phase the way AWSTOE does, through a small [`exec::Host`] trait that the
//! builder implements with its sandbox, and produces a per-step log like AWSTOE's
//! `detailedoutput.json`.
//!
//! ```
//! use imagesmith_awstoe::{check, CheckOptions, Code};
//! use imagesmith_model::AwstoeDocument;
//!
//! let doc: AwstoeDocument = serde_json::from_value(serde_json::json!({
//!     "name": "hello",
//!     "schemaVersion": "1.0",
//!     "phases": [{"name": "build", "steps": [{
//!         "name": "Hello",
//!         "action": "ExecuteBash",
//!         "inputs": {"commands": ["echo {{ Greeting }}"]}
//!     }]}]
//! })).unwrap();
//! let findings = check(&doc, &CheckOptions::default());
//! assert_eq!(findings[0].code, Code::UnknownVariable);
//! assert_eq!(findings[0].path_string(), "phases/0/steps/0/inputs/commands/0");
//! ```
#![deny(missing_docs)]

pub mod actions;
mod check;
pub mod condition;
pub mod exec;
pub mod expand;
pub mod expr;
pub mod loops;
pub mod script;

pub use check::{check, CheckOptions, PHASES};
pub use imagesmith_diagnostics::{Code, Severity};
pub use imagesmith_model::{AwstoeDocument, OsFamily};

use std::fmt;

/// One step of a path into a document: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSegment {
    /// A mapping key.
    Key(String),
    /// A list index (0-based).
    Index(usize),
}

impl fmt::Display for PathSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathSegment::Key(key) => f.write_str(key),
            PathSegment::Index(index) => write!(f, "{index}"),
        }
    }
}

impl From<&str> for PathSegment {
    fn from(key: &str) -> Self {
        PathSegment::Key(key.to_string())
    }
}

impl From<usize> for PathSegment {
    fn from(index: usize) -> Self {
        PathSegment::Index(index)
    }
}

/// A problem found by [`check`], located by its path in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where: `phases/0/steps/2/inputs/commands`, as keys and indexes of the document.
    pub path: Vec<PathSegment>,
    /// How bad it is.
    pub severity: Severity,
    /// What kind of problem (`unknown-action`).
    pub code: Code,
    /// What is wrong: capitalised, values in backticks, no trailing period.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// For a problem inside a script: where in the command string at `path`.
    pub within: Option<TextPosition>,
}

/// A 1-based line and character column inside a string of a document (a script's command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextPosition {
    /// 1-based line in the string.
    pub line: usize,
    /// 1-based column, in characters, in that line.
    pub column: usize,
}

impl Finding {
    /// The path joined with `/`.
    pub fn path_string(&self) -> String {
        self.path
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Whether the finding rejects the document.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}] at {}",
            self.severity.as_str(),
            self.code,
            self.path_string()
        )?;
        if let Some(within) = &self.within {
            write!(f, ", line {}, column {}", within.line, within.column)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// A problem in a part of a document (a loop, a condition), relative to that part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, below the part.
    pub path: Vec<PathSegment>,
    /// What kind of problem.
    pub code: Code,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}
