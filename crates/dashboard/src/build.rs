//! Building the dashboard: `npm ci` when the lock file changed since the last install (the
//! packages are pinned exactly in `dashboard/package-lock.json`), then the app's own `npm run
//! build` (type check, then Vite) into an output directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::DashboardError;
use crate::toolchain::Node;

/// Where the last install records the lock file it installed.
const INSTALL_STAMP: &str = "node_modules/.userlog-installed-lock";

/// A built site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// Its directory.
    pub dir: PathBuf,
    /// Its files (relative, `/`-separated) and their sizes, sorted.
    pub files: Vec<(String, u64)>,
    /// Whether the packages were installed first.
    pub installed: bool,
}

/// Whether the packages must be installed: the lock file's hash is not the one last installed.
pub fn needs_install(lock_sha256: &str, stamp: Option<&str>) -> bool {
    stamp.map(str::trim) != Some(lock_sha256)
}

fn run(command: &mut Command) -> Result<(), DashboardError> {
    let shown = format!("{command:?}").replace('"', "");
    let output = command.output().map_err(|e| DashboardError::Step {
        command: shown.clone(),
        status: "did not start".to_owned(),
        output: e.to_string(),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    Err(DashboardError::Step {
        command: shown,
        status: output.status.to_string(),
        output: lines[lines.len().saturating_sub(40)..].join("\n"),
    })
}

/// Builds the app in `source` (the `dashboard/` folder) into `out`, replacing what was there.
pub fn build(node: &Node, source: &Path, out: &Path) -> Result<Built, DashboardError> {
    let lock = source.join("package-lock.json");
    let lock_bytes = std::fs::read(&lock).map_err(DashboardError::io("read", &lock))?;
    let lock_sha256 = hex::encode(Sha256::digest(&lock_bytes));
    let stamp_path = source.join(INSTALL_STAMP);
    let stamp = std::fs::read_to_string(&stamp_path).ok();
    // npm runs its scripts with the node next to it first on PATH.
    let path = match (node.node.parent(), std::env::var_os("PATH")) {
        (Some(dir), Some(path)) => std::env::join_paths(
            std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path)),
        )
        .unwrap_or(path),
        (_, path) => path.unwrap_or_default(),
    };
    let npm = |args: &[&str]| {
        let mut command = Command::new(&node.npm);
        command
            .args(args)
            .current_dir(source)
            .env("PATH", &path)
            .env("NO_UPDATE_NOTIFIER", "1");
        command
    };
    let installed = needs_install(&lock_sha256, stamp.as_deref());
    if installed {
        run(&mut npm(&[
            "ci",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ]))?;
        std::fs::write(&stamp_path, &lock_sha256)
            .map_err(DashboardError::io("write", &stamp_path))?;
    }
    let out_text = out.to_string_lossy().into_owned();
    run(&mut npm(&[
        "run",
        "build",
        "--silent",
        "--",
        "--outDir",
        &out_text,
        "--emptyOutDir",
        "--logLevel",
        "warn",
    ]))?;
    Ok(Built {
        dir: out.to_path_buf(),
        files: files(out)?,
        installed,
    })
}

/// The files under `dir` (relative, `/`-separated) and their sizes, sorted.
pub fn files(dir: &Path) -> Result<Vec<(String, u64)>, DashboardError> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) -> Result<(), DashboardError> {
        let entries = std::fs::read_dir(dir).map_err(DashboardError::io("list", dir))?;
        for entry in entries {
            let entry = entry.map_err(DashboardError::io("list", dir))?;
            let path = entry.path();
            let meta = entry
                .metadata()
                .map_err(DashboardError::io("read", &path))?;
            if meta.is_dir() {
                walk(root, &path, out)?;
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((relative, meta.len()));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_are_installed_when_the_lock_file_changed() {
        assert!(needs_install("abc", None));
        assert!(needs_install("abc", Some("abd")));
        assert!(!needs_install("abc", Some("abc\n")));
    }
}
