//! `cargo xtask test`: everything CI checks, and a closing line that sums the tests run.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::bench::MICRO_BENCHES;
use crate::cmd::{cargo, step};
use crate::fuzz::fuzz;
use crate::setup::{has_nightly, setup, tool_path};
use crate::web::build_web;

/// Seconds each fuzz target runs in the smoke run.
const FUZZ_SMOKE_SECS: u64 = 20;

/// Formatting, clippy, the wasm32 builds, every test (the load generator's smoke run, in
/// bench/tests, among them), and smoke runs of the micro-benchmarks and (with nightly) the fuzz targets.
pub fn test() -> Result<()> {
    setup(true)?;
    services()?;
    step("cargo fmt --check", cargo().args(["fmt", "--all", "--", "--check"]))?;
    step(
        "cargo clippy -D warnings",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    step(
        "cargo clippy -D warnings (browser client, wasm32)",
        cargo().args([
            "clippy",
            "--package",
            "chatterbox-web",
            "--target",
            "wasm32-unknown-unknown",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    step(
        "wasm32 build of the protocol and client-core crates (no tokio)",
        cargo().args([
            "check",
            "--package",
            "chatterbox-shared",
            "--package",
            "chatterbox-client-core",
            "--target",
            "wasm32-unknown-unknown",
        ]),
    )?;
    // The server embeds dist/ when it is compiled, so the web client is built first.
    build_web()?;
    let (passed, failed) = run_tests(
        cargo()
            .args(["test", "--workspace", "--all-features", "--", "--include-ignored"])
            .env("PATH", tool_path()),
    )?;
    micro_bench_smoke()?;
    if has_nightly() {
        fuzz(FUZZ_SMOKE_SECS)?;
    } else {
        eprintln!("==> no nightly toolchain: fuzz smoke skipped");
    }
    eprintln!("==> all checks passed");
    // The closing line sums every test binary's results (cargo's own last line is the doc
    // tests' count).
    println!("tests: {passed} passed, {failed} failed");
    Ok(())
}

/// The services the cluster tests need, with the variable that moves each elsewhere.
const SERVICES: [(&str, &str, &str); 2] = [
    ("NATS with JetStream", "CHATTERBOX_TEST_NATS", "nats://127.0.0.1:4222"),
    ("PostgreSQL", "CHATTERBOX_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"),
];

/// How long the check waits for each service to accept a connection.
const SERVICE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Fails at once, saying which, if a service the tests need does not answer (rather than
/// half an hour later in the middle of the tests). Nothing is ever skipped for its absence.
fn services() -> Result<()> {
    use std::net::ToSocketAddrs;
    for (what, var, default) in SERVICES {
        let url = std::env::var(var).unwrap_or_else(|_| default.to_owned());
        let hostport = host_port(&url)
            .with_context(|| format!("{var}={url:?} is not a URL with a host and port"))?;
        let reachable = hostport
            .to_socket_addrs()
            .ok()
            .into_iter()
            .flatten()
            .any(|addr| std::net::TcpStream::connect_timeout(&addr, SERVICE_TIMEOUT).is_ok());
        if !reachable {
            bail!(
                "{what} is not reachable at {hostport}: the cluster tests need it. Start it \
                 (the project's machines run it before every session and CI), or set {var}."
            );
        }
    }
    Ok(())
}

/// `host:port` of a `scheme://[user@]host:port/...` URL.
fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let hostport = authority.rsplit('@').next()?;
    hostport.contains(':').then(|| hostport.to_owned())
}

/// Runs the test command, passing its output through while adding up the `test result:`
/// lines; fails if the command fails.
fn run_tests(cmd: &mut Command) -> Result<(u64, u64)> {
    eprintln!("==> every test, the conformance suite against the real server included");
    let mut child = cmd.stdout(Stdio::piped()).spawn().context("starting cargo test")?;
    let stdout = child.stdout.take().context("cargo test output")?;
    let (mut passed, mut failed) = (0, 0);
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo test output")?;
        if let Some(rest) = line.strip_prefix("test result: ") {
            passed += count(rest, " passed");
            failed += count(rest, " failed");
        }
        writeln!(out, "{line}").context("writing output")?;
    }
    let status = child.wait().context("waiting for cargo test")?;
    if !status.success() {
        println!("tests: {passed} passed, {} failed", failed.max(1));
        bail!("failed: cargo test ({status})");
    }
    Ok((passed, failed))
}

/// The number before `label` in a `test result:` line ("ok. 19 passed; 0 failed; …").
fn count(line: &str, label: &str) -> u64 {
    line.split(';')
        .find_map(|part| part.trim().strip_suffix(label.trim()).map(str::trim))
        .map(|n| n.rsplit(' ').next().unwrap_or(n))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The criterion micro-benchmarks in criterion's test mode (each benchmark once, debug build
/// with the test run's features), so that they cannot rot.
fn micro_bench_smoke() -> Result<()> {
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--all-features"]);
    for (bench, _) in MICRO_BENCHES {
        cmd.args(["--bench", bench]);
    }
    step("criterion micro-benchmarks, test mode", &mut cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_results_are_added_up_from_cargos_summary_lines() {
        let line =
            "ok. 19 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.5s";
        assert_eq!(count(line, " passed"), 19);
        assert_eq!(count(line, " failed"), 2);
        assert_eq!(count("FAILED. 0 passed; 3 failed", " failed"), 3);
    }

    #[test]
    fn the_services_host_and_port_come_from_their_urls() {
        assert_eq!(host_port("nats://127.0.0.1:4222").as_deref(), Some("127.0.0.1:4222"));
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/postgres").as_deref(),
            Some("127.0.0.1:5432")
        );
        assert_eq!(host_port("postgres://u:p@db:6543?sslmode=disable").as_deref(), Some("db:6543"));
        assert_eq!(host_port("postgres://db/x"), None, "no port: said so, not guessed");
        assert_eq!(host_port("not a url"), None);
    }
}
