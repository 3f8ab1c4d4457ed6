//! Dockerfiles for container images: golden ones FROM their OS base image, customized ones
//! FROM their golden parent. Each component's AWSTOE build phase becomes a script in the
//! build context, `docker/<image>/steps/NN-<component>-build.sh` (`ExecuteBash` commands as
//! they are, file actions translated to shell), which its RUN bind-mounts from the context
//! and runs with bash: no layer keeps the script, and the Dockerfile needs neither heredocs
//! (Debian 12's buildah 1.28 has none) nor a `SHELL`. `WebDownload` is a `FROM scratch`
//! stage with `ADD` that the step bind-mounts (so no downloader is needed in the image and
//! nothing lands in a layer). Secrets only come through secret mounts at
//! `/run/secrets/<name>`; package caches are removed in the same RUN that made them. Docker
//! (BuildKit) and buildah 1.28 (`--isolation chroot`) both build the result: bind mounts
//! from the context and from a stage, and secret mounts, are in both.

use crate::awstoe::Doc;
use crate::common::{clean_source, header, Input};
use crate::Rendered;
use imagesmith_awstoe::condition::StepAction;
use imagesmith_awstoe::expand::{self, ExpandError, NoChaining, Scope, Variables};
use imagesmith_model::{ImageType, OsFamily, PackageManager, Step};
use imagesmith_plan::{LockedImage, Parent, Role};
use serde_json::Value;
use std::collections::BTreeMap;

/// Where a RUN mounts its step script.
const STEP_TARGET: &str = "/run/imagesmith/step.sh";

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

/// One RUN instruction and the step script it runs.
struct Run {
    comment: Vec<String>,
    mounts: Vec<String>,
    /// The script's path in the build context (`steps/NN-….sh`).
    step: String,
    script: String,
}

impl Run {
    /// The RUN instruction: the script bind-mounted from the build context, run with bash.
    fn instruction(&self) -> String {
        let mut out = String::new();
        for line in &self.comment {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str(&format!(
            "RUN --mount=type=bind,source={},target={STEP_TARGET}",
            self.step
        ));
        for mount in &self.mounts {
            out.push_str(" \\\n    ");
            out.push_str(mount);
        }
        out.push_str(&format!(" \\\n    bash {STEP_TARGET}\n"));
        out
    }
}

/// A step script: the shebang, a provenance header and strict mode, then `body`.
fn step_script(what: &str, sources: &[String], body: &str) -> String {
    let mut out = String::from("#!/bin/bash\n");
    for line in header(what, sources) {
        out.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
    }
    out.push_str("set -euo pipefail\n");
    out.push_str(body);
    out
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
        let (text, steps) = dockerfile(input, index, image, &path, rendered);
        let folder = path.trim_end_matches("Dockerfile").to_string();
        rendered.push(path, text);
        for (step, script) in steps {
            rendered.push(format!("{folder}{step}"), script);
        }
    }
}

fn dockerfile(
    input: &Input<'_>,
    index: usize,
    image: &LockedImage,
    path: &str,
    rendered: &mut Rendered,
) -> (String, Vec<(String, String)>) {
    let mut fetches: Vec<Fetch> = Vec::new();
    let mut runs: Vec<Run> = Vec::new();
    for (component_index, planned) in image.components.iter().enumerate() {
        let Some(&doc_index) = input.doc_of.get(&(index, component_index)) else {
            continue;
        };
        let doc = &input.docs[doc_index];
        let mut script = String::new();
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
        let step = format!("steps/{:02}-{}-build.sh", runs.len() + 1, planned.name);
        let what = format!(
            "{} {}: build phase of {}, run by `{path}`",
            planned.name, planned.version, doc.path
        );
        let sources = vec![
            format!(
                "{} ({} {})",
                input.component_source(&planned.name),
                planned.name,
                planned.version
            ),
            format!("{} (image `{}`)", clean_source(&image.source), image.name),
        ];
        runs.push(Run {
            comment: vec![format!(
                "{} {}: build phase of {} ({step})",
                planned.name, planned.version, doc.path
            )],
            mounts,
            script: step_script(&what, &sources, &script),
            step,
        });
    }

    // No `# syntax=` line: it makes BuildKit pull a frontend image from Docker Hub at build
    // time, impossible in an air-gapped network. The frontend built into Docker Engine 23+
    // (Dockerfile 1.4+) and buildah 1.28 read the `RUN --mount` forms used here.
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
    let secret_flags: String = secret_flags.iter().map(|f| format!(" {f}")).collect();
    let context = path.trim_end_matches("/Dockerfile");
    out.push_str(&format!(
        "# Build: docker buildx build{secret_flags} -f {path} {context}\n"
    ));
    out.push_str(&format!(
        "#    or: buildah build --isolation chroot --layers{secret_flags} -f {path} {context}\n"
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
    // No `SHELL`: every RUN is `bash <script>`, and buildah ignores `SHELL` in OCI images.
    out.push_str(&format!("FROM {from}\n"));
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
    for run in &runs {
        out.push('\n');
        out.push_str(&run.instruction());
    }
    out.push('\n');
    match (&image.user, &inherited) {
        (Some(user), _) => {
            if !numeric(user) {
                let step = format!("steps/{:02}-create-user.sh", runs.len() + 1);
                let run = Run {
                    comment: vec![format!("The image's default user ({step}).")],
                    mounts: Vec::new(),
                    script: step_script(
                        &format!("Creates the default user `{user}`, run by `{path}`"),
                        &[format!(
                            "{} (image `{}`)",
                            clean_source(&image.source),
                            image.name
                        )],
                        &create_user(user),
                    ),
                    step,
                };
                out.push_str(&run.instruction());
                out.push('\n');
                runs.push(run);
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
    let steps = runs.into_iter().map(|run| (run.step, run.script)).collect();
    (out, steps)
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

/// A script creating a system user with its own group and home, unless the parent has it
/// (shadow-utils only provides useradd where the OS image lacks it).
fn create_user(user: &str) -> String {
    let name = user.split(':').next().unwrap_or(user);
    format!(
        "if ! id -u {name} >/dev/null 2>&1; then\n  if ! command -v useradd >/dev/null 2>&1; then dnf install -y shadow-utils; dnf clean all; fi\n  useradd --no-log-init --system --user-group --create-home --shell /usr/sbin/nologin {name}\nfi\nrm -rf /var/cache/dnf\n"
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
