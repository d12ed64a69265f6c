//! `cargo xtask bootstrap --env E --repository OWNER/REPO [--json]`: deploys the environment's
//! bootstrap stack with its roles trusting that repository (validated first, as `validate` does),
//! and prints the role ARNs and the GitHub variables the workflows read.

use std::process::ExitCode;

use anyhow::Context as _;
use userlog_deploy::bootstrap::{BootstrapRequest, BootstrapSummary, bootstrap};
use userlog_deploy::sdk::Aws;
use userlog_infra::{EnvironmentName, render_environment};

use crate::cli::BootstrapArgs;
use crate::progress::StepPrinter;
use crate::render::load_templates;

pub(crate) fn run(args: &BootstrapArgs) -> anyhow::Result<ExitCode> {
    let environment: EnvironmentName = args.env.parse()?;
    if environment.pull_request().is_some() {
        anyhow::bail!(
            "previews have no bootstrap of their own: they use the one of the environment that hosts them (`--env staging`)"
        );
    }
    let templates = load_templates()?.with_repository(&args.repository)?;
    let rendered = render_environment(environment, &templates)
        .with_context(|| format!("could not render {environment}"))?;
    let findings: Vec<String> = userlog_infra::validate::validate(&rendered)
        .iter()
        .map(ToString::to_string)
        .collect();
    if !findings.is_empty() {
        for finding in &findings {
            eprintln!("{finding}");
        }
        anyhow::bail!(
            "the rendered definitions of {environment} for {} have {} problem(s)",
            args.repository,
            findings.len()
        );
    }
    let template = rendered
        .bootstrap
        .as_ref()
        .with_context(|| format!("{environment} has no bootstrap template"))?;
    let request = BootstrapRequest {
        environment: environment.to_string(),
        region: rendered.region.clone(),
        stack_name: format!("{}-bootstrap", rendered.stack_name),
        template: serde_json::to_value(template).context("the bootstrap is not JSON")?,
        repository: args.repository.clone(),
        stack_policy: rendered.stack_policy.to_string(),
    };
    let summary = crate::runtime()?.block_on(async {
        if environment == EnvironmentName::Local {
            crate::deploy::local_stack()?;
        }
        let (config, settings) = crate::aws_env::sdk_for(environment).await?;
        let aws = Aws::new(&config, &settings);
        anyhow::Ok(bootstrap(&aws, &request, &StepPrinter::new()).await?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", render_summary(&summary));
    }
    Ok(ExitCode::SUCCESS)
}

fn render_summary(summary: &BootstrapSummary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Bootstrap {} {:?} (roles trust {}):",
        summary.stack_name, summary.stack, summary.repository
    );
    for (name, value) in &summary.outputs {
        let _ = writeln!(out, "  {name:<30} {value}");
    }
    let _ = writeln!(out, "Set these for the workflows (GitHub CLI):");
    for variable in &summary.variables {
        let _ = writeln!(out, "  {}", variable.command(&summary.repository));
    }
    out
}
