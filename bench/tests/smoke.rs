//! The load generator on a tiny scenario against a real server, over the native protocol and
//! over the WebSocket gateway, so that it cannot rot between benchmark runs.

use std::process::Command;

use test_support::*;

/// Runs the load generator with `args` against `port`; returns its summary (last) line after
/// checking that it ran to the end.
async fn run(server: &TestServer, port: u16, args: &[&str]) -> String {
    let mut cmd = Command::new(bin!("chatterbox-bench"));
    cmd.args(["--port", &port.to_string(), "--ca"])
        .arg(&server.ca)
        .args(["--clients", "20", "--senders", "2", "--messages", "20"])
        .args(["--server-pid", &std::process::id().to_string()])
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
        let summary = run(&server, port, args).await;
        assert!(
            summary.starts_with("deliveries/s=") && summary.ends_with(" lost=0"),
            "{args:?}: {summary}"
        );
    }
    server.stop().await;
}
