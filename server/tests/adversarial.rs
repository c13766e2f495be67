//! Hostile and broken peers against the real server process, each while a healthy pair keeps
//! chatting: the pair must still be served, the attacker must not grow the server's memory
//! beyond a bound, and nobody else's messages may be lost.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use shared::{Frame, Message};
use test_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A healthy client must get a broadcast within this, whatever else is going on. Generous:
/// this is a liveness check under attack on a loaded 2-core machine, not a latency benchmark.
const PROMPT: Duration = Duration::from_secs(5);

/// How much the server's resident memory may grow during one attack.
const MEMORY_BOUND_KIB: u64 = 150 * 1024;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server alive");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

struct Pair {
    a: Client,
    b: Client,
    n: u32,
}

impl Pair {
    async fn new(server: &BinServer, ca: &std::path::Path) -> Pair {
        let mut a = Client::connect(server.addr, ca).await;
        assert_eq!(a.login("healthy_a").await.username_accepted, Some(true));
        let mut b = Client::connect(server.addr, ca).await;
        assert_eq!(b.login("healthy_b").await.username_accepted, Some(true));
        Pair { a, b, n: 0 }
    }

    /// One broadcast from a to b; panics unless it arrives within [`PROMPT`].
    async fn probe(&mut self, when: &str) {
        self.n += 1;
        let tag = format!("probe {} {when}", self.n);
        let t0 = Instant::now();
        self.a.say("ALL", &tag).await;
        let got = tokio::time::timeout(PROMPT, self.b.recv_message(&tag)).await;
        assert!(got.is_ok(), "healthy pair not served {when} (waited {:?})", t0.elapsed());
    }

    /// Waits for `fut` while the pair keeps talking privately once a second, as active users
    /// do: their own idle timeout must not run out while the test waits for someone else's.
    /// (Private, so the one waited for sees none of it.)
    async fn chatting_until<F: std::future::Future>(&mut self, fut: F) -> F::Output {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return out,
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    self.n += 1;
                    let tag = format!("keep-alive {}", self.n);
                    self.a.say("healthy_b", &tag).await;
                    self.b.recv_message(&tag).await;
                }
            }
        }
    }
}

/// Starts the server binary with `flags`, a healthy pair, and returns the memory baseline.
async fn setup(flags: &[&str]) -> (Dirs, BinServer, Pair, u64) {
    let dirs = Dirs::new();
    let server = BinServer::spawn(bin!("chatterbox-server"), &dirs, flags);
    let mut pair = Pair::new(&server, &dirs.ca()).await;
    pair.probe("before the attack").await;
    let rss = rss_kib(server.child.id());
    (dirs, server, pair, rss)
}

fn assert_memory(server: &BinServer, before: u64, what: &str) {
    let after = rss_kib(server.child.id());
    assert!(
        after <= before + MEMORY_BOUND_KIB,
        "{what}: server memory grew from {before} KiB to {after} KiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_length_prefixes_and_a_10_mib_frame_close_only_their_connections() {
    let (dirs, server, mut pair, rss) = setup(&[]).await;
    for prefix in [0x0010_0001_u32, 0x7fff_ffff, 0xffff_ffff] {
        let mut evil = Client::connect(server.addr, &dirs.ca()).await;
        evil.send_raw(&prefix.to_be_bytes()).await;
        let frames = evil.expect_closed(PATIENCE).await;
        assert!(
            frames.iter().any(|f| f.error.as_deref().is_some_and(|e| e.contains("over the limit")))
        );
        pair.probe("after a huge prefix").await;
    }
    // a 10 MiB frame actually sent: refused from its header, the rest never buffered
    let mut evil = Client::connect(server.addr, &dirs.ca()).await;
    let body = vec![b'x'; 10 << 20];
    let mut wire = ((body.len()) as u32).to_be_bytes().to_vec();
    wire.extend_from_slice(&body);
    let s = evil.io.get_mut();
    let _ = tokio::time::timeout(PATIENCE, s.write_all(&wire)).await;
    let _ = evil.expect_closed(PATIENCE).await;
    pair.probe("after a 10 MiB frame").await;
    assert_memory(&server, rss, "huge frames");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_stalled_connections_are_cut_off_by_their_timeouts() {
    let (dirs, server, mut pair, rss) =
        setup(&["--handshake-timeout", "2", "--login-timeout", "3", "--max-per-address", "5000"])
            .await;
    let mut stalled = Vec::new();
    // 600 stop in the middle of the TLS handshake
    for _ in 0..600 {
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await.expect("half a ClientHello");
        stalled.push(tcp);
    }
    pair.probe("with 600 half-handshakes").await;
    // 400 finish TLS, then stop in the middle of a frame
    let mut mid_frame = Vec::new();
    for _ in 0..400 {
        let mut c = Client::connect(server.addr, &dirs.ca()).await;
        c.send_raw(&[0, 0, 0, 40, b'{', b'"']).await;
        mid_frame.push(c);
    }
    pair.probe("with 1000 stalled connections").await;
    // every one of them is closed by the server
    for mut tcp in stalled {
        assert!(stream_closed(&mut tcp).await, "a stalled handshake was closed");
    }
    for mut c in mid_frame {
        let frames = c.expect_closed(PATIENCE).await;
        assert!(frames.iter().any(|f| f.error.as_deref().is_some_and(|e| e.contains("No login"))));
    }
    pair.probe("after the stalled connections").await;
    assert_memory(&server, rss, "slowloris");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_invalid_utf8_and_deep_json_get_errors_without_harm() {
    let (dirs, server, mut pair, rss) = setup(&[]).await;
    // plain bytes on the TLS port
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(b"GET / HTTP/1.0\r\n\r\n\x00\xff garbage").await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut buf)).await;
    assert!(!buf.starts_with(b"HTTP"), "no plaintext answer");
    // a fatal TLS alert record (content type 21), not a dropped connection
    assert!(buf.starts_with(&[0x15, 0x03]), "a TLS alert: {buf:?}");
    pair.probe("after plaintext on the TLS port").await;
    // invalid UTF-8 and 100,000 levels of nesting, from a logged-in client
    let mut evil = Client::connect(server.addr, &dirs.ca()).await;
    evil.login("evil").await;
    evil.send_json(b"{\"MESSAGES\":[[\"evil\",\"ALL\",1,\"\xff\xfe\"]]}").await;
    assert!(evil.recv_error().await.contains("not valid JSON"));
    let deep = format!("{{\"MESSAGES\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    evil.send_json(deep.as_bytes()).await;
    assert!(evil.recv_error().await.contains("wrong shape"));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    evil.send_json(deep.as_bytes()).await;
    evil.recv_error().await;
    let deep = format!("{{\"X\":{}{}}}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    evil.send_json(deep.as_bytes()).await;
    evil.recv_error().await;
    evil.say("ALL", "evil is still connected").await;
    pair.b.recv_message("evil is still connected").await;
    pair.probe("after bad input").await;
    assert_memory(&server, rss, "bad input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_simultaneous_logins_all_get_an_answer() {
    // (the per-address connection limit is raised so that the logins themselves are tested)
    let (dirs, server, mut pair, rss) = setup(&["--max-per-address", "1000"]).await;
    let ca = dirs.ca();
    let mut tasks = Vec::new();
    for i in 0..500 {
        let ca = ca.clone();
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr, &ca).await;
            let r = c.login(&format!("crowd{i}")).await;
            (r, c)
        }));
    }
    let mut accepted = 0;
    let mut clients = Vec::new();
    for t in tasks {
        let (r, c) = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("answered")
            .expect("task");
        match r.username_accepted {
            Some(true) => accepted += 1,
            Some(false) => assert!(r.info.expect("INFO").contains("Too many login attempts")),
            None => panic!("no answer: {r:?}"),
        }
        clients.push(c);
    }
    // the default rate lets a burst through at once and refuses the rest with a reason
    assert!(accepted >= 60, "{accepted} accepted");
    pair.probe("with 500 new users").await;
    assert_memory(&server, rss, "500 logins");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_in_the_middle_of_a_frame_is_a_departure() {
    let (dirs, server, mut pair, _rss) = setup(&[]).await;
    let mut evil = Client::connect(server.addr, &dirs.ca()).await;
    evil.login("resetter").await;
    pair.a.recv_where(|f| f.users_joined == Some(vec!["resetter".to_owned()])).await;
    evil.send_raw(&[0, 0, 1, 0, b'{', b'"', b'M']).await;
    // SO_LINGER 0: the close sends a TCP RST
    let tcp = evil.io.get_ref().get_ref().0;
    socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO)).expect("linger");
    drop(evil);
    pair.a.recv_where(|f| f.users_left == Some(vec!["resetter".to_owned()])).await;
    pair.probe("after a reset").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_slowed_with_an_error_while_others_are_served() {
    let (dirs, server, mut pair, rss) = setup(&[]).await;
    let mut observer = Client::connect(server.addr, &dirs.ca()).await;
    observer.login("observer").await;
    let mut flooder = Client::connect(server.addr, &dirs.ca()).await;
    flooder.login("flooder").await;
    let sender = tokio::spawn(async move {
        for batch in 0..200 {
            let msgs = (0..100)
                .map(|i| {
                    Message::new("flooder", "ALL", now(), format!("flood {}", batch * 100 + i))
                })
                .collect();
            if tokio::time::timeout(
                Duration::from_millis(200),
                flooder.send(&Frame::messages(msgs)),
            )
            .await
            .is_err()
            {
                break; // the server stopped reading: TCP pushes back on the flooder
            }
        }
        flooder
    });
    pair.probe("during a flood").await;
    let mut flooder = sender.await.expect("flooder");
    let notice = flooder.recv_error().await;
    assert!(notice.contains("sending too fast") && notice.contains("not lost"), "{notice}");
    // the flood is delayed, not lost: its first frame (100 messages, over the burst of 30)
    // arrives after about 7 s at 10 a second, whole and in order
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && next < 100 {
        if let Next::Frame(f) = observer.next_within(Duration::from_millis(200)).await {
            for m in f.messages.into_iter().flatten().filter(|m| m.src == "flooder") {
                assert_eq!(m.content, format!("flood {next}"));
                next += 1;
            }
        }
    }
    assert!(next >= 100, "the first frame of the flood arrived ({next})");
    pair.probe("after the flood").await;
    assert_memory(&server, rss, "flood");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_withstands_the_same() {
    let (dirs, server, mut pair, rss) =
        setup(&["--handshake-timeout", "2", "--login-timeout", "3"]).await;
    let web = server.web.expect("gateway");
    use tokio_tungstenite::tungstenite::Message as Ws;
    let open = || async { ws_connect(web, &dirs.ca(), None).await.expect("upgrade") };
    // oversized message: closed
    let mut big = open().await;
    let _ = big.send(Ws::text("x".repeat(2 << 20))).await;
    assert!(ws_closed(&mut big).await, "the gateway closed the connection");
    pair.probe("after an oversized WebSocket message").await;
    // a flood over the WebSocket: slowed, with a notice
    let mut ws = open().await;
    ws.send(Ws::text(r#"{"USERNAME":"wsflood"}"#)).await.expect("login");
    for batch in 0..50 {
        let msgs: Vec<Message> = (0..100)
            .map(|i| Message::new("wsflood", "ALL", now(), format!("w{}", batch * 100 + i)))
            .collect();
        let text = String::from_utf8(shared::encode(&Frame::messages(msgs))).expect("ascii");
        if tokio::time::timeout(Duration::from_millis(200), ws.send(Ws::text(text))).await.is_err()
        {
            break;
        }
    }
    pair.probe("during a WebSocket flood").await;
    let notice = tokio::time::timeout(PATIENCE, async {
        while let Some(Ok(m)) = ws.next().await {
            if let Ws::Text(t) = m
                && t.contains("sending too fast")
            {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(notice.ok(), Some(true), "the WebSocket flooder is told");
    // stalled HTTPS connections (TLS done, no request) are closed by the gateway's timeouts
    let mut quiet = Vec::new();
    for _ in 0..200 {
        quiet.push(tls_connect(web, &dirs.ca()).await);
    }
    pair.probe("with 200 silent HTTPS connections").await;
    for mut s in quiet {
        assert!(stream_closed(&mut s).await, "a silent HTTPS connection was closed");
    }
    pair.probe("after the gateway attacks").await;
    assert_memory(&server, rss, "gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_and_costs_bounded_memory() {
    let (dirs, server, mut pair, rss) = setup(&["--flood-burst", "0"]).await;
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let tcp = sock.connect(server.addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tls_connector(&dirs.ca()).connect(name, tcp).await.expect("TLS");
    let mut slow = Client::over(tls);
    slow.login("never_reads").await;
    pair.b.recv_where(|f| f.users_joined == Some(vec!["never_reads".to_owned()])).await;
    let filler = "y".repeat(4000);
    let mut dropped = false;
    for batch in 0..80 {
        let msgs = (0..100)
            .map(|i| Message::new("healthy_a", "ALL", now(), format!("{batch}/{i} {filler}")))
            .collect();
        pair.a.send(&Frame::messages(msgs)).await;
        // b reads along, so only the never-reader falls behind
        let last = format!("{batch}/99 {filler}");
        let read = tokio::time::timeout(PROMPT, async {
            loop {
                let f = pair.b.recv().await;
                if let Some(e) = &f.error {
                    panic!("b got an ERROR: {e}");
                }
                dropped |= f.users_left == Some(vec!["never_reads".to_owned()]);
                if f.messages.iter().flatten().any(|m| m.content == last) {
                    return;
                }
            }
        });
        read.await.expect("b keeps receiving");
    }
    if !dropped {
        pair.b.recv_where(|f| f.users_left == Some(vec!["never_reads".to_owned()])).await;
    }
    pair.probe("after dropping the never-reader").await;
    assert_memory(&server, rss, "a never-reading client");
}

/// A TLS 1.1 ClientHello (no supported_versions extension, so nothing newer is offered).
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x06, 0xc0, 0x13, 0x00, 0x2f, 0x00, 0x35]); // cipher suites
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    let mut hs = vec![0x01, 0x00, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01, (hs.len() >> 8) as u8, hs.len() as u8];
    record.extend_from_slice(&hs);
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_older_than_1_2_is_refused_and_there_is_no_plaintext_port_by_default() {
    let (_dirs, server, mut pair, _rss) = setup(&[]).await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(&tls11_client_hello()).await.expect("hello");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer)).await;
    assert!(!answer.is_empty(), "the server answers");
    assert_eq!(answer[0], 0x15, "an alert, not a ServerHello: {answer:?}");
    // protocol_version (70) or handshake_failure (40)
    assert!(matches!(answer.get(6), Some(70 | 40)), "{answer:?}");
    pair.probe("after an old handshake").await;
    assert!(!server.log_text().contains("PLAINTEXT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plaintext_debugging_port_is_opt_in_and_warns() {
    let port = free_port();
    let dirs = Dirs::new();
    let server = BinServer::spawn(
        bin!("chatterbox-server"),
        &dirs,
        &["--insecure-plaintext-port", &port.to_string()],
    );
    assert!(server.wait_for_log("PLAINTEXT").contains("WARN"), "a warning is logged");
    assert_eq!(server.plaintext.map(|a| a.port()), Some(port));
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("plaintext port");
    let json = br#"{"USERNAME":"plain"}"#;
    let mut frame = (json.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(json);
    tcp.write_all(&frame).await.expect("login");
    let mut len = [0u8; 4];
    tcp.read_exact(&mut len).await.expect("answer");
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    tcp.read_exact(&mut body).await.expect("answer");
    assert_eq!(shared::decode(&body).expect("frame").username_accepted, Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_frame_and_a_silent_connection_are_closed_by_their_timeouts() {
    let (dirs, server, mut pair, _rss) =
        setup(&["--frame-timeout", "2", "--idle-timeout", "4"]).await;
    // logged in, then half a frame and nothing more (slowloris after the login)
    let mut trickle = Client::connect(server.addr, &dirs.ca()).await;
    trickle.login("trickler").await;
    trickle.send_raw(&[0, 0, 0, 50, b'{']).await;
    let t0 = Instant::now();
    let frames = pair.chatting_until(trickle.expect_closed(PATIENCE)).await;
    assert!(frames.iter().any(|f| f.error.as_deref().is_some_and(|e| e.contains("incomplete"))));
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "cut off by the frame timeout, not the idle one"
    );
    // logged in and silent: closed after the idle timeout, with a reason
    let mut silent = Client::connect(server.addr, &dirs.ca()).await;
    silent.login("silent").await;
    let frames = pair.chatting_until(silent.expect_closed(PATIENCE)).await;
    assert!(
        frames.iter().any(|f| f.error.as_deref().is_some_and(|e| e.contains("without a message")))
    );
    pair.probe("after the timeouts").await;
}
