//! `cargo xtask migrate`: applies the SQL migrations to a database (by default the local cluster
//! of this checkout, started when needed), optionally into a schema of its own.

use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use userlog_db::migrate::{self, MigrationReport, SchemaName};
use userlog_local::{Action, LocalStack};

use crate::cli::MigrateArgs;

/// The JSON output.
#[derive(Debug, Serialize)]
struct MigrateOutput<'a> {
    /// The database, with any password hidden.
    database: String,
    /// Whether it is the local cluster of this checkout.
    local_cluster: bool,
    #[serde(flatten)]
    report: &'a MigrationReport,
}

pub(crate) fn run(args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let schema = args
        .schema
        .as_deref()
        .map(SchemaName::parse)
        .transpose()
        .context("--schema is not a valid schema name")?;
    let (url, local_cluster) = match &args.database_url {
        Some(url) => (url.clone(), false),
        None => (local_cluster_url()?, true),
    };
    let shown = hide_password(&url);
    eprintln!(
        "Migrating {shown}{}",
        schema
            .as_ref()
            .map(|s| format!(" into schema {s}"))
            .unwrap_or_default()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime
        .block_on(migrate::run(url.as_str(), schema.as_ref()))
        .with_context(|| format!("migrating {shown} failed"))?;
    if args.json {
        let output = MigrateOutput {
            database: shown,
            local_cluster,
            report: &report,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&output).context("cannot serialise the output")?
        );
    } else {
        print!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The URL of the local cluster, started first when it does not run (saying so on stderr).
fn local_cluster_url() -> anyhow::Result<String> {
    let stack = LocalStack::discover()
        .context("no --database-url or DATABASE_URL, and no local cluster to fall back to")?;
    let report = stack
        .postgres
        .up(&mut |step| eprintln!("{step}"))
        .context("no --database-url or DATABASE_URL given, and the local PostgreSQL cluster could not be started")?;
    let url = report
        .status
        .url
        .context("the local PostgreSQL cluster reports no URL")?;
    match report.action {
        Action::AlreadyRunning => eprintln!("Using the local PostgreSQL cluster at {url}."),
        action => eprintln!(
            "The local PostgreSQL cluster {} at {url}.",
            action.describe()
        ),
    }
    Ok(url)
}

/// `url` with the password of its user part replaced by `***`, for output.
fn hide_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?'])
        .map_or(url.len(), |offset| scheme_end + offset);
    let authority = &url[scheme_end..authority_end];
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let Some((user, _password)) = user_info.split_once(':') else {
        return url.to_owned();
    };
    format!(
        "{}{user}:***@{host}{}",
        &url[..scheme_end],
        &url[authority_end..]
    )
}

#[cfg(test)]
mod tests {
    use super::hide_password;

    #[test]
    fn passwords_are_hidden_and_everything_else_kept() {
        assert_eq!(
            hide_password("postgres://app:s3cr%40t@db.example:5432/userlog?sslmode=require"),
            "postgres://app:***@db.example:5432/userlog?sslmode=require"
        );
        assert_eq!(
            hide_password("postgres://userlog@127.0.0.1:5432/userlog"),
            "postgres://userlog@127.0.0.1:5432/userlog"
        );
        assert_eq!(hide_password("postgres://a:b@h"), "postgres://a:***@h");
        assert_eq!(hide_password("not a url"), "not a url");
    }
}
