//! A moto server on a free loopback port for one test, stopped when dropped, and clients
//! pointed at it with fake credentials.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use imagesmith_aws::Aws;

/// The fake account moto answers for.
pub const ACCOUNT: &str = "123456789012";

/// Whether a missing tool must fail the test (CI) rather than skip it.
fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto, or returns `None` after printing why (panics under `CI`).
    pub fn start() -> Option<Moto> {
        let mut tried = Vec::new();
        for program in [vec!["moto_server"], vec!["python3", "-m", "moto.server"]] {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free port")
                .port();
            let spawned = Command::new(program[0])
                .args(&program[1..])
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut child = match spawned {
                Ok(child) => child,
                Err(error) => {
                    tried.push(format!("`{}` cannot run: {error}", program.join(" ")));
                    continue;
                }
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut why = format!("`{}` did not listen within 30s", program.join(" "));
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    why = format!("`{}` exited with {status}", program.join(" "));
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Moto {
                        child,
                        endpoint: format!("http://127.0.0.1:{port}"),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            tried.push(why);
        }
        let reason = format!(
            "moto is not usable ({}); run `bash .ci/install-tools`",
            tried.join("; ")
        );
        if required() {
            panic!("{reason}");
        }
        eprintln!("skipped: {reason}");
        None
    }

    /// The environment that points the standard configuration at this server, as a user
    /// would set it (fake credentials, no instance metadata lookups).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_SESSION_TOKEN", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ]
    }

    /// A client pointed at this server with fake credentials, without touching the process
    /// environment (tests share it).
    pub fn aws(&self) -> Aws {
        let endpoint = self.endpoint.clone();
        Aws::with(move |loader| {
            loader
                .endpoint_url(endpoint)
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "test", "test", None, None, "test",
                ))
        })
        .expect("an AWS client")
    }

    /// Creates `bucket` and puts `objects` (key, body) in it.
    pub fn bucket(&self, bucket: &str, objects: &[(&str, &[u8])]) {
        let aws = self.aws();
        let config = aws_sdk_s3::config::Builder::from(aws.config())
            .force_path_style(true)
            .build();
        let client = aws_sdk_s3::Client::from_conf(config);
        runtime().block_on(async {
            client
                .create_bucket()
                .bucket(bucket)
                .send()
                .await
                .expect("create the bucket");
            for (key, body) in objects {
                client
                    .put_object()
                    .bucket(bucket)
                    .key(*key)
                    .body(body.to_vec().into())
                    .send()
                    .await
                    .unwrap_or_else(|error| panic!("put `{key}`: {error:?}"));
            }
        });
    }
}

/// A runtime for the tests' own SDK calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}
