//! Encoding rows into a Parquet file, one bounded row group at a time, with parquet's column
//! writers (no Arrow): the rows of a group are gathered per column, then written column by column
//! and Snappy-compressed. The file's bytes go to a buffer the caller drains after every group.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;

use crate::columns::{COLUMNS, parquet_message};
use crate::error::ExportError;
use crate::source::StatisticRow;

/// The bytes the writer has produced and the caller has not taken yet.
#[derive(Debug, Clone, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// Takes everything written so far.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many bytes wait to be taken.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether nothing waits to be taken.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The rows of the row group being gathered, one vector per column of [`COLUMNS`].
#[derive(Debug, Default)]
struct Group {
    user_id: Vec<ByteArray>,
    username: Vec<ByteArray>,
    login_count: Vec<i32>,
    post_count: Vec<i32>,
    last_updated: Vec<i64>,
    as_of: Vec<i64>,
    import_id: Vec<i64>,
}

impl Group {
    fn with_capacity(rows: usize) -> Group {
        Group {
            user_id: Vec::with_capacity(rows),
            username: Vec::with_capacity(rows),
            login_count: Vec::with_capacity(rows),
            post_count: Vec::with_capacity(rows),
            last_updated: Vec::with_capacity(rows),
            as_of: Vec::with_capacity(rows),
            import_id: Vec::with_capacity(rows),
        }
    }

    fn len(&self) -> usize {
        self.user_id.len()
    }

    fn clear(&mut self) {
        self.user_id.clear();
        self.username.clear();
        self.login_count.clear();
        self.post_count.clear();
        self.last_updated.clear();
        self.as_of.clear();
        self.import_id.clear();
    }
}

/// A Parquet file being written, in row groups of at most `rows_per_group` rows.
pub struct ParquetWriter {
    file: SerializedFileWriter<SharedBuffer>,
    buffer: SharedBuffer,
    group: Group,
    rows_per_group: usize,
    rows: u64,
    row_groups: u32,
}

impl std::fmt::Debug for ParquetWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetWriter")
            .field("rows", &self.rows)
            .field("row_groups", &self.row_groups)
            .finish_non_exhaustive()
    }
}

/// What a finished file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub rows: u64,
    pub row_groups: u32,
}

impl ParquetWriter {
    /// A new file with the schema of [`COLUMNS`]; `rows_per_group` is at least 1.
    pub fn new(rows_per_group: usize) -> Result<ParquetWriter, ExportError> {
        let schema =
            Arc::new(parse_message_type(&parquet_message()).map_err(ExportError::Parquet)?);
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            // User ids are unique: a dictionary would only be built to be thrown away.
            .set_column_dictionary_enabled(ColumnPath::from("user_id"), false)
            .set_created_by(format!("userlog-export {}", env!("CARGO_PKG_VERSION")))
            .build();
        let buffer = SharedBuffer::default();
        let file = SerializedFileWriter::new(buffer.clone(), schema, Arc::new(properties))
            .map_err(ExportError::Parquet)?;
        let rows_per_group = rows_per_group.max(1);
        Ok(ParquetWriter {
            file,
            buffer,
            group: Group::with_capacity(rows_per_group),
            rows_per_group,
            rows: 0,
            row_groups: 0,
        })
    }

    /// The bytes written so far and not yet taken.
    pub fn buffer(&self) -> &SharedBuffer {
        &self.buffer
    }

    /// Adds a row; writes the row group out when it is full (then returns `true`).
    pub fn push(&mut self, row: StatisticRow) -> Result<bool, ExportError> {
        // chrono's whole range fits in Parquet's microseconds (about ±292,000 years).
        let last_updated = row.last_updated.timestamp_micros();
        let as_of = row.as_of.timestamp_micros();
        let group = &mut self.group;
        group
            .user_id
            .push(ByteArray::from(row.user_id.into_bytes()));
        group
            .username
            .push(ByteArray::from(row.username.into_bytes()));
        group.login_count.push(row.login_count);
        group.post_count.push(row.post_count);
        group.last_updated.push(last_updated);
        group.as_of.push(as_of);
        group.import_id.push(row.import_id);
        if group.len() >= self.rows_per_group {
            self.write_group()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes the gathered rows as one row group.
    fn write_group(&mut self) -> Result<(), ExportError> {
        if self.group.len() == 0 {
            return Ok(());
        }
        let mut row_group = self.file.next_row_group().map_err(ExportError::Parquet)?;
        let mut index = 0;
        while let Some(mut column) = row_group.next_column().map_err(ExportError::Parquet)? {
            let group = &self.group;
            let written = match COLUMNS.get(index).map(|c| c.name) {
                Some("user_id") => {
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&group.user_id, None, None)
                }
                Some("username") => {
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&group.username, None, None)
                }
                Some("login_count") => {
                    column
                        .typed::<Int32Type>()
                        .write_batch(&group.login_count, None, None)
                }
                Some("post_count") => {
                    column
                        .typed::<Int32Type>()
                        .write_batch(&group.post_count, None, None)
                }
                Some("last_updated") => {
                    column
                        .typed::<Int64Type>()
                        .write_batch(&group.last_updated, None, None)
                }
                Some("as_of") => column
                    .typed::<Int64Type>()
                    .write_batch(&group.as_of, None, None),
                Some("import_id") => {
                    column
                        .typed::<Int64Type>()
                        .write_batch(&group.import_id, None, None)
                }
                other => {
                    return Err(ExportError::Parquet(
                        parquet::errors::ParquetError::General(format!(
                            "no values for column {other:?}"
                        )),
                    ));
                }
            };
            written.map_err(ExportError::Parquet)?;
            column.close().map_err(ExportError::Parquet)?;
            index += 1;
        }
        row_group.close().map_err(ExportError::Parquet)?;
        self.rows += self.group.len() as u64;
        self.row_groups += 1;
        self.group.clear();
        Ok(())
    }

    /// Writes the last row group and the footer. A file of no rows is still a valid file.
    pub fn finish(mut self) -> Result<Written, ExportError> {
        self.write_group()?;
        self.file.close().map_err(ExportError::Parquet)?;
        Ok(Written {
            rows: self.rows,
            row_groups: self.row_groups,
        })
    }
}
