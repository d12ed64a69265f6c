//! Environments: their names, and the typed parameters each one's file in `templates/environments/` holds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::InfraError;

/// The name of an environment. Previews are derived from one file for any pull request number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EnvironmentName {
    /// One machine, against the local AWS emulator.
    Local,
    /// The last stop before production; previews share its platform.
    Staging,
    /// Production.
    Production,
    /// The preview of one pull request.
    Preview(u32),
}

/// The pull request number that stands for every preview in checks and snapshots.
pub const SAMPLE_PREVIEW_PR: u32 = 42;

impl EnvironmentName {
    /// The environments that `validate` checks and whose rendering is committed.
    pub const CHECKED: [EnvironmentName; 4] = [
        EnvironmentName::Local,
        EnvironmentName::Staging,
        EnvironmentName::Production,
        EnvironmentName::Preview(SAMPLE_PREVIEW_PR),
    ];

    /// The file in `templates/environments/` that holds this environment's parameters.
    pub fn file_name(self) -> &'static str {
        match self {
            EnvironmentName::Local => "local.yaml",
            EnvironmentName::Staging => "staging.yaml",
            EnvironmentName::Production => "production.yaml",
            EnvironmentName::Preview(_) => "preview.yaml",
        }
    }

    /// The pull request number of a preview.
    pub fn pull_request(self) -> Option<u32> {
        match self {
            EnvironmentName::Preview(number) => Some(number),
            _ => None,
        }
    }
}

impl fmt::Display for EnvironmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvironmentName::Local => f.write_str("local"),
            EnvironmentName::Staging => f.write_str("staging"),
            EnvironmentName::Production => f.write_str("production"),
            EnvironmentName::Preview(number) => write!(f, "preview-pr-{number}"),
        }
    }
}

impl FromStr for EnvironmentName {
    type Err = InfraError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(EnvironmentName::Local),
            "staging" => Ok(EnvironmentName::Staging),
            "production" => Ok(EnvironmentName::Production),
            _ => {
                let digits = s
                    .strip_prefix("preview-pr-")
                    .ok_or_else(|| InfraError::UnknownEnvironment(s.to_owned()))?;
                let well_formed = !digits.is_empty()
                    && digits.len() <= 9
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && !digits.starts_with('0');
                if !well_formed {
                    return Err(InfraError::UnknownEnvironment(s.to_owned()));
                }
                let number = digits
                    .parse()
                    .map_err(|_| InfraError::UnknownEnvironment(s.to_owned()))?;
                Ok(EnvironmentName::Preview(number))
            }
        }
    }
}

/// Settings shared by every environment (`templates/project.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectConfig {
    /// The project slug, the middle part of every resource name.
    pub slug: String,
    /// The GitHub repository (`owner/name`) whose workflows may deploy.
    pub repository: String,
    /// The branch whose pushes deploy.
    pub deploy_branch: String,
    /// Tags for every resource.
    pub tags: std::collections::BTreeMap<String, String>,
}

/// The parameters of one environment, as its file in `templates/environments/` gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// The environment's name (not in the file: the file name, or `preview-pr-<N>`, says it).
    #[serde(skip)]
    pub name: Option<EnvironmentName>,
    /// The AWS region.
    pub region: String,
    /// The AWS account id (12 digits).
    pub account_id: String,
    /// Whether this environment owns its network, database and keys, or shares another's.
    pub platform: PlatformConfig,
    /// The network, when the environment owns its platform.
    #[serde(default)]
    pub network: Option<NetworkConfig>,
    /// The database, when the environment owns its platform.
    #[serde(default)]
    pub database: Option<DatabaseConfig>,
    /// How many database connections the pipeline may hold, and how they are shared.
    pub connections: ConnectionBudget,
    /// How imports run.
    pub import: ImportConfig,
    /// Log retention.
    pub logs: LogsConfig,
    /// Alarm thresholds and who gets alarms.
    pub alarms: AlarmsConfig,
    /// Who gets import notifications, and how.
    pub notifications: NotificationsConfig,
    /// The statistics API's authentication.
    pub api: ApiConfig,
    /// The operator dashboard that reads the API (absent in files older than it: none).
    #[serde(default)]
    pub dashboard: DashboardConfig,
    /// The daily export.
    pub export: ExportConfig,
    /// Whether stateful resources survive the stack's deletion.
    pub retain_data: bool,
    /// The account-level resources that deploys need (absent for previews).
    #[serde(default)]
    pub bootstrap: Option<BootstrapConfig>,
    /// How a deploy releases new function versions (absent: all at once).
    #[serde(default)]
    pub release: Option<ReleaseConfig>,
}

/// Whether an environment owns its platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlatformConfig {
    /// `own` or `shared`.
    pub mode: PlatformMode,
    /// The environment whose platform a `shared` environment uses.
    #[serde(default)]
    pub from: Option<String>,
}

/// Whether an environment owns its platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlatformMode {
    /// This stack creates the network, the database and the keys.
    Own,
    /// This stack imports them from another environment's stack.
    Shared,
}

/// The network of an environment that owns its platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkConfig {
    /// The VPC's CIDR block.
    pub cidr: String,
    /// The two private subnets (zone a, zone b).
    pub private_subnets: [String; 2],
    /// The two public subnets, used only for NAT gateways.
    pub public_subnets: [String; 2],
    /// 0, 1 or 2 NAT gateways.
    pub nat_gateways: u8,
    /// Whether there is an SSM-managed operator host.
    pub operator_host: bool,
}

/// The database of an environment that owns its platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `aurora` or `external`.
    pub mode: DatabaseMode,
    /// The Aurora PostgreSQL engine version.
    #[serde(default)]
    pub engine_version: Option<String>,
    /// The database name.
    pub name: String,
    /// The PostgreSQL schema of the tables.
    pub schema: String,
    /// Aurora capacity units, at least.
    #[serde(default)]
    pub min_capacity: Option<f64>,
    /// Aurora capacity units, at most.
    #[serde(default)]
    pub max_capacity: Option<f64>,
    /// Whether an RDS Proxy sits in front of the cluster.
    #[serde(default)]
    pub proxy: bool,
    /// Whether the cluster refuses to be deleted.
    pub deletion_protection: bool,
    /// Days of automated backups.
    #[serde(default)]
    pub backup_retention_days: Option<u32>,
}

/// Where the database is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseMode {
    /// An Aurora Serverless v2 cluster of this stack.
    Aurora,
    /// A database given at deploy time.
    External,
}

/// The database connection budget of an environment: the most connections its functions, tasks
/// and tooling may hold at once, and each one's share. Every function instance holds at most one
/// connection, so a function's share is its concurrency (`cargo xtask validate` checks that the
/// shares fit the limit; see [`crate::budget`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionBudget {
    /// The connections the database accepts (`max_connections`), or, for an environment that
    /// shares another's database, the share that environment's budget keeps for it.
    pub database_max_connections: u32,
    /// With an RDS Proxy: the share of `max_connections` the proxy may open (its
    /// `MaxConnectionsPercent`); the budget's limit is that share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_max_connections_percent: Option<u32>,
    /// Connections kept for the tooling: migrations, the deploy's checks, operators' sessions.
    pub tooling: u32,
    /// Connections kept for the pull-request previews that share this environment's database.
    #[serde(default)]
    pub previews: u32,
    /// Connections left unused, for the database's own reserved slots and for surprises.
    pub margin: u32,
    /// For every function and task of functions.yaml that touches the database: how many run at
    /// once (a Lambda function's reserved concurrency, the bulk tasks' count).
    pub concurrency: std::collections::BTreeMap<String, u32>,
}

impl ConnectionBudget {
    /// The most connections the pipeline may hold: the database's, or the proxy's share of it.
    pub fn limit(&self) -> u32 {
        match self.proxy_max_connections_percent {
            Some(percent) => self.database_max_connections * percent / 100,
            None => self.database_max_connections,
        }
    }
}

/// How imports run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportConfig {
    /// Files up to this many bytes take the distributed map; larger ones the bulk task.
    pub map_max_bytes: u64,
    /// Larger files are rejected.
    pub max_file_bytes: u64,
    /// Rows per batch of the distributed map.
    pub batch_size: u32,
    /// Row errors tolerated, as a share of the rows.
    pub row_error_tolerance_percent: u32,
    /// Row errors tolerated, as a count.
    pub row_error_tolerance_count: u32,
    /// The bulk task's size and time limit.
    pub bulk_task: BulkTaskConfig,
}

/// The bulk task's size and time limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkTaskConfig {
    /// Fargate CPU units.
    pub cpu: u32,
    /// Fargate memory (MiB).
    pub memory: u32,
    /// How long the state machine waits for the task.
    pub timeout_seconds: u32,
}

/// Log retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogsConfig {
    /// Days to keep logs (a value CloudWatch Logs accepts).
    pub retention_days: u32,
}

/// Alarm thresholds and who gets alarms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlarmsConfig {
    /// Failed executions, in percent of started ones, above which the alarm fires.
    pub execution_failure_rate_percent: u32,
    /// Execution time above which the alarm fires.
    pub execution_time_minutes: u32,
    /// `CSV/Processing` `ErrorCount` in 5 minutes above which the alarm fires.
    pub error_count_per5_minutes: u32,
    /// Database connection errors in 5 minutes at which the alarm fires.
    pub database_connection_errors_per5_minutes: u32,
    /// E-mail addresses subscribed to the alert topic.
    pub emails: Vec<String>,
}

/// Who gets import notifications, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationsConfig {
    /// E-mail addresses subscribed to the notification topic and mailed by check-errors.
    pub emails: Vec<String>,
    /// The SES sender address.
    pub sender: String,
    /// The SSM SecureString parameter with the Slack webhook URL.
    pub slack_webhook_parameter: String,
}

/// The statistics API's authentication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiConfig {
    /// The JWT issuer.
    pub jwt_issuer: String,
    /// The accepted JWT audiences.
    pub jwt_audience: Vec<String>,
    /// The JWKS the function verifies tokens against.
    pub jwks_url: String,
}

/// The operator dashboard: a static site on Cloudflare Pages that reads the environment's API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DashboardConfig {
    /// The Cloudflare Pages project it deploys to; none where it is only served on this machine.
    #[serde(default)]
    pub pages_project: Option<String>,
    /// The origins (`scheme://host[:port]`) whose browsers may read the API (CORS). A preview's
    /// own, its branch's `https://pr-<N>.<project>.pages.dev`, is added when its file is read.
    #[serde(default)]
    pub origins: Vec<String>,
}

impl DashboardConfig {
    /// The Pages branch an environment's dashboard deploys as: a preview's `pr-<N>`, otherwise
    /// the project's production branch, `main`.
    pub fn branch(environment: EnvironmentName) -> String {
        match environment.pull_request() {
            Some(number) => format!("pr-{number}"),
            None => "main".to_owned(),
        }
    }

    /// The address of a branch's deployments (the branch alias Pages gives every branch).
    pub fn branch_url(&self, branch: &str) -> Option<String> {
        let project = self.pages_project.as_deref()?;
        Some(if branch == "main" {
            format!("https://{project}.pages.dev")
        } else {
            format!("https://{branch}.{project}.pages.dev")
        })
    }
}

/// Whether a text is an origin: `http://` or `https://`, a host, maybe a port, nothing else.
fn is_origin(text: &str) -> bool {
    let Some(rest) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
}

/// The daily export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportConfig {
    /// An EventBridge Scheduler expression.
    pub schedule_expression: String,
    /// The schedule's time zone.
    pub schedule_timezone: String,
}

/// How a deploy releases new function versions by default (`deploy --canary/--bake` override it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseConfig {
    /// The share of calls, in percent, that `stable` sends to a new version while it bakes; 0
    /// releases at once.
    pub canary_percent: u8,
    /// How long the canary bakes, in minutes, while the deploy watches the alarms.
    pub bake_minutes: u32,
}

/// The account-level resources that deploys need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootstrapConfig {
    /// Whether this environment's bootstrap stack creates the account's GitHub OIDC provider.
    pub create_oidc_provider: bool,
    /// Whether pull-request previews deploy into this environment's account.
    pub hosts_previews: bool,
}

impl EnvironmentConfig {
    /// Parses an environment file and checks what the types cannot say.
    pub fn parse(name: EnvironmentName, file: &str, text: &str) -> Result<Self, InfraError> {
        let mut config: EnvironmentConfig =
            serde_yaml::from_str(text).map_err(|err| InfraError::invalid(file, err))?;
        config.name = Some(name);
        if name.pull_request().is_some() {
            let branch = DashboardConfig::branch(name);
            if let Some(origin) = config.dashboard.branch_url(&branch) {
                config.dashboard.origins.push(origin);
            }
        }
        config.check(file)?;
        Ok(config)
    }

    /// The environment's name.
    pub fn environment(&self) -> EnvironmentName {
        self.name.unwrap_or(EnvironmentName::Local)
    }

    fn check(&self, file: &str) -> Result<(), InfraError> {
        let fail = |message: String| Err(InfraError::invalid(file, message));
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return fail(format!("accountId `{}` is not 12 digits", self.account_id));
        }
        if let Some(origin) = self.dashboard.origins.iter().find(|o| !is_origin(o)) {
            return fail(format!(
                "dashboard.origins: `{origin}` is not an origin (http:// or https://, a host and maybe a port, no path)"
            ));
        }
        let preview = self.environment().pull_request().is_some();
        match self.platform.mode {
            PlatformMode::Own => {
                if self.platform.from.is_some() {
                    return fail("platform.from is only for `mode: shared`".to_owned());
                }
                let Some(network) = &self.network else {
                    return fail(
                        "an environment that owns its platform needs `network`".to_owned(),
                    );
                };
                let Some(database) = &self.database else {
                    return fail(
                        "an environment that owns its platform needs `database`".to_owned(),
                    );
                };
                if network.nat_gateways > 2 {
                    return fail("network.natGateways is 0, 1 or 2".to_owned());
                }
                if database.mode == DatabaseMode::Aurora {
                    let (Some(min), Some(max)) = (database.min_capacity, database.max_capacity)
                    else {
                        return fail(
                            "an Aurora database needs minCapacity and maxCapacity".to_owned(),
                        );
                    };
                    if !(0.5..=max).contains(&min) || max > 256.0 {
                        return fail(format!(
                            "database capacity {min}-{max} ACU is not a Serverless v2 range"
                        ));
                    }
                    if database.engine_version.is_none() || database.backup_retention_days.is_none()
                    {
                        return fail(
                            "an Aurora database needs engineVersion and backupRetentionDays"
                                .to_owned(),
                        );
                    }
                } else if database.proxy {
                    return fail("database.proxy needs `mode: aurora`".to_owned());
                }
                if !is_schema_name(&database.schema) {
                    return fail(format!(
                        "database.schema `{}` is not a plain identifier",
                        database.schema
                    ));
                }
            }
            PlatformMode::Shared => {
                if self
                    .platform
                    .from
                    .as_deref()
                    .is_none_or(|from| from.parse::<EnvironmentName>().is_err())
                {
                    return fail("`mode: shared` needs `from:` naming an environment".to_owned());
                }
                if self.network.is_some() || self.database.is_some() {
                    return fail(
                        "an environment that shares a platform has no `network` or `database` of its own"
                            .to_owned(),
                    );
                }
            }
        }
        let proxy = self.database.as_ref().is_some_and(|d| d.proxy);
        match self.connections.proxy_max_connections_percent {
            None if proxy => {
                return fail(
                    "an environment with database.proxy needs connections.proxyMaxConnectionsPercent"
                        .to_owned(),
                );
            }
            Some(_) if !proxy => {
                return fail(
                    "connections.proxyMaxConnectionsPercent is only for an environment with database.proxy"
                        .to_owned(),
                );
            }
            Some(percent) if !(1..=100).contains(&percent) => {
                return fail(format!(
                    "connections.proxyMaxConnectionsPercent {percent} is not from 1 to 100"
                ));
            }
            _ => {}
        }
        if self.connections.margin == 0 {
            return fail(
                "connections.margin must be at least 1: the database keeps slots of its own"
                    .to_owned(),
            );
        }
        if preview && self.platform.mode != PlatformMode::Shared {
            return fail("previews share the platform of another environment".to_owned());
        }
        if let Some(release) = &self.release {
            if preview && release.canary_percent > 0 {
                return fail(
                    "previews run `$LATEST` and release no versions: they take no canary"
                        .to_owned(),
                );
            }
            if release.canary_percent >= 100 {
                return fail(format!(
                    "release.canaryPercent {} is not below 100 (0 releases at once)",
                    release.canary_percent
                ));
            }
            if release.canary_percent > 0 && release.bake_minutes == 0 {
                return fail("a canary needs release.bakeMinutes above 0".to_owned());
            }
        }
        if preview && self.bootstrap.is_some() {
            return fail("previews have no bootstrap stack".to_owned());
        }
        if !self.notifications.slack_webhook_parameter.starts_with('/') {
            return fail("notifications.slackWebhookParameter must start with `/`".to_owned());
        }
        if self.import.map_max_bytes > self.import.max_file_bytes {
            return fail("import.mapMaxBytes is larger than import.maxFileBytes".to_owned());
        }
        if self.import.batch_size == 0 {
            return fail("import.batchSize must be at least 1".to_owned());
        }
        const RETENTION_DAYS: [u32; 22] = [
            1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
            2922, 3288, 3653,
        ];
        if !RETENTION_DAYS.contains(&self.logs.retention_days) {
            return fail(format!(
                "logs.retentionDays {} is not a value CloudWatch Logs accepts",
                self.logs.retention_days
            ));
        }
        Ok(())
    }

    /// The PostgreSQL schema of this environment: `pr_<N>` for previews.
    pub fn database_schema(&self) -> String {
        match (self.environment().pull_request(), &self.database) {
            (Some(number), _) => format!("pr_{number}"),
            (None, Some(database)) => database.schema.clone(),
            (None, None) => "public".to_owned(),
        }
    }
}

/// Whether `name` is a lower-case SQL identifier that needs no quoting.
fn is_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;

    // expect-test's `check` helpers take the expectation by value, as its documentation does.
    #[allow(clippy::needless_pass_by_value)]
    fn check(input: &str, expected: expect_test::Expect) {
        let actual = match input.parse::<EnvironmentName>() {
            Ok(name) => format!("{name:?} {name}"),
            Err(err) => err.to_string(),
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn names_parse_and_previews_take_only_plain_numbers() {
        check("staging", expect_test::expect!["Staging staging"]);
        check(
            "preview-pr-42",
            expect_test::expect!["Preview(42) preview-pr-42"],
        );
        check(
            "preview-pr-123456789",
            expect_test::expect!["Preview(123456789) preview-pr-123456789"],
        );
        check(
            "preview-pr-042",
            expect_test::expect![
                "`preview-pr-042` is not an environment: use `local`, `staging`, `production` or `preview-pr-<N>` (N: 1 to 9 digits, no leading zero)"
            ],
        );
        check(
            "preview-pr-4x",
            expect_test::expect![
                "`preview-pr-4x` is not an environment: use `local`, `staging`, `production` or `preview-pr-<N>` (N: 1 to 9 digits, no leading zero)"
            ],
        );
        check(
            "preview-pr-+1",
            expect_test::expect![
                "`preview-pr-+1` is not an environment: use `local`, `staging`, `production` or `preview-pr-<N>` (N: 1 to 9 digits, no leading zero)"
            ],
        );
        check(
            "preview-pr-",
            expect_test::expect![
                "`preview-pr-` is not an environment: use `local`, `staging`, `production` or `preview-pr-<N>` (N: 1 to 9 digits, no leading zero)"
            ],
        );
        check(
            "prod",
            expect_test::expect![
                "`prod` is not an environment: use `local`, `staging`, `production` or `preview-pr-<N>` (N: 1 to 9 digits, no leading zero)"
            ],
        );
    }
}
