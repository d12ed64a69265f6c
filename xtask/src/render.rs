//! `cargo xtask render`: renders one environment's documents into a directory, or checks the committed ones.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use userlog_infra::{EnvironmentName, Templates, output, render_environment};

use crate::cli::RenderArgs;

/// The repository root (the parent of `xtask/`).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The source templates of the working tree.
pub(crate) fn load_templates() -> anyhow::Result<Templates> {
    let dir = repo_root().join("templates");
    Templates::load(&dir)
        .with_context(|| format!("could not read the templates in {}", dir.display()))
}

/// The directory that holds the committed rendering of an environment.
pub(crate) fn committed_dir(environment: EnvironmentName) -> PathBuf {
    repo_root().join("rendered").join(environment.to_string())
}

pub(crate) fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let environment: EnvironmentName = args.env.parse()?;
    let templates = load_templates()?;
    let rendered = render_environment(environment, &templates)
        .with_context(|| format!("could not render {environment}"))?;
    let files = rendered.files();
    if args.check {
        let dir = args
            .out
            .clone()
            .unwrap_or_else(|| committed_dir(environment));
        let stale = output::stale_files(&dir, &files);
        if args.json {
            println!(
                "{}",
                serde_json::json!({"environment": environment.to_string(), "dir": dir, "stale": stale})
            );
        }
        if stale.is_empty() {
            if !args.json {
                println!("{} is up to date ({} files)", dir.display(), files.len());
            }
            return Ok(ExitCode::SUCCESS);
        }
        if !args.json {
            eprintln!(
                "{} is stale ({}): run `cargo xtask render --env {environment} --out {}`",
                dir.display(),
                stale.join(", "),
                dir.strip_prefix(repo_root()).unwrap_or(&dir).display()
            );
        }
        return Ok(ExitCode::FAILURE);
    }
    let dir = args.out.clone().unwrap_or_else(|| {
        repo_root()
            .join("target")
            .join("rendered")
            .join(environment.to_string())
    });
    output::write_dir(&dir, &files)
        .with_context(|| format!("could not write {}", dir.display()))?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"environment": environment.to_string(), "dir": dir, "files": files.keys().collect::<Vec<_>>()})
        );
    } else {
        println!("rendered {environment} into {}:", dir.display());
        for (name, text) in &files {
            println!("  {name} ({} bytes)", text.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
