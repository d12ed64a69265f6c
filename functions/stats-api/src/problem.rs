//! Error answers as `application/problem+json` (RFC 9457), each with one of the API's stable codes.
//!
//! A problem says what was wrong with the request, never how the server failed inside: database
//! and AWS errors are logged and answered with a generic detail, so no SQL text, stack trace or
//! internal name reaches a client.

use serde::Serialize;

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The API's stable error codes. [`ApiCode::as_str`] is the contract: a code is never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCode {
    /// The user id in the path is not 1-10 characters of `[A-Za-z0-9_-]` (the importer's rule).
    BadUserId,
    /// No such user.
    UserNotFound,
    /// The execution name in the path cannot be a Step Functions execution name.
    BadExecutionName,
    /// No import ran under that execution name.
    ImportNotFound,
    /// `limit` is not a whole number from 1 to [`crate::MAX_LIMIT`].
    BadLimit,
    /// `cursor` is not one this API handed out for this list.
    BadCursor,
    /// No bearer token, or one that is not valid (signature, algorithm, issuer, audience, times).
    Unauthorized,
    /// No such route.
    NotFound,
    /// The route exists, but not for this method.
    MethodNotAllowed,
    /// PostgreSQL did not answer as it should.
    DatabaseError,
    /// DynamoDB (the audit trail or the error log) did not answer as it should.
    AuditLogError,
    /// The issuer's signing keys could not be fetched, so no token can be checked.
    JwksUnavailable,
    /// Step Functions did not answer as it should (an execution's timeline).
    ExecutionHistoryError,
}

impl ApiCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiCode::BadUserId => "BadUserId",
            ApiCode::UserNotFound => "UserNotFound",
            ApiCode::BadExecutionName => "BadExecutionName",
            ApiCode::ImportNotFound => "ImportNotFound",
            ApiCode::BadLimit => "BadLimit",
            ApiCode::BadCursor => "BadCursor",
            ApiCode::Unauthorized => "Unauthorized",
            ApiCode::NotFound => "NotFound",
            ApiCode::MethodNotAllowed => "MethodNotAllowed",
            ApiCode::DatabaseError => "DatabaseError",
            ApiCode::AuditLogError => "AuditLogError",
            ApiCode::JwksUnavailable => "JwksUnavailable",
            ApiCode::ExecutionHistoryError => "ExecutionHistoryError",
        }
    }

    /// The HTTP status of a problem with this code.
    pub fn status(self) -> u16 {
        match self {
            ApiCode::BadUserId
            | ApiCode::BadExecutionName
            | ApiCode::BadLimit
            | ApiCode::BadCursor => 400,
            ApiCode::Unauthorized => 401,
            ApiCode::UserNotFound | ApiCode::ImportNotFound | ApiCode::NotFound => 404,
            ApiCode::MethodNotAllowed => 405,
            ApiCode::DatabaseError
            | ApiCode::AuditLogError
            | ApiCode::JwksUnavailable
            | ApiCode::ExecutionHistoryError => 503,
        }
    }

    /// The problem's short, fixed summary.
    pub fn title(self) -> &'static str {
        match self {
            ApiCode::BadUserId => "The user id is not valid",
            ApiCode::UserNotFound => "No such user",
            ApiCode::BadExecutionName => "The execution name is not valid",
            ApiCode::ImportNotFound => "No such import",
            ApiCode::BadLimit => "The limit is not valid",
            ApiCode::BadCursor => "The cursor is not valid",
            ApiCode::Unauthorized => "Authentication required",
            ApiCode::NotFound => "No such resource",
            ApiCode::MethodNotAllowed => "Method not allowed",
            ApiCode::DatabaseError => "The database is unavailable",
            ApiCode::AuditLogError => "The audit trail is unavailable",
            ApiCode::JwksUnavailable => "The signing keys are unavailable",
            ApiCode::ExecutionHistoryError => "The execution history is unavailable",
        }
    }
}

/// One problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `urn:userlog:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The stable code, as in [`ApiCode::as_str`].
    pub code: &'static str,
    /// The path of the request.
    pub instance: String,
}

impl Problem {
    pub fn new(code: ApiCode, detail: impl Into<String>, instance: &str) -> Problem {
        Problem {
            kind: format!("urn:userlog:problem:{}", code.as_str()),
            title: code.title(),
            status: code.status(),
            detail: detail.into(),
            code: code.as_str(),
            instance: instance.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn a_problem_names_its_code_type_and_status() {
        let problem = Problem::new(
            ApiCode::BadUserId,
            "`a/b` is not 1-10 characters of [A-Za-z0-9_-]",
            "/users/a%2Fb/stats",
        );
        expect![[r#"{"type":"urn:userlog:problem:BadUserId","title":"The user id is not valid","status":400,"detail":"`a/b` is not 1-10 characters of [A-Za-z0-9_-]","code":"BadUserId","instance":"/users/a%2Fb/stats"}"#]]
        .assert_eq(&serde_json::to_string(&problem).unwrap());
    }
}
