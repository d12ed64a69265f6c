//! The errors of the local stand-ins; each one says what to do about it.

use std::path::{Path, PathBuf};

/// Everything that can go wrong while starting, stopping or inspecting the local stand-ins.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// No `Cargo.toml` with a `[workspace]` table above the starting directory.
    #[error(
        "could not find the repository root (a Cargo.toml with [workspace]) at or above {}; \
         run the command from inside the checkout, or set USERLOG_LOCAL_DIR to the directory \
         that should hold the local state",
        start.display()
    )]
    RepoRootNotFound { start: PathBuf },

    /// A file system operation failed.
    #[error("could not {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A program could not be started at all.
    #[error("could not run `{program}`")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },

    /// The PostgreSQL server programs are not on this machine.
    #[error(
        "the PostgreSQL server programs (initdb, pg_ctl, postgres, psql) were not found \
         (looked in: {}); install them (Debian/Ubuntu: `apt-get install postgresql`, \
         macOS: `brew install postgresql`), or set PG_BIN_DIR to the directory that holds \
         initdb, or set DATABASE_URL to use a PostgreSQL server you already have",
        display_paths(searched)
    )]
    PostgresNotInstalled { searched: Vec<PathBuf> },

    /// `PG_BIN_DIR` is set but does not hold the server programs.
    #[error(
        "PG_BIN_DIR is {} but `{missing}` is not in it; point PG_BIN_DIR at the directory \
         that holds initdb and pg_ctl (`pg_config --bindir` prints it) or unset it",
        dir.display()
    )]
    InvalidPgBinDir { dir: PathBuf, missing: &'static str },

    /// The data directory was made by another major version than the programs found.
    #[error(
        "the cluster in {} was created by PostgreSQL {cluster_version}, but the programs in \
         {} are PostgreSQL {binaries_version}; delete {} to start with a fresh cluster, or set \
         PG_BIN_DIR to the bin directory of PostgreSQL {cluster_version}",
        data_dir.display(),
        bin_dir.display(),
        data_dir.display()
    )]
    ClusterVersionMismatch {
        data_dir: PathBuf,
        cluster_version: String,
        binaries_version: String,
        bin_dir: PathBuf,
    },

    /// Running as root, and no unprivileged account exists to run the server as.
    #[error(
        "this process runs as root, and initdb and pg_ctl refuse to run as root, but neither \
         the `postgres` nor the `nobody` user exists; create one (`apt-get install postgresql` \
         creates `postgres`) or run the command as an ordinary user"
    )]
    NoUnprivilegedUser,

    /// Running as root, and neither `setpriv` nor `runuser` is installed.
    #[error(
        "this process runs as root and must start PostgreSQL as the `{user}` user, but neither \
         `setpriv` nor `runuser` is installed; install util-linux or run the command as an \
         ordinary user"
    )]
    NoPrivilegeDropTool { user: String },

    /// The unprivileged server account cannot reach the state directory.
    #[error(
        "PostgreSQL runs as the `{user}` user (initdb refuses to run as root), and that user \
         cannot reach {}{}; make the parent directories searchable (`chmod o+x` on each), \
         or set USERLOG_LOCAL_DIR to a directory that user can reach, or run the command as \
         an ordinary user",
        dir.display(),
        blocking.as_ref().map(|b| format!(" because it may not enter {}", b.display())).unwrap_or_default()
    )]
    UnreachableByServiceUser {
        user: String,
        dir: PathBuf,
        blocking: Option<PathBuf>,
    },

    /// A program ran and failed.
    #[error("`{command}` failed ({status}): {output}\n{hint}")]
    CommandFailed {
        command: String,
        status: String,
        output: String,
        hint: String,
    },

    /// The server did not come up; the end of its log says why.
    #[error(
        "PostgreSQL did not start; the end of its log {}:\n{log_tail}\nfix the cause above \
         and run `cargo xtask local up` again (`cargo xtask local down` first if it half-started)",
        log_file.display()
    )]
    StartFailed { log_file: PathBuf, log_tail: String },

    /// A server process exists but does not answer on its port.
    #[error(
        "the {service} process (pid {pid}) is alive but does not answer on 127.0.0.1:{port}; \
         see {}, then run `cargo xtask local down` and `cargo xtask local up`",
        log_file.display()
    )]
    Unresponsive {
        service: String,
        pid: u32,
        port: u16,
        log_file: PathBuf,
    },

    /// The service is not running, so there is nothing to point at.
    #[error("the local {service} is not running; start it with `cargo xtask local up`")]
    NotRunning { service: String },

    /// The JSON state file could not be read or written.
    #[error("the state file {} is not valid; delete it and run `cargo xtask local up` again", path.display())]
    StateFile {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// A background process did not open its port in time.
    #[error(
        "{what} did not answer on 127.0.0.1:{port} within {seconds} s; see {}",
        log_file.display()
    )]
    PortTimeout {
        what: String,
        port: u16,
        seconds: u64,
        log_file: PathBuf,
    },

    /// A background process exited before it opened its port.
    #[error("{what} exited before it answered on 127.0.0.1:{port}; see {}", log_file.display())]
    ExitedEarly {
        what: String,
        port: u16,
        log_file: PathBuf,
    },

    /// There is no `python3` to create a virtualenv with.
    #[error(
        "python3 was not found in PATH; the local AWS emulator (MiniStack) and cfn-lint run in \
         Python virtualenvs: install Python 3 with its venv module (Debian/Ubuntu: \
         `apt-get install python3 python3-venv`, macOS: `brew install python`) and run the \
         command again"
    )]
    PythonMissing,

    /// `python3` exists but cannot create virtualenvs.
    #[error(
        "{} cannot create virtualenvs because its venv or ensurepip module is missing ({output}); \
         install it (Debian/Ubuntu: `apt-get install python3-venv`) and run the command again",
        python.display()
    )]
    VenvModuleMissing { python: PathBuf, output: String },

    /// A requirements line is not an exact pin.
    #[error(
        "`{text}` is not an exact pin (`name==version`); the tooling installs exact versions only"
    )]
    InvalidRequirement { text: String },

    /// pip reported success but the pinned versions are not there.
    #[error(
        "after pip ran in {}, {missing}; delete that directory and run the command again",
        venv_dir.display()
    )]
    PythonToolIncomplete { venv_dir: PathBuf, missing: String },

    /// A background service exited while starting; the end of its log says why.
    #[error(
        "{service} did not start; the end of its log {}:\n{log_tail}\nfix the cause above and run \
         `cargo xtask local up` again",
        log_file.display()
    )]
    ServiceStartFailed {
        service: String,
        log_file: PathBuf,
        log_tail: String,
    },

    /// An ECS image cannot be mapped to the given local program.
    #[error("cannot map the ECS image `{image}` to {}: {reason}", program.display())]
    InvalidEcsImage {
        image: String,
        program: PathBuf,
        reason: String,
    },
}

impl LocalError {
    /// Wraps an I/O error with the action and the path it concerned.
    pub fn io(action: &'static str, path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.as_ref().to_path_buf();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nowhere".to_owned();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
