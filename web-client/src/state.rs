//! The browser client's state and what each event does to it, as plain Rust: no DOM, no
//! WebSocket, so every rule here is unit-tested natively. The views only read it.

use std::collections::BTreeMap;

use client_core::chat::{Chat, Entry, login_frame};
use client_core::input::{self, Input};
use shared::{BROADCAST, Frame};

/// Entries kept; older ones are dropped so a long-open tab stays small.
pub const SCROLLBACK: usize = 2000;

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
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// Opening the WebSocket.
    Connecting,
    /// Open.
    Open,
    /// Closed; the next attempt is in this many seconds.
    Retrying(f64),
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
    /// The conversation, oldest first.
    pub items: Vec<Item>,
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
    /// The id ([`Item::id`]) of the first entry that arrived while scrolled up.
    pub first_unseen: Option<u64>,
    /// Entries that arrived while scrolled up.
    pub unseen: usize,
    /// The side panel's list.
    pub tab: Tab,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            chat: Chat::default(),
            items: Vec::new(),
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
            self.items.push(Item { id, entry });
        }
        if self.items.len() > SCROLLBACK {
            let extra = self.items.len() - SCROLLBACK;
            self.items.drain(..extra);
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

    /// The WebSocket closed; the next attempt is in `retry` seconds.
    pub fn closed(&mut self, retry: f64) {
        let was_in = self.phase == Phase::Chat;
        self.link = Link::Retrying(retry);
        if self.phase == Phase::Joining {
            self.phase = if self.chat.me.is_some() { Phase::Chat } else { Phase::Login };
        }
        if was_in {
            self.push(vec![Entry::Error(format!(
                "Connection lost; reconnecting in {retry:.0} s."
            ))]);
        }
    }

    /// Takes in a frame from the server.
    pub fn received(&mut self, frame: Frame) {
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

    /// Leaves the chat (the page returns to the login view; the caller closes the socket).
    pub fn leave(&mut self) {
        self.name = None;
        self.chat = Chat::default();
        self.phase = Phase::Login;
        self.unread.clear();
    }

    /// The conversation with `name` is being looked at: its private messages are read.
    pub fn read(&mut self, name: &str) {
        self.unread.remove(name);
    }

    /// Unread private messages in all.
    pub fn total_unread(&self) -> usize {
        self.unread.values().sum()
    }

    /// The user scrolled: `at_bottom` tells whether the newest message is in view.
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
            m.items
                .iter()
                .any(|i| matches!(&i.entry, Entry::Message { text, .. } if text == "earlier"))
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
            matches!(&m.items.iter().find(|i| i.id == first).expect("item").entry, Entry::Message { text, .. } if text == "one")
        );
        // sending a message jumps back to the newest
        m.submit("back", 3);
        assert!(m.following);
        assert_eq!((m.unseen, m.first_unseen), (0, None));
    }

    #[test]
    fn a_dropped_connection_keeps_the_name_for_the_automatic_login() {
        let mut m = in_chat();
        m.closed(2.0);
        assert_eq!(m.link, Link::Retrying(2.0));
        assert!(
            matches!(&m.items.last().expect("item").entry, Entry::Error(t) if t.contains("reconnecting"))
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
        m.tab = Tab::Everyone;
        assert_eq!(m.listed(), ["ann", "bob", "zed"]);
    }

    #[test]
    fn the_scrollback_is_bounded() {
        let mut m = in_chat();
        for i in 0..SCROLLBACK + 50 {
            m.received(Frame::messages(vec![Message::new("bob", "ALL", 1, format!("{i}"))]));
        }
        assert_eq!(m.items.len(), SCROLLBACK);
        assert!(m.items.windows(2).all(|w| w[0].id < w[1].id));
    }
}
