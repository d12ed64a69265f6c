//! The local stack: every stand-in service behind one `up`/`down`/`status`/`env`, and the report
//! types that the command line prints as text or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::LocalError;
use crate::layout::LocalDir;
use crate::ministack::MiniStack;
use crate::postgres::Postgres;

/// Receives one line per slow step ("Initializing a new cluster ..."), for progress output.
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// A local stand-in that can be started, stopped and inspected. Each service keeps its state in
/// its own directory under the [`LocalDir`] and serialises its `up`/`down` with a lock there.
pub trait Service {
    /// The short name used in output and as the state directory name, e.g. `postgres`.
    fn name(&self) -> &'static str;
    /// Starts the service unless it already runs and answers; idempotent.
    fn up(&self, progress: Progress<'_>) -> Result<ServiceReport, LocalError>;
    /// Stops the service if it runs.
    fn down(&self, progress: Progress<'_>) -> Result<ServiceReport, LocalError>;
    /// What runs where, without changing anything.
    fn status(&self) -> Result<ServiceStatus, LocalError>;
    /// The environment variables that point clients at the running service.
    fn env(&self) -> Result<Vec<EnvVar>, LocalError>;
}

/// Whether a service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// It runs and answers on its port.
    Running,
    /// It has state but does not run.
    Stopped,
    /// It was never started in this state directory.
    NotInitialized,
}

impl ServiceState {
    /// The word used in human output.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::NotInitialized => "not initialized",
        }
    }
}

/// What runs where, for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// The service name.
    pub name: String,
    /// Whether it runs.
    pub state: ServiceState,
    /// The pid of its main process while it runs.
    pub pid: Option<u32>,
    /// `host:port` while it runs.
    pub address: Option<String>,
    /// The URL clients use while it runs.
    pub url: Option<String>,
    /// Its state directory.
    pub state_dir: PathBuf,
    /// Its log file.
    pub log_file: PathBuf,
    /// Service-specific facts (data directory, program directory, user it runs as, ...).
    pub details: BTreeMap<String, String>,
    /// Something worth knowing, e.g. that a recorded process has gone.
    pub note: Option<String>,
}

/// What `up` or `down` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Created the service's state from scratch and started it.
    Initialized,
    /// Started it from its existing state.
    Started,
    /// The state said it was running but its process had gone; started it again.
    Restarted,
    /// It already ran and answered; reused it.
    AlreadyRunning,
    /// Stopped it.
    Stopped,
    /// It did not run.
    AlreadyStopped,
}

impl Action {
    /// The phrase used in human output.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Initialized => "created and started",
            Self::Started => "started",
            Self::Restarted => "restarted (its process had gone)",
            Self::AlreadyRunning => "already running, reused",
            Self::Stopped => "stopped",
            Self::AlreadyStopped => "was not running",
        }
    }
}

/// The outcome of `up` or `down` for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceReport {
    /// What was done.
    pub action: Action,
    /// The state afterwards.
    pub status: ServiceStatus,
}

/// One environment variable for clients of the local stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    /// The variable name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// The status of every service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackStatus {
    /// The directory holding all local state.
    pub local_dir: PathBuf,
    /// One entry per service, in start order.
    pub services: Vec<ServiceStatus>,
}

/// The outcome of `up` or `down` for every service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackReport {
    /// The directory holding all local state.
    pub local_dir: PathBuf,
    /// One entry per service, in the order they were handled.
    pub services: Vec<ServiceReport>,
}

/// Every local stand-in of this checkout. A new service becomes a field here and an entry in
/// [`LocalStack::services`].
#[derive(Debug, Clone)]
pub struct LocalStack {
    dir: LocalDir,
    /// The throwaway PostgreSQL cluster.
    pub postgres: Postgres,
    /// The AWS emulator.
    pub ministack: MiniStack,
}

impl LocalStack {
    /// The stack of this checkout (see [`LocalDir::discover`]).
    pub fn discover() -> Result<Self, LocalError> {
        Ok(Self::at(LocalDir::discover()?))
    }

    /// The stack whose state lives in `dir`.
    pub fn at(dir: LocalDir) -> Self {
        Self {
            postgres: Postgres::new(dir.service_dir(Postgres::NAME)),
            ministack: MiniStack::for_checkout(dir.service_dir(MiniStack::NAME)),
            dir,
        }
    }

    /// The directory holding all local state.
    pub fn dir(&self) -> &LocalDir {
        &self.dir
    }

    /// The services in start order.
    pub fn services(&self) -> Vec<&dyn Service> {
        vec![&self.postgres, &self.ministack]
    }

    /// Starts every service that does not run yet.
    pub fn up(&self, progress: Progress<'_>) -> Result<StackReport, LocalError> {
        let services = self
            .services()
            .into_iter()
            .map(|service| service.up(&mut *progress))
            .collect::<Result<_, _>>()?;
        Ok(self.report(services))
    }

    /// Stops every service, in reverse start order.
    pub fn down(&self, progress: Progress<'_>) -> Result<StackReport, LocalError> {
        let services = self
            .services()
            .into_iter()
            .rev()
            .map(|service| service.down(&mut *progress))
            .collect::<Result<_, _>>()?;
        Ok(self.report(services))
    }

    /// What runs where.
    pub fn status(&self) -> Result<StackStatus, LocalError> {
        let services = self
            .services()
            .into_iter()
            .map(Service::status)
            .collect::<Result<_, _>>()?;
        Ok(StackStatus {
            local_dir: self.dir.path().to_path_buf(),
            services,
        })
    }

    /// The environment variables of every service; fails when one does not run.
    pub fn env(&self) -> Result<Vec<EnvVar>, LocalError> {
        let mut vars = Vec::new();
        for service in self.services() {
            vars.extend(service.env()?);
        }
        Ok(vars)
    }

    fn report(&self, services: Vec<ServiceReport>) -> StackReport {
        StackReport {
            local_dir: self.dir.path().to_path_buf(),
            services,
        }
    }
}

/// Human output of `up` and `down`: what was done to each service and where it runs.
pub fn render_report(report: &StackReport) -> String {
    let mut out = String::new();
    for service in &report.services {
        render_service(&mut out, service.action.describe(), &service.status);
    }
    out
}

/// Human output of `status`.
pub fn render_status(status: &StackStatus) -> String {
    let mut out = format!("Local state in {}\n", status.local_dir.display());
    for service in &status.services {
        render_service(&mut out, service.state.describe(), service);
    }
    out
}

fn render_service(out: &mut String, headline: &str, status: &ServiceStatus) {
    let _ = write!(out, "{}: {headline}", status.name);
    let running = [
        status.pid.map(|pid| format!("pid {pid}")),
        status
            .address
            .as_ref()
            .map(|address| format!("on {address}")),
    ];
    let running: Vec<String> = running.into_iter().flatten().collect();
    if !running.is_empty() {
        let _ = write!(out, " ({})", running.join(", "));
    }
    out.push('\n');
    let mut rows: Vec<(&str, String)> = Vec::new();
    if let Some(url) = &status.url {
        rows.push(("url", url.clone()));
    }
    rows.push(("state", status.state_dir.display().to_string()));
    rows.push(("log", status.log_file.display().to_string()));
    rows.extend(
        status
            .details
            .iter()
            .map(|(key, value)| (key.as_str(), value.clone())),
    );
    if let Some(note) = &status.note {
        rows.push(("note", note.clone()));
    }
    let width = rows.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    for (key, value) in rows {
        let _ = writeln!(out, "  {key:<width$}  {value}");
    }
}

/// `export NAME=value` lines for a POSIX shell (`eval "$(cargo xtask local env)"`).
pub fn render_exports(vars: &[EnvVar]) -> String {
    vars.iter()
        .map(|var| format!("export {}={}\n", var.name, shell_quote(&var.value)))
        .collect()
}

/// Quotes a value for a POSIX shell when it holds anything but plainly safe characters.
fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '/' | ':' | '@' | '.' | '_' | '-' | '+' | '=' | ',')
        });
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn running_postgres() -> ServiceStatus {
        ServiceStatus {
            name: "postgres".to_owned(),
            state: ServiceState::Running,
            pid: Some(4242),
            address: Some("127.0.0.1:54321".to_owned()),
            url: Some("postgres://userlog@127.0.0.1:54321/userlog".to_owned()),
            state_dir: PathBuf::from("/repo/.local/postgres"),
            log_file: PathBuf::from("/repo/.local/postgres/postgres.log"),
            details: BTreeMap::from([
                (
                    "data_dir".to_owned(),
                    "/repo/.local/postgres/data".to_owned(),
                ),
                ("run_as".to_owned(), "postgres".to_owned()),
            ]),
            note: None,
        }
    }

    fn stopped_postgres() -> ServiceStatus {
        ServiceStatus {
            state: ServiceState::Stopped,
            pid: None,
            address: None,
            url: None,
            note: Some("the recorded pid 4242 is not running".to_owned()),
            ..running_postgres()
        }
    }

    fn check_status(status: &StackStatus, expected: &Expect) {
        expected.assert_eq(&render_status(status));
    }

    fn check_report(report: &StackReport, expected: &Expect) {
        expected.assert_eq(&render_report(report));
    }

    fn check_json<T: Serialize>(value: &T, expected: &Expect) {
        expected.assert_eq(&serde_json::to_string_pretty(value).expect("serialisable"));
    }

    #[test]
    fn status_says_what_runs_where() {
        check_status(
            &StackStatus {
                local_dir: PathBuf::from("/repo/.local"),
                services: vec![running_postgres()],
            },
            &expect![[r#"
                Local state in /repo/.local
                postgres: running (pid 4242, on 127.0.0.1:54321)
                  url       postgres://userlog@127.0.0.1:54321/userlog
                  state     /repo/.local/postgres
                  log       /repo/.local/postgres/postgres.log
                  data_dir  /repo/.local/postgres/data
                  run_as    postgres
            "#]],
        );
    }

    #[test]
    fn status_of_a_stopped_service_carries_its_note() {
        check_status(
            &StackStatus {
                local_dir: PathBuf::from("/repo/.local"),
                services: vec![stopped_postgres()],
            },
            &expect![[r#"
                Local state in /repo/.local
                postgres: stopped
                  state     /repo/.local/postgres
                  log       /repo/.local/postgres/postgres.log
                  data_dir  /repo/.local/postgres/data
                  run_as    postgres
                  note      the recorded pid 4242 is not running
            "#]],
        );
    }

    #[test]
    fn reports_say_what_was_done() {
        check_report(
            &StackReport {
                local_dir: PathBuf::from("/repo/.local"),
                services: vec![ServiceReport {
                    action: Action::AlreadyRunning,
                    status: running_postgres(),
                }],
            },
            &expect![[r#"
                postgres: already running, reused (pid 4242, on 127.0.0.1:54321)
                  url       postgres://userlog@127.0.0.1:54321/userlog
                  state     /repo/.local/postgres
                  log       /repo/.local/postgres/postgres.log
                  data_dir  /repo/.local/postgres/data
                  run_as    postgres
            "#]],
        );
    }

    #[test]
    fn reports_serialise_for_machines() {
        check_json(
            &StackReport {
                local_dir: PathBuf::from("/repo/.local"),
                services: vec![ServiceReport {
                    action: Action::Initialized,
                    status: running_postgres(),
                }],
            },
            &expect![[r#"
                {
                  "local_dir": "/repo/.local",
                  "services": [
                    {
                      "action": "initialized",
                      "status": {
                        "name": "postgres",
                        "state": "running",
                        "pid": 4242,
                        "address": "127.0.0.1:54321",
                        "url": "postgres://userlog@127.0.0.1:54321/userlog",
                        "state_dir": "/repo/.local/postgres",
                        "log_file": "/repo/.local/postgres/postgres.log",
                        "details": {
                          "data_dir": "/repo/.local/postgres/data",
                          "run_as": "postgres"
                        },
                        "note": null
                      }
                    }
                  ]
                }"#]],
        );
    }

    #[test]
    fn exports_quote_only_what_needs_it() {
        let vars = [
            EnvVar {
                name: "DATABASE_URL".to_owned(),
                value: "postgres://userlog@127.0.0.1:54321/userlog".to_owned(),
            },
            EnvVar {
                name: "ODD".to_owned(),
                value: "it's here".to_owned(),
            },
        ];
        expect![[r#"
            export DATABASE_URL=postgres://userlog@127.0.0.1:54321/userlog
            export ODD='it'\''s here'
        "#]]
        .assert_eq(&render_exports(&vars));
    }
}
