//! The negotiated extensions: `block` (BLOCK, UNBLOCK, LIST_BLOCKED → BLOCKED) and `users`
//! (LIST_ALL_USERS → ALL_USERS), and that a plain client never meets them.

use shared::Frame;
use test_support::*;

const ALL: &[&str] = &["block", "users"];

async fn ext_user(server: &TestServer, name: &str) -> Client {
    let mut c = server.client().await;
    let r = c.login_with(name, Some(ALL)).await;
    assert_eq!(r.username_accepted, Some(true));
    c
}

async fn block(c: &mut Client, name: &str) -> Vec<String> {
    c.send(&Frame { block: Some(name.into()), ..Frame::default() }).await;
    c.recv_where(|f| f.blocked.is_some()).await.blocked.expect("BLOCKED")
}

async fn unblock(c: &mut Client, name: &str) -> Vec<String> {
    c.send(&Frame { unblock: Some(name.into()), ..Frame::default() }).await;
    c.recv_where(|f| f.blocked.is_some()).await.blocked.expect("BLOCKED")
}

#[tokio::test]
async fn the_server_grants_the_features_it_knows_and_reports_blocks_at_login() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut c = server.client().await;
    let r = c.login_with("ann", Some(&["users", "teleport", "block"])).await;
    assert_eq!(r.features, Some(vec!["users".to_owned(), "block".to_owned()]));
    assert_eq!(r.blocked, Some(vec![]));
    let mut d = server.client().await;
    let r = d.login_with("bob", Some(&["users"])).await;
    assert_eq!(r.features, Some(vec!["users".to_owned()]));
    assert_eq!(r.blocked, None, "no BLOCKED without the block feature");
    // a feature not granted is an unknown key
    d.send(&Frame { block: Some("ann".into()), ..Frame::default() }).await;
    assert!(d.recv_error().await.contains("BLOCK"));
    server.stop().await;
}

#[tokio::test]
async fn a_plain_client_never_receives_extension_keys() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut plain = server.user("plain").await;
    let mut cat = server.user("cat").await;
    let mut ann = ext_user(&server, "ann").await;
    block(&mut ann, "plain").await;
    ann.send(&Frame { list_all_users: Some(true), ..Frame::default() }).await;
    ann.recv_where(|f| f.all_users.is_some()).await;
    plain.send(&Frame { block: Some("ann".into()), ..Frame::default() }).await;
    assert!(plain.recv_error().await.contains("Unknown"));
    plain.send(&Frame { list_all_users: Some(true), ..Frame::default() }).await;
    assert!(plain.recv_error().await.contains("LIST_ALL_USERS"));
    cat.say("plain", "probe").await;
    plain
        .expect_none_before_probe("probe", "an extension key", |f| {
            f.blocked.is_some() || f.all_users.is_some() || f.features.is_some()
        })
        .await;
    server.stop().await;
}

#[tokio::test]
async fn a_block_stops_messages_both_ways_and_leaves_others_alone() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = ext_user(&server, "ann").await;
    let mut bob = server.user("bob").await; // a plain client is blocked all the same
    let mut cat = server.user("cat").await;
    assert_eq!(block(&mut ann, "bob").await, ["bob"]);

    bob.say("ALL", "from bob").await;
    ann.say("ALL", "from ann").await;
    // two senders: the server orders them as they reach it, either way round
    let order: Vec<String> = cat.recv_messages(2).await.into_iter().map(|m| m.content).collect();
    let mut both = order.clone();
    both.sort();
    assert_eq!(both, ["from ann", "from bob"]);
    // DMs are refused with an ERROR, in both directions
    ann.say("bob", "ann to bob").await;
    assert!(ann.recv_error().await.contains("You have blocked bob"));
    bob.say("ann", "bob to ann").await;
    assert!(bob.recv_error().await.contains("ann does not accept your messages"));
    // a sentinel from cat shows that everything earlier has been delivered
    cat.say("ALL", "sentinel").await;
    let seen_by_ann = contents(&ann.until_probe("sentinel").await);
    let seen_by_bob = contents(&bob.until_probe("sentinel").await);
    assert!(!seen_by_ann.iter().any(|c| c.contains("bob")), "{seen_by_ann:?}");
    assert!(!seen_by_bob.iter().any(|c| c.contains("ann")), "{seen_by_bob:?}");

    // join history hides them from each other too, and from neither for cat
    let mut bob2 = server.client().await;
    let history = contents(&[bob2.login("bob2").await]);
    assert_eq!(history, [&order[0], &order[1], "sentinel"], "the order everyone saw");
    drop(bob);
    cat.recv_where(|f| f.users_left.is_some()).await;
    let mut bob = server.client().await;
    assert_eq!(contents(&[bob.login("bob").await]), ["from bob", "sentinel"]);
    drop(ann);
    cat.recv_where(|f| f.users_left.is_some()).await;
    let mut ann = server.client().await;
    assert_eq!(contents(&[ann.login_with("ann", Some(ALL)).await]), ["from ann", "sentinel"]);
    server.stop().await;
}

#[tokio::test]
async fn unblocking_one_name_keeps_the_other_blocks_and_blocks_persist() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut ann = ext_user(&server, "ann").await;
    let mut bob = server.user("bob").await;
    let mut cat = server.user("cat").await;
    block(&mut ann, "bob").await;
    assert_eq!(block(&mut ann, "cat").await, ["bob", "cat"]);
    assert_eq!(unblock(&mut ann, "bob").await, ["cat"]);
    ann.send(&Frame { list_blocked: Some(true), ..Frame::default() }).await;
    assert_eq!(ann.recv_where(|f| f.blocked.is_some()).await.blocked, Some(vec!["cat".into()]));
    bob.say("ALL", "bob again").await;
    cat.say("ALL", "cat still blocked").await;
    // once bob has cat's message, the server has passed it on to whoever gets it
    bob.recv_message("cat still blocked").await;
    bob.say("ALL", "bob sentinel").await;
    assert_eq!(contents(&ann.until_probe("bob sentinel").await), ["bob again"]);
    drop((ann, bob, cat));
    server.stop().await;

    let server = TestServer::start(dirs.config()).await;
    let mut ann = server.client().await;
    let r = ann.login_with("ann", Some(ALL)).await;
    assert_eq!(r.blocked, Some(vec!["cat".to_owned()]), "blocks survive a restart");
    assert_eq!(contents(&[r]), ["bob again", "bob sentinel"]);
    server.stop().await;
}

#[tokio::test]
async fn blocking_needs_a_login_and_a_valid_other_name() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let mut anon = server.client().await;
    anon.send(&Frame { block: Some("bob".into()), ..Frame::default() }).await;
    assert!(anon.recv_error().await.contains("Log in"));
    let mut ann = ext_user(&server, "ann").await;
    ann.send(&Frame { block: Some("ann".into()), ..Frame::default() }).await;
    assert!(ann.recv_error().await.contains("yourself"));
    ann.send(&Frame { block: Some("ALL".into()), ..Frame::default() }).await;
    assert!(ann.recv_error().await.contains("reserved"));
    server.stop().await;
}

#[tokio::test]
async fn all_users_lists_everyone_ever_seen() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let gone = server.user("zed").await;
    drop(gone);
    let mut ann = ext_user(&server, "ann").await;
    let _bob = server.user("bob").await;
    ann.send(&Frame { list_all_users: Some(true), ..Frame::default() }).await;
    let all = ann.recv_where(|f| f.all_users.is_some()).await.all_users.expect("ALL_USERS");
    assert_eq!(all, ["ann", "bob", "zed"]);
    server.stop().await;
}
