//! The gateway's WebSocket framing, byte by byte as RFC 6455 writes it: a hand-made client
//! sends fragmented messages, pings, closes, frames over the limit, and frames cut across TLS
//! records or packed into one, and reads the server's frames as they are on the wire.

use shared::{Frame, Message};
use test_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const TEXT: u8 = 0x1;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// The key of RFC 6455's example handshake, and the answer the RFC gives for it.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A masked client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0xA5, 0x01, 0x7E, 0x3C];
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn json(frame: &Frame) -> Vec<u8> {
    shared::encode(frame)
}

fn login(name: &str) -> Vec<u8> {
    json(&Frame { username: Some(name.into()), ..Frame::default() })
}

/// A server frame as it came: FIN, opcode, payload.
#[derive(Debug)]
struct Got {
    fin: bool,
    /// RSV1: a compressed message (permessage-deflate).
    rsv1: bool,
    opcode: u8,
    payload: Vec<u8>,
}

impl Got {
    fn frame(&self) -> Frame {
        assert_eq!((self.fin, self.opcode), (true, TEXT), "one protocol frame per text message");
        shared::decode(&self.payload).expect("a protocol frame")
    }

    fn close_status(&self) -> u16 {
        assert_eq!(self.opcode, CLOSE, "{self:?}");
        u16::from_be_bytes([self.payload[0], self.payload[1]])
    }
}

/// A WebSocket client that writes and reads raw frames.
struct RawWs {
    tls: TlsStream<TcpStream>,
    /// Bytes read and not yet parsed.
    buf: Vec<u8>,
}

impl RawWs {
    async fn open(server: &TestServer) -> RawWs {
        RawWs::open_offering(server, "").await.0
    }

    /// Opens the WebSocket with `extra` header lines in the upgrade request; the answer's
    /// head (lower case) too.
    async fn open_offering(server: &TestServer, extra: &str) -> (RawWs, String) {
        let web = server.web.expect("gateway");
        let mut tls = tls_connect(web, &server.ca).await;
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: localhost:{}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
             {extra}\r\n",
            web.port()
        );
        tls.write_all(request.as_bytes()).await.expect("request");
        let mut ws = RawWs { tls, buf: Vec::new() };
        let end = loop {
            if let Some(i) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(ws.read_more().await, "the server answers the upgrade");
        };
        let head = String::from_utf8(ws.buf.drain(..end).collect()).expect("text").to_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains(&format!("sec-websocket-accept: {}", ACCEPT.to_lowercase())));
        (ws, head)
    }

    /// Reads what arrives into `buf`; false at the end of the stream.
    async fn read_more(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(PATIENCE, self.tls.read(&mut chunk))
            .await
            .expect("the server answers in time")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Writes `bytes` as one TLS write.
    async fn write(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).await.expect("write");
        self.tls.flush().await.expect("flush");
    }

    /// The next server frame; `None` once the server has closed the stream.
    async fn next(&mut self) -> Option<Got> {
        loop {
            if self.buf.len() >= 2 {
                let (b0, b1) = (self.buf[0], self.buf[1]);
                assert_eq!(b1 & 0x80, 0, "server frames are not masked");
                let (ext, len) = match b1 & 0x7F {
                    126 if self.buf.len() >= 4 => {
                        (2, usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])))
                    }
                    127 if self.buf.len() >= 10 => {
                        let mut n = [0u8; 8];
                        n.copy_from_slice(&self.buf[2..10]);
                        (8, usize::try_from(u64::from_be_bytes(n)).expect("length"))
                    }
                    126 | 127 => (usize::MAX, 0),
                    n => (0, usize::from(n)),
                };
                if ext != usize::MAX && self.buf.len() >= 2 + ext + len {
                    let payload = self.buf[2 + ext..2 + ext + len].to_vec();
                    self.buf.drain(..2 + ext + len);
                    return Some(Got {
                        fin: b0 & 0x80 != 0,
                        rsv1: b0 & 0x40 != 0,
                        opcode: b0 & 0x0F,
                        payload,
                    });
                }
            }
            if !self.read_more().await {
                assert!(self.buf.is_empty(), "the stream ended inside a frame");
                return None;
            }
        }
    }

    /// The next protocol frame (a text message), skipping none.
    async fn recv(&mut self) -> Frame {
        self.next().await.expect("a frame").frame()
    }
}

/// A message's bytes as permessage-deflate sends them: raw deflate, sync-flushed, the
/// flush's 4-byte tail left off.
fn deflated(payload: &[u8]) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut d = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(payload.len() + 64);
    d.compress_vec(payload, &mut out, FlushCompress::Sync).expect("deflate");
    assert_eq!(d.total_in(), payload.len() as u64);
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// A compressed message's payload inflated (its tail put back).
fn inflated(payload: &[u8]) -> Vec<u8> {
    use flate2::{Decompress, FlushDecompress};
    let mut data = payload.to_vec();
    data.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut i = Decompress::new(false);
    let mut out = Vec::with_capacity(1 << 22);
    i.decompress_vec(&data, &mut out, FlushDecompress::Sync).expect("inflate");
    out
}

#[tokio::test]
async fn permessage_deflate_is_agreed_and_both_directions_compress() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    // Some history, so that the login answer is worth compressing.
    let mut ann = server.user("ann").await;
    // The test configuration replays the newest 30.
    let history = ann.say_history(30).await;
    let (mut ws, head) = RawWs::open_offering(
        &server,
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    )
    .await;
    assert!(
        head.contains("sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        "{head}"
    );
    // The login, compressed by the client (RSV1 on the frame).
    let mut login_frame = frame(true, TEXT, &deflated(&login("web")));
    login_frame[0] |= 0x40;
    ws.write(&login_frame).await;
    let answer = ws.next().await.expect("the login answer");
    assert!(answer.rsv1, "the answer with 30 messages of history comes compressed");
    let text = inflated(&answer.payload);
    assert!(answer.payload.len() * 3 < text.len(), "{} of {}", answer.payload.len(), text.len());
    let reply: Frame = shared::decode(&text).expect("a protocol frame");
    assert_eq!(reply.username_accepted, Some(true));
    assert_eq!(reply.messages, Some(history));
    // A long message sent compressed reaches a native client whole; a short one from it
    // comes uncompressed.
    let long = "words ".repeat(500);
    let msg = Frame::messages(vec![Message::new("web", "ALL", now(), long.trim_end())]);
    let mut f = frame(true, TEXT, &deflated(&json(&msg)));
    f[0] |= 0x40;
    ws.write(&f).await;
    assert_eq!(ann.next_message().await.content, long.trim_end());
    ann.say("ALL", "short").await;
    loop {
        let got = ws.next().await.expect("a frame");
        let payload = if got.rsv1 { inflated(&got.payload) } else { got.payload.clone() };
        let f: Frame = shared::decode(&payload).expect("frame");
        let texts: Vec<String> =
            f.messages.unwrap_or_default().into_iter().map(|m| m.content).collect();
        if texts.contains(&"short".to_owned()) {
            assert!(!got.rsv1, "a short frame is not worth compressing");
            break;
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_compressed_frame_without_the_extension_or_past_the_limit_is_refused() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    // Not offered: RSV1 is a protocol error.
    let mut ws = RawWs::open(&server).await;
    let mut f = frame(true, TEXT, &deflated(&login("nodeflate")));
    f[0] |= 0x40;
    ws.write(&f).await;
    let close = ws.next().await.expect("a close");
    assert_eq!(close.close_status(), 1002);
    // Offered: a bomb that inflates past the 1 MiB limit closes with 1009.
    let (mut ws, _) =
        RawWs::open_offering(&server, "Sec-WebSocket-Extensions: permessage-deflate\r\n").await;
    let bomb = deflated(&vec![b' '; 4 << 20]);
    assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
    let mut f = frame(true, TEXT, &bomb);
    f[0] |= 0x40;
    ws.write(&f).await;
    let mut last = None;
    while let Some(got) = ws.next().await {
        last = Some(got);
    }
    assert_eq!(last.expect("a close").close_status(), 1009);
    server.stop().await;
}

#[tokio::test]
async fn a_fragmented_message_is_put_together_around_a_ping() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ws = RawWs::open(&server).await;
    let hello = login("frag");
    let (a, rest) = hello.split_at(5);
    let (b, c) = rest.split_at(7);
    ws.write(&frame(false, TEXT, a)).await;
    ws.write(&frame(false, CONTINUATION, b)).await;
    // a control frame may come between the fragments of a message
    ws.write(&frame(true, PING, b"mid")).await;
    ws.write(&frame(true, CONTINUATION, c)).await;
    let pong = ws.next().await.expect("pong");
    assert_eq!((pong.opcode, pong.payload.as_slice()), (PONG, &b"mid"[..]));
    let reply = ws.recv().await;
    assert_eq!(reply.username_accepted, Some(true), "{reply:?}");
    assert_eq!(reply.user_list, Some(vec!["frag".to_owned()]));
    server.stop().await;
}

#[tokio::test]
async fn a_ping_is_answered_with_its_payload() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ws = RawWs::open(&server).await;
    ws.write(&frame(true, PING, b"are you there")).await;
    let pong = ws.next().await.expect("pong");
    assert_eq!((pong.fin, pong.opcode), (true, PONG));
    assert_eq!(pong.payload, b"are you there");
    // and an unanswered pong from the client is simply taken
    ws.write(&frame(true, PONG, b"")).await;
    ws.write(&frame(true, TEXT, &login("pinger"))).await;
    assert_eq!(ws.recv().await.username_accepted, Some(true));
    server.stop().await;
}

#[tokio::test]
async fn a_frame_over_the_limit_is_refused_from_its_header_alone() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    let mut ws = RawWs::open(&server).await;
    // Only the header of a frame one byte over the limit: the server answers without
    // waiting for (or making room for) the payload.
    let len = shared::limits::MAX_CLIENT_FRAME_LEN as u64 + 1;
    let mut header = vec![0x80 | TEXT, 0x80 | 127];
    header.extend_from_slice(&len.to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    ws.write(&header).await;
    let error = ws.recv().await.error.expect("an ERROR");
    assert!(error.contains("over the limit"), "{error}");
    assert_eq!(ws.next().await.expect("close").close_status(), 1009, "message too big");
    assert!(ws.next().await.is_none(), "then the connection ends");
    // nobody else noticed
    let mut bob = server.user("bob").await;
    ann.say("ALL", "still here").await;
    bob.recv_message("still here").await;
    server.stop().await;
}

#[tokio::test]
async fn fragments_over_the_limit_together_are_refused() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ws = RawWs::open(&server).await;
    let half = vec![b' '; shared::limits::MAX_CLIENT_FRAME_LEN / 2 + 1];
    ws.write(&frame(false, TEXT, &half)).await;
    ws.write(&frame(true, CONTINUATION, &half)).await;
    let error = ws.recv().await.error.expect("an ERROR");
    assert!(error.contains("over the limit"), "{error}");
    assert_eq!(ws.next().await.expect("close").close_status(), 1009);
    server.stop().await;
}

#[tokio::test]
async fn a_close_is_answered_and_ends_the_connection() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut watcher = server.user("watcher").await;
    let mut ws = RawWs::open(&server).await;
    ws.write(&frame(true, TEXT, &login("leaver"))).await;
    assert_eq!(ws.recv().await.username_accepted, Some(true));
    watcher.recv_where(|f| f.users_joined == Some(vec!["leaver".to_owned()])).await;
    ws.write(&frame(true, CLOSE, &1000u16.to_be_bytes())).await;
    let close = ws.next().await.expect("the server's close");
    assert_eq!(close.close_status(), 1000);
    assert!(ws.next().await.is_none(), "then the stream ends");
    watcher.recv_where(|f| f.users_left == Some(vec!["leaver".to_owned()])).await;
    server.stop().await;
}

#[tokio::test]
async fn a_close_with_a_status_that_may_not_travel_is_answered_with_a_protocol_error() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ws = RawWs::open(&server).await;
    // 1005 is reserved for "no status received" and never sent (RFC 6455 7.4.1)
    ws.write(&frame(true, CLOSE, &1005u16.to_be_bytes())).await;
    assert_eq!(ws.next().await.expect("the server's close").close_status(), 1002);
    assert!(ws.next().await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn an_unmasked_frame_is_a_protocol_error() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ws = RawWs::open(&server).await;
    let hello = login("bare");
    let mut unmasked = vec![0x80 | TEXT, hello.len() as u8];
    unmasked.extend_from_slice(&hello);
    ws.write(&unmasked).await;
    assert_eq!(ws.next().await.expect("close").close_status(), 1002);
    assert!(ws.next().await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_frame_cut_across_tls_records_is_read() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ws = RawWs::open(&server).await;
    // every byte in a TLS record (and a write) of its own
    for b in frame(true, TEXT, &login("trickle")) {
        ws.write(&[b]).await;
    }
    assert_eq!(ws.recv().await.username_accepted, Some(true));
    server.stop().await;
}

#[tokio::test]
async fn several_frames_in_one_record_are_each_read_in_order() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut reader = server.user("reader").await;
    let mut ws = RawWs::open(&server).await;
    let mut bytes = frame(true, TEXT, &login("packer"));
    for text in ["first", "second"] {
        let m = json(&Frame::messages(vec![Message::new("packer", "ALL", now(), text)]));
        bytes.extend_from_slice(&frame(true, TEXT, &m));
    }
    ws.write(&bytes).await;
    assert_eq!(ws.recv().await.username_accepted, Some(true));
    assert_eq!(reader.recv_message("first").await.src, "packer");
    assert_eq!(reader.next_message().await.content, "second");
    server.stop().await;
}

#[tokio::test]
async fn long_frames_to_a_browser_use_the_longer_length_forms() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    let long = ["a", "b"].map(|c| c.repeat(40_000));
    for content in &long {
        ann.say("ALL", content).await;
    }
    let mut ws = RawWs::open(&server).await;
    ws.write(&frame(true, TEXT, &login("web"))).await;
    // the login reply carries both as history: over 64 KiB, the 64-bit length form
    let reply = ws.next().await.expect("login reply");
    assert!(reply.payload.len() > 0xFFFF, "{}", reply.payload.len());
    let history = reply.frame().messages.expect("history");
    assert_eq!(history.iter().map(|m| &m.content).collect::<Vec<_>>(), [&long[0], &long[1]]);
    // a 300-byte message: the 16-bit form
    let content = "y".repeat(300);
    ann.say("ALL", &content).await;
    let live = ws.next().await.expect("message");
    assert!((126..=0xFFFF).contains(&live.payload.len()), "{}", live.payload.len());
    assert_eq!(live.frame().messages.expect("messages")[0].content, content);
    server.stop().await;
}
