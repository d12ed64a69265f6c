//! Lambda artifacts: building the functions, checking their glibc needs, reproducible zips and their manifest.
//!
//! The steps, each usable on its own:
//! - [`workspace`] finds the function packages (`cargo metadata`) and builds them in one cargo run;
//! - [`glibc`] reads the symbol versions an executable needs and checks them against the runtime's
//!   glibc ([`glibc::AL2023_GLIBC`]);
//! - [`package`] zips an executable as `bootstrap`, byte for byte reproducibly, and hashes the zip;
//! - [`artifact`] ties those together for one function and writes the files;
//! - [`manifest`] describes the zips (`manifest.json`) and renders the size table.
//!
//! Everything except running cargo and writing files is a pure function of its input.

pub mod artifact;
pub mod error;
pub mod glibc;
pub mod manifest;
pub mod package;
pub mod workspace;

pub use error::BuildError;
pub use glibc::{AL2023_GLIBC, GlibcVersion};
pub use manifest::{FunctionArtifact, Manifest};
pub use workspace::{Function, Workspace};
