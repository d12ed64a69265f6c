//! `cargo xtask`: builds, checks, deploys and runs the pipeline. Each subcommand lives in its own module.

mod aws_env;
mod bench;
mod bench_load;
mod bootstrap;
mod build;
mod cargo_tool;
mod cleanup;
mod cli;
mod dashboard;
mod demo;
mod deploy;
mod diff;
mod export;
mod graph;
mod hakari;
mod import;
mod local;
mod migrate;
mod preview;
mod progress;
mod push_image;
mod redrive;
mod render;
mod scan;
mod serve_api;
mod test;
mod token;
mod upload;
mod validate;
mod validate_csv;
mod workflows;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::ValidateCsv(args) => validate_csv::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Migrate(args) => migrate::run(&args),
        Command::Local(args) => local::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Render(args) => render::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Deploy(args) => deploy::run(&args),
        Command::Rollback(args) => deploy::run_rollback(&args),
        Command::Upload(args) => upload::run(&args),
        Command::Preview(args) => preview::run(&args),
        Command::Cleanup(args) => cleanup::run(&args),
        Command::Hakari(args) => hakari::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Redrive(args) => redrive::run(&args),
        Command::PushImage(args) => push_image::run(&args),
        Command::Bootstrap(args) => bootstrap::run(&args),
        Command::Scan(args) => scan::run(&args),
        Command::ServeApi(args) => serve_api::run(&args),
        Command::Token(args) => token::run(&args),
        Command::Dashboard(args) => dashboard::run(&args),
    };
    bench::record_peak_rss();
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Reading options from the command line's `--encoding` and `--max-bytes`.
fn read_options(
    encoding: Option<&str>,
    max_bytes: Option<u64>,
) -> anyhow::Result<userlog_domain::reader::ReadOptions> {
    use userlog_domain::EncodingChoice;
    let encoding = match encoding {
        Some(name) => EncodingChoice::Exactly(name.parse()?),
        None => EncodingChoice::Detect,
    };
    let mut options = userlog_domain::reader::ReadOptions {
        encoding,
        ..Default::default()
    };
    if let Some(max_bytes) = max_bytes {
        options.max_bytes = max_bytes;
    }
    Ok(options)
}

/// A connection pool to `url`, with tables looked up in `schema` when one is given.
async fn connect(url: &str, schema: Option<&str>) -> anyhow::Result<sqlx::PgPool> {
    use anyhow::Context as _;
    let schema = schema
        .map(userlog_db::migrate::SchemaName::parse)
        .transpose()?;
    userlog_db::migrate::connect_pool(url, schema.as_ref(), 4)
        .await
        .context("cannot connect to the database")
}

/// The root of this checkout (the directory of the workspace's `Cargo.toml`).
fn workspace_root() -> std::path::PathBuf {
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| manifest_dir.to_path_buf())
}

/// The async runtime of the commands that call AWS.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Logs go to stderr so that stdout stays clean for `--json` output.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("XTASK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
