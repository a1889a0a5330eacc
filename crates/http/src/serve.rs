//! The transport: accepting connections and speaking HTTP/1.1 and HTTP/2 (over TLS when
//! configured) to the poem endpoint.
//!
//! poem's own `Server` sets no timer on hyper, so hyper enforces no header read
//! timeout, and a slowloris client that trickles its headers keeps a connection (and a
//! task) forever. This loop builds hyper's connection builder itself, with a timer and
//! `header_read_timeout`, caps the number of open connections (at the cap, new
//! connections wait in the kernel's backlog), bounds the TLS handshake, and shuts down
//! gracefully: on the shutdown signal it stops accepting, lets each connection finish
//! the request it is serving (up to `grace`), then returns.

use std::{convert::Infallible, io, io::Write as _, sync::Arc, time::Duration};

use hyper::body::{Bytes, Incoming};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
};
use poem::{
    Addr, Endpoint,
    endpoint::BoxEndpoint,
    http::{HeaderValue, Uri, request::Parts, uri::Scheme},
    web::{LocalAddr, RemoteAddr},
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_rustls::{TlsAcceptor, rustls::ServerConfig};

/// Transport limits and TLS.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long a client may take to send a request's headers (and a TLS handshake).
    pub header_read_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Serve HTTPS with this configuration; plain HTTP when `None`.
    pub tls: Option<Arc<ServerConfig>>,
    /// How long requests in flight may take to finish after the shutdown signal.
    pub grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            tls: None,
            grace: Duration::from_secs(30),
        }
    }
}

fn builder(options: &ServeOptions) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .max_concurrent_streams(100);
    builder
}

/// Copies a request's URI and header values out of hyper's read buffer, into one
/// allocation of their size.
///
/// hyper hands them over as slices of the connection's read buffer (8 KiB or more).
/// While any of them is alive the buffer cannot be reused, and hyper reserves another
/// for the connection's next read. A delivery keeps its request until its batch has
/// committed, so every waiting delivery held two read buffers; with the copy it holds
/// one, which hyper reuses.
fn detach_head(parts: &mut Parts) {
    let values: usize = parts.headers.values().map(HeaderValue::len).sum();
    let mut copy = Vec::with_capacity(values + 64);
    // Writing into a `Vec` cannot fail.
    let _ = write!(copy, "{}", parts.uri);
    let uri_len = copy.len();
    for value in parts.headers.values() {
        copy.extend_from_slice(value.as_bytes());
    }
    let copy = Bytes::from(copy);
    if let Ok(uri) = Uri::from_maybe_shared(copy.slice(..uri_len)) {
        parts.uri = uri;
    }
    let mut start = uri_len;
    for value in parts.headers.values_mut() {
        let end = start + value.len();
        if let Ok(mut copied) = HeaderValue::from_maybe_shared(copy.slice(start..end)) {
            copied.set_sensitive(value.is_sensitive());
            *value = copied;
        }
        start = end;
    }
}

/// Serves `endpoint` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    endpoint: BoxEndpoint<'static>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let endpoint = Arc::new(endpoint);
    let builder = builder(&options);
    let tls = options.tls.clone().map(TlsAcceptor::from);
    let scheme = if tls.is_some() {
        Scheme::HTTPS
    } else {
        Scheme::HTTP
    };
    let connections = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = {
            let endpoint = endpoint.clone();
            let scheme = scheme.clone();
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let endpoint = endpoint.clone();
                let (mut head, body) = request.into_parts();
                detach_head(&mut head);
                let request = poem::Request::from((
                    hyper::Request::from_parts(head, body),
                    LocalAddr(Addr::SocketAddr(local)),
                    RemoteAddr(Addr::SocketAddr(remote)),
                    scheme.clone(),
                ));
                async move {
                    Ok::<_, Infallible>(hyper::Response::from(endpoint.get_response(request).await))
                }
            })
        };
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let handshake_timeout = options.header_read_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(connection).await;
                }
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let connection =
                                builder.serve_connection(TokioIo::new(stream), service);
                            let _ = watcher.watch(connection).await;
                        }
                        Ok(Err(error)) => tracing::debug!(error = %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.grace) => {
            tracing::warn!(grace_seconds = options.grace.as_secs(), "requests still in flight after the grace period were cut");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use poem::http::Request;

    use super::*;

    #[test]
    fn a_detached_head_keeps_its_values_and_lets_the_read_buffer_go() {
        // Stands for hyper's read buffer: the URI and the values are slices of it.
        let buffer = Bytes::from(
            b"/webhooks/casayes/leads?x=1secret-tokentext/plainapplication/json".to_vec(),
        );
        let slice = |range: std::ops::Range<usize>| {
            HeaderValue::from_maybe_shared(buffer.slice(range)).expect("a header value")
        };
        let mut token = slice(27..39);
        token.set_sensitive(true);
        let mut request = Request::builder()
            .uri(Uri::from_maybe_shared(buffer.slice(0..27)).expect("a URI"))
            .body(())
            .expect("a request");
        request.headers_mut().insert("token", token);
        request.headers_mut().append("accept", slice(39..49));
        request.headers_mut().append("accept", slice(49..65));
        let (mut head, ()) = request.into_parts();

        detach_head(&mut head);

        assert_eq!(head.uri, "/webhooks/casayes/leads?x=1");
        assert_eq!(head.headers["token"], "secret-token");
        assert!(head.headers["token"].is_sensitive());
        let accept: Vec<&HeaderValue> = head.headers.get_all("accept").iter().collect();
        assert_eq!(accept, ["text/plain", "application/json"]);
        assert!(
            buffer.try_into_mut().is_ok(),
            "nothing in the head still points into the buffer"
        );
    }
}
