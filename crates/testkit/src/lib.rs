//! Test support: a fresh PostgreSQL database per test, a stand-in GitHub API ([`github`]) and a
//! stand-in Cloudflare Pages API ([`cloudflare`]).
//!
//! [`fresh_database`] creates a uniquely named database and applies the migrations to it;
//! [`empty_database`] leaves it empty (for tests of the migrations themselves). The server is the
//! one `DATABASE_URL` names when it is set (used as the maintenance connection), otherwise the
//! local cluster of this checkout, started on first use (idempotent and lock-protected, so many
//! test binaries may start at once). Databases are named `test_<pid>_<counter>_<random>`; those of
//! test processes that have ended are dropped from the local cluster the next time a test
//! process starts, and [`TestDatabase::drop_database`] drops one at once.
//!
//! ```no_run
//! # async fn example() -> Result<(), userlog_testkit::TestkitError> {
//! let database = userlog_testkit::fresh_database().await?;
//! let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(database.pool()).await?;
//! assert_eq!(count, 0);
//! # Ok(())
//! # }
//! ```

pub mod cloudflare;
pub mod github;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tokio::sync::OnceCell;
use userlog_db::migrate::{self, MigrateError};
use userlog_local::{LocalError, LocalStack};

/// The environment variable naming an existing server to create test databases on.
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";

/// How many connections each test database's pool opens at most. Many tests run at once, in
/// many binaries, against one server of 200 connections.
const POOL_SIZE: u32 = 4;

/// The prefix of every test database's name.
const NAME_PREFIX: &str = "test_";

/// Why a test database could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// The local cluster could not be started.
    #[error(
        "could not start the local PostgreSQL cluster (or set DATABASE_URL to use another server)"
    )]
    Local(#[from] LocalError),
    /// Starting the local cluster panicked or was cancelled.
    #[error("starting the local PostgreSQL cluster did not finish")]
    Join(#[from] tokio::task::JoinError),
    /// Talking to the server failed.
    #[error("a database operation failed")]
    Database(#[from] sqlx::Error),
    /// The migrations failed.
    #[error("the migrations failed on the test database")]
    Migrate(#[from] MigrateError),
    /// `DATABASE_URL` is not a URL with a host part.
    #[error(
        "the database URL {0:?} is not of the form postgres://[user@]host[:port][/database][?options]"
    )]
    InvalidUrl(String),
}

/// A URL to a database, not a test database, on the server the test databases live on (for
/// `CREATE DATABASE`): found, and the local cluster started and tidied, once per test process.
static MAINTENANCE_URL: OnceCell<String> = OnceCell::const_new();

/// Counts the databases this process created, so that names never repeat within it.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A database made for one test.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    maintenance_url: String,
    pool: PgPool,
}

impl TestDatabase {
    /// A pool of connections to the database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The URL of the database, for code under test that connects by itself.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The name of the database.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Closes the pool and drops the database (databases left behind are dropped by a later test
    /// process on the local cluster, and are harmless meanwhile).
    pub async fn drop_database(self) -> Result<(), TestkitError> {
        self.pool.close().await;
        let mut connection = PgConnection::connect(&self.maintenance_url).await?;
        drop_database(&mut connection, &self.name).await?;
        connection.close().await?;
        Ok(())
    }
}

/// A new database with every migration applied, in the default (`public`) schema.
pub async fn fresh_database() -> Result<TestDatabase, TestkitError> {
    let database = empty_database().await?;
    migrate::run(database.pool(), None).await?;
    Ok(database)
}

/// A new database without any tables.
pub async fn empty_database() -> Result<TestDatabase, TestkitError> {
    let maintenance_url = MAINTENANCE_URL.get_or_try_init(find_server).await?;
    let name = database_name(
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        random_suffix(),
    );
    let mut connection = PgConnection::connect(maintenance_url).await?;
    connection
        .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await?;
    connection.close().await?;

    let url = with_database(maintenance_url, &name)
        .ok_or_else(|| TestkitError::InvalidUrl(maintenance_url.clone()))?;
    let pool = migrate::connect_pool(&url, None, POOL_SIZE).await?;
    Ok(TestDatabase {
        name,
        url,
        maintenance_url: maintenance_url.clone(),
        pool,
    })
}

/// The URL of the server the test databases are made on (`DATABASE_URL`, or the local cluster,
/// started when needed).
pub async fn maintenance_url() -> Result<String, TestkitError> {
    Ok(MAINTENANCE_URL.get_or_try_init(find_server).await?.clone())
}

async fn find_server() -> Result<String, TestkitError> {
    if let Some(url) = std::env::var(DATABASE_URL_ENV)
        .ok()
        .filter(|url| !url.is_empty())
    {
        return Ok(url);
    }
    let report =
        tokio::task::spawn_blocking(|| LocalStack::discover()?.postgres.up(&mut |_| {})).await??;
    let maintenance_url = report.status.url.ok_or_else(|| {
        TestkitError::Local(LocalError::NotRunning {
            service: "PostgreSQL cluster".to_owned(),
        })
    })?;
    // Tidying is best effort: a failure here must not fail the test that happened to run first.
    let _ = drop_databases_of_ended_processes(&maintenance_url).await;
    Ok(maintenance_url)
}

/// Drops the test databases whose creating process has ended. Only done on this checkout's
/// local cluster, where every creator ran on this machine; on a shared server a pid says nothing.
async fn drop_databases_of_ended_processes(maintenance_url: &str) -> Result<(), sqlx::Error> {
    let mut connection = PgConnection::connect(maintenance_url).await?;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(NAME_PREFIX)
            .fetch_all(&mut connection)
            .await?;
    for name in names {
        let ended =
            creator_pid(&name).is_some_and(|pid| !userlog_local::process::process_is_alive(pid));
        if ended {
            // Another process may be tidying the same database at this moment.
            let _ = drop_database(&mut connection, &name).await;
        }
    }
    // Roles of ended processes' databases (`<database>_writer`, ...).
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)")
            .bind(NAME_PREFIX)
            .fetch_all(&mut connection)
            .await?;
    let mut prefixes: Vec<String> = roles
        .iter()
        .filter_map(|role| {
            let database: Vec<&str> = role.splitn(5, '_').take(4).collect();
            let database = database.join("_");
            creator_pid(&database)
                .filter(|pid| !userlog_local::process::process_is_alive(*pid))
                .map(|_| database)
        })
        .collect();
    prefixes.dedup();
    for prefix in prefixes {
        let _ = drop_roles_on(&mut connection, &prefix).await;
    }
    connection.close().await
}

/// Drops the roles named `<prefix>_...` (a test's roles are named after its database; roles
/// belong to the whole cluster, so dropping the database leaves them). Their objects went with
/// the database; what remains of them elsewhere is dropped first.
pub async fn drop_roles(prefix: &str) -> Result<(), TestkitError> {
    let maintenance_url = MAINTENANCE_URL.get_or_try_init(find_server).await?;
    let mut connection = PgConnection::connect(maintenance_url).await?;
    drop_roles_on(&mut connection, prefix).await?;
    connection.close().await?;
    Ok(())
}

async fn drop_roles_on(connection: &mut PgConnection, prefix: &str) -> Result<(), sqlx::Error> {
    let roles: Vec<String> = sqlx::query_scalar(
        "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1",
    )
    .bind(format!("{prefix}_"))
    .fetch_all(&mut *connection)
    .await?;
    for role in roles {
        userlog_db::roles::drop_role(connection, &role).await?;
    }
    Ok(())
}

async fn drop_database(connection: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    let quoted = name.replace('"', "\"\"");
    connection
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{quoted}\" WITH (FORCE)"
        )))
        .await
        .map(drop)
}

/// `test_<pid>_<counter>_<random>`: unique among concurrent processes (pid), within one
/// (counter), and across a pid reused later (random).
pub fn database_name(pid: u32, counter: u64, random: u32) -> String {
    format!("{NAME_PREFIX}{pid}_{counter}_{random:08x}")
}

/// The pid in a test database's name.
pub fn creator_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let mut parts = rest.split('_');
    let pid = parts.next()?.parse().ok()?;
    let counter_and_random = (parts.next()?, parts.next()?);
    let well_formed = counter_and_random.0.parse::<u64>().is_ok()
        && counter_and_random.1.len() == 8
        && u32::from_str_radix(counter_and_random.1, 16).is_ok()
        && parts.next().is_none();
    well_formed.then_some(pid)
}

fn random_suffix() -> u32 {
    // The standard library seeds each `RandomState` randomly; hashing the time mixes it further.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish() as u32
}

/// `url` with its database replaced by `database`, keeping user, host, port and options.
pub fn with_database(url: &str, database: &str) -> Option<String> {
    let (before_query, query) = match url.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (url, None),
    };
    let scheme_end = before_query.find("://")? + 3;
    let authority_end = before_query[scheme_end..]
        .find('/')
        .map_or(before_query.len(), |offset| scheme_end + offset);
    let mut result = format!("{}/{database}", &before_query[..authority_end]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    Some(result)
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check_url(url: &str, expected: &Expect) {
        expected.assert_eq(&format!("{:?}", with_database(url, "test_1_0_0000000a")));
    }

    #[test]
    fn urls_get_the_test_database() {
        check_url(
            "postgres://userlog@127.0.0.1:5432/userlog",
            &expect![[r#"Some("postgres://userlog@127.0.0.1:5432/test_1_0_0000000a")"#]],
        );
        check_url(
            "postgres://u:p%2Fw@db.example:5432",
            &expect![[r#"Some("postgres://u:p%2Fw@db.example:5432/test_1_0_0000000a")"#]],
        );
        check_url(
            "postgresql://u@h/postgres?sslmode=disable&options=-c%20x%3Dy",
            &expect![[
                r#"Some("postgresql://u@h/test_1_0_0000000a?sslmode=disable&options=-c%20x%3Dy")"#
            ]],
        );
        check_url(
            "postgres:///userlog?host=/run/postgresql",
            &expect![[r#"Some("postgres:///test_1_0_0000000a?host=/run/postgresql")"#]],
        );
        check_url("not a url", &expect!["None"]);
    }

    #[test]
    fn names_carry_their_creator() {
        let name = database_name(4242, 17, 0xdead_beef);
        assert_eq!(name, "test_4242_17_deadbeef");
        assert_eq!(creator_pid(&name), Some(4242));
        assert_eq!(creator_pid("test_4242_17"), None);
        assert_eq!(creator_pid("test_data"), None);
        assert_eq!(creator_pid("userlog"), None);
        assert!(name.len() <= 63);
        assert!(database_name(u32::MAX, u64::MAX, u32::MAX).len() <= 63);
    }
}
