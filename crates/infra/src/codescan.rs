//! The AWS SDK calls in the functions' code, and whether each function's needs allow them.
//!
//! A call is a fluent SDK operation: `.operation()` with no arguments, later followed by `.send()`
//! in the same statement, in a file that uses an `aws_sdk_*` crate. That shape keeps other builders
//! (`reqwest`'s `.query(&params)`, `sqlx::query(...)`) out. Calls in `functions/<name>/src` must be
//! among `<name>`'s needs; calls in the shared crates (the AWS adapters, the reads of executions)
//! must be among some principal's needs.

use std::collections::BTreeSet;

use crate::functions::Principal;

/// SDK operations (snake_case method names) and the IAM action each one needs.
pub const SDK_ACTIONS: &[(&str, &str, &str)] = &[
    ("aws_sdk_s3", "get_object", "s3:GetObject"),
    ("aws_sdk_s3", "head_object", "s3:GetObject"),
    ("aws_sdk_s3", "put_object", "s3:PutObject"),
    ("aws_sdk_s3", "create_multipart_upload", "s3:PutObject"),
    ("aws_sdk_s3", "upload_part", "s3:PutObject"),
    ("aws_sdk_s3", "complete_multipart_upload", "s3:PutObject"),
    (
        "aws_sdk_s3",
        "abort_multipart_upload",
        "s3:AbortMultipartUpload",
    ),
    ("aws_sdk_s3", "delete_object", "s3:DeleteObject"),
    ("aws_sdk_s3", "list_objects_v2", "s3:ListBucket"),
    ("aws_sdk_s3", "copy_object", "s3:PutObject"),
    ("aws_sdk_dynamodb", "put_item", "dynamodb:PutItem"),
    (
        "aws_sdk_dynamodb",
        "batch_write_item",
        "dynamodb:BatchWriteItem",
    ),
    ("aws_sdk_dynamodb", "update_item", "dynamodb:UpdateItem"),
    ("aws_sdk_dynamodb", "delete_item", "dynamodb:DeleteItem"),
    ("aws_sdk_dynamodb", "get_item", "dynamodb:GetItem"),
    (
        "aws_sdk_dynamodb",
        "batch_get_item",
        "dynamodb:BatchGetItem",
    ),
    ("aws_sdk_dynamodb", "query", "dynamodb:Query"),
    ("aws_sdk_dynamodb", "scan", "dynamodb:Scan"),
    (
        "aws_sdk_dynamodb",
        "transact_write_items",
        "dynamodb:PutItem",
    ),
    ("aws_sdk_sns", "publish", "sns:Publish"),
    ("aws_sdk_sns", "publish_batch", "sns:Publish"),
    ("aws_sdk_sesv2", "send_email", "ses:SendEmail"),
    ("aws_sdk_ses", "send_email", "ses:SendEmail"),
    ("aws_sdk_ses", "send_raw_email", "ses:SendRawEmail"),
    ("aws_sdk_ssm", "get_parameter", "ssm:GetParameter"),
    ("aws_sdk_ssm", "get_parameters", "ssm:GetParameters"),
    (
        "aws_sdk_secretsmanager",
        "get_secret_value",
        "secretsmanager:GetSecretValue",
    ),
    (
        "aws_sdk_cloudwatch",
        "put_metric_data",
        "cloudwatch:PutMetricData",
    ),
    ("aws_sdk_sfn", "start_execution", "states:StartExecution"),
    (
        "aws_sdk_sfn",
        "describe_execution",
        "states:DescribeExecution",
    ),
    (
        "aws_sdk_sfn",
        "get_execution_history",
        "states:GetExecutionHistory",
    ),
    ("aws_sdk_glue", "get_table", "glue:GetTable"),
    ("aws_sdk_glue", "get_partition", "glue:GetPartition"),
    ("aws_sdk_glue", "create_partition", "glue:CreatePartition"),
    (
        "aws_sdk_glue",
        "batch_create_partition",
        "glue:BatchCreatePartition",
    ),
    ("aws_sdk_glue", "update_partition", "glue:UpdatePartition"),
];

/// One SDK call found in a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SdkCall {
    /// The file (relative to the repository).
    pub file: String,
    /// The 1-based line.
    pub line: usize,
    /// The method name.
    pub operation: String,
    /// The IAM action it needs.
    pub action: String,
}

/// The SDK calls in one file's text.
pub fn sdk_calls(file: &str, text: &str) -> Vec<SdkCall> {
    let crates: BTreeSet<&str> = SDK_ACTIONS
        .iter()
        .map(|(krate, _, _)| *krate)
        .filter(|krate| text.contains(krate))
        .collect();
    if crates.is_empty() {
        return Vec::new();
    }
    let code = strip_comments(text);
    let mut calls = Vec::new();
    for (krate, operation, action) in SDK_ACTIONS {
        if !crates.contains(krate) {
            continue;
        }
        let needle = format!(".{operation}()");
        let mut at = 0;
        while let Some(found) = code[at..].find(&needle) {
            let start = at + found;
            at = start + needle.len();
            let statement_end = code[at..].find(';').map_or(code.len(), |end| at + end);
            if code[at..statement_end].contains(".send()") {
                let line = code[..start].matches('\n').count() + 1;
                let call = SdkCall {
                    file: file.to_owned(),
                    line,
                    operation: (*operation).to_owned(),
                    action: (*action).to_owned(),
                };
                if !calls.contains(&call) {
                    calls.push(call);
                }
            }
        }
    }
    calls.sort();
    calls
}

/// The text with `//` and `/* */` comments blanked out (line numbers kept).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut previous = ' ';
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                    }
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Checks the calls of every source file (path relative to the repository, text) against the needs.
pub fn check_code(files: &[(String, String)], principals: &[Principal]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let all_actions: BTreeSet<&str> = principals
        .iter()
        .flat_map(|p| p.declared_actions.iter().map(String::as_str))
        .collect();
    for (path, text) in files {
        let owner = path
            .strip_prefix("functions/")
            .and_then(|rest| rest.split('/').next());
        for call in sdk_calls(path, text) {
            let location = format!("{}:{}", call.file, call.line);
            match owner {
                Some(name) => match principals.iter().find(|p| p.key == name) {
                    Some(principal) if principal.declared_actions.contains(&call.action) => {}
                    Some(principal) => problems.push((
                        location,
                        format!("calls `.{}()` ({}), which {} does not declare in functions.yaml, so its role does not allow it", call.operation, call.action, principal.key),
                    )),
                    None => problems.push((location, format!("is code of `{name}`, which functions.yaml does not declare"))),
                },
                None if !all_actions.contains(call.action.as_str()) => problems.push((
                    location,
                    format!("calls `.{}()` ({}), which no function declares in functions.yaml", call.operation, call.action),
                )),
                None => {}
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn finds_fluent_sdk_calls_and_ignores_other_builders_and_comments() {
        let text = r#"
use aws_sdk_dynamodb::Client;
async fn run(client: &Client, http: &reqwest::Client) {
    // client.scan().send().await;
    let rows = client
        .query()
        .table_name("t")
        .send()
        .await;
    let page = http.get("u").query(&[("a", "b")]).send().await;
    let built = client.put_item().table_name("t");
    built.send().await;
}
"#;
        let calls: Vec<String> = sdk_calls("f.rs", text)
            .iter()
            .map(|c| format!("{}:{} {}", c.line, c.operation, c.action))
            .collect();
        expect![[r#"
            [
                "6:query dynamodb:Query",
            ]
        "#]]
        .assert_debug_eq(&calls);
    }
}
