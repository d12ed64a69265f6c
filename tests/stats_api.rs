//! The statistics API on the end-to-end stack: `cargo xtask serve-api` and `cargo xtask token`
//! as a developer runs them, the deployed `stats-api` function invoked on the emulator with API
//! Gateway's events, the tokens that must be refused, and the OpenAPI document checked against
//! the running handler by schemathesis.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use userlog_e2e::{LocalStack, root};
use userlog_infra::tools::SCHEMATHESIS_REQUIREMENT;
use userlog_local::python_tool::{PythonTool, Requirement};

/// `cargo xtask serve-api` running on the stack; stopped when dropped.
pub struct ServeApi {
    child: Child,
    pub base: String,
}

impl Drop for ServeApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts `serve-api` and waits until its health check answers.
pub fn serve_api(stack: &LocalStack) -> ServeApi {
    let port = free_port();
    let child = stack
        .command(&["serve-api", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("serve-api starts");
    let mut server = ServeApi {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    loop {
        if let Some(status) = server
            .child
            .try_wait()
            .expect("serve-api can be waited for")
        {
            panic!("serve-api exited early: {status}");
        }
        if get(&server.base, "/health", None).0 == 200 {
            return server;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve-api did not answer its health check within a minute"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A token from `cargo xtask token` with `args`: the last line of its stdout.
pub fn token(stack: &LocalStack, args: &[&str]) -> String {
    let mut all = vec!["token"];
    all.extend_from_slice(args);
    let output = stack.expect_ok(&all, "xtask token");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("a token line")
        .trim()
        .to_owned()
}

/// A GET with an optional bearer token: status, `WWW-Authenticate`, JSON body.
pub fn get(base: &str, path: &str, token: Option<&str>) -> (u16, Option<String>, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut request = client.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Err(_) => (0, None, Value::Null),
            Ok(response) => {
                let status = response.status().as_u16();
                let challenge = response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = response.json().await.unwrap_or(Value::Null);
                (status, challenge, body)
            }
        }
    })
}

/// `token` with its payload's `sub` changed and the signature kept.
fn tampered(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64")).expect("json");
    claims["sub"] = json!("mallory");
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// `token` re-made unsigned: `alg: none` and no signature.
fn unsigned(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", parts[1])
}

/// Checks the API over `serve-api`: statistics as PostgreSQL has them, the history from the
/// audit trail, the imports and one import's errors, and every token that must be refused.
pub fn check_serve_api(
    stack: &LocalStack,
    server: &ServeApi,
    user: &str,
    counts: (i32, i32),
    row_errors_execution: &str,
) {
    let token = token(stack, &[]);
    let (status, _, stats) = get(&server.base, &format!("/users/{user}/stats"), Some(&token));
    assert_eq!(status, 200, "stats api: {stats:#}");
    assert_eq!(
        (stats["loginCount"].as_i64(), stats["postCount"].as_i64()),
        (Some(i64::from(counts.0)), Some(i64::from(counts.1))),
        "stats api: {stats:#}"
    );
    assert!(stats["import"]["importId"].is_i64(), "stats api: {stats:#}");

    let (status, _, history) = get(
        &server.base,
        &format!("/users/{user}/history?limit=1"),
        Some(&token),
    );
    assert_eq!(status, 200, "stats api history: {history:#}");
    assert_eq!(
        history["items"].as_array().map(Vec::len),
        Some(1),
        "{history:#}"
    );
    let cursor = history["nextCursor"].as_str().expect("a second page");
    let (status, _, second) = get(
        &server.base,
        &format!("/users/{user}/history?limit=1&cursor={cursor}"),
        Some(&token),
    );
    assert_eq!(status, 200, "stats api history page 2: {second:#}");
    assert_ne!(second["items"][0], history["items"][0], "{second:#}");

    let (status, _, import) = get(
        &server.base,
        &format!("/imports/{row_errors_execution}"),
        Some(&token),
    );
    assert_eq!(status, 200, "stats api import: {import:#}");
    assert_eq!(
        import["errorsByCode"],
        json!({"UserNotFound": 1}),
        "{import:#}"
    );
    assert_eq!(
        import["firstErrors"][0]["code"], "UserNotFound",
        "{import:#}"
    );
    assert_eq!(import["route"], "map", "{import:#}");

    let (status, _, imports) = get(&server.base, "/imports?limit=2", Some(&token));
    assert_eq!(status, 200, "stats api imports: {imports:#}");
    assert_eq!(
        imports["items"].as_array().map(Vec::len),
        Some(2),
        "{imports:#}"
    );

    let (status, _, problem) = get(&server.base, "/users/not%20valid/stats", Some(&token));
    assert_eq!((status, problem["code"].as_str()), (400, Some("BadUserId")));
    let (status, _, problem) = get(&server.base, "/users/ZZ999/stats", Some(&token));
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("UserNotFound"))
    );

    let expired = self::token(stack, &["--exp", "2020-01-01T00:00:00Z"]);
    let wrong_audience = self::token(stack, &["--aud", "another-api"]);
    for (what, bad) in [
        ("forged", tampered(&token)),
        ("unsigned", unsigned(&token)),
        ("expired", expired),
        ("wrong audience", wrong_audience),
    ] {
        let (status, challenge, problem) =
            get(&server.base, &format!("/users/{user}/stats"), Some(&bad));
        assert_eq!(status, 401, "{what} token: {problem:#}");
        assert!(
            challenge
                .as_deref()
                .is_some_and(|c| c.starts_with("Bearer ")),
            "{what} token: {challenge:?}"
        );
        assert_eq!(problem["code"], "Unauthorized", "{what} token: {problem:#}");
    }
    let (status, challenge, _) = get(&server.base, &format!("/users/{user}/stats"), None);
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer realm=\"userlog-stats-api\"")
    );

    let refused = stack.xtask(&["token", "--env", "staging"]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "token --env staging is refused"
    );
    assert!(
        refused.stdout.is_empty(),
        "token --env staging printed a token"
    );
}

/// Invokes the deployed function on the emulator with an HTTP API event; returns the result.
pub fn invoke(stack: &LocalStack, path: &str, token: Option<&str>) -> Value {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut headers = json!({"host": "api.local"});
    if let Some(token) = token {
        headers["authorization"] = json!(format!("Bearer {token}"));
    }
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {"http": {"method": "GET", "path": raw_path}},
        "isBase64Encoded": false,
    });
    stack.runtime().block_on(async {
        let (config, _) = stack.emulator().await;
        let output = aws_sdk_lambda::Client::new(&config)
            .invoke()
            .function_name("local-userlog-stats-api:stable")
            .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
            .send()
            .await
            .expect("the stats-api function is invoked");
        assert_eq!(
            output.function_error(),
            None,
            "the function failed: {output:?}"
        );
        let payload = output
            .payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        serde_json::from_slice(&payload).expect("an HTTP API result")
    })
}

/// Checks the deployed function on the emulator (its JWKS is served by `serve-api`).
pub fn check_function(stack: &LocalStack, user: &str, counts: (i32, i32)) {
    let health = invoke(stack, "/health", None);
    assert_eq!(health["statusCode"], 200, "deployed health: {health:#}");
    let token = token(stack, &[]);
    let stats = invoke(stack, &format!("/users/{user}/stats"), Some(&token));
    assert_eq!(stats["statusCode"], 200, "deployed stats: {stats:#}");
    let body: Value =
        serde_json::from_str(stats["body"].as_str().unwrap_or_default()).expect("a JSON body");
    assert_eq!(
        (body["loginCount"].as_i64(), body["postCount"].as_i64()),
        (Some(i64::from(counts.0)), Some(i64::from(counts.1))),
        "deployed stats: {body:#}"
    );
    let unsigned = invoke(
        stack,
        &format!("/users/{user}/stats"),
        Some(&unsigned(&token)),
    );
    assert_eq!(
        unsigned["statusCode"], 401,
        "deployed, unsigned: {unsigned:#}"
    );
    assert!(
        unsigned["headers"]["www-authenticate"]
            .as_str()
            .is_some_and(|c| c.starts_with("Bearer ")),
        "deployed, unsigned: {unsigned:#}"
    );
}

/// Runs schemathesis (pinned, in `.local/venv-schemathesis`) with the OpenAPI document against
/// `serve-api`: every documented route answers with a documented status, content type, headers
/// and schema, bad input is refused, and auth is not ignored.
pub fn check_contract(stack: &LocalStack, server: &ServeApi) {
    let tool = PythonTool::new(
        root().join(".local").join("venv-schemathesis"),
        vec![Requirement::parse(SCHEMATHESIS_REQUIREMENT).expect("the schemathesis pin")],
    );
    tool.ensure(&mut |step| eprintln!("{step}"))
        .expect("schemathesis installs");
    let token = token(stack, &[]);
    let schema = root().join("functions/stats-api/openapi.yaml");
    // Schemathesis keeps its crash reports under `.schemathesis/` of its working directory: run it
    // in the checkout's ignored `.local/`, where they stay for a look after a failure.
    let workdir = root().join(".local").join("schemathesis-runs");
    std::fs::create_dir_all(&workdir).expect("the schemathesis directory is writable");
    let output = Command::new(tool.program("schemathesis"))
        .args(contract_args(&schema, &server.base, &token))
        .current_dir(&workdir)
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis runs");
    assert!(
        output.status.success(),
        "schemathesis found the handler answering other than documented:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The schemathesis command line.
fn contract_args(schema: &Path, base: &str, token: &str) -> Vec<String> {
    [
        "run",
        &schema.to_string_lossy(),
        "--url",
        base,
        "--header",
        &format!("Authorization: Bearer {token}"),
        "--checks",
        "all",
        // A list's cursor is opaque: only one the API handed out is valid, so a schema-valid
        // string that no page returned is rightly refused with 400 BadCursor. Schemathesis
        // would count that as a valid request rejected; the stateful phase follows real
        // cursors through the documented links instead.
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        "30",
        "--seed",
        "1",
        // Examples live for the run only.
        "--generation-database",
        ":memory:",
        "--suppress-health-check",
        "all",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// The base URL of the stack's HTTP API on the emulator, path-addressed
/// (`<emulator>/_aws/execute-api/<api id>`), from the stack's `HttpApiUrl` output.
pub fn emulator_api_base(stack: &LocalStack) -> String {
    let url = stack.runtime().block_on(async {
        let (config, _) = stack.emulator().await;
        let stacks = aws_sdk_cloudformation::Client::new(&config)
            .describe_stacks()
            .stack_name("local-userlog")
            .send()
            .await
            .expect("the stack is described");
        stacks
            .stacks()
            .first()
            .and_then(|s| {
                s.outputs()
                    .iter()
                    .find(|o| o.output_key() == Some("HttpApiUrl"))
                    .and_then(|o| o.output_value())
                    .map(str::to_owned)
            })
            .expect("the stack has the output HttpApiUrl")
    });
    // `https://<api id>.execute-api.<host>...`: the id is the first label of the host.
    let host = url.split("://").nth(1).unwrap_or(&url);
    let api_id = host.split('.').next().expect("an API id");
    format!("{}/_aws/execute-api/{api_id}", stack.endpoint)
}

/// The HTTP API on the emulator routes to the deployed function; its JWT authorizer, which
/// MiniStack 1.5.33 can check only with a package its pinned install lacks, refuses every token.
pub fn check_emulator_route(stack: &LocalStack, user: &str) {
    let base = emulator_api_base(stack);
    let (status, _, health) = get(&base, "/health", None);
    assert_eq!(
        (status, health.clone()),
        (200, json!({"status": "ok", "database": "ok"})),
        "the emulator's HTTP API at {base}"
    );
    let (status, _, _) = get(&base, &format!("/users/{user}/stats"), None);
    assert_eq!(
        status, 401,
        "the emulator's authorizer let a request without a token through"
    );
    let token = token(stack, &[]);
    let (status, _, body) = get(&base, &format!("/users/{user}/stats"), Some(&token));
    assert_eq!(
        status, 401,
        "the emulator's JWT authorizer now accepts the local issuer's tokens ({body}): \
         the demo can use the emulator's route, update the README and docs/local-emulator.md"
    );
}
