//! The native transport over TLS, on rustls's unbuffered API: length-prefixed JSON frames in
//! TLS records on a TCP stream.
//!
//! rustls's buffered connection keeps a receive buffer of 4 KiB from the first read on and
//! never gives it back, so every idle connection held one. Here the connection owns its
//! buffers and gives each back as soon as it holds nothing: an idle logged-in connection holds
//! no read or write buffer at all, only rustls's per-connection state.
//!
//! Writes follow what older clients of this protocol need (see [`super::native`]): all the
//! TLS records of one frame go out in one write.

use std::io;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use rustls::ServerConfig;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use shared::codec::{FrameError, PREFIX_LEN, payload_len};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{Transport, length_prefixed};

/// Bytes of a TLS record header (type, version, length).
const RECORD_HEADER_LEN: usize = 5;

/// The largest TLS record a peer may send: 16 KiB of plaintext plus the 2 KiB of ciphertext
/// expansion TLS 1.2 allows (RFC 5246 6.2.3; TLS 1.3 allows less), plus the header. rustls
/// refuses anything longer, so the receive buffer never needs more than this: records are
/// decrypted as soon as they are complete, and frames span records as they please.
const MAX_INCOMING: usize = RECORD_HEADER_LEN + 16_384 + 2048;

/// Plaintext bytes in one TLS record at most (RFC 8446 5.1).
const MAX_RECORD_PLAINTEXT: usize = 16_384;

/// Bytes asked for per read beyond the record in progress. Covers a ClientHello (about
/// 1.5 KiB with a post-quantum key share) and several chat lines in one read, while the
/// buffer of a busy connection stays small; it is given back once it holds no partial record.
const READ_CHUNK: usize = 2048;

/// A first guess at what sealing adds to each record (header, explicit nonce, AEAD tag, TLS
/// 1.3 content type: 29 bytes at most for the suites rustls offers). A wrong guess costs only
/// a second attempt with the size rustls asks for.
const SEAL_OVERHEAD: usize = 32;

/// Records rustls may have queued after a fatal error (the alert): fetched so that the peer
/// learns why the handshake or connection failed. One is expected; the bound keeps a
/// misbehaving state from looping.
const MAX_ALERT_RECORDS: usize = 4;

/// Room for one alert record (2 bytes of alert, sealed: 31 bytes at most); an alert that does
/// not fit is not sent, which only leaves the peer guessing why the connection ended.
const ALERT_RECORD_ROOM: usize = 64;

/// What the TLS state machine needs or has produced.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    /// More bytes from the peer are needed.
    NeedInput,
    /// Application data may be sent; nothing else is pending.
    Writable,
    /// Decrypted bytes were appended to the frame buffer.
    Data,
    /// The peer has closed its side (close_notify).
    PeerClosed,
    /// The job asked for is done (encrypted into the outgoing buffer).
    Done,
}

/// What to do once the connection may send application data.
#[derive(Clone, Copy)]
enum Job<'a> {
    /// Nothing: report what the connection needs.
    None,
    /// Encrypt these bytes.
    Encrypt(&'a [u8]),
    /// Send close_notify.
    CloseNotify,
}

/// A TLS connection speaking the native protocol.
pub struct Tls {
    tcp: TcpStream,
    conn: UnbufferedServerConnection,
    /// TLS bytes received and not yet consumed by rustls (a partial record, or records not
    /// yet processed). Empty and unallocated whenever it holds nothing.
    incoming: Vec<u8>,
    /// Decrypted bytes not yet returned as frames: the start of a frame, or whole frames
    /// behind the one returned. Empty and unallocated whenever it holds nothing.
    plain: BytesMut,
    /// TLS bytes to send; `outgoing[sent..]` are not written yet (a write that was cancelled,
    /// or handshake records). Unallocated once written.
    outgoing: Vec<u8>,
    sent: usize,
    max_frame: usize,
    /// The peer closed the connection (close_notify or end of stream).
    eof: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("incoming", &self.incoming.len())
            .field("plain", &self.plain.len())
            .field("outgoing", &(self.outgoing.len() - self.sent))
            .finish_non_exhaustive()
    }
}

fn tls_error(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Tls {
    /// Runs the TLS handshake on `tcp` (the caller bounds its time), accepting inbound frames
    /// of up to `max_frame` bytes afterwards.
    pub async fn accept(
        tcp: TcpStream,
        config: Arc<ServerConfig>,
        max_frame: usize,
    ) -> io::Result<Tls> {
        let conn = UnbufferedServerConnection::new(config).map_err(tls_error)?;
        let mut t = Tls {
            tcp,
            conn,
            incoming: Vec::new(),
            plain: BytesMut::new(),
            outgoing: Vec::new(),
            sent: 0,
            max_frame,
            eof: false,
        };
        loop {
            match t.drive(Job::None) {
                Err(e) => {
                    // Tell the peer why (the alert rustls queued), as far as it listens.
                    let _ = t.flush().await;
                    return Err(e);
                }
                // Application data right behind the client's Finished: kept for `recv`.
                Ok(Event::Data) => {}
                Ok(Event::Writable) if !t.conn.is_handshaking() => {
                    t.flush().await?;
                    return Ok(t);
                }
                Ok(Event::PeerClosed) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed during the handshake",
                    ));
                }
                Ok(Event::NeedInput | Event::Writable | Event::Done) => {
                    t.flush().await?;
                    if t.read_more().await? == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "end of stream during the handshake",
                        ));
                    }
                }
            }
        }
    }

    /// Runs rustls over the received bytes until it needs more of them, has decrypted data
    /// (without a job), or has done `job`. Records it produces go to `outgoing`.
    fn drive(&mut self, job: Job<'_>) -> io::Result<Event> {
        let plain_limit = self.plain_limit();
        loop {
            let UnbufferedStatus { mut discard, state } =
                self.conn.process_tls_records(&mut self.incoming);
            let event = match state {
                Err(e) => {
                    self.incoming.drain(..discard);
                    self.queue_alert();
                    return Err(tls_error(e));
                }
                Ok(ConnectionState::ReadTraffic(mut read)) => {
                    let mut failed = None;
                    while let Some(record) = read.next_record() {
                        match record {
                            Ok(record) => {
                                discard += record.discard;
                                if self.plain.len() + record.payload.len() > plain_limit {
                                    failed = Some(tls_error("too much data ahead of a frame"));
                                    break;
                                }
                                self.plain.extend_from_slice(record.payload);
                            }
                            Err(e) => {
                                failed = Some(tls_error(e));
                                break;
                            }
                        }
                    }
                    if let Some(e) = failed {
                        return Err(e);
                    }
                    match job {
                        Job::None => Some(Event::Data),
                        // The frames wait in `plain` for `recv`; the job goes on.
                        _ => None,
                    }
                }
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    let start = self.outgoing.len();
                    let mut room = 0;
                    loop {
                        self.outgoing.resize(start + room, 0);
                        match encode.encode(&mut self.outgoing[start..]) {
                            Ok(n) => {
                                self.outgoing.truncate(start + n);
                                break;
                            }
                            Err(EncodeError::InsufficientSize(InsufficientSizeError {
                                required_size,
                            })) if required_size > room => room = required_size,
                            Err(e) => {
                                self.outgoing.truncate(start);
                                return Err(tls_error(e));
                            }
                        }
                    }
                    None
                }
                // The records are in `outgoing`, which is written before anything else is
                // read or written.
                Ok(ConnectionState::TransmitTlsData(transmit)) => {
                    transmit.done();
                    None
                }
                Ok(ConnectionState::BlockedHandshake) => match job {
                    Job::None => Some(Event::NeedInput),
                    _ => return Err(io::Error::other("TLS handshake not complete")),
                },
                Ok(ConnectionState::WriteTraffic(mut write)) => match job {
                    Job::None => Some(Event::Writable),
                    Job::Encrypt(data) => {
                        let records = data.len().div_ceil(MAX_RECORD_PLAINTEXT).max(1);
                        let guess = data.len() + records * SEAL_OVERHEAD;
                        seal(&mut self.outgoing, guess, |out| write.encrypt(data, out))?;
                        Some(Event::Done)
                    }
                    Job::CloseNotify => {
                        seal(&mut self.outgoing, SEAL_OVERHEAD, |out| {
                            write.queue_close_notify(out)
                        })?;
                        Some(Event::Done)
                    }
                },
                Ok(ConnectionState::PeerClosed) => {
                    self.eof = true;
                    match job {
                        Job::None => Some(Event::PeerClosed),
                        // Sending is still allowed.
                        _ => None,
                    }
                }
                Ok(ConnectionState::Closed) => {
                    self.eof = true;
                    match job {
                        Job::None => Some(Event::PeerClosed),
                        Job::CloseNotify => Some(Event::Done),
                        Job::Encrypt(_) => {
                            return Err(io::Error::new(
                                io::ErrorKind::BrokenPipe,
                                "TLS connection closed",
                            ));
                        }
                    }
                }
                // Early data is off (the configuration's default) and nothing else exists
                // today; the enum is non-exhaustive.
                Ok(other) => return Err(tls_error(format!("unexpected TLS state {other:?}"))),
            };
            self.incoming.drain(..discard);
            if self.incoming.is_empty() {
                self.incoming = Vec::new();
            }
            if let Some(event) = event {
                return Ok(event);
            }
        }
    }

    /// After a fatal error: moves the alert rustls queued (if any) into `outgoing`.
    fn queue_alert(&mut self) {
        for _ in 0..MAX_ALERT_RECORDS {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(&mut self.incoming);
            let Ok(ConnectionState::EncodeTlsData(mut encode)) = state else {
                break;
            };
            let mut record = [0u8; ALERT_RECORD_ROOM];
            if let Ok(n) = encode.encode(&mut record) {
                self.outgoing.extend_from_slice(&record[..n]);
            }
            self.incoming.drain(..discard);
        }
    }

    /// The most decrypted data held: the largest frame with its prefix, the record that
    /// completed it (it may carry the start of the next frames), and what the receive buffer
    /// held when a write had to process it first.
    fn plain_limit(&self) -> usize {
        self.max_frame + PREFIX_LEN + MAX_RECORD_PLAINTEXT + MAX_INCOMING
    }

    /// The next whole frame in `plain`, refusing an over-long one as soon as its prefix is in
    /// and before any room is made for it.
    fn take_frame(&mut self) -> Result<Option<BytesMut>, FrameError> {
        let Some(prefix) = self.plain.first_chunk::<PREFIX_LEN>() else {
            return Ok(None);
        };
        let end = PREFIX_LEN + payload_len(*prefix, self.max_frame)?;
        if self.plain.len() < end {
            // Room for the rest of the frame at once rather than by doubling.
            self.plain.reserve(end - self.plain.len());
            return Ok(None);
        }
        let mut frame = self.plain.split_to(end);
        frame.advance(PREFIX_LEN);
        if self.plain.is_empty() {
            self.plain = BytesMut::new();
        }
        Ok(Some(frame))
    }

    /// Reads what the peer has sent into `incoming`, making room only once the socket is
    /// readable (an idle connection holds no buffer). Returns 0 at the end of the stream.
    async fn read_more(&mut self) -> io::Result<usize> {
        loop {
            self.tcp.readable().await?;
            let len = self.incoming.len();
            let record_end = match self.incoming.get(3..RECORD_HEADER_LEN) {
                Some(&[hi, lo]) => RECORD_HEADER_LEN + usize::from(u16::from_be_bytes([hi, lo])),
                _ => 0,
            };
            let want = record_end.max(len + READ_CHUNK).min(MAX_INCOMING);
            if want <= len {
                return Err(tls_error("TLS record over the limit"));
            }
            if self.incoming.capacity() < want {
                self.incoming.reserve_exact(want - len);
            }
            match self.tcp.try_read_buf(&mut self.incoming) {
                Ok(n) => {
                    if self.incoming.is_empty() {
                        self.incoming = Vec::new();
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.incoming.is_empty() {
                        self.incoming = Vec::new();
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes `outgoing` out. Cancel-safe: what was written is remembered, so a later write
    /// or close goes on where this one stopped.
    async fn flush(&mut self) -> io::Result<()> {
        while self.sent < self.outgoing.len() {
            let n = self.tcp.write(&self.outgoing[self.sent..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.sent += n;
        }
        self.outgoing = Vec::new();
        self.sent = 0;
        Ok(())
    }
}

/// Appends what `write` seals to `out`, with `guess` bytes of room first and as much as
/// rustls asks for if that is too little.
fn seal(
    out: &mut Vec<u8>,
    guess: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, EncryptError>,
) -> io::Result<()> {
    let start = out.len();
    let mut room = guess;
    loop {
        out.resize(start + room, 0);
        match write(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(EncryptError::InsufficientSize(InsufficientSizeError { required_size }))
                if required_size > room =>
            {
                room = required_size;
            }
            Err(e) => {
                out.truncate(start);
                return Err(io::Error::other(e.to_string()));
            }
        }
    }
}

impl Transport for Tls {
    async fn recv(&mut self) -> Option<Result<BytesMut, FrameError>> {
        loop {
            match self.take_frame() {
                Ok(Some(frame)) => return Some(Ok(frame)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            if self.eof {
                return None;
            }
            match self.drive(Job::None) {
                Err(e) => return Some(Err(e.into())),
                Ok(Event::Data | Event::PeerClosed) => continue,
                Ok(Event::NeedInput | Event::Writable | Event::Done) => {}
            }
            // Records rustls produced on its own (a key update, say) go out first.
            if let Err(e) = self.flush().await {
                return Some(Err(e.into()));
            }
            match self.read_more().await {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    async fn send(&mut self, json: &[u8]) -> io::Result<()> {
        // Prefix and JSON sealed together: all of the frame's records (behind anything still
        // unwritten) go out in one write. The plaintext copy is gone before the write (its
        // scope ends there, so the future does not keep room for it).
        {
            let frame = length_prefixed(json)?;
            self.drive(Job::Encrypt(&frame))?;
        }
        self.flush().await
    }

    async fn close(&mut self) {
        let _ = self.drive(Job::CloseNotify);
        let _ = self.flush().await;
        let _ = self.tcp.shutdown().await;
    }

    fn partial(&self) -> bool {
        !self.incoming.is_empty() || !self.plain.is_empty()
    }
}
