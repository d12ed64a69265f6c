//! The body of the deployment request, `multipart/form-data` (RFC 7578): text fields
//! (`manifest`, `branch`) and files (`_headers`, `_redirects`). Built here rather than through
//! reqwest's `multipart` feature, which would bring its streaming machinery and a random
//! boundary for two short fields; the boundary here is derived from the content and checked not
//! to occur in it. Pure.

/// One part of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A text field.
    Text {
        /// The field's name.
        name: String,
        /// Its value.
        value: String,
    },
    /// A file, sent with `filename` and `application/octet-stream`.
    File {
        /// The field's name (also the file's name).
        name: String,
        /// Its content.
        content: Vec<u8>,
    },
}

impl Part {
    /// A text field.
    pub fn text(name: &str, value: &str) -> Part {
        Part::Text {
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }

    /// A file field named after the file.
    pub fn file(name: &str, content: &[u8]) -> Part {
        Part::File {
            name: name.to_owned(),
            content: content.to_vec(),
        }
    }

    fn content(&self) -> &[u8] {
        match self {
            Part::Text { value, .. } => value.as_bytes(),
            Part::File { content, .. } => content,
        }
    }
}

/// A form ready to send: its `Content-Type` header value and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// `multipart/form-data; boundary=...`.
    pub content_type: String,
    /// The encoded parts.
    pub body: Vec<u8>,
}

/// Encodes `parts` (names are ASCII without quotes or line breaks: the crate's own).
pub fn encode(parts: &[Part]) -> Form {
    let boundary = boundary(parts);
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match part {
            Part::Text { name, .. } => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                );
            }
            Part::File { name, .. } => {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                );
            }
        }
        body.extend_from_slice(part.content());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Form {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        body,
    }
}

/// A boundary that occurs in no part: a hash of the parts, salted again in the (astronomically
/// unlikely) case that it does.
fn boundary(parts: &[Part]) -> String {
    let mut salt = 0_u64;
    loop {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&salt.to_le_bytes());
        for part in parts {
            hasher.update(part.content());
        }
        let hex = hasher.finalize().to_hex();
        let candidate = format!("userlog-pages-{}", &hex.as_str()[..24]);
        let occurs = parts.iter().any(|part| {
            part.content()
                .windows(candidate.len())
                .any(|window| window == candidate.as_bytes())
        });
        if !occurs {
            return candidate;
        }
        salt += 1;
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(parts: &[Part], expected: Expect) {
        let form = encode(parts);
        let text = format!(
            "{}\n{}",
            form.content_type,
            String::from_utf8_lossy(&form.body).replace("\r\n", "⏎\n")
        );
        expected.assert_eq(&text);
    }

    #[test]
    fn fields_and_files_are_encoded_as_form_data() {
        check(
            &[
                Part::text(
                    "manifest",
                    r#"{"/index.html":"b21ba0581fdc5f20b592c79af3d230e2"}"#,
                ),
                Part::text("branch", "pr-7"),
                Part::file("_headers", b"/*\n  X-Frame-Options: DENY\n"),
            ],
            expect![[r#"
                multipart/form-data; boundary=userlog-pages-f532f3a00705c548431701e9
                --userlog-pages-f532f3a00705c548431701e9⏎
                Content-Disposition: form-data; name="manifest"⏎
                ⏎
                {"/index.html":"b21ba0581fdc5f20b592c79af3d230e2"}⏎
                --userlog-pages-f532f3a00705c548431701e9⏎
                Content-Disposition: form-data; name="branch"⏎
                ⏎
                pr-7⏎
                --userlog-pages-f532f3a00705c548431701e9⏎
                Content-Disposition: form-data; name="_headers"; filename="_headers"⏎
                Content-Type: application/octet-stream⏎
                ⏎
                /*
                  X-Frame-Options: DENY
                ⏎
                --userlog-pages-f532f3a00705c548431701e9--⏎
            "#]],
        );
    }

    #[test]
    fn the_boundary_occurs_only_as_delimiters() {
        let parts = [
            Part::text("manifest", "--userlog-pages- in a value"),
            Part::file("_redirects", b"/userlog-pages-x /y 301\n"),
        ];
        let form = encode(&parts);
        let boundary = form
            .content_type
            .strip_prefix("multipart/form-data; boundary=")
            .expect("a boundary");
        let count = form
            .body
            .windows(boundary.len())
            .filter(|w| *w == boundary.as_bytes())
            .count();
        assert_eq!(
            count,
            parts.len() + 1,
            "one delimiter per part and a closing one"
        );
        assert_eq!(encode(&parts), form, "the same parts give the same body");
    }
}
