//! A fake registry with Bearer token auth, on a std `TcpListener` thread
//!
//! Distribution's own token auth needs a JWT-signing token server; this fake does the flow
//! the way Docker Hub and most registries do: `/v2/...` answers `401` with a `Bearer`
//! challenge unless the request carries the token, `/token` hands the token out only for the
//! right Basic credentials, in the `token` or the `access_token` field. Every request is
//! recorded, and any path's body can be replaced to play a corrupting registry.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use imagesmith_oci::{BlobStore, Image};

pub const REPOSITORY: &str = "fake/app";
pub const USER: &str = "bearer-user";
pub const PASSWORD: &str = "bearer-pass";
pub const TOKEN: &str = "fake-token-0123456789";
pub const SERVICE: &str = "fake-registry";

/// A request as the fake saw it
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
}

struct Route {
    content_type: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    token_field: String,
    seen: Vec<Seen>,
}

/// The fake, serving until the test process ends
pub struct FakeRegistry {
    pub host: String,
    state: Arc<Mutex<State>>,
}

impl FakeRegistry {
    /// Starts the fake; the token comes in the JSON field `token_field`
    pub fn start(token_field: &str) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State {
            token_field: token_field.to_owned(),
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let realm = format!("http://{host}/token");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (shared, realm) = (Arc::clone(&shared), realm.clone());
                std::thread::spawn(move || serve(stream, &shared, &realm));
            }
        });
        FakeRegistry { host, state }
    }

    /// Serves `image` (whose blobs are in `store`) as `REPOSITORY:tag` and by digest
    pub fn add_image(&self, store: &BlobStore, image: &Image, tag: &str) {
        let manifest = store.read(image.digest()).unwrap();
        let media_type = image.descriptor.media_type().to_string();
        let headers = vec![(
            String::from("Docker-Content-Digest"),
            image.digest().to_string(),
        )];
        for reference in [tag.to_owned(), image.digest().to_string()] {
            self.set(
                &format!("/v2/{REPOSITORY}/manifests/{reference}"),
                &media_type,
                manifest.clone(),
                headers.clone(),
            );
        }
        let mut blobs = vec![image.manifest.config().digest().clone()];
        blobs.extend(image.layers().iter().map(|layer| layer.digest().clone()));
        for digest in blobs {
            self.set(
                &format!("/v2/{REPOSITORY}/blobs/{digest}"),
                "application/octet-stream",
                store.read(&digest).unwrap(),
                Vec::new(),
            );
        }
    }

    /// Serves `body` at `path`
    pub fn set(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        headers: Vec<(String, String)>,
    ) {
        self.state.lock().unwrap().routes.insert(
            path.to_owned(),
            Route {
                content_type: content_type.to_owned(),
                body,
                headers,
            },
        );
    }

    /// The body served at `path`
    pub fn body(&self, path: &str) -> Vec<u8> {
        self.state.lock().unwrap().routes[path].body.clone()
    }

    /// Every request so far
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, realm: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    // A TLS ClientHello (the client trying HTTPS first): hang up, as a plain server would fail
    if reader.fill_buf()?.first() == Some(&0x16) {
        return Ok(());
    }
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let target = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_owned());
            }
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (target.clone(), String::new()),
    };
    let mut state = state.lock().unwrap();
    state.seen.push(Seen {
        path: path.clone(),
        query: query.clone(),
        authorization: authorization.clone(),
    });
    let (status, content_type, body, mut headers) = if path == "/token" {
        if authorization.as_deref() == Some(basic(USER, PASSWORD).as_str()) {
            let body = format!(r#"{{"{}":"{TOKEN}","expires_in":300}}"#, state.token_field);
            (
                200,
                String::from("application/json"),
                body.into_bytes(),
                Vec::new(),
            )
        } else {
            let body = br#"{"details":"incorrect username or password"}"#.to_vec();
            (401, String::from("application/json"), body, Vec::new())
        }
    } else if authorization.as_deref() != Some(format!("Bearer {TOKEN}").as_str()) {
        let challenge = format!(
            r#"Bearer realm="{realm}",service="{SERVICE}",scope="repository:{REPOSITORY}:pull""#
        );
        let body =
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.to_vec();
        (
            401,
            String::from("application/json"),
            body,
            vec![(String::from("WWW-Authenticate"), challenge)],
        )
    } else if let Some(route) = state.routes.get(&path) {
        (
            200,
            route.content_type.clone(),
            route.body.clone(),
            route.headers.clone(),
        )
    } else {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.to_vec();
        (404, String::from("application/json"), body, Vec::new())
    };
    drop(state);
    headers.push((String::from("Content-Type"), content_type));
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    stream.write_all(response.as_bytes())?;
    stream.write_all(&body)?;
    stream.flush()?;
    // Drain what the client may still send so closing does not reset the connection
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut rest = [0u8; 1024];
    let _ = reader.read(&mut rest);
    Ok(())
}
