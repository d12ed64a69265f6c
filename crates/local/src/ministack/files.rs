//! The emulator's inputs and records as pure data: the environment the launcher runs with, the
//! environment clients get, the JSON state file, and the few bytes of HTTP and `/proc` it reads.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::stack::EnvVar;

/// The only address the emulator listens on.
pub const LISTEN_ADDRESS: &str = "127.0.0.1";
/// The region of the local environment (the project's home region).
pub const REGION: &str = "ap-northeast-1";
/// The credentials every local client uses; the emulator does not check them.
pub const ACCESS_KEY_ID: &str = "test";
/// See [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "test";
/// The path that answers 200 once the emulator serves requests.
pub const HEALTH_PATH: &str = "/_ministack/health";

/// Variables of the calling environment that the emulator keeps. Everything else (secrets,
/// `DATABASE_URL`, AWS profiles) is left out: every Lambda worker inherits the emulator's
/// environment.
pub const INHERITED_VARIABLES: [&str; 10] = [
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "RUST_LOG",
    "RUST_BACKTRACE",
];

/// The variable that names the image-to-program file for the launcher.
pub const ECS_IMAGES_VARIABLE: &str = "USERLOG_ECS_IMAGES";
/// The variable that names the directory of the ECS task logs for the launcher.
pub const ECS_TASK_LOGS_VARIABLE: &str = "USERLOG_ECS_TASK_LOGS";
/// The variable that makes the launcher stop itself once a process has gone.
pub const STOP_WITH_PID_VARIABLE: &str = "USERLOG_STOP_WITH_PID";
/// The launcher setting that names the injected-faults file.
pub const FAULTS_VARIABLE: &str = "USERLOG_FAULTS";
/// MiniStack's setting that scales every Step Functions wait (`Wait` states, retry delays).
pub const WAIT_SCALE_VARIABLE: &str = "SFN_WAIT_SCALE";
/// The variable that tells the launcher after how many idle seconds it ends a function instance.
pub const LAMBDA_IDLE_SECONDS_VARIABLE: &str = "USERLOG_LAMBDA_IDLE_SECONDS";

/// The endpoint clients use for every AWS service.
pub fn endpoint_url(port: u16) -> String {
    format!("http://{LISTEN_ADDRESS}:{port}")
}

/// The environment that points AWS SDKs and the AWS CLI at the emulator.
pub fn client_env(port: u16) -> Vec<EnvVar> {
    [
        ("AWS_ENDPOINT_URL", endpoint_url(port)),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_DEFAULT_REGION", REGION.to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| EnvVar {
        name: name.to_owned(),
        value,
    })
    .collect()
}

/// Where one start of the emulator keeps its files, and what ties its life to another process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLayout {
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The image-to-program file of the ECS patch.
    pub ecs_images_file: PathBuf,
    /// The directory of the ECS task logs.
    pub ecs_task_log_dir: PathBuf,
    /// The injected-faults file of the launcher.
    pub faults_file: PathBuf,
    /// The emulator's temporary directory (Lambda code is unpacked there).
    pub tmp_dir: PathBuf,
    /// When set, the emulator stops itself once this process has gone.
    pub stop_with_pid: Option<u32>,
    /// When set, Step Functions waits (`Wait` states, retry delays) take 1/N of their time.
    pub wait_divisor: Option<u32>,
    /// When set, function instances idle for this long are ended (the launcher's default else).
    pub lambda_idle_seconds: Option<u32>,
}

/// The whole environment of the launcher: the [`INHERITED_VARIABLES`] found in `inherited`, the
/// emulator's settings, and the client settings that Lambda workers and ECS task processes
/// inherit to reach the emulator.
pub fn server_env(layout: &ServerLayout, inherited: &[(String, String)]) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = inherited
        .iter()
        .filter(|(name, _)| INHERITED_VARIABLES.contains(&name.as_str()))
        .cloned()
        .collect();
    let path = |path: &Path| path.display().to_string();
    let own = [
        ("BIND_HOST", LISTEN_ADDRESS.to_owned()),
        ("GATEWAY_PORT", layout.port.to_string()),
        ("MINISTACK_REGION", REGION.to_owned()),
        ("LOG_LEVEL", "INFO".to_owned()),
        ("PYTHONUNBUFFERED", "1".to_owned()),
        ("TMPDIR", path(&layout.tmp_dir)),
        (ECS_IMAGES_VARIABLE, path(&layout.ecs_images_file)),
        (ECS_TASK_LOGS_VARIABLE, path(&layout.ecs_task_log_dir)),
        (FAULTS_VARIABLE, path(&layout.faults_file)),
    ];
    vars.extend(
        own.into_iter()
            .map(|(name, value)| (name.to_owned(), value)),
    );
    if let Some(pid) = layout.stop_with_pid {
        vars.push((STOP_WITH_PID_VARIABLE.to_owned(), pid.to_string()));
    }
    if let Some(divisor) = layout.wait_divisor {
        vars.push((
            WAIT_SCALE_VARIABLE.to_owned(),
            (1.0 / f64::from(divisor.max(1))).to_string(),
        ));
    }
    if let Some(seconds) = layout.lambda_idle_seconds {
        vars.push((LAMBDA_IDLE_SECONDS_VARIABLE.to_owned(), seconds.to_string()));
    }
    vars.extend(
        client_env(layout.port)
            .into_iter()
            .map(|var| (var.name, var.value)),
    );
    vars
}

/// What `up` and `down` record in the state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiniStackState {
    /// The port of the last start; the next start reuses it when it is free.
    pub port: u16,
    /// The launcher's pid (also its process group) while it runs.
    pub pid: Option<u32>,
    /// The endpoint URL.
    pub endpoint: String,
    /// The MiniStack version it runs.
    pub version: String,
    /// The virtualenv it runs from.
    pub venv_dir: PathBuf,
    /// The launcher script.
    pub launcher: PathBuf,
    /// Its log file.
    pub log_file: PathBuf,
}

/// The status code of an HTTP response's status line (`HTTP/1.1 200 OK`).
pub fn parse_status_line(response: &str) -> Option<u16> {
    let line = response.lines().next()?;
    let mut parts = line.split_whitespace();
    parts
        .next()
        .filter(|version| version.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// The state letter and the process group of a `/proc/<pid>/stat` line
/// (`pid (name) state ppid pgrp ...`; the name may hold spaces and parentheses).
pub fn parse_stat_group(stat: &str) -> Option<(char, u32)> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _parent = fields.next()?;
    let group = fields.next()?.parse().ok()?;
    Some((state, group))
}

/// Whether a `/proc/<pid>/cmdline` (arguments separated by NUL bytes) runs `script`.
pub fn cmdline_runs(cmdline: &[u8], script: &str) -> bool {
    cmdline
        .split(|byte| *byte == 0)
        .any(|argument| argument.ends_with(script.as_bytes()))
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn the_launcher_gets_only_safe_inherited_variables_and_its_settings() {
        let layout = ServerLayout {
            port: 45123,
            ecs_images_file: PathBuf::from("/repo/.local/ministack/ecs-images.json"),
            ecs_task_log_dir: PathBuf::from("/repo/.local/ministack/ecs-tasks"),
            faults_file: PathBuf::from("/repo/.local/ministack/faults.json"),
            tmp_dir: PathBuf::from("/repo/.local/ministack/tmp"),
            stop_with_pid: Some(4242),
            wait_divisor: Some(100),
            lambda_idle_seconds: None,
        };
        let inherited = [
            ("PATH", "/usr/bin:/bin"),
            ("HOME", "/home/dev"),
            ("DATABASE_URL", "postgres://secret@db/userlog"),
            ("AWS_PROFILE", "production"),
            ("AWS_SECRET_ACCESS_KEY", "real-secret"),
            ("LANG", "C.UTF-8"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()));
        let rendered: String = server_env(&layout, &inherited)
            .iter()
            .map(|(name, value)| format!("{name}={value}\n"))
            .collect();
        expect![[r#"
            PATH=/usr/bin:/bin
            HOME=/home/dev
            LANG=C.UTF-8
            BIND_HOST=127.0.0.1
            GATEWAY_PORT=45123
            MINISTACK_REGION=ap-northeast-1
            LOG_LEVEL=INFO
            PYTHONUNBUFFERED=1
            TMPDIR=/repo/.local/ministack/tmp
            USERLOG_ECS_IMAGES=/repo/.local/ministack/ecs-images.json
            USERLOG_ECS_TASK_LOGS=/repo/.local/ministack/ecs-tasks
            USERLOG_FAULTS=/repo/.local/ministack/faults.json
            USERLOG_STOP_WITH_PID=4242
            SFN_WAIT_SCALE=0.01
            AWS_ENDPOINT_URL=http://127.0.0.1:45123
            AWS_ACCESS_KEY_ID=test
            AWS_SECRET_ACCESS_KEY=test
            AWS_REGION=ap-northeast-1
            AWS_DEFAULT_REGION=ap-northeast-1
        "#]]
        .assert_eq(&rendered);
    }

    #[test]
    fn status_lines_give_their_code() {
        assert_eq!(
            parse_status_line("HTTP/1.1 200 OK\r\ncontent-type: x\r\n"),
            Some(200)
        );
        assert_eq!(
            parse_status_line("HTTP/1.0 503 Service Unavailable"),
            Some(503)
        );
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH_9.6"), None);
        assert_eq!(parse_status_line(""), None);
    }

    #[test]
    fn stat_lines_give_state_and_process_group() {
        assert_eq!(
            parse_stat_group("4242 (python) S 1 4242 4242 0 -1"),
            Some(('S', 4242))
        );
        assert_eq!(
            parse_stat_group("77 (boot (x) strap) Z 4242 4242 4242"),
            Some(('Z', 4242))
        );
        assert_eq!(parse_stat_group("garbage"), None);
    }

    #[test]
    fn command_lines_are_matched_by_script() {
        let cmdline = b"/repo/.local/venv-ministack/bin/python\0/repo/tools/ministack/launch.py\0";
        assert!(cmdline_runs(cmdline, "launch.py"));
        assert!(!cmdline_runs(b"/usr/bin/sleep\x0030\0", "launch.py"));
    }
}
