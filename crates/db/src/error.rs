//! Database errors, sorted into those a retry may fix and those it will not.

/// A failed database operation.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The connection broke, the server restarted or shut us out, or a deadlock or
    /// serialization failure happened: the same work may succeed when retried.
    #[error("the database is unavailable or interrupted the work; retrying may help")]
    Transient(#[source] sqlx::Error),
    /// Anything else: a bug, a constraint, a missing table.
    #[error("a database query failed")]
    Query(#[source] sqlx::Error),
}

impl DbError {
    /// Whether retrying the same work may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, DbError::Transient(_))
    }

    /// The error name the state machine's `Retry` matches for database trouble.
    pub const ERROR_NAME: &'static str = "DatabaseError";
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        if is_transient(&err) {
            DbError::Transient(err)
        } else {
            DbError::Query(err)
        }
    }
}

/// SQLSTATE classes and codes that mean "try again": connection exceptions (08), serialization
/// failure and deadlock (40001, 40P01), operator intervention such as `pg_terminate_backend`
/// and shutdowns (57P01-57P03), and too many connections (53300).
fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300"
                )
        }),
        _ => false,
    }
}
