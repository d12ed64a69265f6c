//! Static checks of an Amazon States Language definition: structure, transitions, reachability,
//! termination, error names, JSONPath and intrinsic syntax, distributed map shapes, and failures
//! that are dressed up as success.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_yaml::{Mapping, Value};

use crate::jsonpath::{PathKind, check_dynamic_value, check_path};

/// Error names Step Functions itself raises.
pub const STATES_ERRORS: &[&str] = &[
    "States.ALL",
    "States.BranchFailed",
    "States.DataLimitExceeded",
    "States.ExceedToleratedFailureThreshold",
    "States.HeartbeatTimeout",
    "States.Http.Socket",
    "States.IntrinsicFailure",
    "States.ItemReaderFailed",
    "States.NoChoiceMatched",
    "States.ParameterPathFailure",
    "States.Permissions",
    "States.QueryEvaluationError",
    "States.ResultPathMatchFailure",
    "States.ResultWriterFailed",
    "States.Runtime",
    "States.TaskFailed",
    "States.Timeout",
];

/// Error names the Lambda integration raises.
pub const LAMBDA_ERRORS: &[&str] = &[
    "Lambda.AWSLambdaException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ResourceNotReadyException",
    "Lambda.SdkClientException",
    "Lambda.ServiceException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
];

/// Error names of the ECS integration other than `ECS.<Name>Exception`: a `.sync` `RunTask` whose
/// response has `Failures`.
pub const ECS_ERRORS: &[&str] = &["AmazonECS.Unknown"];

/// Errors that no `Retry` or `Catch` ever matches: AWS fails the execution.
pub const UNCATCHABLE_ERRORS: &[&str] = &["States.Runtime"];

/// Services whose integrations raise `<Service>.<Name>Exception`.
const INTEGRATION_SERVICES: &[&str] = &["DynamoDB", "ECS", "S3", "SNS", "SQS"];

const STATE_TYPES: &[&str] = &[
    "Choice", "Fail", "Map", "Parallel", "Pass", "Succeed", "Task", "Wait",
];

const COMMON_FIELDS: &[&str] = &["Type", "Comment"];
const IO_FIELDS: &[&str] = &["InputPath", "OutputPath"];
const FLOW_FIELDS: &[&str] = &["Next", "End"];

fn allowed_fields(kind: &str) -> Vec<&'static str> {
    let specific: &[&str] = match kind {
        "Task" => &[
            "Resource",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Credentials",
        ],
        "Pass" => &["Result", "ResultPath", "Parameters"],
        "Choice" => &["Choices", "Default"],
        "Wait" => &["Seconds", "Timestamp", "SecondsPath", "TimestampPath"],
        "Succeed" => &[],
        "Fail" => &["Error", "Cause", "ErrorPath", "CausePath"],
        "Parallel" => &[
            "Branches",
            "ResultPath",
            "ResultSelector",
            "Parameters",
            "Retry",
            "Catch",
        ],
        "Map" => &[
            "ItemProcessor",
            "Iterator",
            "ItemsPath",
            "ItemSelector",
            "Parameters",
            "ItemReader",
            "ItemBatcher",
            "ResultWriter",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            "Label",
            "ResultPath",
            "ResultSelector",
            "Retry",
            "Catch",
        ],
        _ => &[],
    };
    let mut fields: Vec<&str> = COMMON_FIELDS.to_vec();
    fields.extend_from_slice(specific);
    if kind != "Fail" {
        fields.extend_from_slice(IO_FIELDS);
    }
    if !matches!(kind, "Choice" | "Succeed" | "Fail") {
        fields.extend_from_slice(FLOW_FIELDS);
    }
    fields
}

/// One problem: the state (`ApplyRows/ProcessBatch`, or `(definition)`) and what is wrong.
pub type Problem = (String, String);

/// Checks a definition. `known_errors` are the error names the functions declare they raise.
pub fn check(definition: &Value, known_errors: &BTreeSet<String>) -> Vec<Problem> {
    let mut checker = Checker {
        problems: Vec::new(),
        known_errors,
    };
    checker.scope("", definition);
    checker.failures_dressed_as_success(definition);
    checker.problems
}

struct Checker<'a> {
    problems: Vec<Problem>,
    known_errors: &'a BTreeSet<String>,
}

/// The states of one scope (the top level, a map's processor, a parallel branch).
pub fn scope_states(scope: &Value) -> Option<&Mapping> {
    scope.get("States").and_then(Value::as_mapping)
}

/// The nested scopes of a state (a map's item processor, a parallel state's branches).
pub fn nested_scopes(state: &Value) -> Vec<&Value> {
    let mut scopes = Vec::new();
    for field in ["ItemProcessor", "Iterator"] {
        if let Some(scope) = state.get(field) {
            scopes.push(scope);
        }
    }
    if let Some(branches) = state.get("Branches").and_then(Value::as_sequence) {
        scopes.extend(branches.iter());
    }
    scopes
}

/// The transitions out of a state: (target, label, is_catch).
pub fn transitions(state: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    if let Some(next) = state.get("Next").and_then(Value::as_str) {
        out.push((next.to_owned(), String::new(), false));
    }
    if let Some(choices) = state.get("Choices").and_then(Value::as_sequence) {
        for rule in choices {
            if let Some(next) = rule.get("Next").and_then(Value::as_str) {
                out.push((next.to_owned(), rule_label(rule), false));
            }
        }
    }
    if let Some(default) = state.get("Default").and_then(Value::as_str) {
        out.push((default.to_owned(), "otherwise".to_owned(), false));
    }
    if let Some(catches) = state.get("Catch").and_then(Value::as_sequence) {
        for catcher in catches {
            if let Some(next) = catcher.get("Next").and_then(Value::as_str) {
                let errors: Vec<&str> = catcher
                    .get("ErrorEquals")
                    .and_then(Value::as_sequence)
                    .map(|names| names.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                out.push((
                    next.to_owned(),
                    format!("catch {}", errors.join(", ")),
                    true,
                ));
            }
        }
    }
    out
}

/// A short human label of a Choice rule (`duplicate == true`).
pub fn rule_label(rule: &Value) -> String {
    if let Some(rules) = rule.get("And").and_then(Value::as_sequence) {
        return rules
            .iter()
            .map(rule_label)
            .collect::<Vec<_>>()
            .join(" and ");
    }
    if let Some(rules) = rule.get("Or").and_then(Value::as_sequence) {
        return rules
            .iter()
            .map(rule_label)
            .collect::<Vec<_>>()
            .join(" or ");
    }
    if let Some(inner) = rule.get("Not") {
        return format!("not ({})", rule_label(inner));
    }
    let variable = rule.get("Variable").and_then(Value::as_str).unwrap_or("?");
    let field = variable.rsplit('.').next().unwrap_or(variable);
    let Some(mapping) = rule.as_mapping() else {
        return field.to_owned();
    };
    for (key, value) in mapping {
        let Some(operator) = key.as_str() else {
            continue;
        };
        if matches!(operator, "Variable" | "Next") {
            continue;
        }
        let symbol = if operator.ends_with("Equals") || operator.ends_with("EqualsPath") {
            "=="
        } else if operator.contains("GreaterThanEquals") {
            ">="
        } else if operator.contains("GreaterThan") {
            ">"
        } else if operator.contains("LessThanEquals") {
            "<="
        } else if operator.contains("LessThan") {
            "<"
        } else if operator == "StringMatches" {
            "matches"
        } else {
            return format!("{field} {operator}");
        };
        let shown = match value {
            Value::String(text) if !operator.ends_with("Path") => format!("\"{text}\""),
            other => crate::cfn::short(other),
        };
        return format!("{field} {symbol} {shown}");
    }
    field.to_owned()
}

impl Checker<'_> {
    fn problem(&mut self, subject: &str, message: impl Into<String>) {
        self.problems.push((subject.to_owned(), message.into()));
    }

    fn scope(&mut self, prefix: &str, scope: &Value) {
        let subject = if prefix.is_empty() {
            "(definition)".to_owned()
        } else {
            prefix.trim_end_matches('/').to_owned()
        };
        let Some(states) = scope_states(scope) else {
            self.problem(&subject, "has no `States`");
            return;
        };
        if states.is_empty() {
            self.problem(&subject, "has no states");
            return;
        }
        let names: BTreeSet<&str> = states.keys().filter_map(Value::as_str).collect();
        let start = scope.get("StartAt").and_then(Value::as_str);
        match start {
            None => self.problem(&subject, "has no `StartAt`"),
            Some(start) if !names.contains(start) => {
                self.problem(
                    &subject,
                    format!("`StartAt` names `{start}`, which is not a state here"),
                );
            }
            Some(_) => {}
        }
        for (name, state) in states {
            let Some(name) = name.as_str() else { continue };
            let path = format!("{prefix}{name}");
            if name.len() > 80 {
                self.problem(&path, "the state name is longer than 80 characters");
            }
            self.state(&path, state, &names);
            for (index, nested) in nested_scopes(state).into_iter().enumerate() {
                let nested_prefix = if state.get("Branches").is_some() {
                    format!("{path}/branch{index}/")
                } else {
                    format!("{path}/")
                };
                self.scope(&nested_prefix, nested);
            }
        }
        if let Some(start) = start.filter(|start| names.contains(start)) {
            self.reachability(prefix, start, states);
        }
    }

    fn state(&mut self, path: &str, state: &Value, names: &BTreeSet<&str>) {
        let Some(mapping) = state.as_mapping() else {
            self.problem(path, "is not a mapping");
            return;
        };
        let Some(kind) = state.get("Type").and_then(Value::as_str) else {
            self.problem(path, "has no `Type`");
            return;
        };
        if !STATE_TYPES.contains(&kind) {
            self.problem(path, format!("`Type: {kind}` is not a state type"));
            return;
        }
        let allowed = allowed_fields(kind);
        for key in mapping.keys().filter_map(Value::as_str) {
            if !allowed.contains(&key) {
                self.problem(path, format!("`{key}` is not a field of a {kind} state"));
            }
        }
        let next = state.get("Next");
        let end = state.get("End").and_then(Value::as_bool) == Some(true);
        if !matches!(kind, "Choice" | "Succeed" | "Fail") {
            match (next, end) {
                (Some(_), true) => self.problem(path, "has both `Next` and `End`"),
                (None, false) => self.problem(path, "has neither `Next` nor `End: true`"),
                _ => {}
            }
        }
        for (target, _, _) in transitions(state) {
            if !names.contains(target.as_str()) {
                self.problem(
                    path,
                    format!("goes to `{target}`, which is not a state here"),
                );
            }
        }
        for field in [
            "InputPath",
            "OutputPath",
            "ItemsPath",
            "TimeoutSecondsPath",
            "HeartbeatSecondsPath",
            "SecondsPath",
            "TimestampPath",
            "ErrorPath",
            "CausePath",
        ] {
            if let Some(text) = state.get(field).and_then(Value::as_str) {
                let checked = if matches!(field, "ErrorPath" | "CausePath") {
                    check_dynamic_value(text)
                } else {
                    check_path(text, PathKind::Path)
                };
                if let Err(err) = checked {
                    self.problem(path, format!("{field}: {err}"));
                }
            }
        }
        if let Some(result_path) = state.get("ResultPath") {
            match result_path {
                Value::Null => {}
                Value::String(text) => {
                    if let Err(err) = check_path(text, PathKind::Reference) {
                        self.problem(path, format!("ResultPath: {err}"));
                    }
                }
                _ => self.problem(path, "ResultPath must be a reference path or null"),
            }
        }
        for field in ["Parameters", "ResultSelector", "ItemSelector"] {
            if let Some(template) = state.get(field) {
                self.payload(path, field, template);
            }
        }
        if let Some(retries) = state.get("Retry") {
            self.retries(path, retries);
        }
        if let Some(catches) = state.get("Catch") {
            self.catches(path, catches);
        }
        match kind {
            "Task" => self.task(path, state),
            "Choice" => self.choice(path, state),
            "Fail" => self.fail(path, state),
            "Map" => self.map(path, state),
            "Parallel"
                if state
                    .get("Branches")
                    .and_then(Value::as_sequence)
                    .is_none_or(Vec::is_empty) =>
            {
                self.problem(path, "a Parallel state needs `Branches`");
            }
            "Wait" => {
                let given = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
                    .iter()
                    .filter(|field| state.get(**field).is_some())
                    .count();
                if given != 1 {
                    self.problem(path, "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath");
                }
            }
            _ => {}
        }
    }

    fn payload(&mut self, path: &str, field: &str, template: &Value) {
        match template {
            Value::Mapping(mapping) => {
                for (key, value) in mapping {
                    let Some(key) = key.as_str() else { continue };
                    if key.ends_with(".$") {
                        match value.as_str() {
                            Some(text) => {
                                if let Err(err) = check_dynamic_value(text) {
                                    self.problem(path, format!("{field}.{key}: {err}"));
                                }
                            }
                            None => self.problem(path, format!("{field}.{key}: a `.$` field takes a path or an intrinsic function")),
                        }
                    } else {
                        self.payload(path, &format!("{field}.{key}"), value);
                    }
                }
            }
            Value::Sequence(items) => {
                for item in items {
                    self.payload(path, field, item);
                }
            }
            _ => {}
        }
    }

    fn error_name_known(&self, name: &str) -> bool {
        if STATES_ERRORS.contains(&name)
            || LAMBDA_ERRORS.contains(&name)
            || ECS_ERRORS.contains(&name)
            || self.known_errors.contains(name)
        {
            return true;
        }
        name.split_once('.').is_some_and(|(service, exception)| {
            INTEGRATION_SERVICES.contains(&service)
                && exception.ends_with("Exception")
                && exception.chars().all(|c| c.is_ascii_alphanumeric())
        })
    }

    fn error_names(&mut self, path: &str, what: &str, rule: &Value, last: bool) {
        let Some(names) = rule
            .get("ErrorEquals")
            .and_then(Value::as_sequence)
            .filter(|names| !names.is_empty())
        else {
            self.problem(path, format!("a {what} needs a non-empty `ErrorEquals`"));
            return;
        };
        for name in names {
            let Some(name) = name.as_str() else { continue };
            if !self.error_name_known(name) {
                self.problem(
                    path,
                    format!("{what} names `{name}`, which is not a Step Functions error, a Lambda error or an error a function declares"),
                );
            }
            if UNCATCHABLE_ERRORS.contains(&name) {
                self.problem(
                    path,
                    format!("{what} names `{name}`, which Step Functions never retries or catches: it fails the execution"),
                );
            }
            if name == "States.ALL" && (names.len() > 1 || !last) {
                self.problem(
                    path,
                    format!("`States.ALL` must stand alone in the last {what}"),
                );
            }
        }
    }

    fn retries(&mut self, path: &str, retries: &Value) {
        let Some(rules) = retries.as_sequence() else {
            self.problem(path, "`Retry` must be a list");
            return;
        };
        for (index, rule) in rules.iter().enumerate() {
            self.error_names(path, "Retry", rule, index + 1 == rules.len());
            if rule
                .get("IntervalSeconds")
                .and_then(Value::as_u64)
                .is_some_and(|n| n < 1)
            {
                self.problem(path, "Retry IntervalSeconds must be at least 1");
            }
            if rule
                .get("BackoffRate")
                .and_then(Value::as_f64)
                .is_some_and(|rate| rate < 1.0)
            {
                self.problem(path, "Retry BackoffRate must be at least 1.0");
            }
            if rule
                .get("MaxDelaySeconds")
                .is_some_and(|n| n.as_u64().is_none_or(|n| !(1..31_622_401).contains(&n)))
            {
                self.problem(
                    path,
                    "Retry MaxDelaySeconds must be a whole number of seconds from 1 to 31622400",
                );
            }
            if let Some(jitter) = rule.get("JitterStrategy").and_then(Value::as_str)
                && !matches!(jitter, "FULL" | "NONE")
            {
                self.problem(
                    path,
                    format!("Retry JitterStrategy `{jitter}` is not FULL or NONE"),
                );
            }
        }
    }

    fn catches(&mut self, path: &str, catches: &Value) {
        let Some(rules) = catches.as_sequence() else {
            self.problem(path, "`Catch` must be a list");
            return;
        };
        for (index, rule) in rules.iter().enumerate() {
            self.error_names(path, "Catch", rule, index + 1 == rules.len());
            if rule.get("Next").and_then(Value::as_str).is_none() {
                self.problem(path, "a Catch needs `Next`");
            }
            if let Some(result_path) = rule.get("ResultPath").and_then(Value::as_str)
                && let Err(err) = check_path(result_path, PathKind::Reference)
            {
                self.problem(path, format!("Catch ResultPath: {err}"));
            }
        }
    }

    fn task(&mut self, path: &str, state: &Value) {
        match state.get("Resource").and_then(Value::as_str) {
            None => self.problem(path, "a Task needs `Resource`"),
            Some(resource) if !resource.starts_with("arn:") => {
                self.problem(path, format!("Resource `{resource}` is not an ARN"));
            }
            Some(_) => {}
        }
        for field in ["TimeoutSeconds", "HeartbeatSeconds"] {
            if let Some(value) = state.get(field)
                && value.as_u64().is_none_or(|n| n == 0)
            {
                self.problem(path, format!("{field} must be a positive whole number"));
            }
        }
    }

    fn fail(&mut self, path: &str, state: &Value) {
        if state.get("Error").is_some() && state.get("ErrorPath").is_some() {
            self.problem(path, "a Fail state takes `Error` or `ErrorPath`, not both");
        }
        if state.get("Cause").is_some() && state.get("CausePath").is_some() {
            self.problem(path, "a Fail state takes `Cause` or `CausePath`, not both");
        }
        if state.get("Error").is_none() && state.get("ErrorPath").is_none() {
            self.problem(
                path,
                "a Fail state must name its error (`Error` or `ErrorPath`)",
            );
        }
    }

    fn choice(&mut self, path: &str, state: &Value) {
        let Some(rules) = state
            .get("Choices")
            .and_then(Value::as_sequence)
            .filter(|rules| !rules.is_empty())
        else {
            self.problem(path, "a Choice state needs a non-empty `Choices`");
            return;
        };
        for rule in rules {
            if rule.get("Next").and_then(Value::as_str).is_none() {
                self.problem(path, "every top-level choice rule needs `Next`");
            }
            self.rule(path, rule, true);
        }
    }

    fn rule(&mut self, path: &str, rule: &Value, top: bool) {
        let Some(mapping) = rule.as_mapping() else {
            self.problem(path, "a choice rule must be a mapping");
            return;
        };
        if !top && rule.get("Next").is_some() {
            self.problem(path, "a nested choice rule cannot have `Next`");
        }
        for combinator in ["And", "Or"] {
            if let Some(inner) = rule.get(combinator) {
                match inner.as_sequence().filter(|rules| !rules.is_empty()) {
                    Some(rules) => {
                        for inner in rules {
                            self.rule(path, inner, false);
                        }
                    }
                    None => self.problem(
                        path,
                        format!("`{combinator}` needs a non-empty list of rules"),
                    ),
                }
                return;
            }
        }
        if let Some(inner) = rule.get("Not") {
            self.rule(path, inner, false);
            return;
        }
        match rule.get("Variable").and_then(Value::as_str) {
            None => {
                self.problem(path, "a choice rule needs `Variable` (or And, Or, Not)");
                return;
            }
            Some(variable) => {
                if let Err(err) = check_path(variable, PathKind::Path) {
                    self.problem(path, format!("Variable: {err}"));
                }
            }
        }
        let operators: Vec<(&str, &Value)> = mapping
            .iter()
            .filter_map(|(key, value)| Some((key.as_str()?, value)))
            .filter(|(key, _)| !matches!(*key, "Variable" | "Next" | "Comment"))
            .collect();
        if operators.len() != 1 {
            self.problem(path, "a choice rule needs exactly one comparison");
            return;
        }
        let (operator, value) = operators[0];
        let fits = if operator.ends_with("Path") {
            value
                .as_str()
                .is_some_and(|text| check_path(text, PathKind::Path).is_ok())
        } else if operator.starts_with("String") || operator.starts_with("Timestamp") {
            value.is_string()
        } else if operator.starts_with("Numeric") {
            value.is_number()
        } else if operator.starts_with("Boolean") || operator.starts_with("Is") {
            value.is_bool()
        } else {
            self.problem(path, format!("`{operator}` is not a comparison operator"));
            return;
        };
        const KNOWN_SUFFIXES: &[&str] = &[
            "Equals",
            "LessThan",
            "GreaterThan",
            "LessThanEquals",
            "GreaterThanEquals",
            "Matches",
        ];
        let known = [
            "IsNull",
            "IsPresent",
            "IsNumeric",
            "IsString",
            "IsBoolean",
            "IsTimestamp",
        ]
        .contains(&operator)
            || ["String", "Numeric", "Boolean", "Timestamp"]
                .iter()
                .any(|kind| {
                    operator.strip_prefix(kind).is_some_and(|rest| {
                        let rest = rest.strip_suffix("Path").unwrap_or(rest);
                        KNOWN_SUFFIXES.contains(&rest)
                    })
                });
        if !known {
            self.problem(path, format!("`{operator}` is not a comparison operator"));
        } else if !fits {
            self.problem(
                path,
                format!("`{operator}` is given a value of the wrong type"),
            );
        }
    }

    fn map(&mut self, path: &str, state: &Value) {
        let processor = state.get("ItemProcessor").or_else(|| state.get("Iterator"));
        if processor.is_none() {
            self.problem(path, "a Map state needs `ItemProcessor`");
        }
        let distributed = processor
            .and_then(|p| p.get("ProcessorConfig"))
            .and_then(|config| config.get("Mode"))
            .and_then(Value::as_str)
            == Some("DISTRIBUTED");
        if let Some(execution_type) = processor
            .and_then(|p| p.get("ProcessorConfig"))
            .and_then(|config| config.get("ExecutionType"))
            .and_then(Value::as_str)
        {
            if !matches!(execution_type, "STANDARD" | "EXPRESS") {
                self.problem(path, format!("ProcessorConfig ExecutionType `{execution_type}` is not STANDARD or EXPRESS"));
            }
        } else if distributed {
            self.problem(
                path,
                "a distributed map needs ProcessorConfig ExecutionType",
            );
        }
        for field in [
            "ItemReader",
            "ItemBatcher",
            "ResultWriter",
            "ToleratedFailurePercentage",
            "ToleratedFailureCount",
            "Label",
        ] {
            if state.get(field).is_some() && !distributed {
                self.problem(
                    path,
                    format!("`{field}` needs a distributed map (ProcessorConfig Mode DISTRIBUTED)"),
                );
            }
        }
        if let Some(reader) = state.get("ItemReader") {
            self.item_reader(path, reader);
        }
        if let Some(batcher) = state.get("ItemBatcher") {
            let size = batcher
                .get("MaxItemsPerBatch")
                .or_else(|| batcher.get("MaxInputBytesPerBatch"));
            if size.is_none_or(|size| size.as_u64().is_none_or(|n| n == 0)) {
                self.problem(
                    path,
                    "ItemBatcher needs a positive MaxItemsPerBatch or MaxInputBytesPerBatch",
                );
            }
            if let Some(input) = batcher.get("BatchInput") {
                if input.is_mapping() {
                    self.payload(path, "ItemBatcher.BatchInput", input);
                } else {
                    self.problem(path, "ItemBatcher BatchInput must be a mapping");
                }
            }
        }
        if let Some(writer) = state.get("ResultWriter") {
            if writer.get("Resource").and_then(Value::as_str)
                != Some("arn:aws:states:::s3:putObject")
            {
                self.problem(
                    path,
                    "ResultWriter Resource must be arn:aws:states:::s3:putObject",
                );
            }
            let parameters = writer.get("Parameters");
            if parameters
                .and_then(|p| p.get("Bucket").or_else(|| p.get("Bucket.$")))
                .is_none()
                || parameters
                    .and_then(|p| p.get("Prefix").or_else(|| p.get("Prefix.$")))
                    .is_none()
            {
                self.problem(path, "ResultWriter needs Parameters Bucket and Prefix");
            }
        }
        if let Some(percentage) = state.get("ToleratedFailurePercentage")
            && percentage
                .as_f64()
                .is_none_or(|p| !(0.0..=100.0).contains(&p))
        {
            self.problem(path, "ToleratedFailurePercentage must be 0 to 100");
        }
        for field in ["ToleratedFailureCount", "MaxConcurrency"] {
            if let Some(value) = state.get(field)
                && value.as_u64().is_none()
            {
                self.problem(path, format!("{field} must be a whole number"));
            }
        }
    }

    fn item_reader(&mut self, path: &str, reader: &Value) {
        let resource = reader.get("Resource").and_then(Value::as_str).unwrap_or("");
        if !matches!(
            resource,
            "arn:aws:states:::s3:getObject" | "arn:aws:states:::s3:listObjectsV2"
        ) {
            self.problem(
                path,
                format!("ItemReader Resource `{resource}` is not s3:getObject or s3:listObjectsV2"),
            );
        }
        let parameters = reader.get("Parameters");
        if parameters
            .and_then(|p| p.get("Bucket").or_else(|| p.get("Bucket.$")))
            .is_none()
        {
            self.problem(path, "ItemReader needs Parameters Bucket");
        }
        if let Some(parameters) = parameters {
            self.payload(path, "ItemReader.Parameters", parameters);
        }
        if resource.ends_with("getObject") {
            if parameters
                .and_then(|p| p.get("Key").or_else(|| p.get("Key.$")))
                .is_none()
            {
                self.problem(path, "ItemReader s3:getObject needs Parameters Key");
            }
            let config = reader.get("ReaderConfig");
            let input_type = config
                .and_then(|c| c.get("InputType"))
                .and_then(Value::as_str);
            match input_type {
                Some("CSV") => {
                    match config.and_then(|c| c.get("CSVHeaderLocation")).and_then(Value::as_str) {
                        Some("FIRST_ROW") => {}
                        Some("GIVEN") => {
                            if config.and_then(|c| c.get("CSVHeaders")).and_then(Value::as_sequence).is_none() {
                                self.problem(path, "ItemReader CSVHeaderLocation GIVEN needs CSVHeaders");
                            }
                        }
                        other => self.problem(
                            path,
                            format!("ItemReader CSVHeaderLocation must be FIRST_ROW or GIVEN, not {other:?}"),
                        ),
                    }
                }
                Some("JSON" | "JSONL" | "MANIFEST" | "PARQUET") => {}
                other => self.problem(path, format!("ItemReader ReaderConfig InputType {other:?} is not CSV, JSON, JSONL, MANIFEST or PARQUET")),
            }
        }
    }

    /// Every state reachable from `start`, and every reachable state able to reach an end.
    fn reachability(&mut self, prefix: &str, start: &str, states: &Mapping) {
        let edges: BTreeMap<&str, Vec<String>> = states
            .iter()
            .filter_map(|(name, state)| {
                Some((
                    name.as_str()?,
                    transitions(state)
                        .into_iter()
                        .map(|(target, _, _)| target)
                        .collect(),
                ))
            })
            .collect();
        let mut reached = BTreeSet::new();
        let mut queue = VecDeque::from([start.to_owned()]);
        while let Some(name) = queue.pop_front() {
            if !reached.insert(name.clone()) {
                continue;
            }
            for target in edges.get(name.as_str()).into_iter().flatten() {
                queue.push_back(target.clone());
            }
        }
        let mut ends: BTreeSet<String> = states
            .iter()
            .filter(|(_, state)| {
                let kind = state.get("Type").and_then(Value::as_str);
                matches!(kind, Some("Succeed" | "Fail"))
                    || state.get("End").and_then(Value::as_bool) == Some(true)
            })
            .filter_map(|(name, _)| name.as_str().map(str::to_owned))
            .collect();
        loop {
            let before = ends.len();
            for (name, targets) in &edges {
                if targets.iter().any(|target| ends.contains(target)) {
                    ends.insert((*name).to_owned());
                }
            }
            if ends.len() == before {
                break;
            }
        }
        for name in edges.keys() {
            let path = format!("{prefix}{name}");
            if !reached.contains(*name) {
                self.problem(&path, "is unreachable from StartAt");
            } else if !ends.contains(*name) {
                self.problem(
                    &path,
                    "never reaches an end (no path to Succeed, Fail or End)",
                );
            }
        }
    }

    /// The seed's flaw: failures that end in a Pass (or Succeed) state, so the execution succeeds.
    fn failures_dressed_as_success(&mut self, definition: &Value) {
        let mut scopes = vec![(String::new(), definition)];
        while let Some((prefix, scope)) = scopes.pop() {
            let Some(states) = scope_states(scope) else {
                continue;
            };
            let failure_targets: BTreeSet<String> = states
                .values()
                .flat_map(transitions)
                .filter(|(_, _, is_catch)| *is_catch)
                .map(|(target, _, _)| target)
                .collect();
            for (name, state) in states {
                let Some(name) = name.as_str() else { continue };
                let path = format!("{prefix}{name}");
                let kind = state.get("Type").and_then(Value::as_str).unwrap_or("");
                let lowered = name.to_ascii_lowercase();
                let sounds_failed = ["fail", "error", "invalid"]
                    .iter()
                    .any(|word| lowered.contains(word));
                if matches!(kind, "Pass" | "Succeed") && sounds_failed {
                    self.problem(&path, format!("a {kind} state named like a failure makes a failed execution look successful: use a Fail state"));
                }
                if kind == "Pass"
                    && failure_targets.contains(name)
                    && self.ends_without_failing(states, name)
                {
                    self.problem(&path, "a Catch leads to this Pass state, and from it the execution can succeed without passing a Task or a Fail state: end failures in a Fail state");
                }
                for nested in nested_scopes(state) {
                    scopes.push((format!("{path}/"), nested));
                }
            }
        }
    }

    /// Whether, following only Pass states from `name`, an execution reaches a successful end.
    fn ends_without_failing(&self, states: &Mapping, name: &str) -> bool {
        let mut seen = BTreeSet::new();
        let mut current = name.to_owned();
        loop {
            if !seen.insert(current.clone()) {
                return false;
            }
            let Some(state) = states.get(current.as_str()) else {
                return false;
            };
            match state.get("Type").and_then(Value::as_str) {
                Some("Succeed") => return true,
                Some("Pass") => {
                    if state.get("End").and_then(Value::as_bool) == Some(true) {
                        return true;
                    }
                    match state.get("Next").and_then(Value::as_str) {
                        Some(next) => current = next.to_owned(),
                        None => return false,
                    }
                }
                _ => return false,
            }
        }
    }
}
