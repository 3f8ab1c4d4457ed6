//! A real registry for tests: Distribution's `docker-registry` on a free loopback port with
//! its storage in a temporary directory (optionally behind htpasswd Basic auth), and `skopeo`
//! to push to it
//!
//! Shared by the registry tests of imagesmith-oci and imagesmith-build (included with
//! `#[path]`), so it uses nothing but std and `tempfile`. Without the tools a test is skipped
//! with the reason printed, except under `CI=true`, where it fails.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user of the htpasswd registry
pub const USER: &str = "tester";
/// Their password
pub const PASSWORD: &str = "s3cret-pass";
/// `PASSWORD` hashed with bcrypt (cost 4), as `htpasswd -B` writes it; Distribution accepts
/// only bcrypt, and a constant spares a dependency or `apache2-utils`
const PASSWORD_BCRYPT: &str = "$2b$04$ZwikK/P.kZft9edn3VMv..O067hueC/esva2NkoudhYT2GPwcYj/W";

/// Whether `docker-registry` and `skopeo` run; otherwise skips (or, in CI, fails) with the
/// reason
pub fn tools_present() -> bool {
    for (tool, package) in [("docker-registry", "docker-registry"), ("skopeo", "skopeo")] {
        let runs = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !runs {
            let reason = format!(
                "`{tool}` is not installed; run `bash .ci/install-tools` (or `apt-get install {package}`)"
            );
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{reason}");
            }
            eprintln!("skipped: {reason}");
            return false;
        }
    }
    true
}

/// A running `docker-registry`, stopped when dropped
pub struct Registry {
    child: Option<Child>,
    /// `127.0.0.1:PORT`
    pub host: String,
    /// Whether pushes and pulls need `USER`/`PASSWORD`
    pub basic_auth: bool,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry; with `basic_auth`, behind htpasswd with `USER`/`PASSWORD`
    pub fn start(basic_auth: bool) -> Registry {
        let mut last_log = String::new();
        // A port found free may be taken before the registry binds it: try a few
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let host = format!("127.0.0.1:{port}");
            let mut config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: {host}\n  secret: imagesmith-test\n",
                dir.path().join("storage").display()
            );
            if basic_auth {
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, format!("{USER}:{PASSWORD_BCRYPT}\n")).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: imagesmith-test\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            std::fs::write(dir.path().join("config.yml"), config).unwrap();
            match serve(dir.path(), &host) {
                Ok(child) => {
                    return Registry {
                        child: Some(child),
                        host,
                        basic_auth,
                        dir,
                    }
                }
                Err(log) => last_log = log,
            }
        }
        panic!("docker-registry did not start:\n{last_log}");
    }

    /// Kills the registry (SIGKILL, as a crash would), keeping its storage and port
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the stopped registry again on the same port, with the same storage and secret
    pub fn restart(&mut self) {
        self.stop();
        // The port was just released; the registry binds it again
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match serve(self.dir.path(), &self.host) {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(log) if Instant::now() > deadline => {
                    panic!("docker-registry did not restart:\n{log}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The registry's storage directory
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Where the registry keeps a blob (`sha256:<hex>`)
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// `skopeo copy SOURCE docker://HOST/DEST` (`--all` copies every image of an index),
    /// with `extra` arguments such as `--format v2s2`
    pub fn push(&self, source: &str, dest: &str, extra: &[&str]) {
        let mut command = Command::new("skopeo");
        command
            .args([
                "--insecure-policy",
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
            ])
            .args(extra);
        if self.basic_auth {
            command.arg(format!("--dest-creds={USER}:{PASSWORD}"));
        }
        let output = command
            .arg(source)
            .arg(format!("docker://{}/{dest}", self.host))
            .env("REGISTRY_AUTH_FILE", self.dir.path().join("no-auth.json"))
            .output()
            .expect("run skopeo");
        assert!(
            output.status.success(),
            "skopeo copy {source} to {dest} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `skopeo inspect --raw` of `docker://HOST/REFERENCE`: the manifest bytes as stored
    pub fn raw_manifest(&self, reference: &str) -> Vec<u8> {
        let mut command = Command::new("skopeo");
        command.args(["inspect", "--raw", "--tls-verify=false"]);
        if self.basic_auth {
            command.arg(format!("--creds={USER}:{PASSWORD}"));
        }
        let output = command
            .arg(format!("docker://{}/{reference}", self.host))
            .env("REGISTRY_AUTH_FILE", self.dir.path().join("no-auth.json"))
            .output()
            .expect("run skopeo");
        assert!(
            output.status.success(),
            "skopeo inspect {reference} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `docker-registry serve DIR/config.yml` and waits until `host` answers; the error
/// is what the registry printed
fn serve(dir: &Path, host: &str) -> Result<Child, String> {
    let mut child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("registry.log")).unwrap())
        .stderr(std::fs::File::create(dir.join("registry.err")).unwrap())
        .spawn()
        .expect("start docker-registry");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if TcpStream::connect(host).is_ok() {
            return Ok(child);
        }
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::fs::read_to_string(dir.join("registry.err")).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `oci:DIR:TAG` for skopeo
pub fn oci(dir: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", dir.display())
}
