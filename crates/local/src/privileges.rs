//! Who runs the local servers. `initdb` and `pg_ctl` refuse to run as root, so a root process
//! runs them as an unprivileged system user (`postgres` when it exists, else `nobody`) through
//! `setpriv` (or `runuser`), after handing that user the state directory.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::error::LocalError;
use crate::process::{find_in_path, run_checked};

/// The accounts tried, in order, when the server must not run as root.
pub const UNPRIVILEGED_USERS: [&str; 2] = ["postgres", "nobody"];

/// An account from the user database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemUser {
    /// The login name.
    pub name: String,
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
}

/// The program that switches to another user for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivilegeDropTool {
    /// util-linux `setpriv --reuid --regid --init-groups`.
    Setpriv(PathBuf),
    /// util-linux `runuser -u`.
    Runuser(PathBuf),
}

/// Which user runs the server programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAs {
    /// The user running this process (it is not root).
    CurrentUser,
    /// Another, unprivileged user; this process is root.
    OtherUser {
        /// The account the programs run as.
        user: SystemUser,
        /// How this process switches to it.
        tool: PrivilegeDropTool,
    },
}

impl RunAs {
    /// The current user, unless this process runs as root: then the first of
    /// [`UNPRIVILEGED_USERS`] that exists, switched to with `setpriv` or `runuser`.
    pub fn for_server() -> Result<Self, LocalError> {
        if effective_uid()? != 0 {
            return Ok(Self::CurrentUser);
        }
        let user = UNPRIVILEGED_USERS
            .iter()
            .find_map(|name| lookup_user(name))
            .ok_or(LocalError::NoUnprivilegedUser)?;
        let tool = if let Some(setpriv) = find_in_path("setpriv") {
            PrivilegeDropTool::Setpriv(setpriv)
        } else if let Some(runuser) = find_in_path("runuser") {
            PrivilegeDropTool::Runuser(runuser)
        } else {
            return Err(LocalError::NoPrivilegeDropTool { user: user.name });
        };
        Ok(Self::OtherUser { user, tool })
    }

    /// The name of the other user, or `None` for the current user.
    pub fn user_name(&self) -> Option<&str> {
        match self {
            Self::CurrentUser => None,
            Self::OtherUser { user, .. } => Some(&user.name),
        }
    }

    /// A command that runs `program` as this user in `current_dir` (which that user must be able
    /// to enter: some programs fail when they cannot read their working directory).
    pub fn command(&self, program: &Path, current_dir: &Path) -> Command {
        let mut command = match self {
            Self::CurrentUser => Command::new(program),
            Self::OtherUser { user, tool } => {
                let mut command = match tool {
                    PrivilegeDropTool::Setpriv(setpriv) => {
                        let mut command = Command::new(setpriv);
                        command.args([
                            format!("--reuid={}", user.uid),
                            format!("--regid={}", user.gid),
                            "--init-groups".to_owned(),
                            "--".to_owned(),
                        ]);
                        command
                    }
                    PrivilegeDropTool::Runuser(runuser) => {
                        let mut command = Command::new(runuser);
                        command.args(["-u", &user.name, "--"]);
                        command
                    }
                };
                command.arg(program);
                command
            }
        };
        command.current_dir(current_dir);
        command
    }

    /// Makes `dir` (which must exist) usable by this user: when it is another user, checks that it
    /// can reach the directory, and hands the directory to it.
    pub fn take_dir(&self, dir: &Path) -> Result<(), LocalError> {
        let Self::OtherUser { user, .. } = self else {
            return Ok(());
        };
        let unreachable = |blocking| LocalError::UnreachableByServiceUser {
            user: user.name.clone(),
            dir: dir.to_path_buf(),
            blocking,
        };
        if let Some(blocking) = first_unsearchable_ancestor(dir, user) {
            return Err(unreachable(Some(blocking)));
        }
        std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid))
            .map_err(LocalError::io("change the owner of", dir))?;
        // The walk above reads permission bits only; ask the system, which also knows about
        // supplementary groups and access control lists.
        let check = run_checked(
            self.command(Path::new("test"), Path::new("/"))
                .arg("-x")
                .arg(dir),
            "",
        );
        if check.is_err() {
            return Err(unreachable(None));
        }
        Ok(())
    }

    /// Hands everything under `path` to this user when it is another user and `path` is not
    /// already its own (for example after a run as a different account).
    pub fn take_tree(&self, path: &Path) -> Result<(), LocalError> {
        let Self::OtherUser { user, .. } = self else {
            return Ok(());
        };
        let metadata = std::fs::symlink_metadata(path).map_err(LocalError::io("inspect", path))?;
        if metadata.uid() == user.uid && metadata.gid() == user.gid {
            return Ok(());
        }
        chown_tree(path, user)
    }

    /// Hands one file to this user when it is another user.
    pub fn take_file(&self, path: &Path) -> Result<(), LocalError> {
        match self {
            Self::CurrentUser => Ok(()),
            Self::OtherUser { user, .. } => {
                std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid))
                    .map_err(LocalError::io("change the owner of", path))
            }
        }
    }
}

fn chown_tree(path: &Path, user: &SystemUser) -> Result<(), LocalError> {
    std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid))
        .map_err(LocalError::io("change the owner of", path))?;
    let metadata = std::fs::symlink_metadata(path).map_err(LocalError::io("inspect", path))?;
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path).map_err(LocalError::io("list", path))? {
            let entry = entry.map_err(LocalError::io("list", path))?;
            chown_tree(&entry.path(), user)?;
        }
    }
    Ok(())
}

/// The first directory above `dir` (from the root down) that `user` may not enter, judged by
/// owner, group and permission bits.
fn first_unsearchable_ancestor(dir: &Path, user: &SystemUser) -> Option<PathBuf> {
    let ancestors: Vec<&Path> = dir.ancestors().skip(1).collect();
    ancestors.into_iter().rev().find_map(|ancestor| {
        let metadata = std::fs::metadata(ancestor).ok()?;
        (!may_search(metadata.mode(), metadata.uid(), metadata.gid(), user))
            .then(|| ancestor.to_path_buf())
    })
}

/// Whether `user` may enter a directory with this mode and owner (ignoring supplementary groups).
pub fn may_search(mode: u32, owner_uid: u32, owner_gid: u32, user: &SystemUser) -> bool {
    let bit = if user.uid == owner_uid {
        0o100
    } else if user.gid == owner_gid {
        0o010
    } else {
        0o001
    };
    mode & bit != 0
}

/// The effective user id of this process.
pub fn effective_uid() -> Result<u32, LocalError> {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(uid) = parse_effective_uid(&status)
    {
        return Ok(uid);
    }
    let output = run_checked(
        Command::new("id").arg("-u"),
        "`id` is part of coreutils; install it",
    )?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| LocalError::CommandFailed {
            command: "id -u".to_owned(),
            status: "unexpected output".to_owned(),
            output: String::from_utf8_lossy(&output.stdout).into_owned(),
            hint: "expected a number".to_owned(),
        })
}

/// The effective uid from the `Uid:` line of `/proc/<pid>/status` (real, effective, saved, file system).
pub fn parse_effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Looks an account up by name through `getent passwd` (which also sees accounts from directory
/// services), falling back to `/etc/passwd`.
pub fn lookup_user(name: &str) -> Option<SystemUser> {
    let from_getent = Command::new("getent")
        .args(["passwd", name])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned());
    let passwd = match from_getent {
        Some(text) => text,
        None => std::fs::read_to_string("/etc/passwd").ok()?,
    };
    passwd
        .lines()
        .filter_map(parse_passwd_line)
        .find(|user| user.name == name)
}

/// Parses one `name:password:uid:gid:gecos:home:shell` line.
pub fn parse_passwd_line(line: &str) -> Option<SystemUser> {
    let mut fields = line.split(':');
    let name = fields.next()?.to_owned();
    let _password = fields.next()?;
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    (!name.is_empty()).then_some(SystemUser { name, uid, gid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_uid_is_the_second_number() {
        let status = "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(parse_effective_uid(status), Some(0));
        assert_eq!(parse_effective_uid("Name:\tcat\n"), None);
    }

    #[test]
    fn passwd_lines_give_name_and_ids() {
        assert_eq!(
            parse_passwd_line(
                "postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash"
            ),
            Some(SystemUser {
                name: "postgres".to_owned(),
                uid: 101,
                gid: 104
            })
        );
        assert_eq!(parse_passwd_line("broken:x:abc:1::/:/bin/sh"), None);
        assert_eq!(parse_passwd_line(""), None);
    }

    #[test]
    fn search_permission_follows_owner_group_and_others() {
        let user = SystemUser {
            name: "postgres".to_owned(),
            uid: 101,
            gid: 104,
        };
        assert!(may_search(0o700, 101, 0, &user));
        assert!(!may_search(0o077, 101, 104, &user));
        assert!(may_search(0o750, 0, 104, &user));
        assert!(!may_search(0o750, 0, 0, &user));
        assert!(may_search(0o711, 0, 0, &user));
        assert!(!may_search(0o700, 0, 0, &user));
    }

    #[test]
    fn the_current_user_runs_programs_directly() {
        let command = RunAs::CurrentUser.command(Path::new("pg_ctl"), Path::new("/"));
        assert_eq!(crate::process::render_command(&command), "pg_ctl");
    }

    #[test]
    fn another_user_is_switched_to_with_the_tool() {
        let user = SystemUser {
            name: "postgres".to_owned(),
            uid: 101,
            gid: 104,
        };
        let setpriv = RunAs::OtherUser {
            user: user.clone(),
            tool: PrivilegeDropTool::Setpriv(PathBuf::from("setpriv")),
        };
        let mut command = setpriv.command(Path::new("pg_ctl"), Path::new("/"));
        command.arg("status");
        assert_eq!(
            crate::process::render_command(&command),
            "setpriv --reuid=101 --regid=104 --init-groups -- pg_ctl status"
        );
        let runuser = RunAs::OtherUser {
            user,
            tool: PrivilegeDropTool::Runuser(PathBuf::from("runuser")),
        };
        let command = runuser.command(Path::new("initdb"), Path::new("/"));
        assert_eq!(
            crate::process::render_command(&command),
            "runuser -u postgres -- initdb"
        );
    }
}
