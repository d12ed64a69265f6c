//! The shapes of what the AWS calls of a deploy, a rollback and an upload return, in the
//! project's own terms: the SDK's types stay in [`crate::sdk`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::changeset::ResourceChange;
use crate::error::AwsCallError;
use crate::release::VersionSnapshot;
use crate::target::ParameterValue;

/// The result of one AWS call.
pub type AwsResult<T> = Result<T, AwsCallError>;

/// A stack as `DescribeStacks` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StackInfo {
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: String,
    /// Why it has that status, when CloudFormation says.
    pub status_reason: Option<String>,
    /// Its parameters (`NoEcho` ones masked).
    pub parameters: BTreeMap<String, String>,
    /// Its outputs.
    pub outputs: BTreeMap<String, String>,
    /// Its stack-level tags.
    pub tags: BTreeMap<String, String>,
}

/// Whether a change set creates the stack or updates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSetKind {
    /// The stack does not exist yet.
    Create,
    /// The stack exists.
    Update,
}

/// Where a change set's template comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// A template in S3.
    Url(String),
    /// The stack's current template (a parameters-only change).
    UsePrevious,
    /// A template sent in the request (up to 51,200 bytes): the bootstrap, whose bucket does
    /// not exist before it.
    Body(String),
}

/// A change set to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetRequest {
    /// The stack.
    pub stack_name: String,
    /// The change set's name (unique per deploy).
    pub name: String,
    /// Create or update.
    pub kind: ChangeSetKind,
    /// The template.
    pub template: TemplateSource,
    /// Every parameter.
    pub parameters: BTreeMap<String, ParameterValue>,
    /// `CAPABILITY_NAMED_IAM`.
    pub capabilities: Vec<String>,
    /// The role CloudFormation acts as.
    pub role_arn: Option<String>,
    /// What the change set is for.
    pub description: String,
    /// Stack-level tags to set (none: the stack keeps the tags it has).
    pub tags: BTreeMap<String, String>,
}

/// A change set as `DescribeChangeSet` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeSetState {
    /// `CREATE_PENDING`, `CREATE_IN_PROGRESS`, `CREATE_COMPLETE`, `FAILED`, ...
    pub status: String,
    /// Why it failed.
    pub status_reason: Option<String>,
    /// `AVAILABLE` once it can be executed.
    pub execution_status: Option<String>,
    /// Its resource changes.
    pub changes: Vec<ResourceChange>,
}

impl ChangeSetState {
    /// Whether CloudFormation has finished computing the change set.
    pub fn is_settled(&self) -> bool {
        matches!(
            self.status.as_str(),
            "CREATE_COMPLETE" | "FAILED" | "DELETE_COMPLETE"
        )
    }
}

/// A function version with its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionVersion {
    /// What it runs.
    pub snapshot: VersionSnapshot,
    /// `Active`, `Pending`, `Inactive`, `Failed`.
    pub state: Option<String>,
    /// `Successful`, `InProgress`, `Failed`.
    pub last_update_status: Option<String>,
    /// Its environment variables.
    pub environment: BTreeMap<String, String>,
}

/// What a put stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The object's ETag, without quotes.
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One execution in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionSummary {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    pub status: String,
    /// When it started.
    pub start: DateTime<Utc>,
}

pub use userlog_executions::history::{ExecutionDetails, HistoryEvent};
