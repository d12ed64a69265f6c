//! `cargo xtask bench` (being built).

use std::process::ExitCode;

use crate::cli::BenchArgs;

pub(crate) fn run(_args: &BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`bench` is not built yet")
}
