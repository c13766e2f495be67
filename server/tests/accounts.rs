//! Names that belong to someone, against the real server process: address reservation,
//! accounts with passwords and session tokens, private history only for the owner, look-alike
//! names, and the refusals of bad input. A second client address is 127.0.0.2 (loopback).

use std::net::{IpAddr, Ipv4Addr};

use shared::Frame;
use test_support::*;

const HOME: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const ELSEWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const ACCOUNT: &[&str] = &["block", "users", "account"];

fn server(dirs: &Dirs, extra: &[&str]) -> BinServer {
    BinServer::spawn(bin!("chatterbox-server"), dirs, extra)
}

/// Stops the server gracefully (its writer commits everything) and starts it again.
fn restart(s: BinServer, dirs: &Dirs, extra: &[&str]) -> BinServer {
    s.stop();
    server(dirs, extra)
}

async fn connect(s: &BinServer, dirs: &Dirs, from: IpAddr) -> Client {
    Client::over(tls_connect_from(s.addr, &dirs.ca(), from).await)
}

/// A login frame with the account extension and, optionally, a password or token.
fn login(name: &str, password: Option<&str>, token: Option<&str>) -> Frame {
    Frame {
        username: Some(name.into()),
        features: Some(ACCOUNT.iter().map(|f| (*f).to_owned()).collect()),
        password: password.map(Into::into),
        token: token.map(Into::into),
        ..Frame::default()
    }
}

async fn try_login(c: &mut Client, frame: &Frame) -> Frame {
    c.send(frame).await;
    let r = c.recv_where(|f| f.username_accepted.is_some()).await;
    if r.username_accepted == Some(true) {
        c.name = frame.username.clone().unwrap_or_default();
    }
    r
}

async fn accepted(s: &BinServer, dirs: &Dirs, from: IpAddr, frame: &Frame) -> (Client, Frame) {
    let mut c = connect(s, dirs, from).await;
    let r = try_login(&mut c, frame).await;
    assert_eq!(r.username_accepted, Some(true), "{:?}", r.info);
    (c, r)
}

async fn refused(s: &BinServer, dirs: &Dirs, from: IpAddr, frame: &Frame) -> String {
    let mut c = connect(s, dirs, from).await;
    let r = try_login(&mut c, frame).await;
    assert_eq!(r.username_accepted, Some(false), "{frame:?} was accepted");
    assert!(r.messages.is_none(), "a refused login carries no history");
    r.info.expect("INFO")
}

fn plain(name: &str) -> Frame {
    Frame { username: Some(name.into()), ..Frame::default() }
}

fn contents_of(r: &Frame) -> Vec<String> {
    r.messages.iter().flatten().map(|m| m.content.clone()).collect()
}

/// ann and bob exchange private messages, then ann leaves.
async fn private_chat(s: &BinServer, dirs: &Dirs, ann: Client) -> Client {
    let mut ann = ann;
    let (mut bob, _) = accepted(s, dirs, HOME, &plain("bob")).await;
    ann.say("bob", "secret from ann").await;
    bob.recv_message("secret from ann").await;
    bob.say("ann", "secret for ann").await;
    ann.recv_message("secret for ann").await;
    bob.say("ALL", "public words").await;
    ann.recv_message("public words").await;
    drop(ann);
    bob
}

#[tokio::test]
async fn a_reserved_name_stays_with_its_address_across_a_restart() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (ann, _) = accepted(&s, &dirs, HOME, &plain("ann")).await;
    let mut bob = private_chat(&s, &dirs, ann).await;
    bob.recv_where(|f| f.users_left.as_ref().is_some_and(|l| l.contains(&"ann".to_owned()))).await;
    for spelling in ["ann", "ANN", "Ann"] {
        let info = refused(&s, &dirs, ELSEWHERE, &plain(spelling)).await;
        assert!(info.contains("reserved") && info.contains("30 more minutes"), "{info}");
    }
    drop(bob);
    let s = restart(s, &dirs, &[]);
    let info = refused(&s, &dirs, ELSEWHERE, &plain("ann")).await;
    assert!(info.contains("reserved"), "a restart does not open the window: {info}");
    // Its own address continues the claim, private history included.
    let (_ann, r) = accepted(&s, &dirs, HOME, &plain("Ann")).await;
    let got = contents_of(&r);
    assert!(got.contains(&"secret from ann".to_owned()) && got.contains(&"secret for ann".into()));
    assert!(r.user_list.expect("USER_LIST").contains(&"ann".to_owned()), "held spelling");
}

#[tokio::test]
async fn a_free_name_taken_by_someone_else_replays_public_history_only() {
    let dirs = Dirs::new();
    let s = server(&dirs, &["--reserve-minutes", "0"]);
    let (ann, _) = accepted(&s, &dirs, HOME, &plain("ann")).await;
    let _bob = private_chat(&s, &dirs, ann).await;
    // Without reservation the name is free at once; whoever takes it starts a new claim.
    let mut taken = None;
    for _ in 0..50 {
        let mut c = connect(&s, &dirs, ELSEWHERE).await;
        let r = try_login(&mut c, &plain("ann")).await;
        if r.username_accepted == Some(true) {
            taken = Some((c, r));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (c, r) = taken.expect("the name comes free once ann has left");
    assert_eq!(contents_of(&r), ["public words"], "no private message of the earlier ann");
    drop(c);
    // Nor does the earlier ann's address get them back: its claim ended when it left.
    let r2 = loop {
        let mut c = connect(&s, &dirs, HOME).await;
        let r = try_login(&mut c, &plain("ann")).await;
        if r.username_accepted == Some(true) {
            break r;
        }
        assert!(r.info.as_deref().is_some_and(|i| i.contains("in use")), "{:?}", r.info);
    };
    assert_eq!(contents_of(&r2), ["public words"]);
}

#[tokio::test]
async fn a_registered_name_needs_its_password_or_a_token() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut ann, r) = accepted(&s, &dirs, HOME, &login("ann", None, None)).await;
    assert_eq!(r.registered, Some(false));
    ann.send(&Frame { register: Some("correct horse".into()), ..Frame::default() }).await;
    let reg = ann.recv_where(|f| f.registered.is_some()).await;
    assert_eq!(reg.registered, Some(true));
    let token = reg.token.expect("a session token");
    assert!(token.len() >= 22, "at least 128 bits");
    let bob = private_chat(&s, &dirs, ann).await;
    drop(bob);

    // Whatever another address tries, it gets no login and no history.
    let plain_info = refused(&s, &dirs, ELSEWHERE, &plain("ann")).await;
    assert!(plain_info.contains("registered") && plain_info.contains("PASSWORD"), "{plain_info}");
    let wrong = refused(&s, &dirs, ELSEWHERE, &login("ann", Some("incorrect horse"), None)).await;
    assert!(wrong.contains("Wrong password"), "{wrong}");
    let bad = refused(&s, &dirs, ELSEWHERE, &login("ann", None, Some("forged-token"))).await;
    assert!(bad.contains("token"), "{bad}");
    let other = refused(&s, &dirs, ELSEWHERE, &login("ANN", None, Some(&token[1..]))).await;
    assert!(other.contains("token"), "{other}");
    let plain_home = refused(&s, &dirs, HOME, &plain("ann")).await;
    assert!(plain_home.contains("registered"), "even from its own address: {plain_home}");
    let over = "x".repeat(shared::limits::MAX_PASSWORD_BYTES + 1);
    let long = refused(&s, &dirs, ELSEWHERE, &login("ann", Some(&over), None)).await;
    assert!(long.contains("Wrong password"), "{long}");

    // The owner, from anywhere, with the password: private history, a new token.
    let (c, r) = accepted(&s, &dirs, ELSEWHERE, &login("Ann", Some("correct horse"), None)).await;
    assert_eq!(r.registered, Some(true));
    assert!(r.token.is_some() && r.token.as_deref() != Some(&token));
    let got = contents_of(&r);
    assert!(got.contains(&"secret from ann".to_owned()) && got.contains(&"secret for ann".into()));
    drop(c);
    // With the first token, no password: logged in, no new token.
    let r = loop {
        let mut c = connect(&s, &dirs, ELSEWHERE).await;
        let r = try_login(&mut c, &login("ann", None, Some(&token))).await;
        if r.username_accepted == Some(true) {
            break r;
        }
        assert!(r.info.as_deref().is_some_and(|i| i.contains("in use")), "{:?}", r.info);
    };
    assert_eq!(r.token, None);
    assert!(contents_of(&r).contains(&"secret for ann".to_owned()));
}

#[tokio::test]
async fn the_owner_takes_the_name_over_from_a_connection_it_left_behind() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut old, _) = accepted(&s, &dirs, HOME, &login("ann", None, None)).await;
    old.send(&Frame { register: Some("correct horse".into()), ..Frame::default() }).await;
    let token = old.recv_where(|f| f.token.is_some()).await.token.expect("token");
    let (mut bob, _) = accepted(&s, &dirs, HOME, &plain("bob")).await;

    // Without proof, or with a wrong one, the name stays in use and its holder stays.
    let info = refused(&s, &dirs, ELSEWHERE, &plain("ann")).await;
    assert!(info.contains("in use"), "{info}");
    let info = refused(&s, &dirs, ELSEWHERE, &login("ann", Some("wrong horse"), None)).await;
    assert!(info.contains("Wrong password"), "{info}");
    let info = refused(&s, &dirs, ELSEWHERE, &login("ann", None, Some("forged"))).await;
    assert!(info.contains("in use") || info.contains("token"), "{info}");
    bob.say("ann", "still there?").await;
    old.recv_message("still there?").await;

    // The token (a reloaded page, a laptop that woke up elsewhere) takes over.
    let (mut new, r) = accepted(&s, &dirs, ELSEWHERE, &login("ann", None, Some(&token))).await;
    assert!(contents_of(&r).contains(&"still there?".to_owned()), "the owner's history");
    let goodbye = old.expect_closed(PATIENCE).await;
    let last = goodbye.last().expect("a goodbye");
    assert!(last.error.as_deref().is_some_and(|e| e.contains("another connection")), "{last:?}");
    assert_eq!(last.disconnected.as_deref(), Some("replaced"), "so it does not take it back");
    bob.say("ann", "where are you now?").await;
    new.recv_message("where are you now?").await;

    // So does the password; the holder of a name that is not registered is never replaced.
    let (mut newer, _) =
        accepted(&s, &dirs, HOME, &login("ann", Some("correct horse"), None)).await;
    let goodbye = new.expect_closed(PATIENCE).await;
    assert!(goodbye.iter().any(|f| f.disconnected.as_deref() == Some("replaced")));
    let info = refused(&s, &dirs, HOME, &login("bob", Some("correct horse"), None)).await;
    assert!(info.contains("not registered"), "{info}");
    bob.say("ALL", "bob is still here").await;
    newer.recv_message("bob is still here").await;
}

#[tokio::test]
async fn tokens_survive_a_restart_and_revoked_ones_do_not() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut ann, _) = accepted(&s, &dirs, HOME, &login("ann", None, None)).await;
    ann.send(&Frame { register: Some("correct horse".into()), ..Frame::default() }).await;
    let first = ann.recv_where(|f| f.token.is_some()).await.token.expect("token");
    drop(ann);
    let s = restart(s, &dirs, &[]);
    let (mut ann, r) = accepted(&s, &dirs, HOME, &login("ann", None, Some(&first))).await;
    assert_eq!(r.registered, Some(true), "the token survived the restart");
    ann.send(&Frame { list_sessions: Some(true), ..Frame::default() }).await;
    let sessions = ann.recv_where(|f| f.sessions.is_some()).await.sessions.expect("SESSIONS");
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].current);
    ann.send(&Frame { logout: Some("everywhere".into()), ..Frame::default() }).await;
    let after = ann.recv_where(|f| f.sessions.is_some()).await;
    assert_eq!(after.sessions, Some(vec![]));
    drop(ann);
    let s = restart(s, &dirs, &[]);
    let info = loop {
        let mut c = connect(&s, &dirs, HOME).await;
        let r = try_login(&mut c, &login("ann", None, Some(&first))).await;
        assert_eq!(r.username_accepted, Some(false), "a revoked token logs nobody in");
        if !r.info.as_deref().is_some_and(|i| i.contains("in use")) {
            break r.info.expect("INFO");
        }
    };
    assert!(info.contains("token"), "{info}");
    accepted(&s, &dirs, HOME, &login("ann", Some("correct horse"), None)).await;
}

#[tokio::test]
async fn bad_account_input_is_refused_and_changes_nothing() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut ann, _) = accepted(&s, &dirs, HOME, &login("ann", None, None)).await;
    let ask = async |c: &mut Client, f: Frame| {
        c.send(&f).await;
        c.recv_where(|f| f.error.is_some() || f.registered.is_some() || f.token.is_some()).await
    };
    let short = ask(&mut ann, Frame { register: Some("short".into()), ..Frame::default() }).await;
    assert!(short.error.expect("ERROR").contains("at least 8"));
    let unreg =
        ask(&mut ann, Frame { unregister: Some("whatever1".into()), ..Frame::default() }).await;
    assert!(unreg.error.expect("ERROR").contains("not registered"));
    let ok =
        ask(&mut ann, Frame { register: Some("correct horse".into()), ..Frame::default() }).await;
    assert_eq!(ok.registered, Some(true));
    let again =
        ask(&mut ann, Frame { register: Some("another one".into()), ..Frame::default() }).await;
    assert!(again.error.expect("ERROR").contains("registered already"));
    let change = Frame {
        change_password: Some(["wrong horse".into(), "battery staple".into()]),
        ..Frame::default()
    };
    assert!(ask(&mut ann, change).await.error.expect("ERROR").contains("Wrong password"));
    let unreg =
        ask(&mut ann, Frame { unregister: Some("wrong horse".into()), ..Frame::default() }).await;
    assert!(unreg.error.expect("ERROR").contains("Wrong password"));
    ann.send(&Frame { revoke_session: Some("nope".into()), ..Frame::default() }).await;
    assert!(ann.recv_error().await.contains("not one of your sessions"));
    ann.send(&Frame { logout: Some("sometimes".into()), ..Frame::default() }).await;
    assert!(ann.recv_error().await.contains("LOGOUT"));
    // The password is unchanged: a real change now works and revokes the older tokens.
    let change = Frame {
        change_password: Some(["correct horse".into(), "battery staple".into()]),
        ..Frame::default()
    };
    let changed = ask(&mut ann, change).await;
    let new_token = changed.token.expect("a new token");
    drop(ann);
    let old = loop {
        let info = refused(&s, &dirs, HOME, &login("ann", Some("correct horse"), None)).await;
        if !info.contains("in use") {
            break info;
        }
    };
    assert!(old.contains("Wrong password"), "{old}");
    let (mut ann, _) = accepted(&s, &dirs, HOME, &login("ann", None, Some(&new_token))).await;
    // Extension keys without the extension are unknown keys; PASSWORD outside a login too.
    ann.send(&Frame { password: Some("battery staple".into()), ..Frame::default() }).await;
    assert!(ann.recv_error().await.contains("login"));
    let (mut plain_c, _) = accepted(&s, &dirs, HOME, &plain("cat")).await;
    plain_c.send(&Frame { register: Some("correct horse".into()), ..Frame::default() }).await;
    assert!(plain_c.recv_error().await.contains("REGISTER"));
    // Unregistering with the right password frees the name for plain logins from its address.
    let unreg =
        ask(&mut ann, Frame { unregister: Some("battery staple".into()), ..Frame::default() })
            .await;
    assert_eq!(unreg.registered, Some(false));
    drop(ann);
    let info = refused(&s, &dirs, ELSEWHERE, &plain("ann")).await;
    assert!(info.contains("reserved") || info.contains("in use"), "{info}");
}

#[tokio::test]
async fn look_alike_names_are_one_name() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut bob, _) = accepted(&s, &dirs, HOME, &login("Bob", None, None)).await;
    for same in ["bob", "BOB"] {
        let info = refused(&s, &dirs, HOME, &plain(same)).await;
        assert!(info.contains("in use"), "{same}: {info}");
    }
    let mixed = refused(&s, &dirs, HOME, &plain("b\u{43e}b")).await;
    assert!(mixed.contains("scripts"), "{mixed}");
    let (mut ann, _) = accepted(&s, &dirs, HOME, &plain("ann")).await;
    ann.say("BOB", "to bob in capitals").await;
    let m = bob.recv_message("to bob in capitals").await;
    assert_eq!(m.dest, "Bob", "DEST is the holder's spelling");
    // A block of another spelling is a block of the name.
    bob.send(&Frame { block: Some("ANN".into()), ..Frame::default() }).await;
    bob.recv_where(|f| f.blocked.is_some()).await;
    ann.send(&Frame {
        messages: Some(vec![shared::Message::new("ann", "bob", now(), "x")]),
        ..Frame::default()
    })
    .await;
    assert!(ann.recv_error().await.contains("does not accept"));
}

#[tokio::test]
async fn operators_kick_ban_and_mute_and_bans_survive_a_restart() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    for name in ["opal", "olga"] {
        let (mut c, _) = accepted(&s, &dirs, HOME, &login(name, None, None)).await;
        c.send(&Frame { register: Some("operator pass".into()), ..Frame::default() }).await;
        assert_eq!(c.recv_where(|f| f.registered.is_some()).await.registered, Some(true));
    }
    s.stop();
    // An operator that is not an account is a clear start-up error.
    let mut cmd = std::process::Command::new(bin!("chatterbox-server"));
    cmd.args(["127.0.0.1", "-p", "0", "--no-web", "--data-dir"])
        .arg(dirs.data())
        .arg("--certs-dir")
        .arg(dirs.certs())
        .args(["--operator", "nobody"]);
    let err = BinServer::try_spawn_command(cmd).expect_err("refused to start").to_string();
    assert!(err.contains("no registered account nobody"), "{err}");

    let ops = ["--operator", "opal", "--operator", "olga"];
    let s = server(&dirs, &ops);
    let mods: &[&str] = &["account", "moderation"];
    let op_login = |name: &str| Frame {
        features: Some(mods.iter().map(|f| (*f).to_owned()).collect()),
        ..login(name, Some("operator pass"), None)
    };
    let (mut opal, r) = accepted(&s, &dirs, HOME, &op_login("opal")).await;
    assert_eq!(r.operator, Some(true));
    let (mut dan, r) = accepted(
        &s,
        &dirs,
        HOME,
        &Frame { features: Some(mods.iter().map(|f| (*f).to_owned()).collect()), ..plain("dan") },
    )
    .await;
    assert_eq!(r.operator, Some(false));
    let (mut bob, _) = accepted(&s, &dirs, ELSEWHERE, &plain("bob")).await;
    let (mut cat, _) = accepted(&s, &dirs, HOME, &plain("cat")).await;

    let kick = |name: &str, reason: &str| Frame {
        kick: Some(shared::frame::Kick { name: name.into(), reason: Some(reason.into()) }),
        ..Frame::default()
    };
    let ban = |name: &str, duration: &str| Frame {
        ban: Some(shared::frame::Ban {
            name: Some(name.into()),
            duration: duration.into(),
            reason: Some("spam".into()),
            ..Default::default()
        }),
        ..Frame::default()
    };
    // Refusals change nothing.
    dan.send(&kick("bob", "no")).await;
    assert!(dan.recv_error().await.contains("Only an operator"));
    opal.send(&kick("opal", "me")).await;
    assert!(opal.recv_error().await.contains("yourself"));
    opal.send(&ban("olga", "1h")).await;
    assert!(opal.recv_error().await.contains("is an operator"));
    opal.send(&ban("bob", "soon")).await;
    assert!(opal.recv_error().await.contains("not a duration"));
    opal.send(&Frame {
        ban: Some(shared::frame::Ban { duration: "1h".into(), ..Default::default() }),
        ..Frame::default()
    })
    .await;
    assert!(opal.recv_error().await.contains("NAME"));

    // Mute: cat stays, its messages are refused and reach nobody.
    opal.send(&Frame {
        mute: Some(shared::frame::Mute {
            name: "cat".into(),
            duration: "10m".into(),
            reason: Some("calm down".into()),
        }),
        ..Frame::default()
    })
    .await;
    let list = opal.recv_where(|f| f.bans.is_some()).await.bans.expect("BANS");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].kind, "mute");
    cat.send(&Frame {
        messages: Some(vec![shared::Message::new("cat", "ALL", now(), "muted words")]),
        ..Frame::default()
    })
    .await;
    assert!(
        cat.recv_where(|f| f.error.as_deref().is_some_and(|e| e.contains("muted until")))
            .await
            .error
            .is_some()
    );
    dan.say("ALL", "probe after mute").await;
    bob.expect_none_before_probe("probe after mute", "the muted message", |f| {
        f.messages.iter().flatten().any(|m| m.content == "muted words")
    })
    .await;

    // Kick: bob is told why and disconnected, everyone sees it.
    opal.send(&kick("BOB", "flooding")).await;
    let goodbye = bob.expect_closed(PATIENCE).await;
    assert!(
        goodbye.iter().any(|f| f.error.as_deref() == Some("You were removed by opal: flooding"))
    );
    assert!(goodbye.iter().all(|f| f.disconnected.is_none()), "a plain client sees no extension");
    cat.recv_where(|f| f.info.as_deref() == Some("bob was removed by opal: flooding")).await;

    // A client that negotiated moderation is told not to come back by itself.
    opal.send(&kick("dan", "enough")).await;
    let goodbye = dan.expect_closed(PATIENCE).await;
    assert!(goodbye.iter().any(|f| f.error.as_deref() == Some("You were removed by opal: enough")
        && f.disconnected.as_deref() == Some("removed")));
    let (dan, _) = accepted(&s, &dirs, HOME, &plain("dan")).await;

    // Ban bob's name for ever: refused at login, also after a restart, until unbanned.
    opal.send(&ban("bob", "forever")).await;
    opal.recv_where(|f| f.bans.as_ref().is_some_and(|b| b.len() == 2)).await;
    let info = refused(&s, &dirs, ELSEWHERE, &plain("bob")).await;
    assert!(info.contains("banned for ever (spam)"), "{info}");
    drop((opal, dan, cat));
    let s = restart(s, &dirs, &ops);
    let info = refused(&s, &dirs, ELSEWHERE, &plain("Bob")).await;
    assert!(info.contains("banned"), "the ban survived the restart: {info}");
    let (mut opal, _) = accepted(&s, &dirs, HOME, &op_login("opal")).await;
    opal.send(&Frame { unban: Some("bob".into()), ..Frame::default() }).await;
    let after = opal.recv_where(|f| f.bans.is_some()).await;
    assert_eq!(after.bans.expect("BANS").len(), 1, "the mute remains");
    accepted(&s, &dirs, ELSEWHERE, &plain("bob")).await;
    s.stop();

    // Every action is in the audit table.
    let db = rusqlite::Connection::open(dirs.data().join("chatterbox.db")).expect("db");
    let actions: Vec<(String, String, String)> = db
        .prepare("SELECT actor, action, target FROM audit ORDER BY id")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("audit");
    let want = [
        ("opal", "mute", "cat"),
        ("opal", "kick", "bob"),
        ("opal", "kick", "dan"),
        ("opal", "ban", "bob"),
        ("opal", "unban", "bob"),
    ];
    let got: Vec<(&str, &str, &str)> =
        actions.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
    assert_eq!(got, want);
}
