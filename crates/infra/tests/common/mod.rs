//! Helpers shared by the integration tests: the repository's templates and renderings.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_yaml::Value;
use userlog_infra::{EnvironmentName, Rendered, Templates, render_environment};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The templates of the working tree.
pub fn templates() -> Templates {
    Templates::load(&repo_root().join("templates")).expect("the templates load")
}

/// One environment rendered from the working tree.
pub fn rendered(environment: EnvironmentName) -> Rendered {
    render_environment(environment, &templates()).expect("the environment renders")
}

/// The value at `path` (mapping keys, or list indexes as numbers), to change it.
pub fn at<'a>(value: &'a mut Value, path: &[&str]) -> &'a mut Value {
    let mut current = value;
    for key in path {
        current = match key.parse::<usize>() {
            Ok(index) if current.is_sequence() => {
                &mut current.as_sequence_mut().expect("a list")[index]
            }
            _ => current
                .get_mut(*key)
                .unwrap_or_else(|| panic!("no `{key}` in {path:?}")),
        };
    }
    current
}

/// Parses a YAML snippet.
pub fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).expect("the snippet is YAML")
}
