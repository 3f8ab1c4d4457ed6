//! `os-release(5)`.

use std::path::Path;

use crate::{rootfs, OsRelease, SbomError};

/// Reads `etc/os-release`, falling back to `usr/lib/os-release` as systemd does.
pub(crate) fn read(root: &Path) -> Result<Option<OsRelease>, SbomError> {
    for candidate in ["etc/os-release", "usr/lib/os-release"] {
        if let Some((_, bytes)) = rootfs::read(root, candidate)? {
            return Ok(parse_os_release(&String::from_utf8_lossy(&bytes)));
        }
    }
    Ok(None)
}

/// Parses the text of an `os-release` file; `None` when it has no `ID`.
///
/// Values may be bare, or quoted with `"` or `'`; backslash escapes inside double quotes are
/// honoured. Lines that are not assignments are ignored, as the format asks.
pub fn parse_os_release(text: &str) -> Option<OsRelease> {
    let mut release = OsRelease::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        let value = (!value.is_empty()).then_some(value);
        match key.trim() {
            "ID" => release.id = value.unwrap_or_default(),
            "VERSION_ID" => release.version_id = value,
            "VERSION_CODENAME" => release.version_codename = value,
            "PRETTY_NAME" => release.pretty_name = value,
            _ => {}
        }
    }
    (!release.id.is_empty()).then_some(release)
}

fn unquote(value: &str) -> String {
    let mut chars = value.chars();
    match chars.next() {
        Some(quote @ ('"' | '\'')) => {
            let mut out = String::new();
            let mut escaped = false;
            for c in chars {
                if escaped {
                    out.push(c);
                    escaped = false;
                } else if c == '\\' && quote == '"' {
                    escaped = true;
                } else if c == quote {
                    break;
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_and_amazon_linux() {
        let debian = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
             VERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n",
        )
        .unwrap();
        assert_eq!(debian.id, "debian");
        assert_eq!(debian.version_id.as_deref(), Some("12"));
        assert_eq!(debian.version_codename.as_deref(), Some("bookworm"));
        assert_eq!(debian.distro(), "debian-12");

        let amazon = parse_os_release(
            "NAME='Amazon Linux'\nVERSION_ID=\"2023\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\n",
        )
        .unwrap();
        assert_eq!(amazon.distro(), "amzn-2023");
    }

    #[test]
    fn no_id_is_none() {
        assert_eq!(parse_os_release("garbage\nNAME=x\n"), None);
        assert_eq!(parse_os_release(""), None);
    }

    #[test]
    fn escapes_in_double_quotes() {
        let release = parse_os_release("ID=x\nPRETTY_NAME=\"a \\\"b\\\" c\"").unwrap();
        assert_eq!(release.pretty_name.as_deref(), Some("a \"b\" c"));
    }
}
