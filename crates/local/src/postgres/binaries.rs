//! Finding the machine's PostgreSQL server programs: `PG_BIN_DIR`, `pg_config --bindir`,
//! `/usr/lib/postgresql/<version>/bin` (newest first), then `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::LocalError;
use crate::process::{find_in_path, is_executable, run_checked};

/// The environment variable that names the directory holding `initdb` and `pg_ctl`.
pub const PG_BIN_DIR_ENV: &str = "PG_BIN_DIR";

/// Where Debian and Ubuntu install each PostgreSQL major version.
const DEBIAN_VERSIONS_DIR: &str = "/usr/lib/postgresql";

/// The programs a cluster needs, all from one directory.
const REQUIRED: [&str; 4] = ["initdb", "pg_ctl", "postgres", "psql"];

/// A directory holding the PostgreSQL server programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    dir: PathBuf,
}

impl PgBinaries {
    /// Finds the server programs, or says what to install.
    pub fn discover() -> Result<Self, LocalError> {
        if let Some(dir) = std::env::var_os(PG_BIN_DIR_ENV).filter(|v| !v.is_empty()) {
            let dir = PathBuf::from(dir);
            return match missing_program(&dir) {
                None => Ok(Self { dir }),
                Some(missing) => Err(LocalError::InvalidPgBinDir { dir, missing }),
            };
        }
        let mut searched = Vec::new();
        let candidates = pg_config_bindir()
            .into_iter()
            .chain(debian_bin_dirs(Path::new(DEBIAN_VERSIONS_DIR)))
            .chain(
                find_in_path("initdb").and_then(|initdb| initdb.parent().map(Path::to_path_buf)),
            );
        for dir in candidates {
            if missing_program(&dir).is_none() {
                return Ok(Self { dir });
            }
            searched.push(dir);
        }
        if searched.is_empty() {
            searched.push(PathBuf::from("PATH"));
        }
        Err(LocalError::PostgresNotInstalled { searched })
    }

    /// Uses this directory as it is (tests and callers that already know it).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of one program in the directory, e.g. `program("pg_ctl")`.
    pub fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The major version of the programs, as `PG_VERSION` files spell it (`15`, or `9.6`).
    pub fn major_version(&self) -> Result<String, LocalError> {
        let output = run_checked(
            Command::new(self.program("pg_ctl")).arg("--version"),
            "the PostgreSQL installation looks broken; reinstall it or set PG_BIN_DIR",
        )?;
        let text = String::from_utf8_lossy(&output.stdout);
        parse_major_version(&text).ok_or_else(|| LocalError::CommandFailed {
            command: format!("{} --version", self.program("pg_ctl").display()),
            status: "unexpected output".to_owned(),
            output: text.trim().to_owned(),
            hint: "expected `pg_ctl (PostgreSQL) <version>`".to_owned(),
        })
    }
}

fn missing_program(dir: &Path) -> Option<&'static str> {
    REQUIRED
        .into_iter()
        .find(|name| !is_executable(&dir.join(name)))
}

fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !text.is_empty()).then(|| PathBuf::from(text))
}

/// The `bin` directories under `/usr/lib/postgresql/<version>/`, newest version first.
fn debian_bin_dirs(versions_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(versions_dir) else {
        return Vec::new();
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    newest_first(&names)
        .into_iter()
        .map(|name| versions_dir.join(name).join("bin"))
        .collect()
}

/// Version directory names sorted newest first by their numbers (`16` before `9.6`); names that
/// are not versions are left out.
pub fn newest_first(names: &[String]) -> Vec<String> {
    let mut versions: Vec<(Vec<u64>, &String)> = names
        .iter()
        .filter_map(|name| {
            let numbers: Option<Vec<u64>> = name.split('.').map(|part| part.parse().ok()).collect();
            Some((numbers?, name))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, name)| name.clone()).collect()
}

/// The major version from `pg_ctl (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)`: `15`; for
/// versions before 10 the first two numbers (`9.6`), as in `PG_VERSION`.
pub fn parse_major_version(version_output: &str) -> Option<String> {
    let rest = version_output.split("(PostgreSQL)").nth(1)?;
    let version = rest.split_whitespace().next()?;
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let major: u32 = numbers.next()?.parse().ok()?;
    if major >= 10 {
        Some(major.to_string())
    } else {
        Some(format!("{major}.{}", numbers.next()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_numerically_newest_first() {
        let names: Vec<String> = ["9.6", "15", "16", "README", "13"]
            .map(String::from)
            .to_vec();
        assert_eq!(newest_first(&names), ["16", "15", "13", "9.6"]);
    }

    #[test]
    fn major_versions_follow_pg_version_spelling() {
        assert_eq!(
            parse_major_version("pg_ctl (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)\n").as_deref(),
            Some("15")
        );
        assert_eq!(
            parse_major_version("pg_ctl (PostgreSQL) 17beta2\n").as_deref(),
            Some("17")
        );
        assert_eq!(
            parse_major_version("pg_ctl (PostgreSQL) 9.6.24\n").as_deref(),
            Some("9.6")
        );
        assert_eq!(parse_major_version("something else"), None);
    }
}
