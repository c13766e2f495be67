//! A client's view of the chat, as plain data: the state a front end shows, the entries each
//! frame adds to the conversation, and the login frame. The terminal and the browser client
//! both build on it; no screen here, so all of it is tested directly.

use std::collections::{BTreeMap, BTreeSet};

use shared::frame::features::{self, Granted};
use shared::frame::{FileRef, RoomInfo, RoomInvite, RoomTopic};
use shared::{Frame, Message};

use crate::input::{Command, Input, help};
use crate::prompt::{Ask, Prompt, Purpose, Step};
use crate::secret::Secret;

/// One line of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A chat message.
    Message {
        /// Seconds since the epoch.
        time: i64,
        /// Sender.
        src: String,
        /// `ALL` or the recipient.
        dest: String,
        /// The text.
        text: String,
        /// Sent by this user.
        own: bool,
        /// A private message (to or from this user).
        private: bool,
        /// Its id (extensions `resume`, `edit`), which an edit or delete names.
        id: Option<i64>,
        /// It was edited (extension `edit`); a deleted one reads [`DELETED`].
        edited: bool,
    },
    /// An earlier message changed (extension `edit`): a front end that shows the message with
    /// this id updates it in place; one that cannot (or no longer shows it) shows this line.
    Changed {
        /// The message's id.
        id: Option<i64>,
        /// Its new text; `None`: deleted.
        text: Option<String>,
        /// Who changed it.
        by: String,
        /// When.
        time: i64,
    },
    /// A search's heading (`FOUND`): the query and how many results follow.
    Found {
        /// What the line says.
        text: String,
    },
    /// A search result (`hit`), or a message around one, for context.
    Result {
        /// Seconds since the epoch.
        time: i64,
        /// Sender.
        src: String,
        /// `ALL`, a room or the recipient.
        dest: String,
        /// The text.
        text: String,
        /// Its id (for `/delete ID`).
        id: Option<i64>,
        /// A result, not its context.
        hit: bool,
    },
    /// Somebody joined.
    Joined(String),
    /// Somebody left.
    Left(String),
    /// A note (welcome, connection state, command output).
    Info(String),
    /// An error from the server or the client.
    Error(String),
    /// A list of names under a title ("online", "blocked", "everyone").
    List {
        /// What the names are.
        title: String,
        /// The names.
        names: Vec<String>,
    },
    /// The file the message just before shares (extension `files`): `/get N` saves it.
    File {
        /// Its number here, for `/get`.
        n: usize,
        /// Its message's id, by which it is fetched.
        id: i64,
        /// What it is.
        file: FileRef,
        /// Sent by this user.
        own: bool,
    },
}

/// A file transfer a front end carries out (extension `files`): the terminal reads and writes
/// the disk for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// Upload the file at `path` to `to` (`ALL`, a name or a room).
    Send {
        /// Where the file is.
        path: String,
        /// Where it goes.
        to: String,
    },
    /// Download the file of message `id` into `dir` (`None`: the current directory).
    Get {
        /// The file's message.
        id: i64,
        /// What the message says of it.
        file: FileRef,
        /// Where to save it.
        dir: Option<String>,
    },
}

/// The login frame for `name`, asking for every extension the clients implement.
pub fn login_frame(name: &str) -> Frame {
    login_frame_with(name, Proof::None)
}

/// How a login proves that a registered name is its owner's (extension `account`).
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// Nothing: a name that is not registered.
    None,
    /// The account's password.
    Password(&'a Secret),
    /// A session token from an earlier login of this run.
    Token(&'a Secret),
}

/// The login frame for `name` with `proof`, asking for every extension the clients implement
/// (`PASSWORD` and `TOKEN` are understood only in a login that asks for `account`).
pub fn login_frame_with(name: &str, proof: Proof<'_>) -> Frame {
    let (password, token) = match proof {
        Proof::None => (None, None),
        Proof::Password(p) => (Some(p.expose().to_owned()), None),
        Proof::Token(t) => (None, Some(t.expose().to_owned())),
    };
    Frame {
        username: Some(name.to_owned()),
        features: Some(features::CLIENTS.iter().map(|f| (*f).to_owned()).collect()),
        password,
        token,
        ..Frame::default()
    }
}

/// What a login again says of the messages that came meanwhile and are not shown.
pub fn missed_note(missed: u64) -> String {
    if missed == 1 {
        "1 earlier message from while you were away is not shown (only the newest fit).".into()
    } else {
        format!(
            "{missed} earlier messages from while you were away are not shown (only the newest \
             fit)."
        )
    }
}

/// What a deleted message reads (extension `edit`).
pub const DELETED: &str = "(message deleted)";

/// Told when a session token arrives; the token itself is never shown.
pub const TOKEN_NOTE: &str = "This login has a session token: the client keeps it in memory \
    only (never on disk), so that it reconnects without asking for the password.";

/// The client's view of the chat.
#[derive(Debug, Clone, Default)]
pub struct Chat {
    /// This user's name, once logged in.
    pub me: Option<String>,
    /// Who is online, this user included.
    pub online: BTreeSet<String>,
    /// Whom this user blocks (known when the server supports blocking).
    pub blocked: BTreeSet<String>,
    /// Everyone ever seen, as last reported.
    pub everyone: Vec<String>,
    /// Extensions granted.
    pub granted: Granted,
    /// Whether the next `BLOCKED` answers a /blocked (and is shown) rather than a block change.
    pub show_blocked_next: bool,
    /// Whether this user's name is a registered account, as last reported (`None`: the server
    /// did not say).
    pub registered: Option<bool>,
    /// Whether this user is an operator (the login answer's `OPERATOR`).
    pub operator: bool,
    /// Whether the front end can read a line without showing it. The password prompts of
    /// `/register`, `/password` and `/unregister` need it; a front end that cannot is told so
    /// instead of being asked for a password it would show.
    pub hidden_input: bool,
    /// The password prompt under way, if any.
    prompt: Option<Prompt>,
    /// The rooms this user is in (extension `rooms`).
    pub rooms: BTreeMap<String, RoomView>,
    /// The room typed text goes to; `None`: everyone (the main room).
    pub current: Option<String>,
    /// The id of this user's newest message (extension `edit`), which `/edit` and `/delete`
    /// change.
    pub last_own: Option<i64>,
    /// The search sent last, until its `FOUND` comes.
    asked: Option<shared::frame::Search>,
    /// The next page of the last search, for `/more` (its `OLDER_THAN` set to the last
    /// result shown), once that search has found more.
    next_page: Option<shared::frame::Search>,
    /// The files shared in the messages shown (extension `files`), numbered from 1 in the
    /// order they came: (message id, file).
    pub files: Vec<(i64, FileRef)>,
}

/// A room this user is in, as the client knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomView {
    /// Its topic.
    pub topic: Option<String>,
    /// Only invited names may join.
    pub invite_only: bool,
    /// Its members online.
    pub members: BTreeSet<String>,
    /// Messages that arrived while another room (or the main room) was the current one.
    pub unread: usize,
}

impl RoomView {
    fn from_info(info: &RoomInfo) -> RoomView {
        RoomView {
            topic: info.topic.clone(),
            invite_only: info.invite_only,
            members: info.members.iter().cloned().collect(),
            unread: 0,
        }
    }
}

impl Chat {
    /// Takes in an accepted login answer; returns the entries it adds (history, who is online).
    pub fn logged_in(&mut self, name: &str, reply: Frame) -> Vec<Entry> {
        self.me = Some(name.to_owned());
        self.granted = Granted::from_list(reply.features.as_deref().unwrap_or_default());
        self.online = reply.user_list.clone().unwrap_or_default().into_iter().collect();
        self.online.insert(name.to_owned());
        self.blocked = reply.blocked.clone().unwrap_or_default().into_iter().collect();
        self.registered = reply.registered;
        self.operator = reply.operator == Some(true);
        if let Some(mine) = &reply.my_rooms {
            self.rooms = mine.iter().map(|r| (r.name.clone(), RoomView::from_info(r))).collect();
        }
        if self.current.as_ref().is_some_and(|c| !self.rooms.contains_key(c)) {
            self.current = None;
        }
        let mut out = Vec::new();
        if let Some(info) = &reply.info {
            out.push(Entry::Info(format!("{info} You are {name}.")));
        }
        if let Some(missed) = reply.missed.filter(|n| *n > 0) {
            // A login again after the connection dropped: what came meanwhile, the oldest of
            // it left out.
            out.push(Entry::Info(missed_note(missed)));
        }
        for m in reply.messages.into_iter().flatten() {
            let file = self.file_entry(&m);
            out.push(self.entry(m));
            out.extend(file);
        }
        out.push(self.online_list());
        match reply.registered {
            Some(true) => out.push(Entry::Info(format!("{name} is your registered name."))),
            Some(false) if self.granted.account => out.push(Entry::Info(format!(
                "{name} is not registered: anyone may take it once you leave. /register makes it yours."
            ))),
            _ => {}
        }
        if reply.token.is_some() {
            out.push(Entry::Info(TOKEN_NOTE.into()));
        }
        if self.operator {
            out.push(Entry::Info(
                "You are an operator: /help lists the moderation commands.".into(),
            ));
        }
        if !self.rooms.is_empty() {
            out.push(self.rooms_list());
        }
        out
    }

    /// The entry listing this user's rooms with their unread counts.
    pub fn rooms_list(&self) -> Entry {
        let names = self
            .rooms
            .iter()
            .map(|(name, r)| match r.unread {
                0 => name.clone(),
                n => format!("{name} ({n} unread)"),
            })
            .collect();
        Entry::List { title: "your rooms".into(), names }
    }

    /// Where the user writes now, for a prompt or status line: `everyone` or the room.
    pub fn writing_to(&self) -> &str {
        self.current.as_deref().unwrap_or("everyone")
    }

    /// Writes to the next of `everyone` and the user's rooms (the previous one, backwards),
    /// its unread count cleared; returns the note saying so (none without rooms).
    pub fn cycle_room(&mut self, forward: bool) -> Option<Entry> {
        if self.rooms.is_empty() {
            return None;
        }
        let mut places: Vec<Option<String>> = vec![None];
        places.extend(self.rooms.keys().cloned().map(Some));
        let at = places.iter().position(|p| *p == self.current).unwrap_or(0);
        let n = places.len();
        let next = if forward { (at + 1) % n } else { (at + n - 1) % n };
        self.current = places.swap_remove(next);
        if let Some(r) = self.current.as_ref().and_then(|c| self.rooms.get_mut(c)) {
            r.unread = 0;
        }
        Some(Entry::Info(format!("You write to {} now.", self.writing_to())))
    }

    /// The rooms for a status line: where the user writes, marked, and the unread counts of
    /// the others (none without rooms): `*everyone #go(2) #rust`.
    pub fn room_bar(&self) -> Option<String> {
        if self.rooms.is_empty() {
            return None;
        }
        let mark = |here: bool, name: &str| if here { format!("*{name}") } else { name.to_owned() };
        let mut parts = vec![mark(self.current.is_none(), "everyone")];
        for (name, r) in &self.rooms {
            let here = self.current.as_ref() == Some(name);
            let mut part = mark(here, name);
            if r.unread > 0 {
                part.push_str(&format!("({})", r.unread));
            }
            parts.push(part);
        }
        Some(parts.join(" "))
    }

    /// The entries of a frame's room keys (extension `rooms`), before its messages.
    fn apply_rooms(&mut self, f: &mut Frame, out: &mut Vec<Entry>) {
        if let Some(info) = f.joined.take() {
            let members = info.members.join(", ");
            let mut text =
                format!("You are in {} now, and write there (with {members})", info.name);
            if let Some(topic) = &info.topic {
                text.push_str(&format!("; topic: {topic}"));
            }
            out.push(Entry::Info(text + "."));
            self.rooms.insert(info.name.clone(), RoomView::from_info(&info));
            self.current = Some(info.name);
        }
        if let Some(room) = f.parted.take() {
            self.rooms.remove(&room);
            if self.current.as_ref() == Some(&room) {
                self.current = None;
            }
            out.push(Entry::Info(format!("You left {room}; you write to {}.", self.writing_to())));
        }
        for (presence, joined) in [(f.room_joined.take(), true), (f.room_left.take(), false)] {
            let Some(p) = presence else { continue };
            if let Some(r) = self.rooms.get_mut(&p.room) {
                for name in &p.users {
                    if joined {
                        r.members.insert(name.clone());
                    } else {
                        r.members.remove(name);
                    }
                }
            }
            let verb = if joined { "joined" } else { "left" };
            out.push(Entry::Info(format!("{} {verb} {}", p.users.join(", "), p.room)));
        }
        if let Some(info) = f.room_changed.take() {
            let about = match &info.topic {
                Some(t) => format!("{}'s topic: {t}", info.name),
                None => format!("{} has no topic", info.name),
            };
            let open = if info.invite_only { "invite-only" } else { "open to all" };
            out.push(Entry::Info(format!("{about} ({open}).")));
            if let Some(r) = self.rooms.get_mut(&info.name) {
                r.topic = info.topic;
                r.invite_only = info.invite_only;
            }
        }
        if let Some(inv) = f.invited.take() {
            out.push(Entry::Info(format!(
                "{} invited you to {}: /join {} to go in.",
                inv.by, inv.room, inv.room
            )));
        }
        if let Some(list) = f.rooms.take() {
            let names = list
                .iter()
                .map(|r| {
                    let mut s = format!("{} ({} of {} online)", r.name, r.online, r.members);
                    if r.invite_only {
                        s.push_str(" invite-only");
                    }
                    if let Some(t) = &r.topic {
                        s.push_str(&format!(" – {t}"));
                    }
                    s
                })
                .collect();
            out.push(Entry::List { title: "rooms".into(), names });
            if !self.rooms.is_empty() {
                out.push(self.rooms_list());
            }
        }
    }

    /// The entry for who is online.
    pub fn online_list(&self) -> Entry {
        Entry::List { title: "online".into(), names: self.online.iter().cloned().collect() }
    }

    /// The entry of a message, and what it tells of this user's own messages.
    fn entry(&mut self, m: Message) -> Entry {
        use shared::frame::Change;
        let me = self.me.as_deref().unwrap_or_default();
        let own = m.src == me;
        match m.change {
            Some(Change::Edit(id)) => {
                return Entry::Changed {
                    id: Some(id),
                    text: Some(m.content),
                    by: m.src,
                    time: m.timestamp,
                };
            }
            Some(Change::Delete(id)) => {
                return Entry::Changed { id: Some(id), text: None, by: m.src, time: m.timestamp };
            }
            _ => {}
        }
        if own && m.id > self.last_own {
            self.last_own = m.id;
        }
        let deleted = matches!(m.change, Some(Change::Deleted(_)));
        Entry::Message {
            time: m.timestamp,
            own,
            private: !m.is_broadcast() && !m.dest.starts_with('#'),
            src: m.src,
            dest: m.dest,
            text: if deleted { DELETED.to_owned() } else { m.content },
            id: m.id,
            edited: matches!(m.change, Some(Change::Edited(_))),
        }
    }

    /// The entry for the file message `m` shares, numbered (once per message) for `/get`.
    fn file_entry(&mut self, m: &Message) -> Option<Entry> {
        let (Some(file), Some(id)) = (&m.file, m.id) else { return None };
        let n = match self.files.iter().position(|(known, _)| *known == id) {
            Some(i) => i + 1,
            None => {
                self.files.push((id, file.clone()));
                self.files.len()
            }
        };
        let own = self.me.as_deref() == Some(m.src.as_str());
        Some(Entry::File { n, id, file: file.clone(), own })
    }

    /// The commands of extension `files`.
    fn file_command(&mut self, cmd: Command, connected: bool, out: &mut Outcome) {
        let error = |out: &mut Outcome, text: String| out.show.push(Entry::Error(text));
        if !self.granted.files {
            return error(out, "This server does not offer files.".into());
        }
        if !connected {
            return error(out, "Not connected; try again when reconnected.".into());
        }
        out.transfer = match cmd {
            Command::SendFile(path, to) => {
                let to =
                    to.or_else(|| self.current.clone()).unwrap_or_else(|| shared::BROADCAST.into());
                Some(Transfer::Send { path, to })
            }
            Command::GetFile(n, dir) => match self.files.get(n - 1) {
                Some((id, file)) => Some(Transfer::Get { id: *id, file: file.clone(), dir }),
                None => {
                    return error(
                        out,
                        format!("There is no file {n} here; a file's message shows its number."),
                    );
                }
            },
            _ => None,
        };
    }

    /// The entries of a `FOUND`, and the next page's search kept for `/more`.
    fn found(&mut self, found: shared::frame::Found) -> Vec<Entry> {
        let n = found.results.len();
        let more = if found.more { "; /more for older ones" } else { "" };
        let text = match n {
            0 => format!("Search \"{}\": nothing found.", found.query),
            1 => format!("Search \"{}\": 1 result{more}:", found.query),
            n => format!("Search \"{}\": {n} results, newest first{more}:", found.query),
        };
        let older_than = found.results.last().and_then(|h| h.message.id);
        self.next_page = match (self.asked.take(), found.more) {
            (Some(last), true) => Some(shared::frame::Search { older_than, ..last }),
            _ => None,
        };
        let mut out = vec![Entry::Found { text }];
        for hit in found.results {
            let id = hit.message.id;
            let line = |m: Message, hit: bool| Entry::Result {
                time: m.timestamp,
                src: m.src,
                dest: m.dest,
                text: m.content,
                id: m.id,
                hit,
            };
            let (before, after): (Vec<Message>, Vec<Message>) =
                hit.context.into_iter().partition(|m| m.id < id);
            out.extend(before.into_iter().map(|m| line(m, false)));
            out.push(line(hit.message, true));
            out.extend(after.into_iter().map(|m| line(m, false)));
        }
        out
    }

    /// Takes in a frame from the server; returns the entries it adds. Keys arrive together in
    /// one object; each is handled.
    pub fn apply(&mut self, mut f: Frame) -> Vec<Entry> {
        let mut out = Vec::new();
        for name in f.users_joined.take().into_iter().flatten() {
            self.online.insert(name.clone());
            out.push(Entry::Joined(name));
        }
        // A JOINED's history is its room's: read, not unread.
        let history = f.joined.is_some();
        self.apply_rooms(&mut f, &mut out);
        for m in f.messages.take().into_iter().flatten() {
            let me = self.me.as_deref().unwrap_or_default();
            if !history
                && m.src != me
                && m.change.is_none()
                && m.dest.starts_with('#')
                && self.current.as_ref() != Some(&m.dest)
                && let Some(r) = self.rooms.get_mut(&m.dest)
            {
                r.unread += 1;
            }
            let file = self.file_entry(&m);
            out.push(self.entry(m));
            out.extend(file);
        }
        for name in f.users_left.take().into_iter().flatten() {
            self.online.remove(&name);
            for r in self.rooms.values_mut() {
                r.members.remove(&name);
            }
            out.push(Entry::Left(name));
        }
        if let Some(list) = f.blocked {
            self.blocked = list.iter().cloned().collect();
            let title =
                if std::mem::take(&mut self.show_blocked_next) { "blocked" } else { "now blocked" };
            out.push(Entry::List { title: title.into(), names: list });
        }
        if let Some(list) = f.all_users {
            self.everyone = list.clone();
            out.push(Entry::List { title: "everyone ever seen".into(), names: list });
        }
        out.extend(self.apply_account(f.registered, f.token.is_some(), f.sessions.as_deref()));
        if let Some(op) = f.operator {
            self.operator = op;
            let text = if op { "You are an operator now." } else { "You are not an operator." };
            out.push(Entry::Info(text.into()));
        }
        if let Some(found) = f.found.take() {
            out.extend(self.found(found));
        }
        if let Some(list) = &f.bans {
            out.extend(crate::fmt::bans(list).into_iter().map(Entry::Info));
        }
        if let Some(info) = f.info {
            out.push(Entry::Info(info));
        }
        if let Some(e) = f.error {
            out.push(Entry::Error(e));
        }
        if f.username_accepted == Some(false) {
            out.push(Entry::Error("The username was refused.".into()));
        }
        if !f.unknown.is_empty() {
            out.push(Entry::Error(format!(
                "The server sent something this client does not know: {}.",
                f.unknown.join(", ")
            )));
        }
        out
    }

    /// The entries for the answers of extension `account`: `REGISTERED`, `TOKEN`, `SESSIONS`.
    fn apply_account(
        &mut self,
        registered: Option<bool>,
        token: bool,
        sessions: Option<&[shared::frame::SessionInfo]>,
    ) -> Vec<Entry> {
        let mut out = Vec::new();
        let me = self.me.clone().unwrap_or_default();
        if let Some(r) = registered {
            self.registered = Some(r);
            out.push(Entry::Info(if r {
                format!("{me} is registered now: only its password or a session logs in to it.")
            } else {
                format!("{me} is no longer registered; anyone may take it once you leave.")
            }));
        }
        if token {
            out.push(Entry::Info(TOKEN_NOTE.into()));
        }
        if let Some(list) = sessions {
            out.extend(crate::fmt::sessions(list).into_iter().map(Entry::Info));
        }
        out
    }

    /// The entry for a message this user just sent (the server does not echo it).
    pub fn sent(&mut self, m: &Message) -> Entry {
        self.entry(m.clone())
    }

    /// A message from this user, stamped `now`.
    pub fn message(&self, dest: &str, text: &str, now: i64) -> Message {
        Message::new(self.me.clone().unwrap_or_default(), dest, now, text)
    }

    /// Names worth completing: online first, then everyone ever seen and the blocked.
    pub fn known_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.online.iter().cloned().collect();
        for n in self.everyone.iter().chain(self.blocked.iter()) {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names
    }
}

/// What handling a typed line asks the front end to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// A frame for the server.
    pub send: Option<Frame>,
    /// Entries to show.
    pub show: Vec<Entry>,
    /// Leave.
    pub quit: bool,
    /// A file to send or save (extension `files`).
    pub transfer: Option<Transfer>,
}

impl Chat {
    /// Acts on a typed line. `connected`: logged in and able to send now; `now`: the time
    /// (Unix seconds) to stamp a message with.
    pub fn handle(&mut self, input: Input, connected: bool, now: i64) -> Outcome {
        let mut out = Outcome::default();
        let needs = |out: &mut Outcome, what: &str| {
            out.show.push(Entry::Error(format!("Not connected; {what}")));
        };
        if self.prompt.take().is_some() {
            // A front end that let a line through while a password was asked for: the line
            // may be the password, so it goes nowhere.
            out.show
                .push(Entry::Error("The password prompt was cancelled; nothing was sent.".into()));
            return out;
        }
        match input {
            Input::Nothing => {}
            Input::Invalid(t) => out.show.push(Entry::Error(t)),
            Input::Say { dest, text } => {
                // Text for everyone goes to the room the user writes to, if any.
                let dest = match (&self.current, dest.as_str()) {
                    (Some(room), shared::BROADCAST) => room.clone(),
                    _ => dest,
                };
                if !connected {
                    needs(&mut out, "the message was not sent.");
                } else {
                    let m = self.message(&dest, &text, now);
                    // With `edit` the server sends it back with its id, and it is shown then.
                    if !self.granted.edit {
                        out.show.push(self.sent(&m));
                    }
                    out.send = Some(Frame::messages(vec![m]));
                }
            }
            Input::Command(cmd) => match cmd {
                Command::Help => out.show.extend(
                    help(self.granted, self.operator)
                        .into_iter()
                        .map(|l| Entry::Info(l.to_owned())),
                ),
                Command::Quit => out.quit = true,
                Command::Name => out.show.push(Entry::Info(match &self.me {
                    Some(me) => format!("You are {me}."),
                    None => "You are not logged in.".to_owned(),
                })),
                Command::Users => out.show.push(self.online_list()),
                Command::AllUsers if !self.granted.users => out
                    .show
                    .push(Entry::Error("This server does not offer the list of all users.".into())),
                Command::AllUsers if !connected => needs(&mut out, "try again when reconnected."),
                Command::AllUsers => {
                    out.send = Some(Frame { list_all_users: Some(true), ..Frame::default() })
                }
                Command::Block(_) | Command::Unblock(_) | Command::Blocked
                    if !self.granted.block =>
                {
                    out.show.push(Entry::Error("This server does not support blocking.".into()))
                }
                Command::Block(_) | Command::Unblock(_) | Command::Blocked if !connected => {
                    needs(&mut out, "try again when reconnected.")
                }
                Command::Block(n) => out.send = Some(Frame { block: Some(n), ..Frame::default() }),
                Command::Unblock(n) => {
                    out.send = Some(Frame { unblock: Some(n), ..Frame::default() })
                }
                Command::Blocked => {
                    self.show_blocked_next = true;
                    out.send = Some(Frame { list_blocked: Some(true), ..Frame::default() });
                }
                Command::Register
                | Command::ChangePassword
                | Command::Unregister
                | Command::Sessions
                | Command::Revoke(_)
                | Command::Logout => self.account(cmd, connected, &mut out),
                Command::Kick(_)
                | Command::Ban(_)
                | Command::Unban(_)
                | Command::Mute(_)
                | Command::Unmute(_)
                | Command::Bans => self.moderation(cmd, connected, &mut out),
                Command::Join(_)
                | Command::Part(_)
                | Command::Rooms
                | Command::Room(_)
                | Command::Topic(..)
                | Command::Invite(..) => self.room_command(cmd, connected, &mut out),
                Command::Edit(_) | Command::Delete(_) => {
                    self.edit_command(cmd, connected, &mut out)
                }
                Command::Search(_) | Command::More => self.search_command(cmd, connected, &mut out),
                Command::SendFile(..) | Command::GetFile(..) => {
                    self.file_command(cmd, connected, &mut out)
                }
            },
        }
        out
    }

    /// The commands of extension `edit`: on the user's last message, or a message by id.
    fn edit_command(&mut self, cmd: Command, connected: bool, out: &mut Outcome) {
        let error = |out: &mut Outcome, text: &str| out.show.push(Entry::Error(text.to_owned()));
        if !self.granted.edit {
            return error(out, "This server does not offer editing.");
        }
        if !connected {
            return error(out, "Not connected; try again when reconnected.");
        }
        let last = self.last_own;
        out.send = match (cmd, last) {
            (Command::Edit(content), Some(id)) => {
                Some(Frame { edit: Some(shared::frame::Edit { id, content }), ..Frame::default() })
            }
            (Command::Delete(Some(id)), _) | (Command::Delete(None), Some(id)) => {
                Some(Frame { delete: Some(id), ..Frame::default() })
            }
            _ => return error(out, "You have written nothing here to change yet."),
        };
    }

    /// The commands of extension `search`.
    fn search_command(&mut self, cmd: Command, connected: bool, out: &mut Outcome) {
        let error = |out: &mut Outcome, text: &str| out.show.push(Entry::Error(text.to_owned()));
        if !self.granted.search {
            return error(out, "This server does not offer search.");
        }
        if !connected {
            return error(out, "Not connected; try again when reconnected.");
        }
        let search = match cmd {
            Command::Search(search) => search,
            _ => match self.next_page.take() {
                Some(next) => next,
                None => return error(out, "No more results: /search words starts a search."),
            },
        };
        self.asked = Some(search.clone());
        out.send = Some(Frame { search: Some(search), ..Frame::default() });
    }

    /// The commands of extension `rooms`.
    fn room_command(&mut self, cmd: Command, connected: bool, out: &mut Outcome) {
        let error = |out: &mut Outcome, text: String| out.show.push(Entry::Error(text));
        if !self.granted.rooms {
            return error(out, "This server does not offer rooms.".into());
        }
        if let Command::Room(target) = cmd {
            match target {
                None => self.current = None,
                Some(room) if self.rooms.contains_key(&room) => {
                    if let Some(r) = self.rooms.get_mut(&room) {
                        r.unread = 0;
                    }
                    self.current = Some(room);
                }
                Some(room) => return error(out, format!("You are not in {room}; /join {room}.")),
            }
            out.show.push(Entry::Info(format!("You write to {} now.", self.writing_to())));
            return;
        }
        if !connected {
            return error(out, "Not connected; try again when reconnected.".into());
        }
        let here = |what: &str, out: &mut Outcome| {
            out.show
                .push(Entry::Error(format!("You write to everyone now; name the room: {what}")));
        };
        out.send = match cmd {
            Command::Join(room) => Some(Frame { join: Some(room), ..Frame::default() }),
            Command::Part(room) => match room.or_else(|| self.current.clone()) {
                Some(room) => Some(Frame { part: Some(room), ..Frame::default() }),
                None => return here("/part #room", out),
            },
            Command::Rooms => Some(Frame { list_rooms: Some(true), ..Frame::default() }),
            Command::Topic(room, topic) => {
                Some(Frame { topic: Some(RoomTopic { room, topic }), ..Frame::default() })
            }
            Command::Invite(name, room) => match room.or_else(|| self.current.clone()) {
                Some(room) => {
                    Some(Frame { invite: Some(RoomInvite { room, name }), ..Frame::default() })
                }
                None => return here("/invite name #room", out),
            },
            _ => None,
        };
    }

    /// The commands of extension `account`.
    fn account(&mut self, cmd: Command, connected: bool, out: &mut Outcome) {
        let error = |out: &mut Outcome, text: &str| out.show.push(Entry::Error(text.to_owned()));
        if !self.granted.account {
            return error(out, "This server does not offer accounts.");
        }
        if !connected {
            return error(out, "Not connected; try again when reconnected.");
        }
        let purpose = match cmd {
            Command::Register => Purpose::Register,
            Command::ChangePassword => Purpose::ChangePassword,
            Command::Unregister => Purpose::Unregister,
            Command::Sessions => {
                out.send = Some(Frame { list_sessions: Some(true), ..Frame::default() });
                return;
            }
            Command::Revoke(id) => {
                out.send = Some(Frame { revoke_session: Some(id), ..Frame::default() });
                return;
            }
            Command::Logout => {
                out.show.push(Entry::Info(
                    "Ending every session of your account; this client forgets its own.".into(),
                ));
                out.send =
                    Some(Frame { logout: Some(LOGOUT_EVERYWHERE.into()), ..Frame::default() });
                return;
            }
            _ => return,
        };
        if !self.hidden_input {
            return error(
                out,
                "This client cannot ask for a password without showing it; use the terminal client.",
            );
        }
        match (purpose, self.registered) {
            (Purpose::Register, Some(true)) => error(out, "Your name is registered already."),
            (Purpose::ChangePassword | Purpose::Unregister, Some(false)) => {
                error(out, "Your name is not registered; /register makes it yours.")
            }
            _ => {
                out.show.push(Entry::Info(purpose.intro().into()));
                self.prompt = Some(Prompt::new(purpose));
            }
        }
    }

    /// The commands of extension `moderation`.
    fn moderation(&mut self, cmd: Command, connected: bool, out: &mut Outcome) {
        let error = |out: &mut Outcome, text: &str| out.show.push(Entry::Error(text.to_owned()));
        if !self.granted.moderation {
            return error(out, "This server does not offer moderation.");
        }
        if !self.operator {
            return error(out, "Only operators can kick, ban or mute.");
        }
        if !connected {
            return error(out, "Not connected; try again when reconnected.");
        }
        let frame = match cmd {
            Command::Kick(k) => Frame { kick: Some(k), ..Frame::default() },
            Command::Ban(b) => Frame { ban: Some(b), ..Frame::default() },
            Command::Unban(n) => Frame { unban: Some(n), ..Frame::default() },
            Command::Mute(m) => Frame { mute: Some(m), ..Frame::default() },
            Command::Unmute(n) => Frame { unmute: Some(n), ..Frame::default() },
            Command::Bans => Frame { list_bans: Some(true), ..Frame::default() },
            _ => return,
        };
        out.send = Some(frame);
    }

    /// What a password prompt asks for now, if one is under way: the front end reads the next
    /// line without showing it and hands it to [`Chat::answer`].
    pub fn asking(&self) -> Option<Ask> {
        self.prompt.as_ref().map(Prompt::ask)
    }

    /// What the password prompt under way is for, if any.
    pub fn asking_for(&self) -> Option<Purpose> {
        self.prompt.as_ref().map(Prompt::purpose)
    }

    /// Takes the answer to the password prompt; once every answer is in, the request to send.
    /// An empty answer cancels. `connected`: logged in and able to send now.
    pub fn answer(&mut self, secret: Secret, connected: bool) -> Outcome {
        let mut out = Outcome::default();
        let Some(prompt) = self.prompt.take() else { return out };
        match prompt.answer(secret) {
            Step::Next(p) => self.prompt = Some(p),
            Step::Cancelled(why) => out.show.push(Entry::Error(why)),
            Step::Done(_) if !connected => {
                out.show.push(Entry::Error("Not connected; nothing was sent.".into()))
            }
            Step::Done(frame) => out.send = Some(*frame),
        }
        out
    }

    /// Gives up the password prompt under way (Esc); the entries say so.
    pub fn cancel_prompt(&mut self) -> Vec<Entry> {
        match self.prompt.take() {
            Some(_) => vec![Entry::Info("Cancelled; nothing was sent.".into())],
            None => Vec::new(),
        }
    }
}

/// `LOGOUT`'s value that revokes every session token of the account.
pub const LOGOUT_EVERYWHERE: &str = "everywhere";

#[cfg(test)]
mod tests {
    use super::*;

    /// ann logged in with `edit` and `search`.
    fn editing() -> Chat {
        let mut chat = Chat::default();
        let reply = Frame {
            username_accepted: Some(true),
            features: Some(vec![features::EDIT.into(), features::SEARCH.into()]),
            messages: Some(vec![Message::new("ann", "ALL", 1, "from before").with_id(3)]),
            ..Frame::default()
        };
        chat.logged_in("ann", reply);
        chat
    }

    fn typed(chat: &mut Chat, line: &str) -> Outcome {
        chat.handle(crate::input::parse(line), true, 100)
    }

    #[test]
    fn with_edit_an_own_message_is_shown_when_it_comes_back_and_edit_changes_the_last() {
        use shared::frame::{Change, Edit};
        let mut chat = editing();
        assert_eq!(chat.last_own, Some(3), "known from the history");
        let out = typed(&mut chat, "hello");
        assert!(out.show.is_empty(), "not shown before the server has it");
        let back = Frame::messages(vec![Message::new("ann", "ALL", 100, "hello").with_id(9)]);
        let shown = chat.apply(back);
        assert!(
            matches!(&shown[..], [Entry::Message { id: Some(9), own: true, text, .. }] if text == "hello")
        );
        assert_eq!(chat.last_own, Some(9));
        let out = typed(&mut chat, "/edit hello, world");
        let edit = Edit { id: 9, content: "hello, world".into() };
        assert_eq!(out.send, Some(Frame { edit: Some(edit), ..Frame::default() }));
        assert_eq!(typed(&mut chat, "/delete").send.and_then(|f| f.delete), Some(9));
        assert_eq!(typed(&mut chat, "/delete 4").send.and_then(|f| f.delete), Some(4));
        // Changes come back as entries of their own; history shows the result.
        let change = |change, content: &str| {
            let m = Message { change: Some(change), ..Message::new("bob", "ALL", 5, content) };
            Frame::messages(vec![m.with_id(10)])
        };
        assert_eq!(
            chat.apply(change(Change::Edit(9), "new")),
            [Entry::Changed { id: Some(9), text: Some("new".into()), by: "bob".into(), time: 5 }]
        );
        assert_eq!(
            chat.apply(change(Change::Delete(9), "")),
            [Entry::Changed { id: Some(9), text: None, by: "bob".into(), time: 5 }]
        );
        let shown = chat.apply(change(Change::Deleted(7), ""));
        assert!(
            matches!(&shown[..], [Entry::Message { text, edited: false, .. }] if text == DELETED)
        );
        let shown = chat.apply(change(Change::Edited(7), "fixed"));
        assert!(
            matches!(&shown[..], [Entry::Message { text, edited: true, .. }] if text == "fixed")
        );
    }

    #[test]
    fn search_reads_its_filters_shows_results_in_context_and_pages_with_more() {
        use shared::frame::{Found, Hit, Search};
        let mut chat = editing();
        let out = typed(&mut chat, "/search from:bob  in:#rust \"red apple\" after:1970-01-02");
        let asked = Search {
            query: "\"red apple\"".into(),
            room: Some("#rust".into()),
            from: Some("bob".into()),
            after: Some(86_400),
            ..Search::default()
        };
        assert_eq!(out.send, Some(Frame { search: Some(asked.clone()), ..Frame::default() }));
        assert!(matches!(
            chat.handle(crate::input::parse("/search in:#x!"), true, 0).show[..],
            [Entry::Error(_)]
        ));
        let m = |id: i64, text: &str| Message::new("bob", "#rust", id, text).with_id(id);
        let found = Found {
            query: asked.query.clone(),
            results: vec![Hit {
                message: m(20, "red apple"),
                context: vec![m(19, "before"), m(21, "after")],
            }],
            more: true,
        };
        let shown = chat.apply(Frame { found: Some(found), ..Frame::default() });
        let hits: Vec<(bool, &str)> = shown
            .iter()
            .filter_map(|e| match e {
                Entry::Result { hit, text, .. } => Some((*hit, text.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(hits, [(false, "before"), (true, "red apple"), (false, "after")]);
        assert!(matches!(&shown[0], Entry::Found { text } if text.contains("/more")));
        let more = typed(&mut chat, "/more").send.and_then(|f| f.search);
        assert_eq!(more, Some(Search { older_than: Some(20), ..asked }));
        let last = Found { query: "x".into(), results: vec![], more: false };
        chat.apply(Frame { found: Some(last), ..Frame::default() });
        assert!(matches!(typed(&mut chat, "/more").show[..], [Entry::Error(_)]), "no more");
    }

    fn login_reply() -> Frame {
        Frame {
            username_accepted: Some(true),
            info: Some("Welcome!".into()),
            features: Some(vec![features::BLOCK.into()]),
            user_list: Some(vec!["ann".into(), "bob".into()]),
            blocked: Some(vec!["eve".into()]),
            messages: Some(vec![
                Message::new("bob", "ALL", 1, "hi"),
                Message::new("bob", "ann", 2, "psst"),
                Message::new("ann", "bob", 3, "yes?"),
            ]),
            ..Frame::default()
        }
    }

    #[test]
    fn login_shows_history_marks_own_and_private_and_lists_who_is_online() {
        let mut chat = Chat::default();
        let entries = chat.logged_in("ann", login_reply());
        assert_eq!(chat.granted, Granted { block: true, ..Granted::default() });
        assert_eq!(chat.blocked.iter().collect::<Vec<_>>(), ["eve"]);
        assert!(matches!(&entries[0], Entry::Info(t) if t.contains("Welcome!")));
        assert!(matches!(&entries[1], Entry::Message { own: false, private: false, .. }));
        assert!(matches!(&entries[2], Entry::Message { own: false, private: true, .. }));
        assert!(matches!(&entries[3], Entry::Message { own: true, private: true, .. }));
        assert_eq!(
            entries[4],
            Entry::List { title: "online".into(), names: vec!["ann".into(), "bob".into()] }
        );
    }

    #[test]
    fn rooms_are_cycled_through_and_their_unread_counts_kept() {
        let mut chat = Chat::default();
        let mut reply = login_reply();
        reply.features = Some(vec![features::ROOMS.into()]);
        let room = |name: &str| RoomInfo { name: name.into(), ..RoomInfo::default() };
        reply.my_rooms = Some(vec![room("#go"), room("#rust")]);
        chat.logged_in("ann", reply);
        assert_eq!(chat.room_bar().as_deref(), Some("*everyone #go #rust"));
        chat.apply(Frame::messages(vec![
            Message::new("bob", "#rust", 1, "a"),
            Message::new("bob", "#rust", 2, "b"),
            Message::new("ann", "#go", 3, "mine"),
        ]));
        assert_eq!(chat.room_bar().as_deref(), Some("*everyone #go #rust(2)"));
        chat.cycle_room(false);
        assert_eq!(chat.room_bar().as_deref(), Some("everyone #go *#rust"), "read now");
        let note = chat.cycle_room(true);
        assert!(matches!(note, Some(Entry::Info(t)) if t == "You write to everyone now."));
        chat.cycle_room(true);
        assert_eq!(chat.current.as_deref(), Some("#go"));
        // What is typed goes there; a private message still goes to its name.
        let out = chat.handle(crate::input::parse("hello"), true, 5);
        assert_eq!(out.send.expect("a frame").messages.expect("messages")[0].dest, "#go");
        let out = chat.handle(crate::input::parse("@bob hi"), true, 5);
        assert_eq!(out.send.expect("a frame").messages.expect("messages")[0].dest, "bob");
        assert_eq!(Chat::default().room_bar(), None);
    }

    #[test]
    fn a_login_again_says_how_many_messages_from_meanwhile_are_not_shown() {
        let mut chat = Chat::default();
        let reply = Frame { missed: Some(3), ..login_reply() };
        let entries = chat.logged_in("ann", reply);
        assert!(
            entries
                .iter()
                .any(|e| matches!(e, Entry::Info(t) if t.starts_with("3 earlier messages"))),
            "{entries:?}"
        );
        let complete = chat.logged_in("ann", Frame { missed: Some(0), ..login_reply() });
        assert!(!complete.iter().any(|e| matches!(e, Entry::Info(t) if t.contains("earlier"))));
        assert_eq!(
            missed_note(1),
            "1 earlier message from while you were away is not shown (only the newest fit)."
        );
    }

    #[test]
    fn the_login_frame_names_the_user_and_asks_for_every_extension() {
        assert_eq!(
            shared::encode(&login_frame("ann")),
            br#"{"USERNAME":"ann","FEATURES":["block","users","account","moderation","resume"]}"#
        );
        let password = Secret::new("correct horse");
        assert_eq!(
            shared::encode(&login_frame_with("ann", Proof::Password(&password))),
            br#"{"USERNAME":"ann","FEATURES":["block","users","account","moderation","resume"],"PASSWORD":"correct horse"}"#
        );
        let token = Secret::new("tok");
        let f = login_frame_with("ann", Proof::Token(&token));
        assert_eq!((f.token.as_deref(), f.password), (Some("tok"), None));
        assert_eq!(f.features, login_frame("ann").features);
    }

    #[test]
    fn presence_messages_and_errors_update_the_view() {
        let mut chat = Chat::default();
        chat.logged_in("ann", login_reply());
        let e = chat.apply(Frame {
            users_joined: Some(vec!["cat".into()]),
            messages: Some(vec![Message::new("cat", "ALL", 5, "hello")]),
            ..Frame::default()
        });
        assert_eq!(e[0], Entry::Joined("cat".into()));
        assert!(chat.online.contains("cat"));
        let e = chat.apply(Frame { users_left: Some(vec!["bob".into()]), ..Frame::default() });
        assert_eq!(e, [Entry::Left("bob".into())]);
        assert!(!chat.online.contains("bob"));
        let e = chat.apply(Frame::error("nope"));
        assert_eq!(e, [Entry::Error("nope".into())]);
        let e = chat.apply(Frame { unknown: vec!["WEATHER".into()], ..Frame::default() });
        assert!(matches!(&e[..], [Entry::Error(t)] if t.contains("WEATHER")));
        chat.show_blocked_next = true;
        let e = chat.apply(Frame { blocked: Some(vec![]), ..Frame::default() });
        assert_eq!(e, [Entry::List { title: "blocked".into(), names: vec![] }]);
        assert!(chat.blocked.is_empty());
        let m = chat.message("bob", "x", 7);
        assert!(matches!(chat.sent(&m), Entry::Message { own: true, private: true, .. }));
    }

    #[test]
    fn typed_lines_become_frames_or_entries() {
        use crate::input::parse;
        let mut chat = Chat::default();
        chat.logged_in("ann", login_reply());
        let out = chat.handle(parse("@bob hi"), true, 7);
        let sent = out.send.expect("a frame").messages.expect("messages");
        assert_eq!(
            (sent[0].src.as_str(), sent[0].dest.as_str(), sent[0].content.as_str()),
            ("ann", "bob", "hi")
        );
        assert!(matches!(&out.show[0], Entry::Message { own: true, private: true, .. }));
        let out = chat.handle(parse("hi"), false, 7);
        assert!(out.send.is_none());
        assert!(matches!(&out.show[0], Entry::Error(t) if t.contains("Not connected")));
        assert_eq!(
            chat.handle(parse("/block eve"), true, 7).send.and_then(|f| f.block),
            Some("eve".into())
        );
        assert_eq!(
            chat.handle(parse("/blocked"), true, 7).send.and_then(|f| f.list_blocked),
            Some(true)
        );
        assert!(chat.show_blocked_next);
        // the users feature was not granted in this login
        assert!(matches!(&chat.handle(parse("/allusers"), true, 7).show[0], Entry::Error(_)));
        assert!(chat.handle(parse("/quit"), true, 7).quit);
        assert_eq!(
            chat.handle(parse("/help"), true, 7).show.len(),
            help(chat.granted, false).len()
        );
        assert_eq!(chat.handle(parse("/users"), true, 7).show, [chat.online_list()]);
    }

    /// A login answer granting every extension, with the account and operator keys given.
    fn full_login(chat: &mut Chat, registered: Option<bool>, operator: Option<bool>) -> Vec<Entry> {
        chat.hidden_input = true;
        let reply = Frame {
            features: Some(features::CLIENTS.map(String::from).to_vec()),
            registered,
            operator,
            token: registered.filter(|r| *r).map(|_| "secret-token".into()),
            ..login_reply()
        };
        chat.logged_in("ann", reply)
    }

    fn infos(entries: &[Entry]) -> String {
        entries
            .iter()
            .map(|e| match e {
                Entry::Info(t) | Entry::Error(t) => t.clone(),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_login_answer_tells_registration_token_and_operator_without_showing_the_token() {
        let mut chat = Chat::default();
        let shown = infos(&full_login(&mut chat, Some(true), Some(true)));
        assert_eq!((chat.registered, chat.operator), (Some(true), true));
        assert!(shown.contains("ann is your registered name."), "{shown}");
        assert!(shown.contains("session token") && shown.contains("memory"), "{shown}");
        assert!(shown.contains("You are an operator"), "{shown}");
        assert!(!shown.contains("secret-token"), "{shown}");
        let mut chat = Chat::default();
        let shown = infos(&full_login(&mut chat, Some(false), Some(false)));
        assert_eq!((chat.registered, chat.operator), (Some(false), false));
        assert!(shown.contains("/register makes it yours"), "{shown}");
        assert!(!shown.contains("operator") && !shown.contains("token"), "{shown}");
        // a server without the extensions says nothing of them
        let mut chat = Chat::default();
        let shown = infos(&chat.logged_in("ann", login_reply()));
        assert_eq!((chat.registered, chat.operator), (None, false));
        assert!(!shown.contains("regist"), "{shown}");
    }

    #[test]
    fn account_and_moderation_answers_become_notes() {
        let mut chat = Chat::default();
        full_login(&mut chat, Some(false), Some(true));
        let e = chat.apply(Frame {
            registered: Some(true),
            token: Some("secret-token".into()),
            ..Frame::default()
        });
        let shown = infos(&e);
        assert_eq!(chat.registered, Some(true));
        assert!(shown.contains("ann is registered now"), "{shown}");
        assert!(shown.contains("session token") && !shown.contains("secret-token"), "{shown}");
        let e = chat.apply(Frame { registered: Some(false), ..Frame::default() });
        assert_eq!(chat.registered, Some(false));
        assert!(infos(&e).contains("no longer registered"));
        let session = shared::frame::SessionInfo {
            id: "s1".into(),
            created: 0,
            last_used: 0,
            expires: 0,
            current: true,
        };
        let e = chat.apply(Frame { sessions: Some(vec![session]), ..Frame::default() });
        assert_eq!(e.len(), 2);
        assert!(infos(&e).contains("s1 (this connection)"));
        let e = chat.apply(Frame { sessions: Some(vec![]), ..Frame::default() });
        assert!(infos(&e).contains("sessions (0)"));
        let ban = shared::frame::BanInfo {
            kind: "ban".into(),
            name: Some("bob".into()),
            address: None,
            by: "ann".into(),
            at: 0,
            until: None,
            reason: Some("spam".into()),
        };
        let e = chat.apply(Frame { bans: Some(vec![ban]), ..Frame::default() });
        assert!(infos(&e).contains("ban bob for ever, by ann"), "{e:?}");
        let e = chat.apply(Frame { operator: Some(false), ..Frame::default() });
        assert!(!chat.operator);
        assert!(infos(&e).contains("not an operator"));
        // the removal notice everyone gets is an ordinary INFO
        let e = chat
            .apply(Frame { info: Some("bob was removed by ann: spam".into()), ..Frame::default() });
        assert_eq!(e, [Entry::Info("bob was removed by ann: spam".into())]);
    }

    #[test]
    fn register_prompts_twice_then_sends_and_never_shows_the_password() {
        use crate::input::parse;
        let mut chat = Chat::default();
        full_login(&mut chat, Some(false), None);
        let out = chat.handle(parse("/register"), true, 7);
        assert!(out.send.is_none());
        assert!(infos(&out.show).contains("Registering"));
        assert_eq!(chat.asking(), Some(Ask::Password));
        assert_eq!(chat.asking_for(), Some(Purpose::Register));
        let out = chat.answer(Secret::new("correct horse"), true);
        assert_eq!((out.send, out.show.len()), (None, 0));
        assert_eq!(chat.asking(), Some(Ask::PasswordAgain));
        let out = chat.answer(Secret::new("correct horse"), true);
        assert_eq!(out.send.and_then(|f| f.register).as_deref(), Some("correct horse"));
        assert!(out.show.is_empty(), "nothing echoes the password");
        assert_eq!(chat.asking(), None);
    }

    #[test]
    fn password_and_unregister_prompts_build_their_requests() {
        let mut chat = Chat::default();
        full_login(&mut chat, Some(true), None);
        chat.handle(Input::Command(Command::ChangePassword), true, 7);
        assert_eq!(chat.asking(), Some(Ask::OldPassword));
        chat.answer(Secret::new("old password"), true);
        assert_eq!(chat.asking(), Some(Ask::NewPassword));
        chat.answer(Secret::new("new password"), true);
        assert_eq!(chat.asking(), Some(Ask::NewPasswordAgain));
        let out = chat.answer(Secret::new("new password"), true);
        assert_eq!(
            out.send.and_then(|f| f.change_password),
            Some(["old password".into(), "new password".into()])
        );
        chat.handle(Input::Command(Command::Unregister), true, 7);
        assert_eq!(chat.asking(), Some(Ask::Password));
        // the connection dropped meanwhile: nothing goes out
        let out = chat.answer(Secret::new("new password"), false);
        assert!(out.send.is_none() && infos(&out.show).contains("Not connected"));
        chat.handle(Input::Command(Command::Unregister), true, 7);
        let out = chat.answer(Secret::new("new password"), true);
        assert_eq!(out.send.and_then(|f| f.unregister).as_deref(), Some("new password"));
    }

    #[test]
    fn prompts_cancel_on_escape_or_a_stray_line_and_send_nothing() {
        use crate::input::parse;
        let mut chat = Chat::default();
        full_login(&mut chat, Some(false), None);
        chat.handle(parse("/register"), true, 7);
        assert!(infos(&chat.cancel_prompt()).contains("Cancelled"));
        assert_eq!(chat.asking(), None);
        assert!(chat.cancel_prompt().is_empty());
        // a front end that lets the line through to handle() instead of answer()
        chat.handle(parse("/register"), true, 7);
        let out = chat.handle(parse("hunter2 hunter2"), true, 7);
        assert!(out.send.is_none(), "the line may be the password: it is never sent");
        assert!(infos(&out.show).contains("prompt was cancelled"));
        assert!(!infos(&out.show).contains("hunter2"));
        assert_eq!(chat.asking(), None);
    }

    #[test]
    fn account_commands_need_the_extension_a_hidden_line_and_the_right_state() {
        use crate::input::parse;
        let mut chat = Chat::default();
        chat.logged_in("ann", login_reply()); // block only
        let out = chat.handle(parse("/register"), true, 7);
        assert!(infos(&out.show).contains("does not offer accounts"));
        let mut chat = Chat::default();
        full_login(&mut chat, Some(false), None);
        chat.hidden_input = false;
        let out = chat.handle(parse("/register"), true, 7);
        assert!(infos(&out.show).contains("cannot ask for a password without showing it"));
        assert_eq!(chat.asking(), None);
        chat.hidden_input = true;
        assert!(infos(&chat.handle(parse("/register"), false, 7).show).contains("Not connected"));
        assert!(infos(&chat.handle(parse("/password"), true, 7).show).contains("not registered"));
        assert!(infos(&chat.handle(parse("/unregister"), true, 7).show).contains("not registered"));
        assert_eq!(chat.asking(), None);
        let mut chat = Chat::default();
        full_login(&mut chat, Some(true), None);
        assert!(
            infos(&chat.handle(parse("/register"), true, 7).show).contains("registered already")
        );
        let send =
            |chat: &mut Chat, line: &str| chat.handle(parse(line), true, 7).send.expect(line);
        assert_eq!(send(&mut chat, "/sessions").list_sessions, Some(true));
        assert_eq!(send(&mut chat, "/revoke s1").revoke_session.as_deref(), Some("s1"));
        assert_eq!(send(&mut chat, "/logout").logout.as_deref(), Some("everywhere"));
    }

    #[test]
    fn moderation_commands_are_for_operators_of_servers_that_offer_them() {
        use crate::input::parse;
        let send = |chat: &mut Chat, line: &str| chat.handle(parse(line), true, 7);
        let mut chat = Chat::default();
        full_login(&mut chat, None, Some(false));
        assert!(infos(&send(&mut chat, "/kick bob").show).contains("Only operators"));
        assert!(!infos(&send(&mut chat, "/help").show).contains("/kick"));
        let mut chat = Chat::default();
        chat.logged_in("ann", Frame { operator: Some(true), ..login_reply() });
        assert!(infos(&send(&mut chat, "/bans").show).contains("does not offer moderation"));
        let mut chat = Chat::default();
        full_login(&mut chat, None, Some(true));
        assert!(infos(&send(&mut chat, "/help").show).contains("/kick"));
        let kick = send(&mut chat, "/kick bob too loud").send.and_then(|f| f.kick).expect("kick");
        assert_eq!((kick.name.as_str(), kick.reason.as_deref()), ("bob", Some("too loud")));
        let ban = send(&mut chat, "/ban-address bob 2w").send.and_then(|f| f.ban).expect("ban");
        assert_eq!(
            (ban.name.as_deref(), ban.with_address, ban.duration.as_str()),
            (Some("bob"), Some(true), "2w")
        );
        let mute = send(&mut chat, "/mute bob 30m").send.and_then(|f| f.mute).expect("mute");
        assert_eq!(mute.duration, "30m");
        assert_eq!(
            send(&mut chat, "/unban bob").send.and_then(|f| f.unban).as_deref(),
            Some("bob")
        );
        assert_eq!(
            send(&mut chat, "/unmute bob").send.and_then(|f| f.unmute).as_deref(),
            Some("bob")
        );
        assert_eq!(send(&mut chat, "/bans").send.and_then(|f| f.list_bans), Some(true));
        let out = send(&mut chat, "/ban bob 5y");
        assert!(out.send.is_none() && infos(&out.show).contains("is not a duration"));
        assert!(chat.handle(parse("/bans"), false, 7).send.is_none());
    }
}
