//! Whole-file validation: everything that can be checked without a database, in one streaming pass.

use std::collections::HashMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::codes::ErrorCode;
use crate::encoding::Encoding;
use crate::limits::{LISTED_PROBLEMS, Quoted};
use crate::reader::{CsvReader, Problem, ReadError, ReadOptions};

/// The result of validating one file. Serialises to the `validate-csv` JSON contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    pub is_valid: bool,
    /// Data rows read (valid or not), not counting the header.
    pub row_count: u64,
    /// The encoding the file was read in; `None` when reading stopped before it was known.
    pub encoding: Option<Encoding>,
    /// The SHA-256 of the bytes read (the whole file when reading got to the end).
    pub sha256: String,
    pub size_bytes: u64,
    /// Every problem found, including those beyond the listed ones.
    pub error_count: u64,
    /// The first [`LISTED_PROBLEMS`] problems, in file order.
    pub errors: Vec<Problem>,
    /// Every record sits on one physical line, so line = data row index + 2.
    pub lines_match_records: bool,
}

/// Collects problems in file order, keeping the first ones.
#[derive(Debug, Default)]
struct Problems {
    listed: Vec<Problem>,
    count: u64,
}

impl Problems {
    fn push(&mut self, problem: Problem) {
        self.count += 1;
        if self.listed.len() < LISTED_PROBLEMS {
            self.listed.push(problem);
        }
    }
}

/// Validates a file. `size` is its size when known beforehand (an S3 object's, a file's), so that
/// a file over the limit is rejected without reading it.
///
/// Returns `Err` only when the bytes could not be read at all (disk or network).
pub fn validate<R: Read>(
    raw: R,
    size: Option<u64>,
    options: ReadOptions,
) -> Result<ValidationReport, std::io::Error> {
    let mut problems = Problems::default();
    if let Some(size) = size.filter(|&size| size > options.max_bytes) {
        problems.push(Problem::new(
            0,
            None,
            ErrorCode::FileTooLarge,
            format!(
                "the file has {size} bytes; the limit is {} bytes",
                options.max_bytes
            ),
        ));
        return Ok(report(problems, 0, None, String::new(), size, true));
    }
    let mut reader = match CsvReader::open(raw, options) {
        Ok(reader) => reader,
        Err(ReadError::File(found)) => {
            found.into_iter().for_each(|p| problems.push(p));
            return Ok(report(
                problems,
                0,
                None,
                String::new(),
                size.unwrap_or(0),
                true,
            ));
        }
        Err(ReadError::Io(err)) => return Err(err),
    };
    let encoding = reader.encoding();
    // Packed user id -> the line it was first seen on.
    let mut seen: HashMap<u128, u64> = HashMap::new();
    let mut rows = 0u64;
    let mut lines_match_records = true;
    loop {
        let next = match reader.next_row() {
            Ok(next) => next,
            Err(ReadError::File(found)) => {
                found.into_iter().for_each(|p| problems.push(p));
                break;
            }
            Err(ReadError::Io(err)) => return Err(err),
        };
        let Some(row) = next else { break };
        rows += 1;
        match row {
            Ok(row) => {
                if row.line != rows + 1 {
                    lines_match_records = false;
                }
                if let Some(first) = seen.insert(row.user_id.packed(), row.line) {
                    // Keep the first line as the reference for later duplicates too.
                    seen.insert(row.user_id.packed(), first);
                    problems.push(Problem::new(
                        row.line,
                        Some(reader.header().position(crate::Column::UserId) as u32 + 1),
                        ErrorCode::DuplicateUserId,
                        format!(
                            "the user id {} is also on line {first}",
                            Quoted::new(row.user_id.as_str())
                        ),
                    ));
                }
            }
            Err(found) => {
                lines_match_records =
                    lines_match_records && found.first().is_some_and(|p| p.line == rows + 1);
                found.into_iter().for_each(|p| problems.push(p));
            }
        }
    }
    if rows == 0 && problems.count == 0 {
        problems.push(Problem::new(
            1,
            None,
            ErrorCode::EmptyFile,
            "the file has a header but no data rows",
        ));
    }
    let sha256 = reader.sha256_hex();
    let size_bytes = reader.bytes_read();
    Ok(report(
        problems,
        rows,
        Some(encoding),
        sha256,
        size_bytes,
        lines_match_records,
    ))
}

fn report(
    problems: Problems,
    row_count: u64,
    encoding: Option<Encoding>,
    sha256: String,
    size_bytes: u64,
    lines_match_records: bool,
) -> ValidationReport {
    ValidationReport {
        is_valid: problems.count == 0,
        row_count,
        encoding,
        sha256,
        size_bytes,
        error_count: problems.count,
        errors: problems.listed,
        lines_match_records,
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(input: &[u8], expected: Expect) {
        let report = validate(input, Some(input.len() as u64), ReadOptions::default()).unwrap();
        let mut out = format!(
            "valid={} rows={} encoding={} errors={} lines_match={}\n",
            report.is_valid,
            report.row_count,
            report.encoding.map(|e| e.name()).unwrap_or("-"),
            report.error_count,
            report.lines_match_records
        );
        for p in &report.errors {
            out.push_str(&format!("{p}\n"));
        }
        expected.assert_eq(&out);
    }

    #[test]
    fn a_clean_file() {
        check(
            b"user_id,login_count,post_count\nU1,1,2\nU2,3,4\n",
            expect![[r#"
                valid=true rows=2 encoding=utf-8 errors=0 lines_match=true
            "#]],
        );
    }

    #[test]
    fn duplicates_point_at_the_first_line() {
        check(
            b"user_id,login_count,post_count\nU1,1,2\nU2,3,4\nU1,5,6\nU1,7,8\n",
            expect![[r#"
                valid=false rows=4 encoding=utf-8 errors=2 lines_match=true
                4:1: DuplicateUserId the user id `U1` is also on line 2
                5:1: DuplicateUserId the user id `U1` is also on line 2
            "#]],
        );
    }

    #[test]
    fn header_only_is_empty() {
        check(
            b"user_id,login_count,post_count\n",
            expect![[r#"
                valid=false rows=0 encoding=utf-8 errors=1 lines_match=true
                1: EmptyFile the file has a header but no data rows
            "#]],
        );
    }

    #[test]
    fn multi_line_records_are_noticed() {
        check(
            b"user_id,login_count,post_count\n\"U1\",\"1\",\"2\"\nU2,3,\"4\n\"\nU3,5,6\n",
            expect![[r#"
                valid=false rows=3 encoding=utf-8 errors=1 lines_match=false
                3:3: BadCount post_count: `4\n` is not a whole number
            "#]],
        );
    }

    #[test]
    fn oversized_files_are_rejected_unread() {
        let report = validate(&b""[..], Some(200 * 1024 * 1024), ReadOptions::default()).unwrap();
        assert_eq!(report.errors[0].code, ErrorCode::FileTooLarge);
        assert_eq!(report.errors[0].line, 0);
    }

    #[test]
    fn only_the_first_hundred_problems_are_listed() {
        let mut input = b"user_id,login_count,post_count\n".to_vec();
        for i in 0..150 {
            input.extend_from_slice(format!("U{i},x,1\n").as_bytes());
        }
        let report = validate(&input[..], None, ReadOptions::default()).unwrap();
        assert_eq!(report.error_count, 150);
        assert_eq!(report.errors.len(), LISTED_PROBLEMS);
        assert_eq!(report.errors[99].line, 101);
    }
}
