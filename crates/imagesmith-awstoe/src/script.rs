//! Lints of the scripts of `ExecuteBash` and `ExecutePowerShell` steps (issue 13, point 4).
//!
//! Each lint is a trap that parses but breaks (or may break) a build, found in the catalog's
//! own documents:
//! - `script-heredoc-indent` (error): a here-document opened with `<<WORD` whose terminator is
//!   indented, so bash never sees it and the rest of the script becomes the document;
//! - `script-pipefail-head` (warning): `| head` or `| grep -q` under `set -o pipefail`; the
//!   reader exits early, the writer dies of SIGPIPE (status 141) and the pipeline fails;
//! - `script-dnf-local-rpm-minimal` (warning): `dnf install ./x.rpm` on an OS whose image may be
//!   a `-minimal` one, where `dnf` is microdnf, which cannot install a local file;
//! - `script-al2023-conflicting-package` (warning): `dnf install gnupg2` or `curl` on Amazon
//!   Linux 2023, which conflict with the preinstalled `gnupg2-minimal` and `curl-minimal`
//!   (amazon-linux-2023 issues #243 and #791);
//! - `powershell-scoped-variable` (error): `"$name: …"`, which PowerShell reads as a scope or
//!   drive qualifier and rejects the whole script for.
//!
//! The scanners below know just enough of each language for these lints: quoting, comments,
//! here-documents and here-strings, `$(…)`, pipes and command words. They are not parsers
//! (shellcheck and a PowerShell parser check the rendered scripts in the test-suite); a full
//! parser would also have to cope with the `{{ … }}` placeholders AWSTOE substitutes later.

use crate::{Code, Severity};

/// One problem in a script, at a 1-based line and character column of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptProblem {
    /// 1-based line in the script.
    pub line: usize,
    /// 1-based column, in characters, in that line.
    pub column: usize,
    /// How bad it is.
    pub severity: Severity,
    /// What kind of problem.
    pub code: Code,
    /// What is wrong: capitalised, values in backticks, no trailing period.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

/// What the bash lints need to know about where a script runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BashTarget<'a> {
    /// The catalog OS id the document is for (`amazonlinux2023`), when known.
    pub os_id: Option<&'a str>,
    /// The OS may be built from a `-minimal` image, whose `dnf` is microdnf.
    pub minimal_image: bool,
}

/// The OS id whose preinstalled `-minimal` packages conflict with `gnupg2` and `curl`.
pub const AL2023: &str = "amazonlinux2023";

/// `text` with every AWSTOE `{{ … }}` placeholder (parameters, constants, loop values, chained
/// outputs) written over with `0`s, newlines kept: each line and column of the result is the
/// same line and column of `text`, so a problem is reported where it is written.
pub fn substitute_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let placeholder = &rest[start..start + 2 + len + 2];
        out.extend(
            placeholder
                .chars()
                .map(|c| if c == '\n' { '\n' } else { '0' }),
        );
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The script AWSTOE runs for a step: its `commands` joined with newlines, and the 1-based
/// script line each command starts on.
pub fn join_commands<S: AsRef<str>>(commands: &[S]) -> (String, Vec<usize>) {
    let mut script = String::new();
    let mut starts = Vec::with_capacity(commands.len());
    let mut line = 1;
    for (i, command) in commands.iter().enumerate() {
        if i > 0 {
            script.push('\n');
            line += 1;
        }
        starts.push(line);
        let command = command.as_ref();
        script.push_str(command);
        line += command.matches('\n').count();
    }
    (script, starts)
}

// ------------------------------------------------------------------------------- bash ---

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A word: as written (`raw`) and with its quotes removed (`text`).
    Word {
        raw: String,
        text: String,
        line: usize,
        column: usize,
    },
    /// An operator or a separator (`|`, `&&`, `;`, a newline, `$(`, `<<`, `>`, …).
    Op {
        op: &'static str,
        line: usize,
        column: usize,
    },
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
    line: usize,
    column: usize,
    tokens: Vec<Token>,
    /// Here-documents opened on the current line: (delimiter, strip tabs, line, column).
    pending: Vec<(String, bool, usize, usize)>,
    problems: Vec<ScriptProblem>,
    /// Open `$(` and `(` inside a `$(`, innermost last: `true` for a `$(` opened in a string.
    parens: Vec<bool>,
}

impl Lexer {
    fn new(script: &str) -> Self {
        Lexer {
            chars: script.chars().collect(),
            at: 0,
            line: 1,
            column: 1,
            tokens: Vec::new(),
            pending: Vec::new(),
            problems: Vec::new(),
            parens: Vec::new(),
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.at).copied()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn op(&mut self, op: &'static str) {
        let (line, column) = (self.line, self.column);
        for _ in 0..op.chars().count() {
            self.bump();
        }
        self.tokens.push(Token::Op { op, line, column });
    }

    fn run(mut self) -> (Vec<Token>, Vec<ScriptProblem>) {
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' => {
                    self.bump();
                }
                '\\' if self.peek(1) == Some('\n') => {
                    self.bump();
                    self.bump();
                }
                '\n' => {
                    self.op("\n");
                    self.here_documents();
                }
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                ')' => {
                    self.op(")");
                    if self.parens.pop() == Some(true) {
                        // The `$(` was opened inside a double-quoted string: finish it.
                        let (line, column) = (self.line, self.column);
                        let (mut raw, mut text) = (String::new(), String::new());
                        if self.double_quoted(&mut raw, &mut text) {
                            self.substitution_in_string(raw, text, line, column);
                        } else {
                            self.word_rest(raw, text, line, column);
                        }
                    }
                }
                '(' if self.peek(1) == Some('(') => {
                    // An arithmetic command: `<<` in it is a shift, not a here-document.
                    let (line, column) = (self.line, self.column);
                    let mut raw = String::new();
                    self.balanced(&mut raw);
                    self.push_word(raw.clone(), raw, line, column);
                }
                '(' => {
                    if !self.parens.is_empty() {
                        self.parens.push(false);
                    }
                    self.op("(");
                }
                '|' | '&' | ';' | '<' | '>' => self.operator(c),
                _ => self.word(),
            }
        }
        let end = self.line;
        for (delimiter, _, at_line, at_column) in std::mem::take(&mut self.pending) {
            self.problems
                .push(unterminated(&delimiter, at_line, at_column, end));
        }
        (self.tokens, self.problems)
    }

    fn operator(&mut self, c: char) {
        let next = self.peek(1);
        let next2 = self.peek(2);
        match (c, next, next2) {
            ('|', Some('|'), _) => self.op("||"),
            ('|', Some('&'), _) => self.op("|&"),
            ('|', _, _) => self.op("|"),
            ('&', Some('&'), _) => self.op("&&"),
            ('&', Some('>'), _) => self.op("&>"),
            ('&', _, _) => self.op("&"),
            (';', Some(';'), _) => self.op(";;"),
            (';', _, _) => self.op(";"),
            ('<', Some('<'), Some('<')) => self.op("<<<"),
            ('<', Some('<'), _) => {
                let (line, column) = (self.line, self.column);
                self.op("<<");
                let strip = self.peek(0) == Some('-');
                if strip {
                    self.bump();
                }
                while matches!(self.peek(0), Some(' ' | '\t')) {
                    self.bump();
                }
                let before = self.tokens.len();
                self.word();
                if let Some(Token::Word { text, .. }) = self.tokens.get(before) {
                    self.pending.push((text.clone(), strip, line, column));
                }
            }
            ('<', Some('('), _) | ('>', Some('('), _) => {
                self.bump();
                if !self.parens.is_empty() {
                    self.parens.push(false);
                }
                self.op("(");
            }
            ('<', Some('&'), _) => self.op("<&"),
            ('<', _, _) => self.op("<"),
            ('>', Some('>'), _) => self.op(">>"),
            ('>', Some('&'), _) => self.op(">&"),
            ('>', Some('|'), _) => self.op(">|"),
            _ => self.op(">"),
        }
    }

    /// The bodies of the here-documents opened on the line just ended.
    fn here_documents(&mut self) {
        for (delimiter, strip, at_line, at_column) in std::mem::take(&mut self.pending) {
            let mut indented: Option<(usize, usize)> = None;
            let mut closed = false;
            while self.at < self.chars.len() {
                let line = self.line;
                let mut text = String::new();
                while let Some(c) = self.bump() {
                    if c == '\n' {
                        break;
                    }
                    text.push(c);
                }
                let text = text.strip_suffix('\r').unwrap_or(&text);
                let compared = if strip {
                    text.trim_start_matches('\t')
                } else {
                    text
                };
                if compared == delimiter {
                    closed = true;
                    break;
                }
                if indented.is_none() && text.trim() == delimiter {
                    let column = text.chars().take_while(|c| c.is_whitespace()).count() + 1;
                    indented = Some((line, column));
                }
            }
            match indented {
                Some((line, column)) => self.problems.push(ScriptProblem {
                    line,
                    column,
                    severity: Severity::Error,
                    code: Code::ScriptHeredocIndent,
                    message: format!(
                        "Here-document terminator `{delimiter}` is indented, so bash does not end the here-document opened on line {at_line} here{}",
                        if closed { "" } else { " and reads it to the end of the script" }
                    ),
                    hint: Some(if strip {
                        format!("`<<-` strips tabs only: indent `{delimiter}` with tabs, or start it at column 1")
                    } else {
                        format!("start `{delimiter}` at column 1 of the script (or open with `<<-` and indent it with tabs)")
                    }),
                }),
                None if !closed => {
                    let end = self.line;
                    self.problems
                        .push(unterminated(&delimiter, at_line, at_column, end));
                }
                None => {}
            }
        }
    }

    fn word(&mut self) {
        let (line, column) = (self.line, self.column);
        self.word_rest(String::new(), String::new(), line, column);
    }

    /// Reads the rest of a word begun with `raw`/`text` at `line`:`column`.
    fn word_rest(&mut self, mut raw: String, mut text: String, line: usize, column: usize) {
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' | '\n' | '|' | '&' | ';' | '<' | '>' | '(' | ')' => break,
                '\\' => {
                    self.bump();
                    raw.push('\\');
                    if let Some(next) = self.bump() {
                        if next != '\n' {
                            raw.push(next);
                            text.push(next);
                        }
                    }
                }
                '\'' => {
                    self.bump();
                    raw.push('\'');
                    while let Some(c) = self.bump() {
                        raw.push(c);
                        if c == '\'' {
                            break;
                        }
                        text.push(c);
                    }
                }
                '"' => {
                    self.bump();
                    raw.push('"');
                    if self.double_quoted(&mut raw, &mut text) {
                        self.substitution_in_string(raw, text, line, column);
                        return;
                    }
                }
                '$' if self.peek(1) == Some('(') && self.peek(2) == Some('(') => {
                    self.bump();
                    raw.push('$');
                    let mut inner = String::new();
                    self.balanced(&mut inner);
                    raw.push_str(&inner);
                    text.push_str(&inner);
                }
                '$' if self.peek(1) == Some('(') => {
                    self.push_word(raw, text, line, column);
                    self.op("$(");
                    self.parens.push(false);
                    return;
                }
                '$' if self.peek(1) == Some('{') => {
                    let mut depth = 0;
                    while let Some(c) = self.bump() {
                        raw.push(c);
                        text.push(c);
                        match c {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {
                    self.bump();
                    raw.push(c);
                    text.push(c);
                }
            }
        }
        self.push_word(raw, text, line, column);
    }

    /// Reads a parenthesised text from its `(` through the matching `)` into `out`.
    fn balanced(&mut self, out: &mut String) {
        let mut depth = 0usize;
        while let Some(c) = self.bump() {
            out.push(c);
            match c {
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
    }

    /// A `$(` inside a double-quoted string: its commands are tokens of their own, and the
    /// string goes on after its `)`.
    fn substitution_in_string(&mut self, raw: String, text: String, line: usize, column: usize) {
        self.push_word(raw, text, line, column);
        self.op("$(");
        self.parens.push(true);
    }

    fn push_word(&mut self, raw: String, text: String, line: usize, column: usize) {
        if !raw.is_empty() {
            self.tokens.push(Token::Word {
                raw,
                text,
                line,
                column,
            });
        }
    }

    /// Reads a double-quoted string after its opening quote, through its closing one. Returns
    /// `true` when it stopped at a `$(` (consumed up to, not including, the `$`).
    fn double_quoted(&mut self, raw: &mut String, text: &mut String) -> bool {
        while let Some(c) = self.peek(0) {
            match c {
                '\\' => {
                    self.bump();
                    raw.push('\\');
                    if let Some(next) = self.bump() {
                        raw.push(next);
                        text.push(next);
                    }
                }
                '"' => {
                    self.bump();
                    raw.push('"');
                    return false;
                }
                '$' if self.peek(1) == Some('(') && self.peek(2) == Some('(') => {
                    self.bump();
                    raw.push('$');
                    let mut inner = String::new();
                    self.balanced(&mut inner);
                    raw.push_str(&inner);
                    text.push_str(&inner);
                }
                '$' if self.peek(1) == Some('(') => return true,
                _ => {
                    self.bump();
                    raw.push(c);
                    text.push(c);
                }
            }
        }
        false
    }
}

fn unterminated(delimiter: &str, line: usize, column: usize, end_line: usize) -> ScriptProblem {
    ScriptProblem {
        line,
        column,
        severity: Severity::Error,
        code: Code::ScriptHeredocIndent,
        message: format!(
            "Here-document `{delimiter}` is never terminated: bash reads it to the end of the script (line {end_line})"
        ),
        hint: Some(format!("end it with a line holding only `{delimiter}`, at column 1")),
    }
}

/// Words that start a compound command or negate one: the command word follows them.
const RESERVED: [&str; 12] = [
    "if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "time", "exec",
];

/// Operators after which the next word is a file name, not an argument.
const REDIRECTIONS: [&str; 9] = ["<", ">", ">>", ">&", "<&", "&>", ">|", "<<", "<<<"];

/// One simple command: its words, the operator before it, and where that operator is.
struct Command<'t> {
    words: Vec<&'t Token>,
    after_pipe: bool,
    /// The command runs only when `command -v <this>` before it (with `||`) finds nothing.
    guarded: Option<&'t str>,
}

fn commands(tokens: &[Token]) -> Vec<Command<'_>> {
    let mut commands = Vec::new();
    let mut current = Command {
        words: Vec::new(),
        after_pipe: false,
        guarded: None,
    };
    let mut skip_next = false;
    for token in tokens {
        match token {
            Token::Word { .. } => {
                if skip_next {
                    skip_next = false;
                } else {
                    current.words.push(token);
                }
            }
            Token::Op { op, .. } if REDIRECTIONS.contains(op) => skip_next = true,
            Token::Op { op, .. } => {
                skip_next = false;
                let after_pipe = matches!(*op, "|" | "|&");
                let looks_up = match from_command_word(&current.words) {
                    [command, flag, name, ..]
                        if word_text(command) == "command" && word_text(flag) == "-v" =>
                    {
                        Some(word_text(name))
                    }
                    _ => None,
                };
                let done = std::mem::replace(
                    &mut current,
                    Command {
                        words: Vec::new(),
                        after_pipe,
                        guarded: looks_up.filter(|_| *op == "||"),
                    },
                );
                if !done.words.is_empty() {
                    commands.push(done);
                }
            }
        }
    }
    if !current.words.is_empty() {
        commands.push(current);
    }
    commands
}

fn word_text(token: &Token) -> &str {
    match token {
        Token::Word { text, .. } => text,
        Token::Op { op, .. } => op,
    }
}

fn word_raw(token: &Token) -> &str {
    match token {
        Token::Word { raw, .. } => raw,
        Token::Op { op, .. } => op,
    }
}

fn position(token: &Token) -> (usize, usize) {
    match token {
        Token::Word { line, column, .. } | Token::Op { line, column, .. } => (*line, *column),
    }
}

/// The words of a command from its command word on (reserved words, variable assignments and
/// `sudo`/`command`/`env` before it skipped).
fn from_command_word<'c, 't>(words: &'c [&'t Token]) -> &'c [&'t Token] {
    let mut start = 0;
    while let Some(word) = words.get(start) {
        let text = word_text(word);
        let raw = word_raw(word);
        let assignment = raw.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        let lookup = text == "command"
            && words
                .get(start + 1)
                .is_some_and(|w| matches!(word_text(w), "-v" | "-V"));
        if RESERVED.contains(&text)
            || assignment
            || (matches!(text, "sudo" | "command" | "env") && !lookup)
        {
            start += 1;
        } else {
            break;
        }
    }
    &words[start..]
}

/// Every lint problem of a bash script, in order of position.
pub fn bash(script: &str, target: BashTarget<'_>) -> Vec<ScriptProblem> {
    let script = substitute_placeholders(script);
    let (tokens, mut problems) = Lexer::new(&script).run();
    let mut pipefail = false;
    for command in commands(&tokens) {
        let words = from_command_word(&command.words);
        let Some((first, args)) = words.split_first() else {
            continue;
        };
        let name = word_text(first);
        match name {
            "set" => pipefail = set_pipefail(args, pipefail),
            "head" | "grep" | "egrep" | "fgrep"
                if command.after_pipe && pipefail && (name == "head" || grep_exits_early(args)) =>
            {
                let (line, column) = position(first);
                let shown = std::iter::once(*first)
                    .chain(
                        args.iter()
                            .copied()
                            .take_while(|a| word_text(a).starts_with('-')),
                    )
                    .map(word_raw)
                    .collect::<Vec<_>>()
                    .join(" ");
                problems.push(ScriptProblem {
                    line,
                    column,
                    severity: Severity::Warning,
                    code: Code::ScriptPipefailHead,
                    message: format!(
                        "`| {shown}` under `set -o pipefail` stops reading early: the command writing to it can die of SIGPIPE (exit status 141) and fail the pipeline"
                    ),
                    hint: Some(if name == "head" {
                        "read the whole input: `| sed -n 1p` (or `awk 'NR==1'`) instead of `| head -n1`".into()
                    } else {
                        "read the whole input: `| grep … >/dev/null` instead of `| grep -q …`".into()
                    }),
                });
            }
            "dnf" | "dnf5" | "yum" | "microdnf" => {
                dnf(args, target, command.guarded, &mut problems)
            }
            _ => {}
        }
    }
    problems.sort_by_key(|p| (p.line, p.column));
    problems
}

/// Whether `set` with these arguments leaves `pipefail` on.
fn set_pipefail(args: &[&Token], mut pipefail: bool) -> bool {
    let mut words = args.iter().map(|w| word_text(w));
    while let Some(word) = words.next() {
        let on = word.starts_with('-') && word != "--" && word.ends_with('o');
        let off = word.starts_with('+') && word.ends_with('o');
        if (on || off) && words.next() == Some("pipefail") {
            pipefail = on;
        }
    }
    pipefail
}

/// `grep -q`, `-m N` and their long and clustered forms: grep stops reading at a match.
fn grep_exits_early(args: &[&Token]) -> bool {
    for word in args.iter().map(|w| word_text(w)) {
        if word == "--" || !word.starts_with('-') {
            break;
        }
        if let Some(long) = word.strip_prefix("--") {
            if matches!(long, "quiet" | "silent") || long.starts_with("max-count") {
                return true;
            }
        } else if word[1..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .any(|c| c == 'q' || c == 'm')
        {
            return true;
        }
    }
    false
}

/// dnf options that take their value as the next word.
const DNF_VALUE_OPTIONS: [&str; 10] = [
    "-x",
    "--exclude",
    "--repo",
    "--enablerepo",
    "--disablerepo",
    "--setopt",
    "--releasever",
    "--installroot",
    "-c",
    "--config",
];

/// `guarded`: the install runs only where `command -v` found no such command, so no `-minimal`
/// package providing it is there to conflict with.
fn dnf(
    args: &[&Token],
    target: BashTarget<'_>,
    guarded: Option<&str>,
    problems: &mut Vec<ScriptProblem>,
) {
    let mut words = args.iter().copied();
    let mut subcommand = None;
    let mut allow_erasing = false;
    let mut packages = Vec::new();
    while let Some(word) = words.next() {
        let text = word_text(word);
        if text.starts_with('-') {
            allow_erasing |= text == "--allowerasing";
            if DNF_VALUE_OPTIONS.contains(&text) {
                words.next();
            }
        } else if subcommand.is_none() {
            subcommand = Some(text);
        } else {
            packages.push(word);
        }
    }
    if !matches!(
        subcommand,
        Some("install" | "reinstall" | "localinstall" | "in")
    ) {
        return;
    }
    for package in packages {
        let text = word_text(package);
        let (line, column) = position(package);
        if target.minimal_image && is_local_file(text) {
            problems.push(ScriptProblem {
                line,
                column,
                severity: Severity::Warning,
                code: Code::ScriptDnfLocalRpmMinimal,
                message: format!(
                    "`dnf install {}` installs a local file, which microdnf (the `dnf` of a `-minimal` image) cannot do",
                    word_raw(package)
                ),
                hint: Some(
                    "install the file with `rpm -i` (after installing its dependencies by name), or install the package by name from a repository".into(),
                ),
            });
        }
        if target.os_id == Some(AL2023) && !allow_erasing {
            let (minimal, commands): (&str, &[&str]) = match text {
                "gnupg2" => ("gnupg2-minimal", &["gpg", "gpg2"]),
                "curl" => ("curl-minimal", &["curl"]),
                _ => continue,
            };
            if guarded.is_some_and(|name| commands.contains(&name)) {
                continue;
            }
            problems.push(ScriptProblem {
                line,
                column,
                severity: Severity::Warning,
                code: Code::ScriptAl2023ConflictingPackage,
                message: format!(
                    "`dnf install {text}` on Amazon Linux 2023 conflicts with the preinstalled `{minimal}` (amazon-linux-2023 issues #243, #791)"
                ),
                hint: Some(format!(
                    "`{minimal}` already provides the command: install `{minimal}` (a no-op where it is present), or replace it with `dnf install -y --allowerasing {text}`"
                )),
            });
        }
    }
}

/// A `dnf install` argument naming a file rather than a package: an `.rpm` that is not a URL,
/// or a path built from a variable (`"$work/x"`, `/tmp/$asset`). A plain absolute path with no
/// variable (`/usr/bin/gpg`) is a file *provide*, which dnf resolves from its repositories.
fn is_local_file(text: &str) -> bool {
    if text.contains("://") {
        return false;
    }
    text.ends_with(".rpm")
        || text.starts_with("./")
        || text.starts_with("../")
        || text.starts_with('~')
        || ((text.starts_with('$') || text.starts_with('/'))
            && text.contains('/')
            && text.contains('$'))
}

// ------------------------------------------------------------------------- PowerShell ---

/// A character PowerShell accepts in a variable name: a letter, a digit, `_` or `?`.
fn is_variable_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '?'
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PsState {
    /// Code; inside a `$(` of a string when the flag is set (with its `(` depth).
    Code { subexpression: bool, depth: usize },
    /// A `"…"` string.
    String,
    /// A `@"…"@` here-string.
    HereString,
}

/// Every lint problem of a PowerShell script, in order of position: each `$name:` whose colon
/// is not followed by a character of a variable name (`"$asset: OK"`). PowerShell reads
/// `name:` as a scope or drive qualifier (`$env:PATH`, `$script:x`) and fails the whole script
/// with "Variable reference is not valid". `${name}:`, `$($name):`, `$name::Member`, single-quoted
/// strings and comments are left alone.
pub fn powershell(script: &str) -> Vec<ScriptProblem> {
    let script = substitute_placeholders(script);
    let chars: Vec<char> = script.chars().collect();
    let mut problems = Vec::new();
    let mut stack = vec![PsState::Code {
        subexpression: false,
        depth: 0,
    }];
    let (mut i, mut line, mut column) = (0usize, 1usize, 1usize);
    let at_line_start = |i: usize| i == 0 || chars[i - 1] == '\n';
    // Advances over `n` characters, keeping the line and column.
    macro_rules! advance {
        ($n:expr) => {
            for _ in 0..$n {
                if let Some(&c) = chars.get(i) {
                    if c == '\n' {
                        line += 1;
                        column = 1;
                    } else {
                        column += 1;
                    }
                    i += 1;
                }
            }
        };
    }
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let state = *stack.last().unwrap_or(&PsState::Code {
            subexpression: false,
            depth: 0,
        });
        match state {
            PsState::Code {
                subexpression,
                depth,
            } => match c {
                '#' => {
                    while chars.get(i).is_some_and(|&c| c != '\n') {
                        advance!(1);
                    }
                }
                '<' if next == Some('#') => {
                    advance!(2);
                    while i < chars.len() && !(chars[i] == '#' && chars.get(i + 1) == Some(&'>')) {
                        advance!(1);
                    }
                    advance!(2);
                }
                '\'' => {
                    advance!(1);
                    while i < chars.len() {
                        if chars[i] == '\'' {
                            if chars.get(i + 1) == Some(&'\'') {
                                advance!(2);
                                continue;
                            }
                            advance!(1);
                            break;
                        }
                        advance!(1);
                    }
                }
                '@' if next == Some('\'') => {
                    advance!(2);
                    while i < chars.len()
                        && !(at_line_start(i) && chars[i] == '\'' && chars.get(i + 1) == Some(&'@'))
                    {
                        advance!(1);
                    }
                    advance!(2);
                }
                '@' if next == Some('"') => {
                    advance!(2);
                    stack.push(PsState::HereString);
                }
                '"' => {
                    advance!(1);
                    stack.push(PsState::String);
                }
                '`' => advance!(2),
                '$' => {
                    let (l, col) = (line, column);
                    let skip = variable(&chars, i, l, col, &mut problems);
                    advance!(skip);
                }
                '(' => {
                    if let Some(PsState::Code { depth, .. }) = stack.last_mut() {
                        *depth += 1;
                    }
                    advance!(1);
                }
                ')' => {
                    if subexpression && depth == 0 {
                        stack.pop();
                    } else if let Some(PsState::Code { depth, .. }) = stack.last_mut() {
                        *depth = depth.saturating_sub(1);
                    }
                    advance!(1);
                }
                _ => advance!(1),
            },
            PsState::String | PsState::HereString => match c {
                '`' => advance!(2),
                '"' if state == PsState::String && next == Some('"') => advance!(2),
                '"' if state == PsState::String => {
                    stack.pop();
                    advance!(1);
                }
                '"' if next == Some('@') && at_line_start(i) => {
                    stack.pop();
                    advance!(2);
                }
                '$' if next == Some('(') => {
                    advance!(2);
                    stack.push(PsState::Code {
                        subexpression: true,
                        depth: 0,
                    });
                }
                '$' => {
                    let (l, col) = (line, column);
                    let skip = variable(&chars, i, l, col, &mut problems);
                    advance!(skip);
                }
                _ => advance!(1),
            },
        }
    }
    problems
}

/// Looks at the variable reference starting with the `$` at `i`; returns how many characters
/// it takes (at least 1).
fn variable(
    chars: &[char],
    i: usize,
    line: usize,
    column: usize,
    problems: &mut Vec<ScriptProblem>,
) -> usize {
    let mut end = i + 1;
    match chars.get(end) {
        Some('{') => {
            while end < chars.len() && chars[end] != '}' {
                end += 1;
            }
            return end + 1 - i;
        }
        Some(&c) if is_variable_char(c) => {}
        _ => return 1,
    }
    while chars.get(end).is_some_and(|&c| is_variable_char(c)) {
        end += 1;
    }
    if chars.get(end) != Some(&':') {
        return end - i;
    }
    match chars.get(end + 1) {
        Some(':') => end + 2 - i,
        Some(&c) if is_variable_char(c) => {
            // A scope or drive qualifier (`$env:PATH`): its name follows.
            let mut qualified = end + 1;
            while chars.get(qualified).is_some_and(|&c| is_variable_char(c)) {
                qualified += 1;
            }
            qualified - i
        }
        _ => {
            let name: String = chars[i + 1..end].iter().collect();
            problems.push(ScriptProblem {
                line,
                column,
                severity: Severity::Error,
                code: Code::PowershellScopedVariable,
                message: format!(
                    "Variable reference `${name}:` is not valid: ':' is not followed by a valid variable name character, so PowerShell reads `{name}:` as a scope or drive and rejects the script"
                ),
                hint: Some(format!("write `${{{name}}}:` or `$(${name}):`")),
            });
            end + 1 - i
        }
    }
}

#[cfg(test)]
mod tests;
