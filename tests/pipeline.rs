//! End-to-end tests of the whole pipeline on one machine: a local stack of its own (PostgreSQL
//! and the MiniStack emulator, under `.local/e2e`), the real `cargo xtask deploy` of the rendered
//! definitions, files put into the input bucket through `cargo xtask upload`, the executions the
//! S3 events start followed to their end, and what they left in PostgreSQL and DynamoDB checked.
//!
//! The scenarios share one deployed stack, so they run in order in one test; each says which
//! scenario failed.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use userlog_e2e::{LocalStack, root};

mod dashboard;
mod stats_api;

/// The local stack of these tests (`userlog_e2e::LocalStack`), with the checks of this file.
struct Stack(LocalStack);

impl std::ops::Deref for Stack {
    type Target = LocalStack;

    fn deref(&self) -> &LocalStack {
        &self.0
    }
}

impl Stack {
    fn start() -> Stack {
        Stack(LocalStack::start())
    }

    /// Uploads a file with `--wait --json`; returns the exit code and the outcome.
    fn upload(&self, file: &Path, key: &str) -> (i32, Value) {
        let file = file.to_string_lossy().into_owned();
        let output = self.xtask(&["upload", &file, "--key", key, "--wait", "--json"]);
        let outcome: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "upload of {key} printed no outcome ({e}):\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.code().unwrap_or(-1), outcome)
    }

    /// `user_id -> (login_count, post_count)` for every row of user_statistics.
    fn statistics(&self) -> Vec<(String, i32, i32)> {
        self.sql(async |pool| {
            sqlx::query_as(
                "SELECT user_id, login_count, post_count FROM user_statistics WHERE user_id LIKE 'U%' ORDER BY user_id",
            )
            .fetch_all(pool)
            .await
            .expect("user_statistics reads")
        })
    }
}

impl Stack {
    /// Writes the deploy lock of `environment` as another deploy would, valid for an hour.
    fn put_lock(&self, environment: &str, deploy_id: &str, owner: &str) {
        use aws_sdk_dynamodb::types::AttributeValue;
        let now = chrono::Utc::now();
        let text = |value: String| AttributeValue::S(value);
        self.runtime().block_on(async {
            let (config, _) = self.emulator().await;
            aws_sdk_dynamodb::Client::new(&config)
                .put_item()
                .table_name(format!("{environment}-userlog-deploy-locks"))
                .item("environment", text(environment.to_owned()))
                .item("deployId", text(deploy_id.to_owned()))
                .item("owner", text(owner.to_owned()))
                .item("command", text("deploy".to_owned()))
                .item("acquiredAt", text(now.to_rfc3339()))
                .item(
                    "expiresAt",
                    text((now + chrono::Duration::hours(1)).to_rfc3339()),
                )
                .send()
                .await
                .expect("the lock is written");
        });
    }
}

impl Stack {
    /// Invokes the deployed `export-stats` (alias `stable`) for `day`; returns its summary.
    fn invoke_export(&self, day: &str) -> Value {
        self.runtime().block_on(async {
            let config = self.aws_config().await;
            let answer = aws_sdk_lambda::Client::new(&config)
                .invoke()
                .function_name("local-userlog-export-stats")
                .qualifier("stable")
                .payload(aws_sdk_lambda::primitives::Blob::new(
                    serde_json::json!({ "date": day }).to_string(),
                ))
                .send()
                .await
                .expect("export-stats is invoked");
            let payload = answer
                .payload()
                .map(|blob| blob.as_ref().to_vec())
                .unwrap_or_default();
            assert!(
                answer.function_error().is_none(),
                "export-stats failed: {}",
                String::from_utf8_lossy(&payload)
            );
            serde_json::from_slice(&payload).expect("export-stats answers with its summary")
        })
    }

    /// The keys under `prefix` in the ETL bucket.
    fn etl_keys(&self, prefix: &str) -> Vec<String> {
        self.runtime().block_on(async {
            let (config, settings) = self.emulator().await;
            userlog_aws::s3_client(&config, &settings)
                .list_objects_v2()
                .bucket("local-userlog-etl-000000000000")
                .prefix(prefix)
                .send()
                .await
                .expect("the ETL bucket lists")
                .contents()
                .iter()
                .filter_map(|object| object.key().map(str::to_owned))
                .collect()
        })
    }

    /// An object of the ETL bucket.
    fn etl_object(&self, key: &str) -> Vec<u8> {
        self.runtime().block_on(async {
            let (config, settings) = self.emulator().await;
            let object = userlog_aws::s3_client(&config, &settings)
                .get_object()
                .bucket("local-userlog-etl-000000000000")
                .key(key)
                .send()
                .await
                .expect("the object reads");
            object
                .body
                .collect()
                .await
                .expect("the body reads")
                .into_bytes()
                .to_vec()
        })
    }
}

impl Stack {
    /// Sets a function's reserved concurrency, as `PutFunctionConcurrency` does.
    fn reserve_concurrency(&self, function: &str, concurrency: i32) {
        self.runtime().block_on(async {
            let config = self.aws_config().await;
            aws_sdk_lambda::Client::new(&config)
                .put_function_concurrency()
                .function_name(function)
                .reserved_concurrent_executions(concurrency)
                .send()
                .await
                .expect("the concurrency is set");
        });
    }

    /// The SDK configuration of the stack's emulator.
    async fn aws_config(&self) -> aws_config::SdkConfig {
        self.emulator().await.0
    }
}

/// Where `stable` of a function points: its version and the weights of other versions.
#[derive(Debug, PartialEq)]
struct Alias {
    version: String,
    weights: Vec<(String, f64)>,
}

impl Stack {
    fn alias(&self, function: &str) -> Alias {
        self.runtime().block_on(async {
            let config = self.aws_config().await;
            let alias = aws_sdk_lambda::Client::new(&config)
                .get_alias()
                .function_name(function)
                .name("stable")
                .send()
                .await
                .expect("the alias reads");
            let mut weights: Vec<(String, f64)> = alias
                .routing_config()
                .and_then(|r| r.additional_version_weights())
                .into_iter()
                .flatten()
                .map(|(version, weight)| (version.clone(), *weight))
                .collect();
            weights.sort_by(|a, b| a.0.cmp(&b.0));
            Alias {
                version: alias.function_version().unwrap_or_default().to_owned(),
                weights,
            }
        })
    }

    /// Waits until `stable` of `function` routes a share of its calls to another version.
    fn wait_for_canary(&self, function: &str, child: &mut std::process::Child) -> Alias {
        let started = std::time::Instant::now();
        loop {
            let alias = self.alias(function);
            if !alias.weights.is_empty() {
                return alias;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the canary deploy ended ({status}) before it shifted any calls");
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(300),
                "no canary on {function} after 300 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }

    /// Invokes `stable` of `function` `times` times; the version that ran each call.
    fn invoke_alias(&self, function: &str, times: usize) -> Vec<String> {
        self.runtime().block_on(async {
            let config = self.aws_config().await;
            let client = aws_sdk_lambda::Client::new(&config);
            let mut versions = Vec::new();
            for _ in 0..times {
                let answer = client
                    .invoke()
                    .function_name(function)
                    .qualifier("stable")
                    .payload(aws_smithy_types::Blob::new(b"{}".to_vec()))
                    .send()
                    .await
                    .expect("the alias answers");
                versions.push(answer.executed_version().unwrap_or_default().to_owned());
            }
            versions
        })
    }

    /// Sets an alarm's state, as the emulator does not evaluate alarms.
    fn set_alarm(&self, alarm: &str, state: &str) {
        self.runtime().block_on(async {
            let config = self.aws_config().await;
            aws_sdk_cloudwatch::Client::new(&config)
                .set_alarm_state()
                .alarm_name(alarm)
                .state_value(state.into())
                .state_reason(format!("set to {state} by the end-to-end test"))
                .send()
                .await
                .expect("the alarm state is set");
        });
    }

    /// Starts `xtask` with `args` in the background, its output captured.
    fn spawn_xtask(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the xtask binary starts")
    }
}

fn text(value: &Value, field: &str) -> String {
    match &value[field] {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Asserts that the execution's check sent its notification to the SNS topic.
fn assert_notified(outcome: &Value, scenario: &str) {
    let sent: Vec<String> = outcome["notified"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|n| n["ok"] == Value::Bool(true))
                .map(|n| text(n, "channel"))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        sent.contains(&"sns".to_owned()),
        "{scenario}: no notification was sent: {outcome:#}"
    );
}

/// Writes a CSV file of `rows` rows for users `E0000001...` under `dir`.
fn generated_file(dir: &Path, name: &str, rows: usize, pad_to: Option<u64>) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("a file"));
    let mut written = 0_u64;
    let mut line = |text: String| {
        file.write_all(text.as_bytes()).expect("write");
        written += text.len() as u64;
        written
    };
    line("user_id,login_count,post_count\n".to_owned());
    for i in 1..=rows {
        line(format!("E{i:07},{},{}\n", i % 1000, i % 77));
    }
    if let Some(size) = pad_to {
        // Rows repeat the last user: the size check rejects the file before anything reads it.
        while line(format!("E{rows:07},1,1\n")) < size {}
    }
    file.flush().expect("flush");
    path
}

#[test]
fn the_pipeline_runs_end_to_end_on_the_local_stack() {
    let stack = Stack::start();
    let samples = root().join("samples");

    // The bootstrap first: the artifact bucket, the lock table, the image repository and the
    // roles trusting one repository, which the first deploy then finds.
    let refused = stack.xtask(&["bootstrap", "--env", "local", "--repository", "acme/*"]);
    assert_eq!(refused.status.code(), Some(2), "a wildcard repository");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is not OWNER/REPO"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let bootstrap = |what: &str| -> Value {
        let output = stack.expect_ok(
            &[
                "bootstrap",
                "--env",
                "local",
                "--repository",
                "acme/userlog",
                "--json",
            ],
            what,
        );
        serde_json::from_slice(&output.stdout).expect("a bootstrap summary")
    };
    let first = bootstrap("the bootstrap");
    assert_eq!(first["stack"], "created", "{first:#}");
    assert_eq!(
        first["outputs"]["ArtifactBucketName"], "local-userlog-artifacts-000000000000",
        "{first:#}"
    );
    assert_eq!(
        first["outputs"]["DeployLockTableName"], "local-userlog-deploy-locks",
        "{first:#}"
    );
    assert!(
        text(&first["outputs"], "GitHubDeployRoleArn")
            .ends_with(":role/local-userlog-github-deploy"),
        "{first:#}"
    );
    assert_eq!(
        first["variables"][0]["name"], "USERLOG_DEPLOY_ROLE_ARN",
        "{first:#}"
    );
    assert_eq!(first["variables"][0]["environment"], "local", "{first:#}");
    assert_eq!(bootstrap("the second bootstrap")["stack"], "unchanged");

    // Deploy: the stack is created and every function released; the migrations run as a
    // one-off task of the import image, as CI runs them against a private database.
    let deploy = stack.expect_ok(
        &["deploy", "--json", "--migrate-with", "task"],
        "the first deploy",
    );
    let summary: Value = serde_json::from_slice(&deploy.stdout).expect("a deploy summary");
    assert_eq!(summary["stack"], "created", "{summary:#}");
    assert!(
        summary["migrationTask"]
            .as_str()
            .is_some_and(|arn| arn.contains(":task/")),
        "the migrations ran in a task: {summary:#}"
    );
    let migrated: i64 = stack.sql(async |pool| {
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .expect("the migration history reads")
    });
    assert!(migrated >= 4, "the task applied the migrations: {migrated}");
    for check in summary["health"].as_array().expect("health checks") {
        assert_eq!(check["ok"], true, "{check}");
    }
    stack.sql(async |pool| {
        let users = std::fs::read_to_string(samples.join("users.csv")).expect("users.csv");
        for line in users.lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            sqlx::query("INSERT INTO users (user_id, username, email) VALUES ($1, $2, $3)")
                .bind(fields[0])
                .bind(fields[1])
                .bind(fields[2])
                .execute(pool)
                .await
                .expect("a user");
        }
        sqlx::query(
            "INSERT INTO users (user_id, username, email)
             SELECT 'E' || lpad(i::text, 7, '0'), 'user ' || i, 'e' || i || '@example.com'
             FROM generate_series(1, 800000) AS i",
        )
        .execute(pool)
        .await
        .expect("the generated users");
    });

    // A clean file (Shift_JIS, so the bulk path): statistics set, audit records, a notification.
    let (code, clean) = stack.upload(
        &samples.join("activity-clean.csv"),
        "incoming/activity-20261101T000000Z.csv",
    );
    assert_eq!(
        (code, text(&clean, "status")),
        (0, "SUCCEEDED".to_owned()),
        "clean: {clean:#}"
    );
    assert_eq!(text(&clean, "route"), "bulk", "clean: {clean:#}");
    let after_clean = stack.statistics();
    assert_eq!(
        after_clean.len(),
        12,
        "clean: the file's 12 users have statistics: {after_clean:?}"
    );
    assert_eq!(clean["rowsApplied"], 12, "clean: {clean:#}");
    let audit = stack.items(
        "local-userlog-processing-logs",
        &text(&clean, "executionName"),
    );
    assert!(
        !audit.is_empty(),
        "clean: no audit records in ProcessingLogs"
    );
    assert_notified(&clean, "clean");

    // Row errors within the tolerance (UTF-8, so the distributed map): the execution succeeds,
    // the unknown user is in the error table, the notification carries the count.
    let (code, row_errors) = stack.upload(
        &samples.join("activity-row-errors.csv"),
        "incoming/activity-20261102T000000Z.csv",
    );
    assert_eq!(code, 0, "row errors: {row_errors:#}");
    assert_eq!(
        text(&row_errors, "route"),
        "map",
        "row errors: {row_errors:#}"
    );
    assert_eq!(row_errors["rowErrors"], 1, "row errors: {row_errors:#}");
    let errors = stack.items(
        "local-userlog-csv-processing-errors",
        &text(&row_errors, "executionName"),
    );
    let codes: Vec<String> = errors
        .iter()
        .filter_map(|item| item.get("errorType")?.as_s().ok().cloned())
        .collect();
    assert_eq!(
        codes,
        ["UserNotFound"],
        "row errors: the error table holds {errors:?}"
    );
    assert_notified(&row_errors, "row errors");
    let after_row_errors = stack.statistics();
    assert_eq!(
        after_row_errors.len(),
        20,
        "row errors: every known user now has statistics"
    );

    // The daily export: the deployed function writes the day's one Parquet object, a second run
    // replaces it, and the tooling's run of the same code writes the same bytes to a directory.
    let first = stack.invoke_export("2026-12-01");
    assert_eq!(
        (&first["rows"], &first["day"]),
        (&Value::from(20), &Value::from("2026-12-01")),
        "export: {first:#}"
    );
    let key = "user_statistics/dt=2026-12-01/user_statistics.parquet";
    assert_eq!(
        first["location"],
        format!("s3://local-userlog-etl-000000000000/{key}"),
        "export: {first:#}"
    );
    let second = stack.invoke_export("2026-12-01");
    assert_eq!(second["rows"], 20, "export again: {second:#}");
    assert_eq!(
        stack.etl_keys("user_statistics/dt=2026-12-01/"),
        [key],
        "export again: the day holds one object"
    );
    let exported = stack.etl_object(key);
    assert_eq!(&exported[..4], b"PAR1", "export: not a Parquet file");
    let lake = stack.dir.join("lake");
    let _ = std::fs::remove_dir_all(&lake);
    let lake_arg = lake.to_string_lossy().into_owned();
    stack.expect_ok(
        &[
            "export",
            "--date",
            "2026-12-01",
            "--out",
            &lake_arg,
            "--json",
        ],
        "export --out",
    );
    assert!(
        std::fs::read(lake.join(key)).expect("the exported file") == exported,
        "export: the function's object and the tooling's file differ"
    );

    // An invalid file: the execution fails with the error and its cause, nothing is applied.
    let (code, invalid) = stack.upload(
        &samples.join("activity-invalid.csv"),
        "incoming/activity-20261103T000000Z.csv",
    );
    assert_eq!(
        (code, text(&invalid, "status")),
        (1, "FAILED".to_owned()),
        "invalid: {invalid:#}"
    );
    assert_eq!(
        text(&invalid, "error"),
        "ValidationFailed",
        "invalid: {invalid:#}"
    );
    assert!(
        text(&invalid, "cause").contains("BadCount"),
        "invalid: {invalid:#}"
    );
    assert_eq!(
        stack.statistics(),
        after_row_errors,
        "invalid: statistics changed"
    );
    assert_notified(&invalid, "invalid");

    // The same object again: its execution finds the import done and applies nothing.
    let (code, again) = stack.upload(
        &samples.join("activity-clean.csv"),
        "incoming/activity-20261101T000000Z.csv",
    );
    assert_eq!(code, 0, "duplicate: {again:#}");
    assert_eq!(again["duplicate"], true, "duplicate: {again:#}");
    assert_eq!(
        stack.statistics(),
        after_row_errors,
        "duplicate: statistics changed"
    );

    // The statistics API: `serve-api` with `token`'s tokens answers what PostgreSQL and the
    // audit trail hold and refuses bad tokens; the deployed function answers the same on the
    // emulator (with serve-api serving the local issuer's JWKS); schemathesis finds every route
    // answering as the OpenAPI document says.
    let (user, login, post) = after_row_errors
        .iter()
        .find(|(user, _, _)| user == "U00001")
        .cloned()
        .expect("stats api: U00001 has statistics");
    let server = stats_api::serve_api(&stack);
    stats_api::check_serve_api(
        &stack,
        &server,
        &user,
        (login, post),
        &text(&row_errors, "executionName"),
    );
    stats_api::check_function(&stack, &user, (login, post));
    stats_api::check_emulator_route(&stack, &user);
    stats_api::check_contract(&stack, &server);
    // The dashboard in headless Chromium, reading serve-api from its own origin.
    dashboard::check_in_browser(
        &stack,
        &server,
        &user,
        "incoming/activity-20261103T000000Z.csv",
        &[
            "incoming/activity-20261101T000000Z.csv",
            "incoming/activity-20261102T000000Z.csv",
        ],
    );
    drop(server);

    let scratch = stack.dir.join("scratch");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).expect("the old scratch files go");
    }
    std::fs::create_dir_all(&scratch).expect("a scratch directory");

    // Over the size limit of local (100 MiB): rejected before it is read.
    let too_large = generated_file(scratch.as_path(), "too-large.csv", 10, Some(104_857_601));
    let (code, large) = stack.upload(&too_large, "incoming/too-large-20261104T000000Z.csv");
    assert_eq!(code, 1, "too large: {large:#}");
    assert!(
        text(&large, "cause").contains("FileTooLarge"),
        "too large: {large:#}"
    );
    std::fs::remove_file(&too_large).expect("the large file goes");

    // A count of 5,000,000 digits on line 2: rejected cleanly with a short message, and its error
    // record written (quoted whole, it would not fit a DynamoDB item nor the state's 256 KiB).
    let huge = scratch.join("huge-value.csv");
    let digits = "9".repeat(5_000_000);
    std::fs::write(
        &huge,
        format!("user_id,login_count,post_count\nU00001,{digits},1\n"),
    )
    .expect("the huge-value file");
    let (code, huge_value) = stack.upload(&huge, "incoming/huge-value-20261104T010000Z.csv");
    assert_eq!(
        (code, text(&huge_value, "error")),
        (1, "ValidationFailed".to_owned()),
        "huge value: {huge_value:#}"
    );
    let cause = text(&huge_value, "cause");
    assert!(
        cause.contains("2:2: BadCount") && cause.len() < 1_000,
        "huge value: {cause}"
    );
    let records = stack.items(
        "local-userlog-csv-processing-errors",
        &text(&huge_value, "executionName"),
    );
    let lines: Vec<(String, String)> = records
        .iter()
        .filter_map(|item| {
            let code = item.get("errorType")?.as_s().ok()?.clone();
            let line = item
                .get("recordData")?
                .as_m()
                .ok()?
                .get("line")?
                .as_n()
                .ok()?
                .clone();
            Some((code, line))
        })
        .collect();
    assert_eq!(
        lines,
        [("BadCount".to_owned(), "2".to_owned())],
        "huge value: the error table holds {records:?}"
    );
    assert_notified(&huge_value, "huge value");
    std::fs::remove_file(&huge).expect("the huge-value file goes");

    // Over the map path's 10 MiB: the bulk path, as an ECS task run as a local process.
    let big = generated_file(scratch.as_path(), "big.csv", 800_000, None);
    let (code, bulk) = stack.upload(&big, "incoming/big-20261105T000000Z.csv");
    assert_eq!(code, 0, "bulk: {bulk:#}");
    assert_eq!(text(&bulk, "route"), "bulk", "bulk: {bulk:#}");
    assert_eq!(bulk["rowsApplied"], 800_000, "bulk: {bulk:#}");

    // A burst of files while process-user-log may run only five instances at once: batches are
    // throttled, retried, and applied once; every execution succeeds and no connection is refused.
    stack.reserve_concurrency("local-userlog-process-user-log", 5);
    let burst = stack.xtask(&[
        "bench", "load", "--files", "10", "--rows", "300", "--settle", "5", "--json",
    ]);
    let report: Value = serde_json::from_slice(&burst.stdout).unwrap_or_else(|e| {
        panic!(
            "bench load printed no report ({e}):\n{}\n{}",
            String::from_utf8_lossy(&burst.stdout),
            String::from_utf8_lossy(&burst.stderr)
        )
    });
    assert_eq!(burst.status.code(), Some(0), "burst: {report:#}");
    assert_eq!(
        report["executionsByStatus"],
        serde_json::json!({"SUCCEEDED": 10}),
        "burst: {report:#}"
    );
    assert_eq!(report["newestFileWon"], true, "burst: {report:#}");
    assert_eq!(report["failures"]["databaseErrors"], 0, "burst: {report:#}");
    assert!(
        report["failures"]["throttles"].as_u64() > Some(0),
        "burst: no batch was throttled: {report:#}"
    );
    assert!(
        report["maxConnectionsInUse"].as_u64() <= report["connectionLimit"].as_u64(),
        "burst: {report:#}"
    );
    // Files applied out of order skip the rows a newer file already set, but the newest file
    // changes every one of its 300 users exactly once, however often its batches were retried
    // (an audit record per user and import).
    let newest_changes: i64 = stack.sql(async |pool| {
        sqlx::query_scalar(
            "SELECT count(*) FROM statistic_changes c JOIN imports i USING (import_id)
             WHERE i.import_id = (SELECT import_id FROM imports WHERE source_key LIKE 'incoming/load-%'
                                  ORDER BY as_of DESC LIMIT 1)",
        )
        .fetch_one(pool)
        .await
        .expect("the audit counts")
    });
    assert_eq!(
        newest_changes, 300,
        "burst: the newest file did not apply each row once"
    );
    stack.reserve_concurrency("local-userlog-process-user-log", 40);

    // A file of users that do not exist yet fails (too many row errors); once they exist, a
    // redrive applies it.
    let unknown = unknown_file(scratch.as_path(), "R");
    let (code, failed) = stack.upload(&unknown, "incoming/redrive-20261106T000000Z.csv");
    assert_eq!(code, 1, "redrive: {failed:#}");
    let failed_name = text(&failed, "executionName");
    stack.sql(async |pool| {
        sqlx::query(
            "INSERT INTO users (user_id, username, email)
             SELECT 'R' || lpad(i::text, 7, '0'), 'late user ' || i, 'r' || i || '@example.com'
             FROM generate_series(1, 60) AS i",
        )
        .execute(pool)
        .await
        .expect("the late users");
    });
    let redriven = stack.xtask(&["redrive", &failed_name, "--json"]);
    let results: Value = serde_json::from_slice(&redriven.stdout).expect("redrive results");
    assert_eq!(redriven.status.code(), Some(0), "redrive: {results:#}");
    assert_eq!(
        results[0]["outcome"]["status"], "SUCCEEDED",
        "redrive: {results:#}"
    );
    assert_eq!(
        results[0]["outcome"]["rowsApplied"], 60,
        "redrive: {results:#}"
    );

    // A failed file replaced by a newer one at the same key is not redriven.
    let (code, old) = stack.upload(
        &unknown_file(scratch.as_path(), "S"),
        "incoming/superseded-20261107T000000Z.csv",
    );
    assert_eq!(code, 1, "superseded: {old:#}");
    let newer = scratch.as_path().join("newer.csv");
    std::fs::write(&newer, "user_id,login_count,post_count\nR0000001,99,9\n").expect("a file");
    let (code, _) = stack.upload(&newer, "incoming/superseded-20261107T000000Z.csv");
    assert_eq!(code, 0, "superseded: the newer file applies");
    let refused = stack.xtask(&["redrive", &text(&old, "executionName"), "--json"]);
    let results: Value = serde_json::from_slice(&refused.stdout).expect("redrive results");
    assert_eq!(refused.status.code(), Some(1), "superseded: {results:#}");
    assert!(
        text(&results[0], "message").starts_with("superseded:"),
        "superseded: {results:#}"
    );

    // A deploy that changes one function moves only its alias; a rollback moves it back.
    let built = scratch.as_path().join("build");
    stack.expect_ok(&["build", "--out", &built.to_string_lossy()], "the build");
    let changed = scratch.as_path().join("changed");
    copy_dir(&built, &changed);
    change_function(&changed, "check-errors");
    let before: Value = serde_json::from_slice(
        &stack
            .expect_ok(
                &[
                    "deploy",
                    "--json",
                    "--no-cfn-lint",
                    "--artifacts",
                    &built.to_string_lossy(),
                ],
                "redeploy",
            )
            .stdout,
    )
    .expect("a summary");
    assert_eq!(
        before["noChange"], true,
        "the same artifacts again change nothing: {before:#}"
    );
    let after: Value = serde_json::from_slice(
        &stack
            .expect_ok(
                &[
                    "deploy",
                    "--json",
                    "--no-cfn-lint",
                    "--artifacts",
                    &changed.to_string_lossy(),
                ],
                "the one-function deploy",
            )
            .stdout,
    )
    .expect("a summary");
    let moved: Vec<String> = after["released"]
        .as_array()
        .expect("released")
        .iter()
        .map(|m| text(m, "function"))
        .collect();
    assert_eq!(moved, ["check-errors"], "one function changed: {after:#}");
    assert_ne!(
        after["versions"]["check-errors"],
        before["versions"]["check-errors"]
    );
    for other in ["validate-csv", "process-user-log"] {
        assert_eq!(
            after["versions"][other], before["versions"][other],
            "{other} moved"
        );
    }
    let rollback: Value = serde_json::from_slice(
        &stack
            .expect_ok(&["rollback", "--json"], "the rollback")
            .stdout,
    )
    .expect("a rollback summary");
    assert_eq!(
        rollback["versions"], before["versions"],
        "rollback: {rollback:#}"
    );

    canary_releases(&stack, scratch.as_path(), &changed);

    // While another deploy holds the lock of the environment, a deploy stops and says who.
    stack.put_lock("local", "another-deploy", "someone@elsewhere (pid 1)");
    let locked = stack.xtask(&[
        "deploy",
        "--no-cfn-lint",
        "--artifacts",
        &built.to_string_lossy(),
    ]);
    let stderr = String::from_utf8_lossy(&locked.stderr);
    assert_eq!(locked.status.code(), Some(1), "locked: {stderr}");
    assert!(
        stderr.contains("is locked by someone@elsewhere"),
        "locked: {stderr}"
    );
}

/// Canary releases of one changed function on the emulator (whose alarms are driven with
/// SetAlarmState, since it does not evaluate them): an alarm during the bake rolls the canary
/// back and the deploy exits 1 naming it; a clean bake promotes; a deploy killed during the bake
/// leaves a canary that the next rollback finds and undoes, breaking the dead deploy's lock.
fn canary_releases(stack: &Stack, scratch: &Path, changed: &Path) {
    let function = "local-userlog-check-errors";
    let alarm = "local-userlog-check-errors-errors";
    let artifacts = changed.to_string_lossy().into_owned();
    let deploy = |canary: &str, bake: &str| {
        stack.spawn_xtask(&[
            "deploy",
            "--json",
            "--no-cfn-lint",
            "--artifacts",
            &artifacts,
            "--canary",
            canary,
            "--bake",
            bake,
        ])
    };
    let stable = stack.alias(function);
    assert!(stable.weights.is_empty(), "no canary yet: {stable:?}");

    // An alarm goes off during the bake: rolled back.
    stack.set_alarm(alarm, "OK");
    let mut child = deploy("50", "5m");
    let shifted = stack.wait_for_canary(function, &mut child);
    assert_eq!(shifted.version, stable.version, "stable keeps its version");
    assert_eq!(shifted.weights.len(), 1, "one canary version: {shifted:?}");
    assert_eq!(shifted.weights[0].1, 0.5, "half the calls: {shifted:?}");
    // A difference from AWS, pinned: the emulator runs every call of the alias on its
    // FunctionVersion; AWS would send about half of these to the canary.
    let executed = stack.invoke_alias(function, 10);
    assert_eq!(
        executed,
        vec![stable.version.clone(); 10],
        "MiniStack now routes by weight: update docs/local-emulator.md"
    );
    stack.set_alarm(alarm, "ALARM");
    let output = child.wait_with_output().expect("the deploy ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "rolled back: {stderr}");
    assert!(stderr.contains(alarm), "the alarm is named: {stderr}");
    let summary: Value = serde_json::from_slice(&output.stdout).expect("a summary");
    assert_eq!(
        summary["canary"]["outcome"]["outcome"], "rolledBack",
        "{summary:#}"
    );
    assert_eq!(stack.alias(function), stable, "back where it was");

    // A clean bake: promoted.
    stack.set_alarm(alarm, "OK");
    let output = deploy("50", "3s")
        .wait_with_output()
        .expect("the deploy ends");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no summary ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(output.status.success(), "promoted: {summary:#}");
    assert_eq!(
        summary["canary"]["outcome"]["outcome"], "promoted",
        "{summary:#}"
    );
    let phases: Vec<String> = summary["canary"]["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .map(|p| text(p, "phase"))
        .collect();
    assert_eq!(phases, ["shift 50 %", "bake", "promote"]);
    let promoted = stack.alias(function);
    assert!(promoted.weights.is_empty(), "{promoted:?}");
    assert_eq!(
        promoted.version, shifted.weights[0].0,
        "the canary's version"
    );
    assert_ne!(promoted.version, stable.version);

    // A deploy killed during the bake: the next rollback finds its canary and undoes it.
    let again = scratch.join("changed-again");
    copy_dir(changed, &again);
    change_function(&again, "check-errors");
    let again = again.to_string_lossy().into_owned();
    let mut child = stack.spawn_xtask(&[
        "deploy",
        "--no-cfn-lint",
        "--artifacts",
        &again,
        "--canary",
        "20",
        "--bake",
        "10m",
    ]);
    let shifted = stack.wait_for_canary(function, &mut child);
    assert_eq!(shifted.version, promoted.version);
    child.kill().expect("the deploy is killed");
    let _ = child.wait();
    let output = stack.expect_ok(&["rollback", "--json"], "the rollback of the canary");
    let rollback: Value = serde_json::from_slice(&output.stdout).expect("a rollback summary");
    assert_eq!(
        rollback["canariesReverted"][0]["function"], "check-errors",
        "{rollback:#}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("its process on this machine is gone") || stderr.contains("did not finish"),
        "the rollback says what it found: {stderr}"
    );
    assert_eq!(
        stack.alias(function),
        promoted,
        "stable is as the last release left it"
    );
}

/// A file of 60 users whose ids start with `prefix` and that do not exist.
fn unknown_file(dir: &Path, prefix: &str) -> PathBuf {
    let path = dir.join(format!("unknown-{prefix}.csv"));
    let rows: String = (1..=60)
        .map(|i| format!("{prefix}{i:07},{i},1\n"))
        .collect();
    std::fs::write(&path, format!("user_id,login_count,post_count\n{rows}")).expect("a file");
    path
}

/// Copies a build directory with what is under it (the image layout is a directory of its own).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for entry in std::fs::read_dir(from).expect("the build directory") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("a copy");
        }
    }
}

/// Rebuilds one function's zip in `dir` from its executable with bytes appended (an ELF file
/// runs the same with trailing bytes), and rewrites the manifest: a new release of that function.
fn change_function(dir: &Path, function: &str) {
    use userlog_build::{AL2023_GLIBC, artifact, manifest::Manifest};
    let mut manifest = artifact::read_built(dir).expect("the build reads");
    let entry = manifest.function(function).expect("the function").clone();
    let zip = std::fs::read(dir.join(&entry.zip)).expect("its zip");
    let mut executable = userlog_build::package::unzip_bootstrap(&zip).expect("its bootstrap");
    executable.extend_from_slice(b"\0a change for the end-to-end test\0");
    let prepared = artifact::prepare(function, &executable, AL2023_GLIBC).expect("it packages");
    artifact::write(dir, &prepared).expect("it writes");
    manifest
        .functions
        .retain(|artifact| artifact.name != function);
    manifest.functions.push(prepared.artifact);
    artifact::write_manifest(dir, &Manifest::new(manifest.functions)).expect("the manifest writes");
}
