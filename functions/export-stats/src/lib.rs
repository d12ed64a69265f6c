//! The `export-stats` function: the daily export of `user_statistics` to the data lake (seed
//! 002's Glue job), started by the EventBridge Scheduler schedule at 02:00 Asia/Tokyo.
//!
//! The schedule sends `{"source": "schedule"}`: the day is today in `EXPORT_TIMEZONE`. An
//! invocation may name the day instead, `{"date": "YYYY-MM-DD"}`, to redo it. Either way the
//! export is `userlog_export::export` to the ETL bucket, and the answer is its summary. The Glue
//! table finds the day by partition projection, so nothing is registered.

use lambda_runtime::Diagnostic;
use serde::Deserialize;
use userlog_export::{Day, Destination, ExportError, ExportOptions, ExportSummary, export};

/// Everything the function reads from its environment, besides the AWS SDK's own variables and
/// the database's (`DATABASE_URL` or `DATABASE_SECRET_ARN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `ETL_BUCKET`: the data lake's bucket.
    pub bucket: String,
    /// `ETL_PREFIX`: where the table's partitions start (default `user_statistics/`).
    pub prefix: String,
    /// `EXPORT_TIMEZONE`: the zone whose calendar names the day (default `Asia/Tokyo`).
    pub timezone: String,
    /// `EXPORT_ROWS_PER_GROUP`: rows per Parquet row group (default 100,000).
    pub rows_per_group: usize,
    /// `DATABASE_SCHEMA`: the schema of a preview environment (`pr_<N>`); `public` when unset.
    pub database_schema: Option<String>,
}

/// A setting is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("the environment variable {0} is not set")]
    Missing(&'static str),
    #[error("the environment variable {name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let optional = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let defaults = ExportOptions::default();
        let rows_per_group = match optional("EXPORT_ROWS_PER_GROUP") {
            None => defaults.rows_per_group,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=10_000_000).contains(n))
                .ok_or_else(|| ConfigError::Invalid {
                    name: "EXPORT_ROWS_PER_GROUP",
                    reason: format!("`{text}` is not a whole number from 1 to 10000000"),
                })?,
        };
        Ok(Config {
            bucket: optional("ETL_BUCKET").ok_or(ConfigError::Missing("ETL_BUCKET"))?,
            prefix: optional("ETL_PREFIX").unwrap_or(defaults.prefix),
            timezone: optional("EXPORT_TIMEZONE").unwrap_or_else(|| "Asia/Tokyo".to_owned()),
            rows_per_group,
            database_schema: optional("DATABASE_SCHEMA"),
        })
    }
}

/// What the handler needs, made once per instance.
#[derive(Debug)]
pub struct Deps {
    pub s3: userlog_aws::s3::Client,
    pub pool: sqlx::PgPool,
    pub config: Config,
}

/// The invocation's input: the schedule's `{"source": "schedule"}`, or a day to export.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExportRequest {
    /// The day to file the snapshot under; today in `EXPORT_TIMEZONE` when absent.
    #[serde(default)]
    pub date: Option<String>,
}

/// A failed invocation, as the caller (the schedule's retry policy, or an operator) sees it.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("the input is not an export request: {0}")]
    BadInput(String),
    #[error(transparent)]
    Export(#[from] ExportError),
}

impl HandlerError {
    /// The `errorType`: `DatabaseError` for transient database trouble, else the export's code.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::BadInput(_) => "BadExportRequest",
            HandlerError::Export(err) => err.code(),
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(err: HandlerError) -> Diagnostic {
        userlog_lambda::diagnostic(err.error_type(), &err)
    }
}

/// Reads the request; anything but an object with an optional `date` string is refused.
pub fn parse_request(event: &serde_json::Value) -> Result<ExportRequest, HandlerError> {
    if event.is_null() {
        return Ok(ExportRequest::default());
    }
    serde_json::from_value(event.clone()).map_err(|err| HandlerError::BadInput(err.to_string()))
}

/// One invocation: the day's export to the ETL bucket.
pub async fn handle(deps: &Deps, event: &serde_json::Value) -> Result<ExportSummary, HandlerError> {
    let request = parse_request(event)?;
    let day = match &request.date {
        Some(text) => text.parse::<Day>()?,
        None => userlog_export::day::today_in(&deps.pool, &deps.config.timezone).await?,
    };
    let destination = Destination::s3(deps.s3.clone(), &deps.config.bucket);
    let options = ExportOptions {
        prefix: deps.config.prefix.clone(),
        rows_per_group: deps.config.rows_per_group,
    };
    Ok(export(&deps.pool, day, &destination, &options).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn settings_have_defaults_but_the_bucket() {
        assert_eq!(config(&[]), Err(ConfigError::Missing("ETL_BUCKET")));
        let read = config(&[("ETL_BUCKET", "local-userlog-etl-000000000000")]).unwrap();
        assert_eq!(read.prefix, "user_statistics/");
        assert_eq!(read.timezone, "Asia/Tokyo");
        assert_eq!(read.rows_per_group, 100_000);
        assert_eq!(read.database_schema, None);
        let bad = config(&[("ETL_BUCKET", "b"), ("EXPORT_ROWS_PER_GROUP", "0")]).unwrap_err();
        assert_eq!(
            bad.to_string(),
            "the environment variable EXPORT_ROWS_PER_GROUP is not valid: `0` is not a whole number from 1 to 10000000"
        );
    }

    #[test]
    fn requests_are_the_schedules_or_name_a_day() {
        let parse = |v: serde_json::Value| parse_request(&v).map_err(|e| e.error_type());
        assert_eq!(
            parse(serde_json::json!({"source": "schedule"})),
            Ok(ExportRequest::default())
        );
        assert_eq!(parse(serde_json::Value::Null), Ok(ExportRequest::default()));
        assert_eq!(
            parse(serde_json::json!({"date": "2026-12-01"})),
            Ok(ExportRequest {
                date: Some("2026-12-01".to_owned())
            })
        );
        assert_eq!(
            parse(serde_json::json!({"date": 20261201})),
            Err("BadExportRequest")
        );
        assert_eq!(parse(serde_json::json!([1])), Err("BadExportRequest"));
    }
}
