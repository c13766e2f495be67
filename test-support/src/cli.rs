//! The terminal client binary (`chatterbox`) as a child process, read line by line.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::process::MAX_LOG_LINES;
use crate::{PATIENCE, TestServer};

/// Lines read from the child but not yet taken by the test; a reader blocks (and so does the
/// child's output) when the test falls this far behind.
const LINE_QUEUE: usize = 1024;

/// How often [`wait_exit`] looks at a child that has not exited yet.
const EXIT_POLL: Duration = Duration::from_millis(10);

/// Waits for `child` to exit; panics unless it does within `wait`.
pub fn wait_exit(child: &mut Child, wait: Duration) -> ExitStatus {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the process did not exit within {wait:?}");
        std::thread::sleep(EXIT_POLL);
    }
}

/// Starts plain-mode terminal clients against one server.
#[derive(Debug, Clone)]
pub struct CliLauncher {
    /// The `chatterbox` binary (`bin!("chatterbox")` in the client's tests).
    program: PathBuf,
    /// The server's native port.
    port: u16,
    /// The CA the server's certificate is signed by.
    ca: PathBuf,
}

impl CliLauncher {
    pub fn new(program: &Path, server: &TestServer) -> Self {
        CliLauncher { program: program.to_owned(), port: server.addr.port(), ca: server.ca.clone() }
    }

    /// A plain-mode client logged in as `name` (it has printed "You are"), or asking for a
    /// name on stdin if `name` is `None`.
    pub fn client(&self, name: Option<&str>) -> Cli {
        let mut cli = self.client_raw(name);
        if name.is_some() {
            cli.expect("You are");
        }
        cli
    }

    /// A plain-mode client, without waiting for anything.
    pub fn client_raw(&self, name: Option<&str>) -> Cli {
        self.client_with(name, &[], &[])
    }

    /// A plain-mode client with `extra` arguments and `env` added to its environment (a
    /// script's password, which never goes on a command line), without waiting for anything.
    pub fn client_with(&self, name: Option<&str>, extra: &[&str], env: &[(&str, &str)]) -> Cli {
        let port = self.port.to_string();
        let mut args: Vec<&OsStr> = ["localhost", "-p", &port, "--ca"].map(OsStr::new).to_vec();
        args.extend([self.ca.as_os_str(), OsStr::new("--plain")]);
        if let Some(n) = name {
            args.extend([OsStr::new("--username"), OsStr::new(n)]);
        }
        args.extend(extra.iter().map(OsStr::new));
        Cli::spawn_with_env(&self.program, &args, env)
    }
}

/// A child process with piped stdin, and stdout and stderr read line by line (interleaved);
/// killed when dropped.
#[derive(Debug)]
pub struct Cli {
    pub child: Child,
    /// Its stdin, until closed.
    stdin: Option<ChildStdin>,
    /// Lines from stdout and stderr, as the reader threads see them.
    lines: mpsc::Receiver<String>,
    /// The newest lines taken so far, at most [`MAX_LOG_LINES`].
    seen: VecDeque<String>,
}

impl Cli {
    pub fn spawn<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> Cli {
        Cli::spawn_with_env(program, args, &[])
    }

    /// As [`Cli::spawn`], with `env` added to the child's environment (a script's password,
    /// say, which never goes on a command line).
    pub fn spawn_with_env<S: AsRef<OsStr>>(
        program: &Path,
        args: &[S],
        env: &[(&str, &str)],
    ) -> Cli {
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let (tx, lines) = mpsc::sync_channel(LINE_QUEUE);
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Cli { child, stdin, lines, seen: VecDeque::new() }
    }

    /// Writes `line` and a newline to its stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to the child");
        stdin.flush().expect("flush");
    }

    /// Closes stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for a line containing `text`; returns it. Panics unless one comes within
    /// [`PATIENCE`].
    pub fn expect(&mut self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if self.seen.len() == MAX_LOG_LINES {
                        self.seen.pop_front();
                    }
                    self.seen.push_back(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {text:?}; saw:\n{}", self.seen_text()),
            }
        }
    }

    /// Whether a line taken so far contains `text`.
    pub fn saw(&self, text: &str) -> bool {
        self.seen.iter().any(|l| l.contains(text))
    }

    /// The lines taken so far, one per line.
    pub fn seen_text(&self) -> String {
        self.seen.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }

    /// Waits for the process to exit; returns its status code (-1 if killed by a signal).
    pub fn wait(&mut self) -> i32 {
        wait_exit(&mut self.child, PATIENCE).code().unwrap_or(-1)
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
