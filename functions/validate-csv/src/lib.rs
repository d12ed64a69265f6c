//! The `validate-csv` function, the first state of the `import` state machine: it claims the
//! object in the imports ledger (so a duplicated event has no effect), validates the file as it
//! streams from S3, records what is wrong, and picks the path (distributed map or bulk task).

use std::io::BufReader;

use chrono::{DateTime, Utc};
use lambda_runtime::Diagnostic;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use userlog_aws::{AwsError, ErrorLog, s3};
use userlog_db::DbError;
use userlog_db::ledger::{self, Claim};
use userlog_domain::reader::{Problem, ReadOptions};
use userlog_domain::records::{
    ErrorRecord, ErrorSource, ProcessingStage, RETENTION_DAYS, ttl_after,
};
use userlog_domain::rules::{ImportStatus, ImportSummary, SourceObject, as_of_from_key};
use userlog_domain::validate::{ValidationReport, validate};
use userlog_domain::{Encoding, EncodingChoice};

/// The function's settings, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `MAX_FILE_BYTES`: larger files are rejected as `FileTooLarge` without being read.
    pub max_bytes: u64,
    /// `BULK_THRESHOLD_BYTES`: files larger than this take the bulk (ECS) path.
    pub bulk_threshold_bytes: u64,
    /// `ERROR_TABLE`: the `csv-processing-errors` table.
    pub error_table: String,
    /// `DATABASE_SCHEMA`: the schema of a preview environment.
    pub database_schema: Option<String>,
    /// `ENVIRONMENT`: the dimension of the function's metrics.
    pub environment: String,
}

/// A setting is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("the environment variable {0} is not set")]
    Missing(&'static str),
    #[error("the environment variable {0} is not a whole number of bytes")]
    NotBytes(&'static str),
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let bytes = |name: &'static str, default: u64| match get(name) {
            Some(v) => v.parse().map_err(|_| ConfigError::NotBytes(name)),
            None => Ok(default),
        };
        Ok(Config {
            max_bytes: bytes("MAX_FILE_BYTES", userlog_domain::reader::DEFAULT_MAX_BYTES)?,
            bulk_threshold_bytes: bytes("BULK_THRESHOLD_BYTES", 10 * 1024 * 1024)?,
            error_table: get("ERROR_TABLE").ok_or(ConfigError::Missing("ERROR_TABLE"))?,
            database_schema: get("DATABASE_SCHEMA"),
            environment: get("ENVIRONMENT").unwrap_or_else(|| "local".to_owned()),
        })
    }
}

/// What the state machine passes: the S3 event's facts and the execution's name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub bucket: String,
    pub key: String,
    /// The ETag of the object the event is about; the object is read only while it still has it.
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    /// The time of the S3 event: the same on every retry of this state.
    #[serde(default)]
    pub event_time: Option<DateTime<Utc>>,
    pub execution_name: String,
    /// The execution's own input: `redriveOf` there names the failed execution this one re-runs
    /// (`cargo xtask redrive`), whose claim in the ledger this one takes over.
    #[serde(default)]
    pub input: Option<serde_json::Value>,
}

impl Request {
    /// The execution this one re-runs, if it is a redrive.
    pub fn redrive_of(&self) -> Option<&str> {
        self.input
            .as_ref()?
            .get("redriveOf")?
            .as_str()
            .filter(|name| !name.is_empty())
    }
}

/// The path an import takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// The distributed map of `process-user-log` batches.
    Map,
    /// The `import-csv` ECS task.
    Bulk,
}

/// What the state machine gets back at `$.validation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub is_valid: bool,
    /// The object was imported before, or is being imported by another execution: nothing to do.
    pub duplicate: bool,
    pub row_count: u64,
    pub encoding: Option<Encoding>,
    pub sha256: String,
    pub size_bytes: u64,
    pub route: Route,
    pub import_id: Option<i64>,
    pub as_of: DateTime<Utc>,
    /// Epoch seconds at which records of this import expire from DynamoDB.
    pub ttl: i64,
    pub error_count: u64,
    pub errors: Vec<Problem>,
    pub lines_match_records: bool,
}

/// Why the function could not decide (as opposed to deciding the file is invalid).
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("the imports ledger is unavailable")]
    Ledger(#[source] DbError),
    #[error("could not read the object")]
    Object(#[source] AwsError),
    #[error("could not record the file's problems")]
    ErrorLog(#[source] AwsError),
    #[error("the object could not be read to the end")]
    Read(#[source] std::io::Error),
}

impl ValidateError {
    /// The error name the state machine's Retry and Catch see.
    pub fn error_type(&self) -> &'static str {
        match self {
            ValidateError::Ledger(err) if err.is_transient() => DbError::ERROR_NAME,
            ValidateError::Ledger(_) => "LedgerError",
            ValidateError::Object(_) | ValidateError::Read(_) => "ObjectUnreadable",
            ValidateError::ErrorLog(_) => "ErrorLogUnavailable",
        }
    }
}

impl From<ValidateError> for Diagnostic {
    fn from(err: ValidateError) -> Diagnostic {
        userlog_lambda::diagnostic(err.error_type(), &err)
    }
}

/// The clients and pool the handler uses, built once.
pub struct Deps {
    pub config: Config,
    pub s3: s3::Client,
    pub errors: ErrorLog,
    pub pool: PgPool,
}

/// Picks the path: Step Functions reads CSV items as UTF-8 only, so Shift_JIS files and large
/// files go to the bulk task.
pub fn route(report: &ValidationReport, threshold_bytes: u64) -> Route {
    let shift_jis = report.encoding == Some(Encoding::ShiftJis);
    if shift_jis || report.size_bytes > threshold_bytes {
        Route::Bulk
    } else {
        Route::Map
    }
}

pub async fn handle(deps: &Deps, request: Request) -> Result<Response, ValidateError> {
    let result = validate_object(deps, request).await;
    if let Err(ValidateError::Ledger(err)) = &result
        && err.is_transient()
    {
        userlog_aws::metrics::emit_database_connection_error(
            &deps.config.environment,
            "validate-csv",
        );
    }
    result
}

async fn validate_object(deps: &Deps, request: Request) -> Result<Response, ValidateError> {
    let info = s3::head_object(&deps.s3, &request.bucket, &request.key)
        .await
        .map_err(ValidateError::Object)?;
    let etag = request.etag.clone().unwrap_or_else(|| info.etag.clone());
    let as_of = as_of_from_key(&request.key)
        .or(info.last_modified)
        .or(request.event_time)
        .unwrap_or_else(Utc::now);
    let at = request.event_time.unwrap_or(as_of);
    let source = SourceObject {
        bucket: request.bucket.clone(),
        key: request.key.clone(),
        etag: etag.clone(),
    };
    let mut response = Response {
        is_valid: true,
        duplicate: false,
        row_count: 0,
        encoding: None,
        sha256: String::new(),
        size_bytes: info.size,
        route: Route::Map,
        import_id: None,
        as_of,
        ttl: ttl_after(at, RETENTION_DAYS),
        error_count: 0,
        errors: Vec::new(),
        lines_match_records: true,
    };

    let mut conn = deps
        .pool
        .acquire()
        .await
        .map_err(|e| ValidateError::Ledger(e.into()))?;
    let claim = ledger::claim_taking_over(
        &mut conn,
        &source,
        as_of,
        &request.execution_name,
        ledger::DEFAULT_STALE_AFTER,
        request.redrive_of(),
    )
    .await
    .map_err(ValidateError::Ledger)?;
    drop(conn);
    let import_id = match claim {
        Claim::Claimed { import_id, .. } => import_id,
        Claim::AlreadyImported { import_id } | Claim::InProgress { import_id, .. } => {
            tracing::info!(import_id, key = %request.key, "the object was imported before or is being imported");
            response.duplicate = true;
            response.import_id = Some(import_id);
            return Ok(response);
        }
    };
    response.import_id = Some(import_id);

    let options = ReadOptions {
        encoding: EncodingChoice::Detect,
        max_bytes: deps.config.max_bytes,
    };
    let report = if info.size > deps.config.max_bytes {
        validate(std::io::empty(), Some(info.size), options).map_err(ValidateError::Read)?
    } else {
        let object = s3::open_object_if_match(&deps.s3, &request.bucket, &request.key, &etag)
            .await
            .map_err(ValidateError::Object)?;
        object
            .read_blocking(move |body| {
                validate(
                    BufReader::with_capacity(256 * 1024, body),
                    Some(info.size),
                    options,
                )
            })
            .await
            .map_err(ValidateError::Object)?
            .map_err(ValidateError::Read)?
    };
    response.is_valid = report.is_valid;
    response.row_count = report.row_count;
    response.encoding = report.encoding;
    response.sha256 = report.sha256.clone();
    response.error_count = report.error_count;
    response.lines_match_records = report.lines_match_records;
    response.route = route(&report, deps.config.bulk_threshold_bytes);

    if report.is_valid {
        ledger::set_route(&deps.pool, import_id, route_name(response.route))
            .await
            .map_err(ValidateError::Ledger)?;
    } else {
        let error_source = ErrorSource {
            execution_name: request.execution_name.clone(),
            stage: ProcessingStage::Validate,
            import_id: Some(import_id),
            at,
            retry_count: 0,
        };
        let records: Vec<ErrorRecord> = report
            .errors
            .iter()
            .map(|problem| ErrorRecord::from_problem(&error_source, problem))
            .collect();
        deps.errors
            .put(&records)
            .await
            .map_err(ValidateError::ErrorLog)?;
        let summary = rejected_summary(&report, import_id, as_of);
        let mut conn = deps
            .pool
            .acquire()
            .await
            .map_err(|e| ValidateError::Ledger(e.into()))?;
        ledger::record_summary(&mut conn, import_id, &summary)
            .await
            .map_err(ValidateError::Ledger)?;
    }
    response.errors = report.errors;
    Ok(response)
}

fn route_name(route: Route) -> &'static str {
    match route {
        Route::Map => "map",
        Route::Bulk => "bulk",
    }
}

/// The ledger's summary of a file the validator rejected.
pub fn rejected_summary(
    report: &ValidationReport,
    import_id: i64,
    as_of: DateTime<Utc>,
) -> ImportSummary {
    ImportSummary {
        status: ImportStatus::Rejected,
        import_id: Some(import_id),
        as_of,
        rows_total: report.row_count,
        applied: 0,
        unchanged: 0,
        skipped_older: 0,
        duplicate: false,
        row_error_count: 0,
        row_errors: Vec::new(),
        problems: report.errors.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(encoding: Encoding, size_bytes: u64) -> ValidationReport {
        ValidationReport {
            is_valid: true,
            row_count: 1,
            encoding: Some(encoding),
            sha256: String::new(),
            size_bytes,
            error_count: 0,
            errors: Vec::new(),
            lines_match_records: true,
        }
    }

    #[test]
    fn shift_jis_and_large_files_take_the_bulk_path() {
        assert_eq!(route(&report(Encoding::Utf8, 10), 100), Route::Map);
        assert_eq!(route(&report(Encoding::Utf8Bom, 10), 100), Route::Map);
        assert_eq!(route(&report(Encoding::ShiftJis, 10), 100), Route::Bulk);
        assert_eq!(route(&report(Encoding::Utf8, 101), 100), Route::Bulk);
    }

    #[test]
    fn settings_have_defaults_and_reject_nonsense() {
        let config =
            Config::from_lookup(|name| (name == "ERROR_TABLE").then(|| "errors".to_owned()))
                .unwrap();
        assert_eq!(
            (config.max_bytes, config.bulk_threshold_bytes),
            (100 * 1024 * 1024, 10 * 1024 * 1024)
        );
        let bad = Config::from_lookup(|name| match name {
            "ERROR_TABLE" => Some("errors".to_owned()),
            "MAX_FILE_BYTES" => Some("lots".to_owned()),
            _ => None,
        });
        assert_eq!(bad, Err(ConfigError::NotBytes("MAX_FILE_BYTES")));
        assert_eq!(
            Config::from_lookup(|_| None),
            Err(ConfigError::Missing("ERROR_TABLE"))
        );
    }

    #[test]
    fn requests_parse_the_state_machine_payload() {
        let request: Request = serde_json::from_str(
            r#"{"bucket":"b","key":"in/a.csv","etag":"abc","size":12,"eventTime":"2026-01-31T00:00:00Z","executionName":"e1"}"#,
        )
        .unwrap();
        assert_eq!(request.size, Some(12));
        assert_eq!(request.execution_name, "e1");
    }
}
