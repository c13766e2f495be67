//! The extensions `account` and `moderation` (and `compress`) in plain mode, against a fake
//! server that speaks the documented frames (PROTOCOL.md, "Extensions"): what the client sends
//! at login and on its reconnects, what it keeps (a session token, in memory only) and what it
//! shows. The password reaches the client through the environment or the terminal (typed
//! without echo), never the command line, and never appears in its output.

use std::process::Command;

use chatterbox_server::tls;
use expectrl::{Eof, Expect, Session};
use futures_util::{SinkExt, StreamExt};
use shared::codec::FrameCodec;
use shared::frame::features;
use shared::frame::{BanInfo, SessionInfo};
use shared::{Frame, Message};
use test_support::{Cli, PATIENCE, bin};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_util::codec::Framed;

/// The password of the scripts here.
const PASSWORD: &str = "correct horse battery";
/// The new password of `/password`.
const NEW_PASSWORD: &str = "staple grammar ocean";

/// A TLS listener with its own CA; each accepted connection speaks frames.
struct FakeServer {
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    port: String,
    ca: String,
    _dir: tempfile::TempDir,
}

/// One accepted connection.
struct Conn(Framed<TlsStream<TcpStream>, FrameCodec>);

impl FakeServer {
    async fn start() -> FakeServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = tls::ensure_dev_certs(dir.path()).expect("certs");
        let acceptor = tokio_rustls::TlsAcceptor::from(
            tls::server_config(&certs.cert, &certs.key).expect("tls config"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
        let port = listener.local_addr().expect("addr").port().to_string();
        let ca = certs.ca.expect("CA").display().to_string();
        FakeServer { listener, acceptor, port, ca, _dir: dir }
    }

    /// The plain-mode client for `ann`, with `env` added to its environment and `extra`
    /// arguments.
    fn client(&self, extra: &[&str], env: &[(&str, &str)]) -> Cli {
        let mut args = vec!["localhost", "-p", &self.port, "--ca", &self.ca, "--plain"];
        args.extend(["--username", "ann"]);
        args.extend(extra);
        assert!(!args.iter().any(|a| a.contains(PASSWORD)), "no password on the command line");
        Cli::spawn_with_env(bin!("chatterbox"), &args, env)
    }

    async fn accept(&self) -> Conn {
        let (tcp, _) = tokio::time::timeout(PATIENCE, self.listener.accept())
            .await
            .expect("the client connects in time")
            .expect("accept");
        let tls = self.acceptor.accept(tcp).await.expect("handshake");
        Conn(Framed::new(tls, FrameCodec::new(1 << 20)))
    }
}

impl Conn {
    async fn recv(&mut self) -> Frame {
        let bytes = tokio::time::timeout(PATIENCE, self.0.next())
            .await
            .expect("a frame in time")
            .expect("a frame")
            .expect("framing");
        shared::decode(&bytes).expect("a frame the protocol defines")
    }

    async fn send(&mut self, frame: &Frame) {
        self.0.send(&shared::encode(frame)[..]).await.expect("send");
    }

    /// Reads the login frame, checks that it asks for every extension, and returns it.
    async fn login(&mut self) -> Frame {
        let login = self.recv().await;
        assert_eq!(login.username.as_deref(), Some("ann"));
        let mut every: Vec<String> = features::CLIENTS.map(String::from).to_vec();
        every.extend(
            [
                features::ROOMS,
                features::EDIT,
                features::SEARCH,
                features::COMPRESS,
                features::FILES,
            ]
            .map(String::from),
        );
        assert_eq!(login.features, Some(every), "every extension, and the terminal's own");
        login
    }

    /// Accepts the login, with the keys of `extra` added.
    async fn accept(&mut self, extra: Frame) {
        let mut answer = Frame {
            username_accepted: Some(true),
            info: Some("Welcome!".into()),
            features: Some(features::CLIENTS.map(String::from).to_vec()),
            user_list: Some(vec!["ann".into()]),
            messages: Some(Vec::<Message>::new()),
            ..extra
        };
        answer.registered = answer.registered.or(Some(true));
        answer.operator = answer.operator.or(Some(false));
        self.send(&answer).await;
    }

    async fn refuse(&mut self, info: &str) {
        self.send(&Frame {
            username_accepted: Some(false),
            info: Some(info.into()),
            ..Frame::default()
        })
        .await;
    }
}

fn token(t: &str) -> Frame {
    Frame { token: Some(t.into()), ..Frame::default() }
}

fn session(id: &str, current: bool) -> SessionInfo {
    SessionInfo { id: id.into(), created: 0, last_used: 0, expires: 86_400, current }
}

/// Asserts that nothing the client printed holds a secret.
fn assert_no_secret(cli: &Cli, secrets: &[&str]) {
    let seen = cli.seen_text();
    for s in secrets {
        assert!(!seen.contains(s), "{s:?} was shown:\n{seen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_frames_are_read_from_the_login_on_and_sent_once_granted() {
    use shared::compress::{COMPRESSED, decompress};
    use tokio::io::AsyncReadExt;
    let server = FakeServer::start().await;
    let mut cli = server.client(&[], &[]);
    let mut conn = server.accept().await;
    conn.login().await;
    // A history worth compressing, sent compressed in the login answer.
    conn.0.codec_mut().compress(true);
    let history: Vec<Message> = (0..40)
        .map(|i| {
            Message::new("bob", "ALL", 1_700_000_000 + i, format!("old line {i} of the history"))
        })
        .collect();
    conn.send(&Frame {
        username_accepted: Some(true),
        info: Some("Welcome!".into()),
        features: Some(vec![features::COMPRESS.into()]),
        user_list: Some(vec!["ann".into(), "bob".into()]),
        messages: Some(history),
        ..Frame::default()
    })
    .await;
    cli.expect("old line 39 of the history");
    // A long line goes compressed (read off the wire here, past the codec).
    let long = "a long line of chat ".repeat(100);
    cli.send(long.trim_end());
    let tls = conn.0.get_mut();
    let mut prefix = [0u8; 4];
    tls.read_exact(&mut prefix).await.expect("prefix");
    let head = u32::from_be_bytes(prefix);
    assert_ne!(head & COMPRESSED, 0, "the long line is compressed");
    let mut body = vec![0u8; (head & !COMPRESSED) as usize];
    tls.read_exact(&mut body).await.expect("body");
    let sent: Frame = shared::decode(&decompress(&body, 1 << 20).expect("zstd")).expect("frame");
    let sent = sent.messages.expect("MESSAGES");
    assert_eq!((sent[0].src.as_str(), sent[0].content.as_str()), ("ann", long.trim_end()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_login_keeps_its_token_in_memory_and_reconnects_with_it_alone() {
    let server = FakeServer::start().await;
    let mut cli = server.client(&["--password"], &[("CHATTERBOX_PASSWORD", PASSWORD)]);

    // 1. USERNAME + PASSWORD + FEATURES; the answer carries a token.
    let mut conn = server.accept().await;
    let login = conn.login().await;
    assert_eq!((login.password.as_deref(), login.token), (Some(PASSWORD), None));
    conn.accept(token("tok-1")).await;
    cli.expect("Welcome! You are ann.");
    cli.expect("ann is your registered name.");
    cli.expect("session token: the client keeps it in memory");
    cli.send("/sessions");
    assert_eq!(conn.recv().await.list_sessions, Some(true));
    conn.send(&Frame { sessions: Some(vec![session("s1", true)]), ..Frame::default() }).await;
    cli.expect("s1 (this connection)");
    drop(conn);

    // 2. The reconnect: USERNAME + TOKEN + FEATURES, no password.
    cli.expect("connection lost");
    let mut conn = server.accept().await;
    let login = conn.login().await;
    assert_eq!((login.token.as_deref(), login.password), (Some("tok-1"), None));
    conn.accept(Frame::default()).await;
    cli.expect("Welcome! You are ann.");
    // Logging out everywhere: the client forgets its token...
    cli.send("/logout");
    assert_eq!(conn.recv().await.logout.as_deref(), Some("everywhere"));
    conn.send(&Frame { sessions: Some(vec![]), ..Frame::default() }).await;
    cli.expect("sessions (0)");
    drop(conn);

    // 3. ...so the next login uses the password given this run.
    cli.expect("connection lost");
    let mut conn = server.accept().await;
    let login = conn.login().await;
    assert_eq!((login.password.as_deref(), login.token), (Some(PASSWORD), None));
    conn.accept(token("tok-3")).await;
    cli.expect("Welcome! You are ann.");
    cli.send("/quit");
    assert_eq!(cli.wait(), 0);
    assert_no_secret(&cli, &[PASSWORD, "tok-1", "tok-3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_falls_back_to_the_password_given_this_run() {
    let server = FakeServer::start().await;
    let mut cli = server.client(&["--password"], &[("CHATTERBOX_PASSWORD", PASSWORD)]);
    let mut conn = server.accept().await;
    conn.login().await;
    conn.accept(token("tok-1")).await;
    cli.expect("Welcome! You are ann.");
    drop(conn);

    let mut conn = server.accept().await;
    // A refusal right after a drop may be the old connection, not yet gone: the client tries
    // the same token a few times before it gives up on it.
    let login = loop {
        let login = conn.login().await;
        if login.token.is_none() {
            break login;
        }
        assert_eq!(login.password, None);
        conn.refuse("The session token has expired; log in with the password.").await;
    };
    assert_eq!(login.password.as_deref(), Some(PASSWORD));
    conn.accept(token("tok-2")).await;
    cli.expect("The session could not be resumed: The session token has expired");
    cli.expect("Welcome! You are ann.");
    cli.send("/quit");
    assert_eq!(cli.wait(), 0);
    assert_no_secret(&cli, &[PASSWORD, "tok-1", "tok-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_server_ends_on_purpose_is_not_resumed() {
    let server = FakeServer::start().await;
    let mut cli = server.client(&["--password"], &[("CHATTERBOX_PASSWORD", PASSWORD)]);
    let mut conn = server.accept().await;
    conn.login().await;
    conn.accept(token("tok-1")).await;
    cli.expect("Welcome! You are ann.");
    let replaced = "ann logged in on another connection, which took over; this one is closed.";
    conn.send(&Frame {
        error: Some(replaced.into()),
        disconnected: Some("replaced".into()),
        ..Frame::default()
    })
    .await;
    drop(conn);
    cli.expect(&format!("{replaced} Not reconnecting."));
    assert_eq!(cli.wait(), 1, "the client ends instead of taking the name back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_from_the_environment_ends_the_program() {
    let server = FakeServer::start().await;
    let mut cli = server.client(&["--password"], &[("CHATTERBOX_PASSWORD", "wrong password")]);
    let mut conn = server.accept().await;
    assert_eq!(conn.login().await.password.as_deref(), Some("wrong password"));
    conn.refuse("Wrong password for ann.").await;
    cli.expect("!! login refused: Wrong password for ann.");
    assert_eq!(cli.wait(), 2);
    assert_no_secret(&cli, &["wrong password"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_password_take_their_passwords_from_the_environment_and_keep_the_token() {
    let server = FakeServer::start().await;
    let env = [("CHATTERBOX_PASSWORD", PASSWORD), ("CHATTERBOX_NEW_PASSWORD", NEW_PASSWORD)];
    let mut cli = server.client(&[], &env);
    let mut conn = server.accept().await;
    let login = conn.login().await;
    assert_eq!((login.password, login.token), (None, None), "a plain login");
    conn.accept(Frame { registered: Some(false), ..Frame::default() }).await;
    cli.expect("ann is not registered");
    cli.send("/help");
    cli.expect("/register");
    // a password typed on the line is refused, and never sent
    cli.send("/register hunter22hunter22");
    cli.expect("asked for next");
    cli.send("/register");
    assert_eq!(conn.recv().await.register.as_deref(), Some(PASSWORD));
    conn.send(&Frame { registered: Some(true), token: Some("tok-r".into()), ..Frame::default() })
        .await;
    cli.expect("ann is registered now");
    cli.expect("session token");
    cli.send("/password");
    assert_eq!(
        conn.recv().await.change_password,
        Some([PASSWORD.to_owned(), NEW_PASSWORD.to_owned()])
    );
    conn.send(&token("tok-c")).await;
    cli.expect("session token");
    drop(conn);

    // the reconnect uses the newest token
    let mut conn = server.accept().await;
    let login = conn.login().await;
    assert_eq!((login.token.as_deref(), login.password), (Some("tok-c"), None));
    conn.accept(Frame::default()).await;
    cli.expect("Welcome! You are ann.");
    cli.send("/unregister");
    assert_eq!(conn.recv().await.unregister.as_deref(), Some(PASSWORD));
    conn.send(&Frame { registered: Some(false), ..Frame::default() }).await;
    cli.expect("ann is no longer registered");
    drop(conn);

    // the account is gone, and its token with it: a plain login
    let mut conn = server.accept().await;
    let login = conn.login().await;
    assert_eq!((login.token, login.password), (None, None));
    conn.accept(Frame { registered: Some(false), ..Frame::default() }).await;
    cli.expect("Welcome! You are ann.");
    cli.send("/quit");
    assert_eq!(cli.wait(), 0);
    assert_no_secret(&cli, &[PASSWORD, NEW_PASSWORD, "tok-r", "tok-c", "hunter22"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_kicks_bans_and_mutes_and_sees_the_bans() {
    let server = FakeServer::start().await;
    let mut cli = server.client(&["--password"], &[("CHATTERBOX_PASSWORD", PASSWORD)]);
    let mut conn = server.accept().await;
    conn.login().await;
    conn.accept(Frame { operator: Some(true), ..token("tok-1") }).await;
    cli.expect("You are an operator");
    cli.send("/help");
    cli.expect("/ban-address name time");
    // a bad duration is caught before anything is sent
    cli.send("/ban bob 5y");
    cli.expect("\"5y\" is not a duration");
    cli.send("/ban bob 7d spamming links");
    let ban = conn.recv().await.ban.expect("BAN");
    assert_eq!(
        (ban.name.as_deref(), ban.duration.as_str(), ban.reason.as_deref(), ban.with_address),
        (Some("bob"), "7d", Some("spamming links"), None)
    );
    let bans = vec![BanInfo {
        kind: "ban".into(),
        name: Some("bob".into()),
        address: None,
        by: "ann".into(),
        at: 0,
        until: Some(7 * 86_400),
        reason: Some("spamming links".into()),
    }];
    conn.send(&Frame {
        bans: Some(bans),
        info: Some("bob was removed by ann: spamming links".into()),
        ..Frame::default()
    })
    .await;
    cli.expect("ban bob until 1970-01-08 00:00 UTC, by ann");
    cli.expect("-- bob was removed by ann: spamming links");
    cli.send("/ban-ip 203.0.113.0/24 forever");
    let ban = conn.recv().await.ban.expect("BAN");
    assert_eq!((ban.address.as_deref(), ban.name), (Some("203.0.113.0/24"), None));
    cli.send("/kick cat");
    assert_eq!(conn.recv().await.kick.map(|k| k.name).as_deref(), Some("cat"));
    cli.send("/mute dan 30m");
    assert_eq!(conn.recv().await.mute.map(|m| m.duration).as_deref(), Some("30m"));
    cli.send("/unmute dan");
    assert_eq!(conn.recv().await.unmute.as_deref(), Some("dan"));
    cli.send("/unban bob");
    assert_eq!(conn.recv().await.unban.as_deref(), Some("bob"));
    cli.send("/bans");
    assert_eq!(conn.recv().await.list_bans, Some(true));
    conn.send(&Frame { bans: Some(vec![]), ..Frame::default() }).await;
    cli.expect("bans and mutes (0): (none)");
    cli.send("/quit");
    assert_eq!(cli.wait(), 0);
}

/// Runs the `chatterbox` binary with `args` in a pseudo-terminal (without CHATTERBOX_PASSWORD):
/// waits for `prompt`, types `typed` and Enter, waits for the welcome, then quits. Returns
/// everything the terminal showed up to the welcome.
fn in_a_terminal(args: Vec<String>, prompt: &str, typed: &str) -> String {
    let mut cmd = Command::new(bin!("chatterbox"));
    cmd.args(args).env("TERM", "xterm-256color").env_remove("CHATTERBOX_PASSWORD");
    let mut term = Session::spawn(cmd).expect("spawn in a pty");
    term.get_process_mut().set_window_size(100, 30).expect("window size");
    term.set_expect_timeout(Some(PATIENCE));
    let asked = term.expect(prompt).expect("the password prompt");
    let mut shown = String::from_utf8_lossy(asked.before()).into_owned();
    term.send(format!("{typed}\r")).expect("type the password");
    let welcome = term.expect("Welcome!").expect("logged in");
    shown.push_str(&String::from_utf8_lossy(welcome.before()));
    term.send("/quit\r").expect("quit");
    term.expect(Eof).expect("the program ends");
    shown
}

/// The fake server's side of a password login: checks the password, accepts, and keeps the
/// connection open until the client leaves.
async fn accept_password_login(server: &FakeServer, password: &str) {
    let mut conn = server.accept().await;
    let login = conn.login().await;
    assert_eq!((login.password.as_deref(), login.token), (Some(password), None));
    conn.accept(token("tok-1")).await;
    while tokio::time::timeout(PATIENCE, conn.0.next()).await.is_ok_and(|f| f.is_some()) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_asks_for_the_password_on_a_masked_line() {
    let server = FakeServer::start().await;
    let args = ["localhost", "-p", &server.port, "--ca", &server.ca, "--username", "ann"];
    let mut args: Vec<String> = args.map(String::from).to_vec();
    args.push("--password".into());
    let term = tokio::task::spawn_blocking(move || in_a_terminal(args, "Password", PASSWORD));
    accept_password_login(&server, PASSWORD).await;
    let shown = term.await.expect("pty session");
    assert!(!shown.contains(PASSWORD) && !shown.contains("horse"), "{shown}");
    // drawn one character at a time, each as the mask
    let masks = shown.matches('•').count();
    assert!(masks >= PASSWORD.chars().count(), "the typed characters are masked: {shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_mode_reads_the_password_from_the_terminal_without_echo() {
    let server = FakeServer::start().await;
    let args = ["localhost", "-p", &server.port, "--ca", &server.ca, "--username", "ann"];
    let mut args: Vec<String> = args.map(String::from).to_vec();
    args.extend(["--password".into(), "--plain".into()]);
    let term = tokio::task::spawn_blocking(move || {
        in_a_terminal(args, "Password for ann (not shown): ", PASSWORD)
    });
    accept_password_login(&server, PASSWORD).await;
    let shown = term.await.expect("pty session");
    assert!(!shown.contains(PASSWORD) && !shown.contains("horse"), "no echo: {shown}");
}
