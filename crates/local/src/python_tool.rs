//! Pinned Python tools in project-local virtualenvs: the virtualenv is created with
//! `python3 -m venv` on first use and the exact pins are installed with pip; both steps are skipped
//! when the virtualenv already holds the pinned versions (asked through `importlib.metadata`).
//!
//! ```no_run
//! use userlog_local::python_tool::{PythonTool, Requirement};
//!
//! let tool = PythonTool::new(".local/venv-cfn-lint", vec![Requirement::parse("cfn-lint==1.51.0")?]);
//! tool.ensure(&mut |step| eprintln!("{step}"))?;
//! let cfn_lint = tool.program("cfn-lint");
//! # Ok::<(), userlog_local::LocalError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::LocalError;
use crate::process::{find_in_path, run_checked, tail_lines};
use crate::stack::Progress;

/// Prints, as one JSON object, the installed version (or null) of each distribution named on the
/// command line.
const VERSION_QUERY: &str = "\
import importlib.metadata as metadata, json, sys
def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
print(json.dumps({name: version(name) for name in sys.argv[1:]}))
";

/// One exact pin, `name==version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    /// The distribution name as PyPI knows it, e.g. `ministack`.
    pub name: String,
    /// The exact version, e.g. `1.5.33`.
    pub version: String,
}

impl Requirement {
    /// Reads `name==version`; anything else (ranges, extras, markers) is refused, since the
    /// tooling depends on exact versions.
    pub fn parse(text: &str) -> Result<Self, LocalError> {
        let invalid = || LocalError::InvalidRequirement {
            text: text.to_owned(),
        };
        let (name, version) = text.trim().split_once("==").ok_or_else(invalid)?;
        let (name, version) = (name.trim(), version.trim());
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let version_ok = !version.is_empty()
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '!' | '-' | '_'));
        if !name_ok || !version_ok {
            return Err(invalid());
        }
        Ok(Self {
            name: name.to_owned(),
            version: version.to_owned(),
        })
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=={}", self.name, self.version)
    }
}

/// The pins of a `requirements.txt` that holds only `name==version` lines, blank lines and `#`
/// comments.
pub fn parse_requirements(text: &str) -> Result<Vec<Requirement>, LocalError> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(Requirement::parse)
        .collect()
}

/// The pins that `installed` (distribution name to installed version, `None` when absent) does
/// not satisfy exactly.
pub fn unsatisfied<'a>(
    requirements: &'a [Requirement],
    installed: &BTreeMap<String, Option<String>>,
) -> Vec<&'a Requirement> {
    requirements
        .iter()
        .filter(|requirement| {
            installed.get(&requirement.name).and_then(Option::as_deref)
                != Some(requirement.version.as_str())
        })
        .collect()
}

/// What [`PythonTool::ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Installation {
    /// The pinned versions were already there.
    AlreadyInstalled,
    /// It created the virtualenv or installed pins.
    Installed,
}

/// A set of pinned Python distributions in one virtualenv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonTool {
    venv_dir: PathBuf,
    requirements: Vec<Requirement>,
}

impl PythonTool {
    /// The pins `requirements` in the virtualenv `venv_dir` (created on [`PythonTool::ensure`]).
    pub fn new(venv_dir: impl Into<PathBuf>, requirements: Vec<Requirement>) -> Self {
        Self {
            venv_dir: venv_dir.into(),
            requirements,
        }
    }

    /// The pins of a `requirements.txt` file (see [`parse_requirements`]).
    pub fn from_requirements_file(
        venv_dir: impl Into<PathBuf>,
        file: &Path,
    ) -> Result<Self, LocalError> {
        let text = std::fs::read_to_string(file).map_err(LocalError::io("read", file))?;
        Ok(Self::new(venv_dir, parse_requirements(&text)?))
    }

    /// The virtualenv directory.
    pub fn venv_dir(&self) -> &Path {
        &self.venv_dir
    }

    /// The pins.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// The virtualenv's Python interpreter.
    pub fn python(&self) -> PathBuf {
        self.program("python")
    }

    /// A program the virtualenv provides, e.g. `cfn-lint`.
    pub fn program(&self, name: &str) -> PathBuf {
        self.venv_dir.join("bin").join(name)
    }

    /// The installed version of every pinned distribution (`None` when absent); empty when the
    /// virtualenv has no working interpreter.
    pub fn installed_versions(&self) -> BTreeMap<String, Option<String>> {
        let output = Command::new(self.python())
            .arg("-c")
            .arg(VERSION_QUERY)
            .args(self.requirements.iter().map(|r| r.name.as_str()))
            .output();
        match output {
            Ok(output) if output.status.success() => {
                serde_json::from_slice(&output.stdout).unwrap_or_default()
            }
            _ => BTreeMap::new(),
        }
    }

    /// Whether every pin is installed at its exact version.
    pub fn is_installed(&self) -> bool {
        unsatisfied(&self.requirements, &self.installed_versions()).is_empty()
    }

    /// Creates the virtualenv and installs the pins unless they are already there. Holds a lock
    /// file beside the virtualenv meanwhile, so that concurrent callers do not run pip at once.
    pub fn ensure(&self, progress: Progress<'_>) -> Result<Installation, LocalError> {
        self.ensure_with(find_in_path("python3"), progress)
    }

    /// [`PythonTool::ensure`] with the `python3` that creates the virtualenv (`None`: there is
    /// none).
    fn ensure_with(
        &self,
        python3: Option<PathBuf>,
        progress: Progress<'_>,
    ) -> Result<Installation, LocalError> {
        let _lock = self.lock()?;
        if self.is_installed() {
            return Ok(Installation::AlreadyInstalled);
        }
        if !self.python().is_file() {
            let python3 = python3.ok_or(LocalError::PythonMissing)?;
            check_venv_module(&python3)?;
            progress(&format!(
                "Creating a Python virtualenv in {} ...",
                self.venv_dir.display()
            ));
            run_checked(
                Command::new(&python3)
                    .args(["-m", "venv", "--clear"])
                    .arg(&self.venv_dir),
                "python3 could not create the virtualenv; the output above says why",
            )?;
        }
        let pins: Vec<String> = self.requirements.iter().map(ToString::to_string).collect();
        progress(&format!(
            "Installing {} into {} (first use; pip downloads from PyPI) ...",
            pins.join(", "),
            self.venv_dir.display()
        ));
        run_checked(
            Command::new(self.python())
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--quiet",
                ])
                .args(&pins),
            "pip could not install the pinned packages; it needs access to PyPI (or to the index \
             PIP_INDEX_URL names); fix that and run the command again",
        )?;
        let installed = self.installed_versions();
        let missing = unsatisfied(&self.requirements, &installed);
        if !missing.is_empty() {
            let missing = missing
                .iter()
                .map(|requirement| {
                    let found = installed
                        .get(&requirement.name)
                        .and_then(Option::as_deref)
                        .unwrap_or("nothing");
                    format!("{requirement} is wanted but {found} is installed")
                })
                .collect::<Vec<_>>()
                .join(", ");
            return Err(LocalError::PythonToolIncomplete {
                venv_dir: self.venv_dir.clone(),
                missing,
            });
        }
        Ok(Installation::Installed)
    }

    /// An exclusive lock on `<venv>.lock` beside the virtualenv (inside it, `venv --clear` would
    /// delete it).
    fn lock(&self) -> Result<File, LocalError> {
        let mut name = self
            .venv_dir
            .file_name()
            .map(|name| name.to_owned())
            .unwrap_or_else(|| "venv".into());
        name.push(".lock");
        let path = self.venv_dir.with_file_name(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(LocalError::io("create", parent))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(LocalError::io("open the lock file", &path))?;
        file.lock().map_err(LocalError::io("lock", &path))?;
        Ok(file)
    }
}

/// Fails with [`LocalError::VenvModuleMissing`] when `python3` cannot create virtualenvs (Debian
/// ships `venv` and `ensurepip` in the separate `python3-venv` package).
fn check_venv_module(python3: &Path) -> Result<(), LocalError> {
    let output = Command::new(python3)
        .args(["-c", "import venv, ensurepip"])
        .output()
        .map_err(|source| LocalError::Spawn {
            program: python3.display().to_string(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(LocalError::VenvModuleMissing {
        python: python3.to_path_buf(),
        output: tail_lines(String::from_utf8_lossy(&output.stderr).trim(), 3),
    })
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check_requirements(text: &str, expected: &Expect) {
        let rendered = match parse_requirements(text) {
            Ok(pins) => pins
                .iter()
                .map(|pin| format!("{} at {}\n", pin.name, pin.version))
                .collect(),
            Err(error) => format!("error: {error}\n"),
        };
        expected.assert_eq(&rendered);
    }

    #[test]
    fn requirements_files_hold_exact_pins_and_comments() {
        check_requirements(
            "# The emulator.\nministack==1.5.33\n\n boto3 == 1.43.106  # matches botocore\n",
            &expect![[r#"
                ministack at 1.5.33
                boto3 at 1.43.106
            "#]],
        );
        check_requirements(
            "ministack>=1.5\n",
            &expect![[r#"
                error: `ministack>=1.5` is not an exact pin (`name==version`); the tooling installs exact versions only
            "#]],
        );
        check_requirements(
            "ministack[full]==1.5.33\n",
            &expect![[r#"
                error: `ministack[full]==1.5.33` is not an exact pin (`name==version`); the tooling installs exact versions only
            "#]],
        );
    }

    #[test]
    fn pins_display_as_pip_takes_them() {
        let pin = Requirement::parse("cfn-lint==1.51.0").expect("a pin");
        assert_eq!(pin.to_string(), "cfn-lint==1.51.0");
    }

    #[test]
    fn only_exact_versions_satisfy_a_pin() {
        let pins = parse_requirements("a==1\nb==2\nc==3\n").expect("pins");
        let installed = BTreeMap::from([
            ("a".to_owned(), Some("1".to_owned())),
            ("b".to_owned(), Some("2.0".to_owned())),
            ("c".to_owned(), None),
        ]);
        let names: Vec<&str> = unsatisfied(&pins, &installed)
            .iter()
            .map(|pin| pin.name.as_str())
            .collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(unsatisfied(&pins, &BTreeMap::new()).len(), 3);
    }

    #[test]
    fn a_machine_without_python3_or_its_venv_module_is_told_what_to_install() {
        let dir = std::env::temp_dir().join(format!("userlog-python-tool-{}", std::process::id()));
        let tool = PythonTool::new(
            dir.join("venv"),
            parse_requirements("ministack==1.5.33\n").expect("pins"),
        );
        let error = tool.ensure_with(None, &mut |_| {}).expect_err("no python3");
        assert!(matches!(error, LocalError::PythonMissing), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("apt-get install python3 python3-venv")
        );

        // A `python3` that cannot import venv and ensurepip (here: `false`, which fails whatever
        // it is asked).
        let without_venv = find_in_path("false").expect("`false` is installed");
        let error = tool
            .ensure_with(Some(without_venv), &mut |_| {})
            .expect_err("no venv module");
        assert!(
            matches!(error, LocalError::VenvModuleMissing { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("apt-get install python3-venv"));
        assert!(!tool.venv_dir().exists(), "nothing was created");
        std::fs::remove_dir_all(&dir).expect("remove the test directory");
    }

    #[test]
    fn a_missing_virtualenv_has_nothing_installed() {
        let tool = PythonTool::new(
            std::env::temp_dir().join("userlog-no-such-venv"),
            parse_requirements("ministack==1.5.33\n").expect("pins"),
        );
        assert!(tool.installed_versions().is_empty());
        assert!(!tool.is_installed());
    }
}
