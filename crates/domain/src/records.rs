//! The shapes of the DynamoDB records: the audit trail (`ProcessingLogs`) and the error log
//! (`csv-processing-errors`), as plain serde structs with no AWS types.
//!
//! Keys are deterministic, so that a retried batch or task rewrites the records it wrote before
//! instead of adding new ones: the audit record's sort key is the time of the change and the user,
//! and the error record's id is a hash of where the error happened and what it is.

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use crate::codes::{ErrorCode, Severity};
use crate::limits::{RECORD_MESSAGE_CHARS, cap};
use crate::reader::Problem;
use crate::rules::{Counts, RowError};
use crate::values::UserId;

/// How long both tables keep a record (seed 001: six months).
pub const RETENTION_DAYS: i64 = 180;

/// The `processingType` of an audit record of a statistics change.
pub const STATISTICS_UPDATE: &str = "statistics_update";

/// The `status` of an audit record of a change that was made.
pub const STATUS_SUCCESS: &str = "success";

/// The DynamoDB `ttl` value (epoch seconds) `days` days after `at`.
pub fn ttl_after(at: DateTime<Utc>, days: i64) -> i64 {
    (at + TimeDelta::days(days)).timestamp()
}

/// The execution and import an audit record belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub execution_name: String,
    pub execution_arn: Option<String>,
    pub import_id: i64,
    /// The import's as-of time (the object's LastModified, or the time in its key).
    pub as_of: DateTime<Utc>,
}

/// One change to a user's statistics, in table `ProcessingLogs` (seed 001 §4.2.2, extended with
/// both counts and the import that made the change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Partition key.
    pub execution_name: String,
    /// Sort key: `<changed_at, RFC 3339 with microseconds, UTC>#<userId>`.
    pub timestamp: String,
    pub user_id: UserId,
    /// Always [`STATISTICS_UPDATE`].
    pub processing_type: String,
    /// Absent when the user had no statistics before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_login_count: Option<i32>,
    pub new_login_count: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_post_count: Option<i32>,
    pub new_post_count: i32,
    /// Always [`STATUS_SUCCESS`]: only changes that were made are recorded.
    pub status: String,
    pub import_id: i64,
    /// The physical line of the row in the file, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The import's as-of time, RFC 3339.
    pub as_of: String,
    /// Epoch seconds at which DynamoDB deletes the record: [`RETENTION_DAYS`] after the change.
    pub ttl: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
}

impl AuditRecord {
    /// The audit record of a change the database made at `changed_at`. `old` is `None` when the
    /// user had no statistics before.
    pub fn statistics_update(
        context: &AuditContext,
        user_id: &UserId,
        line: Option<u64>,
        old: Option<Counts>,
        new: Counts,
        changed_at: DateTime<Utc>,
    ) -> AuditRecord {
        AuditRecord {
            execution_name: context.execution_name.clone(),
            timestamp: audit_sort_key(changed_at, user_id),
            user_id: user_id.clone(),
            processing_type: STATISTICS_UPDATE.to_owned(),
            old_login_count: old.map(|c| c.login_count.get()),
            new_login_count: new.login_count.get(),
            old_post_count: old.map(|c| c.post_count.get()),
            new_post_count: new.post_count.get(),
            status: STATUS_SUCCESS.to_owned(),
            import_id: context.import_id,
            line,
            as_of: context.as_of.to_rfc3339_opts(SecondsFormat::Secs, true),
            ttl: ttl_after(changed_at, RETENTION_DAYS),
            execution_arn: context.execution_arn.clone(),
        }
    }
}

/// The sort key of an audit record. The database keeps microseconds, so the same change read back
/// by a retried batch gives the same key.
pub fn audit_sort_key(changed_at: DateTime<Utc>, user_id: &UserId) -> String {
    format!(
        "{}#{}",
        changed_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        user_id
    )
}

/// The step of the pipeline an error was found in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProcessingStage {
    /// The `validate-csv` function.
    Validate,
    /// The `process-user-log` function (a distributed map batch).
    Apply,
    /// The `import-csv` task (the bulk path).
    Bulk,
    /// The state machine's distributed map (a failed batch, written by the state machine).
    Map,
    /// The `check-errors` function.
    Check,
    /// A stage name this version does not know, kept as written.
    Other(String),
}

impl ProcessingStage {
    /// The name stored in the record.
    pub fn as_str(&self) -> &str {
        match self {
            ProcessingStage::Validate => "validate",
            ProcessingStage::Apply => "apply",
            ProcessingStage::Bulk => "bulk",
            ProcessingStage::Map => "map",
            ProcessingStage::Check => "check",
            ProcessingStage::Other(name) => name,
        }
    }

    /// Reads a stored name; unknown names are kept as [`ProcessingStage::Other`].
    pub fn from_name(name: &str) -> ProcessingStage {
        match name {
            "validate" => ProcessingStage::Validate,
            "apply" => ProcessingStage::Apply,
            "bulk" => ProcessingStage::Bulk,
            "map" => ProcessingStage::Map,
            "check" => ProcessingStage::Check,
            other => ProcessingStage::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ProcessingStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ProcessingStage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProcessingStage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(ProcessingStage::from_name(&name))
    }
}

/// Where in the file an error is. Only these three values are ever stored: never the row's
/// content, which may hold personal data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The field (1-based) when the error is in one field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

/// Who writes an error record, when, and for which execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorSource {
    pub execution_name: String,
    pub stage: ProcessingStage,
    pub import_id: Option<i64>,
    /// The time the error belongs to. It is part of the table's key: pass a time that is the same
    /// on every attempt of the work (the execution's start time, or the import's claim time), so
    /// that a retry overwrites the record instead of adding one.
    pub at: DateTime<Utc>,
    /// How many times the work had been retried when the error was found.
    pub retry_count: u32,
}

/// One error, in table `csv-processing-errors` (seed 003 §3.2).
///
/// Reading is lenient, since the state machine writes records too: an unknown `errorType` or
/// `processingStage` is kept as written, and a missing or unknown `severity` reads as `MEDIUM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRecord {
    /// Partition key: see [`error_id`].
    pub error_id: String,
    /// Sort key: RFC 3339.
    pub timestamp: String,
    /// Key of the `ExecutionName-index` index.
    pub execution_name: String,
    /// The [`ErrorCode`] name, for records this pipeline's code writes.
    pub error_type: String,
    #[serde(default = "medium", deserialize_with = "lenient_severity")]
    pub severity: Severity,
    #[serde(default)]
    pub error_message: String,
    #[serde(default)]
    pub record_data: RecordData,
    pub processing_stage: ProcessingStage,
    #[serde(default)]
    pub retry_count: u32,
    #[serde(default)]
    pub ttl: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_id: Option<i64>,
}

fn medium() -> Severity {
    Severity::Medium
}

fn lenient_severity<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Severity, D::Error> {
    let name = Option::<String>::deserialize(deserializer)?;
    Ok(name
        .as_deref()
        .and_then(parse_severity)
        .unwrap_or(Severity::Medium))
}

/// Reads a severity name, in any case.
pub fn parse_severity(name: &str) -> Option<Severity> {
    [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ]
    .into_iter()
    .find(|s| s.as_str().eq_ignore_ascii_case(name.trim()))
}

/// The deterministic id of an error record: the hex SHA-256 of the execution, the stage, where the
/// error is (`locator`: a line, a user or the execution), the error type and a `detail` that
/// separates errors that would otherwise share all of these (empty when none can).
///
/// Each part is length-prefixed, so no two different inputs hash alike.
pub fn error_id(
    execution_name: &str,
    stage: &ProcessingStage,
    locator: &str,
    error_type: &str,
    detail: &str,
) -> String {
    let mut hasher = Sha256::new();
    for part in [execution_name, stage.as_str(), locator, error_type, detail] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

impl ErrorRecord {
    fn build(
        source: &ErrorSource,
        code: ErrorCode,
        message: &str,
        record_data: RecordData,
        locator: &str,
        detail: &str,
    ) -> ErrorRecord {
        ErrorRecord {
            error_id: error_id(
                &source.execution_name,
                &source.stage,
                locator,
                code.as_str(),
                detail,
            ),
            timestamp: source.at.to_rfc3339_opts(SecondsFormat::Millis, true),
            execution_name: source.execution_name.clone(),
            error_type: code.as_str().to_owned(),
            severity: code.severity(),
            error_message: cap(message, RECORD_MESSAGE_CHARS),
            record_data,
            processing_stage: source.stage.clone(),
            retry_count: source.retry_count,
            ttl: ttl_after(source.at, RETENTION_DAYS),
            import_id: source.import_id,
        }
    }

    /// The record of a problem the validator found in the file.
    ///
    /// Two problems may share a line, a column and a code (two missing columns of the header), so
    /// the message is part of the id; the validator's messages are the same on every run.
    pub fn from_problem(source: &ErrorSource, problem: &Problem) -> ErrorRecord {
        let locator = match problem.column {
            Some(column) => format!("line:{}:column:{column}", problem.line),
            None => format!("line:{}", problem.line),
        };
        let data = RecordData {
            line: Some(problem.line),
            user_id: None,
            column: problem.column,
        };
        ErrorRecord::build(
            source,
            problem.code,
            &problem.message,
            data,
            &locator,
            &problem.message,
        )
    }

    /// The record of a row that could not be applied.
    pub fn from_row_error(source: &ErrorSource, error: &RowError) -> ErrorRecord {
        let locator = match (error.line, &error.user_id) {
            (Some(line), _) => format!("line:{line}"),
            (None, Some(user_id)) => format!("user:{user_id}"),
            (None, None) => "file".to_owned(),
        };
        let data = RecordData {
            line: error.line,
            user_id: error.user_id.as_ref().map(|u| u.as_str().to_owned()),
            column: None,
        };
        ErrorRecord::build(source, error.code, &error.message, data, &locator, "")
    }

    /// The record of a failure of a whole step (a task, a batch, the check itself). One such
    /// record per execution, stage and code.
    pub fn failure(source: &ErrorSource, code: ErrorCode, message: &str) -> ErrorRecord {
        ErrorRecord::build(
            source,
            code,
            message,
            RecordData::default(),
            "execution",
            "",
        )
    }

    /// Stands in for a stored item that could not be read, so that it is still counted and shown.
    pub fn unreadable(
        execution_name: &str,
        error_id: Option<&str>,
        timestamp: Option<&str>,
        reason: &str,
    ) -> ErrorRecord {
        ErrorRecord {
            error_id: error_id.unwrap_or_default().to_owned(),
            timestamp: timestamp.unwrap_or_default().to_owned(),
            execution_name: execution_name.to_owned(),
            error_type: UNREADABLE_RECORD.to_owned(),
            severity: Severity::High,
            error_message: cap(
                &format!("an error record could not be read: {reason}"),
                RECORD_MESSAGE_CHARS,
            ),
            record_data: RecordData::default(),
            processing_stage: ProcessingStage::Check,
            retry_count: 0,
            ttl: 0,
            import_id: None,
        }
    }

    /// The error code, when the type is one of this pipeline's codes.
    pub fn code(&self) -> Option<ErrorCode> {
        self.error_type.parse().ok()
    }

    /// Whether the error is about one row (counted against the import's tolerance).
    pub fn is_row_error(&self) -> bool {
        self.code().is_some_and(ErrorCode::is_row_error)
    }
}

/// The `errorType` of [`ErrorRecord::unreadable`].
pub const UNREADABLE_RECORD: &str = "UnreadableErrorRecord";

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::values::Count;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn counts(login: i32, post: i32) -> Counts {
        Counts {
            login_count: Count::new(login).unwrap(),
            post_count: Count::new(post).unwrap(),
        }
    }

    fn source(stage: ProcessingStage) -> ErrorSource {
        ErrorSource {
            execution_name: "exec-1".into(),
            stage,
            import_id: Some(7),
            at: at("2026-01-02T03:04:05.678Z"),
            retry_count: 1,
        }
    }

    /// Renders a record as the JSON that is stored.
    fn check<T: Serialize>(record: &T, expected: &Expect) {
        expected.assert_eq(&serde_json::to_string_pretty(record).unwrap());
    }

    #[test]
    fn ttl_is_days_after_in_epoch_seconds() {
        assert_eq!(ttl_after(at("1970-01-01T00:00:00Z"), 1), 86_400);
        assert_eq!(
            ttl_after(at("2026-01-01T00:00:00Z"), 180) - at("2026-01-01T00:00:00Z").timestamp(),
            180 * 86_400
        );
    }

    #[test]
    fn audit_record_of_an_update() {
        let context = AuditContext {
            execution_name: "exec-1".into(),
            execution_arn: Some(
                "arn:aws:states:ap-northeast-1:000000000000:execution:import:exec-1".into(),
            ),
            import_id: 7,
            as_of: at("2026-01-01T00:00:00Z"),
        };
        let user = UserId::parse("U00001").unwrap();
        let changed_at = at("2026-01-02T03:04:05.123456789Z");
        let record = AuditRecord::statistics_update(
            &context,
            &user,
            Some(2),
            Some(counts(10, 3)),
            counts(12, 4),
            changed_at,
        );
        check(
            &record,
            &expect![[r#"
                {
                  "executionName": "exec-1",
                  "timestamp": "2026-01-02T03:04:05.123456Z#U00001",
                  "userId": "U00001",
                  "processingType": "statistics_update",
                  "oldLoginCount": 10,
                  "newLoginCount": 12,
                  "oldPostCount": 3,
                  "newPostCount": 4,
                  "status": "success",
                  "importId": 7,
                  "line": 2,
                  "asOf": "2026-01-01T00:00:00Z",
                  "ttl": 1782875045,
                  "executionArn": "arn:aws:states:ap-northeast-1:000000000000:execution:import:exec-1"
                }"#]],
        );
    }

    #[test]
    fn audit_record_of_a_new_user_has_no_old_counts() {
        let context = AuditContext {
            execution_name: "e".into(),
            execution_arn: None,
            import_id: 1,
            as_of: at("2026-01-01T00:00:00Z"),
        };
        let user = UserId::parse("U2").unwrap();
        let record = AuditRecord::statistics_update(
            &context,
            &user,
            None,
            None,
            counts(1, 2),
            at("2026-01-02T00:00:00Z"),
        );
        check(
            &record,
            &expect![[r#"
                {
                  "executionName": "e",
                  "timestamp": "2026-01-02T00:00:00.000000Z#U2",
                  "userId": "U2",
                  "processingType": "statistics_update",
                  "newLoginCount": 1,
                  "newPostCount": 2,
                  "status": "success",
                  "importId": 1,
                  "asOf": "2026-01-01T00:00:00Z",
                  "ttl": 1782864000
                }"#]],
        );
        let back: AuditRecord =
            serde_json::from_value(serde_json::to_value(&record).unwrap()).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn error_record_of_a_row_error() {
        let error = RowError {
            line: Some(12),
            user_id: Some(UserId::parse("U9").unwrap()),
            code: ErrorCode::UserNotFound,
            message: "the user `U9` does not exist".into(),
        };
        check(
            &ErrorRecord::from_row_error(&source(ProcessingStage::Apply), &error),
            &expect![[r#"
                {
                  "errorId": "819d31c2d96681ccaafe5a017ce8d51fc4067cfa201c66aa4ac254be88488e91",
                  "timestamp": "2026-01-02T03:04:05.678Z",
                  "executionName": "exec-1",
                  "errorType": "UserNotFound",
                  "severity": "MEDIUM",
                  "errorMessage": "the user `U9` does not exist",
                  "recordData": {
                    "line": 12,
                    "userId": "U9"
                  },
                  "processingStage": "apply",
                  "retryCount": 1,
                  "ttl": 1782875045,
                  "importId": 7
                }"#]],
        );
    }

    #[test]
    fn error_record_of_a_problem_and_of_a_failure() {
        let problem = Problem::new(
            3,
            Some(2),
            ErrorCode::BadCount,
            "login_count: `x` is not a whole number",
        );
        let record = ErrorRecord::from_problem(&source(ProcessingStage::Validate), &problem);
        assert_eq!(
            (
                record.severity,
                record.record_data.line,
                record.record_data.column
            ),
            (Severity::High, Some(3), Some(2))
        );
        let failure = ErrorRecord::failure(
            &source(ProcessingStage::Bulk),
            ErrorCode::ImportFailed,
            "the task stopped",
        );
        assert_eq!(
            (failure.severity, failure.record_data.clone()),
            (Severity::Critical, RecordData::default())
        );
        check(
            &failure,
            &expect![[r#"
                {
                  "errorId": "147bd5e10aaed14d05f015e7627a31319e266e93f964120f76e087b42b5ffdd0",
                  "timestamp": "2026-01-02T03:04:05.678Z",
                  "executionName": "exec-1",
                  "errorType": "ImportFailed",
                  "severity": "CRITICAL",
                  "errorMessage": "the task stopped",
                  "recordData": {},
                  "processingStage": "bulk",
                  "retryCount": 1,
                  "ttl": 1782875045,
                  "importId": 7
                }"#]],
        );
    }

    #[test]
    fn ids_are_stable_across_retries_and_separate_distinct_errors() {
        let first = source(ProcessingStage::Apply);
        let retried = ErrorSource {
            retry_count: 2,
            ..first.clone()
        };
        let error = RowError {
            line: Some(5),
            user_id: None,
            code: ErrorCode::UserNotFound,
            message: "m".into(),
        };
        let a = ErrorRecord::from_row_error(&first, &error);
        let b = ErrorRecord::from_row_error(&retried, &error);
        assert_eq!((&a.error_id, &a.timestamp), (&b.error_id, &b.timestamp));

        let other_line = RowError {
            line: Some(6),
            ..error.clone()
        };
        assert_ne!(
            ErrorRecord::from_row_error(&first, &other_line).error_id,
            a.error_id
        );
        let other_stage = ErrorSource {
            stage: ProcessingStage::Bulk,
            ..first.clone()
        };
        assert_ne!(
            ErrorRecord::from_row_error(&other_stage, &error).error_id,
            a.error_id
        );

        // Two header problems on the same line, with no column and the same code.
        let validate = source(ProcessingStage::Validate);
        let missing_login = Problem::new(
            1,
            None,
            ErrorCode::MissingColumn,
            "the header has no `login_count` column",
        );
        let missing_post = Problem::new(
            1,
            None,
            ErrorCode::MissingColumn,
            "the header has no `post_count` column",
        );
        assert_ne!(
            ErrorRecord::from_problem(&validate, &missing_login).error_id,
            ErrorRecord::from_problem(&validate, &missing_post).error_id
        );
    }

    #[test]
    fn reading_is_lenient_about_what_others_write() {
        let item = serde_json::json!({
            "errorId": "x",
            "timestamp": "2026-01-02T03:04:05Z",
            "executionName": "exec-1",
            "errorType": "States.TaskFailed",
            "severity": "critical",
            "errorMessage": "batch 3 failed",
            "recordData": {"line": 4, "userId": "U1", "loginCount": 99, "email": "a@example.com"},
            "processingStage": "distributed-map"
        });
        let record: ErrorRecord = serde_json::from_value(item).unwrap();
        assert_eq!(record.severity, Severity::Critical);
        assert_eq!(
            record.processing_stage,
            ProcessingStage::Other("distributed-map".into())
        );
        assert_eq!(record.code(), None);
        assert_eq!(
            record.record_data,
            RecordData {
                line: Some(4),
                user_id: Some("U1".into()),
                column: None
            }
        );

        let bare = serde_json::json!({
            "errorId": "y", "timestamp": "t", "executionName": "e", "errorType": "UserNotFound", "processingStage": "apply"
        });
        let record: ErrorRecord = serde_json::from_value(bare).unwrap();
        assert_eq!(
            (record.severity, record.retry_count, record.is_row_error()),
            (Severity::Medium, 0, true)
        );
        let unknown = serde_json::json!({
            "errorId": "z", "timestamp": "t", "executionName": "e", "errorType": "X", "severity": "SEVERE", "processingStage": "map"
        });
        assert_eq!(
            serde_json::from_value::<ErrorRecord>(unknown)
                .unwrap()
                .severity,
            Severity::Medium
        );
    }
}
