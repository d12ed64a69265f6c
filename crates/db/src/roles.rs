//! Who may do what in the database: the login roles the code connects as, and the grants that
//! limit each one, made idempotently by the migration step (as the master user) after the
//! migrations.
//!
//! - `<prefix>_writer` (the import path: `validate-csv`, `process-user-log`, `check-errors`, the
//!   bulk task) reads and writes the rows of the environment's tables, and changes no schema.
//! - `<prefix>_reader` (`stats-api`, `export-stats`) only reads them.
//! - `<prefix>_previews` (where pull-request previews share the database) owns nothing and reads
//!   nothing: it may only call `<prefix>_previews.create_preview(n, password)` and
//!   `drop_preview(n)`, functions that run as their owner and touch nothing but the role
//!   `<prefix>_pr_<n>` and the schema `pr_<n>`.
//! - `<prefix>_pr_<n>` owns schema `pr_<n>` (so the preview migrates it itself) and has no
//!   privilege anywhere else.
//!
//! The master user stays with the migration step alone. Role names come from [`RoleNames`] only;
//! every name and password reaches SQL through `format('%I', ...)` / `format('%L', ...)` on the
//! server, never through string building here.

use secrecy::{ExposeSecret as _, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};

use crate::migrate::{MigrateError, MigrationReport, SchemaName};

/// The prefix of the roles of a deployed database (`userlog_writer`, ...): one environment, with
/// the previews it hosts, per database cluster.
pub const DEFAULT_PREFIX: &str = "userlog";

/// The advisory lock that keeps two role steps from racing on `CREATE ROLE` (the migrations'
/// lock is sqlx's own).
const ROLES_LOCK: i64 = 0x7573_6572_6c6f_6701;

/// The names of one database's roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleNames {
    prefix: String,
}

impl RoleNames {
    /// The roles named `<prefix>_...`; the prefix must be a valid lower-case identifier short
    /// enough for the longest name (`<prefix>_pr_<9 digits>` within 63 bytes).
    pub fn new(prefix: &str) -> Result<Self, RolesError> {
        let valid = SchemaName::parse(prefix).is_ok() && prefix.len() <= 40;
        if !valid {
            return Err(RolesError::Prefix(prefix.to_owned()));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    /// The roles of a deployed database.
    pub fn deployed() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }

    /// The read-write role of the import path.
    pub fn writer(&self) -> String {
        format!("{}_writer", self.prefix)
    }

    /// The read-only role of the API and the export.
    pub fn reader(&self) -> String {
        format!("{}_reader", self.prefix)
    }

    /// The role that may only make and remove previews' roles and schemas (and the schema its
    /// functions live in).
    pub fn previews(&self) -> String {
        format!("{}_previews", self.prefix)
    }

    /// The role of the preview of pull request `number`.
    pub fn preview(&self, number: u64) -> String {
        format!("{}_pr_{number}", self.prefix)
    }
}

/// A role to log in as, and its password (from its Secrets Manager secret).
#[derive(Debug, Clone)]
pub struct Login {
    pub name: String,
    pub password: SecretString,
}

/// The login roles of an environment that owns its database.
#[derive(Debug, Clone)]
pub struct EnvironmentLogins {
    pub writer: Login,
    pub reader: Login,
    /// Only where previews share this database.
    pub previews: Option<Login>,
}

/// What a role step did.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct RolesReport {
    /// Roles created by this run.
    pub created: Vec<String>,
    /// Roles that existed and had their password and attributes set again.
    pub updated: Vec<String>,
    /// Tables the writer and the reader were granted (every table of the schema but the migration
    /// history).
    pub tables: Vec<String>,
}

/// Why a role step failed.
#[derive(Debug, thiserror::Error)]
pub enum RolesError {
    #[error(
        "the role prefix {0:?} is not a lower-case identifier of at most 40 bytes (letters, digits, `_`)"
    )]
    Prefix(String),
    #[error(
        "the secret of role {expected} names the user {found:?}: the secret must name {expected} (its template sets the username)"
    )]
    WrongUser { expected: String, found: String },
    #[error("could not connect to the database to manage its roles")]
    Connect(#[source] sqlx::Error),
    #[error("could not {what}")]
    Sql {
        what: String,
        #[source]
        source: sqlx::Error,
    },
}

impl RolesError {
    fn sql(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        let what = what.into();
        move |source| Self::Sql { what, source }
    }
}

/// Checks that a login read from a secret is the role it is meant to be.
pub fn expect_login(login: &Login, expected: &str) -> Result<(), RolesError> {
    if login.name == expected {
        Ok(())
    } else {
        Err(RolesError::WrongUser {
            expected: expected.to_owned(),
            found: login.name.clone(),
        })
    }
}

/// Makes the environment's roles and grants on `schema` (the environment's own, `public` on a
/// deployed database), as the master user at `admin_url`; run after the migrations, so that every
/// table they made is granted. Idempotent: roles that exist get their password and attributes
/// set again, so a rotated secret takes effect.
pub async fn ensure_environment(
    admin: &PgConnectOptions,
    names: &RoleNames,
    schema: &SchemaName,
    logins: &EnvironmentLogins,
) -> Result<RolesReport, RolesError> {
    expect_login(&logins.writer, &names.writer())?;
    expect_login(&logins.reader, &names.reader())?;
    if let Some(previews) = &logins.previews {
        expect_login(previews, &names.previews())?;
    }
    let mut connection = connect(admin).await?;
    let mut tx = connection
        .begin()
        .await
        .map_err(RolesError::sql("begin the role step"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(ROLES_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(RolesError::sql("take the role step's lock"))?;
    let mut report = RolesReport::default();
    let mut logins_made = vec![&logins.writer, &logins.reader];
    logins_made.extend(logins.previews.as_ref());
    for login in logins_made {
        let created = upsert_login(&mut tx, login).await?;
        if created {
            report.created.push(login.name.clone());
        } else {
            report.updated.push(login.name.clone());
        }
    }

    // Nobody but the owner creates anything in the schema (PostgreSQL 15 and later's default for
    // `public`, made explicit for clusters upgraded from older versions).
    run(
        &mut tx,
        "REVOKE CREATE ON SCHEMA %I FROM PUBLIC",
        &[schema.as_str()],
        "revoke CREATE on the schema from PUBLIC",
    )
    .await?;
    for role in [names.writer(), names.reader()] {
        run(
            &mut tx,
            "GRANT USAGE ON SCHEMA %I TO %I",
            &[schema.as_str(), &role],
            &format!("grant the schema to {role}"),
        )
        .await?;
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm') AND c.relname <> '_sqlx_migrations'
         ORDER BY 1",
    )
    .bind(schema.as_str())
    .fetch_all(&mut *tx)
    .await
    .map_err(RolesError::sql("list the schema's tables"))?;
    for table in &tables {
        run(
            &mut tx,
            "GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO %I",
            &[schema.as_str(), table, &names.writer()],
            &format!("grant {table} to the writer"),
        )
        .await?;
        run(
            &mut tx,
            "REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON %I.%I FROM %I",
            &[schema.as_str(), table, &names.reader()],
            &format!("keep the reader from writing {table}"),
        )
        .await?;
        run(
            &mut tx,
            "GRANT SELECT ON %I.%I TO %I",
            &[schema.as_str(), table, &names.reader()],
            &format!("grant {table} to the reader"),
        )
        .await?;
    }
    run(
        &mut tx,
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I",
        &[schema.as_str(), &names.writer()],
        "grant the schema's sequences to the writer",
    )
    .await?;
    if logins.previews.is_some() {
        install_preview_functions(&mut tx, names).await?;
    }
    tx.commit()
        .await
        .map_err(RolesError::sql("commit the role step"))?;
    let _ = connection.close().await;
    report.tables = tables;
    Ok(report)
}

/// Makes (or updates) the role and the schema of the preview of pull request `number`, logged
/// in as the previews role on the server of `base`; the schema is created owned by the preview's
/// role, and taken over from whoever owned it before. Returns the preview's role.
pub async fn create_preview(
    base: &PgConnectOptions,
    names: &RoleNames,
    number: u64,
    previews: &Login,
    own: &Login,
) -> Result<String, RolesError> {
    expect_login(previews, &names.previews())?;
    expect_login(own, &names.preview(number))?;
    let mut connection = connect(&as_login(base, previews)).await?;
    let role: String = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT {}.create_preview($1, $2)",
        quote(&names.previews())
    )))
    .bind(preview_number(number)?)
    .bind(own.password.expose_secret())
    .fetch_one(&mut connection)
    .await
    .map_err(RolesError::sql(format!("create the role of pr_{number}")))?;
    let _ = connection.close().await;
    Ok(role)
}

/// Drops the schema `pr_<number>` with everything in it and the preview's role, logged in as the
/// previews role on the server of `base`; `false` when neither existed.
pub async fn drop_preview(
    base: &PgConnectOptions,
    names: &RoleNames,
    number: u64,
    previews: &Login,
) -> Result<bool, RolesError> {
    expect_login(previews, &names.previews())?;
    let mut connection = connect(&as_login(base, previews)).await?;
    let existed: bool = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT {}.drop_preview($1)",
        quote(&names.previews())
    )))
    .bind(preview_number(number)?)
    .fetch_one(&mut connection)
    .await
    .map_err(RolesError::sql(format!("drop pr_{number}")))?;
    let _ = connection.close().await;
    Ok(existed)
}

/// The connection options of `base` (server, database, TLS) for `login`.
pub fn as_login(base: &PgConnectOptions, login: &Login) -> PgConnectOptions {
    base.clone()
        .username(&login.name)
        .password(login.password.expose_secret())
}

/// What the migration step does: whom it acts as and which logins it makes.
#[derive(Debug, Clone)]
pub enum MigrationPlan {
    /// A stack that owns its database: migrate `public` as the master user, then make the logins
    /// and their grants.
    Environment { logins: EnvironmentLogins },
    /// A preview: as the previews role, make the preview's role and schema; then migrate that
    /// schema as the preview's own role.
    Preview {
        number: u64,
        previews: Login,
        own: Login,
    },
}

/// What the migration step did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationOutcome {
    pub migrations: MigrationReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<RolesReport>,
    /// The role a preview's migrations ran as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_role: Option<String>,
}

/// Why the migration step failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrationStepError {
    #[error("the database roles could not be made")]
    Roles(#[from] RolesError),
    #[error("the migrations failed")]
    Migrate(#[from] MigrateError),
}

/// Runs the migration step of `plan` on the server of `admin` (the master user's connection for
/// an environment; for a preview, only its server, database and TLS are used).
pub async fn migrate_database(
    admin: &PgConnectOptions,
    names: &RoleNames,
    plan: &MigrationPlan,
) -> Result<MigrationOutcome, MigrationStepError> {
    match plan {
        MigrationPlan::Environment { logins } => {
            let migrations = migrate_as(admin, None).await?;
            let roles = ensure_environment(admin, names, &SchemaName::public(), logins).await?;
            Ok(MigrationOutcome {
                migrations,
                roles: Some(roles),
                preview_role: None,
            })
        }
        MigrationPlan::Preview {
            number,
            previews,
            own,
        } => {
            let role = create_preview(admin, names, *number, previews, own).await?;
            let schema = SchemaName::for_pull_request(*number);
            let migrations = migrate_as(&as_login(admin, own), Some(&schema)).await?;
            Ok(MigrationOutcome {
                migrations,
                roles: None,
                preview_role: Some(role),
            })
        }
    }
}

async fn migrate_as(
    options: &PgConnectOptions,
    schema: Option<&SchemaName>,
) -> Result<MigrationReport, MigrateError> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .map_err(MigrateError::Connect)?;
    let report = crate::migrate::run(&pool, schema).await;
    pool.close().await;
    report
}

/// Drops role `name` and what it owns or was granted in the current database, as an
/// administrative user (dropping a role takes membership in it); `false` when there was none.
pub async fn drop_role(connection: &mut PgConnection, name: &str) -> Result<bool, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(name)
            .fetch_one(&mut *connection)
            .await?;
    if exists {
        let quoted = quote(name);
        connection
            .execute(AssertSqlSafe(format!("DROP OWNED BY {quoted}")))
            .await?;
        connection
            .execute(AssertSqlSafe(format!("DROP ROLE IF EXISTS {quoted}")))
            .await?;
    }
    Ok(exists)
}

/// A pull request number as the preview functions take it.
fn preview_number(number: u64) -> Result<i64, RolesError> {
    i64::try_from(number)
        .ok()
        .filter(|n| (1..=999_999_999).contains(n))
        .ok_or_else(|| RolesError::Sql {
            what: format!("use pull request number {number}"),
            source: sqlx::Error::Protocol("pull request numbers are 1 to 999999999".to_owned()),
        })
}

async fn connect(options: &PgConnectOptions) -> Result<PgConnection, RolesError> {
    PgConnection::connect_with(options)
        .await
        .map_err(RolesError::Connect)
}

/// An identifier, double-quoted (names here come from [`RoleNames`], already checked).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs `template` with `%I`/`%L` placeholders filled in by the server's `format`.
async fn run(
    connection: &mut PgConnection,
    template: &str,
    args: &[&str],
    what: &str,
) -> Result<(), RolesError> {
    let placeholders: Vec<String> = (2..=args.len() + 1)
        .map(|i| format!(", ${i}::text"))
        .collect();
    let select = format!("SELECT format($1::text{})", placeholders.concat());
    let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(select)).bind(template);
    for arg in args {
        query = query.bind(*arg);
    }
    let sql = query
        .fetch_one(&mut *connection)
        .await
        .map_err(RolesError::sql(what))?;
    connection
        .execute(AssertSqlSafe(sql))
        .await
        .map_err(RolesError::sql(what))?;
    Ok(())
}

/// Creates `login` or sets its password and attributes again; `true` when created.
async fn upsert_login(connection: &mut PgConnection, login: &Login) -> Result<bool, RolesError> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(&login.name)
            .fetch_one(&mut *connection)
            .await
            .map_err(RolesError::sql(format!("look up role {}", login.name)))?;
    let verb = if exists { "ALTER" } else { "CREATE" };
    run(
        connection,
        &format!(
            "{verb} ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS \
             INHERIT PASSWORD %L"
        ),
        &[&login.name, login.password.expose_secret()],
        &format!("{} role {}", verb.to_lowercase(), login.name),
    )
    .await?;
    Ok(!exists)
}

/// The schema `<prefix>_previews` with the two functions the previews role may call, owned by the
/// master user and run with its rights (`SECURITY DEFINER`, a fixed `search_path`).
async fn install_preview_functions(
    connection: &mut PgConnection,
    names: &RoleNames,
) -> Result<(), RolesError> {
    // The functions live in a schema named after the role that may call them.
    let previews = names.previews();
    let schema = &previews;
    let prefix = &names.prefix;
    run(
        connection,
        "CREATE SCHEMA IF NOT EXISTS %I",
        &[schema],
        "create the previews' schema",
    )
    .await?;
    run(
        connection,
        "REVOKE ALL ON SCHEMA %I FROM PUBLIC",
        &[schema],
        "close the previews' schema",
    )
    .await?;
    let create = format!(
        r#"CREATE OR REPLACE FUNCTION {schema}.create_preview(number bigint, password text)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    role_name text := {prefix_literal} || '_pr_' || number;
    schema_name text := 'pr_' || number;
    relation record;
BEGIN
    IF number IS NULL OR number < 1 OR number > 999999999 THEN
        RAISE EXCEPTION 'pull request numbers are 1 to 999999999, not %', number;
    END IF;
    IF password IS NULL OR length(password) < 16 THEN
        RAISE EXCEPTION 'the password of % must have at least 16 characters', role_name;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
        EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD %L', role_name, password);
    ELSE
        EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD %L', role_name, password);
    END IF;
    -- Making the role own the schema takes being able to act as it. Granted every time: on
    -- PostgreSQL 16 a role's creator holds only ADMIN OPTION on it, without SET; a repeated grant
    -- is a notice.
    EXECUTE format('GRANT %I TO %I', role_name, current_user);
    EXECUTE format('ALTER ROLE %I SET search_path = %I', role_name, schema_name);
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = schema_name) THEN
        EXECUTE format('CREATE SCHEMA %I AUTHORIZATION %I', schema_name, role_name);
    ELSE
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', schema_name, role_name);
        FOR relation IN
            SELECT c.relname, c.relkind FROM pg_class c
            WHERE c.relnamespace = schema_name::regnamespace
              AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
              AND NOT EXISTS (SELECT 1 FROM pg_depend d
                              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                AND d.deptype IN ('a', 'i') AND c.relkind = 'S')
        LOOP
            EXECUTE format('ALTER %s %I.%I OWNER TO %I',
                CASE relation.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                     WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                schema_name, relation.relname, role_name);
        END LOOP;
    END IF;
    RETURN role_name;
END
$body$"#,
        schema = quote(schema),
        prefix_literal = literal(prefix),
    );
    let drop = format!(
        r#"CREATE OR REPLACE FUNCTION {schema}.drop_preview(number bigint)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    role_name text := {prefix_literal} || '_pr_' || number;
    schema_name text := 'pr_' || number;
    existed boolean;
BEGIN
    IF number IS NULL OR number < 1 OR number > 999999999 THEN
        RAISE EXCEPTION 'pull request numbers are 1 to 999999999, not %', number;
    END IF;
    existed := EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = schema_name)
            OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name);
    EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', schema_name);
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
        EXECUTE format('GRANT %I TO %I', role_name, current_user);
        EXECUTE format('DROP OWNED BY %I', role_name);
        EXECUTE format('DROP ROLE %I', role_name);
    END IF;
    RETURN existed;
END
$body$"#,
        schema = quote(schema),
        prefix_literal = literal(prefix),
    );
    for (sql, what) in [
        (create, "define create_preview"),
        (drop, "define drop_preview"),
    ] {
        connection
            .execute(AssertSqlSafe(sql))
            .await
            .map_err(RolesError::sql(what))?;
    }
    for function in ["create_preview(bigint, text)", "drop_preview(bigint)"] {
        let function = format!("{}.{function}", quote(schema));
        for statement in [
            format!("REVOKE ALL ON FUNCTION {function} FROM PUBLIC"),
            format!(
                "GRANT EXECUTE ON FUNCTION {function} TO {}",
                quote(&previews)
            ),
        ] {
            connection
                .execute(AssertSqlSafe(statement))
                .await
                .map_err(RolesError::sql("grant the preview functions"))?;
        }
    }
    run(
        connection,
        "GRANT USAGE ON SCHEMA %I TO %I",
        &[schema, &previews],
        "grant the previews' schema",
    )
    .await
}

/// A SQL string literal of a checked prefix (letters, digits and `_` only).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix_and_bad_prefixes_are_refused() {
        let names = RoleNames::deployed();
        assert_eq!(
            [
                names.writer(),
                names.reader(),
                names.previews(),
                names.preview(42)
            ],
            [
                "userlog_writer",
                "userlog_reader",
                "userlog_previews",
                "userlog_pr_42"
            ]
        );
        for bad in ["", "User", "a-b", "pg_x", &"a".repeat(41)] {
            assert!(RoleNames::new(bad).is_err(), "{bad:?}");
        }
        assert!(RoleNames::new(&"a".repeat(40)).is_ok());
    }

    #[test]
    fn a_secret_naming_another_user_is_refused() {
        let login = Login {
            name: "userlog_admin".to_owned(),
            password: SecretString::from("x".repeat(20)),
        };
        let error = expect_login(&login, "userlog_pr_7").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the secret of role userlog_pr_7 names the user \"userlog_admin\": the secret must name userlog_pr_7 (its template sets the username)"
        );
        assert!(preview_number(0).is_err() && preview_number(1_000_000_000).is_err());
    }
}
