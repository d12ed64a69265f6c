//! The `import-csv` ECS task: reads its job from the environment, imports, and exits 0 when the
//! file was applied, 1 when it was rejected or failed (nothing applied), 2 when it could not run.
//! `import-csv migrate` applies the database migrations and makes the database roles instead (the
//! deploy runs it as a one-off task inside the environment's network, where a private database is
//! reachable, with the migration role): exit 0 when the schema is current, 2 when it could not be
//! made so. `import-csv drop-preview` drops a preview's schema and role (`preview down` runs it
//! before the stack goes): exit 0 when they are gone, 2 when they could not be dropped.

use std::process::ExitCode;

use anyhow::Context as _;
use import_csv::{Deps, Task, run};
use userlog_aws::{AuditLog, AwsSettings, Clients, ErrorLog, sdk_config};
use userlog_db::roles::{MigrationPlan, RoleNames, migrate_database};
use userlog_domain::rules::ImportStatus;
use userlog_lambda::database::{database_pool, migration_from_env};

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
        Some("drop-preview") => {
            return match drop_preview().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!(
                        error = format!("{err:#}"),
                        "the preview's schema was not dropped"
                    );
                    ExitCode::from(2)
                }
            };
        }
        Some(other) => {
            tracing::error!(
                "unknown command `{other}`: run with no argument to import, or `migrate`, or `drop-preview`"
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

/// The migration step: as the administrative login, applies the pending migrations and makes
/// the database roles (crates/db/src/roles.rs), and prints what it did as one JSON line.
async fn migrate() -> anyhow::Result<()> {
    let sdk = sdk_config().await;
    let (admin, plan) = migration_from_env(&sdk)
        .await
        .context("reading the migration's logins")?;
    let outcome = migrate_database(&admin, &RoleNames::deployed(), &plan)
        .await
        .context("migrating the database")?;
    let applied: Vec<String> = outcome
        .migrations
        .applied
        .iter()
        .map(|m| format!("{} {}", m.version, m.description))
        .collect();
    println!(
        "{}",
        serde_json::json!({"migrationsApplied": applied, "roles": outcome.roles, "previewRole": outcome.preview_role})
    );
    Ok(())
}

/// Drops the preview's schema and role as the previews role, and prints whether they existed as
/// one JSON line.
async fn drop_preview() -> anyhow::Result<()> {
    let sdk = sdk_config().await;
    let (admin, plan) = migration_from_env(&sdk)
        .await
        .context("reading the migration's logins")?;
    let MigrationPlan::Preview {
        number, previews, ..
    } = plan
    else {
        anyhow::bail!("DATABASE_SCHEMA is not a preview's schema (pr_<N>): nothing is dropped");
    };
    let existed =
        userlog_db::roles::drop_preview(&admin, &RoleNames::deployed(), number, &previews)
            .await
            .context("dropping the preview's schema and role")?;
    println!(
        "{}",
        serde_json::json!({"dropped": existed, "schema": format!("pr_{number}")})
    );
    Ok(())
}
