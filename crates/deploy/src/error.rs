//! What can go wrong in a deploy, a rollback or an upload, each saying what to do about it.

use crate::changeset::ResourceChange;
use crate::events::ResourceFailure;
use crate::lock::LockRecord;
use crate::retry::{FailureFacts, Retryable, Transience, classify};

/// One failed AWS call: the operation, what the failure says about itself, and its message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct AwsCallError {
    /// The API operation (`CreateChangeSet`).
    pub operation: String,
    /// The kind, error code and status.
    pub facts: FailureFacts,
    /// The service's message, or the client's description of the failure.
    pub message: String,
}

impl AwsCallError {
    /// A service error.
    pub fn service(operation: &str, code: &str, status: u16, message: &str) -> Self {
        AwsCallError {
            operation: operation.to_owned(),
            facts: FailureFacts::service(code, status),
            message: format!("{code}: {message}"),
        }
    }

    /// The service's error code, if it answered.
    pub fn code(&self) -> Option<&str> {
        self.facts.code.as_deref()
    }

    /// Whether the service answered with this error code.
    pub fn is_code(&self, code: &str) -> bool {
        self.code() == Some(code)
    }
}

impl Retryable for AwsCallError {
    fn transience(&self) -> Transience {
        classify(&self.facts)
    }
}

/// Why a deploy, rollback or upload stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// An AWS call failed (after retrying, when the failure was transient).
    #[error(transparent)]
    Aws(#[from] AwsCallError),
    /// Another deploy or rollback of the environment holds its lock.
    #[error(
        "{} is locked by {} ({} {}) since {}; the lock expires at {}. Wait for that deploy to finish; \
         a crashed deploy's lock is broken automatically by the first deploy after it expires",
        .0.environment, .0.owner, .0.command, .0.deploy_id, .0.acquired_at.to_rfc3339(), .0.expires_at.to_rfc3339()
    )]
    Locked(Box<LockRecord>),
    /// A prerequisite of deploys (bucket, lock table) is missing in a non-local environment.
    #[error(
        "the {what} `{name}` does not exist in {environment}'s account: deploy the bootstrap stack \
         first (templates/bootstrap/bootstrap.yaml, rendered as rendered/{environment}/bootstrap.yaml){hint}"
    )]
    MissingPrerequisite {
        /// `artifact bucket` or `deploy lock table`.
        what: &'static str,
        /// Its name.
        name: String,
        /// The environment.
        environment: String,
        /// More to say.
        hint: String,
    },
    /// The rendered definitions fail the static checks.
    #[error(
        "the rendered definitions of {environment} fail validation:\n{findings}\nfix them, then check with `cargo xtask validate --env {environment}`"
    )]
    Invalid {
        /// The environment.
        environment: String,
        /// One finding per line.
        findings: String,
    },
    /// Rendering or reading the rendered manifest failed.
    #[error("the rendered stack of {environment} cannot be used: {reason}")]
    Rendering {
        /// The environment.
        environment: String,
        /// What is wrong.
        reason: String,
    },
    /// A function of the stack has no build artifact.
    #[error("{reason}")]
    MissingCode {
        /// What is missing and what to do.
        reason: String,
    },
    /// A setting the deploy needs is missing.
    #[error("{0}")]
    Settings(String),
    /// The rendered stack policy is not the one the environment's bootstrap approved.
    #[error(
        "the stack policy of {environment} changed since its bootstrap (no approved copy at `{key}` in the artifact bucket): \
         the deploy role may not set it; an administrator of the account runs `cargo xtask bootstrap --env {environment} --repository OWNER/REPO`, then deploy again"
    )]
    StackPolicyNotApproved {
        /// The environment.
        environment: String,
        /// The approved copy's key that is missing.
        key: String,
    },
    /// The import task's image could not be pushed, or the repository does not hold it.
    #[error("the import task's image {reference}: {reason}")]
    Image {
        /// `host/repository:tag`.
        reference: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// The stack is in a state that no change set can start from.
    #[error("the stack {stack} is {status}: {advice}")]
    StackNotReady {
        /// The stack.
        stack: String,
        /// Its status.
        status: String,
        /// What to do.
        advice: String,
    },
    /// CloudFormation could not create the change set.
    #[error("CloudFormation could not create the change set {change_set} of {stack}: {reason}")]
    ChangeSetFailed {
        /// The stack.
        stack: String,
        /// The change set.
        change_set: String,
        /// CloudFormation's reason.
        reason: String,
    },
    /// The change set removes or replaces stateful resources in production.
    #[error(
        "the change set of {stack} would remove or replace {} stateful resource(s) in production ({}); \
         nothing was changed. Review the changes above; deploy again with --allow-destructive only if losing their data is intended",
        .changes.len(),
        .changes.iter().map(|c| c.logical_id.as_str()).collect::<Vec<_>>().join(", ")
    )]
    DestructiveBlocked {
        /// The stack.
        stack: String,
        /// The destructive changes.
        changes: Vec<ResourceChange>,
    },
    /// The operator did not confirm a destructive change.
    #[error("the destructive changes of {stack} were not confirmed; nothing was changed")]
    NotConfirmed {
        /// The stack.
        stack: String,
    },
    /// The alias update touched more than aliases.
    #[error(
        "the change set that moves the aliases of {stack} would also change {}; it was not executed",
        .unexpected.join(", ")
    )]
    UnexpectedChanges {
        /// The stack.
        stack: String,
        /// The other resources it would change.
        unexpected: Vec<String>,
    },
    /// The stack update failed (and CloudFormation rolled it back).
    #[error(
        "the stack {stack} ended in {status}{}",
        if .failures.is_empty() { String::new() } else {
            format!(":\n{}", .failures.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))
        }
    )]
    StackFailed {
        /// The stack.
        stack: String,
        /// Its final status.
        status: String,
        /// The resources that failed, with CloudFormation's reasons.
        failures: Vec<ResourceFailure>,
    },
    /// A wait ran out.
    #[error("{what} did not finish within {seconds} s")]
    TimedOut {
        /// What was waited for.
        what: String,
        /// The limit.
        seconds: u64,
    },
    /// The stack's database schema is not a valid schema name.
    #[error("the stack's database schema cannot be migrated")]
    Schema(#[source] userlog_db::migrate::InvalidSchemaName),
    /// The migration step (migrations and database roles) failed.
    #[error("the migration step ({target}) failed")]
    MigrationStep {
        /// The schema.
        target: String,
        /// Why.
        #[source]
        source: userlog_db::roles::MigrationStepError,
    },
    /// The stack lacks an output the command needs.
    #[error(
        "the stack {stack} has no output {output}; is it deployed with the current templates? (`cargo xtask deploy --env {environment}`)"
    )]
    MissingOutput {
        /// The stack.
        stack: String,
        /// The output.
        output: String,
        /// The environment.
        environment: String,
    },
    /// The stack does not exist.
    #[error(
        "the stack {stack} does not exist: deploy it first (`cargo xtask deploy --env {environment}`)"
    )]
    NoStack {
        /// The stack.
        stack: String,
        /// The environment.
        environment: String,
    },
    /// No execution of the import state machine started for an upload.
    #[error(
        "no execution of {state_machine} started for s3://{bucket}/{key} within {seconds} s. Check that \
         the EventBridge rule {rule} is enabled and matches the object, and that the bucket {bucket} \
         sends its events to EventBridge (NotificationConfiguration.EventBridgeConfiguration); events \
         the rule could not deliver wait in its dead-letter queue"
    )]
    NoExecution {
        /// The bucket the file went to.
        bucket: String,
        /// Its key.
        key: String,
        /// The state machine that should have started.
        state_machine: String,
        /// The rule that should have started it.
        rule: String,
        /// How long the search lasted.
        seconds: u64,
    },
    /// There is nothing to roll back to.
    #[error("{0}")]
    NothingToRollBack(String),
    /// Something else the caller must fix.
    #[error("{0}")]
    Other(String),
}

impl DeployError {
    /// An error for a value that a stack output or record should hold but does not parse.
    pub fn other(message: impl Into<String>) -> Self {
        DeployError::Other(message.into())
    }
}
