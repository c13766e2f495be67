//! Rooms (extension `rooms`): what the store keeps of them.
//!
//! A room is created by its first `JOIN` and kept: its name, topic and whether it is
//! invite-only, and its members by their names' keys (a member stays one while offline, so
//! that a login finds its rooms again). Messages to a room are stored with the room's name
//! as their DEST and in a column of their own, `room`, which private and public history never
//! read: a room's messages are replayed only to its members.

use serde::{Deserialize, Serialize};

/// A change to the rooms, for the store (and, in a cluster, for the other nodes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "r", rename_all = "snake_case")]
pub enum RoomOp {
    /// The room exists with these settings (created now, or changed).
    Put {
        /// `#` and its lower-case name.
        room: String,
        /// Its topic.
        topic: Option<String>,
        /// Only invited names may join.
        invite_only: bool,
        /// When it was created (Unix seconds).
        created: i64,
    },
    /// The name with key `key` may join `room` while it is invite-only.
    Invite {
        /// The room.
        room: String,
        /// The invited name's key.
        key: String,
        /// Who invited (shown to the invited; not stored).
        by: String,
    },
    /// The name with key `key` is a member of `room` (an invitation to it is used up).
    Join {
        /// The room.
        room: String,
        /// The member's key.
        key: String,
    },
    /// The name with key `key` is no longer a member of `room`.
    Part {
        /// The room.
        room: String,
        /// The former member's key.
        key: String,
    },
    /// The name with key `key` is a member of no room any more (a new holder of an
    /// unregistered name does not inherit the rooms of the one before).
    PartAll {
        /// The key.
        key: String,
    },
}

/// A room as the store holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredRoom {
    /// `#` and its lower-case name.
    pub name: String,
    /// Its topic.
    pub topic: Option<String>,
    /// Only invited names may join.
    pub invite_only: bool,
    /// When it was created (Unix seconds).
    pub created: i64,
    /// Its members' keys, sorted.
    pub members: Vec<String>,
    /// The keys of the names invited and not yet in, sorted.
    pub invited: Vec<String>,
}

/// The room a message's DEST names, if it names one (usernames never begin with `#`).
pub fn room_of(dest: &str) -> Option<&str> {
    dest.starts_with(shared::validate::ROOM_PREFIX).then_some(dest)
}
