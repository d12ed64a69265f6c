//! `cargo xtask export [--env E] [--date YYYY-MM-DD] [--out DIR] [--json]`: the daily export of
//! `user_statistics` to Parquet, run on demand with the code of the `export-stats` function,
//! against the environment's database and ETL bucket (as its rendered function configuration
//! names them), or into a directory. Exit 0 written, 1 the export failed (nothing became
//! visible), 2 could not run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_yaml::Value;
use userlog_export::{Day, Destination, ExportOptions, export};
use userlog_infra::{EnvironmentName, render_environment};
use userlog_local::LocalStack;

use crate::cli::ExportArgs;
use crate::render::load_templates;
use userlog_domain::errors::error_chain;

/// The logical id of the export function in the rendered stack.
const FUNCTION_ID: &str = "ExportStatsFunction";

/// What the rendered function gets in its environment, read back from the template.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FunctionSettings {
    bucket: String,
    prefix: String,
    timezone: String,
}

/// The export function's settings in a rendered template.
fn function_settings(template: &Value) -> anyhow::Result<FunctionSettings> {
    let variables = template
        .get("Resources")
        .and_then(|r| r.get(FUNCTION_ID))
        .and_then(|f| f.get("Properties"))
        .and_then(|p| p.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .with_context(|| format!("the rendered stack has no {FUNCTION_ID} with an environment"))?;
    let get = |name: &str| {
        variables
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("{FUNCTION_ID} has no literal {name}"))
    };
    Ok(FunctionSettings {
        bucket: get("ETL_BUCKET")?,
        prefix: get("ETL_PREFIX")?,
        timezone: get("EXPORT_TIMEZONE")?,
    })
}

pub(crate) fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let environment: EnvironmentName = args.env.parse()?;
    let day = args.date.as_deref().map(str::parse::<Day>).transpose()?;
    let rendered = render_environment(environment, &load_templates()?)
        .with_context(|| format!("could not render {environment}"))?;
    let settings = function_settings(&rendered.template)?;
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None if environment == EnvironmentName::Local
            || crate::aws_env::is_local_preview(environment) =>
        {
            LocalStack::discover()?
                .postgres
                .database_url()
                .context("the local environment's database is the local cluster: start it with `cargo xtask local up` (or `cargo xtask demo`)")?
        }
        None => anyhow::bail!(
            "{environment}'s database is not on this machine: pass --database-url or set DATABASE_URL"
        ),
    };
    let schema = args.schema.clone().or_else(|| {
        environment
            .pull_request()
            .map(|number| format!("pr_{number}"))
    });
    let options = ExportOptions {
        prefix: settings.prefix.clone(),
        rows_per_group: args.rows_per_group,
    };
    crate::runtime()?.block_on(async {
        let pool = crate::connect(&url, schema.as_deref()).await?;
        let day = match day {
            Some(day) => day,
            None => userlog_export::day::today_in(&pool, &settings.timezone).await?,
        };
        let destination = match &args.out {
            Some(dir) => Destination::Directory {
                root: PathBuf::from(dir),
            },
            None => {
                let (config, aws) = crate::aws_env::sdk_for(environment).await?;
                Destination::s3(userlog_aws::s3_client(&config, &aws), &settings.bucket)
            }
        };
        if !args.json {
            eprintln!(
                "Exporting user_statistics of {environment} for {day} to {}",
                destination.location(&userlog_export::object_key(&options.prefix, day))
            );
        }
        match export(&pool, day, &destination, &options).await {
            Ok(summary) => {
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&summary)?);
                } else {
                    println!(
                        "{} rows in {} row groups, {} bytes ({} part{}), in {:.2} s: {}",
                        summary.rows,
                        summary.row_groups,
                        summary.bytes,
                        summary.parts,
                        if summary.parts == 1 { "" } else { "s" },
                        summary.seconds,
                        summary.location
                    );
                }
                anyhow::Ok(ExitCode::SUCCESS)
            }
            Err(err) if err.is_bad_input() => Err(err.into()),
            Err(err) => {
                let message = error_chain(&err);
                if args.json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({
                            "day": day.to_string(),
                            "error": err.code(),
                            "message": message,
                        }))?
                    );
                } else {
                    eprintln!("export failed ({}): {message}", err.code());
                    eprintln!("nothing became visible: the day keeps the file it had");
                }
                Ok(ExitCode::FAILURE)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_are_the_rendered_functions() {
        let rendered =
            render_environment(EnvironmentName::Local, &load_templates().unwrap()).unwrap();
        let settings = function_settings(&rendered.template).unwrap();
        assert_eq!(
            settings,
            FunctionSettings {
                bucket: "local-userlog-etl-000000000000".to_owned(),
                prefix: "user_statistics/".to_owned(),
                timezone: "Asia/Tokyo".to_owned(),
            }
        );
    }
}
