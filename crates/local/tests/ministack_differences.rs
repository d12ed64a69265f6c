//! The differences between the pinned MiniStack and AWS that the launcher leaves in place, each
//! pinned here so that a new MiniStack version that changes one fails a test and gets its row in
//! `docs/local-emulator.md` updated. The tests share one emulator and use names of their own.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use support::{Aws, shared_emulator};

/// How long a CloudFormation stack may take to settle.
const STACK_DEADLINE: Duration = Duration::from_secs(60);

fn connect() -> Aws {
    let emulator = shared_emulator();
    Aws::connect(&emulator.ministack, &emulator.env)
}

#[test]
fn a_failed_execution_has_an_output() {
    let mut aws = connect();
    let execution = aws.run_state_machine(
        "fails-at-once",
        &json!({"StartAt": "Failed", "States": {"Failed": {"Type": "Fail", "Error": "ImportFailed", "Cause": "pinned"}}}),
        &json!({}),
    );
    assert_eq!(execution["status"], "FAILED");
    assert_eq!(execution["error"], "ImportFailed");
    // AWS gives a failed execution no output; MiniStack repeats the error and cause there.
    let output: Value =
        serde_json::from_str(execution["output"].as_str().expect("an output")).expect("JSON");
    assert_eq!(output, json!({"Error": "ImportFailed", "Cause": "pinned"}));
}

#[test]
fn an_invalid_state_machine_is_accepted_at_creation() {
    let mut aws = connect();
    // AWS refuses both with InvalidDefinition; MiniStack fails only when the state is reached.
    let created = aws.call(
        "stepfunctions",
        "create_state_machine",
        json!({
            "name": "invalid-definition",
            "definition": json!({
                "StartAt": "Bogus",
                "States": {"Bogus": {"Type": "Bogus", "Next": "Nowhere"}}
            }).to_string(),
            "roleArn": "arn:aws:iam::000000000000:role/local-test",
        }),
    );
    assert!(created.is_ok(), "{created:?}");
}

#[test]
fn alarms_ignore_dimensions_and_are_evaluated_only_when_metrics_arrive() {
    let mut aws = connect();
    aws.ok(
        "cloudwatch",
        "put_metric_alarm",
        json!({
            "AlarmName": "pinned-error-count",
            "Namespace": "Pinned/Processing",
            "MetricName": "ErrorCount",
            "Dimensions": [{"Name": "Environment", "Value": "local"}],
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 10.0,
            "ComparisonOperator": "GreaterThanThreshold",
        }),
    );
    let state = |aws: &mut Aws| {
        aws.ok(
            "cloudwatch",
            "describe_alarms",
            json!({"AlarmNames": ["pinned-error-count"]}),
        )["MetricAlarms"][0]["StateValue"]
            .clone()
    };
    assert_eq!(state(&mut aws), "INSUFFICIENT_DATA");
    // A datapoint of another dimension value: AWS leaves this alarm alone.
    aws.ok(
        "cloudwatch",
        "put_metric_data",
        json!({
            "Namespace": "Pinned/Processing",
            "MetricData": [{
                "MetricName": "ErrorCount",
                "Dimensions": [{"Name": "Environment", "Value": "staging"}],
                "Value": 50.0,
            }],
        }),
    );
    assert_eq!(state(&mut aws), "ALARM");
}

#[test]
fn embedded_metric_format_logs_create_no_metrics() {
    let mut aws = connect();
    aws.ok(
        "logs",
        "create_log_group",
        json!({"logGroupName": "/pinned/emf"}),
    );
    aws.ok(
        "logs",
        "create_log_stream",
        json!({"logGroupName": "/pinned/emf", "logStreamName": "only"}),
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let line = json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Pinned/Emf",
                "Dimensions": [["Environment"]],
                "Metrics": [{"Name": "ErrorCount", "Unit": "Count"}],
            }],
        },
        "Environment": "local",
        "ErrorCount": 3,
    });
    aws.ok(
        "logs",
        "put_log_events",
        json!({
            "logGroupName": "/pinned/emf",
            "logStreamName": "only",
            "logEvents": [{"timestamp": now_ms, "message": line.to_string()}],
        }),
    );
    // AWS extracts ErrorCount into the Pinned/Emf namespace; MiniStack keeps only the log line.
    let metrics = aws.ok(
        "cloudwatch",
        "list_metrics",
        json!({"Namespace": "Pinned/Emf"}),
    );
    assert_eq!(metrics["Metrics"], json!([]));
}

#[test]
fn cloudformation_ignores_table_ttl_and_refs_a_secret_by_name() {
    let mut aws = connect();
    let template = json!({
        "Resources": {
            "Errors": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": "pinned-errors",
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "errorId", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "errorId", "KeyType": "HASH"}],
                    "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": true}
                }
            },
            "Credentials": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"Name": "pinned-credentials", "SecretString": "{}"}
            }
        },
        "Outputs": {"CredentialsRef": {"Value": {"Ref": "Credentials"}}}
    });
    aws.ok(
        "cloudformation",
        "create_stack",
        json!({"StackName": "pinned-differences", "TemplateBody": template.to_string()}),
    );
    let deadline = Instant::now() + STACK_DEADLINE;
    let stack = loop {
        let stack = aws.ok(
            "cloudformation",
            "describe_stacks",
            json!({"StackName": "pinned-differences"}),
        )["Stacks"][0]
            .clone();
        if !stack["StackStatus"]
            .as_str()
            .is_some_and(|status| status.ends_with("IN_PROGRESS"))
        {
            break stack;
        }
        assert!(
            Instant::now() < deadline,
            "the stack still changes: {stack}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(stack["StackStatus"], "CREATE_COMPLETE", "{stack}");
    // AWS enables TTL on `ttl`; MiniStack's CloudFormation leaves it disabled.
    let ttl = aws.ok(
        "dynamodb",
        "describe_time_to_live",
        json!({"TableName": "pinned-errors"}),
    );
    assert_eq!(ttl["TimeToLiveDescription"]["TimeToLiveStatus"], "DISABLED");
    // AWS's Ref of a secret is its ARN; MiniStack's is its name.
    let reference = stack["Outputs"][0]["OutputValue"]
        .as_str()
        .expect("an output");
    assert!(!reference.starts_with("arn:"), "{reference}");
}

#[test]
fn the_states_inside_a_map_write_no_history() {
    let mut aws = connect();
    let execution = aws.run_state_machine(
        "inline-map-history",
        &json!({
            "StartAt": "EachRow",
            "States": {
                "EachRow": {
                    "Type": "Map",
                    "ItemsPath": "$.rows",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Apply",
                        "States": {"Apply": {"Type": "Pass", "End": true}}
                    },
                    "End": true
                }
            }
        }),
        &json!({"rows": [1, 2]}),
    );
    assert_eq!(execution["status"], "SUCCEEDED");
    let history = aws.ok(
        "stepfunctions",
        "get_execution_history",
        json!({"executionArn": execution["executionArn"]}),
    );
    let types: Vec<&str> = history["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["type"].as_str().expect("a type"))
        .collect();
    // AWS also records MapIterationStarted/Succeeded and the Pass states inside each iteration.
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "MapStateEntered",
            "MapStateExited",
            "ExecutionSucceeded"
        ]
    );
}
