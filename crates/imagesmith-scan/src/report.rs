//! Parsers for the JSON reports of Trivy, Grype and Snyk container
//!
//! Each reads only the fields the gates need, with serde, and refuses what is not the
//! documented format (an unknown Trivy `SchemaVersion`, a Grype document without `matches`,
//! a Snyk error object), so that a scanner that broke is never taken for a clean image.
//!
//! - Trivy: `trivy image --format json`, `SchemaVersion: 2`, `Results[].Vulnerabilities[]`
//!   (<https://trivy.dev/latest/docs/configuration/reporting/#json>).
//! - Grype: `grype -o json`, `matches[]` of `vulnerability` and `artifact`
//!   (anchore/grype `grype/presenter/models`).
//! - Snyk: `snyk container test --json`, `vulnerabilities[]`; an array of such objects when
//!   several projects were tested (snyk/cli `help/cli-commands/container-test.md`).

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::ReportError;
use crate::finding::{Finding, Scanner, Severity};

/// Reads the report of `scanner` at `path`
pub fn parse_report_file(scanner: Scanner, path: &Path) -> Result<Vec<Finding>, ReportError> {
    let bytes = fs_err::read(path).map_err(|source| ReportError::Read {
        scanner: scanner.as_str(),
        path: path.to_path_buf(),
        source,
    })?;
    parse_report(scanner, &bytes, &path.display().to_string())
}

/// Reads a report of `scanner` from `bytes`; `origin` names it in errors (a file, or
/// `stdout of trivy`)
pub fn parse_report(
    scanner: Scanner,
    bytes: &[u8],
    origin: &str,
) -> Result<Vec<Finding>, ReportError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|source| ReportError::Json {
        scanner: scanner.as_str(),
        path: origin.to_owned(),
        source,
    })?;
    let format = |reason: String| ReportError::Format {
        scanner: scanner.as_str(),
        path: origin.to_owned(),
        reason,
    };
    match scanner {
        Scanner::Trivy => trivy(value).map_err(format),
        Scanner::Grype => grype(value).map_err(format),
        Scanner::Snyk => snyk(value).map_err(format),
    }
}

fn severity(text: Option<&str>) -> Result<Severity, String> {
    let text = text.unwrap_or("");
    Severity::parse(text).ok_or_else(|| format!("unknown severity `{text}`"))
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyReport {
    schema_version: Option<i64>,
    #[serde(default)]
    results: Option<Vec<TrivyResult>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyResult {
    #[serde(default)]
    vulnerabilities: Option<Vec<TrivyVulnerability>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyVulnerability {
    #[serde(rename = "VulnerabilityID")]
    vulnerability_id: String,
    pkg_name: String,
    #[serde(default)]
    installed_version: Option<String>,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, rename = "PrimaryURL")]
    primary_url: Option<String>,
}

fn trivy(value: Value) -> Result<Vec<Finding>, String> {
    if !value.is_object() {
        return Err("expected an object with `SchemaVersion` and `Results`".into());
    }
    let report: TrivyReport = serde_json::from_value(value).map_err(|e| e.to_string())?;
    match report.schema_version {
        Some(2) => {}
        Some(other) => return Err(format!("`SchemaVersion` {other} is not supported (only 2)")),
        None => return Err("no `SchemaVersion`".into()),
    }
    let mut findings = Vec::new();
    for result in report.results.unwrap_or_default() {
        for v in result.vulnerabilities.unwrap_or_default() {
            // Trivy sets `Status: fixed` with a `FixedVersion`; `affected`, `will_not_fix`,
            // `fix_deferred` and `end_of_life` have none.
            let fixed = non_empty(v.fixed_version)
                .filter(|_| v.status.as_deref().is_none_or(|s| s == "fixed"));
            findings.push(Finding {
                scanner: Scanner::Trivy,
                id: v.vulnerability_id,
                package: v.pkg_name,
                installed: v.installed_version.unwrap_or_default(),
                fixed,
                severity: severity(v.severity.as_deref())?,
                title: v.title.unwrap_or_default(),
                url: non_empty(v.primary_url),
            });
        }
    }
    Ok(findings)
}

#[derive(Deserialize)]
struct GrypeReport {
    matches: Vec<GrypeMatch>,
}

#[derive(Deserialize)]
struct GrypeMatch {
    vulnerability: GrypeVulnerability,
    artifact: GrypeArtifact,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GrypeVulnerability {
    id: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    data_source: Option<String>,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    fix: Option<GrypeFix>,
}

#[derive(Deserialize)]
struct GrypeFix {
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    state: Option<String>,
}

#[derive(Deserialize)]
struct GrypeArtifact {
    name: String,
    #[serde(default)]
    version: String,
}

fn grype(value: Value) -> Result<Vec<Finding>, String> {
    if value.get("matches").is_none() {
        return Err("no `matches`".into());
    }
    let report: GrypeReport = serde_json::from_value(value).map_err(|e| e.to_string())?;
    report
        .matches
        .into_iter()
        .map(|m| {
            let fix = m.vulnerability.fix;
            let fixed = fix
                .filter(|f| f.state.as_deref().is_none_or(|s| s == "fixed"))
                .and_then(|f| f.versions.into_iter().find(|v| !v.trim().is_empty()));
            let title = m
                .vulnerability
                .description
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            Ok(Finding {
                scanner: Scanner::Grype,
                id: m.vulnerability.id,
                package: m.artifact.name,
                installed: m.artifact.version,
                fixed,
                severity: severity(m.vulnerability.severity.as_deref())?,
                title,
                url: non_empty(m.vulnerability.data_source)
                    .or_else(|| m.vulnerability.urls.into_iter().next()),
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnykProject {
    vulnerabilities: Vec<SnykVulnerability>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnykVulnerability {
    id: String,
    #[serde(default)]
    severity: Option<String>,
    package_name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    fixed_in: Vec<String>,
    #[serde(default)]
    title: Option<String>,
}

fn snyk(value: Value) -> Result<Vec<Finding>, String> {
    let projects = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut findings = Vec::new();
    for project in projects {
        if let Some(error) = project.get("error").and_then(Value::as_str) {
            return Err(format!("Snyk reported an error: {error}"));
        }
        if project.get("vulnerabilities").is_none() {
            return Err("no `vulnerabilities`".into());
        }
        let project: SnykProject = serde_json::from_value(project).map_err(|e| e.to_string())?;
        for v in project.vulnerabilities {
            findings.push(Finding {
                scanner: Scanner::Snyk,
                url: Some(format!("https://security.snyk.io/vuln/{}", v.id)),
                id: v.id,
                package: v.package_name,
                installed: v.version,
                fixed: v.fixed_in.into_iter().find(|f| !f.trim().is_empty()),
                severity: severity(v.severity.as_deref())?,
                title: v.title.unwrap_or_default(),
            });
        }
    }
    Ok(findings)
}
