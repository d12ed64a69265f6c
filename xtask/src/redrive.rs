//! `cargo xtask redrive EXECUTION_NAME|--failed-since DURATION [--env E] [--json]`: re-runs failed
//! imports (Step Functions' redrive where it helps, else a new execution for the same object that
//! takes over the failed one's ledger claim), refuses a file a newer upload replaced, and follows
//! each re-run to its end. Exit 0 when every execution re-ran and succeeded, 1 when one was
//! refused or failed again, 2 when the command could not run.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use userlog_deploy::redrive::{RedriveResult, execution_arn, parse_duration, redrive};
use userlog_deploy::sdk::Aws;
use userlog_deploy::upload::{UploadOutcome, UploadTarget, follow};
use userlog_infra::{EnvironmentName, render_environment};

use crate::cli::RedriveArgs;
use crate::progress::say;
use crate::render::load_templates;

/// How long one re-run is followed before the command gives up on it (it goes on).
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(10_800);

/// One execution: what was decided, and how its re-run ended.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Redriven {
    #[serde(flatten)]
    result: RedriveResult,
    /// The re-run's outcome, once it stopped.
    outcome: Option<UploadOutcome>,
}

pub(crate) fn run(args: &RedriveArgs) -> anyhow::Result<ExitCode> {
    let environment: EnvironmentName = args.env.parse()?;
    let since = args
        .failed_since
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let rendered = render_environment(environment, &load_templates()?)
        .with_context(|| format!("could not render {environment}"))?;
    crate::runtime()?.block_on(redrive_all(args, environment, &rendered.stack_name, since))
}

async fn redrive_all(
    args: &RedriveArgs,
    environment: EnvironmentName,
    stack_name: &str,
    since: Option<chrono::TimeDelta>,
) -> anyhow::Result<ExitCode> {
    let (config, settings) = crate::aws_env::sdk_for(environment).await?;
    let aws = Aws::new(&config, &settings);
    let target = UploadTarget::resolve(&aws, stack_name, &environment.to_string()).await?;
    let arns: Vec<String> = match (&args.execution, since) {
        (Some(name), _) => vec![execution_arn(&target.state_machine_arn, name)],
        (None, Some(since)) => {
            let listed = aws
                .unsuccessful_executions_since(
                    &target.state_machine_arn,
                    chrono::Utc::now() - since,
                )
                .await?;
            // Oldest first, so that files re-run in the order they came.
            listed.into_iter().rev().map(|e| e.arn).collect()
        }
        (None, None) => anyhow::bail!("name an execution, or pass --failed-since DURATION"),
    };
    if arns.is_empty() {
        say(
            args.json,
            "no execution failed in that time: nothing to re-run",
        );
    }
    let mut all_succeeded = true;
    let mut done = Vec::new();
    for arn in arns {
        let result = redrive(&aws, &target.state_machine_arn, &arn)
            .await
            .with_context(|| format!("could not redrive {arn}"))?;
        let mut outcome = None;
        match (&result.rerun_arn, &result.object) {
            (Some(rerun), Some(object)) => {
                say(
                    args.json,
                    &format!("{}: re-running as {rerun}", result.execution_name),
                );
                let execution = aws.execution(rerun).await?;
                let ended = follow(
                    &aws,
                    &execution,
                    &object.uploaded(),
                    FOLLOW_TIMEOUT,
                    &mut |run| {
                        say(args.json, &run.line(execution.start));
                    },
                )
                .await
                .with_context(|| format!("stopped following {rerun}; the execution goes on"))?;
                if !args.json {
                    print!("{}", ended.summary());
                }
                all_succeeded &= ended.succeeded();
                outcome = Some(ended);
            }
            _ => {
                all_succeeded = false;
                say(
                    args.json,
                    &format!(
                        "{}: not re-run: {}",
                        result.execution_name,
                        result.message.as_deref().unwrap_or("refused")
                    ),
                );
            }
        }
        done.push(Redriven { result, outcome });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    }
    Ok(if all_succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
