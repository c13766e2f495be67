//! Plain mode: one line per event on stdout, lines from stdin, nothing interactive, so that it
//! can be scripted:
//!
//! ```text
//! printf 'hi\n@bob psst\n/quit\n' | chatterbox localhost -p 9443 --ca certs/ca.pem --username ann
//! ```
//!
//! Input is read only once logged in (lines typed earlier wait), so a script's lines are never
//! sent before the login. Without `--username` the first line is the name (a prompt goes to
//! stderr); a refused name is reported and the next line is tried. With `--username`, a refusal
//! ends the program with status 2. End of input leaves like /quit, after the answers to
//! requests still outstanding (/blocked, /allusers, /block) have arrived (or [`LINGER`] passed).

use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::args::Args;
use crate::engine::{self, FromEngine, Status, ToEngine};
use crate::fmt;
use client_core::chat::{Chat, Entry};
use client_core::input;

/// Longest wait at the end for answers to requests already sent.
pub const LINGER: Duration = Duration::from_secs(2);

/// Whether a frame asks the server for an answer (`BLOCKED` or `ALL_USERS`).
fn expects_answer(f: &shared::Frame) -> bool {
    f.block.is_some()
        || f.unblock.is_some()
        || f.list_blocked.is_some()
        || f.list_all_users.is_some()
}

fn print(entries: &[Entry]) {
    let mut out = std::io::stdout().lock();
    for e in entries {
        let _ = writeln!(out, "{}", fmt::line(e));
    }
    let _ = out.flush();
}

/// Runs plain mode on a started engine; returns the process exit status.
pub async fn run(args: Args, engine: engine::Handle) -> u8 {
    let (to_engine, mut from_engine, engine) = engine;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut chat = Chat::default();
    let mut asking = false;
    let mut connected = false;
    let mut status = 0;
    let mut outstanding = 0usize;
    let mut leaving = false;
    let linger = tokio::time::sleep(LINGER);
    tokio::pin!(linger);

    loop {
        tokio::select! {
            event = from_engine.recv() => match event {
                None => break,
                Some(FromEngine::Status(s)) => {
                    connected = false;
                    match s {
                        Status::Connecting => {}
                        Status::Connected(addr) => print(&[Entry::Info(format!("connected to {addr}"))]),
                        Status::Lost { why, retry } => print(&[Entry::Error(format!(
                            "connection lost ({why}); reconnecting in {:.1} s", retry.as_secs_f32()
                        ))]),
                    }
                }
                Some(FromEngine::AskName { refused }) => {
                    if let Some(info) = refused {
                        print(&[Entry::Error(format!("username refused: {info}"))]);
                        if args.username.is_some() {
                            status = 2;
                            break;
                        }
                    }
                    eprintln!("Username:");
                    asking = true;
                }
                Some(FromEngine::LoggedIn { name, reply }) => {
                    connected = true;
                    print(&chat.logged_in(&name, *reply));
                }
                Some(FromEngine::Frame(f)) => {
                    if f.blocked.is_some() || f.all_users.is_some() {
                        outstanding = outstanding.saturating_sub(1);
                    }
                    print(&chat.apply(*f));
                    if leaving && outstanding == 0 {
                        break;
                    }
                }
                Some(FromEngine::Bad(e)) => print(&[Entry::Error(format!("unreadable frame from the server: {e}"))]),
                Some(FromEngine::Fatal(e)) => {
                    eprintln!("chatterbox: {e}");
                    status = 1;
                    break;
                }
            },
            () = &mut linger, if leaving => break,
            line = lines.next_line(), if (asking || connected) && !leaving => match line {
                Ok(Some(line)) if asking => {
                    asking = false;
                    let _ = to_engine.send(ToEngine::Name(line.trim().to_owned())).await;
                }
                Ok(Some(line)) => {
                    let out = chat.handle(input::parse(&line), connected, crate::now());
                    print(&out.show);
                    if let Some(frame) = out.send {
                        outstanding += usize::from(expects_answer(&frame));
                        let _ = to_engine.send(ToEngine::Send(Box::new(frame))).await;
                    }
                    if out.quit {
                        if outstanding == 0 {
                            break;
                        }
                        leaving = true;
                        linger.as_mut().reset(tokio::time::Instant::now() + LINGER);
                    }
                }
                // End of input, or unreadable input: leave like /quit.
                Ok(None) | Err(_) => {
                    if outstanding == 0 || !connected {
                        break;
                    }
                    leaving = true;
                    linger.as_mut().reset(tokio::time::Instant::now() + LINGER);
                }
            },
        }
    }
    let _ = to_engine.send(ToEngine::Quit).await;
    drop(to_engine);
    // Let the engine send what is queued and close the connection in an orderly way.
    while from_engine.recv().await.is_some() {}
    let _ = engine.await;
    status
}
