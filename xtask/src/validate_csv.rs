//! `cargo xtask validate-csv FILE`: the validator of the `validate-csv` function, on a local file.

use std::fs::File;
use std::io::BufReader;
use std::process::ExitCode;

use anyhow::Context as _;
use userlog_domain::validate::validate;

use crate::cli::ValidateCsvArgs;
use crate::read_options;

pub(crate) fn run(args: &ValidateCsvArgs) -> anyhow::Result<ExitCode> {
    let options = read_options(args.encoding.as_deref(), args.max_bytes)?;
    let file =
        File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let size = file.metadata().ok().map(|m| m.len());
    let report = validate(BufReader::new(file), size, options)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for problem in &report.errors {
            println!("{problem}");
        }
        let listed = report.errors.len() as u64;
        if report.error_count > listed {
            eprintln!("... and {} more problems", report.error_count - listed);
        }
        let encoding = report.encoding.map_or("unknown encoding", |e| e.name());
        let verdict = if report.is_valid { "valid" } else { "invalid" };
        eprintln!(
            "{}: {verdict}, {} data rows, {encoding}, {} problems",
            args.file.display(),
            report.row_count,
            report.error_count
        );
    }
    Ok(if report.is_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
