//! Every `ExecutePowerShell` step of every built-in component document parses as PowerShell.

use crate::powershell::{check, script_of};
use imagesmith_catalog::{builtin, embedded_files, BUILT_IN};
use imagesmith_model::Platform;

/// One `ExecutePowerShell` script of the catalog, with where it came from.
struct Script {
    file: String,
    os: String,
    phase: String,
    step: String,
    text: String,
}

/// The lines of a step's `commands` input
fn commands(step: &imagesmith_model::Step) -> Vec<&str> {
    step.inputs
        .as_ref()
        .and_then(|i| i.get("commands"))
        .and_then(|c| c.as_array())
        .map(|c| c.iter().filter_map(|l| l.as_str()).collect())
        .unwrap_or_default()
}

fn scripts() -> Vec<Script> {
    let (catalog, _) = builtin();
    let mut out = Vec::new();
    for (name, component) in &catalog.components {
        let file = catalog
            .sources
            .get(&format!("component:{name}"))
            .map(|s| s.to_string())
            .unwrap_or_else(|| name.clone());
        for (os, platform) in &component.platforms {
            let mut method: Option<&Platform> = Some(platform);
            while let Some(p) = method {
                for phase in &p.document.phases {
                    for step in &phase.steps {
                        if step.action != "ExecutePowerShell" {
                            continue;
                        }
                        let commands = commands(step);
                        out.push(Script {
                            file: file.clone(),
                            os: os.clone(),
                            phase: phase.name.clone(),
                            step: step.name.clone(),
                            text: script_of(&commands),
                        });
                    }
                }
                method = p.otherwise.as_deref();
            }
        }
    }
    out
}

/// The line of `file` (1-based) holding script line `line_text`: searched after the step's
/// `- name:` line, which is searched after the phase's.
fn file_line(file: &str, phase: &str, step: &str, line_text: &str) -> Option<usize> {
    let path = file.strip_prefix(BUILT_IN)?.trim_start_matches('/');
    let text = embedded_files("components")
        .into_iter()
        .find(|f| f.path == path)?
        .text;
    let phase_at = text.find(&format!("- name: {phase}\n"))?;
    let step_at = phase_at + text[phase_at..].find(&format!("- name: {step}\n"))?;
    let needle = line_text.trim();
    if needle.is_empty() {
        return None;
    }
    let at = step_at + text[step_at..].find(needle)?;
    Some(text[..at].matches('\n').count() + 1)
}

#[test]
fn the_catalog_has_powershell_steps() {
    let scripts = scripts();
    assert!(
        scripts.len() >= 20,
        "only {} ExecutePowerShell steps found",
        scripts.len()
    );
    assert!(scripts.iter().all(|s| !s.text.trim().is_empty()));
}

#[test]
fn every_execute_powershell_step_parses() {
    let mut failures = Vec::new();
    for script in scripts() {
        for problem in check(&script.text) {
            let line_text = script.text.lines().nth(problem.line - 1).unwrap_or("");
            let at_file = file_line(&script.file, &script.phase, &script.step, line_text)
                .map(|n| format!(":{n}"))
                .unwrap_or_default();
            failures.push(format!(
                "{}{at_file}: {}, phase `{}`, step `{}`, script {problem}\n    | {}",
                script.file,
                script.os,
                script.phase,
                script.step,
                line_text.trim_end(),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} PowerShell problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every step of every document (and fallback method) of `component`.
fn documents_of(component: &str) -> Vec<&'static imagesmith_model::Step> {
    let (catalog, _) = builtin();
    let component = catalog.components.get(component).expect("in the catalog");
    let mut steps = Vec::new();
    for platform in component.platforms.values() {
        let mut method: Option<&Platform> = Some(platform);
        while let Some(p) = method {
            for phase in &p.document.phases {
                steps.extend(phase.steps.iter());
            }
            method = p.otherwise.as_deref();
        }
    }
    steps
}

/// Issue 13, "windows_exporter: `"$asset: OK"` is a PowerShell parse error": the check
/// rejects the line the document had, and the document's scripts now pass it.
#[test]
fn windows_exporter_asset_ok_is_no_parse_error() {
    let old = "$asset = 'windows_exporter.msi'\nWrite-Output \"$asset: OK\"\n";
    assert!(!check(old).is_empty(), "the old line must be caught");
    let mut found = false;
    for step in documents_of("windows_exporter") {
        if step.action != "ExecutePowerShell" {
            continue;
        }
        let script = script_of(&commands(step));
        found |= script.contains("${asset}: OK");
        assert!(!script.contains("\"$asset: OK\""), "{script}");
        assert_eq!(check(&script), Vec::new(), "{script}");
    }
    assert!(found, "the checksum step still reports `${{asset}}: OK`");
}

/// Issue 13, "windows_exporter: its MSI is self-signed, which AWSTOE's InstallMSI accepts
/// only with `ignoreAuthenticodeSignatureErrors: true`".
#[test]
fn windows_exporter_self_signed_msi_is_accepted_by_install_msi() {
    let installs: Vec<_> = documents_of("windows_exporter")
        .into_iter()
        .filter(|step| step.action == "InstallMSI")
        .collect();
    assert!(
        !installs.is_empty(),
        "windows_exporter installs with InstallMSI"
    );
    for step in installs {
        let inputs = step.inputs.as_ref().expect("inputs");
        assert_eq!(
            inputs
                .get("ignoreAuthenticodeSignatureErrors")
                .and_then(|v| v.as_bool()),
            Some(true),
            "{inputs:?}"
        );
    }
}
