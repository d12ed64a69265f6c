//! cfn-lint, the Python tool the static checks run: its pin, and reading its findings; and the
//! pin of schemathesis, which checks the statistics API against its OpenAPI document. Installing it
//! into its virtualenv is `userlog_local::python_tool`'s job, shared with the local AWS emulator.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The pinned cfn-lint.
pub const CFN_LINT_REQUIREMENT: &str = "cfn-lint==1.58.0";

/// The pinned schemathesis, which the end-to-end test runs against the statistics API with its
/// OpenAPI document (`functions/stats-api/openapi.yaml`).
pub const SCHEMATHESIS_REQUIREMENT: &str = "schemathesis==4.32.5";

/// Installing or running a tool failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// A command failed.
    #[error("`{command}` failed: {detail}")]
    CommandFailed { command: String, detail: String },
    /// The tool's output was not what it should be.
    #[error("could not read the output of {tool}: {detail}")]
    BadOutput { tool: String, detail: String },
}

/// One finding of cfn-lint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CfnLintFinding {
    /// The file.
    pub file: String,
    /// The line (1-based).
    pub line: u64,
    /// `Error`, `Warning` or `Informational`.
    pub level: String,
    /// The rule id (`E3030`).
    pub rule: String,
    /// The message.
    pub message: String,
    /// The path in the template (`Resources/X/Properties/Y`).
    pub path: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawFinding {
    filename: String,
    level: String,
    message: String,
    rule: RawRule,
    location: RawLocation,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRule {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawLocation {
    start: RawPosition,
    #[serde(default)]
    path: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawPosition {
    line_number: u64,
}

/// Reads cfn-lint's `--format json` output.
pub fn parse_cfn_lint(json: &str) -> Result<Vec<CfnLintFinding>, ToolError> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<RawFinding> = serde_json::from_str(json).map_err(|err| ToolError::BadOutput {
        tool: "cfn-lint".to_owned(),
        detail: err.to_string(),
    })?;
    Ok(raw
        .into_iter()
        .map(|finding| CfnLintFinding {
            file: finding.filename,
            line: finding.location.start.line_number,
            level: finding.level,
            rule: finding.rule.id,
            message: finding.message,
            path: finding
                .location
                .path
                .iter()
                .map(|part| {
                    part.as_str()
                        .map_or_else(|| part.to_string(), str::to_owned)
                })
                .collect::<Vec<_>>()
                .join("/"),
        })
        .collect())
}

/// Runs cfn-lint on `files` with the project's configuration.
pub fn run_cfn_lint(
    bin: &Path,
    config: &Path,
    files: &[PathBuf],
) -> Result<Vec<CfnLintFinding>, ToolError> {
    let mut command = Command::new(bin);
    command
        .arg("--format")
        .arg("json")
        .arg("--config-file")
        .arg(config)
        .arg("--")
        .args(files);
    let shown = format!("{command:?}");
    let output = command.output().map_err(|err| ToolError::CommandFailed {
        command: shown.clone(),
        detail: err.to_string(),
    })?;
    // cfn-lint exits non-zero when it finds anything; only output it cannot parse is a failure.
    let stdout = String::from_utf8_lossy(&output.stdout);
    parse_cfn_lint(&stdout).map_err(|err| match output.status.code() {
        Some(0 | 2 | 4 | 6 | 8 | 10 | 12 | 14) => err,
        _ => ToolError::CommandFailed {
            command: shown,
            detail: String::from_utf8_lossy(&output.stderr).into_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn reads_cfn_lint_json() {
        let json = r#"[{"Filename": "t.yaml", "Level": "Error", "Message": "False is not one of ['OFF', 'FLEXIBLE']",
            "Location": {"Start": {"ColumnNumber": 9, "LineNumber": 953}, "End": {"ColumnNumber": 13, "LineNumber": 953},
            "Path": ["Resources", "ExportSchedule", "Properties", "FlexibleTimeWindow", "Mode"]},
            "Rule": {"Id": "E3030", "Description": "d", "ShortDescription": "s", "Source": "u"}}]"#;
        expect![[r#"
            [
                CfnLintFinding {
                    file: "t.yaml",
                    line: 953,
                    level: "Error",
                    rule: "E3030",
                    message: "False is not one of ['OFF', 'FLEXIBLE']",
                    path: "Resources/ExportSchedule/Properties/FlexibleTimeWindow/Mode",
                },
            ]
        "#]]
        .assert_debug_eq(&parse_cfn_lint(json).unwrap());
        assert!(parse_cfn_lint("not json").is_err());
    }
}
