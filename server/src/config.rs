//! Server configuration and the limits that protect it.
//!
//! [`Config`] holds what an operator chooses (addresses, directories, history length, how many
//! connections); the `const`s hold limits that follow from the design and need no tuning.

use std::path::PathBuf;
use std::time::Duration;

use crate::throttle::{Cidr, Rate};

/// Default port of the native TLS protocol.
pub const DEFAULT_PORT: u16 = 9443;

/// Default port of the web gateway (HTTPS for the browser client, WebSocket at `/ws`).
pub const DEFAULT_WEB_PORT: u16 = 8443;

/// Default number of messages replayed to a user who logs in.
///
/// A thousand lines is several screens of scrollback, enough to catch up on a conversation,
/// while the login reply stays a few hundred KiB at ordinary message sizes.
pub const DEFAULT_HISTORY: usize = 1000;

/// Default limit on simultaneous connections (logged in or not).
///
/// Each connection costs a file descriptor and a few KiB; 10,000 fits the usual descriptor
/// limits of a small host. Raise it with `--max-connections` on a host that allows more.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Time a client has to finish the TLS handshake.
///
/// A handshake takes a few round trips; ten seconds covers slow mobile links, and a peer that
/// stalls mid-handshake (slowloris) holds its connection slot no longer than that.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a connection may stay without a login, counted from the connection or from its
/// latest refused attempt, so that a person retyping a refused name is not cut off.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Default flood control per connection: bursts of 30 messages (a pasted paragraph), then 10
/// a second. Faster senders are slowed down (told once with an ERROR), never cut off or lost.
pub const DEFAULT_FLOOD: Rate = Rate { burst: 30, per_second: 10.0 };

/// Default login attempts per client address: 60 at once (an office behind one NAT coming
/// back together after a restart), then 10 a second. Slows down name guessing and connection
/// storms from one address while the shared conformance suite passes at the defaults.
pub const DEFAULT_LOGIN_RATE: Rate = Rate { burst: 60, per_second: 10.0 };

/// Default connections per client address. Enough for a household or an office behind one
/// address; one host cannot take all of `--max-connections`.
pub const DEFAULT_MAX_PER_ADDRESS: usize = 256;

/// Default time a logged-in connection may go without any traffic, either way, before it is
/// closed. Quiet people are normal in a chat and a reader of a busy room is not idle, so this
/// is long; it frees what forgotten connections hold (TCP keepalive finds dead peers sooner).
/// The terminal client reconnects by itself if it happens.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Time a frame may stay incomplete once its first bytes have arrived: a peer trickling a
/// frame byte by byte (slowloris) is cut off after this, however long the idle timeout.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(30);

/// TCP keepalive: probes start after this much silence and repeat every [`KEEPALIVE_INTERVAL`],
/// so a peer that vanished (power off, cable out) is found within about two minutes even in a
/// quiet room.
pub const KEEPALIVE_TIME: Duration = Duration::from_secs(60);

/// Interval between TCP keepalive probes.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// Time one write to a peer may take before the peer is considered gone.
///
/// A healthy peer drains a frame in milliseconds; one whose window stays shut this long is
/// not reading, and holding its connection only holds memory.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Time allowed for the goodbye notice to a client at shutdown or disconnection.
pub const GOODBYE_TIMEOUT: Duration = Duration::from_millis(500);

/// Entries (messages or other frames) that may wait in one connection's outbox.
///
/// A reader keeping up has only a few queued, but one group commit releases up to
/// [`STORE_BATCH`] messages at once, so the outbox holds several commits' worth (4×) before a
/// client counts as too slow. A client this far behind is disconnected with an ERROR instead
/// of stalling others or growing the server's memory. Entries are shared between recipients,
/// so a full outbox holds references (40 bytes a slot, allocated as it fills), not copies.
pub const OUTBOX_CAPACITY: usize = 4 * STORE_BATCH;

/// Most outbox entries a connection takes per wake-up and merges into frames.
///
/// Merging many queued messages into one `MESSAGES` frame saves frames, TLS records and
/// system calls; 256 caps the latency the first of them waits for the last.
pub const OUTBOX_BATCH: usize = 256;

/// Commands that may wait for the hub.
///
/// Sessions wait (and so stop reading their sockets) when it is full: the server's
/// backpressure reaches senders through TCP instead of through memory.
pub const HUB_QUEUE: usize = 4096;

/// Operations that may wait for the store's writer thread. The hub waits when it is full.
pub const STORE_QUEUE: usize = 8192;

/// Most operations the writer commits in one transaction (group commit).
///
/// Large enough that one fsync-free commit amortises well over many messages (over 100,000
/// messages a second), small enough that what one commit releases fits in every outbox.
pub const STORE_BATCH: usize = 1024;

/// SQLite connections kept for reading history, which run beside the writer (WAL mode).
pub const STORE_READERS: usize = 4;

/// Time shutdown waits for connections to say goodbye and the writer to commit, so that the
/// process exits within two seconds of SIGINT or SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// What to listen on, where to keep state, and how much to allow.
/// How long a name stays reserved for its address after its holder leaves (the seed's
/// "for some time"): half an hour covers a reconnect, a restart or a lunch break, and is
/// short enough that a name nobody uses comes free the same day.
pub const DEFAULT_RESERVE: Duration = Duration::from_secs(30 * 60);

/// How long a session token lasts after its last use: a month, as "remember me" does in
/// most products; someone away longer types the password once.
pub const DEFAULT_SESSION: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct Config {
    /// Host to resolve and listen on; empty means every interface (IPv4 and IPv6).
    pub host: String,
    /// TCP port of the native TLS protocol (0 picks a free one).
    pub port: u16,
    /// TCP port of the web gateway (0 picks a free one; `None`: no gateway).
    pub web_port: Option<u16>,
    /// Origins allowed to open the WebSocket besides the page's own (for development).
    pub allow_origins: Vec<String>,
    /// How often the gateway pings a WebSocket; one silent for twice this is closed.
    pub ws_ping: Duration,
    /// Directory of the SQLite database (`chatterbox.db`).
    pub data_dir: PathBuf,
    /// Directory of the generated development certificates.
    pub certs_dir: PathBuf,
    /// Certificate chain (PEM) to use instead of generated ones; goes with `key`.
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of `cert`.
    pub key: Option<PathBuf>,
    /// Messages replayed at login.
    pub history: usize,
    /// Seconds after sending a message its author may edit it (extension `edit`).
    pub edit_window: i64,
    /// Largest file a user may send, in bytes (extension `files`).
    pub max_file: u64,
    /// Bytes each user's files may take.
    pub quota: u64,
    /// Directory of the files (`None`: `files` in the data directory).
    pub files_dir: Option<PathBuf>,
    /// Simultaneous connections allowed.
    pub max_connections: usize,
    /// Time allowed for the TLS handshake ([`HANDSHAKE_TIMEOUT`] by default).
    pub handshake_timeout: Duration,
    /// Time allowed to log in ([`LOGIN_TIMEOUT`] by default).
    pub login_timeout: Duration,
    /// Time a logged-in connection may send nothing; zero: no limit.
    pub idle_timeout: Duration,
    /// Time a frame may stay incomplete once begun ([`FRAME_TIMEOUT`] by default).
    pub frame_timeout: Duration,
    /// Flood control per connection (`None`: off, for benchmarks).
    pub flood: Option<Rate>,
    /// Login attempts per client address (`None`: no limit).
    pub login_rate: Option<Rate>,
    /// Connections per client address.
    pub max_per_address: usize,
    /// Addresses under no per-address limit, neither connections nor login rate (a NAT or a
    /// reverse proxy that many people share).
    pub exempt: Vec<Cidr>,
    /// A plain-TCP port for the native protocol, for debugging only (`None`: none, the
    /// default). Messages on it travel unencrypted; the server warns when it is on.
    pub plaintext_port: Option<u16>,
    /// How long a name stays reserved for its address after its holder leaves (zero: off).
    pub reserve: Duration,
    /// How long a session token lasts after its last use.
    pub session: Duration,
    /// Names of registered accounts that are operators.
    pub operators: Vec<String>,
    /// Cluster mode (`None`: one server on its own).
    pub cluster: Option<ClusterConfig>,
}

/// Where the servers of a cluster meet: the message bus (NATS JetStream) and the shared
/// database (PostgreSQL).
///
/// The URLs may carry credentials: its `Debug` and the `*_redacted` methods hide them, and
/// nothing else should print the URLs.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The NATS server, e.g. `nats://nats.internal:4222`.
    pub nats_url: String,
    /// The PostgreSQL database, e.g. `postgres://chatterbox:secret@db.internal/chatterbox`.
    pub database_url: String,
    /// The names and settings of the stream and buckets on NATS.
    pub bus: crate::cluster::BusSettings,
}

impl ClusterConfig {
    /// The NATS URL without its credentials (a user's password, or a token as the user).
    pub fn nats_url_redacted(&self) -> String {
        redact_url(&self.nats_url, false)
    }

    /// The database URL without its password (the user name stays).
    pub fn database_url_redacted(&self) -> String {
        redact_url(&self.database_url, true)
    }
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("nats_url", &self.nats_url_redacted())
            .field("database_url", &self.database_url_redacted())
            .field("bus", &self.bus)
            .finish()
    }
}

/// What replaces a secret in a redacted URL.
const REDACTED: &str = "***";

/// `url` fit for a log: the password in `scheme://user:password@host` replaced by `***`
/// (with `keep_user` false the user too, as NATS takes a bare token there), and so is the
/// value of every `password=` parameter, in a URL's query or in a PostgreSQL key=value
/// connection string (`host=db password=secret`).
pub fn redact_url(url: &str, keep_user: bool) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    if let Some(scheme_end) = url.find("://") {
        let (scheme, after) = url.split_at(scheme_end + 3);
        out.push_str(scheme);
        let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, tail) = after.split_at(authority_end);
        // The last '@' ends the user information (a password may contain '@' unescaped).
        if let Some(at) = authority.rfind('@') {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) if keep_user => {
                    out.push_str(user);
                    out.push(':');
                    out.push_str(REDACTED);
                }
                None if keep_user => out.push_str(userinfo),
                _ => out.push_str(REDACTED),
            }
            out.push_str(host);
        } else {
            out.push_str(authority);
        }
        rest = tail;
    }
    redact_password_parameters(rest, &mut out);
    out
}

/// Copies `text` to `out` with the value of each `password=` parameter (in a query, up to
/// `&` or `#`; in a key=value string, up to white space, or quoted) replaced.
fn redact_password_parameters(mut text: &str, out: &mut String) {
    const KEY: &str = "password=";
    while let Some(found) = text.to_ascii_lowercase().find(KEY) {
        let starts_key = found == 0 || text[..found].ends_with([' ', '\t', '?', '&', ';']);
        let value_start = found + KEY.len();
        out.push_str(&text[..value_start]);
        text = &text[value_start..];
        if !starts_key {
            continue;
        }
        let value_end = if let Some(quoted) = text.strip_prefix('\'') {
            // A quoted key=value value: up to the closing quote not escaped by a backslash.
            let mut escaped = false;
            quoted
                .char_indices()
                .find(|&(_, c)| {
                    let end = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    end
                })
                .map_or(text.len(), |(i, _)| i + 2)
        } else {
            text.find([' ', '\t', '&', '#', ';']).unwrap_or(text.len())
        };
        out.push_str(REDACTED);
        text = &text[value_end..];
    }
    out.push_str(text);
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: String::new(),
            port: DEFAULT_PORT,
            web_port: Some(DEFAULT_WEB_PORT),
            allow_origins: Vec::new(),
            ws_ping: crate::transport::ws::PING_INTERVAL,
            data_dir: PathBuf::from("data"),
            certs_dir: PathBuf::from("certs"),
            cert: None,
            key: None,
            history: DEFAULT_HISTORY,
            edit_window: shared::limits::EDIT_WINDOW_SECS,
            max_file: crate::files::DEFAULT_MAX_FILE_MB << 20,
            quota: crate::files::DEFAULT_QUOTA_MB << 20,
            files_dir: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            login_timeout: LOGIN_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            frame_timeout: FRAME_TIMEOUT,
            flood: Some(DEFAULT_FLOOD),
            login_rate: Some(DEFAULT_LOGIN_RATE),
            max_per_address: DEFAULT_MAX_PER_ADDRESS,
            exempt: Vec::new(),
            plaintext_port: None,
            reserve: DEFAULT_RESERVE,
            session: DEFAULT_SESSION,
            operators: Vec::new(),
            cluster: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens_are_redacted_from_urls() {
        let db = |u: &str| redact_url(u, true);
        let nats = |u: &str| redact_url(u, false);
        assert_eq!(db("postgres://chat:s3cret@db:5432/chat"), "postgres://chat:***@db:5432/chat");
        assert_eq!(db("postgres://chat:p@ss@db/chat"), "postgres://chat:***@db/chat");
        assert_eq!(db("postgres://chat@db/chat"), "postgres://chat@db/chat");
        assert_eq!(db("postgres://db/chat"), "postgres://db/chat");
        assert_eq!(
            db("postgresql://db/chat?user=chat&password=s3cret&sslmode=require"),
            "postgresql://db/chat?user=chat&password=***&sslmode=require"
        );
        assert_eq!(db("host=db user=chat password=s3cret"), "host=db user=chat password=***");
        assert_eq!(
            db("host=db password='it\\'s secret' user=chat"),
            "host=db password=*** user=chat"
        );
        assert_eq!(db("host=db mypassword=x"), "host=db mypassword=x");
        assert_eq!(nats("nats://token@nats:4222"), "nats://***@nats:4222");
        assert_eq!(nats("nats://user:pw@nats:4222"), "nats://***@nats:4222");
        assert_eq!(nats("nats://nats:4222"), "nats://nats:4222");
        let c = ClusterConfig {
            nats_url: "nats://tok@n:4222".into(),
            database_url: "postgres://u:s3cret@db/c".into(),
            bus: crate::cluster::BusSettings::default(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret") && !shown.contains("tok"), "{shown}");
    }
}
