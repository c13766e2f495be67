//! Bytes from the network → the length-prefixed codec (split at fuzzer-chosen points) → the
//! JSON decoders. Nothing may panic; whatever decodes must re-encode to ASCII JSON that decodes
//! to the same frame.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use shared::codec::{FrameCodec, FrameError};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    // the first byte chooses the read size, the rest is the stream
    let Some((&chunk, stream)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut codec = FrameCodec::new(64 * 1024);
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(payload)) => check(&payload),
                Ok(None) => break,
                Err(FrameError::TooLong { len, max }) => {
                    assert!(len > max as u64);
                    return;
                }
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
