//! The local server over real HTTP: the site's files with their types and headers, this run's
//! `config.json`, nothing outside the site, only GET and HEAD.

use std::sync::Arc;

use userlog_dashboard::SiteConfig;
use userlog_dashboard::serve::{Site, spawn};

/// The status line's code of a GET of `path` sent byte for byte.
async fn raw_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn the_server_answers_the_sites_files_with_its_headers() {
    let dir = std::env::temp_dir().join(format!("userlog-dashboard-serve-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    std::fs::write(dir.join("assets/app-1.js"), "console.log(1)").unwrap();
    std::fs::write(dir.join("config.json"), "{\"stale\": true}").unwrap();
    let config =
        SiteConfig::new("local", "http://127.0.0.1:8080", "Run `cargo xtask token`.").unwrap();
    let site = Arc::new(Site {
        dir: dir.clone(),
        config: config.clone(),
    });
    let addr = spawn(([127, 0, 0, 1], 0).into(), site).await.unwrap();
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://{addr}{path}")).send();

    let index = get("/").await.unwrap();
    assert_eq!(index.status(), 200);
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(
        header(&index, "content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(
        header(&index, "content-security-policy")
            .unwrap()
            .contains("connect-src 'self' http://127.0.0.1:8080;")
    );
    assert_eq!(header(&index, "cache-control").as_deref(), Some("no-cache"));

    let script = get("/assets/app-1.js").await.unwrap();
    assert_eq!(
        header(&script, "content-type").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    assert!(
        header(&script, "cache-control")
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(script.text().await.unwrap(), "console.log(1)");

    // config.json is this run's, not the file in the directory.
    let served: SiteConfig = get("/config.json").await.unwrap().json().await.unwrap();
    assert_eq!(served, config);

    assert_eq!(get("/missing.js").await.unwrap().status(), 404);
    // Paths that climb out of the site, sent as they are (an HTTP client would resolve them).
    for path in [
        "/assets/../index.html",
        "/assets/%2e%2e/index.html",
        "/../../etc/passwd",
    ] {
        assert_eq!(raw_status(addr, path).await, 404, "{path}");
    }
    let post = client.post(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    std::fs::remove_dir_all(&dir).unwrap();
}
