//! Registry credentials: where they come from, and the `WWW-Authenticate` challenges that ask
//! for them
//!
//! Sources are asked in order and the first with credentials for the registry wins: the
//! caller's own [`CredentialSource`] (ECR, a vault...), then the environment
//! ([`EnvCredentials`]), then the auth files that `skopeo login`, `podman login` and
//! `docker login` write ([`AuthFile::standard`]). Credentials are only sent once the registry
//! asks for them, and never appear in a message or a `Debug` output.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;

/// A user name and password (or token) for a registry
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    /// Credentials from a user name and a password or token
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The user name
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password or token
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The value of an `Authorization: Basic` header
    pub(crate) fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A credential source failed (as opposed to having nothing for the registry)
#[derive(Debug)]
pub struct CredentialError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl CredentialError {
    /// An error with a message (capitalised, values in backticks, no secret in it)
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error with a message and the error that caused it
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CredentialError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// Somewhere credentials for a registry may be found
///
/// One method is required: the credentials for `registry_host` (`host[:port]` as written in
/// the reference, `docker.io` for Docker Hub), `Ok(None)` when the source has none for it.
/// A closure `Fn(&str) -> Result<Option<Credentials>, CredentialError>` is a source too.
pub trait CredentialSource: Send + Sync {
    /// The credentials this source has for `registry_host`, if any
    fn credentials(&self, registry_host: &str) -> Result<Option<Credentials>, CredentialError>;

    /// How the source is named in messages, e.g. in the hint of a refused pull
    fn describe(&self) -> String {
        String::from("the caller's credential source")
    }
}

impl<F> CredentialSource for F
where
    F: Fn(&str) -> Result<Option<Credentials>, CredentialError> + Send + Sync,
{
    fn credentials(&self, registry_host: &str) -> Result<Option<Credentials>, CredentialError> {
        self(registry_host)
    }
}

/// A shared source (e.g. one kept in cloneable build options) is a source
impl<T: CredentialSource + ?Sized> CredentialSource for std::sync::Arc<T> {
    fn credentials(&self, registry_host: &str) -> Result<Option<Credentials>, CredentialError> {
        (**self).credentials(registry_host)
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// The environment variable holding the user name
pub const USERNAME_VAR: &str = "IMAGESMITH_REGISTRY_USERNAME";
/// The environment variable holding the password or token
pub const PASSWORD_VAR: &str = "IMAGESMITH_REGISTRY_PASSWORD";
/// The environment variable that limits the two above to one registry (`host[:port]`)
pub const REGISTRY_VAR: &str = "IMAGESMITH_REGISTRY";

/// Credentials given in the environment: `IMAGESMITH_REGISTRY_USERNAME` and
/// `IMAGESMITH_REGISTRY_PASSWORD`, for the registry `IMAGESMITH_REGISTRY` only when it is set
#[derive(Clone, Default)]
pub struct EnvCredentials {
    username: Option<String>,
    password: Option<String>,
    registry: Option<String>,
}

impl EnvCredentials {
    /// Reads the variables now
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok().filter(|value| !value.is_empty());
        Self {
            username: var(USERNAME_VAR),
            password: var(PASSWORD_VAR),
            registry: var(REGISTRY_VAR),
        }
    }

    /// The same as if the variables had these values
    pub fn new(username: Option<&str>, password: Option<&str>, registry: Option<&str>) -> Self {
        Self {
            username: username.map(str::to_owned),
            password: password.map(str::to_owned),
            registry: registry.map(str::to_owned),
        }
    }
}

impl fmt::Debug for EnvCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvCredentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("registry", &self.registry)
            .finish()
    }
}

impl CredentialSource for EnvCredentials {
    fn credentials(&self, registry_host: &str) -> Result<Option<Credentials>, CredentialError> {
        if self
            .registry
            .as_deref()
            .is_some_and(|registry| !same_registry(registry, registry_host))
        {
            return Ok(None);
        }
        match (&self.username, &self.password) {
            (Some(username), Some(password)) => Ok(Some(Credentials::new(username, password))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(CredentialError::new(format!(
                "`{USERNAME_VAR}` is set but `{PASSWORD_VAR}` is not"
            ))),
            (None, Some(_)) => Err(CredentialError::new(format!(
                "`{PASSWORD_VAR}` is set but `{USERNAME_VAR}` is not"
            ))),
        }
    }

    fn describe(&self) -> String {
        format!("`{USERNAME_VAR}`/`{PASSWORD_VAR}`")
    }
}

/// An auth file as written by `skopeo login`, `podman login` or `docker login`:
/// `{"auths": {"<host>": {"auth": "<base64 user:password>"}}}`
///
/// A missing file has no credentials; keys may carry a scheme and a path
/// (`https://index.docker.io/v1/`). Credential helpers (`credsStore`, `credHelpers`) are not
/// run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFile {
    path: PathBuf,
}

impl AuthFile {
    /// The auth file at `path`
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The files the container tools use, in their order: `$REGISTRY_AUTH_FILE`,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json`
    pub fn standard() -> Vec<AuthFile> {
        let var = |name| std::env::var_os(name).filter(|value| !value.is_empty());
        let mut files = Vec::new();
        if let Some(path) = var("REGISTRY_AUTH_FILE") {
            files.push(AuthFile::new(path));
        }
        if let Some(dir) = var("XDG_RUNTIME_DIR") {
            files.push(AuthFile::new(
                PathBuf::from(dir).join("containers/auth.json"),
            ));
        }
        if let Some(dir) = var("DOCKER_CONFIG") {
            files.push(AuthFile::new(PathBuf::from(dir).join("config.json")));
        } else if let Some(home) = var("HOME") {
            files.push(AuthFile::new(
                PathBuf::from(home).join(".docker/config.json"),
            ));
        }
        files
    }
}

impl CredentialSource for AuthFile {
    fn credentials(&self, registry_host: &str) -> Result<Option<Credentials>, CredentialError> {
        let text = match fs_err::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(CredentialError::with_source(
                    format!("Cannot read auth file `{}`", self.path.display()),
                    error,
                ))
            }
        };
        let file: AuthFileContent = serde_json::from_str(&text).map_err(|error| {
            CredentialError::with_source(
                format!("Auth file `{}` is not valid JSON", self.path.display()),
                error,
            )
        })?;
        // A key naming the registry itself wins over one naming a namespace in it
        let matching = |whole: bool| {
            file.auths.iter().find(|(key, _)| {
                let (registry, namespaced) = registry_of_key(key);
                namespaced != whole && same_registry(&registry, registry_host)
            })
        };
        let Some((_, entry)) = matching(true).or_else(|| matching(false)) else {
            return Ok(None);
        };
        let Some(auth) = entry.auth.as_deref().filter(|auth| !auth.is_empty()) else {
            return Ok(None);
        };
        let bad = || {
            CredentialError::new(format!(
                "The `auth` of `{registry_host}` in `{}` is not base64 of `user:password`",
                self.path.display()
            ))
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (username, password) = decoded.split_once(':').ok_or_else(bad)?;
        Ok(Some(Credentials::new(username, password)))
    }

    fn describe(&self) -> String {
        format!("auth file `{}`", self.path.display())
    }
}

#[derive(serde::Deserialize)]
struct AuthFileContent {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
}

#[derive(serde::Deserialize)]
struct AuthEntry {
    auth: Option<String>,
}

/// The registry an auth file key names, and whether the key is limited to a namespace:
/// `https://host/v1/` is all of `host`, `host/team` only a namespace of it
fn registry_of_key(key: &str) -> (String, bool) {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    match key.split_once('/') {
        Some((host, path)) => {
            let path = path.trim_matches('/');
            let namespaced = !(path.is_empty() || path == "v1" || path == "v2");
            (host.to_owned(), namespaced)
        }
        None => (key.to_owned(), false),
    }
}

/// Whether two registry names mean the same registry (Docker Hub has several names)
fn same_registry(a: &str, b: &str) -> bool {
    let hub = |name: &str| {
        matches!(
            name,
            "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
        )
    };
    a.eq_ignore_ascii_case(b) || (hub(a) && hub(b))
}

/// What each source said when asked for a registry's credentials
#[derive(Debug, Clone, Default)]
pub(crate) struct Lookup {
    /// The credentials found, and the source that had them
    pub found: Option<(Credentials, String)>,
    /// Each source asked, in order, with what it answered
    pub tried: Vec<String>,
}

/// Asks each source in turn until one has credentials for `registry_host`
pub(crate) fn lookup(
    sources: &[Box<dyn CredentialSource>],
    registry_host: &str,
) -> Result<Lookup, super::RegistryError> {
    let mut lookup = Lookup::default();
    for source in sources {
        let name = source.describe();
        match source.credentials(registry_host) {
            Ok(Some(credentials)) => {
                lookup
                    .tried
                    .push(format!("{name} (has credentials for `{registry_host}`)"));
                lookup.found = Some((credentials, name));
                return Ok(lookup);
            }
            Ok(None) => lookup
                .tried
                .push(format!("{name} (nothing for `{registry_host}`)")),
            Err(error) => {
                return Err(super::RegistryError::Credentials {
                    source_name: name,
                    registry: registry_host.to_owned(),
                    source: error,
                })
            }
        }
    }
    Ok(lookup)
}

/// One challenge of a `WWW-Authenticate` header
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// `Bearer`, `Basic`...
    pub scheme: String,
    /// The parameters, names lowercased
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of a parameter
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether the scheme is `scheme` (case-insensitive)
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

/// Parses a `WWW-Authenticate` value (RFC 7235): challenges separated by commas, each a scheme
/// and `name=value` or `name="quoted value"` parameters; malformed parts are skipped
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut cursor = Cursor {
        bytes: header.as_bytes(),
        position: 0,
    };
    let mut challenges = Vec::new();
    loop {
        cursor.skip(|b| b == b' ' || b == b'\t' || b == b',');
        if cursor.done() {
            break;
        }
        let scheme = cursor.token();
        if scheme.is_empty() {
            // Not a token: skip one byte and try again
            cursor.position += 1;
            continue;
        }
        let mut challenge = Challenge {
            scheme,
            params: Vec::new(),
        };
        loop {
            cursor.skip(|b| b == b' ' || b == b'\t');
            let start = cursor.position;
            let name = cursor.token();
            cursor.skip(|b| b == b' ' || b == b'\t');
            if name.is_empty() || !cursor.eat(b'=') {
                // The next challenge's scheme, or a token68 the outer loop skips
                cursor.position = start;
                break;
            }
            cursor.skip(|b| b == b' ' || b == b'\t');
            let value = if cursor.peek_is(b'"') {
                cursor.quoted()
            } else {
                cursor.token()
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
            cursor.skip(|b| b == b' ' || b == b'\t');
            if !cursor.eat(b',') {
                break;
            }
        }
        challenges.push(challenge);
    }
    challenges
}

struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.position >= self.bytes.len()
    }

    fn peek_is(&self, byte: u8) -> bool {
        self.bytes.get(self.position) == Some(&byte)
    }

    fn eat(&mut self, byte: u8) -> bool {
        let matched = self.peek_is(byte);
        if matched {
            self.position += 1;
        }
        matched
    }

    fn skip(&mut self, skip: impl Fn(u8) -> bool) {
        while self.bytes.get(self.position).is_some_and(|&b| skip(b)) {
            self.position += 1;
        }
    }

    fn token(&mut self) -> String {
        let start = self.position;
        self.skip(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&b));
        String::from_utf8_lossy(&self.bytes[start..self.position]).into_owned()
    }

    fn quoted(&mut self) -> String {
        // At the opening quote
        self.position += 1;
        let mut value = Vec::new();
        while let Some(&byte) = self.bytes.get(self.position) {
            self.position += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    if let Some(&escaped) = self.bytes.get(self.position) {
                        value.push(escaped);
                        self.position += 1;
                    }
                }
                _ => value.push(byte),
            }
        }
        String::from_utf8_lossy(&value).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge() {
        let challenges = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull""#,
        );
        assert_eq!(challenges.len(), 1);
        let challenge = &challenges[0];
        assert!(challenge.is("bearer"));
        assert_eq!(
            challenge.param("realm"),
            Some("https://auth.docker.io/token")
        );
        assert_eq!(challenge.param("service"), Some("registry.docker.io"));
        assert_eq!(
            challenge.param("scope"),
            Some("repository:library/debian:pull")
        );
    }

    #[test]
    fn several_challenges_unquoted_values_and_escapes() {
        let challenges = parse_challenges(
            r#"Basic realm="Registry \"x\"", Bearer realm=https://h/token , service=h,Negotiate abc==, Digest nonce="n""#,
        );
        let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Basic", "Bearer", "Negotiate", "Digest"]);
        assert_eq!(challenges[0].param("realm"), Some(r#"Registry "x""#));
        assert_eq!(challenges[1].param("realm"), Some("https://h/token"));
        assert_eq!(challenges[1].param("service"), Some("h"));
        assert_eq!(challenges[3].param("nonce"), Some("n"));
    }

    #[test]
    fn garbage_does_not_panic() {
        for header in [
            "",
            ",,,",
            "=",
            "\"",
            "Bearer realm=\"unterminated",
            "Bearer ,=,",
        ] {
            let _ = parse_challenges(header);
        }
    }

    #[test]
    fn auth_files() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("config.json");
        let encode = |pair: &str| base64::engine::general_purpose::STANDARD.encode(pair);
        std::fs::write(
            &path,
            serde_json::json!({
                "auths": {
                    "https://index.docker.io/v1/": {"auth": encode("hub:pw")},
                    "registry.example.com:5000": {"auth": encode("me:p:w")},
                    "quay.io/team": {"auth": encode("q:1")},
                    "broken.example": {"auth": "!!"},
                    "empty.example": {}
                },
                "credsStore": "desktop"
            })
            .to_string(),
        )
        .unwrap();
        let file = AuthFile::new(&path);
        let get = |host| file.credentials(host).unwrap();
        assert_eq!(get("docker.io"), Some(Credentials::new("hub", "pw")));
        assert_eq!(
            get("registry.example.com:5000"),
            Some(Credentials::new("me", "p:w"))
        );
        assert_eq!(get("quay.io"), Some(Credentials::new("q", "1")));
        assert_eq!(get("registry.example.com"), None);
        assert_eq!(get("empty.example"), None);
        assert!(file.credentials("broken.example").is_err());
        assert_eq!(
            AuthFile::new(temp.path().join("missing.json"))
                .credentials("docker.io")
                .unwrap(),
            None
        );
    }

    #[test]
    fn env_credentials_and_redaction() {
        let env = EnvCredentials::new(Some("u"), Some("secret-password"), None);
        assert_eq!(
            env.credentials("any.example").unwrap(),
            Some(Credentials::new("u", "secret-password"))
        );
        assert!(!format!("{env:?}").contains("secret-password"));
        assert!(!format!("{:?}", Credentials::new("u", "secret-password")).contains("secret"));
        let scoped = EnvCredentials::new(Some("u"), Some("p"), Some("one.example"));
        assert_eq!(scoped.credentials("two.example").unwrap(), None);
        assert!(scoped.credentials("one.example").unwrap().is_some());
        assert!(EnvCredentials::new(Some("u"), None, None)
            .credentials("x")
            .is_err());
        let shared: std::sync::Arc<dyn CredentialSource> = std::sync::Arc::new(scoped);
        let sources: Vec<Box<dyn CredentialSource>> = vec![Box::new(shared)];
        let found = lookup(&sources, "one.example").unwrap();
        assert!(found.tried[0].starts_with("`IMAGESMITH_REGISTRY_USERNAME`"));
    }

    #[test]
    fn lookup_stops_at_the_first_source_with_credentials() {
        let sources: Vec<Box<dyn CredentialSource>> = vec![
            Box::new(|_: &str| Ok(None)),
            Box::new(EnvCredentials::new(Some("u"), Some("p"), None)),
            Box::new(|_: &str| -> Result<Option<Credentials>, CredentialError> {
                panic!("not asked")
            }),
        ];
        let found = lookup(&sources, "r.example").unwrap();
        assert_eq!(found.found.unwrap().0, Credentials::new("u", "p"));
        assert_eq!(found.tried.len(), 2);
        assert!(found.tried[0].contains("nothing for `r.example`"));
    }
}
