//! Fresh databases on a real PostgreSQL server: migrated, separate, and safe to make in parallel.

use sqlx::{Connection, PgConnection};

#[tokio::test]
async fn a_fresh_database_is_migrated_and_empty() {
    let database = userlog_testkit::fresh_database()
        .await
        .expect("a fresh database");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(database.pool())
    .await
    .expect("list tables");
    assert_eq!(
        tables,
        [
            "_sqlx_migrations",
            "imports",
            "statistic_changes",
            "user_statistics",
            "users"
        ]
    );
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(database.pool())
        .await
        .expect("count users");
    assert_eq!(users, 0);

    // The URL reaches the same database as the pool.
    let mut connection = PgConnection::connect(database.url())
        .await
        .expect("connect by URL");
    let name: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut connection)
        .await
        .expect("ask for the database");
    assert_eq!(name, database.name());
    connection.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_made_in_parallel_are_separate() {
    let made =
        futures_like_join_all((0..6).map(|_| tokio::spawn(userlog_testkit::fresh_database())))
            .await;
    let databases: Vec<_> = made
        .into_iter()
        .map(|result| result.expect("no panic").expect("a database"))
        .collect();

    sqlx::query(
        "INSERT INTO users (user_id, username, email) VALUES ('u1', 'one', 'one@example.com')",
    )
    .execute(databases[0].pool())
    .await
    .expect("insert into the first database");
    for other in &databases[1..] {
        let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(other.pool())
            .await
            .expect("count users");
        assert_eq!(users, 0, "{} sees rows of another test", other.name());
    }
    let mut names: Vec<&str> = databases.iter().map(|database| database.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), databases.len());
}

#[tokio::test]
async fn a_dropped_database_is_gone() {
    let database = userlog_testkit::fresh_database()
        .await
        .expect("a fresh database");
    let name = database.name().to_owned();
    database.drop_database().await.expect("drop it");
    let mut connection = PgConnection::connect(
        &userlog_testkit::maintenance_url()
            .await
            .expect("the server"),
    )
    .await
    .expect("connect to the server");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut connection)
            .await
            .expect("look the database up");
    assert!(!exists, "{name} still exists");
    connection.close().await.expect("close");
}

/// Awaits every task in order (they run concurrently once spawned).
async fn futures_like_join_all<T>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let handles: Vec<_> = handles.collect();
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.await);
    }
    results
}
