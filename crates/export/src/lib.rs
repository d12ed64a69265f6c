//! The daily export of `user_statistics` (with each user's `username`) to Parquet in the data lake.
//!
//! [`export`] streams the table from PostgreSQL in one snapshot, ordered by `user_id`, encodes it
//! into row groups of at most [`ExportOptions::rows_per_group`] rows (Snappy-compressed), and
//! hands the file's bytes to a [`Destination`] as each row group completes: a multipart upload
//! to `s3://<bucket>/user_statistics/dt=YYYY-MM-DD/user_statistics.parquet`, or the same path
//! under a local directory. Memory holds one row group and one upload part, whatever the size of
//! the table.
//!
//! A day is one object, written whole before it becomes visible: S3 shows a multipart upload's
//! object only when it completes, replacing the day's previous object in one step, and a
//! directory gets a hidden temporary file renamed over the day's file. A rerun for a day replaces
//! that day; readers see the previous day's file or the new one, never part of one and never both.
//!
//! [`COLUMNS`] is the one definition of what the file holds; the Parquet schema is made from it,
//! and `cargo xtask validate` checks the Glue table of the template against it.

pub mod columns;
pub mod day;
pub mod destination;
pub mod error;
pub mod run;
pub mod source;
pub mod writer;

pub use columns::{COLUMNS, Column, Kind};
pub use day::{Day, object_key};
pub use destination::Destination;
pub use error::ExportError;
pub use run::{ExportOptions, ExportSummary, export};
pub use source::StatisticRow;
