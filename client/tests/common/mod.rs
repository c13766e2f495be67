//! Harness for the client's tests: a real server in this process (temporary data and
//! certificates) and the real `chatterbox` binary as a child process in plain mode.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chatterbox_server::{Config, Server};
use tokio::sync::oneshot;

pub const PATIENCE: Duration = Duration::from_secs(15);

pub struct TestServer {
    pub addr: SocketAddr,
    pub ca: PathBuf,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_in(tempfile::tempdir().expect("tempdir"), 0).await
    }

    pub async fn start_in(dir: tempfile::TempDir, port: u16) -> Self {
        let config = Config {
            host: "127.0.0.1".into(),
            port,
            web_port: None,
            data_dir: dir.path().join("data"),
            certs_dir: dir.path().join("certs"),
            ..Config::default()
        };
        let server = Server::bind(config).await.expect("server binds");
        let addr = server.local_addrs()[0];
        let ca = server.ca_path().expect("dev CA").to_owned();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("server ran");
        });
        TestServer { addr, ca, dir, stop: Some(stop), task: Some(task) }
    }

    /// Stops the server; returns its directory so that it can be started again.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task");
        }
        let placeholder = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, placeholder)
    }

    /// A plain-mode client, logged in as `name` (pass None to be asked on stdin).
    pub fn client(&self, name: Option<&str>) -> Cli {
        let mut cli = self.client_raw(name);
        if name.is_some() {
            cli.expect("You are");
        }
        cli
    }

    /// A plain-mode client, without waiting for anything.
    pub fn client_raw(&self, name: Option<&str>) -> Cli {
        let mut args = vec![
            "localhost".to_owned(),
            "-p".into(),
            self.addr.port().to_string(),
            "--ca".into(),
            self.ca.display().to_string(),
            "--plain".into(),
        ];
        if let Some(n) = name {
            args.extend(["--username".into(), n.to_owned()]);
        }
        Cli::spawn(&args)
    }
}

/// The `chatterbox` binary with piped stdin and stdout.
pub struct Cli {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Cli {
    pub fn spawn(args: &[String]) -> Cli {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatterbox"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chatterbox");
        let (tx, lines) = mpsc::channel();
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
        Cli { child, stdin, lines, seen: Vec::new() }
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to chatterbox");
        stdin.flush().expect("flush");
    }

    /// Closes stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for a line containing `text`; returns it.
    pub fn expect(&mut self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {text:?}; saw:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Lines arriving within `wait`.
    pub fn drain(&mut self, wait: Duration) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(wait) {
            self.seen.push(line.clone());
            out.push(line);
        }
        out
    }

    /// Waits for the process to exit; returns its status code.
    pub fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "chatterbox did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
