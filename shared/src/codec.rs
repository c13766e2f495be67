//! Length-prefixed framing for tokio transports: a 4-byte unsigned big-endian length, then that
//! many bytes of JSON.
//!
//! [`FrameCodec`] yields raw payloads (the server and the clients decode JSON themselves, each
//! with its own decoder); `JsonCodec` (feature `json-codec`, for tests and benchmarks) yields
//! decoded [`Frame`](crate::Frame)s and encodes them. Both refuse a length above their limit as
//! soon as the 4 header bytes are in, before anything is allocated for the body.

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::compress::{COMPRESSED, CompressError, compress, decompress};

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
    /// A compressed frame (extension `compress`) that cannot be taken.
    #[error("{0}")]
    Compressed(#[from] CompressError),
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

/// A frame's prefix read: the payload's length, and whether it is compressed. A compressed
/// payload is only taken when `compressed` (the connection negotiated `compress`); otherwise
/// the flag makes the length too long, as it does for a peer that knows nothing of it.
fn frame_head(
    prefix: [u8; PREFIX_LEN],
    max: usize,
    compressed: bool,
) -> Result<(usize, bool), FrameError> {
    let raw = u32::from_be_bytes(prefix);
    if compressed && raw & COMPRESSED != 0 {
        let len = payload_len((raw & !COMPRESSED).to_be_bytes(), max)?;
        return Ok((len, true));
    }
    Ok((payload_len(prefix, max)?, false))
}

/// Splits a byte stream into frame payloads of at most `max` bytes (decompressed, when
/// [`FrameCodec::compressed`] allows compressed frames).
#[derive(Debug)]
pub struct FrameCodec {
    max: usize,
    /// Compressed frames are taken in.
    inflate: bool,
    /// Frames worth it (above [`crate::compress::COMPRESS_MIN`]) are sent compressed.
    deflate: bool,
}

impl FrameCodec {
    /// A codec accepting payloads of up to `max` bytes.
    pub fn new(max: usize) -> Self {
        FrameCodec { max, inflate: false, deflate: false }
    }

    /// From now on, takes compressed frames in and compresses the frames it sends that are
    /// worth it: for a connection that negotiated `compress`.
    pub fn compress(&mut self, on: bool) {
        self.inflate = on;
        self.deflate = on;
    }

    /// From now on, takes compressed frames in: a client asking for `compress` at login
    /// (the answer may come compressed already; it sends compressed ones only once granted).
    pub fn accept_compressed(&mut self) {
        self.inflate = true;
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    /// The next whole frame's payload at the front of `src` (taken out of it), decompressed
    /// if it is compressed and that was negotiated; `None` until all of it is in. An
    /// over-long frame is refused as soon as its prefix is in, before any room is made for it.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        let max = self.max;
        let Some(prefix) = src.first_chunk::<PREFIX_LEN>() else {
            return Ok(None);
        };
        let (len, packed) = frame_head(*prefix, max, self.inflate)?;
        let end = PREFIX_LEN + len;
        if src.len() < end {
            // Room for the rest of the frame at once rather than by doubling.
            src.reserve(end - src.len());
            return Ok(None);
        }
        let mut frame = src.split_to(end);
        frame.advance(PREFIX_LEN);
        if packed {
            // Within the limit, checked before room is made for it.
            return Ok(Some(BytesMut::from(&decompress(&frame, max)?[..])));
        }
        Ok(Some(frame))
    }
}

impl Encoder<&[u8]> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, payload: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        if self.deflate {
            put_maybe_compressed(payload, dst);
        } else {
            put_frame(payload, dst);
        }
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

/// Appends one frame to `dst`, compressed if that is worth it (extension `compress`).
pub fn put_maybe_compressed(payload: &[u8], dst: &mut impl BufMut) {
    match compress(payload) {
        Some(packed) => {
            // Under the frame limits, far below 2 GiB.
            let len = u32::try_from(packed.len()).unwrap_or(u32::MAX >> 1);
            dst.put_u32(len | COMPRESSED);
            dst.put_slice(&packed);
        }
        None => put_frame(payload, dst),
    }
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

    /// As [`FrameCodec::compress`].
    pub fn compress(&mut self, on: bool) {
        self.frames.compress(on);
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
        self.frames.encode(&payload[..], dst)
    }
}
