//! The file that injects failures of AWS's side into the emulator: `<state dir>/faults.json`,
//! read by the launcher at every Step Functions Lambda invocation and every ECS `RunTask`.
//!
//! ```json
//! {
//!   "faults": [
//!     {"id": "throttle", "lambda": "local-userlog-validate-csv",
//!      "error": "Lambda.TooManyRequestsException", "cause": "Rate exceeded", "times": 2},
//!     {"id": "no-start", "ecsTaskDefinition": "local-userlog-import",
//!      "failToStart": "ResourceInitializationError: unable to pull secrets"}
//!   ]
//! }
//! ```
//!
//! A fault strikes `times` times (counted by `id` for the life of the emulator), then the call
//! goes through as before. Tests use it to show each `Retry` and `Catch` of a definition at work.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::LocalError;
use crate::lock::StateLock;
use crate::process::{read_state_file, write_file_atomically};

/// The file name in the emulator's state directory.
pub const FAULTS_FILE: &str = "faults.json";

/// Every fault the emulator knows, in the order they are tried.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// The faults.
    pub faults: Vec<Fault>,
}

/// One failure of AWS's side, struck `times` times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Names the fault; the emulator counts its strikes by it, so a new fault needs a new id.
    pub id: String,
    /// What fails.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How often it strikes.
    pub times: u32,
}

/// What a fault makes fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FaultKind {
    /// The Step Functions invocation of the function `lambda` (by name, any qualifier) fails with
    /// `error` and `cause`, as Lambda's own failures do (`Lambda.TooManyRequestsException`,
    /// `Lambda.ServiceException`, ...); the function does not run.
    Lambda {
        lambda: String,
        error: String,
        cause: String,
    },
    /// The next task of the task definition family stops with `TaskFailedToStart` and this reason.
    #[serde(rename_all = "camelCase")]
    TaskFailsToStart {
        ecs_task_definition: String,
        fail_to_start: String,
    },
    /// `RunTask` of the family answers with this failure and no task (no capacity, ...).
    #[serde(rename_all = "camelCase")]
    RunTaskFailure {
        ecs_task_definition: String,
        run_task_failure: String,
    },
}

impl Fault {
    /// The Step Functions invocation of `function` fails `times` times with `error`.
    pub fn lambda(id: &str, function: &str, error: &str, times: u32) -> Self {
        Self {
            id: id.to_owned(),
            kind: FaultKind::Lambda {
                lambda: function.to_owned(),
                error: error.to_owned(),
                cause: format!("{error} (injected by the local emulator)"),
            },
            times,
        }
    }

    /// The next `times` tasks of `family` fail to start with `reason`.
    pub fn task_fails_to_start(id: &str, family: &str, reason: &str, times: u32) -> Self {
        Self {
            id: id.to_owned(),
            kind: FaultKind::TaskFailsToStart {
                ecs_task_definition: family.to_owned(),
                fail_to_start: reason.to_owned(),
            },
            times,
        }
    }

    /// The next `times` `RunTask` calls for `family` answer with `reason` as their failure.
    pub fn run_task_failure(id: &str, family: &str, reason: &str, times: u32) -> Self {
        Self {
            id: id.to_owned(),
            kind: FaultKind::RunTaskFailure {
                ecs_task_definition: family.to_owned(),
                run_task_failure: reason.to_owned(),
            },
            times,
        }
    }
}

impl Faults {
    /// These faults with `fault` added, replacing an earlier one of the same id.
    pub fn with(mut self, fault: Fault) -> Self {
        self.faults.retain(|known| known.id != fault.id);
        self.faults.push(fault);
        self
    }

    /// The file's text (pretty JSON).
    pub fn render(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// The faults of the file at `path`; none when it does not exist.
pub fn read_faults(path: &Path) -> Result<Faults, LocalError> {
    Ok(read_state_file(path)?.unwrap_or_default())
}

/// Adds `fault` to the file at `path` (replacing one of the same id), keeping the others, under
/// the lock of the file's directory. A running emulator reads the file at every call.
pub fn inject_fault(path: &Path, fault: Fault) -> Result<(), LocalError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let _lock = StateLock::acquire(dir)?;
    let faults = read_faults(path)?.with(fault);
    write_file_atomically(path, faults.render().as_bytes())
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn faults_render_as_the_launcher_reads_them_and_replace_by_id() {
        let faults = Faults::default()
            .with(Fault::lambda(
                "throttle",
                "local-userlog-validate-csv",
                "Lambda.TooManyRequestsException",
                1,
            ))
            .with(Fault::task_fails_to_start(
                "no-start",
                "local-userlog-import",
                "ResourceInitializationError: no secrets",
                1,
            ))
            .with(Fault::run_task_failure(
                "no-capacity",
                "local-userlog-import",
                "RESOURCE:MEMORY",
                1,
            ))
            .with(Fault::lambda(
                "throttle",
                "local-userlog-validate-csv",
                "Lambda.TooManyRequestsException",
                2,
            ));
        expect![[r#"
            {
              "faults": [
                {
                  "id": "no-start",
                  "ecsTaskDefinition": "local-userlog-import",
                  "failToStart": "ResourceInitializationError: no secrets",
                  "times": 1
                },
                {
                  "id": "no-capacity",
                  "ecsTaskDefinition": "local-userlog-import",
                  "runTaskFailure": "RESOURCE:MEMORY",
                  "times": 1
                },
                {
                  "id": "throttle",
                  "lambda": "local-userlog-validate-csv",
                  "error": "Lambda.TooManyRequestsException",
                  "cause": "Lambda.TooManyRequestsException (injected by the local emulator)",
                  "times": 2
                }
              ]
            }
        "#]]
        .assert_eq(&faults.render());
        let parsed: Faults = serde_json::from_str(&faults.render()).expect("it reads back");
        assert_eq!(parsed, faults);
    }
}
