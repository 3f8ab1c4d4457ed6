//! The scalar editor behind `imagesmith bump` (issue 9): an edit changes one value and no
//! other byte of the file, in block and flow mappings, quoted and plain, with comments around.

use imagesmith_yaml::edit::{locate, replace_scalar, set_scalar, EditError, Edited};
use imagesmith_yaml::{load_str, Limits, Node, NodeKind, Scalar, Style};

/// Which function a case calls.
#[derive(Clone, Copy, Debug)]
enum Op {
    Replace,
    Set,
}

/// A case: the file with `⟦old⟧` around the bytes the edit replaces (`⟦⟧` where it inserts),
/// the path, the new value, and the exact bytes expected in their place.
struct Case {
    name: &'static str,
    op: Op,
    marked: &'static str,
    path: &'static [&'static str],
    value: &'static str,
    new: &'static str,
}

const fn case(
    name: &'static str,
    op: Op,
    marked: &'static str,
    path: &'static [&'static str],
    value: &'static str,
    new: &'static str,
) -> Case {
    Case {
        name,
        op,
        marked,
        path,
        value,
        new,
    }
}

use Op::{Replace, Set};

const CASES: &[Case] = &[
    // Block mappings, plain scalars.
    case("block", Replace, "defaults:\n  terraform: ⟦1.6.6⟧\n", &["defaults", "terraform"], "1.7.0", "1.7.0"),
    case("top level", Replace, "terraform: ⟦1.6.6⟧\nimages: []\n", &["terraform"], "1.7.0", "1.7.0"),
    case("version stays plain", Replace, "python: ⟦3.9⟧\n", &["python"], "3.10", "3.10"),
    case(
        "comments before, after and inline",
        Replace,
        "# The project.\ndefaults:\n  # The default for every image.\n  terraform: ⟦1.6.6⟧  # pinned for the provider\n  # tflint next\n  tflint: 0.50.0\n# images\nimages: []\n",
        &["defaults", "terraform"],
        "1.7.0",
        "1.7.0",
    ),
    case("comment right after", Replace, "terraform: ⟦1.6.6⟧ #c\n", &["terraform"], "1.7.0", "1.7.0"),
    case("no final line break", Replace, "terraform: ⟦1.6.6⟧", &["terraform"], "1.7.0", "1.7.0"),
    case("trailing spaces kept", Replace, "terraform: ⟦1.6.6⟧   \nx: 1\n", &["terraform"], "1.7.0", "1.7.0"),
    case(
        "nested block",
        Replace,
        "defaults:\n  terraform:\n    default: ⟦1.6.6⟧\n    ubuntu2204: 1.5.7\n",
        &["defaults", "terraform", "default"],
        "1.7.0",
        "1.7.0",
    ),
    case(
        "nested block, inner sibling",
        Replace,
        "defaults:\n  terraform:\n    default: 1.6.6\n    ubuntu2204: ⟦1.5.7⟧\nimages: []\n",
        &["defaults", "terraform", "ubuntu2204"],
        "1.5.8",
        "1.5.8",
    ),
    case("multi-line plain", Replace, "a: ⟦b\n  c⟧\nd: 1\n", &["a"], "x", "x"),
    case("non-ASCII around", Replace, "é: ü\nterraform: ⟦1.6.6⟧ # ñ\n", &["terraform"], "1.7.0", "1.7.0"),
    case("CRLF", Replace, "defaults:\r\n  terraform: ⟦1.6.6⟧\r\n  tflint: 0.50.0\r\n", &["defaults", "terraform"], "1.7.0", "1.7.0"),
    case("BOM", Replace, "\u{feff}terraform: ⟦1.6.6⟧\n", &["terraform"], "1.7.0", "1.7.0"),
    case("BOM and CRLF", Replace, "\u{feff}a: 1\r\nterraform: ⟦1.6.6⟧\r\n", &["terraform"], "1.7.0", "1.7.0"),
    case("document start", Replace, "---\nterraform: ⟦1.6.6⟧\n", &["terraform"], "1.7.0", "1.7.0"),
    case("document start with comment", Replace, "--- # spec\nterraform: ⟦1.6.6⟧\n...\n", &["terraform"], "1.7.0", "1.7.0"),
    case("double-quoted key", Replace, "\"terraform\": ⟦1.6.6⟧\n", &["terraform"], "1.7.0", "1.7.0"),
    case("single-quoted key", Replace, "'terraform' : ⟦1.6.6⟧\n", &["terraform"], "1.7.0", "1.7.0"),
    case("key with a dot", Replace, "components:\n  io.example/tool: ⟦1⟧\n", &["components", "io.example/tool"], "2", "2"),
    // Nulls are replaced in place.
    case("empty value", Replace, "terraform:⟦⟧\nnext: 1\n", &["terraform"], "1.7.0", " 1.7.0"),
    case("empty value, comment kept", Replace, "terraform:⟦⟧   # set me\nnext: 1\n", &["terraform"], "1.7.0", " 1.7.0"),
    case("empty value at the end", Replace, "a: 1\nterraform:⟦⟧", &["terraform"], "1.7.0", " 1.7.0"),
    case("tilde", Replace, "terraform: ⟦~⟧ # none\n", &["terraform"], "1.7.0", "1.7.0"),
    case("null", Replace, "terraform: ⟦null⟧\n", &["terraform"], "1.7.0", "1.7.0"),
    case("empty value in flow", Replace, "d: {terraform:⟦⟧, x: 1}\n", &["d", "terraform"], "1.7.0", " 1.7.0"),
    // Quoting: kept, and added where plain would read differently.
    case("single-quoted", Replace, "python: ⟦'3.10'⟧ # q\n", &["python"], "3.12", "'3.12'"),
    case("single-quoted, quote inside", Replace, "a: ⟦'x'⟧\n", &["a"], "it's", "'it''s'"),
    case("single-quoted, line break inside", Replace, "a: ⟦'x'⟧\n", &["a"], "a\nb", "\"a\\nb\""),
    case("double-quoted", Replace, "a: ⟦\"0.50.0\"⟧\n", &["a"], "0.51.0", "\"0.51.0\""),
    case("double-quoted, escapes", Replace, "a: ⟦\"x\\ty\"⟧ # t\n", &["a"], "q\"b\\s\te", "\"q\\\"b\\\\s\\te\""),
    case("double-quoted, non-ASCII", Replace, "a: ⟦\"x\"⟧\n", &["a"], "ünï", "\"ünï\""),
    case("plain to quoted: comment sign", Replace, "a: ⟦1⟧\n", &["a"], "1 #2", "\"1 #2\""),
    case("plain to quoted: colon", Replace, "a: ⟦1⟧\n", &["a"], "b: c", "\"b: c\""),
    case("plain to quoted: boolean", Replace, "a: ⟦1⟧\n", &["a"], "true", "\"true\""),
    case("plain to quoted: yes", Replace, "a: ⟦1⟧\n", &["a"], "yes", "\"yes\""),
    case("plain to quoted: null", Replace, "a: ⟦1⟧\n", &["a"], "null", "\"null\""),
    case("plain to quoted: empty", Replace, "a: ⟦1⟧\n", &["a"], "", "\"\""),
    case("plain to quoted: indicator", Replace, "a: ⟦1⟧\n", &["a"], "*x", "\"*x\""),
    case("plain to quoted: leading space", Replace, "a: ⟦1⟧\n", &["a"], " x", "\" x\""),
    case("plain to quoted: comma in flow", Replace, "a: {b: ⟦1⟧}\n", &["a", "b"], "1,2", "\"1,2\""),
    case("comma stays plain in block", Replace, "a: ⟦1⟧\n", &["a"], "1,2", "1,2"),
    // Flow mappings.
    case(
        "flow",
        Replace,
        "defaults: {terraform: ⟦1.6.6⟧, tflint: \"0.50.0\"}  # both\n",
        &["defaults", "terraform"],
        "1.7.0",
        "1.7.0",
    ),
    case(
        "flow, quoted",
        Replace,
        "defaults: {terraform: 1.6.6, tflint: ⟦\"0.50.0\"⟧}\n",
        &["defaults", "tflint"],
        "0.51.0",
        "\"0.51.0\"",
    ),
    case(
        "flow, nested",
        Replace,
        "defaults: {terraform: {default: ⟦1.6.6⟧, ubuntu2204: 1.5.7}}\n",
        &["defaults", "terraform", "default"],
        "1.7.0",
        "1.7.0",
    ),
    case(
        "flow, over lines with comments",
        Replace,
        "defaults: {\n  terraform: ⟦1.6.6⟧, # pinned\n  tflint: 0.50.0\n}\n",
        &["defaults", "terraform"],
        "1.7.0",
        "1.7.0",
    ),
    case("flow, root", Replace, "{terraform: ⟦1.6.6⟧}\n", &["terraform"], "1.7.0", "1.7.0"),
    // Inserting a missing key.
    case("set an existing key", Set, "defaults:\n  terraform: ⟦1.6.6⟧\n", &["defaults", "terraform"], "1.7.0", "1.7.0"),
    case(
        "key alone in flow",
        Replace,
        "d: {terraform⟦⟧, x: 1}\n",
        &["d", "terraform"],
        "1.7.0",
        ": 1.7.0",
    ),
    case(
        "insert, CR line breaks",
        Set,
        "a: 1\rb: 2\r⟦⟧",
        &["c"],
        "3",
        "c: 3\r",
    ),
    case(
        "insert before a document end marker",
        Set,
        "a: 1\n# c\n⟦⟧... # end\n",
        &["b"],
        "2",
        "b: 2\n",
    ),
    case(
        "insert into block",
        Set,
        "defaults:\n  terraform: 1.6.6⟦⟧\n# The images.\nimages: []\n",
        &["defaults", "tflint"],
        "0.50.0",
        "\n  tflint: 0.50.0",
    ),
    case(
        "insert into block, after inline comment",
        Set,
        "defaults:\n  terraform: 1.6.6  # pinned⟦⟧\nimages: []\n",
        &["defaults", "tflint"],
        "0.50.0",
        "\n  tflint: 0.50.0",
    ),
    case(
        "insert into block, after a nested mapping",
        Set,
        "defaults:\n    terraform:\n      default: 1.6.6⟦⟧\nimages: []\n",
        &["defaults", "tflint"],
        "0.50.0",
        "\n    tflint: 0.50.0",
    ),
    case(
        "insert into block, CRLF",
        Set,
        "defaults:\r\n  terraform: 1.6.6⟦⟧\r\nimages: []\r\n",
        &["defaults", "tflint"],
        "0.50.0",
        "\r\n  tflint: 0.50.0",
    ),
    case(
        "insert into block, after a block scalar",
        Set,
        "defaults:\n  note: |\n    text\n⟦⟧images: []\n",
        &["defaults", "tflint"],
        "0.50.0",
        "  tflint: 0.50.0\n",
    ),
    case(
        "insert into flow",
        Set,
        "defaults: {terraform: 1.6.6⟦⟧}  # c\n",
        &["defaults", "tflint"],
        "0.50.0",
        ", tflint: 0.50.0",
    ),
    case(
        "insert into flow after a nested flow mapping",
        Set,
        "defaults: {terraform: {default: 1.6.6}⟦⟧}\n",
        &["defaults", "tflint"],
        "0.50.0",
        ", tflint: 0.50.0",
    ),
    case("insert into empty flow", Set, "defaults: {⟦⟧}\n", &["defaults", "tflint"], "0.50.0", "tflint: 0.50.0"),
    case(
        "insert, missing parent in flow",
        Set,
        "defaults: {tflint: 0.50.0⟦⟧}\n",
        &["defaults", "terraform", "default"],
        "1.7.0",
        ", terraform: {default: 1.7.0}",
    ),
    case(
        "insert, missing parent in block",
        Set,
        "defaults:\n  tflint: 0.50.0⟦⟧\n",
        &["defaults", "terraform", "default"],
        "1.7.0",
        "\n  terraform:\n    default: 1.7.0",
    ),
    case(
        "insert, missing top-level key",
        Set,
        "images: []\n# end\n⟦⟧",
        &["defaults", "terraform"],
        "1.7.0",
        "defaults:\n  terraform: 1.7.0\n",
    ),
    case(
        "insert, missing top-level key, no final line break",
        Set,
        "images: []⟦⟧",
        &["terraform"],
        "1.7.0",
        "\nterraform: 1.7.0\n",
    ),
    case(
        "insert, missing top-level key, CRLF",
        Set,
        "images: []\r\n⟦⟧",
        &["terraform"],
        "1.7.0",
        "terraform: 1.7.0\r\n",
    ),
    case(
        "insert under a key with no value",
        Set,
        "defaults:  # none yet⟦⟧\nimages: []\n",
        &["defaults", "terraform"],
        "1.7.0",
        "\n  terraform: 1.7.0",
    ),
    case("insert under a tilde", Set, "defaults: ⟦~⟧\n", &["defaults", "terraform"], "1.7.0", "{terraform: 1.7.0}"),
    case("insert into an empty file", Set, "⟦⟧", &["terraform"], "1.7.0", "terraform: 1.7.0\n"),
    case("insert into a comment-only file", Set, "# nothing yet\n⟦⟧", &["terraform"], "1.7.0", "terraform: 1.7.0\n"),
    case("insert, quoted where needed", Set, "a: 1⟦⟧\n", &["b: c"], "yes", "\n\"b: c\": \"yes\""),
];

/// The file without markers, and the marked range.
fn unmark(marked: &str) -> (String, usize, usize) {
    let start = marked.find('⟦').expect("a case marks its edit");
    let end_marked = marked.find('⟧').expect("a case marks its edit");
    let before = marked.replacen('⟦', "", 1).replacen('⟧', "", 1);
    (before, start, end_marked - '⟦'.len_utf8())
}

fn run(op: Op, text: &str, path: &[&str], value: &str) -> Result<Edited, EditError> {
    match op {
        Op::Replace => replace_scalar(text, path, value),
        Op::Set => set_scalar(text, path, value),
    }
}

#[test]
fn each_case_changes_only_its_bytes() {
    for case in CASES {
        let (before, start, end) = unmark(case.marked);
        let edited = run(case.op, &before, case.path, case.value)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let after = edited.text.as_bytes();
        let before_bytes = before.as_bytes();
        let new_end = start + case.new.len();
        assert!(after.len() >= new_end, "{}: {:?}", case.name, edited.text);
        assert_eq!(
            before_bytes[..start],
            after[..start],
            "{}: prefix",
            case.name
        );
        assert_eq!(
            before_bytes[end..],
            after[new_end..],
            "{}: suffix",
            case.name
        );
        assert_eq!(
            &edited.text[start..new_end],
            case.new,
            "{}: new bytes in {:?}",
            case.name,
            edited.text
        );
        // The reported span holds the written value, and `locate` finds it there.
        let written = &edited.text[edited.span.start.offset..edited.span.end.offset];
        assert!(
            case.new.contains(written),
            "{}: span {written:?}",
            case.name
        );
        assert!(!written.is_empty(), "{}: empty span", case.name);
        assert_eq!(
            locate(&edited.text, case.path),
            Some((edited.line, edited.column)),
            "{}: locate",
            case.name
        );
        // The result reads back with the new value.
        let loaded = load_str("t.yaml", &edited.text, Limits::DEFAULT);
        assert!(loaded.diagnostics.is_empty(), "{}", case.name);
        let mut node = loaded.root.as_ref().unwrap();
        for step in case.path {
            node = node.get(step).unwrap();
        }
        assert_eq!(node.as_str(), Some(case.value), "{}", case.name);
    }
}

#[test]
fn previous_value_is_reported() {
    let edited = replace_scalar("a: '3.10'\n", &["a"], "3.12").unwrap();
    assert_eq!(edited.previous.as_deref(), Some("3.10"));
    let edited = replace_scalar("a: ~\n", &["a"], "1").unwrap();
    assert_eq!(edited.previous, None);
    let edited = set_scalar("a: 1\n", &["b"], "2").unwrap();
    assert_eq!(edited.previous, None);
    assert_eq!((edited.line, edited.column), (2, 4));
}

#[test]
fn locate_points_at_the_value() {
    let text = "# head\ndefaults:\n  terraform: 1.6.6\n  tflint: {x: \"1\"}\nempty:\n";
    assert_eq!(locate(text, &["defaults", "terraform"]), Some((3, 14)));
    assert_eq!(locate(text, &["defaults", "tflint", "x"]), Some((4, 15)));
    assert_eq!(locate(text, &["empty"]), Some((5, 1)));
    assert_eq!(locate(text, &["defaults", "missing"]), None);
    // A byte-order mark takes no column.
    assert_eq!(locate("\u{feff}é: ü\n", &["é"]), Some((1, 4)));
    let edited = replace_scalar("\u{feff}terraform: 1.6.6\n", &["terraform"], "1.7.0").unwrap();
    assert_eq!((edited.line, edited.column), (1, 12));
    assert_eq!(edited.span.start.offset, 14);
    assert_eq!(locate("a: [\n", &["a"]), None);
    assert_eq!(locate("a: 1\n---\na: 2\n", &["a"]), None);
    let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(locate(&deep, &["a"]), None);
}

fn error(op: Op, text: &str, path: &[&str]) -> EditError {
    match run(op, text, path, "1.7.0") {
        Ok(edited) => panic!("{text:?} edited to {:?}", edited.text),
        Err(error) => error,
    }
}

#[test]
fn refuses_what_it_cannot_edit_safely() {
    let p = "terraform".to_string();
    let dt = "defaults.terraform".to_string();
    assert_eq!(error(Replace, "a: 1\n", &[]), EditError::EmptyPath);
    assert_eq!(
        error(Replace, "a: 1\n", &["terraform"]),
        EditError::NotFound { path: p.clone() }
    );
    assert_eq!(
        error(Set, "defaults: 1.6.6\n", &["defaults", "terraform"]),
        EditError::NotAMapping {
            path: dt.clone(),
            at: "defaults".into(),
            found: "a scalar"
        }
    );
    assert_eq!(
        error(Set, "- a\n", &["terraform"]),
        EditError::NotAMapping {
            path: p.clone(),
            at: "the document".into(),
            found: "a list"
        }
    );
    assert_eq!(
        error(
            Replace,
            "defaults: {terraform: {default: 1}}\n",
            &["defaults", "terraform"]
        ),
        EditError::NotAScalar {
            path: dt.clone(),
            found: "a mapping"
        }
    );
    assert_eq!(
        error(Replace, "terraform: [1]\n", &["terraform"]),
        EditError::NotAScalar {
            path: p.clone(),
            found: "a list"
        }
    );
    assert_eq!(
        error(Replace, "terraform: |\n  1.6.6\n", &["terraform"]),
        EditError::BlockScalar { path: p.clone() }
    );
    assert_eq!(
        error(Replace, "terraform: >-\n  1.6.6\n", &["terraform"]),
        EditError::BlockScalar { path: p.clone() }
    );
    // Anchors and aliases at the value or above it.
    for (text, path, at) in [
        (
            "base: &b 1.6.6\nterraform: *b\n",
            &["terraform"][..],
            "terraform",
        ),
        (
            "terraform: &b 1.6.6\nother: *b\n",
            &["terraform"][..],
            "terraform",
        ),
        (
            "defaults: &d {terraform: 1}\nx: *d\n",
            &["defaults", "terraform"][..],
            "defaults",
        ),
        (
            "d: &d {terraform: 1}\ndefaults: *d\n",
            &["defaults", "terraform"][..],
            "defaults",
        ),
        ("&r {terraform: 1}\n", &["terraform"][..], "the document"),
        ("&k terraform: 1\n", &["terraform"][..], "terraform"),
    ] {
        assert_eq!(
            error(Set, text, path),
            EditError::Alias {
                path: path.join("."),
                at: at.into()
            },
            "{text:?}"
        );
    }
    assert_eq!(
        error(Replace, "terraform: !!str 1.6.6\n", &["terraform"]),
        EditError::Tagged {
            path: p.clone(),
            at: "terraform".into()
        }
    );
    assert_eq!(
        error(
            Replace,
            "defaults: !!map {terraform: 1}\n",
            &["defaults", "terraform"]
        ),
        EditError::Tagged {
            path: dt.clone(),
            at: "defaults".into()
        }
    );
    assert_eq!(
        error(Replace, "terraform: 1\n---\nterraform: 2\n", &["terraform"]),
        EditError::MultipleDocuments { path: p.clone() }
    );
    assert!(matches!(
        error(Replace, "terraform: 1\nterraform: 2\n", &["terraform"]),
        EditError::DuplicateKey { line: 2, .. }
    ));
    assert!(matches!(
        error(
            Set,
            "defaults:\n  a: 1\n  a: 2\n",
            &["defaults", "terraform"]
        ),
        EditError::DuplicateKey { line: 3, .. }
    ));
    assert!(matches!(
        error(Replace, "terraform: [1\n", &["terraform"]),
        EditError::Invalid { .. }
    ));
    assert!(matches!(
        error(Replace, "a:\n\tterraform: 1\n", &["a", "terraform"]),
        EditError::Invalid { line: 2, .. }
    ));
}

#[test]
fn messages_name_the_path_and_have_hints() {
    let e = error(Replace, "a: 1\n", &["defaults", "terraform"]);
    assert_eq!(e.to_string(), "No `defaults.terraform` in the file");
    assert!(e.hint().is_some());
    let e = error(Set, "defaults: 1.6.6\n", &["defaults", "terraform"]);
    assert_eq!(
        e.to_string(),
        "`defaults` is a scalar, not a mapping, so it has no `defaults.terraform`"
    );
    let e = error(Replace, "base: &b 1\nterraform: *b\n", &["terraform"]);
    assert_eq!(
        e.to_string(),
        "`terraform` goes through an anchor or alias at `terraform`"
    );
    assert!(e.hint().unwrap().contains("alias"));
    let e = error(Replace, "terraform: [1\n", &["terraform"]);
    assert!(
        e.to_string()
            .starts_with("Cannot edit `terraform`: invalid YAML at line"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------
// Generated documents: random block and flow mappings, scalars in every style, comments,
// line endings, BOMs and document starts; random replacements and insertions must change
// one range of bytes and no key or value but the one asked for.

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

const KEYS: &[&str] = &[
    "terraform",
    "tflint",
    "python",
    "defaults",
    "\"quoted key\"",
    "'single'",
    "io.example/x",
    "k-1",
    "é",
];
const BLOCK_VALUES: &[&str] = &[
    "1.6.6",
    "3.10",
    "abc",
    "a b c",
    "x-y_z",
    "~",
    "null",
    "",
    "1,2",
    "'1.0'",
    "'it''s'",
    "'a: b'",
    "\"1.0\"",
    "\"a\\\"b\"",
    "\"é\\t\"",
    "ü",
];
const FLOW_VALUES: &[&str] = &[
    "1.6.6", "3.10", "abc", "a b", "~", "'1.0'", "'x, y'", "\"1.0\"", "\"{}\"", "ü", "",
];
const NEW_VALUES: &[&str] = &[
    "1.7.0",
    "3.12",
    "",
    "a b",
    "x: y",
    "#",
    "a #b",
    "true",
    "no",
    "it's",
    "q\"uote",
    "tab\tx",
    "é",
    "a,b",
    "[x]",
    "- x",
    "~",
    "line\nbreak",
    "\\",
    "{",
    "%x",
    "1.6.6",
];

fn comment(rng: &mut Rng) -> &'static str {
    match rng.below(4) {
        0 => "  # note",
        1 => " #",
        _ => "",
    }
}

/// A block mapping at `indent` spaces, one entry per line.
fn block(rng: &mut Rng, indent: usize, depth: usize, nl: &str, out: &mut String) {
    let mut keys: Vec<&str> = KEYS.to_vec();
    for _ in 0..rng.below(3) + 1 {
        let key = keys.remove(rng.below(keys.len()));
        if rng.chance(5) {
            out.push_str(&format!("{}# about {key}{nl}", " ".repeat(indent)));
        }
        if rng.chance(8) {
            out.push_str(nl);
        }
        out.push_str(&format!("{}{key}:", " ".repeat(indent)));
        match rng.below(6) {
            0 if depth < 3 => {
                out.push_str(comment(rng));
                out.push_str(nl);
                let inner = indent + 2 + rng.below(2) * 2;
                block(rng, inner, depth + 1, nl, out);
            }
            1 if depth < 3 => {
                out.push(' ');
                flow(rng, depth + 1, indent, nl, out);
                out.push_str(comment(rng));
                out.push_str(nl);
            }
            2 if rng.chance(3) => {
                // Things a value may not be edited in, around the ones that are.
                let indent = " ".repeat(indent + 2);
                out.push_str(&match rng.below(3) {
                    0 => format!(" [1, {{a: b}}]{nl}"),
                    1 => format!("{nl}{indent}- x{nl}{indent}- y: z{nl}"),
                    _ => format!(" |{nl}{indent}text{nl}{nl}{indent}more{nl}"),
                });
            }
            _ => {
                let value = rng.pick(BLOCK_VALUES);
                if !value.is_empty() {
                    out.push(' ');
                }
                out.push_str(value);
                out.push_str(comment(rng));
                out.push_str(nl);
            }
        }
    }
}

/// A flow mapping, on one line or over several (inside a block mapping at `indent`).
fn flow(rng: &mut Rng, depth: usize, indent: usize, nl: &str, out: &mut String) {
    let pad = " ".repeat(indent + 2);
    let over_lines = [format!(",{nl}{pad}"), format!(", # c{nl}{pad}")];
    let mut keys: Vec<&str> = KEYS.to_vec();
    out.push('{');
    let n = rng.below(4);
    for i in 0..n {
        if i > 0 {
            match rng.below(5) {
                3 | 4 => out.push_str(&over_lines[rng.below(2)]),
                _ => out.push_str(rng.pick(&[", ", ",", " , "])),
            }
        }
        let key = keys.remove(rng.below(keys.len()));
        out.push_str(key);
        out.push_str(": ");
        if depth < 3 && rng.chance(4) {
            flow(rng, depth + 1, indent, nl, out);
        } else {
            out.push_str(rng.pick(FLOW_VALUES));
        }
    }
    out.push('}');
}

fn document(rng: &mut Rng) -> String {
    let nl = if rng.chance(3) { "\r\n" } else { "\n" };
    let mut out = String::new();
    if rng.chance(5) {
        out.push('\u{feff}');
    }
    if rng.chance(5) {
        out.push_str(&format!("# spec{nl}"));
    }
    if rng.chance(5) {
        out.push_str(&format!("---{nl}"));
    }
    if rng.chance(6) {
        flow(rng, 1, 0, nl, &mut out);
        out.push_str(nl);
    } else {
        block(rng, 0, 0, nl, &mut out);
        if rng.chance(6) {
            // An anchor and its alias elsewhere in the file.
            out.push_str(&format!("anchored: &a {{x: 1}}{nl}aliased: *a{nl}"));
        }
    }
    if rng.chance(4) {
        out.push_str(&format!("# tail{nl}"));
    }
    if rng.chance(8) {
        out.push_str(&format!("...{nl}"));
    }
    if rng.chance(6) {
        out.truncate(out.len() - nl.len());
    }
    out
}

/// Every scalar leaf of a tree with its path; mappings with no entries as leaves too.
fn leaves(node: &Node, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Option<Scalar>)>) {
    match &node.kind {
        NodeKind::Scalar(s) => out.push((path.clone(), Some(s.clone()))),
        NodeKind::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(format!("[{i}]"));
                leaves(item, path, out);
                path.pop();
            }
        }
        NodeKind::Mapping(entries) => {
            if entries.is_empty() {
                out.push((path.clone(), None));
            }
            for (key, value) in entries {
                path.push(key.as_str().unwrap_or_default().to_string());
                leaves(value, path, out);
                path.pop();
            }
        }
    }
}

fn leaves_of(text: &str) -> Vec<(Vec<String>, Option<Scalar>)> {
    let loaded = load_str("t.yaml", text, Limits::DEFAULT);
    assert!(
        loaded.diagnostics.is_empty(),
        "{text:?}: {:?}",
        loaded.diagnostics
    );
    let mut out = Vec::new();
    leaves(loaded.root.as_ref().unwrap(), &mut Vec::new(), &mut out);
    out
}

/// The mappings of a tree (paths to them), for insertions.
fn mappings(node: &Node, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let NodeKind::Mapping(entries) = &node.kind {
        out.push(path.clone());
        for (key, value) in entries {
            path.push(key.as_str().unwrap_or_default().to_string());
            mappings(value, path, out);
            path.pop();
        }
    }
}

#[test]
fn random_edits_keep_every_other_byte() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut replaced = 0;
    let mut inserted = 0;
    for _ in 0..2000 {
        let before = document(&mut rng);
        let old = leaves_of(&before);
        let scalars: Vec<_> = old
            .iter()
            .filter(|(p, s)| {
                s.as_ref().is_some_and(|s| s.style != Style::Block)
                    && !p.iter().any(|step| step.starts_with('['))
            })
            .collect();
        let value = rng.pick(NEW_VALUES);

        // Replace a random scalar.
        if !scalars.is_empty() {
            let pick = rng.below(scalars.len());
            let (path, _) = scalars[pick];
            let steps: Vec<&str> = path.iter().map(String::as_str).collect();
            if matches!(steps[0], "anchored" | "aliased") {
                let error = replace_scalar(&before, &steps, value).unwrap_err();
                assert!(matches!(error, EditError::Alias { .. }), "{error}");
                continue;
            }
            let edited = replace_scalar(&before, &steps, value)
                .unwrap_or_else(|e| panic!("{before:?} {steps:?} {value:?}: {e}"));
            let after = &edited.text;
            // One range of bytes changed: the text before the value and after it is the same.
            let start = edited.span.start.offset;
            let new_end = edited.span.end.offset;
            let tail = &after[new_end..];
            assert!(before.ends_with(tail), "{before:?} -> {after:?}");
            let old_end = before.len() - tail.len();
            // A null with no text gets ` value` after its `:`.
            let start = start.min(old_end);
            assert_eq!(before[..start], after[..start], "{before:?} -> {after:?}");
            // What went is the old value as written: its text if plain, quotes and all if not.
            let removed = &before[start..old_end];
            let old_scalar = scalars[pick].1.as_ref().unwrap();
            match removed.chars().next() {
                Some(quote @ ('"' | '\'')) => assert!(
                    removed.len() > 1
                        && removed.ends_with(quote)
                        && old_scalar.style == Style::Quoted,
                    "removed {removed:?} from {before:?}"
                ),
                _ => assert_eq!(removed, old_scalar.value, "{before:?} -> {after:?}"),
            }
            // Every other key and value reads the same; the edited one reads `value`.
            let new = leaves_of(after);
            assert_eq!(new.len(), old.len(), "{before:?} -> {after:?}");
            for ((old_path, old_scalar), (new_path, new_scalar)) in old.iter().zip(&new) {
                assert_eq!(old_path, new_path);
                if old_path == path {
                    assert_eq!(new_scalar.as_ref().unwrap().value, value);
                } else {
                    assert_eq!(old_scalar, new_scalar, "{before:?} -> {after:?}");
                }
            }
            replaced += 1;
        }

        // Insert a new key into a random mapping (or a null's place).
        let root = load_str("t.yaml", &before, Limits::DEFAULT).root.unwrap();
        let mut targets = Vec::new();
        mappings(&root, &mut Vec::new(), &mut targets);
        // Keys with a null value take new keys too.
        targets.extend(
            scalars
                .iter()
                .filter(|(_, s)| s.as_ref().is_some_and(|s| s.is_null()))
                .map(|(p, _)| p.clone()),
        );
        if targets.is_empty() {
            continue;
        }
        let mut path = targets[rng.below(targets.len())].clone();
        path.push("new-key".to_string());
        if rng.chance(3) {
            path.push("inner".to_string());
        }
        let steps: Vec<&str> = path.iter().map(String::as_str).collect();
        if matches!(steps[0], "anchored" | "aliased") {
            let error = set_scalar(&before, &steps, value).unwrap_err();
            assert!(matches!(error, EditError::Alias { .. }), "{error}");
            continue;
        }
        let edited = set_scalar(&before, &steps, value)
            .unwrap_or_else(|e| panic!("{before:?} {steps:?} {value:?}: {e}"));
        let after = &edited.text;
        // One range of the result is new; what it replaces is nothing, or a null (`~`) that
        // became a mapping.
        let common = before
            .bytes()
            .zip(after.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        let suffix = before[common..]
            .bytes()
            .rev()
            .zip(after[common..].bytes().rev())
            .take_while(|(a, b)| a == b)
            .count();
        let removed = &before[common..before.len() - suffix];
        assert!(
            matches!(removed, "" | "~" | "null"),
            "removed {removed:?}: {before:?} -> {after:?}"
        );
        let new = leaves_of(after);
        let old_without_empty: Vec<_> = old
            .iter()
            .filter(|(p, s)| s.as_ref().is_some_and(|s| !s.is_null()) || !path.starts_with(p))
            .cloned()
            .collect();
        let new_without_target: Vec<_> = new.iter().filter(|(p, _)| *p != path).cloned().collect();
        assert_eq!(
            old_without_empty, new_without_target,
            "{before:?} -> {after:?}"
        );
        assert!(new.iter().any(|(p, s)| *p == path
            && s.as_ref()
                .is_some_and(|s| s.value == value && s.style != Style::Block)));
        inserted += 1;
    }
    assert!(replaced > 1500 && inserted > 1500, "{replaced} {inserted}");
}

fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() && !name.starts_with('.') && name != "target" {
            yaml_files(&path, out);
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(path);
        }
    }
}

/// The repository's own projects, recipes and specs: bumping each component version and
/// project default they hold changes those bytes and nothing else.
#[test]
fn bumps_in_the_repository_files_keep_every_other_byte() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    yaml_files(&root.join("crates"), &mut files);
    files.sort();
    let mut bumped = 0;
    for file in &files {
        let Ok(before) = std::fs::read_to_string(file) else {
            continue;
        };
        let loaded = load_str("t.yaml", &before, Limits::DEFAULT);
        let Some(root) = loaded.root.filter(|_| loaded.diagnostics.is_empty()) else {
            continue;
        };
        for section in ["components", "defaults"] {
            let Some(entries) = root.get(section).and_then(Node::as_mapping) else {
                continue;
            };
            for (key, value) in entries {
                let (Some(name), Some(old)) = (key.as_str(), value.as_scalar()) else {
                    continue;
                };
                if old.style == Style::Block {
                    continue;
                }
                let path = [section, name];
                let edited = match replace_scalar(&before, &path, "9.9.9-bump") {
                    Ok(edited) => edited,
                    // Anchors and tags are refused; the refusal tests cover them.
                    Err(EditError::Alias { .. } | EditError::Tagged { .. }) => continue,
                    Err(error) => panic!("{} {path:?}: {error}", file.display()),
                };
                let start = edited.span.start.offset.min(value.span.start.offset);
                let tail = &edited.text[edited.span.end.offset..];
                assert_eq!(before[..start], edited.text[..start], "{}", file.display());
                assert!(before.ends_with(tail), "{} {path:?}", file.display());
                let quoted = old.style == Style::Quoted;
                let written = &edited.text[edited.span.start.offset..edited.span.end.offset];
                assert_eq!(written.starts_with(['"', '\'']), quoted, "{written}");
                bumped += 1;
            }
        }
    }
    assert!(bumped > 50, "bumped only {bumped} values");
}

/// Broken and odd files (generated documents with characters YAML gives meaning to put in
/// anywhere) never make an edit panic; an edit that succeeds on one still changes one range of
/// bytes and reads back with the value.
#[test]
fn mutated_files_never_panic() {
    let specials: &[&str] = &[
        " ", "\n", "\r\n", "\r", ":", ": ", "#", " #", "-", "- ", "'", "\"", "\\", "\t", "&a ",
        "*a", "!!str ", "|", ">", "[", "]", "{", "}", ",", "?", "? ", "%", "@", "`", "~", "é",
        "\u{feff}", "---\n", "...\n", "a: b\n", "  a: b\n", "\0", "\u{2028}",
    ];
    let mut rng = Rng(0x5151_7a7a_0101_9393);
    let mut succeeded = 0;
    for _ in 0..3000 {
        let mut text = document(&mut rng);
        for _ in 0..rng.below(3) + 1 {
            let boundaries: Vec<usize> = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .collect();
            let at = boundaries[rng.below(boundaries.len())];
            let special = rng.pick(specials);
            match boundaries.iter().find(|&&b| b > at) {
                Some(&end) if rng.chance(2) => text.replace_range(at..end, special),
                _ => text.insert_str(at, special),
            }
        }
        let keys = [
            "terraform",
            "defaults",
            "python",
            "new-key",
            "single",
            "quoted key",
        ];
        let path: Vec<&str> = (0..rng.below(3) + 1).map(|_| rng.pick(&keys)).collect();
        let value = rng.pick(NEW_VALUES);
        for result in [
            replace_scalar(&text, &path, value),
            set_scalar(&text, &path, value),
        ] {
            let _ = locate(&text, &path);
            let Ok(edited) = result else { continue };
            // Every other key and value reads the same; the one asked for reads `value`.
            let target: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            let old: Vec<_> = leaves_of(&text)
                .into_iter()
                .filter(|(p, s)| {
                    *p != target
                        && (s.as_ref().is_some_and(|s| !s.is_null()) || !target.starts_with(p))
                })
                .collect();
            let new = leaves_of(&edited.text);
            assert!(
                new.iter()
                    .any(|(p, s)| *p == target && s.as_ref().is_some_and(|s| s.value == value)),
                "{text:?} -> {:?}",
                edited.text
            );
            let new: Vec<_> = new.into_iter().filter(|(p, _)| *p != target).collect();
            assert_eq!(old, new, "{text:?} -> {:?}", edited.text);
            succeeded += 1;
        }
    }
    assert!(succeeded > 300, "only {succeeded} edits succeeded");
}
