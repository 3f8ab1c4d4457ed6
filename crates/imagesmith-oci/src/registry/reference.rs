//! Image references: `[docker://]host[:port]/repository[:tag][@sha256:digest]`, with Docker
//! Hub's defaults for short names

use std::fmt;
use std::str::FromStr;

use oci_spec::image::Digest;

use super::RegistryError;

/// The registry that names without a host refer to
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's registry API
const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The tag used when a reference has neither tag nor digest
pub const DEFAULT_TAG: &str = "latest";

/// A parsed image reference
///
/// `alpine` is `docker.io/library/alpine:latest`, `team/app:1` is `docker.io/team/app:1`,
/// `localhost:5000/app@sha256:...` names a local registry by digest. A reference with both a
/// tag and a digest is pulled by digest; the tag is kept only to be shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses a reference; a `docker://` prefix (skopeo's transport name) is accepted
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let invalid = |reason: &str| RegistryError::InvalidReference {
            reference: text.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = text.strip_prefix("docker://").unwrap_or(text);
        if rest.is_empty() {
            return Err(invalid("it is empty"));
        }
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("it contains white space"));
        }
        let (name, digest) = match rest.split_once('@') {
            Some((name, digest)) => (name, Some(parse_digest(digest).map_err(|r| invalid(&r))?)),
            None => (rest, None),
        };
        // A tag follows the last `:` after the last `/`; a `:` before it is a port
        let last_slash = name.rfind('/').map_or(0, |index| index + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(colon) => {
                let colon = last_slash + colon;
                (&name[..colon], Some(&name[colon + 1..]))
            }
            None => (name, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(|r| invalid(&r))?;
        }
        // The first component is a host when it looks like one (as Docker decides)
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), rest.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        check_host(&registry).map_err(|r| invalid(&r))?;
        let registry = match registry.as_str() {
            "index.docker.io" | DOCKER_HUB_API => DOCKER_HUB.to_owned(),
            _ => registry,
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        check_repository(&repository).map_err(|r| invalid(&r))?;
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry as named in references: `host[:port]`, `docker.io` for Docker Hub
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host[:port] that serves the registry API (`registry-1.docker.io` for Docker Hub)
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The repository, e.g. `library/debian`
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any (`latest` when neither tag nor digest was written)
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, when pulling by digest
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What goes after `/manifests/` in the API: the digest if there is one, else the tag
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// The same repository at another digest
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = RegistryError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Parses `sha256:<64 lowercase hex digits>`
pub(crate) fn parse_digest(text: &str) -> Result<Digest, String> {
    let hex = text
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("digest `{text}` is not `sha256:<64 hex digits>`"))?;
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "digest `{text}` is not `sha256:<64 lowercase hex digits>`"
        ));
    }
    Digest::from_str(text).map_err(|error| format!("digest `{text}`: {error}"))
}

fn check_tag(tag: &str) -> Result<(), String> {
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "tag `{tag}` must be 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
        ))
    }
}

fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = match host.rsplit_once(':') {
        // An IPv6 literal `[::1]` has colons of its own
        Some((name, port)) if !port.contains(']') => (name, Some(port)),
        _ => (host, None),
    };
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    let port_ok = port.is_none_or(|port| port.parse::<u16>().is_ok_and(|port| port != 0));
    if name_ok && port_ok {
        Ok(())
    } else {
        Err(format!("registry host `{host}` is not `host[:port]`"))
    }
}

fn check_repository(repository: &str) -> Result<(), String> {
    let component_ok = |component: &str| {
        let bytes = component.as_bytes();
        !bytes.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes.iter().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
    };
    if repository.len() <= 255 && repository.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(format!(
            "repository `{repository}` must be `/`-separated components of lowercase letters, digits, `.`, `_` and `-`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn parts(text: &str) -> (String, String, Option<String>, Option<String>) {
        let reference = Reference::parse(text).unwrap();
        (
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            reference.tag().map(str::to_owned),
            reference.digest().map(ToString::to_string),
        )
    }

    #[test]
    fn docker_hub_defaults() {
        assert_eq!(
            parts("debian"),
            (
                "docker.io".into(),
                "library/debian".into(),
                Some("latest".into()),
                None
            )
        );
        assert_eq!(
            parts("team/app:1.2"),
            (
                "docker.io".into(),
                "team/app".into(),
                Some("1.2".into()),
                None
            )
        );
        assert_eq!(
            parts("docker://index.docker.io/debian:12"),
            (
                "docker.io".into(),
                "library/debian".into(),
                Some("12".into()),
                None
            )
        );
        let hub = Reference::parse("debian:12").unwrap();
        assert_eq!(hub.api_host(), "registry-1.docker.io");
        assert_eq!(hub.to_string(), "docker.io/library/debian:12");
    }

    #[test]
    fn hosts_ports_tags_and_digests() {
        assert_eq!(
            parts("127.0.0.1:5000/base/os:12"),
            (
                "127.0.0.1:5000".into(),
                "base/os".into(),
                Some("12".into()),
                None
            )
        );
        assert_eq!(
            parts(&format!("localhost/app@{DIGEST}")),
            ("localhost".into(), "app".into(), None, Some(DIGEST.into()))
        );
        assert_eq!(
            parts(&format!("ghcr.io/o/app:v1@{DIGEST}")),
            (
                "ghcr.io".into(),
                "o/app".into(),
                Some("v1".into()),
                Some(DIGEST.into())
            )
        );
        let reference = Reference::parse(&format!("ghcr.io/o/app:v1@{DIGEST}")).unwrap();
        assert_eq!(reference.manifest_reference(), DIGEST);
        assert_eq!(reference.to_string(), format!("ghcr.io/o/app:v1@{DIGEST}"));
        assert_eq!(
            parts("registry.example.com:8443/app"),
            (
                "registry.example.com:8443".into(),
                "app".into(),
                Some("latest".into()),
                None
            )
        );
    }

    #[test]
    fn invalid_references_are_errors() {
        for text in [
            "",
            "docker://",
            "Upper/Case",
            "app:",
            "app:-bad",
            "app@sha256:abc",
            "app@md5:2cf24dba5fb0a30e26e83b2ac5b9e29e",
            "host:99999/app",
            "host.example/",
            "a//b",
            "with space",
        ] {
            assert!(
                matches!(
                    Reference::parse(text),
                    Err(RegistryError::InvalidReference { .. })
                ),
                "{text:?}"
            );
        }
    }
}
