//! The one place that builds AWS clients, and the adapters the functions use (S3 reads and uploads, DynamoDB records, notifications, metrics).
//!
//! The domain's records and messages are plain types ([`userlog_domain::records`],
//! [`userlog_domain::report`]); this crate moves them to and from AWS.

pub mod config;
pub mod dynamodb;
pub mod error;
pub mod item;
pub mod metrics;
pub mod notify;
pub mod s3;
pub mod secrets;
#[cfg(test)]
mod testing;
pub mod upload;

pub use config::{AwsSettings, Clients, s3_client, sdk_config};
pub use dynamodb::{AuditKey, AuditLog, AuditPage, Backoff, ErrorLog};
pub use error::AwsError;
pub use notify::{
    Channel, Delivery, Notifier, SesNotifier, SlackNotifier, SlackSetup, SlackSource, SnsNotifier,
    http_client,
};
pub use s3::{ObjectInfo, OpenObject, head_object, open_object, open_object_if_match};
pub use secrets::{
    Endpoint, database_url_for_secret, database_url_from_env, database_url_from_env_for,
    login_from_secret, read_login,
};
pub use upload::{ObjectUpload, Uploaded};
