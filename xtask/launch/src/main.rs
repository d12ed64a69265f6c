//! `cargo xtask`'s first step: builds the tooling, then runs it with the same arguments.
//!
//! The alias in `.cargo/config.toml` runs this tiny binary quietly. It builds the `xtask` package
//! in release and shows cargo's output only when there is something to show: on a first run (or
//! after a change) a newcomer sees what is being compiled, with cargo's progress bar on a
//! terminal; when the tooling is already built, the single `Finished` line is dropped and nothing
//! is printed before the command's own output.

use std::ffi::OsString;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

mod filter;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let exe_dir = match std::env::current_exe() {
        Ok(path) => path.parent().map(Path::to_path_buf).unwrap_or_default(),
        Err(err) => {
            eprintln!("error: cannot tell where cargo xtask runs from: {err}");
            return ExitCode::from(2);
        }
    };
    if let Err(code) = build_tooling() {
        return code;
    }
    run_tooling(
        &exe_dir.join(format!("xtask{}", std::env::consts::EXE_SUFFIX)),
        &args,
    )
}

/// Builds `xtask` in release; cargo's output reaches stderr only when it says more than `Finished`.
fn build_tooling() -> Result<(), ExitCode> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let terminal = std::io::stderr().is_terminal();
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--package", "xtask"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if terminal {
        // The pipe is not a terminal: ask for what cargo would show on one.
        command.env("CARGO_TERM_COLOR", "always");
        command.env("CARGO_TERM_PROGRESS_WHEN", "always");
        let width = std::env::var("COLUMNS")
            .ok()
            .filter(|w| w.parse::<u16>().is_ok());
        command.env(
            "CARGO_TERM_PROGRESS_WIDTH",
            width.as_deref().unwrap_or("80"),
        );
    }
    let mut child = command.spawn().map_err(|err| {
        eprintln!("error: cannot run cargo to build the tooling: {err}");
        ExitCode::from(2)
    })?;
    let mut output = child.stderr.take().expect("stderr is piped");
    let mut filter = filter::Filter::default();
    let mut stderr = std::io::stderr();
    let mut chunk = [0u8; 8192];
    loop {
        match output.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                let shown = filter.push(&chunk[..n]);
                let _ = stderr.write_all(&shown);
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = stderr.write_all(&filter.finish());
    let status = child.wait().map_err(|err| {
        eprintln!("error: cargo did not finish building the tooling: {err}");
        ExitCode::from(2)
    })?;
    if status.success() {
        Ok(())
    } else {
        eprintln!("error: the tooling did not build (cargo build --release --package xtask)");
        Err(ExitCode::from(2))
    }
}

#[cfg(unix)]
fn run_tooling(xtask: &PathBuf, args: &[OsString]) -> ExitCode {
    use std::os::unix::process::CommandExt as _;
    let err = Command::new(xtask).args(args).exec();
    eprintln!("error: cannot run {}: {err}", xtask.display());
    ExitCode::from(2)
}

#[cfg(not(unix))]
fn run_tooling(xtask: &PathBuf, args: &[OsString]) -> ExitCode {
    match Command::new(xtask).args(args).status() {
        Ok(status) => ExitCode::from(status.code().unwrap_or(2).clamp(0, 255) as u8),
        Err(err) => {
            eprintln!("error: cannot run {}: {err}", xtask.display());
            ExitCode::from(2)
        }
    }
}
