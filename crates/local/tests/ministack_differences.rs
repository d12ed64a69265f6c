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

/// The stack once nothing about it is in progress.
fn settled_stack(aws: &mut Aws, name: &str) -> Value {
    let deadline = Instant::now() + STACK_DEADLINE;
    loop {
        let stack = aws.ok(
            "cloudformation",
            "describe_stacks",
            json!({"StackName": name}),
        )["Stacks"][0]
            .clone();
        if !stack["StackStatus"]
            .as_str()
            .is_some_and(|status| status.ends_with("IN_PROGRESS"))
        {
            return stack;
        }
        assert!(
            Instant::now() < deadline,
            "the stack still changes: {stack}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `(logical id, status)` of a stack's events, oldest first.
fn stack_events(aws: &mut Aws, name: &str) -> Vec<(String, String)> {
    let events = aws.ok(
        "cloudformation",
        "describe_stack_events",
        json!({"StackName": name}),
    );
    let mut all: Vec<(String, String)> = events["StackEvents"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["LogicalResourceId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["ResourceStatus"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    all.reverse();
    all
}

#[test]
fn cloudformation_refuses_alarms_on_metric_math() {
    let mut aws = connect();
    let template = json!({"Resources": {"Rate": {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": "pinned-metric-math",
            "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": 1,
            "Threshold": 10,
            "Metrics": [
                {"Id": "rate", "Expression": "100 * failed / started", "ReturnData": true},
                {"Id": "failed", "ReturnData": false, "MetricStat": {"Period": 300, "Stat": "Sum",
                    "Metric": {"Namespace": "AWS/States", "MetricName": "ExecutionsFailed"}}},
                {"Id": "started", "ReturnData": false, "MetricStat": {"Period": 300, "Stat": "Sum",
                    "Metric": {"Namespace": "AWS/States", "MetricName": "ExecutionsStarted"}}}
            ]
        }
    }}});
    aws.ok(
        "cloudformation",
        "create_stack",
        json!({"StackName": "pinned-metric-math", "TemplateBody": template.to_string()}),
    );
    // AWS creates the alarm; MiniStack fails the resource, so the local deploy leaves such
    // alarms out (userlog_deploy::adapt) and says so.
    let stack = settled_stack(&mut aws, "pinned-metric-math");
    assert_eq!(stack["StackStatus"], "ROLLBACK_COMPLETE", "{stack}");
    assert!(
        stack_events(&mut aws, "pinned-metric-math")
            .contains(&("Rate".to_owned(), "CREATE_FAILED".to_owned()))
    );
}

#[test]
fn a_stack_update_updates_resources_the_change_set_leaves_alone() {
    let mut aws = connect();
    let template = json!({
        "Parameters": {"QueueName": {"Type": "String"}},
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "pinned-untouched"}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "QueueName"}}}
        }
    })
    .to_string();
    let parameters = |name: &str| json!([{"ParameterKey": "QueueName", "ParameterValue": name}]);
    aws.ok(
        "cloudformation",
        "create_stack",
        json!({"StackName": "pinned-reapply", "TemplateBody": template, "Parameters": parameters("pinned-first")}),
    );
    settled_stack(&mut aws, "pinned-reapply");
    aws.ok(
        "cloudformation",
        "create_change_set",
        json!({"StackName": "pinned-reapply", "ChangeSetName": "rename", "TemplateBody": template,
            "Parameters": parameters("pinned-second")}),
    );
    let deadline = Instant::now() + STACK_DEADLINE;
    let change_set = loop {
        let change_set = aws.ok(
            "cloudformation",
            "describe_change_set",
            json!({"StackName": "pinned-reapply", "ChangeSetName": "rename"}),
        );
        if change_set["Status"] == "CREATE_COMPLETE" {
            break change_set;
        }
        assert!(Instant::now() < deadline, "{change_set}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let changed: Vec<&str> = change_set["Changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["ResourceChange"]["LogicalResourceId"].as_str())
        .collect();
    assert_eq!(changed, ["Queue"]);
    aws.ok(
        "cloudformation",
        "execute_change_set",
        json!({"StackName": "pinned-reapply", "ChangeSetName": "rename"}),
    );
    settled_stack(&mut aws, "pinned-reapply");
    // AWS updates only the queue; MiniStack reports an update of the topic too, so the events a
    // local deploy streams list every resource (the change set's review is still exact).
    assert!(
        stack_events(&mut aws, "pinned-reapply")
            .contains(&("Topic".to_owned(), "UPDATE_COMPLETE".to_owned()))
    );
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
    let stack = settled_stack(&mut aws, "pinned-differences");
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

#[test]
fn blank_lines_of_a_csv_item_source_are_skipped() {
    let mut aws = connect();
    aws.ok(
        "s3",
        "create_bucket",
        json!({"Bucket": "pinned-blank-lines",
            "CreateBucketConfiguration": {"LocationConstraint": "ap-northeast-1"}}),
    );
    aws.ok(
        "s3",
        "put_object",
        json!({"Bucket": "pinned-blank-lines", "Key": "users.csv",
            "Body": "user_id,login_count\nu1,1\n\nu2,2\n"}),
    );
    let execution = aws.run_state_machine(
        "blank-lines",
        &json!({
            "StartAt": "EachRow",
            "States": {"EachRow": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                    "Parameters": {"Bucket": "pinned-blank-lines", "Key": "users.csv"}
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Row",
                    "States": {"Row": {"Type": "Pass", "End": true}}
                },
                "End": true
            }}
        }),
        &json!({}),
    );
    assert_eq!(execution["status"], "SUCCEEDED", "{execution}");
    let output: Value =
        serde_json::from_str(execution["output"].as_str().expect("an output")).expect("JSON");
    // AWS does not document whether the blank line is an item (with empty fields); MiniStack
    // skips it.
    assert_eq!(
        output,
        json!([{"user_id": "u1", "login_count": "1"}, {"user_id": "u2", "login_count": "2"}])
    );
}
