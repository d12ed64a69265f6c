//! Change sets, classified: which changes are destructive (they remove or replace a resource that
//! holds data), whether the deploy may go on, and how each change reads in the log.

use std::fmt::Write as _;

use serde::Serialize;
use userlog_infra::EnvironmentName;

/// Resource types that hold data or keys: removing or replacing one loses what it holds.
pub const STATEFUL_TYPES: &[&str] = &[
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::RDS::DBCluster",
    "AWS::RDS::DBInstance",
    "AWS::KMS::Key",
    "AWS::SecretsManager::Secret",
    "AWS::Logs::LogGroup",
    "AWS::SSM::Parameter",
];

/// What a change does to a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeAction {
    /// Creates it.
    Add,
    /// Updates it in place or replaces it (see [`Replacement`]).
    Modify,
    /// Deletes it.
    Remove,
    /// Imports an existing resource.
    Import,
    /// Decided only while the stack updates.
    Dynamic,
    /// Something this tool does not know.
    Other(String),
}

impl ChangeAction {
    /// Parses CloudFormation's `Action`.
    pub fn parse(text: &str) -> Self {
        match text {
            "Add" => ChangeAction::Add,
            "Modify" => ChangeAction::Modify,
            "Remove" => ChangeAction::Remove,
            "Import" => ChangeAction::Import,
            "Dynamic" => ChangeAction::Dynamic,
            other => ChangeAction::Other(other.to_owned()),
        }
    }

    fn mark(&self) -> char {
        match self {
            ChangeAction::Add => '+',
            ChangeAction::Modify => '~',
            ChangeAction::Remove => '-',
            ChangeAction::Import => '>',
            ChangeAction::Dynamic | ChangeAction::Other(_) => '?',
        }
    }
}

/// Whether a `Modify` replaces the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Replacement {
    /// A new resource replaces it.
    True,
    /// Updated in place.
    False,
    /// Replaced depending on values only known during the update.
    Conditional,
    /// Not a `Modify`.
    None,
}

impl Replacement {
    /// Parses CloudFormation's `Replacement`.
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("True") => Replacement::True,
            Some("False") => Replacement::False,
            Some("Conditional") => Replacement::Conditional,
            _ => Replacement::None,
        }
    }
}

/// One property change behind a resource change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeDetail {
    /// `Properties`, `Metadata`, `Tags`, ...
    pub attribute: String,
    /// The property's name, for a property change.
    pub name: Option<String>,
    /// `Never`, `Conditionally` or `Always`.
    pub requires_recreation: Option<String>,
    /// What caused it: `DirectModification`, `ParameterReference`, `ResourceReference`, ...
    pub change_source: Option<String>,
    /// The parameter or resource that caused it.
    pub causing_entity: Option<String>,
}

/// One resource change of a change set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceChange {
    /// What happens to it.
    pub action: ChangeAction,
    /// Its logical id in the template.
    pub logical_id: String,
    /// Its physical id, for an existing resource.
    pub physical_id: Option<String>,
    /// Its type.
    pub resource_type: String,
    /// Whether a `Modify` replaces it.
    pub replacement: Replacement,
    /// The property changes behind it.
    pub details: Vec<ChangeDetail>,
}

impl ResourceChange {
    /// Whether the resource holds data.
    pub fn is_stateful(&self) -> bool {
        STATEFUL_TYPES.contains(&self.resource_type.as_str())
    }

    /// Whether the change loses the data of a stateful resource: it removes it, or replaces it
    /// (certainly or possibly).
    pub fn is_destructive(&self) -> bool {
        if !self.is_stateful() {
            return false;
        }
        match self.action {
            ChangeAction::Remove => true,
            ChangeAction::Modify => {
                matches!(
                    self.replacement,
                    Replacement::True | Replacement::Conditional
                )
            }
            _ => false,
        }
    }

    /// One line: `~ ValidateCsvFunction (AWS::Lambda::Function): Code`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{} {} ({})",
            self.action.mark(),
            self.logical_id,
            self.resource_type
        );
        let properties = self.property_names();
        if !properties.is_empty() {
            let _ = write!(line, ": {}", properties.join(", "));
        }
        match self.replacement {
            Replacement::True => line.push_str(" [replaced]"),
            Replacement::Conditional => line.push_str(" [may be replaced]"),
            Replacement::False | Replacement::None => {}
        }
        if self.is_destructive() {
            line.push_str(" DESTRUCTIVE");
        }
        line
    }

    /// The changed properties, each once, in order.
    pub fn property_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for detail in &self.details {
            let name = detail
                .name
                .clone()
                .unwrap_or_else(|| detail.attribute.clone());
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// The detailed account of a destructive change, for the log.
    pub fn destructive_report(&self) -> String {
        let mut out = String::new();
        let what = match self.action {
            ChangeAction::Remove => "is REMOVED: CloudFormation deletes it",
            _ if self.replacement == Replacement::True => {
                "is REPLACED: CloudFormation creates a new one and deletes the old one"
            }
            _ => "MAY BE REPLACED: CloudFormation decides during the update",
        };
        let _ = writeln!(
            out,
            "DESTRUCTIVE: {} ({}) {what}; the data it holds is lost unless its DeletionPolicy or UpdateReplacePolicy retains it",
            self.logical_id, self.resource_type
        );
        if let Some(physical) = &self.physical_id {
            let _ = writeln!(out, "  physical id: {physical}");
        }
        for detail in &self.details {
            let mut line = format!(
                "  {} {}",
                detail.attribute,
                detail.name.as_deref().unwrap_or("")
            );
            if let Some(recreation) = &detail.requires_recreation {
                let _ = write!(line, ", requires recreation: {recreation}");
            }
            if let Some(source) = &detail.change_source {
                let _ = write!(line, ", because of {source}");
                if let Some(entity) = &detail.causing_entity {
                    let _ = write!(line, " {entity}");
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }
}

/// A change set's changes, sorted into what matters for the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// Every change, in CloudFormation's order.
    pub changes: Vec<ResourceChange>,
    /// The destructive ones.
    pub destructive: Vec<ResourceChange>,
}

impl Review {
    /// Sorts `changes`.
    pub fn of(changes: Vec<ResourceChange>) -> Self {
        let destructive = changes
            .iter()
            .filter(|c| c.is_destructive())
            .cloned()
            .collect();
        Review {
            changes,
            destructive,
        }
    }

    /// `3 to add, 2 to modify (1 replaced), 1 to remove`.
    pub fn counts(&self) -> String {
        let count =
            |action: ChangeAction| self.changes.iter().filter(|c| c.action == action).count();
        let replaced = self
            .changes
            .iter()
            .filter(|c| c.action == ChangeAction::Modify && c.replacement == Replacement::True)
            .count();
        let mut text = format!(
            "{} to add, {} to modify",
            count(ChangeAction::Add),
            count(ChangeAction::Modify)
        );
        if replaced > 0 {
            let _ = write!(text, " ({replaced} replaced)");
        }
        let _ = write!(text, ", {} to remove", count(ChangeAction::Remove));
        if !self.destructive.is_empty() {
            let _ = write!(text, ", {} destructive", self.destructive.len());
        }
        text
    }
}

/// What the deploy does with a change set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing destructive: execute.
    Execute,
    /// Destructive changes outside production: logged in detail, then executed (as the seed's
    /// flow does).
    ExecuteDestructive,
    /// Destructive changes in production, allowed with `--allow-destructive`: executed after
    /// confirmation.
    ExecuteDestructiveAllowed,
    /// Destructive changes in production without `--allow-destructive`: stop.
    Block,
}

/// Decides what happens to a change set in `environment`.
pub fn decide(environment: EnvironmentName, review: &Review, allow_destructive: bool) -> Decision {
    if review.destructive.is_empty() {
        return Decision::Execute;
    }
    match (environment, allow_destructive) {
        (EnvironmentName::Production, false) => Decision::Block,
        (EnvironmentName::Production, true) => Decision::ExecuteDestructiveAllowed,
        _ => Decision::ExecuteDestructive,
    }
}

/// Whether a failed change set failed only because it changes nothing (AWS's and the emulator's
/// wording).
pub fn is_empty_change_set(status_reason: &str) -> bool {
    status_reason.contains("didn't contain changes")
        || status_reason.contains("No updates are to be performed")
}

/// The changes that are not alias moves; a change set that only moves `stable` must have none.
///
/// Moving an alias also lists what refers to it (an integration, a permission, a route): CloudFormation
/// cannot tell before the update whether the alias's `Ref` changes, so it marks each referrer as a
/// `Dynamic` modification caused by the alias. Such a referrer is part of the move when it is
/// modified in place only because of references to alias moves (or to referrers of them, as the
/// reference cascades), and nothing else of it changes.
pub fn non_alias_changes(changes: &[ResourceChange]) -> Vec<String> {
    let mut moved: std::collections::BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.resource_type == "AWS::Lambda::Alias" && c.action == ChangeAction::Modify)
        .map(|c| c.logical_id.as_str())
        .collect();
    loop {
        let before = moved.len();
        for change in changes {
            if !moved.contains(change.logical_id.as_str()) && follows_only(change, &moved) {
                moved.insert(&change.logical_id);
            }
        }
        if moved.len() == before {
            break;
        }
    }
    changes
        .iter()
        .filter(|c| !moved.contains(c.logical_id.as_str()))
        .map(|c| format!("{} ({})", c.logical_id, c.resource_type))
        .collect()
}

/// Whether a change is an in-place modification whose every detail is a reference to one of
/// `causes` (`Ref` or `Fn::GetAtt`).
fn follows_only(change: &ResourceChange, causes: &std::collections::BTreeSet<&str>) -> bool {
    change.action == ChangeAction::Modify
        && change.replacement != Replacement::True
        && !change.details.is_empty()
        && change.details.iter().all(|d| {
            matches!(
                d.change_source.as_deref(),
                Some("ResourceReference" | "ResourceAttribute")
            ) && d
                .causing_entity
                .as_deref()
                .and_then(|e| e.split('.').next())
                .is_some_and(|e| causes.contains(e))
        })
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn change(action: &str, id: &str, kind: &str, replacement: Option<&str>) -> ResourceChange {
        ResourceChange {
            action: ChangeAction::parse(action),
            logical_id: id.to_owned(),
            physical_id: Some(format!("local-userlog-{}", id.to_lowercase())),
            resource_type: kind.to_owned(),
            replacement: Replacement::parse(replacement),
            details: vec![ChangeDetail {
                attribute: "Properties".to_owned(),
                name: Some("BucketName".to_owned()),
                requires_recreation: Some("Always".to_owned()),
                change_source: Some("DirectModification".to_owned()),
                causing_entity: None,
            }],
        }
    }

    /// The lines, the counts and the decision in each environment, with and without
    /// `--allow-destructive`.
    fn check(changes: Vec<ResourceChange>, expected: Expect) {
        let review = Review::of(changes);
        let mut text: String = review
            .changes
            .iter()
            .map(|c| format!("{}\n", c.line()))
            .collect();
        let _ = writeln!(text, "{}", review.counts());
        for environment in [
            EnvironmentName::Local,
            EnvironmentName::Staging,
            EnvironmentName::Production,
        ] {
            let _ = writeln!(
                text,
                "{environment}: {:?} / allowed: {:?}",
                decide(environment, &review, false),
                decide(environment, &review, true)
            );
        }
        expected.assert_eq(&text);
    }

    #[test]
    fn stateless_changes_and_additions_are_executed_everywhere() {
        check(
            vec![
                change("Add", "InputBucket", "AWS::S3::Bucket", None),
                change(
                    "Modify",
                    "ValidateCsvFunction",
                    "AWS::Lambda::Function",
                    Some("False"),
                ),
                change("Modify", "ImportRole", "AWS::IAM::Role", Some("True")),
                change("Remove", "OldTopic", "AWS::SNS::Topic", None),
                change(
                    "Modify",
                    "ErrorsTable",
                    "AWS::DynamoDB::Table",
                    Some("False"),
                ),
            ],
            expect![[r#"
                + InputBucket (AWS::S3::Bucket): BucketName
                ~ ValidateCsvFunction (AWS::Lambda::Function): BucketName
                ~ ImportRole (AWS::IAM::Role): BucketName [replaced]
                - OldTopic (AWS::SNS::Topic): BucketName
                ~ ErrorsTable (AWS::DynamoDB::Table): BucketName
                1 to add, 3 to modify (1 replaced), 1 to remove
                local: Execute / allowed: Execute
                staging: Execute / allowed: Execute
                production: Execute / allowed: Execute
            "#]],
        );
    }

    #[test]
    fn removing_or_replacing_stateful_resources_is_blocked_only_in_production() {
        check(
            vec![
                change("Remove", "ErrorsTable", "AWS::DynamoDB::Table", None),
                change("Modify", "InputBucket", "AWS::S3::Bucket", Some("True")),
                change("Modify", "StorageKey", "AWS::KMS::Key", Some("Conditional")),
                change(
                    "Modify",
                    "ValidateCsvLogGroup",
                    "AWS::Logs::LogGroup",
                    Some("True"),
                ),
                change("Remove", "SlackWebhook", "AWS::SSM::Parameter", None),
            ],
            expect![[r#"
                - ErrorsTable (AWS::DynamoDB::Table): BucketName DESTRUCTIVE
                ~ InputBucket (AWS::S3::Bucket): BucketName [replaced] DESTRUCTIVE
                ~ StorageKey (AWS::KMS::Key): BucketName [may be replaced] DESTRUCTIVE
                ~ ValidateCsvLogGroup (AWS::Logs::LogGroup): BucketName [replaced] DESTRUCTIVE
                - SlackWebhook (AWS::SSM::Parameter): BucketName DESTRUCTIVE
                0 to add, 3 to modify (2 replaced), 2 to remove, 5 destructive
                local: ExecuteDestructive / allowed: ExecuteDestructive
                staging: ExecuteDestructive / allowed: ExecuteDestructive
                production: Block / allowed: ExecuteDestructiveAllowed
            "#]],
        );
    }

    #[test]
    fn destructive_changes_are_reported_in_detail() {
        let mut replaced = change("Modify", "InputBucket", "AWS::S3::Bucket", Some("True"));
        replaced.details.push(ChangeDetail {
            attribute: "Properties".to_owned(),
            name: Some("BucketName".to_owned()),
            requires_recreation: Some("Always".to_owned()),
            change_source: Some("ParameterReference".to_owned()),
            causing_entity: Some("BucketSuffix".to_owned()),
        });
        let removed = change("Remove", "ErrorsTable", "AWS::DynamoDB::Table", None);
        expect![[r#"
            DESTRUCTIVE: InputBucket (AWS::S3::Bucket) is REPLACED: CloudFormation creates a new one and deletes the old one; the data it holds is lost unless its DeletionPolicy or UpdateReplacePolicy retains it
              physical id: local-userlog-inputbucket
              Properties BucketName, requires recreation: Always, because of DirectModification
              Properties BucketName, requires recreation: Always, because of ParameterReference BucketSuffix
            DESTRUCTIVE: ErrorsTable (AWS::DynamoDB::Table) is REMOVED: CloudFormation deletes it; the data it holds is lost unless its DeletionPolicy or UpdateReplacePolicy retains it
              physical id: local-userlog-errorstable
              Properties BucketName, requires recreation: Always, because of DirectModification
        "#]]
        .assert_eq(&format!(
            "{}{}",
            replaced.destructive_report(),
            removed.destructive_report()
        ));
    }

    #[test]
    fn empty_change_sets_are_recognised_by_their_reason() {
        assert!(is_empty_change_set(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(is_empty_change_set("No updates are to be performed."));
        assert!(!is_empty_change_set(
            "Template format error: Unrecognized resource types: [AWS::Budgets::Budget]"
        ));
    }

    #[test]
    fn an_alias_move_may_change_only_aliases() {
        let changes = vec![
            change(
                "Modify",
                "ValidateCsvAlias",
                "AWS::Lambda::Alias",
                Some("Conditional"),
            ),
            change(
                "Modify",
                "CheckErrorsAlias",
                "AWS::Lambda::Alias",
                Some("False"),
            ),
        ];
        assert!(non_alias_changes(&changes).is_empty());
        let mut more = changes;
        more.push(change(
            "Modify",
            "InputBucket",
            "AWS::S3::Bucket",
            Some("False"),
        ));
        more.push(change("Remove", "OldAlias", "AWS::Lambda::Alias", None));
        assert_eq!(
            non_alias_changes(&more),
            [
                "InputBucket (AWS::S3::Bucket)",
                "OldAlias (AWS::Lambda::Alias)"
            ]
        );
    }

    fn referrer(id: &str, kind: &str, sources: &[(&str, &str)]) -> ResourceChange {
        ResourceChange {
            details: sources
                .iter()
                .map(|(source, entity)| ChangeDetail {
                    attribute: "Properties".to_owned(),
                    name: Some("Target".to_owned()),
                    requires_recreation: Some("Never".to_owned()),
                    change_source: Some((*source).to_owned()),
                    causing_entity: Some((*entity).to_owned()),
                })
                .collect(),
            ..change("Modify", id, kind, Some("False"))
        }
    }

    #[test]
    fn what_refers_to_a_moved_alias_moves_with_it_and_nothing_else_does() {
        let alias = change(
            "Modify",
            "StatsApiAlias",
            "AWS::Lambda::Alias",
            Some("Conditional"),
        );
        let changes = vec![
            alias.clone(),
            referrer(
                "StatsApiIntegration",
                "AWS::ApiGatewayV2::Integration",
                &[("ResourceReference", "StatsApiAlias")],
            ),
            referrer(
                "StatsApiInvokePermission",
                "AWS::Lambda::Permission",
                &[("ResourceAttribute", "StatsApiAlias.Arn")],
            ),
            // A cascade: the route refers to the integration that refers to the alias.
            referrer(
                "StatsApiRoute",
                "AWS::ApiGatewayV2::Route",
                &[("ResourceReference", "StatsApiIntegration")],
            ),
        ];
        assert!(non_alias_changes(&changes).is_empty());

        let mut edited = referrer(
            "StatsApiStage",
            "AWS::ApiGatewayV2::Stage",
            &[("ResourceReference", "StatsApiAlias")],
        );
        edited.details.push(ChangeDetail {
            change_source: Some("DirectModification".to_owned()),
            causing_entity: None,
            ..edited.details[0].clone()
        });
        let replaced = ResourceChange {
            replacement: Replacement::True,
            ..referrer(
                "StatsApiMapping",
                "AWS::ApiGatewayV2::ApiMapping",
                &[("ResourceReference", "StatsApiAlias")],
            )
        };
        let elsewhere = referrer(
            "Dashboard",
            "AWS::CloudWatch::Dashboard",
            &[("ResourceReference", "InputBucket")],
        );
        let by_parameter = referrer(
            "Topic",
            "AWS::SNS::Topic",
            &[("ParameterReference", "StatsApiAlias")],
        );
        assert_eq!(
            non_alias_changes(&[alias, edited, replaced, elsewhere, by_parameter]),
            [
                "StatsApiStage (AWS::ApiGatewayV2::Stage)",
                "StatsApiMapping (AWS::ApiGatewayV2::ApiMapping)",
                "Dashboard (AWS::CloudWatch::Dashboard)",
                "Topic (AWS::SNS::Topic)"
            ]
        );
    }
}
