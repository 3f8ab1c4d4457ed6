//! A PowerShell check for AWSTOE `ExecutePowerShell` scripts (issues 12 and 13), for tests.
//!
//! Two parts:
//! - the tree-sitter PowerShell grammar: an `ERROR` or `MISSING` node in the tree is a syntax
//!   error;
//! - our own lint (the product's, issue 13) for what the grammar accepts but PowerShell rejects: `$name:` followed by a
//!   character that cannot start a variable name (`"$asset: OK"`). PowerShell reads `name:` as
//!   a scope or drive qualifier (`$env:PATH`, `$script:x`) and fails the whole script with
//!   "Variable reference is not valid. ':' was not followed by a valid variable name
//!   character". The grammar's variable token simply stops before the colon.
//!
//! What the grammar (tree-sitter-powershell 0.25) catches: unclosed strings, parentheses,
//! braces, `@(`/`@{`/`$(`; an `if`/`foreach` without its parenthesised part; a dangling `=` or
//! operator; a stray `}`; an unknown operator (`-eqq`). What it misses: `$name:` (hence the
//! lint), `try` without `catch`/`finally`, and anything semantic (unknown cmdlets, parameters,
//! types). What it rejects although PowerShell accepts it: a bareword list argument
//! (`Format-List Name, Status`; quote the words), a native argument with `=`
//! (`-input=false`; quote it), `switch` clauses on one line with no `;` between them
//! (`switch ($x) { 1 { … } default { … } }`; one clause a line). Scripts are written
//! in the subset both accept; the tests of this check pin each of these.
//!
//! The file depends only on `tree-sitter`, `tree-sitter-powershell` and `imagesmith-awstoe`
//! (whose lint it runs), so another crate's tests (the render crate's, on rendered documents)
//! can include it with `#[path = "…/imagesmith-catalog/tests/support/powershell.rs"] mod
//! powershell;` and the same dev-dependencies. The grammar is test support, not library code:
//! its C parser stays out of the shipped binary.
#![allow(dead_code)] // each including test binary uses part of it

use std::fmt;
use tree_sitter::{Node, Parser};

/// One problem in a script, at a 1-based line and column of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the script.
    pub line: usize,
    /// 1-based column (in bytes) in that line.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// The literal that stands for an AWSTOE `{{ name }}` placeholder while parsing: a number is
/// valid wherever the placeholders appear (inside strings, as a command argument, after `..`).
pub const PLACEHOLDER: &str = "0";

/// `text` with every AWSTOE `{{ … }}` placeholder (parameters, constants, loop values, chained
/// outputs) replaced by [`PLACEHOLDER`]. Newlines inside a placeholder are kept, so the lines
/// of the result are the lines of `text`.
pub fn substitute_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(PLACEHOLDER);
        let inner = &rest[start + 2..start + 2 + len];
        out.extend(inner.chars().filter(|&c| c == '\n'));
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The script AWSTOE runs for an `ExecutePowerShell` step: its `commands` joined with newlines,
/// placeholders substituted.
pub fn script_of<S: AsRef<str>>(commands: &[S]) -> String {
    let joined: Vec<&str> = commands.iter().map(AsRef::as_ref).collect();
    substitute_placeholders(&joined.join("\n"))
}

/// Every problem found in `script`, in order of position: syntax errors from the grammar, then
/// (in the same order) invalid `$name:` references.
pub fn check(script: &str) -> Vec<Problem> {
    let Some(tree) = parse(script) else {
        return vec![no_tree()];
    };
    let mut problems = Vec::new();
    syntax_errors(tree.root_node(), script, &mut problems);
    scoped_variables(script, &mut problems);
    problems.sort_by_key(|p| (p.line, p.column));
    problems
}

/// Only what the grammar itself flags (its `ERROR` and `MISSING` nodes), without our lint.
pub fn syntax_problems(script: &str) -> Vec<Problem> {
    let Some(tree) = parse(script) else {
        return vec![no_tree()];
    };
    let mut problems = Vec::new();
    syntax_errors(tree.root_node(), script, &mut problems);
    problems
}

fn parse(script: &str) -> Option<tree_sitter::Tree> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_powershell::LANGUAGE.into())
        .expect("the PowerShell grammar's ABI fits this tree-sitter");
    parser.parse(script, None)
}

fn no_tree() -> Problem {
    Problem {
        line: 1,
        column: 1,
        message: "the parser gave no tree".into(),
    }
}

/// The outermost `ERROR` and every `MISSING` node (nothing is reported inside an `ERROR`).
fn syntax_errors(node: Node<'_>, script: &str, out: &mut Vec<Problem>) {
    if !node.has_error() {
        return;
    }
    if node.is_missing() {
        out.push(problem(
            node,
            format!("syntax error: missing `{}`", node.kind()),
        ));
        return;
    }
    if node.is_error() {
        let text = node.utf8_text(script.as_bytes()).unwrap_or("");
        let first = text.lines().next().unwrap_or("").trim();
        let shown: String = first.chars().take(60).collect();
        out.push(problem(
            node,
            format!("syntax error: PowerShell cannot parse `{shown}`"),
        ));
        return;
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        syntax_errors(child, script, out);
    }
}

/// `$name:` followed by a character that cannot start a variable name: the product's lint
/// (`imagesmith_awstoe::script::powershell`, reported by `imagesmith validate` as
/// `powershell-scoped-variable`), so the tests and the product agree.
fn scoped_variables(script: &str, out: &mut Vec<Problem>) {
    for found in imagesmith_awstoe::script::powershell(script) {
        out.push(Problem {
            line: found.line,
            column: found.column,
            message: match found.hint {
                Some(hint) => format!("{}; {hint}", found.message),
                None => found.message,
            },
        });
    }
}

fn problem(node: Node<'_>, message: String) -> Problem {
    let at = node.start_position();
    Problem {
        line: at.row + 1,
        column: at.column + 1,
        message,
    }
}
