//! Rendering: one environment's parameters plus the source templates give the concrete documents.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::env::{DatabaseMode, EnvironmentConfig, EnvironmentName, PlatformMode, ProjectConfig};
use crate::error::InfraError;
use crate::functions::{
    Catalog, CatalogEntry, FunctionKind, Principal, PrincipalContext, parse_functions,
    task_log_group,
};
use crate::iam::Reasons;
use crate::subst::{Params, scalar_text};
use crate::templates::Templates;

/// The logical id of the import state machine.
pub const STATE_MACHINE_ID: &str = "ImportStateMachine";

/// The documents of one environment.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The environment.
    pub environment: EnvironmentName,
    /// Its region.
    pub region: String,
    /// Its account.
    pub account_id: String,
    /// The CloudFormation stack name.
    pub stack_name: String,
    /// The stack template (with the state machine definition as a structured value).
    pub template: Value,
    /// The account-level bootstrap template, for environments that have one.
    pub bootstrap: Option<Value>,
    /// The stack policy that protects stateful resources.
    pub stack_policy: serde_json::Value,
    /// Every function and task, with what their roles must allow.
    pub principals: Vec<Principal>,
    /// Written reasons for `*` resources, by (role logical id, Sid).
    pub reasons: Reasons,
    /// The namespace of the custom metrics.
    pub metrics_namespace: String,
    /// The GitHub repository whose workflows may deploy.
    pub repository: String,
    /// Whether stateful resources must survive the stack (false for previews and local).
    pub retain_data: bool,
    /// How deploys release new versions by default.
    pub release: Option<crate::env::ReleaseConfig>,
    /// The environment's database connection budget.
    pub connections: crate::env::ConnectionBudget,
    /// The IAM path of every role the stack creates (`names.rolePath`).
    pub role_path: String,
    /// The ARN of the permissions boundary every role of the stack carries (`arns.roleBoundary`).
    pub role_boundary: String,
}

/// Loads an environment's parameters from the templates (deriving `preview-pr-<N>` from preview.yaml).
pub fn load_environment(
    name: EnvironmentName,
    templates: &Templates,
) -> Result<EnvironmentConfig, InfraError> {
    let file = format!("environments/{}", name.file_name());
    EnvironmentConfig::parse(name, &file, templates.get(&file)?)
}

/// Loads and renders one environment.
pub fn render_environment(
    name: EnvironmentName,
    templates: &Templates,
) -> Result<Rendered, InfraError> {
    render(&load_environment(name, templates)?, templates)
}

/// Loads the parameters of the preview of pull request `number` on the platform of `host`: the
/// preview shares that environment's account, region, network, database and keys (through its
/// stack's exports). With `host` staging this is `preview.yaml` as it stands.
pub fn load_preview(
    number: u32,
    host: EnvironmentName,
    templates: &Templates,
) -> Result<EnvironmentConfig, InfraError> {
    if host.pull_request().is_some() {
        return Err(InfraError::invalid(
            "environments/preview.yaml",
            format!("a preview cannot be hosted on another preview ({host})"),
        ));
    }
    let mut config = load_environment(EnvironmentName::Preview(number), templates)?;
    let platform = load_environment(host, templates)?;
    config.platform.from = Some(host.to_string());
    config.account_id = platform.account_id;
    config.region = platform.region;
    Ok(config)
}

/// Renders the preview of pull request `number` on the platform of `host` (see [`load_preview`]).
pub fn render_preview(
    number: u32,
    host: EnvironmentName,
    templates: &Templates,
) -> Result<Rendered, InfraError> {
    render(&load_preview(number, host, templates)?, templates)
}

fn parse_yaml(templates: &Templates, file: &str) -> Result<Value, InfraError> {
    serde_yaml::from_str(templates.get(file)?).map_err(|err| InfraError::invalid(file, err))
}

fn mapping_list(pairs: &[(&str, Value)]) -> Value {
    let mut mapping = Mapping::new();
    for (key, value) in pairs {
        mapping.insert(Value::String((*key).to_owned()), value.clone());
    }
    Value::Mapping(mapping)
}

/// Renders every document of one environment. Pure: same inputs, same output.
pub fn render(config: &EnvironmentConfig, templates: &Templates) -> Result<Rendered, InfraError> {
    let project: ProjectConfig = serde_yaml::from_str(templates.get("project.yaml")?)
        .map_err(|err| InfraError::invalid("project.yaml", err))?;
    let environment = config.environment();
    let env = environment.to_string();
    let prefix = format!("{env}-{}", project.slug);
    let shared = config.platform.mode == PlatformMode::Shared;
    let platform_prefix = match &config.platform.from {
        Some(from) if shared => format!("{from}-{}", project.slug),
        _ => prefix.clone(),
    };

    let mut params = Params::default();
    params.set("env", env.as_str());
    params.set("slug", project.slug.as_str());
    params.set("prefix", prefix.as_str());
    params.set("prefixSnake", prefix.replace('-', "_"));
    params.set("platformPrefix", platform_prefix.as_str());
    // Which of the platform's permissions boundaries this stack's roles carry (`names.roleBoundary`).
    params.set("roleBoundaryKind", if shared { "preview" } else { "stack" });
    // Which of the platform's image repositories the import task's image comes from.
    params.set(
        "imageRepositorySuffix",
        if shared { "-preview" } else { "" },
    );
    params.set("region", config.region.as_str());
    params.set("accountId", config.account_id.as_str());
    params.set("repository", project.repository.as_str());
    params.set("deployBranch", project.deploy_branch.as_str());

    let network = config.network.as_ref();
    let database = config.database.as_ref();
    let aurora = !shared && database.is_some_and(|d| d.mode == DatabaseMode::Aurora);
    let nat_gateways = network.map_or(0, |n| n.nat_gateways);
    params.set("flags.ownPlatform", !shared);
    params.set("flags.sharedPlatform", shared);
    params.set("flags.aurora", aurora);
    params.set(
        "flags.externalDatabase",
        !shared && database.is_some_and(|d| d.mode == DatabaseMode::External),
    );
    params.set("flags.proxy", aurora && database.is_some_and(|d| d.proxy));
    // The previews role exists where previews may share the database: an environment that hosts
    // them, and the local one (whose previews are the tests').
    params.set(
        "flags.previewsDatabaseRole",
        !shared
            && (config.bootstrap.as_ref().is_some_and(|b| b.hosts_previews)
                || database.is_some_and(|d| d.mode == DatabaseMode::External)),
    );
    params.set("flags.nat", nat_gateways >= 1);
    params.set("flags.twoNat", nat_gateways >= 2);
    params.set(
        "flags.operatorHost",
        network.is_some_and(|n| n.operator_host),
    );
    params.set(
        "flags.notificationEmails",
        !config.notifications.emails.is_empty(),
    );
    params.set("retainData", config.retain_data);
    params.set("deleteWithStack", !config.retain_data);
    params.set(
        "retainPolicy",
        if config.retain_data {
            "Retain"
        } else {
            "Delete"
        },
    );
    params.set(
        "snapshotPolicy",
        if config.retain_data {
            "Snapshot"
        } else {
            "Delete"
        },
    );

    let mut tags = project.tags.clone();
    tags.insert("environment".to_owned(), env.clone());
    params.set(
        "tags",
        Value::Sequence(
            tags.iter()
                .map(|(key, value)| {
                    mapping_list(&[
                        ("Key", key.as_str().into()),
                        ("Value", value.as_str().into()),
                    ])
                })
                .collect(),
        ),
    );
    params.set(
        "tagMap",
        Value::Mapping(
            tags.iter()
                .map(|(key, value)| (key.as_str().into(), value.as_str().into()))
                .collect(),
        ),
    );

    let tree =
        serde_yaml::to_value(config).map_err(|err| InfraError::invalid("environment", err))?;
    for (key, value) in tree.as_mapping().into_iter().flatten() {
        if let Some(key) = key.as_str()
            && !value.is_null()
        {
            params.set_tree(key, value);
        }
    }
    params.set("database.schema", config.database_schema());
    if let Some(version) = database.and_then(|d| d.engine_version.as_deref()) {
        // Aurora's parameter group family is the engine's major version.
        let major = version.split('.').next().unwrap_or(version);
        params.set(
            "database.parameterGroupFamily",
            format!("aurora-postgresql{major}"),
        );
    }
    if let Some(network) = network {
        params.set(
            "network.privateSubnetA",
            network.private_subnets[0].as_str(),
        );
        params.set(
            "network.privateSubnetB",
            network.private_subnets[1].as_str(),
        );
        params.set("network.publicSubnetA", network.public_subnets[0].as_str());
        params.set("network.publicSubnetB", network.public_subnets[1].as_str());
    }
    params.set(
        "alarms.executionTimeMillis",
        u64::from(config.alarms.execution_time_minutes) * 60_000,
    );
    params.set(
        "notifications.emailList",
        config.notifications.emails.join(","),
    );
    params.set("api.jwtAudienceList", config.api.jwt_audience.join(","));
    params.set("dashboard.originList", config.dashboard.origins.join(","));
    let subscriptions = |emails: &[String]| -> Value {
        if emails.is_empty() {
            return Value::String(crate::subst::OMIT.to_owned());
        }
        Value::Sequence(
            emails
                .iter()
                .map(|email| {
                    mapping_list(&[
                        ("Endpoint", email.as_str().into()),
                        ("Protocol", "email".into()),
                    ])
                })
                .collect(),
        )
    };
    params.set(
        "notifications.subscriptions",
        subscriptions(&config.notifications.emails),
    );
    params.set("alarms.subscriptions", subscriptions(&config.alarms.emails));

    // Names, ARNs, cross-stack references, keys and the catalog, in that order.
    let resources_file = "resources.yaml";
    let resources = parse_yaml(templates, resources_file)?;
    for section in ["names", "arns"] {
        let rendered = params.render(
            resources_file,
            resources.get(section).unwrap_or(&Value::Null),
        )?;
        for (key, value) in rendered.as_mapping().into_iter().flatten() {
            if let Some(key) = key.as_str() {
                params.set(format!("{section}.{key}"), value.clone());
            }
        }
    }
    let mut exports = Vec::new();
    for (key, entry) in resources
        .get("refs")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
    {
        let (Some(key), Some(export)) = (key.as_str(), entry.get("export").and_then(Value::as_str))
        else {
            return Err(InfraError::invalid(
                resources_file,
                "every `refs` entry needs `export` and `own`",
            ));
        };
        let value = match entry.get("shared") {
            Some(own_resource) if shared => params.render(resources_file, own_resource)?,
            _ if shared => mapping_list(&[(
                "Fn::ImportValue",
                format!("{platform_prefix}-{export}").into(),
            )]),
            _ => {
                let own =
                    params.render(resources_file, entry.get("own").unwrap_or(&Value::Null))?;
                if !own.is_null() {
                    exports.push((export.to_owned(), own.clone()));
                }
                own
            }
        };
        params.set(format!("refs.{key}"), value);
    }
    let keys = params.render(
        resources_file,
        resources.get("keys").unwrap_or(&Value::Null),
    )?;
    let mut catalog = Catalog {
        entries: BTreeMap::new(),
        keys: BTreeMap::new(),
    };
    for (key, value) in keys.as_mapping().into_iter().flatten() {
        if let Some(key) = key.as_str() {
            catalog.keys.insert(key.to_owned(), value.clone());
            params.set(format!("keys.{key}"), value.clone());
        }
    }
    let rendered_catalog = params.render(
        resources_file,
        resources.get("catalog").unwrap_or(&Value::Null),
    )?;
    for (key, value) in rendered_catalog.as_mapping().into_iter().flatten() {
        let Some(key) = key.as_str() else { continue };
        let arn = value.get("arn").cloned().ok_or_else(|| {
            InfraError::invalid(resources_file, format!("catalog `{key}` has no arn"))
        })?;
        let key_name = value.get("key").and_then(Value::as_str).map(str::to_owned);
        catalog
            .entries
            .insert(key.to_owned(), CatalogEntry { arn, key: key_name });
    }

    // Functions and tasks.
    let functions_file = "functions.yaml";
    let functions_value = params.render(functions_file, &parse_yaml(templates, functions_file)?)?;
    let functions_text = serde_yaml::to_string(&functions_value)
        .map_err(|err| InfraError::invalid(functions_file, err))?;
    let functions = parse_functions(&functions_text)?;
    let image_repository_arn = params
        .get("arns.imageRepository")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let context = PrincipalContext {
        prefix: &prefix,
        region: &config.region,
        account_id: &config.account_id,
        image_repository_arn: &image_repository_arn,
    };
    let mut principals = Vec::new();
    for (key, spec) in &functions.functions {
        principals.push(spec.principal(key, &catalog, &context)?);
    }
    // What serves only one function carries `Condition: ${functions.<id>.condition}`: the
    // function's deployed condition when it is planned, nothing (`Render::Omit`) otherwise.
    for principal in &principals {
        params.set(
            format!("functions.{}.condition", lower_camel(&principal.id)),
            condition_or_omit(principal),
        );
    }

    // The state machine.
    let asl_file = "state-machines/import.asl.yaml";
    let definition = params.render(asl_file, &parse_yaml(templates, asl_file)?)?;
    params.set("stateMachines.import", definition);
    let function_metrics: Vec<Value> = principals
        .iter()
        .filter(|p| p.kind == FunctionKind::Lambda)
        .flat_map(|p| {
            ["Errors", "Throttles"].map(|metric| {
                Value::Sequence(vec![
                    "AWS/Lambda".into(),
                    metric.into(),
                    "FunctionName".into(),
                    p.name.as_str().into(),
                ])
            })
        })
        .collect();
    params.set(
        "dashboard.functionMetrics",
        Value::Sequence(function_metrics),
    );

    // The stack: shared fragments, then one instance of the per-function fragments per function.
    let mut fragments: Vec<(String, Value)> = Vec::new();
    for file in templates.yaml_files_in("stack") {
        fragments.push((
            file.to_owned(),
            params.render(file, &parse_yaml(templates, file)?)?,
        ));
    }
    for (principal, spec) in principals.iter().zip(functions.functions.values()) {
        let mut own = params.clone();
        let environment =
            environment_variables(&params, principal, spec.database, &spec.environment)?;
        match principal.kind {
            FunctionKind::Lambda => {
                own.set("function.id", principal.id.as_str());
                own.set("function.key", principal.key.as_str());
                own.set("function.name", principal.name.as_str());
                own.set("function.description", spec.description.as_str());
                own.set("function.memory", spec.memory.unwrap_or(256));
                own.set(
                    "function.timeoutSeconds",
                    spec.timeout_seconds.unwrap_or(30),
                );
                own.set("function.vpc", spec.vpc);
                own.set("function.planned", principal.planned);
                // A function that touches the database runs at most its share of the connection
                // budget at once; one that does not is left to the account's concurrency.
                own.set(
                    "function.reservedConcurrency",
                    match config.connections.concurrency.get(&principal.key) {
                        Some(&concurrency) if spec.database.is_some() => Value::from(concurrency),
                        _ => Value::String(crate::subst::OMIT.to_owned()),
                    },
                );
                own.set("function.condition", condition_or_omit(principal));
                own.set(
                    "function.environment",
                    Value::Mapping(
                        environment
                            .into_iter()
                            .map(|(k, v)| (Value::String(k), v))
                            .collect(),
                    ),
                );
                own.set(
                    "function.statements",
                    Value::Sequence(
                        principal
                            .grants
                            .iter()
                            .map(crate::iam::Grant::statement)
                            .collect(),
                    ),
                );
                let file = "stack/per-function/lambda.yaml";
                fragments.push((
                    format!("{file} ({})", principal.key),
                    own.render(file, &parse_yaml(templates, file)?)?,
                ));
            }
            FunctionKind::EcsTask => {
                own.set("task.id", principal.id.as_str());
                own.set("task.key", principal.key.as_str());
                own.set("task.name", principal.name.as_str());
                own.set("task.roleName", format!("{}-task", principal.name));
                own.set(
                    "task.executionRoleName",
                    format!("{}-task-execution", principal.name),
                );
                own.set("task.logGroup", task_log_group(&principal.name));
                own.set("task.container", principal.key.as_str());
                own.set(
                    "task.environment",
                    Value::Sequence(
                        environment
                            .into_iter()
                            .map(|(name, value)| {
                                mapping_list(&[("Name", Value::String(name)), ("Value", value)])
                            })
                            .collect(),
                    ),
                );
                own.set(
                    "task.statements",
                    Value::Sequence(
                        principal
                            .grants
                            .iter()
                            .map(crate::iam::Grant::statement)
                            .collect(),
                    ),
                );
                own.set(
                    "task.executionStatements",
                    Value::Sequence(
                        principal
                            .execution_grants
                            .iter()
                            .map(crate::iam::Grant::statement)
                            .collect(),
                    ),
                );
                let file = "stack/per-function/ecs-task.yaml";
                fragments.push((
                    format!("{file} ({})", principal.key),
                    own.render(file, &parse_yaml(templates, file)?)?,
                ));
            }
        }
    }
    let mut template = merge_fragments(&fragments)?;
    add_exports(&mut template, &prefix, exports);
    let mut reasons = Reasons::new();
    extract_reasons("stack", &mut template, &mut reasons)?;
    sort_sections(&mut template);

    let bootstrap = match &config.bootstrap {
        Some(settings) => {
            let file = "bootstrap/bootstrap.yaml";
            let mut own = params.clone();
            own.set(
                "bootstrap.createOidcProvider",
                settings.create_oidc_provider,
            );
            own.set("bootstrap.hostsPreviews", settings.hosts_previews);
            own.set(
                "bootstrap.functionArns",
                Value::Sequence(
                    principals
                        .iter()
                        .filter(|p| p.kind == FunctionKind::Lambda)
                        .map(|p| {
                            Value::String(format!(
                                "arn:aws:lambda:{}:{}:function:{}",
                                config.region, config.account_id, p.name
                            ))
                        })
                        .collect(),
                ),
            );
            let mut rendered = merge_fragments(&[(
                file.to_owned(),
                own.render(file, &parse_yaml(templates, file)?)?,
            )])?;
            extract_reasons("bootstrap", &mut rendered, &mut reasons)?;
            sort_sections(&mut rendered);
            Some(rendered)
        }
        None => None,
    };

    let stack_policy = stack_policy(&template);
    let param = |name: &str| {
        params
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let role_path = param("names.rolePath");
    let role_boundary = param("arns.roleBoundary");
    Ok(Rendered {
        environment,
        region: config.region.clone(),
        account_id: config.account_id.clone(),
        stack_name: prefix,
        template,
        bootstrap,
        stack_policy,
        principals,
        reasons,
        metrics_namespace: functions.metrics_namespace,
        repository: project.repository,
        retain_data: config.retain_data,
        release: config.release.clone(),
        connections: config.connections.clone(),
        role_path,
        role_boundary,
    })
}

/// The lowerCamel form of an UpperCamel id (`StatsApi` → `statsApi`), as parameter names spell it.
fn lower_camel(id: &str) -> String {
    let mut chars = id.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// The value of a `Condition:` that makes a resource exist only with `principal`: the name of its
/// deployed condition when it is planned, `Render::Omit` (no condition) otherwise.
fn condition_or_omit(principal: &Principal) -> Value {
    Value::String(
        principal
            .deployed_condition()
            .unwrap_or_else(|| crate::subst::OMIT.to_owned()),
    )
}

/// The environment variables of a function or task, as strings (intrinsics stay as they are).
fn environment_variables(
    params: &Params,
    principal: &Principal,
    database: Option<crate::functions::DatabaseAccess>,
    declared: &Mapping,
) -> Result<BTreeMap<String, Value>, InfraError> {
    let mut variables = BTreeMap::new();
    let reference = |name: &str| params.get(name).cloned().unwrap_or(Value::Null);
    variables.insert("ENVIRONMENT".to_owned(), reference("env"));
    if let Some(access) = database {
        variables.insert("DATABASE_HOST".to_owned(), reference("refs.databaseHost"));
        variables.insert(
            "DATABASE_READER_HOST".to_owned(),
            reference("refs.databaseReaderHost"),
        );
        variables.insert("DATABASE_PORT".to_owned(), reference("refs.databasePort"));
        variables.insert("DATABASE_NAME".to_owned(), reference("refs.databaseName"));
        variables.insert("DATABASE_SCHEMA".to_owned(), reference("database.schema"));
        variables.insert(
            "DATABASE_SECRET_ARN".to_owned(),
            reference(access.secret_param()),
        );
        if access != crate::functions::DatabaseAccess::Legacy {
            variables.insert(
                "DATABASE_SSLMODE".to_owned(),
                reference("refs.databaseSslMode"),
            );
        }
    }
    for (name, value) in declared {
        let name = name.as_str().unwrap_or_default().to_owned();
        let value = match value {
            Value::Mapping(_) => value.clone(),
            other => Value::String(scalar_text(other).ok_or_else(|| {
                InfraError::invalid(
                    "functions.yaml",
                    format!("{}: environment {name:?} is not a scalar", principal.key),
                )
            })?),
        };
        if variables.insert(name.clone(), value).is_some() {
            return Err(InfraError::invalid(
                "functions.yaml",
                format!(
                    "{}: environment {name:?} is set by rendering already",
                    principal.key
                ),
            ));
        }
    }
    Ok(variables)
}

const MERGED_SECTIONS: &[&str] = &["Parameters", "Conditions", "Resources", "Outputs"];

/// Joins template fragments; a logical id defined twice is an error naming both files.
fn merge_fragments(fragments: &[(String, Value)]) -> Result<Value, InfraError> {
    let mut root = Mapping::new();
    let mut origin: BTreeMap<(String, String), String> = BTreeMap::new();
    for (file, fragment) in fragments {
        let Some(mapping) = fragment.as_mapping() else {
            return Err(InfraError::invalid(
                file,
                "a stack fragment must be a mapping",
            ));
        };
        for (key, value) in mapping {
            let Some(section) = key.as_str() else {
                continue;
            };
            if MERGED_SECTIONS.contains(&section) {
                let target = root
                    .entry(key.clone())
                    .or_insert_with(|| Value::Mapping(Mapping::new()))
                    .as_mapping_mut()
                    .expect("sections are mappings");
                for (id, body) in value.as_mapping().into_iter().flatten() {
                    let id_text = id.as_str().unwrap_or_default().to_owned();
                    if let Some(first) =
                        origin.insert((section.to_owned(), id_text.clone()), file.clone())
                    {
                        return Err(InfraError::template(
                            file,
                            format!("{section} `{id_text}` is already defined in `{first}`"),
                        ));
                    }
                    target.insert(id.clone(), body.clone());
                }
            } else if root.insert(key.clone(), value.clone()).is_some() {
                return Err(InfraError::template(
                    file,
                    format!("`{section}` is defined by more than one fragment"),
                ));
            }
        }
    }
    Ok(Value::Mapping(root))
}

/// Exports the platform values that previews import.
fn add_exports(template: &mut Value, prefix: &str, exports: Vec<(String, Value)>) {
    let Some(outputs) = template.get_mut("Outputs").and_then(Value::as_mapping_mut) else {
        return;
    };
    for (export, value) in exports {
        let output = mapping_list(&[
            (
                "Description",
                Value::String(format!(
                    "Shared with the environments that use this platform ({export})."
                )),
            ),
            ("Value", value),
            (
                "Export",
                mapping_list(&[("Name", Value::String(format!("{prefix}-{export}")))]),
            ),
        ]);
        outputs.insert(Value::String(format!("Shared{export}")), output);
    }
}

/// Moves the `Reason` of every IAM statement out of the template into `reasons`.
fn extract_reasons(
    document: &str,
    template: &mut Value,
    reasons: &mut Reasons,
) -> Result<(), InfraError> {
    let Some(resources) = template
        .get_mut("Resources")
        .and_then(Value::as_mapping_mut)
    else {
        return Ok(());
    };
    for (id, resource) in resources.iter_mut() {
        let id = id.as_str().unwrap_or_default().to_owned();
        let Some(policies) = resource
            .get_mut("Properties")
            .and_then(|p| p.get_mut("Policies"))
            .and_then(Value::as_sequence_mut)
        else {
            continue;
        };
        for policy in policies {
            let Some(statements) = policy
                .get_mut("PolicyDocument")
                .and_then(|d| d.get_mut("Statement"))
                .and_then(Value::as_sequence_mut)
            else {
                continue;
            };
            for statement in statements {
                let Some(statement) = statement.as_mapping_mut() else {
                    continue;
                };
                if let Some(reason) = statement.remove("Reason") {
                    let sid = statement
                        .get("Sid")
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            InfraError::template(
                                document,
                                format!("{id}: a statement with a `Reason` needs a `Sid`"),
                            )
                        })?;
                    reasons.insert(
                        (id.clone(), sid.to_owned()),
                        reason.as_str().unwrap_or_default().to_owned(),
                    );
                }
            }
        }
    }
    Ok(())
}

/// Sorts the sections whose order carries no meaning, so that renderings and diffs are stable.
fn sort_sections(template: &mut Value) {
    let Some(root) = template.as_mapping_mut() else {
        return;
    };
    let mut ordered = Mapping::new();
    let order = [
        "AWSTemplateFormatVersion",
        "Description",
        "Parameters",
        "Conditions",
        "Resources",
        "Outputs",
    ];
    for key in order {
        if let Some(mut value) = root.remove(key) {
            if let Some(section) = value.as_mapping_mut() {
                let mut entries: Vec<(Value, Value)> =
                    std::mem::take(section).into_iter().collect();
                entries.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
                *section = entries.into_iter().collect();
            }
            ordered.insert(key.into(), value);
        }
    }
    for (key, value) in std::mem::take(root) {
        ordered.insert(key, value);
    }
    *root = ordered;
}

/// Resource types that hold data: replacing or deleting one loses it.
pub const STATEFUL_TYPES: &[&str] = &[
    "AWS::DynamoDB::Table",
    "AWS::KMS::Key",
    "AWS::RDS::DBCluster",
    "AWS::S3::Bucket",
    "AWS::SecretsManager::Secret",
];

/// The stack policy: updates may do anything except replace or delete a stateful resource.
pub fn stack_policy(template: &Value) -> serde_json::Value {
    let protected: Vec<String> = template
        .get("Resources")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter(|(_, body)| {
            body.get("Type")
                .and_then(Value::as_str)
                .is_some_and(|kind| STATEFUL_TYPES.contains(&kind))
        })
        .filter_map(|(id, _)| id.as_str().map(|id| format!("LogicalResourceId/{id}")))
        .collect();
    serde_json::json!({
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "Update:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": ["Update:Replace", "Update:Delete"], "Resource": protected}
        ]
    })
}

/// What deploys need to know about the stack, beside the template.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    stack_name: &'a str,
    environment: String,
    region: &'a str,
    account_id: &'a str,
    capabilities: [&'a str; 1],
    parameters: Vec<&'a str>,
    functions: Vec<ManifestFunction<'a>>,
    outputs: Vec<&'a str>,
    database_schema: Option<&'a str>,
    release: Option<&'a crate::env::ReleaseConfig>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestFunction<'a> {
    name: &'a str,
    kind: FunctionKind,
    resource_name: &'a str,
    code_parameter: Option<String>,
    version_parameter: Option<String>,
    canary_version_parameter: Option<String>,
    canary_weight_parameter: Option<String>,
    alias: Option<&'a str>,
    planned: bool,
}

impl Rendered {
    /// The import state machine's definition, as it is in the template.
    pub fn state_machine(&self) -> Option<&Value> {
        self.template
            .get("Resources")?
            .get(STATE_MACHINE_ID)?
            .get("Properties")?
            .get("Definition")
    }

    /// The import state machine's definition, to change it (tests do).
    pub fn state_machine_mut(&mut self) -> Option<&mut Value> {
        self.template
            .get_mut("Resources")?
            .get_mut(STATE_MACHINE_ID)?
            .get_mut("Properties")?
            .get_mut("Definition")
    }

    /// The template with the checks' lookups.
    pub fn cfn(&self) -> crate::cfn::Template<'_> {
        crate::cfn::Template::new(&self.template, &self.region, &self.account_id)
    }

    /// Every rendered file, by name.
    pub fn files(&self) -> BTreeMap<String, String> {
        let header = format!(
            "# The {} stack, rendered from templates/ by `cargo xtask render --env {}`. Do not edit.\n",
            self.stack_name, self.environment
        );
        let mut files = BTreeMap::new();
        files.insert(
            "template.yaml".to_owned(),
            format!("{header}{}", to_yaml(&self.template)),
        );
        if let Some(definition) = self.state_machine() {
            files.insert("import.asl.json".to_owned(), to_json(definition));
        }
        files.insert("stack-policy.json".to_owned(), to_json(&self.stack_policy));
        files.insert("stack.json".to_owned(), to_json(&self.manifest()));
        files.insert("iam.yaml".to_owned(), to_yaml(&self.iam_review()));
        if let Some(bootstrap) = &self.bootstrap {
            let header = format!(
                "# The account bootstrap of {}, rendered from templates/ by `cargo xtask render --env {}`. Do not edit.\n",
                self.stack_name, self.environment
            );
            files.insert(
                "bootstrap.yaml".to_owned(),
                format!("{header}{}", to_yaml(bootstrap)),
            );
        }
        files
    }

    fn manifest(&self) -> serde_json::Value {
        let keys = |section: &str| -> Vec<&str> {
            self.template
                .get(section)
                .and_then(Value::as_mapping)
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| k.as_str())
                .collect()
        };
        let manifest = Manifest {
            stack_name: &self.stack_name,
            environment: self.environment.to_string(),
            region: &self.region,
            account_id: &self.account_id,
            capabilities: ["CAPABILITY_NAMED_IAM"],
            parameters: keys("Parameters"),
            functions: self
                .principals
                .iter()
                .map(|p| ManifestFunction {
                    name: &p.key,
                    kind: p.kind,
                    resource_name: &p.name,
                    code_parameter: (p.kind == FunctionKind::Lambda)
                        .then(|| format!("{}CodeKey", p.id)),
                    version_parameter: (p.kind == FunctionKind::Lambda)
                        .then(|| format!("{}Version", p.id)),
                    canary_version_parameter: (p.kind == FunctionKind::Lambda)
                        .then(|| format!("{}CanaryVersion", p.id)),
                    canary_weight_parameter: (p.kind == FunctionKind::Lambda)
                        .then(|| format!("{}CanaryWeight", p.id)),
                    alias: (p.kind == FunctionKind::Lambda).then_some("stable"),
                    planned: p.planned,
                })
                .collect(),
            outputs: keys("Outputs"),
            database_schema: None,
            release: self.release.as_ref(),
        };
        let mut value = serde_json::to_value(manifest).unwrap_or_default();
        if let Some(schema) = self
            .template
            .get("Outputs")
            .and_then(|o| o.get("DatabaseSchema"))
            .and_then(|o| o.get("Value"))
        {
            value["databaseSchema"] = serde_json::to_value(schema).unwrap_or_default();
        }
        value
    }

    /// Every role with who assumes it and its statements, reasons included: what a reviewer reads.
    fn iam_review(&self) -> Value {
        let mut review = Mapping::new();
        let documents = std::iter::once(("stack", &self.template))
            .chain(self.bootstrap.iter().map(|b| ("bootstrap", b)));
        for (document, template) in documents {
            let mut roles = Mapping::new();
            let resources = template.get("Resources").and_then(Value::as_mapping);
            for (id, body) in resources.into_iter().flatten() {
                if body.get("Type").and_then(Value::as_str) != Some("AWS::IAM::Role") {
                    continue;
                }
                let id_text = id.as_str().unwrap_or_default();
                let properties = body.get("Properties");
                let trust = properties
                    .and_then(|p| p.get("AssumeRolePolicyDocument"))
                    .and_then(|d| d.get("Statement"))
                    .cloned();
                let mut statements = Vec::new();
                for policy in properties
                    .and_then(|p| p.get("Policies"))
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                {
                    for statement in policy
                        .get("PolicyDocument")
                        .and_then(|d| d.get("Statement"))
                        .and_then(Value::as_sequence)
                        .into_iter()
                        .flatten()
                    {
                        let mut statement = statement.clone();
                        let sid = statement
                            .get("Sid")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        if let (Some(reason), Some(mapping)) = (
                            self.reasons.get(&(id_text.to_owned(), sid)),
                            statement.as_mapping_mut(),
                        ) {
                            mapping.insert("Reason".into(), reason.as_str().into());
                        }
                        statements.push(statement);
                    }
                }
                let mut role = Mapping::new();
                role.insert(
                    "RoleName".into(),
                    properties
                        .and_then(|p| p.get("RoleName"))
                        .cloned()
                        .unwrap_or(Value::Null),
                );
                role.insert("TrustedBy".into(), trust.unwrap_or(Value::Null));
                role.insert("Statements".into(), Value::Sequence(statements));
                roles.insert(id.clone(), Value::Mapping(role));
            }
            review.insert(document.into(), Value::Mapping(roles));
        }
        Value::Mapping(review)
    }
}

/// YAML text of a value.
pub fn to_yaml(value: &Value) -> String {
    crate::yaml::to_string(value)
}

/// Pretty JSON text of a value, with a final newline.
pub fn to_json(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// The environment variables of a rendered function (`logical_id`, e.g. `StatsApiFunction`) that
/// are plain strings; those set by intrinsics (stack references) are left out. What the local
/// tooling runs a function's code with outside the emulator (`cargo xtask serve-api`).
pub fn function_environment(template: &Value, logical_id: &str) -> BTreeMap<String, String> {
    template
        .get("Resources")
        .and_then(|r| r.get(logical_id))
        .and_then(|f| f.get("Properties"))
        .and_then(|p| p.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| Some((name.as_str()?.to_owned(), value.as_str()?.to_owned())))
        .collect()
}

#[cfg(test)]
mod preview_tests {
    use super::*;

    fn templates() -> Templates {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
        Templates::load(&dir).expect("the templates load")
    }

    #[test]
    fn a_preview_on_staging_is_the_committed_preview_rendering() {
        let templates = templates();
        let hosted = render_preview(7, EnvironmentName::Staging, &templates).expect("renders");
        let plain = render_environment(EnvironmentName::Preview(7), &templates).expect("renders");
        assert_eq!(hosted.template, plain.template);
        assert_eq!(hosted.account_id, plain.account_id);
    }

    #[test]
    fn a_preview_on_local_imports_the_local_platform_in_the_emulator_account() {
        let templates = templates();
        let hosted = render_preview(7, EnvironmentName::Local, &templates).expect("renders");
        let text = serde_yaml::to_string(&hosted.template).expect("yaml");
        assert_eq!(hosted.stack_name, "preview-pr-7-userlog");
        assert_eq!(hosted.account_id, "000000000000");
        assert!(
            text.contains("Fn::ImportValue: local-userlog-DatabaseDirectHost"),
            "{text}"
        );
        assert!(!text.contains("staging-userlog"), "{text}");
        assert!(text.contains("DATABASE_SCHEMA: pr_7"));
        // Straight to the cluster, in the TLS mode the platform says for that.
        assert!(
            text.contains("Fn::ImportValue: local-userlog-DatabaseDirectSslMode"),
            "{text}"
        );
        assert!(render_preview(7, EnvironmentName::Preview(8), &templates).is_err());
    }

    #[test]
    fn function_environments_keep_their_plain_strings() {
        let template: Value = serde_yaml::from_str(
            "Resources:\n  F:\n    Properties:\n      Environment:\n        Variables:\n          A: x\n          B: {Ref: P}\n",
        )
        .unwrap();
        let found = function_environment(&template, "F");
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            vec![("A".to_owned(), "x".to_owned())]
        );
        assert!(function_environment(&template, "G").is_empty());
    }
}
