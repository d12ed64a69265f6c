//! The AWS calls of a deploy, a rollback and an upload, made with the AWS SDK for Rust: every
//! call retried with backoff when it fails transiently, every answer turned into the types of
//! [`crate::api`], every failure into an [`AwsCallError`].
//!
//! AWS itself cannot run here; these calls are tested end to end against the local emulator
//! (`tests/pipeline.rs`), and the decisions around them are pure functions with their own
//! unit tests.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types as cfn;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use chrono::{DateTime, Utc};
use userlog_aws::config::AwsSettings;
use userlog_executions::history::time_of;

use crate::api::{
    AwsResult, ChangeSetKind, ChangeSetRequest, ChangeSetState, ExecutionDetails, ExecutionSummary,
    FunctionVersion, HistoryEvent, StackInfo, StoredObject, TemplateSource,
};
use crate::canary::AlarmReading;
use crate::changeset::{ChangeAction, ChangeDetail, Replacement, ResourceChange};
use crate::error::AwsCallError;
use crate::events::StackEvent;
use crate::lock::{Expectation, KEY_ATTRIBUTE, LockRecord};
use crate::release::{FrozenConfiguration, VersionSnapshot, configuration_digest};
use crate::retry::{Backoff, FailureFacts, FailureKind, TokioSleeper, retry};
use crate::target::ParameterValue;

/// The clients a deploy, a rollback and an upload use, built once from one SDK configuration.
#[derive(Debug, Clone)]
pub struct Aws {
    cloudformation: aws_sdk_cloudformation::Client,
    lambda: aws_sdk_lambda::Client,
    s3: aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sfn: aws_sdk_sfn::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    ecr: aws_sdk_ecr::Client,
    ecs: aws_sdk_ecs::Client,
    secrets: aws_sdk_secretsmanager::Client,
    backoff: Backoff,
    endpoint: Option<String>,
}

/// Turns an SDK failure into the facts that decide whether to retry, and a message.
fn call_error<E>(
    operation: &str,
    error: aws_sdk_cloudformation::error::SdkError<
        E,
        aws_sdk_cloudformation::config::http::HttpResponse,
    >,
) -> AwsCallError
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata as _, SdkError};
    let status = error.raw_response().map(|r| r.status().as_u16());
    let kind = match &error {
        SdkError::ServiceError(_) => FailureKind::Service,
        SdkError::TimeoutError(_) => FailureKind::Timeout,
        SdkError::DispatchFailure(_) => FailureKind::Dispatch,
        SdkError::ResponseError(_) => FailureKind::Response,
        _ => FailureKind::Construction,
    };
    let code = error.code().map(str::to_owned);
    let message = match (&code, error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.clone(),
        _ => DisplayErrorContext(&error).to_string(),
    };
    AwsCallError {
        operation: operation.to_owned(),
        facts: FailureFacts { kind, code, status },
        message,
    }
}

fn is_missing(error: &AwsCallError) -> bool {
    matches!(
        error.code(),
        Some(
            "ResourceNotFoundException"
                | "NoSuchKey"
                | "NotFound"
                | "NoSuchBucket"
                | "StateMachineDoesNotExist"
                | "ExecutionDoesNotExist"
        )
    ) || error.facts.status == Some(404)
}

impl Aws {
    /// The clients of `config`, with path-style S3 when an endpoint override is set.
    pub fn new(config: &SdkConfig, settings: &AwsSettings) -> Self {
        Aws {
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            s3: userlog_aws::config::s3_client(config, settings),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sfn: aws_sdk_sfn::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            ecr: aws_sdk_ecr::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            backoff: Backoff::default(),
            endpoint: settings
                .s3_endpoint_url
                .clone()
                .or_else(|| settings.endpoint_url.clone()),
        }
    }

    /// The S3 endpoint override, when the calls go to an emulator.
    pub fn s3_endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    async fn call<T, Fut>(&self, operation: &str, call: impl FnMut() -> Fut) -> AwsResult<T>
    where
        Fut: Future<Output = AwsResult<T>>,
    {
        retry(
            &self.backoff,
            &TokioSleeper,
            operation,
            |notice| {
                tracing::warn!(
                    "{} failed (attempt {}): {}; retrying in {:.1} s",
                    notice.operation,
                    notice.attempt,
                    notice.error,
                    notice.delay.as_secs_f64()
                );
            },
            call,
        )
        .await
    }

    // CloudFormation.

    /// The stack, or `None` when it does not exist.
    pub async fn describe_stack(&self, stack_name: &str) -> AwsResult<Option<StackInfo>> {
        let answer = self
            .call("DescribeStacks", || async {
                self.cloudformation
                    .describe_stacks()
                    .stack_name(stack_name)
                    .send()
                    .await
                    .map_err(|e| call_error("DescribeStacks", e))
            })
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(error) if error.message.contains("does not exist") => return Ok(None),
            Err(error) => return Err(error),
        };
        let Some(stack) = output.stacks().first() else {
            return Ok(None);
        };
        Ok(Some(StackInfo {
            name: stack.stack_name().unwrap_or(stack_name).to_owned(),
            status: stack
                .stack_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            status_reason: stack.stack_status_reason().map(str::to_owned),
            parameters: stack
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_owned(),
                        p.parameter_value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
            outputs: stack
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect(),
            tags: stack
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                .collect(),
        }))
    }

    /// The template the stack runs, or `None` when the stack does not exist.
    pub async fn stack_template(&self, stack_name: &str) -> AwsResult<Option<String>> {
        let answer = self
            .call("GetTemplate", || async {
                self.cloudformation
                    .get_template()
                    .stack_name(stack_name)
                    .template_stage(cfn::TemplateStage::Original)
                    .send()
                    .await
                    .map_err(|e| call_error("GetTemplate", e))
            })
            .await;
        match answer {
            Ok(output) => Ok(output.template_body().map(str::to_owned)),
            Err(error) if error.message.contains("does not exist") => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Sets the stack's policy from a body or, with `from_url`, from the URL `policy`.
    pub async fn set_stack_policy(
        &self,
        stack_name: &str,
        policy: &str,
        from_url: bool,
    ) -> AwsResult<()> {
        self.call("SetStackPolicy", || async {
            let request = self
                .cloudformation
                .set_stack_policy()
                .stack_name(stack_name);
            let request = if from_url {
                request.stack_policy_url(policy)
            } else {
                request.stack_policy_body(policy)
            };
            request
                .send()
                .await
                .map_err(|e| call_error("SetStackPolicy", e))
        })
        .await
        .map(|_| ())
    }

    /// Creates a change set.
    pub async fn create_change_set(&self, request: &ChangeSetRequest) -> AwsResult<()> {
        let parameters: Vec<cfn::Parameter> = request
            .parameters
            .iter()
            .map(|(key, value)| {
                let builder = cfn::Parameter::builder().parameter_key(key);
                match value {
                    ParameterValue::Value(value) => builder.parameter_value(value).build(),
                    ParameterValue::UsePrevious => builder.use_previous_value(true).build(),
                }
            })
            .collect();
        self.call("CreateChangeSet", || async {
            let mut builder = self
                .cloudformation
                .create_change_set()
                .stack_name(&request.stack_name)
                .change_set_name(&request.name)
                .description(&request.description)
                .change_set_type(match request.kind {
                    ChangeSetKind::Create => cfn::ChangeSetType::Create,
                    ChangeSetKind::Update => cfn::ChangeSetType::Update,
                })
                .set_parameters(Some(parameters.clone()))
                .set_capabilities(Some(
                    request
                        .capabilities
                        .iter()
                        .map(|c| cfn::Capability::from(c.as_str()))
                        .collect(),
                ))
                .set_role_arn(request.role_arn.clone());
            if !request.tags.is_empty() {
                builder = builder.set_tags(Some(
                    request
                        .tags
                        .iter()
                        .map(|(key, value)| cfn::Tag::builder().key(key).value(value).build())
                        .collect(),
                ));
            }
            builder = match &request.template {
                TemplateSource::Url(url) => builder.template_url(url),
                TemplateSource::UsePrevious => builder.use_previous_template(true),
                TemplateSource::Body(body) => builder.template_body(body),
            };
            builder
                .send()
                .await
                .map_err(|e| call_error("CreateChangeSet", e))
        })
        .await
        .map(|_| ())
    }

    /// A change set with every one of its changes.
    pub async fn describe_change_set(
        &self,
        stack_name: &str,
        name: &str,
    ) -> AwsResult<ChangeSetState> {
        let mut state = ChangeSetState::default();
        let mut next: Option<String> = None;
        loop {
            let token = next.clone();
            let page = self
                .call("DescribeChangeSet", || async {
                    self.cloudformation
                        .describe_change_set()
                        .stack_name(stack_name)
                        .change_set_name(name)
                        .set_next_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| call_error("DescribeChangeSet", e))
                })
                .await?;
            state.status = page
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            state.status_reason = page.status_reason().map(str::to_owned);
            state.execution_status = page.execution_status().map(|s| s.as_str().to_owned());
            state.changes.extend(
                page.changes()
                    .iter()
                    .filter_map(|c| c.resource_change())
                    .map(resource_change),
            );
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                return Ok(state);
            }
        }
    }

    /// Deletes a change set that will not be executed.
    pub async fn delete_change_set(&self, stack_name: &str, name: &str) -> AwsResult<()> {
        self.call("DeleteChangeSet", || async {
            self.cloudformation
                .delete_change_set()
                .stack_name(stack_name)
                .change_set_name(name)
                .send()
                .await
                .map_err(|e| call_error("DeleteChangeSet", e))
        })
        .await
        .map(|_| ())
    }

    /// Executes a change set.
    pub async fn execute_change_set(&self, stack_name: &str, name: &str) -> AwsResult<()> {
        self.call("ExecuteChangeSet", || async {
            self.cloudformation
                .execute_change_set()
                .stack_name(stack_name)
                .change_set_name(name)
                .send()
                .await
                .map_err(|e| call_error("ExecuteChangeSet", e))
        })
        .await
        .map(|_| ())
    }

    /// The stack's events, newest first, down to the first page holding an event of `known`.
    pub async fn stack_events(
        &self,
        stack_name: &str,
        known: &HashSet<String>,
    ) -> AwsResult<Vec<StackEvent>> {
        let mut events = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let token = next.clone();
            let page = self
                .call("DescribeStackEvents", || async {
                    self.cloudformation
                        .describe_stack_events()
                        .stack_name(stack_name)
                        .set_next_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| call_error("DescribeStackEvents", e))
                })
                .await?;
            let mut reached_known = false;
            for event in page.stack_events() {
                let id = event.event_id().unwrap_or_default().to_owned();
                reached_known |= known.contains(&id);
                events.push(StackEvent {
                    event_id: id,
                    logical_id: event.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: event.resource_type().unwrap_or_default().to_owned(),
                    status: event
                        .resource_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    reason: event.resource_status_reason().map(str::to_owned),
                    timestamp: time_of(event.timestamp()),
                });
            }
            next = page.next_token().map(str::to_owned);
            if next.is_none() || reached_known {
                return Ok(events);
            }
        }
    }

    /// Deletes the stack.
    pub async fn delete_stack(&self, stack_name: &str) -> AwsResult<()> {
        self.call("DeleteStack", || async {
            self.cloudformation
                .delete_stack()
                .stack_name(stack_name)
                .send()
                .await
                .map_err(|e| call_error("DeleteStack", e))
        })
        .await
        .map(|_| ())
    }

    // Lambda.

    /// A version (`$LATEST`, a number or an alias) of a function, or `None` when it does not exist.
    pub async fn function_version(
        &self,
        function_name: &str,
        qualifier: &str,
    ) -> AwsResult<Option<FunctionVersion>> {
        let answer = self
            .call("GetFunctionConfiguration", || async {
                self.lambda
                    .get_function_configuration()
                    .function_name(function_name)
                    .qualifier(qualifier)
                    .send()
                    .await
                    .map_err(|e| call_error("GetFunctionConfiguration", e))
            })
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(error) if is_missing(&error) => return Ok(None),
            Err(error) => return Err(error),
        };
        let environment: BTreeMap<String, String> = output
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let frozen = FrozenConfiguration {
            environment: environment.clone(),
            memory_mb: output.memory_size(),
            timeout_seconds: output.timeout(),
            runtime: output.runtime().map(|r| r.as_str().to_owned()),
            handler: output.handler().map(str::to_owned),
        };
        Ok(Some(FunctionVersion {
            snapshot: VersionSnapshot {
                version: output.version().unwrap_or(qualifier).to_owned(),
                code_sha256: output.code_sha256().unwrap_or_default().to_owned(),
                configuration: configuration_digest(&frozen),
            },
            state: output.state().map(|s| s.as_str().to_owned()),
            last_update_status: output.last_update_status().map(|s| s.as_str().to_owned()),
            environment,
        }))
    }

    /// The version an alias points to, or `None` when the alias or the function does not exist.
    pub async fn alias_version(
        &self,
        function_name: &str,
        alias: &str,
    ) -> AwsResult<Option<String>> {
        let answer = self
            .call("GetAlias", || async {
                self.lambda
                    .get_alias()
                    .function_name(function_name)
                    .name(alias)
                    .send()
                    .await
                    .map_err(|e| call_error("GetAlias", e))
            })
            .await;
        match answer {
            Ok(output) => Ok(output.function_version().map(str::to_owned)),
            Err(error) if is_missing(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Publishes `$LATEST` as a new version.
    pub async fn publish_version(
        &self,
        function_name: &str,
        description: &str,
    ) -> AwsResult<VersionSnapshot> {
        let output = self
            .call("PublishVersion", || async {
                self.lambda
                    .publish_version()
                    .function_name(function_name)
                    .description(description)
                    .send()
                    .await
                    .map_err(|e| call_error("PublishVersion", e))
            })
            .await?;
        let version = output.version().unwrap_or_default().to_owned();
        // The digest of what the version froze is read back, so that it is computed one way only.
        let published = self.function_version(function_name, &version).await?;
        Ok(published.map(|p| p.snapshot).unwrap_or(VersionSnapshot {
            version,
            code_sha256: output.code_sha256().unwrap_or_default().to_owned(),
            configuration: String::new(),
        }))
    }

    // S3.

    /// Whether the bucket exists.
    pub async fn bucket_exists(&self, bucket: &str) -> AwsResult<bool> {
        let answer = self
            .call("HeadBucket", || async {
                self.s3
                    .head_bucket()
                    .bucket(bucket)
                    .send()
                    .await
                    .map_err(|e| call_error("HeadBucket", e))
            })
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(error) if is_missing(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Creates a bucket in `region`.
    pub async fn create_bucket(&self, bucket: &str, region: &str) -> AwsResult<()> {
        let configuration = aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
            .build();
        self.call("CreateBucket", || async {
            self.s3
                .create_bucket()
                .bucket(bucket)
                .create_bucket_configuration(configuration.clone())
                .send()
                .await
                .map_err(|e| call_error("CreateBucket", e))
        })
        .await
        .map(|_| ())
    }

    /// Whether an object exists.
    pub async fn object_exists(&self, bucket: &str, key: &str) -> AwsResult<bool> {
        let answer = self
            .call("HeadObject", || async {
                self.s3
                    .head_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| call_error("HeadObject", e))
            })
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(error) if is_missing(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The ETag (without quotes) of an object, or `None` when there is no such object.
    pub async fn object_etag(&self, bucket: &str, key: &str) -> AwsResult<Option<String>> {
        let answer = self
            .call("HeadObject", || async {
                self.s3
                    .head_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| call_error("HeadObject", e))
            })
            .await;
        match answer {
            Ok(output) => Ok(Some(
                output
                    .e_tag()
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_owned(),
            )),
            Err(error) if is_missing(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Uploads a file.
    pub async fn put_file(&self, bucket: &str, key: &str, path: &Path) -> AwsResult<StoredObject> {
        let bytes = tokio::fs::read(path).await.map_err(|error| AwsCallError {
            operation: "PutObject".to_owned(),
            facts: FailureFacts::without_answer(FailureKind::Construction),
            message: format!("cannot read {}: {error}", path.display()),
        })?;
        let content_type = if path.extension().is_some_and(|e| e == "csv") {
            "text/csv"
        } else {
            "application/octet-stream"
        };
        self.put_bytes(bucket, key, bytes, content_type).await
    }

    /// Uploads bytes.
    pub async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> AwsResult<StoredObject> {
        let size = bytes.len() as u64;
        let output = self
            .call("PutObject", || async {
                self.s3
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .content_type(content_type)
                    .body(bytes.clone().into())
                    .send()
                    .await
                    .map_err(|e| call_error("PutObject", e))
            })
            .await?;
        Ok(StoredObject {
            etag: output
                .e_tag()
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned(),
            size,
        })
    }

    /// Reads an object, or `None` when it does not exist.
    pub async fn get_bytes(&self, bucket: &str, key: &str) -> AwsResult<Option<Vec<u8>>> {
        let answer = self
            .call("GetObject", || async {
                self.s3
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| call_error("GetObject", e))
            })
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(error) if is_missing(&error) => return Ok(None),
            Err(error) => return Err(error),
        };
        let bytes = output.body.collect().await.map_err(|error| AwsCallError {
            operation: "GetObject".to_owned(),
            facts: FailureFacts::without_answer(FailureKind::Response),
            message: error.to_string(),
        })?;
        Ok(Some(bytes.to_vec()))
    }

    /// Deletes an object (nothing happens when it does not exist).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> AwsResult<()> {
        self.call("DeleteObject", || async {
            self.s3
                .delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| call_error("DeleteObject", e))
        })
        .await?;
        Ok(())
    }

    // CloudWatch: what a canary's bake watches.

    /// Every metric and composite alarm whose name starts with `prefix`, with its state.
    /// A registry login for the account's image repositories (`GetAuthorizationToken`): the
    /// registry's host and the token to send as `Authorization: Basic <token>`.
    pub async fn registry_login(&self) -> AwsResult<(String, String)> {
        let output = self
            .call("GetAuthorizationToken", || async {
                self.ecr
                    .get_authorization_token()
                    .send()
                    .await
                    .map_err(|e| call_error("GetAuthorizationToken", e))
            })
            .await?;
        let data = output
            .authorization_data()
            .first()
            .ok_or_else(|| AwsCallError {
                operation: "GetAuthorizationToken".to_owned(),
                facts: FailureFacts {
                    kind: FailureKind::Response,
                    code: None,
                    status: None,
                },
                message: "the answer holds no authorization data".to_owned(),
            })?;
        let host = data
            .proxy_endpoint()
            .unwrap_or_default()
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_owned();
        Ok((
            host,
            data.authorization_token().unwrap_or_default().to_owned(),
        ))
    }

    /// The definition of a deployed state machine, as Step Functions holds it (substitutions
    /// resolved).
    pub async fn state_machine_definition(&self, arn: &str) -> AwsResult<String> {
        let output = self
            .call("DescribeStateMachine", || async {
                self.sfn
                    .describe_state_machine()
                    .state_machine_arn(arn)
                    .send()
                    .await
                    .map_err(|e| call_error("DescribeStateMachine", e))
            })
            .await?;
        Ok(output.definition().to_owned())
    }

    /// The login (username and password) in secret `arn`.
    pub async fn login(&self, arn: &str) -> AwsResult<userlog_db::roles::Login> {
        let output = self
            .call("GetSecretValue", || async {
                self.secrets
                    .get_secret_value()
                    .secret_id(arn)
                    .send()
                    .await
                    .map_err(|e| call_error("GetSecretValue", e))
            })
            .await?;
        let (name, password) =
            userlog_aws::login_from_secret(output.secret_string().unwrap_or_default())
                .map_err(|e| construction("GetSecretValue", &e))?;
        Ok(userlog_db::roles::Login { name, password })
    }

    /// Starts one task of `task` whose container runs `command`, with `task_role` in place of the
    /// task definition's role when given; the task's ARN.
    pub async fn run_task(
        &self,
        task: &crate::migrate_task::MigrationTask,
        command: &[&str],
        task_role: Option<&str>,
    ) -> AwsResult<String> {
        use aws_sdk_ecs::types::{
            AssignPublicIp, AwsVpcConfiguration, ContainerOverride, LaunchType,
            NetworkConfiguration, TaskOverride,
        };
        let network = AwsVpcConfiguration::builder()
            .set_subnets(Some(task.subnets.clone()))
            .set_security_groups(Some(task.security_groups.clone()))
            .set_assign_public_ip(task.assign_public_ip.as_deref().map(AssignPublicIp::from))
            .build()
            .map_err(|e| construction("RunTask", &e))?;
        let overrides = TaskOverride::builder()
            .container_overrides(
                ContainerOverride::builder()
                    .name(&task.container)
                    .set_command(Some(command.iter().map(|c| (*c).to_owned()).collect()))
                    .build(),
            )
            .set_task_role_arn(task_role.map(str::to_owned))
            .build();
        let output = self
            .call("RunTask", || async {
                self.ecs
                    .run_task()
                    .cluster(&task.cluster)
                    .task_definition(&task.task_definition)
                    .set_launch_type(task.launch_type.as_deref().map(LaunchType::from))
                    .network_configuration(
                        NetworkConfiguration::builder()
                            .awsvpc_configuration(network.clone())
                            .build(),
                    )
                    .overrides(overrides.clone())
                    .started_by("userlog-deploy")
                    .send()
                    .await
                    .map_err(|e| call_error("RunTask", e))
            })
            .await?;
        if let Some(failure) = output.failures().first() {
            return Err(AwsCallError {
                operation: "RunTask".to_owned(),
                facts: FailureFacts {
                    kind: FailureKind::Service,
                    code: failure.reason().map(str::to_owned),
                    status: None,
                },
                message: format!(
                    "{}: {}",
                    failure.reason().unwrap_or("the task did not start"),
                    failure.detail().unwrap_or_default()
                ),
            });
        }
        Ok(output
            .tasks()
            .first()
            .and_then(|t| t.task_arn())
            .unwrap_or_default()
            .to_owned())
    }

    /// How a task ended, once it has stopped (`None` while it runs).
    pub async fn stopped_task(
        &self,
        cluster: &str,
        arn: &str,
    ) -> AwsResult<Option<crate::migrate_task::TaskEnd>> {
        let output = self
            .call("DescribeTasks", || async {
                self.ecs
                    .describe_tasks()
                    .cluster(cluster)
                    .tasks(arn)
                    .send()
                    .await
                    .map_err(|e| call_error("DescribeTasks", e))
            })
            .await?;
        let Some(task) = output.tasks().first() else {
            return Ok(None);
        };
        if task.last_status() != Some("STOPPED") {
            return Ok(None);
        }
        Ok(Some(crate::migrate_task::TaskEnd {
            exit_code: task.containers().first().and_then(|c| c.exit_code()),
            stopped_reason: task.stopped_reason().unwrap_or_default().to_owned(),
        }))
    }

    pub async fn alarms(&self, prefix: &str) -> AwsResult<Vec<AlarmReading>> {
        let mut readings = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let output = self
                .call("DescribeAlarms", || async {
                    self.cloudwatch
                        .describe_alarms()
                        .alarm_name_prefix(prefix)
                        .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
                        .alarm_types(aws_sdk_cloudwatch::types::AlarmType::CompositeAlarm)
                        .set_next_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| call_error("DescribeAlarms", e))
                })
                .await?;
            for alarm in output.metric_alarms() {
                readings.push(AlarmReading {
                    name: alarm.alarm_name().unwrap_or_default().to_owned(),
                    state: alarm
                        .state_value()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    reason: alarm.state_reason().unwrap_or_default().to_owned(),
                    updated_at: alarm.state_updated_timestamp().map(|t| time_of(Some(t))),
                });
            }
            for alarm in output.composite_alarms() {
                readings.push(AlarmReading {
                    name: alarm.alarm_name().unwrap_or_default().to_owned(),
                    state: alarm
                        .state_value()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    reason: alarm.state_reason().unwrap_or_default().to_owned(),
                    updated_at: alarm.state_updated_timestamp().map(|t| time_of(Some(t))),
                });
            }
            token = output.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(readings);
            }
        }
    }

    /// The sum of one `AWS/Lambda` metric (`Errors`, `Throttles`) of the calls of `alias` that ran
    /// `version`, from `since` to now (0 when Lambda has recorded none).
    pub async fn version_metric_sum(
        &self,
        function_name: &str,
        alias: &str,
        version: &str,
        metric: &str,
        since: DateTime<Utc>,
    ) -> AwsResult<f64> {
        use aws_sdk_cloudwatch::types::{Dimension, Statistic};
        let dimension =
            |name: &str, value: String| Dimension::builder().name(name).value(value).build();
        let now = Utc::now();
        // CloudWatch takes a period that is a multiple of 60 s and a start before the end.
        let start = since.min(now - chrono::Duration::seconds(60));
        let output = self
            .call("GetMetricStatistics", || async {
                self.cloudwatch
                    .get_metric_statistics()
                    .namespace("AWS/Lambda")
                    .metric_name(metric)
                    .dimensions(dimension("FunctionName", function_name.to_owned()))
                    .dimensions(dimension("Resource", format!("{function_name}:{alias}")))
                    .dimensions(dimension("ExecutedVersion", version.to_owned()))
                    .start_time(aws_smithy_types::DateTime::from_millis(
                        start.timestamp_millis(),
                    ))
                    .end_time(aws_smithy_types::DateTime::from_millis(
                        now.timestamp_millis(),
                    ))
                    .period(60)
                    .statistics(Statistic::Sum)
                    .send()
                    .await
                    .map_err(|e| call_error("GetMetricStatistics", e))
            })
            .await?;
        Ok(output.datapoints().iter().filter_map(|d| d.sum()).sum())
    }

    // DynamoDB: the deploy lock table.

    /// Whether a table exists.
    pub async fn table_exists(&self, table: &str) -> AwsResult<bool> {
        let answer = self
            .call("DescribeTable", || async {
                self.dynamodb
                    .describe_table()
                    .table_name(table)
                    .send()
                    .await
                    .map_err(|e| call_error("DescribeTable", e))
            })
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(error) if is_missing(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Creates the lock table (keyed by environment, on demand).
    pub async fn create_lock_table(&self, table: &str) -> AwsResult<()> {
        let definition = AttributeDefinition::builder()
            .attribute_name(KEY_ATTRIBUTE)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| construction("CreateTable", &e))?;
        let key = KeySchemaElement::builder()
            .attribute_name(KEY_ATTRIBUTE)
            .key_type(KeyType::Hash)
            .build()
            .map_err(|e| construction("CreateTable", &e))?;
        self.call("CreateTable", || async {
            self.dynamodb
                .create_table()
                .table_name(table)
                .attribute_definitions(definition.clone())
                .key_schema(key.clone())
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await
                .map_err(|e| call_error("CreateTable", e))
        })
        .await
        .map(|_| ())
    }

    /// The lock of an environment, if one is held.
    pub async fn read_lock(&self, table: &str, environment: &str) -> AwsResult<Option<LockRecord>> {
        let output = self
            .call("GetItem", || async {
                self.dynamodb
                    .get_item()
                    .table_name(table)
                    .key(KEY_ATTRIBUTE, AttributeValue::S(environment.to_owned()))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| call_error("GetItem", e))
            })
            .await?;
        Ok(output.item().and_then(lock_from_item))
    }

    /// Puts `record` if the item there meets `expectation`; `false` when it does not.
    pub async fn put_lock(
        &self,
        table: &str,
        record: &LockRecord,
        expectation: &Expectation,
    ) -> AwsResult<bool> {
        let item = lock_item(record);
        let answer = self
            .call("PutItem", || async {
                let builder = self
                    .dynamodb
                    .put_item()
                    .table_name(table)
                    .set_item(Some(item.clone()));
                let builder = match expectation {
                    Expectation::Absent => builder
                        .condition_expression("attribute_not_exists(#key)")
                        .expression_attribute_names("#key", KEY_ATTRIBUTE),
                    Expectation::Expired(expired) => builder
                        .condition_expression("deployId = :expired")
                        .expression_attribute_values(
                            ":expired",
                            AttributeValue::S(expired.deploy_id.clone()),
                        ),
                };
                builder.send().await.map_err(|e| call_error("PutItem", e))
            })
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(error) if error.is_code("ConditionalCheckFailedException") => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Deletes the lock if `deploy_id` still holds it; `false` when it does not.
    pub async fn release_lock(
        &self,
        table: &str,
        environment: &str,
        deploy_id: &str,
    ) -> AwsResult<bool> {
        let answer = self
            .call("DeleteItem", || async {
                self.dynamodb
                    .delete_item()
                    .table_name(table)
                    .key(KEY_ATTRIBUTE, AttributeValue::S(environment.to_owned()))
                    .condition_expression("deployId = :mine")
                    .expression_attribute_values(":mine", AttributeValue::S(deploy_id.to_owned()))
                    .send()
                    .await
                    .map_err(|e| call_error("DeleteItem", e))
            })
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(error) if error.is_code("ConditionalCheckFailedException") => Ok(false),
            Err(error) => Err(error),
        }
    }

    // Step Functions.

    /// A state machine's status (`ACTIVE`), or `None` when it does not exist.
    pub async fn state_machine_status(&self, arn: &str) -> AwsResult<Option<String>> {
        let answer = self
            .call("DescribeStateMachine", || async {
                self.sfn
                    .describe_state_machine()
                    .state_machine_arn(arn)
                    .send()
                    .await
                    .map_err(|e| call_error("DescribeStateMachine", e))
            })
            .await;
        match answer {
            Ok(output) => Ok(Some(
                output
                    .status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_else(|| "ACTIVE".to_owned()),
            )),
            Err(error) if is_missing(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The most recent executions of a state machine, newest first.
    pub async fn recent_executions(
        &self,
        state_machine_arn: &str,
        limit: usize,
    ) -> AwsResult<Vec<ExecutionSummary>> {
        let output = self
            .call("ListExecutions", || async {
                self.sfn
                    .list_executions()
                    .state_machine_arn(state_machine_arn)
                    .max_results(i32::try_from(limit).unwrap_or(100).clamp(1, 1000))
                    .send()
                    .await
                    .map_err(|e| call_error("ListExecutions", e))
            })
            .await?;
        let mut executions: Vec<ExecutionSummary> = output
            .executions()
            .iter()
            .map(|e| ExecutionSummary {
                arn: e.execution_arn().to_owned(),
                name: e.name().to_owned(),
                status: e.status().as_str().to_owned(),
                start: time_of(Some(e.start_date())),
            })
            .collect();
        executions.sort_by_key(|e| std::cmp::Reverse(e.start));
        Ok(executions)
    }

    /// One execution.
    pub async fn execution(&self, arn: &str) -> AwsResult<ExecutionDetails> {
        let output = self
            .call("DescribeExecution", || async {
                self.sfn
                    .describe_execution()
                    .execution_arn(arn)
                    .send()
                    .await
                    .map_err(|e| call_error("DescribeExecution", e))
            })
            .await?;
        Ok(ExecutionDetails::of_sdk(&output))
    }

    /// The executions of a state machine that ended `FAILED`, `TIMED_OUT` or `ABORTED` and
    /// started at or after `since`, newest first.
    pub async fn unsuccessful_executions_since(
        &self,
        state_machine_arn: &str,
        since: DateTime<Utc>,
    ) -> AwsResult<Vec<ExecutionSummary>> {
        use aws_sdk_sfn::types::ExecutionStatus;
        let mut found = Vec::new();
        for status in [
            ExecutionStatus::Failed,
            ExecutionStatus::TimedOut,
            ExecutionStatus::Aborted,
        ] {
            let mut next: Option<String> = None;
            loop {
                let token = next.clone();
                let page = self
                    .call("ListExecutions", || async {
                        self.sfn
                            .list_executions()
                            .state_machine_arn(state_machine_arn)
                            .status_filter(status.clone())
                            .max_results(1000)
                            .set_next_token(token.clone())
                            .send()
                            .await
                            .map_err(|e| call_error("ListExecutions", e))
                    })
                    .await?;
                let mut older = false;
                for e in page.executions() {
                    let start = time_of(Some(e.start_date()));
                    if start < since {
                        older = true;
                        continue;
                    }
                    found.push(ExecutionSummary {
                        arn: e.execution_arn().to_owned(),
                        name: e.name().to_owned(),
                        status: e.status().as_str().to_owned(),
                        start,
                    });
                }
                next = page.next_token().map(str::to_owned);
                // Listings are newest first: once one started before `since`, the rest did too.
                if next.is_none() || older {
                    break;
                }
            }
        }
        found.sort_by_key(|e| std::cmp::Reverse(e.start));
        Ok(found)
    }

    /// The Map Runs an execution started (their ARNs).
    pub async fn map_runs(&self, execution_arn: &str) -> AwsResult<Vec<String>> {
        self.every_page("ListMapRuns", |token| async move {
            let page = self
                .sfn
                .list_map_runs()
                .execution_arn(execution_arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| call_error("ListMapRuns", e))?;
            let runs = page.map_runs().iter().map(|r| r.map_run_arn().to_owned());
            Ok((runs.collect(), page.next_token().map(str::to_owned)))
        })
        .await
    }

    /// The child executions of a Map Run (their ARNs).
    pub async fn map_run_executions(&self, map_run_arn: &str) -> AwsResult<Vec<String>> {
        self.every_page("ListExecutions", |token| async move {
            let page = self
                .sfn
                .list_executions()
                .map_run_arn(map_run_arn)
                .max_results(1000)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| call_error("ListExecutions", e))?;
            let arns = page
                .executions()
                .iter()
                .map(|e| e.execution_arn().to_owned());
            Ok((arns.collect(), page.next_token().map(str::to_owned)))
        })
        .await
    }

    /// Every item of a paged listing: `page` fetches one page from a token and gives its items
    /// and the next token; each page is retried as one call.
    async fn every_page<T, F, Fut>(&self, operation: &str, page: F) -> AwsResult<Vec<T>>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = AwsResult<(Vec<T>, Option<String>)>>,
    {
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let token = next.take();
            let (got, after) = self.call(operation, || page(token.clone())).await?;
            items.extend(got);
            match after {
                Some(token) => next = Some(token),
                None => return Ok(items),
            }
        }
    }

    /// Redrives an execution (Step Functions' `RedriveExecution`): it goes on from the state that
    /// did not succeed, with the same name and ARN.
    pub async fn redrive_execution(&self, arn: &str) -> AwsResult<()> {
        self.call("RedriveExecution", || async {
            self.sfn
                .redrive_execution()
                .execution_arn(arn)
                .send()
                .await
                .map_err(|e| call_error("RedriveExecution", e))
        })
        .await?;
        Ok(())
    }

    /// Starts an execution named `name` with `input` (JSON); returns its ARN.
    pub async fn start_execution(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> AwsResult<String> {
        let output = self
            .call("StartExecution", || async {
                self.sfn
                    .start_execution()
                    .state_machine_arn(state_machine_arn)
                    .name(name)
                    .input(input)
                    .send()
                    .await
                    .map_err(|e| call_error("StartExecution", e))
            })
            .await?;
        Ok(output.execution_arn().to_owned())
    }

    /// An execution's history, oldest first.
    pub async fn history(&self, arn: &str) -> AwsResult<Vec<HistoryEvent>> {
        let mut events = self
            .every_page("GetExecutionHistory", |token| async move {
                let page = self
                    .sfn
                    .get_execution_history()
                    .execution_arn(arn)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| call_error("GetExecutionHistory", e))?;
                let events = page.events().iter().map(HistoryEvent::of_sdk);
                Ok((events.collect(), page.next_token().map(str::to_owned)))
            })
            .await?;
        events.sort_by_key(|e: &HistoryEvent| e.id);
        Ok(events)
    }
}

/// How long polls wait between looks.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The calls that remove previews: what a stack holds, every stack, emptying buckets, log groups.
impl Aws {
    /// The physical ids of the stack's resources of `resource_type` (`AWS::S3::Bucket`).
    pub async fn stack_resources_of_type(
        &self,
        stack_name: &str,
        resource_type: &str,
    ) -> AwsResult<Vec<String>> {
        let mut ids = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let token = next.clone();
            let page = self
                .call("ListStackResources", || async {
                    self.cloudformation
                        .list_stack_resources()
                        .stack_name(stack_name)
                        .set_next_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| call_error("ListStackResources", e))
                })
                .await?;
            ids.extend(
                page.stack_resource_summaries()
                    .iter()
                    .filter(|r| r.resource_type() == Some(resource_type))
                    .filter_map(|r| r.physical_resource_id().map(str::to_owned)),
            );
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                return Ok(ids);
            }
        }
    }

    /// Every stack that is not deleted, with its tags.
    pub async fn all_stacks(&self) -> AwsResult<Vec<StackInfo>> {
        let mut stacks = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let token = next.clone();
            let page = self
                .call("DescribeStacks", || async {
                    self.cloudformation
                        .describe_stacks()
                        .set_next_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| call_error("DescribeStacks", e))
                })
                .await?;
            for stack in page.stacks() {
                let status = stack
                    .stack_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default();
                if status == "DELETE_COMPLETE" {
                    continue;
                }
                stacks.push(StackInfo {
                    name: stack.stack_name().unwrap_or_default().to_owned(),
                    status,
                    tags: stack
                        .tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                        .collect(),
                    ..StackInfo::default()
                });
            }
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                return Ok(stacks);
            }
        }
    }

    /// Deletes every object version and delete marker under `prefix` in `bucket` (and every
    /// current object, for buckets that never had versioning); returns how many were deleted. A
    /// bucket that does not exist has nothing to delete.
    pub async fn delete_all_objects(&self, bucket: &str, prefix: &str) -> AwsResult<u64> {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        let mut deleted = 0;
        loop {
            let listed = self
                .call("ListObjectVersions", || async {
                    self.s3
                        .list_object_versions()
                        .bucket(bucket)
                        .prefix(prefix)
                        .max_keys(1000)
                        .send()
                        .await
                        .map_err(|e| call_error("ListObjectVersions", e))
                })
                .await;
            let listed = match listed {
                Ok(listed) => listed,
                Err(error) if is_missing(&error) => return Ok(deleted),
                Err(error) => return Err(error),
            };
            let mut identifiers: Vec<ObjectIdentifier> = Vec::new();
            let versions = listed
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(
                    listed
                        .delete_markers()
                        .iter()
                        .map(|m| (m.key(), m.version_id())),
                );
            for (key, version) in versions {
                let Some(key) = key else { continue };
                let identifier = ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.filter(|v| *v != "null").map(str::to_owned))
                    .build()
                    .map_err(|e| construction("DeleteObjects", &e))?;
                identifiers.push(identifier);
            }
            if identifiers.is_empty() {
                // Objects written while versioning was never enabled may be listed only here.
                let current = self
                    .call("ListObjectsV2", || async {
                        self.s3
                            .list_objects_v2()
                            .bucket(bucket)
                            .prefix(prefix)
                            .send()
                            .await
                            .map_err(|e| call_error("ListObjectsV2", e))
                    })
                    .await?;
                for object in current.contents() {
                    if let Some(key) = object.key() {
                        identifiers.push(
                            ObjectIdentifier::builder()
                                .key(key)
                                .build()
                                .map_err(|e| construction("DeleteObjects", &e))?,
                        );
                    }
                }
            }
            if identifiers.is_empty() {
                return Ok(deleted);
            }
            let count = identifiers.len() as u64;
            let delete = Delete::builder()
                .set_objects(Some(identifiers))
                .quiet(true)
                .build()
                .map_err(|e| construction("DeleteObjects", &e))?;
            let answer = self
                .call("DeleteObjects", || async {
                    self.s3
                        .delete_objects()
                        .bucket(bucket)
                        .delete(delete.clone())
                        .send()
                        .await
                        .map_err(|e| call_error("DeleteObjects", e))
                })
                .await?;
            if let Some(failed) = answer.errors().first() {
                return Err(AwsCallError {
                    operation: "DeleteObjects".to_owned(),
                    facts: FailureFacts::without_answer(FailureKind::Service),
                    message: format!(
                        "{} of s3://{bucket}/{}: {}",
                        failed.code().unwrap_or("an error"),
                        failed.key().unwrap_or_default(),
                        failed.message().unwrap_or_default()
                    ),
                });
            }
            deleted += count;
        }
    }

    /// The names of the log groups whose names start with `prefix`.
    pub async fn log_groups(&self, prefix: &str) -> AwsResult<Vec<String>> {
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let token = next.clone();
            let page = self
                .call("DescribeLogGroups", || async {
                    self.logs
                        .describe_log_groups()
                        .log_group_name_prefix(prefix)
                        .set_next_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| call_error("DescribeLogGroups", e))
                })
                .await?;
            names.extend(
                page.log_groups()
                    .iter()
                    .filter_map(|g| g.log_group_name().map(str::to_owned)),
            );
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                return Ok(names);
            }
        }
    }

    /// Deletes a log group; `false` when it was already gone.
    pub async fn delete_log_group(&self, name: &str) -> AwsResult<bool> {
        let answer = self
            .call("DeleteLogGroup", || async {
                self.logs
                    .delete_log_group()
                    .log_group_name(name)
                    .send()
                    .await
                    .map_err(|e| call_error("DeleteLogGroup", e))
            })
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(error) if is_missing(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }
}

fn construction(operation: &str, error: &dyn std::fmt::Display) -> AwsCallError {
    AwsCallError {
        operation: operation.to_owned(),
        facts: FailureFacts::without_answer(FailureKind::Construction),
        message: error.to_string(),
    }
}

fn resource_change(change: &cfn::ResourceChange) -> ResourceChange {
    ResourceChange {
        action: ChangeAction::parse(change.action().map(|a| a.as_str()).unwrap_or_default()),
        logical_id: change.logical_resource_id().unwrap_or_default().to_owned(),
        physical_id: change.physical_resource_id().map(str::to_owned),
        resource_type: change.resource_type().unwrap_or_default().to_owned(),
        replacement: Replacement::parse(change.replacement().map(|r| r.as_str())),
        details: change
            .details()
            .iter()
            .map(|detail| {
                let target = detail.target();
                ChangeDetail {
                    attribute: target
                        .and_then(|t| t.attribute())
                        .map(|a| a.as_str().to_owned())
                        .unwrap_or_default(),
                    name: target.and_then(|t| t.name()).map(str::to_owned),
                    requires_recreation: target
                        .and_then(|t| t.requires_recreation())
                        .map(|r| r.as_str().to_owned()),
                    change_source: detail.change_source().map(|s| s.as_str().to_owned()),
                    causing_entity: detail.causing_entity().map(str::to_owned),
                }
            })
            .collect(),
    }
}

fn lock_item(record: &LockRecord) -> std::collections::HashMap<String, AttributeValue> {
    let text = |value: &str| AttributeValue::S(value.to_owned());
    let mut item = std::collections::HashMap::from([
        (KEY_ATTRIBUTE.to_owned(), text(&record.environment)),
        ("deployId".to_owned(), text(&record.deploy_id)),
        ("owner".to_owned(), text(&record.owner)),
        ("command".to_owned(), text(&record.command)),
        (
            "acquiredAt".to_owned(),
            text(&record.acquired_at.to_rfc3339()),
        ),
        (
            "expiresAt".to_owned(),
            text(&record.expires_at.to_rfc3339()),
        ),
    ]);
    if let Some(pid) = record.pid {
        item.insert("pid".to_owned(), AttributeValue::N(pid.to_string()));
    }
    if let Some(boot_id) = &record.boot_id {
        item.insert("bootId".to_owned(), text(boot_id));
    }
    item
}

fn lock_from_item(item: &std::collections::HashMap<String, AttributeValue>) -> Option<LockRecord> {
    let text = |name: &str| item.get(name)?.as_s().ok().cloned();
    let time = |name: &str| {
        DateTime::parse_from_rfc3339(&text(name)?)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    Some(LockRecord {
        environment: text(KEY_ATTRIBUTE)?,
        deploy_id: text("deployId")?,
        owner: text("owner").unwrap_or_default(),
        command: text("command").unwrap_or_default(),
        acquired_at: time("acquiredAt")?,
        expires_at: time("expiresAt")?,
        pid: item
            .get("pid")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok()),
        boot_id: text("bootId"),
    })
}
