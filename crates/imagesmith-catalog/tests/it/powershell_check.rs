//! The PowerShell check itself: what the grammar flags and what our lint adds.

use crate::powershell::{check, script_of, substitute_placeholders, syntax_problems, PLACEHOLDER};

fn messages(script: &str) -> Vec<String> {
    check(script).iter().map(ToString::to_string).collect()
}

#[test]
fn scope_colon_after_a_variable_in_a_string_is_an_error() {
    let found = check(r#"Write-Output "$asset: OK""#);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].line, found[0].column), (1, 15));
    assert!(
        found[0].message.contains("`$asset:` is not valid"),
        "{}",
        found[0].message
    );
    // The grammar alone accepts it: its variable token stops before the colon.
    assert_eq!(syntax_problems(r#"Write-Output "$asset: OK""#), vec![]);
    // At the end of a string, in a here-string and outside strings, too.
    assert_eq!(check(r#"Write-Output "checked $asset:""#).len(), 1);
    assert_eq!(check("Write-Output @\"\n$asset: OK\n\"@").len(), 1);
    assert_eq!(check("Write-Output $asset: OK").len(), 1);
}

#[test]
fn delimited_and_qualified_variables_pass() {
    for script in [
        r#"Write-Output "${asset}: OK""#,
        r#"Write-Output "$($asset): OK""#,
        r#"Write-Output "$env:PATH""#,
        r#"Write-Output "$script:x and $global:y done""#,
        r#"Write-Output "$asset : OK""#,
        r#"Write-Output '$asset: OK'"#,
        r#"Write-Output "[$asset]::new()""#,
        "# $asset: in a comment\nWrite-Output ok",
        "$env:TEMP = 'C:\\Windows\\Temp'",
    ] {
        assert_eq!(messages(script), Vec::<String>::new(), "{script}");
    }
}

#[test]
fn syntax_errors_are_found_with_their_line() {
    let found = check("$a = 1\nif ($a -eq 1) {\n  Write-Output 'one'\n");
    assert!(!found.is_empty());
    assert!(
        found.iter().all(|p| p.message.starts_with("syntax error")),
        "{found:?}"
    );
    let found = check("Write-Output 'ok'\n$x = (1 + \nWrite-Output 'after'");
    assert!(!found.is_empty(), "an unclosed parenthesis is an error");
    assert!(check("$x = @{ a = 1; b = 'two' }\n$x.a").is_empty());
}

#[test]
fn placeholders_become_a_literal() {
    assert_eq!(
        substitute_placeholders("v{{ version }}-{{arch}}.msi"),
        format!("v{PLACEHOLDER}-{PLACEHOLDER}.msi")
    );
    assert_eq!(substitute_placeholders("{{ a }"), "{{ a }");
    let script = script_of(&["$v = '{{ version }}'", "foreach ($i in 1..{{ n }}) { $i }"]);
    assert_eq!(script.lines().count(), 2);
    assert_eq!(messages(&script), Vec::<String>::new());
}

/// Valid PowerShell that the grammar rejects, and the equivalent the catalog writes instead. When
/// a newer grammar accepts one, drop it here and from the list in `support/powershell.rs`.
#[test]
fn known_grammar_gaps() {
    for (rejected, written) in [
        (
            "Get-Service -Name X | Format-List Name, Status",
            "Get-Service -Name X | Format-List -Property 'Name', 'Status'",
        ),
        (
            "& $tf init -input=false -no-color",
            "& $tf init '-input=false' -no-color",
        ),
        (
            "switch ($x) { 1 { 'one' } default { 'x' } }",
            "switch ($x) {\n  1 { 'one' }\n  default { 'x' }\n}",
        ),
    ] {
        assert!(
            !check(rejected).is_empty(),
            "the grammar now accepts {rejected}"
        );
        assert_eq!(messages(written), Vec::<String>::new(), "{written}");
    }
    // Missed: PowerShell rejects a `try` without `catch` or `finally`.
    assert_eq!(messages("try { 1 }"), Vec::<String>::new());
}
