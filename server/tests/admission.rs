//! Admission by address: a connection over its address's limit is told why (on every port),
//! and addresses exempted with `--exempt-address` are under no per-address limit.

use futures_util::StreamExt;
use shared::Frame;
use test_support::*;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// What the refusal says, whatever the limit.
const OVER_THE_LIMIT: &str = "Too many connections from your address";

fn is_refusal(f: &Frame, max: usize) -> bool {
    f.error
        .as_deref()
        .is_some_and(|e| e.contains(OVER_THE_LIMIT) && e.contains(&format!("at most {max} ")))
}

#[tokio::test]
async fn a_connection_over_the_address_limit_is_told_why() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.max_per_address = 1;
    config.plaintext_port = Some(0);
    let server = chatterbox_server::Server::bind(config).await.expect("binds");
    let (native, plain) = (server.local_addrs()[0], server.plaintext_addrs()[0]);
    let web = server.web_addrs()[0];
    let ca = server.ca_path().expect("generated CA").to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let mut ann = Client::connect(native, &ca).await;
    assert_eq!(ann.login("ann").await.username_accepted, Some(true));

    // native TLS: the ERROR after the handshake, then the end of the connection
    let frames = Client::connect(native, &ca).await.expect_closed(PATIENCE).await;
    assert!(frames.iter().any(|f| is_refusal(f, 1)), "{frames:?}");

    // the plaintext debugging port says the same
    let mut tcp = tokio::net::TcpStream::connect(plain).await.expect("connect");
    let mut prefix = [0u8; 4];
    tokio::time::timeout(PATIENCE, tcp.read_exact(&mut prefix))
        .await
        .expect("in time")
        .expect("prefix");
    let mut json = vec![0u8; u32::from_be_bytes(prefix) as usize];
    tcp.read_exact(&mut json).await.expect("frame");
    let frame = shared::decode(&json).expect("a protocol frame");
    assert!(is_refusal(&frame, 1), "{frame:?}");

    // the WebSocket gets the ERROR, then a close
    let mut ws = ws_connect(web, &ca, None).await.expect("upgrade");
    let got = tokio::time::timeout(PATIENCE, ws.next()).await.expect("in time");
    let Some(Ok(WsMessage::Text(text))) = got else { panic!("a text message: {got:?}") };
    assert!(is_refusal(&shared::decode(text.as_bytes()).expect("frame"), 1), "{text}");
    let got = tokio::time::timeout(PATIENCE, ws.next()).await.expect("in time");
    assert!(matches!(got, Some(Ok(WsMessage::Close(_)))), "{got:?}");

    // the page over HTTPS: 429 with the reason
    let page = https_get(web, &ca, "/").await;
    assert!(page.starts_with("HTTP/1.1 429"), "{page}");
    assert!(page.contains(OVER_THE_LIMIT), "{page}");

    // the admitted connection was never disturbed, and its place frees when it leaves
    ann.send_json(b"{}").await;
    assert!(ann.recv_error().await.contains("no request"));
    drop(ann);
    let mut admitted = false;
    for _ in 0..100 {
        let mut c = Client::connect(native, &ca).await;
        c.send(&Frame { username: Some("bob".into()), ..Frame::default() }).await;
        if let Next::Frame(f) = c.next_within(PATIENCE).await
            && f.username_accepted == Some(true)
        {
            admitted = true;
            break;
        }
    }
    assert!(admitted, "admitted once the place is free");
    let _ = stop.send(());
    running.await.expect("server task").expect("server ran cleanly");
}

#[tokio::test]
async fn an_exempt_address_is_under_no_per_address_limit() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.max_per_address = 1;
    config.login_rate = Some(chatterbox_server::throttle::Rate { burst: 1, per_second: 0.001 });
    config.exempt = vec!["127.0.0.0/8".parse().expect("block")];
    let server = TestServer::start(config).await;
    // more connections and more logins than either limit allows
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(server.user(&format!("u{i}")).await);
    }
    users[0].say("ALL", "all in").await;
    users[4].recv_message("all in").await;
    server.stop().await;

    // the same limits without the exemption
    let mut config = dirs.config();
    config.max_per_address = 1;
    let server = TestServer::start(config).await;
    let _first = server.user("first").await;
    let frames = server.client().await.expect_closed(PATIENCE).await;
    assert!(frames.iter().any(|f| is_refusal(f, 1)), "{frames:?}");
    server.stop().await;
}

#[test]
fn a_malformed_exempt_address_stops_the_server_with_the_reason() {
    let out = std::process::Command::new(bin!("chatterbox-server"))
        .args(["--exempt-address", "10.1.2.3/8"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--exempt-address"), "{stderr}");
    assert!(stderr.contains("the block is 10.0.0.0/8"), "{stderr}");
}
