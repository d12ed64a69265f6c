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
    /// Put a file into an environment's input bucket; with --wait, follow the import it starts. Exit 0 succeeded, 1 failed, 2 could not run.
    Upload(UploadArgs),
    /// Re-run failed imports and follow them to their end, refusing a file a newer one replaced. Exit 0 every one re-ran and succeeded, 1 one was refused or failed again, 2 could not run.
    Redrive(RedriveArgs),
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
    /// Print the summary as JSON (progress stays on stderr).
    #[arg(long)]
    pub(crate) json: bool,
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
    /// Where the zips and `manifest.json` go (default: `lambda/` in cargo's target directory).
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Print the manifest as JSON instead of the size table.
    #[arg(long)]
    pub(crate) json: bool,
}
