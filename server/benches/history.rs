//! History benchmark (run by `cargo xtask bench`): how many messages a second the store's
//! writer commits, and how long a login's history read (1,000 messages) takes from a store of
//! 1,000,000, which must not depend on the store's size, for SQLite and then for PostgreSQL
//! (cluster mode; a fresh database made on the server test-support's `TestDb` uses), and how
//! long a full-text search takes there. Prints `key=value` lines, PostgreSQL's prefixed `pg_`.

use std::time::{Duration, Instant};

use chatterbox_server::store::{self, Op};
use shared::Message;
use tokio_util::sync::CancellationToken;

const COMMIT_RUN: i64 = 200_000;
const STORE_SIZE: i64 = 1_000_000;
const REPLAY: usize = 1000;
const LOGINS: usize = 1000;
const USERS: i64 = 1000;
/// How far back a resumed login's last message is: about 100 messages it missed (nine in ten
/// are public).
const RESUMED: i64 = 111;

/// Searches timed from the full store, of each kind.
const SEARCHES: usize = 500;
/// Distinct words besides "message": each is in 1,000,000 / 5,000 = 200 messages.
const WORDS: i64 = 5000;

fn message(i: i64) -> Message {
    let src = format!("user{}", i % USERS);
    // one in ten is private, to a neighbour
    let dest = if i % 10 == 0 { format!("user{}", (i + 1) % USERS) } else { "ALL".to_owned() };
    let word = word(i);
    Message::new(src, dest, 1_700_000_000 + i, format!("message {i} {word} {}", "x".repeat(40)))
}

/// The word of message `i`, spread over the store.
fn word(i: i64) -> String {
    format!("w{}", (i * 7919) % WORDS)
}

/// Searches from the full store, as users who see the main room and their own private
/// messages: (kind, durations sorted). Kinds: a rare word (200 messages hold it), a word every
/// message holds, both, and a rare word from one sender.
async fn searches(reader: &store::Reader) -> Vec<(&'static str, Vec<Duration>)> {
    use chatterbox_server::search::{Scope, terms};
    let mut out = Vec::new();
    for kind in ["rare", "common", "two_words", "from_sender"] {
        let mut times = Vec::with_capacity(SEARCHES);
        for k in 0..SEARCHES as i64 {
            let user = format!("user{}", (k * 37) % USERS);
            // The word of a public message (private ones are those with i % 10 == 0; a word's
            // messages all share i % 10).
            let rare = word(k * 10 + 1);
            let (query, from_key) = match kind {
                "rare" => (rare, None),
                "common" => ("message".to_owned(), None),
                "two_words" => (format!("message {rare}"), None),
                _ => (rare, Some(format!("user{}", (k * 7) % USERS))),
            };
            let scope = Scope { user, from_key, ..Scope::default() };
            let terms = terms(&query).expect("a query");
            let t = Instant::now();
            let found = reader.search(&terms, &scope, 21).await.expect("search");
            times.push(t.elapsed());
            assert!(kind == "from_sender" || !found.is_empty(), "{kind}: {query} found nothing");
        }
        times.sort();
        out.push((kind, times));
    }
    out
}

async fn fill(writer: &store::Writer, from: i64, to: i64) {
    for id in from..=to {
        writer.ops.send(Op::Message { id, message: message(id) }).await.expect("writer");
    }
    let mut committed = writer.committed.clone();
    committed.wait_for(|c| *c >= to).await.expect("committed");
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Login history reads of many users from a store of `size` messages, sorted by duration.
///
/// Both sizes are measured the same way: once the writer has finished (its last checkpoint
/// done) and after one unmeasured pass, so that what differs is the store's size alone.
async fn replays(reader: &store::Reader, size: i64) -> Vec<Duration> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    for k in 0..USERS {
        reader.history(&format!("user{k}"), size, REPLAY, &[], 0, &[]).await.expect("history");
    }
    let mut times = Vec::with_capacity(LOGINS);
    for k in 0..LOGINS {
        let user = format!("user{}", (k as i64 * 37) % USERS);
        let t = Instant::now();
        let h = reader.history(&user, size, REPLAY, &[], 0, &[]).await.expect("history");
        times.push(t.elapsed());
        assert_eq!(h.len(), REPLAY);
    }
    times.sort();
    times
}

/// Resumed logins from a store of `size` messages: each asks for what came after a point about
/// `RESUMED` messages back (its public ones, and its own private ones among them), sorted by
/// duration.
async fn resumes(reader: &store::Reader, size: i64) -> (Vec<Duration>, usize) {
    let after = size - RESUMED;
    let mut times = Vec::with_capacity(LOGINS);
    let mut got = 0;
    for k in 0..LOGINS {
        let user = format!("user{}", (k as i64 * 37) % USERS);
        let t = Instant::now();
        let h =
            reader.history_after(&user, size, REPLAY, &[], 0, &[], after).await.expect("history");
        times.push(t.elapsed());
        got = got.max(h.len());
    }
    times.sort();
    (times, got)
}

/// Fills the store and measures it; prints the lines with `prefix`.
async fn measure<F: Future<Output = ()>>(
    writer: store::Writer,
    reader: store::Reader,
    prefix: &str,
    settle: impl FnOnce() -> F,
) {
    let t = Instant::now();
    fill(&writer, 1, COMMIT_RUN).await;
    let commits = COMMIT_RUN as f64 / t.elapsed().as_secs_f64();
    let small = replays(&reader, COMMIT_RUN).await;
    fill(&writer, COMMIT_RUN + 1, STORE_SIZE).await;
    let large = replays(&reader, STORE_SIZE).await;
    let (resumed, missed) = resumes(&reader, STORE_SIZE).await;
    settle().await;
    let searched = searches(&reader).await;
    println!("{prefix}commits_per_sec={commits:.0}");
    println!("{prefix}replay_messages={REPLAY}");
    println!("{prefix}replay_p99_ms_at_{COMMIT_RUN}={:.3}", percentile(&small, 0.99));
    println!("{prefix}replay_p50_ms={:.3}", percentile(&large, 0.5));
    println!("{prefix}replay_p99_ms={:.3}", percentile(&large, 0.99));
    println!("{prefix}store_messages={STORE_SIZE}");
    println!("{prefix}resume_messages={missed}");
    println!("{prefix}resume_p50_ms={:.3}", percentile(&resumed, 0.5));
    println!("{prefix}resume_p99_ms={:.3}", percentile(&resumed, 0.99));
    let mut all = Vec::new();
    for (kind, times) in &searched {
        println!("{prefix}search_{kind}_p50_ms={:.3}", percentile(times, 0.5));
        println!("{prefix}search_{kind}_p99_ms={:.3}", percentile(times, 0.99));
        all.extend_from_slice(times);
    }
    all.sort();
    println!("{prefix}search_p99_ms={:.3}", percentile(&all, 0.99));
    drop(writer.ops);
    writer.finished.wait().await;
}

/// `cargo bench --bench history [-- sqlite|postgres]`: both stores, or the one named.
fn main() {
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let runs = |store: &str| only.as_deref().is_none_or(|o| o == store);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        if runs("sqlite") {
            let dir = tempfile::tempdir().expect("tempdir");
            let (writer, reader, _) =
                store::sqlite::open(dir.path(), CancellationToken::new()).expect("store");
            measure(writer, reader, "", || async {}).await;
        }
        if !runs("postgres") {
            return;
        }
        let db = test_support::TestDb::new().await;
        let seconds = chatterbox_server::metrics::commit_histogram();
        let backend = store::Backend::Postgres(&db.url, None);
        let (writer, reader, _) =
            store::open(backend, CancellationToken::new(), seconds).await.expect("PostgreSQL");
        let url = db.url.clone();
        measure(writer, reader, "pg_", || async move {
            // PostgreSQL plans from its statistics, which autovacuum gathers a while after a
            // million rows arrive; a store that has run for a while has them. Gathered now,
            // so that the searches are measured as they run then (without, a search planned
            // for a table it thinks is small took up to a second).
            let (client, conn) =
                tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("PostgreSQL");
            tokio::spawn(conn);
            client.batch_execute("ANALYZE messages").await.expect("ANALYZE");
        })
        .await;
    });
}
