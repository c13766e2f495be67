//! Criterion micro-benchmarks of the history queries a login makes: `Reader::history` (1,000
//! messages, without and with hidden names) and `Reader::all_users`, against a store of 200,000
//! messages from 1,000 users, filled once through the writer as `history.rs` does it.
//!
//!     cargo bench -p chatterbox-server --bench query
//!
//! `cargo xtask test` runs it in criterion's test mode (each benchmark once) so that it cannot
//! rot; `cargo xtask bench` runs it in full and lists the medians in docs/PERFORMANCE.md.

use std::time::{Duration, Instant};

use chatterbox_server::store::{self, Op};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shared::Message;
use tokio_util::sync::CancellationToken;

/// Messages in the store (filled in under a second, in a debug build too).
const STORE_SIZE: i64 = 200_000;
/// Users who send, and who have been seen.
const USERS: i64 = 1000;
/// Messages a login replays (the server's default `--history`).
const REPLAY: usize = 1000;

fn message(i: i64) -> Message {
    let src = format!("user{}", i % USERS);
    // one in ten is private, to a neighbour
    let dest = if i % 10 == 0 { format!("user{}", (i + 1) % USERS) } else { "ALL".to_owned() };
    Message::new(src, dest, 1_700_000_000 + i, format!("message {i} {}", "x".repeat(48)))
}

async fn fill(writer: &store::Writer, size: i64) {
    for u in 0..USERS {
        let op = Op::UserSeen { name: format!("user{u}"), at: 1_700_000_000 + u };
        writer.ops.send(op).await.expect("writer");
    }
    for id in 1..=size {
        writer.ops.send(Op::Message { id, message: message(id) }).await.expect("writer");
    }
    let mut committed = writer.committed.clone();
    committed.wait_for(|c| *c >= size).await.expect("committed");
}

fn queries(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let (writer, reader) = rt.block_on(async {
        let (writer, reader, _) =
            store::sqlite::open(dir.path(), CancellationToken::new()).expect("store");
        let t = Instant::now();
        fill(&writer, STORE_SIZE).await;
        eprintln!("filled a store of {STORE_SIZE} messages in {:.2} s", t.elapsed().as_secs_f64());
        (writer, reader)
    });

    let user = "user37";
    let none: Vec<String> = Vec::new();
    // user37 blocks two senders (or is blocked by them): their messages are left out.
    let hidden: Vec<String> = vec!["user38".to_owned(), "user500".to_owned()];
    for h in [&none, &hidden] {
        let got =
            rt.block_on(reader.history(user, STORE_SIZE, REPLAY, h, 0, &[])).expect("history");
        assert_eq!(got.len(), REPLAY);
        assert!(got.iter().all(|m| !h.contains(&m.src) && !h.contains(&m.dest)));
    }

    let mut g = c.benchmark_group("history");
    g.throughput(Throughput::Elements(REPLAY as u64));
    for (name, h) in [("no_hidden", &none), ("2_hidden", &hidden)] {
        g.bench_with_input(BenchmarkId::new(name, REPLAY), h, |b, h| {
            b.to_async(&rt).iter(|| async {
                reader.history(user, STORE_SIZE, REPLAY, h, 0, &[]).await.expect("history")
            })
        });
    }
    g.finish();

    assert_eq!(rt.block_on(reader.all_users()).expect("all users").len(), USERS as usize);
    let mut g = c.benchmark_group("all_users");
    g.throughput(Throughput::Elements(USERS as u64));
    g.bench_function(BenchmarkId::from_parameter(USERS), |b| {
        b.to_async(&rt).iter(|| async { reader.all_users().await.expect("all users") })
    });
    g.finish();

    drop(writer);
}

fn config() -> Criterion {
    // Short runs: the whole file, fill included, takes well under a minute on two cores.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = queries
}
criterion_main!(benches);
