//! `cargo xtask demo`: the whole pipeline on this machine. It deploys the `local` environment to
//! the emulator (starting the local stand-ins), seeds the sample users, uploads the sample files
//! into the input bucket, follows the import each upload starts, and shows what each did and the
//! resulting statistics. Exit 0 when every sample ended as expected, 1 otherwise, 2 when the demo
//! could not run.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use userlog_deploy::flow::DeploySummary;
use userlog_deploy::sdk::Aws;
use userlog_deploy::upload::{UploadOutcome, UploadTarget};
use userlog_domain::rules::as_of_from_key;
use userlog_infra::EnvironmentName;
use userlog_local::LocalStack;

use crate::cli::DemoArgs;
use crate::deploy::{DeployOptions, deploy_environment, render_summary};
use crate::progress::say;
use crate::upload::upload_and_follow;

/// How long the demo follows one execution before giving up on it.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(600);

/// How a sample's upload should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "rowErrors")]
enum Expected {
    /// The import applies every row: the execution succeeds without row errors.
    Applied,
    /// The import applies the file with this many row errors (within the tolerance): the
    /// execution succeeds.
    AppliedWithRowErrors(u64),
    /// Validation rejects the file whole: the execution fails and nothing changes.
    Rejected,
}

/// A sample file the demo uploads.
struct Sample {
    /// The file under `samples/`.
    file: &'static str,
    /// The object key, which holds the time the file's counts are as of, so that the samples
    /// apply in this order whenever they are uploaded.
    key: &'static str,
    /// What it shows.
    shows: &'static str,
    /// How its upload should end.
    expected: Expected,
}

/// The sample files, in the order the demo uploads them.
const SAMPLES: [Sample; 3] = [
    Sample {
        file: "activity-clean.csv",
        key: "incoming/activity-clean-20261101T000000Z.csv",
        shows: "a clean file as Excel in Japan writes it (Shift_JIS, CRLF, Japanese header); \
                validate-csv sends Shift_JIS files to the bulk path, the ECS import task \
                (a local process here)",
        expected: Expected::Applied,
    },
    Sample {
        file: "activity-row-errors.csv",
        key: "incoming/activity-row-errors-20261102T000000Z.csv",
        shows: "a day later, UTF-8, columns in another order, one unknown user among 21 rows; \
                the distributed map of Lambda batches applies it, the row error within the \
                5 % tolerance",
        expected: Expected::AppliedWithRowErrors(1),
    },
    Sample {
        file: "activity-invalid.csv",
        key: "incoming/activity-invalid-20261103T000000Z.csv",
        shows: "a bad count, a quoting error and a duplicate user: validation rejects it whole, \
                so its execution FAILS (as it should) and nothing changes",
        expected: Expected::Rejected,
    },
];

/// How an upload ended compared with what the demo expects of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "reason")]
enum Verdict {
    /// It ended as expected.
    AsExpected,
    /// The same object (key and ETag) was imported before, by an earlier run of the demo: the
    /// ledger says so and nothing is applied again. What a rerun shows.
    AlreadyImported,
    /// It did not end as expected, for this reason.
    Unexpected(String),
}

impl Verdict {
    /// Whether the demo counts the upload as a success.
    fn is_expected(&self) -> bool {
        !matches!(self, Verdict::Unexpected(_))
    }
}

/// How an upload ended compared with `expected`.
fn judge(expected: Expected, outcome: &UploadOutcome) -> Verdict {
    if outcome.duplicate && outcome.succeeded() {
        return Verdict::AlreadyImported;
    }
    let row_errors = outcome.row_errors.unwrap_or(0);
    let problem = match expected {
        Expected::Applied | Expected::AppliedWithRowErrors(_) if !outcome.succeeded() => {
            Some(format!("the execution ended {}", outcome.status))
        }
        Expected::Applied if row_errors != 0 => Some(format!(
            "{row_errors} row error(s) where none were expected"
        )),
        Expected::AppliedWithRowErrors(wanted) if row_errors != wanted => Some(format!(
            "{row_errors} row error(s) where {wanted} were expected"
        )),
        Expected::Rejected if outcome.status != "FAILED" => Some(format!(
            "the execution ended {} where validation should have failed it",
            outcome.status
        )),
        _ => None,
    };
    problem.map_or(Verdict::AsExpected, Verdict::Unexpected)
}

/// The line said under an upload's outcome, which applied `rows_applied` rows.
fn verdict_line(expected: Expected, verdict: &Verdict, rows_applied: Option<u64>) -> String {
    // An import that changes nothing is still an import: the counts were already there, from an
    // earlier import of the same or a later as-of time.
    let unchanged = if rows_applied == Some(0) {
        " (no count changed: the database already held these counts or newer ones)"
    } else {
        ""
    };
    match verdict {
        Verdict::AsExpected => match expected {
            Expected::Applied => format!("as expected: applied, no row errors{unchanged}"),
            Expected::AppliedWithRowErrors(count) => format!(
                "as expected: applied, with {count} row error(s) within the tolerance{unchanged}"
            ),
            Expected::Rejected => {
                "as expected: rejected by validation, so the execution FAILED and nothing changed"
                    .to_owned()
            }
        },
        Verdict::AlreadyImported => "already imported: this very object (same key and ETag) was \
             imported before, by an earlier run, so the ledger skipped it and nothing was applied \
             again"
            .to_owned(),
        Verdict::Unexpected(reason) => format!("NOT as expected: {reason}"),
    }
}

/// One upload of the demo.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SampleUpload {
    /// The file under `samples/`.
    sample: String,
    /// The time its counts are as of, from its key.
    as_of: Option<DateTime<Utc>>,
    expected: Expected,
    verdict: Verdict,
    /// Whether it ended as expected (a rerun's "already imported" counts).
    as_expected: bool,
    outcome: UploadOutcome,
}

/// The JSON output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DemoReport {
    deploy: DeploySummary,
    database_url: String,
    users_seeded: u64,
    uploads: Vec<SampleUpload>,
    statistics: Vec<StatisticsRow>,
    /// Whether every sample ended as expected.
    as_expected: bool,
    /// A `curl` line that asks `cargo xtask serve-api` for a sample user's statistics.
    api_curl: String,
    /// The address of the dashboard that `cargo xtask dashboard serve` serves, with a token of
    /// the local issuer (valid for eight hours) in its fragment.
    dashboard_url: Option<String>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct StatisticsRow {
    user_id: String,
    username: String,
    login_count: i32,
    post_count: i32,
    as_of: DateTime<Utc>,
}

pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    crate::runtime()?.block_on(demo(args))
}

async fn demo(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let environment = EnvironmentName::Local;
    let samples = crate::workspace_root().join("samples");
    let tell = |line: &str| say(args.json, line);

    tell(&format!(
        "==> deploying {environment} to the emulator (progress on stderr)"
    ));
    let options = DeployOptions {
        json: args.json,
        ..Default::default()
    };
    let deploy = deploy_environment(environment, &options)
        .await
        .with_context(|| format!("the deploy of {environment} failed"))?;
    if !args.json {
        print!("{}", render_summary(&deploy));
    }
    if !deploy.healthy() {
        tell("The deploy's health checks failed, so the demo stops here.");
        if args.json {
            println!("{}", serde_json::to_string_pretty(&deploy)?);
        }
        return Ok(ExitCode::from(1));
    }

    let database_url = local_database_url()?;
    let pool = crate::connect(&database_url, None).await?;
    tell("==> seeding the sample users of samples/users.csv");
    let users_seeded = seed_users(&pool, &samples.join("users.csv")).await?;
    tell(&format!(
        "{users_seeded} users in the file (those already there are kept)"
    ));

    let (config, settings) = crate::aws_env::sdk_for(environment).await?;
    let aws = Aws::new(&config, &settings);
    let target = UploadTarget::resolve(&aws, &deploy.stack_name, &environment.to_string()).await?;
    let mut uploads = Vec::new();
    for (index, sample) in SAMPLES.iter().enumerate() {
        let as_of = as_of_from_key(sample.key);
        tell("");
        tell(&format!(
            "==> [{}/{}] samples/{} as {}{}",
            index + 1,
            SAMPLES.len(),
            sample.file,
            sample.key,
            as_of
                .map(|t| format!(" (as of {})", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default()
        ));
        tell(&format!("    {}", sample.shows));
        let outcome = upload_and_follow(
            &aws,
            &target,
            &samples.join(sample.file),
            sample.key,
            FOLLOW_TIMEOUT,
            &mut |line| tell(line),
        )
        .await
        .with_context(|| format!("the upload of samples/{} failed", sample.file))?;
        let verdict = judge(sample.expected, &outcome);
        if !args.json {
            print!("{}", outcome.summary());
        }
        tell(&format!(
            "  => {}",
            verdict_line(sample.expected, &verdict, outcome.rows_applied)
        ));
        uploads.push(SampleUpload {
            sample: sample.file.to_owned(),
            as_of,
            expected: sample.expected,
            as_expected: verdict.is_expected(),
            verdict,
            outcome,
        });
    }

    let statistics: Vec<StatisticsRow> = sqlx::query_as(
        "SELECT s.user_id, u.username, s.login_count, s.post_count, s.as_of
         FROM user_statistics s JOIN users u USING (user_id) ORDER BY s.user_id",
    )
    .fetch_all(&pool)
    .await
    .context("cannot read the statistics")?;
    let unexpected: Vec<String> = uploads
        .iter()
        .filter(|upload| !upload.as_expected)
        .map(|upload| upload.sample.clone())
        .collect();
    let dashboard_url = match crate::dashboard::dashboard_token() {
        Ok(token) => Some(crate::dashboard::url_with_token(
            crate::dashboard::DEFAULT_PORT,
            &token,
        )),
        Err(err) => {
            eprintln!("(no dashboard token: {err:#})");
            None
        }
    };
    let report = DemoReport {
        dashboard_url,
        deploy,
        database_url,
        users_seeded,
        uploads,
        api_curl: api_curl(report_user(&statistics)),
        statistics,
        as_expected: unexpected.is_empty(),
    };

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!();
        print!("{}", statistics_table(&report.statistics));
        println!();
        if unexpected.is_empty() {
            println!("Every sample ended as expected.");
        } else {
            println!("Not as expected: {}.", unexpected.join(", "));
        }
        println!(
            "Look next: `cargo xtask local status` (what runs where, logs), `cargo xtask upload FILE --wait` (import a file of your own; a key holding YYYYMMDDTHHMMSSZ sets its as-of time)."
        );
        println!(
            "The statistics API: start `cargo xtask serve-api` in another terminal, then ask it for a user's statistics:"
        );
        println!("{}", report.api_curl);
        if let Some(url) = &report.dashboard_url {
            println!(
                "The dashboard: run `cargo xtask dashboard serve` (it starts the statistics API too), then open"
            );
            println!("{url}");
        }
    }
    Ok(if unexpected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The port `cargo xtask serve-api` listens on by default.
const SERVE_API_PORT: u16 = 8080;

/// The user the demo's `curl` line asks for: the first with statistics, else the first sample user.
fn report_user(statistics: &[StatisticsRow]) -> &str {
    statistics
        .first()
        .map_or("U00001", |row| row.user_id.as_str())
}

/// The `curl` line that asks the local statistics API for `user`'s statistics with a token of
/// the local test issuer.
fn api_curl(user: &str) -> String {
    format!(
        "curl -sS -H \"Authorization: Bearer $(cargo xtask token)\" http://127.0.0.1:{SERVE_API_PORT}/users/{user}/stats"
    )
}

/// The URL of the local PostgreSQL cluster of this checkout (the deploy started it and migrated
/// it).
fn local_database_url() -> anyhow::Result<String> {
    Ok(LocalStack::discover()?.postgres.database_url()?)
}

/// The statistics as a table, one user a line.
fn statistics_table(rows: &[StatisticsRow]) -> String {
    let mut table = format!(
        "{:<8} {} {:>8} {:>6}  as of\n",
        "user",
        pad("name", 14),
        "logins",
        "posts"
    );
    for row in rows {
        table.push_str(&format!(
            "{:<8} {} {:>8} {:>6}  {}\n",
            row.user_id,
            pad(&row.username, 14),
            row.login_count,
            row.post_count,
            row.as_of.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    table
}

/// Pads to a width in terminal columns: Japanese characters take two.
fn pad(text: &str, width: usize) -> String {
    let used = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

/// Creates the users of a `user_id,username,email` file that do not exist yet, and says how many
/// the file has.
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
    .await
    .context("cannot seed the sample users")?;
    Ok(ids.len() as u64)
}

#[cfg(test)]
mod tests {
    use userlog_deploy::upload::{UploadOutcome, UploadedObject};

    use super::{Expected, Verdict, api_curl, judge, statistics_table, verdict_line};

    fn check(expected: Expected, outcome: &UploadOutcome, wanted: &str) {
        let verdict = judge(expected, outcome);
        assert_eq!(
            verdict_line(expected, &verdict, outcome.rows_applied),
            wanted,
            "{verdict:?}"
        );
    }

    /// An outcome with the fields the verdict reads.
    fn outcome(status: &str, duplicate: bool, row_errors: Option<u64>) -> UploadOutcome {
        outcome_applying(status, duplicate, row_errors, Some(12))
    }

    /// An outcome that applied `rows_applied` rows.
    fn outcome_applying(
        status: &str,
        duplicate: bool,
        row_errors: Option<u64>,
        rows_applied: Option<u64>,
    ) -> UploadOutcome {
        UploadOutcome {
            object: UploadedObject {
                bucket: "local-userlog-input-000000000000".to_owned(),
                key: "incoming/activity-20261101T000000Z.csv".to_owned(),
                etag: "0f343b0931126a20f133d67c2b018a3b".to_owned(),
                size: 512,
            },
            execution_arn: "arn:aws:states:ap-northeast-1:000000000000:execution:import:e1"
                .to_owned(),
            execution_name: "e1".to_owned(),
            status: status.to_owned(),
            error: None,
            cause: None,
            route: None,
            duplicate,
            rows_applied,
            row_errors,
            check_outcome: None,
            import_id: None,
            notified: Vec::new(),
            states: Vec::new(),
        }
    }

    #[test]
    fn each_sample_is_judged_by_how_its_execution_ended() {
        check(
            Expected::Applied,
            &outcome("SUCCEEDED", false, Some(0)),
            "as expected: applied, no row errors",
        );
        check(
            Expected::AppliedWithRowErrors(1),
            &outcome("SUCCEEDED", false, Some(1)),
            "as expected: applied, with 1 row error(s) within the tolerance",
        );
        check(
            Expected::Rejected,
            &outcome("FAILED", false, Some(3)),
            "as expected: rejected by validation, so the execution FAILED and nothing changed",
        );
    }

    #[test]
    fn an_import_that_changes_no_count_says_why() {
        check(
            Expected::Applied,
            &outcome_applying("SUCCEEDED", false, Some(0), Some(0)),
            "as expected: applied, no row errors (no count changed: the database already held \
             these counts or newer ones)",
        );
    }

    #[test]
    fn a_rerun_that_finds_the_object_imported_counts_as_expected() {
        let rerun = outcome("SUCCEEDED", true, Some(0));
        for expected in [
            Expected::Applied,
            Expected::AppliedWithRowErrors(1),
            Expected::Rejected,
        ] {
            assert_eq!(judge(expected, &rerun), Verdict::AlreadyImported);
            assert!(judge(expected, &rerun).is_expected());
        }
    }

    #[test]
    fn other_endings_are_not_as_expected() {
        check(
            Expected::Applied,
            &outcome("FAILED", false, None),
            "NOT as expected: the execution ended FAILED",
        );
        check(
            Expected::Applied,
            &outcome("SUCCEEDED", false, Some(2)),
            "NOT as expected: 2 row error(s) where none were expected",
        );
        check(
            Expected::AppliedWithRowErrors(1),
            &outcome("SUCCEEDED", false, None),
            "NOT as expected: 0 row error(s) where 1 were expected",
        );
        check(
            Expected::Rejected,
            &outcome("SUCCEEDED", false, Some(0)),
            "NOT as expected: the execution ended SUCCEEDED where validation should have failed it",
        );
        check(
            Expected::Rejected,
            &outcome("TIMED_OUT", false, None),
            "NOT as expected: the execution ended TIMED_OUT where validation should have failed it",
        );
        assert!(!judge(Expected::Applied, &outcome("FAILED", true, None)).is_expected());
    }

    #[test]
    fn the_table_lines_up_japanese_names() {
        let as_of = chrono::DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z")
            .expect("a time")
            .to_utc();
        let rows = [
            super::StatisticsRow {
                user_id: "U00001".to_owned(),
                username: "佐藤 花子".to_owned(),
                login_count: 12,
                post_count: 3,
                as_of,
            },
            super::StatisticsRow {
                user_id: "U00020".to_owned(),
                username: "guest".to_owned(),
                login_count: 0,
                post_count: 0,
                as_of,
            },
        ];
        assert_eq!(
            statistics_table(&rows),
            "user     name             logins  posts  as of\n\
             U00001   佐藤 花子            12      3  2026-11-02 00:00:00 UTC\n\
             U00020   guest                 0      0  2026-11-02 00:00:00 UTC\n"
        );
    }

    #[test]
    fn the_curl_line_asks_serve_api_with_a_local_token() {
        assert_eq!(
            api_curl("U00001"),
            r#"curl -sS -H "Authorization: Bearer $(cargo xtask token)" http://127.0.0.1:8080/users/U00001/stats"#
        );
    }
}
