//! The SQL migrations of `migrations/`, embedded at build time and applied with sqlx's migrator
//! (the one `sqlx migrate run` uses), optionally into a PostgreSQL schema of their own as
//! pull-request previews need: the tables and the migration history (`_sqlx_migrations`) then
//! both live in that schema.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// The table in which sqlx records applied migrations (in the schema migrated into).
const HISTORY_TABLE: &str = "_sqlx_migrations";

/// PostgreSQL truncates names longer than this many bytes.
const MAX_NAME_BYTES: usize = 63;

/// A validated PostgreSQL schema name: `public`, or `[a-z_][a-z0-9_]{0,62}` such as `pr_7` for
/// the preview of pull request 7. Anything else is rejected before it gets near SQL, and the
/// name is still double-quoted as an identifier wherever it is used.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SchemaName(String);

/// Why a string is not a [`SchemaName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSchemaName {
    /// The name is empty.
    #[error("the schema name is empty")]
    Empty,
    /// The name is longer than PostgreSQL keeps.
    #[error("the schema name {0:?} is longer than {MAX_NAME_BYTES} bytes")]
    TooLong(String),
    /// The name holds characters outside `[a-z0-9_]` or starts with a digit.
    #[error(
        "the schema name {0:?} may hold only lower-case ASCII letters, digits and `_`, and may not \
         start with a digit (previews use `pr_<number>`)"
    )]
    Characters(String),
    /// The name belongs to PostgreSQL itself.
    #[error("the schema name {0:?} is reserved for PostgreSQL's own schemas")]
    Reserved(String),
}

impl SchemaName {
    /// The default schema.
    pub fn public() -> Self {
        Self("public".to_owned())
    }

    /// The schema of the preview environment of pull request `number`: `pr_<number>`.
    pub fn for_pull_request(number: u64) -> Self {
        Self(format!("pr_{number}"))
    }

    /// Checks a name.
    pub fn parse(name: &str) -> Result<Self, InvalidSchemaName> {
        let mut chars = name.chars();
        let Some(first) = chars.next() else {
            return Err(InvalidSchemaName::Empty);
        };
        if name.len() > MAX_NAME_BYTES {
            return Err(InvalidSchemaName::TooLong(name.to_owned()));
        }
        let first_ok = first.is_ascii_lowercase() || first == '_';
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !(first_ok && rest_ok) {
            return Err(InvalidSchemaName::Characters(name.to_owned()));
        }
        if name.starts_with("pg_") || name == "information_schema" {
            return Err(InvalidSchemaName::Reserved(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }

    /// The pull request number when this is a preview schema `pr_<number>`.
    pub fn pull_request(&self) -> Option<u64> {
        let digits = self.0.strip_prefix("pr_")?;
        if digits.starts_with('0') && digits.len() > 1 {
            return None;
        }
        digits.parse().ok()
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a double-quoted SQL identifier.
    pub fn quoted(&self) -> String {
        // Validation allows no `"`; doubling them keeps the quoting correct regardless.
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }
}

impl FromStr for SchemaName {
    type Err = InvalidSchemaName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl TryFrom<String> for SchemaName {
    type Error = InvalidSchemaName;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::parse(&name)
    }
}

impl From<SchemaName> for String {
    fn from(name: SchemaName) -> Self {
        name.0
    }
}

impl AsRef<str> for SchemaName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Connection options for `url` whose sessions look tables up in `schema` only (through the
/// `search_path` startup option); `None` keeps the server's default search path.
pub fn connect_options(
    url: &str,
    schema: Option<&SchemaName>,
) -> Result<PgConnectOptions, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    Ok(match schema {
        Some(schema) => options.options([("search_path", schema.quoted())]),
        None => options,
    })
}

/// A pool that connects on first use (so a Lambda cold start does not fail while the database is
/// briefly away), with at most `max_connections` connections, every one of them in `schema`, and
/// none kept open once idle for `idle_timeout`.
pub fn lazy_pool(
    url: &str,
    schema: Option<&SchemaName>,
    max_connections: u32,
    idle_timeout: std::time::Duration,
) -> Result<PgPool, sqlx::Error> {
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .idle_timeout(idle_timeout)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_lazy_with(connect_options(url, schema)?))
}

/// A pool of at most `max_connections` connections to `url`, every one of them in `schema`.
pub async fn connect_pool(
    url: &str,
    schema: Option<&SchemaName>,
    max_connections: u32,
) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .connect_with(connect_options(url, schema)?)
        .await
}

/// The database to migrate: a URL (one connection is opened and closed) or an existing pool.
#[derive(Debug, Clone, Copy)]
pub enum MigrationTarget<'a> {
    /// A PostgreSQL URL.
    Url(&'a str),
    /// A pool; the migrations run on one of its connections, which is closed afterwards rather
    /// than returned, since its session settings were changed.
    Pool(&'a PgPool),
}

impl<'a> From<&'a str> for MigrationTarget<'a> {
    fn from(url: &'a str) -> Self {
        Self::Url(url)
    }
}

impl<'a> From<&'a String> for MigrationTarget<'a> {
    fn from(url: &'a String) -> Self {
        Self::Url(url)
    }
}

impl<'a> From<&'a PgPool> for MigrationTarget<'a> {
    fn from(pool: &'a PgPool) -> Self {
        Self::Pool(pool)
    }
}

/// One migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationRecord {
    /// The number the file name starts with.
    pub version: i64,
    /// The rest of the file name, with spaces for underscores.
    pub description: String,
}

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationReport {
    /// The schema the tables are in (the first existing schema of the search path).
    pub schema: Option<String>,
    /// The migrations this run applied, in order.
    pub applied: Vec<MigrationRecord>,
    /// How many of the known migrations had been applied before.
    pub already_applied: usize,
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let schema = self.schema.as_deref().unwrap_or("(none)");
        if self.applied.is_empty() {
            return writeln!(
                f,
                "Schema {schema} is up to date ({} already applied).",
                migrations_count(self.already_applied)
            );
        }
        writeln!(
            f,
            "Schema {schema}: applied {} ({} already applied):",
            migrations_count(self.applied.len()),
            self.already_applied
        )?;
        for migration in &self.applied {
            writeln!(f, "  {:04} {}", migration.version, migration.description)?;
        }
        Ok(())
    }
}

fn migrations_count(count: usize) -> String {
    match count {
        1 => "1 migration".to_owned(),
        n => format!("{n} migrations"),
    }
}

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The URL is not valid, or the server cannot be reached.
    #[error("could not connect to the database to migrate it")]
    Connect(#[source] sqlx::Error),
    /// The schema could not be created or selected.
    #[error("could not create or select the schema {schema}")]
    Schema {
        schema: SchemaName,
        #[source]
        source: sqlx::Error,
    },
    /// Reading the migration history failed.
    #[error("could not read the migration history ({HISTORY_TABLE})")]
    History(#[source] sqlx::Error),
    /// The migrator failed: a migration's SQL failed, or an applied migration was changed or removed.
    #[error("the migrations failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Every migration this build knows, in order.
pub fn migrations() -> Vec<MigrationRecord> {
    MIGRATOR
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .map(|migration| MigrationRecord {
            version: migration.version,
            description: migration.description.to_string(),
        })
        .collect()
}

/// Applies the migrations that have not been applied yet, into `schema` when given (created when
/// missing), otherwise into the server's default search path.
pub async fn run<'a>(
    target: impl Into<MigrationTarget<'a>>,
    schema: Option<&SchemaName>,
) -> Result<MigrationReport, MigrateError> {
    match target.into() {
        MigrationTarget::Url(url) => {
            let options = connect_options(url, schema).map_err(MigrateError::Connect)?;
            let mut connection = PgConnection::connect_with(&options)
                .await
                .map_err(MigrateError::Connect)?;
            let report = run_on(&mut connection, schema).await;
            // Closing also releases the migration lock should a failed run have left it held.
            let _ = connection.close().await;
            report
        }
        MigrationTarget::Pool(pool) => {
            let mut connection = pool.acquire().await.map_err(MigrateError::Connect)?;
            connection.close_on_drop();
            run_on(&mut connection, schema).await
        }
    }
}

async fn run_on(
    connection: &mut PgConnection,
    schema: Option<&SchemaName>,
) -> Result<MigrationReport, MigrateError> {
    // The migrator takes the same per-database advisory lock; holding it across the whole run
    // (it is reentrant) keeps the before-and-after history reads consistent with what this run did.
    connection.lock().await?;
    let report = migrate_locked(connection, schema).await;
    if report.is_ok() {
        connection.unlock().await?;
    }
    report
}

async fn migrate_locked(
    connection: &mut PgConnection,
    schema: Option<&SchemaName>,
) -> Result<MigrationReport, MigrateError> {
    if let Some(schema) = schema {
        let schema_error = |source| MigrateError::Schema {
            schema: schema.clone(),
            source,
        };
        // Only a missing schema is created: a preview's own role, which owns its schema but may
        // not create schemas, migrates it too (`CREATE SCHEMA IF NOT EXISTS` checks the right
        // to create before it looks).
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(schema.as_str())
                .fetch_one(&mut *connection)
                .await
                .map_err(schema_error)?;
        if !exists {
            connection
                .execute(AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS {}",
                    schema.quoted()
                )))
                .await
                .map_err(schema_error)?;
        }
        sqlx::query("SELECT set_config('search_path', $1, false)")
            .bind(schema.quoted())
            .execute(&mut *connection)
            .await
            .map_err(schema_error)?;
    }
    let before = applied_versions(connection).await?;
    // `Migrator::run` is generic over `Acquire`, which makes an `async fn` awaiting it fail to
    // prove `Send` ("implementation of `Acquire` is not general enough") and so keeps callers from
    // spawning `run`; `run_direct` is the same code on a plain connection, kept public by sqlx
    // for this reason.
    MIGRATOR.run_direct(None, connection, false).await?;
    let after = applied_versions(connection).await?;
    let current_schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut *connection)
        .await
        .map_err(MigrateError::History)?;

    let known = migrations();
    Ok(MigrationReport {
        schema: current_schema,
        already_applied: known.iter().filter(|m| before.contains(&m.version)).count(),
        applied: known
            .into_iter()
            .filter(|m| after.contains(&m.version) && !before.contains(&m.version))
            .collect(),
    })
}

/// The versions recorded as applied in the history table of the current schema.
async fn applied_versions(connection: &mut PgConnection) -> Result<BTreeSet<i64>, MigrateError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(HISTORY_TABLE)
        .fetch_one(&mut *connection)
        .await
        .map_err(MigrateError::History)?;
    if !exists {
        return Ok(BTreeSet::new());
    }
    let versions: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM {HISTORY_TABLE} WHERE success"
    )))
    .fetch_all(&mut *connection)
    .await
    .map_err(MigrateError::History)?;
    Ok(versions.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(name: &str, expected: &Expect) {
        let actual = match SchemaName::parse(name) {
            Ok(schema) => format!("ok {} quoted {}", schema, schema.quoted()),
            Err(error) => format!("rejected: {error}"),
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn ordinary_and_preview_names_are_accepted() {
        check("public", &expect![[r#"ok public quoted "public""#]]);
        check("pr_7", &expect![[r#"ok pr_7 quoted "pr_7""#]]);
        check(
            "_staging2",
            &expect![[r#"ok _staging2 quoted "_staging2""#]],
        );
        check(
            &"a".repeat(63),
            &expect![[
                r#"ok aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa quoted "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa""#
            ]],
        );
    }

    #[test]
    fn anything_else_is_rejected() {
        check(
            "pr_7; DROP TABLE x",
            &expect![[
                r#"rejected: the schema name "pr_7; DROP TABLE x" may hold only lower-case ASCII letters, digits and `_`, and may not start with a digit (previews use `pr_<number>`)"#
            ]],
        );
        check(
            "Public",
            &expect![[
                r#"rejected: the schema name "Public" may hold only lower-case ASCII letters, digits and `_`, and may not start with a digit (previews use `pr_<number>`)"#
            ]],
        );
        check("", &expect![[r#"rejected: the schema name is empty"#]]);
        check(
            &"a".repeat(64),
            &expect![[
                r#"rejected: the schema name "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" is longer than 63 bytes"#
            ]],
        );
        check(
            "7pr",
            &expect![[
                r#"rejected: the schema name "7pr" may hold only lower-case ASCII letters, digits and `_`, and may not start with a digit (previews use `pr_<number>`)"#
            ]],
        );
        check(
            "pr\"7",
            &expect![[
                r#"rejected: the schema name "pr\"7" may hold only lower-case ASCII letters, digits and `_`, and may not start with a digit (previews use `pr_<number>`)"#
            ]],
        );
        check(
            "pg_catalog",
            &expect![[
                r#"rejected: the schema name "pg_catalog" is reserved for PostgreSQL's own schemas"#
            ]],
        );
        check(
            "information_schema",
            &expect![[
                r#"rejected: the schema name "information_schema" is reserved for PostgreSQL's own schemas"#
            ]],
        );
    }

    #[test]
    fn preview_schemas_carry_their_pull_request() {
        assert_eq!(SchemaName::for_pull_request(7).as_str(), "pr_7");
        assert_eq!(SchemaName::for_pull_request(7).pull_request(), Some(7));
        assert_eq!(SchemaName::public().pull_request(), None);
        assert_eq!(
            SchemaName::parse("pr_07").expect("valid").pull_request(),
            None
        );
        assert_eq!(
            SchemaName::parse("pr_x").expect("valid").pull_request(),
            None
        );
    }

    #[test]
    fn schema_names_deserialise_only_when_valid() {
        let parsed: SchemaName = serde_json::from_str("\"pr_7\"").expect("valid");
        assert_eq!(parsed, SchemaName::for_pull_request(7));
        assert!(serde_json::from_str::<SchemaName>("\"pr_7; DROP TABLE x\"").is_err());
    }

    #[test]
    fn the_search_path_option_quotes_the_schema() {
        let options = connect_options(
            "postgres://u@127.0.0.1:5432/db",
            Some(&SchemaName::for_pull_request(7)),
        )
        .expect("a valid URL");
        assert_eq!(options.get_options(), Some("-c search_path=\"pr_7\""));
        let plain = connect_options("postgres://u@127.0.0.1:5432/db", None).expect("a valid URL");
        assert_eq!(plain.get_options(), None);
    }

    #[test]
    fn the_embedded_migrations_are_numbered_in_order() {
        let listed: Vec<String> = migrations()
            .iter()
            .map(|m| format!("{:04} {}", m.version, m.description))
            .collect();
        expect![[r#"
            [
                "0001 users",
                "0002 imports",
                "0003 user statistics",
                "0004 audit outbox without foreign key",
            ]
        "#]]
        .assert_debug_eq(&listed);
    }

    #[test]
    fn reports_list_what_was_applied() {
        let report = MigrationReport {
            schema: Some("pr_7".to_owned()),
            applied: vec![MigrationRecord {
                version: 3,
                description: "user statistics".to_owned(),
            }],
            already_applied: 2,
        };
        expect![[r#"
            Schema pr_7: applied 1 migration (2 already applied):
              0003 user statistics
        "#]]
        .assert_eq(&report.to_string());
        let up_to_date = MigrationReport {
            schema: Some("public".to_owned()),
            applied: vec![],
            already_applied: 3,
        };
        expect![[r#"
            Schema public is up to date (3 migrations already applied).
        "#]]
        .assert_eq(&up_to_date.to_string());
    }
}
