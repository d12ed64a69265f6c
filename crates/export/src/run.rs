//! One export: a snapshot of the table, encoded and written to its day's object.

use std::time::Instant;

use futures_util::TryStreamExt as _;
use serde::Serialize;

use crate::day::{Day, object_key};
use crate::destination::{Destination, Sink};
use crate::error::ExportError;
use crate::source;
use crate::writer::ParquetWriter;

/// How an export writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// The key prefix of the table (the Glue table's location inside the bucket).
    pub prefix: String,
    /// The most rows a row group holds: what memory holds of the table at a time.
    pub rows_per_group: usize,
}

impl Default for ExportOptions {
    fn default() -> ExportOptions {
        ExportOptions {
            prefix: DEFAULT_PREFIX.to_owned(),
            rows_per_group: DEFAULT_ROWS_PER_GROUP,
        }
    }
}

/// Where the table's partitions start in the bucket (the function's `ETL_PREFIX`).
pub const DEFAULT_PREFIX: &str = "user_statistics/";

/// Rows per row group: about 5 MB of values in memory, and row groups Athena can split on.
pub const DEFAULT_ROWS_PER_GROUP: usize = 100_000;

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportSummary {
    /// The day (`dt`).
    pub day: String,
    /// The object (`s3://bucket/key`) or file.
    pub location: String,
    /// Rows written: every row of `user_statistics` in the snapshot.
    pub rows: u64,
    /// Row groups in the file.
    pub row_groups: u32,
    /// The file's size.
    pub bytes: u64,
    /// Upload parts (1 for a single put or a local file).
    pub parts: u32,
    /// How long it took.
    pub seconds: f64,
}

/// Exports the statistics of `pool`'s database as the file of `day` at `destination`, replacing
/// the day's previous file in one step. On any failure nothing becomes visible.
pub async fn export(
    pool: &sqlx::PgPool,
    day: Day,
    destination: &Destination,
    options: &ExportOptions,
) -> Result<ExportSummary, ExportError> {
    let started = Instant::now();
    let key = object_key(&options.prefix, day);
    let mut sink = destination.open(&key)?;
    match write_file(pool, options, &mut sink).await {
        Ok((rows, row_groups)) => {
            let committed = sink.commit().await?;
            let summary = ExportSummary {
                day: day.to_string(),
                location: destination.location(&key),
                rows,
                row_groups,
                bytes: committed.bytes,
                parts: committed.parts,
                seconds: started.elapsed().as_secs_f64(),
            };
            tracing::info!(
                day = %summary.day,
                location = %summary.location,
                rows = summary.rows,
                row_groups = summary.row_groups,
                bytes = summary.bytes,
                "export written"
            );
            Ok(summary)
        }
        Err(err) => {
            sink.abort().await;
            Err(err)
        }
    }
}

/// Streams the rows into the file and the file into `sink`, a row group at a time.
async fn write_file(
    pool: &sqlx::PgPool,
    options: &ExportOptions,
    sink: &mut Sink,
) -> Result<(u64, u32), ExportError> {
    let mut writer = ParquetWriter::new(options.rows_per_group)?;
    let mut connection = pool.acquire().await.map_err(ExportError::database)?;
    {
        let mut rows = source::rows(&mut *connection);
        while let Some(row) = rows.try_next().await.map_err(ExportError::database)? {
            if writer.push(row)? {
                let bytes = writer.buffer().take();
                sink.write(&bytes).await?;
            }
        }
    }
    let buffer = writer.buffer().clone();
    let written = writer.finish()?;
    sink.write(&buffer.take()).await?;
    Ok((written.rows, written.row_groups))
}
