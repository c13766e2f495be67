//! Transports: how frames get on and off a connection. Everything above this module (the
//! session state machine, the hub, the store) is shared by every transport; a transport only
//! turns bytes into frame payloads and back.

use std::future::Future;
use std::io;

use bytes::BytesMut;
use shared::codec::{FrameError, PREFIX_LEN};

use crate::metrics::ConnectionKind;

pub mod native;
pub mod tls;
pub mod ws;

/// One connection's framing.
pub trait Transport: Send {
    /// How `/metrics` counts this transport's connections.
    const KIND: ConnectionKind;

    /// The next frame's JSON payload; `None` when the peer has closed the connection.
    fn recv(&mut self) -> impl Future<Output = Option<Result<BytesMut, FrameError>>> + Send;

    /// Sends one frame whose JSON is `json`, in one write; the transport adds its own framing.
    fn send(&mut self, json: &[u8]) -> impl Future<Output = io::Result<()>> + Send;

    /// Closes the connection in an orderly way.
    fn close(&mut self) -> impl Future<Output = ()> + Send;

    /// True while part of a frame has arrived and the rest has not.
    fn partial(&self) -> bool {
        false
    }
}

/// `json` behind its length prefix, in a buffer of its own: the byte-stream transports write a
/// frame with one write (older clients read one frame per read), and the buffer is dropped
/// once written, so no connection keeps one.
fn length_prefixed(json: &[u8]) -> io::Result<Vec<u8>> {
    let len = u32::try_from(json.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 4 GiB"))?;
    let mut frame = Vec::with_capacity(PREFIX_LEN + json.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(json);
    Ok(frame)
}
