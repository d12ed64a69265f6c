//! Reading one execution from Step Functions: its details and its whole history. The tooling reads
//! through its own retrying client (`userlog_deploy`); these plain reads serve the statistics API.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};

use crate::history::{ExecutionDetails, HistoryEvent};

/// A read that failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Step Functions knows no such execution.
    #[error("no execution {arn}")]
    NotFound {
        /// The execution's ARN.
        arn: String,
    },
    /// The call failed.
    #[error("{call} failed: {message}")]
    Call {
        /// The API call.
        call: &'static str,
        /// What the service (or the connection) said.
        message: String,
    },
}

fn read_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    call: &'static str,
    arn: &str,
    error: SdkError<E>,
) -> ReadError {
    let code = error.as_service_error().and_then(|e| e.code());
    if matches!(
        code,
        Some("ExecutionDoesNotExist" | "ResourceNotFoundException")
    ) {
        return ReadError::NotFound {
            arn: arn.to_owned(),
        };
    }
    let message = match error.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("no message")
        ),
        None => aws_smithy_types::error::display::DisplayErrorContext(&error).to_string(),
    };
    ReadError::Call { call, message }
}

/// The ARN of the execution `name` of the state machine `state_machine_arn`
/// (`arn:aws:states:<region>:<account>:stateMachine:<machine>` becomes
/// `arn:aws:states:<region>:<account>:execution:<machine>:<name>`), or `None` when that is no
/// state machine's ARN.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> Option<String> {
    let (prefix, machine) = state_machine_arn.split_once(":stateMachine:")?;
    (!machine.is_empty() && !machine.contains(':'))
        .then(|| format!("{prefix}:execution:{machine}:{name}"))
}

/// The execution's details.
pub async fn details(client: &Client, arn: &str) -> Result<ExecutionDetails, ReadError> {
    let output = client
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .map_err(|e| read_error("DescribeExecution", arn, e))?;
    Ok(ExecutionDetails::of_sdk(&output))
}

/// The execution's whole history, oldest first.
pub async fn history(client: &Client, arn: &str) -> Result<Vec<HistoryEvent>, ReadError> {
    let mut events = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .get_execution_history()
            .execution_arn(arn)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| read_error("GetExecutionHistory", arn, e))?;
        events.extend(page.events().iter().map(HistoryEvent::of_sdk));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    events.sort_by_key(|e| e.id);
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::execution_arn;

    #[test]
    fn an_execution_arn_names_the_machine_and_the_execution() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:ap-northeast-1:123456789012:stateMachine:staging-userlog-import",
                "imp-1"
            )
            .as_deref(),
            Some(
                "arn:aws:states:ap-northeast-1:123456789012:execution:staging-userlog-import:imp-1"
            )
        );
        assert_eq!(
            execution_arn("arn:aws:states:r:1:activity:x", "imp-1"),
            None
        );
        assert_eq!(
            execution_arn("arn:aws:states:r:1:stateMachine:", "imp-1"),
            None
        );
    }
}
