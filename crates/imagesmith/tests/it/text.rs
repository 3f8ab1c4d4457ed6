//! User-facing text: `--help` says what imagesmith is, and neither help nor the catalog
//! names a path of the machine imagesmith was built on or a `cargo` command (issue 9).

use crate::{imagesmith, repo_root, stdout};
use std::path::{Path, PathBuf};

/// Text that only makes sense on the machine imagesmith was developed on.
const BUILD_MACHINE: &[&str] = &[
    "/work/",
    "/home/",
    "../shared",
    "vendor-facts",
    "facts sheet",
    "facts §",
    "target/debug",
    "target/release",
    "hand-back",
];

fn build_machine_text(text: &str) -> Vec<&'static str> {
    let checkout = repo_root()
        .canonicalize()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut found: Vec<&'static str> = BUILD_MACHINE
        .iter()
        .copied()
        .filter(|needle| text.contains(needle))
        .collect();
    if !checkout.is_empty() && text.contains(&checkout) {
        found.push("the checkout's absolute path");
    }
    found
}

fn help(args: &[&str]) -> String {
    let output = imagesmith(args, &std::env::temp_dir());
    assert_eq!(output.status.code(), Some(0), "{args:?}");
    stdout(&output)
}

/// The subcommands `imagesmith --help` lists, without `help`.
fn subcommands() -> Vec<String> {
    let text = help(&["--help"]);
    let commands = text
        .split("Commands:\n")
        .nth(1)
        .expect("`--help` lists the commands");
    commands
        .lines()
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn help_opens_with_what_imagesmith_is() {
    for flag in ["--help", "-h"] {
        let text = help(&[flag]);
        assert!(
            text.starts_with("imagesmith is a daemonless image factory"),
            "`imagesmith {flag}` opens with:\n{text}"
        );
    }
}

#[test]
fn no_help_names_cargo_or_a_build_machine_path() {
    let commands = subcommands();
    assert!(commands.iter().any(|c| c == "validate"), "{commands:?}");
    let mut failures = Vec::new();
    let mut pages = vec![vec!["--help".to_string()]];
    pages.extend(
        commands
            .iter()
            .map(|c| vec![c.clone(), "--help".to_string()]),
    );
    for args in pages {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let text = help(&args);
        if text.contains("cargo") {
            failures.push(format!("`imagesmith {}` mentions `cargo`", args.join(" ")));
        }
        for found in build_machine_text(&text) {
            failures.push(format!("`imagesmith {}` names {found:?}", args.join(" ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Catalog comments and notes cite their sources by name, never by a local file.
#[test]
fn the_catalog_names_no_local_file() {
    let root = repo_root().join("crates/imagesmith-catalog/catalog");
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    assert!(files.len() > 20, "{}", root.display());
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (index, line) in text.lines().enumerate() {
            for found in build_machine_text(line) {
                failures.push(format!(
                    "{}:{}: {found:?}",
                    file.strip_prefix(&root).unwrap_or(&file).display(),
                    index + 1
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
