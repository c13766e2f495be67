//! The server's hand-built JSON: frames put together from pieces encoded once.
//!
//! The hub encodes each message entry and each name once and hands the same bytes to every
//! recipient; the frames that carry them are spliced here, without decoding or encoding the
//! pieces again. Everything else is encoded whole by [`shared::encode`], and every function
//! here is tested against what that encoder writes for the same frame.

use bytes::Bytes;
use shared::frame::keys;
use shared::{Frame, Message, encode_message};

/// A list whose items a connection merges into one frame while they come in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// `MESSAGES`: message entries, `[SRC,DEST,TIMESTAMP,CONTENT]` each.
    Messages,
    /// `USERS_JOINED`: names as JSON strings.
    UsersJoined,
    /// `USERS_LEFT`: names as JSON strings.
    UsersLeft,
}

impl List {
    /// The frame's JSON up to the list's first item.
    fn open(self) -> &'static [u8] {
        match self {
            List::Messages => br#"{"MESSAGES":["#,
            List::UsersJoined => br#"{"USERS_JOINED":["#,
            List::UsersLeft => br#"{"USERS_LEFT":["#,
        }
    }
}

/// What follows a list frame's last item.
const LIST_CLOSE: &[u8] = b"]}";

/// Writes into `out` (cleared first) the frame of `list` holding the items `items` yields, in
/// order, as long as the frame stays within `max` bytes; the first item always goes, alone if
/// it is bigger. Returns how many items the frame holds.
pub fn list_frame<'a>(
    list: List,
    items: impl IntoIterator<Item = &'a [u8]>,
    max: usize,
    out: &mut Vec<u8>,
) -> usize {
    out.clear();
    out.extend_from_slice(list.open());
    let mut used = 0;
    for json in items {
        if used > 0 {
            if out.len() + 1 + json.len() + LIST_CLOSE.len() > max {
                break;
            }
            out.push(b',');
        }
        out.extend_from_slice(json);
        used += 1;
    }
    out.extend_from_slice(LIST_CLOSE);
    used
}

/// `text` as a JSON string literal (quotes and escapes included, ASCII only).
pub fn string(text: &str) -> Bytes {
    let mut out = Vec::with_capacity(text.len() + 2);
    shared::json::encode_str_into(text, &mut out);
    Bytes::from(out)
}

/// JSON values joined with commas: the inside of an array, to be spliced into a list frame.
/// One value is shared, not copied.
pub fn join<'a>(items: impl Iterator<Item = &'a Bytes>) -> Bytes {
    let mut items = items.peekable();
    let Some(first) = items.next() else {
        return Bytes::new();
    };
    if items.peek().is_none() {
        return first.clone();
    }
    let mut out = first.to_vec();
    for json in items {
        out.push(b',');
        out.extend_from_slice(json);
    }
    Bytes::from(out)
}

/// JSON values as one JSON array.
pub fn array<'a>(items: impl Iterator<Item = &'a Bytes> + Clone) -> Bytes {
    let len: usize = items.clone().map(|json| json.len() + 1).sum();
    let mut out = Vec::with_capacity(len + 2);
    out.push(b'[');
    join_into(items.map(|json| &json[..]), &mut out);
    out.push(b']');
    Bytes::from(out)
}

/// Appends JSON values to `out`, separated by commas.
fn join_into<'a>(items: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    for (i, json) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(json);
    }
}

/// The frame of an accepted login: the keys of `head`, then `USER_LIST` (`users`, the JSON
/// array the hub built) and `MESSAGES` (the join history, each entry encoded once). Entries
/// that would take the frame over `max` bytes are left out, the oldest first.
pub fn login_frame(head: &Frame, users: &[u8], history: &[Message], max: usize) -> Vec<u8> {
    let mut frame = OpenObject::new(head);
    frame.key(keys::USER_LIST).extend_from_slice(users);
    with_history(frame, history, max)
}

/// The keys of `head`, then `MESSAGES`: `history`, the oldest left out if the frame would be
/// longer than `max` bytes (a room's `JOINED` answer).
pub fn history_frame(head: &Frame, history: &[Message], max: usize) -> Vec<u8> {
    with_history(OpenObject::new(head), history, max)
}

/// `frame` with `MESSAGES` added and closed (see [`login_frame`]).
fn with_history(mut frame: OpenObject, history: &[Message], max: usize) -> Vec<u8> {
    let out = frame.key(keys::MESSAGES);
    // The array's brackets and the object's closing brace come on top of the entries.
    let room = max.saturating_sub(out.len() + b"[]}".len());
    let mut entries: Vec<Vec<u8>> = Vec::with_capacity(history.len());
    let mut used = 0;
    for m in history.iter().rev() {
        let entry = encode_message(m);
        let need = entry.len() + usize::from(!entries.is_empty());
        if used + need > room {
            break;
        }
        used += need;
        entries.push(entry);
    }
    out.reserve(used + 2);
    out.push(b'[');
    join_into(entries.iter().rev().map(Vec::as_slice), out);
    out.push(b']');
    frame.close()
}

/// A JSON object still open for keys: a frame as [`shared::encode`] writes it, without its
/// closing brace, so that keys whose values are JSON already (encoded once elsewhere) can
/// follow.
struct OpenObject {
    json: Vec<u8>,
}

impl OpenObject {
    /// Opens with the keys `head` holds.
    fn new(head: &Frame) -> Self {
        let mut json = shared::encode(head);
        // The encoder writes one object, so its last byte is the closing brace.
        let close = json.pop();
        debug_assert_eq!(close, Some(b'}'), "a frame encodes as one JSON object");
        OpenObject { json }
    }

    /// Writes `"key":` and returns the buffer for the value to be appended to.
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if self.json.last() != Some(&b'{') {
            self.json.push(b',');
        }
        shared::json::encode_str_into(key, &mut self.json);
        self.json.push(b':');
        &mut self.json
    }

    /// The whole object.
    fn close(mut self) -> Vec<u8> {
        self.json.push(b'}');
        self.json
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{decode, encode};

    fn message(i: i64, content: &str) -> Message {
        Message::new("ann", "ALL", 1_700_000_000 + i, content)
    }

    fn entries(messages: &[Message]) -> Vec<Bytes> {
        messages.iter().map(|m| Bytes::from(encode_message(m))).collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|&n| n.to_owned()).collect()
    }

    /// A list frame built from `items`, with room for all of them.
    fn whole_list(list: List, items: &[Bytes]) -> Vec<u8> {
        let mut out = Vec::new();
        let used = list_frame(list, items.iter().map(|b| &b[..]), usize::MAX, &mut out);
        assert_eq!(used, items.len());
        out
    }

    #[test]
    fn list_frames_are_the_bytes_the_encoder_writes() {
        // Non-ASCII text and characters JSON escapes: the pieces keep the encoder's escapes.
        let messages = vec![message(1, "hi"), message(2, "\"quoted\" \\ é 😀"), message(3, "")];
        assert_eq!(
            whole_list(List::Messages, &entries(&messages)),
            encode(&Frame::messages(messages.clone()))
        );
        let who = ["ann", "bob", "zoë"];
        let strings: Vec<Bytes> = who.iter().map(|n| string(n)).collect();
        assert_eq!(
            whole_list(List::UsersJoined, &strings),
            encode(&Frame { users_joined: Some(names(&who)), ..Frame::default() })
        );
        assert_eq!(
            whole_list(List::UsersLeft, &strings[..1]),
            encode(&Frame { users_left: Some(names(&who[..1])), ..Frame::default() })
        );
    }

    #[test]
    fn a_list_frame_stops_at_its_cap_and_the_first_item_always_goes() {
        let messages: Vec<Message> = (0..10).map(|i| message(i, &"x".repeat(20))).collect();
        let items = entries(&messages);
        let whole = encode(&Frame::messages(messages.clone())).len();
        let mut out = Vec::new();
        // Every cap up to the whole list, so that each item's boundary is met exactly.
        for max in 0..=whole + 1 {
            let mut start = 0;
            let mut seen = Vec::new();
            while start < items.len() {
                let used = list_frame(
                    List::Messages,
                    items[start..].iter().map(|b| &b[..]),
                    max,
                    &mut out,
                );
                assert!(used >= 1);
                let expected = Frame::messages(messages[start..start + used].to_vec());
                assert_eq!(out, encode(&expected));
                // Either the frame fits, or it holds the one item that does not.
                assert!(out.len() <= max || used == 1, "{} bytes over {max}", out.len());
                // One more item would have gone over the cap.
                if let Some(next) = messages.get(start + used) {
                    let mut more = expected.messages.clone().unwrap_or_default();
                    more.push(next.clone());
                    assert!(encode(&Frame::messages(more)).len() > max);
                }
                seen.extend(expected.messages.unwrap_or_default());
                start += used;
            }
            assert_eq!(seen, messages, "cap {max}");
        }
    }

    #[test]
    fn joined_names_splice_into_the_encoders_list() {
        let strings: Vec<Bytes> = ["a", "b\u{1}", "c"].iter().map(|n| string(n)).collect();
        for n in 0..=strings.len() {
            let inside = join(strings[..n].iter());
            let mut frame = br#"{"USERS_JOINED":["#.to_vec();
            frame.extend_from_slice(&inside);
            frame.extend_from_slice(b"]}");
            let expected: Vec<String> =
                ["a", "b\u{1}", "c"][..n].iter().map(|&s| s.into()).collect();
            assert_eq!(frame, encode(&Frame { users_joined: Some(expected), ..Frame::default() }));
        }
    }

    #[test]
    fn an_array_of_names_is_the_encoders_user_list() {
        for who in [&[][..], &["solo"][..], &["ann", "bob", "zoë"][..]] {
            let strings: Vec<Bytes> = who.iter().map(|n| string(n)).collect();
            let mut frame = br#"{"USER_LIST":"#.to_vec();
            frame.extend_from_slice(&array(strings.iter()));
            frame.push(b'}');
            assert_eq!(frame, encode(&Frame { user_list: Some(names(who)), ..Frame::default() }));
        }
    }

    /// The frame a login answer stands for, encoded whole.
    fn login_expected(head: &Frame, users: &[&str], history: &[Message]) -> Frame {
        Frame { user_list: Some(names(users)), messages: Some(history.to_vec()), ..head.clone() }
    }

    #[test]
    fn the_login_frame_is_the_encoders_frame() {
        let users = ["ann", "bob", "zoë"];
        let users_json = array(users.iter().map(|n| string(n)).collect::<Vec<_>>().iter());
        let history = [message(1, "first"), message(2, "naïve \"quote\""), message(3, "")];
        let heads = [
            Frame {
                username_accepted: Some(true),
                info: Some("Welcome!".to_owned()),
                ..Frame::default()
            },
            Frame {
                username_accepted: Some(true),
                info: Some("Welcome!".to_owned()),
                features: Some(names(&["block", "users"])),
                blocked: Some(names(&["eve"])),
                ..Frame::default()
            },
            // No keys of its own: the spliced keys need no comma before them.
            Frame::default(),
        ];
        for head in &heads {
            for n in [0, 1, history.len()] {
                let frame = login_frame(head, &users_json, &history[..n], usize::MAX);
                let expected = encode(&login_expected(head, &users, &history[..n]));
                assert_eq!(frame.len(), expected.len());
                assert_eq!(
                    decode(&frame),
                    decode(&expected),
                    "{}",
                    String::from_utf8_lossy(&frame)
                );
            }
        }
    }

    #[test]
    fn the_login_frame_keeps_the_newest_history_that_fits() {
        let head = Frame { username_accepted: Some(true), ..Frame::default() };
        let users_json = array([string("ann")].iter());
        let history: Vec<Message> =
            (0..6).map(|i| message(i, &"y".repeat(10 * usize::try_from(i).unwrap_or(0)))).collect();
        let whole = encode(&login_expected(&head, &["ann"], &history)).len();
        for max in 0..=whole + 1 {
            let frame = login_frame(&head, &users_json, &history, max);
            let got = decode(&frame).expect("valid JSON").messages.expect("MESSAGES");
            // The most of the newest entries whose frame, encoded whole, fits.
            let kept = (0..=history.len())
                .rev()
                .find(|&k| {
                    let newest = &history[history.len() - k..];
                    encode(&login_expected(&head, &["ann"], newest)).len() <= max
                })
                .unwrap_or(0);
            assert_eq!(got, history[history.len() - kept..], "max {max}");
            assert!(kept == 0 || frame.len() <= max, "{} bytes over {max}", frame.len());
        }
    }
}
