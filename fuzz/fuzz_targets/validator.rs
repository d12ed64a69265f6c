//! Fuzzes the validator: any bytes give a report whose JSON (the `validate-csv` result that goes
//! into the execution's state) stays within its bound, and whose facts agree with each other.

#![no_main]

use libfuzzer_sys::fuzz_target;
use userlog_domain::limits::{LISTED_PROBLEMS, STATE_PAYLOAD_BYTES, VALIDATION_JSON_BYTES};
use userlog_domain::reader::ReadOptions;
use userlog_domain::validate::validate;

fuzz_target!(|data: &[u8]| {
    let report = validate(data, Some(data.len() as u64), ReadOptions::default())
        .expect("reading a slice cannot fail");
    let json = serde_json::to_vec(&report).expect("a report serialises");
    assert!(json.len() <= VALIDATION_JSON_BYTES && json.len() <= STATE_PAYLOAD_BYTES);
    assert!(report.errors.len() <= LISTED_PROBLEMS);
    assert_eq!(report.is_valid, report.error_count == 0);
    assert!(report.error_count >= report.errors.len() as u64);
    // Problems are in file order; line 0 (the file as a whole) may come last.
    let lines: Vec<u64> = report
        .errors
        .iter()
        .map(|p| p.line)
        .filter(|&l| l > 0)
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
});
