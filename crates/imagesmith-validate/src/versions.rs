//! Version text: syntax forms, patterns and ordering.

use imagesmith_model::{VersionSyntax, VersionText};

/// Whether `version` is written in `syntax`.
pub fn syntax_matches(syntax: VersionSyntax, version: &str) -> bool {
    let numbers = |min: usize, max: usize| {
        let parts: Vec<&str> = version.split('.').collect();
        (min..=max).contains(&parts.len())
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 12 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    match syntax {
        VersionSyntax::Semver => numbers(3, 3),
        VersionSyntax::MajorMinor => numbers(2, 2),
        VersionSyntax::Major => numbers(1, 1),
        VersionSyntax::Dotted => numbers(1, 4),
        VersionSyntax::Package => {
            version.as_bytes().first().is_some_and(u8::is_ascii_digit)
                && version.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~' | b':' | b'-')
                })
        }
    }
}

/// Whether `version` matches `pattern`: equal, or `pattern` ends in `*` and is a prefix
/// (`1.8.*` matches `1.8.2`; `3.*` matches `3.10`).
pub fn pattern_matches(pattern: &str, version: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => version.starts_with(prefix),
        None => pattern == version,
    }
}

/// Whether any of `patterns` matches `version`.
pub fn any_matches(patterns: &[VersionText], version: &str) -> bool {
    patterns
        .iter()
        .any(|p| pattern_matches(p.as_str(), version))
}

pub use imagesmith_index::compare;

/// The newest exact version in `patterns` (patterns with `*` are skipped).
pub fn newest(patterns: &[VersionText]) -> Option<&VersionText> {
    patterns
        .iter()
        .filter(|p| !p.as_str().ends_with('*'))
        .max_by(|a, b| compare(a.as_str(), b.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn syntaxes() {
        assert!(syntax_matches(VersionSyntax::MajorMinor, "3.10"));
        assert!(!syntax_matches(VersionSyntax::MajorMinor, "3.10.1"));
        assert!(syntax_matches(VersionSyntax::Semver, "1.8.2"));
        assert!(!syntax_matches(VersionSyntax::Semver, "1.8"));
        assert!(syntax_matches(VersionSyntax::Dotted, "1.247354.0"));
        assert!(syntax_matches(VersionSyntax::Major, "21"));
        assert!(syntax_matches(VersionSyntax::Package, "1:2.9.19-1"));
        assert!(!syntax_matches(VersionSyntax::Package, "latest"));
    }

    #[test]
    fn patterns_and_order() {
        assert!(pattern_matches("1.8.*", "1.8.2"));
        assert!(!pattern_matches("1.8.*", "1.9.0"));
        assert!(pattern_matches("3.10", "3.10"));
        assert_eq!(compare("3.9", "3.10"), Ordering::Less);
        assert_eq!(compare("1.10.2", "1.9.1"), Ordering::Greater);
        let list: Vec<VersionText> = ["1.5.0", "1.10.2", "1.9.*", "1.8.0"]
            .iter()
            .map(|s| VersionText::from(*s))
            .collect();
        assert_eq!(newest(&list).unwrap().as_str(), "1.10.2");
    }
}
