//! Stable error codes: the names used in the CLI, in JSON, in DynamoDB records and by the state machine.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::limits::Quoted;

/// Every problem the pipeline reports has one of these codes. The names are a contract: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The file is larger than the environment's limit.
    FileTooLarge,
    /// The file has no header, or no bytes at all.
    EmptyFile,
    /// The bytes are not valid in the file's encoding.
    BadEncoding,
    /// The header row is not a header this pipeline knows.
    BadHeader,
    /// A required column is absent from the header.
    MissingColumn,
    /// The header names a column this pipeline does not know.
    UnknownColumn,
    /// A row has more or fewer fields than the header.
    WrongFieldCount,
    /// A quote is misplaced or never closed (RFC 4180).
    BadQuoting,
    /// A user id is empty, too long or has characters outside `[A-Za-z0-9_-]`.
    BadUserId,
    /// A count is not a whole number from 0 to 2^31-1.
    BadCount,
    /// The same user id appears on two rows of one file.
    DuplicateUserId,
    /// The row's user id is not in `users`.
    UserNotFound,
    /// The database failed in a way that a retry may fix.
    DatabaseError,
    /// More rows failed than the environment tolerates.
    TooManyRowErrors,
    /// A batch of rows failed as a whole (recorded by the state machine).
    BatchFailed,
    /// The import itself failed (a task, a timeout, an unexpected error).
    ImportFailed,
}

/// How bad a problem is, as seed 003's error table records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::FileTooLarge,
        ErrorCode::EmptyFile,
        ErrorCode::BadEncoding,
        ErrorCode::BadHeader,
        ErrorCode::MissingColumn,
        ErrorCode::UnknownColumn,
        ErrorCode::WrongFieldCount,
        ErrorCode::BadQuoting,
        ErrorCode::BadUserId,
        ErrorCode::BadCount,
        ErrorCode::DuplicateUserId,
        ErrorCode::UserNotFound,
        ErrorCode::DatabaseError,
        ErrorCode::TooManyRowErrors,
        ErrorCode::BatchFailed,
        ErrorCode::ImportFailed,
    ];

    /// The stable name of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::FileTooLarge => "FileTooLarge",
            ErrorCode::EmptyFile => "EmptyFile",
            ErrorCode::BadEncoding => "BadEncoding",
            ErrorCode::BadHeader => "BadHeader",
            ErrorCode::MissingColumn => "MissingColumn",
            ErrorCode::UnknownColumn => "UnknownColumn",
            ErrorCode::WrongFieldCount => "WrongFieldCount",
            ErrorCode::BadQuoting => "BadQuoting",
            ErrorCode::BadUserId => "BadUserId",
            ErrorCode::BadCount => "BadCount",
            ErrorCode::DuplicateUserId => "DuplicateUserId",
            ErrorCode::UserNotFound => "UserNotFound",
            ErrorCode::DatabaseError => "DatabaseError",
            ErrorCode::TooManyRowErrors => "TooManyRowErrors",
            ErrorCode::BatchFailed => "BatchFailed",
            ErrorCode::ImportFailed => "ImportFailed",
        }
    }

    /// How severe the problem is for the people who get notified.
    pub fn severity(self) -> Severity {
        match self {
            ErrorCode::UserNotFound => Severity::Medium,
            ErrorCode::FileTooLarge
            | ErrorCode::EmptyFile
            | ErrorCode::BadEncoding
            | ErrorCode::BadHeader
            | ErrorCode::MissingColumn
            | ErrorCode::UnknownColumn
            | ErrorCode::WrongFieldCount
            | ErrorCode::BadQuoting
            | ErrorCode::BadUserId
            | ErrorCode::BadCount
            | ErrorCode::DuplicateUserId
            | ErrorCode::TooManyRowErrors => Severity::High,
            ErrorCode::BatchFailed | ErrorCode::DatabaseError | ErrorCode::ImportFailed => {
                Severity::Critical
            }
        }
    }

    /// Whether the code is about one row (the import may still succeed) rather than the whole file.
    pub fn is_row_error(self) -> bool {
        matches!(self, ErrorCode::UserNotFound)
    }

    /// What to do about it, in one sentence, for people reading an error report.
    pub fn hint(self) -> &'static str {
        match self {
            ErrorCode::FileTooLarge => "split the file, or raise the environment's size limit",
            ErrorCode::EmptyFile => "send a file with the header row and at least one data row",
            ErrorCode::BadEncoding => {
                "save the file as UTF-8 or Shift_JIS, or name the encoding explicitly"
            }
            ErrorCode::BadHeader => {
                "the first row must be `ユーザーID,ログイン回数,投稿回数` or `user_id,login_count,post_count`"
            }
            ErrorCode::MissingColumn => "add the missing column to the header and to every row",
            ErrorCode::UnknownColumn => "remove the column, or rename it to a known column",
            ErrorCode::WrongFieldCount => "give the row exactly as many fields as the header",
            ErrorCode::BadQuoting => {
                "quote the whole field and double any quote inside it (RFC 4180)"
            }
            ErrorCode::BadUserId => "use 1 to 10 characters from A-Z, a-z, 0-9, `_` and `-`",
            ErrorCode::BadCount => "use a whole number from 0 to 2147483647",
            ErrorCode::DuplicateUserId => "keep one row per user",
            ErrorCode::UserNotFound => "create the user first, or remove the row",
            ErrorCode::DatabaseError => "the import can be rerun once the database is reachable",
            ErrorCode::TooManyRowErrors => "fix the rows listed and send the file again",
            ErrorCode::BatchFailed => "look at the batch's error and rerun the import",
            ErrorCode::ImportFailed => "look at the cause and rerun the import",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name was not one of the codes.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not an error code")]
pub struct UnknownErrorCode(pub Quoted);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(Quoted::new(s)))
    }
}

impl Severity {
    /// The stable name of the severity.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_display_parse_and_json() {
        for code in ErrorCode::ALL {
            assert_eq!(code.to_string().parse::<ErrorCode>().unwrap(), code);
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        assert!("NoSuchCode".parse::<ErrorCode>().is_err());
    }
}
