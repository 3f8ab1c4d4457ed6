//! Changing one scalar of a YAML file and no other byte of it.
//!
//! `imagesmith bump terraform 1.7.0` edits the one line that decides a version. Serialising
//! the tree again would lose the comments, the quoting, the order and the flow style the user
//! chose, so these functions splice new text into the original instead: [`replace_scalar`]
//! rewrites the bytes of one value, [`set_scalar`] does the same or inserts the missing key in
//! the style of the mapping it goes into, and [`locate`] says where a value is.
//!
//! ```
//! use imagesmith_yaml::edit::replace_scalar;
//!
//! let text = "defaults:\n  terraform: 1.6.6  # pinned for the provider\n";
//! let edited = replace_scalar(text, &["defaults", "terraform"], "1.7.0").unwrap();
//! assert_eq!(edited.text, "defaults:\n  terraform: 1.7.0  # pinned for the provider\n");
//! assert_eq!((edited.line, edited.column), (2, 14));
//! assert_eq!(edited.previous.as_deref(), Some("1.6.6"));
//! ```
//!
//! The new value keeps the old one's quoting: a plain value stays plain when the new text
//! reads back as the same text in that place (otherwise it is double-quoted), a single-quoted
//! one stays single-quoted, a double-quoted one double-quoted. What cannot be edited safely is
//! refused with an [`EditError`]: files that are not one valid YAML document, duplicate keys,
//! anchors, aliases or tags on the way to the value, block scalars (`|`, `>`), and values that
//! are mappings or lists. Every edit is checked before it is returned: the result is loaded
//! again and must hold the new value at the path and every other key and value unchanged.
//!
//! Written here rather than taken from a crate: the lossless YAML editors there (`yaml-edit`,
//! on rowan) are a second parser with their own reading of YAML and their own list of known
//! edit failures, while a bump must change what *this* crate's loader reads and nothing else.
//! Splicing at the spans of the parser the loader uses, and checking the result with the
//! loader, keeps one reading of the file, with no new dependency.

use crate::{load_str, Limits, Node, NodeKind, Scalar, Style};
use imagesmith_diagnostics::{Code, Position, SourceFile, Span};
use saphyr_parser::{Event, Parser, ScalarStyle};

/// The result of an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The whole new text of the file.
    pub text: String,
    /// Where the new value is in [`Edited::text`], quotes included.
    pub span: Span,
    /// The 1-based line of the new value.
    pub line: usize,
    /// The 1-based column of the new value, in characters.
    pub column: usize,
    /// The value before the edit, `None` when the key was missing or its value was null.
    pub previous: Option<String>,
}

/// Why an edit was refused. Every variant names the path it was asked for, as
/// `defaults.terraform`; the caller adds the file's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The path has no keys.
    #[error("No key given to edit")]
    EmptyPath,
    /// The text is not valid YAML (or hits a loader limit); the loader's first error.
    #[error("Cannot edit `{path}`: invalid YAML at line {line}: {message}")]
    Invalid {
        /// The path asked for.
        path: String,
        /// The line of the loader's first error.
        line: u32,
        /// The loader's message.
        message: String,
    },
    /// The file holds more than one document.
    #[error("Cannot edit `{path}`: the file holds more than one YAML document")]
    MultipleDocuments {
        /// The path asked for.
        path: String,
    },
    /// A mapping of the file has the same key twice, so which one counts is unclear.
    #[error("Cannot edit `{path}`: {message} (line {line})")]
    DuplicateKey {
        /// The path asked for.
        path: String,
        /// The line of the second key.
        line: u32,
        /// The loader's message, naming the key and both lines.
        message: String,
    },
    /// The key is not in the file ([`replace_scalar`] only).
    #[error("No `{path}` in the file")]
    NotFound {
        /// The path asked for.
        path: String,
    },
    /// A step of the path is not a mapping.
    #[error("`{at}` is {found}, not a mapping, so it has no `{path}`")]
    NotAMapping {
        /// The path asked for.
        path: String,
        /// The part of the path that is not a mapping (`the document` for the root).
        at: String,
        /// What it is: `a list`, `a scalar`, ...
        found: &'static str,
    },
    /// The value at the path is a mapping or a list.
    #[error("`{path}` is {found}, not a single value")]
    NotAScalar {
        /// The path asked for.
        path: String,
        /// What it is.
        found: &'static str,
    },
    /// The value is a `|` or `>` block scalar.
    #[error("`{path}` is a block scalar (`|` or `>`), which is not edited in place")]
    BlockScalar {
        /// The path asked for.
        path: String,
    },
    /// An anchor (`&name`) or alias (`*name`) is at or above the value: editing it would
    /// change other places of the file too.
    #[error("`{path}` goes through an anchor or alias at `{at}`")]
    Alias {
        /// The path asked for.
        path: String,
        /// Where the anchor or alias is.
        at: String,
    },
    /// A tag (`!!str`, `!custom`) is at or above the value.
    #[error("`{path}` has a tag at `{at}`")]
    Tagged {
        /// The path asked for.
        path: String,
        /// Where the tag is.
        at: String,
    },
    /// The place of the value could not be told (an explicit `? key`, a key without `:`).
    #[error("Cannot tell where the value of `{path}` goes")]
    NoPlace {
        /// The path asked for.
        path: String,
    },
    /// The edit would have changed more than the value, or not the value; nothing is written.
    #[error("Editing `{path}` would change more than its value: {detail}")]
    Unverified {
        /// The path asked for.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

impl EditError {
    /// How to fix it, for a `hint:` line.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            EditError::EmptyPath => return None,
            EditError::Invalid { .. } => "fix the file first; `imagesmith validate` shows where",
            EditError::MultipleDocuments { .. } => "put each document in its own file",
            EditError::DuplicateKey { .. } => "remove one of the two keys",
            EditError::NotFound { .. } => "check the spelling of the key, or add it",
            EditError::NotAMapping { .. } | EditError::NotAScalar { .. } => {
                "name a key whose value is a single value such as `1.6.6`"
            }
            EditError::BlockScalar { .. } => "write the value on one line, then edit it",
            EditError::Alias { .. } => "write the value out instead of `&anchor`/`*alias`",
            EditError::Tagged { .. } => "remove the tag; quote the value to make it text",
            EditError::NoPlace { .. } => "write the key as `key: value`",
            EditError::Unverified { .. } => "edit the file by hand",
        })
    }
}

/// Replaces the scalar at `path` (mapping keys from the root) with `value`, changing only the
/// bytes of that value.
///
/// A null value (`terraform:` or `terraform: ~`) is replaced in place: `terraform:` becomes
/// `terraform: 1.7.0`, keeping what follows on the line.
pub fn replace_scalar(text: &str, path: &[&str], value: &str) -> Result<Edited, EditError> {
    edit(text, path, value, false)
}

/// As [`replace_scalar`] when the key exists; otherwise inserts `key: value` into the mapping
/// at `path[..n-1]`, creating missing parent mappings, in that mapping's style.
///
/// In a block mapping the new key goes on a new line after the last entry (before comment
/// lines that follow it), indented as its siblings; in a flow mapping `, key: value` goes
/// after the last entry; a missing top-level key is appended at the end of the document
/// (after a line break, added if the file does not end with one). A missing parent under a
/// key with no value (`defaults:`) is opened as an indented block; under an explicit null
/// (`defaults: ~`) the null becomes a flow mapping (`defaults: {terraform: 1.7.0}`).
pub fn set_scalar(text: &str, path: &[&str], value: &str) -> Result<Edited, EditError> {
    edit(text, path, value, true)
}

/// Where the value at `path` starts, as a 1-based line and character column, for messages
/// such as `imagesmith.yaml:41`; for a key with no value, where the key starts. `None` when
/// the text is not valid YAML or has no scalar, mapping or list at `path`.
pub fn locate(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    if path.is_empty() || text.len() > Limits::DEFAULT.max_bytes {
        return None;
    }
    let document = Document::read(text).ok()?;
    let mut node = &document.root;
    let mut key = None;
    for step in path {
        let (k, v) = node.entry(step)?;
        key = Some(k);
        node = v;
    }
    let offset = match (&node.kind, key) {
        (Kind::Scalar { .. }, Some(key)) if node.is_empty_null() => key.start,
        _ => node.start,
    };
    let position = position_in(&SourceFile::new("", text), offset);
    Some((position.line as usize, position.column as usize))
}

/// The position of a byte offset, its column counted as editors and the parser count it: a
/// byte-order mark at the start of the file takes no column.
fn position_in(source: &SourceFile, offset: usize) -> Position {
    let mut position = source.position_of_offset(offset);
    if position.line == 1 && offset > 0 && source.text.starts_with('\u{FEFF}') {
        position.column -= 1;
    }
    position
}

fn edit(text: &str, path: &[&str], value: &str, insert: bool) -> Result<Edited, EditError> {
    if path.is_empty() {
        return Err(EditError::EmptyPath);
    }
    let shown = path.join(".");
    let before = checked_load(text, &shown)?;
    let document = Document::read(text).map_err(|message| EditError::Invalid {
        path: shown.clone(),
        line: 1,
        message,
    })?;
    let target = find(&document.root, path, &shown)?;
    // New lines end as the file's lines do.
    let newline = if text.contains("\r\n") {
        "\r\n"
    } else if !text.contains('\n') && text.contains('\r') {
        "\r"
    } else {
        "\n"
    };
    let mut last_error = None;
    for candidate in plan(text, &target, path, value, insert, newline, &shown)? {
        let mut after = String::with_capacity(text.len() + candidate.insert.len());
        after.push_str(&text[..candidate.start]);
        after.push_str(&candidate.insert);
        after.push_str(&text[candidate.end..]);
        match verify(&before, &after, path, value, &candidate, &shown) {
            Ok(()) => {
                let source = SourceFile::new("", after.as_str());
                let start = candidate.start + candidate.value.start;
                let end = candidate.start + candidate.value.end;
                let span = Span::new(position_in(&source, start), position_in(&source, end));
                return Ok(Edited {
                    line: span.start.line as usize,
                    column: span.start.column as usize,
                    span,
                    text: after,
                    previous: target.previous(),
                });
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or(EditError::Unverified {
        path: shown,
        detail: "no way to write the value was found".to_string(),
    }))
}

/// Loads `text` with the crate's loader, turning its first error into an [`EditError`].
fn checked_load(text: &str, shown: &str) -> Result<Node, EditError> {
    let loaded = load_str("edit.yaml", text, Limits::DEFAULT);
    if let Some(first) = loaded.diagnostics.iter().find(|d| d.is_error()) {
        let path = shown.to_string();
        return Err(match first.code {
            Code::YamlMultipleDocuments => EditError::MultipleDocuments { path },
            Code::DuplicateKey => EditError::DuplicateKey {
                path,
                line: first.line(),
                message: first.message.clone(),
            },
            _ => EditError::Invalid {
                path,
                line: first.line(),
                message: first.message.clone(),
            },
        });
    }
    loaded.root.ok_or_else(|| EditError::Invalid {
        path: shown.to_string(),
        line: 1,
        message: "File could not be read".to_string(),
    })
}

// ---------------------------------------------------------------------------------------
// The document as the parser's events give it: byte offsets, anchors, tags, flow or block.
// The loader's tree has no anchors and no end of a flow collection, both of which an edit
// needs, so this walks the events a second time.

#[derive(Debug)]
struct Located {
    kind: Kind,
    /// Byte offset of the first byte (of the anchor or tag, when there is one).
    start: usize,
    /// Byte offset one past the last byte: a quoted scalar's closing quote, a flow
    /// collection's closing bracket, a block collection's last entry.
    end: usize,
    /// Whether it carries an anchor or is an alias.
    aliased: bool,
    /// Whether it carries a tag.
    tagged: bool,
}

#[derive(Debug)]
enum Kind {
    Scalar {
        value: String,
        style: ScalarStyle,
    },
    Sequence,
    Mapping {
        entries: Vec<(Located, Located)>,
        flow: bool,
    },
}

impl Located {
    fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, style: ScalarStyle::Plain }
            if !self.tagged && !self.aliased && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A null written as nothing at all (`key:`); its span is no guide to where it is.
    fn is_empty_null(&self) -> bool {
        self.is_null() && matches!(&self.kind, Kind::Scalar { value, .. } if value.is_empty())
    }

    fn entry(&self, key: &str) -> Option<(&Located, &Located)> {
        match &self.kind {
            Kind::Mapping { entries, .. } => entries
                .iter()
                .find(|(k, _)| matches!(&k.kind, Kind::Scalar { value, .. } if value == key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    fn type_name(&self) -> &'static str {
        match &self.kind {
            _ if self.is_null() => "nothing (null)",
            Kind::Scalar {
                style: ScalarStyle::Plain,
                value,
                ..
            } if matches!(
                value.as_str(),
                "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
            ) =>
            {
                "a boolean"
            }
            Kind::Scalar { .. } => "a scalar",
            Kind::Sequence => "a list",
            Kind::Mapping { .. } => "a mapping",
        }
    }
}

struct Document {
    root: Located,
}

enum Open {
    Sequence {
        start: usize,
        aliased: bool,
        tagged: bool,
        last_end: Option<usize>,
    },
    Mapping {
        start: usize,
        aliased: bool,
        tagged: bool,
        flow: bool,
        entries: Vec<(Located, Located)>,
        key: Option<Located>,
    },
}

impl Document {
    /// Walks the events of `text`. Edits call it on text the loader has accepted; for
    /// [`locate`] it bounds the nesting itself and refuses a second document.
    fn read(text: &str) -> Result<Document, String> {
        // The parser counts characters; edits need bytes.
        let offsets: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(text.len()))
            .collect();
        let byte = |index: usize| offsets.get(index).copied().unwrap_or(text.len());
        let bytes = text.as_bytes();
        let mut parser = Parser::new_from_str(text);
        let mut stack: Vec<Open> = Vec::new();
        let mut root = None;
        let mut documents = 0usize;
        while let Some(event) = parser.next_event() {
            let (event, span) = event.map_err(|e| e.to_string())?;
            if stack.len() > Limits::DEFAULT.max_depth {
                return Err("Document nests too deep".to_string());
            }
            let start = byte(span.start.index());
            let end = byte(span.end.index());
            let node = match event {
                Event::Scalar(value, style, anchor, tag) => {
                    let end = match style {
                        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                            // After an anchor or tag the quote is further on; such scalars are
                            // refused anyway, so their end need not be exact.
                            crate::quoted_end(bytes, start).unwrap_or(end)
                        }
                        // A block scalar's span runs to the next token, past the indentation
                        // of the line holding it: it ends where that line starts.
                        ScalarStyle::Literal | ScalarStyle::Folded => {
                            let indentation = bytes[..end]
                                .iter()
                                .rev()
                                .take_while(|&&b| b == b' ')
                                .count();
                            let line_start = end - indentation;
                            if line_start > 0 && matches!(bytes[line_start - 1], b'\n' | b'\r') {
                                line_start
                            } else {
                                end
                            }
                        }
                        _ => end,
                    };
                    Located {
                        kind: Kind::Scalar {
                            value: value.into_owned(),
                            style,
                        },
                        start,
                        end,
                        aliased: anchor > 0,
                        tagged: tag.is_some(),
                    }
                }
                Event::Alias(_) => Located {
                    kind: Kind::Scalar {
                        value: String::new(),
                        style: ScalarStyle::Plain,
                    },
                    start,
                    end,
                    aliased: true,
                    tagged: false,
                },
                Event::SequenceStart(anchor, tag) => {
                    stack.push(Open::Sequence {
                        start,
                        aliased: anchor > 0,
                        tagged: tag.is_some(),
                        last_end: None,
                    });
                    continue;
                }
                Event::MappingStart(anchor, tag) => {
                    stack.push(Open::Mapping {
                        start,
                        aliased: anchor > 0,
                        tagged: tag.is_some(),
                        flow: bytes.get(end.saturating_sub(1)) == Some(&b'{') && end > start,
                        entries: Vec::new(),
                        key: None,
                    });
                    continue;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(open) = stack.pop() else { continue };
                    // A flow collection ends at its closing bracket (the event's span may run
                    // on past it), a block one at its last entry (its end event sits at the
                    // next token, lines further on).
                    let is_flow = matches!(bytes.get(start), Some(b'}') | Some(b']'));
                    let end = start + 1;
                    match open {
                        Open::Sequence {
                            start: first,
                            aliased,
                            tagged,
                            last_end,
                        } => Located {
                            kind: Kind::Sequence,
                            start: first,
                            end: if is_flow {
                                end
                            } else {
                                last_end.unwrap_or(first)
                            },
                            aliased,
                            tagged,
                        },
                        Open::Mapping {
                            start: first,
                            aliased,
                            tagged,
                            flow,
                            entries,
                            ..
                        } => {
                            let last = entries
                                .last()
                                .map_or(first, |(k, v)| entry_end(bytes, k, v));
                            Located {
                                kind: Kind::Mapping { entries, flow },
                                start: first,
                                end: if is_flow { end } else { last },
                                aliased,
                                tagged,
                            }
                        }
                    }
                }
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        return Err("File holds more than one YAML document".to_string());
                    }
                    continue;
                }
                _ => continue,
            };
            match stack.last_mut() {
                None => root = Some(node),
                Some(Open::Sequence { last_end, .. }) => *last_end = Some(node.end),
                Some(Open::Mapping { entries, key, .. }) => match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                },
            }
        }
        Ok(Document {
            root: root.unwrap_or(Located {
                kind: Kind::Scalar {
                    value: String::new(),
                    style: ScalarStyle::Plain,
                },
                start: text.len(),
                end: text.len(),
                aliased: false,
                tagged: false,
            }),
        })
    }
}

/// One past the `:` after `key`, if there is one (spaces may come between).
fn colon_after(bytes: &[u8], key: &Located) -> Option<usize> {
    let mut i = key.end;
    while matches!(bytes.get(i), Some(b' ') | Some(b'\t')) {
        i += 1;
    }
    (bytes.get(i) == Some(&b':')).then_some(i + 1)
}

/// Where an entry ends: its value's end, or after the `:` when the value is empty.
fn entry_end(bytes: &[u8], key: &Located, value: &Located) -> usize {
    if value.end <= key.end || value.is_empty_null() {
        colon_after(bytes, key).unwrap_or(key.end)
    } else {
        value.end
    }
}

// ---------------------------------------------------------------------------------------
// Finding the target.

/// What the path leads to.
enum Target<'a> {
    /// The key exists and its value is a scalar.
    Found {
        key: &'a Located,
        value: &'a Located,
        flow: bool,
    },
    /// `path[..found]` exists; `container` is the mapping (or null) at it.
    Missing {
        found: usize,
        container: &'a Located,
        /// The key of `container`, `None` for the root.
        key: Option<&'a Located>,
        /// Whether `container` sits in a flow collection.
        flow: bool,
    },
}

impl Target<'_> {
    fn previous(&self) -> Option<String> {
        match self {
            Target::Found { value, .. } if !value.is_null() => match &value.kind {
                Kind::Scalar { value, .. } => Some(value.clone()),
                _ => None,
            },
            _ => None,
        }
    }
}

fn shown_prefix(path: &[&str]) -> String {
    if path.is_empty() {
        "the document".to_string()
    } else {
        path.join(".")
    }
}

fn find<'a>(root: &'a Located, path: &[&str], shown: &str) -> Result<Target<'a>, EditError> {
    let mut node = root;
    let mut key: Option<&Located> = None;
    let mut flow = false;
    for (depth, step) in path.iter().enumerate() {
        check_plain(node, key, &path[..depth], shown)?;
        match &node.kind {
            Kind::Mapping {
                entries,
                flow: is_flow,
            } => {
                let found = entries
                    .iter()
                    .find(|(k, _)| matches!(&k.kind, Kind::Scalar { value, .. } if value == step));
                match found {
                    Some((k, v)) => {
                        key = Some(k);
                        node = v;
                        flow = *is_flow;
                    }
                    None => {
                        return Ok(Target::Missing {
                            found: depth,
                            container: node,
                            key,
                            flow,
                        })
                    }
                }
            }
            _ if node.is_null() => {
                return Ok(Target::Missing {
                    found: depth,
                    container: node,
                    key,
                    flow,
                })
            }
            _ => {
                return Err(EditError::NotAMapping {
                    path: shown.to_string(),
                    at: shown_prefix(&path[..depth]),
                    found: node.type_name(),
                })
            }
        }
    }
    check_plain(node, key, path, shown)?;
    match &node.kind {
        Kind::Scalar {
            style: ScalarStyle::Literal | ScalarStyle::Folded,
            ..
        } => Err(EditError::BlockScalar {
            path: shown.to_string(),
        }),
        Kind::Scalar { .. } => Ok(Target::Found {
            key: key.unwrap_or(node),
            value: node,
            flow,
        }),
        _ => Err(EditError::NotAScalar {
            path: shown.to_string(),
            found: node.type_name(),
        }),
    }
}

/// Refuses anchors, aliases and tags on a node of the path or on its key.
fn check_plain(
    node: &Located,
    key: Option<&Located>,
    at: &[&str],
    shown: &str,
) -> Result<(), EditError> {
    let aliased = node.aliased || key.is_some_and(|k| k.aliased);
    let tagged = node.tagged || key.is_some_and(|k| k.tagged);
    if aliased {
        return Err(EditError::Alias {
            path: shown.to_string(),
            at: shown_prefix(at),
        });
    }
    if tagged {
        return Err(EditError::Tagged {
            path: shown.to_string(),
            at: shown_prefix(at),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Writing the value.

/// One way to make the edit: replace `start..end` of the text with `insert`, in which the
/// value is at `value`.
struct Candidate {
    start: usize,
    end: usize,
    insert: String,
    value: std::ops::Range<usize>,
    /// The styles the loader should read: each created key's, then the value's.
    keys: Vec<Style>,
    style: Style,
}

/// How to write a scalar.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    Plain,
    Single,
    Double,
}

/// The ways to write `text` where a scalar written as `quote` was, best first; the first that
/// verifies wins (a plain scalar that reads back differently falls back to double quotes).
fn spellings(text: &str, quote: Quote, flow: bool) -> Vec<(String, Style)> {
    let double = (double_quoted(text), Style::Quoted);
    match quote {
        Quote::Plain if safe_plain(text, flow) => vec![(text.to_string(), Style::Plain), double],
        Quote::Single if text.chars().all(|c| !c.is_control() && !is_break(c)) => {
            vec![(format!("'{}'", text.replace('\'', "''")), Style::Quoted)]
        }
        _ => vec![double],
    }
}

/// Whether `text` can be written plain and still read as the same text, never as a null or
/// a boolean. Conservative: anything doubtful is quoted (YAML 1.1's `yes`/`no`/`on`/`off`
/// too, which other tools read as booleans).
fn safe_plain(text: &str, flow: bool) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first == ' ' {
        return false;
    }
    if text.ends_with([' ', ':']) || text.contains(": ") || text.contains(" #") {
        return false;
    }
    if text
        .chars()
        .any(|c| c.is_control() || is_break(c) || c == '\u{FEFF}' || c == '\t')
    {
        return false;
    }
    if flow && text.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    !matches!(
        text.to_ascii_lowercase().as_str(),
        "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    )
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// `text` as a double-quoted YAML scalar.
fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            '\u{FEFF}' => out.push_str("\\uFEFF"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The ways to make the edit, best first.
fn plan(
    text: &str,
    target: &Target<'_>,
    path: &[&str],
    value: &str,
    insert: bool,
    newline: &str,
    shown: &str,
) -> Result<Vec<Candidate>, EditError> {
    let bytes = text.as_bytes();
    let no_place = || EditError::NoPlace {
        path: shown.to_string(),
    };
    match *target {
        Target::Found {
            key,
            value: node,
            flow,
        } => {
            let Kind::Scalar { style, .. } = &node.kind else {
                return Err(no_place());
            };
            let empty = node.is_empty_null();
            let quote = match style {
                ScalarStyle::SingleQuoted => Quote::Single,
                ScalarStyle::DoubleQuoted => Quote::Double,
                _ => Quote::Plain,
            };
            let (start, end, lead) = if empty {
                match colon_after(bytes, key) {
                    Some(colon) => (colon, colon, " "),
                    // `{a, b: 1}`: a key alone in a flow mapping gets its `: value`.
                    None if flow => (key.end, key.end, ": "),
                    None => return Err(no_place()),
                }
            } else {
                (node.start, node.end, "")
            };
            Ok(spellings(value, quote, flow)
                .into_iter()
                .map(|(written, style)| Candidate {
                    start,
                    end,
                    value: lead.len()..lead.len() + written.len(),
                    insert: format!("{lead}{written}"),
                    keys: Vec::new(),
                    style,
                })
                .collect())
        }
        Target::Missing {
            found,
            container,
            key,
            flow,
        } => {
            if !insert {
                return Err(EditError::NotFound {
                    path: shown.to_string(),
                });
            }
            let rest = &path[found..];
            let mut candidates = Vec::new();
            // Whether the new entries are written in flow style: in a flow mapping, and where
            // a null becomes `{...}` (all but a key with no value at all in a block mapping,
            // and an empty document).
            let in_flow = match container.kind {
                Kind::Mapping { flow, .. } => flow,
                _ => key.is_some() && (flow || !container.is_empty_null()),
            };
            for (written, style) in spellings(value, Quote::Plain, in_flow) {
                let keys: Vec<(String, Style)> = rest
                    .iter()
                    .map(|k| {
                        spellings(k, Quote::Plain, in_flow)
                            .into_iter()
                            .next()
                            .unwrap_or_else(|| (double_quoted(k), Style::Quoted))
                    })
                    .collect();
                let key_styles = keys.iter().map(|(_, s)| *s).collect();
                let place = insertion(text, container, key, flow, &keys, &written, newline)
                    .ok_or_else(no_place)?;
                candidates.push(Candidate {
                    start: place.0,
                    end: place.1,
                    insert: place.2,
                    value: place.3,
                    keys: key_styles,
                    style,
                });
            }
            Ok(candidates)
        }
    }
}

/// The nested entries `k1: {k2: value}` (flow) for `keys`.
fn flow_entries(keys: &[(String, Style)], value: &str) -> (String, std::ops::Range<usize>) {
    let mut out = String::new();
    for (i, (k, _)) in keys.iter().enumerate() {
        if i > 0 {
            out.push('{');
        }
        out.push_str(k);
        out.push_str(": ");
    }
    let start = out.len();
    out.push_str(value);
    let end = out.len();
    out.push_str(&"}".repeat(keys.len() - 1));
    (out, start..end)
}

/// The nested entries on their own lines, the first at `indent`, each deeper by two spaces.
fn block_entries(
    keys: &[(String, Style)],
    value: &str,
    indent: &str,
    newline: &str,
) -> (String, std::ops::Range<usize>) {
    let mut out = String::new();
    for (i, (k, _)) in keys.iter().enumerate() {
        if i > 0 {
            out.push_str(newline);
        }
        out.push_str(indent);
        out.push_str(&"  ".repeat(i));
        out.push_str(k);
        out.push(':');
    }
    out.push(' ');
    let start = out.len();
    out.push_str(value);
    let end = out.len();
    (out, start..end)
}

/// The spaces that put a new line's key in the column of the key at `offset` (a `- ` or a
/// byte-order mark before it counts as what it is: two columns, none).
fn indent_of(text: &str, offset: usize) -> String {
    let line_start = text[..offset].rfind(['\n', '\r']).map_or(0, |i| i + 1);
    text[line_start..offset]
        .chars()
        .filter(|&c| c != '\u{FEFF}')
        .map(|_| ' ')
        .collect()
}

/// The end of the line holding `offset` (before its line break).
fn line_end(text: &str, offset: usize) -> usize {
    text[offset..]
        .find(['\n', '\r'])
        .map_or(text.len(), |i| offset + i)
}

/// Where and what to insert for the missing `keys` under `container`: the replaced range,
/// the text, and the value's range in that text.
fn insertion(
    text: &str,
    container: &Located,
    key: Option<&Located>,
    flow: bool,
    keys: &[(String, Style)],
    value: &str,
    newline: &str,
) -> Option<(usize, usize, String, std::ops::Range<usize>)> {
    let bytes = text.as_bytes();
    let shift = |range: std::ops::Range<usize>, by: usize| range.start + by..range.end + by;
    match (&container.kind, key) {
        // A flow mapping: after its last entry, or inside `{}`.
        (
            Kind::Mapping {
                entries,
                flow: true,
            },
            _,
        ) => {
            let (entries_text, range) = flow_entries(keys, value);
            match entries.last() {
                Some((k, v)) => {
                    let at = entry_end(bytes, k, v);
                    Some((at, at, format!(", {entries_text}"), shift(range, 2)))
                }
                None => {
                    let at = container.end.checked_sub(1)?;
                    Some((at, at, entries_text, range))
                }
            }
        }
        // The root block mapping, or an empty document: at the end of the document.
        (Kind::Mapping { .. }, None) => Some(append(text, container, keys, value, newline)),
        (Kind::Scalar { .. }, None) if container.is_empty_null() => {
            Some(append(text, container, keys, value, newline))
        }
        // A nested block mapping: on a new line after its last entry.
        (Kind::Mapping { entries, .. }, Some(_)) => {
            let (first, _) = entries.first()?;
            let indent = indent_of(text, first.start);
            let (last_key, last_value) = entries.last()?;
            let end = entry_end(bytes, last_key, last_value);
            let (lines, range) = block_entries(keys, value, &indent, newline);
            if end > 0 && matches!(bytes.get(end - 1), Some(b'\n') | Some(b'\r')) {
                // A block scalar's end is the next line's start.
                Some((end, end, format!("{lines}{newline}"), range))
            } else {
                let at = line_end(text, end);
                Some((
                    at,
                    at,
                    format!("{newline}{lines}"),
                    shift(range, newline.len()),
                ))
            }
        }
        // A key with no value at all: an indented block under it, or `{...}` in flow.
        (Kind::Scalar { .. }, Some(parent)) if container.is_empty_null() => {
            let colon = colon_after(bytes, parent)?;
            if flow {
                let (entries_text, range) = flow_entries(keys, value);
                Some((
                    colon,
                    colon,
                    format!(" {{{entries_text}}}"),
                    shift(range, 2),
                ))
            } else {
                let indent = format!("{}  ", indent_of(text, parent.start));
                let (lines, range) = block_entries(keys, value, &indent, newline);
                let at = line_end(text, colon);
                Some((
                    at,
                    at,
                    format!("{newline}{lines}"),
                    shift(range, newline.len()),
                ))
            }
        }
        // An explicit null (`~`, `null`): it becomes a flow mapping.
        (Kind::Scalar { .. }, Some(_)) => {
            let (entries_text, range) = flow_entries(keys, value);
            Some((
                container.start,
                container.end,
                format!("{{{entries_text}}}"),
                shift(range, 1),
            ))
        }
        _ => None,
    }
}

/// The missing top-level `keys` at the end of the document, after a line break (before a
/// `...` document end marker, if there is one).
fn append(
    text: &str,
    container: &Located,
    keys: &[(String, Style)],
    value: &str,
    newline: &str,
) -> (usize, usize, String, std::ops::Range<usize>) {
    let indent = entries_first_indent(text, container);
    let (lines, range) = block_entries(keys, value, &indent, newline);
    if let Some(marker) = document_end(text, container.end) {
        return (marker, marker, format!("{lines}{newline}"), range);
    }
    let lead = if text.is_empty() || text.ends_with(['\n', '\r']) {
        ""
    } else {
        newline
    };
    (
        text.len(),
        text.len(),
        format!("{lead}{lines}{newline}"),
        range.start + lead.len()..range.end + lead.len(),
    )
}

/// The start of the first `...` line at or after the line of `from`, if any.
fn document_end(text: &str, from: usize) -> Option<usize> {
    let mut start = text[..from].rfind(['\n', '\r']).map_or(0, |i| i + 1);
    while start < text.len() {
        let end = line_end(text, start);
        if let Some(rest) = text[start..end].strip_prefix("...") {
            if rest.is_empty() || rest.starts_with([' ', '\t']) {
                return Some(start);
            }
        }
        // Step over the line break (`\r\n` counts as one).
        start = end
            + if text[end..].starts_with("\r\n") {
                2
            } else {
                1
            };
    }
    None
}

/// The indentation of a block mapping's first key, none for an empty document.
fn entries_first_indent(text: &str, container: &Located) -> String {
    match &container.kind {
        Kind::Mapping { entries, .. } => entries
            .first()
            .map_or_else(String::new, |(k, _)| indent_of(text, k.start)),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Checking the result.

/// Loads `after` and compares it with `before` as the edit should have changed it.
fn verify(
    before: &Node,
    after: &str,
    path: &[&str],
    value: &str,
    candidate: &Candidate,
    shown: &str,
) -> Result<(), EditError> {
    let unverified = |detail: String| EditError::Unverified {
        path: shown.to_string(),
        detail,
    };
    let loaded = load_str("edit.yaml", after, Limits::DEFAULT);
    if let Some(first) = loaded.diagnostics.iter().find(|d| d.is_error()) {
        return Err(unverified(format!(
            "the result does not load ({})",
            first.message
        )));
    }
    let Some(root) = loaded.root else {
        return Err(unverified("the result does not load".to_string()));
    };
    let mut expected = before.clone();
    let existing = path.len() - candidate.keys.len();
    if !apply(
        &mut expected,
        path,
        existing,
        &candidate.keys,
        Scalar {
            value: value.to_string(),
            style: candidate.style,
            tag: None,
        },
    ) {
        return Err(unverified("the path cannot be followed".to_string()));
    }
    if !same(&expected, &root) {
        return Err(unverified(
            "other keys or values would read differently".to_string(),
        ));
    }
    Ok(())
}

/// Sets `path` in `node` to `value` as the edit means to: the first `existing` keys of `path`
/// are in the tree, the others are new, written in `styles`.
fn apply(node: &mut Node, path: &[&str], existing: usize, styles: &[Style], value: Scalar) -> bool {
    let Some((step, rest)) = path.split_first() else {
        node.kind = NodeKind::Scalar(value);
        return true;
    };
    if node.is_null() {
        node.kind = NodeKind::Mapping(Vec::new());
    }
    let NodeKind::Mapping(entries) = &mut node.kind else {
        return false;
    };
    if existing == 0 {
        let key = Node {
            kind: NodeKind::Scalar(Scalar {
                value: (*step).to_string(),
                style: styles.first().copied().unwrap_or(Style::Plain),
                tag: None,
            }),
            span: Span::default(),
        };
        let mut child = Node {
            kind: NodeKind::Scalar(Scalar {
                value: String::new(),
                style: Style::Plain,
                tag: None,
            }),
            span: Span::default(),
        };
        let done = apply(&mut child, rest, 0, styles.get(1..).unwrap_or(&[]), value);
        entries.push((key, child));
        return done;
    }
    match entries.iter_mut().find(|(k, _)| k.as_str() == Some(*step)) {
        Some((_, child)) => apply(child, rest, existing - 1, styles, value),
        None => false,
    }
}

/// Whether two trees hold the same keys and values, in the same styles, wherever they are.
fn same(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (NodeKind::Scalar(x), NodeKind::Scalar(y)) => x == y,
        (NodeKind::Sequence(x), NodeKind::Sequence(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (NodeKind::Mapping(x), NodeKind::Mapping(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => false,
    }
}
