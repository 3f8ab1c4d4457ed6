//! Dockerfiles for container images: golden ones FROM their OS base image, customized ones
//! FROM their golden parent. The RUN steps are the components' AWSTOE build phases:
//! `ExecuteBash` commands as they are, file actions translated to shell, `WebDownload` as a
//! `FROM scratch` stage with `ADD` that the step bind-mounts (so no downloader is needed in
//! the image and nothing lands in a layer). Secrets only come through BuildKit secret mounts
//! at `/run/secrets/<name>`; package caches are removed in the same RUN that made them.

use crate::awstoe::Doc;
use crate::common::{header, Input};
use crate::Rendered;
use imagesmith_awstoe::condition::StepAction;
use imagesmith_awstoe::expand::{self, ExpandError, NoChaining, Scope, Variables};
use imagesmith_model::{ImageType, OsFamily, PackageManager, Step};
use imagesmith_plan::{LockedImage, Parent, Role};
use serde_json::Value;
use std::collections::BTreeMap;

/// The heredoc delimiter of RUN scripts.
const END: &str = "IMAGESMITH_STEP";

/// Where download stages are mounted during a RUN.
const FETCH_ROOT: &str = "/run/imagesmith/fetch";

/// The image's labels, as the lock computed them (the same ones the local build writes).
pub(crate) fn labels(_input: &Input<'_>, image: &LockedImage) -> Vec<(String, String)> {
    image
        .labels
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// A label or environment value in double quotes, with `$` kept literal.
pub(crate) fn quote_label(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The reference of the golden parent's image: `<registry>/<repository>:v<version>`.
pub(crate) fn golden_reference(_input: &Input<'_>, golden: &LockedImage) -> String {
    golden.reference.clone()
}

/// A download stage.
struct Fetch {
    stage: String,
    url: String,
    file: String,
}

/// One component's RUN instruction.
struct Run {
    comment: Vec<String>,
    mounts: Vec<String>,
    script: String,
}

/// Writes a Dockerfile per Linux container image (Windows container images need a Windows
/// host and are left to Image Builder, with a note).
pub(crate) fn render(input: &Input<'_>, rendered: &mut Rendered) {
    for (index, image) in input.images(ImageType::Container, None) {
        let path = format!("docker/{}/Dockerfile", image.name);
        if image.os.family == OsFamily::Windows {
            rendered.note(
                path.replace("/Dockerfile", ""),
                format!(
                    "Image `{}`: Windows container images are built by Image Builder only; no Dockerfile was rendered",
                    image.name
                ),
            );
            continue;
        }
        let text = dockerfile(input, index, image, &path, rendered);
        rendered.push(path, text);
    }
}

fn dockerfile(
    input: &Input<'_>,
    index: usize,
    image: &LockedImage,
    path: &str,
    rendered: &mut Rendered,
) -> String {
    let mut fetches: Vec<Fetch> = Vec::new();
    let mut runs: Vec<Run> = Vec::new();
    for (component_index, planned) in image.components.iter().enumerate() {
        let Some(&doc_index) = input.doc_of.get(&(index, component_index)) else {
            continue;
        };
        let doc = &input.docs[doc_index];
        let mut script = String::from("set -euo pipefail\n");
        for step in doc
            .document
            .phases
            .iter()
            .filter(|p| p.name == "build")
            .flat_map(|p| p.steps.iter())
        {
            match translate(input, doc, step, &mut fetches) {
                Ok(text) => {
                    script.push_str(&format!("# step {} ({})\n", step.name, step.action));
                    script.push_str(&text);
                }
                Err(reason) => {
                    let message = format!(
                        "{} {}: build step `{}` ({}) {reason}; it is left out of the Dockerfile",
                        planned.name, planned.version, step.name, step.action
                    );
                    script.push_str(&format!("# imagesmith: {message}\n"));
                    rendered.note(path, format!("Image `{}`: {message}", image.name));
                }
            }
        }
        script.push_str("# package caches\n");
        script.push_str(cleanup(image.os.package_manager));
        let mut mounts: Vec<String> = Vec::new();
        for (name, _, required) in crate::awstoe::secret_ids(input.plan, &planned.component) {
            mounts.push(format!(
                "--mount=type=secret,id={name},target=/run/secrets/{name},required={required}"
            ));
        }
        for fetch in fetches
            .iter()
            .filter(|f| f.stage.starts_with(&stage_prefix(&planned.name)))
        {
            mounts.push(format!(
                "--mount=type=bind,from={},source=/,target={FETCH_ROOT}/{}",
                fetch.stage, fetch.stage
            ));
        }
        let mut comment = vec![format!(
            "{} {}: build phase of {}",
            planned.name, planned.version, doc.path
        )];
        comment.extend(ignores(&script));
        runs.push(Run {
            comment,
            mounts,
            script,
        });
    }

    // No `# syntax=` line: it makes BuildKit pull a frontend image from Docker Hub at build
    // time, impossible in an air-gapped network. The frontend built into Docker Engine 23+
    // (Dockerfile 1.4+) reads the heredocs and `--mount=type=secret` used here.
    let mut out = String::new();
    let what = format!(
        "Dockerfile of {} container image `{}` ({}), version {}",
        match image.role {
            Role::Golden => "golden",
            Role::Customized => "customized",
        },
        image.name,
        image.os.name,
        input.image_semver(image)
    );
    for line in header(&what, &input.image_sources(image)) {
        out.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
    }
    let secret_flags: Vec<String> = image
        .components
        .iter()
        .flat_map(|c| {
            c.component
                .parameters
                .iter()
                .filter(|p| p.secret)
                .map(|p| {
                    format!(
                        "--secret id={},env={}",
                        p.name,
                        p.env.clone().unwrap_or_else(|| p.name.to_ascii_uppercase())
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    out.push_str(&format!(
        "# Build: docker buildx build{} -f {path} {}\n",
        secret_flags
            .iter()
            .map(|f| format!(" {f}"))
            .collect::<String>(),
        path.trim_end_matches("/Dockerfile")
    ));
    out.push('\n');
    let from = match &image.parent {
        Parent::Base { reference } => reference.clone(),
        Parent::Golden { name } => {
            let reference = input
                .plan
                .image(name)
                .map(|g| golden_reference(input, g))
                .unwrap_or_else(|| name.clone());
            out.push_str(
                "# The golden parent; build-docker-image.yml passes the newest build's digest.\n",
            );
            out.push_str(&format!("ARG GOLDEN_IMAGE={reference}\n\n"));
            "${GOLDEN_IMAGE}".to_string()
        }
    };
    for fetch in &fetches {
        out.push_str(&format!(
            "FROM scratch AS {}\nADD {} /{}\n\n",
            fetch.stage, fetch.url, fetch.file
        ));
    }
    out.push_str(&format!("FROM {from}\n"));
    out.push_str("SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n");
    let inherited = golden_user(input, image);
    if let Some(user) = &inherited {
        out.push_str(&format!(
            "# The golden parent runs as `{user}`; components install as root.\nUSER root\n"
        ));
    }
    let labels = labels(input, image);
    out.push_str("LABEL ");
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(" \\\n      ");
        }
        out.push_str(&format!("{key}={}", quote_label(value)));
    }
    out.push('\n');
    for (key, value) in &image.environment {
        out.push_str(&format!("ENV {key}={}\n", quote_label(value)));
    }
    for run in runs {
        out.push('\n');
        for line in run.comment {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str("RUN ");
        for mount in &run.mounts {
            out.push_str(mount);
            out.push_str(" \\\n    ");
        }
        out.push_str(&format!("<<'{END}'\n"));
        out.push_str(&run.script);
        out.push_str(END);
        out.push('\n');
    }
    out.push('\n');
    match (&image.user, &inherited) {
        (Some(user), _) => {
            if !numeric(user) {
                out.push_str(&create_user(user));
                out.push_str(&format!(
                    "# DL3066: `{user}` is created by the RUN above, so the name resolves in the image.\n# hadolint ignore=DL3066\n"
                ));
            }
            out.push_str(&format!("USER {user}\n"));
        }
        (None, Some(user)) => {
            out.push_str("# The spec sets no `user`: back to the golden parent's.\n");
            if !numeric(user) {
                out.push_str(&format!(
                    "# DL3066: `{user}` is created by the golden parent, so the name resolves in the image.\n# hadolint ignore=DL3066\n"
                ));
            }
            out.push_str(&format!("USER {user}\n"));
        }
        (None, None) => {}
    }
    out
}

fn numeric(user: &str) -> bool {
    user.split(':')
        .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
}

/// The user the golden parent of a customized image ends with.
fn golden_user(input: &Input<'_>, image: &LockedImage) -> Option<String> {
    match &image.parent {
        Parent::Golden { name } => input.plan.image(name).and_then(|g| g.user.clone()),
        Parent::Base { .. } => None,
    }
}

/// A RUN creating a system user with its own group and home, unless the parent has it.
fn create_user(user: &str) -> String {
    let name = user.split(':').next().unwrap_or(user);
    format!(
        "\n# The image's default user.\n# DL3041: shadow-utils only provides useradd where the OS image lacks it.\n# hadolint ignore=DL3041\nRUN <<'{END}'\nset -euo pipefail\nif ! id -u {name} >/dev/null 2>&1; then\n  if ! command -v useradd >/dev/null 2>&1; then dnf install -y shadow-utils; dnf clean all; fi\n  useradd --no-log-init --system --user-group --create-home --shell /usr/sbin/nologin {name}\nfi\nrm -rf /var/cache/dnf\n{END}\n\n"
    )
}

fn stage_prefix(component: &str) -> String {
    format!("fetch-{}-", component.replace('_', "-"))
}

fn cleanup(manager: PackageManager) -> &'static str {
    match manager {
        // Component scripts branch on the package manager at run time, so both are cleaned.
        PackageManager::Apt | PackageManager::Dnf => {
            "if command -v dnf >/dev/null 2>&1; then dnf clean all; fi\nrm -rf /var/cache/dnf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/apt/*.bin\n"
        }
        PackageManager::Windows => "",
    }
}

/// `# hadolint ignore=` lines, each with its reason, for the rules a component script trips
/// by design.
fn ignores(script: &str) -> Vec<String> {
    let mut rules: BTreeMap<&str, &str> = BTreeMap::new();
    let has = |needle: &str| script.contains(needle);
    if has("apt-get install") {
        rules.insert(
            "DL3008",
            "OS packages follow the golden image's OS release; the component's own package is pinned by its `version` parameter",
        );
    }
    if has("dnf install") || has("microdnf install") {
        rules.insert(
            "DL3041",
            "OS packages follow the golden image's OS release; the component's own package is pinned by its `version` parameter",
        );
    }
    if has("dnf install") || has("microdnf install") {
        rules.insert(
            "DL3040",
            "every `dnf install` in the component scripts is followed by `dnf clean all` and this RUN ends with one; hadolint cannot follow the scripts' branches",
        );
    }
    if has("apt-get install") {
        rules.insert(
            "DL3009",
            "this RUN ends by removing /var/lib/apt/lists; hadolint cannot follow the scripts' branches",
        );
    }
    if script.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("case \"") && !l.starts_with("case \"$")
    }) {
        rules.insert(
            "SC2194",
            "AWSTOE parameters are filled in at render time, so a `case` on one is constant by design",
        );
    }
    if script.lines().any(|l| {
        let l = l.trim_start();
        ["export ", "local ", "declare ", "readonly "]
            .iter()
            .any(|k| l.starts_with(k) && l.contains("=$("))
    }) {
        rules.insert(
            "SC2155",
            "written so in the component's AWSTOE document, which imagesmith runs unchanged",
        );
    }
    if script.contains("export ") {
        rules.insert(
            "SC2031",
            "each AWSTOE step runs in its own subshell, as AWSTOE runs each step in its own process; variables are not meant to cross steps",
        );
    }
    if has("yum install") {
        rules.insert("DL3033", "as DL3041, for yum");
    }
    if script.lines().any(|l| {
        l.split(['(', ';', '&', '|', '{'])
            .any(|part| part.trim_start().starts_with("cd "))
    }) {
        rules.insert(
            "DL3003",
            "the AWSTOE step changes folder inside its own subshell; WORKDIR would leak into later steps",
        );
    }
    if has("pip install") || has("pip3 install") {
        rules.insert(
            "DL3013",
            "pip packages are pinned by the component's `version` parameter where the vendor publishes one",
        );
    }
    if has("npm install") || has("npm i ") {
        rules.insert(
            "DL3016",
            "npm packages are pinned by the component's `version` parameter",
        );
    }
    if has("curl ") && has("wget ") {
        rules.insert(
            "DL4001",
            "the AWSTOE step picks whichever downloader the OS image has",
        );
    }
    let mut lines = Vec::new();
    if rules.is_empty() {
        return lines;
    }
    for (rule, reason) in &rules {
        lines.push(format!("{rule}: {reason}."));
    }
    lines.push(format!(
        "hadolint ignore={}",
        rules.keys().copied().collect::<Vec<_>>().join(",")
    ));
    lines
}

fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | ':' | '=' | '+' | ',')
        })
    {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// One build step as shell. Its `if`, loop and `{{ … }}` are worked out by
/// `imagesmith_awstoe::expand`, exactly as the local executor works them out; what only a
/// running AWSTOE could resolve (chaining, conditions on the image) leaves the step out.
fn translate(
    input: &Input<'_>,
    doc: &Doc,
    step: &Step,
    fetches: &mut Vec<Fetch>,
) -> Result<String, String> {
    // The document's defaults already hold the planned parameter values.
    let variables = Variables::new(&doc.document, &BTreeMap::new());
    let scope = Scope {
        variables: &variables,
        chaining: &NoChaining,
    };
    let decision = expand::decide(step, scope, None).map_err(|error| reason(&error))?;
    if let Some(text) = decision.unresolved.first() {
        return Err(format!(
            "has an `if` condition on `{{{{ {text} }}}}`, which only AWSTOE can resolve"
        ));
    }
    let continue_on_failure = matches!(
        step.on_failure
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("continue" | "ignore")
    );
    match decision.action {
        StepAction::Execute => {}
        StepAction::Skip => return Ok("# skipped: its `if` condition chose `Skip`\n".to_string()),
        // AWSTOE fails the step without running it (and without retrying it).
        StepAction::Abort => {
            let message = format!(
                "Step {} failed: its `if` condition chose `Abort`",
                step.name
            );
            return Ok(if continue_on_failure {
                format!(
                    "echo {}\n",
                    shell_quote(&format!("{message}; onFailure lets the build continue"))
                )
            } else {
                format!("echo {} >&2\nexit 1\n", shell_quote(&message))
            });
        }
    }
    let expanded = expand::runs(step, scope).map_err(|error| reason(&error))?;
    if let Some(text) = expanded.unresolved.first() {
        return Err(format!(
            "uses `{{{{ {text} }}}}`, which only AWSTOE can resolve"
        ));
    }
    let attempts = step.max_attempts.unwrap_or(1).clamp(1, 10);
    let mut text = String::new();
    for run in expanded.runs {
        let body = action(input, doc, step, &run.inputs, fetches)?;
        if step.action == "WebDownload" {
            // The download happened at ADD time; retrying the copy changes nothing.
            text.push_str(&body);
            continue;
        }
        let mut block = format!("(\n{body})");
        if attempts > 1 {
            block = format!(
                "for attempt in $(seq {attempts}); do\n  if {block}; then break; fi\n  if [ \"$attempt\" -eq {attempts} ]; then exit 1; fi\ndone"
            );
        }
        if continue_on_failure {
            block = format!(
                "{block} || echo \"Step {} failed; onFailure lets the build continue\"",
                step.name
            );
        }
        text.push_str(&block);
        text.push('\n');
    }
    Ok(text)
}

/// Why a step could not be expanded, as the end of "build step `X` (Action) …".
fn reason(error: &ExpandError) -> String {
    match error {
        ExpandError::Loop { message } => {
            format!("has a loop imagesmith cannot unroll: {message}")
        }
        ExpandError::Condition { message } => {
            format!("has an `if` condition imagesmith cannot read: {message}")
        }
        ExpandError::NeedsImage { operator } => format!(
            "has an `if` condition on the image (`{operator}`), which only a build can decide"
        ),
    }
}

fn items(inputs: &Value) -> Vec<&serde_json::Map<String, Value>> {
    match inputs {
        Value::Array(list) => list.iter().filter_map(Value::as_object).collect(),
        Value::Object(map) => vec![map],
        _ => Vec::new(),
    }
}

fn text_of<'v>(map: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v str> {
    map.get(key).and_then(Value::as_str)
}

fn truthy(map: &serde_json::Map<String, Value>, key: &str) -> bool {
    match map.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn action(
    input: &Input<'_>,
    doc: &Doc,
    step: &Step,
    inputs: &Value,
    fetches: &mut Vec<Fetch>,
) -> Result<String, String> {
    let mut out = String::new();
    match step.action.as_str() {
        "ExecuteBash" => {
            let commands = inputs
                .get("commands")
                .and_then(Value::as_array)
                .ok_or("has no `commands`")?;
            for command in commands {
                let command = command.as_str().ok_or("has a command that is not text")?;
                if command.lines().any(|l| l.trim() == END) {
                    return Err(format!(
                        "has a line `{END}`, the Dockerfile heredoc delimiter"
                    ));
                }
                out.push_str(command);
                if !command.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
        "WebDownload" => {
            for item in items(inputs) {
                let source = text_of(item, "source").ok_or("has a download without `source`")?;
                let destination =
                    text_of(item, "destination").ok_or("has a download without `destination`")?;
                if !source.starts_with("https://") && !source.starts_with("http://") {
                    return Err(format!("downloads `{source}`, which is not an HTTP URL"));
                }
                let url = input.plan.mirror(source);
                let file = url
                    .rsplit('/')
                    .next()
                    .filter(|f| !f.is_empty() && !f.contains('?'))
                    .unwrap_or("download")
                    .to_string();
                let stage = format!(
                    "{}{}",
                    stage_prefix(&doc.component),
                    fetches
                        .iter()
                        .filter(|f| f.stage.starts_with(&stage_prefix(&doc.component)))
                        .count()
                );
                let target = if destination.ends_with('/') {
                    format!("{destination}{file}")
                } else {
                    destination.to_string()
                };
                let mounted = format!("{FETCH_ROOT}/{stage}/{file}");
                out.push_str(&format!(
                    "mkdir -p \"$(dirname {dest})\"\ncp {no_clobber}{mounted} {dest}\n",
                    dest = shell_quote(&target),
                    no_clobber = if item.get("overwrite").is_some() && !truthy(item, "overwrite") {
                        "-n "
                    } else {
                        ""
                    }
                ));
                if let Some(checksum) = text_of(item, "checksum") {
                    let tool = match text_of(item, "algorithm")
                        .unwrap_or("SHA256")
                        .to_ascii_uppercase()
                        .as_str()
                    {
                        "MD5" => "md5sum",
                        "SHA1" => "sha1sum",
                        "SHA512" => "sha512sum",
                        _ => "sha256sum",
                    };
                    out.push_str(&format!(
                        "echo {} | {tool} -c -\n",
                        shell_quote(&format!("{checksum}  {target}"))
                    ));
                }
                fetches.push(Fetch { stage, url, file });
            }
        }
        "CreateFolder" => {
            for item in items(inputs) {
                let path = text_of(item, "path").ok_or("has a folder without `path`")?;
                out.push_str(&format!("mkdir -p {}\n", shell_quote(path)));
                out.push_str(&ownership(item, path, false));
            }
        }
        "CreateFile" | "AppendFile" => {
            for item in items(inputs) {
                let path = text_of(item, "path").ok_or("has a file without `path`")?;
                let content = text_of(item, "content").unwrap_or("");
                let redirect = if step.action == "AppendFile" {
                    ">>"
                } else {
                    ">"
                };
                out.push_str(&format!(
                    "mkdir -p \"$(dirname {p})\"\nprintf '%s' {} {redirect} {p}\n",
                    shell_quote(content),
                    p = shell_quote(path)
                ));
                out.push_str(&ownership(item, path, false));
            }
        }
        "DeleteFile" => {
            for item in items(inputs) {
                let path = text_of(item, "path").ok_or("has a file without `path`")?;
                out.push_str(&format!("rm -f {}\n", shell_quote(path)));
            }
        }
        "DeleteFolder" => {
            for item in items(inputs) {
                let path = text_of(item, "path").ok_or("has a folder without `path`")?;
                let flag = if truthy(item, "force") { "-rf" } else { "-r" };
                out.push_str(&format!("rm {flag} {}\n", shell_quote(path)));
            }
        }
        "CopyFile" | "MoveFile" | "CopyFolder" | "MoveFolder" => {
            for item in items(inputs) {
                let source = text_of(item, "source").ok_or("has no `source`")?;
                let destination = text_of(item, "destination").ok_or("has no `destination`")?;
                let command = if step.action.starts_with("Copy") {
                    if step.action.ends_with("Folder") {
                        "cp -r"
                    } else {
                        "cp"
                    }
                } else {
                    "mv"
                };
                out.push_str(&format!(
                    "{command} {} {}\n",
                    shell_quote(source),
                    shell_quote(destination)
                ));
            }
        }
        "CreateSymlink" => {
            for item in items(inputs) {
                let source = text_of(item, "source").ok_or("has no `source`")?;
                let destination = text_of(item, "destination").ok_or("has no `destination`")?;
                let flag = if truthy(item, "force") { "-sf" } else { "-s" };
                out.push_str(&format!(
                    "ln {flag} {} {}\n",
                    shell_quote(source),
                    shell_quote(destination)
                ));
            }
        }
        "SetFilePermissions" | "SetFolderPermissions" => {
            for item in items(inputs) {
                let path = text_of(item, "path").ok_or("has no `path`")?;
                let permissions = text_of(item, "permissions").ok_or("has no `permissions`")?;
                let recursive = if truthy(item, "recursive") { "-R " } else { "" };
                out.push_str(&format!(
                    "chmod {recursive}{} {}\n",
                    shell_quote(permissions),
                    shell_quote(path)
                ));
            }
        }
        "SetFileOwner" | "SetFolderOwner" => {
            for item in items(inputs) {
                let path = text_of(item, "path").ok_or("has no `path`")?;
                out.push_str(&ownership(item, path, truthy(item, "recursive")));
            }
        }
        "ExecuteBinary" => {
            let path = inputs
                .get("path")
                .and_then(Value::as_str)
                .ok_or("has no `path`")?;
            let mut line = shell_quote(path);
            if let Some(arguments) = inputs.get("arguments").and_then(Value::as_array) {
                for argument in arguments {
                    line.push(' ');
                    line.push_str(&shell_quote(argument.as_str().unwrap_or_default()));
                }
            }
            out.push_str(&line);
            out.push('\n');
        }
        "UpdateOS" => {
            out.push_str(
                "if command -v dnf >/dev/null 2>&1; then dnf -y upgrade; else apt-get update && DEBIAN_FRONTEND=noninteractive apt-get -y upgrade; fi\n",
            );
        }
        "Reboot" => return Err("reboots, which a container build cannot do".to_string()),
        other => {
            return Err(format!(
                "uses the `{other}` action, which has no Dockerfile equivalent"
            ))
        }
    }
    Ok(out)
}

fn ownership(item: &serde_json::Map<String, Value>, path: &str, recursive: bool) -> String {
    let mut out = String::new();
    let owner = text_of(item, "owner");
    let group = text_of(item, "group");
    let recursive = if recursive { "-R " } else { "" };
    match (owner, group) {
        (Some(o), Some(g)) => out.push_str(&format!(
            "chown {recursive}{} {}\n",
            shell_quote(&format!("{o}:{g}")),
            shell_quote(path)
        )),
        (Some(o), None) => out.push_str(&format!(
            "chown {recursive}{} {}\n",
            shell_quote(o),
            shell_quote(path)
        )),
        (None, Some(g)) => out.push_str(&format!(
            "chgrp {recursive}{} {}\n",
            shell_quote(g),
            shell_quote(path)
        )),
        (None, None) => {}
    }
    if let Some(permissions) = text_of(item, "permissions") {
        out.push_str(&format!(
            "chmod {} {}\n",
            shell_quote(permissions),
            shell_quote(path)
        ));
    }
    out
}
