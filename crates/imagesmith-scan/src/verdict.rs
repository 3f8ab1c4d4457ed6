//! The verdict of a scan, and its storage beside the image as an OCI artifact

use std::path::Path;

use imagesmith_model::Waiver;
use imagesmith_oci::ImageLayout;
use serde::{Deserialize, Serialize};

use crate::error::ScanError;
use crate::evaluate::{Counts, Decision, JudgedFinding};
use crate::gates::GateSeverity;

/// The `artifactType` (and layer media type) of a stored verdict
pub const VERDICT_MEDIA_TYPE: &str = "application/vnd.imagesmith.verdict.v1+json";

/// How a scanner gate or a check ended
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Status {
    /// Nothing fails it
    Passed,
    /// It does not apply
    Skipped {
        /// Why
        reason: String,
    },
    /// Findings fail it
    Failed,
    /// The scanner or the check could not give an answer
    Broke {
        /// Why
        reason: String,
    },
}

/// One scanner gate's outcome
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannerVerdict {
    /// `trivy`, `grype` or `snyk`
    pub name: String,
    /// How it ended
    #[serde(flatten)]
    pub status: Status,
    /// Its findings, by what the gate made of them
    pub counts: Counts,
}

/// One hygiene check's outcome
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckVerdict {
    /// The gate's name
    pub name: String,
    /// How much its problems weigh
    pub severity: GateSeverity,
    /// How it ended
    #[serde(flatten)]
    pub status: Status,
    /// What it found
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub problems: Vec<String>,
}

/// The verdict on one image
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The image's name
    pub image: String,
    /// The image's manifest digest
    pub digest: String,
    /// The day the waivers were judged on
    pub date: String,
    /// Each enabled scanner gate
    pub scanners: Vec<ScannerVerdict>,
    /// Each hygiene check
    pub checks: Vec<CheckVerdict>,
    /// Every finding of every scanner
    pub findings: Vec<JudgedFinding>,
    /// Waivers for this image that have expired: they waive nothing any more
    pub expired_waivers: Vec<Waiver>,
    /// Whether the image may be published
    pub passed: bool,
}

impl Verdict {
    /// Whether a scanner or a check broke (exit 2)
    pub fn broke(&self) -> bool {
        self.scanners
            .iter()
            .any(|s| matches!(s.status, Status::Broke { .. }))
            || self
                .checks
                .iter()
                .any(|c| matches!(c.status, Status::Broke { .. }))
    }

    /// Whether a scanner gate or an error-severity check failed (exit 1)
    pub fn failed(&self) -> bool {
        self.scanners.iter().any(|s| s.status == Status::Failed)
            || self
                .checks
                .iter()
                .any(|c| c.status == Status::Failed && c.severity == GateSeverity::Error)
    }

    /// 0 passed, 1 a gate failed, 2 a scanner or check broke
    pub fn exit_code(&self) -> i32 {
        if self.broke() {
            2
        } else if self.failed() {
            1
        } else {
            0
        }
    }

    /// The findings that fail their gate
    pub fn counted(&self) -> impl Iterator<Item = &JudgedFinding> {
        self.findings
            .iter()
            .filter(|f| f.decision == Decision::Counted)
    }

    /// The one-line outcome: `the scanner broke: …`, `the gate failed: N findings …` or
    /// `passed`
    pub fn summary(&self) -> String {
        let broke: Vec<String> = self
            .scanners
            .iter()
            .map(|s| (&s.name, &s.status))
            .chain(self.checks.iter().map(|c| (&c.name, &c.status)))
            .filter_map(|(name, status)| match status {
                Status::Broke { reason } => Some(format!("{name}: {reason}")),
                _ => None,
            })
            .collect();
        if !broke.is_empty() {
            return format!("the scanner broke: {}", broke.join("; "));
        }
        if self.failed() {
            let counted = self.counted().count();
            let checks: Vec<&str> = self
                .checks
                .iter()
                .filter(|c| c.status == Status::Failed && c.severity == GateSeverity::Error)
                .map(|c| c.name.as_str())
                .collect();
            let mut parts = Vec::new();
            if counted > 0 || checks.is_empty() {
                parts.push(format!("{counted} findings at or above the threshold"));
            }
            if !checks.is_empty() {
                parts.push(format!("checks failed: {}", checks.join(", ")));
            }
            return format!("the gate failed: {}", parts.join("; "));
        }
        "passed".to_owned()
    }
}

/// The `org.opencontainers.image.ref.name` of the verdict of the image named `image_ref`
/// (`verdict` for the layout's `latest`)
pub fn verdict_ref_name(image_ref: Option<&str>) -> String {
    match image_ref {
        None | Some("latest") => "verdict".to_owned(),
        Some(other) => format!("verdict-{other}"),
    }
}

/// Stores `verdict` in the layout at `layout` as an artifact referring to the image
/// (`artifactType` [`VERDICT_MEDIA_TYPE`]), replacing an earlier verdict of that image
pub fn store_verdict(layout: &Path, verdict: &Verdict) -> Result<(), ScanError> {
    let store_error = |source| ScanError::Store {
        layout: layout.to_path_buf(),
        image: verdict.image.clone(),
        source: Box::new(source),
    };
    let opened = ImageLayout::open(layout).map_err(store_error)?;
    let subject = opened
        .index()
        .manifests()
        .iter()
        .find(|d| d.digest().to_string() == verdict.digest && d.artifact_type().is_none())
        .cloned()
        .ok_or_else(|| ScanError::NoSubject {
            layout: layout.to_path_buf(),
            digest: verdict.digest.clone(),
        })?;
    let subject_ref = subject
        .annotations()
        .as_ref()
        .and_then(|a| a.get(imagesmith_oci::REF_NAME_ANNOTATION).cloned());
    let image = opened.image(subject_ref.as_deref()).map_err(store_error)?;
    let document = imagesmith_oci::canonical_json(verdict, "verdict").map_err(store_error)?;
    let created = format!("{}T00:00:00Z", verdict.date);
    let artifact = imagesmith_oci::artifact(
        opened.blobs(),
        &image,
        VERDICT_MEDIA_TYPE,
        &document,
        &created,
    )
    .map_err(store_error)?;
    imagesmith_oci::put_referrer(layout, &verdict_ref_name(subject_ref.as_deref()), &artifact)
        .map_err(store_error)
}

/// The verdict stored in `layout` for the image with `digest`, when there is one
pub fn stored_verdict(layout: &Path, digest: &str) -> Result<Option<Verdict>, ScanError> {
    let load_error = |source| ScanError::Layout {
        layout: layout.to_path_buf(),
        image: digest.to_owned(),
        source: Box::new(source),
    };
    let opened = ImageLayout::open(layout).map_err(load_error)?;
    let subject = digest.parse().map_err(|_| ScanError::NoSubject {
        layout: layout.to_path_buf(),
        digest: digest.to_owned(),
    })?;
    let found = imagesmith_oci::referrers(&opened, &subject, Some(VERDICT_MEDIA_TYPE))
        .map_err(load_error)?;
    let Some((_, manifest)) = found.into_iter().next() else {
        return Ok(None);
    };
    let Some(layer) = manifest.layers().first() else {
        return Ok(None);
    };
    let bytes = opened.blobs().read(layer.digest()).map_err(load_error)?;
    Ok(serde_json::from_slice(&bytes).ok())
}
