//! A stand-in for the GitHub REST API on 127.0.0.1, for the tests of the real GitHub client: a
//! small HTTP/1.1 server that answers the endpoints the previews call with the payloads GitHub
//! documents (pull requests, issue comments, deployments and deployment statuses), keeps what was
//! posted, and requires the token it was started with.
//!
//! ```no_run
//! let github = userlog_testkit::github::FakeGitHub::start("owner/repo", "token");
//! github.add_pull(7, "open", "headsha", "basesha");
//! // Point a client at github.url() with GITHUB_TOKEN=token, GITHUB_REPOSITORY=owner/repo.
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};

/// A deployment status as posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedStatus {
    /// `in_progress`, `success`, `failure`, `inactive`, ...
    pub state: String,
    /// The `environment_url` posted with it.
    pub environment_url: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    pulls: BTreeMap<u64, Value>,
    comments: Vec<Value>,
    deployments: Vec<Value>,
    statuses: BTreeMap<u64, Vec<Value>>,
    next_id: u64,
    requests: Vec<String>,
    failing: bool,
}

/// The stand-in server; it stops when dropped.
#[derive(Debug)]
pub struct FakeGitHub {
    url: String,
    repository: String,
    state: Arc<Mutex<State>>,
    listener_addr: std::net::SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeGitHub {
    /// Starts a server for `repository` (`owner/name`) that accepts `token`.
    pub fn start(repository: &str, token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
        let listener_addr = listener.local_addr().expect("an address");
        let state = Arc::new(Mutex::new(State {
            next_id: 1000,
            ..State::default()
        }));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let url = format!("http://{listener_addr}");
        {
            let state = state.clone();
            let stop = stop.clone();
            let repository = repository.to_owned();
            let token = token.to_owned();
            let url = url.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = state.clone();
                    let repository = repository.clone();
                    let token = token.clone();
                    let url = url.clone();
                    std::thread::spawn(move || {
                        let _ = serve(stream, &state, &repository, &token, &url);
                    });
                }
            });
        }
        FakeGitHub {
            url,
            repository: repository.to_owned(),
            state,
            listener_addr,
            stop,
        }
    }

    /// The API's root, for `GITHUB_API_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds (or replaces) pull request `number` in `state` (`open` or `closed`).
    pub fn add_pull(&self, number: u64, state: &str, head_sha: &str, base_sha: &str) {
        let pull = pull_payload(
            &self.url,
            &self.repository,
            number,
            state,
            head_sha,
            base_sha,
        );
        self.state().pulls.insert(number, pull);
    }

    /// Closes pull request `number`.
    pub fn close_pull(&self, number: u64) {
        if let Some(pull) = self.state().pulls.get_mut(&number) {
            pull["state"] = json!("closed");
            pull["closed_at"] = json!("2026-12-01T00:00:00Z");
        }
    }

    /// The bodies of the comments on issue `number`, oldest first.
    pub fn comments(&self, number: u64) -> Vec<String> {
        let issue_url = format!("{}/repos/{}/issues/{number}", self.url, self.repository);
        self.state()
            .comments
            .iter()
            .filter(|c| c["issue_url"] == json!(issue_url))
            .map(|c| c["body"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The ids and commits of the deployments of `environment`, oldest first.
    pub fn deployments(&self, environment: &str) -> Vec<(u64, String)> {
        self.state()
            .deployments
            .iter()
            .filter(|d| d["environment"] == json!(environment))
            .map(|d| {
                (
                    d["id"].as_u64().unwrap_or_default(),
                    d["sha"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The statuses of deployment `id`, oldest first.
    pub fn statuses(&self, id: u64) -> Vec<PostedStatus> {
        self.state()
            .statuses
            .get(&id)
            .into_iter()
            .flatten()
            .map(|s| PostedStatus {
                state: s["state"].as_str().unwrap_or_default().to_owned(),
                environment_url: s["environment_url"]
                    .as_str()
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned),
            })
            .collect()
    }

    /// Every request line received (`GET /repos/o/r/pulls/7`), in order.
    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }

    /// From now on, answer every request with a 502 (or stop doing so).
    pub fn set_failing(&self, failing: bool) {
        self.state().failing = failing;
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept loop so that it sees the stop.
        let _ = TcpStream::connect(self.listener_addr);
    }
}

fn user() -> Value {
    json!({"login": "github-actions[bot]", "id": 41898282, "type": "Bot", "site_admin": false})
}

fn pull_payload(
    url: &str,
    repository: &str,
    number: u64,
    state: &str,
    head_sha: &str,
    base_sha: &str,
) -> Value {
    json!({
        "url": format!("{url}/repos/{repository}/pulls/{number}"),
        "id": 100_000 + number,
        "node_id": format!("PR_{number}"),
        "html_url": format!("{url}/{repository}/pull/{number}"),
        "number": number,
        "state": state,
        "locked": false,
        "title": format!("Pull request {number}"),
        "user": user(),
        "body": null,
        "created_at": "2026-11-30T00:00:00Z",
        "updated_at": "2026-11-30T00:00:00Z",
        "closed_at": if state == "closed" { json!("2026-12-01T00:00:00Z") } else { Value::Null },
        "merged_at": null,
        "draft": false,
        "head": {"label": format!("owner:pr-{number}"), "ref": format!("pr-{number}"), "sha": head_sha, "user": user()},
        "base": {"label": "owner:main", "ref": "main", "sha": base_sha, "user": user()},
        "merged": false,
    })
}

/// One parsed request.
struct Request {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    authorization: Option<String>,
    body: Value,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Option<Request>> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut length = 0usize;
    let mut authorization = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "authorization" => authorization = Some(value.to_owned()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (target.clone(), String::new()),
    };
    let query = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%2F", "/").replace("%2f", "/")))
        .collect();
    Ok(Some(Request {
        method,
        path,
        query,
        authorization,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    }))
}

fn serve(
    mut stream: TcpStream,
    state: &Mutex<State>,
    repository: &str,
    token: &str,
    url: &str,
) -> std::io::Result<()> {
    let Some(request) = read_request(&stream)? else {
        return Ok(());
    };
    let (status, body) = {
        let mut state = state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state
            .requests
            .push(format!("{} {}", request.method, request.path));
        if state.failing {
            (502, json!({"message": "Server Error"}))
        } else if request.authorization.as_deref() != Some(&format!("Bearer {token}")) {
            (
                401,
                json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
            )
        } else {
            answer(&mut state, &request, repository, url)
        }
    };
    let text = body.to_string();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        401 => "Unauthorized",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        _ => "Bad Gateway",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    )?;
    stream.flush()
}

fn not_found() -> (u16, Value) {
    (
        404,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
    )
}

/// The page of `items` that `per_page` and `page` ask for.
fn page(items: Vec<Value>, query: &BTreeMap<String, String>) -> Value {
    let per_page: usize = query
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let page: usize = query
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    Value::Array(
        items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect(),
    )
}

fn answer(state: &mut State, request: &Request, repository: &str, url: &str) -> (u16, Value) {
    let prefix = format!("/repos/{repository}/");
    let Some(rest) = request.path.strip_prefix(&prefix) else {
        return not_found();
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let now = "2026-12-01T00:00:00Z";
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["pulls", number]) => {
            match number.parse().ok().and_then(|n: u64| state.pulls.get(&n)) {
                Some(pull) => (200, pull.clone()),
                None => not_found(),
            }
        }
        ("GET", ["issues", number, "comments"]) => {
            let issue_url = format!("{url}/repos/{repository}/issues/{number}");
            let items = state
                .comments
                .iter()
                .filter(|c| c["issue_url"] == json!(issue_url))
                .cloned()
                .collect();
            (200, page(items, &request.query))
        }
        ("POST", ["issues", number, "comments"]) => {
            let Some(body) = request.body["body"].as_str() else {
                return (422, json!({"message": "Validation Failed"}));
            };
            state.next_id += 1;
            let id = state.next_id;
            let comment = json!({
                "id": id,
                "node_id": format!("IC_{id}"),
                "url": format!("{url}/repos/{repository}/issues/comments/{id}"),
                "html_url": format!("{url}/{repository}/pull/{number}#issuecomment-{id}"),
                "body": body,
                "user": user(),
                "created_at": now,
                "updated_at": now,
                "issue_url": format!("{url}/repos/{repository}/issues/{number}"),
                "author_association": "NONE",
            });
            state.comments.push(comment.clone());
            (201, comment)
        }
        ("PATCH", ["issues", "comments", id]) => {
            let Some(body) = request.body["body"].as_str() else {
                return (422, json!({"message": "Validation Failed"}));
            };
            let id: u64 = id.parse().unwrap_or_default();
            match state.comments.iter_mut().find(|c| c["id"] == json!(id)) {
                Some(comment) => {
                    comment["body"] = json!(body);
                    (200, comment.clone())
                }
                None => not_found(),
            }
        }
        ("POST", ["deployments"]) => {
            let (Some(reference), Some(environment)) = (
                request.body["ref"].as_str(),
                request.body["environment"].as_str(),
            ) else {
                return (422, json!({"message": "Validation Failed"}));
            };
            state.next_id += 1;
            let id = state.next_id;
            let deployment = json!({
                "url": format!("{url}/repos/{repository}/deployments/{id}"),
                "id": id,
                "node_id": format!("DE_{id}"),
                "sha": reference,
                "ref": reference,
                "task": "deploy",
                "payload": {},
                "original_environment": environment,
                "environment": environment,
                "description": request.body["description"],
                "creator": user(),
                "created_at": now,
                "updated_at": now,
                "statuses_url": format!("{url}/repos/{repository}/deployments/{id}/statuses"),
                "repository_url": format!("{url}/repos/{repository}"),
                "transient_environment": request.body["transient_environment"].as_bool().unwrap_or(false),
                "production_environment": request.body["production_environment"].as_bool().unwrap_or(false),
            });
            state.deployments.push(deployment.clone());
            (201, deployment)
        }
        ("GET", ["deployments"]) => {
            let mut items: Vec<Value> = state
                .deployments
                .iter()
                .filter(|d| {
                    request
                        .query
                        .get("environment")
                        .is_none_or(|e| d["environment"] == json!(e))
                })
                .cloned()
                .collect();
            items.reverse();
            (200, page(items, &request.query))
        }
        ("POST", ["deployments", id, "statuses"]) => {
            let id: u64 = id.parse().unwrap_or_default();
            let Some(deployment) = state
                .deployments
                .iter()
                .find(|d| d["id"] == json!(id))
                .cloned()
            else {
                return not_found();
            };
            let Some(status_state) = request.body["state"].as_str() else {
                return (422, json!({"message": "Validation Failed"}));
            };
            state.next_id += 1;
            let status_id = state.next_id;
            let status = json!({
                "url": format!("{url}/repos/{repository}/deployments/{id}/statuses/{status_id}"),
                "id": status_id,
                "node_id": format!("DES_{status_id}"),
                "state": status_state,
                "creator": user(),
                "description": request.body["description"].as_str().unwrap_or_default(),
                "environment": deployment["environment"],
                "target_url": "",
                "log_url": request.body["log_url"].as_str().unwrap_or_default(),
                "environment_url": request.body["environment_url"].as_str().unwrap_or_default(),
                "created_at": now,
                "updated_at": now,
                "deployment_url": deployment["url"],
                "repository_url": format!("{url}/repos/{repository}"),
            });
            state.statuses.entry(id).or_default().push(status.clone());
            (201, status)
        }
        _ => not_found(),
    }
}
