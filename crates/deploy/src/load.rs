//! What a load run (`cargo xtask bench load`) reads from the executions it caused: how they
//! ended, how long they took, and the throttles, retries and database errors in their histories.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::HistoryEvent;

/// The error a throttled Lambda call fails with.
pub const THROTTLE_ERROR: &str = "Lambda.TooManyRequestsException";
/// The error a function raises for a transient database failure (a refused or dropped connection).
pub const DATABASE_ERROR: &str = "DatabaseError";

/// The failures in one history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failures {
    /// Task attempts throttled (`Lambda.TooManyRequestsException`).
    pub throttles: u64,
    /// Task attempts that failed with `DatabaseError`.
    pub database_errors: u64,
    /// Failed task attempts that were tried again.
    pub retries: u64,
    /// Failed task attempts in all.
    pub task_failures: u64,
}

impl Failures {
    /// Adds another history's failures.
    pub fn add(&mut self, other: Failures) {
        self.throttles += other.throttles;
        self.database_errors += other.database_errors;
        self.retries += other.retries;
        self.task_failures += other.task_failures;
    }
}

/// Counts the failed task attempts of one history (oldest event first), and which of them were
/// retried: a `TaskFailed` followed by another `TaskScheduled` before the state is left.
pub fn failures(history: &[HistoryEvent]) -> Failures {
    let mut counted = Failures::default();
    let mut pending_failure = false;
    for event in history {
        match event.kind.as_str() {
            "TaskFailed" | "LambdaFunctionFailed" | "TaskTimedOut" => {
                counted.task_failures += 1;
                match event.error.as_deref() {
                    Some(THROTTLE_ERROR) => counted.throttles += 1,
                    Some(DATABASE_ERROR) => counted.database_errors += 1,
                    _ => {}
                }
                pending_failure = true;
            }
            "TaskScheduled" | "LambdaFunctionScheduled" if pending_failure => {
                counted.retries += 1;
                pending_failure = false;
            }
            kind if kind.ends_with("StateExited") => pending_failure = false,
            _ => {}
        }
    }
    counted
}

/// The `q`-quantile (0 to 1) of `values` by the nearest-rank method; `None` for no values.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// How many executions ended in each status.
pub fn by_status<'a>(statuses: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for status in statuses {
        *counts.entry(status.to_owned()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone as _, Utc};

    use super::*;

    fn event(kind: &str, error: Option<&str>) -> HistoryEvent {
        HistoryEvent {
            id: 0,
            timestamp: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
            kind: kind.to_owned(),
            state: None,
            output: None,
            error: error.map(str::to_owned),
            cause: None,
        }
    }

    #[test]
    fn retried_throttles_and_database_errors_are_counted() {
        let history = [
            event("TaskStateEntered", None),
            event("TaskScheduled", None),
            event("TaskFailed", Some(THROTTLE_ERROR)),
            event("TaskScheduled", None),
            event("TaskFailed", Some(DATABASE_ERROR)),
            event("TaskScheduled", None),
            event("TaskSucceeded", None),
            event("TaskStateExited", None),
            event("TaskStateEntered", None),
            event("TaskScheduled", None),
            event("TaskFailed", Some("BatchRejectedByDatabase")),
            event("TaskStateExited", None),
        ];
        assert_eq!(
            failures(&history),
            Failures {
                throttles: 1,
                database_errors: 1,
                retries: 2,
                task_failures: 3,
            }
        );
    }

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), Some(50.0));
        assert_eq!(quantile(&values, 0.95), Some(95.0));
        assert_eq!(quantile(&[3.0], 0.95), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(
            by_status(["SUCCEEDED", "FAILED", "SUCCEEDED"]),
            BTreeMap::from([("FAILED".to_owned(), 1), ("SUCCEEDED".to_owned(), 2)])
        );
    }
}
