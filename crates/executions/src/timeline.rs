//! The timeline of an execution: the runs of its states in the order they were entered, how each
//! ran and how long it took, from the execution's history alone.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::history::{ExecutionDetails, HistoryEvent};

/// How a state ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateStatus {
    /// It has not finished yet.
    Running,
    /// It finished without an error (after retries, perhaps).
    Succeeded,
    /// It failed: its error was caught and the execution went on, or the execution failed in it.
    Failed,
    /// The execution timed out in it.
    TimedOut,
    /// The execution was aborted in it.
    Aborted,
}

impl StateStatus {
    /// The words used in the timeline.
    pub fn describe(self) -> &'static str {
        match self {
            StateStatus::Running => "running",
            StateStatus::Succeeded => "succeeded",
            StateStatus::Failed => "failed",
            StateStatus::TimedOut => "timed out",
            StateStatus::Aborted => "aborted",
        }
    }

    /// The status of the states still open when the execution stopped with `execution_status`.
    fn at_stop(execution_status: &str) -> StateStatus {
        match execution_status {
            "SUCCEEDED" => StateStatus::Succeeded,
            "TIMED_OUT" => StateStatus::TimedOut,
            "ABORTED" => StateStatus::Aborted,
            _ => StateStatus::Failed,
        }
    }
}

/// One run of a state of the execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateRun {
    /// The state's name.
    pub name: String,
    /// When it was entered.
    pub entered_at: DateTime<Utc>,
    /// How long it took, once it has finished.
    pub seconds: Option<f64>,
    /// How it ran.
    pub status: StateStatus,
    /// The error it ended with, when it failed.
    pub error: Option<String>,
}

impl StateRun {
    /// One timeline line, its time counted from `since` (the execution's start):
    /// `   +0.4s ValidateFile              0.3s  succeeded`.
    pub fn line(&self, since: DateTime<Utc>) -> String {
        let offset = format!("+{:.1}s", seconds_between(since, self.entered_at).max(0.0));
        let took = self
            .seconds
            .map(|seconds| format!("{seconds:.1}s"))
            .unwrap_or_default();
        let mut line = format!(
            "{offset:>9} {:<22}{took:>8}  {}",
            self.name,
            self.status.describe()
        );
        match (&self.error, self.status) {
            (Some(error), StateStatus::Running) => {
                line.push_str(&format!(" (an attempt failed: {error})"));
            }
            (Some(error), _) => line.push_str(&format!(" ({error})")),
            (None, _) => {}
        }
        line
    }

    fn finish(&mut self, at: DateTime<Utc>, status: StateStatus) {
        self.seconds = Some(seconds_between(self.entered_at, at));
        self.status = status;
    }
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// Whether a history event says that something inside a state failed (`TaskFailed`,
/// `LambdaFunctionTimedOut`, `MapRunFailed`, ...).
fn is_failure(kind: &str) -> bool {
    !kind.starts_with("Execution")
        && (kind.ends_with("Failed") || kind.ends_with("TimedOut") || kind.ends_with("Aborted"))
}

/// The runs of the execution's states, in the order they were entered, from its history (oldest
/// first). A state that failed and was retried until it succeeded counts as succeeded; states
/// still open when the execution stopped end with the execution.
pub fn timeline(history: &[HistoryEvent]) -> Vec<StateRun> {
    let mut runs: Vec<StateRun> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for event in history {
        let kind = event.kind.as_str();
        if kind.ends_with("StateEntered") {
            open.push(runs.len());
            runs.push(StateRun {
                name: event.state.clone().unwrap_or_default(),
                entered_at: event.timestamp,
                seconds: None,
                status: StateStatus::Running,
                error: None,
            });
        } else if kind.ends_with("StateExited") {
            let position = open
                .iter()
                .rposition(|&index| Some(&runs[index].name) == event.state.as_ref());
            if let Some(position) = position {
                let run = &mut runs[open.remove(position)];
                let status = if run.error.is_some() {
                    StateStatus::Failed
                } else {
                    StateStatus::Succeeded
                };
                run.finish(event.timestamp, status);
            }
        } else if let Some(status) = execution_stop(kind) {
            for index in open.drain(..) {
                let run = &mut runs[index];
                if run.error.is_none() && status != StateStatus::Succeeded {
                    run.error = event.error.clone();
                }
                run.finish(event.timestamp, status);
            }
        } else if let Some(&index) = open.last() {
            if is_failure(kind) {
                runs[index].error = Some(event.error.clone().unwrap_or_else(|| kind.to_owned()));
            } else if kind.ends_with("Succeeded") {
                runs[index].error = None;
            }
        }
    }
    runs
}

fn execution_stop(kind: &str) -> Option<StateStatus> {
    match kind {
        "ExecutionSucceeded" => Some(StateStatus::Succeeded),
        "ExecutionFailed" => Some(StateStatus::Failed),
        "ExecutionTimedOut" => Some(StateStatus::TimedOut),
        "ExecutionAborted" => Some(StateStatus::Aborted),
        _ => None,
    }
}

/// The runs of `now` worth showing again since `shown` was shown (both from [`timeline`]): the new
/// ones, those whose status changed, and running ones with a new failed attempt.
pub fn new_or_changed<'a>(shown: &[StateRun], now: &'a [StateRun]) -> Vec<&'a StateRun> {
    now.iter()
        .enumerate()
        .filter(|(index, run)| match shown.get(*index) {
            None => true,
            Some(before) => {
                before.status != run.status || (run.error.is_some() && before.error != run.error)
            }
        })
        .map(|(_, run)| run)
        .collect()
}

/// The timeline of an execution as its details say it stands: the states still open when it stopped
/// end when it stopped (with its error, unless it succeeded).
pub fn closed_timeline(details: &ExecutionDetails, history: &[HistoryEvent]) -> Vec<StateRun> {
    let mut runs = timeline(history);
    if details.status != "RUNNING" {
        let stop = details
            .stop
            .or_else(|| history.last().map(|e| e.timestamp))
            .unwrap_or(details.start);
        for run in runs
            .iter_mut()
            .filter(|run| run.status == StateStatus::Running)
        {
            if details.status != "SUCCEEDED" {
                run.error = run.error.take().or_else(|| details.error.clone());
            }
            run.finish(stop, StateStatus::at_stop(&details.status));
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use expect_test::{Expect, expect};

    use super::*;

    fn start() -> DateTime<Utc> {
        "2026-12-01T00:00:00Z".parse().unwrap()
    }

    /// A history from `(milliseconds after the start, event type, state, error)`.
    fn history(events: &[(i64, &str, Option<&str>, Option<&str>)]) -> Vec<HistoryEvent> {
        events
            .iter()
            .zip(1..)
            .map(|(&(at, kind, state, error), id)| HistoryEvent {
                id,
                timestamp: start() + TimeDelta::milliseconds(at),
                kind: kind.to_owned(),
                state: state.map(str::to_owned),
                output: None,
                error: error.map(str::to_owned),
                cause: None,
            })
            .collect()
    }

    fn check(events: &[(i64, &str, Option<&str>, Option<&str>)], expected: Expect) {
        // Each line behind a `|`: the expectation keeps the leading spaces of the offsets.
        let lines: Vec<String> = timeline(&history(events))
            .iter()
            .map(|run| format!("|{}", run.line(start())))
            .collect();
        expected.assert_eq(&lines.join("\n"));
    }

    #[test]
    fn a_retried_state_that_succeeded_counts_as_succeeded() {
        check(
            &[
                (0, "ExecutionStarted", None, None),
                (100, "TaskStateEntered", Some("ApplyBatch"), None),
                (300, "LambdaFunctionFailed", None, Some("DatabaseError")),
                (900, "LambdaFunctionSucceeded", None, None),
                (1000, "TaskStateExited", Some("ApplyBatch"), None),
                (1100, "ExecutionSucceeded", None, None),
            ],
            expect!["|    +0.1s ApplyBatch                0.9s  succeeded"],
        );
    }

    #[test]
    fn a_caught_failure_shows_as_failed_and_the_execution_goes_on() {
        check(
            &[
                (0, "TaskStateEntered", Some("ValidateFile"), None),
                (200, "TaskFailed", None, Some("ValidationFailed")),
                (250, "TaskStateExited", Some("ValidateFile"), None),
                (300, "PassStateEntered", Some("MarkRejected"), None),
                (320, "PassStateExited", Some("MarkRejected"), None),
            ],
            expect![[r#"
                |    +0.0s ValidateFile              0.2s  failed (ValidationFailed)
                |    +0.3s MarkRejected              0.0s  succeeded"#]],
        );
    }

    #[test]
    fn states_open_when_the_execution_stopped_end_with_it() {
        check(
            &[
                (0, "MapStateEntered", Some("ApplyRows"), None),
                (5000, "ExecutionAborted", None, Some("States.Aborted")),
            ],
            expect!["|    +0.0s ApplyRows                 5.0s  aborted (States.Aborted)"],
        );
        check(
            &[
                (0, "TaskStateEntered", Some("BulkImport"), None),
                (700, "TaskStateEntered", Some("Inner"), None),
            ],
            expect![[r#"
                |    +0.0s BulkImport                      running
                |    +0.7s Inner                           running"#]],
        );
    }

    #[test]
    fn a_stopped_execution_closes_what_its_history_left_open() {
        let events = history(&[(0, "TaskStateEntered", Some("BulkImport"), None)]);
        let details = ExecutionDetails {
            arn: "arn".to_owned(),
            name: "imp".to_owned(),
            status: "FAILED".to_owned(),
            input: None,
            output: None,
            error: Some("States.TaskFailed".to_owned()),
            cause: None,
            start: start(),
            stop: Some(start() + TimeDelta::seconds(3)),
            redrive_status: None,
        };
        let runs = closed_timeline(&details, &events);
        expect!["    +0.0s BulkImport                3.0s  failed (States.TaskFailed)"]
            .assert_eq(&runs[0].line(start()));
        let json = serde_json::to_string(&runs[0]).unwrap();
        expect![[r#"{"name":"BulkImport","enteredAt":"2026-12-01T00:00:00Z","seconds":3.0,"status":"failed","error":"States.TaskFailed"}"#]]
            .assert_eq(&json);
    }
}
