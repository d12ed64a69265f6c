//! The GitHub side of previews: which pull requests are open, the one comment a preview keeps up
//! to date on its pull request (found by a hidden marker), and GitHub deployments with their
//! statuses. The calls are behind the small [`GitHub`] trait; [`client::OctocrabGitHub`] is its
//! implementation on `octocrab`, configured from the variables GitHub Actions sets.

pub mod client;
pub mod comment;
pub mod settings;

use std::future::Future;

use serde::{Deserialize, Serialize};

pub use client::OctocrabGitHub;
pub use settings::{GitHubSettings, Repository};

/// A failed GitHub call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("GitHub {operation} failed{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
pub struct GitHubError {
    /// What was called (`GET /repos/o/r/pulls/7`).
    pub operation: String,
    /// The HTTP status, when GitHub answered.
    pub status: Option<u16>,
    /// What went wrong.
    pub message: String,
}

/// Whether a pull request is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullState {
    /// Open.
    Open,
    /// Closed (merged or not).
    Closed,
}

/// What the previews need of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    /// Its number.
    pub number: u64,
    /// Open or closed.
    pub state: PullState,
    /// The commit at its head.
    pub head_sha: String,
    /// The commit of its base branch.
    pub base_sha: String,
    /// Its base branch.
    pub base_ref: String,
    /// Its page.
    pub html_url: String,
}

/// An issue comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comment {
    /// Its id.
    pub id: u64,
    /// Its Markdown.
    pub body: String,
}

/// The state of a deployment status, as GitHub names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// Being deployed.
    InProgress,
    /// Deployed.
    Success,
    /// The deploy failed.
    Failure,
    /// Gone (the preview was removed).
    Inactive,
}

impl DeploymentState {
    /// GitHub's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failure",
            DeploymentState::Inactive => "inactive",
        }
    }
}

/// A GitHub deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deployment {
    /// Its id.
    pub id: u64,
    /// The commit deployed.
    pub sha: String,
    /// The environment.
    pub environment: String,
}

/// The calls the previews make. Every method is one documented REST endpoint.
pub trait GitHub: Sync {
    /// `GET /repos/{owner}/{repo}/pulls/{number}`; `None` when there is no such pull request.
    fn pull_request(
        &self,
        number: u64,
    ) -> impl Future<Output = Result<Option<PullRequest>, GitHubError>> + Send;

    /// `GET /repos/{owner}/{repo}/issues/{number}/comments`, every page.
    fn comments(
        &self,
        number: u64,
    ) -> impl Future<Output = Result<Vec<Comment>, GitHubError>> + Send;

    /// `POST /repos/{owner}/{repo}/issues/{number}/comments`.
    fn create_comment(
        &self,
        number: u64,
        body: &str,
    ) -> impl Future<Output = Result<Comment, GitHubError>> + Send;

    /// `PATCH /repos/{owner}/{repo}/issues/comments/{id}`.
    fn update_comment(
        &self,
        id: u64,
        body: &str,
    ) -> impl Future<Output = Result<Comment, GitHubError>> + Send;

    /// `POST /repos/{owner}/{repo}/deployments` for `sha` into `environment`.
    fn create_deployment(
        &self,
        sha: &str,
        environment: &str,
        description: &str,
    ) -> impl Future<Output = Result<Deployment, GitHubError>> + Send;

    /// `GET /repos/{owner}/{repo}/deployments?environment=...`, newest first.
    fn deployments(
        &self,
        environment: &str,
    ) -> impl Future<Output = Result<Vec<Deployment>, GitHubError>> + Send;

    /// `POST /repos/{owner}/{repo}/deployments/{id}/statuses`.
    fn set_deployment_status(
        &self,
        deployment: u64,
        state: DeploymentState,
        environment_url: Option<&str>,
        description: &str,
    ) -> impl Future<Output = Result<(), GitHubError>> + Send;
}

/// What [`upsert_comment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommentOutcome {
    /// There was no marked comment: one was posted.
    Created,
    /// The marked comment was rewritten.
    Updated,
    /// The marked comment already said this.
    Unchanged,
}

/// The first comment that carries `marker`.
pub fn marked<'a>(comments: &'a [Comment], marker: &str) -> Option<&'a Comment> {
    comments
        .iter()
        .find(|comment| comment.body.contains(marker))
}

/// Posts `body` (which must carry `marker`) as the pull request's one marked comment: updates the
/// comment that carries the marker, or posts one when there is none.
pub async fn upsert_comment(
    github: &impl GitHub,
    number: u64,
    marker: &str,
    body: &str,
) -> Result<(u64, CommentOutcome), GitHubError> {
    debug_assert!(body.contains(marker), "the body carries the marker");
    let comments = github.comments(number).await?;
    match marked(&comments, marker) {
        Some(existing) if existing.body == body => Ok((existing.id, CommentOutcome::Unchanged)),
        Some(existing) => {
            let updated = github.update_comment(existing.id, body).await?;
            Ok((updated.id, CommentOutcome::Updated))
        }
        None => {
            let created = github.create_comment(number, body).await?;
            Ok((created.id, CommentOutcome::Created))
        }
    }
}

/// Marks the environment's newest deployment with `state` (`inactive` after a removal); `None`
/// when the environment has no deployment.
pub async fn mark_latest_deployment(
    github: &impl GitHub,
    environment: &str,
    state: DeploymentState,
    description: &str,
) -> Result<Option<u64>, GitHubError> {
    let deployments = github.deployments(environment).await?;
    let Some(latest) = deployments.first() else {
        return Ok(None);
    };
    github
        .set_deployment_status(latest.id, state, None, description)
        .await?;
    Ok(Some(latest.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marked_comment_is_the_first_that_carries_the_marker() {
        let comments = vec![
            Comment {
                id: 1,
                body: "looks good".to_owned(),
            },
            Comment {
                id: 2,
                body: "<!-- userlog-preview -->\nold".to_owned(),
            },
            Comment {
                id: 3,
                body: "quoting <!-- userlog-preview --> again".to_owned(),
            },
        ];
        assert_eq!(
            marked(&comments, "<!-- userlog-preview -->").map(|c| c.id),
            Some(2)
        );
        assert_eq!(marked(&comments, "<!-- other -->"), None);
    }

    #[test]
    fn deployment_states_have_github_names() {
        let names: Vec<&str> = [
            DeploymentState::InProgress,
            DeploymentState::Success,
            DeploymentState::Failure,
            DeploymentState::Inactive,
        ]
        .into_iter()
        .map(DeploymentState::as_str)
        .collect();
        assert_eq!(names, ["in_progress", "success", "failure", "inactive"]);
    }
}
