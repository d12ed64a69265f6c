//! Re-running failed imports (`cargo xtask redrive`): Step Functions' own redrive where it can
//! help, otherwise a new execution for the same object that takes over the failed one's claim in
//! the imports ledger; never for a file that a newer one has since replaced.
//!
//! What to do with one execution is decided by [`plan`], a pure function of what Step Functions
//! and S3 say about it; [`redrive`] gathers those facts and carries the plan out.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value as Json;

use crate::api::{ExecutionDetails, HistoryEvent};
use crate::error::DeployError;
use crate::sdk::Aws;
use crate::upload::UploadedObject;

/// The field of a new execution's input that names the execution it re-runs: the validation
/// state then takes over that execution's `running` claim in the ledger.
pub const REDRIVE_OF_FIELD: &str = "redriveOf";

/// The longest execution name Step Functions accepts.
const MAX_EXECUTION_NAME: usize = 80;

/// The statuses of an execution that did not succeed and may be re-run.
const UNSUCCESSFUL: [&str; 3] = ["FAILED", "TIMED_OUT", "ABORTED"];

/// The object an import execution was started for, from its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportObject {
    pub bucket: String,
    pub key: String,
    /// Without quotes.
    pub etag: String,
    pub size: u64,
}

impl ImportObject {
    /// The object of an execution's input (`{bucket, key, etag, size, eventTime}`), or `None`
    /// when the input is not an import's.
    pub fn of_input(input: &Json) -> Option<ImportObject> {
        let text = |name: &str| input.get(name).and_then(Json::as_str).map(str::to_owned);
        Some(ImportObject {
            bucket: text("bucket")?,
            key: text("key")?,
            etag: text("etag")?.trim_matches('"').to_owned(),
            size: input.get("size").and_then(Json::as_u64).unwrap_or_default(),
        })
    }

    /// The same object as the upload flow names it.
    pub fn uploaded(&self) -> UploadedObject {
        UploadedObject {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            etag: self.etag.clone(),
            size: self.size,
        }
    }
}

/// What to do with one execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Plan {
    /// Step Functions' `RedriveExecution`: the execution goes on from the state that stopped it.
    Redrive,
    /// A new execution `name` with `input`: the original input and [`REDRIVE_OF_FIELD`].
    Restart { name: String, input: String },
    /// Nothing is done, for `reason`.
    Refuse { reason: Refusal },
}

/// Why an execution is not re-run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "camelCase")]
pub enum Refusal {
    /// It is running or it succeeded.
    NotFailed { status: String },
    /// Its input does not name an object.
    NotAnImport,
    /// The object at its key is another one now (a newer upload replaced it).
    Superseded { etag: String, current_etag: String },
    /// The object is gone.
    ObjectGone,
}

impl Refusal {
    /// What the operator reads.
    pub fn explain(&self, object: Option<&ImportObject>) -> String {
        let location = object.map_or_else(String::new, |o| format!("s3://{}/{}", o.bucket, o.key));
        match self {
            Refusal::NotFailed { status } => {
                format!("the execution is {status}, not failed: there is nothing to re-run")
            }
            Refusal::NotAnImport => {
                "its input names no object (bucket, key, etag): it is not an import".to_owned()
            }
            Refusal::Superseded { etag, current_etag } => format!(
                "superseded: {location} has been replaced by a newer file since (ETag {current_etag}, was {etag}); re-running the old one would apply an outdated file, so nothing was done (the newer file has an import of its own)"
            ),
            Refusal::ObjectGone => {
                format!("{location} no longer exists, so there is nothing to import")
            }
        }
    }
}

/// The facts [`plan`] decides on.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The execution as Step Functions describes it.
    pub execution: &'a ExecutionDetails,
    /// Its history (to see whether it ended in a `Fail` state).
    pub history: &'a [HistoryEvent],
    /// The ETag of the object at the execution's key now, `None` when there is none.
    pub current_etag: Option<&'a str>,
    /// Now, for the new execution's name.
    pub now: DateTime<Utc>,
}

/// What to do with one execution. Step Functions' redrive goes on from the state that did not
/// succeed; it helps only when that state is not a `Fail` state (an execution timed out, was
/// aborted, or failed outside every Catch), since redriving a decided failure decides it again.
/// Otherwise a new execution re-runs the import from the start.
pub fn plan(facts: &Facts<'_>) -> Plan {
    let execution = facts.execution;
    if !UNSUCCESSFUL.contains(&execution.status.as_str()) {
        return Plan::Refuse {
            reason: Refusal::NotFailed {
                status: execution.status.clone(),
            },
        };
    }
    let input: Json = execution
        .input
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Json::Null);
    let Some(object) = ImportObject::of_input(&input) else {
        return Plan::Refuse {
            reason: Refusal::NotAnImport,
        };
    };
    match facts.current_etag {
        None => {
            return Plan::Refuse {
                reason: Refusal::ObjectGone,
            };
        }
        Some(current) if current.trim_matches('"') != object.etag => {
            return Plan::Refuse {
                reason: Refusal::Superseded {
                    etag: object.etag,
                    current_etag: current.trim_matches('"').to_owned(),
                },
            };
        }
        Some(_) => {}
    }
    let decided = facts
        .history
        .iter()
        .any(|event| event.kind == "FailStateEntered");
    if execution.redrive_status.as_deref() == Some("REDRIVABLE") && !decided {
        return Plan::Redrive;
    }
    let mut input = input;
    if let Some(fields) = input.as_object_mut() {
        fields.insert(
            REDRIVE_OF_FIELD.to_owned(),
            Json::String(execution.name.clone()),
        );
    }
    Plan::Restart {
        name: restart_name(&execution.name, facts.now),
        input: input.to_string(),
    }
}

/// The name of the new execution that re-runs `original`: `<original>-redrive-<UTC time>`, the
/// original shortened to fit Step Functions' 80 characters.
pub fn restart_name(original: &str, now: DateTime<Utc>) -> String {
    let suffix = format!("-redrive-{}", now.format("%Y%m%dT%H%M%S"));
    // A redrive of a redrive replaces the earlier suffix rather than growing the name.
    let base = original
        .split_once("-redrive-")
        .map_or(original, |(base, _)| base);
    let room = MAX_EXECUTION_NAME - suffix.len();
    let base: String = base.chars().take(room).collect();
    format!("{base}{suffix}")
}

/// What happened to one execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveResult {
    /// The execution asked for.
    pub execution_name: String,
    /// Its ARN.
    pub execution_arn: String,
    /// Its object, when its input names one.
    pub object: Option<ImportObject>,
    /// What was decided.
    pub plan: Plan,
    /// Why nothing was done, in words, for a refusal.
    pub message: Option<String>,
    /// The execution that re-runs the import (the same one for a Step Functions redrive).
    pub rerun_arn: Option<String>,
}

impl RedriveResult {
    /// Whether the execution was re-run.
    pub fn rerun(&self) -> bool {
        self.rerun_arn.is_some()
    }
}

/// A duration as people write it: a whole number and a unit, `s`, `m`, `h` or `d` (`90s`,
/// `30m`, `2h`, `7d`).
pub fn parse_duration(text: &str) -> Result<chrono::TimeDelta, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let amount: i64 = digits.parse().map_err(|_| {
        format!("`{text}` is not a duration: use a number and s, m, h or d (`30m`, `2h`)")
    })?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{text}` is not a duration: use a number and s, m, h or d (`30m`, `2h`)"
            ));
        }
    };
    amount
        .checked_mul(seconds)
        .and_then(chrono::TimeDelta::try_seconds)
        .ok_or_else(|| format!("`{text}` is too long a duration"))
}

/// The ARN of execution `name` of `state_machine_arn`.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

/// Decides for one execution and carries the plan out.
pub async fn redrive(
    aws: &Aws,
    state_machine_arn: &str,
    execution_arn: &str,
) -> Result<RedriveResult, DeployError> {
    let execution = aws.execution(execution_arn).await?;
    let history = aws.history(execution_arn).await?;
    let input: Json = execution
        .input
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Json::Null);
    let object = ImportObject::of_input(&input);
    let current_etag = match &object {
        Some(object) => aws.object_etag(&object.bucket, &object.key).await?,
        None => None,
    };
    let plan = plan(&Facts {
        execution: &execution,
        history: &history,
        current_etag: current_etag.as_deref(),
        now: Utc::now(),
    });
    let (message, rerun_arn) = match &plan {
        Plan::Refuse { reason } => (Some(reason.explain(object.as_ref())), None),
        Plan::Redrive => {
            aws.redrive_execution(&execution.arn).await?;
            (None, Some(execution.arn.clone()))
        }
        Plan::Restart { name, input } => {
            let arn = aws.start_execution(state_machine_arn, name, input).await?;
            (None, Some(arn))
        }
    };
    Ok(RedriveResult {
        execution_name: execution.name.clone(),
        execution_arn: execution.arn.clone(),
        object,
        plan,
        message,
        rerun_arn,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use expect_test::{Expect, expect};

    use super::*;

    fn execution(status: &str, redrive: Option<&str>) -> ExecutionDetails {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        ExecutionDetails {
            arn: "arn:aws:states:ap-northeast-1:000000000000:execution:local-userlog-import:e1"
                .to_owned(),
            name: "e1".to_owned(),
            status: status.to_owned(),
            input: Some(
                r#"{"bucket":"in","key":"incoming/a.csv","etag":"\"abc\"","size":10,"eventTime":"2026-12-01T00:00:00Z"}"#
                    .to_owned(),
            ),
            output: None,
            error: None,
            cause: None,
            start: at,
            stop: Some(at),
            redrive_status: redrive.map(str::to_owned),
        }
    }

    fn event(kind: &str) -> HistoryEvent {
        HistoryEvent {
            id: 1,
            timestamp: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
            kind: kind.to_owned(),
            state: None,
            output: None,
            error: None,
            cause: None,
        }
    }

    #[allow(clippy::needless_pass_by_value)]
    fn check(
        execution: &ExecutionDetails,
        history: &[HistoryEvent],
        etag: Option<&str>,
        expected: Expect,
    ) {
        let plan = plan(&Facts {
            execution,
            history,
            current_etag: etag,
            now: Utc.with_ymd_and_hms(2026, 12, 2, 3, 4, 5).unwrap(),
        });
        let text = match &plan {
            Plan::Refuse { reason } => {
                let input: Json =
                    serde_json::from_str(execution.input.as_deref().unwrap_or("null")).unwrap();
                format!(
                    "refuse: {}",
                    reason.explain(ImportObject::of_input(&input).as_ref())
                )
            }
            other => serde_json::to_string(other).unwrap(),
        };
        expected.assert_eq(&text);
    }

    #[test]
    fn a_decided_failure_restarts_and_an_interrupted_one_redrives() {
        check(
            &execution("FAILED", Some("REDRIVABLE")),
            &[event("FailStateEntered"), event("ExecutionFailed")],
            Some("abc"),
            expect![[
                r#"{"action":"restart","name":"e1-redrive-20261202T030405","input":"{\"bucket\":\"in\",\"key\":\"incoming/a.csv\",\"etag\":\"\\\"abc\\\"\",\"size\":10,\"eventTime\":\"2026-12-01T00:00:00Z\",\"redriveOf\":\"e1\"}"}"#
            ]],
        );
        check(
            &execution("TIMED_OUT", Some("REDRIVABLE")),
            &[event("ExecutionTimedOut")],
            Some("\"abc\""),
            expect![[r#"{"action":"redrive"}"#]],
        );
        check(
            &execution("FAILED", Some("NOT_REDRIVABLE")),
            &[event("ExecutionFailed")],
            Some("abc"),
            expect![[
                r#"{"action":"restart","name":"e1-redrive-20261202T030405","input":"{\"bucket\":\"in\",\"key\":\"incoming/a.csv\",\"etag\":\"\\\"abc\\\"\",\"size\":10,\"eventTime\":\"2026-12-01T00:00:00Z\",\"redriveOf\":\"e1\"}"}"#
            ]],
        );
    }

    #[test]
    fn superseded_gone_and_unfailed_executions_are_refused() {
        check(
            &execution("FAILED", None),
            &[],
            Some("def"),
            expect![[
                "refuse: superseded: s3://in/incoming/a.csv has been replaced by a newer file since (ETag def, was abc); re-running the old one would apply an outdated file, so nothing was done (the newer file has an import of its own)"
            ]],
        );
        check(
            &execution("FAILED", None),
            &[],
            None,
            expect![
                "refuse: s3://in/incoming/a.csv no longer exists, so there is nothing to import"
            ],
        );
        check(
            &execution("SUCCEEDED", None),
            &[],
            Some("abc"),
            expect!["refuse: the execution is SUCCEEDED, not failed: there is nothing to re-run"],
        );
        let mut no_object = execution("FAILED", None);
        no_object.input = Some("{}".to_owned());
        check(
            &no_object,
            &[],
            Some("abc"),
            expect!["refuse: its input names no object (bucket, key, etag): it is not an import"],
        );
    }

    #[test]
    fn durations_take_a_number_and_a_unit() {
        assert_eq!(parse_duration("90s"), Ok(chrono::TimeDelta::seconds(90)));
        assert_eq!(parse_duration("2h"), Ok(chrono::TimeDelta::hours(2)));
        assert_eq!(parse_duration("7d"), Ok(chrono::TimeDelta::days(7)));
        for bad in ["", "h", "2", "2w", "-1h", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn restart_names_fit_and_do_not_grow() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 3, 4, 5).unwrap();
        let long = "x".repeat(80);
        let name = restart_name(&long, now);
        assert_eq!(name.len(), 80, "{name}");
        assert_eq!(
            restart_name("abc-redrive-20261201T000000", now),
            "abc-redrive-20261202T030405"
        );
        assert_eq!(
            execution_arn(
                "arn:aws:states:ap-northeast-1:000000000000:stateMachine:local-userlog-import",
                "e1"
            ),
            "arn:aws:states:ap-northeast-1:000000000000:execution:local-userlog-import:e1"
        );
    }
}
