//! The function's input, read defensively: the state machine passes the whole state, in which
//! `validation` and `failure` are often absent, and a field of an unexpected type is treated as
//! absent rather than failing the check.
//!
//! ```json
//! {"state": {"bucket": "...", "key": "...", "etag": "...", "size": 123, "eventTime": "...",
//!            "validation": {"isValid": true, "duplicate": false, "rowCount": 1000, "importId": 7,
//!                           "errorCount": 0, "errors": []},
//!            "failure": {"Error": "...", "Cause": "..."}},
//!  "executionName": "...", "executionArn": "...", "startTime": "..."}
//! ```

use serde_json::Value;
use userlog_domain::reader::Problem;

/// What the state machine's failure Catch put in the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaughtError {
    pub error: String,
    pub cause: String,
}

/// What `validate-csv` reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    pub is_valid: Option<bool>,
    pub duplicate: bool,
    pub row_count: Option<u64>,
    pub import_id: Option<i64>,
    pub error_count: Option<u64>,
    /// The first problems, as far as they read as problems.
    pub problems: Vec<Problem>,
}

/// The function's input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckInput {
    pub execution_name: Option<String>,
    pub execution_arn: Option<String>,
    pub start_time: Option<String>,
    pub bucket: String,
    pub key: String,
    pub validation: Option<Validation>,
    pub failure: Option<CaughtError>,
}

fn text(value: &Value, path: &[&str]) -> Option<String> {
    let mut current = value;
    for name in path {
        current = current.get(name)?;
    }
    current
        .as_str()
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

fn number(value: &Value, name: &str) -> Option<u64> {
    let field = value.get(name)?;
    field
        .as_u64()
        .or_else(|| field.as_str().and_then(|s| s.trim().parse().ok()))
}

impl CheckInput {
    pub fn from_event(event: &Value) -> CheckInput {
        let empty = Value::Null;
        let state = event.get("state").unwrap_or(&empty);
        CheckInput {
            execution_name: text(event, &["executionName"]),
            execution_arn: text(event, &["executionArn"]),
            start_time: text(event, &["startTime"]),
            // The state as the rule's input transformer shapes it, or the raw S3 event.
            bucket: text(state, &["bucket"])
                .or_else(|| text(state, &["detail", "bucket", "name"]))
                .unwrap_or_default(),
            key: text(state, &["key"])
                .or_else(|| text(state, &["detail", "object", "key"]))
                .unwrap_or_default(),
            validation: state
                .get("validation")
                .filter(|v| v.is_object())
                .map(|v| read_validation(v, state)),
            failure: state
                .get("failure")
                .filter(|f| f.is_object())
                .map(read_failure),
        }
    }

    /// The import's ledger id, when the validation claimed one.
    pub fn import_id(&self) -> Option<i64> {
        self.validation.as_ref().and_then(|v| v.import_id)
    }
}

fn read_validation(validation: &Value, state: &Value) -> Validation {
    let problems = validation
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| serde_json::from_value::<Problem>(e.clone()).ok())
                .collect()
        })
        .unwrap_or_default();
    let import_id = validation
        .get("importId")
        .or_else(|| state.get("importId"))
        .and_then(Value::as_i64);
    Validation {
        is_valid: validation.get("isValid").and_then(Value::as_bool),
        duplicate: validation
            .get("duplicate")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        row_count: number(validation, "rowCount"),
        import_id,
        error_count: number(validation, "errorCount"),
        problems,
    }
}

fn read_failure(failure: &Value) -> CaughtError {
    CaughtError {
        error: text(failure, &["Error"]).unwrap_or_else(|| "ImportFailed".to_owned()),
        cause: text(failure, &["Cause"]).unwrap_or_default(),
    }
}

/// The readable part of a Step Functions `Cause`: a Lambda error's type and message, or an ECS
/// task's stop reason and exit codes, or the text as it is.
pub fn summarize_cause(cause: &str) -> String {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(cause) else {
        return cause.trim().to_owned();
    };
    if let Some(message) = fields.get("errorMessage").and_then(Value::as_str) {
        return match fields.get("errorType").and_then(Value::as_str) {
            Some(error_type) => format!("{error_type}: {message}"),
            None => message.to_owned(),
        };
    }
    if let Some(reason) = fields.get("StoppedReason").and_then(Value::as_str) {
        let containers: Vec<String> = fields
            .get("Containers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|c| {
                        let name = c.get("Name").and_then(Value::as_str).unwrap_or("container");
                        match (
                            c.get("ExitCode").and_then(Value::as_i64),
                            c.get("Reason").and_then(Value::as_str),
                        ) {
                            (Some(code), _) => format!("{name} exited with code {code}"),
                            (None, Some(reason)) => format!("{name}: {reason}"),
                            (None, None) => format!("{name} stopped"),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        return if containers.is_empty() {
            format!("the task stopped: {reason}")
        } else {
            format!("the task stopped: {reason} ({})", containers.join(", "))
        };
    }
    cause.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_a_full_input() {
        let input = CheckInput::from_event(&json!({
            "state": {
                "bucket": "in", "key": "a.csv", "etag": "e", "size": 10, "eventTime": "2026-01-02T00:00:00Z",
                "validation": {"isValid": false, "duplicate": false, "rowCount": 3, "importId": 9, "errorCount": 2,
                    "errors": [{"line": 2, "column": 2, "code": "BadCount", "message": "x"}, {"line": 3, "code": "NoSuchCode", "message": "y"}]},
                "failure": {"Error": "States.TaskFailed", "Cause": "boom"}
            },
            "executionName": "exec", "executionArn": "arn:exec", "startTime": "2026-01-02T00:00:01Z"
        }));
        assert_eq!(input.execution_name.as_deref(), Some("exec"));
        assert_eq!((input.bucket.as_str(), input.key.as_str()), ("in", "a.csv"));
        let validation = input.validation.clone().unwrap();
        assert_eq!(
            (
                validation.is_valid,
                validation.row_count,
                validation.error_count
            ),
            (Some(false), Some(3), Some(2))
        );
        assert_eq!(validation.problems.len(), 1);
        assert_eq!(input.import_id(), Some(9));
        assert_eq!(
            input.failure,
            Some(CaughtError {
                error: "States.TaskFailed".into(),
                cause: "boom".into()
            })
        );
    }

    #[test]
    fn missing_or_odd_fields_read_as_absent() {
        let input = CheckInput::from_event(&json!({
            "state": {"detail": {"bucket": {"name": "raw"}, "object": {"key": "k.csv"}}, "validation": "not an object", "failure": null},
            "executionName": ""
        }));
        assert_eq!(
            input,
            CheckInput {
                bucket: "raw".into(),
                key: "k.csv".into(),
                ..CheckInput::default()
            }
        );
        let odd = CheckInput::from_event(
            &json!({"state": {"validation": {"rowCount": "12", "isValid": "yes"}, "failure": {}}}),
        );
        let validation = odd.validation.unwrap();
        assert_eq!(
            (validation.row_count, validation.is_valid),
            (Some(12), None)
        );
        assert_eq!(odd.failure.unwrap().error, "ImportFailed");
        assert_eq!(CheckInput::from_event(&json!(null)), CheckInput::default());
    }

    #[test]
    fn causes_are_summarized() {
        assert_eq!(
            summarize_cause(
                r#"{"errorMessage":"the database is unavailable","errorType":"DatabaseError","stackTrace":["a","b"]}"#
            ),
            "DatabaseError: the database is unavailable"
        );
        assert_eq!(
            summarize_cause(
                r#"{"StoppedReason":"Essential container in task exited","Containers":[{"Name":"import-csv","ExitCode":2}],"TaskArn":"arn"}"#
            ),
            "the task stopped: Essential container in task exited (import-csv exited with code 2)"
        );
        assert_eq!(summarize_cause("  plain text "), "plain text");
        assert_eq!(summarize_cause(r#"{"other": 1}"#), r#"{"other": 1}"#);
    }
}
