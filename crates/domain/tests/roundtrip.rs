//! Property tests of the reader: any valid table, written by the `csv` crate in any supported
//! encoding, line ending, quoting style and column order, reads back as the same rows.

use proptest::prelude::*;
use userlog_domain::reader::{CsvReader, ReadOptions};
use userlog_domain::{Column, Encoding, EncodingChoice};

#[derive(Debug, Clone)]
struct Table {
    rows: Vec<(String, i32, i32)>,
    japanese: bool,
    order: Vec<Column>,
    crlf: bool,
    quote_all: bool,
    encoding: Encoding,
}

fn table() -> impl Strategy<Value = Table> {
    let row = ("[A-Za-z0-9_-]{1,10}", 0..=i32::MAX, 0..=i32::MAX);
    let order = Just(Column::ALL.to_vec()).prop_shuffle();
    let encoding = prop_oneof![
        Just(Encoding::Utf8),
        Just(Encoding::Utf8Bom),
        Just(Encoding::ShiftJis)
    ];
    (
        prop::collection::vec(row, 1..40),
        any::<bool>(),
        order,
        any::<bool>(),
        any::<bool>(),
        encoding,
    )
        .prop_map(|(rows, japanese, order, crlf, quote_all, encoding)| Table {
            rows,
            japanese,
            order,
            crlf,
            quote_all,
            encoding,
        })
}

fn write(table: &Table) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(if table.crlf {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        })
        .quote_style(if table.quote_all {
            csv::QuoteStyle::Always
        } else {
            csv::QuoteStyle::Necessary
        })
        .from_writer(Vec::new());
    let names: Vec<&str> = table
        .order
        .iter()
        .map(|c| {
            if table.japanese {
                c.japanese_name()
            } else {
                c.english_name()
            }
        })
        .collect();
    writer.write_record(&names).unwrap();
    for (user, login, post) in &table.rows {
        let fields: Vec<String> = table
            .order
            .iter()
            .map(|c| match c {
                Column::UserId => user.clone(),
                Column::LoginCount => login.to_string(),
                Column::PostCount => post.to_string(),
            })
            .collect();
        writer.write_record(&fields).unwrap();
    }
    let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
    match table.encoding {
        Encoding::Utf8 => text.into_bytes(),
        Encoding::Utf8Bom => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        Encoding::ShiftJis => encoding_rs::SHIFT_JIS.encode(&text).0.into_owned(),
    }
}

fn read(bytes: &[u8], choice: EncodingChoice) -> (Encoding, Vec<(u64, String, i32, i32)>) {
    let mut reader = CsvReader::open(
        bytes,
        ReadOptions {
            encoding: choice,
            ..ReadOptions::default()
        },
    )
    .unwrap();
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row().unwrap() {
        let row = row.unwrap();
        rows.push((
            row.line,
            row.user_id.to_string(),
            row.login_count.get(),
            row.post_count.get(),
        ));
    }
    (reader.encoding(), rows)
}

proptest! {
    #[test]
    fn tables_survive_write_then_read(table in table()) {
        let bytes = write(&table);
        let expected: Vec<(u64, String, i32, i32)> = table
            .rows
            .iter()
            .enumerate()
            .map(|(i, (u, l, p))| (i as u64 + 2, u.clone(), *l, *p))
            .collect();
        // Detected: an English header in Shift_JIS is plain ASCII, which reads the same as UTF-8.
        let (detected, rows) = read(&bytes, EncodingChoice::Detect);
        prop_assert_eq!(&rows, &expected);
        if table.japanese || table.encoding != Encoding::ShiftJis {
            prop_assert_eq!(detected, table.encoding);
        }
        // Named explicitly.
        let (_, rows) = read(&bytes, EncodingChoice::Exactly(table.encoding));
        prop_assert_eq!(&rows, &expected);
    }
}
