//! The `stats-api` function: the statistics API behind the HTTP API of API Gateway. One handler,
//! [`Api::handle`], answers every route from a plain [`Request`]: the Lambda function feeds it
//! API Gateway's events ([`gateway`]), and `cargo xtask serve-api` feeds it HTTP requests on
//! 127.0.0.1 ([`server`]), so both run the very same code.
//!
//! Routes (see `openapi.yaml` beside this crate): `GET /health` (no token; checks the database),
//! `GET /users/{userId}/stats`, `GET /users/{userId}/history`, `GET /imports`,
//! `GET /imports/{executionName}` and `GET /imports/{executionName}/timeline` (from Step
//! Functions, [`executions`]). Every route but the health check needs a bearer JWT ([`auth`]);
//! errors are problem documents with stable codes ([`problem`]); lists page with opaque cursors
//! ([`cursor`]); browsers of the operator dashboard's origins may read the answers ([`cors`]).

pub mod auth;
pub mod config;
pub mod cors;
pub mod cursor;
pub mod executions;
pub mod gateway;
pub mod problem;
pub mod server;
pub mod store;

use std::time::Instant;

use serde::Serialize;
use serde_json::json;
use userlog_aws::AuditKey;
use userlog_domain::values::UserId;

pub use auth::{AuthError, AuthSettings, Claims, Verifier};
pub use config::{Config, ConfigError};
pub use cors::Cors;
pub use cursor::Cursor;
pub use executions::Executions;
pub use problem::{ApiCode, PROBLEM_JSON, Problem};
pub use store::{Store, StoreError};

/// The page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 20;

/// The largest page.
pub const MAX_LIMIT: u32 = 100;

/// The longest execution name Step Functions allows.
pub const MAX_EXECUTION_NAME_CHARS: usize = 80;

/// The realm of the `WWW-Authenticate` challenge.
pub const REALM: &str = "userlog-stats-api";

/// A request, as both the Lambda function and the local server see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    pub method: String,
    /// The raw path, percent-encoded as sent.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Origin` header (a browser's cross-origin request).
    pub origin: Option<String>,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    fn json(status: u16, body: &impl Serialize) -> Response {
        Response {
            status,
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("cache-control".to_owned(), "no-store".to_owned()),
            ],
            body: serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned()),
        }
    }

    fn problem(problem: &Problem) -> Response {
        Response {
            status: problem.status,
            headers: vec![
                ("content-type".to_owned(), PROBLEM_JSON.to_owned()),
                ("cache-control".to_owned(), "no-store".to_owned()),
            ],
            body: serde_json::to_string(problem).unwrap_or_else(|_| "{}".to_owned()),
        }
    }

    fn with_header(mut self, name: &str, value: String) -> Response {
        self.headers.push((name.to_owned(), value));
        self
    }

    /// A header's value by name, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The routes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Health,
    UserStats(String),
    UserHistory(String),
    Imports,
    Import(String),
    ImportTimeline(String),
}

impl Route {
    /// The route of a path (segments percent-decoded), if there is one.
    fn of(path: &str) -> Option<Route> {
        let rest = path.strip_prefix('/')?;
        let segments: Vec<String> = rest.split('/').map(percent_decode).collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        Some(match segments.as_slice() {
            ["health"] => Route::Health,
            ["users", user, "stats"] => Route::UserStats((*user).to_owned()),
            ["users", user, "history"] => Route::UserHistory((*user).to_owned()),
            ["imports"] => Route::Imports,
            ["imports", name] => Route::Import((*name).to_owned()),
            ["imports", name, "timeline"] => Route::ImportTimeline((*name).to_owned()),
            _ => return None,
        })
    }

    /// The route key, as API Gateway names it (for logs).
    fn key(&self) -> &'static str {
        match self {
            Route::Health => "GET /health",
            Route::UserStats(_) => "GET /users/{userId}/stats",
            Route::UserHistory(_) => "GET /users/{userId}/history",
            Route::Imports => "GET /imports",
            Route::Import(_) => "GET /imports/{executionName}",
            Route::ImportTimeline(_) => "GET /imports/{executionName}/timeline",
        }
    }
}

/// The statistics API.
#[derive(Debug)]
pub struct Api {
    pub store: Store,
    pub verifier: Verifier,
    pub executions: Executions,
    pub cors: Cors,
}

/// A failed request: the problem to answer.
type Failure = Box<Response>;

impl Api {
    /// Answers one request.
    pub async fn handle(&self, request: &Request) -> Response {
        let started = Instant::now();
        let (route_key, subject, response) = self.answer(request).await;
        let response = self.cors.decorate(request, response);
        tracing::info!(
            method = %request.method,
            route = route_key,
            status = response.status,
            sub = subject.as_deref(),
            millis = started.elapsed().as_millis() as u64,
            "answered"
        );
        response
    }

    async fn answer(&self, request: &Request) -> (&'static str, Option<String>, Response) {
        let path = request.path.as_str();
        let Some(route) = Route::of(path) else {
            let problem = Problem::new(ApiCode::NotFound, "no route has this path", path);
            return ("-", None, Response::problem(&problem));
        };
        if Cors::is_preflight(request) {
            return (route.key(), None, self.cors.preflight(request));
        }
        if !request.method.eq_ignore_ascii_case("GET") {
            let problem = Problem::new(
                ApiCode::MethodNotAllowed,
                format!("{} only answers GET", route.key()),
                path,
            );
            return (
                route.key(),
                None,
                Response::problem(&problem).with_header("allow", "GET".to_owned()),
            );
        }
        if route == Route::Health {
            return (route.key(), None, self.health(path).await);
        }
        let claims = match self.verifier.verify(request.authorization.as_deref()).await {
            Ok(claims) => claims,
            Err(err) => return (route.key(), None, unauthorized(&err, path)),
        };
        let query = parse_query(&request.query);
        let result = match &route {
            Route::Health => Ok(self.health(path).await),
            Route::UserStats(user) => self.user_stats(user, path).await,
            Route::UserHistory(user) => self.user_history(user, &query, path).await,
            Route::Imports => self.imports(&query, path).await,
            Route::Import(name) => self.import(name, path).await,
            Route::ImportTimeline(name) => self.timeline(name, path).await,
        };
        (
            route.key(),
            Some(claims.sub),
            result.unwrap_or_else(|failure| *failure),
        )
    }

    async fn health(&self, path: &str) -> Response {
        match self.store.ping().await {
            Ok(()) => Response::json(200, &json!({"status": "ok", "database": "ok"})),
            Err(err) => Response::problem(&store_problem(&err, path)),
        }
    }

    async fn user_stats(&self, user: &str, path: &str) -> Result<Response, Failure> {
        let user = user_id(user, path)?;
        match self
            .store
            .user_stats(user.as_str())
            .await
            .map_err(|e| fail(store_problem(&e, path)))?
        {
            Some(stats) => Ok(Response::json(200, &stats)),
            None => Err(unknown_user(&user, path)),
        }
    }

    async fn user_history(
        &self,
        user: &str,
        query: &[(String, String)],
        path: &str,
    ) -> Result<Response, Failure> {
        let user = user_id(user, path)?;
        let limit = limit(query, path)?;
        let after = match param(query, "cursor") {
            Some(text) => {
                let (timestamp, execution_name) =
                    Cursor::history(text, user.as_str()).map_err(|_| bad_cursor(path))?;
                Some(AuditKey {
                    user_id: user.as_str().to_owned(),
                    timestamp,
                    execution_name,
                })
            }
            None => None,
        };
        let exists = self
            .store
            .user_exists(user.as_str())
            .await
            .map_err(|e| fail(store_problem(&e, path)))?;
        if !exists {
            return Err(unknown_user(&user, path));
        }
        let page = self
            .store
            .history(user.as_str(), limit, after)
            .await
            .map_err(|e| fail(store_problem(&e, path)))?;
        let next = page.next.map(|key| {
            Cursor::History {
                user_id: key.user_id,
                timestamp: key.timestamp,
                execution_name: key.execution_name,
            }
            .encode()
        });
        Ok(Response::json(
            200,
            &json!({"userId": user.as_str(), "items": page.items, "nextCursor": next}),
        ))
    }

    async fn imports(&self, query: &[(String, String)], path: &str) -> Result<Response, Failure> {
        let limit = limit(query, path)?;
        let before = match param(query, "cursor") {
            Some(text) => Some(Cursor::imports(text).map_err(|_| bad_cursor(path))?),
            None => None,
        };
        let page = self
            .store
            .imports(limit, before)
            .await
            .map_err(|e| fail(store_problem(&e, path)))?;
        let next = page
            .next
            .map(|before_import_id| Cursor::Imports { before_import_id }.encode());
        Ok(Response::json(
            200,
            &json!({"items": page.items, "nextCursor": next}),
        ))
    }

    async fn import(&self, name: &str, path: &str) -> Result<Response, Failure> {
        execution_name(name, path)?;
        match self
            .store
            .import(name)
            .await
            .map_err(|e| fail(store_problem(&e, path)))?
        {
            Some(detail) => Ok(Response::json(200, &detail)),
            None => Err(no_import(name, path)),
        }
    }

    async fn timeline(&self, name: &str, path: &str) -> Result<Response, Failure> {
        execution_name(name, path)?;
        match self.executions.timeline(name).await {
            Ok(Some(timeline)) => Ok(Response::json(200, &timeline)),
            Ok(None) => Err(no_import(name, path)),
            Err(err) => {
                tracing::error!(error = %userlog_lambda::error_chain(&err), "a read of Step Functions failed");
                Err(fail(Problem::new(
                    ApiCode::ExecutionHistoryError,
                    "the execution history did not answer; try again later",
                    path,
                )))
            }
        }
    }
}

fn execution_name(name: &str, path: &str) -> Result<(), Failure> {
    if is_execution_name(name) {
        return Ok(());
    }
    Err(fail(Problem::new(
        ApiCode::BadExecutionName,
        format!("an execution name is 1-{MAX_EXECUTION_NAME_CHARS} characters of [A-Za-z0-9_.-]"),
        path,
    )))
}

fn no_import(name: &str, path: &str) -> Failure {
    fail(Problem::new(
        ApiCode::ImportNotFound,
        format!("no import ran as execution `{name}`"),
        path,
    ))
}

fn fail(problem: Problem) -> Failure {
    Box::new(Response::problem(&problem))
}

/// The 401 of a failed authentication, with its `WWW-Authenticate` challenge (RFC 6750); a
/// JWKS that cannot be fetched is the server's failure, a 503.
fn unauthorized(err: &AuthError, path: &str) -> Response {
    if *err == AuthError::KeysUnavailable {
        return Response::problem(&Problem::new(
            ApiCode::JwksUnavailable,
            "the signing keys of the token issuer could not be fetched; try again later",
            path,
        ))
        .with_header("retry-after", "5".to_owned());
    }
    let challenge = match err.challenge_error() {
        None => format!("Bearer realm=\"{REALM}\""),
        Some(code) => {
            format!("Bearer realm=\"{REALM}\", error=\"{code}\", error_description=\"{err}\"")
        }
    };
    Response::problem(&Problem::new(ApiCode::Unauthorized, err.to_string(), path))
        .with_header("www-authenticate", challenge)
}

/// The problem of a failed read; the error is logged, not answered.
fn store_problem(err: &StoreError, path: &str) -> Problem {
    tracing::error!(error = %userlog_lambda::error_chain(err), "a read failed");
    match err {
        StoreError::Database(_) => Problem::new(
            ApiCode::DatabaseError,
            "the database did not answer; try again later",
            path,
        ),
        StoreError::Dynamo(_) => Problem::new(
            ApiCode::AuditLogError,
            "the audit trail did not answer; try again later",
            path,
        ),
    }
}

fn user_id(text: &str, path: &str) -> Result<UserId, Failure> {
    UserId::parse(text).map_err(|_| {
        fail(Problem::new(
            ApiCode::BadUserId,
            "a user id is 1-10 characters of [A-Za-z0-9_-]",
            path,
        ))
    })
}

fn unknown_user(user: &UserId, path: &str) -> Failure {
    fail(Problem::new(
        ApiCode::UserNotFound,
        format!("there is no user `{}`", user.as_str()),
        path,
    ))
}

fn bad_cursor(path: &str) -> Failure {
    fail(Problem::new(
        ApiCode::BadCursor,
        "the cursor is not one this list handed out; start again without it",
        path,
    ))
}

/// `limit`: a whole number from 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when not given.
fn limit(query: &[(String, String)], path: &str) -> Result<u32, Failure> {
    match param(query, "limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                fail(Problem::new(
                    ApiCode::BadLimit,
                    format!("limit is a whole number from 1 to {MAX_LIMIT}"),
                    path,
                ))
            }),
    }
}

/// The first value of a query parameter.
fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Whether a text can be an execution name of Step Functions as this pipeline names them.
pub fn is_execution_name(name: &str) -> bool {
    (1..=MAX_EXECUTION_NAME_CHARS).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The `name=value` pairs of a query string, percent-decoded (`+` is a space).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&name.replace('+', " ")),
                percent_decode(&value.replace('+', " ")),
            )
        })
        .collect()
}

/// Decodes `%XX` escapes; a malformed escape is kept as it is, and bytes that are not UTF-8
/// become U+FFFD (which no user id or execution name contains).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(Some(high)), Some(Some(low))) = (
                bytes.get(i + 1).map(|b| hex(*b)),
                bytes.get(i + 2).map(|b| hex(*b)),
            )
        {
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes_with_their_segments_decoded() {
        let check =
            |path: &str, expected: Option<Route>| assert_eq!(Route::of(path), expected, "{path}");
        check("/health", Some(Route::Health));
        check("/users/U001/stats", Some(Route::UserStats("U001".into())));
        check("/users/a%2Fb/stats", Some(Route::UserStats("a/b".into())));
        check(
            "/users/U001/history",
            Some(Route::UserHistory("U001".into())),
        );
        check("/imports", Some(Route::Imports));
        check("/imports/e-1", Some(Route::Import("e-1".into())));
        check("/imports/", Some(Route::Import(String::new())));
        check(
            "/imports/e-1/timeline",
            Some(Route::ImportTimeline("e-1".into())),
        );
        check("/imports/e-1/other", None);
        check("/users/U001", None);
        check("/health/", None);
        check("health", None);
        check("/", None);
    }

    #[test]
    fn queries_and_escapes_decode() {
        assert_eq!(
            parse_query("limit=5&cursor=a%3Db&&x"),
            vec![
                ("limit".into(), "5".into()),
                ("cursor".into(), "a=b".into()),
                ("x".into(), String::new())
            ]
        );
        assert_eq!(percent_decode("%E3%83%A6%zz%4"), "ユ%zz%4");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
    }

    #[test]
    fn limits_and_execution_names_are_checked() {
        let query = |text: &str| parse_query(text);
        assert_eq!(limit(&query(""), "/imports").ok(), Some(DEFAULT_LIMIT));
        assert_eq!(limit(&query("limit=100"), "/imports").ok(), Some(100));
        for bad in ["limit=0", "limit=101", "limit=-1", "limit=1.5", "limit="] {
            let failure = limit(&query(bad), "/imports").unwrap_err();
            assert_eq!(failure.status, 400, "{bad}");
            assert!(failure.body.contains("\"code\":\"BadLimit\""), "{bad}");
        }
        assert!(is_execution_name("0b9e1c1e-5d1c-4a1a-9b3e-1d2f3a4b5c6d"));
        assert!(!is_execution_name(""));
        assert!(!is_execution_name(&"a".repeat(81)));
        assert!(!is_execution_name("a b"));
        assert!(!is_execution_name("a/b"));
    }

    #[test]
    fn failed_authentication_challenges_for_a_bearer_token() {
        let missing = unauthorized(&AuthError::Missing, "/imports");
        assert_eq!(missing.status, 401);
        assert_eq!(
            missing.header("www-authenticate"),
            Some("Bearer realm=\"userlog-stats-api\"")
        );
        let expired = unauthorized(&AuthError::Expired, "/imports");
        assert_eq!(
            expired.header("www-authenticate"),
            Some(
                "Bearer realm=\"userlog-stats-api\", error=\"invalid_token\", error_description=\"the token has expired\""
            )
        );
        assert_eq!(expired.header("content-type"), Some(PROBLEM_JSON));
        assert_eq!(
            unauthorized(&AuthError::KeysUnavailable, "/imports").status,
            503
        );
    }
}
