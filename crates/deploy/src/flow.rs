//! The deploy of one environment: upload artifacts, diff against the deployed stack, a change set
//! classified and executed with its events streamed, migrations, versions published for the
//! functions that changed, alias `stable` moved, a health check and a summary.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use userlog_infra::Rendered;
use userlog_infra::diff::{Diff, diff};

use crate::adapt::{Adaptation, adapt_for_emulator};
use crate::api::{ChangeSetKind, ChangeSetRequest, TemplateSource};
use crate::canary::{CanaryOutcome, CanaryPolicy, CanaryReport, InFlight};
use crate::changeset::{Decision, Review, decide, non_alias_changes};
use crate::error::DeployError;
use crate::events::{EventCursor, blocked_status_advice, is_failed_creation};
use crate::lock::LockRecord;
use crate::progress::Progress;
use crate::release::{
    AliasMove, FunctionState, LATEST, ReleaseAction, ReleaseRecord, STABLE_ALIAS, plan, record_key,
};
use crate::sdk::Aws;
use crate::stack::{
    Computed, acquire_lock, compute_change_set, execute_change_set, release_lock, wait_for_stack,
};
use crate::target::{
    ExternalDatabase, ParameterInputs, ParameterValue, StackManifest, Target, stack_parameters,
    template_url,
};

/// The built function zips a deploy uploads.
#[derive(Debug, Clone)]
pub struct BuiltFunctions {
    /// Where the zips are.
    pub dir: PathBuf,
    /// What the build wrote.
    pub manifest: userlog_build::Manifest,
}

/// Everything a deploy needs, decided before it starts.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    /// The rendered (and validated) definitions.
    pub rendered: Rendered,
    /// The built functions.
    pub built: BuiltFunctions,
    /// Where the deploy goes.
    pub target: Target,
    /// The database the stack uses when it does not create one.
    pub external_database: Option<ExternalDatabase>,
    /// The database to migrate (`None`: the step is skipped and the summary says so).
    pub database_url: Option<String>,
    /// Run the migrations as a one-off task of the import image in the environment's network
    /// instead of connecting to `database_url` from here.
    pub migrate_in_task: bool,
    /// The import task's image tag (what the push names in the repository).
    pub image_tag: String,
    /// The import task's image digest (what the task definition names).
    pub image_digest: String,
    /// The import task's image, pushed to the environment's image repository before the stack
    /// update (`None` on the emulator, which runs the unpacked image itself).
    pub image: Option<userlog_image::Layout>,
    /// Whether destructive changes may go ahead in production.
    pub allow_destructive: bool,
    /// Who deploys, for the lock.
    pub owner: String,
    /// How new versions take the calls: `None` all at once, else a canary that bakes first.
    pub canary: Option<CanaryPolicy>,
}

/// What happened to the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StackOutcome {
    /// It was created.
    Created,
    /// It was updated.
    Updated,
    /// The change set was empty.
    Unchanged,
}

/// One health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// What a deploy did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploySummary {
    /// The environment.
    pub environment: String,
    /// The stack.
    pub stack_name: String,
    /// This deploy's id.
    pub deploy_id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub seconds: f64,
    /// The artifacts uploaded (those already there are not uploaded again).
    pub uploaded: Vec<String>,
    /// Resources that differ between the rendered and the deployed template.
    pub differences: Vec<String>,
    /// What happened to the stack.
    pub stack: StackOutcome,
    /// `3 to add, 2 to modify, 0 to remove`.
    pub change_counts: String,
    /// One line per resource change.
    pub changes: Vec<String>,
    /// The destructive changes (logical ids).
    pub destructive: Vec<String>,
    /// What the local emulator could not take.
    pub adaptations: Vec<Adaptation>,
    /// The migrations applied (`None`: the step was skipped, or ran in a task).
    pub migrations_applied: Option<Vec<String>>,
    /// The one-off task the migrations ran in (`--migrate-with task`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_task: Option<String>,
    /// The alias moves made.
    pub released: Vec<AliasMove>,
    /// The version `stable` of every function points to afterwards.
    pub versions: BTreeMap<String, String>,
    /// The health checks.
    pub health: Vec<HealthCheck>,
    /// Whether the deploy changed nothing at all.
    pub no_change: bool,
    /// Canaries an interrupted deploy had left in the stack, rolled back before this deploy.
    pub recovered_canaries: Vec<InFlight>,
    /// The canary release, when the new versions took the calls gradually.
    pub canary: Option<CanaryReport>,
}

impl DeploySummary {
    /// Whether every health check passed.
    pub fn healthy(&self) -> bool {
        self.health.iter().all(|check| check.ok)
    }

    /// Whether the deploy did what it set out to: healthy, and no canary rolled back.
    pub fn succeeded(&self) -> bool {
        self.healthy()
            && self
                .canary
                .as_ref()
                .is_none_or(|c| c.outcome == CanaryOutcome::Promoted)
    }
}

/// A deploy id: the time and a short random part, unique enough for change set names.
pub fn deploy_id(now: DateTime<Utc>) -> String {
    let suffix = crate::retry::jitter().to_bits() & 0xffff;
    format!("{}-{suffix:04x}", now.format("%Y%m%d%H%M%S"))
}

/// The stack's template as the deploy uploads it, with what the emulator cannot take left out.
pub fn deployable_template(request: &DeployRequest) -> (serde_yaml::Value, Vec<Adaptation>) {
    let mut template = request.rendered.template.clone();
    let adaptations = if request.target.is_local {
        adapt_for_emulator(&mut template)
    } else {
        Vec::new()
    };
    (template, adaptations)
}

/// The difference between the deployed template and the one about to be deployed.
pub fn deployed_diff(
    rendered: &Rendered,
    deployable: &serde_yaml::Value,
    deployed: Option<&str>,
) -> Diff {
    let mut new = rendered.clone();
    new.template = deployable.clone();
    let mut old = rendered.clone();
    old.template = deployed
        .and_then(|text| serde_yaml::from_str(text).ok())
        .unwrap_or(serde_yaml::Value::Null);
    diff(&old, &new)
}

/// Deploys: takes the lock, runs [`deploy_locked`], releases the lock.
pub async fn deploy(
    aws: &Aws,
    request: &DeployRequest,
    progress: &dyn Progress,
) -> Result<DeploySummary, DeployError> {
    let started_at = Utc::now();
    let id = deploy_id(started_at);
    let record = LockRecord::new(
        &request.target.environment.to_string(),
        &id,
        &request.owner,
        "deploy",
        started_at,
    )
    .held_by_this_process();
    progress.step(&format!(
        "taking the deploy lock of {} ({})",
        request.target.environment, request.target.lock_table
    ));
    let lock = acquire_lock(
        aws,
        &request.target.lock_table,
        record,
        request.target.is_local,
    )
    .await?;
    crate::stack::report_broken_lock(&lock, started_at, progress);
    let result = deploy_locked(aws, request, &id, started_at, progress).await;
    release_lock(aws, &lock, progress).await;
    result
}

/// The deploy, under the lock.
async fn deploy_locked(
    aws: &Aws,
    request: &DeployRequest,
    id: &str,
    started_at: DateTime<Utc>,
    progress: &dyn Progress,
) -> Result<DeploySummary, DeployError> {
    let target = &request.target;
    let manifest = StackManifest::of(&request.rendered)?;
    let stack_name = manifest.stack_name.clone();

    // Upload the artifacts.
    progress.step(&format!(
        "uploading artifacts to s3://{}",
        target.artifact_bucket
    ));
    if !aws.bucket_exists(&target.artifact_bucket).await? {
        if !target.is_local {
            return Err(DeployError::MissingPrerequisite {
                what: "artifact bucket",
                name: target.artifact_bucket.clone(),
                environment: target.environment.to_string(),
                hint: String::new(),
            });
        }
        aws.create_bucket(&target.artifact_bucket, &target.region)
            .await?;
    }
    let mut uploaded = Vec::new();
    let mut code_keys = BTreeMap::new();
    for function in manifest.lambdas() {
        let Some(artifact) = request.built.manifest.function(&function.name) else {
            if function.planned {
                progress.detail(&format!(
                    "{}: planned, no package yet; the stack leaves it out",
                    function.name
                ));
                code_keys.insert(function.name.clone(), String::new());
                continue;
            }
            return Err(DeployError::MissingCode {
                reason: format!(
                    "the stack needs the function {} but the build has no zip of it; build it with `cargo xtask build --function {}`",
                    function.name, function.name
                ),
            });
        };
        let key = target.code_key(&artifact.s3_key);
        if aws.object_exists(&target.artifact_bucket, &key).await? {
            progress.detail(&format!("{}: {key} is already there", function.name));
        } else {
            let path = request.built.dir.join(&artifact.zip);
            let stored = aws.put_file(&target.artifact_bucket, &key, &path).await?;
            progress.detail(&format!(
                "{}: uploaded {key} ({})",
                function.name,
                userlog_build::manifest::human_bytes(stored.size)
            ));
            uploaded.push(key.clone());
        }
        code_keys.insert(function.name.clone(), key);
    }
    if !target.is_local {
        push_image(aws, request, progress).await?;
    }
    let (template, adaptations) = deployable_template(request);
    for adaptation in &adaptations {
        progress.warn(&adaptation.line());
    }
    let template_json =
        serde_json::to_string(&template).map_err(|e| DeployError::other(e.to_string()))?;
    let template_key = target.template_key(&hex::encode(Sha256::digest(template_json.as_bytes())));
    if !aws
        .object_exists(&target.artifact_bucket, &template_key)
        .await?
    {
        aws.put_bytes(
            &target.artifact_bucket,
            &template_key,
            template_json.into_bytes(),
            "application/json",
        )
        .await?;
        uploaded.push(template_key.clone());
    }
    let url = template_url(
        aws.s3_endpoint(),
        &target.region,
        &target.artifact_bucket,
        &template_key,
    );

    // Where the stack is now.
    let mut existing = aws.describe_stack(&stack_name).await?;
    if let Some(stack) = &existing {
        if target.is_local && is_failed_creation(&stack.status) {
            progress.warn(&format!(
                "{stack_name} is {} after a failed creation: deleting it to create it again",
                stack.status
            ));
            aws.delete_stack(&stack_name).await?;
            let mut cursor = EventCursor::default();
            wait_for_stack(aws, &stack_name, &mut cursor, Utc::now(), progress).await?;
            existing = None;
        } else if let Some(advice) = blocked_status_advice(&stack.status, target.is_local) {
            return Err(DeployError::StackNotReady {
                stack: stack_name,
                status: stack.status.clone(),
                advice,
            });
        }
    }
    let mut recovered_canaries = Vec::new();
    if let Some(stack) = &existing {
        recovered_canaries =
            crate::bake::revert_left_behind(aws, target, &manifest, stack, id, progress).await?;
        if !recovered_canaries.is_empty() {
            existing = aws.describe_stack(&stack_name).await?;
        }
    }
    let mut versions: BTreeMap<String, String> = BTreeMap::new();
    for function in manifest.lambdas() {
        let version = existing
            .as_ref()
            .and_then(|stack| stack.parameters.get(function.version_parameter.as_deref()?))
            .cloned()
            .unwrap_or_else(|| LATEST.to_owned());
        versions.insert(function.name.clone(), version);
    }
    let inputs = ParameterInputs {
        artifact_bucket: target.artifact_bucket.clone(),
        code_keys,
        versions: versions.clone(),
        canaries: BTreeMap::new(),
        image_digest: request.image_digest.clone(),
        external_database: request.external_database.clone(),
    };

    // Diff against what is deployed.
    progress.step(&format!("comparing with the deployed {stack_name}"));
    let deployed = aws.stack_template(&stack_name).await?;
    let difference = deployed_diff(&request.rendered, &template, deployed.as_deref());
    let differences: Vec<String> = difference
        .changes
        .iter()
        .filter(|c| c.document == "stack")
        .map(|c| format!("{:?} {} {}", c.kind, c.section, c.id).to_lowercase())
        .collect();
    if deployed.is_none() {
        progress.detail("the stack does not exist yet: every resource is new");
    } else if differences.is_empty() {
        progress.detail("the deployed template is the rendered one");
    } else {
        for line in userlog_infra::diff::render_text(&difference, false).lines() {
            progress.detail(line);
        }
    }

    // The change set.
    progress.step("computing the change set");
    let parameters = stack_parameters(&manifest, &inputs)?;
    let change_set = ChangeSetRequest {
        stack_name: stack_name.clone(),
        name: format!("deploy-{id}"),
        kind: if existing.is_some() {
            ChangeSetKind::Update
        } else {
            ChangeSetKind::Create
        },
        template: TemplateSource::Url(url.clone()),
        parameters: parameters.clone(),
        capabilities: manifest.capabilities.clone(),
        role_arn: target.cloudformation_role.clone(),
        description: format!("cargo xtask deploy {id}"),
        tags: target.stack_tags(),
    };
    let mut summary = DeploySummary {
        environment: target.environment.to_string(),
        stack_name: stack_name.clone(),
        deploy_id: id.to_owned(),
        started_at,
        seconds: 0.0,
        uploaded,
        differences,
        stack: StackOutcome::Unchanged,
        change_counts: "no changes".to_owned(),
        changes: Vec::new(),
        destructive: Vec::new(),
        adaptations,
        migrations_applied: None,
        migration_task: None,
        released: Vec::new(),
        versions: BTreeMap::new(),
        health: Vec::new(),
        no_change: false,
        recovered_canaries,
        canary: None,
    };
    match compute_change_set(aws, &change_set).await? {
        Computed::Empty => progress.detail("the change set is empty: the stack stays as it is"),
        Computed::Changes(state) => {
            let review = Review::of(state.changes);
            summary.change_counts = review.counts();
            progress.detail(&summary.change_counts);
            for change in &review.changes {
                progress.detail(&change.line());
            }
            summary.changes = review.changes.iter().map(|c| c.line()).collect();
            summary.destructive = review
                .destructive
                .iter()
                .map(|c| c.logical_id.clone())
                .collect();
            for change in &review.destructive {
                for line in change.destructive_report().lines() {
                    progress.warn(line);
                }
            }
            match decide(target.environment, &review, request.allow_destructive) {
                Decision::Block => {
                    aws.delete_change_set(&stack_name, &change_set.name).await?;
                    return Err(DeployError::DestructiveBlocked {
                        stack: stack_name,
                        changes: review.destructive,
                    });
                }
                Decision::ExecuteDestructiveAllowed => progress.warn(
                    "executing destructive changes in production: --allow-destructive was given",
                ),
                Decision::ExecuteDestructive | Decision::Execute => {}
            }
            progress.step(&format!("executing the change set of {stack_name}"));
            execute_change_set(aws, &stack_name, &change_set.name, progress).await?;
            summary.stack = if existing.is_some() {
                StackOutcome::Updated
            } else {
                StackOutcome::Created
            };
        }
    }
    let policy = request.rendered.stack_policy.to_string();
    match crate::stack_policy::source(target, &policy) {
        crate::stack_policy::PolicySource::Skip => {}
        crate::stack_policy::PolicySource::Body(body) => {
            aws.set_stack_policy(&stack_name, &body, false).await?;
        }
        crate::stack_policy::PolicySource::Approved { bucket, key, url } => {
            if !aws.object_exists(&bucket, &key).await? {
                return Err(DeployError::StackPolicyNotApproved {
                    environment: target.environment.to_string(),
                    key,
                });
            }
            aws.set_stack_policy(&stack_name, &url, true).await?;
        }
    }

    // Migrate.
    match &request.database_url {
        _ if request.migrate_in_task => {
            let outputs = aws
                .describe_stack(&stack_name)
                .await?
                .map(|s| s.outputs)
                .unwrap_or_default();
            let (state_machine, role) =
                crate::migrate_task::task_outputs(&outputs).map_err(|output| {
                    DeployError::MissingOutput {
                        stack: stack_name.clone(),
                        output: output.to_owned(),
                        environment: target.environment.to_string(),
                    }
                })?;
            let task = crate::migrate_task::run(aws, state_machine, role, progress).await?;
            summary.migration_task = Some(task);
        }
        Some(url) => {
            let schema = manifest
                .database_schema
                .as_deref()
                .filter(|s| *s != "public")
                .map(userlog_db::migrate::SchemaName::parse)
                .transpose()
                .map_err(DeployError::Schema)?;
            progress.step(&format!(
                "migrating the database{} and making its roles",
                schema
                    .as_ref()
                    .map(|s| format!(" (schema {s})"))
                    .unwrap_or_default()
            ));
            let outputs = aws
                .describe_stack(&stack_name)
                .await?
                .map(|s| s.outputs)
                .unwrap_or_default();
            let outcome = crate::database::migrate(
                aws,
                &stack_name,
                &target.environment.to_string(),
                &outputs,
                url.as_str(),
                schema.as_ref(),
            )
            .await?;
            let applied: Vec<String> = outcome
                .migrations
                .applied
                .iter()
                .map(|m| format!("{} {}", m.version, m.description))
                .collect();
            progress.detail(&if applied.is_empty() {
                "every migration was already applied".to_owned()
            } else {
                format!("applied {}", applied.join(", "))
            });
            if let Some(roles) = &outcome.roles {
                progress.detail(&format!(
                    "roles: created {}, updated {}",
                    list_or_none(&roles.created),
                    list_or_none(&roles.updated)
                ));
            }
            if let Some(role) = &outcome.preview_role {
                progress.detail(&format!("the preview's migrations ran as {role}"));
            }
            summary.migrations_applied = Some(applied);
        }
        None => progress.warn(
            "no database URL was given: the migrations were not run (pass --database-url or set DATABASE_URL)",
        ),
    }

    // Release: publish the functions that changed and move `stable` to them.
    let stack = aws
        .describe_stack(&stack_name)
        .await?
        .ok_or_else(|| DeployError::NoStack {
            stack: stack_name.clone(),
            environment: target.environment.to_string(),
        })?;
    if target.publishes_versions {
        progress.step("publishing the functions that changed");
        let moves = release(aws, &manifest, &inputs.code_keys, &stack, id, progress).await?;
        let mut promoted = true;
        if !moves.is_empty() {
            match request.canary {
                Some(policy) => {
                    let canary = crate::bake::Canary {
                        target,
                        manifest: &manifest,
                        deploy_id: id,
                        owner: &request.owner,
                        template: TemplateSource::Url(url.clone()),
                        base: &parameters,
                        moves: &moves,
                        policy,
                    };
                    let report = crate::bake::run(aws, &canary, progress).await?;
                    promoted = report.outcome == CanaryOutcome::Promoted;
                    summary.canary = Some(report);
                }
                None => {
                    move_aliases(
                        aws,
                        &manifest,
                        &stack_name,
                        &format!("release-{id}"),
                        TemplateSource::Url(url.clone()),
                        &moves,
                        &parameters,
                        target.cloudformation_role.clone(),
                        progress,
                    )
                    .await?;
                }
            }
        }
        if !moves.is_empty() && promoted {
            let mut new_versions = versions.clone();
            for moved in &moves {
                new_versions.insert(moved.function.clone(), moved.to.clone());
            }
            let record = ReleaseRecord {
                environment: target.environment.to_string(),
                deploy_id: id.to_owned(),
                command: "deploy".to_owned(),
                time: Utc::now(),
                moves: moves.clone(),
                versions: new_versions,
            };
            write_record(aws, target, &record).await?;
        }
        if promoted {
            summary.released = moves;
        }
    }

    // Health.
    progress.step("checking health");
    let stack = aws.describe_stack(&stack_name).await?;
    summary.health = health(aws, &manifest, stack.as_ref(), &inputs.code_keys).await?;
    for check in &summary.health {
        let mark = if check.ok { "ok" } else { "FAILED" };
        progress.detail(&format!("{mark:>6}  {}: {}", check.name, check.detail));
    }
    summary.versions = current_versions(aws, &manifest, &inputs.code_keys).await?;
    summary.no_change = summary.stack == StackOutcome::Unchanged
        && summary.released.is_empty()
        && summary
            .migrations_applied
            .as_ref()
            .is_none_or(|applied| applied.is_empty());
    summary.seconds = (Utc::now() - started_at).num_milliseconds() as f64 / 1000.0;
    Ok(summary)
}

/// Publishes every deployed function whose `$LATEST` differs from what `stable` runs; returns
/// the alias moves to make.
async fn release(
    aws: &Aws,
    manifest: &StackManifest,
    code_keys: &BTreeMap<String, String>,
    stack: &crate::api::StackInfo,
    id: &str,
    progress: &dyn Progress,
) -> Result<Vec<AliasMove>, DeployError> {
    let mut states = Vec::new();
    for function in manifest.lambdas() {
        if code_keys.get(&function.name).is_none_or(String::is_empty) {
            continue;
        }
        let Some(version_parameter) = function.version_parameter.clone() else {
            continue;
        };
        let latest = aws
            .function_version(&function.resource_name, LATEST)
            .await?
            .ok_or_else(|| {
                DeployError::other(format!(
                    "the function {} does not exist after the stack update",
                    function.resource_name
                ))
            })?;
        let stable_version = stack
            .parameters
            .get(&version_parameter)
            .cloned()
            .unwrap_or_else(|| LATEST.to_owned());
        let stable = aws
            .function_version(&function.resource_name, &stable_version)
            .await?
            .map(|v| v.snapshot);
        states.push(FunctionState {
            key: function.name.clone(),
            function_name: function.resource_name.clone(),
            version_parameter,
            latest: latest.snapshot,
            stable,
        });
    }
    let mut moves = Vec::new();
    for ((key, action), state) in plan(&states).into_iter().zip(&states) {
        match action {
            ReleaseAction::Keep { version } => {
                progress.detail(&format!(
                    "{key}: unchanged, `{STABLE_ALIAS}` stays at {version}"
                ));
            }
            ReleaseAction::Publish { from } => {
                let published = aws
                    .publish_version(&state.function_name, &format!("cargo xtask deploy {id}"))
                    .await?;
                progress.detail(&format!(
                    "{key}: published version {} (`{STABLE_ALIAS}` was {from})",
                    published.version
                ));
                moves.push(AliasMove {
                    function: key,
                    function_name: state.function_name.clone(),
                    version_parameter: state.version_parameter.clone(),
                    from,
                    to: published.version,
                });
            }
        }
    }
    Ok(moves)
}

/// Pushes the import task's image to the repository the task definition names, and refuses to
/// go on unless the repository then holds exactly that image under the tag.
async fn push_image(
    aws: &Aws,
    request: &DeployRequest,
    progress: &dyn Progress,
) -> Result<(), DeployError> {
    let Some(named) = crate::target::task_image(&request.rendered, &request.image_digest) else {
        return Ok(());
    };
    let image_error = |reason: String| DeployError::Image {
        reference: named.clone(),
        reason,
    };
    let layout = request.image.as_ref().ok_or_else(|| {
        image_error("the build has no image; build again with `cargo xtask build`".to_owned())
    })?;
    // The task definition names the image by digest; the push names it by its tag as well.
    let repository = named
        .split_once('@')
        .map_or(named.as_str(), |(repo, _)| repo);
    let reference =
        userlog_image::Reference::parse(repository).map_err(|e| image_error(e.to_string()))?;
    progress.step(&format!("pushing the import task's image to {named}"));
    let (host, token) = aws.registry_login().await?;
    if host != reference.host {
        return Err(image_error(format!(
            "the account's registry is {host}, not the host the task definition names"
        )));
    }
    let registry = userlog_image::Registry::new(&host, false).with_basic_token(&token);
    let pushed = registry
        .push(layout, &reference.repository, &request.image_tag)
        .await
        .map_err(|e| image_error(e.to_string()))?;
    progress.detail(&format!(
        "{} blob(s) uploaded, {} already there; {}",
        pushed.uploaded.len(),
        pushed.present.len(),
        pushed.digest
    ));
    let held = registry
        .manifest_digest(&reference.repository, &request.image_tag)
        .await
        .map_err(|e| image_error(e.to_string()))?;
    check_held_image(held.as_deref(), layout.image.digest()).map_err(image_error)
}

/// Whether the repository's tag names the image the deploy built (tags are immutable in the
/// image repositories, so a tag pushed earlier by another build keeps its other image).
pub fn check_held_image(held: Option<&str>, built: &str) -> Result<(), String> {
    match held {
        Some(digest) if digest == built => Ok(()),
        Some(digest) => Err(format!(
            "the repository's tag names {digest}, not the built image {built}; the task definition is not pointed at it"
        )),
        None => Err(
            "the repository does not hold the tag after the push; the task definition is not pointed at it"
                .to_owned(),
        ),
    }
}

/// Moves aliases with a stack update that changes only their version parameters, so that the
/// stack and the aliases never disagree.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn move_aliases(
    aws: &Aws,
    manifest: &StackManifest,
    stack_name: &str,
    change_set_name: &str,
    template: TemplateSource,
    moves: &[AliasMove],
    base: &BTreeMap<String, ParameterValue>,
    role_arn: Option<String>,
    progress: &dyn Progress,
) -> Result<(), DeployError> {
    progress.step(&format!("moving `{STABLE_ALIAS}`"));
    let overrides: BTreeMap<String, String> = moves
        .iter()
        .map(|moved| (moved.version_parameter.clone(), moved.to.clone()))
        .collect();
    update_alias_parameters(
        aws,
        manifest,
        stack_name,
        change_set_name,
        template,
        &overrides,
        base,
        role_arn,
        progress,
    )
    .await?;
    for moved in moves {
        progress.detail(&format!(
            "{}: `{STABLE_ALIAS}` {} -> {}",
            moved.function, moved.from, moved.to
        ));
    }
    Ok(())
}

/// A stack update that changes only alias parameters (`overrides`, by name; every other
/// parameter as in `base`), refused when it would change anything but aliases.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn update_alias_parameters(
    aws: &Aws,
    manifest: &StackManifest,
    stack_name: &str,
    change_set_name: &str,
    template: TemplateSource,
    overrides: &BTreeMap<String, String>,
    base: &BTreeMap<String, ParameterValue>,
    role_arn: Option<String>,
    progress: &dyn Progress,
) -> Result<(), DeployError> {
    let mut parameters = base.clone();
    for (name, value) in overrides {
        parameters.insert(name.clone(), ParameterValue::Value(value.clone()));
    }
    let request = ChangeSetRequest {
        stack_name: stack_name.to_owned(),
        name: change_set_name.to_owned(),
        kind: ChangeSetKind::Update,
        template,
        parameters,
        capabilities: manifest.capabilities.clone(),
        role_arn,
        description: format!("moves {STABLE_ALIAS}"),
        tags: BTreeMap::new(),
    };
    match compute_change_set(aws, &request).await? {
        Computed::Empty => Err(DeployError::other(format!(
            "the change set {change_set_name} that moves `{STABLE_ALIAS}` of {stack_name} changes nothing"
        ))),
        Computed::Changes(state) => {
            let unexpected = non_alias_changes(&state.changes);
            if !unexpected.is_empty() {
                aws.delete_change_set(stack_name, change_set_name).await?;
                return Err(DeployError::UnexpectedChanges {
                    stack: stack_name.to_owned(),
                    unexpected,
                });
            }
            execute_change_set(aws, stack_name, change_set_name, progress).await?;
            Ok(())
        }
    }
}

/// Writes the release record that the next rollback reads.
pub(crate) async fn write_record(
    aws: &Aws,
    target: &Target,
    record: &ReleaseRecord,
) -> Result<(), DeployError> {
    put_json(
        aws,
        target,
        &record_key(&target.key_prefix, &record.environment),
        record,
    )
    .await
}

/// Writes `value` as JSON at `key` of the environment's artifact bucket.
pub(crate) async fn put_json(
    aws: &Aws,
    target: &Target,
    key: &str,
    value: &impl Serialize,
) -> Result<(), DeployError> {
    let body = serde_json::to_vec_pretty(value).map_err(|e| DeployError::other(e.to_string()))?;
    aws.put_bytes(&target.artifact_bucket, key, body, "application/json")
        .await?;
    Ok(())
}

/// The version `stable` of every deployed function points to.
pub(crate) async fn current_versions(
    aws: &Aws,
    manifest: &StackManifest,
    code_keys: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, DeployError> {
    let mut versions = BTreeMap::new();
    for function in manifest.lambdas() {
        if code_keys.get(&function.name).is_some_and(String::is_empty) {
            continue;
        }
        if let Some(version) = aws
            .alias_version(&function.resource_name, STABLE_ALIAS)
            .await?
        {
            versions.insert(function.name.clone(), version);
        }
    }
    Ok(versions)
}

/// How long a published version may stay `Pending` before the health check fails it.
const VERSION_SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A function version once Lambda has finished preparing it (its state is no longer `Pending`),
/// or as it is when that takes longer than [`VERSION_SETTLE_TIMEOUT`].
async fn settled_version(
    aws: &Aws,
    function_name: &str,
    version: &str,
) -> Result<Option<crate::api::FunctionVersion>, DeployError> {
    let started = std::time::Instant::now();
    loop {
        let found = aws.function_version(function_name, version).await?;
        let pending = found
            .as_ref()
            .is_some_and(|f| f.state.as_deref() == Some("Pending"));
        if !pending || started.elapsed() > VERSION_SETTLE_TIMEOUT {
            return Ok(found);
        }
        tokio::time::sleep(crate::sdk::POLL_INTERVAL).await;
    }
}

/// Checks that the state machine is active and that every alias points to an active version.
pub(crate) async fn health(
    aws: &Aws,
    manifest: &StackManifest,
    stack: Option<&crate::api::StackInfo>,
    code_keys: &BTreeMap<String, String>,
) -> Result<Vec<HealthCheck>, DeployError> {
    let mut checks = Vec::new();
    let state_machine = stack.and_then(|s| s.outputs.get("ImportStateMachineArn"));
    checks.push(match state_machine {
        Some(arn) => {
            let status = aws.state_machine_status(arn).await?;
            HealthCheck {
                name: "import state machine".to_owned(),
                ok: status.as_deref() == Some("ACTIVE"),
                detail: status.unwrap_or_else(|| format!("{arn} does not exist")),
            }
        }
        None => HealthCheck {
            name: "import state machine".to_owned(),
            ok: false,
            detail: "the stack has no output ImportStateMachineArn".to_owned(),
        },
    });
    for function in manifest.lambdas() {
        if code_keys.get(&function.name).is_some_and(String::is_empty) {
            continue;
        }
        let name = format!("{}:{STABLE_ALIAS}", function.resource_name);
        let check = match aws
            .alias_version(&function.resource_name, STABLE_ALIAS)
            .await?
        {
            None => HealthCheck {
                name,
                ok: false,
                detail: "the alias does not exist".to_owned(),
            },
            Some(version) => match settled_version(aws, &function.resource_name, &version).await? {
                None => HealthCheck {
                    name,
                    ok: false,
                    detail: format!("version {version} does not exist"),
                },
                Some(found) => {
                    let state = found.state.unwrap_or_else(|| "Active".to_owned());
                    let update = found
                        .last_update_status
                        .unwrap_or_else(|| "Successful".to_owned());
                    HealthCheck {
                        name,
                        ok: state == "Active" && update != "Failed",
                        detail: format!("version {version}, {state}"),
                    }
                }
            },
        };
        checks.push(check);
    }
    Ok(checks)
}

/// `a, b`, or `none`.
fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
