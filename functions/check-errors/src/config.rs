//! The function's settings, read once from the environment at start.

use userlog_domain::rules::Tolerance;

/// Where e-mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    pub from: String,
    pub to: Vec<String>,
}

/// Everything `check-errors` reads from its environment, besides the AWS SDK's own variables
/// and the database's (`DATABASE_URL` or `DATABASE_SECRET_ARN`, see `userlog_aws::secrets`).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `ENVIRONMENT`: `local`, `staging`, `production` or `preview-pr-<N>`.
    pub environment: String,
    /// `ERROR_TABLE`: the `csv-processing-errors` table.
    pub error_table: String,
    /// `ALERT_TOPIC_ARN`: the topic for import notifications.
    pub alert_topic_arn: String,
    /// `CRITICAL_TOPIC_ARN`: the topic for "the check itself failed"; the alert topic when unset.
    pub critical_topic_arn: String,
    /// `SES_FROM` and `SES_TO` (comma-separated): both, or neither for no e-mail.
    pub email: Option<EmailSettings>,
    /// `SLACK_WEBHOOK_PARAMETER`: the SSM SecureString parameter with the webhook URL.
    pub slack_webhook_parameter: Option<String>,
    /// `ROW_ERROR_TOLERANCE_PERCENT` and `ROW_ERROR_TOLERANCE_COUNT` (default 5 and 50).
    pub tolerance: Tolerance,
    /// `DATABASE_SCHEMA`: the schema of a preview environment (`pr_<N>`); `public` when unset.
    pub database_schema: Option<String>,
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
        let alert_topic_arn = required("ALERT_TOPIC_ARN")?;
        let email = match (optional("SES_FROM"), optional("SES_TO")) {
            (Some(from), Some(to)) => {
                let to: Vec<String> = to
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect();
                if to.is_empty() {
                    return Err(ConfigError::Invalid {
                        name: "SES_TO",
                        reason: "no address".to_owned(),
                    });
                }
                Some(EmailSettings { from, to })
            }
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::Missing("SES_TO")),
            (None, Some(_)) => return Err(ConfigError::Missing("SES_FROM")),
        };
        let defaults = Tolerance::default();
        let tolerance = Tolerance {
            max_percent: parse_or(
                "ROW_ERROR_TOLERANCE_PERCENT",
                optional("ROW_ERROR_TOLERANCE_PERCENT"),
                defaults.max_percent,
            )?,
            max_count: parse_or(
                "ROW_ERROR_TOLERANCE_COUNT",
                optional("ROW_ERROR_TOLERANCE_COUNT"),
                defaults.max_count,
            )?,
        };
        if !(0.0..=100.0).contains(&tolerance.max_percent) {
            return Err(ConfigError::Invalid {
                name: "ROW_ERROR_TOLERANCE_PERCENT",
                reason: "must be from 0 to 100".to_owned(),
            });
        }
        let database_schema = optional("DATABASE_SCHEMA");
        if database_schema
            .as_deref()
            .is_some_and(|schema| !is_schema_name(schema))
        {
            return Err(ConfigError::Invalid {
                name: "DATABASE_SCHEMA",
                reason: "use lower-case letters, digits and `_`, starting with a letter or `_`"
                    .to_owned(),
            });
        }
        Ok(Config {
            environment: required("ENVIRONMENT")?,
            error_table: required("ERROR_TABLE")?,
            critical_topic_arn: optional("CRITICAL_TOPIC_ARN")
                .unwrap_or_else(|| alert_topic_arn.clone()),
            alert_topic_arn,
            email,
            slack_webhook_parameter: optional("SLACK_WEBHOOK_PARAMETER"),
            tolerance,
            database_schema,
        })
    }
}

fn parse_or<T: std::str::FromStr>(
    name: &'static str,
    value: Option<String>,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| ConfigError::Invalid {
            name,
            reason: format!("`{text}` is not a number"),
        }),
    }
}

/// A plain PostgreSQL identifier, which needs no quoting (`pr_42`, `public`).
fn is_schema_name(name: &str) -> bool {
    name.len() <= 63
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    const BASE: [(&str, &str); 3] = [
        ("ENVIRONMENT", "staging"),
        ("ERROR_TABLE", "staging-userlog-errors"),
        (
            "ALERT_TOPIC_ARN",
            "arn:aws:sns:ap-northeast-1:111111111111:staging-userlog-alerts",
        ),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter().chain(extra).copied().collect()
    }

    #[test]
    fn minimal_settings_take_defaults() {
        let config = config(&BASE).unwrap();
        assert_eq!(config.critical_topic_arn, config.alert_topic_arn);
        assert_eq!(
            (
                config.email,
                config.slack_webhook_parameter,
                config.database_schema
            ),
            (None, None, None)
        );
        assert_eq!(config.tolerance, Tolerance::default());
    }

    #[test]
    fn full_settings() {
        let config = config(&with(&[
            ("CRITICAL_TOPIC_ARN", "arn:critical"),
            ("SES_FROM", "noreply@example.com"),
            ("SES_TO", "a@example.com, b@example.com,"),
            (
                "SLACK_WEBHOOK_PARAMETER",
                "/staging/userlog/slack-webhook-url",
            ),
            ("ROW_ERROR_TOLERANCE_PERCENT", "2.5"),
            ("ROW_ERROR_TOLERANCE_COUNT", "10"),
            ("DATABASE_SCHEMA", "pr_42"),
        ]))
        .unwrap();
        assert_eq!(config.critical_topic_arn, "arn:critical");
        assert_eq!(
            config.email.unwrap().to,
            vec!["a@example.com", "b@example.com"]
        );
        assert_eq!(
            config.tolerance,
            Tolerance {
                max_percent: 2.5,
                max_count: 10
            }
        );
        assert_eq!(config.database_schema.as_deref(), Some("pr_42"));
    }

    #[test]
    fn bad_settings_name_the_variable() {
        assert_eq!(
            config(&BASE[..2]).unwrap_err().to_string(),
            "the environment variable ALERT_TOPIC_ARN is not set"
        );
        assert_eq!(
            config(&with(&[("SES_FROM", "x@example.com")])).unwrap_err(),
            ConfigError::Missing("SES_TO")
        );
        assert!(matches!(
            config(&with(&[("DATABASE_SCHEMA", "pr_1; DROP")])),
            Err(ConfigError::Invalid {
                name: "DATABASE_SCHEMA",
                ..
            })
        ));
        assert!(matches!(
            config(&with(&[("ROW_ERROR_TOLERANCE_COUNT", "many")])),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(matches!(
            config(&with(&[("ROW_ERROR_TOLERANCE_PERCENT", "150")])),
            Err(ConfigError::Invalid { .. })
        ));
    }
}
