//! `cargo xtask bench`: the standard load scenarios, each against a fresh release server, the
//! history benchmark and the criterion micro-benchmarks; [`crate::report`] writes the results
//! to docs/PERFORMANCE.md.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cmd::{cargo, step};
use crate::server::{self, Ports, ServerProcess};
use crate::{report, scaling};

/// One scenario: its label, the target it is held against, and the load generator's
/// arguments.
#[derive(Debug)]
pub struct Scenario {
    /// What it measures, as the report's row says it.
    pub label: &'static str,
    /// The target it is held against.
    pub target: &'static str,
    /// Over WebSocket: the server runs its web gateway, and the load generator connects to
    /// that port with `--ws`.
    pub web: bool,
    /// It measures logins: its row also goes into the report's table of what a login costs
    /// (latency, the server's CPU per login).
    pub logins: bool,
    /// The load generator's own arguments, separated by spaces (`--ws` comes from `web`).
    pub args: &'static str,
}

impl Scenario {
    /// The load generator's arguments for this scenario, besides where the server is.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut flags: Vec<_> = self.args.split_whitespace().collect();
        if self.web {
            flags.push("--ws");
        }
        flags
    }
}

/// The server's arguments in every scenario: flood control and per-address limits off, so
/// that the server, not its policy, is measured, and room for the largest crowd (19,000).
pub const SERVER_ARGS: [&str; 8] = [
    "--flood-burst",
    "0",
    "--login-burst",
    "0",
    "--max-per-address",
    "100000",
    "--max-connections",
    "30000",
];

/// The scenarios `cargo xtask bench` runs, in the report's order.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        label: "fan-out, flood, 1,000 TLS clients, 10 senders, 64 B",
        target: ">= 3,000,000 deliveries/s, 0 lost",
        web: false,
        logins: false,
        args: "--clients 1000 --senders 10 --messages 300 --size 64 --mode flood",
    },
    Scenario {
        label: "lockstep fan-out to 1,000 TLS clients",
        target: "p99 <= 2 ms",
        web: false,
        logins: false,
        args: "--clients 1000 --senders 1 --messages 300 --size 64 --mode lockstep",
    },
    Scenario {
        label: "logins: 1,000 TLS clients, 256 logging in at a time",
        target: ">= 5,000 logins/s",
        web: false,
        logins: true,
        args: "--clients 1000 --senders 1 --messages 1 --size 16 --concurrency 256",
    },
    // Password and token logins need registered names: the load generator registers them
    // first, not timed, an argon2id hash each (about 45 a second on two cores). The 200
    // password logins take as long again; 32 at a time keep the server's hashing slots busy
    // while the rest queue. The token crowd is the plain one's (1,000: about 25 s of
    // registering), so that the two rows compare.
    Scenario {
        label: "logins with a password: 200 TLS clients, 32 logging in at a time",
        target: "argon2id m=19 MiB t=2 p=1: ~45 logins per core-second",
        web: false,
        logins: true,
        args: "--clients 200 --senders 1 --messages 1 --size 16 --concurrency 32 --auth password",
    },
    Scenario {
        label: "logins with a session token: 1,000 TLS clients, 256 logging in at a time",
        target: ">= 5,000 logins/s, as plain ones (a SHA-256, no argon2id)",
        web: false,
        logins: true,
        args: "--clients 1000 --senders 1 --messages 1 --size 16 --concurrency 256 --auth token",
    },
    // Every login is announced to everyone already in, so the login rate falls as the room
    // grows; the memory reading is taken after the allocator has returned what the login
    // storm freed (its purge runs within about a second).
    Scenario {
        label: "idle: 19,000 logged-in TLS clients (RSS per connection)",
        target: "19,000 held, <= 8 KiB RSS per connection",
        web: false,
        logins: false,
        args: "--clients 19000 --senders 1 --messages 1 --size 16 --hold 3 --concurrency 512",
    },
    Scenario {
        label: "fan-out, flood, 500 WebSocket clients, 5 senders, 64 B",
        target: "none set (Centrifugo: ~12,500 deliveries/s per CPU)",
        web: true,
        logins: false,
        args: "--clients 500 --senders 5 --messages 200 --size 64 --mode flood",
    },
    Scenario {
        label: "lockstep fan-out to 1,000 WebSocket clients",
        target: "none set (native: p99 <= 2 ms)",
        web: true,
        logins: false,
        args: "--clients 1000 --senders 1 --messages 300 --size 64 --mode lockstep",
    },
    // Held like the native idle scenario; the target is a Rust push server's (Mozilla's
    // autopush: 10.27 kB per WebSocket).
    Scenario {
        label: "idle: 10,000 logged-in WebSocket clients (RSS per connection)",
        target: "10,000 held, <= 10 KiB RSS per connection",
        web: true,
        logins: false,
        args: "--clients 10000 --senders 1 --messages 1 --size 16 --hold 3 --concurrency 512",
    },
];

/// The criterion micro-benchmarks: each one's bench target, and the `cargo` arguments that
/// run it in full.
pub const MICRO_BENCHES: [(&str, &[&str]); 3] = [
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
    ("accounts", &["bench", "--package", "chatterbox-server", "--bench", "accounts"]),
];

/// One load scenario's result.
#[derive(Debug)]
pub struct Row {
    /// The scenario.
    pub scenario: &'static Scenario,
    /// The load generator's JSON output (`--json`).
    pub result: Value,
}

/// One criterion benchmark's median.
#[derive(Debug, PartialEq)]
pub struct Median {
    /// The bench target it belongs to (a label of [`MICRO_BENCHES`]).
    pub bench: &'static str,
    /// Criterion's full id of the benchmark.
    pub id: String,
    /// Median time of one iteration, in nanoseconds.
    pub ns: f64,
}

/// `cargo xtask bench`: everything, then docs/PERFORMANCE.md and docs/SCALING.md. With
/// `only`, just the load scenarios whose labels contain one of its texts, their tables
/// printed rather than written (docs/PERFORMANCE.md keeps the last full run's); `cluster`
/// alone runs the cluster benchmark and writes docs/SCALING.md.
pub fn bench(only: &[String]) -> Result<()> {
    let cluster_only = only == ["cluster"];
    let chosen = if cluster_only { Vec::new() } else { selected(only) };
    if cluster_only {
        build_release()?;
        return scaling::write_scaling(&cluster_rows()?);
    }
    if chosen.is_empty() {
        bail!("no scenario's label contains any of {only:?}");
    }
    build_release()?;
    let mut rows = Vec::new();
    for sc in chosen {
        let server = start_server(Path::new("target/release/chatterbox-server"), sc)?;
        let json = server.dirs.root.path().join("result.json");
        eprintln!("==> {}", sc.label);
        let status = generator(Path::new("target/release/chatterbox-bench"), sc, &server)?
            .arg("--json")
            .arg(&json)
            .status()
            .context("running the load generator")?;
        if !status.success() {
            bail!("scenario failed: {}", sc.label);
        }
        let text = std::fs::read_to_string(&json)?;
        let result = serde_json::from_str(&text)
            .with_context(|| format!("the load generator's results for {}", sc.label))?;
        rows.push(Row { scenario: sc, result });
    }
    if !only.is_empty() {
        print!("{}", report::scenario_tables(&rows, &[]));
        return Ok(());
    }
    let history = history()?;
    let micro = micro_benches()?;
    report::write_performance(&rows, &history, &micro)?;
    scaling::write_scaling(&cluster_rows()?)
}

/// Builds the release server and the load generator.
fn build_release() -> Result<()> {
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
    )
}

/// The cluster benchmark's measurements, with the release binaries.
fn cluster_rows() -> Result<Vec<scaling::ClusterRow>> {
    scaling::run_all(
        Path::new("target/release/chatterbox-server"),
        Path::new("target/release/chatterbox-bench"),
    )
}

/// The scenarios whose labels contain one of the texts in `only`; all of them without any.
fn selected(only: &[String]) -> Vec<&'static Scenario> {
    SCENARIOS
        .iter()
        .filter(|sc| only.is_empty() || only.iter().any(|o| sc.label.contains(o.as_str())))
        .collect()
}

/// Starts the server binary `server_bin` as scenario `sc` needs it.
pub fn start_server(server_bin: &Path, sc: &Scenario) -> Result<ServerProcess> {
    server::start(server_bin, &SERVER_ARGS, sc.web)
}

/// The load generator `bench_bin`, ready to run scenario `sc` against `server`.
pub fn generator(bench_bin: &Path, sc: &Scenario, server: &ServerProcess) -> Result<Command> {
    let bin = std::fs::canonicalize(bench_bin).with_context(|| bench_bin.display().to_string())?;
    let mut cmd = Command::new(bin);
    cmd.args(generator_args(sc, server.ports, &server.ca(), server.pid())?);
    Ok(cmd)
}

/// The load generator's arguments: the server's port for the scenario's protocol, its CA,
/// its process (for memory readings), and the scenario's own flags.
fn generator_args(sc: &Scenario, ports: Ports, ca: &Path, pid: u32) -> Result<Vec<OsString>> {
    let port =
        if sc.web { ports.web.context("the server reported no web port")? } else { ports.native };
    let mut args: Vec<OsString> = vec!["--port".into(), port.to_string().into(), "--ca".into()];
    args.push(ca.into());
    args.extend(["--server-pid".into(), pid.to_string().into()]);
    args.extend(sc.flags().into_iter().map(OsString::from));
    Ok(args)
}

/// Runs the history benchmark (commits, login replay, search), the compression benchmark (a
/// 1,000-message replay's bytes and time with and without) and the file transfer benchmark (a
/// 100 MB file both ways, native and HTTPS) and returns their `key=value` output, one after
/// the other (their keys differ).
fn history() -> Result<String> {
    let mut all = String::new();
    for (bench, what) in [
        ("history", "commits, login replay and search"),
        ("replay", "a login replay's bytes and time with and without compression"),
        ("files", "a 100 MB file sent and fetched, native and HTTPS"),
    ] {
        eprintln!("==> {bench}: {what} (cargo bench --bench {bench})");
        let out = cargo()
            .args(["bench", "--package", "chatterbox-server", "--bench", bench])
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running the {bench} benchmark"))?;
        if !out.status.success() {
            bail!("the {bench} benchmark failed");
        }
        all.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    Ok(all)
}

/// Runs the criterion micro-benchmarks in full and returns their medians, read from
/// criterion's `target/criterion/<id>/new/{benchmark,estimates}.json` of this run.
fn micro_benches() -> Result<Vec<Median>> {
    let mut medians = Vec::new();
    for (bench, args) in MICRO_BENCHES {
        let since = SystemTime::now();
        step(&format!("micro-benchmarks: cargo {}", args.join(" ")), cargo().args(args))?;
        let mut found = Vec::new();
        criterion_medians(Path::new("target/criterion"), since, &mut found)?;
        if found.is_empty() {
            bail!("no criterion results from the {bench} benchmark");
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        medians.extend(found.into_iter().map(|(id, ns)| Median { bench, id, ns }));
    }
    Ok(medians)
}

/// Every `(full id, median ns)` under `dir` whose `new/estimates.json` was written after `since`.
fn criterion_medians(dir: &Path, since: SystemTime, out: &mut Vec<(String, f64)>) -> Result<()> {
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
            let meta = read_json(&path.join("benchmark.json"))?;
            let id = meta["full_id"].as_str().context("full_id in benchmark.json")?;
            let median = read_json(&estimates)?["median"]["point_estimate"].as_f64();
            let ns = median.with_context(|| format!("the median in {}", estimates.display()))?;
            out.push((id.to_owned(), ns));
        } else {
            criterion_medians(&path, since, out)?;
        }
    }
    Ok(())
}

/// A JSON file, parsed.
fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn criterion_medians_are_read_from_this_runs_results() {
        let root = std::env::temp_dir().join(format!("xtask-criterion-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let since = SystemTime::now() - Duration::from_secs(60);
        for (dir, id, median) in [("g/f/1", "g/f/1", 1234.5), ("g/f_2", "g/f/2", 12.0)] {
            let new = root.join(dir).join("new");
            std::fs::create_dir_all(&new).expect("dir");
            std::fs::write(
                new.join("benchmark.json"),
                format!(r#"{{"group_id":"g","value_str":"1","full_id":"{id}","title":"{id}"}}"#),
            )
            .expect("write");
            // The mean comes first and has a point estimate of its own.
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
        let future = SystemTime::now() + Duration::from_secs(60);
        criterion_medians(&root, future, &mut later).expect("read");
        assert!(later.is_empty(), "older results are left out");
        let _ = std::fs::remove_dir_all(&root);
    }

    /// The port and flags each scenario hands the load generator.
    fn port_and_flags(sc: &Scenario) -> (String, Vec<String>) {
        let ports = Ports { native: 4000, web: Some(4443) };
        let args = generator_args(sc, ports, Path::new("/tmp/ca.pem"), 7).expect("args");
        let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            args[..6],
            ["--port", args[1].as_str(), "--ca", "/tmp/ca.pem", "--server-pid", "7"]
        );
        (args[1].clone(), args[6..].to_vec())
    }

    #[test]
    fn password_and_token_scenarios_ask_the_generator_for_that_proof() {
        let auth = |sc: &Scenario| {
            let flags = sc.flags();
            flags.iter().position(|f| *f == "--auth").map(|i| flags[i + 1])
        };
        let logins: Vec<_> = SCENARIOS.iter().filter(|sc| sc.logins).map(auth).collect();
        assert_eq!(logins, [None, Some("password"), Some("token")]);
        for sc in SCENARIOS {
            assert!(auth(sc).is_none() || sc.logins, "{}: in the logins table", sc.label);
            assert!(!sc.logins || sc.label.starts_with("logins"), "{}", sc.label);
            assert!(!sc.logins || !sc.web, "{}: native TLS, like the plain one", sc.label);
        }
        let password = SCENARIOS.iter().find(|sc| auth(sc) == Some("password")).expect("one");
        assert!(password.label.contains("password") && password.target.contains("argon2id"));
        let token = SCENARIOS.iter().find(|sc| auth(sc) == Some("token")).expect("one");
        assert!(token.label.contains("session token"));
    }

    #[test]
    fn a_subset_is_chosen_by_the_texts_of_the_labels() {
        assert_eq!(selected(&[]).len(), SCENARIOS.len());
        let labels = |only: &[&str]| -> Vec<&str> {
            let only: Vec<String> = only.iter().map(|s| (*s).to_owned()).collect();
            selected(&only).iter().map(|sc| sc.label).collect()
        };
        assert_eq!(labels(&["password", "session token"]).len(), 2);
        assert_eq!(labels(&["logins"]).len(), 3);
        assert!(labels(&["nothing like it"]).is_empty());
    }

    #[test]
    fn websocket_scenarios_run_the_generator_against_the_web_port() {
        for sc in SCENARIOS {
            let (port, flags) = port_and_flags(sc);
            let ws = flags.iter().any(|f| f == "--ws");
            assert_eq!(ws, sc.web, "{}: --ws exactly when the server runs its gateway", sc.label);
            assert_eq!(port, if sc.web { "4443" } else { "4000" }, "{}", sc.label);
        }
        let native_only = Ports { native: 4000, web: None };
        let ws = SCENARIOS.iter().find(|s| s.web).expect("a WebSocket scenario");
        assert!(generator_args(ws, native_only, Path::new("ca.pem"), 7).is_err());
    }
}
