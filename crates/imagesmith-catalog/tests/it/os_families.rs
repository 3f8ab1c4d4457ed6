//! Issue 13, point 2: "one document per OS family where the steps differ". No script of the
//! built-in catalog picks its branch by probing for a package manager or a distribution file
//! (how several of issue 13's findings slipped through: the branch for the other family was
//! never run), and each OS's document only speaks its own family's package tools.

use imagesmith_catalog::builtin;
use imagesmith_model::Step;

/// The package managers of each Linux family.
const APT: &[&str] = &["apt-get ", "apt ", "dpkg ", "dpkg-query "];
const DNF: &[&str] = &["dnf ", "yum ", "microdnf ", "rpm "];

/// Scripts that choose a family at run time.
const PROBES: &[&str] = &[
    "command -v apt-get",
    "command -v apt ",
    "command -v dpkg",
    "command -v dnf",
    "command -v yum",
    "command -v microdnf",
    "command -v rpm",
    "which apt-get",
    "which dnf",
    "/etc/debian_version",
    "/etc/redhat-release",
    "/etc/system-release",
];

fn family(os: &str) -> Option<(&'static [&'static str], &'static str)> {
    match os {
        "debian12" | "ubuntu2204" => Some((DNF, "dnf/rpm")),
        "amazonlinux2023" | "centos-stream9" => Some((APT, "apt/dpkg")),
        _ => None,
    }
}

fn script(step: &Step) -> String {
    step.inputs
        .as_ref()
        .and_then(|i| i.get("commands"))
        .and_then(|c| c.as_array())
        .map(|c| {
            c.iter()
                .filter_map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// A line's code, without its comment (a `#` at the start or after a space).
fn code(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') {
        return "";
    }
    match line.find(" #") {
        Some(at) => &line[..at],
        None => line,
    }
}

/// Problems of one script of `component` on `os`.
fn problems(component: &str, os: &str, at: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = code(line);
        for probe in PROBES {
            if line.contains(probe) {
                found.push(format!(
                    "{component} on {os}, {at} line {}: probes `{probe}` to pick an OS family; give the family its own document",
                    n + 1
                ));
            }
        }
        if let Some((foreign, name)) = family(os) {
            let words: Vec<&str> = line
                .split([';', '&', '|', '(', '`'])
                .map(str::trim_start)
                .collect();
            for tool in foreign {
                if words.iter().any(|w| w.starts_with(tool)) {
                    found.push(format!(
                        "{component} on {os}, {at} line {}: runs `{}` of the {name} family",
                        n + 1,
                        tool.trim()
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn no_document_branches_on_the_os_family_and_each_speaks_only_its_own() {
    let (catalog, _) = builtin();
    let mut found = Vec::new();
    let mut scripts = 0;
    for (name, component) in &catalog.components {
        for (os, platform) in &component.platforms {
            for phase in &platform.document.phases {
                for step in &phase.steps {
                    if step.action != "ExecuteBash" {
                        continue;
                    }
                    scripts += 1;
                    let at = format!("phase `{}` step `{}`", phase.name, step.name);
                    found.extend(problems(name, os, &at, &script(step)));
                }
            }
        }
    }
    eprintln!(
        "{scripts} ExecuteBash scripts of the built-in catalog, {} family problems",
        found.len()
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn a_package_manager_probe_and_a_foreign_tool_are_found() {
    let text = "if command -v apt-get >/dev/null; then\n  apt-get install -y curl\nelse\n  dnf install -y curl\nfi";
    let on_debian = problems("x", "debian12", "step", text);
    assert!(
        on_debian
            .iter()
            .any(|p| p.contains("probes `command -v apt-get`")),
        "{on_debian:?}"
    );
    assert!(
        on_debian.iter().any(|p| p.contains("runs `dnf`")),
        "{on_debian:?}"
    );
    let on_al2023 = problems(
        "x",
        "amazonlinux2023",
        "step",
        "dnf install -y curl # not apt-get here",
    );
    assert!(on_al2023.is_empty(), "{on_al2023:?}");
}
