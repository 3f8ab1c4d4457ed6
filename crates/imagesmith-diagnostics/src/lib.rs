//! Diagnostics: located problems with a code, message and hint, and their renderers
//! (human, JSON, SARIF 2.1.0 and GitHub workflow annotations).
//!
//! A [`Diagnostic`] is plain data: where (file, line, column), how bad ([`Severity`]),
//! what kind ([`Code`]), what (message) and how to fix it (hint). Every stage of the
//! pipeline reports its problems as a list of diagnostics so that one run shows all of them.
#![deny(missing_docs)]

mod code;
mod render;
mod source;

pub use code::Code;
pub use render::{render, Format, HumanOptions};
pub use source::{Position, SourceFile, Span};

use serde::Serialize;
use std::sync::Arc;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The document is rejected.
    Error,
    /// The document is accepted, but something should change.
    Warning,
    /// Extra information.
    Note,
}

impl Severity {
    /// The lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// One problem found in one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in, as given by the user (or `<built-in>/...`).
    pub path: Arc<str>,
    /// Where in the file; `None` when the problem concerns the whole file.
    pub span: Option<Span>,
    /// How bad it is.
    pub severity: Severity,
    /// What kind of problem.
    pub code: Code,
    /// What is wrong, capitalised, values in backticks, no trailing period.
    pub message: String,
    /// How to fix it, when there is a fix to suggest.
    pub hint: Option<String>,
    /// A part of the file never to be shown (a secret written in it): source snippets of
    /// this file print each of its characters as `*`, so columns stay where they were.
    pub redacted: Option<Span>,
}

impl Diagnostic {
    /// An error at `span` of `path`.
    pub fn error(
        path: &Arc<str>,
        span: Option<Span>,
        code: Code,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Error, path, span, code, message)
    }

    /// A warning at `span` of `path`.
    pub fn warning(
        path: &Arc<str>,
        span: Option<Span>,
        code: Code,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, path, span, code, message)
    }

    /// A diagnostic of any severity.
    pub fn new(
        severity: Severity,
        path: &Arc<str>,
        span: Option<Span>,
        code: Code,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            path: Arc::clone(path),
            span,
            severity,
            code,
            message: message.into(),
            hint: None,
            redacted: None,
        }
    }

    /// Marks `span` as a secret: never shown in a snippet of this file.
    #[must_use]
    pub fn with_redacted(mut self, span: Option<Span>) -> Self {
        self.redacted = span;
        self
    }

    /// Adds a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint when there is one.
    #[must_use]
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    /// The 1-based line, or 1 when the problem concerns the whole file.
    pub fn line(&self) -> u32 {
        self.span.map_or(1, |s| s.start.line)
    }

    /// The 1-based column (in characters), or 1 when the problem concerns the whole file.
    pub fn column(&self) -> u32 {
        self.span.map_or(1, |s| s.start.column)
    }

    /// Whether this diagnostic rejects its document.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A list of diagnostics, in the order they were found.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Adds all of `other`.
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// How many errors there are.
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// How many warnings there are.
    pub fn warning_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }

    /// Whether there is nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many diagnostics there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The diagnostics.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// Sorts by file, then position, then code, so output is stable.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            (&a.path, a.line(), a.column(), a.code, &a.message).cmp(&(
                &b.path,
                b.line(),
                b.column(),
                b.code,
                &b.message,
            ))
        });
        self.items.dedup();
    }

    /// The diagnostics, owned.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl FromIterator<Diagnostic> for Diagnostics {
    fn from_iter<I: IntoIterator<Item = Diagnostic>>(iter: I) -> Self {
        Diagnostics {
            items: iter.into_iter().collect(),
        }
    }
}

/// Suggests the closest of `candidates` to `input`, for "did you mean" hints.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase().replace('-', "_");
    let mut best: Option<(f64, &'a str)> = None;
    for candidate in candidates {
        let score = strsim_jaro_winkler(&input_lower, &candidate.to_ascii_lowercase());
        if score >= 0.8 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

fn strsim_jaro_winkler(a: &str, b: &str) -> f64 {
    strsim::jaro_winkler(a, b)
}
