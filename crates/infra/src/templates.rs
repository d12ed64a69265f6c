//! The source templates: the files under `templates/`, held in memory so that rendering is pure.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::InfraError;

/// The text of every file under `templates/`, by its path relative to that directory (`/`-separated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Templates {
    files: BTreeMap<String, String>,
}

impl Templates {
    /// Templates from file texts, keyed by their paths relative to `templates/`.
    pub fn from_files(files: BTreeMap<String, String>) -> Self {
        Templates { files }
    }

    /// Reads every file under `dir` (the `templates/` directory).
    pub fn load(dir: &Path) -> Result<Self, InfraError> {
        let mut files = BTreeMap::new();
        read_dir_into(dir, dir, &mut files)?;
        Ok(Templates { files })
    }

    /// These templates with `project.yaml`'s `repository` (the GitHub repository the deploy
    /// roles trust) set to `repository`.
    pub fn with_repository(mut self, repository: &str) -> Result<Self, InfraError> {
        let file = "project.yaml";
        let mut project: serde_yaml::Value =
            serde_yaml::from_str(self.get(file)?).map_err(|err| InfraError::invalid(file, err))?;
        let mapping = project
            .as_mapping_mut()
            .ok_or_else(|| InfraError::invalid(file, "not a mapping"))?;
        mapping.insert("repository".into(), repository.into());
        let text = serde_yaml::to_string(&project).map_err(|err| InfraError::invalid(file, err))?;
        self.files.insert(file.to_owned(), text);
        Ok(self)
    }

    /// The text of one file.
    pub fn get(&self, path: &str) -> Result<&str, InfraError> {
        self.files
            .get(path)
            .map(String::as_str)
            .ok_or_else(|| InfraError::MissingFile(path.to_owned()))
    }

    /// The paths of the files directly in `dir` that end in `.yaml`, sorted.
    pub fn yaml_files_in(&self, dir: &str) -> Vec<&str> {
        let prefix = format!("{dir}/");
        self.files
            .keys()
            .filter_map(|path| {
                let rest = path.strip_prefix(&prefix)?;
                (!rest.contains('/') && rest.ends_with(".yaml")).then_some(path.as_str())
            })
            .collect()
    }

    /// Replaces or adds one file (tests use it to change a template).
    pub fn set(&mut self, path: &str, text: String) {
        self.files.insert(path.to_owned(), text);
    }
}

fn read_dir_into(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, String>,
) -> Result<(), InfraError> {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InfraError + '_ {
        move |source| InfraError::Io {
            path: path.to_owned(),
            source,
        }
    }
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() {
            read_dir_into(root, &path, files)?;
        } else {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let key = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            files.insert(key, text);
        }
    }
    Ok(())
}
