//! Version ordering and prefixes.

use std::cmp::Ordering;

/// Orders versions by their parts (split at `.`, `-`, `+` and `~`), numerically where both
/// parts are numbers (`3.9 < 3.10`, `1.10.2 > 1.9.1`).
pub fn compare(a: &str, b: &str) -> Ordering {
    let mut left = a.split(['.', '-', '+', '~']);
    let mut right = b.split(['.', '-', '+', '~']);
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ordering = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => x.cmp(y),
                };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
        }
    }
}

/// Whether `version` is `prefix` or continues it at a part boundary (`3.12` → `3.12.8`, not
/// `3.120`).
pub fn prefix_matches(prefix: &str, version: &str) -> bool {
    match version.strip_prefix(prefix) {
        Some("") => true,
        Some(rest) => rest.starts_with(['.', '-', '+', '~']),
        None => false,
    }
}
