//! Deploying the dashboard, a directory of static files, to Cloudflare Pages through its
//! direct-upload API: production deployments (branch `main`), branch previews (`pr-<N>`) with
//! their URLs, and the removal of a branch's previews (never a production deployment).
//!
//! The calls are behind the small [`Pages`] trait; [`client::CloudflarePages`] is its
//! implementation over `reqwest`, configured by [`settings`] from `CLOUDFLARE_ACCOUNT_ID`,
//! `CLOUDFLARE_API_TOKEN` and `CLOUDFLARE_API_BASE_URL` (without an account and a token the
//! Pages steps are skipped). The decisions are pure functions with their own tests: what a
//! directory deploys and under which hashes ([`site`]), how uploads are cut into requests
//! ([`site::buckets`]), how Cloudflare's answers read ([`api`]), the deployment request's body
//! ([`multipart`]), and which deployments belong to a branch and may be deleted ([`branches`]).

pub mod api;
pub mod branches;
pub mod client;
pub mod multipart;
pub mod settings;
pub mod site;

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use api::ApiMessage;
pub use branches::{
    PRODUCTION_BRANCH, branch_alias, branch_url, deletable, pr_branch, pr_number, previews_by_pr,
};
pub use client::{CloudflarePages, Project};
pub use settings::{PagesSettings, SettingsError};

/// A failed Pages operation.
#[derive(Debug, thiserror::Error)]
pub enum PagesError {
    /// Cloudflare answered with an error (or with `success: false`).
    #[error(
        "Cloudflare {operation} failed (HTTP {status}): {}{}",
        api::describe(errors, detail),
        hint.as_ref().map(|h| format!(". {h}")).unwrap_or_default()
    )]
    Api {
        /// What was called (`GET /accounts/{id}/pages/projects/dashboard`).
        operation: String,
        /// The HTTP status.
        status: u16,
        /// Cloudflare's error codes and messages.
        errors: Vec<ApiMessage>,
        /// The start of the body, when it was not Cloudflare's envelope.
        detail: Option<String>,
        /// What to do about it, when the codes tell.
        hint: Option<String>,
    },
    /// No answer came (connection refused, DNS, TLS, time-out), after every retry.
    #[error("could not reach Cloudflare for {operation}: {detail}")]
    Unreachable {
        /// What was called.
        operation: String,
        /// Why, with the error's causes.
        detail: String,
    },
    /// An answer came that says `success: true` but does not read as documented.
    #[error("Cloudflare {operation} answered something unexpected: {detail}")]
    Unexpected {
        /// What was called.
        operation: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The directory cannot be deployed as it is.
    #[error("cannot deploy {}: {detail}", path.display())]
    Site {
        /// The directory or the file at fault.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The request would do something this crate never does, or names something invalid.
    #[error("refused: {0}")]
    Refused(String),
}

/// Which of a project's environments a deployment is in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Environment {
    /// A deployment of the project's production branch, served at `<project>.pages.dev`.
    Production,
    /// A deployment of any other branch, served at `<alias>.<project>.pages.dev`.
    Preview,
    /// A name Cloudflare did not use when this was written; never deleted.
    Other(String),
}

impl Environment {
    /// Cloudflare's name (`production`, `preview`).
    pub fn as_str(&self) -> &str {
        match self {
            Environment::Production => "production",
            Environment::Preview => "preview",
            Environment::Other(name) => name,
        }
    }
}

impl From<String> for Environment {
    fn from(name: String) -> Self {
        match name.as_str() {
            "production" => Environment::Production,
            "preview" => Environment::Preview,
            _ => Environment::Other(name),
        }
    }
}

impl From<Environment> for String {
    fn from(environment: Environment) -> Self {
        environment.as_str().to_owned()
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A deployment of a Pages project, as a listing or a new deployment reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Its id (a UUID), for [`Pages::delete_deployment`].
    pub id: String,
    /// Its own URL, `https://<short id>.<project subdomain>`, which never moves.
    pub url: String,
    /// The branch it was deployed from (`main`, `pr-7`).
    pub branch: String,
    /// Production or preview.
    pub environment: Environment,
    /// The alias URLs that point to it (the branch's, while it is the branch's newest).
    pub aliases: Vec<String>,
    /// When it was created (RFC 3339), when Cloudflare says.
    pub created_on: Option<String>,
}

/// What [`Pages::deploy`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployed {
    /// The new deployment.
    pub deployment: Deployment,
    /// The URL that follows the branch: `https://<project subdomain>` for production,
    /// `https://<branch alias>.<project subdomain>` for a preview (`https://pr-7.dashboard.pages.dev`).
    pub branch_url: String,
    /// Files in the deployment.
    pub files: usize,
    /// Files whose content was sent (the rest Cloudflare already had).
    pub uploaded: usize,
    /// What went wrong without failing the deployment.
    pub warnings: Vec<String>,
}

/// What the deploy steps and the preview tooling do with a Pages project.
pub trait Pages: Sync {
    /// Uploads the files of `dir` that Cloudflare lacks and creates a deployment of all of them
    /// from `branch` ([`PRODUCTION_BRANCH`] for production), creating the project first when it
    /// does not exist.
    fn deploy(
        &self,
        dir: &Path,
        branch: &str,
    ) -> impl Future<Output = Result<Deployed, PagesError>> + Send;

    /// Every deployment of `environment`, newest first, over every page of the listing.
    fn list_deployments(
        &self,
        environment: Environment,
    ) -> impl Future<Output = Result<Vec<Deployment>, PagesError>> + Send;

    /// Deletes one deployment, even while a branch alias points to it.
    fn delete_deployment(&self, id: &str) -> impl Future<Output = Result<(), PagesError>> + Send;
}

/// Deletes every preview deployment of `branch` and nothing else: no production deployment, no
/// deployment of another branch. Returns the ids deleted, oldest first. Refuses the production
/// branch.
pub async fn delete_branch(pages: &impl Pages, branch: &str) -> Result<Vec<String>, PagesError> {
    branches::check_deletable_branch(branch)?;
    let listed = pages.list_deployments(Environment::Preview).await?;
    let mut ids = deletable(&listed, branch);
    ids.reverse();
    for id in &ids {
        pages.delete_deployment(id).await?;
    }
    Ok(ids)
}
