//! `cargo xtask graph` (being built).

use std::process::ExitCode;

use crate::cli::GraphArgs;

pub(crate) fn run(_args: &GraphArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`graph` is not built yet")
}
