//! The files of the local cluster as pure data: the server settings we write, the
//! `postmaster.pid` the server writes, and our JSON state file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The role `initdb` creates, and that every local connection uses (trust authentication).
pub const USER: &str = "userlog";
/// The database created in the cluster for the application.
pub const DATABASE: &str = "userlog";
/// The only address the server listens on.
pub const LISTEN_ADDRESS: &str = "127.0.0.1";
/// The settings file in the data directory, rewritten on every start.
pub const SETTINGS_FILE: &str = "userlog-local.conf";
/// The client authentication file in the data directory, rewritten on every start.
pub const HBA_FILE: &str = "userlog-hba.conf";
/// The line appended once to `postgresql.conf` so that it reads [`SETTINGS_FILE`].
pub const INCLUDE_LINE: &str = "include_if_exists = 'userlog-local.conf'";

/// A unix socket path may hold at most this many bytes (`sun_path` minus its terminating zero).
const MAX_SOCKET_PATH: usize = 107;

/// The connection URL of the application database on a local port.
pub fn database_url(port: u16) -> String {
    format!("postgres://{USER}@{LISTEN_ADDRESS}:{port}/{DATABASE}")
}

/// What changes between starts of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// The directory for the unix socket, or `None` to have no socket.
    pub socket_dir: Option<PathBuf>,
    /// The client authentication file ([`render_hba`]).
    pub hba_file: PathBuf,
}

/// The socket directory to use for a state directory: itself, unless its path is too long for a
/// socket or holds characters that the setting's list syntax would misread (then no socket;
/// every client of the local cluster connects over TCP anyway).
pub fn socket_dir_for(state_dir: &Path, port: u16) -> Option<PathBuf> {
    let text = state_dir.to_str()?;
    let socket_len = text.len() + format!("/.s.PGSQL.{port}").len();
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | '@' | '~'));
    (plain && socket_len <= MAX_SOCKET_PATH).then(|| state_dir.to_path_buf())
}

/// The settings file of a throwaway cluster: loopback only, and fast rather than durable.
pub fn render_server_settings(settings: &ServerSettings) -> String {
    let socket_dir = settings
        .socket_dir
        .as_ref()
        .map(|dir| dir.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(
        "# The local cluster of this checkout, rewritten by `cargo xtask local up` on every start.\n\
         # It is throwaway: fast rather than durable, reachable from this machine only.\n\
         listen_addresses = '{LISTEN_ADDRESS}'\n\
         port = {port}\n\
         unix_socket_directories = '{socket_dir}'\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n\
         max_connections = 200\n\
         shared_buffers = 256MB\n\
         hba_file = '{hba_file}'\n",
        port = settings.port,
        hba_file = quote_setting(&settings.hba_file.to_string_lossy()),
        socket_dir = quote_setting(&socket_dir),
    )
}

/// Who may connect: the tooling's own user without a password (it owns the throwaway cluster),
/// every other role (the application's logins, `crates/db/src/roles.rs`) only with its password,
/// so that the local pipeline proves the logins' secrets as AWS does.
pub fn render_hba() -> String {
    format!(
        "# Rewritten by `cargo xtask local up` on every start.\n\
         local all {USER} trust\n\
         host all {USER} {LISTEN_ADDRESS}/32 trust\n\
         local all all scram-sha-256\n\
         host all all {LISTEN_ADDRESS}/32 scram-sha-256\n"
    )
}

/// Escapes a value for a single-quoted `postgresql.conf` string.
fn quote_setting(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "''")
}

/// `postgresql.conf` with [`INCLUDE_LINE`] appended, or `None` when it already has it.
pub fn with_include_line(postgresql_conf: &str) -> Option<String> {
    if postgresql_conf
        .lines()
        .any(|line| line.trim() == INCLUDE_LINE)
    {
        return None;
    }
    let mut text = postgresql_conf.to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("\n# The settings of the local cluster of this checkout.\n");
    text.push_str(INCLUDE_LINE);
    text.push('\n');
    Some(text)
}

/// What a running server says about itself in `postmaster.pid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostmasterPid {
    /// The pid of the postmaster.
    pub pid: u32,
    /// The port it listens on.
    pub port: u16,
    /// `starting`, `ready`, `stopping` or `standby`; empty for servers that do not say.
    pub status: String,
}

/// Parses `postmaster.pid`: line 1 the pid, line 4 the port, line 8 the status.
pub fn parse_postmaster_pid(text: &str) -> Option<PostmasterPid> {
    let lines: Vec<&str> = text.lines().collect();
    Some(PostmasterPid {
        pid: lines.first()?.trim().parse().ok()?,
        port: lines.get(3)?.trim().parse().ok()?,
        status: lines
            .get(7)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
    })
}

/// The JSON state file: what the last `up` or `down` left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostgresState {
    /// The port the server listens (or last listened) on.
    pub port: u16,
    /// The postmaster's pid while running; `None` after `down`.
    pub pid: Option<u32>,
    /// The application database URL.
    pub url: String,
    /// The directory of the PostgreSQL programs used.
    pub bin_dir: PathBuf,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The server log.
    pub log_file: PathBuf,
    /// The major version of the cluster.
    pub version: String,
    /// The account the server runs as when this process is root.
    pub run_as: Option<String>,
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check_settings(settings: &ServerSettings, expected: &Expect) {
        expected.assert_eq(&render_server_settings(settings));
    }

    #[test]
    fn settings_are_loopback_only_and_not_durable() {
        check_settings(
            &ServerSettings {
                port: 54321,
                socket_dir: Some(PathBuf::from("/repo/.local/postgres")),
                hba_file: PathBuf::from("/repo/.local/postgres/data/userlog-hba.conf"),
            },
            &expect![[r#"
                # The local cluster of this checkout, rewritten by `cargo xtask local up` on every start.
                # It is throwaway: fast rather than durable, reachable from this machine only.
                listen_addresses = '127.0.0.1'
                port = 54321
                unix_socket_directories = '/repo/.local/postgres'
                fsync = off
                synchronous_commit = off
                full_page_writes = off
                max_connections = 200
                shared_buffers = 256MB
                hba_file = '/repo/.local/postgres/data/userlog-hba.conf'
            "#]],
        );
    }

    #[test]
    fn settings_without_a_socket_leave_the_directory_list_empty() {
        check_settings(
            &ServerSettings {
                port: 5432,
                socket_dir: None,
                hba_file: PathBuf::from("/x/data/userlog-hba.conf"),
            },
            &expect![[r#"
                # The local cluster of this checkout, rewritten by `cargo xtask local up` on every start.
                # It is throwaway: fast rather than durable, reachable from this machine only.
                listen_addresses = '127.0.0.1'
                port = 5432
                unix_socket_directories = ''
                fsync = off
                synchronous_commit = off
                full_page_writes = off
                max_connections = 200
                shared_buffers = 256MB
                hba_file = '/x/data/userlog-hba.conf'
            "#]],
        );
    }

    #[test]
    fn sockets_go_in_plain_short_directories_only() {
        assert_eq!(
            socket_dir_for(Path::new("/repo/.local/postgres"), 5432),
            Some(PathBuf::from("/repo/.local/postgres"))
        );
        assert_eq!(
            socket_dir_for(Path::new("/Users/a b/repo/.local/postgres"), 5432),
            None
        );
        assert_eq!(
            socket_dir_for(Path::new("/repo,x/.local/postgres"), 5432),
            None
        );
        let long = format!("/{}", "d".repeat(100));
        assert_eq!(socket_dir_for(Path::new(&long), 5432), None);
    }

    #[test]
    fn the_include_line_is_added_once() {
        let once = with_include_line("max_wal_size = 1GB").expect("added");
        assert_eq!(
            once,
            "max_wal_size = 1GB\n\n# The settings of the local cluster of this checkout.\ninclude_if_exists = 'userlog-local.conf'\n"
        );
        assert_eq!(with_include_line(&once), None);
    }

    #[test]
    fn postmaster_pid_files_give_pid_port_and_status() {
        let text = "4242\n/repo/.local/postgres/data\n1700000000\n54321\n/repo/.local/postgres\n127.0.0.1\n  1234567     98304\nready   \n";
        assert_eq!(
            parse_postmaster_pid(text),
            Some(PostmasterPid {
                pid: 4242,
                port: 54321,
                status: "ready".to_owned()
            })
        );
        assert_eq!(parse_postmaster_pid("4242\n"), None);
    }

    #[test]
    fn the_url_names_the_application_database() {
        assert_eq!(
            database_url(54321),
            "postgres://userlog@127.0.0.1:54321/userlog"
        );
    }
}
