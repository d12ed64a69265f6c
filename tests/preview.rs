//! End-to-end tests of pull-request previews on one local stack (the emulator and PostgreSQL of
//! `.local/e2e`) with the real `cargo xtask` binary and the GitHub client talking to the project's
//! stand-in GitHub API on 127.0.0.1 (and the Pages client talking to the stand-in Cloudflare API):
//! a refused pull request number, two previews side by side with isolated data, each with its
//! dashboard's branch preview on Pages, a second `up` that changes nothing, two `up`s of one pull
//! request at once, the sweep of a closed pull request's preview and an orphan schema, and `down`
//! leaving nothing, on AWS nor on Pages.
//!
//! The scenarios share one stack (a stack per scenario would cost minutes each), so they run in
//! order in one test; each says which scenario failed.

use std::process::Output;

use serde_json::Value;
use userlog_e2e::{LocalStack, root};
use userlog_testkit::cloudflare::FakeCloudflare;
use userlog_testkit::github::FakeGitHub;

const REPOSITORY: &str = "userlog/userlog";
const TOKEN: &str = "ghs_preview-test";
const CLOUDFLARE_ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const CLOUDFLARE_TOKEN: &str = "cf-preview-test";
/// The Pages project of previews (`dashboard.pagesProject` of preview.yaml).
const PAGES_PROJECT: &str = "userlog-dashboard-staging";

fn json(output: &Output, what: &str) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Everything of preview `number` that is still there: stacks, buckets, functions, state
/// machines, tables, log groups, the schema, its database role and the lock entry.
fn leftovers(stack: &LocalStack, number: u32) -> Vec<String> {
    let prefix = format!("preview-pr-{number}-userlog");
    let mut found = stack.runtime().block_on(async {
        let (config, settings) = stack.emulator().await;
        let mut found = Vec::new();
        let stacks = aws_sdk_cloudformation::Client::new(&config)
            .describe_stacks()
            .send()
            .await
            .expect("stacks");
        found.extend(
            stacks
                .stacks()
                .iter()
                .filter(|s| s.stack_status().map(|s| s.as_str()) != Some("DELETE_COMPLETE"))
                .filter_map(|s| s.stack_name())
                .filter(|name| *name == prefix)
                .map(|name| format!("stack {name}")),
        );
        let buckets = userlog_aws::config::s3_client(&config, &settings)
            .list_buckets()
            .send()
            .await
            .expect("buckets");
        found.extend(
            buckets
                .buckets()
                .iter()
                .filter_map(|b| b.name())
                .filter(|name| name.starts_with(&format!("{prefix}-")))
                .map(|name| format!("bucket {name}")),
        );
        let functions = aws_sdk_lambda::Client::new(&config)
            .list_functions()
            .send()
            .await
            .expect("functions");
        found.extend(
            functions
                .functions()
                .iter()
                .filter_map(|f| f.function_name())
                .filter(|name| name.starts_with(&format!("{prefix}-")))
                .map(|name| format!("function {name}")),
        );
        let machines = aws_sdk_sfn::Client::new(&config)
            .list_state_machines()
            .send()
            .await
            .expect("state machines");
        found.extend(
            machines
                .state_machines()
                .iter()
                .map(|m| m.name())
                .filter(|name| name.starts_with(&format!("{prefix}-")))
                .map(|name| format!("state machine {name}")),
        );
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let tables = dynamodb.list_tables().send().await.expect("tables");
        found.extend(
            tables
                .table_names()
                .iter()
                .filter(|name| name.starts_with(&format!("{prefix}-")))
                .map(|name| format!("table {name}")),
        );
        let groups = aws_sdk_cloudwatchlogs::Client::new(&config)
            .describe_log_groups()
            .send()
            .await
            .expect("log groups");
        found.extend(
            groups
                .log_groups()
                .iter()
                .filter_map(|g| g.log_group_name())
                .filter(|name| name.contains(&format!("{prefix}-")))
                .map(|name| format!("log group {name}")),
        );
        let lock = dynamodb
            .get_item()
            .table_name("local-userlog-deploy-locks")
            .key(
                "environment",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("preview-pr-{number}")),
            )
            .send()
            .await
            .expect("the lock table");
        if lock.item().is_some() {
            found.push(format!("lock entry preview-pr-{number}"));
        }
        found
    });
    let schema: Option<String> = stack.sql(async |pool| {
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname = $1")
            .bind(format!("pr_{number}"))
            .fetch_optional(pool)
            .await
            .expect("the schemas")
    });
    found.extend(schema.map(|s| format!("schema {s}")));
    let role: Option<String> = stack.sql(async |pool| {
        sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE rolname = $1")
            .bind(format!("userlog_pr_{number}"))
            .fetch_optional(pool)
            .await
            .expect("the roles")
    });
    found.extend(role.map(|r| format!("role {r}")));
    found
}

fn count(stack: &LocalStack, query: &str) -> i64 {
    stack.sql(async |pool| {
        sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
            .fetch_one(pool)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"))
    })
}

/// The sample users, into the `users` table of `schema`.
fn seed_users(stack: &LocalStack, schema: &str) {
    let users = std::fs::read_to_string(root().join("samples/users.csv")).expect("users.csv");
    stack.sql(async |pool| {
        for line in users.lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO {schema}.users (user_id, username, email) VALUES ($1, $2, $3)"
            )))
            .bind(fields[0])
            .bind(fields[1])
            .bind(fields[2])
            .execute(pool)
            .await
            .expect("a user");
        }
    });
}

/// How many items of DynamoDB table `table` belong to execution `execution`.
fn items(stack: &LocalStack, table: &str, execution: &str) -> usize {
    stack.items(table, execution).len()
}

/// Whether the lock of `environment` is held.
fn lock_held(stack: &LocalStack, environment: &str) -> bool {
    stack.runtime().block_on(async {
        let (config, _) = stack.emulator().await;
        aws_sdk_dynamodb::Client::new(&config)
            .get_item()
            .table_name("local-userlog-deploy-locks")
            .key(
                "environment",
                aws_sdk_dynamodb::types::AttributeValue::S(environment.to_owned()),
            )
            .send()
            .await
            .is_ok_and(|output| output.item().is_some())
    })
}

fn args_of(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn head_commit() -> String {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .expect("git runs");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn previews_come_up_side_by_side_stay_isolated_and_leave_nothing() {
    let mut stack = LocalStack::start();
    let github = FakeGitHub::start(REPOSITORY, TOKEN);
    let base = head_commit();
    for number in [7, 8] {
        github.add_pull(number, "open", &base, &base);
    }
    // The stand-in Cloudflare API runs on a runtime of its own for the whole test.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let cloudflare = runtime.block_on(FakeCloudflare::start(CLOUDFLARE_ACCOUNT, CLOUDFLARE_TOKEN));
    stack.env = vec![
        ("GITHUB_API_URL".to_owned(), github.url().to_owned()),
        ("GITHUB_REPOSITORY".to_owned(), REPOSITORY.to_owned()),
        ("GITHUB_TOKEN".to_owned(), TOKEN.to_owned()),
        (
            "CLOUDFLARE_ACCOUNT_ID".to_owned(),
            CLOUDFLARE_ACCOUNT.to_owned(),
        ),
        (
            "CLOUDFLARE_API_TOKEN".to_owned(),
            CLOUDFLARE_TOKEN.to_owned(),
        ),
        ("CLOUDFLARE_API_BASE_URL".to_owned(), cloudflare.url()),
    ];
    // The branches with deployments on Pages (`preview pr-7`), each once.
    let pages_branches = || -> Vec<String> {
        let branches: std::collections::BTreeSet<String> = cloudflare
            .deployments(PAGES_PROJECT)
            .into_iter()
            .map(|(_, branch, environment, _)| format!("{environment} {branch}"))
            .collect();
        branches.into_iter().collect()
    };

    // A pull request number that is not digits is refused before anything is touched.
    for bad in ["7x", "07", "-7", "7;DROP", ""] {
        let refused = stack.xtask(&["preview", "up", &format!("--pr={bad}")]);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "--pr {bad:?}: {stderr}");
        assert!(
            stderr.contains("is not a pull request number"),
            "--pr {bad:?}: {stderr}"
        );
    }
    assert!(github.requests().is_empty(), "a refused run called GitHub");

    // The platform the previews share: the local stack.
    let scratch = stack.dir.join("scratch-preview");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).expect("the old scratch files go");
    }
    std::fs::create_dir_all(&scratch).expect("a scratch directory");
    let built = scratch.join("build");
    let built = built.to_string_lossy().into_owned();
    stack.expect_ok(&["build", "--out", &built], "the build");
    let deploy = stack.expect_ok(
        &["deploy", "--json", "--no-cfn-lint", "--artifacts", &built],
        "the deploy of local",
    );
    assert_eq!(json(&deploy, "deploy")["stack"], "created");
    let up_args = |number: &str| -> Vec<String> {
        [
            "preview",
            "up",
            "--pr",
            number,
            "--json",
            "--no-cfn-lint",
            "--artifacts",
            &built,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };

    // Preview 7: stack, schema, functions at $LATEST, one comment, a successful deployment.
    let seven_args = up_args("7");
    let up = stack.expect_ok(&args_of(&seven_args), "preview up 7");
    let seven = json(&up, "preview up 7");
    assert_eq!(seven["stack"], "preview-pr-7-userlog", "{seven:#}");
    assert_eq!(seven["schema"], "pr_7", "{seven:#}");
    assert_eq!(seven["healthy"], true, "{seven:#}");
    assert_eq!(
        seven["upload"],
        "cargo xtask upload FILE --env preview-pr-7 --wait"
    );
    assert_eq!(
        seven["deploy"]["released"],
        Value::Array(vec![]),
        "no alias moved: {seven:#}"
    );
    for (function, version) in seven["deploy"]["versions"].as_object().expect("versions") {
        assert_eq!(
            version, "$LATEST",
            "{function} runs a published version: {seven:#}"
        );
    }
    assert_eq!(seven["github"]["comment"], "created", "{seven:#}");
    let comments = github.comments(7);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].contains("preview-pr-7-userlog"),
        "{}",
        comments[0]
    );
    assert!(
        comments[0].contains(&format!("against `{}`", &base[..12])),
        "{}",
        comments[0]
    );
    let deployments = github.deployments("preview-pr-7");
    assert_eq!(deployments.len(), 1);
    let states: Vec<String> = github
        .statuses(deployments[0].0)
        .into_iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(states, ["in_progress", "success"]);
    // Its dashboard: a branch preview on Pages, told the preview's own API, named in the comment.
    let dashboard_url = seven["dashboard"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no dashboard url: {seven:#}"))
        .to_owned();
    assert!(
        dashboard_url.starts_with("https://pr-7."),
        "{dashboard_url}"
    );
    assert!(comments[0].contains(&dashboard_url), "{}", comments[0]);
    assert_eq!(pages_branches(), ["preview pr-7"]);
    let deployment = seven["dashboard"]["deployment"]["id"]
        .as_str()
        .expect("a deployment id")
        .to_owned();
    let (config, content_type) = cloudflare
        .served(PAGES_PROJECT, &deployment, "/config.json")
        .expect("the deployment serves config.json");
    assert_eq!(content_type, "application/json");
    let config: Value = serde_json::from_slice(&config).expect("config.json is JSON");
    assert_eq!(config["env"], "preview-pr-7", "{config:#}");
    assert_eq!(config["apiUrl"], seven["apiUrl"], "{config:#} {seven:#}");
    assert!(
        cloudflare
            .served(PAGES_PROJECT, &deployment, "/index.html")
            .is_some(),
        "the deployment serves index.html"
    );

    // Two `up`s of preview 8 at once: one of them is stopped by the lock and names its holder.
    let eight_args = up_args("8");
    let spawn = || {
        stack
            .command(&args_of(&eight_args))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("an up starts")
    };
    let (one, other) = (spawn(), spawn());
    let mut outputs: Vec<Output> = [one, other]
        .into_iter()
        .map(|child| child.wait_with_output().expect("an up ends"))
        .collect();
    outputs.sort_by_key(|output| output.status.code());
    let [won, stopped] = &outputs[..] else {
        unreachable!("two ups ran")
    };
    let stopped_err = String::from_utf8_lossy(&stopped.stderr);
    assert_eq!(
        (won.status.code(), stopped.status.code()),
        (Some(0), Some(1)),
        "one up wins, the other is stopped:\n{}\n{stopped_err}",
        String::from_utf8_lossy(&won.stderr)
    );
    assert!(
        stopped_err.contains("preview-pr-8 is locked by"),
        "the stopped up: {stopped_err}"
    );
    assert!(
        !lock_held(&stack, "preview-pr-8"),
        "the lock of preview-pr-8 is still held"
    );

    // Isolation: a file uploaded to preview-pr-7 changes pr_7 only, its records go to its tables.
    seed_users(&stack, "pr_7");
    seed_users(&stack, "pr_8");
    let sample = root().join("samples/activity-row-errors.csv");
    let upload = stack.xtask(&[
        "upload",
        &sample.to_string_lossy(),
        "--env",
        "preview-pr-7",
        "--key",
        "incoming/activity-20261102T000000Z.csv",
        "--wait",
        "--json",
    ]);
    let outcome = json(&upload, "the upload to preview-pr-7");
    assert_eq!(upload.status.code(), Some(0), "{outcome:#}");
    assert!(
        count(&stack, "SELECT count(*) FROM pr_7.user_statistics") > 0,
        "{outcome:#}"
    );
    assert_eq!(
        count(&stack, "SELECT count(*) FROM pr_8.user_statistics"),
        0
    );
    assert_eq!(
        count(&stack, "SELECT count(*) FROM public.user_statistics"),
        0
    );
    // The database keeps them apart too: pr_7's login owns its schema and may read neither the
    // platform's tables nor pr_8's; the platform's reader may write nothing.
    assert_eq!(
        count(
            &stack,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'pr_7' AND nspowner = 'userlog_pr_7'::regrole"
        ),
        1
    );
    assert_eq!(
        count(
            &stack,
            "SELECT count(*) FROM pg_tables WHERE schemaname IN ('public', 'pr_8') \
             AND has_table_privilege('userlog_pr_7', format('%I.%I', schemaname, tablename), 'SELECT')"
        ),
        0
    );
    assert_eq!(
        count(
            &stack,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' \
             AND has_table_privilege('userlog_reader', format('%I.%I', schemaname, tablename), 'INSERT')"
        ),
        0
    );
    let execution = outcome["executionName"]
        .as_str()
        .expect("an execution")
        .to_owned();
    assert!(items(&stack, "preview-pr-7-userlog-processing-logs", &execution) > 0);
    assert!(
        items(
            &stack,
            "preview-pr-7-userlog-csv-processing-errors",
            &execution
        ) > 0
    );
    assert_eq!(
        items(&stack, "preview-pr-8-userlog-processing-logs", &execution),
        0
    );
    assert_eq!(
        items(&stack, "local-userlog-processing-logs", &execution),
        0
    );

    // Unchanged, a second `up` changes nothing, says so, and keeps the one comment.
    let again = stack.expect_ok(&args_of(&seven_args), "the second preview up 7");
    let again = json(&again, "the second preview up 7");
    assert_eq!(again["unchanged"], true, "{again:#}");
    assert_eq!(again["deploy"]["noChange"], true, "{again:#}");
    assert_eq!(github.comments(7).len(), 1, "{:?}", github.comments(7));
    assert_ne!(again["github"]["comment"], "created", "{again:#}");

    // The sweep: PR 8 closed, an orphan schema pr_11, PR 7 open. A dry run removes nothing.
    github.close_pull(8);
    stack.expect_ok(
        &[
            "migrate",
            "--database-url",
            &stack.database_url.clone(),
            "--schema",
            "pr_11",
        ],
        "the orphan schema",
    );
    let dry = stack.expect_ok(
        &["cleanup", "--stale", "--dry-run", "--json"],
        "cleanup --dry-run",
    );
    let dry = json(&dry, "cleanup --dry-run");
    let actions = |report: &Value| -> Vec<(u64, String)> {
        report["previews"]
            .as_array()
            .expect("previews")
            .iter()
            .map(|p| {
                (
                    p["number"].as_u64().unwrap_or_default(),
                    p["action"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let expected = vec![
        (7, "keep".to_owned()),
        (8, "remove".to_owned()),
        (11, "remove".to_owned()),
    ];
    assert_eq!(actions(&dry), expected, "{dry:#}");
    assert!(
        !leftovers(&stack, 8).is_empty(),
        "the dry run removed preview 8"
    );
    assert!(
        pages_branches().contains(&"preview pr-8".to_owned()),
        "the dry run removed the dashboard of pr-8: {:?}",
        pages_branches()
    );
    assert!(
        !leftovers(&stack, 11).is_empty(),
        "the dry run removed pr_11"
    );
    let swept = stack.expect_ok(&["cleanup", "--stale", "--json"], "cleanup --stale");
    let swept = json(&swept, "cleanup --stale");
    assert_eq!(actions(&swept), expected, "{swept:#}");
    assert_eq!(leftovers(&stack, 8), Vec::<String>::new(), "{swept:#}");
    // The closed pull request's dashboard goes; the open one's stays.
    assert_eq!(pages_branches(), ["preview pr-7"], "{swept:#}");
    assert_eq!(leftovers(&stack, 11), Vec::<String>::new(), "{swept:#}");
    assert!(leftovers(&stack, 7).contains(&"stack preview-pr-7-userlog".to_owned()));
    assert!(
        count(&stack, "SELECT count(*) FROM pr_7.user_statistics") > 0,
        "pr_7 was touched"
    );

    // `down` leaves nothing of preview 7, marks its deployment inactive and says so in its comment.
    // Its schema and role go by a one-off task of its import image (as on AWS, where the database
    // is only reachable inside the VPC).
    let down = stack.expect_ok(
        &[
            "preview",
            "down",
            "--pr",
            "7",
            "--drop-with",
            "task",
            "--json",
        ],
        "preview down 7",
    );
    let down = json(&down, "preview down 7");
    assert_eq!(down["nothingToRemove"], false, "{down:#}");
    assert!(
        down["removed"]
            .as_array()
            .expect("removed")
            .iter()
            .any(|line| line == "schema pr_7 and role userlog_pr_7 (by a one-off task)"),
        "{down:#}"
    );
    assert_eq!(leftovers(&stack, 7), Vec::<String>::new(), "{down:#}");
    assert!(
        !pages_branches().contains(&"preview pr-7".to_owned()),
        "the dashboard of pr-7 is still on Pages: {:?} {down:#}",
        pages_branches()
    );
    let comments = github.comments(7);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].contains("is gone"), "{}", comments[0]);
    let deployments = github.deployments("preview-pr-7");
    let last = github.statuses(deployments.last().expect("a deployment").0);
    assert_eq!(last.last().map(|s| s.state.as_str()), Some("inactive"));
    // The platform is untouched.
    assert!(count(&stack, "SELECT count(*) FROM public.users") >= 0);
    assert_eq!(
        json(
            &stack.expect_ok(
                &["deploy", "--json", "--no-cfn-lint", "--artifacts", &built],
                "redeploy of local"
            ),
            "redeploy"
        )["noChange"],
        true
    );

    // `down` twice is fine: nothing to remove.
    let twice = stack.expect_ok(
        &["preview", "down", "--pr", "7", "--json"],
        "preview down 7 again",
    );
    assert_eq!(json(&twice, "the second down")["nothingToRemove"], true);
}
