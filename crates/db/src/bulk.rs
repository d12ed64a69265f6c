//! The bulk import path (the `import-csv` task and `cargo xtask import`): stream the file into a
//! staging table with `COPY`, check it, and merge it into `user_statistics` in one transaction.
//!
//! The whole file is applied or nothing is: a rejected or failed file changes nothing but its
//! ledger entry. Memory does not grow with the file: the reader streams, and rows go to the
//! server in fixed-size chunks.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use userlog_domain::backoff::{Backoff, jitter};
use userlog_domain::limits::LISTED_PROBLEMS;
use userlog_domain::reader::{CsvReader, Problem, ReadError, ReadOptions};
use userlog_domain::rules::{ImportStatus, ImportSummary, RowError, SourceObject, Tolerance};
use userlog_domain::{Encoding, ErrorCode, UserId};

use crate::error::DbError;
use crate::ledger::{self, Claim};

/// Told about progress as the import goes.
pub trait Progress: Send + Sync {
    /// Raw bytes of the file read so far.
    fn bytes_read(&self, _bytes: u64) {}
    /// The import moved on to another step (`reading`, `checking`, `merging`, `committing`).
    fn step(&self, _name: &'static str) {}
}

/// Progress that nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}

/// How to import.
#[derive(Debug, Clone, Copy)]
pub struct BulkOptions {
    pub read: ReadOptions,
    pub tolerance: Tolerance,
    /// Attempts in all when the database fails transiently (the connection drops, a deadlock).
    pub max_attempts: u32,
    /// How long a `running` claim of another execution is honoured.
    pub stale_after: chrono::TimeDelta,
    /// How a refused or dropped connection (too many clients, the server starting or shutting
    /// down) is waited out before each attempt: the database is busy, not broken.
    pub connect: Backoff,
}

impl Default for BulkOptions {
    fn default() -> Self {
        BulkOptions {
            read: ReadOptions::default(),
            tolerance: Tolerance::default(),
            max_attempts: 3,
            stale_after: ledger::DEFAULT_STALE_AFTER,
            connect: CONNECT_BACKOFF,
        }
    }
}

/// Up to 20 connection attempts, waiting up to 30 s between them: several minutes, as long as a
/// burst of imports holds the database's connections.
pub const CONNECT_BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    max_delay: Duration::from_secs(30),
    max_attempts: 20,
};

/// Waits until `pool` hands out a connection, retrying transient refusals (SQLSTATE 53300 too
/// many connections, 57P03 cannot connect now, 08xxx connection failures, timeouts) with
/// `backoff`. The connection goes back to the pool idle, for the next `begin` to take.
pub async fn wait_for_connection(pool: &PgPool, backoff: &Backoff) -> Result<(), DbError> {
    let mut retry = 0;
    loop {
        match pool.acquire().await.map_err(DbError::from) {
            Ok(_connection) => return Ok(()),
            Err(err) if err.is_transient() && retry + 1 < backoff.max_attempts => {
                let delay = backoff.delay(retry, jitter());
                tracing::warn!(retry, error = %err, delay_ms = delay.as_millis() as u64, "the database refused a connection; waiting");
                tokio::time::sleep(delay).await;
                retry += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub source: SourceObject,
    pub as_of: DateTime<Utc>,
    pub execution_name: String,
    /// Set when the state machine claimed the import already; otherwise it is claimed here,
    /// inside the import's own transaction.
    pub claimed_import_id: Option<i64>,
}

/// Why an import could not run to an outcome.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("could not read the file")]
    Read(#[source] io::Error),
    #[error(
        "the object is being imported by execution {execution_name:?} (import {import_id}); try again when it ends"
    )]
    InProgress {
        import_id: i64,
        execution_name: Option<String>,
    },
}

impl BulkError {
    /// Whether running the import again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            BulkError::Database(err) => err.is_transient(),
            BulkError::Read(_) | BulkError::InProgress { .. } => true,
        }
    }
}

/// Imports a file. `open` opens it from the start; it is called again when an attempt is retried.
///
/// Returns the summary for every outcome the file itself decides (applied, duplicate, rejected,
/// too many row errors) and `Err` only when the import could not be carried out.
pub async fn import<R, F>(
    pool: &PgPool,
    open: F,
    request: &ImportRequest,
    options: &BulkOptions,
    progress: Arc<dyn Progress>,
) -> Result<ImportSummary, BulkError>
where
    R: Read + Send + 'static,
    F: Fn() -> io::Result<R> + Send + Sync + 'static,
{
    let open = Arc::new(open);
    let mut attempt = 1;
    loop {
        let result = attempt_import(pool, open.clone(), request, options, progress.clone()).await;
        match result {
            Ok(Outcome::Done(summary)) => return Ok(summary),
            Ok(Outcome::Refused { import_id, summary }) => {
                // The data transaction rolled back; the ledger remembers why, in its own.
                let mut conn = pool.acquire().await.map_err(DbError::from)?;
                record_refusal(&mut conn, request, import_id, &summary, options).await?;
                return Ok(summary);
            }
            Err(BulkError::Database(err))
                if err.is_transient() && attempt < options.max_attempts =>
            {
                tracing::warn!(attempt, error = %err, "the database failed transiently; retrying the import");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

enum Outcome {
    /// Committed (applied or duplicate).
    Done(ImportSummary),
    /// Rolled back because of the file's content (rejected, or too many row errors).
    Refused {
        import_id: Option<i64>,
        summary: ImportSummary,
    },
}

/// What the reading thread found.
struct Produced {
    rows_total: u64,
    problems: Vec<Problem>,
    problem_count: u64,
    encoding: Option<Encoding>,
}

async fn attempt_import<R, F>(
    pool: &PgPool,
    open: Arc<F>,
    request: &ImportRequest,
    options: &BulkOptions,
    progress: Arc<dyn Progress>,
) -> Result<Outcome, BulkError>
where
    R: Read + Send + 'static,
    F: Fn() -> io::Result<R> + Send + Sync + 'static,
{
    wait_for_connection(pool, &options.connect).await?;
    let mut tx = pool.begin().await.map_err(DbError::from)?;
    let import_id = match request.claimed_import_id {
        Some(import_id) => import_id,
        None => {
            match ledger::claim(
                &mut tx,
                &request.source,
                request.as_of,
                &request.execution_name,
                options.stale_after,
            )
            .await?
            {
                Claim::Claimed { import_id, .. } => import_id,
                Claim::AlreadyImported { import_id } => {
                    tx.rollback().await.map_err(DbError::from)?;
                    let mut summary = empty_summary(ImportStatus::Duplicate, request.as_of);
                    summary.import_id = Some(import_id);
                    summary.duplicate = true;
                    return Ok(Outcome::Done(summary));
                }
                Claim::InProgress {
                    import_id,
                    execution_name,
                } => {
                    return Err(BulkError::InProgress {
                        import_id,
                        execution_name,
                    });
                }
            }
        }
    };

    progress.step("reading");
    sqlx::query(
        "CREATE TEMP TABLE import_rows (line bigint NOT NULL, user_id text NOT NULL,
                                        login_count int NOT NULL, post_count int NOT NULL) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    let produced = copy_rows(&mut tx, open, options.read, progress.clone()).await?;
    let mut summary = empty_summary(ImportStatus::Rejected, request.as_of);
    summary.import_id = Some(import_id);
    summary.rows_total = produced.rows_total;

    progress.step("checking");
    sqlx::query("ANALYZE import_rows")
        .execute(&mut *tx)
        .await
        .map_err(DbError::from)?;
    // Duplicates are checked among the valid rows even when other rows have problems, so that
    // one report lists everything that is wrong with the file.
    let duplicates = if produced.encoding.is_some() {
        duplicate_problems(&mut tx).await?
    } else {
        Vec::new()
    };
    if produced.problem_count > 0 || !duplicates.is_empty() || produced.encoding.is_none() {
        let mut problems = produced.problems;
        problems.extend(duplicates);
        problems.sort_by_key(|p| (p.line, p.column));
        problems.truncate(LISTED_PROBLEMS);
        summary.problems = problems;
        return Ok(Outcome::Refused {
            import_id: Some(import_id),
            summary,
        });
    }
    let (row_errors, row_error_count) = missing_users(&mut tx).await?;
    summary.row_errors = row_errors;
    summary.row_error_count = row_error_count;
    if !options
        .tolerance
        .allows(row_error_count, produced.rows_total)
    {
        summary.status = ImportStatus::Failed;
        summary.problems = vec![Problem::new(
            0,
            None,
            ErrorCode::TooManyRowErrors,
            format!(
                "{row_error_count} of {} rows failed; at most {} % and {} rows are tolerated",
                produced.rows_total, options.tolerance.max_percent, options.tolerance.max_count
            ),
        )];
        return Ok(Outcome::Refused {
            import_id: Some(import_id),
            summary,
        });
    }

    progress.step("merging");
    // One lock for the merge instead of a million row locks: concurrent writers (another bulk
    // merge, map batches) wait until this transaction ends; readers are not blocked. Statements
    // after the lock see everything committed before it, so the old values read below are exact.
    sqlx::query("LOCK TABLE user_statistics IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .map_err(DbError::from)?;
    let inserted = merge_new(&mut tx, import_id, request.as_of).await?;
    let (touched, changed) = merge_existing(&mut tx, import_id, request.as_of).await?;
    summary.applied = inserted + changed;
    summary.unchanged = touched - changed;
    // Every other row of a known user belongs to a user whose counts come from a newer file.
    summary.skipped_older = produced.rows_total - row_error_count - inserted - touched;
    summary.status = if row_error_count == 0 {
        ImportStatus::Succeeded
    } else {
        ImportStatus::SucceededWithErrors
    };

    progress.step("committing");
    ledger::record_summary(&mut tx, import_id, &summary).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(Outcome::Done(summary))
}

fn empty_summary(status: ImportStatus, as_of: DateTime<Utc>) -> ImportSummary {
    ImportSummary {
        status,
        import_id: None,
        as_of,
        rows_total: 0,
        applied: 0,
        unchanged: 0,
        skipped_older: 0,
        duplicate: false,
        row_error_count: 0,
        row_errors: Vec::new(),
        problems: Vec::new(),
    }
}

/// Streams the file's valid rows into `import_rows`. Reading runs on a blocking thread and hands
/// chunks over a small bounded channel, so memory stays flat whatever the file's size.
async fn copy_rows<R, F>(
    conn: &mut PgConnection,
    open: Arc<F>,
    read: ReadOptions,
    progress: Arc<dyn Progress>,
) -> Result<Produced, BulkError>
where
    R: Read + Send + 'static,
    F: Fn() -> io::Result<R> + Send + Sync + 'static,
{
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let reader = tokio::task::spawn_blocking(move || produce(&*open, read, &sender, &*progress));
    let mut copy = conn
        .copy_in_raw("COPY import_rows (line, user_id, login_count, post_count) FROM STDIN")
        .await
        .map_err(DbError::from)?;
    let mut sent = Ok(());
    while let Some(chunk) = receiver.recv().await {
        if let Err(err) = copy.send(chunk).await {
            sent = Err(err);
            break;
        }
    }
    // Closing the channel stops the reader if the database went away.
    drop(receiver);
    let produced = reader
        .await
        .map_err(|err| BulkError::Read(io::Error::other(err)))?;
    if let Err(err) = sent {
        return Err(DbError::from(err).into());
    }
    let produced = produced.map_err(BulkError::Read)?;
    copy.finish().await.map_err(DbError::from)?;
    Ok(produced)
}

const CHUNK_BYTES: usize = 256 * 1024;

fn produce<R: Read>(
    open: &dyn Fn() -> io::Result<R>,
    options: ReadOptions,
    sender: &tokio::sync::mpsc::Sender<Vec<u8>>,
    progress: &dyn Progress,
) -> io::Result<Produced> {
    let mut produced = Produced {
        rows_total: 0,
        problems: Vec::new(),
        problem_count: 0,
        encoding: None,
    };
    let note = |produced: &mut Produced, problem: Problem| {
        produced.problem_count += 1;
        if produced.problems.len() < LISTED_PROBLEMS {
            produced.problems.push(problem);
        }
    };
    let mut reader = match CsvReader::open(open()?, options) {
        Ok(reader) => reader,
        Err(ReadError::File(problems)) => {
            problems.into_iter().for_each(|p| note(&mut produced, p));
            return Ok(produced);
        }
        Err(ReadError::Io(err)) => return Err(err),
    };
    produced.encoding = Some(reader.encoding());
    let mut chunk = Vec::with_capacity(CHUNK_BYTES + 64);
    let mut receiver_gone = false;
    loop {
        let row = match reader.next_row() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(ReadError::File(problems)) => {
                problems.into_iter().for_each(|p| note(&mut produced, p));
                break;
            }
            Err(ReadError::Io(err)) => return Err(err),
        };
        produced.rows_total += 1;
        match row {
            Ok(row) if !receiver_gone => {
                use std::io::Write as _;
                // User ids are `[A-Za-z0-9_-]` and counts are digits: nothing needs escaping.
                let _ = writeln!(
                    chunk,
                    "{}\t{}\t{}\t{}",
                    row.line,
                    row.user_id,
                    row.login_count.get(),
                    row.post_count.get()
                );
                if chunk.len() >= CHUNK_BYTES {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES + 64));
                    receiver_gone = sender.blocking_send(full).is_err();
                    progress.bytes_read(reader.bytes_read());
                }
            }
            Ok(_) => {}
            Err(problems) => problems.into_iter().for_each(|p| note(&mut produced, p)),
        }
    }
    if produced.problem_count > 0 && produced.rows_total == 0 {
        produced.encoding = None;
    }
    if produced.rows_total == 0 && produced.problem_count == 0 {
        note(
            &mut produced,
            Problem::new(
                1,
                None,
                ErrorCode::EmptyFile,
                "the file has a header but no data rows",
            ),
        );
    }
    if !chunk.is_empty() && !receiver_gone {
        let _ = sender.blocking_send(chunk);
    }
    progress.bytes_read(reader.bytes_read());
    Ok(produced)
}

/// Rows whose user id already appeared on an earlier line.
async fn duplicate_problems(conn: &mut PgConnection) -> Result<Vec<Problem>, DbError> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "WITH repeated AS (
             SELECT user_id, min(line) AS first_line FROM import_rows GROUP BY user_id HAVING count(*) > 1
         )
         SELECT r.line, r.user_id, repeated.first_line
         FROM import_rows r JOIN repeated ON repeated.user_id = r.user_id
         WHERE r.line > repeated.first_line
         ORDER BY r.line LIMIT $1",
    )
    .bind(LISTED_PROBLEMS as i64)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(line, user_id, first)| {
            Problem::new(
                line as u64,
                None,
                ErrorCode::DuplicateUserId,
                format!("the user id `{user_id}` is also on line {first}"),
            )
        })
        .collect())
}

/// Rows whose user does not exist: the first ones, and how many in all.
async fn missing_users(conn: &mut PgConnection) -> Result<(Vec<RowError>, u64), DbError> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT r.line, r.user_id, count(*) OVER ()
         FROM import_rows r WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = r.user_id)
         ORDER BY r.line LIMIT $1",
    )
    .bind(LISTED_PROBLEMS as i64)
    .fetch_all(&mut *conn)
    .await?;
    let total = rows.first().map_or(0, |row| row.2 as u64);
    let errors = rows
        .into_iter()
        .map(|(line, user_id, _)| RowError {
            line: Some(line as u64),
            message: format!("the user `{user_id}` does not exist"),
            user_id: UserId::parse(&user_id).ok(),
            code: ErrorCode::UserNotFound,
        })
        .collect();
    Ok((errors, total))
}

/// Creates statistics for users that have none, with an audit change each. Runs under the
/// merge's table lock, so nobody else creates them meanwhile. Rows go in user id order: B-tree
/// insertions at the right edge are far cheaper than scattered ones.
async fn merge_new(
    conn: &mut PgConnection,
    import_id: i64,
    as_of: DateTime<Utc>,
) -> Result<u64, DbError> {
    sqlx::query(
        "CREATE TEMP TABLE new_rows ON COMMIT DROP AS
         SELECT r.user_id, r.line, r.login_count, r.post_count
         FROM import_rows r
         WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id = r.user_id)
           AND NOT EXISTS (SELECT 1 FROM user_statistics s WHERE s.user_id = r.user_id)
         ORDER BY r.user_id",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO statistic_changes (import_id, user_id, line, old_login_count, new_login_count, old_post_count, new_post_count)
         SELECT $1, user_id, line, NULL, login_count, NULL, post_count FROM new_rows",
    )
    .bind(import_id)
    .execute(&mut *conn)
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO user_statistics (user_id, login_count, post_count, as_of, import_id, last_updated)
         SELECT user_id, login_count, post_count, $2, $1, now() FROM new_rows",
    )
    .bind(import_id)
    .bind(as_of)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(inserted)
}

/// Sets the counts of users whose statistics come from an older file, with an audit change for
/// each user whose counts actually differ; rows of newer files are left alone (the stamp). Runs
/// under the merge's table lock. Returns how many users it stamped, and how many of those changed.
async fn merge_existing(
    conn: &mut PgConnection,
    import_id: i64,
    as_of: DateTime<Utc>,
) -> Result<(u64, u64), DbError> {
    let changed = sqlx::query(
        "INSERT INTO statistic_changes (import_id, user_id, line, old_login_count, new_login_count, old_post_count, new_post_count)
         SELECT $1, r.user_id, r.line, s.login_count, r.login_count, s.post_count, r.post_count
         FROM import_rows r JOIN user_statistics s ON s.user_id = r.user_id
         WHERE (s.as_of, s.import_id) < ($2, $1)
           AND (s.login_count, s.post_count) IS DISTINCT FROM (r.login_count, r.post_count)
         ORDER BY r.user_id",
    )
    .bind(import_id)
    .bind(as_of)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let touched = sqlx::query(
        "UPDATE user_statistics s
         SET login_count = r.login_count,
             post_count = r.post_count,
             as_of = $2,
             import_id = $1,
             last_updated = CASE WHEN (s.login_count, s.post_count) IS DISTINCT FROM (r.login_count, r.post_count)
                                 THEN now() ELSE s.last_updated END
         FROM import_rows r
         WHERE s.user_id = r.user_id AND (s.as_of, s.import_id) < ($2, $1)",
    )
    .bind(import_id)
    .bind(as_of)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok((touched, changed))
}

/// Remembers in the ledger that a file was refused (its data transaction rolled back).
async fn record_refusal(
    conn: &mut PgConnection,
    request: &ImportRequest,
    import_id: Option<i64>,
    summary: &ImportSummary,
    options: &BulkOptions,
) -> Result<(), BulkError> {
    let import_id = match import_id.or(request.claimed_import_id) {
        Some(id) if request.claimed_import_id.is_some() => id,
        _ => {
            // The claim rolled back with the data: claim again, on its own, to record the outcome.
            match ledger::claim(
                conn,
                &request.source,
                request.as_of,
                &request.execution_name,
                options.stale_after,
            )
            .await?
            {
                Claim::Claimed { import_id, .. } => import_id,
                // Someone else got further in the meantime; their outcome stands.
                Claim::AlreadyImported { .. } | Claim::InProgress { .. } => return Ok(()),
            }
        }
    };
    let mut summary = summary.clone();
    summary.import_id = Some(import_id);
    ledger::record_summary(conn, import_id, &summary).await?;
    Ok(())
}
