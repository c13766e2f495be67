//! The WebSocket transport (RFC 6455) on the connection-owned TLS of [`super::tls`]: each text
//! message carries exactly one protocol JSON object, the same frames as the native transport
//! without the length prefix. The server pings every [`PING_INTERVAL`] (by default) and drops a
//! connection that sent nothing, not even a pong, for twice that.
//!
//! Client frames are read straight out of the connection's plaintext buffer: a frame's length
//! is checked against the limit as soon as its header is in, before any room is made for it,
//! and an unfragmented message is unmasked in place and handed on without a copy. Like the TLS
//! layer under it, the transport keeps no buffer while the connection is idle.

use std::io;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use shared::codec::FrameError;
use tokio::time::Instant;

use super::Transport;
use super::deflate::{self, InflateError};
use super::tls::{TlsConn, plain_limit};
use crate::metrics::ConnectionKind;

/// How often an idle connection is pinged. Proxies and NATs commonly drop idle connections
/// after a minute or more; 25 s keeps them open and notices a vanished browser within 50 s.
pub const PING_INTERVAL: Duration = Duration::from_secs(25);

/// The longest frame header: 2 bytes, 8 of extended length and 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload of a control frame (RFC 6455 5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// The most decrypted bytes a WebSocket connection holds, for messages of up to `max_message`
/// bytes: one whole frame with its header (a message's fragments are moved out as they
/// complete), and what [`plain_limit`] adds for the records around it.
pub const fn ws_plain_limit(max_message: usize) -> usize {
    plain_limit(max_message + MAX_HEADER_LEN)
}

/// Frame opcodes (RFC 6455 5.2).
mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// Close status codes (RFC 6455 7.4.1).
mod status {
    pub const NORMAL: u16 = 1000;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const INVALID_DATA: u16 = 1007;
    pub const TOO_BIG: u16 = 1009;
}

/// A client frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    fin: bool,
    /// RSV1: the message this frame begins is compressed (permessage-deflate).
    compressed: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Bytes of header (payload starts here).
    len: usize,
    /// Bytes of payload.
    payload: usize,
}

/// Why a client's frames cannot be read.
#[derive(Debug, PartialEq, Eq)]
enum Violation {
    /// Against RFC 6455 (unmasked, reserved bits or opcodes, a broken fragment sequence).
    Protocol(&'static str),
    /// A text message that is not UTF-8.
    NotUtf8,
    /// A message over the limit; `len` counts the fragments so far and the announced frame.
    TooLong { len: u64, max: usize },
}

impl Violation {
    fn status(&self) -> u16 {
        match self {
            Violation::Protocol(_) => status::PROTOCOL_ERROR,
            Violation::NotUtf8 => status::INVALID_DATA,
            Violation::TooLong { .. } => status::TOO_BIG,
        }
    }

    fn into_frame_error(self) -> FrameError {
        match self {
            Violation::TooLong { len, max } => FrameError::TooLong { len, max },
            Violation::Protocol(why) => {
                FrameError::Io(io::Error::new(io::ErrorKind::InvalidData, why))
            }
            Violation::NotUtf8 => FrameError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                "a text message that is not UTF-8",
            )),
        }
    }
}

/// Parses the header at the start of `buf`: `None` until all of it is in. `message` is the
/// length of the fragments of the message in progress, `max` the limit of a whole message: an
/// over-long data frame is refused from its header alone. With `deflate` (permessage-deflate
/// agreed), RSV1 may mark the first frame of a data message as compressed.
fn parse_header(
    buf: &[u8],
    message: usize,
    max: usize,
    deflate: bool,
) -> Result<Option<Header>, Violation> {
    let Some(&[b0, b1]) = buf.first_chunk::<2>() else { return Ok(None) };
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    let compressed = b0 & 0x40 != 0;
    if b0 & 0x30 != 0 || (compressed && !deflate) {
        return Err(Violation::Protocol("reserved bits set (no extension was agreed)"));
    }
    if compressed && !matches!(opcode, opcode::TEXT | opcode::BINARY) {
        return Err(Violation::Protocol("RSV1 on a frame that does not begin a message"));
    }
    if b1 & 0x80 == 0 {
        return Err(Violation::Protocol("an unmasked client frame"));
    }
    let (ext, short) = match b1 & 0x7F {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let len = 2 + ext + 4;
    if buf.len() < 2 + ext {
        return Ok(None);
    }
    let payload = match short {
        Some(n) => n,
        None => buf[2..2 + ext].iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)),
    };
    match opcode {
        opcode::CLOSE | opcode::PING | opcode::PONG => {
            if !fin || payload > MAX_CONTROL_PAYLOAD as u64 {
                return Err(Violation::Protocol("a fragmented or long control frame"));
            }
        }
        opcode::TEXT | opcode::BINARY | opcode::CONTINUATION => {
            let total = payload.saturating_add(message as u64);
            if total > max as u64 {
                return Err(Violation::TooLong { len: total, max });
            }
        }
        _ => return Err(Violation::Protocol("a reserved opcode")),
    }
    let Some(mask) = buf.get(len - 4..len) else { return Ok(None) };
    let mask = [mask[0], mask[1], mask[2], mask[3]];
    // Within `max` (or 125), which is a usize.
    let payload = usize::try_from(payload).unwrap_or(usize::MAX);
    Ok(Some(Header { fin, compressed, opcode, mask, len, payload }))
}

/// Unmasks a payload in place (RFC 6455 5.3).
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

/// The header of an unmasked server frame (FIN set) of `len` bytes, and its length. A
/// compressed message's frame also sets RSV1 (`opcode` | [`RSV1`]).
fn server_header(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | opcode;
    if len < 126 {
        h[1] = len as u8;
        (h, 2)
    } else if let Ok(short) = u16::try_from(len) {
        h[1] = 126;
        h[2..4].copy_from_slice(&short.to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 10)
    }
}

/// The first header byte's RSV1 bit: a permessage-deflate message.
const RSV1: u8 = 0x40;

/// What one complete client frame asks for.
enum Got {
    /// A whole message.
    Message(BytesMut),
    /// Nothing to hand on (a fragment, a pong).
    Nothing,
    /// A ping: answer with this payload.
    Ping(BytesMut),
    /// A close, with the status to echo.
    Close(u16),
}

/// A WebSocket speaking the protocol.
#[derive(Debug)]
pub struct Ws {
    conn: TlsConn,
    /// The fragments of a message in progress, unmasked. Unallocated between messages.
    message: BytesMut,
    /// The opcode of the message in progress (TEXT or BINARY), if one is.
    message_opcode: Option<u8>,
    /// The message in progress is compressed.
    message_compressed: bool,
    /// permessage-deflate was agreed in the upgrade.
    deflate: bool,
    max_message: usize,
    last_heard: Instant,
    next_ping: Instant,
    ping_every: Duration,
    /// The status our close frame gives (a protocol error, say); sent once.
    close_status: u16,
    close_sent: bool,
}

impl Ws {
    /// The WebSocket on `conn` after the upgrade, accepting messages of up to `max_message`
    /// bytes and pinging every `ping_every`. `early` are bytes the client sent behind its
    /// upgrade request (already decrypted). `deflate`: permessage-deflate was agreed.
    pub fn new(
        mut conn: TlsConn,
        early: &[u8],
        max_message: usize,
        ping_every: Duration,
        deflate: bool,
    ) -> Self {
        if !early.is_empty() {
            let mut plain = BytesMut::with_capacity(early.len() + conn.plain.len());
            plain.extend_from_slice(early);
            plain.extend_from_slice(&conn.plain);
            conn.plain = plain;
        }
        conn.release_plain();
        let now = Instant::now();
        Ws {
            conn,
            message: BytesMut::new(),
            message_opcode: None,
            message_compressed: false,
            deflate,
            max_message,
            last_heard: now,
            next_ping: now + ping_every,
            ping_every,
            close_status: status::NORMAL,
            close_sent: false,
        }
    }

    /// The next complete frame in the plaintext buffer, if one is.
    fn take_frame(&mut self) -> Result<Option<Got>, Violation> {
        let plain = &mut self.conn.plain;
        let Some(h) = parse_header(plain, self.message.len(), self.max_message, self.deflate)?
        else {
            return Ok(None);
        };
        let end = h.len + h.payload;
        if plain.len() < end {
            // Room for the rest of the frame at once rather than by doubling.
            plain.reserve(end - plain.len());
            return Ok(None);
        }
        let mut payload = plain.split_to(end);
        payload.advance(h.len);
        self.conn.release_plain();
        unmask(&mut payload, h.mask);
        let whole = match (h.opcode, self.message_opcode) {
            (opcode::PING, _) => return Ok(Some(Got::Ping(payload))),
            (opcode::PONG, _) => return Ok(Some(Got::Nothing)),
            (opcode::CLOSE, _) => {
                // The client's status is echoed if it may travel on the wire (RFC 6455 7.4).
                let code = match payload.first_chunk::<2>() {
                    Some(c) => u16::from_be_bytes(*c),
                    None => status::NORMAL,
                };
                let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
                return Ok(Some(Got::Close(if sendable { code } else { status::PROTOCOL_ERROR })));
            }
            (opcode::TEXT | opcode::BINARY, None) if h.fin => {
                self.message_compressed = h.compressed;
                payload
            }
            (opcode::TEXT | opcode::BINARY, None) => {
                self.message_opcode = Some(h.opcode);
                self.message_compressed = h.compressed;
                self.message = payload;
                return Ok(Some(Got::Nothing));
            }
            (opcode::CONTINUATION, Some(_)) => {
                self.message.extend_from_slice(&payload);
                if !h.fin {
                    return Ok(Some(Got::Nothing));
                }
                std::mem::take(&mut self.message)
            }
            (opcode::CONTINUATION, None) => {
                return Err(Violation::Protocol("a continuation without a message"));
            }
            _ => return Err(Violation::Protocol("a new message inside a fragmented one")),
        };
        let text = self.message_opcode.take().unwrap_or(h.opcode) == opcode::TEXT;
        let whole = if std::mem::take(&mut self.message_compressed) {
            // Bounded by the message limit as it is produced.
            match deflate::inflate(&whole, self.max_message) {
                Ok(json) => BytesMut::from(&json[..]),
                Err(InflateError::TooLong) => {
                    return Err(Violation::TooLong {
                        len: self.max_message as u64 + 1,
                        max: self.max_message,
                    });
                }
                Err(InflateError::Corrupt) => {
                    return Err(Violation::Protocol("a compressed message that does not inflate"));
                }
            }
        } else {
            whole
        };
        if text && std::str::from_utf8(&whole).is_err() {
            return Err(Violation::NotUtf8);
        }
        Ok(Some(Got::Message(whole)))
    }

    /// Queues one unmasked frame for the next write: its header and payload sealed
    /// together, from a buffer given back at once.
    fn queue_frame(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let (head, len) = server_header(opcode, payload.len());
        let mut frame = Vec::with_capacity(len + payload.len());
        frame.extend_from_slice(&head[..len]);
        frame.extend_from_slice(payload);
        self.conn.queue(&frame)
    }

    /// Queues our close frame with `status`, once.
    fn queue_close(&mut self, status: u16) {
        if !self.close_sent {
            self.close_sent = true;
            let _ = self.queue_frame(opcode::CLOSE, &status.to_be_bytes());
        }
    }

    /// Handles complete frames until a message is in; `None` for a close. What it cannot
    /// read is an error, whose close status [`Transport::close`] sends. Pongs and the close
    /// reply are queued and go out with the next write: the one made before reading more,
    /// or the close.
    async fn next_message(&mut self) -> Option<Result<BytesMut, FrameError>> {
        loop {
            match self.take_frame() {
                Ok(Some(Got::Message(m))) => return Some(Ok(m)),
                Ok(Some(Got::Nothing)) => continue,
                Ok(Some(Got::Ping(payload))) => {
                    if let Err(e) = self.queue_frame(opcode::PONG, &payload) {
                        return Some(Err(e.into()));
                    }
                    continue;
                }
                Ok(Some(Got::Close(code))) => {
                    self.queue_close(code);
                    return None;
                }
                Ok(None) => {}
                Err(v) => {
                    self.close_status = v.status();
                    return Some(Err(v.into_frame_error()));
                }
            }
            match self.conn.fill().await {
                Ok(true) => self.last_heard = Instant::now(),
                Ok(false) => return None,
                Err(e) => return Some(Err(e.into())),
            }
        }
    }
}

impl Transport for Ws {
    const KIND: ConnectionKind = ConnectionKind::WebSocket;

    async fn recv(&mut self) -> Option<Result<BytesMut, FrameError>> {
        loop {
            let next_ping = self.next_ping;
            tokio::select! {
                got = self.next_message() => return got,
                () = tokio::time::sleep_until(next_ping) => {
                    if self.last_heard.elapsed() > 2 * self.ping_every {
                        return None;
                    }
                    self.next_ping = Instant::now() + self.ping_every;
                    // Written by the read that follows.
                    if let Err(e) = self.queue_frame(opcode::PING, &[]) {
                        return Some(Err(e.into()));
                    }
                }
            }
        }
    }

    async fn send(&mut self, json: &[u8]) -> io::Result<()> {
        // Frames are ASCII JSON (the encoder escapes everything else). The frame's records go
        // out in one write.
        match self.deflate.then(|| deflate::deflate(json)).flatten() {
            Some(packed) => self.queue_frame(opcode::TEXT | RSV1, &packed)?,
            None => self.queue_frame(opcode::TEXT, json)?,
        }
        self.conn.flush().await
    }

    async fn close(&mut self) {
        self.queue_close(self.close_status);
        self.conn.close().await;
    }

    fn partial(&self) -> bool {
        self.conn.partial() || !self.message.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A masked client frame: a server header with the mask bit and key added.
    fn client_frame(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let (head, n) = server_header(op, payload.len());
        let mut f = head[..n].to_vec();
        if !fin {
            f[0] &= 0x7F;
        }
        f[1] |= 0x80;
        f.extend_from_slice(&MASK);
        let start = f.len();
        f.extend_from_slice(payload);
        unmask(&mut f[start..], MASK);
        f
    }

    #[test]
    fn headers_of_every_length_form_parse_and_wait_for_all_their_bytes() {
        for len in [0, 125, 126, 65_535, 65_536] {
            let f = client_frame(true, opcode::TEXT, &vec![b'x'; len]);
            let h = parse_header(&f, 0, 1 << 20, false).expect("valid").expect("complete header");
            assert_eq!((h.payload, h.len + h.payload), (len, f.len()), "length {len}");
            for cut in 0..h.len {
                assert_eq!(
                    parse_header(&f[..cut], 0, 1 << 20, false),
                    Ok(None),
                    "{len} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn a_message_over_the_limit_is_refused_from_its_header() {
        // Only the header: the payload is never needed to refuse it.
        let f = client_frame(true, opcode::TEXT, &[b'x'; 200]);
        assert_eq!(
            parse_header(&f[..4], 0, 100, false),
            Err(Violation::TooLong { len: 200, max: 100 })
        );
        // fragments count together
        let f = client_frame(true, opcode::CONTINUATION, &[b'x'; 60]);
        assert_eq!(
            parse_header(&f, 50, 100, false),
            Err(Violation::TooLong { len: 110, max: 100 })
        );
        let huge = [0x81, 0x80 | 127, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(matches!(parse_header(&huge, 0, 100, false), Err(Violation::TooLong { .. })));
    }

    #[test]
    fn frames_against_the_rfc_are_refused() {
        let unmasked = [0x81, 0x02, b'h', b'i'];
        assert!(matches!(parse_header(&unmasked, 0, 100, false), Err(Violation::Protocol(_))));
        let mut rsv = client_frame(true, opcode::TEXT, b"hi");
        rsv[0] |= 0x40;
        assert!(matches!(parse_header(&rsv, 0, 100, false), Err(Violation::Protocol(_))));
        let reserved = client_frame(true, 0x3, b"hi");
        assert!(matches!(parse_header(&reserved, 0, 100, false), Err(Violation::Protocol(_))));
        let fragmented_ping = client_frame(false, opcode::PING, b"hi");
        assert!(matches!(
            parse_header(&fragmented_ping, 0, 100, false),
            Err(Violation::Protocol(_))
        ));
        let long_ping = client_frame(true, opcode::PING, &[0; 126]);
        assert!(matches!(parse_header(&long_ping, 0, 1000, false), Err(Violation::Protocol(_))));
    }

    #[test]
    fn unmasking_restores_the_payload() {
        let f = client_frame(true, opcode::TEXT, b"{\"USERNAME\":\"ann\"}");
        let h = parse_header(&f, 0, 100, false).expect("valid").expect("complete");
        let mut payload = f[h.len..].to_vec();
        unmask(&mut payload, h.mask);
        assert_eq!(payload, b"{\"USERNAME\":\"ann\"}");
    }

    #[test]
    fn server_headers_use_the_shortest_length_form() {
        assert_eq!(server_header(opcode::TEXT, 5), ([0x81, 5, 0, 0, 0, 0, 0, 0, 0, 0], 2));
        let (h, n) = server_header(opcode::TEXT, 300);
        assert_eq!((&h[..n], n), (&[0x81, 126, 0x01, 0x2C][..], 4));
        let (h, n) = server_header(opcode::TEXT, 70_000);
        assert_eq!(&h[..n], &[0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70][..]);
    }
}
