//! Writing one object to S3 as a stream of bytes: buffered into parts of a fixed size and sent
//! as a multipart upload, or as one `PutObject` when the whole object fits in the first part.
//!
//! The object appears under its key only when the upload completes (S3 makes a multipart
//! upload's object visible at `CompleteMultipartUpload`, atomically replacing the one before), so
//! a reader sees the old object or the new one, never part of it. An upload that fails is aborted;
//! one whose process dies is removed by the bucket's `AbortIncompleteMultipartUpload` rule.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::error::AwsError;
use crate::s3::Client;

/// S3's smallest part (every part but the last must be at least this large).
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

/// The part size uploads use unless told otherwise: memory holds at most one part.
pub const DEFAULT_PART_BYTES: usize = 8 * 1024 * 1024;

/// What a finished upload wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The object's bucket.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// How many parts it was sent in (1 for a single `PutObject`).
    pub parts: u32,
    /// Whether it went as a multipart upload.
    pub multipart: bool,
}

/// One object being written.
#[derive(Debug)]
pub struct ObjectUpload {
    client: Client,
    bucket: String,
    key: String,
    content_type: String,
    part_bytes: usize,
    buffer: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    bytes: u64,
}

impl ObjectUpload {
    /// An upload of `bucket`/`key` in parts of `part_bytes` (raised to S3's minimum of 5 MiB).
    /// Nothing is sent before the first part is full.
    pub fn new(
        client: Client,
        bucket: &str,
        key: &str,
        content_type: &str,
        part_bytes: usize,
    ) -> ObjectUpload {
        let part_bytes = part_bytes.max(MIN_PART_BYTES);
        ObjectUpload {
            client,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            content_type: content_type.to_owned(),
            part_bytes,
            buffer: Vec::with_capacity(part_bytes),
            upload_id: None,
            parts: Vec::new(),
            bytes: 0,
        }
    }

    /// Appends `bytes` to the object, sending every part that is full.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), AwsError> {
        self.bytes += bytes.len() as u64;
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = self.part_bytes - self.buffer.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.buffer.extend_from_slice(now);
            rest = later;
            if self.buffer.len() == self.part_bytes {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    /// Sends what is buffered as the next part, starting the multipart upload first if needed.
    async fn send_part(&mut self) -> Result<(), AwsError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let started = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .content_type(&self.content_type)
                    .send()
                    .await
                    .map_err(AwsError::service("S3 CreateMultipartUpload"))?;
                let id = started
                    .upload_id()
                    .ok_or_else(|| AwsError::Service {
                        operation: "S3 CreateMultipartUpload",
                        code: None,
                        message: "the answer has no upload id".to_owned(),
                    })?
                    .to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        let body = std::mem::replace(&mut self.buffer, Vec::with_capacity(self.part_bytes));
        let sent = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(AwsError::service("S3 UploadPart"))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(sent.e_tag().map(str::to_owned))
                .build(),
        );
        Ok(())
    }

    /// Sends the rest and makes the object visible: one `PutObject` when no part was sent yet,
    /// otherwise the last part and `CompleteMultipartUpload`. On failure the multipart upload is
    /// aborted, so nothing is left behind.
    pub async fn finish(mut self) -> Result<Uploaded, AwsError> {
        match self.complete().await {
            Ok(uploaded) => Ok(uploaded),
            Err(err) => {
                self.abort_started().await;
                Err(err)
            }
        }
    }

    async fn complete(&mut self) -> Result<Uploaded, AwsError> {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = std::mem::take(&mut self.buffer);
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type(&self.content_type)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(AwsError::service("S3 PutObject"))?;
            return Ok(self.uploaded(1, false));
        };
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(self.parts.clone()))
                    .build(),
            )
            .send()
            .await
            .map_err(AwsError::service("S3 CompleteMultipartUpload"))?;
        let parts = u32::try_from(self.parts.len()).unwrap_or(u32::MAX);
        Ok(self.uploaded(parts, true))
    }

    fn uploaded(&self, parts: u32, multipart: bool) -> Uploaded {
        Uploaded {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            bytes: self.bytes,
            parts,
            multipart,
        }
    }

    /// Gives up: the parts sent so far are discarded and the key keeps what it had.
    pub async fn abort(mut self) {
        self.abort_started().await;
    }

    async fn abort_started(&mut self) {
        let Some(upload_id) = self.upload_id.take() else {
            return;
        };
        let aborted = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&upload_id)
            .send()
            .await;
        if let Err(err) = aborted {
            tracing::warn!(
                bucket = %self.bucket,
                key = %self.key,
                error = %AwsError::service("S3 AbortMultipartUpload")(err),
                "could not abort the multipart upload; the bucket's lifecycle rule removes it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeAws, Reply};

    fn s3_client(fake: &FakeAws) -> Client {
        let settings = crate::config::AwsSettings {
            endpoint_url: Some(fake.url()),
            s3_endpoint_url: None,
        };
        crate::config::s3_client(&fake.sdk_config(), &settings)
    }

    /// The payload size of a request, whether or not the SDK framed it in aws-chunked encoding.
    fn sent_bytes(request: &crate::testing::Request) -> usize {
        request
            .header("x-amz-decoded-content-length")
            .or(request.header("content-length"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn a_small_object_is_one_put() {
        let fake = FakeAws::start(vec![Reply::ok("").header("ETag", "\"e1\"")]);
        let mut upload = ObjectUpload::new(
            s3_client(&fake),
            "etl",
            "user_statistics/dt=2026-12-01/user_statistics.parquet",
            "application/vnd.apache.parquet",
            0,
        );
        upload.write(b"PAR1").await.unwrap();
        upload.write(b"...PAR1").await.unwrap();
        let uploaded = upload.finish().await.unwrap();
        assert_eq!(
            (uploaded.bytes, uploaded.parts, uploaded.multipart),
            (11, 1, false)
        );
        let requests = fake.finish();
        assert_eq!(requests.len(), 1);
        assert!(
            requests[0].request_line.starts_with(
                "PUT /etl/user_statistics/dt%3D2026-12-01/user_statistics.parquet?x-id=PutObject "
            ),
            "{}",
            requests[0].request_line
        );
        assert!(
            requests[0].body.contains("PAR1...PAR1"),
            "{}",
            requests[0].body
        );
    }

    #[tokio::test]
    async fn a_large_object_goes_in_parts_of_the_part_size() {
        let create = "<InitiateMultipartUploadResult><Bucket>etl</Bucket><Key>k</Key>\
                      <UploadId>up-1</UploadId></InitiateMultipartUploadResult>";
        let complete = "<CompleteMultipartUploadResult><Bucket>etl</Bucket><Key>k</Key>\
                        <ETag>\"e\"</ETag></CompleteMultipartUploadResult>";
        let fake = FakeAws::start(vec![
            Reply::ok(create),
            Reply::ok("").header("ETag", "\"p1\""),
            Reply::ok("").header("ETag", "\"p2\""),
            Reply::ok("").header("ETag", "\"p3\""),
            Reply::ok(complete),
        ]);
        let mut upload = ObjectUpload::new(s3_client(&fake), "etl", "k", "application/x", 0);
        let chunk = vec![7u8; 3 * 1024 * 1024];
        for _ in 0..4 {
            upload.write(&chunk).await.unwrap();
        }
        let uploaded = upload.finish().await.unwrap();
        assert_eq!(
            (uploaded.bytes, uploaded.parts, uploaded.multipart),
            (12 * 1024 * 1024, 3, true)
        );
        let requests = fake.finish();
        let lines: Vec<&str> = requests.iter().map(|r| r.request_line.as_str()).collect();
        assert!(lines[0].starts_with("POST /etl/k?uploads"), "{lines:?}");
        assert!(lines[1].contains("partNumber=1"), "{lines:?}");
        assert!(lines[3].contains("partNumber=3"), "{lines:?}");
        assert!(
            lines[4].starts_with("POST /etl/k?uploadId=up-1"),
            "{lines:?}"
        );
        let sizes: Vec<usize> = requests[1..4].iter().map(sent_bytes).collect();
        assert_eq!(sizes, vec![MIN_PART_BYTES, MIN_PART_BYTES, 2 * 1024 * 1024]);
        let body = &requests[4].body;
        assert!(body.contains("<PartNumber>3</PartNumber>"), "{body}");
        assert!(body.contains("p2"), "{body}");
    }

    #[tokio::test]
    async fn a_failed_completion_aborts_the_upload() {
        let create = "<InitiateMultipartUploadResult><Bucket>etl</Bucket><Key>k</Key>\
                      <UploadId>up-9</UploadId></InitiateMultipartUploadResult>";
        let fake = FakeAws::start(vec![
            Reply::ok(create),
            Reply::ok("").header("ETag", "\"p1\""),
            Reply::status(
                403,
                "<Error><Code>AccessDenied</Code><Message>no</Message></Error>",
            ),
            Reply::status(204, ""),
        ]);
        let mut upload = ObjectUpload::new(s3_client(&fake), "etl", "k", "application/x", 0);
        upload.write(&vec![1u8; MIN_PART_BYTES + 1]).await.unwrap();
        let err = upload.finish().await.unwrap_err();
        assert_eq!(err.code(), Some("AccessDenied"));
        let requests = fake.finish();
        let last = requests.last().unwrap();
        assert!(
            last.request_line.starts_with("DELETE /etl/k?")
                && last.request_line.contains("uploadId=up-9"),
            "{}",
            last.request_line
        );
    }
}
