//! Extension `compress` on the native protocol against the real server: a client that asks
//! gets its login answer zstd-compressed (flagged in the length prefix) and chats with plain
//! clients both ways; a plain client never sees a compressed frame; a compressed frame that
//! would decompress past the limit, or comes from a client that did not negotiate, is refused.

use shared::codec::PREFIX_LEN;
use shared::compress::{COMPRESSED, decompress};
use shared::limits::{MAX_CLIENT_FRAME_LEN, MAX_SERVER_FRAME_LEN};
use shared::{Frame, Message};
use test_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn login(name: &str, features: &[&str]) -> Vec<u8> {
    let f = Frame {
        username: Some(name.into()),
        features: Some(features.iter().map(|f| (*f).to_owned()).collect()),
        ..Frame::default()
    };
    let json = shared::encode(&f);
    let mut raw = (json.len() as u32).to_be_bytes().to_vec();
    raw.extend_from_slice(&json);
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressing_client_gets_a_compressed_login_and_chats_with_plain_ones() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    // The test configuration replays the newest 30.
    let history = ann.say_history(30).await;

    // The login answer, as it is on the wire.
    let mut tls = tls_connect(server.addr, &server.ca).await;
    tls.write_all(&login("zed", &["compress"])).await.expect("login");
    let mut prefix = [0u8; PREFIX_LEN];
    tls.read_exact(&mut prefix).await.expect("prefix");
    let raw = u32::from_be_bytes(prefix);
    assert_ne!(raw & COMPRESSED, 0, "the login answer is flagged compressed");
    let mut body = vec![0u8; (raw & !COMPRESSED) as usize];
    tls.read_exact(&mut body).await.expect("body");
    let json = decompress(&body, MAX_SERVER_FRAME_LEN).expect("zstd");
    assert!(body.len() * 3 < json.len(), "{} bytes for {}", body.len(), json.len());
    let reply: Frame = shared::decode(&json).expect("a protocol frame");
    assert_eq!(reply.username_accepted, Some(true));
    assert_eq!(reply.features, Some(vec!["compress".to_owned()]));
    assert_eq!(reply.messages, Some(history));

    // From here on, frames both ways through the codec with compression on.
    let mut zed = Client::over(tls);
    zed.name = "zed".into();
    zed.io.codec_mut().compress(true);
    let long = "a long line of chat ".repeat(100);
    zed.send(&Frame::messages(vec![Message::new("zed", "ALL", now(), long.trim_end())])).await;
    assert_eq!(ann.next_message().await.content, long.trim_end());
    ann.say("ALL", "and a short answer").await;
    assert_eq!(zed.recv_message("and a short answer").await.src, "ann");

    // A plain client's login answer with the same history is not compressed.
    let mut plain = tls_connect(server.addr, &server.ca).await;
    plain.write_all(&login("pat", &[])).await.expect("login");
    plain.read_exact(&mut prefix).await.expect("prefix");
    assert_eq!(u32::from_be_bytes(prefix) & COMPRESSED, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_frames_are_refused_without_the_extension_and_past_the_limit() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    // Not negotiated: the flag makes the frame longer than any limit.
    let mut plain = server.user("plain").await;
    let packed = shared::compress::compress(&vec![b' '; 4096]).expect("compressible");
    let mut raw = ((packed.len() as u32) | COMPRESSED).to_be_bytes().to_vec();
    raw.extend_from_slice(&packed);
    plain.send_raw(&raw).await;
    let err = plain.recv_error().await;
    assert!(err.contains("over the limit"), "{err}");
    plain.expect_closed(PATIENCE).await;

    // Negotiated: a bomb that would decompress past the 1 MiB client limit.
    let (mut zed, _) = Client::logged_in(server.addr, &server.ca, "zed", Some(&["compress"])).await;
    let bomb = zstd_bomb(MAX_CLIENT_FRAME_LEN + 1);
    let mut raw = ((bomb.len() as u32) | COMPRESSED).to_be_bytes().to_vec();
    raw.extend_from_slice(&bomb);
    zed.send_raw(&raw).await;
    let err = zed.recv_error().await;
    assert!(err.contains("decompressed is over the limit"), "{err}");
    zed.expect_closed(PATIENCE).await;
    server.stop().await;
}

/// `len` bytes of JSON-looking text compressed into a few hundred bytes, its size stated.
fn zstd_bomb(len: usize) -> Vec<u8> {
    let mut text = br#"{"INFO":""#.to_vec();
    text.resize(len - 2, b'x');
    text.extend_from_slice(br#""}"#);
    let packed = shared::compress::compress(&text).expect("compressible");
    assert!(packed.len() < 4096);
    packed
}
