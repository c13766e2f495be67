//! The server binary as a child process, found through the `listening on` lines of its log.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::{Dirs, PATIENCE};

/// Lines of a child's log kept for the test to read; older ones are dropped, so that a long
/// run (a benchmark's server logs a line per connection) cannot grow the test's memory.
pub const MAX_LOG_LINES: usize = 10_000;

/// Which of the server's listeners a `listening on` line announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The native protocol over TLS.
    Native,
    /// The native protocol over plain TCP (`--insecure-plaintext-port`).
    Plaintext,
    /// The web gateway: the page over HTTPS and the WebSocket.
    Web,
}

/// The listener and address announced by a line of the server's log, if it is a
/// `listening on ADDR (…)` line.
pub fn listening(line: &str) -> Option<(Listener, SocketAddr)> {
    let rest = line.split("listening on ").nth(1)?;
    let (addr, what) = rest.split_once(' ').unwrap_or((rest, ""));
    let addr = addr.parse().ok()?;
    let kind = if what.starts_with("(web") {
        Listener::Web
    } else if what.contains("PLAINTEXT") {
        Listener::Plaintext
    } else {
        Listener::Native
    };
    Some((kind, addr))
}

/// Why a server process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("could not start {program}: {source}")]
    Start { program: String, source: std::io::Error },
    #[error("the server ended before reporting its addresses; its log:\n{log}")]
    Ended { log: String },
    #[error("the server did not report its addresses within {waited:?}; its log:\n{log}")]
    Silent { waited: std::time::Duration, log: String },
}

/// What the log reader has seen.
#[derive(Debug, Default)]
struct Log {
    /// The newest lines, at most [`MAX_LOG_LINES`].
    lines: VecDeque<String>,
    /// Every `listening on` line, in order.
    listening: Vec<(Listener, SocketAddr)>,
    /// The log has ended (the process closed its stderr).
    ended: bool,
}

impl Log {
    fn text(&self) -> String {
        self.lines.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }

    fn first(&self, kind: Listener) -> Option<SocketAddr> {
        self.listening.iter().find(|(k, _)| *k == kind).map(|(_, a)| *a)
    }
}

/// The log, shared by the thread reading it and the test; the condition variable wakes
/// whoever waits for a line.
type SharedLog = Arc<(Mutex<Log>, Condvar)>;

/// The real `chatterbox-server` binary, run as a child process; killed when dropped.
#[derive(Debug)]
pub struct BinServer {
    pub child: Child,
    /// The first native (TLS) address.
    pub addr: SocketAddr,
    /// The web gateway's first address, unless started with `--no-web`.
    pub web: Option<SocketAddr>,
    /// The plain-TCP debugging port's address, if started with one.
    pub plaintext: Option<SocketAddr>,
    /// Its log (stderr), read by a thread.
    log: SharedLog,
}

impl BinServer {
    /// Runs `program` (the server binary) on `dirs` with both ports on `127.0.0.1:0` and the
    /// `extra` arguments; panics unless it reports its addresses within [`PATIENCE`].
    pub fn spawn(program: &Path, dirs: &Dirs, extra: &[&str]) -> BinServer {
        let mut cmd = Command::new(program);
        cmd.arg("127.0.0.1")
            .args(["-p", "0", "--web-port", "0", "--data-dir"])
            .arg(dirs.data())
            .arg("--certs-dir")
            .arg(dirs.certs())
            .args(extra);
        Self::spawn_command(cmd)
    }

    /// Runs `cmd` (the server binary with its arguments) and waits for its addresses; panics
    /// if they are not reported.
    pub fn spawn_command(cmd: Command) -> BinServer {
        Self::try_spawn_command(cmd).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `cmd` (the server binary with its arguments) and waits until it has reported
    /// every listener its arguments ask for. Its log level is `info` unless `cmd` sets
    /// `RUST_LOG`; its stderr is read here, its stdout discarded.
    pub fn try_spawn_command(mut cmd: Command) -> Result<BinServer, SpawnError> {
        let has = |flag: &str| cmd.get_args().any(|a| a == OsStr::new(flag));
        let want_web = !has("--no-web");
        let want_plaintext = has("--insecure-plaintext-port");
        if !cmd.get_envs().any(|(k, _)| k == OsStr::new("RUST_LOG")) {
            cmd.env("RUST_LOG", "info");
        }
        let program = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| SpawnError::Start { program, source })?;
        let stderr = child.stderr.take().expect("piped stderr");
        let log = SharedLog::default();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let (state, changed) = &*sink;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = state.lock().expect("log");
                log.listening.extend(listening(&line));
                if log.lines.len() == MAX_LOG_LINES {
                    log.lines.pop_front();
                }
                log.lines.push_back(line);
                changed.notify_all();
            }
            state.lock().expect("log").ended = true;
            changed.notify_all();
        });
        match wait_for_listeners(&log, want_web, want_plaintext) {
            Ok((addr, web, plaintext)) => Ok(BinServer { child, addr, web, plaintext, log }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name ("TERM", "KILL", "INT") with the system's kill(1).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig}");
    }

    /// Stops it gracefully (SIGTERM): waits until it says it stopped, its writer having
    /// committed everything.
    pub fn stop(self) {
        self.signal("TERM");
        self.wait_for_log("stopped");
    }

    /// The log read so far (its newest [`MAX_LOG_LINES`] lines).
    pub fn log_text(&self) -> String {
        self.log.0.lock().expect("log").text()
    }

    /// Waits for a line of the log containing `text` and returns it; panics unless one is
    /// there within [`PATIENCE`]. Blocks the calling thread (the server is another process).
    pub fn wait_for_log(&self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        let (state, changed) = &*self.log;
        let mut log = state.lock().expect("log");
        loop {
            if let Some(line) = log.lines.iter().find(|l| l.contains(text)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero() && !log.ended, "no log line with {text:?}");
            log = changed.wait_timeout(log, left).expect("log").0;
        }
    }
}

/// Waits until the log has announced a native listener, and the web and plaintext ones if
/// wanted (the server announces them in that order); returns their first addresses.
fn wait_for_listeners(
    log: &SharedLog,
    want_web: bool,
    want_plaintext: bool,
) -> Result<(SocketAddr, Option<SocketAddr>, Option<SocketAddr>), SpawnError> {
    let deadline = Instant::now() + PATIENCE;
    let (state, changed) = &**log;
    let mut log = state.lock().expect("log");
    loop {
        let (web, plaintext) = (log.first(Listener::Web), log.first(Listener::Plaintext));
        if let Some(native) = log.first(Listener::Native)
            && (web.is_some() || !want_web)
            && (plaintext.is_some() || !want_plaintext)
        {
            return Ok((native, web, plaintext));
        }
        if log.ended {
            return Err(SpawnError::Ended { log: log.text() });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SpawnError::Silent { waited: PATIENCE, log: log.text() });
        }
        log = changed.wait_timeout(log, left).expect("log").0;
    }
}

impl Drop for BinServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_lines_are_read_and_other_lines_are_not() {
        let line = "2026-01-01T00:00:00Z  INFO chatterbox_server: listening on 127.0.0.1:4567 \
                    (native protocol, TLS)";
        assert_eq!(listening(line), Some((Listener::Native, "127.0.0.1:4567".parse().unwrap())));
        let line = " WARN listening on [::1]:80 (native protocol, PLAINTEXT: for debugging only)";
        assert_eq!(listening(line), Some((Listener::Plaintext, "[::1]:80".parse().unwrap())));
        let line = "INFO listening on 127.0.0.1:9 (web client and WebSocket, HTTPS)";
        assert_eq!(listening(line), Some((Listener::Web, "127.0.0.1:9".parse().unwrap())));
        assert_eq!(listening("INFO listening on nothing"), None);
        assert_eq!(listening("INFO connection from 127.0.0.1:5"), None);
    }
}
