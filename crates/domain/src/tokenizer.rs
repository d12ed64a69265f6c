//! A strict RFC 4180 record splitter over UTF-8 bytes that knows the physical line of everything.
//!
//! The `csv` crate is deliberately lenient: it accepts a stray quote inside an unquoted field and
//! text after a closing quote, and it never reports an unclosed quote. The pipeline must reject
//! those with `BadQuoting` and the line, so reading goes through this splitter. Writing files (in
//! tests and benchmarks) uses the `csv` crate, which also cross-checks this reader.

use std::io::{self, BufRead};

use crate::limits::{FIELD_BYTES_KEPT, FIELDS_KEPT};
use crate::values::FieldText;

/// What the splitter found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A record starting on `line`; its fields are in [`Tokenizer::field`].
    Record { line: u64 },
    /// A quoting error; the rest of the physical line was skipped.
    BadQuoting {
        line: u64,
        column: u32,
        message: String,
    },
    /// The end of the input.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    StartField,
    Unquoted,
    Quoted,
    QuoteInQuoted,
    SkipLine,
}

/// Where a kept field ends in the tokenizer's `data`, and how many of its characters were not kept.
#[derive(Debug, Clone, Copy)]
struct Span {
    end: usize,
    dropped_chars: u64,
}

/// Splits a stream of UTF-8 bytes into records and fields.
///
/// Memory stays bounded whatever the input: of each field only the first [`FIELD_BYTES_KEPT`]
/// bytes are kept (the rest is counted in characters), and of each record only the first
/// [`FIELDS_KEPT`] fields (the rest are counted).
#[derive(Debug)]
pub(crate) struct Tokenizer<B> {
    input: B,
    /// The physical line of the next byte (1-based).
    line: u64,
    /// A carriage return ended the previous line; a line feed right after it belongs to it.
    after_cr: bool,
    /// Inside quotes, the last byte was a carriage return (already counted as a line break).
    quoted_cr: bool,
    record: Fields,
}

/// The fields of the record being read, as much of them as is kept.
#[derive(Debug, Default)]
struct Fields {
    /// The kept bytes of the record's kept fields, one after the other.
    data: Vec<u8>,
    /// The kept fields of the record.
    spans: Vec<Span>,
    /// Every field of the record, kept or not.
    count: usize,
    /// Where the current field starts in `data`.
    field_start: usize,
    /// Characters of the current field beyond its kept bytes.
    dropped_chars: u64,
}

impl Fields {
    fn clear(&mut self) {
        self.data.clear();
        self.spans.clear();
        self.count = 0;
        self.field_start = 0;
        self.dropped_chars = 0;
    }

    /// The 1-based column of the current field.
    fn column(&self) -> u32 {
        u32::try_from(self.count + 1).unwrap_or(u32::MAX)
    }

    /// Adds bytes to the current field, keeping at most [`FIELD_BYTES_KEPT`] of it.
    fn push(&mut self, bytes: &[u8]) {
        if self.spans.len() >= FIELDS_KEPT {
            return;
        }
        let room = FIELD_BYTES_KEPT.saturating_sub(self.data.len() - self.field_start);
        let (kept, dropped) = bytes.split_at(room.min(bytes.len()));
        self.data.extend_from_slice(kept);
        if !dropped.is_empty() {
            self.dropped_chars += dropped.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64;
        }
    }

    /// Ends the current field.
    fn end_field(&mut self) {
        if self.spans.len() < FIELDS_KEPT {
            self.spans.push(Span {
                end: self.data.len(),
                dropped_chars: self.dropped_chars,
            });
        }
        self.count += 1;
        self.field_start = self.data.len();
        self.dropped_chars = 0;
    }
}

impl<B: BufRead> Tokenizer<B> {
    pub(crate) fn new(input: B) -> Tokenizer<B> {
        Tokenizer {
            input,
            line: 1,
            after_cr: false,
            quoted_cr: false,
            record: Fields::default(),
        }
    }

    /// The physical line of the next byte to read.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    pub(crate) fn input(&self) -> &B {
        &self.input
    }

    /// The number of fields of the last record.
    pub(crate) fn field_count(&self) -> usize {
        self.record.count
    }

    /// The number of fields of the last record that were kept (at most [`FIELDS_KEPT`]).
    pub(crate) fn kept_field_count(&self) -> usize {
        self.record.spans.len()
    }

    /// Kept field `index` of the last record: its text (whole, or its first bytes) and length.
    pub(crate) fn field(&self, index: usize) -> FieldText<'_> {
        let start = if index == 0 {
            0
        } else {
            self.record.spans[index - 1].end
        };
        let span = self.record.spans[index];
        let bytes = &self.record.data[start..span.end];
        // Every character starts with a byte that is not a continuation byte.
        let kept_chars = bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64;
        // The input is UTF-8 and fields are split only at ASCII bytes, so each field is UTF-8;
        // a field cut short may end inside a character, which is left out of the text.
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => std::str::from_utf8(&bytes[..err.valid_up_to()]).unwrap_or_default(),
        };
        FieldText {
            text,
            chars: kept_chars + span.dropped_chars,
        }
    }

    /// Reads the next record. Blank lines are skipped: they carry no data.
    pub(crate) fn next_token(&mut self) -> io::Result<Token> {
        self.record.clear();
        let mut state = State::StartField;
        let mut record_line = self.line;
        let mut quote_line = self.line;
        let mut started = false;
        let mut bad: Option<(u64, u32, String)> = None;
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(self.finish(state, record_line, quote_line, started, bad));
            }
            let mut i = 0;
            let len = buf.len();
            while i < len {
                let byte = buf[i];
                if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                    // The second half of a `\r\n` line break.
                    i += 1;
                    continue;
                }
                match state {
                    State::StartField => {
                        if !started {
                            record_line = self.line;
                        }
                        match byte {
                            b'"' => {
                                started = true;
                                quote_line = self.line;
                                state = State::Quoted;
                            }
                            b',' => {
                                started = true;
                                self.record.end_field();
                            }
                            b'\n' | b'\r' => {
                                end_line(&mut self.line, &mut self.after_cr, byte);
                                if started {
                                    self.record.end_field();
                                    self.input.consume(i + 1);
                                    return Ok(Token::Record { line: record_line });
                                }
                                // A blank line: nothing to return, keep reading.
                            }
                            _ => {
                                started = true;
                                self.record.push(&[byte]);
                                state = State::Unquoted;
                            }
                        }
                        i += 1;
                    }
                    State::Unquoted => {
                        // Fast path: copy plain bytes up to the next special one.
                        let rest = &buf[i..];
                        let plain = rest
                            .iter()
                            .position(|&b| matches!(b, b',' | b'\n' | b'\r' | b'"'))
                            .unwrap_or(rest.len());
                        self.record.push(&rest[..plain]);
                        i += plain;
                        if i == len {
                            break;
                        }
                        match buf[i] {
                            b',' => {
                                self.record.end_field();
                                state = State::StartField;
                                i += 1;
                            }
                            b'"' => {
                                bad = Some((
                                    self.line,
                                    self.record.column(),
                                    "a quote inside a field that does not start with a quote"
                                        .to_owned(),
                                ));
                                state = State::SkipLine;
                                i += 1;
                            }
                            terminator => {
                                end_line(&mut self.line, &mut self.after_cr, terminator);
                                self.record.end_field();
                                self.input.consume(i + 1);
                                return Ok(Token::Record { line: record_line });
                            }
                        }
                    }
                    State::Quoted => {
                        let rest = &buf[i..];
                        let plain = rest
                            .iter()
                            .position(|&b| matches!(b, b'"' | b'\n' | b'\r'))
                            .unwrap_or(rest.len());
                        self.record.push(&rest[..plain]);
                        i += plain;
                        if i == len {
                            break;
                        }
                        if plain > 0 {
                            self.quoted_cr = false;
                        }
                        match buf[i] {
                            b'"' => {
                                self.quoted_cr = false;
                                state = State::QuoteInQuoted;
                            }
                            b'\n' => {
                                // `\r\n` inside quotes is one line break, counted at the `\r`.
                                if !std::mem::take(&mut self.quoted_cr) {
                                    self.line += 1;
                                }
                                self.record.push(b"\n");
                            }
                            _ => {
                                self.line += 1;
                                self.quoted_cr = true;
                                self.record.push(b"\r");
                            }
                        }
                        i += 1;
                    }
                    State::QuoteInQuoted => match byte {
                        b'"' => {
                            self.record.push(b"\"");
                            state = State::Quoted;
                            i += 1;
                        }
                        b',' => {
                            self.record.end_field();
                            state = State::StartField;
                            i += 1;
                        }
                        b'\n' | b'\r' => {
                            end_line(&mut self.line, &mut self.after_cr, byte);
                            self.record.end_field();
                            self.input.consume(i + 1);
                            return Ok(Token::Record { line: record_line });
                        }
                        _ => {
                            bad = Some((
                                self.line,
                                self.record.column(),
                                "text after the closing quote of a field".to_owned(),
                            ));
                            state = State::SkipLine;
                            i += 1;
                        }
                    },
                    State::SkipLine => {
                        let rest = &buf[i..];
                        match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                            Some(at) => {
                                end_line(&mut self.line, &mut self.after_cr, rest[at]);
                                self.input.consume(i + at + 1);
                                let (line, column, message) = bad.take().unwrap_or_default();
                                return Ok(Token::BadQuoting {
                                    line,
                                    column,
                                    message,
                                });
                            }
                            None => i = len,
                        }
                    }
                }
            }
            self.input.consume(len);
        }
    }

    fn finish(
        &mut self,
        state: State,
        record_line: u64,
        quote_line: u64,
        started: bool,
        bad: Option<(u64, u32, String)>,
    ) -> Token {
        match state {
            State::SkipLine => {
                let (line, column, message) = bad.unwrap_or_default();
                Token::BadQuoting {
                    line,
                    column,
                    message,
                }
            }
            State::Quoted => Token::BadQuoting {
                line: quote_line,
                column: self.record.column(),
                message: format!("the quote opened on line {quote_line} is never closed"),
            },
            _ if started => {
                self.record.end_field();
                Token::Record { line: record_line }
            }
            _ => Token::End,
        }
    }
}

/// Counts a line break outside quotes; a `\r` may be followed by the `\n` of the same break.
fn end_line(line: &mut u64, after_cr: &mut bool, terminator: u8) {
    *line += 1;
    if terminator == b'\r' {
        *after_cr = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `input` and renders every token on its own line, fields joined by `|`.
    fn check(input: &str, expected: &str) {
        // A tiny buffer makes every state cross a buffer boundary.
        let mut tokenizer = Tokenizer::new(io::BufReader::with_capacity(3, input.as_bytes()));
        let mut out = String::new();
        loop {
            match tokenizer.next_token().unwrap() {
                Token::Record { line } => {
                    let fields: Vec<&str> = (0..tokenizer.field_count())
                        .map(|i| tokenizer.field(i).text)
                        .collect();
                    out.push_str(&format!("{line}: {}\n", fields.join("|")));
                }
                Token::BadQuoting {
                    line,
                    column,
                    message,
                } => {
                    out.push_str(&format!("{line}:{column}: BadQuoting {message}\n"));
                }
                Token::End => break,
            }
        }
        assert_eq!(out, expected, "input {input:?}");
    }

    #[test]
    fn plain_records_with_either_line_ending() {
        check("a,b,c\n1,2,3\n", "1: a|b|c\n2: 1|2|3\n");
        check("a,b,c\r\n1,2,3\r\n", "1: a|b|c\n2: 1|2|3\n");
        check("a,b\r\n1,2", "1: a|b\n2: 1|2\n");
        check("a,,\n", "1: a||\n");
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        check("a\n\n\nb\n", "1: a\n4: b\n");
        check("a\r\n\r\nb\r\n", "1: a\n3: b\n");
    }

    #[test]
    fn quoted_fields() {
        check("\"a,b\",\"say \"\"hi\"\"\"\n", "1: a,b|say \"hi\"\n");
        check("\"two\nlines\",x\nnext,y\n", "1: two\nlines|x\n3: next|y\n");
        check(
            "\"two\r\nlines\",x\r\nnext,y\r\n",
            "1: two\r\nlines|x\n3: next|y\n",
        );
        check("\"\",\"\"\n", "1: |\n");
    }

    #[test]
    fn huge_fields_are_kept_short_and_counted() {
        let input = format!("{},\"{}\",b\n", "x".repeat(1_000_000), "あ\n".repeat(200));
        let mut tokenizer = Tokenizer::new(io::BufReader::new(input.as_bytes()));
        assert_eq!(tokenizer.next_token().unwrap(), Token::Record { line: 1 });
        let first = tokenizer.field(0);
        assert_eq!(
            (first.text.len(), first.chars),
            (FIELD_BYTES_KEPT, 1_000_000)
        );
        // 4 bytes a line: 64 whole lines fit, the cut is at a character boundary.
        let second = tokenizer.field(1);
        assert_eq!((second.text.chars().count(), second.chars), (128, 400));
        assert_eq!(tokenizer.field(2), FieldText::whole("b"));
        assert_eq!(tokenizer.line(), 202);
    }

    #[test]
    fn only_the_first_fields_of_a_record_are_kept() {
        let input = format!("{}\nnext\n", ",".repeat(999_999));
        let mut tokenizer = Tokenizer::new(io::BufReader::new(input.as_bytes()));
        assert_eq!(tokenizer.next_token().unwrap(), Token::Record { line: 1 });
        assert_eq!(
            (tokenizer.field_count(), tokenizer.kept_field_count()),
            (1_000_000, FIELDS_KEPT)
        );
        assert_eq!(tokenizer.next_token().unwrap(), Token::Record { line: 2 });
        assert_eq!(
            (tokenizer.field_count(), tokenizer.field(0).text),
            (1, "next")
        );
    }

    #[test]
    fn quoting_errors_name_the_line_and_field() {
        check(
            "a,b\nx,y\"z\nc,d\n",
            "1: a|b\n2:2: BadQuoting a quote inside a field that does not start with a quote\n3: c|d\n",
        );
        check(
            "\"a\"b,c\nd,e\n",
            "1:1: BadQuoting text after the closing quote of a field\n2: d|e\n",
        );
        check(
            "a\n\"open,\nmore\n",
            "1: a\n2:1: BadQuoting the quote opened on line 2 is never closed\n",
        );
    }
}
