//! A frame from a logged-in client → validation → routing decisions, as the server applies
//! them. Invariants: only messages whose SRC is the sender and whose content is within the
//! limit pass; every message is either passed or counted as refused; a private message goes
//! only to someone online who is not in a block with the sender.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::limits::MAX_CONTENT_BYTES;
use shared::rules::{Route, route, screen};

const ONLINE: [&str; 4] = ["ann", "bob", "cat", "dan"];

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = shared::decode(data) else { return };
    let Some(messages) = frame.messages else { return };
    let total = messages.len();
    let screened = screen("ann", messages, 3);
    assert_eq!(screened.ok.len() + screened.refused, total);
    assert!(screened.problems.len() <= 3);
    assert_eq!(screened.problems.is_empty(), screened.refused == 0);
    let online = |n: &str| ONLINE.contains(&n);
    let blocks = |a: &str, b: &str| matches!((a, b), ("ann", "cat") | ("dan", "ann"));
    for m in &screened.ok {
        assert_eq!(m.src, "ann");
        assert!(m.content.len() <= MAX_CONTENT_BYTES);
        assert!(!m.dest.is_empty());
        match route(&m.src, &m.dest, online, blocks) {
            Route::Broadcast => assert_eq!(m.dest, "ALL"),
            Route::Direct => {
                assert!(online(&m.dest));
                assert!(!blocks(&m.src, &m.dest) && !blocks(&m.dest, &m.src));
            }
            Route::NotOnline => assert!(!online(&m.dest)),
            Route::SenderBlocks => assert!(blocks(&m.src, &m.dest)),
            Route::RecipientBlocks => assert!(blocks(&m.dest, &m.src)),
        }
    }
});
