//! The load generator on a tiny scenario against a real server, over the native protocol and
//! over the WebSocket gateway, so that it cannot rot between benchmark runs.

use std::process::Command;

use test_support::cluster::nats_url;
use test_support::*;

/// The crowd of the smoke runs.
const SMALL: [&str; 6] = ["--clients", "20", "--senders", "2", "--messages", "20"];

/// Runs the load generator with `args` against `port`; returns its summary (last) line after
/// checking that it ran to the end.
async fn run(server: &TestServer, port: u16, args: &[&str]) -> String {
    run_on(server, &[port], args).await
}

/// The same against the nodes listening on `ports` (the servers run in this process).
async fn run_on(server: &TestServer, ports: &[u16], args: &[&str]) -> String {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let pids = vec![std::process::id().to_string(); ports.len()];
    let mut cmd = Command::new(bin!("chatterbox-bench"));
    cmd.args(["--port", &ports.join(","), "--ca"])
        .arg(&server.ca)
        .args(["--server-pid", &pids.join(",")])
        .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run chatterbox-bench"))
        .await
        .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the load generator failed: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().last().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_delivered_in_a_small_run_over_both_transports() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.flood = None; // the senders go as fast as they can
    config.login_rate = None; // three crowds log in one after another
    let server = TestServer::start(config).await;
    for (port, args) in [
        (server.addr.port(), &[][..]),
        (server.web.expect("gateway").port(), &["--ws"][..]),
        (server.addr.port(), &["--mode", "lockstep"][..]),
    ] {
        let summary = run(&server, port, &[&SMALL[..], args].concat()).await;
        assert!(
            summary.starts_with("deliveries/s=") && summary.ends_with(" lost=0"),
            "{args:?}: {summary}"
        );
    }
    server.stop().await;
}

/// Registered accounts logging in with their password and with their session token: a few
/// clients only, as every registration and password login is an argon2id hash (slow in a
/// debug build).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_log_in_with_a_password_and_with_a_token() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.flood = None;
    config.login_rate = None;
    let server = TestServer::start(config).await;
    let port = server.addr.port();
    for auth in ["password", "token"] {
        let args = ["--clients", "3", "--messages", "5", "--auth", auth];
        let summary = run(&server, port, &args).await;
        assert!(summary.ends_with(" lost=0"), "{auth}: {summary}");
    }
    server.stop().await;
}

/// Against the two nodes of a cluster (the real NATS and PostgreSQL): the clients are spread
/// over both, every message reaches every client whichever node it is on, and the CPU time
/// per delivery is reported for each node and for PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_spread_over_a_clusters_nodes_get_every_message() {
    let cluster = Cluster::start_configured(2, TestDb::new().await, &nats_url(), |config| {
        config.flood = None;
        config.login_rate = None;
    })
    .await;
    let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.addr.port()).collect();
    let json = cluster.dirs[0].root.path().join("result.json");
    let json_arg = json.display().to_string();
    for mode in ["flood", "lockstep"] {
        // This process stands in for NATS too: the nodes' NATS client runs in it.
        let me = std::process::id().to_string();
        let extra = ["--mode", mode, "--postgres", "--nats-pid", &me, "--json", &json_arg];
        let args = [&SMALL[..], &extra[..]].concat();
        let summary = run_on(&cluster.nodes[0], &ports, &args).await;
        assert!(summary.ends_with(" lost=0"), "{mode}: {summary}");
        let result: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).expect("the results")).expect("JSON");
        assert_eq!(result["nodes"], 2, "{result}");
        assert_eq!(result["deliveries"], 20 * 19 * 2, "both senders' messages to all 19 others");
        let per_node = result["node_cpu_us_per_delivery"].as_array().expect("per node");
        assert_eq!(per_node.len(), 2, "{result}");
        assert!(per_node.iter().all(|c| c.as_f64().is_some_and(|c| c >= 0.0)), "{result}");
        assert!(result["postgres_cpu_us_per_delivery"].as_f64().is_some(), "{result}");
        assert!(result["nats_cpu_us_per_delivery"].as_f64().is_some(), "{result}");
        assert!(result["bytes_per_delivery"].as_f64().is_some_and(|b| b > 20.0), "{result}");
        assert_eq!(result["dropped"], 0, "{result}");
    }
    cluster.stop().await;
}
