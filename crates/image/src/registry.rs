//! Pushing an image layout to an OCI distribution registry (the HTTP API of the OCI
//! distribution specification, which ECR and the reference registry implement), and asking
//! whether a tag is there.

use crate::layout::{Layout, MANIFEST_MEDIA_TYPE};
use crate::{ImageError, digest};
use userlog_domain::errors::error_chain;

/// `HOST[:PORT]/REPOSITORY[:TAG]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub host: String,
    pub repository: String,
    pub tag: Option<String>,
}

impl Reference {
    /// Parses `HOST[:PORT]/REPOSITORY[:TAG]` (repository: lower-case path components).
    pub fn parse(text: &str) -> Result<Reference, ImageError> {
        let bad = |detail: &str| ImageError::BadReference {
            reference: text.to_owned(),
            detail: detail.to_owned(),
        };
        let (host, rest) = text
            .split_once('/')
            .ok_or_else(|| bad("no repository after the host"))?;
        if host.is_empty() || host.contains(['@', ' ']) {
            return Err(bad("no host"));
        }
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
            _ => (rest, None),
        };
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        };
        if !repository.split('/').all(component_ok) {
            return Err(bad(
                "a repository is lower-case letters, digits, `.`, `_`, `-` and `/` between components",
            ));
        }
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
                && !tag.starts_with(['.', '-']);
            if !ok {
                return Err(bad("a tag is up to 128 letters, digits, `.`, `_` or `-`"));
            }
        }
        Ok(Reference {
            host: host.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
        })
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        Ok(())
    }
}

/// A registry: where it is, how to talk to it.
#[derive(Debug, Clone)]
pub struct Registry {
    base: String,
    authorization: Option<String>,
    client: reqwest::Client,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pushed {
    /// `host/repository:tag`.
    pub reference: String,
    /// The manifest's digest: `host/repository@digest` pulls exactly this image.
    pub digest: String,
    /// Blobs sent, and blobs the registry already had.
    pub uploaded: Vec<String>,
    pub present: Vec<String>,
}

impl Registry {
    /// The registry at `host` over HTTPS, or plain HTTP when `insecure` (a registry on loopback).
    pub fn new(host: &str, insecure: bool) -> Registry {
        let scheme = if insecure { "http" } else { "https" };
        Registry {
            base: format!("{scheme}://{host}"),
            authorization: None,
            client: reqwest::Client::new(),
        }
    }

    /// Sends `Authorization: Basic <token>` (ECR's `GetAuthorizationToken` gives exactly that
    /// token, base64 of `AWS:<password>`).
    pub fn with_basic_token(mut self, token: &str) -> Registry {
        self.authorization = Some(format!("Basic {token}"));
        self
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, url);
        match &self.authorization {
            Some(value) => request.header(reqwest::header::AUTHORIZATION, value),
            None => request,
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<reqwest::Response, ImageError> {
        request.send().await.map_err(|e| ImageError::Unreachable {
            url: url.to_owned(),
            detail: error_chain(&e),
        })
    }

    async fn expect(
        &self,
        response: reqwest::Response,
        method: &str,
        url: &str,
        ok: &[u16],
    ) -> Result<reqwest::Response, ImageError> {
        let status = response.status().as_u16();
        if ok.contains(&status) {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(ImageError::Registry {
            method: method.to_owned(),
            url: url.to_owned(),
            status,
            body: body.chars().take(500).collect(),
        })
    }

    /// Whether `repository` holds the blob `digest`.
    async fn has_blob(&self, repository: &str, digest: &str) -> Result<bool, ImageError> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let response = self
            .send(self.request(reqwest::Method::HEAD, &url), &url)
            .await?;
        let response = self.expect(response, "HEAD", &url, &[200, 404]).await?;
        Ok(response.status().as_u16() == 200)
    }

    /// Uploads one blob in a single request (POST for a session, PUT with the digest).
    async fn upload_blob(
        &self,
        repository: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(), ImageError> {
        let url = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let response = self
            .send(self.request(reqwest::Method::POST, &url), &url)
            .await?;
        let response = self.expect(response, "POST", &url, &[202]).await?;
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ImageError::Registry {
                method: "POST".to_owned(),
                url: url.clone(),
                status: 202,
                body: "no Location header for the upload".to_owned(),
            })?;
        let location = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}{location}", self.base)
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{separator}digest={digest}");
        let response = self
            .send(
                self.request(reqwest::Method::PUT, &put)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.to_vec()),
                &put,
            )
            .await?;
        self.expect(response, "PUT", &put, &[201]).await?;
        Ok(())
    }

    /// Pushes the layout's blobs (those the registry lacks) and then its manifest as `tag`.
    pub async fn push(
        &self,
        layout: &Layout,
        repository: &str,
        tag: &str,
    ) -> Result<Pushed, ImageError> {
        let mut pushed = Pushed {
            reference: format!("{}/{repository}:{tag}", self.base_host()),
            digest: layout.image.digest().to_owned(),
            uploaded: Vec::new(),
            present: Vec::new(),
        };
        let mut blobs = vec![&layout.config];
        blobs.extend(&layout.layers);
        for descriptor in blobs {
            let bytes = &layout.image.blobs[&descriptor.digest];
            if self.has_blob(repository, &descriptor.digest).await? {
                pushed.present.push(descriptor.digest.clone());
            } else {
                self.upload_blob(repository, &descriptor.digest, bytes)
                    .await?;
                pushed.uploaded.push(descriptor.digest.clone());
            }
        }
        let manifest = &layout.image.blobs[layout.image.digest()];
        let url = format!("{}/v2/{repository}/manifests/{tag}", self.base);
        let response = self
            .send(
                self.request(reqwest::Method::PUT, &url)
                    .header(reqwest::header::CONTENT_TYPE, MANIFEST_MEDIA_TYPE)
                    .body(manifest.clone()),
                &url,
            )
            .await?;
        let response = self.expect(response, "PUT", &url, &[201]).await?;
        if let Some(answered) = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && answered != pushed.digest
        {
            return Err(ImageError::DigestMismatch {
                digest: pushed.digest,
                actual: answered.to_owned(),
            });
        }
        Ok(pushed)
    }

    /// The digest of the manifest `reference` (a tag or a digest) names in `repository`, or
    /// `None` when the registry does not hold it.
    pub async fn manifest_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<String>, ImageError> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let response = self
            .send(
                self.request(reqwest::Method::GET, &url)
                    .header(reqwest::header::ACCEPT, MANIFEST_MEDIA_TYPE),
                &url,
            )
            .await?;
        let response = self.expect(response, "GET", &url, &[200, 404]).await?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ImageError::Unreachable {
                url: url.clone(),
                detail: error_chain(&e),
            })?;
        Ok(Some(digest(&bytes)))
    }

    fn base_host(&self) -> &str {
        self.base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, host)| host)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(text: &str, expected: Expect) {
        let actual = match Reference::parse(text) {
            Ok(reference) => format!("{reference:?}"),
            Err(error) => error.to_string(),
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn references_parse_or_say_what_is_wrong() {
        check(
            "127.0.0.1:5000/userlog/import-csv:abc123",
            expect![[
                r#"Reference { host: "127.0.0.1:5000", repository: "userlog/import-csv", tag: Some("abc123") }"#
            ]],
        );
        check(
            "111111111111.dkr.ecr.ap-northeast-1.amazonaws.com/staging-userlog-import-csv",
            expect![[
                r#"Reference { host: "111111111111.dkr.ecr.ap-northeast-1.amazonaws.com", repository: "staging-userlog-import-csv", tag: None }"#
            ]],
        );
        check(
            "localhost:5000/Import",
            expect![
                "`localhost:5000/Import` is not HOST[:PORT]/REPOSITORY[:TAG]: a repository is lower-case letters, digits, `.`, `_`, `-` and `/` between components"
            ],
        );
        check(
            "import-csv",
            expect![
                "`import-csv` is not HOST[:PORT]/REPOSITORY[:TAG]: no repository after the host"
            ],
        );
        check(
            "localhost:5000/a:-x",
            expect![
                "`localhost:5000/a:-x` is not HOST[:PORT]/REPOSITORY[:TAG]: a tag is up to 128 letters, digits, `.`, `_` or `-`"
            ],
        );
    }
}
