//! `cargo xtask serve-api [--env local] [--port P]`: the statistics API on 127.0.0.1, answered by
//! the stats-api function's own handler (`stats_api::Api`) against the local stack: the local
//! PostgreSQL cluster and the emulator's DynamoDB tables, with the function's rendered settings.
//! Tokens are checked against the local test issuer's JWKS, which this command serves on the
//! address the `local` environment's `api.jwksUrl` names, so `cargo xtask token` makes tokens it
//! accepts; timelines come from the emulator's Step Functions; browsers of the `local`
//! environment's `dashboard.origins` may read the answers.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use stats_api::{Api, Config, Cors, Executions, Store, Verifier};
use userlog_aws::{AuditLog, Clients, ErrorLog, http_client};
use userlog_infra::EnvironmentName;
use userlog_infra::render::{function_environment, render_environment};
use userlog_issuer::server::JWKS_PATH;
use userlog_issuer::{JwksServer, LocalIssuer};
use userlog_local::LocalStack;

use crate::cli::ServeApiArgs;
use crate::render::load_templates;

/// The function's logical id in the rendered template.
const FUNCTION: &str = "StatsApiFunction";

pub(crate) fn run(args: &ServeApiArgs) -> anyhow::Result<ExitCode> {
    if let Err(message) = local_only(&args.env, "serve-api") {
        eprintln!("error: {message}");
        return Ok(ExitCode::from(2));
    }
    crate::runtime()?.block_on(serve(args))
}

/// Refuses every environment but `local`: only this machine's stack can be served, and only
/// the local issuer's tokens can be made.
pub(crate) fn local_only(env: &str, command: &str) -> Result<(), String> {
    if env == "local" {
        Ok(())
    } else {
        Err(format!(
            "{command} works on the local environment only (this machine's stack and test issuer), not `{env}`"
        ))
    }
}

/// The function's settings for `local`, as rendered for the deployed function.
pub(crate) fn local_config() -> anyhow::Result<Config> {
    let rendered = render_environment(EnvironmentName::Local, &load_templates()?)
        .context("cannot render the local environment")?;
    let variables = function_environment(&rendered.template, FUNCTION);
    Config::from_lookup(|name| variables.get(name).cloned())
        .context("the rendered settings of stats-api are not usable")
}

/// The loopback address a JWKS URL of the local environment points at.
pub(crate) fn jwks_address(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("the local JWKS URL `{url}` is not http://"))?;
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    if format!("/{path}") != JWKS_PATH {
        return Err(format!(
            "the local JWKS URL `{url}` does not end in {JWKS_PATH}"
        ));
    }
    let addr: SocketAddr = authority
        .parse()
        .map_err(|_| format!("the local JWKS URL `{url}` does not name an IP address and port"))?;
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => Ok(addr),
        IpAddr::V6(ip) if ip.is_loopback() => Ok(addr),
        _ => Err(format!(
            "the local JWKS URL `{url}` is not on the loopback address"
        )),
    }
}

/// The statistics API of `local` answering on 127.0.0.1, and the local issuer's JWKS it trusts;
/// both stop when this is dropped (or the process ends).
pub(crate) struct RunningApi {
    pub(crate) addr: SocketAddr,
    pub(crate) config: Config,
    pub(crate) jwks: JwksServer,
}

/// Starts the statistics API of `local` on 127.0.0.1:`port` (0: any free port).
pub(crate) async fn start(port: u16) -> anyhow::Result<RunningApi> {
    let config = local_config()?;
    let stack = LocalStack::discover().context("cannot tell where the local state lives")?;
    let database_url = stack
        .postgres
        .database_url()
        .context("the local PostgreSQL cluster is not running; run `cargo xtask demo` (or `cargo xtask local up` and `cargo xtask deploy`) first")?;
    let pool = crate::connect(&database_url, config.database_schema.as_deref()).await?;
    let (sdk, settings) = crate::aws_env::sdk_for(EnvironmentName::Local).await?;
    let clients = Clients::new(&sdk, &settings);
    let issuer = LocalIssuer::open(&stack.dir().service_dir("issuer"), &config.auth.issuer)
        .context("cannot open the local test issuer")?;
    let jwks_addr = jwks_address(&config.auth.jwks_url).map_err(anyhow::Error::msg)?;
    let jwks = JwksServer::start(jwks_addr, issuer.issuer(), issuer.jwks())
        .await
        .with_context(|| {
            format!("cannot serve the local issuer's JWKS on {jwks_addr} (is another serve-api running?)")
        })?;
    let api = Arc::new(Api {
        store: Store {
            pool,
            audit: AuditLog::new(clients.dynamodb.clone(), config.audit_table.clone()),
            errors: ErrorLog::new(clients.dynamodb.clone(), config.error_table.clone()),
            execution_index: config.error_table_execution_index.clone(),
        },
        verifier: Verifier::new(config.auth.clone(), http_client()?),
        executions: Executions {
            client: aws_sdk_sfn::Client::new(&sdk),
            state_machine_arn: config.state_machine_arn.clone(),
        },
        cors: Cors::new(config.cors_origins.clone()),
    });
    let addr = stats_api::server::spawn(SocketAddr::from(([127, 0, 0, 1], port)), api)
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    Ok(RunningApi { addr, config, jwks })
}

async fn serve(args: &ServeApiArgs) -> anyhow::Result<ExitCode> {
    let api = start(args.port).await?;
    let (addr, config) = (api.addr, &api.config);
    eprintln!("The statistics API of local answers on http://{addr} (Ctrl-C stops it).");
    eprintln!(
        "Tokens: `cargo xtask token` (issuer {}, audience {}); the issuer's JWKS is served on {}.",
        config.auth.issuer,
        config.auth.audiences.join(", "),
        api.jwks.jwks_url()
    );
    eprintln!(
        "Try: curl -sS -H \"Authorization: Bearer $(cargo xtask token)\" http://{addr}/users/U00001/stats"
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    drop(api);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_jwks_urls_are_served() {
        let check = |url: &str, expected: Result<&str, &str>| {
            let got = jwks_address(url).map(|a| a.to_string());
            match expected {
                Ok(addr) => assert_eq!(got, Ok(addr.to_owned()), "{url}"),
                Err(part) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(part)),
                    "{url}: {got:?}"
                ),
            }
        };
        check(
            "http://127.0.0.1:8081/.well-known/jwks.json",
            Ok("127.0.0.1:8081"),
        );
        check(
            "https://auth.example.com/.well-known/jwks.json",
            Err("is not http://"),
        );
        check(
            "http://10.0.0.1:8081/.well-known/jwks.json",
            Err("not on the loopback"),
        );
        check(
            "http://localhost:8081/.well-known/jwks.json",
            Err("IP address"),
        );
        check("http://127.0.0.1:8081/keys", Err("does not end in"));
        assert!(local_only("local", "token").is_ok());
        assert_eq!(
            local_only("staging", "token"),
            Err("token works on the local environment only (this machine's stack and test issuer), not `staging`".to_owned())
        );
    }
}
