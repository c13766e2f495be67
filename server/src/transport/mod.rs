//! Transports: how frames get on and off a connection. Everything above this module (the
//! session state machine, the hub, the store) is shared by every transport; a transport only
//! turns bytes into frame payloads and back.

use std::future::Future;
use std::io;

use bytes::BytesMut;
use shared::codec::{FrameError, PREFIX_LEN};

use crate::metrics::ConnectionKind;

pub mod deflate;
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

    /// Whether this transport can speak extension `compress` (zstd frames flagged in the
    /// length prefix): the native ones; a WebSocket compresses with permessage-deflate.
    const COMPRESSES: bool = false;

    /// From now on, compressed frames are taken in and sent (extension `compress` granted).
    fn compress(&mut self) {}
}

/// `json` behind its length prefix, in a buffer of its own: the byte-stream transports write a
/// frame with one write (older clients read one frame per read), and the buffer is dropped
/// once written, so no connection keeps one. With `compressed` (extension `compress`), a
/// frame worth compressing goes compressed.
fn length_prefixed(json: &[u8], compressed: bool) -> io::Result<Vec<u8>> {
    if json.len() >= 1 << 31 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "frame over 2 GiB"));
    }
    if compressed && let Some(packed) = shared::compress::compress(json) {
        let mut frame = Vec::with_capacity(PREFIX_LEN + packed.len());
        shared::codec::put_compressed(&packed, &mut frame);
        return Ok(frame);
    }
    let mut frame = Vec::with_capacity(PREFIX_LEN + json.len());
    shared::codec::put_frame(json, &mut frame);
    Ok(frame)
}
