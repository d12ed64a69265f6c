//! The JWKS on HTTP: `GET /.well-known/jwks.json` answers the current key set, and
//! `GET /.well-known/openid-configuration` the discovery document that names it (what API
//! Gateway's JWT authorizer reads). The key set can be swapped while serving (a rotation), and
//! the server counts how often the key set was fetched.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The path of the key set.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The path of the discovery document.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

#[derive(Debug)]
struct Shared {
    jwks: RwLock<Value>,
    issuer: String,
    fetches: AtomicUsize,
}

/// A running JWKS server; it stops when dropped.
#[derive(Debug)]
pub struct JwksServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JwksServer {
    /// Serves `jwks` for `issuer` on `addr` (port 0 for any free port), on the current runtime.
    pub async fn start(addr: SocketAddr, issuer: &str, jwks: Value) -> std::io::Result<JwksServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            jwks: RwLock::new(jwks),
            issuer: issuer.to_owned(),
            fetches: AtomicUsize::new(0),
        });
        let task = tokio::spawn(accept(listener, shared.clone()));
        Ok(JwksServer { addr, shared, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of the key set.
    pub fn jwks_url(&self) -> String {
        format!("http://{}{JWKS_PATH}", self.addr)
    }

    /// Serves another key set from now on.
    pub fn set_jwks(&self, jwks: Value) {
        if let Ok(mut current) = self.shared.jwks.write() {
            *current = jwks;
        }
    }

    /// How many times the key set was fetched.
    pub fn fetches(&self) -> usize {
        self.shared.fetches.load(Ordering::SeqCst)
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let shared = shared.clone();
                async move {
                    Ok::<_, Infallible>(answer(&shared, request.method(), request.uri().path()))
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(shared: &Shared, method: &hyper::Method, path: &str) -> hyper::Response<Full<Bytes>> {
    let (status, body) = match (method, path) {
        (&hyper::Method::GET, JWKS_PATH) => {
            shared.fetches.fetch_add(1, Ordering::SeqCst);
            let jwks = shared.jwks.read().map(|v| v.clone()).unwrap_or(Value::Null);
            (200, jwks)
        }
        (&hyper::Method::GET, DISCOVERY_PATH) => {
            let base = shared.issuer.trim_end_matches('/');
            (
                200,
                json!({
                    "issuer": shared.issuer,
                    "jwks_uri": format!("{base}{JWKS_PATH}"),
                    "id_token_signing_alg_values_supported": ["ES256", "RS256"],
                }),
            )
        }
        _ => (404, json!({"error": "not found"})),
    };
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "max-age=300")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}
