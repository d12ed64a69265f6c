//! `cargo xtask deploy --env E` and `cargo xtask rollback --env E`: build, render and validate
//! here, then the release flow of `userlog-deploy` against the environment's account (the local
//! emulator for `local`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use userlog_deploy::canary::CanaryOutcome;
use userlog_deploy::flow::{BuiltFunctions, DeployRequest, DeploySummary, StackOutcome};
use userlog_deploy::lock::current_owner;
use userlog_deploy::rollback::RollbackSummary;
use userlog_deploy::sdk::Aws;
use userlog_deploy::target::{ExternalDatabase, StackManifest, Target, task_image};
use userlog_infra::{EnvironmentName, Rendered, render_environment};
use userlog_local::EcsImage;
use userlog_local::LocalStack;

use crate::cli::{BuildArgs, DeployArgs, RollbackArgs};
use crate::progress::StepPrinter;
use crate::render::load_templates;

/// What a deploy needs besides the environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeployOptions {
    /// The database to migrate (and, for stacks that take one, to use).
    pub(crate) database_url: Option<String>,
    /// Whether destructive changes may go ahead in production.
    pub(crate) allow_destructive: bool,
    /// Whether to skip cfn-lint (the other static checks always run).
    pub(crate) no_cfn_lint: bool,
    /// Whether the output is JSON (the build's table is not printed then).
    pub(crate) json: bool,
    /// Deploy the zips of an earlier `cargo xtask build --out DIR` instead of building (CI builds
    /// once and deploys the same artifacts to every environment).
    pub(crate) artifacts: Option<PathBuf>,
    /// For a preview: the environment whose platform it shares (`local` or `staging`).
    pub(crate) preview_host: Option<EnvironmentName>,
    /// `--canary`: the share of calls a new version takes while it bakes (None: the env's default).
    pub(crate) canary: Option<u8>,
    /// `--bake`: how long a canary bakes (None: the env's default).
    pub(crate) bake: Option<std::time::Duration>,
    /// `--migrate-with`: how the migrations reach the database.
    pub(crate) migrate_with: crate::cli::MigrateWith,
}

pub(crate) fn run(args: &DeployArgs) -> anyhow::Result<ExitCode> {
    let environment: EnvironmentName = args.env.parse()?;
    let options = DeployOptions {
        database_url: args.database_url.clone(),
        allow_destructive: args.allow_destructive,
        no_cfn_lint: args.no_cfn_lint,
        json: args.json,
        artifacts: args.artifacts.clone(),
        preview_host: None,
        canary: args.canary,
        bake: args.bake,
        migrate_with: args.migrate_with,
    };
    let runtime = crate::runtime()?;
    let summary = match runtime.block_on(deploy_environment(environment, &options)) {
        Ok(summary) => summary,
        Err(error) => {
            eprintln!("error: the deploy of {environment} failed: {error:#}");
            return Ok(ExitCode::from(1));
        }
    };
    // The last step: the dashboard on Cloudflare Pages, reading the API just deployed (not for
    // the emulator, which has no Pages project; skipped without Cloudflare's credentials).
    let dashboard = (environment != EnvironmentName::Local && summary.succeeded()).then(|| {
        runtime.block_on(async {
            match stack_output(environment, &summary.stack_name, "HttpApiUrl").await {
                Ok(api_url) => {
                    crate::dashboard::publish(
                        environment,
                        api_url.as_deref(),
                        args.artifacts.as_deref(),
                    )
                    .await
                }
                Err(err) => crate::dashboard::PagesReport {
                    error: Some(format!("{err:#}")),
                    ..Default::default()
                },
            }
        })
    });
    if args.json {
        #[derive(serde::Serialize)]
        struct WithDashboard<'a> {
            #[serde(flatten)]
            summary: &'a DeploySummary,
            #[serde(skip_serializing_if = "Option::is_none")]
            dashboard: Option<&'a crate::dashboard::PagesReport>,
        }
        let report = WithDashboard {
            summary: &summary,
            dashboard: dashboard.as_ref(),
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_summary(&summary));
        if let Some(dashboard) = &dashboard {
            println!("  dashboard   {}", dashboard.line());
        }
    }
    if let Some(error) = dashboard.as_ref().and_then(|d| d.error.as_deref()) {
        eprintln!("error: the dashboard of {environment} was not deployed: {error}");
        return Ok(ExitCode::from(1));
    }
    if let Some(canary) = &summary.canary {
        match &canary.outcome {
            CanaryOutcome::Promoted => {}
            CanaryOutcome::RolledBack { reasons } => eprintln!(
                "error: the canary of {environment} was rolled back: {}",
                reasons.join("; ")
            ),
            CanaryOutcome::Interrupted => eprintln!(
                "error: the deploy of {environment} was interrupted during the bake; the canary was rolled back"
            ),
        }
    }
    Ok(if summary.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One output of an environment's deployed stack (None: the stack has no such output).
pub(crate) async fn stack_output(
    environment: EnvironmentName,
    stack_name: &str,
    output: &str,
) -> anyhow::Result<Option<String>> {
    let (config, settings) = crate::aws_env::sdk_for(environment).await?;
    let aws = Aws::new(&config, &settings);
    let stack = aws
        .describe_stack(stack_name)
        .await?
        .with_context(|| format!("the stack {stack_name} is gone"))?;
    Ok(stack.outputs.get(output).cloned())
}

pub(crate) fn run_rollback(args: &RollbackArgs) -> anyhow::Result<ExitCode> {
    let environment: EnvironmentName = args.env.parse()?;
    let runtime = crate::runtime()?;
    let summary = match runtime.block_on(rollback_environment(environment)) {
        Ok(summary) => summary,
        Err(error) => {
            eprintln!("error: the rollback of {environment} failed: {error:#}");
            return Ok(ExitCode::from(1));
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "Rolled back {} (undid {}):",
            summary.stack_name, summary.undone
        );
        for moved in &summary.moves {
            println!(
                "  {:<18} stable {} -> {}",
                moved.function, moved.from, moved.to
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The rendered definitions of an environment from the working tree.
pub(crate) fn rendered(environment: EnvironmentName) -> anyhow::Result<Rendered> {
    render_environment(environment, &load_templates()?)
        .with_context(|| format!("could not render {environment}"))
}

/// Runs the whole deploy of SPEC §3.1 for one environment.
pub(crate) async fn deploy_environment(
    environment: EnvironmentName,
    options: &DeployOptions,
) -> anyhow::Result<DeploySummary> {
    let printer = StepPrinter::new();
    use userlog_deploy::progress::Progress as _;
    let hosted_locally = environment == EnvironmentName::Local
        || options.preview_host == Some(EnvironmentName::Local);
    let local = if hosted_locally {
        printer.step("starting the local stand-ins (PostgreSQL, MiniStack)");
        Some(local_stack()?)
    } else {
        None
    };

    let built = match &options.artifacts {
        Some(dir) => {
            printer.step(&format!("reading the artifacts in {}", dir.display()));
            let manifest = userlog_build::artifact::read_built(dir)
                .with_context(|| format!("{} holds no usable build", dir.display()))?;
            BuiltFunctions {
                dir: dir.clone(),
                manifest,
            }
        }
        None => {
            printer.step("building the functions");
            let build = crate::build::build(&BuildArgs {
                functions: Vec::new(),
                out: None,
                json: options.json,
            })?;
            if !build.is_success() {
                anyhow::bail!(
                    "the build failed ({}{}); see `cargo xtask build`",
                    build.not_compiled.join(", "),
                    build
                        .rejected
                        .iter()
                        .map(|(name, error)| format!("{name}: {error}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            BuiltFunctions {
                dir: build.out_dir,
                manifest: build.manifest,
            }
        }
    };

    printer.step(&format!("rendering and validating {environment}"));
    let rendered = match (environment.pull_request(), options.preview_host) {
        (Some(number), Some(host)) => {
            userlog_infra::render_preview(number, host, &load_templates()?)
                .with_context(|| format!("could not render {environment} on {host}"))?
        }
        _ => rendered(environment)?,
    };
    let checked = crate::validate::check(&[environment], !options.no_cfn_lint)?;
    let errors = checked.errors();
    if !errors.is_empty() {
        for finding in &errors {
            eprintln!("{finding}");
        }
        anyhow::bail!(
            "the rendered definitions of {environment} have {} problem(s); fix them and check with `cargo xtask validate --env {environment}`",
            errors.len()
        );
    }
    printer.detail(&format!(
        "no problems ({}, {} source files scanned)",
        if checked.cfn_lint {
            "with cfn-lint"
        } else {
            "without cfn-lint"
        },
        checked.code_files
    ));

    let manifest = StackManifest::of(&rendered)?;
    let canary =
        userlog_deploy::canary::policy(options.canary, options.bake, manifest.release.as_ref())
            .map_err(anyhow::Error::msg)?;
    let image_dir = crate::build::image_dir(&built.dir, "import-csv");
    let image = userlog_image::Layout::read(&image_dir).with_context(|| {
        format!(
            "the build in {} has no image of import-csv; build again with `cargo xtask build`",
            built.dir.display()
        )
    })?;
    let image_tag = crate::build::image_tag(image.image.digest());
    let image_digest = image.image.digest().to_owned();
    let database_url = match &local {
        Some(local) => Some(local.database_url.clone()),
        None => options
            .database_url
            .clone()
            .or_else(|| std::env::var("DATABASE_URL").ok()),
    };
    let takes_database = manifest
        .parameters
        .iter()
        .any(|p| p == "ExternalDatabaseHost");
    let external_database = if takes_database {
        let url = database_url.as_deref().with_context(|| {
            format!(
                "{environment} uses an external database: pass --database-url or set DATABASE_URL"
            )
        })?;
        Some(external_database(url)?)
    } else {
        None
    };
    if let Some(local) = &local {
        register_import_task(local, &rendered, &image_digest, &image)?;
    }

    let (config, settings) = crate::aws_env::sdk_for(environment).await?;
    let aws = Aws::new(&config, &settings);
    let request = DeployRequest {
        target: Target::of(
            &rendered,
            options.preview_host.map(|h| h.to_string()).as_deref(),
        ),
        rendered,
        built,
        external_database,
        database_url,
        migrate_in_task: options.migrate_with == crate::cli::MigrateWith::Task,
        image_tag,
        image_digest,
        image: local.is_none().then_some(image),
        allow_destructive: options.allow_destructive,
        owner: current_owner(|name| std::env::var(name).ok()),
        canary,
    };
    Ok(userlog_deploy::flow::deploy(&aws, &request, &printer).await?)
}

/// Moves `stable` of one environment back to the versions before its last release.
pub(crate) async fn rollback_environment(
    environment: EnvironmentName,
) -> anyhow::Result<RollbackSummary> {
    let printer = StepPrinter::new();
    let rendered = rendered(environment)?;
    let manifest = StackManifest::of(&rendered)?;
    let target = Target::of(&rendered, None);
    let (config, settings) = crate::aws_env::sdk_for(environment).await?;
    let aws = Aws::new(&config, &settings);
    let owner = current_owner(|name| std::env::var(name).ok());
    Ok(userlog_deploy::rollback::rollback(&aws, &manifest, &target, &owner, &printer).await?)
}

/// The local stand-ins this deploy uses.
pub(crate) struct LocalServices {
    pub(crate) database_url: String,
    ministack: userlog_local::MiniStack,
}

/// Starts (or finds) the local PostgreSQL cluster and MiniStack.
pub(crate) fn local_stack() -> anyhow::Result<LocalServices> {
    let stack = LocalStack::discover()?;
    stack
        .up(&mut |line| eprintln!("           {line}"))
        .context("could not start the local stand-ins (`cargo xtask local up` says more)")?;
    Ok(LocalServices {
        database_url: stack.postgres.database_url()?,
        ministack: stack.ministack,
    })
}

/// The stack parameters of an external database, from its URL.
fn external_database(url: &str) -> anyhow::Result<ExternalDatabase> {
    let options: sqlx::postgres::PgConnectOptions = url
        .parse()
        .context("the database URL is not a PostgreSQL URL")?;
    let parsed = url_parts(url).context("the database URL has no user")?;
    Ok(ExternalDatabase {
        host: options.get_host().to_owned(),
        port: options.get_port(),
        name: options
            .get_database()
            .unwrap_or(options.get_username())
            .to_owned(),
        credentials_json: serde_json::json!({
            "username": options.get_username(),
            "password": parsed,
            "sslmode": ssl_mode_name(options.get_ssl_mode()),
        })
        .to_string(),
    })
}

/// The libpq name of a TLS mode, as the database secret carries it.
fn ssl_mode_name(mode: sqlx::postgres::PgSslMode) -> &'static str {
    use sqlx::postgres::PgSslMode;
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow | PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// The password of a `postgres://user:password@host/db` URL (empty when it has none).
fn url_parts(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let user_info = rest.split_once('@')?.0;
    Some(
        user_info
            .split_once(':')
            .map(|(_, password)| password.to_owned())
            .unwrap_or_default(),
    )
}

/// Tells the local emulator to run the import task's image: the image the build wrote is
/// unpacked under a name that holds its digest (so later builds do not change what a deployed
/// task runs), and its entrypoint runs from the image's own files.
fn register_import_task(
    local: &LocalServices,
    rendered: &Rendered,
    image_digest: &str,
    image: &userlog_image::Layout,
) -> anyhow::Result<()> {
    let reference =
        task_image(rendered, image_digest).context("the stack has no import task definition")?;
    let image_tag = crate::build::image_tag(image_digest);
    let tasks = local.ministack.state_dir().join("tasks");
    let root = tasks.join(format!("import-csv-{image_tag}"));
    if !root.exists() {
        let partial = tasks.join(format!("import-csv-{image_tag}.partial"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial)
                .with_context(|| format!("cannot remove {}", partial.display()))?;
        }
        image
            .unpack(&partial)
            .with_context(|| format!("cannot unpack the image into {}", partial.display()))?;
        std::fs::rename(&partial, &root)
            .with_context(|| format!("cannot write {}", root.display()))?;
    }
    let run = image.run_config()?;
    let rooted = run
        .rooted(&root)
        .context("the import-csv image has no entrypoint")?;
    let mut entry = EcsImage::program(&rooted.program);
    for (name, value) in rooted.environment {
        entry = entry.with_env(name, value);
    }
    local
        .ministack
        .register_ecs_image(&reference, entry)
        .context("cannot register the import task with the local emulator")?;
    Ok(())
}

/// The summary as text.
pub(crate) fn render_summary(summary: &DeploySummary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if summary.no_change {
        let _ = writeln!(
            out,
            "No changes: {} is already up to date (stack, migrations and function versions).",
            summary.stack_name
        );
    } else {
        let stack = match summary.stack {
            StackOutcome::Created => format!("created ({})", summary.change_counts),
            StackOutcome::Updated => format!("updated ({})", summary.change_counts),
            StackOutcome::Unchanged => "unchanged".to_owned(),
        };
        let _ = writeln!(
            out,
            "Deployed {} (the release, after the build and the checks, took {:.1} s)",
            summary.stack_name, summary.seconds
        );
        let _ = writeln!(out, "  stack       {stack}");
        let _ = writeln!(
            out,
            "  migrations  {}",
            match &summary.migrations_applied {
                None => "not run (no database URL)".to_owned(),
                Some(applied) if applied.is_empty() => "none pending".to_owned(),
                Some(applied) => applied.join(", "),
            }
        );
        let _ = writeln!(out, "  uploaded    {} artifact(s)", summary.uploaded.len());
    }
    let _ = writeln!(out, "  functions   (alias stable)");
    for (function, version) in &summary.versions {
        let moved = summary
            .released
            .iter()
            .find(|m| &m.function == function)
            .map(|m| format!("  (was {})", m.from))
            .unwrap_or_default();
        let _ = writeln!(out, "    {function:<18} {version}{moved}");
    }
    for canary in &summary.recovered_canaries {
        let _ = writeln!(
            out,
            "  recovered   the unfinished canary of {} (version {}) was rolled back; stable stayed at {}",
            canary.function, canary.canary, canary.stable
        );
    }
    if let Some(canary) = &summary.canary {
        out.push_str(&render_canary(canary));
    }
    let failed: Vec<_> = summary.health.iter().filter(|c| !c.ok).collect();
    if failed.is_empty() {
        let _ = writeln!(out, "  health      {} checks passed", summary.health.len());
    } else {
        for check in failed {
            let _ = writeln!(out, "  health      FAILED {}: {}", check.name, check.detail);
        }
    }
    out
}

/// The canary's outcome, and its phases drawn as bars proportional to their times.
pub(crate) fn render_canary(canary: &userlog_deploy::canary::CanaryReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let outcome = match &canary.outcome {
        CanaryOutcome::Promoted => "promoted".to_owned(),
        CanaryOutcome::RolledBack { reasons } => format!("ROLLED BACK ({})", reasons.join("; ")),
        CanaryOutcome::Interrupted => "ROLLED BACK (interrupted during the bake)".to_owned(),
    };
    let _ = writeln!(
        out,
        "  canary      {} % for {}, {} alarm(s) watched: {outcome}",
        canary.policy.percent,
        userlog_deploy::canary::human(canary.policy.bake),
        canary.alarms_watched
    );
    let longest = canary
        .phases
        .iter()
        .map(|p| p.seconds)
        .fold(0.0_f64, f64::max)
        .max(0.1);
    for phase in &canary.phases {
        let width = ((phase.seconds / longest) * 30.0).round() as usize;
        let bar = if width == 0 {
            "▏".to_owned()
        } else {
            "█".repeat(width)
        };
        let _ = writeln!(out, "    {:<12} {bar} {:.1} s", phase.phase, phase.seconds);
    }
    out
}
