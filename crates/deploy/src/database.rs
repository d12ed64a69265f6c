//! The migration step run from the tooling (`--database-url`): which stack outputs name the
//! logins it sets up, reading them, and running `userlog_db::roles::migrate_database` with the
//! given URL as the administrative connection (for a preview, as the server only).

use std::collections::BTreeMap;

use userlog_db::migrate::SchemaName;
use userlog_db::roles::{EnvironmentLogins, Login, MigrationOutcome, MigrationPlan, RoleNames};

use crate::error::DeployError;
use crate::sdk::Aws;

/// The output of a stack that owns its database naming the previews role's secret (its export).
pub const PREVIEWS_SECRET_OUTPUT: &str = "SharedDatabasePreviewsSecretArn";

/// Which login each output of the stack names, for the migration of `schema`: a preview's own and
/// its previews role's, or an environment's writer, reader and (where it has one) previews role.
/// `true` marks an output that must be there.
pub fn login_outputs(schema: Option<&SchemaName>) -> Vec<(&'static str, bool)> {
    match schema.and_then(SchemaName::pull_request) {
        Some(_) => vec![
            ("DatabaseAdminSecretArn", true),
            ("DatabaseSecretArn", true),
        ],
        None => vec![
            ("DatabaseWriterSecretArn", true),
            ("DatabaseReaderSecretArn", true),
            (PREVIEWS_SECRET_OUTPUT, false),
        ],
    }
}

/// The plan of the migration of `schema`, from the logins read for [`login_outputs`].
pub fn plan(
    schema: Option<&SchemaName>,
    mut logins: BTreeMap<&'static str, Login>,
) -> Option<MigrationPlan> {
    match schema.and_then(SchemaName::pull_request) {
        Some(number) => Some(MigrationPlan::Preview {
            number,
            previews: logins.remove("DatabaseAdminSecretArn")?,
            own: logins.remove("DatabaseSecretArn")?,
        }),
        None => Some(MigrationPlan::Environment {
            logins: EnvironmentLogins {
                writer: logins.remove("DatabaseWriterSecretArn")?,
                reader: logins.remove("DatabaseReaderSecretArn")?,
                previews: logins.remove(PREVIEWS_SECRET_OUTPUT),
            },
        }),
    }
}

/// Reads the logins the stack's outputs name and runs the migration step at `url`.
pub async fn migrate(
    aws: &Aws,
    stack: &str,
    environment: &str,
    outputs: &BTreeMap<String, String>,
    url: &str,
    schema: Option<&SchemaName>,
) -> Result<MigrationOutcome, DeployError> {
    let mut logins = BTreeMap::new();
    for (output, required) in login_outputs(schema) {
        match outputs.get(output) {
            Some(arn) => {
                logins.insert(output, aws.login(arn).await?);
            }
            None if required => {
                return Err(DeployError::MissingOutput {
                    stack: stack.to_owned(),
                    output: output.to_owned(),
                    environment: environment.to_owned(),
                });
            }
            None => {}
        }
    }
    let plan = plan(schema, logins)
        .ok_or_else(|| DeployError::other("the logins of the migration step are incomplete"))?;
    let admin = userlog_db::migrate::connect_options(url, None).map_err(|source| {
        DeployError::MigrationStep {
            target: describe(schema),
            source: userlog_db::migrate::MigrateError::Connect(source).into(),
        }
    })?;
    userlog_db::roles::migrate_database(&admin, &RoleNames::deployed(), &plan)
        .await
        .map_err(|source| DeployError::MigrationStep {
            target: describe(schema),
            source,
        })
}

/// `schema pr_7`, or `the default schema`.
pub fn describe(schema: Option<&SchemaName>) -> String {
    schema
        .map(|s| format!("schema {s}"))
        .unwrap_or_else(|| "the default schema".to_owned())
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn login(name: &str) -> Login {
        Login {
            name: name.to_owned(),
            password: SecretString::from("x".repeat(20)),
        }
    }

    #[test]
    fn a_preview_acts_as_the_previews_role_and_itself_an_environment_sets_up_its_logins() {
        let preview = SchemaName::for_pull_request(7);
        assert_eq!(
            login_outputs(Some(&preview)),
            [
                ("DatabaseAdminSecretArn", true),
                ("DatabaseSecretArn", true)
            ]
        );
        let logins = BTreeMap::from([
            ("DatabaseAdminSecretArn", login("userlog_previews")),
            ("DatabaseSecretArn", login("userlog_pr_7")),
        ]);
        let Some(MigrationPlan::Preview {
            number,
            previews,
            own,
        }) = plan(Some(&preview), logins)
        else {
            panic!("a preview's plan");
        };
        assert_eq!(
            (number, previews.name.as_str(), own.name.as_str()),
            (7, "userlog_previews", "userlog_pr_7")
        );

        let logins = BTreeMap::from([
            ("DatabaseWriterSecretArn", login("userlog_writer")),
            ("DatabaseReaderSecretArn", login("userlog_reader")),
        ]);
        let Some(MigrationPlan::Environment { logins }) = plan(None, logins) else {
            panic!("an environment's plan");
        };
        assert!(logins.previews.is_none());
        assert!(plan(None, BTreeMap::new()).is_none());
    }
}
