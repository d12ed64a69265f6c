//! The `import-csv` ECS task: reads its job from the environment, imports, and exits 0 when the
//! file was applied, 1 when it was rejected or failed (nothing applied), 2 when it could not run.
//! `import-csv migrate` applies the database migrations instead (the deploy runs it as a one-off
//! task inside the environment's network, where a private database is reachable): exit 0 when
//! the schema is current, 2 when it could not be made so.

use std::process::ExitCode;

use anyhow::Context as _;
use import_csv::{Deps, Task, run};
use userlog_aws::{AuditLog, AwsSettings, Clients, ErrorLog, sdk_config};
use userlog_domain::rules::ImportStatus;
use userlog_lambda::database::database_pool;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("migrate") => {
            return match migrate().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!(error = format!("{err:#}"), "the migrations failed");
                    ExitCode::from(2)
                }
            };
        }
        Some(other) => {
            tracing::error!(
                "unknown command `{other}`: run with no argument to import, or `migrate`"
            );
            return ExitCode::from(2);
        }
    }
    match import().await {
        Ok(status) if status.applied() || status == ImportStatus::Duplicate => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "the import task failed");
            ExitCode::from(2)
        }
    }
}

async fn import() -> anyhow::Result<ImportStatus> {
    let task = Task::from_env().context("reading the task's environment")?;
    let sdk = sdk_config().await;
    let clients = Clients::new(&sdk, &AwsSettings::from_env());
    let pool = database_pool(&sdk, task.database_schema.as_deref())
        .await
        .context("making the database pool")?;
    let deps = Deps {
        s3: clients.s3.clone(),
        audit: AuditLog::new(clients.dynamodb.clone(), task.audit_table.clone()),
        errors: ErrorLog::new(clients.dynamodb.clone(), task.error_table.clone()),
        pool,
    };
    let summary = run(&deps, &task).await?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(summary.status)
}

/// Applies the pending migrations to the task's database (into `DATABASE_SCHEMA` when it names a
/// schema of its own), and prints which it applied as one JSON line.
async fn migrate() -> anyhow::Result<()> {
    let schema = std::env::var("DATABASE_SCHEMA")
        .ok()
        .filter(|s| !s.is_empty() && s != "public")
        .map(|s| userlog_db::migrate::SchemaName::parse(&s))
        .transpose()
        .context("DATABASE_SCHEMA")?;
    let sdk = sdk_config().await;
    let pool = database_pool(&sdk, None)
        .await
        .context("making the database pool")?;
    let report = userlog_db::migrate::run(&pool, schema.as_ref())
        .await
        .context("applying the migrations")?;
    let applied: Vec<String> = report
        .applied
        .iter()
        .map(|m| format!("{} {}", m.version, m.description))
        .collect();
    println!("{}", serde_json::json!({"migrationsApplied": applied}));
    Ok(())
}
