//! Reading a rendered CloudFormation template: resources, references, and the ARNs they resolve to.

use serde_yaml::{Mapping, Value};

/// A rendered CloudFormation template with the lookups the checks need.
#[derive(Debug, Clone, Copy)]
pub struct Template<'a> {
    root: &'a Value,
    /// The region the template is rendered for.
    pub region: &'a str,
    /// The account the template is rendered for.
    pub account_id: &'a str,
}

/// One resource of a template.
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a> {
    /// The logical id.
    pub id: &'a str,
    /// `AWS::S3::Bucket` and so on.
    pub kind: &'a str,
    /// The whole resource (Type, Properties, DeletionPolicy...).
    pub body: &'a Value,
}

impl<'a> Resource<'a> {
    /// A property by path (`["BucketEncryption", "ServerSideEncryptionConfiguration"]`).
    pub fn prop(&self, path: &[&str]) -> Option<&'a Value> {
        let mut value = self.body.get("Properties")?;
        for key in path {
            value = value.get(*key)?;
        }
        Some(value)
    }

    /// A string property.
    pub fn prop_str(&self, path: &[&str]) -> Option<&'a str> {
        self.prop(path).and_then(Value::as_str)
    }

    /// The `Statement` of each inline policy of a role (`Policies`), in order.
    pub fn inline_statements(&self) -> Vec<&'a Value> {
        self.prop(&["Policies"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .map(|policy| {
                policy
                    .get("PolicyDocument")
                    .and_then(|doc| doc.get("Statement"))
                    .unwrap_or(&Value::Null)
            })
            .collect()
    }
}

impl<'a> Template<'a> {
    /// A template rendered for `region` and `account_id`.
    pub fn new(root: &'a Value, region: &'a str, account_id: &'a str) -> Self {
        Template {
            root,
            region,
            account_id,
        }
    }

    /// The template's root value.
    pub fn root(&self) -> &'a Value {
        self.root
    }

    /// Every resource, in template order.
    pub fn resources(&self) -> impl Iterator<Item = Resource<'a>> + 'a {
        self.root
            .get("Resources")
            .and_then(Value::as_mapping)
            .into_iter()
            .flat_map(Mapping::iter)
            .filter_map(|(id, body)| {
                Some(Resource {
                    id: id.as_str()?,
                    kind: body.get("Type")?.as_str()?,
                    body,
                })
            })
    }

    /// Every resource of one type.
    pub fn of_type(&self, kind: &'a str) -> impl Iterator<Item = Resource<'a>> + 'a {
        self.resources()
            .filter(move |resource| resource.kind == kind)
    }

    /// One resource by logical id.
    pub fn resource(&self, id: &str) -> Option<Resource<'a>> {
        self.resources().find(|resource| resource.id == id)
    }

    /// The resource of `kind` whose property `name_property` is `name`.
    pub fn find_named(
        &self,
        kind: &'a str,
        name_property: &str,
        name: &str,
    ) -> Option<Resource<'a>> {
        self.of_type(kind)
            .find(|resource| resource.prop_str(&[name_property]) == Some(name))
    }

    /// The logical id a `{Ref: X}` or `{Fn::GetAtt: [X, A]}` points to.
    pub fn referenced_id(value: &Value) -> Option<&str> {
        if let Some(id) = value.get("Ref").and_then(Value::as_str) {
            return Some(id);
        }
        value
            .get("Fn::GetAtt")
            .and_then(Value::as_sequence)
            .and_then(|parts| parts.first())
            .and_then(Value::as_str)
    }

    /// The ARN (or, for a bucket's `Ref`, the name) a value stands for, when it can be known before
    /// deploying: a string as it is, or a reference to a resource whose name is fixed.
    pub fn resolve(&self, value: &Value) -> Option<String> {
        if let Some(text) = value.as_str() {
            return Some(text.to_owned());
        }
        let id = Self::referenced_id(value)?;
        let attribute = value
            .get("Fn::GetAtt")
            .and_then(Value::as_sequence)
            .and_then(|parts| parts.get(1))
            .and_then(Value::as_str);
        let resource = self.resource(id)?;
        let (region, account) = (self.region, self.account_id);
        match (resource.kind, attribute) {
            ("AWS::Lambda::Alias", None) => {
                let function_id = Self::referenced_id(resource.prop(&["FunctionName"])?)?;
                let function = self.resource(function_id)?;
                let name = function.prop_str(&["FunctionName"])?;
                let alias = resource.prop_str(&["Name"])?;
                Some(format!(
                    "arn:aws:lambda:{region}:{account}:function:{name}:{alias}"
                ))
            }
            ("AWS::Lambda::Function", None) => {
                resource.prop_str(&["FunctionName"]).map(str::to_owned)
            }
            ("AWS::Lambda::Function", Some("Arn")) => resource
                .prop_str(&["FunctionName"])
                .map(|name| format!("arn:aws:lambda:{region}:{account}:function:{name}")),
            ("AWS::StepFunctions::StateMachine", None | Some("Arn")) => resource
                .prop_str(&["StateMachineName"])
                .map(|name| format!("arn:aws:states:{region}:{account}:stateMachine:{name}")),
            ("AWS::SNS::Topic", None | Some("TopicArn")) => resource
                .prop_str(&["TopicName"])
                .map(|name| format!("arn:aws:sns:{region}:{account}:{name}")),
            ("AWS::S3::Bucket", None) => resource.prop_str(&["BucketName"]).map(str::to_owned),
            ("AWS::S3::Bucket", Some("Arn")) => resource
                .prop_str(&["BucketName"])
                .map(|name| format!("arn:aws:s3:::{name}")),
            ("AWS::DynamoDB::Table", Some("Arn")) => resource
                .prop_str(&["TableName"])
                .map(|name| format!("arn:aws:dynamodb:{region}:{account}:table/{name}")),
            ("AWS::IAM::Role", Some("Arn")) => resource.prop_str(&["RoleName"]).map(|name| {
                let path = resource.prop_str(&["Path"]).unwrap_or("/");
                format!("arn:aws:iam::{account}:role{path}{name}")
            }),
            ("AWS::SQS::Queue", Some("Arn")) => resource
                .prop_str(&["QueueName"])
                .map(|name| format!("arn:aws:sqs:{region}:{account}:{name}")),
            ("AWS::Events::Rule", None | Some("Arn")) => resource
                .prop_str(&["Name"])
                .map(|name| format!("arn:aws:events:{region}:{account}:rule/{name}")),
            _ => None,
        }
    }
}

/// A value as a list: a list as it is, anything else as a list of one.
pub fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// A compact one-line rendering of a value for messages (`{Ref: X}`, `arn:...`).
pub fn short(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}
