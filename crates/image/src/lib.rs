//! The import task's container image, built without Docker, and pushed to any OCI registry.
//!
//! - [`tar`] writes a tar archive byte for byte reproducibly (fixed times, owners and order);
//! - [`layout`] builds the image (one layer: the static binary as entrypoint, CA certificates, a
//!   non-root user) as an OCI image layout directory, reads one back and unpacks its files;
//! - [`registry`] pushes a layout to an OCI distribution registry (the API every registry, ECR
//!   included, implements) and asks whether a tag is there.
//!
//! The same binary gives the same bytes, so the same digests: nothing depends on the clock, the
//! build machine's users or its certificate store (the certificates are Mozilla's, from the
//! `webpki-root-certs` crate the lock file pins).

pub mod error;
pub mod layout;
pub mod registry;
pub mod tar;

pub use error::ImageError;
pub use layout::{Image, ImageSpec, Layout};
pub use registry::{Reference, Registry};

use sha2::Digest as _;

/// `sha256:<hex>` of `bytes`, the digest form of OCI descriptors.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
