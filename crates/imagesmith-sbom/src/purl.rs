//! Package URLs (<https://github.com/package-url/purl-spec>).

use crate::{OsRelease, Package, PackageManager};

/// Percent-encodes everything but the purl spec's unreserved characters.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12`,
/// `pkg:rpm/amzn/openssl-libs@3.0.8-1.amzn2023.0.3?arch=x86_64&distro=amzn-2023&epoch=1`.
pub(crate) fn package(package: &Package, os: Option<&OsRelease>) -> String {
    let mut purl = format!("pkg:{}/", package.manager.purl_type());
    if let Some(os) = os {
        purl.push_str(&encode(&os.id.to_ascii_lowercase()));
        purl.push('/');
    }
    purl.push_str(&encode(&package.name));
    purl.push('@');
    purl.push_str(&encode(&package.version));
    // Keys in lexical order, as the spec's canonical form asks.
    let mut qualifiers = Vec::new();
    if let Some(arch) = &package.arch {
        qualifiers.push(("arch", arch.clone()));
    }
    if let Some(os) = os {
        qualifiers.push(("distro", os.distro()));
    }
    if let (PackageManager::Rpm, Some(epoch)) = (package.manager, package.epoch) {
        qualifiers.push(("epoch", epoch.to_string()));
    }
    push_qualifiers(&mut purl, &qualifiers);
    purl
}

/// `pkg:oci/app@sha256%3A…?repository_url=registry.example/team/app` for an image; `None`
/// when the digest is not `algorithm:hex`.
pub(crate) fn image(name: &str, digest: &str) -> Option<String> {
    let (algorithm, hex) = digest.split_once(':')?;
    if algorithm.is_empty()
        || !algorithm.bytes().all(|b| b.is_ascii_alphanumeric())
        || hex.is_empty()
        || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    // Drop a tag or digest from the name: `registry:5000/team/app:1.0` -> `registry:5000/team/app`.
    let repository = name.split('@').next().unwrap_or(name);
    let repository = match repository.rsplit_once(':') {
        Some((before, tag)) if !tag.contains('/') => before,
        _ => repository,
    };
    let last = repository.rsplit('/').next().unwrap_or(repository);
    if last.is_empty() {
        return None;
    }
    let mut purl = format!(
        "pkg:oci/{}@{}",
        encode(&last.to_ascii_lowercase()),
        encode(digest)
    );
    if repository.contains('/') {
        push_qualifiers(&mut purl, &[("repository_url", repository.to_string())]);
    }
    Some(purl)
}

fn push_qualifiers(purl: &mut String, qualifiers: &[(&str, String)]) {
    for (index, (key, value)) in qualifiers.iter().enumerate() {
        purl.push(if index == 0 { '?' } else { '&' });
        purl.push_str(key);
        purl.push('=');
        purl.push_str(&encode(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian() -> OsRelease {
        OsRelease {
            id: "debian".into(),
            version_id: Some("12".into()),
            ..OsRelease::default()
        }
    }

    #[test]
    fn deb_with_epoch_and_plus() {
        let mut bash = Package::new(PackageManager::Dpkg, "libstdc++6", "1:12.2.0-14+deb12u1");
        bash.arch = Some("amd64".into());
        assert_eq!(
            package(&bash, Some(&debian())),
            "pkg:deb/debian/libstdc%2B%2B6@1%3A12.2.0-14%2Bdeb12u1?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            package(&bash, None),
            "pkg:deb/libstdc%2B%2B6@1%3A12.2.0-14%2Bdeb12u1?arch=amd64"
        );
    }

    #[test]
    fn rpm_epoch_is_a_qualifier() {
        let mut openssl = Package::new(PackageManager::Rpm, "openssl-libs", "3.0.8-1.amzn2023.0.3");
        openssl.epoch = Some(1);
        openssl.arch = Some("x86_64".into());
        let amazon = OsRelease {
            id: "amzn".into(),
            version_id: Some("2023".into()),
            ..OsRelease::default()
        };
        assert_eq!(
            package(&openssl, Some(&amazon)),
            "pkg:rpm/amzn/openssl-libs@3.0.8-1.amzn2023.0.3?arch=x86_64&distro=amzn-2023&epoch=1"
        );
    }

    #[test]
    fn images() {
        let digest = "sha256:abc123";
        assert_eq!(
            image("golden", digest).as_deref(),
            Some("pkg:oci/golden@sha256%3Aabc123")
        );
        assert_eq!(
            image("registry:5000/Team/App:1.0", digest).as_deref(),
            Some("pkg:oci/app@sha256%3Aabc123?repository_url=registry%3A5000%2FTeam%2FApp")
        );
        assert_eq!(image("golden", "not a digest"), None);
        assert_eq!(image("", digest), None);
    }
}
