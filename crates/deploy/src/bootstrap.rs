//! The bootstrap of one environment: the stack `<prefix>-bootstrap` (OIDC provider, deploy
//! roles, artifact bucket, image repository, lock table) created or updated from the rendered
//! bootstrap template in one change set, and what GitHub needs to know from its outputs.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::Serialize;

use crate::api::{ChangeSetKind, ChangeSetRequest, TemplateSource};
use crate::error::DeployError;
use crate::flow::StackOutcome;
use crate::progress::Progress;
use crate::sdk::Aws;
use crate::stack::{Computed, compute_change_set, execute_change_set};

/// CloudFormation's limit on a template sent in the request.
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;

/// One bootstrap to deploy.
#[derive(Debug, Clone)]
pub struct BootstrapRequest {
    /// The environment.
    pub environment: String,
    /// Its region.
    pub region: String,
    /// The stack (`<prefix>-bootstrap`).
    pub stack_name: String,
    /// The rendered bootstrap template.
    pub template: serde_json::Value,
    /// The GitHub repository the roles trust.
    pub repository: String,
    /// The environment's rendered stack policy, which the bootstrap approves (see
    /// [`crate::stack_policy`]).
    pub stack_policy: String,
}

/// A variable to set in GitHub, at the repository or in one of its environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitHubVariable {
    pub name: String,
    pub value: String,
    /// The GitHub environment it belongs to; `None`: the repository.
    pub environment: Option<String>,
}

impl GitHubVariable {
    /// The `gh` command that sets it.
    pub fn command(&self, repository: &str) -> String {
        let scope = self
            .environment
            .as_ref()
            .map(|e| format!(" --env {e}"))
            .unwrap_or_default();
        format!(
            "gh variable set {} --repo {repository}{scope} --body '{}'",
            self.name, self.value
        )
    }
}

/// What a bootstrap did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapSummary {
    pub environment: String,
    pub stack_name: String,
    pub repository: String,
    pub stack: StackOutcome,
    /// The stack's outputs (role ARNs, bucket, repository URI, lock table).
    pub outputs: BTreeMap<String, String>,
    /// Where the approved stack policy was stored in the artifact bucket.
    pub stack_policy_key: String,
    /// What to set in GitHub for the workflows.
    pub variables: Vec<GitHubVariable>,
}

/// The GitHub variables the workflows read, from a bootstrap's outputs: the deploy role in the
/// GitHub environment of the same name (each environment has its own account or role), the
/// region and, where previews live, the preview role at the repository.
pub fn github_variables(
    environment: &str,
    region: &str,
    outputs: &BTreeMap<String, String>,
) -> Vec<GitHubVariable> {
    let mut variables = Vec::new();
    if let Some(arn) = outputs.get("GitHubDeployRoleArn") {
        variables.push(GitHubVariable {
            name: "USERLOG_DEPLOY_ROLE_ARN".to_owned(),
            value: arn.clone(),
            environment: Some(environment.to_owned()),
        });
    }
    variables.push(GitHubVariable {
        name: "USERLOG_AWS_REGION".to_owned(),
        value: region.to_owned(),
        environment: None,
    });
    if let Some(arn) = outputs.get("GitHubPreviewRoleArn") {
        variables.push(GitHubVariable {
            name: "USERLOG_PREVIEW_ROLE_ARN".to_owned(),
            value: arn.clone(),
            environment: None,
        });
    }
    variables
}

/// Creates or updates the bootstrap stack and waits for it.
pub async fn bootstrap(
    aws: &Aws,
    request: &BootstrapRequest,
    progress: &dyn Progress,
) -> Result<BootstrapSummary, DeployError> {
    let body =
        serde_json::to_string(&request.template).map_err(|e| DeployError::other(e.to_string()))?;
    if body.len() > TEMPLATE_BODY_LIMIT {
        return Err(DeployError::other(format!(
            "the bootstrap template is {} bytes, over the {TEMPLATE_BODY_LIMIT} CloudFormation takes in a request",
            body.len()
        )));
    }
    let existing = aws.describe_stack(&request.stack_name).await?;
    progress.step(&format!(
        "{} {} (roles trust {})",
        if existing.is_some() {
            "updating"
        } else {
            "creating"
        },
        request.stack_name,
        request.repository
    ));
    let change_set = ChangeSetRequest {
        stack_name: request.stack_name.clone(),
        name: format!("bootstrap-{}", crate::flow::deploy_id(Utc::now())),
        kind: if existing.is_some() {
            ChangeSetKind::Update
        } else {
            ChangeSetKind::Create
        },
        template: TemplateSource::Body(body),
        parameters: BTreeMap::new(),
        capabilities: vec!["CAPABILITY_NAMED_IAM".to_owned()],
        role_arn: None,
        description: format!("cargo xtask bootstrap --env {}", request.environment),
        tags: BTreeMap::new(),
    };
    let stack = match compute_change_set(aws, &change_set).await? {
        Computed::Empty => {
            progress.detail("the bootstrap stack is up to date");
            StackOutcome::Unchanged
        }
        Computed::Changes(state) => {
            progress.detail(&format!("{} change(s)", state.changes.len()));
            execute_change_set(aws, &request.stack_name, &change_set.name, progress).await?;
            if existing.is_some() {
                StackOutcome::Updated
            } else {
                StackOutcome::Created
            }
        }
    };
    let outputs = aws
        .describe_stack(&request.stack_name)
        .await?
        .map(|s| s.outputs)
        .unwrap_or_default();
    let bucket = outputs.get("ArtifactBucketName").ok_or_else(|| {
        DeployError::other(format!(
            "{} has no output ArtifactBucketName",
            request.stack_name
        ))
    })?;
    let stack_policy_key = crate::stack_policy::approved_key(&request.stack_policy);
    progress.step(&format!(
        "approving the stack policy (s3://{bucket}/{stack_policy_key}, which deploys may read but not write)"
    ));
    aws.put_bytes(
        bucket,
        &stack_policy_key,
        request.stack_policy.clone().into_bytes(),
        "application/json",
    )
    .await?;
    let variables = github_variables(&request.environment, &request.region, &outputs);
    Ok(BootstrapSummary {
        environment: request.environment.clone(),
        stack_name: request.stack_name.clone(),
        repository: request.repository.clone(),
        stack,
        outputs,
        stack_policy_key,
        variables,
    })
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn the_variables_the_workflows_read_come_from_the_outputs() {
        let outputs: BTreeMap<String, String> = [
            (
                "GitHubDeployRoleArn",
                "arn:aws:iam::1:role/staging-userlog-github-deploy",
            ),
            (
                "GitHubPreviewRoleArn",
                "arn:aws:iam::1:role/staging-userlog-github-preview",
            ),
            ("ArtifactBucketName", "staging-userlog-artifacts-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let commands: Vec<String> = github_variables("staging", "ap-northeast-1", &outputs)
            .iter()
            .map(|v| v.command("acme/userlog"))
            .collect();
        expect![[r#"
            [
                "gh variable set USERLOG_DEPLOY_ROLE_ARN --repo acme/userlog --env staging --body 'arn:aws:iam::1:role/staging-userlog-github-deploy'",
                "gh variable set USERLOG_AWS_REGION --repo acme/userlog --body 'ap-northeast-1'",
                "gh variable set USERLOG_PREVIEW_ROLE_ARN --repo acme/userlog --body 'arn:aws:iam::1:role/staging-userlog-github-preview'",
            ]
        "#]]
        .assert_debug_eq(&commands);
        let production = github_variables("production", "ap-northeast-1", &BTreeMap::new());
        assert_eq!(production.len(), 1, "only the region without outputs");
    }
}
