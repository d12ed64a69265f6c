//! An import's execution drawn as a timeline of its states (`GET /imports/{executionName}/timeline`),
//! from Step Functions' own record of it: the execution's details and history, read with
//! `userlog_executions` and turned into the runs of its states by the same function the tooling's
//! `upload --wait` prints.

use chrono::{DateTime, Utc};
use serde::Serialize;
use userlog_executions::sfn::{self, ReadError};
use userlog_executions::timeline::{StateRun, closed_timeline};
use userlog_executions::{ExecutionDetails, HistoryEvent};

/// The import state machine's executions.
#[derive(Debug, Clone)]
pub struct Executions {
    pub client: aws_sdk_sfn::Client,
    /// `STATE_MACHINE_ARN`: the import state machine.
    pub state_machine_arn: String,
}

/// An execution's timeline, as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    pub execution_name: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// The runs of its states in the order they were entered (`error` is null unless it failed).
    pub states: Vec<StateRun>,
}

/// The timeline of an execution from its details and history (oldest first).
pub fn timeline_of(details: &ExecutionDetails, history: &[HistoryEvent]) -> Timeline {
    Timeline {
        execution_name: details.name.clone(),
        status: details.status.clone(),
        started_at: details.start,
        stopped_at: details.stop,
        states: closed_timeline(details, history),
    }
}

impl Executions {
    /// The timeline of the execution `name` (a valid execution name), `None` when the state
    /// machine has no such execution.
    pub async fn timeline(&self, name: &str) -> Result<Option<Timeline>, ReadError> {
        let Some(arn) = sfn::execution_arn(&self.state_machine_arn, name) else {
            return Err(ReadError::Call {
                call: "DescribeExecution",
                message: format!(
                    "STATE_MACHINE_ARN `{}` is not a state machine's ARN",
                    self.state_machine_arn
                ),
            });
        };
        let details = match sfn::details(&self.client, &arn).await {
            Ok(details) => details,
            Err(ReadError::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        let history = sfn::history(&self.client, &arn).await?;
        Ok(Some(timeline_of(&details, &history)))
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn the_timeline_answers_every_field_and_closes_what_the_stop_left_open() {
        let at = |ms: i64| {
            "2026-12-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
                + chrono::TimeDelta::milliseconds(ms)
        };
        let event =
            |id: i64, ms: i64, kind: &str, state: Option<&str>, error: Option<&str>| HistoryEvent {
                id,
                timestamp: at(ms),
                kind: kind.to_owned(),
                state: state.map(str::to_owned),
                output: None,
                error: error.map(str::to_owned),
                cause: None,
            };
        let details = ExecutionDetails {
            arn: "arn:aws:states:r:1:execution:m:imp-1".to_owned(),
            name: "imp-1".to_owned(),
            status: "FAILED".to_owned(),
            input: None,
            output: None,
            error: Some("ValidationFailed".to_owned()),
            cause: None,
            start: at(0),
            stop: Some(at(900)),
            redrive_status: None,
        };
        let history = [
            event(1, 0, "ExecutionStarted", None, None),
            event(2, 10, "TaskStateEntered", Some("ValidateFile"), None),
            event(3, 400, "TaskStateExited", Some("ValidateFile"), None),
            event(
                4,
                410,
                "TaskStateEntered",
                Some("CheckErrorsAndNotify"),
                None,
            ),
        ];
        let json = serde_json::to_string_pretty(&timeline_of(&details, &history)).unwrap();
        expect![[r#"
            {
              "executionName": "imp-1",
              "status": "FAILED",
              "startedAt": "2026-12-01T00:00:00Z",
              "stoppedAt": "2026-12-01T00:00:00.900Z",
              "states": [
                {
                  "name": "ValidateFile",
                  "enteredAt": "2026-12-01T00:00:00.010Z",
                  "seconds": 0.39,
                  "status": "succeeded",
                  "error": null
                },
                {
                  "name": "CheckErrorsAndNotify",
                  "enteredAt": "2026-12-01T00:00:00.410Z",
                  "seconds": 0.49,
                  "status": "failed",
                  "error": "ValidationFailed"
                }
              ]
            }"#]]
        .assert_eq(&json);
    }
}
