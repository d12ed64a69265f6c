//! The function's settings, read once from the environment at start.

use std::time::Duration;

use crate::auth::AuthSettings;

/// Everything `stats-api` reads from its environment, besides the AWS SDK's own variables and the
/// database's (`DATABASE_URL`, or `DATABASE_SECRET_ARN` with `DATABASE_READER_HOST`, see
/// `userlog_lambda::database`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `AUDIT_TABLE`: the `ProcessingLogs` table (read through its `UserIdIndex`).
    pub audit_table: String,
    /// `ERROR_TABLE`: the `csv-processing-errors` table (read through `ERROR_TABLE_EXECUTION_INDEX`).
    pub error_table: String,
    /// `ERROR_TABLE_EXECUTION_INDEX`: the error table's index by execution.
    pub error_table_execution_index: String,
    /// `JWKS_URL`, `JWT_ISSUER` and `JWT_AUDIENCE` (comma-separated).
    pub auth: AuthSettings,
    /// `DATABASE_SCHEMA`: the schema of a preview environment (`pr_<N>`); `public` when unset.
    pub database_schema: Option<String>,
    /// `STATE_MACHINE_ARN`: the import state machine, whose executions the timelines read.
    pub state_machine_arn: String,
    /// `CORS_ALLOWED_ORIGINS` (comma-separated): the operator dashboard's origins; none when unset.
    pub cors_origins: Vec<String>,
}

/// A setting is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("the environment variable {0} is not set")]
    Missing(&'static str),
    #[error("the environment variable {name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a variable's value by name); empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let optional = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| optional(name).ok_or(ConfigError::Missing(name));
        let jwks_url = required("JWKS_URL")?;
        if !(jwks_url.starts_with("https://") || jwks_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "JWKS_URL",
                reason: "not an http(s) URL".to_owned(),
            });
        }
        let audiences: Vec<String> = required("JWT_AUDIENCE")?
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        if audiences.is_empty() {
            return Err(ConfigError::Invalid {
                name: "JWT_AUDIENCE",
                reason: "no audience".to_owned(),
            });
        }
        Ok(Config {
            audit_table: required("AUDIT_TABLE")?,
            error_table: required("ERROR_TABLE")?,
            error_table_execution_index: optional("ERROR_TABLE_EXECUTION_INDEX")
                .unwrap_or_else(|| userlog_aws::dynamodb::EXECUTION_NAME_INDEX.to_owned()),
            auth: AuthSettings {
                jwks_url,
                issuer: required("JWT_ISSUER")?,
                audiences,
                leeway: Duration::from_secs(30),
                refetch_interval: Duration::from_secs(30),
                max_key_age: Duration::from_secs(600),
            },
            database_schema: optional("DATABASE_SCHEMA"),
            state_machine_arn: required("STATE_MACHINE_ARN")?,
            cors_origins: optional("CORS_ALLOWED_ORIGINS")
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|o| !o.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(vars: &[(&str, &str)], expected: Result<(&str, Vec<&str>), ConfigError>) {
        let got = Config::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        });
        match (got, expected) {
            (Ok(config), Ok((issuer, audiences))) => {
                assert_eq!(config.auth.issuer, issuer);
                assert_eq!(config.auth.audiences, audiences);
            }
            (Err(err), Err(wanted)) => assert_eq!(err, wanted),
            (got, wanted) => panic!("got {got:?}, wanted {wanted:?}"),
        }
    }

    const BASE: [(&str, &str); 5] = [
        ("AUDIT_TABLE", "local-userlog-processing-logs"),
        ("ERROR_TABLE", "local-userlog-csv-processing-errors"),
        ("JWKS_URL", "http://127.0.0.1:8081/.well-known/jwks.json"),
        ("JWT_ISSUER", "http://127.0.0.1:8081/"),
        (
            "STATE_MACHINE_ARN",
            "arn:aws:states:ap-northeast-1:000000000000:stateMachine:local-userlog-import",
        ),
    ];

    #[test]
    fn reads_the_rendered_environment() {
        let mut vars = BASE.to_vec();
        vars.push(("JWT_AUDIENCE", "userlog-stats-api, other ,"));
        check(
            &vars,
            Ok(("http://127.0.0.1:8081/", vec!["userlog-stats-api", "other"])),
        );
        let mut vars = BASE.to_vec();
        vars.push(("JWT_AUDIENCE", " , "));
        check(
            &vars,
            Err(ConfigError::Invalid {
                name: "JWT_AUDIENCE",
                reason: "no audience".to_owned(),
            }),
        );
        check(&BASE, Err(ConfigError::Missing("JWT_AUDIENCE")));
        let mut vars = BASE.to_vec();
        vars[2] = ("JWKS_URL", "file:///etc/jwks.json");
        vars.push(("JWT_AUDIENCE", "a"));
        check(
            &vars,
            Err(ConfigError::Invalid {
                name: "JWKS_URL",
                reason: "not an http(s) URL".to_owned(),
            }),
        );
    }
}
