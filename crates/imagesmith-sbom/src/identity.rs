//! Deterministic identifiers and timestamps: the same input always gives the same SBOM.

use sha1::Digest as _;

use crate::Package;

/// RFC 4122 namespace for URLs (`6ba7b811-9dad-11d1-80b4-00c04fd430c8`).
const URL_NAMESPACE: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

/// A name-based (version 5) UUID for an image digest: stable across runs and machines.
pub(crate) fn image_uuid(digest: &str) -> String {
    let mut hasher = sha1::Sha1::new();
    hasher.update(URL_NAMESPACE);
    hasher.update(format!("imagesmith:sbom:{digest}").as_bytes());
    let hash = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (the only form SPDX accepts), capped
/// at the last second of year 9999.
pub(crate) fn rfc3339(seconds: u64) -> String {
    const MAX: u64 = 253_402_300_799;
    let seconds = seconds.min(MAX);
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Howard Hinnant's `civil_from_days`: the proleptic Gregorian date of a day count.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Keeps `[A-Za-z0-9.-]` (what SPDX identifiers allow) and replaces the rest with `-`.
pub(crate) fn spdx_safe(text: &str) -> String {
    let safe: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if safe.is_empty() {
        "x".to_string()
    } else {
        safe
    }
}

/// A short stable hash, to keep identifiers unique when sanitizing makes names collide.
pub(crate) fn short_hash(parts: &[&str]) -> String {
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..6])
}

/// The identity of a package for identifiers: every field that can tell two entries apart.
pub(crate) fn package_key(package: &Package) -> String {
    format!(
        "{}\0{}\0{}\0{}\0{}",
        package.manager.purl_type(),
        package.name,
        package.version,
        package
            .epoch
            .map(|epoch| epoch.to_string())
            .unwrap_or_default(),
        package.arch.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn uuids_are_version_5_and_stable() {
        let uuid = image_uuid("sha256:abc");
        assert_eq!(uuid, image_uuid("sha256:abc"));
        assert_ne!(uuid, image_uuid("sha256:abd"));
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "5");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn spdx_safe_names() {
        assert_eq!(spdx_safe("libstdc++6"), "libstdc--6");
        assert_eq!(spdx_safe(""), "x");
    }
}
