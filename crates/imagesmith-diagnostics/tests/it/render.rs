//! Renderers: a redacted span (a secret written in a document) never appears in any format.

use imagesmith_diagnostics::{
    render, Code, Diagnostic, Diagnostics, Format, HumanOptions, SourceFile,
};
use std::collections::HashMap;
use std::sync::Arc;

const SECRET: &str = "s3cr3t-é-value";

fn report() -> (Diagnostics, HashMap<Arc<str>, SourceFile>) {
    let path: Arc<str> = "spec.yaml".into();
    let text = format!(
        "components:\n  snyk: 1.1292.0\nparameters:\n  snyk:\n    snyk_token: {SECRET}  # café\n"
    );
    let source = SourceFile::new(path.clone(), text.as_str());
    let line = 5;
    let key = source.position(line, 4)..source.position(line, 14);
    let value_start = text.find(SECRET).unwrap();
    let value = source.position_of_offset(value_start)
        ..source.position_of_offset(value_start + SECRET.len());
    let mut diagnostics = Diagnostics::new();
    diagnostics.push(
        Diagnostic::error(
            &path,
            Some(imagesmith_diagnostics::Span::new(key.start, key.end)),
            Code::SecretLiteral,
            "`snyk_token` of `snyk` is a secret and cannot be written in a document",
        )
        .with_hint("remove it")
        .with_redacted(Some(imagesmith_diagnostics::Span::new(
            value.start,
            value.end,
        ))),
    );
    // Another diagnostic whose snippet covers the same line: masked too.
    diagnostics.push(Diagnostic::warning(
        &path,
        Some(imagesmith_diagnostics::Span::new(value.start, value.end)),
        Code::DeprecatedVersion,
        "Something else on that line",
    ));
    let mut sources = HashMap::new();
    sources.insert(path, source);
    (diagnostics, sources)
}

#[test]
fn a_redacted_value_is_in_no_format() {
    let (diagnostics, sources) = report();
    for format in [Format::Human, Format::Json, Format::Sarif, Format::Github] {
        for color in [false, true] {
            let out = render(&diagnostics, &sources, 1, format, HumanOptions { color });
            assert!(!out.contains(SECRET), "{format:?} shows the secret:\n{out}");
            assert!(
                !out.contains("s3cr3t"),
                "{format:?} shows part of it:\n{out}"
            );
        }
    }
}

#[test]
fn the_snippet_masks_each_character_and_keeps_the_columns() {
    let (diagnostics, sources) = report();
    let out = render(
        &diagnostics,
        &sources,
        1,
        Format::Human,
        HumanOptions::default(),
    );
    let stars = "*".repeat(SECRET.chars().count());
    assert!(
        out.contains(&format!("    snyk_token: {stars}  # café")),
        "{out}"
    );
    // The caret of the key is where it was; the second diagnostic's caret covers the stars.
    assert!(out.contains("5:5"), "{out}");
    assert!(
        out.contains(&format!("                {}", "^".repeat(stars.len()))),
        "{out}"
    );
}

/// A problem far along a very long line: the snippet is a window around it, the location
/// keeps the real column, and the output does not grow with the line.
#[test]
fn a_long_line_is_shown_as_a_window_with_the_real_column() {
    let path: Arc<str> = "flow.yaml".into();
    let entries: Vec<String> = (0..20_000).map(|i| format!("k{i}: é")).collect();
    let line = format!("labels: {{{}}}", entries.join(", "));
    let text = format!("a: 1\n{line}\n");
    let source = SourceFile::new(path.clone(), text.as_str());
    let at = text.find("k19999").unwrap();
    let span = imagesmith_diagnostics::Span::new(
        source.position_of_offset(at),
        source.position_of_offset(at + 6),
    );
    let column = line[..line.find("k19999").unwrap()].chars().count() + 1;
    assert_eq!(span.start.column as usize, column);
    let mut diagnostics = Diagnostics::new();
    diagnostics.push(Diagnostic::error(
        &path,
        Some(span),
        Code::InvalidValue,
        "Problem",
    ));
    let mut sources = HashMap::new();
    sources.insert(path, source);
    let out = render(
        &diagnostics,
        &sources,
        1,
        Format::Human,
        HumanOptions::default(),
    );
    assert!(
        out.contains(&format!(" --> flow.yaml:2:{column}\n")),
        "{out}"
    );
    assert!(out.contains("2 | ..."), "{out}");
    assert!(out.contains("k19999: é}\n"), "{out}");
    assert!(out.contains("^^^^^^"), "{out}");
    assert!(out.len() < 1000, "{} bytes:\n{out}", out.len());
}
