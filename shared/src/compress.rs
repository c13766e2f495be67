//! Compressed frames (extension `compress`) on the native protocol: a frame whose payload is
//! zstd-compressed JSON has the top bit of its length prefix set ([`COMPRESSED`]); the other
//! 31 bits give the compressed length. Only a peer that negotiated `compress` sends or accepts
//! one (for anyone else the prefix announces more than any frame limit, so an old peer refuses
//! it rather than misreading it).
//!
//! Decompression is bounded before anything is allocated: the zstd frame must state its
//! content size, which must be within the receiver's frame limit, and exactly that much room
//! is made; output past it is an error.

use std::cell::RefCell;

/// The length prefix's flag for a compressed payload.
pub const COMPRESSED: u32 = 1 << 31;

/// Payloads shorter than this go uncompressed: a line of chat (about 100 bytes of JSON)
/// shrinks by a few bytes at most and would cost a compression per recipient; a merged frame
/// of a dozen messages or more (about 1 KiB) shrinks by half or better (docs/PERFORMANCE.md,
/// "Compression").
pub const COMPRESS_MIN: usize = 1024;

/// The zstd level. Chosen by measurement on a login's replay of 1,000 messages
/// (`cargo bench -p chatterbox-server --bench replay`, docs/PERFORMANCE.md "Compression"):
/// level 1 takes the replay from 73 KB to 24 KB in 0.3 ms; level 3 saves 6 % more in twice
/// the time, level 6 11 % more in five times.
pub const LEVEL: i32 = 1;

/// Why a compressed payload was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompressError {
    /// The zstd frame does not say how large it is once decompressed.
    #[error("A compressed frame must state its decompressed size.")]
    NoSize,
    /// The decompressed size is over the receiver's frame limit.
    #[error("A compressed frame of {len} bytes decompressed is over the limit of {max} bytes.")]
    TooLong {
        /// The size the frame states.
        len: u64,
        /// The receiver's limit.
        max: usize,
    },
    /// Not valid zstd, or not the size it stated.
    #[error("A compressed frame could not be decompressed.")]
    Corrupt,
}

thread_local! {
    /// One compression context per thread, reused: making one costs more than compressing a
    /// small frame, and none is kept per connection.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    /// One decompression context per thread, reused likewise.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// `payload` compressed at [`LEVEL`], if that makes it smaller; `None` when it is under
/// [`COMPRESS_MIN`] or does not shrink.
pub fn compress(payload: &[u8]) -> Option<Vec<u8>> {
    if payload.len() < COMPRESS_MIN {
        return None;
    }
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = zstd::bulk::Compressor::new(LEVEL).ok();
        }
        let packed = c.as_mut()?.compress(payload).ok()?;
        (packed.len() < payload.len()).then_some(packed)
    })
}

/// The JSON of a compressed payload, at most `max` bytes: refused before allocating if the
/// frame does not state its size or states more.
pub fn decompress(packed: &[u8], max: usize) -> Result<Vec<u8>, CompressError> {
    let len = zstd::zstd_safe::get_frame_content_size(packed)
        .map_err(|_| CompressError::Corrupt)?
        .ok_or(CompressError::NoSize)?;
    let size = usize::try_from(len)
        .ok()
        .filter(|&n| n <= max)
        .ok_or(CompressError::TooLong { len, max })?;
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = zstd::bulk::Decompressor::new().ok();
        }
        let d = d.as_mut().ok_or(CompressError::Corrupt)?;
        let mut out = Vec::with_capacity(size);
        // The output cannot grow past the capacity: more is an error, not a reallocation.
        d.decompress_to_buffer(packed, &mut out).map_err(|_| CompressError::Corrupt)?;
        if out.len() == size { Ok(out) } else { Err(CompressError::Corrupt) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay() -> Vec<u8> {
        let entries: Vec<String> = (0..200)
            .map(|i| {
                format!(
                    r#"["user{}","ALL",{},"message number {i} of the day"]"#,
                    i % 7,
                    1_700_000_000 + i
                )
            })
            .collect();
        format!(r#"{{"MESSAGES":[{}]}}"#, entries.join(",")).into_bytes()
    }

    #[test]
    fn a_replay_shrinks_and_comes_back_whole() {
        let json = replay();
        let packed = compress(&json).expect("compressed");
        assert!(packed.len() * 3 < json.len(), "{} of {}", packed.len(), json.len());
        assert_eq!(decompress(&packed, json.len()).expect("decompressed"), json);
    }

    #[test]
    fn small_payloads_stay_as_they_are() {
        assert_eq!(compress(br#"{"MESSAGES":[["ann","ALL",1,"hi"]]}"#), None);
    }

    #[test]
    fn a_frame_that_would_expand_past_the_limit_is_refused_before_decompressing() {
        let json = replay();
        let packed = compress(&json).expect("compressed");
        assert_eq!(
            decompress(&packed, json.len() - 1),
            Err(CompressError::TooLong { len: json.len() as u64, max: json.len() - 1 })
        );
        // A bomb: 16 MiB of zeros in a few hundred bytes, against a 1 MiB limit.
        let bomb = zstd::bulk::compress(&vec![0u8; 16 << 20], 3).expect("bomb");
        assert!(bomb.len() < 4096);
        assert!(matches!(decompress(&bomb, 1 << 20), Err(CompressError::TooLong { .. })));
    }

    #[test]
    fn garbage_and_sizeless_frames_are_refused() {
        assert_eq!(decompress(b"not zstd at all", 1 << 20), Err(CompressError::Corrupt));
        // A streamed frame does not state its size.
        let mut streamed = Vec::new();
        {
            let mut enc = zstd::stream::Encoder::new(&mut streamed, 1).expect("encoder");
            std::io::Write::write_all(&mut enc, &replay()).expect("write");
            enc.finish().expect("finish");
        }
        assert_eq!(decompress(&streamed, 1 << 20), Err(CompressError::NoSize));
        // A frame cut short.
        let mut cut = compress(&replay()).expect("compressed");
        cut.truncate(cut.len() - 3);
        assert!(decompress(&cut, 1 << 20).is_err());
    }
}
