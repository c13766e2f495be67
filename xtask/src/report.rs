//! docs/PERFORMANCE.md, written from the results of `cargo xtask bench`.

use anyhow::Result;
use serde_json::Value;

use crate::bench::{MICRO_BENCHES, Median, Row, SERVER_ARGS};

/// Writes docs/PERFORMANCE.md: the machine, one row per load scenario, the history
/// benchmark's `key=value` output, what a login costs, the criterion medians, the commands
/// that produced them, and docs/PERFORMANCE-NOTES.md after them.
pub fn write_performance(rows: &[Row], history: &str, micro: &[Median]) -> Result<()> {
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
    md.push_str(&scenario_table(rows));
    md.push_str(&format!(
        "\n| history | target | measured |\n|---|---|---|\n\
         | messages committed to SQLite per second (group commit, 64-byte messages, each indexed for search) | >= 100,000 | {} |\n\
         | login replay of {} messages from a store of {} | p99 <= 5 ms | p50 {} ms, p99 {} ms |\n\
         | the same from a store of 200,000 (independence of the store's size) | | p99 {} ms |\n\
         | messages committed to PostgreSQL per second (cluster mode; one node's writer) | | {} |\n\
         | login replay of {} messages from PostgreSQL holding {} | p99 <= 10 ms | p50 {} ms, p99 {} ms |\n\
         | the same from PostgreSQL holding 200,000 | | p99 {} ms |\n\
         | join resuming after {} missed messages (SINCE) from a store of {} | | SQLite p50 {} ms, p99 {} ms; PostgreSQL p99 {} ms |\n\
         | full-text search from a store of {}, 21 results with context (all kinds below) | p99 <= 20 ms | SQLite p99 {} ms; PostgreSQL p99 {} ms |\n\
         | the same: a word 200 messages hold / one every message holds / both / a word from one sender | | SQLite p99 {} / {} / {} / {} ms; PostgreSQL p99 {} / {} / {} / {} ms |\n",
        kv(history, "commits_per_sec"),
        kv(history, "replay_messages"),
        kv(history, "store_messages"),
        kv(history, "replay_p50_ms"),
        kv(history, "replay_p99_ms"),
        kv(history, "replay_p99_ms_at_200000"),
        kv(history, "pg_commits_per_sec"),
        kv(history, "pg_replay_messages"),
        kv(history, "pg_store_messages"),
        kv(history, "pg_replay_p50_ms"),
        kv(history, "pg_replay_p99_ms"),
        kv(history, "pg_replay_p99_ms_at_200000"),
        kv(history, "resume_messages"),
        kv(history, "store_messages"),
        kv(history, "resume_p50_ms"),
        kv(history, "resume_p99_ms"),
        kv(history, "pg_resume_p99_ms"),
        kv(history, "store_messages"),
        kv(history, "search_p99_ms"),
        kv(history, "pg_search_p99_ms"),
        kv(history, "search_rare_p99_ms"),
        kv(history, "search_common_p99_ms"),
        kv(history, "search_two_words_p99_ms"),
        kv(history, "search_from_sender_p99_ms"),
        kv(history, "pg_search_rare_p99_ms"),
        kv(history, "pg_search_common_p99_ms"),
        kv(history, "pg_search_two_words_p99_ms"),
        kv(history, "pg_search_from_sender_p99_ms"),
    ));
    md.push_str(&compression_table(history));
    md.push_str(&files_table(history));
    md.push_str(&logins_table(rows, micro));
    md.push_str(&micro_table(micro));
    md.push_str(&format!(
        "\nCommands (each against `chatterbox-server 127.0.0.1 -p PORT {} --no-web`; the \
         WebSocket ones with `--web-port PORT` instead of `--no-web`, and the load generator \
         on that port):\n\n",
        SERVER_ARGS.join(" ")
    ));
    for row in rows {
        md.push_str(&format!("    chatterbox-bench {}\n", row.scenario.flags().join(" ")));
    }
    md.push_str("    cargo bench -p chatterbox-server --bench history\n");
    md.push_str("    cargo bench -p chatterbox-server --bench replay\n");
    md.push_str("    cargo bench -p chatterbox-server --bench files\n");
    for (_, args) in MICRO_BENCHES {
        md.push_str(&format!("    cargo {}\n", args.join(" ")));
    }
    md.push_str(&std::fs::read_to_string("docs/PERFORMANCE-NOTES.md").unwrap_or_default());
    std::fs::write("docs/PERFORMANCE.md", md)?;
    eprintln!("==> wrote docs/PERFORMANCE.md");
    Ok(())
}

/// The file transfer benchmark's table: a 100 MB file each way, native and HTTPS.
fn files_table(out: &str) -> String {
    let mut md = format!(
        "\n## Files\n\n\
         A file of {} MB (bytes that do not compress) sent and fetched by one client, against a\n\
         server in the benchmark's process with its files on the disk, over loopback, in MB/s\n\
         (10^6 bytes a second; median and best of 3 runs). An upload counts until the server\n\
         answers that the file is stored, checked against its SHA-256 and its message\n\
         committed; a download until its last byte. Native: `UPLOAD` and `CHUNK`s of 192 KiB\n\
         (base64 in JSON frames), `FETCH`es four pieces ahead; HTTPS: the browser's `POST` and\n\
         `GET`, raw bytes.\n\n\
         | 100 MB file | median MB/s | best MB/s |\n|---|---|---|\n",
        kv(out, "files_size_mb")
    );
    for (key, label) in [
        ("files_native_upload", "native upload"),
        ("files_native_download", "native download"),
        ("files_https_upload", "HTTPS upload (browser)"),
        ("files_https_download", "HTTPS download (browser)"),
    ] {
        md.push_str(&format!(
            "| {label} | {} | {} |\n",
            kv(out, &format!("{key}_median_mb_s")),
            kv(out, &format!("{key}_best_mb_s")),
        ));
    }
    md
}

/// The compression benchmark's tables: a login's replay of 1,000 messages with and without,
/// and what each codec level makes of it.
fn compression_table(out: &str) -> String {
    let mut md = String::from(
        "\n## Compression\n\n\
         A login's replay of 1,000 messages (lines of 4 to 15 words from a large vocabulary,\n\
         from 10 senders), from a server in the benchmark's process: bytes of the answer on the\n\
         wire (TLS aside), and the time from the login's first byte to the answer decoded,\n\
         decompression included, over loopback (where bytes cost nothing: on a real link the\n\
         smaller answer arrives sooner). Native: extension `compress` (zstd); WebSocket:\n\
         permessage-deflate, as every browser offers.\n\n\
         | login replay of 1,000 messages | bytes | p50 ms | p99 ms |\n|---|---|---|---|\n",
    );
    for (key, label) in [
        ("native_plain", "native, plain"),
        ("native_zstd", "native, `compress` (zstd level 1)"),
        ("ws_plain", "WebSocket, plain"),
        ("ws_deflate", "WebSocket, permessage-deflate (level 1)"),
    ] {
        md.push_str(&format!(
            "| {label} | {} | {} | {} |\n",
            kv(out, &format!("{key}_bytes")),
            kv(out, &format!("{key}_p50_ms")),
            kv(out, &format!("{key}_p99_ms")),
        ));
    }
    md.push_str(&format!(
        "\nThe levels, on that replay's JSON ({} bytes): the bytes and the median time of one\n\
         compression. Level 1 of each is used: higher levels save a few more percent at two to\n\
         ten times the CPU, which every login and every merged frame would pay.\n\n\
         | codec | level | bytes | ms |\n|---|---|---|---|\n",
        kv(out, "replay_json_bytes")
    ));
    for (codec, levels) in [("zstd", &[1, 3, 6, 9][..]), ("deflate", &[1, 6, 9][..])] {
        for level in levels {
            md.push_str(&format!(
                "| {codec} | {level} | {} | {} |\n",
                kv(out, &format!("{codec}_{level}_bytes")),
                kv(out, &format!("{codec}_{level}_ms")),
            ));
        }
    }
    md
}

/// The load scenarios' table, then the table of what a login costs (with the argon2id
/// micro-benchmark's bound when `micro` has it): what a run of some scenarios prints.
pub fn scenario_tables(rows: &[Row], micro: &[Median]) -> String {
    let mut md = scenario_table(rows);
    md.push_str(&logins_table(rows, micro));
    md
}

/// The load scenarios' table.
fn scenario_table(rows: &[Row]) -> String {
    let mut md = String::from(
        "| scenario | target | deliveries/s | p50 ms | p99 ms | p99.9 ms | lost | logins/s | RSS/conn KiB |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for Row { scenario, result } in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            scenario.label,
            scenario.target,
            field(result, "deliveries_per_sec"),
            field(result, "p50_ms"),
            field(result, "p99_ms"),
            field(result, "p999_ms"),
            field(result, "lost"),
            field(result, "logins_per_sec"),
            field(result, "rss_per_conn_kib"),
        ));
    }
    md
}

/// What a login costs, by how it proves the name: the rows of the scenarios that measure
/// logins, and what one argon2id check alone allows a core.
fn logins_table(rows: &[Row], micro: &[Median]) -> String {
    let rows: Vec<&Row> = rows.iter().filter(|r| r.scenario.logins).collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n## What a login costs\n\n\
         By how the login proves its name: `none` (the name alone), `password` (checked with\n\
         argon2id on the server's blocking threads, a few at a time) or `token` (a session\n\
         token, looked up by its SHA-256). The password and token scenarios register their\n\
         names first, untimed. Logins/s is wall-clock on this machine's cores, shared with the\n\
         load generator; latency is each login's, from its connect to the accepted answer,\n\
         queueing for the server's hashing included. Server CPU per login is the server\n\
         process's user and system time over the login phase (`/proc/PID/stat`) divided by the\n\
         logins; logins per core-second is its inverse, what one core sustains for the server's\n\
         part (the load generator's not counted).\n\n\
         | scenario | auth | logins/s | login p50 ms | login p99 ms | server CPU per login ms | logins per core-second |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for Row { scenario, result } in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            scenario.label,
            field(result, "auth"),
            field(result, "logins_per_sec"),
            field(result, "login_p50_ms"),
            field(result, "login_p99_ms"),
            field(result, "server_cpu_ms_per_login"),
            field(result, "logins_per_core_sec"),
        ));
    }
    if let Some(Median { id, ns, .. }) = micro.iter().find(|m| m.id.contains("verify_password")) {
        md.push_str(&format!(
            "\nOne password check alone (`{id}`, criterion, below) takes {}:\n\
             at most {:.0} password logins per core-second, before TLS and the login itself.\n",
            duration_text(*ns),
            1e9 / ns,
        ));
    }
    md
}

/// The criterion medians' section.
fn micro_table(micro: &[Median]) -> String {
    let mut md = String::from(
        "\n## Micro-benchmarks (criterion)\n\n\
         Median time of one iteration: one call, or one pass over the batch whose size ends the\n\
         name (`codec/frame_codec/1000` splits a buffer of 1,000 frames). The history queries\n\
         read 1,000 messages from a store of 200,000 (SQLite's pages cached); `argon2id/…`\n\
         names its parameters (memory in KiB, passes, lanes).\n\n\
         | bench | benchmark | median |\n|---|---|---|\n",
    );
    for Median { bench, id, ns } in micro {
        md.push_str(&format!("| {bench} | {id} | {} |\n", duration_text(*ns)));
    }
    md
}

/// A number of the load generator's results as the table shows it: whole numbers and large
/// ones without decimals, the rest with two; "-" when it has none.
fn field(result: &Value, key: &str) -> String {
    match &result[key] {
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.fract() == 0.0 || x >= 100.0 => format!("{x:.0}"),
            Some(x) => format!("{x:.2}"),
            None => n.to_string(),
        },
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `key=value` from the history benchmark's output.
fn kv(text: &str, key: &str) -> String {
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or("-").to_owned()
}

/// Nanoseconds in the unit that suits them.
fn duration_text(ns: f64) -> String {
    match ns {
        x if x < 1e3 => format!("{x:.1} ns"),
        x if x < 1e6 => format!("{:.2} µs", x / 1e3),
        x => format!("{:.3} ms", x / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_shown_with_the_precision_they_need() {
        let result = serde_json::json!({
            "deliveries_per_sec": 3341995.4, "p50_ms": 0.987, "lost": 0,
            "rss_per_conn_kib": null, "logins_per_sec": 1768.0,
        });
        assert_eq!(field(&result, "deliveries_per_sec"), "3341995");
        assert_eq!(field(&result, "p50_ms"), "0.99");
        assert_eq!(field(&result, "lost"), "0");
        assert_eq!(field(&result, "logins_per_sec"), "1768");
        assert_eq!(field(&result, "rss_per_conn_kib"), "-");
        assert_eq!(field(&result, "p999_ms"), "-");
        assert_eq!(duration_text(12.0), "12.0 ns");
        assert_eq!(duration_text(1234.5), "1.23 µs");
        assert_eq!(duration_text(1_185_400.0), "1.185 ms");
    }

    #[test]
    fn the_logins_table_has_the_login_scenarios_and_the_bound_of_one_check() {
        use crate::bench::SCENARIOS;
        let result = serde_json::json!({
            "auth": "password", "logins_per_sec": 49.3, "login_p50_ms": 640.4,
            "login_p99_ms": 812.0, "server_cpu_ms_per_login": 24.75, "logins_per_core_sec": 40.4,
        });
        let rows: Vec<Row> =
            SCENARIOS.iter().map(|scenario| Row { scenario, result: result.clone() }).collect();
        let verify = Median {
            bench: "accounts",
            id: "argon2id/verify_password/m19456_t2_p1".into(),
            ns: 23_800_000.0,
        };
        let md = logins_table(&rows, &[verify]);
        let lines: Vec<&str> = md.lines().filter(|l| l.starts_with("| logins")).collect();
        assert_eq!(lines.len(), 3, "{md}");
        assert!(lines[1].ends_with("| password | 49.30 | 640 | 812 | 24.75 | 40.40 |"), "{md}");
        assert!(
            md.contains("takes 23.800 ms:\nat most 42 password logins per core-second"),
            "{md}"
        );
        assert!(!logins_table(&rows, &[]).contains("at most"));
        assert!(logins_table(&[], &[]).is_empty());
    }
}
