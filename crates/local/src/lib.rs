//! Local stand-ins for one machine: a throwaway PostgreSQL cluster and the AWS emulator
//! (MiniStack) for this checkout.
//!
//! Every service keeps its state under `<repository root>/.local/<service>/` (or
//! `$USERLOG_LOCAL_DIR/<service>/`), takes a file lock there around `up` and `down`, and reports
//! what runs where as [`ServiceStatus`], which serialises to JSON. [`LocalStack`] gathers the
//! services behind one `up`/`down`/`status`/`env`; [`process`] has the helpers a service that
//! runs a background program needs (record its pid, wait until its port answers, stop it).
//!
//! ```no_run
//! use userlog_local::LocalStack;
//!
//! let stack = LocalStack::discover()?;
//! let report = stack.postgres.up(&mut |step| eprintln!("{step}"))?;
//! println!("{:?}", report.status.url);
//! # Ok::<(), userlog_local::LocalError>(())
//! ```

pub mod error;
pub mod layout;
pub mod lock;
pub mod ministack;
pub mod postgres;
pub mod privileges;
pub mod process;
pub mod python_tool;
pub mod stack;

pub use crate::error::LocalError;
pub use crate::layout::{LOCAL_DIR_ENV, LocalDir};
pub use crate::ministack::{EcsImage, MiniStack};
pub use crate::postgres::Postgres;
pub use crate::privileges::RunAs;
pub use crate::stack::{
    Action, EnvVar, LocalStack, Progress, Service, ServiceReport, ServiceState, ServiceStatus,
    StackReport, StackStatus, render_exports, render_report, render_status,
};
