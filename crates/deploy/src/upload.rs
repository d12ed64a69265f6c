//! Uploads: a file put into an environment's input bucket, the execution of the import state
//! machine that the upload started (found by the object's key and ETag in the execution's input,
//! which the EventBridge rule's InputTransformer builds), that execution followed state by state,
//! and what it came to. Which execution is the upload's, the timeline of states and the outcome
//! are pure functions of what the AWS calls return.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tokio::time::Instant;
use userlog_infra::cfn::Template;
use userlog_infra::events::{matches, sample_object_created};
use userlog_infra::render::STATE_MACHINE_ID;

use crate::api::{ExecutionDetails, ExecutionSummary, HistoryEvent, StackInfo};
use crate::error::DeployError;
use crate::sdk::{Aws, POLL_INTERVAL};
pub use userlog_executions::timeline::{
    StateRun, StateStatus, closed_timeline, new_or_changed, timeline,
};

/// The stack output that names the input bucket.
pub const BUCKET_OUTPUT: &str = "InputBucketName";
/// The stack output that holds the import state machine's ARN.
pub const STATE_MACHINE_OUTPUT: &str = "ImportStateMachineArn";
/// The stack output that names the rule that starts imports.
pub const RULE_OUTPUT: &str = "ImportTriggerRuleName";
/// The prefix of the default key: `incoming/<file name>`.
pub const DEFAULT_PREFIX: &str = "incoming/";
/// How long the execution of an upload may take to appear.
pub const APPEAR_TIMEOUT: Duration = Duration::from_secs(120);

/// How many of the newest executions each look at the state machine lists.
const LISTING_LIMIT: usize = 100;
/// How much earlier than this machine's clock says the upload happened an execution may start
/// and still count: the clocks of this machine and of AWS differ a little.
const CLOCK_SKEW: TimeDelta = TimeDelta::seconds(60);

/// The states of the import state machine that the outcome reads.
pub mod states {
    /// Validates the file; its result is at `$.validation`.
    pub const VALIDATE_FILE: &str = "ValidateFile";
    /// Chooses the route from the validation.
    pub const ROUTE_FILE: &str = "RouteFile";
    /// The file was imported before.
    pub const ALREADY_IMPORTED: &str = "AlreadyImported";
    /// The distributed Map of row batches.
    pub const APPLY_ROWS: &str = "ApplyRows";
    /// The bulk import task.
    pub const BULK_IMPORT: &str = "BulkImport";
    /// Reads the import's errors and notifies; its result is at `$.check`.
    pub const CHECK_ERRORS_AND_NOTIFY: &str = "CheckErrorsAndNotify";
}

/// The default key of a file: `incoming/<file name>`, or `None` when the path names no file
/// (or its name is not UTF-8).
pub fn default_key(file: &Path) -> Option<String> {
    let name = file.file_name()?.to_str()?;
    Some(format!("{DEFAULT_PREFIX}{name}"))
}

/// Where uploads of one environment go, from its stack's outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadTarget {
    /// The stack.
    pub stack_name: String,
    /// The input bucket.
    pub bucket: String,
    /// The import state machine.
    pub state_machine_arn: String,
    /// The rule that starts imports, when the stack names it.
    pub rule_name: Option<String>,
}

impl UploadTarget {
    /// The target that the outputs of `stack` name.
    pub fn of_stack(stack: &StackInfo, environment: &str) -> Result<Self, DeployError> {
        let output = |name: &str| {
            stack
                .outputs
                .get(name)
                .filter(|value| !value.is_empty())
                .cloned()
                .ok_or_else(|| DeployError::MissingOutput {
                    stack: stack.name.clone(),
                    output: name.to_owned(),
                    environment: environment.to_owned(),
                })
        };
        Ok(UploadTarget {
            stack_name: stack.name.clone(),
            bucket: output(BUCKET_OUTPUT)?,
            state_machine_arn: output(STATE_MACHINE_OUTPUT)?,
            rule_name: output(RULE_OUTPUT).ok(),
        })
    }

    /// The target of the deployed stack `stack_name` of `environment`.
    pub async fn resolve(
        aws: &Aws,
        stack_name: &str,
        environment: &str,
    ) -> Result<Self, DeployError> {
        let stack = aws
            .describe_stack(stack_name)
            .await?
            .ok_or_else(|| DeployError::NoStack {
                stack: stack_name.to_owned(),
                environment: environment.to_owned(),
            })?;
        UploadTarget::of_stack(&stack, environment)
    }
}

/// The rule of a rendered stack that starts the import state machine, to tell before a put
/// whether the key will start an import.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRule {
    /// The rule's logical id.
    pub logical_id: String,
    pattern: Json,
    bucket: String,
    account_id: String,
    region: String,
}

impl ImportRule {
    /// The first rule of `template` whose target is the import state machine, if any.
    pub fn in_template(template: &Template<'_>) -> Option<ImportRule> {
        template.of_type("AWS::Events::Rule").find_map(|rule| {
            let starts_imports = rule
                .prop(&["Targets"])?
                .as_sequence()?
                .iter()
                .any(|target| {
                    target.get("Arn").and_then(Template::referenced_id) == Some(STATE_MACHINE_ID)
                });
            if !starts_imports {
                return None;
            }
            let pattern = serde_json::to_value(rule.prop(&["EventPattern"])?).ok()?;
            let bucket = pattern
                .pointer("/detail/bucket/name/0")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned();
            Some(ImportRule {
                logical_id: rule.id.to_owned(),
                pattern,
                bucket,
                account_id: template.account_id.to_owned(),
                region: template.region.to_owned(),
            })
        })
    }

    /// Whether an object created under `key` in the rule's bucket matches the rule's pattern.
    pub fn starts_import(&self, key: &str) -> bool {
        let event = sample_object_created(&self.account_id, &self.region, &self.bucket, key);
        matches(&self.pattern, &event)
    }

    /// What the pattern asks of keys, as JSON (`[{"suffix":".csv"}]`).
    pub fn key_condition(&self) -> String {
        self.pattern
            .pointer("/detail/object/key")
            .map(Json::to_string)
            .unwrap_or_else(|| "anything".to_owned())
    }
}

/// An object that an upload stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadedObject {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// Its ETag, without quotes.
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Puts `file` into the target's input bucket under `key`.
pub async fn put(
    aws: &Aws,
    target: &UploadTarget,
    file: &Path,
    key: &str,
) -> Result<UploadedObject, DeployError> {
    let stored = aws.put_file(&target.bucket, key, file).await?;
    Ok(UploadedObject {
        bucket: target.bucket.clone(),
        key: key.to_owned(),
        etag: stored.etag,
        size: stored.size,
    })
}

/// Whether an execution's input (`{bucket, key, etag, size, eventTime}`, from the rule's
/// InputTransformer) is about `object`. The key counts in its stored form and in the URL-encoded
/// form of S3 event notifications; the ETag must be there and equal, quotes aside.
pub fn started_by(input: Option<&str>, object: &UploadedObject) -> bool {
    let Some(input) = input.and_then(|text| serde_json::from_str::<Json>(text).ok()) else {
        return false;
    };
    let text = |name: &str| input.get(name).and_then(Json::as_str);
    let same_key = text("key")
        .is_some_and(|key| key == object.key || url_decoded(key).as_deref() == Some(&object.key));
    let same_etag = text("etag").is_some_and(|etag| etag.trim_matches('"') == object.etag);
    text("bucket") == Some(object.bucket.as_str()) && same_key && same_etag
}

/// A key as S3 event notifications encode it (`%XX` escapes, `+` for a space), decoded; `None`
/// when it is not well-formed.
fn url_decoded(key: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(key.len());
    let mut rest = key.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &tail[2..];
                continue;
            }
            other => bytes.push(other),
        }
        rest = tail;
    }
    String::from_utf8(bytes).ok()
}

/// The search for the execution that an upload starts: the executions that ran before the put
/// are not it, nor those that started well before it.
#[derive(Debug, Clone)]
pub struct ExecutionWatch {
    not_before: DateTime<Utc>,
    passed: HashSet<String>,
}

impl ExecutionWatch {
    /// A watch for a put made at or after `now`, when `existing` are the newest executions.
    pub fn new(now: DateTime<Utc>, existing: &[ExecutionSummary]) -> Self {
        ExecutionWatch {
            not_before: now - CLOCK_SKEW,
            passed: existing.iter().map(|e| e.arn.clone()).collect(),
        }
    }

    /// A watch that lists the target's executions now; start it before the put.
    pub async fn start(aws: &Aws, target: &UploadTarget) -> Result<Self, DeployError> {
        let existing = aws
            .recent_executions(&target.state_machine_arn, LISTING_LIMIT)
            .await?;
        Ok(ExecutionWatch::new(Utc::now(), &existing))
    }

    /// The executions of `listing` that may be the upload's, oldest first.
    pub fn candidates<'a>(&self, listing: &'a [ExecutionSummary]) -> Vec<&'a ExecutionSummary> {
        let mut candidates: Vec<&ExecutionSummary> = listing
            .iter()
            .filter(|e| e.start >= self.not_before && !self.passed.contains(&e.arn))
            .collect();
        candidates.sort_by_key(|e| e.start);
        candidates
    }

    /// Marks an execution as not the upload's.
    pub fn pass(&mut self, arn: &str) {
        self.passed.insert(arn.to_owned());
    }

    /// Looks at the state machine's new executions every [`POLL_INTERVAL`] until one's input is
    /// about `object`, for at most `timeout`.
    pub async fn find(
        &mut self,
        aws: &Aws,
        target: &UploadTarget,
        object: &UploadedObject,
        timeout: Duration,
    ) -> Result<ExecutionDetails, DeployError> {
        let started = Instant::now();
        loop {
            let listing = aws
                .recent_executions(&target.state_machine_arn, LISTING_LIMIT)
                .await?;
            let candidates: Vec<String> = self
                .candidates(&listing)
                .into_iter()
                .map(|e| e.arn.clone())
                .collect();
            for arn in candidates {
                let details = aws.execution(&arn).await?;
                if started_by(details.input.as_deref(), object) {
                    return Ok(details);
                }
                self.pass(&arn);
            }
            if started.elapsed() > timeout {
                return Err(DeployError::NoExecution {
                    bucket: object.bucket.clone(),
                    key: object.key.clone(),
                    state_machine: target.state_machine_arn.clone(),
                    rule: target
                        .rule_name
                        .clone()
                        .unwrap_or_else(|| "that starts imports".to_owned()),
                    seconds: timeout.as_secs(),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// One notification the check sent, or could not send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// `sns`, `slack` or `email`.
    pub channel: String,
    /// Whether it was sent.
    pub ok: bool,
    /// The message id, or why it was not sent.
    #[serde(default)]
    pub detail: String,
}

/// What `ValidateFile` puts at `$.validation` (the fields the outcome reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Validation {
    is_valid: Option<bool>,
    duplicate: Option<bool>,
    error_count: Option<u64>,
    import_id: Option<i64>,
}

/// What `CheckErrorsAndNotify` puts at `$.check` (the fields the outcome reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Check {
    outcome: Option<String>,
    error_count: Option<u64>,
    notified: Vec<Notification>,
    import_id: Option<i64>,
    rows_applied: Option<u64>,
    duplicate: Option<bool>,
}

/// What an upload came to: its execution and what the import did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadOutcome {
    /// The object uploaded.
    #[serde(flatten)]
    pub object: UploadedObject,
    /// The execution's ARN.
    pub execution_arn: String,
    /// Its name.
    pub execution_name: String,
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    /// The execution's error, when it failed.
    pub error: Option<String>,
    /// The execution's cause, when it failed.
    pub cause: Option<String>,
    /// The way the file went, from the state `RouteFile` chose: `map` (`ApplyRows`), `bulk`
    /// (`BulkImport`), `duplicate` (`AlreadyImported`) or `invalid` (straight to the check);
    /// `None` when the execution stopped before the choice.
    pub route: Option<String>,
    /// Whether the file had been imported before.
    pub duplicate: bool,
    /// The rows applied to the database, as the check counted them.
    pub rows_applied: Option<u64>,
    /// The row errors of the import.
    pub row_errors: Option<u64>,
    /// The check's verdict (`SUCCEEDED`, `SUCCEEDED_WITH_ERRORS`, `FAILED`).
    pub check_outcome: Option<String>,
    /// The import's entry in the ledger.
    pub import_id: Option<i64>,
    /// The notifications the check sent or could not send.
    pub notified: Vec<Notification>,
    /// The states, in the order they ran.
    pub states: Vec<StateRun>,
}

impl UploadOutcome {
    /// The outcome of the stopped execution `details` with its `history`.
    pub fn of(
        object: &UploadedObject,
        details: &ExecutionDetails,
        history: &[HistoryEvent],
    ) -> UploadOutcome {
        let states = closed_timeline(details, history);
        let validation: Validation =
            result_of(details, history, states::VALIDATE_FILE, "validation").unwrap_or_default();
        let check: Option<Check> =
            result_of(details, history, states::CHECK_ERRORS_AND_NOTIFY, "check");
        let ran = |name: &str| states.iter().any(|run| run.name == name);
        let route = if ran(states::ALREADY_IMPORTED) {
            Some("duplicate")
        } else if ran(states::BULK_IMPORT) {
            Some("bulk")
        } else if ran(states::APPLY_ROWS) {
            Some("map")
        } else if ran(states::ROUTE_FILE) && validation.is_valid == Some(false) {
            Some("invalid")
        } else {
            None
        };
        let check = check.unwrap_or_default();
        UploadOutcome {
            object: object.clone(),
            execution_arn: details.arn.clone(),
            execution_name: details.name.clone(),
            status: details.status.clone(),
            error: details.error.clone(),
            cause: details.cause.clone(),
            route: route.map(str::to_owned),
            duplicate: validation.duplicate == Some(true) || check.duplicate == Some(true),
            rows_applied: check.rows_applied,
            row_errors: check.error_count.or(validation.error_count),
            check_outcome: check.outcome,
            import_id: check.import_id.or(validation.import_id),
            notified: check.notified,
            states,
        }
    }

    /// Whether the execution succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == "SUCCEEDED"
    }

    /// The summary printed after the timeline.
    pub fn summary(&self) -> String {
        let mut lines = vec![format!(
            "execution {}: {}",
            self.execution_name, self.status
        )];
        let mut field = |label: &str, value: String| {
            lines.push(format!("  {:<20}{value}", format!("{label}:")));
        };
        let count = |value: Option<u64>| value.map_or_else(|| "-".to_owned(), |n| n.to_string());
        field(
            "route",
            self.route.clone().unwrap_or_else(|| "-".to_owned()),
        );
        field("rows applied", count(self.rows_applied));
        let verdict = self
            .check_outcome
            .as_deref()
            .map(|outcome| format!(" ({outcome})"))
            .unwrap_or_default();
        field("row errors", format!("{}{verdict}", count(self.row_errors)));
        let sent: Vec<&str> = self
            .notified
            .iter()
            .filter(|n| n.ok)
            .map(|n| n.channel.as_str())
            .collect();
        field(
            "notifications sent",
            if sent.is_empty() {
                "0".to_owned()
            } else {
                format!("{} ({})", sent.len(), sent.join(", "))
            },
        );
        for failed in self.notified.iter().filter(|n| !n.ok) {
            field("not sent", format!("{}: {}", failed.channel, failed.detail));
        }
        if let Some(error) = &self.error {
            field("error", error.clone());
        }
        if let Some(cause) = &self.cause {
            field("cause", cause.clone());
        }
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }
}

/// The result a state put at `$.<field>` of its output: from its last exit in the history, or else
/// from the execution's output.
fn result_of<T: for<'de> Deserialize<'de>>(
    details: &ExecutionDetails,
    history: &[HistoryEvent],
    state: &str,
    field: &str,
) -> Option<T> {
    let from_state = history
        .iter()
        .rev()
        .filter(|e| e.kind.ends_with("StateExited") && e.state.as_deref() == Some(state))
        .find_map(|e| e.output.as_deref());
    [from_state, details.output.as_deref()]
        .into_iter()
        .flatten()
        .filter_map(|text| serde_json::from_str::<Json>(text).ok())
        .find_map(|output| serde_json::from_value(output.get(field)?.clone()).ok())
}

/// Follows an execution until it stops, for at most `timeout`: every [`POLL_INTERVAL`] it reads
/// the execution and its history, and calls `on_state` with each state run that is new or has
/// changed since the last look (a state that takes longer than a look is seen running first),
/// then gives the outcome.
pub async fn follow(
    aws: &Aws,
    execution: &ExecutionDetails,
    object: &UploadedObject,
    timeout: Duration,
    on_state: &mut dyn FnMut(&StateRun),
) -> Result<UploadOutcome, DeployError> {
    let started = Instant::now();
    let mut shown: Vec<StateRun> = Vec::new();
    loop {
        // The status is read before the history, so that the history of a stopped execution is
        // complete.
        let details = aws.execution(&execution.arn).await?;
        let history = aws.history(&execution.arn).await?;
        if details.status != "RUNNING" {
            let outcome = UploadOutcome::of(object, &details, &history);
            for run in new_or_changed(&shown, &outcome.states) {
                on_state(run);
            }
            return Ok(outcome);
        }
        let runs = timeline(&history);
        for run in new_or_changed(&shown, &runs) {
            on_state(run);
        }
        shown = runs;
        if started.elapsed() > timeout {
            return Err(DeployError::TimedOut {
                what: format!("the execution {} ({})", details.name, details.arn),
                seconds: timeout.as_secs(),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use expect_test::{Expect, expect};

    use super::*;

    /// An execution and its history as a fixture file holds them (outputs as JSON values).
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Fixture {
        execution: FixtureExecution,
        history: Vec<FixtureEvent>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct FixtureExecution {
        name: String,
        status: String,
        input: Json,
        output: Option<Json>,
        error: Option<String>,
        cause: Option<String>,
        start: DateTime<Utc>,
        stop: Option<DateTime<Utc>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct FixtureEvent {
        timestamp: DateTime<Utc>,
        kind: String,
        state: Option<String>,
        output: Option<Json>,
        error: Option<String>,
        cause: Option<String>,
    }

    const ARN_PREFIX: &str =
        "arn:aws:states:ap-northeast-1:000000000000:execution:local-userlog-import:";

    fn load(name: &str) -> (ExecutionDetails, Vec<HistoryEvent>) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/upload")
            .join(name);
        let text = std::fs::read_to_string(&path).expect("the fixture is readable");
        let fixture: Fixture = serde_json::from_str(&text).expect("the fixture parses");
        let execution = fixture.execution;
        let details = ExecutionDetails {
            arn: format!("{ARN_PREFIX}{}", execution.name),
            name: execution.name,
            status: execution.status,
            input: Some(execution.input.to_string()),
            output: execution.output.map(|o| o.to_string()),
            error: execution.error,
            cause: execution.cause,
            start: execution.start,
            stop: execution.stop,
            redrive_status: None,
        };
        let history = fixture
            .history
            .into_iter()
            .zip(1..)
            .map(|(event, id)| HistoryEvent {
                id,
                timestamp: event.timestamp,
                kind: event.kind,
                state: event.state,
                output: event.output.map(|o| o.to_string()),
                error: event.error,
                cause: event.cause,
            })
            .collect();
        (details, history)
    }

    fn object() -> UploadedObject {
        UploadedObject {
            bucket: "local-userlog-input-000000000000".to_owned(),
            key: "incoming/users.csv".to_owned(),
            etag: "8d9c4a0c0e2f5f3b6a1e7d2c9b4f1a30".to_owned(),
            size: 412,
        }
    }

    /// The timeline lines and the summary of a fixture, as printed.
    fn check_printed(fixture: &str, expected: Expect) {
        let (details, history) = load(fixture);
        let outcome = UploadOutcome::of(&object(), &details, &history);
        let mut text: String = outcome
            .states
            .iter()
            .map(|run| run.line(details.start) + "\n")
            .collect();
        text.push_str(&outcome.summary());
        expected.assert_eq(&text);
    }

    /// The JSON of a fixture's outcome.
    fn check_json(fixture: &str, expected: Expect) {
        let (details, history) = load(fixture);
        let outcome = UploadOutcome::of(&object(), &details, &history);
        expected.assert_eq(&serde_json::to_string_pretty(&outcome).expect("serialises"));
    }

    #[test]
    fn a_clean_file_goes_through_the_map_and_notifies() {
        check_printed(
            "map-succeeded.json",
            expect![[r#"
                    +0.1s ValidateFile              0.3s  succeeded
                    +0.5s RouteFile                 0.0s  succeeded
                    +0.5s ApplyRows                 2.4s  succeeded
                    +2.9s CheckErrorsAndNotify      1.4s  succeeded
                    +4.2s ReportOutcome             0.0s  succeeded
                    +4.2s ImportSucceeded           0.0s  succeeded
                execution 0b7e6a52-3f0c-4c39-9d1e-5a8f2e61c4d7: SUCCEEDED
                  route:              map
                  rows applied:       4
                  row errors:         1 (SUCCEEDED_WITH_ERRORS)
                  notifications sent: 1 (sns)
                  not sent:           email: no recipients are configured
            "#]],
        );
    }

    #[test]
    fn the_outcome_serialises_in_camel_case() {
        check_json(
            "map-succeeded.json",
            expect![[r#"
                {
                  "bucket": "local-userlog-input-000000000000",
                  "key": "incoming/users.csv",
                  "etag": "8d9c4a0c0e2f5f3b6a1e7d2c9b4f1a30",
                  "size": 412,
                  "executionArn": "arn:aws:states:ap-northeast-1:000000000000:execution:local-userlog-import:0b7e6a52-3f0c-4c39-9d1e-5a8f2e61c4d7",
                  "executionName": "0b7e6a52-3f0c-4c39-9d1e-5a8f2e61c4d7",
                  "status": "SUCCEEDED",
                  "error": null,
                  "cause": null,
                  "route": "map",
                  "duplicate": false,
                  "rowsApplied": 4,
                  "rowErrors": 1,
                  "checkOutcome": "SUCCEEDED_WITH_ERRORS",
                  "importId": 7,
                  "notified": [
                    {
                      "channel": "sns",
                      "ok": true,
                      "detail": "5f1c2e9a-message"
                    },
                    {
                      "channel": "email",
                      "ok": false,
                      "detail": "no recipients are configured"
                    }
                  ],
                  "states": [
                    {
                      "name": "ValidateFile",
                      "enteredAt": "2026-03-01T10:00:00.250Z",
                      "seconds": 0.31,
                      "status": "succeeded",
                      "error": null
                    },
                    {
                      "name": "RouteFile",
                      "enteredAt": "2026-03-01T10:00:00.560Z",
                      "seconds": 0.001,
                      "status": "succeeded",
                      "error": null
                    },
                    {
                      "name": "ApplyRows",
                      "enteredAt": "2026-03-01T10:00:00.561Z",
                      "seconds": 2.4,
                      "status": "succeeded",
                      "error": null
                    },
                    {
                      "name": "CheckErrorsAndNotify",
                      "enteredAt": "2026-03-01T10:00:02.961Z",
                      "seconds": 1.379,
                      "status": "succeeded",
                      "error": null
                    },
                    {
                      "name": "ReportOutcome",
                      "enteredAt": "2026-03-01T10:00:04.341Z",
                      "seconds": 0.0,
                      "status": "succeeded",
                      "error": null
                    },
                    {
                      "name": "ImportSucceeded",
                      "enteredAt": "2026-03-01T10:00:04.342Z",
                      "seconds": 0.0,
                      "status": "succeeded",
                      "error": null
                    }
                  ]
                }"#]],
        );
    }

    #[test]
    fn an_invalid_file_fails_with_the_checks_error() {
        check_printed(
            "invalid-failed.json",
            expect![[r#"
                    +0.1s ValidateFile              0.2s  succeeded
                    +0.4s RouteFile                 0.0s  succeeded
                    +0.4s CheckErrorsAndNotify      0.5s  succeeded
                    +0.9s ReportOutcome             0.0s  succeeded
                    +0.9s ImportFailed              0.0s  failed (FileRejected)
                execution 5d2f9c11-8a47-4e0b-b6c3-2f1e9d7a0b54: FAILED
                  route:              invalid
                  rows applied:       0
                  row errors:         3 (FAILED)
                  notifications sent: 2 (sns, slack)
                  error:              FileRejected
                  cause:              The file has 3 errors: the header lacks `email` (line 1)
            "#]],
        );
    }

    #[test]
    fn a_file_imported_before_is_a_duplicate() {
        check_printed(
            "duplicate.json",
            expect![[r#"
                    +0.1s ValidateFile              0.2s  succeeded
                    +0.3s RouteFile                 0.0s  succeeded
                    +0.3s AlreadyImported           0.0s  succeeded
                execution c1a7e3d0-2b6f-4f18-8e5c-7d9a4b2e6f01: SUCCEEDED
                  route:              duplicate
                  rows applied:       -
                  row errors:         0
                  notifications sent: 0
            "#]],
        );
    }

    #[test]
    fn a_failed_check_that_was_caught_shows_as_failed() {
        check_printed(
            "check-failed.json",
            expect![[r#"
                    +0.1s ValidateFile              0.3s  succeeded
                    +0.5s RouteFile                 0.0s  succeeded
                    +0.5s ApplyRows                 1.4s  succeeded
                    +1.9s CheckErrorsAndNotify      7.6s  failed (ErrorLogUnavailable)
                    +9.5s NotifyCheckFailed         0.2s  succeeded
                    +9.7s CheckFailed               0.0s  failed (ErrorCheckFailed)
                execution 7e4b0d93-6c21-4a5f-9f08-3b2d1c8e7a66: FAILED
                  route:              map
                  rows applied:       -
                  row errors:         0
                  notifications sent: 0
                  error:              ErrorCheckFailed
                  cause:              The error check did not complete, so the import's outcome was not confirmed.
            "#]],
        );
    }

    #[test]
    fn a_state_open_when_the_execution_was_aborted_ends_with_it() {
        check_printed(
            "bulk-aborted.json",
            expect![[r#"
                    +0.1s ValidateFile              1.0s  succeeded
                    +1.1s RouteFile                 0.0s  succeeded
                    +1.2s BulkImport               89.3s  aborted
                execution 2f8d6b40-9e13-47c2-a5d8-0c6e1f3b9a27: ABORTED
                  route:              bulk
                  rows applied:       -
                  row errors:         0
                  notifications sent: 0
            "#]],
        );
    }

    /// Which state runs the live output shows after each look at a growing history.
    fn check_live(fixture: &str, expected: Expect) {
        let (details, history) = load(fixture);
        let mut shown: Vec<StateRun> = Vec::new();
        let mut lines = Vec::new();
        for seen in 1..=history.len() {
            let runs = timeline(&history[..seen]);
            for run in new_or_changed(&shown, &runs) {
                lines.push(format!("after event {seen}: {}", run.line(details.start)));
            }
            shown = runs;
        }
        expected.assert_eq(&(lines.join("\n") + "\n"));
    }

    #[test]
    fn live_output_shows_a_state_running_then_finished() {
        check_live(
            "map-succeeded.json",
            expect![[r#"
                after event 2:     +0.1s ValidateFile                    running
                after event 5:     +0.1s ValidateFile              0.3s  succeeded
                after event 6:     +0.5s RouteFile                       running
                after event 7:     +0.5s RouteFile                 0.0s  succeeded
                after event 8:     +0.5s ApplyRows                       running
                after event 9:     +0.5s ApplyRows                 2.4s  succeeded
                after event 10:     +2.9s CheckErrorsAndNotify            running
                after event 12:     +2.9s CheckErrorsAndNotify            running (an attempt failed: Database.Transient)
                after event 15:     +2.9s CheckErrorsAndNotify      1.4s  succeeded
                after event 16:     +4.2s ReportOutcome                   running
                after event 17:     +4.2s ReportOutcome             0.0s  succeeded
                after event 18:     +4.2s ImportSucceeded                 running
                after event 19:     +4.2s ImportSucceeded           0.0s  succeeded
            "#]],
        );
    }

    fn summary(arn: &str, start: &str) -> ExecutionSummary {
        ExecutionSummary {
            arn: arn.to_owned(),
            name: arn.to_owned(),
            status: "RUNNING".to_owned(),
            start: start.parse().expect("a time"),
        }
    }

    /// The candidates a watch started at `now` after `existing` finds in `listing`.
    fn check_candidates(
        now: &str,
        existing: &[ExecutionSummary],
        listing: &[ExecutionSummary],
        expected: Expect,
    ) {
        let watch = ExecutionWatch::new(now.parse().expect("a time"), existing);
        let arns: Vec<&str> = watch
            .candidates(listing)
            .into_iter()
            .map(|e| e.arn.as_str())
            .collect();
        expected.assert_debug_eq(&arns);
    }

    #[test]
    fn candidates_are_new_executions_oldest_first() {
        let before = summary("before", "2026-03-01T09:59:58Z");
        let old = summary("old", "2026-03-01T09:00:00Z");
        let listing = [
            summary("second", "2026-03-01T10:00:03Z"),
            summary("first", "2026-03-01T10:00:01Z"),
            before.clone(),
            old.clone(),
        ];
        check_candidates(
            "2026-03-01T10:00:00Z",
            &[before, old],
            &listing,
            expect![[r#"
                [
                    "first",
                    "second",
                ]
            "#]],
        );
    }

    #[test]
    fn an_execution_missed_by_the_first_listing_still_counts_when_recent() {
        let listing = [
            summary("just-before", "2026-03-01T09:59:59Z"),
            summary("an-hour-ago", "2026-03-01T09:00:00Z"),
        ];
        check_candidates(
            "2026-03-01T10:00:00Z",
            &[],
            &listing,
            expect![[r#"
                [
                    "just-before",
                ]
            "#]],
        );
    }

    /// Whether each input counts as started by the uploaded object.
    fn check_started_by(inputs: &[&str], expected: Expect) {
        let answers: Vec<(&str, bool)> = inputs
            .iter()
            .map(|input| (*input, started_by(Some(input), &object())))
            .collect();
        expected.assert_debug_eq(&answers);
    }

    #[test]
    fn an_execution_is_the_uploads_when_bucket_key_and_etag_match() {
        check_started_by(
            &[
                r#"{"bucket":"local-userlog-input-000000000000","key":"incoming/users.csv","etag":"8d9c4a0c0e2f5f3b6a1e7d2c9b4f1a30","size":412}"#,
                r#"{"bucket":"local-userlog-input-000000000000","key":"incoming/users.csv","etag":"\"8d9c4a0c0e2f5f3b6a1e7d2c9b4f1a30\""}"#,
                r#"{"bucket":"local-userlog-input-000000000000","key":"incoming/users.csv","etag":"0000"}"#,
                r#"{"bucket":"local-userlog-input-000000000000","key":"incoming/other.csv","etag":"8d9c4a0c0e2f5f3b6a1e7d2c9b4f1a30"}"#,
                r#"{"bucket":"another-bucket","key":"incoming/users.csv","etag":"8d9c4a0c0e2f5f3b6a1e7d2c9b4f1a30"}"#,
                r#"{"bucket":"local-userlog-input-000000000000","key":"incoming/users.csv"}"#,
                "not json",
            ],
            expect![[r#"
                [
                    (
                        "{\"bucket\":\"local-userlog-input-000000000000\",\"key\":\"incoming/users.csv\",\"etag\":\"8d9c4a0c0e2f5f3b6a1e7d2c9b4f1a30\",\"size\":412}",
                        true,
                    ),
                    (
                        "{\"bucket\":\"local-userlog-input-000000000000\",\"key\":\"incoming/users.csv\",\"etag\":\"\\\"8d9c4a0c0e2f5f3b6a1e7d2c9b4f1a30\\\"\"}",
                        true,
                    ),
                    (
                        "{\"bucket\":\"local-userlog-input-000000000000\",\"key\":\"incoming/users.csv\",\"etag\":\"0000\"}",
                        false,
                    ),
                    (
                        "{\"bucket\":\"local-userlog-input-000000000000\",\"key\":\"incoming/other.csv\",\"etag\":\"8d9c4a0c0e2f5f3b6a1e7d2c9b4f1a30\"}",
                        false,
                    ),
                    (
                        "{\"bucket\":\"another-bucket\",\"key\":\"incoming/users.csv\",\"etag\":\"8d9c4a0c0e2f5f3b6a1e7d2c9b4f1a30\"}",
                        false,
                    ),
                    (
                        "{\"bucket\":\"local-userlog-input-000000000000\",\"key\":\"incoming/users.csv\"}",
                        false,
                    ),
                    (
                        "not json",
                        false,
                    ),
                ]
            "#]],
        );
    }

    #[test]
    fn an_encoded_key_in_the_input_matches_the_stored_key() {
        let stored = UploadedObject {
            key: "incoming/June users (1).csv".to_owned(),
            ..object()
        };
        let input = |key: &str| {
            serde_json::json!({"bucket": stored.bucket, "key": key, "etag": stored.etag})
                .to_string()
        };
        let answers: Vec<(String, bool)> = [
            "incoming/June users (1).csv",
            "incoming/June+users+%281%29.csv",
            "incoming/June+users+%28.csv",
            "incoming/June+users+%2",
        ]
        .into_iter()
        .map(|key| (key.to_owned(), started_by(Some(&input(key)), &stored)))
        .collect();
        expect![[r#"
            [
                (
                    "incoming/June users (1).csv",
                    true,
                ),
                (
                    "incoming/June+users+%281%29.csv",
                    true,
                ),
                (
                    "incoming/June+users+%28.csv",
                    false,
                ),
                (
                    "incoming/June+users+%2",
                    false,
                ),
            ]
        "#]]
        .assert_debug_eq(&answers);
    }

    /// Whether the rule of a small template starts an import for each key.
    fn check_rule(template: &str, keys: &[&str], expected: Expect) {
        let root: serde_yaml::Value = serde_yaml::from_str(template).expect("the template parses");
        let template = Template::new(&root, "ap-northeast-1", "000000000000");
        let rule = ImportRule::in_template(&template);
        let answers = rule.map(|rule| {
            let keys: Vec<(&str, bool)> =
                keys.iter().map(|k| (*k, rule.starts_import(k))).collect();
            (rule.logical_id.clone(), rule.key_condition(), keys)
        });
        expected.assert_debug_eq(&answers);
    }

    const RULE_TEMPLATE: &str = "
Resources:
  AlarmRule:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(1 day)
      Targets:
        - Id: export
          Arn: {Ref: ExportFunction}
  ImportTriggerRule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [aws.s3]
        detail-type: [Object Created]
        detail:
          bucket:
            name: [local-userlog-input-000000000000]
          object:
            key: [{suffix: .csv}]
      Targets:
        - Id: import
          Arn: {Ref: ImportStateMachine}
";

    #[test]
    fn the_rendered_rule_tells_which_keys_start_an_import() {
        check_rule(
            RULE_TEMPLATE,
            &["incoming/users.csv", "incoming/users.txt", "users.csv.gz"],
            expect![[r#"
                Some(
                    (
                        "ImportTriggerRule",
                        "[{\"suffix\":\".csv\"}]",
                        [
                            (
                                "incoming/users.csv",
                                true,
                            ),
                            (
                                "incoming/users.txt",
                                false,
                            ),
                            (
                                "users.csv.gz",
                                false,
                            ),
                        ],
                    ),
                )
            "#]],
        );
    }

    #[test]
    fn a_template_without_an_import_rule_has_none() {
        check_rule(
            "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n",
            &["incoming/users.csv"],
            expect![[r#"
                None
            "#]],
        );
    }

    /// The target the outputs of a stack name, or the error.
    fn check_target(outputs: &[(&str, &str)], expected: Expect) {
        let stack = StackInfo {
            name: "local-userlog".to_owned(),
            status: "CREATE_COMPLETE".to_owned(),
            outputs: outputs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..StackInfo::default()
        };
        let answer = UploadTarget::of_stack(&stack, "local").map_err(|e| e.to_string());
        expected.assert_debug_eq(&answer);
    }

    #[test]
    fn the_target_comes_from_the_stack_outputs() {
        check_target(
            &[
                (BUCKET_OUTPUT, "local-userlog-input-000000000000"),
                (
                    STATE_MACHINE_OUTPUT,
                    "arn:aws:states:ap-northeast-1:000000000000:stateMachine:local-userlog-import",
                ),
                (RULE_OUTPUT, "local-userlog-import-trigger"),
            ],
            expect![[r#"
                Ok(
                    UploadTarget {
                        stack_name: "local-userlog",
                        bucket: "local-userlog-input-000000000000",
                        state_machine_arn: "arn:aws:states:ap-northeast-1:000000000000:stateMachine:local-userlog-import",
                        rule_name: Some(
                            "local-userlog-import-trigger",
                        ),
                    },
                )
            "#]],
        );
    }

    #[test]
    fn a_stack_without_the_state_machine_output_says_so() {
        check_target(
            &[(BUCKET_OUTPUT, "local-userlog-input-000000000000")],
            expect![[r#"
                Err(
                    "the stack local-userlog has no output ImportStateMachineArn; is it deployed with the current templates? (`cargo xtask deploy --env local`)",
                )
            "#]],
        );
    }

    #[test]
    fn the_default_key_is_under_incoming() {
        let keys: Vec<Option<String>> = ["samples/users.csv", "users.csv", "/"]
            .into_iter()
            .map(|path| default_key(Path::new(path)))
            .collect();
        expect![[r#"
            [
                Some(
                    "incoming/users.csv",
                ),
                Some(
                    "incoming/users.csv",
                ),
                None,
            ]
        "#]]
        .assert_debug_eq(&keys);
    }
}
