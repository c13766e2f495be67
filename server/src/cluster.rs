//! The cluster bus: what the nodes of a cluster share through NATS JetStream, a proven engine
//! (no consensus, replication or broker of our own).
//!
//! - **One stream of events** (`<prefix>_events`, subject `<prefix>.events`, file storage):
//!   every chat message, join, leave and block is published to it, and JetStream's sequence
//!   number is its place in the one order everybody sees (a message's id). A node learns of an
//!   event only by consuming the stream, in order, after JetStream has stored it: nothing a
//!   client sees can be lost with the node that sent it.
//! - **Names** (key-value bucket `<prefix>_names`): a name is held by creating its key, which
//!   JetStream does atomically, so two nodes cannot both give out one name.
//! - **Nodes** (key-value bucket `<prefix>_nodes`): each node puts its key every
//!   [`HEARTBEAT`]; the bucket forgets a key [`NODE_EXPIRY`] after its last put, and the names
//!   of a node that stopped beating are free again.
//!
//! Keys of the name bucket are the names' keys ([`shared::names::name_key`]) in hexadecimal:
//! name keys may be any letters, bucket keys only ASCII letters, digits and a few signs.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use shared::Message;

/// How often a node tells the others it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long after its last heartbeat a node counts as dead (its users are announced as left
/// and their names freed): three missed heartbeats, so that one slow put is not a death.
pub const NODE_EXPIRY: Duration = Duration::from_secs(6);

/// How long connecting to NATS may take at start before the server says it is unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the stream keeps events by default. History lives in PostgreSQL; the stream only
/// needs to cover a node catching up after a restart or an outage.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The prefix of the stream's, subject's and buckets' names unless `--cluster-prefix` says
/// otherwise.
pub const DEFAULT_PREFIX: &str = "chatterbox";

/// The longest prefix: the names made from it (`KV_<prefix>_names`) are directory names on the
/// NATS servers' disks, and 64 bytes keeps them far within any file system's limit on a name
/// while leaving room for a cluster's name and its environment (`prod-eu-chat`).
pub const MAX_PREFIX_LEN: usize = 64;

/// The most replicas JetStream keeps of a stream (its own limit; 3 is usual for a NATS
/// cluster of three, 5 survives two servers lost at once).
pub const MAX_REPLICAS: usize = 5;

/// The largest event the stream accepts: a message at the protocol's limit with its JSON
/// around it, far below NATS's default 1 MiB payload.
pub const MAX_EVENT_BYTES: i32 = 256 * 1024;

/// Why the bus failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// NATS could not be reached.
    #[error("NATS at {url} is unreachable: {why}")]
    Unreachable {
        /// Where it was looked for.
        url: String,
        /// What went wrong.
        why: String,
    },
    /// JetStream refused or failed an operation.
    #[error("JetStream: {0}")]
    JetStream(String),
    /// An event could not be read.
    #[error("an event in the stream is unreadable: {0}")]
    Event(#[from] serde_json::Error),
    /// The settings cannot name a stream and buckets.
    #[error("{0}")]
    Settings(String),
}

fn js_error(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::JetStream(e.to_string())
}

/// The names of what the bus uses, and the stream's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusSettings {
    /// The prefix of the stream's, subject's and buckets' names (letters, digits, `_`, `-`):
    /// clusters sharing one NATS keep apart by it.
    pub prefix: String,
    /// Replicas of the stream and buckets (1 for a single NATS server; 3 for a NATS cluster).
    pub replicas: usize,
    /// How long the stream keeps events.
    pub max_age: Duration,
}

impl Default for BusSettings {
    fn default() -> Self {
        BusSettings { prefix: DEFAULT_PREFIX.into(), replicas: 1, max_age: DEFAULT_MAX_AGE }
    }
}

/// Whether `prefix` can name a stream, a subject and buckets: 1 to [`MAX_PREFIX_LEN`] ASCII
/// letters, digits, `_` and `-` (what NATS allows in a bucket's name, the strictest of the
/// three); why not otherwise.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN || !prefix.bytes().all(allowed) {
        return Err(format!(
            "{prefix:?} is not a prefix: use 1 to {MAX_PREFIX_LEN} ASCII letters, digits, '_' \
             or '-'"
        ));
    }
    Ok(())
}

/// Whether JetStream can keep `replicas` replicas (1 to [`MAX_REPLICAS`]); why not otherwise.
pub fn check_replicas(replicas: usize) -> Result<(), String> {
    if !(1..=MAX_REPLICAS).contains(&replicas) {
        return Err(format!("{replicas} replicas: JetStream keeps 1 to {MAX_REPLICAS}"));
    }
    Ok(())
}

impl BusSettings {
    /// Whether these settings can name and create a stream and buckets.
    pub fn check(&self) -> Result<(), ClusterError> {
        check_prefix(&self.prefix)
            .and_then(|()| check_replicas(self.replicas))
            .map_err(ClusterError::Settings)
    }

    fn stream(&self) -> String {
        format!("{}_events", self.prefix)
    }

    fn subject(&self) -> String {
        format!("{}.events", self.prefix)
    }

    fn names(&self) -> String {
        format!("{}_names", self.prefix)
    }

    fn nodes(&self) -> String {
        format!("{}_nodes", self.prefix)
    }
}

/// Messages one event carries at most; also the span of ids an event's sequence number
/// stands for (message `i` of event `seq` is `seq · MESSAGES_PER_EVENT + i`). 256 merges a
/// busy node's burst (a flood of 10 senders queues a few dozen at a time) and leaves ids for
/// 3.6·10¹⁶ events.
pub const MESSAGES_PER_EVENT: usize = 256;

/// The estimated JSON bytes past which no further message joins an event: half of
/// [`MAX_EVENT_BYTES`], so that the estimate (which counts each byte twice for escapes) keeps
/// an event within the stream's limit; a single message always goes, whatever its size.
pub const EVENT_BATCH_BYTES: usize = 128 * 1024;

/// The id of message `i` of the event with stream sequence `seq`.
pub fn message_id(seq: u64, i: usize) -> i64 {
    let span = MESSAGES_PER_EVENT as u64;
    i64::try_from(seq.saturating_mul(span).saturating_add(i as u64)).unwrap_or(i64::MAX)
}

/// The stream sequence of the event that carried message `id`.
pub fn sequence_of(id: i64) -> u64 {
    u64::try_from(id).unwrap_or(0) / MESSAGES_PER_EVENT as u64
}

/// A message in an [`Event::Messages`], with the connection that sent it on its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The sending connection on its node (a broadcast does not go back to it).
    pub conn: u64,
    /// The message as it is delivered.
    pub message: Message,
    /// For an edit (extension `edit`): the text clients without `edit` get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain: Option<String>,
}

impl Sent {
    /// Its JSON size, estimated from above for ordinary text (each byte counted twice, for
    /// escapes, plus the keys and numbers around it).
    pub fn estimated_bytes(&self) -> usize {
        let m = &self.message;
        let plain = self.plain.as_ref().map_or(0, String::len);
        2 * (m.src.len() + m.dest.len() + m.content.len() + plain) + 64
    }
}

/// What the nodes tell each other, in the stream's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Event {
    /// Chat messages accepted by `node`, in the order accepted (at most
    /// [`MESSAGES_PER_EVENT`]): a busy node publishes what is queued together, so that the
    /// stream, NATS and every node pay their per-event costs once for many messages. Message
    /// `i` has the id [`message_id`]`(sequence, i)`.
    Messages {
        /// The node that accepted them.
        node: String,
        /// The messages with their senders' connections.
        messages: Vec<Sent>,
    },
    /// `name` (key `key`) logged in on `node`.
    Joined {
        /// The node.
        node: String,
        /// The name as shown.
        name: String,
        /// Its key.
        key: String,
    },
    /// `name` (key `key`) left `node`.
    Left {
        /// The node.
        node: String,
        /// The name as shown.
        name: String,
        /// Its key.
        key: String,
    },
    /// A change to accounts, tokens, reservations or sanctions, decided (and stored) by
    /// `node`; the others' registries follow it.
    Registry {
        /// The node that decided it.
        node: String,
        /// The change.
        op: crate::registry::RegistryOp,
    },
    /// A change to the rooms, decided (and stored) by `node`; the others follow it.
    Room {
        /// The node that decided it.
        node: String,
        /// The change.
        op: crate::rooms::RoomOp,
    },
    /// An operator on `node` kicks the user with key `key`, wherever it is connected.
    Kick {
        /// The operator's node.
        node: String,
        /// Whom.
        key: String,
        /// The operator.
        by: String,
        /// Why.
        reason: Option<String>,
    },
    /// A login on `node` proved it owns the account with key `key` and took the name over:
    /// the node holding it closes that connection.
    Replaced {
        /// The node where the owner logged in.
        node: String,
        /// The name's key.
        key: String,
    },
    /// `node` removed its user `name` (kicked or banned): the other nodes tell their users.
    Removed {
        /// The node the user was on.
        node: String,
        /// The name as shown.
        name: String,
        /// "removed" or "banned".
        how: String,
        /// The operator.
        by: String,
        /// Why.
        reason: Option<String>,
    },
    /// `blocker_key` blocks (`on`) or unblocks `blocked_key` (written `blocked_name`).
    Block {
        /// Who blocks.
        blocker_key: String,
        /// Whom.
        blocked_key: String,
        /// Whom, as written.
        blocked_name: String,
        /// Block or unblock.
        on: bool,
    },
}

/// Who holds a name: the node and the name as its holder wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The node the holder is connected to.
    pub node: String,
    /// The name as shown.
    pub name: String,
}

/// The answer to [`Bus::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The name is now this node's, at this revision of its key (what [`Bus::release`] needs,
    /// so that a late release cannot free the name of a later login).
    Claimed(u64),
    /// Someone else holds it.
    Held(Holder),
}

/// A node's connection to the bus.
#[derive(Debug, Clone)]
pub struct Bus {
    /// The connection to NATS (it reconnects by itself; [`Bus::connected`] tells its state).
    client: async_nats::Client,
    js: jetstream::Context,
    settings: BusSettings,
    stream: stream::Stream,
    names: kv::Store,
    nodes: kv::Store,
    /// This node's id.
    pub node: String,
}

/// The key-value bucket `name`, created if it does not exist: its stream is made here with the
/// settings the client library gives a bucket (one value per key, roll-ups and direct reads
/// allowed), because the library's own way first asks for the account's details in a form
/// NATS servers before 2.10 do not answer in.
async fn bucket(
    js: &jetstream::Context,
    name: &str,
    max_age: Duration,
    replicas: usize,
) -> Result<kv::Store, ClusterError> {
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .map_err(|e| js_error(format!("creating the bucket {name}: {e}")))?;
    js.get_key_value(name).await.map_err(|e| js_error(format!("opening the bucket {name}: {e}")))
}

/// A new node's id: random, so that a restarted node is a new one (its predecessor's names
/// expire with its heartbeat).
pub fn node_id() -> String {
    let mut bytes = [0u8; 6];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("node-{hex}")
}

/// How often a claim retries when the name changes hands under it.
const CLAIM_ATTEMPTS: usize = 5;

/// The key [`bucket_key`] made, back.
fn from_bucket_key(hex: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

/// A name's key in the name bucket: its bytes in hexadecimal.
fn bucket_key(key: &str) -> String {
    use std::fmt::Write;
    key.bytes().fold(String::with_capacity(key.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

impl Bus {
    /// Connects to NATS at `url` as node `node`, creating the stream and buckets if they do
    /// not exist yet.
    pub async fn connect(
        url: &str,
        settings: BusSettings,
        node: String,
    ) -> Result<Bus, ClusterError> {
        settings.check()?;
        let unreachable = |why: String| ClusterError::Unreachable { url: url.to_owned(), why };
        let options = async_nats::ConnectOptions::new().connection_timeout(CONNECT_TIMEOUT);
        let client = tokio::time::timeout(CONNECT_TIMEOUT, options.connect(url))
            .await
            .map_err(|_| unreachable("no answer".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let js = jetstream::new(client.clone());
        let stream = js
            .get_or_create_stream(stream::Config {
                name: settings.stream(),
                subjects: vec![settings.subject()],
                storage: stream::StorageType::File,
                num_replicas: settings.replicas,
                max_age: settings.max_age,
                max_message_size: MAX_EVENT_BYTES,
                ..Default::default()
            })
            .await
            .map_err(|e| js_error(format!("creating the stream: {e}")))?;
        let names = bucket(&js, &settings.names(), Duration::ZERO, settings.replicas).await?;
        let nodes = bucket(&js, &settings.nodes(), NODE_EXPIRY, settings.replicas).await?;
        let bus = Bus { client, js, settings, stream, names, nodes, node };
        bus.heartbeat().await?;
        Ok(bus)
    }

    /// Publishes `event` and waits until JetStream has stored it; returns its sequence number.
    pub async fn publish(&self, event: &Event) -> Result<u64, ClusterError> {
        self.send(event).await?.await
    }

    /// Sends `event` to JetStream and returns what waits for its acknowledgement (the
    /// sequence number): events sent one after the other keep their order in the stream,
    /// however their acknowledgements are awaited.
    pub async fn send(
        &self,
        event: &Event,
    ) -> Result<impl Future<Output = Result<u64, ClusterError>> + use<>, ClusterError> {
        let payload = Bytes::from(serde_json::to_vec(event)?);
        let ack = self.js.publish(self.settings.subject(), payload).await.map_err(js_error)?;
        Ok(async move { Ok(ack.await.map_err(js_error)?.sequence) })
    }

    /// The events after sequence `after`, in order, and then as they come: (sequence, event).
    pub async fn events(
        &self,
        after: u64,
    ) -> Result<impl Stream<Item = Result<(u64, Event), ClusterError>> + use<>, ClusterError> {
        let deliver_policy = consumer::DeliverPolicy::ByStartSequence { start_sequence: after + 1 };
        let consumer = self
            .stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: self.settings.subject(),
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(js_error)?;
        let messages = consumer.messages().await.map_err(js_error)?;
        Ok(messages.map(|m| {
            let m = m.map_err(js_error)?;
            let seq = m.info().map_err(js_error)?.stream_sequence;
            Ok((seq, serde_json::from_slice(&m.payload)?))
        }))
    }

    /// The last sequence number in the stream (0 when empty).
    pub async fn last_sequence(&self) -> Result<u64, ClusterError> {
        let mut stream = self.stream.clone();
        Ok(stream.info().await.map_err(js_error)?.state.last_sequence)
    }

    /// How many events of the stream come after sequence `applied`: what a node that has
    /// applied everything up to `applied` has yet to apply (the stream has one subject, so its
    /// sequence numbers have no gaps).
    pub async fn lag(&self, applied: u64) -> Result<u64, ClusterError> {
        Ok(self.last_sequence().await?.saturating_sub(applied))
    }

    /// Whether the connection to NATS is up now (no I/O: the client's own record, which it
    /// keeps while it reconnects by itself after a loss).
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Takes the name with key `key` for this node, atomically. A name this node holds
    /// already is taken again under a new revision (the hub decides whether the login may
    /// have it); one held by a node that is no longer alive is taken over.
    pub async fn claim(&self, key: &str, name: &str) -> Result<Claim, ClusterError> {
        let holder = Holder { node: self.node.clone(), name: name.to_owned() };
        let value = Bytes::from(serde_json::to_vec(&holder)?);
        let k = bucket_key(key);
        for _ in 0..CLAIM_ATTEMPTS {
            match self.names.create(&k, value.clone()).await {
                Ok(revision) => return Ok(Claim::Claimed(revision)),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(e) => return Err(js_error(e)),
            }
            let Some(entry) = self.names.entry(&k).await.map_err(js_error)? else {
                continue; // released meanwhile
            };
            let held: Holder = serde_json::from_slice(&entry.value)?;
            if held.node == self.node || !self.alive(&held.node).await? {
                // The revision check keeps this atomic: a claim that raced it wins instead.
                if let Ok(revision) = self.names.update(&k, value.clone(), entry.revision).await {
                    return Ok(Claim::Claimed(revision));
                }
                continue;
            }
            return Ok(Claim::Held(held));
        }
        Err(ClusterError::JetStream(format!("the name {name} changed hands too often to claim")))
    }

    /// Takes the name with key `key` for this node whoever holds it (its owner proved it is
    /// theirs); returns the revision of the claim.
    pub async fn take(&self, key: &str, name: &str) -> Result<u64, ClusterError> {
        let holder = Holder { node: self.node.clone(), name: name.to_owned() };
        let value = Bytes::from(serde_json::to_vec(&holder)?);
        let k = bucket_key(key);
        for _ in 0..CLAIM_ATTEMPTS {
            let taken = match self.names.entry(&k).await.map_err(js_error)? {
                Some(entry) => self.names.update(&k, value.clone(), entry.revision).await.ok(),
                None => self.names.create(&k, value.clone()).await.ok(),
            };
            if let Some(revision) = taken {
                return Ok(revision);
            }
        }
        Err(ClusterError::JetStream(format!("the name {name} changed hands too often to take")))
    }

    /// Gives the name with key `key` back, if it is still held at `revision`.
    pub async fn release(&self, key: &str, revision: u64) -> Result<(), ClusterError> {
        match self.names.delete_expect_revision(bucket_key(key), Some(revision)).await {
            Ok(()) => Ok(()),
            // claimed again since (a later login): not ours to free
            Err(e) if e.kind() == kv::DeleteErrorKind::WrongLastRevision => Ok(()),
            Err(e) => Err(js_error(e)),
        }
    }

    /// Every name held on a node that is alive: (key, holder).
    pub async fn holders(&self) -> Result<Vec<(String, Holder)>, ClusterError> {
        let alive = self.alive_nodes().await?;
        let mut keys = Box::pin(self.names.keys().await.map_err(js_error)?);
        let mut out = Vec::new();
        while let Some(k) = keys.next().await {
            let k = k.map_err(js_error)?;
            let Some(entry) = self.names.entry(&k).await.map_err(js_error)? else { continue };
            let Ok(holder) = serde_json::from_slice::<Holder>(&entry.value) else { continue };
            if alive.contains(&holder.node)
                && let Some(key) = from_bucket_key(&k)
            {
                out.push((key, holder));
            }
        }
        Ok(out)
    }

    /// The nodes alive now (their heartbeat within [`NODE_EXPIRY`]).
    pub async fn alive_nodes(&self) -> Result<std::collections::HashSet<String>, ClusterError> {
        let mut keys = Box::pin(self.nodes.keys().await.map_err(js_error)?);
        let mut out = std::collections::HashSet::new();
        while let Some(k) = keys.next().await {
            if let Some(node) = from_bucket_key(&k.map_err(js_error)?) {
                out.insert(node);
            }
        }
        Ok(out)
    }

    /// Tells the other nodes this one is alive (every [`HEARTBEAT`]).
    pub async fn heartbeat(&self) -> Result<(), ClusterError> {
        self.nodes.put(bucket_key(&self.node), Bytes::new()).await.map_err(js_error)?;
        Ok(())
    }

    /// Whether `node` has beaten its heart within [`NODE_EXPIRY`].
    pub async fn alive(&self, node: &str) -> Result<bool, ClusterError> {
        Ok(self.nodes.entry(bucket_key(node)).await.map_err(js_error)?.is_some())
    }

    /// Deletes the stream and buckets (a test's own, when it is done).
    pub async fn destroy(&self) -> Result<(), ClusterError> {
        self.js.delete_stream(self.settings.stream()).await.map_err(js_error)?;
        self.js.delete_key_value(self.settings.names()).await.map_err(js_error)?;
        self.js.delete_key_value(self.settings.nodes()).await.map_err(js_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The NATS server the project's machines run; tests make their own stream and buckets.
    fn nats_url() -> String {
        std::env::var("CHATTERBOX_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
    }

    fn settings() -> BusSettings {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        BusSettings { prefix: format!("test_{}_{n}", std::process::id()), ..BusSettings::default() }
    }

    async fn bus(settings: &BusSettings, node: &str) -> Bus {
        Bus::connect(&nats_url(), settings.clone(), node.into()).await.unwrap_or_else(|e| {
            panic!("NATS with JetStream is needed for this test ({e}); start it or set CHATTERBOX_TEST_NATS")
        })
    }

    #[tokio::test]
    async fn events_come_back_to_every_node_in_one_order_with_their_sequence() {
        let s = settings();
        let (a, b) = (bus(&s, "a").await, bus(&s, "b").await);
        let m = |text: &str| Message::new("ann", "ALL", 1, text);
        let one = |text: &str| Event::Messages {
            node: "a".into(),
            messages: vec![Sent { conn: 1, message: m(text), plain: None }],
        };
        let first = a.publish(&one("one")).await.expect("stored");
        let joined = Event::Joined { node: "b".into(), name: "Bob".into(), key: "bob".into() };
        let second = b.publish(&joined).await.expect("stored");
        assert!(second > first);
        assert_eq!(a.last_sequence().await.expect("info"), second);
        assert_eq!(a.lag(first).await.expect("info"), 1, "one event after the first");
        assert_eq!(b.lag(second).await.expect("info"), 0, "caught up");
        assert!(a.connected() && b.connected());
        for node in [&a, &b] {
            let mut events = Box::pin(node.events(first - 1).await.expect("consumer"));
            let (seq, e) = events.next().await.expect("one").expect("readable");
            assert_eq!((seq, e), (first, one("one")));
            assert_eq!(
                events.next().await.expect("two").expect("readable"),
                (second, joined.clone())
            );
        }
        // From a later point, only what follows it.
        let mut later = Box::pin(b.events(first).await.expect("consumer"));
        assert_eq!(later.next().await.expect("one").expect("readable").0, second);
        a.destroy().await.expect("cleaned up");
    }

    #[tokio::test]
    async fn a_name_is_held_by_one_node_until_released_or_its_node_dies() {
        let s = settings();
        let (a, b) = (bus(&s, "a").await, bus(&s, "b").await);
        let Claim::Claimed(first) = a.claim("bob", "Bob").await.expect("claim") else {
            panic!("free")
        };
        assert_eq!(
            b.claim("bob", "BOB").await.expect("claim"),
            Claim::Held(Holder { node: "a".into(), name: "Bob".into() })
        );
        // Node a claims it again (another login there): a late release of the first claim
        // does not free it.
        let Claim::Claimed(second) = a.claim("bob", "bob").await.expect("claim") else {
            panic!("a's own")
        };
        a.release("bob", first).await.expect("stale: nothing happens");
        assert!(matches!(b.claim("bob", "bob").await.expect("claim"), Claim::Held(_)));
        let held = a.holders().await.expect("holders");
        assert_eq!(held, [("bob".to_owned(), Holder { node: "a".into(), name: "bob".into() })]);
        a.release("bob", second).await.expect("released");
        assert!(matches!(b.claim("bob", "bob").await.expect("claim"), Claim::Claimed(_)));
        // Non-ASCII keys are fine.
        assert!(matches!(a.claim("bоb-кот", "bоb-кот").await.expect("claim"), Claim::Claimed(_)));
        assert!(a.holders().await.expect("holders").iter().any(|(k, _)| k == "bоb-кот"));
        // A node that stops beating loses its names to the next claim.
        let dead = bus(&s, "dead").await;
        assert!(matches!(dead.claim("cat", "cat").await.expect("claim"), Claim::Claimed(_)));
        assert!(a.alive_nodes().await.expect("nodes").contains("dead"));
        let deadline = tokio::time::Instant::now() + NODE_EXPIRY * 3;
        while a.alive("dead").await.expect("alive?") {
            assert!(tokio::time::Instant::now() < deadline, "the node never expired");
            tokio::time::sleep(HEARTBEAT).await;
            a.heartbeat().await.expect("beat");
            b.heartbeat().await.expect("beat");
        }
        assert!(!a.alive_nodes().await.expect("nodes").contains("dead"));
        assert!(!a.holders().await.expect("holders").iter().any(|(k, _)| k == "cat"));
        assert!(matches!(a.claim("cat", "Cat").await.expect("claim"), Claim::Claimed(_)));
        a.destroy().await.expect("cleaned up");
    }

    #[test]
    fn prefixes_are_letters_digits_underscores_and_dashes_and_replicas_what_jetstream_keeps() {
        for good in ["chatterbox", "prod-eu_2", "A", &"x".repeat(MAX_PREFIX_LEN)] {
            assert_eq!(check_prefix(good), Ok(()), "{good}");
        }
        for bad in ["", "a.b", "a b", "a*", "a>", "kat/z", "näme", &"x".repeat(MAX_PREFIX_LEN + 1)]
        {
            let e = check_prefix(bad).expect_err(bad);
            assert!(e.contains("letters, digits"), "{e}");
        }
        assert_eq!(check_replicas(1), Ok(()));
        assert_eq!(check_replicas(MAX_REPLICAS), Ok(()));
        assert!(check_replicas(0).is_err() && check_replicas(MAX_REPLICAS + 1).is_err());
        assert!(BusSettings::default().check().is_ok());
    }

    #[tokio::test]
    async fn bad_settings_are_refused_before_connecting() {
        let s = BusSettings { prefix: "a.b".into(), ..BusSettings::default() };
        let err = Bus::connect("nats://127.0.0.1:1", s, "a".into()).await.expect_err("bad prefix");
        assert!(matches!(err, ClusterError::Settings(_)), "{err}");
    }

    #[tokio::test]
    async fn events_sent_one_after_the_other_keep_their_order_whatever_the_acks() {
        let s = settings();
        let a = bus(&s, "a").await;
        let mut acks = Vec::new();
        for i in 0..200 {
            let message = Message::new("ann", "ALL", 1, format!("{i}"));
            let event = Event::Messages {
                node: "a".into(),
                messages: vec![Sent { conn: 1, message, plain: None }],
            };
            acks.push(a.send(&event).await.expect("sent"));
        }
        // acknowledgements awaited last first
        let mut seqs = Vec::new();
        while let Some(ack) = acks.pop() {
            seqs.push(ack.await.expect("stored"));
        }
        seqs.reverse();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        let mut events = Box::pin(a.events(0).await.expect("consumer"));
        for i in 0..200 {
            let (_, e) = events.next().await.expect("an event").expect("readable");
            let Event::Messages { messages, .. } = e else { panic!("{e:?}") };
            assert_eq!(messages[0].message.content, format!("{i}"));
        }
        a.destroy().await.expect("cleaned up");
    }

    #[test]
    fn each_message_of_an_event_has_an_id_of_its_own_in_the_streams_order() {
        assert_eq!(message_id(1, 0), 256);
        assert_eq!(message_id(1, 255), 511);
        assert_eq!(message_id(2, 0), 512);
        assert!(message_id(1, MESSAGES_PER_EVENT - 1) < message_id(2, 0));
        for id in [256, 300, 511] {
            assert_eq!(sequence_of(id), 1);
        }
        assert_eq!((sequence_of(512), sequence_of(0), sequence_of(-1)), (2, 0, 0));
        assert_eq!(message_id(u64::MAX, 3), i64::MAX, "saturates rather than wraps");
    }

    #[tokio::test]
    async fn an_unreachable_nats_is_a_clear_error() {
        let err = Bus::connect("nats://127.0.0.1:1", settings(), "a".into())
            .await
            .expect_err("nothing listens on port 1");
        assert!(err.to_string().contains("NATS at nats://127.0.0.1:1 is unreachable"), "{err}");
    }
}
