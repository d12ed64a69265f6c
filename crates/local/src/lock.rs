//! An exclusive lock on a service's state directory, so that two processes starting the same
//! service at once (parallel test binaries, two terminals) do not both initialise it.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::LocalError;

/// The name of the lock file inside a state directory.
pub const LOCK_FILE: &str = "lock";

/// Holds the lock until dropped (closing the file releases it, also when the process dies).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// Waits until this process holds the lock on `<dir>/lock`, creating `dir` when missing.
    pub fn acquire(dir: &Path) -> Result<Self, LocalError> {
        std::fs::create_dir_all(dir).map_err(LocalError::io("create", dir))?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(LocalError::io("open the lock file", &path))?;
        file.lock().map_err(LocalError::io("lock", &path))?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use std::fs::TryLockError;

    use super::*;

    #[test]
    fn a_held_lock_excludes_others_until_dropped() {
        let dir = std::env::temp_dir().join(format!("userlog-local-lock-{}", std::process::id()));
        let held = StateLock::acquire(&dir).expect("take the lock");
        let other = File::options()
            .write(true)
            .open(held.path())
            .expect("open the lock file");
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        drop(held);
        other.try_lock().expect("free after drop");
        drop(other);
        std::fs::remove_dir_all(&dir).expect("remove the test directory");
    }
}
