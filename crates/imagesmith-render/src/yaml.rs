//! A small, deterministic YAML emitter for JSON values.
//!
//! Keys keep their insertion order (the workspace builds `serde_json` with `preserve_order`),
//! so the same value always gives the same text. Strings are written plain only when no YAML
//! reader could take them for anything else (numbers, booleans, nulls, dates); multi-line
//! strings become literal blocks so scripts stay readable; everything else is double-quoted
//! with JSON escapes, which YAML reads the same way.

use serde_json::{Map, Value};

/// `value` as a YAML document (no `---`), ending in a newline.
pub(crate) fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

/// `lines` as `# ` comments, one per line.
pub(crate) fn comment(lines: &[String]) -> String {
    let mut out = String::new();
    for line in lines {
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn write_map(out: &mut String, map: &Map<String, Value>, level: usize) {
    for (key, value) in map {
        indent(out, level);
        write_entry(out, key, value, level);
    }
}

/// Writes `key: value` where the key's indentation is already written.
fn write_entry(out: &mut String, key: &str, value: &Value, level: usize) {
    out.push_str(&key_text(key));
    out.push(':');
    write_after_indicator(out, value, level);
}

/// Writes what follows `key:` or `-`.
fn write_after_indicator(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, level + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(out, items, level + 2);
        }
        Value::String(text) if block_style(text) => write_block(out, text, level + 2),
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], level: usize) {
    for item in items {
        indent(out, level);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                out.push(' ');
                for (index, (key, value)) in map.iter().enumerate() {
                    if index > 0 {
                        indent(out, level + 2);
                    }
                    write_entry(out, key, value, level + 2);
                }
            }
            other => write_after_indicator(out, other, level),
        }
    }
}

fn block_style(text: &str) -> bool {
    text.contains('\n')
        && !text.starts_with([' ', '\t', '\n'])
        && !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        && !text.contains('\r')
        && text.lines().all(|line| !line.starts_with('\t'))
}

fn write_block(out: &mut String, text: &str, level: usize) {
    let trailing = text.len() - text.trim_end_matches('\n').len();
    out.push_str(match trailing {
        0 => " |-",
        1 => " |",
        _ => " |+",
    });
    out.push('\n');
    let body = if trailing == 0 {
        text
    } else {
        &text[..text.len() - 1]
    };
    for line in body.split('\n') {
        if !line.is_empty() {
            indent(out, level);
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn key_text(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':'))
        && !key.ends_with(':');
    if plain {
        key.to_string()
    } else {
        quote(key)
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            if plain_safe(s) {
                s.clone()
            } else {
                quote(s)
            }
        }
        Value::Array(_) => "[]".to_string(),
        Value::Object(_) => "{}".to_string(),
    }
}

/// JSON string syntax is also YAML double-quoted syntax.
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

const RESERVED: &[&str] = &[
    "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n",
];

fn plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == '/' || first == '_') {
        return false;
    }
    if RESERVED.contains(&text.to_ascii_lowercase().as_str()) {
        return false;
    }
    if text.ends_with([' ', ':']) || text.contains(": ") || text.contains(" #") {
        return false;
    }
    text.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                ' ' | '_' | '-' | '.' | '/' | ':' | '@' | '+' | '(' | ')' | ',' | '='
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_block_and_flow_forms() {
        let value = json!({
            "name": "x",
            "version": "1.10",
            "on": {"push": {"branches": ["main"]}},
            "empty": [],
            "script": "set -e\necho hi\n",
            "list": [{"a": 1, "b": "yes"}, ["n", "2"]],
        });
        let text = to_string(&value);
        assert_eq!(
            text,
            "name: x\nversion: \"1.10\"\non:\n  push:\n    branches:\n      - main\nempty: []\nscript: |\n  set -e\n  echo hi\nlist:\n  - a: 1\n    b: \"yes\"\n  -\n    - \"n\"\n    - \"2\"\n"
        );
    }

    #[test]
    fn keeps_trailing_newlines_exact() {
        let text = to_string(&json!({"a": "x\ny", "b": "x\n\n"}));
        assert_eq!(text, "a: |-\n  x\n  y\nb: |+\n  x\n\n");
    }
}
