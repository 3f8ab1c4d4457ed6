//! The part of SBOM generation both formats share: a sorted, de-duplicated view of the input
//! with components linked to the packages they were installed from.

use crate::{identity, ArtifactRef, ComponentRecord, Package, SbomInput};

/// A catalog component that is in the image.
pub(crate) struct Installed<'a> {
    pub record: &'a ComponentRecord,
    /// Indexes into [`View::packages`] of the packages it was installed from.
    pub packages: Vec<usize>,
    /// Package names it names that the image's database does not hold.
    pub missing: Vec<&'a str>,
}

pub(crate) struct View<'a> {
    pub packages: Vec<&'a Package>,
    pub components: Vec<Installed<'a>>,
    pub omitted: Vec<&'a ComponentRecord>,
}

impl<'a> View<'a> {
    pub fn new(input: &'a SbomInput) -> Self {
        let mut packages: Vec<&Package> = input.packages.iter().collect();
        packages.sort();
        packages.dedup_by(|a, b| identity::package_key(a) == identity::package_key(b));

        let mut records: Vec<&ComponentRecord> = input.components.iter().collect();
        records.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        records.dedup_by(|a, b| a.name == b.name && a.version == b.version);

        let mut components = Vec::new();
        let mut omitted = Vec::new();
        for record in records {
            if record.omitted.is_some() {
                omitted.push(record);
                continue;
            }
            let mut linked = Vec::new();
            let mut missing = Vec::new();
            if let ArtifactRef::Package { names } = &record.artifact {
                for name in names {
                    let before = linked.len();
                    linked.extend(
                        packages
                            .iter()
                            .enumerate()
                            .filter(|(_, package)| &package.name == name)
                            .map(|(index, _)| index),
                    );
                    if linked.len() == before {
                        missing.push(name.as_str());
                    }
                }
            }
            linked.sort_unstable();
            linked.dedup();
            components.push(Installed {
                record,
                packages: linked,
                missing,
            });
        }
        View {
            packages,
            components,
            omitted,
        }
    }
}

/// A sentence on where a component came from, for comments and properties.
pub(crate) fn provenance(installed: &Installed<'_>) -> String {
    let mut text = match &installed.record.artifact {
        ArtifactRef::Package { names } => {
            format!("Installed from OS packages: {}", names.join(", "))
        }
        ArtifactRef::Download {
            url, checksum_url, ..
        } => match checksum_url {
            Some(checksum_url) => format!("Downloaded from {url}, verified against {checksum_url}"),
            None => format!("Downloaded from {url}"),
        },
        ArtifactRef::VendorApi { description } => {
            format!("Fetched through a vendor API: {description}")
        }
    };
    if !installed.missing.is_empty() {
        text.push_str(&format!(
            "; not found in the image's package database: {}",
            installed.missing.join(", ")
        ));
    }
    text
}

/// `name version: why` for an omitted component.
pub(crate) fn omission(record: &ComponentRecord) -> String {
    format!(
        "{} {}: {}",
        record.name,
        record.version,
        record.omitted.as_deref().unwrap_or_default()
    )
}

/// The SHA-256 of a download, when it is well-formed lowercase hex.
pub(crate) fn sha256(record: &ComponentRecord) -> Option<String> {
    match &record.artifact {
        ArtifactRef::Download {
            sha256: Some(sha256),
            ..
        } if sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(sha256.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// A URL SBOM consumers will accept as a location: an absolute http(s)/ftp URL with a
/// dotted host name (what SPDX tools' URL check asks).
pub(crate) fn url(text: &str) -> Option<&str> {
    let rest = ["https://", "http://", "ftp://", "sftp://"]
        .iter()
        .find_map(|scheme| text.strip_prefix(scheme))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    let (_, top) = host.rsplit_once('.')?;
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let top_ok = top.len() >= 2 && top.bytes().all(|b| b.is_ascii_alphabetic());
    let clean = !text.contains(char::is_whitespace);
    (labels_ok && top_ok && clean).then_some(text)
}

/// Splits `Name <email>` into its parts; the name keeps no parentheses or angle brackets.
pub(crate) fn person(text: &str) -> (String, Option<String>) {
    let (name, email) = match text.split_once('<') {
        Some((name, rest)) => (name, rest.split('>').next().map(str::trim)),
        None => (text, None),
    };
    let name: String = name
        .chars()
        .filter(|c| !matches!(c, '(' | ')' | '<' | '>'))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let email = email
        .filter(|email| {
            email.contains('@')
                && !email.contains(|c: char| c.is_whitespace() || "()<>".contains(c))
        })
        .map(str::to_string);
    (name, email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(url(
            "https://github.com/prometheus/node_exporter/releases/download/v1.8.2/x.tar.gz"
        )
        .is_some());
        assert!(url("http://user@mirror.example.com:8080/x").is_some());
        assert!(url("https://10.0.0.1/x").is_none());
        assert!(url("https://localhost/x").is_none());
        assert!(url("file:///x").is_none());
        assert!(url("https://exa mple.com/").is_none());
    }

    #[test]
    fn people() {
        assert_eq!(
            person("Debian GCC Maintainers <debian-gcc@lists.debian.org>"),
            (
                "Debian GCC Maintainers".to_string(),
                Some("debian-gcc@lists.debian.org".to_string())
            )
        );
        assert_eq!(person("Amazon Linux"), ("Amazon Linux".to_string(), None));
        assert_eq!(
            person("Odd (Name) <not an email>"),
            ("Odd Name".to_string(), None)
        );
    }
}
