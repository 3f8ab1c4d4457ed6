//! Gates on a built image: scanner reports (Trivy, Grype, Snyk container) judged against the
//! project's thresholds and waivers, image hygiene checks on the layers, and the verdict
//! stored beside the image as an OCI artifact referring to it
//!
//! [`scan`] takes a [`ScanInput`] (the layout, the image, the project's `scanners`, reports
//! already produced, the build's secret values, the day) and returns a [`Verdict`]. The
//! checks are the static registry [`GATES`]; each returns [`GateResult::Found`] apart from
//! [`GateResult::Broke`], so "the scanner broke" (exit 2) is never taken for "the gate
//! failed" (exit 1). [`store_verdict`] puts the verdict in the layout's `index.json`, where
//! the push sends it with the image's other referrers.
//!
//! ```no_run
//! # fn main() -> Result<(), imagesmith_scan::ScanError> {
//! use imagesmith_scan::{scan, store_verdict, ScanInput, Scanner};
//! let input = ScanInput {
//!     layout: "cache/images/golden".into(),
//!     reference: None,
//!     image: "golden".into(),
//!     user: None,
//!     scanners: None,
//!     reports: vec![(Scanner::Trivy, "trivy.json".into())],
//!     secrets: Vec::new(),
//!     today: "2026-11-21".into(),
//! };
//! let verdict = scan(&input)?;
//! store_verdict(&input.layout, &verdict)?;
//! std::process::exit(verdict.exit_code());
//! # }
//! ```
#![deny(missing_docs)]

mod error;
mod evaluate;
mod finding;
mod gates;
pub mod hygiene;
mod report;
pub mod run;
mod sarif;
mod verdict;

use std::path::PathBuf;

pub use error::{ReportError, ScanError};
pub use evaluate::{
    covers, enabled_gates, expired_waivers, is_live, judge, Counts, Decision, JudgedFinding,
};
pub use finding::{Finding, Scanner, Severity};
pub use gates::{
    is_scanner_gate, Gate, GateInput, GateResult, GateSeverity, ScannerOutcome, GATES,
};
pub use report::{parse_report, parse_report_file};
pub use sarif::sarif;
pub use verdict::{
    store_verdict, stored_verdict, verdict_ref_name, CheckVerdict, ScannerVerdict, Status, Verdict,
    VERDICT_MEDIA_TYPE,
};

use imagesmith_model::Scanners;
use imagesmith_oci::{Image, ImageLayout};

/// What a scan looks at
#[derive(Debug, Clone)]
pub struct ScanInput {
    /// The OCI image layout holding the image
    pub layout: PathBuf,
    /// The image's `org.opencontainers.image.ref.name` in the layout (`None`: the only image)
    pub reference: Option<String>,
    /// The image's name in the project (what waivers' `image` names)
    pub image: String,
    /// The user the locked image asks for (`LockedImage::user`)
    pub user: Option<String>,
    /// The project's `scanners` (`None`: Trivy and Grype at the defaults)
    pub scanners: Option<Scanners>,
    /// Reports already produced, used instead of running the scanner
    pub reports: Vec<(Scanner, PathBuf)>,
    /// The build's secret values, searched for in the layers
    pub secrets: Vec<String>,
    /// The day waivers are judged on, `YYYY-MM-DD`
    pub today: String,
}

/// Scans the image: scanner gates, then every hygiene check; a scanner that is missing or
/// breaks makes its gate [`Status::Broke`], never an error of this function
pub fn scan(input: &ScanInput) -> Result<Verdict, ScanError> {
    if !imagesmith_model::decode::is_date(&input.today) {
        return Err(ScanError::Date(input.today.clone()));
    }
    let layout_error = |source| ScanError::Layout {
        layout: input.layout.clone(),
        image: input
            .reference
            .clone()
            .unwrap_or_else(|| input.image.clone()),
        source: Box::new(source),
    };
    let layout = ImageLayout::open(&input.layout).map_err(layout_error)?;
    let image = layout
        .image(input.reference.as_deref())
        .map_err(layout_error)?;
    let waivers = input
        .scanners
        .as_ref()
        .map(|s| s.waivers.clone())
        .unwrap_or_default();

    let mut gates = enabled_gates(input.scanners.as_ref());
    for (scanner, _) in &input.reports {
        if !gates.iter().any(|(s, _)| s == scanner) {
            gates.push((*scanner, imagesmith_model::ScannerGate::default()));
        }
    }
    gates.sort_by_key(|(s, _)| *s);

    let archive = Archive::new(&layout, &image, input.reference.as_deref());
    let mut outcomes = Vec::new();
    let mut scanner_verdicts = Vec::new();
    let mut findings = Vec::new();
    // With no `scanners:` section, Trivy and Grype run when installed; a scanner the
    // project configures must run (missing, it breaks the gate)
    let configured = |scanner: Scanner| {
        input.scanners.as_ref().is_some_and(|s| match scanner {
            Scanner::Trivy => s.trivy.is_some(),
            Scanner::Grype => s.grype.is_some(),
            Scanner::Snyk => s.snyk.is_some(),
        })
    };
    for (scanner, gate) in &gates {
        let report = input.reports.iter().find(|(s, _)| s == scanner);
        if report.is_none() && !configured(*scanner) && !run::installed(*scanner) {
            scanner_verdicts.push(ScannerVerdict {
                name: scanner.as_str().to_owned(),
                status: Status::Skipped {
                    reason: String::from(
                        "not installed, and not configured in `scanners` (configure it to require it)",
                    ),
                },
                counts: Counts::default(),
            });
            continue;
        }
        let raw = match report {
            Some((_, path)) => parse_report_file(*scanner, path).map_err(|e| e.to_string()),
            None if run::needs_archive(*scanner) => match archive.path() {
                Ok(path) => run::run(*scanner, &input.layout, Some(&path)),
                Err(reason) => Err(reason),
            },
            None => run::run(*scanner, &input.layout, None),
        };
        let (status, counts) = match raw {
            Ok(raw) => {
                let (judged, counts) = judge(raw, gate, &waivers, &input.image, &input.today);
                findings.extend(judged);
                let status = if counts.counted > 0 {
                    Status::Failed
                } else {
                    Status::Passed
                };
                outcomes.push(ScannerOutcome {
                    scanner: *scanner,
                    result: Ok(counts),
                });
                (status, counts)
            }
            Err(reason) => {
                outcomes.push(ScannerOutcome {
                    scanner: *scanner,
                    result: Err(reason.clone()),
                });
                (Status::Broke { reason }, Counts::default())
            }
        };
        scanner_verdicts.push(ScannerVerdict {
            name: scanner.as_str().to_owned(),
            status,
            counts,
        });
    }

    let gate_input = GateInput {
        image: input.image.clone(),
        config: image.config.clone(),
        user: input.user.clone(),
        files: hygiene::read_image(layout.blobs(), &image, &input.secrets),
        sbom_packages: sbom_packages(&layout, &image),
        scanners: outcomes,
    };
    let checks = GATES
        .iter()
        .filter(|gate| !is_scanner_gate(gate.name))
        .map(|gate| {
            let (status, problems) = match (gate.check)(&gate_input) {
                GateResult::Passed => (Status::Passed, Vec::new()),
                GateResult::Skipped(reason) => (Status::Skipped { reason }, Vec::new()),
                GateResult::Found(problems) => (Status::Failed, problems),
                GateResult::Broke(reason) => (Status::Broke { reason }, Vec::new()),
            };
            CheckVerdict {
                name: gate.name.to_owned(),
                severity: gate.severity,
                status,
                problems,
            }
        })
        .collect();

    let mut verdict = Verdict {
        image: input.image.clone(),
        digest: image.digest().to_string(),
        date: input.today.clone(),
        scanners: scanner_verdicts,
        checks,
        findings,
        expired_waivers: expired_waivers(&waivers, &input.image, &input.today),
        passed: false,
    };
    verdict.passed = verdict.exit_code() == 0;
    Ok(verdict)
}

/// The oci-archive Trivy and Snyk read, written once into a temporary directory on demand
struct Archive<'a> {
    layout: &'a ImageLayout,
    image: &'a Image,
    reference: &'a str,
    made: std::cell::OnceCell<Result<(tempfile::TempDir, PathBuf), String>>,
}

impl<'a> Archive<'a> {
    fn new(layout: &'a ImageLayout, image: &'a Image, reference: Option<&'a str>) -> Self {
        Archive {
            layout,
            image,
            reference: reference.unwrap_or("latest"),
            made: std::cell::OnceCell::new(),
        }
    }

    fn path(&self) -> Result<PathBuf, String> {
        let made = self.made.get_or_init(|| {
            let dir = tempfile::tempdir().map_err(|e| {
                format!("Cannot create a temporary directory for the oci-archive: {e}")
            })?;
            let path = dir.path().join("image.tar");
            imagesmith_oci::write_oci_archive(
                &path,
                self.layout.blobs(),
                &[(self.reference, self.image)],
                0,
            )
            .map_err(|e| format!("Cannot write the oci-archive the scanner reads: {e}"))?;
            Ok((dir, path))
        });
        made.as_ref()
            .map(|(_, path)| path.clone())
            .map_err(Clone::clone)
    }
}

/// CycloneDX media type, as the builder stores SBOMs
const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
/// SPDX JSON media type
const SPDX: &str = "application/spdx+json";

/// The dpkg packages the image's SBOM lists (CycloneDX first, else SPDX): `Ok(None)` when no
/// SBOM refers to the image
fn sbom_packages(
    layout: &ImageLayout,
    image: &Image,
) -> Result<Option<Vec<(String, String)>>, String> {
    for kind in [CYCLONEDX, SPDX] {
        let found = imagesmith_oci::referrers(layout, image.digest(), Some(kind))
            .map_err(|e| format!("Cannot read the SBOMs of the image: {e}"))?;
        let Some((_, manifest)) = found.into_iter().next() else {
            continue;
        };
        let Some(layer) = manifest.layers().first() else {
            return Err("The SBOM artifact has no layer".into());
        };
        let bytes = layout
            .blobs()
            .read(layer.digest())
            .map_err(|e| format!("Cannot read the SBOM: {e}"))?;
        let document: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("The SBOM `{}` is not JSON: {e}", layer.digest()))?;
        let str_of = |v: &serde_json::Value, key: &str| {
            v.get(key).and_then(|x| x.as_str()).unwrap_or("").to_owned()
        };
        let mut packages: Vec<(String, String)> = if kind == CYCLONEDX {
            document["components"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| str_of(c, "purl").starts_with("pkg:deb/"))
                .map(|c| (str_of(c, "name"), str_of(c, "version")))
                .collect()
        } else {
            document["packages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| {
                    p["externalRefs"].as_array().into_iter().flatten().any(|r| {
                        str_of(r, "referenceType") == "purl"
                            && str_of(r, "referenceLocator").starts_with("pkg:deb/")
                    })
                })
                .map(|p| (str_of(p, "name"), str_of(p, "versionInfo")))
                .collect()
        };
        packages.sort();
        packages.dedup();
        return Ok(Some(packages));
    }
    Ok(None)
}
