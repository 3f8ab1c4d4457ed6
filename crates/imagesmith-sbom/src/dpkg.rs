//! The dpkg database (`var/lib/dpkg/status`, and distroless images' `status.d/`) and
//! machine-readable Debian copyright files.

use std::collections::BTreeSet;
use std::path::Path;

use crate::{license, rootfs, Package, PackageManager, SbomError, Warning};

/// One deb822 paragraph: its first line and its fields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paragraph {
    /// The 1-based line the paragraph starts on.
    pub line: usize,
    /// Field names and values; continuation lines are joined with `\n`.
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    /// A field's value; field names are case-insensitive.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The first line of a field's value, trimmed; `None` when absent or empty.
    pub fn first_line(&self, name: &str) -> Option<&str> {
        let value = self.get(name)?.lines().next()?.trim();
        (!value.is_empty()).then_some(value)
    }
}

/// Splits deb822 text into paragraphs. A paragraph with a malformed line is left out and
/// reported as `(line, message)`.
pub(crate) fn paragraphs(text: &str) -> (Vec<Paragraph>, Vec<(usize, String)>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut current: Option<Paragraph> = None;
    let mut broken = false;
    let mut finish = |current: &mut Option<Paragraph>, broken: &mut bool| {
        if let Some(paragraph) = current.take() {
            if !*broken && !paragraph.fields.is_empty() {
                out.push(paragraph);
            }
        }
        *broken = false;
    };
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            finish(&mut current, &mut broken);
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let paragraph = current.get_or_insert_with(|| Paragraph {
            line: number,
            fields: Vec::new(),
        });
        if line.starts_with([' ', '\t']) {
            match paragraph.fields.last_mut() {
                Some((_, value)) => {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                None => {
                    if !broken {
                        problems.push((number, "continuation line before any field".to_string()));
                    }
                    broken = true;
                }
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                paragraph
                    .fields
                    .push((name.to_string(), value.trim().to_string()));
            }
            _ => {
                if !broken {
                    problems.push((
                        number,
                        format!("not a `Field: value` line: `{}`", truncate(line)),
                    ));
                }
                broken = true;
            }
        }
    }
    finish(&mut current, &mut broken);
    (out, problems)
}

fn truncate(line: &str) -> String {
    line.chars().take(60).collect()
}

/// Reads the installed packages from the dpkg status database and `status.d/`.
pub(crate) fn read(root: &Path, warnings: &mut Vec<Warning>) -> Result<Vec<Package>, SbomError> {
    let mut files = Vec::new();
    if let Some((path, bytes)) = rootfs::read(root, "var/lib/dpkg/status")? {
        files.push((path, bytes, true));
    }
    if let Some(directory) = rootfs::resolve(root, Path::new("var/lib/dpkg/status.d"))? {
        if directory.is_dir() {
            let entries = std::fs::read_dir(&directory).map_err(|source| SbomError::Read {
                path: directory.clone(),
                source,
            })?;
            let mut names = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|source| SbomError::Read {
                    path: directory.clone(),
                    source,
                })?;
                if let Some(name) = entry.file_name().to_str() {
                    if !name.ends_with(".md5sums") {
                        names.push(name.to_string());
                    }
                }
            }
            names.sort();
            for name in names {
                let relative = format!("var/lib/dpkg/status.d/{name}");
                if let Some((path, bytes)) = rootfs::read(root, &relative)? {
                    files.push((path, bytes, false));
                }
            }
        }
    }

    let mut packages = Vec::new();
    let mut seen = BTreeSet::new();
    for (path, bytes, has_status) in files {
        let text = String::from_utf8_lossy(&bytes);
        let (stanzas, problems) = paragraphs(&text);
        for (line, message) in problems {
            warnings.push(warning(&path, line, format!("skipped a stanza: {message}")));
        }
        for stanza in stanzas {
            let Some(mut package) = package(&stanza, &path, has_status, warnings) else {
                continue;
            };
            if !seen.insert((package.name.clone(), package.arch.clone())) {
                warnings.push(warning(
                    &path,
                    stanza.line,
                    format!("skipped a second stanza for `{}`", package.name),
                ));
                continue;
            }
            package.licenses = copyright_licenses(root, &package.name)?;
            package.license = license::from_debian(&package.licenses);
            packages.push(package);
        }
    }
    Ok(packages)
}

fn warning(path: &Path, line: usize, message: String) -> Warning {
    Warning {
        path: path.to_path_buf(),
        line: Some(line),
        message,
    }
}

/// The package an installed stanza describes; `None` (with a warning when the stanza is
/// malformed) for stanzas of packages that are not installed.
fn package(
    stanza: &Paragraph,
    path: &Path,
    has_status: bool,
    warnings: &mut Vec<Warning>,
) -> Option<Package> {
    let Some(name) = stanza.first_line("Package") else {
        warnings.push(warning(
            path,
            stanza.line,
            "skipped a stanza without `Package`".into(),
        ));
        return None;
    };
    // status.d/ files of distroless images have no Status: they only list installed packages.
    if let Some(status) = stanza.first_line("Status") {
        let words: Vec<&str> = status.split_whitespace().collect();
        if words.len() != 3 {
            warnings.push(warning(
                path,
                stanza.line,
                format!("skipped `{name}`: malformed `Status: {status}`"),
            ));
            return None;
        }
        // The third word is the state of the files on disk; `hold ok installed` and
        // `deinstall ok installed` are still installed.
        if words[2] != "installed" {
            return None;
        }
    } else if has_status {
        warnings.push(warning(
            path,
            stanza.line,
            format!("skipped `{name}`: no `Status`"),
        ));
        return None;
    }
    let Some(version) = stanza.first_line("Version") else {
        warnings.push(warning(
            path,
            stanza.line,
            format!("skipped `{name}`: no `Version`"),
        ));
        return None;
    };
    if !valid_name(name) {
        warnings.push(warning(
            path,
            stanza.line,
            format!("skipped `{}`: not a valid package name", truncate(name)),
        ));
        return None;
    }
    let mut package = Package::new(PackageManager::Dpkg, name, version);
    package.arch = stanza.first_line("Architecture").map(str::to_string);
    if let Some(source) = stanza.first_line("Source") {
        let (source_name, source_version) = match source.split_once('(') {
            Some((source_name, rest)) => (
                source_name.trim(),
                Some(rest.trim_end_matches(')').trim().to_string()),
            ),
            None => (source, None),
        };
        if source_name != name {
            package.source = Some(source_name.to_string());
        }
        package.source_version = source_version.filter(|source_version| source_version != version);
    }
    package.homepage = stanza.first_line("Homepage").map(str::to_string);
    package.supplier = stanza.first_line("Maintainer").map(str::to_string);
    Some(package)
}

/// Debian policy 5.6.1: lowercase letters, digits, `+`, `-`, `.`; at least two characters,
/// starting with an alphanumeric. Also keeps the name safe to use as a path component.
fn valid_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
}

/// The `License` short names of the `Files` paragraphs of a machine-readable
/// `usr/share/doc/<name>/copyright`; empty when there is none or it is free-form text.
fn copyright_licenses(root: &Path, name: &str) -> Result<Vec<String>, SbomError> {
    let relative = format!("usr/share/doc/{name}/copyright");
    let file = match rootfs::read(root, &relative) {
        Ok(file) => file,
        // A doc directory that is a broken or looping link is not worth failing an SBOM.
        Err(SbomError::SymlinkLoop { .. }) => None,
        Err(error) => return Err(error),
    };
    let Some((_, bytes)) = file else {
        return Ok(Vec::new());
    };
    Ok(dep5_licenses(&String::from_utf8_lossy(&bytes)))
}

/// The license names of a DEP-5 copyright file's `Files` paragraphs, in order, once each.
pub(crate) fn dep5_licenses(text: &str) -> Vec<String> {
    let (paragraphs, _) = paragraphs(text);
    let Some(header) = paragraphs.first() else {
        return Vec::new();
    };
    let format = header
        .first_line("Format")
        .or_else(|| header.first_line("Format-Specification"))
        .unwrap_or_default();
    if !(format.contains("copyright-format") || format.contains("dep5") || format.contains("DEP-5"))
    {
        return Vec::new();
    }
    let mut names: Vec<String> = Vec::new();
    for paragraph in &paragraphs {
        if paragraph.get("Files").is_none() {
            continue;
        }
        if let Some(license) = paragraph.first_line("License") {
            if !names.iter().any(|name| name == license) {
                names.push(license.to_string());
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_with_continuations_and_a_broken_one() {
        let text = "Package: a\nDescription: short\n long line\n .\n more\n\n\
                    garbage line\nPackage: b\n\nPackage: c\n";
        let (paragraphs, problems) = paragraphs(text);
        assert_eq!(paragraphs.len(), 2);
        assert_eq!(
            paragraphs[0].get("description"),
            Some("short\nlong line\n.\nmore")
        );
        assert_eq!(paragraphs[1].first_line("Package"), Some("c"));
        assert_eq!(paragraphs[1].line, 10);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, 7);
    }

    #[test]
    fn dep5_only_when_machine_readable() {
        let dep5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
                    Upstream-Name: x\n\nFiles: *\nCopyright: me\nLicense: GPL-2+\n\n\
                    Files: lib/*\nLicense: Expat\n\nFiles: more/*\nLicense: GPL-2+\n\n\
                    License: GPL-2+\n text of the license\n";
        assert_eq!(dep5_licenses(dep5), vec!["GPL-2+", "Expat"]);
        assert!(
            dep5_licenses("This is free software, see /usr/share/common-licenses/GPL.\n")
                .is_empty()
        );
        assert!(dep5_licenses("").is_empty());
    }

    #[test]
    fn package_names() {
        assert!(valid_name("libc6"));
        assert!(valid_name("g++-12"));
        assert!(!valid_name("../etc"));
        assert!(!valid_name("a"));
        assert!(!valid_name("Bad"));
    }
}
