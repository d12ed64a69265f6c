//! The imports ledger: one row per source object, claimed before anything is applied, so that an
//! object is imported at most once however often its event arrives.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use userlog_domain::rules::{ImportStatus, ImportSummary, SourceObject};

use crate::error::DbError;

/// The outcome of claiming an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "claim", rename_all = "camelCase")]
pub enum Claim {
    /// This execution owns the import now (a first attempt, or a rerun after a failure).
    Claimed { import_id: i64, attempt: i32 },
    /// The object was imported successfully before.
    AlreadyImported { import_id: i64 },
    /// Another execution is importing the object right now.
    InProgress {
        import_id: i64,
        execution_name: Option<String>,
    },
}

/// How long a `running` claim is honoured before another execution may take it over (a crashed
/// task never releases its claim).
pub const DEFAULT_STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(2);

/// Claims `source` for `execution_name`.
///
/// A failed or rejected import may be claimed again (a rerun), and so may a `running` one whose
/// claim is older than `stale_after` or that belongs to the same execution (a retried state).
pub async fn claim(
    conn: &mut PgConnection,
    source: &SourceObject,
    as_of: DateTime<Utc>,
    execution_name: &str,
    stale_after: chrono::TimeDelta,
) -> Result<Claim, DbError> {
    claim_taking_over(conn, source, as_of, execution_name, stale_after, None).await
}

/// [`claim`], and also take over a `running` claim of `redrive_of`: the execution this one
/// re-runs (`cargo xtask redrive`), which Step Functions says has stopped, so its claim is
/// orphaned however recent it is.
pub async fn claim_taking_over(
    conn: &mut PgConnection,
    source: &SourceObject,
    as_of: DateTime<Utc>,
    execution_name: &str,
    stale_after: chrono::TimeDelta,
    redrive_of: Option<&str>,
) -> Result<Claim, DbError> {
    let claimed: Option<(i64, i32)> = sqlx::query_as(
        "INSERT INTO imports (idempotency_key, source_bucket, source_key, source_etag, as_of, execution_name, status)
         VALUES ($1, $2, $3, $4, $5, $6, 'running')
         ON CONFLICT (idempotency_key) DO UPDATE SET
             status = 'running',
             attempt = imports.attempt + 1,
             execution_name = EXCLUDED.execution_name,
             as_of = EXCLUDED.as_of,
             claimed_at = now(),
             finished_at = NULL
         WHERE imports.status IN ('failed', 'rejected')
            OR (imports.status = 'running'
                AND (imports.execution_name = EXCLUDED.execution_name
                     OR imports.execution_name = $8
                     OR imports.claimed_at < now() - make_interval(secs => $7)))
         RETURNING import_id, attempt",
    )
    .bind(source.idempotency_key())
    .bind(&source.bucket)
    .bind(&source.key)
    .bind(source.etag.trim_matches('"'))
    .bind(as_of)
    .bind(execution_name)
    .bind(stale_after.as_seconds_f64())
    .bind(redrive_of)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((import_id, attempt)) = claimed {
        return Ok(Claim::Claimed { import_id, attempt });
    }
    let (import_id, status, execution_name): (i64, String, Option<String>) = sqlx::query_as(
        "SELECT import_id, status, execution_name FROM imports WHERE idempotency_key = $1",
    )
    .bind(source.idempotency_key())
    .fetch_one(&mut *conn)
    .await?;
    Ok(if status == "succeeded" {
        Claim::AlreadyImported { import_id }
    } else {
        Claim::InProgress {
            import_id,
            execution_name,
        }
    })
}

/// The ledger's row for an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ImportRecord {
    pub import_id: i64,
    pub source_bucket: String,
    pub source_key: String,
    pub source_etag: String,
    pub as_of: DateTime<Utc>,
    pub execution_name: Option<String>,
    pub route: Option<String>,
    pub status: String,
    pub attempt: i32,
    pub claimed_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub rows_total: Option<i64>,
    pub applied: Option<i64>,
    pub unchanged: Option<i64>,
    pub skipped_older: Option<i64>,
    pub row_errors: Option<i64>,
}

/// Reads an import's ledger row.
pub async fn get(pool: &PgPool, import_id: i64) -> Result<Option<ImportRecord>, DbError> {
    Ok(sqlx::query_as(
        "SELECT import_id, source_bucket, source_key, source_etag, as_of, execution_name, route, status,
                attempt, claimed_at, finished_at, rows_total, applied, unchanged, skipped_older, row_errors
         FROM imports WHERE import_id = $1",
    )
    .bind(import_id)
    .fetch_optional(pool)
    .await?)
}

/// Records which path (`map` or `bulk`) the import takes.
pub async fn set_route(pool: &PgPool, import_id: i64, route: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE imports SET route = $2 WHERE import_id = $1")
        .bind(import_id)
        .bind(route)
        .execute(pool)
        .await?;
    Ok(())
}

fn status_name(status: ImportStatus) -> &'static str {
    match status {
        ImportStatus::Succeeded | ImportStatus::SucceededWithErrors | ImportStatus::Duplicate => {
            "succeeded"
        }
        ImportStatus::Rejected => "rejected",
        ImportStatus::Failed => "failed",
    }
}

/// Writes an import's final status and summary (the bulk path knows every figure).
pub async fn record_summary(
    conn: &mut PgConnection,
    import_id: i64,
    summary: &ImportSummary,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE imports SET status = $2, finished_at = now(), rows_total = $3, applied = $4, unchanged = $5,
                skipped_older = $6, row_errors = $7, summary = $8
         WHERE import_id = $1",
    )
    .bind(import_id)
    .bind(status_name(summary.status))
    .bind(summary.rows_total as i64)
    .bind(summary.applied as i64)
    .bind(summary.unchanged as i64)
    .bind(summary.skipped_older as i64)
    .bind(summary.row_error_count as i64)
    .bind(sqlx::types::Json(summary))
    .execute(conn)
    .await?;
    Ok(())
}

/// Figures of an import, counted from what it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportTotals {
    /// Users whose counts this import changed (or created).
    pub rows_applied: u64,
}

/// Closes an import with its final status (the map path, where no single step knows every figure).
pub async fn finish(
    pool: &PgPool,
    import_id: i64,
    status: ImportStatus,
) -> Result<ImportTotals, DbError> {
    let (applied,): (i64,) = sqlx::query_as(
        "WITH totals AS (SELECT count(*) AS applied FROM statistic_changes WHERE import_id = $1)
         UPDATE imports SET status = $2, finished_at = now(), applied = totals.applied
         FROM totals WHERE import_id = $1
         RETURNING totals.applied",
    )
    .bind(import_id)
    .bind(status_name(status))
    .fetch_one(pool)
    .await?;
    Ok(ImportTotals {
        rows_applied: applied as u64,
    })
}
