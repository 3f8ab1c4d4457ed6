//! The gates: a static registry of small named checks, each with a severity, where "the
//! check broke" is a different result from "the check found problems" (bootc's `lints.rs`)

use imagesmith_oci::oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

use crate::evaluate::Counts;
use crate::finding::Scanner;
use crate::hygiene::{self, ImageFiles};

/// How much a gate's findings weigh
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GateSeverity {
    /// Found problems fail the verdict
    Error,
    /// Found problems are reported; the verdict still passes
    Warning,
}

/// What a gate's check returned
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateResult {
    /// Nothing wrong
    Passed,
    /// Does not apply to this image (the reason)
    Skipped(String),
    /// Problems found, one line each
    Found(Vec<String>),
    /// The check itself could not run (the reason): not a verdict on the image
    Broke(String),
}

/// The outcome of one scanner gate, computed before the checks run
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerOutcome {
    /// The scanner
    pub scanner: Scanner,
    /// The counts, or why the scanner broke
    pub result: Result<Counts, String>,
}

/// Everything a gate's check may read
#[derive(Debug, Clone)]
pub struct GateInput {
    /// The image's name (its project image or the layout reference)
    pub image: String,
    /// The image config
    pub config: ImageConfiguration,
    /// The user the locked image asks for, when it asks
    pub user: Option<String>,
    /// The merged filesystem and secrets, or why the layers could not be read
    pub files: Result<ImageFiles, String>,
    /// The dpkg packages (name, version) the image's SBOM lists: `Ok(None)` when no SBOM
    /// refers to the image, `Err` when one could not be read
    pub sbom_packages: Result<Option<Vec<(String, String)>>, String>,
    /// The scanner gates' outcomes
    pub scanners: Vec<ScannerOutcome>,
}

/// One named check
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    /// Its name, in kebab case
    pub name: &'static str,
    /// How much its findings weigh
    pub severity: GateSeverity,
    /// What it checks, in one line
    pub description: &'static str,
    /// The check
    pub check: fn(&GateInput) -> GateResult,
}

/// Every gate, scanner gates first
pub static GATES: &[Gate] = &[
    Gate {
        name: "trivy",
        severity: GateSeverity::Error,
        description: "Trivy finds nothing at or above the gate's `fail_on` that is not waived",
        check: trivy,
    },
    Gate {
        name: "grype",
        severity: GateSeverity::Error,
        description: "Grype finds nothing at or above the gate's `fail_on` that is not waived",
        check: grype,
    },
    Gate {
        name: "snyk",
        severity: GateSeverity::Error,
        description: "Snyk finds nothing at or above the gate's `fail_on` that is not waived",
        check: snyk,
    },
    Gate {
        name: "no-secrets",
        severity: GateSeverity::Error,
        description: "No build secret value, AWS access key id, PEM private key or GitHub token in any layer, the config or its history",
        check: no_secrets,
    },
    Gate {
        name: "no-package-caches",
        severity: GateSeverity::Warning,
        description: "No apt lists or caches, dnf cache, pip or npm cache left in the image",
        check: no_package_caches,
    },
    Gate {
        name: "non-root-user",
        severity: GateSeverity::Error,
        description: "The image runs as the non-root user its recipe or spec asks for",
        check: non_root_user,
    },
    Gate {
        name: "no-world-writable",
        severity: GateSeverity::Error,
        description: "No world-writable file or directory outside /tmp, /var/tmp and /dev/shm",
        check: no_world_writable,
    },
    Gate {
        name: "sbom-matches",
        severity: GateSeverity::Error,
        description: "The SBOM lists the same dpkg packages (name and version) as the image's /var/lib/dpkg/status",
        check: sbom_matches,
    },
];

/// Whether `name` is the name of a scanner gate
pub fn is_scanner_gate(name: &str) -> bool {
    Scanner::from_name(name).is_some()
}

fn scanner_gate(input: &GateInput, scanner: Scanner) -> GateResult {
    match input.scanners.iter().find(|o| o.scanner == scanner) {
        None => GateResult::Skipped(format!("`scanners.{scanner}` is not enabled")),
        Some(ScannerOutcome {
            result: Err(reason),
            ..
        }) => GateResult::Broke(reason.clone()),
        Some(ScannerOutcome {
            result: Ok(counts), ..
        }) if counts.counted > 0 => {
            GateResult::Found(vec![format!("{} finding(s) fail the gate", counts.counted)])
        }
        Some(_) => GateResult::Passed,
    }
}

fn trivy(input: &GateInput) -> GateResult {
    scanner_gate(input, Scanner::Trivy)
}

fn grype(input: &GateInput) -> GateResult {
    scanner_gate(input, Scanner::Grype)
}

fn snyk(input: &GateInput) -> GateResult {
    scanner_gate(input, Scanner::Snyk)
}

fn found(problems: Vec<String>) -> GateResult {
    if problems.is_empty() {
        GateResult::Passed
    } else {
        GateResult::Found(problems)
    }
}

fn no_secrets(input: &GateInput) -> GateResult {
    match &input.files {
        Err(reason) => GateResult::Broke(reason.clone()),
        Ok(files) => found(
            files
                .secrets
                .iter()
                .map(|hit| {
                    if hit.path.is_empty() {
                        format!("{} in the image {}", hit.what, hit.place)
                    } else {
                        format!("{} in `{}` ({})", hit.what, hit.path, hit.place)
                    }
                })
                .collect(),
        ),
    }
}

fn no_package_caches(input: &GateInput) -> GateResult {
    match &input.files {
        Err(reason) => GateResult::Broke(reason.clone()),
        Ok(files) => found(hygiene::package_caches(files)),
    }
}

fn non_root_user(input: &GateInput) -> GateResult {
    match &input.user {
        None => GateResult::Skipped("the recipe names no user".into()),
        Some(user) => found(hygiene::user_problems(&input.config, user)),
    }
}

fn no_world_writable(input: &GateInput) -> GateResult {
    match &input.files {
        Err(reason) => GateResult::Broke(reason.clone()),
        Ok(files) => found(hygiene::world_writable(files)),
    }
}

/// dpkg writes epochs into `Version`; SBOM tools may drop them
fn same_version(a: &str, b: &str) -> bool {
    let strip = |v: &str| v.split_once(':').map_or(v, |(_, rest)| rest).to_owned();
    a == b || strip(a) == strip(b)
}

fn sbom_matches(input: &GateInput) -> GateResult {
    let files = match &input.files {
        Err(reason) => return GateResult::Broke(reason.clone()),
        Ok(files) => files,
    };
    let sbom = match &input.sbom_packages {
        Err(reason) => return GateResult::Broke(reason.clone()),
        Ok(None) => return GateResult::Skipped("no SBOM refers to the image".into()),
        Ok(Some(sbom)) => sbom,
    };
    let Some(status) = &files.dpkg_status else {
        if sbom.is_empty() {
            return GateResult::Skipped("the image has no /var/lib/dpkg/status".into());
        }
        return GateResult::Found(vec![format!(
            "The SBOM lists {} dpkg package(s) but the image has no /var/lib/dpkg/status",
            sbom.len()
        )]);
    };
    let image = hygiene::dpkg_packages(status);
    let mut problems = Vec::new();
    for (name, version) in &image {
        match sbom.iter().find(|(n, _)| n == name) {
            None => problems.push(format!(
                "`{name}` {version} is installed but not in the SBOM"
            )),
            Some((_, listed)) if !same_version(listed, version) => problems.push(format!(
                "`{name}` is {version} in the image but {listed} in the SBOM"
            )),
            Some(_) => {}
        }
    }
    for (name, version) in sbom {
        if !image.iter().any(|(n, _)| n == name) {
            problems.push(format!(
                "`{name}` {version} is in the SBOM but not installed"
            ));
        }
    }
    found(problems)
}
