//! Python tools the project runs (cfn-lint, the local AWS emulator): each is installed, pinned, into
//! a virtualenv of its own under `.local/` on first use, and run from there.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The pinned cfn-lint.
pub const CFN_LINT_REQUIREMENT: &str = "cfn-lint==1.51.0";

/// Installing or running a tool failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// There is no `python3` to create the virtualenv with.
    #[error(
        "python3 is not installed; install Python 3 with its venv module (for example `apt-get install python3 python3-venv`) and run this again"
    )]
    PythonMissing,
    /// A command failed.
    #[error("`{command}` failed: {detail}")]
    CommandFailed { command: String, detail: String },
    /// The tool's output was not what it should be.
    #[error("could not read the output of {tool}: {detail}")]
    BadOutput { tool: String, detail: String },
    /// A file could not be written.
    #[error("could not write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn marker(venv_dir: &Path) -> PathBuf {
    venv_dir.join(".requirement")
}

fn binary_path(venv_dir: &Path, binary: &str) -> PathBuf {
    venv_dir.join("bin").join(binary)
}

/// Whether `requirement` is installed in `venv_dir` and `binary` is there.
pub fn python_tool_installed(venv_dir: &Path, requirement: &str, binary: &str) -> bool {
    binary_path(venv_dir, binary).is_file()
        && std::fs::read_to_string(marker(venv_dir))
            .is_ok_and(|installed| installed.trim() == requirement)
}

fn run(command: &mut Command) -> Result<std::process::Output, ToolError> {
    let shown = format!("{command:?}").replace('"', "");
    let output = command.output().map_err(|err| {
        if err.kind() == std::io::ErrorKind::NotFound && shown.starts_with("python3") {
            ToolError::PythonMissing
        } else {
            ToolError::CommandFailed {
                command: shown.clone(),
                detail: err.to_string(),
            }
        }
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let detail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
        return Err(ToolError::CommandFailed {
            command: shown,
            detail: format!("{}\n{detail}", output.status),
        });
    }
    Ok(output)
}

/// Makes sure `requirement` (`name==version`) is installed in the virtualenv `venv_dir`, creating
/// the virtualenv with `python3 -m venv` if needed, and returns the path of its `binary`.
pub fn ensure_python_tool(
    venv_dir: &Path,
    requirement: &str,
    binary: &str,
) -> Result<PathBuf, ToolError> {
    let bin = binary_path(venv_dir, binary);
    if python_tool_installed(venv_dir, requirement, binary) {
        return Ok(bin);
    }
    let python = venv_dir.join("bin").join("python");
    if !python.is_file() {
        run(Command::new("python3").arg("-m").arg("venv").arg(venv_dir))?;
    }
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
        requirement,
    ]))?;
    if !bin.is_file() {
        return Err(ToolError::CommandFailed {
            command: format!("pip install {requirement}"),
            detail: format!("it installed no `{binary}`"),
        });
    }
    std::fs::write(marker(venv_dir), requirement).map_err(|source| ToolError::Io {
        path: marker(venv_dir),
        source,
    })?;
    Ok(bin)
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
