//! EventBridge: event pattern syntax and matching, the InputTransformer, and the import rule's
//! contract (a `.csv` object created in the input bucket starts an import with the right input).

use serde_json::Value as Json;
use serde_yaml::Value;

use crate::cfn::Template;

/// The fields the import state machine expects, and the JSON type of each.
pub const IMPORT_INPUT_FIELDS: &[(&str, &str)] = &[
    ("bucket", "string"),
    ("key", "string"),
    ("etag", "string"),
    ("size", "number"),
    ("eventTime", "string"),
];

const OPERATORS: &[&str] = &[
    "prefix",
    "suffix",
    "anything-but",
    "numeric",
    "exists",
    "equals-ignore-case",
    "wildcard",
    "cidr",
];

/// What is wrong with an event pattern's syntax.
pub fn check_pattern(pattern: &Json) -> Vec<String> {
    let mut problems = Vec::new();
    match pattern {
        Json::Object(fields) if !fields.is_empty() => {
            check_pattern_fields(fields, "", &mut problems)
        }
        _ => problems.push("the pattern must be a non-empty object".to_owned()),
    }
    problems
}

fn check_pattern_fields(
    fields: &serde_json::Map<String, Json>,
    path: &str,
    problems: &mut Vec<String>,
) {
    for (name, value) in fields {
        let here = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        match value {
            Json::Object(inner) if !inner.is_empty() => {
                check_pattern_fields(inner, &here, problems)
            }
            Json::Array(items) if !items.is_empty() => {
                for item in items {
                    if let Json::Object(operator) = item {
                        let known = operator.len() == 1
                            && operator.keys().all(|key| OPERATORS.contains(&key.as_str()));
                        if !known {
                            problems.push(format!(
                                "`{here}`: {item} is not a pattern operator ({})",
                                OPERATORS.join(", ")
                            ));
                        }
                    } else if item.is_array() {
                        problems.push(format!("`{here}`: a pattern value cannot be a list"));
                    }
                }
            }
            _ => problems.push(format!(
                "`{here}`: a pattern field must be a non-empty list of values or an object"
            )),
        }
    }
}

/// Whether an event matches a pattern (the operators above; `numeric` and `cidr` are not evaluated
/// and never match).
pub fn matches(pattern: &Json, event: &Json) -> bool {
    let Json::Object(fields) = pattern else {
        return false;
    };
    fields.iter().all(|(name, expected)| {
        let actual = event.get(name);
        match expected {
            Json::Object(_) => actual.is_some_and(|actual| matches(expected, actual)),
            Json::Array(values) => values.iter().any(|value| value_matches(value, actual)),
            _ => false,
        }
    })
}

fn value_matches(expected: &Json, actual: Option<&Json>) -> bool {
    let text = actual.and_then(Json::as_str);
    match expected {
        Json::Object(operator) => {
            let Some((name, argument)) = operator.iter().next() else {
                return false;
            };
            match name.as_str() {
                "prefix" => text
                    .zip(argument.as_str())
                    .is_some_and(|(t, p)| t.starts_with(p)),
                "suffix" => text
                    .zip(argument.as_str())
                    .is_some_and(|(t, s)| t.ends_with(s)),
                "equals-ignore-case" => text
                    .zip(argument.as_str())
                    .is_some_and(|(t, e)| t.eq_ignore_ascii_case(e)),
                "exists" => argument.as_bool() == Some(actual.is_some()),
                "anything-but" => actual.is_some_and(|actual| match argument {
                    Json::Array(values) => !values.contains(actual),
                    Json::Object(_) => !value_matches(argument, Some(actual)),
                    other => other != actual,
                }),
                "wildcard" => text
                    .zip(argument.as_str())
                    .is_some_and(|(t, w)| wildcard(w.as_bytes(), t.as_bytes())),
                _ => false,
            }
        }
        literal => actual == Some(literal),
    }
}

fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| wildcard(rest, &text[skip..])),
        Some((c, rest)) => text.first() == Some(c) && wildcard(rest, &text[1..]),
    }
}

/// An S3 `Object Created` event as EventBridge delivers it.
pub fn sample_object_created(account: &str, region: &str, bucket: &str, key: &str) -> Json {
    serde_json::json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": "2025-08-02T09:30:00Z",
        "region": region,
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 1024, "etag": "b1946ac92492d2347c6235b4d2611184", "sequencer": "00617F08299329D189"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": account,
            "reason": "PutObject"
        }
    })
}

/// Reads a simple JSONPath (`$.detail.object.key`) out of an event.
fn read_path<'a>(event: &'a Json, path: &str) -> Option<&'a Json> {
    let rest = path.strip_prefix('$')?;
    let mut value = event;
    for name in rest.split('.').filter(|name| !name.is_empty()) {
        value = value.get(name)?;
    }
    Some(value)
}

/// What an InputTransformer makes of an event: `<name>` outside a string becomes the JSON value,
/// inside a string the value's text.
pub fn transform(paths: &Json, template: &str, event: &Json) -> Result<Json, String> {
    let mut out = String::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = template.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == '<'
            && let Some(end) = template[at..].find('>')
        {
            let name = &template[at + 1..at + end];
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                let path = paths
                    .get(name)
                    .and_then(Json::as_str)
                    .ok_or_else(|| format!("`<{name}>` is not in InputPathsMap"))?;
                let value = read_path(event, path).cloned().unwrap_or(Json::Null);
                if in_string {
                    let text = match &value {
                        Json::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    let quoted = serde_json::to_string(&text).unwrap_or_default();
                    out.push_str(&quoted[1..quoted.len() - 1]);
                } else {
                    out.push_str(&value.to_string());
                }
                while chars.peek().is_some_and(|(next, _)| *next <= at + end) {
                    chars.next();
                }
                continue;
            }
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    serde_json::from_str(&out)
        .map_err(|err| format!("the InputTemplate does not make JSON ({err}): {out}"))
}

fn to_json(value: &Value) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

/// Checks every rule of a template: pattern syntax, and for rules that start the import state
/// machine, the contract with S3 and with the state machine's input.
pub fn check_rules(template: &Template<'_>, machine_id: &str) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let event_buckets: Vec<&str> = template
        .of_type("AWS::S3::Bucket")
        .filter(|bucket| {
            bucket
                .prop(&[
                    "NotificationConfiguration",
                    "EventBridgeConfiguration",
                    "EventBridgeEnabled",
                ])
                .and_then(Value::as_bool)
                == Some(true)
        })
        .filter_map(|bucket| bucket.prop_str(&["BucketName"]))
        .collect();
    for rule in template.of_type("AWS::Events::Rule") {
        let Some(pattern) = rule.prop(&["EventPattern"]).map(to_json) else {
            if rule.prop(&["ScheduleExpression"]).is_none() {
                problems.push((
                    rule.id.to_owned(),
                    "has neither an EventPattern nor a ScheduleExpression".to_owned(),
                ));
            }
            continue;
        };
        problems.extend(
            check_pattern(&pattern)
                .into_iter()
                .map(|p| (rule.id.to_owned(), format!("EventPattern {p}"))),
        );
        for target in rule
            .prop(&["Targets"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            if target.get("Arn").and_then(Template::referenced_id) != Some(machine_id) {
                continue;
            }
            let buckets: Vec<&str> = pattern
                .pointer("/detail/bucket/name")
                .and_then(Json::as_array)
                .map(|names| names.iter().filter_map(Json::as_str).collect())
                .unwrap_or_default();
            if buckets.is_empty() {
                problems.push((
                    rule.id.to_owned(),
                    "starts imports but names no bucket (detail.bucket.name)".to_owned(),
                ));
            }
            for bucket in &buckets {
                if !event_buckets.contains(bucket) {
                    problems.push((rule.id.to_owned(), format!("listens to `{bucket}`, which is not a bucket of this stack that sends events to EventBridge (NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled)")));
                }
                let created = |key: &str| {
                    sample_object_created(template.account_id, template.region, bucket, key)
                };
                if !matches(&pattern, &created("incoming/users.csv")) {
                    problems.push((rule.id.to_owned(), format!("EventPattern does not match an S3 Object Created event for `incoming/users.csv` in `{bucket}`")));
                }
                if matches(&pattern, &created("incoming/users.txt")) {
                    problems.push((rule.id.to_owned(), format!("EventPattern also matches `incoming/users.txt` in `{bucket}`: only .csv objects start imports")));
                }
                let mut other = created("incoming/users.csv");
                other["detail"]["bucket"]["name"] = Json::String("some-other-bucket".to_owned());
                if matches(&pattern, &other) {
                    problems.push((
                        rule.id.to_owned(),
                        "EventPattern matches objects of any bucket".to_owned(),
                    ));
                }
            }
            let Some(transformer) = target.get("InputTransformer") else {
                problems.push((rule.id.to_owned(), "starts imports without an InputTransformer: the state machine expects {bucket, key, etag, size, eventTime}".to_owned()));
                continue;
            };
            let paths = transformer
                .get("InputPathsMap")
                .map(to_json)
                .unwrap_or(Json::Null);
            let input_template = transformer
                .get("InputTemplate")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let sample = sample_object_created(
                template.account_id,
                template.region,
                buckets.first().copied().unwrap_or("bucket"),
                "incoming/users.csv",
            );
            match transform(&paths, input_template, &sample) {
                Ok(input) => problems.extend(
                    check_import_input(&input)
                        .into_iter()
                        .map(|p| (rule.id.to_owned(), p)),
                ),
                Err(err) => problems.push((rule.id.to_owned(), err)),
            }
        }
    }
    problems
}

/// Whether a state machine input has exactly the fields the import expects, with their types.
fn check_import_input(input: &Json) -> Vec<String> {
    let mut problems = Vec::new();
    let Json::Object(fields) = input else {
        return vec![format!("the InputTransformer makes {input}, not an object")];
    };
    for (name, kind) in IMPORT_INPUT_FIELDS {
        match fields.get(*name) {
            None => problems.push(format!(
                "the InputTransformer does not set `{name}`, which the state machine reads"
            )),
            Some(value) => {
                let actual = match value {
                    Json::String(_) => "string",
                    Json::Number(_) => "number",
                    Json::Null => "null",
                    _ => "other",
                };
                if actual != *kind {
                    problems.push(format!(
                        "the InputTransformer makes `{name}` a {actual}, not a {kind} ({value})"
                    ));
                }
            }
        }
    }
    for name in fields.keys() {
        if !IMPORT_INPUT_FIELDS.iter().any(|(known, _)| known == name) {
            problems.push(format!(
                "the InputTransformer sets `{name}`, which is not part of the import's input"
            ));
        }
    }
    problems
}

/// The top-level input fields a definition reads (`$.x...` not written by a ResultPath first).
pub fn input_fields_read(definition: &Value) -> Vec<String> {
    let mut read = std::collections::BTreeSet::new();
    let mut written = std::collections::BTreeSet::new();
    collect_paths(definition, &mut read, &mut written);
    read.difference(&written).cloned().collect()
}

fn first_field(path: &str) -> Option<String> {
    let rest = path.strip_prefix("$.")?;
    // A field ends where the path goes on (`.`, `[`) or where the text around it does, as in
    // `States.JsonToString($.failure)` or `States.Format('{}', $.a, $.b)`.
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    (end > 0).then(|| rest[..end].to_owned())
}

fn collect_paths(
    value: &Value,
    read: &mut std::collections::BTreeSet<String>,
    written: &mut std::collections::BTreeSet<String>,
) {
    match value {
        Value::Mapping(mapping) => {
            let in_processor = mapping.contains_key("ProcessorConfig");
            for (key, child) in mapping {
                let key = key.as_str().unwrap_or_default();
                if key == "ResultPath" {
                    if let Some(field) = child.as_str().and_then(first_field) {
                        written.insert(field);
                    }
                } else if key == "ItemProcessor"
                    || key == "Iterator"
                    || key == "ResultSelector"
                    || in_processor
                {
                    // Item processors read their items, and result selectors a task's result: not the input.
                } else if (key.ends_with(".$") || key == "Variable") && child.is_string() {
                    let text = child.as_str().unwrap_or_default();
                    let mut at = 0;
                    while let Some(found) = text[at..].find("$.") {
                        let start = at + found;
                        let preceded_by_dollar = start > 0 && text.as_bytes()[start - 1] == b'$';
                        if !preceded_by_dollar && let Some(field) = first_field(&text[start..]) {
                            read.insert(field);
                        }
                        at = start + 2;
                    }
                } else {
                    collect_paths(child, read, written);
                }
            }
        }
        Value::Sequence(items) => items
            .iter()
            .for_each(|item| collect_paths(item, read, written)),
        _ => {}
    }
}

/// Checks that every input field the definition reads is one the rule's transformer provides.
pub fn check_definition_input(definition: &Value) -> Vec<(String, String)> {
    input_fields_read(definition)
        .into_iter()
        .filter(|field| !IMPORT_INPUT_FIELDS.iter().any(|(known, _)| known == field))
        .map(|field| ("(definition)".to_owned(), format!("reads `$.{field}` from its input, which the InputTransformer does not provide and no ResultPath writes")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::input_fields_read;

    /// The input fields `definition` (YAML) reads, joined.
    fn check(definition: &str, expected: &str) {
        let value: serde_yaml::Value = serde_yaml::from_str(definition).expect("YAML");
        assert_eq!(input_fields_read(&value).join(","), expected);
    }

    #[test]
    fn a_field_read_inside_an_intrinsic_ends_with_its_name() {
        check(
            "Message.$: \"States.Format('{} {}', $.bucket, States.JsonToString($.failure))\"",
            "bucket,failure",
        );
        check("Key.$: $.key.name", "key");
        check("Items.$: $.rows[0]", "rows");
        check("Same.$: $$.Execution.Input", "");
    }
}
