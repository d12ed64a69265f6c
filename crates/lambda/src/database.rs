//! The database pool every function (and the import task) makes once at start-up, from its
//! environment: `DATABASE_URL`, or the secret `DATABASE_SECRET_ARN` names, in `DATABASE_SCHEMA`.

use std::time::Duration;

use aws_config::SdkConfig;
use secrecy::ExposeSecret as _;
use sqlx::PgPool;
use userlog_aws::{
    AwsError, Endpoint, database_url_for_secret, database_url_from_env_for, read_login,
};
use userlog_db::migrate::{InvalidSchemaName, SchemaName, lazy_pool};
use userlog_db::roles::{EnvironmentLogins, Login, MigrationPlan};

/// The connections one function instance (or task) opens at most: it handles one invocation at a
/// time, and nothing in a handler holds two connections at once. The connection budget of every
/// environment (`userlog_infra::budget::CONNECTIONS_PER_INSTANCE`) counts on it.
pub const MAX_CONNECTIONS: u32 = 1;

/// How long the connection may stay idle before the pool closes it, so that a warm instance
/// between bursts holds none. (A frozen Lambda instance closes it when it thaws, before it
/// connects again.)
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the pool could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("cannot find the database")]
    Database(#[source] AwsError),
    #[error("DATABASE_SCHEMA is not a valid schema name")]
    Schema(#[source] InvalidSchemaName),
    #[error("the database URL is not usable")]
    Url(#[source] sqlx::Error),
}

/// A pool that connects on first use, in `schema` when one is given.
pub async fn database_pool(sdk: &SdkConfig, schema: Option<&str>) -> Result<PgPool, PoolError> {
    pool_for(sdk, schema, Endpoint::Writer).await
}

/// [`database_pool`] on the reader endpoint where the environment has one
/// (`DATABASE_READER_HOST`), for a function that only reads.
pub async fn reader_pool(sdk: &SdkConfig, schema: Option<&str>) -> Result<PgPool, PoolError> {
    pool_for(sdk, schema, Endpoint::Reader).await
}

async fn pool_for(
    sdk: &SdkConfig,
    schema: Option<&str>,
    endpoint: Endpoint,
) -> Result<PgPool, PoolError> {
    let url = database_url_from_env_for(sdk, endpoint)
        .await
        .map_err(PoolError::Database)?;
    let schema = schema
        .map(SchemaName::parse)
        .transpose()
        .map_err(PoolError::Schema)?;
    lazy_pool(
        url.expose_secret(),
        schema.as_ref(),
        MAX_CONNECTIONS,
        IDLE_TIMEOUT,
    )
    .map_err(PoolError::Url)
}

/// Why the migration step's logins could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MigrationSetupError {
    #[error("{0} is not set: the task definition predates database roles; deploy the stack first")]
    Missing(&'static str),
    #[error("cannot read the login of {variable}")]
    Login {
        variable: &'static str,
        #[source]
        source: AwsError,
    },
    #[error("DATABASE_SCHEMA is not a valid schema name")]
    Schema(#[source] InvalidSchemaName),
    #[error("the database URL is not usable")]
    Url(#[source] sqlx::Error),
}

/// What `import-csv migrate` does, from the task's environment: the administrative login
/// (`DATABASE_ADMIN_SECRET_ARN`: the master user, or in a preview the previews role) and the
/// logins it sets up (`DATABASE_WRITER_SECRET_ARN`, `DATABASE_READER_SECRET_ARN`,
/// `DATABASE_PREVIEWS_SECRET_ARN`; a preview's own, `DATABASE_SECRET_ARN`). Only the migration
/// task's role may read these secrets.
pub async fn migration_from_env(
    sdk: &SdkConfig,
) -> Result<(sqlx::postgres::PgConnectOptions, MigrationPlan), MigrationSetupError> {
    let variable = |name: &'static str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or(MigrationSetupError::Missing(name))
    };
    let login = |name: &'static str| async move {
        let arn = variable(name)?;
        let (user, password) =
            read_login(sdk, &arn)
                .await
                .map_err(|source| MigrationSetupError::Login {
                    variable: name,
                    source,
                })?;
        Ok::<_, MigrationSetupError>(Login {
            name: user,
            password,
        })
    };
    let admin_arn = variable("DATABASE_ADMIN_SECRET_ARN")?;
    let admin_url = database_url_for_secret(sdk, &admin_arn, Endpoint::Writer)
        .await
        .map_err(|source| MigrationSetupError::Login {
            variable: "DATABASE_ADMIN_SECRET_ARN",
            source,
        })?;
    let admin = userlog_db::migrate::connect_options(admin_url.expose_secret(), None)
        .map_err(MigrationSetupError::Url)?;
    let schema = std::env::var("DATABASE_SCHEMA")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| SchemaName::parse(&s))
        .transpose()
        .map_err(MigrationSetupError::Schema)?;
    let plan = match schema.as_ref().and_then(SchemaName::pull_request) {
        Some(number) => MigrationPlan::Preview {
            number,
            previews: login("DATABASE_ADMIN_SECRET_ARN").await?,
            own: login("DATABASE_SECRET_ARN").await?,
        },
        None => MigrationPlan::Environment {
            logins: EnvironmentLogins {
                writer: login("DATABASE_WRITER_SECRET_ARN").await?,
                reader: login("DATABASE_READER_SECRET_ARN").await?,
                // Only where previews share the database.
                previews: if variable("DATABASE_PREVIEWS_SECRET_ARN").is_ok() {
                    Some(login("DATABASE_PREVIEWS_SECRET_ARN").await?)
                } else {
                    None
                },
            },
        },
    };
    Ok((admin, plan))
}
