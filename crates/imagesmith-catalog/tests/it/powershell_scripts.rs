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
                        let commands: Vec<&str> = step
                            .inputs
                            .as_ref()
                            .and_then(|i| i.get("commands"))
                            .and_then(|c| c.as_array())
                            .map(|c| c.iter().filter_map(|l| l.as_str()).collect())
                            .unwrap_or_default();
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
