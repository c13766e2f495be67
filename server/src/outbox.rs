//! What waits to be written to one connection, and how it becomes frames.
//!
//! The hub encodes each message entry once and hands every recipient a reference-counted
//! [`Bytes`] of it ([`Out::Entry`]). When a connection writes, it takes what is queued and
//! splices consecutive entries into one `{"MESSAGES":[...]}` frame, so a burst of messages
//! costs one frame, one TLS record train and one system call instead of one each. Joins and
//! leaves are merged the same way into `USERS_JOINED` and `USERS_LEFT` lists, so a crowd
//! arriving costs each recipient a few frames, not one per newcomer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::wire::{self, List};

/// Most bytes of message entries merged into one frame.
///
/// 64 KiB is four full TLS records: large enough that a busy room costs few frames, small
/// enough that a merged frame never delays the next one noticeably. An entry larger than
/// this (up to the content limit) still goes, alone in its frame.
pub const MAX_MERGED_FRAME: usize = 64 * 1024;

/// One item of a connection's outbox.
#[derive(Debug, Clone)]
pub enum Out {
    /// The JSON of one message entry, `[SRC,DEST,TIMESTAMP,CONTENT]`, to be spliced into a
    /// `MESSAGES` frame.
    Entry(Bytes),
    /// A whole frame's JSON object (an ERROR for this connection, a list it asked for).
    Frame(Bytes),
    /// Someone joined: the name as a JSON string, merged into a `USERS_JOINED` list.
    Joined(Bytes),
    /// Someone left: the name as a JSON string, merged into a `USERS_LEFT` list.
    Left(Bytes),
}

impl Out {
    /// The list an item is merged into (none for a whole frame).
    fn list(&self) -> Option<List> {
        match self {
            Out::Entry(_) => Some(List::Messages),
            Out::Joined(_) => Some(List::UsersJoined),
            Out::Left(_) => Some(List::UsersLeft),
            Out::Frame(_) => None,
        }
    }

    /// The item's JSON.
    fn json(&self) -> &[u8] {
        match self {
            Out::Entry(json) | Out::Frame(json) | Out::Joined(json) | Out::Left(json) => json,
        }
    }
}

/// The hub's side of one connection's outbox: bounded, never waits.
#[derive(Debug, Clone)]
pub struct Sender {
    shared: Arc<Shared>,
}

/// The connection's side of its outbox.
#[derive(Debug)]
pub struct Receiver {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Held only to push or drain, never across an `.await`.
    queue: Mutex<VecDeque<Out>>,
    capacity: usize,
    ready: Notify,
}

/// The outbox holds `capacity` items already; the connection is not keeping up.
#[derive(Debug, thiserror::Error)]
#[error("the outbox is full")]
pub struct Full;

/// A bounded outbox of up to `capacity` items.
///
/// Unlike a channel that keeps its blocks for reuse, the queue gives its room back whenever
/// it is drained, so an idle connection costs a few dozen bytes here. (In the heap profile of
/// idle connections, tokio's channel kept 3.8 KB each, and even 8 kept slots 0.3 KB.)
pub fn channel(capacity: usize) -> (Sender, Receiver) {
    let shared =
        Arc::new(Shared { queue: Mutex::new(VecDeque::new()), capacity, ready: Notify::new() });
    (Sender { shared: Arc::clone(&shared) }, Receiver { shared })
}

impl Sender {
    /// Queues `item`, or reports that the outbox is full.
    pub fn try_send(&self, item: Out) -> Result<(), Full> {
        let was_empty = {
            let mut q = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if q.len() >= self.shared.capacity {
                return Err(Full);
            }
            q.push_back(item);
            q.len() == 1
        };
        // A queue that was not empty has woken its reader already, and the reader looks at
        // the queue before it waits again: one wake-up per burst, not per item.
        if was_empty {
            self.shared.ready.notify_one();
        }
        Ok(())
    }
}

impl Receiver {
    /// Waits until something is queued, then moves up to `limit` items into `buf` and
    /// returns how many. Cancel-safe: nothing is taken before it returns.
    pub async fn recv_many(&mut self, buf: &mut Vec<Out>, limit: usize) -> usize {
        loop {
            {
                let mut q = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
                if !q.is_empty() {
                    return take(&mut q, buf, limit);
                }
            }
            self.shared.ready.notified().await;
        }
    }
}

/// Moves up to `limit` items from `q` to `buf`; an emptied queue gives its room back.
fn take(q: &mut VecDeque<Out>, buf: &mut Vec<Out>, limit: usize) -> usize {
    let n = q.len().min(limit);
    buf.extend(q.drain(..n));
    if q.is_empty() {
        *q = VecDeque::new();
    }
    n
}

/// The JSON of the frame that starts at `items[start]`, and the index after the last item it
/// holds. A whole frame is its item's own bytes; consecutive items of one list are merged into
/// one frame (up to [`MAX_MERGED_FRAME`]) written into `buf`.
pub fn next_frame<'a>(items: &'a [Out], start: usize, buf: &'a mut Vec<u8>) -> (&'a [u8], usize) {
    let first = &items[start];
    let Some(list) = first.list() else {
        return (first.json(), start + 1);
    };
    let run = items[start..].iter().take_while(|item| item.list() == Some(list)).map(Out::json);
    let used = wire::list_frame(list, run, MAX_MERGED_FRAME, buf);
    (buf, start + used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{Message, decode, encode, encode_message};

    fn entry(i: usize, len: usize) -> Out {
        let m = Message::new("a", "ALL", i as i64, "x".repeat(len));
        Out::Entry(Bytes::from(encode_message(&m)))
    }

    fn frames(items: &[Out]) -> Vec<shared::Frame> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let (frame, next) = next_frame(items, i, &mut buf);
            out.push(decode(frame).expect("valid JSON"));
            i = next;
        }
        out
    }

    #[tokio::test]
    async fn outbox_is_bounded_keeps_order_and_gives_room_back() {
        let (tx, mut rx) = channel(3);
        for i in 0..3 {
            tx.try_send(entry(i, 1)).expect("room");
        }
        assert!(tx.try_send(entry(9, 1)).is_err(), "a fourth item is refused");
        let mut got = Vec::new();
        assert_eq!(rx.recv_many(&mut got, 2).await, 2);
        assert_eq!(rx.recv_many(&mut got, 10).await, 1);
        assert_eq!(frames(&got)[0].messages.as_ref().map(Vec::len), Some(3));
        // a burst grows the queue; draining it gives the room back
        let (tx, mut rx) = channel(1000);
        for i in 0..500 {
            tx.try_send(entry(i, 1)).expect("room");
        }
        got.clear();
        assert_eq!(rx.recv_many(&mut got, 1000).await, 500);
        assert_eq!(rx.shared.queue.lock().expect("lock").capacity(), 0);
        // a receiver waiting is woken by the next item
        let waiter = tokio::spawn(async move {
            let mut got = Vec::new();
            rx.recv_many(&mut got, 10).await
        });
        tokio::task::yield_now().await;
        tx.try_send(entry(1, 1)).expect("room");
        assert_eq!(waiter.await.expect("joined"), 1);
    }

    #[test]
    fn consecutive_entries_merge_and_frames_keep_their_place() {
        let joined = shared::Frame { users_joined: Some(vec!["b".into()]), ..Default::default() };
        let items =
            vec![entry(1, 1), entry(2, 1), Out::Frame(Bytes::from(encode(&joined))), entry(3, 1)];
        let got = frames(&items);
        assert_eq!(got.len(), 3);
        let ts: Vec<_> =
            got[0].messages.as_ref().expect("messages").iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, [1, 2]);
        assert_eq!(got[1], joined);
        assert_eq!(got[2].messages.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn merged_frames_stay_under_the_cap_and_lose_nothing() {
        let items: Vec<_> = (0..40).map(|i| entry(i, 10_000)).collect();
        let mut buf = Vec::new();
        let mut i = 0;
        let mut seen = 0;
        while i < items.len() {
            let (frame, next) = next_frame(&items, i, &mut buf);
            assert!(frame.len() <= MAX_MERGED_FRAME, "{}", frame.len());
            seen += decode(frame).expect("json").messages.expect("m").len();
            i = next;
        }
        assert_eq!(seen, 40);
        // one entry bigger than the cap still goes, alone
        let big = [entry(0, MAX_MERGED_FRAME + 10), entry(1, 1)];
        assert_eq!(frames(&big).len(), 2);
    }

    #[test]
    fn joins_and_leaves_merge_into_lists_in_order() {
        let name = |n: &str| Bytes::from(format!("\"{n}\""));
        let items = vec![
            Out::Joined(name("a")),
            Out::Joined(name("b")),
            Out::Left(name("a")),
            entry(1, 1),
            Out::Joined(name("a")),
        ];
        let got = frames(&items);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].users_joined, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(got[1].users_left, Some(vec!["a".to_owned()]));
        assert!(got[2].messages.is_some());
        assert_eq!(got[3].users_joined, Some(vec!["a".to_owned()]));
    }
}
