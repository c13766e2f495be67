//! Search (extension `search`) against the real server process: results only from what the
//! user may see, filters, context, paging, an edited message found by its new text, and the
//! refusals that quote the query.

use shared::frame::{Edit, Found, Search};
use shared::{Frame, Message};
use test_support::*;

const SEARCH: &[&str] = &["search", "rooms", "edit"];

async fn user(s: &BinServer, dirs: &Dirs, name: &str, f: Option<&[&str]>) -> Client {
    Client::logged_in(s.addr, &dirs.ca(), name, f).await.0
}

async fn search(c: &mut Client, search: Search) -> Found {
    c.send(&Frame { search: Some(search), ..Frame::default() }).await;
    c.recv_where(|f| f.found.is_some()).await.found.expect("FOUND")
}

fn query(q: &str) -> Search {
    Search { query: q.into(), ..Search::default() }
}

fn texts(found: &Found) -> Vec<&str> {
    found.results.iter().map(|h| h.message.content.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_only_what_each_user_may_see() {
    let dirs = Dirs::new();
    let s = BinServer::spawn(bin!("chatterbox-server"), &dirs, &[]);
    let mut ann = user(&s, &dirs, "ann", Some(SEARCH)).await;
    let mut bob = user(&s, &dirs, "bob", Some(SEARCH)).await;
    let mut cy = user(&s, &dirs, "cy", Some(SEARCH)).await;
    let mut plain = user(&s, &dirs, "dan", None).await;
    for c in [&mut ann, &mut bob] {
        c.send(&Frame { join: Some("#fruit".into()), ..Frame::default() }).await;
        c.recv_where(|f| f.joined.is_some()).await;
    }
    ann.say("ALL", "the apple harvest").await;
    ann.say("bob", "apple for bob only").await;
    bob.recv_message("apple for bob only").await;
    bob.say("#fruit", "an apple in the room").await;
    ann.recv_message("an apple in the room").await;
    ann.say("ALL", "speling mistake apple").await;
    let typo = ann.recv_message("speling mistake apple").await.id.expect("id");
    ann.send(&Frame {
        edit: Some(Edit { id: typo, content: "spelling fixed apple".into() }),
        ..Frame::default()
    })
    .await;
    loop {
        // The edit's own entry comes back once it is stored.
        let m = ann.next_message().await;
        if m.change.is_some() {
            break;
        }
    }
    // Once the witness has the probe, everything before it is stored.
    ann.say("ALL", "probe").await;
    plain.recv_message("probe").await;

    let found = search(&mut ann, query("APPLE")).await;
    assert_eq!(
        texts(&found),
        ["spelling fixed apple", "an apple in the room", "apple for bob only", "the apple harvest"]
    );
    assert!(!found.more);
    let found = search(&mut cy, query("apple")).await;
    assert_eq!(
        texts(&found),
        ["spelling fixed apple", "the apple harvest"],
        "not others' private, not a room cy is not in"
    );
    assert!(search(&mut ann, query("speling")).await.results.is_empty(), "the old text is gone");

    // Filters, and the context of a result.
    let room = Search { room: Some("#fruit".into()), ..query("apple") };
    assert_eq!(texts(&search(&mut bob, room).await), ["an apple in the room"]);
    let from = Search { from: Some("BOB".into()), ..query("apple") };
    assert_eq!(texts(&search(&mut ann, from).await), ["an apple in the room"]);
    let future = Search { after: Some(now() + 3600), ..query("apple") };
    assert!(search(&mut ann, future).await.results.is_empty());
    let harvest = search(&mut cy, query("harvest")).await;
    let context: Vec<&str> =
        harvest.results[0].context.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(context, ["spelling fixed apple"], "the next message in the main room");

    // Paging: the newest 20, then the rest.
    let many: Vec<Message> =
        (0..25).map(|i| Message::new("cy", "ALL", now(), format!("pear {i}"))).collect();
    cy.send(&Frame::messages(many)).await;
    cy.say("ALL", "second probe").await;
    plain.recv_message("second probe").await;
    let first = search(&mut cy, query("pear")).await;
    assert_eq!(first.results.len(), 20);
    assert!(first.more);
    assert_eq!(first.results[0].message.content, "pear 24", "newest first");
    let older_than = first.results.last().and_then(|h| h.message.id);
    let next = search(&mut cy, Search { older_than, ..query("pear") }).await;
    assert_eq!(texts(&next), ["pear 4", "pear 3", "pear 2", "pear 1", "pear 0"]);
    assert!(!next.more);

    // Bad queries are refused with the query quoted; a plain client has no SEARCH.
    for (q, error) in [
        ("an \"open quote", "has a quote (\") that is not closed"),
        ("?! --", "has no word to look for"),
        (&"x".repeat(201)[..], "longer than 200 characters"),
    ] {
        ann.send(&Frame { search: Some(query(q)), ..Frame::default() }).await;
        let got = ann.recv_error().await;
        assert!(got.contains(error), "{q}: {got}");
        if q.len() < 100 {
            assert!(got.contains(&format!("{q:?}")), "the query is quoted: {got}");
        }
    }
    let not_member = Search { room: Some("#fruit".into()), ..query("apple") };
    cy.send(&Frame { search: Some(not_member), ..Frame::default() }).await;
    assert!(cy.recv_error().await.contains("you are not in #fruit"));
    plain.send(&Frame { search: Some(query("apple")), ..Frame::default() }).await;
    assert!(plain.recv_error().await.contains("SEARCH"));
}
