//! The `import-csv` task, the bulk path of the `import` state machine (an ECS task started with
//! `ecs:runTask.sync`): it streams the object from S3 into the database in one transaction, then
//! writes the audit records of the changes and the errors. Exit 0 when the file was applied, 1
//! when it was rejected or failed, 2 when the task could not run.

use std::io::BufReader;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use userlog_aws::{AuditLog, AwsError, ErrorLog, s3};
use userlog_db::apply::changes_page;
use userlog_db::bulk::{self, BulkError, BulkOptions, ImportRequest, Progress};
use userlog_domain::records::{
    AuditContext, AuditRecord, ErrorRecord, ErrorSource, ProcessingStage,
};
use userlog_domain::rules::{ImportSummary, SourceObject};

/// What the state machine passes in the container's environment, and the task's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// `IMPORT_BUCKET`, `IMPORT_KEY`, `IMPORT_ETAG`: the object.
    pub source: SourceObject,
    /// `IMPORT_ID`: the ledger entry `validate-csv` claimed.
    pub import_id: i64,
    /// `IMPORT_AS_OF` (RFC 3339).
    pub as_of: DateTime<Utc>,
    /// `EXECUTION_NAME`.
    pub execution_name: String,
    /// `EXECUTION_START_TIME` (RFC 3339): the same on every attempt, so error records keep their keys.
    pub start_time: Option<DateTime<Utc>>,
    /// `AUDIT_TABLE` and `ERROR_TABLE`.
    pub audit_table: String,
    pub error_table: String,
    /// `MAX_FILE_BYTES` (default 100 MiB).
    pub max_bytes: u64,
    /// `DATABASE_SCHEMA`: the schema of a preview environment.
    pub database_schema: Option<String>,
    /// `ENVIRONMENT`: the dimension of the task's metrics.
    pub environment: String,
}

/// A setting is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TaskConfigError {
    #[error("the environment variable {0} is not set")]
    Missing(&'static str),
    #[error("the environment variable {name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Task {
    pub fn from_env() -> Result<Task, TaskConfigError> {
        Task::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Task, TaskConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| get(name).ok_or(TaskConfigError::Missing(name));
        let time = |name: &'static str, text: String| {
            DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|err| TaskConfigError::Invalid {
                    name,
                    reason: err.to_string(),
                })
        };
        let number = |name: &'static str, text: String| {
            text.parse::<i64>().map_err(|err| TaskConfigError::Invalid {
                name,
                reason: err.to_string(),
            })
        };
        Ok(Task {
            source: SourceObject {
                bucket: required("IMPORT_BUCKET")?,
                key: required("IMPORT_KEY")?,
                etag: required("IMPORT_ETAG")?,
            },
            import_id: number("IMPORT_ID", required("IMPORT_ID")?)?,
            as_of: time("IMPORT_AS_OF", required("IMPORT_AS_OF")?)?,
            execution_name: required("EXECUTION_NAME")?,
            start_time: get("EXECUTION_START_TIME")
                .map(|t| time("EXECUTION_START_TIME", t))
                .transpose()?,
            audit_table: required("AUDIT_TABLE")?,
            error_table: required("ERROR_TABLE")?,
            max_bytes: match get("MAX_FILE_BYTES") {
                Some(text) => number("MAX_FILE_BYTES", text)? as u64,
                None => userlog_domain::reader::DEFAULT_MAX_BYTES,
            },
            database_schema: get("DATABASE_SCHEMA"),
            environment: get("ENVIRONMENT").unwrap_or_else(|| "local".to_owned()),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("the import could not be carried out")]
    Import(#[source] BulkError),
    #[error("writing the audit records failed")]
    Audit(#[source] AwsError),
    #[error("writing the errors failed")]
    ErrorLog(#[source] AwsError),
    #[error("reading the changes back failed")]
    Changes(#[source] userlog_db::DbError),
}

/// The clients and pool the task uses.
pub struct Deps {
    pub s3: s3::Client,
    pub audit: AuditLog,
    pub errors: ErrorLog,
    pub pool: PgPool,
}

/// Progress in the task's log: one line per step and every 10 MiB.
struct LogProgress {
    last_logged: std::sync::atomic::AtomicU64,
}

impl Progress for LogProgress {
    fn bytes_read(&self, bytes: u64) {
        use std::sync::atomic::Ordering;
        const EVERY: u64 = 10 * 1024 * 1024;
        let last = self.last_logged.load(Ordering::Relaxed);
        if bytes >= last + EVERY {
            self.last_logged.store(bytes, Ordering::Relaxed);
            tracing::info!(bytes, "reading");
        }
    }

    fn step(&self, name: &'static str) {
        tracing::info!(step = name, "import step");
    }
}

/// How many changes are read back and written to the audit log at a time.
const AUDIT_PAGE: i64 = 1_000;

pub async fn run(deps: &Deps, task: &Task) -> Result<ImportSummary, TaskError> {
    let request = ImportRequest {
        source: task.source.clone(),
        as_of: task.as_of,
        execution_name: task.execution_name.clone(),
        claimed_import_id: Some(task.import_id),
    };
    let mut options = BulkOptions::default();
    options.read.max_bytes = task.max_bytes;
    // Each attempt downloads the object again, only while it still has the claimed ETag.
    let (client, bucket, key, etag) = (
        deps.s3.clone(),
        task.source.bucket.clone(),
        task.source.key.clone(),
        task.source.etag.clone(),
    );
    let runtime = tokio::runtime::Handle::current();
    let open = move || {
        let object = runtime
            .block_on(s3::open_object_if_match(&client, &bucket, &key, &etag))
            .map_err(std::io::Error::other)?;
        Ok(BufReader::with_capacity(256 * 1024, object.into_reader()))
    };
    let progress = Arc::new(LogProgress {
        last_logged: Default::default(),
    });
    let summary = match bulk::import(&deps.pool, open, &request, &options, progress).await {
        Ok(summary) => summary,
        Err(err) => {
            if matches!(&err, BulkError::Database(db) if db.is_transient()) {
                userlog_aws::metrics::emit_database_connection_error(
                    &task.environment,
                    "import-csv",
                );
            }
            return Err(TaskError::Import(err));
        }
    };

    if summary.status.applied() {
        publish_changes(deps, task).await?;
    }
    let source = ErrorSource {
        execution_name: task.execution_name.clone(),
        stage: ProcessingStage::Bulk,
        import_id: Some(task.import_id),
        at: task.start_time.unwrap_or(task.as_of),
        retry_count: 0,
    };
    let records: Vec<ErrorRecord> = summary
        .problems
        .iter()
        .map(|p| ErrorRecord::from_problem(&source, p))
        .chain(
            summary
                .row_errors
                .iter()
                .map(|e| ErrorRecord::from_row_error(&source, e)),
        )
        .collect();
    deps.errors
        .put(&records)
        .await
        .map_err(TaskError::ErrorLog)?;
    Ok(summary)
}

/// Writes the audit record of every change the import made, a page at a time. The records' keys
/// come from the database, so a rerun writes the same records again.
async fn publish_changes(deps: &Deps, task: &Task) -> Result<(), TaskError> {
    let context = AuditContext {
        execution_name: task.execution_name.clone(),
        execution_arn: None,
        import_id: task.import_id,
        as_of: task.as_of,
    };
    let mut after: Option<String> = None;
    loop {
        let page = changes_page(&deps.pool, task.import_id, after.as_deref(), AUDIT_PAGE)
            .await
            .map_err(TaskError::Changes)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.user_id.as_str().to_owned());
        let records: Vec<AuditRecord> = page
            .iter()
            .map(|c| {
                AuditRecord::statistics_update(
                    &context,
                    &c.user_id,
                    c.line,
                    c.old,
                    c.new,
                    c.changed_at,
                )
            })
            .collect();
        deps.audit.put(&records).await.map_err(TaskError::Audit)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_task_reads_its_environment() {
        let env = [
            ("IMPORT_BUCKET", "in"),
            ("IMPORT_KEY", "a.csv"),
            ("IMPORT_ETAG", "e"),
            ("IMPORT_ID", "42"),
            ("IMPORT_AS_OF", "2026-01-31T09:00:00+09:00"),
            ("EXECUTION_NAME", "x"),
            ("AUDIT_TABLE", "logs"),
            ("ERROR_TABLE", "errors"),
        ];
        let lookup = |name: &str| {
            env.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let task = Task::from_lookup(lookup).unwrap();
        assert_eq!(
            (task.import_id, task.as_of.to_rfc3339().as_str()),
            (42, "2026-01-31T00:00:00+00:00")
        );
        let missing = Task::from_lookup(|name| {
            if name == "IMPORT_ID" {
                None
            } else {
                lookup(name)
            }
        });
        assert_eq!(missing, Err(TaskConfigError::Missing("IMPORT_ID")));
    }
}
