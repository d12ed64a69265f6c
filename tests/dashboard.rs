//! The operator dashboard in a real browser on the end-to-end stack: `cargo xtask dashboard
//! serve` (the built site, on the origin `local`'s API answers CORS for) reading `serve-api` on
//! another origin, and headless Chromium driven by `dashboard/tests/browser.mjs` (playwright-core
//! from the dashboard's own packages) checking what a person would see: the imports with their
//! statuses, the failed one's `BadCount` and redrive command, its timeline, a user's counts, and
//! a sign-in message for a missing or expired token. The run saves a screenshot.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use userlog_e2e::{LocalStack, root};

use crate::stats_api::{ServeApi, token};

/// The port `dashboard serve` listens on: the origin `local`'s `dashboard.origins` names.
const PORT: u16 = 8082;

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn port_answers(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Serves the dashboard against `api`, checks it in Chromium, saves a screenshot under the
/// stack's directory; `failed_key` is the source key of the import that failed validation,
/// `succeeded_keys` those of imports that succeeded.
pub fn check_in_browser(
    stack: &LocalStack,
    api: &ServeApi,
    user: &str,
    failed_key: &str,
    succeeded_keys: &[&str],
) {
    assert!(
        !port_answers(PORT),
        "dashboard: something already listens on 127.0.0.1:{PORT} (a `cargo xtask dashboard serve`?); stop it"
    );
    let child = stack
        .command(&[
            "dashboard",
            "serve",
            "--port",
            &PORT.to_string(),
            "--api",
            &api.base,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("dashboard serve starts");
    let mut served = Served(child);
    let started = Instant::now();
    while !port_answers(PORT) {
        if let Some(status) = served
            .0
            .try_wait()
            .expect("dashboard serve can be waited for")
        {
            panic!("dashboard serve exited early: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "dashboard serve did not listen within three minutes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let valid = token(stack, &["--sub", "e2e-operator"]);
    let expired = token(stack, &["--exp", "2020-01-01T00:00:00Z"]);
    let screenshot = stack.dir.join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    // The checkout's own Node.js when the tooling installed one (the one on PATH was too old).
    let own = root().join(".local/node/bin/node");
    let node = if own.is_file() { own } else { "node".into() };
    let output = Command::new(node)
        .arg(root().join("dashboard/tests/browser.mjs"))
        .current_dir(root().join("dashboard"))
        .env("DASHBOARD_URL", format!("http://127.0.0.1:{PORT}/"))
        .env("TOKEN", &valid)
        .env("EXPIRED_TOKEN", &expired)
        .env("SCREENSHOT", &screenshot)
        .env("EXPECT_USER", user)
        .env("EXPECT_FAILED_KEY", failed_key)
        .env("EXPECT_SUCCEEDED_KEYS", succeeded_keys.join(","))
        .env("CHROMIUM", chromium)
        .output()
        .expect("node runs the browser check");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{printed}");
    assert!(
        output.status.success(),
        "dashboard: the browser check failed:\n{printed}"
    );
    let size = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "dashboard: no screenshot at {} ({size} bytes)",
        screenshot.display()
    );
    drop(served);
}
