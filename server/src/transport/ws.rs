//! The WebSocket transport: each text message carries exactly one protocol JSON object, the
//! same frames as the native transport without the length prefix. The server pings every
//! [`PING_INTERVAL`] (by default) and drops a connection that sent nothing, not even a pong,
//! for twice that.

use std::io;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use bytes::BytesMut;
use shared::codec::FrameError;
use tokio::time::Instant;

use super::Transport;

/// How often an idle connection is pinged. Proxies and NATs commonly drop idle connections
/// after a minute or more; 25 s keeps them open and notices a vanished browser within 50 s.
pub const PING_INTERVAL: Duration = Duration::from_secs(25);

/// A WebSocket speaking the protocol.
#[derive(Debug)]
pub struct Ws {
    socket: WebSocket,
    last_heard: Instant,
    next_ping: Instant,
    ping_every: Duration,
}

impl Ws {
    /// Wraps an upgraded WebSocket, pinging it every `ping_every`.
    pub fn new(socket: WebSocket, ping_every: Duration) -> Self {
        let now = Instant::now();
        Ws { socket, last_heard: now, next_ping: now + ping_every, ping_every }
    }
}

fn io_err(e: impl std::error::Error + Send + Sync + 'static) -> FrameError {
    FrameError::Io(io::Error::other(e))
}

impl Transport for Ws {
    async fn recv(&mut self) -> Option<Result<BytesMut, FrameError>> {
        loop {
            tokio::select! {
                msg = self.socket.recv() => {
                    self.last_heard = Instant::now();
                    match msg? {
                        Err(e) => return Some(Err(io_err(e))),
                        Ok(Message::Text(t)) => return Some(Ok(BytesMut::from(t.as_str().as_bytes()))),
                        // Binary messages are read the same way: the decoder checks UTF-8.
                        Ok(Message::Binary(b)) => return Some(Ok(BytesMut::from(&b[..]))),
                        Ok(Message::Close(_)) => return None,
                        Ok(Message::Ping(_) | Message::Pong(_)) => {} // pongs are automatic
                    }
                }
                () = tokio::time::sleep_until(self.next_ping) => {
                    if self.last_heard.elapsed() > 2 * self.ping_every {
                        return None;
                    }
                    self.next_ping = Instant::now() + self.ping_every;
                    if let Err(e) = self.socket.send(Message::Ping(Default::default())).await {
                        return Some(Err(io_err(e)));
                    }
                }
            }
        }
    }

    async fn send(&mut self, json: &[u8]) -> io::Result<()> {
        // Frames are ASCII JSON (the encoder escapes everything else).
        let text = String::from_utf8(json.to_vec()).map_err(io::Error::other)?;
        self.socket.send(Message::Text(Utf8Bytes::from(text))).await.map_err(io::Error::other)
    }

    async fn close(&mut self) {
        let _ = self.socket.send(Message::Close(None)).await;
    }
}
