//! A fast path for the documents users write most: block mappings of plain or simply quoted
//! scalars, ASCII, one key per line.
//!
//! A spec is a handful of `key: value` lines, and `imagesmith validate` in a pull-request
//! check reads thousands of them; the general YAML scanner spends most of a file's time on
//! them. This reader accepts only a strict subset of YAML whose meaning and spans it can give
//! exactly as the general path would, and declines (returns `None`) at the first thing outside
//! it — sequences, flow collections, anchors, tags, escapes, block scalars, multi-line
//! scalars, document markers, tabs, `\r` and other control characters, non-ASCII text, anything unusual in a key or value,
//! and every syntax error — so the general path then reads the file from the start and
//! reports what it finds. A differential test holds the two paths to the same trees.

use crate::{Node, NodeKind, Scalar, Style};
use imagesmith_diagnostics::{Position, Span};

/// The deepest nesting the fast path builds; deeper documents take the general path, which
/// enforces the configured limit.
const MAX_DEPTH: usize = 16;

/// One mapping being filled: its indentation and its entries.
struct Level {
    indent: usize,
    entries: Vec<(Node, Node)>,
}

/// Reads `text` if it is in the subset, `None` otherwise. `max_nodes` bounds the tree as the
/// general path does (over it, the general path reports the limit).
pub(crate) fn parse(text: &str, max_nodes: usize) -> Option<Node> {
    let bytes = text.as_bytes();
    // Printable ASCII and `\n` only: no tabs, no `\r` (a line break of its own to YAML, even
    // inside a comment), no control characters, nothing that needs decoding.
    if !bytes
        .iter()
        .all(|&b| b == b'\n' || (b' '..=b'~').contains(&b))
    {
        return None;
    }
    let mut stack: Vec<Level> = Vec::new();
    // A key whose value is on the lines below (or is null): its node and the depth it was at.
    let mut open_key: Option<Node> = None;
    let mut nodes = 0usize;
    let mut line_number = 0u32;
    let mut line_start = 0usize;
    while line_start < bytes.len() {
        line_number += 1;
        let line_end = memchr_newline(bytes, line_start);
        let line = &bytes[line_start..line_end];
        let next = line_end + 1;
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let rest = &line[indent..];
        if rest.is_empty() || rest[0] == b'#' {
            line_start = next;
            continue;
        }
        let at = |offset: usize| Position {
            line: line_number,
            column: (offset - line_start + 1) as u32,
            offset,
        };

        // Place the entry: a deeper line opens the pending key's mapping; a shallower one
        // closes mappings down to its level.
        match stack.last() {
            None => {
                if indent != 0 {
                    return None;
                }
                stack.push(Level {
                    indent,
                    entries: Vec::new(),
                });
            }
            Some(top) if indent > top.indent => {
                // Only a key with nothing after it may have a deeper block.
                open_key.as_ref()?;
                if stack.len() >= MAX_DEPTH {
                    return None;
                }
                stack.push(Level {
                    indent,
                    entries: Vec::new(),
                });
            }
            Some(top) => {
                if indent < top.indent {
                    close_pending(&mut stack, &mut open_key)?;
                    while stack.last().is_some_and(|level| level.indent > indent) {
                        let level = stack.pop()?;
                        attach(&mut stack, mapping(level)?)?;
                    }
                    if stack.last()?.indent != indent {
                        return None;
                    }
                } else {
                    close_pending(&mut stack, &mut open_key)?;
                }
            }
        }
        if let Some(key) = open_key.take() {
            // The key before this deeper line: its value is the mapping being opened. Keep
            // the key in the parent level with a placeholder filled when the mapping closes.
            let parent = stack.len().checked_sub(2)?;
            stack[parent].entries.push((key, placeholder()));
        }

        // The key.
        let key_start = line_start + indent;
        let key_len = key_length(rest)?;
        let after_key = &rest[key_len..];
        if after_key.first() != Some(&b':') {
            return None;
        }
        if !matches!(after_key.get(1), None | Some(b' ')) {
            return None;
        }
        let key = scalar(
            &text[key_start..key_start + key_len],
            Style::Plain,
            Span::new(at(key_start), at(key_start + key_len)),
        );
        nodes += 1;

        // The value, after `: `.
        let mut index = key_len + 1;
        while rest.get(index) == Some(&b' ') {
            index += 1;
        }
        let value = match rest.get(index) {
            None | Some(b'#') => None,
            Some(b'"') | Some(b'\'') => Some(quoted(rest, index, line_start + indent, &at)?),
            Some(_) => Some(plain(rest, index, line_start + indent, &at)?),
        };
        match value {
            Some(value) => {
                nodes += 1;
                stack.last_mut()?.entries.push((key, value));
            }
            None => open_key = Some(key),
        }
        if nodes > max_nodes {
            return None;
        }
        line_start = next;
    }
    close_pending(&mut stack, &mut open_key)?;
    while stack.len() > 1 {
        let level = stack.pop()?;
        attach(&mut stack, mapping(level)?)?;
    }
    mapping(stack.pop()?)
}

/// The end of the line starting at `from` (the index of its `\n`, or the text's end).
fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| from + i)
}

/// A key with nothing after it and no deeper block is null, at the end of the key.
fn close_pending(stack: &mut [Level], open_key: &mut Option<Node>) -> Option<()> {
    if let Some(key) = open_key.take() {
        let point = Span::point(key.span.end);
        stack
            .last_mut()?
            .entries
            .push((key, scalar("", Style::Plain, point)));
    }
    Some(())
}

/// Fills the placeholder of the innermost open key with the finished mapping.
fn attach(stack: &mut [Level], node: Node) -> Option<()> {
    let (_, value) = stack.last_mut()?.entries.last_mut()?;
    *value = node;
    Some(())
}

fn placeholder() -> Node {
    scalar("", Style::Plain, Span::default())
}

/// A finished mapping spans its first key to its last value.
fn mapping(level: Level) -> Option<Node> {
    let start = level.entries.first()?.0.span.start;
    let end = level.entries.last()?.1.span.end;
    Some(Node {
        kind: NodeKind::Mapping(level.entries),
        span: Span::new(start, end),
    })
}

fn scalar(value: &str, style: Style, span: Span) -> Node {
    Node {
        kind: NodeKind::Scalar(Scalar {
            value: value.to_owned(),
            style,
            tag: None,
        }),
        span,
    }
}

/// The length of a key: a name such as `base_image`, `aws_cli` or `io.example/team`.
fn key_length(rest: &[u8]) -> Option<usize> {
    let first = *rest.first()?;
    if !(first.is_ascii_alphanumeric() || first == b'_') {
        return None;
    }
    Some(
        rest.iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'))
            .count(),
    )
}

/// A plain value: ends at the line's end or at ` #`, trailing spaces dropped.
fn plain(rest: &[u8], start: usize, base: usize, at: &dyn Fn(usize) -> Position) -> Option<Node> {
    let first = rest[start];
    if !(first.is_ascii_alphanumeric() || matches!(first, b'_' | b'.' | b'/' | b'~' | b'=' | b'+'))
    {
        return None;
    }
    let mut end = start;
    let mut index = start;
    while let Some(&b) = rest.get(index) {
        match b {
            b' ' => {
                if rest.get(index + 1) == Some(&b'#') {
                    break;
                }
            }
            b if b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'.' | b'-' | b'/' | b'~' | b'=' | b'+' | b'@' | b','
                ) =>
            {
                end = index + 1;
            }
            _ => return None,
        }
        index += 1;
    }
    let text = std::str::from_utf8(&rest[start..end]).ok()?;
    Some(scalar(
        text,
        Style::Plain,
        Span::new(at(base + start), at(base + end)),
    ))
}

/// A quoted value without escapes or inner quotes, then only spaces or a comment.
fn quoted(rest: &[u8], start: usize, base: usize, at: &dyn Fn(usize) -> Position) -> Option<Node> {
    let quote = rest[start];
    let length = rest[start + 1..].iter().position(|&b| b == quote)?;
    let inner = &rest[start + 1..start + 1 + length];
    if inner
        .iter()
        .any(|&b| b == b'\\' || b == b'"' || b == b'\'' || !(b' '..=b'~').contains(&b))
    {
        return None;
    }
    let end = start + length + 2;
    let mut index = end;
    while rest.get(index) == Some(&b' ') {
        index += 1;
    }
    match rest.get(index) {
        None => {}
        Some(b'#') if index > end => {}
        Some(_) => return None,
    }
    let text = std::str::from_utf8(inner).ok()?;
    Some(scalar(
        text,
        Style::Quoted,
        Span::new(at(base + start), at(base + end)),
    ))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::{load_with, Limits, Loaded};
    use std::path::{Path, PathBuf};

    /// Both paths on `text`: the trees and the diagnostics must be the same, whichever path
    /// the fast one took. Returns whether the fast path accepted the text.
    fn same(text: &str) -> bool {
        let fast: Loaded = load_with("t.yaml".into(), text, Limits::DEFAULT, true);
        let general: Loaded = load_with("t.yaml".into(), text, Limits::DEFAULT, false);
        assert_eq!(fast.root, general.root, "trees differ for {text:?}");
        assert_eq!(
            fast.diagnostics.iter().collect::<Vec<_>>(),
            general.diagnostics.iter().collect::<Vec<_>>(),
            "diagnostics differ for {text:?}"
        );
        parse(text, Limits::DEFAULT.max_nodes).is_some()
    }

    fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() && !name.starts_with('.') && name != "target" {
                yaml_files(&path, out);
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                out.push(path);
            }
        }
    }

    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Every YAML file of the repository (fixtures, catalog, starter project, rendered
    /// snapshots), and thousands of mutations of each: single characters inserted, deleted
    /// or replaced with the ones YAML gives meaning to, lines re-indented or repeated.
    #[test]
    fn fast_path_agrees_with_the_general_path() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        yaml_files(&root.join("crates"), &mut files);
        yaml_files(&root.join("schemas"), &mut files);
        files.sort();
        assert!(files.len() > 50, "found only {} YAML files", files.len());
        let mut corpus: Vec<String> = files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .filter(|t| t.len() < 64 * 1024)
            .collect();
        corpus.push(String::from(
            "image_type: container\nbase_image: golden-container-amazonlinux2023\ncomponents:\n  splunk_indexer: 9.3.0\n  aws_cli: 2.17.0\n  python: 3.10\n  trivy: 0.53.0\n",
        ));
        let accepted_seed = same(corpus.last().map(String::as_str).unwrap_or_default());
        assert!(
            accepted_seed,
            "the seed's customer spec takes the fast path"
        );

        // Spec-like documents the fast path is made for, with comments, blank lines, quoted
        // values, trailing spaces and nested mappings, as seeds for the mutations below.
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let keys = [
            "image_type",
            "base_image",
            "components",
            "python",
            "aws_cli",
            "trivy",
            "labels",
            "io.example/team",
            "a",
            "b-c",
            "x_1",
        ];
        let values = [
            "container",
            "3.10",
            "2.17.0",
            "golden-container-debian12",
            "\"1.6.6\"",
            "'x y'",
            "~",
            "null",
            "a b  ",
            "v1.2+build",
            "=x",
            "1,2",
            "a@b",
            "",
        ];
        let tails = ["", "  ", " # note", "   #", "#x"];
        for _ in 0..400 {
            let mut doc = String::new();
            let mut depth = 0usize;
            for _ in 0..rng.below(12) + 1 {
                match rng.below(8) {
                    0 => doc.push('\n'),
                    1 => doc.push_str(&format!("{}# comment\n", "  ".repeat(rng.below(3)))),
                    _ => {
                        let key = keys[rng.below(keys.len())];
                        let value = values[rng.below(values.len())];
                        let tail = tails[rng.below(tails.len())];
                        doc.push_str(&format!("{}{key}: {value}{tail}\n", "  ".repeat(depth)));
                        if value.is_empty() && depth < 4 {
                            depth += 1;
                        } else if depth > 0 && rng.below(3) == 0 {
                            depth -= 1;
                        }
                    }
                }
            }
            corpus.push(doc);
        }

        let specials: &[&str] = &[
            " ", "  ", "\n", ":", ": ", "#", " #", "-", "- ", "'", "\"", "\\", "\t", "\r", "&a ",
            "*a", "!!str ", "|", ">", "[", "]", "{", "}", ",", "?", "%", "@", "`", "~", "é",
            "---\n", "...\n", "a: b\n", "  a: b\n", "x", "0", ".",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut accepted = 0usize;
        let mut total = 0usize;
        for text in &corpus {
            total += 1;
            accepted += usize::from(same(text));
            for _ in 0..60 {
                let mut mutated = text.clone();
                let boundaries: Vec<usize> = (0..=mutated.len())
                    .filter(|&i| mutated.is_char_boundary(i))
                    .collect();
                let at = boundaries[rng.below(boundaries.len())];
                match rng.below(5) {
                    0 => mutated.insert_str(at, specials[rng.below(specials.len())]),
                    1 => {
                        if let Some(&end) = boundaries.iter().find(|&&b| b > at) {
                            mutated.replace_range(at..end, "");
                        }
                    }
                    2 => {
                        if let Some(&end) = boundaries.iter().find(|&&b| b > at) {
                            mutated.replace_range(at..end, specials[rng.below(specials.len())]);
                        }
                    }
                    3 => {
                        // Re-indent one line.
                        let lines: Vec<&str> = text.split('\n').collect();
                        let n = rng.below(lines.len());
                        let spaces = " ".repeat(rng.below(6));
                        mutated = lines
                            .iter()
                            .enumerate()
                            .map(|(i, l)| {
                                if i == n {
                                    format!("{spaces}{}", l.trim_start())
                                } else {
                                    (*l).to_owned()
                                }
                            })
                            .collect::<Vec<_>>()
                            .join("\n");
                    }
                    _ => {
                        // Repeat one line (duplicate keys).
                        let lines: Vec<&str> = text.split('\n').collect();
                        let n = rng.below(lines.len());
                        let mut out: Vec<&str> = lines.clone();
                        out.insert(n, lines[n]);
                        mutated = out.join("\n");
                    }
                }
                total += 1;
                accepted += usize::from(same(&mutated));
            }
        }
        // The fast path must still be used on a good share of them, or the test proves little.
        assert!(
            accepted * 10 > total,
            "fast path took only {accepted} of {total} documents"
        );
        eprintln!("fast path took {accepted} of {total} documents; all agreed");
    }

    #[test]
    fn declines_what_it_does_not_know() {
        for text in [
            "a: [1, 2]\n",
            "a:\n- b\n",
            "a: &x b\n",
            "a: !!str b\n",
            "a: |\n  b\n",
            "a: \"b\\n\"\n",
            "a: b\n  c\n",
            "a: b\r\n",
            "a:\tb\n",
            "---\na: b\n",
            "  a: b\n",
            "a: é\n",
            "a b: c\n",
            "a: b: c\n",
            "# only a comment\n",
            "",
        ] {
            assert!(parse(text, 100).is_none(), "accepted {text:?}");
            same(text);
        }
        assert!(parse("a: b\nc: d\ne: f\n", 2).is_none(), "node limit");
    }
}
