//! Validation: the real renderings pass, and each mutation of a rendering is caught with a message
//! that names what is wrong.

mod common;

use expect_test::{Expect, expect};
use serde_yaml::Value;
use userlog_infra::validate::{validate, validate_code};
use userlog_infra::{EnvironmentName, Rendered};

/// Renders staging, changes it, and compares the findings with `expected`.
// expect-test's `check` helpers take the expectation by value, as its documentation does.
#[allow(clippy::needless_pass_by_value)]
fn check(mutate: impl FnOnce(&mut Rendered), expected: Expect) {
    let mut rendered = common::rendered(EnvironmentName::Staging);
    mutate(&mut rendered);
    let actual: String = validate(&rendered)
        .iter()
        .map(|finding| format!("{finding}\n"))
        .collect();
    expected.assert_eq(&actual);
}

fn definition(rendered: &mut Rendered) -> &mut Value {
    rendered
        .state_machine_mut()
        .expect("the template has the state machine")
}

fn resource<'a>(rendered: &'a mut Rendered, path: &[&str]) -> &'a mut Value {
    let mut full = vec!["Resources"];
    full.extend_from_slice(path);
    common::at(&mut rendered.template, &full)
}

#[test]
fn every_checked_environment_passes() {
    for environment in EnvironmentName::CHECKED {
        let findings = validate(&common::rendered(environment));
        assert!(findings.is_empty(), "{environment}: {findings:#?}");
    }
}

#[test]
fn a_next_that_names_no_state() {
    check(
        |r| *common::at(definition(r), &["States", "ValidateFile", "Next"]) = "RouteFiel".into(),
        expect![[r#"
            error[asl] staging AlreadyImported: is unreachable from StartAt
            error[asl] staging ApplyRows: is unreachable from StartAt
            error[asl] staging BulkImport: is unreachable from StartAt
            error[asl] staging RouteFile: is unreachable from StartAt
            error[asl] staging ValidateFile: goes to `RouteFiel`, which is not a state here
        "#]],
    );
}

#[test]
fn a_state_nothing_leads_to() {
    check(
        |r| {
            let states = common::at(definition(r), &["States"])
                .as_mapping_mut()
                .unwrap();
            states.insert("Orphan".into(), common::yaml("{Type: Succeed}"));
        },
        expect![[r#"
            error[asl] staging Orphan: is unreachable from StartAt
        "#]],
    );
}

#[test]
fn a_catch_of_an_error_nothing_raises() {
    check(
        |r| {
            *common::at(
                definition(r),
                &["States", "ApplyRows", "Catch", "0", "ErrorEquals"],
            ) = common::yaml("[MadeUpError]")
        },
        expect![[r#"
            error[asl] staging ApplyRows: Catch names `MadeUpError`, which is not a Step Functions error, a Lambda error or an error a function declares
        "#]],
    );
}

#[test]
fn a_catch_of_runtime_errors_which_nothing_catches() {
    check(
        |r| {
            *common::at(
                definition(r),
                &["States", "BulkImport", "Catch", "0", "ErrorEquals"],
            ) = common::yaml("[States.Runtime, AmazonECS.Unknown]")
        },
        expect![[r#"
            error[asl] staging BulkImport: Catch names `States.Runtime`, which Step Functions never retries or catches: it fails the execution
        "#]],
    );
}

#[test]
fn a_path_that_is_not_jsonpath() {
    check(
        |r| {
            *common::at(
                definition(r),
                &["States", "RouteFile", "Choices", "0", "Variable"],
            ) = "$validation.duplicate".into()
        },
        expect![[r#"
            error[asl] staging RouteFile: Variable: `$validation.duplicate`: expected `.` or `[` but found `v`
        "#]],
    );
    check(
        |r| {
            *common::at(
                definition(r),
                &[
                    "States",
                    "ApplyRows",
                    "ItemProcessor",
                    "States",
                    "RecordBatchFailure",
                    "Parameters",
                    "Item",
                    "ttl",
                    "N.$",
                ],
            ) = "States.Format('{}', $.ttlTimestamp".into();
        },
        expect![[r#"
            error[asl] staging ApplyRows/RecordBatchFailure: Parameters.Item.ttl.N.$: `States.Format('{}', $.ttlTimestamp`: expected `,` or `)` between arguments
        "#]],
    );
}

#[test]
fn a_pass_state_that_makes_a_failure_look_successful() {
    check(
        |r| {
            let states = common::at(definition(r), &["States"])
                .as_mapping_mut()
                .unwrap();
            states.insert(
                "ProcessingFailed".into(),
                common::yaml("{Type: Pass, Result: {status: PROCESSING_FAILED}, End: true}"),
            );
            *common::at(
                definition(r),
                &["States", "ApplyRows", "Catch", "0", "Next"],
            ) = "ProcessingFailed".into();
        },
        expect![[r#"
            error[asl] staging ProcessingFailed: a Catch leads to this Pass state, and from it the execution can succeed without passing a Task or a Fail state: end failures in a Fail state
            error[asl] staging ProcessingFailed: a Pass state named like a failure makes a failed execution look successful: use a Fail state
        "#]],
    );
}

#[test]
fn a_role_without_a_permission_its_principal_needs() {
    check(
        |r| {
            let statements = resource(
                r,
                &[
                    "ImportStateMachineRole",
                    "Properties",
                    "Policies",
                    "0",
                    "PolicyDocument",
                    "Statement",
                ],
            );
            let statements = statements.as_sequence_mut().unwrap();
            statements.retain(|statement| statement["Sid"].as_str() != Some("RecordBatchFailures"));
        },
        expect![[r#"
            error[iam] staging ImportStateMachineRole: lacks dynamodb:PutItem on arn:aws:dynamodb:ap-northeast-1:111111111111:table/staging-userlog-csv-processing-errors (needed by state ApplyRows/RecordBatchFailure)
        "#]],
    );
}

#[test]
fn a_role_with_a_permission_nothing_needs() {
    check(
        |r| {
            let actions = resource(
                r,
                &[
                    "ValidateCsvRole",
                    "Properties",
                    "Policies",
                    "0",
                    "PolicyDocument",
                    "Statement",
                    "0",
                    "Action",
                ],
            );
            actions
                .as_sequence_mut()
                .unwrap()
                .push("dynamodb:DeleteItem".into());
        },
        expect![[r#"
            error[iam] staging ValidateCsvRole: allows dynamodb:DeleteItem on {"Ref":"DatabaseWriterSecret"} (statement DatabaseWriterSecret), which function validate-csv does not need
        "#]],
    );
}

#[test]
fn a_wildcard_action() {
    check(
        |r| {
            *resource(
                r,
                &[
                    "ImportTriggerRole",
                    "Properties",
                    "Policies",
                    "0",
                    "PolicyDocument",
                    "Statement",
                    "0",
                    "Action",
                ],
            ) = common::yaml("[states:*]");
        },
        expect![[r#"
            error[iam] staging ImportTriggerRole: allows states:* on arn:aws:states:ap-northeast-1:111111111111:stateMachine:staging-userlog-import (statement StartImport), which rule ImportTriggerRule does not need
            error[iam] staging ImportTriggerRole: lacks states:StartExecution on arn:aws:states:ap-northeast-1:111111111111:stateMachine:staging-userlog-import (needed by the target of rule ImportTriggerRule)
            error[iam] staging ImportTriggerRole: statement StartImport allows the wildcard action `states:*`
        "#]],
    );
}

#[test]
fn a_rule_whose_pattern_no_upload_matches() {
    check(
        |r| {
            *resource(
                r,
                &["ImportTriggerRule", "Properties", "EventPattern", "source"],
            ) = common::yaml("[aws.s3x]")
        },
        expect![[r#"
            error[events] staging ImportTriggerRule: EventPattern does not match an S3 Object Created event for `incoming/users.csv` in `staging-userlog-input-111111111111`
        "#]],
    );
    check(
        |r| {
            *resource(
                r,
                &[
                    "ImportTriggerRule",
                    "Properties",
                    "EventPattern",
                    "detail",
                    "object",
                    "key",
                ],
            ) = common::yaml("[{sufix: .csv}]")
        },
        expect![[r#"
            error[events] staging ImportTriggerRule: EventPattern `detail.object.key`: {"sufix":".csv"} is not a pattern operator (prefix, suffix, anything-but, numeric, exists, equals-ignore-case, wildcard, cidr)
            error[events] staging ImportTriggerRule: EventPattern does not match an S3 Object Created event for `incoming/users.csv` in `staging-userlog-input-111111111111`
        "#]],
    );
}

#[test]
fn an_input_transformer_that_misses_a_field() {
    check(
        |r| {
            *resource(
                r,
                &[
                    "ImportTriggerRule",
                    "Properties",
                    "Targets",
                    "0",
                    "InputTransformer",
                    "InputTemplate",
                ],
            ) = r#"{"bucket": <bucket>, "key": <key>, "etag": <etag>, "size": "<size>"}"#.into();
        },
        expect![[r#"
            error[events] staging ImportTriggerRule: the InputTransformer does not set `eventTime`, which the state machine reads
            error[events] staging ImportTriggerRule: the InputTransformer makes `size` a string, not a number ("1024")
        "#]],
    );
}

#[test]
fn alarms_without_actions_or_with_a_missing_topic() {
    check(
        |r| {
            resource(r, &["ExecutionTimeAlarm", "Properties"])
                .as_mapping_mut()
                .unwrap()
                .remove("AlarmActions");
            *resource(r, &["CriticalErrorAlarm", "Properties", "AlarmActions"]) =
                common::yaml("[{Ref: PagerTopic}]");
        },
        expect![[r#"
            error[alarms] staging CriticalErrorAlarm: AlarmActions {"Ref":"PagerTopic"} is not a topic of this stack
            error[alarms] staging ExecutionTimeAlarm: has no AlarmActions: nobody would hear of it
        "#]],
    );
}

#[test]
fn an_alarm_on_a_metric_nothing_publishes() {
    check(
        |r| {
            *resource(
                r,
                &["ProcessingErrorCountAlarm", "Properties", "MetricName"],
            ) = "ErrorCounts".into()
        },
        expect![[r#"
            error[alarms] staging ProcessingErrorCountAlarm: watches CSV/Processing ErrorCounts, which neither AWS nor a function of functions.yaml publishes
        "#]],
    );
}

#[test]
fn a_stateful_resource_that_the_stack_would_delete() {
    check(
        |r| {
            let table = resource(r, &["ErrorsTable"]).as_mapping_mut().unwrap();
            table.insert("DeletionPolicy".into(), "Delete".into());
        },
        expect![[r#"
            error[template] staging ErrorsTable: is stateful and would be lost with the stack: DeletionPolicy and UpdateReplacePolicy must be Retain or Snapshot
        "#]],
    );
}

#[test]
fn code_that_calls_what_its_role_does_not_allow() {
    let rendered = common::rendered(EnvironmentName::Staging);
    let fixtures = common::repo_root().join("crates/infra/tests/fixtures/code");
    let files: Vec<(String, String)> = [
        "functions/validate-csv/src/main.rs",
        "crates/aws/src/lib.rs",
    ]
    .iter()
    .map(|path| {
        (
            (*path).to_owned(),
            std::fs::read_to_string(fixtures.join(path)).unwrap(),
        )
    })
    .collect();
    let actual: String = validate_code(&files, &rendered)
        .iter()
        .map(|finding| format!("{finding}\n"))
        .collect();
    expect![[r#"
        error[code] code functions/validate-csv/src/main.rs:8: calls `.publish()` (sns:Publish), which validate-csv does not declare in functions.yaml, so its role does not allow it
        error[code] code crates/aws/src/lib.rs:8: calls `.delete_item()` (dynamodb:DeleteItem), which no function declares in functions.yaml
    "#]]
    .assert_eq(&actual);
    assert!(
        validate_code(&[], &rendered).is_empty(),
        "no code yet means nothing to object to"
    );
}

#[test]
fn a_reference_to_a_conditional_resource_without_its_condition() {
    // No function is planned today; a resource made conditional stands in for one.
    check(
        |r| {
            resource(r, &["ExportScheduleRole"])
                .as_mapping_mut()
                .unwrap()
                .insert("Condition".into(), "ExportStatsCanary".into());
        },
        expect![[r#"
            error[template] staging ExportSchedule: refers to `ExportScheduleRole`, which exists only under the condition `ExportStatsCanary`: give it `Condition: ExportStatsCanary` or put the reference in `Fn::If: [ExportStatsCanary, ...]`
        "#]],
    );
}

#[test]
fn a_connection_budget_that_does_not_fit() {
    check(
        |r| {
            *resource(
                r,
                &[
                    "ProcessUserLogFunction",
                    "Properties",
                    "ReservedConcurrentExecutions",
                ],
            ) = 120.into();
        },
        expect![[r#"
            error[budget] staging connections: the connection budget does not fit: check-errors 5 + export-stats 1 + import-csv 4 + process-user-log 120 + stats-api 10 + validate-csv 5 + tooling 10 + previews 40 + margin 15 = 210 of 151; lower a function's concurrency (connections.concurrency) or raise the limit (a larger database, or a proxy)
        "#]],
    );
}

#[test]
fn a_database_function_without_reserved_concurrency_or_a_share() {
    check(
        |r| {
            common::at(
                &mut r.template,
                &["Resources", "ValidateCsvFunction", "Properties"],
            )
            .as_mapping_mut()
            .unwrap()
            .remove("ReservedConcurrentExecutions");
            r.connections.concurrency.remove("import-csv");
            r.connections.concurrency.insert("made-up".to_owned(), 1);
        },
        expect![[r#"
            error[budget] staging ValidateCsvFunction: validate-csv touches the database but has no ReservedConcurrentExecutions: its instances, each with a connection, are bounded only by the account; give it an entry in connections.concurrency
            error[budget] staging connections: connections.concurrency names `made-up`, which is not a function or task of functions.yaml that touches the database
            error[budget] staging connections: the task import-csv touches the database but connections.concurrency has no entry for it
        "#]],
    );
}

/// The value at `path` under `Resources` of staging's bootstrap template.
fn bootstrap_resource<'a>(rendered: &'a mut Rendered, path: &[&str]) -> &'a mut Value {
    let mut full = vec!["Resources"];
    full.extend_from_slice(path);
    common::at(
        rendered
            .bootstrap
            .as_mut()
            .expect("staging has a bootstrap"),
        &full,
    )
}

/// The trust condition of staging's GitHub deploy role.
fn deploy_trust(rendered: &mut Rendered) -> &mut Value {
    bootstrap_resource(
        rendered,
        &[
            "GitHubDeployRole",
            "Properties",
            "AssumeRolePolicyDocument",
            "Statement",
            "0",
            "Condition",
        ],
    )
}

const SUB: &str = "token.actions.githubusercontent.com:sub";

#[test]
fn a_deploy_role_that_trusts_any_subject_of_the_repository() {
    check(
        |r| deploy_trust(r)["StringEquals"][SUB] = "repo:userlog/userlog:*".into(),
        expect![[r#"
            error[iam] staging bootstrap GitHubDeployRole: trusts the subject `repo:userlog/userlog:*`, which is not exactly a ref, environment or pull request of userlog/userlog
        "#]],
    );
}

#[test]
fn a_deploy_role_that_trusts_another_repository() {
    check(
        |r| {
            deploy_trust(r)["StringEquals"][SUB] =
                "repo:someone-else/userlog:environment:staging".into();
        },
        expect![[r#"
            error[iam] staging bootstrap GitHubDeployRole: trusts the subject `repo:someone-else/userlog:environment:staging`, which is not exactly a ref, environment or pull request of userlog/userlog
        "#]],
    );
}

#[test]
fn a_deploy_role_without_a_subject() {
    check(
        |r| {
            deploy_trust(r)["StringEquals"]
                .as_mapping_mut()
                .unwrap()
                .remove(SUB);
        },
        expect![[r#"
            error[iam] staging bootstrap GitHubDeployRole: trusts every GitHub repository: require token.actions.githubusercontent.com:sub
        "#]],
    );
}

#[test]
fn a_deploy_role_matched_with_string_like() {
    check(
        |r| {
            let condition = deploy_trust(r);
            let equals = condition["StringEquals"].clone();
            condition.as_mapping_mut().unwrap().remove("StringEquals");
            condition["StringLike"] = equals;
        },
        expect![[r#"
            error[iam] staging bootstrap GitHubDeployRole: trusts GitHub with StringLike: name the subjects exactly (StringEquals)
            error[iam] staging bootstrap GitHubDeployRole: trusts GitHub without requiring the audience sts.amazonaws.com
            error[iam] staging bootstrap GitHubDeployRole: trusts every GitHub repository: require token.actions.githubusercontent.com:sub
        "#]],
    );
}

#[test]
fn a_deploy_role_for_any_audience() {
    check(
        |r| {
            deploy_trust(r)["StringEquals"]
                .as_mapping_mut()
                .unwrap()
                .remove("token.actions.githubusercontent.com:aud");
        },
        expect![[r#"
            error[iam] staging bootstrap GitHubDeployRole: trusts GitHub without requiring the audience sts.amazonaws.com
        "#]],
    );
}

#[test]
fn a_deploy_role_that_trusts_a_branch_next_to_its_environment() {
    check(
        |r| {
            deploy_trust(r)["StringEquals"][SUB] = common::yaml(
                "[repo:userlog/userlog:environment:staging, repo:userlog/userlog:ref:refs/heads/main]",
            );
        },
        expect![[r#"
            error[iam] staging bootstrap GitHubDeployRole: trusts a branch as well as an environment: a job on the branch would skip the environment's protection rules
        "#]],
    );
}

/// The path from a role to its first inline policy's statements (the role's id goes first).
const POLICY_STATEMENTS: [&str; 6] = [
    "",
    "Properties",
    "Policies",
    "0",
    "PolicyDocument",
    "Statement",
];

/// The statement `sid` of the bootstrap role `role` in staging.
fn bootstrap_statement<'a>(rendered: &'a mut Rendered, role: &str, sid: &str) -> &'a mut Value {
    policy_statement(
        bootstrap_resource(
            rendered,
            &POLICY_STATEMENTS.map(|p| if p.is_empty() { role } else { p }),
        ),
        sid,
    )
}

/// The statement `sid` of a list of statements.
fn policy_statement<'a>(statements: &'a mut Value, sid: &str) -> &'a mut Value {
    statements
        .as_sequence_mut()
        .expect("a list of statements")
        .iter_mut()
        .find(|statement| statement["Sid"].as_str() == Some(sid))
        .unwrap_or_else(|| panic!("no statement {sid}"))
}

/// The statements of the bootstrap's permissions boundary `policy` in staging.
fn boundary_statements<'a>(rendered: &'a mut Rendered, policy: &str) -> &'a mut Vec<Value> {
    bootstrap_resource(
        rendered,
        &[policy, "Properties", "PolicyDocument", "Statement"],
    )
    .as_sequence_mut()
    .expect("a list of statements")
}

#[test]
fn a_stack_role_without_the_boundary_or_outside_the_path() {
    check(
        |r| {
            let properties = resource(r, &["ValidateCsvRole", "Properties"])
                .as_mapping_mut()
                .unwrap();
            properties.remove("PermissionsBoundary");
            properties.insert("Path".into(), "/".into());
        },
        expect![[r#"
            error[iam] staging ValidateCsvRole: has no permissions boundary `arn:aws:iam::111111111111:policy/staging-userlog-stack-boundary`: give it `PermissionsBoundary: ${arns.roleBoundary}` (the CloudFormation role creates no role without it)
            error[iam] staging ValidateCsvRole: is not under the stack's role path `/userlog-stack/`: give it `Path: ${names.rolePath}` (the CloudFormation role manages roles under it only)
        "#]],
    );
}

#[test]
fn a_role_manager_that_creates_roles_without_the_boundary() {
    check(
        |r| {
            let statement = bootstrap_statement(
                r,
                "PreviewCloudFormationRole",
                "CreateAndChangePreviewRolesWithinTheBoundary",
            );
            statement.as_mapping_mut().unwrap().remove("Condition");
            statement["Resource"] = "arn:aws:iam::111111111111:role/preview-pr-*".into();
        },
        expect![[r#"
            error[iam] staging bootstrap PreviewCloudFormationRole: statement CreateAndChangePreviewRolesWithinTheBoundary allows iam:CreateRole, iam:PutRolePermissionsBoundary, iam:PutRolePolicy without requiring the bootstrap's `*-preview-boundary` permissions boundary (Condition StringEquals iam:PermissionsBoundary)
            error[iam] staging bootstrap PreviewCloudFormationRole: statement CreateAndChangePreviewRolesWithinTheBoundary lets roles be created or changed at `arn:aws:iam::111111111111:role/preview-pr-*`, outside the stacks' role path `/userlog-stack/`
        "#]],
    );
}

#[test]
fn a_role_manager_that_may_lift_a_boundary() {
    check(
        |r| {
            let statement = bootstrap_statement(r, "CloudFormationRole", "ManageStackRoles");
            statement["Action"]
                .as_sequence_mut()
                .unwrap()
                .push("iam:DeleteRolePermissionsBoundary".into());
        },
        expect![[r#"
            error[iam] staging bootstrap CloudFormationRole: statement ManageStackRoles allows iam:DeleteRolePermissionsBoundary, which would lift or rewrite a permissions boundary
        "#]],
    );
}

#[test]
fn a_preview_statement_on_any_resource_for_resource_policies_and_keys() {
    check(
        |r| {
            let statement =
                bootstrap_statement(r, "PreviewCloudFormationRole", "ManagePreviewResources");
            let actions = statement["Action"].as_sequence_mut().unwrap();
            actions.push("s3:PutBucketPolicy".into());
            actions.push("kms:PutKeyPolicy".into());
        },
        expect![[r#"
            error[iam] staging bootstrap PreviewCloudFormationRole: statement ManagePreviewResources allows kms:PutKeyPolicy on `*`: preview stacks make no keys, and a pull request could administer the platform's
            error[iam] staging bootstrap PreviewCloudFormationRole: statement ManagePreviewResources allows s3:PutBucketPolicy on `*`: a template could open another environment's resources; name the environment's own ARNs
        "#]],
    );
}

#[test]
fn service_linked_roles_for_any_service() {
    check(
        |r| {
            bootstrap_statement(r, "CloudFormationRole", "ServiceLinkedRoles")
                .as_mapping_mut()
                .unwrap()
                .remove("Condition");
        },
        expect![[r#"
            error[iam] staging bootstrap CloudFormationRole: statement ServiceLinkedRoles allows iam:CreateServiceLinkedRole for any service: name them (Condition StringEquals iam:AWSServiceName)
        "#]],
    );
}

#[test]
fn preview_roles_made_with_the_platform_stacks_boundary() {
    check(
        |r| {
            bootstrap_statement(
                r,
                "PreviewCloudFormationRole",
                "CreateAndChangePreviewRolesWithinTheBoundary",
            )["Condition"]["StringEquals"]["iam:PermissionsBoundary"] =
                "arn:aws:iam::111111111111:policy/staging-userlog-stack-boundary".into();
        },
        expect![[r#"
            error[iam] staging bootstrap PreviewCloudFormationRole: statement CreateAndChangePreviewRolesWithinTheBoundary allows iam:CreateRole, iam:PutRolePermissionsBoundary, iam:PutRolePolicy without requiring the bootstrap's `*-preview-boundary` permissions boundary (Condition StringEquals iam:PermissionsBoundary)
        "#]],
    );
}

#[test]
fn a_boundary_that_lets_a_role_give_itself_more() {
    check(
        |r| {
            boundary_statements(r, "PreviewRoleBoundary")
                .retain(|s| s["Sid"].as_str() != Some("NoIdentityOrAccountAdministration"));
        },
        expect![[r#"
            error[iam] staging bootstrap PreviewRoleBoundary: is a permissions boundary that does not deny iam:AttachRolePolicy, iam:CreateRole, iam:PutRolePermissionsBoundary, iam:PutRolePolicy, iam:CreatePolicyVersion, iam:DeletePolicy, iam:DeleteRolePermissionsBoundary, iam:SetDefaultPolicyVersion, sts:AssumeRole on `*`: a bounded role could give itself more
        "#]],
    );
}

#[test]
fn a_role_that_needs_more_than_its_boundary_allows() {
    check(
        |r| {
            boundary_statements(r, "StackRoleBoundary")[0]["Action"]
                .as_sequence_mut()
                .unwrap()
                .retain(|action| action.as_str() != Some("lambda:InvokeFunction"));
        },
        expect![[r#"
            error[iam] staging ExportScheduleRole: allows lambda:InvokeFunction, which its permissions boundary `arn:aws:iam::111111111111:policy/staging-userlog-stack-boundary` does not: add the action to the bootstrap's boundary (`ThePipelinesServices`) or drop it
            error[iam] staging ImportStateMachineRole: allows lambda:InvokeFunction, which its permissions boundary `arn:aws:iam::111111111111:policy/staging-userlog-stack-boundary` does not: add the action to the bootstrap's boundary (`ThePipelinesServices`) or drop it
        "#]],
    );
}

#[test]
fn a_deploy_role_that_sets_any_stack_policy() {
    check(
        |r| {
            bootstrap_statement(r, "GitHubDeployRole", "SetTheApprovedStackPolicy")
                .as_mapping_mut()
                .unwrap()
                .remove("Condition");
        },
        expect![[r#"
            error[iam] staging bootstrap GitHubDeployRole: statement SetTheApprovedStackPolicy allows cloudformation:SetStackPolicy from any source: require the approved copy (Condition cloudformation:StackPolicyUrl), or the stack policy restrains nobody who deploys
        "#]],
    );
}

#[test]
fn a_function_on_the_master_secret() {
    check(
        |r| {
            let statement = policy_statement(
                resource(
                    r,
                    &POLICY_STATEMENTS.map(|p| if p.is_empty() { "StatsApiRole" } else { p }),
                ),
                "DatabaseReaderSecret",
            );
            statement["Resource"] =
                common::yaml("{Fn::GetAtt: [DatabaseCluster, MasterUserSecret.SecretArn]}");
        },
        expect![[r#"
            error[iam] staging StatsApiRole: allows secretsmanager:GetSecretValue on {"Fn::GetAtt":["DatabaseCluster","MasterUserSecret.SecretArn"]} (statement DatabaseReaderSecret), which function stats-api does not need
            error[iam] staging StatsApiRole: lacks secretsmanager:GetSecretValue on {"Ref":"DatabaseReaderSecret"} (needed by stats-api in functions.yaml)
            error[iam] staging StatsApiRole: statement DatabaseReaderSecret reads the database's administrative secret (the master user, or a preview's previews role): code connects with its own login's secret (`database: writer` or `reader` in functions.yaml)
        "#]],
    );
}
