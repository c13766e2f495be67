//! The connection's life, independent of any screen: connect, log in, pass frames both ways,
//! and after a drop reconnect with backoff and log in again under the same name.
//!
//! **Several servers** (the nodes of a cluster): the engine tries them as
//! [`client_core::rotation`] says: at start the first that connects; after a lost connection
//! the next one in the list first (the node it was on may be dead), cycling; a server that
//! cannot be reached is reported ([`Status::Unreachable`]) and the next one tried at once,
//! and the backoff's wait comes once per full round of failures, not per server. The re-login
//! on another server is the one on the same server: the token first, then the password.
//!
//! A front end talks to the engine through two bounded channels: [`ToEngine`] in,
//! [`FromEngine`] out.
//!
//! **Registered names** (extension `account`): with `--password` the engine asks the front end
//! for the password ([`FromEngine::AskPassword`]) and logs in with USERNAME + PASSWORD +
//! FEATURES. A session token from the login answer (or from a REGISTER or CHANGE_PASSWORD
//! answer) is kept in memory only and used for the automatic reconnects (USERNAME + TOKEN +
//! FEATURES), so that they need no password. If the token is refused (expired, revoked), the
//! password given this run is used, or else the front end is asked for one. Neither the
//! password nor the token is ever written anywhere, and the token's value is taken out of the
//! frames passed to the front end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use client_core::chat::{Proof, login_frame_with};
use client_core::rotation::Rotation;
use client_core::secret::Secret;
use shared::Frame;
use tokio::sync::mpsc;

use crate::args::Server;
use crate::net::{self, Conn, Incoming};
use crate::transfer::Transfers;

/// First pause before reconnecting; it doubles after each failed round (every server tried)
/// up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest pause between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often a re-login after a reconnect is retried while the name is still taken (the
/// server may not have noticed the old connection's end yet) before asking for another name.
pub const RELOGIN_ATTEMPTS: u32 = 5;

/// Capacity of each channel between a front end and the engine.
pub const CHANNEL: usize = 256;

/// What a front end tells the engine.
#[derive(Debug)]
pub enum ToEngine {
    /// The username to try (after [`FromEngine::AskName`]); after
    /// [`FromEngine::AskPassword`], another name to log in with, without a password.
    Name(String),
    /// The password to log in with (after [`FromEngine::AskPassword`]).
    Password(Secret),
    /// A frame to send.
    Send(Box<Frame>),
    /// A file to send or save (extension `files`).
    Transfer(client_core::chat::Transfer),
    /// Close the connection and stop.
    Quit,
}

/// The connection's state, for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Connecting to this server (`host:port`), the first time or again.
    Connecting(String),
    /// Connected, not logged in yet.
    Connected {
        /// The server as given (`host:port`).
        server: String,
        /// The address it resolved to that accepted the connection.
        addr: SocketAddr,
    },
    /// A server could not be reached and another one is tried at once (several servers were
    /// given and not all of them have failed yet).
    Unreachable {
        /// Why, naming the server.
        why: String,
        /// The server tried next (`host:port`).
        next: String,
    },
    /// The connection dropped, or no server could be reached; the next attempt is in `retry`.
    Lost {
        /// Why.
        why: String,
        /// When the next attempt starts.
        retry: Duration,
    },
}

/// What the engine tells a front end.
#[derive(Debug)]
pub enum FromEngine {
    /// The connection's state changed.
    Status(Status),
    /// A username is needed; `refused` holds the server's reason if one was just refused.
    AskName {
        /// The INFO of the refusal, if any.
        refused: Option<String>,
    },
    /// The password of the registered name `name` is needed; `refused` holds the server's
    /// reason if a login was just refused. Answered with [`ToEngine::Password`], or with
    /// [`ToEngine::Name`] to log in as someone else without a password.
    AskPassword {
        /// The name to log in to.
        name: String,
        /// The INFO of the refusal, if any.
        refused: Option<String>,
    },
    /// A note from the engine itself (a session that could not be resumed, a transfer's
    /// progress).
    Note(String),
    /// A file transfer ended: how.
    Done(String),
    /// Logged in as `name`; `reply` is the server's accepting frame (users, history, …), a
    /// `TOKEN` in it emptied (the engine keeps the token).
    LoggedIn {
        /// The username.
        name: String,
        /// The login answer.
        reply: Box<Frame>,
    },
    /// A frame from the server, a `TOKEN` in it emptied (the engine keeps the token).
    Frame(Box<Frame>),
    /// A payload from the server that is not a protocol object.
    Bad(String),
    /// The engine cannot go on (the first connection failed); the text says what to do.
    Fatal(String),
}

/// Where to connect and as whom.
#[derive(Debug, Clone)]
pub struct Config {
    /// The servers, tried in turn; never empty.
    pub servers: Vec<Server>,
    /// TLS settings.
    pub tls: Arc<rustls::ClientConfig>,
    /// Whether a CA file was given (for the hints).
    pub had_ca: bool,
    /// The name to log in with, if known.
    pub username: Option<String>,
    /// Log in with a password (`--password`): ask the front end for it first.
    pub password: bool,
}

/// What the engine keeps to log in again, in memory only.
#[derive(Debug, Default)]
struct Creds {
    /// Ask the front end for a password before a login that has none (`--password`, or a
    /// token or password just refused).
    ask_password: bool,
    /// The password given for logging in this run (or the new one, after a password change).
    password: Option<Secret>,
    /// The session token of the last password login, REGISTER or CHANGE_PASSWORD answer.
    token: Option<Secret>,
    /// The new password of a CHANGE_PASSWORD sent, until its answer's TOKEN says it took.
    new_password: Option<Secret>,
    /// The id of the newest message seen (extension `resume`): logging in again as the same
    /// name asks only for what came after it (`SINCE`), so nothing shows twice.
    last_id: Option<i64>,
}

impl Creds {
    /// Notes what a frame the front end sends changes.
    fn sending(&mut self, f: &Frame) {
        if f.logout.is_some() {
            // Logging out everywhere ends this client's session too.
            self.token = None;
        }
        if let Some([_, new]) = &f.change_password {
            // Worth keeping only in place of a password already kept.
            self.new_password = self.password.as_ref().map(|_| Secret::new(new.clone()));
        }
    }

    /// Notes the newest message id of a frame.
    fn seen(&mut self, f: &Frame) {
        let newest = f.messages.iter().flatten().filter_map(|m| m.id).max();
        self.last_id = self.last_id.max(newest);
    }

    /// Notes what a frame from the server changes, and takes a token's value out of it.
    fn received(&mut self, f: &mut Frame) {
        self.seen(f);
        if let Some(token) = take_token(f) {
            self.token = Some(token);
            // Only a CHANGE_PASSWORD answer carries a token along with a pending new password.
            if let Some(p) = self.new_password.take() {
                self.password = Some(p);
            }
        }
        if f.registered == Some(false) {
            // The account is gone: nothing of it is worth keeping.
            self.token = None;
            self.password = None;
        }
        if f.sessions.as_ref().is_some_and(|list| !list.iter().any(|s| s.current)) {
            // This connection's session was revoked (by /revoke, or a log-out elsewhere).
            self.token = None;
        }
    }
}

/// Takes a `TOKEN`'s value out of `f`, leaving the key with an empty value so that the front
/// end can still say that one arrived.
fn take_token(f: &mut Frame) -> Option<Secret> {
    let token = f.token.as_mut().map(std::mem::take)?;
    (!token.is_empty()).then(|| Secret::new(token))
}

/// A running engine: the channel to it, the channel from it, and its task.
pub type Handle = (mpsc::Sender<ToEngine>, mpsc::Receiver<FromEngine>, tokio::task::JoinHandle<()>);

/// Starts the engine for `servers` (from the command line) and the command line's user: the
/// channel to it, the channel from it, and its task. Fails if the CA file cannot be used.
pub fn start(args: &crate::args::Args, servers: Vec<Server>) -> Result<Handle, net::ConnectError> {
    let cfg = Config {
        servers,
        tls: net::tls_config(args.ca.as_deref())?,
        had_ca: args.ca.is_some(),
        username: args.username.clone(),
        password: args.password,
    };
    let (to_engine, engine_rx) = mpsc::channel(CHANNEL);
    let (engine_tx, from_engine) = mpsc::channel(CHANNEL);
    Ok((to_engine, from_engine, tokio::spawn(run(cfg, engine_rx, engine_tx))))
}

/// Runs until [`ToEngine::Quit`], the front end going away, or a fatal error.
pub async fn run(cfg: Config, mut rx: mpsc::Receiver<ToEngine>, tx: mpsc::Sender<FromEngine>) {
    let Some(mut servers) = Rotation::new(cfg.servers.clone()) else {
        let _ = tx.send(FromEngine::Fatal("no server to connect to".into())).await;
        return;
    };
    let mut name = cfg.username.clone();
    let mut creds = Creds { ask_password: cfg.password, ..Creds::default() };
    let mut ever = false;
    let mut backoff = FIRST_BACKOFF;
    // Whether every attempt of this round failed in a way trying again cannot fix (a
    // certificate problem): then the round ends the engine even after a session.
    let mut hopeless = true;
    // Files being sent or saved: they go on over the next connection.
    let mut transfers = Transfers::default();
    loop {
        let server = servers.current().clone();
        let _ = tx.send(FromEngine::Status(Status::Connecting(server.to_string()))).await;
        let tls = Arc::clone(&cfg.tls);
        let attempt = tokio::select! {
            attempt = net::connect(&server.host, server.port, tls, cfg.had_ca) => attempt,
            () = quit_asked(&mut rx) => return,
        };
        let why = match attempt {
            Err(e) => {
                hopeless &= e.is_permanent();
                if !servers.failed() {
                    // Another server is left in this round: on to it at once.
                    let next = servers.current().to_string();
                    let why = e.to_string();
                    let _ = tx.send(FromEngine::Status(Status::Unreachable { why, next })).await;
                    continue;
                }
                if !ever || hopeless {
                    let text = match servers.len() {
                        1 => e.to_string(),
                        n => format!("none of the {n} servers could be reached; the last: {e}"),
                    };
                    let _ = tx.send(FromEngine::Fatal(text)).await;
                    return;
                }
                hopeless = true;
                e.to_string()
            }
            Ok((stream, addr)) => {
                let connected = Status::Connected { server: server.to_string(), addr };
                let _ = tx.send(FromEngine::Status(connected)).await;
                let mut conn = Conn::new(stream);
                let mut link = Link { conn: &mut conn, rx: &mut rx, tx: &tx };
                match session(&mut link, &mut name, &mut creds, ever, &mut transfers).await {
                    End::Quit => {
                        conn.close().await;
                        return;
                    }
                    End::Stopped(why) => {
                        let text = format!("{why} Not reconnecting.");
                        let _ = tx.send(FromEngine::Fatal(text)).await;
                        return;
                    }
                    End::Lost(why) => {
                        if name.is_some() {
                            ever = true;
                        }
                        // The node may be dead: the next server first.
                        servers.lost();
                        hopeless = true;
                        backoff = if why.logged_in { FIRST_BACKOFF } else { backoff };
                        why.text
                    }
                }
            }
        };
        let _ = tx.send(FromEngine::Status(Status::Lost { why, retry: backoff })).await;
        if wait_or_quit(backoff, &mut rx).await {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

struct LostWhy {
    text: String,
    logged_in: bool,
}

enum End {
    Quit,
    Lost(LostWhy),
    /// The server closed the connection on purpose (`DISCONNECTED`: another login of the
    /// account took over, or an operator removed the user), with its ERROR: reconnecting by
    /// itself would take the name back from the user's other client, or defy the operator.
    Stopped(String),
}

/// Sleeps for `delay`, returning early with `true` if the front end quits meanwhile.
async fn wait_or_quit(delay: Duration, rx: &mut mpsc::Receiver<ToEngine>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        () = quit_asked(rx) => true,
    }
}

/// Returns once the front end quits or goes away; what else it sends meanwhile is dropped, as
/// nothing can be sent while disconnected.
async fn quit_asked(rx: &mut mpsc::Receiver<ToEngine>) {
    while let Some(cmd) = rx.recv().await {
        if let ToEngine::Quit = cmd {
            return;
        }
    }
}

fn lost(text: impl Into<String>, logged_in: bool) -> End {
    End::Lost(LostWhy { text: text.into(), logged_in })
}

/// One connection and the front end's channels.
struct Link<'a> {
    conn: &'a mut Conn,
    rx: &'a mut mpsc::Receiver<ToEngine>,
    tx: &'a mpsc::Sender<FromEngine>,
}

/// What a login proves ownership with, of what [`Creds`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Using {
    Nothing,
    Password,
    Token,
}

/// What the front end answered while the engine waited for it.
enum Answer {
    Name(String),
    Password(Secret),
}

/// One connection: log in, then relay until it ends.
async fn session(
    link: &mut Link<'_>,
    name: &mut Option<String>,
    creds: &mut Creds,
    reconnecting: bool,
    transfers: &mut Transfers,
) -> End {
    let (me, reply) = match login(link, name, creds, reconnecting).await {
        Ok(done) => done,
        Err(end) => return end,
    };
    let _ = link.tx.send(FromEngine::LoggedIn { name: me, reply }).await;
    for frame in transfers.resume() {
        if let Err(e) = link.conn.send(&frame).await {
            return lost(e.to_string(), true);
        }
    }
    relay(link, creds, transfers).await
}

/// Logs in: the name (asked for if unknown), the password or token if there is one, and the
/// refusals handled. Returns the name and the accepting answer.
async fn login(
    link: &mut Link<'_>,
    name: &mut Option<String>,
    creds: &mut Creds,
    reconnecting: bool,
) -> Result<(String, Box<Frame>), End> {
    let mut refusals = 0;
    let mut retry = FIRST_BACKOFF;
    // The name this client was logged in as before the connection dropped.
    let previous = name.clone().filter(|_| reconnecting);
    let mut refused: Option<String> = None;
    loop {
        let mut candidate = match name.clone() {
            Some(n) => n,
            None => {
                let _ = link.tx.send(FromEngine::AskName { refused: None }).await;
                wait_for_name(link).await?
            }
        };
        let using = if creds.token.is_some() {
            Using::Token
        } else if creds.password.is_some() {
            Using::Password
        } else if creds.ask_password {
            let ask = FromEngine::AskPassword { name: candidate.clone(), refused: refused.take() };
            let _ = link.tx.send(ask).await;
            match wait_for_answer(link).await? {
                Answer::Password(p) => {
                    creds.password = Some(p);
                    Using::Password
                }
                Answer::Name(n) => {
                    // Someone else, without a password.
                    creds.ask_password = false;
                    candidate = n;
                    *name = Some(candidate.clone());
                    Using::Nothing
                }
            }
        } else {
            Using::Nothing
        };
        let proof = match (using, &creds.token, &creds.password) {
            (Using::Token, Some(t), _) => Proof::Token(t),
            (Using::Password, _, Some(p)) => Proof::Password(p),
            _ => Proof::None,
        };
        let mut frame = login_frame_with(&candidate, proof);
        // Rooms, edits and search are asked for by each client on its own (the browser's
        // shows rooms; `features::CLIENTS` leaves them out); compression by the terminal
        // only (the browser's WebSocket compresses with permessage-deflate).
        if let Some(features) = frame.features.as_mut() {
            use shared::frame::features::{COMPRESS, EDIT, FILES, ROOMS, SEARCH};
            features.extend([ROOMS, EDIT, SEARCH, COMPRESS, FILES].map(str::to_owned));
            link.conn.compress(false);
        }
        if previous.as_ref() == Some(&candidate) {
            frame.since = creds.last_id;
        } else {
            creds.last_id = None; // another name: its history is all new here
        }
        let mut reply = login_answer(link, &frame).await?;
        if reply.username_accepted == Some(true) {
            let granted = reply.features.as_deref().unwrap_or_default();
            if shared::frame::features::Granted::from_list(granted).compress {
                link.conn.compress(true);
            }
            if let Some(token) = take_token(&mut reply) {
                creds.token = Some(token);
            }
            creds.seen(&reply);
            *name = Some(candidate.clone());
            return Ok((candidate, reply));
        }
        let info = reply.info.clone().unwrap_or_else(|| "The username was refused.".into());
        refusals += 1;
        if reconnecting && name.is_some() && refusals < RELOGIN_ATTEMPTS {
            // Probably our own previous connection, not yet gone on the server's side: the
            // same login again in a moment.
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(MAX_BACKOFF);
            continue;
        }
        match using {
            Using::Token => {
                creds.token = None;
                let note = format!("The session could not be resumed: {info}");
                if creds.password.is_some() {
                    let _ = link.tx.send(FromEngine::Note(note)).await;
                } else {
                    creds.ask_password = true;
                    refused = Some(note);
                }
            }
            Using::Password => {
                creds.password = None;
                creds.ask_password = true;
                refused = Some(info);
            }
            Using::Nothing => {
                *name = None;
                let _ = link.tx.send(FromEngine::AskName { refused: Some(info) }).await;
                *name = Some(wait_for_name(link).await?);
            }
        }
    }
}

/// Sends a login frame and waits for its answer, passing on what comes meanwhile.
async fn login_answer(link: &mut Link<'_>, login: &Frame) -> Result<Box<Frame>, End> {
    if let Err(e) = link.conn.send(login).await {
        return Err(lost(e.to_string(), false));
    }
    loop {
        match link.conn.recv().await {
            None => return Err(lost("the server closed the connection", false)),
            Some(Err(e)) => return Err(lost(e.to_string(), false)),
            Some(Ok(Incoming::Bad(e))) => {
                let _ = link.tx.send(FromEngine::Bad(e.to_string())).await;
            }
            Some(Ok(Incoming::Frame(f))) if f.username_accepted.is_some() => return Ok(f),
            Some(Ok(Incoming::Frame(f))) => {
                let _ = link.tx.send(FromEngine::Frame(f)).await;
            }
        }
    }
}

/// Passes frames both ways until the connection ends or the front end quits.
async fn relay(link: &mut Link<'_>, creds: &mut Creds, transfers: &mut Transfers) -> End {
    // The ERROR of a frame with `DISCONNECTED`: the end that follows is on purpose.
    let mut stopped: Option<String> = None;
    loop {
        tokio::select! {
            cmd = link.rx.recv() => match cmd {
                None | Some(ToEngine::Quit) => return End::Quit,
                Some(ToEngine::Send(frame)) => {
                    creds.sending(&frame);
                    if let Err(e) = link.conn.send(&frame).await {
                        return lost(e.to_string(), true);
                    }
                }
                Some(ToEngine::Transfer(t)) => match transfers.start(t).await {
                    Ok((frames, note)) => {
                        let _ = link.tx.send(FromEngine::Note(note)).await;
                        for frame in &frames {
                            if let Err(e) = link.conn.send(frame).await {
                                return lost(e.to_string(), true);
                            }
                        }
                    }
                    Err(why) => {
                        let _ = link.tx.send(FromEngine::Done(why)).await;
                    }
                },
                Some(ToEngine::Name(_) | ToEngine::Password(_)) => {}
            },
            chunk = transfers.next_chunk(), if transfers.sending() => match chunk {
                Ok((frame, next)) => {
                    if let Err(e) = link.conn.send(&frame).await {
                        return lost(e.to_string(), true);
                    }
                    if let Some(note) = transfers.sent(next) {
                        let _ = link.tx.send(FromEngine::Note(note)).await;
                    }
                }
                Err(why) => {
                    let done = transfers.upload_failed(why);
                    let _ = link.tx.send(FromEngine::Done(done)).await;
                }
            },
            incoming = link.conn.recv() => match incoming {
                None | Some(Err(_)) if stopped.is_some() => {
                    return End::Stopped(stopped.unwrap_or_default());
                }
                None => return lost("the server closed the connection", true),
                Some(Err(e)) => return lost(e.to_string(), true),
                Some(Ok(Incoming::Frame(mut f))) => {
                    if f.disconnected.is_some() {
                        stopped = Some(f.error.clone().unwrap_or_else(|| {
                            "The server ended this session.".to_owned()
                        }));
                    }
                    creds.received(&mut f);
                    let r = transfers.on_frame(&f).await;
                    for frame in &r.send {
                        if let Err(e) = link.conn.send(frame).await {
                            return lost(e.to_string(), true);
                        }
                    }
                    for note in r.notes {
                        let _ = link.tx.send(FromEngine::Note(note)).await;
                    }
                    for done in r.done {
                        let _ = link.tx.send(FromEngine::Done(done)).await;
                    }
                    if !r.consumed && link.tx.send(FromEngine::Frame(f)).await.is_err() {
                        return End::Quit;
                    }
                }
                Some(Ok(Incoming::Bad(e))) => {
                    let _ = link.tx.send(FromEngine::Bad(e.to_string())).await;
                }
            },
        }
    }
}

/// Waits for the front end's name while keeping an eye on the connection.
async fn wait_for_name(link: &mut Link<'_>) -> Result<String, End> {
    loop {
        if let Answer::Name(n) = wait_for_answer(link).await? {
            return Ok(n);
        }
    }
}

/// Waits for the front end's name or password while keeping an eye on the connection.
async fn wait_for_answer(link: &mut Link<'_>) -> Result<Answer, End> {
    loop {
        tokio::select! {
            cmd = link.rx.recv() => match cmd {
                None | Some(ToEngine::Quit) => return Err(End::Quit),
                Some(ToEngine::Name(n)) => return Ok(Answer::Name(n)),
                Some(ToEngine::Password(p)) => return Ok(Answer::Password(p)),
                Some(ToEngine::Send(_) | ToEngine::Transfer(_)) => {}
            },
            incoming = link.conn.recv() => match incoming {
                None => return Err(lost("the server closed the connection", false)),
                Some(Err(e)) => return Err(lost(e.to_string(), false)),
                Some(Ok(Incoming::Frame(f))) => {
                    let _ = link.tx.send(FromEngine::Frame(f)).await;
                }
                Some(Ok(Incoming::Bad(e))) => {
                    let _ = link.tx.send(FromEngine::Bad(e.to_string())).await;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::frame::SessionInfo;

    fn session(current: bool) -> SessionInfo {
        SessionInfo { id: "s".into(), created: 0, last_used: 0, expires: 0, current }
    }

    #[test]
    fn a_token_is_kept_out_of_the_frames_the_front_end_sees() {
        let mut creds = Creds::default();
        let mut f = Frame { token: Some("tok-1".into()), ..Frame::default() };
        creds.received(&mut f);
        assert_eq!(f.token.as_deref(), Some(""), "the key stays, its value goes");
        assert_eq!(creds.token.as_ref().map(Secret::expose), Some("tok-1"));
        assert!(!format!("{creds:?}").contains("tok-1"));
    }

    #[test]
    fn logging_out_revoking_and_unregistering_forget_what_no_longer_works() {
        let full = || Creds {
            password: Some(Secret::new("pw")),
            token: Some(Secret::new("tok")),
            ..Creds::default()
        };
        let mut creds = full();
        creds.sending(&Frame { logout: Some("everywhere".into()), ..Frame::default() });
        assert!(creds.token.is_none() && creds.password.is_some());
        let mut creds = full();
        creds.received(&mut Frame { sessions: Some(vec![session(false)]), ..Frame::default() });
        assert!(creds.token.is_none(), "this connection's session is not among them");
        let mut creds = full();
        creds.received(&mut Frame { sessions: Some(vec![session(true)]), ..Frame::default() });
        assert!(creds.token.is_some());
        creds.received(&mut Frame { registered: Some(false), ..Frame::default() });
        assert!(creds.token.is_none() && creds.password.is_none());
    }

    #[test]
    fn a_changed_password_replaces_the_kept_one_once_the_server_confirms() {
        let change =
            Frame { change_password: Some(["pw".into(), "new pw".into()]), ..Frame::default() };
        let mut creds = Creds { password: Some(Secret::new("pw")), ..Creds::default() };
        creds.sending(&change);
        assert_eq!(creds.password.as_ref().map(Secret::expose), Some("pw"), "not yet");
        creds.received(&mut Frame { token: Some("tok-2".into()), ..Frame::default() });
        assert_eq!(creds.password.as_ref().map(Secret::expose), Some("new pw"));
        // no password kept (a token-only run): none is picked up from the change
        let mut creds = Creds::default();
        creds.sending(&change);
        creds.received(&mut Frame { token: Some("tok-3".into()), ..Frame::default() });
        assert!(creds.password.is_none());
        assert_eq!(creds.token.as_ref().map(Secret::expose), Some("tok-3"));
    }
}
