//! Reading `user_statistics` with each user's `username` from PostgreSQL as a stream.

use chrono::{DateTime, Utc};
use futures_util::Stream;

/// One row of the export, as the file holds it (see [`crate::COLUMNS`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StatisticRow {
    pub user_id: String,
    pub username: String,
    pub login_count: i32,
    pub post_count: i32,
    pub last_updated: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub import_id: i64,
}

/// The query of the export: one statement, so one snapshot of the table, in `user_id` order (so
/// that each row group covers a range of users and its statistics let readers skip it).
pub const QUERY: &str = "SELECT s.user_id, u.username, s.login_count, s.post_count, \
     s.last_updated, s.as_of, s.import_id \
     FROM user_statistics s JOIN users u ON u.user_id = s.user_id \
     ORDER BY s.user_id";

/// The rows of the export, as they arrive from the server: sqlx decodes each row as the stream
/// is polled, so memory does not grow with the table.
pub fn rows<'c, E>(executor: E) -> impl Stream<Item = Result<StatisticRow, sqlx::Error>> + 'c
where
    E: sqlx::PgExecutor<'c> + 'c,
{
    sqlx::query_as::<_, StatisticRow>(QUERY).fetch(executor)
}
