//! The handler on a real PostgreSQL database (a fresh one per test) and a real JWKS: statistics,
//! the ledger's pages, the problems of bad input and unknown resources, the 401 challenge, CORS for
//! the dashboard's origin only, and that a store that does not answer gives a problem without its
//! internals.

use std::time::Duration;

use serde_json::{Value, json};
use stats_api::{Api, AuthSettings, Cors, Executions, Request, Response, Store, Verifier};
use userlog_aws::{AuditLog, ErrorLog};
use userlog_issuer::{JwksServer, KeyKind, SigningKey, jwks};

const ISSUER: &str = "http://127.0.0.1:8081/";
const AUDIENCE: &str = "userlog-stats-api";
const DASHBOARD: &str = "http://127.0.0.1:8082";

struct Fixture {
    api: Api,
    key: SigningKey,
    _jwks: JwksServer,
    database: userlog_testkit::TestDatabase,
}

/// An SDK configuration pointed at a port where nothing listens, without retries: the routes
/// here that read DynamoDB or Step Functions must fail cleanly.
async fn unreachable_aws() -> aws_config::SdkConfig {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (config, _) = userlog_aws::config::emulator_config(
        &format!("http://{addr}"),
        "ap-northeast-1",
        "test",
        "test",
    )
    .await;
    config
        .into_builder()
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build()
}

async fn fixture() -> Fixture {
    let database = userlog_testkit::fresh_database().await.unwrap();
    let key = SigningKey::generate(KeyKind::Es256).unwrap();
    let server = JwksServer::start(([127, 0, 0, 1], 0).into(), ISSUER, jwks(&[&key]))
        .await
        .unwrap();
    let aws = unreachable_aws().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let api = Api {
        store: Store {
            pool: database.pool().clone(),
            audit: AuditLog::new(dynamodb.clone(), "audit"),
            errors: ErrorLog::new(dynamodb, "errors"),
            execution_index: "ExecutionName-index".to_owned(),
        },
        verifier: Verifier::new(
            AuthSettings {
                jwks_url: server.jwks_url(),
                issuer: ISSUER.to_owned(),
                audiences: vec![AUDIENCE.to_owned()],
                leeway: Duration::from_secs(30),
                refetch_interval: Duration::from_secs(30),
                max_key_age: Duration::from_secs(600),
            },
            userlog_aws::http_client().unwrap(),
        ),
        executions: Executions {
            client: aws_sdk_sfn::Client::new(&aws),
            state_machine_arn: "arn:aws:states:ap-northeast-1:000000000000:stateMachine:m"
                .to_owned(),
        },
        cors: Cors::new([DASHBOARD.to_owned()]),
    };
    Fixture {
        api,
        key,
        _jwks: server,
        database,
    }
}

impl Fixture {
    fn token(&self) -> String {
        let now = chrono::Utc::now().timestamp();
        self.key
            .sign(&json!({"iss": ISSUER, "sub": "tester", "aud": AUDIENCE, "iat": now, "exp": now + 600}))
            .unwrap()
    }

    async fn get(&self, target: &str) -> Response {
        let token = self.token();
        self.request("GET", target, Some(&format!("Bearer {token}")))
            .await
    }

    async fn request(&self, method: &str, target: &str, authorization: Option<&str>) -> Response {
        self.request_from(None, method, target, authorization).await
    }

    async fn request_from(
        &self,
        origin: Option<&str>,
        method: &str,
        target: &str,
        authorization: Option<&str>,
    ) -> Response {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        self.api
            .handle(&Request {
                method: method.to_owned(),
                path: path.to_owned(),
                query: query.to_owned(),
                authorization: authorization.map(str::to_owned),
                origin: origin.map(str::to_owned),
            })
            .await
    }

    /// A user, and for `counts` an import and statistics from it.
    async fn seed(&self, user: &str, counts: Option<(i32, i32, i64)>) {
        let pool = self.database.pool();
        sqlx::query(
            "INSERT INTO users (user_id, username, email) VALUES ($1, $1, $1 || '@example.com')",
        )
        .bind(user)
        .execute(pool)
        .await
        .unwrap();
        if let Some((login, post, import_id)) = counts {
            sqlx::query(
                "INSERT INTO user_statistics (user_id, login_count, post_count, last_updated, as_of, import_id)
                 VALUES ($1, $2, $3, '2026-11-02T00:00:05Z', '2026-11-02T00:00:00Z', $4)",
            )
            .bind(user)
            .bind(login)
            .bind(post)
            .bind(import_id)
            .execute(pool)
            .await
            .unwrap();
        }
    }

    /// An import of the ledger; returns its id.
    async fn import(&self, key: &str, execution: &str, status: &str) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO imports (idempotency_key, source_bucket, source_key, source_etag, as_of,
                                  execution_name, route, status, claimed_at, rows_total, applied, row_errors)
             VALUES ($1, 'input', $1, 'etag', '2026-11-02T00:00:00Z', $2, 'map', $3,
                     '2026-11-02T00:01:00Z', 21, 20, 1)
             RETURNING import_id",
        )
        .bind(key)
        .bind(execution)
        .bind(status)
        .fetch_one(self.database.pool())
        .await
        .unwrap()
    }
}

fn body(response: &Response) -> Value {
    serde_json::from_str(&response.body).unwrap_or_else(|e| panic!("{e}: {}", response.body))
}

/// Checks a problem answer: status, content type and code.
fn check_problem(response: &Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "{}", response.body);
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    let problem = body(response);
    assert_eq!(problem["code"], code, "{problem}");
    assert_eq!(problem["status"], status);
    assert_eq!(problem["type"], format!("urn:userlog:problem:{code}"));
}

#[tokio::test]
async fn statistics_come_with_their_import() {
    let f = fixture().await;
    let import_id = f
        .import("incoming/a-20261102T000000Z.csv", "exec-1", "succeeded")
        .await;
    f.seed("U00001", Some((323, 28, import_id))).await;
    f.seed("U00002", None).await;

    let response = f.get("/users/U00001/stats").await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        body(&response),
        json!({
            "userId": "U00001", "loginCount": 323, "postCount": 28,
            "asOf": "2026-11-02T00:00:00Z", "lastUpdated": "2026-11-02T00:00:05Z",
            "import": {"importId": import_id, "executionName": "exec-1", "sourceBucket": "input",
                       "sourceKey": "incoming/a-20261102T000000Z.csv"}
        })
    );
    let before_any_import = body(&f.get("/users/U00002/stats").await);
    assert_eq!(
        before_any_import,
        json!({"userId": "U00002", "loginCount": 0, "postCount": 0, "asOf": null, "lastUpdated": null, "import": null})
    );

    check_problem(&f.get("/users/U99999/stats").await, 404, "UserNotFound");
    check_problem(&f.get("/users/U99999/history").await, 404, "UserNotFound");
    for bad in [
        "/users/U-00000000001/stats",
        "/users/a%2Fb/stats",
        "/users/%E3%83%A6/stats",
        "/users/a%20b/history",
    ] {
        check_problem(&f.get(bad).await, 400, "BadUserId");
    }
    f.database.drop_database().await.unwrap();
}

#[tokio::test]
async fn the_ledger_pages_newest_first() {
    let f = fixture().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            f.import(&format!("k{n}"), &format!("exec-{n}"), "succeeded")
                .await,
        );
    }
    let first = body(&f.get("/imports?limit=2").await);
    let page_ids = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["importId"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(page_ids(&first), vec![ids[4], ids[3]]);
    assert_eq!(first["items"][0]["rowsApplied"], 20);
    assert_eq!(first["items"][0]["route"], "map");
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let second = body(&f.get(&format!("/imports?limit=2&cursor={cursor}")).await);
    assert_eq!(page_ids(&second), vec![ids[2], ids[1]]);
    let cursor = second["nextCursor"].as_str().unwrap().to_owned();
    let last = body(&f.get(&format!("/imports?limit=2&cursor={cursor}")).await);
    assert_eq!(page_ids(&last), vec![ids[0]]);
    assert_eq!(last["nextCursor"], Value::Null);
    assert_eq!(page_ids(&body(&f.get("/imports").await)).len(), 5);

    check_problem(&f.get("/imports?limit=0").await, 400, "BadLimit");
    check_problem(&f.get("/imports?limit=abc").await, 400, "BadLimit");
    check_problem(&f.get("/imports?cursor=bogus").await, 400, "BadCursor");
    // A history cursor is not an imports cursor.
    let history = stats_api::Cursor::History {
        user_id: "U1".into(),
        timestamp: "t".into(),
        execution_name: "e".into(),
    };
    check_problem(
        &f.get(&format!("/imports?cursor={}", history.encode()))
            .await,
        400,
        "BadCursor",
    );
    check_problem(
        &f.get("/imports/no-such-execution").await,
        404,
        "ImportNotFound",
    );
    check_problem(&f.get("/imports/bad%20name").await, 400, "BadExecutionName");
    check_problem(
        &f.get("/imports/bad%20name/timeline").await,
        400,
        "BadExecutionName",
    );
    f.database.drop_database().await.unwrap();
}

#[tokio::test]
async fn tokens_are_required_except_for_the_health_check() {
    let f = fixture().await;
    let health = f.request("GET", "/health", None).await;
    assert_eq!(
        (health.status, body(&health)),
        (200, json!({"status": "ok", "database": "ok"}))
    );

    let missing = f.request("GET", "/imports", None).await;
    check_problem(&missing, 401, "Unauthorized");
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"userlog-stats-api\"")
    );
    let forged = f
        .request(
            "GET",
            "/users/U00001/stats",
            Some("Bearer eyJhbGciOiJub25lIn0.e30."),
        )
        .await;
    check_problem(&forged, 401, "Unauthorized");
    assert!(
        forged.header("www-authenticate").is_some_and(
            |v| v.starts_with("Bearer realm=\"userlog-stats-api\", error=\"invalid_token\"")
        ),
        "{:?}",
        forged.headers
    );
    // Authentication comes before input checks: a bad id without a token is a 401.
    check_problem(
        &f.request("GET", "/users/a%2Fb/stats", None).await,
        401,
        "Unauthorized",
    );

    check_problem(&f.get("/nowhere").await, 404, "NotFound");
    let post = f.request("POST", "/imports", None).await;
    check_problem(&post, 405, "MethodNotAllowed");
    assert_eq!(post.header("allow"), Some("GET"));
    f.database.drop_database().await.unwrap();
}

#[tokio::test]
async fn stores_that_fail_answer_problems_without_their_internals() {
    let f = fixture().await;
    f.seed("U00001", None).await;
    let import_id = f.import("k", "exec-1", "failed").await;
    assert!(import_id > 0);
    // DynamoDB does not answer: the history and the import's errors are unavailable.
    let history = f.get("/users/U00001/history").await;
    check_problem(&history, 503, "AuditLogError");
    let import = f.get("/imports/exec-1").await;
    check_problem(&import, 503, "AuditLogError");
    // Step Functions does not answer: the timeline is unavailable.
    let timeline = f.get("/imports/exec-1/timeline").await;
    check_problem(&timeline, 503, "ExecutionHistoryError");
    // PostgreSQL goes away: the health check and the reads say so.
    f.database.pool().close().await;
    let health = f.request("GET", "/health", None).await;
    check_problem(&health, 503, "DatabaseError");
    let stats = f.get("/users/U00001/stats").await;
    check_problem(&stats, 503, "DatabaseError");
    for response in [&history, &import, &timeline, &health, &stats] {
        let text = response.body.to_lowercase();
        for leak in [
            "select",
            "sqlx",
            "pool",
            "dispatch",
            "connection refused",
            "panicked",
            ".rs:",
        ] {
            assert!(!text.contains(leak), "`{leak}` in {}", response.body);
        }
    }
    f.database.drop_database().await.unwrap();
}

#[tokio::test]
async fn browsers_of_the_dashboards_origin_may_read_the_answers_and_no_other() {
    let f = fixture().await;
    let token = format!("Bearer {}", f.token());
    let preflight = f
        .request_from(Some(DASHBOARD), "OPTIONS", "/imports", None)
        .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some(DASHBOARD)
    );
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("authorization")
    );
    let answer = f
        .request_from(Some(DASHBOARD), "GET", "/imports", Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some(DASHBOARD)
    );
    assert_eq!(answer.header("vary"), Some("origin"));
    // Browsers refuse an answer that names the origin twice.
    for response in [&preflight, &answer] {
        let origins = response
            .headers
            .iter()
            .filter(|(name, _)| name == "access-control-allow-origin")
            .count();
        assert_eq!(origins, 1, "{:?}", response.headers);
    }
    // A 401 is readable too, so the dashboard can say why it must sign in.
    let refused = f
        .request_from(Some(DASHBOARD), "GET", "/imports", None)
        .await;
    check_problem(&refused, 401, "Unauthorized");
    assert_eq!(
        refused.header("access-control-allow-origin"),
        Some(DASHBOARD)
    );

    for other in ["https://evil.example", "http://127.0.0.1:8083"] {
        let preflight = f
            .request_from(Some(other), "OPTIONS", "/imports", None)
            .await;
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            None,
            "{other}"
        );
        assert_eq!(
            preflight.header("access-control-allow-methods"),
            None,
            "{other}"
        );
        let answer = f
            .request_from(Some(other), "GET", "/imports", Some(&token))
            .await;
        assert_eq!(
            answer.header("access-control-allow-origin"),
            None,
            "{other}"
        );
    }
    // OPTIONS without an Origin is no preflight: the route answers GET only.
    check_problem(
        &f.request("OPTIONS", "/imports", None).await,
        405,
        "MethodNotAllowed",
    );
    f.database.drop_database().await.unwrap();
}
