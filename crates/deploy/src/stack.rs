//! The life of a change set: created, waited for, reviewed, executed with its stack events
//! streamed as progress, or deleted when there is nothing to do; and the deploy lock around it.

use std::time::{Duration, Instant};

use chrono::Utc;

use crate::api::{ChangeSetRequest, ChangeSetState};
use crate::error::DeployError;
use crate::events::{EventCursor, failures, is_success, is_terminal};
use crate::lock::{Acquired, LockRecord, LockStep, next_step};
use crate::progress::Progress;
use crate::sdk::{Aws, POLL_INTERVAL};

/// How long CloudFormation may take to compute a change set.
const CHANGE_SET_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a stack update may take before the deploy stops watching it.
const STACK_TIMEOUT: Duration = Duration::from_secs(3600);

/// A computed change set.
#[derive(Debug, Clone)]
pub enum Computed {
    /// It changes something; review it, then execute or delete it.
    Changes(ChangeSetState),
    /// It changes nothing (and was deleted).
    Empty,
}

/// Creates a change set and waits until CloudFormation has computed it.
pub async fn compute_change_set(
    aws: &Aws,
    request: &ChangeSetRequest,
) -> Result<Computed, DeployError> {
    aws.create_change_set(request).await?;
    let started = Instant::now();
    loop {
        let state = aws
            .describe_change_set(&request.stack_name, &request.name)
            .await?;
        if state.is_settled() {
            if state.status == "FAILED" {
                let reason = state.status_reason.clone().unwrap_or_default();
                aws.delete_change_set(&request.stack_name, &request.name)
                    .await?;
                if crate::changeset::is_empty_change_set(&reason) {
                    return Ok(Computed::Empty);
                }
                return Err(DeployError::ChangeSetFailed {
                    stack: request.stack_name.clone(),
                    change_set: request.name.clone(),
                    reason,
                });
            }
            if state.changes.is_empty() {
                aws.delete_change_set(&request.stack_name, &request.name)
                    .await?;
                return Ok(Computed::Empty);
            }
            return Ok(Computed::Changes(state));
        }
        if started.elapsed() > CHANGE_SET_TIMEOUT {
            return Err(DeployError::TimedOut {
                what: format!("computing the change set {}", request.name),
                seconds: CHANGE_SET_TIMEOUT.as_secs(),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Says so when taking the lock broke another deploy's: expired, or its process gone.
pub fn report_broken_lock(lock: &HeldLock, now: chrono::DateTime<Utc>, progress: &dyn Progress) {
    if let Acquired::BrokeExpired(old) = &lock.acquired {
        progress.warn(&format!(
            "broke the lock of {} ({} {} by {}): {}",
            old.environment,
            old.command,
            old.deploy_id,
            old.owner,
            if old.expires_at <= now {
                format!("it expired {}", old.expires_at.to_rfc3339())
            } else {
                "its process on this machine is gone".to_owned()
            }
        ));
    }
}

/// Executes a computed change set and follows the stack's events until it settles.
pub async fn execute_change_set(
    aws: &Aws,
    stack_name: &str,
    change_set: &str,
    progress: &dyn Progress,
) -> Result<String, DeployError> {
    let before = aws
        .stack_events(stack_name, &Default::default())
        .await
        .unwrap_or_default();
    let mut cursor = EventCursor::after(&before);
    let since = Utc::now();
    aws.execute_change_set(stack_name, change_set).await?;
    wait_for_stack(aws, stack_name, &mut cursor, since, progress).await
}

/// Follows the stack's events until its status is final; fails with the resources that failed
/// when the final status is not a success.
pub async fn wait_for_stack(
    aws: &Aws,
    stack_name: &str,
    cursor: &mut EventCursor,
    since: chrono::DateTime<Utc>,
    progress: &dyn Progress,
) -> Result<String, DeployError> {
    let started = Instant::now();
    let mut seen_events = Vec::new();
    loop {
        let events = aws.stack_events(stack_name, cursor.seen()).await?;
        for event in cursor.take_new(&events) {
            progress.detail(&event.line(since));
            seen_events.push(event);
        }
        let status = match aws.describe_stack(stack_name).await? {
            Some(stack) => stack.status,
            None => "DELETE_COMPLETE".to_owned(),
        };
        if is_terminal(&status) {
            // The last events may land after the status: one more look.
            let events = aws.stack_events(stack_name, cursor.seen()).await?;
            for event in cursor.take_new(&events) {
                progress.detail(&event.line(since));
                seen_events.push(event);
            }
            if is_success(&status) || status == "DELETE_COMPLETE" {
                return Ok(status);
            }
            return Err(DeployError::StackFailed {
                stack: stack_name.to_owned(),
                status,
                failures: failures(&seen_events, stack_name),
            });
        }
        if started.elapsed() > STACK_TIMEOUT {
            return Err(DeployError::TimedOut {
                what: format!("the update of {stack_name}"),
                seconds: STACK_TIMEOUT.as_secs(),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A held deploy lock; release it with [`release_lock`].
#[derive(Debug, Clone)]
pub struct HeldLock {
    /// The table.
    pub table: String,
    /// The lock.
    pub record: LockRecord,
    /// How it was taken.
    pub acquired: Acquired,
}

/// Takes the deploy lock of the environment, creating the lock table first when `create_table`
/// (the local emulator) and it is missing.
pub async fn acquire_lock(
    aws: &Aws,
    table: &str,
    record: LockRecord,
    create_table: bool,
) -> Result<HeldLock, DeployError> {
    if !aws.table_exists(table).await? {
        if !create_table {
            return Err(DeployError::MissingPrerequisite {
                what: "deploy lock table",
                name: table.to_owned(),
                environment: record.environment.clone(),
                hint: String::new(),
            });
        }
        aws.create_lock_table(table).await?;
    }
    // Two rounds: a lock released or broken between the read and the put is read again once.
    for _ in 0..2 {
        let existing = aws.read_lock(table, &record.environment).await?;
        let this_boot = crate::lock::this_boot();
        let gone = existing.as_ref().is_some_and(|holder| {
            crate::lock::holder_gone(holder, this_boot.as_deref(), crate::lock::process_alive)
        });
        match next_step(existing, record.acquired_at, gone) {
            LockStep::Held(holder) => return Err(DeployError::Locked(Box::new(holder))),
            LockStep::Put(expectation) => {
                if aws.put_lock(table, &record, &expectation).await? {
                    let acquired = match expectation {
                        crate::lock::Expectation::Absent => Acquired::Free,
                        crate::lock::Expectation::Expired(old) => Acquired::BrokeExpired(old),
                    };
                    return Ok(HeldLock {
                        table: table.to_owned(),
                        record,
                        acquired,
                    });
                }
            }
        }
    }
    match aws.read_lock(table, &record.environment).await? {
        Some(holder) => Err(DeployError::Locked(Box::new(holder))),
        None => Err(DeployError::other(format!(
            "the deploy lock of {} changed hands twice while it was being taken; deploy again",
            record.environment
        ))),
    }
}

/// Releases a held lock; says so when it was no longer held (it expired and was broken).
pub async fn release_lock(aws: &Aws, lock: &HeldLock, progress: &dyn Progress) {
    match aws
        .release_lock(&lock.table, &lock.record.environment, &lock.record.deploy_id)
        .await
    {
        Ok(true) => {}
        Ok(false) => progress.warn(&format!(
            "the deploy lock of {} was no longer held by {} when it was released (it expired and another deploy broke it)",
            lock.record.environment, lock.record.deploy_id
        )),
        Err(error) => progress.warn(&format!(
            "could not release the deploy lock of {} ({error}); it expires at {}",
            lock.record.environment,
            lock.record.expires_at.to_rfc3339()
        )),
    }
}
