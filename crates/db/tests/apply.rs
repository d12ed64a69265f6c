//! The distributed map's batch path against a real PostgreSQL: retries never double-apply, and
//! batches follow the same rules as the bulk path.

mod support;

use support::*;
use userlog_db::apply::{BatchRow, apply_batch};
use userlog_db::ledger::{self, Claim};
use userlog_domain::rules::{Counts, SourceObject, Stamp};
use userlog_domain::{Count, ErrorCode, UserId};
use userlog_testkit::fresh_database;

fn row(line: u64, user: &str, login: i32, post: i32) -> BatchRow {
    BatchRow {
        line: Some(line),
        user_id: UserId::parse(user).unwrap(),
        counts: Counts {
            login_count: Count::new(login).unwrap(),
            post_count: Count::new(post).unwrap(),
        },
    }
}

async fn claim(pool: &sqlx::PgPool, key: &str, as_of: chrono::DateTime<chrono::Utc>) -> Stamp {
    let source = SourceObject {
        bucket: "in".into(),
        key: key.into(),
        etag: "e".into(),
    };
    let mut conn = pool.acquire().await.unwrap();
    match ledger::claim(
        &mut conn,
        &source,
        as_of,
        &format!("exec-{key}"),
        ledger::DEFAULT_STALE_AFTER,
    )
    .await
    .unwrap()
    {
        Claim::Claimed { import_id, .. } => Stamp { as_of, import_id },
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_retried_batch_changes_nothing_twice_and_reports_the_same() {
    let db = fresh_database().await.expect("a fresh test database");
    let pool = db.pool();
    seed_users(pool, &["U1", "U2", "U3"]).await;
    import(
        pool,
        "earlier.csv",
        day(1),
        "user_id,login_count,post_count\nU2,1,1\n",
    )
    .await;
    let stamp = claim(pool, "map.csv", day(2)).await;
    let batch = [
        row(2, "U1", 5, 6),
        row(3, "U2", 7, 8),
        row(4, "GHOST", 1, 1),
        row(5, "U3", 0, 0),
    ];
    let first = apply_batch(pool, stamp, &batch).await.unwrap();
    let again = apply_batch(pool, stamp, &batch).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(
        (first.applied, first.unchanged, first.skipped_older),
        (3, 0, 0)
    );
    assert_eq!(first.row_errors.len(), 1);
    assert_eq!(
        (first.row_errors[0].code, first.row_errors[0].line),
        (ErrorCode::UserNotFound, Some(4))
    );
    assert_eq!(
        first
            .changes
            .iter()
            .map(|c| (c.user_id.as_str(), c.old.map(|o| o.login_count.get())))
            .collect::<Vec<_>>(),
        vec![("U1", None), ("U2", Some(1)), ("U3", None)]
    );
    assert_eq!(change_count(pool).await, 4);
    assert_eq!(statistics(pool).await, "U1 5 6\nU2 7 8\nU3 0 0\n");
}

#[tokio::test]
async fn batches_respect_the_as_of_guard_like_the_bulk_path() {
    let db = fresh_database().await.expect("a fresh test database");
    let pool = db.pool();
    seed_users(pool, &["U1", "U2"]).await;
    import(
        pool,
        "newer.csv",
        day(5),
        "user_id,login_count,post_count\nU1,50,5\n",
    )
    .await;
    let stamp = claim(pool, "older.csv", day(3)).await;
    let outcome = apply_batch(pool, stamp, &[row(2, "U1", 30, 3), row(3, "U2", 30, 3)])
        .await
        .unwrap();
    assert_eq!((outcome.applied, outcome.skipped_older), (1, 1));
    assert_eq!(statistics(pool).await, "U1 50 5\nU2 30 3\n");
}

#[tokio::test]
async fn the_map_and_bulk_paths_reach_the_same_state_for_any_order_of_files() {
    // Files with as-of days and counts, applied in a scrambled order through each path.
    let files: [(u32, i32); 4] = [(3, 30), (1, 10), (4, 40), (2, 20)];
    let users = ["U1", "U2", "U3"];
    let bulk_db = fresh_database().await.expect("a fresh test database");
    let map_db = fresh_database().await.expect("a fresh test database");
    for db in [&bulk_db, &map_db] {
        seed_users(db.pool(), &users).await;
    }
    for (index, (as_of_day, seed)) in files.iter().enumerate() {
        let key = format!("file-{index}.csv");
        // Each file skips one user, so the files overlap unevenly.
        let rows: Vec<BatchRow> = users
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index % users.len())
            .map(|(i, u)| row(i as u64 + 2, u, seed + i as i32, *seed))
            .collect();
        let text: String = std::iter::once("user_id,login_count,post_count\n".to_owned())
            .chain(rows.iter().map(|r| {
                format!(
                    "{},{},{}\n",
                    r.user_id, r.counts.login_count, r.counts.post_count
                )
            }))
            .collect();
        import(bulk_db.pool(), &key, day(*as_of_day), &text).await;
        let stamp = claim(map_db.pool(), &key, day(*as_of_day)).await;
        apply_batch(map_db.pool(), stamp, &rows).await.unwrap();
    }
    let bulk = statistics(bulk_db.pool()).await;
    assert_eq!(bulk, statistics(map_db.pool()).await);
    assert_eq!(bulk, "U1 40 40\nU2 41 40\nU3 32 30\n");
}
