//! Preview schemas against a real PostgreSQL server: listed by their `pr_<N>` names only, dropped
//! with everything in them, nothing else touched.

use userlog_db::migrate::{self, SchemaName};
use userlog_db::preview::{drop_preview_schema, preview_schemas};

#[tokio::test]
async fn preview_schemas_are_listed_and_dropped_and_nothing_else_is() {
    let database = userlog_testkit::fresh_database().await.expect("a database");
    let url = database.url().to_owned();
    for number in [7, 12] {
        migrate::run(url.as_str(), Some(&SchemaName::for_pull_request(number)))
            .await
            .expect("migrated");
    }
    for other in ["pr_x", "pr_07", "prx_3", "pr_"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{other}\"")))
            .execute(database.pool())
            .await
            .expect("a schema");
    }
    assert_eq!(preview_schemas(&url).await.expect("listed"), [7, 12]);

    assert!(drop_preview_schema(&url, 7).await.expect("dropped"));
    assert!(
        !drop_preview_schema(&url, 7)
            .await
            .expect("a second drop is fine")
    );
    assert_eq!(preview_schemas(&url).await.expect("listed"), [12]);

    let remaining: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'pr%' ORDER BY nspname",
    )
    .fetch_all(database.pool())
    .await
    .expect("the schemas");
    assert_eq!(remaining, ["pr_", "pr_07", "pr_12", "pr_x", "prx_3"]);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM public.users")
        .fetch_one(database.pool())
        .await
        .expect("public is untouched");
    assert_eq!(users, 0);
    database.drop_database().await.expect("dropped");
}
