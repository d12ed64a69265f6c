//! The `process-user-log` function: one `ItemBatcher` batch of the distributed map. It applies
//! the rows under the as-of guard, writes the audit records of the changes and the row errors,
//! and can be retried: a retried batch changes nothing twice and writes the same records again.

use chrono::{DateTime, Utc};
use lambda_runtime::Diagnostic;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use userlog_aws::{AuditLog, AwsError, ErrorLog};
use userlog_db::DbError;
use userlog_db::apply::{BatchRow, apply_batch};
use userlog_domain::batch::MapItem;
use userlog_domain::records::{
    AuditContext, AuditRecord, ErrorRecord, ErrorSource, ProcessingStage,
};
use userlog_domain::rules::{RowError, Stamp};

/// The function's settings, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `AUDIT_TABLE`: the `ProcessingLogs` table.
    pub audit_table: String,
    /// `ERROR_TABLE`: the `csv-processing-errors` table.
    pub error_table: String,
    /// `DATABASE_SCHEMA`: the schema of a preview environment.
    pub database_schema: Option<String>,
    /// `ENVIRONMENT`: the dimension of the function's metrics.
    pub environment: String,
}

/// A setting is missing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the environment variable {0} is not set")]
pub struct MissingSetting(pub &'static str);

impl Config {
    pub fn from_env() -> Result<Config, MissingSetting> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, MissingSetting> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Ok(Config {
            audit_table: get("AUDIT_TABLE").ok_or(MissingSetting("AUDIT_TABLE"))?,
            error_table: get("ERROR_TABLE").ok_or(MissingSetting("ERROR_TABLE"))?,
            database_schema: get("DATABASE_SCHEMA"),
            environment: get("ENVIRONMENT").unwrap_or_else(|| "local".to_owned()),
        })
    }
}

/// What `ItemBatcher` hands over: the items and the state machine's `BatchInput`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Batch {
    pub items: Vec<MapItem>,
    pub batch_input: BatchInput,
}

/// The import the batch belongs to (from the validation state's result).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInput {
    pub import_id: i64,
    pub as_of: DateTime<Utc>,
    pub execution_name: String,
    #[serde(default)]
    pub execution_arn: Option<String>,
    /// The execution's start time: the same on every retry, so error records keep their keys.
    #[serde(default)]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub lines_match_records: bool,
}

/// What the batch did; the distributed map's `ResultWriter` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResult {
    pub rows: u64,
    pub applied: u64,
    pub unchanged: u64,
    pub skipped_older: u64,
    pub row_errors: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("applying the batch failed")]
    Database(#[source] DbError),
    #[error("writing the audit records failed")]
    Audit(#[source] AwsError),
    #[error("writing the row errors failed")]
    ErrorLog(#[source] AwsError),
}

impl BatchError {
    /// The error name the state machine's Retry and Catch see.
    pub fn error_type(&self) -> &'static str {
        match self {
            BatchError::Database(err) if err.is_transient() => DbError::ERROR_NAME,
            BatchError::Database(_) => "BatchRejectedByDatabase",
            BatchError::Audit(_) => "AuditLogUnavailable",
            BatchError::ErrorLog(_) => "ErrorLogUnavailable",
        }
    }
}

impl From<BatchError> for Diagnostic {
    fn from(err: BatchError) -> Diagnostic {
        userlog_lambda::diagnostic(err.error_type(), &err)
    }
}

/// The clients and pool the handler uses, built once.
pub struct Deps {
    pub environment: String,
    pub audit: AuditLog,
    pub errors: ErrorLog,
    pub pool: PgPool,
}

/// Splits a batch into rows to apply and rows that cannot be read (the validator has checked the
/// file, so these only appear if the file changed in between). Blank lines are neither.
pub fn parse_items(batch: &Batch) -> (Vec<BatchRow>, Vec<RowError>) {
    let mut rows = Vec::with_capacity(batch.items.len());
    let mut errors = Vec::new();
    for item in batch.items.iter().filter(|item| !item.is_blank()) {
        match item.parse(batch.batch_input.lines_match_records) {
            Ok(row) => rows.push(BatchRow {
                line: row.line,
                user_id: row.user_id,
                counts: row.counts,
            }),
            Err(problem) => errors.push(RowError {
                line: item.line(batch.batch_input.lines_match_records),
                user_id: None,
                code: problem.code,
                message: problem.message,
            }),
        }
    }
    (rows, errors)
}

pub async fn handle(deps: &Deps, batch: Batch) -> Result<BatchResult, BatchError> {
    let result = apply(deps, batch).await;
    if let Err(BatchError::Database(err)) = &result
        && err.is_transient()
    {
        userlog_aws::metrics::emit_database_connection_error(&deps.environment, "process-user-log");
    }
    result
}

async fn apply(deps: &Deps, batch: Batch) -> Result<BatchResult, BatchError> {
    let input = &batch.batch_input;
    let (rows, mut row_errors) = parse_items(&batch);
    let stamp = Stamp {
        as_of: input.as_of,
        import_id: input.import_id,
    };
    let outcome = apply_batch(&deps.pool, stamp, &rows)
        .await
        .map_err(BatchError::Database)?;

    let context = AuditContext {
        execution_name: input.execution_name.clone(),
        execution_arn: input.execution_arn.clone(),
        import_id: input.import_id,
        as_of: input.as_of,
    };
    let audit: Vec<AuditRecord> = outcome
        .changes
        .iter()
        .map(|c| {
            AuditRecord::statistics_update(&context, &c.user_id, c.line, c.old, c.new, c.changed_at)
        })
        .collect();
    deps.audit.put(&audit).await.map_err(BatchError::Audit)?;

    row_errors.extend(outcome.row_errors);
    if !row_errors.is_empty() {
        let source = ErrorSource {
            execution_name: input.execution_name.clone(),
            stage: ProcessingStage::Apply,
            import_id: Some(input.import_id),
            at: input.start_time.unwrap_or(input.as_of),
            retry_count: 0,
        };
        let records: Vec<ErrorRecord> = row_errors
            .iter()
            .map(|e| ErrorRecord::from_row_error(&source, e))
            .collect();
        deps.errors
            .put(&records)
            .await
            .map_err(BatchError::ErrorLog)?;
    }
    Ok(BatchResult {
        rows: batch.items.len() as u64,
        applied: outcome.applied,
        unchanged: outcome.unchanged,
        skipped_older: outcome.skipped_older,
        row_errors: row_errors.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_parse_from_the_item_batcher_shape() {
        let batch: Batch = serde_json::from_str(
            r#"{
              "Items": [
                {"index": 0, "row": {"ユーザーID": "U1", "ログイン回数": "3", "投稿回数": "4"}},
                {"index": 1, "row": {"ユーザーID": "U2", "ログイン回数": "x", "投稿回数": "4"}},
                {"index": 2, "row": {"ユーザーID": "", "ログイン回数": "", "投稿回数": ""}}
              ],
              "BatchInput": {"importId": 7, "asOf": "2026-01-31T00:00:00Z", "executionName": "e1",
                             "startTime": "2026-01-31T01:00:00Z", "linesMatchRecords": true, "ttl": 1}
            }"#,
        )
        .unwrap();
        let (rows, errors) = parse_items(&batch);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].line, rows[0].user_id.as_str()), (Some(2), "U1"));
        assert_eq!(errors.len(), 1);
        assert_eq!(
            (errors[0].line, errors[0].code),
            (Some(3), userlog_domain::ErrorCode::BadCount)
        );
    }
}
