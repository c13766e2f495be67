//! The real TUI binary in a pseudo-terminal: log in, send, receive, quit.

use std::process::Command;

use expectrl::{Eof, Expect, Session};
use test_support::*;

/// The TUI in a pseudo-terminal `width` columns wide, logged in to localhost:`port` as `name`.
fn logged_in(port: &str, ca: &str, width: u16, name: &str) -> expectrl::session::OsSession {
    let mut cmd = Command::new(bin!("chatterbox"));
    cmd.args(["localhost", "-p", port, "--ca", ca]).env("TERM", "xterm-256color");
    let mut tui = Session::spawn(cmd).expect("spawn in a pty");
    tui.get_process_mut().set_window_size(width, 30).expect("window size");
    tui.set_expect_timeout(Some(PATIENCE));
    tui.expect("Username (Enter to log in)").expect("the login screen");
    tui.send(format!("{name}\r")).expect("type the name");
    tui.expect("Welcome!").expect("logged in");
    tui
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_logs_in_sends_receives_and_quits_in_a_real_terminal() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let port = server.addr.port().to_string();
    let ca = server.ca.display().to_string();
    let mut observer = CliLauncher::new(bin!("chatterbox"), &server).client(Some("observer"));
    let status = tokio::task::spawn_blocking(move || {
        let mut tui = logged_in(&port, &ca, 100, "ann");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_joins_rooms_counts_unread_searches_and_edits_in_place() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let port = server.addr.port().to_string();
    let ca = server.ca.display().to_string();
    let mut bob = CliLauncher::new(bin!("chatterbox"), &server).client(Some("bob"));
    bob.send("/join #garden");
    bob.expect("You are in #garden now");
    let status = tokio::task::spawn_blocking(move || {
        let mut tui = logged_in(&port, &ca, 120, "ann");
        tui.send("/join #garden\r").expect("join");
        tui.expect("*#garden").expect("the room marked current in the status line");
        bob.expect("ann joined #garden");
        // Back to the main room: what bob writes in #garden counts as unread in the room bar.
        tui.send("/room\r").expect("to everyone");
        tui.expect("*everyone").expect("the main room marked current in the status line");
        bob.send("tulips-bloom-early");
        // The screen is redrawn by differences: only the count is new in the status line.
        tui.expect("(1)").expect("an unread count in the status line");
        // Ctrl-N moves to the room: what ann types goes there.
        tui.send("\x0e").expect("Ctrl-N");
        tui.send("typed-after-ctrl-n\r").expect("say");
        bob.expect("#garden <ann> typed-after-ctrl-n");
        tui.send("/search tulips\r").expect("search");
        tui.expect("Search").expect("the results heading");
        tui.expect("(id").expect("the result, with its id");
        // An edit changes the line in place (a line of its own would not say "edited").
        tui.send("roses-are-rad\r").expect("say");
        bob.expect("#garden <ann> roses-are-rad");
        // Its line (typed characters are drawn one by one): back from the server, with its id.
        tui.expect("roses-are-rad").expect("the message shown");
        tui.send("/edit violets-blue\r").expect("edit");
        bob.expect("ann edited a message: violets-blue");
        tui.expect("(edited)").expect("the message marked as edited");
        tui.send("/quit\r").expect("quit");
        tui.expect(Eof).expect("the program ends");
        tui.get_process().wait().expect("exit status")
    })
    .await
    .expect("pty session");
    assert!(format!("{status:?}").ends_with(", 0)"), "{status:?}");
    server.stop().await;
}
