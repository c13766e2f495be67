//! The protocol's data: [`Frame`] (the JSON object of one frame) and [`Message`] (one message
//! entry).
//!
//! One type serves both directions. The keys a client sends (`USERNAME`, `FEATURES`, `MESSAGES`)
//! and the keys a server sends (`USERNAME_ACCEPTED`, `INFO`, `USER_LIST`, `MESSAGES`,
//! `USERS_JOINED`, `USERS_LEFT`, `ERROR`) may all ride in one object; each is an `Option`.
//!
//! Decoding is strict: every known key must hold the documented type or the whole frame is
//! refused with an error naming the key. A key the protocol does not know is neither an error
//! nor silently dropped: its name is kept in [`Frame::unknown`], so a receiver decides (the
//! server answers with an `ERROR` naming it, while still handling the keys it knows).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};

/// The names of the protocol's keys, as they appear in JSON.
pub mod keys {
    /// Client → server: log in under this name.
    pub const USERNAME: &str = "USERNAME";
    /// Client → server at login: extensions the client supports; server → client in the login
    /// answer: the subset the server supports.
    pub const FEATURES: &str = "FEATURES";
    /// Server → client: the login answer.
    pub const USERNAME_ACCEPTED: &str = "USERNAME_ACCEPTED";
    /// Server → client: a person-readable note (welcome text, refusal reason).
    pub const INFO: &str = "INFO";
    /// Server → client: everyone online, the new user included.
    pub const USER_LIST: &str = "USER_LIST";
    /// Both directions: message entries.
    pub const MESSAGES: &str = "MESSAGES";
    /// Server → client: others who joined.
    pub const USERS_JOINED: &str = "USERS_JOINED";
    /// Server → client: others who left.
    pub const USERS_LEFT: &str = "USERS_LEFT";
    /// Server → client: what was wrong.
    pub const ERROR: &str = "ERROR";

    /// Extension `block`, client → server: block this username.
    pub const BLOCK: &str = "BLOCK";
    /// Extension `block`, client → server: unblock this username.
    pub const UNBLOCK: &str = "UNBLOCK";
    /// Extension `block`, client → server: ask for the list of blocked names.
    pub const LIST_BLOCKED: &str = "LIST_BLOCKED";
    /// Extension `block`, server → client: every name this user blocks.
    pub const BLOCKED: &str = "BLOCKED";
    /// Extension `users`, client → server: ask for every user ever seen.
    pub const LIST_ALL_USERS: &str = "LIST_ALL_USERS";
    /// Extension `users`, server → client: every user ever seen.
    pub const ALL_USERS: &str = "ALL_USERS";
}

/// Names of the negotiated extensions (PROTOCOL.md, "Extensions").
pub mod features {
    /// Blocking: `BLOCK`, `UNBLOCK`, `LIST_BLOCKED` → `BLOCKED`.
    pub const BLOCK: &str = "block";
    /// The list of every user ever seen: `LIST_ALL_USERS` → `ALL_USERS`.
    pub const USERS: &str = "users";
    /// Every extension of this implementation: what its server grants and its clients ask for.
    pub const ALL: [&str; 2] = [BLOCK, USERS];

    /// The extensions granted at login (the server's `FEATURES` answer), one flag each: what
    /// the server allows a session and what a client may offer its user.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Granted {
        /// [`BLOCK`]: blocking.
        pub block: bool,
        /// [`USERS`]: the list of everyone ever seen.
        pub users: bool,
    }

    impl Granted {
        /// The flags of the extensions named in `list`; names this implementation does not
        /// know are left out.
        pub fn from_list(list: &[String]) -> Self {
            let has = |f: &str| list.iter().any(|g| g == f);
            Granted { block: has(BLOCK), users: has(USERS) }
        }
    }
}

/// One frame's JSON object. Absent keys are `None`; keys are serialised in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Frame {
    /// `USERNAME`: the name a client logs in with.
    #[serde(rename = "USERNAME", skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `USERNAME_ACCEPTED`: whether the login succeeded.
    #[serde(rename = "USERNAME_ACCEPTED", skip_serializing_if = "Option::is_none")]
    pub username_accepted: Option<bool>,
    /// `INFO`: a note for the person (welcome, or why a name was refused).
    #[serde(rename = "INFO", skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// `FEATURES`: extensions asked for (client) or granted (server).
    #[serde(rename = "FEATURES", skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// `USER_LIST`: every username online, the new user included.
    #[serde(rename = "USER_LIST", skip_serializing_if = "Option::is_none")]
    pub user_list: Option<Vec<String>>,
    /// `USERS_JOINED`: others who joined.
    #[serde(rename = "USERS_JOINED", skip_serializing_if = "Option::is_none")]
    pub users_joined: Option<Vec<String>>,
    /// `USERS_LEFT`: others who left.
    #[serde(rename = "USERS_LEFT", skip_serializing_if = "Option::is_none")]
    pub users_left: Option<Vec<String>>,
    /// `MESSAGES`: message entries, oldest first.
    #[serde(rename = "MESSAGES", skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Message>>,
    /// `ERROR`: what was wrong with something the client sent.
    #[serde(rename = "ERROR", skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `BLOCK` (extension `block`): a username to block.
    #[serde(rename = "BLOCK", skip_serializing_if = "Option::is_none")]
    pub block: Option<String>,
    /// `UNBLOCK` (extension `block`): a username to unblock.
    #[serde(rename = "UNBLOCK", skip_serializing_if = "Option::is_none")]
    pub unblock: Option<String>,
    /// `LIST_BLOCKED` (extension `block`): `true` asks for `BLOCKED`.
    #[serde(rename = "LIST_BLOCKED", skip_serializing_if = "Option::is_none")]
    pub list_blocked: Option<bool>,
    /// `BLOCKED` (extension `block`): every name this user blocks, sorted.
    #[serde(rename = "BLOCKED", skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Vec<String>>,
    /// `LIST_ALL_USERS` (extension `users`): `true` asks for `ALL_USERS`.
    #[serde(rename = "LIST_ALL_USERS", skip_serializing_if = "Option::is_none")]
    pub list_all_users: Option<bool>,
    /// `ALL_USERS` (extension `users`): every user ever seen, sorted.
    #[serde(rename = "ALL_USERS", skip_serializing_if = "Option::is_none")]
    pub all_users: Option<Vec<String>>,
    /// Keys of the object that the protocol does not define, in the order they appeared.
    /// Never serialised.
    #[serde(skip)]
    pub unknown: Vec<String>,
}

impl Frame {
    /// A frame holding only `ERROR`.
    pub fn error(text: impl Into<String>) -> Self {
        Frame { error: Some(text.into()), ..Frame::default() }
    }

    /// A frame holding only `MESSAGES`.
    pub fn messages(messages: Vec<Message>) -> Self {
        Frame { messages: Some(messages), ..Frame::default() }
    }

    /// The keys of this frame that only a server sends, present here. A server receiving a
    /// frame from a client reports them: a client has no business sending them.
    pub fn server_only_keys(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let present = [
            (self.username_accepted.is_some(), keys::USERNAME_ACCEPTED),
            (self.info.is_some(), keys::INFO),
            (self.user_list.is_some(), keys::USER_LIST),
            (self.users_joined.is_some(), keys::USERS_JOINED),
            (self.users_left.is_some(), keys::USERS_LEFT),
            (self.error.is_some(), keys::ERROR),
            (self.blocked.is_some(), keys::BLOCKED),
            (self.all_users.is_some(), keys::ALL_USERS),
        ];
        for (is, key) in present {
            if is {
                out.push(key);
            }
        }
        out
    }
}

/// One message entry, `[SRC, DEST, TIMESTAMP, CONTENT]` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message {
    /// SRC: the sender's username.
    pub src: String,
    /// DEST: `"ALL"` for a broadcast, or the one recipient's username.
    pub dest: String,
    /// TIMESTAMP: seconds since the Unix epoch, UTC.
    pub timestamp: i64,
    /// CONTENT: the text.
    pub content: String,
}

impl Message {
    /// A message entry from its four parts.
    pub fn new(
        src: impl Into<String>,
        dest: impl Into<String>,
        timestamp: i64,
        content: impl Into<String>,
    ) -> Self {
        Message { src: src.into(), dest: dest.into(), timestamp, content: content.into() }
    }

    /// True for a public broadcast (DEST is `ALL`).
    pub fn is_broadcast(&self) -> bool {
        self.dest == crate::BROADCAST
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.src, &self.dest, self.timestamp, &self.content).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(MessageVisitor)
    }
}

/// serde_json appends " at line L column C" to its messages; when an inner error is wrapped
/// with the key it belongs to, that position is dropped here (the outer error adds it once).
pub(crate) fn strip_position(text: &str) -> &str {
    match text.rfind(" at line ") {
        Some(i)
            if text[i + 9..]
                .split(" column ")
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())) =>
        {
            &text[..i]
        }
        _ => text,
    }
}

fn in_key<E: de::Error>(key: &str, e: E) -> E {
    E::custom(format_args!("{key}: {}", strip_position(&e.to_string())))
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Message;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message [SRC, DEST, TIMESTAMP, CONTENT]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Message, A::Error> {
        fn part<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
            seq: &mut A,
            index: usize,
            name: &str,
        ) -> Result<T, A::Error> {
            match seq.next_element::<T>() {
                Ok(Some(v)) => Ok(v),
                Ok(None) => Err(de::Error::invalid_length(index, &MessageVisitor)),
                Err(e) => Err(in_key(name, e)),
            }
        }
        let src = part::<String, A>(&mut seq, 0, "SRC")?;
        let dest = part::<String, A>(&mut seq, 1, "DEST")?;
        let timestamp = part::<i64, A>(&mut seq, 2, "TIMESTAMP")?;
        let content = part::<String, A>(&mut seq, 3, "CONTENT")?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(
                "a message has more than 4 elements; expected [SRC, DEST, TIMESTAMP, CONTENT]",
            ));
        }
        Ok(Message { src, dest, timestamp, content })
    }
}

impl<'de> Deserialize<'de> for Frame {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FrameVisitor)
    }
}

struct FrameVisitor;

/// Stores a decoded value in its slot, refusing a key given twice (JSON allows it; which of
/// the two a receiver would take is ambiguous, so neither is).
fn fill<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    map: &mut A,
    key: &str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::custom(format_args!("the key {key} appears twice")));
    }
    *slot = Some(map.next_value().map_err(|e| in_key(key, e))?);
    Ok(())
}

impl<'de> Visitor<'de> for FrameVisitor {
    type Value = Frame;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Frame, A::Error> {
        let mut frame = Frame::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match &*key {
                keys::USERNAME => fill(&mut frame.username, &mut map, keys::USERNAME)?,
                keys::USERNAME_ACCEPTED => {
                    fill(&mut frame.username_accepted, &mut map, keys::USERNAME_ACCEPTED)?
                }
                keys::INFO => fill(&mut frame.info, &mut map, keys::INFO)?,
                keys::FEATURES => fill(&mut frame.features, &mut map, keys::FEATURES)?,
                keys::USER_LIST => fill(&mut frame.user_list, &mut map, keys::USER_LIST)?,
                keys::USERS_JOINED => fill(&mut frame.users_joined, &mut map, keys::USERS_JOINED)?,
                keys::USERS_LEFT => fill(&mut frame.users_left, &mut map, keys::USERS_LEFT)?,
                keys::MESSAGES => fill(&mut frame.messages, &mut map, keys::MESSAGES)?,
                keys::ERROR => fill(&mut frame.error, &mut map, keys::ERROR)?,
                keys::BLOCK => fill(&mut frame.block, &mut map, keys::BLOCK)?,
                keys::UNBLOCK => fill(&mut frame.unblock, &mut map, keys::UNBLOCK)?,
                keys::LIST_BLOCKED => fill(&mut frame.list_blocked, &mut map, keys::LIST_BLOCKED)?,
                keys::BLOCKED => fill(&mut frame.blocked, &mut map, keys::BLOCKED)?,
                keys::LIST_ALL_USERS => {
                    fill(&mut frame.list_all_users, &mut map, keys::LIST_ALL_USERS)?
                }
                keys::ALL_USERS => fill(&mut frame.all_users, &mut map, keys::ALL_USERS)?,
                other => {
                    map.next_value::<IgnoredAny>()?;
                    if !frame.unknown.iter().any(|k| k == other) {
                        frame.unknown.push(other.to_owned());
                    }
                }
            }
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granted_reads_each_known_extension_and_ignores_others() {
        use features::{BLOCK, Granted, USERS};
        let list = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert_eq!(Granted::from_list(&[]), Granted::default());
        assert_eq!(
            Granted::from_list(&list(&["teleport", BLOCK])),
            Granted { block: true, users: false }
        );
        assert_eq!(
            Granted::from_list(&list(&[USERS, BLOCK])),
            Granted { block: true, users: true }
        );
    }

    #[test]
    fn strip_position_only_removes_a_real_position() {
        assert_eq!(strip_position("bad at line 1 column 7"), "bad");
        assert_eq!(strip_position("looked at line numbers"), "looked at line numbers");
        assert_eq!(strip_position("plain"), "plain");
    }
}
