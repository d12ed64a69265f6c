//! The API over plain HTTP/1.1 on a local address, for `cargo xtask serve-api` and the tests:
//! each request goes to [`Api::handle`], as the Lambda function's events do.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::{Api, Request};

/// Serves `api` on `listener` until the task is dropped or the process ends.
pub async fn serve(listener: TcpListener, api: Arc<Api>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let api = api.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let api = api.clone();
                async move { Ok::<_, Infallible>(answer(&api, request).await) }
            });
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %err, "a connection ended with an error");
            }
        });
    }
}

/// Binds `addr` and serves `api` there in the background; returns the bound address.
pub async fn spawn(addr: SocketAddr, api: Arc<Api>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(err) = serve(listener, api).await {
            tracing::error!(error = %err, "the server stopped");
        }
    });
    Ok(bound)
}

async fn answer(api: &Api, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let header = |name: hyper::header::HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let request = Request {
        method: request.method().as_str().to_owned(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().unwrap_or_default().to_owned(),
        authorization: header(hyper::header::AUTHORIZATION),
        origin: header(hyper::header::ORIGIN),
    };
    let response = api.handle(&request).await;
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}
