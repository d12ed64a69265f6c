//! A fake AWS endpoint for tests: an HTTP server on the loopback address that answers a fixed
//! list of replies in order and records the requests it got.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};

/// One canned HTTP reply.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    pub fn ok(body: &str) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }

    pub fn status(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }

    /// A DynamoDB (JSON 1.0 protocol) reply.
    pub fn json(body: &serde_json::Value) -> Reply {
        Reply::ok(&body.to_string()).header("Content-Type", "application/x-amz-json-1.0")
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A request the fake got.
#[derive(Debug, Clone)]
pub struct Request {
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    /// A header's value by name, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// The fake server. Every reply closes its connection, so requests arrive one at a time.
#[derive(Debug)]
pub struct FakeAws {
    url: String,
    server: JoinHandle<Vec<Request>>,
}

impl FakeAws {
    pub fn start(replies: Vec<Reply>) -> FakeAws {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for reply in replies {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                requests.push(read_request(&mut reader));
                write_reply(stream, &reply);
            }
            requests
        });
        FakeAws { url, server }
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// An SDK configuration that sends every service to this server, with test credentials and
    /// no retries (so that each reply answers exactly one call).
    pub fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("ap-northeast-1"))
            .endpoint_url(self.url())
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            )))
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .build()
    }

    /// Waits until every reply was sent, and returns the requests.
    pub fn finish(self) -> Vec<Request> {
        self.server.join().unwrap()
    }
}

fn read_request(reader: &mut impl BufRead) -> Request {
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    Request {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn write_reply(mut stream: impl Write, reply: &Reply) {
    let mut head = format!("HTTP/1.1 {} Fake\r\nConnection: close\r\n", reply.status);
    let has_length = reply
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has_length {
        head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(reply.body.as_bytes()).unwrap();
    stream.flush().unwrap();
}
