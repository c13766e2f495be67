//! The web gateway: the page over HTTPS with its security headers, and WebSocket sessions that
//! follow exactly the same protocol as native ones and meet native users in one chat.

use futures_util::{SinkExt, StreamExt};
use shared::{Frame, Message};
use test_support::*;
use tokio_tungstenite::tungstenite::Message as WsMessage;

async fn get(server: &TestServer, path: &str) -> String {
    https_get(server.web.expect("gateway"), &server.ca, path).await
}

async fn open(server: &TestServer, origin: Option<&str>) -> Result<WsStream, String> {
    ws_connect(server.web.expect("gateway"), &server.ca, origin).await
}

fn own_origin(server: &TestServer) -> String {
    format!("https://localhost:{}", server.web.expect("gateway").port())
}

#[tokio::test]
async fn the_page_is_served_with_a_content_security_policy() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let page = get(&server, "/").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let lower = page.to_ascii_lowercase();
    assert!(lower.contains("content-type: text/html"), "{page}");
    assert!(
        lower.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{page}"
    );
    assert!(lower.contains("x-content-type-options: nosniff"));
    assert!(page.contains("Chatterbox"));
    assert!(get(&server, "/no-such-file").await.starts_with("HTTP/1.1 404"));
    server.stop().await;
}

#[tokio::test]
async fn browser_and_native_users_share_one_chat() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut native = server.user("native").await;
    let mut ws = open(&server, Some(&own_origin(&server))).await.expect("same origin allowed");
    ws_send(&mut ws, &Frame { username: Some("native".into()), ..Frame::default() }).await;
    let refused = ws_recv(&mut ws).await;
    assert_eq!(refused.username_accepted, Some(false), "names are unique across transports");
    ws_send(&mut ws, &Frame { username: Some("browser".into()), ..Frame::default() }).await;
    let accepted = ws_recv(&mut ws).await;
    assert_eq!(accepted.username_accepted, Some(true));
    assert_eq!(accepted.user_list, Some(vec!["browser".to_owned(), "native".to_owned()]));
    native.recv_where(|f| f.users_joined == Some(vec!["browser".to_owned()])).await;

    ws_send(
        &mut ws,
        &Frame::messages(vec![Message::new("browser", "ALL", now(), "from the web ü")]),
    )
    .await;
    assert_eq!(native.recv_message("from the web ü").await.src, "browser");
    native.say("browser", "from the terminal").await;
    let f = ws_recv_where(&mut ws, |f| f.messages.is_some()).await;
    assert_eq!(f.messages.expect("messages")[0].content, "from the terminal");
    // the same rules: a spoofed SRC and bad JSON get ERRORs, the connection goes on
    ws_send(&mut ws, &Frame::messages(vec![Message::new("native", "ALL", now(), "spoof")])).await;
    assert!(ws_recv(&mut ws).await.error.expect("ERROR").contains("not your username"));
    ws.send(WsMessage::text("{not json")).await.expect("send");
    assert!(ws_recv(&mut ws).await.error.expect("ERROR").contains("not valid JSON"));
    drop(ws);
    native.recv_where(|f| f.users_left == Some(vec!["browser".to_owned()])).await;
    server.stop().await;
}

#[tokio::test]
async fn a_foreign_origin_is_refused_unless_allowed() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let err = open(&server, Some("https://evil.example")).await.expect_err("refused");
    assert!(err.contains("403"), "{err}");
    server.stop().await;
    let mut config = dirs.config();
    config.allow_origins = vec!["http://localhost:8080".into()];
    let server = TestServer::start(config).await;
    open(&server, Some("http://localhost:8080")).await.expect("allowed for development");
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_websocket_message_closes_only_that_connection() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    let mut bob = server.user("bob").await;
    let mut ws = open(&server, Some(&own_origin(&server))).await.expect("connect");
    let huge = "x".repeat(shared::limits::MAX_CLIENT_FRAME_LEN + 1);
    let _ = ws.send(WsMessage::text(huge)).await;
    assert!(ws_closed(&mut ws).await, "the gateway closed the connection");
    ann.say("ALL", "still fine").await;
    bob.recv_message("still fine").await;
    server.stop().await;
}

#[tokio::test]
async fn the_gateway_pings_and_drops_a_browser_that_never_answers() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.ws_ping = std::time::Duration::from_millis(300);
    let server = TestServer::start(config).await;
    // a client that reads sees the pings (and answers them, so it stays)
    let mut ws = open(&server, None).await.expect("connect");
    let ping = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(Ok(WsMessage::Ping(_))) = ws.next().await {
                return;
            }
        }
    })
    .await;
    assert!(ping.is_ok(), "a ping within the interval");
    // one that never reads never pongs: closed after two intervals, while one that reads
    // (and so answers the pings) stays. The reader, older than the mute one, has been
    // through at least as many intervals when the mute one is closed.
    let mut mute = open(&server, None).await.expect("connect");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reading = tokio::spawn(async move {
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                _ = &mut stopped => return ws,
                m = ws.next() => assert!(matches!(m, Some(Ok(_))), "the reader stays: {m:?}"),
            }
        }
    });
    // the mute connection is read beneath the WebSocket layer, which would answer the pings
    assert!(stream_closed(mute.get_mut()).await, "the silent connection was closed");
    stop.send(()).expect("the reader is still reading");
    let mut ws = reading.await.expect("reader");
    ws_send(&mut ws, &Frame { username: Some("stayer".into()), ..Frame::default() }).await;
    assert_eq!(
        ws_recv_where(&mut ws, |f| f.username_accepted.is_some()).await.username_accepted,
        Some(true)
    );
    server.stop().await;
}
