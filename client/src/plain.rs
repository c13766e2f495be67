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
//! requests still outstanding (/blocked, /allusers, /block, the account and moderation
//! commands) have arrived (or [`LINGER`] passed).
//!
//! **Passwords** are never read from stdin (a script's input may be logged or echoed) nor
//! shown: the login password (`--password`) and the passwords `/register`, `/password` and
//! `/unregister` ask for come from the environment variable [`PASSWORD_VAR`] (the new password
//! of `/password` from [`NEW_PASSWORD_VAR`]) when it is set, and otherwise from the terminal
//! without echo. A password refused at login ends the program with status 2 when it came from
//! the environment (trying it again would fail again) or with `--username`.

use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use tokio::task::JoinHandle;

use crate::args::Args;
use crate::engine::{self, FromEngine, Status, ToEngine};
use crate::fmt;
use client_core::chat::{Chat, Entry};
use client_core::input;
use client_core::prompt::Ask;
use client_core::secret::Secret;

/// Longest wait at the end for answers to requests already sent.
pub const LINGER: Duration = Duration::from_secs(2);

/// The environment variable holding the account's password, for scripts: the login password
/// (`--password`), the password `/register` registers, the one `/unregister` confirms, and the
/// current one `/password` asks for.
pub const PASSWORD_VAR: &str = "CHATTERBOX_PASSWORD";

/// The environment variable holding the new password of `/password`, for scripts.
pub const NEW_PASSWORD_VAR: &str = "CHATTERBOX_NEW_PASSWORD";

/// Whether a frame asks the server for an answer (`BLOCKED`, `ALL_USERS`, `REGISTERED`,
/// `TOKEN`, `SESSIONS` or `BANS`).
fn expects_answer(f: &shared::Frame) -> bool {
    f.block.is_some()
        || f.unblock.is_some()
        || f.list_blocked.is_some()
        || f.list_all_users.is_some()
        || f.register.is_some()
        || f.change_password.is_some()
        || f.unregister.is_some()
        || f.list_sessions.is_some()
        || f.revoke_session.is_some()
        || f.logout.is_some()
        || f.kick.is_some()
        || f.ban.is_some()
        || f.unban.is_some()
        || f.mute.is_some()
        || f.unmute.is_some()
        || f.list_bans.is_some()
}

/// Whether a frame from the server answers a request counted by [`expects_answer`].
fn is_answer(f: &shared::Frame) -> bool {
    f.blocked.is_some()
        || f.all_users.is_some()
        || f.registered.is_some()
        || f.token.is_some()
        || f.sessions.is_some()
        || f.bans.is_some()
}

/// The environment variable that answers `ask` in a script.
fn variable(ask: Ask) -> &'static str {
    match ask {
        Ask::Password | Ask::PasswordAgain | Ask::OldPassword => PASSWORD_VAR,
        Ask::NewPassword | Ask::NewPasswordAgain => NEW_PASSWORD_VAR,
    }
}

/// Where a password came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The environment variable.
    Environment,
    /// The terminal, typed without echo.
    Terminal,
}

/// Reads a password: from the environment variable `var` if it is set, otherwise from the
/// terminal (not stdin) without echo, after `label`. Blocking. `Err` says why none could be
/// read and what to do.
fn read_secret(label: &str, var: &str) -> Result<(Secret, Source), String> {
    if let Ok(value) = std::env::var(var) {
        return Ok((Secret::new(value), Source::Environment));
    }
    match rpassword::prompt_password(format!("{label} (not shown): ")) {
        Ok(p) => Ok((Secret::new(p), Source::Terminal)),
        Err(e) => Err(format!(
            "cannot read a password from the terminal ({e}); a script can set {var} instead"
        )),
    }
}

/// What a password being read is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The login (the engine asked).
    Login,
    /// A prompt of `/register`, `/password` or `/unregister`.
    Prompt,
}

/// A password read on a blocking thread (the terminal read blocks), while the engine's events
/// go on being shown.
type SecretRead = JoinHandle<Result<(Secret, Source), String>>;

/// Starts reading a password, asking with `label` if it comes from the terminal.
fn start_reading(label: String, var: &'static str) -> SecretRead {
    tokio::task::spawn_blocking(move || read_secret(&label, var))
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
    // Passwords come from the terminal or the environment, never from a shown line.
    let mut chat = Chat::default();
    chat.hidden_input = true;
    let mut reading: Option<(Reading, SecretRead)> = None;
    // Where the last login password came from (None: none was given yet).
    let mut login_source: Option<Source> = None;
    // A login password asked for while another password was being read.
    let mut login_next: Option<String> = None;
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
                        Status::Connecting(_) => {}
                        Status::Connected { server, addr } => {
                            print(&[Entry::Info(format!("connected to {server} ({})", addr.ip()))]);
                        }
                        Status::Unreachable { why, next } => {
                            print(&[Entry::Error(format!("{why}; trying {next}"))]);
                        }
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
                Some(FromEngine::AskPassword { name, refused }) => {
                    if let Some(info) = refused {
                        print(&[Entry::Error(format!("login refused: {info}"))]);
                        // A password of ours refused: the same one from the environment would
                        // be refused again, and a script (--username) has no one to ask.
                        let env = login_source == Some(Source::Environment);
                        if login_source.is_some() && (env || args.username.is_some()) {
                            status = 2;
                            break;
                        }
                    }
                    let label = format!("Password for {name}");
                    if reading.is_some() {
                        // One read of the terminal at a time: this one starts after it.
                        login_next = Some(label);
                    } else {
                        reading = Some((Reading::Login, start_reading(label, PASSWORD_VAR)));
                    }
                }
                Some(FromEngine::Note(text)) => print(&[Entry::Info(text)]),
                Some(FromEngine::Done(text)) => {
                    print(&[Entry::Info(text)]);
                    outstanding = outstanding.saturating_sub(1);
                    if leaving && outstanding == 0 {
                        break;
                    }
                }
                Some(FromEngine::LoggedIn { name, reply }) => {
                    connected = true;
                    print(&chat.logged_in(&name, *reply));
                }
                Some(FromEngine::Frame(f)) => {
                    if is_answer(&f) {
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
            read = async { reading.as_mut().map(|(_, r)| r).expect("reading").await },
                if reading.is_some() =>
            {
                let Some((what, _)) = reading.take() else { continue };
                let read = read.unwrap_or_else(|e| Err(format!("cannot read a password: {e}")));
                match (what, read) {
                    (Reading::Login, Ok((secret, source))) if !secret.is_empty() => {
                        login_source = Some(source);
                        let _ = to_engine.send(ToEngine::Password(secret)).await;
                    }
                    (Reading::Login, result) => {
                        let why = result.err().unwrap_or_else(|| "no password given".into());
                        print(&[Entry::Error(format!("cannot log in: {why}"))]);
                        if args.username.is_some() {
                            status = 2;
                            break;
                        }
                        // Another name, without a password.
                        eprintln!("Username:");
                        asking = true;
                    }
                    (Reading::Prompt, result) => {
                        let out = match result {
                            Ok((secret, _)) => chat.answer(secret, connected),
                            Err(why) => {
                                let mut shown = chat.cancel_prompt();
                                shown.insert(0, Entry::Error(why));
                                client_core::chat::Outcome { show: shown, ..Default::default() }
                            }
                        };
                        print(&out.show);
                        if let Some(frame) = out.send {
                            outstanding += usize::from(expects_answer(&frame));
                            let _ = to_engine.send(ToEngine::Send(Box::new(frame))).await;
                        }
                    }
                }
                if let Some(label) = login_next.take() {
                    // The login comes first; the prompt could not be sent anyway.
                    print(&chat.cancel_prompt());
                    reading = Some((Reading::Login, start_reading(label, PASSWORD_VAR)));
                } else if let Some(ask) = chat.asking() {
                    reading = Some((Reading::Prompt, start_reading(ask.label().into(), variable(ask))));
                }
            }
            () = &mut linger, if leaving => break,
            line = lines.next_line(), if (asking || connected) && !leaving && reading.is_none() => match line {
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
                    if let Some(transfer) = out.transfer {
                        // A script's last line may be a /send: it ends once the file is sent.
                        outstanding += 1;
                        let _ = to_engine.send(ToEngine::Transfer(transfer)).await;
                    }
                    if let Some(ask) = chat.asking() {
                        reading = Some((Reading::Prompt, start_reading(ask.label().into(), variable(ask))));
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
