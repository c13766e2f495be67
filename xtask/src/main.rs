//! `cargo xtask …`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask setup`: installs what is missing, each only if absent: the wasm32 target,
//!   Trunk, wasm-bindgen-cli at exactly the version in Cargo.lock, a working wasm-opt (npm's
//!   binaryen; Debian's crashes browsers), Chromium and chromedriver (apt) for the browser tests.
//! - `cargo xtask run [SERVER ARGS…]`: build the browser client (`trunk build --release`), then
//!   the release server that embeds it, and run it (certificates and the database are created
//!   on first run).
//! - `cargo xtask cluster N [-- SERVER ARGS…]`: the browser client and the release server,
//!   then N servers as the nodes of one cluster on this machine (the local NATS, a fresh
//!   PostgreSQL database), until Ctrl-C, which also removes the database and the NATS streams.
//! - `cargo xtask test`: everything CI checks: formatting, clippy with warnings denied (native,
//!   and wasm32 for the browser client), the wasm32 builds of the protocol and client-core
//!   crates, the browser client's build, and every test: the integration tests start real
//!   servers, run the shared conformance suite against the real binary, drive the TUI in a
//!   pseudo-terminal and the browser client in headless Chromium; the load generator and the
//!   criterion micro-benchmarks run once each so that they cannot rot.
//! - `cargo xtask fuzz [SECS]`: each fuzz target for a while (nightly).
//! - `cargo xtask bench`: the load scenarios, the history and criterion benchmarks, written
//!   to docs/PERFORMANCE.md, and the cluster benchmark (one server, clusters of 1, 2 and 3
//!   nodes), written to docs/SCALING.md. `cargo xtask bench cluster`: only the cluster
//!   benchmark. `cargo xtask bench TEXT…`: only the load scenarios whose labels contain one
//!   of the texts, their tables printed (docs/PERFORMANCE.md is left as it is).
//!
//! # Layout
//!
//! - `cmd`: running commands (cargo, a step that must succeed, a command's output).
//! - `setup`: installing the tools, and the PATH that finds them.
//! - `web`: the browser client's build, and `run`.
//! - `cluster`: `cluster`'s plan of ports and directories, its database and its nodes.
//! - `nats`: the few JetStream requests `cluster` makes to clean up, over NATS's text protocol.
//! - `test`: the checks, the test run's summary, the load generator's smoke runs.
//! - `fuzz`: the fuzz targets.
//! - `server`: a server binary started as a child process, and the ports its log reports.
//! - `bench`: the load scenarios and the benchmarks; `report` writes their results.
//! - `scaling`: the cluster benchmark's deployments (a nats-server of its own, a fresh
//!   database, N nodes), its model, and docs/SCALING.md.

mod bench;
mod cluster;
mod cmd;
mod fuzz;
mod nats;
mod report;
mod scaling;
mod server;
mod setup;
mod test;
mod web;

use anyhow::{Context, Result, bail};

/// Seconds each fuzz target runs when none are given.
const FUZZ_SECS: &str = "600";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    std::env::set_current_dir(cmd::workspace_root()).context("entering the workspace root")?;
    match task.as_str() {
        "setup" => setup::setup(true),
        "bench" => bench::bench(&rest),
        "fuzz" => {
            let secs = rest.first().map(String::as_str).unwrap_or(FUZZ_SECS);
            fuzz::fuzz(secs.parse().context("seconds")?)
        }
        "run" => web::run(&rest),
        "cluster" => cluster::cluster(&rest),
        "test" => test::test(),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 setup         install the tools that are missing (wasm target, trunk, wasm-bindgen, wasm-opt, chromium)\n  \
                 run [ARGS…]   build the web client and the release server, and run it (ARGS go to chatterbox-server)\n  \
                 cluster N [-- ARGS…]\n                \
                 build them, and run N servers as one cluster on the local NATS and a fresh PostgreSQL database (native ports 9500+i, web 8500+i) until Ctrl-C\n  \
                 test          fmt, clippy -D warnings, wasm32 builds, every test (browser tests included), fuzz smoke\n  \
                 fuzz [SECS]   run each fuzz target for SECS seconds (default {FUZZ_SECS}; needs nightly)\n  \
                 bench         the standard load scenarios against a fresh release server, the history and criterion benchmarks, the cluster benchmark; writes docs/PERFORMANCE.md and docs/SCALING.md\n  \
                 bench cluster the cluster benchmark alone (one server, clusters of 1, 2 and 3 nodes); writes docs/SCALING.md\n  \
                 bench TEXT…   only the load scenarios whose labels contain one of the texts (e.g. \"password\"); prints their tables, writes nothing"
            );
            if task.is_empty() || task == "help" || task == "--help" {
                Ok(())
            } else {
                bail!("unknown task {task:?}")
            }
        }
    }
}
