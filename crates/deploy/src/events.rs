//! Stack events as progress: which events are new since the last look, one line per event, when
//! the stack has reached a terminal status, and which resources failed and why.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One stack event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackEvent {
    /// Unique per event.
    pub event_id: String,
    /// The resource (or the stack itself).
    pub logical_id: String,
    /// Its type.
    pub resource_type: String,
    /// `CREATE_IN_PROGRESS`, `UPDATE_FAILED`, ...
    pub status: String,
    /// CloudFormation's reason, when it gives one.
    pub reason: Option<String>,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
}

impl StackEvent {
    /// Whether the event is about the stack itself.
    pub fn is_stack(&self, stack_name: &str) -> bool {
        self.resource_type == "AWS::CloudFormation::Stack" && self.logical_id == stack_name
    }

    /// One line: `  +1.2s UPDATE_COMPLETE      ValidateCsvFunction (AWS::Lambda::Function)`.
    pub fn line(&self, since: DateTime<Utc>) -> String {
        let elapsed = (self.timestamp - since).num_milliseconds().max(0) as f64 / 1000.0;
        let mut line = format!(
            "+{elapsed:>6.1}s {:<28} {} ({})",
            self.status, self.logical_id, self.resource_type
        );
        if let Some(reason) = self.reason.as_deref().filter(|r| !r.is_empty()) {
            line.push_str(": ");
            line.push_str(reason);
        }
        line
    }
}

/// The events already seen, so that each is shown once.
#[derive(Debug, Clone, Default)]
pub struct EventCursor {
    seen: HashSet<String>,
}

impl EventCursor {
    /// A cursor that has seen `events` (those that happened before the update started).
    pub fn after(events: &[StackEvent]) -> Self {
        EventCursor {
            seen: events.iter().map(|e| e.event_id.clone()).collect(),
        }
    }

    /// The ids seen so far, so that a listing can stop at the first one it already knows.
    pub fn seen(&self) -> &HashSet<String> {
        &self.seen
    }

    /// The events of `newest_first` not seen before, oldest first; marks them seen.
    pub fn take_new(&mut self, newest_first: &[StackEvent]) -> Vec<StackEvent> {
        let mut new: Vec<StackEvent> = newest_first
            .iter()
            .filter(|e| !self.seen.contains(&e.event_id))
            .cloned()
            .collect();
        new.reverse();
        for event in &new {
            self.seen.insert(event.event_id.clone());
        }
        new
    }
}

/// Whether a stack status is final (nothing is in progress).
pub fn is_terminal(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS") && status != "REVIEW_IN_PROGRESS"
}

/// Whether a final stack status means the update or creation worked.
pub fn is_success(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE"
    )
}

/// What a stack in `status` needs before a deploy can change it, if anything.
pub fn blocked_status_advice(status: &str, is_local: bool) -> Option<String> {
    if !is_terminal(status) {
        return Some(
            "another operation is in progress; wait for it to end (or for its lock to expire) and deploy again"
                .to_owned(),
        );
    }
    match status {
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" if is_local => None,
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" => Some(
            "its creation failed and CloudFormation cannot update it; read its events, delete it \
             (`aws cloudformation delete-stack`), then deploy again"
                .to_owned(),
        ),
        "UPDATE_ROLLBACK_FAILED" => Some(
            "an update failed and so did its rollback; continue the rollback \
             (`aws cloudformation continue-update-rollback`) after fixing the resources its events name"
                .to_owned(),
        ),
        "DELETE_FAILED" => Some(
            "deleting it failed; read its events, fix what blocks the deletion and delete it again".to_owned(),
        ),
        _ => None,
    }
}

/// Whether a stack in `status` is a failed creation that a local deploy deletes and creates again.
pub fn is_failed_creation(status: &str) -> bool {
    matches!(
        status,
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED"
    )
}

/// A resource that failed, with CloudFormation's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceFailure {
    /// The resource.
    pub logical_id: String,
    /// Its type.
    pub resource_type: String,
    /// The failed status.
    pub status: String,
    /// Why.
    pub reason: String,
}

impl fmt::Display for ResourceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) {}: {}",
            self.logical_id, self.resource_type, self.status, self.reason
        )
    }
}

/// The failures among `events` (oldest first) that explain a failed update: the resources whose
/// status is `*_FAILED`, without the follow-on cancellations CloudFormation reports for the
/// resources it stopped when the first one failed.
pub fn failures(events: &[StackEvent], stack_name: &str) -> Vec<ResourceFailure> {
    events
        .iter()
        .filter(|e| e.status.ends_with("_FAILED") && !e.is_stack(stack_name))
        .filter(|e| {
            let reason = e.reason.as_deref().unwrap_or_default();
            !reason.contains("Resource creation cancelled")
                && !reason.contains("Resource update cancelled")
        })
        .map(|e| ResourceFailure {
            logical_id: e.logical_id.clone(),
            resource_type: e.resource_type.clone(),
            status: e.status.clone(),
            reason: e
                .reason
                .clone()
                .unwrap_or_else(|| "(no reason given)".to_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use expect_test::expect;

    use super::*;

    fn event(
        id: &str,
        second: u32,
        logical: &str,
        status: &str,
        reason: Option<&str>,
    ) -> StackEvent {
        StackEvent {
            event_id: id.to_owned(),
            logical_id: logical.to_owned(),
            resource_type: if logical == "local-userlog" {
                "AWS::CloudFormation::Stack".to_owned()
            } else {
                "AWS::Lambda::Function".to_owned()
            },
            status: status.to_owned(),
            reason: reason.map(str::to_owned),
            timestamp: Utc
                .with_ymd_and_hms(2026, 11, 23, 10, 0, second)
                .single()
                .expect("a valid time"),
        }
    }

    #[test]
    fn each_event_is_shown_once_oldest_first() {
        let old = vec![event("e1", 0, "local-userlog", "CREATE_COMPLETE", None)];
        let mut cursor = EventCursor::after(&old);
        let first_look = vec![
            event("e3", 2, "Fn", "UPDATE_COMPLETE", None),
            event("e2", 1, "Fn", "UPDATE_IN_PROGRESS", None),
            old[0].clone(),
        ];
        let ids = |events: Vec<StackEvent>| -> Vec<String> {
            events.into_iter().map(|e| e.event_id).collect()
        };
        assert_eq!(ids(cursor.take_new(&first_look)), ["e2", "e3"]);
        let second_look = [
            vec![event("e4", 3, "local-userlog", "UPDATE_COMPLETE", None)],
            first_look,
        ]
        .concat();
        assert_eq!(ids(cursor.take_new(&second_look)), ["e4"]);
        assert!(cursor.take_new(&second_look).is_empty());
    }

    #[test]
    fn events_read_as_one_line_each() {
        let since = Utc
            .with_ymd_and_hms(2026, 11, 23, 9, 59, 58)
            .single()
            .expect("a valid time");
        let lines: Vec<String> = [
            event("e1", 0, "Fn", "UPDATE_IN_PROGRESS", None),
            event(
                "e2",
                1,
                "Fn",
                "UPDATE_FAILED",
                Some("Resource handler returned message: \"bad key\""),
            ),
        ]
        .iter()
        .map(|e| e.line(since))
        .collect();
        expect![[r#"
            [
                "+   2.0s UPDATE_IN_PROGRESS           Fn (AWS::Lambda::Function)",
                "+   3.0s UPDATE_FAILED                Fn (AWS::Lambda::Function): Resource handler returned message: \"bad key\"",
            ]
        "#]]
        .assert_debug_eq(&lines);
    }

    #[test]
    fn terminal_statuses_and_what_blocks_a_deploy() {
        assert!(!is_terminal("UPDATE_IN_PROGRESS"));
        assert!(!is_terminal("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"));
        assert!(!is_terminal("REVIEW_IN_PROGRESS"));
        assert!(is_terminal("UPDATE_ROLLBACK_COMPLETE"));
        assert!(is_success("UPDATE_COMPLETE"));
        assert!(!is_success("UPDATE_ROLLBACK_COMPLETE"));
        assert!(blocked_status_advice("UPDATE_COMPLETE", false).is_none());
        assert!(blocked_status_advice("UPDATE_ROLLBACK_COMPLETE", false).is_none());
        assert!(blocked_status_advice("UPDATE_IN_PROGRESS", true).is_some());
        assert!(blocked_status_advice("ROLLBACK_COMPLETE", false).is_some());
        assert!(blocked_status_advice("ROLLBACK_COMPLETE", true).is_none());
        assert!(is_failed_creation("ROLLBACK_COMPLETE"));
    }

    #[test]
    fn failures_name_the_resources_that_failed_first() {
        let events = [
            event(
                "e1",
                0,
                "Alarm",
                "CREATE_FAILED",
                Some("Properties.Metrics is not supported"),
            ),
            event(
                "e2",
                0,
                "Fn",
                "CREATE_FAILED",
                Some("Resource creation cancelled"),
            ),
            event(
                "e3",
                1,
                "local-userlog",
                "ROLLBACK_IN_PROGRESS",
                Some("The following resource(s) failed to create: [Alarm]"),
            ),
            event("e4", 2, "local-userlog", "ROLLBACK_FAILED", None),
        ];
        expect![[r#"
            [
                "Alarm (AWS::Lambda::Function) CREATE_FAILED: Properties.Metrics is not supported",
            ]
        "#]]
        .assert_debug_eq(
            &failures(&events, "local-userlog")
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        );
    }
}
