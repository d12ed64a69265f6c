//! Every size limit in one place: those of the places the pipeline's payloads go (as AWS and Slack
//! document them), the caps the pipeline keeps below them, and the one helper that cuts the values
//! messages quote.
//!
//! Whatever a file holds, what the pipeline produces from it stays bounded: a message quotes at
//! most [`QUOTED_CHARS`] characters of a value and is itself at most [`PROBLEM_MESSAGE_CHARS`]
//! long, a report lists at most [`LISTED_PROBLEMS`] problems and counts the rest, the reader keeps
//! at most [`FIELD_BYTES_KEPT`] bytes of a field and [`FIELDS_KEPT`] fields of a record. The
//! assertions at the end of this module tie the caps to the destinations' limits.

use std::fmt;

// ---------------------------------------------------------------------------------------------
// The destinations' limits, as documented.
// ---------------------------------------------------------------------------------------------

/// Step Functions: the input or output of a state, a task's result, an execution's input
/// (256 KiB of UTF-8 text). Larger fails the execution with `States.DataLimitExceeded`.
pub const STATE_PAYLOAD_BYTES: usize = 256 * 1024;
/// DynamoDB: one item, attribute names and values together (400 KB).
pub const DYNAMODB_ITEM_BYTES: usize = 400 * 1024;
/// SNS: one message (256 KB of UTF-8).
pub const SNS_MESSAGE_BYTES: usize = 256 * 1024;
/// SNS: a subject, printable ASCII on one line.
pub const SNS_SUBJECT_CHARS: usize = 100;
/// SES: one e-mail, headers and body (10 MB through SMTP and the v1 API; the v2 API takes 40 MB:
/// the smaller one holds for both).
pub const SES_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// Slack: a message's `text` (longer text is cut by Slack).
pub const SLACK_TEXT_CHARS: usize = 40_000;
/// Slack: the text of one section block.
pub const SLACK_SECTION_TEXT_CHARS: usize = 3_000;
/// Slack: the plain text of a header block.
pub const SLACK_HEADER_CHARS: usize = 150;
/// Slack: blocks in one message.
pub const SLACK_BLOCKS: usize = 50;

// ---------------------------------------------------------------------------------------------
// The pipeline's own caps, below those limits.
// ---------------------------------------------------------------------------------------------

/// How many characters of a value a message quotes (see [`Quoted`]).
pub const QUOTED_CHARS: usize = 64;
/// The most characters of a problem's message.
pub const PROBLEM_MESSAGE_CHARS: usize = 200;
/// How many problems a validation report (and the bulk import's summary) lists; the rest are counted.
pub const LISTED_PROBLEMS: usize = 100;
/// The bytes of a field the reader keeps. A longer field is never a valid value (a user id has at
/// most 10 characters, a count at most 10 digits and some padding): it is judged on its first
/// bytes and its length, and never held whole.
pub const FIELD_BYTES_KEPT: usize = 256;
/// The fields of one record the reader keeps; the rest are only counted. A header has three.
pub const FIELDS_KEPT: usize = 64;
/// The most characters of an error record's message (`errorMessage`).
pub const RECORD_MESSAGE_CHARS: usize = 1_000;
/// The most characters of a function's error message (the state machine's `Cause`).
pub const FUNCTION_ERROR_CHARS: usize = 1_000;
/// The most characters of the cause the error check returns (the Fail state's `Cause`).
pub const CHECK_CAUSE_CHARS: usize = 1_000;
/// The most characters of a delivery's detail (why a notification failed).
pub const DELIVERY_DETAIL_CHARS: usize = 300;
/// The most characters of a notification's text (Slack shows about 4,000 in one message).
pub const NOTIFICATION_TEXT_CHARS: usize = 3_500;
/// The most characters of a notification's subject.
pub const NOTIFICATION_SUBJECT_CHARS: usize = SNS_SUBJECT_CHARS;
/// The most characters of one listed item of a notification (an error message, a cause).
pub const NOTIFICATION_ITEM_CHARS: usize = 200;
/// How many high and critical errors a notification lists.
pub const CRITICAL_SHOWN: usize = 5;
/// How many file problems a rejection notification lists.
pub const PROBLEMS_SHOWN: usize = 5;
/// How many error types a notification lists.
pub const TYPES_SHOWN: usize = 20;
/// The most characters of one Slack section the pipeline writes.
pub const SLACK_SECTION_CHARS: usize = 2_900;

/// The most bytes one listed problem takes in JSON: its message with every character escaped at
/// worst (`\u0000`, six bytes), plus its line, column and code.
pub const PROBLEM_JSON_BYTES: usize = PROBLEM_MESSAGE_CHARS * 6 + 100;
/// The most bytes of a validation result in JSON (`validate-csv`'s response, the CLI's document).
pub const VALIDATION_JSON_BYTES: usize = LISTED_PROBLEMS * PROBLEM_JSON_BYTES + 1_024;

// The validation result goes into the execution's state beside its input and the check's
// result: it may take at most half of the state.
const _: () = assert!(VALIDATION_JSON_BYTES <= STATE_PAYLOAD_BYTES / 2);
// An error record is a message and a few short fields.
const _: () = assert!(RECORD_MESSAGE_CHARS * 4 + 4 * 1024 <= DYNAMODB_ITEM_BYTES);
// A notification's text, at four bytes a character, fits one SNS message and one e-mail.
const _: () =
    assert!(NOTIFICATION_TEXT_CHARS * 4 + NOTIFICATION_SUBJECT_CHARS <= SNS_MESSAGE_BYTES);
const _: () = assert!(NOTIFICATION_TEXT_CHARS * 4 <= SES_MESSAGE_BYTES);
// Slack: the whole text in `text`, and in sections that fit their limit and the block count.
const _: () = assert!(NOTIFICATION_SUBJECT_CHARS + 1 + NOTIFICATION_TEXT_CHARS <= SLACK_TEXT_CHARS);
const _: () = assert!(SLACK_SECTION_CHARS <= SLACK_SECTION_TEXT_CHARS);
const _: () = assert!(NOTIFICATION_TEXT_CHARS / SLACK_SECTION_CHARS + 2 < SLACK_BLOCKS);
const _: () = assert!(NOTIFICATION_SUBJECT_CHARS <= SLACK_HEADER_CHARS);
// A quoted value leaves room for the rest of a message.
const _: () = assert!(QUOTED_CHARS + 40 < PROBLEM_MESSAGE_CHARS);

/// Cuts a text to at most `max` characters, marking the cut.
pub fn cap(text: &str, max: usize) -> String {
    const MARK: &str = " …(truncated)";
    if text.chars().nth(max).is_none() {
        return text.to_owned();
    }
    let keep = max.saturating_sub(MARK.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(MARK);
    out
}

/// A value as a message quotes it: between backticks, with control characters escaped (`\n`),
/// cut after [`QUOTED_CHARS`] characters with an ellipsis and the value's full length:
/// `` `12345…` (50000000 characters) ``. Every message that quotes a value goes through this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quoted {
    shown: String,
    /// The value's length in characters, when it is cut.
    cut: Option<u64>,
}

impl Quoted {
    /// Quotes a whole value.
    pub fn new(value: &str) -> Quoted {
        Quoted::prefix(value, value.chars().count() as u64)
    }

    /// Quotes a value of `chars` characters of which only `prefix` is at hand (a field longer
    /// than the reader keeps).
    pub fn prefix(prefix: &str, chars: u64) -> Quoted {
        let mut shown = String::new();
        let mut shown_chars = 0;
        let mut consumed = 0u64;
        for c in prefix.chars() {
            if shown_chars >= QUOTED_CHARS {
                break;
            }
            if c.is_control() {
                for e in c.escape_debug() {
                    shown.push(e);
                    shown_chars += 1;
                }
            } else {
                shown.push(c);
                shown_chars += 1;
            }
            consumed += 1;
        }
        let cut = (consumed < chars).then_some(chars);
        Quoted { shown, cut }
    }
}

impl fmt::Display for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cut {
            None => write!(f, "`{}`", self.shown),
            Some(chars) => write!(f, "`{}…` ({chars} characters)", self.shown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, expected: &str) {
        assert_eq!(Quoted::new(value).to_string(), expected, "for {value:?}");
    }

    #[test]
    fn short_values_are_quoted_whole() {
        check("U1", "`U1`");
        check("", "``");
        check("ユーザーID", "`ユーザーID`");
        check(
            &"a".repeat(QUOTED_CHARS),
            &format!("`{}`", "a".repeat(QUOTED_CHARS)),
        );
    }

    #[test]
    fn long_values_are_cut_with_their_length() {
        check(
            &"7".repeat(QUOTED_CHARS + 1),
            &format!("`{}…` (65 characters)", "7".repeat(QUOTED_CHARS)),
        );
        check(
            &"あ".repeat(1000),
            &format!("`{}…` (1000 characters)", "あ".repeat(QUOTED_CHARS)),
        );
        let quoted = Quoted::prefix(&"9".repeat(FIELD_BYTES_KEPT), 50_000_000).to_string();
        assert_eq!(
            quoted,
            format!("`{}…` (50000000 characters)", "9".repeat(QUOTED_CHARS))
        );
    }

    #[test]
    fn control_characters_are_escaped_and_count_towards_the_cut() {
        check("4\n", "`4\\n`");
        check("a\tb\u{1b}", "`a\\tb\\u{1b}`");
        let quoted = Quoted::new(&"\n".repeat(100)).to_string();
        assert!(quoted.starts_with(&format!("`{}…", "\\n".repeat(QUOTED_CHARS / 2))));
        assert!(quoted.ends_with("(100 characters)"), "{quoted}");
    }

    #[test]
    fn caps_mark_the_cut() {
        assert_eq!(cap("short", 10), "short");
        let long = cap(&"x".repeat(50), 20);
        assert_eq!(long.chars().count(), 20);
        assert!(long.ends_with("…(truncated)"));
    }
}
