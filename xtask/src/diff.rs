//! `cargo xtask diff` (being built).

use std::process::ExitCode;

use crate::cli::DiffArgs;

pub(crate) fn run(_args: &DiffArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`diff` is not built yet")
}
