//! Monitoring on the web port: `/metrics` counts connections, logins and deliveries while
//! users chat over both transports, and `/healthz` says the server is ready.

use std::time::{Duration, Instant};

use shared::Frame;
use test_support::*;

async fn get(server: &TestServer, path: &str) -> String {
    https_get(server.web.expect("gateway"), &server.ca, path).await
}

/// The value of the sample `name` (with its labels as printed) in a `/metrics` answer.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `/metrics` once `want` holds of it: the server counts just after doing what a client sees,
/// so a request may arrive a moment before the count.
async fn metrics_where(server: &TestServer, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let metrics = get(server, "/metrics").await;
        if want(&metrics) {
            return metrics;
        }
        assert!(Instant::now() < deadline, "/metrics never showed it:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const ACCEPTED: &str = "chatterbox_logins_total{result=\"accepted\"}";
const REFUSED: &str = "chatterbox_logins_total{result=\"refused\"}";
const NATIVE: &str = "chatterbox_connections{transport=\"native\"}";
const WEBSOCKET: &str = "chatterbox_connections{transport=\"websocket\"}";
const DELIVERIES: &str = "chatterbox_deliveries_total";

#[tokio::test]
async fn metrics_count_connections_logins_and_deliveries() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let before = get(&server, "/metrics").await;
    assert!(before.starts_with("HTTP/1.1 200"), "{before}");
    let head = before.to_ascii_lowercase();
    assert!(head.contains("content-type: text/plain; version=0.0.4"), "{before}");
    assert!(head.contains("cache-control: no-store"), "{before}");
    for name in [ACCEPTED, REFUSED, NATIVE, WEBSOCKET, DELIVERIES] {
        assert_eq!(sample(&before, name), Some(0.0), "{name} starts at 0:\n{before}");
    }
    assert_eq!(sample(&before, "chatterbox_jetstream_consumer_lag"), Some(0.0));

    let mut ann = server.user("ann").await;
    let web = server.web.expect("gateway");
    let mut bob = ws_connect(web, &server.ca, None).await.expect("WebSocket");
    ws_send(&mut bob, &Frame { username: Some("ann".into()), ..Frame::default() }).await;
    assert_eq!(ws_recv(&mut bob).await.username_accepted, Some(false), "the name is taken");
    ws_send(&mut bob, &Frame { username: Some("bob".into()), ..Frame::default() }).await;
    assert_eq!(ws_recv(&mut bob).await.username_accepted, Some(true));
    ann.say("ALL", "hello bob").await;
    let got = ws_recv_where(&mut bob, |f| f.messages.is_some()).await;
    assert_eq!(got.messages.expect("messages")[0].content, "hello bob");

    let m = metrics_where(&server, |m| sample(m, DELIVERIES) == Some(1.0)).await;
    assert_eq!(sample(&m, ACCEPTED), Some(2.0), "{m}");
    assert_eq!(sample(&m, REFUSED), Some(1.0), "{m}");
    assert_eq!(sample(&m, NATIVE), Some(1.0), "{m}");
    assert_eq!(sample(&m, WEBSOCKET), Some(1.0), "{m}");
    assert_eq!(sample(&m, "chatterbox_outbox_disconnects_total"), Some(0.0), "{m}");
    let commits = sample(&m, "chatterbox_store_commit_seconds_count").expect("commit histogram");
    assert!(commits >= 1.0, "the message was committed: {m}");

    drop(ann);
    let m = metrics_where(&server, |m| sample(m, NATIVE) == Some(0.0)).await;
    assert_eq!(sample(&m, WEBSOCKET), Some(1.0), "{m}");

    let health = get(&server, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.to_ascii_lowercase().contains("cache-control: no-store"), "{health}");
    assert!(health.ends_with("\r\n\r\nok"), "{health}");
    server.stop().await;
}

#[tokio::test]
async fn healthz_answers_even_a_connection_over_its_address_limit() {
    let dirs = Dirs::new();
    let server =
        TestServer::start(chatterbox_server::Config { max_per_address: 0, ..dirs.config() }).await;
    let page = get(&server, "/").await;
    assert!(page.starts_with("HTTP/1.1 429"), "the page is refused: {page}");
    let health = get(&server, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200") && health.ends_with("ok"), "{health}");
    server.stop().await;
}
