//! An execution's details and history in the project's own terms, and their conversion from the
//! Step Functions SDK's types: the one place that reads those types.

use chrono::{DateTime, TimeZone, Utc};

/// One execution in detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionDetails {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: String,
    /// Its input (JSON).
    pub input: Option<String>,
    /// Its output (JSON), for a succeeded one.
    pub output: Option<String>,
    /// Its error, for a failed one.
    pub error: Option<String>,
    /// Its cause, for a failed one.
    pub cause: Option<String>,
    /// When it started.
    pub start: DateTime<Utc>,
    /// When it stopped.
    pub stop: Option<DateTime<Utc>>,
    /// Whether Step Functions can redrive it (`REDRIVABLE`, `NOT_REDRIVABLE`, ...), when it says.
    pub redrive_status: Option<String>,
}

/// One event of an execution's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEvent {
    /// Its id (1-based, increasing).
    pub id: i64,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// Its type (`TaskStateEntered`, `TaskFailed`, `ExecutionSucceeded`, ...).
    pub kind: String,
    /// The state it is about (for state events).
    pub state: Option<String>,
    /// The state's output (for `...StateExited`).
    pub output: Option<String>,
    /// The error (for failures).
    pub error: Option<String>,
    /// The cause (for failures).
    pub cause: Option<String>,
}

/// A time of the SDK as a UTC time (the epoch when it has none or cannot be represented).
pub fn time_of(time: Option<&aws_smithy_types::DateTime>) -> DateTime<Utc> {
    time.and_then(|t| Utc.timestamp_millis_opt(t.to_millis().ok()?).single())
        .unwrap_or_default()
}

impl ExecutionDetails {
    /// The details `DescribeExecution` returned.
    pub fn of_sdk(
        output: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
    ) -> Self {
        ExecutionDetails {
            arn: output.execution_arn().to_owned(),
            name: output.name().unwrap_or_default().to_owned(),
            status: output.status().as_str().to_owned(),
            input: output.input().map(str::to_owned),
            output: output.output().map(str::to_owned),
            error: output.error().map(str::to_owned),
            cause: output.cause().map(str::to_owned),
            start: time_of(Some(output.start_date())),
            stop: output.stop_date().map(|t| time_of(Some(t))),
            redrive_status: output.redrive_status().map(|s| s.as_str().to_owned()),
        }
    }
}

impl HistoryEvent {
    /// One event of what `GetExecutionHistory` returned.
    pub fn of_sdk(event: &aws_sdk_sfn::types::HistoryEvent) -> Self {
        let entered = event.state_entered_event_details();
        let exited = event.state_exited_event_details();
        let (error, cause) = failure_of(event);
        HistoryEvent {
            id: event.id(),
            timestamp: time_of(Some(event.timestamp())),
            kind: event.r#type().as_str().to_owned(),
            state: entered
                .map(|d| d.name().to_owned())
                .or_else(|| exited.map(|d| d.name().to_owned())),
            output: exited
                .and_then(|d| d.output().map(str::to_owned))
                .or_else(|| {
                    event
                        .execution_succeeded_event_details()
                        .and_then(|d| d.output().map(str::to_owned))
                }),
            error,
            cause,
        }
    }
}

fn failure_of(event: &aws_sdk_sfn::types::HistoryEvent) -> (Option<String>, Option<String>) {
    let pair = |error: Option<&str>, cause: Option<&str>| {
        (error.map(str::to_owned), cause.map(str::to_owned))
    };
    if let Some(d) = event.execution_failed_event_details() {
        return pair(d.error(), d.cause());
    }
    if let Some(d) = event.task_failed_event_details() {
        return pair(d.error(), d.cause());
    }
    if let Some(d) = event.lambda_function_failed_event_details() {
        return pair(d.error(), d.cause());
    }
    if let Some(d) = event.map_run_failed_event_details() {
        return pair(d.error(), d.cause());
    }
    (None, None)
}
