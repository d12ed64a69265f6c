//! PostgreSQL access: migrations, the imports ledger, and applying rows to `user_statistics`.
//!
//! Two ways rows reach the database, with the same rules (`userlog_domain::rules`):
//! [`apply::apply_batch`] for the distributed map's batches, and [`bulk::import`] for whole files.

pub mod apply;
pub mod bulk;
pub mod error;
pub mod ledger;
pub mod migrate;
pub mod preview;
pub mod roles;

pub use error::DbError;
