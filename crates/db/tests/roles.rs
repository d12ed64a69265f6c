//! The database roles against a real PostgreSQL server: each login can do what its code needs and
//! nothing more, previews reach only their own schema, and every step can run again.

use secrecy::SecretString;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use userlog_db::migrate::{self, SchemaName};
use userlog_db::roles::{self, EnvironmentLogins, Login, MigrationPlan, RoleNames};

fn login(name: &str) -> Login {
    Login {
        name: name.to_owned(),
        // Punctuation of every kind, as generated secrets hold it.
        password: SecretString::from(format!("p'w\"%$1{name}\\;--")),
    }
}

/// The URL of the test database for another user.
fn url_as(url: &str, login: &Login) -> String {
    use secrecy::ExposeSecret as _;
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'_' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').expect("a database");
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!(
        "{scheme}://{}:{}@{host}/{path}",
        encode(&login.name),
        encode(login.password.expose_secret())
    )
}

/// Runs `sql` as `url`'s user: `ok`, or the SQLSTATE of its error.
async fn outcome(url: &str, sql: &str) -> String {
    let mut connection = PgConnection::connect(url).await.expect("connected");
    let result = sqlx::query(AssertSqlSafe(sql.to_owned()))
        .execute(&mut connection)
        .await;
    let _ = connection.close().await;
    match result {
        Ok(_) => "ok".to_owned(),
        Err(sqlx::Error::Database(error)) => error.code().unwrap_or_default().into_owned(),
        Err(other) => panic!("{sql}: {other}"),
    }
}

/// Each `(sql, expected)` as `url`'s user; `42501` is "insufficient privilege".
async fn check(url: &str, cases: &[(&str, &str)]) {
    let mut got = Vec::new();
    for (sql, _) in cases {
        got.push(outcome(url, sql).await);
    }
    let expected: Vec<&str> = cases.iter().map(|(_, e)| *e).collect();
    let got: Vec<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(
        got,
        expected,
        "{:?}",
        cases.iter().map(|c| c.0).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn every_login_gets_what_its_code_needs_and_previews_only_their_schema() {
    let database = userlog_testkit::fresh_database().await.expect("a database");
    let admin = database.url().to_owned();
    let base = migrate::connect_options(&admin, None).expect("options");
    // Roles belong to the whole cluster: this test's are named after its database.
    let names = RoleNames::new(database.name()).expect("a prefix");
    let logins = EnvironmentLogins {
        writer: login(&names.writer()),
        reader: login(&names.reader()),
        previews: Some(login(&names.previews())),
    };
    let report = roles::ensure_environment(&base, &names, &SchemaName::public(), &logins)
        .await
        .expect("the roles");
    assert_eq!(
        report.created,
        [names.writer(), names.reader(), names.previews()]
    );
    assert_eq!(
        report.tables,
        ["imports", "statistic_changes", "user_statistics", "users"]
    );
    // The local cluster checks the logins' passwords (the tooling's own user alone is trusted).
    let hba_file: String = sqlx::query_scalar("SHOW hba_file")
        .fetch_one(database.pool())
        .await
        .expect("hba_file");
    if hba_file.ends_with("userlog-hba.conf") {
        let wrong = Login {
            name: names.writer(),
            password: SecretString::from("not-the-password-of-the-secret"),
        };
        let refused = PgConnection::connect(&url_as(&admin, &wrong))
            .await
            .unwrap_err();
        assert_eq!(
            refused
                .as_database_error()
                .and_then(|e| e.code())
                .as_deref(),
            Some("28P01"),
            "{refused}"
        );
    }
    let writer = url_as(&admin, &logins.writer);
    let reader = url_as(&admin, &logins.reader);
    let previews = url_as(&admin, logins.previews.as_ref().unwrap());

    check(
        &writer,
        &[
            ("INSERT INTO users (user_id, username, email) VALUES ('U1', 'one', 'one@example.com')", "ok"),
            ("UPDATE users SET username = 'uno' WHERE user_id = 'U1'", "ok"),
            ("DO $$ BEGIN LOCK TABLE user_statistics IN SHARE ROW EXCLUSIVE MODE; END $$", "ok"),
            ("CREATE TEMP TABLE scratch (x int)", "ok"),
            ("CREATE TABLE public.planted (x int)", "42501"),
            ("DROP TABLE users", "42501"),
            ("DELETE FROM _sqlx_migrations", "42501"),
        ],
    )
    .await;
    check(
        &reader,
        &[
            ("SELECT * FROM users", "ok"),
            ("SELECT * FROM user_statistics", "ok"),
            ("INSERT INTO users (user_id, username, email) VALUES ('U2', 'two', 'two@example.com')", "42501"),
            ("UPDATE users SET username = 'x'", "42501"),
            ("DELETE FROM imports", "42501"),
        ],
    )
    .await;
    check(
        &previews,
        &[
            ("SELECT * FROM public.users", "42501"),
            ("CREATE SCHEMA planted", "42501"),
            ("CREATE ROLE planted", "42501"),
        ],
    )
    .await;

    // A preview: its role made by the previews role, its schema migrated by its own role.
    let pr7 = login(&names.preview(7));
    let previews_login = logins.previews.clone().unwrap();
    let plan = MigrationPlan::Preview {
        number: 7,
        previews: previews_login.clone(),
        own: pr7.clone(),
    };
    let outcome = roles::migrate_database(&base, &names, &plan)
        .await
        .expect("the preview migrates its own schema");
    assert_eq!(outcome.preview_role, Some(names.preview(7)));
    assert_eq!(outcome.migrations.schema.as_deref(), Some("pr_7"));
    assert_eq!(
        outcome.migrations.applied.len(),
        migrate::migrations().len()
    );
    let pr7_url = url_as(&admin, &pr7);

    // A preview whose schema the master user made before previews had roles: taken over.
    migrate::run(admin.as_str(), Some(&SchemaName::for_pull_request(8)))
        .await
        .expect("pr_8 as the master user");
    let pr8 = login(&names.preview(8));
    roles::create_preview(&base, &names, 8, &previews_login, &pr8)
        .await
        .expect("pr_8");
    let pr8_url = url_as(&admin, &pr8);
    check(
        &pr8_url,
        &[
            ("INSERT INTO users (user_id, username, email) VALUES ('U8', 'eight', 'eight@example.com')", "ok"),
            ("INSERT INTO pr_8.imports (idempotency_key, source_bucket, source_key, source_etag, as_of, status) VALUES ('k', 'b', 'k', 'e', now(), 'running')", "ok"),
        ],
    )
    .await;
    migrate::run(pr8_url.as_str(), Some(&SchemaName::for_pull_request(8)))
        .await
        .expect("pr_8 migrates its taken-over schema");

    check(
        &pr7_url,
        &[
            ("INSERT INTO users (user_id, username, email) VALUES ('U7', 'seven', 'seven@example.com')", "ok"),
            ("SELECT * FROM public.users", "42501"),
            ("SELECT * FROM pr_8.users", "42501"),
            ("CREATE TABLE public.planted (x int)", "42501"),
        ],
    )
    .await;
    let call = |n: u64| format!("SELECT \"{}\".drop_preview({n})", names.previews());
    check(&pr7_url, &[(&call(8), "42501")]).await;
    check(
        &writer,
        &[("SELECT * FROM pr_7.users", "42501"), (&call(7), "42501")],
    )
    .await;

    // Everything runs again: passwords are set again, nothing is created twice.
    let again = roles::ensure_environment(&base, &names, &SchemaName::public(), &logins)
        .await
        .expect("again");
    assert!(again.created.is_empty());
    roles::migrate_database(&base, &names, &plan)
        .await
        .expect("pr_7 again");

    // A secret that names another user is refused before anything is done.
    let error = roles::create_preview(&base, &names, 9, &previews_login, &pr7)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("names the user"), "{error}");

    // Removal: the schema with everything in it, then the role; once.
    assert!(
        roles::drop_preview(&base, &names, 7, &previews_login)
            .await
            .expect("dropped")
    );
    assert!(
        !roles::drop_preview(&base, &names, 7, &previews_login)
            .await
            .expect("again")
    );
    let left: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname IN ('pr_7', 'pr_8') ORDER BY 1",
    )
    .fetch_all(database.pool())
    .await
    .expect("schemas");
    assert_eq!(left, ["pr_8"]);
    let role_left: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(names.preview(7))
            .fetch_one(database.pool())
            .await
            .expect("roles");
    assert!(!role_left);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM public.users")
        .fetch_one(database.pool())
        .await
        .expect("public is untouched");
    assert_eq!(users, 1);

    roles::drop_preview(&base, &names, 8, &previews_login)
        .await
        .expect("pr_8");
    let prefix = database.name().to_owned();
    database.drop_database().await.expect("dropped");
    userlog_testkit::drop_roles(&prefix)
        .await
        .expect("the roles");
}
