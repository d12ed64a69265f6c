//! CloudWatch alarms: every alarm has actions, every action is a topic of the stack, and every
//! metric is one that AWS or our code publishes.

use serde_yaml::Value;

use crate::cfn::{Template, as_list, short};

/// Metrics AWS publishes, by namespace (those an alarm of this project may watch).
const AWS_METRICS: &[(&str, &[&str])] = &[
    (
        "AWS/ApiGateway",
        &["4xx", "5xx", "Count", "IntegrationLatency", "Latency"],
    ),
    (
        "AWS/DynamoDB",
        &["SystemErrors", "ThrottledRequests", "UserErrors"],
    ),
    ("AWS/ECS", &["CPUUtilization", "MemoryUtilization"]),
    (
        "AWS/Lambda",
        &[
            "ConcurrentExecutions",
            "Duration",
            "Errors",
            "Invocations",
            "Throttles",
        ],
    ),
    (
        "AWS/RDS",
        &[
            "ACUUtilization",
            "CPUUtilization",
            "DatabaseConnections",
            "FreeableMemory",
            "ServerlessDatabaseCapacity",
        ],
    ),
    (
        "AWS/SQS",
        &[
            "ApproximateAgeOfOldestMessage",
            "ApproximateNumberOfMessagesVisible",
            "NumberOfMessagesSent",
        ],
    ),
    (
        "AWS/States",
        &[
            "ExecutionThrottled",
            "ExecutionTime",
            "ExecutionsAborted",
            "ExecutionsFailed",
            "ExecutionsStarted",
            "ExecutionsSucceeded",
            "ExecutionsTimedOut",
        ],
    ),
];

/// Checks every alarm. `custom` is (namespace, metric names our code publishes).
pub fn check_alarms(template: &Template<'_>, custom: (&str, &[String])) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let topics: Vec<(&str, Option<String>)> = template
        .of_type("AWS::SNS::Topic")
        .map(|topic| {
            let mut reference = serde_yaml::Mapping::new();
            reference.insert("Ref".into(), topic.id.into());
            (topic.id, template.resolve(&Value::Mapping(reference)))
        })
        .collect();
    for alarm in template.of_type("AWS::CloudWatch::Alarm") {
        let mut problem = |message: String| problems.push((alarm.id.to_owned(), message));
        let actions = alarm
            .prop(&["AlarmActions"])
            .map(as_list)
            .unwrap_or_default();
        if actions.is_empty() {
            problem("has no AlarmActions: nobody would hear of it".to_owned());
        }
        for field in ["AlarmActions", "OKActions", "InsufficientDataActions"] {
            for action in alarm.prop(&[field]).map(as_list).unwrap_or_default() {
                let is_topic = match Template::referenced_id(action) {
                    Some(id) => topics.iter().any(|(topic, _)| *topic == id),
                    None => action.as_str().is_some_and(|arn| {
                        topics
                            .iter()
                            .any(|(_, topic_arn)| topic_arn.as_deref() == Some(arn))
                    }),
                };
                if !is_topic {
                    problem(format!(
                        "{field} {} is not a topic of this stack",
                        short(action)
                    ));
                }
            }
        }
        let mut metrics = Vec::new();
        if let (Some(namespace), Some(name)) = (
            alarm.prop_str(&["Namespace"]),
            alarm.prop_str(&["MetricName"]),
        ) {
            metrics.push((namespace, name, alarm.prop(&["Dimensions"])));
        }
        if let Some(queries) = alarm.prop(&["Metrics"]).and_then(Value::as_sequence) {
            let ids: Vec<&str> = queries
                .iter()
                .filter_map(|q| q.get("Id").and_then(Value::as_str))
                .collect();
            let returned = queries
                .iter()
                .filter(|q| q.get("ReturnData").and_then(Value::as_bool) != Some(false))
                .count();
            if returned != 1 {
                problem(format!(
                    "metric math must return exactly one series, not {returned}"
                ));
            }
            for query in queries {
                if let Some(metric) = query.get("MetricStat").and_then(|stat| stat.get("Metric"))
                    && let (Some(namespace), Some(name)) = (
                        metric.get("Namespace").and_then(Value::as_str),
                        metric.get("MetricName").and_then(Value::as_str),
                    )
                {
                    metrics.push((namespace, name, metric.get("Dimensions")));
                }
                if let Some(expression) = query.get("Expression").and_then(Value::as_str) {
                    for word in expression.split(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
                        let is_identifier = word.starts_with(|c: char| c.is_ascii_lowercase());
                        if is_identifier && !ids.contains(&word) {
                            problem(format!(
                                "the expression uses `{word}`, which is not the Id of a metric of this alarm"
                            ));
                        }
                    }
                }
            }
        } else if metrics.is_empty() {
            problem("watches no metric (Namespace and MetricName, or Metrics)".to_owned());
        }
        for (namespace, name, dimensions) in metrics {
            let known = if namespace == custom.0 {
                custom.1.iter().any(|metric| metric == name)
            } else {
                AWS_METRICS
                    .iter()
                    .any(|(ns, names)| *ns == namespace && names.contains(&name))
            };
            if !known {
                problem(format!(
                    "watches {namespace} {name}, which neither AWS nor a function of functions.yaml publishes"
                ));
            }
            for dimension in dimensions.map(as_list).unwrap_or_default() {
                if let Some(id) = dimension.get("Value").and_then(Template::referenced_id)
                    && template.resource(id).is_none()
                {
                    problem(format!(
                        "a dimension refers to `{id}`, which is not a resource of this stack"
                    ));
                }
                if dimension.get("Name").and_then(Value::as_str) == Some("FunctionName") {
                    let function = dimension
                        .get("Value")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if template
                        .find_named("AWS::Lambda::Function", "FunctionName", function)
                        .is_none()
                    {
                        problem(format!(
                            "watches the function `{function}`, which is not a function of this stack"
                        ));
                    }
                }
            }
        }
    }
    problems
}
