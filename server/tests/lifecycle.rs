//! The server under pressure and across its life: slow readers, restarts, SIGTERM, kill -9,
//! every resolved address, and the shared conformance suite against the real binary, alone and
//! as a node of a cluster.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use shared::{Frame, Message};
use test_support::cli::wait_exit;
use test_support::*;

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_while_others_keep_receiving() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.flood = None; // the sender here must be as fast as the healthy reader, no faster
    let server = TestServer::start(config).await;
    // a tiny receive window makes the never-reader back up the server quickly
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let tcp = sock.connect(server.addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tls_connector(&server.ca).connect(name, tcp).await.expect("TLS");
    let mut slow = Client::over(tls);
    assert_eq!(slow.login("slow").await.username_accepted, Some(true));

    let mut ann = server.user("ann").await;
    let mut bob = server.user("bob").await;
    // more than the outbox and the socket buffers of the never-reader can hold
    const TOTAL: usize = 8000;
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
    let reader = tokio::spawn(async move {
        let mut got = Vec::with_capacity(TOTAL);
        let mut saw_slow_leave = false;
        while got.len() < TOTAL {
            let f = bob.recv().await;
            saw_slow_leave |= f.users_left.as_ref().is_some_and(|l| l.contains(&"slow".into()));
            got.extend(f.messages.into_iter().flatten().map(|m| m.content));
            let _ = progress_tx.send(got.len());
        }
        (got, saw_slow_leave, bob)
    });
    // Each batch waits until bob has it, so bob is a healthy reader however busy the
    // machine is, while the never-reader falls further behind with every batch.
    let filler = "x".repeat(4000);
    let sender = tokio::spawn(async move {
        for batch in 0..TOTAL / 50 {
            let msgs = (0..50)
                .map(|i| {
                    Message::new("ann", "ALL", now(), format!("{:05} {filler}", batch * 50 + i))
                })
                .collect();
            ann.send(&Frame::messages(msgs)).await;
            let _ = progress.wait_for(|n| *n >= (batch + 1) * 50).await;
        }
        ann
    });
    let (got, mut saw_slow_leave, mut bob) = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("bob kept up")
        .expect("reader");
    let _ann = sender.await.expect("sender");
    let order: Vec<usize> = got.iter().map(|c| c[..5].parse().expect("number")).collect();
    assert_eq!(order, (0..TOTAL).collect::<Vec<_>>(), "bob got every message, in order");
    if !saw_slow_leave {
        bob.recv_where(|f| f.users_left == Some(vec!["slow".to_owned()])).await;
        saw_slow_leave = true;
    }
    assert!(saw_slow_leave);
    // the never-reader finds its connection closed behind what was already in flight
    let frames = slow.expect_closed(Duration::from_secs(30)).await;
    assert!(contents(&frames).len() < TOTAL, "it was cut off, not served everything");
    server.stop().await;
}

#[tokio::test]
async fn history_survives_a_restart() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    let mut bob = server.user("bob").await;
    ann.say("ALL", "before restart").await;
    ann.say("bob", "private before restart").await;
    bob.recv_message("private before restart").await;
    drop((ann, bob));
    server.stop().await;
    let ca = std::fs::read(dirs.ca()).expect("CA written on first start");

    let server = TestServer::start(dirs.config()).await;
    assert_eq!(
        std::fs::read(dirs.ca()).expect("CA"),
        ca,
        "certificates are reused, not regenerated"
    );
    let mut bob = server.client().await;
    let history = contents(&[bob.login("bob").await]);
    assert_eq!(history, ["before restart", "private before restart"]);
    let mut cat = server.client().await;
    assert_eq!(contents(&[cat.login("cat").await]), ["before restart"]);
    // ids continue after the stored ones: new messages come after old ones
    bob.say("ALL", "after restart").await;
    cat.recv_message("after restart").await;
    let mut dan = server.client().await;
    assert_eq!(contents(&[dan.login("dan").await]), ["before restart", "after restart"]);
    server.stop().await;
}

#[tokio::test]
async fn every_address_of_localhost_is_served_with_a_certificate_valid_for_it() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.host = "localhost".into();
    let server = TestServer::start(config).await;
    let resolved: Vec<_> =
        tokio::net::lookup_host(("localhost", 1)).await.expect("resolve").collect();
    assert!(!resolved.is_empty());
    for want in &resolved {
        let found = server.addrs.iter().find(|a| a.ip() == want.ip());
        let addr = *found.unwrap_or_else(|| panic!("{want} is served: {:?}", server.addrs));
        assert_eq!(addr.port(), server.addr.port(), "one port for all addresses");
        // verify the certificate against the address itself as well as the name
        let ip = addr.ip().to_string();
        for name in ["localhost", ip.as_str()] {
            let mut c = Client::over(tls_connect_as(addr, &server.ca, name).await);
            let user = format!("u{}", name.replace([':', '.'], ""));
            assert_eq!(c.login(&user).await.username_accepted, Some(true), "{addr} as {name}");
        }
    }
    server.stop().await;
}

fn db_messages(dirs: &Dirs) -> Vec<String> {
    let conn = rusqlite::Connection::open(dirs.data().join("chatterbox.db")).expect("open db");
    let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(ok, "ok");
    let mut stmt = conn.prepare("SELECT content FROM messages ORDER BY id").expect("query");
    stmt.query_map([], |r| r.get(0)).expect("rows").map(|r| r.expect("row")).collect()
}

#[tokio::test]
async fn sigterm_during_traffic_tells_clients_commits_and_exits_within_two_seconds() {
    let dirs = Dirs::new();
    // flood control off: the point is many messages in flight when the signal comes
    let mut server = BinServer::spawn(bin!("chatterbox-server"), &dirs, &["--flood-burst", "0"]);
    let ca = dirs.ca();
    let mut ann = Client::connect(server.addr, &ca).await;
    ann.login("ann").await;
    let mut bob = Client::connect(server.addr, &ca).await;
    bob.login("bob").await;
    // ann keeps sending until the server goes away
    let sender = tokio::spawn(async move {
        let mut sent = 0usize;
        loop {
            let m = Message::new("ann", "ALL", now(), format!("m{sent}"));
            let frame = Frame::messages(vec![m]);
            use futures_util::SinkExt;
            if ann.io.send(&frame).await.is_err() {
                return sent;
            }
            sent += 1;
            tokio::task::yield_now().await;
        }
    });
    let mut seen = Vec::new();
    while seen.len() < 200 {
        seen.push(bob.next_message().await.content);
    }
    server.signal("TERM");
    let status = wait_exit(&mut server.child, Duration::from_secs(2));
    assert!(status.success(), "clean exit: {status:?}\n{}", server.log_text());
    seen.extend(bob.take_pending().into_iter().map(|m| m.content));
    let frames = bob.expect_closed(PATIENCE).await;
    seen.extend(contents(&frames));
    let errors: Vec<_> = frames.iter().filter_map(|f| f.error.clone()).collect();
    assert_eq!(errors, ["The server is shutting down."]);
    let _ = sender.await;
    // everything bob saw is stored, in order, and the database is intact
    let stored = db_messages(&dirs);
    assert!(stored.len() >= seen.len());
    assert_eq!(&stored[..seen.len()], &seen[..]);
    // and a restart on the same data serves the same history
    let server = BinServer::spawn(bin!("chatterbox-server"), &dirs, &["--history", "1000000"]);
    let mut cat = Client::connect(server.addr, &ca).await;
    assert_eq!(contents(&[cat.login("cat").await]), stored);
}

#[tokio::test]
async fn kill_9_loses_no_message_that_a_client_has_seen() {
    let dirs = Dirs::new();
    let server = BinServer::spawn(bin!("chatterbox-server"), &dirs, &["--flood-burst", "0"]);
    let ca = dirs.ca();
    let mut ann = Client::connect(server.addr, &ca).await;
    ann.login("ann").await;
    let mut bob = Client::connect(server.addr, &ca).await;
    bob.login("bob").await;
    let mut dan = Client::connect(server.addr, &ca).await;
    dan.login("dan").await;
    let sender = tokio::spawn(async move {
        for i in 0.. {
            ann.say("ALL", &format!("k{i}")).await;
            tokio::task::yield_now().await;
        }
    });
    let mut seen = Vec::new();
    while seen.len() < 500 {
        seen.push(bob.next_message().await.content);
    }
    server.signal("KILL");
    sender.abort();
    // everything that reached the clients before the connections died with the process
    seen.extend(bob.take_pending().into_iter().map(|m| m.content));
    seen.extend(contents(&bob.expect_closed(PATIENCE).await));
    // a second receiver, which may have got further than bob before the crash
    let mut seen_by_dan = dan.take_pending().into_iter().map(|m| m.content).collect::<Vec<_>>();
    seen_by_dan.extend(contents(&dan.expect_closed(PATIENCE).await));
    if seen_by_dan.len() > seen.len() {
        seen = seen_by_dan;
    }
    drop(server); // waits until the process is gone

    let stored = db_messages(&dirs);
    assert!(stored.len() >= seen.len(), "{} stored, {} seen", stored.len(), seen.len());
    assert_eq!(&stored[..seen.len()], &seen[..], "everything seen is stored, in order");

    let server = BinServer::spawn(bin!("chatterbox-server"), &dirs, &["--history", "1000000"]);
    let mut cat = Client::connect(server.addr, &ca).await;
    let history = contents(&[cat.login("cat").await]);
    assert!(history.len() >= seen.len(), "{} stored, {} seen", history.len(), seen.len());
    assert_eq!(&history[..seen.len()], &seen[..], "everything seen is stored, in order");
    let mut sorted = history.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), history.len(), "no duplicates");
}

fn conformance_script() -> PathBuf {
    if let Some(p) = std::env::var_os("CHATTERBOX_CONFORMANCE") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/conformance.py")
}

/// The shared conformance suite's output against the native port `port` (TLS, verified with
/// the CA at `ca`).
async fn run_conformance(port: u16, ca: PathBuf) -> std::process::Output {
    let script = conformance_script();
    assert!(
        script.exists(),
        "conformance suite at {} (set CHATTERBOX_CONFORMANCE)",
        script.display()
    );
    tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--ca"])
            .arg(ca)
            .output()
            .expect("run python3")
    })
    .await
    .expect("join")
}

/// Asserts that the suite's run `out` passed, without warnings.
fn assert_conformant(out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "conformance failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with(" 0 failed"), "{last}");
    assert!(!stdout.lines().any(|l| l.starts_with("WARN")), "no warnings either:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_conformance_suite_passes() {
    let dirs = Dirs::new();
    let server = BinServer::spawn(bin!("chatterbox-server"), &dirs, &[]);
    let out = run_conformance(server.addr.port(), dirs.ca()).await;
    assert_conformant(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_conformance_suite_passes_against_a_node_of_a_cluster() {
    use chatterbox_server::cluster::{Bus, BusSettings};
    let nats =
        std::env::var("CHATTERBOX_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let db = TestDb::new().await;
    let settings = BusSettings {
        prefix: format!("conformance_{}_{}", std::process::id(), now()),
        ..BusSettings::default()
    };
    // Two nodes of the real binary, configured as an operator would (the URLs in the
    // environment); the suite talks to the first while the second shares the chat.
    let node = |dirs: &Dirs| {
        let mut cmd = Command::new(bin!("chatterbox-server"));
        cmd.args(["127.0.0.1", "-p", "0", "--web-port", "0", "--data-dir"])
            .arg(dirs.data())
            .arg("--certs-dir")
            .arg(dirs.certs())
            .args(["--cluster-prefix", &settings.prefix])
            .env("CHATTERBOX_CLUSTER", &nats)
            .env("CHATTERBOX_DATABASE", &db.url);
        BinServer::spawn_command(cmd)
    };
    let (dirs0, dirs1) = (Dirs::new(), Dirs::new());
    let (node0, node1) = (node(&dirs0), node(&dirs1));
    let out = run_conformance(node0.addr.port(), dirs0.ca()).await;
    // What the suite said in public reached the shared history, which the other node serves.
    let mut other = Client::connect(node1.addr, &dirs1.ca()).await;
    let login = other.login("onlooker").await;
    drop((other, node0, node1));
    let bus = Bus::connect(&nats, settings, "cleanup".into()).await.expect("NATS to clean up");
    bus.destroy().await.expect("the test's stream and buckets removed");
    assert_conformant(&out);
    assert_eq!(login.username_accepted, Some(true), "{login:?}");
    assert!(!contents(&[login]).is_empty(), "the other node serves the suite's history");
}

#[tokio::test]
async fn one_binary_copied_to_an_empty_directory_serves_the_page_and_native_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("chatterbox-server");
    std::fs::copy(env!("CARGO_BIN_EXE_chatterbox-server"), &bin).expect("copy the binary");
    let mut cmd = Command::new(&bin);
    cmd.current_dir(dir.path()).args(["127.0.0.1", "-p", "0", "--web-port", "0"]);
    let server = BinServer::spawn_command(cmd);
    // first run: certificates and database created beside it
    let ca = dir.path().join("certs/ca.pem");
    assert!(ca.exists() && dir.path().join("data/chatterbox.db").exists());
    let mut ann = Client::connect(server.addr, &ca).await;
    assert_eq!(ann.login("ann").await.username_accepted, Some(true));
    let web = server.web.expect("the web gateway is on by default");
    let page = https_get(web, &ca, "/").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    if chatterbox_server::http::web_client_built() {
        // the page loads the embedded wasm module, which is served too
        let wasm =
            page.split('\'').find(|s| s.ends_with("_bg.wasm")).expect("wasm reference").to_owned();
        let body = https_get(web, &ca, &wasm).await;
        let head = body.chars().take(300).collect::<String>().to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200") && head.contains("application/wasm"), "{head}");
    } else {
        assert!(page.contains("built without the web client"), "{page}");
    }
}
