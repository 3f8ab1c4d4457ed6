//! Issue 12, point 5 ("Windows for real"): every component whose vendor ships a Windows build
//! has a Windows Server 2022 method that downloads, verifies and installs it in PowerShell.

use crate::powershell::script_of;
use imagesmith_catalog::builtin;
use imagesmith_model::{Artifact, Platform, Step};

const OS: &str = "windows2022";

/// The components with a vendor Windows build, and so a `windows2022` method.
const WINDOWS: &[&str] = &[
    "aws_cli",
    "cloudwatch_agent",
    "falcon_sensor",
    "grype",
    "java",
    "nodejs",
    "opa",
    "python",
    "snyk",
    "splunk_forwarder",
    "splunk_indexer",
    "terraform",
    "terragrunt",
    "tflint",
    "trivy",
    "windows_exporter",
];

fn windows_method(name: &str) -> &'static Platform {
    let (catalog, _) = builtin();
    catalog.components[name]
        .platforms
        .get(OS)
        .unwrap_or_else(|| panic!("{name} has no {OS} method"))
}

fn steps(platform: &Platform) -> Vec<(&str, &Step)> {
    platform
        .document
        .phases
        .iter()
        .flat_map(|p| p.steps.iter().map(move |s| (p.name.as_str(), s)))
        .collect()
}

fn script(step: &Step) -> String {
    let commands: Vec<&str> = step
        .inputs
        .as_ref()
        .and_then(|i| i.get("commands"))
        .and_then(|c| c.as_array())
        .map(|c| c.iter().filter_map(|l| l.as_str()).collect())
        .unwrap_or_default();
    script_of(&commands)
}

#[test]
fn exactly_the_components_with_a_vendor_windows_build_have_a_windows_method() {
    let (catalog, _) = builtin();
    let mut with: Vec<&str> = catalog
        .components
        .iter()
        .filter(|(_, c)| c.platforms.contains_key(OS))
        .map(|(n, _)| n.as_str())
        .collect();
    with.sort_unstable();
    assert_eq!(with, WINDOWS);
}

/// Downloaded with WebDownload (or the vendor API), verified before install by a sha256 from
/// the vendor's file or an Authenticode signature, never run as downloaded text.
#[test]
fn windows_methods_download_and_verify_before_installing() {
    let mut problems = Vec::new();
    for &name in WINDOWS {
        let method = windows_method(name);
        let steps = steps(method);
        let scripts: Vec<String> = steps
            .iter()
            .filter(|(_, s)| s.action == "ExecutePowerShell")
            .map(|(_, s)| script(s))
            .collect();
        let vendor_api = matches!(method.artifact, Artifact::VendorApi { .. });
        if !vendor_api && !steps.iter().any(|(_, s)| s.action == "WebDownload") {
            problems.push(format!("{name}: no WebDownload step"));
        }
        let hashed = scripts.iter().any(|s| s.contains("Get-FileHash"));
        let signed = scripts
            .iter()
            .any(|s| s.contains("Get-AuthenticodeSignature") && s.contains("Status -ne 'Valid'"));
        // InstallMSI checks the Authenticode signature unless told not to.
        let msi_checked = steps.iter().any(|(_, s)| {
            s.action == "InstallMSI"
                && !s
                    .inputs
                    .as_ref()
                    .and_then(|i| i.get("ignoreAuthenticodeSignatureErrors"))
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false)
        });
        if !(hashed || signed || msi_checked) {
            problems.push(format!("{name}: nothing verifies the download"));
        }
        if let Artifact::Download { checksum, .. } = &method.artifact {
            if checksum.url.is_none() && !(signed || msi_checked) {
                problems.push(format!(
                    "{name}: no checksum file, so the Authenticode signature must be checked"
                ));
            }
        }
        for text in &scripts {
            let lower = text.to_ascii_lowercase();
            if lower.contains("invoke-expression") || lower.contains("iex ") {
                problems.push(format!("{name}: runs text as code: {text}"));
            }
        }
        if !method.notes.iter().any(|n| n.contains("C:\\Program Files")) {
            problems.push(format!(
                "{name}: the notes do not say where it is installed"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every multi-line script sets `$ErrorActionPreference`, and every native call (`& …`) is
/// followed by a `$LASTEXITCODE` check within two lines.
#[test]
fn windows_scripts_stop_on_errors_and_check_exit_codes() {
    let mut problems = Vec::new();
    for &name in WINDOWS {
        for (phase, step) in steps(windows_method(name)) {
            if step.action != "ExecutePowerShell" {
                continue;
            }
            let text = script(step);
            let lines: Vec<&str> = text.lines().collect();
            let at = format!("{name} {phase}/{}", step.name);
            if lines.len() > 1 && !text.contains("$ErrorActionPreference = ") {
                problems.push(format!("{at}: no $ErrorActionPreference"));
            }
            for (i, line) in lines.iter().enumerate() {
                let code = line.split('#').next().unwrap_or("");
                let native = code.trim_start().starts_with("& ")
                    || code.contains("= & ")
                    || code.contains("(& ");
                // A `.ps1` script reports through exceptions, not an exit code.
                if !native || code.contains(".ps1") {
                    continue;
                }
                let checked = lines[i..lines.len().min(i + 3)]
                    .iter()
                    .any(|l| l.contains("$LASTEXITCODE"));
                if !checked {
                    problems.push(format!(
                        "{at}: no $LASTEXITCODE check after `{}`",
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Secrets reach Windows steps the way falcon_sensor's do: read from /run/secrets/<name>
/// (filled by the fetch-secrets document), never from a document parameter.
#[test]
fn windows_methods_read_secrets_from_run_secrets() {
    let (catalog, _) = builtin();
    for &name in WINDOWS {
        let component = &catalog.components[name];
        let method = windows_method(name);
        let texts: Vec<String> = steps(method).iter().map(|(_, s)| script(s)).collect();
        for parameter in component.parameters.iter().filter(|p| p.secret) {
            let path = format!("/run/secrets/{}", parameter.name);
            let read = texts.iter().any(|t| {
                t.contains(&path) || t.contains("/run/secrets/$") // Read-Secret helpers
            });
            assert!(
                read,
                "{name}: secret {} is not read from {path}",
                parameter.name
            );
            assert!(
                !method
                    .document
                    .parameters
                    .iter()
                    .any(|p| p.contains_key(parameter.name.as_str())),
                "{name}: secret {} is a document parameter",
                parameter.name
            );
        }
    }
}
