//! The check's decisions, as pure functions: how the execution ended, what the ledger records,
//! which channels hear about it, and the message they get.

use userlog_aws::Channel;
use userlog_domain::limits::{CHECK_CAUSE_CHARS, cap};
use userlog_domain::report::{
    ErrorSummary, ExecutionInfo, Failure, ImportReport, Message, Outcome, import_message, redact,
};
use userlog_domain::rules::{ImportStatus, Tolerance};

use crate::input::{CheckInput, summarize_cause};

/// The error name of a file the validator rejected.
pub const VALIDATION_FAILED: &str = "ValidationFailed";
/// The error name of an import with more row errors than tolerated.
pub const TOO_MANY_ROW_ERRORS: &str = "TooManyRowErrors";

/// How the execution ended, and what follows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// Set when the outcome is [`Outcome::Failed`].
    pub failure: Option<Failure>,
    /// The status to close the ledger's entry with; `None` for a duplicate, whose entry belongs
    /// to the import that did the work.
    pub ledger_status: Option<ImportStatus>,
    pub duplicate: bool,
}

/// Decides the outcome: failed when the state machine caught a failure, when the file was
/// rejected, or when more rows failed than tolerated; succeeded with errors when any error was
/// recorded; succeeded otherwise.
pub fn decide(input: &CheckInput, summary: &ErrorSummary, tolerance: Tolerance) -> Verdict {
    let validation = input.validation.as_ref();
    let duplicate = validation.is_some_and(|v| v.duplicate);
    let row_count = validation.and_then(|v| v.row_count);
    let failed = |failure: Failure, status: ImportStatus| Verdict {
        outcome: Outcome::Failed,
        failure: Some(Failure {
            error: failure.error,
            cause: cap(&redact(&failure.cause), CHECK_CAUSE_CHARS),
        }),
        ledger_status: Some(status),
        duplicate: false,
    };
    if let Some(caught) = &input.failure {
        // A Lambda error's cause repeats its type, which is already the error.
        let cause = summarize_cause(&caught.cause);
        let cause = cause
            .strip_prefix(&format!("{}: ", caught.error))
            .map_or(cause.clone(), str::to_owned);
        return failed(
            Failure {
                error: caught.error.clone(),
                cause,
            },
            ImportStatus::Failed,
        );
    }
    if let Some(v) = validation.filter(|v| v.is_valid == Some(false)) {
        let count = v.error_count.unwrap_or(v.problems.len() as u64);
        let cause = match v.problems.first() {
            Some(first) => format!("the file has {count} problems; the first: {first}"),
            None => format!("the file has {count} problems"),
        };
        return failed(
            Failure {
                error: VALIDATION_FAILED.to_owned(),
                cause,
            },
            ImportStatus::Rejected,
        );
    }
    if !within_tolerance(tolerance, summary.row_error_count, row_count) {
        let rows = row_count.map_or_else(|| "an unknown number of".to_owned(), |n| n.to_string());
        let cause = format!(
            "{} of {rows} rows failed; the tolerance is {}% and {} rows",
            summary.row_error_count, tolerance.max_percent, tolerance.max_count
        );
        return failed(
            Failure {
                error: TOO_MANY_ROW_ERRORS.to_owned(),
                cause,
            },
            ImportStatus::Failed,
        );
    }
    let (outcome, status) = if summary.total > 0 {
        (
            Outcome::SucceededWithErrors,
            ImportStatus::SucceededWithErrors,
        )
    } else {
        (Outcome::Succeeded, ImportStatus::Succeeded)
    };
    Verdict {
        outcome,
        failure: None,
        ledger_status: (!duplicate).then_some(status),
        duplicate,
    }
}

/// Without a row count only the count limit can be checked.
fn within_tolerance(tolerance: Tolerance, failed: u64, rows: Option<u64>) -> bool {
    match rows {
        Some(rows) => tolerance.allows(failed, rows),
        None => failed <= tolerance.max_count,
    }
}

/// The channels to notify: every channel about errors and failures; about a success, Slack only,
/// or SNS when Slack cannot be used.
pub fn channels_for(outcome: Outcome, slack_ready: bool) -> Vec<Channel> {
    match outcome {
        Outcome::Failed | Outcome::SucceededWithErrors => {
            vec![Channel::Sns, Channel::Slack, Channel::Email]
        }
        Outcome::Succeeded if slack_ready => vec![Channel::Slack],
        Outcome::Succeeded => vec![Channel::Sns],
    }
}

/// The facts of the execution that every message shows.
pub fn execution_info(input: &CheckInput, environment: &str) -> ExecutionInfo {
    ExecutionInfo {
        environment: environment.to_owned(),
        execution_name: input
            .execution_name
            .clone()
            .unwrap_or_else(|| "unknown".to_owned()),
        bucket: input.bucket.clone(),
        key: input.key.clone(),
        start_time: input.start_time.clone(),
    }
}

/// The message about the execution.
pub fn compose(
    input: &CheckInput,
    verdict: &Verdict,
    summary: &ErrorSummary,
    rows_applied: Option<u64>,
    environment: &str,
) -> Message {
    let execution = execution_info(input, environment);
    let validation = input.validation.as_ref();
    import_message(&ImportReport {
        execution: &execution,
        outcome: verdict.outcome,
        failure: verdict.failure.as_ref(),
        summary,
        row_count: validation.and_then(|v| v.row_count),
        rows_applied,
        duplicate: verdict.duplicate,
        problems: validation.map_or(&[], |v| v.problems.as_slice()),
        problem_count: validation.and_then(|v| v.error_count),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use expect_test::{Expect, expect};
    use serde_json::json;
    use userlog_domain::ErrorCode;
    use userlog_domain::records::{ErrorRecord, ErrorSource, ProcessingStage};
    use userlog_domain::report::analyze;
    use userlog_domain::rules::RowError;

    use super::*;

    fn input(state: &serde_json::Value) -> CheckInput {
        CheckInput::from_event(&json!({
            "state": state,
            "executionName": "import-0123abcd",
            "executionArn": "arn:aws:states:ap-northeast-1:111111111111:execution:staging-userlog-import:import-0123abcd",
            "startTime": "2026-01-02T03:04:05.000Z"
        }))
    }

    fn row_errors(count: u64) -> Vec<ErrorRecord> {
        let at: DateTime<Utc> = "2026-01-02T03:04:06Z".parse().unwrap();
        let source = ErrorSource {
            execution_name: "import-0123abcd".into(),
            stage: ProcessingStage::Apply,
            import_id: Some(7),
            at,
            retry_count: 0,
        };
        (1..=count)
            .map(|n| {
                let error = RowError {
                    line: Some(n + 1),
                    user_id: None,
                    code: ErrorCode::UserNotFound,
                    message: "the user does not exist".into(),
                };
                ErrorRecord::from_row_error(&source, &error)
            })
            .collect()
    }

    fn validation(row_count: u64) -> serde_json::Value {
        json!({"isValid": true, "duplicate": false, "rowCount": row_count, "importId": 7, "errorCount": 0, "errors": []})
    }

    fn state(validation: &serde_json::Value) -> serde_json::Value {
        json!({"bucket": "staging-userlog-input-111111111111", "key": "incoming/users.csv", "etag": "e", "size": 100, "validation": validation})
    }

    /// Decides on `state` with `errors` recorded, and renders the verdict and the channels.
    fn check(state: &serde_json::Value, errors: &[ErrorRecord], expected: &Expect) {
        let input = input(state);
        let summary = analyze(errors);
        let verdict = decide(&input, &summary, Tolerance::default());
        let failure = verdict
            .failure
            .as_ref()
            .map_or("-".to_owned(), |f| format!("{}: {}", f.error, f.cause));
        expected.assert_eq(&format!(
            "{} ledger={:?} duplicate={} failure={failure} channels={:?}/{:?}",
            verdict.outcome.as_str(),
            verdict.ledger_status,
            verdict.duplicate,
            channels_for(verdict.outcome, true),
            channels_for(verdict.outcome, false),
        ));
    }

    #[test]
    fn outcomes() {
        check(
            &state(&validation(1000)),
            &[],
            &expect![
                "SUCCEEDED ledger=Some(Succeeded) duplicate=false failure=- channels=[Slack]/[Sns]"
            ],
        );
        check(
            &state(&validation(1000)),
            &row_errors(50),
            &expect![
                "SUCCEEDED_WITH_ERRORS ledger=Some(SucceededWithErrors) duplicate=false failure=- channels=[Sns, Slack, Email]/[Sns, Slack, Email]"
            ],
        );
        check(
            &state(&validation(1000)),
            &row_errors(51),
            &expect![
                "FAILED ledger=Some(Failed) duplicate=false failure=TooManyRowErrors: 51 of 1000 rows failed; the tolerance is 5% and 50 rows channels=[Sns, Slack, Email]/[Sns, Slack, Email]"
            ],
        );
        check(
            &state(&validation(100)),
            &row_errors(6),
            &expect![
                "FAILED ledger=Some(Failed) duplicate=false failure=TooManyRowErrors: 6 of 100 rows failed; the tolerance is 5% and 50 rows channels=[Sns, Slack, Email]/[Sns, Slack, Email]"
            ],
        );
        check(
            &state(&json!({"isValid": true, "duplicate": true, "rowCount": 10, "importId": 3})),
            &[],
            &expect!["SUCCEEDED ledger=None duplicate=true failure=- channels=[Slack]/[Sns]"],
        );
        check(
            &state(
                &json!({"isValid": false, "rowCount": 2, "importId": 7, "errorCount": 3,
                "errors": [{"line": 1, "column": 3, "code": "UnknownColumn", "message": "`extra` is not a known column"}]}),
            ),
            &[],
            &expect![
                "FAILED ledger=Some(Rejected) duplicate=false failure=ValidationFailed: the file has 3 problems; the first: 1:3: UnknownColumn `extra` is not a known column channels=[Sns, Slack, Email]/[Sns, Slack, Email]"
            ],
        );
        let mut caught = state(&validation(10));
        caught["failure"] = json!({"Error": "DatabaseError", "Cause": "{\"errorType\":\"DatabaseError\",\"errorMessage\":\"connect to postgres://app:pw@db:5432/userlog failed\"}"});
        check(
            &caught,
            &row_errors(1),
            &expect![
                "FAILED ledger=Some(Failed) duplicate=false failure=DatabaseError: connect to postgres://[redacted]@db:5432/userlog failed channels=[Sns, Slack, Email]/[Sns, Slack, Email]"
            ],
        );
        // The bulk path may not count rows: only the count limit applies.
        check(
            &json!({"bucket": "b", "key": "k"}),
            &row_errors(50),
            &expect![
                "SUCCEEDED_WITH_ERRORS ledger=Some(SucceededWithErrors) duplicate=false failure=- channels=[Sns, Slack, Email]/[Sns, Slack, Email]"
            ],
        );
        check(
            &json!({"bucket": "b", "key": "k"}),
            &row_errors(51),
            &expect![
                "FAILED ledger=Some(Failed) duplicate=false failure=TooManyRowErrors: 51 of an unknown number of rows failed; the tolerance is 5% and 50 rows channels=[Sns, Slack, Email]/[Sns, Slack, Email]"
            ],
        );
    }

    #[test]
    fn message_of_an_import_with_errors() {
        let input = input(&state(&validation(1000)));
        let summary = analyze(&row_errors(2));
        let verdict = decide(&input, &summary, Tolerance::default());
        let message = compose(&input, &verdict, &summary, Some(998), "staging");
        expect![[r#"
            [staging] userlog import succeeded with 2 errors: import-0123abcd

            userlog import finished with errors / CSV処理エラー通知
            Environment / 環境: staging
            Execution / 実行名: import-0123abcd
            File / ファイル: s3://staging-userlog-input-111111111111/incoming/users.csv
            Started / 開始時刻: 2026-01-02T03:04:05.000Z
            Outcome / 結果: SUCCEEDED_WITH_ERRORS
            Rows applied / 更新件数: 998 of 1000 rows in the file

            Errors / エラー概要: 2 in total (総エラー数), 0 high or critical (重要エラー数)
            By type / エラータイプ別内訳:
            - UserNotFound: 2
            By severity / 重要度別:
            - MEDIUM: 2

            What to do / 対応:
            - UserNotFound: create the user first, or remove the row"#]]
        .assert_eq(&format!("{}\n\n{}", message.subject, message.text));
    }

    #[test]
    fn message_of_a_caught_failure() {
        let mut state = state(&validation(10));
        state["failure"] = json!({"Error": "States.TaskFailed", "Cause": "{\"StoppedReason\":\"Essential container in task exited\",\"Containers\":[{\"Name\":\"import-csv\",\"ExitCode\":1}]}"});
        let input = input(&state);
        let summary = analyze(&[]);
        let verdict = decide(&input, &summary, Tolerance::default());
        let message = compose(&input, &verdict, &summary, None, "production");
        expect![[r#"
            [production] userlog import FAILED (States.TaskFailed): import-0123abcd

            userlog import FAILED / CSV処理失敗
            Environment / 環境: production
            Execution / 実行名: import-0123abcd
            File / ファイル: s3://staging-userlog-input-111111111111/incoming/users.csv
            Started / 開始時刻: 2026-01-02T03:04:05.000Z
            Outcome / 結果: FAILED
            Rows in the file / 行数: 10
            Error / エラー: States.TaskFailed
            Cause / 原因: the task stopped: Essential container in task exited (import-csv exited with code 1)

            Nothing more happens on its own: fix the cause, then re-run the import with `cargo xtask redrive import-0123abcd --env production`. / 至急確認をお願いします。"#]].assert_eq(&format!("{}\n\n{}", message.subject, message.text));
    }
}
