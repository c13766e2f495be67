//! The web gateway: HTTPS for the embedded browser client and a WebSocket endpoint (`/ws`)
//! whose connections run through the very same session state machine and hub as native ones.
//!
//! Browsers may only connect from the page's own origin unless `--allow-origin` lists others
//! (for `trunk serve` during development). WebSocket sizes come from the protocol's limits, and
//! the page is served with a Content-Security-Policy that allows nothing but its own scripts.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use shared::limits::{MAX_CLIENT_FRAME_LEN, MAX_SERVER_FRAME_LEN};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::session::{self, Context};
use crate::transport::ws::Ws;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// Whether the real web client is embedded (rather than the page saying how to build it).
pub fn web_client_built() -> bool {
    assets::BUILT
}

/// Bytes a WebSocket may buffer for writing before a write waits. One largest server frame
/// fits; beyond that the session's own outbox (bounded) holds what waits, so nothing here can
/// grow without limit (tungstenite's default is unbounded).
pub const WS_MAX_WRITE_BUFFER: usize = MAX_SERVER_FRAME_LEN + 64 * 1024;

/// Bytes written at once; small, so an idle connection keeps little memory.
pub const WS_WRITE_BUFFER: usize = 16 * 1024;

/// Who may open the WebSocket.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// Origins allowed besides the page's own (`https://host[:port]` as the browser sends it).
    pub extra: Vec<String>,
}

impl Origins {
    /// True if a browser at `origin` may connect to a server reached as `host`. Clients that
    /// send no Origin (not browsers) are not subject to it.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        if self.extra.iter().any(|o| o == origin || o == "*") {
            return true;
        }
        host.is_some_and(|h| origin.strip_prefix("https://") == Some(h))
    }
}

#[derive(Clone)]
struct Web {
    ctx: Arc<Context>,
    origins: Arc<Origins>,
    csp: Arc<str>,
    ping: Duration,
}

/// The Content-Security-Policy of the page: only its own scripts (Trunk's inline loader by
/// hash), WebAssembly, its own styles, and WebSocket connections to itself.
fn content_security_policy() -> String {
    let index = asset("index.html").unwrap_or_default();
    let html = String::from_utf8_lossy(index);
    let mut hashes = String::new();
    let mut rest = &html[..];
    while let Some(open) = rest.find("<script") {
        rest = &rest[open..];
        let Some(tag_end) = rest.find('>') else { break };
        let tag = &rest[..tag_end];
        let body_start = tag_end + 1;
        let Some(close) = rest[body_start..].find("</script>") else { break };
        let body = &rest[body_start..body_start + close];
        if !tag.contains("src=") && !body.trim().is_empty() {
            let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
            hashes.push_str(&format!(" 'sha256-{}'", base64(digest.as_ref())));
        }
        rest = &rest[body_start + close..];
    }
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

/// Standard base64 (with padding), for CSP hashes and certificate pins.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn asset(path: &str) -> Option<&'static [u8]> {
    assets::ASSETS.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/json",
        _ => "application/octet-stream",
    }
}

/// The gateway's routes.
pub fn router(ctx: Arc<Context>, origins: Origins, ping: Duration) -> Router {
    let web = Web { ctx, origins: Arc::new(origins), csp: content_security_policy().into(), ping };
    Router::new()
        .route("/ws", get(websocket))
        .route("/", get(index))
        .route("/{*path}", get(file))
        .with_state(web)
}

async fn index(State(web): State<Web>) -> Response {
    serve(&web, "index.html")
}

async fn file(State(web): State<Web>, Path(path): Path<String>) -> Response {
    serve(&web, &path)
}

fn serve(web: &Web, path: &str) -> Response {
    let Some(body) = asset(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    // Trunk names files by content hash, so everything but the page may be cached for good.
    let cache =
        if path == "index.html" { "no-cache" } else { "public, max-age=31536000, immutable" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if path.ends_with(".html")
        && let Ok(v) = HeaderValue::from_str(&web.csp)
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    (headers, body).into_response()
}

/// The client's address, added to each request of its connection.
#[derive(Debug, Clone, Copy)]
struct PeerIp(std::net::IpAddr);

async fn websocket(
    State(web): State<Web>,
    axum::Extension(PeerIp(ip)): axum::Extension<PeerIp>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !web.origins.allows(origin, host) {
        tracing::info!(?origin, ?host, "WebSocket from a foreign origin refused");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let ctx = Arc::clone(&web.ctx);
    let ping = web.ping;
    ws.max_message_size(MAX_CLIENT_FRAME_LEN)
        .max_frame_size(MAX_CLIENT_FRAME_LEN)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(WS_WRITE_BUFFER)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| session::serve(Ws::new(socket, ping), ctx, ip))
}

/// Accepts HTTPS connections until shutdown, sharing the connection limit with the native
/// listener.
pub async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    ctx: Arc<Context>,
    limit: Arc<Semaphore>,
    tracker: TaskTracker,
    handshake_timeout: Duration,
) {
    while let Some((tcp, peer, admission)) =
        crate::listener::next_admitted(&listener, &ctx, &limit).await
    {
        let acceptor = acceptor.clone();
        let router = router.clone().layer(axum::Extension(PeerIp(peer.ip())));
        let shutdown = ctx.shutdown.clone();
        tracker.spawn(async move {
            let _admission = admission;
            let tls = tokio::select! {
                () = shutdown.cancelled() => return,
                r = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)) => match r {
                    Ok(Ok(tls)) => tls,
                    _ => return,
                },
            };
            let service = TowerToHyperService::new(router);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(handshake_timeout)
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_millis(500), conn).await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn only_the_own_origin_and_listed_ones_are_allowed() {
        let o = Origins::default();
        assert!(o.allows(Some("https://chat.example:8443"), Some("chat.example:8443")));
        assert!(!o.allows(Some("https://evil.example"), Some("chat.example:8443")));
        assert!(!o.allows(Some("http://chat.example:8443"), Some("chat.example:8443")));
        assert!(o.allows(None, Some("chat.example:8443")), "non-browser clients send no Origin");
        let dev = Origins { extra: vec!["http://localhost:8080".into()] };
        assert!(dev.allows(Some("http://localhost:8080"), Some("localhost:8443")));
    }
}
