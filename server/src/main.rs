//! `chatterbox-server`: reads the options (command line, environment, configuration file)
//! and runs the server library.
//!
//! Every option can also come from a TOML file named by `--config`, under the long option's
//! name (`web-port = 8443`, `operator = ["opal"]`, `host = "chat.example"` for the
//! positional HOST). An option given on the command line (or, for `--cluster` and
//! `--database`, in the environment) wins over the file, and the file over the defaults. A
//! key the server does not know stops it at start-up with the key's name.

use std::ffi::OsString;
use std::io::Read as _;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use chatterbox_server::cluster::{BusSettings, DEFAULT_PREFIX, check_prefix, check_replicas};
use chatterbox_server::config::{
    ClusterConfig, DEFAULT_FLOOD, DEFAULT_HISTORY, DEFAULT_LOGIN_RATE, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PER_ADDRESS, DEFAULT_PORT, DEFAULT_RESERVE, DEFAULT_SESSION, DEFAULT_WEB_PORT,
    FRAME_TIMEOUT, HANDSHAKE_TIMEOUT, IDLE_TIMEOUT, LOGIN_TIMEOUT,
};
use chatterbox_server::throttle::{Cidr, Rate};
use chatterbox_server::{Config, Server};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _, Parser};
use serde::Deserialize;

/// Largest configuration file read. A real one is a few dozen lines; anything near this is
/// the wrong file (a log, a binary) and is refused rather than read into memory.
const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;

/// Days a session token may be set to last: at least one (a shorter one would log people out
/// while they chat), at most ten years (beyond that "expiry" means nothing).
const SESSION_DAYS: RangeInclusive<u64> = 1..=3650;

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
///
/// Every option can also be set in a TOML file (--config) under its long name, e.g.
/// `web-port = 8443` or `operator = ["opal"]`; the command line wins over the file.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// A TOML file of options, keyed by their long names (`port = 9443`, `web-port = 8443`,
    /// `operator = ["opal"]`, `host = "chat.example"`). The command line wins over it; an
    /// unknown key stops the server.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
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
    /// Certificate chain (PEM) to serve instead of the development certificate (goes with
    /// --key).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Messages replayed to a user at login (public ones and the user's own private ones).
    #[arg(long, default_value_t = DEFAULT_HISTORY)]
    history: usize,
    /// Seconds after sending a message its author may still edit it (deleting has no limit).
    #[arg(long, value_name = "SECS", default_value_t = shared::limits::EDIT_WINDOW_SECS)]
    edit_window: i64,
    /// Largest file a user may send, in MiB (extension `files`).
    #[arg(long, value_name = "MB", default_value_t = chatterbox_server::files::DEFAULT_MAX_FILE_MB)]
    max_file_mb: u64,
    /// Space each user's files may take, in MiB (a file sent twice counts twice).
    #[arg(long, value_name = "MB", default_value_t = chatterbox_server::files::DEFAULT_QUOTA_MB)]
    quota_mb: u64,
    /// Directory of the files users send (default: `files` in the data directory). In a
    /// cluster, a directory every node shares (a network file system).
    #[arg(long)]
    files_dir: Option<PathBuf>,
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
          value_parser = clap::value_parser!(u64).range(SESSION_DAYS))]
    session_days: u64,
    /// A registered account that may kick, ban and mute (repeatable).
    #[arg(long, value_name = "NAME")]
    operator: Vec<String>,
    /// Cluster mode: the NATS server (with JetStream) the servers of a cluster share, e.g.
    /// nats://nats.internal:4222. Goes with --database.
    #[arg(long, value_name = "URL", env = "CHATTERBOX_CLUSTER", hide_env_values = true)]
    cluster: Option<String>,
    /// Cluster mode: the PostgreSQL database the servers of a cluster share, e.g.
    /// postgres://chatterbox:PASSWORD@db.internal/chatterbox. Goes with --cluster.
    #[arg(long, value_name = "URL", env = "CHATTERBOX_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// Cluster mode: the prefix of the names of the stream, its subject and the key-value
    /// buckets on NATS (letters, digits, `_`, `-`), so that clusters sharing one NATS keep
    /// apart. Every node of a cluster gives the same.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_PREFIX)]
    cluster_prefix: String,
    /// Cluster mode: replicas NATS keeps of the stream and buckets: 1 for a single NATS
    /// server, 3 for a NATS cluster of three (at most 5). Used when they are created.
    #[arg(long, value_name = "N", default_value_t = 1)]
    cluster_replicas: usize,
}

/// The configuration file: the options under their long names, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileArgs {
    host: Option<String>,
    port: Option<u16>,
    web_port: Option<u16>,
    no_web: Option<bool>,
    allow_origin: Option<Vec<String>>,
    data_dir: Option<PathBuf>,
    certs_dir: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    history: Option<usize>,
    edit_window: Option<i64>,
    max_file_mb: Option<u64>,
    quota_mb: Option<u64>,
    files_dir: Option<PathBuf>,
    max_connections: Option<usize>,
    handshake_timeout: Option<u64>,
    login_timeout: Option<u64>,
    idle_timeout: Option<u64>,
    frame_timeout: Option<u64>,
    flood_burst: Option<u32>,
    flood_rate: Option<f64>,
    login_burst: Option<u32>,
    login_rate: Option<f64>,
    max_per_address: Option<usize>,
    exempt_address: Option<Vec<String>>,
    insecure_plaintext_port: Option<u16>,
    reserve_minutes: Option<u64>,
    session_days: Option<u64>,
    operator: Option<Vec<String>>,
    cluster: Option<String>,
    database: Option<String>,
    cluster_prefix: Option<String>,
    cluster_replicas: Option<usize>,
}

/// The configuration from the command line `argv` (the program's name first) and the
/// environment, and from the configuration file it names, whose text `read` gives.
fn load(
    argv: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    read: impl FnOnce(&Path) -> anyhow::Result<String>,
) -> anyhow::Result<Config> {
    let matches = Args::command().try_get_matches_from(argv)?;
    let mut args = Args::from_arg_matches(&matches)?;
    if let Some(path) = args.config.clone() {
        let text = read(&path)?;
        let in_file = || format!("configuration file {}", path.display());
        let file: FileArgs = toml::from_str(&text).with_context(in_file)?;
        merge(&mut args, &matches, file).with_context(in_file)?;
    }
    config(args)
}

/// Fills in from `file` every option not given on the command line or in the environment.
fn merge(args: &mut Args, matches: &ArgMatches, mut file: FileArgs) -> anyhow::Result<()> {
    let given = |id: &str| {
        matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    macro_rules! from_file {
        ($($field:ident),* $(,)?) => {$(
            if let Some(v) = file.$field.take() && !given(stringify!($field)) {
                args.$field = v.into();
            }
        )*};
    }
    from_file!(
        host,
        port,
        allow_origin,
        data_dir,
        certs_dir,
        cert,
        key,
        history,
        edit_window,
        max_file_mb,
        quota_mb,
        files_dir,
        max_connections,
        handshake_timeout,
        login_timeout,
        idle_timeout,
        frame_timeout,
        flood_burst,
        flood_rate,
        login_burst,
        login_rate,
        max_per_address,
        insecure_plaintext_port,
        reserve_minutes,
        session_days,
        operator,
        cluster,
        database,
        cluster_prefix,
        cluster_replicas,
    );
    if let Some(list) = file.exempt_address.take()
        && !given("exempt_address")
    {
        args.exempt_address = list
            .iter()
            .map(|s| s.parse::<Cidr>().with_context(|| format!("exempt-address {s:?}")))
            .collect::<anyhow::Result<_>>()?;
    }
    // --web-port and --no-web are one choice: either on the command line replaces both keys.
    if file.no_web == Some(true) && file.web_port.is_some() {
        bail!("web-port and no-web contradict each other; keep one");
    }
    if !given("web_port") && !given("no_web") {
        from_file!(web_port, no_web);
    }
    Ok(())
}

/// The server's configuration from the options, once every source is merged.
fn config(args: Args) -> anyhow::Result<Config> {
    if args.cert.is_some() != args.key.is_some() {
        bail!(
            "--cert and --key go together: give both, or neither for the development certificate"
        );
    }
    if !SESSION_DAYS.contains(&args.session_days) {
        bail!(
            "--session-days {} is not in {}..={}",
            args.session_days,
            SESSION_DAYS.start(),
            SESSION_DAYS.end()
        );
    }
    // Checked whether or not cluster mode is on, so that a mistake shows before it matters.
    check_prefix(&args.cluster_prefix).map_err(|e| anyhow!("--cluster-prefix: {e}"))?;
    check_replicas(args.cluster_replicas).map_err(|e| anyhow!("--cluster-replicas: {e}"))?;
    let bus = BusSettings {
        prefix: args.cluster_prefix,
        replicas: args.cluster_replicas,
        ..BusSettings::default()
    };
    let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let cluster = match (non_empty(args.cluster), non_empty(args.database)) {
        (Some(nats_url), Some(database_url)) => Some(ClusterConfig { nats_url, database_url, bus }),
        (None, None) => None,
        (Some(_), None) => bail!(
            "--cluster and --database go together: --cluster is set but the database is \
             missing (--database, CHATTERBOX_DATABASE, or `database` in the configuration file)"
        ),
        (None, Some(_)) => bail!(
            "--cluster and --database go together: --database is set but the NATS server is \
             missing (--cluster, CHATTERBOX_CLUSTER, or `cluster` in the configuration file)"
        ),
    };
    Ok(Config {
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
        edit_window: args.edit_window,
        max_file: args.max_file_mb.saturating_mul(1 << 20),
        quota: args.quota_mb.saturating_mul(1 << 20),
        files_dir: args.files_dir,
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
        cluster,
    })
}

/// The text of the configuration file at `path`, up to [`MAX_CONFIG_FILE_BYTES`].
fn read_config_file(path: &Path) -> anyhow::Result<String> {
    let in_file = || format!("configuration file {}", path.display());
    let file = std::fs::File::open(path).with_context(in_file)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_FILE_BYTES + 1).read_to_string(&mut text).with_context(in_file)?;
    if text.len() as u64 > MAX_CONFIG_FILE_BYTES {
        bail!(
            "{}: larger than {MAX_CONFIG_FILE_BYTES} bytes; is it the right file?",
            path.display()
        );
    }
    tracing::info!("reading options from {}", path.display());
    Ok(text)
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
    let config = match load(std::env::args_os(), read_config_file) {
        Ok(config) => config,
        // --help, --version and mistakes on the command line: clap's own output and status.
        Err(e) => match e.downcast::<clap::Error>() {
            Ok(clap) => clap.exit(),
            Err(e) => return Err(e),
        },
    };
    if let Some(cluster) = &config.cluster {
        tracing::info!(
            nats = %cluster.nats_url_redacted(),
            database = %cluster.database_url_redacted(),
            prefix = %cluster.bus.prefix,
            replicas = cluster.bus.replicas,
            "cluster mode"
        );
    }
    // Every connection is a file descriptor: use all the system allows (the soft limit is
    // often 1,024, far below --max-connections).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if n < config.max_connections as u64 + 64 => tracing::warn!(
            limit = n,
            "the open-file limit is below --max-connections; connections beyond it will fail"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration from these arguments (after the program's name) and, if they name
    /// one, a configuration file holding `file`.
    fn load_with(argv: &[&str], file: &str) -> anyhow::Result<Config> {
        let argv = std::iter::once("chatterbox-server").chain(argv.iter().copied());
        load(argv, |path| {
            assert_eq!(path, Path::new("chat.toml"));
            Ok(file.to_owned())
        })
    }

    /// The whole error (every cause) refusing these arguments and file.
    fn refusal(argv: &[&str], file: &str) -> String {
        format!("{:#}", load_with(argv, file).expect_err("refused"))
    }

    #[test]
    fn without_a_file_the_defaults_hold() {
        let c = load(["chatterbox-server"], |_| panic!("no file to read")).expect("loads");
        assert_eq!(c.port, DEFAULT_PORT);
        assert_eq!(c.web_port, Some(DEFAULT_WEB_PORT));
        assert_eq!(c.reserve, DEFAULT_RESERVE);
        assert!(c.cluster.is_none());
    }

    #[test]
    fn the_file_fills_in_what_the_command_line_does_not_give() {
        let file = r#"
            host = "127.0.0.1"
            port = 7000
            web-port = 7001
            reserve-minutes = 0
            session-days = 7
            operator = ["opal", "onyx"]
            exempt-address = ["10.0.0.0/8"]
            flood-rate = 5
            idle-timeout = 0
            data-dir = "/var/lib/chatterbox"
        "#;
        let c = load_with(&["--config", "chat.toml"], file).expect("loads");
        assert_eq!(c.host, "127.0.0.1");
        assert_eq!(c.port, 7000);
        assert_eq!(c.web_port, Some(7001));
        assert_eq!(c.reserve, Duration::ZERO);
        assert_eq!(c.session, Duration::from_secs(7 * 86_400));
        assert_eq!(c.operators, ["opal", "onyx"]);
        assert_eq!(c.exempt, vec!["10.0.0.0/8".parse::<Cidr>().expect("cidr")]);
        assert_eq!(c.flood.map(|r| r.per_second), Some(5.0));
        assert_eq!(c.idle_timeout, Duration::ZERO);
        assert_eq!(c.data_dir, Path::new("/var/lib/chatterbox"));
        assert_eq!(c.history, DEFAULT_HISTORY, "what neither gives keeps its default");
    }

    #[test]
    fn the_command_line_wins_over_the_file() {
        let file = r#"
            host = "127.0.0.1"
            port = 7000
            operator = ["opal", "onyx"]
            reserve-minutes = 0
        "#;
        let argv = [
            "::1",
            "--config",
            "chat.toml",
            "-p",
            "7100",
            "--operator",
            "ruby",
            "--reserve-minutes",
            "5",
        ];
        let c = load_with(&argv, file).expect("loads");
        assert_eq!(c.host, "::1");
        assert_eq!(c.port, 7100);
        assert_eq!(c.operators, ["ruby"], "a repeatable option replaces the file's list");
        assert_eq!(c.reserve, Duration::from_secs(300));
        // a value equal to the default given on the command line still wins
        let c = load_with(&["--config", "chat.toml", "--port", "9443"], file).expect("loads");
        assert_eq!(c.port, 9443);
    }

    #[test]
    fn web_port_and_no_web_are_one_choice() {
        let c = load_with(&["--config", "chat.toml"], "no-web = true").expect("loads");
        assert_eq!(c.web_port, None);
        let c = load_with(&["--config", "chat.toml", "--web-port", "7001"], "no-web = true")
            .expect("the command line's port replaces the file's no-web");
        assert_eq!(c.web_port, Some(7001));
        let c =
            load_with(&["--config", "chat.toml", "--no-web"], "web-port = 7001").expect("loads");
        assert_eq!(c.web_port, None);
        let e = refusal(&["--config", "chat.toml"], "no-web = true\nweb-port = 7001");
        assert!(e.contains("web-port and no-web"), "{e}");
    }

    #[test]
    fn every_option_has_its_key_in_the_file() {
        for arg in Args::command().get_arguments() {
            let id = arg.get_id().as_str();
            if ["config", "help", "version"].contains(&id) {
                continue;
            }
            let key = id.replace('_', "-");
            // A table is the wrong type for every key: the error must be about the type.
            let e = toml::from_str::<FileArgs>(&format!("{key} = {{}}")).expect_err("a table");
            assert!(!e.to_string().contains("unknown field"), "no key for --{key}: {e}");
        }
    }

    #[test]
    fn an_unknown_key_stops_the_server_and_is_named() {
        let e = refusal(&["--config", "chat.toml"], "port = 7000\nreserve-minuets = 0\n");
        assert!(e.contains("chat.toml"), "{e}");
        assert!(e.contains("unknown field `reserve-minuets`"), "{e}");
        // the positional HOST is `host`; the file cannot name another file
        let e = refusal(&["--config", "chat.toml"], "config = \"other.toml\"");
        assert!(e.contains("unknown field `config`"), "{e}");
    }

    #[test]
    fn a_bad_value_in_the_file_names_its_key() {
        let e = refusal(&["--config", "chat.toml"], "port = \"high\"");
        assert!(e.contains("port") && e.contains("expected u16"), "{e}");
        let e = refusal(&["--config", "chat.toml"], "port = 70000");
        assert!(e.contains("port"), "{e}");
        let e = refusal(&["--config", "chat.toml"], "exempt-address = [\"10.1.2.3/8\"]");
        assert!(e.contains("exempt-address \"10.1.2.3/8\""), "{e}");
        let e = refusal(&["--config", "chat.toml"], "session-days = 0");
        assert!(e.contains("--session-days 0"), "{e}");
        let e = refusal(&["--config", "chat.toml"], "cert = \"c.pem\"");
        assert!(e.contains("--cert and --key go together"), "{e}");
        assert!(
            load_with(&["--config", "chat.toml", "--key", "k.pem"], "cert = \"c.pem\"").is_ok()
        );
    }

    #[test]
    fn cluster_and_database_go_together() {
        let nats = "nats://nats.internal:4222";
        let db = "postgres://chat:s3cret@db.internal/chat";
        let c = load_with(&["--cluster", nats, "--database", db], "").expect("loads");
        let cluster = c.cluster.expect("cluster mode");
        assert_eq!((cluster.nats_url.as_str(), cluster.database_url.as_str()), (nats, db));
        assert!(!format!("{cluster:?}").contains("s3cret"), "the password is never shown");

        let file = format!("cluster = \"{nats}\"\ndatabase = \"{db}\"");
        let c = load_with(&["--config", "chat.toml", "--cluster", "nats://other:4222"], &file)
            .expect("loads");
        let cluster = c.cluster.expect("cluster mode");
        assert_eq!(cluster.nats_url, "nats://other:4222", "the command line wins");
        assert_eq!(cluster.database_url, db, "the file fills in the rest");

        assert_eq!(cluster.bus, BusSettings::default(), "prefix chatterbox, one replica");

        let e = refusal(&["--cluster", nats], "");
        assert!(e.starts_with("--cluster and --database go together: "), "{e}");
        let e = refusal(&["--config", "chat.toml"], &format!("database = \"{db}\""));
        assert!(e.starts_with("--cluster and --database go together: "), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn the_cluster_prefix_and_replicas_come_from_either_source_and_are_checked() {
        let cluster = ["--cluster", "nats://n:4222", "--database", "postgres://db/chat"];
        let argv = [&cluster[..], &["--cluster-prefix", "prod-eu_1", "--cluster-replicas", "3"]];
        let c = load_with(&argv.concat(), "").expect("loads");
        let bus = c.cluster.expect("cluster mode").bus;
        assert_eq!((bus.prefix.as_str(), bus.replicas), ("prod-eu_1", 3));

        let file = "cluster-prefix = \"staging\"\ncluster-replicas = 5";
        let argv = [&cluster[..], &["--config", "chat.toml", "--cluster-replicas", "1"]];
        let bus = load_with(&argv.concat(), file).expect("loads").cluster.expect("cluster").bus;
        assert_eq!((bus.prefix.as_str(), bus.replicas), ("staging", 1), "the command line wins");

        let e = refusal(&[&cluster[..], &["--cluster-prefix", "prod.eu"]].concat(), "");
        assert!(e.starts_with("--cluster-prefix: \"prod.eu\" is not a prefix"), "{e}");
        let e = refusal(&["--config", "chat.toml"], "cluster-prefix = \"\"");
        assert!(e.starts_with("--cluster-prefix: "), "{e}");
        let e = refusal(&["--config", "chat.toml"], "cluster-replicas = 0");
        assert!(e.starts_with("--cluster-replicas: 0 replicas"), "{e}");
        let e = refusal(&[&cluster[..], &["--cluster-replicas", "7"]].concat(), "");
        assert!(e.contains("JetStream keeps 1 to 5"), "{e}");
    }
}
