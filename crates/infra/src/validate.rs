//! `validate`: every static check of a rendering, as findings that name the state, role or resource.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use serde_yaml::Value;

use crate::cfn::{Template, as_list};
use crate::iam::allowed_pairs;
use crate::render::{Rendered, STATE_MACHINE_ID, STATEFUL_TYPES};
use crate::tools::CfnLintFinding;

/// Which check found something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The template as a whole (stateful resources, substitutions, conditional references).
    Template,
    /// The state machine definition.
    Asl,
    /// IAM roles.
    Iam,
    /// EventBridge rules.
    Events,
    /// CloudWatch alarms.
    Alarms,
    /// SDK calls in the code.
    Code,
    /// cfn-lint.
    CfnLint,
    /// The database connection budget.
    Budget,
    /// The data lake's table against what the export writes.
    Lake,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Check::Template => "template",
            Check::Asl => "asl",
            Check::Iam => "iam",
            Check::Events => "events",
            Check::Alarms => "alarms",
            Check::Code => "code",
            Check::CfnLint => "cfn-lint",
            Check::Budget => "budget",
            Check::Lake => "lake",
        })
    }
}

/// Whether a finding fails validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fails validation.
    Error,
    /// Shown, does not fail.
    Info,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// The environment (or `code` for the code scan, which is the same for all).
    pub environment: String,
    /// The check.
    pub check: Check,
    /// What it is about: a state, a role, a resource, a file and line.
    pub subject: String,
    /// What is wrong.
    pub message: String,
    /// Error or info.
    pub level: Level,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Info => "info",
        };
        write!(
            f,
            "{level}[{}] {} {}: {}",
            self.check, self.environment, self.subject, self.message
        )
    }
}

fn findings(environment: &str, check: Check, problems: Vec<(String, String)>) -> Vec<Finding> {
    problems
        .into_iter()
        .map(|(subject, message)| Finding {
            environment: environment.to_owned(),
            check,
            subject,
            message,
            level: Level::Error,
        })
        .collect()
}

/// Every static check of one rendering (everything but the code scan and cfn-lint).
pub fn validate(rendered: &Rendered) -> Vec<Finding> {
    let environment = rendered.environment.to_string();
    let template = rendered.cfn();
    let mut out = Vec::new();
    out.extend(findings(
        &environment,
        Check::Template,
        check_template(rendered, &template),
    ));
    out.extend(findings(
        &environment,
        Check::Template,
        crate::conditions::check(&template),
    ));
    match rendered.state_machine() {
        Some(definition) => {
            let known_errors: BTreeSet<String> = rendered
                .principals
                .iter()
                .flat_map(|p| p.errors.iter().cloned())
                .collect();
            out.extend(findings(
                &environment,
                Check::Asl,
                crate::asl::check(definition, &known_errors),
            ));
            out.extend(findings(
                &environment,
                Check::Events,
                crate::events::check_definition_input(definition),
            ));
        }
        None => out.push(Finding {
            environment: environment.clone(),
            check: Check::Template,
            subject: STATE_MACHINE_ID.to_owned(),
            message: "the template has no import state machine with a Definition".to_owned(),
            level: Level::Error,
        }),
    }
    out.extend(findings(
        &environment,
        Check::Iam,
        crate::iam::check_roles(&template, &rendered.principals, &rendered.reasons),
    ));
    out.extend(findings(
        &environment,
        Check::Iam,
        crate::privilege::check_stack_roles(
            &template,
            &rendered.role_path,
            &rendered.role_boundary,
        ),
    ));
    out.extend(findings(
        &environment,
        Check::Iam,
        crate::privilege::check_database_logins(&template),
    ));
    out.extend(findings(
        &environment,
        Check::Events,
        crate::events::check_rules(&template, STATE_MACHINE_ID),
    ));
    let custom: Vec<String> = rendered
        .principals
        .iter()
        .flat_map(|p| p.metrics.iter().cloned())
        .collect();
    out.extend(findings(
        &environment,
        Check::Alarms,
        crate::alarms::check_alarms(&template, (&rendered.metrics_namespace, &custom)),
    ));
    out.extend(findings(
        &environment,
        Check::Budget,
        crate::budget::check(rendered).1,
    ));
    if let Some(bootstrap) = &rendered.bootstrap {
        let bootstrap = Template::new(bootstrap, &rendered.region, &rendered.account_id);
        out.extend(findings(
            &environment,
            Check::Iam,
            check_deploy_roles(&bootstrap, &rendered.repository, &rendered.reasons),
        ));
        out.extend(findings(
            &environment,
            Check::Iam,
            crate::privilege::check_roles_within_boundary(
                &template,
                &bootstrap,
                &rendered.account_id,
                &rendered.role_boundary,
            ),
        ));
        out.extend(findings(
            &environment,
            Check::Iam,
            crate::privilege::check_bootstrap_roles(
                &bootstrap,
                &rendered.account_id,
                &rendered.role_path,
            ),
        ));
    }
    out.sort();
    out.dedup();
    out
}

/// The code scan, as findings.
pub fn validate_code(files: &[(String, String)], rendered: &Rendered) -> Vec<Finding> {
    findings(
        "code",
        Check::Code,
        crate::codescan::check_code(files, &rendered.principals),
    )
}

/// The Glue table of the data lake against `columns`, the `(name, Glue type)` pairs the export
/// writes (`userlog_export::columns::glue_columns`), in file order.
pub fn validate_lake(rendered: &Rendered, columns: &[(&str, &str)]) -> Vec<Finding> {
    findings(
        &rendered.environment.to_string(),
        Check::Lake,
        crate::lake::check_table(&rendered.cfn(), columns),
    )
}

/// cfn-lint's findings as ours: errors and warnings fail, informational ones are shown.
pub fn cfn_lint_findings(environment: &str, lint: &[CfnLintFinding]) -> Vec<Finding> {
    lint.iter()
        .map(|finding| Finding {
            environment: environment.to_owned(),
            check: Check::CfnLint,
            subject: format!("{}:{} {}", finding.file, finding.line, finding.path),
            message: format!("{} {}", finding.rule, finding.message),
            level: if finding.level == "Informational" {
                Level::Info
            } else {
                Level::Error
            },
        })
        .collect()
}

fn check_template(rendered: &Rendered, template: &Template<'_>) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let retains = rendered.stack_policy["Statement"][1]["Resource"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for resource in template.resources() {
        if !STATEFUL_TYPES.contains(&resource.kind) {
            continue;
        }
        let deletion = resource.body.get("DeletionPolicy").and_then(Value::as_str);
        let replace = resource
            .body
            .get("UpdateReplacePolicy")
            .and_then(Value::as_str);
        if deletion.is_none() || replace.is_none() {
            problems.push((
                resource.id.to_owned(),
                "is stateful but lacks DeletionPolicy or UpdateReplacePolicy".to_owned(),
            ));
        }
        let keeps = |policy: Option<&str>| {
            matches!(policy, Some("Retain" | "Snapshot" | "RetainExceptOnCreate"))
        };
        if rendered.retain_data && !(keeps(deletion) && keeps(replace)) {
            problems.push((resource.id.to_owned(), "is stateful and would be lost with the stack: DeletionPolicy and UpdateReplacePolicy must be Retain or Snapshot".to_owned()));
        }
        if !retains
            .iter()
            .any(|entry| entry.as_str() == Some(&format!("LogicalResourceId/{}", resource.id)))
        {
            problems.push((
                resource.id.to_owned(),
                "is stateful but the stack policy does not protect it".to_owned(),
            ));
        }
    }
    for machine in template.of_type("AWS::StepFunctions::StateMachine") {
        let Some(definition) = machine.prop(&["Definition"]) else {
            continue;
        };
        let text = serde_json::to_string(definition).unwrap_or_default();
        let substitutions = machine
            .prop(&["DefinitionSubstitutions"])
            .and_then(Value::as_mapping);
        let defined: BTreeSet<&str> = substitutions
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| k.as_str())
            .collect();
        let mut used = BTreeSet::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let end = after.find('}').unwrap_or(after.len());
            used.insert(after[..end].to_owned());
            rest = &after[end.min(after.len())..];
        }
        for name in &used {
            if !defined.contains(name.as_str()) {
                problems.push((machine.id.to_owned(), format!("the definition uses `${{{name}}}`, which DefinitionSubstitutions does not define")));
            }
        }
        for name in defined {
            if !used.contains(name) {
                problems.push((machine.id.to_owned(), format!("DefinitionSubstitutions defines `{name}`, which the definition does not use")));
            }
        }
    }
    problems
}

/// What a GitHub OIDC token subject names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum GitHubSubject {
    /// `repo:R:ref:refs/heads/B` (or a tag): any job on that ref.
    Ref,
    /// `repo:R:environment:E`: a job in that environment.
    Environment,
    /// `repo:R:pull_request`: a pull request's job.
    PullRequest,
}

/// What `sub` names, when it names exactly one ref, environment or pull request of `repository`
/// (no wildcard, no other repository).
fn github_subject(sub: &str, repository: &str) -> Option<GitHubSubject> {
    let rest = sub.strip_prefix(&format!("repo:{repository}:"))?;
    if sub.contains(['*', '?']) {
        return None;
    }
    let named = |value: &str| !value.is_empty() && !value.contains(':');
    if rest == "pull_request" {
        Some(GitHubSubject::PullRequest)
    } else if let Some(name) = rest.strip_prefix("environment:") {
        named(name).then_some(GitHubSubject::Environment)
    } else if let Some(reference) = rest.strip_prefix("ref:refs/") {
        let name = reference
            .strip_prefix("heads/")
            .or_else(|| reference.strip_prefix("tags/"))?;
        named(name).then_some(GitHubSubject::Ref)
    } else {
        None
    }
}

/// The deploy roles of the bootstrap template: their form, and that only this repository's
/// workflows can assume the ones GitHub assumes.
fn check_deploy_roles(
    template: &Template<'_>,
    repository: &str,
    reasons: &crate::iam::Reasons,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for role in template.of_type("AWS::IAM::Role") {
        let subject = format!("bootstrap {}", role.id);
        for statements in role.inline_statements() {
            let (pairs, form) = allowed_pairs(statements);
            problems.extend(form.into_iter().map(|p| (subject.clone(), p)));
            let unreasoned: BTreeSet<&str> = pairs
                .iter()
                .filter(|pair| {
                    pair.resource.as_str() == Some("*")
                        && !reasons.contains_key(&(role.id.to_owned(), pair.sid.clone()))
                })
                .map(|pair| pair.sid.as_str())
                .collect();
            for sid in unreasoned {
                problems.push((
                    subject.clone(),
                    format!(
                        "statement {sid} allows resource `*` without a written reason (`Reason:`)"
                    ),
                ));
            }
        }
        for statement in role
            .prop(&["AssumeRolePolicyDocument", "Statement"])
            .map(as_list)
            .unwrap_or_default()
        {
            let federated = statement
                .get("Principal")
                .and_then(|p| p.get("Federated"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !federated.ends_with("oidc-provider/token.actions.githubusercontent.com") {
                continue;
            }
            let conditions = statement.get("Condition");
            if conditions.and_then(|c| c.get("StringLike")).is_some() {
                problems.push((
                    subject.clone(),
                    "trusts GitHub with StringLike: name the subjects exactly (StringEquals)"
                        .to_owned(),
                ));
            }
            let equals = conditions.and_then(|c| c.get("StringEquals"));
            if equals
                .and_then(|e| e.get("token.actions.githubusercontent.com:aud"))
                .and_then(Value::as_str)
                != Some("sts.amazonaws.com")
            {
                problems.push((
                    subject.clone(),
                    "trusts GitHub without requiring the audience sts.amazonaws.com".to_owned(),
                ));
            }
            let subjects = equals
                .and_then(|e| e.get("token.actions.githubusercontent.com:sub"))
                .map(as_list)
                .unwrap_or_default();
            if subjects.is_empty() {
                problems.push((subject.clone(), "trusts every GitHub repository: require token.actions.githubusercontent.com:sub".to_owned()));
            }
            let subjects: Vec<&str> = subjects
                .iter()
                .map(|sub| sub.as_str().unwrap_or_default())
                .collect();
            for sub in &subjects {
                if github_subject(sub, repository).is_none() {
                    problems.push((subject.clone(), format!("trusts the subject `{sub}`, which is not exactly a ref, environment or pull request of {repository}")));
                }
            }
            let kinds: BTreeSet<GitHubSubject> = subjects
                .iter()
                .filter_map(|sub| github_subject(sub, repository))
                .collect();
            if kinds.contains(&GitHubSubject::Environment) && kinds.contains(&GitHubSubject::Ref) {
                problems.push((
                    subject.clone(),
                    "trusts a branch as well as an environment: a job on the branch would skip the environment's protection rules".to_owned(),
                ));
            }
        }
    }
    problems
}
