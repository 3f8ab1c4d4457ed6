//! Today's date without a calendar crate: end-of-life checks need only `YYYY-MM-DD`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Today's date as `YYYY-MM-DD` (UTC).
///
/// `IMAGESMITH_TODAY=YYYY-MM-DD` overrides it (tests and reproducible CI runs), then
/// `SOURCE_DATE_EPOCH`, then the system clock.
pub fn today() -> String {
    if let Ok(value) = std::env::var("IMAGESMITH_TODAY") {
        if imagesmith_model::decode::is_date(&value) {
            return value;
        }
    }
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    date_of_unix_seconds(seconds)
}

/// The UTC date of a Unix time, `YYYY-MM-DD` (Howard Hinnant's civil-from-days).
pub fn date_of_unix_seconds(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(date_of_unix_seconds(0), "1970-01-01");
        assert_eq!(date_of_unix_seconds(1_700_000_000), "2023-11-14");
        assert_eq!(date_of_unix_seconds(951_782_400), "2000-02-29");
    }
}
