//! The reqwest client over real HTTP against a stand-in Cloudflare Pages API on 127.0.0.1
//! (`userlog_testkit::cloudflare`): a first deploy, a second one that uploads nothing, previews
//! and their URLs, listings across pages, the removal of a branch's previews, and failures: a
//! refused token, a throttled or failing Cloudflare, an expired upload token, a directory Pages
//! cannot take.

use std::path::{Path, PathBuf};
use std::time::Duration;

use expect_test::expect;
use userlog_domain::backoff::Backoff;
use userlog_pages::{
    CloudflarePages, Environment, Pages, PagesError, PagesSettings, delete_branch,
};
use userlog_testkit::cloudflare::{FakeCloudflare, FaultKind};

const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const TOKEN: &str = "cf-test-token-Pages-Edit";
const PROJECT: &str = "dashboard";

/// Retries quickly, four attempts in all.
const FAST: Backoff = Backoff {
    base: Duration::from_millis(1),
    max_delay: Duration::from_millis(10),
    max_attempts: 4,
};

/// A client of the stand-in, authenticating with `token`.
fn client(cloudflare: &FakeCloudflare, token: &str) -> CloudflarePages {
    let url = cloudflare.url();
    let settings = PagesSettings::from_lookup(|name| match name {
        "CLOUDFLARE_ACCOUNT_ID" => Some(ACCOUNT.to_owned()),
        "CLOUDFLARE_API_TOKEN" => Some(token.to_owned()),
        "CLOUDFLARE_API_BASE_URL" => Some(url.clone()),
        _ => None,
    })
    .expect("the settings read")
    .expect("account and token are set");
    CloudflarePages::new(&settings, PROJECT)
        .expect("a client")
        .with_backoff(FAST)
}

/// A built dashboard in a temporary directory, removed when dropped.
struct Dashboard(PathBuf);

impl Dashboard {
    fn new(label: &str) -> Dashboard {
        let dir =
            std::env::temp_dir().join(format!("userlog-pages-test-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let dashboard = Dashboard(dir);
        dashboard.write(
            "index.html",
            "<!doctype html><script type=module src=/assets/index-4f1c.js></script>",
        );
        dashboard.write("assets/index-4f1c.js", "import './index-4f1c.css';\n");
        dashboard.write("assets/index-4f1c.css", "body { margin: 0 }\n");
        dashboard.write("config.json", r#"{"apiUrl":"https://api.example.com"}"#);
        dashboard
    }

    fn write(&self, name: &str, content: &str) {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("a folder");
        std::fs::write(path, content).expect("a file");
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.join(name)).expect("a file")
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_first_deploy_creates_the_project_and_uploads_every_file() {
    let cloudflare = FakeCloudflare::start(ACCOUNT, TOKEN).await;
    let pages = client(&cloudflare, TOKEN);
    let dashboard = Dashboard::new("first");

    let deployed = pages
        .deploy(dashboard.path(), "main")
        .await
        .expect("deployed");

    assert_eq!(deployed.deployment.environment, Environment::Production);
    assert_eq!(deployed.deployment.branch, "main");
    assert_eq!(deployed.branch_url, "https://dashboard.pages.dev");
    assert_eq!(
        deployed.deployment.url,
        format!(
            "https://{}.dashboard.pages.dev",
            &deployed.deployment.id[..8]
        )
    );
    assert_eq!((deployed.files, deployed.uploaded), (4, 4));
    assert_eq!(deployed.warnings, Vec::<String>::new());
    assert_eq!(
        cloudflare.project(PROJECT),
        Some(("dashboard.pages.dev".to_owned(), "main".to_owned()))
    );
    for (path, file, content_type) in [
        ("/index.html", "index.html", "text/html"),
        (
            "/assets/index-4f1c.js",
            "assets/index-4f1c.js",
            "text/javascript",
        ),
        (
            "/assets/index-4f1c.css",
            "assets/index-4f1c.css",
            "text/css",
        ),
        ("/config.json", "config.json", "application/json"),
    ] {
        assert_eq!(
            cloudflare.served(PROJECT, &deployed.deployment.id, path),
            Some((dashboard.read(file), content_type.to_owned())),
            "{path}"
        );
    }
    assert!(
        cloudflare
            .uploaded()
            .iter()
            .all(|hash| cloudflare.upserted(hash))
    );
    expect![[r#"
        GET /accounts/0123456789abcdef0123456789abcdef/pages/projects/dashboard
        POST /accounts/0123456789abcdef0123456789abcdef/pages/projects
        GET /accounts/0123456789abcdef0123456789abcdef/pages/projects/dashboard/upload-token
        POST /pages/assets/check-missing
        POST /pages/assets/upload
        POST /pages/assets/upsert-hashes
        POST /accounts/0123456789abcdef0123456789abcdef/pages/projects/dashboard/deployments"#]]
    .assert_eq(&cloudflare.requests().join("\n"));
}

#[tokio::test]
async fn a_second_deploy_of_the_same_files_uploads_nothing() {
    let cloudflare = FakeCloudflare::start(ACCOUNT, TOKEN).await;
    let pages = client(&cloudflare, TOKEN);
    let dashboard = Dashboard::new("second");

    let first = pages.deploy(dashboard.path(), "main").await.expect("first");
    let second = pages
        .deploy(dashboard.path(), "main")
        .await
        .expect("second");

    assert_eq!((first.uploaded, second.uploaded), (4, 0));
    assert_eq!(second.files, 4);
    assert_eq!(cloudflare.count("POST", "/pages/assets/upload"), 1);
    assert_ne!(first.deployment.id, second.deployment.id);
    assert_eq!(
        cloudflare.served(PROJECT, &second.deployment.id, "/index.html"),
        Some((dashboard.read("index.html"), "text/html".to_owned()))
    );

    dashboard.write(
        "config.json",
        r#"{"apiUrl":"https://pr-3.api.example.com"}"#,
    );
    let changed = pages.deploy(dashboard.path(), "pr-3").await.expect("third");
    assert_eq!(changed.uploaded, 1);
    assert_eq!(cloudflare.uploaded().len(), 5);
    assert_eq!(
        cloudflare.served(PROJECT, &changed.deployment.id, "/config.json"),
        Some((dashboard.read("config.json"), "application/json".to_owned()))
    );
    assert_eq!(
        cloudflare.count("POST", "/pages/projects"),
        1,
        "the project is created once"
    );
}

#[tokio::test]
async fn a_preview_gets_its_branch_alias_url() {
    let cloudflare = FakeCloudflare::start(ACCOUNT, TOKEN).await;
    cloudflare.add_project(PROJECT, "dashboard-3kx.pages.dev");
    let pages = client(&cloudflare, TOKEN);
    let dashboard = Dashboard::new("preview");
    dashboard.write("_headers", "/*\n  X-Frame-Options: DENY\n");

    let deployed = pages
        .deploy(dashboard.path(), "pr-7")
        .await
        .expect("deployed");

    assert_eq!(deployed.deployment.environment, Environment::Preview);
    assert_eq!(deployed.deployment.branch, "pr-7");
    assert_eq!(deployed.branch_url, "https://pr-7.dashboard-3kx.pages.dev");
    assert_eq!(
        deployed.deployment.url,
        format!(
            "https://{}.dashboard-3kx.pages.dev",
            &deployed.deployment.id[..8]
        )
    );
    assert_eq!(
        deployed.deployment.aliases,
        std::slice::from_ref(&deployed.branch_url)
    );
    assert_eq!(
        cloudflare.headers_file(PROJECT, &deployed.deployment.id),
        Some(b"/*\n  X-Frame-Options: DENY\n".to_vec())
    );
    expect![[
        r#"["/assets/index-4f1c.css", "/assets/index-4f1c.js", "/config.json", "/index.html"]"#
    ]]
    .assert_eq(&format!(
        "{:?}",
        cloudflare.manifest_paths(PROJECT, &deployed.deployment.id)
    ));
    assert_eq!(cloudflare.count("POST", "/pages/projects"), 0);
}

#[tokio::test]
async fn listings_are_read_across_pages() {
    let cloudflare = FakeCloudflare::start(ACCOUNT, TOKEN).await;
    cloudflare.add_project(PROJECT, "dashboard.pages.dev");
    cloudflare.set_page_size(2);
    let mut previews = Vec::new();
    for n in 1..=5 {
        previews.push(cloudflare.add_deployment(PROJECT, &format!("pr-{n}"), "preview"));
    }
    cloudflare.add_deployment(PROJECT, "main", "production");
    cloudflare.add_deployment(PROJECT, "main", "production");
    let pages = client(&cloudflare, TOKEN);

    let listed = pages
        .list_deployments(Environment::Preview)
        .await
        .expect("a listing");

    previews.reverse();
    assert_eq!(
        listed.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        previews
    );
    expect![[r#"["pr-5", "pr-4", "pr-3", "pr-2", "pr-1"]"#]].assert_eq(&format!(
        "{:?}",
        listed.iter().map(|d| d.branch.as_str()).collect::<Vec<_>>()
    ));
    expect![[r#"
        GET /accounts/0123456789abcdef0123456789abcdef/pages/projects/dashboard/deployments?env=preview&page=1
        GET /accounts/0123456789abcdef0123456789abcdef/pages/projects/dashboard/deployments?env=preview&page=2
        GET /accounts/0123456789abcdef0123456789abcdef/pages/projects/dashboard/deployments?env=preview&page=3"#]]
    .assert_eq(&cloudflare.requests().join("\n"));
    let production = pages
        .list_deployments(Environment::Production)
        .await
        .expect("a listing");
    assert_eq!(production.len(), 2);
    assert!(
        production
            .iter()
            .all(|d| d.environment == Environment::Production)
    );
}

#[tokio::test]
async fn removing_a_branch_deletes_its_previews_and_nothing_else() {
    let cloudflare = FakeCloudflare::start(ACCOUNT, TOKEN).await;
    let pages = client(&cloudflare, TOKEN);
    let dashboard = Dashboard::new("cleanup");
    let production = pages.deploy(dashboard.path(), "main").await.expect("main");
    let older = pages.deploy(dashboard.path(), "pr-7").await.expect("pr-7");
    let newer = pages
        .deploy(dashboard.path(), "pr-7")
        .await
        .expect("pr-7 again");
    let other = pages
        .deploy(dashboard.path(), "pr-70")
        .await
        .expect("pr-70");
    // A production deployment that carries the branch's name (as one made while `pr-7` was the
    // production branch would): the branch's removal must leave it.
    let production_of_pr_7 = cloudflare.add_deployment(PROJECT, "pr-7", "production");
    // Listings that ignore `env` show that the client filters by itself too.
    cloudflare.ignore_env_filter();

    let deleted = delete_branch(&pages, "pr-7").await.expect("removed");

    assert_eq!(
        deleted,
        [older.deployment.id.clone(), newer.deployment.id.clone()]
    );
    let left: Vec<String> = cloudflare
        .deployments(PROJECT)
        .into_iter()
        .map(|(id, ..)| id)
        .collect();
    assert_eq!(
        left,
        [
            production.deployment.id.clone(),
            other.deployment.id.clone(),
            production_of_pr_7
        ]
    );
    let deletions: Vec<String> = cloudflare
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("DELETE"))
        .collect();
    assert_eq!(deletions.len(), 2);
    assert!(
        deletions.iter().all(|r| r.ends_with("?force=true")),
        "{deletions:?}"
    );

    let refused = delete_branch(&pages, "main").await.expect_err("production");
    assert!(matches!(refused, PagesError::Refused(_)), "{refused}");
    assert_eq!(
        cloudflare.count("DELETE", ""),
        2,
        "nothing more was deleted"
    );
    assert_eq!(
        delete_branch(&pages, "pr-7").await.expect("nothing left"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_refused_token_says_what_to_do_and_never_shows_the_token() {
    let cloudflare = FakeCloudflare::start(ACCOUNT, TOKEN).await;
    let wrong = "cf-wrong-token-value";
    let pages = client(&cloudflare, wrong);
    let dashboard = Dashboard::new("auth");

    let error = pages
        .deploy(dashboard.path(), "main")
        .await
        .expect_err("refused");

    expect![[r#"Cloudflare GET /accounts/0123456789abcdef0123456789abcdef/pages/projects/dashboard failed (HTTP 403): [10000] Authentication error. Check that CLOUDFLARE_API_TOKEN is valid and not expired, and that it has the "Cloudflare Pages: Edit" permission on the account CLOUDFLARE_ACCOUNT_ID names"#]]
    .assert_eq(&error.to_string());
    assert!(!format!("{error} {error:?}").contains(wrong));
    assert!(!format!("{pages:?}").contains(wrong));
    assert_eq!(
        cloudflare.requests().len(),
        1,
        "an auth error is not retried"
    );
}

#[tokio::test]
async fn throttling_and_server_failures_are_retried() {
    let cloudflare = FakeCloudflare::start(ACCOUNT, TOKEN).await;
    cloudflare.fault(
        "POST",
        "/pages/assets/check-missing",
        FaultKind::Status(429),
        1,
    );
    cloudflare.fault("POST", "/deployments", FaultKind::Status(503), 2);
    let pages = client(&cloudflare, TOKEN);
    let dashboard = Dashboard::new("throttled");

    let deployed = pages
        .deploy(dashboard.path(), "main")
        .await
        .expect("deployed after retries");

    assert_eq!(deployed.uploaded, 4);
    assert_eq!(cloudflare.count("POST", "/pages/assets/check-missing"), 2);
    assert_eq!(cloudflare.count("POST", "/deployments"), 3);
    assert_eq!(cloudflare.deployments(PROJECT).len(), 1);
}

#[tokio::test]
async fn a_failure_that_persists_is_reported_after_the_last_attempt() {
    let cloudflare = FakeCloudflare::start(ACCOUNT, TOKEN).await;
    cloudflare.add_project(PROJECT, "dashboard.pages.dev");
    cloudflare.fault("GET", "/upload-token", FaultKind::Status(502), 10);
    let pages = client(&cloudflare, TOKEN);
    let dashboard = Dashboard::new("persistent");

    let error = pages
        .deploy(dashboard.path(), "main")
        .await
        .expect_err("gave up");

    expect![[r#"Cloudflare GET /accounts/0123456789abcdef0123456789abcdef/pages/projects/dashboard/upload-token failed (HTTP 502): <html><body><h1>502 Bad Gateway</h1></body></html>. A failure on Cloudflare's side persisted through every retry: run it again later"#]]
    .assert_eq(&error.to_string());
    assert_eq!(
        cloudflare.count("GET", "/upload-token"),
        FAST.max_attempts as usize
    );
    assert_eq!(cloudflare.count("POST", "/deployments"), 0);
}

#[tokio::test]
async fn an_expired_upload_token_is_replaced() {
    let cloudflare = FakeCloudflare::start(ACCOUNT, TOKEN).await;
    cloudflare.fault(
        "POST",
        "/pages/assets/upload",
        FaultKind::ExpireUploadTokens,
        1,
    );
    let pages = client(&cloudflare, TOKEN);
    let dashboard = Dashboard::new("expired");

    let deployed = pages
        .deploy(dashboard.path(), "pr-4")
        .await
        .expect("deployed with a new token");

    assert_eq!(deployed.uploaded, 4);
    assert_eq!(cloudflare.count("GET", "/upload-token"), 2);
    assert_eq!(cloudflare.count("POST", "/pages/assets/upload"), 2);
}

#[tokio::test]
async fn a_failed_upsert_is_a_warning_not_a_failure() {
    let cloudflare = FakeCloudflare::start(ACCOUNT, TOKEN).await;
    cloudflare.fault(
        "POST",
        "/pages/assets/upsert-hashes",
        FaultKind::Status(400),
        1,
    );
    let pages = client(&cloudflare, TOKEN);
    let dashboard = Dashboard::new("upsert");

    let deployed = pages
        .deploy(dashboard.path(), "main")
        .await
        .expect("deployed");

    expect![[r#"["the uploaded files were not recorded for the next deploy, which will upload them again: Cloudflare POST /pages/assets/upsert-hashes failed (HTTP 400): [8000001] An injected failure"]"#]]
    .assert_eq(&format!("{:?}", deployed.warnings));
    assert_eq!(cloudflare.deployments(PROJECT).len(), 1);
}

#[tokio::test]
async fn a_directory_pages_cannot_take_is_refused_before_any_call() {
    let cloudflare = FakeCloudflare::start(ACCOUNT, TOKEN).await;
    let pages = client(&cloudflare, TOKEN);
    let dashboard = Dashboard::new("worker");
    dashboard.write("_worker.js", "export default {}");

    let error = pages
        .deploy(dashboard.path(), "main")
        .await
        .expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("Pages Functions are not deployed"),
        "{error}"
    );
    let bad_branch = pages
        .deploy(dashboard.path(), "pr 7")
        .await
        .expect_err("refused");
    assert!(matches!(bad_branch, PagesError::Refused(_)), "{bad_branch}");
    assert_eq!(cloudflare.requests(), Vec::<String>::new());
}
