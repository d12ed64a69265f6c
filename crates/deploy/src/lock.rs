//! The deploy lock: one deploy or rollback per environment at a time, like Terraform's state
//! lock. It is an item per environment in a DynamoDB table, written with a conditional put, with
//! its owner, the time it was taken and the time it expires, so that the lock of a deploy that
//! crashed can be broken once it has expired. The decisions are pure functions here; the table
//! calls are in [`crate::stack`] and [`crate::sdk`].

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How long a lock holds before another deploy may break it: longer than any deploy takes.
pub const LOCK_LIFETIME: Duration = Duration::hours(2);

/// The table's key attribute.
pub const KEY_ATTRIBUTE: &str = "environment";

/// One held lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockRecord {
    /// The environment it locks (the item's key).
    pub environment: String,
    /// The deploy or rollback that holds it.
    pub deploy_id: String,
    /// Who runs it: `user@host (pid N)` or the CI run.
    pub owner: String,
    /// `deploy` or `rollback`.
    pub command: String,
    /// When it was taken.
    pub acquired_at: DateTime<Utc>,
    /// When another deploy may break it.
    pub expires_at: DateTime<Utc>,
    /// The process that holds it, with [`LockRecord::boot_id`]: a deploy on the same machine may
    /// break the lock of a holder that no longer runs (killed, crashed) without waiting.
    #[serde(default)]
    pub pid: Option<u32>,
    /// The kernel's boot id of the holder's machine (`/proc/sys/kernel/random/boot_id`).
    #[serde(default)]
    pub boot_id: Option<String>,
}

impl LockRecord {
    /// A new lock taken `now`.
    pub fn new(
        environment: &str,
        deploy_id: &str,
        owner: &str,
        command: &str,
        now: DateTime<Utc>,
    ) -> Self {
        LockRecord {
            environment: environment.to_owned(),
            deploy_id: deploy_id.to_owned(),
            owner: owner.to_owned(),
            command: command.to_owned(),
            acquired_at: now,
            expires_at: now + LOCK_LIFETIME,
            pid: None,
            boot_id: None,
        }
    }

    /// The same lock, naming this process as its holder.
    pub fn held_by_this_process(self) -> Self {
        LockRecord {
            pid: Some(std::process::id()),
            boot_id: this_boot(),
            ..self
        }
    }

    /// Whether the lock has expired at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// What taking the lock must assume about the item already there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// No item: the put requires that none exists.
    Absent,
    /// An expired lock: the put requires that exactly that lock (by deploy id) is still there.
    Expired(LockRecord),
}

/// The next step of taking the lock, given the item found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockStep {
    /// Put the new lock, on this condition.
    Put(Expectation),
    /// Someone holds it.
    Held(LockRecord),
}

/// Decides how to take the lock, given the item found at `now` and whether its holder is known
/// to be gone ([`holder_gone`]): an expired or abandoned lock is broken, on condition that it is
/// still the same lock.
pub fn next_step(existing: Option<LockRecord>, now: DateTime<Utc>, gone: bool) -> LockStep {
    match existing {
        None => LockStep::Put(Expectation::Absent),
        Some(record) if gone || record.is_expired(now) => {
            LockStep::Put(Expectation::Expired(record))
        }
        Some(record) => LockStep::Held(record),
    }
}

/// Whether the holder of `record` is known to be gone: it ran on this machine since its last
/// boot (`this_boot`) and its process no longer exists (`alive`). A holder elsewhere is never
/// known to be gone; its lock holds until it expires.
pub fn holder_gone(
    record: &LockRecord,
    this_boot: Option<&str>,
    alive: impl Fn(u32) -> bool,
) -> bool {
    match (record.pid, record.boot_id.as_deref(), this_boot) {
        (Some(pid), Some(theirs), Some(ours)) => theirs == ours && !alive(pid),
        _ => false,
    }
}

/// This machine's boot id, where the kernel tells it.
pub fn this_boot() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// Whether process `pid` exists on this machine (Linux: `/proc/<pid>`; elsewhere it is assumed to).
pub fn process_alive(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// Whether a conditional put on `expectation` succeeds on the item `current`: the same rule the
/// table's condition expression states (`crate::sdk::Aws::put_lock`), stated here so that it is tested.
pub fn condition_holds(expectation: &Expectation, current: Option<&LockRecord>) -> bool {
    match (expectation, current) {
        (Expectation::Absent, None) => true,
        (Expectation::Expired(expected), Some(current)) => current.deploy_id == expected.deploy_id,
        _ => false,
    }
}

/// What taking the lock did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// It was free.
    Free,
    /// It was held by a deploy whose lock had expired, or whose process on this machine is
    /// gone; that lock was broken.
    BrokeExpired(LockRecord),
}

/// Who runs this process, for the lock's owner: the CI run when there is one, else user and host.
pub fn current_owner(lookup: impl Fn(&str) -> Option<String>) -> String {
    if let (Some(repository), Some(run)) = (lookup("GITHUB_REPOSITORY"), lookup("GITHUB_RUN_ID")) {
        let actor = lookup("GITHUB_ACTOR").unwrap_or_else(|| "github-actions".to_owned());
        return format!("{actor} (GitHub Actions run {run} of {repository})");
    }
    let user = lookup("USER")
        .or_else(|| lookup("LOGNAME"))
        .unwrap_or_else(|| "unknown user".to_owned());
    let host = lookup("HOSTNAME").unwrap_or_else(|| "unknown host".to_owned());
    format!("{user}@{host} (pid {})", std::process::id())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, hour, minute, 0)
            .single()
            .expect("a valid time")
    }

    fn lock(id: &str, taken: DateTime<Utc>) -> LockRecord {
        LockRecord::new("staging", id, "ci", "deploy", taken)
    }

    #[test]
    fn a_free_lock_is_taken_on_condition_that_it_is_still_free() {
        assert_eq!(
            next_step(None, at(10, 0), false),
            LockStep::Put(Expectation::Absent)
        );
        assert!(condition_holds(&Expectation::Absent, None));
        assert!(!condition_holds(
            &Expectation::Absent,
            Some(&lock("other", at(10, 0)))
        ));
    }

    #[test]
    fn a_held_lock_is_reported_until_it_expires() {
        let held = lock("d-1", at(10, 0));
        assert_eq!(held.expires_at, at(12, 0));
        assert_eq!(
            next_step(Some(held.clone()), at(11, 59), false),
            LockStep::Held(held.clone())
        );
        assert_eq!(
            next_step(Some(held.clone()), at(12, 0), false),
            LockStep::Put(Expectation::Expired(held.clone()))
        );
    }

    #[test]
    fn the_lock_of_a_holder_that_is_gone_from_this_machine_is_broken_at_once() {
        let held = LockRecord {
            pid: Some(4242),
            boot_id: Some("boot-a".to_owned()),
            ..lock("d-1", at(10, 0))
        };
        let dead = |_| false;
        let alive = |_| true;
        assert!(holder_gone(&held, Some("boot-a"), dead));
        assert!(!holder_gone(&held, Some("boot-a"), alive));
        // Another machine (or this one since a reboot): nothing is known about the holder.
        assert!(!holder_gone(&held, Some("boot-b"), dead));
        assert!(!holder_gone(&held, None, dead));
        // A lock that names no process (a CI run elsewhere) is never taken for gone.
        assert!(!holder_gone(&lock("d-2", at(10, 0)), Some("boot-a"), dead));
        assert_eq!(
            next_step(Some(held.clone()), at(10, 5), true),
            LockStep::Put(Expectation::Expired(held))
        );
        assert!(process_alive(std::process::id()));
    }

    #[test]
    fn an_expired_lock_is_broken_only_if_nobody_broke_it_first() {
        let expired = lock("d-1", at(8, 0));
        let expectation = Expectation::Expired(expired.clone());
        assert!(condition_holds(&expectation, Some(&expired)));
        // Another deploy broke it and holds a new lock meanwhile.
        assert!(!condition_holds(
            &expectation,
            Some(&lock("d-2", at(10, 30)))
        ));
        // It was released meanwhile: the put must start over from "absent".
        assert!(!condition_holds(&expectation, None));
    }

    #[test]
    fn owners_name_the_ci_run_or_the_user_and_host() {
        let ci = current_owner(|name| {
            match name {
                "GITHUB_REPOSITORY" => Some("userlog/userlog"),
                "GITHUB_RUN_ID" => Some("42"),
                "GITHUB_ACTOR" => Some("octocat"),
                _ => None,
            }
            .map(str::to_owned)
        });
        assert_eq!(ci, "octocat (GitHub Actions run 42 of userlog/userlog)");
        let local = current_owner(|name| {
            match name {
                "USER" => Some("dev"),
                "HOSTNAME" => Some("laptop"),
                _ => None,
            }
            .map(str::to_owned)
        });
        assert!(local.starts_with("dev@laptop (pid "), "{local}");
    }
}
