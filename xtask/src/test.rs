//! `cargo xtask test`: installs what the tests need, then runs every test of the workspace.

use std::process::{Command, ExitCode};

use anyhow::Context as _;

use crate::cli::TestArgs;

pub(crate) fn run(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let root = crate::workspace_root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(&root)
        .args(["test", "--workspace", "--locked"])
        .args(&args.cargo_args)
        .status()
        .context("cannot run cargo test")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
