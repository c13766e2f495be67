//! The browser client's state and what each event does to it, as plain Rust: no DOM, no
//! WebSocket, so every rule here is unit-tested natively. The views only read it, each through
//! a memo of the part it shows (the conversation's range of ids, the side panel's revision, the
//! draft...), so that an event re-renders only what it changed.
//!
//! Rooms (extension `rooms`): the page shows one conversation at a time, the main room's
//! ("everyone": broadcasts, private messages and who comes and goes) or one room's, each with
//! its own scrollback; the room shown is the one typed text goes to (`Chat::current`), and the
//! page's address names it (`#rust`, see [`room_hash`]).

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

use client_core::chat::{Chat, Entry, LOGOUT_EVERYWHERE, Proof, login_frame_with};
use client_core::input::{self, Input};
use client_core::secret::Secret;
use shared::frame::{Edit, Found, Search, features};
use shared::limits::MAX_ROOMS_PER_USER;
use shared::validate::{ROOM_PREFIX, validate_password, validate_room};
use shared::{BROADCAST, Frame, Message};

/// Entries kept per conversation (the main room's, and each room's); older ones are dropped
/// so a long-open tab stays small.
pub const SCROLLBACK: usize = 2000;

/// Rooms whose conversations the page keeps: the server's limit of rooms per user, so that
/// every room the user is in has its own. Messages of a room past it (a server that allows
/// more) show in the main room's conversation.
pub const MAX_ROOM_LOGS: usize = MAX_ROOMS_PER_USER;

/// What the room list calls the main room (DEST `ALL`).
pub const MAIN_ROOM: &str = "everyone";

/// Milliseconds in a second: the reconnect countdown shows whole seconds and steps by one.
pub const SECOND_MS: u32 = 1000;

/// How often an automatic login with the session token is tried again while the server says
/// the name is in use: after a reload, a lost connection or a node of a cluster dying, the
/// server may still hold the old connection (a cluster frees a dead node's names after 6 s);
/// with the reconnect backoff between tries, five cover about 15 s.
pub const RELOGIN_ATTEMPTS: u32 = 5;

/// The protocol's words for a name someone else holds.
const IN_USE: &str = "already in use";

/// One line of the conversation, with a stable id for keyed rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Unique within its conversation ([`Model::view`] tells the conversations apart).
    pub id: u64,
    /// What it shows.
    pub entry: Entry,
}

/// One conversation: the main room's or a room's, oldest first, its ids consecutive.
#[derive(Debug, Clone, Default)]
struct Log {
    /// Which conversation this is: a number no other one of the page's life has.
    epoch: u64,
    items: VecDeque<Item>,
    next_id: u64,
}

impl Log {
    fn new(epoch: u64) -> Self {
        Log { epoch, ..Log::default() }
    }

    /// Adds an entry; returns its id.
    fn push(&mut self, entry: Entry) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.items.push_back(Item { id, entry });
        if self.items.len() > SCROLLBACK {
            self.items.pop_front();
        }
        id
    }

    fn ids(&self) -> Range<u64> {
        self.items.front().map_or(self.next_id, |i| i.id)..self.next_id
    }

    fn item(&self, id: u64) -> Option<&Item> {
        let first = self.items.front()?.id;
        self.items.get(usize::try_from(id.checked_sub(first)?).ok()?)
    }
}

/// The page's address names the room shown: `#rust` for the room #rust, nothing for the main
/// room. Returns the fragment (with its `#`), empty for the main room.
pub fn room_hash(room: Option<&str>) -> String {
    room.map(str::to_owned).unwrap_or_default()
}

/// The room a fragment of the page's address names (`#rust`, `#Rust` or `rust`), if it names
/// one; `None`: the main room (no fragment, or one that is no room's name).
pub fn room_from_hash(hash: &str) -> Option<String> {
    let name = hash.strip_prefix(ROOM_PREFIX).unwrap_or(hash);
    validate_room(&format!("{ROOM_PREFIX}{name}")).ok()
}

/// One button of the room list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomTab {
    /// The room; `None`: the main room.
    pub room: Option<String>,
    /// What the button says: the room's name, or [`MAIN_ROOM`].
    pub label: String,
    /// Messages that came while another conversation was shown.
    pub unread: usize,
    /// The conversation shown now.
    pub current: bool,
}

/// What the head of a room's conversation says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomHead {
    /// The room.
    pub name: String,
    /// Its topic, if one is set.
    pub topic: Option<String>,
    /// Only invited names may join.
    pub invite_only: bool,
    /// Its members online.
    pub online: usize,
}

/// Where the user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Choosing a name.
    Login,
    /// The name was sent; waiting for the answer.
    Joining,
    /// In the chat.
    Chat,
}

/// The connection, for the status indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Opening the WebSocket.
    Connecting,
    /// Open.
    Open,
    /// Closed; the next attempt is in this many milliseconds.
    Retrying(u32),
    /// Closed by the server on purpose (`DISCONNECTED`); no attempt until the user logs in.
    Ended,
}

/// What the status indicator shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Its CSS class: `connecting`, `online` or `offline`.
    pub class: &'static str,
    /// Its text.
    pub text: String,
}

/// Which list of users the side panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Who is online.
    Online,
    /// Everyone ever seen.
    Everyone,
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct Model {
    /// The chat (shared with the terminal client). Its `current` room is the conversation
    /// shown, and where typed text goes.
    pub chat: Chat,
    /// The main room's conversation: broadcasts, private messages, joins and leaves.
    main: Log,
    /// Each room's conversation, for the rooms the user is in (at most [`MAX_ROOM_LOGS`]).
    room_logs: BTreeMap<String, Log>,
    /// The last conversation's epoch given out.
    epochs: u64,
    /// Broadcasts that came while a room was shown.
    main_unread: usize,
    /// The room the page's address names ([`room_hash`]): where a login goes, and what the
    /// address is kept at. `None`: the main room.
    wanted: Option<String>,
    /// The room of the address whose `JOIN` is on its way (the user was not in it).
    joining: Option<String>,
    /// Where the user is.
    pub phase: Phase,
    /// The connection.
    pub link: Link,
    /// The gateway being opened or open (host and port), when the page has several: the
    /// status says which one it is on.
    pub gateway: Option<String>,
    /// Why the last login was refused.
    pub login_error: Option<String>,
    /// The name to log in (and back in, after a reconnect) with.
    pub name: Option<String>,
    /// The name last tried, which the login form starts with.
    pub last_name: String,
    /// The session token of the name (extension `account`): what a reload or a reconnect logs
    /// in with. The page keeps it in the browser's storage (see [`Model::remembered`]).
    token: Option<Secret>,
    /// The password typed for the next login; dropped once the server has answered it (the
    /// page never keeps a password).
    password: Option<Secret>,
    /// The password to register the name with once the login is accepted ("register this
    /// name" on the login form).
    register_with: Option<Secret>,
    /// The ERROR of a `DISCONNECTED` frame: the server is ending the session on purpose, so
    /// the page does not log back in by itself.
    ended: Option<String>,
    /// Automatic logins refused in a row because the name was still in use.
    relogins: u32,
    /// The last login was refused as in use and is to be tried again on a new connection.
    retry: bool,
    /// Unread private messages per sender.
    pub unread: BTreeMap<String, usize>,
    /// The view follows new messages (the user has not scrolled up).
    pub following: bool,
    /// The id ([`Item::id`]) of the first entry that arrived while scrolled up, where the
    /// "new messages" marker goes.
    pub first_unseen: Option<u64>,
    /// Entries that arrived while scrolled up.
    pub unseen: usize,
    /// The side panel's list.
    tab: Tab,
    /// Changes whenever a name in the side panel, or the list shown, may have changed: the
    /// panel re-renders on this, not on every message.
    people: u64,
    /// What is typed in the composer, not yet sent.
    pub draft: String,
    /// The id of the newest message shown (extension `resume`): logging in again as the same
    /// name after a dropped connection asks only for what came after it, so nothing shows
    /// twice.
    last_id: Option<i64>,
    /// The id of the user's message being edited (extension `edit`): the composer's draft is
    /// its new text.
    pub editing: Option<i64>,
    /// The search asked last (extension `search`), for its next page.
    searching: Option<Search>,
    /// The last search's results.
    pub found: Option<Found>,
    /// The message a search result jumped to, marked in the conversation.
    pub highlight: Option<i64>,
    /// Where the page's file requests go (`FILES_URL`, extension `files`): the path its
    /// WebSocket's pass opens.
    pub files_url: Option<String>,
    /// Uploads under way, or refused, shown above the composer.
    pub uploads: Vec<UploadView>,
    /// The last upload's number given out.
    uploads_started: u64,
}

/// An upload as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadView {
    /// Its number on this page.
    pub id: u64,
    /// The file's name.
    pub name: String,
    /// Bytes sent so far.
    pub sent: f64,
    /// Bytes in all.
    pub total: f64,
    /// Why it failed, once it has.
    pub error: Option<String>,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            chat: Chat::default(),
            main: Log::new(0),
            room_logs: BTreeMap::new(),
            epochs: 0,
            main_unread: 0,
            wanted: None,
            joining: None,
            phase: Phase::Login,
            link: Link::Connecting,
            gateway: None,
            login_error: None,
            name: None,
            last_name: String::new(),
            token: None,
            password: None,
            register_with: None,
            ended: None,
            relogins: 0,
            retry: false,
            unread: BTreeMap::new(),
            following: true,
            first_unseen: None,
            unseen: 0,
            tab: Tab::Online,
            people: 0,
            draft: String::new(),
            last_id: None,
            editing: None,
            searching: None,
            found: None,
            highlight: None,
            files_url: None,
            uploads: Vec::new(),
            uploads_started: 0,
        }
    }
}

impl Model {
    /// Adds entries each to its conversation: a room's message to its room's, a broadcast, a
    /// private message, a join or a leave to the main room's, anything else (notes, errors,
    /// command output) to the one shown. `live`: they arrive now (not a login's history), so a
    /// broadcast counts as unread while a room is shown.
    fn push(&mut self, entries: Vec<Entry>, live: bool) {
        for entry in entries {
            if let Entry::Changed { id: Some(id), text, .. } = &entry
                && self.apply_change(*id, text.as_deref())
            {
                continue;
            }
            let room = match &entry {
                Entry::Message { dest, .. } if dest.starts_with(ROOM_PREFIX) => Some(dest.clone()),
                Entry::Message { .. } | Entry::Joined(_) | Entry::Left(_) => None,
                _ => self.chat.current.clone(),
            };
            self.push_to(room.as_deref(), entry, live);
        }
    }

    /// Adds an entry to the conversation of `room` (the main room's for `None`, or for a room
    /// without one).
    fn push_to(&mut self, room: Option<&str>, entry: Entry, live: bool) {
        let me = self.chat.me.clone();
        let shown = self.shown().epoch;
        let (log, main) = match room.and_then(|r| self.room_logs.get_mut(r)) {
            Some(log) => (log, false),
            None => (&mut self.main, true),
        };
        let here = log.epoch == shown;
        if let Entry::Message { src, private, own: false, .. } = &entry
            && Some(src) != me.as_ref()
        {
            if *private {
                *self.unread.entry(src.clone()).or_default() += 1;
            } else if live && main && !here {
                self.main_unread += 1;
            }
        }
        let id = log.push(entry);
        if here && !self.following {
            self.unseen += 1;
            self.first_unseen.get_or_insert(id);
        }
    }

    /// Applies an edit (`text`) or a delete (`None`) to message `id` where the page shows it;
    /// `false` if it shows it nowhere. Its conversation gets a new epoch, so that its rows are
    /// built again (an edit is rare; a row reads its entry once).
    fn apply_change(&mut self, id: i64, text: Option<&str>) -> bool {
        let logs = std::iter::once(&mut self.main).chain(self.room_logs.values_mut());
        for log in logs {
            let found = log.items.iter_mut().rev().find_map(|item| match &mut item.entry {
                Entry::Message { id: Some(m), text, edited, .. } if *m == id => {
                    Some((text, edited))
                }
                _ => None,
            });
            if let Some((shown, edited)) = found {
                match text {
                    Some(new) => {
                        *shown = new.to_owned();
                        *edited = true;
                    }
                    None => {
                        *shown = client_core::chat::DELETED.to_owned();
                        *edited = false;
                    }
                }
                self.epochs += 1;
                log.epoch = self.epochs;
                if self.editing == Some(id) && text.is_none() {
                    self.editing = None;
                }
                return true;
            }
        }
        false
    }

    /// The user edits its message `id`: the composer holds its text, to change and send.
    pub fn start_edit(&mut self, id: i64) {
        let text = self.logs().flat_map(|l| l.items.iter()).find_map(|item| match &item.entry {
            Entry::Message { id: Some(m), text, own: true, .. } if *m == id => Some(text.clone()),
            _ => None,
        });
        if let Some(text) = text {
            self.editing = Some(id);
            self.draft = text;
        }
    }

    /// The user gives up the edit: the composer empties.
    pub fn cancel_edit(&mut self) {
        if self.editing.take().is_some() {
            self.draft.clear();
        }
    }

    /// The `DELETE` of message `id`.
    pub fn delete(&self, id: i64) -> Frame {
        Frame { delete: Some(id), ..Frame::default() }
    }

    /// Whether the user may edit (`own`) or delete an entry: its own messages (with an id,
    /// not deleted), and an operator any public one's deletion. (edit, delete)
    pub fn may_change(&self, entry: &Entry) -> (bool, bool) {
        let Entry::Message { id: Some(_), own, private, text, .. } = entry else {
            return (false, false);
        };
        if !self.chat.granted.edit || text == client_core::chat::DELETED {
            return (false, false);
        }
        (*own, *own || (self.chat.operator && !*private))
    }

    /// The user searches for `text` (words, `"phrases"` and the filters `from:`, `in:`,
    /// `after:`, `before:` as in the terminal client): the `SEARCH` to send, or why not.
    pub fn search(&mut self, text: &str) -> Result<Frame, String> {
        if !self.chat.granted.search {
            return Err("This server does not offer search.".into());
        }
        match input::parse(&format!("/search {text}")) {
            Input::Command(input::Command::Search(search)) => {
                self.searching = Some(search.clone());
                Ok(Frame { search: Some(search), ..Frame::default() })
            }
            Input::Invalid(why) => Err(why),
            _ => Err("Type words to search for.".into()),
        }
    }

    /// The next page of the last search's results, if it has more.
    pub fn more(&mut self) -> Option<Frame> {
        let found = self.found.as_ref().filter(|f| f.more)?;
        let older_than = found.results.last().and_then(|h| h.message.id);
        let search = Search { older_than, ..self.searching.clone()? };
        self.searching = Some(search.clone());
        Some(Frame { search: Some(search), ..Frame::default() })
    }

    /// The user closes the search's results.
    pub fn close_search(&mut self) {
        self.found = None;
        self.searching = None;
    }

    /// The user picks a search result: its conversation is shown, and the message marked
    /// there (if the page still holds it; the result shows its context either way).
    pub fn jump(&mut self, m: &Message) {
        let room = m.dest.starts_with(ROOM_PREFIX).then_some(m.dest.as_str());
        self.switch(room);
        self.highlight = m.id;
    }

    fn logs(&self) -> impl Iterator<Item = &Log> {
        std::iter::once(&self.main).chain(self.room_logs.values())
    }

    /// The conversation shown: the current room's, or the main room's.
    fn shown(&self) -> &Log {
        self.chat.current.as_ref().and_then(|r| self.room_logs.get(r)).unwrap_or(&self.main)
    }

    /// Which conversation is shown: it changes whenever another one is, so that the view
    /// builds its rows anew rather than mixing two conversations' ids.
    pub fn view(&self) -> u64 {
        self.shown().epoch
    }

    /// The ids of the shown conversation's entries, oldest first: they are consecutive, so the
    /// view keys its rows on this range (with [`Model::view`]) and builds a row only for an id
    /// it has not shown yet.
    pub fn ids(&self) -> Range<u64> {
        self.shown().ids()
    }

    /// The entry of the shown conversation with this id, while it is in the scrollback.
    pub fn item(&self, id: u64) -> Option<&Item> {
        self.shown().item(id)
    }

    /// The shown conversation, oldest first.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.shown().items.iter()
    }

    /// Keeps a conversation for each room the user is in, and none for a room left.
    fn sync_logs(&mut self) {
        let rooms = &self.chat.rooms;
        self.room_logs.retain(|room, _| rooms.contains_key(room));
        for room in rooms.keys() {
            if self.room_logs.len() >= MAX_ROOM_LOGS {
                break;
            }
            if !self.room_logs.contains_key(room) {
                self.epochs += 1;
                self.room_logs.insert(room.clone(), Log::new(self.epochs));
            }
        }
    }

    /// What follows a change of the chat (a frame, a typed line): the rooms' conversations
    /// kept in step, and if the room shown changed (`before` was shown), the new one read and
    /// shown from its newest entry; the address follows, unless the address's room is being
    /// joined.
    fn chat_changed(&mut self, before: Option<String>) {
        self.sync_logs();
        if self.chat.current != before {
            self.entered();
        }
        if self.phase == Phase::Chat && self.joining.is_none() {
            self.wanted = self.chat.current.clone();
        }
    }

    /// Another conversation is shown: it is read, and shown from its newest entry.
    fn entered(&mut self) {
        match self.chat.current.as_ref().and_then(|r| self.chat.rooms.get_mut(r)) {
            Some(room) => room.unread = 0,
            None => self.main_unread = 0,
        }
        self.scrolled(true);
    }

    /// The user shows the conversation of `room` (`None`: the main room), one the user is in,
    /// and writes there.
    pub fn switch(&mut self, room: Option<&str>) {
        let room = room.filter(|r| self.chat.rooms.contains_key(*r)).map(str::to_owned);
        let before = std::mem::replace(&mut self.chat.current, room);
        self.joining = None;
        self.chat_changed(before);
    }

    /// The room list: the main room, then each room the user is in, with unread counts and
    /// the one shown marked. Empty when the server does not offer rooms.
    pub fn room_list(&self) -> Vec<RoomTab> {
        if !self.chat.granted.rooms {
            return Vec::new();
        }
        let main = RoomTab {
            room: None,
            label: MAIN_ROOM.to_owned(),
            unread: self.main_unread,
            current: self.chat.current.is_none(),
        };
        let rooms = self.chat.rooms.iter().map(|(name, r)| RoomTab {
            room: Some(name.clone()),
            label: name.clone(),
            unread: r.unread,
            current: self.chat.current.as_ref() == Some(name),
        });
        std::iter::once(main).chain(rooms).collect()
    }

    /// The head of the room shown: its name, topic and members online (none for the main
    /// room).
    pub fn room_head(&self) -> Option<RoomHead> {
        let name = self.chat.current.clone()?;
        let room = self.chat.rooms.get(&name)?;
        Some(RoomHead {
            name,
            topic: room.topic.clone(),
            invite_only: room.invite_only,
            online: room.members.len(),
        })
    }

    /// The fragment the page's address should have ([`room_hash`]): the room shown, or the
    /// one being joined for the address. `None` outside the chat: the address is left as it
    /// is, for the next login to go to.
    pub fn hash(&self) -> Option<String> {
        (self.phase == Phase::Chat).then(|| room_hash(self.wanted.as_deref()))
    }

    /// The page's address now has the fragment `hash` (the page opened with it, or the user
    /// changed it, or went back or forward): the room it names is shown, or joined if the
    /// user is not in it; returns the `JOIN` to send. Before the login, the room is only
    /// noted: the login goes there.
    pub fn navigated(&mut self, hash: &str) -> Option<Frame> {
        let room = room_from_hash(hash);
        if self.phase != Phase::Chat {
            self.wanted = room;
            return None;
        }
        if room == self.wanted {
            return None;
        }
        match room {
            Some(r) if !self.chat.rooms.contains_key(&r) => {
                self.wanted = Some(r);
                self.enter_wanted()
            }
            room => {
                self.switch(room.as_deref());
                None
            }
        }
    }

    /// Goes to the room the address names: shows it if the user is in it, else returns the
    /// `JOIN` for it (the page shows it once the server answers). A server without rooms, or
    /// no connection: the address goes back to the room shown.
    fn enter_wanted(&mut self) -> Option<Frame> {
        let room = self.wanted.clone()?;
        if self.chat.rooms.contains_key(&room) {
            self.switch(Some(&room));
            return None;
        }
        if !self.chat.granted.rooms || self.link != Link::Open {
            self.joining = None;
            self.wanted = self.chat.current.clone();
            return None;
        }
        self.joining = Some(room.clone());
        Some(Frame { join: Some(room), ..Frame::default() })
    }

    /// The user asks to join `room` (`#rust` or `rust`) from the room list: the `JOIN` to
    /// send, nothing if the user is in it already (it is shown), or why not.
    pub fn join_room(&mut self, room: &str) -> Result<Option<Frame>, String> {
        let room = room.trim();
        let name = if room.starts_with(ROOM_PREFIX) { room.to_owned() } else { format!("#{room}") };
        let room = validate_room(&name).map_err(|e| e.to_string())?;
        if !self.chat.granted.rooms {
            return Err("This server does not offer rooms.".into());
        }
        if self.chat.rooms.contains_key(&room) {
            self.switch(Some(&room));
            return Ok(None);
        }
        if self.phase != Phase::Chat || self.link != Link::Open {
            return Err("Not connected; try again when reconnected.".into());
        }
        Ok(Some(Frame { join: Some(room), ..Frame::default() }))
    }

    /// The `PART` that leaves the room shown, if it is one.
    pub fn part(&self) -> Option<Frame> {
        let room = self.chat.current.clone()?;
        Some(Frame { part: Some(room), ..Frame::default() })
    }

    /// Where a file sent now goes: the person the draft is addressed to (`@name …`, as
    /// picking a name in the side panel starts it), else the room shown, or everyone.
    pub fn file_dest(&self) -> String {
        let to =
            self.draft.strip_prefix('@').and_then(|rest| rest.split(char::is_whitespace).next());
        match to {
            Some(name) if shared::validate::validate_username(name).is_ok() => name.to_owned(),
            _ => self.chat.current.clone().unwrap_or_else(|| shared::BROADCAST.to_owned()),
        }
    }

    /// An upload of `name` (`total` bytes) begins: its number.
    pub fn upload_started(&mut self, name: String, total: f64) -> u64 {
        self.uploads_started += 1;
        let id = self.uploads_started;
        self.uploads.push(UploadView { id, name, sent: 0.0, total, error: None });
        id
    }

    /// `sent` bytes of upload `id` are through.
    pub fn upload_progress(&mut self, id: u64, sent: f64) {
        if let Some(u) = self.uploads.iter_mut().find(|u| u.id == id) {
            u.sent = sent;
        }
    }

    /// Upload `id` ended: gone from the list when it succeeded or was cancelled, kept with
    /// its reason when the server refused it.
    pub fn upload_ended(&mut self, id: u64, error: Option<String>) {
        match error {
            None => self.uploads.retain(|u| u.id != id),
            Some(why) => {
                if let Some(u) = self.uploads.iter_mut().find(|u| u.id == id) {
                    u.error = Some(why);
                }
            }
        }
    }

    /// Who the composer writes to, for its placeholder: [`MAIN_ROOM`] or the room.
    pub fn writing_to(&self) -> String {
        match &self.chat.current {
            Some(room) => room.clone(),
            None => MAIN_ROOM.to_owned(),
        }
    }

    /// The side panel's revision: it changes whenever the names it lists, the blocked ones or
    /// the tab may have changed.
    pub fn people(&self) -> u64 {
        self.people
    }

    fn people_changed(&mut self) {
        self.people = self.people.wrapping_add(1);
    }

    /// The side panel's list.
    pub fn tab(&self) -> Tab {
        self.tab
    }

    /// The user picks the side panel's list.
    pub fn set_tab(&mut self, tab: Tab) {
        if self.tab != tab {
            self.tab = tab;
            self.people_changed();
        }
    }

    /// The page opens with a name and session token kept from an earlier visit: it logs in
    /// with them as soon as the socket is open.
    pub fn restored(name: String, token: String) -> Self {
        Model {
            last_name: name.clone(),
            name: Some(name),
            token: Some(Secret::new(token)),
            ..Model::default()
        }
    }

    /// What the page keeps in the browser's storage: the name and its session token, while
    /// there is a token to keep. Never a password.
    pub fn remembered(&self) -> Option<(String, String)> {
        let token = self.token.as_ref()?;
        Some((self.name.clone()?, token.expose().to_owned()))
    }

    /// The user asks to join as `name`, with an optional `password` (a registered name's, or
    /// the one to register the name with when `register`); returns the frame to send if the
    /// connection is open.
    pub fn join(&mut self, name: &str, password: &str, register: bool) -> Option<Frame> {
        let name = name.trim();
        if name.is_empty() {
            self.login_error = Some("Please choose a username.".into());
            return None;
        }
        if register && let Err(e) = validate_password(password) {
            self.login_error = Some(format!("To register the name: {e}."));
            return None;
        }
        if self.name.as_deref() != Some(name) {
            // Another name: the kept token is not its own.
            self.token = None;
        }
        let password = (!password.is_empty()).then(|| Secret::new(password));
        (self.password, self.register_with) =
            if register { (None, password) } else { (password, None) };
        self.name = Some(name.to_owned());
        self.last_name = name.to_owned();
        self.login_error = None;
        self.ended = None;
        if self.link == Link::Open {
            self.phase = Phase::Joining;
            Some(self.login())
        } else {
            None
        }
    }

    /// The login frame for the name: with the password just typed, else the session token.
    fn login(&self) -> Frame {
        let name = self.name.as_deref().unwrap_or_default();
        let proof = match (&self.password, &self.token) {
            (Some(p), _) => Proof::Password(p),
            (None, Some(t)) => Proof::Token(t),
            (None, None) => Proof::None,
        };
        let mut frame = login_frame_with(name, proof);
        // The page shows rooms, edits and search (`features::CLIENTS` lists what every client
        // of the project implements; the terminal client adds these on its own too).
        if let Some(asked) = frame.features.as_mut() {
            let own = [features::ROOMS, features::EDIT, features::SEARCH, features::FILES];
            asked.extend(own.map(str::to_owned));
        }
        if self.chat.me.as_deref() == Some(name) {
            frame.since = self.last_id;
        }
        frame
    }

    /// The WebSocket opened; returns the login frame when a name is known (a reconnect, a
    /// reload with a kept token, or a name chosen while connecting).
    pub fn opened(&mut self) -> Option<Frame> {
        self.link = Link::Open;
        self.name.as_ref()?;
        self.phase = Phase::Joining;
        Some(self.login())
    }

    /// Whether the last login is to be tried again on a new connection (the name was still in
    /// use); asking clears it.
    pub fn take_retry(&mut self) -> bool {
        std::mem::take(&mut self.retry)
    }

    /// Whether the server ended the session on purpose: the page waits for the user before
    /// it connects again.
    pub fn stopped(&self) -> bool {
        self.link == Link::Ended
    }

    /// Logs out: `everywhere` ends every session of the account, else only this one (for a
    /// registered name; another has no session to end). Returns the frame to send first, if
    /// any; the page then leaves the chat and forgets the token.
    pub fn logout(&mut self, everywhere: bool) -> Option<Frame> {
        let registered = self.chat.granted.account && self.chat.registered == Some(true);
        let scope = if everywhere { LOGOUT_EVERYWHERE } else { "this" };
        self.token = None;
        self.leave();
        registered.then(|| Frame { logout: Some(scope.to_owned()), ..Frame::default() })
    }

    /// The WebSocket is being opened, to `gateway` if the page has several (see
    /// [`Model::gateway`]).
    pub fn connecting(&mut self, gateway: Option<String>) {
        self.link = Link::Connecting;
        self.gateway = gateway;
    }

    /// The WebSocket closed; the next attempt is in `retry_ms` milliseconds, unless the
    /// server ended the session on purpose: then the page shows the login form with the
    /// server's reason, and connects again when the user joins.
    pub fn closed(&mut self, retry_ms: u32) {
        let was_in = self.phase == Phase::Chat;
        if let Some(why) = self.ended.take() {
            self.link = Link::Ended;
            self.phase = Phase::Login;
            self.reset_chat();
            self.login_error = Some(why);
            self.people_changed();
            return;
        }
        self.link = Link::Retrying(retry_ms);
        if self.phase == Phase::Joining {
            self.phase = if self.chat.me.is_some() { Phase::Chat } else { Phase::Login };
        }
        // (no wait: another gateway is opened at once, which the status shows)
        if was_in && retry_ms > 0 {
            self.push(
                vec![Entry::Error(format!(
                    "Connection lost; reconnecting in {} s.",
                    seconds(retry_ms)
                ))],
                false,
            );
        }
    }

    /// The wait before the next attempt goes on: `left_ms` milliseconds are left.
    pub fn waiting(&mut self, left_ms: u32) {
        if let Link::Retrying(left) = &mut self.link {
            *left = left_ms;
        }
    }

    /// What the status indicator shows.
    pub fn status(&self) -> Status {
        let on = match &self.gateway {
            Some(g) => format!(" on {g}"),
            None => String::new(),
        };
        let (class, text) = match self.link {
            Link::Connecting => match &self.gateway {
                Some(g) => ("connecting", format!("Connecting to {g}…")),
                None => ("connecting", "Connecting…".to_owned()),
            },
            Link::Open => match &self.chat.me {
                Some(me) if self.phase == Phase::Chat => {
                    ("online", format!("Connected as {me}{on}"))
                }
                _ => ("online", format!("Connected{on}")),
            },
            Link::Retrying(ms) => {
                ("offline", format!("Offline — reconnecting in {} s", seconds(ms)))
            }
            Link::Ended => ("offline", "Disconnected".to_owned()),
        };
        Status { class, text }
    }

    /// Takes in a frame from the server; returns a frame to answer it with, if any, once the
    /// login is accepted: the REGISTER of "register this name", and the JOIN of the room the
    /// page's address names if the user is not in it.
    pub fn received(&mut self, mut frame: Frame) -> Option<Frame> {
        if let Some(url) = frame.files_url.take() {
            self.files_url = Some(url);
        }
        let newest = frame.messages.iter().flatten().filter_map(|m| m.id).max();
        self.last_id = self.last_id.max(newest);
        // The only keys that change the side panel's names (see `Chat::apply`), or who may
        // moderate them.
        if frame.username_accepted.is_some()
            || frame.users_joined.is_some()
            || frame.users_left.is_some()
            || frame.blocked.is_some()
            || frame.all_users.is_some()
            || frame.operator.is_some()
        {
            self.people_changed();
        }
        self.account(&mut frame);
        if let Some(accepted) = frame.username_accepted {
            let used_token = self.password.is_none() && self.token.is_some();
            self.password = None;
            if accepted {
                self.relogins = 0;
                let name = self.name.clone().unwrap_or_default();
                let before = self.chat.current.clone();
                let entries = self.chat.logged_in(&name, frame);
                self.phase = Phase::Chat;
                self.login_error = None;
                self.joining = None;
                // (the address's room stays what the login goes to)
                let wanted = self.wanted.clone();
                self.chat_changed(before);
                self.push(entries, false);
                self.wanted = wanted;
                let mut answer = self.enter_wanted();
                if self.joining.is_none() {
                    self.wanted = self.chat.current.clone();
                }
                if let Some(password) = self.register_with.take() {
                    answer.get_or_insert_with(Frame::default).register =
                        Some(password.expose().to_owned());
                }
                return answer;
            }
            let in_use = frame.info.as_deref().is_some_and(|i| i.contains(IN_USE));
            if used_token && in_use && self.relogins < RELOGIN_ATTEMPTS {
                // Most likely our own connection the server has not seen go yet.
                self.relogins += 1;
                self.retry = true;
                return None;
            }
            if used_token {
                // Expired, revoked, or the name is banned: the token is of no more use.
                self.token = None;
            }
            self.register_with = None;
            self.phase = Phase::Login;
            self.chat.me = None;
            self.name = None;
            self.login_error =
                Some(frame.info.unwrap_or_else(|| "That username was refused.".into()));
            return None;
        }
        self.apply(frame);
        None
    }

    /// Takes in a frame of the chat (not a login answer).
    fn apply(&mut self, mut frame: Frame) {
        if let Some(found) = frame.found.take() {
            // A next page adds to the results shown; a new search replaces them.
            match self.found.as_mut() {
                Some(shown)
                    if shown.query == found.query
                        && self.searching.as_ref().is_some_and(|s| s.older_than.is_some()) =>
                {
                    shown.results.extend(found.results);
                    shown.more = found.more;
                }
                _ => self.found = Some(found),
            }
        }
        if let Some(joined) = &frame.joined {
            // Its MESSAGES are the room's history: they replace what the page has of it (a
            // JOIN of a room the user is in already answers with the history again).
            if let Some(log) = self.room_logs.get_mut(&joined.name) {
                self.epochs += 1;
                *log = Log::new(self.epochs);
            }
            self.joining = None;
        }
        if frame.error.is_some() && self.joining.take().is_some() {
            // Most likely the address's room refused the JOIN (invite-only, say): the address
            // goes back to the room shown.
            self.wanted = self.chat.current.clone();
        }
        // What happens in one room goes to that room's conversation.
        let about = [
            frame
                .room_joined
                .take()
                .map(|p| (p.room.clone(), Frame { room_joined: Some(p), ..Frame::default() })),
            frame
                .room_left
                .take()
                .map(|p| (p.room.clone(), Frame { room_left: Some(p), ..Frame::default() })),
            frame
                .room_changed
                .take()
                .map(|r| (r.name.clone(), Frame { room_changed: Some(r), ..Frame::default() })),
        ];
        let before = self.chat.current.clone();
        let entries = self.chat.apply(frame);
        self.chat_changed(before);
        self.push(entries, true);
        for (room, frame) in about.into_iter().flatten() {
            let entries = self.chat.apply(frame);
            for entry in entries {
                self.push_to(Some(&room), entry, true);
            }
        }
    }

    /// What a frame's keys of extension `account` change: the token (kept, and taken out of
    /// the frame), and the end of the session the server announces.
    fn account(&mut self, frame: &mut Frame) {
        // Taken out whole: the conversation's note about a token kept "in memory only" is
        // the terminal client's; the page keeps it in the browser's storage.
        if let Some(token) = frame.token.take()
            && !token.is_empty()
        {
            self.token = Some(Secret::new(token));
        }
        if frame.registered == Some(false)
            || frame.sessions.as_ref().is_some_and(|list| !list.iter().any(|s| s.current))
        {
            // The account is gone, or this session was revoked.
            self.token = None;
        }
        if frame.disconnected.is_some() {
            let why = frame.error.clone().unwrap_or_else(|| "The server ended the session.".into());
            self.ended = Some(why);
        }
    }

    /// A frame the server sent that is not a protocol object.
    pub fn unreadable(&mut self, why: &str) {
        self.push(vec![Entry::Error(format!("Unreadable message from the server: {why}"))], false);
    }

    /// A frame could not be sent: too many are waiting to go out. A message goes back into
    /// the composer (unless something new is typed there), to be sent again.
    pub fn not_sent(&mut self, frame: Option<&Frame>) {
        let message = frame.and_then(|f| f.messages.as_deref()).and_then(<[Message]>::first);
        let text = match message {
            Some(m) => {
                if self.draft.is_empty() {
                    self.draft = typed(m);
                }
                "Not sent: too much is waiting to go out. Your message is back in the input \
                 box; send it again in a moment."
            }
            None => "Not sent: too much is waiting to go out; try again in a moment.",
        };
        self.push(vec![Entry::Error(text.to_owned())], false);
    }

    /// The user sends a line; returns the frame to send, if any. `/quit` leaves the chat.
    pub fn submit(&mut self, line: &str, now: i64) -> (Option<Frame>, bool) {
        let input = input::parse(line);
        if let Input::Say { dest, .. } = &input
            && dest != BROADCAST
        {
            self.unread.remove(dest);
        }
        let before = self.chat.current.clone();
        let out =
            self.chat.handle(input, self.phase == Phase::Chat && self.link == Link::Open, now);
        // (`/room #rust` shows another room)
        self.chat_changed(before);
        self.push(out.show, false);
        if out.send.as_ref().is_some_and(|f| f.messages.is_some()) {
            self.scrolled(true);
        }
        if out.quit {
            self.leave();
        }
        (out.send, out.quit)
    }

    /// The user sends what is in the composer, which empties; see [`Model::submit`]. While
    /// a message is being edited, it is that message's new text.
    pub fn submit_draft(&mut self, now: i64) -> (Option<Frame>, bool) {
        let line = std::mem::take(&mut self.draft);
        if let Some(id) = self.editing.take() {
            if line.trim().is_empty() {
                self.push(
                    vec![Entry::Error("The new text is empty; Delete removes a message.".into())],
                    false,
                );
                self.editing = Some(id);
                return (None, false);
            }
            let edit = Edit { id, content: line };
            return (Some(Frame { edit: Some(edit), ..Frame::default() }), false);
        }
        self.submit(&line, now)
    }

    /// Leaves the chat (the page returns to the login view; the caller closes the socket).
    pub fn leave(&mut self) {
        self.name = None;
        self.last_id = None;
        self.phase = Phase::Login;
        self.reset_chat();
        self.unread.clear();
        self.people_changed();
    }

    /// Forgets the chat (a log out, or a session the server ended): the main room is shown,
    /// and the rooms' conversations go. The address keeps its room, for the next login.
    fn reset_chat(&mut self) {
        let before = self.chat.current.clone();
        self.chat = Chat::default();
        self.main_unread = 0;
        self.joining = None;
        self.chat_changed(before);
    }

    /// The conversation with `name` is being looked at: its private messages are read.
    pub fn read(&mut self, name: &str) {
        self.unread.remove(name);
    }

    /// The user picks `name` to write to: the draft is addressed to them (replacing another
    /// `@name` in front, keeping what is typed after it) and their private messages are read.
    pub fn address(&mut self, name: &str) {
        self.read(name);
        let text = match self.draft.strip_prefix('@') {
            Some(rest) => rest.split_once(' ').map_or("", |(_, text)| text),
            None => self.draft.as_str(),
        };
        self.draft = format!("@{name} {text}");
    }

    /// Unread private messages in all.
    pub fn total_unread(&self) -> usize {
        self.unread.values().sum()
    }

    /// The user scrolled: `at_bottom` tells whether the newest message is in view. The "new
    /// messages" marker and count go once the newest is in view.
    pub fn scrolled(&mut self, at_bottom: bool) {
        self.following = at_bottom;
        if at_bottom {
            self.unseen = 0;
            self.first_unseen = None;
        }
    }

    /// The names in the side panel's current list.
    pub fn listed(&self) -> Vec<String> {
        match self.tab {
            Tab::Online => self.chat.online.iter().cloned().collect(),
            Tab::Everyone => self.chat.everyone.clone(),
        }
    }

    /// The frame that blocks (or unblocks, if blocked) `name`.
    pub fn toggle_block(&self, name: &str) -> Frame {
        if self.chat.blocked.contains(name) {
            Frame { unblock: Some(name.to_owned()), ..Frame::default() }
        } else {
            Frame { block: Some(name.to_owned()), ..Frame::default() }
        }
    }
}

/// Whole seconds to show for a wait of `ms` milliseconds, rounded up so that it never shows 0
/// while there is still time to wait.
fn seconds(ms: u32) -> u32 {
    ms.div_ceil(SECOND_MS)
}

/// The line that, typed into the composer, sends `m` again (a room's message: to the room
/// shown).
fn typed(m: &Message) -> String {
    if !m.is_broadcast() && !m.dest.starts_with(ROOM_PREFIX) {
        format!("@{} {}", m.dest, m.content)
    } else if m.content.starts_with('/') {
        format!("/{}", m.content)
    } else {
        m.content.clone()
    }
}

/// A change to the account, from the signed-in bar's settings (extension `account`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Register the current name with a new password.
    Register,
    /// Change the password (the other sessions are logged out).
    Password,
    /// Remove the account.
    Unregister,
}

/// What the account settings' form holds. Cleared once a request is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordForm {
    /// The current password (to change it, or to remove the account).
    pub current: String,
    /// The new password.
    pub new: String,
    /// The new password again.
    pub again: String,
}

impl Model {
    /// The frame for an account `change`, or why it cannot be sent (checked as the server
    /// would, so that a mistake is said at once, next to the form).
    pub fn change(&self, change: Change, form: &PasswordForm) -> Result<Frame, String> {
        if !self.chat.granted.account {
            return Err("This server does not offer accounts.".into());
        }
        let new = || {
            validate_password(&form.new).map_err(|e| format!("The new password: {e}."))?;
            if form.new != form.again {
                return Err("The two new passwords differ.".to_owned());
            }
            Ok(form.new.clone())
        };
        let current = || match form.current.as_str() {
            "" => Err("Type the current password.".to_owned()),
            p => Ok(p.to_owned()),
        };
        Ok(match change {
            Change::Register => Frame { register: Some(new()?), ..Frame::default() },
            Change::Password => {
                Frame { change_password: Some([current()?, new()?]), ..Frame::default() }
            }
            Change::Unregister => Frame { unregister: Some(current()?), ..Frame::default() },
        })
    }
}

/// What an operator does to a user, from the user's row (extension `moderation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Disconnect.
    Kick,
    /// Ban the name (and, if asked, its address) for the duration.
    Ban,
    /// Lift the name's bans.
    Unban,
    /// Refuse the user's messages for the duration.
    Mute,
    /// Lift the mute.
    Unmute,
}

impl Action {
    /// Every action, in the order the row offers them.
    pub const ALL: [Action; 5] =
        [Action::Kick, Action::Ban, Action::Mute, Action::Unmute, Action::Unban];

    /// The button's label, and its `data-test` suffix.
    pub fn label(self) -> &'static str {
        match self {
            Action::Kick => "kick",
            Action::Ban => "ban",
            Action::Unban => "unban",
            Action::Mute => "mute",
            Action::Unmute => "unmute",
        }
    }
}

/// What the operator's form on a user's row holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModForm {
    /// How long a ban or mute lasts (`30m`, `12h`, `7d`, `2w`, `forever`).
    pub duration: String,
    /// Why (shown to everyone for a kick or ban); may be empty.
    pub reason: String,
    /// A ban also bans the address the user is connected from.
    pub with_address: bool,
}

impl Model {
    /// Whether this user may moderate: an operator, on a server granting `moderation`.
    pub fn operator(&self) -> bool {
        self.chat.granted.moderation && self.chat.operator
    }

    /// The frame for an operator's `action` on `name`, or why it cannot be sent (checked as
    /// the server would, so that a mistake is said at once, next to the form).
    pub fn moderate(&self, action: Action, name: &str, form: &ModForm) -> Result<Frame, String> {
        use shared::frame::{Ban, Kick, Mute};
        if !self.operator() {
            return Err("Only operators can kick, ban or mute.".into());
        }
        let reason = Some(form.reason.trim().to_owned()).filter(|r| !r.is_empty());
        let duration = || {
            let d = form.duration.trim();
            match shared::validate::parse_duration(d) {
                Ok(_) => Ok(d.to_owned()),
                Err(e) => Err(format!("{e} (for example 30m, 12h, 7d, 2w or forever)")),
            }
        };
        let name = name.to_owned();
        Ok(match action {
            Action::Kick => Frame { kick: Some(Kick { name, reason }), ..Frame::default() },
            Action::Ban => Frame {
                ban: Some(Ban {
                    name: Some(name),
                    with_address: form.with_address.then_some(true),
                    duration: duration()?,
                    reason,
                    ..Ban::default()
                }),
                ..Frame::default()
            },
            Action::Mute => Frame {
                mute: Some(Mute { name, duration: duration()?, reason }),
                ..Frame::default()
            },
            Action::Unmute => Frame { unmute: Some(name), ..Frame::default() },
            Action::Unban => Frame { unban: Some(name), ..Frame::default() },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Message;

    /// The page's login frame for `name`: what every client of the project asks for, and rooms.
    fn login_frame(name: &str) -> Frame {
        let mut frame = client_core::chat::login_frame(name);
        let own =
            [features::ROOMS, features::EDIT, features::SEARCH, features::FILES].map(String::from);
        frame.features.as_mut().expect("features").extend(own);
        frame
    }

    fn accepted(users: &[&str]) -> Frame {
        Frame {
            username_accepted: Some(true),
            info: Some("Welcome!".into()),
            features: Some(shared::frame::features::CLIENTS.map(String::from).to_vec()),
            user_list: Some(users.iter().map(|u| (*u).to_owned()).collect()),
            blocked: Some(vec![]),
            messages: Some(vec![Message::new("bob", "ALL", 1, "earlier")]),
            ..Frame::default()
        }
    }

    fn in_chat() -> Model {
        let mut m = Model::default();
        m.opened();
        assert_eq!(m.join("ann", "", false), Some(login_frame("ann")));
        m.received(accepted(&["ann", "bob"]));
        m
    }

    #[test]
    fn a_name_chosen_while_connecting_is_sent_once_the_socket_opens() {
        let mut m = Model::default();
        assert_eq!(m.join("  ", "", false), None);
        assert!(m.login_error.is_some());
        assert_eq!(m.join("ann", "", false), None, "not open yet");
        assert_eq!(m.opened(), Some(login_frame("ann")));
        assert_eq!(m.phase, Phase::Joining);
    }

    #[test]
    fn a_refusal_shows_the_reason_and_returns_to_the_login() {
        let mut m = Model::default();
        m.opened();
        m.join("ann", "", false);
        m.received(Frame {
            username_accepted: Some(false),
            info: Some("The provided username is already in use.".into()),
            ..Frame::default()
        });
        assert_eq!(m.phase, Phase::Login);
        assert_eq!(m.login_error.as_deref(), Some("The provided username is already in use."));
        assert_eq!(m.name, None);
    }

    #[test]
    fn joining_shows_history_and_who_is_online() {
        let m = in_chat();
        assert_eq!(m.phase, Phase::Chat);
        assert!(
            m.items().any(|i| matches!(&i.entry, Entry::Message { text, .. } if text == "earlier"))
        );
        assert_eq!(m.listed(), ["ann", "bob"]);
    }

    #[test]
    fn private_messages_count_as_unread_until_read_or_answered() {
        let mut m = in_chat();
        m.received(Frame::messages(vec![
            Message::new("bob", "ann", 2, "psst"),
            Message::new("bob", "ann", 3, "psst again"),
            Message::new("bob", "ALL", 4, "public"),
        ]));
        assert_eq!(m.unread.get("bob"), Some(&2));
        assert_eq!(m.total_unread(), 2);
        let (frame, quit) = m.submit("@bob hi", 10);
        assert!(!quit);
        let sent = frame.expect("a frame").messages.expect("messages");
        assert_eq!((sent[0].dest.as_str(), sent[0].timestamp), ("bob", 10));
        assert_eq!(m.total_unread(), 0, "answering reads them");
        m.received(Frame::messages(vec![Message::new("bob", "ann", 5, "more")]));
        m.read("bob");
        assert_eq!(m.total_unread(), 0);
    }

    #[test]
    fn scrolled_up_the_view_counts_new_entries_and_marks_the_first() {
        let mut m = in_chat();
        m.scrolled(false);
        m.received(Frame::messages(vec![Message::new("bob", "ALL", 2, "one")]));
        m.received(Frame { users_joined: Some(vec!["cat".into()]), ..Frame::default() });
        assert_eq!(m.unseen, 2);
        let first = m.first_unseen.expect("marker");
        assert!(
            matches!(&m.item(first).expect("item").entry, Entry::Message { text, .. } if text == "one")
        );
        // sending a message jumps back to the newest
        m.submit("back", 3);
        assert!(m.following);
        assert_eq!((m.unseen, m.first_unseen), (0, None));
    }

    #[test]
    fn a_dropped_connection_keeps_the_name_for_the_automatic_login() {
        let mut m = in_chat();
        m.closed(2000);
        assert_eq!(m.link, Link::Retrying(2000));
        assert!(
            matches!(&m.items().last().expect("item").entry, Entry::Error(t) if t.contains("reconnecting in 2 s"))
        );
        assert_eq!(m.opened(), Some(login_frame("ann")));
        m.received(accepted(&["ann"]));
        assert_eq!(m.phase, Phase::Chat);
        let (frame, _) = m.submit("/quit", 0);
        assert!(frame.is_none());
        assert_eq!((m.phase, m.name.clone()), (Phase::Login, None));
    }

    #[test]
    fn a_login_again_asks_only_for_what_came_after_the_last_message_shown() {
        let mut m = in_chat();
        m.received(Frame::messages(vec![
            Message::new("bob", "ALL", 2, "seven").with_id(7),
            Message::new("bob", "ALL", 3, "eight").with_id(8),
        ]));
        m.closed(1000);
        let login = m.opened().expect("a login");
        assert_eq!(login.since, Some(8));
        m.received(Frame {
            messages: Some(vec![Message::new("bob", "ALL", 4, "while away").with_id(11)]),
            missed: Some(2),
            ..accepted(&["ann", "bob"])
        });
        let shown = |text: &str| {
            m.items()
                .filter(|i| matches!(&i.entry, Entry::Message { text: t, .. } if t == text))
                .count()
        };
        assert_eq!((shown("seven"), shown("eight"), shown("while away")), (1, 1, 1));
        assert!(
            m.items()
                .any(|i| matches!(&i.entry, Entry::Info(t) if t.starts_with("2 earlier messages")))
        );
        // Another name, after leaving, starts from nothing.
        m.leave();
        m.join("cat", "", false);
        assert_eq!(m.opened().expect("a login").since, None);
    }

    #[test]
    fn blocking_toggles_and_the_everyone_tab_lists_all_users() {
        let mut m = in_chat();
        assert_eq!(m.toggle_block("bob").block.as_deref(), Some("bob"));
        m.received(Frame { blocked: Some(vec!["bob".into()]), ..Frame::default() });
        assert_eq!(m.toggle_block("bob").unblock.as_deref(), Some("bob"));
        m.received(Frame {
            all_users: Some(vec!["ann".into(), "bob".into(), "zed".into()]),
            ..Frame::default()
        });
        m.set_tab(Tab::Everyone);
        assert_eq!(m.listed(), ["ann", "bob", "zed"]);
    }

    #[test]
    fn the_scrollback_is_bounded() {
        let mut m = in_chat();
        for i in 0..SCROLLBACK + 50 {
            m.received(Frame::messages(vec![Message::new("bob", "ALL", 1, format!("{i}"))]));
        }
        assert_eq!(m.items().count(), SCROLLBACK);
        let ids = m.ids();
        assert_eq!(ids.end - ids.start, SCROLLBACK as u64);
        assert!(m.items().map(|i| i.id).eq(ids.clone()), "ids are consecutive");
        assert_eq!(m.item(ids.start - 1), None, "dropped");
        assert!(matches!(&m.item(ids.end - 1).expect("newest").entry,
            Entry::Message { text, .. } if *text == format!("{}", SCROLLBACK + 49)));
        assert_eq!(m.item(ids.end), None);
    }

    fn said(text: &str) -> Frame {
        Frame::messages(vec![Message::new("bob", "ALL", 2, text)])
    }

    #[test]
    fn a_message_adds_one_id_and_leaves_the_side_panel_as_it_is() {
        let mut m = in_chat();
        let (ids, people) = (m.ids(), m.people());
        m.received(said("one"));
        assert_eq!(m.ids(), ids.start..ids.end + 1);
        assert!(
            matches!(&m.item(ids.end).expect("new").entry, Entry::Message { text, .. } if text == "one")
        );
        assert_eq!(m.people(), people, "a message names nobody new");
        m.received(Frame { users_joined: Some(vec!["cat".into()]), ..Frame::default() });
        assert_ne!(m.people(), people, "a join changes the list");
        let (ids, people) = (m.ids(), m.people());
        m.set_tab(Tab::Everyone);
        assert_eq!(m.ids(), ids, "a tab click adds nothing to the conversation");
        assert_ne!(m.people(), people, "and changes the side panel");
        let people = m.people();
        m.set_tab(Tab::Everyone);
        assert_eq!(m.people(), people, "the same tab again changes nothing");
    }

    #[test]
    fn the_new_messages_marker_goes_once_the_newest_is_in_view_and_comes_back_once() {
        let mut m = in_chat();
        m.scrolled(false);
        m.received(said("one"));
        let first = m.first_unseen.expect("marker");
        m.received(said("two"));
        assert_eq!((m.first_unseen, m.unseen), (Some(first), 2), "one marker, at the first");
        m.scrolled(true);
        assert_eq!((m.first_unseen, m.unseen), (None, 0));
        m.received(said("seen"));
        assert_eq!(m.first_unseen, None, "nothing unseen while following");
        m.scrolled(false);
        m.received(said("three"));
        let again = m.first_unseen.expect("marker");
        assert!(again > first);
        assert!(
            matches!(&m.item(again).expect("item").entry, Entry::Message { text, .. } if text == "three")
        );
        assert_eq!(m.unseen, 1);
    }

    #[test]
    fn the_reconnect_countdown_ticks_each_second() {
        let mut m = in_chat();
        m.closed(2500);
        let shown = |m: &Model| m.status();
        assert_eq!(
            shown(&m),
            Status { class: "offline", text: "Offline — reconnecting in 3 s".into() }
        );
        m.waiting(2000);
        assert_eq!(shown(&m).text, "Offline — reconnecting in 2 s");
        m.waiting(1000);
        assert_eq!(shown(&m).text, "Offline — reconnecting in 1 s");
        m.waiting(1);
        assert_eq!(shown(&m).text, "Offline — reconnecting in 1 s", "never 0 while waiting");
        m.connecting(None);
        assert_eq!(shown(&m), Status { class: "connecting", text: "Connecting…".into() });
        m.waiting(500);
        assert_eq!(m.link, Link::Connecting, "no countdown once connecting");
        assert_eq!(m.opened(), Some(login_frame("ann")));
        m.received(accepted(&["ann"]));
        assert_eq!(shown(&m), Status { class: "online", text: "Connected as ann".into() });
    }

    #[test]
    fn with_several_gateways_the_status_says_which_one_and_a_switch_is_not_a_lost_line() {
        let mut m = in_chat();
        let lines = m.ids().end;
        m.closed(500);
        assert_eq!(m.ids().end, lines + 1, "the drop is said once");
        m.connecting(Some("b.example:8443".into()));
        assert_eq!(m.status().text, "Connecting to b.example:8443…");
        m.closed(0);
        assert_eq!(m.ids().end, lines + 1, "a gateway that failed, the next at once: no line");
        m.connecting(Some("c.example:8443".into()));
        m.opened();
        m.received(accepted(&["ann"]));
        assert_eq!(m.status().text, "Connected as ann on c.example:8443");
        m.connecting(None);
        m.opened();
        m.received(accepted(&["ann"]));
        assert_eq!(m.status().text, "Connected as ann", "one gateway: not named");
    }

    #[test]
    fn clicking_a_name_addresses_the_draft_and_keeps_the_text() {
        let mut m = in_chat();
        m.received(Frame::messages(vec![Message::new("bob", "ann", 2, "psst")]));
        m.address("bob");
        assert_eq!(m.draft, "@bob ");
        assert_eq!(m.total_unread(), 0, "picking bob reads his messages");
        m.draft.push_str("see you");
        m.address("cat");
        assert_eq!(m.draft, "@cat see you");
        m.draft = "hello".into();
        m.address("bob");
        assert_eq!(m.draft, "@bob hello");
        let (frame, _) = m.submit_draft(9);
        let sent = frame.expect("a frame").messages.expect("messages");
        assert_eq!((sent[0].dest.as_str(), sent[0].content.as_str()), ("bob", "hello"));
        assert_eq!(m.draft, "", "sending empties the composer");
    }

    #[test]
    fn a_frame_not_sent_is_reported_as_such_and_a_message_returns_to_the_composer() {
        let mut m = in_chat();
        for (line, back) in [("hello", "hello"), ("@bob psst", "@bob psst"), ("//me", "//me")] {
            m.draft = line.into();
            let (frame, _) = m.submit_draft(5);
            m.not_sent(frame.as_ref());
            let Entry::Error(text) = &m.items().last().expect("entry").entry else {
                panic!("an error entry")
            };
            assert!(text.starts_with("Not sent: too much is waiting to go out"), "{text}");
            assert!(!text.contains("server"), "the server sent nothing wrong: {text}");
            assert_eq!(m.draft, back);
            m.draft.clear();
        }
        m.draft = "typed since".into();
        m.not_sent(Some(&Frame::messages(vec![Message::new("ann", "ALL", 1, "older")])));
        assert_eq!(m.draft, "typed since", "what is typed now is kept");
        m.not_sent(Some(&m.toggle_block("bob")));
        assert!(matches!(&m.items().last().expect("entry").entry,
            Entry::Error(t) if t == "Not sent: too much is waiting to go out; try again in a moment."));
    }

    fn token(t: &str) -> Frame {
        Frame { token: Some(t.into()), ..Frame::default() }
    }

    #[test]
    fn registering_on_the_login_form_logs_in_then_registers_and_keeps_only_the_token() {
        let mut m = Model::default();
        m.opened();
        assert_eq!(m.join("ann", "short", true), None);
        assert!(m.login_error.as_deref().is_some_and(|e| e.contains("register")), "{m:?}");
        let login = m.join("ann", "correct horse", true).expect("a login");
        assert_eq!((login.password, login.token), (None, None), "a plain login first");
        let register = m.received(accepted(&["ann"])).expect("then REGISTER");
        assert_eq!(register.register.as_deref(), Some("correct horse"));
        assert_eq!(m.remembered(), None, "nothing kept before the server answers");
        m.received(Frame { registered: Some(true), ..token("tok-1") });
        assert_eq!(m.remembered(), Some(("ann".into(), "tok-1".into())));
        assert!(!format!("{m:?}").contains("correct horse"), "no password kept or shown");
        assert!(m.items().all(|i| !format!("{:?}", i.entry).contains("tok-1")));
    }

    #[test]
    fn a_kept_token_logs_straight_back_in_and_a_refused_one_is_forgotten() {
        let mut m = Model::restored("ann".into(), "tok-1".into());
        let login = m.opened().expect("logs in at once");
        assert_eq!(
            (login.username.as_deref(), login.token.as_deref()),
            (Some("ann"), Some("tok-1"))
        );
        m.received(accepted(&["ann"]));
        assert_eq!(m.phase, Phase::Chat);
        m.closed(1000);
        let again = m.opened().expect("a reconnect");
        assert_eq!(again.token.as_deref(), Some("tok-1"));
        m.received(Frame {
            username_accepted: Some(false),
            info: Some("The session token is unknown or expired; log in with the password.".into()),
            ..Frame::default()
        });
        assert_eq!(m.remembered(), None);
        assert!(m.login_error.as_deref().is_some_and(|e| e.contains("token")));
        // A password login gets a new token to keep.
        let login = m.join("ann", "correct horse", false).expect("a login");
        assert_eq!((login.password.as_deref(), login.token), (Some("correct horse"), None));
        m.received(Frame {
            registered: Some(true),
            token: Some("tok-2".into()),
            ..accepted(&["ann"])
        });
        assert_eq!(m.remembered(), Some(("ann".into(), "tok-2".into())));
        assert!(
            m.items().all(|i| !matches!(&i.entry, Entry::Info(t) if t.contains("in memory"))),
            "the terminal client's note does not apply to the page"
        );
        // Another name does not use ann's token.
        m.leave();
        let other = m.join("bob", "", false).expect("a login");
        assert_eq!(other.token, None);
    }

    #[test]
    fn logging_out_ends_this_session_or_all_and_forgets_the_token() {
        let mut m = Model::restored("ann".into(), "tok-1".into());
        m.opened();
        m.received(Frame { registered: Some(true), ..accepted(&["ann"]) });
        let out = m.logout(false).expect("LOGOUT");
        assert_eq!(out.logout.as_deref(), Some("this"));
        assert_eq!((m.phase, m.remembered()), (Phase::Login, None));
        let mut m = Model::restored("ann".into(), "tok-1".into());
        m.opened();
        m.received(Frame { registered: Some(true), ..accepted(&["ann"]) });
        assert_eq!(m.logout(true).and_then(|f| f.logout).as_deref(), Some("everywhere"));
        // A name that is not registered has no session to end.
        let mut m = in_chat();
        assert_eq!(m.logout(false), None);
        assert_eq!(m.phase, Phase::Login);
    }

    #[test]
    fn a_session_the_server_ends_on_purpose_waits_for_the_user() {
        let mut m = Model::restored("ann".into(), "tok-1".into());
        m.opened();
        m.received(accepted(&["ann"]));
        let why = "ann logged in on another connection, which took over; this one is closed.";
        m.received(Frame { disconnected: Some("replaced".into()), ..Frame::error(why) });
        m.closed(1000);
        assert!(m.stopped());
        assert_eq!((m.phase, m.login_error.as_deref()), (Phase::Login, Some(why)));
        assert_eq!(m.status().text, "Disconnected");
        // Joining again connects (the page asks the connection) and logs in with the token.
        assert_eq!(m.join("ann", "", false), None, "not connected yet");
        m.connecting(None);
        assert_eq!(m.opened().and_then(|f| f.token).as_deref(), Some("tok-1"));
        // An ordinary drop still reconnects by itself.
        m.received(accepted(&["ann"]));
        m.closed(1000);
        assert_eq!(m.link, Link::Retrying(1000));
    }

    #[test]
    fn operators_get_frames_for_their_actions_and_a_mistake_is_said_at_once() {
        let mut m = Model::default();
        m.opened();
        m.join("opal", "operator pass", false);
        m.received(Frame { operator: Some(true), ..accepted(&["opal", "bob"]) });
        assert!(m.operator());
        let form = ModForm { duration: "2h".into(), reason: " spam ".into(), with_address: true };
        let ban = m.moderate(Action::Ban, "bob", &form).expect("a ban").ban.expect("BAN");
        assert_eq!(
            (ban.name.as_deref(), ban.duration.as_str(), ban.reason.as_deref(), ban.with_address),
            (Some("bob"), "2h", Some("spam"), Some(true))
        );
        let kick = m.moderate(Action::Kick, "bob", &ModForm::default()).expect("kick");
        assert_eq!(kick.kick.map(|k| (k.name, k.reason)), Some(("bob".into(), None)));
        let soon = ModForm { duration: "soon".into(), ..form.clone() };
        assert!(m.moderate(Action::Mute, "bob", &soon).is_err_and(|e| e.contains("30m")));
        assert_eq!(
            m.moderate(Action::Unban, "bob", &soon).expect("unban").unban.as_deref(),
            Some("bob")
        );
        assert_eq!(
            m.moderate(Action::Unmute, "bob", &soon).expect("unmute").unmute.as_deref(),
            Some("bob")
        );
        let user = in_chat();
        assert!(!user.operator());
        assert!(user.moderate(Action::Kick, "bob", &form).is_err());
    }

    #[test]
    fn account_changes_are_checked_before_they_are_sent() {
        let m = in_chat();
        let form = |current: &str, new: &str, again: &str| PasswordForm {
            current: current.into(),
            new: new.into(),
            again: again.into(),
        };
        let f = m.change(Change::Register, &form("", "battery staple", "battery staple"));
        assert_eq!(f.expect("REGISTER").register.as_deref(), Some("battery staple"));
        assert!(
            m.change(Change::Register, &form("", "short", "short")).is_err_and(|e| e.contains("8"))
        );
        assert!(
            m.change(Change::Register, &form("", "battery staple", "battery stapel"))
                .is_err_and(|e| e.contains("differ"))
        );
        let f = m.change(Change::Password, &form("old horse", "battery staple", "battery staple"));
        assert_eq!(
            f.expect("CHANGE_PASSWORD").change_password,
            Some(["old horse".to_owned(), "battery staple".to_owned()])
        );
        assert!(m.change(Change::Password, &form("", "battery staple", "battery staple")).is_err());
        let f = m.change(Change::Unregister, &form("old horse", "", ""));
        assert_eq!(f.expect("UNREGISTER").unregister.as_deref(), Some("old horse"));
        assert!(Model::default().change(Change::Unregister, &form("x", "", "")).is_err());
    }

    #[test]
    fn an_automatic_login_refused_as_in_use_is_tried_again_a_few_times_with_the_token() {
        let mut m = Model::restored("ann".into(), "tok-1".into());
        m.opened();
        let in_use = || Frame {
            username_accepted: Some(false),
            info: Some("The provided username is already in use.".into()),
            ..Frame::default()
        };
        for _ in 0..RELOGIN_ATTEMPTS {
            m.received(in_use());
            assert!(m.take_retry(), "tried again");
            assert!(!m.take_retry(), "asked once");
            m.closed(500);
            assert_eq!(m.opened().and_then(|f| f.token).as_deref(), Some("tok-1"));
        }
        m.received(in_use());
        assert!(!m.take_retry(), "given up");
        assert_eq!((m.phase, m.remembered()), (Phase::Login, None));
        assert!(m.login_error.as_deref().is_some_and(|e| e.contains("in use")));
        // A success in between starts the count again; a refusal of another kind is final.
        let mut m = Model::restored("ann".into(), "tok-1".into());
        m.opened();
        m.received(in_use());
        assert!(m.take_retry());
        m.closed(500);
        m.opened();
        m.received(accepted(&["ann"]));
        assert_eq!(m.relogins, 0);
        m.closed(500);
        m.opened();
        m.received(Frame {
            username_accepted: Some(false),
            info: Some("ann is banned for ever (spam).".into()),
            ..Frame::default()
        });
        assert!(!m.take_retry());
        assert_eq!(m.remembered(), None);
    }

    /// A login answer granting every extension, with the user in `rooms` (ann and bob in
    /// each) and `history` as its messages.
    fn in_rooms(rooms: &[&str], history: Vec<Message>) -> Model {
        let mut m = Model::default();
        m.opened();
        m.join("ann", "", false);
        let answer = m.received(Frame {
            // what a server grants the browser client: what it asks for
            features: Some(m.login().features.expect("asked")),
            my_rooms: Some(rooms.iter().map(|r| room_info(r, &["ann", "bob"])).collect()),
            messages: Some(history),
            ..accepted(&["ann", "bob"])
        });
        assert_eq!(answer, None, "nothing to answer: no room in the address");
        m
    }

    fn room_info(name: &str, members: &[&str]) -> shared::frame::RoomInfo {
        shared::frame::RoomInfo {
            name: name.into(),
            members: members.iter().map(|n| (*n).to_owned()).collect(),
            ..shared::frame::RoomInfo::default()
        }
    }

    /// The texts of the messages in the conversation shown.
    fn texts(m: &Model) -> Vec<String> {
        m.items()
            .filter_map(|i| match &i.entry {
                Entry::Message { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    /// The room list as `label:unread`, the current one starred.
    fn tabs(m: &Model) -> Vec<String> {
        m.room_list()
            .iter()
            .map(|t| format!("{}{}:{}", if t.current { "*" } else { "" }, t.label, t.unread))
            .collect()
    }

    #[test]
    fn own_messages_are_edited_and_deleted_in_place_and_search_results_jump_to_their_room() {
        use shared::frame::{Change, Hit};
        let m = &mut in_rooms(&["#rust"], vec![Message::new("ann", "ALL", 1, "teh").with_id(1)]);
        let entry = |m: &Model, text: &str| {
            m.items()
                .find(|i| matches!(&i.entry, Entry::Message { text: t, .. } if t == text))
                .map(|i| i.entry.clone())
        };
        let mine = entry(m, "teh").expect("shown");
        assert_eq!(m.may_change(&mine), (true, true), "its own: edit and delete");
        m.received(Frame::messages(vec![Message::new("bob", "ALL", 2, "bob's").with_id(2)]));
        assert_eq!(m.may_change(&entry(m, "bob's").expect("shown")), (false, false));
        // Edit: the composer holds the text; sending it sends the EDIT.
        m.start_edit(1);
        assert_eq!((m.editing, m.draft.as_str()), (Some(1), "teh"));
        m.draft = "the".into();
        let (frame, _) = m.submit_draft(3);
        let edit = Edit { id: 1, content: "the".into() };
        assert_eq!(frame, Some(Frame { edit: Some(edit), ..Frame::default() }));
        assert_eq!(m.editing, None);
        let view = m.view();
        let change = |change, text: &str| {
            let e = Message { change: Some(change), ..Message::new("ann", "ALL", 4, text) };
            Frame::messages(vec![e.with_id(5)])
        };
        m.received(change(Change::Edit(1), "the"));
        assert!(matches!(entry(m, "the"), Some(Entry::Message { edited: true, .. })), "in place");
        assert!(entry(m, "teh").is_none());
        assert_ne!(m.view(), view, "the rows are built again");
        m.received(change(Change::Delete(1), ""));
        let gone = entry(m, client_core::chat::DELETED).expect("the marker");
        assert_eq!(m.may_change(&gone), (false, false));
        assert_eq!(m.delete(2).delete, Some(2));
        // Search: filters as in the terminal; results kept, paged, and a jump to the room.
        let frame = m.search("from:bob rust in:#rust").expect("a search");
        let asked = frame.search.expect("SEARCH");
        assert_eq!(
            (asked.query.as_str(), asked.from.as_deref(), asked.room.as_deref()),
            ("rust", Some("bob"), Some("#rust"))
        );
        assert!(m.search("in:#bad!").is_err());
        let hit = |id: i64| Hit {
            message: Message::new("bob", "#rust", id, "rust").with_id(id),
            context: vec![],
        };
        let found = Found { query: "rust".into(), results: vec![hit(9), hit(8)], more: true };
        m.received(Frame { found: Some(found), ..Frame::default() });
        let next = m.more().and_then(|f| f.search).expect("the next page");
        assert_eq!(next.older_than, Some(8));
        let rest = Found { query: "rust".into(), results: vec![hit(3)], more: false };
        m.received(Frame { found: Some(rest), ..Frame::default() });
        let shown: Vec<Option<i64>> =
            m.found.as_ref().expect("results").results.iter().map(|h| h.message.id).collect();
        assert_eq!(shown, [Some(9), Some(8), Some(3)]);
        assert_eq!(m.more(), None, "no more");
        m.switch(None);
        m.jump(&hit(8).message);
        assert_eq!((m.chat.current.as_deref(), m.highlight), (Some("#rust"), Some(8)));
        m.close_search();
        assert!(m.found.is_none());
    }

    #[test]
    fn a_file_goes_to_the_person_the_draft_addresses_else_to_the_room_shown() {
        let mut m = Model::default();
        assert_eq!(m.file_dest(), "ALL");
        m.chat.current = Some("#team".into());
        assert_eq!(m.file_dest(), "#team");
        m.draft = "@bob ".into();
        assert_eq!(m.file_dest(), "bob");
        m.draft = "@ nobody".into();
        assert_eq!(m.file_dest(), "#team", "no name after the @");
    }

    #[test]
    fn the_login_asks_for_rooms_edit_search_and_files_besides_every_clients_extensions() {
        let mut m = Model::default();
        m.opened();
        let asked = m.join("ann", "", false).and_then(|f| f.features).expect("features");
        let mut want: Vec<String> = features::CLIENTS.map(String::from).to_vec();
        let own = [features::ROOMS, features::EDIT, features::SEARCH, features::FILES];
        want.extend(own.map(String::from));
        assert_eq!(asked, want);
        assert_eq!(asked.iter().filter(|f| *f == features::ROOMS).count(), 1);
        // the token login after a reload asks for them as well
        let restored = Model::restored("ann".into(), "tok".into()).opened().expect("login");
        assert_eq!(restored.features, Some(want));
    }

    #[test]
    fn the_address_names_the_room_and_reads_back() {
        assert_eq!(room_hash(Some("#rust")), "#rust");
        assert_eq!(room_hash(None), "");
        assert_eq!(room_from_hash("#rust").as_deref(), Some("#rust"));
        assert_eq!(room_from_hash("#Rust").as_deref(), Some("#rust"), "names are lower case");
        assert_eq!(room_from_hash("rust").as_deref(), Some("#rust"), "without its #");
        assert_eq!(room_from_hash("#off-topic_2").as_deref(), Some("#off-topic_2"));
        for main in ["", "#", "#/room/rust", "#no way", "#%23rust", "##rust", &"#x".repeat(40)] {
            assert_eq!(room_from_hash(main), None, "{main:?} names no room: the main room");
        }
        for room in [None, Some("#rust"), Some("#a-b_c")] {
            assert_eq!(room_from_hash(&room_hash(room)).as_deref(), room, "{room:?} round trip");
        }
    }

    #[test]
    fn each_room_has_its_conversation_and_the_list_counts_unread_per_room() {
        let m = &mut in_rooms(
            &["#go", "#rust"],
            vec![
                Message::new("bob", "ALL", 1, "main before"),
                Message::new("bob", "#rust", 2, "rust before"),
                Message::new("bob", "ann", 3, "psst before"),
            ],
        );
        assert_eq!(tabs(m), ["*everyone:0", "#go:0", "#rust:0"], "history is not unread");
        assert_eq!(texts(m), ["main before", "psst before"], "the main room: no room's messages");
        let main_view = m.view();
        m.switch(Some("#rust"));
        assert_ne!(m.view(), main_view, "another conversation: rows built anew");
        assert_eq!(texts(m), ["rust before"]);
        assert_eq!(m.room_head().map(|h| (h.name, h.online)), Some(("#rust".into(), 2)));
        // what comes to the others while #rust is shown counts there
        m.received(Frame::messages(vec![
            Message::new("bob", "#go", 4, "go 1"),
            Message::new("bob", "#go", 5, "go 2"),
            Message::new("bob", "ALL", 6, "main 1"),
            Message::new("bob", "ann", 7, "psst"),
            Message::new("bob", "#rust", 8, "rust 1"),
        ]));
        assert_eq!(tabs(m), ["everyone:1", "#go:2", "*#rust:0"], "a private message is not");
        assert_eq!(m.unread.get("bob"), Some(&2), "it has its badge, as before");
        assert_eq!(texts(m), ["rust before", "rust 1"]);
        m.switch(Some("#go"));
        assert_eq!(tabs(m), ["everyone:1", "*#go:0", "#rust:0"], "shown: read");
        assert_eq!(texts(m), ["go 1", "go 2"]);
        m.switch(None);
        assert_eq!(tabs(m), ["*everyone:0", "#go:0", "#rust:0"]);
        assert_eq!(texts(m), ["main before", "psst before", "main 1", "psst"]);
        assert_eq!(m.view(), main_view, "the main room's conversation is kept");
        assert_eq!(m.room_head(), None);
        // a room the user is not in is not shown
        m.switch(Some("#elsewhere"));
        assert_eq!(m.chat.current, None);
        // a server without rooms: no list
        assert!(in_chat().room_list().is_empty());
    }

    #[test]
    fn the_composer_writes_to_the_room_shown_and_commands_match_the_terminals() {
        let m = &mut in_rooms(&["#rust"], vec![]);
        m.switch(Some("#rust"));
        assert_eq!(m.writing_to(), "#rust");
        let (frame, _) = m.submit("hello rust", 5);
        let sent = frame.expect("a frame").messages.expect("messages");
        assert_eq!((sent[0].dest.as_str(), sent[0].content.as_str()), ("#rust", "hello rust"));
        assert!(texts(m).is_empty(), "with edit, shown once the server sends it back");
        m.received(Frame::messages(vec![sent[0].clone().with_id(1)]));
        assert_eq!(texts(m), ["hello rust"], "shown in the room");
        let (frame, _) = m.submit("@bob psst", 6);
        let sent = frame.expect("a frame").messages.expect("messages");
        assert_eq!(sent[0].dest, "bob");
        m.received(Frame::messages(vec![sent[0].clone().with_id(2)]));
        assert_eq!(texts(m), ["hello rust"], "a private message goes to the main room's");
        // /room, /join, /part, /rooms as in the terminal
        let before = m.view();
        m.submit("/room", 7);
        assert_eq!((m.chat.current.as_deref(), m.writing_to().as_str()), (None, MAIN_ROOM));
        assert_ne!(m.view(), before);
        assert!(texts(m).contains(&"psst".to_owned()));
        m.submit("/room #rust", 8);
        assert_eq!(m.chat.current.as_deref(), Some("#rust"));
        let join = m.submit("/join #Go", 9).0.expect("JOIN");
        assert_eq!(join.join.as_deref(), Some("#go"));
        assert_eq!(m.submit("/part", 9).0.and_then(|f| f.part).as_deref(), Some("#rust"));
        assert_eq!(m.submit("/rooms", 9).0.and_then(|f| f.list_rooms), Some(true));
        // the ROOMS listing shows in the conversation shown, with member counts and topics
        m.received(Frame {
            rooms: Some(vec![shared::frame::RoomListing {
                name: "#go".into(),
                topic: Some("gophers".into()),
                members: 3,
                online: 1,
                ..shared::frame::RoomListing::default()
            }]),
            ..Frame::default()
        });
        let listed = m.items().any(|i| matches!(&i.entry,
            Entry::List { title, names } if title == "rooms" && names[0] == "#go (1 of 3 online) – gophers"));
        assert!(listed, "{:?}", m.items().collect::<Vec<_>>());
        // a room message not sent comes back as the line that sends it again
        m.not_sent(Some(&Frame::messages(vec![Message::new("ann", "#rust", 1, "again")])));
        assert_eq!(m.draft, "again");
    }

    #[test]
    fn joined_parted_and_room_presence_update_the_list_and_the_room_shown() {
        let m = &mut in_rooms(&[], vec![]);
        assert_eq!(tabs(m), ["*everyone:0"]);
        assert_eq!(
            m.join_room("bad name"),
            Err(shared::validate::RoomError::Character.to_string())
        );
        let join = m.join_room(" Rust ").expect("a join").expect("JOIN");
        assert_eq!(join.join.as_deref(), Some("#rust"));
        m.received(Frame {
            joined: Some(shared::frame::RoomInfo {
                topic: Some("crabs".into()),
                ..room_info("#rust", &["ann", "bob"])
            }),
            messages: Some(vec![Message::new("bob", "#rust", 1, "rust history")]),
            ..Frame::default()
        });
        assert_eq!(
            tabs(m),
            ["everyone:0", "*#rust:0"],
            "the room joined is shown, its history read"
        );
        assert_eq!(texts(m), ["rust history"]);
        let head = m.room_head().expect("a head");
        assert_eq!((head.topic.as_deref(), head.online), (Some("crabs"), 2));
        assert_eq!(m.hash().as_deref(), Some("#rust"), "the address follows");
        assert_eq!(m.join_room("#rust"), Ok(None), "in it already: shown");
        // presence and topic go to the room's conversation, even while another one is shown
        m.switch(None);
        let main = m.ids();
        m.received(Frame {
            room_joined: Some(shared::frame::RoomPresence {
                room: "#rust".into(),
                users: vec!["cat".into()],
            }),
            ..Frame::default()
        });
        m.received(Frame {
            room_changed: Some(shared::frame::RoomInfo {
                topic: Some("ferris".into()),
                ..room_info("#rust", &[])
            }),
            ..Frame::default()
        });
        assert_eq!(m.ids(), main, "nothing of #rust in the main room's conversation");
        m.switch(Some("#rust"));
        let shown: Vec<String> = m.items().map(|i| format!("{:?}", i.entry)).collect();
        assert!(shown.iter().any(|e| e.contains("cat joined #rust")), "{shown:?}");
        assert!(shown.iter().any(|e| e.contains("ferris")), "{shown:?}");
        let head = m.room_head().expect("a head");
        assert_eq!((head.topic.as_deref(), head.online), (Some("ferris"), 3));
        m.received(Frame {
            room_left: Some(shared::frame::RoomPresence {
                room: "#rust".into(),
                users: vec!["bob".into()],
            }),
            ..Frame::default()
        });
        assert_eq!(m.room_head().map(|h| h.online), Some(2));
        // a JOIN again answers with the history again: it replaces, not doubles
        let before = m.view();
        m.received(Frame {
            joined: Some(room_info("#rust", &["ann"])),
            messages: Some(vec![Message::new("bob", "#rust", 1, "rust history")]),
            ..Frame::default()
        });
        assert_eq!(texts(m), ["rust history"]);
        assert_ne!(m.view(), before);
        // leaving: back to the main room, the room and its conversation gone
        assert_eq!(m.part().and_then(|f| f.part).as_deref(), Some("#rust"));
        m.received(Frame { parted: Some("#rust".into()), ..Frame::default() });
        assert_eq!(tabs(m), ["*everyone:0"]);
        assert_eq!(m.hash().as_deref(), Some(""));
        assert_eq!(m.part(), None, "the main room is not left");
        assert!(m.room_logs.is_empty());
        // a message of a room the page does not know shows in the main room's conversation
        m.received(Frame::messages(vec![Message::new("bob", "#rust", 2, "stray")]));
        assert!(texts(m).contains(&"stray".to_owned()));
    }

    #[test]
    fn scrolled_up_only_the_conversation_shown_counts_new_entries() {
        let m = &mut in_rooms(&["#rust"], vec![]);
        m.scrolled(false);
        m.received(Frame::messages(vec![Message::new("bob", "#rust", 1, "elsewhere")]));
        assert_eq!((m.unseen, m.first_unseen), (0, None));
        m.received(said("here"));
        assert_eq!(m.unseen, 1);
        m.switch(Some("#rust"));
        assert!(m.following, "another conversation starts at its newest entry");
        assert_eq!((m.unseen, m.first_unseen), (0, None));
    }

    #[test]
    fn the_room_in_the_address_is_shown_or_joined_at_login_and_kept_as_the_user_moves() {
        // A reload in a room the user is in: shown at once, nothing to send.
        let mut m = Model::restored("ann".into(), "tok".into());
        assert_eq!(m.navigated("#rust"), None);
        assert_eq!(m.hash(), None, "the address is left alone before the login");
        m.opened();
        let reply = Frame {
            features: Some(features::ALL.map(String::from).to_vec()),
            my_rooms: Some(vec![room_info("#rust", &["ann"])]),
            messages: Some(vec![
                Message::new("bob", "ALL", 1, "main"),
                Message::new("bob", "#rust", 2, "rust"),
            ]),
            ..accepted(&["ann"])
        };
        assert_eq!(m.received(reply.clone()), None);
        assert_eq!(m.chat.current.as_deref(), Some("#rust"));
        assert_eq!(texts(&m), ["rust"]);
        assert_eq!(m.hash().as_deref(), Some("#rust"));
        // A reconnect keeps it, and logs in asking for rooms again.
        m.closed(500);
        assert!(m.opened().and_then(|f| f.features).is_some_and(|f| f.contains(&"rooms".into())));
        assert_eq!(m.received(reply), None);
        assert_eq!(m.hash().as_deref(), Some("#rust"));

        // An address naming a room the user is not in: joined (with the REGISTER of the login
        // form in the same frame), the address kept meanwhile.
        let mut m = Model::default();
        m.navigated("#Go");
        m.opened();
        m.join("ann", "correct horse", true);
        let answer = m
            .received(Frame {
                features: Some(features::ALL.map(String::from).to_vec()),
                ..accepted(&["ann"])
            })
            .expect("an answer");
        assert_eq!(
            (answer.join.as_deref(), answer.register.as_deref()),
            (Some("#go"), Some("correct horse"))
        );
        assert_eq!((m.chat.current.as_deref(), m.hash().as_deref()), (None, Some("#go")));
        m.received(Frame { joined: Some(room_info("#go", &["ann"])), ..Frame::default() });
        assert_eq!((m.chat.current.as_deref(), m.hash().as_deref()), (Some("#go"), Some("#go")));

        // The user moves: the address follows; going back (the address changes) moves too.
        m.switch(None);
        assert_eq!(m.hash().as_deref(), Some(""));
        assert_eq!(m.navigated("#go"), None);
        assert_eq!(m.chat.current.as_deref(), Some("#go"));
        assert_eq!(m.navigated("#go"), None, "the address the page set itself: nothing new");
        assert_eq!(m.navigated(""), None);
        assert_eq!(m.chat.current, None);
        // a room the user is not in: joined, and refused (invite-only): the address goes back
        let join = m.navigated("#secret").expect("JOIN");
        assert_eq!(join.join.as_deref(), Some("#secret"));
        assert_eq!(m.hash().as_deref(), Some("#secret"));
        m.received(Frame::error("#secret is invite-only; ask a member or an operator."));
        assert_eq!(m.hash().as_deref(), Some(""));
        assert_eq!(m.chat.current, None);

        // A server without rooms: the address goes back to the main room, nothing is sent.
        let mut m = Model::default();
        m.navigated("#rust");
        m.opened();
        m.join("ann", "", false);
        assert_eq!(m.received(accepted(&["ann"])), None);
        assert_eq!(m.hash().as_deref(), Some(""));
        // Logging out leaves the address as it is, for the next login.
        let mut m = in_rooms(&["#rust"], vec![]);
        m.switch(Some("#rust"));
        m.leave();
        assert_eq!((m.hash(), m.chat.current.clone()), (None, None));
        assert!(m.room_logs.is_empty(), "the rooms' conversations go with the chat");
        m.join("ann", "", false);
        let answer = m.received(Frame {
            features: Some(features::ALL.map(String::from).to_vec()),
            ..accepted(&["ann"])
        });
        assert_eq!(answer.and_then(|f| f.join).as_deref(), Some("#rust"));
    }
}
