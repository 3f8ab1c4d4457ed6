//! The per-step log, shaped like AWSTOE's `detailedoutput.json`, with secrets redacted.

use serde::Serialize;
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StepStatus {
    /// It ran and succeeded.
    Success,
    /// It failed (after every attempt).
    Failed,
    /// It failed with `onFailure: Ignore`.
    IgnoredFailure,
    /// Its `if` skipped it (counted as a success).
    Skipped,
}

/// How a phase or document ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// Every step succeeded or was skipped.
    Success,
    /// A step failed.
    Failed,
    /// Only ignored failures.
    SuccessWithIgnoredFailure,
}

impl Status {
    /// Whether the run counts as successful.
    pub fn is_success(self) -> bool {
        self != Status::Failed
    }
}

/// One step's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepLog {
    /// The step name.
    pub name: String,
    /// The action module.
    pub action: String,
    /// How it ended.
    pub status: StepStatus,
    /// Why it failed; empty on success.
    pub failure_message: String,
    /// The timeout applied to each attempt (-1: none).
    pub timeout_seconds: i64,
    /// `Abort`, `Continue` or `Ignore`.
    pub on_failure: String,
    /// The attempts allowed.
    pub max_attempts: i64,
    /// The attempts made.
    pub attempts: u32,
    /// When it started (RFC 3339, UTC).
    pub start_time: String,
    /// When it ended (RFC 3339, UTC).
    pub end_time: String,
    /// The inputs after substitution (of the last iteration), secrets redacted.
    pub inputs: Value,
    /// The outputs (`{"stdout": …}`), secrets redacted.
    pub outputs: Value,
    /// The loop as written, if any.
    #[serde(rename = "loop")]
    pub loop_: Option<Value>,
    /// Standard output of the commands it ran, secrets redacted.
    pub stdout: String,
    /// Standard error of the commands it ran, secrets redacted.
    pub stderr: String,
    /// What imagesmith did differently from AWSTOE on an instance (a reboot in a container).
    pub notes: Vec<String>,
}

/// One phase's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseLog {
    /// The phase name.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// When it started.
    pub start_time: String,
    /// When it ended.
    pub end_time: String,
    /// The first failure, empty on success.
    pub failure_message: String,
    /// The steps that ran (steps after an aborting failure are not listed).
    pub steps: Vec<StepLog>,
}

impl PhaseLog {
    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&StepLog> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// A document run's record, like AWSTOE's `detailedoutput.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentLog {
    /// The document name.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// When it started.
    pub start_time: String,
    /// When it ended.
    pub end_time: String,
    /// The first failure, empty on success.
    pub failure_message: String,
    /// The phases that ran.
    pub phases: Vec<PhaseLog>,
}

impl DocumentLog {
    /// The log as pretty-printed JSON, the form kept with the build.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Replaces secret values with `****` wherever they appear.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

/// What a secret is replaced with.
pub const REDACTED: &str = "****";

impl Redactor {
    /// A redactor for these values (empty values are ignored; longer ones are replaced
    /// first so a secret containing another is hidden whole).
    pub fn new(secrets: &[String]) -> Self {
        let mut secrets: Vec<String> = secrets.iter().filter(|s| !s.is_empty()).cloned().collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// The text with every secret replaced.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// Every string inside the value, redacted.
    pub fn value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.text(k), self.value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// A time as RFC 3339 in UTC with milliseconds (`2024-05-01T12:00:00.000Z`).
pub fn timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let rest = seconds % 86_400;
    // Howard Hinnant's days-to-civil conversion.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_millis(1_709_251_199_250)),
            "2024-02-29T23:59:59.250Z"
        );
    }

    #[test]
    fn redaction() {
        let r = Redactor::new(&["abc".into(), "abcdef".into(), String::new()]);
        assert_eq!(r.text("x abcdef y abc"), "x **** y ****");
        let v = r.value(&serde_json::json!({"k": ["abc"]}));
        assert_eq!(v, serde_json::json!({"k": ["****"]}));
    }
}
