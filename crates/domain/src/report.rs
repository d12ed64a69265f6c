//! The error check's analysis and the notifications it sends (seed 003): pure functions from the
//! error records and the execution's facts to a capped, redacted message.
//!
//! Messages are in English with the seed's Japanese labels beside the English ones
//! (`Label / ラベル`), so that both the operators and the data team can read them. Subjects are
//! ASCII only, since SNS subjects must be.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::codes::{ErrorCode, Severity};
use crate::limits::{
    CRITICAL_SHOWN, NOTIFICATION_ITEM_CHARS, NOTIFICATION_SUBJECT_CHARS, NOTIFICATION_TEXT_CHARS,
    PROBLEMS_SHOWN, SLACK_HEADER_CHARS, SLACK_SECTION_CHARS, TYPES_SHOWN, cap,
};
use crate::reader::Problem;
use crate::records::ErrorRecord;

/// What the error records of one execution amount to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorSummary {
    pub total: u64,
    /// Count per `errorType`.
    pub by_type: BTreeMap<String, u64>,
    pub by_severity: BTreeMap<Severity, u64>,
    /// The HIGH and CRITICAL errors, most severe first, then in file order.
    pub critical: Vec<ErrorRecord>,
    pub critical_count: u64,
    /// Errors about single rows, which count against the import's tolerance.
    pub row_error_count: u64,
}

/// Summarises the error records of one execution.
pub fn analyze(records: &[ErrorRecord]) -> ErrorSummary {
    let mut summary = ErrorSummary::default();
    for record in records {
        summary.total += 1;
        *summary
            .by_type
            .entry(record.error_type.clone())
            .or_default() += 1;
        *summary.by_severity.entry(record.severity).or_default() += 1;
        if record.is_row_error() {
            summary.row_error_count += 1;
        }
        if record.severity >= Severity::High {
            summary.critical.push(record.clone());
        }
    }
    summary.critical.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.record_data.line.cmp(&b.record_data.line))
            .then_with(|| a.timestamp.cmp(&b.timestamp))
            .then_with(|| a.error_id.cmp(&b.error_id))
    });
    summary.critical_count = summary.critical.len() as u64;
    summary
}

/// How an execution ended, as the check decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Succeeded,
    SucceededWithErrors,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "SUCCEEDED",
            Outcome::SucceededWithErrors => "SUCCEEDED_WITH_ERRORS",
            Outcome::Failed => "FAILED",
        }
    }
}

/// Why an execution failed: a state machine error name and its cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub error: String,
    pub cause: String,
}

/// The facts of an execution every message shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionInfo {
    pub environment: String,
    pub execution_name: String,
    pub bucket: String,
    pub key: String,
    /// The execution's start time as Step Functions gives it.
    pub start_time: Option<String>,
}

/// Everything the message about a finished import is made from.
#[derive(Debug, Clone, Copy)]
pub struct ImportReport<'a> {
    pub execution: &'a ExecutionInfo,
    pub outcome: Outcome,
    pub failure: Option<&'a Failure>,
    pub summary: &'a ErrorSummary,
    /// Data rows in the file, when the validator counted them.
    pub row_count: Option<u64>,
    /// Users whose counts the import changed, when the ledger knows.
    pub rows_applied: Option<u64>,
    /// The object had been imported before; nothing was done.
    pub duplicate: bool,
    /// The validator's first problems, for a rejected file.
    pub problems: &'a [Problem],
    /// How many problems the validator found, listed or not, when it says.
    pub problem_count: Option<u64>,
}

/// A notification, the same for every channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// ASCII only, at most [`NOTIFICATION_SUBJECT_CHARS`] characters.
    pub subject: String,
    /// At most [`NOTIFICATION_TEXT_CHARS`] characters, redacted.
    pub text: String,
}

impl Message {
    fn new(subject: &str, text: &str) -> Message {
        Message {
            subject: ascii_subject(subject),
            text: cap(text.trim_end(), NOTIFICATION_TEXT_CHARS),
        }
    }
}

/// The message about a finished import: success (light), success with errors, or failure.
pub fn import_message(report: &ImportReport<'_>) -> Message {
    match report.outcome {
        Outcome::Failed => failure_message(report),
        Outcome::SucceededWithErrors => errors_message(report),
        Outcome::Succeeded => success_message(report),
    }
}

fn success_message(report: &ImportReport<'_>) -> Message {
    let exec = report.execution;
    let mut text = String::new();
    if report.duplicate {
        let subject = format!(
            "[{}] userlog import skipped, already imported: {}",
            exec.environment, exec.execution_name
        );
        text.push_str("userlog import skipped / CSV取込スキップ\n");
        execution_lines(&mut text, exec, report.outcome);
        text.push_str("\nThis file was imported before; nothing was changed. / 取込済みのファイルのため、変更はありません。\n");
        return Message::new(&subject, &text);
    }
    let subject = format!(
        "[{}] userlog import succeeded: {}",
        exec.environment, exec.execution_name
    );
    text.push_str("userlog import succeeded / CSV処理完了通知\n");
    execution_lines(&mut text, exec, report.outcome);
    rows_line(&mut text, report);
    text.push_str("\nNo errors. / エラーなく処理が完了しました。\n");
    Message::new(&subject, &text)
}

fn errors_message(report: &ImportReport<'_>) -> Message {
    let exec = report.execution;
    let summary = report.summary;
    let subject = format!(
        "[{}] userlog import succeeded with {} errors: {}",
        exec.environment, summary.total, exec.execution_name
    );
    let mut text = String::from("userlog import finished with errors / CSV処理エラー通知\n");
    execution_lines(&mut text, exec, report.outcome);
    rows_line(&mut text, report);
    summary_lines(&mut text, summary);
    hint_lines(&mut text, summary, None);
    Message::new(&subject, &text)
}

fn failure_message(report: &ImportReport<'_>) -> Message {
    let exec = report.execution;
    let error = report.failure.map_or_else(
        || "ImportFailed".to_owned(),
        |f| cap(&one_line(&redact(&f.error)), 40),
    );
    let subject = format!(
        "[{}] userlog import FAILED ({}): {}",
        exec.environment, error, exec.execution_name
    );
    let mut text = String::from("userlog import FAILED / CSV処理失敗\n");
    execution_lines(&mut text, exec, report.outcome);
    rows_line(&mut text, report);
    if let Some(failure) = report.failure {
        let _ = writeln!(text, "Error / エラー: {}", item(&failure.error));
        let _ = writeln!(text, "Cause / 原因: {}", item(&failure.cause));
    }
    if !report.problems.is_empty() {
        let shown = report.problems.len().min(PROBLEMS_SHOWN);
        let total = report
            .problem_count
            .unwrap_or(report.problems.len() as u64)
            .max(shown as u64);
        let _ = writeln!(
            text,
            "\nFile problems / ファイルの問題 (first {shown} of {total}):"
        );
        for problem in report.problems.iter().take(PROBLEMS_SHOWN) {
            let _ = writeln!(text, "- {}", item(&problem.to_string()));
        }
    }
    if report.summary.total > 0 {
        summary_lines(&mut text, report.summary);
    }
    let failed_code = report
        .failure
        .and_then(|f| f.error.parse::<ErrorCode>().ok());
    hint_lines(&mut text, report.summary, failed_code);
    if report.problems.is_empty() {
        // The file itself was fine: once the cause is gone, the same file can run again.
        let _ = writeln!(
            text,
            "\nNothing more happens on its own: fix the cause, then re-run the import with `{}`. / 至急確認をお願いします。",
            redrive_command(exec)
        );
    } else {
        text.push_str("\nNothing more happens on its own: fix the cause and send the file again. / 至急確認をお願いします。\n");
    }
    Message::new(&subject, &text)
}

/// The command that re-runs a failed import (`cargo xtask redrive`).
pub fn redrive_command(execution: &ExecutionInfo) -> String {
    format!(
        "cargo xtask redrive {} --env {}",
        one_line(&execution.execution_name),
        one_line(&execution.environment)
    )
}

/// The critical message for when the error check itself failed: the import's errors were not
/// checked and people may not have been told about them.
pub fn check_failed_message(execution: &ExecutionInfo, error: &str) -> Message {
    let subject = format!(
        "[{}] CRITICAL userlog error check failed: {}",
        execution.environment, execution.execution_name
    );
    let mut text = String::from(
        "CRITICAL: the userlog error check itself failed / 緊急: CSV処理監視システムエラー\n",
    );
    let _ = writeln!(
        text,
        "Environment / 環境: {}",
        one_line(&execution.environment)
    );
    let _ = writeln!(
        text,
        "Execution / 実行名: {}",
        one_line(&execution.execution_name)
    );
    if !execution.bucket.is_empty() || !execution.key.is_empty() {
        let _ = writeln!(text, "File / ファイル: {}", file_location(execution));
    }
    if let Some(start) = &execution.start_time {
        let _ = writeln!(text, "Started / 開始時刻: {}", item(start));
    }
    let _ = writeln!(text, "Error / エラー: {}", item(error));
    text.push_str(
        "\nThe import's errors were not checked and its notifications may be missing: look at the \
         execution and the check-errors logs. / システム管理者による緊急対応が必要です。\n",
    );
    Message::new(&subject, &text)
}

fn execution_lines(text: &mut String, exec: &ExecutionInfo, outcome: Outcome) {
    let _ = writeln!(text, "Environment / 環境: {}", one_line(&exec.environment));
    let _ = writeln!(
        text,
        "Execution / 実行名: {}",
        one_line(&exec.execution_name)
    );
    let _ = writeln!(text, "File / ファイル: {}", file_location(exec));
    if let Some(start) = &exec.start_time {
        let _ = writeln!(text, "Started / 開始時刻: {}", item(start));
    }
    let _ = writeln!(text, "Outcome / 結果: {}", outcome.as_str());
}

fn rows_line(text: &mut String, report: &ImportReport<'_>) {
    match (report.rows_applied, report.row_count) {
        (Some(applied), Some(rows)) => {
            let _ = writeln!(
                text,
                "Rows applied / 更新件数: {applied} of {rows} rows in the file"
            );
        }
        (Some(applied), None) => {
            let _ = writeln!(text, "Rows applied / 更新件数: {applied}");
        }
        (None, Some(rows)) => {
            let _ = writeln!(text, "Rows in the file / 行数: {rows}");
        }
        (None, None) => {}
    }
}

fn summary_lines(text: &mut String, summary: &ErrorSummary) {
    let _ = writeln!(
        text,
        "\nErrors / エラー概要: {} in total (総エラー数), {} high or critical (重要エラー数)",
        summary.total, summary.critical_count
    );
    text.push_str("By type / エラータイプ別内訳:\n");
    let mut by_type: Vec<(&String, &u64)> = summary.by_type.iter().collect();
    by_type.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (error_type, count) in by_type.iter().take(TYPES_SHOWN) {
        let _ = writeln!(
            text,
            "- {}: {count}",
            cap(&one_line(&redact(error_type)), 60)
        );
    }
    if by_type.len() > TYPES_SHOWN {
        let _ = writeln!(text, "- and {} more types", by_type.len() - TYPES_SHOWN);
    }
    text.push_str("By severity / 重要度別:\n");
    for (severity, count) in summary.by_severity.iter().rev() {
        let _ = writeln!(text, "- {severity}: {count}");
    }
    if !summary.critical.is_empty() {
        let _ = writeln!(
            text,
            "\nHigh and critical errors / 重要なエラー詳細 (first {} of {}):",
            summary.critical.len().min(CRITICAL_SHOWN),
            summary.critical_count
        );
        for record in summary.critical.iter().take(CRITICAL_SHOWN) {
            let _ = writeln!(text, "- {}", critical_line(record));
        }
    }
}

/// One listed error: only its severity, type, stage, line, user id and message.
fn critical_line(record: &ErrorRecord) -> String {
    let mut line = format!(
        "{} {} [{}]",
        record.severity,
        cap(&one_line(&redact(&record.error_type)), 60),
        cap(&one_line(record.processing_stage.as_str()), 20)
    );
    if let Some(n) = record.record_data.line {
        let _ = write!(line, " line {n}");
    }
    if let Some(user) = &record.record_data.user_id {
        let _ = write!(line, " user {}", cap(&one_line(&redact(user)), 20));
    }
    if !record.error_message.is_empty() {
        let _ = write!(line, ": {}", item(&record.error_message));
    }
    line
}

fn hint_lines(text: &mut String, summary: &ErrorSummary, failed: Option<ErrorCode>) {
    // The code the execution failed with first, then the others, most severe first.
    let mut codes: Vec<ErrorCode> = summary
        .by_type
        .keys()
        .filter_map(|t| t.parse::<ErrorCode>().ok())
        .collect();
    codes.sort_by_key(|c| std::cmp::Reverse(c.severity()));
    if let Some(code) = failed {
        codes.retain(|c| *c != code);
        codes.insert(0, code);
    }
    if codes.is_empty() {
        return;
    }
    text.push_str("\nWhat to do / 対応:\n");
    for code in codes {
        let _ = writeln!(text, "- {code}: {}", code.hint());
    }
}

fn file_location(exec: &ExecutionInfo) -> String {
    let location = format!("s3://{}/{}", exec.bucket, exec.key);
    cap(
        &one_line(&redact_personal(&location)),
        NOTIFICATION_ITEM_CHARS,
    )
}

/// A piece of untrusted text as one listed item: redacted, on one line, capped.
fn item(text: &str) -> String {
    cap(&one_line(&redact(text)), NOTIFICATION_ITEM_CHARS)
}

/// Joins the lines of a text and replaces control characters, so that an item stays one line.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_whitespace() || c.is_control() {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out
}

/// A subject as SNS accepts it: printable ASCII on one line, at most [`NOTIFICATION_SUBJECT_CHARS`].
pub fn ascii_subject(subject: &str) -> String {
    let ascii: String = one_line(subject)
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if ascii.len() <= NOTIFICATION_SUBJECT_CHARS {
        return ascii;
    }
    let mut cut = ascii[..NOTIFICATION_SUBJECT_CHARS - 3]
        .trim_end()
        .to_owned();
    cut.push_str("...");
    cut
}

/// Removes what must not leave the system from a piece of untrusted text (error messages,
/// causes): e-mail addresses, the user info, query and fragment of URLs, bearer tokens and
/// `password=`-like values, AWS access key ids, and long hex or base64 strings that look like
/// secrets (32 characters or more, all hex digits or mixing upper case, lower case and digits).
pub fn redact(text: &str) -> String {
    redact_with(text, true)
}

/// Like [`redact`], without the long-string rule, for text that is mostly names (an S3 key),
/// where that rule would hide too much.
pub fn redact_personal(text: &str) -> String {
    redact_with(text, false)
}

fn redact_with(text: &str, long_strings: bool) -> String {
    let text = redact_urls(text);
    let text = redact_after_schemes(&text);
    let text = redact_key_values(&text);
    let text = redact_emails(&text);
    redact_tokens(&text, long_strings)
}

const REDACTED: &str = "[redacted]";

fn is_url_byte(b: u8) -> bool {
    b.is_ascii_graphic()
        && !matches!(
            b,
            b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\' | b')' | b'{' | b'}' | b'|' | b'^'
        )
}

fn redact_urls(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let sep = from + found;
        let mut start = sep;
        while start > last
            && (bytes[start - 1].is_ascii_alphanumeric()
                || matches!(bytes[start - 1], b'+' | b'.' | b'-'))
        {
            start -= 1;
        }
        while start < sep && !bytes[start].is_ascii_alphabetic() {
            start += 1;
        }
        let mut end = sep + 3;
        while end < bytes.len() && is_url_byte(bytes[end]) {
            end += 1;
        }
        while end > sep + 3 && matches!(bytes[end - 1], b'.' | b',' | b';' | b':' | b'!' | b']') {
            end -= 1;
        }
        if start == sep {
            from = sep + 3;
            continue;
        }
        out.push_str(&text[last..start]);
        out.push_str(&clean_url(&text[start..end]));
        last = end;
        from = end.max(sep + 3);
    }
    out.push_str(&text[last..]);
    out
}

/// Keeps a URL's scheme, host and path; drops its user info, query and fragment.
fn clean_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(at) => format!("{REDACTED}@{}", &authority[at + 1..]),
        None => authority.to_owned(),
    };
    let (path, suffix) = match tail.find(['?', '#']) {
        Some(i) => (&tail[..i], format!("{}{REDACTED}", &tail[i..=i])),
        None => (tail, String::new()),
    };
    // A webhook's path is its secret.
    let path = if host.ends_with("hooks.slack.com") && path.len() > 1 {
        format!("/{REDACTED}")
    } else {
        path.to_owned()
    };
    format!("{scheme}://{host}{path}{suffix}")
}

/// `Bearer <token>` and `Basic <credentials>`.
fn redact_after_schemes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        let at_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let scheme_len = ["bearer ", "basic "]
            .iter()
            .find(|s| {
                at_word
                    && bytes.len() >= i + s.len()
                    && bytes[i..i + s.len()].eq_ignore_ascii_case(s.as_bytes())
            })
            .map(|s| s.len());
        if let Some(len) = scheme_len {
            let mut start = i + len;
            while start < bytes.len() && bytes[start] == b' ' {
                start += 1;
            }
            let mut end = start;
            while end < bytes.len() && is_secret_byte(bytes[end]) {
                end += 1;
            }
            if end > start && &text[start..end] != "redacted" {
                out.push_str(&text[last..start]);
                out.push_str(REDACTED);
                last = end;
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out.push_str(&text[last..]);
    out
}

fn is_secret_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-' | b'.' | b'~')
}

/// Words that name a secret when they stand before `=` or `:`.
const SECRET_KEYS: [&str; 10] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "credential",
    "authorization",
];

/// `password=...`, `"client_secret": "..."`, `X-Api-Key: ...` and the like.
fn redact_key_values(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !matches!(bytes[i], b'=' | b':') {
            i += 1;
            continue;
        }
        // The word before the separator, past a closing quote and spaces.
        let mut key_end = i;
        while key_end > last && matches!(bytes[key_end - 1], b' ' | b'"' | b'\'') {
            key_end -= 1;
        }
        let mut key_start = key_end;
        while key_start > last
            && (bytes[key_start - 1].is_ascii_alphanumeric()
                || matches!(bytes[key_start - 1], b'_' | b'-'))
        {
            key_start -= 1;
        }
        let key = text[key_start..key_end].to_ascii_lowercase();
        if key.is_empty() || !SECRET_KEYS.iter().any(|s| key.contains(s)) {
            i += 1;
            continue;
        }
        let mut start = i + 1;
        while start < bytes.len() && bytes[start] == b' ' {
            start += 1;
        }
        let mut end = start;
        if start < bytes.len() && matches!(bytes[start], b'"' | b'\'') {
            // A quoted value runs to its closing quote.
            let quote = bytes[start];
            start += 1;
            end = start;
            while end < bytes.len() && bytes[end] != quote {
                end += 1;
            }
        } else {
            while end < bytes.len()
                && !bytes[end].is_ascii_whitespace()
                && !matches!(
                    bytes[end],
                    b'"' | b'\'' | b',' | b';' | b'&' | b')' | b'}' | b']'
                )
            {
                end += 1;
            }
        }
        if end > start && !text[start..end].starts_with(REDACTED) {
            out.push_str(&text[last..start]);
            out.push_str(REDACTED);
            last = end;
        }
        i = end.max(i + 1);
    }
    out.push_str(&text[last..]);
    out
}

fn redact_emails(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'@' {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > last
            && (bytes[start - 1].is_ascii_alphanumeric()
                || matches!(bytes[start - 1], b'.' | b'_' | b'%' | b'+' | b'-'))
        {
            start -= 1;
        }
        let mut end = i + 1;
        while end < bytes.len()
            && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'.' | b'-'))
        {
            end += 1;
        }
        while end > i + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &text[i + 1..end];
        let tld_ok = domain.rsplit_once('.').is_some_and(|(name, tld)| {
            !name.is_empty() && tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())
        });
        if start < i && tld_ok {
            out.push_str(&text[last..start]);
            out.push_str("[email]");
            last = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[last..]);
    out
}

const AWS_KEY_PREFIXES: [&str; 10] = [
    "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ABIA", "ACCA",
];

fn is_aws_key_id(token: &str) -> bool {
    token.len() == 20
        && AWS_KEY_PREFIXES.iter().any(|p| token.starts_with(p))
        && token
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Upper case, lower case and digits together, as random keys have and words do not.
fn is_mixed(token: &str) -> bool {
    token.bytes().any(|b| b.is_ascii_uppercase())
        && token.bytes().any(|b| b.is_ascii_lowercase())
        && token.bytes().any(|b| b.is_ascii_digit())
}

fn looks_like_secret(token: &str) -> bool {
    token.len() >= 32 && (token.bytes().all(|b| b.is_ascii_hexdigit()) || is_mixed(token))
}

/// A path segment that is a word or a number (`services`, `2026`), which a random key is unlikely
/// to hold between two slashes.
fn is_plain_segment(segment: &str) -> bool {
    segment.len() >= 2
        && (segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_')
            || segment.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a run of base64-like characters is a secret. A run with slashes that holds plain
/// words is a path: its segments are judged one by one.
fn secret_spans(token: &str) -> Vec<(usize, usize)> {
    if token.contains('/') && token.split('/').any(is_plain_segment) {
        let mut spans = Vec::new();
        let mut offset = 0;
        for segment in token.split('/') {
            if looks_like_secret(segment) {
                spans.push((offset, offset + segment.len()));
            }
            offset += segment.len() + 1;
        }
        spans
    } else if looks_like_secret(token) {
        vec![(0, token.len())]
    } else {
        Vec::new()
    }
}

fn redact_tokens(text: &str, long_strings: bool) -> String {
    let bytes = text.as_bytes();
    let is_token_byte =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-');
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_token_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_token_byte(bytes[i]) {
            i += 1;
        }
        let token = &text[start..i];
        if is_aws_key_id(token) {
            out.push_str(&text[last..start]);
            out.push_str("[aws-key-id]");
            last = i;
        } else if long_strings {
            for (from, to) in secret_spans(token) {
                out.push_str(&text[last..start + from]);
                out.push_str(REDACTED);
                last = start + to;
            }
        }
    }
    out.push_str(&text[last..]);
    out
}

/// The Slack incoming-webhook payload of a message: `text` (used for notifications and by
/// clients without blocks) and blocks with a header and the body.
pub fn slack_payload(message: &Message) -> serde_json::Value {
    let mut blocks = vec![serde_json::json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cap(&message.subject, SLACK_HEADER_CHARS)},
    })];
    for chunk in split_lines(&slack_escape(&message.text), SLACK_SECTION_CHARS) {
        blocks.push(
            serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": chunk}}),
        );
    }
    serde_json::json!({
        "text": slack_escape(&format!("{}\n{}", message.subject, message.text)),
        "blocks": blocks,
    })
}

/// Slack's three escapes for message text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Splits a text into chunks of at most `max` characters, at line ends where possible.
fn split_lines(text: &str, max: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut current_chars = 0;
    for line in text.lines() {
        let mut line: &str = line;
        loop {
            let line_chars = line.chars().count();
            if current_chars + line_chars < max {
                current.push_str(line);
                current.push('\n');
                current_chars += line_chars + 1;
                break;
            }
            if current_chars > 0 {
                chunks.push(std::mem::take(&mut current).trim_end().to_owned());
                current_chars = 0;
                continue;
            }
            // A single line longer than a chunk.
            let cut = line
                .char_indices()
                .nth(max - 1)
                .map_or(line.len(), |(i, _)| i);
            chunks.push(line[..cut].to_owned());
            line = &line[cut..];
        }
    }
    if current_chars > 0 {
        chunks.push(current.trim_end().to_owned());
    }
    chunks
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use expect_test::{Expect, expect};

    use super::*;
    use crate::records::{ErrorSource, ProcessingStage};
    use crate::rules::RowError;
    use crate::values::UserId;

    fn execution() -> ExecutionInfo {
        ExecutionInfo {
            environment: "staging".into(),
            execution_name: "import-0123abcd".into(),
            bucket: "staging-userlog-input-000000000000".into(),
            key: "incoming/users-20260102.csv".into(),
            start_time: Some("2026-01-02T03:04:05.000Z".into()),
        }
    }

    fn source(stage: ProcessingStage) -> ErrorSource {
        let at: DateTime<Utc> = "2026-01-02T03:04:06Z".parse().unwrap();
        ErrorSource {
            execution_name: "import-0123abcd".into(),
            stage,
            import_id: Some(3),
            at,
            retry_count: 0,
        }
    }

    fn row_error(line: u64, user: &str) -> ErrorRecord {
        let error = RowError {
            line: Some(line),
            user_id: Some(UserId::parse(user).unwrap()),
            code: ErrorCode::UserNotFound,
            message: format!("the user `{user}` does not exist"),
        };
        ErrorRecord::from_row_error(&source(ProcessingStage::Apply), &error)
    }

    fn batch_failure() -> ErrorRecord {
        ErrorRecord::failure(
            &source(ProcessingStage::Map),
            ErrorCode::BatchFailed,
            "DatabaseError: connection to postgres://app:s3cret@db.internal:5432/userlog refused",
        )
    }

    /// Renders a message as its subject, a blank line and its text.
    fn check(message: &Message, expected: &Expect) {
        expected.assert_eq(&format!("{}\n\n{}", message.subject, message.text));
    }

    fn report<'a>(
        execution: &'a ExecutionInfo,
        outcome: Outcome,
        summary: &'a ErrorSummary,
        failure: Option<&'a Failure>,
        problems: &'a [Problem],
    ) -> ImportReport<'a> {
        ImportReport {
            execution,
            outcome,
            failure,
            summary,
            row_count: Some(1000),
            rows_applied: Some(997),
            duplicate: false,
            problems,
            problem_count: None,
        }
    }

    #[test]
    fn analysis_counts_by_type_and_severity_and_orders_critical_errors() {
        let records = vec![row_error(12, "U1"), batch_failure(), row_error(3, "U2")];
        let summary = analyze(&records);
        assert_eq!(
            (
                summary.total,
                summary.critical_count,
                summary.row_error_count
            ),
            (3, 1, 2)
        );
        expect![[r#"
            {"BatchFailed": 1, "UserNotFound": 2} {Medium: 2, Critical: 1}"#]]
        .assert_eq(&format!("{:?} {:?}", summary.by_type, summary.by_severity));
        assert_eq!(summary.critical[0].error_type, "BatchFailed");
        assert_eq!(analyze(&[]), ErrorSummary::default());
    }

    #[test]
    fn success_message() {
        let exec = execution();
        let summary = ErrorSummary::default();
        check(
            &import_message(&report(&exec, Outcome::Succeeded, &summary, None, &[])),
            &expect![[r#"
                [staging] userlog import succeeded: import-0123abcd

                userlog import succeeded / CSV処理完了通知
                Environment / 環境: staging
                Execution / 実行名: import-0123abcd
                File / ファイル: s3://staging-userlog-input-000000000000/incoming/users-20260102.csv
                Started / 開始時刻: 2026-01-02T03:04:05.000Z
                Outcome / 結果: SUCCEEDED
                Rows applied / 更新件数: 997 of 1000 rows in the file

                No errors. / エラーなく処理が完了しました。"#]],
        );
    }

    #[test]
    fn duplicate_message() {
        let exec = execution();
        let summary = ErrorSummary::default();
        let duplicate = ImportReport {
            duplicate: true,
            rows_applied: None,
            ..report(&exec, Outcome::Succeeded, &summary, None, &[])
        };
        check(
            &import_message(&duplicate),
            &expect![[r#"
            [staging] userlog import skipped, already imported: import-0123abcd

            userlog import skipped / CSV取込スキップ
            Environment / 環境: staging
            Execution / 実行名: import-0123abcd
            File / ファイル: s3://staging-userlog-input-000000000000/incoming/users-20260102.csv
            Started / 開始時刻: 2026-01-02T03:04:05.000Z
            Outcome / 結果: SUCCEEDED

            This file was imported before; nothing was changed. / 取込済みのファイルのため、変更はありません。"#]],
        );
    }

    #[test]
    fn errors_message() {
        let exec = execution();
        let summary = analyze(&[row_error(12, "U1"), batch_failure(), row_error(3, "U2")]);
        check(
            &import_message(&report(
                &exec,
                Outcome::SucceededWithErrors,
                &summary,
                None,
                &[],
            )),
            &expect![[r#"
                [staging] userlog import succeeded with 3 errors: import-0123abcd

                userlog import finished with errors / CSV処理エラー通知
                Environment / 環境: staging
                Execution / 実行名: import-0123abcd
                File / ファイル: s3://staging-userlog-input-000000000000/incoming/users-20260102.csv
                Started / 開始時刻: 2026-01-02T03:04:05.000Z
                Outcome / 結果: SUCCEEDED_WITH_ERRORS
                Rows applied / 更新件数: 997 of 1000 rows in the file

                Errors / エラー概要: 3 in total (総エラー数), 1 high or critical (重要エラー数)
                By type / エラータイプ別内訳:
                - UserNotFound: 2
                - BatchFailed: 1
                By severity / 重要度別:
                - CRITICAL: 1
                - MEDIUM: 2

                High and critical errors / 重要なエラー詳細 (first 1 of 1):
                - CRITICAL BatchFailed [map]: DatabaseError: connection to postgres://[redacted]@db.internal:5432/userlog refused

                What to do / 対応:
                - BatchFailed: look at the batch's error and rerun the import
                - UserNotFound: create the user first, or remove the row"#]],
        );
    }

    #[test]
    fn rejected_message() {
        let exec = execution();
        let summary = ErrorSummary::default();
        let failure = Failure {
            error: "ValidationFailed".into(),
            cause: "the file has 2 problems; the first: 1:3: UnknownColumn `extra` is not a known column".into(),
        };
        let problems = [
            Problem::new(
                1,
                Some(3),
                ErrorCode::UnknownColumn,
                "`extra` is not a known column",
            ),
            Problem::new(
                1,
                None,
                ErrorCode::MissingColumn,
                "the header has no `投稿回数` (`post_count`) column",
            ),
        ];
        let rejected = ImportReport {
            rows_applied: None,
            row_count: Some(0),
            problem_count: Some(120),
            ..report(&exec, Outcome::Failed, &summary, Some(&failure), &problems)
        };
        check(
            &import_message(&rejected),
            &expect![[r#"
            [staging] userlog import FAILED (ValidationFailed): import-0123abcd

            userlog import FAILED / CSV処理失敗
            Environment / 環境: staging
            Execution / 実行名: import-0123abcd
            File / ファイル: s3://staging-userlog-input-000000000000/incoming/users-20260102.csv
            Started / 開始時刻: 2026-01-02T03:04:05.000Z
            Outcome / 結果: FAILED
            Rows in the file / 行数: 0
            Error / エラー: ValidationFailed
            Cause / 原因: the file has 2 problems; the first: 1:3: UnknownColumn `extra` is not a known column

            File problems / ファイルの問題 (first 2 of 120):
            - 1:3: UnknownColumn `extra` is not a known column
            - 1: MissingColumn the header has no `投稿回数` (`post_count`) column

            Nothing more happens on its own: fix the cause and send the file again. / 至急確認をお願いします。"#]],
        );
    }

    #[test]
    fn failed_message() {
        let exec = execution();
        let summary = analyze(&[batch_failure()]);
        let failure = Failure {
            error: "States.TaskFailed".into(),
            cause: "Task stopped: Essential container in task exited (exit code 1); see logs at \
                    https://console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1#logs"
                .into(),
        };
        check(
            &import_message(&ImportReport {
                rows_applied: Some(0),
                ..report(&exec, Outcome::Failed, &summary, Some(&failure), &[])
            }),
            &expect![[r#"
                [staging] userlog import FAILED (States.TaskFailed): import-0123abcd

                userlog import FAILED / CSV処理失敗
                Environment / 環境: staging
                Execution / 実行名: import-0123abcd
                File / ファイル: s3://staging-userlog-input-000000000000/incoming/users-20260102.csv
                Started / 開始時刻: 2026-01-02T03:04:05.000Z
                Outcome / 結果: FAILED
                Rows applied / 更新件数: 0 of 1000 rows in the file
                Error / エラー: States.TaskFailed
                Cause / 原因: Task stopped: Essential container in task exited (exit code 1); see logs at https://console.aws.amazon.com/cloudwatch/home?[redacted]

                Errors / エラー概要: 1 in total (総エラー数), 1 high or critical (重要エラー数)
                By type / エラータイプ別内訳:
                - BatchFailed: 1
                By severity / 重要度別:
                - CRITICAL: 1

                High and critical errors / 重要なエラー詳細 (first 1 of 1):
                - CRITICAL BatchFailed [map]: DatabaseError: connection to postgres://[redacted]@db.internal:5432/userlog refused

                What to do / 対応:
                - BatchFailed: look at the batch's error and rerun the import

                Nothing more happens on its own: fix the cause, then re-run the import with `cargo xtask redrive import-0123abcd --env staging`. / 至急確認をお願いします。"#]],
        );
    }

    #[test]
    fn check_failed_message() {
        check(
            &super::check_failed_message(
                &execution(),
                "could not read the error table: Query failed: AccessDeniedException",
            ),
            &expect![[r#"
                [staging] CRITICAL userlog error check failed: import-0123abcd

                CRITICAL: the userlog error check itself failed / 緊急: CSV処理監視システムエラー
                Environment / 環境: staging
                Execution / 実行名: import-0123abcd
                File / ファイル: s3://staging-userlog-input-000000000000/incoming/users-20260102.csv
                Started / 開始時刻: 2026-01-02T03:04:05.000Z
                Error / エラー: could not read the error table: Query failed: AccessDeniedException

                The import's errors were not checked and its notifications may be missing: look at the execution and the check-errors logs. / システム管理者による緊急対応が必要です。"#]],
        );
    }

    /// Redacts `input` and compares with `expected`.
    fn check_redact(input: &str, expected: &Expect) {
        expected.assert_eq(&redact(input));
    }

    #[test]
    fn redaction() {
        check_redact(
            "mail taro.yamada+x@example.co.jp now",
            &expect!["mail [email] now"],
        );
        check_redact(
            "GET https://api.example.com/v1/users?token=abc&x=1#frag done",
            &expect!["GET https://api.example.com/v1/users?[redacted] done"],
        );
        check_redact(
            "postgres://app:s3cret@db.internal:5432/userlog?sslmode=require",
            &expect!["postgres://[redacted]@db.internal:5432/userlog?[redacted]"],
        );
        check_redact(
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig",
            &expect!["Authorization: [redacted] [redacted]"],
        );
        check_redact(
            "password=hunter2, \"client_secret\": \"abc def\"",
            &expect![[r#"password=[redacted], "client_secret": "[redacted]""#]],
        );
        check_redact(
            "key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            &expect!["key [aws-key-id] secret [redacted]"],
        );
        check_redact(
            "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 ok",
            &expect!["sha [redacted] ok"],
        );
        check_redact(
            "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            &expect!["https://hooks.slack.com/[redacted]"],
        );
        // A long name mixing cases and digits in free text is taken for a key; the file line of a
        // message uses `redact_personal`, which keeps it.
        check_redact(
            "GET https://example.com/api/v1/AbCdEfGh12345678AbCdEfGh12345678/items and s3://b/imports/2026/DailyUserStatistics20260101Final.csv",
            &expect![
                "GET https://example.com/api/v1/[redacted]/items and s3://b/imports/2026/[redacted].csv"
            ],
        );
        // What is not a secret stays.
        check_redact(
            "line 3: the user `U-001` does not exist (request 3f2a1c4e-9b1d-4c2a-8e6f-0a1b2c3d4e5f, 2026-01-02T03:04:05Z, arn:aws:lambda:ap-northeast-1:123456789012:function:staging-userlog-check)",
            &expect![
                "line 3: the user `U-001` does not exist (request 3f2a1c4e-9b1d-4c2a-8e6f-0a1b2c3d4e5f, 2026-01-02T03:04:05Z, arn:aws:lambda:ap-northeast-1:123456789012:function:staging-userlog-check)"
            ],
        );
        assert_eq!(
            redact_personal("s3://b/Reports/DailyUserStatistics_20260101_Final.csv"),
            "s3://b/Reports/DailyUserStatistics_20260101_Final.csv"
        );
        assert_eq!(
            redact_personal("s3://b/from-taro@example.com.csv"),
            "s3://b/[email]"
        );
    }

    #[test]
    fn record_data_other_than_line_user_and_code_never_reaches_a_message() {
        let item = serde_json::json!({
            "errorId": "x", "timestamp": "t", "executionName": "e", "errorType": "BadCount", "severity": "HIGH",
            "errorMessage": "bad count", "processingStage": "validate",
            "recordData": {"line": 4, "userId": "U1", "rawRow": "U1,SECRET-VALUE,3", "email": "hanako@example.com"}
        });
        let record: ErrorRecord = serde_json::from_value(item).unwrap();
        let exec = execution();
        let summary = analyze(&[record]);
        let message = import_message(&report(
            &exec,
            Outcome::SucceededWithErrors,
            &summary,
            None,
            &[],
        ));
        assert!(
            message.text.contains("line 4 user U1: bad count"),
            "{}",
            message.text
        );
        assert!(!message.text.contains("SECRET-VALUE") && !message.text.contains("hanako"));
    }

    #[test]
    fn capping_holds_for_huge_inputs() {
        let many: Vec<ErrorRecord> = (0..5000)
            .map(|i| {
                let mut record = batch_failure();
                record.error_type = format!("Type{i:04}");
                record.error_message = "x".repeat(10_000);
                record
            })
            .collect();
        let summary = analyze(&many);
        let exec = ExecutionInfo {
            execution_name: "e".repeat(80),
            environment: "production".into(),
            ..execution()
        };
        let failure = Failure {
            error: "E".repeat(500),
            cause: "c\n".repeat(5000),
        };
        for message in [
            import_message(&report(
                &exec,
                Outcome::SucceededWithErrors,
                &summary,
                None,
                &[],
            )),
            import_message(&report(
                &exec,
                Outcome::Failed,
                &summary,
                Some(&failure),
                &[],
            )),
            super::check_failed_message(&exec, &"z".repeat(100_000)),
        ] {
            assert!(
                message.text.chars().count() <= NOTIFICATION_TEXT_CHARS,
                "{}",
                message.text.chars().count()
            );
            assert!(
                message.subject.len() <= NOTIFICATION_SUBJECT_CHARS && message.subject.is_ascii(),
                "{}",
                message.subject
            );
            assert!(
                message
                    .text
                    .lines()
                    .all(|l| l.chars().count() <= 2 * NOTIFICATION_ITEM_CHARS)
            );
            let payload = slack_payload(&message);
            for block in payload["blocks"].as_array().unwrap().iter().skip(1) {
                assert!(block["text"]["text"].as_str().unwrap().chars().count() <= 3_000);
            }
        }
    }

    #[test]
    fn subjects_are_ascii_on_one_line() {
        assert_eq!(ascii_subject("CSV処理エラー\nnext"), "CSV????? next");
        let long = ascii_subject(&"a".repeat(300));
        assert_eq!((long.len(), long.ends_with("...")), (100, true));
    }

    #[test]
    fn slack_payload_escapes_and_splits() {
        let message = Message {
            subject: "s <x>".into(),
            text: "a & b <c>\nline two".into(),
        };
        expect![[r#"
            {
              "text": "s &lt;x&gt;\na &amp; b &lt;c&gt;\nline two",
              "blocks": [
                {
                  "type": "header",
                  "text": {
                    "type": "plain_text",
                    "text": "s <x>"
                  }
                },
                {
                  "type": "section",
                  "text": {
                    "type": "mrkdwn",
                    "text": "a &amp; b &lt;c&gt;\nline two"
                  }
                }
              ]
            }"#]]
        .assert_eq(&serde_json::to_string_pretty(&slack_payload(&message)).unwrap());
        let long = Message {
            subject: "s".into(),
            text: format!("{}\n{}", "a".repeat(2000), "b".repeat(5000)),
        };
        let chunks = split_lines(&long.text, SLACK_SECTION_CHARS);
        assert_eq!(
            chunks.iter().map(|c| c.chars().count()).collect::<Vec<_>>(),
            vec![2000, 2899, 2101]
        );
    }
}
