//! The `import` state machine as rendered for `local`, run on the emulator with stand-in functions
//! and failures of AWS's side injected (`userlog_local::ministack::faults`): each `Retry` and
//! `Catch` of the definition does its job, and a typo in a JSONPath fails the execution as on AWS.
//! The tests share one emulator whose waits are shortened, and take turns (the function names are
//! the definition's, and faults strike whoever calls first).

mod support;

use std::sync::{Mutex, MutexGuard, OnceLock};

use expect_test::{Expect, expect};
use serde_json::{Value, json};
use userlog_local::EcsImage;
use userlog_local::ministack::Fault;

use support::{Aws, fast_waiting_emulator, fixture};

const INPUT_BUCKET: &str = "import-definition-input";
const OUTPUT_BUCKET: &str = "local-userlog-output-000000000000";
const ERRORS_TABLE: &str = "local-userlog-csv-processing-errors";
const ALERT_TOPIC: &str = "local-userlog-alerts";
const CLUSTER: &str = "local-userlog-import";
const TASK_FAMILY: &str = "local-userlog-import-csv";
const TASK_IMAGE: &str = "local/import-definition-task";
const VALIDATE: &str = "local-userlog-validate-csv";
const PROCESS: &str = "local-userlog-process-user-log";
const CHECK: &str = "local-userlog-check-errors";

/// One test at a time, each with the stand-ins in place.
fn turn() -> (MutexGuard<'static, ()>, Aws) {
    static TURN: Mutex<()> = Mutex::new(());
    static READY: OnceLock<()> = OnceLock::new();
    let guard = TURN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let emulator = fast_waiting_emulator();
    let mut aws = Aws::connect(&emulator.ministack, &emulator.env);
    READY.get_or_init(|| set_up(&mut aws));
    (guard, aws)
}

/// The functions, buckets, table, topic, cluster and task definition the definition names.
fn set_up(aws: &mut Aws) {
    for (function, role) in [
        (VALIDATE, "validate"),
        (PROCESS, "process"),
        (CHECK, "check"),
    ] {
        aws.ok(
            "lambda",
            "create_function",
            json!({
                "FunctionName": function,
                "Runtime": "provided.al2023",
                "Handler": "bootstrap",
                "Role": "arn:aws:iam::000000000000:role/local-test",
                "Environment": {"Variables": {"ROLE": role}},
                "Code": {"ZipFile": {"$zip": {"bootstrap": fixture("import_stand_in")}}},
            }),
        );
        let version = aws.ok(
            "lambda",
            "publish_version",
            json!({"FunctionName": function}),
        );
        aws.ok(
            "lambda",
            "create_alias",
            json!({"FunctionName": function, "Name": "stable", "FunctionVersion": version["Version"]}),
        );
    }
    aws.create_bucket(INPUT_BUCKET);
    aws.create_bucket(OUTPUT_BUCKET);
    create_errors_table(aws);
    aws.ok("sns", "create_topic", json!({"Name": ALERT_TOPIC}));
    aws.ok("ecs", "create_cluster", json!({"clusterName": CLUSTER}));
    aws.ok(
        "ecs",
        "register_task_definition",
        json!({
            "family": TASK_FAMILY,
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [{"name": "import-csv", "image": TASK_IMAGE, "essential": true}]
        }),
    );
    fast_waiting_emulator()
        .ministack
        .register_ecs_image(TASK_IMAGE, EcsImage::program(fixture("task.sh")))
        .expect("register the task's image");
}

fn create_errors_table(aws: &mut Aws) {
    aws.ok(
        "dynamodb",
        "create_table",
        json!({
            "TableName": ERRORS_TABLE,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "errorId", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "errorId", "KeyType": "HASH"}],
        }),
    );
}

/// The rendered `local` definition, with the stack's network values filled in.
fn definition() -> Value {
    let path = userlog_local::ministack::checkout_root().join("rendered/local/import.asl.json");
    let text = std::fs::read_to_string(&path).expect("the rendered definition");
    let text = text
        .replace("${PrivateSubnetA}", "subnet-a")
        .replace("${PrivateSubnetB}", "subnet-b")
        .replace("${TaskSecurityGroup}", "sg-task");
    serde_json::from_str(&text).expect("the rendered definition is JSON")
}

fn inject(fault: Fault) {
    fast_waiting_emulator()
        .ministack
        .inject_fault(fault)
        .expect("inject a fault");
}

/// Runs `definition` on an uploaded CSV of `rows` rows at `key`; returns the finished execution.
fn run(aws: &mut Aws, name: &str, definition: &Value, key: &str, rows: usize) -> Value {
    let mut csv = String::from("user_id,login_count,post_count\n");
    for row in 0..rows {
        csv.push_str(&format!("u{row},{row},{row}\n"));
    }
    aws.ok(
        "s3",
        "put_object",
        json!({"Bucket": INPUT_BUCKET, "Key": key, "Body": csv}),
    );
    aws.run_state_machine(
        name,
        definition,
        &json!({"bucket": INPUT_BUCKET, "key": key, "etag": "e1", "size": rows,
            "eventTime": "2026-01-31T01:00:00Z"}),
    )
}

/// The states an execution entered and the errors its tasks failed with, in order, then how it
/// ended.
fn trail(aws: &mut Aws, execution: &Value) -> String {
    let history = aws.ok(
        "stepfunctions",
        "get_execution_history",
        json!({"executionArn": execution["executionArn"]}),
    );
    let mut lines = Vec::new();
    for event in history["events"].as_array().expect("events") {
        let kind = event["type"].as_str().unwrap_or_default();
        if kind.ends_with("StateEntered") {
            lines.push(
                event["stateEnteredEventDetails"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        } else if kind == "TaskFailed" {
            let details = &event["taskFailedEventDetails"];
            lines.push(format!(
                "  failed {}",
                details["error"].as_str().unwrap_or_default()
            ));
        }
    }
    let ending = format!(
        "= {} {}",
        execution["status"].as_str().unwrap_or_default(),
        execution["error"].as_str().unwrap_or_default()
    );
    lines.push(ending.trim_end().to_owned());
    lines.join("\n") + "\n"
}

/// The task resources and errors of the child executions of the execution's one Map Run.
fn child_trails(aws: &mut Aws, execution: &Value) -> Vec<String> {
    let (_, children) = aws.map_run_children(execution);
    let mut trails = Vec::new();
    for child in &children {
        let history = aws.ok(
            "stepfunctions",
            "get_execution_history",
            json!({"executionArn": child["executionArn"]}),
        );
        let steps: Vec<String> = history["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|event| match event["type"].as_str() {
                Some("TaskScheduled") => Some(short_resource(
                    event["taskScheduledEventDetails"]["resource"]
                        .as_str()
                        .unwrap_or_default(),
                )),
                Some("TaskFailed") => Some(format!(
                    "failed {}",
                    event["taskFailedEventDetails"]["error"]
                        .as_str()
                        .unwrap_or_default()
                )),
                _ => None,
            })
            .collect();
        trails.push(format!(
            "{} {}",
            child["status"].as_str().unwrap_or_default(),
            steps.join(", ")
        ));
    }
    trails
}

/// A function's name without its alias, or an integration's action (`putItem`).
fn short_resource(resource: &str) -> String {
    match resource.split_once(":function:") {
        Some((_, function)) => function.split(':').next().unwrap_or_default().to_owned(),
        None => resource.rsplit(':').next().unwrap_or_default().to_owned(),
    }
}

fn check(aws: &mut Aws, execution: &Value, expected: &Expect) {
    expected.assert_eq(&trail(aws, execution));
}

#[test]
fn lambda_throttles_service_errors_and_database_errors_are_retried() {
    let (_turn, mut aws) = turn();
    inject(Fault::lambda(
        "validate-throttled",
        VALIDATE,
        "Lambda.TooManyRequestsException",
        2,
    ));
    inject(Fault::lambda(
        "validate-service",
        VALIDATE,
        "Lambda.ServiceException",
        1,
    ));
    inject(Fault::lambda(
        "validate-database",
        VALIDATE,
        "DatabaseError",
        2,
    ));
    inject(Fault::lambda(
        "process-throttled",
        PROCESS,
        "Lambda.TooManyRequestsException",
        1,
    ));
    inject(Fault::lambda(
        "process-database",
        PROCESS,
        "DatabaseError",
        1,
    ));
    inject(Fault::lambda(
        "check-sdk",
        CHECK,
        "Lambda.SdkClientException",
        1,
    ));
    inject(Fault::lambda("check-database", CHECK, "DatabaseError", 1));
    let execution = run(&mut aws, "import-retries", &definition(), "retries.csv", 3);
    check(
        &mut aws,
        &execution,
        &expect![[r#"
            ValidateFile
              failed Lambda.TooManyRequestsException
              failed Lambda.TooManyRequestsException
              failed Lambda.ServiceException
              failed DatabaseError
              failed DatabaseError
            RouteFile
            ApplyRows
            CheckErrorsAndNotify
              failed Lambda.SdkClientException
              failed DatabaseError
            ReportOutcome
            ImportSucceeded
            = SUCCEEDED
        "#]],
    );
    assert_eq!(
        child_trails(&mut aws, &execution),
        [
            "SUCCEEDED local-userlog-process-user-log, failed Lambda.TooManyRequestsException, local-userlog-process-user-log, failed DatabaseError, local-userlog-process-user-log"
        ]
    );
}

#[test]
fn a_validation_that_keeps_failing_is_caught_and_fails_the_import_through_the_check() {
    let (_turn, mut aws) = turn();
    // One attempt and six retries.
    inject(Fault::lambda(
        "validate-down",
        VALIDATE,
        "Lambda.ServiceException",
        7,
    ));
    let execution = run(
        &mut aws,
        "import-validation-down",
        &definition(),
        "down.csv",
        3,
    );
    check(
        &mut aws,
        &execution,
        &expect![[r#"
            ValidateFile
              failed Lambda.ServiceException
              failed Lambda.ServiceException
              failed Lambda.ServiceException
              failed Lambda.ServiceException
              failed Lambda.ServiceException
              failed Lambda.ServiceException
              failed Lambda.ServiceException
            CheckErrorsAndNotify
            ReportOutcome
            ImportFailed
            = FAILED Lambda.ServiceException
        "#]],
    );
}

#[test]
fn a_batch_that_keeps_failing_is_recorded_and_fails_the_map_run() {
    let (_turn, mut aws) = turn();
    // One attempt and every retry of the definition's DatabaseError retrier (MaxAttempts 10).
    inject(Fault::lambda(
        "process-database-down",
        PROCESS,
        "DatabaseError",
        11,
    ));
    let execution = run(
        &mut aws,
        "import-batch-fails",
        &definition(),
        "batch-fails.csv",
        3,
    );
    check(
        &mut aws,
        &execution,
        &expect![[r#"
            ValidateFile
            RouteFile
            ApplyRows
            CheckErrorsAndNotify
            ReportOutcome
            ImportFailed
            = FAILED States.ExceedToleratedFailureThreshold
        "#]],
    );
    assert_eq!(
        child_trails(&mut aws, &execution),
        [format!(
            "FAILED {}putItem",
            "local-userlog-process-user-log, failed DatabaseError, ".repeat(11)
        )]
    );
    let records = aws.ok(
        "dynamodb",
        "scan",
        json!({"TableName": ERRORS_TABLE, "FilterExpression": "executionName = :name",
            "ExpressionAttributeValues": {":name": {"S": execution["name"]}}}),
    );
    let record = &records["Items"][0];
    assert_eq!(record["errorType"]["S"], "BatchFailed", "{records}");
    assert_eq!(record["recordData"]["M"]["itemCount"]["N"], "3");
    let message: Value =
        serde_json::from_str(record["errorMessage"]["S"].as_str().expect("a message"))
            .expect("JSON");
    assert_eq!(message["Error"], "DatabaseError");
}

#[test]
fn a_batch_failure_that_cannot_be_recorded_is_retried_and_still_fails_the_batch() {
    let (_turn, mut aws) = turn();
    aws.ok(
        "dynamodb",
        "delete_table",
        json!({"TableName": ERRORS_TABLE}),
    );
    inject(Fault::lambda(
        "process-unknown",
        PROCESS,
        "Lambda.Unknown",
        1,
    ));
    let execution = run(
        &mut aws,
        "import-record-fails",
        &definition(),
        "record-fails.csv",
        3,
    );
    let children = child_trails(&mut aws, &execution);
    create_errors_table(&mut aws);
    assert_eq!(execution["error"], "States.ExceedToleratedFailureThreshold");
    // RecordBatchFailure: one attempt and three retries on States.TaskFailed, then its Catch.
    assert_eq!(children.len(), 1);
    let failures = children[0].matches("putItem, failed DynamoDB.").count();
    assert_eq!(failures, 4, "{children:?}");
    assert!(
        children[0]
            .starts_with("FAILED local-userlog-process-user-log, failed Lambda.Unknown, putItem"),
        "{children:?}"
    );
}

#[test]
fn an_error_check_that_keeps_failing_alerts_people_and_fails_the_execution() {
    let (_turn, mut aws) = turn();
    // One attempt and every retry of the definition's DatabaseError retrier (MaxAttempts 10).
    inject(Fault::lambda(
        "check-database-down",
        CHECK,
        "DatabaseError",
        11,
    ));
    let execution = run(
        &mut aws,
        "import-check-fails",
        &definition(),
        "check-fails.csv",
        3,
    );
    check(
        &mut aws,
        &execution,
        &expect![[r#"
            ValidateFile
            RouteFile
            ApplyRows
            CheckErrorsAndNotify
              failed DatabaseError
              failed DatabaseError
              failed DatabaseError
              failed DatabaseError
              failed DatabaseError
              failed DatabaseError
              failed DatabaseError
              failed DatabaseError
              failed DatabaseError
              failed DatabaseError
              failed DatabaseError
            NotifyCheckFailed
            CheckFailed
            = FAILED ErrorCheckFailed
        "#]],
    );

    // Without the topic the alert fails too: retried on States.TaskFailed, then its Catch.
    let topic = format!("arn:aws:sns:ap-northeast-1:000000000000:{ALERT_TOPIC}");
    aws.ok("sns", "delete_topic", json!({"TopicArn": topic}));
    inject(Fault::lambda(
        "check-database-down-again",
        CHECK,
        "DatabaseError",
        11,
    ));
    let execution = run(
        &mut aws,
        "import-alert-fails",
        &definition(),
        "alert-fails.csv",
        3,
    );
    aws.ok("sns", "create_topic", json!({"Name": ALERT_TOPIC}));
    let trail = trail(&mut aws, &execution);
    let alert = trail
        .split("NotifyCheckFailed\n")
        .nth(1)
        .expect("the alert ran");
    // AWS names the SNS exception (SNS.NotFoundException); MiniStack says SNS.PublishFailed.
    assert_eq!(
        alert.matches("  failed SNS.PublishFailed\n").count(),
        4,
        "{trail}"
    );
    assert!(
        alert.ends_with("CheckFailed\n= FAILED ErrorCheckFailed\n"),
        "{trail}"
    );
}

#[test]
fn a_bulk_task_that_cannot_start_is_caught_and_fails_the_import_through_the_check() {
    let (_turn, mut aws) = turn();
    let succeeded = run(&mut aws, "import-bulk", &definition(), "bulk.csv", 3);
    check(
        &mut aws,
        &succeeded,
        &expect![[r#"
            ValidateFile
            RouteFile
            BulkImport
            CheckErrorsAndNotify
            ReportOutcome
            ImportSucceeded
            = SUCCEEDED
        "#]],
    );
    inject(Fault::task_fails_to_start(
        "bulk-no-start",
        TASK_FAMILY,
        "ResourceInitializationError: unable to pull secrets or registry auth",
        1,
    ));
    let no_start = run(
        &mut aws,
        "import-bulk-no-start",
        &definition(),
        "bulk-no-start.csv",
        3,
    );
    check(
        &mut aws,
        &no_start,
        &expect![[r#"
            ValidateFile
            RouteFile
            BulkImport
              failed States.TaskFailed
            CheckErrorsAndNotify
            ReportOutcome
            ImportFailed
            = FAILED States.TaskFailed
        "#]],
    );
    inject(Fault::run_task_failure(
        "bulk-no-capacity",
        TASK_FAMILY,
        "RESOURCE:MEMORY",
        1,
    ));
    let no_capacity = run(
        &mut aws,
        "import-bulk-no-capacity",
        &definition(),
        "bulk-no-capacity.csv",
        3,
    );
    check(
        &mut aws,
        &no_capacity,
        &expect![[r#"
            ValidateFile
            RouteFile
            BulkImport
              failed AmazonECS.Unknown
            CheckErrorsAndNotify
            ReportOutcome
            ImportFailed
            = FAILED AmazonECS.Unknown
        "#]],
    );
}

#[test]
fn a_typo_in_a_path_fails_the_execution_without_reaching_any_catch() {
    let (_turn, mut aws) = turn();
    let mut typo = definition();
    typo["States"]["ValidateFile"]["Parameters"]["key.$"] = json!("$.kye");
    let execution = run(&mut aws, "import-typo-parameters", &typo, "typo.csv", 3);
    check(
        &mut aws,
        &execution,
        &expect![[r#"
            ValidateFile
            = FAILED States.Runtime
        "#]],
    );

    let mut typo = definition();
    typo["States"]["ApplyRows"]["ItemBatcher"]["BatchInput"]["importId.$"] =
        json!("$.validation.importid");
    let execution = run(
        &mut aws,
        "import-typo-batch-input",
        &typo,
        "typo-batch.csv",
        3,
    );
    check(
        &mut aws,
        &execution,
        &expect![[r#"
            ValidateFile
            RouteFile
            ApplyRows
            = FAILED States.Runtime
        "#]],
    );
    assert!(
        execution["cause"]
            .as_str()
            .is_some_and(|cause| cause.contains("$.validation.importid")),
        "{execution}"
    );
}
