//! [`GitHub`] on `octocrab`: its generic REST calls with the documented routes, and the few fields
//! of GitHub's payloads the previews read.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::{
    Comment, Deployment, DeploymentState, GitHub, GitHubError, GitHubSettings, PullRequest,
    PullState,
};

/// The longest description GitHub takes on a deployment status.
const MAX_DESCRIPTION: usize = 140;

/// The most items GitHub returns on one page.
const PER_PAGE: usize = 100;

/// The GitHub REST API through `octocrab`.
#[derive(Debug, Clone)]
pub struct OctocrabGitHub {
    client: octocrab::Octocrab,
    repository: String,
}

impl OctocrabGitHub {
    /// A client of the API and repository the settings name, authenticated with their token.
    pub fn new(settings: &GitHubSettings) -> Result<Self, GitHubError> {
        let failed = |message: String| GitHubError {
            operation: "client set-up".to_owned(),
            status: None,
            message,
        };
        let client = octocrab::Octocrab::builder()
            .base_uri(settings.api_url.as_str())
            .map_err(|e| failed(format!("GITHUB_API_URL `{}`: {e}", settings.api_url)))?
            .personal_token(settings.token.clone())
            .build()
            .map_err(|e| failed(e.to_string()))?;
        Ok(OctocrabGitHub {
            client,
            repository: format!(
                "/repos/{}/{}",
                settings.repository.owner, settings.repository.name
            ),
        })
    }

    fn route(&self, rest: &str) -> String {
        format!("{}{rest}", self.repository)
    }
}

fn call_error(operation: &str, error: octocrab::Error) -> GitHubError {
    match error {
        octocrab::Error::GitHub { source, .. } => GitHubError {
            operation: operation.to_owned(),
            status: Some(source.status_code.as_u16()),
            message: source.message.clone(),
        },
        other => GitHubError {
            operation: operation.to_owned(),
            status: None,
            message: other.to_string(),
        },
    }
}

#[derive(Deserialize)]
struct PullPayload {
    number: u64,
    state: String,
    html_url: String,
    head: RefPayload,
    base: RefPayload,
}

#[derive(Deserialize)]
struct RefPayload {
    sha: String,
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Deserialize)]
struct CommentPayload {
    id: u64,
    #[serde(default)]
    body: Option<String>,
}

impl From<CommentPayload> for Comment {
    fn from(payload: CommentPayload) -> Self {
        Comment {
            id: payload.id,
            body: payload.body.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
struct DeploymentPayload {
    id: u64,
    sha: String,
    environment: String,
}

impl From<DeploymentPayload> for Deployment {
    fn from(payload: DeploymentPayload) -> Self {
        Deployment {
            id: payload.id,
            sha: payload.sha,
            environment: payload.environment,
        }
    }
}

impl OctocrabGitHub {
    async fn get<R: DeserializeOwned>(
        &self,
        route: &str,
        query: &[(&str, String)],
    ) -> Result<R, GitHubError> {
        self.client
            .get(route, Some(query))
            .await
            .map_err(|e| call_error(&format!("GET {route}"), e))
    }

    /// Every page of a list.
    async fn all<R: DeserializeOwned>(
        &self,
        route: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<R>, GitHubError> {
        let mut items = Vec::new();
        for page in 1.. {
            let mut query = query.to_vec();
            query.push(("per_page", PER_PAGE.to_string()));
            query.push(("page", page.to_string()));
            let batch: Vec<R> = self.get(route, &query).await?;
            let last = batch.len() < PER_PAGE;
            items.extend(batch);
            if last {
                break;
            }
        }
        Ok(items)
    }
}

impl GitHub for OctocrabGitHub {
    async fn pull_request(&self, number: u64) -> Result<Option<PullRequest>, GitHubError> {
        let route = self.route(&format!("/pulls/{number}"));
        let payload: PullPayload = match self.get(&route, &[]).await {
            Ok(payload) => payload,
            Err(error) if error.status == Some(404) => return Ok(None),
            Err(error) => return Err(error),
        };
        Ok(Some(PullRequest {
            number: payload.number,
            state: if payload.state == "open" {
                PullState::Open
            } else {
                PullState::Closed
            },
            head_sha: payload.head.sha,
            base_sha: payload.base.sha,
            base_ref: payload.base.name,
            html_url: payload.html_url,
        }))
    }

    async fn comments(&self, number: u64) -> Result<Vec<Comment>, GitHubError> {
        let route = self.route(&format!("/issues/{number}/comments"));
        let payloads: Vec<CommentPayload> = self.all(&route, &[]).await?;
        Ok(payloads.into_iter().map(Comment::from).collect())
    }

    async fn create_comment(&self, number: u64, body: &str) -> Result<Comment, GitHubError> {
        let route = self.route(&format!("/issues/{number}/comments"));
        let payload: CommentPayload = self
            .client
            .post(&route, Some(&json!({ "body": body })))
            .await
            .map_err(|e| call_error(&format!("POST {route}"), e))?;
        Ok(payload.into())
    }

    async fn update_comment(&self, id: u64, body: &str) -> Result<Comment, GitHubError> {
        let route = self.route(&format!("/issues/comments/{id}"));
        let payload: CommentPayload = self
            .client
            .patch(&route, Some(&json!({ "body": body })))
            .await
            .map_err(|e| call_error(&format!("PATCH {route}"), e))?;
        Ok(payload.into())
    }

    async fn create_deployment(
        &self,
        sha: &str,
        environment: &str,
        description: &str,
    ) -> Result<Deployment, GitHubError> {
        let route = self.route("/deployments");
        let payload: DeploymentPayload = self
            .client
            .post(
                &route,
                Some(&json!({
                    "ref": sha,
                    "environment": environment,
                    "description": description,
                    "auto_merge": false,
                    "required_contexts": [],
                    "transient_environment": true,
                    "production_environment": false,
                })),
            )
            .await
            .map_err(|e| call_error(&format!("POST {route}"), e))?;
        Ok(payload.into())
    }

    async fn deployments(&self, environment: &str) -> Result<Vec<Deployment>, GitHubError> {
        let route = self.route("/deployments");
        let payloads: Vec<DeploymentPayload> = self
            .all(&route, &[("environment", environment.to_owned())])
            .await?;
        Ok(payloads.into_iter().map(Deployment::from).collect())
    }

    async fn set_deployment_status(
        &self,
        deployment: u64,
        state: DeploymentState,
        environment_url: Option<&str>,
        description: &str,
    ) -> Result<(), GitHubError> {
        let route = self.route(&format!("/deployments/{deployment}/statuses"));
        let mut body = json!({
            "state": state.as_str(),
            "description": crate::comment::shorten(description, MAX_DESCRIPTION),
            "auto_inactive": state == DeploymentState::Success,
        });
        if let Some(url) = environment_url {
            body["environment_url"] = json!(url);
        }
        let _: serde_json::Value = self
            .client
            .post(&route, Some(&body))
            .await
            .map_err(|e| call_error(&format!("POST {route}"), e))?;
        Ok(())
    }
}
