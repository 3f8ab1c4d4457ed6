//! shellcheck at error level is clean over every rendered `ExecuteBash` script (issue 13,
//! point 4: "Static checks on every script").
//!
//! A project holding every built-in golden recipe of each Linux OS, and customized specs
//! listing every customer component each OS supports (default versions), is rendered as AWSTOE
//! documents; every `ExecuteBash` step of every `awstoe/**` document goes to
//! `shellcheck --severity=error --shell=bash`. AWSTOE runs a step's commands as one bash
//! script, so each step is one file.

use crate::support::{every_component_project, load};
use imagesmith_model::decode;
use imagesmith_render::{render, RenderOptions, Target};
use imagesmith_yaml::{load_str, Limits};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const LINUX: [&str; 3] = ["amazonlinux2023", "debian12", "ubuntu2204"];

/// shellcheck, or why the test cannot run (a failure under `CI=true`, where
/// `.ci/install-tools` installs it).
fn shellcheck() -> Option<&'static str> {
    if Command::new("shellcheck").arg("--version").output().is_ok() {
        return Some("shellcheck");
    }
    let reason =
        "`shellcheck` is not installed (Debian package shellcheck; bash .ci/install-tools)";
    assert!(
        std::env::var("CI").map_or(true, |value| value != "true"),
        "{reason}"
    );
    eprintln!("skipped: {reason}");
    None
}

/// Writes each `ExecuteBash` step of `document` (found at `at`) as a script in `dir`.
fn write_scripts(at: &str, document: &Value, dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for phase in document["phases"].as_array().into_iter().flatten() {
        for step in phase["steps"].as_array().into_iter().flatten() {
            if step["action"].as_str() != Some("ExecuteBash") {
                continue;
            }
            let commands: Vec<&str> = step["inputs"]["commands"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let file = dir.join(format!("{:04}.sh", out.len()));
            std::fs::write(&file, format!("#!/bin/bash\n{}\n", commands.join("\n")))
                .expect("write script");
            let name = |v: &Value| v.as_str().unwrap_or("?").to_string();
            out.push((
                file,
                format!(
                    "{at}, phase `{}`, step `{}`",
                    name(&phase["name"]),
                    name(&step["name"])
                ),
            ));
        }
    }
}

/// shellcheck's findings at error level, each named by where the script was rendered.
fn check(shellcheck: &str, scripts: &[(PathBuf, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for chunk in scripts.chunks(200) {
        let output = Command::new(shellcheck)
            .args(["--severity=error", "--shell=bash", "--format=gcc"])
            .args(chunk.iter().map(|(file, _)| file))
            .output()
            .expect("run shellcheck");
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let named = chunk.iter().find_map(|(file, at)| {
                let file = file.display().to_string();
                line.strip_prefix(&file).map(|rest| format!("{at}{rest}"))
            });
            problems.push(named.unwrap_or_else(|| line.to_string()));
        }
        assert!(
            output.status.success() || !problems.is_empty(),
            "shellcheck failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    problems
}

#[test]
fn every_rendered_bash_script_passes_shellcheck_at_error_level() {
    let Some(shellcheck) = shellcheck() else {
        return;
    };
    let project = every_component_project("shellcheck", &LINUX);
    let rendered = render(
        &load(project.path()),
        &RenderOptions::new(&[Target::Awstoe]),
    )
    .expect("renders");
    let scripts_dir = tempfile::tempdir().expect("temp dir");
    let mut scripts = Vec::new();
    let mut documents = 0;
    for file in &rendered.files {
        if !file.path.ends_with(".yaml") {
            continue;
        }
        let loaded = load_str(file.path.clone(), &file.contents, Limits::DEFAULT);
        let Some(document) = loaded.root.as_ref().map(decode::to_json) else {
            panic!("{} does not parse as YAML", file.path);
        };
        documents += 1;
        write_scripts(&file.path, &document, scripts_dir.path(), &mut scripts);
    }
    assert!(documents > 40, "{documents} documents");
    let problems = check(shellcheck, &scripts);
    eprintln!(
        "shellcheck --severity=error: {} ExecuteBash scripts in {documents} documents, {} problems",
        scripts.len(),
        problems.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn shellcheck_finds_an_error_in_a_broken_script() {
    let Some(shellcheck) = shellcheck() else {
        return;
    };
    let document = serde_json::json!({
        "phases": [{ "name": "build", "steps": [{
            "name": "Broken",
            "action": "ExecuteBash",
            "inputs": { "commands": ["if [ -f /etc/os-release ]; then", "  echo yes", "fi fi"] },
        }]}],
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let mut scripts = Vec::new();
    write_scripts(
        "awstoe/debian12/broken.yaml",
        &document,
        dir.path(),
        &mut scripts,
    );
    let problems = check(shellcheck, &scripts);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("awstoe/debian12/broken.yaml, phase `build`, step `Broken`")),
        "{problems:?}"
    );
}
