//! Where a deploy goes: the stack and what it takes (the rendered manifest `stack.json`), the
//! names of the deploy prerequisites per environment (artifact bucket, lock table, CloudFormation
//! role), and the stack parameters a deploy passes. All pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use userlog_infra::{EnvironmentName, Rendered};

use crate::error::DeployError;
use crate::release::LATEST;

/// The stack-level tag only preview stacks carry; its value is the pull request number.
pub const PREVIEW_TAG: &str = "userlog-preview";

/// What `rendered/<env>/stack.json` says about the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackManifest {
    /// The stack's name.
    pub stack_name: String,
    /// The environment.
    pub environment: String,
    /// The region.
    pub region: String,
    /// The account.
    pub account_id: String,
    /// The capabilities the stack needs.
    pub capabilities: Vec<String>,
    /// Every stack parameter.
    pub parameters: Vec<String>,
    /// Every function and task.
    pub functions: Vec<ManifestFunction>,
    /// Every stack output.
    pub outputs: Vec<String>,
    /// The PostgreSQL schema of the environment.
    pub database_schema: Option<String>,
    /// How a deploy releases new versions unless told otherwise (absent: all at once).
    #[serde(default)]
    pub release: Option<ReleaseDefaults>,
}

/// The environment's release defaults, from its file (`release:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseDefaults {
    /// The share of calls, in percent, a new version takes while it bakes; 0: at once.
    pub canary_percent: u8,
    /// How long a canary bakes, in minutes.
    pub bake_minutes: u32,
}

/// One function or task of the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestFunction {
    /// Its key (`validate-csv`), also its package name under `functions/`.
    pub name: String,
    /// `lambda` or `ecs-task`.
    pub kind: String,
    /// Its name in AWS.
    pub resource_name: String,
    /// The parameter of its code key (Lambda functions).
    pub code_parameter: Option<String>,
    /// The parameter of its alias's version (Lambda functions).
    pub version_parameter: Option<String>,
    /// The parameter of the version a canary release sends a share of the calls to.
    #[serde(default)]
    pub canary_version_parameter: Option<String>,
    /// The parameter of that share (0 to 1).
    #[serde(default)]
    pub canary_weight_parameter: Option<String>,
    /// Its alias (Lambda functions).
    pub alias: Option<String>,
    /// Whether it has no package yet: the stack leaves it out until a deploy supplies its code.
    #[serde(default)]
    pub planned: bool,
}

impl ManifestFunction {
    /// Whether it is a Lambda function (with a code key and an alias).
    pub fn is_lambda(&self) -> bool {
        self.kind == "lambda"
    }
}

impl StackManifest {
    /// The manifest of a rendering (its `stack.json`).
    pub fn of(rendered: &Rendered) -> Result<Self, DeployError> {
        let files = rendered.files();
        let text = files
            .get("stack.json")
            .ok_or_else(|| DeployError::Rendering {
                environment: rendered.environment.to_string(),
                reason: "the rendering has no stack.json".to_owned(),
            })?;
        serde_json::from_str(text).map_err(|err| DeployError::Rendering {
            environment: rendered.environment.to_string(),
            reason: format!("stack.json does not read as a deploy manifest: {err}"),
        })
    }

    /// The Lambda functions.
    pub fn lambdas(&self) -> impl Iterator<Item = &ManifestFunction> {
        self.functions.iter().filter(|f| f.is_lambda())
    }
}

/// The names of what a deploy of one environment uses besides its stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// The environment.
    #[serde(serialize_with = "as_text")]
    pub environment: EnvironmentName,
    /// The stack.
    pub stack_name: String,
    /// Its region.
    pub region: String,
    /// Its account.
    pub account_id: String,
    /// The bucket of function zips, templates and release records.
    pub artifact_bucket: String,
    /// The prefix of this environment's keys in that bucket (`preview/` for previews).
    pub key_prefix: String,
    /// The DynamoDB table of deploy locks.
    pub lock_table: String,
    /// The role CloudFormation acts as; `None` locally, where the emulator has no roles to pass.
    pub cloudformation_role: Option<String>,
    /// Whether this goes to the local emulator (`local`, and previews hosted on it): prerequisites
    /// are created on demand and the template is adapted to what the emulator takes.
    pub is_local: bool,
    /// Whether functions are released as versions behind `stable` (previews run `$LATEST`).
    pub publishes_versions: bool,
}

fn as_text<S: serde::Serializer>(
    value: &EnvironmentName,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

impl Target {
    /// The target of `rendered`. The names follow `templates/bootstrap/bootstrap.yaml`: the
    /// artifact bucket `<env>-userlog-artifacts-<account>` and the role `<env>-userlog-cloudformation`;
    /// previews use those of the environment that hosts them (`platform.from`) under `preview/`.
    /// The lock table is `<env>-userlog-deploy-locks` (of the host for previews).
    pub fn of(rendered: &Rendered, host: Option<&str>) -> Self {
        let environment = rendered.environment;
        let slug = rendered
            .stack_name
            .strip_prefix(&format!("{environment}-"))
            .unwrap_or("userlog")
            .to_owned();
        let is_preview = environment.pull_request().is_some();
        let owner = match (is_preview, host) {
            (true, Some(host)) => host.to_owned(),
            _ => environment.to_string(),
        };
        let owner_prefix = format!("{owner}-{slug}");
        let is_local = environment == EnvironmentName::Local
            || (is_preview && host == Some(EnvironmentName::Local.to_string().as_str()));
        Target {
            environment,
            stack_name: rendered.stack_name.clone(),
            region: rendered.region.clone(),
            account_id: rendered.account_id.clone(),
            artifact_bucket: format!("{owner_prefix}-artifacts-{}", rendered.account_id),
            key_prefix: if is_preview {
                format!("preview/{environment}/")
            } else {
                String::new()
            },
            lock_table: format!("{owner_prefix}-deploy-locks"),
            cloudformation_role: (!is_local).then(|| {
                let suffix = if is_preview { "-preview" } else { "" };
                format!(
                    "arn:aws:iam::{}:role/{owner_prefix}-cloudformation{suffix}",
                    rendered.account_id
                )
            }),
            is_local,
            publishes_versions: !is_preview,
        }
    }

    /// The stack-level tags a deploy sets: previews carry [`PREVIEW_TAG`] with their pull request
    /// number, which is how `preview down` and `cleanup --stale` know a stack is a preview's.
    pub fn stack_tags(&self) -> BTreeMap<String, String> {
        self.environment
            .pull_request()
            .map(|number| (PREVIEW_TAG.to_owned(), number.to_string()))
            .into_iter()
            .collect()
    }

    /// The key of a template in the artifact bucket, by its content hash.
    pub fn template_key(&self, sha256: &str) -> String {
        format!(
            "{}templates/{}/{sha256}.json",
            self.key_prefix, self.stack_name
        )
    }

    /// The key of a function zip: the build's content-hashed key under this environment's prefix.
    pub fn code_key(&self, build_key: &str) -> String {
        format!("{}{build_key}", self.key_prefix)
    }
}

/// The URL CloudFormation reads a template from: path-style under the endpoint override when
/// there is one (the emulator), else the bucket's regional virtual-hosted URL.
pub fn template_url(endpoint: Option<&str>, region: &str, bucket: &str, key: &str) -> String {
    match endpoint {
        Some(endpoint) => format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/')),
        None => format!("https://{bucket}.s3.{region}.amazonaws.com/{key}"),
    }
}

/// The image of the import task's container by its digest, as the stack's task definition names
/// it (`<account>.dkr.ecr.<region>.amazonaws.com/<env>-userlog-import-csv@sha256:...`), or `None`
/// when the stack has no task definition.
pub fn task_image(rendered: &Rendered, digest: &str) -> Option<String> {
    let resources = rendered.template.get("Resources")?.as_mapping()?;
    resources.values().find_map(|resource| {
        if resource.get("Type")?.as_str()? != "AWS::ECS::TaskDefinition" {
            return None;
        }
        let image = resource
            .get("Properties")?
            .get("ContainerDefinitions")?
            .as_sequence()?
            .first()?
            .get("Image")?;
        let text = image.get("Fn::Sub").unwrap_or(image).as_str()?;
        Some(text.replace("${ImportCsvImageDigest}", digest))
    })
}

/// The value of one stack parameter in a change set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ParameterValue {
    /// This value.
    Value(String),
    /// The value the stack has now.
    UsePrevious,
}

/// The database a stack uses when it does not create one (`database.mode: external`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalDatabase {
    /// The host the functions connect to.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The database name.
    pub name: String,
    /// `{"username": ..., "password": ...}`.
    pub credentials_json: String,
}

/// What a deploy supplies for the stack's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParameterInputs {
    /// The artifact bucket.
    pub artifact_bucket: String,
    /// The code key of each Lambda function, by function key.
    pub code_keys: BTreeMap<String, String>,
    /// The version `stable` of each Lambda function points to, by function key.
    pub versions: BTreeMap<String, String>,
    /// The canary of each Lambda function that is being released gradually, by function key.
    pub canaries: BTreeMap<String, crate::canary::CanaryRoute>,
    /// The digest of the import-csv image.
    pub image_digest: String,
    /// The external database, for stacks that take one.
    pub external_database: Option<ExternalDatabase>,
}

/// Every parameter of the stack with its value; fails naming each parameter nothing supplies.
pub fn stack_parameters(
    manifest: &StackManifest,
    inputs: &ParameterInputs,
) -> Result<BTreeMap<String, ParameterValue>, DeployError> {
    let mut known: BTreeMap<String, String> = BTreeMap::new();
    known.insert("ArtifactBucket".to_owned(), inputs.artifact_bucket.clone());
    known.insert(
        "ImportCsvImageDigest".to_owned(),
        inputs.image_digest.clone(),
    );
    for function in manifest.lambdas() {
        if let (Some(parameter), Some(key)) = (
            &function.code_parameter,
            inputs.code_keys.get(&function.name),
        ) {
            known.insert(parameter.clone(), key.clone());
        }
        if let Some(parameter) = &function.version_parameter {
            let version = inputs
                .versions
                .get(&function.name)
                .cloned()
                .unwrap_or_else(|| LATEST.to_owned());
            known.insert(parameter.clone(), version);
        }
        let canary = inputs.canaries.get(&function.name);
        if let Some(parameter) = &function.canary_version_parameter {
            let version = canary.map(|c| c.version.clone()).unwrap_or_default();
            known.insert(parameter.clone(), version);
        }
        if let Some(parameter) = &function.canary_weight_parameter {
            let weight = canary.map_or_else(|| "0".to_owned(), |c| c.weight_text());
            known.insert(parameter.clone(), weight);
        }
    }
    if let Some(database) = &inputs.external_database {
        known.insert("ExternalDatabaseHost".to_owned(), database.host.clone());
        known.insert("ExternalDatabasePort".to_owned(), database.port.to_string());
        known.insert("ExternalDatabaseName".to_owned(), database.name.clone());
        known.insert(
            "ExternalDatabaseCredentials".to_owned(),
            database.credentials_json.clone(),
        );
    }
    let mut values = BTreeMap::new();
    let mut missing = Vec::new();
    for parameter in &manifest.parameters {
        match known.get(parameter) {
            Some(value) => {
                values.insert(parameter.clone(), ParameterValue::Value(value.clone()));
            }
            None => missing.push(parameter.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(DeployError::Settings(format!(
            "nothing supplies the stack parameter(s) {} of {}",
            missing.join(", "),
            manifest.stack_name
        )));
    }
    Ok(values)
}

/// The parameters of a change set that only moves aliases: every parameter keeps its value
/// except the versions in `versions` (by parameter name).
pub fn alias_parameters(
    manifest: &StackManifest,
    versions: &BTreeMap<String, String>,
) -> BTreeMap<String, ParameterValue> {
    manifest
        .parameters
        .iter()
        .map(|parameter| {
            let value = match versions.get(parameter) {
                Some(version) => ParameterValue::Value(version.clone()),
                None => ParameterValue::UsePrevious,
            };
            (parameter.clone(), value)
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use expect_test::expect;
    use userlog_infra::{Templates, render_environment};

    use super::*;

    /// `environment` rendered from the checkout's templates.
    pub(crate) fn rendered(environment: EnvironmentName) -> Rendered {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
        let templates = Templates::load(&dir).expect("the templates load");
        render_environment(environment, &templates).expect("the environment renders")
    }

    #[test]
    fn targets_follow_the_bootstrap_names_per_environment() {
        let summary = |target: Target| {
            format!(
                "{} bucket={} prefix={:?} locks={} role={:?} local={} versions={}\n",
                target.stack_name,
                target.artifact_bucket,
                target.key_prefix,
                target.lock_table,
                target.cloudformation_role,
                target.is_local,
                target.publishes_versions
            )
        };
        let text: String = [
            (EnvironmentName::Local, None),
            (EnvironmentName::Production, None),
            (EnvironmentName::Preview(7), Some("staging")),
        ]
        .into_iter()
        .map(|(environment, host)| summary(Target::of(&rendered(environment), host)))
        .collect();
        expect![[r#"
            local-userlog bucket=local-userlog-artifacts-000000000000 prefix="" locks=local-userlog-deploy-locks role=None local=true versions=true
            production-userlog bucket=production-userlog-artifacts-222222222222 prefix="" locks=production-userlog-deploy-locks role=Some("arn:aws:iam::222222222222:role/production-userlog-cloudformation") local=false versions=true
            preview-pr-7-userlog bucket=staging-userlog-artifacts-111111111111 prefix="preview/preview-pr-7/" locks=staging-userlog-deploy-locks role=Some("arn:aws:iam::111111111111:role/staging-userlog-cloudformation-preview") local=false versions=false
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn templates_are_read_path_style_from_an_emulator_and_virtual_hosted_from_aws() {
        assert_eq!(
            template_url(
                Some("http://127.0.0.1:4566/"),
                "ap-northeast-1",
                "b",
                "templates/s/x.json"
            ),
            "http://127.0.0.1:4566/b/templates/s/x.json"
        );
        assert_eq!(
            template_url(None, "ap-northeast-1", "b", "templates/s/x.json"),
            "https://b.s3.ap-northeast-1.amazonaws.com/templates/s/x.json"
        );
    }

    #[test]
    fn every_parameter_gets_a_value_or_the_deploy_says_which_lack_one() {
        let manifest = StackManifest::of(&rendered(EnvironmentName::Local)).expect("a manifest");
        let mut inputs = ParameterInputs {
            artifact_bucket: "bucket".to_owned(),
            image_digest: "sha256:0123".to_owned(),
            ..ParameterInputs::default()
        };
        for function in manifest.lambdas() {
            inputs.code_keys.insert(
                function.name.clone(),
                format!("functions/{}/hash.zip", function.name),
            );
        }
        inputs
            .versions
            .insert("validate-csv".to_owned(), "3".to_owned());
        let missing = stack_parameters(&manifest, &inputs).expect_err("the database is missing");
        expect![[r#"nothing supplies the stack parameter(s) ExternalDatabaseCredentials, ExternalDatabaseHost, ExternalDatabaseName, ExternalDatabasePort of local-userlog"#]]
            .assert_eq(&missing.to_string());
        inputs.external_database = Some(ExternalDatabase {
            host: "127.0.0.1".to_owned(),
            port: 5433,
            name: "userlog".to_owned(),
            credentials_json: r#"{"username":"userlog","password":"x"}"#.to_owned(),
        });
        let values = stack_parameters(&manifest, &inputs).expect("every parameter");
        let text: String = values
            .iter()
            .map(|(name, value)| format!("{name}={value:?}\n"))
            .collect();
        expect![[r#"
            ArtifactBucket=Value("bucket")
            CheckErrorsCanaryVersion=Value("")
            CheckErrorsCanaryWeight=Value("0")
            CheckErrorsCodeKey=Value("functions/check-errors/hash.zip")
            CheckErrorsVersion=Value("$LATEST")
            ExportStatsCanaryVersion=Value("")
            ExportStatsCanaryWeight=Value("0")
            ExportStatsCodeKey=Value("functions/export-stats/hash.zip")
            ExportStatsVersion=Value("$LATEST")
            ExternalDatabaseCredentials=Value("{\"username\":\"userlog\",\"password\":\"x\"}")
            ExternalDatabaseHost=Value("127.0.0.1")
            ExternalDatabaseName=Value("userlog")
            ExternalDatabasePort=Value("5433")
            ImportCsvImageDigest=Value("sha256:0123")
            ProcessUserLogCanaryVersion=Value("")
            ProcessUserLogCanaryWeight=Value("0")
            ProcessUserLogCodeKey=Value("functions/process-user-log/hash.zip")
            ProcessUserLogVersion=Value("$LATEST")
            StatsApiCanaryVersion=Value("")
            StatsApiCanaryWeight=Value("0")
            StatsApiCodeKey=Value("functions/stats-api/hash.zip")
            StatsApiVersion=Value("$LATEST")
            ValidateCsvCanaryVersion=Value("")
            ValidateCsvCanaryWeight=Value("0")
            ValidateCsvCodeKey=Value("functions/validate-csv/hash.zip")
            ValidateCsvVersion=Value("3")
        "#]]
        .assert_eq(&text);
        let aliases = alias_parameters(
            &manifest,
            &BTreeMap::from([("ValidateCsvVersion".to_owned(), "4".to_owned())]),
        );
        assert_eq!(
            aliases.get("ValidateCsvVersion"),
            Some(&ParameterValue::Value("4".to_owned()))
        );
        assert_eq!(
            aliases.get("ValidateCsvCodeKey"),
            Some(&ParameterValue::UsePrevious)
        );
    }
}
