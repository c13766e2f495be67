//! Cluster mode against the real NATS JetStream and PostgreSQL: three nodes in one test, users
//! on different nodes in one chat; `/healthz` and the consumer's lag on `/metrics`. Each test
//! has its own database and its own stream and buckets, dropped after it.

use std::time::{Duration, Instant};

use chatterbox_server::cluster::BusSettings;
use chatterbox_server::config::ClusterConfig;
use shared::Frame;
use test_support::cluster::{nats_url, own_settings};
use test_support::*;

/// Waits until `c` knows `name` is online: in its login answer's list or a later join.
async fn sees_online(c: &mut Client, login: &Frame, name: &str) {
    let has = |l: &Option<Vec<String>>| l.as_ref().is_some_and(|l| l.iter().any(|n| n == name));
    if !has(&login.user_list) {
        c.recv_where(|f| has(&f.users_joined)).await;
    }
}

async fn user(node: &TestServer, name: &str) -> (Client, Frame) {
    let mut c = node.client().await;
    let r = c.login(name).await;
    assert_eq!(r.username_accepted, Some(true), "{name}: {:?}", r.info);
    (c, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_three_nodes_share_one_chat_one_order_one_list_and_their_names() {
    let cluster = Cluster::start(3).await;
    let [n0, n1, n2] = &cluster.nodes[..] else { unreachable!() };
    let (mut ann, _) = user(n0, "ann").await;
    let (mut bob, r) = user(n1, "bob").await;
    sees_online(&mut bob, &r, "ann").await;
    let (mut cat, r) = user(n2, "cat").await;
    sees_online(&mut cat, &r, "ann").await;
    ann.recv_where(|f| f.users_joined.as_ref().is_some_and(|j| j.contains(&"cat".to_owned())))
        .await;

    // A broadcast from one node reaches the others; a private message only its recipient.
    ann.say("ALL", "hello from node 0").await;
    bob.recv_message("hello from node 0").await;
    cat.recv_message("hello from node 0").await;
    bob.say("cat", "psst cat").await;
    assert_eq!(cat.recv_message("psst cat").await.src, "bob");
    cat.say("ALL", "probe after psst").await;
    ann.expect_none_before_probe("probe after psst", "bob's private message", |f| {
        f.messages.iter().flatten().any(|m| m.content == "psst cat")
    })
    .await;

    // A name is unique across nodes, whatever its spelling.
    let mut thief = n2.client().await;
    let refused = thief.login("ANN").await;
    assert_eq!(refused.username_accepted, Some(false));
    assert!(refused.info.as_deref().is_some_and(|i| i.contains("in use")), "{refused:?}");

    // Two senders on two nodes, interleaved: everyone sees one order.
    let (mut dan, r) = user(n0, "dan").await;
    sees_online(&mut dan, &r, "cat").await;
    for i in 0..20 {
        ann.say("ALL", &format!("a{i}")).await;
        bob.say("ALL", &format!("b{i}")).await;
    }
    let order = async |c: &mut Client| {
        let mut seen = Vec::new();
        while seen.len() < 40 {
            let m = c.next_message().await;
            if m.content.len() <= 3 && (m.content.starts_with('a') || m.content.starts_with('b')) {
                seen.push(m.content);
            }
        }
        seen
    };
    let at_cat = order(&mut cat).await;
    let at_dan = order(&mut dan).await;
    assert_eq!(at_cat, at_dan, "one order on node 2 and node 0");
    let only_b: Vec<&String> = at_cat.iter().filter(|m| m.starts_with('b')).collect();
    assert_eq!(
        only_b,
        (0..20).map(|i| format!("b{i}")).collect::<Vec<_>>().iter().collect::<Vec<_>>()
    );

    // One user list: a login anywhere lists everyone.
    let (_eve, r) = user(n1, "eve").await;
    let list = r.user_list.expect("USER_LIST");
    for name in ["ann", "bob", "cat", "dan", "eve"] {
        assert!(list.contains(&name.to_owned()), "{name} missing from {list:?}");
    }
    // The join history comes from the shared database, whichever node wrote it.
    let history: Vec<String> = r.messages.iter().flatten().map(|m| m.content.clone()).collect();
    assert!(history.contains(&"hello from node 0".to_owned()), "{history:?}");
    assert!(!history.contains(&"psst cat".to_owned()), "not eve's: {history:?}");

    // A user leaving one node is announced on the others and frees the name.
    drop(ann);
    cat.recv_where(|f| f.users_left.as_ref().is_some_and(|l| l.contains(&"ann".to_owned()))).await;
    let mut again = loop {
        let mut c = n2.client().await;
        let r = c.login("ann").await;
        if r.username_accepted == Some(true) {
            break c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    bob.say("ann", "welcome back on node 2").await;
    again.recv_message("welcome back on node 2").await;

    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_hold_across_nodes() {
    let cluster = Cluster::start(2).await;
    let [n0, n1] = &cluster.nodes[..] else { unreachable!() };
    let (mut ann, _) = user(n0, "ann").await;
    let mut cat = n1.client().await;
    let r = cat.login_with("cat", Some(&["block"])).await;
    assert_eq!(r.username_accepted, Some(true));
    sees_online(&mut cat, &r, "ann").await;
    let (mut bob, r) = user(n1, "bob").await;
    sees_online(&mut bob, &r, "ann").await;
    cat.send(&Frame { block: Some("Ann".into()), ..Frame::default() }).await;
    cat.recv_where(|f| f.blocked.is_some()).await;
    // ann's node learns of the block through the stream: her private message is refused.
    let refused = loop {
        ann.say("cat", "let me in").await;
        bob.say("ALL", "tick").await;
        let f = ann
            .recv_where(|f| {
                f.error.is_some() || f.messages.iter().flatten().any(|m| m.content == "tick")
            })
            .await;
        if let Some(e) = f.error {
            break e;
        }
    };
    assert!(refused.contains("does not accept your messages"), "{refused}");
    ann.say("ALL", "ann to all").await;
    bob.recv_message("ann to all").await;
    bob.say("ALL", "probe from bob").await;
    cat.expect_none_before_probe("probe from bob", "ann's messages", |f| {
        f.messages.iter().flatten().any(|m| m.src == "ann")
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_nats_stops_the_node_at_start_and_says_so() {
    let db = TestDb::new().await;
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.cluster = Some(ClusterConfig {
        nats_url: "nats://user:s3cret@127.0.0.1:1".into(),
        database_url: db.url.clone(),
        bus: BusSettings::default(),
    });
    let err = chatterbox_server::Server::bind(config).await.expect_err("no NATS on port 1");
    let text = err.to_string();
    assert!(text.contains("NATS at nats://***@127.0.0.1:1 is unreachable"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

/// A login asking for the account and moderation extensions, with a password if given.
/// `name` on `node` with the extension `rooms`.
async fn room_user(node: &TestServer, name: &str) -> (Client, Frame) {
    let mut c = node.client().await;
    let r = c.login_with(name, Some(&["rooms"])).await;
    assert_eq!(r.username_accepted, Some(true), "{name}: {:?}", r.info);
    (c, r)
}

/// Joins `room` and returns the `JOINED` answer.
async fn join(c: &mut Client, room: &str) -> Frame {
    c.send(&Frame { join: Some(room.into()), ..Frame::default() }).await;
    c.recv_where(|f| f.joined.is_some() || f.error.is_some()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_spans_the_nodes_and_its_messages_reach_only_its_members() {
    let cluster = Cluster::start(2).await;
    let [n0, n1] = &cluster.nodes[..] else { unreachable!() };
    let (mut ann, _) = room_user(n0, "ann").await;
    let (mut bob, r) = room_user(n1, "bob").await;
    sees_online(&mut bob, &r, "ann").await;
    let (mut cy, r) = room_user(n1, "cy").await;
    sees_online(&mut cy, &r, "ann").await;
    join(&mut ann, "#r").await;
    // ann's join is in the stream before her next message: once bob has that, n1 knows.
    ann.say("ALL", "joined").await;
    bob.recv_message("joined").await;
    let joined = join(&mut bob, "#r").await.joined.expect("JOINED");
    assert_eq!(joined.members, ["ann", "bob"], "members on both nodes");
    let presence = ann.recv_where(|f| f.room_joined.is_some()).await.room_joined.expect("presence");
    assert_eq!((presence.room.as_str(), &presence.users[..]), ("#r", &["bob".to_owned()][..]));

    ann.say("#r", "across nodes").await;
    assert_eq!(bob.recv_message("across nodes").await.dest, "#r");
    bob.say("#r", "and back").await;
    ann.recv_message("and back").await;
    // cy, on bob's node but not a member, gets neither.
    ann.say("ALL", "probe").await;
    cy.expect_none_before_probe("probe", "a room's message", |f| {
        f.messages.iter().flatten().any(|m| m.dest == "#r")
    })
    .await;
    // The room's history is in the shared database for a member joining on either node.
    let joined = join(&mut cy, "#r").await;
    let history: Vec<_> = joined.messages.iter().flatten().map(|m| m.content.clone()).collect();
    assert_eq!(history, ["across nodes", "and back"]);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_on_another_node_with_each_missed_message_once() {
    let cluster = Cluster::start(2).await;
    let [n0, n1] = &cluster.nodes[..] else { unreachable!() };
    let mut ann = n0.client().await;
    assert_eq!(ann.login_with("ann", Some(&["resume"])).await.username_accepted, Some(true));
    let (mut bob, r) = user(n1, "bob").await;
    sees_online(&mut bob, &r, "ann").await;
    for i in 0..6 {
        bob.say("ALL", &format!("m{i}")).await;
    }
    let seen = ann.recv_messages(3).await;
    let last = seen.last().and_then(|m| m.id).expect("ids from the stream");
    drop(ann);
    bob.say("ALL", "m6").await;
    let (mut cy, _) = user(n1, "cy").await;
    bob.say("ALL", "probe").await;
    cy.recv_message("probe").await;
    // Back through the other node: everything after m2, once each, in the stream's order.
    let login = Frame {
        username: Some("ann".into()),
        features: Some(vec!["resume".into()]),
        since: Some(last),
        ..Frame::default()
    };
    let (_ann, r) = Client::logged_in_once_free(n1.addr, &n1.ca, &login).await;
    let got: Vec<String> = r.messages.iter().flatten().map(|m| m.content.clone()).collect();
    assert_eq!(got, ["m3", "m4", "m5", "m6", "probe"]);
    assert_eq!(r.missed, Some(0));
    cluster.stop().await;
}

fn login_frame(name: &str, password: Option<&str>) -> Frame {
    Frame {
        username: Some(name.into()),
        features: Some(vec!["account".into(), "moderation".into()]),
        password: password.map(Into::into),
        ..Frame::default()
    }
}

async fn try_login(node: &TestServer, frame: &Frame) -> (Client, Frame) {
    let mut c = node.client().await;
    c.send(frame).await;
    let r = c.recv_where(|f| f.username_accepted.is_some()).await;
    if r.username_accepted == Some(true) {
        c.name = frame.username.clone().unwrap_or_default();
    }
    (c, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_kicks_and_bans_hold_across_nodes() {
    // opal registers on a first node; the cluster then starts with opal as operator.
    let db = TestDb::new().await;
    let url = db.url.clone();
    let first = Cluster::start_with(1, &[], db).await;
    let (mut opal, _) = try_login(&first.nodes[0], &login_frame("opal", None)).await;
    opal.send(&Frame { register: Some("operator pass".into()), ..Frame::default() }).await;
    assert_eq!(opal.recv_where(|f| f.registered.is_some()).await.registered, Some(true));
    drop(opal);
    let Cluster { nodes, db, .. } = first;
    for node in nodes {
        node.stop().await;
    }
    assert_eq!(db.url, url);
    let cluster = Cluster::start_with(2, &["opal"], db).await;
    let [n0, n1] = &cluster.nodes[..] else { unreachable!() };

    // An account registered on one node needs its password on the other at once.
    let (mut ann, _) = try_login(n0, &login_frame("ann", None)).await;
    ann.send(&Frame { register: Some("correct horse".into()), ..Frame::default() }).await;
    assert_eq!(ann.recv_where(|f| f.registered.is_some()).await.registered, Some(true));
    drop(ann);
    let refused = loop {
        let (_c, r) = try_login(n1, &login_frame("ann", None)).await;
        assert_eq!(r.username_accepted, Some(false), "a plain login to a registered name");
        let info = r.info.unwrap_or_default();
        if !info.contains("in use") {
            break info;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(refused.contains("registered"), "{refused}");
    let (mut ann, r) = try_login(n1, &login_frame("ann", Some("correct horse"))).await;
    assert_eq!(r.username_accepted, Some(true), "{:?}", r.info);
    // Her password on the other node takes the name over from the connection on this one.
    let (mut ann_again, r) = try_login(n0, &login_frame("ANN", Some("correct horse"))).await;
    assert_eq!(r.username_accepted, Some(true), "{:?}", r.info);
    let goodbye = ann.expect_closed(PATIENCE).await;
    assert!(goodbye.iter().any(|f| f.disconnected.as_deref() == Some("replaced")), "{goodbye:?}");
    // A wrong password takes nothing over.
    let (_c, r) = try_login(n1, &login_frame("ann", Some("wrong horse"))).await;
    assert_eq!(r.username_accepted, Some(false));

    // The operator on node 0 kicks and bans a user on node 1.
    let (mut opal, r) = try_login(n0, &login_frame("opal", Some("operator pass"))).await;
    assert_eq!(r.operator, Some(true), "{r:?}");
    let (mut cat, r) = try_login(n0, &login_frame("cat", None)).await;
    assert_eq!(r.username_accepted, Some(true));
    let (mut bob, r_bob) = try_login(n1, &login_frame("bob", None)).await;
    assert_eq!(r_bob.username_accepted, Some(true));
    cat.recv_where(|f| f.users_joined.as_ref().is_some_and(|j| j.contains(&"bob".to_owned())))
        .await;
    opal.recv_where(|f| {
        f.users_joined.as_ref().is_some_and(|j| j.contains(&"bob".to_owned()))
            || f.user_list.as_ref().is_some_and(|j| j.contains(&"bob".to_owned()))
    })
    .await;
    // (once bob's node knows where she is now)
    let ann_known =
        |f: &Frame| f.users_joined.as_ref().is_some_and(|j| j.contains(&"ann".to_owned()));
    if !r_bob.user_list.as_ref().is_some_and(|l| l.contains(&"ann".to_owned())) {
        bob.recv_where(ann_known).await;
    }
    bob.say("ann", "still there?").await;
    ann_again.recv_message("still there?").await;
    let kick = shared::frame::Kick { name: "bob".into(), reason: Some("bye".into()) };
    opal.send(&Frame { kick: Some(kick), ..Frame::default() }).await;
    let goodbye = bob.expect_closed(PATIENCE).await;
    assert!(
        goodbye.iter().any(|f| f.error.as_deref() == Some("You were removed by opal: bye")
            && f.disconnected.as_deref() == Some("removed")),
        "{goodbye:?}"
    );
    cat.recv_where(|f| f.info.as_deref() == Some("bob was removed by opal: bye")).await;

    let (mut bob, r) = loop {
        let (c, r) = try_login(n1, &login_frame("bob", None)).await;
        if r.username_accepted == Some(true) {
            break (c, r);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(r.username_accepted, Some(true));
    let ban = shared::frame::Ban {
        name: Some("bob".into()),
        duration: "forever".into(),
        reason: Some("spam".into()),
        ..Default::default()
    };
    opal.send(&Frame { ban: Some(ban), ..Frame::default() }).await;
    let goodbye = bob.expect_closed(PATIENCE).await;
    assert!(
        goodbye.iter().any(|f| f.error.as_deref() == Some("You were banned by opal: spam")),
        "{goodbye:?}"
    );
    cat.recv_where(|f| f.info.as_deref() == Some("bob was banned by opal: spam")).await;
    for node in [n0, n1] {
        let (_c, r) = try_login(node, &login_frame("bob", None)).await;
        assert_eq!(r.username_accepted, Some(false));
        let info = r.info.unwrap_or_default();
        assert!(info.contains("bob is banned"), "{info}");
    }
    cluster.stop().await;
}

/// How many messages an ERROR says the stream could not take.
fn refusals(f: &Frame) -> usize {
    match f.error.as_deref() {
        Some(e) if e.contains("could not be accepted") => {
            e.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(1)
        }
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_during_traffic_loses_and_reorders_nothing() {
    let mut nats = OwnNats::start(None, None).await;
    let cluster = Cluster::start_on(2, &[], TestDb::new().await, &nats.url()).await;
    let [n0, n1] = &cluster.nodes[..] else { unreachable!() };
    let (mut ann, _) = user(n0, "ann").await;
    let (mut bob, r) = user(n1, "bob").await;
    sees_online(&mut bob, &r, "ann").await;

    const SENT: usize = 120;
    let mut refused = 0;
    for i in 0..SENT {
        if i == SENT / 3 {
            let (port, dir) = nats.kill();
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            nats = OwnNats::start(Some(port), Some(dir)).await;
        }
        ann.say("ALL", &format!("m{i}")).await;
        // what ann is told meanwhile (an ERROR for a message the stream could not take)
        while let Next::Frame(f) = ann.next_within(std::time::Duration::from_millis(5)).await {
            refused += refusals(&f);
        }
    }
    // The cluster recovers by itself: a message after the restart goes through.
    ann.say("ALL", "the end").await;
    let mut got = Vec::new();
    loop {
        let m = bob.next_message().await;
        if m.content == "the end" {
            break;
        }
        got.push(m.content[1..].parse::<usize>().expect("a numbered message"));
    }
    while let Next::Frame(f) = ann.next_within(std::time::Duration::from_millis(200)).await {
        refused += refusals(&f);
    }
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in the order sent, once each: {got:?}");
    let lost = SENT - got.len();
    assert!(lost <= refused, "{lost} messages missing but only {refused} ERRORs: {got:?}");
    bob.say("ALL", "bob after the restart").await;
    ann.recv_message("bob after the restart").await;
    cluster.stop().await;
}

/// `GET path` on `node`'s web port.
async fn get(node: &TestServer, path: &str) -> String {
    https_get(node.web.expect("gateway"), &node.ca, path).await
}

/// `GET path` on `node` until `want` holds of the answer; panics after [`PATIENCE`].
async fn get_until(node: &TestServer, path: &str, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = get(node, path).await;
        if want(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "{path} never showed it:\n{answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the sample `name` in a `/metrics` answer.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

const LAG: &str = "chatterbox_jetstream_consumer_lag";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_is_ready_with_nats_and_reports_no_lag_once_it_has_applied_everything() {
    let cluster = Cluster::start(2).await;
    let [n0, n1] = &cluster.nodes[..] else { unreachable!() };
    for node in [n0, n1] {
        let health = get(node, "/healthz").await;
        assert!(health.starts_with("HTTP/1.1 200") && health.ends_with("\r\n\r\nok"), "{health}");
    }
    let (mut ann, _) = user(n0, "ann").await;
    let (mut bob, r) = user(n1, "bob").await;
    sees_online(&mut bob, &r, "ann").await;
    for i in 0..20 {
        ann.say("ALL", &format!("m{i}")).await;
    }
    bob.recv_message("m19").await;
    // Both nodes apply every event in a moment; one measurement later each says so.
    tokio::time::sleep(chatterbox_server::hub::cluster::LAG_INTERVAL * 3 / 2).await;
    // Two joins and the messages (merged into fewer events when they queue together).
    assert!(cluster.bus.last_sequence().await.expect("stream") >= 3);
    for node in [n0, n1] {
        let m = get_until(node, "/metrics", |m| sample(m, LAG).is_some()).await;
        assert!(m.contains(&format!("# TYPE {LAG} gauge")), "{m}");
        get_until(node, "/metrics", |m| sample(m, LAG) == Some(0.0)).await;
    }
    cluster.stop().await;
}

/// A NATS server of the test's own (the `nats-server` the machines run the shared one with),
/// on a free port with JetStream in a temporary directory, so that the test can stop it;
/// killed when dropped.
struct OwnNats {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl OwnNats {
    fn program() -> String {
        std::env::var("CHATTERBOX_TEST_NATS_SERVER").unwrap_or_else(|_| {
            let sbin = "/usr/sbin/nats-server";
            if std::path::Path::new(sbin).exists() { sbin.into() } else { "nats-server".into() }
        })
    }

    /// Starts one on `port` (a free one if `None`), keeping its JetStream data in `dir`.
    async fn start(port: Option<u16>, dir: Option<tempfile::TempDir>) -> OwnNats {
        let port = port.unwrap_or_else(free_port);
        let dir = dir.unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        let program = Self::program();
        let child = std::process::Command::new(&program)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{program} is needed for this test ({e}); set CHATTERBOX_TEST_NATS_SERVER")
            });
        let deadline = Instant::now() + PATIENCE;
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "{program} never listened on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        OwnNats { child, port, dir }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it (as a crash would), keeping its port and data for [`OwnNats::start`].
    fn kill(mut self) -> (u16, tempfile::TempDir) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.port;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        (port, dir)
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_not_ready_while_nats_is_away_and_ready_again_when_it_is_back() {
    let nats = OwnNats::start(None, None).await;
    let db = TestDb::new().await;
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.cluster = Some(ClusterConfig {
        nats_url: nats.url(),
        database_url: db.url.clone(),
        bus: BusSettings {
            prefix: format!("health_{}", std::process::id()),
            ..BusSettings::default()
        },
    });
    let node = TestServer::start(config).await;
    let ready = |a: &str| a.starts_with("HTTP/1.1 200") && a.ends_with("\r\n\r\nok");
    assert!(ready(&get(&node, "/healthz").await));

    let (port, dir) = nats.kill();
    let away = get_until(&node, "/healthz", |a| a.starts_with("HTTP/1.1 503")).await;
    assert!(away.ends_with("not ready: nats: not connected to NATS (reconnecting)"), "{away}");

    let _nats = OwnNats::start(Some(port), Some(dir)).await;
    get_until(&node, "/healthz", ready).await;
    let (mut ann, _) = user(&node, "ann").await;
    let (mut bob, _) = user(&node, "bob").await;
    ann.say("ALL", "after the outage").await;
    bob.recv_message("after the outage").await;
    node.stop().await;
}

/// A node as its own process (so that it can be killed with SIGKILL), in the cluster of
/// `settings` on `db`.
fn node_process(dirs: &Dirs, db: &TestDb, settings: &BusSettings) -> BinServer {
    let mut cmd = std::process::Command::new(bin!("chatterbox-server"));
    cmd.arg("127.0.0.1")
        .args(["-p", "0", "--no-web", "--data-dir"])
        .arg(dirs.data())
        .arg("--certs-dir")
        .arg(dirs.certs())
        .args(["--cluster-prefix", &settings.prefix])
        .env("CHATTERBOX_CLUSTER", nats_url())
        .env("CHATTERBOX_DATABASE", &db.url);
    BinServer::spawn_command(cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_traffic_loses_nothing_anyone_saw_and_its_users_carry_on_elsewhere() {
    let db = TestDb::new().await;
    let settings = own_settings("kill");
    let _cleanup = Cleanup { nats: nats_url(), settings: settings.clone() };
    let dirs: Vec<Dirs> = (0..3).map(|_| Dirs::new()).collect();
    let nodes: Vec<BinServer> = dirs.iter().map(|d| node_process(d, &db, &settings)).collect();
    let connect = async |i: usize, name: &str| {
        let mut c = Client::connect(nodes[i].addr, &dirs[i].ca()).await;
        let r = c.login(name).await;
        (c, r)
    };
    let (mut ann, _) = connect(0, "ann").await;
    let (mut bob, r) = connect(1, "bob").await;
    assert_eq!(r.username_accepted, Some(true));
    sees_online(&mut bob, &r, "ann").await;
    let (mut cat, r) = connect(2, "cat").await;
    sees_online(&mut cat, &r, "bob").await;

    // ann talks; bob's node dies with SIGKILL in the middle of it.
    let mut seen_by_bob = Vec::new();
    for i in 0..60 {
        ann.say("ALL", &format!("n{i}")).await;
        if i == 30 {
            nodes[1].signal("KILL");
        }
        if i < 30 {
            seen_by_bob.push(bob.next_message().await.content);
        }
    }
    ann.say("ALL", "after the kill").await;
    cat.recv_message("after the kill").await;

    // The others announce bob as left once the dead node's heartbeat has expired.
    cat.recv_where(|f| f.users_left.as_ref().is_some_and(|l| l.contains(&"bob".to_owned()))).await;
    // bob carries on through another node, under his name, with everything he had seen.
    let (bob_again, r) = loop {
        let (c, r) = connect(2, "bob").await;
        if r.username_accepted == Some(true) {
            break (c, r);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let history: Vec<String> = r.messages.iter().flatten().map(|m| m.content.clone()).collect();
    for m in &seen_by_bob {
        assert!(history.contains(m), "{m} was seen by bob and is gone: {history:?}");
    }
    assert!(history.contains(&"after the kill".to_owned()), "{history:?}");
    drop(bob_again);
    for (i, node) in nodes.into_iter().enumerate() {
        if i != 1 {
            node.signal("TERM");
            node.wait_for_log("stopped");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_takes_its_users_out_of_the_cluster_at_once() {
    let Cluster { mut nodes, bus, dirs: _dirs, db: _db, cleanup: _cleanup } =
        Cluster::start(2).await;
    let n1 = nodes.pop().expect("two nodes");
    let n0 = nodes.pop().expect("two nodes");
    let (mut ann, _) = user(&n0, "ann").await;
    let (mut bob, r) = user(&n1, "bob").await;
    sees_online(&mut bob, &r, "ann").await;
    ann.recv_where(|f| f.users_joined.as_ref().is_some_and(|j| j.contains(&"bob".to_owned())))
        .await;
    let held =
        |h: &[(String, chatterbox_server::cluster::Holder)]| h.iter().any(|(k, _)| k == "bob");
    assert!(held(&bus.holders().await.expect("names")), "bob's name is held while he is on");
    n1.stop().await;
    // Its heartbeat has not expired yet: only the node's own leave frees the name now.
    assert!(!held(&bus.holders().await.expect("names")), "freed as the node stopped");
    ann.recv_where(|f| f.users_left.as_ref().is_some_and(|l| l.contains(&"bob".to_owned()))).await;
    let (_bob, r) = user(&n0, "bob").await;
    assert!(r.user_list.expect("USER_LIST").contains(&"ann".to_owned()));
    n0.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_deletes_cross_the_nodes_and_search_reads_the_shared_store() {
    use shared::frame::{Change, Edit, Search};
    let cluster = Cluster::start(2).await;
    let [n0, n1] = &cluster.nodes[..] else { unreachable!() };
    let features = Some(&["edit", "search"][..]);
    let mut ann = n0.client().await;
    assert_eq!(ann.login_with("ann", features).await.username_accepted, Some(true));
    let mut bob = n1.client().await;
    assert_eq!(bob.login_with("bob", features).await.username_accepted, Some(true));
    let mut dan = n1.client().await;
    assert_eq!(dan.login_with("dan", None).await.username_accepted, Some(true));
    ann.recv_where(|f| f.users_joined.iter().flatten().any(|n| n == "dan")).await;

    ann.say("ALL", "teh plan").await;
    let id = ann.recv_message("teh plan").await.id.expect("its id, from the stream");
    assert_eq!(bob.recv_message("teh plan").await.id, Some(id));
    ann.say("bob", "a private apple").await;
    let private = ann.recv_message("a private apple").await.id.expect("id");
    assert_eq!(bob.recv_message("a private apple").await.id, Some(private));

    ann.send(&Frame { edit: Some(Edit { id, content: "the plan".into() }), ..Frame::default() })
        .await;
    let e = bob.recv_where(|f| f.messages.iter().flatten().any(|m| m.change.is_some())).await;
    let e = &e.messages.expect("entries")[0];
    assert_eq!((e.content.as_str(), e.change), ("the plan", Some(Change::Edit(id))));
    dan.recv_message("[edit] \"teh plan\" -> the plan").await;
    ann.send(&Frame { delete: Some(private), ..Frame::default() }).await;
    let d = bob.recv_where(|f| f.messages.iter().flatten().any(|m| m.change.is_some())).await;
    assert_eq!(d.messages.expect("entries")[0].change, Some(Change::Delete(private)));

    // Both nodes read the one store: the edit is found by its new text, the delete nowhere.
    for c in [&mut ann, &mut bob] {
        let search = Search { query: "plan".into(), ..Search::default() };
        c.send(&Frame { search: Some(search), ..Frame::default() }).await;
        let found = c.recv_where(|f| f.found.is_some()).await.found.expect("FOUND");
        let texts: Vec<&str> = found.results.iter().map(|h| h.message.content.as_str()).collect();
        assert_eq!(texts, ["the plan"], "{}", c.name);
        let search = Search { query: "apple".into(), ..Search::default() };
        c.send(&Frame { search: Some(search), ..Frame::default() }).await;
        let found = c.recv_where(|f| f.found.is_some()).await.found.expect("FOUND");
        assert!(found.results.is_empty(), "{}: a deleted message is not found", c.name);
    }
    cluster.stop().await;
}

/// Logs `name` in on `node` with `files` and `edit`.
async fn file_user(node: &TestServer, name: &str) -> (Client, Frame) {
    let mut c = node.client().await;
    let r = c.login_with(name, Some(&["files", "edit"])).await;
    assert_eq!(r.username_accepted, Some(true), "{name}: {:?}", r.info);
    (c, r)
}

/// Sends `data` as a file named `name` to `to`, all chunks at once; the UPLOADED or ERROR.
async fn send_file(c: &mut Client, name: &str, data: &[u8], to: &str) -> Frame {
    use base64::Engine;
    let sha = chatterbox_server::files::Sha256::of(data).as_str().to_owned();
    let upload = shared::frame::Upload {
        name: name.into(),
        size: data.len() as u64,
        sha256: sha.clone(),
        to: to.into(),
    };
    c.send(&Frame { upload: Some(upload), ..Frame::default() }).await;
    let f = c.recv_where(|f| f.uploading.is_some() || f.error.is_some()).await;
    if f.error.is_some() {
        return f;
    }
    for (i, piece) in data.chunks(shared::limits::FILE_CHUNK).enumerate() {
        let chunk = shared::frame::Chunk {
            sha256: sha.clone(),
            offset: (i * shared::limits::FILE_CHUNK) as u64,
            data: base64::engine::general_purpose::STANDARD.encode(piece),
        };
        c.send(&Frame { chunk: Some(chunk), ..Frame::default() }).await;
    }
    c.recv_where(|f| f.uploaded.is_some() || f.error.is_some()).await
}

/// The whole file of message `id`, fetched piece by piece, or the ERROR.
async fn fetch(c: &mut Client, id: i64) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let mut out = Vec::new();
    loop {
        let ask = shared::frame::Fetch { id, offset: out.len() as u64 };
        c.send(&Frame { fetch: Some(ask), ..Frame::default() }).await;
        let f = c.recv_where(|f| f.file_data.is_some() || f.error.is_some()).await;
        let Some(d) = f.file_data else { return Err(f.error.unwrap_or_default()) };
        out.extend(base64::engine::general_purpose::STANDARD.decode(d.data).expect("base64"));
        if out.len() as u64 >= d.size {
            return Ok(out);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sent_on_one_node_is_fetched_on_another_and_goes_with_its_message() {
    let cluster = Cluster::start(2).await;
    let [n0, n1] = &cluster.nodes[..] else { unreachable!() };
    let (mut ann, _) = file_user(n0, "ann").await;
    let (mut bob, r) = file_user(n1, "bob").await;
    sees_online(&mut bob, &r, "ann").await;
    let (mut cy, r) = file_user(n1, "cy").await;
    sees_online(&mut cy, &r, "ann").await;
    ann.recv_where(|f| f.users_joined.as_ref().is_some_and(|j| j.contains(&"cy".to_owned()))).await;
    let data: Vec<u8> =
        (0..500_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let done = send_file(&mut ann, "report.pdf", &data, "bob").await;
    assert!(done.uploaded.is_some(), "{:?}", done.error);
    let m = loop {
        let m = bob.next_message().await;
        if m.file.is_some() {
            break m;
        }
    };
    let id = m.id.expect("id");
    assert_eq!(m.content, "ann shared report.pdf (500.0 kB)");
    assert!(fetch(&mut bob, id).await == Ok(data.clone()), "byte-identical through the other node");
    let e = fetch(&mut cy, id).await.expect_err("not cy's");
    assert!(e.contains("no file"), "{e}");
    // Deleted on one node: the message and the bytes are gone for the other.
    ann.send(&Frame { delete: Some(id), ..Frame::default() }).await;
    bob.recv_where(|f| {
        f.messages.iter().flatten().any(|m| m.change == Some(shared::frame::Change::Delete(id)))
    })
    .await;
    assert!(fetch(&mut bob, id).await.is_err());
    cluster.stop().await;
}
