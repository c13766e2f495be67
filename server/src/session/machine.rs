//! The state machine's decisions: what a frame, or the end of a login, asks of the connection
//! (replies) and of the hub (commands), checked against the rules that concern one connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use shared::frame::features::{self, Granted};
use shared::frame::{ended, keys};
use shared::limits::{MAX_FEATURES, MAX_PASSWORD_BYTES, MAX_TOKEN_BYTES};
use shared::names::{check_scripts, name_key};
use shared::validate::{validate_password, validate_room, validate_topic, validate_username};
use shared::{DecodeError, Frame, Message, decode};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::account::{self, Job};
use super::edit;
use super::files::{self, Uploads};
use super::login::{self, Credential, LoginFailed, LoginReply};
use super::rooms;
use super::{Context, SUPPORTED_FEATURES};
use crate::hub::account::Request;
use crate::hub::rooms::RoomRequest;
use crate::hub::{Command, ConnId, Goodbye, HubHandle, Moderation, Peer};
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
    LoggedIn { name: String, key: String, granted: Granted },
}

/// What the loop waits for besides the connection.
pub(super) enum Wait {
    /// The login reply (encoded), or the refusal.
    Login(Result<LoginReply, LoginFailed>),
    /// Commands were queued at the hub.
    Queued,
    /// A frame's JSON to send back.
    Reply(Vec<u8>),
    /// Frames' JSON to send back, in order.
    Replies(Vec<Vec<u8>>),
    /// The answers to `files` requests, and the connection's uploads handed back.
    Files(Vec<Vec<u8>>, Uploads),
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
    /// An `account` request that needs its password hashed or checked first.
    job: Option<Job>,
    /// Set by a login; the loop waits for it before reading further frames.
    pub(super) wait: Option<WaitFuture>,
    /// Flood control: how long to hold the hub commands (and further reading) back.
    delay: std::time::Duration,
    /// Requests of the `rooms` extension, answered in order.
    rooms: Vec<RoomRequest>,
    /// Requests of the `edit` and `search` extensions, answered in order after those.
    edits: Vec<edit::Request>,
    /// Requests of the `files` extension, answered in order after those.
    files: Vec<files::Request>,
    /// The wait answers a `JOIN`: the outbox is held until its answer is written, so that the
    /// room's live messages come after its history.
    pub(super) hold_outbox: bool,
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
    /// Cancelled by the hub when this connection falls behind or is removed.
    pub(super) kick: CancellationToken,
    /// The ERROR the hub disconnects this connection with, if not the slow reader's.
    pub(super) goodbye: Arc<OnceLock<Goodbye>>,
    /// Flood control for this connection's messages.
    flood: Option<Bucket>,
    /// The sender has been told it is being slowed down (told once per episode).
    throttled: bool,
    /// The transport can speak extension `compress` (the native ones).
    compressible: bool,
    /// The upload in progress (extension `files`); away while a request's future has it.
    uploads: Option<Uploads>,
    /// Where the page fetches files over HTTPS (a WebSocket's; extension `files`).
    pub(super) files_url: Option<String>,
}

impl Session {
    /// A new connection from `ip`, whose output the hub queues in `outbox`.
    pub(super) fn new(
        ctx: Arc<Context>,
        ip: std::net::IpAddr,
        outbox: outbox::Sender,
        compressible: bool,
        conn: ConnId,
        files_url: Option<String>,
    ) -> Self {
        let flood = ctx.flood.map(|rate| Bucket::new(rate, std::time::Instant::now()));
        Session {
            conn,
            ip,
            state: State::Anonymous,
            ctx,
            outbox,
            kick: CancellationToken::new(),
            goodbye: Arc::new(OnceLock::new()),
            flood,
            throttled: false,
            compressible,
            uploads: Some(Uploads::default()),
            files_url,
        }
    }

    /// The `DISCONNECTED` value to close the connection with: why the hub removed it, if it
    /// did, and the login negotiated the extension that defines the value.
    pub(super) fn ended(&self) -> Option<&'static str> {
        let ended = self.goodbye.get()?.ended?;
        let State::LoggedIn { granted, .. } = &self.state else { return None };
        let negotiated = match ended {
            ended::REPLACED => granted.account,
            _ => granted.moderation,
        };
        negotiated.then_some(ended)
    }

    /// True once the hub has accepted a login and its answer has been sent.
    pub(super) fn logged_in(&self) -> bool {
        matches!(self.state, State::LoggedIn { .. })
    }

    /// The connection's uploads, back from a request's future.
    pub(super) fn uploads_back(&mut self, uploads: Uploads) {
        self.uploads = Some(uploads);
    }

    /// The login's answer has been sent: the connection is `name`'s, and the messages that
    /// came with the USERNAME go now.
    pub(super) fn logged_in_as(
        &mut self,
        name: String,
        key: String,
        granted: Granted,
        then_send: Vec<Message>,
    ) -> Step {
        self.state = State::LoggedIn { name, key, granted };
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
            password,
            token,
            register,
            change_password,
            unregister,
            list_sessions,
            revoke_session,
            logout,
            kick,
            ban,
            unban,
            mute,
            unmute,
            list_bans,
            join,
            part,
            list_rooms,
            topic,
            invite_only,
            invite,
            since,
            edit,
            delete,
            search,
            upload,
            chunk,
            fetch,
            ..
        } = frame;
        let account = Account {
            register,
            change_password,
            unregister,
            list_sessions,
            revoke_session,
            logout,
        };
        let moderation = Moderations { kick, ban, unban, mute, unmute, list_bans };
        let extension = block.is_some()
            || unblock.is_some()
            || list_blocked.is_some()
            || list_all_users.is_some()
            || account.any()
            || moderation.any()
            || join.is_some()
            || part.is_some()
            || list_rooms.is_some()
            || topic.is_some()
            || invite_only.is_some()
            || invite.is_some()
            || edit.is_some()
            || delete.is_some()
            || search.is_some()
            || upload.is_some()
            || chunk.is_some()
            || fetch.is_some();
        if username.is_none() && (password.is_some() || token.is_some() || since.is_some()) {
            step.error(
                "PASSWORD, TOKEN and SINCE are only understood in the login object, with USERNAME.",
            );
            if messages.is_none() && !extension {
                return step;
            }
        }
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
                    let asked_account =
                        features.as_ref().is_some_and(|f| f.iter().any(|x| x == features::ACCOUNT));
                    let credential = match (password, token) {
                        (None, None) => Credential::None,
                        (p, _) if !asked_account => {
                            let key = if p.is_some() { keys::PASSWORD } else { keys::TOKEN };
                            step.error(format!(
                                "Unknown or server-only key ignored: {key} (it needs the \
                                 extension account in FEATURES)."
                            ));
                            Credential::None
                        }
                        (Some(_), Some(_)) => {
                            step.refuse_login(
                                "Give PASSWORD or TOKEN, not both.".to_owned(),
                                messages.as_ref().is_some_and(|m| !m.is_empty()),
                            );
                            return step;
                        }
                        (Some(p), None) => Credential::Password(p),
                        (None, Some(t)) => Credential::Token(t),
                    };
                    let asked_resume =
                        features.as_ref().is_some_and(|f| f.iter().any(|x| x == features::RESUME));
                    if since.is_some() && !asked_resume {
                        step.error(
                            "Unknown or server-only key ignored: SINCE (it needs the extension \
                             resume in FEATURES).",
                        );
                    }
                    self.login(name, features, since, credential, messages, &mut step);
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
            if g.account {
                self.account(account, &mut step);
            }
            if g.moderation {
                moderation.queue(conn, &mut step);
            }
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
            if g.rooms {
                let requests = RoomFrame { join, part, list_rooms, topic, invite_only, invite };
                requests.queue(&mut step);
            }
            if g.edit {
                step.edits.extend(edit.map(edit::Request::Edit));
                step.edits.extend(delete.map(edit::Request::Delete));
            }
            if g.search {
                step.edits.extend(search.map(edit::Request::Search));
            }
            if g.files {
                step.files.extend(upload.map(files::Request::Upload));
                step.files.extend(chunk.map(files::Request::Chunk));
                step.files.extend(fetch.map(files::Request::Fetch));
            }
        }
        self.dispatch(step)
    }

    /// Queues the step's hub commands (at once if there is room, otherwise in a future the
    /// loop waits for) and starts the `ALL_USERS` read.
    fn dispatch(&mut self, mut step: Step) -> Step {
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
        let job = step.job.take();
        let room_requests = std::mem::take(&mut step.rooms);
        let edits = std::mem::take(&mut step.edits);
        let file_requests = std::mem::take(&mut step.files);
        if rest.is_empty()
            && !step.all_users
            && job.is_none()
            && room_requests.is_empty()
            && edits.is_empty()
            && file_requests.is_empty()
        {
            return step;
        }
        let uploads = if file_requests.is_empty() { None } else { self.uploads.take() };
        let name = match &self.state {
            State::LoggedIn { name, .. } => name.clone(),
            State::Anonymous => String::new(),
        };
        step.hold_outbox = room_requests.iter().any(|r| matches!(r, RoomRequest::Join(_)));
        let hub = self.ctx.hub.clone();
        let reader = self.ctx.reader.clone();
        let all_users = step.all_users;
        let ctx = Arc::clone(&self.ctx);
        let (conn, ip) = (self.conn, self.ip);
        let key = match &self.state {
            State::LoggedIn { key, .. } => key.clone(),
            State::Anonymous => String::new(),
        };
        let granted = match &self.state {
            State::LoggedIn { granted, .. } => *granted,
            State::Anonymous => Granted::default(),
        };
        step.wait = Some(Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            for cmd in rest {
                if hub.send(cmd).await.is_err() {
                    return Wait::Queued;
                }
            }
            if !room_requests.is_empty() || !edits.is_empty() || uploads.is_some() {
                let mut replies = Vec::new();
                for request in room_requests {
                    replies.push(rooms::answer(&hub, &reader, &ctx, conn, request, granted).await);
                }
                for request in edits {
                    let window = ctx.edit_window;
                    replies
                        .extend(edit::answer(&hub, &reader, conn, request, granted, window).await);
                }
                if let Some(mut uploads) = uploads {
                    let who = files::Asker { conn, name: &name, key: &key };
                    for request in file_requests {
                        replies.extend(files::answer(&ctx, &who, &mut uploads, request).await);
                    }
                    return Wait::Files(replies, uploads);
                }
                return Wait::Replies(replies);
            }
            if let Some(job) = job
                && let Some(json) = account::run(job, conn, key, ip, ctx).await
            {
                return Wait::Reply(json);
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
    #[allow(clippy::too_many_arguments, reason = "one login object's parts")]
    fn login(
        &mut self,
        name: String,
        features: Option<Vec<String>>,
        since: Option<i64>,
        credential: Credential,
        then_send: Option<Vec<Message>>,
        step: &mut Step,
    ) {
        let refused = if !self.ctx.per_address.login(self.ip) {
            Some(
                "Too many login attempts from your address; wait a moment and try again."
                    .to_owned(),
            )
        } else if let Err(why) = validate_username(&name) {
            Some(why.to_string())
        } else if let Err(why) = check_scripts(&name) {
            Some(why.to_string())
        } else {
            match &credential {
                Credential::Password(p) if p.len() > MAX_PASSWORD_BYTES => {
                    Some(format!("Wrong password for {name}: it is longer than any password."))
                }
                Credential::Token(t) if t.len() > MAX_TOKEN_BYTES => {
                    Some(crate::registry::BAD_TOKEN.to_owned())
                }
                _ => None,
            }
        };
        if let Some(info) = refused {
            self.ctx.metrics.login(false);
            step.refuse_login(info, then_send.as_ref().is_some_and(|m| !m.is_empty()));
            return;
        }
        let granted = features.map(|asked| {
            let mut granted: Vec<String> = asked
                .into_iter()
                .take(MAX_FEATURES)
                .filter(|f| SUPPORTED_FEATURES.contains(&f.as_str()))
                .filter(|f| f != features::COMPRESS || self.compressible)
                .collect();
            granted.dedup();
            granted
        });
        let peer = Peer {
            conn: self.conn,
            outbox: self.outbox.clone(),
            kick: self.kick.clone(),
            goodbye: Arc::clone(&self.goodbye),
        };
        let ctx = Arc::clone(&self.ctx);
        let then_send = then_send.unwrap_or_default();
        let key = name_key(&name);
        let ip = self.ip;
        step.wait = Some(Box::pin(async move {
            Wait::Login(
                login::answer(ctx, name, key, ip, credential, granted, since, peer, then_send)
                    .await,
            )
        }));
    }

    fn route(&mut self, mut messages: Vec<Message>, step: &mut Step) {
        let State::LoggedIn { name, key, .. } = &self.state else {
            return;
        };
        // SRC in another spelling of the user's own name is the user's name; an ID is the
        // server's to give.
        for m in &mut messages {
            m.id = None;
            if m.src != *name && name_key(&m.src) == *key {
                m.src.clone_from(name);
            }
        }
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

/// The `account` requests of one frame.
struct Account {
    register: Option<String>,
    change_password: Option<[String; 2]>,
    unregister: Option<String>,
    list_sessions: Option<bool>,
    revoke_session: Option<String>,
    logout: Option<String>,
}

impl Account {
    fn any(&self) -> bool {
        self.register.is_some()
            || self.change_password.is_some()
            || self.unregister.is_some()
            || self.list_sessions.is_some()
            || self.revoke_session.is_some()
            || self.logout.is_some()
    }
}

/// The `moderation` requests of one frame.
struct Moderations {
    kick: Option<shared::frame::Kick>,
    ban: Option<shared::frame::Ban>,
    unban: Option<String>,
    mute: Option<shared::frame::Mute>,
    unmute: Option<String>,
    list_bans: Option<bool>,
}

impl Moderations {
    fn any(&self) -> bool {
        self.kick.is_some()
            || self.ban.is_some()
            || self.unban.is_some()
            || self.mute.is_some()
            || self.unmute.is_some()
            || self.list_bans.is_some()
    }

    /// Queues each request for the hub, which checks them.
    fn queue(self, conn: ConnId, step: &mut Step) {
        let actions = [
            self.kick.map(Moderation::Kick),
            self.ban.map(Moderation::Ban),
            self.unban.map(Moderation::Unban),
            self.mute.map(Moderation::Mute),
            self.unmute.map(Moderation::Unmute),
            (self.list_bans == Some(true)).then_some(Moderation::List),
        ];
        for action in actions.into_iter().flatten() {
            step.hub.push(Command::Moderate { conn, action });
        }
    }
}

impl Session {
    /// The `account` requests of a frame: checked here, then queued (those that need a
    /// password hashed or checked become the step's job; one per frame).
    fn account(&self, a: Account, step: &mut Step) {
        let conn = self.conn;
        let job = |step: &mut Step, j: Job| {
            if step.job.is_some() {
                step.error("One password request per frame; the others were ignored.");
            } else {
                step.job = Some(j);
            }
        };
        if let Some(password) = a.register {
            match validate_password(&password) {
                Ok(()) => job(step, Job::Register(password)),
                Err(e) => step.error(format!("{e} The name was not registered.")),
            }
        }
        if let Some([old, new]) = a.change_password {
            if old.len() > MAX_PASSWORD_BYTES {
                step.error("Wrong password; nothing was changed.");
            } else {
                match validate_password(&new) {
                    Ok(()) => job(step, Job::Change(old, new)),
                    Err(e) => step.error(format!("{e} The password was not changed.")),
                }
            }
        }
        if let Some(password) = a.unregister {
            if password.len() > MAX_PASSWORD_BYTES {
                step.error("Wrong password; nothing was changed.");
            } else {
                job(step, Job::Unregister(password));
            }
        }
        if a.list_sessions == Some(true) {
            step.hub.push(Command::Account { conn, request: Request::ListSessions });
        }
        if let Some(id) = a.revoke_session {
            step.hub.push(Command::Account { conn, request: Request::Revoke { id } });
        }
        match a.logout.as_deref() {
            None => {}
            Some("this") => {
                step.hub.push(Command::Account {
                    conn,
                    request: Request::SignOut { everywhere: false },
                });
            }
            Some("everywhere") => {
                step.hub.push(Command::Account {
                    conn,
                    request: Request::SignOut { everywhere: true },
                });
            }
            Some(other) => step.error(format!(
                "LOGOUT is \"this\" or \"everywhere\", not {other:?}; nothing was changed."
            )),
        }
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
        (frame.register.is_some(), keys::REGISTER, granted.map(|g| g.account)),
        (frame.change_password.is_some(), keys::CHANGE_PASSWORD, granted.map(|g| g.account)),
        (frame.unregister.is_some(), keys::UNREGISTER, granted.map(|g| g.account)),
        (frame.list_sessions.is_some(), keys::LIST_SESSIONS, granted.map(|g| g.account)),
        (frame.revoke_session.is_some(), keys::REVOKE_SESSION, granted.map(|g| g.account)),
        (frame.logout.is_some(), keys::LOGOUT, granted.map(|g| g.account)),
        (frame.kick.is_some(), keys::KICK, granted.map(|g| g.moderation)),
        (frame.ban.is_some(), keys::BAN, granted.map(|g| g.moderation)),
        (frame.unban.is_some(), keys::UNBAN, granted.map(|g| g.moderation)),
        (frame.mute.is_some(), keys::MUTE, granted.map(|g| g.moderation)),
        (frame.unmute.is_some(), keys::UNMUTE, granted.map(|g| g.moderation)),
        (frame.list_bans.is_some(), keys::LIST_BANS, granted.map(|g| g.moderation)),
        (frame.join.is_some(), keys::JOIN, granted.map(|g| g.rooms)),
        (frame.part.is_some(), keys::PART, granted.map(|g| g.rooms)),
        (frame.list_rooms.is_some(), keys::LIST_ROOMS, granted.map(|g| g.rooms)),
        (frame.topic.is_some(), keys::TOPIC, granted.map(|g| g.rooms)),
        (frame.invite_only.is_some(), keys::INVITE_ONLY, granted.map(|g| g.rooms)),
        (frame.invite.is_some(), keys::INVITE, granted.map(|g| g.rooms)),
        (frame.edit.is_some(), keys::EDIT, granted.map(|g| g.edit)),
        (frame.delete.is_some(), keys::DELETE, granted.map(|g| g.edit)),
        (frame.search.is_some(), keys::SEARCH, granted.map(|g| g.search)),
        (frame.upload.is_some(), keys::UPLOAD, granted.map(|g| g.files)),
        (frame.chunk.is_some(), keys::CHUNK, granted.map(|g| g.files)),
        (frame.fetch.is_some(), keys::FETCH, granted.map(|g| g.files)),
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

/// The `rooms` requests of one frame.
struct RoomFrame {
    join: Option<String>,
    part: Option<String>,
    list_rooms: Option<bool>,
    topic: Option<shared::frame::RoomTopic>,
    invite_only: Option<shared::frame::RoomInviteOnly>,
    invite: Option<shared::frame::RoomInvite>,
}

impl RoomFrame {
    /// Queues the requests for the hub, in the order of the protocol's table; a room's name,
    /// a topic or a username that is not one is refused here with an ERROR.
    fn queue(self, step: &mut Step) {
        let room = |name: &str, step: &mut Step| match validate_room(name) {
            Ok(room) => Some(room),
            Err(e) => {
                step.error(format!("{name:?} is not a room's name: {e}"));
                None
            }
        };
        if let Some(r) = self.join.and_then(|n| room(&n, step)) {
            step.rooms.push(RoomRequest::Join(r));
        }
        if let Some(r) = self.part.and_then(|n| room(&n, step)) {
            step.rooms.push(RoomRequest::Part(r));
        }
        if self.list_rooms == Some(true) {
            step.rooms.push(RoomRequest::List);
        }
        if let Some(t) = self.topic
            && let Some(r) = room(&t.room, step)
        {
            match validate_topic(&t.topic) {
                Ok(()) => {
                    let topic = (!t.topic.is_empty()).then_some(t.topic);
                    step.rooms.push(RoomRequest::Topic(r, topic));
                }
                Err(e) => step.error(e),
            }
        }
        if let Some(o) = self.invite_only
            && let Some(r) = room(&o.room, step)
        {
            step.rooms.push(RoomRequest::InviteOnly(r, o.on));
        }
        if let Some(i) = self.invite
            && let Some(r) = room(&i.room, step)
        {
            match validate_username(&i.name) {
                Ok(()) => step.rooms.push(RoomRequest::Invite(r, i.name)),
                Err(e) => step.error(format!("Cannot invite {:?}: {e}", i.name)),
            }
        }
    }
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
