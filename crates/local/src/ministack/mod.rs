//! The local AWS emulator: MiniStack (PyPI, pinned in `tools/ministack/requirements.txt`),
//! installed into the project-local virtualenv `.local/venv-ministack` on first use and started
//! through the project's launcher `tools/ministack/launch.py`, which closes the emulator's gaps
//! (see `docs/local-emulator.md`). It listens on a loopback port, runs in its own process group
//! (so that stopping it also stops its Lambda workers and ECS task processes), keeps its state in
//! memory only, and records what runs where in `.local/ministack/state.json`.

pub mod ecs_images;
pub mod faults;
pub mod files;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::LocalError;
use crate::layout::find_workspace_root;
use crate::lock::StateLock;
use crate::process::{
    free_loopback_port, loopback_port_is_free, process_is_alive, read_state_file, render_command,
    send_signal, tail_lines, write_state_file,
};
use crate::python_tool::PythonTool;
use crate::stack::{Action, EnvVar, Progress, Service, ServiceReport, ServiceState, ServiceStatus};

pub use self::ecs_images::{
    ECS_IMAGES_FILE, EcsImage, EcsImages, read_ecs_images, register_ecs_image,
};
pub use self::faults::{FAULTS_FILE, Fault, FaultKind, Faults, inject_fault, read_faults};
use self::files::{
    HEALTH_PATH, LISTEN_ADDRESS, ServerLayout, cmdline_runs, parse_stat_group, parse_status_line,
    server_env,
};
pub use self::files::{MiniStackState, client_env, endpoint_url};

/// The launcher script in the tools directory.
pub const LAUNCHER: &str = "launch.py";
/// The pins in the tools directory.
pub const REQUIREMENTS: &str = "requirements.txt";
/// The virtualenv's directory name under the checkout's `.local/`.
pub const VENV_DIR_NAME: &str = "venv-ministack";
/// The distribution whose version the status reports.
const PACKAGE: &str = "ministack";

/// How often a start is tried again with a new port when another process took the chosen one.
const START_ATTEMPTS: usize = 3;
/// How long a new emulator may take to answer its health check (it takes well under a second).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a running emulator that does not answer yet is waited for.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the launcher gets to shut down cleanly after SIGTERM.
const LEADER_GRACE: Duration = Duration::from_secs(3);
/// How long the rest of the process group gets after SIGTERM before SIGKILL.
const GROUP_GRACE: Duration = Duration::from_secs(2);
/// How often the waiting loops look again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long one health request may take.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(500);
/// What the status says about the emulator's state.
const PERSISTENCE_NOTE: &str = "none: the emulator keeps everything in memory, so a restart loses every bucket, table, \
     function and state machine; deploy to `local` again after `cargo xtask local up` restarts it";

/// The repository this crate was built from: its launcher and virtualenv belong to this code.
pub fn checkout_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    find_workspace_root(manifest_dir).unwrap_or_else(|| manifest_dir.join("..").join(".."))
}

/// The local AWS emulator, whose state lives in one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiniStack {
    dir: PathBuf,
    tools_dir: PathBuf,
    venv_dir: PathBuf,
    stop_with_pid: Option<u32>,
    wait_divisor: Option<u32>,
    lambda_idle_seconds: Option<u32>,
}

impl MiniStack {
    /// The service name, also the state directory's name under the local directory.
    pub const NAME: &'static str = "ministack";

    /// The emulator with its state in `state_dir`, its launcher and pins in `tools_dir`, and its
    /// virtualenv in `venv_dir`.
    pub fn new(
        state_dir: impl Into<PathBuf>,
        tools_dir: impl Into<PathBuf>,
        venv_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            dir: state_dir.into(),
            tools_dir: tools_dir.into(),
            venv_dir: venv_dir.into(),
            stop_with_pid: None,
            wait_divisor: None,
            lambda_idle_seconds: None,
        }
    }

    /// The emulator with its state in `state_dir`, and the launcher (`tools/ministack/`) and
    /// virtualenv (`.local/venv-ministack`) of the checkout this crate was built from. The
    /// virtualenv is shared by every state directory, so temporary ones do not install again.
    pub fn for_checkout(state_dir: impl Into<PathBuf>) -> Self {
        let root = checkout_root();
        Self::new(
            state_dir,
            root.join("tools").join("ministack"),
            root.join(".local").join(VENV_DIR_NAME),
        )
    }

    /// The same emulator, started so that it stops by itself (with its Lambda workers and ECS
    /// task processes) once the process `pid` has gone; tests tie it to the test binary.
    pub fn stopping_with(mut self, pid: u32) -> Self {
        self.stop_with_pid = Some(pid);
        self
    }

    /// The same emulator, started so that Step Functions waits (`Wait` states and retry delays)
    /// take 1/`divisor` of their time (MiniStack's `SFN_WAIT_SCALE`); tests of retries use it.
    pub fn waiting_faster(mut self, divisor: u32) -> Self {
        self.wait_divisor = Some(divisor);
        self
    }

    /// The same emulator, ending a function instance once it has been idle for `seconds` (the
    /// launcher's default is 60); tests shorten it to see instances go.
    pub fn ending_idle_instances_after(mut self, seconds: u32) -> Self {
        self.lambda_idle_seconds = Some(seconds);
        self
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    /// The emulator's log (the launcher's and MiniStack's output).
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("ministack.log")
    }

    /// The JSON state file.
    pub fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The file that maps ECS images to local programs (see [`ecs_images`]).
    pub fn ecs_images_file(&self) -> PathBuf {
        self.dir.join(ECS_IMAGES_FILE)
    }

    /// The file of injected faults (see [`faults`]).
    pub fn faults_file(&self) -> PathBuf {
        self.dir.join(FAULTS_FILE)
    }

    /// Adds a failure of AWS's side for the launcher to inject (see [`faults`]); a running
    /// emulator picks it up at the next call.
    pub fn inject_fault(&self, fault: Fault) -> Result<(), LocalError> {
        inject_fault(&self.faults_file(), fault)
    }

    /// The directory that holds one `<task id>.log` per ECS task run.
    pub fn ecs_task_log_dir(&self) -> PathBuf {
        self.dir.join("ecs-tasks")
    }

    /// The launcher script.
    pub fn launcher(&self) -> PathBuf {
        self.tools_dir.join(LAUNCHER)
    }

    /// The pinned Python packages in the virtualenv.
    pub fn python_tool(&self) -> Result<PythonTool, LocalError> {
        PythonTool::from_requirements_file(&self.venv_dir, &self.tools_dir.join(REQUIREMENTS))
    }

    /// Maps an ECS container image (with or without tag) to a local program for the ECS patch;
    /// replaces an earlier entry for the same image. A running emulator picks it up at the next
    /// `RunTask`.
    pub fn register_ecs_image(&self, image: &str, entry: EcsImage) -> Result<(), LocalError> {
        register_ecs_image(&self.ecs_images_file(), image, entry)
    }

    /// What the last `up` or `down` recorded, if anything.
    pub fn read_state(&self) -> Result<Option<MiniStackState>, LocalError> {
        read_state_file(&self.state_file())
    }

    /// The endpoint URL while the emulator runs.
    pub fn endpoint_url(&self) -> Result<String, LocalError> {
        self.running()?
            .map(|(_, port)| endpoint_url(port))
            .ok_or_else(not_running)
    }

    /// The recorded launcher's pid and port, if it still runs.
    fn running(&self) -> Result<Option<(u32, u16)>, LocalError> {
        Ok(self.read_state()?.and_then(|state| {
            let pid = state.pid?;
            launcher_runs(pid).then_some((pid, state.port))
        }))
    }

    fn up_locked(&self, progress: Progress<'_>) -> Result<ServiceReport, LocalError> {
        let tool = self.python_tool()?;
        tool.ensure(&mut *progress)?;
        let version = tool
            .requirements()
            .iter()
            .find(|requirement| requirement.name == PACKAGE)
            .map(|requirement| requirement.version.clone())
            .unwrap_or_default();
        let launcher = self.launcher();
        if !launcher.is_file() {
            return Err(LocalError::io("find the launcher", &launcher)(
                ErrorKind::NotFound.into(),
            ));
        }
        let previous = self.read_state()?;

        if let Some((pid, port)) = self.running()? {
            if !answers_health(port) {
                wait_until_healthy(port, ANSWER_TIMEOUT, || launcher_runs(pid)).map_err(|_| {
                    LocalError::Unresponsive {
                        service: "MiniStack".to_owned(),
                        pid,
                        port,
                        log_file: self.log_file(),
                    }
                })?;
            }
            // It keeps running the version it was started with until the next start.
            let running_version = previous.map_or(version, |state| state.version);
            self.write_state(&running_version, port, Some(pid))?;
            return self.report(Action::AlreadyRunning);
        }
        // A launcher that died without its group (killed with SIGKILL) leaves Lambda workers.
        if let Some(pid) = previous.as_ref().and_then(|state| state.pid) {
            stop_orphaned_group(pid)?;
        }

        let action = match &previous {
            None => Action::Initialized,
            Some(state) if state.pid.is_some() => Action::Restarted,
            Some(_) => Action::Started,
        };
        for dir in [self.tmp_dir(), self.ecs_task_log_dir()] {
            std::fs::create_dir_all(&dir).map_err(LocalError::io("create", &dir))?;
        }
        let (pid, port) =
            self.start(&tool, &version, previous.map(|state| state.port), progress)?;
        self.write_state(&version, port, Some(pid))?;
        self.report(action)
    }

    /// Starts the launcher on the preferred port when it is free, else on a free one, and waits
    /// until it answers its health check; tries a new port when another process took the chosen
    /// one meanwhile.
    fn start(
        &self,
        tool: &PythonTool,
        version: &str,
        preferred_port: Option<u16>,
        progress: Progress<'_>,
    ) -> Result<(u32, u16), LocalError> {
        let log_file = self.log_file();
        let mut last_error = None;
        for attempt in 0..START_ATTEMPTS {
            let port =
                match preferred_port.filter(|port| attempt == 0 && loopback_port_is_free(*port)) {
                    Some(port) => port,
                    None => free_loopback_port()?,
                };
            let log_offset = std::fs::metadata(&log_file).map_or(0, |m| m.len());
            progress(&format!(
                "Starting MiniStack {version} on {LISTEN_ADDRESS}:{port} ..."
            ));
            let mut child = self.spawn(tool, port)?;
            let pid = child.id();
            // Recorded before it answers, so that `down` can stop a start that went wrong.
            self.write_state(version, port, Some(pid))?;
            match wait_until_healthy(port, START_TIMEOUT, || matches!(child.try_wait(), Ok(None))) {
                Ok(()) => return Ok((pid, port)),
                Err(Wait::TimedOut) => {
                    stop_group(pid)?;
                    self.write_state(version, port, None)?;
                    return Err(LocalError::PortTimeout {
                        what: "MiniStack".to_owned(),
                        port,
                        seconds: START_TIMEOUT.as_secs(),
                        log_file,
                    });
                }
                Err(Wait::Exited) => {
                    reap(&mut child);
                    self.write_state(version, port, None)?;
                    let new_log = read_from(&log_file, log_offset);
                    let port_taken = new_log.contains("already in use");
                    last_error = Some(LocalError::ServiceStartFailed {
                        service: "MiniStack".to_owned(),
                        log_file: log_file.clone(),
                        log_tail: tail_lines(&new_log, 20),
                    });
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or(LocalError::ServiceStartFailed {
            service: "MiniStack".to_owned(),
            log_file,
            log_tail: String::new(),
        }))
    }

    /// Runs the launcher with the virtualenv's Python in a new process group, with a cleared
    /// environment (see [`server_env`]) and its output appended to the log.
    fn spawn(&self, tool: &PythonTool, port: u16) -> Result<Child, LocalError> {
        let log_file = self.log_file();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_file)
            .map_err(LocalError::io("open the log file", &log_file))?;
        let log_err = log
            .try_clone()
            .map_err(LocalError::io("open the log file", &log_file))?;
        let layout = ServerLayout {
            port,
            ecs_images_file: self.ecs_images_file(),
            ecs_task_log_dir: self.ecs_task_log_dir(),
            faults_file: self.faults_file(),
            tmp_dir: self.tmp_dir(),
            stop_with_pid: self.stop_with_pid,
            wait_divisor: self.wait_divisor,
            lambda_idle_seconds: self.lambda_idle_seconds,
        };
        let inherited: Vec<(String, String)> = std::env::vars().collect();
        let mut command = Command::new(tool.python());
        command
            .arg(self.launcher())
            .current_dir(&self.dir)
            .env_clear()
            .envs(server_env(&layout, &inherited))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        command.spawn().map_err(|source| LocalError::Spawn {
            program: render_command(&command),
            source,
        })
    }

    fn down_locked(&self, progress: Progress<'_>) -> Result<ServiceReport, LocalError> {
        let Some(state) = self.read_state()? else {
            return self.report(Action::AlreadyStopped);
        };
        let Some(pid) = state.pid else {
            return self.report(Action::AlreadyStopped);
        };
        let action = if launcher_runs(pid) {
            progress(&format!(
                "Stopping MiniStack (pid {pid}) and its Lambda workers and ECS tasks ..."
            ));
            stop_group(pid)?;
            Action::Stopped
        } else {
            stop_orphaned_group(pid)?;
            Action::AlreadyStopped
        };
        self.write_state(&state.version, state.port, None)?;
        self.report(action)
    }

    fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    fn write_state(&self, version: &str, port: u16, pid: Option<u32>) -> Result<(), LocalError> {
        let state = MiniStackState {
            port,
            pid,
            endpoint: endpoint_url(port),
            version: version.to_owned(),
            venv_dir: self.venv_dir.clone(),
            launcher: self.launcher(),
            log_file: self.log_file(),
        };
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
impl MiniStack {
    /// Installs the pinned MiniStack on first use and starts the emulator unless it already runs
    /// and answers; takes the state directory's lock meanwhile.
    pub fn up(&self, progress: Progress<'_>) -> Result<ServiceReport, LocalError> {
        let _lock = StateLock::acquire(&self.dir)?;
        self.up_locked(progress)
    }

    /// Stops the emulator's whole process group (the launcher, its Lambda workers and its ECS
    /// task processes) if it runs.
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
        let mut details = BTreeMap::from([
            ("launcher".to_owned(), self.launcher().display().to_string()),
            ("venv".to_owned(), self.venv_dir.display().to_string()),
            (
                "ecs_images".to_owned(),
                self.ecs_images_file().display().to_string(),
            ),
            (
                "ecs_task_logs".to_owned(),
                self.ecs_task_log_dir().display().to_string(),
            ),
            ("persistence".to_owned(), PERSISTENCE_NOTE.to_owned()),
        ]);
        if let Some(state) = &recorded {
            details.insert("version".to_owned(), state.version.clone());
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
        let Some(state) = recorded else {
            return Ok(status);
        };
        match state.pid.filter(|pid| launcher_runs(*pid)) {
            Some(pid) => {
                status.state = ServiceState::Running;
                status.pid = Some(pid);
                status.address = Some(format!("{LISTEN_ADDRESS}:{}", state.port));
                status.url = Some(endpoint_url(state.port));
                if !answers_health(state.port) {
                    status.note = Some(format!(
                        "the emulator does not answer {HEALTH_PATH}; see its log"
                    ));
                }
            }
            None => {
                status.state = ServiceState::Stopped;
                if let Some(pid) = state.pid {
                    status.note = Some(format!(
                        "the recorded emulator (pid {pid}) has gone, and with it every emulated \
                         resource; `cargo xtask local up` starts it again"
                    ));
                }
            }
        }
        Ok(status)
    }

    /// `AWS_ENDPOINT_URL`, the test credentials and the region, for SDKs and the AWS CLI.
    pub fn env(&self) -> Result<Vec<EnvVar>, LocalError> {
        match self.running()? {
            Some((_, port)) => Ok(client_env(port)),
            None => Err(not_running()),
        }
    }
}

impl Service for MiniStack {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn up(&self, progress: Progress<'_>) -> Result<ServiceReport, LocalError> {
        MiniStack::up(self, progress)
    }

    fn down(&self, progress: Progress<'_>) -> Result<ServiceReport, LocalError> {
        MiniStack::down(self, progress)
    }

    fn status(&self) -> Result<ServiceStatus, LocalError> {
        MiniStack::status(self)
    }

    fn env(&self) -> Result<Vec<EnvVar>, LocalError> {
        MiniStack::env(self)
    }
}

fn not_running() -> LocalError {
    LocalError::NotRunning {
        service: "AWS emulator (MiniStack)".to_owned(),
    }
}

/// Whether `pid` is alive and, where `/proc` says so, runs the launcher (a recorded pid may have
/// been given to another program since).
fn launcher_runs(pid: u32) -> bool {
    if !process_is_alive(pid) {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => cmdline_runs(&cmdline, LAUNCHER),
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

/// Whether 127.0.0.1:`port` answers the health check with 200.
fn answers_health(port: u16) -> bool {
    http_status(port, HEALTH_PATH) == Some(200)
}

/// The status code of `GET path` on 127.0.0.1:`port`, or `None` when nothing answers HTTP.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, HEALTH_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(HEALTH_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(HEALTH_TIMEOUT)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {LISTEN_ADDRESS}:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = Vec::new();
    let mut buffer = [0_u8; 256];
    while !head.contains(&b'\n') {
        let read = stream.read(&mut buffer).ok()?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    parse_status_line(&String::from_utf8_lossy(&head))
}

/// Why waiting for the health check ended without an answer.
enum Wait {
    TimedOut,
    Exited,
}

fn wait_until_healthy(
    port: u16,
    timeout: Duration,
    mut still_alive: impl FnMut() -> bool,
) -> Result<(), Wait> {
    let deadline = Instant::now() + timeout;
    loop {
        if answers_health(port) {
            return Ok(());
        }
        if !still_alive() {
            return Err(Wait::Exited);
        }
        if Instant::now() >= deadline {
            return Err(Wait::TimedOut);
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Collects a child that has exited, so that it does not linger as a zombie.
fn reap(child: &mut Child) {
    let _ = child.try_wait();
}

/// The live (not zombie) members of process group `group`; `None` without `/proc`.
fn group_members(group: u32) -> Option<Vec<u32>> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let members = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| parse_stat_group(&stat))
                .is_some_and(|(state, pgrp)| pgrp == group && !matches!(state, 'Z' | 'X'))
        })
        .collect();
    Some(members)
}

/// Whether any process of group `group` is alive.
fn group_alive(group: u32) -> bool {
    match group_members(group) {
        Some(members) => !members.is_empty(),
        None => Command::new("kill")
            .args(["-0", "--", &format!("-{group}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success()),
    }
}

/// Sends `signal` to every process of group `group`; a group that has gone is not an error.
fn signal_group(group: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{group}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn wait_for(grace: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + grace;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Stops the emulator whose launcher is `leader`: SIGTERM to the launcher (MiniStack shuts down
/// cleanly but leaves its Lambda workers running), then SIGTERM and, if needed, SIGKILL to the
/// rest of its process group.
fn stop_group(leader: u32) -> Result<(), LocalError> {
    if process_is_alive(leader) {
        send_signal(leader, "TERM")?;
        wait_for(LEADER_GRACE, || !process_is_alive(leader));
    }
    if group_alive(leader) {
        signal_group(leader, "TERM");
        if !wait_for(GROUP_GRACE, || !group_alive(leader)) {
            signal_group(leader, "KILL");
            wait_for(GROUP_GRACE, || !group_alive(leader));
        }
    }
    Ok(())
}

/// Stops what is left of a recorded group whose launcher has gone. The system does not give a
/// pid to a new process while a group of that number exists, so the members are the emulator's;
/// a recorded pid now used by another program is left alone.
fn stop_orphaned_group(leader: u32) -> Result<(), LocalError> {
    if process_is_alive(leader) || !group_alive(leader) {
        return Ok(());
    }
    stop_group(leader)
}

/// The part of a file after `offset`, lossily decoded; empty when unreadable.
fn read_from(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}
