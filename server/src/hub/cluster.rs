//! The hub in cluster mode: what it tells the other nodes and what it learns from them.
//!
//! A node's hub does not give out message ids itself. It publishes each accepted message to
//! the cluster's stream (through the [`publisher`] task, which keeps the node's messages in
//! the order they were accepted) and delivers messages, its own included, only as they come
//! back from the stream ([`Hub::apply`]), so that every node delivers one order. Messages
//! queued together go out as one event; a message's id is its event's sequence number and its
//! place in the event ([`crate::cluster::message_id`]). Each node
//! writes every message it consumes to the shared database (idempotently), so its own
//! `committed` watermark covers everything before a login's history bound.
//!
//! Presence: a login's name is claimed in the cluster's name bucket by the session before the
//! hub sees it; the hub announces joins and leaves of its own users at once, and publishes
//! them for the other nodes, which announce them as they consume them. A node whose heartbeat
//! stops has its users announced as left by every other node.
//!
//! Lag: the hub records the sequence of the last event it applied, and the [`lag`] task sets
//! `chatterbox_jetstream_consumer_lag` from it and the stream's last sequence.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use prometheus_client::metrics::gauge::Gauge;
use shared::frame::ended;
use shared::names::name_key;
use shared::{Frame, Message};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Command, ConnId, Entries, Hub, HubHandle, Kind, Pending};
use crate::cluster::{
    Bus, ClusterError, EVENT_BATCH_BYTES, Event, HEARTBEAT, Holder, MESSAGES_PER_EVENT, Sent,
};
use crate::registry::RegistryOp;
use crate::rooms::RoomOp;
use crate::store::Op;
use crate::wire;

/// Jobs queued for the publisher: a node's messages wait here while JetStream acknowledges
/// the ones before. As many as a burst from every connection of a busy node; when full, the
/// hub waits, and with it the senders (backpressure, as with the store's queue).
pub const PUBLISH_QUEUE: usize = 4096;

/// Publications awaiting JetStream's acknowledgement at once: enough to keep the link busy
/// (one round trip covers this many), few enough to bound what a failure must report.
pub const PUBLISH_IN_FLIGHT: usize = 256;

/// Events consumed from the stream, waiting for the hub.
pub const EVENT_QUEUE: usize = 4096;

/// How long a stopping node waits for its last events (its users' leaves) to be published:
/// within the server's shutdown grace, and short, as NATS may be what is away.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Longest wait before consuming the stream again after it failed (NATS away).
const RECONSUME_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// How often a node measures how far behind the stream it is: one small JetStream request per
/// node, and a backlog shows within a Prometheus scrape interval (15 s by default).
pub const LAG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The ERROR a sender gets when its message could not be stored in the cluster's stream.
pub const NOT_ACCEPTED: &str = "Your message could not be accepted right now (the cluster's \
    message stream is unreachable) and was not delivered; send it again in a moment.";

/// What the publisher does, in order.
#[derive(Debug)]
pub enum Job {
    /// Publish an event; `from`: the local users to tell if it fails.
    Publish {
        /// The event.
        event: Event,
        /// The local user who sent each of its messages, to be told of a failure.
        from: Vec<String>,
    },
    /// Give a name back to the cluster, if still held at this revision.
    Release {
        /// The name's key.
        key: String,
        /// The revision of its claim.
        revision: u64,
    },
}

/// A user online on another node.
#[derive(Debug)]
pub(super) struct Remote {
    pub(super) key: String,
    pub(super) node: String,
    /// The name as a JSON string, encoded once.
    pub(super) json: Bytes,
}

/// The hub's side of the cluster.
#[derive(Debug)]
pub struct Link {
    /// This node's id.
    pub(super) node: String,
    jobs: mpsc::Sender<Job>,
    /// Jobs decided where the hub cannot wait (a user removed), queued after each round.
    later: Vec<Job>,
    /// Users online on other nodes, by name.
    pub(super) remote: BTreeMap<String, Remote>,
    /// Their keys → names.
    pub(super) remote_keys: HashMap<String, String>,
    /// The sequence of the last event the hub applied, for the [`lag`] task.
    applied: Arc<AtomicU64>,
    /// The last message id in the database when the node started: the stream is consumed
    /// again from the event that carried it (it may have been stored in part), and what is
    /// stored already is skipped.
    stored_at_start: i64,
    /// The publisher task, awaited when the node stops.
    publisher: tokio::task::JoinHandle<()>,
}

/// An event from the stream with its sequence number, or why it could not be read.
pub type Inbound = Result<(u64, Event), ClusterError>;

/// What the hub's loop waits on besides its commands.
#[derive(Debug)]
pub struct Feeds {
    /// Events from the stream, in order.
    pub events: mpsc::Receiver<Inbound>,
    /// Which nodes are alive, when that changes.
    pub alive: mpsc::Receiver<Membership>,
}

/// Starts the cluster's tasks for a hub: the publisher, the stream's consumer (from the event
/// that carried message `stored`, the last in the database), the heartbeat, and the measure
/// of the hub's lag behind the stream into `lag_gauge`; `holders` are the names online in
/// the cluster now.
pub fn start(
    bus: Bus,
    stored: i64,
    holders: Vec<(String, Holder)>,
    hub: HubHandle,
    shutdown: CancellationToken,
    lag_gauge: Gauge,
) -> (Link, Feeds) {
    let after = crate::cluster::sequence_of(stored).saturating_sub(1);
    let (jobs, jobs_rx) = mpsc::channel(PUBLISH_QUEUE);
    let publisher = tokio::spawn(publisher(bus.clone(), jobs_rx, hub));
    let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
    tokio::spawn(consumer(bus.clone(), after, events_tx, shutdown.clone()));
    let (alive_tx, alive) = mpsc::channel(MEMBERSHIP_QUEUE);
    tokio::spawn(heartbeat(bus.clone(), alive_tx, shutdown.clone()));
    let applied = Arc::new(AtomicU64::new(after));
    tokio::spawn(lag(bus.clone(), Arc::clone(&applied), lag_gauge, shutdown));
    let mut link = Link {
        node: bus.node.clone(),
        jobs,
        later: Vec::new(),
        remote: BTreeMap::new(),
        remote_keys: HashMap::new(),
        applied,
        stored_at_start: stored,
        publisher,
    };
    for (key, holder) in holders {
        if holder.node != link.node {
            link.add_remote(key, holder.node, holder.name);
        }
    }
    (link, Feeds { events, alive })
}

impl Link {
    /// Notes `name` online on `node`; its JSON if it was not online before (to announce).
    fn add_remote(&mut self, key: String, node: String, name: String) -> Option<Bytes> {
        if let Some(r) = self.remote.get_mut(&name) {
            // Taken over on another node: still online, now there (its old node's leave,
            // coming after, is then not this one's).
            r.node = node;
            return None;
        }
        let json = wire::string(&name);
        self.remote_keys.insert(key.clone(), name.clone());
        self.remote.insert(name, Remote { key, node, json: json.clone() });
        Some(json)
    }

    fn remove_remote(&mut self, name: &str) -> Option<Remote> {
        let r = self.remote.remove(name)?;
        self.remote_keys.remove(&r.key);
        Some(r)
    }

    /// Queues a job for the publisher, waiting while its queue is full.
    pub(super) async fn queue(&self, job: Job) {
        let _ = self.jobs.send(job).await;
    }

    /// The node stops: its users leave the cluster at once (their names freed, the other
    /// nodes told) rather than when its heartbeat expires. Waits at most [`STOP_GRACE`].
    pub(super) async fn finish(mut self) {
        self.publish_later().await;
        let Link { jobs, publisher, .. } = self;
        drop(jobs); // the publisher ends once it has published what is queued
        if tokio::time::timeout(STOP_GRACE, publisher).await.is_err() {
            tracing::warn!("the cluster was not told of every leave in time");
        }
    }

    /// Keeps a job for [`Link::publish_later`].
    pub(super) fn later(&mut self, job: Job) {
        self.later.push(job);
    }

    /// Queues the jobs kept by [`Link::later`], in order.
    pub(super) async fn publish_later(&mut self) {
        for job in std::mem::take(&mut self.later) {
            let _ = self.jobs.send(job).await;
        }
    }
}

/// Publishes the node's events in order, pipelined; a failure is reported to the senders.
///
/// Each event is sent in turn (so the stream keeps the order the hub accepted them in) and its
/// acknowledgement awaited beside the next ones. Messages queued one after the other go out
/// as one event ([`merge_queued`]): under load, one publication, acknowledgement and
/// consumption on every node for many messages; idle, each goes at once. The publisher never
/// waits for the hub (which may be waiting for room in the publisher's queue): a sender whose
/// message failed is told when the hub's queue has room, failures of one sender counted
/// together meanwhile.
async fn publisher(bus: Bus, mut jobs: mpsc::Receiver<Job>, hub: HubHandle) {
    let mut in_flight = futures_util::stream::FuturesOrdered::new();
    let mut owed = Owed::default();
    let mut retry = tokio::time::interval(OWED_RETRY);
    // A job taken from the queue but not merged into the event before it.
    let mut held: Option<Job> = None;
    loop {
        tokio::select! {
            biased;
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                owed.failed(done);
                owed.tell(&hub);
            }
            _ = retry.tick(), if !owed.is_empty() => owed.tell(&hub),
            job = jobs.recv(), if held.is_none() && in_flight.len() < PUBLISH_IN_FLIGHT => {
                let Some(job) = job else { break };
                held = Some(job);
            }
        }
        while in_flight.len() < PUBLISH_IN_FLIGHT
            && let Some(job) = held.take()
        {
            match merge_queued(job, &mut jobs, &mut held) {
                Job::Publish { event, from } => {
                    let sent = bus.send(&event).await;
                    in_flight.push_back(async move {
                        let result = match sent {
                            Ok(ack) => ack.await,
                            Err(e) => Err(e),
                        };
                        (result, from)
                    });
                }
                Job::Release { key, revision } => {
                    if let Err(e) = bus.release(&key, revision).await {
                        tracing::warn!(error = %e, "a name could not be released");
                    }
                }
            }
        }
    }
    while let Some(done) = in_flight.next().await {
        owed.failed(done);
    }
    owed.tell(&hub);
}

/// `job` with the messages queued right behind it merged in, when it publishes messages:
/// up to [`MESSAGES_PER_EVENT`] and [`EVENT_BATCH_BYTES`], and only what is queued already
/// (never waiting for more). The first job that cannot join is left in `held`.
fn merge_queued(job: Job, jobs: &mut mpsc::Receiver<Job>, held: &mut Option<Job>) -> Job {
    let Job::Publish { event: Event::Messages { node, mut messages }, mut from } = job else {
        return job;
    };
    let mut bytes: usize = messages.iter().map(Sent::estimated_bytes).sum();
    while messages.len() < MESSAGES_PER_EVENT && bytes < EVENT_BATCH_BYTES {
        let Ok(next) = jobs.try_recv() else { break };
        match next {
            Job::Publish { event: Event::Messages { node: n, messages: more }, from: f }
                if n == node
                    && messages.len() + more.len() <= MESSAGES_PER_EVENT
                    && bytes + more.iter().map(Sent::estimated_bytes).sum::<usize>()
                        <= EVENT_BATCH_BYTES =>
            {
                bytes += more.iter().map(Sent::estimated_bytes).sum::<usize>();
                messages.extend(more);
                from.extend(f);
            }
            other => {
                *held = Some(other);
                break;
            }
        }
    }
    Job::Publish { event: Event::Messages { node, messages }, from }
}

/// How often the publisher tries again to tell senders of failed messages while the hub's
/// queue is full.
const OWED_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// Senders not told yet that messages of theirs failed, with how many: at most one entry per
/// user of this node.
#[derive(Debug, Default)]
struct Owed(HashMap<String, usize>);

impl Owed {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Notes a publication's outcome: each sender of its messages is owed a notice.
    fn failed(&mut self, done: (Result<u64, ClusterError>, Vec<String>)) {
        if let (Err(e), from) = done {
            tracing::warn!(error = %e, "an event could not be published");
            for name in from {
                *self.0.entry(name).or_default() += 1;
            }
        }
    }

    /// Tells whom the hub's queue has room for now.
    fn tell(&mut self, hub: &HubHandle) {
        let names: Vec<String> = self.0.keys().cloned().collect();
        for name in names {
            let n = self.0.get(&name).copied().unwrap_or(0);
            let text = if n == 1 { NOT_ACCEPTED.to_owned() } else { not_accepted(n) };
            let tell = Command::Tell { name: name.clone(), frame: Box::new(Frame::error(text)) };
            match hub.try_send(tell) {
                Ok(()) => {
                    self.0.remove(&name);
                }
                Err(mpsc::error::TrySendError::Full(_)) => return,
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.0.clear();
                    return;
                }
            }
        }
    }
}

/// The ERROR for `n` messages of one sender that the stream could not take.
fn not_accepted(n: usize) -> String {
    format!(
        "{n} of your messages could not be accepted right now (the cluster's message stream is \
         unreachable) and were not delivered; send them again in a moment."
    )
}

/// Consumes the stream from after `after` and hands each event to the hub, in order; after a
/// failure it consumes again from after the last event handed on.
async fn consumer(
    bus: Bus,
    mut after: u64,
    events: mpsc::Sender<Result<(u64, Event), ClusterError>>,
    shutdown: CancellationToken,
) {
    let mut wait = HEARTBEAT / 4;
    loop {
        match bus.events(after).await {
            Ok(stream) => {
                let mut stream = Box::pin(stream);
                loop {
                    let next = tokio::select! {
                        () = shutdown.cancelled() => return,
                        next = stream.next() => next,
                    };
                    match next {
                        Some(Ok((seq, event))) => {
                            wait = HEARTBEAT / 4;
                            after = seq;
                            if events.send(Ok((seq, event))).await.is_err() {
                                return; // the hub is gone
                            }
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "consuming the cluster's stream failed");
                            break;
                        }
                        None => break,
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot consume the cluster's stream"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(RECONSUME_MAX);
    }
}

/// Which nodes are alive, and the names held on those that came back.
#[derive(Debug)]
pub struct Membership {
    /// The nodes alive.
    pub alive: HashSet<String>,
    /// The names held on the nodes that were counted dead and are alive again (after NATS
    /// was away longer than their heartbeats last, say): their users are online again.
    pub returned: Vec<(String, Holder)>,
}

/// Membership changes waiting for the hub: they are rare (a node starting or stopping).
const MEMBERSHIP_QUEUE: usize = 16;

/// Beats this node's heart every [`HEARTBEAT`] and tells the hub which nodes are alive.
///
/// A node counts as gone only when two listings in a row miss it: after NATS was away, every
/// heartbeat may have expired, and each node beats again within one [`HEARTBEAT`].
async fn heartbeat(bus: Bus, alive: mpsc::Sender<Membership>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: HashSet<String> = HashSet::new();
    let mut known: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = bus.heartbeat().await {
            tracing::warn!(error = %e, "heartbeat failed");
            continue;
        }
        let listed = match bus.alive_nodes().await {
            Ok(nodes) => nodes,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the nodes alive");
                continue;
            }
        };
        let now: HashSet<String> = listed.union(&previous).cloned().collect();
        previous = listed;
        if now == known {
            continue;
        }
        let came_back: HashSet<&String> = now.difference(&known).collect();
        let returned = if came_back.is_empty() || known.is_empty() {
            Vec::new() // nothing new, or the first listing (the hub started with the holders)
        } else {
            match bus.holders().await {
                Ok(all) => all.into_iter().filter(|(_, h)| came_back.contains(&h.node)).collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list the names held");
                    continue; // tried again at the next beat
                }
            }
        };
        known = now.clone();
        if alive.send(Membership { alive: now, returned }).await.is_err() {
            return; // the hub is gone
        }
    }
}

/// Sets `gauge` every [`LAG_INTERVAL`] to the number of events in the stream after the last
/// one the hub applied. While the stream cannot be asked, the gauge keeps its last value (and
/// `/healthz` says NATS is unreachable).
async fn lag(bus: Bus, applied: Arc<AtomicU64>, gauge: Gauge, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(LAG_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match bus.lag(applied.load(Ordering::Relaxed)).await {
            Ok(behind) => {
                gauge.set(i64::try_from(behind).unwrap_or(i64::MAX));
            }
            Err(e) => tracing::debug!(error = %e, "cannot measure the lag behind the stream"),
        }
    }
}

impl Hub {
    /// Applies an event from the stream: delivers a message to this node's recipients (after
    /// the local store has it), and keeps presence and blocks of the other nodes.
    pub(super) async fn apply(&mut self, seq: u64, event: Event) {
        let Some(link) = self.link.as_ref() else { return };
        link.applied.store(seq, Ordering::Relaxed);
        let own = link.node.clone();
        let stored_at_start = link.stored_at_start;
        match event {
            Event::Messages { node, messages } => {
                for (i, Sent { conn, message, plain }) in messages.into_iter().enumerate() {
                    let id = crate::cluster::message_id(seq, i);
                    if id <= stored_at_start {
                        continue; // stored before this node started (consumed again)
                    }
                    let from = if node == own { ConnId(conn) } else { ConnId::NONE };
                    self.deliver_later(id, from, &message, plain.as_deref());
                    let _ = self.store.send(Op::Message { id, message }).await;
                }
            }
            Event::Joined { node, name, key } => {
                if node == own || self.keys.contains_key(&key) {
                    return; // announced here at the login
                }
                let rooms = self.rooms.of(&key);
                let json = self.link.as_mut().and_then(|l| l.add_remote(key, node, name.clone()));
                if let Some(json) = json {
                    self.presence(true, json);
                    // Back in its rooms, for their members here.
                    for room in rooms {
                        self.room_presence(&room, &name, true);
                    }
                }
            }
            Event::Left { node, name, key: _ } => {
                if node == own {
                    return;
                }
                let gone = self.link.as_mut().and_then(|l| {
                    if l.remote.get(&name).is_some_and(|r| r.node == node) {
                        l.remove_remote(&name)
                    } else {
                        None
                    }
                });
                if let Some(r) = gone {
                    self.presence(false, r.json);
                }
            }
            Event::Block { blocker_key, blocked_key, blocked_name, on } => {
                self.set_block(blocker_key, blocked_key, blocked_name, on);
            }
            Event::Registry { node, op } => {
                if node != own {
                    self.registry.apply(&op);
                    self.follow(&op);
                }
            }
            Event::Room { node, op } => {
                if node != own {
                    self.rooms.apply(&op);
                    // Room presence for the members here: who joined or left on that node.
                    let who = |key: &str| self.link.as_ref()?.remote_keys.get(key).cloned();
                    match &op {
                        RoomOp::Join { room, key } => {
                            if let Some(name) = who(key) {
                                self.room_presence(room, &name, true);
                            }
                        }
                        RoomOp::Part { room, key } => {
                            if let Some(name) = who(key) {
                                self.room_presence(room, &name, false);
                            }
                        }
                        RoomOp::Invite { room, key, by } => {
                            if let Some(name) = self.keys.get(key).cloned() {
                                self.tell_invited(&name, room, by);
                            }
                        }
                        RoomOp::Put { .. } | RoomOp::PartAll { .. } => {}
                    }
                }
            }
            Event::Kick { node, key, by, reason } => {
                if node != own
                    && let Some(name) = self.keys.get(&key).cloned()
                {
                    self.throw_out(&[name], &by, "removed", reason.as_deref());
                }
            }
            Event::Replaced { node, key } => {
                if node != own
                    && let Some(name) = self.keys.get(&key).cloned()
                {
                    let text = super::replaced(&name);
                    self.remove(&name, Some(super::Goodbye { text, ended: Some(ended::REPLACED) }));
                }
            }
            Event::Removed { node, name, how, by, reason } => {
                if node != own {
                    self.announce_removal(&name, &how, &by, reason.as_deref());
                }
            }
        }
    }

    /// What another node's registry change means for this node's users: a ban removes those
    /// it covers, a mute is told to its user, a new claim's blocks go.
    fn follow(&mut self, op: &RegistryOp) {
        match op {
            RegistryOp::ClearBlocks { blocker_key } => self.clear_blocks(blocker_key),
            RegistryOp::PutSanction { kind, key, address, by, reason, .. } if kind == "ban" => {
                let address: Option<crate::throttle::Cidr> =
                    address.as_deref().and_then(|a| a.parse().ok());
                let gone: Vec<String> = self
                    .users
                    .iter()
                    .filter(|(_, u)| {
                        !u.operator
                            && (key.as_ref() == Some(&u.key)
                                || address.is_some_and(|a| a.contains(u.ip)))
                    })
                    .map(|(n, _)| n.clone())
                    .collect();
                self.throw_out(&gone, by, "banned", reason.as_deref());
            }
            RegistryOp::PutSanction { kind, key: Some(key), .. } if kind == "mute" => {
                let name = self.keys.get(key).cloned();
                let text = self
                    .registry
                    .muted(key, super::unix_now())
                    .map(|s| format!("An operator muted you {}.", s.describe()));
                if let (Some(name), Some(text)) = (name, text) {
                    self.send_error(&name, text);
                }
            }
            _ => {}
        }
    }

    /// Queues message `id` for this node's recipients, to go out once it is committed here.
    fn deliver_later(&mut self, id: i64, from: ConnId, message: &Message, plain: Option<&str>) {
        self.next_id = self.next_id.max(id + 1);
        let room = crate::rooms::room_of(&message.dest);
        let kind = if message.is_broadcast() || room.is_some() {
            let hidden = self.hidden_from(&name_key(&message.src));
            let hidden = (!hidden.is_empty()).then(|| Arc::new(hidden));
            let entry = Entries::new(message, id, plain);
            match room {
                Some(room) => Kind::Room { room: room.to_owned(), from, entry, hidden },
                None => Kind::Broadcast { from, entry, hidden },
            }
        } else {
            let dest_key = name_key(&message.dest);
            let to = self.keys.get(&dest_key).cloned();
            if to.is_none() && from == ConnId::NONE {
                return; // neither its recipient nor its sender is on this node
            }
            if self.hidden_from(&name_key(&message.src)).contains(&dest_key) {
                // A block the sender's node did not know of yet: it holds here too.
                return;
            }
            Kind::Direct { to, from, entry: Entries::new(message, id, plain) }
        };
        self.ev += 1;
        self.pending.push_back(Pending { ev: self.ev, needs: id, kind });
    }

    /// The set of nodes alive changed: the users of those gone are announced as left, those
    /// of nodes back are announced as joined.
    pub(super) fn nodes_alive(&mut self, membership: Membership) {
        let Membership { alive, returned } = membership;
        if alive.is_empty() {
            return; // not known yet
        }
        for (key, holder) in returned {
            if self.keys.contains_key(&key) {
                continue;
            }
            let json = self.link.as_mut().and_then(|l| {
                (holder.node != l.node).then(|| l.add_remote(key, holder.node, holder.name))?
            });
            if let Some(json) = json {
                self.presence(true, json);
            }
        }
        let Some(link) = self.link.as_mut() else { return };
        let gone: Vec<Remote> = link
            .remote
            .iter()
            .filter(|(_, r)| !alive.contains(&r.node))
            .map(|(name, _)| name.clone())
            .collect::<Vec<_>>()
            .into_iter()
            .filter_map(|name| link.remove_remote(&name))
            .collect();
        for r in gone {
            tracing::info!(node = %r.node, "a node stopped; its users are announced as left");
            self.presence(false, r.json);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> Result<u64, ClusterError> {
        Err(ClusterError::JetStream("no responders".into()))
    }

    #[tokio::test]
    async fn failed_senders_are_told_once_room_is_there_their_failures_counted_together() {
        let (tx, mut rx) = mpsc::channel(1);
        let hub = HubHandle { tx };
        let mut owed = Owed::default();
        owed.failed((Ok(7), vec!["ann".into()]));
        assert!(owed.is_empty(), "a success owes nothing");
        owed.failed((failure(), Vec::new()));
        assert!(owed.is_empty(), "nobody to tell (a join, a leave)");
        owed.failed((failure(), vec!["ann".into(), "ann".into()]));
        owed.failed((failure(), vec!["ann".into(), "bob".into()]));
        owed.tell(&hub); // room for one: the other waits, nothing blocks
        assert!(!owed.is_empty());
        let told = |cmd: Command| match cmd {
            Command::Tell { name, frame } => (name, frame.error.unwrap_or_default()),
            other => panic!("{other:?}"),
        };
        let (first, text) = told(rx.recv().await.expect("a command"));
        owed.tell(&hub);
        assert!(owed.is_empty());
        let (second, other) = told(rx.recv().await.expect("a command"));
        let mut both = [(first, text), (second, other)];
        both.sort();
        assert_eq!(both[0].0, "ann");
        assert!(both[0].1.starts_with("3 of your messages could not be accepted"), "{both:?}");
        assert_eq!((both[1].0.as_str(), both[1].1.as_str()), ("bob", NOT_ACCEPTED));
    }

    fn message_job(node: &str, sender: &str, content: &str) -> Job {
        let message = Message::new(sender, "ALL", 1, content);
        Job::Publish {
            event: Event::Messages {
                node: node.into(),
                messages: vec![Sent { conn: 1, message, plain: None }],
            },
            from: vec![sender.into()],
        }
    }

    /// The contents and senders of a merged job.
    fn contents(job: &Job) -> (Vec<String>, Vec<String>) {
        let Job::Publish { event: Event::Messages { messages, .. }, from } = job else {
            panic!("{job:?}")
        };
        (messages.iter().map(|s| s.message.content.clone()).collect(), from.clone())
    }

    #[test]
    fn queued_messages_go_out_as_one_event_up_to_the_next_other_job() {
        let (tx, mut rx) = mpsc::channel(MESSAGES_PER_EVENT * 2);
        for (who, text) in [("bob", "2"), ("ann", "3")] {
            tx.try_send(message_job("a", who, text)).expect("room");
        }
        let joined = Event::Joined { node: "a".into(), name: "cy".into(), key: "cy".into() };
        tx.try_send(Job::Publish { event: joined.clone(), from: Vec::new() }).expect("room");
        tx.try_send(message_job("a", "ann", "4")).expect("room");
        let mut held = None;
        let merged = merge_queued(message_job("a", "ann", "1"), &mut rx, &mut held);
        let texts = |v: &[&str]| v.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
        assert_eq!(contents(&merged), (texts(&["1", "2", "3"]), texts(&["ann", "bob", "ann"])));
        // the join stops the merge (it must follow message 3 and precede message 4)
        let Some(Job::Publish { event, .. }) = held.take() else { panic!("the join is held") };
        assert_eq!(event, joined);
        let next = rx.try_recv().expect("message 4 still queued");
        assert_eq!(contents(&merge_queued(next, &mut rx, &mut held)).0, texts(&["4"]));
        assert!(held.is_none(), "nothing queued: no waiting");

        // Other jobs pass through untouched.
        let release = Job::Release { key: "ann".into(), revision: 3 };
        assert!(matches!(merge_queued(release, &mut rx, &mut held), Job::Release { .. }));
    }

    #[test]
    fn an_event_holds_at_most_its_count_and_its_bytes_of_messages() {
        let (tx, mut rx) = mpsc::channel(MESSAGES_PER_EVENT * 2);
        for i in 0..MESSAGES_PER_EVENT + 5 {
            tx.try_send(message_job("a", "ann", &i.to_string())).expect("room");
        }
        let mut held = None;
        let first = rx.try_recv().expect("queued");
        let merged = merge_queued(first, &mut rx, &mut held);
        assert_eq!(contents(&merged).0.len(), MESSAGES_PER_EVENT);
        let rest = merge_queued(rx.try_recv().expect("queued"), &mut rx, &mut held);
        assert_eq!(contents(&rest).0.len(), 5);

        // Large messages: as many as fit the byte budget, but a single one always goes.
        let big = "x".repeat(EVENT_BATCH_BYTES / 5);
        for _ in 0..4 {
            tx.try_send(message_job("a", "ann", &big)).expect("room");
        }
        let merged = merge_queued(message_job("a", "ann", &big), &mut rx, &mut held);
        let n = contents(&merged).0.len();
        assert!((1..5).contains(&n), "{n} of 2·{} bytes each", big.len());
        let Job::Publish { event, .. } = &merged else { unreachable!() };
        let json = serde_json::to_vec(event).expect("json");
        assert!(json.len() <= crate::cluster::MAX_EVENT_BYTES as usize, "{}", json.len());
        let Some(next) = held.take() else { panic!("the first that did not fit is held") };
        assert_eq!(contents(&next).0.len(), 1);
    }
}
