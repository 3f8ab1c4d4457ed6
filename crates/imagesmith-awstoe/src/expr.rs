//! `{{ … }}` expressions in AWSTOE documents: parameters and constants, loop variables and
//! chaining (`{{ phase.step.outputs.stdout }}`, `{{ phase.step.inputs[0].source }}`).
//!
//! AWSTOE trims spaces inside the braces and matches names case-sensitively.

use std::fmt;

/// Which side of a step a chaining expression reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainKind {
    /// The step's inputs after substitution.
    Inputs,
    /// The step's outputs.
    Outputs,
}

impl ChainKind {
    /// The word as written.
    pub fn as_str(self) -> &'static str {
        match self {
            ChainKind::Inputs => "inputs",
            ChainKind::Outputs => "outputs",
        }
    }
}

/// A loop iteration variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopMember {
    /// `value`: the current item.
    Value,
    /// `index`: the 0-based position.
    Index,
}

/// What a `{{ … }}` expression refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `{{ Name }}`: a parameter or a constant.
    Variable(String),
    /// `{{ loop.value }}` (`name` is `None`) or `{{ myLoop.index }}`.
    Loop {
        /// The loop name, `None` for the `loop` keyword.
        name: Option<String>,
        /// Which variable.
        member: LoopMember,
    },
    /// `{{ phase.step.inputs[0].key }}` or `{{ phase.step.outputs.stdout }}`.
    Chain {
        /// The phase name.
        phase: String,
        /// The step name.
        step: String,
        /// Inputs or outputs.
        kind: ChainKind,
        /// The list index, when one is given.
        index: Option<usize>,
        /// The key read.
        variable: String,
    },
    /// Something AWSTOE leaves untouched (a Go template such as `{{ .Id }}`).
    Foreign,
}

/// One `{{ … }}` found in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// Byte offset of the opening `{{`.
    pub start: usize,
    /// Byte offset just past the closing `}}`.
    pub end: usize,
    /// The text between the braces, trimmed.
    pub text: String,
    /// What it refers to, or why it is malformed.
    pub reference: Result<Reference, String>,
}

/// A string whose braces do not pair up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BraceError {
    /// Byte offset of the unclosed `{{`.
    pub offset: usize,
}

impl fmt::Display for BraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{{{{` at byte {} is never closed", self.offset)
    }
}

/// Whether `name` is made of the characters AWSTOE allows in names: letters, digits, `-`, `_`.
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Finds every `{{ … }}` in `text`.
pub fn scan(text: &str) -> Result<Vec<Placeholder>, BraceError> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find("{{") {
        let start = rest + open;
        let Some(close) = text[start + 2..].find("}}") else {
            return Err(BraceError { offset: start });
        };
        let inner_end = start + 2 + close;
        let mut end = inner_end + 2;
        // `{{{ x }}}` (Image Builder recipe templates) consumes the third brace too.
        if text[start + 2..].starts_with('{') && text[end..].starts_with('}') {
            end += 1;
        }
        let inner = &text[start + 2..inner_end];
        let trimmed = inner.trim();
        found.push(Placeholder {
            start,
            end,
            text: trimmed.to_string(),
            reference: classify(trimmed),
        });
        rest = end;
    }
    Ok(found)
}

/// Works out what the text between the braces refers to.
pub fn classify(inner: &str) -> Result<Reference, String> {
    if inner.is_empty() {
        return Err("the expression is empty".into());
    }
    if inner.starts_with('.') || inner.starts_with('{') || inner.contains(' ') {
        return Ok(Reference::Foreign);
    }
    let parts: Vec<&str> = inner.split('.').collect();
    match parts.as_slice() {
        [name] => {
            if is_name(name) {
                Ok(Reference::Variable((*name).to_string()))
            } else {
                Err(format!("`{name}` is not a valid name"))
            }
        }
        [name, member] => {
            let member = match *member {
                "value" => LoopMember::Value,
                "index" => LoopMember::Index,
                other => {
                    return Err(format!(
                        "`{other}` is not a loop variable (use `value` or `index`)"
                    ))
                }
            };
            if !is_name(name) {
                return Err(format!("`{name}` is not a valid loop name"));
            }
            let name = (*name != "loop").then(|| (*name).to_string());
            Ok(Reference::Loop { name, member })
        }
        [phase, step, kind, variable] => {
            let (kind, index) = parse_kind(kind)?;
            if !is_name(phase) || !is_name(step) || !is_name(variable) {
                return Err(format!(
                    "`{inner}` is not of the form `phase.step.outputs.name`"
                ));
            }
            Ok(Reference::Chain {
                phase: (*phase).to_string(),
                step: (*step).to_string(),
                kind,
                index,
                variable: (*variable).to_string(),
            })
        }
        _ => Err(format!(
            "`{inner}` is neither a parameter, a loop variable nor `phase.step.outputs.name`"
        )),
    }
}

fn parse_kind(text: &str) -> Result<(ChainKind, Option<usize>), String> {
    let (word, index) = match text.find('[') {
        Some(open) => {
            let Some(number) = text[open + 1..].strip_suffix(']') else {
                return Err(format!("`{text}` has an unclosed index"));
            };
            let index = number
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("`{number}` is not an index"))?;
            (&text[..open], Some(index))
        }
        None => (text, None),
    };
    let kind = match word {
        "inputs" => ChainKind::Inputs,
        "outputs" => ChainKind::Outputs,
        other => return Err(format!("`{other}` must be `inputs` or `outputs`")),
    };
    Ok((kind, index))
}

/// Replaces every placeholder `resolve` knows; others are left as written, as AWSTOE does.
pub fn substitute(text: &str, mut resolve: impl FnMut(&Reference) -> Option<String>) -> String {
    substitute_noting(text, &mut resolve, &mut Vec::new())
}

/// [`substitute`], adding to `unresolved` the text between the braces of every placeholder
/// left as written (unknown, malformed or unclosed); foreign templates (`{{ .Id }}`) are not
/// counted, since AWSTOE never resolves them.
pub fn substitute_noting(
    text: &str,
    resolve: &mut dyn FnMut(&Reference) -> Option<String>,
    unresolved: &mut Vec<String>,
) -> String {
    let placeholders = match scan(text) {
        Ok(placeholders) => placeholders,
        Err(error) => {
            unresolved.push(text[error.offset + 2..].trim().to_string());
            return text.to_string();
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for placeholder in placeholders {
        let value = match &placeholder.reference {
            Ok(Reference::Foreign) => None,
            Ok(reference) => {
                let value = resolve(reference);
                if value.is_none() {
                    unresolved.push(placeholder.text.clone());
                }
                value
            }
            Err(_) => {
                unresolved.push(placeholder.text.clone());
                None
            }
        };
        if let Some(value) = value {
            out.push_str(&text[last..placeholder.start]);
            out.push_str(&value);
            last = placeholder.end;
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Calls `visit` with every string in a JSON value and its path below `value`.
pub fn walk_strings<'a>(
    value: &'a serde_json::Value,
    path: &mut Vec<crate::PathSegment>,
    visit: &mut dyn FnMut(&'a str, &[crate::PathSegment]),
) {
    match value {
        serde_json::Value::String(s) => visit(s, path),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(crate::PathSegment::Index(i));
                walk_strings(item, path, visit);
                path.pop();
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                path.push(crate::PathSegment::Key(key.clone()));
                walk_strings(item, path, visit);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Applies [`substitute`] to every string inside a JSON value.
pub fn substitute_value(
    value: &serde_json::Value,
    resolve: &mut dyn FnMut(&Reference) -> Option<String>,
) -> serde_json::Value {
    substitute_value_noting(value, resolve, &mut Vec::new())
}

/// Applies [`substitute_noting`] to every string inside a JSON value (mapping keys are kept
/// as written, as AWSTOE does).
pub fn substitute_value_noting(
    value: &serde_json::Value,
    resolve: &mut dyn FnMut(&Reference) -> Option<String>,
    unresolved: &mut Vec<String>,
) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => {
            serde_json::Value::String(substitute_noting(s, resolve, unresolved))
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|item| substitute_value_noting(item, resolve, unresolved))
                .collect(),
        ),
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute_value_noting(v, resolve, unresolved)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_with_and_without_spaces() {
        for text in ["{{ Source }}", "{{Source}}", "{{ Source}}", "{{Source }}"] {
            let found = scan(text).unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].reference, Ok(Reference::Variable("Source".into())));
        }
    }

    #[test]
    fn chaining_with_index() {
        let found = scan("x {{ build.Download.inputs[1].source }} y").unwrap();
        assert_eq!(
            found[0].reference,
            Ok(Reference::Chain {
                phase: "build".into(),
                step: "Download".into(),
                kind: ChainKind::Inputs,
                index: Some(1),
                variable: "source".into(),
            })
        );
    }

    #[test]
    fn loop_variables() {
        let found = scan("{{ loop.value }} {{ myLoop.index }}").unwrap();
        assert_eq!(
            found[0].reference,
            Ok(Reference::Loop {
                name: None,
                member: LoopMember::Value
            })
        );
        assert_eq!(
            found[1].reference,
            Ok(Reference::Loop {
                name: Some("myLoop".into()),
                member: LoopMember::Index
            })
        );
    }

    #[test]
    fn malformed() {
        assert!(scan("echo {{ oops").is_err());
        assert!(scan("{{ }}").unwrap()[0].reference.is_err());
        assert!(scan("{{ a.b }}").unwrap()[0].reference.is_err());
        assert!(scan("{{ a.b.c }}").unwrap()[0].reference.is_err());
        assert!(scan("{{ a.b.result.c }}").unwrap()[0].reference.is_err());
        assert_eq!(
            scan("docker inspect -f '{{ .Id }}'").unwrap()[0].reference,
            Ok(Reference::Foreign)
        );
    }

    #[test]
    fn substitution_leaves_unknown_names() {
        let out = substitute("{{ A }}-{{ B }}-{{ loop.value }}", |r| match r {
            Reference::Variable(name) if name == "A" => Some("1".into()),
            _ => None,
        });
        assert_eq!(out, "1-{{ B }}-{{ loop.value }}");
    }
}
