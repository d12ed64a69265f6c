//! Reading import files from S3: the object's facts, and its body as a synchronous reader for
//! the domain's streaming CSV reader.

use std::pin::Pin;

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use tokio_util::io::SyncIoBridge;

use crate::error::AwsError;

/// The S3 client type, for holders of one that do not depend on the SDK crate themselves.
pub use aws_sdk_s3::Client;

/// What S3 says about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// The ETag without its quotes.
    pub etag: String,
    pub last_modified: Option<DateTime<Utc>>,
}

/// The body of an object as a blocking [`std::io::Read`]; use it on a blocking thread only.
pub type SyncReader = SyncIoBridge<Pin<Box<dyn tokio::io::AsyncBufRead + Send>>>;

/// An object being downloaded: its facts, and its body not yet read.
#[derive(Debug)]
pub struct OpenObject {
    pub info: ObjectInfo,
    body: ByteStream,
}

impl OpenObject {
    /// Reads the body with a synchronous reader on a blocking thread (`spawn_blocking`), so that
    /// the streaming domain code runs without holding up the async runtime. Memory stays flat:
    /// the body is pulled from the network as `read` consumes it.
    pub async fn read_blocking<T, F>(self, read: F) -> Result<T, AwsError>
    where
        F: FnOnce(SyncReader) -> T + Send + 'static,
        T: Send + 'static,
    {
        let body: Pin<Box<dyn tokio::io::AsyncBufRead + Send>> =
            Box::pin(self.body.into_async_read());
        let reader = SyncIoBridge::new(body);
        tokio::task::spawn_blocking(move || read(reader))
            .await
            .map_err(AwsError::Join)
    }
}

impl OpenObject {
    /// The body as a blocking reader, for code that already runs on a blocking thread inside the
    /// runtime (for example a reader that `spawn_blocking` started).
    pub fn into_reader(self) -> SyncReader {
        let body: Pin<Box<dyn tokio::io::AsyncBufRead + Send>> =
            Box::pin(self.body.into_async_read());
        SyncIoBridge::new(body)
    }
}

/// The facts of an object, without its body (`HeadObject`).
pub async fn head_object(client: &Client, bucket: &str, key: &str) -> Result<ObjectInfo, AwsError> {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(AwsError::service("S3 HeadObject"))?;
    Ok(object_info(
        head.content_length(),
        head.e_tag(),
        head.last_modified(),
    ))
}

/// Starts downloading an object (`GetObject`).
pub async fn open_object(client: &Client, bucket: &str, key: &str) -> Result<OpenObject, AwsError> {
    get_object(client, bucket, key, None).await
}

/// Starts downloading an object only if it still has the ETag `etag` (the one the import
/// claimed); otherwise S3 answers `PreconditionFailed`.
pub async fn open_object_if_match(
    client: &Client,
    bucket: &str,
    key: &str,
    etag: &str,
) -> Result<OpenObject, AwsError> {
    get_object(client, bucket, key, Some(etag)).await
}

async fn get_object(
    client: &Client,
    bucket: &str,
    key: &str,
    etag: Option<&str>,
) -> Result<OpenObject, AwsError> {
    let mut request = client.get_object().bucket(bucket).key(key);
    if let Some(etag) = etag {
        request = request.if_match(format!("\"{}\"", etag.trim_matches('"')));
    }
    let object = request
        .send()
        .await
        .map_err(AwsError::service("S3 GetObject"))?;
    let info = object_info(
        object.content_length(),
        object.e_tag(),
        object.last_modified(),
    );
    Ok(OpenObject {
        info,
        body: object.body,
    })
}

fn object_info(
    size: Option<i64>,
    etag: Option<&str>,
    last_modified: Option<&aws_smithy_types::DateTime>,
) -> ObjectInfo {
    ObjectInfo {
        size: size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
        etag: etag.unwrap_or_default().trim_matches('"').to_owned(),
        last_modified: last_modified
            .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::testing::{FakeAws, Reply};

    #[tokio::test]
    async fn reads_through_a_path_style_endpoint_override() {
        let fake = FakeAws::start(vec![
            Reply::ok("")
                .header("ETag", "\"0123abcd\"")
                .header("Last-Modified", "Fri, 02 Jan 2026 03:04:05 GMT")
                .header("Content-Length", "0"),
            Reply::ok("user_id,login_count,post_count\nU1,1,2\n").header("ETag", "\"0123abcd\""),
        ]);
        let client = s3_client(&fake);
        let info = head_object(&client, "input-bucket", "in/users.csv")
            .await
            .unwrap();
        assert_eq!(info.etag, "0123abcd");
        assert_eq!(
            info.last_modified.map(|t| t.to_rfc3339()),
            Some("2026-01-02T03:04:05+00:00".to_owned())
        );

        let object = open_object_if_match(&client, "input-bucket", "in/users.csv", "0123abcd")
            .await
            .unwrap();
        assert_eq!(object.info.size, 38);
        let text = object
            .read_blocking(|mut reader| {
                let mut text = String::new();
                reader.read_to_string(&mut text).map(|_| text)
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(text, "user_id,login_count,post_count\nU1,1,2\n");

        let requests = fake.finish();
        assert_eq!(
            requests[0].request_line,
            "HEAD /input-bucket/in/users.csv HTTP/1.1"
        );
        assert!(
            requests[1]
                .request_line
                .starts_with("GET /input-bucket/in/users.csv"),
            "{}",
            requests[1].request_line
        );
        assert_eq!(requests[1].header("if-match"), Some("\"0123abcd\""));
    }

    fn s3_client(fake: &FakeAws) -> Client {
        let settings = crate::config::AwsSettings {
            endpoint_url: Some(fake.url()),
            s3_endpoint_url: None,
        };
        crate::config::s3_client(&fake.sdk_config(), &settings)
    }
}
