//! Rendering: every checked environment matches its committed rendering under `rendered/`, and
//! rendering is deterministic.

mod common;

use expect_test::{expect, expect_file};
use serde_yaml::Value;
use userlog_infra::{EnvironmentName, conditions, output};

#[test]
fn every_environment_matches_its_committed_rendering() {
    for environment in EnvironmentName::CHECKED {
        let files = common::rendered(environment).files();
        for (name, text) in &files {
            expect_file![format!("../../../rendered/{environment}/{name}")].assert_eq(text);
        }
        let dir = common::repo_root()
            .join("rendered")
            .join(environment.to_string());
        let extra: Vec<String> = output::stale_files(&dir, &files)
            .into_iter()
            .filter(|name| !files.contains_key(name))
            .collect();
        assert!(
            extra.is_empty(),
            "rendered/{environment} has files rendering no longer makes: {extra:?}"
        );
    }
}

#[test]
fn rendering_twice_gives_the_same_bytes() {
    for environment in EnvironmentName::CHECKED {
        let first = common::rendered(environment).files();
        let second = userlog_infra::render_environment(environment, &common::templates())
            .unwrap()
            .files();
        assert_eq!(first, second, "{environment} rendered differently twice");
    }
}

#[test]
fn previews_take_their_number_into_names_and_schema() {
    let rendered = common::rendered(EnvironmentName::Preview(7));
    let outputs = &rendered.template["Outputs"];
    assert_eq!(outputs["DatabaseSchema"]["Value"].as_str(), Some("pr_7"));
    assert_eq!(rendered.stack_name, "preview-pr-7-userlog");
    let bucket = &rendered.template["Resources"]["InputBucket"]["Properties"]["BucketName"];
    assert_eq!(
        bucket.as_str(),
        Some("preview-pr-7-userlog-input-111111111111")
    );
    assert!(
        rendered.template["Resources"]
            .get("DatabaseCluster")
            .is_none(),
        "previews share the staging database"
    );
}

#[test]
fn unknown_parameters_are_errors_that_name_the_file() {
    let mut templates = common::templates();
    let text = templates
        .get("stack/messaging.yaml")
        .unwrap()
        .replace("${names.alertTopic}", "${names.alertTopik}");
    templates.set("stack/messaging.yaml", text);
    let err = userlog_infra::render_environment(EnvironmentName::Staging, &templates)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("`stack/messaging.yaml`: `${names.alertTopik}` is not a parameter"),
        "{err}"
    );
}

/// The `Condition` of every entry of a template section that has one, as `Id: Condition` lines.
fn conditional_entries(template: &Value, section: &str) -> String {
    template[section]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(id, body)| {
            Some(format!(
                "{}: {}\n",
                id.as_str()?,
                body.get("Condition")?.as_str()?
            ))
        })
        .collect()
}

#[test]
fn planned_functions_and_what_serves_only_them_exist_under_their_condition() {
    for environment in EnvironmentName::CHECKED {
        let rendered = common::rendered(environment);
        let template = &rendered.template;
        for principal in &rendered.principals {
            let condition = principal.deployed_condition();
            assert_eq!(condition.is_some(), principal.planned, "{}", principal.key);
            let default = &template["Parameters"][format!("{}CodeKey", principal.id)]["Default"];
            if let Some(condition) = &condition {
                assert_eq!(
                    default.as_str(),
                    Some(""),
                    "{environment} {}",
                    principal.key
                );
                assert!(
                    template["Conditions"].get(condition).is_some(),
                    "{environment} defines no {condition}"
                );
            } else {
                assert!(default.is_null(), "{environment} {}", principal.key);
            }
            for section in ["Resources", "Outputs"] {
                for (id, body) in template[section].as_mapping().into_iter().flatten() {
                    let id = id.as_str().unwrap_or_default();
                    if id.starts_with(&principal.id) {
                        assert_eq!(
                            body.get("Condition").and_then(Value::as_str),
                            condition.as_deref(),
                            "{environment} {section} {id}"
                        );
                    }
                }
            }
        }
        let unguarded = conditions::check(&rendered.cfn());
        assert!(unguarded.is_empty(), "{environment}: {unguarded:#?}");
    }
    // Every function has code now: nothing waits on a condition.
    let staging = common::rendered(EnvironmentName::Staging).template;
    expect![""].assert_eq(&conditional_entries(&staging, "Resources"));
    expect![""].assert_eq(&conditional_entries(&staging, "Outputs"));
}

#[test]
fn only_a_lambda_function_can_be_planned() {
    let mut templates = common::templates();
    let text = templates
        .get("functions.yaml")
        .unwrap()
        .replace("kind: ecs-task\n", "kind: ecs-task\n    planned: true\n");
    templates.set("functions.yaml", text);
    let err = userlog_infra::render_environment(EnvironmentName::Staging, &templates)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "`functions.yaml` is not valid: import-csv: only a Lambda function can be `planned` (its code comes with a code key)"
    );
}

#[test]
fn no_two_environments_accept_the_same_token_audience() {
    let mut seen: Vec<(String, EnvironmentName)> = Vec::new();
    for environment in EnvironmentName::CHECKED {
        let config = userlog_infra::render::load_environment(environment, &common::templates())
            .expect("the environment loads");
        for audience in &config.api.jwt_audience {
            if let Some((_, other)) = seen.iter().find(|(seen, _)| seen == audience) {
                panic!("{environment} and {other} both accept tokens for `{audience}`");
            }
            seen.push((audience.clone(), environment));
        }
    }
}

#[test]
fn previews_read_their_own_slack_webhook_not_the_platforms() {
    let preview = common::rendered(EnvironmentName::Preview(7));
    let text = serde_yaml::to_string(&preview.template).unwrap();
    assert!(text.contains("parameter/staging/userlog/previews/slack-webhook-url"));
    assert!(!text.contains("parameter/staging/userlog/slack-webhook-url"));
}
