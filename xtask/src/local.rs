//! `cargo xtask local up|down|status|env`: the local stand-ins of this checkout (a throwaway
//! PostgreSQL cluster and the AWS emulator, MiniStack), their state kept under `.local/` in the
//! repository root.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use userlog_local::{LocalStack, render_exports, render_report, render_status};

use crate::cli::{LocalAction, LocalArgs};

pub(crate) fn run(args: &LocalArgs) -> anyhow::Result<ExitCode> {
    let stack = LocalStack::discover()
        .context("cannot tell where the local state of this checkout lives")?;
    // Slow steps are announced on stderr, so that stdout stays clean for `--json` and `env`.
    let mut progress = |step: &str| eprintln!("{step}");
    match args.action {
        LocalAction::Up => {
            let report = stack
                .up(&mut progress)
                .context("starting the local stand-ins failed")?;
            print_output(args.json, &report, || render_report(&report))?;
        }
        LocalAction::Down => {
            let report = stack
                .down(&mut progress)
                .context("stopping the local stand-ins failed")?;
            print_output(args.json, &report, || render_report(&report))?;
        }
        LocalAction::Status => {
            let status = stack
                .status()
                .context("reading the state of the local stand-ins failed")?;
            print_output(args.json, &status, || render_status(&status))?;
        }
        LocalAction::Env => {
            let vars = stack
                .env()
                .context("the local stand-ins have no environment to print")?;
            let as_map: BTreeMap<&str, &str> = vars
                .iter()
                .map(|var| (var.name.as_str(), var.value.as_str()))
                .collect();
            print_output(args.json, &as_map, || render_exports(&vars))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints `value` as JSON, or the human text.
fn print_output<T: Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).context("cannot serialise the output")?
        );
    } else {
        print!("{}", text());
    }
    Ok(())
}
