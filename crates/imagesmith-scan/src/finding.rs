//! One vulnerability finding, whichever scanner reported it

use serde::{Deserialize, Serialize};

/// A vulnerability scanner imagesmith reads the reports of
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scanner {
    /// Aqua Security's Trivy
    Trivy,
    /// Anchore's Grype
    Grype,
    /// Snyk container
    Snyk,
}

impl Scanner {
    /// Every scanner, in the order gates run
    pub const ALL: [Scanner; 3] = [Scanner::Trivy, Scanner::Grype, Scanner::Snyk];

    /// The name as written in the project file and on the command line
    pub fn as_str(self) -> &'static str {
        match self {
            Scanner::Trivy => "trivy",
            Scanner::Grype => "grype",
            Scanner::Snyk => "snyk",
        }
    }

    /// The scanner named `name` (`trivy`, `grype`, `snyk`, any case)
    pub fn from_name(name: &str) -> Option<Scanner> {
        Scanner::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A finding's severity as scanners write it, lowest first; `Unknown` and Grype's
/// `Negligible` are below every threshold a gate can set
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The scanner gave none
    Unknown,
    /// Grype's lowest
    Negligible,
    /// Low
    Low,
    /// Medium
    Medium,
    /// High
    High,
    /// Critical
    Critical,
}

impl Severity {
    /// Reads a severity in any case (`HIGH`, `High`, `high`); `None` for other words
    pub fn parse(text: &str) -> Option<Severity> {
        Some(match text.to_ascii_lowercase().as_str() {
            "unknown" | "" => Severity::Unknown,
            "negligible" => Severity::Negligible,
            "low" => Severity::Low,
            "medium" | "moderate" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    /// The name, lowercase
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Negligible => "negligible",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Whether this is `threshold` or worse
    pub fn at_least(self, threshold: imagesmith_model::Severity) -> bool {
        let threshold = match threshold {
            imagesmith_model::Severity::Low => Severity::Low,
            imagesmith_model::Severity::Medium => Severity::Medium,
            imagesmith_model::Severity::High => Severity::High,
            imagesmith_model::Severity::Critical => Severity::Critical,
        };
        self >= threshold
    }
}

/// One vulnerability in one package, as a scanner reported it
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The scanner that reported it
    pub scanner: Scanner,
    /// The vulnerability id (`CVE-2024-1234`, `GHSA-…`, `SNYK-DEBIAN12-…`)
    pub id: String,
    /// The package it is in
    pub package: String,
    /// The installed version
    pub installed: String,
    /// The first version that fixes it, when there is one
    pub fixed: Option<String>,
    /// How bad it is
    pub severity: Severity,
    /// A one-line description (may be empty)
    pub title: String,
    /// Where to read about it
    pub url: Option<String>,
}
