//! The web gateway from a test: HTTPS requests and WebSocket sessions over verified TLS.

use std::net::SocketAddr;
use std::path::Path;

use futures_util::{SinkExt, StreamExt};
use shared::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::{PATIENCE, tls};

/// A WebSocket session with the gateway.
pub type WsStream = WebSocketStream<TlsStream<TcpStream>>;

/// The whole answer (head and body) to `GET path` on the gateway at `web`, as text; what
/// arrived within [`PATIENCE`] if the server does not close the connection.
pub async fn https_get(web: SocketAddr, ca: &Path, path: &str) -> String {
    let mut tls = tls::tls_connect(web, ca).await;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        web.port()
    );
    tls.write_all(req.as_bytes()).await.expect("request");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, tls.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Opens `wss://localhost:PORT/ws` on the gateway at `web`, with an `Origin` header if given;
/// the error's text if the upgrade is refused.
pub async fn ws_connect(
    web: SocketAddr,
    ca: &Path,
    origin: Option<&str>,
) -> Result<WsStream, String> {
    let tls = tls::tls_connect(web, ca).await;
    let mut req =
        format!("wss://localhost:{}/ws", web.port()).into_client_request().expect("request");
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().expect("header"));
    }
    tokio_tungstenite::client_async(req, tls).await.map(|(ws, _)| ws).map_err(|e| e.to_string())
}

/// Sends `frame` as one text message.
pub async fn ws_send(ws: &mut WsStream, frame: &Frame) {
    let text = String::from_utf8(shared::encode(frame)).expect("ascii");
    ws.send(WsMessage::text(text)).await.expect("send");
}

/// The next protocol frame (skipping pings and other control messages); panics unless one
/// arrives within [`PATIENCE`].
pub async fn ws_recv(ws: &mut WsStream) -> Frame {
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("ok");
        if let WsMessage::Text(t) = msg {
            return shared::decode(t.as_bytes()).expect("one protocol object per message");
        }
    }
}

/// Skips frames until one matches.
pub async fn ws_recv_where(ws: &mut WsStream, pred: impl Fn(&Frame) -> bool) -> Frame {
    loop {
        let f = ws_recv(ws).await;
        if pred(&f) {
            return f;
        }
    }
}

/// Reads until the server closes the session (a Close message, an error or the end); whether
/// it did within [`PATIENCE`].
pub async fn ws_closed(ws: &mut WsStream) -> bool {
    let closed = async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, closed).await.is_ok()
}

/// [`ws_connect`] (same origin), and the `Set-Cookie` of the upgrade's answer, if any.
pub async fn ws_connect_with_cookie(web: SocketAddr, ca: &Path) -> (WsStream, Option<String>) {
    let tls = tls::tls_connect(web, ca).await;
    let mut req =
        format!("wss://localhost:{}/ws", web.port()).into_client_request().expect("request");
    let origin = format!("https://localhost:{}", web.port());
    req.headers_mut().insert("origin", origin.parse().expect("header"));
    let (ws, answer) = tokio_tungstenite::client_async(req, tls).await.expect("upgrade");
    let cookie =
        answer.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (ws, cookie)
}

/// An HTTP answer: status, head (lower-cased header lines) and body.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::trim)
    }
}

/// `method path` on the gateway at `web` with the extra header lines `headers` and `body`;
/// the answer (read until the server closes the connection, within [`PATIENCE`]).
pub async fn https_request(
    web: SocketAddr,
    ca: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpAnswer {
    let mut tls = tls::tls_connect(web, ca).await;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
        web.port(),
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    tls.write_all(req.as_bytes()).await.expect("request");
    tls.write_all(body).await.expect("body");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, tls.read_to_end(&mut out)).await;
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").expect("a head");
    let head = String::from_utf8_lossy(&out[..split]).to_ascii_lowercase();
    let mut body = out[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    HttpAnswer { status, head, body }
}

/// A chunked body's bytes.
fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else { return out };
        let size = std::str::from_utf8(&raw[..eol]).ok();
        let size = size.and_then(|s| usize::from_str_radix(s.trim(), 16).ok()).unwrap_or(0);
        if size == 0 || raw.len() < eol + 2 + size {
            return out;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[(eol + 4 + size).min(raw.len())..];
    }
}
