//! `cargo xtask hakari`: regenerates `crates/workspace-hack` with cargo-hakari (installed pinned
//! into `.local/cargo-hakari` on first use), so that every build resolves the same features.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::Context as _;

use crate::cli::HakariArgs;

/// The cargo-hakari release the workspace-hack is generated with.
const HAKARI_VERSION: &str = "0.9.39";

pub(crate) fn run(args: &HakariArgs) -> anyhow::Result<ExitCode> {
    let root = crate::workspace_root();
    let hakari = install(&root)?;
    let steps: &[&[&str]] = if args.check {
        &[
            &["hakari", "generate", "--diff"],
            &["hakari", "manage-deps", "--dry-run"],
        ]
    } else {
        &[&["hakari", "generate"], &["hakari", "manage-deps", "--yes"]]
    };
    for step in steps {
        let status = Command::new(&hakari)
            .args(*step)
            .current_dir(&root)
            .status()
            .with_context(|| format!("cannot run {}", hakari.display()))?;
        if !status.success() {
            eprintln!(
                "error: `cargo {}` says the workspace-hack is not current{}",
                step.join(" "),
                if args.check {
                    "; run `cargo xtask hakari` and commit what it changes"
                } else {
                    ""
                }
            );
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The pinned cargo-hakari binary, installed with `cargo install` when it is missing.
fn install(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    let prefix = root.join(".local").join("cargo-hakari");
    let binary = prefix.join("bin").join("cargo-hakari");
    let installed = Command::new(&binary)
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(HAKARI_VERSION));
    if installed {
        return Ok(binary);
    }
    eprintln!(
        "installing cargo-hakari {HAKARI_VERSION} into {}",
        prefix.display()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args([
            "install",
            "cargo-hakari",
            "--locked",
            "--version",
            HAKARI_VERSION,
            "--root",
        ])
        .arg(&prefix)
        .status()
        .context("cannot run cargo install")?;
    anyhow::ensure!(status.success(), "cargo install cargo-hakari failed");
    Ok(binary)
}
