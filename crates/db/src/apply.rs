//! Applying one batch of rows (the distributed map path): set counts under the as-of guard, in one
//! transaction, idempotently, so that a retried batch changes nothing twice.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use userlog_domain::rules::{Counts, Decision, RowError, Stamp, decide};
use userlog_domain::{Count, ErrorCode, UserId};

use crate::error::DbError;

/// One row of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRow {
    /// The physical line in the file, when known.
    pub line: Option<u64>,
    pub user_id: UserId,
    pub counts: Counts,
}

/// A change an import made to one user's statistics: the audit record's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub import_id: i64,
    pub user_id: UserId,
    pub line: Option<u64>,
    /// `None` when the user had no statistics before.
    pub old: Option<Counts>,
    pub new: Counts,
    pub changed_at: DateTime<Utc>,
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchOutcome {
    /// Rows whose counts this import changed (in this attempt or an earlier one).
    pub applied: u64,
    pub unchanged: u64,
    pub skipped_older: u64,
    pub row_errors: Vec<RowError>,
    /// Every change this import made for the batch's users, for the audit trail. A retried batch
    /// returns the same changes, so the audit records can be written again with the same keys.
    pub changes: Vec<Change>,
}

/// Counts as stored; the table's CHECK constraints keep them non-negative.
pub(crate) fn counts(login: i32, post: i32) -> Counts {
    Counts {
        login_count: Count::new(login).unwrap_or(Count::ZERO),
        post_count: Count::new(post).unwrap_or(Count::ZERO),
    }
}

/// Applies a batch of rows for the import `stamp.import_id`.
pub async fn apply_batch(
    pool: &PgPool,
    stamp: Stamp,
    rows: &[BatchRow],
) -> Result<BatchOutcome, DbError> {
    // Locks are taken in user id order, so concurrent batches cannot deadlock.
    let mut rows: Vec<&BatchRow> = rows.iter().collect();
    rows.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    let ids: Vec<&str> = rows.iter().map(|r| r.user_id.as_str()).collect();

    let mut tx = pool.begin().await?;
    let known: HashSet<String> =
        sqlx::query_scalar("SELECT user_id FROM users WHERE user_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();

    // Create missing statistics rows first; a concurrent batch that creates the same user waits
    // here and then takes the update path below.
    let new_rows: Vec<&&BatchRow> = rows
        .iter()
        .filter(|r| known.contains(r.user_id.as_str()))
        .collect();
    let inserted: HashSet<String> = sqlx::query_scalar(
        "INSERT INTO user_statistics (user_id, login_count, post_count, as_of, import_id, last_updated)
         SELECT v.user_id, v.login_count, v.post_count, $4, $5, now()
         FROM unnest($1::text[], $2::int[], $3::int[]) AS v(user_id, login_count, post_count)
         ORDER BY v.user_id
         ON CONFLICT (user_id) DO NOTHING
         RETURNING user_id",
    )
    .bind(new_rows.iter().map(|r| r.user_id.as_str()).collect::<Vec<_>>())
    .bind(new_rows.iter().map(|r| r.counts.login_count.get()).collect::<Vec<_>>())
    .bind(new_rows.iter().map(|r| r.counts.post_count.get()).collect::<Vec<_>>())
    .bind(stamp.as_of)
    .bind(stamp.import_id)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();

    let existing: Vec<&str> = new_rows
        .iter()
        .map(|r| r.user_id.as_str())
        .filter(|id| !inserted.contains(*id))
        .collect();
    let stored: HashMap<String, (Counts, Stamp)> =
        sqlx::query_as::<_, (String, i32, i32, DateTime<Utc>, i64)>(
            "SELECT user_id, login_count, post_count, as_of, import_id FROM user_statistics
         WHERE user_id = ANY($1) ORDER BY user_id FOR UPDATE",
        )
        .bind(&existing)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, login, post, as_of, import_id)| {
            (id, (counts(login, post), Stamp { as_of, import_id }))
        })
        .collect();

    let mut outcome = BatchOutcome::default();
    let mut updates: Vec<(&BatchRow, Option<Counts>)> = Vec::new();
    let mut fresh_changes: Vec<(&BatchRow, Option<Counts>)> = Vec::new();
    let mut stamp_only: Vec<&str> = Vec::new();
    let mut skipped: HashSet<&str> = HashSet::new();
    for row in &rows {
        let id = row.user_id.as_str();
        if !known.contains(id) {
            outcome.row_errors.push(RowError {
                line: row.line,
                user_id: Some(row.user_id.clone()),
                code: ErrorCode::UserNotFound,
                message: format!("the user `{id}` does not exist"),
            });
            continue;
        }
        if inserted.contains(id) {
            fresh_changes.push((row, None));
            continue;
        }
        match decide(stored.get(id).copied(), row.counts, stamp) {
            Decision::Insert => fresh_changes.push((row, None)),
            Decision::Update { old } => updates.push((row, Some(old))),
            Decision::Unchanged => {
                if stored
                    .get(id)
                    .is_some_and(|(_, s)| s.import_id != stamp.import_id)
                {
                    stamp_only.push(id);
                }
            }
            Decision::SkipOlder => {
                skipped.insert(id);
            }
        }
    }

    if !updates.is_empty() {
        sqlx::query(
            "UPDATE user_statistics s
             SET login_count = v.login_count, post_count = v.post_count, as_of = $4, import_id = $5, last_updated = now()
             FROM unnest($1::text[], $2::int[], $3::int[]) AS v(user_id, login_count, post_count)
             WHERE s.user_id = v.user_id",
        )
        .bind(updates.iter().map(|(r, _)| r.user_id.as_str()).collect::<Vec<_>>())
        .bind(updates.iter().map(|(r, _)| r.counts.login_count.get()).collect::<Vec<_>>())
        .bind(updates.iter().map(|(r, _)| r.counts.post_count.get()).collect::<Vec<_>>())
        .bind(stamp.as_of)
        .bind(stamp.import_id)
        .execute(&mut *tx)
        .await?;
        fresh_changes.extend(updates);
    }
    if !stamp_only.is_empty() {
        // Same counts from a newer file: move the stamp so that an older file cannot win later.
        sqlx::query(
            "UPDATE user_statistics SET as_of = $2, import_id = $3 WHERE user_id = ANY($1)",
        )
        .bind(&stamp_only)
        .bind(stamp.as_of)
        .bind(stamp.import_id)
        .execute(&mut *tx)
        .await?;
    }
    if !fresh_changes.is_empty() {
        let line = |r: &BatchRow| r.line.map(|l| l as i64);
        sqlx::query(
            "INSERT INTO statistic_changes (import_id, user_id, line, old_login_count, new_login_count, old_post_count, new_post_count)
             SELECT $1, v.user_id, v.line, v.old_login, v.new_login, v.old_post, v.new_post
             FROM unnest($2::text[], $3::bigint[], $4::int[], $5::int[], $6::int[], $7::int[])
                  AS v(user_id, line, old_login, new_login, old_post, new_post)
             ON CONFLICT (import_id, user_id) DO NOTHING",
        )
        .bind(stamp.import_id)
        .bind(fresh_changes.iter().map(|(r, _)| r.user_id.as_str()).collect::<Vec<_>>())
        .bind(fresh_changes.iter().map(|(r, _)| line(r)).collect::<Vec<_>>())
        .bind(fresh_changes.iter().map(|(_, o)| o.map(|c| c.login_count.get())).collect::<Vec<_>>())
        .bind(fresh_changes.iter().map(|(r, _)| r.counts.login_count.get()).collect::<Vec<_>>())
        .bind(fresh_changes.iter().map(|(_, o)| o.map(|c| c.post_count.get())).collect::<Vec<_>>())
        .bind(fresh_changes.iter().map(|(r, _)| r.counts.post_count.get()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;

    outcome.changes = changes_for_users(pool, stamp.import_id, &ids).await?;
    let changed: HashSet<&str> = outcome.changes.iter().map(|c| c.user_id.as_str()).collect();
    for row in &rows {
        let id = row.user_id.as_str();
        if !known.contains(id) {
            continue;
        }
        if changed.contains(id) {
            outcome.applied += 1;
        } else if skipped.contains(id) {
            outcome.skipped_older += 1;
        } else {
            outcome.unchanged += 1;
        }
    }
    Ok(outcome)
}

type ChangeRow = (
    i64,
    String,
    Option<i64>,
    Option<i32>,
    i32,
    Option<i32>,
    i32,
    DateTime<Utc>,
);

fn change_from_row(
    (import_id, user_id, line, old_login, new_login, old_post, new_post, changed_at): ChangeRow,
) -> Option<Change> {
    Some(Change {
        import_id,
        user_id: UserId::parse(&user_id).ok()?,
        line: line.map(|l| l as u64),
        old: match (old_login, old_post) {
            (Some(login), Some(post)) => Some(counts(login, post)),
            _ => None,
        },
        new: counts(new_login, new_post),
        changed_at,
    })
}

/// The changes an import made for some users.
pub async fn changes_for_users(
    pool: &PgPool,
    import_id: i64,
    user_ids: &[&str],
) -> Result<Vec<Change>, DbError> {
    let rows: Vec<ChangeRow> = sqlx::query_as(
        "SELECT import_id, user_id, line, old_login_count, new_login_count, old_post_count, new_post_count, changed_at
         FROM statistic_changes WHERE import_id = $1 AND user_id = ANY($2) ORDER BY user_id",
    )
    .bind(import_id)
    .bind(user_ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(change_from_row).collect())
}

/// One page of an import's changes, in user id order, after `after_user_id`.
pub async fn changes_page(
    pool: &PgPool,
    import_id: i64,
    after_user_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Change>, DbError> {
    let rows: Vec<ChangeRow> = sqlx::query_as(
        "SELECT import_id, user_id, line, old_login_count, new_login_count, old_post_count, new_post_count, changed_at
         FROM statistic_changes WHERE import_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3",
    )
    .bind(import_id)
    .bind(after_user_id.unwrap_or(""))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(change_from_row).collect())
}
