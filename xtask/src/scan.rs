//! `cargo xtask scan secrets|deps|checkov|zizmor`: the security workflow's checks, each with its
//! tool installed pinned under `.local/` (Python tools in their own virtualenvs, cargo-deny with
//! `cargo install`). Exit 0 clean, 1 findings, 2 could not run.

use std::process::{Command, ExitCode};

use anyhow::Context as _;
use userlog_infra::scan::{
    CHECKOV_REQUIREMENT, DETECT_SECRETS_REQUIREMENT, ZIZMOR_REQUIREMENT, parse_checkov,
};
use userlog_infra::{EnvironmentName, render_environment};

use crate::cli::{ScanArgs, ScanCheck};
use crate::render::{load_templates, repo_root};
use crate::validate::{python_tool, write_for_linters};

/// The cargo-deny release `scan deps` runs (with `deny.toml`).
const CARGO_DENY_VERSION: &str = "0.20.2";

pub(crate) fn run(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    match args.check {
        ScanCheck::Secrets => secrets(),
        ScanCheck::Deps => deps(),
        ScanCheck::Checkov => checkov(),
        ScanCheck::Zizmor => zizmor(),
    }
}

fn exit_of(clean: bool) -> ExitCode {
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// detect-secrets over the files git tracks, against the committed baseline
/// (`.secrets.baseline`: fixtures that only look like secrets, each reviewed).
fn secrets() -> anyhow::Result<ExitCode> {
    let program = python_tool("detect-secrets", DETECT_SECRETS_REQUIREMENT)?;
    let root = repo_root();
    let hook = program.with_file_name("detect-secrets-hook");
    let files = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(&root)
        .output()
        .context("cannot run git ls-files")?;
    anyhow::ensure!(files.status.success(), "git ls-files failed");
    let files: Vec<String> = files
        .stdout
        .split(|&b| b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .filter(|f| f != ".secrets.baseline" && f != "Cargo.lock")
        .collect();
    let status = Command::new(&hook)
        .args(["--baseline", ".secrets.baseline"])
        .args(&files)
        .current_dir(&root)
        .status()
        .with_context(|| format!("cannot run {}", hook.display()))?;
    if !status.success() {
        eprintln!(
            "error: detect-secrets found a secret that the baseline does not list (see above); remove it, or if it is a \
             fixture, mark the line `# pragma: allowlist secret` or add it with `detect-secrets scan --baseline .secrets.baseline`"
        );
    }
    Ok(exit_of(status.success()))
}

/// cargo-deny: advisories, licences, bans and sources as `deny.toml` says.
fn deps() -> anyhow::Result<ExitCode> {
    let root = repo_root();
    let deny = crate::cargo_tool::install(&root, "cargo-deny", CARGO_DENY_VERSION)?;
    let status = Command::new(&deny)
        .args(["--locked", "check"])
        .current_dir(&root)
        .status()
        .with_context(|| format!("cannot run {}", deny.display()))?;
    Ok(exit_of(status.success()))
}

/// checkov over the rendered templates of every environment.
fn checkov() -> anyhow::Result<ExitCode> {
    let program = python_tool("checkov", CHECKOV_REQUIREMENT)?;
    let templates = load_templates()?;
    let mut failing = 0;
    for environment in EnvironmentName::CHECKED {
        let rendered = render_environment(environment, &templates)
            .with_context(|| format!("could not render {environment}"))?;
        let mut command = Command::new(&program);
        command
            .args(["--framework", "cloudformation", "--output", "json"])
            .arg("--skip-download");
        // checkov reads each file's path into the resources it parses, and its check for secrets
        // in Lambda variables then judges that path too: run it in the rendering's directory on
        // bare file names, so that where the clone lives cannot fail the scan.
        for file in write_for_linters(&rendered)? {
            if let (Some(dir), Some(name)) = (file.parent(), file.file_name()) {
                command.current_dir(dir).arg("--file").arg(name);
            }
        }
        let output = command
            .output()
            .with_context(|| format!("cannot run {}", program.display()))?;
        let findings = parse_checkov(&String::from_utf8_lossy(&output.stdout))
            .map_err(|e| anyhow::anyhow!("{e}\n{}", String::from_utf8_lossy(&output.stderr)))?;
        let failed: Vec<_> = findings.iter().filter(|f| f.fails()).collect();
        let skipped = findings.len() - failed.len();
        eprintln!(
            "checkov {environment}: {} failing, {skipped} skipped with a reason",
            failed.len()
        );
        for finding in &failed {
            println!("{environment}: {finding}");
        }
        failing += failed.len();
    }
    if failing > 0 {
        eprintln!(
            "error: {failing} checkov finding(s): fix the template, or skip the check in the resource's Metadata \
             (`checkov: {{skip: [{{id: CKV_..., comment: why it does not apply}}]}}`)"
        );
    }
    Ok(exit_of(failing == 0))
}

/// zizmor over the workflows: no finding of medium severity or above.
fn zizmor() -> anyhow::Result<ExitCode> {
    let program = python_tool("zizmor", ZIZMOR_REQUIREMENT)?;
    let status = Command::new(&program)
        .args(["--offline", "--min-severity", "medium", ".github/workflows"])
        .current_dir(repo_root())
        .status()
        .with_context(|| format!("cannot run {}", program.display()))?;
    Ok(exit_of(status.success()))
}
