//! The database pool every function (and the import task) makes once at start-up, from its
//! environment: `DATABASE_URL`, or the secret `DATABASE_SECRET_ARN` names, in `DATABASE_SCHEMA`.

use std::time::Duration;

use aws_config::SdkConfig;
use secrecy::ExposeSecret as _;
use sqlx::PgPool;
use userlog_aws::{AwsError, Endpoint, database_url_from_env_for};
use userlog_db::migrate::{InvalidSchemaName, SchemaName, lazy_pool};

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
