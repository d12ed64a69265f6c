//! The security scanners' pins and reading their findings: checkov (IaC checks of the rendered
//! templates), zizmor (workflow lint) and detect-secrets. Installing them is
//! `userlog_local::python_tool`'s job, as for cfn-lint.

use serde::{Deserialize, Serialize};

/// The pinned checkov.
pub const CHECKOV_REQUIREMENT: &str = "checkov==3.3.30";
/// The pinned zizmor.
pub const ZIZMOR_REQUIREMENT: &str = "zizmor==1.32.0";
/// The pinned detect-secrets.
pub const DETECT_SECRETS_REQUIREMENT: &str = "detect-secrets==1.5.0";

/// One check of checkov on one resource that did not pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckovFinding {
    /// `CKV_AWS_116`.
    pub check_id: String,
    pub check_name: String,
    /// `AWS::Lambda::Function.ValidateCsvFunction`.
    pub resource: String,
    pub file: String,
    pub line: u64,
    /// `None`: failed; `Some(comment)`: skipped in the resource's Metadata, saying why.
    pub skipped: Option<String>,
}

impl CheckovFinding {
    /// Whether it fails the scan: a failed check, or a skip that gives no reason.
    pub fn fails(&self) -> bool {
        self.skipped
            .as_deref()
            .is_none_or(|comment| comment.trim().is_empty())
    }
}

impl std::fmt::Display for CheckovFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.skipped {
            None => write!(
                f,
                "{}:{}: {} {} ({})",
                self.file, self.line, self.resource, self.check_id, self.check_name
            ),
            Some(comment) if comment.trim().is_empty() => write!(
                f,
                "{}:{}: {} skips {} without a comment saying why",
                self.file, self.line, self.resource, self.check_id
            ),
            Some(comment) => write!(
                f,
                "{}:{}: {} skips {}: {comment}",
                self.file, self.line, self.resource, self.check_id
            ),
        }
    }
}

#[derive(Deserialize)]
struct Report {
    #[serde(default)]
    results: Results,
}

#[derive(Deserialize, Default)]
struct Results {
    #[serde(default)]
    failed_checks: Vec<RawCheck>,
    #[serde(default)]
    skipped_checks: Vec<RawCheck>,
}

#[derive(Deserialize)]
struct RawCheck {
    check_id: String,
    #[serde(default)]
    check_name: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    file_path: String,
    #[serde(default)]
    file_line_range: Vec<u64>,
    #[serde(default)]
    check_result: serde_json::Value,
}

/// Reads checkov's `--output json` (one report, or a list of reports per framework).
pub fn parse_checkov(json: &str) -> Result<Vec<CheckovFinding>, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("checkov's output is not JSON: {e}"))?;
    let reports: Vec<serde_json::Value> = match value {
        serde_json::Value::Array(reports) => reports,
        // No resource scanned prints a summary object without results.
        other => vec![other],
    };
    let mut findings = Vec::new();
    for report in reports {
        let report: Report = serde_json::from_value(report)
            .map_err(|e| format!("checkov's report has an unknown form: {e}"))?;
        let mut take = |check: RawCheck, skipped: bool| {
            let comment = check
                .check_result
                .get("suppress_comment")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned();
            findings.push(CheckovFinding {
                check_id: check.check_id,
                check_name: check.check_name,
                resource: check.resource,
                file: check.file_path,
                line: check.file_line_range.first().copied().unwrap_or_default(),
                skipped: skipped.then_some(comment),
            });
        };
        for check in report.results.failed_checks {
            take(check, false);
        }
        for check in report.results.skipped_checks {
            take(check, true);
        }
    }
    findings.sort_by(|a, b| (&a.file, a.line, &a.check_id).cmp(&(&b.file, b.line, &b.check_id)));
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(json: &str, expected: Expect) {
        let actual = match parse_checkov(json) {
            Ok(findings) => findings
                .iter()
                .map(|f| format!("{} {f}\n", if f.fails() { "FAIL" } else { "ok  " }))
                .collect(),
            Err(error) => error,
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn failed_checks_fail_and_skips_need_a_comment() {
        check(
            r#"{"check_type": "cloudformation", "results": {
                "failed_checks": [{"check_id": "CKV_AWS_116", "check_name": "Ensure that AWS Lambda function is configured for a Dead Letter Queue(DLQ)",
                    "resource": "AWS::Lambda::Function.CheckErrorsFunction", "file_path": "/template.yaml", "file_line_range": [120, 160],
                    "check_result": {"result": "FAILED"}}],
                "skipped_checks": [
                    {"check_id": "CKV_AWS_117", "check_name": "Ensure that AWS Lambda function is configured inside a VPC",
                     "resource": "AWS::Lambda::Function.StatsApiFunction", "file_path": "/template.yaml", "file_line_range": [200, 230],
                     "check_result": {"result": "SKIPPED", "suppress_comment": "Only Step Functions invokes it, synchronously."}},
                    {"check_id": "CKV_AWS_173", "check_name": "Check encryption settings for Lambda environment variable",
                     "resource": "AWS::Lambda::Function.StatsApiFunction", "file_path": "/template.yaml", "file_line_range": [200, 230],
                     "check_result": {"result": "SKIPPED", "suppress_comment": ""}}
                ]}}"#,
            expect![[r#"
                FAIL /template.yaml:120: AWS::Lambda::Function.CheckErrorsFunction CKV_AWS_116 (Ensure that AWS Lambda function is configured for a Dead Letter Queue(DLQ))
                ok   /template.yaml:200: AWS::Lambda::Function.StatsApiFunction skips CKV_AWS_117: Only Step Functions invokes it, synchronously.
                FAIL /template.yaml:200: AWS::Lambda::Function.StatsApiFunction skips CKV_AWS_173 without a comment saying why
            "#]],
        );
    }

    #[test]
    fn a_scan_of_nothing_and_output_that_is_not_json() {
        check(
            r#"{"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0, "checkov_version": "3"}"#,
            expect![""],
        );
        check(
            "Traceback (most recent call last)",
            expect!["checkov's output is not JSON: expected value at line 1 column 1"],
        );
    }
}
