//! `cargo xtask import FILE --database-url URL`: the bulk import path (the `import-csv` task's
//! code) run against a database from this machine.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use userlog_db::bulk::{self, BulkOptions, ImportRequest};
use userlog_domain::rules::{ImportStatus, ImportSummary, SourceObject};

use crate::cli::ImportArgs;
use crate::progress::BytesProgress;
use crate::read_options;

pub(crate) fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let options = BulkOptions {
        read: read_options(args.encoding.as_deref(), args.max_bytes)?,
        ..BulkOptions::default()
    };
    let as_of = args
        .as_of
        .as_deref()
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .with_context(|| {
                    format!(
                        "--as-of `{text}` is not an RFC 3339 time such as 2026-01-31T09:00:00+09:00"
                    )
                })
        })
        .transpose()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let summary = runtime.block_on(async {
        let pool = crate::connect(&args.database_url, args.schema.as_deref()).await?;
        import_file(&pool, &args.file, as_of, &options, args.json).await
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(match summary.status {
        ImportStatus::Succeeded | ImportStatus::SucceededWithErrors | ImportStatus::Duplicate => {
            ExitCode::SUCCESS
        }
        ImportStatus::Rejected | ImportStatus::Failed => ExitCode::from(1),
    })
}

/// Imports a local file through the bulk path. The as-of time defaults to the file's modification
/// time, and the file's size and modification time stand in for an S3 ETag.
pub(crate) async fn import_file(
    pool: &sqlx::PgPool,
    file: &Path,
    as_of: Option<DateTime<Utc>>,
    options: &BulkOptions,
    quiet: bool,
) -> anyhow::Result<ImportSummary> {
    let path =
        std::fs::canonicalize(file).with_context(|| format!("cannot open {}", file.display()))?;
    let metadata =
        std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let modified = metadata
        .modified()
        .context("the file system does not record modification times")?;
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let request = ImportRequest {
        source: SourceObject {
            bucket: "file".to_owned(),
            key: path.display().to_string(),
            etag: format!("{:x}-{:x}", metadata.len(), nanos),
        },
        as_of: as_of.unwrap_or_else(|| DateTime::<Utc>::from(modified)),
        execution_name: format!(
            "cli-{}-{}",
            std::process::id(),
            Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
        ),
        claimed_import_id: None,
    };
    let progress = Arc::new(BytesProgress::new(metadata.len(), quiet));
    let open_path = path.clone();
    let summary = bulk::import(
        pool,
        move || File::open(&open_path).map(BufReader::new),
        &request,
        options,
        progress.clone(),
    )
    .await
    .context("the import could not be carried out");
    progress.finish();
    summary
}

pub(crate) fn print_summary(summary: &ImportSummary) {
    for problem in &summary.problems {
        println!("{problem}");
    }
    for error in &summary.row_errors {
        let line = error.line.map_or_else(|| "-".to_owned(), |l| l.to_string());
        println!("{line}: {} {}", error.code, error.message);
    }
    let verdict = match summary.status {
        ImportStatus::Succeeded => "applied",
        ImportStatus::SucceededWithErrors => "applied with row errors",
        ImportStatus::Duplicate => "already imported; nothing changed",
        ImportStatus::Rejected => "rejected; nothing changed",
        ImportStatus::Failed => "failed; nothing changed",
    };
    eprintln!(
        "{verdict}: {} rows, {} applied, {} unchanged, {} skipped (newer data), {} row errors",
        summary.rows_total,
        summary.applied,
        summary.unchanged,
        summary.skipped_older,
        summary.row_error_count
    );
}
