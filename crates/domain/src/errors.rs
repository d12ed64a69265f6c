//! Errors as people read them: an error and its causes on one line.

use std::error::Error;

/// An error and its causes, `outer: inner: innermost`. A cause that its error already quotes at
/// the end of its own text is not repeated.
pub fn error_chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
