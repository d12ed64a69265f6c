//! [`Pages`] over Cloudflare's API with `reqwest`: the direct upload as Cloudflare's own
//! uploader performs it, one documented route per step.
//!
//! 1. `GET /accounts/{account}/pages/projects/{project}`, and `POST /accounts/{account}/pages/projects`
//!    with `{"name", "production_branch": "main"}` when it answers "not found";
//! 2. `GET /accounts/{account}/pages/projects/{project}/upload-token`: a short-lived JWT for the
//!    asset routes, which take it instead of the API token;
//! 3. `POST /pages/assets/check-missing` with `{"hashes": [...]}`: the hashes Cloudflare lacks;
//! 4. `POST /pages/assets/upload` with `[{"key", "value", "metadata": {"contentType"}, "base64": true}]`,
//!    the missing files cut into requests by [`site::buckets`];
//! 5. `POST /pages/assets/upsert-hashes` with every hash, so that the next deploy skips them
//!    (a failure here only costs the next deploy time: it is a warning);
//! 6. `POST /accounts/{account}/pages/projects/{project}/deployments`, `multipart/form-data` with
//!    `manifest` (`{"/index.html": "<hash>", ...}`), `branch`, and `_headers`/`_redirects` files.
//!
//! Listing is `GET .../deployments?env=...&page=N` over every page `result_info` announces;
//! deleting is `DELETE .../deployments/{id}?force=true` (without `force` Cloudflare refuses a
//! deployment a branch alias points to). Throttling (429), server failures (5xx, Pages' "unknown
//! error") and lost connections are retried with [`Backoff`]; an upload token the asset routes
//! refuse is fetched anew once.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use userlog_domain::backoff::{Backoff, jitter};

use crate::api::{self, Answer, UploadEntry, UploadMetadata};
use crate::branches::{self, PRODUCTION_BRANCH};
use crate::multipart::{self, Part};
use crate::site::{self, Site, SiteFile};
use crate::{Deployed, Deployment, Environment, Pages, PagesError, PagesSettings};
use userlog_domain::errors::error_chain;

/// The longest a single request may take (an upload of up to 40 MiB included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The longest a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The most pages of a listing read before giving up (a listing that never ends is a bug).
const MAX_PAGES: u64 = 1_000;

/// The longest project name Pages takes.
const MAX_PROJECT_NAME: usize = 58;

/// A Pages project, as far as deploys need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Its name.
    pub name: String,
    /// Where it is served (`dashboard.pages.dev`; Cloudflare adds a suffix when the name is
    /// taken elsewhere, so this is not always the name).
    pub subdomain: String,
    /// Its production branch.
    pub production_branch: String,
    /// The deployment its production URL serves, when there is one.
    pub canonical_deployment: Option<String>,
}

#[derive(Deserialize)]
struct ProjectPayload {
    name: String,
    #[serde(default)]
    subdomain: Option<String>,
    #[serde(default)]
    production_branch: Option<String>,
    #[serde(default)]
    canonical_deployment: Option<IdPayload>,
}

#[derive(Deserialize)]
struct IdPayload {
    id: String,
}

impl From<ProjectPayload> for Project {
    fn from(payload: ProjectPayload) -> Self {
        Project {
            subdomain: payload
                .subdomain
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("{}.pages.dev", payload.name)),
            production_branch: payload
                .production_branch
                .unwrap_or_else(|| PRODUCTION_BRANCH.to_owned()),
            canonical_deployment: payload.canonical_deployment.map(|d| d.id),
            name: payload.name,
        }
    }
}

#[derive(Deserialize)]
struct DeploymentPayload {
    id: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    aliases: Option<Vec<String>>,
    #[serde(default)]
    created_on: Option<String>,
    #[serde(default)]
    deployment_trigger: Option<TriggerPayload>,
}

#[derive(Deserialize)]
struct TriggerPayload {
    #[serde(default)]
    metadata: Option<TriggerMetadata>,
}

#[derive(Deserialize)]
struct TriggerMetadata {
    #[serde(default)]
    branch: Option<String>,
}

impl DeploymentPayload {
    fn into_deployment(self) -> Deployment {
        Deployment {
            branch: self
                .deployment_trigger
                .and_then(|t| t.metadata)
                .and_then(|m| m.branch)
                .unwrap_or_default(),
            url: self.url.unwrap_or_default(),
            environment: Environment::from(self.environment.unwrap_or_default()),
            aliases: self.aliases.unwrap_or_default(),
            created_on: self.created_on,
            id: self.id,
        }
    }
}

#[derive(Deserialize)]
struct UploadToken {
    jwt: String,
}

/// How a request authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// The account's API token (account routes).
    ApiToken,
    /// The project's upload token (`/pages/assets/*`).
    Upload(&'a str),
}

/// One request, ready to be sent as many times as it takes.
struct Call<'a> {
    method: Method,
    url: String,
    operation: String,
    auth: Auth<'a>,
    body: Option<(String, Bytes)>,
}

/// The Cloudflare Pages API for one project of one account.
#[derive(Debug, Clone)]
pub struct CloudflarePages {
    client: reqwest::Client,
    base: String,
    account_id: String,
    token: SecretString,
    project: String,
    backoff: Backoff,
}

impl CloudflarePages {
    /// A client of `project` (lower-case letters, digits and `-`, up to 58) in the settings'
    /// account, retrying with [`Backoff::default`].
    pub fn new(settings: &PagesSettings, project: &str) -> Result<Self, PagesError> {
        check_project_name(project)?;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("userlog-pages/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PagesError::Unreachable {
                operation: "client set-up".to_owned(),
                detail: error_chain(&e),
            })?;
        Ok(CloudflarePages {
            client,
            base: settings.api_base_url.trim_end_matches('/').to_owned(),
            account_id: settings.account_id.clone(),
            token: settings.api_token.clone(),
            project: project.to_owned(),
            backoff: Backoff::default(),
        })
    }

    /// The same client, retrying with `backoff`.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The project's name.
    pub fn project_name(&self) -> &str {
        &self.project
    }

    fn project_path(&self) -> String {
        format!(
            "/accounts/{}/pages/projects/{}",
            self.account_id, self.project
        )
    }

    fn call<'a>(&self, method: Method, path: &str, query: &str, auth: Auth<'a>) -> Call<'a> {
        Call {
            operation: format!("{method} {path}"),
            url: format!("{}{path}{query}", self.base),
            method,
            auth,
            body: None,
        }
    }

    /// `GET /accounts/{account}/pages/projects/{project}`; `None` when it does not exist.
    pub async fn project(&self) -> Result<Option<Project>, PagesError> {
        let call = self.call(Method::GET, &self.project_path(), "", Auth::ApiToken);
        let (status, body) = self.send(&call).await?;
        if status == 404 || has_code(&body, api::CODE_PROJECT_NOT_FOUND) {
            return Ok(None);
        }
        let answer: Answer<ProjectPayload> = api::read_answer(&call.operation, status, &body)?;
        Ok(Some(answer.result.into()))
    }

    /// `POST /accounts/{account}/pages/projects`: the project, with `main` as its production
    /// branch.
    pub async fn create_project(&self) -> Result<Project, PagesError> {
        let path = format!("/accounts/{}/pages/projects", self.account_id);
        let mut call = self.call(Method::POST, &path, "", Auth::ApiToken);
        call.body = Some(json_body(&json!({
            "name": self.project,
            "production_branch": PRODUCTION_BRANCH,
        })));
        let payload: ProjectPayload = self.result(&call).await?;
        Ok(payload.into())
    }

    /// The project, created when it does not exist yet (and read again when another deploy
    /// created it meanwhile).
    pub async fn ensure_project(&self) -> Result<Project, PagesError> {
        if let Some(project) = self.project().await? {
            return Ok(project);
        }
        match self.create_project().await {
            Ok(project) => Ok(project),
            Err(error) => match self.project().await {
                Ok(Some(project)) => Ok(project),
                _ => Err(error),
            },
        }
    }

    /// `GET .../upload-token`: the JWT the asset routes take.
    async fn upload_token(&self) -> Result<String, PagesError> {
        let path = format!("{}/upload-token", self.project_path());
        let call = self.call(Method::GET, &path, "", Auth::ApiToken);
        let token: UploadToken = self.result(&call).await?;
        if token.jwt.is_empty() {
            return Err(PagesError::Unexpected {
                operation: call.operation,
                detail: "an empty upload token".to_owned(),
            });
        }
        Ok(token.jwt)
    }

    /// A POST to an asset route with the upload token, fetching a new token once when the route
    /// refuses it. `Ok(body)` when Cloudflare says `success: true`.
    async fn assets(
        &self,
        jwt: &mut String,
        path: &str,
        body: (String, Bytes),
    ) -> Result<Vec<u8>, PagesError> {
        let mut refreshed = false;
        loop {
            let mut call = self.call(Method::POST, path, "", Auth::Upload(jwt.as_str()));
            call.body = Some(body.clone());
            let (status, answer) = self.send(&call).await?;
            if !refreshed && api::is_expired_upload_token(status, &answer) {
                *jwt = self.upload_token().await?;
                refreshed = true;
                continue;
            }
            api::read_success(&call.operation, status, &answer)?;
            return Ok(answer);
        }
    }

    /// Reads `site`'s missing files from disk and uploads them, bucket by bucket. Returns how
    /// many distinct contents were sent.
    async fn upload_missing(
        &self,
        jwt: &mut String,
        site: &Site,
        missing: &BTreeSet<String>,
    ) -> Result<usize, PagesError> {
        let files = site.files_with(missing);
        let sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
        for bucket in site::buckets(&sizes, site::MAX_BUCKET_BYTES, site::MAX_BUCKET_FILES) {
            let mut entries = Vec::with_capacity(bucket.len());
            for index in bucket {
                entries.push(upload_entry(files[index]).await?);
            }
            let body = serde_json::to_vec(&entries).map_err(|e| PagesError::Unexpected {
                operation: "POST /pages/assets/upload".to_owned(),
                detail: format!("the upload could not be encoded: {e}"),
            })?;
            self.assets(
                jwt,
                "/pages/assets/upload",
                ("application/json".to_owned(), body.into()),
            )
            .await?;
        }
        Ok(files.len())
    }

    /// Sends `call` until it gets an answer that is not transient, or the attempts run out.
    /// Returns the last answer's status and body.
    async fn send(&self, call: &Call<'_>) -> Result<(u16, Vec<u8>), PagesError> {
        let attempts = self.backoff.max_attempts.max(1);
        let mut retry = 0;
        loop {
            let last = retry + 1 >= attempts;
            let outcome = match self.request(call)?.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let wait = api::retry_after(
                        response
                            .headers()
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok()),
                    );
                    match response.bytes().await {
                        Ok(body) => Ok((status, body.to_vec(), wait)),
                        Err(error) => Err(error),
                    }
                }
                Err(error) => Err(error),
            };
            match outcome {
                Ok((status, body, wait)) if !last && api::is_transient(status, &body) => {
                    tokio::time::sleep(self.delay(retry, wait)).await;
                }
                Ok((status, body, _)) => return Ok((status, body)),
                Err(_) if !last => tokio::time::sleep(self.delay(retry, None)).await,
                Err(error) => {
                    return Err(PagesError::Unreachable {
                        operation: call.operation.clone(),
                        detail: format!("{} (after {attempts} attempts)", error_chain(&error)),
                    });
                }
            }
            retry += 1;
        }
    }

    /// The wait before retry `retry`: the backoff's draw, or what `Retry-After` asked when that is
    /// longer (up to the backoff's ceiling).
    fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let drawn = self.backoff.delay(retry, jitter());
        match retry_after {
            Some(asked) => asked.min(self.backoff.max_delay).max(drawn),
            None => drawn,
        }
    }

    fn request(&self, call: &Call<'_>) -> Result<reqwest::RequestBuilder, PagesError> {
        let secret = match call.auth {
            Auth::ApiToken => self.token.expose_secret(),
            Auth::Upload(jwt) => jwt,
        };
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {secret}")).map_err(|_| {
                PagesError::Refused(
                    "the token holds characters an HTTP header cannot carry".to_owned(),
                )
            })?;
        authorization.set_sensitive(true);
        let mut request = self
            .client
            .request(call.method.clone(), &call.url)
            .header(AUTHORIZATION, authorization);
        if let Some((content_type, body)) = &call.body {
            request = request
                .header(CONTENT_TYPE, content_type.as_str())
                .body(body.clone());
        }
        Ok(request)
    }

    /// Sends `call` and reads its `result`.
    async fn result<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<T, PagesError> {
        Ok(self.answer(call).await?.result)
    }

    async fn answer<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<Answer<T>, PagesError> {
        let (status, body) = self.send(call).await?;
        api::read_answer(&call.operation, status, &body)
    }
}

impl Pages for CloudflarePages {
    async fn deploy(&self, dir: &Path, branch: &str) -> Result<Deployed, PagesError> {
        branches::check_branch(branch)?;
        let owned = dir.to_owned();
        let site = tokio::task::spawn_blocking(move || Site::read(&owned))
            .await
            .map_err(|e| PagesError::Site {
                path: dir.to_owned(),
                detail: format!("reading the directory did not finish: {e}"),
            })??;
        let project = self.ensure_project().await?;
        let mut jwt = self.upload_token().await?;
        let hashes = site.hashes();
        let hashes_body = json_body(&json!({ "hashes": hashes }));

        let answer = self
            .assets(&mut jwt, "/pages/assets/check-missing", hashes_body.clone())
            .await?;
        let missing: Answer<Vec<String>> =
            api::read_answer("POST /pages/assets/check-missing", 200, &answer)?;
        let known: BTreeSet<&String> = hashes.iter().collect();
        let missing: BTreeSet<String> = missing
            .result
            .into_iter()
            .filter(|hash| known.contains(hash))
            .collect();
        let uploaded = self.upload_missing(&mut jwt, &site, &missing).await?;

        let mut warnings = Vec::new();
        if let Err(error) = self
            .assets(&mut jwt, "/pages/assets/upsert-hashes", hashes_body)
            .await
        {
            warnings.push(format!(
                "the uploaded files were not recorded for the next deploy, which will upload them again: {error}"
            ));
        }

        let manifest =
            serde_json::to_string(&site.manifest()).map_err(|e| PagesError::Unexpected {
                operation: "the manifest".to_owned(),
                detail: e.to_string(),
            })?;
        let mut parts = vec![
            Part::text("manifest", &manifest),
            Part::text("branch", branch),
        ];
        if let Some(headers) = &site.headers {
            parts.push(Part::file(site::HEADERS_FILE, headers));
        }
        if let Some(redirects) = &site.redirects {
            parts.push(Part::file(site::REDIRECTS_FILE, redirects));
        }
        let form = multipart::encode(&parts);
        let path = format!("{}/deployments", self.project_path());
        let mut call = self.call(Method::POST, &path, "", Auth::ApiToken);
        call.body = Some((form.content_type, form.body.into()));
        let payload: DeploymentPayload = self.result(&call).await?;
        let mut deployment = payload.into_deployment();
        if deployment.branch.is_empty() {
            deployment.branch = branch.to_owned();
        }
        let branch_url = branches::branch_url(
            &project.subdomain,
            &deployment.environment,
            &deployment.branch,
        )
        .unwrap_or_else(|| deployment.url.clone());
        Ok(Deployed {
            deployment,
            branch_url,
            files: site.files.len(),
            uploaded,
            warnings,
        })
    }

    async fn list_deployments(
        &self,
        environment: Environment,
    ) -> Result<Vec<Deployment>, PagesError> {
        let path = format!("{}/deployments", self.project_path());
        let mut seen = BTreeSet::new();
        let mut deployments = Vec::new();
        for page in 1..=MAX_PAGES {
            let query = format!("?env={}&page={page}", environment.as_str());
            let call = self.call(Method::GET, &path, &query, Auth::ApiToken);
            let answer: Answer<Vec<DeploymentPayload>> = self.answer(&call).await?;
            let count = answer.result.len();
            for payload in answer.result {
                // A deployment made while the listing is read shifts the pages by one.
                if seen.insert(payload.id.clone()) {
                    deployments.push(payload.into_deployment());
                }
            }
            if !answer.result_info.is_some_and(|info| info.has_next(count)) {
                return Ok(deployments);
            }
        }
        Err(PagesError::Unexpected {
            operation: format!("GET {path}"),
            detail: format!("the listing did not end after {MAX_PAGES} pages"),
        })
    }

    async fn delete_deployment(&self, id: &str) -> Result<(), PagesError> {
        let plain = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !plain {
            return Err(PagesError::Refused(format!(
                "`{}` is not a deployment id",
                id.escape_debug()
            )));
        }
        let path = format!("{}/deployments/{id}", self.project_path());
        let call = self.call(Method::DELETE, &path, "?force=true", Auth::ApiToken);
        let (status, body) = self.send(&call).await?;
        api::read_success(&call.operation, status, &body)
    }
}

/// Whether `name` is a name Pages takes for a project.
fn check_project_name(name: &str) -> Result<(), PagesError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_PROJECT_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(PagesError::Refused(format!(
            "`{}` is not a Pages project name (1 to {MAX_PROJECT_NAME} lower-case letters, digits and `-`, not at either end)",
            name.escape_debug()
        )))
    }
}

/// One file of an upload, read now and checked against the hash it was listed under.
async fn upload_entry(file: &SiteFile) -> Result<UploadEntry, PagesError> {
    use base64::Engine as _;
    let content = tokio::fs::read(&file.path)
        .await
        .map_err(|e| PagesError::Site {
            path: file.path.clone(),
            detail: format!("cannot read: {e}"),
        })?;
    if site::hash_content(&content, site::extension(&file.name)) != file.hash {
        return Err(PagesError::Site {
            path: file.path.clone(),
            detail: "changed while it was being deployed: build first, then deploy".to_owned(),
        });
    }
    Ok(UploadEntry {
        key: file.hash.clone(),
        value: base64::engine::general_purpose::STANDARD.encode(&content),
        metadata: UploadMetadata {
            content_type: file.content_type.to_owned(),
        },
        base64: true,
    })
}

fn json_body(value: &serde_json::Value) -> (String, Bytes) {
    (
        "application/json".to_owned(),
        Bytes::from(value.to_string()),
    )
}

fn has_code(body: &[u8], code: u64) -> bool {
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<api::ApiMessage>,
    }
    serde_json::from_slice::<Errors>(body)
        .map(|parsed| parsed.errors.iter().any(|e| e.code == code))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn project_names_are_checked_before_any_call() {
        let names = [
            "dashboard",
            "userlog-dashboard-2",
            "",
            "Dashboard",
            "-x",
            "x-",
            "a/b",
            &"x".repeat(59),
        ];
        let results: Vec<String> = names
            .iter()
            .map(|n| match check_project_name(n) {
                Ok(()) => format!("{n}: ok"),
                Err(_) => format!("{n}: refused"),
            })
            .collect();
        expect![[r#"
            dashboard: ok
            userlog-dashboard-2: ok
            : refused
            Dashboard: refused
            -x: refused
            x-: refused
            a/b: refused
            xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx: refused"#]]
        .assert_eq(&results.join("\n"));
    }

    #[test]
    fn payloads_read_with_what_cloudflare_may_leave_out() {
        let listed: DeploymentPayload = serde_json::from_value(json!({
            "id": "4b9a3c3e-1f2d-4e5f-8a9b-0c1d2e3f4a5b",
            "short_id": "4b9a3c3e",
            "url": "https://4b9a3c3e.dashboard.pages.dev",
            "environment": "preview",
            "aliases": ["https://pr-7.dashboard.pages.dev"],
            "created_on": "2026-11-30T00:00:00Z",
            "deployment_trigger": {"type": "ad_hoc", "metadata": {"branch": "pr-7", "commit_hash": "", "commit_message": ""}},
            "latest_stage": {"name": "deploy", "status": "success"},
        }))
        .expect("a deployment");
        expect![[r#"Deployment { id: "4b9a3c3e-1f2d-4e5f-8a9b-0c1d2e3f4a5b", url: "https://4b9a3c3e.dashboard.pages.dev", branch: "pr-7", environment: Preview, aliases: ["https://pr-7.dashboard.pages.dev"], created_on: Some("2026-11-30T00:00:00Z") }"#]]
        .assert_eq(&format!("{:?}", listed.into_deployment()));
        let bare: DeploymentPayload =
            serde_json::from_value(json!({"id": "x", "aliases": null})).expect("a bare one");
        expect![[r#"Deployment { id: "x", url: "", branch: "", environment: Other(""), aliases: [], created_on: None }"#]]
        .assert_eq(&format!("{:?}", bare.into_deployment()));
        let project: ProjectPayload = serde_json::from_value(json!({
            "name": "dashboard", "subdomain": "dashboard-3kx.pages.dev", "production_branch": "main",
            "canonical_deployment": {"id": "p1"},
        }))
        .expect("a project");
        expect![[r#"Project { name: "dashboard", subdomain: "dashboard-3kx.pages.dev", production_branch: "main", canonical_deployment: Some("p1") }"#]]
        .assert_eq(&format!("{:?}", Project::from(project)));
    }
}
