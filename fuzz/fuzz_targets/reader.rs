//! Fuzzes the streaming reader: any bytes open and read to the end without a panic, and every row
//! or problem it hands out keeps its promises (lines in order, bounded messages).

#![no_main]

use libfuzzer_sys::fuzz_target;
use userlog_domain::limits::PROBLEM_MESSAGE_CHARS;
use userlog_domain::reader::{CsvReader, Problem, ReadError, ReadOptions};
use userlog_domain::{Encoding, EncodingChoice};

fn check(problems: &[Problem]) {
    for problem in problems {
        assert!(problem.message.chars().count() <= PROBLEM_MESSAGE_CHARS);
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the encoding: detected, or each override.
    let encoding = match data.first().map(|b| b % 4) {
        Some(1) => EncodingChoice::Exactly(Encoding::Utf8),
        Some(2) => EncodingChoice::Exactly(Encoding::ShiftJis),
        _ => EncodingChoice::Detect,
    };
    let options = ReadOptions {
        encoding,
        ..ReadOptions::default()
    };
    let mut reader = match CsvReader::open(data, options) {
        Ok(reader) => reader,
        Err(ReadError::File(problems)) => return check(&problems),
        Err(ReadError::Io(err)) => panic!("reading a slice cannot fail: {err}"),
    };
    let mut last_line = 1;
    loop {
        match reader.next_row() {
            Ok(None) => break,
            Ok(Some(Ok(row))) => {
                assert!(row.line > last_line, "rows go forward");
                last_line = row.line;
            }
            Ok(Some(Err(problems))) => {
                check(&problems);
                let line = problems[0].line;
                assert!(line >= last_line, "problems go forward");
                last_line = line;
            }
            Err(ReadError::File(problems)) => return check(&problems),
            Err(ReadError::Io(err)) => panic!("reading a slice cannot fail: {err}"),
        }
    }
    assert_eq!(reader.bytes_read(), data.len() as u64);
});
