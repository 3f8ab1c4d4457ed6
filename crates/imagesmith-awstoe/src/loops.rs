//! Looping constructs: `for` over integers, `forEach` over a list or a delimited string.

use crate::{Code, PathSegment, Problem};
use serde_json::Value;

/// The delimiters a delimited `forEach` list may use (one character).
pub const DELIMITERS: &[char] = &['.', ',', ';', ':', '\n', '\t', ' ', '-', '_'];

/// The most iterations imagesmith runs for one step, so a typo cannot loop for hours.
pub const MAX_ITERATIONS: usize = 10_000;

/// What a loop iterates over.
#[derive(Debug, Clone, PartialEq)]
pub enum LoopKind {
    /// `for: {start, end, updateBy}`: `start`, `start + updateBy`, … up to and including `end`.
    For {
        /// The first value.
        start: i64,
        /// The last value (inclusive).
        end: i64,
        /// The step, never 0.
        update_by: i64,
    },
    /// `forEach: [a, b]`.
    List(Vec<Value>),
    /// `forEach: {list: "a,b", delimiter: ","}`.
    Delimited {
        /// The joined string.
        list: String,
        /// The separator.
        delimiter: char,
    },
}

/// A step's loop.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopSpec {
    /// The optional name, for `{{ name.value }}`.
    pub name: Option<String>,
    /// What it iterates over.
    pub kind: LoopKind,
}

fn problem(path: &[PathSegment], code: Code, message: String) -> Problem {
    Problem {
        path: path.to_vec(),
        code,
        message,
        hint: None,
    }
}

fn integer(value: &Value, path: &[PathSegment], errors: &mut Vec<Problem>) -> Option<i64> {
    match value {
        Value::Number(n) if n.is_i64() => n.as_i64(),
        Value::String(s) if s.contains("{{") => {
            errors.push(problem(
                path,
                Code::ExpressionNotAllowed,
                format!("`{s}`: `for` bounds do not accept expressions"),
            ));
            None
        }
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(problem(
                    path,
                    Code::InvalidLoop,
                    format!("`{s}` is not an integer"),
                ));
                None
            }
        },
        other => {
            errors.push(problem(
                path,
                Code::InvalidLoop,
                format!("`{other}` is not an integer"),
            ));
            None
        }
    }
}

/// Parses a step's `loop`.
pub fn parse_loop(value: &Value) -> Result<LoopSpec, Vec<Problem>> {
    let mut errors = Vec::new();
    let root: Vec<PathSegment> = Vec::new();
    let Value::Object(map) = value else {
        return Err(vec![problem(
            &root,
            Code::InvalidLoop,
            "A loop must be a mapping with `for` or `forEach`".into(),
        )]);
    };
    for key in map.keys() {
        if !matches!(key.as_str(), "name" | "for" | "forEach") {
            let mut p = Problem {
                path: vec![PathSegment::Key(key.clone())],
                code: Code::InvalidLoop,
                message: format!("`{key}` is not a loop key"),
                hint: None,
            };
            p.hint = imagesmith_diagnostics::did_you_mean(key, ["name", "for", "forEach"])
                .map(|s| format!("did you mean `{s}`?"));
            errors.push(p);
        }
    }
    let name = match map.get("name") {
        None => None,
        Some(Value::String(name)) if crate::expr::is_name(name) && name != "loop" => {
            Some(name.clone())
        }
        Some(other) => {
            errors.push(Problem {
                path: vec![PathSegment::Key("name".into())],
                code: Code::InvalidLoopName,
                message: format!(
                    "`{}` is not a valid loop name",
                    crate::condition::text(other)
                ),
                hint: Some("use letters, digits, `-` and `_` (and not the word `loop`)".into()),
            });
            None
        }
    };
    let kind = match (map.get("for"), map.get("forEach")) {
        (Some(_), Some(_)) => {
            errors.push(problem(
                &root,
                Code::InvalidLoop,
                "A loop has either `for` or `forEach`, not both".into(),
            ));
            None
        }
        (None, None) => {
            errors.push(problem(
                &root,
                Code::InvalidLoop,
                "A loop needs `for` or `forEach`".into(),
            ));
            None
        }
        (Some(spec), None) => parse_for(spec, &mut errors),
        (None, Some(spec)) => parse_for_each(spec, &mut errors),
    };
    match kind {
        Some(kind) if errors.is_empty() => Ok(LoopSpec { name, kind }),
        _ => Err(errors),
    }
}

fn parse_for(spec: &Value, errors: &mut Vec<Problem>) -> Option<LoopKind> {
    let base = vec![PathSegment::Key("for".into())];
    let Value::Object(map) = spec else {
        errors.push(problem(
            &base,
            Code::InvalidLoop,
            "`for` must be a mapping with `start`, `end` and `updateBy`".into(),
        ));
        return None;
    };
    for key in map.keys() {
        if !matches!(key.as_str(), "start" | "end" | "updateBy") {
            let mut path = base.clone();
            path.push(PathSegment::Key(key.clone()));
            errors.push(Problem {
                path,
                code: Code::InvalidLoop,
                message: format!("`{key}` is not a `for` key"),
                hint: imagesmith_diagnostics::did_you_mean(key, ["start", "end", "updateBy"])
                    .map(|s| format!("did you mean `{s}`?")),
            });
        }
    }
    let mut get = |key: &str| {
        let mut path = base.clone();
        path.push(PathSegment::Key(key.into()));
        match map.get(key) {
            Some(value) => integer(value, &path, errors),
            None => {
                errors.push(problem(
                    &base,
                    Code::InvalidLoop,
                    format!("`for` needs `{key}`"),
                ));
                None
            }
        }
    };
    let (start, end, update_by) = (get("start"), get("end"), get("updateBy"));
    let (start, end, update_by) = (start?, end?, update_by?);
    let mut at = base.clone();
    at.push(PathSegment::Key("updateBy".into()));
    if update_by == 0 {
        errors.push(problem(
            &at,
            Code::LoopUpdateByZero,
            "`updateBy` is 0, so the loop never ends".into(),
        ));
        return None;
    }
    if (end > start && update_by < 0) || (end < start && update_by > 0) {
        errors.push(Problem {
            path: at,
            code: Code::LoopInfinite,
            message: format!(
                "`updateBy` {update_by} moves away from `end` {end} starting at {start}"
            ),
            hint: Some(format!("use `updateBy: {}`", -update_by)),
        });
        return None;
    }
    let count = (end - start) / update_by + 1;
    if usize::try_from(count).map_or(true, |c| c > MAX_ITERATIONS) {
        errors.push(problem(
            &base,
            Code::LoopTooLong,
            format!("The loop runs {count} times; imagesmith allows {MAX_ITERATIONS}"),
        ));
        return None;
    }
    Some(LoopKind::For {
        start,
        end,
        update_by,
    })
}

fn parse_for_each(spec: &Value, errors: &mut Vec<Problem>) -> Option<LoopKind> {
    let base = vec![PathSegment::Key("forEach".into())];
    match spec {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if !matches!(item, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                    let mut path = base.clone();
                    path.push(PathSegment::Index(i));
                    errors.push(problem(
                        &path,
                        Code::InvalidLoop,
                        "`forEach` items must be strings".into(),
                    ));
                }
            }
            Some(LoopKind::List(items.clone()))
        }
        Value::Object(map) => {
            for key in map.keys() {
                if !matches!(key.as_str(), "list" | "delimiter") {
                    let mut path = base.clone();
                    path.push(PathSegment::Key(key.clone()));
                    errors.push(problem(
                        &path,
                        Code::InvalidLoop,
                        format!("`{key}` is not a `forEach` key (use `list` and `delimiter`)"),
                    ));
                }
            }
            let list = match map.get("list") {
                Some(Value::String(list)) => list.clone(),
                Some(_) => {
                    errors.push(problem(
                        &base,
                        Code::InvalidLoop,
                        "`list` must be a string".into(),
                    ));
                    return None;
                }
                None => {
                    errors.push(problem(
                        &base,
                        Code::InvalidLoop,
                        "`forEach` needs `list`".into(),
                    ));
                    return None;
                }
            };
            let delimiter = match map.get("delimiter") {
                None => ',',
                Some(Value::String(d)) => {
                    let mut chars = d.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) if DELIMITERS.contains(&c) => c,
                        _ => {
                            let mut path = base.clone();
                            path.push(PathSegment::Key("delimiter".into()));
                            errors.push(Problem {
                                path,
                                code: Code::InvalidLoopDelimiter,
                                message: format!("`{d}` is not a loop delimiter"),
                                hint: Some(
                                    "use one of `.` `,` `;` `:` `-` `_`, a space, `\\n` or `\\t`"
                                        .into(),
                                ),
                            });
                            return None;
                        }
                    }
                }
                Some(_) => {
                    errors.push(problem(
                        &base,
                        Code::InvalidLoopDelimiter,
                        "`delimiter` must be one character".into(),
                    ));
                    return None;
                }
            };
            Some(LoopKind::Delimited { list, delimiter })
        }
        _ => {
            errors.push(problem(
                &base,
                Code::InvalidLoop,
                "`forEach` must be a list or a mapping with `list`".into(),
            ));
            None
        }
    }
}

impl LoopSpec {
    /// The values iterated over, in order (after substitution of the list).
    pub fn values(&self) -> Result<Vec<String>, String> {
        let values: Vec<String> = match &self.kind {
            LoopKind::For {
                start,
                end,
                update_by,
            } => {
                if *update_by == 0
                    || (end > start && *update_by < 0)
                    || (end < start && *update_by > 0)
                {
                    return Err(format!(
                        "`updateBy` {update_by} never reaches `end` {end} from `start` {start}"
                    ));
                }
                let mut out = Vec::new();
                let mut current = *start;
                while (*update_by > 0 && current <= *end) || (*update_by < 0 && current >= *end) {
                    if out.len() >= MAX_ITERATIONS {
                        return Err(format!("The loop runs more than {MAX_ITERATIONS} times"));
                    }
                    out.push(current.to_string());
                    match current.checked_add(*update_by) {
                        Some(next) => current = next,
                        None => break,
                    }
                }
                out
            }
            LoopKind::List(items) => items.iter().map(crate::condition::text).collect(),
            LoopKind::Delimited { list, delimiter } => {
                list.split(*delimiter).map(str::to_string).collect()
            }
        };
        if values.len() > MAX_ITERATIONS {
            return Err(format!("The loop runs more than {MAX_ITERATIONS} times"));
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn for_loops_include_both_ends() {
        let spec = parse_loop(&json!({"for": {"start": 1, "end": 5, "updateBy": 2}})).unwrap();
        assert_eq!(spec.values().unwrap(), ["1", "3", "5"]);
        let spec = parse_loop(&json!({"for": {"start": 3, "end": 1, "updateBy": -1}})).unwrap();
        assert_eq!(spec.values().unwrap(), ["3", "2", "1"]);
    }

    #[test]
    fn for_each_forms() {
        let spec = parse_loop(&json!({"name": "l", "forEach": ["a", "b"]})).unwrap();
        assert_eq!(spec.name.as_deref(), Some("l"));
        assert_eq!(spec.values().unwrap(), ["a", "b"]);
        let spec = parse_loop(&json!({"forEach": {"list": "a;b;c", "delimiter": ";"}})).unwrap();
        assert_eq!(spec.values().unwrap(), ["a", "b", "c"]);
        let spec = parse_loop(&json!({"forEach": {"list": "a,b"}})).unwrap();
        assert_eq!(spec.values().unwrap(), ["a", "b"]);
    }

    #[test]
    fn bad_loops() {
        let code = |v| parse_loop(&v).unwrap_err()[0].code;
        assert_eq!(
            code(json!({"for": {"start": 1, "end": 5, "updateBy": 0}})),
            Code::LoopUpdateByZero
        );
        assert_eq!(
            code(json!({"for": {"start": 1, "end": 5, "updateBy": -1}})),
            Code::LoopInfinite
        );
        assert_eq!(
            code(json!({"forEach": {"list": "a", "delimiter": "|"}})),
            Code::InvalidLoopDelimiter
        );
        assert_eq!(code(json!({"name": "x"})), Code::InvalidLoop);
        assert_eq!(
            code(json!({"name": "a b", "forEach": ["x"]})),
            Code::InvalidLoopName
        );
        assert_eq!(
            code(json!({"for": {"start": "{{ n }}", "end": 5, "updateBy": 1}})),
            Code::ExpressionNotAllowed
        );
        assert_eq!(
            code(json!({"for": {"start": 0, "end": 1000000, "updateBy": 1}})),
            Code::LoopTooLong
        );
    }
}
