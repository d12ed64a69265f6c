//! IAM: the grants roles are made of, and the check that every role allows exactly what its
//! principal needs (derived from the state machine, the rules, the schedules and functions.yaml).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::asl::{nested_scopes, scope_states};
use crate::cfn::{Template, as_list, short};
use crate::functions::{FunctionKind, Principal};

/// One statement of a role: actions on resources, with an optional written reason for `*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grant {
    /// The statement id.
    pub sid: String,
    /// The actions, sorted.
    pub actions: BTreeSet<String>,
    /// The resources (strings or intrinsics).
    pub resources: Vec<Value>,
    /// Why the resource is `*`.
    pub reason: Option<String>,
}

impl Grant {
    /// A grant of `actions` on one resource.
    pub fn new<I, S>(sid: &str, actions: I, resource: Value) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Grant {
            sid: sid.to_owned(),
            actions: actions.into_iter().map(Into::into).collect(),
            resources: vec![resource],
            reason: None,
        }
    }

    /// The same grant with a written reason.
    pub fn with_reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    /// The grant as a policy statement (with `Reason`, which rendering moves out of the template).
    pub fn statement(&self) -> Value {
        let mut statement = Mapping::new();
        statement.insert("Sid".into(), self.sid.clone().into());
        if let Some(reason) = &self.reason {
            statement.insert("Reason".into(), reason.clone().into());
        }
        statement.insert("Effect".into(), "Allow".into());
        statement.insert(
            "Action".into(),
            Value::Sequence(self.actions.iter().cloned().map(Value::String).collect()),
        );
        let resource = if self.resources.len() == 1 {
            self.resources[0].clone()
        } else {
            Value::Sequence(self.resources.clone())
        };
        statement.insert("Resource".into(), resource);
        Value::Mapping(statement)
    }

    /// Every (action, resource) pair the grant allows.
    pub fn pairs(&self) -> impl Iterator<Item = (String, Value)> + '_ {
        self.actions.iter().flat_map(|action| {
            self.resources
                .iter()
                .map(move |resource| (action.clone(), resource.clone()))
        })
    }
}

/// The KMS actions a service performs with the caller's permissions when the caller does `action`
/// on a resource encrypted with a customer managed key.
pub fn kms_actions_for(action: &str) -> &'static [&'static str] {
    match action {
        "s3:GetObject" => &["kms:Decrypt"],
        "s3:PutObject" => &["kms:Decrypt", "kms:GenerateDataKey"],
        "dynamodb:Query" | "dynamodb:GetItem" | "dynamodb:Scan" | "dynamodb:BatchGetItem" => {
            &["kms:Decrypt"]
        }
        "dynamodb:PutItem"
        | "dynamodb:BatchWriteItem"
        | "dynamodb:UpdateItem"
        | "dynamodb:DeleteItem" => &["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
        "sns:Publish" => &["kms:Decrypt", "kms:GenerateDataKey"],
        "ssm:GetParameter" | "ssm:GetParameters" => &["kms:Decrypt"],
        _ => &[],
    }
}

/// One allowed (action, resource) pair of a role, where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Allowed {
    /// The statement's Sid (or its position).
    pub sid: String,
    /// The action as written.
    pub action: String,
    /// The resource as written.
    pub resource: Value,
}

/// The allowed pairs of an identity policy document's statements, and problems with their form.
pub fn allowed_pairs(statements: &Value) -> (Vec<Allowed>, Vec<String>) {
    let mut allowed = Vec::new();
    let mut problems = Vec::new();
    for (index, statement) in as_list(statements).into_iter().enumerate() {
        let sid = statement
            .get("Sid")
            .and_then(Value::as_str)
            .map_or_else(|| format!("#{index}"), str::to_owned);
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        for field in ["NotAction", "NotResource"] {
            if statement.get(field).is_some() {
                problems.push(format!(
                    "statement {sid} uses {field}, which allows everything else"
                ));
            }
        }
        let actions = statement.get("Action").map(as_list).unwrap_or_default();
        let resources = statement.get("Resource").map(as_list).unwrap_or_default();
        for action in &actions {
            let Some(action) = action.as_str() else {
                continue;
            };
            if action.contains('*') || action.contains('?') {
                problems.push(format!(
                    "statement {sid} allows the wildcard action `{action}`"
                ));
            }
            for resource in &resources {
                allowed.push(Allowed {
                    sid: sid.clone(),
                    action: action.to_owned(),
                    resource: (*resource).clone(),
                });
            }
        }
    }
    (allowed, problems)
}

/// Whether an IAM resource pattern (with `*` and `?`) covers a needed resource.
pub fn resource_covers(pattern: &Value, needed: &Value) -> bool {
    match (pattern.as_str(), needed.as_str()) {
        (Some(pattern), Some(needed)) => glob(pattern.as_bytes(), needed.as_bytes()),
        _ => pattern == needed,
    }
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// One needed (action, resource) pair and why it is needed.
#[derive(Debug, Clone, PartialEq)]
pub struct Needed {
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: Value,
    /// What needs it (a state, a rule, functions.yaml).
    pub because: String,
}

/// A role and what it must allow.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// The role's logical id.
    pub role: String,
    /// Who uses the role.
    pub principal: String,
    /// What it must allow, exactly.
    pub needed: Vec<Needed>,
}

/// The reasons for `*` resources, by (role logical id, Sid).
pub type Reasons = BTreeMap<(String, String), String>;

/// Checks every role of `template`: its form, and that it allows exactly what it must.
pub fn check_roles(
    template: &Template<'_>,
    principals: &[Principal],
    reasons: &Reasons,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let (expectations, mut derivation_problems) = expectations(template, principals);
    problems.append(&mut derivation_problems);
    let mut users: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for expectation in &expectations {
        users
            .entry(expectation.role.as_str())
            .or_default()
            .push(expectation.principal.as_str());
    }
    for (role, principals) in &users {
        if principals.len() > 1 {
            problems.push((
                (*role).to_owned(),
                format!(
                    "is shared by {}: every principal needs a role of its own",
                    principals.join(", ")
                ),
            ));
        }
    }
    for role in template.of_type("AWS::IAM::Role") {
        let Some(expectation) = expectations.iter().find(|e| e.role == role.id) else {
            problems.push((
                role.id.to_owned(),
                "no principal of this stack uses the role, so nothing says what it may do"
                    .to_owned(),
            ));
            continue;
        };
        let mut allowed = Vec::new();
        for statements in role.inline_statements() {
            let (mut pairs, form_problems) = allowed_pairs(statements);
            allowed.append(&mut pairs);
            problems.extend(form_problems.into_iter().map(|p| (role.id.to_owned(), p)));
        }
        if role.prop(&["ManagedPolicyArns"]).is_some() {
            problems.push((role.id.to_owned(), "attaches managed policies, whose actions this check cannot see: write the statements out".to_owned()));
        }
        let mut unreasoned = BTreeSet::new();
        for pair in &allowed {
            if pair.resource.as_str() == Some("*")
                && !reasons.contains_key(&(role.id.to_owned(), pair.sid.clone()))
            {
                unreasoned.insert(pair.sid.clone());
            }
        }
        for sid in unreasoned {
            problems.push((
                role.id.to_owned(),
                format!("statement {sid} allows resource `*` without a written reason (`Reason:`)"),
            ));
        }
        for needed in &expectation.needed {
            let covered = allowed.iter().any(|pair| {
                pair.action == needed.action && resource_covers(&pair.resource, &needed.resource)
            });
            if !covered {
                problems.push((
                    role.id.to_owned(),
                    format!(
                        "lacks {} on {} (needed by {})",
                        needed.action,
                        short(&needed.resource),
                        needed.because
                    ),
                ));
            }
        }
        let mut extra = BTreeSet::new();
        for pair in &allowed {
            let needed = expectation
                .needed
                .iter()
                .any(|needed| needed.action == pair.action && needed.resource == pair.resource);
            if !needed {
                extra.insert(format!(
                    "allows {} on {} (statement {}), which {} does not need",
                    pair.action,
                    short(&pair.resource),
                    pair.sid,
                    expectation.principal
                ));
            }
        }
        problems.extend(extra.into_iter().map(|p| (role.id.to_owned(), p)));
    }
    problems
}

fn needed_from_grants(grants: &[Grant], because: &str) -> Vec<Needed> {
    grants
        .iter()
        .flat_map(|grant| {
            grant.pairs().map(|(action, resource)| Needed {
                action,
                resource,
                because: because.to_owned(),
            })
        })
        .collect()
}

/// What each role of the template must allow, derived from who uses it.
pub fn expectations(
    template: &Template<'_>,
    principals: &[Principal],
) -> (Vec<Expectation>, Vec<(String, String)>) {
    let mut expectations = Vec::new();
    let mut problems = Vec::new();
    let role_of =
        |value: Option<&Value>| value.and_then(Template::referenced_id).map(str::to_owned);

    for function in template.of_type("AWS::Lambda::Function") {
        let Some(role) = role_of(function.prop(&["Role"])) else {
            continue;
        };
        let name = function.prop_str(&["FunctionName"]).unwrap_or(function.id);
        match principals
            .iter()
            .find(|p| p.kind == FunctionKind::Lambda && p.name == name)
        {
            Some(principal) => expectations.push(Expectation {
                role,
                principal: format!("function {}", principal.key),
                needed: needed_from_grants(
                    &principal.grants,
                    &format!("{} in functions.yaml", principal.key),
                ),
            }),
            None => problems.push((
                function.id.to_owned(),
                "is not declared in functions.yaml".to_owned(),
            )),
        }
    }
    for task in template.of_type("AWS::ECS::TaskDefinition") {
        let family = task.prop_str(&["Family"]).unwrap_or(task.id);
        let Some(principal) = principals
            .iter()
            .find(|p| p.kind == FunctionKind::EcsTask && p.name == family)
        else {
            problems.push((
                task.id.to_owned(),
                "is not declared in functions.yaml".to_owned(),
            ));
            continue;
        };
        if let Some(role) = role_of(task.prop(&["TaskRoleArn"])) {
            expectations.push(Expectation {
                role,
                principal: format!("task {}", principal.key),
                needed: needed_from_grants(
                    &principal.grants,
                    &format!("{} in functions.yaml", principal.key),
                ),
            });
        }
        if let Some(role) = role_of(task.prop(&["ExecutionRoleArn"])) {
            expectations.push(Expectation {
                role,
                principal: format!("ECS running {}", principal.key),
                needed: needed_from_grants(
                    &principal.execution_grants,
                    &format!("running {}", principal.key),
                ),
            });
        }
    }
    for machine in template.of_type("AWS::StepFunctions::StateMachine") {
        let Some(role) = role_of(machine.prop(&["RoleArn"])) else {
            continue;
        };
        let (needed, mut derive_problems) = state_machine_needs(template, machine.id);
        problems.append(&mut derive_problems);
        expectations.push(Expectation {
            role,
            principal: format!("state machine {}", machine.id),
            needed,
        });
    }
    for rule in template.of_type("AWS::Events::Rule") {
        for target in rule
            .prop(&["Targets"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let Some(role) = role_of(target.get("RoleArn")) else {
                continue;
            };
            let Some(arn) = target.get("Arn") else {
                continue;
            };
            let resolved = template.resolve(arn);
            let action = match resolved.as_deref() {
                Some(arn) if arn.starts_with("arn:aws:states:") => "states:StartExecution",
                Some(arn) if arn.starts_with("arn:aws:lambda:") => "lambda:InvokeFunction",
                _ => {
                    problems.push((
                        rule.id.to_owned(),
                        format!(
                            "target {} is not a state machine or function this check knows",
                            short(arn)
                        ),
                    ));
                    continue;
                }
            };
            expectations.push(Expectation {
                role,
                principal: format!("rule {}", rule.id),
                needed: vec![Needed {
                    action: action.to_owned(),
                    resource: Value::String(resolved.unwrap_or_default()),
                    because: format!("the target of rule {}", rule.id),
                }],
            });
        }
    }
    for schedule in template.of_type("AWS::Scheduler::Schedule") {
        let Some(role) = role_of(schedule.prop(&["Target", "RoleArn"])) else {
            continue;
        };
        let Some(arn) = schedule.prop(&["Target", "Arn"]) else {
            continue;
        };
        let Some(resolved) = template
            .resolve(arn)
            .filter(|arn| arn.starts_with("arn:aws:lambda:"))
        else {
            problems.push((
                schedule.id.to_owned(),
                format!("target {} is not a function this check knows", short(arn)),
            ));
            continue;
        };
        expectations.push(Expectation {
            role,
            principal: format!("schedule {}", schedule.id),
            needed: vec![Needed {
                action: "lambda:InvokeFunction".to_owned(),
                resource: Value::String(resolved),
                because: format!("the target of schedule {}", schedule.id),
            }],
        });
    }
    for proxy in template.of_type("AWS::RDS::DBProxy") {
        let Some(role) = role_of(proxy.prop(&["RoleArn"])) else {
            continue;
        };
        let needed = proxy
            .prop(&["Auth"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|auth| auth.get("SecretArn"))
            .map(|secret| Needed {
                action: "secretsmanager:GetSecretValue".to_owned(),
                resource: secret.clone(),
                because: format!("the credentials of proxy {}", proxy.id),
            })
            .collect();
        expectations.push(Expectation {
            role,
            principal: format!("proxy {}", proxy.id),
            needed,
        });
    }
    // The migration task's role (passed by the deploy in place of a task's own for `migrate`)
    // reads exactly the secrets that the task's migration variables name.
    if template.resource(MIGRATION_TASK_ROLE).is_some() {
        let mut needed: Vec<Needed> = Vec::new();
        for task in template.of_type("AWS::ECS::TaskDefinition") {
            for container in task
                .prop(&["ContainerDefinitions"])
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                for variable in container
                    .get("Environment")
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                {
                    let name = variable.get("Name").and_then(Value::as_str).unwrap_or("");
                    let Some(value) = variable.get("Value") else {
                        continue;
                    };
                    if MIGRATION_SECRET_VARIABLES.contains(&name)
                        && !needed.iter().any(|n| &n.resource == value)
                    {
                        needed.push(Needed {
                            action: "secretsmanager:GetSecretValue".to_owned(),
                            resource: value.clone(),
                            because: format!("{name} of task {} (`migrate`)", task.id),
                        });
                    }
                }
            }
        }
        expectations.push(Expectation {
            role: MIGRATION_TASK_ROLE.to_owned(),
            principal: "the migration task".to_owned(),
            needed,
        });
    }
    for profile in template.of_type("AWS::IAM::InstanceProfile") {
        for role in profile
            .prop(&["Roles"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let Some(role) = Template::referenced_id(role) else {
                continue;
            };
            let needed = SESSION_MANAGER_ACTIONS
                .iter()
                .map(|action| Needed {
                    action: (*action).to_owned(),
                    resource: Value::String("*".to_owned()),
                    because: "the Session Manager agent".to_owned(),
                })
                .collect();
            expectations.push(Expectation {
                role: role.to_owned(),
                principal: format!("instance profile {}", profile.id),
                needed,
            });
        }
    }
    (expectations, problems)
}

/// What the Session Manager agent on an instance calls.
/// The logical id of the migration task's role.
pub const MIGRATION_TASK_ROLE: &str = "MigrationTaskRole";

/// The variables of a task that name the secrets `migrate` logs in with or sets up.
pub const MIGRATION_SECRET_VARIABLES: &[&str] = &[
    "DATABASE_ADMIN_SECRET_ARN",
    "DATABASE_WRITER_SECRET_ARN",
    "DATABASE_READER_SECRET_ARN",
    "DATABASE_PREVIEWS_SECRET_ARN",
];

const SESSION_MANAGER_ACTIONS: &[&str] = &[
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
];

/// What Step Functions needs for CloudWatch Logs delivery of execution logs.
const LOG_DELIVERY_ACTIONS: &[&str] = &[
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
];

struct Collector<'t, 'a> {
    template: &'t Template<'a>,
    machine_id: &'t str,
    needed: Vec<Needed>,
    problems: Vec<(String, String)>,
}

impl Collector<'_, '_> {
    fn need(&mut self, action: &str, resource: impl Into<Value>, because: &str) {
        let needed = Needed {
            action: action.to_owned(),
            resource: resource.into(),
            because: because.to_owned(),
        };
        if !self.needed.contains(&needed) {
            self.needed.push(needed);
        }
    }

    fn need_key(&mut self, action: &str, key: Option<&Value>, because: &str) {
        if let Some(key) = key {
            for kms in kms_actions_for(action) {
                self.need(kms, key.clone(), because);
            }
        }
    }

    fn problem(&mut self, state: &str, message: String) {
        self.problems
            .push((format!("{}/{state}", self.machine_id), message));
    }

    fn bucket_key(&self, bucket: &str) -> Option<&Value> {
        self.template
            .find_named("AWS::S3::Bucket", "BucketName", bucket)?
            .prop(&["BucketEncryption", "ServerSideEncryptionConfiguration"])?
            .as_sequence()?
            .first()?
            .get("ServerSideEncryptionByDefault")?
            .get("KMSMasterKeyID")
    }
}

/// What a state machine's role must allow: what its states call, its distributed maps, its logging.
pub fn state_machine_needs(
    template: &Template<'_>,
    machine_id: &str,
) -> (Vec<Needed>, Vec<(String, String)>) {
    let mut collector = Collector {
        template,
        machine_id,
        needed: Vec::new(),
        problems: Vec::new(),
    };
    let Some(machine) = template.resource(machine_id) else {
        return (Vec::new(), Vec::new());
    };
    let name = machine
        .prop_str(&["StateMachineName"])
        .unwrap_or(machine_id)
        .to_owned();
    let (region, account) = (template.region, template.account_id);
    let input_buckets = input_buckets(template, machine_id);
    if let Some(definition) = machine.prop(&["Definition"]) {
        let mut scopes = vec![(String::new(), definition)];
        while let Some((prefix, scope)) = scopes.pop() {
            for (state_name, state) in scope_states(scope).into_iter().flatten() {
                let Some(state_name) = state_name.as_str() else {
                    continue;
                };
                let path = format!("{prefix}{state_name}");
                let because = format!("state {path}");
                if state.get("Type").and_then(Value::as_str) == Some("Task") {
                    task_needs(&mut collector, &path, state, &because);
                }
                if is_distributed(state) {
                    collector.need(
                        "states:StartExecution",
                        format!("arn:aws:states:{region}:{account}:stateMachine:{name}"),
                        &because,
                    );
                    for action in ["states:DescribeExecution", "states:StopExecution"] {
                        collector.need(
                            action,
                            format!("arn:aws:states:{region}:{account}:execution:{name}/*"),
                            &because,
                        );
                    }
                }
                if let Some(reader) = state.get("ItemReader") {
                    let parameters = reader.get("Parameters");
                    let buckets: Vec<String> = match (
                        parameters
                            .and_then(|p| p.get("Bucket"))
                            .and_then(Value::as_str),
                        parameters
                            .and_then(|p| p.get("Bucket.$"))
                            .and_then(Value::as_str),
                    ) {
                        (Some(bucket), _) => vec![bucket.to_owned()],
                        (None, Some("$.bucket")) if !input_buckets.is_empty() => {
                            input_buckets.clone()
                        }
                        _ => {
                            collector.problem(&path, "ItemReader reads a bucket this check cannot tell: use a fixed bucket or `$.bucket` from a rule that names its buckets".to_owned());
                            Vec::new()
                        }
                    };
                    for bucket in buckets {
                        collector.need(
                            "s3:GetObject",
                            format!("arn:aws:s3:::{bucket}/*"),
                            &because,
                        );
                        let key = collector.bucket_key(&bucket).cloned();
                        collector.need_key("s3:GetObject", key.as_ref(), &because);
                    }
                }
                if let Some(writer) = state.get("ResultWriter") {
                    let parameters = writer.get("Parameters");
                    let bucket = parameters
                        .and_then(|p| p.get("Bucket"))
                        .and_then(Value::as_str);
                    let prefix = parameters
                        .and_then(|p| p.get("Prefix"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    match bucket {
                        Some(bucket) => {
                            for action in ["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"] {
                                collector.need(action, format!("arn:aws:s3:::{bucket}/{prefix}*"), &because);
                                let key = collector.bucket_key(bucket).cloned();
                                collector.need_key(action, key.as_ref(), &because);
                            }
                        }
                        None => collector.problem(&path, "ResultWriter writes to a bucket this check cannot tell: use a fixed Bucket".to_owned()),
                    }
                }
                for nested in nested_scopes(state) {
                    scopes.push((format!("{path}/"), nested));
                }
            }
        }
    }
    let logs_to_cloudwatch = machine
        .prop(&["LoggingConfiguration", "Destinations"])
        .and_then(Value::as_sequence)
        .is_some_and(|destinations| !destinations.is_empty());
    if logs_to_cloudwatch {
        for action in LOG_DELIVERY_ACTIONS {
            collector.need(action, "*", "execution logging");
        }
    }
    (collector.needed, collector.problems)
}

fn is_distributed(state: &Value) -> bool {
    state
        .get("ItemProcessor")
        .and_then(|p| p.get("ProcessorConfig"))
        .and_then(|c| c.get("Mode"))
        .and_then(Value::as_str)
        == Some("DISTRIBUTED")
}

fn task_needs(collector: &mut Collector<'_, '_>, path: &str, state: &Value, because: &str) {
    let template = collector.template;
    let (region, account) = (template.region, template.account_id);
    let Some(resource) = state.get("Resource").and_then(Value::as_str) else {
        return;
    };
    let parameters = state.get("Parameters");
    let parameter = |name: &str| parameters.and_then(|p| p.get(name)).and_then(Value::as_str);
    if resource.starts_with("arn:aws:lambda:") {
        collector.need("lambda:InvokeFunction", resource, because);
        return;
    }
    match resource {
        "arn:aws:states:::lambda:invoke" | "arn:aws:states:::lambda:invoke.waitForTaskToken" => {
            match parameter("FunctionName") {
                Some(function) => collector.need("lambda:InvokeFunction", function, because),
                None => collector.problem(
                    path,
                    "invokes a function this check cannot tell: use a fixed FunctionName"
                        .to_owned(),
                ),
            }
        }
        "arn:aws:states:::dynamodb:putItem"
        | "arn:aws:states:::dynamodb:getItem"
        | "arn:aws:states:::dynamodb:updateItem"
        | "arn:aws:states:::dynamodb:deleteItem" => {
            let operation = resource.rsplit(':').next().unwrap_or_default();
            let action = format!(
                "dynamodb:{}{}",
                operation[..1].to_ascii_uppercase(),
                &operation[1..]
            );
            match parameter("TableName") {
                Some(table) => {
                    collector.need(
                        &action,
                        format!("arn:aws:dynamodb:{region}:{account}:table/{table}"),
                        because,
                    );
                    let key = template
                        .find_named("AWS::DynamoDB::Table", "TableName", table)
                        .and_then(|t| t.prop(&["SSESpecification", "KMSMasterKeyId"]))
                        .cloned();
                    collector.need_key(&action, key.as_ref(), because);
                }
                None => collector.problem(
                    path,
                    "writes to a table this check cannot tell: use a fixed TableName".to_owned(),
                ),
            }
        }
        "arn:aws:states:::sns:publish" => match parameter("TopicArn") {
            Some(topic) => {
                collector.need("sns:Publish", topic, because);
                let name = topic.rsplit(':').next().unwrap_or_default();
                let key = template
                    .find_named("AWS::SNS::Topic", "TopicName", name)
                    .and_then(|t| t.prop(&["KmsMasterKeyId"]))
                    .cloned();
                collector.need_key("sns:Publish", key.as_ref(), because);
            }
            None => collector.problem(
                path,
                "publishes to a topic this check cannot tell: use a fixed TopicArn".to_owned(),
            ),
        },
        "arn:aws:states:::ecs:runTask" | "arn:aws:states:::ecs:runTask.sync" => {
            let Some(family) = parameter("TaskDefinition") else {
                collector.problem(
                    path,
                    "runs a task this check cannot tell: use a fixed TaskDefinition family"
                        .to_owned(),
                );
                return;
            };
            collector.need(
                "ecs:RunTask",
                format!("arn:aws:ecs:{region}:{account}:task-definition/{family}:*"),
                because,
            );
            let cluster = parameter("Cluster")
                .and_then(|arn| arn.rsplit('/').next())
                .unwrap_or("default");
            if resource.ends_with(".sync") {
                for action in ["ecs:DescribeTasks", "ecs:StopTask"] {
                    collector.need(
                        action,
                        format!("arn:aws:ecs:{region}:{account}:task/{cluster}/*"),
                        because,
                    );
                }
                for action in ["events:DescribeRule", "events:PutRule", "events:PutTargets"] {
                    collector.need(action, format!("arn:aws:events:{region}:{account}:rule/StepFunctionsGetEventsForECSTaskRule"), because);
                }
            }
            match template.find_named("AWS::ECS::TaskDefinition", "Family", family) {
                Some(task) => {
                    for field in ["ExecutionRoleArn", "TaskRoleArn"] {
                        if let Some(role) =
                            task.prop(&[field]).and_then(|role| template.resolve(role))
                        {
                            collector.need("iam:PassRole", role, because);
                        }
                    }
                }
                None => collector.problem(
                    path,
                    format!("runs `{family}`, which is not a task definition of this stack"),
                ),
            }
        }
        other => collector.problem(
            path,
            format!("uses the integration `{other}`, which this check does not know"),
        ),
    }
}

/// The buckets whose objects a rule that starts `machine_id` admits (from `detail.bucket.name`).
pub fn input_buckets(template: &Template<'_>, machine_id: &str) -> Vec<String> {
    let mut buckets = Vec::new();
    for rule in template.of_type("AWS::Events::Rule") {
        let targets_machine = rule
            .prop(&["Targets"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .any(|target| target.get("Arn").and_then(Template::referenced_id) == Some(machine_id));
        if !targets_machine {
            continue;
        }
        let names = rule
            .prop(&["EventPattern", "detail", "bucket", "name"])
            .and_then(Value::as_sequence);
        buckets.extend(
            names
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned),
        );
    }
    buckets.sort();
    buckets.dedup();
    buckets
}
