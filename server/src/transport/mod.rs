//! Transports: how frames get on and off a connection. Everything above this module (the
//! session state machine, the hub, the store) is shared by every transport; a transport only
//! turns bytes into frame payloads and back.

use std::future::Future;
use std::io;

use bytes::BytesMut;
use shared::codec::{FrameCodec, FrameError, PREFIX_LEN};
use tokio_util::codec::Encoder;

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

/// `json` as one frame from `codec` (compressed if it negotiated `compress` and that is worth
/// it), in a buffer of its own: the byte-stream transports write a frame with one write
/// (older clients read one frame per read), and the buffer is dropped once written, so no
/// connection keeps one.
fn encode_frame(codec: &mut FrameCodec, json: &[u8]) -> io::Result<BytesMut> {
    let mut frame = BytesMut::with_capacity(PREFIX_LEN + json.len());
    codec.encode(json, &mut frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Ok(frame)
}
