//! The canary release's sequence over AWS: shift a share of `stable`'s calls to the new
//! versions, bake while watching the alarms, then promote or revert. Each move is a stack update
//! of the alias parameters only (see [`crate::canary`] for the decisions).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::api::StackInfo;
use crate::api::TemplateSource;
use crate::canary::{
    CanaryOutcome, CanaryPolicy, CanaryRecord, CanaryReport, InFlight, Phase, PhaseTime, Verdict,
    VersionHealth, firing_at_start, human, in_flight, judge, next_poll, phase_parameters,
    record_key,
};
use crate::error::DeployError;
use crate::flow::update_alias_parameters;
use crate::progress::Progress;
use crate::release::{AliasMove, STABLE_ALIAS};
use crate::sdk::Aws;
use crate::target::{ParameterValue, StackManifest, Target};

/// How often the bake looks at the alarms and the new versions' metrics.
pub const POLL_INTERVAL: Duration = Duration::from_secs(10);

/// Everything one canary release needs.
#[derive(Debug)]
pub struct Canary<'a> {
    /// Where it goes.
    pub target: &'a Target,
    /// The stack's manifest.
    pub manifest: &'a StackManifest,
    /// The deploy's id.
    pub deploy_id: &'a str,
    /// Who deploys.
    pub owner: &'a str,
    /// The template the stack runs.
    pub template: TemplateSource,
    /// Every stack parameter as the deploy set it.
    pub base: &'a BTreeMap<String, ParameterValue>,
    /// The releases to make gradually.
    pub moves: &'a [AliasMove],
    /// The share and the bake time.
    pub policy: CanaryPolicy,
}

/// The alarms of an environment are the ones named after its stack (`<env>-userlog-...`).
pub fn alarm_prefix(manifest: &StackManifest) -> String {
    format!("{}-", manifest.stack_name)
}

/// Shifts, bakes, then promotes or reverts. An error from AWS during the bake reverts too (the
/// error is returned after the revert); only a failed revert leaves the canary in the stack,
/// where the next deploy or rollback finds it.
pub async fn run(
    aws: &Aws,
    canary: &Canary<'_>,
    progress: &dyn Progress,
) -> Result<CanaryReport, DeployError> {
    let mut phases = Vec::new();
    let percent = canary.policy.percent;
    let prefix = alarm_prefix(canary.manifest);

    // Shift.
    let started = Instant::now();
    progress.step(&format!(
        "canary: `{STABLE_ALIAS}` sends {percent} % of the calls to the new versions"
    ));
    let alarms_before = aws.alarms(&prefix).await?;
    let firing_before = firing_at_start(&alarms_before);
    for name in &firing_before {
        progress.warn(&format!(
            "{name} is already in ALARM: it stops the canary only if it goes to ALARM again"
        ));
    }
    update(aws, canary, Phase::Shift(percent), "canary", progress).await?;
    let shifted_at = Utc::now();
    let record = CanaryRecord {
        environment: canary.target.environment.to_string(),
        deploy_id: canary.deploy_id.to_owned(),
        owner: canary.owner.to_owned(),
        percent,
        bake_seconds: canary.policy.bake.as_secs(),
        started_at: shifted_at,
        moves: canary.moves.to_vec(),
    };
    write_record(aws, canary.target, &record).await?;
    for moved in canary.moves {
        progress.detail(&format!(
            "{}: `{STABLE_ALIAS}` stays at {} and sends {percent} % to {}",
            moved.function, moved.from, moved.to
        ));
    }
    phases.push(timed(&format!("shift {percent} %"), started));

    // Bake.
    let started = Instant::now();
    progress.step(&format!(
        "canary: baking for {}, watching {} alarm(s) named {prefix}* and the new versions' errors and throttles",
        human(canary.policy.bake),
        alarms_before.len()
    ));
    let baked = bake(aws, canary, &prefix, &firing_before, shifted_at, progress).await;
    phases.push(timed("bake", started));

    // Promote or revert.
    let started = Instant::now();
    let outcome = match baked {
        Ok(Verdict::Healthy) => {
            progress.step("canary: the bake passed, promoting");
            update(aws, canary, Phase::Promote, "promote", progress).await?;
            phases.push(timed("promote", started));
            CanaryOutcome::Promoted
        }
        Ok(Verdict::RollBack(reasons)) => {
            for reason in &reasons {
                progress.warn(reason);
            }
            progress.step("canary: rolling back");
            update(aws, canary, Phase::Revert, "revert", progress).await?;
            phases.push(timed("revert", started));
            CanaryOutcome::RolledBack { reasons }
        }
        Err(BakeStop::Interrupted) => {
            progress.warn("the deploy was interrupted during the bake: rolling the canary back");
            update(aws, canary, Phase::Revert, "revert", progress).await?;
            phases.push(timed("revert", started));
            CanaryOutcome::Interrupted
        }
        Err(BakeStop::Failed(error)) => {
            progress.warn(&format!(
                "watching the canary failed ({error}): rolling it back"
            ));
            update(aws, canary, Phase::Revert, "revert", progress).await?;
            remove_record(aws, canary.target).await?;
            return Err(error);
        }
    };
    remove_record(aws, canary.target).await?;
    Ok(CanaryReport {
        policy: canary.policy,
        moves: canary.moves.to_vec(),
        alarms_watched: alarms_before.len(),
        alarms_firing_at_start: firing_before.into_iter().collect(),
        outcome,
        phases,
    })
}

/// Why a bake stopped before its verdict.
enum BakeStop {
    /// SIGINT or SIGTERM.
    Interrupted,
    /// AWS failed (after retries).
    Failed(DeployError),
}

/// Looks at the alarms and the new versions every [`POLL_INTERVAL`] until the bake time is over
/// or something is wrong.
async fn bake(
    aws: &Aws,
    canary: &Canary<'_>,
    prefix: &str,
    firing_before: &std::collections::BTreeSet<String>,
    shifted_at: chrono::DateTime<Utc>,
    progress: &dyn Progress,
) -> Result<Verdict, BakeStop> {
    let deadline = Instant::now() + canary.policy.bake;
    let mut interrupt = std::pin::pin!(interrupted());
    let mut last_report = Instant::now();
    loop {
        let alarms = aws
            .alarms(prefix)
            .await
            .map_err(|e| BakeStop::Failed(e.into()))?;
        let mut versions = Vec::new();
        for moved in canary.moves {
            let sum = |metric: &'static str| {
                aws.version_metric_sum(
                    &moved.function_name,
                    STABLE_ALIAS,
                    &moved.to,
                    metric,
                    shifted_at,
                )
            };
            versions.push(VersionHealth {
                function: moved.function.clone(),
                version: moved.to.clone(),
                errors: sum("Errors")
                    .await
                    .map_err(|e| BakeStop::Failed(e.into()))?,
                throttles: sum("Throttles")
                    .await
                    .map_err(|e| BakeStop::Failed(e.into()))?,
            });
        }
        let verdict = judge(&alarms, firing_before, shifted_at, &versions);
        let remaining = deadline.saturating_duration_since(Instant::now());
        if verdict != Verdict::Healthy || remaining.is_zero() {
            return Ok(verdict);
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            progress.detail(&format!("{} left, no alarm", human(remaining)));
            last_report = Instant::now();
        }
        tokio::select! {
            () = tokio::time::sleep(next_poll(remaining, POLL_INTERVAL)) => {}
            () = &mut interrupt => return Err(BakeStop::Interrupted),
        }
    }
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM, as a cancelled CI job is).
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// One parameters-only stack update for `phase`.
async fn update(
    aws: &Aws,
    canary: &Canary<'_>,
    phase: Phase,
    name: &str,
    progress: &dyn Progress,
) -> Result<(), DeployError> {
    let overrides = phase_parameters(canary.manifest, canary.moves, phase);
    update_alias_parameters(
        aws,
        canary.manifest,
        &canary.manifest.stack_name,
        &format!("{name}-{}", canary.deploy_id),
        canary.template.clone(),
        &overrides,
        canary.base,
        canary.target.cloudformation_role.clone(),
        progress,
    )
    .await
}

/// Finds the canaries an interrupted deploy left in `stack` and reverts them: `stable` keeps its
/// version and loses its weights, every other parameter keeps its value. Returns what it reverted
/// (nothing when the stack holds no canary).
pub async fn revert_left_behind(
    aws: &Aws,
    target: &Target,
    manifest: &StackManifest,
    stack: &StackInfo,
    deploy_id: &str,
    progress: &dyn Progress,
) -> Result<Vec<InFlight>, DeployError> {
    let left = in_flight(manifest, &stack.parameters);
    if left.is_empty() {
        return Ok(left);
    }
    describe_left_behind(aws, target, &left, progress).await?;
    let keep: BTreeMap<String, ParameterValue> = stack
        .parameters
        .keys()
        .map(|key| (key.clone(), ParameterValue::UsePrevious))
        .collect();
    let moves: Vec<AliasMove> = left.iter().map(InFlight::as_move).collect();
    let overrides = phase_parameters(manifest, &moves, Phase::Revert);
    update_alias_parameters(
        aws,
        manifest,
        &manifest.stack_name,
        &format!("revert-{deploy_id}"),
        TemplateSource::UsePrevious,
        &overrides,
        &keep,
        target.cloudformation_role.clone(),
        progress,
    )
    .await?;
    remove_record(aws, target).await?;
    Ok(left)
}

/// Says what an interrupted canary left behind, with its record when there is one.
async fn describe_left_behind(
    aws: &Aws,
    target: &Target,
    left: &[InFlight],
    progress: &dyn Progress,
) -> Result<(), DeployError> {
    let key = record_key(&target.key_prefix, &target.environment.to_string());
    let record: Option<CanaryRecord> = aws
        .get_bytes(&target.artifact_bucket, &key)
        .await?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let started = record.map_or_else(
        || "an earlier deploy".to_owned(),
        |r| {
            format!(
                "deploy {} by {} at {}",
                r.deploy_id,
                r.owner,
                r.started_at.to_rfc3339()
            )
        },
    );
    progress.warn(&format!(
        "a canary release of {started} did not finish: it is rolled back first"
    ));
    for canary in left {
        progress.warn(&format!(
            "  {}: `{STABLE_ALIAS}` stays at {}, version {} loses its share",
            canary.function, canary.stable, canary.canary
        ));
    }
    Ok(())
}

async fn write_record(
    aws: &Aws,
    target: &Target,
    record: &CanaryRecord,
) -> Result<(), DeployError> {
    let key = record_key(&target.key_prefix, &record.environment);
    crate::flow::put_json(aws, target, &key, record).await
}

async fn remove_record(aws: &Aws, target: &Target) -> Result<(), DeployError> {
    aws.delete_object(
        &target.artifact_bucket,
        &record_key(&target.key_prefix, &target.environment.to_string()),
    )
    .await?;
    Ok(())
}

fn timed(phase: &str, started: Instant) -> PhaseTime {
    PhaseTime {
        phase: phase.to_owned(),
        seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    }
}
