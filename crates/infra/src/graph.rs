//! Mermaid diagrams generated from a rendering: the state machine (`stateDiagram-v2`) and the
//! architecture (`flowchart`), and keeping them in the docs between markers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde_yaml::Value;

use crate::asl::{nested_scopes, scope_states, transitions};
use crate::cfn::{Template, as_list};
use crate::iam::allowed_pairs;

/// The state machine as a Mermaid state diagram.
pub fn state_machine(definition: &Value) -> String {
    let mut out = String::from("stateDiagram-v2\n");
    let mut failures = BTreeSet::new();
    write_scope(&mut out, definition, 1, &mut failures);
    if !failures.is_empty() {
        out.push_str("    classDef failure fill:#fde2e2,stroke:#b42318,color:#7a1a12\n");
        for name in &failures {
            let _ = writeln!(out, "    class {name} failure");
        }
    }
    out
}

fn write_scope(out: &mut String, scope: &Value, depth: usize, failures: &mut BTreeSet<String>) {
    let pad = "    ".repeat(depth);
    let Some(states) = scope_states(scope) else {
        return;
    };
    if let Some(start) = scope.get("StartAt").and_then(Value::as_str) {
        let _ = writeln!(out, "{pad}[*] --> {start}");
    }
    for (name, state) in states {
        let Some(name) = name.as_str() else { continue };
        match state.get("Type").and_then(Value::as_str) {
            Some("Choice") => {
                let _ = writeln!(out, "{pad}state {name} <<choice>>");
            }
            Some("Fail") => {
                failures.insert(name.to_owned());
            }
            _ => {}
        }
        let nested = nested_scopes(state);
        if !nested.is_empty() {
            let _ = writeln!(out, "{pad}state {name} {{");
            for (index, inner) in nested.iter().enumerate() {
                if index > 0 {
                    let _ = writeln!(out, "{pad}    --");
                }
                write_scope(out, inner, depth + 1, failures);
            }
            let _ = writeln!(out, "{pad}}}");
        }
    }
    for (name, state) in states {
        let Some(name) = name.as_str() else { continue };
        for (target, label, _) in transitions(state) {
            if label.is_empty() {
                let _ = writeln!(out, "{pad}{name} --> {target}");
            } else {
                let _ = writeln!(out, "{pad}{name} --> {target}: {}", label.replace(':', " "));
            }
        }
        let kind = state.get("Type").and_then(Value::as_str);
        if matches!(kind, Some("Succeed" | "Fail"))
            || state.get("End").and_then(Value::as_bool) == Some(true)
        {
            let _ = writeln!(out, "{pad}{name} --> [*]");
        }
    }
}

/// A node of the architecture diagram.
struct Node {
    label: String,
    shape: Shape,
    group: &'static str,
}

#[derive(Clone, Copy)]
enum Shape {
    Store,
    Compute,
    Event,
    External,
}

struct Graph {
    nodes: BTreeMap<String, Node>,
    edges: BTreeMap<(String, String), BTreeSet<String>>,
}

impl Graph {
    fn node(&mut self, id: &str, label: &str, shape: Shape, group: &'static str) {
        self.nodes.entry(id.to_owned()).or_insert(Node {
            label: label.to_owned(),
            shape,
            group,
        });
    }

    fn edge(&mut self, from: &str, to: &str, label: &str) {
        if from == to || !self.nodes.contains_key(from) || !self.nodes.contains_key(to) {
            return;
        }
        let labels = self
            .edges
            .entry((from.to_owned(), to.to_owned()))
            .or_default();
        if !label.is_empty() {
            labels.insert(label.to_owned());
        }
    }
}

const GROUPS: &[(&str, &str)] = &[
    ("outside", "Outside"),
    ("ingest", "Ingest"),
    ("orchestration", "Orchestration"),
    ("compute", "Compute"),
    ("data", "Data"),
    ("analytics", "Analytics"),
    ("api", "API"),
    ("notify", "Notification and monitoring"),
];

/// The stack's architecture as a Mermaid flowchart, derived from its resources.
pub fn architecture(template: &Template<'_>) -> String {
    let mut graph = Graph {
        nodes: BTreeMap::new(),
        edges: BTreeMap::new(),
    };
    graph.node(
        "ExternalSystem",
        "External system",
        Shape::External,
        "outside",
    );
    let name_of = |resource: &crate::cfn::Resource<'_>, property: &str| {
        resource
            .prop_str(&[property])
            .unwrap_or(resource.id)
            .to_owned()
    };
    let mut arn_nodes: Vec<(String, String)> = Vec::new();
    for resource in template.resources() {
        let id = resource.id;
        match resource.kind {
            "AWS::S3::Bucket" => {
                let name = name_of(&resource, "BucketName");
                let group = if name.contains("-etl-") || name.contains("-athena-") {
                    "analytics"
                } else {
                    "ingest"
                };
                graph.node(
                    id,
                    &format!("S3 {}", short_name(&name, template.account_id)),
                    Shape::Store,
                    group,
                );
                arn_nodes.push((format!("arn:aws:s3:::{name}"), id.to_owned()));
            }
            "AWS::Events::Rule" => graph.node(
                id,
                &format!("EventBridge rule {}", name_of(&resource, "Name")),
                Shape::Event,
                "orchestration",
            ),
            "AWS::Scheduler::Schedule" => graph.node(
                id,
                &format!("Schedule {}", name_of(&resource, "Name")),
                Shape::Event,
                "orchestration",
            ),
            "AWS::StepFunctions::StateMachine" => graph.node(
                id,
                &format!("Step Functions {}", name_of(&resource, "StateMachineName")),
                Shape::Compute,
                "orchestration",
            ),
            "AWS::SQS::Queue" => graph.node(
                id,
                &format!("SQS {}", name_of(&resource, "QueueName")),
                Shape::Store,
                "orchestration",
            ),
            "AWS::Lambda::Function" => {
                let name = name_of(&resource, "FunctionName");
                graph.node(id, &format!("Lambda {name}"), Shape::Compute, "compute");
                arn_nodes.push((
                    format!(
                        "arn:aws:lambda:{}:{}:function:{name}",
                        template.region, template.account_id
                    ),
                    id.to_owned(),
                ));
            }
            "AWS::ECS::TaskDefinition" => graph.node(
                id,
                &format!("ECS Fargate task {}", name_of(&resource, "Family")),
                Shape::Compute,
                "compute",
            ),
            "AWS::DynamoDB::Table" => {
                let name = name_of(&resource, "TableName");
                graph.node(id, &format!("DynamoDB {name}"), Shape::Store, "data");
                arn_nodes.push((
                    format!(
                        "arn:aws:dynamodb:{}:{}:table/{name}",
                        template.region, template.account_id
                    ),
                    id.to_owned(),
                ));
            }
            "AWS::SNS::Topic" => {
                let name = name_of(&resource, "TopicName");
                graph.node(id, &format!("SNS {name}"), Shape::Event, "notify");
                arn_nodes.push((
                    format!(
                        "arn:aws:sns:{}:{}:{name}",
                        template.region, template.account_id
                    ),
                    id.to_owned(),
                ));
            }
            "AWS::RDS::DBCluster" => graph.node(
                id,
                "Aurora PostgreSQL Serverless v2 (writer and reader)",
                Shape::Store,
                "data",
            ),
            "AWS::RDS::DBProxy" => graph.node(id, "RDS Proxy", Shape::Compute, "data"),
            "AWS::SecretsManager::Secret" => graph.node(
                id,
                "PostgreSQL (given at deploy time)",
                Shape::Store,
                "data",
            ),
            "AWS::Glue::Table" => {
                graph.node(id, "Glue table user_statistics", Shape::Store, "analytics")
            }
            "AWS::Athena::WorkGroup" => graph.node(
                id,
                &format!("Athena workgroup {}", name_of(&resource, "Name")),
                Shape::Compute,
                "analytics",
            ),
            "AWS::ApiGatewayV2::Api" => graph.node(
                id,
                &format!("API Gateway HTTP API {}", name_of(&resource, "Name")),
                Shape::Event,
                "api",
            ),
            "AWS::EC2::Instance" => graph.node(
                id,
                "Operator host (Session Manager, no public address)",
                Shape::Compute,
                "data",
            ),
            _ => {}
        }
    }
    let alarms = template.of_type("AWS::CloudWatch::Alarm").count();
    if alarms > 0 {
        graph.node(
            "Alarms",
            &format!("CloudWatch alarms ({alarms})"),
            Shape::Event,
            "notify",
        );
    }
    graph.node("Slack", "Slack", Shape::External, "outside");
    graph.node("Email", "E-mail (SES)", Shape::External, "outside");
    graph.node(
        "ApiClients",
        "API clients (JWT)",
        Shape::External,
        "outside",
    );
    let database = template
        .of_type("AWS::RDS::DBCluster")
        .next()
        .or_else(|| template.of_type("AWS::SecretsManager::Secret").next())
        .map(|r| r.id.to_owned());
    let find_arn = |arn: &str| -> Option<String> {
        arn_nodes
            .iter()
            .filter(|(prefix, _)| {
                arn == prefix
                    || arn.starts_with(&format!("{prefix}/"))
                    || arn.starts_with(&format!("{prefix}:"))
            })
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, id)| id.clone())
    };

    for bucket in template.of_type("AWS::S3::Bucket") {
        let events = bucket
            .prop(&[
                "NotificationConfiguration",
                "EventBridgeConfiguration",
                "EventBridgeEnabled",
            ])
            .and_then(Value::as_bool)
            == Some(true);
        if events {
            graph.edge("ExternalSystem", bucket.id, "uploads CSV");
        }
    }
    for rule in template.of_type("AWS::Events::Rule") {
        let buckets = rule
            .prop(&["EventPattern", "detail", "bucket", "name"])
            .map(as_list)
            .unwrap_or_default();
        for bucket in buckets.iter().filter_map(|b| b.as_str()) {
            if let Some(node) = find_arn(&format!("arn:aws:s3:::{bucket}")) {
                graph.edge(&node, rule.id, "Object Created");
            }
        }
        for target in rule
            .prop(&["Targets"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            if let Some(id) = target.get("Arn").and_then(Template::referenced_id) {
                graph.edge(rule.id, id, "starts");
            }
            if let Some(id) = target
                .get("DeadLetterConfig")
                .and_then(|d| d.get("Arn"))
                .and_then(Template::referenced_id)
            {
                graph.edge(rule.id, id, "dead letters");
            }
        }
    }
    for schedule in template.of_type("AWS::Scheduler::Schedule") {
        if let Some(arn) = schedule
            .prop(&["Target", "Arn"])
            .and_then(|arn| template.resolve(arn))
            && let Some(node) = find_arn(&arn)
        {
            graph.edge(schedule.id, &node, "daily");
        }
    }
    for machine in template.of_type("AWS::StepFunctions::StateMachine") {
        let mut scopes: Vec<&Value> = machine.prop(&["Definition"]).into_iter().collect();
        while let Some(scope) = scopes.pop() {
            for state in scope_states(scope)
                .into_iter()
                .flatten()
                .map(|(_, state)| state)
            {
                scopes.extend(nested_scopes(state));
                if let Some(resource) = state.get("Resource").and_then(Value::as_str) {
                    let parameter = |name: &str| {
                        state
                            .get("Parameters")
                            .and_then(|p| p.get(name))
                            .and_then(Value::as_str)
                    };
                    if resource.starts_with("arn:aws:lambda:") {
                        if let Some(node) = find_arn(resource) {
                            graph.edge(machine.id, &node, "invokes");
                        }
                    } else if resource.starts_with("arn:aws:states:::ecs:runTask") {
                        if let Some(task) = parameter("TaskDefinition").and_then(|family| {
                            template.find_named("AWS::ECS::TaskDefinition", "Family", family)
                        }) {
                            graph.edge(machine.id, task.id, "runs (large files)");
                        }
                    } else if resource.starts_with("arn:aws:states:::dynamodb:") {
                        if let Some(table) = parameter("TableName").and_then(|name| {
                            template.find_named("AWS::DynamoDB::Table", "TableName", name)
                        }) {
                            graph.edge(machine.id, table.id, "records failed batches");
                        }
                    } else if resource == "arn:aws:states:::sns:publish"
                        && let Some(node) = parameter("TopicArn").and_then(&find_arn)
                    {
                        graph.edge(machine.id, &node, "alerts");
                    }
                }
                for (field, label) in [
                    ("ItemReader", "reads rows"),
                    ("ResultWriter", "writes results"),
                ] {
                    if let Some(bucket) = state
                        .get(field)
                        .and_then(|f| f.get("Parameters"))
                        .and_then(|p| p.get("Bucket"))
                        .and_then(Value::as_str)
                    {
                        if let Some(node) = find_arn(&format!("arn:aws:s3:::{bucket}")) {
                            graph.edge(machine.id, &node, label);
                        }
                    } else if field == "ItemReader" && state.get(field).is_some() {
                        for bucket in crate::iam::input_buckets(template, machine.id) {
                            if let Some(node) = find_arn(&format!("arn:aws:s3:::{bucket}")) {
                                graph.edge(machine.id, &node, label);
                            }
                        }
                    }
                }
            }
        }
    }
    let mut principals: Vec<(String, Option<String>)> = Vec::new();
    for function in template.of_type("AWS::Lambda::Function") {
        principals.push((
            function.id.to_owned(),
            function
                .prop(&["Role"])
                .and_then(Template::referenced_id)
                .map(str::to_owned),
        ));
    }
    for task in template.of_type("AWS::ECS::TaskDefinition") {
        principals.push((
            task.id.to_owned(),
            task.prop(&["TaskRoleArn"])
                .and_then(Template::referenced_id)
                .map(str::to_owned),
        ));
    }
    for (principal, role) in principals {
        let Some(role) = role.and_then(|role| template.resource(&role)) else {
            continue;
        };
        for statements in role.inline_statements() {
            for pair in allowed_pairs(statements).0 {
                let verb = pair
                    .action
                    .split_once(':')
                    .map_or(pair.action.as_str(), |(_, verb)| verb);
                let service = pair
                    .action
                    .split_once(':')
                    .map_or("", |(service, _)| service);
                let target = match (service, pair.resource.as_str()) {
                    ("secretsmanager", _) => database.clone().map(|db| (db, "SQL".to_owned())),
                    ("ssm", _) => Some(("Slack".to_owned(), "webhook".to_owned())),
                    ("ses", _) => Some(("Email".to_owned(), "sends".to_owned())),
                    ("glue", Some(arn)) if arn.contains(":table/") => template
                        .of_type("AWS::Glue::Table")
                        .next()
                        .map(|t| (t.id.to_owned(), "adds partitions".to_owned())),
                    (_, Some(arn)) if !matches!(service, "kms" | "logs" | "ec2") => {
                        find_arn(arn).map(|node| (node, verb.to_owned()))
                    }
                    _ => None,
                };
                if let Some((node, label)) = target {
                    graph.edge(&principal, &node, &label);
                }
            }
        }
    }
    for integration in template.of_type("AWS::ApiGatewayV2::Integration") {
        let api = integration
            .prop(&["ApiId"])
            .and_then(Template::referenced_id);
        let target = integration
            .prop(&["IntegrationUri"])
            .and_then(|uri| template.resolve(uri))
            .and_then(|arn| find_arn(&arn));
        if let (Some(api), Some(target)) = (api, target) {
            graph.edge("ApiClients", api, "HTTPS");
            graph.edge(api, &target, "proxies");
        }
    }
    for table in template.of_type("AWS::Glue::Table") {
        if let Some(location) = table.prop_str(&["TableInput", "StorageDescriptor", "Location"]) {
            let bucket = location
                .trim_start_matches("s3://")
                .split('/')
                .next()
                .unwrap_or_default();
            if let Some(node) = find_arn(&format!("arn:aws:s3:::{bucket}")) {
                graph.edge(table.id, &node, "Parquet");
            }
        }
        for workgroup in template.of_type("AWS::Athena::WorkGroup") {
            graph.edge(workgroup.id, table.id, "queries");
            if let Some(output) = workgroup.prop_str(&[
                "WorkGroupConfiguration",
                "ResultConfiguration",
                "OutputLocation",
            ]) {
                let bucket = output
                    .trim_start_matches("s3://")
                    .split('/')
                    .next()
                    .unwrap_or_default();
                if let Some(node) = find_arn(&format!("arn:aws:s3:::{bucket}")) {
                    graph.edge(workgroup.id, &node, "results");
                }
            }
        }
    }
    for proxy in template.of_type("AWS::RDS::DBProxy") {
        if let Some(database) = &database {
            graph.edge(proxy.id, database, "pools connections");
        }
    }
    for instance in template.of_type("AWS::EC2::Instance") {
        if let Some(database) = &database {
            graph.edge(instance.id, database, "port forwarding");
        }
    }
    if alarms > 0 {
        let mut targets = BTreeSet::new();
        for alarm in template.of_type("AWS::CloudWatch::Alarm") {
            for action in alarm
                .prop(&["AlarmActions"])
                .map(as_list)
                .unwrap_or_default()
            {
                if let Some(id) = Template::referenced_id(action) {
                    targets.insert(id.to_owned());
                }
            }
        }
        for target in targets {
            graph.edge("Alarms", &target, "notify");
        }
    }
    for topic in template.of_type("AWS::SNS::Topic") {
        if topic.prop(&["Subscription"]).is_some() {
            graph.edge(topic.id, "Email", "subscribers");
        }
    }

    let mut out = String::from("flowchart LR\n");
    for (group, title) in GROUPS {
        let members: Vec<(&String, &Node)> = graph
            .nodes
            .iter()
            .filter(|(_, node)| node.group == *group)
            .collect();
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(out, "    subgraph {group}[\"{title}\"]");
        for (id, node) in members {
            let label = node.label.replace('"', "'");
            let shape = match node.shape {
                Shape::Store => format!("[(\"{label}\")]"),
                Shape::Compute => format!("[\"{label}\"]"),
                Shape::Event => format!("([\"{label}\"])"),
                Shape::External => format!("[/\"{label}\"/]"),
            };
            let _ = writeln!(out, "        {id}{shape}");
        }
        out.push_str("    end\n");
    }
    for ((from, to), labels) in &graph.edges {
        if labels.is_empty() {
            let _ = writeln!(out, "    {from} --> {to}");
        } else {
            let label: Vec<&str> = labels.iter().map(String::as_str).collect();
            let _ = writeln!(out, "    {from} -->|\"{}\"| {to}", label.join(", "));
        }
    }
    out
}

fn short_name(bucket: &str, account: &str) -> String {
    bucket
        .strip_suffix(&format!("-{account}"))
        .map_or_else(|| bucket.to_owned(), |name| format!("{name}-ACCOUNT"))
}

/// The start marker of a generated section of a document.
pub fn start_marker(name: &str) -> String {
    format!("<!-- generated by `cargo xtask graph --write`: {name} (do not edit by hand) -->")
}

/// The end marker of a generated section.
pub fn end_marker(name: &str) -> String {
    format!("<!-- end of generated {name} -->")
}

/// `document` with the section `name` replaced by `diagram` (a Mermaid block), appended when missing.
pub fn replace_section(document: &str, name: &str, diagram: &str) -> String {
    let (start, end) = (start_marker(name), end_marker(name));
    let block = format!("{start}\n```mermaid\n{}\n```\n{end}", diagram.trim_end());
    match (document.find(&start), document.find(&end)) {
        (Some(from), Some(to)) if to > from => format!(
            "{}{block}{}",
            &document[..from],
            &document[to + end.len()..]
        ),
        _ => {
            let mut out = document.trim_end().to_owned();
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&block);
            out.push('\n');
            out
        }
    }
}

/// The beginning of `docs/diagrams.md` when it does not exist yet.
pub const DIAGRAMS_HEADER: &str = "# Diagrams\n\nThe diagrams below are generated from the rendered staging templates by\n`cargo xtask graph --write`; a test fails when they differ from what the templates say.\n";

/// The diagrams of the docs, by section name: the state machine and the architecture.
pub fn diagrams(rendered: &crate::render::Rendered) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(definition) = rendered.state_machine() {
        out.push(("state-machine".to_owned(), state_machine(definition)));
    }
    out.push(("architecture".to_owned(), architecture(&rendered.cfn())));
    out
}
