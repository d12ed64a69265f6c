//! A strict RFC 4180 record splitter over UTF-8 bytes that knows the physical line of everything.
//!
//! The `csv` crate is deliberately lenient: it accepts a stray quote inside an unquoted field and
//! text after a closing quote, and it never reports an unclosed quote. The pipeline must reject
//! those with `BadQuoting` and the line, so reading goes through this splitter. Writing files (in
//! tests and benchmarks) uses the `csv` crate, which also cross-checks this reader.

use std::io::{self, BufRead};

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

/// Splits a stream of UTF-8 bytes into records and fields.
#[derive(Debug)]
pub(crate) struct Tokenizer<B> {
    input: B,
    /// The physical line of the next byte (1-based).
    line: u64,
    /// A carriage return ended the previous line; a line feed right after it belongs to it.
    after_cr: bool,
    /// Inside quotes, the last byte was a carriage return (already counted as a line break).
    quoted_cr: bool,
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl<B: BufRead> Tokenizer<B> {
    pub(crate) fn new(input: B) -> Tokenizer<B> {
        Tokenizer {
            input,
            line: 1,
            after_cr: false,
            quoted_cr: false,
            data: Vec::new(),
            ends: Vec::new(),
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
        self.ends.len()
    }

    /// Field `index` of the last record (valid UTF-8, since the input is).
    pub(crate) fn field(&self, index: usize) -> &str {
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        let bytes = &self.data[start..self.ends[index]];
        // The input is UTF-8 and fields are split only at ASCII bytes, so each field is UTF-8.
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// Reads the next record. Blank lines are skipped: they carry no data.
    pub(crate) fn next_token(&mut self) -> io::Result<Token> {
        self.data.clear();
        self.ends.clear();
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
                                self.ends.push(self.data.len());
                            }
                            b'\n' | b'\r' => {
                                end_line(&mut self.line, &mut self.after_cr, byte);
                                if started {
                                    self.ends.push(self.data.len());
                                    self.input.consume(i + 1);
                                    return Ok(Token::Record { line: record_line });
                                }
                                // A blank line: nothing to return, keep reading.
                            }
                            _ => {
                                started = true;
                                self.data.push(byte);
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
                        self.data.extend_from_slice(&rest[..plain]);
                        i += plain;
                        if i == len {
                            break;
                        }
                        match buf[i] {
                            b',' => {
                                self.ends.push(self.data.len());
                                state = State::StartField;
                                i += 1;
                            }
                            b'"' => {
                                bad = Some((
                                    self.line,
                                    self.ends.len() as u32 + 1,
                                    "a quote inside a field that does not start with a quote"
                                        .to_owned(),
                                ));
                                state = State::SkipLine;
                                i += 1;
                            }
                            terminator => {
                                end_line(&mut self.line, &mut self.after_cr, terminator);
                                self.ends.push(self.data.len());
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
                        self.data.extend_from_slice(&rest[..plain]);
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
                                self.data.push(b'\n');
                            }
                            _ => {
                                self.line += 1;
                                self.quoted_cr = true;
                                self.data.push(b'\r');
                            }
                        }
                        i += 1;
                    }
                    State::QuoteInQuoted => match byte {
                        b'"' => {
                            self.data.push(b'"');
                            state = State::Quoted;
                            i += 1;
                        }
                        b',' => {
                            self.ends.push(self.data.len());
                            state = State::StartField;
                            i += 1;
                        }
                        b'\n' | b'\r' => {
                            end_line(&mut self.line, &mut self.after_cr, byte);
                            self.ends.push(self.data.len());
                            self.input.consume(i + 1);
                            return Ok(Token::Record { line: record_line });
                        }
                        _ => {
                            bad = Some((
                                self.line,
                                self.ends.len() as u32 + 1,
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
                column: self.ends.len() as u32 + 1,
                message: format!("the quote opened on line {quote_line} is never closed"),
            },
            _ if started => {
                self.ends.push(self.data.len());
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
                        .map(|i| tokenizer.field(i))
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
