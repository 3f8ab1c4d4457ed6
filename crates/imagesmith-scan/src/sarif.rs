//! A verdict's findings as SARIF 2.1.0, for GitHub code scanning
//!
//! One rule per vulnerability id; one result per finding, its level from the severity, its
//! location the image with the package named; waived findings carry a suppression.

use serde_json::{json, Value};

use crate::evaluate::Decision;
use crate::finding::Severity;
use crate::verdict::Verdict;

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Negligible | Severity::Unknown => "note",
    }
}

/// The SARIF 2.1.0 log of `verdict`
pub fn sarif(verdict: &Verdict) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_ids: Vec<String> = Vec::new();
    let mut results = Vec::new();
    for judged in &verdict.findings {
        let finding = &judged.finding;
        let index = match rule_ids.iter().position(|id| *id == finding.id) {
            Some(index) => index,
            None => {
                let mut rule = json!({
                    "id": finding.id,
                    "name": finding.id,
                    "shortDescription": { "text": if finding.title.is_empty() { finding.id.clone() } else { finding.title.clone() } },
                    "defaultConfiguration": { "level": level(finding.severity) },
                    "properties": { "tags": ["security", "vulnerability", finding.severity.as_str()] },
                });
                if let Some(url) = &finding.url {
                    rule["helpUri"] = json!(url);
                }
                rules.push(rule);
                rule_ids.push(finding.id.clone());
                rule_ids.len() - 1
            }
        };
        let fixed = finding
            .fixed
            .as_deref()
            .map_or("no fix yet".to_owned(), |f| format!("fixed in {f}"));
        let mut result = json!({
            "ruleId": finding.id,
            "ruleIndex": index,
            "level": level(finding.severity),
            "message": { "text": format!(
                "{} {} in package {} {} ({}, {}; reported by {})",
                finding.severity.as_str(), finding.id, finding.package, finding.installed,
                fixed, verdict.image, finding.scanner.as_str()
            ) },
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": { "uri": verdict.image },
                    "region": { "startLine": 1 }
                },
                "logicalLocations": [{ "name": finding.package, "kind": "package" }]
            }],
            "properties": {
                "package": finding.package,
                "installed": finding.installed,
                "scanner": finding.scanner.as_str(),
                "decision": judged.decision,
            },
        });
        if judged.decision == Decision::Waived {
            result["suppressions"] = json!([{
                "kind": "external",
                "justification": judged.waived_by.clone().unwrap_or_default(),
            }]);
        }
        results.push(result);
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "imagesmith",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/imagesmith",
                "rules": rules,
            } },
            "results": results,
        }]
    })
}
