//! A fake host: runs commands on this machine with the working directory in a temporary
//! "image root", serves downloads from memory and records what it was asked.

use imagesmith_awstoe::exec::{DownloadRequest, Host, HostError, Program, RunOutput, RunRequest};
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct LocalHost {
    pub dir: tempfile::TempDir,
    pub runs: Vec<RunRequest>,
    /// Scripts that mention a package manager are recorded here instead of run.
    pub package_scripts: Vec<String>,
    pub downloads: HashMap<String, Vec<u8>>,
}

impl LocalHost {
    pub fn new() -> Self {
        LocalHost {
            dir: tempfile::tempdir().expect("a temporary directory"),
            runs: Vec::new(),
            package_scripts: Vec::new(),
            downloads: HashMap::new(),
        }
    }

    pub fn path(&self, image_path: &str) -> PathBuf {
        self.dir.path().join(image_path.trim_start_matches('/'))
    }

    pub fn write(&self, image_path: &str, content: &str) {
        let path = self.path(image_path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn read(&self, image_path: &str) -> String {
        std::fs::read_to_string(self.path(image_path))
            .unwrap_or_else(|e| panic!("{image_path}: {e}"))
    }
}

fn drain(mut reader: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = reader.read_to_end(&mut buffer);
        buffer
    })
}

impl Host for LocalHost {
    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn run(&mut self, request: &RunRequest) -> Result<RunOutput, HostError> {
        self.runs.push(request.clone());
        let argv = match &request.program {
            Program::Argv(argv) => argv.clone(),
            Program::Script {
                interpreter,
                script,
            } => {
                let host_script = self.path(script);
                let text = std::fs::read_to_string(&host_script).unwrap_or_default();
                if text.contains("apt-get") || text.contains("dnf ") || text.contains("yum ") {
                    self.package_scripts.push(text);
                    return Ok(RunOutput {
                        exit_code: Some(0),
                        ..RunOutput::default()
                    });
                }
                let mut argv = interpreter.clone();
                argv.push(host_script.to_string_lossy().into_owned());
                argv
            }
        };
        let cwd = self.path(&request.cwd);
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(&cwd)
            .env_clear()
            .envs(request.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|source| HostError::Spawn {
                program: argv[0].clone(),
                source,
            })?;
        let stdout = drain(child.stdout.take().unwrap());
        let stderr = drain(child.stderr.take().unwrap());
        let start = Instant::now();
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| HostError::Other(e.to_string()))?
            {
                break status;
            }
            if request.timeout.is_some_and(|t| start.elapsed() >= t) {
                timed_out = true;
                // Kill the whole group, so a `sleep` under `bash` does not hold the pipes open.
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.kill();
                break child.wait().map_err(|e| HostError::Other(e.to_string()))?;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Ok(RunOutput {
            exit_code: status.code(),
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
            timed_out,
        })
    }

    fn download(&mut self, request: &DownloadRequest) -> Result<(), HostError> {
        let body = self
            .downloads
            .get(&request.url)
            .ok_or_else(|| HostError::Download {
                url: request.url.clone(),
                message: "404 Not Found".into(),
            })?;
        std::fs::write(&request.destination, body).map_err(|source| HostError::Io {
            operation: "write",
            path: request.destination.clone(),
            source,
        })
    }
}
