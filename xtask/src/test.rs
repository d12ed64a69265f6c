//! `cargo xtask test`: installs what the tests need, then runs every test of the workspace and the
//! dashboard's unit tests.

use std::process::{Command, ExitCode};

use anyhow::Context as _;

use userlog_local::privileges::effective_uid;
use userlog_local::process::find_in_path;

use crate::cli::TestArgs;

/// Programs the tests run that come from Debian's packages: `(program, package)`.
const SYSTEM_PROGRAMS: &[(&str, &str)] = &[
    // The reference OCI distribution registry, on loopback, for the image push test.
    ("docker-registry", "docker-registry"),
    // An independent OCI client that pulls the pushed image back by digest.
    ("skopeo", "skopeo"),
    // The browser the dashboard's end-to-end check drives headless (playwright-core, from the
    // dashboard's own npm packages, talks to it over the DevTools protocol).
    ("chromium", "chromium"),
];

/// Installs the Debian packages of the programs that are missing (as root, with apt-get), or
/// says which to install.
fn install_system_programs() -> anyhow::Result<()> {
    let missing: Vec<&str> = SYSTEM_PROGRAMS
        .iter()
        .filter(|(program, _)| find_in_path(program).is_none())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = effective_uid().is_ok_and(|uid| uid == 0);
    anyhow::ensure!(
        is_root && find_in_path("apt-get").is_some(),
        "the tests need Debian's {}: install them (`sudo apt-get install {}`) and run again",
        missing.join(", "),
        missing.join(" ")
    );
    eprintln!("installing {} (apt-get) for the tests", missing.join(", "));
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("cannot run apt-get")
    };
    if !install()?.success() {
        // A fresh machine may have no package lists yet.
        let updated = Command::new("apt-get")
            .args(["update", "-qq"])
            .status()
            .context("cannot run apt-get update")?;
        anyhow::ensure!(updated.success(), "apt-get update failed");
        anyhow::ensure!(
            install()?.success(),
            "apt-get install {} failed",
            missing.join(" ")
        );
    }
    Ok(())
}

pub(crate) fn run(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let root = crate::workspace_root();
    install_system_programs()?;
    // The dashboard's own unit tests (vitest, over its pure logic), after a build that installs
    // its pinned packages; the browser check runs in the end-to-end test.
    let built = crate::dashboard::build_site()?;
    crate::dashboard::print_built(&built);
    let node = crate::dashboard::node()?;
    eprintln!("dashboard: npm test");
    let dashboard = Command::new(&node.npm)
        .current_dir(root.join("dashboard"))
        .args(["test", "--silent"])
        .status()
        .context("cannot run the dashboard's unit tests (npm test)")?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(&root)
        .args(["test", "--workspace", "--locked"])
        .args(&args.cargo_args)
        .status()
        .context("cannot run cargo test")?;
    if !dashboard.success() {
        eprintln!("error: the dashboard's unit tests failed (`cd dashboard && npm test` says why)");
    }
    Ok(if status.success() && dashboard.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
