//! Where a day's file goes, and how it becomes visible there in one step.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use userlog_aws::s3::Client;
use userlog_aws::upload::{DEFAULT_PART_BYTES, ObjectUpload};

use crate::error::ExportError;

/// The media type of the file.
pub const CONTENT_TYPE: &str = "application/vnd.apache.parquet";

/// Where the export writes.
#[derive(Debug, Clone)]
pub enum Destination {
    /// An S3 bucket (the environment's ETL bucket), in multipart uploads of `part_bytes` parts.
    S3 {
        client: Client,
        bucket: String,
        part_bytes: usize,
    },
    /// A local directory that stands for the bucket: the file goes to `<root>/<key>`.
    Directory { root: PathBuf },
}

impl Destination {
    /// The ETL bucket `bucket`, in parts of the default size.
    pub fn s3(client: Client, bucket: &str) -> Destination {
        Destination::S3 {
            client,
            bucket: bucket.to_owned(),
            part_bytes: DEFAULT_PART_BYTES,
        }
    }

    /// Where `key` is, as a URL or a path.
    pub fn location(&self, key: &str) -> String {
        match self {
            Destination::S3 { bucket, .. } => format!("s3://{bucket}/{key}"),
            Destination::Directory { root } => root.join(key).display().to_string(),
        }
    }

    /// Starts writing the object `key`; nothing is visible under `key` before [`Sink::commit`].
    pub fn open(&self, key: &str) -> Result<Sink, ExportError> {
        match self {
            Destination::S3 {
                client,
                bucket,
                part_bytes,
            } => Ok(Sink::S3(ObjectUpload::new(
                client.clone(),
                bucket,
                key,
                CONTENT_TYPE,
                *part_bytes,
            ))),
            Destination::Directory { root } => {
                let path = root.join(key);
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
                // A hidden name without the .parquet suffix: readers of the partition (Athena,
                // Hive, DuckDB's globs) skip it while it is being written.
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let temporary = dir.join(format!(".{name}.{}.partial", std::process::id()));
                let file = File::create(&temporary).map_err(io_error(&temporary))?;
                Ok(Sink::File {
                    out: BufWriter::with_capacity(1 << 20, file),
                    temporary,
                    path,
                    bytes: 0,
                })
            }
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One object being written.
#[derive(Debug)]
pub enum Sink {
    /// A multipart upload (or a single put, for a small file).
    S3(ObjectUpload),
    /// A temporary file beside the final one.
    File {
        out: BufWriter<File>,
        temporary: PathBuf,
        path: PathBuf,
        bytes: u64,
    },
}

/// What a committed object is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Its size.
    pub bytes: u64,
    /// The parts it was uploaded in (1 for a file or a single put).
    pub parts: u32,
}

impl Sink {
    /// Appends the next bytes of the file.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        match self {
            Sink::S3(upload) => upload.write(bytes).await.map_err(ExportError::Upload),
            Sink::File {
                out,
                temporary,
                bytes: written,
                ..
            } => {
                out.write_all(bytes).map_err(io_error(temporary))?;
                *written += bytes.len() as u64;
                Ok(())
            }
        }
    }

    /// Makes the object visible under its key, replacing what was there, in one step: S3's
    /// `CompleteMultipartUpload` (or one `PutObject`), or a rename over the final file.
    pub async fn commit(self) -> Result<Committed, ExportError> {
        match self {
            Sink::S3(upload) => {
                let uploaded = upload.finish().await.map_err(ExportError::Upload)?;
                Ok(Committed {
                    bytes: uploaded.bytes,
                    parts: uploaded.parts,
                })
            }
            Sink::File {
                out,
                temporary,
                path,
                bytes,
            } => {
                let file = out.into_inner().map_err(|err| ExportError::Io {
                    path: temporary.display().to_string(),
                    source: err.into_error(),
                })?;
                file.sync_all().map_err(io_error(&temporary))?;
                drop(file);
                std::fs::rename(&temporary, &path).map_err(io_error(&path))?;
                Ok(Committed { bytes, parts: 1 })
            }
        }
    }

    /// Gives up: nothing becomes visible, and what was written so far is removed.
    pub async fn abort(self) {
        match self {
            Sink::S3(upload) => upload.abort().await,
            Sink::File { out, temporary, .. } => {
                drop(out);
                let _ = std::fs::remove_file(&temporary);
            }
        }
    }
}
