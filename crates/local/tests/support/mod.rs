//! What the emulator tests share: temporary state directories, one emulator per test binary, a
//! boto3 bridge to drive it (this crate has no AWS SDK), and redaction of generated ids.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use userlog_local::process::process_is_alive;
use userlog_local::{EnvVar, MiniStack};

/// How long an execution may run before a test gives up on it.
const EXECUTION_DEADLINE: Duration = Duration::from_secs(60);
/// How often an execution's status is looked at.
const EXECUTION_POLL: Duration = Duration::from_millis(20);
/// How long the shared emulator's function instances may stay idle.
pub const IDLE_INSTANCE_SECONDS: u32 = 3;
/// The name prefix of the shared emulator's state directories.
const SHARED_PREFIX: &str = "userlog-ministack-shared-";

/// A directory under the system's temporary directory, removed when dropped.
pub struct TemporaryDir {
    path: PathBuf,
}

impl TemporaryDir {
    pub fn new(label: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("userlog-ministack-{label}-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).expect("remove a leftover test directory");
        }
        std::fs::create_dir_all(&path).expect("create the test directory");
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TemporaryDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// An emulator started once per test binary. It stops by itself when the test binary exits (the
/// launcher watches this process), so no test has to stop it.
pub struct SharedEmulator {
    pub ministack: MiniStack,
    pub env: Vec<EnvVar>,
}

/// The emulator of this test binary, started on first use.
pub fn shared_emulator() -> &'static SharedEmulator {
    static EMULATOR: OnceLock<SharedEmulator> = OnceLock::new();
    // Idle function instances end after a few seconds, so that a test can see them go.
    EMULATOR.get_or_init(|| {
        start_shared("", |ministack| {
            ministack.ending_idle_instances_after(IDLE_INSTANCE_SECONDS)
        })
    })
}

/// An emulator like [`shared_emulator`] whose Step Functions waits (retry delays, `Wait` states)
/// take a hundredth of their time, for tests that go through many retries.
pub fn fast_waiting_emulator() -> &'static SharedEmulator {
    static EMULATOR: OnceLock<SharedEmulator> = OnceLock::new();
    EMULATOR.get_or_init(|| start_shared("-fast", |ministack| ministack.waiting_faster(100)))
}

fn start_shared(suffix: &str, configure: impl FnOnce(MiniStack) -> MiniStack) -> SharedEmulator {
    remove_directories_of_finished_runs();
    let dir = std::env::temp_dir().join(format!("{SHARED_PREFIX}{}{suffix}", std::process::id()));
    let ministack = configure(MiniStack::for_checkout(&dir).stopping_with(std::process::id()));
    ministack
        .up(&mut |_| {})
        .expect("start the shared emulator");
    let env = ministack.env().expect("the running emulator's environment");
    SharedEmulator { ministack, env }
}

/// Removes the state directories that shared emulators of earlier, finished test runs left.
fn remove_directories_of_finished_runs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(SHARED_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !process_is_alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The bridge script and the Python of the emulator's virtualenv that runs it.
fn bridge_command(ministack: &MiniStack) -> Command {
    let python = ministack
        .python_tool()
        .expect("the emulator's pins")
        .python();
    let mut command = Command::new(python);
    command.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/boto3_bridge.py"));
    command
}

/// A boto3 session in a child process, driven one call at a time.
pub struct Aws {
    child: Child,
    requests: ChildStdin,
    answers: BufReader<ChildStdout>,
}

/// An error an AWS API answered with.
#[derive(Debug)]
pub struct AwsError {
    pub code: String,
    pub message: String,
}

impl Aws {
    /// A session configured by `env` (what `cargo xtask local env` prints).
    pub fn connect(ministack: &MiniStack, env: &[EnvVar]) -> Self {
        let mut child = bridge_command(ministack)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().map(|var| (&var.name, &var.value)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the boto3 bridge");
        let requests = child.stdin.take().expect("the bridge's input");
        let answers = BufReader::new(child.stdout.take().expect("the bridge's output"));
        Self {
            child,
            requests,
            answers,
        }
    }

    /// Calls `client.method(**params)`.
    pub fn call(&mut self, client: &str, method: &str, params: Value) -> Result<Value, AwsError> {
        let request = json!({"client": client, "method": method, "params": params});
        writeln!(self.requests, "{request}").expect("send a request to the bridge");
        let mut line = String::new();
        self.answers
            .read_line(&mut line)
            .expect("read the bridge's answer");
        let answer: Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("the bridge answered {line:?}: {error}"));
        match answer.get("ok") {
            Some(value) => Ok(value.clone()),
            None => Err(AwsError {
                code: answer["error"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                message: answer["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            }),
        }
    }

    /// Calls `client.method(**params)` and fails the test when AWS answers with an error.
    pub fn ok(&mut self, client: &str, method: &str, params: Value) -> Value {
        self.call(client, method, params)
            .unwrap_or_else(|error| panic!("{client}.{method} failed: {error:?}"))
    }

    /// Waits until an execution has ended and returns its description.
    pub fn finished_execution(&mut self, execution_arn: &str) -> Value {
        let deadline = Instant::now() + EXECUTION_DEADLINE;
        loop {
            let execution = self.ok(
                "stepfunctions",
                "describe_execution",
                json!({"executionArn": execution_arn}),
            );
            if execution["status"] != "RUNNING" {
                return execution;
            }
            assert!(
                Instant::now() < deadline,
                "the execution {execution_arn} still runs after {EXECUTION_DEADLINE:?}"
            );
            std::thread::sleep(EXECUTION_POLL);
        }
    }

    /// Creates a state machine from `definition` and runs it once with `input`; returns the
    /// finished execution.
    pub fn run_state_machine(&mut self, name: &str, definition: &Value, input: &Value) -> Value {
        let machine = self.ok(
            "stepfunctions",
            "create_state_machine",
            json!({
                "name": name,
                "definition": definition.to_string(),
                "roleArn": "arn:aws:iam::000000000000:role/local-test",
            }),
        );
        self.start_and_finish(machine["stateMachineArn"].as_str().expect("an ARN"), input)
    }

    /// Runs an existing state machine once with `input`; returns the finished execution.
    pub fn start_and_finish(&mut self, state_machine_arn: &str, input: &Value) -> Value {
        let execution = self.ok(
            "stepfunctions",
            "start_execution",
            json!({"stateMachineArn": state_machine_arn, "input": input.to_string()}),
        );
        self.finished_execution(execution["executionArn"].as_str().expect("an ARN"))
    }

    /// The ARN of the first Map Run of an execution, and the child executions of that run.
    pub fn map_run_children(&mut self, execution: &Value) -> (Value, Vec<Value>) {
        let runs = self.ok(
            "stepfunctions",
            "list_map_runs",
            json!({"executionArn": execution["executionArn"]}),
        );
        let map_run_arn = runs["mapRuns"][0]["mapRunArn"].clone();
        let children = self.ok(
            "stepfunctions",
            "list_executions",
            json!({"mapRunArn": map_run_arn}),
        );
        let children = children["executions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        (map_run_arn, children)
    }

    /// The text of an S3 object.
    pub fn object_text(&mut self, bucket: &str, key: &str) -> String {
        let object = self.ok("s3", "get_object", json!({"Bucket": bucket, "Key": key}));
        object["Body"].as_str().expect("a text body").to_owned()
    }

    /// Creates a bucket in the local region.
    pub fn create_bucket(&mut self, bucket: &str) {
        self.ok(
            "s3",
            "create_bucket",
            json!({
                "Bucket": bucket,
                "CreateBucketConfiguration": {"LocationConstraint": "ap-northeast-1"},
            }),
        );
    }
}

impl Drop for Aws {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a Python snippet with the emulator's virtualenv and the launcher importable; returns its
/// standard output and error.
pub fn run_python(ministack: &MiniStack, snippet: &str) -> String {
    let python = ministack
        .python_tool()
        .expect("the emulator's pins")
        .python();
    let tools = ministack
        .launcher()
        .parent()
        .expect("the tools directory")
        .to_path_buf();
    let output = Command::new(python)
        .env("PYTHONPATH", tools)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-c", snippet])
        .output()
        .expect("run python");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `text` with every UUID (8-4-4-4-12 hexadecimal digits) replaced by `<uuid>`.
pub fn redact_uuids(text: &str) -> String {
    const SHAPE: [usize; 5] = [8, 4, 4, 4, 12];
    let is_uuid = |candidate: &[u8]| {
        let mut position = 0;
        for (index, length) in SHAPE.iter().enumerate() {
            if index > 0 {
                if candidate.get(position) != Some(&b'-') {
                    return false;
                }
                position += 1;
            }
            let Some(group) = candidate.get(position..position + length) else {
                return false;
            };
            if !group.iter().all(u8::is_ascii_hexdigit) {
                return false;
            }
            position += length;
        }
        true
    };
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes.len() - index >= 36 && is_uuid(&bytes[index..index + 36]) {
            out.push_str("<uuid>");
            index += 36;
        } else {
            let character = text[index..].chars().next().expect("a character");
            out.push(character);
            index += character.len_utf8();
        }
    }
    out
}

/// Pretty JSON with UUIDs redacted, for snapshots.
pub fn snapshot(value: &Value) -> String {
    redact_uuids(&serde_json::to_string_pretty(value).expect("serialisable"))
}

/// A JSON document held in a string field, parsed.
pub fn parsed(text: &Value) -> Value {
    serde_json::from_str(text.as_str().expect("a JSON text")).expect("valid JSON")
}

/// The fixture directory of the emulator tests.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ministack")
        .join(name)
}
