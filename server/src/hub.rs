//! The hub: who is online, the order of everything, and fan-out.
//!
//! One task owns the state and is fed by a bounded queue ([`HubHandle`]); nothing else touches
//! the set of online users, so there are no locks. For each message the hub checks routing
//! (DEST online), assigns the next id (the server's order), encodes the entry once, hands the
//! message to the store's writer, and parks the encoded entry in `pending`. When the writer
//! publishes that the id is committed, the hub fans the bytes out to each recipient's bounded
//! outbox. Presence changes (joins, leaves) travel through the same `pending` queue, so every
//! client sees messages and presence in one order.
//!
//! Every event gets a number (`ev`). A user who logs in at event `e` receives live only what
//! happens after `e`; everything up to the last message id assigned before `e` is in the join
//! history the session reads. No message is lost or doubled at that boundary.
//!
//! A recipient whose outbox is full is disconnected (its session gets an ERROR and closes);
//! nobody waits for a slow reader.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use shared::frame::{Change, ended};
use shared::limits::MAX_CLOCK_SKEW_SECS;
use shared::names::name_key;
use shared::rules::{Route, route};
use shared::validate::validate_username;
use shared::{Frame, Message, encode, encode_message};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::outbox::{self, Out};
use crate::registry::{Proof, Registry, RegistryOp};
use crate::store::Op;
use crate::wire;

pub mod account;
pub mod cluster;
pub mod edit;
mod moderation;
pub mod rooms;

pub use moderation::Moderation;

/// Identifies one connection for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(u64);

impl ConnId {
    /// No connection of this node (a message that came from another node).
    pub const NONE: ConnId = ConnId(0);

    /// A fresh id.
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The INFO of a refusal because the name is taken (the protocol's own wording).
pub const NAME_IN_USE: &str = "The provided username is already in use.";

/// The ERROR a connection gets when it is dropped for not keeping up.
pub const TOO_SLOW: &str =
    "You are disconnected: your connection did not keep up with the messages sent to it.";

/// How a session reaches a logged-in user.
#[derive(Debug)]
pub struct Peer {
    /// The connection.
    pub conn: ConnId,
    /// Its bounded outbox.
    pub outbox: outbox::Sender,
    /// Cancelled by the hub to disconnect a peer (it fell behind, or an operator removed it).
    pub kick: CancellationToken,
    /// Why the peer is disconnected, when it is not for being [`TOO_SLOW`].
    pub goodbye: Arc<OnceLock<Goodbye>>,
}

/// Why the hub disconnects a user on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goodbye {
    /// The ERROR the connection is closed with.
    pub text: String,
    /// The `DISCONNECTED` value (see [`shared::frame::ended`]) for a client that negotiated
    /// its extension: [`ended::REPLACED`] (`account`) or [`ended::REMOVED`] (`moderation`);
    /// none for a slow reader, which may well come back.
    pub ended: Option<&'static str>,
}

impl Goodbye {
    /// For a connection that did not keep up.
    fn too_slow() -> Self {
        Goodbye { text: TOO_SLOW.to_owned(), ended: None }
    }
}

/// The ERROR a connection gets when a login of the same account takes the name over.
pub fn replaced(name: &str) -> String {
    format!("{name} logged in on another connection, which took over; this one is closed.")
}

/// A login for the hub to decide.
#[derive(Debug)]
pub struct LoginRequest {
    /// The (already validated) username.
    pub name: String,
    /// Its key ([`name_key`]).
    pub key: String,
    /// The client's address.
    pub ip: IpAddr,
    /// What the login offers as proof of owning the name.
    pub proof: Proof,
    /// The connection.
    pub peer: Peer,
    /// Where the answer goes.
    pub reply: oneshot::Sender<LoginAnswer>,
    /// In a cluster: the revision of the name's claim, to give it back at the leave.
    pub claim: Option<u64>,
    /// The session was granted the extension `rooms`.
    pub rooms: bool,
    /// The session was granted the extension `resume`.
    pub resume: bool,
    /// The session was granted the extension `edit`.
    pub edit: bool,
    /// The session was granted the extension `files`.
    pub files: bool,
}

/// A request to the hub.
#[derive(Debug)]
pub enum Command {
    /// Log a user in.
    Login(LoginRequest),
    /// The password hash of the account `key` and when it may be checked (its backoff);
    /// `None` if the name is not registered.
    Credentials {
        /// The account's key.
        key: String,
        /// Where the answer goes.
        reply: oneshot::Sender<Option<(Arc<str>, tokio::time::Instant)>>,
    },
    /// A password given for the account `key` was wrong.
    PasswordFailed {
        /// The account's key.
        key: String,
    },
    /// A request of the `account` extension from a logged-in user.
    Account {
        /// The connection.
        conn: ConnId,
        /// What it asks.
        request: account::Request,
    },
    /// A request of the `moderation` extension.
    Moderate {
        /// The operator's connection.
        conn: ConnId,
        /// What it asks.
        action: Moderation,
    },
    /// The connection is gone (sent for every connection, logged in or not).
    Logout {
        /// The connection.
        conn: ConnId,
    },
    /// Route messages sent on a logged-in connection (SRC already checked by the session).
    Route {
        /// The sending connection.
        conn: ConnId,
        /// The messages, in the order sent.
        messages: Vec<Message>,
    },
    /// Block (`on`) or unblock a name for the user on `conn`; answered with `BLOCKED`.
    Block {
        /// The connection of the user who blocks.
        conn: ConnId,
        /// The name to block or unblock.
        name: String,
        /// Block (true) or unblock (false).
        on: bool,
    },
    /// Answer with the `BLOCKED` list of the user on `conn`.
    ListBlocked {
        /// The connection.
        conn: ConnId,
    },
    /// Whether `proof` shows a login from `ip` owns the account `key` (cluster mode: it may
    /// then take the name over from another node).
    Proves {
        /// The account's key.
        key: String,
        /// The client's address.
        ip: IpAddr,
        /// The proof.
        proof: Proof,
        /// Where the answer goes.
        reply: oneshot::Sender<bool>,
    },
    /// The account `key` was taken over here from another node: that node closes its
    /// connection.
    Replace {
        /// The name's key.
        key: String,
    },
    /// Send `frame` to the user `name`, if online here.
    Tell {
        /// The user.
        name: String,
        /// What to send.
        frame: Box<Frame>,
    },
    /// The names online now (they may not all be committed to the users table yet).
    Online {
        /// Where the names go.
        reply: oneshot::Sender<Vec<String>>,
    },
    /// What the user on `conn` may see (extensions `search` and `edit`).
    Sight {
        /// The connection.
        conn: ConnId,
        /// Where the answer goes (`None`: the user is gone).
        reply: oneshot::Sender<Option<edit::Sight>>,
    },
    /// An edit or delete row (extension `edit`), checked by the session.
    Change {
        /// The connection of who edits or deletes.
        conn: ConnId,
        /// The row: DEST the changed message's, CONTENT the new text, its change.
        message: Message,
        /// For an edit, the text clients without `edit` get.
        plain: Option<String>,
    },
    /// Whether the user on `conn` may send to `to` now (extension `files`): checked before
    /// an upload's bytes travel.
    Reach {
        /// The connection.
        conn: ConnId,
        /// `ALL`, a name or a room.
        to: String,
        /// Where the answer goes: the ERROR's text if not.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The id of the last message the hub has put in the order: once it is committed, so are
    /// the messages the asking connection queued before asking.
    LastId {
        /// Where the answer goes.
        reply: oneshot::Sender<i64>,
    },
    /// A request of the `rooms` extension.
    Room {
        /// The connection.
        conn: ConnId,
        /// What it asks.
        request: rooms::RoomRequest,
        /// Where the answer goes.
        reply: oneshot::Sender<rooms::RoomAnswer>,
    },
}

/// The hub's answer to a login.
#[derive(Debug)]
pub enum LoginAnswer {
    /// Logged in. Messages with id up to `upto` form the join history (read by the session);
    /// everything later arrives live through the outbox.
    Accepted {
        /// The last message id assigned before this login.
        upto: i64,
        /// Everyone online, this user included, sorted: the JSON array of `USER_LIST`,
        /// built from names encoded once at their login.
        users: Bytes,
        /// The names this user blocks, sorted.
        blocked: Vec<String>,
        /// The keys of the names whose messages this user must not see, nor they this
        /// user's: its blocks both ways. The join history leaves them out.
        hidden: Vec<String>,
        /// The spelling the user is shown under (a held name keeps its holder's).
        name: String,
        /// Private history replays ids above this.
        since: i64,
        /// The name is a registered account.
        registered: bool,
        /// The user is an operator.
        operator: bool,
        /// A new session token for the client (a password login).
        token: Option<String>,
        /// The rooms the user is in (with the extension `rooms`; empty without).
        rooms: Vec<shared::frame::RoomInfo>,
    },
    /// Refused, with the INFO to show.
    Refused(String),
}

/// The sending side of the hub's bounded queue.
#[derive(Debug, Clone)]
pub struct HubHandle {
    tx: mpsc::Sender<Command>,
}

/// The hub has stopped (the server is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the hub has stopped")]
pub struct HubClosed;

impl HubHandle {
    /// Queues a command, waiting while the queue is full.
    pub async fn send(&self, cmd: Command) -> Result<(), HubClosed> {
        self.tx.send(cmd).await.map_err(|_| HubClosed)
    }

    /// Queues a command if there is room now; gives it back otherwise.
    #[allow(
        clippy::result_large_err,
        reason = "the command comes back for a retry; boxing it would cost every message an allocation"
    )]
    pub fn try_send(&self, cmd: Command) -> Result<(), mpsc::error::TrySendError<Command>> {
        self.tx.try_send(cmd)
    }
}

struct Online {
    peer: Peer,
    /// The name's key.
    key: String,
    /// The client's address.
    ip: IpAddr,
    /// Private history and blocks begin after this message id.
    since: i64,
    /// Logged in to a registered account.
    registered: bool,
    /// An operator.
    operator: bool,
    /// The session token this connection logged in with or was given (its hash).
    token: Option<String>,
    /// The event at which this user logged in; only later events reach it live.
    since_ev: u64,
    /// The name as a JSON string, encoded once.
    json: Bytes,
    /// In a cluster: the revision of the name's claim.
    claim: Option<u64>,
    /// Granted the extension `rooms`: gets its rooms' messages and presence.
    rooms: bool,
    /// Granted the extension `resume`: gets each message entry with its ID.
    resume: bool,
    /// Granted the extension `edit`: gets entries with their ID and change, its own messages
    /// back (so that it learns their ids), and edit and delete rows as such.
    edit: bool,
    /// Granted the extension `files`: gets a file's message with its `FILE`.
    files: bool,
}

impl Online {
    /// The form of `entry` this user gets (none: a delete, for a client without `edit`).
    fn entry<'a>(&self, entry: &'a Entries) -> Option<&'a Bytes> {
        if self.files
            && let Some(with_file) = &entry.with_file
        {
            Some(with_file)
        } else if self.edit {
            Some(&entry.edit)
        } else if self.resume {
            entry.with_id.as_ref()
        } else {
            entry.plain.as_ref()
        }
    }
}

/// A message's entry as each kind of client gets it, each encoded once: plain, with its ID
/// for clients that negotiated `resume`, and with its change for those that negotiated `edit`.
pub(crate) struct Entries {
    /// None for a delete: clients without `edit` get nothing of it.
    plain: Option<Bytes>,
    with_id: Option<Bytes>,
    /// For a message that changes nothing, `with_id` again (the same bytes).
    edit: Bytes,
    /// A file's message with its ID and `FILE`, for clients that negotiated `files`; the
    /// other forms carry only its text.
    with_file: Option<Bytes>,
}

impl Entries {
    /// The entries of message `m`, whose id is `id`: the plain one encoded, the others the
    /// same array with the id appended (no second encoding of the content). An edit row is
    /// `plain_text` for clients without `edit` (the new text quoting what it replaces).
    pub(crate) fn new(m: &Message, id: i64, plain_text: Option<&str>) -> Entries {
        let with_id = |plain: &[u8]| {
            let mut with_id = Vec::with_capacity(plain.len() + 21);
            // The encoder writes one JSON array, so its last byte is the closing bracket.
            with_id.extend_from_slice(&plain[..plain.len() - 1]);
            with_id.extend_from_slice(format!(",{id}]").as_bytes());
            Bytes::from(with_id)
        };
        let with_file = m
            .file
            .as_ref()
            .map(|_| Bytes::from(encode_message(&Message { id: Some(id), ..m.clone() })));
        match m.change {
            None => {
                // A file's message: its text alone for clients without `files`.
                let plain = match &m.file {
                    Some(_) => encode_message(&Message { file: None, ..m.clone() }),
                    None => encode_message(m),
                };
                let with_id = with_id(&plain);
                Entries {
                    plain: Some(Bytes::from(plain)),
                    edit: with_id.clone(),
                    with_id: Some(with_id),
                    with_file,
                }
            }
            Some(change) => {
                let edit = Bytes::from(encode_message(&Message { id: Some(id), ..m.clone() }));
                let plain = match (change, plain_text) {
                    (Change::Edit(_), Some(text)) => Some(encode_message(&Message {
                        content: text.to_owned(),
                        change: None,
                        id: None,
                        ..m.clone()
                    })),
                    _ => None,
                };
                Entries {
                    with_id: plain.as_deref().map(with_id),
                    plain: plain.map(Bytes::from),
                    edit,
                    with_file,
                }
            }
        }
    }
}

/// Where a message goes ([`Hub::reach`]).
pub(crate) enum Reach {
    /// To this room's members (the room's name as the server spells it).
    Room(String),
    /// To everyone.
    Everyone,
    /// To this person (the name as its holder spells it).
    Person(String),
}

/// Why a message cannot go where it is addressed ([`Hub::reach`]).
pub(crate) enum Unreachable {
    /// A room, to a client that did not negotiate `rooms`.
    RoomsNotGranted,
    /// No such room.
    NoRoom(String),
    /// The sender is not in the room.
    NotInRoom(String),
    /// The recipient is not online.
    NotOnline,
    /// The sender blocks the recipient.
    SenderBlocks,
    /// The recipient blocks the sender.
    RecipientBlocks,
}

/// What did not happen, for the end of a refusal's text.
#[derive(Clone, Copy)]
pub(crate) enum Lost {
    /// A message.
    Message,
    /// A file (its upload is refused before its bytes travel).
    File,
}

impl Lost {
    fn sentence(self) -> &'static str {
        match self {
            Lost::Message => "the message was not delivered",
            Lost::File => "the file was not sent",
        }
    }
}

impl Unreachable {
    /// The ERROR for a message (or file) to `dest` that `lost` says did not go.
    pub(crate) fn text(&self, dest: &str, lost: Lost) -> String {
        let lost = lost.sentence();
        match self {
            Unreachable::RoomsNotGranted => {
                format!("{dest} is a room, and rooms need the extension rooms; {lost}.")
            }
            Unreachable::NoRoom(room) => format!("There is no room {room}; {lost}."),
            Unreachable::NotInRoom(room) => {
                format!("You are not in {room}: JOIN it to write to it; {lost}.")
            }
            Unreachable::NotOnline => format!("{dest} is not online; {lost}."),
            Unreachable::SenderBlocks => {
                format!("You have blocked {dest}: unblock them to write to them; {lost}.")
            }
            Unreachable::RecipientBlocks => {
                format!("{dest} does not accept your messages; {lost}.")
            }
        }
    }
}

enum Kind {
    /// `hidden`: names in a block with the sender (either way), who must not get it.
    Broadcast {
        from: ConnId,
        entry: Entries,
        /// Keys of those who must not get it.
        hidden: Option<Arc<HashSet<String>>>,
    },
    /// A private message to `to` (if online here); its sender gets it back if it has `edit`.
    Direct { to: Option<String>, from: ConnId, entry: Entries },
    /// A message to a room: its members here get it (but `from`, and those in `hidden`).
    Room { room: String, from: ConnId, entry: Entries, hidden: Option<Arc<HashSet<String>>> },
    /// Someone joined (or left): the name as a JSON string.
    Presence { joined: bool, json: Bytes },
}

struct Pending {
    ev: u64,
    /// The message id that must be committed before this goes out (for presence: the last
    /// id assigned before it, to keep the order).
    needs: i64,
    kind: Kind,
}

/// Most commands the hub takes from its queue before it delivers what they released.
///
/// Handling a batch before one flush lets a crowd of logins (or a burst of messages from
/// many senders) go out as one presence list (one frame) per recipient instead of one each.
/// 256 keeps the first command's wait short.
const HUB_BATCH: usize = 256;

/// Most bytes of names merged into one presence item for all recipients. A crowd of joins
/// becomes one shared `USERS_JOINED` list per 16 KiB, encoded once; the connection's merging
/// (up to [`crate::outbox::MAX_MERGED_FRAME`]) joins such items further.
const PRESENCE_RUN_BYTES: usize = 16 * 1024;

/// How long joins and leaves wait in the hub to be merged with the ones that follow, at
/// least.
///
/// Every join goes to everyone online. Delivered one by one, a login storm into a room of N
/// costs N outbox pushes, wake-ups, frames and system calls per login: in the profile of
/// 19,000 logins the per-recipient writes of presence dominated. Held, a crowd's joins go
/// out as one list per recipient per hold. Messages behind a held join wait with it, to
/// keep the order everyone sees. 10 ms is imperceptible in a user list.
const PRESENCE_HOLD: std::time::Duration = std::time::Duration::from_millis(10);

/// How much longer presence is held per user online.
///
/// Releasing presence costs about one frame per recipient, so the hold grows with the room
/// to keep that cost a bounded share of the CPU: 20 µs per user is 30 ms with 1,000 online
/// and 390 ms with 19,000 (a join seen 0.4 s late in a room that size is still prompt).
const PRESENCE_HOLD_PER_USER: std::time::Duration = std::time::Duration::from_micros(20);

/// The longest presence is ever held.
const PRESENCE_HOLD_MAX: std::time::Duration = std::time::Duration::from_millis(500);

struct Hub {
    /// Sorted, so that `USER_LIST` is built by walking it.
    users: BTreeMap<String, Online>,
    /// Name key → the name online under it.
    keys: HashMap<String, String>,
    names: HashMap<ConnId, String>,
    next_id: i64,
    ev: u64,
    committed: i64,
    /// Events waiting for their commit. Bounded by the store's queue: the hub waits for room
    /// there before adding a message here.
    pending: VecDeque<Pending>,
    store: mpsc::Sender<Op>,
    /// Every block, by name keys: blocker → blocked → the blocked name as the blocker wrote
    /// it. Kept whole in memory (people block few).
    blocks: HashMap<String, HashMap<String, String>>,
    /// The same relation the other way: blocked → who blocks it.
    blocked_by: HashMap<String, HashSet<String>>,
    /// Accounts, tokens, reservations, bans.
    registry: Registry,
    /// Registry writes decided but not yet queued for the store (queued after each round).
    writes: Vec<RegistryOp>,
    /// When the presence at the front of `pending` (held for [`PRESENCE_HOLD`]) goes out.
    presence_due: Option<tokio::time::Instant>,
    /// In a cluster: the other nodes' users and the way to the stream.
    link: Option<cluster::Link>,
    /// Deliveries and slow readers dropped are counted here.
    metrics: Arc<crate::metrics::Metrics>,
    /// Rooms and their members.
    rooms: rooms::Rooms,
}

/// What the hub starts with.
#[derive(Debug)]
pub struct Setup {
    /// The store writer's queue.
    pub store: mpsc::Sender<Op>,
    /// The highest message id the store has committed.
    pub committed: watch::Receiver<i64>,
    /// What the store holds at start.
    pub loaded: crate::store::Loaded,
    /// Accounts, tokens, reservations, bans.
    pub registry: Registry,
    /// The capacity of the hub's queue.
    pub queue: usize,
    /// Cancelled when the server stops.
    pub shutdown: CancellationToken,
    /// Deliveries and slow readers dropped are counted here.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// In a cluster: the bus and the names held in the cluster at start.
    pub cluster: Option<(crate::cluster::Bus, Vec<(String, crate::cluster::Holder)>)>,
}

/// Starts the hub task. It ends when every [`HubHandle`] is gone or `shutdown` is cancelled,
/// dropping its side of the store's queue so the writer can finish.
pub fn spawn(setup: Setup) -> (HubHandle, tokio::task::JoinHandle<()>) {
    let Setup { store, mut committed, loaded, registry, queue, shutdown, metrics, cluster } = setup;
    let (tx, mut rx) = mpsc::channel(queue);
    let handle = HubHandle { tx };
    let (link, mut feed, mut alive) = match cluster {
        Some((bus, holders)) => {
            let lag = metrics.jetstream_consumer_lag.clone();
            let (link, feeds) =
                cluster::start(bus, loaded.last_id, holders, handle.clone(), shutdown.clone(), lag);
            (Some(link), Some(feeds.events), Some(feeds.alive))
        }
        None => (None, None, None),
    };
    let task = tokio::spawn(async move {
        let mut hub = Hub {
            users: BTreeMap::new(),
            keys: HashMap::new(),
            names: HashMap::new(),
            next_id: loaded.last_id + 1,
            ev: 0,
            committed: *committed.borrow_and_update(),
            pending: VecDeque::new(),
            store,
            blocks: HashMap::new(),
            blocked_by: HashMap::new(),
            registry,
            writes: Vec::new(),
            presence_due: None,
            link,
            metrics,
            rooms: rooms::Rooms::load(loaded.rooms),
        };
        for (blocker, blocked, name) in loaded.blocks {
            hub.set_block(blocker, blocked, name, true);
        }
        let mut cmds = Vec::with_capacity(HUB_BATCH);
        let mut events = Vec::with_capacity(HUB_BATCH);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                changed = committed.changed() => {
                    if changed.is_err() {
                        break; // the writer is gone; the server is stopping
                    }
                    hub.committed = *committed.borrow_and_update();
                    hub.flush();
                }
                () = sleep_until(hub.presence_due), if hub.presence_due.is_some() => hub.flush(),
                n = recv_events(&mut feed, &mut events), if feed.is_some() => {
                    if n == 0 {
                        break; // the consumer stopped: the server is stopping
                    }
                    for event in events.drain(..) {
                        match event {
                            Ok((seq, event)) => hub.apply(seq, event).await,
                            Err(e) => tracing::warn!(error = %e, "an event was unreadable"),
                        }
                    }
                    hub.flush();
                }
                membership = membership_changed(&mut alive), if alive.is_some() => {
                    hub.nodes_alive(membership);
                    hub.flush();
                }
                n = rx.recv_many(&mut cmds, HUB_BATCH) => {
                    if n == 0 {
                        break;
                    }
                    for cmd in cmds.drain(..) {
                        hub.handle(cmd).await;
                    }
                    hub.flush();
                }
            }
            hub.write_registry().await;
            if let Some(link) = hub.link.as_mut() {
                link.publish_later().await;
            }
        }
        if hub.link.is_some() {
            // A node of a cluster that stops takes its users out of the cluster now.
            let names: Vec<String> = hub.users.keys().cloned().collect();
            for name in names {
                hub.remove(&name, None);
            }
            hub.write_registry().await;
            if let Some(link) = hub.link.take() {
                link.finish().await;
            }
        }
    });
    (handle, task)
}

/// The next events from the stream (at most [`HUB_BATCH`]); 0 when the consumer stopped.
async fn recv_events(
    feed: &mut Option<mpsc::Receiver<cluster::Inbound>>,
    events: &mut Vec<cluster::Inbound>,
) -> usize {
    match feed {
        Some(rx) => rx.recv_many(events, HUB_BATCH).await,
        None => std::future::pending().await,
    }
}

/// The next change of which nodes are alive (never again once the heartbeat task is gone).
async fn membership_changed(
    alive: &mut Option<mpsc::Receiver<cluster::Membership>>,
) -> cluster::Membership {
    match alive {
        Some(rx) => match rx.recv().await {
            Some(m) => m,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Sleeps until `due` (forever without one; the caller guards the branch).
async fn sleep_until(due: Option<tokio::time::Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Hub {
    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Login(request) => self.login(request).await,
            Command::Credentials { key, reply } => {
                let now = tokio::time::Instant::now();
                let found = self
                    .registry
                    .credentials(&key, now.into_std())
                    .map(|(hash, at)| (hash, tokio::time::Instant::from_std(at)));
                let _ = reply.send(found);
            }
            Command::PasswordFailed { key } => {
                self.registry.password_failed(&key, std::time::Instant::now());
            }
            Command::Account { conn, request } => self.account(conn, request),
            Command::Moderate { conn, action } => self.moderate(conn, action),
            Command::Logout { conn } => {
                if let Some(name) = self.names.get(&conn).cloned() {
                    self.remove(&name, None);
                }
            }
            Command::Route { conn, messages } => self.route(conn, messages).await,
            Command::Block { conn, name, on } => self.block(conn, name, on).await,
            Command::Online { reply } => {
                let mut names: Vec<String> = self.users.keys().cloned().collect();
                if let Some(link) = &self.link {
                    names.extend(link.remote.keys().cloned());
                    names.sort_unstable();
                }
                let _ = reply.send(names);
            }
            Command::Tell { name, frame } => self.send_frame(&name, &frame),
            Command::Sight { conn, reply } => self.sight(conn, reply),
            Command::LastId { reply } => {
                let _ = reply.send(self.next_id - 1);
            }
            Command::Reach { conn, to, reply } => {
                let _ = reply.send(self.may_send(conn, &to));
            }
            Command::Change { conn, message, plain } => self.change(conn, message, plain).await,
            Command::Room { conn, request, reply } => {
                self.room_request(conn, request, reply).await;
            }
            Command::Proves { key, ip, proof, reply } => {
                let _ = reply.send(self.registry.proves(&key, ip, &proof, unix_now()));
            }
            Command::Replace { key } => {
                if let Some(link) = self.link.as_mut() {
                    let event = crate::cluster::Event::Replaced { node: link.node.clone(), key };
                    link.queue(cluster::Job::Publish { event, from: Vec::new() }).await;
                }
            }
            Command::ListBlocked { conn } => {
                if let Some(me) = self.names.get(&conn).cloned() {
                    self.send_blocked(&me);
                }
            }
        }
    }

    /// Decides a login and, if accepted, puts the user online.
    async fn login(&mut self, request: LoginRequest) {
        let LoginRequest { name, key, ip, proof, peer, reply, claim, rooms, resume, edit, files } =
            request;
        let now = unix_now();
        if let Some(holder) = self.keys.get(&key).cloned() {
            // A login that proves it is the account's owner takes the name over: the holder
            // is most likely the same person's connection that has not noticed it is gone (a
            // reloaded page, a laptop that slept, a network that changed).
            if !self.registry.proves(&key, ip, &proof, now) {
                let _ = reply.send(LoginAnswer::Refused(NAME_IN_USE.to_owned()));
                return;
            }
            let goodbye = Goodbye { text: replaced(&holder), ended: Some(ended::REPLACED) };
            self.remove(&holder, Some(goodbye));
        }
        let upto = self.next_id - 1;
        let admitted =
            match self.registry.admit(&name, &key, ip, &proof, upto, now, &mut self.writes) {
                Ok(a) => a,
                Err(info) => {
                    let _ = reply.send(LoginAnswer::Refused(info));
                    return;
                }
            };
        if admitted.new_claim {
            self.clear_blocks(&key);
            if !self.rooms.of(&key).is_empty() {
                // Nor the rooms of the one before.
                self.rooms.remove_all(&key);
                self.room_op(crate::rooms::RoomOp::PartAll { key: key.clone() }).await;
            }
        }
        let mut token = None;
        let mut token_hash = admitted.token.clone();
        if admitted.issue_token {
            let (t, h) = crate::accounts::new_token();
            self.registry.add_token(&key, h.clone(), now, &mut self.writes);
            token = Some(t);
            token_hash = Some(h);
        }
        let name = admitted.name;
        // Encoded once, for every recipient of its presence items and user lists.
        let json = wire::string(&name);
        self.presence(true, json.clone());
        if let Some(link) = self.link.as_mut() {
            // The name is claimed: an older entry of another node's is stale (its leave has
            // not come through the stream yet).
            if let Some(old) = link.remote_keys.get(&key).cloned() {
                link.remote.remove(&old);
                link.remote_keys.remove(&key);
            }
            let event = crate::cluster::Event::Joined {
                node: link.node.clone(),
                name: name.clone(),
                key: key.clone(),
            };
            link.queue(cluster::Job::Publish { event, from: Vec::new() }).await;
        }
        self.names.insert(peer.conn, name.clone());
        self.keys.insert(key.clone(), name.clone());
        let online = Online {
            peer,
            key: key.clone(),
            ip,
            since: admitted.since,
            registered: admitted.registered,
            operator: admitted.operator,
            token: token_hash,
            since_ev: self.ev,
            json,
            claim,
            rooms,
            resume,
            edit,
            files,
        };
        self.users.insert(name.clone(), online);
        let my_rooms = if rooms { self.rooms_at_login(&name, &key) } else { Vec::new() };
        let users = self.user_list();
        let blocked = self.blocked_list(&key);
        let mut hidden: Vec<String> = self.hidden_from(&key).into_iter().collect();
        hidden.sort_unstable();
        let _ = reply.send(LoginAnswer::Accepted {
            upto,
            users,
            blocked,
            hidden,
            name: name.clone(),
            since: admitted.since,
            registered: admitted.registered,
            operator: admitted.operator,
            token,
            rooms: my_rooms,
        });
        let _ = self.store.send(Op::UserSeen { name, at: unix_now() }).await;
    }

    /// Queues the registry's writes for the store, in order.
    async fn write_registry(&mut self) {
        if let Some(link) = self.link.as_mut() {
            // The other nodes' registries follow (the audit log is only written).
            for op in self.writes.iter().filter(|op| !matches!(op, RegistryOp::Audit { .. })) {
                let event =
                    crate::cluster::Event::Registry { node: link.node.clone(), op: op.clone() };
                link.later(cluster::Job::Publish { event, from: Vec::new() });
            }
        }
        for op in std::mem::take(&mut self.writes) {
            if self.store.send(Op::Registry(op)).await.is_err() {
                return; // the writer stopped; the server is shutting down
            }
        }
    }

    /// Records or removes a block in memory (by keys; `name`: the blocked name as written).
    fn set_block(&mut self, blocker: String, blocked: String, name: String, on: bool) -> bool {
        if on {
            self.blocked_by.entry(blocked.clone()).or_default().insert(blocker.clone());
            self.blocks.entry(blocker).or_default().insert(blocked, name).is_none()
        } else {
            if let Some(set) = self.blocked_by.get_mut(&blocked) {
                set.remove(&blocker);
                if set.is_empty() {
                    self.blocked_by.remove(&blocked);
                }
            }
            let Some(set) = self.blocks.get_mut(&blocker) else {
                return false;
            };
            let was = set.remove(&blocked).is_some();
            if set.is_empty() {
                self.blocks.remove(&blocker);
            }
            was
        }
    }

    /// Drops every block `key` set (a new claim to the name does not inherit them).
    fn clear_blocks(&mut self, key: &str) {
        if let Some(set) = self.blocks.remove(key) {
            for blocked in set.keys() {
                if let Some(by) = self.blocked_by.get_mut(blocked) {
                    by.remove(key);
                    if by.is_empty() {
                        self.blocked_by.remove(blocked);
                    }
                }
            }
        }
    }

    /// The keys in a block with `key`, either way.
    fn hidden_from(&self, key: &str) -> HashSet<String> {
        let mut out = HashSet::new();
        out.extend(self.blocks.get(key).into_iter().flat_map(|m| m.keys()).cloned());
        out.extend(self.blocked_by.get(key).into_iter().flatten().cloned());
        out
    }

    /// The names `key` blocks, as written, sorted.
    fn blocked_list(&self, key: &str) -> Vec<String> {
        let mut list: Vec<String> =
            self.blocks.get(key).into_iter().flat_map(|m| m.values()).cloned().collect();
        list.sort_unstable();
        list
    }

    fn blocks(&self, blocker: &str, blocked: &str) -> bool {
        self.blocks.get(blocker).is_some_and(|set| set.contains_key(blocked))
    }

    fn send_blocked(&mut self, me: &str) {
        let Some(key) = self.users.get(me).map(|u| u.key.clone()) else { return };
        let frame = Frame { blocked: Some(self.blocked_list(&key)), ..Frame::default() };
        self.push(me, Out::Frame(Bytes::from(encode(&frame))));
    }

    fn send_error(&mut self, me: &str, text: String) {
        self.send_frame(me, &Frame::error(text));
    }

    /// Sends one frame to one user.
    fn send_frame(&mut self, me: &str, frame: &Frame) {
        self.push(me, Out::Frame(Bytes::from(encode(frame))));
    }

    /// Sends one frame to everyone online, encoded once.
    fn send_to_all(&mut self, frame: &Frame) {
        let item = Out::Frame(Bytes::from(encode(frame)));
        let mut slow = Vec::new();
        for (name, u) in &self.users {
            if u.peer.outbox.try_send(item.clone()).is_err() {
                slow.push(name.clone());
            }
        }
        self.metrics.outbox_disconnects.inc_by(slow.len() as u64);
        for name in slow {
            self.remove(&name, Some(Goodbye::too_slow()));
        }
    }

    async fn block(&mut self, conn: ConnId, name: String, on: bool) {
        let Some(me) = self.names.get(&conn).cloned() else {
            return;
        };
        if let Err(e) = validate_username(&name) {
            self.send_error(&me, format!("Cannot block {name:?}: {e}"));
            return;
        }
        let Some(my_key) = self.users.get(&me).map(|u| u.key.clone()) else { return };
        let key = name_key(&name);
        if key == my_key {
            self.send_error(&me, "You cannot block yourself.".to_owned());
            return;
        }
        self.set_block(my_key.clone(), key.clone(), name.clone(), on);
        if let Some(link) = &self.link {
            let event = crate::cluster::Event::Block {
                blocker_key: my_key.clone(),
                blocked_key: key.clone(),
                blocked_name: name.clone(),
                on,
            };
            link.queue(cluster::Job::Publish { event, from: Vec::new() }).await;
        }
        let op = if on {
            Op::Block { blocker_key: my_key, blocked_key: key, blocked_name: name }
        } else {
            Op::Unblock { blocker_key: my_key, blocked_key: key }
        };
        let _ = self.store.send(op).await;
        self.send_blocked(&me);
    }

    async fn route(&mut self, conn: ConnId, messages: Vec<Message>) {
        let Some(me) = self.names.get(&conn).cloned() else {
            return; // disconnected meanwhile (kicked): its last messages go nowhere
        };
        let Some(my_key) = self.users.get(&me).map(|u| u.key.clone()) else { return };
        let now = unix_now();
        if let Some(mute) = self.registry.muted(&my_key, now) {
            let text = format!(
                "You are muted {}; {} not delivered.",
                mute.describe(),
                if messages.len() == 1 { "your message was" } else { "your messages were" }
            );
            self.send_error(&me, text);
            return;
        }
        let mut offline = Vec::new();
        let mut refused = Vec::new();
        let hidden = {
            let h = self.hidden_from(&my_key);
            (!h.is_empty()).then(|| Arc::new(h))
        };
        let in_rooms = self.users.get(&me).is_some_and(|u| u.rooms);
        for mut m in messages {
            let kind_to = match self.reach(&my_key, in_rooms, &m.dest) {
                Ok(Reach::Room(room)) => {
                    m.dest = room;
                    None
                }
                Ok(Reach::Everyone) => None,
                Ok(Reach::Person(holder)) => {
                    m.dest = holder;
                    Some(m.dest.clone())
                }
                Err(Unreachable::NotOnline) => {
                    offline.push(m.dest);
                    continue;
                }
                Err(why) => {
                    refused.push(why.text(&m.dest, Lost::Message));
                    continue;
                }
            };
            // Clients stamp their messages; a stamp far from the server's clock is replaced.
            if m.timestamp.abs_diff(now) > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
                m.timestamp = now;
            }
            if !self.accept(conn, &me, m, kind_to, hidden.clone(), None).await {
                return;
            }
        }
        refused.dedup();
        for text in refused {
            self.send_error(&me, text);
        }
        if !offline.is_empty() {
            offline.dedup();
            let text = if offline.len() == 1 {
                format!("{} is not online; the message was not delivered.", offline[0])
            } else {
                format!(
                    "{} are not online; {} messages were not delivered.",
                    offline.join(", "),
                    offline.len()
                )
            };
            self.send_error(&me, text);
        }
    }

    /// Where a message to `dest` from the user with key `my_key` goes (`in_rooms`: the user
    /// negotiated `rooms`), or why it cannot: a room's messages are for its members, from its
    /// members; private messages are addressed by the name's key (`BOB` reaches `Bob`), to
    /// someone online who is in no block with the sender.
    pub(super) fn reach(
        &self,
        my_key: &str,
        in_rooms: bool,
        dest: &str,
    ) -> Result<Reach, Unreachable> {
        if let Some(room) = crate::rooms::room_of(dest) {
            let room = room.to_ascii_lowercase();
            return match self.rooms.rooms.get(&room) {
                _ if !in_rooms => Err(Unreachable::RoomsNotGranted),
                None => Err(Unreachable::NoRoom(room)),
                Some(r) if !r.members.contains_key(my_key) => Err(Unreachable::NotInRoom(room)),
                Some(_) => Ok(Reach::Room(room)),
            };
        }
        // A broadcast needs no key (`route` recognises its DEST `ALL` first).
        let dest_key = if dest == shared::BROADCAST { dest.to_owned() } else { name_key(dest) };
        let holder = |k: &str| {
            self.keys.get(k).or_else(|| self.link.as_ref().and_then(|l| l.remote_keys.get(k)))
        };
        match route(my_key, &dest_key, |k| holder(k).is_some(), |a, b| self.blocks(a, b)) {
            Route::Broadcast => Ok(Reach::Everyone),
            Route::Direct => Ok(Reach::Person(holder(&dest_key).map_or(dest, |h| h).to_owned())),
            Route::NotOnline => Err(Unreachable::NotOnline),
            Route::SenderBlocks => Err(Unreachable::SenderBlocks),
            Route::RecipientBlocks => Err(Unreachable::RecipientBlocks),
        }
    }

    /// `USER_LIST`: everyone online as a JSON array, from the names encoded at login.
    fn user_list(&self) -> Bytes {
        let Some(link) = self.link.as_ref().filter(|l| !l.remote.is_empty()) else {
            return wire::array(self.users.values().map(|u| &u.json));
        };
        // Both maps are sorted by name: merged, the list stays sorted.
        let mut local = self.users.iter().map(|(n, u)| (n, &u.json)).peekable();
        let mut remote = link.remote.iter().map(|(n, r)| (n, &r.json)).peekable();
        let merged = std::iter::from_fn(|| match (local.peek(), remote.peek()) {
            (Some((a, _)), Some((b, _))) if b < a => remote.next(),
            (Some(_), _) => local.next(),
            (None, _) => remote.next(),
        });
        let merged: Vec<&Bytes> = merged.map(|(_, json)| json).collect();
        wire::array(merged.iter().copied())
    }

    /// Queues a join or leave (`json`: the name as a JSON string) for everyone else online.
    fn presence(&mut self, joined: bool, json: Bytes) {
        self.ev += 1;
        self.pending.push_back(Pending {
            ev: self.ev,
            needs: self.next_id - 1,
            kind: Kind::Presence { joined, json },
        });
    }

    /// Announces that `name`, still in `users`, leaves.
    fn left(&mut self, name: &str) {
        let json = self.users.get(name).map_or_else(|| wire::string(name), |u| u.json.clone());
        self.presence(false, json);
    }

    /// Pushes onto one user's outbox; a full outbox disconnects the user.
    fn push(&mut self, name: &str, item: Out) {
        let full = match self.users.get(name) {
            Some(u) => u.peer.outbox.try_send(item).is_err(),
            None => false,
        };
        if full {
            self.kick(name);
        }
    }

    /// Disconnects a slow reader.
    fn kick(&mut self, name: &str) {
        if self.users.contains_key(name) {
            tracing::info!(user = name, "disconnecting a client that does not keep up");
            self.metrics.outbox_disconnects.inc();
            self.remove(name, Some(Goodbye::too_slow()));
        }
    }

    /// Takes `name` offline: announces its leave, releases the name (its reservation runs
    /// from now) and, with a `goodbye`, disconnects its connection with that ERROR.
    fn remove(&mut self, name: &str, goodbye: Option<Goodbye>) {
        if !self.users.contains_key(name) {
            return;
        }
        self.left(name);
        if let Some(u) = self.users.remove(name) {
            self.names.remove(&u.peer.conn);
            self.keys.remove(&u.key);
            if let Some(link) = self.link.as_mut() {
                let event = crate::cluster::Event::Left {
                    node: link.node.clone(),
                    name: name.to_owned(),
                    key: u.key.clone(),
                };
                link.later(cluster::Job::Publish { event, from: Vec::new() });
                if let Some(revision) = u.claim {
                    link.later(cluster::Job::Release { key: u.key.clone(), revision });
                }
            }
            self.registry.left(&u.key, unix_now(), &mut self.writes);
            if let Some(goodbye) = goodbye {
                let _ = u.peer.goodbye.set(goodbye);
                u.peer.kick.cancel();
            }
        }
    }

    /// Takes an accepted message from `me` on `conn`: in a cluster it goes to the stream (which
    /// gives its id and order); otherwise it gets the next id, waits for its commit and goes
    /// to `to` (a private message), to the members of its room, or to everyone. `false`:
    /// the store has stopped (the server is shutting down).
    async fn accept(
        &mut self,
        conn: ConnId,
        me: &str,
        m: Message,
        to: Option<String>,
        hidden: Option<Arc<HashSet<String>>>,
        plain: Option<String>,
    ) -> bool {
        if let Some(link) = &self.link {
            // In a cluster the stream gives the id and the order; delivery follows it.
            let event = crate::cluster::Event::Messages {
                node: link.node.clone(),
                messages: vec![crate::cluster::Sent { conn: conn.0, message: m, plain }],
            };
            link.queue(cluster::Job::Publish { event, from: vec![me.to_owned()] }).await;
            return true;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.ev += 1;
        let entry = Entries::new(&m, id, plain.as_deref());
        let kind = match (to, crate::rooms::room_of(&m.dest)) {
            (Some(to), _) => Kind::Direct { to: Some(to), from: conn, entry },
            (None, Some(room)) => Kind::Room { room: room.to_owned(), from: conn, entry, hidden },
            (None, None) => Kind::Broadcast { from: conn, entry, hidden },
        };
        self.pending.push_back(Pending { ev: self.ev, needs: id, kind });
        self.store.send(Op::Message { id, message: m }).await.is_ok()
    }

    /// Delivers every pending event whose commit has been published, in order.
    fn flush(&mut self) {
        let mut slow = Vec::new();
        let mut delivered = 0;
        let now = tokio::time::Instant::now();
        let release = self.presence_due.is_some_and(|due| now >= due);
        if release {
            self.presence_due = None;
        }
        while self.pending.front().is_some_and(|p| p.needs <= self.committed) {
            if !release
                && self.pending.front().is_some_and(|p| matches!(p.kind, Kind::Presence { .. }))
            {
                // Held to be merged with the joins and leaves that follow.
                let per_user = PRESENCE_HOLD_PER_USER
                    .saturating_mul(u32::try_from(self.users.len()).unwrap_or(u32::MAX));
                let hold = PRESENCE_HOLD.saturating_add(per_user).min(PRESENCE_HOLD_MAX);
                self.presence_due.get_or_insert(now + hold);
                break;
            }
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            let mut deliver = |u: &Online, entry: &Entries| {
                if u.since_ev < p.ev
                    && let Some(item) = u.entry(entry)
                {
                    match u.peer.outbox.try_send(Out::Entry(item.clone())) {
                        Ok(()) => delivered += 1,
                        Err(_) => slow.push(u.peer.conn),
                    }
                }
            };
            match &p.kind {
                Kind::Broadcast { from, entry, hidden } => {
                    for u in self.users.values() {
                        if (u.peer.conn != *from || u.edit)
                            && !hidden.as_ref().is_some_and(|h| h.contains(&u.key))
                        {
                            deliver(u, entry);
                        }
                    }
                }
                Kind::Direct { to, from, entry } => {
                    let to = to.as_ref().and_then(|to| self.users.get(to));
                    if let Some(u) = to {
                        deliver(u, entry);
                    }
                    // The sender's copy, with its id, for a client with `edit`.
                    let sender = self.names.get(from).and_then(|n| self.users.get(n));
                    if let Some(s) = sender
                        && s.edit
                        && to.is_none_or(|t| t.peer.conn != s.peer.conn)
                    {
                        deliver(s, entry);
                    }
                }
                Kind::Room { room, from, entry, hidden } => {
                    if let Some(r) = self.rooms.rooms.get(room) {
                        for (key, since) in &r.members {
                            let Some(u) = self.keys.get(key).and_then(|n| self.users.get(n)) else {
                                continue;
                            };
                            if *since < p.ev
                                && u.rooms
                                && (u.peer.conn != *from || u.edit)
                                && !hidden.as_ref().is_some_and(|h| h.contains(key))
                            {
                                deliver(u, entry);
                            }
                        }
                    }
                }
                Kind::Presence { joined, json } => {
                    // Consecutive joins (or leaves) already released go out as one list,
                    // encoded once for everyone who was online before the first of them.
                    let joined = *joined;
                    let mut run = vec![(p.ev, json.clone())];
                    let mut bytes = json.len();
                    while bytes < PRESENCE_RUN_BYTES {
                        let Some(q) = self.pending.front() else { break };
                        let Kind::Presence { joined: j, json } = &q.kind else { break };
                        if *j != joined || q.needs > self.committed {
                            break;
                        }
                        bytes += json.len() + 1;
                        run.push((q.ev, json.clone()));
                        self.pending.pop_front();
                    }
                    let first = p.ev;
                    let wrap = |b: Bytes| if joined { Out::Joined(b) } else { Out::Left(b) };
                    let all = wrap(wire::join(run.iter().map(|(_, j)| j)));
                    for u in self.users.values() {
                        if u.since_ev < first {
                            if u.peer.outbox.try_send(all.clone()).is_err() {
                                slow.push(u.peer.conn);
                            }
                            continue;
                        }
                        // Logged in during the run: only what came after its own login.
                        let mut later = run.iter().filter(|(ev, _)| *ev > u.since_ev).peekable();
                        if later.peek().is_some()
                            && u.peer
                                .outbox
                                .try_send(wrap(wire::join(later.map(|(_, j)| j))))
                                .is_err()
                        {
                            slow.push(u.peer.conn);
                        }
                    }
                }
            }
            // Disconnecting queues a USERS_LEFT behind everything already pending.
            for conn in slow.drain(..) {
                if let Some(name) = self.names.get(&conn).cloned() {
                    self.kick(&name);
                }
            }
        }
        self.metrics.deliveries.inc_by(delivered);
    }
}

#[cfg(test)]
mod entry_tests {
    use super::*;

    #[test]
    fn a_messages_entry_with_its_id_is_what_the_encoder_would_write() {
        for m in [Message::new("ann", "ALL", 5, "caf\u{e9} \"x\""), Message::new("a", "#r", -1, "")]
        {
            let e = Entries::new(&m, 4242, None);
            assert_eq!(e.plain.as_deref(), Some(&encode_message(&m)[..]));
            let with_id = encode_message(&m.clone().with_id(4242));
            assert_eq!(e.with_id.as_deref(), Some(&with_id[..]));
            assert_eq!(&e.edit[..], &with_id[..]);
        }
    }

    #[test]
    fn an_edit_is_quoted_text_without_edit_and_a_delete_is_nothing() {
        let edit =
            Message { change: Some(Change::Edit(7)), ..Message::new("ann", "ALL", 5, "new") };
        let e = Entries::new(&edit, 9, Some("new (edit)"));
        assert_eq!(e.plain.as_deref(), Some(&br#"["ann","ALL",5,"new (edit)"]"#[..]));
        assert_eq!(e.with_id.as_deref(), Some(&br#"["ann","ALL",5,"new (edit)",9]"#[..]));
        assert_eq!(&e.edit[..], br#"["ann","ALL",5,"new",9,{"EDIT":7}]"#);
        let delete = Message { change: Some(Change::Delete(7)), ..Message::new("op", "#r", 5, "") };
        let e = Entries::new(&delete, 10, None);
        assert!(e.plain.is_none() && e.with_id.is_none());
        assert_eq!(&e.edit[..], br##"["op","#r",5,"",10,{"DELETE":7}]"##);
    }
}
