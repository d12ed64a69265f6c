//! The local PostgreSQL cluster against the machine's real PostgreSQL programs, in a state
//! directory of its own so that the cluster other tests share keeps running.

use std::path::PathBuf;
use std::process::Command;

use userlog_local::{
    Action, LocalDir, LocalStack, ServiceReport, ServiceState, StackReport, render_exports,
};

/// A local stack in a fresh temporary directory; stops its cluster and removes the directory
/// when dropped, also when an assertion fails.
struct TemporaryStack {
    stack: LocalStack,
    dir: PathBuf,
}

impl TemporaryStack {
    fn new(label: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("userlog-local-{label}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove a leftover test directory");
        }
        Self {
            stack: LocalStack::at(LocalDir::new(&dir)),
            dir,
        }
    }
}

impl Drop for TemporaryStack {
    fn drop(&mut self) {
        let _ = self.stack.down(&mut |_| {});
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The cluster's part of a report of the whole stack (the stack stops its services in reverse).
fn postgres_report(report: &StackReport) -> &ServiceReport {
    report
        .services
        .iter()
        .find(|service| service.status.name == "postgres")
        .expect("the stack reports on postgres")
}

#[test]
fn up_is_idempotent_and_status_after_down_says_stopped() {
    let temporary = TemporaryStack::new("lifecycle");
    let postgres = &temporary.stack.postgres;
    let mut steps = Vec::new();

    let first = postgres
        .up(&mut |step| steps.push(step.to_owned()))
        .expect("first up");
    assert_eq!(first.action, Action::Initialized);
    assert_eq!(first.status.state, ServiceState::Running);
    assert!(
        steps
            .iter()
            .any(|step| step.starts_with("Creating a PostgreSQL")),
        "{steps:?}"
    );
    let url = first
        .status
        .url
        .clone()
        .expect("a running cluster has a URL");
    let port = url
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next())
        .expect("a port");
    assert_eq!(url, format!("postgres://userlog@127.0.0.1:{port}/userlog"));

    let state = postgres
        .read_state()
        .expect("readable state")
        .expect("state written");
    assert_eq!(state.pid, first.status.pid);
    assert_eq!(state.url, url);

    // The application database exists and takes queries over TCP.
    let psql = state.bin_dir.join("psql");
    let output = Command::new(&psql)
        .args([
            "-X",
            "-A",
            "-t",
            "-w",
            &url,
            "-c",
            "SELECT current_database() || ' ' || current_user",
        ])
        .output()
        .expect("run psql");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "userlog userlog"
    );

    let second = postgres.up(&mut |_| {}).expect("second up");
    assert_eq!(second.action, Action::AlreadyRunning);
    assert_eq!(second.status.pid, first.status.pid);
    assert_eq!(second.status.url, first.status.url);

    assert_eq!(
        render_exports(&postgres.env().expect("env of a running cluster")),
        format!("export DATABASE_URL={url}\n")
    );

    let down = temporary.stack.down(&mut |_| {}).expect("down");
    assert_eq!(postgres_report(&down).action, Action::Stopped);
    let status = temporary.stack.status().expect("status");
    assert_eq!(status.services[0].state, ServiceState::Stopped);
    assert_eq!(status.services[0].pid, None);
    assert_eq!(status.services[0].note, None);
    assert!(
        temporary.stack.env().is_err(),
        "a stopped cluster has no URL"
    );

    let again = postgres.down(&mut |_| {}).expect("second down");
    assert_eq!(again.action, Action::AlreadyStopped);

    // The next start reuses the cluster and, since it is free, its port.
    let restarted = postgres.up(&mut |_| {}).expect("up after down");
    assert_eq!(restarted.action, Action::Started);
    assert_eq!(restarted.status.url.as_deref(), Some(url.as_str()));
}

#[test]
fn a_cluster_whose_process_has_gone_is_restarted() {
    let temporary = TemporaryStack::new("restart");
    let postgres = &temporary.stack.postgres;
    let first = postgres.up(&mut |_| {}).expect("first up");
    let pid = first.status.pid.expect("a pid");

    // Kill the server behind the state file's back, as a crash or a reboot would.
    userlog_local::process::send_signal(pid, "KILL").expect("kill the server");
    while userlog_local::process::process_is_alive(pid) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = postgres.status().expect("status");
    assert_eq!(status.state, ServiceState::Stopped);
    assert!(
        status
            .note
            .as_deref()
            .is_some_and(|note| note.contains("has gone")),
        "{status:?}"
    );

    let second = postgres.up(&mut |_| {}).expect("up after the crash");
    assert_eq!(second.action, Action::Restarted);
    assert_eq!(second.status.state, ServiceState::Running);
    assert_ne!(second.status.pid, Some(pid));
}

#[test]
fn status_of_a_new_directory_says_not_initialized() {
    let temporary = TemporaryStack::new("empty");
    let status = temporary.stack.status().expect("status");
    assert_eq!(status.services[0].state, ServiceState::NotInitialized);
    let down = temporary.stack.down(&mut |_| {}).expect("down of nothing");
    assert_eq!(postgres_report(&down).action, Action::AlreadyStopped);
}

#[test]
fn concurrent_ups_create_the_cluster_once() {
    let temporary = TemporaryStack::new("concurrent");
    let actions: Vec<Action> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| temporary.stack.postgres.up(&mut |_| {}).expect("up").action))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("no panic"))
            .collect()
    });
    assert_eq!(
        actions
            .iter()
            .filter(|action| **action == Action::Initialized)
            .count(),
        1,
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|action| **action == Action::AlreadyRunning)
            .count(),
        2,
        "{actions:?}"
    );
}
