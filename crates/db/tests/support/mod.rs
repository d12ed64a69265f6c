//! Helpers shared by the database tests: files, users, and readable snapshots of the tables.

#![allow(dead_code)]

use std::io::Cursor;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use userlog_db::bulk::{self, BulkError, BulkOptions, ImportRequest, Silent};
use userlog_domain::rules::{ImportSummary, SourceObject};

/// Creates users with these ids.
pub async fn seed_users(pool: &PgPool, ids: &[&str]) {
    sqlx::query(
        "INSERT INTO users (user_id, username, email)
         SELECT id, 'user ' || id, lower(id) || '@example.com' FROM unnest($1::text[]) AS t(id)",
    )
    .bind(ids)
    .execute(pool)
    .await
    .unwrap();
}

/// `2026-01-<day>T00:00:00Z`.
pub fn day(day: u32) -> DateTime<Utc> {
    format!("2026-01-{day:02}T00:00:00Z").parse().unwrap()
}

pub fn request(key: &str, as_of: DateTime<Utc>) -> ImportRequest {
    ImportRequest {
        source: SourceObject {
            bucket: "test".into(),
            key: key.into(),
            etag: "etag-1".into(),
        },
        as_of,
        execution_name: format!("test-{key}"),
        claimed_import_id: None,
    }
}

/// Imports `content` as object `key`.
pub async fn import(
    pool: &PgPool,
    key: &str,
    as_of: DateTime<Utc>,
    content: &str,
) -> ImportSummary {
    import_with(
        pool,
        &request(key, as_of),
        content.as_bytes().to_vec(),
        &BulkOptions::default(),
    )
    .await
    .unwrap()
}

pub async fn import_with(
    pool: &PgPool,
    request: &ImportRequest,
    bytes: Vec<u8>,
    options: &BulkOptions,
) -> Result<ImportSummary, BulkError> {
    bulk::import(
        pool,
        move || Ok(Cursor::new(bytes.clone())),
        request,
        options,
        Arc::new(Silent),
    )
    .await
}

/// `user login post` per line, by user id.
pub async fn statistics(pool: &PgPool) -> String {
    let rows: Vec<(String, i32, i32)> = sqlx::query_as(
        "SELECT user_id, login_count, post_count FROM user_statistics ORDER BY user_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter()
        .map(|(u, l, p)| format!("{u} {l} {p}\n"))
        .collect()
}

/// How many audit changes exist.
pub async fn change_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM statistic_changes")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A file of `users` rows: `U{i}` with counts derived from `seed`.
pub fn file(users: std::ops::Range<u32>, seed: i32) -> String {
    let mut text = String::from("user_id,login_count,post_count\n");
    for i in users {
        text.push_str(&format!(
            "U{i},{},{}\n",
            seed + i as i32,
            seed * 2 + i as i32
        ));
    }
    text
}
