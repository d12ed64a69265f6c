//! Notification channels: SNS, e-mail through SES, and Slack through an incoming webhook whose
//! URL is kept in an SSM SecureString parameter.
//!
//! Every send gives a [`Delivery`]: one channel failing never stops the others, and a channel that
//! is not set up is reported as such rather than sent to a placeholder.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::future::join_all;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use userlog_domain::limits::{DELIVERY_DETAIL_CHARS, cap};
use userlog_domain::report::{Message, redact, slack_payload};

use crate::error::AwsError;

/// A notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sns,
    Slack,
    Email,
}

/// What happened to a notification on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub channel: Channel,
    pub ok: bool,
    /// The message id on success; why it failed otherwise (redacted, capped).
    pub detail: String,
}

impl Delivery {
    /// A channel that could not send: not set up, or failed.
    pub fn failed(channel: Channel, detail: &str) -> Delivery {
        Delivery {
            channel,
            ok: false,
            detail: cap(&redact(detail), DELIVERY_DETAIL_CHARS),
        }
    }
}

/// The future of one send.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<String, AwsError>> + Send + 'a>>;

/// A channel that can send a message. `send` resolves to a short detail (a message id).
pub trait Notifier: Send + Sync {
    fn channel(&self) -> Channel;
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a>;
}

/// Sends on one channel and reports what happened.
pub async fn deliver(notifier: &dyn Notifier, message: &Message) -> Delivery {
    match notifier.send(message).await {
        Ok(detail) => Delivery {
            channel: notifier.channel(),
            ok: true,
            detail,
        },
        Err(err) => {
            tracing::warn!(channel = ?notifier.channel(), error = %err, "a notification failed");
            Delivery::failed(notifier.channel(), &err.to_string())
        }
    }
}

/// Sends on every channel at once; one result per channel, in the order given.
pub async fn send_all(notifiers: &[&dyn Notifier], message: &Message) -> Vec<Delivery> {
    join_all(notifiers.iter().map(|n| deliver(*n, message))).await
}

/// Publishes to an SNS topic.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    pub client: aws_sdk_sns::Client,
    pub topic_arn: String,
}

impl Notifier for SnsNotifier {
    fn channel(&self) -> Channel {
        Channel::Sns
    }

    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            let output = self
                .client
                .publish()
                .topic_arn(&self.topic_arn)
                .subject(&message.subject)
                .message(&message.text)
                .send()
                .await
                .map_err(AwsError::service("SNS Publish"))?;
            Ok(format!(
                "message id {}",
                output.message_id().unwrap_or("unknown")
            ))
        })
    }
}

/// Sends a plain-text e-mail through SES (API v2).
#[derive(Debug, Clone)]
pub struct SesNotifier {
    pub client: aws_sdk_sesv2::Client,
    pub from: String,
    pub to: Vec<String>,
}

impl Notifier for SesNotifier {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        use aws_sdk_sesv2::types::{
            Body, Content, Destination, EmailContent, Message as SesMessage,
        };
        Box::pin(async move {
            let content = |text: &str| {
                Content::builder()
                    .data(text)
                    .charset("UTF-8")
                    .build()
                    .map_err(|e| AwsError::Item(e.to_string()))
            };
            let email = SesMessage::builder()
                .subject(content(&message.subject)?)
                .body(Body::builder().text(content(&message.text)?).build())
                .build();
            let output = self
                .client
                .send_email()
                .from_email_address(&self.from)
                .destination(
                    Destination::builder()
                        .set_to_addresses(Some(self.to.clone()))
                        .build(),
                )
                .content(EmailContent::builder().simple(email).build())
                .send()
                .await
                .map_err(AwsError::service("SES SendEmail"))?;
            Ok(format!(
                "message id {}",
                output.message_id().unwrap_or("unknown")
            ))
        })
    }
}

/// Posts to a Slack incoming webhook.
#[derive(Debug, Clone)]
pub struct SlackNotifier {
    pub http: reqwest::Client,
    pub webhook_url: SecretString,
}

impl Notifier for SlackNotifier {
    fn channel(&self) -> Channel {
        Channel::Slack
    }

    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            // The URL is the secret: errors are stripped of it before they go anywhere.
            let response = self
                .http
                .post(self.webhook_url.expose_secret())
                .json(&slack_payload(message))
                .send()
                .await
                .map_err(|e| AwsError::Http(e.without_url().to_string()))?;
            let status = response.status();
            if status.is_success() {
                return Ok(format!("HTTP {}", status.as_u16()));
            }
            let body = response.text().await.unwrap_or_default();
            Err(AwsError::Http(format!(
                "HTTP {}: {}",
                status.as_u16(),
                cap(body.trim(), 200)
            )))
        })
    }
}

/// An HTTP client for webhooks, with timeouts so that a hanging endpoint cannot hold up the
/// other channels.
pub fn http_client() -> Result<reqwest::Client, AwsError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| AwsError::Http(e.to_string()))
}

/// Whether Slack can be used, after reading its webhook URL.
#[derive(Debug)]
pub enum SlackSetup {
    Ready(SlackNotifier),
    /// No parameter is named, or the named one does not exist.
    NotConfigured(String),
    /// The parameter exists but could not be read, or holds no https URL.
    Unavailable(String),
}

impl SlackSetup {
    pub fn notifier(&self) -> Option<&SlackNotifier> {
        match self {
            SlackSetup::Ready(notifier) => Some(notifier),
            _ => None,
        }
    }

    /// The delivery to report when Slack cannot be used.
    pub fn unusable(&self) -> Option<Delivery> {
        match self {
            SlackSetup::Ready(_) => None,
            SlackSetup::NotConfigured(reason) => Some(Delivery::failed(
                Channel::Slack,
                &format!("not configured: {reason}"),
            )),
            SlackSetup::Unavailable(reason) => Some(Delivery::failed(
                Channel::Slack,
                &format!("unavailable: {reason}"),
            )),
        }
    }
}

/// Where the Slack webhook URL is kept: read at each use, so that a rotated URL takes effect
/// without a redeploy.
#[derive(Debug, Clone)]
pub struct SlackSource {
    pub ssm: aws_sdk_ssm::Client,
    pub http: reqwest::Client,
    /// The SSM SecureString parameter; `None` when Slack is not set up.
    pub parameter: Option<String>,
}

impl SlackSource {
    pub async fn load(&self) -> SlackSetup {
        load_slack(&self.ssm, self.http.clone(), self.parameter.as_deref()).await
    }
}

/// Reads the Slack webhook URL from the SSM SecureString parameter `parameter` (decrypted).
pub async fn load_slack(
    ssm: &aws_sdk_ssm::Client,
    http: reqwest::Client,
    parameter: Option<&str>,
) -> SlackSetup {
    let Some(name) = parameter.filter(|p| !p.trim().is_empty()) else {
        return SlackSetup::NotConfigured("no webhook parameter is set".to_owned());
    };
    let output = match ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(output) => output,
        Err(err) => {
            let err = AwsError::service("SSM GetParameter")(err);
            return if err.code() == Some("ParameterNotFound") {
                SlackSetup::NotConfigured(format!("the parameter `{name}` does not exist"))
            } else {
                SlackSetup::Unavailable(err.to_string())
            };
        }
    };
    let value = output
        .parameter()
        .and_then(|p| p.value())
        .unwrap_or_default()
        .trim()
        .to_owned();
    if !value.starts_with("https://") {
        return SlackSetup::Unavailable(format!(
            "the parameter `{name}` does not hold an https URL"
        ));
    }
    SlackSetup::Ready(SlackNotifier {
        http,
        webhook_url: SecretString::from(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeAws, Reply};

    fn message() -> Message {
        Message {
            subject: "[staging] userlog import succeeded: exec".into(),
            text: "line & more".into(),
        }
    }

    #[tokio::test]
    async fn every_channel_reports_and_one_failure_stops_none() {
        let sns = FakeAws::start(vec![Reply::ok(
            "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>",
        )
        .header("Content-Type", "text/xml")]);
        let slack = FakeAws::start(vec![Reply::status(404, "no_service")]);
        let ses = FakeAws::start(vec![
            Reply::ok("{\"MessageId\":\"e-1\"}").header("Content-Type", "application/json"),
        ]);

        let sns_notifier = SnsNotifier {
            client: aws_sdk_sns::Client::new(&sns.sdk_config()),
            topic_arn: "arn:aws:sns:ap-northeast-1:000000000000:alerts".into(),
        };
        let slack_notifier = SlackNotifier {
            http: http_client().unwrap(),
            webhook_url: SecretString::from(format!("{}/services/T0/B0/token", slack.url())),
        };
        let ses_notifier = SesNotifier {
            client: aws_sdk_sesv2::Client::new(&ses.sdk_config()),
            from: "noreply@example.com".into(),
            to: vec!["team@example.com".into()],
        };

        let deliveries =
            send_all(&[&sns_notifier, &slack_notifier, &ses_notifier], &message()).await;
        let summary: Vec<String> = deliveries
            .iter()
            .map(|d| format!("{:?} {} {}", d.channel, d.ok, d.detail))
            .collect();
        assert_eq!(
            summary,
            vec![
                "Sns true message id m-1",
                "Slack false the HTTP call failed: HTTP 404: no_service",
                "Email true message id e-1"
            ]
        );

        let sns_request = &sns.finish()[0];
        assert!(
            sns_request.body.contains("Action=Publish")
                && sns_request.body.contains("Subject=%5Bstaging%5D"),
            "{}",
            sns_request.body
        );
        let slack_request = &slack.finish()[0];
        assert_eq!(
            slack_request.request_line,
            "POST /services/T0/B0/token HTTP/1.1"
        );
        assert_eq!(
            slack_request.json()["text"],
            "[staging] userlog import succeeded: exec\nline &amp; more"
        );
        let ses_request = &ses.finish()[0];
        assert_eq!(
            ses_request.json()["Destination"]["ToAddresses"][0],
            "team@example.com"
        );
    }

    #[tokio::test]
    async fn slack_is_not_configured_without_its_parameter() {
        let ssm = FakeAws::start(vec![
            Reply::status(400, "{\"__type\":\"ParameterNotFound\",\"message\":\"not found\"}").header("Content-Type", "application/x-amz-json-1.1"),
            Reply::ok("{\"Parameter\":{\"Name\":\"/p\",\"Type\":\"SecureString\",\"Value\":\"https://hooks.slack.com/services/T/B/x\"}}")
                .header("Content-Type", "application/x-amz-json-1.1"),
            Reply::ok("{\"Parameter\":{\"Name\":\"/p\",\"Type\":\"SecureString\",\"Value\":\"YOUR-WEBHOOK\"}}")
                .header("Content-Type", "application/x-amz-json-1.1"),
            Reply::status(400, "{\"__type\":\"AccessDeniedException\",\"message\":\"denied\"}").header("Content-Type", "application/x-amz-json-1.1"),
        ]);
        let client = aws_sdk_ssm::Client::new(&ssm.sdk_config());
        let http = http_client().unwrap();
        let unset = load_slack(&client, http.clone(), None).await;
        assert_eq!(
            unset.unusable().unwrap().detail,
            "not configured: no webhook parameter is set"
        );
        let missing = load_slack(&client, http.clone(), Some("/p")).await;
        assert_eq!(
            missing.unusable().unwrap().detail,
            "not configured: the parameter `/p` does not exist"
        );
        let ready = load_slack(&client, http.clone(), Some("/p")).await;
        assert_eq!(
            ready
                .notifier()
                .map(|n| n.webhook_url.expose_secret().to_owned()),
            Some("https://hooks.slack.com/services/T/B/x".into())
        );
        let placeholder = load_slack(&client, http.clone(), Some("/p")).await;
        assert_eq!(
            placeholder.unusable().unwrap().detail,
            "unavailable: the parameter `/p` does not hold an https URL"
        );
        let denied = load_slack(&client, http, Some("/p")).await;
        assert!(
            denied
                .unusable()
                .unwrap()
                .detail
                .starts_with("unavailable: SSM GetParameter failed"),
            "{:?}",
            denied
        );
        let requests = ssm.finish();
        assert_eq!(
            requests[0].json(),
            serde_json::json!({"Name": "/p", "WithDecryption": true})
        );
    }
}
