//! A stand-in for Cloudflare's Pages API on 127.0.0.1, for the tests of the real client: an
//! HTTP/1.1 server on hyper that answers the routes of the direct upload as Cloudflare documents
//! them, in Cloudflare's envelope, and keeps what it was given.
//!
//! It requires the API token on the account routes and an upload token it issued on
//! `/pages/assets/*` (and refuses each on the other's routes), keeps uploaded assets by hash and
//! answers `check-missing` with the ones it lacks, parses the deployment's multipart body and
//! refuses a manifest that names a hash it was not sent, moves a branch's alias to its newest
//! deployment, refuses to delete an aliased deployment without `?force=true` and the project's
//! production deployment at all, and pages its listings. Faults can be injected per route.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The path the stand-in serves the API under, as Cloudflare does.
const ROOT: &str = "/client/v4";

/// An error code of the stand-in's own for requests that are malformed (Cloudflare's codes for
/// those are not documented); never one the client retries.
const CODE_BAD_REQUEST: u64 = 8_000_001;

/// What a deployment was made of.
#[derive(Debug, Clone)]
struct StoredDeployment {
    id: String,
    short_id: String,
    branch: String,
    environment: String,
    aliases: Vec<String>,
    manifest: BTreeMap<String, String>,
    headers: Option<Vec<u8>>,
    created_on: String,
}

#[derive(Debug, Clone)]
struct Project {
    subdomain: String,
    production_branch: String,
    /// Oldest first.
    deployments: Vec<StoredDeployment>,
    canonical: Option<String>,
    /// Deployments made so far, deleted ones included.
    made: u64,
}

/// An answer the stand-in gives instead of the real one, `remaining` more times.
#[derive(Debug, Clone)]
struct Fault {
    method: String,
    path_suffix: String,
    kind: FaultKind,
    remaining: usize,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answers this status (429 with `Retry-After: 0`, 5xx with a gateway's HTML page, others
    /// with a `success: false` envelope).
    Status(u16),
    /// Forgets every upload token issued so far, then answers as Cloudflare does to a stale one.
    ExpireUploadTokens,
}

#[derive(Debug, Default)]
struct State {
    account_id: String,
    api_token: String,
    projects: BTreeMap<String, Project>,
    /// Content and content type by hash.
    assets: BTreeMap<String, (Vec<u8>, String)>,
    upserted: BTreeSet<String>,
    upload_tokens: BTreeSet<String>,
    issued: u64,
    /// Hashes in the order their uploads came.
    uploaded: Vec<String>,
    page_size: usize,
    ignore_env_filter: bool,
    faults: Vec<Fault>,
    requests: Vec<String>,
}

/// The stand-in server; it stops when dropped.
#[derive(Debug)]
pub struct FakeCloudflare {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCloudflare {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeCloudflare {
    /// Starts a server on the current runtime for `account_id`, accepting `api_token`.
    pub async fn start(account_id: &str, api_token: &str) -> FakeCloudflare {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port on 127.0.0.1");
        let addr = listener.local_addr().expect("an address");
        let state = Arc::new(Mutex::new(State {
            account_id: account_id.to_owned(),
            api_token: api_token.to_owned(),
            page_size: 25,
            ..State::default()
        }));
        let task = tokio::spawn(accept(listener, state.clone()));
        FakeCloudflare { addr, state, task }
    }

    /// The API's root, for `CLOUDFLARE_API_BASE_URL`.
    pub fn url(&self) -> String {
        format!("http://{}{ROOT}", self.addr)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Adds a project served at `subdomain`, with `main` as its production branch.
    pub fn add_project(&self, name: &str, subdomain: &str) {
        self.state().projects.insert(
            name.to_owned(),
            Project {
                subdomain: subdomain.to_owned(),
                production_branch: "main".to_owned(),
                deployments: Vec::new(),
                canonical: None,
                made: 0,
            },
        );
    }

    /// Adds an empty deployment of `branch` in `environment` directly (as the dashboard or an
    /// old production branch would have left it); returns its id.
    pub fn add_deployment(&self, project: &str, branch: &str, environment: &str) -> String {
        let mut state = self.state();
        let project = state.projects.get_mut(project).expect("the project");
        let deployment = new_deployment(project, branch, environment, BTreeMap::new(), None);
        deployment.id
    }

    /// Lists `size` deployments per page from now on (Cloudflare's default is 25).
    pub fn set_page_size(&self, size: usize) {
        self.state().page_size = size.max(1);
    }

    /// Lists every environment whatever `env` asks, to show that the client does not rely on
    /// the filter.
    pub fn ignore_env_filter(&self) {
        self.state().ignore_env_filter = true;
    }

    /// Answers the next `times` requests of `method` to a path ending in `path_suffix` with
    /// `kind`.
    pub fn fault(&self, method: &str, path_suffix: &str, kind: FaultKind, times: usize) {
        self.state().faults.push(Fault {
            method: method.to_owned(),
            path_suffix: path_suffix.to_owned(),
            kind,
            remaining: times,
        });
    }

    /// Every request received (`POST /pages/assets/upload`, with the query when there is one).
    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }

    /// How many requests matched `method` and ended in `path_suffix` (query left out).
    pub fn count(&self, method: &str, path_suffix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| {
                let (m, rest) = r.split_once(' ').unwrap_or_default();
                let path = rest.split('?').next().unwrap_or_default();
                m == method && path.ends_with(path_suffix)
            })
            .count()
    }

    /// The hashes uploaded, in the order they came.
    pub fn uploaded(&self) -> Vec<String> {
        self.state().uploaded.clone()
    }

    /// A project's subdomain and production branch.
    pub fn project(&self, name: &str) -> Option<(String, String)> {
        self.state()
            .projects
            .get(name)
            .map(|p| (p.subdomain.clone(), p.production_branch.clone()))
    }

    /// A project's deployments, oldest first: id, branch, environment, aliases.
    pub fn deployments(&self, project: &str) -> Vec<(String, String, String, Vec<String>)> {
        self.state()
            .projects
            .get(project)
            .map(|p| {
                p.deployments
                    .iter()
                    .map(|d| {
                        (
                            d.id.clone(),
                            d.branch.clone(),
                            d.environment.clone(),
                            d.aliases.clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What a deployment serves at `path`: the content and its content type.
    pub fn served(&self, project: &str, id: &str, path: &str) -> Option<(Vec<u8>, String)> {
        let state = self.state();
        let deployment = state
            .projects
            .get(project)?
            .deployments
            .iter()
            .find(|d| d.id == id)?;
        let hash = deployment.manifest.get(path)?;
        state.assets.get(hash).cloned()
    }

    /// The paths a deployment's manifest names.
    pub fn manifest_paths(&self, project: &str, id: &str) -> Vec<String> {
        let state = self.state();
        state
            .projects
            .get(project)
            .and_then(|p| p.deployments.iter().find(|d| d.id == id))
            .map(|d| d.manifest.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The `_headers` file a deployment was given.
    pub fn headers_file(&self, project: &str, id: &str) -> Option<Vec<u8>> {
        let state = self.state();
        state
            .projects
            .get(project)?
            .deployments
            .iter()
            .find(|d| d.id == id)?
            .headers
            .clone()
    }

    /// Whether `hash` was recorded by `upsert-hashes`.
    pub fn upserted(&self, hash: &str) -> bool {
        self.state().upserted.contains(hash)
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn accept(listener: TcpListener, state: Arc<Mutex<State>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, request).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One request as the routes see it.
struct Request {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// An answer: status, extra headers, content type, body.
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    content_type: &'static str,
    body: Vec<u8>,
}

fn envelope(status: u16, result: Value) -> Answer {
    envelope_with(status, result, None)
}

fn envelope_with(status: u16, result: Value, result_info: Option<Value>) -> Answer {
    let mut body = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some(info) = result_info {
        body["result_info"] = info;
    }
    Answer {
        status,
        headers: Vec::new(),
        content_type: "application/json",
        body: body.to_string().into_bytes(),
    }
}

fn failure(status: u16, code: u64, message: &str) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        content_type: "application/json",
        body: json!({
            "success": false,
            "errors": [{"code": code, "message": message}],
            "messages": [],
            "result": null,
        })
        .to_string()
        .into_bytes(),
    }
}

fn bad_request(message: &str) -> Answer {
    failure(400, CODE_BAD_REQUEST, message)
}

async fn handle(
    state: &Mutex<State>,
    request: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header("authorization");
    let content_type = header("content-type");
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let raw_query = request.uri().query().unwrap_or_default().to_owned();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let query = raw_query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let answer = {
        let mut state = lock(state);
        let logged = if raw_query.is_empty() {
            format!("{method} {}", path.strip_prefix(ROOT).unwrap_or(&path))
        } else {
            format!(
                "{method} {}?{raw_query}",
                path.strip_prefix(ROOT).unwrap_or(&path)
            )
        };
        state.requests.push(logged);
        match path.strip_prefix(ROOT) {
            Some(rest) => {
                let request = Request {
                    method,
                    path: rest.to_owned(),
                    query,
                    authorization,
                    content_type,
                    body,
                };
                injected(&mut state, &request).unwrap_or_else(|| route(&mut state, &request))
            }
            None => failure(404, 7000, "No route for that URI"),
        }
    };
    let mut response = hyper::Response::builder()
        .status(answer.status)
        .header("content-type", answer.content_type);
    for (name, value) in answer.headers {
        response = response.header(name, value);
    }
    response
        .body(Full::new(Bytes::from(answer.body)))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}

/// The injected answer for this request, when a fault matches.
fn injected(state: &mut State, request: &Request) -> Option<Answer> {
    let fault = state.faults.iter_mut().find(|f| {
        f.remaining > 0 && f.method == request.method && request.path.ends_with(&f.path_suffix)
    })?;
    fault.remaining -= 1;
    Some(match fault.kind {
        FaultKind::Status(429) => {
            let mut answer = failure(
                429,
                971,
                "Please wait and consider throttling your request speed",
            );
            answer.headers.push(("retry-after", "0".to_owned()));
            answer
        }
        FaultKind::Status(status) if status >= 500 => Answer {
            status,
            headers: Vec::new(),
            content_type: "text/html",
            body: format!("<html><body><h1>{status} Bad Gateway</h1></body></html>").into_bytes(),
        },
        FaultKind::Status(status) => failure(status, CODE_BAD_REQUEST, "An injected failure"),
        FaultKind::ExpireUploadTokens => {
            state.upload_tokens.clear();
            failure(401, 8_000_013, "Authorization failed")
        }
    })
}

fn route(state: &mut State, request: &Request) -> Answer {
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["pages", "assets", action] => {
            let token = request
                .authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "));
            if !token.is_some_and(|t| state.upload_tokens.contains(t)) {
                return failure(401, 8_000_013, "Authorization failed");
            }
            assets(state, request, action)
        }
        ["accounts", account, "pages", "projects", rest @ ..] => {
            let authorized = request.authorization.as_deref()
                == Some(&format!("Bearer {}", state.api_token))
                && *account == state.account_id;
            if !authorized {
                return failure(403, 10_000, "Authentication error");
            }
            projects(state, request, rest)
        }
        _ => failure(404, 7000, "No route for that URI"),
    }
}

fn is_hash(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hashes_of(body: &[u8]) -> Option<Vec<String>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let hashes = value["hashes"].as_array()?;
    hashes
        .iter()
        .map(|h| h.as_str().filter(|h| is_hash(h)).map(str::to_owned))
        .collect()
}

fn assets(state: &mut State, request: &Request, action: &str) -> Answer {
    if request.method != "POST" || request.content_type.as_deref() != Some("application/json") {
        return bad_request("POST application/json expected");
    }
    match action {
        "check-missing" => {
            let Some(hashes) = hashes_of(&request.body) else {
                return bad_request("`hashes` must be a list of 32 hexadecimal digits each");
            };
            let missing: Vec<&String> = hashes
                .iter()
                .filter(|h| !state.assets.contains_key(*h))
                .collect();
            envelope(200, json!(missing))
        }
        "upload" => {
            let Ok(Value::Array(entries)) = serde_json::from_slice::<Value>(&request.body) else {
                return bad_request("a list of files expected");
            };
            let mut accepted = Vec::new();
            for entry in &entries {
                let (Some(key), Some(value), Some(content_type), Some(true)) = (
                    entry["key"].as_str(),
                    entry["value"].as_str(),
                    entry["metadata"]["contentType"].as_str(),
                    entry["base64"].as_bool(),
                ) else {
                    return bad_request("each file needs key, value, metadata.contentType, base64");
                };
                let Ok(content) = STANDARD.decode(value) else {
                    return bad_request("a value is not base64");
                };
                if !is_hash(key) {
                    return bad_request("a key is not a hash");
                }
                accepted.push((key.to_owned(), content, content_type.to_owned()));
            }
            for (key, content, content_type) in accepted {
                state.uploaded.push(key.clone());
                state.assets.insert(key, (content, content_type));
            }
            envelope(201, Value::Null)
        }
        "upsert-hashes" => {
            let Some(hashes) = hashes_of(&request.body) else {
                return bad_request("`hashes` must be a list of 32 hexadecimal digits each");
            };
            if let Some(unknown) = hashes.iter().find(|h| !state.assets.contains_key(*h)) {
                return bad_request(&format!("{unknown} was never uploaded"));
            }
            state.upserted.extend(hashes);
            envelope(200, Value::Null)
        }
        _ => failure(404, 7000, "No route for that URI"),
    }
}

fn project_json(name: &str, project: &Project) -> Value {
    json!({
        "id": format!("project-{name}"),
        "name": name,
        "subdomain": project.subdomain,
        "domains": [project.subdomain],
        "production_branch": project.production_branch,
        "created_on": "2026-11-30T00:00:00Z",
        "canonical_deployment": project.canonical.as_ref().map(|id| json!({"id": id})),
        "source": null,
        "build_config": {},
        "deployment_configs": {"preview": {}, "production": {}},
    })
}

fn not_found_project() -> Answer {
    failure(
        404,
        8_000_007,
        "Project not found. The specified project name does not match any of your existing projects.",
    )
}

fn projects(state: &mut State, request: &Request, rest: &[&str]) -> Answer {
    match (request.method.as_str(), rest) {
        ("POST", []) => {
            let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
                return bad_request("a JSON body expected");
            };
            let (Some(name), Some(production_branch)) =
                (body["name"].as_str(), body["production_branch"].as_str())
            else {
                return bad_request("name and production_branch are required");
            };
            if state.projects.contains_key(name) {
                return failure(409, 8_000_002, "A project with this name already exists.");
            }
            let project = Project {
                subdomain: format!("{name}.pages.dev"),
                production_branch: production_branch.to_owned(),
                deployments: Vec::new(),
                canonical: None,
                made: 0,
            };
            let answer = project_json(name, &project);
            state.projects.insert(name.to_owned(), project);
            envelope(200, answer)
        }
        ("GET", [name]) => match state.projects.get(*name) {
            Some(project) => envelope(200, project_json(name, project)),
            None => not_found_project(),
        },
        ("GET", [name, "upload-token"]) => {
            if !state.projects.contains_key(*name) {
                return not_found_project();
            }
            state.issued += 1;
            let jwt = format!("upload-token-{}", state.issued);
            state.upload_tokens.insert(jwt.clone());
            envelope(200, json!({ "jwt": jwt }))
        }
        ("POST", [name, "deployments"]) => {
            let boundary = request
                .content_type
                .as_deref()
                .and_then(|c| c.strip_prefix("multipart/form-data; boundary="))
                .map(str::to_owned);
            let Some(fields) = boundary.and_then(|b| parse_multipart(&request.body, &b)) else {
                return bad_request("a multipart/form-data body expected");
            };
            let Some(manifest) = fields
                .get("manifest")
                .and_then(|m| serde_json::from_slice::<BTreeMap<String, String>>(m).ok())
            else {
                return bad_request("`manifest` must map paths to hashes");
            };
            if let Some(path) = manifest.keys().find(|p| !p.starts_with('/')) {
                return bad_request(&format!("{path} does not start with /"));
            }
            if let Some((path, _)) = manifest
                .iter()
                .find(|(_, hash)| !state.assets.contains_key(*hash))
            {
                return bad_request(&format!("the file for {path} was never uploaded"));
            }
            let headers = fields.get("_headers").cloned();
            let Some(project) = state.projects.get_mut(*name) else {
                return not_found_project();
            };
            let branch = match fields.get("branch") {
                Some(branch) => String::from_utf8_lossy(branch).into_owned(),
                None => project.production_branch.clone(),
            };
            let environment = if branch == project.production_branch {
                "production"
            } else {
                "preview"
            };
            let deployment = new_deployment(project, &branch, environment, manifest, headers);
            envelope(200, deployment_json(name, &project.subdomain, &deployment))
        }
        ("GET", [name, "deployments"]) => {
            let Some(project) = state.projects.get(*name) else {
                return not_found_project();
            };
            let wanted = request.query.get("env");
            let mut listed: Vec<&StoredDeployment> = project
                .deployments
                .iter()
                .filter(|d| state.ignore_env_filter || wanted.is_none_or(|e| *e == d.environment))
                .collect();
            listed.reverse();
            let page: usize = request
                .query
                .get("page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1)
                .max(1);
            let per_page = state.page_size;
            let total = listed.len();
            let items: Vec<Value> = listed
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|d| deployment_json(name, &project.subdomain, d))
                .collect();
            let info = json!({
                "page": page,
                "per_page": per_page,
                "count": items.len(),
                "total_count": total,
                "total_pages": total.div_ceil(per_page),
            });
            envelope_with(200, json!(items), Some(info))
        }
        ("DELETE", [name, "deployments", id]) => {
            let Some(project) = state.projects.get_mut(*name) else {
                return not_found_project();
            };
            let Some(index) = project.deployments.iter().position(|d| d.id == *id) else {
                return failure(
                    404,
                    8_000_009,
                    "The deployment ID you have specified does not exist.",
                );
            };
            if project.canonical.as_deref() == Some(*id) {
                // The code is the stand-in's own; the message is what the dashboard says.
                return failure(
                    400,
                    8_000_034,
                    "Cannot delete this deployment because it is your current active production deployment.",
                );
            }
            let forced = request.query.get("force").is_some_and(|f| f == "true");
            if !project.deployments[index].aliases.is_empty() && !forced {
                return failure(
                    400,
                    8_000_035,
                    "You cannot delete an aliased deployment without a `?force=true` parameter in the API request URL.",
                );
            }
            project.deployments.remove(index);
            envelope(200, Value::Null)
        }
        _ => failure(404, 7000, "No route for that URI"),
    }
}

/// Records a new deployment of `branch`: its branch alias moves to it from the branch's older
/// ones, and a production deployment becomes the project's canonical one.
fn new_deployment(
    project: &mut Project,
    branch: &str,
    environment: &str,
    manifest: BTreeMap<String, String>,
    headers: Option<Vec<u8>>,
) -> StoredDeployment {
    project.made += 1;
    let number = project.made;
    let short_id = format!("{:08x}", 0x1a2b_0000 + number);
    let id = format!("{short_id}-5c4d-4e6f-8a7b-{number:012x}");
    let aliases = if environment == "production" {
        project.canonical = Some(id.clone());
        Vec::new()
    } else {
        let alias: String = branch
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let url = format!("https://{alias}.{}", project.subdomain);
        for older in project
            .deployments
            .iter_mut()
            .filter(|d| d.branch == branch)
        {
            older.aliases.retain(|a| *a != url);
        }
        vec![url]
    };
    let deployment = StoredDeployment {
        id,
        short_id,
        branch: branch.to_owned(),
        environment: environment.to_owned(),
        aliases,
        manifest,
        headers,
        created_on: format!("2026-12-01T00:00:{:02}Z", number % 60),
    };
    project.deployments.push(deployment.clone());
    deployment
}

fn deployment_json(name: &str, subdomain: &str, d: &StoredDeployment) -> Value {
    json!({
        "id": d.id,
        "short_id": d.short_id,
        "project_id": format!("project-{name}"),
        "project_name": name,
        "environment": d.environment,
        "url": format!("https://{}.{subdomain}", d.short_id),
        "created_on": d.created_on,
        "modified_on": d.created_on,
        "aliases": if d.aliases.is_empty() { Value::Null } else { json!(d.aliases) },
        "latest_stage": {"name": "deploy", "status": "success", "started_on": d.created_on, "ended_on": d.created_on},
        "deployment_trigger": {
            "type": "ad_hoc",
            "metadata": {"branch": d.branch, "commit_hash": "", "commit_message": "", "commit_dirty": false},
        },
        "stages": [],
        "build_config": {},
        "source": null,
        "env_vars": {},
        "is_skipped": false,
    })
}

/// The fields of a `multipart/form-data` body, strictly: every part opened by `--boundary` and a
/// line break, the last closed by `--boundary--`, each with a `Content-Disposition` naming it.
fn parse_multipart(body: &[u8], boundary: &str) -> Option<BTreeMap<String, Vec<u8>>> {
    let delimiter = format!("--{boundary}");
    let mut fields = BTreeMap::new();
    let mut rest = body.strip_prefix(delimiter.as_bytes())?;
    loop {
        if let Some(after) = rest.strip_prefix(b"--") {
            return (after.is_empty() || after == b"\r\n").then_some(fields);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let next = format!("\r\n{delimiter}");
        let end = find(rest, next.as_bytes())?;
        let part = &rest[..end];
        rest = &rest[end + next.len()..];
        let split = find(part, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&part[..split]).ok()?;
        let content = &part[split + 4..];
        let disposition = head.split("\r\n").find(|line| {
            line.to_ascii_lowercase()
                .starts_with("content-disposition: form-data;")
        })?;
        let name = disposition
            .split(';')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("name="))?
            .trim_matches('"')
            .to_owned();
        fields.insert(name, content.to_vec());
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
