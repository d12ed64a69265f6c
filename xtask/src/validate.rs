//! `cargo xtask validate`: renders every environment (or one) and runs the static checks, the code
//! scan, the data lake's table against the export's columns, and cfn-lint on the result.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use userlog_infra::tools::{self, CFN_LINT_REQUIREMENT};
use userlog_infra::validate::{
    Finding, Level, cfn_lint_findings, validate, validate_code, validate_lake,
};
use userlog_infra::{EnvironmentName, Rendered, output, render_environment};
use userlog_local::python_tool::{PythonTool, Requirement};

use crate::cli::ValidateArgs;
use crate::render::{load_templates, repo_root};

/// A pinned Python tool in `.local/venv-<name>`, installed when missing; the path of its program.
pub(crate) fn python_tool(name: &str, requirement: &str) -> anyhow::Result<PathBuf> {
    let tool = PythonTool::new(
        repo_root().join(".local").join(format!("venv-{name}")),
        vec![Requirement::parse(requirement).with_context(|| format!("the pin {requirement}"))?],
    );
    tool.ensure(&mut |step| eprintln!("{step}"))
        .with_context(|| format!("could not install {requirement}"))?;
    Ok(tool.program(name))
}

/// Writes an environment's rendering under `target/rendered/<env>` for the file-based linters,
/// and returns the templates among it (the stack's and, where there is one, the bootstrap's).
pub(crate) fn write_for_linters(rendered: &Rendered) -> anyhow::Result<Vec<PathBuf>> {
    let dir = repo_root()
        .join("target")
        .join("rendered")
        .join(rendered.environment.to_string());
    let files = rendered.files();
    output::write_dir(&dir, &files)
        .with_context(|| format!("could not write {}", dir.display()))?;
    Ok(["template.yaml", "bootstrap.yaml"]
        .iter()
        .filter(|name| files.contains_key(**name))
        .map(|name| dir.join(name))
        .collect())
}

/// Every `.rs` file under `dir`, with its path relative to the repository.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            rust_files(root, &path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("could not read {}", path.display()))?;
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((relative, text));
        }
    }
    Ok(())
}

/// The sources the code scan reads: every function's `src/` and the shared crates' that make AWS
/// calls for them (the AWS adapters, the reads of executions).
fn code_files(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root.join("functions")) {
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        dirs.sort();
        for dir in dirs {
            rust_files(root, &dir.join("src"), &mut files)?;
        }
    }
    for shared in ["aws", "executions"] {
        rust_files(
            root,
            &root.join("crates").join(shared).join("src"),
            &mut files,
        )?;
    }
    Ok(files)
}

pub(crate) fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let environments: Vec<EnvironmentName> = match &args.env {
        Some(name) => vec![name.parse()?],
        None => EnvironmentName::CHECKED.to_vec(),
    };
    let checked = check(&environments, !args.no_cfn_lint)?;
    let (all, code, cfn_lint) = (checked.findings, checked.code_files, checked.cfn_lint);
    let errors = all
        .iter()
        .filter(|finding| finding.level == Level::Error)
        .count();
    if args.json {
        let report = serde_json::json!({
            "environments": environments.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "cfnLint": cfn_lint,
            "codeFiles": code,
            "errors": errors,
            "findings": all,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for finding in &all {
            println!("{finding}");
        }
        let names: Vec<String> = environments.iter().map(ToString::to_string).collect();
        let lint = if cfn_lint {
            "with cfn-lint"
        } else {
            "without cfn-lint"
        };
        if errors == 0 {
            println!(
                "ok: {} checked {lint}, {} source files scanned, no problems",
                names.join(", "),
                code
            );
        } else {
            println!("{errors} problems in {} ({lint})", names.join(", "));
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What the static checks found.
pub(crate) struct Checked {
    /// Every finding, errors and warnings.
    pub(crate) findings: Vec<Finding>,
    /// How many source files the code scan read.
    pub(crate) code_files: usize,
    /// Whether cfn-lint ran.
    pub(crate) cfn_lint: bool,
}

impl Checked {
    /// The findings that are errors.
    pub(crate) fn errors(&self) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|finding| finding.level == Level::Error)
            .collect()
    }
}

/// Renders each environment and runs the static checks, the code scan and (when asked) cfn-lint.
pub(crate) fn check(
    environments: &[EnvironmentName],
    with_cfn_lint: bool,
) -> anyhow::Result<Checked> {
    let root = repo_root();
    let templates = load_templates()?;
    let code = code_files(&root)?;
    let cfn_lint = if !with_cfn_lint {
        None
    } else {
        Some(python_tool("cfn-lint", CFN_LINT_REQUIREMENT)?)
    };
    let mut all: Vec<Finding> = Vec::new();
    let mut code_checked = false;
    for environment in environments {
        let rendered = render_environment(*environment, &templates)
            .with_context(|| format!("could not render {environment}"))?;
        all.extend(validate(&rendered));
        all.extend(validate_lake(
            &rendered,
            &userlog_export::columns::glue_columns(),
        ));
        if !code_checked {
            all.extend(validate_code(&code, &rendered));
            code_checked = true;
        }
        if let Some(bin) = &cfn_lint {
            let lint_targets = write_for_linters(&rendered)?;
            let lint = tools::run_cfn_lint(
                bin,
                &root.join("templates").join("cfn-lint.yaml"),
                &lint_targets,
            )
            .with_context(|| format!("could not run cfn-lint on {environment}"))?;
            let mut lint = lint;
            for finding in &mut lint {
                finding.file = Path::new(&finding.file)
                    .strip_prefix(&root)
                    .map_or(finding.file.clone(), |p| p.display().to_string());
            }
            all.extend(cfn_lint_findings(&environment.to_string(), &lint));
        }
    }
    Ok(Checked {
        findings: all,
        code_files: code.len(),
        cfn_lint: cfn_lint.is_some(),
    })
}
