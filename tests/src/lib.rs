//! What the end-to-end tests share: where the repository is, and the `cargo xtask` binary they run
//! (built once per test process with the cargo that runs the tests, into the same target directory).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf()
}

/// The `xtask` binary of this checkout, built on first use (`cargo build -p xtask`) next to the
/// test executables, so the tests run exactly what `cargo xtask` runs.
pub fn xtask_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = std::process::Command::new(cargo)
            .args(["build", "--quiet", "-p", "xtask", "--bin", "xtask"])
            .current_dir(root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p xtask failed");
        let test_executable = std::env::current_exe().expect("the test executable has a path");
        // `<target>/<profile>/deps/<test>`: the binary is `<target>/<profile>/xtask`.
        let profile_dir = test_executable
            .parent()
            .and_then(Path::parent)
            .expect("the test executable is under <target>/<profile>/deps");
        let binary = profile_dir.join(format!("xtask{}", std::env::consts::EXE_SUFFIX));
        assert!(binary.is_file(), "{} was not built", binary.display());
        binary
    })
}

/// A local stack of the end-to-end tests (PostgreSQL and the emulator under `.local/e2e`, apart
/// from the developer's own `.local`), driven through the `cargo xtask` binary. It is stopped when
/// dropped.
#[derive(Debug)]
pub struct LocalStack {
    /// Where its state lives.
    pub dir: PathBuf,
    /// Its PostgreSQL database.
    pub database_url: String,
    /// Its emulator.
    pub endpoint: String,
    /// Variables every `xtask` run gets.
    pub env: Vec<(String, String)>,
}

impl LocalStack {
    /// Starts a fresh stack (the virtualenvs of earlier runs are kept, the state is not).
    pub fn start() -> LocalStack {
        let mut stack = LocalStack {
            dir: root().join(".local").join("e2e"),
            database_url: String::new(),
            endpoint: String::new(),
            env: Vec::new(),
        };
        // A previous run that was killed may have left its services running.
        let _ = stack.xtask(&["local", "down"]);
        for service in ["postgres", "ministack"] {
            let path = stack.dir.join(service);
            if path.exists() {
                std::fs::remove_dir_all(&path).expect("the old state can be removed");
            }
        }
        stack.expect_ok(&["local", "up"], "local up");
        let env = stack.expect_ok(&["local", "env"], "local env");
        let text = String::from_utf8_lossy(&env.stdout).into_owned();
        let var = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("`local env` prints no {name}:\n{text}"))
                .trim_matches('\'')
                .to_owned()
        };
        stack.database_url = var("DATABASE_URL");
        stack.endpoint = var("AWS_ENDPOINT_URL");
        stack
    }

    /// The `xtask` command with this stack's state and variables, and none of the caller's
    /// database, emulator or GitHub settings.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(xtask_binary());
        command
            .args(args)
            .current_dir(root())
            .env("USERLOG_LOCAL_DIR", &self.dir);
        for name in [
            "DATABASE_URL",
            "AWS_ENDPOINT_URL",
            "GITHUB_TOKEN",
            "GITHUB_REPOSITORY",
            "GITHUB_API_URL",
            "GITHUB_RUN_ID",
        ] {
            command.env_remove(name);
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// Runs `xtask` with `args`.
    pub fn xtask(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().expect("the xtask binary runs")
    }

    /// Runs `xtask` with `args` and fails the test, saying `what`, unless it succeeds.
    pub fn expect_ok(&self, args: &[&str], what: &str) -> std::process::Output {
        let output = self.xtask(args);
        assert!(
            output.status.success(),
            "{what} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl LocalStack {
    /// A runtime for the async clients of a check.
    pub fn runtime(&self) -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    }

    /// Runs `work` on a pool of the stack's database.
    pub fn sql<T>(&self, work: impl AsyncFnOnce(&sqlx::PgPool) -> T) -> T {
        self.runtime().block_on(async {
            let pool = sqlx::PgPool::connect(&self.database_url)
                .await
                .expect("the local database answers");
            let result = work(&pool).await;
            pool.close().await;
            result
        })
    }

    /// The SDK configuration of the stack's emulator.
    pub async fn emulator(&self) -> (aws_config::SdkConfig, userlog_aws::config::AwsSettings) {
        userlog_aws::config::emulator_config(&self.endpoint, "ap-northeast-1", "test", "test").await
    }

    /// The items of a DynamoDB table whose `executionName` is `execution`.
    pub fn items(
        &self,
        table: &str,
        execution: &str,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.runtime().block_on(async {
            let (config, _) = self.emulator().await;
            let client = aws_sdk_dynamodb::Client::new(&config);
            let output = client
                .scan()
                .table_name(table)
                .filter_expression("executionName = :name")
                .expression_attribute_values(
                    ":name",
                    aws_sdk_dynamodb::types::AttributeValue::S(execution.to_owned()),
                )
                .send()
                .await
                .expect("the table scans");
            output.items().to_vec()
        })
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        let _ = self.xtask(&["local", "down"]);
    }
}
