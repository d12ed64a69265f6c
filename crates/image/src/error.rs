//! What can go wrong building, reading or pushing an image.

/// An image could not be built, read or pushed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A path does not fit a tar header.
    #[error("`{0}` is longer than the 100 bytes a tar name holds")]
    NameTooLong(String),
    /// An image layout is not what the OCI image layout specification says.
    #[error("{path} is not an OCI image layout: {detail}")]
    BadLayout { path: String, detail: String },
    /// A blob's bytes do not have the digest that names it.
    #[error("blob {digest} holds other bytes (their digest is {actual})")]
    DigestMismatch { digest: String, actual: String },
    /// A registry reference could not be read.
    #[error("`{reference}` is not HOST[:PORT]/REPOSITORY[:TAG]: {detail}")]
    BadReference { reference: String, detail: String },
    /// The registry could not be reached.
    #[error("{url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// The registry answered with an error.
    #[error("{method} {url} answered {status}: {body}")]
    Registry {
        method: String,
        url: String,
        status: u16,
        body: String,
    },
}

impl ImageError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ImageError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
