//! What a deploy, a rollback or an upload tells the person watching it while it runs.

/// Hears about the steps of a long-running command as they happen.
pub trait Progress {
    /// A step starts (`uploading artifacts`).
    fn step(&self, title: &str);
    /// A line about the current step (a stack event, a change, a state).
    fn detail(&self, line: &str);
    /// Something the person should notice (a destructive change, a retry, a skipped step).
    fn warn(&self, line: &str);
}

/// Progress that goes nowhere, for callers that only want the result.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn step(&self, _title: &str) {}
    fn detail(&self, _line: &str) {}
    fn warn(&self, _line: &str) {}
}
