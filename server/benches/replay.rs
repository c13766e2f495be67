//! Compression benchmark (run by `cargo xtask bench`): the bytes and the time of a login's
//! replay of 1,000 messages, with and without compression, on the native protocol (extension
//! `compress`, zstd) and on the WebSocket gateway (permessage-deflate), against a server in
//! this process; and what each zstd and deflate level makes of that replay, which is how the
//! levels were chosen. Prints `key=value` lines.
//!
//! Time is from the login's first byte written to the answer decoded (decompression
//! included), the connection made beforehand; bytes are the answer's on the wire (prefix or
//! WebSocket header included, TLS not).

use std::time::{Duration, Instant};

use chatterbox_server::transport::deflate;
use shared::Frame;
use shared::compress::{COMPRESSED, decompress};
use shared::limits::MAX_SERVER_FRAME_LEN;
use test_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Messages in the store and in each login's replay.
const REPLAY: usize = 1000;
/// Logins timed per way of logging in.
const LOGINS: usize = 200;
/// Senders the history comes from (names repeat, as in a real room).
const SENDERS: usize = 10;
/// Compressions timed per level.
const LEVEL_RUNS: usize = 50;

/// A line of chat: 4 to 15 words drawn from a vocabulary of 27,000 (three syllables of 30),
/// most often the short common ones, as in people's writing; pseudo-random but the same on
/// every run. Less repetitive than real chat, so the ratios below are if anything low.
fn line(i: usize) -> String {
    const SYLLABLES: [&str; 30] = [
        "a", "be", "ca", "do", "el", "fi", "go", "ha", "in", "jo", "ka", "lo", "me", "no", "or",
        "pa", "qu", "re", "si", "to", "un", "ve", "wa", "xi", "yo", "ze", "th", "ng", "st", "ch",
    ];
    let mut x =
        (i as u64).wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    let mut next = || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) as usize
    };
    let n = 4 + next() % 12;
    let words: Vec<String> = (0..n)
        .map(|_| {
            // Short words are the common ones: one syllable half the time.
            let len = [1, 1, 2, 3][next() % 4];
            (0..len).map(|_| SYLLABLES[next() % SYLLABLES.len()]).collect()
        })
        .collect();
    words.join(" ")
}

fn login(name: &str, features: &[&str]) -> Vec<u8> {
    shared::encode(&Frame {
        username: Some(name.into()),
        features: Some(features.iter().map(|f| (*f).to_owned()).collect()),
        ..Frame::default()
    })
}

/// One native login: (bytes of the answer, time to the decoded answer).
async fn native_login(
    tls: &mut TlsStream<TcpStream>,
    name: &str,
    compress: bool,
) -> (usize, Duration) {
    let features: &[&str] = if compress { &["compress"] } else { &[] };
    let json = login(name, features);
    let mut raw = (json.len() as u32).to_be_bytes().to_vec();
    raw.extend_from_slice(&json);
    let t = Instant::now();
    tls.write_all(&raw).await.expect("login");
    let mut prefix = [0u8; 4];
    tls.read_exact(&mut prefix).await.expect("prefix");
    let head = u32::from_be_bytes(prefix);
    let mut body = vec![0u8; (head & !COMPRESSED) as usize];
    tls.read_exact(&mut body).await.expect("body");
    let text = if head & COMPRESSED != 0 {
        decompress(&body, MAX_SERVER_FRAME_LEN).expect("zstd")
    } else {
        body.clone()
    };
    let frame: Frame = shared::decode(&text).expect("frame");
    let took = t.elapsed();
    assert_eq!(frame.messages.map(|m| m.len()), Some(REPLAY), "{name}: the whole replay");
    assert_eq!(head & COMPRESSED != 0, compress);
    (4 + body.len(), took)
}

/// One WebSocket login (the upgrade made beforehand): (bytes, time).
async fn ws_login(tls: &mut TlsStream<TcpStream>, name: &str, deflated: bool) -> (usize, Duration) {
    let json = login(name, &[]);
    let mask = [1u8, 2, 3, 4];
    assert!(json.len() < 126, "a login fits the short length form");
    let mut f = vec![0x81, 0x80 | json.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(json.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let t = Instant::now();
    tls.write_all(&f).await.expect("login");
    let mut head = [0u8; 2];
    tls.read_exact(&mut head).await.expect("header");
    let (ext, len) = match head[1] & 0x7F {
        126 => {
            let mut n = [0u8; 2];
            tls.read_exact(&mut n).await.expect("length");
            (2, u64::from(u16::from_be_bytes(n)))
        }
        127 => {
            let mut n = [0u8; 8];
            tls.read_exact(&mut n).await.expect("length");
            (8, u64::from_be_bytes(n))
        }
        n => (0, u64::from(n)),
    };
    let mut body = vec![0u8; usize::try_from(len).expect("length")];
    tls.read_exact(&mut body).await.expect("body");
    let compressed = head[0] & 0x40 != 0;
    let text = if compressed {
        deflate::inflate(&body, MAX_SERVER_FRAME_LEN).expect("inflate")
    } else {
        body.clone()
    };
    let frame: Frame = shared::decode(&text).expect("frame");
    let took = t.elapsed();
    assert_eq!(frame.messages.map(|m| m.len()), Some(REPLAY), "{name}: the whole replay");
    assert_eq!(compressed, deflated);
    (2 + ext + body.len(), took)
}

/// A WebSocket on the gateway, offering permessage-deflate or not.
async fn ws_open(server: &TestServer, deflate: bool) -> TlsStream<TcpStream> {
    let web = server.web.expect("gateway");
    let mut tls = tls_connect(web, &server.ca).await;
    let offer = if deflate { "Sec-WebSocket-Extensions: permessage-deflate\r\n" } else { "" };
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: localhost:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n",
        web.port()
    );
    tls.write_all(request.as_bytes()).await.expect("upgrade");
    // The answer's head, byte by byte (the frames follow it).
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tls.read_u8().await.expect("head"));
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    tls
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Prints `{key}_bytes`, `{key}_p50_ms` and `{key}_p99_ms` of one way of logging in.
fn report(key: &str, mut runs: Vec<(usize, Duration)>) {
    runs.sort_by_key(|r| r.1);
    let p = |q: f64| ms(runs[((runs.len() - 1) as f64 * q).round() as usize].1);
    println!("{key}_bytes={}", runs[0].0);
    println!("{key}_p50_ms={:.3}", p(0.5));
    println!("{key}_p99_ms={:.3}", p(0.99));
}

/// What each level makes of the replay's JSON: bytes and the median time of one compression.
fn levels(json: &[u8]) {
    println!("replay_json_bytes={}", json.len());
    for level in [1, 3, 6, 9] {
        let mut c = zstd::bulk::Compressor::new(level).expect("zstd");
        let mut times = Vec::with_capacity(LEVEL_RUNS);
        let mut len = 0;
        for _ in 0..LEVEL_RUNS {
            let t = Instant::now();
            len = c.compress(json).expect("compress").len();
            times.push(t.elapsed());
        }
        times.sort();
        println!("zstd_{level}_bytes={len}");
        println!("zstd_{level}_ms={:.3}", ms(times[LEVEL_RUNS / 2]));
    }
    for level in [1, 6, 9] {
        let mut times = Vec::with_capacity(LEVEL_RUNS);
        let mut len = 0;
        for _ in 0..LEVEL_RUNS {
            let t = Instant::now();
            let mut d = flate2::Compress::new(flate2::Compression::new(level), false);
            let mut out = Vec::with_capacity(json.len());
            d.compress_vec(json, &mut out, flate2::FlushCompress::Finish).expect("deflate");
            len = out.len();
            times.push(t.elapsed());
        }
        times.sort();
        println!("deflate_{level}_bytes={len}");
        println!("deflate_{level}_ms={:.3}", ms(times[LEVEL_RUNS / 2]));
    }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let dirs = Dirs::new();
        let mut config = dirs.config();
        config.history = REPLAY;
        config.flood = None;
        config.login_rate = None;
        let server = TestServer::start(config).await;
        let mut senders = Vec::new();
        for s in 0..SENDERS {
            senders.push(server.user(&format!("member{s}")).await);
        }
        for i in 0..REPLAY {
            // The next sender waits for each message (reading what came before it), so the
            // message is stored and nobody's connection backs up.
            let text = line(i);
            senders[i % SENDERS].say("ALL", &text).await;
            senders[(i + 1) % SENDERS].recv_message(&text).await;
        }

        let mut plain = Vec::with_capacity(LOGINS);
        let mut packed = Vec::with_capacity(LOGINS);
        for k in 0..LOGINS {
            for (compress, out) in [(false, &mut plain), (true, &mut packed)] {
                let mut tls = tls_connect(server.addr, &server.ca).await;
                out.push(native_login(&mut tls, &format!("r{k}{compress}"), compress).await);
            }
        }
        report("native_plain", plain);
        report("native_zstd", packed);
        let mut plain = Vec::with_capacity(LOGINS);
        let mut packed = Vec::with_capacity(LOGINS);
        for k in 0..LOGINS {
            for (deflate, out) in [(false, &mut plain), (true, &mut packed)] {
                let mut tls = ws_open(&server, deflate).await;
                out.push(ws_login(&mut tls, &format!("w{k}{deflate}"), deflate).await);
            }
        }
        report("ws_plain", plain);
        report("ws_deflate", packed);

        // The replay's JSON as the server sends it.
        let mut tls = tls_connect(server.addr, &server.ca).await;
        let json = login("levels", &[]);
        let mut raw = (json.len() as u32).to_be_bytes().to_vec();
        raw.extend_from_slice(&json);
        tls.write_all(&raw).await.expect("login");
        let mut prefix = [0u8; 4];
        tls.read_exact(&mut prefix).await.expect("prefix");
        let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
        tls.read_exact(&mut body).await.expect("body");
        levels(&body);
        server.stop().await;
    });
}
