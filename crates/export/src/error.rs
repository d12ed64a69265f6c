//! What can go wrong in an export, each with a stable code.

use userlog_aws::AwsError;
use userlog_db::error::DbError;

/// A failed export. Nothing of a failed export becomes visible: the day keeps the file it had.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The day is not `YYYY-MM-DD`.
    #[error("`{0}` is not a day: give one as YYYY-MM-DD (e.g. 2026-12-01)")]
    BadDate(String),
    /// The time zone is not one the database knows.
    #[error("`{0}` is not a time zone the database knows (an IANA name such as Asia/Tokyo)")]
    BadTimezone(String),
    /// Reading from PostgreSQL failed.
    #[error("reading user_statistics failed")]
    Database(#[source] DbError),
    /// Encoding the Parquet file failed.
    #[error("encoding the Parquet file failed")]
    Parquet(#[source] parquet::errors::ParquetError),
    /// Writing the local file failed.
    #[error("writing {path} failed")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Uploading to S3 failed.
    #[error("uploading the file to S3 failed")]
    Upload(#[source] AwsError),
}

impl ExportError {
    /// A database error, sorted into transient or not.
    pub fn database(err: sqlx::Error) -> ExportError {
        ExportError::Database(DbError::from(err))
    }

    /// The stable code of the error. `DatabaseError` is the name a retry of transient database
    /// trouble matches, as everywhere in the pipeline.
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::BadDate(_) => "BadExportDate",
            ExportError::BadTimezone(_) => "BadTimezone",
            ExportError::Database(err) if err.is_transient() => DbError::ERROR_NAME,
            ExportError::Database(_) => "ExportFailed",
            ExportError::Parquet(_) | ExportError::Io { .. } => "ExportFailed",
            ExportError::Upload(_) => "UploadFailed",
        }
    }

    /// Whether the caller did something wrong (as opposed to the export failing).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, ExportError::BadDate(_) | ExportError::BadTimezone(_))
    }
}
