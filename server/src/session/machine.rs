//! The state machine's decisions: what a frame, or the end of a login, asks of the connection
//! (replies) and of the hub (commands), checked against the rules that concern one connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use shared::frame::features::Granted;
use shared::frame::keys;
use shared::limits::MAX_FEATURES;
use shared::validate::validate_username;
use shared::{DecodeError, Frame, Message, decode};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::login::{self, LoginFailed, LoginReply};
use super::{Context, SUPPORTED_FEATURES};
use crate::hub::{Command, ConnId, HubHandle, Peer};
use crate::outbox;
use crate::store::Reader;
use crate::throttle::{Bucket, Rate};

/// Most distinct problems listed in one ERROR about one frame; the rest are counted. Keeps a
/// frame of many bad messages from turning into as many error frames.
const MAX_LISTED_PROBLEMS: usize = 3;

/// The ERROR about messages sent before a login.
const LOGIN_FIRST: &str = "Log in (USERNAME) before sending messages; they were not delivered.";

/// Where a connection is in the protocol. Only a logged-in connection's outbox is read.
enum State {
    Anonymous,
    LoggedIn { name: String, granted: Granted },
}

/// What the loop waits for besides the connection.
pub(super) enum Wait {
    /// The login reply (encoded), or the refusal.
    Login(Result<LoginReply, LoginFailed>),
    /// Commands were queued at the hub.
    Queued,
    /// A frame's JSON to send back.
    Reply(Vec<u8>),
}

pub(super) type WaitFuture = Pin<Box<dyn Future<Output = Wait> + Send>>;

/// What handling one frame asks the loop to do.
#[derive(Default)]
pub(super) struct Step {
    /// The JSON of frames to send back at once.
    pub(super) replies: Vec<Vec<u8>>,
    /// Commands for the hub, in order.
    hub: Vec<Command>,
    /// Answer with `ALL_USERS` (read from the store).
    all_users: bool,
    /// Set by a login; the loop waits for it before reading further frames.
    pub(super) wait: Option<WaitFuture>,
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

    /// Answers a refused login with `info`; messages that came with the USERNAME
    /// (`messages_dropped`) were not delivered.
    pub(super) fn refuse_login(&mut self, info: String, messages_dropped: bool) {
        self.reply(&Frame { username_accepted: Some(false), info: Some(info), ..Frame::default() });
        if messages_dropped {
            self.error(LOGIN_FIRST);
        }
    }
}

/// One connection's protocol state.
pub(super) struct Session {
    /// This connection at the hub.
    pub(super) conn: ConnId,
    /// The client's address (login attempts are limited per address).
    ip: std::net::IpAddr,
    state: State,
    /// What every session shares.
    pub(super) ctx: Arc<Context>,
    /// Where the hub queues this connection's output (handed over at login).
    outbox: outbox::Sender,
    /// Cancelled by the hub when this connection falls behind.
    pub(super) kick: CancellationToken,
    /// Flood control for this connection's messages.
    flood: Option<Bucket>,
    /// The sender has been told it is being slowed down (told once per episode).
    throttled: bool,
}

impl Session {
    /// A new connection from `ip`, whose output the hub queues in `outbox`.
    pub(super) fn new(ctx: Arc<Context>, ip: std::net::IpAddr, outbox: outbox::Sender) -> Self {
        let flood = ctx.flood.map(|rate| Bucket::new(rate, std::time::Instant::now()));
        Session {
            conn: ConnId::next(),
            ip,
            state: State::Anonymous,
            ctx,
            outbox,
            kick: CancellationToken::new(),
            flood,
            throttled: false,
        }
    }

    /// True once the hub has accepted a login and its answer has been sent.
    pub(super) fn logged_in(&self) -> bool {
        matches!(self.state, State::LoggedIn { .. })
    }

    /// The login's answer has been sent: the connection is `name`'s, and the messages that
    /// came with the USERNAME go now.
    pub(super) fn logged_in_as(
        &mut self,
        name: String,
        granted: Granted,
        then_send: Vec<Message>,
    ) -> Step {
        self.state = State::LoggedIn { name, granted };
        let mut step = Step::default();
        if !then_send.is_empty() {
            self.route(then_send, &mut step);
            step = self.dispatch(step);
        }
        step
    }

    /// What one frame from the client asks for.
    pub(super) fn on_frame(&mut self, payload: &[u8]) -> Step {
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
        let stray = report_keys(&frame, granted, &mut step);
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
            } else if !stray {
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
                State::Anonymous => step.error(LOGIN_FIRST),
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
            Wait::Reply(all_users_frame(&hub, &reader).await)
        }));
        step
    }

    /// Starts a login as `name`, unless this address has tried too often or the name is not
    /// one: the loop waits for the hub's answer.
    fn login(
        &mut self,
        name: String,
        features: Option<Vec<String>>,
        then_send: Option<Vec<Message>>,
        step: &mut Step,
    ) {
        let refused = if !self.ctx.per_address.login(self.ip) {
            Some(
                "Too many login attempts from your address; wait a moment and try again."
                    .to_owned(),
            )
        } else {
            validate_username(&name).err().map(|why| why.to_string())
        };
        if let Some(info) = refused {
            step.refuse_login(info, then_send.as_ref().is_some_and(|m| !m.is_empty()));
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
        step.wait = Some(Box::pin(async move {
            Wait::Login(login::answer(ctx, name, granted, peer, then_send).await)
        }));
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
                    step.error(too_fast(self.ctx.flood.unwrap_or(crate::config::DEFAULT_FLOOD)));
                }
                self.throttled = true;
                step.delay = step.delay.max(wait);
            }
        }
        step.hub.push(Command::Route { conn: self.conn, messages: ok });
    }
}

/// Reports the keys of `frame` that this connection may not use: unknown or server-only
/// keys, and extension keys before a login or without their feature (`granted`: the
/// extensions of a logged-in connection). Returns true if it reported keys as unknown or
/// server-only.
fn report_keys(frame: &Frame, granted: Option<Granted>, step: &mut Step) -> bool {
    let mut stray: Vec<&str> = frame.unknown.iter().map(String::as_str).collect();
    stray.extend(frame.server_only_keys());
    // Extension keys are known only to a connection that negotiated their feature.
    let extension_keys = [
        (frame.block.is_some(), keys::BLOCK, granted.map(|g| g.block)),
        (frame.unblock.is_some(), keys::UNBLOCK, granted.map(|g| g.block)),
        (frame.list_blocked.is_some(), keys::LIST_BLOCKED, granted.map(|g| g.block)),
        (frame.list_all_users.is_some(), keys::LIST_ALL_USERS, granted.map(|g| g.users)),
    ];
    let mut early: Vec<&str> = Vec::new();
    for (present, key, has_feature) in extension_keys {
        match has_feature {
            _ if !present => {}
            None => early.push(key),
            Some(false) => stray.push(key),
            Some(true) => {}
        }
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
    !stray.is_empty()
}

/// The ERROR that tells a sender its messages are being held back.
fn too_fast(rate: Rate) -> String {
    format!(
        "You are sending too fast (the limit is {} messages a second, {} at once); \
         your messages are delayed, not lost.",
        rate.per_second, rate.burst
    )
}

/// The `ALL_USERS` answer's JSON: everyone the store has seen, and everyone online (seen even
/// if the store has not committed it yet).
async fn all_users_frame(hub: &HubHandle, reader: &Reader) -> Vec<u8> {
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
    shared::encode(&frame)
}
