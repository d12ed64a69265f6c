//! `cargo xtask import FILE --database-url URL`: the bulk import path (the `import-csv` task's
//! code) run against a database from this machine.

use std::fs::File;
use std::io::BufReader;
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
    let options = BulkOptions { read: read_options(args.encoding.as_deref(), args.max_bytes)?, ..BulkOptions::default() };
    let path = std::fs::canonicalize(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let metadata = std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let modified = metadata.modified().context("the file system does not record modification times")?;
    let as_of = match &args.as_of {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .with_context(|| format!("--as-of `{text}` is not an RFC 3339 time such as 2026-01-31T09:00:00+09:00"))?
            .with_timezone(&Utc),
        None => DateTime::<Utc>::from(modified),
    };
    // A local file's "ETag": its size and modification time, as web servers derive one.
    let nanos = modified.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let request = ImportRequest {
        source: SourceObject {
            bucket: "file".to_owned(),
            key: path.display().to_string(),
            etag: format!("{:x}-{:x}", metadata.len(), nanos),
        },
        as_of,
        execution_name: format!("cli-{}-{}", std::process::id(), Utc::now().format("%Y%m%dT%H%M%S%.3fZ")),
        claimed_import_id: None,
    };
    let progress = Arc::new(BytesProgress::new(metadata.len(), args.json));
    let runtime = tokio::runtime::Runtime::new()?;
    let summary = runtime.block_on(async {
        let pool = crate::connect(&args.database_url, args.schema.as_deref()).await?;
        let open_path = path.clone();
        let summary = bulk::import(
            &pool,
            move || File::open(&open_path).map(BufReader::new),
            &request,
            &options,
            progress.clone(),
        )
        .await
        .context("the import could not be carried out")?;
        anyhow::Ok(summary)
    });
    progress.finish();
    let summary = summary?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(match summary.status {
        ImportStatus::Succeeded | ImportStatus::SucceededWithErrors | ImportStatus::Duplicate => ExitCode::SUCCESS,
        ImportStatus::Rejected | ImportStatus::Failed => ExitCode::from(1),
    })
}

fn print_summary(summary: &ImportSummary) {
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
        summary.rows_total, summary.applied, summary.unchanged, summary.skipped_older, summary.row_error_count
    );
}
