//! The command line, and the list of servers in it.

use std::ffi::OsString;
use std::fmt;
use std::net::Ipv6Addr;
use std::path::PathBuf;

use clap::Parser;

/// Default port of Chatterbox servers.
pub const DEFAULT_PORT: u16 = 9443;

/// Most servers one command line may list. Each failed one costs up to two connect timeouts
/// (TCP, then TLS) before the next is tried and the backoff applies only once every one has
/// failed, so a longer list mostly makes an unreachable cluster slower to notice; a cluster of
/// more nodes is better put behind a load balancer (see the README).
pub const MAX_SERVERS: usize = 16;

/// Chatterbox terminal client.
///
/// A full-screen chat when run in a terminal; one line per event on stdout (reading lines from
/// stdin) when stdin or stdout is not a terminal, or with --plain. Type /help once connected.
#[derive(Debug, Clone, Parser)]
#[command(name = "chatterbox", version, about, long_about)]
pub struct Args {
    /// Server: a host name or address, HOST:PORT, or [IPv6]:PORT; every address a name
    /// resolves to is tried in turn. Several servers (the nodes of a cluster) are separated by
    /// commas, e.g. a.example:9443,b.example:9444,c.example: the first that connects is used,
    /// and after a lost connection the next one in the list is tried first.
    #[arg(default_value = "localhost", value_name = "SERVER[,SERVER...]")]
    pub server: String,
    /// Server port, for the servers given without one.
    #[arg(short, long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// CA certificate (PEM) to trust besides the system's, e.g. the server's certs/ca.pem.
    /// The spelling -ca FILE works too.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Username to log in with (otherwise the client asks).
    #[arg(short, long)]
    pub username: Option<String>,
    /// Log in to a registered name: the client asks for its password without showing it (in
    /// plain mode it reads the password from the terminal, or from the environment variable
    /// CHATTERBOX_PASSWORD when that is set). A password is never given on the command line,
    /// where other users of the machine could read it.
    #[arg(long)]
    pub password: bool,
    /// Line mode even in a terminal.
    #[arg(long)]
    pub plain: bool,
}

impl Args {
    /// The servers to connect to, in the order given; `-p` (or the default port) for those
    /// without a port of their own.
    pub fn servers(&self) -> Result<Vec<Server>, ServerListError> {
        parse_servers(&self.server, self.port)
    }

    /// The servers as the status line shows them before the first connection.
    pub fn server_label(&self) -> String {
        match self.servers() {
            Ok(list) => list.iter().map(Server::to_string).collect::<Vec<_>>().join(", "),
            Err(_) => self.server.clone(),
        }
    }
}

/// One server of the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Its host name or address (an IPv6 address without brackets).
    pub host: String,
    /// Its port.
    pub port: u16,
}

impl fmt::Display for Server {
    /// `host:port`, `[IPv6]:port`: what the user would type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why the server argument is not a list of servers. The text says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerListError {
    /// One entry is not a server.
    #[error(
        "{entry:?} is not a server: {why} (write HOST, HOST:PORT or [IPv6]:PORT, several \
         separated by commas)"
    )]
    Entry {
        /// The entry, as given.
        entry: String,
        /// What is wrong with it.
        why: String,
    },
    /// An entry is empty: two commas in a row, one at an end, or an empty argument.
    #[error("a server is missing in {0:?} (two commas in a row, or one at an end?)")]
    Missing(String),
    /// The list is longer than [`MAX_SERVERS`].
    #[error("{0} servers given; at most {MAX_SERVERS} (put more behind a load balancer)")]
    TooMany(usize),
}

/// Parses `host`, `host:port`, `[IPv6]:port` (or a bare IPv6 address), several separated by
/// commas (spaces around them allowed); `default_port` for entries without a port.
pub fn parse_servers(list: &str, default_port: u16) -> Result<Vec<Server>, ServerListError> {
    let entries: Vec<&str> = list.split(',').map(str::trim).collect();
    if entries.len() > MAX_SERVERS {
        return Err(ServerListError::TooMany(entries.len()));
    }
    if entries.iter().any(|e| e.is_empty()) {
        return Err(ServerListError::Missing(list.to_owned()));
    }
    entries
        .into_iter()
        .map(|entry| {
            parse_server(entry, default_port)
                .map_err(|why| ServerListError::Entry { entry: entry.to_owned(), why })
        })
        .collect()
}

/// One entry of the list, or why it is not one.
fn parse_server(entry: &str, default_port: u16) -> Result<Server, String> {
    if entry.contains("://") {
        return Err("a server is a host and a port, not a URL".into());
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("the bracket is not closed")?;
        host.parse::<Ipv6Addr>().map_err(|_| format!("{host:?} is not an IPv6 address"))?;
        let port = match after {
            "" => default_port,
            _ => port(after.strip_prefix(':').ok_or("only :PORT may follow the brackets")?)?,
        };
        return Ok(Server { host: host.to_owned(), port });
    }
    let (host, port) = match entry.split_once(':') {
        None => (entry, default_port),
        Some((host, p)) if !p.contains(':') => (host, port(p)?),
        Some(_) if entry.parse::<Ipv6Addr>().is_ok() => (entry, default_port),
        Some(_) => return Err("an IPv6 address with a port goes in brackets: [::1]:9443".into()),
    };
    if host.is_empty() {
        return Err("the host is missing".into());
    }
    if let Some(c) = host.chars().find(|c| !(c.is_ascii_alphanumeric() || "-._:".contains(*c))) {
        return Err(format!("{c:?} cannot be in a host name"));
    }
    Ok(Server { host: host.to_owned(), port })
}

/// A port number from 1 to 65535.
fn port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{text:?} is not a port (1 to 65535)")),
    }
}

/// Rewrites the seed's single-dash `-ca FILE` (and `-ca=FILE`) to `--ca`.
pub fn normalize(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| match a.to_str() {
            Some("-ca") => OsString::from("--ca"),
            Some(s) if s.starts_with("-ca=") => OsString::from(format!("-{s}")),
            _ => a,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Args {
        Args::parse_from(normalize(line.split_whitespace().map(OsString::from)))
    }

    #[test]
    fn defaults_and_the_seed_spelling() {
        let a = parse("chatterbox");
        assert_eq!((a.server.as_str(), a.port, a.ca, a.plain), ("localhost", 9443, None, false));
        let a = parse("chatterbox example.org -p 9000 -ca certs/ca.pem --username ann --plain");
        assert_eq!(a.server, "example.org");
        assert_eq!(a.port, 9000);
        assert_eq!(a.ca, Some(PathBuf::from("certs/ca.pem")));
        assert_eq!(a.username.as_deref(), Some("ann"));
        assert!(a.plain);
        assert_eq!(parse("chatterbox -ca=x.pem").ca, Some(PathBuf::from("x.pem")));
        assert_eq!(parse("chatterbox --ca y.pem").ca, Some(PathBuf::from("y.pem")));
        assert!(!a.password);
    }

    fn server(host: &str, port: u16) -> Server {
        Server { host: host.into(), port }
    }

    #[test]
    fn one_server_as_before_and_several_separated_by_commas() {
        let a = parse("chatterbox example.org -p 9000");
        assert_eq!(a.servers(), Ok(vec![server("example.org", 9000)]));
        assert_eq!(parse("chatterbox").servers(), Ok(vec![server("localhost", DEFAULT_PORT)]));
        // a port of its own wins over -p, which is the default of the others
        let a = parse("chatterbox host1:6667,host2:6668,host3 -p 7000");
        let want = vec![server("host1", 6667), server("host2", 6668), server("host3", 7000)];
        assert_eq!(a.servers(), Ok(want));
        assert_eq!(a.server_label(), "host1:6667, host2:6668, host3:7000");
        assert_eq!(
            parse_servers(" a.example , 10.0.0.2:1 ", 9443),
            Ok(vec![server("a.example", 9443), server("10.0.0.2", 1)]),
            "spaces around the commas are allowed"
        );
    }

    #[test]
    fn ipv6_addresses_with_and_without_brackets() {
        assert_eq!(parse_servers("::1", 9443), Ok(vec![server("::1", 9443)]));
        assert_eq!(parse_servers("[::1]", 9443), Ok(vec![server("::1", 9443)]));
        let list = parse_servers("[2001:db8::7]:6667,[::1],localhost", 9443).expect("list");
        assert_eq!(
            list,
            [server("2001:db8::7", 6667), server("::1", 9443), server("localhost", 9443)]
        );
        assert_eq!(list[0].to_string(), "[2001:db8::7]:6667", "shown as typed");
        assert_eq!(list[2].to_string(), "localhost:9443");
    }

    #[test]
    fn junk_is_refused_with_the_reason() {
        let why = |list: &str| match parse_servers(list, 9443) {
            Err(ServerListError::Entry { entry, why }) => format!("{entry}: {why}"),
            other => panic!("{list}: {other:?}"),
        };
        for list in ["a,,b", "a,", "", " "] {
            assert_eq!(parse_servers(list, 1), Err(ServerListError::Missing(list.into())));
        }
        assert_eq!(why("a:0"), r#"a:0: "0" is not a port (1 to 65535)"#);
        assert_eq!(why("a:65536"), r#"a:65536: "65536" is not a port (1 to 65535)"#);
        assert_eq!(why("a:http"), r#"a:http: "http" is not a port (1 to 65535)"#);
        assert_eq!(why("a:"), r#"a:: "" is not a port (1 to 65535)"#);
        assert_eq!(why(":9443"), ":9443: the host is missing");
        assert_eq!(why("wss://a/ws"), "wss://a/ws: a server is a host and a port, not a URL");
        assert_eq!(
            why("2001:db8::7:6667:x"),
            "2001:db8::7:6667:x: an IPv6 address with a port goes in brackets: [::1]:9443"
        );
        assert_eq!(why("[::1"), "[::1: the bracket is not closed");
        assert_eq!(why("[host]:1"), r#"[host]:1: "host" is not an IPv6 address"#);
        assert_eq!(why("[::1]9443"), "[::1]9443: only :PORT may follow the brackets");
        assert_eq!(why("a b"), r#"a b: ' ' cannot be in a host name"#);
        assert_eq!(why("a/b:1"), r#"a/b:1: '/' cannot be in a host name"#);
        let many = vec!["h"; MAX_SERVERS + 1].join(",");
        assert_eq!(parse_servers(&many, 1), Err(ServerListError::TooMany(MAX_SERVERS + 1)));
        assert!(parse_servers(&vec!["h"; MAX_SERVERS].join(","), 1).is_ok());
        let text = ServerListError::Entry { entry: "a:".into(), why: "x".into() }.to_string();
        assert!(text.contains("HOST:PORT"), "{text}");
    }

    #[test]
    fn password_is_a_switch_that_takes_no_value() {
        assert!(parse("chatterbox --password --username ann").password);
        let with_value = Args::try_parse_from(["chatterbox", "--password=hunter22"]);
        assert!(with_value.is_err(), "a password on the command line is refused");
    }
}
