//! The rollback of one environment: alias `stable` of every function the last release moved
//! goes back to the version it had before, through the same stack update a release makes.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::Serialize;

use crate::api::TemplateSource;
use crate::canary::InFlight;
use crate::error::DeployError;
use crate::flow::{current_versions, deploy_id, move_aliases, write_record};
use crate::lock::LockRecord;
use crate::progress::Progress;
use crate::release::{AliasMove, ReleaseRecord, record_key, rollback_moves};
use crate::sdk::Aws;
use crate::stack::{acquire_lock, release_lock};
use crate::target::{ParameterValue, StackManifest, Target};

/// What a rollback did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackSummary {
    /// The environment.
    pub environment: String,
    /// The stack.
    pub stack_name: String,
    /// This rollback's id.
    pub deploy_id: String,
    /// The release it undid.
    pub undone: String,
    /// The alias moves it made.
    pub moves: Vec<AliasMove>,
    /// The canaries it rolled back (a canary release that had not finished), instead of moves.
    pub canaries_reverted: Vec<InFlight>,
    /// The version `stable` of every function points to afterwards.
    pub versions: BTreeMap<String, String>,
}

/// Moves `stable` back to where it was before the last release, under the deploy lock.
pub async fn rollback(
    aws: &Aws,
    manifest: &StackManifest,
    target: &Target,
    owner: &str,
    progress: &dyn Progress,
) -> Result<RollbackSummary, DeployError> {
    let now = Utc::now();
    let id = deploy_id(now);
    let environment = target.environment.to_string();
    let lock = acquire_lock(
        aws,
        &target.lock_table,
        LockRecord::new(&environment, &id, owner, "rollback", now).held_by_this_process(),
        target.is_local,
    )
    .await?;
    crate::stack::report_broken_lock(&lock, now, progress);
    let result = rollback_locked(aws, manifest, target, &id, progress).await;
    release_lock(aws, &lock, progress).await;
    result
}

async fn rollback_locked(
    aws: &Aws,
    manifest: &StackManifest,
    target: &Target,
    id: &str,
    progress: &dyn Progress,
) -> Result<RollbackSummary, DeployError> {
    let environment = target.environment.to_string();
    let stack_name = manifest.stack_name.clone();
    let stack = aws
        .describe_stack(&stack_name)
        .await?
        .ok_or_else(|| DeployError::NoStack {
            stack: stack_name.clone(),
            environment: environment.clone(),
        })?;
    let left = crate::bake::revert_left_behind(aws, target, manifest, &stack, id, progress).await?;
    if !left.is_empty() {
        let versions = current_versions(aws, manifest, &BTreeMap::new()).await?;
        return Ok(RollbackSummary {
            environment,
            stack_name,
            deploy_id: id.to_owned(),
            undone: format!(
                "the unfinished canary of {}",
                left.iter()
                    .map(|c| format!("{} version {}", c.function, c.canary))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            moves: Vec::new(),
            canaries_reverted: left,
            versions,
        });
    }
    progress.step("reading the last release");
    let key = record_key(&target.key_prefix, &environment);
    let record: ReleaseRecord = match aws.get_bytes(&target.artifact_bucket, &key).await? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            DeployError::other(format!(
                "s3://{}/{key} is not a release record: {e}",
                target.artifact_bucket
            ))
        })?,
        None => {
            return Err(DeployError::NothingToRollBack(format!(
                "{environment} has no release record (s3://{}/{key}): no deploy has published a version yet",
                target.artifact_bucket
            )));
        }
    };
    progress.detail(&format!(
        "the last {} was {} at {}",
        record.command,
        record.deploy_id,
        record.time.to_rfc3339()
    ));
    // Functions the stack leaves out have no alias and are skipped.
    let current = current_versions(aws, manifest, &BTreeMap::new()).await?;
    let moves = rollback_moves(&record, &current).map_err(DeployError::NothingToRollBack)?;
    // Every parameter keeps its value except the versions that move.
    let base: BTreeMap<String, ParameterValue> = stack
        .parameters
        .keys()
        .map(|key| (key.clone(), ParameterValue::UsePrevious))
        .collect();
    move_aliases(
        aws,
        manifest,
        &stack_name,
        &format!("rollback-{id}"),
        TemplateSource::UsePrevious,
        &moves,
        &base,
        target.cloudformation_role.clone(),
        progress,
    )
    .await?;
    let versions = current_versions(aws, manifest, &BTreeMap::new()).await?;
    write_record(
        aws,
        target,
        &ReleaseRecord {
            environment: environment.clone(),
            deploy_id: id.to_owned(),
            command: "rollback".to_owned(),
            time: Utc::now(),
            moves: moves.clone(),
            versions: versions.clone(),
        },
    )
    .await?;
    Ok(RollbackSummary {
        environment,
        stack_name,
        deploy_id: id.to_owned(),
        undone: record.deploy_id,
        moves,
        canaries_reverted: Vec::new(),
        versions,
    })
}
