//! Migrations as a one-off ECS task: the import task's own image runs `import-csv migrate` in the
//! network the import task runs in (read from the deployed state machine's `ecs:runTask` state,
//! so it is exactly where imports reach the database), for databases only reachable from inside
//! the environment's VPC, with the stack's migration role in place of the import task's. The
//! deploy waits for the task and fails unless it exits 0.

use serde::Serialize;

use crate::error::DeployError;
use crate::progress::Progress;
use crate::sdk::Aws;

/// Where and how the migration task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationTask {
    pub cluster: String,
    pub task_definition: String,
    pub launch_type: Option<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: Option<String>,
    /// The container whose command becomes `migrate`.
    pub container: String,
}

/// The command the container runs instead of an import.
pub const MIGRATE_COMMAND: &str = "migrate";

/// The state machine and the migration role a stack's outputs name: what a one-off task needs;
/// the output that is missing otherwise.
pub fn task_outputs(
    outputs: &std::collections::BTreeMap<String, String>,
) -> Result<(&str, &str), &'static str> {
    let get = |name: &'static str| outputs.get(name).map(String::as_str).ok_or(name);
    Ok((get(crate::upload::STATE_MACHINE_OUTPUT)?, get(ROLE_OUTPUT)?))
}

/// The command that drops a preview's schema and role (before its stack goes).
pub const DROP_PREVIEW_COMMAND: &str = "drop-preview";

/// The stack output naming the role the migration task runs with, in place of the import task's
/// own (only it may read the database's administrative secret).
pub const ROLE_OUTPUT: &str = "MigrationTaskRoleArn";

/// The migration task of a deployed state machine definition: the parameters of its
/// `ecs:runTask` state (without its per-file environment overrides).
pub fn migration_task(definition: &str) -> Result<MigrationTask, String> {
    let definition: serde_json::Value = serde_json::from_str(definition)
        .map_err(|e| format!("the state machine's definition is not JSON: {e}"))?;
    let mut found = None;
    find_run_task(&definition, &mut found);
    let parameters = found.ok_or("the state machine has no ecs:runTask state")?;
    let text = |value: &serde_json::Value, what: &str| {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the ecs:runTask state has no {what}"))
    };
    let list = |value: &serde_json::Value| -> Vec<String> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let network = &parameters["NetworkConfiguration"]["AwsvpcConfiguration"];
    Ok(MigrationTask {
        cluster: text(&parameters["Cluster"], "Cluster")?,
        task_definition: text(&parameters["TaskDefinition"], "TaskDefinition")?,
        launch_type: parameters["LaunchType"].as_str().map(str::to_owned),
        subnets: list(&network["Subnets"]),
        security_groups: list(&network["SecurityGroups"]),
        assign_public_ip: network["AssignPublicIp"].as_str().map(str::to_owned),
        container: text(
            &parameters["Overrides"]["ContainerOverrides"][0]["Name"],
            "container override",
        )?,
    })
}

/// Finds the `Parameters` of the first state whose resource is `arn:aws:states:::ecs:runTask*`,
/// at any depth (inside Map and Parallel states too).
fn find_run_task<'a>(value: &'a serde_json::Value, found: &mut Option<&'a serde_json::Value>) {
    if found.is_some() {
        return;
    }
    match value {
        serde_json::Value::Object(map) => {
            if map
                .get("Resource")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|r| r.starts_with("arn:aws:states:::ecs:runTask"))
                && let Some(parameters) = map.get("Parameters")
            {
                *found = Some(parameters);
                return;
            }
            for child in map.values() {
                find_run_task(child, found);
            }
        }
        serde_json::Value::Array(items) => {
            for child in items {
                find_run_task(child, found);
            }
        }
        _ => {}
    }
}

/// How a task ended, as ECS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEnd {
    pub exit_code: Option<i32>,
    pub stopped_reason: String,
}

/// Whether the migration task's end means the migrations are applied.
pub fn judge(end: &TaskEnd, task_arn: &str) -> Result<(), String> {
    match end.exit_code {
        Some(0) => Ok(()),
        Some(code) => Err(format!(
            "the migration task {task_arn} exited {code}; its log (the import task's log group) says why"
        )),
        None => Err(format!(
            "the migration task {task_arn} stopped without running: {}",
            end.stopped_reason
        )),
    }
}

/// How long the deploy waits for the migration task.
const TASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(900);

/// Runs the migrations as a one-off task of the stack's state machine's import task and waits.
pub async fn run(
    aws: &Aws,
    state_machine_arn: &str,
    role_arn: &str,
    progress: &dyn Progress,
) -> Result<String, DeployError> {
    run_command(aws, state_machine_arn, role_arn, MIGRATE_COMMAND, progress).await
}

/// Runs `import-csv <command>` as a one-off task of the stack's state machine's import task,
/// with the migration role `role_arn`, and waits for it to exit 0.
pub async fn run_command(
    aws: &Aws,
    state_machine_arn: &str,
    role_arn: &str,
    command: &str,
    progress: &dyn Progress,
) -> Result<String, DeployError> {
    let definition = aws.state_machine_definition(state_machine_arn).await?;
    let task = migration_task(&definition).map_err(DeployError::other)?;
    progress.step(&format!(
        "running `{} {command}` in a one-off task of {} on {}",
        task.container, task.task_definition, task.cluster
    ));
    let arn = aws.run_task(&task, &[command], Some(role_arn)).await?;
    progress.detail(&format!("started {arn}"));
    let started = std::time::Instant::now();
    let end = loop {
        if let Some(end) = aws.stopped_task(&task.cluster, &arn).await? {
            break end;
        }
        if started.elapsed() > TASK_TIMEOUT {
            return Err(DeployError::TimedOut {
                what: format!("the task {arn} (`{command}`)"),
                seconds: TASK_TIMEOUT.as_secs(),
            });
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    };
    judge(&end, &arn).map_err(DeployError::other)?;
    progress.detail(&format!("the task exited 0 (`{command}` done)"));
    Ok(arn)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn the_task_is_the_state_machines_run_task_without_its_file() {
        let definition = r#"{"StartAt": "Validate", "States": {
            "Route": {"Type": "Choice"},
            "BulkImport": {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync",
              "Parameters": {"Cluster": "arn:aws:ecs:ap-northeast-1:1:cluster/staging-userlog", "TaskDefinition": "staging-userlog-import-csv",
                "LaunchType": "FARGATE",
                "NetworkConfiguration": {"AwsvpcConfiguration": {"Subnets": ["subnet-a", "subnet-b"], "SecurityGroups": ["sg-1"], "AssignPublicIp": "DISABLED"}},
                "Overrides": {"ContainerOverrides": [{"Name": "import-csv", "Environment": [{"Name": "IMPORT_KEY", "Value.$": "$.key"}]}]}}}}}"#;
        expect![[r#"
            MigrationTask {
                cluster: "arn:aws:ecs:ap-northeast-1:1:cluster/staging-userlog",
                task_definition: "staging-userlog-import-csv",
                launch_type: Some(
                    "FARGATE",
                ),
                subnets: [
                    "subnet-a",
                    "subnet-b",
                ],
                security_groups: [
                    "sg-1",
                ],
                assign_public_ip: Some(
                    "DISABLED",
                ),
                container: "import-csv",
            }
        "#]]
        .assert_debug_eq(&migration_task(definition).unwrap());
        assert_eq!(
            migration_task(r#"{"States": {}}"#).unwrap_err(),
            "the state machine has no ecs:runTask state"
        );
    }

    #[test]
    fn only_exit_zero_means_migrated() {
        let end = |exit_code, reason: &str| TaskEnd {
            exit_code,
            stopped_reason: reason.to_owned(),
        };
        assert!(judge(&end(Some(0), "Essential container in task exited"), "t").is_ok());
        assert!(
            judge(&end(Some(2), ""), "t")
                .unwrap_err()
                .contains("exited 2")
        );
        assert!(
            judge(&end(None, "CannotPullContainerError: no such image"), "t")
                .unwrap_err()
                .contains("CannotPullContainerError")
        );
    }
}
