//! `cargo xtask local` (being built).

use std::process::ExitCode;

use crate::cli::LocalArgs;

pub(crate) fn run(_args: &LocalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`local` is not built yet")
}
