//! `imagesmith validate`: the invalid fixtures, the seed examples, hostile input, formats.

use crate::{fixtures, imagesmith, repo_root, required, stdout};
use serde_json::Value;
use std::path::PathBuf;

/// A `# <- code "message"` marker: the diagnostic expected on that line.
struct Marker {
    line: u64,
    code: String,
    message: Option<String>,
}

fn markers(bytes: &[u8]) -> Vec<Marker> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some((_, rest)) = line.split_once("<- ") else {
            continue;
        };
        let (code, message) = match rest.split_once(' ') {
            Some((code, message)) => (code, Some(message.trim().trim_matches('"').to_string())),
            None => (rest.trim(), None),
        };
        out.push(Marker {
            line: index as u64 + 1,
            code: code.to_string(),
            message,
        });
    }
    out
}

fn invalid_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("invalid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn there_are_at_least_30_invalid_specs() {
    assert!(invalid_fixtures().len() >= 30);
}

#[test]
fn invalid_specs_are_rejected_at_their_marked_lines() {
    let mut failures = Vec::new();
    for file in invalid_fixtures() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let output = imagesmith(
            &["validate", "--format", "json", &name],
            &fixtures().join("invalid"),
        );
        if output.status.code() != Some(1) {
            failures.push(format!(
                "{name}: exit {:?}, expected 1",
                output.status.code()
            ));
        }
        let report: Value = serde_json::from_slice(&output.stdout).expect("JSON output");
        let diagnostics = report["diagnostics"].as_array().unwrap();
        let expected = markers(&std::fs::read(&file).unwrap());
        if expected.is_empty() {
            failures.push(format!("{name}: has no `# <-` marker"));
        }
        for marker in expected {
            let found = diagnostics.iter().any(|d| {
                d["code"] == marker.code.as_str()
                    && d["line"].as_u64() == Some(marker.line)
                    && d["severity"] == "error"
                    && marker
                        .message
                        .as_deref()
                        .is_none_or(|m| d["message"].as_str().unwrap_or_default().contains(m))
            });
            if !found {
                failures.push(format!(
                    "{name}:{}: expected `{}` {:?}, got {}",
                    marker.line,
                    marker.code,
                    marker.message,
                    serde_json::to_string(diagnostics).unwrap()
                ));
            }
        }
        for d in diagnostics {
            for key in ["path", "line", "column", "severity", "code", "message"] {
                if d.get(key).is_none() {
                    failures.push(format!("{name}: a diagnostic has no `{key}`"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn human_output_is_stable() {
    for file in invalid_fixtures() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let output = imagesmith(&["validate", &name], &fixtures().join("invalid"));
        insta::assert_snapshot!(name, stdout(&output));
    }
}

#[test]
fn seed_examples_are_valid_as_written() {
    let dir = fixtures().join("valid");
    for name in [
        "seed-recipe.yaml",
        "seed-customer-spec.yaml",
        "seed-static-code-scanner.yaml",
    ] {
        let output = imagesmith(&["validate", name], &dir);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}:\n{}",
            stdout(&output)
        );
    }
}

#[test]
fn python_310_means_310() {
    let text = "image_type: container\nbase_image: golden-container-ubuntu2204\ncomponents:\n  python: 3.10\n";
    let mut context = imagesmith_validate::Context::builtin();
    context.today = crate::TODAY.to_string();
    let (spec, _) = imagesmith_validate::validate_spec("s.yaml", text, &context).expect("valid");
    let version = spec.components["python"].as_ref().unwrap();
    assert_eq!(version.as_str(), "3.10");
    // And the float reading would be a different, unsupported version.
    let float = text.replace("3.10", "3.1");
    let diagnostics = imagesmith_validate::validate_spec("s.yaml", &float, &context).unwrap_err();
    assert!(
        diagnostics
            .iter()
            .any(|d| d.code.as_str() == "unsupported-version"),
        "{diagnostics:?}"
    );
}

#[test]
fn a_10_mb_spec_is_rejected_without_being_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "image_type: container\nbase_image: golden-container-amazonlinux2023\ncomponents:\n",
    );
    while text.len() < 10 * 1024 * 1024 {
        text.push_str("  python: 3.10\n");
    }
    std::fs::write(dir.path().join("big.yaml"), text).unwrap();
    let output = imagesmith(&["validate", "--format", "json", "big.yaml"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["diagnostics"][0]["code"], "file-too-large");
}

#[test]
fn an_alias_bomb_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("image_type: container\nbase_image: golden-container-amazonlinux2023\nlabels:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..20 {
        let p = i - 1;
        text.push_str(&format!("  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    std::fs::write(dir.path().join("bomb.yaml"), text).unwrap();
    let output = imagesmith(&["validate", "--format", "json", "bomb.yaml"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["diagnostics"][0]["code"], "yaml-too-many-nodes");
}

#[test]
fn sarif_output_matches_the_sarif_2_1_0_schema() {
    let schema_path = repo_root().join(".ci/tools/sarif/sarif-schema-2.1.0.json");
    let Ok(schema) = std::fs::read(&schema_path) else {
        assert!(
            !required(),
            "SARIF schema missing at {}: run .ci/install-tools",
            schema_path.display()
        );
        eprintln!(
            "skipped: no SARIF schema at {} (run .ci/install-tools)",
            schema_path.display()
        );
        return;
    };
    let mut schema: Value = serde_json::from_slice(&schema).unwrap();
    // The published schema's `run.language` pattern has a stray `]`
    // (`…-[a-zA-Z]{2}]?$`) that strict ECMA-262 regex checking refuses; escape it so the
    // schema compiles. imagesmith never writes `language`, so nothing checked is lost.
    fn repair(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    match v {
                        Value::String(p) if key == "pattern" && p.ends_with("}]?$") => {
                            *p = p.replace("}]?$", "}\\]?$");
                        }
                        _ => repair(v),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(repair),
            _ => {}
        }
    }
    repair(&mut schema);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&schema)
        .expect("the SARIF schema compiles");
    let names: Vec<String> = invalid_fixtures()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    let mut args = vec!["validate", "--format", "sarif"];
    args.extend(names.iter().map(String::as_str));
    let output = imagesmith(&args, &fixtures().join("invalid"));
    assert_eq!(output.status.code(), Some(1));
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert!(sarif["runs"][0]["results"].as_array().unwrap().len() >= 30);
}

#[test]
fn github_format_emits_one_annotation_per_problem() {
    let output = imagesmith(
        &[
            "validate",
            "--format",
            "github",
            "07-unknown-component.yaml",
        ],
        &fixtures().join("invalid"),
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.starts_with("::error file=07-unknown-component.yaml,line=4,col=3"),
        "{text}"
    );
    assert!(text.contains("did you mean `python`?"), "{text}");
}

#[test]
fn validate_without_a_project_or_paths_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let output = imagesmith(&["validate"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("imagesmith init"));
}

/// The built-in catalog passes its own script lints (issue 13): no error and no warning.
#[test]
fn the_built_in_catalog_passes_the_script_lints() {
    let components = repo_root().join("crates/imagesmith-catalog/catalog/components");
    let mut files: Vec<String> = std::fs::read_dir(&components)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    let mut args = vec!["validate", "--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let output = imagesmith(&args, &components);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["errors"], 0, "{report:#}");
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert!(diagnostics.is_empty(), "unexpected: {diagnostics:#?}");
}
