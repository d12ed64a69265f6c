//! The errors of the AWS adapters.

use std::error::Error as StdError;

use aws_sdk_s3::error::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// A failed call to AWS, or a record that does not convert.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// An AWS API call failed; `code` is the service's error code when it sent one.
    #[error("{operation} failed: {message}")]
    Service {
        operation: &'static str,
        code: Option<String>,
        message: String,
    },
    /// DynamoDB kept returning unprocessed items.
    #[error("{count} items for table `{table}` were still unprocessed after {attempts} attempts")]
    Unprocessed {
        table: String,
        count: usize,
        attempts: u32,
    },
    /// A DynamoDB item does not convert to or from a record.
    #[error("a DynamoDB item does not convert: {0}")]
    Item(String),
    /// Reading an object's body failed.
    #[error("reading the object body failed")]
    Body(#[source] std::io::Error),
    /// A blocking task panicked or was cancelled.
    #[error("a blocking task did not finish")]
    Join(#[source] tokio::task::JoinError),
    /// The database settings are missing or the secret is not usable.
    #[error("the database settings are not usable: {0}")]
    Database(String),
    /// A webhook call failed.
    #[error("the HTTP call failed: {0}")]
    Http(String),
    /// A channel is not set up (no parameter, no address).
    #[error("not configured: {0}")]
    NotConfigured(String),
}

impl AwsError {
    /// Turns an SDK error into an [`AwsError::Service`] for `operation`, keeping the whole chain
    /// of causes in the message.
    pub fn service<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        move |err| AwsError::Service {
            operation,
            code: err.code().map(str::to_owned),
            message: DisplayErrorContext(&err).to_string(),
        }
    }

    /// The service's error code, for an [`AwsError::Service`].
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}
