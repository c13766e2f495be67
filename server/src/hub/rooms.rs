//! The hub's rooms (extension `rooms`): who is in which room, `JOIN`, `PART` and
//! `LIST_ROOMS`, and who a room's message goes to.
//!
//! Membership is kept by the names' keys and outlives a login (a member is offline, not
//! gone); a member gets a room's messages live only from the event at which it joined (or
//! logged in), everything before that is in the history its `JOINED` (or login) answer
//! replays. Room presence: `ROOM_JOINED` when someone joins a room or logs in while a member,
//! `ROOM_LEFT` when someone parts; a member who goes offline is in `USERS_LEFT`, which every
//! client applies to all its rooms.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use shared::Frame;
use shared::frame::{RoomInfo, RoomListing, RoomPresence};
use shared::json::encode;
use shared::limits::{MAX_ROOMS, MAX_ROOMS_PER_USER};
use tokio::sync::oneshot;

use super::{ConnId, Hub, unix_now};
use crate::outbox::Out;
use crate::rooms::{RoomOp, StoredRoom};
use crate::store::Op;

/// A room in the hub's memory.
#[derive(Debug, Default)]
pub(super) struct Room {
    topic: Option<String>,
    invite_only: bool,
    /// Members' keys → the event after which they get its messages live.
    pub(super) members: BTreeMap<String, u64>,
    /// Keys of the names invited and not in yet.
    invited: BTreeSet<String>,
}

/// Every room, and each member's rooms.
#[derive(Debug, Default)]
pub(super) struct Rooms {
    pub(super) rooms: BTreeMap<String, Room>,
    /// Each member's rooms, by the member's key.
    of: HashMap<String, BTreeSet<String>>,
}

impl Rooms {
    /// The rooms the store holds.
    pub(super) fn load(stored: Vec<StoredRoom>) -> Rooms {
        let mut rooms = Rooms::default();
        for r in stored {
            let members = r.members.iter().map(|k| (k.clone(), 0)).collect();
            for key in r.members {
                rooms.of.entry(key).or_default().insert(r.name.clone());
            }
            let invited = r.invited.into_iter().collect();
            let room = Room { topic: r.topic, invite_only: r.invite_only, members, invited };
            rooms.rooms.insert(r.name, room);
        }
        rooms
    }

    /// The rooms `key` is a member of, sorted.
    pub(super) fn of(&self, key: &str) -> Vec<String> {
        self.of.get(key).map(|r| r.iter().cloned().collect()).unwrap_or_default()
    }

    /// Whether `key` is a member of `room`.
    fn is_member(&self, room: &str, key: &str) -> bool {
        self.rooms.get(room).is_some_and(|r| r.members.contains_key(key))
    }

    /// Makes `key` a member of `room` (which exists), getting its messages after event `ev`.
    fn add(&mut self, room: &str, key: &str, ev: u64) {
        if let Some(r) = self.rooms.get_mut(room) {
            r.invited.remove(key);
            r.members.insert(key.to_owned(), ev);
            self.of.entry(key.to_owned()).or_default().insert(room.to_owned());
        }
    }

    /// `key` is no longer a member of `room`.
    fn remove(&mut self, room: &str, key: &str) {
        if let Some(r) = self.rooms.get_mut(room) {
            r.members.remove(key);
        }
        if let Some(set) = self.of.get_mut(key) {
            set.remove(room);
            if set.is_empty() {
                self.of.remove(key);
            }
        }
    }

    /// `key` is a member of no room any more.
    pub(super) fn remove_all(&mut self, key: &str) {
        for room in self.of.remove(key).unwrap_or_default() {
            if let Some(r) = self.rooms.get_mut(&room) {
                r.members.remove(key);
            }
        }
        for r in self.rooms.values_mut() {
            r.invited.remove(key);
        }
    }

    /// Follows a change decided elsewhere (another node).
    pub(super) fn apply(&mut self, op: &RoomOp) {
        match op {
            RoomOp::Put { room, topic, invite_only, .. } => {
                let r = self.rooms.entry(room.clone()).or_default();
                r.topic.clone_from(topic);
                r.invite_only = *invite_only;
            }
            RoomOp::Invite { room, key, .. } => {
                if let Some(r) = self.rooms.get_mut(room) {
                    r.invited.insert(key.clone());
                }
            }
            RoomOp::Join { room, key } => self.add(room, key, 0),
            RoomOp::Part { room, key } => self.remove(room, key),
            RoomOp::PartAll { key } => self.remove_all(key),
        }
    }
}

/// A request of the `rooms` extension (room names already checked and in lower case).
#[derive(Debug)]
pub enum RoomRequest {
    /// Join a room, creating it if new.
    Join(String),
    /// Leave a room.
    Part(String),
    /// List every room.
    List,
    /// Set a room's topic (`None`: clear it); operators only.
    Topic(String, Option<String>),
    /// Make a room invite-only (`true`) or open it; operators only.
    InviteOnly(String, bool),
    /// Let the name into the room while it is invite-only; operators and members.
    Invite(String, String),
}

/// The hub's answer to a [`RoomRequest`].
#[derive(Debug)]
pub enum RoomAnswer {
    /// Joined: the room and who is in it; its history is the messages up to `upto` (read
    /// once they are committed), without those of the names in `hidden`.
    Joined {
        /// The room.
        info: RoomInfo,
        /// The last message id assigned before the join.
        upto: i64,
        /// The keys the user's blocks hide (both ways).
        hidden: Vec<String>,
    },
    /// A frame to send as it is: `PARTED`, `ROOMS`, or an `ERROR`.
    Frame(Box<Frame>),
}

impl Hub {
    /// Answers a request of the `rooms` extension from the user on `conn`.
    pub(super) async fn room_request(
        &mut self,
        conn: ConnId,
        request: RoomRequest,
        reply: oneshot::Sender<RoomAnswer>,
    ) {
        let Some(me) = self.names.get(&conn).cloned() else { return };
        let Some((key, operator)) = self.users.get(&me).map(|u| (u.key.clone(), u.operator)) else {
            return;
        };
        let answer = match request {
            RoomRequest::Join(room) => self.join_room(&me, &key, operator, room).await,
            RoomRequest::Part(room) => self.part_room(&me, &key, room).await,
            RoomRequest::List => RoomAnswer::Frame(Box::new(Frame {
                rooms: Some(self.listing()),
                ..Frame::default()
            })),
            RoomRequest::Topic(room, topic) => {
                self.change_room(&me, operator, &room, |r| r.topic = topic).await
            }
            RoomRequest::InviteOnly(room, on) => {
                self.change_room(&me, operator, &room, |r| r.invite_only = on).await
            }
            RoomRequest::Invite(room, name) => self.invite(&me, &key, operator, room, name).await,
        };
        let _ = reply.send(answer);
    }

    async fn join_room(&mut self, me: &str, key: &str, operator: bool, room: String) -> RoomAnswer {
        let refuse = |text: String| RoomAnswer::Frame(Box::new(Frame::error(text)));
        let member = self.rooms.is_member(&room, key);
        if !member {
            if self.rooms.of(key).len() >= MAX_ROOMS_PER_USER {
                return refuse(format!(
                    "You are in {MAX_ROOMS_PER_USER} rooms, the most one may be in; PART one \
                     before you join {room}."
                ));
            }
            match self.rooms.rooms.get(&room) {
                None if self.rooms.rooms.len() >= MAX_ROOMS => {
                    return refuse(format!(
                        "This server keeps at most {MAX_ROOMS} rooms and has them all; join \
                         one of them instead of {room}."
                    ));
                }
                None => {
                    self.rooms.rooms.insert(room.clone(), Room::default());
                    let op = RoomOp::Put {
                        room: room.clone(),
                        topic: None,
                        invite_only: false,
                        created: unix_now(),
                    };
                    self.room_op(op).await;
                }
                Some(r) if r.invite_only && !operator && !r.invited.contains(key) => {
                    return refuse(format!(
                        "{room} is invite-only: ask one of its members or an operator to invite you."
                    ));
                }
                Some(_) => {}
            }
        }
        // From now on its messages reach this connection live; those before are in the
        // history the answer replays (a member joining again gets it again, not twice).
        self.rooms.add(&room, key, self.ev);
        if !member {
            self.room_op(RoomOp::Join { room: room.clone(), key: key.to_owned() }).await;
            self.room_presence(&room, me, true);
        }
        let mut hidden: Vec<String> = self.hidden_from(key).into_iter().collect();
        hidden.sort_unstable();
        RoomAnswer::Joined { info: self.room_info(&room), upto: self.next_id - 1, hidden }
    }

    async fn part_room(&mut self, me: &str, key: &str, room: String) -> RoomAnswer {
        if !self.rooms.is_member(&room, key) {
            let text = if self.rooms.rooms.contains_key(&room) {
                format!("You are not in {room}.")
            } else {
                format!("There is no room {room}.")
            };
            return RoomAnswer::Frame(Box::new(Frame::error(text)));
        }
        self.rooms.remove(&room, key);
        self.room_op(RoomOp::Part { room: room.clone(), key: key.to_owned() }).await;
        self.room_presence(&room, me, false);
        RoomAnswer::Frame(Box::new(Frame { parted: Some(room), ..Frame::default() }))
    }

    /// An operator's change to `room` (its topic or openness): stored, and told to its members
    /// online (`ROOM_CHANGED`); the operator gets the same as its answer.
    async fn change_room(
        &mut self,
        me: &str,
        operator: bool,
        room: &str,
        change: impl FnOnce(&mut Room),
    ) -> RoomAnswer {
        let refuse = |text: String| RoomAnswer::Frame(Box::new(Frame::error(text)));
        if !operator {
            return refuse("Only operators can change a room's topic or who may join it.".into());
        }
        let Some(r) = self.rooms.rooms.get_mut(room) else {
            return refuse(format!("There is no room {room}."));
        };
        change(r);
        let op = RoomOp::Put {
            room: room.to_owned(),
            topic: r.topic.clone(),
            invite_only: r.invite_only,
            created: unix_now(), // a change keeps the stored creation time
        };
        self.room_op(op).await;
        let info = self.room_info(room);
        self.room_changed(room, me, &info);
        RoomAnswer::Frame(Box::new(Frame { room_changed: Some(info), ..Frame::default() }))
    }

    /// Tells `room`'s members online here (but `except`) what it is now.
    pub(super) fn room_changed(&mut self, room: &str, except: &str, info: &RoomInfo) {
        let frame = Frame { room_changed: Some(info.clone()), ..Frame::default() };
        self.send_to_members(room, except, &frame);
    }

    async fn invite(
        &mut self,
        me: &str,
        key: &str,
        operator: bool,
        room: String,
        name: String,
    ) -> RoomAnswer {
        let refuse = |text: String| RoomAnswer::Frame(Box::new(Frame::error(text)));
        let Some(r) = self.rooms.rooms.get(&room) else {
            return refuse(format!("There is no room {room}."));
        };
        if !operator && !r.members.contains_key(key) {
            return refuse(format!("Only {room}'s members and operators can invite to it."));
        }
        let invited = shared::names::name_key(&name);
        if r.members.contains_key(&invited) {
            return refuse(format!("{name} is in {room} already."));
        }
        let op = RoomOp::Invite { room: room.clone(), key: invited.clone(), by: me.to_owned() };
        self.rooms.apply(&op);
        self.room_op(op).await;
        if let Some(holder) = self.keys.get(&invited).cloned() {
            self.tell_invited(&holder, &room, me);
        }
        let info = format!("{name} may join {room} now.");
        RoomAnswer::Frame(Box::new(Frame { info: Some(info), ..Frame::default() }))
    }

    /// Tells `name` (online here) that `by` invited it to `room`, if its client has rooms.
    pub(super) fn tell_invited(&mut self, name: &str, room: &str, by: &str) {
        if self.users.get(name).is_some_and(|u| u.rooms) {
            let invitation = shared::frame::Invitation { room: room.to_owned(), by: by.to_owned() };
            self.send_frame(name, &Frame { invited: Some(invitation), ..Frame::default() });
        }
    }

    /// Stores a room change (and, in a cluster, tells the other nodes).
    pub(super) async fn room_op(&mut self, op: RoomOp) {
        if let Some(link) = &self.link {
            let event = crate::cluster::Event::Room { node: link.node.clone(), op: op.clone() };
            link.queue(super::cluster::Job::Publish { event, from: Vec::new() }).await;
        }
        let _ = self.store.send(Op::Room(op)).await;
    }

    /// The names of `room`'s members online now (on any node), sorted.
    fn online_members(&self, room: &str) -> Vec<String> {
        let Some(r) = self.rooms.rooms.get(room) else { return Vec::new() };
        let mut names: Vec<String> = r
            .members
            .keys()
            .filter_map(|k| {
                self.keys.get(k).or_else(|| self.link.as_ref().and_then(|l| l.remote_keys.get(k)))
            })
            .cloned()
            .collect();
        names.sort_unstable();
        names
    }

    /// What a member is told of `room`.
    pub(super) fn room_info(&self, room: &str) -> RoomInfo {
        let r = self.rooms.rooms.get(room);
        RoomInfo {
            name: room.to_owned(),
            topic: r.and_then(|r| r.topic.clone()),
            invite_only: r.is_some_and(|r| r.invite_only),
            members: self.online_members(room),
        }
    }

    /// Every room for `ROOMS`.
    fn listing(&self) -> Vec<RoomListing> {
        self.rooms
            .rooms
            .iter()
            .map(|(name, r)| RoomListing {
                name: name.clone(),
                topic: r.topic.clone(),
                invite_only: r.invite_only,
                members: r.members.len(),
                online: self.online_members(name).len(),
            })
            .collect()
    }

    /// Tells `room`'s other members online here that `name` joined (or left) it.
    pub(super) fn room_presence(&mut self, room: &str, name: &str, joined: bool) {
        if !self.rooms.rooms.contains_key(room) {
            return;
        }
        let presence = RoomPresence { room: room.to_owned(), users: vec![name.to_owned()] };
        let frame = if joined {
            Frame { room_joined: Some(presence), ..Frame::default() }
        } else {
            Frame { room_left: Some(presence), ..Frame::default() }
        };
        self.send_to_members(room, name, &frame);
    }

    /// Sends `frame` to `room`'s members online here who have rooms, but `except`.
    fn send_to_members(&mut self, room: &str, except: &str, frame: &Frame) {
        let Some(r) = self.rooms.rooms.get(room) else { return };
        let item = Out::Frame(Bytes::from(encode(frame)));
        let mut slow = Vec::new();
        for key in r.members.keys() {
            let Some(u) = self.keys.get(key).and_then(|n| self.users.get(n)) else { continue };
            if u.rooms
                && self.keys.get(key).is_some_and(|n| n != except)
                && u.peer.outbox.try_send(item.clone()).is_err()
            {
                slow.push(key.clone());
            }
        }
        for key in slow {
            if let Some(n) = self.keys.get(&key).cloned() {
                self.kick(&n);
            }
        }
    }

    /// The rooms of the user `name` (key `key`) who just logged in with the extension: what
    /// its login answer tells of each, its other members told it is back.
    pub(super) fn rooms_at_login(&mut self, name: &str, key: &str) -> Vec<RoomInfo> {
        let rooms = self.rooms.of(key);
        for room in &rooms {
            self.room_presence(room, name, true);
        }
        rooms.iter().map(|r| self.room_info(r)).collect()
    }
}
