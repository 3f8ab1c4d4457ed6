//! Credentials by host, taken from the environment once.

use base64::Engine as _;
use std::collections::BTreeMap;
use std::fmt;

/// The environment's credentials: `IMAGESMITH_AUTH_<HOST>` variables, `GITHUB_TOKEN` and the
/// text of the netrc file. Built from the process by [`Credentials::from_process`], or by hand in
/// tests. Its `Debug` shows no secret.
#[derive(Clone, Default)]
pub struct Credentials {
    vars: BTreeMap<String, String>,
    netrc: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("netrc", &self.netrc.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Credentials {
    /// No credentials.
    pub fn none() -> Credentials {
        Credentials::default()
    }

    /// Reads `IMAGESMITH_AUTH_*`, `GITHUB_TOKEN`, and the netrc file (`$NETRC`, else
    /// `~/.netrc`); a missing or unreadable netrc is no netrc.
    pub fn from_process() -> Credentials {
        let mut credentials = Credentials::default();
        for (name, value) in std::env::vars() {
            if name.starts_with("IMAGESMITH_AUTH_") || name == "GITHUB_TOKEN" {
                credentials.vars.insert(name, value);
            }
        }
        let path = std::env::var_os("NETRC")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".netrc")));
        if let Some(path) = path {
            credentials.netrc = std::fs::read_to_string(path).ok();
        }
        credentials
    }

    /// Adds an environment variable (`IMAGESMITH_AUTH_<HOST>` or `GITHUB_TOKEN`).
    pub fn with_var(mut self, name: &str, value: &str) -> Credentials {
        self.vars.insert(name.to_string(), value.to_string());
        self
    }

    /// Sets the netrc file's text.
    pub fn with_netrc(mut self, text: &str) -> Credentials {
        self.netrc = Some(text.to_string());
        self
    }

    /// The `Authorization` header value for `host`: `IMAGESMITH_AUTH_<HOST>` (`user:password`
    /// or `Bearer <token>`), else the netrc entry of the host, else `GITHUB_TOKEN` for
    /// `api.github.com`.
    pub(crate) fn authorization(&self, host: &str) -> Option<String> {
        if let Some(value) = self.vars.get(&variable_for(host)) {
            let value = value.trim();
            if value.starts_with("Bearer ") {
                return Some(value.to_string());
            }
            if value.contains(':') {
                return Some(basic(value));
            }
        }
        if let Some((login, password)) = self.netrc.as_deref().and_then(|t| netrc_entry(t, host)) {
            return Some(basic(&format!("{login}:{password}")));
        }
        if host.eq_ignore_ascii_case("api.github.com") {
            if let Some(token) = self
                .vars
                .get("GITHUB_TOKEN")
                .filter(|t| !t.trim().is_empty())
            {
                return Some(format!("Bearer {}", token.trim()));
            }
        }
        None
    }
}

/// `IMAGESMITH_AUTH_` and the host upper-cased, every byte but letters and digits as `_`.
pub(crate) fn variable_for(host: &str) -> String {
    let mut name = String::from("IMAGESMITH_AUTH_");
    name.extend(host.bytes().map(|b| {
        if b.is_ascii_alphanumeric() {
            b.to_ascii_uppercase() as char
        } else {
            '_'
        }
    }));
    name
}

fn basic(user_password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_password)
    )
}

/// The login and password of `host` in a netrc text (`machine`, `login`, `password` tokens;
/// `default` applies to every host; `macdef` bodies are skipped).
fn netrc_entry(text: &str, host: &str) -> Option<(String, String)> {
    let mut tokens = text.split_whitespace();
    let mut found: Option<(String, String)> = None;
    let mut default: Option<(String, String)> = None;
    // Which entry the login/password tokens belong to: 1 the host, 2 `default`, 0 another.
    let mut current = 0u8;
    let mut entry = (String::new(), String::new());
    let mut finish = |current: u8, entry: &mut (String, String)| {
        let taken = std::mem::take(entry);
        match current {
            1 if found.is_none() => found = Some(taken),
            2 if default.is_none() => default = Some(taken),
            _ => {}
        }
    };
    while let Some(token) = tokens.next() {
        match token {
            "machine" => {
                finish(current, &mut entry);
                current = if tokens.next().is_some_and(|m| m.eq_ignore_ascii_case(host)) {
                    1
                } else {
                    0
                };
            }
            "default" => {
                finish(current, &mut entry);
                current = 2;
            }
            "login" => entry.0 = tokens.next().unwrap_or_default().to_string(),
            "password" => entry.1 = tokens.next().unwrap_or_default().to_string(),
            "account" => {
                tokens.next();
            }
            "macdef" => {
                finish(current, &mut entry);
                current = 0;
                // A macro runs to the next blank line; tokens lose that, so skip to the next
                // `machine`/`default` keyword instead.
                tokens.next();
            }
            _ => {}
        }
    }
    finish(current, &mut entry);
    found
        .or(default)
        .filter(|(login, password)| !login.is_empty() || !password.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_follow_the_host() {
        assert_eq!(
            variable_for("artifactory.bank.example"),
            "IMAGESMITH_AUTH_ARTIFACTORY_BANK_EXAMPLE"
        );
        assert_eq!(variable_for("127.0.0.1"), "IMAGESMITH_AUTH_127_0_0_1");
    }

    #[test]
    fn basic_bearer_netrc_and_github_token() {
        let c = Credentials::none()
            .with_var("IMAGESMITH_AUTH_A_EXAMPLE", "user:pa:ss")
            .with_var("IMAGESMITH_AUTH_B_EXAMPLE", "Bearer tok")
            .with_var("GITHUB_TOKEN", "ghp")
            .with_netrc(
                "machine c.example login carol password secret\ndefault login anon password x",
            );
        // base64("user:pa:ss")
        assert_eq!(
            c.authorization("a.example").unwrap(),
            "Basic dXNlcjpwYTpzcw=="
        );
        assert_eq!(c.authorization("b.example").unwrap(), "Bearer tok");
        // base64("carol:secret")
        assert_eq!(
            c.authorization("c.example").unwrap(),
            "Basic Y2Fyb2w6c2VjcmV0"
        );
        assert_eq!(c.authorization("d.example").unwrap(), "Basic YW5vbjp4");
        let only_github = Credentials::none().with_var("GITHUB_TOKEN", "ghp");
        assert_eq!(
            only_github.authorization("api.github.com").unwrap(),
            "Bearer ghp"
        );
        assert_eq!(only_github.authorization("github.com"), None);
    }

    #[test]
    fn debug_shows_no_secret() {
        let c = Credentials::none()
            .with_var("IMAGESMITH_AUTH_A", "user:hunter2")
            .with_netrc("machine a login u password hunter3");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter"), "{shown}");
    }

    #[test]
    fn netrc_first_matching_machine_wins() {
        let text = "machine h login a password 1\nmachine other login b password 2\nmachine h login c password 3";
        assert_eq!(
            netrc_entry(text, "h"),
            Some(("a".to_string(), "1".to_string()))
        );
        assert_eq!(netrc_entry(text, "none"), None);
    }
}
