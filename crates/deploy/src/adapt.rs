//! What the local deploy must leave out because the emulator (MiniStack 1.5.33) cannot create
//! it, said out loud at every local deploy and listed in `docs/local-emulator.md`.
//!
//! The rendered definitions stay as they are: this applies only to the copy deployed to the
//! `local` environment, and only to resources that do nothing on the emulator anyway. Today that is
//! one kind: CloudWatch alarms on metric math (`Metrics`), which MiniStack's CloudFormation refuses
//! (`Properties.Metrics (metric math) is not supported`) and whose evaluation it would not do
//! (alarms are evaluated only when metrics are put, with dimensions ignored). The same
//! adaptation is applied to the rendered side of `diff --deployed` for `local`, so that the
//! diff shows real differences only.

use serde::Serialize;
use serde_yaml::Value;

/// One resource the local deployment leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Adaptation {
    /// The resource's logical id.
    pub logical_id: String,
    /// Its type.
    pub resource_type: String,
    /// Why the emulator cannot have it.
    pub reason: String,
}

impl Adaptation {
    /// One line for the log.
    pub fn line(&self) -> String {
        format!(
            "{} ({}) is not deployed to the local emulator: {}",
            self.logical_id, self.resource_type, self.reason
        )
    }
}

const METRIC_MATH_REASON: &str = "MiniStack 1.5.33 cannot create alarms on metric math (Metrics); \
     alarms are not evaluated locally anyway";

/// Leaves out of `template` what the emulator cannot create; returns what was left out. A
/// resource that another resource or an output refers to stays (the deploy then fails with
/// the emulator's own message instead of with a dangling reference).
pub fn adapt_for_emulator(template: &mut Value) -> Vec<Adaptation> {
    let candidates: Vec<(String, String)> = template
        .get("Resources")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter(|(_, body)| {
            body.get("Type").and_then(Value::as_str) == Some("AWS::CloudWatch::Alarm")
                && body
                    .get("Properties")
                    .and_then(|p| p.get("Metrics"))
                    .is_some()
        })
        .filter_map(|(id, body)| {
            Some((
                id.as_str()?.to_owned(),
                body.get("Type")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    let mut adaptations = Vec::new();
    for (id, resource_type) in candidates {
        if is_referenced(template, &id) {
            continue;
        }
        if let Some(resources) = template
            .get_mut("Resources")
            .and_then(Value::as_mapping_mut)
        {
            resources.remove(id.as_str());
        }
        adaptations.push(Adaptation {
            logical_id: id,
            resource_type,
            reason: METRIC_MATH_REASON.to_owned(),
        });
    }
    adaptations
}

/// Whether anything but the resource itself refers to `id` (`Ref`, `Fn::GetAtt`, `DependsOn`,
/// or `${id}` in `Fn::Sub`).
fn is_referenced(template: &Value, id: &str) -> bool {
    let mut found = false;
    for (key, body) in template
        .get("Resources")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
    {
        if key.as_str() != Some(id) {
            found |= refers_to(body, id);
        }
    }
    for section in ["Outputs", "Conditions"] {
        if let Some(value) = template.get(section) {
            found |= refers_to(value, id);
        }
    }
    found
}

fn refers_to(value: &Value, id: &str) -> bool {
    match value {
        Value::Mapping(mapping) => mapping.iter().any(|(key, inner)| {
            let key = key.as_str().unwrap_or_default();
            let direct = match key {
                "Ref" => inner.as_str() == Some(id),
                "Fn::GetAtt" => match inner {
                    Value::Sequence(parts) => parts.first().and_then(Value::as_str) == Some(id),
                    Value::String(text) => text.split('.').next() == Some(id),
                    _ => false,
                },
                "DependsOn" => match inner {
                    Value::String(text) => text == id,
                    Value::Sequence(items) => items.iter().any(|i| i.as_str() == Some(id)),
                    _ => false,
                },
                "Fn::Sub" => {
                    let text = match inner {
                        Value::Sequence(parts) => parts.first().and_then(Value::as_str),
                        other => other.as_str(),
                    };
                    text.is_some_and(|t| {
                        t.contains(&format!("${{{id}}}")) || t.contains(&format!("${{{id}."))
                    })
                }
                _ => false,
            };
            direct || refers_to(inner, id)
        }),
        Value::Sequence(items) => items.iter().any(|item| refers_to(item, id)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use userlog_infra::{EnvironmentName, Templates, render_environment};

    use super::*;

    #[test]
    fn the_local_deployment_leaves_out_only_metric_math_alarms() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
        let templates = Templates::load(&dir).expect("the templates load");
        let mut template = render_environment(EnvironmentName::Local, &templates)
            .expect("local renders")
            .template;
        let before = template
            .get("Resources")
            .and_then(Value::as_mapping)
            .map_or(0, |r| r.len());
        let adaptations = adapt_for_emulator(&mut template);
        let after = template
            .get("Resources")
            .and_then(Value::as_mapping)
            .map_or(0, |r| r.len());
        expect![[r#"
            ExecutionFailureRateAlarm (AWS::CloudWatch::Alarm) is not deployed to the local emulator: MiniStack 1.5.33 cannot create alarms on metric math (Metrics); alarms are not evaluated locally anyway
        "#]]
        .assert_eq(
            &adaptations
                .iter()
                .map(|a| format!("{}\n", a.line()))
                .collect::<String>(),
        );
        assert_eq!(before - after, adaptations.len());
    }

    #[test]
    fn a_referenced_resource_is_kept() {
        let mut template: Value = serde_yaml::from_str(
            r#"
Resources:
  RateAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Metrics: [{Id: m, Expression: "1"}]
  Composite:
    Type: AWS::CloudWatch::CompositeAlarm
    Properties:
      AlarmRule: {Fn::Sub: "ALARM(${RateAlarm.Arn})"}
  LonelyAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Metrics: [{Id: m, Expression: "1"}]
  PlainAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      MetricName: Errors
"#,
        )
        .expect("valid YAML");
        let adaptations = adapt_for_emulator(&mut template);
        let ids: Vec<&str> = adaptations.iter().map(|a| a.logical_id.as_str()).collect();
        assert_eq!(ids, ["LonelyAlarm"]);
        assert!(template["Resources"].get("RateAlarm").is_some());
        assert!(template["Resources"].get("PlainAlarm").is_some());
    }
}
