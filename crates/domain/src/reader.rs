//! Streaming reader of import files: encoding, header, and typed rows with their physical lines.

use std::fmt;
use std::io::{self, Read};

use serde::{Deserialize, Serialize};

use crate::codes::ErrorCode;
use crate::encoding::{Encoding, EncodingChoice, ReadStop, Tally, Utf8Stream};
use crate::limits::{PROBLEM_MESSAGE_CHARS, Quoted, cap};
use crate::tokenizer::{Token, Tokenizer};
use crate::values::{Count, FieldText, UserId};

/// The default size limit of an import file: 100 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;

/// The columns of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Column {
    UserId,
    LoginCount,
    PostCount,
}

impl Column {
    pub const ALL: [Column; 3] = [Column::UserId, Column::LoginCount, Column::PostCount];

    /// The header name Excel-using senders write.
    pub fn japanese_name(self) -> &'static str {
        match self {
            Column::UserId => "ユーザーID",
            Column::LoginCount => "ログイン回数",
            Column::PostCount => "投稿回数",
        }
    }

    /// The header name other senders write.
    pub fn english_name(self) -> &'static str {
        match self {
            Column::UserId => "user_id",
            Column::LoginCount => "login_count",
            Column::PostCount => "post_count",
        }
    }

    /// Recognises a header name in either language (English case-insensitively, spaces and a
    /// byte order mark trimmed: a reader that does not strip the BOM leaves it on the first name).
    pub fn from_header_name(name: &str) -> Option<Column> {
        let name = name.trim_start_matches('\u{feff}').trim();
        Column::ALL
            .into_iter()
            .find(|c| c.japanese_name() == name || c.english_name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.english_name())
    }
}

/// A problem in a file, where it is, and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The physical line (1-based; the header is line 1; 0 means the file as a whole).
    pub line: u64,
    /// The field (1-based) when the problem is in one field.
    pub column: Option<u32>,
    pub code: ErrorCode,
    pub message: String,
}

impl Problem {
    /// A problem; its message is cut to [`PROBLEM_MESSAGE_CHARS`] characters.
    pub fn new(
        line: u64,
        column: Option<u32>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            line,
            column,
            code,
            message: cap(&message.into(), PROBLEM_MESSAGE_CHARS),
        }
    }
}

impl fmt::Display for Problem {
    /// `line:column: Code message`, or `line: Code message` when no single field is at fault.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(
                f,
                "{}:{}: {} {}",
                self.line, column, self.code, self.message
            ),
            None => write!(f, "{}: {} {}", self.line, self.code, self.message),
        }
    }
}

/// One valid data row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub line: u64,
    pub user_id: UserId,
    pub login_count: Count,
    pub post_count: Count,
}

/// The header of a file: which field holds which column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field index of each column, in [`Column::ALL`] order.
    positions: [usize; 3],
    field_count: usize,
}

impl Header {
    /// The field index (0-based) of a column.
    pub fn position(&self, column: Column) -> usize {
        self.positions[column as usize]
    }

    pub fn field_count(&self) -> usize {
        self.field_count
    }

    /// Reads a header row of `field_count` fields, of which `names` are the first ones (the
    /// reader keeps at most [`crate::limits::FIELDS_KEPT`]). All of its problems are reported
    /// at once.
    pub fn parse<'a>(
        names: impl IntoIterator<Item = FieldText<'a>>,
        field_count: usize,
    ) -> Result<Header, Vec<Problem>> {
        let mut positions = [None; 3];
        let mut problems = Vec::new();
        let mut known = 0;
        let mut kept = 0;
        for (index, name) in names.into_iter().enumerate() {
            kept += 1;
            let column = index as u32 + 1;
            let quoted = || {
                if name.is_cut() {
                    name.quoted()
                } else {
                    Quoted::new(name.text.trim())
                }
            };
            match Column::from_header_name(name.text).filter(|_| !name.is_cut()) {
                Some(col) => {
                    known += 1;
                    if positions[col as usize].is_some() {
                        problems.push(Problem::new(
                            1,
                            Some(column),
                            ErrorCode::BadHeader,
                            format!("the column {} appears twice in the header", quoted()),
                        ));
                    } else {
                        positions[col as usize] = Some(index);
                    }
                }
                None => problems.push(Problem::new(
                    1,
                    Some(column),
                    ErrorCode::UnknownColumn,
                    format!("{} is not a known column", quoted()),
                )),
            }
        }
        let truncated = field_count > kept;
        if known == 0 {
            return Err(vec![Problem::new(
                1,
                None,
                ErrorCode::BadHeader,
                "the first row is not a header: expected `ユーザーID,ログイン回数,投稿回数` or `user_id,login_count,post_count`",
            )]);
        }
        if truncated {
            // The columns past the kept ones are not read: whether one is missing is unknown.
            problems.push(Problem::new(
                1,
                None,
                ErrorCode::BadHeader,
                format!(
                    "the header has {field_count} fields; only the first {kept} were read, and a header has 3"
                ),
            ));
        }
        for col in Column::ALL {
            if positions[col as usize].is_none() && !truncated {
                problems.push(Problem::new(
                    1,
                    None,
                    ErrorCode::MissingColumn,
                    format!(
                        "the header has no `{}` (`{}`) column",
                        col.japanese_name(),
                        col.english_name()
                    ),
                ));
            }
        }
        match positions {
            [Some(u), Some(l), Some(p)] if problems.is_empty() => Ok(Header {
                positions: [u, l, p],
                field_count,
            }),
            _ => Err(problems),
        }
    }
}

/// How to read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    pub encoding: EncodingChoice,
    pub max_bytes: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            encoding: EncodingChoice::Detect,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// Why a file cannot be read any further.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file itself is wrong (size, encoding, header): these problems end the reading.
    #[error("the file is not importable: {}", .0.first().map(ToString::to_string).unwrap_or_default())]
    File(Vec<Problem>),
    /// Reading the bytes failed (the disk, the network).
    #[error("could not read the file")]
    Io(#[from] io::Error),
}

/// Reads an import file row by row, in constant memory.
#[derive(Debug)]
pub struct CsvReader<R> {
    tokenizer: Tokenizer<Utf8Stream<Tally<R>>>,
    header: Header,
    encoding: Encoding,
    max_bytes: u64,
}

impl<R: Read> CsvReader<R> {
    /// Opens a file: settles its encoding and reads its header.
    pub fn open(raw: R, options: ReadOptions) -> Result<CsvReader<R>, ReadError> {
        let tally = Tally::new(raw, options.max_bytes);
        let stream = Utf8Stream::open(tally, options.encoding)
            .map_err(|err| map_io(err, 1, options.max_bytes))?;
        let encoding = stream.encoding();
        let mut tokenizer = Tokenizer::new(stream);
        let header = match tokenizer.next_token() {
            Ok(Token::Record { .. }) => {
                let names = (0..tokenizer.kept_field_count()).map(|i| tokenizer.field(i));
                Header::parse(names, tokenizer.field_count()).map_err(ReadError::File)?
            }
            Ok(Token::BadQuoting {
                line,
                column,
                message,
            }) => {
                return Err(ReadError::File(vec![Problem::new(
                    line,
                    Some(column),
                    ErrorCode::BadQuoting,
                    message,
                )]));
            }
            Ok(Token::End) => {
                return Err(ReadError::File(vec![Problem::new(
                    1,
                    None,
                    ErrorCode::EmptyFile,
                    "the file is empty",
                )]));
            }
            Err(err) => return Err(map_io(err, tokenizer.line(), options.max_bytes)),
        };
        Ok(CsvReader {
            tokenizer,
            header,
            encoding,
            max_bytes: options.max_bytes,
        })
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Raw bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.tokenizer.input().raw().bytes()
    }

    /// The SHA-256 of the raw bytes read so far (of the whole file once the reader is exhausted).
    pub fn sha256_hex(&self) -> String {
        self.tokenizer.input().raw().sha256_hex()
    }

    /// The next data row, or the problems of that row. `Ok(None)` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<Result<Row, Vec<Problem>>>, ReadError> {
        let token = match self.tokenizer.next_token() {
            Ok(token) => token,
            Err(err) => return Err(map_io(err, self.tokenizer.line(), self.max_bytes)),
        };
        match token {
            Token::End => Ok(None),
            Token::BadQuoting {
                line,
                column,
                message,
            } => Ok(Some(Err(vec![Problem::new(
                line,
                Some(column),
                ErrorCode::BadQuoting,
                message,
            )]))),
            Token::Record { line } => Ok(Some(self.parse_record(line))),
        }
    }

    fn parse_record(&self, line: u64) -> Result<Row, Vec<Problem>> {
        let fields = self.tokenizer.field_count();
        let expected = self.header.field_count();
        if fields != expected {
            let column = (fields.min(expected) + 1) as u32;
            return Err(vec![Problem::new(
                line,
                Some(column),
                ErrorCode::WrongFieldCount,
                format!("the row has {fields} fields; the header has {expected}"),
            )]);
        }
        let mut problems = Vec::new();
        let user_index = self.header.position(Column::UserId);
        let user_id = UserId::parse_field(self.tokenizer.field(user_index))
            .map_err(|err| {
                problems.push(Problem::new(
                    line,
                    Some(user_index as u32 + 1),
                    ErrorCode::BadUserId,
                    err.to_string(),
                ))
            })
            .ok();
        let mut count = |column: Column| {
            let index = self.header.position(column);
            Count::parse_field(self.tokenizer.field(index))
                .map_err(|err| {
                    problems.push(Problem::new(
                        line,
                        Some(index as u32 + 1),
                        ErrorCode::BadCount,
                        format!("{column}: {err}"),
                    ))
                })
                .ok()
        };
        let login_count = count(Column::LoginCount);
        let post_count = count(Column::PostCount);
        match (user_id, login_count, post_count) {
            (Some(user_id), Some(login_count), Some(post_count)) => Ok(Row {
                line,
                user_id,
                login_count,
                post_count,
            }),
            _ => Err(problems),
        }
    }
}

/// Turns a failed read into the problem it means for the file, when it is one.
fn map_io(err: io::Error, line: u64, max_bytes: u64) -> ReadError {
    match ReadStop::from_io(&err) {
        Some(ReadStop::TooLarge { .. }) => ReadError::File(vec![Problem::new(
            0,
            None,
            ErrorCode::FileTooLarge,
            format!("the file is larger than the limit of {max_bytes} bytes"),
        )]),
        Some(ReadStop::Malformed { encoding }) => ReadError::File(vec![Problem::new(
            line,
            None,
            ErrorCode::BadEncoding,
            format!(
                "the bytes on this line are not valid {encoding}; save the file as UTF-8 or Shift_JIS, or name the encoding"
            ),
        )]),
        None => ReadError::Io(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `input` and renders the header outcome and every row or problem, one per line.
    fn check(input: &[u8], expected: &str) {
        let mut out = String::new();
        match CsvReader::open(input, ReadOptions::default()) {
            Err(ReadError::File(problems)) => {
                for p in problems {
                    out.push_str(&format!("{p}\n"));
                }
            }
            Err(err) => panic!("{err}"),
            Ok(mut reader) => {
                out.push_str(&format!("encoding {}\n", reader.encoding()));
                loop {
                    match reader.next_row() {
                        Ok(None) => break,
                        Ok(Some(Ok(row))) => out.push_str(&format!(
                            "{}: {} {} {}\n",
                            row.line, row.user_id, row.login_count, row.post_count
                        )),
                        Ok(Some(Err(problems))) => {
                            for p in problems {
                                out.push_str(&format!("{p}\n"));
                            }
                        }
                        Err(ReadError::File(problems)) => {
                            for p in problems {
                                out.push_str(&format!("stop {p}\n"));
                            }
                            break;
                        }
                        Err(err) => panic!("{err}"),
                    }
                }
            }
        }
        assert_eq!(out, expected, "input {:?}", String::from_utf8_lossy(input));
    }

    #[test]
    fn japanese_and_english_headers_in_any_order() {
        check(
            "ユーザーID,ログイン回数,投稿回数\nU1,3,4\n".as_bytes(),
            "encoding utf-8\n2: U1 3 4\n",
        );
        check(
            b"post_count,user_id,login_count\r\n4,U1,3\r\n",
            "encoding utf-8\n2: U1 3 4\n",
        );
        check(
            "投稿回数,user_id,ログイン回数\n4,U1,3\n".as_bytes(),
            "encoding utf-8\n2: U1 3 4\n",
        );
    }

    #[test]
    fn header_problems_are_reported_together() {
        check(
            b"user_id,login_count,extra\n",
            "1:3: UnknownColumn `extra` is not a known column\n1: MissingColumn the header has no `投稿回数` (`post_count`) column\n",
        );
        check(
            b"U1,1,2\n",
            "1: BadHeader the first row is not a header: expected `ユーザーID,ログイン回数,投稿回数` or `user_id,login_count,post_count`\n",
        );
        check(
            b"user_id,user_id,login_count,post_count\n",
            "1:2: BadHeader the column `user_id` appears twice in the header\n",
        );
        check(b"", "1: EmptyFile the file is empty\n");
        check(b"\n\n", "1: EmptyFile the file is empty\n");
    }

    #[test]
    fn row_problems_carry_line_and_column() {
        check(
            b"user_id,login_count,post_count\nU1,1\nU-too-long-id,x,-1\nU3,1,2,3\nU4,1,2\n",
            "encoding utf-8\n\
             2:3: WrongFieldCount the row has 2 fields; the header has 3\n\
             3:1: BadUserId the user id `U-too-long-id` is longer than 10 characters\n\
             3:2: BadCount login_count: `x` is not a whole number\n\
             3:3: BadCount post_count: `-1` is negative\n\
             4:4: WrongFieldCount the row has 4 fields; the header has 3\n\
             5: U4 1 2\n",
        );
    }

    #[test]
    fn bad_bytes_stop_reading_at_their_line() {
        check(
            b"user_id,login_count,post_count\nU1,1,2\nU\xff,1,2\n",
            "encoding utf-8\n2: U1 1 2\nstop 3: BadEncoding the bytes on this line are not valid utf-8; save the file as UTF-8 or Shift_JIS, or name the encoding\n",
        );
    }

    #[test]
    fn too_large_files_stop() {
        let options = ReadOptions {
            max_bytes: 40,
            ..ReadOptions::default()
        };
        let input = b"user_id,login_count,post_count\nU1,1,2\nU2,1,2\n";
        let mut reader = CsvReader::open(&input[..], options)
            .map(|_| ())
            .unwrap_err();
        if let ReadError::File(problems) = &mut reader {
            assert_eq!(problems[0].code, ErrorCode::FileTooLarge);
        } else {
            panic!("{reader}");
        }
    }
}
