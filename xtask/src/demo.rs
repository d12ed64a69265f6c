//! `cargo xtask demo`: starts the local stand-ins, prepares the database, imports the sample
//! files and shows what each did and the resulting statistics.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use userlog_db::bulk::BulkOptions;
use userlog_domain::rules::ImportSummary;
use userlog_local::LocalStack;

use crate::cli::DemoArgs;
use crate::import::{import_file, print_summary};

/// The sample files, in the order the demo imports them, with the time their counts are as of
/// and what each shows.
const SAMPLES: [(&str, &str, &str); 3] = [
    (
        "activity-clean.csv",
        "2026-11-01T09:00:00+09:00",
        "a clean file as Excel in Japan writes it (Shift_JIS, CRLF, Japanese header)",
    ),
    (
        "activity-row-errors.csv",
        "2026-11-02T09:00:00+09:00",
        "a day later, columns in another order, one unknown user among 21 rows (within the 5 % tolerance)",
    ),
    (
        "activity-invalid.csv",
        "2026-11-03T09:00:00+09:00",
        "a bad count, a quoting error and a duplicate user: rejected whole",
    ),
];

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DemoReport {
    database_url: String,
    imports: Vec<(String, ImportSummary)>,
    statistics: Vec<StatisticsRow>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct StatisticsRow {
    user_id: String,
    username: String,
    login_count: i32,
    post_count: i32,
    as_of: chrono::DateTime<chrono::Utc>,
}

pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let root = crate::workspace_root();
    let samples = root.join("samples");
    let stack = LocalStack::discover()?;
    step(args, "starting the local PostgreSQL cluster");
    let report = stack.postgres.up(&mut |line| {
        if !args.json {
            eprintln!("  {line}");
        }
    })?;
    let url = report
        .status
        .url
        .context("the local cluster did not report its URL")?;

    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(async {
        step(args, "applying migrations");
        let migrated = userlog_db::migrate::run(url.as_str(), None).await?;
        if !args.json {
            eprintln!(
                "  {} applied now, {} already there",
                migrated.applied.len(),
                migrated.already_applied
            );
        }
        let pool = crate::connect(&url, None).await?;
        step(args, "seeding sample users from samples/users.csv");
        let users = seed_users(&pool, &samples.join("users.csv")).await?;
        if !args.json {
            eprintln!("  {users} users");
        }
        let mut imports = Vec::new();
        for (name, as_of, what) in SAMPLES {
            step(
                args,
                &format!("importing samples/{name} as of {as_of}: {what}"),
            );
            let as_of = chrono::DateTime::parse_from_rfc3339(as_of)?.with_timezone(&chrono::Utc);
            let file = samples.join(name);
            let summary = import_file(
                &pool,
                &file,
                Some(as_of),
                &BulkOptions::default(),
                args.json,
            )
            .await?;
            if !args.json {
                print_summary(&summary);
            }
            imports.push((name.to_owned(), summary));
        }
        let statistics: Vec<StatisticsRow> = sqlx::query_as(
            "SELECT s.user_id, u.username, s.login_count, s.post_count, s.as_of
             FROM user_statistics s JOIN users u USING (user_id) ORDER BY s.user_id",
        )
        .fetch_all(&pool)
        .await?;
        anyhow::Ok(DemoReport {
            database_url: url.clone(),
            imports,
            statistics,
        })
    })?;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!();
        println!(
            "{:<8} {} {:>8} {:>6}  as of",
            "user",
            pad("name", 14),
            "logins",
            "posts"
        );
        for row in &report.statistics {
            println!(
                "{:<8} {} {:>8} {:>6}  {}",
                row.user_id,
                pad(&row.username, 14),
                row.login_count,
                row.post_count,
                row.as_of.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
        println!();
        println!(
            "The database stays up for you to look around: eval \"$(cargo xtask local env)\" && psql \"$DATABASE_URL\""
        );
        println!(
            "Run the demo again: every file is then reported as already imported, and nothing changes."
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Pads to a width in terminal columns: Japanese characters take two.
fn pad(text: &str, width: usize) -> String {
    let used = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

fn step(args: &DemoArgs, what: &str) {
    if !args.json {
        eprintln!("==> {what}");
    }
}

/// Creates the users of a `user_id,username,email` file that do not exist yet.
async fn seed_users(pool: &sqlx::PgPool, file: &Path) -> anyhow::Result<u64> {
    let mut reader =
        csv::Reader::from_path(file).with_context(|| format!("cannot read {}", file.display()))?;
    let (mut ids, mut names, mut emails) = (Vec::new(), Vec::new(), Vec::new());
    for record in reader.records() {
        let record =
            record.with_context(|| format!("{} is not a valid users file", file.display()))?;
        ids.push(record.get(0).unwrap_or_default().to_owned());
        names.push(record.get(1).unwrap_or_default().to_owned());
        emails.push(record.get(2).unwrap_or_default().to_owned());
    }
    sqlx::query(
        "INSERT INTO users (user_id, username, email)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&names)
    .bind(&emails)
    .execute(pool)
    .await?;
    Ok(ids.len() as u64)
}
