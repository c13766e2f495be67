//! The web gateway: HTTPS for the embedded browser client and a WebSocket endpoint (`/ws`)
//! whose connections run through the very same session state machine and hub as native ones.
//!
//! It runs on the same connection-owned TLS as the native port ([`crate::transport::tls`]):
//! hyper serves HTTP on a [`TlsStream`]; an upgrade to a WebSocket (the handshake is done here)
//! takes the TLS connection back from hyper and runs the session on [`Ws`], so an idle browser
//! holds no more than an idle native client.
//!
//! Browsers may only connect from the page's own origin unless `--allow-origin` lists others
//! (for `trunk serve` during development). WebSocket sizes come from the protocol's limits, and
//! the page is served with a Content-Security-Policy that allows nothing but its own scripts.
//!
//! For monitoring, `/healthz` answers `200 ok` when the server is ready
//! ([`crate::readiness`]) and `503` with the reason when not, and `/metrics` reports
//! [`crate::metrics`] in the Prometheus text format. Neither is cached, and both answer even a
//! connection over its address's limit (a probe costs no more than the refusal would).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use shared::limits::MAX_CLIENT_FRAME_LEN;
use tokio::net::TcpStream;

use crate::config::GOODBYE_TIMEOUT;
use crate::listener::{Entry, handshake_within};
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::session::Context;
use crate::transport::tls::{TlsConn, TlsStream};
use crate::transport::ws::{Ws, ws_plain_limit};

mod web_files;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// Whether the real web client is embedded (rather than the page saying how to build it).
pub fn web_client_built() -> bool {
    assets::BUILT
}

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

/// The web gateway: its routes and what its WebSockets share.
#[derive(Debug)]
pub struct Gateway {
    router: Router,
    /// The WebSockets' file passes, ended here when a WebSocket closes.
    passes: Arc<web_files::Passes>,
    ctx: Arc<Context>,
    tls: Arc<rustls::ServerConfig>,
    ping: Duration,
    handshake_timeout: Duration,
}

#[derive(Clone)]
struct Web {
    /// What sessions share: file requests are answered as their WebSocket's session.
    ctx: Arc<Context>,
    /// The WebSockets' file passes.
    passes: Arc<web_files::Passes>,
    origins: Arc<Origins>,
    csp: Arc<str>,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
}

/// What the handlers know of their connection, added to each of its requests.
#[derive(Clone)]
struct Conn {
    /// Why the connection is refused (over its address's limit), if it is: the page gets
    /// this in a 429, a WebSocket in an ERROR.
    refusal: Option<Arc<str>>,
    /// Where the WebSocket handler leaves the upgrade for the connection's task, whether
    /// permessage-deflate was agreed, and the connection's id and file pass.
    upgrade: Arc<Mutex<Option<Upgrade>>>,
}

/// A WebSocket upgrade agreed, for the connection's task.
struct Upgrade {
    pending: OnUpgrade,
    deflate: bool,
    conn: crate::hub::ConnId,
    pass: Option<web_files::Pass>,
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

impl Gateway {
    /// The gateway of sessions in `ctx` over TLS with `tls`, opening WebSockets for
    /// `origins`, pinging them every `ping`, and allowing `handshake_timeout` for the TLS
    /// handshake and for each request's header.
    pub fn new(
        ctx: Arc<Context>,
        tls: Arc<rustls::ServerConfig>,
        origins: Origins,
        ping: Duration,
        handshake_timeout: Duration,
    ) -> Gateway {
        let web = Web {
            ctx: Arc::clone(&ctx),
            passes: Arc::new(web_files::Passes::default()),
            origins: Arc::new(origins),
            csp: content_security_policy().into(),
            metrics: Arc::clone(&ctx.metrics),
            readiness: Arc::clone(&ctx.readiness),
        };
        let passes = Arc::clone(&web.passes);
        let router = Router::new()
            .route("/ws", get(websocket))
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics))
            .route("/files/{tag}/upload", post(web_files::upload).delete(web_files::cancel))
            .route("/files/{tag}/{id}", get(web_files::original))
            .route("/files/{tag}/{id}/thumb", get(web_files::thumbnail))
            .route("/", get(index))
            .route("/{*path}", get(file))
            .with_state(web);
        Gateway { router, ctx, tls, ping, handshake_timeout, passes }
    }

    /// Serves one HTTPS connection (TLS handshake included) until it closes, the server
    /// stops, or it becomes a WebSocket, which then runs as a session (or, for a refused
    /// connection, gets the reason in an ERROR and a close).
    ///
    /// The TLS connection is made here, not passed in: an argument would stay in this
    /// future's state, at its full size, beside the copy the session uses.
    pub async fn serve(self: Arc<Self>, tcp: TcpStream, peer: SocketAddr, entry: Entry) {
        let plain = ws_plain_limit(MAX_CLIENT_FRAME_LEN);
        let handshake = TlsConn::accept(tcp, Arc::clone(&self.tls), plain);
        let timeout = self.handshake_timeout;
        let Some(conn) = handshake_within(handshake, timeout, &self.ctx, peer).await else {
            return;
        };
        let upgrade = Arc::new(Mutex::new(None));
        let info = Conn { refusal: entry.refusal().map(Arc::from), upgrade: Arc::clone(&upgrade) };
        let shutdown = &self.ctx.shutdown;
        {
            let service =
                TowerToHyperService::new(self.router.clone().layer(axum::Extension(info)));
            // On the heap while HTTP lasts: in place, hyper's connection (larger than the
            // session) would set the size of the task for the WebSocket's whole life.
            let mut http = Box::pin(
                hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(self.handshake_timeout)
                    .serve_connection(TokioIo::new(TlsStream::new(conn)), service)
                    .with_upgrades(),
            );
            tokio::select! {
                _ = http.as_mut() => {}
                () = shutdown.cancelled() => {
                    http.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, http).await;
                    return;
                }
            }
        }
        let pending = upgrade.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(upgrade);
        let Some(Upgrade { pending, deflate, conn, pass }) = pending else { return };
        let Ok(upgraded) = pending.await else { return };
        // The upgrade's parts end with this block: a partly moved value would stay in the
        // task's state, a whole TLS connection's size, beside the session.
        let ws = {
            let Ok(parts) = upgraded.downcast::<TokioIo<TlsStream>>() else {
                tracing::error!("an upgraded connection of an unexpected type");
                return;
            };
            let conn = parts.io.into_inner().into_inner();
            Ws::new(conn, &parts.read_buf, MAX_CLIENT_FRAME_LEN, self.ping, deflate)
        };
        let files_url = pass.as_ref().map(web_files::Pass::url);
        entry.serve_as(ws, Arc::clone(&self.ctx), peer.ip(), conn, files_url).await;
        if let Some(pass) = pass {
            self.passes.revoke(&pass.tag);
        }
    }
}

async fn index(State(web): State<Web>, axum::Extension(conn): axum::Extension<Conn>) -> Response {
    asset_response(&web, &conn, "index.html")
}

async fn file(
    State(web): State<Web>,
    axum::Extension(conn): axum::Extension<Conn>,
    Path(path): Path<String>,
) -> Response {
    asset_response(&web, &conn, &path)
}

/// Monitoring answers change from one request to the next: never cached.
const NO_STORE: (HeaderName, HeaderValue) =
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));

/// `200 ok` when the server is ready, `503` with the failing checks otherwise.
async fn healthz(State(web): State<Web>) -> Response {
    let (status, body) = match web.readiness.check() {
        Ok(()) => (StatusCode::OK, "ok".to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")),
    };
    let text = (header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    (status, [NO_STORE, text], body).into_response()
}

/// Every metric in the Prometheus text format.
async fn metrics(State(web): State<Web>) -> Response {
    let kind = (header::CONTENT_TYPE, HeaderValue::from_static(crate::metrics::CONTENT_TYPE));
    ([NO_STORE, kind], web.metrics.encode()).into_response()
}

/// A refused connection's answer: the reason, and the connection closed after it.
fn refused(why: &str) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::CONNECTION, HeaderValue::from_static("close"))],
        why.to_owned(),
    )
        .into_response()
}

fn asset_response(web: &Web, conn: &Conn, path: &str) -> Response {
    if let Some(why) = &conn.refusal {
        return refused(why);
    }
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

/// The GUID a server appends to the client's key (RFC 6455 1.3).
const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` answering the client's `Sec-WebSocket-Key`.
pub fn websocket_accept(key: &[u8]) -> String {
    let mut sha1 = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    sha1.update(key);
    sha1.update(WEBSOCKET_GUID);
    base64(sha1.finish().as_ref())
}

/// True if a header of this name lists `token` (comma-separated, any letter case).
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The WebSocket handshake (RFC 6455 4.2): checks the origin and the request, answers 101
/// and leaves the upgrade for the connection's task.
async fn websocket(
    State(web): State<Web>,
    axum::Extension(conn): axum::Extension<Conn>,
    mut req: Request,
) -> Response {
    let headers = req.headers();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !web.origins.allows(origin, host) {
        tracing::info!(?origin, ?host, "WebSocket from a foreign origin refused");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    if !has_token(headers, header::UPGRADE, "websocket")
        || !has_token(headers, header::CONNECTION, "upgrade")
    {
        return (StatusCode::BAD_REQUEST, "expected a WebSocket upgrade").into_response();
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        return (
            StatusCode::UPGRADE_REQUIRED,
            [(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"))],
            "WebSocket version 13 only",
        )
            .into_response();
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return (StatusCode::BAD_REQUEST, "no Sec-WebSocket-Key").into_response();
    };
    let Ok(accept) = HeaderValue::from_str(&websocket_accept(key.as_bytes())) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    // Compression: permessage-deflate if the client offers it (every browser does).
    let deflate = headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(crate::transport::deflate::accepts);
    let Some(pending) = req.extensions_mut().remove::<OnUpgrade>() else {
        return (StatusCode::BAD_REQUEST, "this connection cannot be upgraded").into_response();
    };
    let id = crate::hub::ConnId::next();
    let pass = web.passes.issue(id);
    let cookie = pass.as_ref().and_then(|p| HeaderValue::from_str(&p.cookie()).ok());
    *conn.upgrade.lock().unwrap_or_else(|p| p.into_inner()) =
        Some(Upgrade { pending, deflate, conn: id, pass });
    let mut response = (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::CONNECTION, HeaderValue::from_static("Upgrade")),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    if deflate {
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_static(crate::transport::deflate::RESPONSE),
        );
    }
    response
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
    fn the_websocket_accept_key_is_the_rfcs() {
        // RFC 6455 1.3's example
        assert_eq!(websocket_accept(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
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
