//! The real TUI binary in a pseudo-terminal: log in, send, receive, quit.

use std::process::Command;

use expectrl::{Eof, Expect, Session};
use test_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_logs_in_sends_receives_and_quits_in_a_real_terminal() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let port = server.addr.port().to_string();
    let ca = server.ca.display().to_string();
    let mut observer = CliLauncher::new(bin!("chatterbox"), &server).client(Some("observer"));
    let status = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(bin!("chatterbox"));
        cmd.args(["localhost", "-p", &port, "--ca", &ca]).env("TERM", "xterm-256color");
        let mut tui = Session::spawn(cmd).expect("spawn in a pty");
        tui.get_process_mut().set_window_size(100, 30).expect("window size");
        tui.set_expect_timeout(Some(PATIENCE));
        tui.expect("Username (Enter to log in)").expect("the login screen");
        tui.send("ann\r").expect("type the name");
        tui.expect("Welcome!").expect("logged in");
        observer.expect("-- ann joined");
        tui.send("hello from the tui\r").expect("type a message");
        observer.expect("<ann> hello from the tui");
        // The screen is redrawn by differences, so unchanged blanks inside a text may be
        // skipped with a cursor move: look for a text without spaces.
        observer.send("hi-back-from-the-observer");
        tui.expect("hi-back-from-the-observer").expect("the reply shows while the user can type");
        tui.send("/quit\r").expect("quit");
        tui.expect(Eof).expect("the program ends");
        let status = tui.get_process().wait().expect("exit status");
        observer.expect("-- ann left");
        status
    })
    .await
    .expect("pty session");
    assert!(
        format!("{status:?}").contains("Exited") && format!("{status:?}").ends_with(", 0)"),
        "{status:?}"
    );
    server.stop().await;
}
