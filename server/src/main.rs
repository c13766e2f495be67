//! `chatterbox-server`: parses the command line and runs the server library.

use std::path::PathBuf;

use anyhow::Context as _;
use chatterbox_server::config::{
    DEFAULT_FLOOD, DEFAULT_HISTORY, DEFAULT_LOGIN_RATE, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PER_ADDRESS, DEFAULT_PORT, DEFAULT_RESERVE, DEFAULT_SESSION, DEFAULT_WEB_PORT,
    FRAME_TIMEOUT, HANDSHAKE_TIMEOUT, IDLE_TIMEOUT, LOGIN_TIMEOUT,
};
use chatterbox_server::throttle::{Cidr, Rate};
use chatterbox_server::{Config, Server};
use clap::Parser;
use std::time::Duration;

/// jemalloc, with a background thread (configured at build time in .cargo/config.toml) that
/// gives the pages freed after a burst (a crowd logging in, a flood of messages) back to the
/// system within about a second; with glibc's allocator the same idle server held about 1.6
/// times the memory per connection, and mimalloc did no better (docs/PERFORMANCE-NOTES.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Chatterbox chat server: the native protocol over TLS, history in SQLite.
///
/// On first run it creates a development CA and a certificate for localhost, 127.0.0.1 and ::1
/// in the certificates directory (clients trust ca.pem), and the database in the data
/// directory. Logging follows RUST_LOG (default: info).
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Host name or address to listen on; every address it resolves to is used. Empty or
    /// omitted: every interface, IPv4 and IPv6.
    #[arg(default_value = "")]
    host: String,
    /// TCP port of the native TLS protocol (0 picks a free port).
    #[arg(short, long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// TCP port of the web gateway: the browser client over HTTPS and its WebSocket at /ws
    /// (0 picks a free port).
    #[arg(long, default_value_t = DEFAULT_WEB_PORT)]
    web_port: u16,
    /// Run without the web gateway.
    #[arg(long, conflicts_with = "web_port")]
    no_web: bool,
    /// An origin allowed to open the WebSocket besides the page's own, e.g.
    /// http://localhost:8080 for `trunk serve` (repeatable).
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
    /// Directory of the SQLite database (chatterbox.db).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Directory of the generated development certificates (ca.pem, server.pem, server-key.pem).
    #[arg(long, default_value = "certs")]
    certs_dir: PathBuf,
    /// Certificate chain (PEM) to serve instead of the development certificate.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Messages replayed to a user at login (public ones and the user's own private ones).
    #[arg(long, default_value_t = DEFAULT_HISTORY)]
    history: usize,
    /// Simultaneous connections allowed; further ones are closed at once.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds a client has to complete the TLS handshake.
    #[arg(long, value_name = "SECS", default_value_t = HANDSHAKE_TIMEOUT.as_secs())]
    handshake_timeout: u64,
    /// Seconds a connection may stay without logging in (counted again after a refused name).
    #[arg(long, value_name = "SECS", default_value_t = LOGIN_TIMEOUT.as_secs())]
    login_timeout: u64,
    /// Seconds a logged-in connection may go without traffic either way before it is closed
    /// (0: never).
    #[arg(long, value_name = "SECS", default_value_t = IDLE_TIMEOUT.as_secs())]
    idle_timeout: u64,
    /// Seconds a frame may stay incomplete once its first bytes have arrived (slowloris).
    #[arg(long, value_name = "SECS", default_value_t = FRAME_TIMEOUT.as_secs())]
    frame_timeout: u64,
    /// Flood control: messages one connection may send at once before it is slowed down
    /// (0 turns flood control off, e.g. for benchmarks).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FLOOD.burst)]
    flood_burst: u32,
    /// Flood control: messages a second one connection may send in the long run; faster
    /// senders are delayed (and told so), never cut off.
    #[arg(long, value_name = "PER_SEC", default_value_t = DEFAULT_FLOOD.per_second)]
    flood_rate: f64,
    /// Login attempts one client address may make at once (0: no limit).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LOGIN_RATE.burst)]
    login_burst: u32,
    /// Login attempts a second one client address may make in the long run.
    #[arg(long, value_name = "PER_SEC", default_value_t = DEFAULT_LOGIN_RATE.per_second)]
    login_rate: f64,
    /// Connections one client address may hold at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PER_ADDRESS)]
    max_per_address: usize,
    /// An address or block (CIDR: 192.0.2.0/24, 2001:db8::/32) under no per-address limit,
    /// neither --max-per-address nor the login rate: a NAT or reverse proxy many people share
    /// (repeatable).
    #[arg(long, value_name = "CIDR")]
    exempt_address: Vec<Cidr>,
    /// DEBUGGING ONLY: also serve the native protocol without TLS on this port. Messages and
    /// names travel unencrypted; the server logs a warning.
    #[arg(long, value_name = "PORT")]
    insecure_plaintext_port: Option<u16>,
    /// Minutes a name stays reserved for the address that last held it after its user
    /// leaves; 0 turns reservation off.
    #[arg(long, value_name = "MINUTES", default_value_t = DEFAULT_RESERVE.as_secs() / 60)]
    reserve_minutes: u64,
    /// Days a session token lasts after its last use.
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_SESSION.as_secs() / 86_400,
          value_parser = clap::value_parser!(u64).range(1..=3650))]
    session_days: u64,
    /// A registered account that may kick, ban and mute (repeatable).
    #[arg(long, value_name = "NAME")]
    operator: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    // Every connection is a file descriptor: use all the system allows (the soft limit is
    // often 1,024, far below --max-connections).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if n < args.max_connections as u64 + 64 => tracing::warn!(
            limit = n,
            "the open-file limit is below --max-connections; connections beyond it will fail"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
    let config = Config {
        host: args.host,
        port: args.port,
        web_port: (!args.no_web).then_some(args.web_port),
        allow_origins: args.allow_origin,
        ws_ping: chatterbox_server::transport::ws::PING_INTERVAL,
        data_dir: args.data_dir,
        certs_dir: args.certs_dir,
        cert: args.cert,
        key: args.key,
        history: args.history,
        max_connections: args.max_connections,
        handshake_timeout: Duration::from_secs(args.handshake_timeout),
        login_timeout: Duration::from_secs(args.login_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        frame_timeout: Duration::from_secs(args.frame_timeout).max(Duration::from_secs(1)),
        flood: (args.flood_burst > 0)
            .then_some(Rate { burst: args.flood_burst, per_second: args.flood_rate }),
        login_rate: (args.login_burst > 0)
            .then_some(Rate { burst: args.login_burst, per_second: args.login_rate }),
        max_per_address: args.max_per_address,
        exempt: args.exempt_address,
        plaintext_port: args.insecure_plaintext_port,
        reserve: Duration::from_secs(args.reserve_minutes.saturating_mul(60)),
        session: Duration::from_secs(args.session_days.saturating_mul(86_400)),
        operators: args.operator,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let server = Server::bind(config).await.context("starting the server")?;
        if let Some(ca) = server.ca_path() {
            tracing::info!("clients trust the development CA at {}", ca.display());
        }
        server.run(shutdown_signal()).await.context("serving")
    })?;
    // Sessions stuck past the grace period are dropped with the runtime.
    runtime.shutdown_timeout(Duration::from_millis(200));
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
