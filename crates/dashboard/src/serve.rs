//! A built dashboard served on a local address over HTTP/1.1 (`cargo xtask dashboard serve`):
//! its files as they are, `config.json` as this run's [`SiteConfig`] says, and the site's
//! security headers on every answer. Only `GET` and `HEAD`, only files inside the site.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::site::{CONFIG_FILE, SiteConfig};

/// A built site and the configuration it is served with.
#[derive(Debug, Clone)]
pub struct Site {
    pub dir: PathBuf,
    pub config: SiteConfig,
}

/// The file a request path names inside the site (`/` is `index.html`), or `None` for a path
/// that is not a plain relative file path (`..`, `.`, empty segments, backslashes, escapes).
pub fn resolve(path: &str) -> Option<String> {
    let relative = path.strip_prefix('/')?;
    if relative.is_empty() {
        return Some("index.html".to_owned());
    }
    let plain = relative.split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    });
    plain.then(|| relative.to_owned())
}

/// The media type of a site file: the one Cloudflare Pages is told for it (`userlog_pages`), with
/// the charset of the text types, which the build writes in UTF-8.
pub fn content_type(name: &str) -> String {
    let media = userlog_pages::site::content_type(name);
    if media.starts_with("text/") {
        format!("{media}; charset=utf-8")
    } else {
        media.to_owned()
    }
}

/// The answer to one request: status, headers and body.
pub async fn answer(site: &Site, method: &str, path: &str) -> (u16, Vec<(String, String)>, Bytes) {
    let mut headers: Vec<(String, String)> = site
        .config
        .headers()
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect();
    if method != "GET" && method != "HEAD" {
        headers.push(("allow".to_owned(), "GET, HEAD".to_owned()));
        return (405, headers, Bytes::from_static(b"only GET and HEAD\n"));
    }
    let not_found = |mut headers: Vec<(String, String)>| {
        headers.push((
            "content-type".to_owned(),
            "text/plain; charset=utf-8".to_owned(),
        ));
        (404, headers, Bytes::from_static(b"not found\n"))
    };
    let Some(file) = resolve(path) else {
        return not_found(headers);
    };
    let body = if file == CONFIG_FILE {
        Bytes::from(site.config.to_json())
    } else {
        match tokio::fs::read(site.dir.join(&file)).await {
            Ok(bytes) => Bytes::from(bytes),
            Err(_) => return not_found(headers),
        }
    };
    headers.push(("content-type".to_owned(), content_type(&file)));
    let cache = if file.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.push(("cache-control".to_owned(), cache.to_owned()));
    let body = if method == "HEAD" { Bytes::new() } else { body };
    (200, headers, body)
}

/// Binds `addr` and serves `site` there in the background; returns the bound address.
pub async fn spawn(addr: SocketAddr, site: Arc<Site>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let site = site.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let site = site.clone();
                    async move {
                        let (status, headers, body) =
                            answer(&site, request.method().as_str(), request.uri().path()).await;
                        let mut builder = hyper::Response::builder().status(status);
                        for (name, value) in &headers {
                            builder = builder.header(name.as_str(), value.as_str());
                        }
                        Ok::<_, Infallible>(
                            builder
                                .body(Full::new(body))
                                .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new()))),
                        )
                    }
                });
                if let Err(err) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %err, "a connection ended with an error");
                }
            });
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_inside_the_site_resolve() {
        for (path, file) in [
            ("/", Some("index.html")),
            ("/index.html", Some("index.html")),
            ("/assets/index-Ab12_c.js", Some("assets/index-Ab12_c.js")),
            ("/config.json", Some("config.json")),
            ("/../etc/passwd", None),
            ("/assets/../../x", None),
            ("/./index.html", None),
            ("//etc/passwd", None),
            ("/assets/", None),
            ("/a%2e%2e/x", None),
            ("/a\\b", None),
            ("index.html", None),
        ] {
            assert_eq!(resolve(path).as_deref(), file, "{path}");
        }
        assert_eq!(
            content_type("assets/x.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("x"), "application/octet-stream");
    }
}
