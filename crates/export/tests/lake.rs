//! The export read back by readers that share no code with it: every row of the file against
//! PostgreSQL (pyarrow), a rerun that replaces the day, and the README's Athena query over the
//! exported partitions (DuckDB). The readers are installed pinned into `.local/venv-lake`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};
use userlog_export::{Day, Destination, ExportOptions, export};
use userlog_local::python_tool::PythonTool;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits two levels below the repository")
        .to_path_buf()
}

/// The pinned readers, installed once per test process.
fn readers() -> &'static PythonTool {
    static TOOL: OnceLock<PythonTool> = OnceLock::new();
    TOOL.get_or_init(|| {
        let root = repo_root();
        let tool = PythonTool::from_requirements_file(
            root.join(".local").join("venv-lake"),
            &root.join("tools").join("lake").join("requirements.txt"),
        )
        .expect("the readers' pins are readable");
        tool.ensure(&mut |step| eprintln!("{step}"))
            .expect("pyarrow and duckdb install into .local/venv-lake");
        tool
    })
}

/// Runs `tools/lake/read.py` with `args` and reads its JSON.
fn read(args: &[&str]) -> Value {
    let output = Command::new(readers().python())
        .arg(repo_root().join("tools").join("lake").join("read.py"))
        .args(args)
        .output()
        .expect("the reader runs");
    assert!(
        output.status.success(),
        "the reader failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the reader prints JSON")
}

/// The table as the file should hold it, from PostgreSQL, timestamps in microseconds.
async fn table_rows(pool: &sqlx::PgPool) -> Vec<Value> {
    let rows: Vec<(String, String, i32, i32, i64, i64, i64)> = sqlx::query_as(
        "SELECT s.user_id, u.username, s.login_count, s.post_count,
                (extract(epoch FROM s.last_updated) * 1000000)::bigint,
                (extract(epoch FROM s.as_of) * 1000000)::bigint, s.import_id
         FROM user_statistics s JOIN users u USING (user_id) ORDER BY s.user_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(id, name, logins, posts, updated, as_of, import)| {
            json!([id, name, logins, posts, updated, as_of, import])
        })
        .collect()
}

/// Users whose names test the text encoding, and their statistics from two imports.
async fn seed(pool: &sqlx::PgPool) {
    sqlx::query(
        "INSERT INTO users (user_id, username, email) VALUES
           ('U001', 'Alice', 'alice@example.com'),
           ('U002', '山田 太郎', 'yamada@example.com'),
           ('U003', 'O''Brien, \"Bob\"', 'bob@example.com'),
           ('U004', 'emoji 😀 and tab	here', 'emoji@example.com'),
           ('U005', repeat('x', 100), 'long@example.com'),
           ('U006', 'no statistics yet', 'none@example.com')",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO imports (idempotency_key, source_bucket, source_key, source_etag, as_of, status)
         VALUES ('k1', 'b', 'a.csv', 'e1', '2026-11-01T00:00:00Z', 'succeeded'),
                ('k2', 'b', 'b.csv', 'e2', '2026-11-02T00:00:00.123456Z', 'succeeded')",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO user_statistics (user_id, login_count, post_count, last_updated, as_of, import_id) VALUES
           ('U001', 10, 1, '2026-11-01T09:00:00.000001Z', '2026-11-01T00:00:00Z', 1),
           ('U002', 0, 0, '2026-11-02T09:30:00.5Z', '2026-11-02T00:00:00.123456Z', 2),
           ('U003', 2147483647, 7, '2026-11-02T10:00:00Z', '2026-11-02T00:00:00.123456Z', 2),
           ('U004', 5, 3, '1999-12-31T23:59:59.999999Z', '2026-11-01T00:00:00Z', 1),
           ('U005', 42, 12, '2026-11-02T11:00:00Z', '2026-11-02T00:00:00.123456Z', 2)",
    )
    .execute(pool)
    .await
    .unwrap();
}

fn day(text: &str) -> Day {
    text.parse().unwrap()
}

/// The Parquet files (not hidden, not partial) of one day's partition.
fn day_files(root: &Path, day: &str) -> Vec<String> {
    let dir = root.join("user_statistics").join(format!("dt={day}"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn check_file(root: &Path, day: &str, expected_rows: &[Value], expected_groups: u64) {
    let path = root
        .join("user_statistics")
        .join(format!("dt={day}"))
        .join("user_statistics.parquet");
    let files = read(&["files", path.to_str().unwrap()]);
    let file = &files[0];
    assert_eq!(
        file["schema"],
        json!([
            ["user_id", "string", false],
            ["username", "string", false],
            ["login_count", "int32", false],
            ["post_count", "int32", false],
            ["last_updated", "timestamp[us, tz=UTC]", false],
            ["as_of", "timestamp[us, tz=UTC]", false],
            ["import_id", "int64", false],
        ])
    );
    let codecs = if expected_groups == 0 {
        json!([])
    } else {
        json!(["SNAPPY"])
    };
    assert_eq!(file["compression"], codecs);
    assert_eq!(file["rowGroups"], json!(expected_groups));
    assert_eq!(file["rows"], Value::Array(expected_rows.to_vec()));
}

#[tokio::test]
async fn every_row_reads_back_and_a_rerun_replaces_the_day() {
    let database = userlog_testkit::fresh_database().await.unwrap();
    let pool = database.pool();
    seed(pool).await;
    let out = tempdir("rerun");
    let destination = Destination::Directory { root: out.clone() };
    let options = ExportOptions {
        rows_per_group: 2,
        ..ExportOptions::default()
    };

    let first = export(pool, day("2026-12-01"), &destination, &options)
        .await
        .unwrap();
    assert_eq!((first.rows, first.row_groups, first.parts), (5, 3, 1));
    assert_eq!(
        first.location,
        out.join("user_statistics/dt=2026-12-01/user_statistics.parquet")
            .display()
            .to_string()
    );
    let before = table_rows(pool).await;
    assert_eq!(before.len(), 5);
    check_file(&out, "2026-12-01", &before, 3);

    // The table changes; the same day is exported again and holds exactly the new rows.
    sqlx::query("UPDATE user_statistics SET login_count = login_count + 1 WHERE user_id <> 'U003'")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO user_statistics (user_id, login_count, post_count, last_updated, as_of, import_id)
         VALUES ('U006', 1, 2, '2026-11-03T00:00:00Z', '2026-11-02T00:00:00.123456Z', 2)",
    )
    .execute(pool)
    .await
    .unwrap();
    let second = export(pool, day("2026-12-01"), &destination, &options)
        .await
        .unwrap();
    assert_eq!((second.rows, second.row_groups), (6, 3));
    let after = table_rows(pool).await;
    assert_ne!(before, after);
    check_file(&out, "2026-12-01", &after, 3);
    assert_eq!(
        day_files(&out, "2026-12-01"),
        vec!["user_statistics.parquet"]
    );
    database.drop_database().await.unwrap();
}

#[tokio::test]
async fn an_empty_table_is_a_valid_empty_day() {
    let database = userlog_testkit::fresh_database().await.unwrap();
    let out = tempdir("empty");
    let summary = export(
        database.pool(),
        day("2026-12-01"),
        &Destination::Directory { root: out.clone() },
        &ExportOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!((summary.rows, summary.row_groups), (0, 0));
    check_file(&out, "2026-12-01", &[], 0);
    database.drop_database().await.unwrap();
}

/// The first ```sql block after `<!-- athena-example -->` in the README.
fn readme_query() -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let (_, after) = readme
        .split_once("<!-- athena-example -->")
        .expect("the README marks its Athena example");
    let (_, block) = after.split_once("```sql\n").expect("a sql block follows");
    let (query, _) = block.split_once("```").expect("the block ends");
    query.trim().trim_end_matches(';').to_owned()
}

#[tokio::test]
async fn the_readmes_athena_query_runs_over_the_partitions() {
    let database = userlog_testkit::fresh_database().await.unwrap();
    let pool = database.pool();
    seed(pool).await;
    let out = tempdir("athena");
    let destination = Destination::Directory { root: out.clone() };
    let options = ExportOptions::default();
    export(pool, day("2026-12-01"), &destination, &options)
        .await
        .unwrap();
    sqlx::query("UPDATE user_statistics SET post_count = post_count + 100 WHERE user_id = 'U002'")
        .execute(pool)
        .await
        .unwrap();
    export(pool, day("2026-12-02"), &destination, &options)
        .await
        .unwrap();
    // A day outside the query's range, which it must not count.
    export(pool, day("2026-11-20"), &destination, &options)
        .await
        .unwrap();

    let result = read(&["query", out.to_str().unwrap(), &readme_query()]);
    assert_eq!(
        result["columns"],
        json!(["dt", "users", "logins", "posts", "top_poster"])
    );
    // Day one: counts as seeded, U005 posts most (12); day two: U002 has 100 more posts.
    let logins = 10 + 2147483647_i64 + 5 + 42;
    assert_eq!(
        result["rows"],
        json!([
            ["2026-12-01", 5, logins, 23, "x".repeat(100)],
            ["2026-12-02", 5, logins, 123, "山田 太郎"],
        ])
    );
    database.drop_database().await.unwrap();
}

/// A fresh directory for one test under the target directory.
fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "userlog-export-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
