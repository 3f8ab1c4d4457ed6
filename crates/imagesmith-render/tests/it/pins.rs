//! Issue 12: no rendered workflow references an action by a mutable tag. Every `uses:` of an
//! action outside the repository is `owner/repo[/path]@<40-hex commit> # v<release>`.

use crate::support::{load, render_seed};
use imagesmith_catalog::embedded_files;
use imagesmith_render::{render, RenderOptions, Rendered, Target};

/// The project `imagesmith init` writes (the starter project, then the built-in golden
/// recipes it does not hold), written to a temporary folder and rendered.
fn render_starter() -> Rendered {
    let dir = tempfile::tempdir().expect("temp dir");
    let starter = embedded_files("starter");
    assert!(
        !starter.is_empty(),
        "the catalog embeds the starter project"
    );
    let mut files: Vec<(String, &str)> = starter
        .into_iter()
        .map(|f| (f.path.trim_start_matches("starter/").to_string(), f.text))
        .collect();
    for recipe in embedded_files("recipes") {
        if !files.iter().any(|(path, _)| path == recipe.path) {
            files.push((recipe.path.to_string(), recipe.text));
        }
    }
    for (relative, text) in files {
        let path = dir.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
    let plan = load(dir.path());
    render(&plan, &RenderOptions::new(&[Target::All])).expect("renders")
}

/// Why the `uses:` value `value` (the rest of the line after `uses: `) is not a pin, if not.
fn not_a_pin(value: &str) -> Option<String> {
    let value = value.trim();
    // Local actions and Docker images are not fetched from a repository by tag.
    if value.starts_with("./") || value.starts_with("docker://") {
        return None;
    }
    let Some((reference, comment)) = value.split_once(" # ") else {
        return Some("no `# v…` comment after it".into());
    };
    let Some((name, commit)) = reference.split_once('@') else {
        return Some("no `@<commit>`".into());
    };
    if name.split('/').count() < 2 || name.split('/').any(str::is_empty) {
        return Some(format!("`{name}` is not owner/repo"));
    }
    if commit.len() != 40
        || !commit
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        return Some(format!("`{commit}` is not a 40-hex commit id"));
    }
    let release = comment.trim();
    if !release.starts_with('v')
        || !release[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    {
        return Some(format!("the comment `{release}` is not a `v…` release"));
    }
    None
}

fn check(project: &str, rendered: &Rendered) {
    let workflows: Vec<_> = rendered
        .files
        .iter()
        .filter(|f| f.path.starts_with(".github/workflows/"))
        .collect();
    assert_eq!(workflows.len(), 4, "{project}: expected four workflows");
    let mut seen = 0;
    let mut problems = Vec::new();
    for file in workflows {
        for (number, line) in file.contents.lines().enumerate() {
            let body = line.trim_start().trim_start_matches("- ");
            let Some(value) = body.strip_prefix("uses:") else {
                continue;
            };
            seen += 1;
            if let Some(why) = not_a_pin(value) {
                problems.push(format!(
                    "{project}: {}:{}: {line}\n  {why}",
                    file.path,
                    number + 1
                ));
            }
        }
    }
    assert!(seen > 0, "{project}: no `uses:` lines found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_action_is_pinned_by_commit_with_its_release() {
    check("seed", &render_seed());
    check("starter", &render_starter());
}

#[test]
fn the_checker_rejects_tags() {
    assert!(not_a_pin("actions/checkout@v4").is_some());
    assert!(not_a_pin("aquasecurity/trivy-action@0.28.0 # v0.28.0").is_some());
    assert!(not_a_pin("actions/checkout@11d5960a326750d5838078e36cf38b85af677262").is_some());
    assert!(
        not_a_pin("actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # latest").is_some()
    );
    assert!(
        not_a_pin(" actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0").is_none()
    );
    assert!(not_a_pin("./.github/actions/local").is_none());
}
