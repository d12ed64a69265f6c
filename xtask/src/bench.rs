//! `cargo xtask bench import --rows N`: the bulk import against its physical anchor, psql's
//! `\copy` into a staging table plus one `INSERT ... ON CONFLICT DO UPDATE`, in the same run, on
//! the same server, from the same file. `cargo xtask bench export --rows N`: the Parquet export
//! against psql's `\copy (SELECT ...) TO` a CSV file of the same query, on the same table.

use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use sqlx::Executor as _;
use userlog_local::LocalStack;
use userlog_local::postgres::binaries::PgBinaries;

use crate::cli::{Bench, BenchArgs};

/// Environment variable naming a file where the process writes its peak resident memory at exit.
pub(crate) const PEAK_RSS_FILE_ENV: &str = "XTASK_PEAK_RSS_FILE";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Measurement {
    scenario: &'static str,
    rows: u64,
    import_seconds: f64,
    anchor_seconds: f64,
    ratio: f64,
    import_peak_rss_bytes: u64,
}

pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    match args.bench {
        Bench::Import { rows, json } => bench_import(rows, json),
        Bench::Export { rows, json } => bench_export(rows, json),
        Bench::Load {
            files,
            rows,
            bulk,
            bulk_rows,
            settle,
            json,
        } => crate::bench_load::run(crate::bench_load::LoadArgs {
            files,
            rows,
            bulk,
            bulk_rows,
            settle_seconds: settle,
            json,
        }),
    }
}

fn bench_import(rows: u64, json: bool) -> anyhow::Result<ExitCode> {
    if rows == 0 || rows > 9_999_999 {
        bail!("--rows must be between 1 and 9999999 (user ids have 7 digits)");
    }
    let stack = LocalStack::discover()?;
    let report = stack.postgres.up(&mut |step| eprintln!("bench: {step}"))?;
    let admin_url = report
        .status
        .url
        .context("the local PostgreSQL cluster did not report its URL")?;
    let psql = PgBinaries::discover()?.program("psql");
    let work = stack.dir().path().join("bench");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

    eprintln!("bench: writing two files of {rows} rows");
    let first = work.join(format!("load-{rows}.csv"));
    let second = work.join(format!("update-{rows}.csv"));
    write_file(&first, rows, 1)?;
    write_file(&second, rows, 2)?;

    let runtime = tokio::runtime::Runtime::new()?;
    let ours = runtime.block_on(fresh_database(&admin_url, "bench_import", rows))?;
    let anchor = runtime.block_on(fresh_database(&admin_url, "bench_anchor", rows))?;

    let mut results = Vec::new();
    for (scenario, file, as_of) in [
        ("load", &first, "2026-01-01T00:00:00Z"),
        ("update", &second, "2026-01-02T00:00:00Z"),
    ] {
        eprintln!("bench: {scenario}: import");
        let (import_time, peak_rss) = time_import(&ours, file, as_of, &work)?;
        eprintln!("bench: {scenario}: anchor (psql \\copy + merge)");
        let anchor_time = time_anchor(&psql, &anchor, file, as_of)?;
        results.push(Measurement {
            scenario,
            rows,
            import_seconds: import_time.as_secs_f64(),
            anchor_seconds: anchor_time.as_secs_f64(),
            ratio: import_time.as_secs_f64() / anchor_time.as_secs_f64(),
            import_peak_rss_bytes: peak_rss,
        });
    }
    runtime.block_on(async {
        let mut admin = sqlx::PgConnection::connect_with_url(&admin_url).await?;
        for name in ["bench_import", "bench_anchor"] {
            admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await?;
        }
        anyhow::Ok(())
    })?;
    let _ = std::fs::remove_file(&first);
    let _ = std::fs::remove_file(&second);

    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!(
            "{:<8} {:>10} {:>12} {:>12} {:>7} {:>14}",
            "scenario", "rows", "import (s)", "anchor (s)", "ratio", "peak RSS (MB)"
        );
        for m in &results {
            println!(
                "{:<8} {:>10} {:>12.2} {:>12.2} {:>7.2} {:>14.1}",
                m.scenario,
                m.rows,
                m.import_seconds,
                m.anchor_seconds,
                m.ratio,
                m.import_peak_rss_bytes as f64 / 1_048_576.0
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExportMeasurement {
    rows: u64,
    export_seconds: f64,
    anchor_seconds: f64,
    ratio: f64,
    export_peak_rss_bytes: u64,
    parquet_bytes: u64,
    csv_bytes: u64,
    row_groups: u64,
}

/// `bench export`: a table of `rows` users and statistics, exported to Parquet by `xtask export`
/// (its own process, for its peak memory), against psql's `\copy` of the same query to CSV.
fn bench_export(rows: u64, json: bool) -> anyhow::Result<ExitCode> {
    if rows == 0 || rows > 9_999_999 {
        bail!("--rows must be between 1 and 9999999 (user ids have 7 digits)");
    }
    let stack = LocalStack::discover()?;
    let report = stack.postgres.up(&mut |step| eprintln!("bench: {step}"))?;
    let admin_url = report
        .status
        .url
        .context("the local PostgreSQL cluster did not report its URL")?;
    let psql = PgBinaries::discover()?.program("psql");
    let work = stack.dir().path().join("bench").join("export");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

    eprintln!("bench: a table of {rows} users and statistics");
    let runtime = tokio::runtime::Runtime::new()?;
    let url = runtime.block_on(async {
        let url = fresh_database(&admin_url, "bench_export", rows).await?;
        let pool = userlog_db::migrate::connect_pool(&url, None, 1).await?;
        sqlx::query(
            "INSERT INTO imports (idempotency_key, source_bucket, source_key, source_etag, as_of, status)
             VALUES ('bench-export', 'bench', 'bench', 'bench', '2026-11-30T15:00:00Z', 'succeeded')",
        )
        .execute(&pool)
        .await?;
        sqlx::query(
            "INSERT INTO user_statistics (user_id, login_count, post_count, last_updated, as_of, import_id)
             SELECT 'U' || lpad(i::text, 7, '0'), (i * 7) % 100000, (i * 3) % 10000,
                    timestamptz '2026-11-30T15:00:00Z' + i * interval '1 millisecond',
                    timestamptz '2026-11-30T15:00:00Z', 1
             FROM generate_series(0, $1 - 1) AS i",
        )
        .bind(rows as i64)
        .execute(&pool)
        .await?;
        pool.execute("VACUUM ANALYZE user_statistics").await?;
        anyhow::Ok(url)
    })?;

    eprintln!("bench: export (xtask export --out)");
    let rss_file = work.join("peak-rss");
    let out = work.join("lake");
    let started = Instant::now();
    let output = Command::new(std::env::current_exe()?)
        .args([
            "export",
            "--database-url",
            &url,
            "--date",
            "2026-12-01",
            "--json",
            "--out",
        ])
        .arg(&out)
        .env(PEAK_RSS_FILE_ENV, &rss_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run the export")?;
    let export_time = started.elapsed();
    if !output.status.success() {
        bail!(
            "the export failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("the export printed no summary")?;
    if summary["rows"].as_u64() != Some(rows) {
        bail!("the export wrote {} rows, not {rows}", summary["rows"]);
    }
    let peak = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);

    eprintln!("bench: anchor (psql \\copy (SELECT ...) TO a CSV file)");
    let csv = work.join("anchor.csv");
    let script = format!(
        "\\copy ({}) TO '{}' WITH (FORMAT csv)\n",
        userlog_export::source::QUERY,
        csv.display()
    );
    let started = Instant::now();
    run_psql(&psql, &url, &script)?;
    let anchor_time = started.elapsed();
    let csv_bytes = std::fs::metadata(&csv).map(|m| m.len()).unwrap_or(0);

    runtime.block_on(async {
        let mut admin = sqlx::PgConnection::connect_with_url(&admin_url).await?;
        admin
            .execute("DROP DATABASE IF EXISTS bench_export WITH (FORCE)")
            .await?;
        anyhow::Ok(())
    })?;
    let _ = std::fs::remove_dir_all(&work);

    let measured = ExportMeasurement {
        rows,
        export_seconds: export_time.as_secs_f64(),
        anchor_seconds: anchor_time.as_secs_f64(),
        ratio: export_time.as_secs_f64() / anchor_time.as_secs_f64(),
        export_peak_rss_bytes: peak,
        parquet_bytes: summary["bytes"].as_u64().unwrap_or(0),
        csv_bytes,
        row_groups: summary["rowGroups"].as_u64().unwrap_or(0),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&measured)?);
    } else {
        println!(
            "{:>10} {:>12} {:>12} {:>7} {:>14} {:>13} {:>10} {:>11}",
            "rows",
            "export (s)",
            "anchor (s)",
            "ratio",
            "peak RSS (MB)",
            "Parquet (MB)",
            "CSV (MB)",
            "row groups"
        );
        println!(
            "{:>10} {:>12.2} {:>12.2} {:>7.2} {:>14.1} {:>13.1} {:>10.1} {:>11}",
            measured.rows,
            measured.export_seconds,
            measured.anchor_seconds,
            measured.ratio,
            measured.export_peak_rss_bytes as f64 / 1_048_576.0,
            measured.parquet_bytes as f64 / 1_048_576.0,
            measured.csv_bytes as f64 / 1_048_576.0,
            measured.row_groups
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a psql script against `url`, failing with psql's message.
fn run_psql(psql: &PathBuf, url: &str, script: &str) -> anyhow::Result<()> {
    let output = Command::new(psql)
        .args(["--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", "-d", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .map(|mut stdin| stdin.write_all(script.as_bytes()))
                .transpose()?;
            child.wait_with_output()
        })
        .context("cannot run psql")?;
    if !output.status.success() {
        bail!("psql failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

trait ConnectWithUrl: Sized {
    async fn connect_with_url(url: &str) -> anyhow::Result<Self>;
}

impl ConnectWithUrl for sqlx::PgConnection {
    async fn connect_with_url(url: &str) -> anyhow::Result<Self> {
        use sqlx::Connection as _;
        sqlx::PgConnection::connect(url)
            .await
            .with_context(|| "cannot connect to the local cluster".to_owned())
    }
}

/// `U0000000` .. with counts that differ between `generation`s.
fn write_file(path: &Path, rows: u64, generation: u64) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    writeln!(out, "user_id,login_count,post_count")?;
    for i in 0..rows {
        writeln!(
            out,
            "U{i:07},{},{}",
            (i * 7 + generation * 13) % 100_000,
            (i * 3 + generation) % 10_000
        )?;
    }
    out.flush()?;
    Ok(())
}

/// A new migrated database named `name` with `rows` users.
async fn fresh_database(admin_url: &str, name: &str, rows: u64) -> anyhow::Result<String> {
    let mut admin = sqlx::PgConnection::connect_with_url(admin_url).await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    let url = replace_database(admin_url, name);
    userlog_db::migrate::run(url.as_str(), None).await?;
    let pool = userlog_db::migrate::connect_pool(&url, None, 1).await?;
    sqlx::query(
        "INSERT INTO users (user_id, username, email)
         SELECT 'U' || lpad(i::text, 7, '0'), 'user ' || i, 'user' || i || '@example.com'
         FROM generate_series(0, $1 - 1) AS i",
    )
    .bind(rows as i64)
    .execute(&pool)
    .await?;
    pool.execute("VACUUM ANALYZE users").await?;
    Ok(url)
}

fn replace_database(url: &str, name: &str) -> String {
    match url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => url.to_owned(),
    }
}

/// Runs `xtask import` as its own process, as a user would, and reads its peak memory.
fn time_import(
    url: &str,
    file: &Path,
    as_of: &str,
    work: &Path,
) -> anyhow::Result<(Duration, u64)> {
    let rss_file = work.join("peak-rss");
    let _ = std::fs::remove_file(&rss_file);
    let started = Instant::now();
    let output = Command::new(std::env::current_exe()?)
        .args([
            "import",
            &file.display().to_string(),
            "--database-url",
            url,
            "--as-of",
            as_of,
            "--json",
        ])
        .env(PEAK_RSS_FILE_ENV, &rss_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run the import")?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "the import failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    let peak = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    Ok((elapsed, peak))
}

/// psql's `\copy` into a staging table and one merge, in one session and one transaction.
fn time_anchor(psql: &PathBuf, url: &str, file: &Path, as_of: &str) -> anyhow::Result<Duration> {
    let script = format!(
        "BEGIN;
         INSERT INTO imports (idempotency_key, source_bucket, source_key, source_etag, as_of, status)
              VALUES ('anchor-{as_of}', 'bench', 'anchor', 'anchor', '{as_of}', 'running');
         CREATE TEMP TABLE staging (user_id text, login_count int, post_count int) ON COMMIT DROP;
         \\copy staging FROM '{file}' WITH (FORMAT csv, HEADER true)
         INSERT INTO user_statistics (user_id, login_count, post_count, as_of, import_id, last_updated)
              SELECT user_id, login_count, post_count, '{as_of}', currval('imports_import_id_seq'), now() FROM staging
         ON CONFLICT (user_id) DO UPDATE SET login_count = EXCLUDED.login_count, post_count = EXCLUDED.post_count,
              as_of = EXCLUDED.as_of, import_id = EXCLUDED.import_id, last_updated = EXCLUDED.last_updated;
         COMMIT;",
        file = file.display()
    );
    let started = Instant::now();
    let output = Command::new(psql)
        .args(["--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", "-d", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .map(|mut stdin| stdin.write_all(script.as_bytes()))
                .transpose()?;
            child.wait_with_output()
        })
        .context("cannot run psql")?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "the anchor failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(elapsed)
}

/// Writes this process's peak resident memory (VmHWM) where the benchmark asked for it.
pub(crate) fn record_peak_rss() {
    let Some(path) = std::env::var_os(PEAK_RSS_FILE_ENV) else {
        return;
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let _ = std::fs::write(path, (kib * 1024).to_string());
}
