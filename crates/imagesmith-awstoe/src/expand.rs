//! A step as AWSTOE works it out before running its action: the `if` decided, the loop
//! unrolled, and every `{{ … }}` substituted (parameters, constants, loop variables and
//! chaining).
//!
//! This is the one place these semantics live. The executor ([`crate::exec`]) expands each
//! step here before it runs it, and the Dockerfile renderer expands each step here before it
//! translates it to shell, so a local build and a rendered Dockerfile run the same commands
//! in the same order, with the same loop limit ([`loops::MAX_ITERATIONS`]).
//!
//! A renderer runs nothing, so it expands with [`NoChaining`] and no [`Probe`]: chaining
//! expressions are reported in [`Runs::unresolved`] and conditions on the image in
//! [`ExpandError::NeedsImage`], for it to report.
//!
//! ```
//! use imagesmith_awstoe::expand::{decide, runs, NoChaining, Scope, Variables};
//! use imagesmith_awstoe::condition::StepAction;
//! use imagesmith_model::AwstoeDocument;
//! use std::collections::BTreeMap;
//!
//! let doc: AwstoeDocument = serde_json::from_value(serde_json::json!({
//!     "name": "hello", "schemaVersion": "1.0",
//!     "parameters": [{"Greeting": {"type": "string", "default": "hi"}}],
//!     "phases": [{"name": "build", "steps": [{
//!         "name": "Hello", "action": "ExecuteBash",
//!         "if": {"stringEquals": "{{ Greeting }}", "value": "hi"},
//!         "loop": {"name": "who", "forEach": ["you", "me"]},
//!         "inputs": {"commands": ["echo {{ Greeting }} {{ who.value }}"]}
//!     }]}]
//! })).unwrap();
//! let variables = Variables::new(&doc, &BTreeMap::new());
//! let scope = Scope { variables: &variables, chaining: &NoChaining };
//! let step = &doc.phases[0].steps[0];
//! assert_eq!(decide(step, scope, None).unwrap().action, StepAction::Execute);
//! let expanded = runs(step, scope).unwrap();
//! let commands: Vec<&str> = expanded.runs.iter()
//!     .map(|run| run.inputs["commands"][0].as_str().unwrap())
//!     .collect();
//! assert_eq!(commands, ["echo hi you", "echo hi me"]);
//! assert!(expanded.unresolved.is_empty());
//! ```

use crate::condition::{self, Probe, StepAction};
use crate::expr::{self, ChainKind, LoopMember, Reference};
use crate::loops;
use imagesmith_model::{AwstoeDocument, Step};
use serde_json::Value;
use std::collections::BTreeMap;

/// The values of a document's `{{ Name }}`: its parameters and constants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables {
    values: BTreeMap<String, String>,
    missing: Vec<String>,
}

impl Variables {
    /// The document's parameters (the value in `given`, else the default) and constants.
    /// Values in `given` for parameters the document does not declare are ignored, as AWSTOE
    /// does; a parameter with neither a value nor a default is listed in
    /// [`Variables::missing`] and its placeholders stay unresolved.
    pub fn new(document: &AwstoeDocument, given: &BTreeMap<String, String>) -> Variables {
        let mut variables = Variables::default();
        for entry in &document.parameters {
            for (name, parameter) in entry {
                match given.get(name).or(parameter.default.as_ref()) {
                    Some(value) => {
                        variables.values.insert(name.clone(), value.clone());
                    }
                    None => variables.missing.push(name.clone()),
                }
            }
        }
        for entry in &document.constants {
            for (name, constant) in entry {
                variables
                    .values
                    .insert(name.clone(), constant.value.clone());
            }
        }
        variables
    }

    /// The value of a parameter or constant.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The parameters that have neither a value nor a default, in document order.
    pub fn missing(&self) -> &[String] {
        &self.missing
    }
}

/// Earlier steps' inputs and outputs, read by chaining expressions
/// (`{{ build.Download.outputs.destination }}`).
pub trait Chaining {
    /// The value of `{{ phase.step.kind[index].variable }}`, when that step ran.
    fn chained(
        &self,
        phase: &str,
        step: &str,
        kind: ChainKind,
        index: Option<usize>,
        variable: &str,
    ) -> Option<String>;
}

/// No step has run (a renderer): chaining expressions stay as written.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoChaining;

impl Chaining for NoChaining {
    fn chained(&self, _: &str, _: &str, _: ChainKind, _: Option<usize>, _: &str) -> Option<String> {
        None
    }
}

/// What `{{ … }}` resolves to while a step is expanded.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    /// The document's parameters and constants.
    pub variables: &'a Variables,
    /// Earlier steps, for chaining.
    pub chaining: &'a dyn Chaining,
}

/// One iteration of a step's loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iteration {
    /// The loop's name (`{{ name.value }}`), when it has one.
    pub name: Option<String>,
    /// The 0-based position (`{{ loop.index }}`).
    pub index: usize,
    /// The current item (`{{ loop.value }}`).
    pub value: String,
}

impl Scope<'_> {
    /// `value` with every placeholder the scope (and `iteration`'s loop variables) resolves
    /// replaced; the text between the braces of each one left as written is added to
    /// `unresolved`.
    pub fn substitute(
        &self,
        value: &Value,
        iteration: Option<&Iteration>,
        unresolved: &mut Vec<String>,
    ) -> Value {
        let mut resolve = |reference: &Reference| self.resolve(reference, iteration);
        expr::substitute_value_noting(value, &mut resolve, unresolved)
    }

    fn resolve(&self, reference: &Reference, iteration: Option<&Iteration>) -> Option<String> {
        match reference {
            Reference::Variable(name) => self.variables.get(name).map(str::to_string),
            Reference::Chain {
                phase,
                step,
                kind,
                index,
                variable,
            } => self.chaining.chained(phase, step, *kind, *index, variable),
            Reference::Loop { name, member } => {
                let iteration = iteration?;
                // `loop` is the current loop; a name must be the current loop's.
                if name.is_some() && *name != iteration.name {
                    return None;
                }
                Some(match member {
                    LoopMember::Value => iteration.value.clone(),
                    LoopMember::Index => iteration.index.to_string(),
                })
            }
            Reference::Foreign => None,
        }
    }
}

/// Why a step cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// The loop (after substitution) is not one AWSTOE runs, or runs too long.
    #[error("{message}")]
    Loop {
        /// What is wrong.
        message: String,
    },
    /// The `if` (after substitution) cannot be read or evaluated.
    #[error("{message}")]
    Condition {
        /// What is wrong.
        message: String,
    },
    /// The `if` reads the image and no [`Probe`] was given.
    #[error("The `if` condition uses `{operator}`, which only a build can answer")]
    NeedsImage {
        /// The first operator that reads the image.
        operator: String,
    },
}

fn joined(problems: &[crate::Problem]) -> String {
    problems
        .iter()
        .map(|p| p.message.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a step's `if` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Run the step, skip it or fail it.
    pub action: StepAction,
    /// Placeholders of the condition left as written (compared as text, as AWSTOE does).
    pub unresolved: Vec<String>,
}

/// Decides a step's `if`: [`StepAction::Execute`] when it has none. The condition is
/// substituted without loop variables (AWSTOE decides once per step, before the loop);
/// `probe` answers the operators that read the image, and without one a condition that uses
/// them is [`ExpandError::NeedsImage`].
pub fn decide(
    step: &Step,
    scope: Scope<'_>,
    probe: Option<&dyn Probe>,
) -> Result<Decision, ExpandError> {
    let mut unresolved = Vec::new();
    let Some(value) = &step.condition else {
        return Ok(Decision {
            action: StepAction::Execute,
            unresolved,
        });
    };
    let value = scope.substitute(value, None, &mut unresolved);
    let construct = condition::parse_if(&value).map_err(|problems| ExpandError::Condition {
        message: joined(&problems),
    })?;
    let holds = match probe {
        Some(probe) => construct.condition.evaluate(probe),
        None => match construct.condition.image_operator() {
            Some(operator) => {
                return Err(ExpandError::NeedsImage {
                    operator: operator.to_string(),
                })
            }
            None => construct.condition.evaluate(&Unreachable),
        },
    }
    .map_err(|message| ExpandError::Condition { message })?;
    Ok(Decision {
        action: if holds {
            construct.then
        } else {
            construct.otherwise
        },
        unresolved,
    })
}

/// The probe of a condition that reads no file: [`Condition::image_operator`] was `None`, so
/// `evaluate` never asks it anything; answering "no" keeps that total rather than panicking.
///
/// [`Condition::image_operator`]: crate::condition::Condition::image_operator
struct Unreachable;

impl Probe for Unreachable {
    fn binary_exists(&self, _: &str) -> bool {
        false
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

/// One run of a step's action.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The loop iteration; `None` when the step has no loop.
    pub iteration: Option<Iteration>,
    /// The step's inputs after substitution (`null` when it has none).
    pub inputs: Value,
}

/// A step's runs, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Runs {
    /// One per loop iteration, or one when the step has no loop.
    pub runs: Vec<Run>,
    /// Placeholders of the loop and the inputs left as written, first use first, each once.
    pub unresolved: Vec<String>,
}

/// Unrolls a step's loop and substitutes its inputs for each iteration. The loop itself is
/// substituted first (without loop variables), so a `forEach` list may come from a
/// parameter or an earlier step; it runs at most [`loops::MAX_ITERATIONS`] times.
pub fn runs(step: &Step, scope: Scope<'_>) -> Result<Runs, ExpandError> {
    let mut unresolved = Vec::new();
    let inputs = step.inputs.clone().unwrap_or(Value::Null);
    let runs = match &step.loop_ {
        None => vec![Run {
            inputs: scope.substitute(&inputs, None, &mut unresolved),
            iteration: None,
        }],
        Some(value) => {
            let value = scope.substitute(value, None, &mut unresolved);
            let parsed = loops::parse_loop(&value).map_err(|problems| ExpandError::Loop {
                message: joined(&problems),
            })?;
            let values = parsed
                .values()
                .map_err(|message| ExpandError::Loop { message })?;
            values
                .into_iter()
                .enumerate()
                .map(|(index, value)| {
                    let iteration = Iteration {
                        name: parsed.name.clone(),
                        index,
                        value,
                    };
                    Run {
                        inputs: scope.substitute(&inputs, Some(&iteration), &mut unresolved),
                        iteration: Some(iteration),
                    }
                })
                .collect()
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    unresolved.retain(|text| seen.insert(text.clone()));
    Ok(Runs { runs, unresolved })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(value: Value) -> Step {
        serde_json::from_value(value).expect("a step")
    }

    fn document() -> AwstoeDocument {
        serde_json::from_value(json!({
            "name": "doc", "schemaVersion": "1.0",
            "parameters": [{"Mode": {"type": "string", "default": "fast"}},
                           {"Needed": {"type": "string"}}],
            "constants": [{"Dir": {"type": "string", "value": "/opt"}}],
            "phases": [{"name": "build", "steps": []}]
        }))
        .expect("a document")
    }

    #[test]
    fn variables_take_given_values_then_defaults() {
        let given = BTreeMap::from([("Mode".to_string(), "slow".to_string())]);
        let variables = Variables::new(&document(), &given);
        assert_eq!(variables.get("Mode"), Some("slow"));
        assert_eq!(variables.get("Dir"), Some("/opt"));
        assert_eq!(variables.missing(), ["Needed"]);
    }

    #[test]
    fn unresolved_placeholders_are_reported_once() {
        let variables = Variables::new(&document(), &BTreeMap::new());
        let scope = Scope {
            variables: &variables,
            chaining: &NoChaining,
        };
        let expanded = runs(
            &step(json!({"name": "S", "action": "ExecuteBash", "loop": {"forEach": ["a", "b"]},
                "inputs": {"commands": ["{{ build.X.outputs.stdout }} {{ Needed }} {{ loop.value }} {{ .Id }}"]}})),
            scope,
        )
        .unwrap();
        assert_eq!(
            expanded.unresolved,
            ["build.X.outputs.stdout", "Needed"],
            "foreign templates are not AWSTOE's"
        );
        assert_eq!(
            expanded.runs[1].inputs["commands"][0],
            "{{ build.X.outputs.stdout }} {{ Needed }} b {{ .Id }}"
        );
    }

    #[test]
    fn named_loops_and_the_loop_keyword() {
        let variables = Variables::default();
        let scope = Scope {
            variables: &variables,
            chaining: &NoChaining,
        };
        let expanded = runs(
            &step(json!({"name": "S", "action": "ExecuteBash",
                "loop": {"name": "n", "for": {"start": 3, "end": 1, "updateBy": -1}},
                "inputs": {"commands": ["{{ n.index }}={{ loop.value }} {{ other.value }}"]}})),
            scope,
        )
        .unwrap();
        let commands: Vec<&Value> = expanded
            .runs
            .iter()
            .map(|r| &r.inputs["commands"][0])
            .collect();
        assert_eq!(
            commands,
            [
                "0=3 {{ other.value }}",
                "1=2 {{ other.value }}",
                "2=1 {{ other.value }}"
            ]
        );
    }

    #[test]
    fn loops_over_the_limit_are_refused() {
        let variables = Variables::default();
        let scope = Scope {
            variables: &variables,
            chaining: &NoChaining,
        };
        let too_long = loops::MAX_ITERATIONS + 1;
        let error = runs(
            &step(json!({"name": "S", "action": "ExecuteBash",
                "loop": {"for": {"start": 1, "end": too_long, "updateBy": 1}},
                "inputs": {"commands": ["true"]}})),
            scope,
        )
        .unwrap_err();
        assert!(
            matches!(&error, ExpandError::Loop { message } if message.contains("10000")),
            "{error}"
        );
    }

    #[test]
    fn static_conditions_are_decided_and_image_conditions_need_a_probe() {
        let variables = Variables::new(&document(), &BTreeMap::new());
        let scope = Scope {
            variables: &variables,
            chaining: &NoChaining,
        };
        let on = |condition: Value| {
            decide(
                &step(
                    json!({"name": "S", "action": "ExecuteBash", "if": condition,
                    "inputs": {"commands": ["true"]}}),
                ),
                scope,
                None,
            )
        };
        let action = |condition| on(condition).unwrap().action;
        assert_eq!(
            action(json!({"stringEquals": "{{ Mode }}", "value": "fast"})),
            StepAction::Execute
        );
        assert_eq!(
            action(json!({"stringEquals": "{{ Mode }}", "value": "slow"})),
            StepAction::Skip
        );
        assert_eq!(
            action(
                json!({"not": {"stringEquals": "{{ Mode }}", "value": "fast"}, "else": "Abort"})
            ),
            StepAction::Abort
        );
        assert_eq!(
            on(json!({"and": [{"stringIsEmpty": ""}, {"fileExists": "/etc/os-release"}]})),
            Err(ExpandError::NeedsImage {
                operator: "fileExists".into()
            })
        );
    }
}
