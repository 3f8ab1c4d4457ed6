//! dnf/yum: `{url}/repodata/repomd.xml` and the `primary` metadata it points at
//! (<https://docs.pulpproject.org/en/2.19/plugins/pulp_rpm/tech-reference/rpm.html>,
//! createrepo_c's format), gzip-compressed.
//!
//! Versions are `ver-rel`, with `epoch:` in front when the epoch is not 0. `primary.xml` has
//! build times but no release dates, so none is recorded. Artifacts are `{os}/<arch>` →
//! `{url}/{location}` with the package's sha256 (`x86_64`, `aarch64` → `arm64`, `noarch` on
//! both). The primary file is checked against the sha256 `repomd.xml` gives for it; the
//! repository's GPG signature is not checked here (dnf checks it when installing).

use crate::http::Http;
use crate::util::is_sha256;
use crate::{Context, SourceError, VersionSource};
use imagesmith_index::{ArtifactRef, Release};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub(crate) struct Dnf<'a> {
    pub url: &'a str,
    pub package: &'a str,
    pub os: Option<&'a str>,
}

impl VersionSource for Dnf<'_> {
    fn releases(&self, http: &Http, ctx: &Context<'_>) -> Result<Vec<Release>, SourceError> {
        let root = self.url.trim_end_matches('/');
        let repomd = http.get(ctx, &format!("{root}/repodata/repomd.xml"), None)?;
        let (href, checksum) =
            primary_location(&repomd.body).map_err(|message| SourceError::Parse {
                url: repomd.url.clone(),
                message,
            })?;
        if href.contains("..") || href.starts_with('/') || href.contains("://") {
            return Err(SourceError::Parse {
                url: repomd.url.clone(),
                message: format!("the primary location `{href}` is outside the repository"),
            });
        }
        if !href.ends_with(".gz") {
            return Err(SourceError::Parse {
                url: repomd.url.clone(),
                message: format!(
                    "the primary metadata `{href}` is not gzip-compressed; only `.gz` is read"
                ),
            });
        }
        let url = format!("{root}/{href}");
        let rewritten = crate::http::rewrite(&ctx.mirrors, &url);
        let authorization =
            crate::http::host_of(&rewritten).and_then(|h| ctx.credentials.authorization(h));
        // Checked on the compressed bytes, as repomd's `checksum` is.
        let raw = http.request_raw(&rewritten, authorization.as_deref())?;
        if let Some(expected) = checksum {
            let actual = hex::encode(Sha256::digest(&raw.body));
            if actual != expected {
                return Err(SourceError::Parse {
                    url: raw.url.clone(),
                    message: format!("its sha256 is `{actual}`, repomd.xml says `{expected}`"),
                });
            }
        }
        let xml = crate::http::gunzip(&raw.body, http.max_body(), &raw.url)?;
        let packages = packages(&xml, self.package).map_err(|message| SourceError::Parse {
            url: raw.url.clone(),
            message,
        })?;
        let os = self.os.unwrap_or("linux");
        let mut by_version: BTreeMap<String, Release> = BTreeMap::new();
        for package in packages {
            let arches: &[&str] = match package.arch.as_str() {
                "x86_64" => &["x86_64"],
                "aarch64" => &["arm64"],
                "noarch" => &["x86_64", "arm64"],
                _ => continue,
            };
            let release = by_version
                .entry(package.version.clone())
                .or_insert_with(|| Release {
                    version: package.version.clone(),
                    date: None,
                    artifacts: BTreeMap::new(),
                    build: None,
                    revoked: None,
                    withdrawn: None,
                });
            for arch in arches {
                release.artifacts.insert(
                    format!("{os}/{arch}"),
                    ArtifactRef {
                        url: format!("{root}/{}", package.location),
                        sha256: package.sha256.clone(),
                    },
                );
            }
        }
        Ok(by_version.into_values().collect())
    }
}

fn attribute(element: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// The `location href` of `<data type="primary">` and its sha256, if given as sha256.
fn primary_location(xml: &[u8]) -> Result<(String, Option<String>), String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut in_primary = false;
    let mut in_checksum = false;
    let mut checksum = None;
    let mut href = None;
    loop {
        match reader.read_event_into(&mut buf) {
            Err(e) => return Err(format!("not XML: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => match e.local_name().as_ref() {
                b"data" => in_primary = attribute(&e, b"type").as_deref() == Some("primary"),
                b"location" if in_primary => href = attribute(&e, b"href"),
                b"checksum" if in_primary => {
                    in_checksum = attribute(&e, b"type").as_deref() == Some("sha256")
                }
                _ => {}
            },
            Ok(Event::Text(t)) if in_primary && in_checksum => {
                let text = t
                    .decode()
                    .map_err(|e| e.to_string())?
                    .trim()
                    .to_ascii_lowercase();
                if is_sha256(&text) {
                    checksum = Some(text);
                }
            }
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                b"data" if in_primary => {
                    in_primary = false;
                    if href.is_some() {
                        break;
                    }
                }
                b"checksum" => in_checksum = false,
                _ => {}
            },
            Ok(_) => {}
        }
        buf.clear();
    }
    href.map(|h| (h, checksum))
        .ok_or_else(|| "it has no `<data type=\"primary\">` with a `<location href>`".to_string())
}

#[derive(Debug, Default)]
struct Package {
    name: String,
    arch: String,
    version: String,
    sha256: Option<String>,
    location: String,
}

/// The packages named `name` in a `primary.xml`.
fn packages(xml: &[u8], name: &str) -> Result<Vec<Package>, String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut current: Option<Package> = None;
    // The element whose text is being read, inside a package.
    let mut field: Option<&'static str> = None;
    let mut sha256_checksum = false;
    loop {
        match reader.read_event_into(&mut buf) {
            Err(e) => return Err(format!("not XML: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let local = e.local_name();
                match (local.as_ref(), current.as_mut()) {
                    (b"package", None) => current = Some(Package::default()),
                    (b"name", Some(_)) => field = Some("name"),
                    (b"arch", Some(_)) => field = Some("arch"),
                    (b"checksum", Some(_)) => {
                        sha256_checksum = attribute(&e, b"type").as_deref() == Some("sha256");
                        field = Some("checksum");
                    }
                    (b"version", Some(p)) => {
                        let epoch = attribute(&e, b"epoch").unwrap_or_default();
                        let ver = attribute(&e, b"ver").unwrap_or_default();
                        let rel = attribute(&e, b"rel").unwrap_or_default();
                        let base = if rel.is_empty() {
                            ver
                        } else {
                            format!("{ver}-{rel}")
                        };
                        p.version = match epoch.as_str() {
                            "" | "0" => base,
                            epoch => format!("{epoch}:{base}"),
                        };
                    }
                    (b"location", Some(p)) => {
                        p.location = attribute(&e, b"href").unwrap_or_default();
                    }
                    _ => {}
                }
            }
            Ok(Event::Text(t)) => {
                if let (Some(which), Some(p)) = (field, current.as_mut()) {
                    let text = t.decode().map_err(|e| e.to_string())?.trim().to_string();
                    match which {
                        "name" => p.name.push_str(&text),
                        "arch" => p.arch.push_str(&text),
                        "checksum" if sha256_checksum && is_sha256(&text) => {
                            p.sha256 = Some(text.to_ascii_lowercase())
                        }
                        _ => {}
                    }
                }
            }
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                b"package" => {
                    if let Some(p) = current.take() {
                        let safe = !p.location.is_empty()
                            && !p.location.contains("..")
                            && !p.location.starts_with('/')
                            && !p.location.contains("://");
                        if p.name == name && !p.version.is_empty() && safe {
                            out.push(p);
                        }
                    }
                    field = None;
                }
                b"name" | b"arch" | b"checksum" => field = None,
                _ => {}
            },
            Ok(_) => {}
        }
        buf.clear();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repomd_primary() {
        let sha = "c".repeat(64);
        let xml = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1</revision>
  <data type="filelists"><checksum type="sha256">{}</checksum><location href="repodata/f-filelists.xml.gz"/></data>
  <data type="primary"><checksum type="sha256">{sha}</checksum><location href="repodata/p-primary.xml.gz"/></data>
</repomd>"#,
            "d".repeat(64)
        );
        let (href, checksum) = primary_location(xml.as_bytes()).unwrap();
        assert_eq!(href, "repodata/p-primary.xml.gz");
        assert_eq!(checksum, Some(sha));
        assert!(primary_location(b"<repomd/>").is_err());
    }

    #[test]
    fn epochs_and_names() {
        let xml = br#"<metadata xmlns="http://linux.duke.edu/metadata/common" packages="2">
<package type="rpm"><name>vim-enhanced</name><arch>x86_64</arch><version epoch="2" ver="9.0.2153" rel="1.amzn2023.0.1"/><location href="Packages/v.rpm"/></package>
<package type="rpm"><name>vim</name><arch>x86_64</arch><version epoch="0" ver="9" rel="1"/><location href="../x.rpm"/></package>
</metadata>"#;
        let p = packages(xml, "vim-enhanced").unwrap();
        assert_eq!(p[0].version, "2:9.0.2153-1.amzn2023.0.1");
        // A location outside the repository is dropped.
        assert!(packages(xml, "vim").unwrap().is_empty());
    }
}
