//! `cargo xtask migrate` (being built).

use std::process::ExitCode;

use crate::cli::MigrateArgs;

pub(crate) fn run(_args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`migrate` is not built yet")
}
