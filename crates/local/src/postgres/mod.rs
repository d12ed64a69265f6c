//! The throwaway PostgreSQL cluster of this checkout: `initdb` once, `pg_ctl start` on a free
//! loopback port, the `userlog` database, and a JSON state file, all under `.local/postgres/`.

pub mod binaries;
pub mod files;

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::LocalError;
use crate::lock::StateLock;
use crate::privileges::RunAs;
use crate::process::{
    free_loopback_port, loopback_port_answers, loopback_port_is_free, process_runs,
    read_state_file, run_checked, tail_lines, wait_until_port_answers, write_state_file,
};
use crate::stack::{Action, EnvVar, Progress, Service, ServiceReport, ServiceState, ServiceStatus};

pub use self::binaries::PgBinaries;
use self::files::{
    DATABASE, HBA_FILE, LISTEN_ADDRESS, PostgresState, PostmasterPid, SETTINGS_FILE,
    ServerSettings, USER, database_url, parse_postmaster_pid, render_hba, render_server_settings,
    socket_dir_for, with_include_line,
};

/// The program name of a PostgreSQL server process.
const SERVER_PROCESS: &str = "postgres";
/// How often a start is tried again with a new port when the chosen one was taken meanwhile.
const START_ATTEMPTS: usize = 3;
/// How long `pg_ctl` waits for the server to start or stop.
const PG_CTL_TIMEOUT_SECONDS: u32 = 60;
/// How long a server that is alive but not yet answering (still starting) is waited for.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The local PostgreSQL cluster, whose state lives in one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postgres {
    dir: PathBuf,
}

impl Postgres {
    /// The service name, also the state directory's name under the local directory.
    pub const NAME: &'static str = "postgres";

    /// The cluster whose state lives in `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: state_dir.into(),
        }
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    /// The data directory (`PGDATA`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The server log.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// The JSON state file.
    pub fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// What the last `up` or `down` recorded, if anything.
    pub fn read_state(&self) -> Result<Option<PostgresState>, LocalError> {
        read_state_file(&self.state_file())
    }

    /// The URL of the application database while the cluster runs.
    pub fn database_url(&self) -> Result<String, LocalError> {
        match self.running_server() {
            Some(server) => Ok(database_url(server.port)),
            None => Err(LocalError::NotRunning {
                service: "PostgreSQL cluster".to_owned(),
            }),
        }
    }

    /// Whether the data directory holds a complete cluster.
    fn is_initialized(&self) -> bool {
        self.data_dir().join("PG_VERSION").is_file()
    }

    /// The server running on this data directory, if any: from `postmaster.pid`, or from the
    /// state file when that is unreadable (a cluster of another user).
    fn running_server(&self) -> Option<PostmasterPid> {
        let pid_file = self.data_dir().join("postmaster.pid");
        let server = match std::fs::read_to_string(&pid_file) {
            Ok(text) => parse_postmaster_pid(&text)?,
            Err(error) if error.kind() == ErrorKind::PermissionDenied => {
                let state = self.read_state().ok()??;
                PostmasterPid {
                    pid: state.pid?,
                    port: state.port,
                    status: String::new(),
                }
            }
            Err(_) => return None,
        };
        process_runs(server.pid, SERVER_PROCESS).then_some(server)
    }

    fn up_locked(&self, progress: Progress<'_>) -> Result<ServiceReport, LocalError> {
        let binaries = PgBinaries::discover()?;
        let run_as = RunAs::for_server()?;
        run_as.take_dir(&self.dir)?;
        let version = binaries.major_version()?;
        let previous = self.read_state()?;

        let created = if self.is_initialized() {
            let cluster_version = std::fs::read_to_string(self.data_dir().join("PG_VERSION"))
                .map_err(LocalError::io("read", self.data_dir().join("PG_VERSION")))?
                .trim()
                .to_owned();
            if cluster_version != version {
                return Err(LocalError::ClusterVersionMismatch {
                    data_dir: self.data_dir(),
                    cluster_version,
                    binaries_version: version,
                    bin_dir: binaries.dir().to_path_buf(),
                });
            }
            run_as.take_tree(&self.data_dir())?;
            false
        } else {
            progress(&format!(
                "Creating a PostgreSQL {version} cluster in {} ...",
                self.data_dir().display()
            ));
            self.initdb(&binaries, &run_as)?;
            true
        };

        if let Some(server) = self.running_server() {
            if !loopback_port_answers(server.port) {
                wait_until_port_answers(
                    "PostgreSQL",
                    server.port,
                    ANSWER_TIMEOUT,
                    &self.log_file(),
                    || process_runs(server.pid, SERVER_PROCESS),
                )
                .map_err(|_| LocalError::Unresponsive {
                    service: "PostgreSQL".to_owned(),
                    pid: server.pid,
                    port: server.port,
                    log_file: self.log_file(),
                })?;
            }
            self.ensure_database(&binaries, server.port)?;
            self.write_state(&binaries, &run_as, &version, server.port, Some(server.pid))?;
            return self.report(Action::AlreadyRunning);
        }

        let action = if created {
            Action::Initialized
        } else if previous.as_ref().is_some_and(|state| state.pid.is_some()) {
            Action::Restarted
        } else {
            Action::Started
        };
        self.remove_stale_server_files()?;
        let preferred_port = previous.map(|state| state.port);
        let server = self.start(&binaries, &run_as, preferred_port, progress)?;
        self.ensure_database(&binaries, server.port)?;
        self.write_state(&binaries, &run_as, &version, server.port, Some(server.pid))?;
        self.report(action)
    }

    fn down_locked(&self, progress: Progress<'_>) -> Result<ServiceReport, LocalError> {
        let Some(server) = self.running_server() else {
            self.forget_pid()?;
            return self.report(Action::AlreadyStopped);
        };
        let binaries = self.binaries_for_stop()?;
        let run_as = RunAs::for_server()?;
        progress(&format!("Stopping PostgreSQL (pid {}) ...", server.pid));
        let mut command = run_as.command(&binaries.program("pg_ctl"), &self.dir);
        command.arg("--pgdata").arg(self.data_dir()).args([
            "--mode=fast",
            "--wait",
            &format!("--timeout={PG_CTL_TIMEOUT_SECONDS}"),
            "stop",
        ]);
        run_checked(
            &mut command,
            &format!("see {} for what the server said", self.log_file().display()),
        )?;
        self.forget_pid()?;
        self.report(Action::Stopped)
    }

    /// Creates the cluster in a staging directory and moves it into place once complete, so an
    /// interrupted `initdb` never leaves a half-made data directory behind.
    fn initdb(&self, binaries: &PgBinaries, run_as: &RunAs) -> Result<(), LocalError> {
        let staging = self.dir.join("data.initdb");
        for leftover in [&staging, &self.data_dir()] {
            if leftover.exists() {
                std::fs::remove_dir_all(leftover)
                    .map_err(LocalError::io("remove the unfinished", leftover))?;
            }
        }
        let mut command = run_as.command(&binaries.program("initdb"), &self.dir);
        command.arg("--pgdata").arg(&staging).args([
            "--auth=trust",
            &format!("--username={USER}"),
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run_checked(
            &mut command,
            "initdb could not create the cluster; the output above says why",
        )?;

        let conf = staging.join("postgresql.conf");
        let text = std::fs::read_to_string(&conf).map_err(LocalError::io("read", &conf))?;
        if let Some(text) = with_include_line(&text) {
            std::fs::write(&conf, text).map_err(LocalError::io("write", &conf))?;
        }
        std::fs::rename(&staging, self.data_dir())
            .map_err(LocalError::io("move the new cluster to", self.data_dir()))
    }

    /// Starts the server on the preferred port when it is free, else on a free one, trying again
    /// with a new port when another process took the chosen one in the meantime.
    fn start(
        &self,
        binaries: &PgBinaries,
        run_as: &RunAs,
        preferred_port: Option<u16>,
        progress: Progress<'_>,
    ) -> Result<PostmasterPid, LocalError> {
        let log_file = self.log_file();
        let mut last_error = None;
        for attempt in 0..START_ATTEMPTS {
            let port =
                match preferred_port.filter(|port| attempt == 0 && loopback_port_is_free(*port)) {
                    Some(port) => port,
                    None => free_loopback_port()?,
                };
            self.write_settings(run_as, port)?;
            let log_offset = self.prepare_log(run_as)?;
            progress(&format!(
                "Starting PostgreSQL on {LISTEN_ADDRESS}:{port} ..."
            ));
            let mut command = run_as.command(&binaries.program("pg_ctl"), &self.dir);
            command
                .arg("--pgdata")
                .arg(self.data_dir())
                .arg("--log")
                .arg(&log_file)
                .args([
                    "--wait",
                    &format!("--timeout={PG_CTL_TIMEOUT_SECONDS}"),
                    "start",
                ]);
            let result = run_checked(&mut command, "");
            let new_log = read_from(&log_file, log_offset);
            match result {
                Ok(_) => {
                    return self
                        .running_server()
                        .ok_or_else(|| LocalError::StartFailed {
                            log_file: log_file.clone(),
                            log_tail: tail_lines(&new_log, 20),
                        });
                }
                Err(error) => {
                    let port_taken =
                        new_log.contains("could not bind") || new_log.contains("already in use");
                    let log_tail = if new_log.trim().is_empty() {
                        error.to_string()
                    } else {
                        tail_lines(&new_log, 20)
                    };
                    last_error = Some(LocalError::StartFailed {
                        log_file: log_file.clone(),
                        log_tail,
                    });
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or(LocalError::StartFailed {
            log_file,
            log_tail: String::new(),
        }))
    }

    fn write_settings(&self, run_as: &RunAs, port: u16) -> Result<(), LocalError> {
        let hba = self.data_dir().join(HBA_FILE);
        let settings = ServerSettings {
            port,
            socket_dir: socket_dir_for(&self.dir, port),
            hba_file: hba.clone(),
        };
        std::fs::write(&hba, render_hba()).map_err(LocalError::io("write", &hba))?;
        run_as.take_file(&hba)?;
        let path = self.data_dir().join(SETTINGS_FILE);
        std::fs::write(&path, render_server_settings(&settings))
            .map_err(LocalError::io("write", &path))?;
        run_as.take_file(&path)
    }

    /// Makes sure the server's user can append to the log; returns its current length.
    fn prepare_log(&self, run_as: &RunAs) -> Result<u64, LocalError> {
        let path = self.log_file();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(LocalError::io("open", &path))?;
        let length = file
            .metadata()
            .map_err(LocalError::io("inspect", &path))?
            .len();
        run_as.take_file(&path)?;
        Ok(length)
    }

    /// Removes what a server that has gone (after a crash or a reboot) left behind: its
    /// `postmaster.pid`, and its socket and socket lock file in the state directory, which serves
    /// this cluster only. A new server would otherwise take an unrelated process that got the
    /// same pid, or the dead server's unreaped zombie, for a running server and refuse to start.
    fn remove_stale_server_files(&self) -> Result<(), LocalError> {
        let mut stale = vec![self.data_dir().join("postmaster.pid")];
        let entries = std::fs::read_dir(&self.dir).map_err(LocalError::io("list", &self.dir))?;
        for entry in entries {
            let entry = entry.map_err(LocalError::io("list", &self.dir))?;
            if entry.file_name().to_string_lossy().starts_with(".s.PGSQL.") {
                stale.push(entry.path());
            }
        }
        for path in stale {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::NotFound => {}
                Err(error) => return Err(LocalError::io("remove the stale", &path)(error)),
            }
        }
        Ok(())
    }

    /// Creates the application database unless it exists.
    fn ensure_database(&self, binaries: &PgBinaries, port: u16) -> Result<(), LocalError> {
        let psql = |sql: &str| {
            let mut command = Command::new(binaries.program("psql"));
            command
                .current_dir(&self.dir)
                .args([
                    "-X",
                    "-A",
                    "-t",
                    "-q",
                    "-w",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    LISTEN_ADDRESS,
                ])
                .args([
                    "-p",
                    &port.to_string(),
                    "-U",
                    USER,
                    "-d",
                    "postgres",
                    "-c",
                    sql,
                ]);
            run_checked(
                &mut command,
                &format!(
                    "the server runs but does not take commands; see {}",
                    self.log_file().display()
                ),
            )
        };
        let exists = psql(&format!(
            "SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
        ))?;
        if String::from_utf8_lossy(&exists.stdout).trim() != "1" {
            psql(&format!("CREATE DATABASE {DATABASE}"))?;
        }
        Ok(())
    }

    fn binaries_for_stop(&self) -> Result<PgBinaries, LocalError> {
        if let Ok(Some(state)) = self.read_state() {
            let recorded = PgBinaries::at(state.bin_dir);
            if crate::process::is_executable(&recorded.program("pg_ctl")) {
                return Ok(recorded);
            }
        }
        PgBinaries::discover()
    }

    fn write_state(
        &self,
        binaries: &PgBinaries,
        run_as: &RunAs,
        version: &str,
        port: u16,
        pid: Option<u32>,
    ) -> Result<(), LocalError> {
        let state = PostgresState {
            port,
            pid,
            url: database_url(port),
            bin_dir: binaries.dir().to_path_buf(),
            data_dir: self.data_dir(),
            log_file: self.log_file(),
            version: version.to_owned(),
            run_as: run_as.user_name().map(str::to_owned),
        };
        write_state_file(&self.state_file(), &state)
    }

    /// Records that no server runs, keeping the last port for the next start.
    fn forget_pid(&self) -> Result<(), LocalError> {
        let Some(mut state) = self.read_state()? else {
            return Ok(());
        };
        if state.pid.take().is_none() {
            return Ok(());
        }
        write_state_file(&self.state_file(), &state)
    }

    fn report(&self, action: Action) -> Result<ServiceReport, LocalError> {
        Ok(ServiceReport {
            action,
            status: self.status()?,
        })
    }
}

/// The lifecycle; the same operations are reachable through [`Service`] for code that handles
/// every service alike.
impl Postgres {
    /// Starts the cluster unless it already runs and answers (creating it on first use); takes
    /// the state directory's lock, so concurrent callers do not both create it.
    pub fn up(&self, progress: Progress<'_>) -> Result<ServiceReport, LocalError> {
        let _lock = StateLock::acquire(&self.dir)?;
        self.up_locked(progress)
    }

    /// Stops the cluster if it runs (`pg_ctl stop -m fast`).
    pub fn down(&self, progress: Progress<'_>) -> Result<ServiceReport, LocalError> {
        if !self.dir.exists() {
            return self.report(Action::AlreadyStopped);
        }
        let _lock = StateLock::acquire(&self.dir)?;
        self.down_locked(progress)
    }

    /// What runs where, without changing anything.
    pub fn status(&self) -> Result<ServiceStatus, LocalError> {
        let recorded = self.read_state()?;
        let mut details =
            BTreeMap::from([("data_dir".to_owned(), self.data_dir().display().to_string())]);
        if let Some(state) = &recorded {
            details.insert("bin_dir".to_owned(), state.bin_dir.display().to_string());
            details.insert("version".to_owned(), state.version.clone());
            if let Some(user) = &state.run_as {
                details.insert("run_as".to_owned(), user.clone());
            }
        }
        let mut status = ServiceStatus {
            name: Self::NAME.to_owned(),
            state: ServiceState::NotInitialized,
            pid: None,
            address: None,
            url: None,
            state_dir: self.dir.clone(),
            log_file: self.log_file(),
            details,
            note: None,
        };
        if let Some(server) = self.running_server() {
            status.state = ServiceState::Running;
            status.pid = Some(server.pid);
            status.address = Some(format!("{LISTEN_ADDRESS}:{}", server.port));
            status.url = Some(database_url(server.port));
            if !loopback_port_answers(server.port) {
                status.note = Some(format!(
                    "the server does not answer on its port (status `{}`)",
                    server.status
                ));
            }
        } else if self.is_initialized() {
            status.state = ServiceState::Stopped;
            if let Some(pid) = recorded.and_then(|state| state.pid) {
                status.note = Some(format!(
                    "the recorded server (pid {pid}) has gone; `cargo xtask local up` starts it again"
                ));
            }
        }
        Ok(status)
    }

    /// `DATABASE_URL` of the running cluster.
    pub fn env(&self) -> Result<Vec<EnvVar>, LocalError> {
        Ok(vec![EnvVar {
            name: "DATABASE_URL".to_owned(),
            value: self.database_url()?,
        }])
    }
}

impl Service for Postgres {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn up(&self, progress: Progress<'_>) -> Result<ServiceReport, LocalError> {
        Postgres::up(self, progress)
    }

    fn down(&self, progress: Progress<'_>) -> Result<ServiceReport, LocalError> {
        Postgres::down(self, progress)
    }

    fn status(&self) -> Result<ServiceStatus, LocalError> {
        Postgres::status(self)
    }

    fn env(&self) -> Result<Vec<EnvVar>, LocalError> {
        Postgres::env(self)
    }
}

/// The part of a file after `offset`, lossily decoded; empty when unreadable.
fn read_from(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}
