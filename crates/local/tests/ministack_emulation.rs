//! What the launcher's patches make the emulator do, against the real pinned MiniStack: the
//! Distributed Map's ItemBatcher, ResultWriter and Map Run, ECS tasks run as local processes for
//! `ecs:runTask.sync`, strict JSONPath, and Retry and Catch as AWS documents them. The tests share
//! one emulator and use names of their own.

mod support;

use expect_test::{Expect, expect};
use serde_json::{Value, json};
use userlog_local::EcsImage;
use userlog_local::ministack::read_ecs_images;

use support::{Aws, fixture, parsed, redact_uuids, run_python, shared_emulator, snapshot};

fn connect() -> Aws {
    let emulator = shared_emulator();
    Aws::connect(&emulator.ministack, &emulator.env)
}

/// A CSV of `rows` users; the user ids in `bad` are spelled `bad` instead.
fn users_csv(rows: usize, bad: &[usize]) -> String {
    let mut csv = String::from("user_id,login_count,post_count\n");
    for row in 0..rows {
        let id = if bad.contains(&row) {
            "bad".to_owned()
        } else {
            format!("u{row}")
        };
        csv.push_str(&format!("{id},{row},{}\n", row * 10));
    }
    csv
}

/// A Distributed Map shaped like the `import` state machine's ApplyRows: CSV rows from S3,
/// ItemSelector, ItemBatcher with BatchInput, a tolerance, and ResultWriter. A batch whose first
/// row has the user id `bad` fails.
fn batching_map(output_bucket: &str, tolerance: &Value) -> Value {
    let mut map = json!({
        "Type": "Map",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
            "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"}
        },
        "ItemSelector": {"index.$": "$$.Map.Item.Index", "row.$": "$$.Map.Item.Value"},
        "ItemBatcher": {
            "MaxItemsPerBatch": 3,
            "BatchInput": {"key.$": "$.key", "executionName.$": "$$.Execution.Name"}
        },
        "MaxConcurrency": 2,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "CheckBatch",
            "States": {
                "CheckBatch": {
                    "Type": "Choice",
                    "Choices": [{
                        "Variable": "$.Items[0].row.user_id",
                        "StringEquals": "bad",
                        "Next": "BatchFailed"
                    }],
                    "Default": "BatchDone"
                },
                "BatchDone": {"Type": "Pass", "End": true},
                "BatchFailed": {"Type": "Fail", "Error": "BatchFailed", "Cause": "the batch starts with a bad row"}
            }
        },
        "ResultWriter": {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": output_bucket, "Prefix": "results/"}
        },
        "ResultPath": "$.mapRun",
        "End": true
    });
    for (key, value) in tolerance.as_object().expect("tolerance fields") {
        map[key] = value.clone();
    }
    json!({"StartAt": "ApplyRows", "States": {"ApplyRows": map}})
}

/// The records of a result file, each with its Input and Output parsed, ordered by the first
/// item's index (child executions finish in any order).
fn result_records(aws: &mut Aws, bucket: &str, key: &str) -> Value {
    let mut records: Vec<Value> =
        serde_json::from_str(&aws.object_text(bucket, key)).expect("a result file is a JSON array");
    for record in &mut records {
        record["Input"] = parsed(&record["Input"]);
        if record.get("Output").is_some() {
            record["Output"] = parsed(&record["Output"]);
        }
        for volatile in ["StartDate", "StopDate"] {
            assert!(record[volatile].is_string(), "{volatile} in {record}");
            record[volatile] = json!("<date>");
        }
    }
    records.sort_by_key(|record| record["Input"]["Items"][0]["index"].as_u64());
    Value::Array(records)
}

fn check(value: &Value, expected: &Expect) {
    expected.assert_eq(&snapshot(value));
}

#[test]
fn a_distributed_map_batches_rows_and_writes_its_results_to_s3() {
    let mut aws = connect();
    aws.create_bucket("batching-input");
    aws.create_bucket("batching-output");
    aws.ok(
        "s3",
        "put_object",
        json!({"Bucket": "batching-input", "Key": "in/users.csv", "Body": users_csv(7, &[])}),
    );

    let execution = aws.run_state_machine(
        "batching-map",
        &batching_map("batching-output", &json!({"ToleratedFailurePercentage": 5})),
        &json!({"bucket": "batching-input", "key": "in/users.csv"}),
    );
    assert_eq!(execution["status"], "SUCCEEDED", "{execution}");
    let output = parsed(&execution["output"]);
    check(
        &output,
        &expect![[r#"
            {
              "bucket": "batching-input",
              "key": "in/users.csv",
              "mapRun": {
                "MapRunArn": "arn:aws:states:ap-northeast-1:000000000000:mapRun:batching-map/<uuid>:<uuid>",
                "ResultWriterDetails": {
                  "Bucket": "batching-output",
                  "Key": "results/<uuid>/manifest.json"
                }
              }
            }"#]],
    );

    let map_run_arn = output["mapRun"]["MapRunArn"].as_str().expect("an ARN");
    let manifest_key = output["mapRun"]["ResultWriterDetails"]["Key"]
        .as_str()
        .expect("a key");
    let run_id = map_run_arn.rsplit(':').next().expect("a map run id");
    assert_eq!(manifest_key, format!("results/{run_id}/manifest.json"));
    let manifest: Value =
        serde_json::from_str(&aws.object_text("batching-output", manifest_key)).expect("JSON");
    let mut manifest_shape = manifest.clone();
    manifest_shape["ResultFiles"]["SUCCEEDED"][0]["Size"] = json!("<size>");
    check(
        &manifest_shape,
        &expect![[r#"
            {
              "DestinationBucket": "batching-output",
              "MapRunArn": "arn:aws:states:ap-northeast-1:000000000000:mapRun:batching-map/<uuid>:<uuid>",
              "ResultFiles": {
                "FAILED": [],
                "PENDING": [],
                "SUCCEEDED": [
                  {
                    "Key": "results/<uuid>/SUCCEEDED_0.json",
                    "Size": "<size>"
                  }
                ]
              }
            }"#]],
    );

    // Seven rows in batches of at most three: three child executions, each given its rows after
    // ItemSelector (with their index in the file) and the BatchInput resolved once.
    let records = result_records(
        &mut aws,
        "batching-output",
        &format!("results/{run_id}/SUCCEEDED_0.json"),
    );
    let outputs: Vec<&Value> = records
        .as_array()
        .expect("records")
        .iter()
        .map(|record| &record["Output"])
        .collect();
    let execution_name = execution["name"].as_str().expect("a name");
    let rendered = redact_uuids(
        &serde_json::to_string_pretty(&json!(outputs))
            .expect("serialisable")
            .replace(execution_name, "<execution name>"),
    );
    expect![[r#"
        [
          {
            "Items": [
              {
                "index": 0,
                "row": {
                  "user_id": "u0",
                  "login_count": "0",
                  "post_count": "0"
                }
              },
              {
                "index": 1,
                "row": {
                  "user_id": "u1",
                  "login_count": "1",
                  "post_count": "10"
                }
              },
              {
                "index": 2,
                "row": {
                  "user_id": "u2",
                  "login_count": "2",
                  "post_count": "20"
                }
              }
            ],
            "BatchInput": {
              "key": "in/users.csv",
              "executionName": "<execution name>"
            }
          },
          {
            "Items": [
              {
                "index": 3,
                "row": {
                  "user_id": "u3",
                  "login_count": "3",
                  "post_count": "30"
                }
              },
              {
                "index": 4,
                "row": {
                  "user_id": "u4",
                  "login_count": "4",
                  "post_count": "40"
                }
              },
              {
                "index": 5,
                "row": {
                  "user_id": "u5",
                  "login_count": "5",
                  "post_count": "50"
                }
              }
            ],
            "BatchInput": {
              "key": "in/users.csv",
              "executionName": "<execution name>"
            }
          },
          {
            "Items": [
              {
                "index": 6,
                "row": {
                  "user_id": "u6",
                  "login_count": "6",
                  "post_count": "60"
                }
              }
            ],
            "BatchInput": {
              "key": "in/users.csv",
              "executionName": "<execution name>"
            }
          }
        ]"#]]
    .assert_eq(&rendered);
    let mut first = records[0].clone();
    first["Input"] = json!("<the batch>");
    first["Output"] = json!("<the batch>");
    check(
        &first,
        &expect![[r#"
            {
              "ExecutionArn": "arn:aws:states:ap-northeast-1:000000000000:execution:batching-map/<uuid>:<uuid>",
              "Input": "<the batch>",
              "InputDetails": {
                "Included": true
              },
              "Name": "<uuid>",
              "StartDate": "<date>",
              "StateMachineArn": "arn:aws:states:ap-northeast-1:000000000000:stateMachine:batching-map/<uuid>",
              "Status": "SUCCEEDED",
              "StopDate": "<date>",
              "Output": "<the batch>",
              "OutputDetails": {
                "Included": true
              }
            }"#]],
    );

    // The Map Run counts rows as items and batches as child executions.
    let map_run = aws.ok(
        "stepfunctions",
        "describe_map_run",
        json!({"mapRunArn": map_run_arn}),
    );
    check(
        &json!({"itemCounts": map_run["itemCounts"], "executionCounts": map_run["executionCounts"]}),
        &expect![[r#"
            {
              "itemCounts": {
                "pending": 0,
                "running": 0,
                "succeeded": 7,
                "failed": 0,
                "timedOut": 0,
                "aborted": 0,
                "total": 7,
                "resultsWritten": 7,
                "failuresNotRedrivable": 0,
                "pendingRedrive": 0
              },
              "executionCounts": {
                "pending": 0,
                "running": 0,
                "succeeded": 3,
                "failed": 0,
                "timedOut": 0,
                "aborted": 0,
                "total": 3,
                "resultsWritten": 0,
                "failuresNotRedrivable": 0,
                "pendingRedrive": 0
              }
            }"#]],
    );
}

#[test]
fn a_map_run_over_its_tolerance_fails_and_still_writes_its_results() {
    let mut aws = connect();
    aws.create_bucket("tolerance-input");
    aws.create_bucket("tolerance-output");
    aws.ok(
        "s3",
        "put_object",
        json!({"Bucket": "tolerance-input", "Key": "users.csv", "Body": users_csv(7, &[6])}),
    );

    let execution = aws.run_state_machine(
        "tolerance-map",
        // One batch at a time, and the last one fails: every batch has run.
        &batching_map(
            "tolerance-output",
            &json!({"ToleratedFailureCount": 0, "MaxConcurrency": 1}),
        ),
        &json!({"bucket": "tolerance-input", "key": "users.csv"}),
    );
    assert_eq!(execution["status"], "FAILED", "{execution}");
    assert_eq!(execution["error"], "States.ExceedToleratedFailureThreshold");

    let runs = aws.ok(
        "stepfunctions",
        "list_map_runs",
        json!({"executionArn": execution["executionArn"]}),
    );
    let map_run_arn = runs["mapRuns"][0]["mapRunArn"].as_str().expect("a map run");
    let run_id = map_run_arn.rsplit(':').next().expect("a map run id");
    let listing = aws.ok(
        "s3",
        "list_objects_v2",
        json!({"Bucket": "tolerance-output", "Prefix": "results/"}),
    );
    let keys: Vec<String> = listing["Contents"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|object| redact_uuids(object["Key"].as_str().expect("a key")))
        .collect();
    assert_eq!(
        keys,
        [
            "results/<uuid>/FAILED_0.json",
            "results/<uuid>/SUCCEEDED_0.json",
            "results/<uuid>/manifest.json",
        ]
    );

    let failed = result_records(
        &mut aws,
        "tolerance-output",
        &format!("results/{run_id}/FAILED_0.json"),
    );
    let mut failed = failed[0].clone();
    failed["Input"] = json!(
        failed["Input"]["Items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| item["index"].clone())
            .collect::<Vec<_>>()
    );
    check(
        &failed,
        &expect![[r#"
            {
              "ExecutionArn": "arn:aws:states:ap-northeast-1:000000000000:execution:tolerance-map/<uuid>:<uuid>",
              "Input": [
                6
              ],
              "InputDetails": {
                "Included": true
              },
              "Name": "<uuid>",
              "StartDate": "<date>",
              "StateMachineArn": "arn:aws:states:ap-northeast-1:000000000000:stateMachine:tolerance-map/<uuid>",
              "Status": "FAILED",
              "StopDate": "<date>",
              "Error": "BatchFailed",
              "Cause": "the batch starts with a bad row"
            }"#]],
    );
    let succeeded = result_records(
        &mut aws,
        "tolerance-output",
        &format!("results/{run_id}/SUCCEEDED_0.json"),
    );
    assert_eq!(succeeded.as_array().map(Vec::len), Some(2));
}

/// A task definition whose one container's image the tests map to the fixture script.
fn register_task_definition(aws: &mut Aws, family: &str, image: &str) {
    aws.ok(
        "ecs",
        "register_task_definition",
        json!({
            "family": family,
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [{
                "name": "import",
                "image": image,
                "essential": true,
                "command": ["--from-task-definition"],
                "environment": [
                    {"name": "FROM_TASK_DEFINITION", "value": "task definition"},
                    {"name": "OVERRIDDEN", "value": "task definition"}
                ]
            }]
        }),
    );
}

/// A state machine shaped like the `import` state machine's BulkImport: `ecs:runTask.sync` with
/// container overrides, reading `$.TaskArn` from the result.
fn bulk_import(cluster: &str, family: &str) -> Value {
    json!({
        "StartAt": "BulkImport",
        "States": {
            "BulkImport": {
                "Type": "Task",
                "Resource": "arn:aws:states:::ecs:runTask.sync",
                "Parameters": {
                    "Cluster": cluster,
                    "TaskDefinition": family,
                    "LaunchType": "FARGATE",
                    "NetworkConfiguration": {
                        "AwsvpcConfiguration": {"Subnets": ["subnet-1"], "SecurityGroups": ["sg-1"], "AssignPublicIp": "DISABLED"}
                    },
                    "Overrides": {
                        "ContainerOverrides": [{
                            "Name": "import",
                            "Environment": [
                                {"Name": "OVERRIDDEN", "Value": "override"},
                                {"Name": "EXIT_CODE", "Value.$": "$.exitCode"}
                            ]
                        }]
                    }
                },
                "ResultSelector": {
                    "taskArn.$": "$.TaskArn",
                    "exitCode.$": "$.Containers[0].ExitCode",
                    "stopCode.$": "$.StopCode",
                    "startedBy.$": "$.StartedBy"
                },
                "ResultPath": "$.bulk",
                "End": true
            }
        }
    })
}

/// The log of the task whose ARN is `task_arn`, with the emulator's port and paths left out.
fn task_log(task_arn: &str) -> String {
    let emulator = shared_emulator();
    let task_id = task_arn.rsplit('/').next().expect("a task id");
    let path = emulator
        .ministack
        .ecs_task_log_dir()
        .join(format!("{task_id}.log"));
    let text = std::fs::read_to_string(&path).expect("the task's log");
    let endpoint = emulator.ministack.endpoint_url().expect("the endpoint");
    redact_uuids(
        &text
            .replace(&endpoint, "<endpoint>")
            .replace(&fixture("task.sh").display().to_string(), "<task.sh>"),
    )
}

#[test]
fn run_task_sync_runs_the_container_as_a_local_process_and_follows_its_exit_code() {
    let emulator = shared_emulator();
    emulator
        .ministack
        .register_ecs_image(
            "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/local-userlog-import-csv",
            EcsImage::program(fixture("task.sh")).with_env("FROM_IMAGE", "image"),
        )
        .expect("register the image");
    let images = read_ecs_images(&emulator.ministack.ecs_images_file()).expect("the images file");
    assert_eq!(images.images.len(), 1);

    let mut aws = connect();
    aws.ok(
        "ecs",
        "create_cluster",
        json!({"clusterName": "bulk-cluster"}),
    );
    register_task_definition(
        &mut aws,
        "bulk-import",
        "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/local-userlog-import-csv:build-42",
    );
    let machine = aws.ok(
        "stepfunctions",
        "create_state_machine",
        json!({
            "name": "bulk-import",
            "definition": bulk_import("bulk-cluster", "bulk-import").to_string(),
            "roleArn": "arn:aws:iam::000000000000:role/local-test",
        }),
    );
    let machine_arn = machine["stateMachineArn"]
        .as_str()
        .expect("an ARN")
        .to_owned();

    let succeeded = aws.start_and_finish(&machine_arn, &json!({"exitCode": "0"}));
    assert_eq!(succeeded["status"], "SUCCEEDED", "{succeeded}");
    let output = parsed(&succeeded["output"]);
    check(
        &output,
        &expect![[r#"
            {
              "exitCode": "0",
              "bulk": {
                "taskArn": "arn:aws:ecs:ap-northeast-1:000000000000:task/bulk-cluster/<uuid>",
                "exitCode": 0,
                "stopCode": "EssentialContainerExited",
                "startedBy": "AWS Step Functions"
              }
            }"#]],
    );
    expect![[r#"
        # task arn:aws:ecs:ap-northeast-1:000000000000:task/bulk-cluster/<uuid>
        # image 123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/local-userlog-import-csv:build-42
        # argv ["<task.sh>", "--from-task-definition"]
        args: --from-task-definition
        FROM_IMAGE=image
        FROM_TASK_DEFINITION=task definition
        OVERRIDDEN=override
        AWS_REGION=ap-northeast-1
        AWS_ENDPOINT_URL=<endpoint>
        DATABASE_URL=<unset>
        GATEWAY_PORT=<unset>
        USERLOG_ECS_IMAGES=<unset>
        # exited with code 0
    "#]]
    .assert_eq(&task_log(
        output["bulk"]["taskArn"].as_str().expect("an ARN"),
    ));

    let failed = aws.start_and_finish(&machine_arn, &json!({"exitCode": "3"}));
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["error"], "States.TaskFailed");
    let cause = parsed(&failed["cause"]);
    check(
        &json!({
            "LastStatus": cause["LastStatus"],
            "StopCode": cause["StopCode"],
            "StoppedReason": cause["StoppedReason"],
            "Containers": cause["Containers"].as_array().expect("containers").iter()
                .map(|container| json!({"Name": container["Name"], "ExitCode": container["ExitCode"]}))
                .collect::<Vec<_>>(),
        }),
        &expect![[r#"
            {
              "LastStatus": "STOPPED",
              "StopCode": "EssentialContainerExited",
              "StoppedReason": "Essential container in task exited",
              "Containers": [
                {
                  "Name": "import",
                  "ExitCode": 3
                }
              ]
            }"#]],
    );
}

#[test]
fn a_task_whose_image_has_no_local_program_fails_to_start() {
    let mut aws = connect();
    aws.ok(
        "ecs",
        "create_cluster",
        json!({"clusterName": "unmapped-cluster"}),
    );
    register_task_definition(&mut aws, "unmapped", "local/not-registered:latest");
    let failed = aws.run_state_machine(
        "unmapped-import",
        &bulk_import("unmapped-cluster", "unmapped"),
        &json!({"exitCode": "0"}),
    );
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["error"], "States.TaskFailed");
    let cause = parsed(&failed["cause"]);
    assert_eq!(cause["StopCode"], "TaskFailedToStart");
    let reason = cause["StoppedReason"].as_str().expect("a reason");
    assert!(
        reason.starts_with("CannotPullContainerError: the image 'local/not-registered:latest' has no local program in ")
            && reason.ends_with("ecs-images.json; the deploy tooling registers one (userlog_local::ministack::register_ecs_image)"),
        "{reason}"
    );
}

#[test]
fn run_task_through_the_api_runs_the_container_too() {
    let emulator = shared_emulator();
    emulator
        .ministack
        .register_ecs_image("local/api-task", EcsImage::program(fixture("task.sh")))
        .expect("register the image");
    let mut aws = connect();
    aws.ok(
        "ecs",
        "create_cluster",
        json!({"clusterName": "api-cluster"}),
    );
    register_task_definition(&mut aws, "api-task", "local/api-task:v1");
    let started = aws.ok(
        "ecs",
        "run_task",
        json!({
            "cluster": "api-cluster",
            "taskDefinition": "api-task",
            "launchType": "FARGATE",
            "overrides": {"containerOverrides": [{"name": "import", "environment": [{"name": "EXIT_CODE", "value": "5"}]}]}
        }),
    );
    let task_arn = started["tasks"][0]["taskArn"]
        .as_str()
        .expect("a task")
        .to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let stopped = loop {
        let described = aws.ok(
            "ecs",
            "describe_tasks",
            json!({"cluster": "api-cluster", "tasks": [task_arn]}),
        );
        if described["tasks"][0]["lastStatus"] == "STOPPED" {
            break described["tasks"][0].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the task still runs: {described}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(stopped["stopCode"], "EssentialContainerExited");
    assert_eq!(stopped["containers"][0]["exitCode"], 5);
}

#[test]
fn the_launcher_checks_its_hooks_and_names_a_missing_one() {
    let ministack = &shared_emulator().ministack;
    expect![[r#"
        ministack 1.5.33: all 51 hooks present
    "#]]
    .assert_eq(&run_python(
        ministack,
        "import sys, launch; sys.exit(launch.main(['launch.py', '--check']))",
    ));
    expect![[r#"
        ministack 1.5.33 lacks what the launcher patches (written for ministack==1.5.33): ministack.services.stepfunctions._read_map_items takes (reader), expected (reader, effective, ctx); ministack.services.ecs._stop_task does not exist
    "#]]
    .assert_eq(&run_python(
        ministack,
        "import launch\n\
         import ministack.services.ecs as ecs, ministack.services.stepfunctions as sfn\n\
         del ecs._stop_task\n\
         sfn._read_map_items = lambda reader: []\n\
         try:\n    launch.check_installation()\n\
         except launch.LauncherError as error:\n    print(error)\n",
    ));
}

#[test]
fn the_launcher_batches_by_count_and_bytes_and_matches_images_by_repository() {
    let ministack = &shared_emulator().ministack;
    expect![[r#"
        [[1, 2], [3, 4], [5]]
        [["aaaa", "bbbb"], ["cccc"]]
        item 0 alone is larger than MaxInputBytesPerBatch (20 bytes)
        ['exact', 'by repository', 'by repository', None]
    "#]]
    .assert_eq(&run_python(
        ministack,
        "import json, launch\n\
         sizes = lambda batches: [batch['Items'] for batch in batches]\n\
         print(json.dumps(sizes(launch.make_batches([1, 2, 3, 4, 5], None, 2, 1000))))\n\
         envelope = len(json.dumps({'Items': [], 'BatchInput': {'k': 1}}))\n\
         batches = launch.make_batches(['aaaa', 'bbbb', 'cccc'], {'k': 1}, None, envelope + 13)\n\
         assert all(batch['BatchInput'] == {'k': 1} for batch in batches)\n\
         print(json.dumps(sizes(batches)))\n\
         try:\n    launch.make_batches(['x' * 30], None, None, 20)\n\
         except ValueError as error:\n    print(error)\n\
         images = {'host:5000/app:1': 'exact', 'host:5000/app': 'by repository'}\n\
         print([launch.find_image(images, image) for image in\n\
                ['host:5000/app:1', 'host:5000/app:2', 'host:5000/app@sha256:ab', 'host:5000/other:1']])\n",
    ));
}

/// How an execution of `definition` with `input` ends: its status and error.
fn outcome(aws: &mut Aws, name: &str, definition: &Value, input: &Value) -> String {
    let execution = aws.run_state_machine(name, definition, input);
    format!(
        "{} {}",
        execution["status"].as_str().unwrap_or_default(),
        execution["error"].as_str().unwrap_or_default()
    )
    .trim_end()
    .to_owned()
}

/// A Parallel state with `catch` around `branch` (one state, `Only`), going on to `Caught`.
fn caught(branch: &Value, catch: &Value) -> Value {
    json!({
        "StartAt": "Guarded",
        "States": {
            "Guarded": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "Only", "States": {"Only": branch}}],
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                "Catch": catch,
                "End": true
            },
        }
    })
}

#[test]
fn a_path_that_matches_nothing_fails_with_states_runtime_which_no_catch_catches() {
    let mut aws = connect();
    let input = json!({"present": {"rows": []}});
    let pass = |field: &str, path: &str| json!({"Type": "Pass", field: path, "End": true});
    let mut outcomes = Vec::new();
    for (name, definition) in [
        (
            "strict-parameters",
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "$.presnt"}, "End": true}}}),
        ),
        (
            "strict-context",
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "$$.Execution.Nme"}, "End": true}}}),
        ),
        (
            "strict-index",
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "$.present.rows[0]"}, "End": true}}}),
        ),
        (
            "strict-intrinsic",
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "States.Format('{}', $.missing)"}, "End": true}}}),
        ),
        (
            "strict-caught",
            caught(
                &pass("OutputPath", "$.missing"),
                &json!([{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]),
            ),
        ),
        (
            "strict-caught-by-name",
            caught(
                &pass("InputPath", "$.missing"),
                &json!([{"ErrorEquals": ["States.Runtime"], "Next": "Caught"}]),
            ),
        ),
        (
            "strict-choice",
            json!({"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [{"Variable": "$.missing", "BooleanEquals": true, "Next": "Done"}], "Default": "Done"},
                "Done": {"Type": "Succeed"}}}),
        ),
        (
            "strict-is-present",
            json!({"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [{"Variable": "$.missing", "IsPresent": true, "Next": "Bad"}], "Default": "Done"},
                "Bad": {"Type": "Fail", "Error": "Bad"},
                "Done": {"Type": "Succeed"}}}),
        ),
        (
            "strict-wildcard",
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "$.present.rows[*].id"}, "End": true}}}),
        ),
    ] {
        let mut definition = definition;
        if let Some(states) = definition["States"].as_object_mut()
            && states.contains_key("Guarded")
        {
            states.insert("Caught".to_owned(), json!({"Type": "Succeed"}));
        }
        outcomes.push(format!(
            "{name}: {}",
            outcome(&mut aws, name, &definition, &input)
        ));
    }
    expect![[r#"
        strict-parameters: FAILED States.Runtime
        strict-context: FAILED States.Runtime
        strict-index: FAILED States.Runtime
        strict-intrinsic: FAILED States.Runtime
        strict-caught: FAILED States.Runtime
        strict-caught-by-name: FAILED States.Runtime
        strict-choice: FAILED States.Runtime
        strict-is-present: SUCCEEDED
        strict-wildcard: SUCCEEDED
    "#]]
    .assert_eq(&(outcomes.join("\n") + "\n"));
}

#[test]
fn states_all_leaves_data_limit_exceeded_to_a_catch_that_names_it() {
    let mut aws = connect();
    let too_large = json!({"Type": "Fail", "Error": "States.DataLimitExceeded", "Cause": "pinned"});
    let mut outcomes = Vec::new();
    for (name, catch) in [
        (
            "limit-all",
            json!([{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]),
        ),
        (
            "limit-task-failed",
            json!([{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}]),
        ),
        (
            "limit-named",
            json!([{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "Caught"}]),
        ),
    ] {
        let mut definition = caught(&too_large, &catch);
        definition["States"]["Caught"] = json!({"Type": "Succeed"});
        outcomes.push(format!(
            "{name}: {}",
            outcome(&mut aws, name, &definition, &json!({}))
        ));
    }
    expect![[r#"
        limit-all: FAILED States.DataLimitExceeded
        limit-task-failed: FAILED States.DataLimitExceeded
        limit-named: SUCCEEDED
    "#]]
    .assert_eq(&(outcomes.join("\n") + "\n"));
}

#[test]
fn a_map_runs_tolerance_counts_the_items_of_failed_batches() {
    let mut aws = connect();
    aws.create_bucket("items-input");
    aws.create_bucket("items-output");
    // Seven rows in batches of three; the second batch (rows 3 to 5) fails.
    aws.ok(
        "s3",
        "put_object",
        json!({"Bucket": "items-input", "Key": "users.csv", "Body": users_csv(7, &[3])}),
    );
    let input = json!({"bucket": "items-input", "key": "users.csv"});
    let mut outcomes = Vec::new();
    for (name, tolerance) in [
        // Counted in batches, each of these would pass.
        ("items-count-2", json!({"ToleratedFailureCount": 2})),
        (
            "items-percentage-40",
            json!({"ToleratedFailurePercentage": 40}),
        ),
        (
            "items-either",
            json!({"ToleratedFailurePercentage": 50, "ToleratedFailureCount": 2}),
        ),
        ("items-count-3", json!({"ToleratedFailureCount": 3})),
        (
            "items-percentage-43",
            json!({"ToleratedFailurePercentage": 43}),
        ),
    ] {
        let definition = batching_map("items-output", &tolerance);
        outcomes.push(format!(
            "{name}: {}",
            outcome(&mut aws, name, &definition, &input)
        ));
    }
    expect![[r#"
        items-count-2: FAILED States.ExceedToleratedFailureThreshold
        items-percentage-40: FAILED States.ExceedToleratedFailureThreshold
        items-either: FAILED States.ExceedToleratedFailureThreshold
        items-count-3: SUCCEEDED
        items-percentage-43: SUCCEEDED
    "#]]
    .assert_eq(&(outcomes.join("\n") + "\n"));
}

#[test]
fn a_map_run_over_its_tolerance_starts_no_further_batch() {
    let mut aws = connect();
    aws.create_bucket("stopping-input");
    aws.create_bucket("stopping-output");
    aws.ok(
        "s3",
        "put_object",
        json!({"Bucket": "stopping-input", "Key": "users.csv", "Body": users_csv(7, &[0])}),
    );
    let execution = aws.run_state_machine(
        "stopping-map",
        &batching_map(
            "stopping-output",
            &json!({"ToleratedFailureCount": 0, "MaxConcurrency": 1}),
        ),
        &json!({"bucket": "stopping-input", "key": "users.csv"}),
    );
    assert_eq!(execution["error"], "States.ExceedToleratedFailureThreshold");
    let (map_run_arn, children) = aws.map_run_children(&execution);
    let map_run = aws.ok(
        "stepfunctions",
        "describe_map_run",
        json!({"mapRunArn": map_run_arn}),
    );
    let counts = |counts: &Value| {
        format!(
            "total {} failed {} succeeded {} pending {}",
            counts["total"], counts["failed"], counts["succeeded"], counts["pending"]
        )
    };
    assert_eq!(map_run["status"], "FAILED");
    assert_eq!(
        counts(&map_run["itemCounts"]),
        "total 7 failed 3 succeeded 0 pending 4"
    );
    assert_eq!(
        counts(&map_run["executionCounts"]),
        "total 3 failed 1 succeeded 0 pending 2"
    );
    assert_eq!(children.len(), 1);
}

#[test]
fn each_child_execution_of_a_distributed_map_has_its_own_context() {
    let mut aws = connect();
    let execution = aws.run_state_machine(
        "child-context",
        &json!({
            "StartAt": "Each",
            "States": {"Each": {
                "Type": "Map",
                "ItemsPath": "$.rows",
                "ItemSelector": {"row.$": "$$.Map.Item.Value", "parent.$": "$$.Execution.Name"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Context",
                    "States": {"Context": {
                        "Type": "Pass",
                        "Parameters": {
                            "parent.$": "$.parent",
                            "name.$": "$$.Execution.Name",
                            "id.$": "$$.Execution.Id",
                            "input.$": "$$.Execution.Input",
                            "machine.$": "$$.StateMachine.Id"
                        },
                        "End": true
                    }}
                },
                "End": true
            }}
        }),
        &json!({"rows": [1]}),
    );
    assert_eq!(execution["status"], "SUCCEEDED", "{execution}");
    let output = parsed(&execution["output"]);
    let child = &output[0];
    let (_, children) = aws.map_run_children(&execution);
    let described = &children[0];
    assert_eq!(child["parent"], execution["name"]);
    assert_eq!(child["id"], described["executionArn"]);
    assert_eq!(child["name"], described["name"]);
    assert_ne!(child["name"], execution["name"]);
    assert_eq!(
        child["input"],
        json!({"row": 1, "parent": execution["name"]})
    );
    assert_eq!(child["machine"], described["stateMachineArn"]);
}

#[test]
fn the_launcher_matches_errors_waits_between_retries_and_counts_tolerance_as_aws_documents() {
    let ministack = &shared_emulator().ministack;
    expect![[r#"
        matches: States.ALL/Lambda.Unknown=True States.ALL/States.Runtime=False States.Runtime/States.Runtime=False States.ALL/States.DataLimitExceeded=False States.DataLimitExceeded/States.DataLimitExceeded=True States.TaskFailed/States.DataLimitExceeded=False States.TaskFailed/States.Timeout=False States.TaskFailed/DatabaseError=True
        delays: [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]
        capped: [5.0, 10.0, 15.0, 15.0]
        defaults: [1.0, 2.0, 4.0]
        jitter: [1.0, 2.0, 4.0] [0.0, 0.0, 0.0]
        tolerance: False True True False True False
        paths: 1 [] missing missing missing
    "#]]
    .assert_eq(&run_python(
        ministack,
        "import launch\n\
         pairs = [('States.ALL', 'Lambda.Unknown'), ('States.ALL', 'States.Runtime'), ('States.Runtime', 'States.Runtime'),\n\
                  ('States.ALL', 'States.DataLimitExceeded'), ('States.DataLimitExceeded', 'States.DataLimitExceeded'),\n\
                  ('States.TaskFailed', 'States.DataLimitExceeded'), ('States.TaskFailed', 'States.Timeout'),\n\
                  ('States.TaskFailed', 'DatabaseError')]\n\
         print('matches:', ' '.join(f'{a}/{e}={launch.error_matches([a], e)}' for a, e in pairs))\n\
         retrier = {'IntervalSeconds': 2, 'BackoffRate': 2}\n\
         print('delays:', [launch.retry_delay(retrier, n, 0.5) for n in range(7)])\n\
         print('capped:', [launch.retry_delay({'IntervalSeconds': 5, 'BackoffRate': 2, 'MaxDelaySeconds': 15}, n, 0.5) for n in range(4)])\n\
         print('defaults:', [launch.retry_delay({}, n, 0.5) for n in range(3)])\n\
         full = {'IntervalSeconds': 2, 'BackoffRate': 2, 'JitterStrategy': 'FULL'}\n\
         print('jitter:', [launch.retry_delay(full, n, 0.5) for n in range(3)], [launch.retry_delay(full, n, 0.0) for n in range(3)])\n\
         cases = [(0, 7, None, None), (1, 7, None, None), (3, 7, 2, None), (3, 7, 3, None), (3, 7, None, 40), (3, 7, None, 43)]\n\
         print('tolerance:', ' '.join(str(launch.tolerance_exceeded(*case)) for case in cases))\n\
         def attempt(tokens, data):\n    try:\n        return launch.select_path(tokens, data)\n    except launch.PathNotFound:\n        return 'missing'\n\
         print('paths:', attempt([('field', 'a')], {'a': 1}), attempt([('field', 'a'), ('wildcard', None), ('field', 'b')], {'a': []}),\n\
               attempt([('field', 'b')], {'a': 1}), attempt([('index', 2)], [1]), attempt([('field', 'a'), ('field', 'b')], {'a': 5}))\n",
    ));
}

#[test]
fn a_state_output_over_256_kib_fails_the_execution_with_data_limit_exceeded() {
    let mut aws = connect();
    // Each Pass state doubles the text: 100 KiB in, 200 KiB out of the first, 400 KiB of the second.
    let definition = json!({
        "StartAt": "Double",
        "States": {
            "Double": {"Type": "Pass", "Parameters": {"a.$": "$.text", "b.$": "$.text"}, "Next": "Again"},
            "Again": {"Type": "Pass", "Parameters": {"a.$": "$", "b.$": "$"}, "End": true}
        }
    });
    let text = "x".repeat(100 * 1024);
    let failed = aws.run_state_machine("payload-limit", &definition, &json!({ "text": text }));
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["error"], "States.DataLimitExceeded");
    let cause = failed["cause"].as_str().expect("a cause");
    assert!(
        cause.starts_with("The state/task 'Again' returned a result with a size exceeding the maximum number of bytes service limit"),
        "{cause}"
    );

    let within = aws.run_state_machine(
        "payload-within-limit",
        &definition,
        &json!({ "text": "x".repeat(60 * 1024) }),
    );
    assert_eq!(within["status"], "SUCCEEDED", "{within}");

    // The size is that of the UTF-8 text: three bytes for `あ` and its two quotes, not the eight of `"\\u3042"`.
    expect![[r#"
        [5, 262144, None, True]
    "#]]
    .assert_eq(&run_python(
        &shared_emulator().ministack,
        "import launch\n\
         limit = launch.MAX_STATE_PAYLOAD_BYTES\n\
         print([launch.payload_size('\\u3042'), limit,\n\
                launch.payload_limit_cause('S', 'a' * (limit - 2)),\n\
                launch.payload_limit_cause('S', 'a' * (limit - 1)).startswith(\"The state/task 'S' \")])\n",
    ));
}
