//! Transient failures of AWS calls, and the exponential backoff that retries them.
//!
//! Whether a failure is worth retrying is decided by [`classify`] from plain facts about it
//! ([`FailureFacts`]: what kind of failure, the service's error code, the HTTP status), so the
//! decision is a pure function with its own tests; [`crate::sdk`] turns SDK errors into those facts.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

/// How an AWS call failed, before any service answered or after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The service answered with an error.
    Service,
    /// The call timed out.
    Timeout,
    /// The request could not be sent (connection refused or reset, DNS, TLS).
    Dispatch,
    /// An answer came but could not be read.
    Response,
    /// The request could not be built (a bug or a bad argument).
    Construction,
}

/// What a failed AWS call tells about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureFacts {
    /// The kind of failure.
    pub kind: FailureKind,
    /// The service's error code (`ThrottlingException`, `ValidationError`, ...), if it answered.
    pub code: Option<String>,
    /// The HTTP status of the answer, if there was one.
    pub status: Option<u16>,
}

impl FailureFacts {
    /// A service error with a code and a status.
    pub fn service(code: &str, status: u16) -> Self {
        FailureFacts {
            kind: FailureKind::Service,
            code: Some(code.to_owned()),
            status: Some(status),
        }
    }

    /// A failure without an answer.
    pub fn without_answer(kind: FailureKind) -> Self {
        FailureFacts {
            kind,
            code: None,
            status: None,
        }
    }
}

/// Whether retrying can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transience {
    /// Throttling, a server-side error, a lost connection: the same call may succeed later.
    Transient,
    /// The call is wrong or not allowed: it fails the same way every time.
    Permanent,
}

/// Error codes that mean "too many requests" across AWS services.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Error codes of passing server-side trouble.
const TRANSIENT_CODES: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ServiceException",
    "IDPCommunicationError",
];

/// Decides whether a failure is worth retrying: throttling, 5xx answers, timeouts and connection
/// failures are; everything else (validation errors, missing resources, access denied, a broken
/// request) is not.
pub fn classify(facts: &FailureFacts) -> Transience {
    let status_is_transient = |status: Option<u16>| status.is_some_and(|s| s >= 500 || s == 429);
    match facts.kind {
        FailureKind::Timeout | FailureKind::Dispatch => Transience::Transient,
        FailureKind::Construction => Transience::Permanent,
        FailureKind::Response => {
            if facts.status.is_none() || status_is_transient(facts.status) {
                Transience::Transient
            } else {
                Transience::Permanent
            }
        }
        FailureKind::Service => {
            let code = facts.code.as_deref().unwrap_or_default();
            if THROTTLING_CODES.contains(&code)
                || TRANSIENT_CODES.contains(&code)
                || status_is_transient(facts.status)
            {
                Transience::Transient
            } else {
                Transience::Permanent
            }
        }
    }
}

/// An error that knows whether retrying can help.
pub trait Retryable {
    /// Whether the failure is transient.
    fn transience(&self) -> Transience;
}

pub use userlog_domain::backoff::{Backoff, jitter};

/// Waits between attempts and polls; tests use one that does not sleep.
pub trait Sleeper {
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + '_>>;
}

/// Sleeps on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// One retry about to happen, for progress output.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryNotice<'a> {
    /// What is retried (the AWS operation).
    pub operation: &'a str,
    /// The attempt that failed (1-based).
    pub attempt: u32,
    /// The wait before the next attempt.
    pub delay: Duration,
    /// The failure, as text.
    pub error: String,
}

/// Runs `call` until it succeeds, fails permanently, or has been tried `backoff.max_attempts`
/// times; `notice` hears about every retry.
pub async fn retry<T, E, Fut>(
    backoff: &Backoff,
    sleeper: &dyn Sleeper,
    operation: &str,
    mut notice: impl FnMut(&RetryNotice<'_>),
    mut call: impl FnMut() -> Fut,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
    E: Retryable + std::fmt::Display,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(error)
                if error.transience() == Transience::Transient
                    && attempt < backoff.max_attempts =>
            {
                let delay = backoff.delay(attempt - 1, jitter());
                notice(&RetryNotice {
                    operation,
                    attempt,
                    delay,
                    error: error.to_string(),
                });
                sleeper.sleep(delay).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use expect_test::{Expect, expect};

    use super::*;

    fn check(cases: &[FailureFacts], expected: Expect) {
        let text: String = cases
            .iter()
            .map(|facts| {
                format!(
                    "{:<12} {:<40} {:<5} {:?}\n",
                    format!("{:?}", facts.kind),
                    facts.code.as_deref().unwrap_or("-"),
                    facts.status.map_or("-".to_owned(), |s| s.to_string()),
                    classify(facts)
                )
            })
            .collect();
        expected.assert_eq(&text);
    }

    #[test]
    fn throttling_server_errors_and_lost_connections_are_transient() {
        check(
            &[
                FailureFacts::service("Throttling", 400),
                FailureFacts::service("ThrottlingException", 400),
                FailureFacts::service("TooManyRequestsException", 429),
                FailureFacts::service("ProvisionedThroughputExceededException", 400),
                FailureFacts::service("SlowDown", 503),
                FailureFacts::service("InternalFailure", 500),
                FailureFacts::service("SomethingNew", 502),
                FailureFacts::service("SomethingNew", 429),
                FailureFacts::without_answer(FailureKind::Timeout),
                FailureFacts::without_answer(FailureKind::Dispatch),
                FailureFacts::without_answer(FailureKind::Response),
                FailureFacts {
                    kind: FailureKind::Response,
                    code: None,
                    status: Some(503),
                },
            ],
            expect![[r#"
                Service      Throttling                               400   Transient
                Service      ThrottlingException                      400   Transient
                Service      TooManyRequestsException                 429   Transient
                Service      ProvisionedThroughputExceededException   400   Transient
                Service      SlowDown                                 503   Transient
                Service      InternalFailure                          500   Transient
                Service      SomethingNew                             502   Transient
                Service      SomethingNew                             429   Transient
                Timeout      -                                        -     Transient
                Dispatch     -                                        -     Transient
                Response     -                                        -     Transient
                Response     -                                        503   Transient
            "#]],
        );
    }

    #[test]
    fn wrong_or_forbidden_calls_are_permanent() {
        check(
            &[
                FailureFacts::service("ValidationError", 400),
                FailureFacts::service("AccessDenied", 403),
                FailureFacts::service("ResourceNotFoundException", 404),
                FailureFacts::service("ConditionalCheckFailedException", 400),
                FailureFacts::service("NoSuchBucket", 404),
                FailureFacts::without_answer(FailureKind::Construction),
                FailureFacts {
                    kind: FailureKind::Response,
                    code: None,
                    status: Some(400),
                },
            ],
            expect![[r#"
                Service      ValidationError                          400   Permanent
                Service      AccessDenied                             403   Permanent
                Service      ResourceNotFoundException                404   Permanent
                Service      ConditionalCheckFailedException          400   Permanent
                Service      NoSuchBucket                             404   Permanent
                Construction -                                        -     Permanent
                Response     -                                        400   Permanent
            "#]],
        );
    }

    /// A failure whose transience the test chooses.
    #[derive(Debug)]
    struct Failure(Transience);

    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?} failure", self.0)
        }
    }

    impl Retryable for Failure {
        fn transience(&self) -> Transience {
            self.0
        }
    }

    /// Records the waits instead of sleeping.
    #[derive(Default)]
    struct RecordingSleeper(RefCell<Vec<Duration>>);

    impl Sleeper for RecordingSleeper {
        fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + '_>> {
            self.0.borrow_mut().push(duration);
            Box::pin(std::future::ready(()))
        }
    }

    /// Runs `retry` over a call that fails with `failures` in turn, then succeeds; gives the
    /// result, the calls made and the retries announced.
    fn run(failures: Vec<Transience>, max_attempts: u32) -> (Result<u32, String>, u32, usize) {
        let backoff = Backoff {
            base: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            max_attempts,
        };
        let sleeper = RecordingSleeper::default();
        let calls = RefCell::new(0_u32);
        let mut notices = 0;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let result = runtime.block_on(retry(
            &backoff,
            &sleeper,
            "TestCall",
            |_| notices += 1,
            || {
                let n = {
                    let mut calls = calls.borrow_mut();
                    *calls += 1;
                    *calls
                };
                let outcome = match failures.get(n as usize - 1) {
                    Some(transience) => Err(Failure(*transience)),
                    None => Ok(n),
                };
                async move { outcome }
            },
        ));
        assert!(
            sleeper
                .0
                .borrow()
                .iter()
                .all(|d| *d <= Duration::from_millis(40))
        );
        (
            result.map_err(|e| e.to_string()),
            calls.into_inner(),
            notices,
        )
    }

    #[test]
    fn transient_failures_are_retried_until_success() {
        use Transience::*;
        assert_eq!(run(vec![Transient, Transient], 6), (Ok(3), 3, 2));
    }

    #[test]
    fn permanent_failures_stop_at_once() {
        use Transience::*;
        assert_eq!(
            run(vec![Transient, Permanent], 6),
            (Err("Permanent failure".to_owned()), 2, 1)
        );
    }

    #[test]
    fn retries_stop_after_the_last_attempt() {
        use Transience::*;
        assert_eq!(
            run(vec![Transient; 10], 3),
            (Err("Transient failure".to_owned()), 3, 2)
        );
    }
}
