//! permessage-deflate (RFC 7692) for the WebSocket transport: how browsers get compressed
//! frames (extension `compress` on the native protocol is zstd; a browser's WebSocket
//! negotiates this one by itself, so the web client needs no code for it).
//!
//! Both directions run without context takeover: every message is compressed and
//! decompressed on its own, so a connection keeps no compression state between messages (a
//! deflate window per connection would cost 32 KiB or more of every idle connection's
//! memory). The contexts are per thread and reused.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The extension's name in `Sec-WebSocket-Extensions`.
const NAME: &str = "permessage-deflate";

/// What the server answers to an offer it accepts: neither side keeps its window between
/// messages (RFC 7692 7.1.1; a server may ask both of any offer).
pub const RESPONSE: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// Messages shorter than this go uncompressed (as [`shared::compress::COMPRESS_MIN`] on the
/// native protocol, and for the same reasons).
pub const DEFLATE_MIN: usize = shared::compress::COMPRESS_MIN;

/// The deflate level: the fastest. On a 1,000-message replay it saves 64 % of the bytes in
/// 0.5 ms; the default level (6) saves 72 % in ten times as long (docs/PERFORMANCE.md,
/// "Compression"), and compression runs on the connection's task.
const LEVEL: u32 = 1;

/// The bytes a sync flush ends with, which the sender strips and the receiver puts back
/// (RFC 7692 7.2.1 and 7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Whether a `Sec-WebSocket-Extensions` header offers permessage-deflate on terms this
/// server takes: any offer of it whose parameters are only the context-takeover ones and
/// `client_max_window_bits` (the client can take a smaller window from us; we never ask one).
/// An offer limiting the server's window below 15 bits is passed over: this deflater always
/// uses the full window.
pub fn accepts(header: &str) -> bool {
    header.split(',').any(|offer| {
        let mut parts = offer.split(';').map(str::trim);
        parts.next() == Some(NAME)
            && parts.all(|p| {
                let (key, value) = match p.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                    None => (p, None),
                };
                match key {
                    "server_no_context_takeover" | "client_no_context_takeover" => value.is_none(),
                    "client_max_window_bits" => {
                        value.is_none_or(|v| v.parse::<u8>().is_ok_and(|b| (8..=15).contains(&b)))
                    }
                    "server_max_window_bits" => value == Some("15"),
                    _ => false,
                }
            })
    })
}

thread_local! {
    static DEFLATER: RefCell<Compress> = RefCell::new(Compress::new(Compression::new(LEVEL), false));
    static INFLATER: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// `payload` compressed as one message's data (the sync flush's tail removed), if it is
/// long enough to be worth it and comes out shorter.
pub fn deflate(payload: &[u8]) -> Option<Vec<u8>> {
    if payload.len() < DEFLATE_MIN {
        return None;
    }
    DEFLATER.with(|d| {
        let mut d = d.borrow_mut();
        d.reset();
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        let mut read = 0;
        loop {
            let (in_before, out_before) = (d.total_in(), d.total_out());
            d.compress_vec(&payload[read..], &mut out, FlushCompress::Sync).ok()?;
            read += usize::try_from(d.total_in() - in_before).ok()?;
            // Done once every byte is in and the flush did not fill the room it had.
            if read == payload.len() && out.len() < out.capacity() {
                break;
            }
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            } else if d.total_in() == in_before && d.total_out() == out_before {
                return None;
            }
        }
        if !out.ends_with(&TAIL) {
            return None;
        }
        out.truncate(out.len() - TAIL.len());
        (out.len() < payload.len()).then_some(out)
    })
}

/// Why a compressed message was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum InflateError {
    /// It decompresses to more than the message limit.
    TooLong,
    /// Not valid deflate data.
    Corrupt,
}

/// A compressed message's data decompressed, at most `max` bytes: the output grows as it is
/// produced and stops at the limit (a bomb costs at most `max` bytes of memory).
pub fn inflate(data: &[u8], max: usize) -> Result<Vec<u8>, InflateError> {
    INFLATER.with(|i| {
        let mut i = i.borrow_mut();
        i.reset(false);
        let mut out = Vec::with_capacity((data.len() * 4).clamp(64, max.max(64)));
        // The message's data, then the tail the sender stripped.
        let parts = [data, &TAIL[..]];
        let mut part = 0;
        let mut read = 0;
        loop {
            let input = &parts[part][read..];
            let (in_before, out_before) = (i.total_in(), i.total_out());
            let status = i
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            read += usize::try_from(i.total_in() - in_before).map_err(|_| InflateError::Corrupt)?;
            if out.len() > max {
                return Err(InflateError::TooLong);
            }
            if read == parts[part].len() && part + 1 < parts.len() {
                (part, read) = (part + 1, 0);
                continue;
            }
            let all_in = read == parts[part].len();
            if status == Status::StreamEnd || (all_in && out.len() < out.capacity()) {
                return Ok(out);
            }
            if out.len() == out.capacity() {
                if out.len() >= max {
                    return Err(InflateError::TooLong);
                }
                // Doubling, but never past one byte over the limit (which tells a bomb).
                let more = out.capacity().min(max + 1 - out.len());
                out.reserve_exact(more);
            } else if i.total_in() == in_before && i.total_out() == out_before {
                return Err(InflateError::Corrupt);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay() -> Vec<u8> {
        let entries: Vec<String> = (0..300)
            .map(|i| {
                format!(r#"["user{}","ALL",{},"line {i} of the chat"]"#, i % 5, 1_700_000_000 + i)
            })
            .collect();
        format!(r#"{{"MESSAGES":[{}]}}"#, entries.join(",")).into_bytes()
    }

    #[test]
    fn offers_are_taken_on_our_terms_only() {
        assert!(accepts("permessage-deflate; client_max_window_bits"));
        assert!(accepts("permessage-deflate"));
        assert!(accepts("x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover"));
        assert!(accepts("permessage-deflate; server_max_window_bits=10, permessage-deflate"));
        assert!(!accepts("permessage-deflate; server_max_window_bits=10"));
        assert!(!accepts("permessage-deflate; client_max_window_bits=99"));
        assert!(!accepts("permessage-deflate; something_else"));
        assert!(!accepts("x-webkit-deflate-frame"));
        assert!(!accepts(""));
    }

    #[test]
    fn a_replay_deflates_and_inflates_back() {
        let json = replay();
        let packed = deflate(&json).expect("deflated");
        assert!(packed.len() * 4 < json.len(), "{} of {}", packed.len(), json.len());
        assert!(!packed.ends_with(&TAIL));
        assert_eq!(inflate(&packed, json.len()).expect("inflated"), json);
        // The context is reset between messages: the same again gives the same bytes.
        assert_eq!(deflate(&json), Some(packed));
        assert_eq!(deflate(b"short"), None);
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 8 << 20];
        let mut d = Compress::new(Compression::best(), false);
        let mut bomb = Vec::with_capacity(64 << 10);
        d.compress_vec(&zeros, &mut bomb, FlushCompress::Sync).expect("deflate");
        assert_eq!(d.total_in(), zeros.len() as u64, "compressed whole into {}", bomb.len());
        assert_eq!(inflate(&bomb, 1 << 20), Err(InflateError::TooLong));
        assert_eq!(inflate(b"\xff\xff\xff garbage", 1 << 20), Err(InflateError::Corrupt));
    }
}
