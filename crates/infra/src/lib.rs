//! Infrastructure definitions: typed environment config, rendering, static validation, diffs and graphs.
//!
//! Everything here is a pure function of the source templates (`templates/`) and an environment's
//! parameters, except [`tools`], which installs and runs the Python tools the checks use.

pub mod alarms;
pub mod asl;
pub mod budget;
pub mod cfn;
pub mod codescan;
pub mod conditions;
pub mod diff;
pub mod env;
pub mod error;
pub mod events;
pub mod functions;
pub mod graph;
pub mod iam;
pub mod jsonpath;
pub mod lake;
pub mod output;
pub mod privilege;
pub mod render;
pub mod scan;
pub mod subst;
pub mod templates;
pub mod tools;
pub mod validate;
pub mod yaml;

pub use env::{EnvironmentConfig, EnvironmentName};
pub use error::InfraError;
pub use render::{Rendered, render, render_environment, render_preview};
pub use templates::Templates;
