//! The list of diagnostic codes and `docs/diagnostics.md`, which is generated from it.

use imagesmith_diagnostics::{Code, Severity};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn reference_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/diagnostics.md")
}

/// The committed reference is what the list generates; `UPDATE_DOCS=1` rewrites it.
#[test]
fn docs_diagnostics_md_is_up_to_date() {
    let path = reference_path();
    let expected = Code::reference();
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1") {
        fs_err::write(&path, &expected).unwrap();
        return;
    }
    let committed = fs_err::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "docs/diagnostics.md is out of date with crates/imagesmith-diagnostics/src/code.rs\n\
         hint: regenerate it with `UPDATE_DOCS=1 cargo nextest run -p imagesmith-diagnostics` \
         and commit the result"
    );
}

#[test]
fn codes_are_unique_kebab_case_strings() {
    let mut seen = BTreeSet::new();
    for code in Code::ALL {
        let text = code.as_str();
        assert!(seen.insert(text), "`{text}` is listed twice");
        assert!(
            !text.is_empty()
                && !text.starts_with('-')
                && !text.ends_with('-')
                && !text.contains("--")
                && text
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "`{text}` is not kebab-case"
        );
        assert_eq!(code.to_string(), text);
    }
}

#[test]
fn every_code_has_a_summary_and_a_fix() {
    for code in Code::ALL {
        for (what, text) in [("summary", code.summary()), ("fix", code.fix())] {
            assert!(
                text.chars()
                    .next()
                    .is_some_and(|c| c.is_uppercase() || c == '`'),
                "the {what} of `{code}` does not start with a capital or a `value`: {text:?}"
            );
            assert!(
                text.ends_with('.') && !text.contains('\n'),
                "the {what} of `{code}` is not one sentence: {text:?}"
            );
        }
    }
}

/// Codes sort as their strings did, so sorted output does not depend on the list's order.
#[test]
fn codes_sort_by_their_string() {
    let mut codes = Code::ALL.to_vec();
    codes.sort();
    let strings: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    let mut sorted = strings.clone();
    sorted.sort_unstable();
    assert_eq!(strings, sorted);
}

#[test]
fn the_reference_lists_every_code_once() {
    let reference = Code::reference();
    for code in Code::ALL {
        let row = format!("| <a id=\"{code}\"></a>`{code}` | ");
        assert_eq!(reference.matches(&row).count(), 1, "`{code}`");
    }
    assert_eq!(Code::NoComponents.usual_severity(), Severity::Error);
}
