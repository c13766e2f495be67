//! The connection's life, independent of any screen: connect, log in, pass frames both ways,
//! and after a drop reconnect with backoff and log in again under the same name.
//!
//! A front end talks to the engine through two bounded channels: [`ToEngine`] in,
//! [`FromEngine`] out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use client_core::chat::login_frame;
use shared::Frame;
use tokio::sync::mpsc;

use crate::net::{self, Conn, Incoming};

/// First pause before reconnecting; it doubles after each failure up to [`MAX_BACKOFF`].
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
    /// The username to try (after [`FromEngine::AskName`]).
    Name(String),
    /// A frame to send.
    Send(Box<Frame>),
    /// Close the connection and stop.
    Quit,
}

/// The connection's state, for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Connecting (first time or again).
    Connecting,
    /// Connected to this address, not logged in yet.
    Connected(SocketAddr),
    /// The connection dropped; the next attempt is in `retry`.
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
    /// Logged in as `name`; `reply` is the server's accepting frame (users, history, …).
    LoggedIn {
        /// The username.
        name: String,
        /// The login answer.
        reply: Box<Frame>,
    },
    /// A frame from the server.
    Frame(Box<Frame>),
    /// A payload from the server that is not a protocol object.
    Bad(String),
    /// The engine cannot go on (the first connection failed); the text says what to do.
    Fatal(String),
}

/// Where to connect and as whom.
#[derive(Debug, Clone)]
pub struct Config {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// TLS settings.
    pub tls: Arc<rustls::ClientConfig>,
    /// Whether a CA file was given (for the hints).
    pub had_ca: bool,
    /// The name to log in with, if known.
    pub username: Option<String>,
}

/// A running engine: the channel to it, the channel from it, and its task.
pub type Handle = (mpsc::Sender<ToEngine>, mpsc::Receiver<FromEngine>, tokio::task::JoinHandle<()>);

/// Starts the engine for the command line's server and user: the channel to it, the channel
/// from it, and its task. Fails if the CA file cannot be used.
pub fn start(args: &crate::args::Args) -> Result<Handle, net::ConnectError> {
    let cfg = Config {
        host: args.server.clone(),
        port: args.port,
        tls: net::tls_config(args.ca.as_deref())?,
        had_ca: args.ca.is_some(),
        username: args.username.clone(),
    };
    let (to_engine, engine_rx) = mpsc::channel(CHANNEL);
    let (engine_tx, from_engine) = mpsc::channel(CHANNEL);
    Ok((to_engine, from_engine, tokio::spawn(run(cfg, engine_rx, engine_tx))))
}

/// Runs until [`ToEngine::Quit`], the front end going away, or a fatal error.
pub async fn run(cfg: Config, mut rx: mpsc::Receiver<ToEngine>, tx: mpsc::Sender<FromEngine>) {
    let mut name = cfg.username.clone();
    let mut ever = false;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let _ = tx.send(FromEngine::Status(Status::Connecting)).await;
        let why = match net::connect(&cfg.host, cfg.port, Arc::clone(&cfg.tls), cfg.had_ca).await {
            Err(e) if !ever || e.is_permanent() => {
                let _ = tx.send(FromEngine::Fatal(e.to_string())).await;
                return;
            }
            Err(e) => e.to_string(),
            Ok((stream, addr)) => {
                let _ = tx.send(FromEngine::Status(Status::Connected(addr))).await;
                let mut conn = Conn::new(stream);
                match session(&mut conn, &mut name, ever, &mut rx, &tx).await {
                    End::Quit => {
                        conn.close().await;
                        return;
                    }
                    End::Lost(why) => {
                        if name.is_some() {
                            ever = true;
                        }
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
}

/// Sleeps for `delay`, returning early with `true` if the front end quits meanwhile.
async fn wait_or_quit(delay: Duration, rx: &mut mpsc::Receiver<ToEngine>) -> bool {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return false,
            cmd = rx.recv() => match cmd {
                None | Some(ToEngine::Quit) => return true,
                Some(_) => {} // nothing can be sent while disconnected
            },
        }
    }
}

fn lost(text: impl Into<String>, logged_in: bool) -> End {
    End::Lost(LostWhy { text: text.into(), logged_in })
}

/// One connection: log in, then relay until it ends.
async fn session(
    conn: &mut Conn,
    name: &mut Option<String>,
    reconnecting: bool,
    rx: &mut mpsc::Receiver<ToEngine>,
    tx: &mpsc::Sender<FromEngine>,
) -> End {
    let mut refusals = 0;
    let mut retry = FIRST_BACKOFF;
    // Log in.
    let (me, reply) = loop {
        let candidate = match name.clone() {
            Some(n) => n,
            None => {
                let _ = tx.send(FromEngine::AskName { refused: None }).await;
                match wait_for_name(conn, rx, tx).await {
                    Ok(n) => n,
                    Err(end) => return end,
                }
            }
        };
        if let Err(e) = conn.send(&login_frame(&candidate)).await {
            return lost(e.to_string(), false);
        }
        let reply = loop {
            match conn.recv().await {
                None => return lost("the server closed the connection", false),
                Some(Err(e)) => return lost(e.to_string(), false),
                Some(Ok(Incoming::Bad(e))) => {
                    let _ = tx.send(FromEngine::Bad(e.to_string())).await;
                }
                Some(Ok(Incoming::Frame(f))) if f.username_accepted.is_some() => break f,
                Some(Ok(Incoming::Frame(f))) => {
                    let _ = tx.send(FromEngine::Frame(f)).await;
                }
            }
        };
        if reply.username_accepted == Some(true) {
            *name = Some(candidate.clone());
            break (candidate, reply);
        }
        let info = reply.info.clone().unwrap_or_else(|| "The username was refused.".into());
        refusals += 1;
        if reconnecting && name.is_some() && refusals < RELOGIN_ATTEMPTS {
            // Probably our own previous connection, not yet gone on the server's side.
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(MAX_BACKOFF);
            continue;
        }
        *name = None;
        let _ = tx.send(FromEngine::AskName { refused: Some(info) }).await;
        match wait_for_name(conn, rx, tx).await {
            Ok(n) => *name = Some(n),
            Err(end) => return end,
        }
    };
    let _ = tx.send(FromEngine::LoggedIn { name: me, reply }).await;

    // Relay.
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                None | Some(ToEngine::Quit) => return End::Quit,
                Some(ToEngine::Send(frame)) => {
                    if let Err(e) = conn.send(&frame).await {
                        return lost(e.to_string(), true);
                    }
                }
                Some(ToEngine::Name(_)) => {}
            },
            incoming = conn.recv() => match incoming {
                None => return lost("the server closed the connection", true),
                Some(Err(e)) => return lost(e.to_string(), true),
                Some(Ok(Incoming::Frame(f))) => {
                    if tx.send(FromEngine::Frame(f)).await.is_err() {
                        return End::Quit;
                    }
                }
                Some(Ok(Incoming::Bad(e))) => {
                    let _ = tx.send(FromEngine::Bad(e.to_string())).await;
                }
            },
        }
    }
}

/// Waits for the front end's name while keeping an eye on the connection.
async fn wait_for_name(
    conn: &mut Conn,
    rx: &mut mpsc::Receiver<ToEngine>,
    tx: &mpsc::Sender<FromEngine>,
) -> Result<String, End> {
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                None | Some(ToEngine::Quit) => return Err(End::Quit),
                Some(ToEngine::Name(n)) => return Ok(n),
                Some(ToEngine::Send(_)) => {}
            },
            incoming = conn.recv() => match incoming {
                None => return Err(lost("the server closed the connection", false)),
                Some(Err(e)) => return Err(lost(e.to_string(), false)),
                Some(Ok(Incoming::Frame(f))) => {
                    let _ = tx.send(FromEngine::Frame(f)).await;
                }
                Some(Ok(Incoming::Bad(e))) => {
                    let _ = tx.send(FromEngine::Bad(e.to_string())).await;
                }
            },
        }
    }
}
