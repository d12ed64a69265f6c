//! What the launcher does for bursts, against the real pinned MiniStack: it reads MiniStack's
//! stores consistently while other threads change them, applies a function's reserved concurrency
//! from CloudFormation so that the emulator throttles beyond it, reports the throttle to Step
//! Functions as `Lambda.TooManyRequestsException` (so `Retry` applies), and ends idle instances.

mod support;

use std::time::{Duration, Instant};

use expect_test::expect;
use serde_json::{Value, json};
use userlog_local::process::process_is_alive;

use support::{Aws, IDLE_INSTANCE_SECONDS, fixture, run_python, shared_emulator};

fn connect() -> Aws {
    let emulator = shared_emulator();
    Aws::connect(&emulator.ministack, &emulator.env)
}

#[test]
fn snapshots_of_a_store_hold_while_another_thread_grows_it() {
    // A plain walk over a dict that another thread grows fails now and then (the launcher's
    // `children()` did, under a burst of executions); `snapshot` retries until it has a
    // consistent copy.
    let output = run_python(
        &shared_emulator().ministack,
        "import sys, threading, time, launch\n\
         sys.setswitchinterval(1e-6)\n\
         store = {i: i for i in range(3000)}\n\
         stop = False\n\
         def grow():\n    n = 3000\n    while not stop:\n        for _ in range(50):\n            store[n] = n; n += 1\n        for _ in range(50):\n            store.pop(next(iter(store)))\n        time.sleep(0.001)\n\
         thread = threading.Thread(target=grow); thread.start()\n\
         walk = lambda s: [v for v in s.values()]\n\
         plain_failures, deadline = 0, time.time() + 20\n\
         while plain_failures == 0 and time.time() < deadline:\n    try:\n        walk(store)\n    except RuntimeError:\n        plain_failures += 1\n\
         snapshot_failures = 0\n\
         for _ in range(500):\n    try:\n        assert len(launch.snapshot(store, walk)) >= 2900\n    except RuntimeError:\n        snapshot_failures += 1\n\
         stop = True; thread.join()\n\
         print('a plain walk failed:', plain_failures > 0, '- snapshots that failed:', snapshot_failures)\n",
    );
    expect![[r#"
        a plain walk failed: True - snapshots that failed: 0
    "#]]
    .assert_eq(&output);
}

#[test]
fn idle_instances_throttles_and_reserved_concurrency_read_as_aws_has_them() {
    let output = run_python(
        &shared_emulator().ministack,
        "import launch\n\
         class W:\n    def __init__(self, name, in_use, last_used):\n        self.name, self.in_use, self.last_used = name, in_use, last_used\n    def __repr__(self):\n        return self.name\n\
         pools = {'f': [W('f-first-idle', False, 0), W('f-busy', True, 0), W('f-recent', False, 95)], 'g': [W('g-idle', False, 10)]}\n\
         print(launch.split_idle(pools, 100, 60))\n\
         print(launch.throttle_error({'throttle': True, 'error': True, 'body': {'__type': 'TooManyRequestsException', 'Reason': 'ReservedFunctionConcurrentInvocationLimitExceeded'}}))\n\
         print(launch.throttle_error({'error': True, 'body': {'errorType': 'DatabaseError'}}))\n\
         print(launch.reserved_concurrency({'ReservedConcurrentExecutions': '3'}), launch.reserved_concurrency({}))\n\
         print(launch.lambda_idle_seconds({}), launch.lambda_idle_seconds({'USERLOG_LAMBDA_IDLE_SECONDS': '2.5'}))\n\
         try:\n    launch.lambda_idle_seconds({'USERLOG_LAMBDA_IDLE_SECONDS': '0'})\n\
         except ValueError as error:\n    print(error)\n",
    );
    expect![[r#"
        ({'f': [f-busy, f-recent]}, [f-first-idle, g-idle])
        ('Lambda.TooManyRequestsException', '{"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "__type": "TooManyRequestsException"}')
        None
        3 None
        60 2.5
        USERLOG_LAMBDA_IDLE_SECONDS must be positive, not '0'
    "#]]
    .assert_eq(&output);
}

/// A function of one instance at a time (ReservedConcurrentExecutions 1) that answers with its
/// process id after a second, deployed by CloudFormation; returns the ARN of its alias `stable`.
fn one_at_a_time(aws: &mut Aws, name: &str) -> String {
    let bucket = format!("{name}-code");
    aws.create_bucket(&bucket);
    aws.ok(
        "s3",
        "put_object",
        json!({"Bucket": bucket, "Key": "code.zip", "Body": {"$zip": {"bootstrap": fixture("bootstrap")}}}),
    );
    let template = json!({"Resources": {"Function": {"Type": "AWS::Lambda::Function", "Properties": {
        "FunctionName": name,
        "Runtime": "provided.al2023",
        "Handler": "bootstrap",
        "Role": "arn:aws:iam::000000000000:role/local-test",
        "Code": {"S3Bucket": bucket, "S3Key": "code.zip"},
        "ReservedConcurrentExecutions": 1,
        "Environment": {"Variables": {"SLEEP_SECONDS": "1"}}
    }}}});
    aws.ok(
        "cloudformation",
        "create_stack",
        json!({"StackName": name, "TemplateBody": template.to_string()}),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stacks = aws.ok(
            "cloudformation",
            "describe_stacks",
            json!({"StackName": name}),
        );
        let status = stacks["Stacks"][0]["StackStatus"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status == "CREATE_COMPLETE" {
            break;
        }
        assert!(
            !status.ends_with("FAILED")
                && !status.contains("ROLLBACK")
                && Instant::now() < deadline,
            "{stacks}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Called through an alias on a published version, as the pipeline calls its functions.
    let version = aws.ok("lambda", "publish_version", json!({"FunctionName": name}));
    let alias = aws.ok(
        "lambda",
        "create_alias",
        json!({"FunctionName": name, "Name": "stable", "FunctionVersion": version["Version"]}),
    );
    alias["AliasArn"].as_str().expect("an ARN").to_owned()
}

/// Two branches calling `function` at once, each with `retry` and a Catch that keeps the error.
fn two_at_once(function: &str, retry: &Value) -> Value {
    let branch = json!({"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": function, "Retry": retry,
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true
    }, "Caught": {"Type": "Pass", "End": true}}});
    json!({"StartAt": "Both", "States": {"Both": {
        "Type": "Parallel", "Branches": [branch, branch], "End": true
    }}})
}

#[test]
fn reserved_concurrency_from_cloudformation_throttles_and_a_retry_waits_it_out() {
    let mut aws = connect();
    let function = one_at_a_time(&mut aws, "pinned-one-at-a-time");
    let concurrency = aws.ok(
        "lambda",
        "get_function_concurrency",
        json!({"FunctionName": "pinned-one-at-a-time"}),
    );
    assert_eq!(
        concurrency["ReservedConcurrentExecutions"], 1,
        "{concurrency}"
    );

    // Without a retry, the second call at once is throttled, as AWS names it.
    let execution = aws.run_state_machine(
        "pinned-throttled",
        &two_at_once(&function, &json!([])),
        &json!({}),
    );
    assert_eq!(execution["status"], "SUCCEEDED", "{execution}");
    let output: Value = serde_json::from_str(execution["output"].as_str().unwrap()).unwrap();
    let errors: Vec<&str> = output
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|branch| branch["Error"].as_str())
        .collect();
    assert_eq!(errors, ["Lambda.TooManyRequestsException"], "{output}");

    // With one, both calls run, one after the other.
    let retry = json!([{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1,
        "MaxAttempts": 5, "BackoffRate": 1}]);
    let execution = aws.run_state_machine(
        "pinned-throttled-retried",
        &two_at_once(&function, &retry),
        &json!({}),
    );
    assert_eq!(execution["status"], "SUCCEEDED", "{execution}");
    let output: Value = serde_json::from_str(execution["output"].as_str().unwrap()).unwrap();
    let pids: Vec<u64> = output
        .as_array()
        .unwrap()
        .iter()
        .map(|branch| branch["pid"].as_u64().unwrap_or_else(|| panic!("{output}")))
        .collect();
    assert_eq!(pids.len(), 2, "{output}");

    // The one instance ends once it has been idle long enough, and with it what it held.
    let pid = u32::try_from(pids[0]).expect("a pid fits 32 bits");
    let deadline = Instant::now() + Duration::from_secs(u64::from(IDLE_INSTANCE_SECONDS) + 20);
    while process_is_alive(pid) {
        assert!(
            Instant::now() < deadline,
            "the idle instance {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
