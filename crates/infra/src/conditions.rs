//! Conditional resources: every reference to a resource that exists only under a condition must
//! exist only under that condition too, so that the template stays valid when it is false.
//!
//! A reference is a `Ref`, an `Fn::GetAtt`, a `${Name}` of an `Fn::Sub` or a `DependsOn`. It is
//! guarded when the resource or output that makes it carries the same `Condition`, or when it sits
//! in the first branch of an `Fn::If` on that condition.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::{Mapping, Value};

use crate::cfn::{Template, as_list};

/// A reference from one place of the template to a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference<'a> {
    /// The logical id it points to.
    target: &'a str,
    /// The conditions of the `Fn::If` branches it sits in.
    guards: BTreeSet<&'a str>,
}

/// The unguarded references to conditional resources, and the conditions used but not defined,
/// as (subject, message): the subject is a resource's logical id or `output <Name>`.
pub fn check(template: &Template<'_>) -> Vec<(String, String)> {
    let root = template.root();
    let defined: BTreeSet<&str> = entries(root, "Conditions").map(|(name, _)| name).collect();
    let conditions: BTreeMap<&str, &str> = entries(root, "Resources")
        .filter_map(|(id, body)| Some((id, condition_of(body)?)))
        .collect();
    let mut problems = Vec::new();
    let places = entries(root, "Resources")
        .map(|(id, body)| (id.to_owned(), body))
        .chain(entries(root, "Outputs").map(|(id, body)| (format!("output {id}"), body)));
    for (subject, body) in places {
        let own = condition_of(body);
        let mut references = Vec::new();
        let mut used = BTreeSet::new();
        collect(body, &BTreeSet::new(), &mut references, &mut used);
        for name in own.into_iter().chain(used) {
            if !defined.contains(name) {
                problems.push((
                    subject.clone(),
                    format!("uses the condition `{name}`, which the template does not define"),
                ));
            }
        }
        let mut reported = BTreeSet::new();
        for reference in references {
            let Some(&needed) = conditions.get(reference.target) else {
                continue;
            };
            let guarded = own == Some(needed) || reference.guards.contains(needed);
            // One problem per referenced resource is enough to point at the place to fix.
            if guarded || !reported.insert(reference.target) {
                continue;
            }
            problems.push((
                subject.clone(),
                format!(
                    "refers to `{}`, which exists only under the condition `{needed}`: give it `Condition: {needed}` or put the reference in `Fn::If: [{needed}, ...]`",
                    reference.target
                ),
            ));
        }
    }
    problems
}

/// The entries of a section of the template (`Resources`, `Outputs`, `Conditions`).
fn entries<'a>(root: &'a Value, section: &str) -> impl Iterator<Item = (&'a str, &'a Value)> {
    root.get(section)
        .and_then(Value::as_mapping)
        .into_iter()
        .flat_map(Mapping::iter)
        .filter_map(|(key, value)| Some((key.as_str()?, value)))
}

/// The `Condition` a resource or output carries.
fn condition_of(body: &Value) -> Option<&str> {
    body.get("Condition").and_then(Value::as_str)
}

/// Collects the references of a resource or output (its `DependsOn` and everything under it), and
/// the names of the conditions its `Fn::If`s use.
fn collect<'a>(
    value: &'a Value,
    guards: &BTreeSet<&'a str>,
    references: &mut Vec<Reference<'a>>,
    used: &mut BTreeSet<&'a str>,
) {
    let refer = |references: &mut Vec<Reference<'a>>, targets: Vec<&'a str>| {
        references.extend(targets.into_iter().map(|target| Reference {
            target,
            guards: guards.clone(),
        }));
    };
    match value {
        Value::Mapping(mapping) => {
            for (key, child) in mapping {
                match key.as_str() {
                    Some("Ref") => refer(references, child.as_str().into_iter().collect()),
                    Some("DependsOn") => refer(
                        references,
                        as_list(child)
                            .into_iter()
                            .filter_map(Value::as_str)
                            .collect(),
                    ),
                    Some("Fn::GetAtt") => {
                        let target = match child {
                            Value::Sequence(parts) => parts.first().and_then(Value::as_str),
                            Value::String(text) => text.split('.').next(),
                            _ => None,
                        };
                        refer(references, target.into_iter().collect());
                    }
                    Some("Fn::Sub") => {
                        let (text, variables) = match child {
                            Value::Sequence(parts) => {
                                (parts.first().and_then(Value::as_str), parts.get(1))
                            }
                            other => (other.as_str(), None),
                        };
                        let local: BTreeSet<&str> = variables
                            .and_then(Value::as_mapping)
                            .into_iter()
                            .flatten()
                            .filter_map(|(name, _)| name.as_str())
                            .collect();
                        refer(
                            references,
                            text.into_iter()
                                .flat_map(sub_names)
                                .filter(|name| !local.contains(name))
                                .collect(),
                        );
                        if let Some(variables) = variables {
                            collect(variables, guards, references, used);
                        }
                    }
                    Some("Fn::If") => {
                        let branches = child.as_sequence().map(Vec::as_slice).unwrap_or_default();
                        let condition = branches.first().and_then(Value::as_str);
                        used.extend(condition);
                        for (index, branch) in branches.iter().enumerate().skip(1) {
                            let mut inner = guards.clone();
                            if index == 1 {
                                inner.extend(condition);
                            }
                            collect(branch, &inner, references, used);
                        }
                    }
                    _ => collect(child, guards, references, used),
                }
            }
        }
        Value::Sequence(items) => {
            for item in items {
                collect(item, guards, references, used);
            }
        }
        _ => {}
    }
}

/// The logical ids an `Fn::Sub` string names: `${Name}` and `${Name.Attribute}`, but not
/// `${!Literal}` or the pseudo parameters `${AWS::...}`.
fn sub_names(text: &str) -> impl Iterator<Item = &str> {
    text.split("${").skip(1).filter_map(|rest| {
        let name = &rest[..rest.find('}')?];
        let id = name.split('.').next().unwrap_or(name);
        (!id.starts_with('!') && !id.contains("::") && !id.is_empty()).then_some(id)
    })
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// Checks a template given as YAML and compares the problems with `expected`.
    // expect-test's `check` helpers take the expectation by value, as its documentation does.
    #[allow(clippy::needless_pass_by_value)]
    fn check_template(yaml: &str, expected: Expect) {
        let root: Value = serde_yaml::from_str(yaml).expect("the fixture is YAML");
        let template = Template::new(&root, "ap-northeast-1", "111111111111");
        let actual: String = check(&template)
            .iter()
            .map(|(subject, message)| format!("{subject}: {message}\n"))
            .collect();
        expected.assert_eq(&actual);
    }

    const FUNCTION: &str = r#"
Conditions:
  ApiDeployed: {Fn::Not: [{Fn::Equals: [{Ref: ApiCodeKey}, ""]}]}
Resources:
  ApiFunction:
    Type: AWS::Lambda::Function
    Condition: ApiDeployed
  Topic:
    Type: AWS::SNS::Topic
"#;

    #[test]
    fn references_under_the_same_condition_or_in_its_if_branch_are_guarded() {
        check_template(
            &format!(
                r#"{FUNCTION}
  Permission:
    Type: AWS::Lambda::Permission
    Condition: ApiDeployed
    DependsOn: [Topic, ApiFunction]
    Properties:
      FunctionName: {{Fn::GetAtt: [ApiFunction, Arn]}}
      SourceArn: {{Fn::Sub: "${{ApiFunction.Arn}}/${{!Literal}}/${{AWS::Region}}"}}
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmActions: [{{Ref: Topic}}]
      Dimensions:
        - Value: {{Fn::If: [ApiDeployed, {{Ref: ApiFunction}}, {{Ref: AWS::NoValue}}]}}
      Label: {{Fn::Sub: ["${{ApiFunction}}", {{ApiFunction: fixed}}]}}
Outputs:
  FunctionName:
    Condition: ApiDeployed
    Value: {{Ref: ApiFunction}}
"#
            ),
            expect![""],
        );
    }

    #[test]
    fn unguarded_references_name_the_resource_and_the_condition() {
        check_template(
            &format!(
                r#"{FUNCTION}
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    DependsOn: ApiFunction
    Properties:
      IntegrationUri: {{Ref: ApiFunction}}
      Else: {{Fn::If: [ApiDeployed, none, {{Fn::GetAtt: ApiFunction.Arn}}]}}
  Route:
    Type: AWS::ApiGatewayV2::Route
    Condition: OtherDeployed
    Properties:
      Target: {{Fn::Sub: "integrations/${{ApiFunction}}"}}
      Pick: {{Fn::If: [MadeUp, a, b]}}
Outputs:
  FunctionArn:
    Value: {{Fn::GetAtt: [ApiFunction, Arn]}}
"#
            ),
            expect![[r#"
                Integration: refers to `ApiFunction`, which exists only under the condition `ApiDeployed`: give it `Condition: ApiDeployed` or put the reference in `Fn::If: [ApiDeployed, ...]`
                Route: uses the condition `OtherDeployed`, which the template does not define
                Route: uses the condition `MadeUp`, which the template does not define
                Route: refers to `ApiFunction`, which exists only under the condition `ApiDeployed`: give it `Condition: ApiDeployed` or put the reference in `Fn::If: [ApiDeployed, ...]`
                output FunctionArn: refers to `ApiFunction`, which exists only under the condition `ApiDeployed`: give it `Condition: ApiDeployed` or put the reference in `Fn::If: [ApiDeployed, ...]`
            "#]],
        );
    }
}
