//! Every download URL rendered for the default versions names a file the vendor publishes
//! (issue 13, acceptance: "Every rendered download URL of every default version matches a
//! recorded vendor file name").
//!
//! The every-component project of every OS (Windows too) is rendered as AWSTOE documents; each
//! step's inputs are expanded as the executor expands them (parameters, constants, loops), and
//! the URLs taken are WebDownload and InstallMSI sources and the literal URLs that `curl`,
//! `wget` or PowerShell's web cmdlets fetch in scripts. Each must be listed in the `releases`
//! of its component's fixture (`tests/fixtures/vendor/<component>.yaml`).

use crate::replay::{selected, try_vendor};
use crate::support::{every_component_project, load};
use imagesmith_awstoe::expand::{self, NoChaining, Scope, Variables};
use imagesmith_awstoe::AwstoeDocument;
use imagesmith_model::decode;
use imagesmith_render::{render, RenderOptions, Target};
use imagesmith_yaml::{load_str, Limits};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const OSES: [&str; 4] = ["amazonlinux2023", "debian12", "ubuntu2204", "windows2022"];

/// Words on a script line that fetch the URLs on it.
const FETCHERS: [&str; 7] = [
    "curl ",
    "wget ",
    "Invoke-WebRequest",
    "Invoke-RestMethod",
    "Start-BitsTransfer",
    "DownloadFile",
    "iwr ",
];

/// A URL of this machine or of the instance metadata service: no vendor download.
fn local(url: &str) -> bool {
    let host = url.split("://").nth(1).unwrap_or_default();
    let host = host.split(['/', ':']).next().unwrap_or_default();
    matches!(host, "localhost" | "127.0.0.1" | "169.254.169.254")
}

/// The literal `http(s)://` URLs in `line` (ones built from shell or PowerShell variables are
/// left out: their parts are checked where they are literal).
fn urls_in_line(line: &str) -> Vec<String> {
    let mut urls = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("http") {
        let candidate = &rest[start..];
        if !(candidate.starts_with("https://") || candidate.starts_with("http://")) {
            rest = &candidate[4..];
            continue;
        }
        let end = candidate
            .find(|c: char| c.is_whitespace() || "'\"`()<>|;".contains(c))
            .unwrap_or(candidate.len());
        let url = candidate[..end].trim_end_matches(['.', ',']);
        if !url.contains('$') && !url.contains('{') && !local(url) {
            urls.push(url.to_string());
        }
        rest = &candidate[end..];
    }
    urls
}

/// The download URLs of one expanded step's inputs.
fn step_urls(action: &str, inputs: &Value, out: &mut Vec<String>) {
    let web = |value: &Value| {
        value
            .as_str()
            .filter(|s| s.starts_with("https://") || s.starts_with("http://"))
            .map(str::to_string)
    };
    match action {
        "WebDownload" => out.extend(
            inputs
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|input| web(&input["source"])),
        ),
        "InstallMSI" => out.extend(web(&inputs["path"])),
        "ExecuteBash" | "ExecutePowerShell" => {
            for command in inputs["commands"].as_array().into_iter().flatten() {
                for line in command.as_str().unwrap_or_default().lines() {
                    if FETCHERS.iter().any(|word| line.contains(word)) {
                        out.extend(urls_in_line(line));
                    }
                }
            }
        }
        _ => {}
    }
}

/// `(component, url)` for every download URL of every rendered component document.
fn rendered_urls() -> (BTreeSet<(String, String)>, usize) {
    let project = every_component_project("vendor-urls", &OSES);
    let rendered = render(
        &load(project.path()),
        &RenderOptions::new(&[Target::Awstoe]),
    )
    .expect("renders");
    let mut found = BTreeSet::new();
    let mut documents = 0;
    for file in &rendered.files {
        if !file.path.starts_with("awstoe/") || !file.path.ends_with(".yaml") {
            continue;
        }
        let Some(component) = file
            .contents
            .lines()
            .take_while(|l| l.starts_with('#'))
            .find_map(|l| l.split("<built-in>/components/").nth(1))
            .and_then(|rest| rest.split_once(".yaml"))
            .map(|(name, _)| name.to_string())
        else {
            continue;
        };
        let loaded = load_str(file.path.clone(), &file.contents, Limits::DEFAULT);
        let json = loaded.root.as_ref().map(decode::to_json).expect("YAML");
        let document: AwstoeDocument = serde_json::from_value(json).expect("a document");
        documents += 1;
        let variables = Variables::new(&document, &BTreeMap::new());
        let scope = Scope {
            variables: &variables,
            chaining: &NoChaining,
        };
        for phase in &document.phases {
            for step in &phase.steps {
                let Ok(runs) = expand::runs(step, scope) else {
                    continue;
                };
                let mut urls = Vec::new();
                for run in &runs.runs {
                    step_urls(&step.action, &run.inputs, &mut urls);
                }
                found.extend(urls.into_iter().map(|url| (component.clone(), url)));
            }
        }
    }
    (found, documents)
}

/// Whether `recorded` fits `url`, a URL with a part only a build knows (a `{{ … }}` left by
/// the expansion, e.g. an earlier step's output): each such part stands for one or more
/// characters other than `/`, and the rest must be as recorded.
fn fits(url: &str, recorded: &str) -> bool {
    if !url.contains("{{") {
        return false;
    }
    let mut literals = Vec::new();
    let mut rest = url;
    while let Some(start) = rest.find("{{") {
        literals.push(&rest[..start]);
        rest = rest[start..]
            .find("}}")
            .map_or("", |end| &rest[start + end + 2..]);
    }
    literals.push(rest);
    let (first, others) = literals.split_first().expect("at least one part");
    let Some(mut left) = recorded.strip_prefix(first) else {
        return false;
    };
    for (i, literal) in others.iter().enumerate() {
        let last = i + 1 == others.len();
        let found = if last {
            left.len()
                .checked_sub(literal.len())
                .filter(|&at| at > 0 && left.ends_with(literal))
        } else {
            left.get(1..).and_then(|l| l.find(literal)).map(|at| at + 1)
        };
        let Some(at) = found else {
            return false;
        };
        if left[..at].contains('/') {
            return false;
        }
        left = &left[at + literal.len()..];
    }
    true
}

#[test]
fn every_rendered_download_url_names_a_file_the_vendor_publishes() {
    let (urls, documents) = rendered_urls();
    assert!(documents > 50, "{documents} documents");
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut published: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
    for (component, url) in &urls {
        if !selected(component) {
            continue;
        }
        let known = published.entry(component.clone()).or_insert_with(|| {
            try_vendor(component).map(|vendor| {
                vendor
                    .releases
                    .iter()
                    .flat_map(|release| release.all_urls())
                    .collect()
            })
        });
        checked += 1;
        match known {
            None => problems.push(format!(
                "{component}: {url}: no fixture tests/fixtures/vendor/{component}.yaml"
            )),
            Some(known) if !known.contains(url) && !known.iter().any(|k| fits(url, k)) => problems
                .push(format!(
                    "{component}: {url} is not a file the fixture's releases list"
                )),
            Some(_) => {}
        }
    }
    eprintln!(
        "vendor URLs: {checked} rendered download URLs in {documents} documents, {} not recorded",
        problems.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn urls_are_taken_from_fetching_lines_only_and_literal_only() {
    assert_eq!(
        urls_in_line(r#"curl -fsSL "https://example.com/a/b.tar.gz" -o x"#),
        vec!["https://example.com/a/b.tar.gz"]
    );
    assert_eq!(
        urls_in_line("curl -fsSL https://example.com/$asset"),
        Vec::<String>::new()
    );
    let mut out = Vec::new();
    step_urls(
        "ExecuteBash",
        &serde_json::json!({"commands": ["echo https://not.fetched/x\ncurl -O https://fetched.example/y.zip;"]}),
        &mut out,
    );
    assert_eq!(out, vec!["https://fetched.example/y.zip"]);
}

#[test]
fn a_part_only_a_build_knows_stands_for_one_path_segment_part() {
    let url = "https://download.example/releases/1.0/windows/app-1.0-{{ build.Resolve.outputs.stdout }}-x64.msi";
    assert!(fits(
        url,
        "https://download.example/releases/1.0/windows/app-1.0-abc123-x64.msi"
    ));
    assert!(!fits(
        url,
        "https://download.example/releases/1.0/windows/app-1.0-a/b-x64.msi"
    ));
    assert!(!fits(
        url,
        "https://download.example/releases/1.0/windows/app-1.0--x64.msi"
    ));
    assert!(!fits(
        url,
        "https://download.example/releases/2.0/windows/app-1.0-abc-x64.msi"
    ));
    assert!(!fits("https://a.example/x", "https://a.example/x"));
}

/// Image Builder takes a component's document inline (`data`, CloudFormation's `Data`,
/// Terraform's `data`) up to 16,000 characters; the rendered templates put every document
/// inline, so every built-in document of every OS must fit.
#[test]
fn every_rendered_component_document_fits_image_builders_inline_limit() {
    let project = every_component_project("inline-limit", &OSES);
    let rendered = render(
        &load(project.path()),
        &RenderOptions::new(&[Target::Awstoe]),
    )
    .expect("renders");
    let mut over = Vec::new();
    let mut largest = (0, String::new());
    for file in &rendered.files {
        if !file.path.starts_with("awstoe/") || !file.path.ends_with(".yaml") {
            continue;
        }
        // The document as the templates carry it: without render's comment header
        let body: String = file
            .contents
            .lines()
            .skip_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        if body.len() > largest.0 {
            largest = (body.len(), file.path.clone());
        }
        if body.len() > 16_000 {
            over.push(format!("{}: {} characters", file.path, body.len()));
        }
    }
    eprintln!(
        "largest rendered document: {} ({} characters)",
        largest.1, largest.0
    );
    assert!(
        over.is_empty(),
        "over Image Builder's inline limit of 16,000 characters:\n{}",
        over.join("\n")
    );
}
