//! Helpers shared by the readers: versions, dates, platforms, checksum files.

use imagesmith_index::{compare, Release};
use std::collections::BTreeMap;

/// Sorts by version, drops repeats (the first seen wins).
pub(crate) fn normalize(releases: &mut Vec<Release>) {
    for release in releases.iter_mut() {
        release.version = strip_v(&release.version).to_string();
    }
    // Stable sort keeps the first seen of equal versions first.
    releases.sort_by(|a, b| compare(&a.version, &b.version));
    releases.dedup_by(|b, a| a.version == b.version);
}

/// `v1.2.3` → `1.2.3`.
pub(crate) fn strip_v(version: &str) -> &str {
    match version.strip_prefix(['v', 'V']) {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => version,
    }
}

/// Whether the version is dot-separated numbers (`1.6.6`, `21.0.5.11.1`).
pub(crate) fn is_numeric_version(version: &str) -> bool {
    !version.is_empty()
        && version
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a SemVer-style version is a pre-release (`1.7.0-beta1`, `2.0.0-rc.1`).
pub(crate) fn is_semver_prerelease(version: &str) -> bool {
    let core = version.split('+').next().unwrap_or(version);
    core.contains('-')
}

/// The `YYYY-MM-DD` of an RFC 3339 timestamp (`2024-02-14T18:13:07Z`).
pub(crate) fn date_of(timestamp: &str) -> Option<String> {
    let date = timestamp.get(..10)?;
    let b = date.as_bytes();
    let ok = b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    ok.then(|| date.to_string())
}

/// The `<family>/<arch>` key of a download name, when it names both recognizably
/// (`tool_1.2.3_linux_amd64.tar.gz` → `linux/x86_64`).
pub(crate) fn platform_key(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .flat_map(|w| w.split('_'))
        .collect();
    // `x86_64` is split at its underscore above: look for the pair too.
    let has = |w: &str| words.contains(&w);
    let family = if has("linux") {
        "linux"
    } else if has("windows") || has("win") || has("win64") {
        "windows"
    } else if has("darwin") || has("macos") || has("osx") {
        "darwin"
    } else {
        return None;
    };
    let x86 = has("amd64")
        || has("x64")
        || has("win64")
        || lower.contains("x86_64")
        || lower.contains("x86-64");
    let arm = has("arm64") || has("aarch64");
    let arch = match (x86, arm) {
        (true, false) => "x86_64",
        (false, true) => "arm64",
        _ => return None,
    };
    Some(format!("{family}/{arch}"))
}

/// The lines `<hex>  <file>` (or `<hex> *<file>`) of a SHA256SUMS-style file, by file name.
pub(crate) fn parse_checksums(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(hex), Some(file)) = (parts.next(), parts.next()) else {
            continue;
        };
        if is_sha256(hex) {
            let file = file.trim_start_matches('*');
            let file = file.rsplit('/').next().unwrap_or(file);
            out.insert(file.to_string(), hex.to_ascii_lowercase());
        }
    }
    out
}

/// Whether `text` is 64 hex digits.
pub(crate) fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The releases ranked newest first: the index of each in `versions` sorted descending.
pub(crate) fn newest_first(versions: &[&str]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..versions.len()).collect();
    order.sort_by(|&a, &b| compare(versions[b], versions[a]));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        for (name, key) in [
            ("gh_2.40.0_linux_amd64.tar.gz", Some("linux/x86_64")),
            ("tool-1.0-linux-arm64.tar.gz", Some("linux/arm64")),
            (
                "tool-1.0-x86_64-unknown-linux-musl.tar.gz",
                Some("linux/x86_64"),
            ),
            (
                "tool-1.0-aarch64-unknown-linux-gnu.tar.gz",
                Some("linux/arm64"),
            ),
            ("tool_1.0_windows_amd64.zip", Some("windows/x86_64")),
            ("tool-win-x64.zip", Some("windows/x86_64")),
            ("tool_darwin_arm64.tar.gz", Some("darwin/arm64")),
            ("checksums.txt", None),
            ("tool_linux_386.tar.gz", None),
        ] {
            assert_eq!(platform_key(name).as_deref(), key, "{name}");
        }
    }

    #[test]
    fn versions_and_dates() {
        assert_eq!(strip_v("v1.2.3"), "1.2.3");
        assert_eq!(strip_v("vendor"), "vendor");
        assert!(is_semver_prerelease("1.7.0-beta1"));
        assert!(!is_semver_prerelease("1.7.0+ent"));
        assert_eq!(
            date_of("2024-02-14T18:13:07Z").as_deref(),
            Some("2024-02-14")
        );
        assert_eq!(date_of("2024"), None);
        assert_eq!(date_of("2024/02/14T"), None);
        assert!(is_numeric_version("21.0.5.11.1"));
        assert!(!is_numeric_version("latest"));
        assert!(!is_numeric_version("1..2"));
    }

    #[test]
    fn checksum_lines() {
        let a = "a".repeat(64);
        let text = format!("{a}  tool_linux_amd64.tar.gz\n{a} *dist/tool.zip\nnot a line\n");
        let sums = parse_checksums(&text);
        assert_eq!(sums.len(), 2);
        assert!(sums.contains_key("tool.zip"));
    }
}
