//! Hardened YAML loading into a spanned node tree.
//!
//! Every node keeps its [`Span`], every scalar keeps its text as written (`3.10` stays
//! `3.10`, never the float 3.1) and mappings keep their keys in order, duplicates included,
//! so that later stages can point at the exact place of a problem. The loader bounds what a
//! hostile file can cost: its size, its nesting depth, and the number of nodes aliases may
//! expand to (an alias bomb stops at the limit instead of eating memory).
//!
//! [`edit`] changes one scalar of a file and no other byte of it (comments, quoting, order and
//! flow style kept), for `imagesmith bump`.
#![deny(missing_docs)]

use imagesmith_diagnostics::{Code, Diagnostic, Diagnostics, Position, SourceFile, Span};
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};
use std::collections::HashMap;
use std::sync::Arc;

pub mod edit;
pub mod file;
mod simple;

pub use file::{open_regular, read_regular, FileKind, ReadError};

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Plain, unquoted: `3.10`, `true`, `~`.
    Plain,
    /// Single or double quoted.
    Quoted,
    /// A `|` or `>` block.
    Block,
}

/// A scalar: its text exactly as written, and how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    /// The text, after YAML unescaping and folding, never converted to a number.
    pub value: String,
    /// The style it was written in.
    pub style: Style,
    /// An explicit tag such as `!!str`, if any.
    pub tag: Option<String>,
}

impl Scalar {
    /// Whether this is a YAML null (`~`, `null`, or nothing at all, unquoted).
    pub fn is_null(&self) -> bool {
        self.style == Style::Plain
            && self.tag.is_none()
            && matches!(self.value.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }

    /// The boolean this plain scalar spells, if it spells one (YAML 1.2 core schema).
    pub fn as_bool(&self) -> Option<bool> {
        if self.style != Style::Plain {
            return None;
        }
        match self.value.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        }
    }
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A scalar.
    Scalar(Scalar),
    /// A sequence.
    Sequence(Vec<Node>),
    /// A mapping, keys in document order (duplicates are kept and reported).
    Mapping(Vec<(Node, Node)>),
}

/// A YAML node and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The content.
    pub kind: NodeKind,
    /// Where it is in the file.
    pub span: Span,
}

impl Node {
    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        self.as_scalar().map(|s| s.value.as_str())
    }

    /// The entries, if this is a mapping.
    pub fn as_mapping(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Mapping(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this is a sequence.
    pub fn as_sequence(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Sequence(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a YAML null.
    pub fn is_null(&self) -> bool {
        self.as_scalar().is_some_and(Scalar::is_null)
    }

    /// The value of `key` in this mapping (the first, if the key is duplicated).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.get_entry(key).map(|(_, v)| v)
    }

    /// The key node and value node of `key` in this mapping.
    pub fn get_entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_mapping()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, v)| (k, v))
    }

    /// A short name of the node's type, for messages: `a mapping`, `a list`, `text`.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(s) if s.is_null() => "nothing (null)",
            NodeKind::Scalar(s) if s.as_bool().is_some() => "a boolean",
            NodeKind::Scalar(_) => "a scalar",
            NodeKind::Sequence(_) => "a list",
            NodeKind::Mapping(_) => "a mapping",
        }
    }
}

/// Limits on what one file may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest file accepted, in bytes.
    pub max_bytes: usize,
    /// The deepest nesting accepted.
    pub max_depth: usize,
    /// The most nodes a document may hold once aliases are expanded.
    pub max_nodes: usize,
}

impl Limits {
    /// Limits for documents users write: 1 MiB, 64 levels, 100,000 nodes.
    pub const DEFAULT: Limits = Limits {
        max_bytes: 1024 * 1024,
        max_depth: 64,
        max_nodes: 100_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// A loaded file: its source, its root node when it could be read, and the problems found.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file, for snippets in diagnostics.
    pub source: SourceFile,
    /// The document, or `None` when the file is not YAML that could be read.
    pub root: Option<Node>,
    /// Syntax errors, duplicate keys, limits hit.
    pub diagnostics: Diagnostics,
}

/// Loads a file's bytes. Invalid UTF-8 and oversized files are reported, never a panic.
pub fn load_bytes(name: impl Into<Arc<str>>, bytes: &[u8], limits: Limits) -> Loaded {
    let name: Arc<str> = name.into();
    if bytes.len() > limits.max_bytes {
        return too_large(name, bytes.len(), limits);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => load_str(name, text, limits),
        Err(error) => {
            let valid = &bytes[..error.valid_up_to()];
            // The prefix is valid UTF-8 by construction.
            let text = String::from_utf8_lossy(bytes).into_owned();
            let source = SourceFile::new(name.clone(), text);
            let prefix = std::str::from_utf8(valid).unwrap_or("");
            let position = source.position_of_offset(prefix.len());
            let mut diagnostics = Diagnostics::new();
            diagnostics.push(
                Diagnostic::error(
                    &name,
                    Some(Span::point(position)),
                    Code::InvalidUtf8,
                    format!("File is not valid UTF-8 (byte {} is invalid)", valid.len()),
                )
                .with_hint("save the file as UTF-8"),
            );
            Loaded {
                source,
                root: None,
                diagnostics,
            }
        }
    }
}

/// The diagnostic for a file over the size limit; reading stops before the content.
pub fn too_large(name: Arc<str>, size: usize, limits: Limits) -> Loaded {
    let mut diagnostics = Diagnostics::new();
    diagnostics.push(
        Diagnostic::error(
            &name,
            None,
            Code::FileTooLarge,
            format!(
                "File is {} bytes, larger than the limit of {} bytes",
                size, limits.max_bytes
            ),
        )
        .with_hint("a spec lists components and versions; split generated content out of it"),
    );
    Loaded {
        source: SourceFile::new(name, ""),
        root: None,
        diagnostics,
    }
}

/// Loads YAML text.
pub fn load_str(name: impl Into<Arc<str>>, text: &str, limits: Limits) -> Loaded {
    load_with(name.into(), text, limits, true)
}

/// Loads YAML text, trying the fast path for simple documents first when `fast` is set.
fn load_with(name: Arc<str>, text: &str, limits: Limits, fast: bool) -> Loaded {
    let source = SourceFile::new(name.clone(), text);
    if text.len() > limits.max_bytes {
        return too_large(name, text.len(), limits);
    }
    let mut builder = Builder {
        source: &source,
        name: &name,
        limits,
        diagnostics: Diagnostics::new(),
        anchors: HashMap::new(),
        nodes: 0,
        fast,
    };
    let root = builder.run(text);
    Loaded {
        diagnostics: builder.diagnostics,
        root,
        source,
    }
}

enum Frame {
    Sequence {
        start: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    Mapping {
        start: Span,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
}

struct Builder<'a> {
    source: &'a SourceFile,
    name: &'a Arc<str>,
    limits: Limits,
    diagnostics: Diagnostics,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    /// Whether to try [`simple::parse`] before the general parser.
    fast: bool,
}

/// Why building stopped early.
enum Stop {
    Syntax(ScanError),
    Limit,
}

impl Builder<'_> {
    fn span(&self, span: saphyr_parser::Span) -> Span {
        Span::new(self.marker(span.start), self.marker(span.end))
    }

    /// The position of a parser marker. The parser does not count a byte-order mark in the
    /// first line's columns, but it is three bytes of the text: the offset steps over it, the
    /// column stays the one editors show.
    fn marker(&self, marker: saphyr_parser::Marker) -> Position {
        let bom = marker.line() == 1 && self.source.text.starts_with('\u{FEFF}');
        if !bom {
            return self.source.position(marker.line(), marker.col());
        }
        let mut position = self.source.position(1, marker.col() + 1);
        position.column -= 1;
        position
    }

    fn run(&mut self, text: &str) -> Option<Node> {
        if let Some(root) = self
            .fast
            .then(|| simple::parse(text, self.limits.max_nodes))
            .flatten()
        {
            self.check_all_duplicates(&root);
            return Some(root);
        }
        match self.build(text) {
            Ok(root) => root,
            Err(Stop::Limit) => None,
            Err(Stop::Syntax(error)) => {
                self.syntax_error(&error);
                None
            }
        }
    }

    /// The span of a quoted scalar ends at its closing quote (the parser's may run on).
    fn quoted_span(&self, span: Span, style: ScalarStyle) -> Span {
        if !matches!(style, ScalarStyle::DoubleQuoted | ScalarStyle::SingleQuoted) {
            return span;
        }
        match quoted_end(self.source.text.as_bytes(), span.start.offset) {
            Some(end) => Span::new(span.start, self.source.position_of_offset(end)),
            None => span,
        }
    }

    fn syntax_error(&mut self, error: &ScanError) {
        let marker = error.marker();
        let position = self.marker(*marker);
        let line_text = self
            .source
            .text
            .lines()
            .nth(marker.line().saturating_sub(1))
            .unwrap_or("");
        let info = error.info();
        let (message, hint) = if line_text.starts_with('\t')
            || line_text.trim_start_matches(' ').starts_with('\t')
            || info.contains("tab")
        {
            (
                "Tab character used for indentation".to_string(),
                Some("YAML indents with spaces only; replace the tabs with spaces".to_string()),
            )
        } else {
            (
                format!("Invalid YAML: {}", capitalise(info)),
                Some("check the indentation and quoting around this line".to_string()),
            )
        };
        self.diagnostics.push(
            Diagnostic::error(
                self.name,
                Some(Span::point(position)),
                Code::YamlSyntax,
                message,
            )
            .with_hint_opt(hint),
        );
    }

    fn count(&mut self, n: usize, span: Span) -> Result<(), Stop> {
        self.nodes += n;
        if self.nodes > self.limits.max_nodes {
            self.diagnostics.push(
                Diagnostic::error(
                    self.name,
                    Some(span),
                    Code::YamlTooManyNodes,
                    format!(
                        "Document expands to more than {} nodes",
                        self.limits.max_nodes
                    ),
                )
                .with_hint(
                    "this is what an alias bomb looks like; remove the repeated aliases (`*name`)",
                ),
            );
            return Err(Stop::Limit);
        }
        Ok(())
    }

    fn build(&mut self, text: &str) -> Result<Option<Node>, Stop> {
        let mut parser = Parser::new_from_str(text);
        let mut stack: Vec<Frame> = Vec::new();
        let mut root: Option<Node> = None;
        let mut documents = 0usize;
        while let Some(event) = parser.next_event() {
            let (event, raw_span) = event.map_err(Stop::Syntax)?;
            let span = self.span(raw_span);
            let node = match event {
                Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => {
                    continue
                }
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        self.diagnostics.push(
                            Diagnostic::error(
                                self.name,
                                Some(span),
                                Code::YamlMultipleDocuments,
                                "File holds more than one YAML document",
                            )
                            .with_hint("put each document in its own file"),
                        );
                        return Ok(root);
                    }
                    continue;
                }
                Event::Alias(id) => {
                    let Some((node, count)) = self.anchors.get(&id).cloned() else {
                        self.diagnostics.push(Diagnostic::error(
                            self.name,
                            Some(span),
                            Code::YamlSyntax,
                            "Alias refers to an unknown anchor",
                        ));
                        return Err(Stop::Limit);
                    };
                    self.count(count, span)?;
                    Node {
                        kind: node.kind,
                        span,
                    }
                }
                Event::Scalar(value, style, anchor, tag) => {
                    self.count(1, span)?;
                    let span = self.quoted_span(span, style);
                    let tag = tag.map(|t| short_tag(&t.handle, &t.suffix));
                    if let Some(tag) = &tag {
                        if !matches!(
                            tag.as_str(),
                            "!!str" | "tag:yaml.org,2002:str" | "!" | "!!null"
                        ) {
                            self.diagnostics.push(
                                Diagnostic::error(
                                    self.name,
                                    Some(span),
                                    Code::YamlUnsupportedTag,
                                    format!("Tag `{tag}` is not supported"),
                                )
                                .with_hint("remove the tag; quote the value to make it text"),
                            );
                        }
                    }
                    let node = Node {
                        kind: NodeKind::Scalar(Scalar {
                            value: value.into_owned(),
                            style: match style {
                                ScalarStyle::Plain => Style::Plain,
                                ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                                    Style::Quoted
                                }
                                _ => Style::Block,
                            },
                            tag,
                        }),
                        span,
                    };
                    if anchor > 0 {
                        self.anchors.insert(anchor, (node.clone(), 1));
                    }
                    node
                }
                Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                    self.count(1, span)?;
                    if stack.len() >= self.limits.max_depth {
                        self.diagnostics.push(
                            Diagnostic::error(
                                self.name,
                                Some(span),
                                Code::YamlTooDeep,
                                format!(
                                    "Document nests deeper than {} levels",
                                    self.limits.max_depth
                                ),
                            )
                            .with_hint("flatten the document"),
                        );
                        return Err(Stop::Limit);
                    }
                    if let Some(tag) = tag {
                        let tag = short_tag(&tag.handle, &tag.suffix);
                        if !matches!(tag.as_str(), "!!map" | "!!seq") {
                            self.diagnostics.push(
                                Diagnostic::error(
                                    self.name,
                                    Some(span),
                                    Code::YamlUnsupportedTag,
                                    format!("Tag `{tag}` is not supported"),
                                )
                                .with_hint("remove the tag"),
                            );
                        }
                    }
                    let is_sequence = matches!(event, Event::SequenceStart(..));
                    stack.push(if is_sequence {
                        Frame::Sequence {
                            start: span,
                            anchor,
                            items: Vec::new(),
                        }
                    } else {
                        Frame::Mapping {
                            start: span,
                            anchor,
                            entries: Vec::new(),
                            pending_key: None,
                        }
                    });
                    continue;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(frame) = stack.pop() else { continue };
                    let (node, anchor) = match frame {
                        Frame::Sequence {
                            start,
                            anchor,
                            items,
                        } => {
                            let end = items.last().map_or(span.end, |n| n.span.end);
                            (
                                Node {
                                    kind: NodeKind::Sequence(items),
                                    span: Span::new(start.start, end),
                                },
                                anchor,
                            )
                        }
                        Frame::Mapping {
                            start,
                            anchor,
                            entries,
                            ..
                        } => {
                            self.check_duplicates(&entries);
                            let end = entries.last().map_or(span.end, |(_, v)| v.span.end);
                            (
                                Node {
                                    kind: NodeKind::Mapping(entries),
                                    span: Span::new(start.start, end),
                                },
                                anchor,
                            )
                        }
                    };
                    if anchor > 0 {
                        let count = count_nodes(&node);
                        self.anchors.insert(anchor, (node.clone(), count));
                    }
                    node
                }
            };
            // Attach the finished node to its parent, or make it the root.
            match stack.last_mut() {
                None => root = Some(node),
                Some(Frame::Sequence { items, .. }) => items.push(node),
                Some(Frame::Mapping {
                    entries,
                    pending_key,
                    ..
                }) => match pending_key.take() {
                    None => {
                        if !matches!(node.kind, NodeKind::Scalar(_)) {
                            self.diagnostics.push(
                                Diagnostic::error(
                                    self.name,
                                    Some(node.span),
                                    Code::YamlComplexKey,
                                    "Mapping key is not a scalar",
                                )
                                .with_hint("keys must be plain names"),
                            );
                        }
                        *pending_key = Some(node);
                    }
                    Some(key) => entries.push((key, node)),
                },
            }
        }
        if root.is_none() {
            // An empty file: a null document.
            root = Some(Node {
                kind: NodeKind::Scalar(Scalar {
                    value: String::new(),
                    style: Style::Plain,
                    tag: None,
                }),
                span: Span::point(self.source.position(1, 0)),
            });
        }
        Ok(root)
    }

    /// Reports duplicate keys of every mapping in `node`, inner mappings first (the order in
    /// which the general path finishes them).
    fn check_all_duplicates(&mut self, node: &Node) {
        match &node.kind {
            NodeKind::Scalar(_) => {}
            NodeKind::Sequence(items) => items.iter().for_each(|n| self.check_all_duplicates(n)),
            NodeKind::Mapping(entries) => {
                for (key, value) in entries {
                    self.check_all_duplicates(key);
                    self.check_all_duplicates(value);
                }
                self.check_duplicates(entries);
            }
        }
    }

    fn check_duplicates(&mut self, entries: &[(Node, Node)]) {
        if entries.len() < 2 {
            return;
        }
        // Documents' mappings are small: comparing each key with the ones before it costs less
        // than hashing them; a large mapping gets a map.
        let mut seen: HashMap<&str, &Node> = HashMap::new();
        let small = entries.len() <= 32;
        for (index, (key, _)) in entries.iter().enumerate() {
            let Some(text) = key.as_str() else { continue };
            let first = if small {
                entries[..index]
                    .iter()
                    .map(|(k, _)| k)
                    .find(|k| k.as_str() == Some(text))
            } else {
                seen.get(text).copied()
            };
            if let Some(first) = first {
                self.diagnostics.push(
                    Diagnostic::error(
                        self.name,
                        Some(key.span),
                        Code::DuplicateKey,
                        format!(
                            "Key `{text}` appears twice (first at line {})",
                            first.span.start.line
                        ),
                    )
                    .with_hint("remove one of the two; YAML keeps only one of them"),
                );
            } else if !small {
                seen.insert(text, key);
            }
        }
    }
}

/// One past the closing quote of the quoted scalar whose opening quote is at `start`, or
/// `None` when there is no quote there or it is never closed.
pub(crate) fn quoted_end(bytes: &[u8], start: usize) -> Option<usize> {
    let quote = *bytes.get(start)?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// A tag as users write it: `!!str`, not `tag:yaml.org,2002:str`.
fn short_tag(handle: &str, suffix: &str) -> String {
    match handle {
        "tag:yaml.org,2002:" => format!("!!{suffix}"),
        _ => format!("{handle}{suffix}"),
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar(_) => 1,
        NodeKind::Sequence(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeKind::Mapping(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Loaded {
        load_str("t.yaml", text, Limits::DEFAULT)
    }

    #[test]
    fn keeps_version_text() {
        let l = load("components:\n  python: 3.10\n  java: 21\n");
        assert!(l.diagnostics.is_empty());
        let root = l.root.unwrap();
        let components = root.get("components").unwrap();
        assert_eq!(components.get("python").unwrap().as_str(), Some("3.10"));
        assert_eq!(components.get("java").unwrap().as_str(), Some("21"));
        let python = components.get("python").unwrap();
        assert_eq!(python.span.start.line, 2);
        assert_eq!(python.span.start.column, 11);
    }

    #[test]
    fn reports_duplicate_keys_with_both_lines() {
        let l = load("a: 1\nb: 2\na: 3\n");
        let d: Vec<_> = l.diagnostics.iter().collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::DuplicateKey);
        assert_eq!(d[0].line(), 3);
        assert!(d[0].message.contains("line 1"));
    }

    #[test]
    fn alias_bomb_stops_at_the_limit() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
                p = i - 1
            ));
        }
        let l = load(&text);
        assert!(l.root.is_none());
        assert_eq!(
            l.diagnostics.iter().next().unwrap().code,
            Code::YamlTooManyNodes
        );
    }

    #[test]
    fn tabs_get_a_hint() {
        let l = load("components:\n\tpython: 3.10\n");
        let d = l.diagnostics.iter().next().unwrap();
        assert_eq!(d.code, Code::YamlSyntax);
        assert_eq!(d.line(), 2);
        assert!(d.message.contains("Tab"), "{}", d.message);
    }

    #[test]
    fn invalid_utf8_is_located() {
        let l = load_bytes("t.yaml", b"a: 1\nb: \xff\n", Limits::DEFAULT);
        let d = l.diagnostics.iter().next().unwrap();
        assert_eq!(d.code, Code::InvalidUtf8);
        assert_eq!(d.line(), 2);
    }

    #[test]
    fn too_large_is_rejected_before_parsing() {
        let l = load_bytes("t.yaml", &vec![b'a'; 2 * 1024 * 1024], Limits::DEFAULT);
        assert_eq!(
            l.diagnostics.iter().next().unwrap().code,
            Code::FileTooLarge
        );
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = "[".repeat(200) + &"]".repeat(200);
        let l = load(&text);
        assert_eq!(l.diagnostics.iter().next().unwrap().code, Code::YamlTooDeep);
    }

    #[test]
    fn spans_step_over_a_byte_order_mark() {
        let l = load("\u{feff}terraform: 1.6.6\nx: 'y'\n");
        let root = l.root.unwrap();
        let value = root.get("terraform").unwrap();
        assert_eq!(value.span.start.offset, 14);
        assert_eq!(value.span.end.offset, 19);
        assert_eq!((value.span.start.line, value.span.start.column), (1, 12));
        assert_eq!(root.get("x").unwrap().span.start.offset, 23);
    }

    #[test]
    fn empty_file_is_null() {
        let l = load("");
        assert!(l.root.unwrap().is_null());
    }
}
