//! A client's view of the chat, as plain data: the state a front end shows, the entries each
//! frame adds to the conversation, and the login frame. The terminal and the browser client
//! both build on it; no screen here, so all of it is tested directly.

use std::collections::BTreeSet;

use shared::frame::features::{self, Granted};
use shared::{Frame, Message};

use crate::input::{Command, HELP, Input};

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
}

/// The login frame for `name`, asking for every extension the clients implement.
pub fn login_frame(name: &str) -> Frame {
    Frame {
        username: Some(name.to_owned()),
        features: Some(features::ALL.iter().map(|f| (*f).to_owned()).collect()),
        ..Frame::default()
    }
}

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
}

impl Chat {
    /// Takes in an accepted login answer; returns the entries it adds (history, who is online).
    pub fn logged_in(&mut self, name: &str, reply: Frame) -> Vec<Entry> {
        self.me = Some(name.to_owned());
        self.granted = Granted::from_list(reply.features.as_deref().unwrap_or_default());
        self.online = reply.user_list.clone().unwrap_or_default().into_iter().collect();
        self.online.insert(name.to_owned());
        self.blocked = reply.blocked.clone().unwrap_or_default().into_iter().collect();
        let mut out = Vec::new();
        if let Some(info) = &reply.info {
            out.push(Entry::Info(format!("{info} You are {name}.")));
        }
        for m in reply.messages.into_iter().flatten() {
            out.push(self.entry(m));
        }
        out.push(self.online_list());
        out
    }

    /// The entry for who is online.
    pub fn online_list(&self) -> Entry {
        Entry::List { title: "online".into(), names: self.online.iter().cloned().collect() }
    }

    fn entry(&self, m: Message) -> Entry {
        let me = self.me.as_deref().unwrap_or_default();
        Entry::Message {
            time: m.timestamp,
            own: m.src == me,
            private: !m.is_broadcast(),
            src: m.src,
            dest: m.dest,
            text: m.content,
        }
    }

    /// Takes in a frame from the server; returns the entries it adds. Keys arrive together in
    /// one object; each is handled.
    pub fn apply(&mut self, f: Frame) -> Vec<Entry> {
        let mut out = Vec::new();
        for name in f.users_joined.into_iter().flatten() {
            self.online.insert(name.clone());
            out.push(Entry::Joined(name));
        }
        for m in f.messages.into_iter().flatten() {
            out.push(self.entry(m));
        }
        for name in f.users_left.into_iter().flatten() {
            self.online.remove(&name);
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

    /// The entry for a message this user just sent (the server does not echo it).
    pub fn sent(&self, m: &Message) -> Entry {
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
}

impl Chat {
    /// Acts on a typed line. `connected`: logged in and able to send now; `now`: the time
    /// (Unix seconds) to stamp a message with.
    pub fn handle(&mut self, input: Input, connected: bool, now: i64) -> Outcome {
        let mut out = Outcome::default();
        let needs = |out: &mut Outcome, what: &str| {
            out.show.push(Entry::Error(format!("Not connected; {what}")));
        };
        match input {
            Input::Nothing => {}
            Input::Invalid(t) => out.show.push(Entry::Error(t)),
            Input::Say { dest, text } => {
                if !connected {
                    needs(&mut out, "the message was not sent.");
                } else {
                    let m = self.message(&dest, &text, now);
                    out.show.push(self.sent(&m));
                    out.send = Some(Frame::messages(vec![m]));
                }
            }
            Input::Command(cmd) => match cmd {
                Command::Help => out.show.extend(HELP.iter().map(|l| Entry::Info((*l).to_owned()))),
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
            },
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(chat.granted, Granted { block: true, users: false });
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
    fn the_login_frame_names_the_user_and_asks_for_every_extension() {
        assert_eq!(
            shared::encode(&login_frame("ann")),
            br#"{"USERNAME":"ann","FEATURES":["block","users"]}"#
        );
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
        assert_eq!(chat.handle(parse("/help"), true, 7).show.len(), HELP.len());
        assert_eq!(chat.handle(parse("/users"), true, 7).show, [chat.online_list()]);
    }
}
