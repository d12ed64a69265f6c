//! The `check-errors` Lambda function: settings, clients and the database pool are made once,
//! then every invocation runs the check.

use anyhow::Context;
use check_errors::{Config, Deps, handle};
use lambda_runtime::{LambdaEvent, service_fn};
use userlog_aws::{
    AwsSettings, Clients, ErrorLog, SesNotifier, SlackSource, SnsNotifier, http_client, sdk_config,
};
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
    let clients = Clients::new(&sdk, &AwsSettings::from_env());
    let pool = database_pool(&sdk, config.database_schema.as_deref())
        .await
        .context("making the database pool")?;
    let deps = Deps {
        errors: ErrorLog::new(clients.dynamodb.clone(), config.error_table.clone()),
        alerts: SnsNotifier {
            client: clients.sns.clone(),
            topic_arn: config.alert_topic_arn.clone(),
        },
        critical: SnsNotifier {
            client: clients.sns.clone(),
            topic_arn: config.critical_topic_arn.clone(),
        },
        email: config.email.as_ref().map(|email| SesNotifier {
            client: clients.sesv2.clone(),
            from: email.from.clone(),
            to: email.to.clone(),
        }),
        slack: SlackSource {
            ssm: clients.ssm.clone(),
            http: http_client().context("building the HTTP client")?,
            parameter: config.slack_webhook_parameter.clone(),
        },
        pool,
        config,
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move { handle(deps, &event.payload).await }))
        .await
        .map_err(|err| anyhow::anyhow!(err))
        .context("running the Lambda runtime")
}
