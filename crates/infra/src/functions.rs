//! The functions and tasks of `templates/functions.yaml`, and the IAM grants their needs become.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

use crate::error::InfraError;
use crate::iam::{Grant, kms_actions_for};

const FILE: &str = "functions.yaml";

/// `templates/functions.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunctionsFile {
    /// The CloudWatch namespace of the custom metrics.
    pub metrics_namespace: String,
    /// Every function and task, by its name (the directory under `functions/`).
    pub functions: BTreeMap<String, FunctionSpec>,
}

/// How a piece of code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FunctionKind {
    /// A Lambda function (`provided.al2023`).
    Lambda,
    /// A Fargate task.
    EcsTask,
}

/// One function or task as declared.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunctionSpec {
    /// Lambda or ECS task.
    pub kind: FunctionKind,
    /// What it does, in one sentence.
    pub description: String,
    /// Lambda memory (MiB).
    #[serde(default)]
    pub memory: Option<u32>,
    /// Lambda timeout.
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
    /// Whether the Lambda runs in the VPC.
    #[serde(default)]
    pub vpc: bool,
    /// Whether it connects to the database, and as which login (it gets the `DATABASE_*`
    /// variables, `DATABASE_SECRET_ARN` naming that login's secret).
    #[serde(default, deserialize_with = "database_access")]
    pub database: Option<DatabaseAccess>,
    /// Error names it raises for the state machine's Retry and Catch.
    #[serde(default)]
    pub errors: Vec<String>,
    /// Custom metrics it publishes.
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Environment variables (rendered as strings).
    #[serde(default)]
    pub environment: Mapping,
    /// What it needs from AWS.
    #[serde(default)]
    pub needs: Vec<Need>,
    /// Whether the function has no package under `functions/` yet: the stack then creates it, and
    /// what serves only it, only when a deploy supplies its code key (Lambda functions only).
    #[serde(default)]
    pub planned: bool,
}

/// The login a function or task connects to the database as (crates/db/src/roles.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseAccess {
    /// Reads and writes rows (the import path).
    Writer,
    /// Only reads (the API, the export).
    Reader,
    /// `database: true`, the form before the database had roles: the one secret the stack had.
    /// Read only so that older revisions still render (`diff --against`); `validate` refuses a
    /// function on it.
    Legacy,
}

impl DatabaseAccess {
    /// The parameter holding its secret's ARN.
    pub fn secret_param(self) -> &'static str {
        match self {
            Self::Writer => "refs.databaseWriterSecretArn",
            Self::Reader => "refs.databaseReaderSecretArn",
            Self::Legacy => "refs.databaseSecretArn",
        }
    }
}

/// `database:` as `writer`, `reader`, or the older `true`/`false`.
fn database_access<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DatabaseAccess>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Field {
        Flag(bool),
        Access(DatabaseAccess),
    }
    Ok(match Option::<Field>::deserialize(deserializer)? {
        None | Some(Field::Flag(false)) => None,
        Some(Field::Flag(true)) => Some(DatabaseAccess::Legacy),
        Some(Field::Access(access)) => Some(access),
    })
}

/// One need: actions on one catalog resource.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Need {
    /// IAM actions (`service:Action`, no wildcards).
    pub actions: Vec<String>,
    /// A `catalog` entry of resources.yaml, or `*`.
    pub resource: String,
    /// Why a need on `*` cannot be narrower.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A function or task with its names resolved and its grants derived.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    /// The name in functions.yaml (`validate-csv`).
    pub key: String,
    /// The UpperCamel id that prefixes its logical ids (`ValidateCsv`).
    pub id: String,
    /// Lambda or ECS task.
    pub kind: FunctionKind,
    /// The full name (`staging-userlog-validate-csv`).
    pub name: String,
    /// The logical id of its role.
    pub role_id: String,
    /// What its role must allow, exactly.
    pub grants: Vec<Grant>,
    /// For a task: what its execution role must allow, exactly.
    pub execution_grants: Vec<Grant>,
    /// The actions it declared (what its code may call).
    pub declared_actions: BTreeSet<String>,
    /// Error names it raises.
    pub errors: Vec<String>,
    /// Custom metrics it publishes.
    pub metrics: Vec<String>,
    /// Whether it has no code yet (see [`FunctionSpec::planned`]).
    pub planned: bool,
    /// Whether it connects to the database (it has a share of the connection budget).
    pub database: bool,
}

impl Principal {
    /// The name of the template condition under which the stack creates a planned function and
    /// what serves only it (`StatsApiDeployed`: its code key is not empty); `None` for a function
    /// the stack always creates.
    pub fn deployed_condition(&self) -> Option<String> {
        self.planned.then(|| format!("{}Deployed", self.id))
    }
}

/// A resource of the catalog: its ARN (a string or an intrinsic) and the key that encrypts it.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    /// The ARN.
    pub arn: Value,
    /// The name of the key in `keys`, if the resource is encrypted with one of ours.
    pub key: Option<String>,
}

/// What principal derivation needs from the rendered resources.yaml.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Entries by name.
    pub entries: BTreeMap<String, CatalogEntry>,
    /// Key ARNs by key name.
    pub keys: BTreeMap<String, Value>,
}

/// The UpperCamel form of a kebab-case name (`process-user-log` → `ProcessUserLog`).
pub fn upper_camel(kebab: &str) -> String {
    kebab
        .split(['-', '_', '/'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect()
}

/// Where a principal runs, for the grants that running at all takes.
#[derive(Debug, Clone)]
pub struct PrincipalContext<'a> {
    /// `<env>-<slug>`.
    pub prefix: &'a str,
    /// The region.
    pub region: &'a str,
    /// The account.
    pub account_id: &'a str,
    /// The ECR repository ARN of task images.
    pub image_repository_arn: &'a str,
}

impl FunctionSpec {
    /// Derives the principal: names, and the grants of its role(s).
    pub fn principal(
        &self,
        key: &str,
        catalog: &Catalog,
        context: &PrincipalContext<'_>,
    ) -> Result<Principal, InfraError> {
        if self.planned && self.kind != FunctionKind::Lambda {
            return Err(InfraError::invalid(
                FILE,
                format!(
                    "{key}: only a Lambda function can be `planned` (its code comes with a code key)"
                ),
            ));
        }
        let id = upper_camel(key);
        let name = format!("{}-{key}", context.prefix);
        let mut grants = self.need_grants(key, catalog)?;
        let mut execution_grants = Vec::new();
        let role_id;
        match self.kind {
            FunctionKind::Lambda => {
                role_id = format!("{id}Role");
                grants.push(Grant::new(
                    "OwnLogGroup",
                    ["logs:CreateLogStream", "logs:PutLogEvents"],
                    Value::String(format!(
                        "arn:aws:logs:{}:{}:log-group:/aws/lambda/{name}:*",
                        context.region, context.account_id
                    )),
                ));
                if self.vpc {
                    grants.push(
                        Grant::new(
                            "VpcNetworkInterfaces",
                            [
                                "ec2:AssignPrivateIpAddresses",
                                "ec2:CreateNetworkInterface",
                                "ec2:DeleteNetworkInterface",
                                "ec2:DescribeNetworkInterfaces",
                                "ec2:UnassignPrivateIpAddresses",
                            ],
                            Value::String("*".to_owned()),
                        )
                        .with_reason(
                            "A VPC function's network interfaces are created by Lambda with ids nobody knows in advance, and ec2:Describe* supports no resource-level permissions.",
                        ),
                    );
                }
            }
            FunctionKind::EcsTask => {
                role_id = format!("{id}TaskRole");
                execution_grants.push(
                    Grant::new("RegistryLogin", ["ecr:GetAuthorizationToken"], Value::String("*".to_owned()))
                        .with_reason("ecr:GetAuthorizationToken is account-wide and supports no resource-level permissions."),
                );
                execution_grants.push(Grant::new(
                    "ImageRepository",
                    [
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                    ],
                    Value::String(context.image_repository_arn.to_owned()),
                ));
                execution_grants.push(Grant::new(
                    "OwnLogGroup",
                    ["logs:CreateLogStream", "logs:PutLogEvents"],
                    Value::String(format!(
                        "arn:aws:logs:{}:{}:log-group:{}:*",
                        context.region,
                        context.account_id,
                        task_log_group(&name)
                    )),
                ));
            }
        }
        grants.sort_by(|a, b| a.sid.cmp(&b.sid));
        execution_grants.sort_by(|a, b| a.sid.cmp(&b.sid));
        let declared_actions = self
            .needs
            .iter()
            .flat_map(|need| need.actions.iter().cloned())
            .collect();
        Ok(Principal {
            key: key.to_owned(),
            id,
            kind: self.kind,
            name,
            role_id,
            grants,
            execution_grants,
            declared_actions,
            errors: self.errors.clone(),
            metrics: self.metrics.clone(),
            planned: self.planned,
            database: self.database.is_some(),
        })
    }

    /// One grant per catalog resource (actions merged), plus one per KMS key those resources use.
    fn need_grants(&self, key: &str, catalog: &Catalog) -> Result<Vec<Grant>, InfraError> {
        let mut by_resource: BTreeMap<&str, (BTreeSet<String>, Option<String>)> = BTreeMap::new();
        let mut by_key: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for need in &self.needs {
            for action in &need.actions {
                if action.contains('*') || !action.contains(':') {
                    return Err(InfraError::invalid(
                        FILE,
                        format!("{key}: `{action}` is not one IAM action (no wildcards)"),
                    ));
                }
            }
            if need.resource == "*" {
                if need.reason.as_deref().is_none_or(str::is_empty) {
                    return Err(InfraError::invalid(
                        FILE,
                        format!(
                            "{key}: a need on `*` must say in `reason` why nothing narrower works"
                        ),
                    ));
                }
            } else {
                let entry = catalog.entries.get(&need.resource).ok_or_else(|| {
                    InfraError::invalid(
                        FILE,
                        format!(
                            "{key}: `{}` is not an entry of `catalog` in resources.yaml",
                            need.resource
                        ),
                    )
                })?;
                if let Some(key_name) = &entry.key {
                    for action in &need.actions {
                        by_key
                            .entry(key_name)
                            .or_default()
                            .extend(kms_actions_for(action).iter().map(|a| (*a).to_owned()));
                    }
                }
            }
            let slot = by_resource.entry(&need.resource).or_default();
            slot.0.extend(need.actions.iter().cloned());
            if need.reason.is_some() {
                slot.1.clone_from(&need.reason);
            }
        }
        let mut grants = Vec::new();
        for (resource, (actions, reason)) in by_resource {
            let (sid, arn) = if resource == "*" {
                ("Unscoped".to_owned(), Value::String("*".to_owned()))
            } else {
                (upper_camel(resource), catalog.entries[resource].arn.clone())
            };
            let mut grant = Grant::new(&sid, actions, arn);
            grant.reason = reason;
            grants.push(grant);
        }
        for (key_name, actions) in by_key {
            if actions.is_empty() {
                continue;
            }
            let arn = catalog.keys.get(key_name).cloned().ok_or_else(|| {
                InfraError::invalid("resources.yaml", format!("`keys` has no `{key_name}`"))
            })?;
            grants.push(Grant::new(
                &format!("{}Key", upper_camel(key_name)),
                actions,
                arn,
            ));
        }
        Ok(grants)
    }
}

/// The log group of a task.
pub fn task_log_group(task_name: &str) -> String {
    format!("/ecs/{task_name}")
}

/// Parses functions.yaml.
pub fn parse_functions(text: &str) -> Result<FunctionsFile, InfraError> {
    serde_yaml::from_str(text).map_err(|err| InfraError::invalid(FILE, err))
}
