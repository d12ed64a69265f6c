//! The imports ledger against a real PostgreSQL: a running claim is honoured, except by the
//! execution that re-runs it (`cargo xtask redrive`), which takes it over.

mod support;

use support::*;
use userlog_db::ledger::{self, Claim};
use userlog_domain::rules::SourceObject;
use userlog_testkit::fresh_database;

async fn claim_as(pool: &sqlx::PgPool, execution: &str, redrive_of: Option<&str>) -> Claim {
    let source = SourceObject {
        bucket: "in".into(),
        key: "incoming/a.csv".into(),
        etag: "e".into(),
    };
    let mut conn = pool.acquire().await.unwrap();
    ledger::claim_taking_over(
        &mut conn,
        &source,
        day(1),
        execution,
        ledger::DEFAULT_STALE_AFTER,
        redrive_of,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_redrive_takes_over_the_running_claim_of_the_execution_it_reruns() {
    let db = fresh_database().await.expect("a fresh test database");
    let pool = db.pool();
    let Claim::Claimed { import_id, attempt } = claim_as(pool, "first", None).await else {
        panic!("the first claim wins");
    };
    assert_eq!(attempt, 1);
    // The first execution died with its claim `running`: another one is kept out...
    assert_eq!(
        claim_as(pool, "someone-else", None).await,
        Claim::InProgress {
            import_id,
            execution_name: Some("first".to_owned()),
        }
    );
    // ...and so is one that says it re-runs another execution...
    assert!(matches!(
        claim_as(pool, "stranger", Some("not-first")).await,
        Claim::InProgress { .. }
    ));
    // ...but the re-run of `first` takes the claim over, as a new attempt of the same import.
    assert_eq!(
        claim_as(pool, "first-redrive-1", Some("first")).await,
        Claim::Claimed {
            import_id,
            attempt: 2
        }
    );
}
