//! `cargo xtask upload FILE --env E [--wait] [--json] [--key KEY]`: puts a file into the
//! environment's input bucket, whose S3 event starts the import state machine through the
//! EventBridge rule; with `--wait` it follows that execution to its end, state by state, and sums
//! it up. Exit 0 when the execution succeeded (or, without `--wait`, when the put worked), 1 when
//! it failed, timed out or was aborted, 2 when the upload could not run.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use userlog_deploy::sdk::Aws;
use userlog_deploy::upload::{
    APPEAR_TIMEOUT, ExecutionWatch, ImportRule, UploadOutcome, UploadTarget, UploadedObject,
    default_key, follow, put,
};
use userlog_infra::{EnvironmentName, render_environment};

use crate::cli::UploadArgs;
use crate::progress::say;
use crate::render::load_templates;

pub(crate) fn run(args: &UploadArgs) -> anyhow::Result<ExitCode> {
    let environment: EnvironmentName = args.env.parse()?;
    if !args.file.is_file() {
        anyhow::bail!("{} is not a file", args.file.display());
    }
    let key = match &args.key {
        Some(key) => key.clone(),
        None => default_key(&args.file).with_context(|| {
            format!(
                "{} has no UTF-8 file name to make a key of: pass --key",
                args.file.display()
            )
        })?,
    };
    let rendered = render_environment(environment, &load_templates()?)
        .with_context(|| format!("could not render {environment}"))?;
    match ImportRule::in_template(&rendered.cfn()) {
        Some(rule) if !rule.starts_import(&key) => {
            let problem = format!(
                "the key `{key}` does not match the rule {} (keys {}), so no import will start",
                rule.logical_id,
                rule.key_condition()
            );
            if args.wait {
                anyhow::bail!("{problem}: choose a key the rule matches with --key");
            }
            eprintln!("warning: {problem}");
        }
        Some(_) => {}
        None => eprintln!(
            "warning: the rendered stack of {environment} has no rule that starts imports"
        ),
    }
    crate::runtime()?.block_on(upload(args, environment, &rendered.stack_name, &key))
}

async fn upload(
    args: &UploadArgs,
    environment: EnvironmentName,
    stack_name: &str,
    key: &str,
) -> anyhow::Result<ExitCode> {
    let (config, settings) = crate::aws_env::sdk_for(environment).await?;
    let aws = Aws::new(&config, &settings);
    let target = UploadTarget::resolve(&aws, stack_name, &environment.to_string()).await?;
    let mut report = |line: &str| say(args.json, line);
    if !args.wait {
        let object = put_file(&aws, &target, &args.file, key, &mut report).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&object)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let timeout = Duration::from_secs(args.timeout);
    let outcome = upload_and_follow(&aws, &target, &args.file, key, timeout, &mut report).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print!("{}", outcome.summary());
    }
    Ok(if outcome.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Puts `file` into the target's input bucket under `key` and follows the execution that the put
/// starts until it stops (for at most `timeout`), telling `report` of the put, the execution and
/// each of its states as they run.
pub(crate) async fn upload_and_follow(
    aws: &Aws,
    target: &UploadTarget,
    file: &Path,
    key: &str,
    timeout: Duration,
    report: &mut dyn FnMut(&str),
) -> anyhow::Result<UploadOutcome> {
    // The watch lists the executions that ran before the put, so it starts first.
    let mut watch = ExecutionWatch::start(aws, target).await?;
    let object = put_file(aws, target, file, key, report).await?;
    let execution = watch.find(aws, target, &object, APPEAR_TIMEOUT).await?;
    report(&format!("execution {} ({})", execution.name, execution.arn));
    follow(aws, &execution, &object, timeout, &mut |run| {
        report(&run.line(execution.start));
    })
    .await
    .with_context(|| {
        format!(
            "stopped following {}; the execution goes on: `aws stepfunctions describe-execution --execution-arn {}`",
            execution.name, execution.arn
        )
    })
}

/// Puts `file` into the target's input bucket under `key`, telling `report` where it went.
async fn put_file(
    aws: &Aws,
    target: &UploadTarget,
    file: &Path,
    key: &str,
    report: &mut dyn FnMut(&str),
) -> anyhow::Result<UploadedObject> {
    let object = put(aws, target, file, key)
        .await
        .with_context(|| format!("uploading {} failed", file.display()))?;
    report(&format!(
        "uploaded {} to s3://{}/{} (etag {}, {} bytes)",
        display_name(file),
        object.bucket,
        object.key,
        object.etag,
        object.size
    ));
    Ok(object)
}

fn display_name(file: &Path) -> String {
    file.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string())
}
