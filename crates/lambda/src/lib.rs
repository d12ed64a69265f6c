//! What every Lambda function shares: turning an error into the `errorType` and message that the
//! state machine's `Retry` and `Catch` match and that operators read, and the database pool made
//! at start-up ([`database`]).

pub mod database;

use std::error::Error;

use lambda_runtime::Diagnostic;
use userlog_domain::limits::{FUNCTION_ERROR_CHARS, cap};
use userlog_domain::report::redact;

/// The diagnostic of a failed invocation: `error_type` is the name the state machine matches
/// (for example `DatabaseError`); the message is the error's chain, redacted and capped.
pub fn diagnostic(error_type: &str, err: &dyn Error) -> Diagnostic {
    Diagnostic {
        error_type: error_type.to_owned(),
        error_message: cap(&redact(&error_chain(err)), FUNCTION_ERROR_CHARS),
    }
}

pub use userlog_domain::errors::error_chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    #[test]
    fn chains_skip_causes_already_quoted() {
        let err = Layer(
            "reading failed: disk",
            Some(Box::new(Layer(
                "disk",
                Some(Box::new(Layer("sector 7", None))),
            ))),
        );
        assert_eq!(error_chain(&err), "reading failed: disk: sector 7");
        let d = diagnostic(
            "DatabaseError",
            &Layer("login as admin@example.com failed", None),
        );
        assert_eq!(d.error_type, "DatabaseError");
        assert!(
            !d.error_message.contains("admin@example.com"),
            "{}",
            d.error_message
        );
    }
}
