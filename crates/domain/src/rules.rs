//! The rules of an import: its identity, the as-of guard, what a row does to stored statistics,
//! how many row errors are tolerated, and the summary an import reports.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codes::ErrorCode;
use crate::values::{Count, UserId};

/// The source object of an import. Importing the same object twice has at most one effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceObject {
    pub bucket: String,
    pub key: String,
    /// The S3 ETag (or, for local files, the SHA-256 of the content).
    pub etag: String,
}

impl SourceObject {
    /// The idempotency key: a hash of bucket, key and ETag, unambiguous whatever they contain.
    pub fn idempotency_key(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [&self.bucket, &self.key, self.etag.trim_matches('"')] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        hex::encode(hasher.finalize())
    }
}

/// The as-of time written into an object key, as basic ISO 8601 in UTC: `YYYYMMDDTHHMMSSZ`
/// (for example `exports/activity-20260131T090000Z.csv`). Without one, the object's
/// LastModified time is the as-of time.
pub fn as_of_from_key(key: &str) -> Option<DateTime<Utc>> {
    let bytes = key.as_bytes();
    (0..bytes.len().saturating_sub(15)).rev().find_map(|start| {
        let window = key.get(start..start + 16)?;
        let shaped = window.bytes().enumerate().all(|(i, b)| match i {
            8 => b == b'T',
            15 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
        if !shaped {
            return None;
        }
        chrono::NaiveDateTime::parse_from_str(&window[..15], "%Y%m%dT%H%M%S")
            .ok()
            .map(|t| t.and_utc())
    })
}

/// Where counts stand for one user, and which import put them there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub as_of: DateTime<Utc>,
    pub import_id: i64,
}

impl Stamp {
    /// Imports are ordered by as-of time; between two imports of the same as-of, the later
    /// claimed one (larger id) wins, so that the order is total and every replica agrees.
    fn order_key(self) -> (DateTime<Utc>, i64) {
        (self.as_of, self.import_id)
    }
}

/// The counts of one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub login_count: Count,
    pub post_count: Count,
}

/// What applying a row does to a user's stored statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No statistics yet: create them.
    Insert,
    /// Newer counts that differ: set them (the import sets totals; it never adds).
    Update { old: Counts },
    /// The counts are already these (a retried batch, or nothing changed): only the stamp may move.
    Unchanged,
    /// The stored counts come from a newer file: leave them.
    SkipOlder,
}

/// Decides what a row of an import does, given what is stored.
pub fn decide(stored: Option<(Counts, Stamp)>, incoming: Counts, stamp: Stamp) -> Decision {
    match stored {
        None => Decision::Insert,
        Some((_, current)) if current.import_id == stamp.import_id => Decision::Unchanged,
        Some((_, current)) if current.order_key() > stamp.order_key() => Decision::SkipOlder,
        Some((old, _)) if old == incoming => Decision::Unchanged,
        Some((old, _)) => Decision::Update { old },
    }
}

/// How many failed rows an import tolerates before it fails (seed: 5 % and 50 rows; exceeding
/// either fails). The distributed map tolerates no failed batch: a batch holds more than 50 rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tolerance {
    pub max_percent: f64,
    pub max_count: u64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            max_percent: 5.0,
            max_count: 50,
        }
    }
}

impl Tolerance {
    /// Whether `failed` row errors out of `total` rows still let the import succeed.
    pub fn allows(self, failed: u64, total: u64) -> bool {
        failed <= self.max_count && (failed as f64) * 100.0 <= self.max_percent * (total as f64)
    }
}

/// A row that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RowError {
    pub line: Option<u64>,
    pub user_id: Option<UserId>,
    pub code: ErrorCode,
    pub message: String,
}

/// How an import ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Applied, with no row errors.
    Succeeded,
    /// Applied; some rows failed, within the tolerance.
    SucceededWithErrors,
    /// This object was imported before; nothing was done.
    Duplicate,
    /// The file is invalid; nothing was applied.
    Rejected,
    /// Too many rows failed, or the import broke. On the bulk path nothing was applied; on the
    /// distributed map path batches that finished stay applied, and a rerun converges.
    Failed,
}

impl ImportStatus {
    /// Whether the file's counts are in the database after this import.
    pub fn applied(self) -> bool {
        matches!(
            self,
            ImportStatus::Succeeded | ImportStatus::SucceededWithErrors
        )
    }
}

/// What an import did. Serialises to the `import` JSON contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    pub status: ImportStatus,
    pub import_id: Option<i64>,
    pub as_of: DateTime<Utc>,
    pub rows_total: u64,
    /// Rows whose counts changed.
    pub applied: u64,
    /// Rows whose counts were already these.
    pub unchanged: u64,
    /// Rows left alone because a newer file already set that user's counts.
    pub skipped_older: u64,
    /// The object was imported before.
    pub duplicate: bool,
    pub row_error_count: u64,
    /// The first row errors, in file order.
    pub row_errors: Vec<RowError>,
    /// File problems, when the file was rejected.
    pub problems: Vec<crate::reader::Problem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(login: i32, post: i32) -> Counts {
        Counts {
            login_count: Count::new(login).unwrap(),
            post_count: Count::new(post).unwrap(),
        }
    }

    fn stamp(day: u32, import_id: i64) -> Stamp {
        let as_of = format!("2026-01-{day:02}T00:00:00Z").parse().unwrap();
        Stamp { as_of, import_id }
    }

    #[test]
    fn decisions() {
        let new = counts(5, 6);
        assert_eq!(decide(None, new, stamp(2, 2)), Decision::Insert);
        assert_eq!(
            decide(Some((counts(1, 1), stamp(1, 1))), new, stamp(2, 2)),
            Decision::Update { old: counts(1, 1) }
        );
        assert_eq!(
            decide(Some((new, stamp(1, 1))), new, stamp(2, 2)),
            Decision::Unchanged
        );
        assert_eq!(
            decide(Some((counts(9, 9), stamp(3, 1))), new, stamp(2, 2)),
            Decision::SkipOlder
        );
        // A retried batch of the same import finds its own stamp.
        assert_eq!(
            decide(Some((new, stamp(2, 2))), new, stamp(2, 2)),
            Decision::Unchanged
        );
        // Same as-of: the later import wins.
        assert_eq!(
            decide(Some((counts(1, 1), stamp(2, 3))), new, stamp(2, 2)),
            Decision::SkipOlder
        );
        assert_eq!(
            decide(Some((counts(1, 1), stamp(2, 1))), new, stamp(2, 2)),
            Decision::Update { old: counts(1, 1) }
        );
    }

    #[test]
    fn tolerance_fails_when_either_limit_is_exceeded() {
        let t = Tolerance::default();
        assert!(t.allows(50, 1000));
        assert!(!t.allows(51, 1000));
        assert!(t.allows(5, 100));
        assert!(!t.allows(6, 100));
        assert!(!t.allows(51, 100_000));
        assert!(t.allows(0, 0));
    }

    #[test]
    fn as_of_times_in_keys() {
        let at = |key: &str| as_of_from_key(key).map(|t| t.to_rfc3339());
        assert_eq!(
            at("in/activity-20260131T090000Z.csv"),
            Some("2026-01-31T09:00:00+00:00".into())
        );
        assert_eq!(
            at("20250101T000000Z/x-20260131T090000Z.csv"),
            Some("2026-01-31T09:00:00+00:00".into())
        );
        assert_eq!(at("in/activity-20261331T090000Z.csv"), None);
        assert_eq!(at("in/activity.csv"), None);
    }

    #[test]
    fn idempotency_keys_separate_their_parts() {
        let a = SourceObject {
            bucket: "b".into(),
            key: "k1".into(),
            etag: "e".into(),
        };
        let b = SourceObject {
            bucket: "b".into(),
            key: "k".into(),
            etag: "1e".into(),
        };
        assert_ne!(a.idempotency_key(), b.idempotency_key());
        let quoted = SourceObject {
            etag: "\"e\"".into(),
            ..a.clone()
        };
        assert_eq!(a.idempotency_key(), quoted.idempotency_key());
    }
}
