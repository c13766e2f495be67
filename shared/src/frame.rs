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

    /// Extension `account`, client → server in the login object: the registered name's password.
    pub const PASSWORD: &str = "PASSWORD";
    /// Extension `account`: in the login object (client → server), a session token to log in
    /// with; server → client, a new session token.
    pub const TOKEN: &str = "TOKEN";
    /// Extension `account`, client → server: register the current name with this password.
    pub const REGISTER: &str = "REGISTER";
    /// Extension `account`, client → server: `[old, new]` password.
    pub const CHANGE_PASSWORD: &str = "CHANGE_PASSWORD";
    /// Extension `account`, client → server: remove the account (with its password).
    pub const UNREGISTER: &str = "UNREGISTER";
    /// Extension `account`, client → server: ask for `SESSIONS`.
    pub const LIST_SESSIONS: &str = "LIST_SESSIONS";
    /// Extension `account`, client → server: revoke one session token by its id.
    pub const REVOKE_SESSION: &str = "REVOKE_SESSION";
    /// Extension `account`, client → server: `"this"` or `"everywhere"`.
    pub const LOGOUT: &str = "LOGOUT";
    /// Extension `account`, server → client: whether the current name is a registered account.
    pub const REGISTERED: &str = "REGISTERED";
    /// Extension `account`, server → client: the account's session tokens.
    pub const SESSIONS: &str = "SESSIONS";
    /// Extensions `account` and `moderation`, server → client, beside the ERROR a connection
    /// is closed with: the server ended the session on purpose ([`super::ended`]), so the
    /// client should not log back in by itself.
    pub const DISCONNECTED: &str = "DISCONNECTED";

    /// Extension `moderation`, server → client: whether this user is an operator.
    pub const OPERATOR: &str = "OPERATOR";
    /// Extension `moderation`, client → server: disconnect a user.
    pub const KICK: &str = "KICK";
    /// Extension `moderation`, client → server: ban a name and/or an address.
    pub const BAN: &str = "BAN";
    /// Extension `moderation`, client → server: lift the bans of a name or an address.
    pub const UNBAN: &str = "UNBAN";
    /// Extension `moderation`, client → server: refuse a user's messages for a while.
    pub const MUTE: &str = "MUTE";
    /// Extension `moderation`, client → server: lift a mute.
    pub const UNMUTE: &str = "UNMUTE";
    /// Extension `moderation`, client → server: ask for `BANS`.
    pub const LIST_BANS: &str = "LIST_BANS";
    /// Extension `moderation`, server → client: the bans and mutes in force.
    pub const BANS: &str = "BANS";
    /// Extension `rooms`, client → server: join a room (creating it if new).
    pub const JOIN: &str = "JOIN";
    /// Extension `rooms`, client → server: leave a room.
    pub const PART: &str = "PART";
    /// Extension `rooms`, client → server: ask for `ROOMS`.
    pub const LIST_ROOMS: &str = "LIST_ROOMS";
    /// Extension `rooms`, server → client: every room, with its members and topic.
    pub const ROOMS: &str = "ROOMS";
    /// Extension `rooms`, server → client: the room just joined, who is in it, and its
    /// history in the same frame's `MESSAGES`.
    pub const JOINED: &str = "JOINED";
    /// Extension `rooms`, server → client: the room just left.
    pub const PARTED: &str = "PARTED";
    /// Extension `rooms`, server → client: others who joined one of the user's rooms.
    pub const ROOM_JOINED: &str = "ROOM_JOINED";
    /// Extension `rooms`, server → client: others who left one of the user's rooms.
    pub const ROOM_LEFT: &str = "ROOM_LEFT";
    /// Extension `rooms`, server → client, in the login answer: the rooms the user is in.
    pub const MY_ROOMS: &str = "MY_ROOMS";
    /// Extension `rooms`, client → server (operators): set or clear a room's topic.
    pub const TOPIC: &str = "TOPIC";
    /// Extension `rooms`, client → server (operators): make a room invite-only, or open it.
    pub const INVITE_ONLY: &str = "INVITE_ONLY";
    /// Extension `rooms`, client → server (operators and the room's members): let a name
    /// join an invite-only room.
    pub const INVITE: &str = "INVITE";
    /// Extension `rooms`, server → client: a room's topic or openness changed.
    pub const ROOM_CHANGED: &str = "ROOM_CHANGED";
    /// Extension `rooms`, server → client: the user was invited to a room.
    pub const INVITED: &str = "INVITED";
    /// Extension `resume`, client → server, in the login object: the id of the last message
    /// the client has; the login's history is what came after it.
    pub const SINCE: &str = "SINCE";
    /// Extension `resume`, server → client, in the login answer: how many messages after
    /// `SINCE` the history leaves out (it holds the newest `--history`).
    pub const MISSED: &str = "MISSED";
    /// Extension `edit`, client → server: replace the text of one of the user's messages.
    pub const EDIT: &str = "EDIT";
    /// Extension `edit`, client → server: delete a message (the user's own; operators: any
    /// public one).
    pub const DELETE: &str = "DELETE";
    /// Extension `search`, client → server: full-text search of the history the user may see.
    pub const SEARCH: &str = "SEARCH";
    /// Extension `search`, server → client: a search's results.
    pub const FOUND: &str = "FOUND";
    /// Extension `files`, client → server: a file to send (its name, size, SHA-256 and where).
    pub const UPLOAD: &str = "UPLOAD";
    /// Extension `files`, server → client: send the upload's bytes from `OFFSET` on.
    pub const UPLOADING: &str = "UPLOADING";
    /// Extension `files`, client → server: one piece of the upload's bytes.
    pub const CHUNK: &str = "CHUNK";
    /// Extension `files`, server → client: the upload is complete and its message posted.
    pub const UPLOADED: &str = "UPLOADED";
    /// Extension `files`, client → server: a piece of the file of message `ID`.
    pub const FETCH: &str = "FETCH";
    /// Extension `files`, server → client: the piece asked for.
    pub const FILE_DATA: &str = "FILE_DATA";
    /// Extension `files`, server → client, on a WebSocket after the login answer: the path
    /// under which the page uploads and fetches files over HTTPS.
    pub const FILES_URL: &str = "FILES_URL";
}

/// Values of `DISCONNECTED`: why the server closed a connection on purpose.
pub mod ended {
    /// Extension `account`: the same account logged in on another connection, which took the
    /// name over (a client that reconnected by itself would take it back, and so on).
    pub const REPLACED: &str = "replaced";
    /// Extension `moderation`: an operator kicked or banned the user.
    pub const REMOVED: &str = "removed";
}

/// Names of the negotiated extensions (PROTOCOL.md, "Extensions").
pub mod features {
    /// Blocking: `BLOCK`, `UNBLOCK`, `LIST_BLOCKED` → `BLOCKED`.
    pub const BLOCK: &str = "block";
    /// The list of every user ever seen: `LIST_ALL_USERS` → `ALL_USERS`.
    pub const USERS: &str = "users";
    /// Accounts: registered names, passwords, session tokens.
    pub const ACCOUNT: &str = "account";
    /// Operators: kick, ban, mute.
    pub const MODERATION: &str = "moderation";
    /// Rooms: `JOIN`, `PART`, `LIST_ROOMS`, messages to `#room`, room presence.
    pub const ROOMS: &str = "rooms";
    /// Message ids and resuming: every message entry carries its ID, and a login with
    /// `SINCE` gets only what came after.
    pub const RESUME: &str = "resume";
    /// Editing and deleting messages: `EDIT`, `DELETE`; entries carry their ID and, for a
    /// change, a sixth element saying what it changes.
    pub const EDIT: &str = "edit";
    /// Full-text search: `SEARCH` → `FOUND`.
    pub const SEARCH: &str = "search";
    /// Compressed frames on the native protocol: zstd, flagged in the length prefix
    /// (WebSockets use permessage-deflate instead, negotiated in the upgrade).
    pub const COMPRESS: &str = "compress";
    /// Files: `UPLOAD` and `CHUNK` to send one, `FETCH` to download one; a file's message
    /// carries its name, size and type.
    pub const FILES: &str = "files";
    /// Every extension of this implementation: what its server grants (`compress` on the
    /// native protocol only).
    pub const ALL: [&str; 10] =
        [BLOCK, USERS, ACCOUNT, MODERATION, ROOMS, RESUME, EDIT, SEARCH, COMPRESS, FILES];
    /// The extensions both of this project's clients implement and ask for at login; each
    /// adds the ones only it shows so far (both: rooms; the terminal: edit and search).
    pub const CLIENTS: [&str; 5] = [BLOCK, USERS, ACCOUNT, MODERATION, RESUME];

    /// The extensions granted at login (the server's `FEATURES` answer), one flag each: what
    /// the server allows a session and what a client may offer its user.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Granted {
        /// [`BLOCK`]: blocking.
        pub block: bool,
        /// [`USERS`]: the list of everyone ever seen.
        pub users: bool,
        /// [`ACCOUNT`]: accounts and session tokens.
        pub account: bool,
        /// [`MODERATION`]: operators' actions.
        pub moderation: bool,
        /// [`ROOMS`]: rooms.
        pub rooms: bool,
        /// [`RESUME`]: message ids and resuming.
        pub resume: bool,
        /// [`EDIT`]: editing and deleting messages.
        pub edit: bool,
        /// [`SEARCH`]: full-text search.
        pub search: bool,
        /// [`COMPRESS`]: compressed frames.
        pub compress: bool,
        /// [`FILES`]: sending and downloading files.
        pub files: bool,
    }

    impl Granted {
        /// The flags of the extensions named in `list`; names this implementation does not
        /// know are left out.
        pub fn from_list(list: &[String]) -> Self {
            let has = |f: &str| list.iter().any(|g| g == f);
            Granted {
                block: has(BLOCK),
                users: has(USERS),
                account: has(ACCOUNT),
                moderation: has(MODERATION),
                rooms: has(ROOMS),
                resume: has(RESUME),
                edit: has(EDIT),
                search: has(SEARCH),
                compress: has(COMPRESS),
                files: has(FILES),
            }
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
    /// `PASSWORD` (extension `account`, login object): the registered name's password.
    #[serde(rename = "PASSWORD", skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// `TOKEN` (extension `account`): a session token to log in with (client), or a new one (server).
    #[serde(rename = "TOKEN", skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `REGISTER` (extension `account`): register the current name with this password.
    #[serde(rename = "REGISTER", skip_serializing_if = "Option::is_none")]
    pub register: Option<String>,
    /// `CHANGE_PASSWORD` (extension `account`): `[old, new]`.
    #[serde(rename = "CHANGE_PASSWORD", skip_serializing_if = "Option::is_none")]
    pub change_password: Option<[String; 2]>,
    /// `UNREGISTER` (extension `account`): remove the account; the value is its password.
    #[serde(rename = "UNREGISTER", skip_serializing_if = "Option::is_none")]
    pub unregister: Option<String>,
    /// `LIST_SESSIONS` (extension `account`): `true` asks for `SESSIONS`.
    #[serde(rename = "LIST_SESSIONS", skip_serializing_if = "Option::is_none")]
    pub list_sessions: Option<bool>,
    /// `REVOKE_SESSION` (extension `account`): the id of a session token to revoke.
    #[serde(rename = "REVOKE_SESSION", skip_serializing_if = "Option::is_none")]
    pub revoke_session: Option<String>,
    /// `LOGOUT` (extension `account`): `"this"` or `"everywhere"`.
    #[serde(rename = "LOGOUT", skip_serializing_if = "Option::is_none")]
    pub logout: Option<String>,
    /// `REGISTERED` (extension `account`): whether the current name is a registered account.
    #[serde(rename = "REGISTERED", skip_serializing_if = "Option::is_none")]
    pub registered: Option<bool>,
    /// `SESSIONS` (extension `account`): the account's session tokens, newest first.
    #[serde(rename = "SESSIONS", skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<SessionInfo>>,
    /// `DISCONNECTED` (extensions `account`, `moderation`): why the server closed the
    /// connection on purpose (see [`ended`]); the client does not reconnect by itself.
    #[serde(rename = "DISCONNECTED", skip_serializing_if = "Option::is_none")]
    pub disconnected: Option<String>,
    /// `OPERATOR` (extension `moderation`): whether this user is an operator.
    #[serde(rename = "OPERATOR", skip_serializing_if = "Option::is_none")]
    pub operator: Option<bool>,
    /// `KICK` (extension `moderation`): disconnect a user.
    #[serde(rename = "KICK", skip_serializing_if = "Option::is_none")]
    pub kick: Option<Kick>,
    /// `BAN` (extension `moderation`): ban a name and/or an address.
    #[serde(rename = "BAN", skip_serializing_if = "Option::is_none")]
    pub ban: Option<Ban>,
    /// `UNBAN` (extension `moderation`): lift the bans of this name or address.
    #[serde(rename = "UNBAN", skip_serializing_if = "Option::is_none")]
    pub unban: Option<String>,
    /// `MUTE` (extension `moderation`): refuse a user's messages for a while.
    #[serde(rename = "MUTE", skip_serializing_if = "Option::is_none")]
    pub mute: Option<Mute>,
    /// `UNMUTE` (extension `moderation`): lift this name's mute.
    #[serde(rename = "UNMUTE", skip_serializing_if = "Option::is_none")]
    pub unmute: Option<String>,
    /// `LIST_BANS` (extension `moderation`): `true` asks for `BANS`.
    #[serde(rename = "LIST_BANS", skip_serializing_if = "Option::is_none")]
    pub list_bans: Option<bool>,
    /// `BANS` (extension `moderation`): the bans and mutes in force.
    #[serde(rename = "BANS", skip_serializing_if = "Option::is_none")]
    pub bans: Option<Vec<BanInfo>>,
    /// `JOIN` (extension `rooms`): the room to join.
    #[serde(rename = "JOIN", skip_serializing_if = "Option::is_none")]
    pub join: Option<String>,
    /// `PART` (extension `rooms`): the room to leave.
    #[serde(rename = "PART", skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    /// `LIST_ROOMS` (extension `rooms`): asks for `ROOMS`.
    #[serde(rename = "LIST_ROOMS", skip_serializing_if = "Option::is_none")]
    pub list_rooms: Option<bool>,
    /// `ROOMS` (extension `rooms`): every room.
    #[serde(rename = "ROOMS", skip_serializing_if = "Option::is_none")]
    pub rooms: Option<Vec<RoomListing>>,
    /// `JOINED` (extension `rooms`): the room just joined.
    #[serde(rename = "JOINED", skip_serializing_if = "Option::is_none")]
    pub joined: Option<RoomInfo>,
    /// `PARTED` (extension `rooms`): the room just left.
    #[serde(rename = "PARTED", skip_serializing_if = "Option::is_none")]
    pub parted: Option<String>,
    /// `ROOM_JOINED` (extension `rooms`): others who joined a room of the user's.
    #[serde(rename = "ROOM_JOINED", skip_serializing_if = "Option::is_none")]
    pub room_joined: Option<RoomPresence>,
    /// `ROOM_LEFT` (extension `rooms`): others who left a room of the user's.
    #[serde(rename = "ROOM_LEFT", skip_serializing_if = "Option::is_none")]
    pub room_left: Option<RoomPresence>,
    /// `MY_ROOMS` (extension `rooms`, in the login answer): the rooms the user is in.
    #[serde(rename = "MY_ROOMS", skip_serializing_if = "Option::is_none")]
    pub my_rooms: Option<Vec<RoomInfo>>,
    /// `TOPIC` (extension `rooms`, operators): a room's new topic.
    #[serde(rename = "TOPIC", skip_serializing_if = "Option::is_none")]
    pub topic: Option<RoomTopic>,
    /// `INVITE_ONLY` (extension `rooms`, operators): open or close a room.
    #[serde(rename = "INVITE_ONLY", skip_serializing_if = "Option::is_none")]
    pub invite_only: Option<RoomInviteOnly>,
    /// `INVITE` (extension `rooms`): let a name into an invite-only room.
    #[serde(rename = "INVITE", skip_serializing_if = "Option::is_none")]
    pub invite: Option<RoomInvite>,
    /// `ROOM_CHANGED` (extension `rooms`): a room's topic or openness changed.
    #[serde(rename = "ROOM_CHANGED", skip_serializing_if = "Option::is_none")]
    pub room_changed: Option<RoomInfo>,
    /// `INVITED` (extension `rooms`): the user may join this room now.
    #[serde(rename = "INVITED", skip_serializing_if = "Option::is_none")]
    pub invited: Option<Invitation>,
    /// `SINCE` (extension `resume`, in the login object): the last message id the client has.
    #[serde(rename = "SINCE", skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// `MISSED` (extension `resume`, in the login answer): messages after `SINCE` left out.
    #[serde(rename = "MISSED", skip_serializing_if = "Option::is_none")]
    pub missed: Option<u64>,
    /// `EDIT` (extension `edit`): replace the text of one of the user's messages.
    #[serde(rename = "EDIT", skip_serializing_if = "Option::is_none")]
    pub edit: Option<Edit>,
    /// `DELETE` (extension `edit`): the id of a message to delete.
    #[serde(rename = "DELETE", skip_serializing_if = "Option::is_none")]
    pub delete: Option<i64>,
    /// `SEARCH` (extension `search`): a full-text search.
    #[serde(rename = "SEARCH", skip_serializing_if = "Option::is_none")]
    pub search: Option<Search>,
    /// `FOUND` (extension `search`): a search's results.
    #[serde(rename = "FOUND", skip_serializing_if = "Option::is_none")]
    pub found: Option<Found>,
    /// `UPLOAD` (extension `files`): a file to send.
    #[serde(rename = "UPLOAD", skip_serializing_if = "Option::is_none")]
    pub upload: Option<Upload>,
    /// `UPLOADING` (extension `files`): where the upload's bytes go on.
    #[serde(rename = "UPLOADING", skip_serializing_if = "Option::is_none")]
    pub uploading: Option<Uploading>,
    /// `CHUNK` (extension `files`): a piece of an upload.
    #[serde(rename = "CHUNK", skip_serializing_if = "Option::is_none")]
    pub chunk: Option<Chunk>,
    /// `UPLOADED` (extension `files`): the SHA256 of the upload just completed.
    #[serde(rename = "UPLOADED", skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<String>,
    /// `FETCH` (extension `files`): a piece of a file to download.
    #[serde(rename = "FETCH", skip_serializing_if = "Option::is_none")]
    pub fetch: Option<Fetch>,
    /// `FILE_DATA` (extension `files`): the piece asked for.
    #[serde(rename = "FILE_DATA", skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    /// `FILES_URL` (extension `files`, WebSocket): where the page's file requests go.
    #[serde(rename = "FILES_URL", skip_serializing_if = "Option::is_none")]
    pub files_url: Option<String>,
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
            (self.registered.is_some(), keys::REGISTERED),
            (self.sessions.is_some(), keys::SESSIONS),
            (self.disconnected.is_some(), keys::DISCONNECTED),
            (self.operator.is_some(), keys::OPERATOR),
            (self.bans.is_some(), keys::BANS),
            (self.rooms.is_some(), keys::ROOMS),
            (self.joined.is_some(), keys::JOINED),
            (self.parted.is_some(), keys::PARTED),
            (self.room_joined.is_some(), keys::ROOM_JOINED),
            (self.room_left.is_some(), keys::ROOM_LEFT),
            (self.my_rooms.is_some(), keys::MY_ROOMS),
            (self.room_changed.is_some(), keys::ROOM_CHANGED),
            (self.invited.is_some(), keys::INVITED),
            (self.missed.is_some(), keys::MISSED),
            (self.found.is_some(), keys::FOUND),
            (self.uploading.is_some(), keys::UPLOADING),
            (self.uploaded.is_some(), keys::UPLOADED),
            (self.file_data.is_some(), keys::FILE_DATA),
            (self.files_url.is_some(), keys::FILES_URL),
        ];
        for (is, key) in present {
            if is {
                out.push(key);
            }
        }
        out
    }
}

/// `KICK`: disconnect a user, with a reason everyone is shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct Kick {
    /// Whom.
    pub name: String,
    /// Why (shown to everyone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `BAN`: a name and/or an address may not log in until the ban ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct Ban {
    /// The name to ban.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An address to ban (an IP address, or a CIDR block such as `203.0.113.0/24`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Also ban the address `name` is connected from (or last held the name from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_address: Option<bool>,
    /// How long: `30m`, `12h`, `7d`, `2w`, or `forever` (see `validate::parse_duration`).
    pub duration: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `MUTE`: a user's messages are refused until the mute ends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct Mute {
    /// Whom.
    pub name: String,
    /// How long (as for [`Ban::duration`]).
    pub duration: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One entry of `SESSIONS`: a session token, described without the token itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub struct SessionInfo {
    /// Names the token for `REVOKE_SESSION`.
    pub id: String,
    /// When it was issued (Unix seconds).
    pub created: i64,
    /// When it was last used to log in (Unix seconds).
    pub last_used: i64,
    /// When it expires unless used again (Unix seconds).
    pub expires: i64,
    /// The token this connection logged in with or was given.
    pub current: bool,
}

/// One entry of `BANS`: a ban or a mute in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub struct BanInfo {
    /// `"ban"` or `"mute"`.
    pub kind: String,
    /// The name it applies to, if any.
    #[serde(default)]
    pub name: Option<String>,
    /// The address it applies to, if any.
    #[serde(default)]
    pub address: Option<String>,
    /// The operator who set it.
    pub by: String,
    /// When (Unix seconds).
    pub at: i64,
    /// When it ends (Unix seconds); `null` for ever.
    #[serde(default)]
    pub until: Option<i64>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A room the user is in (`JOINED`, `MY_ROOMS`; extension `rooms`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct RoomInfo {
    /// The room, `#` and its lower-case name.
    pub name: String,
    /// Its topic, if one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Only those invited may join.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invite_only: bool,
    /// Its members online now, sorted.
    #[serde(default)]
    pub members: Vec<String>,
}

/// A room in the `ROOMS` list (extension `rooms`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct RoomListing {
    /// The room.
    pub name: String,
    /// Its topic, if one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Only those invited may join.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invite_only: bool,
    /// How many members it has (online or not).
    pub members: usize,
    /// How many of them are online now.
    pub online: usize,
}

/// `TOPIC` (extension `rooms`, operators): a room's topic; empty clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct RoomTopic {
    /// The room.
    pub room: String,
    /// The topic (at most 300 characters, no control characters; empty: none).
    pub topic: String,
}

/// `INVITE_ONLY` (extension `rooms`, operators): whether only invited names may join.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct RoomInviteOnly {
    /// The room.
    pub room: String,
    /// Invite-only (true) or open to all (false).
    pub on: bool,
}

/// `INVITE` (extension `rooms`): `name` may join `room` even while it is invite-only.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct RoomInvite {
    /// The room.
    pub room: String,
    /// Whom.
    pub name: String,
}

/// `INVITED` (extension `rooms`): an invitation to a room.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct Invitation {
    /// The room.
    pub room: String,
    /// Who invited.
    pub by: String,
}

/// Who joined or left a room (`ROOM_JOINED`, `ROOM_LEFT`; extension `rooms`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct RoomPresence {
    /// The room.
    pub room: String,
    /// Who.
    pub users: Vec<String>,
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
    /// ID (extensions `resume`, `edit`): the message's place in the server's order, a fifth
    /// element only clients that negotiated it receive. A client's own is ignored.
    pub id: Option<i64>,
    /// What this entry changes, or how it was changed (extension `edit`): a key of the sixth
    /// element, an object, only clients that negotiated `edit` receive.
    pub change: Option<Change>,
    /// The file this message shares (extension `files`): the sixth element's `FILE`, only
    /// clients that negotiated `files` receive (others read the message's CONTENT).
    pub file: Option<FileRef>,
}

/// A shared file as its message describes it (extension `files`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct FileRef {
    /// The name it was sent under (never a path).
    pub name: String,
    /// Its length in bytes.
    pub size: u64,
    /// Its media type, as the server read it from the bytes (not as the sender said).
    #[serde(rename = "TYPE")]
    pub kind: String,
    /// Its SHA-256 in lower-case hex: what a download is checked against.
    pub sha256: String,
}

/// `UPLOAD` (extension `files`): the file the client is about to send, and to whom.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct Upload {
    /// The file's name (shown, never used as a path).
    pub name: String,
    /// Its length in bytes.
    pub size: u64,
    /// Its SHA-256 in hex.
    pub sha256: String,
    /// `ALL`, a username, or a room (`#name`): where its message goes.
    pub to: String,
}

/// `UPLOADING` (extension `files`): the server has `OFFSET` bytes of the upload (more than 0
/// when an interrupted upload resumes); the client sends the rest from there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct Uploading {
    /// The upload's SHA-256.
    pub sha256: String,
    /// Where its bytes go on.
    pub offset: u64,
}

/// `CHUNK` (extension `files`): bytes of the current upload at `OFFSET`, base64 in `DATA`
/// (at most [`crate::limits::FILE_CHUNK`] bytes before encoding).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct Chunk {
    /// The upload's SHA-256.
    pub sha256: String,
    /// Where these bytes go.
    pub offset: u64,
    /// The bytes, base64 (standard alphabet, padded).
    pub data: String,
}

/// `FETCH` (extension `files`): up to [`crate::limits::FILE_CHUNK`] bytes of the file of
/// message `ID` from `OFFSET`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct Fetch {
    /// The file's message.
    pub id: i64,
    /// Where to read from.
    #[serde(default)]
    pub offset: u64,
}

/// `FILE_DATA` (extension `files`): a piece of the file of message `ID`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct FileData {
    /// The file's message.
    pub id: i64,
    /// Where these bytes are in the file.
    pub offset: u64,
    /// The whole file's length.
    pub size: u64,
    /// The bytes, base64 (empty at the end of the file).
    pub data: String,
}

/// An entry's sixth element (extension `edit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// `{"EDIT": id}`: this entry is an edit; message `id` now reads this entry's CONTENT
    /// (edited at its TIMESTAMP).
    Edit(i64),
    /// `{"DELETE": id}`: this entry deletes message `id` (its SRC is who deleted it).
    Delete(i64),
    /// `{"EDITED": t}` (in history): this message was last edited at `t`, its CONTENT is
    /// the new text.
    Edited(i64),
    /// `{"DELETED": t}` (in history): this message was deleted at `t`; CONTENT is empty.
    Deleted(i64),
}

impl Change {
    /// The entry is an edit or a delete of another (not a message of its own).
    pub fn is_event(self) -> bool {
        matches!(self, Change::Edit(_) | Change::Delete(_))
    }
}

/// A message entry's sixth element: an object holding its change (extension `edit`, one of
/// `EDIT`, `DELETE`, `EDITED`, `DELETED`) and/or its file (extension `files`, `FILE`).
struct Sixth<'a> {
    change: Option<Change>,
    file: Option<std::borrow::Cow<'a, FileRef>>,
}

impl<'a> Sixth<'a> {
    fn of(change: Option<Change>, file: Option<&'a FileRef>) -> Self {
        Sixth { change, file: file.map(std::borrow::Cow::Borrowed) }
    }
}

impl Serialize for Sixth<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        if let Some(change) = self.change {
            let (key, value) = match change {
                Change::Edit(id) => ("EDIT", id),
                Change::Delete(id) => ("DELETE", id),
                Change::Edited(t) => ("EDITED", t),
                Change::Deleted(t) => ("DELETED", t),
            };
            map.serialize_entry(key, &value)?;
        }
        if let Some(file) = &self.file {
            map.serialize_entry("FILE", file.as_ref())?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Sixth<'static> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(
            rename_all = "UPPERCASE",
            deny_unknown_fields,
            expecting = "an object with one of EDIT, DELETE, EDITED, DELETED and/or FILE"
        )]
        struct Raw {
            edit: Option<i64>,
            delete: Option<i64>,
            edited: Option<i64>,
            deleted: Option<i64>,
            file: Option<FileRef>,
        }
        let raw = Raw::deserialize(d)?;
        let change = match (raw.edit, raw.delete, raw.edited, raw.deleted) {
            (None, None, None, None) => None,
            (Some(id), None, None, None) => Some(Change::Edit(id)),
            (None, Some(id), None, None) => Some(Change::Delete(id)),
            (None, None, Some(t), None) => Some(Change::Edited(t)),
            (None, None, None, Some(t)) => Some(Change::Deleted(t)),
            _ => {
                return Err(de::Error::custom(
                    "a change holds exactly one of EDIT, DELETE, EDITED, DELETED",
                ));
            }
        };
        if change.is_none() && raw.file.is_none() {
            return Err(de::Error::custom(
                "the sixth element holds one of EDIT, DELETE, EDITED, DELETED or FILE",
            ));
        }
        Ok(Sixth { change, file: raw.file.map(std::borrow::Cow::Owned) })
    }
}

/// `EDIT` (extension `edit`): replace the text of message `ID`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct Edit {
    /// The message's id.
    pub id: i64,
    /// Its new text.
    pub content: String,
}

/// `SEARCH` (extension `search`): messages the user may see that hold every word of `QUERY`
/// (a `"quoted phrase"` as a phrase), newest first, narrowed by the optional filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct Search {
    /// The words and phrases to find.
    pub query: String,
    /// Only in this room (`#name`), or `ALL` for the main room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Only messages from this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Only messages at or after this time (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
    /// Only messages before this time (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
    /// Paging: only messages with an id below this one (the last result's, for the next page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than: Option<i64>,
}

/// `FOUND` (extension `search`): one page of a search's results.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct Found {
    /// The query, as asked.
    pub query: String,
    /// The matching messages, newest first.
    pub results: Vec<Hit>,
    /// More results are older than the last one (ask again with `OLDER_THAN`).
    pub more: bool,
}

/// One search result: the message and its neighbours in the same conversation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE", deny_unknown_fields)]
pub struct Hit {
    /// The message found, with its id.
    pub message: Message,
    /// The messages just before and just after it where it was written (oldest first; at most
    /// one each side), that the user may see.
    pub context: Vec<Message>,
}

impl Message {
    /// A message entry from its four parts.
    pub fn new(
        src: impl Into<String>,
        dest: impl Into<String>,
        timestamp: i64,
        content: impl Into<String>,
    ) -> Self {
        Message {
            src: src.into(),
            dest: dest.into(),
            timestamp,
            content: content.into(),
            id: None,
            change: None,
            file: None,
        }
    }

    /// The same message carrying its id.
    pub fn with_id(mut self, id: i64) -> Self {
        self.id = Some(id);
        self
    }

    /// True for a public broadcast (DEST is `ALL`).
    pub fn is_broadcast(&self) -> bool {
        self.dest == crate::BROADCAST
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.id, self.change, &self.file) {
            (None, None, None) => {
                (&self.src, &self.dest, self.timestamp, &self.content).serialize(s)
            }
            (Some(id), None, None) => {
                (&self.src, &self.dest, self.timestamp, &self.content, id).serialize(s)
            }
            // A change without an id yet (between the nodes of a cluster) has a null ID.
            (id, change, file) => {
                let sixth = Sixth::of(change, file.as_ref());
                (&self.src, &self.dest, self.timestamp, &self.content, id, sixth).serialize(s)
            }
        }
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
        let id = seq.next_element::<Option<i64>>().map_err(|e| in_key("ID", e))?.flatten();
        let sixth = seq.next_element::<Sixth<'static>>().map_err(|e| in_key("CHANGE", e))?;
        let (change, file) = match sixth {
            Some(Sixth { change, file }) => (change, file.map(std::borrow::Cow::into_owned)),
            None => (None, None),
        };
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(
                "a message has more than 6 elements; expected [SRC, DEST, TIMESTAMP, CONTENT] \
                 (and an ID and a change from a server, extensions resume and edit)",
            ));
        }
        Ok(Message { src, dest, timestamp, content, id, change, file })
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
                keys::PASSWORD => fill(&mut frame.password, &mut map, keys::PASSWORD)?,
                keys::TOKEN => fill(&mut frame.token, &mut map, keys::TOKEN)?,
                keys::REGISTER => fill(&mut frame.register, &mut map, keys::REGISTER)?,
                keys::CHANGE_PASSWORD => {
                    fill(&mut frame.change_password, &mut map, keys::CHANGE_PASSWORD)?
                }
                keys::UNREGISTER => fill(&mut frame.unregister, &mut map, keys::UNREGISTER)?,
                keys::LIST_SESSIONS => {
                    fill(&mut frame.list_sessions, &mut map, keys::LIST_SESSIONS)?
                }
                keys::REVOKE_SESSION => {
                    fill(&mut frame.revoke_session, &mut map, keys::REVOKE_SESSION)?
                }
                keys::LOGOUT => fill(&mut frame.logout, &mut map, keys::LOGOUT)?,
                keys::REGISTERED => fill(&mut frame.registered, &mut map, keys::REGISTERED)?,
                keys::SESSIONS => fill(&mut frame.sessions, &mut map, keys::SESSIONS)?,
                keys::DISCONNECTED => fill(&mut frame.disconnected, &mut map, keys::DISCONNECTED)?,
                keys::OPERATOR => fill(&mut frame.operator, &mut map, keys::OPERATOR)?,
                keys::KICK => fill(&mut frame.kick, &mut map, keys::KICK)?,
                keys::BAN => fill(&mut frame.ban, &mut map, keys::BAN)?,
                keys::UNBAN => fill(&mut frame.unban, &mut map, keys::UNBAN)?,
                keys::MUTE => fill(&mut frame.mute, &mut map, keys::MUTE)?,
                keys::UNMUTE => fill(&mut frame.unmute, &mut map, keys::UNMUTE)?,
                keys::LIST_BANS => fill(&mut frame.list_bans, &mut map, keys::LIST_BANS)?,
                keys::BANS => fill(&mut frame.bans, &mut map, keys::BANS)?,
                keys::JOIN => fill(&mut frame.join, &mut map, keys::JOIN)?,
                keys::PART => fill(&mut frame.part, &mut map, keys::PART)?,
                keys::LIST_ROOMS => fill(&mut frame.list_rooms, &mut map, keys::LIST_ROOMS)?,
                keys::ROOMS => fill(&mut frame.rooms, &mut map, keys::ROOMS)?,
                keys::JOINED => fill(&mut frame.joined, &mut map, keys::JOINED)?,
                keys::PARTED => fill(&mut frame.parted, &mut map, keys::PARTED)?,
                keys::ROOM_JOINED => fill(&mut frame.room_joined, &mut map, keys::ROOM_JOINED)?,
                keys::ROOM_LEFT => fill(&mut frame.room_left, &mut map, keys::ROOM_LEFT)?,
                keys::MY_ROOMS => fill(&mut frame.my_rooms, &mut map, keys::MY_ROOMS)?,
                keys::TOPIC => fill(&mut frame.topic, &mut map, keys::TOPIC)?,
                keys::INVITE_ONLY => fill(&mut frame.invite_only, &mut map, keys::INVITE_ONLY)?,
                keys::INVITE => fill(&mut frame.invite, &mut map, keys::INVITE)?,
                keys::ROOM_CHANGED => fill(&mut frame.room_changed, &mut map, keys::ROOM_CHANGED)?,
                keys::INVITED => fill(&mut frame.invited, &mut map, keys::INVITED)?,
                keys::SINCE => fill(&mut frame.since, &mut map, keys::SINCE)?,
                keys::MISSED => fill(&mut frame.missed, &mut map, keys::MISSED)?,
                keys::EDIT => fill(&mut frame.edit, &mut map, keys::EDIT)?,
                keys::DELETE => fill(&mut frame.delete, &mut map, keys::DELETE)?,
                keys::SEARCH => fill(&mut frame.search, &mut map, keys::SEARCH)?,
                keys::FOUND => fill(&mut frame.found, &mut map, keys::FOUND)?,
                keys::UPLOAD => fill(&mut frame.upload, &mut map, keys::UPLOAD)?,
                keys::UPLOADING => fill(&mut frame.uploading, &mut map, keys::UPLOADING)?,
                keys::CHUNK => fill(&mut frame.chunk, &mut map, keys::CHUNK)?,
                keys::UPLOADED => fill(&mut frame.uploaded, &mut map, keys::UPLOADED)?,
                keys::FETCH => fill(&mut frame.fetch, &mut map, keys::FETCH)?,
                keys::FILE_DATA => fill(&mut frame.file_data, &mut map, keys::FILE_DATA)?,
                keys::FILES_URL => fill(&mut frame.files_url, &mut map, keys::FILES_URL)?,
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
            Granted { block: true, ..Granted::default() }
        );
        assert_eq!(
            Granted::from_list(&list(&[USERS, BLOCK])),
            Granted { block: true, users: true, ..Granted::default() }
        );
    }

    #[test]
    fn strip_position_only_removes_a_real_position() {
        assert_eq!(strip_position("bad at line 1 column 7"), "bad");
        assert_eq!(strip_position("looked at line numbers"), "looked at line numbers");
        assert_eq!(strip_position("plain"), "plain");
    }
}
