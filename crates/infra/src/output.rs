//! Rendered files on disk: writing a rendering out, and telling whether a committed one is stale.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::InfraError;

/// Writes `files` into `dir` (created if missing), and removes files of `dir` that are not among them.
pub fn write_dir(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), InfraError> {
    let io = |path: &Path, source| InfraError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|err| io(dir, err))?;
    for entry in std::fs::read_dir(dir).map_err(|err| io(dir, err))? {
        let path = entry.map_err(|err| io(dir, err))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_file() && !files.contains_key(&name) {
            std::fs::remove_file(&path).map_err(|err| io(&path, err))?;
        }
    }
    for (name, text) in files {
        let path = dir.join(name);
        let unchanged = std::fs::read_to_string(&path).is_ok_and(|old| &old == text);
        if !unchanged {
            std::fs::write(&path, text).map_err(|err| io(&path, err))?;
        }
    }
    Ok(())
}

/// The files of `dir` that differ from `files` (missing, changed or extra), by name.
pub fn stale_files(dir: &Path, files: &BTreeMap<String, String>) -> Vec<String> {
    let mut stale: Vec<String> = files
        .iter()
        .filter(|(name, text)| std::fs::read_to_string(dir.join(name)).ok().as_ref() != Some(*text))
        .map(|(name, _)| name.clone())
        .collect();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_file() && !files.contains_key(&name) {
                stale.push(name);
            }
        }
    }
    stale.sort();
    stale
}
