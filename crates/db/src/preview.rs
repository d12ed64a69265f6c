//! The schemas of pull-request previews: which `pr_<N>` schemas exist, and dropping one with
//! everything in it, and its role. Only names made by [`SchemaName::for_pull_request`] and
//! [`crate::roles::RoleNames::preview`] are ever dropped, so no other schema or role can be
//! touched.

use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};

use crate::migrate::{SchemaName, connect_options};

/// The pull request numbers of every `pr_<N>` schema in the database, ascending.
pub async fn preview_schemas(url: &str) -> Result<Vec<u64>, sqlx::Error> {
    let mut connection = PgConnection::connect_with(&connect_options(url, None)?).await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname ~ '^pr_[1-9][0-9]*$' ORDER BY nspname",
    )
    .fetch_all(&mut connection)
    .await?;
    let _ = connection.close().await;
    let mut numbers: Vec<u64> = names
        .iter()
        .filter_map(|name| SchemaName::parse(name).ok()?.pull_request())
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

/// Drops schema `pr_<number>` and everything in it, and the preview's role
/// (`userlog_pr_<number>`) with what it holds, as an administrative user at `url`; `false` when
/// there was no schema.
pub async fn drop_preview_schema(url: &str, number: u64) -> Result<bool, sqlx::Error> {
    let schema = SchemaName::for_pull_request(number);
    let mut connection = PgConnection::connect_with(&connect_options(url, None)?).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema.as_str())
            .fetch_one(&mut connection)
            .await?;
    if exists {
        connection
            .execute(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                schema.quoted()
            )))
            .await?;
    }
    crate::roles::drop_role(
        &mut connection,
        &crate::roles::RoleNames::deployed().preview(number),
    )
    .await?;
    let _ = connection.close().await;
    Ok(exists)
}
