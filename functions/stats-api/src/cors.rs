//! Cross-origin requests: the API answers the browsers of the operator dashboard's origins only
//! (the environment's `dashboard.origins`, in `CORS_ALLOWED_ORIGINS`). On AWS the HTTP API's own
//! CORS configuration answers preflights with the same origins; locally `serve-api` runs this.

use crate::{Request, Response};

/// How long a browser may keep a preflight's answer.
pub const MAX_AGE_SECONDS: u32 = 600;

/// The origins the API answers cross-origin requests of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    /// Answers the browsers of exactly these origins (`scheme://host[:port]`, no path); none
    /// for an empty list.
    pub fn new(origins: impl IntoIterator<Item = String>) -> Cors {
        Cors {
            origins: origins
                .into_iter()
                .map(|origin| origin.trim().trim_end_matches('/').to_owned())
                .filter(|origin| !origin.is_empty())
                .collect(),
        }
    }

    /// The origins, as configured.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// Whether a request's `Origin` is one of the dashboard's.
    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|allowed| allowed == origin)
    }

    /// Whether a request is a preflight: `OPTIONS` with an `Origin`.
    pub fn is_preflight(request: &Request) -> bool {
        request.method.eq_ignore_ascii_case("OPTIONS") && request.origin.is_some()
    }

    /// The answer to a preflight of a known route, before [`Cors::decorate`] (which every answer
    /// goes through) adds the origin: the methods and headers the dashboard uses, for an allowed
    /// origin; none at all (the browser then refuses) for another.
    pub fn preflight(&self, request: &Request) -> Response {
        let response = Response {
            status: 204,
            headers: Vec::new(),
            body: String::new(),
        };
        if !request.origin.as_deref().is_some_and(|o| self.allows(o)) {
            return response;
        }
        response
            .with_header("access-control-allow-methods", "GET, OPTIONS".to_owned())
            .with_header("access-control-allow-headers", "authorization".to_owned())
            .with_header("access-control-max-age", MAX_AGE_SECONDS.to_string())
    }

    /// `response` with the headers that let an allowed origin's script read it; every answer
    /// varies by `Origin`, so a cache never hands one origin's answer to another.
    pub fn decorate(&self, request: &Request, response: Response) -> Response {
        let response = response.with_header("vary", "origin".to_owned());
        match request.origin.as_deref() {
            Some(origin) if self.allows(origin) => response
                .with_header("access-control-allow-origin", origin.to_owned())
                .with_header(
                    "access-control-expose-headers",
                    "www-authenticate, retry-after".to_owned(),
                ),
            _ => response,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cors: &Cors, method: &str, origin: Option<&str>, expected: &[(&str, &str)]) {
        let request = Request {
            method: method.to_owned(),
            path: "/imports".to_owned(),
            origin: origin.map(str::to_owned),
            ..Request::default()
        };
        let response = if Cors::is_preflight(&request) {
            cors.preflight(&request)
        } else {
            Response {
                status: 200,
                headers: Vec::new(),
                body: String::new(),
            }
        };
        let response = cors.decorate(&request, response);
        let got: Vec<(&str, &str)> = response
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, expected, "{method} from {origin:?}");
    }

    #[test]
    fn only_the_dashboards_origins_are_answered() {
        let cors = Cors::new([
            "http://127.0.0.1:8082/".to_owned(),
            " ".to_owned(),
            "https://userlog-dashboard.pages.dev".to_owned(),
        ]);
        assert_eq!(
            cors.origins(),
            [
                "http://127.0.0.1:8082",
                "https://userlog-dashboard.pages.dev"
            ]
        );
        check(
            &cors,
            "GET",
            Some("http://127.0.0.1:8082"),
            &[
                ("vary", "origin"),
                ("access-control-allow-origin", "http://127.0.0.1:8082"),
                (
                    "access-control-expose-headers",
                    "www-authenticate, retry-after",
                ),
            ],
        );
        check(
            &cors,
            "GET",
            Some("https://evil.example"),
            &[("vary", "origin")],
        );
        check(&cors, "GET", None, &[("vary", "origin")]);
        check(
            &cors,
            "OPTIONS",
            Some("https://userlog-dashboard.pages.dev"),
            &[
                ("access-control-allow-methods", "GET, OPTIONS"),
                ("access-control-allow-headers", "authorization"),
                ("access-control-max-age", "600"),
                ("vary", "origin"),
                (
                    "access-control-allow-origin",
                    "https://userlog-dashboard.pages.dev",
                ),
                (
                    "access-control-expose-headers",
                    "www-authenticate, retry-after",
                ),
            ],
        );
        check(
            &cors,
            "OPTIONS",
            Some("https://pr-1.userlog-dashboard.pages.dev"),
            &[("vary", "origin")],
        );
        // A suffix or a prefix of an allowed origin is another origin.
        check(
            &cors,
            "GET",
            Some("http://127.0.0.1:80820"),
            &[("vary", "origin")],
        );
        check(
            &Cors::default(),
            "GET",
            Some("http://127.0.0.1:8082"),
            &[("vary", "origin")],
        );
    }
}
