//! The workspace's function packages, as `cargo metadata` lists them, and the one cargo build of them.
//!
//! Functions are discovered, not listed: every workspace member under `functions/` is one, and its
//! binary target is the executable that becomes `bootstrap`. Reading the metadata and the build's
//! JSON messages are pure functions of cargo's output; [`Workspace::load`] and [`build`] run cargo.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use serde::Deserialize;

use crate::error::BuildError;

/// The directory of the workspace that holds one package per function.
pub const FUNCTIONS_DIR: &str = "functions";

/// The directory under cargo's target directory that the zips and the manifest go to by default.
pub const OUT_DIR_NAME: &str = "lambda";

/// A function package of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// The package's name, which is also the function's.
    pub name: String,
    /// Cargo's id of the package, as its build messages name it.
    pub package_id: String,
    /// The name of the package's binary target.
    pub binary: String,
    /// Whether it ships as a container image (`[package.metadata.userlog] container-image =
    /// true`): then it is linked statically, since the image holds nothing it could load.
    pub container_image: bool,
}

/// The part of the workspace the build needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The directory of the workspace's `Cargo.toml`.
    pub root: PathBuf,
    /// Cargo's target directory (it follows `CARGO_TARGET_DIR`).
    pub target_directory: PathBuf,
    /// The function packages, sorted by name.
    pub functions: Vec<Function>,
}

/// The fields of `cargo metadata --format-version 1` that are read here.
#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetadataPackage>,
    workspace_members: Vec<String>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct MetadataPackage {
    id: String,
    name: String,
    manifest_path: PathBuf,
    targets: Vec<MetadataTarget>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct MetadataTarget {
    name: String,
    kind: Vec<String>,
}

impl MetadataTarget {
    fn is_binary(&self) -> bool {
        self.kind.iter().any(|kind| kind == "bin")
    }
}

impl Workspace {
    /// The workspace described by the JSON output of `cargo metadata --format-version 1 --no-deps`.
    pub fn from_metadata(json: &str) -> Result<Workspace, BuildError> {
        let metadata: Metadata = serde_json::from_str(json).map_err(BuildError::Metadata)?;
        let functions_dir = metadata.workspace_root.join(FUNCTIONS_DIR);
        let mut functions = Vec::new();
        for package in &metadata.packages {
            let is_member = metadata.workspace_members.contains(&package.id);
            if !is_member || !package.manifest_path.starts_with(&functions_dir) {
                continue;
            }
            functions.push(Function {
                name: package.name.clone(),
                package_id: package.id.clone(),
                binary: binary_target(package)?,
                container_image: package
                    .metadata
                    .as_ref()
                    .and_then(|m| m.pointer("/userlog/container-image"))
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false),
            });
        }
        if functions.is_empty() {
            return Err(BuildError::NoFunctions(functions_dir));
        }
        functions.sort_by(|left, right| left.name.cmp(&right.name));
        Ok(Workspace {
            root: metadata.workspace_root,
            target_directory: metadata.target_directory,
            functions,
        })
    }

    /// Runs `cargo metadata` on the workspace of `manifest_path` and reads it.
    pub fn load(cargo: &OsStr, manifest_path: &Path) -> Result<Workspace, BuildError> {
        let mut command = Command::new(cargo);
        command
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--locked",
                "--manifest-path",
            ])
            .arg(manifest_path);
        let shown = describe(&command);
        let output = command
            .stderr(Stdio::inherit())
            .output()
            .map_err(|source| BuildError::Spawn {
                command: shown.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(BuildError::CommandFailed {
                command: shown,
                status: output.status,
            });
        }
        Workspace::from_metadata(&String::from_utf8_lossy(&output.stdout))
    }

    /// The functions called `names`, in the order of [`Workspace::functions`]; all when `names` is empty.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Function>, BuildError> {
        if let Some(unknown) = names.iter().find(|name| {
            !self
                .functions
                .iter()
                .any(|function| &function.name == *name)
        }) {
            let known: Vec<&str> = self
                .functions
                .iter()
                .map(|function| function.name.as_str())
                .collect();
            return Err(BuildError::UnknownFunction {
                name: unknown.clone(),
                known: known.join(", "),
            });
        }
        Ok(self
            .functions
            .iter()
            .filter(|function| names.is_empty() || names.contains(&function.name))
            .collect())
    }

    /// Where the zips and the manifest go unless told otherwise: `<target dir>/lambda`.
    pub fn default_out_dir(&self) -> PathBuf {
        self.target_directory.join(OUT_DIR_NAME)
    }
}

/// The binary target of a function package: its only one, or the one named like the package.
fn binary_target(package: &MetadataPackage) -> Result<String, BuildError> {
    let binaries: Vec<&MetadataTarget> = package
        .targets
        .iter()
        .filter(|target| target.is_binary())
        .collect();
    match binaries.as_slice() {
        [] => Err(BuildError::NoBinary(package.name.clone())),
        [only] => Ok(only.name.clone()),
        several => several
            .iter()
            .find(|target| target.name == package.name)
            .map(|target| target.name.clone())
            .ok_or_else(|| BuildError::AmbiguousBinary {
                package: package.name.clone(),
                count: several.len(),
            }),
    }
}

/// The command that builds `functions` for Lambda in one cargo invocation.
///
/// `--keep-going` builds every function that compiles even when another does not, and the JSON
/// messages on stdout say where each executable is; diagnostics and progress stay on stderr.
pub fn build_command(cargo: &OsStr, manifest_path: &Path, functions: &[&Function]) -> Command {
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--release",
            "--locked",
            "--keep-going",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(manifest_path);
    for function in functions {
        command.args(["-p", &function.name]);
    }
    command
}

/// The function and executable that one line of cargo's JSON build messages reports, if it reports one.
pub fn executable_in_message(line: &str, functions: &[&Function]) -> Option<(String, PathBuf)> {
    #[derive(Deserialize)]
    struct Message {
        reason: String,
        package_id: Option<String>,
        target: Option<MetadataTarget>,
        executable: Option<PathBuf>,
    }
    let message: Message = serde_json::from_str(line).ok()?;
    if message.reason != "compiler-artifact" {
        return None;
    }
    let target = message.target?;
    let package_id = message.package_id?;
    let function = functions
        .iter()
        .find(|function| function.package_id == package_id && function.binary == target.name)?;
    if !target.is_binary() {
        return None;
    }
    Some((function.name.clone(), message.executable?))
}

/// What the cargo build produced.
#[derive(Debug)]
pub struct BuildOutcome {
    /// The executable of each function that built, by function name.
    pub executables: BTreeMap<String, PathBuf>,
    /// The functions that did not build, sorted.
    pub failed: Vec<String>,
    /// The command that ran, for messages.
    pub command: String,
    /// Cargo's exit status.
    pub status: ExitStatus,
}

/// The command that links one container-image function statically (`+crt-static`, which glibc
/// supports for programs that load nothing at run time). `cargo rustc` passes the flag to the
/// function's own binary only: its dependencies are the same compiled crates every other build
/// uses, so nothing is compiled twice.
pub fn static_build_command(cargo: &OsStr, manifest_path: &Path, function: &Function) -> Command {
    let mut command = Command::new(cargo);
    command
        .args([
            "rustc",
            "--release",
            "--locked",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(manifest_path)
        .args(["-p", &function.name, "--bin", &function.binary])
        .args(["--", "-C", "target-feature=+crt-static"]);
    command
}

/// Builds `functions`: the Lambda functions with one cargo invocation, then each container-image
/// function linked statically; cargo's progress and diagnostics go to stderr.
///
/// A function that does not compile does not stop the others: it is listed in
/// [`BuildOutcome::failed`].
pub fn build(
    cargo: &OsStr,
    manifest_path: &Path,
    functions: &[&Function],
) -> Result<BuildOutcome, BuildError> {
    let (images, zips): (Vec<&Function>, Vec<&Function>) = functions
        .iter()
        .partition(|function| function.container_image);
    let mut commands = Vec::new();
    if !zips.is_empty() {
        commands.push((build_command(cargo, manifest_path, &zips), zips));
    }
    for function in images {
        commands.push((
            static_build_command(cargo, manifest_path, function),
            vec![function],
        ));
    }
    let mut outcome: Option<BuildOutcome> = None;
    for (command, built) in commands {
        let next = run_build(command, &built)?;
        outcome = Some(match outcome {
            None => next,
            Some(mut so_far) => {
                so_far.executables.extend(next.executables);
                so_far.failed.extend(next.failed);
                so_far.failed.sort();
                so_far.command = format!("{}; {}", so_far.command, next.command);
                if so_far.status.success() {
                    so_far.status = next.status;
                }
                so_far
            }
        });
    }
    outcome.ok_or_else(|| BuildError::NoFunctions(manifest_path.to_path_buf()))
}

/// Runs one cargo build and reads which of `functions` it produced.
fn run_build(mut command: Command, functions: &[&Function]) -> Result<BuildOutcome, BuildError> {
    let shown = describe(&command);
    let spawn_error = |source| BuildError::Spawn {
        command: shown.clone(),
        source,
    };
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(spawn_error)?;
    let mut executables = BTreeMap::new();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.map_err(spawn_error)?;
            if let Some((function, executable)) = executable_in_message(&line, functions) {
                executables.insert(function, executable);
            }
        }
    }
    let status = child.wait().map_err(spawn_error)?;
    let failed = functions
        .iter()
        .filter(|function| !executables.contains_key(&function.name))
        .map(|function| function.name.clone())
        .collect();
    Ok(BuildOutcome {
        executables,
        failed,
        command: shown,
        status,
    })
}

/// A command as one line, for messages.
fn describe(command: &Command) -> String {
    let mut shown = Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program())
        .to_string_lossy()
        .into_owned();
    for arg in command.get_args() {
        shown.push(' ');
        shown.push_str(&arg.to_string_lossy());
    }
    shown
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// Metadata of a workspace with two functions, a library crate and the tooling.
    fn metadata() -> String {
        let package = |name: &str, dir: &str, targets: &[(&str, &str)]| {
            serde_json::json!({
                "id": format!("path+file:///checkout/{dir}/{name}#0.1.0"),
                "name": name,
                "manifest_path": format!("/checkout/{dir}/{name}/Cargo.toml"),
                "targets": targets.iter().map(|(name, kind)| serde_json::json!({"name": name, "kind": [kind]})).collect::<Vec<_>>(),
            })
        };
        let packages = [
            package(
                "validate-csv",
                "functions",
                &[("validate_csv", "lib"), ("validate-csv", "bin")],
            ),
            package(
                "check-errors",
                "functions",
                &[
                    ("check-errors", "bin"),
                    ("build-script-build", "custom-build"),
                ],
            ),
            package("userlog-domain", "crates", &[("userlog_domain", "lib")]),
            package("xtask", ".", &[("xtask", "bin")]),
        ];
        let members: Vec<&serde_json::Value> =
            packages.iter().map(|package| &package["id"]).collect();
        serde_json::json!({
            "packages": packages,
            "workspace_members": members,
            "workspace_root": "/checkout",
            "target_directory": "/checkout/target",
            "version": 1,
        })
        .to_string()
    }

    fn workspace() -> Workspace {
        Workspace::from_metadata(&metadata()).expect("the metadata is valid")
    }

    fn check(actual: &str, expected: &Expect) {
        expected.assert_eq(actual);
    }

    #[test]
    fn functions_are_the_members_under_functions() {
        let workspace = workspace();
        let shown: Vec<String> = workspace
            .functions
            .iter()
            .map(|function| {
                format!(
                    "{} (bin {}) {}",
                    function.name, function.binary, function.package_id
                )
            })
            .collect();
        check(
            &shown.join("\n"),
            &expect![[r#"
                check-errors (bin check-errors) path+file:///checkout/functions/check-errors#0.1.0
                validate-csv (bin validate-csv) path+file:///checkout/functions/validate-csv#0.1.0"#]],
        );
        assert_eq!(
            workspace.default_out_dir(),
            Path::new("/checkout/target/lambda")
        );
    }

    #[test]
    fn a_function_with_several_binaries_uses_the_one_named_like_it() {
        let json = metadata().replace(
            r#"{"name":"validate_csv","kind":["lib"]}"#,
            r#"{"name":"validate-csv-tool","kind":["bin"]}"#,
        );
        assert!(
            json.contains("validate-csv-tool"),
            "the fixture changed shape"
        );
        let workspace = Workspace::from_metadata(&json).expect("the metadata is valid");
        assert_eq!(workspace.functions[1].binary, "validate-csv");

        let json = json.replace(
            r#""name":"validate-csv","kind""#,
            r#""name":"validate-csv-other","kind""#,
        );
        assert!(
            json.contains("validate-csv-other"),
            "the fixture changed shape"
        );
        let err = Workspace::from_metadata(&json)
            .expect_err("two binaries, neither named like the package");
        check(
            &err.to_string(),
            &expect![
                "the function package `validate-csv` has 2 binary targets; it needs exactly one, or one named `validate-csv`"
            ],
        );
    }

    #[test]
    fn a_function_without_a_binary_is_an_error() {
        let json = metadata().replace(
            r#"{"name":"check-errors","kind":["bin"]}"#,
            r#"{"name":"check_errors","kind":["lib"]}"#,
        );
        let err = Workspace::from_metadata(&json).expect_err("no binary");
        check(
            &err.to_string(),
            &expect!["the function package `check-errors` has no binary target"],
        );
    }

    #[test]
    fn selection_keeps_the_workspace_order_and_rejects_unknown_names() {
        let workspace = workspace();
        let names = |selected: Vec<&Function>| {
            selected
                .iter()
                .map(|function| function.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        };
        assert_eq!(
            names(workspace.select(&[]).expect("all")),
            "check-errors, validate-csv"
        );
        let picked = workspace.select(&["validate-csv".to_owned()]).expect("one");
        assert_eq!(names(picked), "validate-csv");
        let err = workspace
            .select(&["validate-csv".to_owned(), "stats-api".to_owned()])
            .expect_err("unknown");
        check(
            &err.to_string(),
            &expect![
                "there is no function `stats-api`; the functions are: check-errors, validate-csv"
            ],
        );
    }

    #[test]
    fn the_build_is_one_locked_release_invocation() {
        let workspace = workspace();
        let functions = workspace.select(&[]).expect("all");
        let command = build_command(OsStr::new("cargo"), Path::new("Cargo.toml"), &functions);
        check(
            &describe(&command),
            &expect![
                "cargo build --release --locked --keep-going --message-format=json-render-diagnostics --manifest-path Cargo.toml -p check-errors -p validate-csv"
            ],
        );
    }

    #[test]
    fn executables_are_taken_from_the_binary_artifacts_of_the_functions() {
        let workspace = workspace();
        let functions = workspace.select(&[]).expect("all");
        let message = |package: &str, target: &str, kind: &str, executable: Option<&str>| {
            serde_json::json!({
                "reason": "compiler-artifact",
                "package_id": format!("path+file:///checkout/functions/{package}#0.1.0"),
                "target": {"name": target, "kind": [kind]},
                "executable": executable,
                "fresh": false,
            })
            .to_string()
        };
        let lines = [
            message("validate-csv", "validate_csv", "lib", None),
            message(
                "check-errors",
                "build-script-build",
                "custom-build",
                Some("/checkout/target/release/build/x/build-script-build"),
            ),
            message(
                "validate-csv",
                "validate-csv",
                "bin",
                Some("/checkout/target/release/validate-csv"),
            ),
            message(
                "xtask",
                "xtask",
                "bin",
                Some("/checkout/target/release/xtask"),
            ),
            r#"{"reason":"build-finished","success":false}"#.to_owned(),
            "not json".to_owned(),
        ];
        let found: Vec<String> = lines
            .iter()
            .filter_map(|line| executable_in_message(line, &functions))
            .map(|(function, executable)| format!("{function}: {}", executable.display()))
            .collect();
        check(
            &found.join("\n"),
            &expect!["validate-csv: /checkout/target/release/validate-csv"],
        );
    }

    #[test]
    fn a_workspace_without_functions_is_an_error() {
        let json = metadata().replace("/functions/", "/crates/");
        let err = Workspace::from_metadata(&json).expect_err("no functions");
        check(
            &err.to_string(),
            &expect!["the workspace has no function packages under /checkout/functions"],
        );
    }
}
