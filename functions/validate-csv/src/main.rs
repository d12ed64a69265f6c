//! The `validate-csv` Lambda function: settings, clients and the database pool are made once,
//! then every invocation validates one object.

use anyhow::Context as _;
use lambda_runtime::{LambdaEvent, service_fn};
use userlog_aws::{AwsSettings, Clients, ErrorLog, sdk_config};
use userlog_lambda::database::database_pool;
use validate_csv::{Config, Deps, Request, handle};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env().context("reading the settings")?;
    let sdk = sdk_config().await;
    let clients = Clients::new(&sdk, &AwsSettings::from_env());
    let pool = database_pool(&sdk, config.database_schema.as_deref())
        .await
        .context("making the database pool")?;
    let deps = Deps {
        errors: ErrorLog::new(clients.dynamodb.clone(), config.error_table.clone()),
        s3: clients.s3,
        pool,
        config,
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Request>| async move {
        handle(deps, event.payload).await
    }))
    .await
    .map_err(|err| anyhow::anyhow!(err))
    .context("running the Lambda runtime")
}
