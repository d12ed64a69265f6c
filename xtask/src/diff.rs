//! `cargo xtask diff --against REV`: renders the working tree and a git revision with the same code
//! and shows what changes, per resource and per state.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::{Command, ExitCode};

use anyhow::Context;
use userlog_infra::diff::{diff, render_text};
use userlog_infra::{EnvironmentName, Templates, render_environment};

use crate::cli::DiffArgs;
use crate::render::{load_templates, repo_root};

fn git(args: &[&str]) -> anyhow::Result<std::process::Output> {
    Command::new("git")
        .args(args)
        .current_dir(repo_root())
        .output()
        .context("could not run git")
}

/// The `templates/` of a git revision, read with `git ls-tree` and `git show`.
fn templates_at(revision: &str) -> anyhow::Result<Templates> {
    let commit = format!("{revision}^{{commit}}");
    let verified = git(&["rev-parse", "--verify", "--quiet", &commit])?;
    if !verified.status.success() {
        anyhow::bail!(
            "`{revision}` is not a commit of this repository (a repository without commits has no HEAD yet)"
        );
    }
    let listing = git(&["ls-tree", "-r", "--name-only", revision, "--", "templates/"])?;
    if !listing.status.success() {
        anyhow::bail!(
            "git ls-tree {revision} failed: {}",
            String::from_utf8_lossy(&listing.stderr).trim()
        );
    }
    let paths: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    if paths.is_empty() {
        anyhow::bail!(
            "`{revision}` has no templates/ directory, so there is nothing to compare against: compare with a later revision"
        );
    }
    let mut files = BTreeMap::new();
    for path in paths {
        let shown = git(&["show", &format!("{revision}:{path}")])?;
        if !shown.status.success() {
            anyhow::bail!(
                "git show {revision}:{path} failed: {}",
                String::from_utf8_lossy(&shown.stderr).trim()
            );
        }
        let text = String::from_utf8(shown.stdout)
            .with_context(|| format!("{revision}:{path} is not UTF-8"))?;
        files.insert(path.trim_start_matches("templates/").to_owned(), text);
    }
    Ok(Templates::from_files(files))
}

/// What changes from `revision` to the working tree in one environment's rendering, as text
/// (what `diff --against` prints): `render` renders the environment from a set of templates.
pub(crate) fn text_against(
    revision: &str,
    render: impl Fn(&Templates) -> Result<userlog_infra::Rendered, userlog_infra::InfraError>,
) -> anyhow::Result<String> {
    let new = render(&load_templates()?).context("could not render the working tree")?;
    let old = render(&templates_at(revision)?)
        .with_context(|| format!("could not render {revision} with the current code"))?;
    Ok(render_text(&diff(&old, &new), false))
}

/// The commit the working tree is at.
pub(crate) fn head_commit() -> anyhow::Result<String> {
    let output = git(&["rev-parse", "HEAD"])?;
    if !output.status.success() {
        anyhow::bail!(
            "git rev-parse HEAD failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub(crate) fn run(args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let environment: EnvironmentName = args.env.parse()?;
    let new = render_environment(environment, &load_templates()?)
        .with_context(|| format!("could not render {environment} from the working tree"))?;
    let old_templates = templates_at(&args.against)?;
    let old = render_environment(environment, &old_templates).with_context(|| {
        format!(
            "could not render {environment} from {} with the current code",
            args.against
        )
    })?;
    let difference = diff(&old, &new);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&difference)?);
    } else {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!("{}", render_text(&difference, color));
    }
    Ok(ExitCode::SUCCESS)
}
