//! The length-prefixed codec: split and merged reads, and the limit checked on the header.
#![cfg(feature = "codec")]

use bytes::{BufMut, BytesMut};
use shared::codec::{FrameCodec, FrameError, put_frame};
use tokio_util::codec::Decoder;

#[test]
fn frames_split_across_reads_and_merged_in_one_read() {
    let mut codec = FrameCodec::new(1024);
    let mut wire = BytesMut::new();
    put_frame(br#"{"USERNAME":"a"}"#, &mut wire);
    put_frame(br#"{"USERNAME":"b"}"#, &mut wire);
    // byte by byte: nothing until a frame is whole
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for b in wire.iter() {
        buf.put_u8(*b);
        while let Some(f) = codec.decode(&mut buf).expect("in limit") {
            got.push(f);
        }
    }
    assert_eq!(got.len(), 2);
    assert_eq!(&got[1][..], br#"{"USERNAME":"b"}"#);
    // both in one read
    let mut all = wire.clone();
    assert!(codec.decode(&mut all).expect("ok").is_some());
    assert!(codec.decode(&mut all).expect("ok").is_some());
    assert!(codec.decode(&mut all).expect("ok").is_none());
}

#[test]
fn a_4_gib_prefix_is_refused_from_the_header_alone() {
    let mut codec = FrameCodec::new(1 << 20);
    let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
    match codec.decode(&mut buf) {
        Err(FrameError::TooLong { len, max }) => {
            assert_eq!(len, 0xffff_ffff);
            assert_eq!(max, 1 << 20);
        }
        other => panic!("expected TooLong, got {other:?}"),
    }
    assert!(buf.capacity() < 1024, "nothing was reserved for the announced body");
    // exactly at the limit is fine
    let mut codec = FrameCodec::new(8);
    let mut buf = BytesMut::new();
    put_frame(b"12345678", &mut buf);
    assert_eq!(&codec.decode(&mut buf).expect("at limit").expect("whole")[..], b"12345678");
}

#[cfg(feature = "json-codec")]
#[test]
fn json_codec_round_trips_and_reports_bad_json_without_losing_sync() {
    use shared::codec::JsonCodec;
    use shared::{Frame, Message};
    use tokio_util::codec::Encoder;

    let mut codec = JsonCodec::new(1 << 16);
    let mut wire = BytesMut::new();
    let f = Frame::messages(vec![Message::new("a", "ALL", 1, "ü")]);
    codec.encode(&f, &mut wire).expect("encode");
    assert_eq!(&wire[..4], &(wire.len() as u32 - 4).to_be_bytes());
    put_frame(b"{not json", &mut wire);
    codec.encode(&Frame::error("x"), &mut wire).expect("encode");
    assert_eq!(codec.decode(&mut wire).expect("ok").expect("frame").expect("json"), f);
    assert!(codec.decode(&mut wire).expect("ok").expect("frame").is_err());
    assert_eq!(
        codec.decode(&mut wire).expect("ok").expect("frame").expect("json"),
        Frame::error("x")
    );
}

#[test]
fn compressed_and_plain_frames_mix_once_negotiated_and_are_refused_before() {
    use tokio_util::codec::Encoder;
    let big: Vec<u8> = format!(r#"{{"INFO":"{}"}}"#, "chat ".repeat(2000)).into_bytes();
    let small = br#"{"USERNAME":"a"}"#;
    let mut sender = FrameCodec::new(1 << 20);
    sender.compress(true);
    let mut wire = BytesMut::new();
    sender.encode(&big[..], &mut wire).expect("encoded");
    let compressed_len = wire.len();
    sender.encode(&small[..], &mut wire).expect("encoded");
    assert!(compressed_len < big.len() / 10, "{compressed_len} bytes for {}", big.len());
    assert_eq!(wire[0] & 0x80, 0x80, "the flag is the prefix's top bit");
    assert_eq!(&wire[compressed_len..compressed_len + 4], &[0, 0, 0, small.len() as u8]);

    // Byte by byte, as a negotiated receiver: both whole, the big one decompressed.
    let mut receiver = FrameCodec::new(1 << 20);
    receiver.compress(true);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for b in wire.iter() {
        buf.put_u8(*b);
        while let Some(f) = receiver.decode(&mut buf).expect("in limit") {
            got.push(f.to_vec());
        }
    }
    assert_eq!(got, vec![big.clone(), small.to_vec()]);

    // A receiver that did not negotiate reads the flag as an over-long frame.
    let mut plain = FrameCodec::new(1 << 20);
    assert!(matches!(plain.decode(&mut wire.clone()), Err(FrameError::TooLong { .. })));
    // A negotiated one with a smaller limit refuses what would decompress past it.
    let mut small_limit = FrameCodec::new(4096);
    small_limit.compress(true);
    assert!(matches!(small_limit.decode(&mut wire.clone()), Err(FrameError::Compressed(_))));
}
