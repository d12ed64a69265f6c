//! `cargo xtask cleanup --stale [--from local|staging] [--dry-run] [--json]`: finds every preview
//! stack (by name and tag) and every `pr_<N>` schema, asks GitHub which pull requests are still
//! open, and removes the previews of closed or missing ones and the orphans with the code of
//! `preview down`; says what it removed, what it kept and why.
//!
//! Exit codes: 0 done; 1 a removal failed; 2 could not run; 3 GitHub could not be asked (only
//! orphans and what GitHub did answer about were handled).

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use userlog_deploy::preview::{
    PullStatus, SweepAction, SweepItem, is_locked, plan_sweep, preview_stacks,
};
use userlog_github::{GitHub, PullState};

use crate::cli::CleanupArgs;
use crate::preview::{GITHUB_FAILED, GitHubReport, down, github_client, platform};
use crate::progress::StepPrinter;

/// One preview and what the sweep did with it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SweptPreview {
    #[serde(flatten)]
    item: SweepItem,
    /// What was removed (or, in a dry run, would be).
    removed: Vec<String>,
    /// Why the removal did not happen.
    error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct CleanupReport {
    dry_run: bool,
    previews: Vec<SweptPreview>,
    github: GitHubReport,
}

pub(crate) fn run(args: &CleanupArgs) -> anyhow::Result<ExitCode> {
    if !args.stale {
        anyhow::bail!(
            "say what to clean up: `cargo xtask cleanup --stale` removes the previews of closed pull requests and orphans"
        );
    }
    let runtime = crate::runtime()?;
    let github = {
        let _entered = runtime.enter();
        github_client()?
    };
    let report = runtime.block_on(sweep(args, github.as_ref()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    let failed = report
        .previews
        .iter()
        .any(|p| p.error.is_some() && p.item.action == SweepAction::Remove && !p.error_is_lock());
    Ok(if failed {
        ExitCode::from(1)
    } else if !report.github.errors.is_empty() {
        ExitCode::from(GITHUB_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

impl SweptPreview {
    fn error_is_lock(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|e| e.contains(" is locked by "))
    }
}

async fn sweep(args: &CleanupArgs, github: Option<&impl GitHub>) -> anyhow::Result<CleanupReport> {
    let printer = StepPrinter::new();
    use userlog_deploy::progress::Progress as _;
    let (aws, database_url) = platform(args.from, args.database_url.clone()).await?;
    let database_url = database_url
        .context("cleanup lists the pr_* schemas: pass --database-url or set DATABASE_URL")?;
    printer.step("listing the preview stacks and schemas");
    let stacks = preview_stacks(&aws.all_stacks().await?);
    let schemas: BTreeSet<u32> = userlog_db::preview::preview_schemas(&database_url)
        .await
        .context("cannot list the preview schemas")?
        .into_iter()
        .filter_map(|n| u32::try_from(n).ok())
        .collect();
    printer.detail(&format!(
        "{} preview stack(s), {} preview schema(s)",
        stacks.len(),
        schemas.len()
    ));
    let mut gh = GitHubReport {
        skipped: github.is_none(),
        ..Default::default()
    };
    let mut pulls = BTreeMap::new();
    match github {
        None => printer.warn(
            "GITHUB_TOKEN is not set: GitHub is not asked which pull requests are open, so only orphans are removed",
        ),
        Some(github) => {
            printer.step("asking GitHub which pull requests are open");
            for &number in stacks.union(&schemas) {
                match github.pull_request(u64::from(number)).await {
                    Ok(Some(pull)) => {
                        let status = match pull.state {
                            PullState::Open => PullStatus::Open,
                            PullState::Closed => PullStatus::Closed,
                        };
                        pulls.insert(number, status);
                    }
                    Ok(None) => {
                        pulls.insert(number, PullStatus::Missing);
                    }
                    Err(error) => {
                        eprintln!("warning: {error}");
                        gh.errors.push(error.to_string());
                    }
                }
            }
        }
    }
    let mut previews = Vec::new();
    for item in plan_sweep(&stacks, &schemas, &pulls) {
        let mut swept = SweptPreview {
            item: item.clone(),
            removed: Vec::new(),
            error: None,
        };
        if item.action == SweepAction::Remove {
            printer.step(&format!(
                "removing preview-pr-{}: {}",
                item.number, item.reason
            ));
            match down(
                item.number,
                args.from,
                Some(database_url.clone()),
                false,
                args.dry_run,
                &printer,
            )
            .await
            {
                Ok((removal, dashboard)) => {
                    swept.removed = removal.removed;
                    swept.removed.extend(
                        dashboard
                            .deleted
                            .iter()
                            .map(|id| format!("Cloudflare Pages deployment {id}")),
                    );
                    swept.error = dashboard.error.clone();
                    if !args.dry_run
                        && let Some(github) = github
                    {
                        let commit = crate::diff::head_commit().unwrap_or_default();
                        crate::preview::mark_removed(github, item.number, &commit, &mut gh).await;
                    }
                }
                Err(error) => {
                    let locked = error
                        .downcast_ref::<userlog_deploy::error::DeployError>()
                        .is_some_and(is_locked);
                    let text = format!("{error:#}");
                    if !locked {
                        eprintln!("error: removing preview-pr-{} failed: {text}", item.number);
                    }
                    swept.error = Some(text);
                }
            }
        }
        previews.push(swept);
    }
    Ok(CleanupReport {
        dry_run: args.dry_run,
        previews,
        github: gh,
    })
}

fn render(report: &CleanupReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if report.previews.is_empty() {
        let _ = writeln!(out, "Nothing to clean up: there are no previews.");
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for preview in &report.previews {
        let name = format!("preview-pr-{}", preview.item.number);
        match (&preview.item.action, &preview.error) {
            (SweepAction::Keep, _) => {
                let _ = writeln!(out, "kept     {name}: {}", preview.item.reason);
            }
            (SweepAction::Remove, Some(error)) if preview.error_is_lock() => {
                let _ = writeln!(out, "kept     {name}: {error}");
            }
            (SweepAction::Remove, Some(error)) => {
                let _ = writeln!(out, "FAILED   {name} ({}): {error}", preview.item.reason);
            }
            (SweepAction::Remove, None) => {
                let _ = writeln!(out, "{verb:<8} {name}: {}", preview.item.reason);
                for line in &preview.removed {
                    let _ = writeln!(out, "           {line}");
                }
            }
        }
    }
    if report.github.skipped {
        let _ = writeln!(out, "github: skipped (no GITHUB_TOKEN)");
    }
    for error in &report.github.errors {
        let _ = writeln!(out, "github: FAILED {error}");
    }
    out
}
