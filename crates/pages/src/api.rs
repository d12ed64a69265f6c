//! How Cloudflare's API answers read: every answer is the envelope
//! `{"success": bool, "errors": [{"code", "message"}], "messages": [...], "result": ...}`, lists
//! add `result_info` (`page`, `per_page`, `count`, `total_count`, `total_pages`). Which failures
//! are worth retrying, and what an error tells the person who reads it to do. Pure.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::PagesError;

/// Pages' "unknown error": a failure on Cloudflare's side, retried.
pub const CODE_UNKNOWN: u64 = 8_000_000;

/// Pages' "project not found".
pub const CODE_PROJECT_NOT_FOUND: u64 = 8_000_007;

/// Pages' "unauthorized", which the asset routes answer to an expired or invalid upload token.
pub const CODE_UNAUTHORIZED: u64 = 8_000_013;

/// Pages' refusal to delete a deployment an alias points to without `?force=true`.
pub const CODE_ALIASED_DEPLOYMENT: u64 = 8_000_035;

/// The account-level codes that mean the token is missing, invalid, expired or lacks a
/// permission (`Authentication error`, `Unauthorized to access requested resource`, `Invalid
/// access token`, `Invalid request headers`, `Invalid format for Authorization header`).
const AUTH_CODES: &[u64] = &[
    10_000,
    10_001,
    9_103,
    9_106,
    9_109,
    6_003,
    6_111,
    CODE_UNAUTHORIZED,
];

/// How much of a body that is not the envelope an error quotes.
const MAX_DETAIL: usize = 300;

/// One of Cloudflare's error (or informational) messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMessage {
    /// Its code (`10000`, `8000007`, ...).
    #[serde(default)]
    pub code: u64,
    /// What it says.
    #[serde(default)]
    pub message: String,
}

/// The paging of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct ResultInfo {
    /// This page (from 1).
    #[serde(default)]
    pub page: u64,
    /// Items per page.
    #[serde(default)]
    pub per_page: u64,
    /// Items on this page.
    #[serde(default)]
    pub count: u64,
    /// Items in all.
    #[serde(default)]
    pub total_count: u64,
    /// Pages in all.
    #[serde(default)]
    pub total_pages: Option<u64>,
}

impl ResultInfo {
    /// Whether a page after this one exists; `count` is how many items this page held.
    pub fn has_next(&self, count: usize) -> bool {
        if count == 0 {
            return false;
        }
        match self.total_pages {
            Some(total) => self.page < total,
            None => {
                let per_page = self.per_page.max(1);
                self.page.saturating_mul(per_page) < self.total_count
            }
        }
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    result: Option<T>,
    #[serde(default)]
    result_info: Option<ResultInfo>,
}

#[derive(Deserialize)]
struct ErrorsOnly {
    #[serde(default)]
    errors: Vec<ApiMessage>,
}

/// A successful answer's `result` and `result_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<T> {
    /// The result.
    pub result: T,
    /// The paging, for lists.
    pub result_info: Option<ResultInfo>,
}

/// Reads an answer of `status` with `body`: its result when the status is 2xx and the envelope
/// says `success: true`, otherwise [`PagesError::Api`] with Cloudflare's codes and a hint.
pub fn read_answer<T: DeserializeOwned>(
    operation: &str,
    status: u16,
    body: &[u8],
) -> Result<Answer<T>, PagesError> {
    let ok = (200..300).contains(&status);
    let parsed = if ok {
        match serde_json::from_slice::<Envelope<T>>(body) {
            Ok(envelope) if envelope.success => {
                return match envelope.result {
                    Some(result) => Ok(Answer {
                        result,
                        result_info: envelope.result_info,
                    }),
                    None => Err(PagesError::Unexpected {
                        operation: operation.to_owned(),
                        detail: "`success: true` without a `result`".to_owned(),
                    }),
                };
            }
            Ok(envelope) => Ok(envelope.errors),
            Err(error) => Err(error),
        }
    } else {
        serde_json::from_slice::<ErrorsOnly>(body).map(|parsed| parsed.errors)
    };
    match parsed {
        Ok(errors) if !errors.is_empty() => Err(api_error(operation, status, errors, None)),
        Err(error) if ok => Err(PagesError::Unexpected {
            operation: operation.to_owned(),
            detail: format!("not the documented envelope ({error}): {}", snippet(body)),
        }),
        _ => Err(api_error(
            operation,
            status,
            Vec::new(),
            Some(snippet(body)),
        )),
    }
}

/// Reads an answer whose `result` does not matter (`null` for a deletion): `Ok` when the status is
/// 2xx and the envelope says `success: true`.
pub fn read_success(operation: &str, status: u16, body: &[u8]) -> Result<(), PagesError> {
    if (200..300).contains(&status)
        && let Ok(envelope) = serde_json::from_slice::<Envelope<serde::de::IgnoredAny>>(body)
        && envelope.success
    {
        return Ok(());
    }
    match read_answer::<serde::de::IgnoredAny>(operation, status, body) {
        Ok(_) => Ok(()),
        Err(error) => Err(error),
    }
}

/// The error for a failed call, with what to do when the status or the codes tell.
pub fn api_error(
    operation: &str,
    status: u16,
    errors: Vec<ApiMessage>,
    detail: Option<String>,
) -> PagesError {
    let hint = hint(operation, status, &errors).map(str::to_owned);
    PagesError::Api {
        operation: operation.to_owned(),
        status,
        errors,
        detail,
        hint,
    }
}

/// What the person who reads an error should do, when the status or Cloudflare's codes tell.
pub fn hint(operation: &str, status: u16, errors: &[ApiMessage]) -> Option<&'static str> {
    let has = |code: u64| errors.iter().any(|e| e.code == code);
    let assets = operation.contains("/pages/assets/");
    if assets && (has(CODE_UNAUTHORIZED) || status == 401) {
        return Some(
            "The upload token was refused even after a fresh one was fetched: retry the deploy; if it persists, check Cloudflare's status page",
        );
    }
    if status == 401 || status == 403 || errors.iter().any(|e| AUTH_CODES.contains(&e.code)) {
        return Some(
            "Check that CLOUDFLARE_API_TOKEN is valid and not expired, and that it has the \"Cloudflare Pages: Edit\" permission on the account CLOUDFLARE_ACCOUNT_ID names",
        );
    }
    if has(CODE_PROJECT_NOT_FOUND) {
        return Some(
            "The Pages project does not exist in the account CLOUDFLARE_ACCOUNT_ID names: check the project name and the account id",
        );
    }
    if has(CODE_ALIASED_DEPLOYMENT) {
        return Some(
            "Cloudflare refused to delete a deployment a branch alias points to although `?force=true` was sent: delete it in the dashboard, and report that the API changed",
        );
    }
    if status == 429 {
        return Some(
            "Cloudflare kept throttling after every retry: wait a few minutes and run it again",
        );
    }
    if status >= 500 || has(CODE_UNKNOWN) {
        return Some(
            "A failure on Cloudflare's side persisted through every retry: run it again later",
        );
    }
    None
}

/// The codes and messages of an error as one line (`[10000] Authentication error`).
pub fn describe(errors: &[ApiMessage], detail: &Option<String>) -> String {
    let mut parts: Vec<String> = errors
        .iter()
        .map(|e| format!("[{}] {}", e.code, e.message.trim_end_matches('.')))
        .collect();
    if let Some(detail) = detail {
        parts.push(detail.clone());
    }
    if parts.is_empty() {
        "no error message".to_owned()
    } else {
        parts.join("; ")
    }
}

/// Whether an answer with `status` is worth another try: throttling and server-side failures.
pub fn is_transient_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// Whether an answer is worth another try: a transient status, or Pages' "unknown error" code
/// (which its own uploader retries) with any status.
pub fn is_transient(status: u16, body: &[u8]) -> bool {
    if is_transient_status(status) {
        return true;
    }
    if (200..300).contains(&status) {
        return false;
    }
    serde_json::from_slice::<ErrorsOnly>(body)
        .map(|parsed| parsed.errors.iter().any(|e| e.code == CODE_UNKNOWN))
        .unwrap_or(false)
}

/// A `Retry-After` header's wait, in whole seconds (the HTTP date form is not used by
/// Cloudflare's API and is ignored).
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Whether an answer to an asset route says the upload token is no longer good.
pub fn is_expired_upload_token(status: u16, body: &[u8]) -> bool {
    if status == 401 {
        return true;
    }
    serde_json::from_slice::<ErrorsOnly>(body)
        .map(|parsed| parsed.errors.iter().any(|e| e.code == CODE_UNAUTHORIZED))
        .unwrap_or(false)
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "an empty body".to_owned();
    }
    let mut cut: String = text.chars().take(MAX_DETAIL).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

/// One file of an upload request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadEntry {
    /// The file's hash.
    pub key: String,
    /// Its content in base64.
    pub value: String,
    /// Its content type.
    pub metadata: UploadMetadata,
    /// Always `true`: `value` is base64.
    pub base64: bool,
}

/// What an uploaded file is served as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadMetadata {
    /// The content type.
    #[serde(rename = "contentType")]
    pub content_type: String,
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use serde_json::Value;

    use super::*;

    fn check(status: u16, body: &str, expected: Expect) {
        let actual =
            match read_answer::<Value>("GET /accounts/a/pages/projects/p", status, body.as_bytes())
            {
                Ok(answer) => format!("ok {} {:?}", answer.result, answer.result_info),
                Err(error) => error.to_string(),
            };
        expected.assert_eq(&actual);
    }

    #[test]
    fn answers_read_as_results_or_errors_with_what_to_do() {
        check(
            200,
            r#"{"success":true,"errors":[],"messages":[],"result":{"name":"p"}}"#,
            expect![[r#"ok {"name":"p"} None"#]],
        );
        check(
            200,
            r#"{"success":true,"errors":[],"messages":[],"result":[],"result_info":{"page":1,"per_page":25,"count":0,"total_count":0,"total_pages":0}}"#,
            expect![
                "ok [] Some(ResultInfo { page: 1, per_page: 25, count: 0, total_count: 0, total_pages: Some(0) })"
            ],
        );
        check(
            403,
            r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#,
            expect![[
                r#"Cloudflare GET /accounts/a/pages/projects/p failed (HTTP 403): [10000] Authentication error. Check that CLOUDFLARE_API_TOKEN is valid and not expired, and that it has the "Cloudflare Pages: Edit" permission on the account CLOUDFLARE_ACCOUNT_ID names"#
            ]],
        );
        check(
            200,
            r#"{"success":false,"errors":[{"code":8000007,"message":"Project not found. The specified project name does not match any of your existing projects."}],"result":null}"#,
            expect![
                "Cloudflare GET /accounts/a/pages/projects/p failed (HTTP 200): [8000007] Project not found. The specified project name does not match any of your existing projects. The Pages project does not exist in the account CLOUDFLARE_ACCOUNT_ID names: check the project name and the account id"
            ],
        );
        check(
            502,
            "<html><body>Bad gateway</body></html>",
            expect![
                "Cloudflare GET /accounts/a/pages/projects/p failed (HTTP 502): <html><body>Bad gateway</body></html>. A failure on Cloudflare's side persisted through every retry: run it again later"
            ],
        );
        check(
            429,
            r#"{"success":false,"errors":[{"code":971,"message":"Please wait and consider throttling your request speed"}]}"#,
            expect![
                "Cloudflare GET /accounts/a/pages/projects/p failed (HTTP 429): [971] Please wait and consider throttling your request speed. Cloudflare kept throttling after every retry: wait a few minutes and run it again"
            ],
        );
        check(
            200,
            r#"{"success":true,"errors":[]}"#,
            expect![
                "Cloudflare GET /accounts/a/pages/projects/p answered something unexpected: `success: true` without a `result`"
            ],
        );
        check(
            200,
            "not json",
            expect![
                "Cloudflare GET /accounts/a/pages/projects/p answered something unexpected: not the documented envelope (expected ident at line 1 column 2): not json"
            ],
        );
        check(
            404,
            "",
            expect!["Cloudflare GET /accounts/a/pages/projects/p failed (HTTP 404): an empty body"],
        );
    }

    #[test]
    fn an_expired_upload_token_reads_as_such() {
        assert!(is_expired_upload_token(401, b""));
        assert!(is_expired_upload_token(
            400,
            br#"{"success":false,"errors":[{"code":8000013,"message":"Unauthorized"}]}"#
        ));
        assert!(!is_expired_upload_token(
            400,
            br#"{"success":false,"errors":[{"code":8000000,"message":"An unknown error occurred"}]}"#
        ));
    }

    #[test]
    fn throttling_and_server_failures_are_retried_and_nothing_else() {
        let retried: Vec<u16> = [200, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504]
            .into_iter()
            .filter(|&s| is_transient_status(s))
            .collect();
        assert_eq!(retried, [429, 500, 502, 503, 504]);
        assert_eq!(retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn pages_follow_result_info() {
        let info = |page, per_page, total_count, total_pages| ResultInfo {
            page,
            per_page,
            count: 0,
            total_count,
            total_pages,
        };
        assert!(info(1, 25, 60, Some(3)).has_next(25));
        assert!(!info(3, 25, 60, Some(3)).has_next(10));
        assert!(info(1, 25, 60, None).has_next(25));
        assert!(!info(3, 25, 60, None).has_next(10));
        assert!(!info(1, 25, 60, Some(3)).has_next(0));
    }
}
