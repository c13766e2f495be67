//! What waits to be written to one connection, and how it becomes frames.
//!
//! The hub encodes each message entry once and hands every recipient a reference-counted
//! [`Bytes`] of it ([`Out::Entry`]). When a connection writes, it takes what is queued and
//! splices consecutive entries into one `{"MESSAGES":[...]}` frame, so a burst of messages
//! costs one frame, one TLS record train and one system call instead of one each.

use bytes::Bytes;
use shared::codec::PREFIX_LEN;

/// Most bytes of message entries merged into one frame.
///
/// 64 KiB is four full TLS records: large enough that a busy room costs few frames, small
/// enough that a merged frame never delays the next one noticeably. An entry larger than
/// this (up to the content limit) still goes, alone in its frame.
pub const MAX_MERGED_FRAME: usize = 64 * 1024;

const MESSAGES_OPEN: &[u8] = br#"{"MESSAGES":["#;
const MESSAGES_CLOSE: &[u8] = b"]}";

/// One item of a connection's outbox.
#[derive(Debug, Clone)]
pub enum Out {
    /// The JSON of one message entry, `[SRC,DEST,TIMESTAMP,CONTENT]`, to be spliced into a
    /// `MESSAGES` frame.
    Entry(Bytes),
    /// A whole frame's JSON object (presence, an ERROR for this connection).
    Frame(Bytes),
}

/// Writes into `buf` the frame that starts at `items[start]` and returns the index after the
/// last item it used. `buf` is cleared and starts with [`PREFIX_LEN`] bytes of room for the
/// length prefix, followed by the frame's JSON.
pub fn next_frame(items: &[Out], start: usize, buf: &mut Vec<u8>) -> usize {
    buf.clear();
    buf.resize(PREFIX_LEN, 0);
    match &items[start] {
        Out::Frame(json) => {
            buf.extend_from_slice(json);
            start + 1
        }
        Out::Entry(_) => {
            buf.extend_from_slice(MESSAGES_OPEN);
            let mut end = start;
            while let Some(Out::Entry(entry)) = items.get(end) {
                let first = end == start;
                if !first && buf.len() + 1 + entry.len() + MESSAGES_CLOSE.len() > MAX_MERGED_FRAME {
                    break;
                }
                if !first {
                    buf.push(b',');
                }
                buf.extend_from_slice(entry);
                end += 1;
            }
            buf.extend_from_slice(MESSAGES_CLOSE);
            end
        }
    }
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
            i = next_frame(items, i, &mut buf);
            assert_eq!(&buf[..PREFIX_LEN], &[0; PREFIX_LEN]);
            out.push(decode(&buf[PREFIX_LEN..]).expect("valid JSON"));
        }
        out
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
            let next = next_frame(&items, i, &mut buf);
            assert!(buf.len() <= MAX_MERGED_FRAME, "{}", buf.len());
            seen += decode(&buf[PREFIX_LEN..]).expect("json").messages.expect("m").len();
            i = next;
        }
        assert_eq!(seen, 40);
        // one entry bigger than the cap still goes, alone
        let big = [entry(0, MAX_MERGED_FRAME + 10), entry(1, 1)];
        assert_eq!(frames(&big).len(), 2);
    }
}
