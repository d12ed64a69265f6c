//! `cargo xtask demo` (being built).

use std::process::ExitCode;

use crate::cli::DemoArgs;

pub(crate) fn run(_args: &DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`demo` is not built yet")
}
