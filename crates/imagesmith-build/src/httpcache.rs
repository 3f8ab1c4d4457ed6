//! A caching HTTP proxy for build steps: immutable downloads (apt's by-hash indexes and
//! pool packages) are kept in the build cache and served from it
//!
//! What a BuildKit cache mount or apt-cacher-ng gives, built in. The builder starts an
//! [`HttpProxy`] for the duration of a build; each build or validate step with the network
//! runs in a network namespace of its own whose only way out is a socket listening on the
//! step's `127.0.0.1` ([`STEP_PROXY_PORT`]), made inside that namespace and served here
//! ([`HttpProxy::sandbox_server`]), with `http_proxy` and `https_proxy` pointing at it
//! ([`step_env`]); the test phase has no network and gets nothing. Nothing of it reaches an
//! image: the variables are not part of any layer's cache key, and apt's lists and
//! downloaded packages are removed from every layer ([`crate::normalize::REMOVED`]).
//!
//! The proxy runs on the host, so it guards what steps reach through it ([`ProxyOptions`]):
//! origins whose address is the host's own (loopback, `0.0.0.0`, any address of its
//! interfaces, read when the proxy starts) or link-local (the cloud
//! metadata services at `169.254.169.254` and `fd00:ec2::254`) are refused with a 403 for
//! plain-HTTP requests and HTTPS `CONNECT` tunnels alike (checked on every address the name
//! resolves to, and again on the address connected to); private ranges stay reachable (an
//! Artifactory mirror usually is one; the project's egress allow-list narrows them). A
//! `CONNECT` tunnel is a plain copy both ways, never cached, to port 443 only unless an
//! allow-list entry names another port, and closed after [`TUNNEL_IDLE`] without traffic.
//! With an allow-list, every other host is refused with a 403 naming it. Every request, and
//! every refusal, is one line of the log.
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
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use imagesmith_model::HostPattern;
use sha2::{Digest, Sha256, Sha512};

/// Hosts the steps reach directly, never through the proxy
pub const NO_PROXY: &str = "localhost,127.0.0.1,::1";

/// The port of the proxy's socket on each step's own loopback (any port would do: each step
/// has a network namespace of its own)
pub const STEP_PROXY_PORT: u16 = 3128;

/// How long a `CONNECT` tunnel may carry nothing either way before it is closed
pub const TUNNEL_IDLE: Duration = Duration::from_secs(300);

/// The port `CONNECT` may reach without an allow-list entry naming another
const TLS_PORT: u16 = 443;

/// The environment that sends a step's HTTP and HTTPS requests to the proxy's socket on its
/// own loopback (`http_proxy`, `https_proxy` and their upper-case forms), and keeps
/// loopback direct (`no_proxy`, `NO_PROXY`)
pub fn step_env(port: u16) -> Vec<(String, String)> {
    let url = format!("http://127.0.0.1:{port}");
    let mut env: Vec<(String, String)> = ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"]
        .into_iter()
        .map(|name| (name.to_owned(), url.clone()))
        .collect();
    env.push(("no_proxy".into(), NO_PROXY.into()));
    env.push(("NO_PROXY".into(), NO_PROXY.into()));
    env
}

/// What the proxy keeps and whom it lets steps reach
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Whether answers are served from and kept in the cache; without (`--no-http-cache`)
    /// the proxy only forwards, storing nothing
    pub store: bool,
    /// The hosts steps may reach (the project's `network.egress`, the mirrors' hosts); any
    /// public host when `None`
    pub egress: Option<Vec<HostPattern>>,
    /// Whether origins on loopback may be reached: for tests, whose origins are local
    /// servers; the builder never sets it. Link-local addresses are refused regardless.
    pub allow_loopback: bool,
    /// How long a tunnel may be idle ([`TUNNEL_IDLE`])
    pub tunnel_idle: Duration,
    /// Origins (`host:port`) the operator named, reached even on loopback or the host's own
    /// addresses (a Debian mirror on the build host: `IMAGESMITH_DEBIAN_MIRROR`, the
    /// project's `mirrors`, `network.egress` entries with a port); never link-local ones
    pub trusted: Vec<String>,
}

impl Default for ProxyOptions {
    /// Caching, any public host, no loopback
    fn default() -> Self {
        ProxyOptions {
            store: true,
            egress: None,
            allow_loopback: false,
            tunnel_idle: TUNNEL_IDLE,
            trusted: Vec::new(),
        }
    }
}

/// Why an address is none of a step's business, if it is not: the build host's own
/// addresses and link-local ones (the metadata services)
pub fn forbidden_address(address: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    };
    match address {
        IpAddr::V4(v4) if v4.is_loopback() && !allow_loopback => {
            Some("a loopback address of the build host")
        }
        IpAddr::V4(v4) if v4.is_unspecified() => Some("the build host itself (`0.0.0.0`)"),
        IpAddr::V4(v4) if v4.is_link_local() => {
            Some("link-local (the cloud metadata service lives there)")
        }
        IpAddr::V4(v4) if v4.is_broadcast() || v4.is_multicast() => {
            Some("a broadcast or multicast address")
        }
        IpAddr::V6(v6) if v6.is_loopback() && !allow_loopback => {
            Some("a loopback address of the build host")
        }
        IpAddr::V6(v6) if v6.is_unspecified() => Some("the build host itself (`::`)"),
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => Some("link-local"),
        IpAddr::V6(v6) if v6.segments() == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] => {
            Some("the EC2 metadata service")
        }
        IpAddr::V6(v6) if v6.is_multicast() => Some("a multicast address"),
        _ => None,
    }
}

/// Which origin addresses the proxy refuses: [`forbidden_address`], and the addresses of
/// the build host's own interfaces (services listening on `0.0.0.0` answer on them too)
#[derive(Debug, Clone)]
struct AddressGuard {
    allow_loopback: bool,
    host_addresses: Vec<IpAddr>,
    /// `host:port` (lowercase) allowed on the host's own addresses
    trusted: Vec<String>,
}

impl AddressGuard {
    /// The interfaces' addresses are read once, when the proxy starts
    fn new(allow_loopback: bool, trusted: &[String]) -> Self {
        let host_addresses = nix::ifaddrs::getifaddrs()
            .map(|interfaces| {
                interfaces
                    .filter_map(|interface| interface.address)
                    .filter_map(|address| {
                        address
                            .as_sockaddr_in()
                            .map(|v4| IpAddr::V4(v4.ip()))
                            .or_else(|| address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
                    })
                    .collect()
            })
            .unwrap_or_default();
        AddressGuard {
            allow_loopback,
            host_addresses,
            trusted: trusted
                .iter()
                .map(|netloc| netloc.to_ascii_lowercase())
                .collect(),
        }
    }

    fn why(&self, address: IpAddr) -> Option<&'static str> {
        if let Some(why) = forbidden_address(address, self.allow_loopback) {
            return Some(why);
        }
        let own = self.host_addresses.contains(&address);
        (own && !(self.allow_loopback && address.is_loopback()))
            .then_some("an address of the build host's own interfaces")
    }

    /// `netloc` (`host:port`) resolved, or refused when any address is forbidden
    fn resolve(&self, netloc: &str) -> io::Result<Vec<SocketAddr>> {
        let addresses: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
        let trusted = self.trusted.contains(&netloc.to_ascii_lowercase());
        for address in &addresses {
            let why = if trusted {
                forbidden_address(address.ip(), true)
            } else {
                self.why(address.ip())
            };
            if let Some(why) = why {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("`{netloc}` resolves to `{}`, {why}", address.ip()),
                ));
            }
        }
        Ok(addresses)
    }
}

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
    /// The host's proxy (`host:port`) that `CONNECT` tunnels go through, when it is a plain
    /// `http://` one
    tunnel_via: Option<String>,
}

impl Upstream {
    /// Straight to the origin
    pub fn direct() -> Self {
        Upstream {
            direct: agent(None),
            proxied: None,
            tunnel_via: None,
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
        // Tunnels go through the host's HTTPS proxy, else its HTTP one
        let tunnel = ["https_proxy", "HTTPS_PROXY"]
            .into_iter()
            .find_map(variable)
            .unwrap_or(value);
        Ok(Upstream {
            direct: agent(None),
            proxied: Some((agent(Some(proxy)), no_proxy)),
            tunnel_via: proxy_authority(&tunnel),
        })
    }

    /// The direct agent resolving names through the guard, so that a name that resolves
    /// differently when connecting still reaches no forbidden address
    fn guarded(mut self, guard: &AddressGuard) -> Self {
        self.direct = agent_with(None, Some(guard.clone()));
        self
    }

    /// Whether requests to `host` go through the host's proxy
    fn proxied(&self, host: &str) -> bool {
        !std::ptr::eq(self.agent(host), &self.direct)
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

/// `host:port` of an `http://` proxy URL (port 80 when none), or `None` for another scheme
fn proxy_authority(url: &str) -> Option<String> {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some(_) => return None,
        None => url,
    };
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    Some(if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    })
}

fn agent(proxy: Option<ureq::Proxy>) -> ureq::Agent {
    agent_with(proxy, None)
}

fn agent_with(proxy: Option<ureq::Proxy>, guard: Option<AddressGuard>) -> ureq::Agent {
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
    if let Some(guard) = guard {
        builder = builder.resolver(move |netloc: &str| guard.resolve(netloc));
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
    options: ProxyOptions,
    guard: AddressGuard,
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

    /// Why steps may not reach `host:port`, by the allow-list; `tunnel` for `CONNECT`
    fn refusal(&self, host: &str, port: u16, tunnel: bool) -> Option<String> {
        let host = host.trim_end_matches('.');
        match &self.options.egress {
            Some(patterns) => {
                let allowed = patterns.iter().any(|pattern| {
                    pattern.matches(host, port)
                        && (!tunnel || port == TLS_PORT || pattern.port == Some(port))
                });
                if allowed {
                    None
                } else if tunnel && patterns.iter().any(|pattern| pattern.matches(host, port)) {
                    Some(format!("`CONNECT` to `{host}` goes to port {TLS_PORT} only, not {port}\nhint: add `{host}:{port}` to `network.egress` in the project file (imagesmith.yaml)"))
                } else {
                    Some(format!("`{host}` is not in the project's egress allow-list\nhint: add it to `network.egress` in the project file (imagesmith.yaml)"))
                }
            }
            None if tunnel && port != TLS_PORT => Some(format!(
                "`CONNECT` goes to port {TLS_PORT} only, not {port} (`{host}`)\nhint: add `{host}:{port}` to `network.egress` in the project file (imagesmith.yaml)"
            )),
            None => None,
        }
    }

    /// The addresses of `host:port`, or why they are refused (`Err((status, message))`)
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, (u16, String)> {
        let netloc = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        self.guard.resolve(&netloc).map_err(|error| {
            if error.kind() == io::ErrorKind::PermissionDenied {
                (
                    403,
                    format!("{error}: steps may not reach the build host's own services or the metadata service"),
                )
            } else {
                (502, format!("cannot resolve `{host}`: {error}"))
            }
        })
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
    pub fn start(
        dir: &Path,
        upstream: Upstream,
        log: Option<&Path>,
        options: ProxyOptions,
    ) -> io::Result<HttpProxy> {
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
        let guard = AddressGuard::new(options.allow_loopback, &options.trusted);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            upstream: upstream.guarded(&guard),
            counters: Counters::default(),
            log,
            options,
            guard,
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
    pub fn for_cache(cache: &crate::Cache, options: ProxyOptions) -> io::Result<HttpProxy> {
        let upstream = Upstream::from_env()
            .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
        HttpProxy::start(
            &cache.dir("http"),
            upstream,
            Some(&cache.dir("logs").join("http-proxy.log")),
            options,
        )
    }

    /// Serves `listener` (another way in, e.g. a socket a step's sandbox made in its own
    /// network namespace) with the same cache, rules and counters, until the returned
    /// [`Serving`] is dropped
    pub fn serve(&self, listener: TcpListener) -> io::Result<Serving> {
        serve_listener(Arc::clone(&self.shared), listener)
    }

    /// What the sandbox hands each step's listener to ([`imagesmith_sandbox::Network::Proxy`])
    pub fn sandbox_server(&self) -> imagesmith_sandbox::ProxyServer {
        let shared = Arc::clone(&self.shared);
        imagesmith_sandbox::ProxyServer::new(move |listener| {
            match serve_listener(Arc::clone(&shared), listener) {
                Ok(serving) => Box::new(serving),
                // Without a thread the listener is closed: the step's requests fail at once
                Err(_) => Box::new(()),
            }
        })
    }

    /// The address it listens on
    pub fn address(&self) -> SocketAddr {
        self.address
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

/// An extra listener being served; dropping it stops accepting and closes the listener
/// (connections already accepted are served to their end)
pub struct Serving {
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl fmt::Debug for Serving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serving").finish_non_exhaustive()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// How often an extra listener's acceptor looks at its stop flag: it cannot be woken by a
/// connection, as the main one is, since its socket lives in another network namespace
const ACCEPT_POLL: Duration = Duration::from_millis(50);

fn serve_listener(shared: Arc<Shared>, listener: TcpListener) -> io::Result<Serving> {
    listener.set_nonblocking(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let acceptor = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name(String::from("http-proxy-step"))
            .spawn(move || {
                use std::os::fd::AsFd;
                while !stop.load(Ordering::SeqCst) {
                    let mut fds = [nix::poll::PollFd::new(
                        listener.as_fd(),
                        nix::poll::PollFlags::POLLIN,
                    )];
                    let timeout = nix::poll::PollTimeout::try_from(ACCEPT_POLL)
                        .unwrap_or(nix::poll::PollTimeout::NONE);
                    if !matches!(nix::poll::poll(&mut fds, timeout), Ok(ready) if ready > 0) {
                        continue;
                    }
                    let Ok((stream, _)) = listener.accept() else {
                        continue;
                    };
                    if stream.set_nonblocking(false).is_err() {
                        continue;
                    }
                    let shared = Arc::clone(&shared);
                    let _ = std::thread::Builder::new()
                        .name(String::from("http-proxy-conn"))
                        .spawn(move || serve(stream, &shared));
                }
            })?
    };
    Ok(Serving {
        stop,
        acceptor: Some(acceptor),
    })
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
                shared.log("BAD", "-", status, 0, message);
                let _ = answer(&mut client, status, message);
                return;
            }
            Err(BadRequest::Closed | BadRequest::Io) => return,
        };
        if request.method == "CONNECT" {
            tunnel(&request, reader, client, shared);
            return;
        }
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
        403 => "Forbidden",
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
    let Some(target) = Target::parse(&request.target) else {
        shared.log("BAD", &request.method, 400, 0, &request.target);
        answer(client, 400, "expected an absolute `http://` URL")?;
        return Ok(false);
    };
    let port = target
        .authority
        .rsplit_once(':')
        .filter(|(_, port)| !port.contains(']'))
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .unwrap_or(80);
    if let Some(message) = shared.refusal(&target.host, port, false) {
        return refuse(request, client, shared, 403, &message);
    }
    // Where the name points, refused with a clear answer; direct requests are checked again
    // by the agent's resolver on the address it connects to (a name may resolve differently)
    // and the host's own proxy, which resolves names itself, gets only checked ones
    match shared.resolve(&target.host, port) {
        Ok(_) => {}
        // A name that does not resolve here may still resolve for the host's proxy
        Err((502, _)) if shared.upstream.proxied(&target.host) => {}
        Err((status, message)) => return refuse(request, client, shared, status, &message),
    }
    let rule = if shared.options.store {
        rule(&request.method, &request.target, &request.headers)
    } else {
        Rule::Pass
    };
    if let Some(path) = shared.entry(&rule) {
        if let Ok(file) = std::fs::File::open(&path) {
            return hit(request, client, shared, file);
        }
    }
    forward(request, &target, &rule, client, shared)
}

/// Answers `status` with `message`, logged as refused; the connection closes
fn refuse(
    request: &Request,
    client: &mut TcpStream,
    shared: &Shared,
    status: u16,
    message: &str,
) -> io::Result<bool> {
    shared.log(
        "REFUSED",
        &request.method,
        status,
        0,
        &format!(
            "{} ({})",
            request.target,
            message.lines().next().unwrap_or_default()
        ),
    );
    answer(client, status, message)?;
    Ok(false)
}

/// `CONNECT host:port`: checked like a request, then a plain copy both ways (TLS, never
/// cached) until either side closes or nothing moves for the idle time
fn tunnel(request: &Request, reader: BufReader<TcpStream>, mut client: TcpStream, shared: &Shared) {
    let Some((host, port)) = connect_target(&request.target) else {
        shared.log("BAD", &request.method, 400, 0, &request.target);
        let _ = answer(&mut client, 400, "expected `CONNECT host:port`");
        return;
    };
    if let Some(message) = shared.refusal(&host, port, true) {
        let _ = refuse(request, &mut client, shared, 403, &message);
        return;
    }
    let proxied = shared.upstream.proxied(&host);
    let addresses = match shared.resolve(&host, port) {
        Ok(addresses) => addresses,
        // A name that does not resolve here may still resolve for the host's proxy
        Err((502, _)) if proxied => Vec::new(),
        Err((status, message)) => {
            let _ = refuse(request, &mut client, shared, status, &message);
            return;
        }
    };
    let connected = if proxied {
        shared
            .upstream
            .tunnel_via
            .as_deref()
            .ok_or_else(|| String::from("the host's proxy is not an `http://` proxy"))
            .and_then(|via| connect_through(via, &request.target))
    } else {
        connect_any(&addresses)
    };
    let upstream = match connected {
        Ok(upstream) => upstream,
        Err(message) => {
            shared.log("ERROR", &request.method, 502, 0, &request.target);
            let _ = answer(
                &mut client,
                502,
                &format!("cannot reach `{}`: {message}", request.target),
            );
            return;
        }
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    // What the client sent after its request, before our answer
    let early = reader.buffer().to_vec();
    let mut upstream_writer = upstream;
    if !early.is_empty() && upstream_writer.write_all(&early).is_err() {
        return;
    }
    let bytes = relay(client, upstream_writer, shared.options.tunnel_idle) + early.len() as u64;
    shared.log("TUNNEL", &request.method, 200, bytes, &request.target);
}

/// `host:port` of a `CONNECT` target (`[v6]:port` too), the host lowercase
fn connect_target(target: &str) -> Option<(String, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|port| *port > 0)?;
    let host = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host)
        .to_ascii_lowercase();
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return None;
    }
    Some((host, port))
}

fn connect_any(addresses: &[SocketAddr]) -> Result<TcpStream, String> {
    let mut last = String::from("no address");
    for address in addresses {
        match TcpStream::connect_timeout(address, Duration::from_secs(30)) {
            Ok(stream) => return Ok(stream),
            Err(error) => last = format!("`{address}`: {error}"),
        }
    }
    Err(last)
}

/// A tunnel to `target` through the host's own proxy at `via`
fn connect_through(via: &str, target: &str) -> Result<TcpStream, String> {
    let addresses: Vec<SocketAddr> = via
        .to_socket_addrs()
        .map_err(|error| format!("the host's proxy `{via}`: {error}"))?
        .collect();
    let mut stream = connect_any(&addresses)?;
    write!(
        stream,
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"
    )
    .map_err(|error| error.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|error| error.to_string())?;
    // Byte by byte, so nothing of the tunnel is read past the answer's head
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_LINE as usize {
            return Err(format!("the host's proxy `{via}` sent an overlong answer"));
        }
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => return Err(format!("the host's proxy `{via}` closed the connection")),
            Err(error) => return Err(format!("the host's proxy `{via}`: {error}")),
        }
    }
    let status = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    if status != "200" {
        return Err(format!("the host's proxy `{via}` answered {status}"));
    }
    stream
        .set_read_timeout(None)
        .map_err(|error| error.to_string())?;
    Ok(stream)
}

/// Copies both ways until one side is done with both directions, or nothing moved for
/// `idle`; returns the bytes copied
fn relay(client: TcpStream, upstream: TcpStream, idle: Duration) -> u64 {
    let started = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let tick = idle.min(Duration::from_secs(5));
    let copy = {
        let last = Arc::clone(&last);
        move |mut from: TcpStream, mut to: TcpStream| -> u64 {
            let _ = from.set_read_timeout(Some(tick));
            let mut buffer = vec![0u8; 64 * 1024];
            let mut copied = 0u64;
            loop {
                match from.read(&mut buffer) {
                    Ok(0) => {
                        // Half-close: the other direction may still carry the answer
                        let _ = to.shutdown(std::net::Shutdown::Write);
                        return copied;
                    }
                    Ok(read) => {
                        if to.write_all(&buffer[..read]).is_err() {
                            break;
                        }
                        copied += read as u64;
                        last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                    }
                    Err(error)
                        if matches!(
                            error.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        let quiet =
                            started.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
                        if quiet >= idle.as_millis() as u64 {
                            break;
                        }
                    }
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            // Idle or broken: both directions end
            let _ = from.shutdown(std::net::Shutdown::Both);
            let _ = to.shutdown(std::net::Shutdown::Both);
            copied
        }
    };
    let (Ok(client_reader), Ok(upstream_reader)) = (client.try_clone(), upstream.try_clone())
    else {
        return 0;
    };
    let outbound = {
        let copy = copy.clone();
        std::thread::Builder::new()
            .name(String::from("http-proxy-tunnel"))
            .spawn(move || copy(client_reader, upstream))
    };
    let inbound = copy(upstream_reader, client);
    let outbound = match outbound {
        Ok(handle) => handle.join().unwrap_or(0),
        Err(_) => 0,
    };
    inbound + outbound
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

    /// A proxy whose origins may be on loopback, as the tests' are
    fn start(dir: &Path) -> HttpProxy {
        start_with(
            dir,
            ProxyOptions {
                allow_loopback: true,
                ..ProxyOptions::default()
            },
        )
    }

    fn start_with(dir: &Path, options: ProxyOptions) -> HttpProxy {
        HttpProxy::start(
            dir,
            Upstream::direct(),
            Some(&dir.join("access.log")),
            options,
        )
        .unwrap()
    }

    fn log_of(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("access.log")).unwrap()
    }

    /// A raw request on a new connection to `address`; everything the proxy sent back
    fn raw(address: SocketAddr, request: &str) -> Answer {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        parse(&bytes)
    }

    /// An origin that echoes whatever it reads, as a TLS server would answer a client
    fn echo_origin() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 4096];
                    while let Ok(read) = stream.read(&mut buffer) {
                        if read == 0 || stream.write_all(&buffer[..read]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        address
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
        let answer = raw(proxy.address(), "CONNECT nonsense HTTP/1.1\r\n\r\n");
        assert_eq!(answer.status, 400);
    }

    /// Issue 8: HTTPS goes through as a plain tunnel (never cached), on a listener served
    /// besides the main one (as each step's is), logged with its bytes
    #[test]
    fn connect_tunnels_both_ways_on_any_served_listener() {
        let temp = tempfile::tempdir().unwrap();
        let origin = echo_origin();
        let target = format!("127.0.0.1:{}", origin.port());
        let proxy = start_with(
            temp.path(),
            ProxyOptions {
                allow_loopback: true,
                egress: Some(vec![HostPattern::parse(&target).unwrap()]),
                ..ProxyOptions::default()
            },
        );
        // Two more ways in, as two running steps have
        let extra: Vec<(SocketAddr, Serving)> = (0..2)
            .map(|_| {
                let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
                let address = listener.local_addr().unwrap();
                (address, proxy.serve(listener).unwrap())
            })
            .collect();
        for address in [proxy.address(), extra[0].0, extra[1].0] {
            let mut stream = TcpStream::connect(address).unwrap();
            // The first bytes of the tunnel come with the request, as eager clients send them
            write!(
                stream,
                "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\nhello"
            )
            .unwrap();
            let mut head = [0u8; 39];
            stream.read_exact(&mut head).unwrap();
            assert_eq!(&head, b"HTTP/1.1 200 Connection established\r\n\r\n");
            let mut echoed = [0u8; 5];
            stream.read_exact(&mut echoed).unwrap();
            assert_eq!(&echoed, b"hello");
            stream.write_all(b" world").unwrap();
            let mut echoed = [0u8; 6];
            stream.read_exact(&mut echoed).unwrap();
            assert_eq!(&echoed, b" world");
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty());
        }
        // The same counters behind every listener; a tunnel is never stored
        drop(extra);
        assert_eq!(entries(temp.path()), 0);
        // The log line is written once the tunnel closed on both sides
        let deadline = Instant::now() + Duration::from_secs(10);
        while log_of(temp.path())
            .matches("TUNNEL CONNECT 200 22 ")
            .count()
            < 3
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = log_of(temp.path());
        assert_eq!(
            log.matches(&format!("TUNNEL CONNECT 200 22 {target}"))
                .count(),
            3,
            "{log}"
        );
    }

    /// Issue 8: a listener served besides the main one answers with the same cache and
    /// counters, and stops when its guard is dropped
    #[test]
    fn extra_listeners_share_the_cache_and_stop_when_dropped() {
        let temp = tempfile::tempdir().unwrap();
        let (origin, _, _) = origin();
        let proxy = start(temp.path());
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let address = listener.local_addr().unwrap();
        let serving = proxy.serve(listener).unwrap();
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            origin.url(DEB)
        );
        assert_eq!(raw(address, &request).status, 200);
        assert_eq!(get(&proxy, &origin.url(DEB)).status, 200);
        let answer = raw(address, &request);
        assert!(answer.headers.contains("x-cache: hit"));
        assert_eq!(origin.hits(DEB), 1);
        let stats = proxy.stats();
        assert_eq!((stats.hits, stats.forwarded), (2, 1));
        drop(serving);
        assert!(TcpStream::connect(address).is_err(), "still listening");
    }

    /// Issue 8: the proxy runs on the host, so nothing reaches the host's own services or
    /// the metadata service through it, whatever the name or the port
    #[test]
    fn loopback_and_metadata_targets_are_refused() {
        let temp = tempfile::tempdir().unwrap();
        let (origin, _, _) = origin();
        let echo = echo_origin();
        let proxy = start_with(temp.path(), ProxyOptions::default());
        for url in [
            origin.url(DEB),
            format!("http://localhost:{}{DEB}", origin.address.port()),
            format!("http://[::1]:{}/", origin.address.port()),
            String::from("http://0.0.0.0/"),
            String::from("http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
            String::from("http://[fd00:ec2::254]/latest/meta-data/"),
        ] {
            let answer = get(&proxy, &url);
            assert_eq!(answer.status, 403, "{url}");
            let body = String::from_utf8_lossy(&answer.body);
            assert!(body.contains("steps may not reach"), "{url}: {body}");
        }
        assert_eq!(origin.hits(DEB), 0);
        // A service listening on all the host's addresses is out of reach on each of them
        let own: Vec<IpAddr> = AddressGuard::new(false, &[])
            .host_addresses
            .into_iter()
            .filter(|address| address.is_ipv4() && !address.is_loopback())
            .collect();
        for address in &own {
            let answer = get(&proxy, &format!("http://{address}:8080/"));
            assert_eq!(answer.status, 403, "{address}");
            assert!(String::from_utf8_lossy(&answer.body).contains("own interfaces"));
        }
        let body =
            String::from_utf8_lossy(&get(&proxy, "http://169.254.169.254/latest/meta-data/").body)
                .into_owned();
        assert!(
            body.contains("`169.254.169.254`") && body.contains("metadata"),
            "{body}"
        );
        for target in [
            String::from("127.0.0.1:443"),
            String::from("[::1]:443"),
            String::from("169.254.169.254:443"),
            String::from("localhost:443"),
        ] {
            let answer = raw(
                proxy.address(),
                &format!("CONNECT {target} HTTP/1.1\r\n\r\n"),
            );
            assert_eq!(answer.status, 403, "{target}");
        }
        // Only port 443 without an allow-list entry naming another
        let answer = raw(
            proxy.address(),
            &format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", echo.port()),
        );
        assert_eq!(answer.status, 403);
        assert!(String::from_utf8_lossy(&answer.body).contains("port 443 only"));
        let log = log_of(temp.path());
        assert!(
            log.contains("REFUSED CONNECT 403 0 169.254.169.254:443 (`169.254.169.254:443` resolves to `169.254.169.254`, link-local"),
            "{log}"
        );
        assert_eq!(log.matches("REFUSED ").count(), 12 + own.len(), "{log}");
    }

    /// Issue 8: with an allow-list, other hosts are refused with a 403 naming the host and
    /// the setting, and logged; allowed ones work as before
    #[test]
    fn the_egress_allow_list_refuses_other_hosts_and_logs_them() {
        let temp = tempfile::tempdir().unwrap();
        let (origin, _, _) = origin();
        let proxy = start_with(
            temp.path(),
            ProxyOptions {
                allow_loopback: true,
                egress: Some(vec![
                    HostPattern::parse("127.0.0.1").unwrap(),
                    HostPattern::parse("*.debian.org").unwrap(),
                ]),
                ..ProxyOptions::default()
            },
        );
        assert_eq!(get(&proxy, &origin.url(DEB)).status, 200);
        let refused = format!("http://localhost:{}{DEB}", origin.address.port());
        let answer = get(&proxy, &refused);
        assert_eq!(answer.status, 403);
        let body = String::from_utf8_lossy(&answer.body);
        assert!(
            body.contains("`localhost` is not in the project's egress allow-list")
                && body.contains("hint: add it to `network.egress`"),
            "{body}"
        );
        // Refused before any name is resolved
        assert_eq!(get(&proxy, "http://evil.example/x").status, 403);
        let answer = raw(proxy.address(), "CONNECT evil.example:443 HTTP/1.1\r\n\r\n");
        assert_eq!(answer.status, 403);
        assert_eq!(origin.hits(DEB), 1);
        let log = log_of(temp.path());
        assert!(
            log.contains(&format!(
                "REFUSED GET 403 0 {refused} (`localhost` is not in the project's egress allow-list)"
            )),
            "{log}"
        );
        assert!(
            log.contains("REFUSED CONNECT 403 0 evil.example:443 (`evil.example` is not"),
            "{log}"
        );
    }

    /// Issue 8: with the cache off the proxy still runs (the only way out), forwarding only
    #[test]
    fn without_the_cache_the_proxy_only_forwards() {
        let temp = tempfile::tempdir().unwrap();
        let (origin, good, _) = origin();
        let proxy = start_with(
            temp.path(),
            ProxyOptions {
                store: false,
                allow_loopback: true,
                ..ProxyOptions::default()
            },
        );
        for _ in 0..2 {
            assert_eq!(get(&proxy, &origin.url(DEB)).status, 200);
            assert_eq!(get(&proxy, &origin.url(&good)).status, 200);
        }
        assert_eq!((origin.hits(DEB), origin.hits(&good)), (2, 2));
        assert_eq!(entries(temp.path()), 0);
        assert_eq!(proxy.stats().hits, 0);
    }

    /// A tunnel goes through the host's own proxy when its environment names one, and a
    /// silent tunnel is closed after the idle time
    #[test]
    fn tunnels_go_through_the_host_proxy_and_close_when_idle() {
        let temp = tempfile::tempdir().unwrap();
        // The host's proxy: answers CONNECT with 200, then echoes; remembers the request
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let host_proxy = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let Ok(Some(line)) = read_line(&mut reader) else {
                        continue;
                    };
                    while let Ok(Some(header)) = read_line(&mut reader) {
                        if header.is_empty() {
                            break;
                        }
                    }
                    seen.lock().unwrap().push(line);
                    stream
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .unwrap();
                    let mut buffer = [0u8; 1024];
                    while let Ok(read) = reader.read(&mut buffer) {
                        if read == 0 || stream.write_all(&buffer[..read]).is_err() {
                            break;
                        }
                    }
                }
            });
        }
        let url = format!("http://{host_proxy}");
        let upstream = Upstream {
            direct: agent(None),
            proxied: Some((agent(Some(ureq::Proxy::new(&url).unwrap())), Vec::new())),
            tunnel_via: proxy_authority(&url),
        };
        let proxy = HttpProxy::start(
            temp.path(),
            upstream,
            Some(&temp.path().join("access.log")),
            ProxyOptions {
                tunnel_idle: Duration::from_millis(300),
                ..ProxyOptions::default()
            },
        )
        .unwrap();
        // A name only the host's proxy knows
        let mut stream = TcpStream::connect(proxy.address()).unwrap();
        write!(
            stream,
            "CONNECT mirror.internal.invalid:443 HTTP/1.1\r\n\r\n"
        )
        .unwrap();
        let mut head = [0u8; 39];
        stream.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 200 Connection established\r\n\r\n");
        stream.write_all(b"ping").unwrap();
        let mut echoed = [0u8; 4];
        stream.read_exact(&mut echoed).unwrap();
        assert_eq!(&echoed, b"ping");
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            ["CONNECT mirror.internal.invalid:443 HTTP/1.1"]
        );
        // Then nothing either way: the proxy closes the tunnel
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        assert!(rest.is_empty());
        // Refused targets never reach the host's proxy
        let answer = raw(
            proxy.address(),
            "CONNECT 169.254.169.254:443 HTTP/1.1\r\n\r\n",
        );
        assert_eq!(answer.status, 403);
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    /// A mirror the operator named on the build host itself (`localhost:3142`) stays
    /// reachable; any other port of the host does not, nor the metadata service
    #[test]
    fn origins_the_operator_named_are_reached_on_the_host() {
        let temp = tempfile::tempdir().unwrap();
        let (origin, _, _) = origin();
        let echo = echo_origin();
        let proxy = start_with(
            temp.path(),
            ProxyOptions {
                trusted: vec![
                    origin.address.to_string(),
                    String::from("169.254.169.254:80"),
                ],
                ..ProxyOptions::default()
            },
        );
        assert_eq!(get(&proxy, &origin.url(DEB)).status, 200);
        assert_eq!(
            get(&proxy, &format!("http://127.0.0.1:{}/", echo.port())).status,
            403
        );
        assert_eq!(get(&proxy, "http://169.254.169.254/latest/").status, 403);
    }

    #[test]
    fn the_step_environment_names_the_proxy_and_spares_loopback() {
        let env: HashMap<String, String> = step_env(3128).into_iter().collect();
        for name in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"] {
            assert_eq!(env[name], "http://127.0.0.1:3128");
        }
        assert_eq!(env["no_proxy"], "localhost,127.0.0.1,::1");
        assert_eq!(env["NO_PROXY"], "localhost,127.0.0.1,::1");
    }

    #[test]
    fn addresses_of_the_host_and_link_local_ones_are_forbidden() {
        let forbidden = |text: &str| forbidden_address(text.parse().unwrap(), false).is_some();
        for address in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "169.254.169.254",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
            "255.255.255.255",
        ] {
            assert!(forbidden(address), "{address}");
        }
        for address in [
            "151.101.2.132",
            "10.1.2.3",
            "192.168.1.10",
            "2a04:4e42::644",
        ] {
            assert!(!forbidden(address), "{address}");
        }
        assert!(forbidden_address("127.0.0.1".parse().unwrap(), true).is_none());
        // The host's own interface addresses, as a step would try to reach a service that
        // listens on all of them
        let guard = AddressGuard {
            allow_loopback: true,
            host_addresses: vec!["10.1.2.3".parse().unwrap(), "127.0.0.1".parse().unwrap()],
            trusted: Vec::new(),
        };
        assert!(guard.why("10.1.2.3".parse().unwrap()).is_some());
        assert!(guard.why("10.1.2.4".parse().unwrap()).is_none());
        assert!(guard.why("127.0.0.1".parse().unwrap()).is_none());
        assert!(AddressGuard::new(false, &[])
            .host_addresses
            .contains(&"127.0.0.1".parse().unwrap()));
        assert!(forbidden_address("169.254.169.254".parse().unwrap(), true).is_some());
        assert_eq!(
            proxy_authority("http://user:pw@proxy.corp:3128/"),
            Some("proxy.corp:3128".into())
        );
        assert_eq!(proxy_authority("proxy.corp"), Some("proxy.corp:80".into()));
        assert_eq!(proxy_authority("socks5://proxy.corp:1080"), None);
    }

    #[test]
    fn the_host_proxy_is_used_except_for_no_proxy_hosts() {
        let upstream = Upstream {
            direct: agent(None),
            proxied: Some((
                agent(Some(ureq::Proxy::new("http://proxy.example:3128").unwrap())),
                vec!["internal.example".into(), "10.0.0.1".into()],
            )),
            tunnel_via: Some("proxy.example:3128".into()),
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
