//! TLS on rustls's unbuffered API, with buffers the connection owns: [`TlsConn`] (the
//! handshake and the record layer), [`Tls`] (the native protocol's length-prefixed frames on
//! it) and [`TlsStream`] (a byte stream for the web gateway's HTTP, which the WebSocket
//! transport takes over after the upgrade).
//!
//! rustls's buffered connection keeps a receive buffer of 4 KiB from the first read on and
//! never gives it back, so every idle connection held one. Here the connection owns its
//! buffers and gives each back as soon as it holds nothing: an idle logged-in connection holds
//! no read or write buffer at all, only rustls's per-connection state.
//!
//! Writes follow what older clients of this protocol need (see [`super::native`]): all the
//! TLS records of one frame go out in one write.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use rustls::ServerConfig;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use shared::codec::{FrameCodec, FrameError, PREFIX_LEN};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

use super::{Transport, encode_frame};
use crate::metrics::ConnectionKind;

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
    /// Decrypted bytes were appended to the plaintext buffer.
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

/// A server-side TLS connection on a TCP stream: decrypted bytes collect in [`TlsConn::plain`]
/// for the framing above to take; what it sends is encrypted and written in one write.
pub struct TlsConn {
    tcp: TcpStream,
    conn: UnbufferedServerConnection,
    /// TLS bytes received and not yet consumed by rustls (a partial record, or records not
    /// yet processed). Empty and unallocated whenever it holds nothing.
    incoming: Vec<u8>,
    /// Decrypted bytes the framing above has not taken yet. The framing gives its room back
    /// ([`TlsConn::release_plain`]) whenever it holds nothing.
    pub plain: BytesMut,
    /// TLS bytes to send; `outgoing[sent..]` are not written yet (a write that was cancelled,
    /// or handshake records). Unallocated once written.
    outgoing: Vec<u8>,
    sent: usize,
    /// The most decrypted data `plain` may hold (see [`plain_limit`]).
    plain_limit: usize,
    /// The peer closed the connection (close_notify or end of stream).
    eof: bool,
    /// close_notify has been queued.
    closing: bool,
}

impl std::fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConn")
            .field("incoming", &self.incoming.len())
            .field("plain", &self.plain.len())
            .field("outgoing", &(self.outgoing.len() - self.sent))
            .finish_non_exhaustive()
    }
}

fn tls_error(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The most decrypted data a connection whose largest unit (frame, WebSocket frame with its
/// header) is `unit` bytes holds: one whole unit, the record that completed it (it may carry
/// the start of the next ones), and what the receive buffer held when a write had to process
/// it first.
pub const fn plain_limit(unit: usize) -> usize {
    unit + MAX_RECORD_PLAINTEXT + MAX_INCOMING
}

impl TlsConn {
    /// Runs the TLS handshake on `tcp` (the caller bounds its time), then holds up to
    /// `plain_limit` decrypted bytes not yet taken (see [`plain_limit`]).
    pub async fn accept(
        tcp: TcpStream,
        config: Arc<ServerConfig>,
        plain_limit: usize,
    ) -> io::Result<TlsConn> {
        let conn = UnbufferedServerConnection::new(config).map_err(tls_error)?;
        let mut t = TlsConn {
            tcp,
            conn,
            incoming: Vec::new(),
            plain: BytesMut::new(),
            outgoing: Vec::new(),
            sent: 0,
            plain_limit,
            eof: false,
            closing: false,
        };
        loop {
            match t.drive(Job::None) {
                Err(e) => {
                    // Tell the peer why (the alert rustls queued), as far as it listens.
                    let _ = t.flush().await;
                    return Err(e);
                }
                // Application data right behind the client's Finished: kept for the framing.
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
                                if self.plain.len() + record.payload.len() > self.plain_limit {
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
                        // The data waits in `plain` for the framing; the job goes on.
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
        // The bytes that failed are not offered again: rustls would fail on them a second
        // time and queue a second alert, which it treats as a bug (a debug assertion).
        self.incoming.clear();
        for _ in 0..MAX_ALERT_RECORDS {
            let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut []);
            let Ok(ConnectionState::EncodeTlsData(mut encode)) = state else {
                break;
            };
            let mut record = [0u8; ALERT_RECORD_ROOM];
            if let Ok(n) = encode.encode(&mut record) {
                self.outgoing.extend_from_slice(&record[..n]);
            }
        }
    }

    /// Gives the plaintext buffer's room back if it holds nothing.
    pub fn release_plain(&mut self) {
        if self.plain.is_empty() {
            self.plain = BytesMut::new();
        }
    }

    /// True while received bytes wait: a partial record, or plaintext not yet taken.
    pub fn partial(&self) -> bool {
        !self.incoming.is_empty() || !self.plain.is_empty()
    }

    /// Reads what the peer has sent into `incoming`, making room only once the socket is
    /// readable (an idle connection holds no buffer). Ready with 0 at the end of the stream.
    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.tcp.poll_read_ready(cx))?;
            let len = self.incoming.len();
            let record_end = match self.incoming.get(3..RECORD_HEADER_LEN) {
                Some(&[hi, lo]) => RECORD_HEADER_LEN + usize::from(u16::from_be_bytes([hi, lo])),
                _ => 0,
            };
            let want = record_end.max(len + READ_CHUNK).min(MAX_INCOMING);
            if want <= len {
                return Poll::Ready(Err(tls_error("TLS record over the limit")));
            }
            if self.incoming.capacity() < want {
                self.incoming.reserve_exact(want - len);
            }
            // A read that would block clears the readiness, so the next poll waits.
            let read = self.tcp.try_read_buf(&mut self.incoming);
            if self.incoming.is_empty() {
                self.incoming = Vec::new();
            }
            match read {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    async fn read_more(&mut self) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read_more(cx)).await
    }

    /// Writes `outgoing` out. What was written is remembered, so a write that was given up
    /// goes on where it stopped at the next one.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.outgoing.len() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.outgoing[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.outgoing = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// [`TlsConn::poll_flush`] as a future; cancel-safe.
    pub async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Decrypts more of what the peer sent into `plain`, reading from the socket when no
    /// whole record is buffered. Ready with `false` once the peer has closed. Records rustls
    /// produces on its own (a key update, say) go out first.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        loop {
            if self.eof {
                return Poll::Ready(Ok(false));
            }
            match self.drive(Job::None)? {
                Event::Data => return Poll::Ready(Ok(true)),
                Event::PeerClosed => return Poll::Ready(Ok(false)),
                Event::NeedInput | Event::Writable | Event::Done => {}
            }
            ready!(self.poll_flush(cx))?;
            if ready!(self.poll_read_more(cx))? == 0 {
                self.eof = true;
            }
        }
    }

    /// [`TlsConn::poll_fill`] as a future; cancel-safe.
    pub async fn fill(&mut self) -> io::Result<bool> {
        poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Encrypts `data` behind anything still unwritten, for the next write (a
    /// [`TlsConn::flush`], or the one [`TlsConn::fill`] makes before it reads): all of its
    /// records go out in that one write.
    pub fn queue(&mut self, data: &[u8]) -> io::Result<()> {
        self.drive(Job::Encrypt(data)).map(drop)
    }

    /// Queues close_notify (once) and writes out what is pending.
    fn poll_close_notify(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.closing {
            self.closing = true;
            self.drive(Job::CloseNotify)?;
        }
        self.poll_flush(cx)
    }

    /// Sends close_notify and ends the TCP stream.
    pub async fn close(&mut self) {
        let _ = poll_fn(|cx| self.poll_close_notify(cx)).await;
        let _ = poll_fn(|cx| Pin::new(&mut self.tcp).poll_shutdown(cx)).await;
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

/// A TLS connection speaking the native protocol: length-prefixed frames.
#[derive(Debug)]
pub struct Tls {
    conn: TlsConn,
    /// The framing both ways (and whether extension `compress` was granted).
    codec: FrameCodec,
}

impl Tls {
    /// Runs the TLS handshake on `tcp` (the caller bounds its time), accepting inbound frames
    /// of up to `max_frame` bytes afterwards.
    pub async fn accept(
        tcp: TcpStream,
        config: Arc<ServerConfig>,
        max_frame: usize,
    ) -> io::Result<Tls> {
        let conn = TlsConn::accept(tcp, config, plain_limit(max_frame + PREFIX_LEN)).await?;
        Ok(Tls { conn, codec: FrameCodec::new(max_frame) })
    }

    /// The next whole frame in `plain`, refusing an over-long one as soon as its prefix is in
    /// and before any room is made for it.
    fn take_frame(&mut self) -> Result<Option<BytesMut>, FrameError> {
        let frame = self.codec.decode(&mut self.conn.plain)?;
        if frame.is_some() {
            self.conn.release_plain();
        }
        Ok(frame)
    }
}

impl Transport for Tls {
    const KIND: ConnectionKind = ConnectionKind::Native;

    async fn recv(&mut self) -> Option<Result<BytesMut, FrameError>> {
        loop {
            match self.take_frame() {
                Ok(Some(frame)) => return Some(Ok(frame)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            match self.conn.fill().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    async fn send(&mut self, json: &[u8]) -> io::Result<()> {
        // Prefix and JSON sealed together: all of the frame's records (behind anything still
        // unwritten) go out in one write. The plaintext copy is gone before the write (its
        // scope ends there, so the future does not keep room for it).
        {
            let frame = encode_frame(&mut self.codec, json)?;
            self.conn.queue(&frame)?;
        }
        self.conn.flush().await
    }

    async fn close(&mut self) {
        self.conn.close().await;
    }

    fn partial(&self) -> bool {
        self.conn.partial()
    }

    const COMPRESSES: bool = true;

    fn compress(&mut self) {
        self.codec.compress(true);
    }
}

/// Most plaintext bytes one [`TlsStream`] write takes (the caller writes the rest next): a
/// large file body is encrypted a piece at a time, not held in full as ciphertext.
const MAX_STREAM_WRITE: usize = 4 * MAX_RECORD_PLAINTEXT;

/// A TLS connection as a byte stream, for HTTP. Its connection comes back out with
/// [`TlsStream::into_inner`] (for the WebSocket after an upgrade).
#[derive(Debug)]
pub struct TlsStream(TlsConn);

impl TlsStream {
    /// The stream of `conn`.
    pub fn new(conn: TlsConn) -> Self {
        TlsStream(conn)
    }

    /// The connection, with what was decrypted and not read yet.
    pub fn into_inner(self) -> TlsConn {
        self.0
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let conn = &mut self.get_mut().0;
        while conn.plain.is_empty() {
            if !ready!(conn.poll_fill(cx))? {
                return Poll::Ready(Ok(()));
            }
        }
        let n = buf.remaining().min(conn.plain.len());
        buf.put_slice(&conn.plain[..n]);
        conn.plain.advance(n);
        conn.release_plain();
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let conn = &mut self.get_mut().0;
        // One write's records at a time: the ciphertext held never exceeds one write's worth.
        ready!(conn.poll_flush(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = data.len().min(MAX_STREAM_WRITE);
        conn.drive(Job::Encrypt(&data[..n]))?;
        // Written now if the socket takes it, otherwise by the next write or flush.
        if let Poll::Ready(Err(e)) = conn.poll_flush(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().0.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let conn = &mut self.get_mut().0;
        ready!(conn.poll_close_notify(cx))?;
        Pin::new(&mut conn.tcp).poll_shutdown(cx)
    }
}
