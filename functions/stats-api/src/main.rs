//! The `stats-api` Lambda function: settings, clients, the reader pool and the token verifier
//! are made once, then every HTTP API event is answered by the library's handler.

use anyhow::Context as _;
use lambda_runtime::{LambdaEvent, service_fn};
use stats_api::gateway::{HttpApiEvent, HttpApiResult};
use stats_api::{Api, Config, Cors, Executions, Store, Verifier};
use userlog_aws::{AuditLog, AwsSettings, Clients, ErrorLog, http_client, sdk_config};
use userlog_lambda::database::reader_pool;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env().context("reading the settings")?;
    let sdk = sdk_config().await;
    let clients = Clients::new(&sdk, &AwsSettings::from_env());
    let pool = reader_pool(&sdk, config.database_schema.as_deref())
        .await
        .context("making the database pool")?;
    let api = Api {
        store: Store {
            pool,
            audit: AuditLog::new(clients.dynamodb.clone(), config.audit_table.clone()),
            errors: ErrorLog::new(clients.dynamodb.clone(), config.error_table.clone()),
            execution_index: config.error_table_execution_index.clone(),
        },
        verifier: Verifier::new(
            config.auth.clone(),
            http_client().context("building the HTTP client")?,
        ),
        executions: Executions {
            client: aws_sdk_sfn::Client::new(&sdk),
            state_machine_arn: config.state_machine_arn.clone(),
        },
        cors: Cors::new(config.cors_origins.clone()),
    };
    let api = &api;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<HttpApiEvent>| async move {
            let response = api.handle(&event.payload.request()).await;
            Ok::<_, lambda_runtime::Error>(HttpApiResult::from(response))
        },
    ))
    .await
    .map_err(|err| anyhow::anyhow!(err))
    .context("running the Lambda runtime")
}
