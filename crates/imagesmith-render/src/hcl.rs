//! A small HCL (Terraform) writer: blocks, attributes and expressions, laid out the way
//! `terraform fmt` lays them out (two-space indents, aligned `=` in runs of attributes).

/// An expression on the right of `=`.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    /// A quoted string; `${` and `%{` are escaped so it is never a template.
    Str(String),
    /// An expression written as is (`aws_iam_role.builder.name`, `var.region`).
    Raw(String),
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Num(i64),
    /// `[a, b]`.
    List(Vec<Expr>),
    /// `{ key = value }`.
    Map(Vec<(String, Expr)>),
    /// A `<<-EOT` heredoc holding `text` literally.
    Heredoc(String),
    /// A quoted template whose `${…}` interpolations are kept (`"arn:${var.region}"`).
    Template(String),
    /// A function call with one argument (`jsonencode({...})`, `file("...")`).
    Call(String, Box<Expr>),
}

/// One line of a block body.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    /// `name = expr`.
    Attr(String, Expr),
    /// A nested block.
    Block(Block),
    /// A `#` comment line.
    Comment(String),
}

/// `kind "label" "label" { ... }`.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    kind: String,
    labels: Vec<String>,
    items: Vec<Item>,
}

impl Block {
    /// A block with no labels.
    pub(crate) fn new(kind: &str) -> Block {
        Block {
            kind: kind.to_string(),
            labels: Vec::new(),
            items: Vec::new(),
        }
    }

    /// A block with labels (`resource "aws_s3_bucket" "logs"`).
    pub(crate) fn labelled(kind: &str, labels: &[&str]) -> Block {
        Block {
            kind: kind.to_string(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            items: Vec::new(),
        }
    }

    /// Adds `name = expr`.
    pub(crate) fn attr(mut self, name: &str, expr: Expr) -> Block {
        self.items.push(Item::Attr(name.to_string(), expr));
        self
    }

    /// Adds `name = expr` when there is one.
    pub(crate) fn attr_opt(self, name: &str, expr: Option<Expr>) -> Block {
        match expr {
            Some(expr) => self.attr(name, expr),
            None => self,
        }
    }

    /// Adds a nested block.
    pub(crate) fn block(mut self, block: Block) -> Block {
        self.items.push(Item::Block(block));
        self
    }

    /// Adds a comment line.
    pub(crate) fn comment(mut self, text: &str) -> Block {
        self.items.push(Item::Comment(text.to_string()));
        self
    }

    /// Adds items in order.
    pub(crate) fn items(mut self, items: impl IntoIterator<Item = Item>) -> Block {
        self.items.extend(items);
        self
    }
}

/// Shorthand for a string expression.
pub(crate) fn s(text: impl Into<String>) -> Expr {
    Expr::Str(text.into())
}

/// Shorthand for a raw expression.
pub(crate) fn raw(text: impl Into<String>) -> Expr {
    Expr::Raw(text.into())
}

/// A JSON value as an HCL expression (for `jsonencode`); strings are literal.
pub(crate) fn from_json(value: &serde_json::Value) -> Expr {
    use serde_json::Value;
    match value {
        Value::Null => Expr::Raw("null".to_string()),
        Value::Bool(b) => Expr::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map_or_else(|| Expr::Raw(n.to_string()), Expr::Num),
        Value::String(s) => Expr::Str(s.clone()),
        Value::Array(items) => Expr::List(items.iter().map(from_json).collect()),
        Value::Object(map) => {
            Expr::Map(map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// The text of top-level blocks, separated by blank lines.
pub(crate) fn to_string(blocks: &[Block]) -> String {
    let mut out = String::new();
    for (index, block) in blocks.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        write_block(&mut out, block, 0);
    }
    out
}

fn pad(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push(' ');
    }
}

fn write_block(out: &mut String, block: &Block, level: usize) {
    pad(out, level);
    out.push_str(&block.kind);
    for label in &block.labels {
        out.push(' ');
        out.push_str(&quote(label));
    }
    if block.items.is_empty() {
        out.push_str(" {}\n");
        return;
    }
    out.push_str(" {\n");
    write_items(out, &block.items, level + 2);
    pad(out, level);
    out.push_str("}\n");
}

fn write_items(out: &mut String, items: &[Item], level: usize) {
    let mut index = 0;
    let mut previous_was_block = false;
    while index < items.len() {
        match &items[index] {
            Item::Attr(..) => {
                // A run of attributes is aligned on `=`.
                let end = items[index..]
                    .iter()
                    .position(|i| !matches!(i, Item::Attr(..)))
                    .map_or(items.len(), |p| index + p);
                if previous_was_block {
                    out.push('\n');
                }
                let width = items[index..end]
                    .iter()
                    .filter_map(|i| match i {
                        Item::Attr(name, _) => Some(attr_name(name).len()),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                for item in &items[index..end] {
                    if let Item::Attr(name, expr) = item {
                        pad(out, level);
                        let name = attr_name(name);
                        out.push_str(&name);
                        pad(out, width - name.len());
                        out.push_str(" = ");
                        write_expr(out, expr, level);
                        out.push('\n');
                    }
                }
                index = end;
                previous_was_block = false;
            }
            Item::Block(block) => {
                if index > 0 {
                    out.push('\n');
                }
                write_block(out, block, level);
                index += 1;
                previous_was_block = true;
            }
            Item::Comment(text) => {
                if previous_was_block {
                    out.push('\n');
                }
                pad(out, level);
                out.push_str("# ");
                out.push_str(text);
                out.push('\n');
                index += 1;
                previous_was_block = false;
            }
        }
    }
}

fn attr_name(name: &str) -> String {
    let identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if identifier {
        name.to_string()
    } else {
        quote(name)
    }
}

fn simple(expr: &Expr) -> bool {
    match expr {
        Expr::Str(_) | Expr::Raw(_) | Expr::Bool(_) | Expr::Num(_) | Expr::Template(_) => true,
        Expr::Call(_, argument) => simple(argument),
        Expr::List(items) => items.is_empty(),
        Expr::Map(entries) => entries.is_empty(),
        Expr::Heredoc(_) => false,
    }
}

fn write_expr(out: &mut String, expr: &Expr, level: usize) {
    match expr {
        Expr::Str(text) => out.push_str(&quote(text)),
        Expr::Template(text) => out.push_str(&quote_raw(text)),
        Expr::Call(name, argument) => {
            out.push_str(name);
            out.push('(');
            write_expr(out, argument, level);
            out.push(')');
        }
        Expr::Raw(text) => out.push_str(text),
        Expr::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Expr::Num(n) => out.push_str(&n.to_string()),
        Expr::List(items) => {
            if items.is_empty() {
                out.push_str("[]");
            } else if items.iter().all(simple) {
                let mut line = String::from("[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        line.push_str(", ");
                    }
                    write_expr(&mut line, item, level);
                }
                line.push(']');
                if line.len() + level < 100 {
                    out.push_str(&line);
                    return;
                }
                out.push_str("[\n");
                for item in items {
                    pad(out, level + 2);
                    write_expr(out, item, level + 2);
                    out.push_str(",\n");
                }
                pad(out, level);
                out.push(']');
            } else {
                out.push_str("[\n");
                for item in items {
                    pad(out, level + 2);
                    write_expr(out, item, level + 2);
                    out.push_str(",\n");
                }
                pad(out, level);
                out.push(']');
            }
        }
        Expr::Map(entries) => {
            if entries.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push_str("{\n");
            let width = entries
                .iter()
                .map(|(k, _)| attr_name(k).len())
                .max()
                .unwrap_or(0);
            for (key, value) in entries {
                pad(out, level + 2);
                let key = attr_name(key);
                out.push_str(&key);
                pad(out, width - key.len());
                out.push_str(" = ");
                write_expr(out, value, level + 2);
                out.push('\n');
            }
            pad(out, level);
            out.push('}');
        }
        Expr::Heredoc(text) => {
            let delimiter = heredoc_delimiter(text);
            out.push_str("<<-");
            out.push_str(&delimiter);
            out.push('\n');
            for line in text.trim_end_matches('\n').split('\n') {
                out.push_str(&escape_template(line));
                out.push('\n');
            }
            pad(out, level);
            out.push_str(&delimiter);
        }
    }
}

fn heredoc_delimiter(text: &str) -> String {
    let mut delimiter = "EOT".to_string();
    while text.lines().any(|l| l.trim() == delimiter) {
        delimiter.push('_');
    }
    delimiter
}

/// `${` and `%{` start templates in HCL strings; doubling the sigil writes them literally.
fn escape_template(text: &str) -> String {
    text.replace("${", "$${").replace("%{", "%%{")
}

fn quote(text: &str) -> String {
    quote_raw(&escape_template(text))
}

fn quote_raw(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_and_escapes() {
        let block = Block::labelled("resource", &["aws_s3_bucket", "logs"])
            .attr("bucket", s("a-${b}"))
            .attr("force_destroy", Expr::Bool(false))
            .block(Block::new("tags").attr("x", raw("var.y")));
        assert_eq!(
            to_string(&[block]),
            "resource \"aws_s3_bucket\" \"logs\" {\n  bucket        = \"a-$${b}\"\n  force_destroy = false\n\n  tags {\n    x = var.y\n  }\n}\n"
        );
    }
}
