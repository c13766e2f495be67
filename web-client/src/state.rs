//! The browser client's state and what each event does to it, as plain Rust: no DOM, no
//! WebSocket, so every rule here is unit-tested natively. The views only read it, each through
//! a memo of the part it shows (the conversation's range of ids, the side panel's revision, the
//! draft...), so that an event re-renders only what it changed.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

use client_core::chat::{Chat, Entry, login_frame};
use client_core::input::{self, Input};
use shared::{BROADCAST, Frame, Message};

/// Entries kept; older ones are dropped so a long-open tab stays small.
pub const SCROLLBACK: usize = 2000;

/// Milliseconds in a second: the reconnect countdown shows whole seconds and steps by one.
pub const SECOND_MS: u32 = 1000;

/// One line of the conversation, with a stable id for keyed rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Unique within the page's life.
    pub id: u64,
    /// What it shows.
    pub entry: Entry,
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
    /// The chat (shared with the terminal client).
    pub chat: Chat,
    /// The conversation, oldest first; ids are consecutive (see [`Model::ids`]).
    items: VecDeque<Item>,
    next_id: u64,
    /// Where the user is.
    pub phase: Phase,
    /// The connection.
    pub link: Link,
    /// Why the last login was refused.
    pub login_error: Option<String>,
    /// The name to log in (and back in, after a reconnect) with.
    pub name: Option<String>,
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
}

impl Default for Model {
    fn default() -> Self {
        Model {
            chat: Chat::default(),
            items: VecDeque::new(),
            next_id: 0,
            phase: Phase::Login,
            link: Link::Connecting,
            login_error: None,
            name: None,
            unread: BTreeMap::new(),
            following: true,
            first_unseen: None,
            unseen: 0,
            tab: Tab::Online,
            people: 0,
            draft: String::new(),
        }
    }
}

impl Model {
    fn push(&mut self, entries: Vec<Entry>) {
        let me = self.chat.me.clone();
        for entry in entries {
            if let Entry::Message { src, private: true, own: false, .. } = &entry
                && Some(src) != me.as_ref()
            {
                *self.unread.entry(src.clone()).or_default() += 1;
            }
            let id = self.next_id;
            self.next_id += 1;
            if !self.following {
                self.unseen += 1;
                self.first_unseen.get_or_insert(id);
            }
            self.items.push_back(Item { id, entry });
            if self.items.len() > SCROLLBACK {
                self.items.pop_front();
            }
        }
    }

    /// The ids of the conversation's entries, oldest first: they are consecutive, so the view
    /// keys its rows on this range and builds a row only for an id it has not shown yet.
    pub fn ids(&self) -> Range<u64> {
        self.items.front().map_or(self.next_id, |i| i.id)..self.next_id
    }

    /// The entry with this id, while it is in the scrollback.
    pub fn item(&self, id: u64) -> Option<&Item> {
        let first = self.items.front()?.id;
        self.items.get(usize::try_from(id.checked_sub(first)?).ok()?)
    }

    /// The conversation, oldest first.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.items.iter()
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

    /// The user asks to join as `name`; returns the frame to send if the connection is open.
    pub fn join(&mut self, name: &str) -> Option<Frame> {
        let name = name.trim();
        if name.is_empty() {
            self.login_error = Some("Please choose a username.".into());
            return None;
        }
        self.name = Some(name.to_owned());
        self.login_error = None;
        if self.link == Link::Open {
            self.phase = Phase::Joining;
            Some(login_frame(name))
        } else {
            None
        }
    }

    /// The WebSocket opened; returns the login frame when a name is known (a reconnect, or a
    /// name chosen while connecting).
    pub fn opened(&mut self) -> Option<Frame> {
        self.link = Link::Open;
        let name = self.name.clone()?;
        self.phase = Phase::Joining;
        Some(login_frame(&name))
    }

    /// The WebSocket is being opened.
    pub fn connecting(&mut self) {
        self.link = Link::Connecting;
    }

    /// The WebSocket closed; the next attempt is in `retry_ms` milliseconds.
    pub fn closed(&mut self, retry_ms: u32) {
        let was_in = self.phase == Phase::Chat;
        self.link = Link::Retrying(retry_ms);
        if self.phase == Phase::Joining {
            self.phase = if self.chat.me.is_some() { Phase::Chat } else { Phase::Login };
        }
        if was_in {
            self.push(vec![Entry::Error(format!(
                "Connection lost; reconnecting in {} s.",
                seconds(retry_ms)
            ))]);
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
        let (class, text) = match self.link {
            Link::Connecting => ("connecting", "Connecting…".to_owned()),
            Link::Open => match &self.chat.me {
                Some(me) if self.phase == Phase::Chat => ("online", format!("Connected as {me}")),
                _ => ("online", "Connected".to_owned()),
            },
            Link::Retrying(ms) => {
                ("offline", format!("Offline — reconnecting in {} s", seconds(ms)))
            }
        };
        Status { class, text }
    }

    /// Takes in a frame from the server.
    pub fn received(&mut self, frame: Frame) {
        // The only keys that change the side panel's names (see `Chat::apply`).
        if frame.username_accepted.is_some()
            || frame.users_joined.is_some()
            || frame.users_left.is_some()
            || frame.blocked.is_some()
            || frame.all_users.is_some()
        {
            self.people_changed();
        }
        if let Some(accepted) = frame.username_accepted {
            if accepted {
                let name = self.name.clone().unwrap_or_default();
                let entries = self.chat.logged_in(&name, frame);
                self.phase = Phase::Chat;
                self.login_error = None;
                self.push(entries);
            } else {
                self.phase = Phase::Login;
                self.chat.me = None;
                self.name = None;
                self.login_error =
                    Some(frame.info.unwrap_or_else(|| "That username was refused.".into()));
            }
            return;
        }
        let entries = self.chat.apply(frame);
        self.push(entries);
    }

    /// A frame the server sent that is not a protocol object.
    pub fn unreadable(&mut self, why: &str) {
        self.push(vec![Entry::Error(format!("Unreadable message from the server: {why}"))]);
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
        self.push(vec![Entry::Error(text.to_owned())]);
    }

    /// The user sends a line; returns the frame to send, if any. `/quit` leaves the chat.
    pub fn submit(&mut self, line: &str, now: i64) -> (Option<Frame>, bool) {
        let input = input::parse(line);
        if let Input::Say { dest, .. } = &input
            && dest != BROADCAST
        {
            self.unread.remove(dest);
        }
        let out =
            self.chat.handle(input, self.phase == Phase::Chat && self.link == Link::Open, now);
        self.push(out.show);
        if out.send.as_ref().is_some_and(|f| f.messages.is_some()) {
            self.scrolled(true);
        }
        if out.quit {
            self.leave();
        }
        (out.send, out.quit)
    }

    /// The user sends what is in the composer, which empties; see [`Model::submit`].
    pub fn submit_draft(&mut self, now: i64) -> (Option<Frame>, bool) {
        let line = std::mem::take(&mut self.draft);
        self.submit(&line, now)
    }

    /// Leaves the chat (the page returns to the login view; the caller closes the socket).
    pub fn leave(&mut self) {
        self.name = None;
        self.chat = Chat::default();
        self.phase = Phase::Login;
        self.unread.clear();
        self.people_changed();
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

/// The line that, typed into the composer, sends `m` again.
fn typed(m: &Message) -> String {
    if !m.is_broadcast() {
        format!("@{} {}", m.dest, m.content)
    } else if m.content.starts_with('/') {
        format!("/{}", m.content)
    } else {
        m.content.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Message;

    fn accepted(users: &[&str]) -> Frame {
        Frame {
            username_accepted: Some(true),
            info: Some("Welcome!".into()),
            features: Some(shared::frame::features::ALL.map(String::from).to_vec()),
            user_list: Some(users.iter().map(|u| (*u).to_owned()).collect()),
            blocked: Some(vec![]),
            messages: Some(vec![Message::new("bob", "ALL", 1, "earlier")]),
            ..Frame::default()
        }
    }

    fn in_chat() -> Model {
        let mut m = Model::default();
        m.opened();
        assert_eq!(m.join("ann"), Some(login_frame("ann")));
        m.received(accepted(&["ann", "bob"]));
        m
    }

    #[test]
    fn a_name_chosen_while_connecting_is_sent_once_the_socket_opens() {
        let mut m = Model::default();
        assert_eq!(m.join("  "), None);
        assert!(m.login_error.is_some());
        assert_eq!(m.join("ann"), None, "not open yet");
        assert_eq!(m.opened(), Some(login_frame("ann")));
        assert_eq!(m.phase, Phase::Joining);
    }

    #[test]
    fn a_refusal_shows_the_reason_and_returns_to_the_login() {
        let mut m = Model::default();
        m.opened();
        m.join("ann");
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
        m.connecting();
        assert_eq!(shown(&m), Status { class: "connecting", text: "Connecting…".into() });
        m.waiting(500);
        assert_eq!(m.link, Link::Connecting, "no countdown once connecting");
        assert_eq!(m.opened(), Some(login_frame("ann")));
        m.received(accepted(&["ann"]));
        assert_eq!(shown(&m), Status { class: "online", text: "Connected as ann".into() });
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
}
