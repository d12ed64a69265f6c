//! The check itself: read the execution's errors, decide, close the ledger entry, notify, emit
//! metrics. The decisions are in [`crate::verdict`]; this module does the IO around them.

use chrono::Utc;
use lambda_runtime::Diagnostic;
use serde::Serialize;
use sqlx::PgPool;
use userlog_aws::metrics::{ErrorMetrics, emit_emf};
use userlog_aws::notify::{deliver, send_all};
use userlog_aws::{
    AwsError, Channel, Delivery, ErrorLog, Notifier, SesNotifier, SlackSource, SnsNotifier,
};
use userlog_db::DbError;
use userlog_db::ledger::{self, ImportTotals};
use userlog_domain::report::{Message, Outcome, analyze, check_failed_message, redact};
use userlog_domain::rules::ImportStatus;

use crate::config::Config;
use crate::input::CheckInput;
use crate::verdict::{channels_for, compose, decide, execution_info};

/// What the function returns to the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckOutput {
    pub outcome: Outcome,
    /// The Fail state's `Error`, for a failed import.
    pub error: Option<String>,
    /// The Fail state's `Cause`, for a failed import.
    pub cause: Option<String>,
    pub error_count: u64,
    pub critical_count: u64,
    pub notified: Vec<Delivery>,
    pub import_id: Option<i64>,
    pub rows_applied: Option<u64>,
    pub duplicate: bool,
}

/// Why the check itself failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("the input has no executionName")]
    NoExecutionName,
    #[error("could not read the error table")]
    ErrorLog(#[source] AwsError),
    #[error("could not close the import's ledger entry")]
    Ledger(#[source] DbError),
}

impl CheckError {
    /// The error name the state machine sees (and its `Retry` matches).
    pub fn error_type(&self) -> &'static str {
        match self {
            CheckError::NoExecutionName => "InvalidInput",
            CheckError::ErrorLog(_) => "ErrorLogUnavailable",
            CheckError::Ledger(err) if err.is_transient() => DbError::ERROR_NAME,
            CheckError::Ledger(_) => "LedgerUpdateFailed",
        }
    }
}

impl From<CheckError> for Diagnostic {
    fn from(err: CheckError) -> Diagnostic {
        userlog_lambda::diagnostic(err.error_type(), &err)
    }
}

/// Everything the check talks to, built once per process.
#[derive(Debug)]
pub struct Deps {
    pub config: Config,
    pub errors: ErrorLog,
    pub alerts: SnsNotifier,
    pub critical: SnsNotifier,
    pub email: Option<SesNotifier>,
    pub slack: SlackSource,
    pub pool: PgPool,
}

/// Runs the check for one execution. When the check itself fails, a critical notification goes
/// to SNS (best effort) and the error is returned, so that the state fails.
pub async fn handle(deps: &Deps, event: &serde_json::Value) -> Result<CheckOutput, CheckError> {
    let input = CheckInput::from_event(event);
    match check(deps, &input).await {
        Ok(output) => {
            tracing::info!(
                execution = input.execution_name.as_deref().unwrap_or_default(),
                outcome = output.outcome.as_str(),
                errors = output.error_count,
                critical = output.critical_count,
                "checked"
            );
            Ok(output)
        }
        Err(err) => {
            let chain = userlog_lambda::error_chain(&err);
            tracing::error!(error_type = err.error_type(), error = %redact(&chain), "the check failed");
            if err.error_type() == DbError::ERROR_NAME {
                userlog_aws::metrics::emit_database_connection_error(
                    &deps.config.environment,
                    "check-errors",
                );
            }
            let message =
                check_failed_message(&execution_info(&input, &deps.config.environment), &chain);
            let delivery = deliver(&deps.critical, &message).await;
            if !delivery.ok {
                tracing::error!(detail = %delivery.detail, "the critical notification failed too");
            }
            Err(err)
        }
    }
}

async fn check(deps: &Deps, input: &CheckInput) -> Result<CheckOutput, CheckError> {
    let execution_name = input
        .execution_name
        .as_deref()
        .ok_or(CheckError::NoExecutionName)?;
    let records = deps
        .errors
        .for_execution(execution_name)
        .await
        .map_err(CheckError::ErrorLog)?;
    let summary = analyze(&records);
    let verdict = decide(input, &summary, deps.config.tolerance);
    // The ledger first: if the database fails, the retried check has not notified anyone yet.
    let totals = match (verdict.ledger_status, input.import_id()) {
        (Some(status), Some(import_id)) => Some(
            close_ledger(&deps.pool, import_id, status)
                .await
                .map_err(CheckError::Ledger)?,
        ),
        _ => None,
    };
    let rows_applied = totals.map(|t| t.rows_applied);
    let message = compose(
        input,
        &verdict,
        &summary,
        rows_applied,
        &deps.config.environment,
    );
    let notified = notify(deps, verdict.outcome, &message).await;
    emit_emf(&ErrorMetrics {
        environment: &deps.config.environment,
        execution_name,
        outcome: verdict.outcome.as_str(),
        error_count: summary.total,
        critical_count: summary.critical_count,
        timestamp: Utc::now(),
    });
    Ok(CheckOutput {
        outcome: verdict.outcome,
        error: verdict.failure.as_ref().map(|f| f.error.clone()),
        cause: verdict.failure.map(|f| f.cause),
        error_count: summary.total,
        critical_count: summary.critical_count,
        notified,
        import_id: input.import_id(),
        rows_applied,
        duplicate: verdict.duplicate,
    })
}

/// Closes the import's entry in the ledger with its final status.
async fn close_ledger(
    pool: &PgPool,
    import_id: i64,
    status: ImportStatus,
) -> Result<ImportTotals, DbError> {
    ledger::finish(pool, import_id, status).await
}

/// Sends the message on the outcome's channels; a channel that is not set up is reported as such.
async fn notify(deps: &Deps, outcome: Outcome, message: &Message) -> Vec<Delivery> {
    let slack = deps.slack.load().await;
    let mut ready: Vec<&dyn Notifier> = Vec::new();
    let mut deliveries = Vec::new();
    for channel in channels_for(outcome, slack.notifier().is_some()) {
        match channel {
            Channel::Sns => ready.push(&deps.alerts),
            Channel::Slack => match slack.notifier() {
                Some(notifier) => ready.push(notifier),
                None => deliveries.extend(slack.unusable()),
            },
            Channel::Email => match &deps.email {
                Some(notifier) => ready.push(notifier),
                None => deliveries.push(Delivery::failed(
                    Channel::Email,
                    "not configured: SES_FROM and SES_TO are not set",
                )),
            },
        }
    }
    deliveries.extend(send_all(&ready, message).await);
    deliveries.sort_by_key(|d| d.channel);
    deliveries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_the_state_machine_sees() {
        let io = || {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "refused",
            ))
        };
        let outage = CheckError::Ledger(DbError::from(io()));
        let diagnostic = Diagnostic::from(outage);
        assert_eq!(diagnostic.error_type, "DatabaseError");
        assert_eq!(
            diagnostic.error_message,
            "could not close the import's ledger entry: the database is unavailable or interrupted the work; retrying may help: error communicating with database: refused"
        );
        assert_eq!(
            CheckError::Ledger(DbError::from(sqlx::Error::RowNotFound)).error_type(),
            "LedgerUpdateFailed"
        );
        assert_eq!(
            Diagnostic::from(CheckError::NoExecutionName).error_type,
            "InvalidInput"
        );
    }
}
