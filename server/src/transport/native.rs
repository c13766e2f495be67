//! The native transport: length-prefixed JSON frames on a byte stream (the plaintext debugging
//! port; TLS connections use [`super::tls`], which owns its buffers).
//!
//! Writes follow what older clients of this protocol need: each frame goes out in one write
//! (so one TLS record train, never a prefix in one record and the body in another), and the
//! session merges queued messages into one frame rather than sending many.

use std::io;

use bytes::BytesMut;
use futures_util::StreamExt;
use shared::codec::{FrameCodec, FrameError};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::FramedRead;

use super::{Transport, encode_frame};
use crate::metrics::ConnectionKind;

/// Initial read buffer of a connection. Most frames a client sends are small (a login, a
/// line of chat); the buffer grows up to the frame limit only while a large frame is being
/// read. Kept small because every idle connection holds it.
const READ_BUFFER: usize = 256;

/// A byte stream speaking the native protocol.
#[derive(Debug)]
pub struct Native<S> {
    framed: FramedRead<S, FrameCodec>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Native<S> {
    /// Frames `stream`, accepting inbound frames of up to `max_frame` bytes.
    pub fn new(stream: S, max_frame: usize) -> Self {
        Native {
            framed: FramedRead::with_capacity(stream, FrameCodec::new(max_frame), READ_BUFFER),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Transport for Native<S> {
    const KIND: ConnectionKind = ConnectionKind::Native;

    async fn recv(&mut self) -> Option<Result<BytesMut, FrameError>> {
        self.framed.next().await
    }

    async fn send(&mut self, json: &[u8]) -> io::Result<()> {
        let frame = encode_frame(self.framed.decoder_mut(), json)?;
        let stream = self.framed.get_mut();
        stream.write_all(&frame).await?;
        stream.flush().await
    }

    async fn close(&mut self) {
        let _ = self.framed.get_mut().shutdown().await;
    }

    fn partial(&self) -> bool {
        !self.framed.read_buffer().is_empty()
    }

    const COMPRESSES: bool = true;

    fn compress(&mut self) {
        self.framed.decoder_mut().compress(true);
    }
}
