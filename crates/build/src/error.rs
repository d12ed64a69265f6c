//! The errors of building and packaging the functions.

use std::path::PathBuf;

use crate::glibc::GlibcVersion;

/// Why building, checking or packaging a function failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("`{0}` is not a glibc version such as 2.34")]
    InvalidGlibcVersion(String),

    #[error("the file is not an ELF executable")]
    NotElf,

    #[error("cannot read the ELF executable: {0}")]
    Elf(#[from] object::read::Error),

    #[error("cannot write or read the zip archive: {0}")]
    Zip(#[from] zip::result::ZipError),

    #[error("cannot read the output of `cargo metadata`: {0}")]
    Metadata(#[source] serde_json::Error),

    #[error(
        "{zip} does not match the build manifest (its sha256 is {found}, the manifest says {expected}); build again"
    )]
    ArtifactChanged {
        zip: PathBuf,
        expected: String,
        found: String,
    },

    #[error("cannot read the manifest: {0}")]
    Manifest(#[source] serde_json::Error),

    #[error("the workspace has no function packages under {0}")]
    NoFunctions(PathBuf),

    #[error(
        "the function package `{package}` has {count} binary targets; it needs exactly one, or one named `{package}`"
    )]
    AmbiguousBinary { package: String, count: usize },

    #[error("the function package `{0}` has no binary target")]
    NoBinary(String),

    #[error("there is no function `{name}`; the functions are: {known}")]
    UnknownFunction { name: String, known: String },

    #[error("{function} needs a newer glibc than the Lambda runtime's {limit}:\n{offenders}")]
    GlibcTooNew {
        function: String,
        limit: GlibcVersion,
        offenders: String,
    },

    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`{command}` failed ({status})")]
    CommandFailed {
        command: String,
        status: std::process::ExitStatus,
    },
}

impl BuildError {
    /// An IO error while doing `action` ("read", "write", ...) on `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.into();
        move |source| BuildError::Io {
            action,
            path,
            source,
        }
    }
}
