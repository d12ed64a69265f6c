//! Where the local state of this checkout lives: `<repository root>/.local/`, or `USERLOG_LOCAL_DIR`.

use std::path::{Path, PathBuf};

use crate::error::LocalError;

/// The environment variable that moves the local state somewhere else than `<repository root>/.local`.
pub const LOCAL_DIR_ENV: &str = "USERLOG_LOCAL_DIR";

/// The directory that holds the state of every local stand-in, one subdirectory per service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// Uses exactly this directory (tests use a temporary one so they do not touch the shared cluster).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `USERLOG_LOCAL_DIR` when set; otherwise `.local` in the repository root found above the
    /// current directory, or above `CARGO_MANIFEST_DIR` (set by `cargo run` and `cargo test`).
    pub fn discover() -> Result<Self, LocalError> {
        if let Some(dir) = std::env::var_os(LOCAL_DIR_ENV).filter(|v| !v.is_empty()) {
            return Ok(Self::new(absolute(Path::new(&dir))?));
        }
        let current =
            std::env::current_dir().map_err(LocalError::io("read", "the current directory"))?;
        let mut starts = vec![current.clone()];
        if let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
            starts.push(PathBuf::from(manifest_dir));
        }
        starts
            .iter()
            .find_map(|start| find_workspace_root(start))
            .map(|root| Self::new(root.join(".local")))
            .ok_or(LocalError::RepoRootNotFound { start: current })
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The state directory of one service, e.g. `.local/postgres`.
    pub fn service_dir(&self, service: &str) -> PathBuf {
        self.root.join(service)
    }
}

/// The nearest directory at or above `start` whose `Cargo.toml` declares a `[workspace]`.
pub fn find_workspace_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        is_workspace_manifest(&manifest).then(|| dir.to_path_buf())
    })
}

/// Whether a `Cargo.toml` text has a `[workspace]` table header on a line of its own.
pub fn is_workspace_manifest(manifest: &str) -> bool {
    manifest.lines().any(|line| {
        let line = line.split('#').next().unwrap_or_default().trim();
        line == "[workspace]"
    })
}

fn absolute(path: &Path) -> Result<PathBuf, LocalError> {
    std::path::absolute(path).map_err(LocalError::io("resolve", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_manifests_are_recognised_by_their_table_header() {
        assert!(is_workspace_manifest("[workspace]\nmembers = [\"a\"]\n"));
        assert!(is_workspace_manifest(
            "[package]\nname = \"x\"\n\n  [workspace]  # the root\n"
        ));
        assert!(!is_workspace_manifest(
            "[workspace.package]\nversion = \"1\"\n"
        ));
        assert!(!is_workspace_manifest("[package]\nworkspace = \"../..\"\n"));
        assert!(!is_workspace_manifest("# [workspace]\n[package]\n"));
    }

    #[test]
    fn this_crate_lies_inside_the_workspace() {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root =
            find_workspace_root(manifest_dir).expect("the workspace root is above this crate");
        assert!(manifest_dir.starts_with(&root));
        assert!(root.join("crates").is_dir());
    }
}
