//! Releasing functions: which functions changed since the version their alias `stable` points to,
//! the alias moves that follow, and the record a rollback reads.
//!
//! The alias `stable` is a CloudFormation resource whose `FunctionVersion` is the stack parameter
//! `<Id>Version`. The deploy keeps the two consistent by never moving an alias behind
//! CloudFormation's back: every stack update passes the versions the aliases point to, and a
//! release (or rollback) moves them with a parameters-only stack update.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The version that stands for "not published": the function's current code and configuration.
pub const LATEST: &str = "$LATEST";

/// The alias every caller invokes.
pub const STABLE_ALIAS: &str = "stable";

/// What a function version runs: its code and the configuration a version freezes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionSnapshot {
    /// `$LATEST` or a published version number.
    pub version: String,
    /// Lambda's `CodeSha256` (base64).
    pub code_sha256: String,
    /// A digest of the configuration a version freezes (see [`configuration_digest`]).
    pub configuration: String,
}

impl VersionSnapshot {
    /// Whether two versions run the same code with the same configuration.
    pub fn same_release(&self, other: &VersionSnapshot) -> bool {
        self.code_sha256 == other.code_sha256 && self.configuration == other.configuration
    }
}

/// The parts of a function's configuration that a published version freezes and that the
/// templates set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrozenConfiguration {
    /// The environment variables.
    pub environment: BTreeMap<String, String>,
    /// The memory in MB.
    pub memory_mb: Option<i32>,
    /// The timeout in seconds.
    pub timeout_seconds: Option<i32>,
    /// The runtime.
    pub runtime: Option<String>,
    /// The handler.
    pub handler: Option<String>,
}

/// A short digest of a frozen configuration, stable across calls (sorted keys).
pub fn configuration_digest(configuration: &FrozenConfiguration) -> String {
    let text = serde_json::to_string(configuration).unwrap_or_default();
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// A function with what `$LATEST` runs and what its alias `stable` points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionState {
    /// The function's key (`validate-csv`).
    pub key: String,
    /// Its name in AWS (`local-userlog-validate-csv`).
    pub function_name: String,
    /// The stack parameter that holds the alias's version (`ValidateCsvVersion`).
    pub version_parameter: String,
    /// What `$LATEST` runs.
    pub latest: VersionSnapshot,
    /// What `stable` points to; `None` when the alias does not exist.
    pub stable: Option<VersionSnapshot>,
}

/// What the release does with one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseAction {
    /// `stable` already runs what `$LATEST` runs.
    Keep {
        /// The version `stable` points to.
        version: String,
    },
    /// Publish `$LATEST` as a version and move `stable` to it.
    Publish {
        /// The version `stable` points to now (`$LATEST` before the first release).
        from: String,
    },
}

/// Decides, per function, whether to publish: when `stable` points to `$LATEST` (nothing
/// released yet), is missing, or runs other code or configuration than `$LATEST`.
pub fn plan(functions: &[FunctionState]) -> Vec<(String, ReleaseAction)> {
    functions
        .iter()
        .map(|function| {
            let action = match &function.stable {
                Some(stable)
                    if stable.version != LATEST && stable.same_release(&function.latest) =>
                {
                    ReleaseAction::Keep {
                        version: stable.version.clone(),
                    }
                }
                Some(stable) => ReleaseAction::Publish {
                    from: stable.version.clone(),
                },
                None => ReleaseAction::Publish {
                    from: LATEST.to_owned(),
                },
            };
            (function.key.clone(), action)
        })
        .collect()
}

/// One alias move: `stable` of a function from one version to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AliasMove {
    /// The function's key.
    pub function: String,
    /// Its name in AWS.
    pub function_name: String,
    /// The stack parameter of the alias's version.
    pub version_parameter: String,
    /// The version before.
    pub from: String,
    /// The version after.
    pub to: String,
}

/// What a deploy or rollback did to the aliases, kept in the artifact bucket for the next
/// rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRecord {
    /// The environment.
    pub environment: String,
    /// The deploy or rollback that wrote it.
    pub deploy_id: String,
    /// `deploy` or `rollback`.
    pub command: String,
    /// When.
    pub time: DateTime<Utc>,
    /// The alias moves it made (none when no function changed).
    pub moves: Vec<AliasMove>,
    /// The version `stable` of every function points to afterwards.
    pub versions: BTreeMap<String, String>,
}

/// The key of an environment's release record in the artifact bucket.
pub fn record_key(key_prefix: &str, environment: &str) -> String {
    format!("{key_prefix}releases/{environment}/last.json")
}

/// The moves that undo `record`: each function back to the version it had before. Refuses when
/// there is nothing to undo, when an alias no longer points where the record left it (something
/// else moved it), or when the version before was `$LATEST` (not a release).
pub fn rollback_moves(
    record: &ReleaseRecord,
    current: &BTreeMap<String, String>,
) -> Result<Vec<AliasMove>, String> {
    if record.moves.is_empty() {
        return Err(format!(
            "the last {} of {} ({}, {}) moved no alias: there is nothing to roll back",
            record.command,
            record.environment,
            record.deploy_id,
            record.time.to_rfc3339()
        ));
    }
    let mut moves = Vec::new();
    for moved in &record.moves {
        let now = current.get(&moved.function).map(String::as_str);
        if now != Some(moved.to.as_str()) {
            return Err(format!(
                "`stable` of {} points to {} but the last {} ({}) left it at {}: something else moved it since, \
                 so rolling back could undo a newer release; move it by deploying instead",
                moved.function,
                now.unwrap_or("nothing"),
                record.command,
                record.deploy_id,
                moved.to
            ));
        }
        if moved.from == LATEST {
            return Err(format!(
                "{} had no published version before the last {} ({}): there is no release to go back to",
                moved.function, record.command, record.deploy_id
            ));
        }
        moves.push(AliasMove {
            function: moved.function.clone(),
            function_name: moved.function_name.clone(),
            version_parameter: moved.version_parameter.clone(),
            from: moved.to.clone(),
            to: moved.from.clone(),
        });
    }
    Ok(moves)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use expect_test::expect;

    use super::*;

    fn snapshot(version: &str, code: &str, configuration: &str) -> VersionSnapshot {
        VersionSnapshot {
            version: version.to_owned(),
            code_sha256: code.to_owned(),
            configuration: configuration.to_owned(),
        }
    }

    fn function(
        key: &str,
        latest: VersionSnapshot,
        stable: Option<VersionSnapshot>,
    ) -> FunctionState {
        FunctionState {
            key: key.to_owned(),
            function_name: format!("local-userlog-{key}"),
            version_parameter: format!("{key}Version"),
            latest,
            stable,
        }
    }

    #[test]
    fn only_functions_whose_code_or_configuration_changed_are_published() {
        let functions = [
            // Nothing released yet: the alias points to $LATEST.
            function(
                "first",
                snapshot(LATEST, "a", "c"),
                Some(snapshot(LATEST, "a", "c")),
            ),
            // Same code and configuration as the released version.
            function(
                "same",
                snapshot(LATEST, "b", "c"),
                Some(snapshot("4", "b", "c")),
            ),
            // New code.
            function(
                "new-code",
                snapshot(LATEST, "b2", "c"),
                Some(snapshot("4", "b", "c")),
            ),
            // New environment variables.
            function(
                "new-config",
                snapshot(LATEST, "b", "c2"),
                Some(snapshot("7", "b", "c")),
            ),
            // No alias at all.
            function("no-alias", snapshot(LATEST, "d", "c"), None),
        ];
        expect![[r#"
            [
                (
                    "first",
                    Publish {
                        from: "$LATEST",
                    },
                ),
                (
                    "same",
                    Keep {
                        version: "4",
                    },
                ),
                (
                    "new-code",
                    Publish {
                        from: "4",
                    },
                ),
                (
                    "new-config",
                    Publish {
                        from: "7",
                    },
                ),
                (
                    "no-alias",
                    Publish {
                        from: "$LATEST",
                    },
                ),
            ]
        "#]]
        .assert_debug_eq(&plan(&functions));
    }

    #[test]
    fn configuration_digests_follow_the_configuration_only() {
        let mut configuration = FrozenConfiguration {
            environment: BTreeMap::from([("A".to_owned(), "1".to_owned())]),
            memory_mb: Some(256),
            timeout_seconds: Some(30),
            runtime: Some("provided.al2023".to_owned()),
            handler: Some("bootstrap".to_owned()),
        };
        let first = configuration_digest(&configuration);
        assert_eq!(first, configuration_digest(&configuration.clone()));
        assert_eq!(first.len(), 24);
        configuration
            .environment
            .insert("DATABASE_URL".to_owned(), "postgres://x".to_owned());
        assert_ne!(first, configuration_digest(&configuration));
    }

    fn record(moves: &[(&str, &str, &str)]) -> ReleaseRecord {
        ReleaseRecord {
            environment: "staging".to_owned(),
            deploy_id: "d-7".to_owned(),
            command: "deploy".to_owned(),
            time: Utc
                .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
                .single()
                .expect("a valid time"),
            moves: moves
                .iter()
                .map(|(function, from, to)| AliasMove {
                    function: (*function).to_owned(),
                    function_name: format!("staging-userlog-{function}"),
                    version_parameter: format!("{function}Version"),
                    from: (*from).to_owned(),
                    to: (*to).to_owned(),
                })
                .collect(),
            versions: BTreeMap::new(),
        }
    }

    fn current(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_rollback_moves_every_moved_alias_back() {
        let moves = rollback_moves(
            &record(&[("validate-csv", "3", "4"), ("check-errors", "1", "2")]),
            &current(&[("validate-csv", "4"), ("check-errors", "2"), ("other", "9")]),
        )
        .expect("a rollback");
        let text: Vec<String> = moves
            .iter()
            .map(|m| {
                format!(
                    "{} {} -> {} ({})",
                    m.function, m.from, m.to, m.version_parameter
                )
            })
            .collect();
        assert_eq!(
            text,
            [
                "validate-csv 4 -> 3 (validate-csvVersion)",
                "check-errors 2 -> 1 (check-errorsVersion)"
            ]
        );
    }

    #[test]
    fn a_rollback_refuses_what_it_cannot_undo_safely() {
        let refusal = |record: ReleaseRecord, now: &[(&str, &str)]| {
            rollback_moves(&record, &current(now)).expect_err("a refusal")
        };
        expect![[r#"
            the last deploy of staging (d-7, 2026-11-23T10:00:00+00:00) moved no alias: there is nothing to roll back
            `stable` of validate-csv points to 5 but the last deploy (d-7) left it at 4: something else moved it since, so rolling back could undo a newer release; move it by deploying instead
            validate-csv had no published version before the last deploy (d-7): there is no release to go back to
        "#]]
        .assert_eq(&format!(
            "{}\n{}\n{}\n",
            refusal(record(&[]), &[]),
            refusal(record(&[("validate-csv", "3", "4")]), &[("validate-csv", "5")]),
            refusal(record(&[("validate-csv", LATEST, "1")]), &[("validate-csv", "1")]),
        ));
    }
}
