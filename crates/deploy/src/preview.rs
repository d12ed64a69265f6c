//! Pull-request previews: which stacks are previews (the name `preview-pr-<N>-userlog` and the
//! tag only preview stacks carry), removing one preview with everything it made (its buckets
//! emptied of every version and delete marker, its stack deleted and waited for, the log groups
//! its functions left, its artifacts, its schema `pr_<N>`, its lock), and which previews a sweep
//! removes. The decisions are pure functions; [`remove_preview`] is the sequence over them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use serde::Serialize;

use crate::api::StackInfo;
use crate::error::DeployError;
use crate::events::EventCursor;
use crate::lock::{Acquired, LockRecord};
use crate::progress::Progress;
use crate::sdk::Aws;
use crate::stack::{acquire_lock, release_lock};
use crate::target::{PREVIEW_TAG, Target};

/// The project slug in preview stack names.
const SLUG: &str = "userlog";

/// The stack name of the preview of pull request `number`.
pub fn preview_stack_name(number: u32) -> String {
    format!("preview-pr-{number}-{SLUG}")
}

/// The pull request number of a stack that is a preview's: its name is `preview-pr-<N>-userlog`
/// AND it carries [`PREVIEW_TAG`] with the value `<N>`. Anything else is not a preview's.
pub fn preview_number(stack_name: &str, tags: &BTreeMap<String, String>) -> Option<u32> {
    let digits = stack_name
        .strip_prefix("preview-pr-")?
        .strip_suffix(&format!("-{SLUG}"))?;
    let well_formed = !digits.is_empty()
        && digits.len() <= 9
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    let number: u32 = digits.parse().ok()?;
    (tags.get(PREVIEW_TAG).map(String::as_str) == Some(digits)).then_some(number)
}

/// The prefixes of the log groups a preview's functions, task, API and state machine write to;
/// the stack declares them, but a function that runs while the stack is deleted creates its
/// group again.
pub fn log_group_prefixes(stack_name: &str) -> Vec<String> {
    [
        "/aws/lambda/",
        "/aws/apigateway/",
        "/ecs/",
        "/aws/vendedlogs/states/",
    ]
    .iter()
    .map(|kind| format!("{kind}{stack_name}-"))
    .collect()
}

/// What removing a preview needs.
#[derive(Debug, Clone)]
pub struct RemoveRequest {
    /// The pull request.
    pub number: u32,
    /// Where the preview is (of the preview's rendering on its host).
    pub target: Target,
    /// The database that holds its schema (`None`: the schema step is skipped and says so).
    pub database_url: Option<String>,
    /// Who removes it, for the lock.
    pub owner: String,
    /// Only say what would be removed.
    pub dry_run: bool,
}

/// What removing a preview did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    /// The environment.
    pub environment: String,
    /// One line per thing removed (`stack preview-pr-7-userlog`, `schema pr_7`, ...).
    pub removed: Vec<String>,
    /// Whether there was nothing to remove.
    pub nothing_to_remove: bool,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

/// Why a preview could not be removed besides an AWS or database failure.
fn not_a_preview(stack: &StackInfo, number: u32) -> DeployError {
    DeployError::other(format!(
        "the stack {} is not a preview's: it lacks the tag {PREVIEW_TAG}={number} that every preview stack carries, so it was left alone",
        stack.name
    ))
}

/// Removes the preview of pull request `number` and everything it made, under its lock: empties
/// its buckets, deletes its stack and waits, deletes the log groups its functions left and its
/// artifacts, drops schema `pr_<N>`, and releases (so removes) its lock entry. A preview that is
/// not there has nothing to remove; a stack of that name without the preview tag is refused.
pub async fn remove_preview(
    aws: &Aws,
    request: &RemoveRequest,
    progress: &dyn Progress,
) -> Result<Removal, DeployError> {
    let target = &request.target;
    let environment = target.environment.to_string();
    let stack_name = preview_stack_name(request.number);
    if target.stack_name != stack_name || target.environment.pull_request() != Some(request.number)
    {
        return Err(DeployError::other(format!(
            "{} is not the preview of pull request {}",
            target.stack_name, request.number
        )));
    }
    let mut removal = Removal {
        environment: environment.clone(),
        dry_run: request.dry_run,
        ..Removal::default()
    };
    let lock = if request.dry_run || !aws.table_exists(&target.lock_table).await? {
        None
    } else {
        progress.step(&format!(
            "taking the lock of {environment} ({})",
            target.lock_table
        ));
        let record = LockRecord::new(
            &environment,
            &crate::flow::deploy_id(Utc::now()),
            &request.owner,
            "preview down",
            Utc::now(),
        );
        let lock = acquire_lock(aws, &target.lock_table, record, false).await?;
        if let Acquired::BrokeExpired(old) = &lock.acquired {
            progress.warn(&format!(
                "broke the expired lock of {environment} ({} by {})",
                old.deploy_id, old.owner
            ));
        }
        Some(lock)
    };
    let result = remove_locked(aws, request, &stack_name, &mut removal, progress).await;
    if let Some(lock) = &lock {
        release_lock(aws, lock, progress).await;
        if result.is_ok() {
            removal
                .removed
                .push(format!("lock entry {environment} in {}", lock.table));
        }
    }
    result?;
    removal.nothing_to_remove = removal
        .removed
        .iter()
        .all(|line| line.starts_with("lock entry"));
    if removal.nothing_to_remove {
        removal.removed.clear();
    }
    Ok(removal)
}

async fn remove_locked(
    aws: &Aws,
    request: &RemoveRequest,
    stack_name: &str,
    removal: &mut Removal,
    progress: &dyn Progress,
) -> Result<(), DeployError> {
    let target = &request.target;
    let verb = if request.dry_run {
        "would remove"
    } else {
        "removed"
    };

    // The stack, its schema and its buckets first.
    let mut schema_dropped = false;
    match aws.describe_stack(stack_name).await? {
        None => progress.detail(&format!("there is no stack {stack_name}")),
        Some(stack) => {
            if preview_number(&stack.name, &stack.tags) != Some(request.number) {
                return Err(not_a_preview(&stack, request.number));
            }
            if request.database_url.is_none() {
                schema_dropped = drop_in_task(aws, request, &stack, removal, progress).await;
            }
            let buckets = aws
                .stack_resources_of_type(stack_name, "AWS::S3::Bucket")
                .await?;
            for bucket in buckets {
                if request.dry_run {
                    removal
                        .removed
                        .push(format!("bucket {bucket} and its objects"));
                    continue;
                }
                progress.step(&format!("emptying s3://{bucket}"));
                let deleted = aws.delete_all_objects(&bucket, "").await?;
                progress.detail(&format!(
                    "deleted {deleted} object version(s) and delete marker(s)"
                ));
                removal
                    .removed
                    .push(format!("bucket {bucket} ({deleted} object version(s))"));
            }
            if request.dry_run {
                removal.removed.push(format!("stack {stack_name}"));
            } else {
                progress.step(&format!("deleting the stack {stack_name}"));
                wait_for_deletion(aws, stack_name, progress).await?;
                removal.removed.push(format!("stack {stack_name}"));
            }
        }
    }

    // What the stack leaves behind: log groups written after their resource was deleted.
    for prefix in log_group_prefixes(stack_name) {
        for group in aws.log_groups(&prefix).await? {
            if request.dry_run || aws.delete_log_group(&group).await? {
                progress.detail(&format!("{verb} the log group {group}"));
                removal.removed.push(format!("log group {group}"));
            }
        }
    }

    // Its artifacts (templates and zips under the preview's prefix of the host's bucket).
    if !target.key_prefix.is_empty() && aws.bucket_exists(&target.artifact_bucket).await? {
        let deleted = if request.dry_run {
            0
        } else {
            aws.delete_all_objects(&target.artifact_bucket, &target.key_prefix)
                .await?
        };
        if deleted > 0 {
            removal.removed.push(format!(
                "artifacts s3://{}/{} ({deleted} object version(s))",
                target.artifact_bucket, target.key_prefix
            ));
        }
    }

    // Its schema.
    match &request.database_url {
        None if schema_dropped => {}
        None => progress.warn(&format!(
            "no database URL: schema pr_{} was not dropped (pass --database-url or set DATABASE_URL)",
            request.number
        )),
        Some(url) => {
            let schema = format!("pr_{}", request.number);
            let exists = userlog_db::preview::preview_schemas(url)
                .await
                .map_err(|e| DeployError::other(format!("cannot list the preview schemas: {e}")))?
                .contains(&u64::from(request.number));
            if exists {
                if !request.dry_run {
                    progress.step(&format!("dropping schema {schema}"));
                    userlog_db::preview::drop_preview_schema(url, u64::from(request.number))
                        .await
                        .map_err(|e| {
                            DeployError::other(format!("cannot drop schema {schema}: {e}"))
                        })?;
                }
                removal.removed.push(format!("schema {schema}"));
            } else {
                progress.detail(&format!("there is no schema {schema}"));
            }
        }
    }
    Ok(())
}

/// Without a database URL (a database only reachable inside the VPC), drops the preview's schema
/// and role with a one-off task of its own import task (`import-csv drop-preview`, as the
/// previews role), before its stack goes. Whether it did; a failure is a warning, since a later
/// `cleanup --stale --database-url` can still drop them.
async fn drop_in_task(
    aws: &Aws,
    request: &RemoveRequest,
    stack: &StackInfo,
    removal: &mut Removal,
    progress: &dyn Progress,
) -> bool {
    let what = format!("schema pr_{0} and role userlog_pr_{0}", request.number);
    let (state_machine, role) = match crate::migrate_task::task_outputs(&stack.outputs) {
        Ok(found) => found,
        Err(output) => {
            progress.warn(&format!(
                "{what} were not dropped: the stack has no migration task (no output {output})"
            ));
            return false;
        }
    };
    if request.dry_run {
        removal.removed.push(format!("{what} (by a one-off task)"));
        return true;
    }
    match crate::migrate_task::run_command(
        aws,
        state_machine,
        role,
        crate::migrate_task::DROP_PREVIEW_COMMAND,
        progress,
    )
    .await
    {
        Ok(_) => {
            removal.removed.push(format!("{what} (by a one-off task)"));
            true
        }
        Err(error) => {
            progress.warn(&format!(
                "{what} were not dropped ({}); `cargo xtask cleanup --stale --database-url URL` drops them later",
                userlog_domain::errors::error_chain(&error)
            ));
            false
        }
    }
}

/// How long a stack's deletion may take before the removal stops watching it.
const DELETE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes the stack and follows its events until it is gone; fails with the resources that
/// could not be deleted when it ends `DELETE_FAILED`. Once the stack is gone its events can no
/// longer be read, so a failed read of them only ends the streaming.
async fn wait_for_deletion(
    aws: &Aws,
    stack_name: &str,
    progress: &dyn Progress,
) -> Result<(), DeployError> {
    let before = aws
        .stack_events(stack_name, &Default::default())
        .await
        .unwrap_or_default();
    let mut cursor = EventCursor::after(&before);
    let since = Utc::now();
    aws.delete_stack(stack_name).await?;
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    loop {
        if let Ok(events) = aws.stack_events(stack_name, cursor.seen()).await {
            for event in cursor.take_new(&events) {
                progress.detail(&event.line(since));
                seen.push(event);
            }
        }
        match aws.describe_stack(stack_name).await? {
            None => return Ok(()),
            Some(stack) if stack.status == "DELETE_COMPLETE" => return Ok(()),
            Some(stack) if stack.status == "DELETE_FAILED" => {
                return Err(DeployError::StackFailed {
                    stack: stack_name.to_owned(),
                    status: stack.status,
                    failures: crate::events::failures(&seen, stack_name),
                });
            }
            Some(_) => {}
        }
        if started.elapsed() > DELETE_TIMEOUT {
            return Err(DeployError::TimedOut {
                what: format!("the deletion of {stack_name}"),
                seconds: DELETE_TIMEOUT.as_secs(),
            });
        }
        tokio::time::sleep(crate::sdk::POLL_INTERVAL).await;
    }
}

/// What a sweep knows of a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PullStatus {
    /// Open.
    Open,
    /// Closed.
    Closed,
    /// GitHub has no such pull request.
    Missing,
    /// GitHub was not asked (no token).
    Unknown,
}

/// What a sweep does with one preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepAction {
    /// Remove it (as `preview down` does).
    Remove,
    /// Keep it.
    Keep,
}

/// The sweep's decision on one pull request's preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepItem {
    /// The pull request.
    pub number: u32,
    /// Whether its stack exists.
    pub stack: bool,
    /// Whether its schema exists.
    pub schema: bool,
    /// What GitHub says of it.
    pub pull: PullStatus,
    /// Remove or keep.
    pub action: SweepAction,
    /// Why.
    pub reason: String,
}

/// Decides, for every pull request with a preview stack or a `pr_<N>` schema, whether the sweep
/// removes it: the preview of a closed or missing pull request goes; so does an orphan (a schema
/// with no stack, a stack with no schema); a whole preview of an open pull request stays, and so
/// does one whose pull request GitHub was not asked about.
pub fn plan_sweep(
    stacks: &BTreeSet<u32>,
    schemas: &BTreeSet<u32>,
    pulls: &BTreeMap<u32, PullStatus>,
) -> Vec<SweepItem> {
    stacks
        .union(schemas)
        .map(|&number| {
            let stack = stacks.contains(&number);
            let schema = schemas.contains(&number);
            let pull = pulls.get(&number).copied().unwrap_or(PullStatus::Unknown);
            let (action, reason) = match (pull, stack, schema) {
                (PullStatus::Closed, _, _) => (
                    SweepAction::Remove,
                    format!("pull request #{number} is closed"),
                ),
                (PullStatus::Missing, _, _) => (
                    SweepAction::Remove,
                    format!("pull request #{number} does not exist"),
                ),
                (_, false, true) => (
                    SweepAction::Remove,
                    format!("schema pr_{number} is an orphan: there is no stack preview-pr-{number}-userlog"),
                ),
                (_, true, false) => (
                    SweepAction::Remove,
                    format!("stack preview-pr-{number}-userlog is an orphan: there is no schema pr_{number}"),
                ),
                (PullStatus::Open, _, _) => (
                    SweepAction::Keep,
                    format!("pull request #{number} is open"),
                ),
                (PullStatus::Unknown, _, _) => (
                    SweepAction::Keep,
                    "GitHub was not asked whether its pull request is open (no GITHUB_TOKEN)"
                        .to_owned(),
                ),
            };
            SweepItem {
                number,
                stack,
                schema,
                pull,
                action,
                reason,
            }
        })
        .collect()
}

/// The pull request numbers of every preview stack (by name and tag) among `stacks`.
pub fn preview_stacks(stacks: &[StackInfo]) -> BTreeSet<u32> {
    stacks
        .iter()
        .filter_map(|stack| preview_number(&stack.name, &stack.tags))
        .collect()
}

/// Whether the lock of a held preview stops a sweep: the error says who holds it.
pub fn is_locked(error: &DeployError) -> bool {
    matches!(error, DeployError::Locked(_))
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_preview_stack_has_the_name_and_the_tag() {
        let tagged = tags(&[(PREVIEW_TAG, "7"), ("environment", "preview-pr-7")]);
        assert_eq!(preview_number("preview-pr-7-userlog", &tagged), Some(7));
        // The name alone is not enough, nor the tag alone, nor a tag of another number.
        assert_eq!(preview_number("preview-pr-7-userlog", &tags(&[])), None);
        assert_eq!(preview_number("staging-userlog", &tagged), None);
        assert_eq!(
            preview_number("preview-pr-7-userlog", &tags(&[(PREVIEW_TAG, "8")])),
            None
        );
        for name in [
            "preview-pr-07-userlog",
            "preview-pr--userlog",
            "preview-pr-7-other",
            "preview-pr-7x-userlog",
            "preview-pr-1234567890-userlog",
        ] {
            assert_eq!(
                preview_number(name, &tags(&[(PREVIEW_TAG, "7")])),
                None,
                "{name}"
            );
        }
    }

    #[test]
    fn log_groups_of_a_preview_do_not_match_another_preview() {
        let prefixes = log_group_prefixes("preview-pr-7-userlog");
        assert!(
            prefixes
                .iter()
                .any(|p| "/aws/lambda/preview-pr-7-userlog-validate-csv".starts_with(p.as_str()))
        );
        assert!(
            !prefixes
                .iter()
                .any(|p| "/aws/lambda/preview-pr-70-userlog-validate-csv".starts_with(p.as_str()))
        );
    }

    // expect-test's `check` helpers take the expectation by value, as its documentation does.
    #[allow(clippy::needless_pass_by_value)]
    fn check(stacks: &[u32], schemas: &[u32], pulls: &[(u32, PullStatus)], expected: Expect) {
        let plan = plan_sweep(
            &stacks.iter().copied().collect(),
            &schemas.iter().copied().collect(),
            &pulls.iter().copied().collect(),
        );
        let text: String = plan
            .iter()
            .map(|item| format!("#{} {:?}: {}\n", item.number, item.action, item.reason))
            .collect();
        expected.assert_eq(&text);
    }

    #[test]
    fn the_sweep_removes_closed_missing_and_orphaned_previews() {
        check(
            &[1, 2, 3, 5],
            &[1, 2, 3, 4],
            &[
                (1, PullStatus::Open),
                (2, PullStatus::Closed),
                (3, PullStatus::Missing),
                (4, PullStatus::Open),
                (5, PullStatus::Open),
            ],
            expect![[r#"
                #1 Keep: pull request #1 is open
                #2 Remove: pull request #2 is closed
                #3 Remove: pull request #3 does not exist
                #4 Remove: schema pr_4 is an orphan: there is no stack preview-pr-4-userlog
                #5 Remove: stack preview-pr-5-userlog is an orphan: there is no schema pr_5
            "#]],
        );
    }

    #[test]
    fn without_github_only_orphans_go() {
        check(
            &[1, 2],
            &[1, 3],
            &[],
            expect![[r#"
                #1 Keep: GitHub was not asked whether its pull request is open (no GITHUB_TOKEN)
                #2 Remove: stack preview-pr-2-userlog is an orphan: there is no schema pr_2
                #3 Remove: schema pr_3 is an orphan: there is no stack preview-pr-3-userlog
            "#]],
        );
    }
}
