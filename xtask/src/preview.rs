//! `cargo xtask preview up|down --pr N [--from local|staging]`: the preview of a pull request
//! (stack `preview-pr-N-userlog`, schema `pr_N`, functions at `$LATEST`), made with the deploy's
//! own flow and removed with everything it made; and its GitHub side (one marked comment, a
//! deployment and its statuses) when `GITHUB_TOKEN` is set.
//!
//! Exit codes: 0 done; 1 the preview (or its removal) failed; 2 could not run (bad arguments or
//! settings, refused before anything is touched); 3 the AWS part is done but a GitHub step failed.

use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use userlog_deploy::flow::DeploySummary;
use userlog_deploy::lock::current_owner;
use userlog_deploy::preview::{Removal, RemoveRequest, remove_preview};
use userlog_deploy::progress::Progress as _;
use userlog_deploy::sdk::Aws;
use userlog_deploy::target::Target;
use userlog_github::comment::{self, DefinitionDiff, Endpoints, PreviewState};
use userlog_github::{
    CommentOutcome, DeploymentState, GitHub, GitHubError, GitHubSettings, OctocrabGitHub,
    upsert_comment,
};
use userlog_infra::{EnvironmentName, render_preview};

use crate::cli::{PreviewAction, PreviewArgs, PreviewDownArgs, PreviewUpArgs};
use crate::deploy::{DeployOptions, deploy_environment};
use crate::progress::StepPrinter;
use crate::render::load_templates;

/// Exit code: the AWS part is done, a GitHub step failed.
pub(crate) const GITHUB_FAILED: u8 = 3;

pub(crate) fn run(args: &PreviewArgs) -> anyhow::Result<ExitCode> {
    match &args.action {
        PreviewAction::Up(args) => run_up(args),
        PreviewAction::Down(args) => run_down(args),
    }
}

/// The GitHub client from `GITHUB_*`, or `None` without a token. Needs the async runtime.
pub(crate) fn github_client() -> anyhow::Result<Option<OctocrabGitHub>> {
    let Some(settings) = GitHubSettings::from_lookup(|name| std::env::var(name).ok())? else {
        return Ok(None);
    };
    Ok(Some(OctocrabGitHub::new(&settings)?))
}

/// What the GitHub side did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GitHubReport {
    /// Whether the GitHub steps were skipped (no GITHUB_TOKEN).
    pub(crate) skipped: bool,
    /// What happened to the comment.
    pub(crate) comment: Option<CommentOutcome>,
    /// The deployment, and its last status.
    pub(crate) deployment: Option<u64>,
    pub(crate) deployment_state: Option<DeploymentState>,
    /// The GitHub calls that failed.
    pub(crate) errors: Vec<String>,
}

impl GitHubReport {
    fn skipped() -> Self {
        GitHubReport {
            skipped: true,
            ..Default::default()
        }
    }

    fn failed(&mut self, error: &GitHubError) {
        eprintln!("warning: {error}");
        self.errors.push(error.to_string());
    }

    fn line(&self) -> String {
        if self.skipped {
            return "skipped (no GITHUB_TOKEN)".to_owned();
        }
        let mut parts = Vec::new();
        if let Some(comment) = self.comment {
            parts.push(format!("comment {comment:?}").to_lowercase());
        }
        if let (Some(id), Some(state)) = (self.deployment, self.deployment_state) {
            parts.push(format!("deployment {id} {}", state.as_str()));
        }
        for error in &self.errors {
            parts.push(format!("FAILED {error}"));
        }
        if parts.is_empty() {
            "nothing to do".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// What `preview up` returns.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct UpReport {
    environment: String,
    pull_request: u32,
    from: String,
    stack: String,
    schema: String,
    input_bucket: Option<String>,
    state_machine: Option<String>,
    api_url: Option<String>,
    commit: String,
    upload: String,
    unchanged: bool,
    healthy: bool,
    error: Option<String>,
    deploy: Option<DeploySummary>,
    /// The dashboard's branch preview on Cloudflare Pages.
    dashboard: crate::dashboard::PagesReport,
    github: GitHubReport,
}

fn upload_command(environment: EnvironmentName) -> String {
    format!("cargo xtask upload FILE --env {environment} --wait")
}

fn run_up(args: &PreviewUpArgs) -> anyhow::Result<ExitCode> {
    let environment = EnvironmentName::Preview(args.preview.pr);
    let runtime = crate::runtime()?;
    let github = {
        let _entered = runtime.enter();
        github_client()?
    };
    let commit = crate::diff::head_commit()?;
    let report = runtime.block_on(up(args, environment, github.as_ref(), commit));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_up(&report));
    }
    Ok(
        if report.error.is_some() || !report.healthy || report.dashboard.failed_step() {
            ExitCode::from(1)
        } else if !report.github.errors.is_empty() {
            ExitCode::from(GITHUB_FAILED)
        } else {
            ExitCode::SUCCESS
        },
    )
}

async fn up(
    args: &PreviewUpArgs,
    environment: EnvironmentName,
    github: Option<&OctocrabGitHub>,
    commit: String,
) -> UpReport {
    let printer = StepPrinter::new();
    let number = u64::from(args.preview.pr);
    let mut gh = GitHubReport::skipped();
    let mut base = args.base_ref.clone();
    let mut deployment = None;
    if let Some(github) = github {
        gh.skipped = false;
        printer.step(&format!("asking GitHub about pull request #{number}"));
        match github.pull_request(number).await {
            Ok(Some(pull)) => {
                base = base.or(Some(pull.base_sha));
            }
            Ok(None) => printer.warn(&format!("GitHub has no pull request #{number}")),
            Err(error) => gh.failed(&error),
        }
        match github
            .create_deployment(
                &commit,
                &environment.to_string(),
                &format!("preview of pull request #{number}"),
            )
            .await
        {
            Ok(created) => {
                match github
                    .set_deployment_status(
                        created.id,
                        DeploymentState::InProgress,
                        None,
                        "the preview is being deployed",
                    )
                    .await
                {
                    Ok(()) => gh.deployment_state = Some(DeploymentState::InProgress),
                    Err(error) => gh.failed(&error),
                }
                gh.deployment = Some(created.id);
                deployment = Some(created.id);
            }
            Err(error) => gh.failed(&error),
        }
    } else {
        printer.warn("GITHUB_TOKEN is not set: the GitHub steps (comment, deployment) are skipped");
    }

    let mut report = UpReport {
        environment: environment.to_string(),
        pull_request: args.preview.pr,
        from: args.preview.from.to_string(),
        stack: format!("{environment}-userlog"),
        schema: format!("pr_{}", args.preview.pr),
        input_bucket: None,
        state_machine: None,
        api_url: None,
        commit: commit.clone(),
        upload: upload_command(environment),
        unchanged: false,
        healthy: false,
        error: None,
        deploy: None,
        dashboard: crate::dashboard::PagesReport::default(),
        github: GitHubReport::default(),
    };
    let deployed = deploy_preview(args, environment).await;
    let mut environment_url = None;
    match deployed {
        Ok((summary, outputs, endpoint)) => {
            report.unchanged = summary.no_change;
            report.healthy = summary.healthy();
            report.input_bucket = outputs.get("InputBucketName").cloned();
            report.state_machine = outputs.get("ImportStateMachineArn").cloned();
            report.api_url = outputs
                .get("HttpApiUrl")
                .filter(|url| !url.is_empty())
                .cloned();
            environment_url = report.api_url.clone().or(endpoint);
            if !report.healthy {
                let failed: Vec<String> = summary
                    .health
                    .iter()
                    .filter(|c| !c.ok)
                    .map(|c| format!("{}: {}", c.name, c.detail))
                    .collect();
                report.error = Some(format!("health checks failed: {}", failed.join("; ")));
            }
            report.deploy = Some(summary);
            if report.error.is_none() {
                printer.step("deploying the dashboard's branch preview");
                report.dashboard = crate::dashboard::publish(
                    environment,
                    report.api_url.as_deref(),
                    args.artifacts.as_deref(),
                )
                .await;
                if let Some(error) = &report.dashboard.error {
                    eprintln!("error: the dashboard of {environment} was not deployed: {error}");
                }
            }
        }
        Err(error) => {
            let text = format!("{error:#}");
            eprintln!("error: the preview {environment} failed: {text}");
            report.error = Some(text);
        }
    }

    if let Some(github) = github {
        printer.step("updating the pull request");
        let diff = match &base {
            None => {
                DefinitionDiff::Unavailable("no base commit is known: pass --base-ref".to_owned())
            }
            Some(base) => match crate::diff::text_against(base, |templates| {
                render_preview(args.preview.pr, args.preview.from, templates)
            }) {
                Ok(text) => DefinitionDiff::Against {
                    base: base.clone(),
                    text,
                },
                Err(error) => DefinitionDiff::Unavailable(format!("{error:#}")),
            },
        };
        let state = match &report.error {
            Some(error) => PreviewState::Failed {
                error: error.clone(),
                diff,
            },
            None => PreviewState::Ready {
                endpoints: Endpoints {
                    stack: report.stack.clone(),
                    schema: report.schema.clone(),
                    input_bucket: report.input_bucket.clone().unwrap_or_default(),
                    state_machine: report.state_machine.clone().unwrap_or_default(),
                    api_url: report.api_url.clone(),
                    dashboard: report
                        .dashboard
                        .url
                        .clone()
                        .ok_or_else(|| report.dashboard.line()),
                    upload_command: report.upload.clone(),
                },
                unchanged: report.unchanged,
                diff,
            },
        };
        let env_text = environment.to_string();
        let body = comment::render(&env_text, &commit, &state);
        match upsert_comment(github, number, &comment::marker(&env_text), &body).await {
            Ok((_, outcome)) => gh.comment = Some(outcome),
            Err(error) => gh.failed(&error),
        }
        if let Some(id) = deployment {
            let (state, description) = if report.error.is_some() {
                (DeploymentState::Failure, "the preview failed")
            } else {
                (DeploymentState::Success, "the preview is ready")
            };
            match github
                .set_deployment_status(id, state, environment_url.as_deref(), description)
                .await
            {
                Ok(()) => gh.deployment_state = Some(state),
                Err(error) => gh.failed(&error),
            }
        }
    }
    report.github = gh;
    report
}

/// Deploys the preview with the deploy's flow; returns the summary, the stack's outputs and the
/// endpoint a reviewer opens when the stack has no API (the emulator, or the stack's console page).
async fn deploy_preview(
    args: &PreviewUpArgs,
    environment: EnvironmentName,
) -> anyhow::Result<(
    DeploySummary,
    std::collections::BTreeMap<String, String>,
    Option<String>,
)> {
    if args.preview.from == EnvironmentName::Local {
        crate::aws_env::set_local_preview(environment, true)?;
    }
    let options = DeployOptions {
        database_url: args.preview.database_url.clone(),
        no_cfn_lint: args.no_cfn_lint,
        json: args.json,
        artifacts: args.artifacts.clone(),
        preview_host: Some(args.preview.from),
        // A pull request's runner cannot reach staging's private database: the preview's schema
        // is migrated by a one-off task of its own import task, inside the VPC.
        migrate_with: if args.preview.from == EnvironmentName::Staging {
            crate::cli::MigrateWith::Task
        } else {
            crate::cli::MigrateWith::Direct
        },
        ..Default::default()
    };
    let summary = deploy_environment(environment, &options).await?;
    let (config, settings) = crate::aws_env::sdk_for(environment).await?;
    let aws = Aws::new(&config, &settings);
    let stack = aws
        .describe_stack(&summary.stack_name)
        .await?
        .with_context(|| format!("the stack {} is gone", summary.stack_name))?;
    let endpoint = match &settings.endpoint_url {
        Some(endpoint) => Some(endpoint.clone()),
        None => config.region().map(|region| {
            format!(
                "https://{region}.console.aws.amazon.com/cloudformation/home?region={region}#/stacks?filteringText={}",
                summary.stack_name
            )
        }),
    };
    Ok((summary, stack.outputs, endpoint))
}

fn render_up(report: &UpReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    match &report.error {
        Some(error) => {
            let _ = writeln!(out, "The preview {} failed: {error}", report.environment);
        }
        None if report.unchanged => {
            let _ = writeln!(
                out,
                "No changes: the preview {} is already up to date.",
                report.environment
            );
        }
        None => {
            let _ = writeln!(out, "The preview {} is ready.", report.environment);
        }
    }
    let row = |out: &mut String, name: &str, value: &str| {
        let _ = writeln!(out, "  {name:<14} {value}");
    };
    row(&mut out, "stack", &report.stack);
    row(&mut out, "schema", &report.schema);
    row(
        &mut out,
        "input bucket",
        report.input_bucket.as_deref().unwrap_or("-"),
    );
    row(
        &mut out,
        "state machine",
        report.state_machine.as_deref().unwrap_or("-"),
    );
    row(&mut out, "api", report.api_url.as_deref().unwrap_or("none"));
    row(&mut out, "dashboard", &report.dashboard.line());
    row(&mut out, "commit", &report.commit);
    row(&mut out, "github", &report.github.line());
    let _ = writeln!(out, "Import a file into it:\n  {}", report.upload);
    out
}

/// What `preview down` returns.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct DownReport {
    #[serde(flatten)]
    removal: Removal,
    /// The dashboard's branch preview deployments deleted from Cloudflare Pages.
    dashboard: crate::dashboard::PagesReport,
    github: GitHubReport,
}

fn run_down(args: &PreviewDownArgs) -> anyhow::Result<ExitCode> {
    let environment = EnvironmentName::Preview(args.preview.pr);
    let runtime = crate::runtime()?;
    let github = {
        let _entered = runtime.enter();
        github_client()?
    };
    let printer = StepPrinter::new();
    let removal = match runtime.block_on(down(
        args.preview.pr,
        args.preview.from,
        args.preview.database_url.clone(),
        args.drop_with == crate::cli::MigrateWith::Task,
        false,
        &printer,
    )) {
        Ok(removal) => removal,
        Err(error) => {
            eprintln!("error: removing the preview {environment} failed: {error:#}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut gh = GitHubReport::skipped();
    if let Some(github) = &github {
        gh.skipped = false;
        let commit = crate::diff::head_commit().unwrap_or_default();
        runtime.block_on(mark_removed(github, args.preview.pr, &commit, &mut gh));
    }
    let (removal, dashboard) = removal;
    let report = DownReport {
        removal,
        dashboard,
        github: gh,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_down(&report.removal));
        println!("  dashboard      {}", report.dashboard.line());
        println!("  github         {}", report.github.line());
    }
    Ok(if report.github.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(GITHUB_FAILED)
    })
}

/// Marks the preview's deployment inactive and says in its comment (when it has one) that it is gone.
pub(crate) async fn mark_removed(
    github: &impl GitHub,
    number: u32,
    commit: &str,
    gh: &mut GitHubReport,
) {
    let environment = EnvironmentName::Preview(number).to_string();
    match userlog_github::mark_latest_deployment(
        github,
        &environment,
        DeploymentState::Inactive,
        "the preview was removed",
    )
    .await
    {
        Ok(Some(id)) => {
            gh.deployment = Some(id);
            gh.deployment_state = Some(DeploymentState::Inactive);
        }
        Ok(None) => {}
        Err(error) => gh.failed(&error),
    }
    let marker = comment::marker(&environment);
    match github.comments(u64::from(number)).await {
        Ok(comments) => {
            if userlog_github::marked(&comments, &marker).is_some() {
                let body = comment::render(&environment, commit, &PreviewState::Removed);
                match upsert_comment(github, u64::from(number), &marker, &body).await {
                    Ok((_, outcome)) => gh.comment = Some(outcome),
                    Err(error) => gh.failed(&error),
                }
            }
        }
        Err(error) => gh.failed(&error),
    }
}

/// Removes the preview of pull request `number` hosted on `host`, then its dashboard's branch
/// deployments on Cloudflare Pages (the code `preview down` and `cleanup --stale` share); with
/// `drop_in_task` its schema and role go by a one-off task instead of the database URL.
pub(crate) async fn down(
    number: u32,
    host: EnvironmentName,
    database_url: Option<String>,
    drop_in_task: bool,
    dry_run: bool,
    printer: &StepPrinter,
) -> anyhow::Result<(Removal, crate::dashboard::PagesReport)> {
    let environment = EnvironmentName::Preview(number);
    let (aws, database_url) = platform(host, database_url).await?;
    // Without a URL the removal drops the schema and its role in a one-off task.
    let database_url = database_url.filter(|_| !drop_in_task);
    let rendered = render_preview(number, host, &load_templates()?)
        .with_context(|| format!("could not render {environment} on {host}"))?;
    let request = RemoveRequest {
        number,
        target: Target::of(&rendered, Some(&host.to_string())),
        database_url,
        owner: current_owner(|name| std::env::var(name).ok()),
        dry_run,
    };
    let removal = remove_preview(&aws, &request, printer).await?;
    if host == EnvironmentName::Local && !dry_run {
        crate::aws_env::set_local_preview(environment, false)?;
    }
    let dashboard = if dry_run {
        crate::dashboard::PagesReport::skipped("a dry run")
    } else {
        printer.step("deleting the dashboard's branch preview");
        let dashboard = crate::dashboard::unpublish_preview(number).await;
        if let Some(error) = &dashboard.error {
            printer.warn(&format!("the dashboard's preview was not deleted: {error}"));
        }
        dashboard
    };
    Ok((removal, dashboard))
}

/// The AWS clients and the database of the platform previews share on `host`.
pub(crate) async fn platform(
    host: EnvironmentName,
    database_url: Option<String>,
) -> anyhow::Result<(Aws, Option<String>)> {
    let database_url = if host == EnvironmentName::Local {
        let printer = StepPrinter::new();
        printer.step("starting the local stand-ins (PostgreSQL, MiniStack)");
        Some(crate::deploy::local_stack()?.database_url)
    } else {
        database_url.or_else(|| std::env::var("DATABASE_URL").ok())
    };
    let (config, settings) = crate::aws_env::sdk_for(host).await?;
    Ok((Aws::new(&config, &settings), database_url))
}

fn render_down(removal: &Removal) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if removal.nothing_to_remove {
        let _ = writeln!(
            out,
            "Nothing to remove: there is no preview {}.",
            removal.environment
        );
        return out;
    }
    let _ = writeln!(out, "Removed the preview {}:", removal.environment);
    for line in &removal.removed {
        let _ = writeln!(out, "  {line}");
    }
    out
}
