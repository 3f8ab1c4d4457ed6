//! Every PowerShell script in rendered output parses (issue 12, point 5: "Windows for real").
//!
//! A Windows Server 2022 project (the built-in golden container and AMI recipes, and customized
//! specs listing every component with a `windows2022` method) is rendered for every target;
//! every `ExecutePowerShell` step of every AWSTOE document found in the rendered files
//! (`awstoe/**.yaml`, Terraform's `components/` copies and inline `data`, CloudFormation
//! component `Data`) is parsed with tree-sitter-powershell plus the catalog's `$name:` lint.

// The catalog's check, shared rather than copied (named apart from this module).
#[path = "../../../imagesmith-catalog/tests/support/powershell.rs"]
mod script_check;

use crate::support::{every_component_project, load};
use imagesmith_catalog::builtin;
use imagesmith_model::decode;
use imagesmith_render::{render, RenderOptions, Rendered, Target};
use imagesmith_yaml::{load_str, Limits};
use serde_json::Value;
use std::path::Path;

const OS: &str = "windows2022";

/// The catalog's components with a Windows Server 2022 method, golden-only ones apart.
fn windows_components() -> (Vec<String>, Vec<String>) {
    let (catalog, _) = builtin();
    let mut customer = Vec::new();
    let mut golden_only = Vec::new();
    for (name, component) in &catalog.components {
        if !component.platforms.contains_key(OS) {
            continue;
        }
        if component.golden_only {
            golden_only.push(name.clone());
        } else {
            customer.push(name.clone());
        }
    }
    customer.sort();
    golden_only.sort();
    (customer, golden_only)
}

/// The Windows project: both built-in windows2022 golden recipes and every customer
/// component with a Windows method.
fn windows_project() -> tempfile::TempDir {
    let dir = every_component_project("windows-powershell", &[OS]);
    let recipes = std::fs::read_dir(dir.path().join("recipes"))
        .expect("recipes")
        .count();
    assert_eq!(
        recipes, 2,
        "the golden container and AMI windows2022 recipes"
    );
    dir
}

fn to_json(path: &str, text: &str) -> Option<Value> {
    let loaded = load_str(path.to_string(), text, Limits::DEFAULT);
    loaded.root.as_ref().map(decode::to_json)
}

/// One `ExecutePowerShell` step of a rendered AWSTOE document.
struct Script {
    /// The rendered file and, for embedded documents, where in it.
    at: String,
    phase: String,
    step: String,
    text: String,
}

/// The `ExecutePowerShell` steps of an AWSTOE document (`phases`), found at `at`.
fn document_scripts(at: &str, document: &Value, out: &mut Vec<Script>) {
    for phase in document["phases"].as_array().into_iter().flatten() {
        for step in phase["steps"].as_array().into_iter().flatten() {
            if step["action"].as_str() != Some("ExecutePowerShell") {
                continue;
            }
            let commands: Vec<&str> = step["inputs"]["commands"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            out.push(Script {
                at: at.to_string(),
                phase: phase["name"].as_str().unwrap_or("?").to_string(),
                step: step["name"].as_str().unwrap_or("?").to_string(),
                text: script_check::script_of(&commands),
            });
        }
    }
}

/// Terraform heredoc bodies assigned to `data` (`data = <<-EOT` … `EOT`).
fn heredoc_data(text: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim().strip_prefix("data") else {
            continue;
        };
        let Some(marker) = rest.trim_start().strip_prefix('=') else {
            continue;
        };
        let Some(tag) = marker.trim().strip_prefix("<<") else {
            continue;
        };
        let tag = tag.trim_start_matches('-').trim();
        let mut body = Vec::new();
        for line in lines.by_ref() {
            if line.trim() == tag {
                break;
            }
            body.push(line);
        }
        bodies.push(body.join("\n"));
    }
    bodies
}

/// Every `ExecutePowerShell` script in one rendered file, and any problem finding them.
fn scripts_in(path: &str, contents: &str, out: &mut Vec<Script>, problems: &mut Vec<String>) {
    if path.ends_with(".yaml") || path.ends_with(".yml") {
        let Some(json) = to_json(path, contents) else {
            return;
        };
        if json["phases"].is_array() {
            document_scripts(path, &json, out);
        }
        for (id, resource) in json["Resources"].as_object().into_iter().flatten() {
            if resource["Type"].as_str() != Some("AWS::ImageBuilder::Component") {
                continue;
            }
            let at = format!("{path}, resource `{id}` Data");
            // `Uri` components read an S3 object: rendered (and checked) as its own file.
            let Some(data) = resource["Properties"]["Data"].as_str() else {
                continue;
            };
            match to_json(&at, data) {
                Some(document) => document_scripts(&at, &document, out),
                None => problems.push(format!("{at}: does not parse as YAML")),
            }
        }
    } else if path.ends_with(".tf") {
        for (i, body) in heredoc_data(contents).iter().enumerate() {
            let at = format!("{path}, inline data #{}", i + 1);
            match to_json(&at, body) {
                Some(document) => document_scripts(&at, &document, out),
                None => problems.push(format!("{at}: does not parse as YAML")),
            }
        }
    }
}

/// The problems of every script in `rendered`: file, step and tree-sitter's message.
fn problems(rendered: &[(String, String)]) -> (usize, Vec<String>) {
    let mut scripts = Vec::new();
    let mut problems = Vec::new();
    for (path, contents) in rendered {
        scripts_in(path, contents, &mut scripts, &mut problems);
    }
    for script in &scripts {
        for problem in script_check::check(&script.text) {
            let line = script.text.lines().nth(problem.line - 1).unwrap_or("");
            problems.push(format!(
                "{}: phase `{}`, step `{}`, script {problem}\n    | {}",
                script.at,
                script.phase,
                script.step,
                line.trim_end()
            ));
        }
    }
    (scripts.len(), problems)
}

fn files(rendered: &Rendered) -> Vec<(String, String)> {
    rendered
        .files
        .iter()
        .map(|f| (f.path.clone(), f.contents.clone()))
        .collect()
}

/// The Terraform component `data = file("${path.module}/…")` targets, as rendered paths.
fn terraform_data_files(rendered: &Rendered) -> Vec<String> {
    let mut targets = Vec::new();
    for file in &rendered.files {
        if !file.path.ends_with(".tf") {
            continue;
        }
        let dir = Path::new(&file.path).parent().unwrap_or(Path::new(""));
        for line in file.contents.lines() {
            let Some(rest) = line.trim().strip_prefix("data") else {
                continue;
            };
            let Some(inner) = rest
                .trim_start()
                .strip_prefix('=')
                .map(str::trim)
                .and_then(|r| r.strip_prefix("file(\"${path.module}/"))
                .and_then(|r| r.strip_suffix("\")"))
            else {
                continue;
            };
            targets.push(dir.join(inner).to_string_lossy().into_owned());
        }
    }
    targets
}

#[test]
fn every_powershell_script_in_rendered_windows_output_parses() {
    let (customer, golden_only) = windows_components();
    // The components issue 12 gives a Windows method, and the golden Windows set.
    for name in [
        "python",
        "nodejs",
        "tflint",
        "terragrunt",
        "opa",
        "trivy",
        "grype",
        "snyk",
        "splunk_forwarder",
        "splunk_indexer",
        "aws_cli",
        "java",
        "terraform",
        "cloudwatch_agent",
        "windows_exporter",
    ] {
        assert!(
            customer.iter().chain(&golden_only).any(|c| c == name),
            "{name}: {customer:?} {golden_only:?}"
        );
    }
    assert!(golden_only.iter().any(|c| c == "falcon_sensor"));

    let dir = windows_project();
    let rendered = render(&load(dir.path()), &RenderOptions::new(&[Target::All])).expect("renders");
    let all = files(&rendered);

    // Every Windows component reached the rendered documents.
    for name in customer.iter().chain(&golden_only) {
        assert!(
            all.iter()
                .any(|(p, _)| p.starts_with(&format!("awstoe/{OS}/{name}-"))),
            "no awstoe/{OS}/{name}-*.yaml among {:?}",
            all.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
    }
    // Terraform reads its component documents from files: each one is rendered (and so checked).
    let targets = terraform_data_files(&rendered);
    assert!(!targets.is_empty(), "no Terraform component data");
    for target in &targets {
        assert!(
            rendered.file(target).is_some(),
            "Terraform component data `{target}` is not rendered"
        );
    }
    // CloudFormation embeds the documents (`Data`): those are checked as well.
    assert!(
        all.iter().any(|(p, c)| p.starts_with("cloudformation/")
            && c.contains("AWS::ImageBuilder::Component")
            && c.contains("ExecutePowerShell")),
        "no CloudFormation component with PowerShell"
    );

    let (count, problems) = problems(&all);
    println!(
        "{count} ExecutePowerShell scripts in {} rendered files",
        all.len()
    );
    assert!(count >= 100, "only {count} ExecutePowerShell steps found");
    assert!(
        problems.is_empty(),
        "{} PowerShell problem(s) in {count} rendered scripts:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The check fires on rendered files: a broken script in a document, in CloudFormation `Data`
/// and in Terraform inline `data` each give a problem naming the file and the step.
#[test]
fn a_broken_rendered_script_is_a_problem() {
    let document = "name: broken\nschemaVersion: \"1.0\"\nphases:\n  - name: build\n    steps:\n      - name: Install\n        action: ExecutePowerShell\n        inputs:\n          commands:\n            - |\n              $ErrorActionPreference = 'Stop'\n              if ($true { Write-Output 'unclosed' }\n      - name: Report\n        action: ExecutePowerShell\n        inputs:\n          commands:\n            - 'Write-Output \"$asset: OK\"'\n";
    let template = format!(
        "Resources:\n  ComponentBroken:\n    Type: AWS::ImageBuilder::Component\n    Properties:\n      Data: {}\n",
        serde_json::to_string(document).expect("json string")
    );
    let terraform = format!(
        "resource \"aws_imagebuilder_component\" \"broken\" {{\n  data = <<-EOT\n{document}EOT\n}}\n"
    );
    let rendered = vec![
        (
            "awstoe/windows2022/broken-1.yaml".to_string(),
            document.to_string(),
        ),
        ("cloudformation/x/template.yaml".to_string(), template),
        ("terraform/imagebuilder-x.tf".to_string(), terraform),
    ];
    let (count, problems) = problems(&rendered);
    assert_eq!(count, 6, "{problems:#?}");
    assert_eq!(problems.len(), 6, "{problems:#?}");
    for (file, n) in [
        ("awstoe/windows2022/broken-1.yaml: ", 2),
        (
            "cloudformation/x/template.yaml, resource `ComponentBroken` Data: ",
            2,
        ),
        ("terraform/imagebuilder-x.tf, inline data #1: ", 2),
    ] {
        let found: Vec<_> = problems.iter().filter(|p| p.starts_with(file)).collect();
        assert_eq!(found.len(), n, "{file}: {problems:#?}");
        assert!(
            found[0].contains("step `Install`") && found[0].contains("syntax error"),
            "{found:?}"
        );
        assert!(
            found[1].contains("step `Report`") && found[1].contains("`$asset:`"),
            "{found:?}"
        );
    }
    // A well-formed script gives none.
    let fixed = document
        .replace("if ($true {", "if ($true) {")
        .replace("\"$asset: OK\"", "\"${asset}: OK\"");
    let (_, problems) = problems_of(&fixed);
    assert!(problems.is_empty(), "{problems:#?}");
}

fn problems_of(document: &str) -> (usize, Vec<String>) {
    problems(&[(
        "awstoe/windows2022/fixed-1.yaml".to_string(),
        document.to_string(),
    )])
}
