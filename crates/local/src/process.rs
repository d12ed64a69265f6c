//! Process and port helpers shared by every local service: run a program and check it, start a
//! background process and record its pid, find a free loopback port, wait until a port answers.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::error::LocalError;
use crate::privileges::RunAs;

/// How often the waiting helpers look again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Runs a command to completion and turns a non-zero exit into [`LocalError::CommandFailed`]
/// carrying its output and `hint` (what to do about it).
pub fn run_checked(command: &mut Command, hint: &str) -> Result<Output, LocalError> {
    let rendered = render_command(command);
    tracing::debug!(command = %rendered, "running");
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LocalError::Spawn {
            program: rendered.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(output);
    }
    let mut text = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !stdout.trim().is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(stdout.trim());
    }
    Err(LocalError::CommandFailed {
        command: rendered,
        status: output.status.to_string(),
        output: tail_lines(&text, 30),
        hint: hint.to_owned(),
    })
}

/// A command line as a person would type it, for error messages.
pub fn render_command(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `n` lines of `text`.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The full path of an executable found in `PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file with an execute bit set.
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A port on 127.0.0.1 that nothing listens on right now (the kernel picks it).
pub fn free_loopback_port() -> Result<u16, LocalError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(LocalError::io("bind a port on", "127.0.0.1"))?;
    let port = listener
        .local_addr()
        .map_err(LocalError::io("read the address of", "127.0.0.1"))?
        .port();
    Ok(port)
}

/// Whether a listener could bind 127.0.0.1:`port` right now.
pub fn loopback_port_is_free(port: u16) -> bool {
    port != 0 && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn loopback_port_answers(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
}

/// Waits until 127.0.0.1:`port` accepts connections, giving up after `timeout` or as soon as
/// `still_alive` says the process that should open it has gone.
pub fn wait_until_port_answers(
    what: &str,
    port: u16,
    timeout: Duration,
    log_file: &Path,
    mut still_alive: impl FnMut() -> bool,
) -> Result<(), LocalError> {
    let deadline = Instant::now() + timeout;
    loop {
        if loopback_port_answers(port) {
            return Ok(());
        }
        if !still_alive() {
            return Err(LocalError::ExitedEarly {
                what: what.to_owned(),
                port,
                log_file: log_file.to_path_buf(),
            });
        }
        if Instant::now() >= deadline {
            return Err(LocalError::PortTimeout {
                what: what.to_owned(),
                port,
                seconds: timeout.as_secs(),
                log_file: log_file.to_path_buf(),
            });
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// The executable name (`comm`), at most 15 bytes.
    pub name: String,
    /// The one-letter state: `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
}

/// Parses the first fields of `/proc/<pid>/stat`: `pid (name) state ...`. The name may itself
/// contain spaces and parentheses, so it ends at the last `)`.
pub fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_owned();
    let state = text.get(close + 1..)?.trim_start().chars().next()?;
    Some(ProcStat { name, state })
}

/// What is known about a live process, or `None` when there is no such process (or only a
/// zombie waiting to be reaped).
pub fn process_info(pid: u32) -> Option<ProcStat> {
    if pid == 0 {
        return None;
    }
    let proc_root = Path::new("/proc");
    if proc_root.join("self").exists() {
        let stat = parse_proc_stat(
            &std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?,
        )?;
        return (!matches!(stat.state, 'Z' | 'X')).then_some(stat);
    }
    // Without /proc (macOS), `kill -0` tells whether the process exists; its name stays unknown.
    let alive = Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    alive.then(|| ProcStat {
        name: String::new(),
        state: 'S',
    })
}

/// Whether a process with this pid is alive.
pub fn process_is_alive(pid: u32) -> bool {
    process_info(pid).is_some()
}

/// Whether a process is alive and, where the system says so, runs the program `name`.
/// This guards against a recorded pid that the system has since given to another program.
pub fn process_runs(pid: u32, name: &str) -> bool {
    process_info(pid).is_some_and(|info| info.name.is_empty() || info.name == name)
}

/// Sends `signal` (e.g. `TERM`, `KILL`) to a process with the `kill` program.
pub fn send_signal(pid: u32, signal: &str) -> Result<(), LocalError> {
    run_checked(
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string()),
        "the process may belong to another user; stop it by hand",
    )
    .map(drop)
}

/// Stops a process: `TERM`, then `KILL` if it is still alive after `grace`. Returns whether it
/// was running.
pub fn terminate(pid: u32, grace: Duration) -> Result<bool, LocalError> {
    if !process_is_alive(pid) {
        return Ok(false);
    }
    send_signal(pid, "TERM")?;
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !process_is_alive(pid) {
            return Ok(true);
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    if process_is_alive(pid) {
        send_signal(pid, "KILL")?;
    }
    Ok(true)
}

/// Reads a pid file (a decimal number, surrounding white space allowed).
pub fn read_pid_file(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A long-running program to start in the background, detached from the terminal's process group
/// so that Ctrl-C on the command that started it leaves it running.
#[derive(Debug, Clone)]
pub struct BackgroundProcess {
    /// The program to run.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub envs: Vec<(String, String)>,
    /// Its working directory.
    pub current_dir: PathBuf,
    /// Where its standard output and error are appended.
    pub log_file: PathBuf,
    /// Which user runs it.
    pub run_as: RunAs,
}

impl BackgroundProcess {
    /// Starts the process, writes its pid to `pid_file`, and returns the pid.
    pub fn spawn(&self, pid_file: &Path) -> Result<u32, LocalError> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .map_err(LocalError::io("open the log file", &self.log_file))?;
        let log_err = log
            .try_clone()
            .map_err(LocalError::io("open the log file", &self.log_file))?;
        let mut command = self.run_as.command(&self.program, &self.current_dir);
        command
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        let child = command.spawn().map_err(|source| LocalError::Spawn {
            program: render_command(&command),
            source,
        })?;
        let pid = child.id();
        write_file_atomically(pid_file, format!("{pid}\n").as_bytes())?;
        Ok(pid)
    }
}

/// Writes a file through a temporary sibling and a rename, so readers never see half of it.
pub fn write_file_atomically(path: &Path, contents: &[u8]) -> Result<(), LocalError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let mut file = File::create(&temporary).map_err(LocalError::io("create", &temporary))?;
    file.write_all(contents)
        .map_err(LocalError::io("write", &temporary))?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(LocalError::io("replace", path))
}

/// Reads a service's JSON state file; `None` when there is none yet.
pub fn read_state_file<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Option<T>, LocalError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(LocalError::io("read", path)(error)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| LocalError::StateFile {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes a service's JSON state file atomically.
pub fn write_state_file<T: serde::Serialize>(path: &Path, state: &T) -> Result<(), LocalError> {
    let json = serde_json::to_vec_pretty(state).map_err(|source| LocalError::StateFile {
        path: path.to_path_buf(),
        source,
    })?;
    write_file_atomically(path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_names_may_hold_spaces_and_parentheses() {
        assert_eq!(
            parse_proc_stat("4242 (postgres) S 1 4242 4242 0 -1"),
            Some(ProcStat {
                name: "postgres".to_owned(),
                state: 'S'
            })
        );
        assert_eq!(
            parse_proc_stat("7 (a (b) c) Z 1 7"),
            Some(ProcStat {
                name: "a (b) c".to_owned(),
                state: 'Z'
            })
        );
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn tails_keep_the_last_lines() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_lines("a", 5), "a");
        assert_eq!(tail_lines("", 5), "");
    }

    #[test]
    fn this_process_is_alive_and_an_unused_pid_is_not() {
        assert!(process_is_alive(std::process::id()));
        // Linux pids never exceed 2^22; this one cannot exist.
        assert!(!process_is_alive(u32::MAX - 1));
        assert!(!process_is_alive(0));
    }

    #[test]
    fn a_port_with_a_listener_is_taken_and_answers() {
        assert_ne!(free_loopback_port().expect("a free port"), 0);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a port");
        let port = listener.local_addr().expect("its address").port();
        assert!(!loopback_port_is_free(port));
        assert!(loopback_port_answers(port));
        wait_until_port_answers(
            "the test listener",
            port,
            Duration::from_secs(5),
            Path::new("-"),
            || true,
        )
        .expect("the port answers");
    }

    #[test]
    fn waiting_stops_when_the_process_has_gone() {
        let port = free_loopback_port().expect("a free port");
        let error = wait_until_port_answers(
            "nothing",
            port,
            Duration::from_secs(60),
            Path::new("-"),
            || false,
        )
        .expect_err("nothing listens");
        assert!(matches!(error, LocalError::ExitedEarly { .. }), "{error:?}");
    }

    #[test]
    fn a_background_process_is_recorded_and_stopped() {
        let dir =
            std::env::temp_dir().join(format!("userlog-local-process-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the test directory");
        let sleep = find_in_path("sleep").expect("`sleep` is installed");
        let background = BackgroundProcess {
            program: sleep,
            args: vec!["30".to_owned()],
            envs: vec![],
            current_dir: dir.clone(),
            log_file: dir.join("sleep.log"),
            run_as: RunAs::CurrentUser,
        };
        let pid_file = dir.join("sleep.pid");
        let pid = background.spawn(&pid_file).expect("start sleep");
        assert_eq!(read_pid_file(&pid_file), Some(pid));
        assert!(process_runs(pid, "sleep"));
        assert!(terminate(pid, Duration::from_secs(5)).expect("stop sleep"));
        assert!(!process_is_alive(pid));
        assert!(!terminate(pid, Duration::from_secs(5)).expect("already stopped"));
        std::fs::remove_dir_all(&dir).expect("remove the test directory");
    }

    #[test]
    fn failed_commands_carry_their_output_and_hint() {
        let error = run_checked(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            "try again",
        )
        .expect_err("the command fails");
        let LocalError::CommandFailed {
            command,
            output,
            hint,
            ..
        } = error
        else {
            panic!("unexpected error {error:?}");
        };
        assert_eq!(command, "sh -c echo out; echo err >&2; exit 3");
        assert_eq!(output, "err\nout");
        assert_eq!(hint, "try again");
    }
}
