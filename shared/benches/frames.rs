//! Criterion micro-benchmarks of the protocol crate: JSON encoding and decoding of typical
//! frames, the length-prefixed codec splitting a buffer of many frames, and the checks the
//! server applies to what a client sends (usernames, `rules::screen`).
//!
//!     cargo bench -p chatterbox-shared --features json-codec --bench frames
//!
//! `cargo xtask test` runs it in criterion's test mode (each benchmark once) so that it cannot
//! rot; `cargo xtask bench` runs it in full and lists the medians in docs/PERFORMANCE.md.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shared::codec::{FrameCodec, JsonCodec, put_frame};
use shared::limits::{MAX_CLIENT_FRAME_LEN, MAX_SERVER_FRAME_LEN};
use shared::validate::{validate_content, validate_username};
use shared::{Frame, Message};
use tokio_util::codec::Decoder;

/// Bytes of CONTENT in a typical message.
const CONTENT_BYTES: usize = 64;
/// Names in the login reply's USER_LIST.
const USERS: usize = 1000;
/// Frames in the buffer the codec splits.
const CODEC_FRAMES: usize = 1000;
/// Messages in the batch that `screen` checks.
const SCREEN_BATCH: usize = 100;

/// Message `i` of a conversation among 1,000 users: 64 ASCII bytes, one in ten private.
fn message(i: usize) -> Message {
    let src = format!("user{}", i % USERS);
    let dest =
        if i.is_multiple_of(10) { format!("user{}", (i + 1) % USERS) } else { "ALL".to_owned() };
    let mut content = format!("message {i} ");
    content.extend(std::iter::repeat_n('x', CONTENT_BYTES - content.len()));
    Message::new(src, dest, 1_700_000_000 + i as i64, content)
}

/// The same, with content that is mostly non-ASCII (escaped as `\uXXXX` on the wire, one
/// surrogate pair per emoji).
fn non_ascii_message(i: usize) -> Message {
    let mut m = message(i);
    m.content = "Grüße aus Köln — 你好，世界 😀🎉 ".repeat(2);
    m
}

fn messages_frame(n: usize) -> Frame {
    Frame::messages((0..n).map(message).collect())
}

/// An accepted login's reply without its history: the welcome, the granted features and who
/// is online.
fn login_reply(users: usize) -> Frame {
    Frame {
        username_accepted: Some(true),
        info: Some("Welcome to Chatterbox!".to_owned()),
        features: Some(shared::frame::features::ALL.iter().map(|f| f.to_string()).collect()),
        user_list: Some((0..users).map(|i| format!("user{i}")).collect()),
        ..Frame::default()
    }
}

/// The frames both the encoding and decoding groups use, by name.
fn frames() -> Vec<(&'static str, Frame)> {
    vec![
        ("1_message", messages_frame(1)),
        ("100_messages", messages_frame(100)),
        ("login_reply_1000_users", login_reply(USERS)),
    ]
}

fn encoding(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    for (name, frame) in frames() {
        let len = shared::encode(&frame).len() as u64;
        g.throughput(Throughput::Bytes(len));
        g.bench_with_input(BenchmarkId::new("encode", name), &frame, |b, f| {
            b.iter(|| shared::encode(black_box(f)))
        });
        let mut buf = Vec::with_capacity(len as usize);
        g.bench_with_input(BenchmarkId::new("encode_into", name), &frame, |b, f| {
            b.iter(|| {
                buf.clear();
                shared::json::encode_into(black_box(f), &mut buf);
                buf.len()
            })
        });
    }
    let one = message(1);
    g.throughput(Throughput::Bytes(shared::encode_message(&one).len() as u64));
    g.bench_function("encode_message", |b| b.iter(|| shared::encode_message(black_box(&one))));
    g.finish();
}

fn decoding(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    let mut inputs: Vec<(&str, Vec<u8>)> =
        frames().iter().map(|(name, f)| (*name, shared::encode(f))).collect();
    let escaped = shared::encode(&Frame::messages((0..100).map(non_ascii_message).collect()));
    assert!(escaped.is_ascii() && escaped.windows(2).any(|w| w == b"\\u"));
    inputs.push(("100_non_ascii_messages", escaped));
    for (name, bytes) in &inputs {
        assert!(shared::decode(bytes).is_ok(), "{name} decodes");
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), bytes, |b, bytes| {
            b.iter(|| shared::decode(black_box(bytes)))
        });
    }
    g.finish();
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    // What a busy client's connection delivers: many one-message frames back to back.
    let mut stream = BytesMut::new();
    for i in 0..CODEC_FRAMES {
        put_frame(&shared::encode(&Frame::messages(vec![message(i)])), &mut stream);
    }
    g.throughput(Throughput::Elements(CODEC_FRAMES as u64));
    g.bench_function(BenchmarkId::new("frame_codec", CODEC_FRAMES), |b| {
        b.iter_batched_ref(
            || (FrameCodec::new(MAX_CLIENT_FRAME_LEN), stream.clone()),
            |(codec, buf)| {
                let mut n = 0;
                while let Some(payload) = codec.decode(buf).expect("frame") {
                    n += payload.len();
                }
                n
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function(BenchmarkId::new("json_codec", CODEC_FRAMES), |b| {
        b.iter_batched_ref(
            || (JsonCodec::new(MAX_SERVER_FRAME_LEN), stream.clone()),
            |(codec, buf)| {
                let mut n = 0;
                while let Some(frame) = codec.decode(buf).expect("frame") {
                    n += frame.expect("json").messages.map_or(0, |m| m.len());
                }
                n
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn validation(c: &mut Criterion) {
    let mut g = c.benchmark_group("validate");
    let mut names: Vec<String> = (0..USERS).map(|i| format!("user{i}")).collect();
    names.extend(["élodie", "李雷", "Bob_2", "ann smith", "ALL", "x\u{1}y"].map(String::from));
    names.push("n".repeat(40));
    g.throughput(Throughput::Elements(names.len() as u64));
    g.bench_function(BenchmarkId::new("username", names.len()), |b| {
        b.iter(|| black_box(&names).iter().filter(|n| validate_username(n).is_ok()).count())
    });
    // A batch sent by user0: public messages, one in ten private.
    let batch: Vec<Message> =
        (0..SCREEN_BATCH).map(|i| Message { src: "user0".to_owned(), ..message(i) }).collect();
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function(BenchmarkId::new("content", batch.len()), |b| {
        b.iter(|| black_box(&batch).iter().filter(|m| validate_content(&m.content).is_ok()).count())
    });
    // The same with one in ten spoofing its SRC, refused with a reason.
    let mut mixed = batch.clone();
    for m in mixed.iter_mut().step_by(10) {
        m.src = "mallory".to_owned();
    }
    for (name, input) in [("screen", &batch), ("screen_with_refusals", &mixed)] {
        g.bench_with_input(BenchmarkId::new(name, input.len()), input, |b, input| {
            b.iter_batched(
                || input.clone(),
                |ms| shared::rules::screen("user0", ms, 3),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn config() -> Criterion {
    // Short runs: the whole file takes well under a minute on two cores.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = encoding, decoding, codec, validation
}
criterion_main!(benches);
