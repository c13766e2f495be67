//! `chatterbox-bench`: a load generator for Chatterbox servers, in the manner of
//! redis-benchmark. It opens N clients over TLS (native protocol, or `--ws` for the WebSocket
//! gateway), logs them in, and lets K of them broadcast:
//!
//! - `--mode flood`: every sender sends M messages as fast as it can (or at `--rate R` a
//!   second each); reports deliveries per second over the window, per-delivery latency
//!   percentiles and lost deliveries.
//! - `--mode lockstep`: one broadcast at a time, each waiting until every client has it;
//!   reports the per-broadcast fan-out latency without queueing.
//!
//! It also reports logins per second with each login's latency and, with `--server-pid`, the
//! server's CPU time per login and per delivery and its resident memory per connection.
//!
//! Against a cluster, `--port` lists every node's port and the clients are spread over the
//! nodes in turn (client `i` on node `i mod N`, so senders and receivers are on every node);
//! `--server-pid` lists the nodes' processes, and `--nats-pid` and `--postgres` add the CPU
//! time of NATS and of PostgreSQL's processes per delivery. `--auth password` or
//! `--auth token` makes every client a registered account first (not timed: a plain login,
//! `REGISTER`, the session token kept), so that the logins measured prove the name with the
//! password (argon2id on the server) or the token. The last line of its output is
//! `deliveries/s=<n> p50_ms=<x> p99_ms=<y> p999_ms=<z> lost=<k>`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use shared::codec::{FrameCodec, put_frame};
use shared::frame::features;
use shared::{Frame, Message};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_util::codec::FramedRead;

/// Connections from one loopback source address before the next is used (ephemeral ports run
/// out near 28,000 per source address and destination).
const PER_SOURCE: usize = 20_000;

/// Logins between two progress reports.
const LOGIN_PROGRESS: usize = 1000;

/// Time without a single delivery after which the rest counts as lost.
const STALL: Duration = Duration::from_secs(5);

/// The password of every account the load generator registers (`--auth password`): the
/// server's minimum length or more, and like a real one in cost (argon2id's work does not
/// depend on the password).
const BENCH_PASSWORD: &str = "chatterbox-bench password";

/// Time the registered clients' leaves may take to reach the observer after they closed
/// (the server announces them within half a second; this only ends a run that went wrong).
const LEAVES_TIMEOUT: Duration = Duration::from_secs(30);

/// Clock ticks a second in /proc/PID/stat's `utime` and `stime`: the kernel's USER_HZ, 100 on
/// every architecture this runs on (a fixed part of the ABI, unlike the kernel's own HZ).
const USER_HZ: f64 = 100.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// As fast as possible (or at --rate): throughput and latency under load.
    Flood,
    /// One broadcast at a time, each waiting for every client: fan-out latency.
    Lockstep,
}

/// How the measured logins prove their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Auth {
    /// The name alone: a plain login.
    None,
    /// A registered name with its password (argon2id on the server).
    Password,
    /// A registered name with the session token its registration returned.
    Token,
}

/// Load generator for Chatterbox servers.
#[derive(Debug, Clone, Parser)]
#[command(name = "chatterbox-bench", version, about, long_about)]
struct Args {
    /// Server host (name or address).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port (the native TLS port, or the web port with --ws); the ports of a
    /// cluster's nodes separated by commas, the clients spread over them in turn.
    #[arg(short, long = "port", value_delimiter = ',', required = true)]
    ports: Vec<u16>,
    /// CA certificate (PEM) the server's certificate is signed by (its certs/ca.pem).
    #[arg(long)]
    ca: PathBuf,
    /// Clients to connect and log in.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// How many of them send.
    #[arg(long, default_value_t = 1)]
    senders: usize,
    /// Messages each sender sends.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Bytes of content per message.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// flood or lockstep.
    #[arg(long, value_enum, default_value_t = Mode::Flood)]
    mode: Mode,
    /// Messages a second per sender in flood mode (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// Use the WebSocket gateway (wss://HOST:PORT/ws) instead of the native protocol.
    #[arg(long)]
    ws: bool,
    /// The server's process id, to report its CPU time and memory (from /proc); a cluster's
    /// nodes' ids separated by commas, in the order of --port.
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// NATS's process id (a cluster's), to report its CPU time per delivery.
    #[arg(long)]
    nats_pid: Option<u32>,
    /// Report the CPU time per delivery of this machine's PostgreSQL (every process named
    /// `postgres`: the backends serving the nodes and the writers behind them).
    #[arg(long)]
    postgres: bool,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Logins in progress at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Keep the clients connected this many seconds after logging in (for memory readings).
    #[arg(long, default_value_t = 0.0)]
    hold: f64,
    /// How the logins prove their names: none (plain), password or token. With password or
    /// token every client's name is registered first (not timed, --concurrency at a time).
    #[arg(long, value_enum, default_value_t = Auth::None)]
    auth: Auth,
}

type Tls = TlsStream<TcpStream>;

/// A logged-in client: its reader task (which returns its latency histogram) and its writer.
type Client = (tokio::task::JoinHandle<Histogram<u64>>, Writer);

enum Reader {
    Native(FramedRead<ReadHalf<Tls>, FrameCodec>),
    Ws(SplitStream<WebSocketStream<Tls>>),
}

enum Writer {
    Native(WriteHalf<Tls>),
    Ws(SplitSink<WebSocketStream<Tls>, WsMessage>),
}

impl Reader {
    async fn next(&mut self) -> Option<bytes::Bytes> {
        match self {
            Reader::Native(r) => r.next().await?.ok().map(|b| b.freeze()),
            Reader::Ws(r) => loop {
                match r.next().await? {
                    Ok(WsMessage::Text(t)) => {
                        return Some(bytes::Bytes::copy_from_slice(t.as_bytes()));
                    }
                    Ok(WsMessage::Close(_)) | Err(_) => return None,
                    Ok(_) => {}
                }
            },
        }
    }
}

impl Writer {
    async fn send(&mut self, frame: &Frame) -> Result<()> {
        let json = shared::encode(frame);
        match self {
            Writer::Native(w) => {
                let mut buf = Vec::with_capacity(json.len() + 4);
                put_frame(&json, &mut buf);
                w.write_all(&buf).await?;
                w.flush().await?;
            }
            Writer::Ws(w) => w.send(WsMessage::text(String::from_utf8(json)?)).await?,
        }
        Ok(())
    }
}

/// The resident memory of processes `pids` together, in KiB; none without any.
fn rss_kib(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let kib =
                status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?;
            kib.parse::<u64>().ok()
        })
        .sum()
}

/// The CPU seconds processes `pids` have used together; none without any.
fn cpu_sum(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| cpu_secs(*p)).sum()
}

/// The CPU seconds used by every process on this machine whose command name is `name`
/// (PostgreSQL's postmaster, its writers and one backend per connection are all `postgres`).
/// A process that ends during a measurement takes its time with it: PostgreSQL's backends
/// serve a node's pool for as long as the node runs, so a phase loses little.
fn cpu_of_command(name: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    let mut total = 0.0;
    for entry in dir.flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let comm = stat.split_once('(').and_then(|(_, rest)| rest.rsplit_once(')'));
        if comm.is_some_and(|(comm, _)| comm == name) {
            total += cpu_secs_of(&stat).unwrap_or(0.0);
        }
    }
    total
}

/// CPU seconds (user and system, every thread, ended ones included) process `pid` has used.
fn cpu_secs(pid: u32) -> Option<f64> {
    cpu_secs_of(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `utime` + `stime` (fields 14 and 15) of a /proc/PID/stat line, in seconds. The command
/// name before them is in parentheses and may hold spaces, so fields are counted after its
/// closing one.
fn cpu_secs_of(stat: &str) -> Option<f64> {
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

fn tls(ca: &std::path::Path) -> Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca).with_context(|| format!("reading {}", ca.display()))?
    {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Connects client `i` to its node (the `i mod N`th of `nodes`) and logs it in with `login`.
async fn connect(
    i: usize,
    nodes: &[SocketAddr],
    args: &Args,
    tls: &TlsConnector,
    login: &Frame,
) -> Result<(Reader, Writer)> {
    let addr = nodes[i % nodes.len()];
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if addr.ip().is_loopback() && addr.is_ipv4() && args.clients > PER_SOURCE {
        let k = u8::try_from(1 + i / PER_SOURCE).unwrap_or(u8::MAX);
        socket.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, k)), 0))?;
    }
    let tcp = socket.connect(addr).await?;
    tcp.set_nodelay(true)?;
    let server_name = ServerName::try_from(if addr.ip().is_loopback() {
        "localhost".to_owned()
    } else {
        args.host.clone()
    })?;
    let stream = tls.connect(server_name, tcp).await?;
    let (mut reader, mut writer) = if args.ws {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let req = format!("wss://localhost:{}/ws", addr.port()).into_client_request()?;
        let (ws, _) = tokio_tungstenite::client_async(req, stream).await?;
        let (w, r) = ws.split();
        (Reader::Ws(r), Writer::Ws(w))
    } else {
        let (r, w) = tokio::io::split(stream);
        (
            Reader::Native(FramedRead::new(
                r,
                FrameCodec::new(shared::limits::MAX_SERVER_FRAME_LEN),
            )),
            Writer::Native(w),
        )
    };
    writer.send(login).await?;
    loop {
        let payload = reader.next().await.context("closed before the login answer")?;
        // The accepted login carries everyone online; a load generator has no use for the
        // list, and decoding it per login in a room of thousands would be most of its work.
        if payload.starts_with(br#"{"USERNAME_ACCEPTED":true,"#) {
            return Ok((reader, writer));
        }
        let f = shared::decode(&payload)?;
        match f.username_accepted {
            Some(true) => return Ok((reader, writer)),
            Some(false) => bail!("login refused: {}", f.info.unwrap_or_default()),
            None => {}
        }
    }
}

/// Shared counters of the measurement.
struct Tally {
    /// Deliveries of benchmark messages so far.
    delivered: AtomicU64,
    /// Frames that carried them (the server merges what is queued for a client into one).
    frames: AtomicU64,
    /// Their bytes (JSON, without the length prefix or WebSocket framing).
    bytes: AtomicU64,
    /// Clients whose connection the server closed before the end (a server drops a client
    /// that reads too slowly for its bounded outbox).
    dropped: AtomicU64,
    /// Microseconds since the start at the last delivery.
    last: AtomicU64,
    /// Lockstep: the delivery count the sender waits for.
    target: AtomicU64,
    reached: Notify,
    epoch: Instant,
}

impl Tally {
    /// Microseconds since the start.
    fn micros(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

async fn read_loop(
    mut reader: Reader,
    tally: Arc<Tally>,
    mut stop: watch::Receiver<bool>,
) -> Histogram<u64> {
    let mut hist = Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable!());
    loop {
        let payload = tokio::select! {
            p = reader.next() => match p {
                Some(p) => p,
                None => {
                    tally.dropped.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            },
            _ = stop.changed() => break,
        };
        let now = tally.micros();
        let n = match scan(&payload, |sent| {
            let _ = hist.record(now.saturating_sub(sent).max(1));
        }) {
            Some(n) => n,
            None => {
                // Not in the shape this server writes: decode it whole.
                let Ok(frame) = shared::decode(&payload) else { continue };
                let mut n = 0;
                for m in frame.messages.iter().flatten() {
                    if let Some(sent) =
                        m.content.split(' ').next().and_then(|t| t.parse::<u64>().ok())
                    {
                        let _ = hist.record(now.saturating_sub(sent).max(1));
                        n += 1;
                    }
                }
                n
            }
        };
        if n > 0 {
            tally.frames.fetch_add(1, Ordering::Relaxed);
            tally.bytes.fetch_add(payload.len() as u64, Ordering::Relaxed);
            let total = tally.delivered.fetch_add(n, Ordering::Relaxed) + n;
            tally.last.store(now, Ordering::Relaxed);
            if total >= tally.target.load(Ordering::Relaxed) {
                tally.reached.notify_one();
            }
        }
    }
    hist
}

/// Reads a frame without building it, calling `sent` with the send time at the start of each
/// message's content, and returns how many there were. Presence lists are skipped unread: in
/// a crowd they are most of the bytes, and decoding them would make the load generator, not
/// the server, the bottleneck on a shared machine. `None`: not the compact shape
/// `{"MESSAGES":[[SRC,DEST,TIMESTAMP,CONTENT],...]}` (the caller decodes it whole).
fn scan(payload: &[u8], mut sent: impl FnMut(u64)) -> Option<u64> {
    if payload.starts_with(br#"{"USERS_JOINED":"#) || payload.starts_with(br#"{"USERS_LEFT":"#) {
        return Some(0);
    }
    let mut rest = payload.strip_prefix(br#"{"MESSAGES":["#)?;
    let mut n = 0;
    loop {
        rest = rest.strip_prefix(b"[")?;
        rest = skip_string(rest)?.strip_prefix(b",")?;
        rest = skip_string(rest)?.strip_prefix(b",")?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit() || **b == b'-').count();
        rest = rest[digits..].strip_prefix(b",")?;
        let content = rest.strip_prefix(b"\"")?;
        let len = content.iter().take_while(|b| b.is_ascii_digit()).count();
        let stamp = std::str::from_utf8(&content[..len]).ok().and_then(|t| t.parse().ok());
        if let Some(t) = stamp
            && content.get(len) == Some(&b' ')
        {
            sent(t);
            n += 1;
        }
        rest = skip_string(rest)?.strip_prefix(b"]")?;
        match rest.first()? {
            b',' => rest = &rest[1..],
            b']' => return (rest == b"]}").then_some(n),
            _ => return None,
        }
    }
}

/// The bytes after the JSON string at the start of `s`.
fn skip_string(s: &[u8]) -> Option<&[u8]> {
    let mut i = 1;
    if s.first() != Some(&b'"') {
        return None;
    }
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(&s[i + 1..]),
            _ => i += 1,
        }
    }
    None
}

fn content(tally: &Tally, size: usize) -> String {
    let mut c = tally.micros().to_string();
    c.push(' ');
    while c.len() < size {
        c.push('x');
    }
    c
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Arc::new(Args::parse());
    if args.clients < 2 || args.senders == 0 || args.senders > args.clients {
        bail!("need at least 2 clients and 1..=clients senders");
    }
    // Every client is a file descriptor: raise the soft limit to the hard one.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let ip =
        tokio::net::lookup_host((args.host.as_str(), 0)).await?.next().context("no address")?.ip();
    let nodes: Arc<[SocketAddr]> = args.ports.iter().map(|p| SocketAddr::new(ip, *p)).collect();
    let connector = tls(&args.ca)?;
    let tokens = match args.auth {
        Auth::None => Vec::new(),
        Auth::Password | Auth::Token => register_all(&args, &nodes, &connector).await?,
    };
    let rss_before = rss_kib(&args.server_pid);
    let tally = Arc::new(Tally {
        delivered: AtomicU64::new(0),
        frames: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        last: AtomicU64::new(0),
        target: AtomicU64::new(u64::MAX),
        reached: Notify::new(),
        epoch: Instant::now(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);

    let (clients, logins) =
        login_crowd(&args, &nodes, &connector, Arc::new(tokens), &tally, &stop_rx).await?;
    if args.hold > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    }
    let rss_after = rss_kib(&args.server_pid);
    let rss_per_conn_kib = match (rss_before, rss_after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / args.clients as f64),
        _ => None,
    };
    let (readers, writers) = split_senders(clients, args.senders);
    // Let the joins of the last clients settle before measuring.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let expected = (args.senders * args.messages) as u64 * (args.clients - 1) as u64;
    let start = tally.micros();
    let cpu_before = Cpu::read(&args);
    let fanout = run_mode(&args, &tally, writers, expected).await?;
    let cpu = Cpu::read(&args).since(&cpu_before);
    let _ = stop_tx.send(true);
    let mut latency = Histogram::<u64>::new(3)?;
    for r in readers {
        if let Ok(h) = r.await {
            latency.add(h)?;
        }
    }
    let delivered = tally.delivered.load(Ordering::Relaxed);
    let frames = tally.frames.load(Ordering::Relaxed);
    let bytes = tally.bytes.load(Ordering::Relaxed);
    let dropped = tally.dropped.load(Ordering::Relaxed);
    let window = (tally.last.load(Ordering::Relaxed).saturating_sub(start)) as f64 / 1e6;
    let report = Report {
        logins,
        rss_per_conn_kib,
        delivered,
        frames,
        bytes,
        dropped,
        expected,
        window,
        cpu,
        // Lockstep measures each broadcast's fan-out; flood each delivery's latency.
        latency: if args.mode == Mode::Lockstep { fanout } else { latency },
    };
    report.print(&args);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report.json(&args))?)?;
    }
    println!("{}", report.last_line());
    Ok(())
}

/// The name of client `i` of this run (one run's names never meet another's).
fn client_name(i: usize) -> String {
    format!("b{}x{i}", std::process::id())
}

/// Whether `name` is one of this run's clients' (see [`client_name`]).
fn is_client_name(name: &str) -> bool {
    name.strip_prefix(&format!("b{}x", std::process::id()))
        .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// Client `i`'s login object: its name and, with `--auth`, the account extension and the
/// proof (`tokens` holds each client's session token, in order).
fn login_frame(auth: Auth, i: usize, tokens: &[String]) -> Frame {
    let account = || Some(vec![features::ACCOUNT.to_owned()]);
    let username = Some(client_name(i));
    match auth {
        Auth::None => Frame { username, ..Frame::default() },
        Auth::Password => Frame {
            username,
            features: account(),
            password: Some(BENCH_PASSWORD.to_owned()),
            ..Frame::default()
        },
        Auth::Token => Frame {
            username,
            features: account(),
            token: tokens.get(i).cloned(),
            ..Frame::default()
        },
    }
}

/// What the login phase measured.
struct Logins {
    /// Logins per second over the phase.
    per_sec: f64,
    /// Each login's time from its connect to the accepted answer, in microseconds.
    latency: Histogram<u64>,
    /// The server's CPU seconds over the phase (with `--server-pid`).
    server_cpu: Option<f64>,
}

/// Connects and logs in every client, `--concurrency` at a time, and returns them in order
/// with what the logins measured. Like a real client, each reads everything from its login on
/// (a client that stopped reading during a crowd's joins would rightly be dropped as too
/// slow). Each login is a task of its own, so that the client side of the TLS handshakes uses
/// every core (in one task they would all run on one thread and be the bottleneck).
async fn login_crowd(
    args: &Arc<Args>,
    nodes: &Arc<[SocketAddr]>,
    connector: &TlsConnector,
    tokens: Arc<Vec<String>>,
    tally: &Arc<Tally>,
    stop: &watch::Receiver<bool>,
) -> Result<(Vec<(usize, Client)>, Logins)> {
    let cpu_before = cpu_sum(&args.server_pid);
    let t0 = Instant::now();
    let mut latency = Histogram::<u64>::new(3)?;
    let mut clients: Vec<(usize, Client)> = futures_util::stream::iter(0..args.clients)
        .map(|i| {
            let (args, connector, nodes) = (Arc::clone(args), connector.clone(), Arc::clone(nodes));
            let (tally, stop, tokens) = (Arc::clone(tally), stop.clone(), Arc::clone(&tokens));
            tokio::spawn(async move {
                let begun = Instant::now();
                let login = login_frame(args.auth, i, &tokens);
                let conn = connect(i, &nodes, &args, &connector, &login)
                    .await
                    .map(|(reader, writer)| (tokio::spawn(read_loop(reader, tally, stop)), writer));
                (i, conn, begun.elapsed())
            })
        })
        .buffer_unordered(args.concurrency.max(1))
        .map(|joined| {
            joined.map_err(anyhow::Error::from).and_then(|(i, r, took)| {
                let _ = latency.record((took.as_micros() as u64).max(1));
                r.map(|c| (i, c))
            })
        })
        .enumerate()
        .map(|(n, r)| {
            // Progress on long runs (a crowd of thousands takes a while to log in).
            if (n + 1) % LOGIN_PROGRESS == 0 {
                eprint!("\r{} / {} logged in", n + 1, args.clients);
            }
            r
        })
        .collect::<Vec<Result<_>>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    if args.clients >= LOGIN_PROGRESS {
        eprintln!();
    }
    let login_secs = t0.elapsed().as_secs_f64();
    let server_cpu = match (cpu_before, cpu_sum(&args.server_pid)) {
        (Some(b), Some(a)) => Some(a - b),
        _ => None,
    };
    let per_sec = args.clients as f64 / login_secs;
    eprintln!("{} clients logged in in {login_secs:.2} s ({per_sec:.0}/s)", args.clients);
    clients.sort_by_key(|(i, _)| *i);
    Ok((clients, Logins { per_sec, latency, server_cpu }))
}

/// Registers every client's name, `--concurrency` at a time (not timed: this is the set-up of
/// `--auth password` and `--auth token`), and returns the session tokens in client order. Each
/// client logs in plainly with the account extension, sends `REGISTER` with
/// [`BENCH_PASSWORD`], keeps the token of the answer and closes. An observer, logged in
/// throughout, waits until it has seen every one of them leave: only then are the names free
/// for the logins measured (a leave reaches the hub after the connection has closed).
async fn register_all(
    args: &Arc<Args>,
    nodes: &Arc<[SocketAddr]>,
    connector: &TlsConnector,
) -> Result<Vec<String>> {
    let t0 = Instant::now();
    let watcher = Frame { username: Some(format!("b{}w", std::process::id())), ..Frame::default() };
    let (mut reader, observer_writer) = connect(0, nodes, args, connector, &watcher).await?;
    let (left_tx, mut left_rx) = watch::channel(0);
    let observer = tokio::spawn(async move {
        let mut left = 0;
        while let Some(payload) = reader.next().await {
            let Ok(frame) = shared::decode(&payload) else { continue };
            left += frame.users_left.iter().flatten().filter(|n| is_client_name(n)).count();
            let _ = left_tx.send(left);
        }
    });
    let mut tokens: Vec<(usize, String)> = futures_util::stream::iter(0..args.clients)
        .map(|i| {
            let (args, connector, nodes) = (Arc::clone(args), connector.clone(), Arc::clone(nodes));
            tokio::spawn(
                async move { register(i, &nodes, &args, &connector).await.map(|t| (i, t)) },
            )
        })
        .buffer_unordered(args.concurrency.max(1))
        .map(|joined| joined.map_err(anyhow::Error::from).and_then(|r| r))
        .enumerate()
        .map(|(n, r)| {
            if (n + 1) % LOGIN_PROGRESS == 0 {
                eprint!("\r{} / {} registered", n + 1, args.clients);
            }
            r
        })
        .try_collect()
        .await?;
    if args.clients >= LOGIN_PROGRESS {
        eprintln!();
    }
    let gone = tokio::time::timeout(LEAVES_TIMEOUT, left_rx.wait_for(|n| *n >= args.clients)).await;
    gone.context("the registered clients did not all leave")?
        .context("the observer's connection closed")?;
    observer.abort();
    drop(observer_writer);
    eprintln!(
        "{} names registered in {:.2} s (not timed)",
        args.clients,
        t0.elapsed().as_secs_f64()
    );
    tokens.sort_by_key(|(i, _)| *i);
    Ok(tokens.into_iter().map(|(_, t)| t).collect())
}

/// Registers client `i`'s name with [`BENCH_PASSWORD`] and returns the session token of the
/// answer (the connection closes when its halves are dropped).
async fn register(
    i: usize,
    nodes: &[SocketAddr],
    args: &Args,
    tls: &TlsConnector,
) -> Result<String> {
    let login = Frame {
        username: Some(client_name(i)),
        features: Some(vec![features::ACCOUNT.to_owned()]),
        ..Frame::default()
    };
    let (mut reader, mut writer) = connect(i, nodes, args, tls, &login).await?;
    writer.send(&Frame { register: Some(BENCH_PASSWORD.to_owned()), ..Frame::default() }).await?;
    loop {
        let payload = reader.next().await.context("closed before the answer to REGISTER")?;
        // Others' joins and leaves: nothing to look for in them.
        if payload.starts_with(br#"{"USERS_"#) {
            continue;
        }
        let frame = shared::decode(&payload)?;
        if let Some(e) = frame.error {
            bail!("REGISTER refused: {e}");
        }
        if frame.registered == Some(true) {
            return frame.token.context("REGISTER answered without a session token");
        }
    }
}

/// Every client's reader task, and the writers of the first `senders` (the others are
/// dropped: receivers only read, and a half closed for writing stays open).
fn split_senders(
    clients: Vec<(usize, Client)>,
    senders: usize,
) -> (Vec<tokio::task::JoinHandle<Histogram<u64>>>, Vec<Writer>) {
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for (i, (reader, writer)) in clients {
        readers.push(reader);
        if i < senders {
            writers.push(writer);
        }
    }
    (readers, writers)
}

/// Sends the benchmark's messages in the chosen mode and waits for their deliveries (or a
/// stall); returns the per-broadcast fan-out times (lockstep only).
async fn run_mode(
    args: &Args,
    tally: &Arc<Tally>,
    writers: Vec<Writer>,
    expected: u64,
) -> Result<Histogram<u64>> {
    let mut fanout = Histogram::<u64>::new(3)?;
    match args.mode {
        Mode::Lockstep => lockstep(args, tally, writers, &mut fanout).await?,
        Mode::Flood => {
            let keep = flood(args, tally, writers).await?;
            await_deliveries(tally, expected).await;
            drop(keep);
        }
    }
    Ok(fanout)
}

/// One broadcast at a time from the first sender, each waiting until every other client has
/// it; records each broadcast's fan-out time.
async fn lockstep(
    args: &Args,
    tally: &Tally,
    mut writers: Vec<Writer>,
    fanout: &mut Histogram<u64>,
) -> Result<()> {
    let mut w = writers.swap_remove(0);
    let name = client_name(0);
    let per_message = (args.clients - 1) as u64;
    for r in 0..(args.senders * args.messages) as u64 {
        tally.target.store((r + 1) * per_message, Ordering::Relaxed);
        let t = Instant::now();
        let m = Message::new(name.clone(), "ALL", 0, content(tally, args.size));
        w.send(&Frame::messages(vec![m])).await?;
        let waited = tokio::time::timeout(STALL, async {
            while tally.delivered.load(Ordering::Relaxed) < (r + 1) * per_message {
                tally.reached.notified().await;
            }
        })
        .await;
        if waited.is_err() {
            eprintln!("broadcast {r} did not reach everyone");
            break;
        }
        let _ = fanout.record(t.elapsed().as_micros() as u64);
    }
    Ok(())
}

/// Every sender sends its messages as fast as it can (or at `--rate`), each in a task of its
/// own; returns the writers once all is sent (closing them would end the connections).
async fn flood(args: &Args, tally: &Arc<Tally>, writers: Vec<Writer>) -> Result<Vec<Writer>> {
    let mut tasks = Vec::new();
    for (k, mut w) in writers.into_iter().enumerate() {
        let tally = Arc::clone(tally);
        let (messages, size, rate) = (args.messages, args.size, args.rate);
        let name = client_name(k);
        tasks.push(tokio::spawn(async move {
            let mut tick = rate.map(|r| tokio::time::interval(Duration::from_secs_f64(1.0 / r)));
            for _ in 0..messages {
                if let Some(t) = tick.as_mut() {
                    t.tick().await;
                }
                let m = Message::new(name.clone(), "ALL", 0, content(&tally, size));
                if w.send(&Frame::messages(vec![m])).await.is_err() {
                    break;
                }
            }
            w
        }));
    }
    let mut keep = Vec::new();
    for t in tasks {
        keep.push(t.await?);
    }
    Ok(keep)
}

/// Waits for the deliveries, reporting progress, until all arrived or none for [`STALL`].
async fn await_deliveries(tally: &Tally, expected: u64) {
    let mut seen = 0;
    let mut quiet_since = Instant::now();
    loop {
        let d = tally.delivered.load(Ordering::Relaxed);
        if d >= expected {
            break;
        }
        if d != seen {
            seen = d;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() > STALL {
            break;
        }
        eprint!("\r{d} / {expected} deliveries");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!();
}

/// CPU seconds used by the processes a run watches: each node (`--server-pid`), NATS
/// (`--nats-pid`) and PostgreSQL (`--postgres`); none where there is no reading.
#[derive(Debug, Clone, PartialEq)]
struct Cpu {
    nodes: Vec<Option<f64>>,
    nats: Option<f64>,
    postgres: Option<f64>,
}

impl Cpu {
    /// The time each watched process has used so far.
    fn read(args: &Args) -> Cpu {
        Cpu {
            nodes: args.server_pid.iter().map(|p| cpu_secs(*p)).collect(),
            nats: args.nats_pid.and_then(cpu_secs),
            postgres: args.postgres.then(|| cpu_of_command("postgres")),
        }
    }

    /// The time used between reading `before` and this one.
    fn since(&self, before: &Cpu) -> Cpu {
        let diff = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
        Cpu {
            nodes: self.nodes.iter().zip(&before.nodes).map(|(a, b)| diff(*a, *b)).collect(),
            nats: diff(self.nats, before.nats),
            postgres: diff(self.postgres, before.postgres),
        }
    }

    /// The nodes' time together; none unless every node has a reading.
    fn servers(&self) -> Option<f64> {
        if self.nodes.is_empty() {
            return None;
        }
        self.nodes.iter().copied().sum()
    }

    /// The nodes', NATS's and PostgreSQL's time together (those watched).
    fn total(&self) -> Option<f64> {
        Some(self.servers()? + self.nats.unwrap_or(0.0) + self.postgres.unwrap_or(0.0))
    }
}

/// What a run measured.
struct Report {
    /// What the crowd's logins measured.
    logins: Logins,
    /// The server's resident memory per connection (with `--server-pid`).
    rss_per_conn_kib: Option<f64>,
    /// Deliveries of benchmark messages.
    delivered: u64,
    /// Frames that carried them.
    frames: u64,
    /// Those frames' bytes.
    bytes: u64,
    /// Clients the server disconnected during the run.
    dropped: u64,
    /// Deliveries there should have been.
    expected: u64,
    /// Seconds from the first send to the last delivery.
    window: f64,
    /// The watched processes' CPU time over the sending and delivering.
    cpu: Cpu,
    /// The latency the mode measures (see `main`).
    latency: Histogram<u64>,
}

impl Report {
    fn rate(&self) -> f64 {
        if self.window > 0.0 { self.delivered as f64 / self.window } else { 0.0 }
    }

    /// Deliveries per frame that carried any (how much the server merged).
    fn per_frame(&self) -> Option<f64> {
        (self.frames > 0).then(|| self.delivered as f64 / self.frames as f64)
    }

    /// Bytes a client received per delivery, the frames' own bytes shared out (a length
    /// prefix and TLS add a few per frame, which carries hundreds under load).
    fn bytes_per_delivery(&self) -> Option<f64> {
        (self.delivered > 0).then(|| self.bytes as f64 / self.delivered as f64)
    }

    fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }

    /// The latency at quantile `q`, in milliseconds.
    fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// `secs` of CPU time per delivery, in microseconds (none without deliveries).
    fn per_delivery(&self, secs: Option<f64>) -> Option<f64> {
        secs.filter(|_| self.delivered > 0).map(|s| s * 1e6 / self.delivered as f64)
    }

    /// A login's latency at quantile `q`, in milliseconds.
    fn login_ms(&self, q: f64) -> f64 {
        self.logins.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// The server's CPU time per login, in milliseconds (with `--server-pid`; none when the
    /// phase was too short for the clock ticks /proc counts in).
    fn cpu_ms_per_login(&self, clients: usize) -> Option<f64> {
        self.logins.server_cpu.filter(|c| *c > 0.0).map(|c| c * 1000.0 / clients as f64)
    }

    /// The human-readable summary.
    fn print(&self, args: &Args) {
        println!(
            "scenario          {:?}{}",
            args.mode,
            if args.ws { " over WebSocket" } else { "" }
        );
        println!(
            "clients           {} ({} sending {} messages of {} bytes)",
            args.clients, args.senders, args.messages, args.size
        );
        println!("logins/s          {:.0} ({:?})", self.logins.per_sec, args.auth);
        println!(
            "login latency ms  p50 {:.3}  p99 {:.3}  max {:.3}",
            self.login_ms(0.5),
            self.login_ms(0.99),
            self.logins.latency.max() as f64 / 1000.0
        );
        if let Some(ms) = self.cpu_ms_per_login(args.clients) {
            println!("server CPU/login  {ms:.3} ms ({:.0} logins per core-second)", 1000.0 / ms);
        }
        if let Some(kib) = self.rss_per_conn_kib {
            println!("server RSS/conn   {kib:.1} KiB");
        }
        if let Some(us) = self.per_delivery(self.cpu.total()) {
            let mut parts: Vec<String> = self
                .cpu
                .nodes
                .iter()
                .enumerate()
                .map(|(i, c)| format!("node {i} {:.3}", self.per_delivery(*c).unwrap_or(f64::NAN)))
                .collect();
            if let Some(us) = self.per_delivery(self.cpu.nats) {
                parts.push(format!("nats {us:.3}"));
            }
            if let Some(us) = self.per_delivery(self.cpu.postgres) {
                parts.push(format!("postgres {us:.3}"));
            }
            println!("CPU µs/delivery   {us:.3} ({})", parts.join(", "));
        }
        println!(
            "deliveries        {} of {} in {:.3} s, {:.1} a frame, {:.1} bytes each",
            self.delivered,
            self.expected,
            self.window,
            self.per_frame().unwrap_or(0.0),
            self.bytes_per_delivery().unwrap_or(0.0)
        );
        if self.dropped > 0 {
            println!("dropped           {} clients disconnected by the server", self.dropped);
        }
        println!(
            "latency ms        p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            self.ms(0.5),
            self.ms(0.99),
            self.ms(0.999),
            self.latency.max() as f64 / 1000.0
        );
    }

    /// The results as `--json` writes them.
    fn json(&self, args: &Args) -> serde_json::Value {
        let cpu_ms = self.cpu_ms_per_login(args.clients);
        serde_json::json!({
            "mode": format!("{:?}", args.mode).to_lowercase(), "ws": args.ws, "clients": args.clients,
            "senders": args.senders, "messages": args.messages, "size": args.size,
            "auth": format!("{:?}", args.auth).to_lowercase(), "logins_per_sec": self.logins.per_sec,
            "login_p50_ms": self.login_ms(0.5), "login_p99_ms": self.login_ms(0.99),
            "server_cpu_ms_per_login": cpu_ms,
            "logins_per_core_sec": cpu_ms.map(|ms| 1000.0 / ms),
            "rss_per_conn_kib": self.rss_per_conn_kib,
            "nodes": args.ports.len(), "messages_sent": args.senders * args.messages,
            "node_cpu_us_per_delivery": self.cpu.nodes.iter().map(|c| self.per_delivery(*c)).collect::<Vec<_>>(),
            "server_cpu_us_per_delivery": self.per_delivery(self.cpu.servers()),
            "nats_cpu_us_per_delivery": self.per_delivery(self.cpu.nats),
            "postgres_cpu_us_per_delivery": self.per_delivery(self.cpu.postgres),
            "total_cpu_us_per_delivery": self.per_delivery(self.cpu.total()),
            "deliveries": self.delivered, "deliveries_per_frame": self.per_frame(),
            "bytes_per_delivery": self.bytes_per_delivery(), "dropped": self.dropped, "expected": self.expected, "deliveries_per_sec": self.rate(),
            "p50_ms": self.ms(0.5), "p99_ms": self.ms(0.99), "p999_ms": self.ms(0.999), "lost": self.lost(),
        })
    }

    /// The last line of the output, for scripts.
    fn last_line(&self) -> String {
        format!(
            "deliveries/s={:.0} p50_ms={:.3} p99_ms={:.3} p999_ms={:.3} lost={}",
            self.rate(),
            self.ms(0.5),
            self.ms(0.99),
            self.ms(0.999),
            self.lost()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(entries: &[Message]) -> Vec<u8> {
        shared::encode(&Frame::messages(entries.to_vec()))
    }

    #[test]
    fn scan_reads_the_send_times_the_full_decoder_would() {
        let ms = [
            Message::new("b1x0", "ALL", 5, "123 xxxx"),
            Message::new("we\"ird", "ALL", -1, "not a stamp"),
            Message::new("b1x1", "ALL", 7, "456 caf\u{e9} \"quoted\""),
        ];
        let mut seen = Vec::new();
        assert_eq!(scan(&frame(&ms), |t| seen.push(t)), Some(2));
        assert_eq!(seen, [123, 456]);
        // presence is skipped unread; anything else is left to the full decoder
        let joined = Frame { users_joined: Some(vec!["a".into()]), ..Frame::default() };
        assert_eq!(scan(&shared::encode(&joined), |_| {}), Some(0));
        assert_eq!(scan(&shared::encode(&Frame::error("x")), |_| {}), None);
        assert_eq!(scan(br#"{"MESSAGES":[["a","ALL",1,"2 x"]],"INFO":"y"}"#, |_| {}), None);
    }

    #[test]
    fn logins_carry_the_proof_auth_asks_for() {
        let tokens = vec!["t0".to_owned(), "t1".to_owned()];
        let plain = login_frame(Auth::None, 1, &tokens);
        assert_eq!(plain, Frame { username: Some(client_name(1)), ..Frame::default() });
        let account = Some(vec!["account".to_owned()]);
        let password = login_frame(Auth::Password, 1, &tokens);
        assert_eq!(password.features, account);
        assert_eq!(password.password.as_deref(), Some(BENCH_PASSWORD));
        assert_eq!(password.token, None);
        let token = login_frame(Auth::Token, 1, &tokens);
        assert_eq!(token.features, account);
        assert_eq!((token.password, token.token.as_deref()), (None, Some("t1")));
        assert!(shared::validate::validate_password(BENCH_PASSWORD).is_ok());
    }

    #[test]
    fn this_runs_client_names_are_told_from_others() {
        assert!(is_client_name(&client_name(0)) && is_client_name(&client_name(1234)));
        let pid = std::process::id();
        for other in
            [format!("b{pid}w"), format!("b{pid}x"), format!("b{}x1", pid + 1), "ann".into()]
        {
            assert!(!is_client_name(&other), "{other}");
        }
    }

    #[test]
    fn cpu_over_a_phase_is_per_process_and_missing_readings_stay_missing() {
        let before = Cpu { nodes: vec![Some(1.0), Some(2.0)], nats: Some(0.5), postgres: None };
        let after = Cpu { nodes: vec![Some(1.5), Some(3.0)], nats: Some(0.75), postgres: None };
        let used = after.since(&before);
        assert_eq!(used.nodes, [Some(0.5), Some(1.0)]);
        assert_eq!((used.nats, used.postgres), (Some(0.25), None));
        assert_eq!(used.servers(), Some(1.5));
        assert_eq!(used.total(), Some(1.75));
        let gone = Cpu { nodes: vec![Some(1.5), None], nats: None, postgres: None };
        assert_eq!(gone.since(&before).servers(), None, "a node without a reading");
        let none = Cpu { nodes: vec![], nats: Some(1.0), postgres: None };
        assert_eq!((none.servers(), none.total()), (None, None));
        let me = std::process::id();
        assert!(cpu_sum(&[me, me]).is_some_and(|t| t >= 0.0) && cpu_sum(&[]).is_none());
        assert!(rss_kib(&[me]).is_some_and(|k| k > 0) && rss_kib(&[]).is_none());
    }

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        // A command name with spaces and a parenthesis; utime 250 and stime 50 ticks.
        let stat = "4242 (chatter box) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 \
                    9 0 123 456789 321 18446744073709551615";
        assert_eq!(cpu_secs_of(stat), Some(3.0));
        assert_eq!(cpu_secs_of("4242 (short"), None);
        let me = cpu_secs(std::process::id()).expect("this process's /proc/PID/stat");
        assert!(me >= 0.0);
    }
}
