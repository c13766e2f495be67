//! Criterion micro-benchmarks of the cryptography of accounts: `verify_password`, the check a
//! password login waits for (on a blocking thread, at most `MAX_CONCURRENT_HASHES` at once),
//! `hash_password` (`REGISTER`, `CHANGE_PASSWORD`) and `token_hash`, what a token login costs
//! instead. One core checks at most 1 / (verify time) passwords a second.
//!
//!     cargo bench -p chatterbox-server --bench accounts
//!
//! `cargo xtask test` runs it in criterion's test mode (each benchmark once) so that it cannot
//! rot; `cargo xtask bench` runs it in full and lists the medians in docs/PERFORMANCE.md.

use std::hint::black_box;
use std::time::Duration;

use chatterbox_server::accounts::{
    ARGON2_LANES, ARGON2_MEMORY_KIB, ARGON2_PASSES, hash_password, new_token, token_hash,
    verify_password,
};
use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};

/// A password of a usual length (argon2id's work does not depend on it).
const PASSWORD: &str = "correct horse battery staple";

fn accounts(c: &mut Criterion) {
    let phc = hash_password(PASSWORD).expect("hash");
    assert!(verify_password(PASSWORD, &phc));
    // The parameters in the name, so that the report says what was measured.
    let params = format!("m{ARGON2_MEMORY_KIB}_t{ARGON2_PASSES}_p{ARGON2_LANES}");

    let mut g = c.benchmark_group("argon2id");
    // Tens of milliseconds a call: the same few iterations in every sample, ten samples.
    g.sampling_mode(SamplingMode::Flat).sample_size(10).measurement_time(Duration::from_secs(4));
    g.bench_function(BenchmarkId::new("verify_password", &params), |b| {
        b.iter(|| verify_password(black_box(PASSWORD), black_box(&phc)))
    });
    g.bench_function(BenchmarkId::new("hash_password", &params), |b| {
        b.iter(|| hash_password(black_box(PASSWORD)).expect("hash"))
    });
    g.finish();

    let (token, _) = new_token();
    c.bench_function("token_hash", |b| b.iter(|| token_hash(black_box(&token))));
}

fn config() -> Criterion {
    // Short runs: the whole file takes well under a minute on two cores.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = accounts
}
criterion_main!(benches);
