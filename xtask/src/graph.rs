//! `cargo xtask graph`: the state machine and the architecture as Mermaid, printed or written into
//! `docs/diagrams.md`.

use std::process::ExitCode;

use anyhow::Context;
use userlog_infra::{EnvironmentName, render_environment};

use crate::cli::GraphArgs;
use crate::render::{load_templates, repo_root};

pub(crate) fn run(args: &GraphArgs) -> anyhow::Result<ExitCode> {
    let environment: EnvironmentName = args.env.parse()?;
    let rendered = render_environment(environment, &load_templates()?)
        .with_context(|| format!("could not render {environment}"))?;
    let diagrams = userlog_infra::graph::diagrams(&rendered);
    let chosen: Vec<&(String, String)> = match args.what.as_str() {
        "all" => diagrams.iter().collect(),
        name @ ("state-machine" | "architecture") => diagrams
            .iter()
            .filter(|(section, _)| section == name)
            .collect(),
        other => anyhow::bail!("`--what {other}`: choose state-machine, architecture or all"),
    };
    if !args.write {
        for (name, diagram) in chosen {
            println!("%% {name} ({environment})\n{diagram}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if environment != EnvironmentName::Staging {
        anyhow::bail!("the docs show staging: `--write` takes no other `--env`");
    }
    let path = repo_root().join("docs").join("diagrams.md");
    let current = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| userlog_infra::graph::DIAGRAMS_HEADER.to_owned());
    let mut updated = current.clone();
    for (name, diagram) in chosen {
        updated = userlog_infra::graph::replace_section(&updated, name, diagram);
    }
    if updated == current {
        println!("{} is up to date", path.display());
    } else {
        std::fs::write(&path, updated)
            .with_context(|| format!("could not write {}", path.display()))?;
        println!("updated {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
