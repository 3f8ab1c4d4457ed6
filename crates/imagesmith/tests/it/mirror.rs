//! A local stand-in for an Artifactory/Nexus mirror: serves files by path on 127.0.0.1, asks
//! for a bearer token, and records what it was asked.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// The token the mirror wants.
pub const TOKEN: &str = "mirror-token-7f3a";

/// A running mirror.
pub struct Mirror {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Paths asked, with whether the token came along.
    pub asked: Arc<Mutex<Vec<(String, bool)>>>,
}

impl Mirror {
    /// The environment variable a child needs to send the token to this mirror.
    pub fn auth_env(&self) -> (&'static str, String) {
        ("IMAGESMITH_AUTH_127_0_0_1", format!("Bearer {TOKEN}"))
    }
}

/// Serves `files` (path → body) until the test process ends.
pub fn serve(files: BTreeMap<String, Vec<u8>>) -> Mirror {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&asked);
    let files = Arc::new(files);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let files = Arc::clone(&files);
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut authorized = false;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        if name.eq_ignore_ascii_case("authorization")
                            && value.trim() == format!("Bearer {TOKEN}")
                        {
                            authorized = true;
                        }
                    }
                }
                log.lock().unwrap().push((path.clone(), authorized));
                let path = path.split('?').next().unwrap_or_default();
                let (status, body): (&str, &[u8]) = if !authorized {
                    ("401 Unauthorized", b"token required")
                } else if let Some(body) = files.get(path) {
                    ("200 OK", body)
                } else {
                    ("404 Not Found", b"not here")
                };
                let mut stream = &stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(body);
            });
        }
    });
    Mirror { base, asked }
}
