//! The load generator on a tiny scenario against a real server, over the native protocol and
//! over the WebSocket gateway, so that it cannot rot between benchmark runs.

use std::process::Command;

use test_support::*;

/// The crowd of the smoke runs.
const SMALL: [&str; 6] = ["--clients", "20", "--senders", "2", "--messages", "20"];

/// Runs the load generator with `args` against `port`; returns its summary (last) line after
/// checking that it ran to the end.
async fn run(server: &TestServer, port: u16, args: &[&str]) -> String {
    let mut cmd = Command::new(bin!("chatterbox-bench"));
    cmd.args(["--port", &port.to_string(), "--ca"])
        .arg(&server.ca)
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
