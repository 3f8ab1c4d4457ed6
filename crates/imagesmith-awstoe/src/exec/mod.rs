//! Runs AWSTOE phases locally, the way AWSTOE does on an instance, through a [`Host`].
//!
//! The executor substitutes parameters, constants, loop variables and chaining expressions,
//! evaluates `if` and unrolls loops through [`crate::expand`] (as the Dockerfile renderer
//! does), runs the iterations, applies `timeoutSeconds`, `maxAttempts` and `onFailure`, and
//! records every step in a [`DocumentLog`] with secrets redacted. Commands run through
//! [`Host::run`]; file actions work directly on [`Host::root`], with every path resolved
//! inside the root (symbolic links as if the root were `/`, `..` above `/` rejected).
//!
//! Differences from AWSTOE on an instance are recorded as notes in the step's log: `Reboot`
//! and exit code 194 do not reboot a container (the step is run again, as after a reboot).

mod error;
mod files;
mod host;
mod input;
mod log;
mod root;
mod s3;

pub use error::{ActionError, ExecError};
pub use host::{
    aws_feature_hint, DownloadRequest, Host, HostError, Program, RunOutput, RunRequest,
    S3DownloadRequest, S3UploadRequest,
};
pub use log::{timestamp, DocumentLog, PhaseLog, Redactor, Status, StepLog, StepStatus, REDACTED};
pub use root::{wildcard_match, Accounts, Encoding, ImageRoot, PathError};
pub use s3::{s3_download, S3Error, S3Fetch, S3Source};

use crate::actions::{self, ActionSpec, Platforms};
use crate::condition::{self, Probe, StepAction};
use crate::expand::{self, Chaining, ExpandError, Scope, Variables};
use crate::expr::ChainKind;
use imagesmith_model::{AwstoeDocument, PackageManager, Step};
use input::{boolean, items, mapping, optional, required, strings};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

/// An action's outputs (`stdout`, `destination`, `content`, `files`).
pub type Outputs = BTreeMap<String, String>;

/// AWSTOE's default step timeout.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 7200;

/// The exit code with which a script asks AWSTOE to reboot and run the step again.
pub const REBOOT_EXIT_CODE: i32 = 194;

/// How a run is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOptions {
    /// Values of the document's parameters (others are ignored, as AWSTOE does).
    pub parameters: BTreeMap<String, String>,
    /// Secret values: replaced with `****` in every log and output written.
    pub secrets: Vec<String>,
    /// The environment of every command.
    pub env: Vec<(String, String)>,
    /// The working directory inside the image; relative paths start here.
    pub working_dir: String,
    /// Where scripts are written inside the image (removed after each run).
    pub scratch_dir: String,
    /// Run ExecuteBash scripts with `set -e`. AWSTOE runs the script with plain `bash`, so
    /// the step's result is the exit code of the last command; off by default.
    pub bash_errexit: bool,
    /// The image's package manager for UpdateOS; detected from the image when `None`.
    pub package_manager: Option<PackageManager>,
    /// How many times a step may ask for a reboot (exit code 194) before it fails.
    pub max_reboots: u32,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            parameters: BTreeMap::new(),
            secrets: Vec::new(),
            env: vec![
                (
                    "PATH".into(),
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                ),
                ("HOME".into(), "/root".into()),
                ("LANG".into(), "C.UTF-8".into()),
            ],
            working_dir: "/".into(),
            scratch_dir: "/tmp/imagesmith-awstoe".into(),
            bash_errexit: false,
            package_manager: None,
            max_reboots: 3,
        }
    }
}

/// What earlier steps left for chaining: their substituted inputs and their outputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunState {
    steps: HashMap<(String, String), (Value, Outputs)>,
}

impl RunState {
    /// The outputs of `phase.step`, when it ran.
    pub fn outputs(&self, phase: &str, step: &str) -> Option<&Outputs> {
        self.steps
            .get(&(phase.to_string(), step.to_string()))
            .map(|(_, outputs)| outputs)
    }
}

impl Chaining for RunState {
    fn chained(
        &self,
        phase: &str,
        step: &str,
        kind: ChainKind,
        index: Option<usize>,
        variable: &str,
    ) -> Option<String> {
        let (inputs, outputs) = self.steps.get(&(phase.to_string(), step.to_string()))?;
        match kind {
            ChainKind::Outputs => outputs.get(variable).cloned(),
            ChainKind::Inputs => {
                let item = match (inputs, index) {
                    (Value::Array(list), Some(i)) => list.get(i)?,
                    (Value::Object(_), None | Some(0)) => inputs,
                    _ => return None,
                };
                item.get(variable).map(condition::text)
            }
        }
    }
}

/// Runs AWSTOE documents through a [`Host`].
pub struct Executor<'h> {
    host: &'h mut dyn Host,
    options: ExecOptions,
    redactor: Redactor,
    state: RunState,
    scripts: u64,
}

/// What one step's attempts produced.
#[derive(Default)]
struct Capture {
    stdout: String,
    stderr: String,
    notes: Vec<String>,
}

impl<'h> Executor<'h> {
    /// An executor over `host`.
    pub fn new(host: &'h mut dyn Host, options: ExecOptions) -> Self {
        let redactor = Redactor::new(&options.secrets);
        Executor {
            host,
            options,
            redactor,
            state: RunState::default(),
            scripts: 0,
        }
    }

    /// What earlier steps left for chaining.
    pub fn state(&self) -> &RunState {
        &self.state
    }

    fn root(&self) -> ImageRoot {
        ImageRoot::new(self.host.root(), self.options.working_dir.clone())
    }

    /// Runs the named phases of `doc`, in document order, stopping after a failed phase.
    pub fn run_document(
        &mut self,
        doc: &AwstoeDocument,
        phases: &[&str],
    ) -> Result<DocumentLog, ExecError> {
        for phase in phases {
            if !doc.phases.iter().any(|p| p.name == *phase) {
                return Err(ExecError::UnknownPhase {
                    document: doc.name.clone(),
                    phase: (*phase).to_string(),
                });
            }
        }
        let start = SystemTime::now();
        let mut logs = Vec::new();
        for phase in doc
            .phases
            .iter()
            .filter(|p| phases.contains(&p.name.as_str()))
        {
            let log = self.run_phase(doc, &phase.name)?;
            let failed = log.status == Status::Failed;
            logs.push(log);
            if failed {
                break;
            }
        }
        let status = aggregate(logs.iter().map(|p| p.status));
        let failure_message = logs
            .iter()
            .find(|p| !p.failure_message.is_empty())
            .map(|p| p.failure_message.clone())
            .unwrap_or_default();
        Ok(DocumentLog {
            name: doc.name.clone(),
            status,
            start_time: timestamp(start),
            end_time: timestamp(SystemTime::now()),
            failure_message,
            phases: logs,
        })
    }

    /// Runs one phase of `doc`. A failed step is recorded in the log, not returned as an
    /// error; errors are for runs that cannot start (an unknown phase, a missing parameter).
    pub fn run_phase(
        &mut self,
        doc: &AwstoeDocument,
        phase_name: &str,
    ) -> Result<PhaseLog, ExecError> {
        let phase = doc
            .phases
            .iter()
            .find(|p| p.name == phase_name)
            .ok_or_else(|| ExecError::UnknownPhase {
                document: doc.name.clone(),
                phase: phase_name.to_string(),
            })?;
        let variables = self.variables(doc)?;
        let start = SystemTime::now();
        let mut steps = Vec::new();
        let mut status = Status::Success;
        let mut failure_message = String::new();
        for step in &phase.steps {
            let log = self.run_step(phase_name, step, &variables);
            let on_failure = step.on_failure.as_deref().unwrap_or("Abort");
            let stop = match log.status {
                StepStatus::Failed => {
                    status = Status::Failed;
                    if failure_message.is_empty() {
                        failure_message =
                            format!("Step `{}` failed: {}", log.name, log.failure_message);
                    }
                    on_failure != "Continue"
                }
                StepStatus::IgnoredFailure => {
                    if status == Status::Success {
                        status = Status::SuccessWithIgnoredFailure;
                    }
                    false
                }
                StepStatus::Success | StepStatus::Skipped => false,
            };
            steps.push(log);
            if stop {
                break;
            }
        }
        Ok(PhaseLog {
            name: phase_name.to_string(),
            status,
            start_time: timestamp(start),
            end_time: timestamp(SystemTime::now()),
            failure_message,
            steps,
        })
    }

    fn variables(&self, doc: &AwstoeDocument) -> Result<Variables, ExecError> {
        let variables = Variables::new(doc, &self.options.parameters);
        match variables.missing().first() {
            Some(name) => Err(ExecError::MissingParameter {
                document: doc.name.clone(),
                name: name.clone(),
            }),
            None => Ok(variables),
        }
    }

    fn scope<'a>(&'a self, variables: &'a Variables) -> Scope<'a> {
        Scope {
            variables,
            chaining: &self.state,
        }
    }

    fn run_step(&mut self, phase: &str, step: &Step, variables: &Variables) -> StepLog {
        let start = SystemTime::now();
        let timeout = step.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
        let max_attempts = step.max_attempts.unwrap_or(1).max(1);
        let on_failure = step.on_failure.clone().unwrap_or_else(|| "Abort".into());
        let mut capture = Capture::default();
        let mut attempts = 0;
        let mut last_inputs = step.inputs.clone().unwrap_or(Value::Null);
        let mut outputs = Outputs::new();

        let result = (|| -> Result<bool, ActionError> {
            let Some(spec) = actions::lookup(&step.action) else {
                return Err(ActionError::Unsupported {
                    action: step.action.clone(),
                    reason: "it is not an AWSTOE action module".into(),
                });
            };
            let root = self.root();
            let decision = expand::decide(step, self.scope(variables), Some(&RootProbe(&root)))
                .map_err(ActionError::from)?;
            match decision.action {
                StepAction::Execute => {}
                StepAction::Skip => return Ok(false),
                StepAction::Abort => return Err(ActionError::ConditionAbort),
            }
            let mut last_error = None;
            for attempt in 1..=max_attempts {
                attempts = u32::try_from(attempt).unwrap_or(u32::MAX);
                let deadline = (timeout > 0)
                    .then(|| Instant::now() + Duration::from_secs(timeout.unsigned_abs()));
                match self.attempt(
                    step,
                    spec,
                    variables,
                    deadline,
                    timeout,
                    &mut capture,
                    &mut last_inputs,
                ) {
                    Ok(out) => {
                        outputs = out;
                        return Ok(true);
                    }
                    Err(error) => {
                        let stop = matches!(
                            error,
                            ActionError::NotRunnableHere { .. } | ActionError::Unsupported { .. }
                        );
                        if attempt < max_attempts && !stop {
                            capture
                                .notes
                                .push(format!("Attempt {attempt} failed: {error}"));
                        }
                        last_error = Some(error);
                        if stop {
                            break;
                        }
                    }
                }
            }
            Err(last_error.unwrap_or(ActionError::InvalidInputs {
                message: "no attempt was made".into(),
            }))
        })();

        let (status, failure_message) = match result {
            Ok(true) => (StepStatus::Success, String::new()),
            Ok(false) => {
                capture
                    .notes
                    .push("Skipped: the `if` condition chose `Skip`".into());
                (StepStatus::Skipped, String::new())
            }
            Err(error) => {
                let status = if on_failure == "Ignore" {
                    StepStatus::IgnoredFailure
                } else {
                    StepStatus::Failed
                };
                (status, error.to_string())
            }
        };
        self.state.steps.insert(
            (phase.to_string(), step.name.clone()),
            (last_inputs.clone(), outputs.clone()),
        );
        let outputs_value: Map<String, Value> = outputs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let r = &self.redactor;
        StepLog {
            name: step.name.clone(),
            action: step.action.clone(),
            status,
            failure_message: r.text(&failure_message),
            timeout_seconds: timeout,
            on_failure,
            max_attempts,
            attempts,
            start_time: timestamp(start),
            end_time: timestamp(SystemTime::now()),
            inputs: r.value(&last_inputs),
            outputs: r.value(&Value::Object(outputs_value)),
            loop_: step.loop_.as_ref().map(|l| r.value(l)),
            stdout: r.text(&capture.stdout),
            stderr: r.text(&capture.stderr),
            notes: capture.notes.iter().map(|n| r.text(n)).collect(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn attempt(
        &mut self,
        step: &Step,
        spec: &ActionSpec,
        variables: &Variables,
        deadline: Option<Instant>,
        timeout: i64,
        capture: &mut Capture,
        last_inputs: &mut Value,
    ) -> Result<Outputs, ActionError> {
        // The loop and the inputs are worked out exactly as the Dockerfile renderer does.
        let runs = expand::runs(step, self.scope(variables))?.runs;
        let mut collected: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for run in runs {
            *last_inputs = run.inputs.clone();
            let Some(iteration) = run.iteration else {
                return self.action(step, spec, &run.inputs, deadline, timeout, capture);
            };
            let out = self
                .action(step, spec, &run.inputs, deadline, timeout, capture)
                .map_err(|error| match error {
                    ActionError::TimedOut { .. } => error,
                    other => ActionError::Iteration {
                        index: iteration.index,
                        error: Box::new(other),
                    },
                })?;
            for (key, text) in out {
                collected.entry(key).or_default().push(text);
            }
        }
        // AWSTOE joins the outputs of the iterations with newlines.
        Ok(collected
            .into_iter()
            .map(|(k, v)| (k, v.join("\n")))
            .collect())
    }

    fn remaining(deadline: Option<Instant>, timeout: i64) -> Result<Option<Duration>, ActionError> {
        match deadline {
            None => Ok(None),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    Err(ActionError::TimedOut { seconds: timeout })
                } else {
                    Ok(Some(deadline - now))
                }
            }
        }
    }

    fn action(
        &mut self,
        step: &Step,
        spec: &ActionSpec,
        inputs: &Value,
        deadline: Option<Instant>,
        timeout: i64,
        capture: &mut Capture,
    ) -> Result<Outputs, ActionError> {
        Self::remaining(deadline, timeout)?;
        if spec.platforms == Platforms::WindowsOnly {
            capture.notes.push(format!(
                "`{}` was not run: it needs a Windows host",
                spec.name
            ));
            return Err(ActionError::NotRunnableHere {
                action: spec.name.to_string(),
            });
        }
        let root = self.root();
        match spec.name {
            "ExecuteBash" => {
                let map = mapping(inputs)?;
                let commands = strings(&map, "commands")?;
                let mut script = String::new();
                if self.options.bash_errexit {
                    script.push_str("set -e\n");
                }
                for command in &commands {
                    script.push_str(command);
                    script.push('\n');
                }
                let out = self.run_script(step, &root, &script, deadline, timeout, capture)?;
                Ok(Outputs::from([("stdout".to_string(), out)]))
            }
            "ExecuteBinary" => {
                let map = mapping(inputs)?;
                let mut argv = vec![required(&map, "path")?];
                argv.extend(strings(&map, "arguments")?);
                let out = self.run_program(step, Program::Argv(argv), deadline, timeout, capture)?;
                Ok(Outputs::from([("stdout".to_string(), out)]))
            }
            "WebDownload" => self.web_download(&root, inputs, deadline, timeout, capture),
            "S3Download" => {
                for item in items(inputs)? {
                    let destination = required(&item, "destination")?;
                    let mut host_path = root.resolve(&destination, true)?;
                    if destination.ends_with('/') {
                        // Keeps the final `/` that says "a folder" to the host
                        host_path.push("");
                    }
                    self.host.s3_download(&S3DownloadRequest {
                        source: required(&item, "source")?,
                        destination: host_path,
                        expected_bucket_owner: optional(&item, "expectedBucketOwner")?,
                        overwrite: boolean(&item, "overwrite", true)?,
                    })?;
                }
                Ok(Outputs::new())
            }
            "S3Upload" => {
                for item in items(inputs)? {
                    let source = required(&item, "source")?;
                    let absolute = root.absolute(&source)?;
                    let (parent, name) = absolute.rsplit_once('/').unwrap_or(("", &absolute));
                    let host_path = root.resolve(if parent.is_empty() { "/" } else { parent }, true)?.join(name);
                    self.host.s3_upload(&S3UploadRequest {
                        source: host_path,
                        destination: required(&item, "destination")?,
                        recurse: boolean(&item, "recurse", false)?,
                        expected_bucket_owner: optional(&item, "expectedBucketOwner")?,
                    })?;
                }
                Ok(Outputs::new())
            }
            "Assert" => {
                let condition = condition::parse_condition(inputs).map_err(|problems| ActionError::Condition {
                    message: problems.iter().map(|p| p.message.clone()).collect::<Vec<_>>().join("; "),
                })?;
                if condition
                    .evaluate(&RootProbe(&root))
                    .map_err(|message| ActionError::Condition { message })?
                {
                    Ok(Outputs::new())
                } else {
                    Err(ActionError::AssertionFailed)
                }
            }
            "Reboot" => {
                let map = mapping(inputs)?;
                let delay = optional(&map, "delaySeconds")?.unwrap_or_else(|| "0".into());
                capture.notes.push(format!(
                    "Reboot requested (delaySeconds {delay}): a container does not reboot, so the build continues with the next step"
                ));
                Ok(Outputs::new())
            }
            "UpdateOS" => self.update_os(step, &root, inputs, deadline, timeout, capture),
            "ExecuteDocument" => Err(ActionError::Unsupported {
                action: spec.name.to_string(),
                reason: "nested documents are not resolved locally; list the component in the recipe instead".into(),
            }),
            name => {
                let mut outputs: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for item in items(inputs)? {
                    Self::remaining(deadline, timeout)?;
                    for (key, value) in files::run(name, &root, &item, &mut capture.notes)? {
                        outputs.entry(key).or_default().push(value);
                    }
                }
                // ListFiles joins its items with commas, ReadFile contents with newlines.
                Ok(outputs
                    .into_iter()
                    .map(|(k, v)| {
                        let separator = if k == "files" { "," } else { "\n" };
                        (k, v.join(separator))
                    })
                    .collect())
            }
        }
    }

    fn run_script(
        &mut self,
        step: &Step,
        root: &ImageRoot,
        script: &str,
        deadline: Option<Instant>,
        timeout: i64,
        capture: &mut Capture,
    ) -> Result<String, ActionError> {
        let dir = self.options.scratch_dir.clone();
        let host_dir = root.resolve(&dir, true)?;
        std::fs::create_dir_all(&host_dir).map_err(|source| ActionError::Io {
            operation: "create the folder",
            path: dir.clone(),
            source,
        })?;
        self.scripts += 1;
        let name = format!("{}-{}.sh", step.name, self.scripts);
        let image_path = format!("{}/{}", dir.trim_end_matches('/'), name);
        let host_path = host_dir.join(&name);
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o700)
                .open(&host_path)
                .map_err(|source| ActionError::Io {
                    operation: "write the script",
                    path: image_path.clone(),
                    source,
                })?;
            file.write_all(script.as_bytes())
                .map_err(|source| ActionError::Io {
                    operation: "write the script",
                    path: image_path.clone(),
                    source,
                })?;
        }
        let result = self.run_program(
            step,
            Program::Script {
                interpreter: vec!["bash".into()],
                script: image_path,
            },
            deadline,
            timeout,
            capture,
        );
        let _ = std::fs::remove_file(&host_path);
        result
    }

    fn run_program(
        &mut self,
        step: &Step,
        program: Program,
        deadline: Option<Instant>,
        timeout: i64,
        capture: &mut Capture,
    ) -> Result<String, ActionError> {
        let command = program.argv().join(" ");
        let mut reboots = 0;
        loop {
            let request = RunRequest {
                step: step.name.clone(),
                program: program.clone(),
                env: self.options.env.clone(),
                cwd: self.options.working_dir.clone(),
                timeout: Self::remaining(deadline, timeout)?,
                stdin: None,
            };
            let output = self.host.run(&request)?;
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            capture.stdout.push_str(&stdout);
            capture
                .stderr
                .push_str(&String::from_utf8_lossy(&output.stderr));
            if output.timed_out {
                return Err(ActionError::TimedOut { seconds: timeout });
            }
            match output.exit_code {
                Some(0) => return Ok(stdout.strip_suffix('\n').unwrap_or(&stdout).to_string()),
                Some(REBOOT_EXIT_CODE) => {
                    reboots += 1;
                    if reboots > self.options.max_reboots {
                        return Err(ActionError::TooManyReboots { count: reboots });
                    }
                    capture.notes.push(format!(
                        "`{command}` exited with {REBOOT_EXIT_CODE} to ask for a reboot: a container does not reboot, so the step runs again"
                    ));
                }
                exit_code => {
                    return Err(ActionError::NonZeroExit { command, exit_code });
                }
            }
        }
    }

    fn web_download(
        &mut self,
        root: &ImageRoot,
        inputs: &Value,
        deadline: Option<Instant>,
        timeout: i64,
        capture: &mut Capture,
    ) -> Result<Outputs, ActionError> {
        let mut destinations = Vec::new();
        for item in items(inputs)? {
            let url = required(&item, "source")?;
            let mut destination = required(&item, "destination")?;
            if destination.ends_with('/') {
                let name = url
                    .split(['?', '#'])
                    .next()
                    .unwrap_or_default()
                    .rsplit('/')
                    .find(|s| !s.is_empty() && !s.contains(':'))
                    .unwrap_or("download");
                destination.push_str(name);
            }
            let destination = root.absolute(&destination)?;
            let overwrite = boolean(&item, "overwrite", true)?;
            let checksum = optional(&item, "checksum")?;
            let algorithm = optional(&item, "algorithm")?;
            let verify = match (&checksum, &algorithm) {
                (Some(c), Some(a)) => {
                    if !actions::CHECKSUM_ALGORITHMS
                        .iter()
                        .any(|x| x.eq_ignore_ascii_case(a))
                    {
                        return Err(ActionError::InvalidInputs {
                            message: format!(
                                "`{a}` is not a checksum algorithm (MD5, SHA1, SHA256, SHA512)"
                            ),
                        });
                    }
                    Some((a.to_ascii_uppercase(), c.trim().to_ascii_lowercase()))
                }
                _ => None,
            };
            let (parent, name) = destination.rsplit_once('/').unwrap_or(("", &destination));
            let parent = if parent.is_empty() { "/" } else { parent };
            let host_parent = root.resolve(parent, true)?;
            std::fs::create_dir_all(&host_parent).map_err(|source| ActionError::Io {
                operation: "create the folder",
                path: parent.to_string(),
                source,
            })?;
            let host_path = root.resolve(&destination, true)?;
            if host_path.exists() {
                if !overwrite {
                    return Err(ActionError::AlreadyExists {
                        path: destination,
                        option: "overwrite",
                    });
                }
                if let Some((algorithm, expected)) = &verify {
                    if files::digest_matches(&host_path, algorithm, expected) {
                        capture
                            .notes
                            .push(format!("`{destination}` already has the expected {algorithm}; not downloaded again"));
                        destinations.push(destination);
                        continue;
                    }
                }
            }
            let partial = host_parent.join(format!(".{name}.imagesmith-partial"));
            self.host.download(&DownloadRequest {
                url: url.clone(),
                destination: partial.clone(),
                ignore_certificate_errors: boolean(&item, "ignoreCertificateErrors", false)?,
                timeout: Self::remaining(deadline, timeout)?,
            })?;
            if let Some((algorithm, expected)) = &verify {
                let actual = root::file_digest(&partial, algorithm)
                    .map_err(|source| ActionError::Io {
                        operation: "hash",
                        path: destination.clone(),
                        source,
                    })?
                    .unwrap_or_default();
                if actual != *expected {
                    let _ = std::fs::remove_file(&partial);
                    return Err(ActionError::ChecksumMismatch {
                        path: destination,
                        algorithm: algorithm.clone(),
                        expected: expected.clone(),
                        actual,
                    });
                }
            }
            std::fs::rename(&partial, &host_path).map_err(|source| ActionError::Io {
                operation: "move the download to",
                path: destination.clone(),
                source,
            })?;
            destinations.push(destination);
        }
        Ok(Outputs::from([(
            "destination".to_string(),
            destinations.join("\n"),
        )]))
    }

    fn update_os(
        &mut self,
        step: &Step,
        root: &ImageRoot,
        inputs: &Value,
        deadline: Option<Instant>,
        timeout: i64,
        capture: &mut Capture,
    ) -> Result<Outputs, ActionError> {
        let map = mapping(inputs)?;
        let include = strings(&map, "include")?;
        let exclude = strings(&map, "exclude")?;
        for name in include.iter().chain(&exclude) {
            let safe = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._+-:*".contains(c));
            if !safe {
                return Err(ActionError::InvalidInputs {
                    message: format!("`{name}` is not a package name"),
                });
            }
        }
        let exists = |path: &str| root.resolve(path, true).is_ok_and(|p| p.exists());
        let manager = match self.options.package_manager {
            Some(manager) => manager,
            None if exists("/usr/bin/apt-get") => PackageManager::Apt,
            None if exists("/usr/bin/dnf") || exists("/usr/bin/yum") => PackageManager::Dnf,
            None => {
                return Err(ActionError::Unsupported {
                    action: "UpdateOS".into(),
                    reason: "the image has neither `apt-get` nor `dnf`/`yum`".into(),
                })
            }
        };
        let script = match manager {
            PackageManager::Apt => {
                let mut script =
                    String::from("set -e\nexport DEBIAN_FRONTEND=noninteractive\napt-get update\n");
                if !exclude.is_empty() {
                    script.push_str(&format!("apt-mark hold {}\n", exclude.join(" ")));
                }
                if include.is_empty() {
                    script.push_str("apt-get -y upgrade\n");
                } else {
                    script.push_str(&format!(
                        "apt-get -y install --only-upgrade {}\n",
                        include.join(" ")
                    ));
                }
                if !exclude.is_empty() {
                    script.push_str(&format!("apt-mark unhold {}\n", exclude.join(" ")));
                }
                script
            }
            PackageManager::Dnf => {
                let tool = if exists("/usr/bin/dnf") { "dnf" } else { "yum" };
                let excludes: Vec<String> =
                    exclude.iter().map(|e| format!("--exclude={e}")).collect();
                format!(
                    "set -e\n{tool} -y upgrade {} {}\n",
                    excludes.join(" "),
                    include.join(" ")
                )
            }
            PackageManager::Windows => {
                return Err(ActionError::NotRunnableHere {
                    action: "UpdateOS".into(),
                })
            }
        };
        self.run_script(step, root, &script, deadline, timeout, capture)?;
        Ok(Outputs::new())
    }
}

impl From<ExpandError> for ActionError {
    fn from(error: ExpandError) -> Self {
        match error {
            ExpandError::Loop { message } => ActionError::Loop { message },
            ExpandError::Condition { message } => ActionError::Condition { message },
            // The executor always passes the image's probe; only a renderer meets this.
            other @ ExpandError::NeedsImage { .. } => ActionError::Condition {
                message: other.to_string(),
            },
        }
    }
}

fn aggregate(statuses: impl Iterator<Item = Status>) -> Status {
    let mut result = Status::Success;
    for status in statuses {
        match status {
            Status::Failed => return Status::Failed,
            Status::SuccessWithIgnoredFailure => result = Status::SuccessWithIgnoredFailure,
            Status::Success => {}
        }
    }
    result
}

/// Answers the file operators of conditions from the image root.
struct RootProbe<'a>(&'a ImageRoot);

impl Probe for RootProbe<'_> {
    fn binary_exists(&self, name: &str) -> bool {
        use std::os::unix::fs::PermissionsExt;
        let candidates: Vec<String> = if name.contains('/') {
            vec![name.to_string()]
        } else {
            [
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/sbin",
                "/usr/bin",
                "/sbin",
                "/bin",
            ]
            .iter()
            .map(|dir| format!("{dir}/{name}"))
            .collect()
        };
        candidates.iter().any(|path| {
            self.0
                .resolve(path, true)
                .ok()
                .and_then(|p| std::fs::metadata(p).ok())
                .is_some_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    }

    fn file_exists(&self, path: &str) -> bool {
        self.0.resolve(path, true).is_ok_and(|p| p.is_file())
    }

    fn folder_exists(&self, path: &str) -> bool {
        self.0.resolve(path, true).is_ok_and(|p| p.is_dir())
    }

    fn file_hash(&self, path: &str, algorithm: &str) -> Option<String> {
        let host = self.0.resolve(path, true).ok()?;
        root::file_digest(&host, algorithm).ok().flatten()
    }
}
