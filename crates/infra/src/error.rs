//! The errors of loading and rendering templates.

use std::path::PathBuf;

/// Something in `templates/` could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    /// The environment name is not one of the environments.
    #[error(
        "`{0}` is not an environment: use `local`, `staging`, `production` or `preview-pr-<N>` (N: 1 to 9 digits, no leading zero)"
    )]
    UnknownEnvironment(String),
    /// A template file is missing.
    #[error("the templates have no `{0}`")]
    MissingFile(String),
    /// A template file is not valid YAML, or not of the expected shape.
    #[error("`{file}` is not valid: {message}")]
    InvalidFile { file: String, message: String },
    /// A `${...}` parameter is not defined.
    #[error("`{file}`: `${{{name}}}` is not a parameter{hint}")]
    UnknownParameter {
        file: String,
        name: String,
        hint: String,
    },
    /// A template is well-formed YAML but breaks a rule of the template language.
    #[error("`{file}`: {message}")]
    Template { file: String, message: String },
    /// Reading the templates from disk failed.
    #[error("could not read `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl InfraError {
    /// A rule of the template language was broken in `file`.
    pub(crate) fn template(file: &str, message: impl Into<String>) -> Self {
        InfraError::Template {
            file: file.to_owned(),
            message: message.into(),
        }
    }

    /// `file` is not of the expected shape.
    pub(crate) fn invalid(file: &str, message: impl std::fmt::Display) -> Self {
        InfraError::InvalidFile {
            file: file.to_owned(),
            message: message.to_string(),
        }
    }
}
