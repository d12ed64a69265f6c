//! Text encodings of input files: detection, explicit override, and a streaming decoder to UTF-8
//! that reports malformed bytes instead of replacing them.

use std::fmt;
use std::io::{self, BufRead, Read};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::limits::Quoted;

/// The encodings a file may arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Encoding {
    /// UTF-8 without a byte order mark.
    #[serde(rename = "utf-8")]
    Utf8,
    /// UTF-8 that starts with a byte order mark (what Excel writes for "CSV UTF-8").
    #[serde(rename = "utf-8-bom")]
    Utf8Bom,
    /// Shift_JIS as Windows writes it (CP932, the WHATWG `Shift_JIS`), what Excel in Japan writes.
    #[serde(rename = "shift_jis")]
    ShiftJis,
}

impl Encoding {
    /// The stable name used in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf8Bom => "utf-8-bom",
            Encoding::ShiftJis => "shift_jis",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not an encoding we read.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not a supported encoding (use `utf-8` or `shift_jis`)")]
pub struct UnknownEncoding(pub Quoted);

impl FromStr for Encoding {
    type Err = UnknownEncoding;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "utf-8-bom" | "utf-8-sig" => Ok(Encoding::Utf8Bom),
            "shift-jis" | "sjis" | "cp932" | "windows-31j" | "ms932" => Ok(Encoding::ShiftJis),
            _ => Err(UnknownEncoding(Quoted::new(s))),
        }
    }
}

/// Whether to detect the encoding or take the one given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodingChoice {
    #[default]
    Detect,
    Exactly(Encoding),
}

/// How many bytes the detector looks at before it decides.
const SNIFF_LEN: usize = 64 * 1024;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decides the encoding from the first bytes of a file.
///
/// A byte order mark means UTF-8. Otherwise bytes that are valid UTF-8 (allowing a sequence cut
/// at the end of the sample) are UTF-8, and bytes that decode as Shift_JIS are Shift_JIS. Anything
/// else is read as UTF-8, so that the first bad byte is reported with its line.
pub fn detect(sample: &[u8]) -> Encoding {
    if sample.starts_with(UTF8_BOM) {
        return Encoding::Utf8Bom;
    }
    match std::str::from_utf8(sample) {
        Ok(_) => Encoding::Utf8,
        Err(err) if err.error_len().is_none() => Encoding::Utf8,
        Err(_) => {
            // A Shift_JIS sample may also be cut inside a two-byte character.
            let cut = sample.len().saturating_sub(1);
            let whole = encoding_rs::SHIFT_JIS
                .decode_without_bom_handling_and_without_replacement(sample)
                .is_some();
            let all_but_last = encoding_rs::SHIFT_JIS
                .decode_without_bom_handling_and_without_replacement(&sample[..cut])
                .is_some();
            if whole || all_but_last {
                Encoding::ShiftJis
            } else {
                Encoding::Utf8
            }
        }
    }
}

/// Why reading the raw bytes stopped. Carried inside `io::Error` so that it crosses `Read`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadStop {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the bytes are not valid {encoding}")]
    Malformed { encoding: Encoding },
}

impl ReadStop {
    /// Finds the stop reason inside an I/O error, if it is one of ours.
    pub fn from_io(err: &io::Error) -> Option<&ReadStop> {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<ReadStop>())
    }
}

/// Counts and hashes the raw bytes of a file as they are read, and stops at the size limit.
#[derive(Debug)]
pub struct Tally<R> {
    inner: R,
    bytes: u64,
    limit: u64,
    hasher: Sha256,
}

impl<R: Read> Tally<R> {
    pub fn new(inner: R, limit: u64) -> Tally<R> {
        Tally {
            inner,
            bytes: 0,
            limit,
            hasher: Sha256::new(),
        }
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The SHA-256 of the bytes read so far, in lower-case hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

impl<R: Read> Read for Tally<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        self.hasher.update(&buf[..n]);
        if self.bytes > self.limit {
            return Err(io::Error::other(ReadStop::TooLarge { limit: self.limit }));
        }
        Ok(n)
    }
}

/// A `BufRead` of UTF-8 bytes decoded from a file in any supported encoding.
///
/// Malformed input is an error (kind `InvalidData`, carrying [`ReadStop::Malformed`]) returned
/// after every valid byte before it has been handed out, so a reader that counts lines knows
/// which line held the bad bytes.
pub struct Utf8Stream<R> {
    raw: R,
    encoding: Encoding,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    input_start: usize,
    input_end: usize,
    raw_eof: bool,
    output: Vec<u8>,
    output_start: usize,
    output_end: usize,
    pending: Option<ReadStop>,
    finished: bool,
}

impl<R> fmt::Debug for Utf8Stream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Utf8Stream")
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

const BUFFER_LEN: usize = 128 * 1024;

impl<R: Read> Utf8Stream<R> {
    /// Reads the first bytes, settles the encoding (detected or given) and gets ready to decode.
    pub fn open(mut raw: R, choice: EncodingChoice) -> io::Result<Utf8Stream<R>> {
        let mut input = vec![0; BUFFER_LEN.max(SNIFF_LEN)];
        let mut filled = 0;
        let mut raw_eof = false;
        while filled < SNIFF_LEN {
            match raw.read(&mut input[filled..SNIFF_LEN]) {
                Ok(0) => {
                    raw_eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        let sample = &input[..filled];
        let encoding = match choice {
            EncodingChoice::Detect => detect(sample),
            EncodingChoice::Exactly(Encoding::Utf8 | Encoding::Utf8Bom) => {
                if sample.starts_with(UTF8_BOM) {
                    Encoding::Utf8Bom
                } else {
                    Encoding::Utf8
                }
            }
            EncodingChoice::Exactly(Encoding::ShiftJis) => Encoding::ShiftJis,
        };
        let decoder = match encoding {
            Encoding::Utf8 | Encoding::Utf8Bom => encoding_rs::UTF_8.new_decoder_with_bom_removal(),
            Encoding::ShiftJis => encoding_rs::SHIFT_JIS.new_decoder_without_bom_handling(),
        };
        Ok(Utf8Stream {
            raw,
            encoding,
            decoder,
            input,
            input_start: 0,
            input_end: filled,
            raw_eof,
            output: vec![0; BUFFER_LEN * 2],
            output_start: 0,
            output_end: 0,
            pending: None,
            finished: false,
        })
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The raw reader underneath, e.g. to read its byte count and hash.
    pub fn raw(&self) -> &R {
        &self.raw
    }

    fn refill_input(&mut self) -> io::Result<()> {
        if self.input_start > 0 {
            self.input.copy_within(self.input_start..self.input_end, 0);
            self.input_end -= self.input_start;
            self.input_start = 0;
        }
        while !self.raw_eof && self.input_end < self.input.len() {
            match self.raw.read(&mut self.input[self.input_end..]) {
                Ok(0) => self.raw_eof = true,
                Ok(n) => {
                    self.input_end += n;
                    break;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Utf8Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Utf8Stream<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.output_start == self.output_end {
            if let Some(stop) = self.pending.take() {
                self.finished = true;
                return Err(io::Error::new(io::ErrorKind::InvalidData, stop));
            }
            if self.finished {
                return Ok(&[]);
            }
            if self.input_start == self.input_end || !self.raw_eof {
                self.refill_input()?;
            }
            let last = self.raw_eof;
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.input[self.input_start..self.input_end],
                &mut self.output,
                last,
            );
            self.input_start += read;
            self.output_start = 0;
            self.output_end = written;
            match result {
                encoding_rs::DecoderResult::InputEmpty => {
                    if last {
                        self.finished = true;
                    }
                }
                encoding_rs::DecoderResult::OutputFull => {}
                encoding_rs::DecoderResult::Malformed(_, _) => {
                    self.pending = Some(ReadStop::Malformed {
                        encoding: self.encoding,
                    });
                }
            }
        }
        Ok(&self.output[self.output_start..self.output_end])
    }

    fn consume(&mut self, amount: usize) {
        self.output_start = (self.output_start + amount).min(self.output_end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], choice: EncodingChoice) -> (Encoding, Result<String, String>) {
        let mut stream = Utf8Stream::open(bytes, choice).unwrap();
        let mut text = Vec::new();
        let result = stream.read_to_end(&mut text);
        let encoding = stream.encoding();
        match result {
            Ok(_) => (encoding, Ok(String::from_utf8(text).unwrap())),
            Err(err) => (
                encoding,
                Err(format!(
                    "{} after {:?}",
                    err,
                    String::from_utf8_lossy(&text)
                )),
            ),
        }
    }

    #[test]
    fn detects_and_decodes_each_encoding() {
        let text = "ユーザーID,ログイン回数,投稿回数\r\nU1,1,2\r\n";
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        assert_eq!(
            decode_all(text.as_bytes(), EncodingChoice::Detect),
            (Encoding::Utf8, Ok(text.to_owned()))
        );
        let bom = [UTF8_BOM, text.as_bytes()].concat();
        assert_eq!(
            decode_all(&bom, EncodingChoice::Detect),
            (Encoding::Utf8Bom, Ok(text.to_owned()))
        );
        assert_eq!(
            decode_all(&sjis, EncodingChoice::Detect),
            (Encoding::ShiftJis, Ok(text.to_owned()))
        );
        assert_eq!(
            decode_all(&sjis, EncodingChoice::Exactly(Encoding::ShiftJis)),
            (Encoding::ShiftJis, Ok(text.to_owned()))
        );
    }

    #[test]
    fn malformed_bytes_stop_after_the_valid_prefix() {
        let (encoding, result) = decode_all(
            b"user_id\nU1\n\xFF\xFE\n",
            EncodingChoice::Exactly(Encoding::Utf8),
        );
        assert_eq!(encoding, Encoding::Utf8);
        assert_eq!(
            result,
            Err("the bytes are not valid utf-8 after \"user_id\\nU1\\n\"".to_owned())
        );
    }

    #[test]
    fn overrides_parse_from_common_names() {
        for name in [
            "utf-8",
            "UTF8",
            "shift_jis",
            "Shift-JIS",
            "cp932",
            "sjis",
            "utf-8-sig",
        ] {
            assert!(name.parse::<Encoding>().is_ok(), "{name}");
        }
        assert!("latin1".parse::<Encoding>().is_err());
    }

    #[test]
    fn tally_stops_past_the_limit_and_hashes() {
        let mut tally = Tally::new(&b"abc"[..], 2);
        let mut sink = Vec::new();
        let err = tally.read_to_end(&mut sink).unwrap_err();
        assert_eq!(
            ReadStop::from_io(&err),
            Some(&ReadStop::TooLarge { limit: 2 })
        );
        let mut tally = Tally::new(&b"abc"[..], 3);
        tally.read_to_end(&mut sink).unwrap();
        assert_eq!(
            tally.sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
