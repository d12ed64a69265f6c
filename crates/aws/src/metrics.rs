//! Metrics as CloudWatch Embedded Metric Format lines: printed to stdout, where Lambda ships them
//! to CloudWatch Logs, which extracts the metrics (no `PutMetricData` call, no extra permission).

use chrono::{DateTime, Utc};
use serde_json::json;

/// The namespace of the pipeline's metrics (seed 003).
pub const NAMESPACE: &str = "CSV/Processing";

/// The figures of one error check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorMetrics<'a> {
    /// The only dimension: one metric per environment, not per execution (which would create a
    /// new metric for every run).
    pub environment: &'a str,
    /// Kept as a property, searchable in CloudWatch Logs Insights.
    pub execution_name: &'a str,
    pub outcome: &'a str,
    pub error_count: u64,
    pub critical_count: u64,
    pub timestamp: DateTime<Utc>,
}

/// The EMF line of the check's `ErrorCount` and `CriticalErrorCount`.
pub fn render_emf(metrics: &ErrorMetrics<'_>) -> String {
    json!({
        "_aws": {
            "Timestamp": metrics.timestamp.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Environment"]],
                "Metrics": [
                    {"Name": "ErrorCount", "Unit": "Count"},
                    {"Name": "CriticalErrorCount", "Unit": "Count"},
                ],
            }],
        },
        "Environment": metrics.environment,
        "ErrorCount": metrics.error_count,
        "CriticalErrorCount": metrics.critical_count,
        "executionName": metrics.execution_name,
        "outcome": metrics.outcome,
    })
    .to_string()
}

/// Prints the EMF line on stdout, on a line of its own.
pub fn emit_emf(metrics: &ErrorMetrics<'_>) {
    println!("{}", render_emf(metrics));
}

/// The EMF line of one failed attempt to reach the database: `DatabaseConnectionErrors`, which
/// the database-connection alarm watches.
pub fn render_database_connection_error(
    environment: &str,
    function: &str,
    timestamp: DateTime<Utc>,
) -> String {
    json!({
        "_aws": {
            "Timestamp": timestamp.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Environment"]],
                "Metrics": [{"Name": "DatabaseConnectionErrors", "Unit": "Count"}],
            }],
        },
        "Environment": environment,
        "DatabaseConnectionErrors": 1,
        "function": function,
    })
    .to_string()
}

/// Prints the `DatabaseConnectionErrors` EMF line on stdout.
pub fn emit_database_connection_error(environment: &str, function: &str) {
    println!(
        "{}",
        render_database_connection_error(environment, function, Utc::now())
    );
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn renders_one_json_line_with_an_environment_dimension() {
        let metrics = ErrorMetrics {
            environment: "production",
            execution_name: "import-0123abcd",
            outcome: "SUCCEEDED_WITH_ERRORS",
            error_count: 3,
            critical_count: 1,
            timestamp: "2026-01-02T03:04:05.678Z".parse().unwrap(),
        };
        expect![[r#"{"_aws":{"Timestamp":1767323045678,"CloudWatchMetrics":[{"Namespace":"CSV/Processing","Dimensions":[["Environment"]],"Metrics":[{"Name":"ErrorCount","Unit":"Count"},{"Name":"CriticalErrorCount","Unit":"Count"}]}]},"Environment":"production","ErrorCount":3,"CriticalErrorCount":1,"executionName":"import-0123abcd","outcome":"SUCCEEDED_WITH_ERRORS"}"#]].assert_eq(&render_emf(&metrics));
    }

    #[test]
    fn database_connection_errors_count_one_per_failure() {
        let at = "2026-01-02T03:04:05.678Z".parse().unwrap();
        expect![[r#"{"_aws":{"Timestamp":1767323045678,"CloudWatchMetrics":[{"Namespace":"CSV/Processing","Dimensions":[["Environment"]],"Metrics":[{"Name":"DatabaseConnectionErrors","Unit":"Count"}]}]},"Environment":"staging","DatabaseConnectionErrors":1,"function":"validate-csv"}"#]]
            .assert_eq(&render_database_connection_error("staging", "validate-csv", at));
    }
}
