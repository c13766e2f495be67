//! Editing and deleting (extension `edit`) against the real server process: an edit and a
//! delete reach everyone the message reached, as changes for clients with `edit` and as a
//! quoting message (or nothing) for plain clients; a client that was offline gets them in its
//! history, by resuming or not; a deleted text is gone from the database file; and every
//! refusal changes nothing.

use shared::frame::{Change, Edit};
use shared::{Frame, Message};
use test_support::*;

const EDIT: &[&str] = &["edit", "rooms"];
const EDIT_RESUME: &[&str] = &["edit", "resume"];

fn server(dirs: &Dirs) -> BinServer {
    BinServer::spawn(bin!("chatterbox-server"), dirs, &[])
}

async fn user(s: &BinServer, dirs: &Dirs, name: &str, f: Option<&[&str]>) -> (Client, Frame) {
    Client::logged_in(s.addr, &dirs.ca(), name, f).await
}

fn edit(id: i64, content: &str) -> Frame {
    Frame { edit: Some(Edit { id, content: content.into() }), ..Frame::default() }
}

fn delete(id: i64) -> Frame {
    Frame { delete: Some(id), ..Frame::default() }
}

/// The next live entry whose change is `change`.
async fn recv_change(c: &mut Client, change: Change) -> Message {
    loop {
        let m = c.next_message().await;
        if m.change == Some(change) {
            return m;
        }
    }
}

/// `c`'s own message `content` back from the server, with its id.
async fn own(c: &mut Client, content: &str) -> i64 {
    let m = c.recv_message(content).await;
    assert_eq!(m.src, c.name, "{content:?} came back as the sender's own");
    m.id.expect("an edit client's entries carry ids")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_and_a_delete_reach_everyone_and_a_client_that_was_offline() {
    let dirs = Dirs::new();
    let s = server(&dirs);
    let (mut ann, r) = user(&s, &dirs, "ann", Some(EDIT)).await;
    assert_eq!(r.features, Some(vec!["edit".to_owned(), "rooms".to_owned()]));
    let (mut bob, _) = user(&s, &dirs, "bob", Some(EDIT_RESUME)).await;
    let (mut dan, _) = user(&s, &dirs, "dan", None).await;

    ann.say("ALL", "teh cat").await;
    let id = own(&mut ann, "teh cat").await;
    assert_eq!(bob.recv_message("teh cat").await.id, Some(id));
    let last_bob_saw = id;
    drop(bob); // offline from here

    ann.send(&edit(id, "the cat")).await;
    let e = recv_change(&mut ann, Change::Edit(id)).await;
    assert_eq!((e.src.as_str(), e.dest.as_str(), e.content.as_str()), ("ann", "ALL", "the cat"));
    let plain = dan.recv_message("[edit] \"teh cat\" -> the cat").await;
    assert_eq!((plain.src.as_str(), plain.id, plain.change), ("ann", None, None));

    ann.say("ALL", "a secret word").await;
    let secret = own(&mut ann, "a secret word").await;
    ann.send(&delete(secret)).await;
    recv_change(&mut ann, Change::Delete(secret)).await;
    ann.say("ALL", "probe").await;
    dan.expect_none_before_probe("probe", "anything of a delete", |f| {
        f.messages.iter().flatten().any(|m| m.content.is_empty() || m.change.is_some())
    })
    .await;

    // bob resumes: the secret's entry and its delete, the edit, each once.
    let login = Frame {
        username: Some("bob".into()),
        features: Some(EDIT_RESUME.iter().map(|f| (*f).to_owned()).collect()),
        since: Some(last_bob_saw),
        ..Frame::default()
    };
    let (again, r) = Client::logged_in_once_free(s.addr, &dirs.ca(), &login).await;
    let got: Vec<(String, Option<Change>)> =
        r.messages.iter().flatten().map(|m| (m.content.clone(), m.change)).collect();
    assert_eq!(
        got,
        [
            ("the cat".to_owned(), Some(Change::Edit(id))),
            (String::new(), Some(Change::Deleted(deleted_at(&r, secret)))),
            (String::new(), Some(Change::Delete(secret))),
            ("probe".to_owned(), None),
        ],
        "what came after bob's last message"
    );

    // A fresh login sees each message as it reads now.
    let (_, fresh) = user(&s, &dirs, "cy", Some(EDIT)).await;
    let entries: Vec<(String, bool)> = fresh
        .messages
        .iter()
        .flatten()
        .filter(|m| !m.change.is_some_and(|c| matches!(c, Change::Edit(_) | Change::Delete(_))))
        .map(|m| (m.content.clone(), matches!(m.change, Some(Change::Edited(_)))))
        .collect();
    assert_eq!(
        entries,
        [("the cat".to_owned(), true), (String::new(), false), ("probe".to_owned(), false)]
    );
    let (_, plain) = user(&s, &dirs, "eve", None).await;
    let contents: Vec<&str> = plain.messages.iter().flatten().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, ["the cat", "probe"], "no edit entries, no deleted message");

    // The deleted text is not in the database file, only the edited one's new text is.
    drop((ann, dan, again));
    s.stop();
    // Every file the server left: the database, its write-ahead log, the search index (and
    // the directory of shared files, empty here).
    let mut bytes = Vec::new();
    for file in std::fs::read_dir(dirs.data()).expect("the data directory") {
        let path = file.expect("a file").path();
        if path.is_file() {
            bytes.extend(std::fs::read(path).expect("read"));
        }
    }
    let has = |text: &str| bytes.windows(text.len()).any(|w| w == text.as_bytes());
    assert!(has("the cat"), "the file is readable as such");
    assert!(!has("a secret word"), "a deleted message's text is removed from the file");
}

/// When message `id` was deleted, from the history entry that says so.
fn deleted_at(frame: &Frame, id: i64) -> i64 {
    frame
        .messages
        .iter()
        .flatten()
        .find_map(|m| match m.change {
            Some(Change::Deleted(at)) if m.id == Some(id) => Some(at),
            _ => None,
        })
        .expect("a deleted entry")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_and_room_changes_reach_only_their_people() {
    let dirs = Dirs::new();
    let s = server(&dirs);
    let (mut ann, _) = user(&s, &dirs, "ann", Some(EDIT)).await;
    let (mut bob, _) = user(&s, &dirs, "bob", Some(EDIT)).await;
    let (mut cy, _) = user(&s, &dirs, "cy", Some(EDIT)).await;
    ann.say("bob", "psst").await;
    let id = own(&mut ann, "psst").await;
    bob.recv_message("psst").await;
    ann.send(&edit(id, "psst!")).await;
    recv_change(&mut bob, Change::Edit(id)).await;
    recv_change(&mut ann, Change::Edit(id)).await;
    ann.send(&Frame { join: Some("#r".into()), ..Frame::default() }).await;
    ann.recv_where(|f| f.joined.is_some()).await;
    ann.say("#r", "in the room").await;
    let in_room = own(&mut ann, "in the room").await;
    ann.send(&delete(in_room)).await;
    recv_change(&mut ann, Change::Delete(in_room)).await;
    ann.say("ALL", "probe").await;
    cy.expect_none_before_probe("probe", "a change of a private or room message", |f| {
        f.messages.iter().flatten().any(|m| m.change.is_some() || m.content.starts_with("ps"))
    })
    .await;
    // bob, offline during an edit of a private message, gets it at his next login.
    drop(bob);
    ann.send(&edit(id, "psst!!")).await;
    recv_change(&mut ann, Change::Edit(id)).await;
    let (_, r) = Client::logged_in_again(s.addr, &dirs.ca(), "bob", Some(EDIT)).await;
    let psst = r.messages.iter().flatten().find(|m| m.id == Some(id)).expect("in history");
    assert_eq!(
        (psst.content.as_str(), matches!(psst.change, Some(Change::Edited(_)))),
        ("psst!!", true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_edit_or_delete_is_refused_and_changes_nothing() {
    let dirs = Dirs::new();
    // Edits allowed for a minute: a message stamped 200 s ago (a clock skew the server
    // accepts) is past it.
    let s = server(&dirs);
    let (mut cy, _) = user(&s, &dirs, "cy", Some(&["account"])).await;
    cy.send(&Frame { register: Some("operator pass".into()), ..Frame::default() }).await;
    assert_eq!(cy.recv_where(|f| f.registered.is_some()).await.registered, Some(true));
    drop(cy);
    s.stop();
    let args = ["--edit-window", "60", "--operator", "cy"];
    let s = BinServer::spawn(bin!("chatterbox-server"), &dirs, &args);
    let mut op = Client::connect(s.addr, &dirs.ca()).await;
    op.send(&Frame {
        username: Some("cy".into()),
        password: Some("operator pass".into()),
        features: Some(["edit", "moderation", "account"].map(str::to_owned).to_vec()),
        ..Frame::default()
    })
    .await;
    let r = op.recv_where(|f| f.username_accepted.is_some()).await;
    assert_eq!(r.operator, Some(true));
    let (mut ann, _) = user(&s, &dirs, "ann", Some(EDIT)).await;
    let old = Message::new("ann", "ALL", now() - 200, "old");
    ann.send(&Frame::messages(vec![old])).await;
    let old = own(&mut ann, "old").await;
    let (mut bob, _) = user(&s, &dirs, "bob", Some(EDIT)).await;
    let (mut plain, _) = user(&s, &dirs, "dan", None).await;
    bob.say("ALL", "bob's").await;
    let bobs = own(&mut bob, "bob's").await;
    bob.say("ann", "to ann").await;
    let private = own(&mut bob, "to ann").await;
    ann.recv_message("to ann").await;
    ann.say("ALL", "mine").await;
    let mine = own(&mut ann, "mine").await;

    let cases: Vec<(Frame, &str)> = vec![
        (edit(9999, "x"), "There is no message 9999 you can see"),
        (edit(bobs, "x"), "is not yours; only its author can edit it"),
        (edit(old, "x"), "is older than 60 seconds; it can no longer be edited"),
        (edit(mine, ""), "The edit of message"),
        (edit(mine, &"x".repeat(70_000)), "The edit of message"),
        (delete(bobs), "only its author (or an operator, for a public message) can delete it"),
    ];
    for (frame, error) in cases {
        ann.send(&frame).await;
        let got = ann.recv_error().await;
        assert!(got.contains(error), "{frame:?}: {got}");
    }
    ann.send(&delete(mine)).await;
    recv_change(&mut ann, Change::Delete(mine)).await;
    ann.send(&edit(mine, "again")).await;
    assert!(ann.recv_error().await.contains("was deleted"));
    // An operator deletes a public message of anyone's, not a private one it cannot see.
    op.send(&delete(private)).await;
    assert!(op.recv_error().await.contains(&format!("There is no message {private} you can see")));
    op.send(&delete(bobs)).await;
    let d = recv_change(&mut bob, Change::Delete(bobs)).await;
    assert_eq!(d.src, "cy", "who deleted it");
    // A plain client cannot use the keys at all.
    plain.send(&edit(mine, "x")).await;
    assert!(plain.recv_error().await.contains("EDIT"));
    ann.say("ALL", "probe").await;
    bob.expect_none_before_probe("probe", "a refused change", |f| {
        f.messages.iter().flatten().any(|m| m.change.is_some_and(|c| c != Change::Delete(mine)))
    })
    .await;
}
