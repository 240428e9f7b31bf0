//! Accepting connections for the API, with the limits axum's `serve` does not set: a deadline
//! for each request's headers (a client that trickles them is cut off), and a cap on open
//! connections. At the cap the oldest connection with no request in progress is closed to make
//! room (slow, silent or idle kept-alive clients give way to ones that talk; a request is in
//! progress until its response body, a stream included, has been sent or dropped); when every
//! connection is busy with a request, the newcomer gets 503 with Retry-After. Graceful
//! shutdown: stop accepting, let each connection finish its request, then return.
//! Must not: touch engines or parse requests itself (hyper does; the router answers).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

/// Connection limits (`serve --max-connections`, `--header-timeout`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

/// One open connection, as the accept loop sees it.
struct Open {
    /// Requests in progress: from the whole request head until the response body is done.
    busy: Arc<AtomicUsize>,
    /// Closes the connection when notified.
    close: Arc<Notify>,
}

/// One request in progress on a connection; counted down when dropped.
struct InProgress(Arc<AtomicUsize>);

impl InProgress {
    fn start(busy: &Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::Relaxed);
        InProgress(busy.clone())
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a connection over the cap gets when every open one is busy with a request.
fn busy_response() -> Vec<u8> {
    let body = r#"{"error": {"message": "too many open connections; retry later", "type": "overloaded_error"}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `app` on `listener` until `shutdown` completes and every connection has finished.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let open: Arc<Mutex<BTreeMap<u64, Open>>> = Arc::default();
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait for connections to close.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        {
            let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
            if open.len() >= limits.max_connections.max(1) {
                let quiet = open
                    .iter()
                    .find(|(_, c)| c.busy.load(Ordering::Relaxed) == 0)
                    .map(|(id, _)| *id);
                match quiet.and_then(|id| open.remove(&id)) {
                    Some(oldest) => oldest.close.notify_one(),
                    None => {
                        // Answer, then read what the client sent (briefly) before closing, so
                        // its kernel does not discard the answer on a reset.
                        tokio::spawn(async move {
                            use tokio::io::{AsyncReadExt, AsyncWriteExt};
                            let mut stream = stream;
                            if stream.write_all(&busy_response()).await.is_ok() {
                                let _ = stream.shutdown().await;
                                let mut sink = [0u8; 4096];
                                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                                    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                                })
                                .await;
                            }
                        });
                        continue;
                    }
                }
            }
        }
        let id = next_id;
        next_id += 1;
        let busy = Arc::new(AtomicUsize::new(0));
        let close = Arc::new(Notify::new());
        open.lock().unwrap_or_else(|p| p.into_inner()).insert(
            id,
            Open {
                busy: busy.clone(),
                close: close.clone(),
            },
        );
        let inner = TowerToHyperService::new(app.clone());
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let guard = InProgress::start(&busy);
            let response = inner.call(request);
            async move {
                // The guard goes with the body, so a streamed answer counts until it ends.
                let response = response.await?;
                Ok::<_, std::convert::Infallible>(response.map(move |body| {
                    use http_body_util::BodyExt;
                    axum::body::Body::new(body.map_frame(move |frame| {
                        let _in_progress = &guard;
                        frame
                    }))
                }))
            }
        });
        let mut stopped = stopped.clone();
        let registry = open.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), service));
            let mut stopping = *stopped.borrow();
            if stopping {
                connection.as_mut().graceful_shutdown();
            }
            loop {
                tokio::select! {
                    _ = connection.as_mut() => break,
                    () = close.notified() => break,
                    changed = stopped.changed(), if !stopping => {
                        if changed.is_err() || *stopped.borrow() {
                            stopping = true;
                            connection.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            registry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        });
    }
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}
