//! Rooms (extension `rooms`) against the real server process: joining, a room's messages and
//! history for its members only, room presence, listing, leaving, membership kept for an
//! account across a restart and dropped for a new holder of a name, and the refusals.

use shared::Frame;
use shared::frame::{RoomInfo, RoomPresence};
use test_support::*;

const ROOMS: &[&str] = &["rooms"];
const ROOMS_AND_ACCOUNT: &[&str] = &["rooms", "account"];

fn server(dirs: &Dirs, extra: &[&str]) -> BinServer {
    BinServer::spawn(bin!("chatterbox-server"), dirs, extra)
}

/// Stops the server gracefully (its writer commits everything) and starts it again.
fn restart(s: BinServer, dirs: &Dirs, extra: &[&str]) -> BinServer {
    s.stop();
    server(dirs, extra)
}

/// `name` logged in with `features` (none: a plain seed client).
async fn user(
    s: &BinServer,
    dirs: &Dirs,
    name: &str,
    features: Option<&[&str]>,
) -> (Client, Frame) {
    Client::logged_in(s.addr, &dirs.ca(), name, features).await
}

/// Sends `JOIN room` and returns the `JOINED` answer's frame.
async fn join(c: &mut Client, room: &str) -> Frame {
    c.send(&Frame { join: Some(room.into()), ..Frame::default() }).await;
    c.recv_where(|f| f.joined.is_some() || f.error.is_some()).await
}

fn contents(frame: &Frame) -> Vec<String> {
    frame.messages.iter().flatten().map(|m| m.content.clone()).collect()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_messages_reach_its_members_and_nobody_else() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut ann, r) = user(&s, &dirs, "ann", Some(ROOMS)).await;
    assert_eq!(r.features, Some(names(ROOMS)), "granted");
    assert_eq!(r.my_rooms, Some(vec![]), "in no room yet");
    let (mut bob, _) = user(&s, &dirs, "bob", Some(ROOMS)).await;
    let (mut cy, _) = user(&s, &dirs, "cy", Some(ROOMS)).await;
    let (mut dan, plain) = user(&s, &dirs, "dan", None).await;
    assert_eq!(plain.my_rooms, None, "a plain client never sees a room key");

    let joined = join(&mut ann, "#Rust").await;
    let info = joined.joined.clone().expect("JOINED");
    assert_eq!(
        info,
        RoomInfo { name: "#rust".into(), members: names(&["ann"]), ..RoomInfo::default() }
    );
    assert!(contents(&joined).is_empty(), "a new room has no history");
    let joined = join(&mut bob, "#rust").await.joined.expect("JOINED");
    assert_eq!(joined.members, names(&["ann", "bob"]));
    let presence = ann.recv_where(|f| f.room_joined.is_some()).await.room_joined;
    assert_eq!(presence, Some(RoomPresence { room: "#rust".into(), users: names(&["bob"]) }));

    ann.say("#rust", "hello rust").await;
    let m = bob.recv_message("hello rust").await;
    assert_eq!((m.src.as_str(), m.dest.as_str()), ("ann", "#rust"));
    // Neither a non-member nor a plain client gets it: the probe comes after it from ann.
    ann.say("ALL", "probe").await;
    for c in [&mut cy, &mut dan] {
        c.expect_none_before_probe("probe", "the room's message", |f| {
            contents(f).contains(&"hello rust".to_owned())
        })
        .await;
    }
    // Bad destinations are refused and delivered to nobody.
    cy.say("#rust", "let me in").await;
    assert!(cy.recv_error().await.contains("You are not in #rust"));
    cy.say("#nowhere", "anyone?").await;
    assert!(cy.recv_error().await.contains("There is no room #nowhere"));
    dan.say("#rust", "plain").await;
    assert!(dan.recv_error().await.contains("rooms need the extension rooms"));
    bob.say("#rust", "bob's probe").await;
    ann.expect_none_before_probe("bob's probe", "a refused message", |f| {
        let c = contents(f);
        c.contains(&"let me in".to_owned()) || c.contains(&"plain".to_owned())
    })
    .await;
    // The sender does not get its own message back (as with a broadcast).
    bob.say("#rust", "from bob").await;
    ann.recv_message("from bob").await;
    ann.say("#rust", "ann's probe").await;
    bob.expect_none_before_probe("ann's probe", "its own message", |f| {
        contents(f).contains(&"from bob".to_owned())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_history_is_replayed_to_its_members_only() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut ann, _) = user(&s, &dirs, "ann", Some(ROOMS)).await;
    let (mut witness, _) = user(&s, &dirs, "witness", None).await;
    join(&mut ann, "#r").await;
    ann.say("#r", "one").await;
    ann.say("ALL", "public").await;
    ann.say("#r", "two").await;
    // Once the witness has ann's next message, the ones before it are in.
    ann.say("ALL", "probe").await;
    witness.recv_message("probe").await;

    let (mut cy, _) = user(&s, &dirs, "cy", Some(ROOMS)).await;
    let joined = join(&mut cy, "#r").await;
    assert_eq!(contents(&joined), ["one", "two"], "JOINED carries the room's history");
    // After the join, live: once, after the history.
    ann.say("#r", "three").await;
    assert_eq!(cy.next_message().await.content, "three");

    // A member's login replays its rooms; a non-member's and a plain client's do not.
    drop(cy);
    let (_cy, again) = Client::logged_in_again(s.addr, &dirs.ca(), "cy", Some(ROOMS)).await;
    let mine = again.my_rooms.clone().expect("MY_ROOMS");
    assert_eq!(mine.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["#r"]);
    assert_eq!(contents(&again), ["one", "public", "two", "probe", "three"]);
    let (_eve, outsider) = user(&s, &dirs, "eve", Some(ROOMS)).await;
    assert_eq!(contents(&outsider), ["public", "probe"]);
    let (_dan, plain) = user(&s, &dirs, "dan", None).await;
    assert_eq!(contents(&plain), ["public", "probe"]);
    // Nor does the history of a former member, even for what it wrote there.
    ann.send(&Frame { part: Some("#r".into()), ..Frame::default() }).await;
    assert_eq!(ann.recv_where(|f| f.parted.is_some()).await.parted.as_deref(), Some("#r"));
    drop(ann);
    let (_ann, after) = Client::logged_in_again(s.addr, &dirs.ca(), "ann", Some(ROOMS)).await;
    assert_eq!(contents(&after), ["public", "probe"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_listed_left_and_bad_names_refused() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut ann, _) = user(&s, &dirs, "ann", Some(ROOMS)).await;
    let (mut bob, _) = user(&s, &dirs, "bob", Some(ROOMS)).await;
    join(&mut ann, "#a").await;
    join(&mut ann, "#b").await;
    join(&mut bob, "#b").await;
    bob.send(&Frame { list_rooms: Some(true), ..Frame::default() }).await;
    let rooms = bob.recv_where(|f| f.rooms.is_some()).await.rooms.expect("ROOMS");
    let counts: Vec<_> = rooms.iter().map(|r| (r.name.as_str(), r.members, r.online)).collect();
    assert_eq!(counts, [("#a", 1, 1), ("#b", 2, 2)]);

    bob.send(&Frame { part: Some("#B".into()), ..Frame::default() }).await;
    assert_eq!(bob.recv_where(|f| f.parted.is_some()).await.parted.as_deref(), Some("#b"));
    let left = ann.recv_where(|f| f.room_left.is_some()).await.room_left;
    assert_eq!(left, Some(RoomPresence { room: "#b".into(), users: names(&["bob"]) }));
    bob.send(&Frame { part: Some("#b".into()), ..Frame::default() }).await;
    assert!(bob.recv_error().await.contains("You are not in #b"));
    bob.send(&Frame { part: Some("#zzz".into()), ..Frame::default() }).await;
    assert!(bob.recv_error().await.contains("There is no room #zzz"));

    let long = format!("#{}", "x".repeat(33));
    for (bad, why) in [
        ("rust", "begins with \"#\""),
        ("#", "empty"),
        (long.as_str(), "at most 32 characters"),
        ("#a b", "only letters a-z"),
        ("#caf\u{e9}", "only letters a-z"),
    ] {
        let e = join(&mut bob, bad).await.error.expect("an ERROR");
        assert!(e.contains("is not a room's name") && e.contains(why), "{bad:?}: {e}");
    }
    // Nothing was created by the refusals.
    bob.send(&Frame { list_rooms: Some(true), ..Frame::default() }).await;
    let rooms = bob.recv_where(|f| f.rooms.is_some()).await.rooms.expect("ROOMS");
    assert_eq!(rooms.len(), 2);
    // A plain client asking for a room gets told it needs the extension.
    let (mut dan, _) = user(&s, &dirs, "dan", None).await;
    dan.send(&Frame { join: Some("#a".into()), ..Frame::default() }).await;
    assert!(dan.recv_error().await.contains("JOIN"));
    // A username cannot look like a room.
    let mut hash = Client::connect(s.addr, &dirs.ca()).await;
    let r = hash.login("#a").await;
    assert_eq!(r.username_accepted, Some(false));
    assert!(r.info.unwrap_or_default().contains("names a room"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_rooms_survive_a_restart_and_a_new_holder_of_a_name_starts_in_none() {
    let dirs = Dirs::new();
    let s = server(&dirs, &["--reserve-minutes", "0"]);
    let (mut ann, _) = user(&s, &dirs, "ann", Some(ROOMS_AND_ACCOUNT)).await;
    ann.send(&Frame { register: Some("correct horse".into()), ..Frame::default() }).await;
    assert_eq!(ann.recv_where(|f| f.registered.is_some()).await.registered, Some(true));
    join(&mut ann, "#kept").await;
    ann.say("#kept", "remember me").await;
    let (mut bob, _) = user(&s, &dirs, "bob", Some(ROOMS)).await;
    join(&mut bob, "#kept").await;
    drop((ann, bob));

    let s = restart(s, &dirs, &["--reserve-minutes", "0"]);
    let mut ann = Client::connect(s.addr, &dirs.ca()).await;
    let features = Some(names(ROOMS_AND_ACCOUNT));
    let frame = Frame {
        username: Some("ann".into()),
        features,
        password: Some("correct horse".into()),
        ..Frame::default()
    };
    ann.send(&frame).await;
    let r = ann.recv_where(|f| f.username_accepted.is_some()).await;
    assert_eq!(r.username_accepted, Some(true), "{:?}", r.info);
    let mine = r.my_rooms.clone().expect("MY_ROOMS");
    assert_eq!(mine.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["#kept"]);
    assert_eq!(contents(&r), ["remember me"]);
    // bob's name was not registered and nothing reserves it: whoever takes it now is a new
    // holder, in no room, without the room's history.
    let (_bob, r) = user(&s, &dirs, "bob", Some(ROOMS)).await;
    assert_eq!(r.my_rooms, Some(vec![]));
    assert!(contents(&r).is_empty(), "{:?}", r.messages);
    ann.send(&Frame { list_rooms: Some(true), ..Frame::default() }).await;
    let rooms = ann.recv_where(|f| f.rooms.is_some()).await.rooms.expect("ROOMS");
    assert_eq!((rooms[0].name.as_str(), rooms[0].members), ("#kept", 1), "bob's membership went");
}

/// `name` logged in with its password and every extension an operator uses.
async fn with_password(s: &BinServer, dirs: &Dirs, name: &str, password: &str) -> (Client, Frame) {
    let mut c = Client::connect(s.addr, &dirs.ca()).await;
    let frame = Frame {
        username: Some(name.into()),
        features: Some(names(&["rooms", "account", "moderation"])),
        password: Some(password.into()),
        ..Frame::default()
    };
    c.send(&frame).await;
    let r = c.recv_where(|f| f.username_accepted.is_some()).await;
    assert_eq!(r.username_accepted, Some(true), "{name}: {:?}", r.info);
    c.name = name.to_owned();
    (c, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_set_a_topic_and_close_a_room_which_then_takes_invited_names_only() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut opal, _) = user(&s, &dirs, "opal", Some(ROOMS_AND_ACCOUNT)).await;
    opal.send(&Frame { register: Some("operator pass".into()), ..Frame::default() }).await;
    assert_eq!(opal.recv_where(|f| f.registered.is_some()).await.registered, Some(true));
    drop(opal);
    let s = restart(s, &dirs, &["--operator", "opal"]);
    let (mut opal, r) = with_password(&s, &dirs, "opal", "operator pass").await;
    assert_eq!(r.operator, Some(true));
    let (mut ann, _) = user(&s, &dirs, "ann", Some(ROOMS)).await;
    let (mut bob, _) = user(&s, &dirs, "bob", Some(ROOMS)).await;
    let (mut cy, _) = user(&s, &dirs, "cy", Some(ROOMS)).await;
    join(&mut ann, "#club").await;

    let topic = |room: &str, text: &str| Frame {
        topic: Some(shared::frame::RoomTopic { room: room.into(), topic: text.into() }),
        ..Frame::default()
    };
    let close = |room: &str, on: bool| Frame {
        invite_only: Some(shared::frame::RoomInviteOnly { room: room.into(), on }),
        ..Frame::default()
    };
    let invite = |room: &str, name: &str| Frame {
        invite: Some(shared::frame::RoomInvite { room: room.into(), name: name.into() }),
        ..Frame::default()
    };
    // Only operators change a room; bad input changes nothing.
    ann.send(&topic("#club", "mine now")).await;
    assert!(ann.recv_error().await.contains("Only operators"));
    ann.send(&close("#club", true)).await;
    assert!(ann.recv_error().await.contains("Only operators"));
    opal.send(&topic("#club", &"t".repeat(301))).await;
    assert!(opal.recv_error().await.contains("at most 300"));
    opal.send(&topic("#nowhere", "x")).await;
    assert!(opal.recv_error().await.contains("There is no room #nowhere"));

    opal.send(&topic("#club", "Members only")).await;
    let changed = opal.recv_where(|f| f.room_changed.is_some()).await.room_changed;
    assert_eq!(changed.expect("ROOM_CHANGED").topic.as_deref(), Some("Members only"));
    let seen = ann.recv_where(|f| f.room_changed.is_some()).await.room_changed.expect("told");
    assert_eq!((seen.topic.as_deref(), seen.invite_only), (Some("Members only"), false));
    opal.send(&close("#club", true)).await;
    let seen = ann.recv_where(|f| f.room_changed.is_some()).await.room_changed.expect("told");
    assert!(seen.invite_only);

    // Closed: only the invited get in, and only members and operators invite.
    let refused = join(&mut bob, "#club").await.error.expect("refused");
    assert!(refused.contains("#club is invite-only"), "{refused}");
    cy.send(&invite("#club", "dan")).await;
    assert!(cy.recv_error().await.contains("Only #club's members and operators"));
    ann.send(&invite("#club", "bob")).await;
    let info = ann.recv_where(|f| f.info.is_some()).await.info.expect("INFO");
    assert!(info.contains("bob may join #club"), "{info}");
    let invitation = bob.recv_where(|f| f.invited.is_some()).await.invited.expect("INVITED");
    assert_eq!((invitation.room.as_str(), invitation.by.as_str()), ("#club", "ann"));
    let joined = join(&mut bob, "#club").await.joined.expect("the invited get in");
    assert_eq!((joined.topic.as_deref(), joined.invite_only), (Some("Members only"), true));
    // An invitation taken is used up: after leaving, bob is out again.
    bob.send(&Frame { part: Some("#club".into()), ..Frame::default() }).await;
    bob.recv_where(|f| f.parted.is_some()).await;
    assert!(join(&mut bob, "#club").await.error.expect("refused").contains("invite-only"));
    // Operators invite too, and the room keeps its settings and invitations across a restart.
    opal.send(&invite("#club", "dan")).await;
    opal.recv_where(|f| f.info.is_some()).await;
    drop((opal, ann, bob, cy));
    let s = restart(s, &dirs, &["--operator", "opal"]);
    let (mut cy, _) = user(&s, &dirs, "cy", Some(ROOMS)).await;
    cy.send(&Frame { list_rooms: Some(true), ..Frame::default() }).await;
    let rooms = cy.recv_where(|f| f.rooms.is_some()).await.rooms.expect("ROOMS");
    let club = &rooms[0];
    assert_eq!(
        (club.name.as_str(), club.topic.as_deref(), club.invite_only),
        ("#club", Some("Members only"), true)
    );
    assert!(join(&mut cy, "#club").await.error.is_some(), "still closed to the uninvited");
    let (mut dan, _) = user(&s, &dirs, "dan", Some(ROOMS)).await;
    assert!(join(&mut dan, "#club").await.joined.is_some(), "the invitation survived");
}
