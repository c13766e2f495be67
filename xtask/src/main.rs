//! `cargo xtask …`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask setup`: installs what is missing, each only if absent: the wasm32 target,
//!   Trunk, wasm-bindgen-cli at exactly the version in Cargo.lock, a working wasm-opt (npm's
//!   binaryen; Debian's crashes browsers), Chromium and chromedriver (apt) for the browser tests.
//! - `cargo xtask run [SERVER ARGS…]`: build the browser client (`trunk build --release`), then
//!   the release server that embeds it, and run it (certificates and the database are created
//!   on first run).
//! - `cargo xtask test`: everything CI checks: formatting, clippy with warnings denied (native,
//!   and wasm32 for the browser client), the wasm32 build of the protocol crate, the browser
//!   client's build, and every test: the integration tests start real servers, run the shared
//!   conformance suite against the real binary, drive the TUI in a pseudo-terminal and the
//!   browser client in headless Chromium; the load generator and the criterion
//!   micro-benchmarks run once each so that they cannot rot.

use std::path::{Path, PathBuf};
use std::process::Command;

use std::time::Instant;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let root = workspace_root();
    std::env::set_current_dir(&root).context("entering the workspace root")?;
    match task.as_str() {
        "setup" => setup(true),
        "bench" => bench(),
        "fuzz" => {
            let secs =
                rest.first().map(String::as_str).unwrap_or("600").parse().context("seconds")?;
            fuzz(secs)
        }
        "run" => run(&rest),
        "test" => test(),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 setup         install the tools that are missing (wasm target, trunk, wasm-bindgen, wasm-opt, chromium)\n  \
                 run [ARGS…]   build the web client and the release server, and run it (ARGS go to chatterbox-server)\n  \
                 test          fmt, clippy -D warnings, wasm32 builds, every test (browser tests included), fuzz smoke\n  \
                 fuzz [SECS]   run each fuzz target for SECS seconds (default 600; needs nightly)\n  \
                 bench         the standard load scenarios against a fresh release server, the history and criterion benchmarks; writes docs/PERFORMANCE.md"
            );
            if task.is_empty() || task == "help" || task == "--help" {
                Ok(())
            } else {
                bail!("unknown task {task:?}")
            }
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs a command, failing with its description if it fails.
fn step(what: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("==> {what}");
    let status = cmd.status().with_context(|| format!("starting: {what}"))?;
    if !status.success() {
        bail!("failed: {what} ({status})");
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run(args: &[String]) -> Result<()> {
    setup(false)?;
    build_web()?;
    step(
        "build the release server (the web client embedded)",
        cargo().args(["build", "--release", "--package", "chatterbox-server"]),
    )?;
    let bin = Path::new("target/release/chatterbox-server");
    step("run chatterbox-server", Command::new(bin).args(args))
}

/// Trunk's version: 0.22 needs a newer rustc than this toolchain.
const TRUNK_VERSION: &str = "0.21.14";
/// npm's binaryen: Debian's wasm-opt (108) produces wasm that crashes in the browser.
const BINARYEN_VERSION: &str = "132";

/// Where npm installs binaryen (outside the repository, shared by clones).
fn tools_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".cache/chatterbox-tools")
}

/// PATH with the tools first.
fn tool_path() -> std::ffi::OsString {
    let mut paths = vec![tools_dir().join("node_modules/.bin")];
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        paths.push(PathBuf::from(cargo_home).join("bin"));
    } else if let Some(home) = std::env::var_os("HOME") {
        paths.push(PathBuf::from(home).join(".cargo/bin"));
    }
    paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(paths).unwrap_or_default()
}

fn tool(name: &str) -> Command {
    let mut c = Command::new(name);
    c.env("PATH", tool_path());
    c
}

/// The first line a tool prints for `--version`, if it runs.
fn version_of(name: &str) -> Option<String> {
    output(tool(name).arg("--version")).map(|v| v.lines().next().unwrap_or_default().to_owned())
}

/// The wasm-bindgen version Cargo.lock pins.
fn locked_wasm_bindgen() -> Result<String> {
    let lock = std::fs::read_to_string("Cargo.lock").context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\""
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return Ok(v.trim_end_matches('"').to_owned());
        }
    }
    bail!("wasm-bindgen is not in Cargo.lock")
}

/// Installs what is missing, each only if absent, so repeated runs touch nothing. With
/// `browser`, Chromium and chromedriver too (for the browser tests).
fn setup(browser: bool) -> Result<()> {
    if let Some(installed) =
        output(Command::new("rustup").args(["component", "list", "--installed"]))
    {
        for component in ["rustfmt", "clippy"] {
            if !installed.lines().any(|l| l.starts_with(component)) {
                step(
                    &format!("install {component}"),
                    Command::new("rustup").args(["component", "add", component]),
                )?;
            }
        }
        let targets = output(Command::new("rustup").args(["target", "list", "--installed"]))
            .unwrap_or_default();
        if !targets.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
            step(
                "install the wasm32 target",
                Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]),
            )?;
        }
    }
    if !version_of("trunk").is_some_and(|v| v.ends_with(TRUNK_VERSION)) {
        step(
            &format!("install trunk {TRUNK_VERSION} (several minutes, once)"),
            cargo().args(["install", "trunk", "--version", TRUNK_VERSION, "--locked"]),
        )?;
    }
    let wb = locked_wasm_bindgen()?;
    if !version_of("wasm-bindgen").is_some_and(|v| v.ends_with(&wb)) {
        // Not --locked: its lockfile wants a crate version the registry no longer has.
        step(
            &format!("install wasm-bindgen-cli {wb} (the version in Cargo.lock)"),
            cargo().args(["install", "wasm-bindgen-cli", "--version", &wb, "--force"]),
        )?;
    }
    if !version_of("wasm-opt").is_some_and(|v| v.contains(&format!("version {BINARYEN_VERSION}"))) {
        let dir = tools_dir();
        std::fs::create_dir_all(&dir).context("creating the tools directory")?;
        step(
            &format!("install wasm-opt (npm binaryen@{BINARYEN_VERSION})"),
            Command::new("npm")
                .arg("install")
                .arg("--prefix")
                .arg(&dir)
                .arg(format!("binaryen@{BINARYEN_VERSION}")),
        )?;
    }
    if browser && (version_of("chromium").is_none() || version_of("chromedriver").is_none()) {
        step("apt-get update", Command::new("apt-get").arg("update"))?;
        step(
            "install chromium and chromedriver",
            Command::new("apt-get")
                .args(["install", "-y", "chromium", "chromium-driver"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    if output(Command::new("python3").arg("--version")).is_none() {
        bail!("python3 is needed for the conformance suite (../shared/conformance)");
    }
    if has_nightly() && version_of("cargo-fuzz").is_none() {
        step("install cargo-fuzz", cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

/// The fuzz targets (fuzz/fuzz_targets/*.rs).
const FUZZ_TARGETS: [&str; 2] = ["frame_decoder", "routing"];

fn has_nightly() -> bool {
    output(Command::new("rustup").args(["toolchain", "list"]))
        .is_some_and(|t| t.contains("nightly"))
}

/// Runs each fuzz target for `secs` seconds from its corpus (cargo-fuzz, nightly).
fn fuzz(secs: u64) -> Result<()> {
    if !has_nightly() {
        bail!("fuzzing needs the nightly toolchain (rustup toolchain install nightly)");
    }
    for target in FUZZ_TARGETS {
        let corpus = format!("corpus/{target}");
        step(
            &format!("fuzz {target} for {secs} s"),
            tool("cargo")
                .current_dir("fuzz")
                .args(["+nightly", "fuzz", "run", target, &corpus, "--"])
                .arg(format!("-max_total_time={secs}"))
                .arg("-rss_limit_mb=2048"),
        )?;
    }
    Ok(())
}

/// The most the browser client's wasm may weigh, gzip-compressed.
const WASM_GZIP_BUDGET: u64 = 300 * 1024;

/// Builds the browser client into dist/ (which the server embeds when it is compiled) and
/// checks its size against the budget.
fn build_web() -> Result<()> {
    step(
        "build the web client (trunk build --release)",
        tool("trunk").args(["build", "--release"]),
    )?;
    for entry in std::fs::read_dir("dist").context("reading dist/")? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let raw = std::fs::metadata(&path)?.len();
            let gz = output(
                Command::new("sh").arg("-c").arg(format!("gzip -9c '{}' | wc -c", path.display())),
            )
            .and_then(|s| s.trim().parse::<u64>().ok())
            .context("measuring the gzip size (gzip)")?;
            eprintln!("==> {}: {} KB raw, {} KB gzip", path.display(), raw / 1000, gz / 1000);
            if gz > WASM_GZIP_BUDGET {
                bail!("the web client is {gz} bytes gzip, over the budget of {WASM_GZIP_BUDGET}");
            }
        }
    }
    Ok(())
}

fn test() -> Result<()> {
    setup(true)?;
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
    bench_smoke()?;
    micro_bench_smoke()?;
    if has_nightly() {
        fuzz(20)?;
    } else {
        eprintln!("==> no nightly toolchain: fuzz smoke skipped");
    }
    eprintln!("==> all checks passed");
    // The closing line sums every test binary's results (cargo's own last line is the doc
    // tests' count).
    println!("tests: {passed} passed, {failed} failed");
    Ok(())
}

/// Runs the test command, passing its output through while adding up the `test result:`
/// lines; fails if the command fails.
fn run_tests(cmd: &mut Command) -> Result<(u64, u64)> {
    use std::io::{BufRead, BufReader, Write};
    eprintln!("==> every test, the conformance suite against the real server included");
    let mut child =
        cmd.stdout(std::process::Stdio::piped()).spawn().context("starting cargo test")?;
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

/// A server started for a benchmark scenario, in its own temporary directory.
struct BenchServer {
    child: std::process::Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts the release server with flood control and per-address limits out of the way.
fn bench_server(name: &str, web: bool) -> Result<BenchServer> {
    use std::io::{BufRead, BufReader};
    let dir = std::env::temp_dir().join(format!("chatterbox-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let mut cmd = Command::new(std::fs::canonicalize("target/release/chatterbox-server")?);
    cmd.current_dir(&dir)
        .args(["127.0.0.1", "-p", &port.to_string()])
        .args(["--flood-burst", "0", "--login-burst", "0", "--max-per-address", "100000"])
        .args(["--max-connections", "30000"])
        .stderr(std::process::Stdio::piped())
        .env("RUST_LOG", "warn,chatterbox_server=info");
    if web {
        cmd.args(["--web-port", &free_port()?.to_string()]);
    } else {
        cmd.arg("--no-web");
    }
    let mut child = cmd.spawn().context("starting the release server")?;
    let stderr = child.stderr.take().context("server log")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut web_port = None;
    let mut native = false;
    while let Some(Ok(line)) = lines.next() {
        if line.contains("listening on") {
            if line.contains("(web") {
                web_port = line
                    .split("listening on ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|a| a.rsplit(':').next())
                    .and_then(|p| p.parse().ok());
            } else {
                native = true;
            }
        }
        if native && (!web || web_port.is_some()) {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Ok(BenchServer { child, dir, port: if web { web_port.context("web port")? } else { port } })
}

/// One scenario: its label, the target it is held against, and the bench arguments.
struct Scenario {
    label: &'static str,
    target: &'static str,
    web: bool,
    /// The load generator's arguments, separated by spaces.
    args: &'static str,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        label: "fan-out, flood, 1,000 TLS clients, 10 senders, 64 B",
        target: ">= 3,000,000 deliveries/s, 0 lost",
        web: false,
        args: "--clients 1000 --senders 10 --messages 300 --size 64 --mode flood",
    },
    Scenario {
        label: "lockstep fan-out to 1,000 TLS clients",
        target: "p99 <= 2 ms",
        web: false,
        args: "--clients 1000 --senders 1 --messages 300 --size 64 --mode lockstep",
    },
    Scenario {
        label: "logins: 1,000 TLS clients, 256 logging in at a time",
        target: ">= 5,000 logins/s",
        web: false,
        args: "--clients 1000 --senders 1 --messages 1 --size 16 --concurrency 256",
    },
    // Every login is announced to everyone already in, so the login rate falls as the room
    // grows; the memory reading is taken after the allocator has returned what the login
    // storm freed (its purge runs within about a second).
    Scenario {
        label: "idle: 19,000 logged-in TLS clients (RSS per connection)",
        target: "19,000 held, <= 8 KiB RSS per connection",
        web: false,
        args: "--clients 19000 --senders 1 --messages 1 --size 16 --hold 3 --concurrency 512",
    },
    Scenario {
        label: "fan-out, flood, 500 WebSocket clients, 5 senders, 64 B",
        target: "none set (Centrifugo: ~12,500 deliveries/s per CPU)",
        web: true,
        args: "--clients 500 --senders 5 --messages 200 --size 64 --mode flood --ws",
    },
];

fn bench() -> Result<()> {
    step(
        "build the release server and the load generator",
        cargo().args([
            "build",
            "--release",
            "--package",
            "chatterbox-server",
            "--package",
            "chatterbox-bench",
        ]),
    )?;
    let bench_bin = std::fs::canonicalize("target/release/chatterbox-bench")?;
    let mut rows = Vec::new();
    for (n, sc) in SCENARIOS.iter().enumerate() {
        let server = bench_server(&n.to_string(), sc.web)?;
        let json = server.dir.join("result.json");
        let ca = server.dir.join("certs/ca.pem");
        eprintln!("==> {}", sc.label);
        let status = Command::new(&bench_bin)
            .args(["--port", &server.port.to_string(), "--ca"])
            .arg(&ca)
            .args(["--server-pid", &server.child.id().to_string(), "--json"])
            .arg(&json)
            .args(sc.args.split_whitespace())
            .status()?;
        if !status.success() {
            bail!("scenario failed: {}", sc.label);
        }
        let result = std::fs::read_to_string(&json)?;
        rows.push((sc, result, format!("chatterbox-bench {}", sc.args)));
    }
    eprintln!("==> history: commits and login replay (cargo bench --bench history)");
    let out = cargo()
        .args(["bench", "--package", "chatterbox-server", "--bench", "history"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running the history benchmark")?;
    if !out.status.success() {
        bail!("the history benchmark failed");
    }
    let history = String::from_utf8_lossy(&out.stdout).into_owned();
    let micro = micro_benches()?;
    write_performance(&rows, &history, &micro)
}

fn field(json: &str, key: &str) -> String {
    let Some(i) = json.find(&format!("\"{key}\":")) else { return "-".into() };
    let rest = json[i + key.len() + 3..].trim_start();
    let end = rest.find([',', '\n', '}']).unwrap_or(rest.len());
    let v = rest[..end].trim();
    match v.parse::<f64>() {
        Ok(x) if x.fract() == 0.0 || x >= 100.0 => format!("{x:.0}"),
        Ok(x) => format!("{x:.2}"),
        Err(_) => v.to_owned(),
    }
}

/// `key=value` from the history benchmark's output.
fn kv(text: &str, key: &str) -> String {
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or("-").to_owned()
}

fn write_performance(
    rows: &[(&Scenario, String, String)],
    history: &str,
    micro: &str,
) -> Result<()> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mut md = String::from(
        "# Performance\n\nMeasured by `cargo xtask bench`, which builds the release server and `chatterbox-bench`,\n\
         starts a fresh server for each scenario (flood control and per-address limits off, so\n\
         that the server, not its policy, is measured) and runs the load generator on the same\n\
         machine. This file is rewritten by each run.\n\n",
    );
    md.push_str(&format!(
        "Machine: {cores} cores, {cpu}; load generator and server share the cores.\n\n"
    ));
    md.push_str("| scenario | target | deliveries/s | p50 ms | p99 ms | p99.9 ms | lost | logins/s | RSS/conn KiB |\n|---|---|---|---|---|---|---|---|---|\n");
    for (sc, json, _) in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            sc.label,
            sc.target,
            field(json, "deliveries_per_sec"),
            field(json, "p50_ms"),
            field(json, "p99_ms"),
            field(json, "p999_ms"),
            field(json, "lost"),
            field(json, "logins_per_sec"),
            field(json, "rss_per_conn_kib"),
        ));
    }
    md.push_str(&format!(
        "\n| history | target | measured |\n|---|---|---|\n\
         | messages committed to SQLite per second (group commit, 64-byte messages) | >= 100,000 | {} |\n\
         | login replay of {} messages from a store of {} | p99 <= 5 ms | p50 {} ms, p99 {} ms |\n\
         | the same from a store of 200,000 (independence of the store's size) | | p99 {} ms |\n",
        kv(history, "commits_per_sec"),
        kv(history, "replay_messages"),
        kv(history, "store_messages"),
        kv(history, "replay_p50_ms"),
        kv(history, "replay_p99_ms"),
        kv(history, "replay_p99_ms_at_200000"),
    ));
    md.push_str(micro);
    md.push_str("\nCommands (each against `chatterbox-server 127.0.0.1 -p PORT --flood-burst 0 --login-burst 0 --max-per-address 100000 --max-connections 30000`):\n\n");
    for (_, _, cmd) in rows {
        md.push_str(&format!("    {cmd}\n"));
    }
    md.push_str("    cargo bench -p chatterbox-server --bench history\n");
    for (_, args) in MICRO_BENCHES {
        md.push_str(&format!("    cargo {}\n", args.join(" ")));
    }
    md.push_str(&std::fs::read_to_string("docs/PERFORMANCE-NOTES.md").unwrap_or_default());
    std::fs::write("docs/PERFORMANCE.md", md)?;
    eprintln!("==> wrote docs/PERFORMANCE.md");
    Ok(())
}

/// The criterion micro-benchmarks: a label and the `cargo` arguments that run each in full.
const MICRO_BENCHES: [(&str, &[&str]); 2] = [
    (
        "frames",
        &[
            "bench",
            "--package",
            "chatterbox-shared",
            "--features",
            "json-codec",
            "--bench",
            "frames",
        ],
    ),
    ("query", &["bench", "--package", "chatterbox-server", "--bench", "query"]),
];

/// The criterion micro-benchmarks in criterion's test mode (each benchmark once, debug build
/// with the test run's features), so that they cannot rot.
fn micro_bench_smoke() -> Result<()> {
    step(
        "criterion micro-benchmarks, test mode",
        cargo().args([
            "test",
            "--workspace",
            "--all-features",
            "--bench",
            "frames",
            "--bench",
            "query",
        ]),
    )
}

/// Runs the criterion micro-benchmarks in full and returns the section of
/// docs/PERFORMANCE.md listing their medians, read from criterion's
/// `target/criterion/<id>/new/{benchmark,estimates}.json` of this run.
fn micro_benches() -> Result<String> {
    let mut md = String::from(
        "\n## Micro-benchmarks (criterion)\n\n\
         Median time of one iteration: one call, or one pass over the batch whose size ends the\n\
         name (`codec/frame_codec/1000` splits a buffer of 1,000 frames). The history queries\n\
         read 1,000 messages from a store of 200,000 (SQLite's pages cached).\n\n\
         | bench | benchmark | median |\n|---|---|---|\n",
    );
    for (label, args) in MICRO_BENCHES {
        let since = std::time::SystemTime::now();
        step(&format!("micro-benchmarks: cargo {}", args.join(" ")), cargo().args(args))?;
        let mut found = Vec::new();
        criterion_medians(Path::new("target/criterion"), since, &mut found)?;
        if found.is_empty() {
            bail!("no criterion results from the {label} benchmark");
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, ns) in found {
            md.push_str(&format!("| {label} | {id} | {} |\n", duration_text(ns)));
        }
    }
    Ok(md)
}

/// Every `(full id, median ns)` under `dir` whose `new/estimates.json` was written after `since`.
fn criterion_medians(
    dir: &Path,
    since: std::time::SystemTime,
    out: &mut Vec<(String, f64)>,
) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            let estimates = path.join("estimates.json");
            let fresh = std::fs::metadata(&estimates).and_then(|m| m.modified());
            if !fresh.is_ok_and(|t| t >= since) {
                continue;
            }
            let meta = std::fs::read_to_string(path.join("benchmark.json"))?;
            let est = std::fs::read_to_string(&estimates)?;
            let id = json_after(&meta, &["\"full_id\":"]).trim_matches('"').to_owned();
            let median = json_after(&est, &["\"median\":", "\"point_estimate\":"]);
            let ns =
                median.parse().with_context(|| format!("median in {}", estimates.display()))?;
            out.push((id, ns));
        } else {
            criterion_medians(&path, since, out)?;
        }
    }
    Ok(())
}

/// The scalar value that follows the last of `keys`, each looked for after the one before
/// (enough for criterion's flat JSON; strings keep their quotes).
fn json_after<'a>(json: &'a str, keys: &[&str]) -> &'a str {
    let mut rest = json;
    for key in keys {
        rest = rest.find(key).map_or("", |i| &rest[i + key.len()..]);
    }
    let rest = rest.trim_start();
    let end = if let Some(string) = rest.strip_prefix('"') {
        string.find('"').map_or(rest.len(), |i| i + 2)
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    rest[..end].trim()
}

/// Nanoseconds in the unit that suits them.
fn duration_text(ns: f64) -> String {
    match ns {
        x if x < 1e3 => format!("{x:.1} ns"),
        x if x < 1e6 => format!("{:.2} µs", x / 1e3),
        x => format!("{:.3} ms", x / 1e6),
    }
}

/// The load generator on a tiny scenario against a debug server, so that it cannot rot.
fn bench_smoke() -> Result<()> {
    step(
        "build the load generator",
        cargo().args(["build", "--package", "chatterbox-bench", "--package", "chatterbox-server"]),
    )?;
    let dir = std::env::temp_dir().join(format!("chatterbox-bench-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let mut server = Command::new(std::fs::canonicalize("target/debug/chatterbox-server")?)
        .current_dir(&dir)
        .args(["127.0.0.1", "-p", &port.to_string(), "--no-web", "--flood-burst", "0"])
        .env("RUST_LOG", "warn")
        .spawn()?;
    let ca = dir.join("certs/ca.pem");
    let pid = server.id().to_string();
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = Command::new(std::fs::canonicalize("target/debug/chatterbox-bench")?)
        .args(["--port", &port.to_string(), "--ca"])
        .arg(&ca)
        .args(["--clients", "20", "--senders", "2", "--messages", "20", "--server-pid", &pid])
        .output();
    let _ = Command::new("kill").arg("-TERM").arg(server.id().to_string()).status();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default().to_owned();
    eprintln!("==> bench smoke: {last}");
    if !out.status.success() || !last.starts_with("deliveries/s=") || !last.ends_with(" lost=0") {
        bail!(
            "the load generator's smoke run failed:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criterion_medians_are_read_from_this_runs_results() {
        let root = std::env::temp_dir().join(format!("xtask-criterion-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let since = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for (dir, id, median) in [("g/f/1", "g/f/1", 1234.5), ("g/f_2", "g/f/2", 12.0)] {
            let new = root.join(dir).join("new");
            std::fs::create_dir_all(&new).expect("dir");
            std::fs::write(
                new.join("benchmark.json"),
                format!(r#"{{"group_id":"g","value_str":"1","full_id":"{id}","title":"{id}"}}"#),
            )
            .expect("write");
            std::fs::write(
                new.join("estimates.json"),
                format!(
                    r#"{{"mean":{{"confidence_interval":{{"lower_bound":1.0}},"point_estimate":9.0}},"median":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0}},"point_estimate":{median},"standard_error":3.0}}}}"#
                ),
            )
            .expect("write");
        }
        let mut found = Vec::new();
        criterion_medians(&root, since, &mut found).expect("read");
        found.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(found, [("g/f/1".to_owned(), 1234.5), ("g/f/2".to_owned(), 12.0)]);
        let mut later = Vec::new();
        let future = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        criterion_medians(&root, future, &mut later).expect("read");
        assert!(later.is_empty(), "older results are left out");
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(duration_text(12.0), "12.0 ns");
        assert_eq!(duration_text(1234.5), "1.23 µs");
        assert_eq!(duration_text(1_185_400.0), "1.185 ms");
    }
}
