//! Each script lint fires on its fixture (the trap found in the catalog, issue 13) and passes
//! the fixed form.

use super::*;

const LINUX: BashTarget<'static> = BashTarget {
    os_id: Some("debian12"),
    minimal_image: false,
};
const AL2023_TARGET: BashTarget<'static> = BashTarget {
    os_id: Some(AL2023),
    minimal_image: true,
};

fn codes(problems: &[ScriptProblem]) -> Vec<(usize, usize, Code)> {
    problems
        .iter()
        .map(|p| (p.line, p.column, p.code))
        .collect()
}

// --- script-pipefail-head -------------------------------------------------------------------

#[test]
fn head_after_a_pipe_under_pipefail_fires() {
    let script = "set -euo pipefail\ninstalled=$(/usr/local/bin/terraform version | head -n1)\n";
    let found = bash(script, LINUX);
    assert_eq!(
        codes(&found),
        vec![(2, 48, Code::ScriptPipefailHead)],
        "{found:#?}"
    );
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(
        found[0].message.contains("`| head -n1`"),
        "{}",
        found[0].message
    );
    assert!(found[0].hint.as_deref().unwrap_or("").contains("sed -n 1p"));
}

#[test]
fn grep_q_after_a_pipe_under_pipefail_fires() {
    for script in [
        "set -o pipefail\ngpg --verify x.sig x | grep -q VALIDSIG",
        "set -eo pipefail\nif ! gpg --status-fd 1 --verify a b \\\n    | grep -q '^\\[GNUPG:\\] VALIDSIG'; then exit 1; fi",
        "set -Eeuo pipefail\nawk '{print $2}' sums | grep -qxF \"$asset\"",
        "set -euo pipefail\nx=\"$(cat big | grep -m1 pattern)\"",
        "set -euo pipefail\ncat big | grep --quiet pattern",
    ] {
        let found = bash(script, LINUX);
        assert_eq!(found.len(), 1, "{script}: {found:#?}");
        assert_eq!(found[0].code, Code::ScriptPipefailHead, "{script}");
    }
}

#[test]
fn readers_that_read_everything_or_no_pipefail_pass() {
    for script in [
        // The fixed forms.
        "set -euo pipefail\ninstalled=$(/usr/local/bin/terraform version | sed -n 1p)",
        "set -euo pipefail\ngpg --verify x.sig x | grep VALIDSIG >/dev/null",
        // Not reading a pipe.
        "set -euo pipefail\ngrep -q pattern file\nhead -n1 file",
        "set -euo pipefail\nif ! grep -q \"$want\" /tmp/out; then exit 1; fi",
        // No pipefail, or turned off.
        "set -eu\ncat file | head -n1",
        "set -euo pipefail\nset +o pipefail\ncat file | head -n1",
        // In a comment or a string.
        "set -euo pipefail\n# cat file | head -n1\necho 'a | head' \"b | grep -q\"",
        // `||` is not a pipe.
        "set -euo pipefail\ntrue || head -n1 file",
    ] {
        assert_eq!(bash(script, LINUX), vec![], "{script}");
    }
}

// --- script-heredoc-indent ------------------------------------------------------------------

#[test]
fn an_indented_heredoc_terminator_fires() {
    let script = "cat > /etc/x.conf <<'EOF'\n[x]\n  EOF\necho done\n";
    let found = bash(script, LINUX);
    assert_eq!(
        codes(&found),
        vec![(3, 3, Code::ScriptHeredocIndent)],
        "{found:#?}"
    );
    assert_eq!(found[0].severity, Severity::Error);
    assert!(
        found[0].message.contains("`EOF` is indented"),
        "{}",
        found[0].message
    );
    assert!(found[0].message.contains("to the end of the script"));
    // `<<-` strips tabs, not spaces.
    let found = bash("cat <<-EOF\n\tok\n    EOF\n", LINUX);
    assert_eq!(
        codes(&found),
        vec![(3, 5, Code::ScriptHeredocIndent)],
        "{found:#?}"
    );
    // Inside a command substitution, as the catalog reads parameters.
    let found = bash("v=$(cat <<'P'\n0\n    P\n)\necho \"$v\"\n", LINUX);
    assert_eq!(
        codes(&found),
        vec![(3, 5, Code::ScriptHeredocIndent)],
        "{found:#?}"
    );
}

#[test]
fn a_heredoc_never_terminated_fires() {
    let found = bash("cat <<EOF\nno end\n", LINUX);
    assert_eq!(
        codes(&found),
        vec![(1, 5, Code::ScriptHeredocIndent)],
        "{found:#?}"
    );
    assert!(
        found[0].message.contains("never terminated"),
        "{}",
        found[0].message
    );
}

#[test]
fn heredocs_terminated_at_column_one_pass() {
    for script in [
        "cat > /etc/x.conf <<'EOF'\n  [x]\n  indented body\nEOF\necho done",
        "cat <<-EOF\n\tok\n\tEOF\n",
        "v=$(cat <<'P'\n0\nP\n)\n",
        "cat <<A; cat <<\"B\"\na\nA\nb\nB\n",
        "grep -q x <<<\"$out\"\n",
        "echo $((1 << 2))\n",
        "(( n = 1 << 3 ))\necho \"$((n << 1))\"\n",
    ] {
        assert_eq!(bash(script, LINUX), vec![], "{script}");
    }
}

// --- script-dnf-local-rpm-minimal -----------------------------------------------------------

#[test]
fn dnf_install_of_a_local_file_on_a_minimal_image_fires() {
    for (script, column) in [
        ("dnf install -y \"$work/falcon-sensor.rpm\"", 16),
        ("dnf install -y \"/tmp/$asset\"", 16),
        ("dnf -y install ./x.rpm", 16),
        ("yum localinstall -y /tmp/x.rpm", 21),
    ] {
        let found = bash(script, AL2023_TARGET);
        assert_eq!(
            codes(&found),
            vec![(1, column, Code::ScriptDnfLocalRpmMinimal)],
            "{script}: {found:#?}"
        );
        assert_eq!(found[0].severity, Severity::Warning);
        assert!(
            found[0].message.contains("microdnf"),
            "{}",
            found[0].message
        );
    }
}

#[test]
fn dnf_install_by_name_or_on_a_full_image_passes() {
    for script in [
        "rpm -i \"$work/falcon-sensor.rpm\"",
        "dnf install -y https://example.com/x.rpm",
        "dnf install -y tar gzip /usr/bin/gpg",
        "dnf download x.rpm",
    ] {
        assert_eq!(bash(script, AL2023_TARGET), vec![], "{script}");
    }
    let full = BashTarget {
        os_id: Some("centos-stream9"),
        minimal_image: false,
    };
    assert_eq!(bash("dnf install -y \"$work/x.rpm\"", full), vec![]);
}

// --- script-al2023-conflicting-package ------------------------------------------------------

#[test]
fn gnupg2_or_curl_on_al2023_fires() {
    let script = "dnf install -y gcc make tar gzip gnupg2 openssl-devel\ncommand -v wget >/dev/null 2>&1 || dnf install -y curl";
    let found = bash(script, AL2023_TARGET);
    assert_eq!(
        codes(&found),
        vec![
            (1, 34, Code::ScriptAl2023ConflictingPackage),
            (2, 51, Code::ScriptAl2023ConflictingPackage)
        ],
        "{found:#?}"
    );
    assert!(
        found[0].message.contains("`gnupg2-minimal`"),
        "{}",
        found[0].message
    );
    assert!(
        found[1].message.contains("`curl-minimal`"),
        "{}",
        found[1].message
    );
    assert_eq!(found[0].severity, Severity::Warning);
}

#[test]
fn the_minimal_packages_allowerasing_or_another_os_pass() {
    for script in [
        "dnf install -y gnupg2-minimal curl-minimal",
        "dnf install -y --allowerasing gnupg2 curl",
        "dnf install -y gnupg2-full",
        // Only where no `gpg`/`curl` is installed, so no `-minimal` package to conflict with.
        "command -v gpg >/dev/null 2>&1 || dnf install -y gnupg2",
        "if true; then command -v curl >/dev/null || dnf install -y curl; fi",
    ] {
        assert_eq!(bash(script, AL2023_TARGET), vec![], "{script}");
    }
    let centos = BashTarget {
        os_id: Some("centos-stream9"),
        minimal_image: false,
    };
    assert_eq!(bash("dnf install -y gnupg2 curl", centos), vec![]);
}

// --- powershell-scoped-variable -------------------------------------------------------------

#[test]
fn a_scope_colon_after_a_variable_fires() {
    let found = powershell(r#"Write-Output "$asset: OK""#);
    assert_eq!(codes(&found), vec![(1, 15, Code::PowershellScopedVariable)]);
    assert_eq!(found[0].severity, Severity::Error);
    assert!(
        found[0].message.contains("`$asset:` is not valid"),
        "{}",
        found[0].message
    );
    assert_eq!(
        found[0].hint.as_deref(),
        Some("write `${asset}:` or `$($asset):`")
    );
    for script in [
        r#"Write-Output "checked $asset:""#,
        "Write-Output @\"\n$asset: OK\n\"@",
        "Write-Output $asset: OK",
        "Write-Output \"$(Get-Date) $asset: OK\"",
        "if ($x) {\n  Write-Output \"line $n: bad\"\n}",
    ] {
        let found = powershell(script);
        assert_eq!(found.len(), 1, "{script}: {found:#?}");
    }
    let found = powershell("if ($x) {\n  Write-Output \"line $n: bad\"\n}");
    assert_eq!((found[0].line, found[0].column), (2, 22));
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
        r#"[Net.ServicePointManager]::SecurityProtocol"#,
        r#"$x::Parse('1')"#,
        "# $asset: in a comment\nWrite-Output ok",
        "<# $asset: in a block comment #>\nWrite-Output ok",
        "Write-Output @'\n$asset: literal\n'@",
        "$env:TEMP = 'C:\\Windows\\Temp'",
        r#"Write-Output "`$asset: escaped""#,
        r#"Write-Output "say ""$a"": fine""#,
    ] {
        assert_eq!(powershell(script), vec![], "{script}");
    }
}

#[test]
fn commands_join_into_one_script_with_their_start_lines() {
    let (script, starts) = join_commands(&["set -e", "a\nb", "c"]);
    assert_eq!(script, "set -e\na\nb\nc");
    assert_eq!(starts, vec![1, 2, 4]);
    assert_eq!(
        substitute_placeholders("v={{ version }}/{{ a\n}}"),
        "v=0000000000000/0000\n00"
    );
    // Columns after a placeholder are those of the document.
    let found = bash("dnf install -y \"{{ name }}\" gnupg2", AL2023_TARGET);
    assert_eq!(
        codes(&found),
        vec![(1, 29, Code::ScriptAl2023ConflictingPackage)]
    );
}
