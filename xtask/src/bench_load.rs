//! `cargo xtask bench load --files N --rows R [--bulk M] [--bulk-rows B] [--json]`: a burst of
//! imports on the local stack (deployed by `cargo xtask demo` or `deploy`). It puts N files of R
//! rows (the distributed map's path) and M files of B rows (the bulk task's path) into the input
//! bucket at once, samples the database connections in use (`pg_stat_activity`) throughout, waits
//! for every execution, and reports how they ended, the wall time, p50/p95 execution time, the
//! most connections in use against the budget, the throttles, retries and database errors in the
//! executions' histories (the map's child executions included), and whether the newest file won
//! for every user. Exit 0 when every execution succeeded, the newest file won everywhere and the
//! connections stayed within the budget; 1 otherwise.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, SubsecRound as _, TimeDelta, Utc};
use serde::Serialize;
use userlog_deploy::load::{Failures, by_status, failures, quantile};
use userlog_deploy::sdk::Aws;
use userlog_deploy::upload::UploadTarget;
use userlog_infra::{EnvironmentName, render_environment};
use userlog_local::LocalStack;

use crate::progress::say;
use crate::render::load_templates;

/// How often the connections in use are counted.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// How often the executions are looked at.
const POLL_EVERY: Duration = Duration::from_secs(2);
/// How long the run waits for its executions.
const DEADLINE: Duration = Duration::from_secs(3 * 3600);

/// What to run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadArgs {
    pub(crate) files: u32,
    pub(crate) rows: u32,
    pub(crate) bulk: u32,
    pub(crate) bulk_rows: u32,
    pub(crate) settle_seconds: u64,
    pub(crate) json: bool,
}

/// One file of the burst.
#[derive(Debug, Clone)]
struct LoadFile {
    /// Its place in as-of order (1 is the oldest); also every row's login count.
    rank: u32,
    key: String,
    rows: u32,
}

/// The report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LoadReport {
    files: u32,
    rows: u32,
    bulk_files: u32,
    bulk_rows: u32,
    executions_by_status: BTreeMap<String, u64>,
    wall_seconds: f64,
    p50_seconds: Option<f64>,
    p95_seconds: Option<f64>,
    max_connections_in_use: i64,
    connections_after_settle: i64,
    connection_limit: u32,
    budget_total: u32,
    failures: Failures,
    child_executions: u64,
    newest_file_won: bool,
    users_not_newest: i64,
    machine: String,
}

pub(crate) fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    if args.files + args.bulk == 0 {
        bail!("nothing to run: give --files N or --bulk M");
    }
    if args.rows == 0 || args.bulk_rows == 0 || args.rows.max(args.bulk_rows) > 9_999_999 {
        bail!("--rows and --bulk-rows must be between 1 and 9999999 (user ids have 7 digits)");
    }
    crate::runtime()?.block_on(load(args))
}

async fn load(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let environment = EnvironmentName::Local;
    let rendered = render_environment(environment, &load_templates()?)
        .with_context(|| format!("could not render {environment}"))?;
    let (budget, _) = userlog_infra::budget::check(&rendered);
    let config = userlog_infra::render::load_environment(environment, &load_templates()?)?;
    if u64::from(args.bulk_rows) * 17 <= config.import.map_max_bytes && args.bulk > 0 {
        bail!(
            "--bulk-rows {} makes files under import.mapMaxBytes ({} bytes): they would take the map path",
            args.bulk_rows,
            config.import.map_max_bytes
        );
    }
    let stack = LocalStack::discover()?;
    let database_url = stack.postgres.database_url()?;
    let pool = crate::connect(&database_url, None).await?;
    let (sdk, settings) = crate::aws_env::sdk_for(environment).await?;
    let aws = Aws::new(&sdk, &settings);
    let target = UploadTarget::resolve(&aws, &rendered.stack_name, &environment.to_string())
        .await
        .context("the local stack is not deployed: run `cargo xtask demo` (or `cargo xtask deploy`) first")?;

    let users = args
        .rows
        .max(if args.bulk > 0 { args.bulk_rows } else { 0 });
    say(args.json, &format!("bench load: seeding {users} users"));
    sqlx::query(
        "INSERT INTO users (user_id, username, email)
         SELECT 'L' || lpad(i::text, 7, '0'), 'load user ' || i, 'load' || i || '@example.com'
         FROM generate_series(0, $1 - 1) AS i
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(i64::from(users))
    .execute(&pool)
    .await
    .context("cannot seed the load users")?;
    // The tooling's own connections would count as in use: none stays open during the burst.
    pool.close().await;

    // As-of times are this run's start plus the file's rank in seconds, so that a later run's
    // files are newer than an earlier run's. The bulk files are spread among the map files.
    let base = Utc::now().trunc_subsecs(0);
    let files = plan_files(&args, base);
    say(
        args.json,
        &format!(
            "bench load: writing {} files ({} of {} rows, {} of {} rows)",
            files.len(),
            args.files,
            args.rows,
            args.bulk,
            args.bulk_rows
        ),
    );
    let bodies: Vec<Vec<u8>> = files.iter().map(body).collect();

    let sampler = Sampler::start(&database_url).await?;
    say(args.json, "bench load: uploading every file at once");
    let started = Instant::now();
    let burst_start = Utc::now();
    // One after the other, as fast as the emulator takes them (the files are in memory already).
    for (file, bytes) in files.iter().zip(bodies) {
        aws.put_bytes(&target.bucket, &file.key, bytes, "text/csv")
            .await
            .with_context(|| format!("uploading {} failed", file.key))?;
    }

    let keys: HashMap<String, u32> = files.iter().map(|f| (f.key.clone(), f.rank)).collect();
    let executions = wait_for_executions(&aws, &target, &keys, burst_start, args.json).await?;
    let wall = started.elapsed();
    say(
        args.json,
        &format!(
            "bench load: every execution stopped after {:.1} s; settling for {} s",
            wall.as_secs_f64(),
            args.settle_seconds
        ),
    );
    tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
    let (max_in_use, after) = sampler.stop();

    say(args.json, "bench load: reading the executions' histories");
    let mut counted = Failures::default();
    let mut children = 0;
    for execution in &executions {
        counted.add(failures(&aws.history(&execution.arn).await?));
        for run in aws.map_runs(&execution.arn).await? {
            for child in aws.map_run_executions(&run).await? {
                children += 1;
                counted.add(failures(&aws.history(&child).await?));
            }
        }
    }
    let durations: Vec<f64> = executions
        .iter()
        .filter_map(|e| Some((e.stop? - e.start).as_seconds_f64()))
        .collect();
    let pool = crate::connect(&database_url, None).await?;
    let not_newest = users_not_newest(&pool, &files, base).await?;
    let report = LoadReport {
        files: args.files,
        rows: args.rows,
        bulk_files: args.bulk,
        bulk_rows: args.bulk_rows,
        executions_by_status: by_status(executions.iter().map(|e| e.status.as_str())),
        wall_seconds: wall.as_secs_f64(),
        p50_seconds: quantile(&durations, 0.5),
        p95_seconds: quantile(&durations, 0.95),
        max_connections_in_use: max_in_use,
        connections_after_settle: after,
        connection_limit: budget.limit,
        budget_total: budget.total,
        failures: counted,
        child_executions: children,
        newest_file_won: not_newest == 0,
        users_not_newest: not_newest,
        machine: machine(),
    };
    let succeeded =
        report.executions_by_status.get("SUCCEEDED").copied() == Some(files.len() as u64);
    let ok = succeeded && report.newest_file_won && i64::from(budget.limit) >= max_in_use;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary(&report));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The files of the burst, in upload order, with their ranks in as-of order.
fn plan_files(args: &LoadArgs, base: DateTime<Utc>) -> Vec<LoadFile> {
    let total = args.files + args.bulk;
    // Bulk file j (0-based) takes rank (j + 1) * (total + 1) / (bulk + 1), the map files the rest.
    let bulk_ranks: Vec<u32> = (0..args.bulk)
        .map(|j| ((j + 1) * (total + 1) / (args.bulk + 1)).clamp(1, total))
        .collect();
    let run = base.format("%Y%m%dT%H%M%S");
    (1..=total)
        .map(|rank| {
            let bulk = bulk_ranks.contains(&rank);
            let as_of = base + TimeDelta::seconds(i64::from(rank));
            LoadFile {
                rank,
                key: format!(
                    "incoming/load-{run}-{rank:04}-{}-{}.csv",
                    if bulk { "bulk" } else { "map" },
                    as_of.format("%Y%m%dT%H%M%SZ")
                ),
                rows: if bulk { args.bulk_rows } else { args.rows },
            }
        })
        .collect()
}

/// A file's bytes: users `L0000000`.. with the file's rank as every login count.
fn body(file: &LoadFile) -> Vec<u8> {
    let mut out = Vec::with_capacity(file.rows as usize * 20);
    let _ = writeln!(out, "user_id,login_count,post_count");
    for i in 0..file.rows {
        let _ = writeln!(out, "L{i:07},{},{}", file.rank, i % 1000);
    }
    out
}

/// How many of the burst's users do not hold the counts and as-of time of the newest file that
/// has them (every file has users from `L0000000` up to its row count).
async fn users_not_newest(
    pool: &sqlx::PgPool,
    files: &[LoadFile],
    base: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let mut bounds: Vec<u32> = files.iter().map(|f| f.rows).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut wrong = 0;
    let mut lower = 0;
    for upper in bounds {
        // Users [lower, upper) are in every file of at least `upper` rows; the newest wins.
        let newest = files
            .iter()
            .filter(|f| f.rows >= upper)
            .map(|f| f.rank)
            .max()
            .unwrap_or(0);
        let as_of = base + TimeDelta::seconds(i64::from(newest));
        let (count,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM generate_series($1, $2 - 1) AS i
             LEFT JOIN user_statistics s ON s.user_id = 'L' || lpad(i::text, 7, '0')
             WHERE s.user_id IS NULL OR s.login_count <> $3 OR s.as_of <> $4",
        )
        .bind(i64::from(lower))
        .bind(i64::from(upper))
        .bind(i64::from(newest))
        .bind(as_of)
        .fetch_one(pool)
        .await
        .context("cannot check the statistics")?;
        wrong += count;
        lower = upper;
    }
    Ok(wrong)
}

/// Counts the client connections of the database every [`SAMPLE_EVERY`] on a connection of its
/// own (not counted), keeping the maximum and the latest count.
struct Sampler {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicI64>,
    last: Arc<AtomicI64>,
}

impl Sampler {
    async fn start(url: &str) -> anyhow::Result<Sampler> {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .context("the sampler cannot connect")?;
        let sampler = Sampler {
            stop: Arc::new(AtomicBool::new(false)),
            max: Arc::new(AtomicI64::new(0)),
            last: Arc::new(AtomicI64::new(0)),
        };
        let (stop, max, last) = (
            sampler.stop.clone(),
            sampler.max.clone(),
            sampler.last.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let counted: Result<(i64,), sqlx::Error> = sqlx::query_as(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND backend_type = 'client backend'
                       AND pid <> pg_backend_pid()",
                )
                .fetch_one(&mut conn)
                .await;
                if let Ok((n,)) = counted {
                    last.store(n, Ordering::Relaxed);
                    max.fetch_max(n, Ordering::Relaxed);
                }
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
        });
        Ok(sampler)
    }

    /// Stops sampling: the most connections seen, and the last count.
    fn stop(&self) -> (i64, i64) {
        self.stop.store(true, Ordering::Relaxed);
        (
            self.max.load(Ordering::Relaxed),
            self.last.load(Ordering::Relaxed),
        )
    }
}

/// Waits until the executions of every key have stopped; returns them.
async fn wait_for_executions(
    aws: &Aws,
    target: &UploadTarget,
    keys: &HashMap<String, u32>,
    burst_start: DateTime<Utc>,
    json: bool,
) -> anyhow::Result<Vec<userlog_deploy::api::ExecutionDetails>> {
    let started = Instant::now();
    let mut ours: HashMap<String, userlog_deploy::api::ExecutionDetails> = HashMap::new();
    let mut others: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut last_line = String::new();
    loop {
        let listing = aws
            .recent_executions(&target.state_machine_arn, 1000)
            .await?;
        for summary in listing {
            if summary.start < burst_start - TimeDelta::seconds(5) || others.contains(&summary.arn)
            {
                continue;
            }
            let known_stopped = ours
                .get(&summary.arn)
                .is_some_and(|e| e.status != "RUNNING");
            if known_stopped {
                continue;
            }
            let details = aws.execution(&summary.arn).await?;
            let key = details
                .input
                .as_deref()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
                .and_then(|input| input.get("key")?.as_str().map(str::to_owned));
            match key {
                Some(key) if keys.contains_key(&key) => {
                    ours.insert(details.arn.clone(), details);
                }
                _ => {
                    others.insert(summary.arn);
                }
            }
        }
        let stopped = ours.values().filter(|e| e.status != "RUNNING").count();
        let line = format!(
            "bench load: {} of {} executions started, {stopped} stopped",
            ours.len(),
            keys.len()
        );
        if line != last_line {
            say(json, &line);
            last_line = line;
        }
        if ours.len() >= keys.len() && stopped == ours.len() {
            let mut done: Vec<_> = ours.into_values().collect();
            done.sort_by_key(|e| e.start);
            return Ok(done);
        }
        if started.elapsed() > DEADLINE {
            bail!(
                "gave up after {} s: {} of {} executions started, {stopped} stopped",
                DEADLINE.as_secs(),
                ours.len(),
                keys.len()
            );
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The machine the figures come from, for the README.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!("{cores} cores")
}

fn summary(report: &LoadReport) -> String {
    let seconds = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1} s"));
    let statuses: Vec<String> = report
        .executions_by_status
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    format!(
        "load: {} files of {} rows + {} bulk files of {} rows ({})\n\
         \x20 executions:            {}\n\
         \x20 wall time:             {:.1} s\n\
         \x20 execution time:        p50 {}, p95 {}\n\
         \x20 connections in use:    at most {} (limit {}, budget {}); {} after settling\n\
         \x20 throttles:             {} (Lambda.TooManyRequestsException), {} retries in all, {} DatabaseError\n\
         \x20 map batches:           {} child executions\n\
         \x20 newest file won:       {}\n",
        report.files,
        report.rows,
        report.bulk_files,
        report.bulk_rows,
        report.machine,
        statuses.join(", "),
        report.wall_seconds,
        seconds(report.p50_seconds),
        seconds(report.p95_seconds),
        report.max_connections_in_use,
        report.connection_limit,
        report.budget_total,
        report.connections_after_settle,
        report.failures.throttles,
        report.failures.retries,
        report.failures.database_errors,
        report.child_executions,
        if report.newest_file_won {
            "yes, for every user".to_owned()
        } else {
            format!("NO: {} users hold older counts", report.users_not_newest)
        },
    )
}
