//! Gate evaluation: which findings count against a scanner's gate, and which waivers hold

use imagesmith_model::{ScannerGate, Scanners, Waiver};
use serde::{Deserialize, Serialize};

use crate::finding::{Finding, Scanner};

/// The gates that apply: each enabled gate of the project's `scanners`; with no `scanners`
/// section, Trivy and Grype at the defaults (fail on `high` with a fix), as the rendered
/// pipelines do
pub fn enabled_gates(scanners: Option<&Scanners>) -> Vec<(Scanner, ScannerGate)> {
    let Some(scanners) = scanners else {
        return vec![
            (Scanner::Trivy, ScannerGate::default()),
            (Scanner::Grype, ScannerGate::default()),
        ];
    };
    let configured = [
        (Scanner::Trivy, &scanners.trivy),
        (Scanner::Grype, &scanners.grype),
        (Scanner::Snyk, &scanners.snyk),
    ];
    let any = configured.iter().any(|(_, g)| g.is_some());
    configured
        .into_iter()
        .filter_map(|(scanner, gate)| match gate {
            Some(gate) if gate.enabled => Some((scanner, gate.clone())),
            Some(_) => None,
            // `scanners:` with only waivers keeps the default gates
            None if !any && scanner != Scanner::Snyk => Some((scanner, ScannerGate::default())),
            None => None,
        })
        .collect()
}

/// Why a finding does or does not count against its gate
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// It fails the gate
    Counted,
    /// Below the gate's `fail_on`
    BelowThreshold,
    /// No fix yet, and the gate ignores unfixed findings
    Unfixed,
    /// A live waiver covers it
    Waived,
}

/// A finding with what the gate made of it
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgedFinding {
    /// The finding
    #[serde(flatten)]
    pub finding: Finding,
    /// Whether it counts, and if not why
    pub decision: Decision,
    /// The waiver that covers it (its id and reason), when one does
    pub waived_by: Option<String>,
    /// An expired waiver that would have covered it
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_waiver: Option<String>,
}

/// How many findings of one scanner fell where
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Every finding
    pub total: usize,
    /// Findings that fail the gate
    pub counted: usize,
    /// Below the threshold
    pub below_threshold: usize,
    /// Unfixed, ignored
    pub unfixed: usize,
    /// Covered by a live waiver
    pub waived: usize,
}

/// Whether `waiver` covers `finding` in `image` (ignoring its date)
pub fn covers(waiver: &Waiver, finding: &Finding, image: &str) -> bool {
    waiver.id.eq_ignore_ascii_case(&finding.id)
        && waiver
            .package
            .as_deref()
            .is_none_or(|p| p == finding.package)
        && waiver.image.as_deref().is_none_or(|i| i == image)
}

/// Whether `waiver` still holds on `today` (`YYYY-MM-DD`; its `expires` day included)
pub fn is_live(waiver: &Waiver, today: &str) -> bool {
    waiver.expires.as_str() >= today
}

fn waiver_label(waiver: &Waiver) -> String {
    format!(
        "{} (until {}: {})",
        waiver.id, waiver.expires, waiver.reason
    )
}

/// Judges `findings` against `gate`, with `waivers` as of `today`, for `image`
pub fn judge(
    findings: Vec<Finding>,
    gate: &ScannerGate,
    waivers: &[Waiver],
    image: &str,
    today: &str,
) -> (Vec<JudgedFinding>, Counts) {
    let mut counts = Counts::default();
    let judged = findings
        .into_iter()
        .map(|finding| {
            counts.total += 1;
            let live = waivers
                .iter()
                .find(|w| is_live(w, today) && covers(w, &finding, image));
            let expired = waivers
                .iter()
                .find(|w| !is_live(w, today) && covers(w, &finding, image));
            let decision = if !finding.severity.at_least(gate.fail_on) {
                counts.below_threshold += 1;
                Decision::BelowThreshold
            } else if finding.fixed.is_none() && gate.ignore_unfixed {
                counts.unfixed += 1;
                Decision::Unfixed
            } else if live.is_some() {
                counts.waived += 1;
                Decision::Waived
            } else {
                counts.counted += 1;
                Decision::Counted
            };
            JudgedFinding {
                finding,
                decision,
                waived_by: live.map(waiver_label),
                expired_waiver: expired.map(waiver_label),
            }
        })
        .collect();
    (judged, counts)
}

/// The waivers that apply to `image` (no `image`, or this one) and have expired by `today`
pub fn expired_waivers(waivers: &[Waiver], image: &str, today: &str) -> Vec<Waiver> {
    waivers
        .iter()
        .filter(|w| w.image.as_deref().is_none_or(|i| i == image) && !is_live(w, today))
        .cloned()
        .collect()
}
