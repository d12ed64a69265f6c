//! `cargo xtask validate` (being built).

use std::process::ExitCode;

use crate::cli::ValidateArgs;

pub(crate) fn run(_args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`validate` is not built yet")
}
