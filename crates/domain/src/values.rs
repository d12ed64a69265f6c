//! The values a row carries, as types that can only hold valid values.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::{FIELD_BYTES_KEPT, Quoted};

/// A field's text as the reader holds it: the whole field, or its first
/// [`FIELD_BYTES_KEPT`] bytes when it is longer, and its full length in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldText<'a> {
    pub text: &'a str,
    pub chars: u64,
}

impl<'a> FieldText<'a> {
    /// A field held whole.
    pub fn whole(text: &'a str) -> FieldText<'a> {
        FieldText {
            text,
            chars: text.chars().count() as u64,
        }
    }

    /// Whether only the first part of the field is at hand.
    pub fn is_cut(&self) -> bool {
        (self.text.chars().count() as u64) < self.chars
    }

    /// The field as messages quote it.
    pub fn quoted(&self) -> Quoted {
        Quoted::prefix(self.text, self.chars)
    }
}

/// A user id: 1 to 10 characters from `[A-Za-z0-9_-]` (the column is `VARCHAR(10)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

/// Why a text is not a user id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadUserId {
    #[error("the user id is empty")]
    Empty,
    #[error("the user id {0} is longer than 10 characters")]
    TooLong(Quoted),
    #[error("the user id {0} has a character outside A-Z, a-z, 0-9, `_` and `-`")]
    BadCharacter(Quoted),
}

impl UserId {
    /// The longest user id the database column holds.
    pub const MAX_LEN: usize = 10;

    /// Parses a user id exactly as written (no trimming: `" U1"` is not `"U1"`).
    pub fn parse(text: &str) -> Result<UserId, BadUserId> {
        UserId::parse_field(FieldText::whole(text))
    }

    /// Parses a user id from a field the reader may hold only the start of.
    pub fn parse_field(field: FieldText<'_>) -> Result<UserId, BadUserId> {
        let text = field.text;
        if field.chars == 0 {
            return Err(BadUserId::Empty);
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(BadUserId::BadCharacter(field.quoted()));
        }
        if field.chars > UserId::MAX_LEN as u64 {
            return Err(BadUserId::TooLong(field.quoted()));
        }
        Ok(UserId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Packs the id into a `u128` that is unique per id: up to 10 bytes and the length.
    /// Used to detect duplicates in large files without keeping every string.
    pub fn packed(&self) -> u128 {
        let mut packed = self.0.len() as u128;
        for byte in self.0.bytes() {
            packed = (packed << 8) | u128::from(byte);
        }
        packed
    }
}

impl TryFrom<String> for UserId {
    type Error = BadUserId;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        UserId::parse(&value)
    }
}

impl From<UserId> for String {
    fn from(value: UserId) -> Self {
        value.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A login or post count: a whole number from 0 to 2^31-1 (the column is `INTEGER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i32")]
pub struct Count(i32);

/// Why a text is not a count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadCount {
    #[error("the count is empty")]
    Empty,
    #[error("{0} is not a whole number")]
    NotANumber(Quoted),
    #[error("{0} is negative")]
    Negative(Quoted),
    #[error("{0} is larger than 2147483647")]
    TooLarge(Quoted),
    #[error("{0} is longer than the {FIELD_BYTES_KEPT} bytes a count may take")]
    TooLong(Quoted),
}

impl Count {
    pub const ZERO: Count = Count(0);
    pub const MAX: i32 = i32::MAX;

    /// Parses a count: ASCII digits, optionally surrounded by spaces (as spreadsheets sometimes write).
    pub fn parse(text: &str) -> Result<Count, BadCount> {
        Count::parse_field(FieldText::whole(text))
    }

    /// Parses a count from a field the reader may hold only the start of. A field longer than
    /// [`FIELD_BYTES_KEPT`] is never a count: its problem is named from its first bytes.
    pub fn parse_field(field: FieldText<'_>) -> Result<Count, BadCount> {
        let cut = field.is_cut();
        // Of a cut field, trailing spaces may be anywhere in the part not at hand.
        let digits = if cut {
            field.text.trim_start_matches(' ')
        } else {
            field.text.trim_matches(' ')
        };
        if digits.is_empty() && !cut {
            return Err(BadCount::Empty);
        }
        if let Some(rest) = digits.strip_prefix('-')
            && !rest.is_empty()
            && rest.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(BadCount::Negative(field.quoted()));
        }
        let digits = digits.trim_end_matches(' ');
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadCount::NotANumber(field.quoted()));
        }
        // Leading zeros are fine; more than 10 significant digits cannot fit.
        let significant = digits.trim_start_matches('0');
        if significant.len() > 10 {
            return Err(BadCount::TooLarge(field.quoted()));
        }
        if cut {
            return Err(BadCount::TooLong(field.quoted()));
        }
        let value: i64 = if significant.is_empty() {
            0
        } else {
            significant.parse().unwrap_or(i64::MAX)
        };
        i32::try_from(value)
            .map(Count)
            .map_err(|_| BadCount::TooLarge(field.quoted()))
    }

    pub fn new(value: i32) -> Option<Count> {
        (value >= 0).then_some(Count(value))
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

impl TryFrom<i64> for Count {
    type Error = BadCount;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        if value < 0 {
            return Err(BadCount::Negative(Quoted::new(&value.to_string())));
        }
        i32::try_from(value)
            .map(Count)
            .map_err(|_| BadCount::TooLarge(Quoted::new(&value.to_string())))
    }
}

impl From<Count> for i32 {
    fn from(value: Count) -> Self {
        value.0
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_user_id(text: &str, expected: &str) {
        let actual = match UserId::parse(text) {
            Ok(id) => format!("ok {id}"),
            Err(err) => format!("err {err}"),
        };
        assert_eq!(actual, expected, "for {text:?}");
    }

    fn check_count(text: &str, expected: &str) {
        let actual = match Count::parse(text) {
            Ok(count) => format!("ok {count}"),
            Err(err) => format!("err {err}"),
        };
        assert_eq!(actual, expected, "for {text:?}");
    }

    #[test]
    fn user_ids() {
        check_user_id("U00001", "ok U00001");
        check_user_id("a_b-C9", "ok a_b-C9");
        check_user_id("0123456789", "ok 0123456789");
        check_user_id("", "err the user id is empty");
        check_user_id(
            "01234567890",
            "err the user id `01234567890` is longer than 10 characters",
        );
        check_user_id(
            " U1",
            "err the user id ` U1` has a character outside A-Z, a-z, 0-9, `_` and `-`",
        );
        check_user_id(
            "ユーザー",
            "err the user id `ユーザー` has a character outside A-Z, a-z, 0-9, `_` and `-`",
        );
    }

    #[test]
    fn counts() {
        check_count("0", "ok 0");
        check_count("007", "ok 7");
        check_count(" 12 ", "ok 12");
        check_count("2147483647", "ok 2147483647");
        check_count("00000000002147483647", "ok 2147483647");
        check_count("2147483648", "err `2147483648` is larger than 2147483647");
        check_count(
            "99999999999999999999",
            "err `99999999999999999999` is larger than 2147483647",
        );
        check_count("-1", "err `-1` is negative");
        check_count("", "err the count is empty");
        check_count("1.5", "err `1.5` is not a whole number");
        check_count("+3", "err `+3` is not a whole number");
        check_count("１２", "err `１２` is not a whole number");
    }

    #[test]
    fn fields_longer_than_kept_are_judged_on_their_start() {
        let check_cut = |text: &str, chars: u64, expected: &str| {
            let field = FieldText { text, chars };
            let actual = match Count::parse_field(field) {
                Ok(count) => format!("ok {count}"),
                Err(err) => format!("err {err}"),
            };
            assert_eq!(actual, expected, "for {text:?}");
        };
        let digits = "1".repeat(FIELD_BYTES_KEPT);
        let shown = "1".repeat(crate::limits::QUOTED_CHARS);
        check_cut(
            &digits,
            50_000_000,
            &format!("err `{shown}…` (50000000 characters) is larger than 2147483647"),
        );
        check_cut(
            &format!("-{}", &digits[1..]),
            1000,
            &format!("err `-{}…` (1000 characters) is negative", &shown[1..]),
        );
        check_cut(
            &format!("12x{}", &digits[3..]),
            1000,
            &format!(
                "err `12x{}…` (1000 characters) is not a whole number",
                &shown[3..]
            ),
        );
        let zeros = "0".repeat(FIELD_BYTES_KEPT);
        check_cut(
            &zeros,
            300,
            &format!(
                "err `{}…` (300 characters) is longer than the 256 bytes a count may take",
                &zeros[..crate::limits::QUOTED_CHARS]
            ),
        );
        let id = FieldText {
            text: &digits,
            chars: 1_000_000,
        };
        assert_eq!(
            UserId::parse_field(id).unwrap_err().to_string(),
            format!("the user id `{shown}…` (1000000 characters) is longer than 10 characters")
        );
    }

    #[test]
    fn packed_ids_differ_when_ids_differ() {
        let ids = ["a", "a0", "0a", "A", "", "aa", "0123456789", "012345678"];
        let packed: std::collections::HashSet<u128> = ids
            .iter()
            .filter_map(|id| UserId::parse(id).ok())
            .map(|id| id.packed())
            .collect();
        assert_eq!(packed.len(), ids.len() - 1);
    }
}
