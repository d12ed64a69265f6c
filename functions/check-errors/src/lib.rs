//! The `check-errors` function: the last state of the `import` state machine (seed 003).
//!
//! It reads the execution's error records, decides how the import ended, closes the import's
//! ledger entry, notifies people (SNS, Slack, e-mail), and emits the `CSV/Processing` metrics.
//! The decisions and messages are pure functions ([`verdict`], `userlog_domain::report`); the
//! IO around them is in [`check`].

pub mod check;
pub mod config;
pub mod input;
pub mod verdict;

pub use check::{CheckError, CheckOutput, Deps, handle};
pub use config::Config;
