//! Hostile files: huge values, huge headers, huge quoted fields, millions of fields, and many
//! bad rows each get their right code and line, and the validator's JSON result stays small
//! whatever the input (a property test over arbitrary bytes).

use std::io::{self, Read};

use expect_test::{Expect, expect};
use proptest::prelude::*;
use userlog_domain::limits::{LISTED_PROBLEMS, PROBLEM_MESSAGE_CHARS, VALIDATION_JSON_BYTES};
use userlog_domain::reader::ReadOptions;
use userlog_domain::validate::{ValidationReport, validate};

const HEADER: &[u8] = b"user_id,login_count,post_count\n";

/// `count` copies of `byte`, streamed: a test file of any size without holding it.
fn run(byte: u8, count: u64) -> impl Read {
    io::repeat(byte).take(count)
}

fn report(input: impl Read) -> ValidationReport {
    validate(input, None, ReadOptions::default()).expect("the input reads")
}

/// Validates `input` and renders the report's facts, its problems, and the JSON's size.
fn check(input: impl Read, expected: Expect) {
    let report = report(input);
    let json = serde_json::to_string(&report).unwrap();
    let mut out = format!(
        "valid={} rows={} errors={} listed={} json<1KiB={}\n",
        report.is_valid,
        report.row_count,
        report.error_count,
        report.errors.len(),
        json.len() < 1024,
    );
    for problem in &report.errors {
        assert!(problem.message.chars().count() <= PROBLEM_MESSAGE_CHARS);
        out.push_str(&format!("{problem}\n"));
    }
    expected.assert_eq(&out);
}

#[test]
fn a_fifty_million_digit_count_is_a_bad_count_on_its_line() {
    let input = HEADER
        .chain(&b"U1,"[..])
        .chain(run(b'9', 50_000_000))
        .chain(&b",2\nU2,1,2\n"[..]);
    check(
        input,
        expect![[r#"
            valid=false rows=2 errors=1 listed=1 json<1KiB=true
            2:2: BadCount login_count: `9999999999999999999999999999999999999999999999999999999999999999…` (50000000 characters) is larger than 2147483647
        "#]],
    );
}

#[test]
fn a_huge_user_id_is_a_bad_user_id() {
    let input = HEADER.chain(run(b'u', 20_000_000)).chain(&b",1,2\n"[..]);
    check(
        input,
        expect![[r#"
            valid=false rows=1 errors=1 listed=1 json<1KiB=true
            2:1: BadUserId the user id `uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu…` (20000000 characters) is longer than 10 characters
        "#]],
    );
}

#[test]
fn a_huge_header_name_is_an_unknown_column() {
    let input = (&b"user_id,login_count,post_count,"[..])
        .chain(run(b'h', 10_000_000))
        .chain(&b"\nU1,1,2,x\n"[..]);
    check(
        input,
        expect![[r#"
            valid=false rows=0 errors=1 listed=1 json<1KiB=true
            1:4: UnknownColumn `hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh…` (10000000 characters) is not a known column
        "#]],
    );
    check(
        run(b'H', 10_000_000).chain(&b"\n"[..]),
        expect![[r#"
            valid=false rows=0 errors=1 listed=1 json<1KiB=true
            1: BadHeader the first row is not a header: expected `ユーザーID,ログイン回数,投稿回数` or `user_id,login_count,post_count`
        "#]],
    );
}

#[test]
fn a_header_of_a_million_fields_is_rejected_without_keeping_them() {
    let input = (&b"user_id,login_count,post_count"[..])
        .chain(run(b',', 1_000_000))
        .chain(&b"\nU1,1,2\n"[..]);
    let report = report(input);
    assert_eq!(report.error_count, 62, "{:#?}", report.errors);
    assert_eq!(
        report.errors.last().unwrap().to_string(),
        "1: BadHeader the header has 1000003 fields; only the first 64 were read, and a header has 3"
    );
}

#[test]
fn a_huge_quoted_field_over_many_lines_is_one_bad_count() {
    let input = HEADER
        .chain(&b"U1,\"1"[..])
        .chain(run(b'\n', 1_000_000))
        .chain(&b"\",2\nU2,x,3\nU3,1,\""[..])
        .chain(run(b'7', 5_000_000));
    check(
        input,
        expect![[r#"
            valid=false rows=3 errors=3 listed=3 json<1KiB=true
            2:2: BadCount login_count: `1\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n…` (1000001 characters) is not a whole number
            1000003:2: BadCount login_count: `x` is not a whole number
            1000004:3: BadQuoting the quote opened on line 1000004 is never closed
        "#]],
    );
}

#[test]
fn a_row_of_millions_of_fields_is_a_wrong_field_count() {
    let input = HEADER
        .chain(&b"U1,1,2"[..])
        .chain(run(b',', 3_000_000))
        .chain(&b"\nU2,1,2\n"[..]);
    check(
        input,
        expect![[r#"
            valid=false rows=2 errors=1 listed=1 json<1KiB=true
            2:4: WrongFieldCount the row has 3000003 fields; the header has 3
        "#]],
    );
}

#[test]
fn a_hundred_thousand_bad_rows_are_counted_and_the_first_listed() {
    let mut input = HEADER.to_vec();
    for i in 0..100_000 {
        input.extend_from_slice(format!("U{i},{},1\n", "8".repeat(100)).as_bytes());
    }
    let report = report(&input[..]);
    assert_eq!(
        (report.error_count, report.errors.len(), report.row_count),
        (100_000, LISTED_PROBLEMS, 100_000)
    );
    assert_eq!((report.errors[0].line, report.errors[99].line), (2, 101));
    let json = serde_json::to_vec(&report).unwrap();
    assert!(json.len() <= VALIDATION_JSON_BYTES, "{} bytes", json.len());
}

/// Bytes that look like import files more often than random bytes do: headers, separators,
/// quotes, line breaks, digits and long runs, mixed with anything.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(HEADER.to_vec()),
        Just("ユーザーID,ログイン回数,投稿回数\r\n".as_bytes().to_vec()),
        Just(b",".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        "[0-9]{1,12}".prop_map(String::into_bytes),
        "[A-Za-z0-9_-]{1,12}".prop_map(String::into_bytes),
        (any::<u8>(), 1..3000usize).prop_map(|(b, n)| vec![b; n]),
        prop::collection::vec(any::<u8>(), 0..16),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_json_result_of_any_input_is_small(input in hostile_bytes()) {
        let report = validate(&input[..], Some(input.len() as u64), ReadOptions::default()).unwrap();
        let json = serde_json::to_vec(&report).unwrap();
        prop_assert!(json.len() <= VALIDATION_JSON_BYTES, "{} bytes", json.len());
        prop_assert!(report.errors.len() <= LISTED_PROBLEMS);
        prop_assert_eq!(report.is_valid, report.error_count == 0);
        for problem in &report.errors {
            prop_assert!(problem.message.chars().count() <= PROBLEM_MESSAGE_CHARS);
        }
    }
}
