//! Every rule of PROTOCOL.md, shown against a real server over real TLS.

use std::time::Duration;

use shared::limits::MAX_CLOCK_SKEW_SECS;
use shared::{Frame, Message};
use test_support::*;

#[tokio::test]
async fn login_is_accepted_with_user_list_and_others_see_the_join() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    let mut bob = server.client().await;
    let reply = bob.login("bob").await;
    assert_eq!(reply.username_accepted, Some(true));
    assert_eq!(reply.info.as_deref(), Some("Welcome!"));
    assert_eq!(reply.user_list, Some(vec!["ann".to_owned(), "bob".to_owned()]));
    assert_eq!(reply.messages, Some(vec![]));
    assert_eq!(reply.features, None, "no FEATURES for a client that did not ask");
    let joined = ann.recv().await;
    assert_eq!(joined.users_joined, Some(vec!["bob".to_owned()]));
    // the newcomer is not told about itself: ann writes to bob once she has seen him join,
    // so an announcement of his own join would reach him first
    ann.say("bob", "probe").await;
    bob.expect_none_before_probe("probe", "a USERS_JOINED", |f| f.users_joined.is_some()).await;
    server.stop().await;
}

#[tokio::test]
async fn a_taken_name_is_refused_and_the_same_connection_may_retry() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let _ann = server.user("ann").await;
    let mut c = server.client().await;
    let r = c.login("ann").await;
    assert_eq!(r.username_accepted, Some(false));
    assert_eq!(r.info.as_deref(), Some("The provided username is already in use."));
    assert_eq!(r.user_list, None);
    let r = c.login("ann2").await;
    assert_eq!(r.username_accepted, Some(true), "{r:?}");
    assert_eq!(r.user_list, Some(vec!["ann".to_owned(), "ann2".to_owned()]));
    server.stop().await;
}

#[tokio::test]
async fn invalid_names_are_refused_with_a_reason() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut c = server.client().await;
    for (name, reason) in [
        ("", "empty"),
        ("   ", "white space"),
        ("ALL", "reserved"),
        ("all", "reserved"),
        ("a\u{7}b", "control"),
        ("a\nb", "white space"),
        (&"x".repeat(33), "longer than 32"),
    ] {
        let r = c.login(name).await;
        assert_eq!(r.username_accepted, Some(false), "{name:?}");
        let info = r.info.expect("INFO says why");
        assert!(info.contains(reason), "{name:?}: {info}");
    }
    assert_eq!(c.login(&"x".repeat(32)).await.username_accepted, Some(true));
    server.stop().await;
}

#[tokio::test]
async fn a_broadcast_reaches_everyone_else_and_a_private_message_only_its_target() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    let mut bob = server.user("bob").await;
    let mut cat = server.user("cat").await;
    let sent = ann.say("ALL", "hello all").await;
    assert_eq!(bob.recv_message("hello all").await, sent);
    assert_eq!(cat.recv_message("hello all").await, sent);
    let dm = ann.say("bob", "just for bob").await;
    assert_eq!(bob.recv_message("just for bob").await, dm);
    // a later broadcast from the same sender arrives after anything sent before it
    ann.say("ALL", "after").await;
    let seen = cat.recv_message("after").await;
    assert_eq!(seen.src, "ann");
    // bob's probe comes after all of ann's messages: nobody else got the DM, and the sender
    // no echo
    bob.say("ALL", "probe").await;
    for c in [&mut cat, &mut ann] {
        let all = contents(&c.until_probe("probe").await);
        assert!(!all.iter().any(|c| c == "just for bob"), "nobody else got the DM: {all:?}");
        assert!(!all.iter().any(|c| c == "hello all"), "no echo to the sender: {all:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_batch_is_delivered_whole_and_in_order() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    let mut bob = server.user("bob").await;
    let batch: Vec<Message> =
        (0..20).map(|i| Message::new("ann", "ALL", now(), format!("m{i}"))).collect();
    ann.send(&Frame::messages(batch.clone())).await;
    // How many frames carry them depends on the group commits (outbox.rs tests the merging);
    // what a client sees is all twenty, in order, each once.
    assert_eq!(bob.recv_messages(20).await, batch);
    ann.say("ALL", "probe").await;
    let rest = contents(&bob.until_probe("probe").await);
    assert!(rest.is_empty(), "no duplicates: {rest:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_spoofed_src_gets_an_error_and_is_not_delivered() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    let mut bob = server.user("bob").await;
    let fake = Message::new("bob", "ALL", now(), "pretending");
    ann.send(&Frame::messages(vec![fake])).await;
    let e = ann.recv_error().await;
    assert!(e.contains("SRC") && e.contains("not your username"), "{e}");
    // a good message in the same batch still goes
    let batch = vec![
        Message::new("cat", "bob", now(), "spoof dm"),
        Message::new("ann", "ALL", now(), "genuine"),
    ];
    ann.send(&Frame::messages(batch)).await;
    assert!(ann.recv_error().await.contains("SRC"));
    // nothing before the genuine message, nor after it up to a probe
    let before = contents(&bob.until_probe("genuine").await);
    assert!(before.is_empty(), "{before:?}");
    ann.say("ALL", "probe").await;
    let after = contents(&bob.until_probe("probe").await);
    assert!(after.is_empty(), "{after:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_private_message_to_someone_offline_gets_an_error() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    ann.say("ghost", "anyone?").await;
    let e = ann.recv_error().await;
    assert!(e.contains("ghost is not online"), "{e}");
    // nor is it kept for later
    let mut ghost = server.client().await;
    let r = ghost.login("ghost").await;
    assert_eq!(r.username_accepted, Some(true));
    assert!(contents(&[r]).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn others_see_users_leave() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    let bob = server.user("bob").await;
    assert_eq!(ann.recv().await.users_joined, Some(vec!["bob".to_owned()]));
    drop(bob);
    let left = ann.recv().await;
    assert_eq!(left.users_left, Some(vec!["bob".to_owned()]));
    // the name is free again
    let mut bob2 = server.client().await;
    assert_eq!(bob2.login("bob").await.username_accepted, Some(true));
    server.stop().await;
}

#[tokio::test]
async fn join_history_has_public_and_own_private_messages_only_oldest_first() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    let mut bob = server.user("bob").await;
    let mut joe = server.user("joe").await;
    ann.say("ALL", "public 1").await;
    ann.say("joe", "ann to joe").await;
    ann.say("bob", "ann to bob").await;
    // each sender waits until the last one's message arrived: the order is then known
    joe.recv_message("ann to joe").await;
    joe.say("ann", "joe to ann").await;
    ann.recv_message("joe to ann").await;
    bob.say("ALL", "public 2").await;
    ann.recv_message("public 2").await;
    joe.recv_message("public 2").await;
    drop(joe);
    // let the server see joe leave before he returns
    ann.recv_where(|f| f.users_left.is_some()).await;
    let mut joe = server.client().await;
    let r = joe.login("joe").await;
    let history = contents(&[r]);
    assert_eq!(history, ["public 1", "ann to joe", "joe to ann", "public 2"]);
    // a third user sees only the public ones
    let mut cat = server.client().await;
    assert_eq!(contents(&[cat.login("cat").await]), ["public 1", "public 2"]);
    server.stop().await;
}

#[tokio::test]
async fn join_history_is_capped_to_the_newest_messages() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.history = 3;
    let server = TestServer::start(config).await;
    let mut ann = server.user("ann").await;
    let mut bob = server.user("bob").await;
    for i in 0..6 {
        ann.say("ALL", &format!("n{i}")).await;
    }
    bob.recv_message("n5").await;
    let mut cat = server.client().await;
    assert_eq!(contents(&[cat.login("cat").await]), ["n3", "n4", "n5"]);
    server.stop().await;
}

#[tokio::test]
async fn bad_frames_get_an_error_and_the_connection_stays_usable() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut bob = server.user("bob").await;
    let mut ann = server.user("ann").await;
    let cases: [(&[u8], &str); 9] = [
        (b"{\"MESSAGES\": [[\"broken", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1,2,3]", "wrong shape"),
        (b"{\"MESSAGES\":\"hi\"}", "MESSAGES"),
        (b"{\"MESSAGES\":[[\"ann\",\"ALL\",1]]}", "MESSAGES"),
        (b"{\"MESSAGES\":[[\"ann\",\"ALL\",\"1\",\"x\"]]}", "TIMESTAMP"),
        (b"{\"HELLO\":1}", "HELLO"),
        (b"{}", "no request"),
        (b"{\"USERNAME\":\"other\"}", "already logged in as ann"),
    ];
    for (json, want) in cases {
        ann.send_json(json).await;
        let e = ann.recv_error().await;
        assert!(e.contains(want), "{}: {e}", String::from_utf8_lossy(json));
    }
    ann.say("ALL", "still here").await;
    bob.recv_message("still here").await;
    server.stop().await;
}

#[tokio::test]
async fn chat_before_login_and_wrongly_typed_logins_get_errors() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut bob = server.user("bob").await;
    let mut c = server.client().await;
    c.send(&Frame::messages(vec![Message::new("ghost", "ALL", now(), "early")])).await;
    assert!(c.recv_error().await.contains("Log in"));
    c.send_json(br#"{"USERNAME":5}"#).await;
    assert!(c.recv_error().await.contains("USERNAME"));
    c.send_json(br#"{"USERNAME":["x"]}"#).await;
    assert!(c.recv_error().await.contains("USERNAME"));
    assert_eq!(c.login("late").await.username_accepted, Some(true));
    c.say("ALL", "probe").await;
    let before = contents(&bob.until_probe("probe").await);
    assert!(!before.contains(&"early".to_owned()), "{before:?}");
    server.stop().await;
}

#[tokio::test]
async fn messages_riding_with_the_login_are_sent_once_logged_in() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut bob = server.user("bob").await;
    let mut c = server.client().await;
    c.send(&Frame {
        username: Some("ann".into()),
        messages: Some(vec![Message::new("ann", "ALL", now(), "hi on arrival")]),
        ..Frame::default()
    })
    .await;
    assert_eq!(c.recv().await.username_accepted, Some(true));
    let m = bob.recv_message("hi on arrival").await;
    assert_eq!(m.src, "ann");
    server.stop().await;
}

#[tokio::test]
async fn timestamps_near_the_server_clock_are_kept_and_far_ones_restamped() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    let mut bob = server.user("bob").await;
    let near = now() - 60;
    let far = now() - 10 * MAX_CLOCK_SKEW_SECS;
    ann.send(&Frame::messages(vec![
        Message::new("ann", "ALL", near, "near"),
        Message::new("ann", "ALL", far, "far"),
    ]))
    .await;
    let got = bob.recv_messages(2).await;
    assert_eq!(got[0].content, "near");
    assert_eq!(got[0].timestamp, near);
    assert_eq!(got[1].content, "far");
    let got = got[1].timestamp;
    assert!((got - now()).abs() <= 5, "re-stamped with the server's time: {got}");
    server.stop().await;
}

#[tokio::test]
async fn non_ascii_goes_out_escaped_and_arrives_intact() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    let bob_tls = tls_connect(server.addr, &server.ca).await;
    let mut bob = Client::over(bob_tls);
    bob.login("bob").await;
    let text = "grüße 😀 שלום";
    ann.say("ALL", text).await;
    // read bob's next frame as raw bytes
    use futures_util::StreamExt;
    let stream = bob.io.into_inner();
    let mut framed =
        tokio_util::codec::FramedRead::new(stream, shared::codec::FrameCodec::new(1 << 20));
    let payload = tokio::time::timeout(PATIENCE, framed.next())
        .await
        .expect("in time")
        .expect("a frame")
        .expect("framing");
    assert!(payload.is_ascii(), "{}", String::from_utf8_lossy(&payload));
    let f = shared::decode(&payload).expect("protocol JSON");
    assert_eq!(f.messages.expect("messages")[0].content, text);
    server.stop().await;
}

#[tokio::test]
async fn frames_split_across_writes_and_several_in_one_write_are_read() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut bob = server.user("bob").await;
    let mut ann = server.client().await;
    let mut wire = Vec::new();
    for json in [
        br#"{"USERNAME":"ann"}"#.to_vec(),
        format!(r#"{{"MESSAGES":[["ann","ALL",{},"one"]]}}"#, now()).into_bytes(),
        format!(r#"{{"MESSAGES":[["ann","ALL",{},"two"]]}}"#, now()).into_bytes(),
    ] {
        wire.extend_from_slice(&(json.len() as u32).to_be_bytes());
        wire.extend_from_slice(&json);
    }
    // the first frame a byte at a time (each flushed: a TLS record of its own), the rest in
    // one write
    let first_len = 4 + br#"{"USERNAME":"ann"}"#.len();
    for b in &wire[..first_len] {
        ann.send_raw(&[*b]).await;
    }
    ann.send_raw(&wire[first_len..]).await;
    assert_eq!(ann.recv().await.username_accepted, Some(true));
    bob.recv_message("one").await;
    bob.recv_message("two").await;
    server.stop().await;
}

/// Two users writing at once, each frame in its own write (so its own TLS records): when the
/// server writes to a connection, records of that connection's next frames are often still
/// waiting to be read. Every frame both ways arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_queued_behind_a_write_are_neither_lost_nor_reordered() {
    const N: usize = 300;
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.flood = None; // both send as fast as they can
    let server = TestServer::start(config).await;
    let mut ann = server.user("ann").await;
    let bob = server.user("bob").await;
    ann.recv_where(|f| f.users_joined.is_some()).await;
    let talk = |mut c: Client, from: &'static str, to: &'static str| async move {
        for i in 0..N {
            c.say("ALL", &format!("{from} {i}")).await;
        }
        let got = c.recv_messages(N).await;
        let want: Vec<String> = (0..N).map(|i| format!("{to} {i}")).collect();
        assert_eq!(got.iter().map(|m| m.content.clone()).collect::<Vec<_>>(), want);
        c
    };
    let (ann, bob) =
        tokio::join!(tokio::spawn(talk(ann, "ann", "bob")), tokio::spawn(talk(bob, "bob", "ann")));
    drop((ann.expect("ann"), bob.expect("bob")));
    server.stop().await;
}

#[tokio::test]
async fn a_4_gib_length_prefix_closes_only_that_connection() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.user("ann").await;
    let mut bob = server.user("bob").await;
    let mut evil = server.user("evil").await;
    evil.send_raw(&[0xff, 0xff, 0xff, 0xff, b'{']).await;
    let frames = evil.expect_closed(PATIENCE).await;
    let errors: Vec<_> = frames.iter().filter_map(|f| f.error.clone()).collect();
    assert!(errors.iter().any(|e| e.contains("4294967295 bytes")), "{errors:?}");
    // the others notice the departure and keep chatting
    ann.recv_where(|f| f.users_left == Some(vec!["evil".to_owned()])).await;
    ann.say("ALL", "unbothered").await;
    bob.recv_message("unbothered").await;
    server.stop().await;
}

#[tokio::test]
async fn a_connection_that_never_logs_in_is_closed_after_the_login_timeout() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.login_timeout = Duration::from_millis(300);
    let server = TestServer::start(config).await;
    let mut idle = server.client().await;
    let frames = idle.expect_closed(PATIENCE).await;
    assert!(frames.iter().any(|f| f.error.as_deref().is_some_and(|e| e.contains("No login"))));
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_refused() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.max_connections = 2;
    let server = TestServer::start(config).await;
    let mut a = server.user("a").await;
    let _b = server.user("b").await;
    let refused = try_tls(server.addr, &server.ca).await;
    assert!(refused.is_err(), "the third connection is closed before TLS completes");
    drop(_b);
    // a freed slot can be used again: once a has seen b leave, b's session has ended and its
    // slot is released as its task finishes (a connection in that instant is refused at once,
    // and the next is tried)
    a.recv_where(|f| f.users_left == Some(vec!["b".to_owned()])).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut c = loop {
        if let Ok(s) = try_tls(server.addr, &server.ca).await {
            break Client::over(s);
        }
        assert!(tokio::time::Instant::now() < deadline, "a slot frees up when a client leaves");
    };
    assert_eq!(c.login("c").await.username_accepted, Some(true));
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_per_address_limit_are_refused() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.max_per_address = 2;
    let server = TestServer::start(config).await;
    let _a = server.user("a").await;
    let _b = server.user("b").await;
    // a third from 127.0.0.1 is told why, then closed
    let third = try_tls(server.addr, &server.ca).await.expect("the handshake completes");
    let frames = Client::over(third).expect_closed(PATIENCE).await;
    assert!(
        frames.iter().any(|f| f.error.as_deref().is_some_and(|e| e.contains("at most 2"))),
        "{frames:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_crowd_logging_in_at_once_is_announced_to_everyone_exactly_once() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut watcher = server.user("watcher").await;
    // 30 logins at once: the hub merges their joins into shared lists
    let crowd: Vec<String> = (0..30).map(|i| format!("c{i:02}")).collect();
    let mut logins = Vec::new();
    for name in &crowd {
        let mut c = server.client().await;
        let name = name.clone();
        logins.push(tokio::spawn(async move {
            let reply = c.login(&name).await;
            (c, name, reply.user_list.expect("USER_LIST"))
        }));
    }
    let mut clients = Vec::new();
    for l in logins {
        clients.push(l.await.expect("login"));
    }
    // the watcher hears of each newcomer once
    let mut heard = Vec::new();
    while heard.len() < crowd.len() {
        let f = watcher.recv_where(|f| f.users_joined.is_some()).await;
        heard.extend(f.users_joined.expect("joined"));
    }
    heard.sort();
    assert_eq!(heard, crowd);
    // each newcomer: its USER_LIST plus the joins it is told of make everyone, with no name
    // twice and never itself announced
    let mut everyone: Vec<String> =
        std::iter::once("watcher".to_owned()).chain(crowd.iter().cloned()).collect();
    everyone.sort();
    // the watcher has heard every join, so the server announced all of them before this
    watcher.say("ALL", "probe").await;
    for (c, me, list) in &mut clients {
        let me = me.clone();
        let mut known = list.clone();
        for f in c.until_probe("probe").await {
            for n in f.users_joined.into_iter().flatten() {
                assert_ne!(n, me, "{me} was told of its own join");
                assert!(!known.contains(&n), "{me} was told of {n} twice");
                known.push(n);
            }
        }
        known.sort();
        assert_eq!(known, everyone, "{me}");
    }
    drop(clients);
    server.stop().await;
}
