//! What one environment's copy of the dashboard is told: `config.json` (the environment, its API's
//! address, how to get a token), and the headers it is served with: a content security policy that
//! lets its scripts talk to that API and nothing else, no framing, no referrer. The local server
//! sends them; Cloudflare Pages reads the same from the `_headers` file written next to the site.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::DashboardError;

/// The file the app reads at start.
pub const CONFIG_FILE: &str = "config.json";
/// The file Cloudflare Pages reads its response headers from.
pub const PAGES_HEADERS_FILE: &str = "_headers";

/// `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteConfig {
    /// The environment's name.
    pub env: String,
    /// The statistics API's address, without a trailing `/`.
    pub api_url: String,
    /// How to get a token, shown on the sign-in panel.
    pub sign_in: String,
}

/// The origin (`scheme://host[:port]`) of an `http(s)://` URL, if it is one.
pub fn origin_of(url: &str) -> Option<&str> {
    let scheme_end = url
        .strip_prefix("https://")
        .map(|_| "https://".len())
        .or_else(|| url.strip_prefix("http://").map(|_| "http://".len()))?;
    let rest = &url[scheme_end..];
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_end];
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    valid.then(|| &url[..scheme_end + host_end])
}

impl SiteConfig {
    /// The configuration of `env`'s dashboard reading the API at `api_url`.
    pub fn new(env: &str, api_url: &str, sign_in: &str) -> Result<SiteConfig, String> {
        let api_url = api_url.trim().trim_end_matches('/');
        if origin_of(api_url).is_none() {
            return Err(format!(
                "the API address `{api_url}` is not an http:// or https:// URL"
            ));
        }
        Ok(SiteConfig {
            env: env.to_owned(),
            api_url: api_url.to_owned(),
            sign_in: sign_in.to_owned(),
        })
    }

    /// The API's origin: the one place the app's scripts may connect to.
    pub fn api_origin(&self) -> &str {
        origin_of(&self.api_url).unwrap_or(&self.api_url)
    }

    /// `config.json`'s text.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_owned());
        text.push('\n');
        text
    }

    /// The headers every answer of the site carries.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "content-security-policy",
                format!(
                    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' {}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                    self.api_origin()
                ),
            ),
            ("x-content-type-options", "nosniff".to_owned()),
            ("referrer-policy", "no-referrer".to_owned()),
            ("x-frame-options", "DENY".to_owned()),
        ]
    }

    /// The `_headers` file of Cloudflare Pages: the same headers on every path, and
    /// `config.json` and the page itself revalidated on every load (the hashed assets may be kept).
    pub fn pages_headers(&self) -> String {
        let mut text = String::from("/*\n");
        for (name, value) in self.headers() {
            text.push_str(&format!("  {name}: {value}\n"));
        }
        for path in ["/", "/index.html", "/config.json"] {
            text.push_str(&format!("{path}\n  cache-control: no-cache\n"));
        }
        text
    }

    /// Writes `config.json` and `_headers` into a built site.
    pub fn write_into(&self, dir: &Path) -> Result<(), DashboardError> {
        for (name, text) in [
            (CONFIG_FILE, self.to_json()),
            (PAGES_HEADERS_FILE, self.pages_headers()),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(DashboardError::io("write", &path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port() {
        for (url, origin) in [
            ("http://127.0.0.1:8080", Some("http://127.0.0.1:8080")),
            (
                "https://abc.execute-api.ap-northeast-1.amazonaws.com/",
                Some("https://abc.execute-api.ap-northeast-1.amazonaws.com"),
            ),
            (
                "https://api.example.com/v1?x",
                Some("https://api.example.com"),
            ),
            ("ftp://x", None),
            ("https://", None),
            ("https://a b", None),
            ("javascript:alert(1)", None),
        ] {
            assert_eq!(origin_of(url), origin, "{url}");
        }
    }

    #[test]
    fn the_config_and_headers_name_the_api_and_nothing_else() {
        let config = SiteConfig::new(
            "local",
            "http://127.0.0.1:8080/",
            "Run `cargo xtask token`.",
        )
        .unwrap();
        expect![[r#"
            {
              "env": "local",
              "apiUrl": "http://127.0.0.1:8080",
              "signIn": "Run `cargo xtask token`."
            }
        "#]]
        .assert_eq(&config.to_json());
        expect![[r#"
            /*
              content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' http://127.0.0.1:8080; base-uri 'none'; form-action 'none'; frame-ancestors 'none'
              x-content-type-options: nosniff
              referrer-policy: no-referrer
              x-frame-options: DENY
            /
              cache-control: no-cache
            /index.html
              cache-control: no-cache
            /config.json
              cache-control: no-cache
        "#]]
        .assert_eq(&config.pages_headers());
        assert_eq!(
            SiteConfig::new("local", "file:///etc/passwd", "").unwrap_err(),
            "the API address `file:///etc/passwd` is not an http:// or https:// URL"
        );
    }
}
