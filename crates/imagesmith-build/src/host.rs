//! The AWSTOE executor's [`Host`], implemented with the sandbox and the builder's mount

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use imagesmith_awstoe::exec::{
    aws_feature_hint, s3_download, DownloadRequest, Host, HostError, Redactor, RunOutput,
    RunRequest, S3DownloadRequest, S3Fetch,
};
use imagesmith_sandbox::{Mode, Network, OverlayRoot, Sandbox, SandboxConfig, Secret};

use crate::error::BuildError;
use crate::mount::Mounter;

/// Called with the step name each time a command starts (for progress displays)
pub type StepSink<'a> = &'a (dyn Fn(&str) + Sync);

/// Runs the executor's commands in the sandbox over one overlay, and lets its file actions
/// work on the merged tree mounted on the build thread
pub(crate) struct SandboxHost<'a> {
    pub sandbox: &'a (dyn Sandbox + Sync),
    pub mounter: &'a dyn Mounter,
    pub root: OverlayRoot,
    pub mode: Mode,
    /// The network of each command: its own namespace, with the build's proxy or not
    pub network: Network,
    pub secrets: Vec<Secret>,
    pub redactor: Redactor,
    /// Commands' output, secrets redacted, appended as they finish
    pub log: PathBuf,
    pub runs: Arc<AtomicUsize>,
    pub on_step: StepSink<'a>,
    /// The S3 client for S3Download, when imagesmith has one (the `aws` feature)
    pub s3: Option<&'a dyn S3Fetch>,
    /// The plan, whose `mirrors` rewrite WebDownload URLs (as the rendered Dockerfiles' `ADD`)
    pub plan: &'a imagesmith_plan::LockedProject,
    pub mounted: bool,
    /// A failure of imagesmith itself (the sandbox or a mount), reported after the run
    pub fatal: Option<BuildError>,
}

impl SandboxHost<'_> {
    pub fn mount(&mut self) -> Result<(), BuildError> {
        if !self.mounted {
            self.mounter.mount(&self.root)?;
            self.mounted = true;
        }
        Ok(())
    }

    pub fn unmount(&mut self) -> Result<(), BuildError> {
        if self.mounted {
            self.mounter.unmount(&self.root.merged_dir)?;
            self.mounted = false;
        }
        Ok(())
    }

    fn append_log(&self, request: &RunRequest, output: &imagesmith_sandbox::RunOutput) {
        let text = format!(
            "=== step `{}`: {} (exit {}{}, {:.1}s)\n{}{}",
            request.step,
            request.program.argv().join(" "),
            output.exit_code,
            if output.timed_out { ", timed out" } else { "" },
            output.duration.as_secs_f64(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        let redacted = self.redactor.text(&text);
        if let Ok(mut file) = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
        {
            // Best effort: the executor's JSON log has the same output
            let _ = file.write_all(redacted.as_bytes());
        }
    }
}

impl Drop for SandboxHost<'_> {
    fn drop(&mut self) {
        let _ = self.unmount();
    }
}

impl Host for SandboxHost<'_> {
    fn root(&self) -> &Path {
        &self.root.merged_dir
    }

    fn run(&mut self, request: &RunRequest) -> Result<RunOutput, HostError> {
        if request.stdin.is_some() {
            return Err(HostError::Other(format!(
                "step `{}`: the sandbox gives commands no standard input",
                request.step
            )));
        }
        (self.on_step)(&request.step);
        if let Err(error) = self.unmount() {
            let message = error.to_string();
            self.fatal.get_or_insert(error);
            return Err(HostError::Other(message));
        }
        let mut config = SandboxConfig::new(self.root.clone(), request.program.argv(), self.mode);
        config.env = request.env.clone();
        config.cwd = PathBuf::from(&request.cwd);
        config.timeout = request.timeout;
        config.network = self.network.clone();
        config.secrets = self.secrets.clone();
        self.runs.fetch_add(1, Ordering::SeqCst);
        let result = self.sandbox.run(&config, None);
        if let Err(error) = self.mount() {
            let message = error.to_string();
            self.fatal.get_or_insert(error);
            return Err(HostError::Other(message));
        }
        match result {
            Ok(output) => {
                self.append_log(request, &output);
                // A command killed by signal N reports 128 + N, as a shell would
                Ok(RunOutput {
                    exit_code: Some(output.exit_code),
                    stdout: output.stdout,
                    stderr: output.stderr,
                    timed_out: output.timed_out,
                })
            }
            Err(error) => {
                let message = error.to_string();
                self.fatal.get_or_insert(BuildError::Sandbox {
                    image: String::new(),
                    component: String::new(),
                    phase: request.step.clone(),
                    source: error,
                });
                Err(HostError::Other(message))
            }
        }
    }

    fn download(&mut self, request: &DownloadRequest) -> Result<(), HostError> {
        let fail = |message: String| HostError::Download {
            url: request.url.clone(),
            message,
        };
        let agent = crate::preflight::agent(request.timeout.unwrap_or(Duration::from_secs(600)));
        // Through the project's mirror, as preflight checked it and the Dockerfile's `ADD` has it
        let url = self.plan.mirror(&request.url);
        let response = agent.get(&url).call().map_err(|error| {
            if url == request.url {
                fail(error.to_string())
            } else {
                fail(format!("through the mirror `{url}`: {error}"))
            }
        })?;
        if let Some(parent) = request.destination.parent() {
            fs_err::create_dir_all(parent).map_err(|source| HostError::Io {
                operation: "create",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let mut file =
            fs_err::File::create(&request.destination).map_err(|source| HostError::Io {
                operation: "write",
                path: request.destination.clone(),
                source,
            })?;
        std::io::copy(&mut response.into_reader(), &mut file).map_err(|source| HostError::Io {
            operation: "write",
            path: request.destination.clone(),
            source,
        })?;
        Ok(())
    }

    fn s3_download(&mut self, request: &S3DownloadRequest) -> Result<(), HostError> {
        let Some(s3) = self.s3 else {
            return Err(HostError::NotConfigured {
                what: "S3Download",
                hint: aws_feature_hint(&request.source),
            });
        };
        s3_download(s3, &self.root.merged_dir, request)?;
        Ok(())
    }
}
