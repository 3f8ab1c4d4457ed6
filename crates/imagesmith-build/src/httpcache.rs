//! A caching HTTP proxy for build steps: immutable downloads (apt's by-hash indexes and
//! pool packages) are kept in the build cache and served from it
//!
//! What a BuildKit cache mount or apt-cacher-ng gives, built in. The builder starts an
//! [`HttpProxy`] on a loopback port for the duration of a build and gives the build and
//! validate steps that have the network `http_proxy` pointing at it ([`HttpProxy::env`]);
//! the test phase has no network and gets nothing. Nothing of it reaches an image: the
//! variables are not part of any layer's cache key, and apt's lists and downloaded packages
//! are removed from every layer ([`crate::normalize::REMOVED`]).
//!
//! The rule ([`rule`]) stores only what cannot change, so a cached answer is always the
//! answer the mirror would give:
//!
//! - `…/by-hash/SHA256/<hex>` and `…/by-hash/SHA512/<hex>` (apt asks for indexes this way
//!   when the Release file says `Acquire-By-Hash: yes`, as Debian's and Ubuntu's do): the
//!   URL names the content. The body is stored under its hash only after it is hashed and
//!   matches, so it serves any mirror's request for that hash.
//! - `.deb` and `.udeb` files under `/pool/`, by URL: a published pool file never changes
//!   (an archive refuses a second upload of the same name and version with other content),
//!   and apt checks every package against the signed index before it installs it, so a
//!   wrong file could fail a build but never get into an image. Stored only when the whole
//!   body arrived (`Content-Length` matched).
//!
//! Everything else — `InRelease`, indexes by name, other hosts' files, requests with a
//! query, a range or a condition, methods other than `GET`, answers other than 200 — is
//! forwarded and never stored. Redirects are passed through, not followed. Entries are
//! written to `tmp/` and renamed into place when complete, so a build killed at any moment
//! leaves no partial entry (and `tmp/` is emptied when the next proxy starts).
//!
//! Layout under the directory given to [`HttpProxy::start`] (the builder uses
//! `<cache>/http`):
//!
//! ```text
//! sha256/<hex>, sha512/<hex>   by-hash content, verified
//! pool/<sha256 of the URL>     pool packages
//! tmp/                         entries being written
//! ```

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256, Sha512};

/// Hosts the steps reach directly, never through the proxy
pub const NO_PROXY: &str = "localhost,127.0.0.1,::1";

/// The longest request line or header line read from a client
const MAX_LINE: u64 = 64 * 1024;
/// The most header lines in one request
const MAX_HEADERS: usize = 256;
/// The largest request body forwarded (apt sends none)
const MAX_BODY: u64 = 64 * 1024 * 1024;
/// How long a kept-alive client connection may stay idle
const IDLE: Duration = Duration::from_secs(300);

/// A hash algorithm of by-hash URLs
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `by-hash/SHA256/<64 hex digits>`
    Sha256,
    /// `by-hash/SHA512/<128 hex digits>`
    Sha512,
}

impl Algorithm {
    fn directory(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// What the cache does with a request
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Named by the hash of its content: served from, and stored under, that hash
    ByHash {
        /// The algorithm named in the URL
        algorithm: Algorithm,
        /// The hash, lowercase hex
        hex: String,
    },
    /// A package in a pool: stored under its URL once it arrived whole
    Pool {
        /// The sha256 (hex) of the normalised URL
        key: String,
    },
    /// Forwarded, never stored
    Pass,
}

/// The cache rule for a request: see the [module documentation](self)
///
/// `headers` are the request's (names in any case).
pub fn rule(method: &str, url: &str, headers: &[(String, String)]) -> Rule {
    if method != "GET" {
        return Rule::Pass;
    }
    let header = |name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.to_ascii_lowercase())
            .collect()
    };
    // A partial or conditional request is the client's business with the origin
    for name in [
        "range",
        "if-range",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
    ] {
        if !header(name).is_empty() {
            return Rule::Pass;
        }
    }
    let Some(target) = Target::parse(url) else {
        return Rule::Pass;
    };
    if target.query.is_some() {
        return Rule::Pass;
    }
    let segments: Vec<&str> = target.path.split('/').skip(1).collect();
    // `.` and `..` (also percent-encoded) would be resolved before the request is sent
    if segments.iter().any(|segment| {
        let plain = segment.to_ascii_lowercase().replace("%2e", ".");
        plain == "." || plain == ".."
    }) {
        return Rule::Pass;
    }
    if let Some(position) = segments.iter().position(|segment| *segment == "by-hash") {
        if position + 3 != segments.len() {
            return Rule::Pass;
        }
        let algorithm = match segments[position + 1] {
            "SHA256" => Algorithm::Sha256,
            "SHA512" => Algorithm::Sha512,
            // MD5Sum and SHA1 are too weak to name content by
            _ => return Rule::Pass,
        };
        let hex = segments[position + 2].to_ascii_lowercase();
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Rule::Pass;
        }
        return Rule::ByHash { algorithm, hex };
    }
    let name = segments.last().copied().unwrap_or_default();
    let in_pool = segments[..segments.len().saturating_sub(1)].contains(&"pool");
    if !in_pool || !(name.ends_with(".deb") || name.ends_with(".udeb")) {
        return Rule::Pass;
    }
    // The client asked for a fresh copy
    let fresh = [header("cache-control"), header("pragma")]
        .concat()
        .iter()
        .any(|value| value.contains("no-cache") || value.contains("no-store"));
    if fresh {
        return Rule::Pass;
    }
    let normalised = format!("http://{}{}", target.authority, target.path);
    Rule::Pool {
        key: hex::encode(Sha256::digest(normalised.as_bytes())),
    }
}

/// An absolute `http://` request target, split
#[derive(Debug, PartialEq, Eq)]
struct Target<'a> {
    /// Host and port, lowercase, without `:80`
    authority: String,
    /// The host alone (no port, no brackets)
    host: String,
    /// From the first `/` up to the query (`/` when empty)
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> Target<'a> {
    fn parse(url: &'a str) -> Option<Target<'a>> {
        let scheme = url.get(..7)?;
        if !scheme.eq_ignore_ascii_case("http://") {
            return None;
        }
        let rest = &url[7..];
        if rest.contains('#') {
            return None;
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = rest[..end].to_ascii_lowercase();
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        let authority = authority
            .strip_suffix(":80")
            .map(str::to_owned)
            .unwrap_or(authority);
        let host = if let Some(bracketed) = authority.strip_prefix('[') {
            bracketed.split(']').next().unwrap_or_default().to_owned()
        } else {
            authority.split(':').next().unwrap_or_default().to_owned()
        };
        let (path, query) = match rest[end..].split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (&rest[end..], None),
        };
        let path = if path.is_empty() { "/" } else { path };
        Some(Target {
            authority,
            host,
            path,
            query,
        })
    }
}

/// How the proxy reaches origins: directly, or through the host's own proxy
#[derive(Debug, Clone)]
pub struct Upstream {
    direct: ureq::Agent,
    proxied: Option<(ureq::Agent, Vec<String>)>,
}

impl Upstream {
    /// Straight to the origin
    pub fn direct() -> Self {
        Upstream {
            direct: agent(None),
            proxied: None,
        }
    }

    /// Through the proxy of this process's environment (`http_proxy`, `HTTP_PROXY`,
    /// `all_proxy`, `ALL_PROXY`, first set wins) for hosts not in `no_proxy`/`NO_PROXY`;
    /// directly when none is set
    pub fn from_env() -> Result<Self, String> {
        let variable = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let found = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
            .into_iter()
            .find_map(|name| variable(name).map(|value| (name, value)));
        let Some((name, value)) = found else {
            return Ok(Upstream::direct());
        };
        let proxy = ureq::Proxy::new(&value)
            .map_err(|error| format!("`{name}` (`{value}`) is not a proxy URL: {error}"))?;
        let no_proxy = variable("no_proxy")
            .or_else(|| variable("NO_PROXY"))
            .unwrap_or_default()
            .split(',')
            .map(|entry| entry.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|entry| !entry.is_empty())
            .collect();
        Ok(Upstream {
            direct: agent(None),
            proxied: Some((agent(Some(proxy)), no_proxy)),
        })
    }

    fn agent(&self, host: &str) -> &ureq::Agent {
        match &self.proxied {
            Some((agent, no_proxy)) => {
                let bypass = no_proxy.iter().any(|entry| {
                    let entry = entry.split(':').next().unwrap_or_default();
                    entry == "*"
                        || host == entry
                        || host
                            .strip_suffix(entry)
                            .is_some_and(|prefix| prefix.ends_with('.'))
                });
                if bypass {
                    &self.direct
                } else {
                    agent
                }
            }
            None => &self.direct,
        }
    }
}

fn agent(proxy: Option<ureq::Proxy>) -> ureq::Agent {
    let mut builder = ureq::AgentBuilder::new()
        // 3xx go back to the client, which follows them through the proxy again
        .redirects(0)
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(120))
        .timeout_write(Duration::from_secs(120))
        .max_idle_connections_per_host(8);
    if let Some(proxy) = proxy {
        builder = builder.proxy(proxy);
    }
    builder.build()
}

/// What the proxy did, counted
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Requests answered from the cache
    pub hits: u64,
    /// Bytes answered from the cache
    pub hit_bytes: u64,
    /// Requests forwarded to the origin
    pub forwarded: u64,
    /// Bytes received from the origin
    pub forwarded_bytes: u64,
    /// Entries added to the cache
    pub stored: u64,
}

impl Stats {
    /// What happened after `earlier` was taken
    pub fn since(&self, earlier: &Stats) -> Stats {
        Stats {
            hits: self.hits.saturating_sub(earlier.hits),
            hit_bytes: self.hit_bytes.saturating_sub(earlier.hit_bytes),
            forwarded: self.forwarded.saturating_sub(earlier.forwarded),
            forwarded_bytes: self.forwarded_bytes.saturating_sub(earlier.forwarded_bytes),
            stored: self.stored.saturating_sub(earlier.stored),
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |bytes: u64| bytes as f64 / 1_048_576.0;
        write!(
            f,
            "http cache: {} hits, {:.1} MiB served from cache; {} forwarded, {:.1} MiB from upstream; {} stored",
            self.hits,
            mib(self.hit_bytes),
            self.forwarded,
            mib(self.forwarded_bytes),
            self.stored
        )
    }
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    hit_bytes: AtomicU64,
    forwarded: AtomicU64,
    forwarded_bytes: AtomicU64,
    stored: AtomicU64,
}

struct Shared {
    dir: PathBuf,
    upstream: Upstream,
    counters: Counters,
    log: Option<Mutex<fs_err::File>>,
}

impl Shared {
    fn entry(&self, rule: &Rule) -> Option<PathBuf> {
        match rule {
            Rule::ByHash { algorithm, hex } => Some(self.dir.join(algorithm.directory()).join(hex)),
            Rule::Pool { key } => Some(self.dir.join("pool").join(key)),
            Rule::Pass => None,
        }
    }

    fn log(&self, outcome: &str, method: &str, status: u16, bytes: u64, url: &str) {
        if let Some(log) = &self.log {
            if let Ok(mut file) = log.lock() {
                // Best effort: the log is for people, the counters are what the build reports
                let _ = writeln!(file, "{outcome} {method} {status} {bytes} {url}");
            }
        }
    }
}

/// The proxy: a thread accepting connections on a loopback port, one thread per connection;
/// stopped when dropped
pub struct HttpProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl fmt::Debug for HttpProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProxy")
            .field("address", &self.address)
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

impl HttpProxy {
    /// Starts a proxy on `127.0.0.1:0` keeping its cache in `dir` (created; entries left
    /// half-written by a killed build are removed), reaching origins through `upstream`, and
    /// writing one line per request to `log` (truncated) when given
    ///
    /// Nothing else may use `dir` while the proxy runs (the builder holds the cache lock).
    pub fn start(dir: &Path, upstream: Upstream, log: Option<&Path>) -> io::Result<HttpProxy> {
        for sub in ["sha256", "sha512", "pool", "tmp"] {
            fs_err::create_dir_all(dir.join(sub))?;
        }
        for entry in fs_err::read_dir(dir.join("tmp"))? {
            let path = entry?.path();
            fs_err::remove_file(&path)?;
        }
        let log = match log {
            Some(path) => {
                if let Some(parent) = path.parent() {
                    fs_err::create_dir_all(parent)?;
                }
                Some(Mutex::new(fs_err::File::create(path)?))
            }
            None => None,
        };
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            upstream,
            counters: Counters::default(),
            log,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let shared = Arc::clone(&shared);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(String::from("http-proxy"))
                .spawn(move || accept(&listener, &shared, &stop))?
        };
        Ok(HttpProxy {
            address,
            shared,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// The build's proxy: its cache in `<cache>/http`, one line per request in
    /// `<cache>/logs/http-proxy.log`, origins reached through the host's own proxy when its
    /// environment names one ([`Upstream::from_env`])
    pub fn for_cache(cache: &crate::Cache) -> io::Result<HttpProxy> {
        let upstream = Upstream::from_env()
            .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
        HttpProxy::start(
            &cache.dir("http"),
            upstream,
            Some(&cache.dir("logs").join("http-proxy.log")),
        )
    }

    /// The address it listens on
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The environment that sends a step's plain-HTTP requests through it: `http_proxy`,
    /// `HTTP_PROXY`, and `no_proxy`/`NO_PROXY` for loopback
    pub fn env(&self) -> Vec<(String, String)> {
        let url = format!("http://{}", self.address);
        vec![
            ("http_proxy".into(), url.clone()),
            ("HTTP_PROXY".into(), url),
            ("no_proxy".into(), NO_PROXY.into()),
            ("NO_PROXY".into(), NO_PROXY.into()),
        ]
    }

    /// The counts so far
    pub fn stats(&self) -> Stats {
        let counters = &self.shared.counters;
        Stats {
            hits: counters.hits.load(Ordering::Relaxed),
            hit_bytes: counters.hit_bytes.load(Ordering::Relaxed),
            forwarded: counters.forwarded.load(Ordering::Relaxed),
            forwarded_bytes: counters.forwarded_bytes.load(Ordering::Relaxed),
            stored: counters.stored.load(Ordering::Relaxed),
        }
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees the flag
        if TcpStream::connect(self.address).is_ok() {
            if let Some(acceptor) = self.acceptor.take() {
                let _ = acceptor.join();
            }
        }
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(shared);
        // A connection that cannot get a thread is closed; the client retries or fails
        let _ = std::thread::Builder::new()
            .name(String::from("http-proxy-conn"))
            .spawn(move || serve(stream, &shared));
    }
}

/// A request read from a client
#[derive(Debug)]
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    keep_alive: bool,
}

/// Why a request could not be read
enum BadRequest {
    /// The client closed the connection between requests
    Closed,
    /// An answer to give before closing
    Answer(u16, &'static str),
    Io,
}

fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_nodelay(true);
    let Ok(reading) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reading);
    let mut client = stream;
    loop {
        let request = match read_request(&mut reader) {
            Ok(request) => request,
            Err(BadRequest::Answer(status, message)) => {
                let _ = answer(&mut client, status, message);
                return;
            }
            Err(BadRequest::Closed | BadRequest::Io) => return,
        };
        match handle(&request, &mut client, shared) {
            Ok(true) => {}
            Ok(false) | Err(_) => return,
        }
    }
}

fn read_line(reader: &mut impl BufRead) -> Result<Option<String>, BadRequest> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .map_err(|_| BadRequest::Io)?;
    if read == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") {
        return Err(BadRequest::Answer(431, "Request line or header too long"));
    }
    let text = String::from_utf8(line).map_err(|_| BadRequest::Answer(400, "Not UTF-8"))?;
    Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
}

fn read_request(reader: &mut impl BufRead) -> Result<Request, BadRequest> {
    let mut line = String::new();
    // Clients may send empty lines between requests
    while line.is_empty() {
        line = read_line(reader)?.ok_or(BadRequest::Closed)?;
    }
    let mut parts = line.split_ascii_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BadRequest::Answer(400, "Malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(BadRequest::Answer(505, "Only HTTP/1.x is supported"));
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or(BadRequest::Io)?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(BadRequest::Answer(431, "Too many headers"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(BadRequest::Answer(400, "Malformed header"));
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let tokens = |name: &str| {
        headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .flat_map(|(_, value)| value.split(','))
            .map(|token| token.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let connection = [tokens("connection"), tokens("proxy-connection")].concat();
    let keep_alive = version == "HTTP/1.1" && !connection.iter().any(|token| token == "close");
    if headers
        .iter()
        .any(|(key, _)| key.eq_ignore_ascii_case("transfer-encoding"))
    {
        return Err(BadRequest::Answer(
            501,
            "Request bodies must have a Content-Length",
        ));
    }
    let length = headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.parse::<u64>());
    let body = match length {
        None => None,
        Some(Err(_)) => return Err(BadRequest::Answer(400, "Malformed Content-Length")),
        Some(Ok(length)) if length > MAX_BODY => {
            return Err(BadRequest::Answer(413, "Request body too large"))
        }
        Some(Ok(length)) => {
            let mut body = Vec::new();
            reader
                .by_ref()
                .take(length)
                .read_to_end(&mut body)
                .map_err(|_| BadRequest::Io)?;
            if body.len() as u64 != length {
                return Err(BadRequest::Io);
            }
            Some(body)
        }
    };
    Ok(Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body,
        keep_alive,
    })
}

/// A short plain-text answer from the proxy itself, closing the connection
fn answer(client: &mut TcpStream, status: u16, message: &str) -> io::Result<()> {
    let body = format!("imagesmith build proxy: {message}\n");
    write!(
        client,
        "HTTP/1.1 {status} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )?;
    client.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Headers that belong to one connection, not to the message (RFC 9110 §7.6.1), and the
/// ones the proxy sets itself
fn hop_by_hop(name: &str, connection: &[String]) -> bool {
    const NAMES: &[&str] = &[
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
    ];
    let name = name.to_ascii_lowercase();
    NAMES.contains(&name.as_str()) || connection.contains(&name)
}

fn connection_tokens<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    values
        .flat_map(|value| value.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

/// Answers one request; returns whether the connection can carry another
fn handle(request: &Request, client: &mut TcpStream, shared: &Shared) -> io::Result<bool> {
    if request.method == "CONNECT" {
        answer(
            client,
            501,
            "CONNECT is not supported (only plain-HTTP requests are proxied)",
        )?;
        return Ok(false);
    }
    let Some(target) = Target::parse(&request.target) else {
        answer(client, 400, "expected an absolute `http://` URL")?;
        return Ok(false);
    };
    let rule = rule(&request.method, &request.target, &request.headers);
    if let Some(path) = shared.entry(&rule) {
        if let Ok(file) = std::fs::File::open(&path) {
            return hit(request, client, shared, file);
        }
    }
    forward(request, &target, &rule, client, shared)
}

fn hit(
    request: &Request,
    client: &mut TcpStream,
    shared: &Shared,
    mut file: std::fs::File,
) -> io::Result<bool> {
    let length = file.metadata()?.len();
    write!(
        client,
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {length}\r\nx-cache: HIT\r\n{}\r\n",
        if request.keep_alive { "" } else { "connection: close\r\n" }
    )?;
    let sent = io::copy(&mut file, client)?;
    client.flush()?;
    shared.counters.hits.fetch_add(1, Ordering::Relaxed);
    shared.counters.hit_bytes.fetch_add(sent, Ordering::Relaxed);
    shared.log("HIT", &request.method, 200, sent, &request.target);
    Ok(request.keep_alive && sent == length)
}

/// Hashes a body as it passes, for the rule that needs it
enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
    None,
}

impl Hasher {
    fn new(rule: &Rule) -> Self {
        match rule {
            Rule::ByHash {
                algorithm: Algorithm::Sha256,
                ..
            } => Hasher::Sha256(Sha256::new()),
            Rule::ByHash {
                algorithm: Algorithm::Sha512,
                ..
            } => Hasher::Sha512(Sha512::new()),
            _ => Hasher::None,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(hasher) => hasher.update(bytes),
            Hasher::Sha512(hasher) => hasher.update(bytes),
            Hasher::None => {}
        }
    }

    fn hex(self) -> Option<String> {
        match self {
            Hasher::Sha256(hasher) => Some(hex::encode(hasher.finalize())),
            Hasher::Sha512(hasher) => Some(hex::encode(hasher.finalize())),
            Hasher::None => None,
        }
    }
}

fn forward(
    request: &Request,
    target: &Target<'_>,
    rule: &Rule,
    client: &mut TcpStream,
    shared: &Shared,
) -> io::Result<bool> {
    let connection = connection_tokens(
        request
            .headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case("connection"))
            .map(|(_, value)| value.as_str()),
    );
    let mut call = shared
        .upstream
        .agent(&target.host)
        .request(&request.method, &request.target);
    for (name, value) in &request.headers {
        // The agent writes `Host` from the URL, as the target names it
        if !hop_by_hop(name, &connection) && !name.eq_ignore_ascii_case("host") {
            call = call.set(name, value);
        }
    }
    let result = match &request.body {
        Some(body) => call.send_bytes(body),
        None => call.call(),
    };
    let response = match result {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(ureq::Error::Transport(error)) => {
            shared.log("ERROR", &request.method, 502, 0, &request.target);
            answer(client, 502, &format!("upstream request failed: {error}"))?;
            return Ok(false);
        }
    };
    let status = response.status();
    let bodiless = request.method == "HEAD" || status < 200 || status == 204 || status == 304;
    let length = response
        .header("content-length")
        .and_then(|value| value.trim().parse::<u64>().ok());
    let encoded = response
        .header("content-encoding")
        .is_some_and(|value| !value.trim().eq_ignore_ascii_case("identity"));
    let keep_alive = request.keep_alive && (bodiless || length.is_some());

    let mut head = format!("HTTP/1.1 {status} {}\r\n", response.status_text());
    let connection = connection_tokens(response.all("connection").into_iter());
    let names = response.headers_names();
    let mut seen = std::collections::HashSet::new();
    for name in names {
        if !seen.insert(name.clone()) || hop_by_hop(&name, &connection) {
            continue;
        }
        for value in response.all(&name) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    // A HEAD answer tells the length of the body it does not carry
    if let Some(length) = length.filter(|_| !bodiless || request.method == "HEAD") {
        head.push_str(&format!("content-length: {length}\r\n"));
    }
    if !keep_alive {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    client.write_all(head.as_bytes())?;
    shared.counters.forwarded.fetch_add(1, Ordering::Relaxed);
    if bodiless {
        client.flush()?;
        shared.log("PASS", &request.method, status, 0, &request.target);
        return Ok(keep_alive);
    }

    let entry = shared.entry(rule);
    let storable = status == 200 && !encoded && entry.is_some();
    let mut temp = if storable {
        tempfile::Builder::new()
            .prefix(".")
            .tempfile_in(shared.dir.join("tmp"))
            .ok()
    } else {
        None
    };
    let mut hasher = Hasher::new(rule);
    let mut body = response.into_reader();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut received: u64 = 0;
    loop {
        let read = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            // The origin stopped short: the client sees the connection close early
            Err(error) => {
                shared.log("SHORT", &request.method, status, received, &request.target);
                return Err(error);
            }
        };
        let chunk = &buffer[..read];
        client.write_all(chunk)?;
        if let Some(file) = &mut temp {
            if file.write_all(chunk).is_err() {
                temp = None;
            }
        }
        hasher.update(chunk);
        received += read as u64;
        shared
            .counters
            .forwarded_bytes
            .fetch_add(read as u64, Ordering::Relaxed);
    }
    client.flush()?;
    let complete = length.is_none_or(|length| length == received);
    let outcome = match (temp, &entry) {
        (Some(temp), Some(entry)) if complete => {
            let verified = match rule {
                Rule::ByHash { hex, .. } => hasher.hex().as_deref() == Some(hex.as_str()),
                // Only a body whose end was announced is known to be whole
                Rule::Pool { .. } => length.is_some(),
                Rule::Pass => false,
            };
            if !verified {
                "MISS-REJECTED"
            } else if temp.as_file().sync_data().is_ok() && temp.persist(entry).is_ok() {
                shared.counters.stored.fetch_add(1, Ordering::Relaxed);
                "MISS-STORED"
            } else {
                "MISS"
            }
        }
        _ if entry.is_some() => "MISS",
        _ => "PASS",
    };
    shared.log(outcome, &request.method, status, received, &request.target);
    Ok(keep_alive && complete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn no_headers() -> Vec<(String, String)> {
        Vec::new()
    }

    const SHA256_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn by_hash_urls_are_named_by_their_content() {
        let url = format!(
            "http://deb.debian.org/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/{SHA256_HEX}"
        );
        assert_eq!(
            rule("GET", &url, &no_headers()),
            Rule::ByHash {
                algorithm: Algorithm::Sha256,
                hex: SHA256_HEX.into()
            }
        );
        // Same content on another mirror: the same entry
        let other = url.replace("deb.debian.org/debian", "mirror.example:8080/debian");
        assert_eq!(
            rule("GET", &other, &no_headers()),
            rule("GET", &url, &no_headers())
        );
        let sha512 = format!("http://h/d/by-hash/SHA512/{}", "ab".repeat(64));
        assert!(matches!(
            rule("GET", &sha512, &no_headers()),
            Rule::ByHash {
                algorithm: Algorithm::Sha512,
                ..
            }
        ));
    }

    #[test]
    fn pool_packages_are_cached_by_url() {
        let url =
            "http://deb.debian.org/debian/pool/main/c/chrony/chrony_4.3-2%2bdeb12u1_amd64.deb";
        let Rule::Pool { key } = rule("GET", url, &no_headers()) else {
            panic!("not cacheable");
        };
        let same =
            "http://DEB.debian.org:80/debian/pool/main/c/chrony/chrony_4.3-2%2bdeb12u1_amd64.deb";
        assert_eq!(rule("GET", same, &no_headers()), Rule::Pool { key });
        assert!(matches!(
            rule(
                "GET",
                "http://h/debian/pool/main/d/d-i/x.udeb",
                &no_headers()
            ),
            Rule::Pool { .. }
        ));
        let elsewhere = url.replace("deb.debian.org", "other.example");
        assert_ne!(
            rule("GET", &elsewhere, &no_headers()),
            rule("GET", url, &no_headers())
        );
    }

    #[test]
    fn everything_else_is_forwarded() {
        let pass = |method: &str, url: &str, headers: &[(&str, &str)]| {
            let headers: Vec<(String, String)> = headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect();
            rule(method, url, &headers) == Rule::Pass
        };
        let deb = "http://h/debian/pool/main/x/x_1_amd64.deb";
        let by_hash = format!("http://h/debian/dists/bookworm/by-hash/SHA256/{SHA256_HEX}");
        assert!(pass("GET", "http://h/debian/dists/bookworm/InRelease", &[]));
        assert!(pass(
            "GET",
            "http://h/debian/dists/bookworm/main/binary-amd64/Packages.xz",
            &[]
        ));
        assert!(pass("GET", "http://h/debian/x_1_amd64.deb", &[]));
        assert!(pass("GET", "http://h/debian/pool/main/x/x.dsc", &[]));
        assert!(pass("HEAD", deb, &[]));
        assert!(pass("POST", deb, &[]));
        assert!(pass("GET", &format!("{deb}?version=2"), &[]));
        assert!(pass("GET", deb, &[("Range", "bytes=10-")]));
        assert!(pass("GET", deb, &[("If-Modified-Since", "x")]));
        assert!(pass("GET", deb, &[("Cache-Control", "no-cache")]));
        assert!(pass("GET", "http://h/debian/pool/../etc/x.deb", &[]));
        assert!(pass("GET", "http://h/debian/pool/%2E%2e/x.deb", &[]));
        assert!(pass(
            "GET",
            "https://h/debian/pool/main/x/x_1_amd64.deb",
            &[]
        ));
        assert!(pass("GET", "/debian/pool/main/x/x_1_amd64.deb", &[]));
        assert!(pass(
            "GET",
            "http://user@h/debian/pool/main/x/x_1_amd64.deb",
            &[]
        ));
        assert!(pass("GET", &by_hash.replace("SHA256", "MD5Sum"), &[]));
        assert!(pass("GET", &by_hash.replace(SHA256_HEX, "abc"), &[]));
        assert!(pass("GET", &format!("{by_hash}/more"), &[]));
        assert!(pass(
            "GET",
            &by_hash.replace(SHA256_HEX, &"g".repeat(64)),
            &[]
        ));
        // A by-hash file's content is named by its URL: freshness does not matter
        assert!(!pass(
            "GET",
            &by_hash,
            &[("Cache-Control", "max-age=0, no-cache")]
        ));
    }

    /// A fake origin: fixed answers by path, counting the requests for each
    struct Origin {
        address: SocketAddr,
        hits: Arc<Mutex<HashMap<String, usize>>>,
    }

    impl Origin {
        fn start(routes: Vec<(String, Vec<u8>)>) -> Origin {
            let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
            let address = listener.local_addr().unwrap();
            let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
            let routes: HashMap<String, Vec<u8>> = routes.into_iter().collect();
            {
                let hits = Arc::clone(&hits);
                std::thread::spawn(move || {
                    for stream in listener.incoming() {
                        let Ok(mut stream) = stream else { continue };
                        let mut reader = BufReader::new(stream.try_clone().unwrap());
                        // One request per connection
                        let Ok(Some(line)) = read_line(&mut reader) else {
                            continue;
                        };
                        while let Ok(Some(line)) = read_line(&mut reader) {
                            if line.is_empty() {
                                break;
                            }
                        }
                        let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                        *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                        let _ = stream.write_all(
                            &routes.get(&path).cloned().unwrap_or_else(|| {
                                b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found"
                                    .to_vec()
                            }),
                        );
                    }
                });
            }
            Origin { address, hits }
        }

        fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.address)
        }

        fn hits(&self, path: &str) -> usize {
            self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
        }
    }

    fn ok(body: &[u8]) -> Vec<u8> {
        let mut response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\nx-origin: yes\r\n\r\n",
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(body);
        response
    }

    struct Answer {
        status: u16,
        headers: String,
        body: Vec<u8>,
    }

    /// One request through the proxy on a new connection
    fn get(proxy: &HttpProxy, url: &str) -> Answer {
        let mut stream = TcpStream::connect(proxy.address()).unwrap();
        write!(
            stream,
            "GET {url} HTTP/1.1\r\nHost: ignored\r\nUser-Agent: test\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut bytes = Vec::new();
        // A connection cut short is an answer too
        let _ = stream.read_to_end(&mut bytes);
        parse(&bytes)
    }

    fn parse(bytes: &[u8]) -> Answer {
        let end = bytes
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .expect("a complete head");
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Answer {
            status,
            headers: head.to_ascii_lowercase(),
            body: bytes[end + 4..].to_vec(),
        }
    }

    fn entries(dir: &Path) -> usize {
        ["sha256", "sha512", "pool", "tmp"]
            .iter()
            .map(|sub| std::fs::read_dir(dir.join(sub)).unwrap().count())
            .sum()
    }

    const DEB: &str = "/debian/pool/main/x/x_1.0_amd64.deb";
    const IN_RELEASE: &str = "/debian/dists/bookworm/InRelease";
    const MISSING: &str = "/debian/pool/main/m/missing_1_amd64.deb";
    const SHORT: &str = "/debian/pool/main/s/short_1_amd64.deb";
    const MOVED: &str = "/debian/pool/main/r/moved_1_amd64.deb";

    fn by_hash_path(hex: &str) -> String {
        format!("/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/{hex}")
    }

    fn origin() -> (Origin, String, String) {
        let index = b"Package: x\nVersion: 1.0\n".to_vec();
        let good = by_hash_path(&hex::encode(Sha256::digest(&index)));
        let bad = by_hash_path(&hex::encode(Sha256::digest(b"something else")));
        let mut short =
            b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\nconnection: close\r\n\r\n".to_vec();
        short.extend_from_slice(&[7u8; 100]);
        let origin = Origin::start(vec![
            (DEB.into(), ok(b"!<arch>\ndebian-binary fake package")),
            (good.clone(), ok(&index)),
            (bad.clone(), ok(b"tampered index")),
            (IN_RELEASE.into(), ok(b"-----BEGIN PGP SIGNED MESSAGE-----")),
            (SHORT.into(), short),
            (
                MOVED.into(),
                format!(
                    "HTTP/1.1 302 Found\r\nlocation: http://elsewhere.example{DEB}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
                .into_bytes(),
            ),
        ]);
        (origin, good, bad)
    }

    fn start(dir: &Path) -> HttpProxy {
        HttpProxy::start(dir, Upstream::direct(), Some(&dir.join("access.log"))).unwrap()
    }

    #[test]
    fn a_pool_package_is_fetched_once_then_served_from_the_cache() {
        let temp = tempfile::tempdir().unwrap();
        let (origin, _, _) = origin();
        let proxy = start(temp.path());
        let first = get(&proxy, &origin.url(DEB));
        assert_eq!(first.status, 200);
        assert_eq!(first.body, b"!<arch>\ndebian-binary fake package");
        assert!(first.headers.contains("x-origin: yes"), "{}", first.headers);
        assert_eq!(origin.hits(DEB), 1);
        let second = get(&proxy, &origin.url(DEB));
        assert_eq!(second.status, 200);
        assert_eq!(second.body, first.body);
        assert!(second.headers.contains("x-cache: hit"));
        assert_eq!(origin.hits(DEB), 1, "the second request went upstream");
        let stats = proxy.stats();
        assert_eq!((stats.hits, stats.forwarded, stats.stored), (1, 1, 1));
        assert_eq!(stats.hit_bytes, first.body.len() as u64);
        // The cache outlives the proxy: the next build's proxy serves it too
        drop(proxy);
        let proxy = start(temp.path());
        assert_eq!(get(&proxy, &origin.url(DEB)).body, first.body);
        assert_eq!(origin.hits(DEB), 1);
        let log = std::fs::read_to_string(temp.path().join("access.log")).unwrap();
        assert!(log.starts_with("HIT GET 200 "), "{log}");
    }

    #[test]
    fn by_hash_content_is_stored_only_when_its_hash_matches() {
        let temp = tempfile::tempdir().unwrap();
        let (origin, good, bad) = origin();
        let proxy = start(temp.path());
        for _ in 0..2 {
            let answer = get(&proxy, &origin.url(&good));
            assert_eq!(answer.body, b"Package: x\nVersion: 1.0\n");
        }
        assert_eq!(origin.hits(&good), 1);
        // A wrong body is passed on (apt rejects it) but never stored
        for _ in 0..2 {
            let answer = get(&proxy, &origin.url(&bad));
            assert_eq!(answer.status, 200);
            assert_eq!(answer.body, b"tampered index");
        }
        assert_eq!(origin.hits(&bad), 2);
        assert_eq!(
            std::fs::read_dir(temp.path().join("sha256"))
                .unwrap()
                .count(),
            1
        );
        assert_eq!(
            std::fs::read_dir(temp.path().join("tmp")).unwrap().count(),
            0
        );
        let log = std::fs::read_to_string(temp.path().join("access.log")).unwrap();
        assert!(log.contains("MISS-REJECTED GET 200"), "{log}");
    }

    #[test]
    fn other_requests_always_go_upstream_and_errors_pass_through() {
        let temp = tempfile::tempdir().unwrap();
        let (origin, _, _) = origin();
        let proxy = start(temp.path());
        for _ in 0..3 {
            let answer = get(&proxy, &origin.url(IN_RELEASE));
            assert_eq!(answer.status, 200);
            assert_eq!(answer.body, b"-----BEGIN PGP SIGNED MESSAGE-----");
        }
        assert_eq!(origin.hits(IN_RELEASE), 3);
        for _ in 0..2 {
            let answer = get(&proxy, &origin.url(MISSING));
            assert_eq!(answer.status, 404);
            assert_eq!(answer.body, b"not found");
        }
        assert_eq!(origin.hits(MISSING), 2);
        // Redirects go back to the client unfollowed
        let moved = get(&proxy, &origin.url(MOVED));
        assert_eq!(moved.status, 302);
        assert!(moved
            .headers
            .contains(&format!("location: http://elsewhere.example{DEB}")));
        assert_eq!(origin.hits(DEB), 0);
        assert_eq!(entries(temp.path()), 0);
        // An origin that cannot be reached is the proxy's 502
        let closed = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let answer = get(&proxy, &format!("http://127.0.0.1:{port}{DEB}"));
        assert_eq!(answer.status, 502);
    }

    #[test]
    fn a_body_cut_short_leaves_no_entry() {
        let temp = tempfile::tempdir().unwrap();
        let (origin, _, _) = origin();
        let proxy = start(temp.path());
        for _ in 0..2 {
            let answer = get(&proxy, &origin.url(SHORT));
            assert!(answer.headers.contains("content-length: 1000"));
            assert_eq!(answer.body.len(), 100, "the client sees the body end early");
        }
        assert_eq!(origin.hits(SHORT), 2);
        assert_eq!(entries(temp.path()), 0);
    }

    #[test]
    fn a_write_left_by_a_killed_build_is_removed_and_not_served() {
        let temp = tempfile::tempdir().unwrap();
        let (origin, _, _) = origin();
        // What a build killed while writing leaves: a temporary file, no entry
        std::fs::create_dir_all(temp.path().join("tmp")).unwrap();
        std::fs::write(temp.path().join("tmp/.half"), b"!<arch>\ndeb").unwrap();
        let proxy = start(temp.path());
        assert_eq!(entries(temp.path()), 0);
        let answer = get(&proxy, &origin.url(DEB));
        assert_eq!(answer.body, b"!<arch>\ndebian-binary fake package");
        assert_eq!(origin.hits(DEB), 1);
    }

    #[test]
    fn one_connection_carries_several_requests() {
        let temp = tempfile::tempdir().unwrap();
        let (origin, good, _) = origin();
        let proxy = start(temp.path());
        get(&proxy, &origin.url(DEB));
        // apt pipelines: both requests are sent before either answer is read
        let mut stream = TcpStream::connect(proxy.address()).unwrap();
        write!(
            stream,
            "GET {} HTTP/1.1\r\nHost: x\r\n\r\nGET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            origin.url(DEB),
            origin.url(&good)
        )
        .unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
        assert!(text.contains("debian-binary fake package"));
        assert!(text.ends_with("Package: x\nVersion: 1.0\n"));
    }

    #[test]
    fn requests_the_proxy_does_not_serve_are_refused() {
        let temp = tempfile::tempdir().unwrap();
        let proxy = start(temp.path());
        assert_eq!(get(&proxy, "/debian/pool/x.deb").status, 400);
        let mut stream = TcpStream::connect(proxy.address()).unwrap();
        write!(stream, "CONNECT deb.debian.org:443 HTTP/1.1\r\n\r\n").unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).unwrap();
        assert_eq!(parse(&bytes).status, 501);
    }

    #[test]
    fn the_step_environment_names_the_proxy_and_spares_loopback() {
        let temp = tempfile::tempdir().unwrap();
        let proxy = start(temp.path());
        let env: HashMap<String, String> = proxy.env().into_iter().collect();
        let url = format!("http://127.0.0.1:{}", proxy.address().port());
        assert_eq!(env["http_proxy"], url);
        assert_eq!(env["HTTP_PROXY"], url);
        assert_eq!(env["no_proxy"], "localhost,127.0.0.1,::1");
        assert!(!env.contains_key("https_proxy"));
    }

    #[test]
    fn the_host_proxy_is_used_except_for_no_proxy_hosts() {
        let upstream = Upstream {
            direct: agent(None),
            proxied: Some((
                agent(Some(ureq::Proxy::new("http://proxy.example:3128").unwrap())),
                vec!["internal.example".into(), "10.0.0.1".into()],
            )),
        };
        let direct = |host: &str| std::ptr::eq(upstream.agent(host), &upstream.direct);
        assert!(!direct("deb.debian.org"));
        assert!(direct("internal.example"));
        assert!(direct("mirror.internal.example"));
        assert!(!direct("notinternal.example"));
        assert!(direct("10.0.0.1"));
        assert_eq!(Target::parse("http://[::1]:8080/x").unwrap().host, "::1");
        assert_eq!(Target::parse("http://Mirror.Example:80").unwrap().path, "/");
    }

    #[test]
    fn stats_read_as_one_line() {
        let stats = Stats {
            hits: 5,
            hit_bytes: 16 * 1_048_576,
            forwarded: 3,
            forwarded_bytes: 1_048_576 / 2,
            stored: 1,
        };
        assert_eq!(
            stats.to_string(),
            "http cache: 5 hits, 16.0 MiB served from cache; 3 forwarded, 0.5 MiB from upstream; 1 stored"
        );
        assert_eq!(stats.since(&stats), Stats::default());
    }
}
