//! Diffs: per resource and per state, with IAM widening called out.

mod common;

use expect_test::expect;
use userlog_infra::EnvironmentName;
use userlog_infra::diff::{diff, render_text};

#[test]
fn a_rendering_against_itself_has_no_changes() {
    let rendered = common::rendered(EnvironmentName::Staging);
    let difference = diff(&rendered, &rendered);
    assert!(difference.is_empty());
    assert_eq!(render_text(&difference, false), "staging: no changes\n");
}

#[test]
fn changes_show_per_state_and_per_resource_and_flag_wider_access() {
    let old = common::rendered(EnvironmentName::Staging);
    let mut new = old.clone();
    *common::at(
        new.state_machine_mut().unwrap(),
        &["States", "ApplyRows", "MaxConcurrency"],
    ) = 10.into();
    let actions = common::at(
        &mut new.template,
        &[
            "Resources",
            "CheckErrorsRole",
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
        .push("sns:Subscribe".into());
    common::at(&mut new.template, &["Resources"])
        .as_mapping_mut()
        .unwrap()
        .remove("CriticalErrorAlarm");
    let difference = diff(&old, &new);
    assert!(difference.widens_access());
    expect![[r#"
        staging: 3 changes, 1 widen IAM access

        ~ Resources CheckErrorsRole (AWS::IAM::Role)
          ! widens access: new action sns:Subscribe on arn:aws:sns:ap-northeast-1:111111111111:staging-userlog-alerts
                        Effect: Allow
                        Action:
                          - sns:Publish
          +               - sns:Subscribe
                        Resource: arn:aws:sns:ap-northeast-1:111111111111:staging-userlog-alerts
                      - Sid: DatabaseWriterSecret
                        Effect: Allow

        - Resources CriticalErrorAlarm (AWS::CloudWatch::Alarm)
          - Type: AWS::CloudWatch::Alarm
          - Properties:
          -   AlarmName: staging-userlog-critical-errors
          -   AlarmDescription: An import recorded a critical error (CSV/Processing CriticalErrorCount).
          -   Namespace: CSV/Processing
          -   MetricName: CriticalErrorCount
          -   Dimensions:
          -     - Name: Environment
          -       Value: staging
          -   Statistic: Sum
          -   Period: 300
          -   EvaluationPeriods: 1
          -   Threshold: 1
          -   ComparisonOperator: GreaterThanOrEqualToThreshold
          -   TreatMissingData: notBreaching
          -   AlarmActions:
          -     - Ref: AlertTopic

        ~ States ImportStateMachine/ApplyRows (Map state)
                bucket.$: $.bucket
                key.$: $.key
                linesMatchRecords.$: $.validation.linesMatchRecords
          - MaxConcurrency: 5
          + MaxConcurrency: 10
            ToleratedFailureCount: 0
            ItemProcessor:
              ProcessorConfig:
    "#]]
    .assert_eq(&render_text(&difference, false));
}
