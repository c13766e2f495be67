//! The WebSocket to the server's gateway: one text message per protocol frame. It reconnects
//! with backoff after a drop and logs in again under the same name (with its session token, if
//! it has one), by way of the state; after the server ended the session on purpose it waits
//! until the user joins again. With several gateways (`?ws=URL1,URL2`) it tries them in turn
//! as [`Gateways`] says.

use futures_channel::mpsc;
use futures_util::future::{Either, select};
use futures_util::{SinkExt, StreamExt};
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;
use leptos::prelude::*;
use shared::Frame;
use shared::lenient::decode_lenient;

use crate::backoff::Ended;
use crate::gateways::Gateways;
use crate::outbox::{self, Out};
use crate::state::{Model, Phase, SECOND_MS};

/// The gateways: those listed in `?ws=URL1,URL2` if given (a cluster's nodes, or another
/// server in development), else the page's own (see [`own_url`]).
pub fn gateways() -> Gateways {
    let search = window().location().search().unwrap_or_default();
    Gateways::for_page(&search, own_url)
}

/// The page's own gateway: the server's own origin when the page comes from it, or port 8443
/// of the same host when the page comes from `trunk serve`.
pub fn own_url() -> String {
    let location = window().location();
    let host = location.host().unwrap_or_default();
    if location.protocol().ok().as_deref() == Some("http:") {
        let hostname = location.hostname().unwrap_or_default();
        return format!("wss://{hostname}:8443/ws");
    }
    format!("wss://{host}/ws")
}

/// Starts the connection loop; returns where the page sends frames.
pub fn start(model: RwSignal<Model>) -> mpsc::Sender<Out> {
    let (tx, rx) = outbox::queue();
    leptos::task::spawn_local(run(model, rx));
    tx
}

async fn run(model: RwSignal<Model>, mut rx: mpsc::Receiver<Out>) {
    let mut gateways = gateways();
    loop {
        let shown = gateways.shown();
        model.update(|m| m.connecting(shown));
        let ended = match WebSocket::open(gateways.url()) {
            Ok(ws) => match connection(ws, model, &mut rx, &mut gateways).await {
                Some(ended) => ended,
                // the page is gone
                None => return,
            },
            Err(_) => Ended::Failed,
        };
        let wait_ms = gateways.after(ended);
        model.update(|m| m.closed(wait_ms));
        if model.with_untracked(Model::stopped) {
            if !until_joined(&mut rx).await {
                return;
            }
        } else {
            countdown(model, wait_ms).await;
        }
    }
}

/// Waits until the page asks to connect again (the user joins); `false` when the page is
/// gone. What else it queues meanwhile has no connection to go to.
async fn until_joined(rx: &mut mpsc::Receiver<Out>) -> bool {
    loop {
        match rx.next().await {
            Some(Out::Reconnect) => return true,
            Some(Out::Frame(_)) => {}
            None => return false,
        }
    }
}

/// Serves one open WebSocket until it ends; `None` when the page is gone.
async fn connection(
    ws: WebSocket,
    model: RwSignal<Model>,
    rx: &mut mpsc::Receiver<Out>,
    gateways: &mut Gateways,
) -> Option<Ended> {
    let (mut write, mut read) = ws.split();
    // Whether the server has said anything: only then is an end a drop of a gateway that was
    // there (the browser reports a socket that never opened just like one that closed).
    let mut answered = false;
    let failed = |answered: bool| Some(if answered { Ended::Dropped } else { Ended::Failed });
    if let Some(login) = model.try_update(Model::opened).flatten()
        && write.send(Message::Text(encode(&login))).await.is_err()
    {
        return failed(answered);
    }
    loop {
        match select(read.next(), rx.next()).await {
            Either::Left((Some(Ok(message)), _)) => {
                answered = true;
                let bytes = match &message {
                    Message::Text(text) => text.as_bytes(),
                    Message::Bytes(bytes) => bytes,
                };
                if let Some(answer) = received(model, bytes)
                    && write.send(Message::Text(encode(&answer))).await.is_err()
                {
                    return failed(answered);
                }
                if model.try_update(Model::take_retry).unwrap_or(false) {
                    // The name is still held (our old connection): a new one, after a pause.
                    let _ = write.close().await;
                    return Some(Ended::Dropped);
                }
                if model.with_untracked(|m| m.phase == Phase::Chat) {
                    gateways.logged_in();
                }
            }
            Either::Left((Some(Err(_)) | None, _)) => return failed(answered),
            Either::Right((Some(Out::Frame(frame)), _)) => {
                if write.send(Message::Text(encode(&frame))).await.is_err() {
                    return failed(answered);
                }
            }
            Either::Right((Some(Out::Reconnect), _)) => {
                let _ = write.close().await;
                return Some(Ended::Left);
            }
            Either::Right((None, _)) => return None,
        }
    }
}

/// Waits `wait_ms` before the next attempt, the status counting down each second.
async fn countdown(model: RwSignal<Model>, wait_ms: u32) {
    let mut left = wait_ms;
    while left > 0 {
        // first the part of a second, then whole seconds: the count changes on the second
        let step = match left % SECOND_MS {
            0 => SECOND_MS,
            part => part,
        };
        gloo_timers::future::TimeoutFuture::new(step).await;
        left -= step;
        model.update(|m| m.waiting(left));
    }
}

fn encode(frame: &Frame) -> String {
    String::from_utf8_lossy(&shared::encode(frame)).into_owned()
}

/// Takes in a frame from the server; returns the answer to send, if any.
fn received(model: RwSignal<Model>, bytes: &[u8]) -> Option<Frame> {
    match decode_lenient(bytes) {
        Ok(frame) => model.try_update(|m| m.received(frame)).flatten(),
        Err(e) => {
            model.update(|m| m.unreadable(&e.to_string()));
            None
        }
    }
}
