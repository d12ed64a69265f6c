//! `cargo xtask render` (being built).

use std::process::ExitCode;

use crate::cli::RenderArgs;

pub(crate) fn run(_args: &RenderArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`render` is not built yet")
}
