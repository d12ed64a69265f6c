//! `cargo xtask dashboard build|serve`: the operator dashboard (the app in `dashboard/`, built by
//! `userlog_dashboard` with the Node.js on PATH). `build` writes the site under the target
//! directory (`cargo xtask build` does too); `serve` serves it on 127.0.0.1 for `local`, reading
//! the statistics API at `--api`, or, without it, at the API it starts itself as `serve-api` does,
//! on another port: another origin, so the browser checks CORS as it does on AWS. `publish` is
//! the last step of a deploy and of `preview up` (the site on Cloudflare Pages, told the deployed
//! API's address), `unpublish_preview` that of `preview down` and `cleanup`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{TimeDelta, Utc};
use userlog_dashboard::serve::Site;
use userlog_dashboard::{Built, Node, SiteConfig};
use userlog_infra::EnvironmentName;
use userlog_infra::env::DashboardConfig;
use userlog_infra::render::load_environment;

use crate::cli::{DashboardAction, DashboardArgs, DashboardServeArgs};
use crate::serve_api::local_only;

/// The port `dashboard serve` listens on by default: the origin `local`'s `dashboard.origins` names.
pub(crate) const DEFAULT_PORT: u16 = 8082;

/// What the sign-in panel of the local dashboard says.
pub(crate) const LOCAL_SIGN_IN: &str = "Run `cargo xtask token` and paste the token here, or open the address `cargo xtask demo` printed (it carries one).";

pub(crate) fn run(args: &DashboardArgs) -> anyhow::Result<ExitCode> {
    match &args.action {
        DashboardAction::Build => {
            let built = build_site()?;
            print_built(&built);
            Ok(ExitCode::SUCCESS)
        }
        DashboardAction::Serve(serve) => {
            if let Err(message) = local_only(&serve.env, "dashboard serve") {
                eprintln!("error: {message}");
                return Ok(ExitCode::from(2));
            }
            crate::runtime()?.block_on(serve_local(serve))
        }
    }
}

/// Where the built site goes: `<target>/dashboard/site`.
pub(crate) fn site_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        crate::workspace_root().join(target)
    };
    target.join("dashboard").join("site")
}

/// Builds the dashboard into [`site_dir`].
pub(crate) fn build_site() -> anyhow::Result<Built> {
    build_site_into(&site_dir())
}

/// The Node.js that builds the dashboard: the one on PATH when it can, else the checkout's own
/// under `.local/node` (installed pinned from the npm registry on first use). It runs on a thread
/// of its own, so it may be called from inside the tooling's runtime as well as outside it.
pub(crate) fn node() -> anyhow::Result<Node> {
    let local = crate::workspace_root().join(".local");
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start a runtime")?;
                runtime
                    .block_on(Node::find_or_install(&local))
                    .context("no Node.js can build the dashboard")
            })
            .join()
            .map_err(|_| anyhow::anyhow!("finding Node.js panicked"))?
    })
}

/// Builds the dashboard into `out`.
pub(crate) fn build_site_into(out: &std::path::Path) -> anyhow::Result<Built> {
    let node = node()?;
    eprintln!(
        "Building the dashboard (node {}, dashboard/ → {})...",
        node.version,
        out.display()
    );
    userlog_dashboard::build(&node, &crate::workspace_root().join("dashboard"), out)
        .context("the dashboard did not build")
}

pub(crate) fn print_built(built: &Built) {
    let total: u64 = built.files.iter().map(|(_, size)| size).sum();
    eprintln!(
        "Dashboard: {} files, {} bytes in {}{}",
        built.files.len(),
        total,
        built.dir.display(),
        if built.installed {
            " (packages installed first)"
        } else {
            ""
        }
    );
}

/// The address of the local dashboard carrying a token in its fragment (which the browser
/// never sends to a server; the app moves it into the tab's session storage).
pub(crate) fn url_with_token(port: u16, token: &str) -> String {
    format!("http://127.0.0.1:{port}/#token={token}")
}

/// A token for the local dashboard, valid for a working day.
pub(crate) fn dashboard_token() -> anyhow::Result<String> {
    crate::token::local_token("local-operator", None, Utc::now() + TimeDelta::hours(8))
}

async fn serve_local(args: &DashboardServeArgs) -> anyhow::Result<ExitCode> {
    let built = match build_site() {
        Ok(built) => built,
        Err(err) if site_dir().join("index.html").is_file() => {
            eprintln!("warning: {err:#}\nServing the dashboard built before.");
            Built {
                dir: site_dir(),
                files: userlog_dashboard::build::files(&site_dir())?,
                installed: false,
            }
        }
        Err(err) => return Err(err),
    };
    print_built(&built);
    let (api_url, _api) = match &args.api {
        Some(url) => (url.clone(), None),
        None => {
            let api = crate::serve_api::start(args.api_port)
                .await
                .context("cannot start the statistics API (or pass --api URL of one that runs)")?;
            (format!("http://{}", api.addr), Some(api))
        }
    };
    let config = SiteConfig::new("local", &api_url, LOCAL_SIGN_IN).map_err(anyhow::Error::msg)?;
    let site = Arc::new(Site {
        dir: built.dir.clone(),
        config,
    });
    let addr = userlog_dashboard::serve::spawn(SocketAddr::from(([127, 0, 0, 1], args.port)), site)
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    eprintln!(
        "The dashboard of local is on http://{addr}/, reading the statistics API at {api_url} (Ctrl-C stops both)."
    );
    match dashboard_token() {
        Ok(token) => println!("Open: {}", url_with_token(addr.port(), &token)),
        Err(err) => eprintln!("(no token: {err:#}; paste one from `cargo xtask token`)"),
    }
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_must_land_in_production() {
        use userlog_pages::Environment;
        assert!(check_environment("main", &Environment::Production).is_ok());
        assert!(check_environment("pr-7", &Environment::Preview).is_ok());
        let err = check_environment("main", &Environment::Preview).unwrap_err();
        assert!(
            err.to_string()
                .contains("the project's production branch is not `main`"),
            "{err}"
        );
    }

    #[test]
    fn the_address_carries_the_token_in_its_fragment() {
        assert_eq!(
            url_with_token(8082, "a.b.c"),
            "http://127.0.0.1:8082/#token=a.b.c"
        );
    }
}

/// What the dashboard step of a deploy or a preview did.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PagesReport {
    /// Why it did nothing (no Cloudflare credentials, no Pages project, no API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) skipped: Option<String>,
    /// The address that follows the branch (`https://pr-7.<project>.pages.dev`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<String>,
    /// The new deployment's own address and id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) deployment: Option<userlog_pages::Deployment>,
    /// The deployments removed (`preview down`, `cleanup`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) deleted: Vec<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

impl PagesReport {
    pub(crate) fn skipped(reason: impl Into<String>) -> PagesReport {
        PagesReport {
            skipped: Some(reason.into()),
            ..PagesReport::default()
        }
    }

    fn failed(error: impl std::fmt::Display) -> PagesReport {
        PagesReport {
            error: Some(format!("{error:#}")),
            ..PagesReport::default()
        }
    }

    /// One line for a person.
    pub(crate) fn line(&self) -> String {
        match (&self.skipped, &self.error, &self.url) {
            (Some(reason), _, _) => format!("skipped: {reason}"),
            (_, Some(error), _) => format!("failed: {error}"),
            (_, _, Some(url)) => url.clone(),
            _ if !self.deleted.is_empty() => {
                format!("{} deployment(s) deleted", self.deleted.len())
            }
            _ => "nothing to do".to_owned(),
        }
    }

    pub(crate) fn failed_step(&self) -> bool {
        self.error.is_some()
    }
}

/// The Cloudflare Pages client of an environment's project, or why there is none.
fn pages_client(
    environment: EnvironmentName,
) -> Result<userlog_pages::CloudflarePages, Box<PagesReport>> {
    let templates =
        crate::render::load_templates().map_err(|e| Box::new(PagesReport::failed(e)))?;
    let config =
        load_environment(environment, &templates).map_err(|e| Box::new(PagesReport::failed(e)))?;
    let Some(project) = config.dashboard.pages_project else {
        return Err(Box::new(PagesReport::skipped(format!(
            "{environment} has no Cloudflare Pages project (dashboard.pagesProject)"
        ))));
    };
    let settings = match userlog_pages::PagesSettings::from_env() {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            return Err(Box::new(PagesReport::skipped(
                "CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN are not set",
            )));
        }
        Err(err) => return Err(Box::new(PagesReport::failed(err))),
    };
    userlog_pages::CloudflarePages::new(&settings, &project)
        .map_err(|e| Box::new(PagesReport::failed(e)))
}

/// Deploys the dashboard of `environment` to its Pages project as its branch (`main`, or a
/// preview's `pr-<N>`), told to read the API at `api_url`: the site built under `artifacts`
/// (`build --out`) when there is one, built now otherwise. Skipped, and says so, without
/// Cloudflare's credentials or without an API.
pub(crate) async fn publish(
    environment: EnvironmentName,
    api_url: Option<&str>,
    artifacts: Option<&std::path::Path>,
) -> PagesReport {
    let pages = match pages_client(environment) {
        Ok(pages) => pages,
        Err(report) => return *report,
    };
    let Some(api_url) = api_url.filter(|url| !url.is_empty()) else {
        return PagesReport::skipped(format!(
            "the stack of {environment} has no HttpApiUrl output"
        ));
    };
    match publish_with(&pages, environment, api_url, artifacts).await {
        Ok(deployed) => PagesReport {
            url: Some(deployed.branch_url),
            deployment: Some(deployed.deployment),
            ..PagesReport::default()
        },
        Err(err) => PagesReport::failed(err),
    }
}

async fn publish_with(
    pages: &impl userlog_pages::Pages,
    environment: EnvironmentName,
    api_url: &str,
    artifacts: Option<&std::path::Path>,
) -> anyhow::Result<userlog_pages::Deployed> {
    let prebuilt = artifacts
        .map(|dir| dir.join("dashboard"))
        .filter(|dir| dir.join("index.html").is_file());
    let built = match prebuilt {
        Some(dir) => dir,
        None => build_site()?.dir,
    };
    // A copy of the site with this environment's config.json and _headers.
    let staged = site_dir()
        .parent()
        .map(|p| p.join(format!("publish-{environment}")))
        .context("no directory for the site's copy")?;
    if staged.exists() {
        std::fs::remove_dir_all(&staged)
            .with_context(|| format!("cannot clear {}", staged.display()))?;
    }
    for (file, _) in userlog_dashboard::build::files(&built)? {
        let to = staged.join(&file);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::copy(built.join(&file), &to)
            .with_context(|| format!("cannot copy {file} of the site"))?;
    }
    let sign_in = format!(
        "Sign in with the identity provider of {environment} and paste an access token for the statistics API here."
    );
    let config =
        SiteConfig::new(&environment.to_string(), api_url, &sign_in).map_err(anyhow::Error::msg)?;
    config.write_into(&staged)?;
    let branch = DashboardConfig::branch(environment);
    eprintln!("Deploying the dashboard of {environment} to Cloudflare Pages (branch {branch})...");
    let deployed = pages
        .deploy(&staged, &branch)
        .await
        .context("the dashboard did not deploy to Cloudflare Pages")?;
    check_environment(&branch, &deployed.deployment.environment)?;
    Ok(deployed)
}

/// A deployment of the production branch must be the project's production: a project made by
/// hand with another production branch would turn every release into a preview.
fn check_environment(branch: &str, environment: &userlog_pages::Environment) -> anyhow::Result<()> {
    if branch == userlog_pages::PRODUCTION_BRANCH
        && *environment != userlog_pages::Environment::Production
    {
        anyhow::bail!(
            "Cloudflare Pages made the deployment of branch `{branch}` a {environment} one: the project's production branch is not `{branch}`; set it to `{branch}` in the project's settings"
        );
    }
    Ok(())
}

/// Deletes the Pages deployments of the preview of pull request `number` (its branch `pr-<N>`,
/// preview deployments only). Skipped, and says so, without Cloudflare's credentials.
pub(crate) async fn unpublish_preview(number: u32) -> PagesReport {
    let environment = EnvironmentName::Preview(number);
    let pages = match pages_client(environment) {
        Ok(pages) => pages,
        Err(report) => return *report,
    };
    let branch = DashboardConfig::branch(environment);
    match userlog_pages::delete_branch(&pages, &branch).await {
        Ok(deleted) => PagesReport {
            deleted,
            ..PagesReport::default()
        },
        Err(err) => PagesReport::failed(err),
    }
}
