//! Bytes from the network → the length-prefixed codec (split at fuzzer-chosen points; taking
//! compressed frames in, extension `compress`, when the fuzzer chooses) → the JSON decoders.
//! Nothing may panic, no compressed frame may decompress past the limit; whatever decodes
//! must re-encode to ASCII JSON that decodes to the same frame.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use shared::codec::{FrameCodec, FrameError};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    // the first byte chooses the read size and, by its low bit, compression; the rest is the
    // stream
    let Some((&first, stream)) = data.split_first() else { return };
    let chunk = usize::from(first >> 1).max(1);
    const MAX: usize = 64 * 1024;
    let mut codec = FrameCodec::new(MAX);
    codec.compress(first & 1 == 1);
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(payload)) => {
                    assert!(payload.len() <= MAX);
                    check(&payload);
                }
                Ok(None) => break,
                Err(FrameError::TooLong { len, max }) => {
                    assert!(len > max as u64);
                    return;
                }
                // A compressed frame that cannot be taken ends the stream, like one too long.
                Err(FrameError::Compressed(_)) => return,
                Err(FrameError::Io(e)) => panic!("the codec reported I/O: {e}"),
            }
        }
    }
    // the whole input as one payload, too
    check(stream);
});

fn check(payload: &[u8]) {
    if let Ok(frame) = shared::decode(payload) {
        let again = shared::encode(&frame);
        assert!(again.is_ascii());
        let mut expected = frame.clone();
        expected.unknown.clear(); // unknown keys are reported, never re-encoded
        assert_eq!(shared::decode(&again).expect("own encoding decodes"), expected);
    }
    let _ = shared::lenient::decode_lenient(payload);
}
