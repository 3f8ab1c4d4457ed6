//! Reading substituted inputs.

use super::error::ActionError;
use serde_json::{Map, Value};

fn invalid(message: String) -> ActionError {
    ActionError::InvalidInputs { message }
}

/// A string input (a plain number is read as its text); `None` when absent.
pub(crate) fn optional(map: &Map<String, Value>, key: &str) -> Result<Option<String>, ActionError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(invalid(format!("`{key}` must be a string"))),
    }
}

/// A string input that must be given.
pub(crate) fn required(map: &Map<String, Value>, key: &str) -> Result<String, ActionError> {
    optional(map, key)?.ok_or_else(|| invalid(format!("`{key}` is required")))
}

/// A boolean input (`true`, `false`, or those words as text).
pub(crate) fn boolean(
    map: &Map<String, Value>,
    key: &str,
    default: bool,
) -> Result<bool, ActionError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(invalid(format!(
            "`{key}` must be true or false, not `{other}`"
        ))),
    }
}

/// A list of strings input; empty when absent.
pub(crate) fn strings(map: &Map<String, Value>, key: &str) -> Result<Vec<String>, ActionError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                _ => Err(invalid(format!("`{key}` must be a list of strings"))),
            })
            .collect(),
        Some(_) => Err(invalid(format!("`{key}` must be a list of strings"))),
    }
}

/// The inputs as a mapping (`{}` when absent).
pub(crate) fn mapping(inputs: &Value) -> Result<Map<String, Value>, ActionError> {
    match inputs {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map.clone()),
        _ => Err(invalid("the inputs must be a mapping".into())),
    }
}

/// The inputs as a list of mappings.
pub(crate) fn items(inputs: &Value) -> Result<Vec<Map<String, Value>>, ActionError> {
    match inputs {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::Object(map) => Ok(map.clone()),
                _ => Err(invalid("each input must be a mapping".into())),
            })
            .collect(),
        _ => Err(invalid(
            "the inputs must be a non-empty list of mappings".into(),
        )),
    }
}
