//! Cargo subcommands the tooling runs (cargo-hakari, cargo-deny), each installed pinned with
//! `cargo install --locked` into `.local/<name>` on first use.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

/// The binary of `name` at exactly `version`, installed into `.local/<name>` when missing.
pub(crate) fn install(root: &Path, name: &str, version: &str) -> anyhow::Result<PathBuf> {
    let prefix = root.join(".local").join(name);
    let binary = prefix.join("bin").join(name);
    let installed = Command::new(&binary)
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(version));
    if installed {
        return Ok(binary);
    }
    eprintln!("installing {name} {version} into {}", prefix.display());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["install", name, "--locked", "--version", version, "--root"])
        .arg(&prefix)
        .status()
        .context("cannot run cargo install")?;
    anyhow::ensure!(status.success(), "cargo install {name} {version} failed");
    Ok(binary)
}
