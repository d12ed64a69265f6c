//! Least privilege that a template cannot talk its way out of: every stack role under the stack's
//! path with the bootstrap's permissions boundary, role managers that create or change roles only
//! with that boundary, no resource policy or key administration on `*` where pull requests deploy,
//! service-linked roles only for named services, boundaries that deny identity administration,
//! and stack policies set only from the copy the bootstrap approved.

use serde_yaml::Value;

use crate::cfn::{Template, as_list};
use crate::iam::resource_covers;

/// Actions that give a role permissions: allowed only with an `iam:PermissionsBoundary` condition.
const ROLE_GRANTS: &[&str] = &[
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
];

/// Actions that would lift a boundary or rewrite one: no bootstrap role may hold them.
const BOUNDARY_LIFTS: &[&str] = &[
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeleteRolePermissionsBoundary",
    "iam:SetDefaultPolicyVersion",
];

/// Actions that set who else may use a resource.
const RESOURCE_POLICY_ACTIONS: &[&str] = &[
    "ecr:SetRepositoryPolicy",
    "events:PutPermission",
    "glue:PutResourcePolicy",
    "lambda:AddLayerVersionPermission",
    "lambda:AddPermission",
    "s3:PutBucketAcl",
    "s3:PutBucketPolicy",
    "s3:PutObjectAcl",
    "secretsmanager:PutResourcePolicy",
    "sns:AddPermission",
    "sns:SetTopicAttributes",
    "sqs:AddPermission",
    "sqs:SetQueueAttributes",
];

/// Actions that administer KMS keys (or grant their use).
const KEY_ADMINISTRATION: &[&str] = &[
    "kms:CreateGrant",
    "kms:CreateKey",
    "kms:DisableKey",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
];

/// The bootstrap role that CloudFormation assumes for preview stacks, whose templates come from
/// pull requests.
pub const PREVIEW_ROLE: &str = "PreviewCloudFormationRole";

/// Every role of the stack template carries `boundary` and lives under `path`.
pub fn check_stack_roles(
    template: &Template<'_>,
    path: &str,
    boundary: &str,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for role in template.of_type("AWS::IAM::Role") {
        if role.prop_str(&["PermissionsBoundary"]) != Some(boundary) {
            problems.push((
                role.id.to_owned(),
                format!("has no permissions boundary `{boundary}`: give it `PermissionsBoundary: ${{arns.roleBoundary}}` (the CloudFormation role creates no role without it)"),
            ));
        }
        if role.prop_str(&["Path"]) != Some(path) {
            problems.push((
                role.id.to_owned(),
                format!("is not under the stack's role path `{path}`: give it `Path: ${{names.rolePath}}` (the CloudFormation role manages roles under it only)"),
            ));
        }
    }
    problems
}

/// No role but the migration task's and the proxy's may read the database's administrative
/// secret (the stack's output `DatabaseAdminSecretArn`: the master user, or in a preview the
/// previews role): functions and tasks connect with the secret of their own login.
pub fn check_database_logins(template: &Template<'_>) -> Vec<(String, String)> {
    let Some(admin) = template
        .root()
        .get("Outputs")
        .and_then(|outputs| outputs.get("DatabaseAdminSecretArn"))
        .and_then(|output| output.get("Value"))
    else {
        return Vec::new();
    };
    let proxy_roles: Vec<&str> = template
        .of_type("AWS::RDS::DBProxy")
        .filter_map(|proxy| proxy.prop(&["RoleArn"]).and_then(Template::referenced_id))
        .collect();
    let mut problems = Vec::new();
    for role in template.of_type("AWS::IAM::Role") {
        if role.id == crate::iam::MIGRATION_TASK_ROLE || proxy_roles.contains(&role.id) {
            continue;
        }
        for statements in role.inline_statements() {
            let (allowed, _) = crate::iam::allowed_pairs(statements);
            for pair in allowed {
                let reads = matches!(
                    pair.action.as_str(),
                    "secretsmanager:GetSecretValue" | "secretsmanager:*" | "*"
                );
                if reads && (&pair.resource == admin || resource_covers(&pair.resource, admin)) {
                    problems.push((
                        role.id.to_owned(),
                        format!(
                            "statement {} reads the database's administrative secret (the master user, or a preview's previews role): code connects with its own login's secret (`database: writer` or `reader` in functions.yaml)",
                            pair.sid
                        ),
                    ));
                }
            }
        }
    }
    problems
}

/// Every action of every role of the stack template is one the boundary `boundary` (an ARN of a
/// policy the bootstrap makes) allows: a role that needs more would fail in AWS, not here.
pub fn check_roles_within_boundary(
    template: &Template<'_>,
    bootstrap: &Template<'_>,
    account_id: &str,
    boundary: &str,
) -> Vec<(String, String)> {
    let Some(policy) = bootstrap
        .of_type("AWS::IAM::ManagedPolicy")
        .find(|policy| policy_arn(policy.body, account_id).as_deref() == Some(boundary))
    else {
        return vec![(
            "bootstrap".to_owned(),
            format!("makes no permissions boundary `{boundary}`, which the stack's roles carry"),
        )];
    };
    let allowed = actions_of(policy_statements(policy.body), "Allow", false);
    let mut problems = Vec::new();
    for role in template.of_type("AWS::IAM::Role") {
        let outside: std::collections::BTreeSet<String> =
            actions_of(role_statements(role.body), "Allow", false)
                .into_iter()
                .filter(|action| matching(&allowed, &[action.as_str()]).is_empty())
                .collect();
        if !outside.is_empty() {
            problems.push((
                role.id.to_owned(),
                format!(
                    "allows {}, which its permissions boundary `{boundary}` does not: add the action to the bootstrap's boundary (`ThePipelinesServices`) or drop it",
                    outside.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    problems
}

/// The roles of the bootstrap template: what they may do to roles, resource policies and keys.
/// `role_path` is the path of the stacks' roles.
pub fn check_bootstrap_roles(
    template: &Template<'_>,
    account_id: &str,
    role_path: &str,
) -> Vec<(String, String)> {
    let boundaries: Vec<String> = template
        .of_type("AWS::IAM::ManagedPolicy")
        .filter_map(|policy| policy_arn(policy.body, account_id))
        .collect();
    let stack_roles = format!("arn:aws:iam::{account_id}:role{role_path}");
    let mut problems = Vec::new();
    for policy in template.of_type("AWS::IAM::ManagedPolicy") {
        let denied = actions_of(policy_statements(policy.body), "Deny", true);
        let must_deny = [ROLE_GRANTS, BOUNDARY_LIFTS, &["sts:AssumeRole"]].concat();
        let missing: Vec<&str> = must_deny
            .iter()
            .copied()
            .filter(|action| matching(&denied, &[action]).is_empty())
            .collect();
        if !missing.is_empty() {
            problems.push((
                format!("bootstrap {}", policy.id),
                format!(
                    "is a permissions boundary that does not deny {} on `*`: a bounded role could give itself more",
                    missing.join(", ")
                ),
            ));
        }
    }
    for role in template.of_type("AWS::IAM::Role") {
        let subject = format!("bootstrap {}", role.id);
        for statement in role_statements(role.body) {
            if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            let sid = statement
                .get("Sid")
                .and_then(Value::as_str)
                .unwrap_or("(no Sid)");
            let actions = strings(statement.get("Action"));
            let resources = strings(statement.get("Resource"));
            let condition = |operator: &str, key: &str| {
                statement
                    .get("Condition")
                    .and_then(|c| c.get(operator))
                    .and_then(|c| c.get(key))
            };
            let grants = matching(&actions, ROLE_GRANTS);
            if !grants.is_empty() {
                // Roles a preview's template makes carry the preview boundary, never the
                // platform stack's, which reaches the platform's own data.
                let kind = if role.id == PREVIEW_ROLE {
                    "-preview-boundary"
                } else {
                    "-stack-boundary"
                };
                let bounded = condition("StringEquals", "iam:PermissionsBoundary")
                    .and_then(Value::as_str)
                    .is_some_and(|arn| boundaries.iter().any(|b| b == arn && b.ends_with(kind)));
                if !bounded {
                    problems.push((subject.clone(), format!("statement {sid} allows {} without requiring the bootstrap's `*{kind}` permissions boundary (Condition StringEquals iam:PermissionsBoundary)", grants.join(", "))));
                }
                for resource in &resources {
                    if !resource.starts_with(&stack_roles) {
                        problems.push((subject.clone(), format!("statement {sid} lets roles be created or changed at `{resource}`, outside the stacks' role path `{role_path}`")));
                    }
                }
            }
            let lifts = matching(&actions, BOUNDARY_LIFTS);
            if !lifts.is_empty() {
                problems.push((
                    subject.clone(),
                    format!(
                        "statement {sid} allows {}, which would lift or rewrite a permissions boundary",
                        lifts.join(", ")
                    ),
                ));
            }
            let service_linked = matching(&actions, &["iam:CreateServiceLinkedRole"]);
            if !service_linked.is_empty()
                && condition("StringEquals", "iam:AWSServiceName").is_none()
            {
                problems.push((subject.clone(), format!("statement {sid} allows iam:CreateServiceLinkedRole for any service: name them (Condition StringEquals iam:AWSServiceName)")));
            }
            let sets_policy = matching(&actions, &["cloudformation:SetStackPolicy"]);
            if !sets_policy.is_empty()
                && condition("StringLike", "cloudformation:StackPolicyUrl").is_none()
                && condition("StringEquals", "cloudformation:StackPolicyUrl").is_none()
            {
                problems.push((subject.clone(), format!("statement {sid} allows cloudformation:SetStackPolicy from any source: require the approved copy (Condition cloudformation:StackPolicyUrl), or the stack policy restrains nobody who deploys")));
            }
            if !resources.iter().any(|r| r == "*") {
                continue;
            }
            let policies = matching(&actions, RESOURCE_POLICY_ACTIONS);
            if !policies.is_empty() {
                problems.push((subject.clone(), format!("statement {sid} allows {} on `*`: a template could open another environment's resources; name the environment's own ARNs", policies.join(", "))));
            }
            if role.id == PREVIEW_ROLE {
                let grant_for_services = condition("Bool", "kms:GrantIsForAWSResource")
                    .is_some_and(|v| v.as_str() == Some("true") || v.as_bool() == Some(true));
                let keys: Vec<&str> = matching(&actions, KEY_ADMINISTRATION)
                    .into_iter()
                    .filter(|action| !(*action == "kms:CreateGrant" && grant_for_services))
                    .collect();
                if !keys.is_empty() {
                    problems.push((subject.clone(), format!("statement {sid} allows {} on `*`: preview stacks make no keys, and a pull request could administer the platform's", keys.join(", "))));
                }
            }
        }
    }
    problems
}

/// The ARN of the managed policy `body` (a resource of the template) makes.
fn policy_arn(body: &Value, account_id: &str) -> Option<String> {
    let name = body.get("Properties")?.get("ManagedPolicyName")?.as_str()?;
    Some(format!("arn:aws:iam::{account_id}:policy/{name}"))
}

/// The statements of a managed policy.
fn policy_statements(body: &Value) -> Vec<&Value> {
    body.get("Properties")
        .and_then(|p| p.get("PolicyDocument"))
        .and_then(|d| d.get("Statement"))
        .map(as_list)
        .unwrap_or_default()
}

/// The actions of the `statements` with `effect` (with `on_any`, only those on `*`).
fn actions_of(statements: Vec<&Value>, effect: &str, on_any: bool) -> Vec<String> {
    statements
        .into_iter()
        .filter(|statement| {
            statement.get("Effect").and_then(Value::as_str) == Some(effect)
                && (!on_any || strings(statement.get("Resource")).iter().any(|r| r == "*"))
        })
        .flat_map(|statement| strings(statement.get("Action")))
        .collect()
}

/// The statements of a role's inline policies.
fn role_statements(body: &Value) -> Vec<&Value> {
    body.get("Properties")
        .and_then(|p| p.get("Policies"))
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|policy| policy.get("PolicyDocument")?.get("Statement"))
        .flat_map(as_list)
        .collect()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .map(as_list)
        .unwrap_or_default()
        .into_iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// The actions of `list` that the statement's `actions` (with wildcards, any case) cover.
fn matching<'l>(actions: &[String], list: &[&'l str]) -> Vec<&'l str> {
    list.iter()
        .copied()
        .filter(|wanted| {
            actions.iter().any(|action| {
                resource_covers(
                    &Value::String(action.to_ascii_lowercase()),
                    &Value::String(wanted.to_ascii_lowercase()),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_match_with_wildcards_in_any_case() {
        let actions = vec!["IAM:Put*".to_owned(), "s3:GetObject".to_owned()];
        assert_eq!(
            matching(&actions, ROLE_GRANTS),
            vec!["iam:PutRolePermissionsBoundary", "iam:PutRolePolicy"]
        );
        assert!(matching(&actions, RESOURCE_POLICY_ACTIONS).is_empty());
        assert_eq!(
            matching(&["*".to_owned()], BOUNDARY_LIFTS).len(),
            BOUNDARY_LIFTS.len()
        );
    }
}
