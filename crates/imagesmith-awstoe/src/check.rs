//! Static checks of an AWSTOE document: every problem in one pass, each located by its path.

use crate::actions::{self, ActionSpec, InputField, InputShape, InputType, Platforms};
use crate::expr::{self, ChainKind, Reference};
use crate::{
    condition, loops, script, Code, Finding, PathSegment, Problem, Severity, TextPosition,
};
use imagesmith_diagnostics::did_you_mean;
use imagesmith_model::{AwstoeDocument, OsFamily, Step};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The phases Image Builder runs, in the order it runs them.
pub const PHASES: [&str; 3] = ["build", "validate", "test"];

/// The values `onFailure` accepts.
const ON_FAILURE: [&str; 3] = ["Abort", "Continue", "Ignore"];

/// What the checks need to know beyond the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// Names of the component's secrets: they reach a step as `/run/secrets/<name>`, so a
    /// document parameter or constant of that name is an error.
    pub secret_names: Vec<String>,
    /// The OS family the document is for: Windows-only actions are errors in a Linux
    /// document and Linux-only ones in a Windows document.
    pub os_family: OsFamily,
    /// Report parameters and constants that no step uses.
    pub warn_unused: bool,
    /// The catalog OS id the document is for (`amazonlinux2023`), for the script lints that
    /// depend on it; `None` when unknown.
    pub os_id: Option<String>,
    /// The OS may be built from a `-minimal` image, whose `dnf` is microdnf.
    pub minimal_image: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            secret_names: Vec::new(),
            os_family: OsFamily::Linux,
            warn_unused: true,
            os_id: None,
            minimal_image: false,
        }
    }
}

macro_rules! path {
    ($($segment:expr),* $(,)?) => {
        vec![$(PathSegment::from($segment)),*]
    };
}

macro_rules! seg {
    ($($segment:expr),* $(,)?) => {
        [$(PathSegment::from($segment)),*]
    };
}

fn suggestion<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    did_you_mean(input, candidates).map(|s| format!("did you mean `{s}`?"))
}

fn joined_index(prefix: &[PathSegment], index: usize) -> Vec<PathSegment> {
    joined(prefix, &[PathSegment::Index(index)])
}

fn joined(prefix: &[PathSegment], rest: &[PathSegment]) -> Vec<PathSegment> {
    prefix.iter().chain(rest).cloned().collect()
}

/// Checks a document; returns every finding, errors and warnings, in document order.
pub fn check(doc: &AwstoeDocument, options: &CheckOptions) -> Vec<Finding> {
    let mut checker = Checker::new(doc, options);
    checker.schema_version();
    checker.variables();
    checker.phases();
    checker.unused();
    checker.findings
}

/// The loop a reference is checked in.
#[derive(Clone, Copy)]
enum LoopScope<'a> {
    /// Not inside a step's inputs: no loop variables.
    None,
    /// Inside the inputs of a step with this loop (its optional name).
    Step(Option<&'a str>),
}

struct Checker<'a> {
    doc: &'a AwstoeDocument,
    options: &'a CheckOptions,
    findings: Vec<Finding>,
    /// Declared parameters and constants, name to whether it is a parameter.
    variables: BTreeMap<String, bool>,
    used: BTreeSet<String>,
    secrets: BTreeSet<String>,
}

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

fn stage(phase: &str) -> u8 {
    // Image Builder runs build and validate on the build instance and test on a new one.
    if phase == "test" {
        1
    } else {
        0
    }
}

impl<'a> Checker<'a> {
    fn new(doc: &'a AwstoeDocument, options: &'a CheckOptions) -> Self {
        Checker {
            doc,
            options,
            findings: Vec::new(),
            variables: BTreeMap::new(),
            used: BTreeSet::new(),
            secrets: options.secret_names.iter().map(|s| normalize(s)).collect(),
        }
    }

    fn push(
        &mut self,
        severity: Severity,
        path: Vec<PathSegment>,
        code: Code,
        message: String,
        hint: Option<String>,
    ) {
        self.findings.push(Finding {
            path,
            severity,
            code,
            message,
            hint,
            within: None,
        });
    }

    fn error(&mut self, path: Vec<PathSegment>, code: Code, message: String) {
        self.push(Severity::Error, path, code, message, None);
    }

    fn error_hint(
        &mut self,
        path: Vec<PathSegment>,
        code: Code,
        message: String,
        hint: Option<String>,
    ) {
        self.push(Severity::Error, path, code, message, hint);
    }

    fn warning(
        &mut self,
        path: Vec<PathSegment>,
        code: Code,
        message: String,
        hint: Option<String>,
    ) {
        self.push(Severity::Warning, path, code, message, hint);
    }

    fn problems(&mut self, prefix: &[PathSegment], problems: Vec<Problem>) {
        for problem in problems {
            self.error_hint(
                joined(prefix, &problem.path),
                problem.code,
                problem.message,
                problem.hint,
            );
        }
    }

    fn schema_version(&mut self) {
        if self.doc.schema_version != "1.0" {
            self.error_hint(
                path!["schemaVersion"],
                Code::SchemaVersion,
                format!(
                    "Schema version `{}` is not supported",
                    self.doc.schema_version
                ),
                Some("use `schemaVersion: 1.0`".into()),
            );
        }
    }

    fn variables(&mut self) {
        let doc = self.doc;
        let parameters = doc.parameters.iter().map(|entry| {
            entry
                .iter()
                .map(|(name, p)| (name.as_str(), p.kind.as_str()))
                .collect::<Vec<_>>()
        });
        let constants = doc.constants.iter().map(|entry| {
            entry
                .iter()
                .map(|(name, c)| (name.as_str(), c.kind.as_str()))
                .collect::<Vec<_>>()
        });
        for (section, entries, is_parameter) in [
            ("parameters", parameters.collect::<Vec<_>>(), true),
            ("constants", constants.collect::<Vec<_>>(), false),
        ] {
            let what = if is_parameter {
                "Parameter"
            } else {
                "Constant"
            };
            for (i, entry) in entries.into_iter().enumerate() {
                if entry.len() != 1 {
                    self.error_hint(
                        path![section, i],
                        Code::InvalidVariableEntry,
                        format!(
                            "Each item of `{section}` must define exactly one name, not {}",
                            entry.len()
                        ),
                        Some("write one `- Name: {type: string}` item per name".into()),
                    );
                }
                for (name, kind) in entry {
                    let at = path![section, i, name];
                    if !(3..=128).contains(&name.chars().count()) || !expr::is_name(name) {
                        self.error_hint(
                            at.clone(),
                            Code::InvalidVariableName,
                            format!("{what} name `{name}` is not valid"),
                            Some("use 3 to 128 letters, digits, `-` or `_` (AWSTOE's rule)".into()),
                        );
                    }
                    if kind != "string" {
                        let mut type_path = at.clone();
                        type_path.push("type".into());
                        self.error_hint(
                            type_path,
                            Code::InvalidVariableType,
                            format!("{what} `{name}` has type `{kind}`"),
                            Some("AWSTOE supports only `type: string`".into()),
                        );
                    }
                    if self.secrets.contains(&normalize(name)) {
                        let secret = self
                            .options
                            .secret_names
                            .iter()
                            .find(|s| normalize(s) == normalize(name))
                            .cloned()
                            .unwrap_or_else(|| name.to_string());
                        self.error_hint(
                            at.clone(),
                            if is_parameter {
                                Code::SecretAsParameter
                            } else {
                                Code::SecretAsConstant
                            },
                            format!(
                                "{what} `{name}` is named like the secret `{secret}`; secrets are never {section}"
                            ),
                            Some(format!(
                                "remove it and read the secret from the file `/run/secrets/{secret}` in the step"
                            )),
                        );
                    }
                    if self.variables.contains_key(name) {
                        self.error(
                            at,
                            Code::DuplicateVariable,
                            format!("`{name}` is defined more than once in `parameters` and `constants`"),
                        );
                    } else {
                        self.variables.insert(name.to_string(), is_parameter);
                    }
                }
            }
        }
    }

    fn unused(&mut self) {
        if !self.options.warn_unused {
            return;
        }
        let doc = self.doc;
        for (section, names, code) in [
            (
                "parameters",
                doc.parameters
                    .iter()
                    .map(|e| e.keys().cloned().collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
                Code::UnusedParameter,
            ),
            (
                "constants",
                doc.constants
                    .iter()
                    .map(|e| e.keys().cloned().collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
                Code::UnusedConstant,
            ),
        ] {
            for (i, entry) in names.into_iter().enumerate() {
                for name in entry {
                    if !self.used.contains(&name) {
                        self.warning(
                            path![section, i, name.as_str()],
                            code,
                            format!("`{name}` is never used"),
                            Some(format!("remove it, or use it as `{{{{ {name} }}}}`")),
                        );
                    }
                }
            }
        }
    }

    fn phases(&mut self) {
        let doc = self.doc;
        if doc.phases.is_empty() {
            self.error_hint(
                path!["phases"],
                Code::NoPhases,
                "The document has no phases".into(),
                Some("add a `build`, `validate` or `test` phase".into()),
            );
        }
        let mut seen = BTreeSet::new();
        let mut last_order = 0;
        for (pi, phase) in doc.phases.iter().enumerate() {
            let at = path!["phases", pi, "name"];
            match PHASES.iter().position(|p| *p == phase.name) {
                None => self.error_hint(
                    at.clone(),
                    Code::UnknownPhase,
                    format!("Phase `{}` is not run by Image Builder", phase.name),
                    suggestion(&phase.name, PHASES)
                        .or_else(|| Some("use `build`, `validate` or `test`".into())),
                ),
                Some(order) => {
                    if order < last_order {
                        self.warning(
                            at.clone(),
                            Code::PhaseOrder,
                            format!(
                                "Phase `{}` comes after `{}`; AWSTOE runs phases in document order",
                                phase.name, PHASES[last_order]
                            ),
                            Some("order the phases `build`, `validate`, `test`".into()),
                        );
                    }
                    last_order = last_order.max(order);
                }
            }
            if !seen.insert(phase.name.as_str()) {
                self.error(
                    at,
                    Code::DuplicatePhase,
                    format!("Phase `{}` is defined more than once", phase.name),
                );
            }
            if phase.steps.is_empty() {
                self.error(
                    path!["phases", pi, "steps"],
                    Code::EmptyPhase,
                    format!("Phase `{}` has no steps", phase.name),
                );
            }
            let mut step_names = BTreeSet::new();
            let mut loop_names = BTreeSet::new();
            for (si, step) in phase.steps.iter().enumerate() {
                if !step_names.insert(step.name.as_str()) {
                    self.error(
                        path!["phases", pi, "steps", si, "name"],
                        Code::DuplicateStepName,
                        format!(
                            "Step `{}` appears more than once in phase `{}`",
                            step.name, phase.name
                        ),
                    );
                }
                if let Some(Value::Object(spec)) = &step.loop_ {
                    if let Some(Value::String(name)) = spec.get("name") {
                        if !loop_names.insert(name.clone()) {
                            self.error(
                                path!["phases", pi, "steps", si, "loop", "name"],
                                Code::DuplicateLoopName,
                                format!(
                                    "Loop name `{name}` is used more than once in phase `{}`",
                                    phase.name
                                ),
                            );
                        }
                    }
                }
                self.step(pi, si, step);
            }
        }
    }

    fn step(&mut self, pi: usize, si: usize, step: &'a Step) {
        let base = path!["phases", pi, "steps", si];
        let at = |rest: &[PathSegment]| joined(&base, rest);

        if step.name.contains("{{") {
            self.error(
                at(&seg!["name"]),
                Code::ExpressionNotAllowed,
                format!("Step name `{}` cannot contain an expression", step.name),
            );
        } else if !expr::is_name(&step.name) || step.name.chars().count() > 128 {
            self.error_hint(
                at(&seg!["name"]),
                Code::InvalidStepName,
                format!("Step name `{}` is not valid", step.name),
                Some(
                    "use letters, digits, `-` and `_` so that `{{ phase.step.outputs.stdout }}` can name it"
                        .into(),
                ),
            );
        }

        let spec = actions::lookup(&step.action);
        match spec {
            None => {
                let exact = actions::names().find(|n| n.eq_ignore_ascii_case(&step.action));
                let hint = match exact {
                    Some(name) => Some(format!("action names are case-sensitive: use `{name}`")),
                    None => suggestion(&step.action, actions::names()),
                };
                self.error_hint(
                    at(&seg!["action"]),
                    Code::UnknownAction,
                    format!("`{}` is not an AWSTOE action module", step.action),
                    hint,
                );
            }
            Some(spec) => self.platform(spec, at(&seg!["action"])),
        }

        self.step_fields(step, spec, &base);

        let mut loop_name = None;
        let mut has_loop = false;
        if let Some(value) = &step.loop_ {
            has_loop = true;
            match loops::parse_loop(value) {
                Ok(parsed) => {
                    if let loops::LoopKind::List(items) = &parsed.kind {
                        if items.is_empty() {
                            self.warning(
                                at(&seg!["loop", "forEach"]),
                                Code::EmptyLoop,
                                "The `forEach` list is empty, so the step never runs".into(),
                                None,
                            );
                        }
                    }
                    loop_name = parsed.name;
                }
                Err(problems) => {
                    self.problems(&at(&seg!["loop"]), problems);
                    if let Some(Value::String(name)) = value.get("name") {
                        loop_name = Some(name.clone());
                    }
                }
            }
            // The list may chain from earlier steps, but cannot use its own iteration variables.
            if let Some(for_each) = value.get("forEach") {
                self.references(
                    pi,
                    si,
                    for_each,
                    &at(&seg!["loop", "forEach"]),
                    LoopScope::None,
                );
            }
        }

        if let Some(value) = &step.condition {
            if let Err(problems) = condition::parse_if(value) {
                self.problems(&at(&seg!["if"]), problems);
            }
            self.references(pi, si, value, &at(&seg!["if"]), LoopScope::None);
        }

        let scope = if has_loop {
            LoopScope::Step(loop_name.as_deref())
        } else {
            LoopScope::None
        };
        if let Some(spec) = spec {
            self.inputs(spec, step.inputs.as_ref(), &at(&seg!["inputs"]));
        }
        if let Some(inputs) = &step.inputs {
            // The borrow of `loop_name` ends with this call.
            let scope = match scope {
                LoopScope::Step(_) => LoopScope::Step(loop_name.as_deref()),
                LoopScope::None => LoopScope::None,
            };
            self.references(pi, si, inputs, &at(&seg!["inputs"]), scope);
            self.scripts(step, inputs, &at(&seg!["inputs", "commands"]));
        }
    }

    /// The script lints of an `ExecuteBash` or `ExecutePowerShell` step, each located at its
    /// command and the line and column inside it.
    fn scripts(&mut self, step: &Step, inputs: &Value, at: &[PathSegment]) {
        let bash = match step.action.as_str() {
            "ExecuteBash" => true,
            "ExecutePowerShell" => false,
            _ => return,
        };
        let Some(Value::Array(items)) = inputs.get("commands") else {
            return;
        };
        let commands: Vec<(usize, &str)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| item.as_str().map(|text| (i, text)))
            .collect();
        let texts: Vec<&str> = commands.iter().map(|(_, text)| *text).collect();
        let (joined, starts) = script::join_commands(&texts);
        let problems = if bash {
            script::bash(
                &joined,
                script::BashTarget {
                    os_id: self.options.os_id.as_deref(),
                    minimal_image: self.options.minimal_image,
                },
            )
        } else {
            script::powershell(&joined)
        };
        for problem in problems {
            // The command the line falls in: the last one starting at or before it.
            let k = starts
                .partition_point(|&start| start <= problem.line)
                .saturating_sub(1);
            let (index, _) = commands[k];
            self.findings.push(Finding {
                path: joined_index(at, index),
                severity: problem.severity,
                code: problem.code,
                message: problem.message,
                hint: problem.hint,
                within: Some(TextPosition {
                    line: problem.line + 1 - starts[k],
                    column: problem.column,
                }),
            });
        }
    }

    fn platform(&mut self, spec: &ActionSpec, at: Vec<PathSegment>) {
        match (self.options.os_family, spec.platforms) {
            (OsFamily::Linux, Platforms::WindowsOnly) => self.error_hint(
                at,
                Code::WindowsOnlyAction,
                format!(
                    "`{}` runs only on Windows, and this is a Linux document",
                    spec.name
                ),
                Some(if spec.name == "ExecutePowerShell" {
                    "use `ExecuteBash`".into()
                } else {
                    "move this step to the component's Windows document".into()
                }),
            ),
            (OsFamily::Windows, Platforms::NotWindows) => self.error_hint(
                at,
                Code::LinuxOnlyAction,
                format!(
                    "`{}` is not supported on Windows, and this is a Windows document",
                    spec.name
                ),
                Some(if spec.name == "ExecuteBash" {
                    "use `ExecutePowerShell`".into()
                } else {
                    "move this step to the component's Linux documents".into()
                }),
            ),
            _ => {}
        }
    }

    fn step_fields(&mut self, step: &Step, spec: Option<&ActionSpec>, base: &[PathSegment]) {
        let name = spec.map(|s| s.name);
        if let Some(timeout) = step.timeout_seconds {
            let at = joined(base, &seg!["timeoutSeconds"]);
            if timeout == 0 || timeout < -1 {
                self.error_hint(
                    at.clone(),
                    Code::InvalidTimeout,
                    format!("`timeoutSeconds` is {timeout}"),
                    Some("use a positive number of seconds, or -1 for no limit".into()),
                );
            }
            if name == Some("Reboot") {
                self.warning(
                    at.clone(),
                    Code::TimeoutIgnored,
                    "`Reboot` does not support `timeoutSeconds`".into(),
                    Some("remove `timeoutSeconds`".into()),
                );
            }
            if name == Some("ExecuteDocument") && timeout != -1 {
                self.error(
                    at,
                    Code::ExecuteDocumentRestriction,
                    format!("`ExecuteDocument` requires `timeoutSeconds: -1`, not {timeout}"),
                );
            }
        }
        if let Some(on_failure) = &step.on_failure {
            if !ON_FAILURE.contains(&on_failure.as_str()) {
                let hint = ON_FAILURE
                    .iter()
                    .find(|v| v.eq_ignore_ascii_case(on_failure))
                    .map(|v| format!("values are case-sensitive: use `{v}`"))
                    .or_else(|| suggestion(on_failure, ON_FAILURE))
                    .or_else(|| Some("use `Abort`, `Continue` or `Ignore`".into()));
                self.error_hint(
                    joined(base, &seg!["onFailure"]),
                    Code::InvalidOnFailure,
                    format!("`onFailure` is `{on_failure}`"),
                    hint,
                );
            }
        }
        if let Some(attempts) = step.max_attempts {
            let at = joined(base, &seg!["maxAttempts"]);
            if attempts < 1 {
                self.error_hint(
                    at,
                    Code::InvalidMaxAttempts,
                    format!("`maxAttempts` is {attempts}"),
                    Some("use 1 or more".into()),
                );
            } else if name == Some("ExecuteDocument") && attempts != 1 {
                self.error(
                    at,
                    Code::ExecuteDocumentRestriction,
                    format!("`ExecuteDocument` runs once and takes no retries, not `maxAttempts: {attempts}`"),
                );
            }
        }
    }

    fn inputs(&mut self, spec: &ActionSpec, inputs: Option<&Value>, at: &[PathSegment]) {
        match spec.inputs {
            InputShape::Map { fields, optional } => match inputs {
                None | Some(Value::Null) => {
                    if !optional {
                        self.missing_inputs(spec, at);
                    }
                }
                Some(Value::Object(map)) => {
                    self.fields(spec, fields, map, at);
                    self.action_rules(spec, map, at);
                }
                Some(_) => self.error(
                    at.to_vec(),
                    Code::InputsShape,
                    format!("`{}` takes a mapping of inputs", spec.name),
                ),
            },
            InputShape::List(fields) => match inputs {
                None | Some(Value::Null) => self.missing_inputs(spec, at),
                Some(Value::Array(items)) if items.is_empty() => self.missing_inputs(spec, at),
                Some(Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        let item_at = joined(at, &seg![i]);
                        match item {
                            Value::Object(map) => {
                                self.fields(spec, fields, map, &item_at);
                                self.action_rules(spec, map, &item_at);
                            }
                            _ => self.error(
                                item_at,
                                Code::InputsShape,
                                format!("Each input of `{}` must be a mapping", spec.name),
                            ),
                        }
                    }
                }
                Some(Value::Object(_)) => self.error_hint(
                    at.to_vec(),
                    Code::InputsShape,
                    format!("`{}` takes a list of inputs", spec.name),
                    Some("start the item with `- `, e.g. `inputs:\\n  - path: /tmp/file`".into()),
                ),
                Some(_) => self.error(
                    at.to_vec(),
                    Code::InputsShape,
                    format!("`{}` takes a list of inputs", spec.name),
                ),
            },
            InputShape::Condition => match inputs {
                None | Some(Value::Null) => self.missing_inputs(spec, at),
                Some(value) => {
                    if let Err(problems) = condition::parse_condition(value) {
                        self.problems(at, problems);
                    }
                }
            },
        }
    }

    fn missing_inputs(&mut self, spec: &ActionSpec, at: &[PathSegment]) {
        let required: Vec<String> = match spec.inputs {
            InputShape::Map { fields, .. } | InputShape::List(fields) => fields
                .iter()
                .filter(|f| f.required)
                .map(|f| format!("`{}`", f.name))
                .collect(),
            InputShape::Condition => vec!["a comparison".into()],
        };
        self.error_hint(
            at.to_vec(),
            Code::MissingInputs,
            format!("`{}` needs inputs", spec.name),
            (!required.is_empty()).then(|| format!("give {}", required.join(", "))),
        );
    }

    fn fields(
        &mut self,
        spec: &ActionSpec,
        fields: &[InputField],
        map: &serde_json::Map<String, Value>,
        at: &[PathSegment],
    ) {
        for (key, value) in map {
            let key_at = joined(at, &seg![key.as_str()]);
            let Some(field) = fields.iter().find(|f| f.name == key) else {
                let hint = suggestion(key, fields.iter().map(|f| f.name)).or_else(|| {
                    let names: Vec<String> =
                        fields.iter().map(|f| format!("`{}`", f.name)).collect();
                    Some(format!("`{}` takes {}", spec.name, names.join(", ")))
                });
                self.error_hint(
                    key_at,
                    Code::UnknownInput,
                    format!("`{key}` is not an input of `{}`", spec.name),
                    hint,
                );
                continue;
            };
            if field.not_on_windows && self.options.os_family == OsFamily::Windows {
                self.error(
                    key_at.clone(),
                    Code::OptionNotOnWindows,
                    format!("`{key}` of `{}` is not supported on Windows", spec.name),
                );
            }
            self.value_type(spec, field, value, key_at);
        }
        for field in fields.iter().filter(|f| f.required) {
            if !map.contains_key(field.name) {
                self.error_hint(
                    at.to_vec(),
                    Code::MissingInput,
                    format!("`{}` needs `{}`", spec.name, field.name),
                    Some(format!("add `{}:` ({})", field.name, field.kind.describe())),
                );
            }
        }
    }

    fn value_type(
        &mut self,
        spec: &ActionSpec,
        field: &InputField,
        value: &Value,
        at: Vec<PathSegment>,
    ) {
        let templated = |v: &Value| matches!(v, Value::String(s) if s.contains("{{"));
        let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_));
        let ok = match field.kind {
            InputType::String => scalar(value),
            InputType::Bool => match value {
                Value::Bool(_) => true,
                Value::String(s) => {
                    templated(value) || s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false")
                }
                _ => false,
            },
            InputType::Integer => match value {
                Value::Number(n) => n.is_i64(),
                Value::String(s) => templated(value) || s.trim().parse::<i64>().is_ok(),
                _ => false,
            },
            InputType::StringList => {
                matches!(value, Value::Array(items) if items.iter().all(scalar))
            }
            InputType::StringMap => {
                matches!(value, Value::Object(map) if map.values().all(scalar))
            }
            InputType::OneOf(allowed) => match value {
                Value::String(s) if templated(value) => {
                    let _ = s;
                    true
                }
                Value::String(s) => {
                    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(s)) {
                        let shown: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
                        self.error_hint(
                            at.clone(),
                            Code::InvalidInputValue,
                            format!("`{s}` is not a valid `{}` for `{}`", field.name, spec.name),
                            suggestion(s, allowed.iter().copied())
                                .or_else(|| Some(format!("use one of {}", shown.join(", ")))),
                        );
                    }
                    true
                }
                _ => false,
            },
            InputType::Any => matches!(value, Value::String(_) | Value::Number(_) | Value::Array(_)),
            InputType::NameValueList => match value {
                Value::Array(items) => items.iter().all(|item| {
                    matches!(item, Value::Object(m)
                        if m.len() == 2 && m.get("name").is_some_and(scalar) && m.get("value").is_some_and(scalar))
                }),
                _ => false,
            },
        };
        if !ok {
            self.error(
                at,
                Code::InputType,
                format!(
                    "`{}` of `{}` must be {}",
                    field.name,
                    spec.name,
                    field.kind.describe()
                ),
            );
        }
    }

    /// Rules of single actions beyond keys and types.
    fn action_rules(
        &mut self,
        spec: &ActionSpec,
        map: &serde_json::Map<String, Value>,
        at: &[PathSegment],
    ) {
        let get = |key: &str| match map.get(key) {
            Some(Value::String(s)) if !s.contains("{{") => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        match spec.name {
            "ExecuteBash" => {
                if matches!(map.get("commands"), Some(Value::Array(items)) if items.is_empty()) {
                    self.warning(
                        joined(at, &seg!["commands"]),
                        Code::EmptyCommands,
                        "`commands` is empty, so the step does nothing".into(),
                        None,
                    );
                }
            }
            "ExecutePowerShell" => match (map.contains_key("commands"), map.contains_key("file")) {
                (true, true) => self.error(
                    at.to_vec(),
                    Code::ConflictingInputs,
                    "`ExecutePowerShell` takes `commands` or `file`, not both".into(),
                ),
                (false, false) => self.error_hint(
                    at.to_vec(),
                    Code::MissingInput,
                    "`ExecutePowerShell` needs `commands` or `file`".into(),
                    Some("add `commands:` (a list of strings)".into()),
                ),
                _ => {}
            },
            "WebDownload" => {
                match (map.contains_key("checksum"), map.contains_key("algorithm")) {
                    (true, false) | (false, true) => self.warning(
                        at.to_vec(),
                        Code::ChecksumIncomplete,
                        "`checksum` and `algorithm` must be given together, or the download is not verified".into(),
                        Some("add both `checksum:` and `algorithm: SHA256`".into()),
                    ),
                    _ => {}
                }
                if let Some(source) = get("source") {
                    let lower = source.to_ascii_lowercase();
                    if !lower.starts_with("https://") && !lower.starts_with("http://") {
                        self.error(
                            joined(at, &seg!["source"]),
                            Code::InvalidInputValue,
                            format!("`{source}` is not an HTTP or HTTPS URL"),
                        );
                    } else if lower.starts_with("http://") && !map.contains_key("checksum") {
                        self.warning(
                            joined(at, &seg!["source"]),
                            Code::InsecureDownload,
                            format!("`{source}` is fetched over plain HTTP without a checksum"),
                            Some("use HTTPS, or add `checksum:` and `algorithm:`".into()),
                        );
                    }
                }
            }
            "S3Download" | "S3Upload" => {
                let remote = if spec.name == "S3Download" {
                    "source"
                } else {
                    "destination"
                };
                if let Some(url) = get(remote) {
                    if !url.starts_with("s3://") {
                        self.error(
                            joined(at, &seg![remote]),
                            Code::InvalidInputValue,
                            format!("`{url}` is not an `s3://` URL"),
                        );
                    }
                }
            }
            "Reboot" => {
                if let Some(Value::Number(n)) = map.get("delaySeconds") {
                    if n.as_i64().is_some_and(|d| d < 0) {
                        self.error(
                            joined(at, &seg!["delaySeconds"]),
                            Code::InvalidInputValue,
                            format!("`delaySeconds` is {n}"),
                        );
                    }
                }
            }
            _ => {}
        }
        if map.contains_key("permissions") {
            if let Some(mode) = get("permissions") {
                if exec_mode(&mode).is_none() {
                    self.error_hint(
                        joined(at, &seg!["permissions"]),
                        Code::InvalidInputValue,
                        format!("`{mode}` is not an octal mode"),
                        Some("write the mode as a quoted octal string, e.g. `'0755'`".into()),
                    );
                }
            }
        }
    }

    fn references(
        &mut self,
        pi: usize,
        si: usize,
        value: &Value,
        at: &[PathSegment],
        scope: LoopScope<'_>,
    ) {
        let mut found: Vec<(String, Vec<PathSegment>)> = Vec::new();
        expr::walk_strings(value, &mut Vec::new(), &mut |s, path| {
            if s.contains("{{") || s.contains("}}") {
                found.push((s.to_string(), joined(at, path)));
            }
        });
        for (text, path) in found {
            let placeholders = match expr::scan(&text) {
                Ok(p) => p,
                Err(e) => {
                    self.error_hint(
                        path,
                        Code::UnclosedExpression,
                        format!(
                            "`{}` has a `{{{{` that is never closed",
                            abbreviate(&text, e.offset)
                        ),
                        Some("close it with `}}`".into()),
                    );
                    continue;
                }
            };
            for placeholder in placeholders {
                match &placeholder.reference {
                    Err(reason) => {
                        let code = if placeholder.text.is_empty() {
                            Code::EmptyExpression
                        } else {
                            Code::MalformedExpression
                        };
                        self.error(
                            path.clone(),
                            code,
                            format!("`{{{{ {} }}}}`: {reason}", placeholder.text),
                        );
                    }
                    Ok(reference) => {
                        self.reference(pi, si, reference, &placeholder.text, &path, scope)
                    }
                }
            }
        }
    }

    fn reference(
        &mut self,
        pi: usize,
        si: usize,
        reference: &Reference,
        text: &str,
        path: &[PathSegment],
        scope: LoopScope<'_>,
    ) {
        match reference {
            Reference::Variable(name) => {
                if self.variables.contains_key(name) {
                    self.used.insert(name.clone());
                } else if self.secrets.contains(&normalize(name)) {
                    self.error_hint(
                        path.to_vec(),
                        Code::SecretReference,
                        format!("`{{{{ {name} }}}}` refers to a secret; secrets are not substituted into documents"),
                        Some(format!("read the secret from the file `/run/secrets/{name}`")),
                    );
                } else {
                    let names: Vec<&str> = self.variables.keys().map(String::as_str).collect();
                    let hint = suggestion(name, names.iter().copied()).or_else(|| {
                        Some(format!(
                            "declare it under `parameters:` (`- {name}: {{type: string}}`) or `constants:`"
                        ))
                    });
                    self.error_hint(
                        path.to_vec(),
                        Code::UnknownVariable,
                        format!(
                            "`{{{{ {name} }}}}` is not a parameter or constant of this document"
                        ),
                        hint,
                    );
                }
            }
            Reference::Loop { name, .. } => match scope {
                LoopScope::None => self.error_hint(
                    path.to_vec(),
                    Code::LoopReferenceOutsideLoop,
                    format!("`{{{{ {text} }}}}` is used outside the inputs of a step with a loop"),
                    Some("AWSTOE leaves it unreplaced; add a `loop:` to this step".into()),
                ),
                LoopScope::Step(loop_name) => {
                    if let Some(name) = name {
                        if loop_name != Some(name.as_str()) {
                            let hint = match loop_name {
                                Some(actual) => Some(format!(
                                    "this step's loop is named `{actual}`; use `{{{{ {actual}.value }}}}` or `{{{{ loop.value }}}}`"
                                )),
                                None => Some(format!("name the loop: `loop: {{name: {name}, …}}`")),
                            };
                            self.error_hint(
                                path.to_vec(),
                                Code::UnknownLoopName,
                                format!("`{{{{ {text} }}}}` does not name this step's loop"),
                                hint,
                            );
                        }
                    }
                }
            },
            Reference::Chain {
                phase,
                step,
                kind,
                index,
                variable,
            } => self.chain(pi, si, phase, step, *kind, *index, variable, text, path),
            Reference::Foreign => self.warning(
                path.to_vec(),
                Code::UnresolvedExpression,
                format!("`{{{{ {text} }}}}` is not an AWSTOE expression and is left as written"),
                None,
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn chain(
        &mut self,
        pi: usize,
        si: usize,
        phase: &str,
        step: &str,
        kind: ChainKind,
        index: Option<usize>,
        variable: &str,
        text: &str,
        path: &[PathSegment],
    ) {
        let doc = self.doc;
        let current = &doc.phases[pi];
        let Some(rp) = doc.phases.iter().position(|p| p.name == phase) else {
            let names: Vec<&str> = doc.phases.iter().map(|p| p.name.as_str()).collect();
            self.error_hint(
                path.to_vec(),
                Code::ChainingUnknownPhase,
                format!(
                    "`{{{{ {text} }}}}` names phase `{phase}`, which this document does not have"
                ),
                suggestion(phase, names.iter().copied()),
            );
            return;
        };
        let target_phase = &doc.phases[rp];
        let Some(rs) = target_phase.steps.iter().position(|s| s.name == step) else {
            let names: Vec<&str> = target_phase.steps.iter().map(|s| s.name.as_str()).collect();
            self.error_hint(
                path.to_vec(),
                Code::ChainingUnknownStep,
                format!(
                    "`{{{{ {text} }}}}` names step `{step}`, which phase `{phase}` does not have"
                ),
                suggestion(step, names.iter().copied()),
            );
            return;
        };
        if rp > pi || (rp == pi && rs >= si) {
            let why = if rp == pi && rs == si {
                "a step cannot chain from itself".to_string()
            } else {
                format!(
                    "step `{phase}.{step}` runs after `{}.{}`",
                    current.name, current.steps[si].name
                )
            };
            self.error_hint(
                path.to_vec(),
                Code::ChainingForwardReference,
                format!("`{{{{ {text} }}}}` refers to a step that has not run yet: {why}"),
                Some("chain only from earlier steps".into()),
            );
            return;
        }
        if stage(&current.name) != stage(phase) {
            self.error_hint(
                path.to_vec(),
                Code::ChainingAcrossStages,
                format!(
                    "`{{{{ {text} }}}}` chains from phase `{phase}` into `{}`, which Image Builder runs on a new instance",
                    current.name
                ),
                Some(format!("repeat the step in the `{}` phase and chain from it", current.name)),
            );
            return;
        }
        let target = &target_phase.steps[rs];
        match kind {
            ChainKind::Outputs => {
                let Some(spec) = actions::lookup(&target.action) else {
                    return;
                };
                if !spec.outputs.contains(&variable) {
                    let hint = if spec.outputs.is_empty() {
                        Some(format!("`{}` has no outputs", spec.name))
                    } else {
                        let shown: Vec<String> =
                            spec.outputs.iter().map(|o| format!("`{o}`")).collect();
                        Some(format!("its outputs: {}", shown.join(", ")))
                    };
                    self.error_hint(
                        path.to_vec(),
                        Code::UnknownChainedOutput,
                        format!(
                            "Step `{phase}.{step}` (`{}`) has no output `{variable}`",
                            spec.name
                        ),
                        hint,
                    );
                }
            }
            ChainKind::Inputs => {
                let problem = match (&target.inputs, index) {
                    (Some(Value::Array(items)), Some(i)) => match items.get(i) {
                        Some(Value::Object(item)) if item.contains_key(variable) => None,
                        Some(_) => Some(format!("input {i} of `{phase}.{step}` has no `{variable}`")),
                        None => Some(format!("`{phase}.{step}` has {} inputs", items.len())),
                    },
                    (Some(Value::Array(_)), None) => Some(format!(
                        "the inputs of `{phase}.{step}` are a list; give an index: `inputs[0].{variable}`"
                    )),
                    (Some(Value::Object(map)), None | Some(0)) => {
                        (!map.contains_key(variable)).then(|| format!("`{phase}.{step}` has no input `{variable}`"))
                    }
                    (Some(Value::Object(_)), Some(i)) => {
                        Some(format!("the inputs of `{phase}.{step}` are a mapping, not a list with index {i}"))
                    }
                    _ => Some(format!("`{phase}.{step}` has no inputs")),
                };
                if let Some(problem) = problem {
                    self.error(
                        path.to_vec(),
                        Code::UnknownChainedInput,
                        format!("`{{{{ {text} }}}}` does not resolve: {problem}"),
                    );
                }
            }
        }
    }
}

fn abbreviate(text: &str, offset: usize) -> String {
    let tail = &text[offset..];
    match tail.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &tail[..cut]),
        None => tail.to_string(),
    }
}

/// Reads a permission mode as AWSTOE does: an octal string (`0755`, `755`).
pub(crate) fn exec_mode(text: &str) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() || text.len() > 4 || !text.chars().all(|c| ('0'..='7').contains(&c)) {
        return None;
    }
    u32::from_str_radix(text, 8).ok()
}

#[cfg(test)]
mod tests;
