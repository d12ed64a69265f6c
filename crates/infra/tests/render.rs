//! Rendering: every checked environment matches its committed rendering under `rendered/`, and
//! rendering is deterministic.

mod common;

use expect_test::expect_file;
use userlog_infra::{EnvironmentName, output};

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
