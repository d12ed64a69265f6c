//! The bulk import path against a real PostgreSQL: bad input, set semantics, idempotency, the
//! as-of guard, concurrency, and a connection killed mid-import.

mod support;

use std::time::Duration;

use support::*;
use userlog_db::bulk::BulkOptions;
use userlog_domain::ErrorCode;
use userlog_domain::reader::ReadOptions;
use userlog_domain::rules::ImportStatus;
use userlog_testkit::fresh_database;

/// Imports a bad file and checks its first problem's code and line, and that nothing changed.
async fn check_rejected(content: &[u8], options: BulkOptions, code: ErrorCode, line: u64) {
    let db = fresh_database().await.expect("a fresh test database");
    let pool = db.pool();
    seed_users(pool, &["U1", "U2", "U3"]).await;
    let before = statistics(pool).await;
    let summary = import_with(
        pool,
        &request("bad.csv", day(1)),
        content.to_vec(),
        &options,
    )
    .await
    .unwrap();
    assert!(!summary.status.applied(), "{summary:?}");
    let first = summary
        .problems
        .first()
        .unwrap_or_else(|| panic!("no problem reported: {summary:?}"));
    assert_eq!(
        (first.code, first.line),
        (code, line),
        "{:?}",
        String::from_utf8_lossy(content)
    );
    assert_eq!(statistics(pool).await, before);
    assert_eq!(change_count(pool).await, 0);
    let status: String = sqlx::query_scalar("SELECT status FROM imports")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(
        status == "rejected" || status == "failed",
        "ledger says {status}"
    );
}

#[tokio::test]
async fn bad_files_are_rejected_with_their_code_and_line_and_change_nothing() {
    let default = BulkOptions::default();
    let header = "user_id,login_count,post_count\n";
    let cases: Vec<(Vec<u8>, ErrorCode, u64)> = vec![
        (b"".to_vec(), ErrorCode::EmptyFile, 1),
        (header.as_bytes().to_vec(), ErrorCode::EmptyFile, 1),
        (b"U1,1,2\n".to_vec(), ErrorCode::BadHeader, 1),
        (
            b"user_id,login_count\nU1,1\n".to_vec(),
            ErrorCode::MissingColumn,
            1,
        ),
        (
            b"user_id,login_count,post_count,age\nU1,1,2,3\n".to_vec(),
            ErrorCode::UnknownColumn,
            1,
        ),
        (
            format!("{header}U1,1,2\nU2,1\n").into_bytes(),
            ErrorCode::WrongFieldCount,
            3,
        ),
        (
            format!("{header}U1,1,2\nU2,\"1\"x,2\n").into_bytes(),
            ErrorCode::BadQuoting,
            3,
        ),
        (
            format!("{header}U1,1,2\nU 2,1,2\n").into_bytes(),
            ErrorCode::BadUserId,
            3,
        ),
        (
            format!("{header}U1,1,2\nU2,1,2147483648\n").into_bytes(),
            ErrorCode::BadCount,
            3,
        ),
        (
            format!("{header}U1,1,2\nU2,1,2\nU1,3,4\n").into_bytes(),
            ErrorCode::DuplicateUserId,
            4,
        ),
        (
            [format!("{header}U1,1,2\n").as_bytes(), b"U\xff\xfe,1,2\n"].concat(),
            ErrorCode::BadEncoding,
            3,
        ),
    ];
    for (content, code, line) in cases {
        check_rejected(&content, default, code, line).await;
    }
    let small = BulkOptions {
        read: ReadOptions {
            max_bytes: 40,
            ..ReadOptions::default()
        },
        ..default
    };
    check_rejected(
        format!("{header}U1,1,2\nU2,3,4\n").as_bytes(),
        small,
        ErrorCode::FileTooLarge,
        0,
    )
    .await;
    // Too many unknown users: over the 5 % tolerance.
    check_rejected(
        format!("{header}U1,1,2\nX1,1,2\n").as_bytes(),
        default,
        ErrorCode::TooManyRowErrors,
        0,
    )
    .await;
}

#[tokio::test]
async fn an_import_sets_counts_and_audits_every_change() {
    let db = fresh_database().await.expect("a fresh test database");
    let pool = db.pool();
    seed_users(pool, &["U1", "U2", "U3"]).await;
    let first = import(
        pool,
        "a.csv",
        day(1),
        "ユーザーID,ログイン回数,投稿回数\nU1,10,1\nU2,20,2\n",
    )
    .await;
    assert_eq!(
        (first.status, first.applied, first.rows_total),
        (ImportStatus::Succeeded, 2, 2)
    );
    let second = import(
        pool,
        "b.csv",
        day(2),
        "user_id,login_count,post_count\nU1,11,1\nU2,20,2\nU3,5,5\n",
    )
    .await;
    assert_eq!(
        (second.applied, second.unchanged, second.skipped_older),
        (2, 1, 0),
        "{second:?}"
    );
    // The counts are the file's totals: set, never added.
    assert_eq!(statistics(pool).await, "U1 11 1\nU2 20 2\nU3 5 5\n");
    let audit: Vec<(String, Option<i32>, i32)> = sqlx::query_as(
        "SELECT user_id, old_login_count, new_login_count FROM statistic_changes ORDER BY import_id, user_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        audit,
        vec![
            ("U1".into(), None, 10),
            ("U2".into(), None, 20),
            ("U1".into(), Some(10), 11),
            ("U3".into(), None, 5),
        ]
    );
}

#[tokio::test]
async fn importing_the_same_object_twice_changes_nothing_the_second_time() {
    let db = fresh_database().await.expect("a fresh test database");
    let pool = db.pool();
    seed_users(pool, &["U1", "U2"]).await;
    let content = "user_id,login_count,post_count\nU1,1,1\nU2,2,2\n";
    let first = import(pool, "same.csv", day(1), content).await;
    assert_eq!(first.status, ImportStatus::Succeeded);
    let (stats, changes) = (statistics(pool).await, change_count(pool).await);
    let again = import(pool, "same.csv", day(1), content).await;
    assert_eq!(
        (again.status, again.duplicate, again.applied),
        (ImportStatus::Duplicate, true, 0)
    );
    assert_eq!(
        (statistics(pool).await, change_count(pool).await),
        (stats, changes)
    );
}

#[tokio::test]
async fn an_older_file_never_overwrites_a_newer_one() {
    let db = fresh_database().await.expect("a fresh test database");
    let pool = db.pool();
    seed_users(pool, &["U1", "U2"]).await;
    import(
        pool,
        "new.csv",
        day(5),
        "user_id,login_count,post_count\nU1,50,5\n",
    )
    .await;
    let late = import(
        pool,
        "old.csv",
        day(3),
        "user_id,login_count,post_count\nU1,30,3\nU2,30,3\n",
    )
    .await;
    assert_eq!((late.applied, late.skipped_older), (1, 1), "{late:?}");
    assert_eq!(statistics(pool).await, "U1 50 5\nU2 30 3\n");
    // Same counts from a newer file move the stamp, so a file in between still loses.
    import(
        pool,
        "newest.csv",
        day(9),
        "user_id,login_count,post_count\nU1,50,5\n",
    )
    .await;
    let between = import(
        pool,
        "between.csv",
        day(7),
        "user_id,login_count,post_count\nU1,70,7\n",
    )
    .await;
    assert_eq!(between.skipped_older, 1);
    assert_eq!(statistics(pool).await, "U1 50 5\nU2 30 3\n");
}

#[tokio::test]
async fn row_errors_within_the_tolerance_let_the_import_succeed() {
    let db = fresh_database().await.expect("a fresh test database");
    let pool = db.pool();
    let ids: Vec<String> = (0..40).map(|i| format!("U{i}")).collect();
    seed_users(pool, &ids.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let mut content = file(0..40, 1);
    content.push_str("NOBODY,1,1\n");
    let summary = import(pool, "errors.csv", day(1), &content).await;
    assert_eq!(
        (summary.status, summary.applied, summary.row_error_count),
        (ImportStatus::SucceededWithErrors, 40, 1)
    );
    assert_eq!(summary.row_errors[0].line, Some(42));
    assert_eq!(summary.row_errors[0].code, ErrorCode::UserNotFound);
}

#[tokio::test]
async fn concurrent_imports_of_overlapping_users_lose_no_update() {
    let db = fresh_database().await.expect("a fresh test database");
    let pool = db.pool();
    let ids: Vec<String> = (0..3000).map(|i| format!("U{i}")).collect();
    seed_users(pool, &ids.iter().map(String::as_str).collect::<Vec<_>>()).await;
    for round in 0..3u32 {
        // Older and newer files overlap on U1000..U1999; they run at the same time.
        let older = file(0..2000, 100 * round as i32 + 1);
        let newer = file(1000..3000, 100 * round as i32 + 2);
        let (older_key, newer_key) = (format!("older-{round}.csv"), format!("newer-{round}.csv"));
        let (a, b) = tokio::join!(
            import(pool, &older_key, day(10 + 2 * round), &older),
            import(pool, &newer_key, day(11 + 2 * round), &newer),
        );
        assert!(a.status.applied() && b.status.applied());
        let expected: String = {
            let mut rows: Vec<(String, i32, i32)> = Vec::new();
            let seed_old = 100 * round as i32 + 1;
            let seed_new = 100 * round as i32 + 2;
            for i in 0..3000 {
                let seed = if i >= 1000 { seed_new } else { seed_old };
                rows.push((format!("U{i}"), seed + i, seed * 2 + i));
            }
            rows.sort();
            rows.iter()
                .map(|(u, l, p)| format!("{u} {l} {p}\n"))
                .collect()
        };
        assert_eq!(statistics(pool).await, expected, "round {round}");
    }
}

/// Kills the import's connection while it streams, and returns the import's result.
async fn import_while_killing(
    pool: &sqlx::PgPool,
    url: &str,
    options: BulkOptions,
    key: &str,
    content: String,
) -> Result<userlog_domain::rules::ImportSummary, userlog_db::bulk::BulkError> {
    let victim: sqlx::PgPool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(
            url.parse::<sqlx::postgres::PgConnectOptions>()
                .unwrap()
                .application_name("import-under-test"),
        )
        .await
        .unwrap();
    let killer = async {
        for _ in 0..400 {
            let killed: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = 'import-under-test' AND query ILIKE 'COPY import_rows%'",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            if killed.contains(&true) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    };
    let request = request(key, day(1));
    let (result, killed) = tokio::join!(
        import_with(&victim, &request, content.into_bytes(), &options),
        killer
    );
    assert!(killed, "the test never caught the import streaming");
    result
}

#[tokio::test]
async fn a_killed_connection_retries_to_success_or_changes_nothing_and_a_rerun_converges() {
    let db = fresh_database().await.expect("a fresh test database");
    let pool = db.pool();
    let ids: Vec<String> = (0..60_000).map(|i| format!("U{i}")).collect();
    seed_users(pool, &ids.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let content = file(0..60_000, 7);

    // With retries, the import recovers by itself.
    let retried = import_while_killing(
        pool,
        db.url(),
        BulkOptions::default(),
        "retried.csv",
        content.clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        (retried.status, retried.applied),
        (ImportStatus::Succeeded, 60_000)
    );

    // Without retries, it fails as a whole: nothing of the new file is applied...
    let newer = file(0..60_000, 9);
    let once = BulkOptions {
        max_attempts: 1,
        ..BulkOptions::default()
    };
    let before = statistics(pool).await;
    let err = import_while_killing(pool, db.url(), once, "failed.csv", newer.clone())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(statistics(pool).await, before);
    // ...and running it again converges on the file's counts.
    let rerun = import_with(
        pool,
        &request("failed.csv", day(1)),
        newer.into_bytes(),
        &BulkOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (rerun.status, rerun.applied),
        (ImportStatus::Succeeded, 60_000)
    );
    assert!(statistics(pool).await.starts_with("U0 9 18\nU1 10 19\n"));
}
