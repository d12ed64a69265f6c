//! What the API reads: the statistics and the imports ledger from PostgreSQL (the reader endpoint
//! where the environment has one), the audit trail and the error log from DynamoDB. Every answer
//! is a camelCase JSON shape of its own, independent of the tables' columns.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use userlog_aws::{AuditKey, AuditLog, AwsError, ErrorLog};

/// The import that set a user's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRef {
    pub import_id: i64,
    pub execution_name: Option<String>,
    pub source_bucket: String,
    pub source_key: String,
}

/// `GET /users/{userId}/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserStats {
    pub user_id: String,
    pub login_count: i32,
    pub post_count: i32,
    /// The as-of time of the file that set the counts; `null` before any import.
    pub as_of: Option<DateTime<Utc>>,
    /// When the counts were last written.
    pub last_updated: Option<DateTime<Utc>>,
    /// The import the counts came from; `null` before any import.
    pub import: Option<ImportRef>,
}

/// One change in `GET /users/{userId}/history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub execution_name: String,
    pub import_id: i64,
    /// When the change was made.
    pub changed_at: String,
    /// The as-of time of the file that made it.
    pub as_of: String,
    pub old_login_count: Option<i32>,
    pub new_login_count: i32,
    pub old_post_count: Option<i32>,
    pub new_post_count: i32,
    pub line: Option<u64>,
}

/// One import in `GET /imports`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ImportItem {
    pub import_id: i64,
    pub execution_name: Option<String>,
    pub status: String,
    pub route: Option<String>,
    pub source_bucket: String,
    pub source_key: String,
    pub as_of: DateTime<Utc>,
    pub attempt: i32,
    pub claimed_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub rows_total: Option<i64>,
    pub rows_applied: Option<i64>,
    pub row_errors: Option<i64>,
}

/// One error of an import, as `GET /imports/{executionName}` lists the first ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportError {
    pub code: String,
    pub severity: String,
    pub stage: String,
    pub line: Option<u64>,
    pub user_id: Option<String>,
    pub message: String,
    pub timestamp: String,
}

/// `GET /imports/{executionName}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportDetail {
    #[serde(flatten)]
    pub import: ImportItem,
    /// The error records of the execution by code (of the first [`MAX_COUNTED_ERRORS`]).
    pub errors_by_code: BTreeMap<String, u64>,
    /// Whether `errorsByCode` counts every error record (false: there were more to count).
    pub errors_complete: bool,
    /// The first errors, oldest first.
    pub first_errors: Vec<ImportError>,
}

/// How many error records of an execution are read to count them by code.
pub const MAX_COUNTED_ERRORS: usize = 1000;

/// How many errors `firstErrors` shows.
pub const FIRST_ERRORS: usize = 10;

/// A failed read, by where it failed. The error itself is logged, never answered.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database read failed")]
    Database(#[source] sqlx::Error),
    #[error("the DynamoDB read failed")]
    Dynamo(#[source] AwsError),
}

/// The query of [`ImportItem`]s, to which a query adds its conditions.
macro_rules! import_columns {
    () => {
        "SELECT import_id, execution_name, status, route, source_bucket, source_key, as_of, attempt,
                claimed_at, finished_at, rows_total, applied AS rows_applied, row_errors
         FROM imports"
    };
}

/// The stores.
#[derive(Debug, Clone)]
pub struct Store {
    /// PostgreSQL, on the reader endpoint where there is one.
    pub pool: PgPool,
    pub audit: AuditLog,
    pub errors: ErrorLog,
    /// The error table's index by execution.
    pub execution_index: String,
}

/// A page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    pub next: Option<K>,
}

impl Store {
    /// Whether PostgreSQL answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(StoreError::Database)
    }

    /// Whether the user exists.
    pub async fn user_exists(&self, user_id: &str) -> Result<bool, StoreError> {
        sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM users WHERE user_id = $1)")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::Database)
    }

    /// A user's counts and where they came from; `None` for an unknown user.
    pub async fn user_stats(&self, user_id: &str) -> Result<Option<UserStats>, StoreError> {
        type Row = (
            String,
            Option<i32>,
            Option<i32>,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT u.user_id, s.login_count, s.post_count, s.as_of, s.last_updated,
                    i.import_id, i.execution_name, i.source_bucket, i.source_key
             FROM users u
             LEFT JOIN user_statistics s ON s.user_id = u.user_id
             LEFT JOIN imports i ON i.import_id = s.import_id
             WHERE u.user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::Database)?;
        Ok(row.map(
            |(user_id, login, post, as_of, last_updated, import_id, execution, bucket, key)| {
                UserStats {
                    user_id,
                    login_count: login.unwrap_or(0),
                    post_count: post.unwrap_or(0),
                    as_of,
                    last_updated,
                    import: import_id.map(|import_id| ImportRef {
                        import_id,
                        execution_name: execution,
                        source_bucket: bucket.unwrap_or_default(),
                        source_key: key.unwrap_or_default(),
                    }),
                }
            },
        ))
    }

    /// A page of a user's changes, newest first.
    pub async fn history(
        &self,
        user_id: &str,
        limit: u32,
        after: Option<AuditKey>,
    ) -> Result<Page<Change, AuditKey>, StoreError> {
        let page = self
            .audit
            .for_user(
                user_id,
                i32::try_from(limit).unwrap_or(i32::MAX),
                after.as_ref(),
            )
            .await
            .map_err(StoreError::Dynamo)?;
        let items = page
            .records
            .into_iter()
            .map(|r| Change {
                changed_at: r
                    .timestamp
                    .split_once('#')
                    .map_or(r.timestamp.as_str(), |(at, _)| at)
                    .to_owned(),
                execution_name: r.execution_name,
                import_id: r.import_id,
                as_of: r.as_of,
                old_login_count: r.old_login_count,
                new_login_count: r.new_login_count,
                old_post_count: r.old_post_count,
                new_post_count: r.new_post_count,
                line: r.line,
            })
            .collect();
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// A page of the ledger, newest first, before import `before` when given.
    pub async fn imports(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Page<ImportItem, i64>, StoreError> {
        let mut items: Vec<ImportItem> = sqlx::query_as(concat!(
            import_columns!(),
            " WHERE ($1::BIGINT IS NULL OR import_id < $1) ORDER BY import_id DESC LIMIT $2"
        ))
        .bind(before)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::Database)?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|i| i.import_id)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// The newest import of an execution, with its errors; `None` when there is none.
    pub async fn import(&self, execution_name: &str) -> Result<Option<ImportDetail>, StoreError> {
        let import: Option<ImportItem> = sqlx::query_as(concat!(
            import_columns!(),
            " WHERE execution_name = $1 ORDER BY import_id DESC LIMIT 1"
        ))
        .bind(execution_name)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::Database)?;
        let Some(import) = import else {
            return Ok(None);
        };
        let (records, more) = self
            .errors
            .first_for_execution(&self.execution_index, execution_name, MAX_COUNTED_ERRORS)
            .await
            .map_err(StoreError::Dynamo)?;
        let mut errors_by_code = BTreeMap::new();
        for record in &records {
            *errors_by_code.entry(record.error_type.clone()).or_insert(0) += 1;
        }
        let first_errors = records
            .iter()
            .take(FIRST_ERRORS)
            .map(|r| ImportError {
                code: r.error_type.clone(),
                severity: serde_json::to_value(r.severity)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                stage: r.processing_stage.as_str().to_owned(),
                line: r.record_data.line,
                user_id: r.record_data.user_id.clone(),
                message: r.error_message.clone(),
                timestamp: r.timestamp.clone(),
            })
            .collect();
        Ok(Some(ImportDetail {
            import,
            errors_by_code,
            errors_complete: !more,
            first_errors,
        }))
    }
}
