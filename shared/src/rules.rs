//! The protocol's rules for one message, as pure functions: what a server accepts from a
//! logged-in sender ([`screen`]) and where an accepted message goes ([`route`]). The server
//! applies exactly these, and the fuzz targets exercise them from raw bytes.

use crate::Message;
use crate::validate::validate_content;

/// The messages of one frame after the checks that concern the sender alone.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Screened {
    /// Messages that may be routed, in the order sent.
    pub ok: Vec<Message>,
    /// How many were refused.
    pub refused: usize,
    /// Distinct reasons, at most as many as asked for, fit to show in an ERROR.
    pub problems: Vec<String>,
}

/// Checks each message from the user `me`: SRC must be `me`, CONTENT within the limit, DEST
/// not empty. Keeps up to `max_listed` distinct reasons for those refused.
pub fn screen(me: &str, messages: Vec<Message>, max_listed: usize) -> Screened {
    let mut out = Screened { ok: Vec::with_capacity(messages.len()), ..Screened::default() };
    for m in messages {
        let problem = if m.src != me {
            Some(format!(
                "SRC \"{}\" is not your username \"{me}\"; the message was not delivered.",
                m.src
            ))
        } else if let Err(e) = validate_content(&m.content) {
            Some(format!("{e} The message was not delivered."))
        } else if m.dest.is_empty() {
            Some("DEST is empty; use \"ALL\" or a username.".to_owned())
        } else {
            None
        };
        match problem {
            Some(p) => {
                out.refused += 1;
                if out.problems.len() < max_listed && !out.problems.contains(&p) {
                    out.problems.push(p);
                }
            }
            None => out.ok.push(m),
        }
    }
    out
}

/// Where one accepted message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// To everyone online but the sender (and those in a block with it).
    Broadcast,
    /// To the one recipient.
    Direct,
    /// Refused: the recipient is not online.
    NotOnline,
    /// Refused: the sender blocks the recipient.
    SenderBlocks,
    /// Refused: the recipient blocks the sender.
    RecipientBlocks,
}

/// Decides the route of a message from `src` to `dest`, given who is online and who blocks
/// whom (`blocks(a, b)`: a blocks b).
pub fn route(
    src: &str,
    dest: &str,
    online: impl Fn(&str) -> bool,
    blocks: impl Fn(&str, &str) -> bool,
) -> Route {
    if dest == crate::BROADCAST {
        Route::Broadcast
    } else if !online(dest) {
        Route::NotOnline
    } else if blocks(src, dest) {
        Route::SenderBlocks
    } else if blocks(dest, src) {
        Route::RecipientBlocks
    } else {
        Route::Direct
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screening_keeps_good_messages_in_order_and_lists_reasons_once() {
        let ms = vec![
            Message::new("ann", "ALL", 1, "a"),
            Message::new("bob", "ALL", 2, "spoof"),
            Message::new("bob", "ALL", 3, "spoof again"),
            Message::new("ann", "", 4, "nowhere"),
            Message::new("ann", "bob", 5, "b"),
            Message::new("ann", "ALL", 6, "x".repeat(crate::limits::MAX_CONTENT_BYTES + 1)),
        ];
        let s = screen("ann", ms, 2);
        assert_eq!(s.ok.iter().map(|m| m.timestamp).collect::<Vec<_>>(), [1, 5]);
        assert_eq!(s.refused, 4);
        assert_eq!(s.problems.len(), 2);
        assert!(s.problems[0].contains("not your username"));
        assert!(s.problems[1].contains("DEST is empty"));
    }

    #[test]
    fn routes() {
        let online = |n: &str| ["ann", "bob", "cat"].contains(&n);
        let blocks = |a: &str, b: &str| (a, b) == ("ann", "cat");
        assert_eq!(route("ann", "ALL", online, blocks), Route::Broadcast);
        assert_eq!(route("ann", "bob", online, blocks), Route::Direct);
        assert_eq!(route("ann", "zed", online, blocks), Route::NotOnline);
        assert_eq!(route("ann", "cat", online, blocks), Route::SenderBlocks);
        assert_eq!(route("cat", "ann", online, blocks), Route::RecipientBlocks);
    }
}
