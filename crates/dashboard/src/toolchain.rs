//! The Node.js that builds the dashboard: the `node` and `npm` on `PATH`, when `node` is at least
//! the oldest version Vite supports; otherwise the project's own (see `install`).

use std::path::PathBuf;
use std::process::Command;

use crate::DashboardError;

/// The oldest Node.js that Vite (and so the dashboard's build) runs on.
pub const MINIMUM_NODE: (u32, u32) = (20, 19);
const MINIMUM_NODE_TEXT: &str = "20.19";

/// A Node.js and its npm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub node: PathBuf,
    pub npm: PathBuf,
    /// `node --version` without the `v`.
    pub version: String,
}

/// The `(major, minor)` of `node --version`'s `v20.19.1`, if it is one.
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().strip_prefix('v')?.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether a `node --version` can build the dashboard.
pub fn is_supported(version: &str) -> bool {
    parse_version(version).is_some_and(|v| v >= MINIMUM_NODE)
}

fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

impl Node {
    /// The `node` and `npm` on `PATH`, or why they cannot build the dashboard.
    pub fn find() -> Result<Node, DashboardError> {
        let missing = |found: String| DashboardError::NodeMissing {
            minimum: MINIMUM_NODE_TEXT,
            found,
        };
        let node = in_path("node").ok_or_else(|| missing("no `node` on PATH".to_owned()))?;
        let npm = in_path("npm").ok_or_else(|| missing("no `npm` on PATH".to_owned()))?;
        let output = Command::new(&node)
            .arg("--version")
            .output()
            .map_err(|e| missing(format!("`node --version` did not run: {e}")))?;
        let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !is_supported(&version) {
            return Err(missing(format!("found node {version}")));
        }
        Ok(Node {
            node,
            npm,
            version: version.trim_start_matches('v').to_owned(),
        })
    }
}

impl Node {
    /// The Node.js on PATH when it can build the dashboard, else the project's own under
    /// `local_dir` (`.local`), installed first when it is not there yet.
    pub async fn find_or_install(local_dir: &std::path::Path) -> Result<Node, DashboardError> {
        match Node::find() {
            Ok(node) => Ok(node),
            Err(why) => {
                if let Some(node) = crate::install::installed(local_dir) {
                    return Ok(node);
                }
                tracing::info!(reason = %why, "installing the project's own Node.js");
                eprintln!(
                    "{why}: installing Node.js {} and npm {} from the npm registry into {}...",
                    crate::install::NODE.version,
                    crate::install::NPM.version,
                    local_dir.join("node").display()
                );
                crate::install::install(local_dir).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_20_19_build() {
        for (text, supported) in [
            ("v20.19.0", true),
            ("v20.20.2\n", true),
            ("v22.1.0", true),
            ("v24.22.3", true),
            ("v20.18.9", false),
            ("v18.20.4", false),
            ("20.19.0", false),
            ("vX", false),
            ("", false),
        ] {
            assert_eq!(is_supported(text), supported, "{text:?}");
        }
        assert_eq!(parse_version("v20.19.1"), Some((20, 19)));
    }
}
