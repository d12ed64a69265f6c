//! `cargo xtask hakari`: regenerates `crates/workspace-hack` with cargo-hakari (installed pinned
//! into `.local/cargo-hakari` on first use), so that every build resolves the same features.

use std::process::{Command, ExitCode};

use anyhow::Context as _;

use crate::cli::HakariArgs;

/// The cargo-hakari release the workspace-hack is generated with.
const HAKARI_VERSION: &str = "0.9.39";

pub(crate) fn run(args: &HakariArgs) -> anyhow::Result<ExitCode> {
    let root = crate::workspace_root();
    let hakari = crate::cargo_tool::install(&root, "cargo-hakari", HAKARI_VERSION)?;
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
