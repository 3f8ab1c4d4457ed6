//! Renderers for a list of diagnostics.

use crate::{Diagnostics, Severity, SourceFile};
use annotate_snippets::renderer::DecorStyle;
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

/// An output format of `imagesmith validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For a person at a terminal: a source snippet with a caret under the problem.
    Human,
    /// One JSON document with every diagnostic.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    /// GitHub Actions workflow commands (`::error file=…`), which become annotations.
    Github,
}

/// Options of the human format.
#[derive(Debug, Clone, Copy, Default)]
pub struct HumanOptions {
    /// Use ANSI colours.
    pub color: bool,
}

/// Renders `diagnostics` in `format`; `sources` gives the text of each file for snippets.
///
/// `files` is the number of files checked, reported in summaries.
pub fn render(
    diagnostics: &Diagnostics,
    sources: &HashMap<Arc<str>, SourceFile>,
    files: usize,
    format: Format,
    options: HumanOptions,
) -> String {
    match format {
        Format::Human => human(diagnostics, sources, files, options),
        Format::Json => {
            // Compact: this is for programs (`jq .` pretty-prints it).
            let mut out =
                serde_json::to_string(&json_report(diagnostics, files)).unwrap_or_default();
            out.push('\n');
            out
        }
        Format::Sarif => {
            let mut out =
                serde_json::to_string_pretty(&sarif_value(diagnostics)).unwrap_or_default();
            out.push('\n');
            out
        }
        Format::Github => github(diagnostics),
    }
}

/// Snippets longer than this many bytes show a window around the problem instead.
const LONG_EXCERPT: usize = 4096;
/// How much of a long line a window shows before the problem, and after it, in bytes.
const WINDOW_BEFORE: usize = 80;
const WINDOW_AFTER: usize = 80;
/// The most a window shows from the problem's start, however long the problem.
const WINDOW_MAX: usize = 400;

fn level(severity: Severity) -> Level<'static> {
    match severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
        Severity::Note => Level::NOTE,
    }
}

fn human(
    diagnostics: &Diagnostics,
    sources: &HashMap<Arc<str>, SourceFile>,
    files: usize,
    options: HumanOptions,
) -> String {
    let renderer = if options.color {
        Renderer::styled()
    } else {
        Renderer::plain()
    }
    .decor_style(DecorStyle::Ascii);
    // Secrets are hidden from every snippet of their file, whichever diagnostic quotes them.
    let mut redactions: HashMap<&str, Vec<std::ops::Range<usize>>> = HashMap::new();
    for diagnostic in diagnostics {
        if let Some(span) = diagnostic.redacted {
            redactions
                .entry(diagnostic.path.as_ref())
                .or_default()
                .push(span.start.offset..span.end.offset);
        }
    }
    let mut out = String::new();
    for diagnostic in diagnostics {
        let title = level(diagnostic.severity)
            .primary_title(diagnostic.message.as_str())
            .id(diagnostic.code.as_str());
        let mut header = None;
        let group = match (diagnostic.span, sources.get(&diagnostic.path)) {
            (Some(span), Some(source)) => {
                // Hand the renderer only the lines around the problem, so a huge file costs
                // no more than a small one.
                let text = &source.text;
                let first_line = span.start.line as usize;
                let start_offset = span.start.offset.min(text.len());
                let line_start = source.line_bounds(start_offset).start;
                let end_offset = span.end.offset.max(start_offset).min(text.len());
                let line_end = source.line_bounds(end_offset).end;
                // A very long line (a 1 MiB flow mapping) is cut to a window around the
                // problem: thousands of problems on one line would each render all of it.
                let long = line_end - line_start > LONG_EXCERPT;
                let (from, to) = if long {
                    let first_line_end = source.line_bounds(start_offset).end;
                    let from = text.floor_char_boundary(
                        start_offset.saturating_sub(WINDOW_BEFORE).max(line_start),
                    );
                    let to = text.ceil_char_boundary(
                        (end_offset + WINDOW_AFTER)
                            .min(start_offset + WINDOW_MAX)
                            .min(first_line_end),
                    );
                    (from, to)
                } else {
                    (line_start, line_end)
                };
                let mut excerpt = Cow::Borrowed(&text[from..to]);
                let mut start = start_offset - from;
                let mut end = end_offset.min(to) - from;
                if let Some(ranges) = redactions.get(diagnostic.path.as_ref()) {
                    redact(&mut excerpt, from, ranges, [&mut start, &mut end]);
                }
                if long {
                    // The header's column is the real one; `...` marks the cut ends.
                    let before = if from > line_start { "..." } else { "" };
                    let after = if to < source.line_bounds(start_offset).end {
                        "..."
                    } else {
                        ""
                    };
                    excerpt = Cow::Owned(format!("{before}{excerpt}{after}"));
                    start += before.len();
                    end += before.len();
                    // The renderer would count the column from the window's start: the
                    // location line is written here instead, as it would have been.
                    header = Some(format!(
                        "{:width$}--> {}:{}:{}\n",
                        "",
                        diagnostic.path,
                        first_line,
                        span.start.column,
                        width = first_line.to_string().len()
                    ));
                }
                if start == end {
                    // A zero-width span still gets a caret.
                    end = (start + excerpt[start..].chars().next().map_or(0, char::len_utf8))
                        .min(excerpt.len());
                    if start == end && start > 0 {
                        start -= excerpt[..start]
                            .chars()
                            .next_back()
                            .map_or(0, char::len_utf8);
                    }
                }
                let snippet = Snippet::source(excerpt)
                    .line_start(first_line)
                    .annotation(AnnotationKind::Primary.span(start..end));
                if long {
                    title.element(snippet)
                } else {
                    title.element(snippet.path(diagnostic.path.as_ref()))
                }
            }
            _ => title.element(
                Snippet::<annotate_snippets::Annotation<'_>>::source("")
                    .path(diagnostic.path.to_string())
                    .line_numbering(false),
            ),
        };
        let mut report: Vec<Group<'_>> = vec![group];
        if let Some(hint) = &diagnostic.hint {
            report.push(Group::with_title(
                Level::HELP.secondary_title(hint.as_str()),
            ));
        }
        let rendered = renderer.render(&report);
        match (header, rendered.split_once('\n')) {
            (Some(header), Some((title, rest))) => {
                out.push_str(title);
                out.push('\n');
                out.push_str(&header);
                out.push_str(rest);
            }
            _ => out.push_str(&rendered),
        }
        out.push_str("\n\n");
    }
    let errors = diagnostics.error_count();
    let warnings = diagnostics.warning_count();
    let files_word = if files == 1 { "file" } else { "files" };
    if errors == 0 {
        let _ = writeln!(
            out,
            "Checked {files} {files_word}: valid{}",
            if warnings > 0 {
                format!(" ({warnings} {})", plural(warnings, "warning"))
            } else {
                String::new()
            }
        );
    } else {
        let _ = writeln!(
            out,
            "Checked {files} {files_word}: {errors} {}, {warnings} {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        );
    }
    out
}

/// Replaces every character of `excerpt` (which starts at byte `base` of its file) inside one
/// of `ranges` with `*`, one for one, and moves the byte offsets `marks` (into the excerpt) to
/// the same characters of the result.
fn redact(
    excerpt: &mut Cow<'_, str>,
    base: usize,
    ranges: &[std::ops::Range<usize>],
    marks: [&mut usize; 2],
) {
    let end = base + excerpt.len();
    let hidden = |offset: usize| ranges.iter().any(|r| r.contains(&offset));
    if !ranges.iter().any(|r| r.start < end && base < r.end) {
        return;
    }
    let mut out = String::with_capacity(excerpt.len());
    let mut moved = [None, None];
    for (i, c) in excerpt.char_indices() {
        for (mark, new) in marks.iter().zip(moved.iter_mut()) {
            if **mark == i && new.is_none() {
                *new = Some(out.len());
            }
        }
        // Line breaks stay, so the snippet keeps its lines.
        if c != '\n' && hidden(base + i) {
            out.push('*');
        } else {
            out.push(c);
        }
    }
    for (mark, new) in marks.into_iter().zip(moved) {
        *mark = new.unwrap_or(out.len());
    }
    *excerpt = Cow::Owned(out);
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// One diagnostic in the JSON format.
#[derive(serde::Serialize)]
struct JsonDiagnostic<'a> {
    path: &'a str,
    line: u32,
    column: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_column: Option<u32>,
    severity: &'static str,
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
}

/// The JSON format: written straight from borrowed data, so thousands of diagnostics cost
/// little.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    valid: bool,
    files: usize,
    errors: usize,
    warnings: usize,
    diagnostics: Vec<JsonDiagnostic<'a>>,
}

fn json_report(diagnostics: &Diagnostics, files: usize) -> JsonReport<'_> {
    JsonReport {
        valid: !diagnostics.has_errors(),
        files,
        errors: diagnostics.error_count(),
        warnings: diagnostics.warning_count(),
        diagnostics: diagnostics
            .iter()
            .map(|d| JsonDiagnostic {
                path: &d.path,
                line: d.line(),
                column: d.column(),
                end_line: d.span.map(|s| s.end.line),
                end_column: d.span.map(|s| s.end.column),
                severity: d.severity.as_str(),
                code: d.code.as_str(),
                message: &d.message,
                hint: d.hint.as_deref(),
            })
            .collect(),
    }
}

#[cfg(test)]
fn json_value(diagnostics: &Diagnostics, files: usize) -> Value {
    serde_json::to_value(json_report(diagnostics, files)).unwrap_or_default()
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

fn sarif_value(diagnostics: &Diagnostics) -> Value {
    let mut rules: BTreeMap<&str, usize> = BTreeMap::new();
    for d in diagnostics {
        let next = rules.len();
        rules.entry(d.code.as_str()).or_insert(next);
    }
    let mut rule_list = vec![Value::Null; rules.len()];
    for (code, index) in &rules {
        rule_list[*index] = json!({
            "id": code,
            "name": code,
            "shortDescription": { "text": code.replace('-', " ") },
            "helpUri": format!("https://imagesmith.invalid/docs/diagnostics#{code}"),
        });
    }
    let results: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            let mut text = d.message.clone();
            if let Some(hint) = &d.hint {
                text.push_str("\nhint: ");
                text.push_str(hint);
            }
            let mut region = serde_json::Map::new();
            region.insert("startLine".into(), json!(d.line()));
            region.insert("startColumn".into(), json!(d.column()));
            if let Some(span) = d.span {
                region.insert("endLine".into(), json!(span.end.line.max(span.start.line)));
                let end_column = if span.end.line == span.start.line {
                    span.end.column.max(span.start.column + 1)
                } else {
                    span.end.column.max(1)
                };
                region.insert("endColumn".into(), json!(end_column));
            }
            json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": rules[d.code.as_str()],
                "level": sarif_level(d.severity),
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": sarif_uri(&d.path) },
                        "region": Value::Object(region),
                    }
                }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "imagesmith",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://imagesmith.invalid/",
                    "rules": rule_list,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// A relative URI for a path: forward slashes, no leading `./`, spaces escaped.
fn sarif_uri(path: &str) -> String {
    let path = path.strip_prefix("./").unwrap_or(path);
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '\\' => out.push('/'),
            ' ' => out.push_str("%20"),
            '%' => out.push_str("%25"),
            '#' => out.push_str("%23"),
            '?' => out.push_str("%3F"),
            c => out.push(c),
        }
    }
    out
}

fn github_escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn github_escape_property(s: &str) -> String {
    github_escape_data(s)
        .replace(':', "%3A")
        .replace(',', "%2C")
}

fn github(diagnostics: &Diagnostics) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        let mut message = d.message.clone();
        if let Some(hint) = &d.hint {
            message.push_str("\nhint: ");
            message.push_str(hint);
        }
        let _ = write!(
            out,
            "::{command} file={},line={},col={}",
            github_escape_property(&d.path),
            d.line(),
            d.column()
        );
        if let Some(span) = d.span {
            let _ = write!(
                out,
                ",endLine={},endColumn={}",
                span.end.line.max(span.start.line),
                span.end.column
            );
        }
        let _ = writeln!(
            out,
            ",title={}::{}",
            github_escape_property(&format!("imagesmith {}", d.code)),
            github_escape_data(&message)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Diagnostic;

    fn sample() -> (Diagnostics, HashMap<Arc<str>, SourceFile>) {
        let path: Arc<str> = "spec.yaml".into();
        let source = SourceFile::new(path.clone(), "components:\n  pythn: 3.10\n");
        let span = crate::Span::new(source.position(2, 2), source.position(2, 7));
        let mut diagnostics = Diagnostics::new();
        diagnostics.push(
            Diagnostic::error(
                &path,
                Some(span),
                crate::Code::UnknownComponent,
                "Unknown component `pythn`",
            )
            .with_hint("did you mean `python`?"),
        );
        let mut sources = HashMap::new();
        sources.insert(path, source);
        (diagnostics, sources)
    }

    #[test]
    fn human_points_at_the_line() {
        let (d, s) = sample();
        let out = render(&d, &s, 1, Format::Human, HumanOptions::default());
        assert!(out.contains("spec.yaml:2:3"), "{out}");
        assert!(out.contains("^^^^^"), "{out}");
        assert!(out.contains("did you mean `python`?"), "{out}");
    }

    #[test]
    fn github_escapes_properties() {
        let (d, _) = sample();
        let out = github(&d);
        assert_eq!(
            out,
            "::error file=spec.yaml,line=2,col=3,endLine=2,endColumn=8,title=imagesmith unknown-component::Unknown component `pythn`%0Ahint: did you mean `python`?\n"
        );
    }

    #[test]
    fn json_has_every_field() {
        let (d, _) = sample();
        let v = json_value(&d, 1);
        let first = &v["diagnostics"][0];
        for key in [
            "path", "line", "column", "severity", "code", "message", "hint",
        ] {
            assert!(first.get(key).is_some(), "missing {key}");
        }
        assert_eq!(first["line"], 2);
        assert_eq!(first["column"], 3);
    }
}
