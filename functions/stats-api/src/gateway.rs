//! API Gateway's side: the HTTP API's Lambda proxy events (payload format 2.0) as [`Request`]s,
//! and [`Response`]s as the results it expects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Request, Response};

/// The parts of a payload 2.0 event the API reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpApiEvent {
    #[serde(default)]
    pub raw_path: String,
    #[serde(default)]
    pub raw_query_string: String,
    /// Header names in lower case, as API Gateway sends them (repeated headers comma-joined).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub request_context: RequestContext,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RequestContext {
    #[serde(default)]
    pub http: HttpContext,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct HttpContext {
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub path: String,
}

/// The result API Gateway turns into the HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpApiResult {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub is_base64_encoded: bool,
}

impl HttpApiEvent {
    /// The request the event carries.
    pub fn request(&self) -> Request {
        let path = if self.raw_path.is_empty() {
            self.request_context.http.path.clone()
        } else {
            self.raw_path.clone()
        };
        Request {
            method: self.request_context.http.method.clone(),
            path,
            query: self.raw_query_string.clone(),
            authorization: self.header("authorization"),
            origin: self.header("origin"),
        }
    }

    fn header(&self, wanted: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.clone())
    }
}

impl From<Response> for HttpApiResult {
    fn from(response: Response) -> HttpApiResult {
        HttpApiResult {
            status_code: response.status,
            headers: response.headers.into_iter().collect(),
            body: response.body,
            is_base64_encoded: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_requests_and_responses_results() {
        let event: HttpApiEvent = serde_json::from_value(serde_json::json!({
            "version": "2.0",
            "routeKey": "GET /users/{userId}/history",
            "rawPath": "/users/U001/history",
            "rawQueryString": "limit=5",
            "headers": {"authorization": "Bearer t", "host": "x", "origin": "https://d.example"},
            "requestContext": {"http": {"method": "GET", "path": "/users/U001/history"}},
            "pathParameters": {"userId": "U001"},
            "isBase64Encoded": false
        }))
        .unwrap();
        assert_eq!(
            event.request(),
            Request {
                method: "GET".into(),
                path: "/users/U001/history".into(),
                query: "limit=5".into(),
                authorization: Some("Bearer t".into()),
                origin: Some("https://d.example".into()),
            }
        );
        let result = HttpApiResult::from(Response {
            status: 404,
            headers: vec![("content-type".into(), "application/problem+json".into())],
            body: "{}".into(),
        });
        assert_eq!(
            serde_json::to_value(result).unwrap(),
            serde_json::json!({"statusCode": 404, "headers": {"content-type": "application/problem+json"}, "body": "{}", "isBase64Encoded": false})
        );
    }
}
