//! Test harness: a real server (in-process on an ephemeral port, or the real binary as a child
//! process) with temporary data and certificate directories, and a protocol client over real
//! TLS that verifies the server against the generated development CA.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chatterbox_server::{Config, Server};
use futures_util::{SinkExt, StreamExt};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use shared::codec::{FrameError, JsonCodec};
use shared::limits::MAX_SERVER_FRAME_LEN;
use shared::{DecodeError, Frame, Message};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::codec::Framed;

/// How long a test waits for something that should happen at once.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Current Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Temporary data and certificate directories that outlive server restarts.
pub struct Dirs {
    pub root: tempfile::TempDir,
}

impl Dirs {
    pub fn new() -> Self {
        Dirs { root: tempfile::tempdir().expect("tempdir") }
    }
    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }
    pub fn certs(&self) -> PathBuf {
        self.root.path().join("certs")
    }
    pub fn ca(&self) -> PathBuf {
        self.certs().join("ca.pem")
    }
    pub fn config(&self) -> Config {
        Config {
            host: "127.0.0.1".into(),
            port: 0,
            web_port: Some(0),
            data_dir: self.data(),
            certs_dir: self.certs(),
            ..Config::default()
        }
    }
}

/// A server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub addrs: Vec<SocketAddr>,
    /// The web gateway's first address.
    pub web: Option<SocketAddr>,
    pub ca: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), chatterbox_server::ServerError>>>,
}

impl TestServer {
    pub async fn start(config: Config) -> Self {
        let server = Server::bind(config).await.expect("server binds");
        let addrs = server.local_addrs();
        let web = server.web_addrs().first().copied();
        let ca = server.ca_path().expect("generated CA").to_owned();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestServer { addr: addrs[0], addrs, web, ca, stop: Some(stop), task: Some(task) }
    }

    /// Stops the server and waits until it has finished.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran cleanly");
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr, &self.ca).await
    }

    /// A client logged in under `name`.
    pub async fn user(&self, name: &str) -> Client {
        let mut c = self.client().await;
        let r = c.login(name).await;
        assert_eq!(r.username_accepted, Some(true), "{name} logs in: {r:?}");
        c
    }
}

pub fn tls_connector(ca: &Path) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA cert")).expect("CA accepted");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// A TLS handshake as `localhost` that may fail (a server refusing the connection closes it
/// before the handshake completes).
pub async fn try_tls(addr: SocketAddr, ca: &Path) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("name");
    tls_connector(ca).connect(name, tcp).await
}

/// A TLS connection to the server, verified as `localhost`.
pub async fn tls_connect(addr: SocketAddr, ca: &Path) -> TlsStream<TcpStream> {
    tls_connect_as(addr, ca, "localhost").await
}

pub async fn tls_connect_as(addr: SocketAddr, ca: &Path, name: &str) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("TCP connect");
    tcp.set_nodelay(true).expect("nodelay");
    let name = ServerName::try_from(name.to_owned()).expect("server name");
    tls_connector(ca).connect(name, tcp).await.expect("TLS handshake")
}

/// A protocol client: frames in, frames out.
pub struct Client {
    pub io: Framed<TlsStream<TcpStream>, JsonCodec>,
    pub name: String,
    /// Live messages already read (in a frame with others) but not yet asked for.
    pending: std::collections::VecDeque<Message>,
}

/// What `next` saw.
#[derive(Debug)]
pub enum Next {
    Frame(Box<Frame>),
    Closed,
    Timeout,
}

impl Client {
    pub async fn connect(addr: SocketAddr, ca: &Path) -> Client {
        Client::over(tls_connect(addr, ca).await)
    }

    pub fn over(stream: TlsStream<TcpStream>) -> Client {
        Client {
            io: Framed::new(stream, JsonCodec::new(MAX_SERVER_FRAME_LEN)),
            name: String::new(),
            pending: Default::default(),
        }
    }

    pub async fn send(&mut self, frame: &Frame) {
        self.io.send(frame).await.expect("send frame");
    }

    /// Sends raw bytes as they are (a prefix and body of the test's choosing).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let s = self.io.get_mut();
        s.write_all(bytes).await.expect("write");
        s.flush().await.expect("flush");
    }

    /// Sends one frame whose payload is `json`.
    pub async fn send_json(&mut self, json: &[u8]) {
        let mut raw = (json.len() as u32).to_be_bytes().to_vec();
        raw.extend_from_slice(json);
        self.send_raw(&raw).await;
    }

    pub async fn login(&mut self, name: &str) -> Frame {
        self.login_with(name, None).await
    }

    /// Logs in asking for extensions.
    pub async fn login_with(&mut self, name: &str, features: Option<&[&str]>) -> Frame {
        let features = features.map(|f| f.iter().map(|s| (*s).to_owned()).collect());
        self.send(&Frame { username: Some(name.into()), features, ..Frame::default() }).await;
        let r = self.recv_where(|f| f.username_accepted.is_some()).await;
        if r.username_accepted == Some(true) {
            self.name = name.to_owned();
        }
        r
    }

    /// Sends one message from this user; returns it.
    pub async fn say(&mut self, dest: &str, content: &str) -> Message {
        let m = Message::new(self.name.clone(), dest, now(), content);
        self.send(&Frame::messages(vec![m.clone()])).await;
        m
    }

    pub async fn next_within(&mut self, wait: Duration) -> Next {
        match tokio::time::timeout(wait, self.io.next()).await {
            Err(_) => Next::Timeout,
            Ok(None) | Ok(Some(Err(FrameError::Io(_)))) => Next::Closed,
            Ok(Some(Err(e))) => panic!("{}: bad framing from the server: {e}", self.name),
            Ok(Some(Ok(Err(e @ DecodeError::Syntax(_) | e @ DecodeError::Shape(_))))) => {
                panic!("{}: server sent a non-protocol frame: {e}", self.name)
            }
            Ok(Some(Ok(Ok(f)))) => Next::Frame(Box::new(f)),
        }
    }

    pub async fn recv(&mut self) -> Frame {
        match self.next_within(PATIENCE).await {
            Next::Frame(f) => *f,
            other => panic!("{}: expected a frame, got {other:?}", self.name),
        }
    }

    /// Skips frames until one matches.
    pub async fn recv_where(&mut self, pred: impl Fn(&Frame) -> bool) -> Frame {
        loop {
            let f = self.recv().await;
            if pred(&f) {
                return f;
            }
        }
    }

    pub async fn recv_error(&mut self) -> String {
        self.recv_where(|f| f.error.is_some()).await.error.expect("error")
    }

    /// The next live message (not join history), in arrival order.
    pub async fn next_message(&mut self) -> Message {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return m;
            }
            let f = self.recv().await;
            if f.username_accepted.is_none() {
                self.pending.extend(f.messages.into_iter().flatten());
            }
        }
    }

    /// Live messages already read but not yet asked for.
    pub fn take_pending(&mut self) -> Vec<Message> {
        self.pending.drain(..).collect()
    }

    /// Waits for a live message whose content is `content`, skipping others.
    pub async fn recv_message(&mut self, content: &str) -> Message {
        loop {
            let m = self.next_message().await;
            if m.content == content {
                return m;
            }
        }
    }

    /// The next `n` live messages, whichever frames they come in.
    pub async fn recv_messages(&mut self, n: usize) -> Vec<Message> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.push(self.next_message().await);
        }
        out
    }

    /// Everything that arrives within `wait`.
    pub async fn drain(&mut self, wait: Duration) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Next::Frame(f) = self.next_within(wait).await {
            out.push(*f);
        }
        out
    }

    /// Reads until the server closes the connection; panics if it does not within `wait`.
    pub async fn expect_closed(&mut self, wait: Duration) -> Vec<Frame> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self
                .next_within(deadline.saturating_duration_since(tokio::time::Instant::now()))
                .await
            {
                Next::Frame(f) => out.push(*f),
                Next::Closed => return out,
                Next::Timeout => panic!("{}: connection still open; got {out:?}", self.name),
            }
        }
    }
}

/// Contents of all live messages in `frames`.
pub fn contents(frames: &[Frame]) -> Vec<String> {
    frames.iter().flat_map(|f| f.messages.iter().flatten().map(|m| m.content.clone())).collect()
}

/// The real `chatterbox-server` binary, run as a child process.
pub struct BinServer {
    pub child: Child,
    pub addr: SocketAddr,
    pub web: Option<SocketAddr>,
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl BinServer {
    pub fn spawn(dirs: &Dirs, extra: &[&str]) -> BinServer {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatterbox-server"));
        cmd.arg("127.0.0.1")
            .args(["-p", "0", "--web-port", "0", "--data-dir"])
            .arg(dirs.data())
            .arg("--certs-dir")
            .arg(dirs.certs())
            .args(extra);
        Self::spawn_command(cmd)
    }

    /// Runs `cmd` (the server binary with its arguments) and waits for its addresses.
    pub fn spawn_command(mut cmd: Command) -> BinServer {
        let mut child = cmd
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chatterbox-server");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<(bool, SocketAddr)>();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1)
                    && let Some(addr) = rest.split_whitespace().next()
                {
                    let web = line.contains("(web");
                    let _ = tx.send((web, addr.parse::<SocketAddr>().expect("address in log")));
                }
                sink.lock().expect("log").push(line);
            }
        });
        let (mut addr, mut web) = (None, None);
        while addr.is_none() || web.is_none() {
            match rx.recv_timeout(PATIENCE) {
                Ok((true, a)) => web = web.or(Some(a)),
                Ok((false, a)) => addr = addr.or(Some(a)),
                Err(_) if addr.is_some() => break, // started without the gateway
                Err(_) => panic!("the server did not report its address"),
            }
        }
        BinServer { child, addr: addr.expect("native address"), web, log }
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

    pub fn log_text(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }
}

impl Drop for BinServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
