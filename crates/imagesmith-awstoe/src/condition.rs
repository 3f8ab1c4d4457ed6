//! Conditional expressions: the `if` construct of a step and the inputs of `Assert`.
//!
//! A comparison is a mapping with one operator key (`stringEquals: 'x'`) and, for operators
//! that compare two values, a `value` key (or `path` for the file hash operators). Logical
//! operators (`and`, `or` take a list, `not` takes one expression) nest at most four levels.

use crate::{Code, PathSegment, Problem};
use serde_json::Value;

/// Comparison operators that take one value.
pub const UNARY_OPERATORS: &[&str] = &[
    "stringIsEmpty",
    "stringIsWhitespace",
    "binaryExists",
    "fileExists",
    "folderExists",
];

/// Comparison operators that compare the operator's value to `value`.
pub const BINARY_OPERATORS: &[&str] = &[
    "stringEquals",
    "stringLessThan",
    "stringLessThanEquals",
    "stringGreaterThan",
    "stringGreaterThanEquals",
    "patternMatches",
    "numberEquals",
    "numberLessThan",
    "numberLessThanEquals",
    "numberGreaterThan",
    "numberGreaterThanEquals",
];

/// Comparison operators that compare a file's hash (the operator's value) with the file at
/// `path`.
pub const FILE_HASH_OPERATORS: &[&str] = &[
    "fileMD5Equals",
    "fileSHA1Equals",
    "fileSHA256Equals",
    "fileSHA512Equals",
];

/// Logical operators.
pub const LOGICAL_OPERATORS: &[&str] = &["and", "or", "not"];

/// The deepest nesting of logical operators AWSTOE accepts.
pub const MAX_DEPTH: usize = 4;

/// What `then` and `else` may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction {
    /// Mark the step failed.
    Abort,
    /// Run the step.
    Execute,
    /// Skip the step (counted as a success).
    Skip,
}

impl StepAction {
    fn parse(text: &str) -> Option<StepAction> {
        match text.to_ascii_lowercase().as_str() {
            "abort" => Some(StepAction::Abort),
            "execute" => Some(StepAction::Execute),
            "skip" => Some(StepAction::Skip),
            _ => None,
        }
    }
}

/// A parsed conditional expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// All of them.
    And(Vec<Condition>),
    /// Any of them.
    Or(Vec<Condition>),
    /// The opposite.
    Not(Box<Condition>),
    /// A comparison.
    Compare {
        /// The operator name.
        operator: String,
        /// The operator's own value.
        operand: Value,
        /// The `value` (binary operators) or `path` (file hash operators).
        other: Option<Value>,
    },
}

/// A step's `if`: a condition and what to do on each outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct IfConstruct {
    /// The condition.
    pub condition: Condition,
    /// What to do when it holds (default: run the step).
    pub then: StepAction,
    /// What to do otherwise (default: skip the step).
    pub otherwise: StepAction,
}

fn error(path: &[PathSegment], code: Code, message: String) -> Problem {
    Problem {
        path: path.to_vec(),
        code,
        message,
        hint: None,
    }
}

fn all_operators() -> impl Iterator<Item = &'static str> {
    UNARY_OPERATORS
        .iter()
        .chain(BINARY_OPERATORS)
        .chain(FILE_HASH_OPERATORS)
        .chain(LOGICAL_OPERATORS)
        .copied()
}

/// Parses a step's `if`.
pub fn parse_if(value: &Value) -> Result<IfConstruct, Vec<Problem>> {
    let mut path = Vec::new();
    // The documented syntax wraps the expression in a one-item list.
    let value = match value {
        Value::Array(items) if items.len() == 1 => {
            path.push(PathSegment::Index(0));
            &items[0]
        }
        Value::Array(_) => {
            return Err(vec![error(
                &path,
                Code::InvalidCondition,
                "An `if` list must hold exactly one expression".into(),
            )])
        }
        other => other,
    };
    let Value::Object(map) = value else {
        return Err(vec![error(
            &path,
            Code::InvalidCondition,
            "An `if` must be a mapping with one operator".into(),
        )]);
    };
    let mut errors = Vec::new();
    let mut action = |key: &str, default: StepAction| match map.get(key) {
        None => default,
        Some(Value::String(text)) => StepAction::parse(text).unwrap_or_else(|| {
            let mut at = path.clone();
            at.push(PathSegment::Key(key.into()));
            errors.push(Problem {
                path: at,
                code: Code::InvalidStepAction,
                message: format!("`{text}` is not a step action"),
                hint: Some("use `Abort`, `Execute` or `Skip`".into()),
            });
            default
        }),
        Some(_) => {
            let mut at = path.clone();
            at.push(PathSegment::Key(key.into()));
            errors.push(error(
                &at,
                Code::InvalidStepAction,
                format!("`{key}` must be `Abort`, `Execute` or `Skip`"),
            ));
            default
        }
    };
    let then = action("then", StepAction::Execute);
    let otherwise = action("else", StepAction::Skip);
    let expression: serde_json::Map<String, Value> = map
        .iter()
        .filter(|(k, _)| k.as_str() != "then" && k.as_str() != "else")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let condition = parse_map(&expression, &mut path, 0, &mut errors);
    match condition {
        Some(condition) if errors.is_empty() => Ok(IfConstruct {
            condition,
            then,
            otherwise,
        }),
        _ => Err(errors),
    }
}

/// Parses an expression (the inputs of `Assert`, or one operand of `and`/`or`/`not`).
pub fn parse_condition(value: &Value) -> Result<Condition, Vec<Problem>> {
    let mut errors = Vec::new();
    let mut path = Vec::new();
    let parsed = parse(value, &mut path, 0, &mut errors);
    match parsed {
        Some(condition) if errors.is_empty() => Ok(condition),
        _ => Err(errors),
    }
}

fn parse(
    value: &Value,
    path: &mut Vec<PathSegment>,
    depth: usize,
    errors: &mut Vec<Problem>,
) -> Option<Condition> {
    match value {
        Value::Object(map) => parse_map(map, path, depth, errors),
        _ => {
            errors.push(error(
                path,
                Code::InvalidCondition,
                "A condition must be a mapping with one operator".into(),
            ));
            None
        }
    }
}

fn parse_map(
    map: &serde_json::Map<String, Value>,
    path: &mut Vec<PathSegment>,
    depth: usize,
    errors: &mut Vec<Problem>,
) -> Option<Condition> {
    let operators: Vec<&String> = map
        .keys()
        .filter(|k| all_operators().any(|op| op == k.as_str()))
        .collect();
    for key in map.keys() {
        let known = all_operators().any(|op| op == key.as_str()) || key == "value" || key == "path";
        if !known {
            let mut at = path.clone();
            at.push(PathSegment::Key(key.clone()));
            errors.push(Problem {
                path: at,
                code: Code::UnknownOperator,
                message: format!("`{key}` is not an AWSTOE operator"),
                hint: imagesmith_diagnostics::did_you_mean(key, all_operators())
                    .map(|s| format!("did you mean `{s}`?")),
            });
        }
    }
    let operator = match operators.as_slice() {
        [one] => one.as_str(),
        [] => {
            if errors.is_empty() {
                errors.push(error(
                    path,
                    Code::InvalidCondition,
                    "The condition has no operator".into(),
                ));
            }
            return None;
        }
        _ => {
            errors.push(error(
                path,
                Code::InvalidCondition,
                format!(
                    "The condition has {} operators; combine them with `and` or `or`",
                    operators.len()
                ),
            ));
            return None;
        }
    };
    let operand = &map[operator];
    path.push(PathSegment::Key(operator.to_string()));
    let result = match operator {
        "and" | "or" | "not" => parse_logical(operator, operand, map, path, depth, errors),
        _ => parse_comparison(operator, operand, map, path, errors),
    };
    path.pop();
    result
}

fn parse_logical(
    operator: &str,
    operand: &Value,
    map: &serde_json::Map<String, Value>,
    path: &mut Vec<PathSegment>,
    depth: usize,
    errors: &mut Vec<Problem>,
) -> Option<Condition> {
    if depth + 1 > MAX_DEPTH {
        errors.push(error(
            path,
            Code::ConditionTooDeep,
            format!("Logical operators are nested more than {MAX_DEPTH} levels deep"),
        ));
        return None;
    }
    if map.len() > 1 {
        errors.push(error(
            path,
            Code::InvalidCondition,
            format!("`{operator}` takes no other keys beside it"),
        ));
    }
    if operator == "not" {
        let inner = parse(operand, path, depth + 1, errors)?;
        return Some(Condition::Not(Box::new(inner)));
    }
    let Value::Array(items) = operand else {
        errors.push(error(
            path,
            Code::InvalidCondition,
            format!("`{operator}` takes a list of conditions"),
        ));
        return None;
    };
    if items.is_empty() {
        errors.push(error(
            path,
            Code::InvalidCondition,
            format!("`{operator}` has no conditions"),
        ));
        return None;
    }
    let mut parsed = Vec::new();
    for (i, item) in items.iter().enumerate() {
        path.push(PathSegment::Index(i));
        if let Some(condition) = parse(item, path, depth + 1, errors) {
            parsed.push(condition);
        }
        path.pop();
    }
    if parsed.len() != items.len() {
        return None;
    }
    Some(if operator == "and" {
        Condition::And(parsed)
    } else {
        Condition::Or(parsed)
    })
}

fn parse_comparison(
    operator: &str,
    operand: &Value,
    map: &serde_json::Map<String, Value>,
    path: &[PathSegment],
    errors: &mut Vec<Problem>,
) -> Option<Condition> {
    let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
    if !scalar(operand) {
        errors.push(error(
            path,
            Code::InvalidCondition,
            format!("`{operator}` takes a string or a number"),
        ));
        return None;
    }
    let needed = if BINARY_OPERATORS.contains(&operator) {
        Some("value")
    } else if FILE_HASH_OPERATORS.contains(&operator) {
        Some("path")
    } else {
        None
    };
    for extra in ["value", "path"] {
        if map.contains_key(extra) && needed != Some(extra) {
            let mut at = path[..path.len().saturating_sub(1)].to_vec();
            at.push(PathSegment::Key(extra.into()));
            errors.push(error(
                &at,
                Code::InvalidCondition,
                format!("`{operator}` does not take `{extra}`"),
            ));
        }
    }
    let other = match needed {
        Some(key) => match map.get(key) {
            Some(v) if scalar(v) => Some(v.clone()),
            Some(_) => {
                errors.push(error(
                    path,
                    Code::InvalidCondition,
                    format!("`{key}` of `{operator}` must be a string or a number"),
                ));
                return None;
            }
            None => {
                errors.push(Problem {
                    path: path.to_vec(),
                    code: Code::ConditionMissingValue,
                    message: format!("`{operator}` needs a `{key}` to compare with"),
                    hint: Some(format!("add `{key}:` beside `{operator}:`")),
                });
                return None;
            }
        },
        None => None,
    };
    if operator == "patternMatches" {
        if let Value::String(pattern) = operand {
            if !pattern.contains("{{") {
                if let Err(e) = regex::Regex::new(pattern) {
                    errors.push(error(
                        path,
                        Code::InvalidPattern,
                        format!("`{pattern}` is not a valid regular expression: {e}"),
                    ));
                    return None;
                }
            }
        }
    }
    Some(Condition::Compare {
        operator: operator.to_string(),
        operand: operand.clone(),
        other,
    })
}

/// What the file operators ask of the image.
pub trait Probe {
    /// Whether an executable named `name` is on the image's `PATH`.
    fn binary_exists(&self, name: &str) -> bool;
    /// Whether a regular file exists at `path`.
    fn file_exists(&self, path: &str) -> bool;
    /// Whether a directory exists at `path`.
    fn folder_exists(&self, path: &str) -> bool;
    /// The lowercase hex digest of the file at `path` (`MD5`, `SHA1`, `SHA256`, `SHA512`).
    fn file_hash(&self, path: &str, algorithm: &str) -> Option<String>;
}

/// The text of a scalar, as AWSTOE converts it for string comparisons.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

impl Condition {
    /// The first operator that reads the image (`binaryExists`, `fileExists`, `folderExists`,
    /// `file…Equals`), or `None` when the condition depends on its values alone, so it can be
    /// decided without an image (at render time).
    pub fn image_operator(&self) -> Option<&str> {
        match self {
            Condition::And(items) | Condition::Or(items) => {
                items.iter().find_map(Condition::image_operator)
            }
            Condition::Not(inner) => inner.image_operator(),
            Condition::Compare { operator, .. } => {
                let reads_image = ["binaryExists", "fileExists", "folderExists"]
                    .contains(&operator.as_str())
                    || FILE_HASH_OPERATORS.contains(&operator.as_str());
                reads_image.then_some(operator.as_str())
            }
        }
    }

    /// Evaluates the condition (after substitution) against the image.
    pub fn evaluate(&self, probe: &dyn Probe) -> Result<bool, String> {
        match self {
            Condition::And(items) => {
                for item in items {
                    if !item.evaluate(probe)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Or(items) => {
                for item in items {
                    if item.evaluate(probe)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(inner) => Ok(!inner.evaluate(probe)?),
            Condition::Compare {
                operator,
                operand,
                other,
            } => compare(operator, operand, other.as_ref(), probe),
        }
    }
}

fn compare(
    operator: &str,
    operand: &Value,
    other: Option<&Value>,
    probe: &dyn Probe,
) -> Result<bool, String> {
    let baseline = text(operand);
    let value = other.map(text).unwrap_or_default();
    // String comparisons ignore case and keep surrounding spaces.
    let (a, b) = (baseline.to_lowercase(), value.to_lowercase());
    let numbers = || {
        let lhs = number(operand);
        let rhs = other.and_then(number);
        lhs.zip(rhs)
    };
    Ok(match operator {
        "stringIsEmpty" => baseline.is_empty(),
        "stringIsWhitespace" => !baseline.is_empty() && baseline.chars().all(|c| c == ' '),
        "stringEquals" => a == b,
        // The operator's value is compared to `value`: `stringLessThan: 'A'`, `value: 'B'`
        // holds because `A` < `B`.
        "stringLessThan" => a < b,
        "stringLessThanEquals" => a <= b,
        "stringGreaterThan" => a > b,
        "stringGreaterThanEquals" => a >= b,
        "patternMatches" => regex::Regex::new(&baseline)
            .map_err(|e| format!("`{baseline}` is not a valid regular expression: {e}"))?
            .is_match(&value),
        "numberEquals" => numbers().is_some_and(|(x, y)| x == y),
        "numberLessThan" => numbers().is_some_and(|(x, y)| x < y),
        "numberLessThanEquals" => numbers().is_some_and(|(x, y)| x <= y),
        "numberGreaterThan" => numbers().is_some_and(|(x, y)| x > y),
        "numberGreaterThanEquals" => numbers().is_some_and(|(x, y)| x >= y),
        "binaryExists" => probe.binary_exists(&baseline),
        "fileExists" => probe.file_exists(&baseline),
        "folderExists" => probe.folder_exists(&baseline),
        "fileMD5Equals" | "fileSHA1Equals" | "fileSHA256Equals" | "fileSHA512Equals" => {
            let algorithm = &operator["file".len()..operator.len() - "Equals".len()];
            probe
                .file_hash(&value, algorithm)
                .is_some_and(|digest| digest.eq_ignore_ascii_case(baseline.trim()))
        }
        other => return Err(format!("`{other}` is not an AWSTOE operator")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct NoFiles;
    impl Probe for NoFiles {
        fn binary_exists(&self, name: &str) -> bool {
            name == "bash"
        }
        fn file_exists(&self, _: &str) -> bool {
            false
        }
        fn folder_exists(&self, _: &str) -> bool {
            false
        }
        fn file_hash(&self, _: &str, _: &str) -> Option<String> {
            None
        }
    }

    fn eval(value: Value) -> bool {
        parse_condition(&value).unwrap().evaluate(&NoFiles).unwrap()
    }

    #[test]
    fn string_comparisons_ignore_case() {
        assert!(eval(json!({"stringEquals": "Testing", "value": "TESTING"})));
        assert!(!eval(
            json!({"stringEquals": "Testing", "value": " Testing"})
        ));
        assert!(eval(json!({"stringIsEmpty": ""})));
        assert!(eval(json!({"stringIsWhitespace": "   "})));
        assert!(!eval(json!({"stringIsWhitespace": ""})));
    }

    #[test]
    fn number_conversions() {
        assert!(eval(json!({"numberEquals": 1, "value": "1.0"})));
        assert!(!eval(json!({"numberEquals": 1, "value": "a10"})));
        assert!(eval(json!({"numberLessThan": 1, "value": 2})));
        assert!(eval(json!({"stringLessThan": "A", "value": "b"})));
    }

    #[test]
    fn logical_operators() {
        assert!(eval(json!({"and": [
            {"stringEquals": "a", "value": "a"},
            {"not": {"binaryExists": "zsh"}}
        ]})));
        assert!(eval(json!({"or": [
            {"stringEquals": "a", "value": "b"},
            {"binaryExists": "bash"}
        ]})));
    }

    #[test]
    fn if_then_else() {
        let parsed = parse_if(&json!([{
            "stringEquals": "x", "value": "y", "then": "Execute", "else": "Abort"
        }]))
        .unwrap();
        assert_eq!(parsed.then, StepAction::Execute);
        assert_eq!(parsed.otherwise, StepAction::Abort);
    }

    #[test]
    fn errors() {
        let e = parse_condition(&json!({"stringEqual": "a", "value": "b"})).unwrap_err();
        assert_eq!(e[0].code, Code::UnknownOperator);
        assert_eq!(e[0].hint.as_deref(), Some("did you mean `stringEquals`?"));
        let e = parse_condition(&json!({"stringEquals": "a"})).unwrap_err();
        assert_eq!(e[0].code, Code::ConditionMissingValue);
        let e = parse_condition(&json!({"fileSHA256Equals": "abc"})).unwrap_err();
        assert_eq!(e[0].code, Code::ConditionMissingValue);
        let deep = json!({"not": {"not": {"not": {"not": {"not": {"stringIsEmpty": ""}}}}}});
        let e = parse_condition(&deep).unwrap_err();
        assert_eq!(e[0].code, Code::ConditionTooDeep);
        let ok = json!({"not": {"not": {"not": {"not": {"stringIsEmpty": ""}}}}});
        assert!(parse_condition(&ok).is_ok());
        let e = parse_condition(&json!({"patternMatches": "(", "value": "x"})).unwrap_err();
        assert_eq!(e[0].code, Code::InvalidPattern);
    }
}
