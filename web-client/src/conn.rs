//! The WebSocket to the server's gateway: one text message per protocol frame. It reconnects
//! with backoff after a drop and logs in again under the same name, by way of the state.

use futures_channel::mpsc;
use futures_util::future::{Either, select};
use futures_util::{SinkExt, StreamExt};
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;
use leptos::prelude::*;
use shared::Frame;
use shared::lenient::decode_lenient;

use crate::state::{Model, Phase};

/// Frames the page may queue for sending; the composer reports an error beyond that.
pub const OUTGOING: usize = 64;
/// First pause before reconnecting, in milliseconds; doubles up to [`MAX_BACKOFF_MS`].
pub const FIRST_BACKOFF_MS: u32 = 500;
/// Longest pause between attempts, in milliseconds.
pub const MAX_BACKOFF_MS: u32 = 30_000;

/// What the page sends to the connection.
#[derive(Debug)]
pub enum Out {
    /// A frame for the server.
    Frame(Box<Frame>),
    /// Close this connection (the user left); the next one opens at once.
    Reconnect,
}

/// The gateway's address: `?ws=URL` if given (development), the server's own origin when the
/// page comes from it, or port 8443 of the same host when the page comes from `trunk serve`.
pub fn url() -> String {
    let location = window().location();
    if let Ok(search) = location.search()
        && let Some(v) = search.strip_prefix("?ws=")
        && let Some(decoded) = js_sys::decode_uri_component(v).ok().and_then(|s| s.as_string())
    {
        return decoded;
    }
    let host = location.host().unwrap_or_default();
    if location.protocol().ok().as_deref() == Some("http:") {
        let hostname = location.hostname().unwrap_or_default();
        return format!("wss://{hostname}:8443/ws");
    }
    format!("wss://{host}/ws")
}

/// Starts the connection loop; returns where the page sends frames.
pub fn start(model: RwSignal<Model>) -> mpsc::Sender<Out> {
    let (tx, rx) = mpsc::channel(OUTGOING);
    leptos::task::spawn_local(run(model, rx));
    tx
}

async fn run(model: RwSignal<Model>, mut rx: mpsc::Receiver<Out>) {
    let url = url();
    let mut backoff = FIRST_BACKOFF_MS;
    loop {
        model.update(|m| m.link = crate::state::Link::Connecting);
        if let Ok(ws) = WebSocket::open(&url) {
            let (mut write, mut read) = ws.split();
            if let Some(login) = model.try_update(Model::opened).flatten()
                && write.send(Message::Text(encode(&login))).await.is_err()
            {
                continue;
            }
            loop {
                match select(read.next(), rx.next()).await {
                    Either::Left((Some(Ok(Message::Text(text))), _)) => {
                        received(model, text.as_bytes());
                        if model.with_untracked(|m| m.phase == Phase::Chat) {
                            backoff = FIRST_BACKOFF_MS;
                        }
                    }
                    Either::Left((Some(Ok(Message::Bytes(bytes))), _)) => received(model, &bytes),
                    Either::Left((Some(Err(_)) | None, _)) => break,
                    Either::Right((Some(Out::Frame(frame)), _)) => {
                        if write.send(Message::Text(encode(&frame))).await.is_err() {
                            break;
                        }
                    }
                    Either::Right((Some(Out::Reconnect), _)) => {
                        let _ = write.close().await;
                        backoff = 0;
                        break;
                    }
                    Either::Right((None, _)) => return,
                }
            }
        }
        model.update(|m| m.closed(f64::from(backoff) / 1000.0));
        gloo_timers::future::TimeoutFuture::new(backoff).await;
        backoff = (backoff * 2).clamp(FIRST_BACKOFF_MS, MAX_BACKOFF_MS);
    }
}

fn encode(frame: &Frame) -> String {
    String::from_utf8_lossy(&shared::encode(frame)).into_owned()
}

fn received(model: RwSignal<Model>, bytes: &[u8]) {
    match decode_lenient(bytes) {
        Ok(frame) => model.update(|m| m.received(frame)),
        Err(e) => model.update(|m| m.unreadable(&e.to_string())),
    }
}
