//! The command line.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

/// Default port of Chatterbox servers.
pub const DEFAULT_PORT: u16 = 9443;

/// Chatterbox terminal client.
///
/// A full-screen chat when run in a terminal; one line per event on stdout (reading lines from
/// stdin) when stdin or stdout is not a terminal, or with --plain. Type /help once connected.
#[derive(Debug, Clone, Parser)]
#[command(name = "chatterbox", version, about, long_about)]
pub struct Args {
    /// Server host name or address; every address it resolves to is tried in turn.
    #[arg(default_value = "localhost")]
    pub server: String,
    /// Server port.
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

    #[test]
    fn password_is_a_switch_that_takes_no_value() {
        assert!(parse("chatterbox --password --username ann").password);
        let with_value = Args::try_parse_from(["chatterbox", "--password=hunter22"]);
        assert!(with_value.is_err(), "a password on the command line is refused");
    }
}
