//! The command line of `cargo xtask`, defined in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, check, deploy and run the userlog import pipeline."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Validate a CSV file as the `validate-csv` function would. Exit 0 valid, 1 invalid, 2 could not run.
    ValidateCsv(ValidateCsvArgs),
    /// Import a CSV file into a database with the bulk path (the code of the `import-csv` task).
    Import(ImportArgs),
    /// Run the SQL migrations against a database, optionally into a schema of its own.
    Migrate(MigrateArgs),
    /// Local stand-ins for this checkout: a throwaway PostgreSQL cluster and an AWS emulator.
    Local(LocalArgs),
    /// Deploy `local` to the emulator, upload the sample files, follow each import and show the statistics. Exit 0 when every sample ended as expected, 1 otherwise.
    Demo(DemoArgs),
    /// Benchmarks that compare against a physical anchor in the same run.
    Bench(BenchArgs),
    /// Render every template for one environment.
    Render(RenderArgs),
    /// Check the rendered definitions statically (ASL, IAM coverage, EventBridge, alarms, cfn-lint).
    Validate(ValidateArgs),
    /// Show what changes between two revisions of the rendered definitions, per resource.
    Diff(DiffArgs),
    /// Draw the state machine and the architecture as Mermaid diagrams.
    Graph(GraphArgs),
    /// Run every test, after installing the tools they need (the README's test command).
    Test(TestArgs),
    /// Build every function for Lambda: a reproducible `bootstrap` zip each, checked against AL2023's glibc.
    Build(BuildArgs),
    /// Deploy an environment: build, render, validate, change set, migrate, publish, move `stable`.
    Deploy(DeployArgs),
    /// Move alias `stable` of an environment back to the versions before its last release.
    Rollback(RollbackArgs),
    /// Regenerate crates/workspace-hack (cargo-hakari) so every build resolves the same features; --check only compares.
    Hakari(HakariArgs),
    /// Put a file into an environment's input bucket; with --wait, follow the import it starts. Exit 0 succeeded, 1 failed, 2 could not run.
    Upload(UploadArgs),
    /// Pull-request previews: `up` makes or updates the preview of a pull request, `down` removes it and all it made.
    Preview(PreviewArgs),
    /// Remove what previews left behind: with --stale, the previews of closed pull requests and orphans. Exit 0 done, 1 a removal failed, 2 could not run, 3 GitHub failed.
    Cleanup(CleanupArgs),
    /// Export user_statistics to Parquet for one day (the `export-stats` function's code), into the environment's ETL bucket or a directory. Exit 0 written, 1 the export failed (nothing became visible), 2 could not run.
    Export(ExportArgs),
    /// Re-run failed imports and follow them to their end, refusing a file a newer one replaced. Exit 0 every one re-ran and succeeded, 1 one was refused or failed again, 2 could not run.
    Redrive(RedriveArgs),
    /// Push the import task's container image (the OCI image layout `cargo xtask build` writes) to an OCI distribution registry.
    PushImage(PushImageArgs),
    /// Deploy an environment's bootstrap stack (OIDC provider, deploy roles pinned to one repository, artifact bucket, image repository, lock table) and print what to configure in GitHub.
    Bootstrap(BootstrapArgs),
    /// Security checks, each with its tool installed pinned under `.local/`: secrets, dependency advisories, IaC (checkov) and workflow lint (zizmor). Exit 0 clean, 1 findings, 2 could not run.
    Scan(ScanArgs),
    /// Serve the statistics API (the stats-api function's handler) over HTTP on 127.0.0.1 against the local stack, trusting the local test issuer.
    ServeApi(ServeApiArgs),
    /// Print a bearer token of the local test issuer for the statistics API (the last line of stdout). Only for `local`.
    Token(TokenArgs),
    /// The operator dashboard: `build` it (Vite, with the Node.js on PATH), `serve` it on 127.0.0.1 against the local statistics API.
    Dashboard(DashboardArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DashboardArgs {
    #[command(subcommand)]
    pub(crate) action: DashboardAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DashboardAction {
    /// Build the site into the target directory (`dashboard/site`), as `cargo xtask build` does.
    Build,
    /// Build and serve the site on 127.0.0.1 for `local`; without --api, also start the statistics API (as `serve-api`) on --api-port.
    Serve(DashboardServeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DashboardServeArgs {
    /// The environment: only `local` (this machine's stack) can be served.
    #[arg(long, default_value = "local")]
    pub(crate) env: String,
    /// The port on 127.0.0.1 (the origin the local API answers CORS for is port 8082).
    #[arg(long, default_value_t = crate::dashboard::DEFAULT_PORT)]
    pub(crate) port: u16,
    /// The statistics API to read (default: start one, as `serve-api` does, on --api-port).
    #[arg(long, value_name = "URL")]
    pub(crate) api: Option<String>,
    /// The port of the statistics API this command starts when --api is not given.
    #[arg(long, default_value_t = 8080)]
    pub(crate) api_port: u16,
}

#[derive(Debug, Args)]
pub(crate) struct PushImageArgs {
    /// Where to push: `HOST[:PORT]/REPOSITORY[:TAG]` (default tag: the first 12 hex digits of the image's digest).
    #[arg(long, value_name = "REFERENCE")]
    pub(crate) registry: String,
    /// Talk plain HTTP (a registry on loopback).
    #[arg(long)]
    pub(crate) insecure: bool,
    /// The OCI image layout to push (default: the one `cargo xtask build` writes under the target directory).
    #[arg(long, value_name = "DIR")]
    pub(crate) image: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct BootstrapArgs {
    /// The environment: `local` (the emulator on this machine), `staging` or `production`.
    #[arg(long, default_value = "local")]
    pub(crate) env: String,
    /// The GitHub repository (`OWNER/REPO`) whose workflows the roles trust.
    #[arg(long, value_name = "OWNER/REPO", value_parser = github_repository)]
    pub(crate) repository: String,
    /// Print the result as JSON (progress goes to stderr).
    #[arg(long)]
    pub(crate) json: bool,
}

/// `OWNER/REPO` as GitHub allows them: letters, digits, `-`, `_`, `.`; no wildcard.
fn github_repository(text: &str) -> Result<String, String> {
    let part_ok = |part: &str| {
        !part.is_empty()
            && part.len() <= 100
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && part != "."
            && part != ".."
    };
    match text.split_once('/') {
        Some((owner, name)) if part_ok(owner) && part_ok(name) => Ok(text.to_owned()),
        _ => Err(format!(
            "`{text}` is not OWNER/REPO (letters, digits, `-`, `_` and `.`, no wildcard)"
        )),
    }
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    #[command(subcommand)]
    pub(crate) check: ScanCheck,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ScanCheck {
    /// Secrets in the working tree and the git history (detect-secrets).
    Secrets,
    /// Dependency advisories, licences, bans and sources (cargo-deny, with deny.toml).
    Deps,
    /// checkov over the rendered templates of every environment (skips only with a written reason).
    Checkov,
    /// zizmor over .github/workflows (no finding of medium severity or above).
    Zizmor,
}

#[derive(Debug, Args)]
pub(crate) struct ServeApiArgs {
    /// The environment: only `local` (this machine's stack) can be served.
    #[arg(long, default_value = "local")]
    pub(crate) env: String,
    /// The port on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    pub(crate) port: u16,
}

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The environment: only `local` has a test issuer.
    #[arg(long, default_value = "local")]
    pub(crate) env: String,
    /// The token's subject.
    #[arg(long, default_value = "local-user")]
    pub(crate) sub: String,
    /// The audience (default: the environment's first).
    #[arg(long)]
    pub(crate) aud: Option<String>,
    /// When the token expires, RFC 3339 (may be in the past); default one hour from now.
    #[arg(long)]
    pub(crate) exp: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The environment whose database and ETL bucket to use: `local` (this machine's), `staging`, `production` or `preview-pr-<N>`.
    #[arg(long, default_value = "local")]
    pub(crate) env: String,
    /// The day to file the snapshot under (YYYY-MM-DD); today in the schedule's time zone by default.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) date: Option<String>,
    /// Write under this directory (`DIR/user_statistics/dt=D/user_statistics.parquet`) instead of the ETL bucket.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// The database (the local cluster for `local`; required for other environments).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,
    /// The PostgreSQL schema that holds the tables (`pr_<N>` for a preview; default `public`).
    #[arg(long)]
    pub(crate) schema: Option<String>,
    /// Rows per Parquet row group (what memory holds of the table at a time).
    #[arg(long, default_value_t = userlog_export::run::DEFAULT_ROWS_PER_GROUP, value_parser = clap::value_parser!(usize))]
    pub(crate) rows_per_group: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RedriveArgs {
    /// The name of the failed execution to re-run.
    #[arg(
        required_unless_present = "failed_since",
        conflicts_with = "failed_since"
    )]
    pub(crate) execution: Option<String>,
    /// Re-run every execution that failed, timed out or was aborted and started within this long (`30m`, `2h`, `1d`).
    #[arg(long, value_name = "DURATION")]
    pub(crate) failed_since: Option<String>,
    /// The environment: `local` (the emulator on this machine), `staging`, `production` or `preview-pr-<N>`.
    #[arg(long, default_value = "local")]
    pub(crate) env: String,
    /// Print the results as JSON (progress goes to stderr).
    #[arg(long)]
    pub(crate) json: bool,
}

/// A pull request number: digits only (no sign, no leading zero, at most 9 digits).
fn pull_request_number(text: &str) -> Result<u32, String> {
    let well_formed = !text.is_empty()
        && text.len() <= 9
        && text.bytes().all(|b| b.is_ascii_digit())
        && !text.starts_with('0');
    if !well_formed {
        return Err(format!(
            "`{text}` is not a pull request number: digits only, without a leading zero (e.g. --pr 7)"
        ));
    }
    text.parse().map_err(|e| format!("`{text}`: {e}"))
}

/// The environment whose platform previews share: `local` or `staging`.
fn preview_host(text: &str) -> Result<userlog_infra::EnvironmentName, String> {
    match text {
        "local" => Ok(userlog_infra::EnvironmentName::Local),
        "staging" => Ok(userlog_infra::EnvironmentName::Staging),
        _ => Err(format!(
            "previews share the platform of `local` or `staging`, not `{text}`"
        )),
    }
}

#[derive(Debug, Args)]
pub(crate) struct PreviewArgs {
    #[command(subcommand)]
    pub(crate) action: PreviewAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PreviewAction {
    /// Create or update the preview `preview-pr-N`: stack `preview-pr-N-userlog`, schema `pr_N`, functions at $LATEST; the PR comment and a GitHub deployment when GITHUB_TOKEN is set. Exit 0 ready, 1 the preview failed, 2 could not run, 3 the preview is ready but a GitHub step failed.
    Up(PreviewUpArgs),
    /// Remove the preview `preview-pr-N` and everything it made, nothing else. Exit 0 removed (or nothing was there), 1 the removal failed, 2 could not run, 3 removed but a GitHub step failed.
    Down(PreviewDownArgs),
}

/// Which preview, on which platform.
#[derive(Debug, Args)]
pub(crate) struct PreviewOf {
    /// The pull request number (digits only).
    #[arg(long, value_parser = pull_request_number)]
    pub(crate) pr: u32,
    /// The environment whose platform the preview shares: `local` (this machine's emulator and PostgreSQL) or `staging`.
    #[arg(long, default_value = "local", value_parser = preview_host)]
    pub(crate) from: userlog_infra::EnvironmentName,
    /// The database that holds the preview's schema (default: DATABASE_URL; the local cluster for `--from local`).
    #[arg(long, value_name = "URL")]
    pub(crate) database_url: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PreviewUpArgs {
    #[command(flatten)]
    pub(crate) preview: PreviewOf,
    /// The base commit to compare the definitions with (default: the pull request's base on GitHub).
    #[arg(long, value_name = "REV")]
    pub(crate) base_ref: Option<String>,
    /// Skip cfn-lint (the project's own checks still run).
    #[arg(long)]
    pub(crate) no_cfn_lint: bool,
    /// Deploy the zips of an earlier `cargo xtask build --out DIR` instead of building.
    #[arg(long, value_name = "DIR")]
    pub(crate) artifacts: Option<PathBuf>,
    /// Print one JSON document (progress stays on stderr).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PreviewDownArgs {
    #[command(flatten)]
    pub(crate) preview: PreviewOf,
    /// How dropping the schema and its role reaches the database: `direct` (the database URL) or `task` (a one-off task of the preview's import image, as the previews role; what happens without a URL).
    #[arg(long, value_enum, default_value_t = MigrateWith::Direct)]
    pub(crate) drop_with: MigrateWith,
    /// Print one JSON document (progress stays on stderr).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CleanupArgs {
    /// Remove the previews of closed or missing pull requests, and orphans (a schema without a stack, a stack without a schema).
    #[arg(long)]
    pub(crate) stale: bool,
    /// The environment whose platform the previews share: `local` or `staging`.
    #[arg(long, default_value = "local", value_parser = preview_host)]
    pub(crate) from: userlog_infra::EnvironmentName,
    /// The database that holds the preview schemas (default: DATABASE_URL; the local cluster for `--from local`).
    #[arg(long, value_name = "URL")]
    pub(crate) database_url: Option<String>,
    /// Say what would be removed and remove nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Print one JSON document (progress stays on stderr).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// The environment: `local` (the emulator on this machine), `staging`, `production` or `preview-pr-<N>`.
    #[arg(long, default_value = "local")]
    pub(crate) env: String,
    /// The database to migrate (default: DATABASE_URL; the local cluster for `local`).
    #[arg(long, value_name = "URL")]
    pub(crate) database_url: Option<String>,
    /// Let a change set that removes or replaces stateful resources go ahead in production.
    #[arg(long)]
    pub(crate) allow_destructive: bool,
    /// Skip cfn-lint (the project's own checks still run).
    #[arg(long)]
    pub(crate) no_cfn_lint: bool,
    /// Deploy the zips of an earlier `cargo xtask build --out DIR` instead of building.
    #[arg(long, value_name = "DIR")]
    pub(crate) artifacts: Option<PathBuf>,
    /// Release changed functions gradually: `stable` sends PERCENT % of the calls to the new
    /// version while the deploy watches the alarms, then promotes or rolls back (default: the
    /// environment file's `release.canaryPercent`; 0 releases at once).
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..100))]
    pub(crate) canary: Option<u8>,
    /// How long a canary bakes before it is promoted, such as `10m`, `90s` or `1h` (default: the
    /// environment file's `release.bakeMinutes`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) bake: Option<std::time::Duration>,
    /// How the migrations reach the database: `direct` connects from here (DATABASE_URL or
    /// --database-url), `task` runs them as a one-off ECS task of the import image inside the
    /// environment's network (for a private database, from CI).
    #[arg(long, value_name = "HOW", default_value = "direct")]
    pub(crate) migrate_with: MigrateWith,
    /// Print the summary as JSON (progress stays on stderr).
    #[arg(long)]
    pub(crate) json: bool,
}

/// How a deploy's migrations reach the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum MigrateWith {
    /// A connection from the machine that deploys.
    #[default]
    Direct,
    /// A one-off ECS task of the import image (`import-csv migrate`) in the environment's network.
    Task,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    userlog_deploy::canary::parse_duration(text)
}

#[derive(Debug, Args)]
pub(crate) struct HakariArgs {
    /// Change nothing; exit 1 when the workspace-hack is not current.
    #[arg(long)]
    pub(crate) check: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// The environment.
    #[arg(long, default_value = "local")]
    pub(crate) env: String,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct UploadArgs {
    /// The file to upload.
    pub(crate) file: PathBuf,
    /// The environment: `local` (the emulator on this machine), `staging`, `production` or `preview-pr-<N>`.
    #[arg(long, default_value = "local")]
    pub(crate) env: String,
    /// The object key (default `incoming/<file name>`).
    #[arg(long)]
    pub(crate) key: Option<String>,
    /// Follow the execution the upload starts to its end, showing its states as they run.
    #[arg(long)]
    pub(crate) wait: bool,
    /// How long --wait follows the execution, in seconds, before giving up (the execution goes on).
    #[arg(long, value_name = "SECONDS", default_value_t = 10_800)]
    pub(crate) timeout: u64,
    /// Print the result as JSON (progress goes to stderr).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateCsvArgs {
    /// The CSV file to check.
    pub(crate) file: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Reject files larger than this many bytes (default 100 MiB).
    #[arg(long)]
    pub(crate) max_bytes: Option<u64>,
    /// Read the file in this encoding instead of detecting it (`utf-8` or `shift_jis`).
    #[arg(long)]
    pub(crate) encoding: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The CSV file to import.
    pub(crate) file: PathBuf,
    /// The database to import into.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: String,
    /// The PostgreSQL schema that holds the tables (default `public`).
    #[arg(long)]
    pub(crate) schema: Option<String>,
    /// The time the file's counts are as of (RFC 3339). Defaults to the file's modification time.
    #[arg(long)]
    pub(crate) as_of: Option<String>,
    /// Read the file in this encoding instead of detecting it (`utf-8` or `shift_jis`).
    #[arg(long)]
    pub(crate) encoding: Option<String>,
    /// Reject files larger than this many bytes (default 100 MiB).
    #[arg(long)]
    pub(crate) max_bytes: Option<u64>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// The database to migrate. Defaults to the local cluster of this checkout.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,
    /// Migrate into this schema (created when missing), as pull-request previews do.
    #[arg(long)]
    pub(crate) schema: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LocalArgs {
    #[command(subcommand)]
    pub(crate) action: LocalAction,
    /// Print the result as JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LocalAction {
    /// Start the local stand-ins (idempotent).
    Up,
    /// Stop them.
    Down,
    /// Say what runs where.
    Status,
    /// Print `export` lines that point tools at the local stand-ins.
    Env,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Print one JSON document (deploy summary, upload outcomes, statistics); progress goes to stderr.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    pub(crate) bench: Bench,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Bench {
    /// Import N generated rows and compare with psql's `\copy` plus one merge.
    Import {
        /// How many rows the generated file has.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export N generated rows to Parquet and compare with psql's `\copy (SELECT ...) TO` a CSV file of the same rows; prints both times, the ratio and the export's peak memory.
    Export {
        /// How many users and statistics rows the generated table has.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put a burst of files into the local stack at once and report how the executions ended, their times, the most database connections in use, throttles and retries, and whether the newest file won. Exit 0 all succeeded within the budget, 1 otherwise.
    Load {
        /// How many files take the distributed map's path.
        #[arg(long, default_value_t = 100)]
        files: u32,
        /// Rows in each of those files.
        #[arg(long, default_value_t = 5_000)]
        rows: u32,
        /// How many files take the bulk task's path.
        #[arg(long, default_value_t = 0)]
        bulk: u32,
        /// Rows in each bulk file (large enough to be over import.mapMaxBytes).
        #[arg(long, default_value_t = 1_000_000)]
        bulk_rows: u32,
        /// How long to keep counting connections after the last execution, to see them drop.
        #[arg(long, value_name = "SECONDS", default_value_t = 75)]
        settle: u64,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// The environment: `local`, `staging`, `production` or `preview-pr-<N>`.
    #[arg(long)]
    pub(crate) env: String,
    /// Where the rendered documents go.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Fail when the committed rendered output is stale instead of writing it.
    #[arg(long)]
    pub(crate) check: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Check only this environment (default: every environment).
    #[arg(long)]
    pub(crate) env: Option<String>,
    /// Skip cfn-lint (the other checks still run).
    #[arg(long)]
    pub(crate) no_cfn_lint: bool,
    /// Print findings as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The environment to render on both sides.
    #[arg(long)]
    pub(crate) env: String,
    /// The git revision to compare the working tree against.
    #[arg(long)]
    pub(crate) against: String,
    /// Print the difference as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct GraphArgs {
    /// Which diagram: `state-machine`, `architecture` or `all`.
    #[arg(long, default_value = "all")]
    pub(crate) what: String,
    /// Write the diagrams into the docs instead of printing them.
    #[arg(long)]
    pub(crate) write: bool,
    /// The environment to draw (the docs show staging).
    #[arg(long, default_value = "staging")]
    pub(crate) env: String,
}

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// Extra arguments for `cargo test` (after `--`), e.g. a test name filter.
    #[arg(last = true)]
    pub(crate) cargo_args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Build only this function (repeatable); default: every package under `functions/`.
    #[arg(long = "function", value_name = "NAME")]
    pub(crate) functions: Vec<String>,
    /// Where the zips and `manifest.json` go (default: `lambda/` in cargo's target directory); the dashboard's site goes to `DIR/dashboard`.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Print the manifest as JSON instead of the size table.
    #[arg(long)]
    pub(crate) json: bool,
}
