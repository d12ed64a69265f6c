//! The `export-stats` Lambda function: settings, the S3 client and the database pool are made
//! once, then every invocation (the daily schedule's, or one naming a day) runs the export.

use anyhow::Context;
use export_stats::{Config, Deps, handle};
use lambda_runtime::{LambdaEvent, service_fn};
use userlog_aws::{AwsSettings, s3_client, sdk_config};
use userlog_lambda::database::database_pool;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .without_time()
        .init();

    let config = Config::from_env().context("reading the settings")?;
    let sdk = sdk_config().await;
    let s3 = s3_client(&sdk, &AwsSettings::from_env());
    let pool = database_pool(&sdk, config.database_schema.as_deref())
        .await
        .context("making the database pool")?;
    let deps = Deps { s3, pool, config };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move { handle(deps, &event.payload).await }))
        .await
        .map_err(|err| anyhow::anyhow!(err))
        .context("running the Lambda runtime")
}
