//! The AWS emulator as a local service, against the real pinned MiniStack: start, reuse, client
//! environment, and a stop that takes the Lambda workers along, in a state directory of its own.

mod support;

use expect_test::expect;
use serde_json::json;
use userlog_local::process::process_is_alive;
use userlog_local::{Action, LocalDir, LocalStack, ServiceState, render_exports};

use support::{Aws, TemporaryDir, fixture};

/// A stack in a temporary directory whose emulator is stopped when the test ends, also when an
/// assertion fails.
struct TemporaryStack {
    stack: LocalStack,
    _dir: TemporaryDir,
}

impl TemporaryStack {
    fn new(label: &str) -> Self {
        let dir = TemporaryDir::new(label);
        Self {
            stack: LocalStack::at(LocalDir::new(dir.path())),
            _dir: dir,
        }
    }
}

impl Drop for TemporaryStack {
    fn drop(&mut self) {
        let _ = self.stack.ministack.down(&mut |_| {});
    }
}

#[test]
fn the_stack_runs_the_emulator_after_postgres() {
    let temporary = TemporaryStack::new("order");
    let names: Vec<&str> = temporary
        .stack
        .services()
        .iter()
        .map(|service| service.name())
        .collect();
    assert_eq!(names, ["postgres", "ministack"]);
    let status = temporary.stack.ministack.status().expect("status");
    assert_eq!(status.state, ServiceState::NotInitialized);
}

#[test]
fn up_is_idempotent_and_down_stops_the_emulator_with_its_lambda_workers() {
    let temporary = TemporaryStack::new("lifecycle");
    let ministack = &temporary.stack.ministack;
    let mut steps = Vec::new();

    let first = ministack
        .up(&mut |step| steps.push(step.to_owned()))
        .expect("first up");
    assert_eq!(first.action, Action::Initialized);
    assert_eq!(first.status.state, ServiceState::Running);
    assert!(
        steps
            .iter()
            .any(|step| step.starts_with("Starting MiniStack 1.5.33 on 127.0.0.1:")),
        "{steps:?}"
    );
    let pid = first.status.pid.expect("a running emulator has a pid");
    let url = first
        .status
        .url
        .clone()
        .expect("a running emulator has a URL");
    let port = url.rsplit(':').next().expect("a port").to_owned();

    let second = ministack.up(&mut |_| {}).expect("second up");
    assert_eq!(second.action, Action::AlreadyRunning);
    assert_eq!(second.status.pid, Some(pid));

    let env = ministack
        .env()
        .expect("the environment of a running emulator");
    expect![[r#"
        export AWS_ENDPOINT_URL=http://127.0.0.1:<port>
        export AWS_ACCESS_KEY_ID=test
        export AWS_SECRET_ACCESS_KEY=test
        export AWS_REGION=ap-northeast-1
        export AWS_DEFAULT_REGION=ap-northeast-1
    "#]]
    .assert_eq(&render_exports(&env).replace(&port, "<port>"));

    // A client configured by that environment reaches the emulator, and a Lambda function's
    // worker process stays warm after its invocation.
    let mut aws = Aws::connect(ministack, &env);
    let identity = aws.ok("sts", "get_caller_identity", json!({}));
    assert_eq!(identity["Account"], "000000000000");
    aws.ok(
        "lambda",
        "create_function",
        json!({
            "FunctionName": "report-pid",
            "Runtime": "provided.al2023",
            "Handler": "bootstrap",
            "Role": "arn:aws:iam::000000000000:role/local-test",
            "Code": {"ZipFile": {"$zip": {"bootstrap": fixture("bootstrap")}}},
        }),
    );
    let invocation = aws.ok("lambda", "invoke", json!({"FunctionName": "report-pid"}));
    let payload: serde_json::Value =
        serde_json::from_str(invocation["Payload"].as_str().expect("a payload"))
            .expect("a JSON payload");
    let worker = u32::try_from(payload["pid"].as_u64().expect("the worker's pid"))
        .expect("a pid fits 32 bits");
    assert!(process_is_alive(worker));
    drop(aws);

    let stopped = ministack.down(&mut |_| {}).expect("down");
    assert_eq!(stopped.action, Action::Stopped);
    assert_eq!(stopped.status.state, ServiceState::Stopped);
    assert!(!process_is_alive(pid), "the launcher is gone");
    assert!(!process_is_alive(worker), "the Lambda worker is gone too");
    let status = ministack.status().expect("status after down");
    assert_eq!(status.state, ServiceState::Stopped);
    assert_eq!(status.pid, None);
    assert!(
        ministack.env().is_err(),
        "a stopped emulator has no environment"
    );
    let again = ministack.down(&mut |_| {}).expect("second down");
    assert_eq!(again.action, Action::AlreadyStopped);

    // The next start reuses the port, so clients configured before keep working.
    let restarted = ministack.up(&mut |_| {}).expect("up after down");
    assert_eq!(restarted.action, Action::Started);
    assert_eq!(restarted.status.url.as_deref(), Some(url.as_str()));
    // The emulator keeps its resources in memory: after a restart the function is gone.
    let mut aws = Aws::connect(ministack, &ministack.env().expect("env"));
    let missing = aws
        .call(
            "lambda",
            "get_function",
            json!({"FunctionName": "report-pid"}),
        )
        .expect_err("a restarted emulator starts empty");
    assert_eq!(missing.code, "ResourceNotFoundException");
}
