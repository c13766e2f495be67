//! Property tests: encoding round-trips for any content, the codec for any split of the byte
//! stream, and the username rules for any string.
#![cfg(feature = "codec")]

use bytes::BytesMut;
use proptest::prelude::*;
use shared::codec::{FrameCodec, put_frame};
use shared::lenient::decode_lenient;
use shared::limits::MAX_USERNAME_CHARS;
use shared::validate::validate_username;
use shared::{Frame, Message, decode, encode};
use tokio_util::codec::Decoder;

fn text() -> impl Strategy<Value = String> {
    // any Unicode, with extra weight on the characters JSON must escape
    prop_oneof![any::<String>(), "[\"\\\\\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}a-z😀é]{0,40}"]
}

fn message() -> impl Strategy<Value = Message> {
    (text(), text(), any::<i64>(), text()).prop_map(|(s, d, t, c)| Message::new(s, d, t, c))
}

fn names() -> impl Strategy<Value = Option<Vec<String>>> {
    proptest::option::of(proptest::collection::vec(text(), 0..4))
}

fn frame() -> impl Strategy<Value = Frame> {
    (
        (
            proptest::option::of(text()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(text()),
        ),
        (names(), names(), names(), names()),
        (
            proptest::option::of(proptest::collection::vec(message(), 0..4)),
            proptest::option::of(text()),
        ),
        (proptest::option::of(text()), proptest::option::of(any::<bool>()), names()),
    )
        .prop_map(
            |(
                (username, accepted, info),
                (features, user_list, joined, left),
                (messages, error),
                (block, list_blocked, blocked),
            )| Frame {
                username,
                username_accepted: accepted,
                info,
                features,
                user_list,
                users_joined: joined,
                users_left: left,
                messages,
                error,
                block,
                list_blocked,
                blocked,
                ..Frame::default()
            },
        )
}

proptest! {
    #[test]
    fn any_frame_encodes_to_ascii_and_decodes_to_itself(f in frame()) {
        let bytes = encode(&f);
        prop_assert!(bytes.is_ascii());
        prop_assert_eq!(&decode(&bytes).expect("own encoding decodes"), &f);
        prop_assert_eq!(&decode_lenient(&bytes).expect("and leniently"), &f);
    }

    #[test]
    fn any_split_of_the_stream_yields_the_same_frames(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
        cuts in proptest::collection::vec(1usize..64, 1..40),
    ) {
        let mut wire = BytesMut::new();
        for p in &payloads {
            put_frame(p, &mut wire);
        }
        let mut codec = FrameCodec::new(1024);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut rest = &wire[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            i += 1;
            while let Some(f) = codec.decode(&mut buf).expect("within the limit") {
                got.push(f.to_vec());
            }
        }
        prop_assert_eq!(got, payloads);
    }

    #[test]
    fn an_accepted_username_keeps_every_rule(name in any::<String>()) {
        if validate_username(&name).is_ok() {
            let chars = name.chars().count();
            prop_assert!((1..=MAX_USERNAME_CHARS).contains(&chars));
            prop_assert!(!name.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert!(!name.eq_ignore_ascii_case("ALL"));
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
        let _ = decode_lenient(&bytes);
    }
}
