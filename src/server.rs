//! The HTTP server: landing page, metrics, health, readiness and reload, on hyper 1.
//!
//! The caller binds the listener and supplies the shutdown signal (as in mini-redis), so tests
//! bind `127.0.0.1:0` and stop the server themselves. On shutdown the listener closes at once,
//! requests in flight finish, and connections still open after the grace period are dropped.
//!
//! Limits, so that no client can hold the port: a TLS handshake must finish within
//! [`ServeOptions::tls_handshake_timeout`] and request headers arrive within
//! [`ServeOptions::header_read_timeout`], or the connection is closed; at most
//! [`ServeOptions::max_connections`] connections are open at once, at most
//! [`ServeOptions::max_connections_per_peer`] of them from one IP address (so a flood from one
//! host, even one that reconnects as fast as it is closed, leaves room for every other host's
//! scrapers), and one over either cap is closed as soon as it is accepted instead of waiting. Waiting would queue a scraper behind
//! every silent connection of a flood, each holding its place for a whole timeout; closing keeps
//! the kernel's queue short, so the port answers again as soon as the connections already in
//! have timed out, and the process never runs out of file descriptors.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::exposition::Body;
use crate::landing;
use crate::metrics::Metrics;
use crate::reload::Reloader;
use crate::state::SharedState;
use crate::web_config::{BasicAuth, WebConfig};
use arc_swap::ArcSwap;

/// The exposition format's content type.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The most one connection buffers: the response bytes queued for the socket, and a request's
/// head (a longer one is answered 431). hyper's default, about 400 KiB, queues up to three of a
/// plain scrape's 128 KiB chunks behind the one being sent; with 64 KiB a connection holds the
/// chunk being sent and at most one more, so eight concurrent scrapes of 10,000 clusters hold
/// about 2 MiB less at the process's peak, and the socket's own buffer keeps the link busy.
const CONNECTION_BUFFER_BYTES: usize = 64 * 1024;

/// What the request handler needs.
pub struct App {
    /// The metric registry.
    pub metrics: Metrics,
    /// The published exporter state.
    pub state: SharedState,
    /// Where the metrics are served, e.g. `/metrics`.
    pub telemetry_path: String,
    /// Reloads the config file; `None` when there is none (demo mode).
    pub reloader: Option<Arc<Reloader>>,
    /// `--web.enable-lifecycle`: `POST /-/reload` reloads; without it, 403 (SIGHUP still does).
    pub lifecycle: bool,
    /// TLS, basic auth and extra response headers; replaced whole by a reload.
    pub web: Arc<ArcSwap<WebConfig>>,
    /// `/-/healthy` and `/-/ready` answer without basic auth (`--web.probes-without-auth`).
    pub probes_without_auth: bool,
    /// The clock for the landing page.
    pub clock: Arc<dyn Clock>,
}

/// Server settings that are not part of request handling.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long requests in flight may take to finish after shutdown starts.
    pub grace: Duration,
    /// How long a client may take to send its request headers.
    pub header_read_timeout: Duration,
    /// How long a TLS handshake may take; a scraper needs milliseconds.
    pub tls_handshake_timeout: Duration,
    /// Connections open at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Connections open at once from one IP address; one more from it is closed as soon as it
    /// is accepted.
    pub max_connections_per_peer: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            grace: Duration::from_secs(4),
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 250,
            max_connections_per_peer: 64,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains in-flight requests for
/// at most `options.grace`.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let peers = Arc::new(PeerSlots::new(options.max_connections_per_peer.max(1)));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, peer)) => {
                        let Some(peer_slot) = PeerSlots::take(&peers, peer.ip()) else {
                            tracing::debug!(%peer, limit = options.max_connections_per_peer, "too many connections from this address; closing this one");
                            drop(stream);
                            continue;
                        };
                        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                            tracing::debug!(%peer, limit = options.max_connections, "too many connections; closing this one");
                            drop(stream);
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let app = Arc::clone(&app);
                        let watcher = graceful.watcher();
                        let options = options.clone();
                        tokio::spawn(async move {
                            let _permit = (permit, peer_slot);
                            // The web config of the moment: a reload applies to new connections.
                            let tls = app.web.load().tls_acceptor();
                            match tls {
                                Some(tls) => match tokio::time::timeout(options.tls_handshake_timeout, tls.accept(stream)).await {
                                    Ok(Ok(stream)) => serve_connection(stream, peer, app, &options, watcher).await,
                                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out; closing the connection"),
                                },
                                None => serve_connection(stream, peer, app, &options, watcher).await,
                            }
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.grace) => {
            tracing::warn!("requests still running after the grace period; closing them");
        }
    }
}

/// Connections open per IP address, each held by a [`PeerSlot`] until its connection ends.
#[derive(Debug)]
struct PeerSlots {
    limit: usize,
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One open connection's place in [`PeerSlots`]; dropping it frees the place.
#[derive(Debug)]
struct PeerSlot {
    slots: Arc<PeerSlots>,
    ip: std::net::IpAddr,
}

impl PeerSlots {
    fn new(limit: usize) -> PeerSlots {
        PeerSlots {
            limit,
            open: std::sync::Mutex::default(),
        }
    }

    /// A place for one more connection from `ip`, unless it has `limit` open.
    fn take(slots: &Arc<PeerSlots>, ip: std::net::IpAddr) -> Option<PeerSlot> {
        let mut open = slots
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= slots.limit {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            slots: Arc::clone(slots),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    app: Arc<App>,
    options: &ServeOptions,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(handle(&app, req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(CONNECTION_BUFFER_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Answers one request. No endpoint reads the request body, so any body type will do: the
/// server passes hyper's [`Incoming`](hyper::body::Incoming), unit tests an empty one.
pub async fn handle<B>(app: &App, req: Request<B>) -> Response<Body> {
    let web = app.web.load_full();
    let mut response = route(app, web.basic_auth(), req).await;
    for (name, value) in web.response_headers() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

async fn route<B>(app: &App, auth: Option<Arc<BasicAuth>>, req: Request<B>) -> Response<Body> {
    // Probes say only whether the process runs and has polled: kubelets send no credentials.
    let open_probe =
        app.probes_without_auth && matches!(req.uri().path(), "/-/healthy" | "/-/ready");
    if let Some(auth) = &auth
        && !open_probe
        && !auth
            .verify_async(req.headers().get(header::AUTHORIZATION))
            .await
    {
        let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(auth.challenge()),
        );
        return r;
    }

    let path = req.uri().path();
    let method = req.method().clone();
    let head = method == Method::HEAD;
    let read_only = method == Method::GET || head;

    let response = if path == app.telemetry_path {
        if !read_only {
            return not_allowed("GET, HEAD");
        }
        let mut r = if head {
            Response::new(Body::empty())
        } else if accepts_gzip(req.headers()) {
            match app.metrics.gzip().await {
                Ok(body) => {
                    let mut r = Response::new(body);
                    r.headers_mut()
                        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                    r
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot compress metrics; answering plain text");
                    Response::new(app.metrics.plain())
                }
            }
        } else {
            Response::new(app.metrics.plain())
        };
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(METRICS_CONTENT_TYPE),
        );
        r.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        r
    } else {
        match path {
            "/" => {
                if !read_only {
                    return not_allowed("GET, HEAD");
                }
                let state = app.state.load();
                match landing::render(
                    &state,
                    &app.telemetry_path,
                    app.clock.now(),
                    req.uri().query(),
                ) {
                    Ok(page) => with_type(StatusCode::OK, "text/html; charset=utf-8", page),
                    Err(e) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
                }
            }
            "/-/healthy" => {
                if !read_only {
                    return not_allowed("GET, HEAD");
                }
                text(StatusCode::OK, "Healthy\n")
            }
            "/-/ready" => {
                if !read_only {
                    return not_allowed("GET, HEAD");
                }
                if app.state.load().ready() {
                    text(StatusCode::OK, "Ready\n")
                } else {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Not ready: the first poll cycle has not finished\n",
                    )
                }
            }
            "/-/reload" => {
                if method != Method::POST && method != Method::PUT {
                    return not_allowed("POST, PUT");
                }
                if !app.lifecycle {
                    // Prometheus' answer, word for word.
                    return text(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n");
                }
                reload(app).await
            }
            _ => text(StatusCode::NOT_FOUND, "Not Found\n"),
        }
    };
    if head {
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    response
}

async fn reload(app: &App) -> Response<Body> {
    let Some(reloader) = app.reloader.clone() else {
        return text(
            StatusCode::BAD_REQUEST,
            "nothing to reload: this exporter runs without a config file\n",
        );
    };
    // The answer is the poller's verdict: 200 only once the poller has taken the config. The
    // reload runs in its own task, so a client that hangs up cannot cut it off halfway (the
    // config taken, the web config and the status not yet written).
    match tokio::spawn(async move { reloader.reload().await }).await {
        Ok(Ok(())) => text(StatusCode::OK, "config reloaded\n"),
        Ok(Err(e)) if e.poller_stopped() => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("failed to reload config:\n{e}\n"),
        ),
        Ok(Err(e)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config:\n{e}\n"),
        ),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "reload failed\n"),
    }
}

/// True when the client accepts gzip (Prometheus always does), unless it says `gzip;q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    with_type(status, "text/plain; charset=utf-8", body)
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::state::{CycleReport, ExporterState, ReloadStatus};

    fn app() -> App {
        let now = "2026-11-22T12:00:00Z".parse().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(FixedClock(now));
        let state: SharedState = Arc::new(ArcSwap::from_pointee(ExporterState::default()));
        let reload = Arc::new(ArcSwap::from_pointee(ReloadStatus {
            successful: true,
            last_success: now,
        }));
        App {
            metrics: Metrics::new(Arc::clone(&state), reload, Arc::clone(&clock)).unwrap(),
            state,
            telemetry_path: "/metrics".to_owned(),
            reloader: None,
            lifecycle: true,
            web: Arc::default(),
            probes_without_auth: false,
            clock,
        }
    }

    async fn call(app: &App, method: Method, path: &str) -> Response<Body> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap();
        handle(app, req).await
    }

    fn content_type(r: &Response<Body>) -> &str {
        r.headers()[header::CONTENT_TYPE].to_str().unwrap()
    }

    #[tokio::test]
    async fn an_unknown_path_is_404() {
        let app = app();
        for path in ["/nope", "/metrics/extra", "/-/", "/-/unknown"] {
            assert_eq!(
                call(&app, Method::GET, path).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn a_wrong_method_is_405_with_the_allowed_ones() {
        let app = app();
        for (method, path, allow) in [
            (Method::POST, "/metrics", "GET, HEAD"),
            (Method::DELETE, "/metrics", "GET, HEAD"),
            (Method::GET, "/-/reload", "POST, PUT"),
            (Method::DELETE, "/-/reload", "POST, PUT"),
        ] {
            let r = call(&app, method.clone(), path).await;
            assert_eq!(
                r.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(r.headers()[header::ALLOW], allow, "{method} {path}");
        }
    }

    #[tokio::test]
    async fn healthy_is_200() {
        let r = call(&app(), Method::GET, "/-/healthy").await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn ready_is_503_until_the_first_cycle_ends_then_200() {
        let app = app();
        let r = call(&app, Method::GET, "/-/ready").await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        app.state
            .store(Arc::new(ExporterState::default().with_cycle(
                Some(CycleReport {
                    finished_at: app.clock.now(),
                    duration: Duration::from_millis(20),
                }),
                true,
            )));
        let r = call(&app, Method::GET, "/-/ready").await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn ready_is_200_once_the_first_deadline_passed_before_any_cycle_ended() {
        let app = app();
        app.state
            .store(Arc::new(ExporterState::default().with_cycle(None, true)));
        let r = call(&app, Method::GET, "/-/ready").await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn the_landing_page_is_html_and_links_the_metrics() {
        let r = call(&app(), Method::GET, "/").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(content_type(&r), "text/html; charset=utf-8");
        let body = http_body_util::BodyExt::collect(r.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
        assert!(body.contains(r#"href="/metrics""#), "{body}");
    }

    #[tokio::test]
    async fn head_answers_like_get_without_a_body() {
        let r = call(&app(), Method::HEAD, "/metrics").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(content_type(&r), METRICS_CONTENT_TYPE);
        let body = http_body_util::BodyExt::collect(r.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn reload_without_a_config_file_is_400() {
        let r = call(&app(), Method::POST, "/-/reload").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn reload_without_the_lifecycle_flag_is_403_and_other_methods_still_405() {
        let app = App {
            lifecycle: false,
            ..app()
        };
        for method in [Method::POST, Method::PUT] {
            let r = call(&app, method.clone(), "/-/reload").await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method}");
        }
        let r = call(&app, Method::GET, "/-/reload").await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
