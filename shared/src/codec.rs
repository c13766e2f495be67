//! Length-prefixed framing for tokio transports: a 4-byte unsigned big-endian length, then that
//! many bytes of JSON.
//!
//! [`FrameCodec`] yields raw payloads (the server and the clients decode JSON themselves, each
//! with its own decoder); `JsonCodec` (feature `json-codec`, for tests and benchmarks) yields
//! decoded [`Frame`](crate::Frame)s and encodes them. Both refuse a length above their limit as
//! soon as the 4 header bytes are in, before anything is allocated for the body.

use bytes::{BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

#[cfg(feature = "json-codec")]
use crate::frame::Frame;
#[cfg(feature = "json-codec")]
use crate::json::{self, DecodeError};

/// Bytes of the length prefix.
pub const PREFIX_LEN: usize = 4;

/// Why a stream of frames cannot go on. After any of these the stream is out of sync (or gone)
/// and the connection must close.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces more than the receiver accepts.
    #[error("A frame of {len} bytes is over the limit of {max} bytes.")]
    TooLong {
        /// The announced length.
        len: u64,
        /// The receiver's limit.
        max: usize,
    },
    /// The transport failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
}

/// The payload length a frame's prefix announces, refused if over `max`: checked before any
/// room is made for the payload (every reader of frames goes through here).
pub fn payload_len(prefix: [u8; PREFIX_LEN], max: usize) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix);
    match usize::try_from(len) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(FrameError::TooLong { len: u64::from(len), max }),
    }
}

/// Splits a byte stream into frame payloads of at most `max` bytes.
#[derive(Debug)]
pub struct FrameCodec {
    inner: LengthDelimitedCodec,
    max: usize,
    /// The inner codec has consumed a header and waits for the body: the bytes at the front
    /// of the buffer are payload, not a prefix.
    in_body: bool,
}

impl FrameCodec {
    /// A codec accepting payloads of up to `max` bytes.
    pub fn new(max: usize) -> Self {
        let inner = LengthDelimitedCodec::builder()
            .length_field_type::<u32>()
            .big_endian()
            .max_frame_length(max)
            .new_codec();
        FrameCodec { inner, max, in_body: false }
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        let has_head = src.len() >= PREFIX_LEN;
        if !self.in_body
            && let Some(prefix) = src.first_chunk::<PREFIX_LEN>()
        {
            payload_len(*prefix, self.max)?;
        }
        let out = self.inner.decode(src)?;
        // Without a whole frame, the inner codec keeps a header it has seen and waits for
        // the body.
        self.in_body = out.is_none() && (self.in_body || has_head);
        Ok(out)
    }
}

impl Encoder<&[u8]> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, payload: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        put_frame(payload, dst);
        Ok(())
    }
}

/// Appends one frame (prefix and payload) to `dst`.
pub fn put_frame(payload: &[u8], dst: &mut impl BufMut) {
    // Payloads are limited far below 4 GiB by every limit in this crate.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    dst.put_u32(len);
    dst.put_slice(payload);
}

/// Frames as [`Frame`] values, for tests and benchmarks that play a client (feature
/// `json-codec`). A payload that is not a protocol object is yielded as `Err(DecodeError)`,
/// since the stream itself is still in sync.
#[cfg(feature = "json-codec")]
#[derive(Debug)]
pub struct JsonCodec {
    frames: FrameCodec,
}

#[cfg(feature = "json-codec")]
impl JsonCodec {
    /// A codec accepting frames of up to `max` bytes.
    pub fn new(max: usize) -> Self {
        JsonCodec { frames: FrameCodec::new(max) }
    }
}

#[cfg(feature = "json-codec")]
impl Decoder for JsonCodec {
    type Item = Result<Frame, DecodeError>;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, FrameError> {
        Ok(self.frames.decode(src)?.map(|payload| json::decode(&payload)))
    }
}

#[cfg(feature = "json-codec")]
impl Encoder<&Frame> for JsonCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let payload = json::encode(frame);
        put_frame(&payload, dst);
        Ok(())
    }
}
