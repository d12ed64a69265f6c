//! The migrations against a real PostgreSQL server: the schema they create (the contract the
//! other modules code against), into `public` and into a preview schema, and re-runs.

use expect_test::{Expect, expect};
use sqlx::PgPool;
use userlog_db::migrate::{self, SchemaName};

/// The columns of every table in `schema`, one line each: `table.column type [not null] [= default]`.
async fn columns(pool: &PgPool, schema: &str) -> String {
    let rows: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, column_default::text
         FROM information_schema.columns WHERE table_schema = $1
         ORDER BY table_name, ordinal_position",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
    .expect("list columns");
    rows.into_iter()
        .map(|(table, column, data_type, nullable, default)| {
            let not_null = if nullable == "NO" { " not null" } else { "" };
            let default = default.map(|d| format!(" = {d}")).unwrap_or_default();
            format!("{table}.{column} {data_type}{not_null}{default}\n")
        })
        .collect()
}

/// The indexes and constraints of the application tables in `schema`.
async fn indexes_and_constraints(pool: &PgPool, schema: &str) -> String {
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename <> '_sqlx_migrations' ORDER BY indexname",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
    .expect("list indexes");
    let constraints: Vec<String> = sqlx::query_scalar(
        "SELECT conrelid::regclass::text || ': ' || pg_get_constraintdef(oid) FROM pg_constraint
         WHERE connamespace = $1::regnamespace AND contype IN ('c', 'f') ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
    .expect("list constraints");
    let schema_prefix = format!("{schema}.");
    indexes
        .iter()
        .chain(&constraints)
        .map(|line| format!("{}\n", line.replace(&schema_prefix, "")))
        .collect()
}

async fn tables(pool: &PgPool, schema: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
    .expect("list tables")
}

fn check(actual: &str, expected: &Expect) {
    expected.assert_eq(actual);
}

#[tokio::test]
async fn migrations_create_the_schema_and_rerunning_them_changes_nothing() {
    let database = userlog_testkit::empty_database()
        .await
        .expect("an empty database");

    let first = migrate::run(database.url(), None).await.expect("migrate");
    check(
        &first.to_string(),
        &expect![[r#"
            Schema public: applied 4 migrations (0 already applied):
              0001 users
              0002 imports
              0003 user statistics
              0004 audit outbox without foreign key
        "#]],
    );
    check(
        &columns(database.pool(), "public").await,
        &expect![[r#"
            _sqlx_migrations.version bigint not null
            _sqlx_migrations.description text not null
            _sqlx_migrations.installed_on timestamp with time zone not null = now()
            _sqlx_migrations.success boolean not null
            _sqlx_migrations.checksum bytea not null
            _sqlx_migrations.execution_time bigint not null
            imports.import_id bigint not null
            imports.idempotency_key text not null
            imports.source_bucket text not null
            imports.source_key text not null
            imports.source_etag text not null
            imports.as_of timestamp with time zone not null
            imports.execution_name text
            imports.route text
            imports.status text not null
            imports.attempt integer not null = 1
            imports.claimed_at timestamp with time zone not null = now()
            imports.finished_at timestamp with time zone
            imports.rows_total bigint
            imports.applied bigint
            imports.unchanged bigint
            imports.skipped_older bigint
            imports.row_errors bigint
            imports.summary jsonb
            statistic_changes.import_id bigint not null
            statistic_changes.user_id character varying not null
            statistic_changes.line bigint
            statistic_changes.old_login_count integer
            statistic_changes.new_login_count integer not null
            statistic_changes.old_post_count integer
            statistic_changes.new_post_count integer not null
            statistic_changes.changed_at timestamp with time zone not null = clock_timestamp()
            user_statistics.user_id character varying not null
            user_statistics.login_count integer not null = 0
            user_statistics.post_count integer not null = 0
            user_statistics.last_updated timestamp with time zone not null = now()
            user_statistics.as_of timestamp with time zone not null
            user_statistics.import_id bigint not null
            users.user_id character varying not null
            users.username character varying not null
            users.email character varying not null
            users.created_at timestamp with time zone not null = now()
            users.updated_at timestamp with time zone not null = now()
        "#]],
    );
    check(
        &indexes_and_constraints(database.pool(), "public").await,
        &expect![[r#"
            CREATE INDEX idx_imports_status ON imports USING btree (status, claimed_at)
            CREATE INDEX idx_user_statistics_last_updated ON user_statistics USING btree (last_updated)
            CREATE INDEX idx_users_created_at ON users USING btree (created_at)
            CREATE UNIQUE INDEX imports_idempotency_key_key ON imports USING btree (idempotency_key)
            CREATE UNIQUE INDEX imports_pkey ON imports USING btree (import_id)
            CREATE UNIQUE INDEX statistic_changes_pkey ON statistic_changes USING btree (import_id, user_id)
            CREATE UNIQUE INDEX user_statistics_pkey ON user_statistics USING btree (user_id)
            CREATE UNIQUE INDEX users_email_key ON users USING btree (email)
            CREATE UNIQUE INDEX users_pkey ON users USING btree (user_id)
            imports: CHECK ((status = ANY (ARRAY['running'::text, 'succeeded'::text, 'failed'::text, 'rejected'::text])))
            user_statistics: CHECK ((login_count >= 0))
            user_statistics: CHECK ((post_count >= 0))
            user_statistics: FOREIGN KEY (import_id) REFERENCES imports(import_id)
            user_statistics: FOREIGN KEY (user_id) REFERENCES users(user_id)
        "#]],
    );

    let second = migrate::run(database.pool(), None)
        .await
        .expect("migrate again");
    check(
        &second.to_string(),
        &expect![[r#"
            Schema public is up to date (4 migrations already applied).
        "#]],
    );
}

#[tokio::test]
async fn a_preview_schema_gets_its_own_tables_and_history() {
    let database = userlog_testkit::empty_database()
        .await
        .expect("an empty database");
    let schema = SchemaName::for_pull_request(7);

    let first = migrate::run(database.url(), Some(&schema))
        .await
        .expect("migrate into pr_7");
    assert_eq!(first.schema.as_deref(), Some("pr_7"));
    assert_eq!(first.applied.len(), migrate::migrations().len());
    assert_eq!(
        tables(database.pool(), "pr_7").await,
        [
            "_sqlx_migrations",
            "imports",
            "statistic_changes",
            "user_statistics",
            "users"
        ]
    );
    assert_eq!(
        tables(database.pool(), "public").await,
        Vec::<String>::new(),
        "public is untouched"
    );

    // Through a pool, again: nothing left to do, and the pool's own sessions keep their search path.
    let second = migrate::run(database.pool(), Some(&schema))
        .await
        .expect("migrate pr_7 again");
    assert_eq!(
        (second.applied.len(), second.already_applied),
        (0, migrate::migrations().len())
    );
    let search_path: String = sqlx::query_scalar("SHOW search_path")
        .fetch_one(database.pool())
        .await
        .expect("show the search path");
    assert_eq!(search_path, "\"$user\", public");

    // `public` keeps its own history: migrating it applies everything there too.
    let public = migrate::run(database.url(), None)
        .await
        .expect("migrate public");
    assert_eq!(
        (public.schema.as_deref(), public.applied.len()),
        (Some("public"), migrate::migrations().len())
    );

    // Connections made for the schema find its tables without qualifying them.
    let pool = migrate::connect_pool(database.url(), Some(&schema), 1)
        .await
        .expect("connect to pr_7");
    sqlx::query(
        "INSERT INTO users (user_id, username, email) VALUES ('u1', 'one', 'one@example.com')",
    )
    .execute(&pool)
    .await
    .expect("insert into pr_7.users");
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM pr_7.users), (SELECT count(*) FROM public.users)",
    )
    .fetch_one(&pool)
    .await
    .expect("count users");
    assert_eq!(counts, (1, 0));
    pool.close().await;
}

#[tokio::test]
async fn concurrent_runs_apply_each_migration_once() {
    let database = userlog_testkit::empty_database()
        .await
        .expect("an empty database");
    let url = database.url().to_owned();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { migrate::run(&url, None).await })
        })
        .collect();
    let mut applied = 0;
    for run in runs {
        applied += run.await.expect("no panic").expect("migrate").applied.len();
    }
    assert_eq!(applied, migrate::migrations().len());
}
