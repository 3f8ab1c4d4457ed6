//! Issue 9: AWSTOE substitution, loops and conditions live in `imagesmith-awstoe` alone.
//!
//! A focused source scan rather than a parser: every `crates/*/src/**/*.rs` outside this
//! crate is searched, line by line and outside comments, for the fingerprints a second copy
//! of these semantics leaves behind (a `substitute` function, scanning for `{{`, building
//! `{{ name }}` to replace it, reading a loop's or a condition's keys). A hit fails the test
//! unless [`ALLOWED`] names the file and the pattern with the reason it is not AWSTOE
//! semantics. The scan runs on this crate's own sources too, to show the patterns still
//! find the real thing.

use std::path::{Path, PathBuf};

/// Each fingerprint and what it gives away.
const PATTERNS: &[(&str, &str)] = &[
    ("fn substitute", "a `{{ … }}` substitution function"),
    ("\"{{\"", "scanning text for AWSTOE's opening braces"),
    ("\"}}\"", "scanning text for AWSTOE's closing braces"),
    (
        "\"{{{{",
        "building `{{ name }}` to replace it (`format!(\"{{{{ {name} }}}}\")`)",
    ),
    ("\"forEach\"", "reading a step's `forEach` loop"),
    ("\"updateBy\"", "reading a step's `for` loop"),
    ("fn parse_loop", "parsing a step's loop"),
    ("fn iterations", "unrolling a step's loop"),
    ("fn parse_if", "parsing a step's `if`"),
    ("\"stringEquals\"", "evaluating an AWSTOE condition"),
];

/// Hits that are not AWSTOE semantics: (path below `crates/`, pattern, why).
const ALLOWED: &[(&str, &str, &str)] = &[];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crates folder")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a folder entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (path below `crates/`, line number, pattern) of every hit in `crate_name`'s sources.
fn hits(crate_name: &str) -> Vec<(String, usize, &'static str)> {
    let crates = crates_dir();
    let mut files = Vec::new();
    let src = crates.join(crate_name).join("src");
    if src.is_dir() {
        rust_files(&src, &mut files);
    }
    let mut found = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let shown = file
            .strip_prefix(&crates)
            .expect("below crates/")
            .to_string_lossy()
            .replace('\\', "/");
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (pattern, _) in PATTERNS {
                if line.contains(pattern) {
                    found.push((shown.clone(), number + 1, *pattern));
                }
            }
        }
    }
    found
}

#[test]
fn no_awstoe_semantics_outside_imagesmith_awstoe() {
    let mut crates: Vec<String> = std::fs::read_dir(crates_dir())
        .expect("the crates folder")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name != "imagesmith-awstoe")
        .collect();
    crates.sort();
    assert!(
        crates.iter().any(|c| c == "imagesmith-render"),
        "the scan sees the workspace: {crates:?}"
    );
    let mut problems = Vec::new();
    for crate_name in &crates {
        for (file, line, pattern) in hits(crate_name) {
            let allowed = ALLOWED
                .iter()
                .any(|(path, allowed, _)| *path == file && *allowed == pattern);
            if !allowed {
                let what = PATTERNS
                    .iter()
                    .find(|(p, _)| *p == pattern)
                    .map_or("", |(_, what)| what);
                problems.push(format!("{file}:{line}: `{pattern}` ({what})"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "AWSTOE semantics outside imagesmith-awstoe:\n{}\nhint: use `imagesmith_awstoe::expand` (or `expr`), or add the hit to ALLOWED with the reason",
        problems.join("\n")
    );
}

#[test]
fn the_patterns_find_imagesmith_awstoes_own_code() {
    let own: Vec<&str> = hits("imagesmith-awstoe")
        .into_iter()
        .map(|(_, _, pattern)| pattern)
        .collect();
    for pattern in [
        "fn substitute",
        "\"{{\"",
        "\"forEach\"",
        "\"updateBy\"",
        "fn parse_loop",
        "fn parse_if",
        "\"stringEquals\"",
    ] {
        assert!(
            own.contains(&pattern),
            "`{pattern}` finds nothing in imagesmith-awstoe"
        );
    }
}
