//! Message ids and resuming (extension `resume`) against the real server process: every entry
//! a negotiated client gets carries its id, a plain client's never does; a login with `SINCE`
//! gets exactly what came after, each message once, after a dropped connection and after the
//! server was killed; beyond `--history`, `MISSED` says how many were left out.

use shared::{Frame, Message};
use test_support::*;

const RESUME: &[&str] = &["resume"];

fn server(dirs: &Dirs, extra: &[&str]) -> BinServer {
    BinServer::spawn(bin!("chatterbox-server"), dirs, extra)
}

async fn user(
    s: &BinServer,
    dirs: &Dirs,
    name: &str,
    features: Option<&[&str]>,
) -> (Client, Frame) {
    Client::logged_in(s.addr, &dirs.ca(), name, features).await
}

/// `name` logs in with `resume`, having everything up to message `since`.
async fn resume(s: &BinServer, dirs: &Dirs, name: &str, since: i64) -> (Client, Frame) {
    let login = Frame {
        username: Some(name.into()),
        features: Some(vec!["resume".into()]),
        since: Some(since),
        ..Frame::default()
    };
    Client::logged_in_once_free(s.addr, &dirs.ca(), &login).await
}

fn contents(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.content.clone()).collect()
}

fn history(frame: &Frame) -> Vec<Message> {
    frame.messages.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiated_clients_get_each_messages_id_and_plain_ones_never_do() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut ann, r) = user(&s, &dirs, "ann", Some(RESUME)).await;
    assert_eq!(r.features, Some(vec!["resume".to_owned()]));
    let (mut bob, _) = user(&s, &dirs, "bob", None).await;
    let (mut cy, _) = user(&s, &dirs, "cy", None).await;
    cy.say("ALL", "first").await;
    cy.say("ann", "private").await;
    // A client's own ID is not taken: the server gives the ids.
    let forged = Message::new("cy", "ALL", now(), "forged").with_id(999_999);
    cy.send(&Frame::messages(vec![forged])).await;
    let got = ann.recv_messages(3).await;
    assert_eq!(contents(&got), ["first", "private", "forged"]);
    let ids: Vec<i64> = got.iter().map(|m| m.id.expect("an id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids[2] != 999_999, "{ids:?}");
    let plain = bob.recv_messages(2).await;
    assert!(plain.iter().all(|m| m.id.is_none()), "{plain:?}");
    // History too: with ids for the negotiated, without for the plain.
    drop((ann, bob));
    let (_ann, r) = user(&s, &dirs, "ann", Some(RESUME)).await;
    let ids_again: Vec<i64> = history(&r).iter().filter_map(|m| m.id).collect();
    assert_eq!(ids_again, ids, "the same ids");
    let (_bob, r) = user(&s, &dirs, "bob", None).await;
    assert!(history(&r).iter().all(|m| m.id.is_none()));
    // SINCE without the extension is an error, and the login goes on as usual.
    let mut dan = Client::connect(s.addr, &dirs.ca()).await;
    dan.send(&Frame { username: Some("dan".into()), since: Some(1), ..Frame::default() }).await;
    assert!(dan.recv_error().await.contains("SINCE"));
    assert_eq!(
        dan.recv_where(|f| f.username_accepted.is_some()).await.username_accepted,
        Some(true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resumes_with_each_missed_message_once() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut ann, _) = user(&s, &dirs, "ann", Some(RESUME)).await;
    let (mut bob, _) = user(&s, &dirs, "bob", None).await;
    for i in 0..5 {
        bob.say("ALL", &format!("m{i}")).await;
    }
    bob.say("ann", "private").await;
    let seen = ann.recv_messages(3).await;
    let last = seen.last().and_then(|m| m.id).expect("an id");
    // The connection drops mid-stream: m3, m4 and the private one were on their way.
    drop(ann);
    for i in 5..8 {
        bob.say("ALL", &format!("m{i}")).await;
    }
    // Once a witness has bob's m7, everything before it is in.
    let (mut witness, _) = user(&s, &dirs, "witness", None).await;
    bob.say("ALL", "probe").await;
    witness.recv_message("probe").await;
    let (_ann, r) = resume(&s, &dirs, "ann", last).await;
    assert_eq!(
        contents(&history(&r)),
        ["m3", "m4", "private", "m5", "m6", "m7", "probe"],
        "after m2, each once, in order"
    );
    assert_eq!(r.missed, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_missed_than_the_history_holds_are_counted() {
    let dirs = Dirs::new();
    let s = server(&dirs, &["--history", "5"]);
    let (mut ann, _) = user(&s, &dirs, "ann", Some(RESUME)).await;
    let (mut bob, _) = user(&s, &dirs, "bob", None).await;
    bob.say("ALL", "seen").await;
    let last = ann.recv_message("seen").await.id.expect("an id");
    drop(ann);
    for i in 0..8 {
        bob.say("ALL", &format!("m{i}")).await;
    }
    // bob's own messages come back to nobody; a probe shows they are all in.
    let (mut cy, _) = user(&s, &dirs, "cy", None).await;
    bob.say("ALL", "probe").await;
    cy.recv_message("probe").await;
    let (_ann, r) = resume(&s, &dirs, "ann", last).await;
    assert_eq!(contents(&history(&r)), ["m4", "m5", "m6", "m7", "probe"]);
    assert_eq!(r.missed, Some(4), "m0 to m3 left out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_server_was_killed_a_resumed_login_gets_each_message_once() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut ann, _) = user(&s, &dirs, "ann", Some(RESUME)).await;
    let (mut bob, _) = user(&s, &dirs, "bob", None).await;
    let (mut cy, _) = user(&s, &dirs, "cy", None).await;
    for i in 0..20 {
        bob.say("ALL", &format!("m{i}")).await;
    }
    // cy has them all: every one is committed (nothing is delivered before).
    cy.recv_message("m19").await;
    let seen = ann.recv_messages(10).await;
    assert_eq!(seen.last().map(|m| m.content.as_str()), Some("m9"));
    let last = seen.last().and_then(|m| m.id).expect("an id");
    s.signal("KILL");
    drop((ann, bob, cy, s));
    let s = server(&dirs, &[]);
    let (_ann, r) = resume(&s, &dirs, "ann", last).await;
    let expected: Vec<String> = (10..20).map(|i| format!("m{i}")).collect();
    assert_eq!(contents(&history(&r)), expected);
}
