//! The session: one connection's protocol state machine, shared by every transport.
//!
//! A session is `Anonymous` until the hub accepts a `USERNAME`, then `LoggedIn`. It decodes
//! each frame, enforces the rules that concern one connection (types, login first, one login,
//! SRC equals the username, content size) and hands routing to the hub. The one loop in
//! [`serve`] reads frames, writes the outbox the hub fills, and waits for the hub, all at once:
//! while a frame waits for room in the hub's queue the session reads no further frames (TCP
//! pushes back on the sender), but it keeps writing, so no outbox fills up behind a busy hub.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use shared::codec::FrameError;
use shared::frame::{features, keys};
use shared::limits::{MAX_FEATURES, MAX_SERVER_FRAME_LEN};
use shared::validate::validate_username;
use shared::{DecodeError, Frame, Message, decode};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{GOODBYE_TIMEOUT, OUTBOX_BATCH, OUTBOX_CAPACITY, WRITE_TIMEOUT};
use crate::hub::{Command, ConnId, HubHandle, LoginAnswer, Peer, TOO_SLOW};
use crate::outbox::{self, Out};
use crate::store::Reader;
use crate::throttle::{Bucket, PerAddress, Rate};
use crate::transport::Transport;
use crate::wire;

/// The INFO of an accepted login.
pub const WELCOME: &str = "Welcome!";

/// The ERROR every client gets when the server stops.
pub const SHUTTING_DOWN: &str = "The server is shutting down.";

/// Extensions this server supports (see docs/PROTOCOL.md, "Extensions").
pub const SUPPORTED_FEATURES: &[&str] = &features::ALL;

/// Most distinct problems listed in one ERROR about one frame; the rest are counted. Keeps a
/// frame of many bad messages from turning into as many error frames.
const MAX_LISTED_PROBLEMS: usize = 3;

/// What every session shares.
#[derive(Debug)]
pub struct Context {
    /// The hub's queue.
    pub hub: HubHandle,
    /// History reads.
    pub reader: Reader,
    /// The highest committed message id.
    pub committed: watch::Receiver<i64>,
    /// Messages replayed at login.
    pub history: usize,
    /// Time a connection may stay without a login.
    pub login_timeout: std::time::Duration,
    /// Time a logged-in connection may send nothing (zero: no limit).
    pub idle_timeout: std::time::Duration,
    /// Time a frame may stay incomplete once begun.
    pub frame_timeout: std::time::Duration,
    /// Flood control per connection (`None`: off).
    pub flood: Option<Rate>,
    /// Limits per client address (connections, login attempts).
    pub per_address: Arc<PerAddress>,
    /// Cancelled when the server stops.
    pub shutdown: CancellationToken,
}

enum State {
    Anonymous,
    LoggedIn { name: String, granted: Granted },
}

/// The extensions granted at login.
#[derive(Debug, Clone, Copy, Default)]
struct Granted {
    block: bool,
    users: bool,
}

impl Granted {
    fn from_list(list: &[String]) -> Self {
        let has = |f: &str| list.iter().any(|g| g == f);
        Granted { block: has(features::BLOCK), users: has(features::USERS) }
    }
}

/// What the loop waits for besides the connection.
enum Wait {
    /// The login reply (encoded), or the refusal.
    Login(Result<LoginReply, LoginFailed>),
    /// Commands were queued at the hub.
    Queued,
    /// A frame's JSON to send back.
    Reply(Vec<u8>),
}

type WaitFuture = Pin<Box<dyn Future<Output = Wait> + Send>>;

struct LoginReply {
    name: String,
    granted: Granted,
    /// The whole reply frame's JSON.
    frame: Vec<u8>,
    /// Messages that rode in the same frame as the USERNAME, sent once logged in.
    then_send: Vec<Message>,
}

enum LoginFailed {
    Refused {
        info: String,
        then_send: bool,
    },
    /// The server is stopping or the history could not be read.
    Unavailable(String),
}

/// What handling one frame asks the loop to do.
#[derive(Default)]
struct Step {
    /// The JSON of frames to send back at once.
    replies: Vec<Vec<u8>>,
    /// Commands for the hub, in order.
    hub: Vec<Command>,
    /// Answer with `ALL_USERS` (read from the store).
    all_users: bool,
    /// Set by a login; the loop waits for it before reading further frames.
    wait: Option<WaitFuture>,
    /// Flood control: how long to hold the hub commands (and further reading) back.
    delay: std::time::Duration,
}

impl Step {
    fn reply(&mut self, frame: &Frame) {
        self.replies.push(shared::encode(frame));
    }

    fn error(&mut self, text: impl Into<String>) {
        self.reply(&Frame::error(text));
    }
}

struct Session {
    conn: ConnId,
    ip: std::net::IpAddr,
    state: State,
    ctx: Arc<Context>,
    outbox: outbox::Sender,
    kick: CancellationToken,
    /// Flood control for this connection's messages.
    flood: Option<Bucket>,
    /// The sender has been told it is being slowed down (told once per episode).
    throttled: bool,
}

/// Serves one connection from `ip` until it closes, the hub drops it, or the server stops.
///
/// A plain function returning an `async move` block rather than an `async fn`: an async fn
/// keeps its arguments twice in its state (the argument and the moved-in local), and the
/// transport with its TLS state is 1.3 KB of every connection's memory.
#[allow(clippy::manual_async_fn, reason = "an async fn would hold the transport twice")]
pub fn serve<T: Transport>(
    mut t: T,
    ctx: Arc<Context>,
    ip: std::net::IpAddr,
) -> impl Future<Output = ()> + Send {
    async move {
        let conn = ConnId::next();
        let (outbox, mut inbox) = outbox::channel(OUTBOX_CAPACITY);
        let kick = CancellationToken::new();
        let flood = ctx.flood.map(|rate| Bucket::new(rate, std::time::Instant::now()));
        let mut s = Session {
            conn,
            ip,
            state: State::Anonymous,
            ctx: Arc::clone(&ctx),
            outbox,
            kick,
            flood,
            throttled: false,
        };
        // One timer for the connection (each one costs every connection 112 bytes): until the
        // login, the login deadline; then a check every half frame timeout: a frame still
        // incomplete at two checks in a row, or no frame for the idle timeout, ends it.
        let timer = tokio::time::sleep(ctx.login_timeout);
        tokio::pin!(timer);
        // The last traffic in either direction (for the idle timeout).
        let mut last_frame = tokio::time::Instant::now();
        let mut was_partial = false;
        let mut wait: Option<WaitFuture> = None;
        let mut live = false;
        // What the outbox gave at the last wake-up. It and the write buffer grow with a burst
        // (up to OUTBOX_BATCH items, 64 KiB of frame) and are given back after each wake-up:
        // the heap profile of idle connections showed even small kept buffers (about 1 KB
        // each), while allocating them again costs far less than the write they come with.
        let mut items: Vec<Out> = Vec::new();

        let goodbye: Option<String> = loop {
            tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => break Some(SHUTTING_DOWN.to_owned()),
                () = s.kick.cancelled() => break Some(TOO_SLOW.to_owned()),
                done = async { wait.as_mut().expect("guarded by is_some").await }, if wait.is_some() => {
                    wait = None;
                    let mut step = Step::default();
                    match done {
                        Wait::Queued => {}
                        Wait::Reply(frame) => step.replies.push(frame),
                        Wait::Login(Ok(reply)) => {
                            if send(&mut t, &reply.frame, &s.kick).await.is_err() {
                                break None;
                            }
                            tracing::debug!(user = %reply.name, "logged in");
                            s.state = State::LoggedIn { name: reply.name, granted: reply.granted };
                            live = true;
                            timer.as_mut().reset(tokio::time::Instant::now() + ctx.frame_timeout / 2);
                            if !reply.then_send.is_empty() {
                                s.route(reply.then_send, &mut step);
                                step = s.dispatch(step);
                            }
                        }
                        Wait::Login(Err(LoginFailed::Refused { info, then_send })) => {
                            step.reply(&Frame {
                                username_accepted: Some(false),
                                info: Some(info),
                                ..Frame::default()
                            });
                            if then_send {
                                step.error("Log in (USERNAME) before sending messages; they were not delivered.");
                            }
                            timer.as_mut().reset(tokio::time::Instant::now() + ctx.login_timeout);
                        }
                        Wait::Login(Err(LoginFailed::Unavailable(why))) => break Some(why),
                    }
                    if flush_step(&mut t, step, &mut wait, &s.kick).await.is_err() {
                        break None;
                    }
                }
                _ = inbox.recv_many(&mut items, OUTBOX_BATCH), if live => {
                    let mut i = 0;
                    let mut failed = false;
                    let mut buf = Vec::new();
                    while i < items.len() {
                        let (frame, next) = outbox::next_frame(&items, i, &mut buf);
                        if send(&mut t, frame, &s.kick).await.is_err() {
                            failed = true;
                            break;
                        }
                        i = next;
                    }
                    items = Vec::new();
                    if failed {
                        break None;
                    }
                    // Traffic either way keeps a connection from counting as idle: a reader in a
                    // busy room is not idle.
                    last_frame = tokio::time::Instant::now();
                }
                () = &mut timer, if live || wait.is_none() => {
                    if !live {
                        break Some("No login within the time allowed; closing the connection.".to_owned());
                    }
                    let partial = t.partial();
                    if partial && was_partial {
                        break Some("A frame stayed incomplete for too long; closing the connection.".to_owned());
                    }
                    was_partial = partial;
                    let idle = ctx.idle_timeout;
                    if !idle.is_zero() && last_frame.elapsed() >= idle {
                        break Some(format!(
                            "Closing the connection after {} minutes without a message.",
                            idle.as_secs() / 60
                        ));
                    }
                    timer.as_mut().reset(tokio::time::Instant::now() + ctx.frame_timeout / 2);
                }
                frame = t.recv(), if wait.is_none() => match frame {
                    None => break None,
                    Some(Err(FrameError::Io(_))) => break None,
                    Some(Err(e @ FrameError::TooLong { .. })) => break Some(e.to_string()),
                    Some(Ok(payload)) => {
                        last_frame = tokio::time::Instant::now();
                        was_partial = false;
                        let step = s.on_frame(&payload);
                        if flush_step(&mut t, step, &mut wait, &s.kick).await.is_err() {
                            break None;
                        }
                    }
                },
            }
        };

        if let Some(text) = goodbye {
            let frame = shared::encode(&Frame::error(text));
            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, t.send(&frame)).await;
        }
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, t.close()).await;
        // Every connection says goodbye to the hub, logged in or not: a login still in flight
        // would otherwise leave a ghost user behind.
        let logout = Command::Logout { conn: s.conn };
        if ctx.shutdown.is_cancelled() {
            let _ = ctx.hub.try_send(logout);
        } else {
            let _ = ctx.hub.send(logout).await;
        }
    }
}

/// Writes one frame, giving up when the peer stops reading for [`WRITE_TIMEOUT`] or the hub
/// disconnects it.
async fn send<T: Transport>(t: &mut T, frame: &[u8], kick: &CancellationToken) -> Result<(), ()> {
    tokio::select! {
        r = tokio::time::timeout(WRITE_TIMEOUT, t.send(frame)) => match r {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        },
        () = kick.cancelled() => Err(()),
    }
}

async fn flush_step<T: Transport>(
    t: &mut T,
    step: Step,
    wait: &mut Option<WaitFuture>,
    kick: &CancellationToken,
) -> Result<(), ()> {
    for frame in step.replies {
        send(t, &frame, kick).await?;
    }
    if step.wait.is_some() {
        *wait = step.wait;
    }
    Ok(())
}

impl Session {
    fn on_frame(&mut self, payload: &[u8]) -> Step {
        let mut step = Step::default();
        let frame = match decode(payload) {
            Ok(f) => f,
            Err(e @ (DecodeError::Syntax(_) | DecodeError::Shape(_))) => {
                step.error(e.to_string());
                return step;
            }
        };
        let granted = match &self.state {
            State::LoggedIn { granted, .. } => Some(*granted),
            State::Anonymous => None,
        };
        let mut stray: Vec<&str> = frame.unknown.iter().map(String::as_str).collect();
        stray.extend(frame.server_only_keys());
        // Extension keys are known only to a connection that negotiated their feature.
        let block_keys = [
            (frame.block.is_some(), keys::BLOCK),
            (frame.unblock.is_some(), keys::UNBLOCK),
            (frame.list_blocked.is_some(), keys::LIST_BLOCKED),
        ];
        let mut early: Vec<&str> = Vec::new();
        for (present, key) in block_keys {
            match granted {
                _ if !present => {}
                None => early.push(key),
                Some(g) if !g.block => stray.push(key),
                Some(_) => {}
            }
        }
        match granted {
            _ if frame.list_all_users.is_none() => {}
            None => early.push(keys::LIST_ALL_USERS),
            Some(g) if !g.users => stray.push(keys::LIST_ALL_USERS),
            Some(_) => {}
        }
        if !stray.is_empty() {
            step.error(format!(
                "Unknown or server-only key{} ignored: {}.",
                if stray.len() == 1 { "" } else { "s" },
                stray.join(", ")
            ));
        }
        if !early.is_empty() {
            step.error(format!("Log in (USERNAME) before using {}.", early.join(", ")));
        }
        let Frame {
            username,
            features,
            messages,
            block,
            unblock,
            list_blocked,
            list_all_users,
            ..
        } = frame;
        let extension = block.is_some()
            || unblock.is_some()
            || list_blocked.is_some()
            || list_all_users.is_some();
        if username.is_none() && messages.is_none() && !extension {
            if features.is_some() {
                step.error("FEATURES is only understood together with USERNAME.");
            } else if stray.is_empty() {
                step.error("The frame holds no request: expected USERNAME or MESSAGES.");
            }
            return step;
        }
        if let Some(name) = username {
            match &self.state {
                State::LoggedIn { name: current, .. } => {
                    step.error(format!("You are already logged in as {current}."));
                }
                State::Anonymous => {
                    self.login(name, features, messages, &mut step);
                    return step;
                }
            }
        } else if features.is_some() {
            step.error("FEATURES is only understood together with USERNAME.");
        }
        if let Some(messages) = messages {
            match &self.state {
                State::Anonymous => step
                    .error("Log in (USERNAME) before sending messages; they were not delivered."),
                State::LoggedIn { .. } => self.route(messages, &mut step),
            }
        }
        if let Some(g) = granted {
            let conn = self.conn;
            if g.block {
                if let Some(name) = block {
                    step.hub.push(Command::Block { conn, name, on: true });
                }
                if let Some(name) = unblock {
                    step.hub.push(Command::Block { conn, name, on: false });
                }
                if list_blocked == Some(true) {
                    step.hub.push(Command::ListBlocked { conn });
                }
            }
            step.all_users = g.users && list_all_users == Some(true);
        }
        self.dispatch(step)
    }

    /// Queues the step's hub commands (at once if there is room, otherwise in a future the
    /// loop waits for) and starts the `ALL_USERS` read.
    fn dispatch(&self, mut step: Step) -> Step {
        let mut rest = Vec::new();
        let delay = step.delay;
        for cmd in std::mem::take(&mut step.hub) {
            if !rest.is_empty() || !delay.is_zero() {
                rest.push(cmd);
                continue;
            }
            match self.ctx.hub.try_send(cmd) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(cmd)) => rest.push(cmd),
                Err(mpsc::error::TrySendError::Closed(_)) => return step,
            }
        }
        if rest.is_empty() && !step.all_users {
            return step;
        }
        let hub = self.ctx.hub.clone();
        let reader = self.ctx.reader.clone();
        let all_users = step.all_users;
        step.wait = Some(Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            for cmd in rest {
                if hub.send(cmd).await.is_err() {
                    return Wait::Queued;
                }
            }
            if !all_users {
                return Wait::Queued;
            }
            // Everyone online has been seen, even if the store has not committed it yet.
            let (tx, rx) = oneshot::channel();
            let online = match hub.send(Command::Online { reply: tx }).await {
                Ok(()) => rx.await.unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            let frame = match reader.all_users().await {
                Ok(mut list) => {
                    list.extend(online);
                    list.sort_unstable();
                    list.dedup();
                    Frame { all_users: Some(list), ..Frame::default() }
                }
                Err(e) => {
                    tracing::error!(error = %e, "reading the users");
                    Frame::error("The list of users cannot be read right now.")
                }
            };
            Wait::Reply(shared::encode(&frame))
        }));
        step
    }

    fn login(
        &mut self,
        name: String,
        features: Option<Vec<String>>,
        then_send: Option<Vec<Message>>,
        step: &mut Step,
    ) {
        let then = then_send.as_ref().is_some_and(|m| !m.is_empty());
        let refused = if !self.ctx.per_address.login(self.ip) {
            Some(
                "Too many login attempts from your address; wait a moment and try again."
                    .to_owned(),
            )
        } else {
            validate_username(&name).err().map(|why| why.to_string())
        };
        if let Some(info) = refused {
            step.reply(&Frame {
                username_accepted: Some(false),
                info: Some(info),
                ..Frame::default()
            });
            if then {
                step.error("Log in (USERNAME) before sending messages; they were not delivered.");
            }
            return;
        }
        let granted = features.map(|asked| {
            let mut granted: Vec<String> = asked
                .into_iter()
                .take(MAX_FEATURES)
                .filter(|f| SUPPORTED_FEATURES.contains(&f.as_str()))
                .collect();
            granted.dedup();
            granted
        });
        let peer = Peer { conn: self.conn, outbox: self.outbox.clone(), kick: self.kick.clone() };
        let ctx = Arc::clone(&self.ctx);
        let then_send = then_send.unwrap_or_default();
        step.wait =
            Some(Box::pin(
                async move { Wait::Login(login(ctx, name, granted, peer, then_send).await) },
            ));
    }

    fn route(&mut self, messages: Vec<Message>, step: &mut Step) {
        let State::LoggedIn { name, .. } = &self.state else {
            return;
        };
        let shared::rules::Screened { ok, refused, problems } =
            shared::rules::screen(name, messages, MAX_LISTED_PROBLEMS);
        if refused > 0 {
            let mut text = problems.join(" ");
            if refused > 1 {
                text.push_str(&format!(" ({refused} messages refused in all.)"));
            }
            step.error(text);
        }
        if ok.is_empty() {
            return;
        }
        if let Some(bucket) = &mut self.flood {
            let wait =
                bucket.take(u32::try_from(ok.len()).unwrap_or(u32::MAX), std::time::Instant::now());
            if wait.is_zero() {
                self.throttled = false;
            } else {
                if !self.throttled {
                    let rate = self.ctx.flood.unwrap_or(crate::config::DEFAULT_FLOOD);
                    step.error(format!(
                        "You are sending too fast (the limit is {} messages a second, {} at once); \
                         your messages are delayed, not lost.",
                        rate.per_second, rate.burst
                    ));
                }
                self.throttled = true;
                step.delay = step.delay.max(wait);
            }
        }
        step.hub.push(Command::Route { conn: self.conn, messages: ok });
    }
}

/// Logs in at the hub, waits until the join history is committed, reads it and builds the reply.
async fn login(
    ctx: Arc<Context>,
    name: String,
    features: Option<Vec<String>>,
    peer: Peer,
    then_send: Vec<Message>,
) -> Result<LoginReply, LoginFailed> {
    let unavailable = || LoginFailed::Unavailable(SHUTTING_DOWN.to_owned());
    let (reply, answer) = oneshot::channel();
    ctx.hub
        .send(Command::Login { name: name.clone(), peer, reply })
        .await
        .map_err(|_| unavailable())?;
    let (upto, users, blocked, hidden) = match answer.await.map_err(|_| unavailable())? {
        LoginAnswer::Refused(info) => {
            return Err(LoginFailed::Refused { info, then_send: !then_send.is_empty() });
        }
        LoginAnswer::Accepted { upto, users, blocked, hidden } => (upto, users, blocked, hidden),
    };
    let granted = Granted::from_list(features.as_deref().unwrap_or_default());
    let mut committed = ctx.committed.clone();
    committed.wait_for(|c| *c >= upto).await.map_err(|_| unavailable())?;
    let history = ctx.reader.history(&name, upto, ctx.history, &hidden).await.map_err(|e| {
        tracing::error!(error = %e, "reading history");
        LoginFailed::Unavailable("The history cannot be read right now; please try again.".into())
    })?;
    let head = Frame {
        username_accepted: Some(true),
        info: Some(WELCOME.to_owned()),
        features,
        blocked: granted.block.then_some(blocked),
        ..Frame::default()
    };
    // USER_LIST is the JSON array the hub built; the history is spliced in entry by entry,
    // the oldest left out if the frame would be too long.
    let frame = wire::login_frame(&head, &users, &history, MAX_SERVER_FRAME_LEN);
    Ok(LoginReply { name, granted, frame, then_send })
}
