//! Requests to NATS JetStream's API over NATS's text protocol, enough for `cargo xtask
//! cluster` to delete its run's stream and buckets when it stops: a client library would be
//! xtask's largest dependency for a handful of requests.
//!
//! The protocol: the server greets with `INFO {…}`, the client sends `CONNECT {…}`, subscribes
//! to an inbox (`SUB`) and publishes each request with the inbox as its reply subject (`PUB`);
//! the answer comes as `MSG <subject> <sid> <bytes>` and its payload. `PING` is answered with
//! `PONG`. Plain TCP only: a NATS that demands TLS is refused with a message saying so.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// NATS's port when a URL names none.
const DEFAULT_PORT: u16 = 4222;

/// How long connecting and each answer may take: NATS on this machine answers in
/// milliseconds, and a clean-up must not hang the end of a run.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The longest protocol line read (`INFO` is the longest, a few hundred bytes to a few KiB
/// with a cluster's URLs); a longer one is not NATS speaking.
const MAX_LINE: u64 = 64 * 1024;

/// The largest answer read: JetStream's API answers with a stream's configuration and state,
/// a few KiB.
const MAX_ANSWER: usize = 1024 * 1024;

/// The subscription's inbox and id.
const INBOX: &str = "_INBOX.xtask";
const SID: &str = "1";

/// Where a `nats://` URL points and how to log in.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port`.
    pub addr: String,
    /// `user` and `pass` from `user:pass@`, or `auth_token` from a lone `token@`.
    pub auth: Option<(String, Option<String>)>,
}

/// The first server of `url` (`nats://[user[:pass]@]host[:port][,…]`).
pub fn target(url: &str) -> Result<Target> {
    let first = url.split(',').next().unwrap_or_default().trim();
    let first = first.strip_prefix("nats://").unwrap_or(first).trim_end_matches('/');
    if first.contains("://") {
        bail!("only nats:// URLs are supported here (plain TCP)");
    }
    let (auth, host) = match first.rsplit_once('@') {
        Some((userinfo, host)) => {
            let auth = match userinfo.split_once(':') {
                Some((user, pass)) => (user.to_owned(), Some(pass.to_owned())),
                None => (userinfo.to_owned(), None),
            };
            (Some(auth), host)
        }
        None => (None, first),
    };
    if host.is_empty() {
        bail!("no host in the NATS URL");
    }
    let has_port = host.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    let addr = if has_port { host.to_owned() } else { format!("{host}:{DEFAULT_PORT}") };
    Ok(Target { addr, auth })
}

/// A connection to NATS, logged in and subscribed to its inbox.
pub struct Nats {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Nats {
    /// Connects to the first server of `url`.
    pub fn connect(url: &str) -> Result<Nats> {
        let target = target(url)?;
        let addr = target
            .addr
            .to_socket_addrs()
            .with_context(|| format!("resolving {}", target.addr))?
            .next()
            .with_context(|| format!("{} resolves to nothing", target.addr))?;
        let tcp = TcpStream::connect_timeout(&addr, TIMEOUT)
            .with_context(|| format!("connecting to NATS at {addr}"))?;
        tcp.set_read_timeout(Some(TIMEOUT))?;
        tcp.set_write_timeout(Some(TIMEOUT))?;
        let mut nats = Nats { reader: BufReader::new(tcp.try_clone()?), writer: tcp };
        let greeting = nats.line()?;
        let info: Value = serde_json::from_str(greeting.strip_prefix("INFO ").unwrap_or("{}"))
            .context("NATS's greeting")?;
        if info["tls_required"] == true {
            bail!("NATS at {addr} requires TLS, which this clean-up does not speak");
        }
        let mut connect = json!({
            "verbose": false, "pedantic": false, "tls_required": false, "echo": false,
            "lang": "rust", "version": "xtask", "protocol": 1,
        });
        match target.auth {
            Some((user, Some(pass))) => {
                connect["user"] = user.into();
                connect["pass"] = pass.into();
            }
            Some((token, None)) => connect["auth_token"] = token.into(),
            None => {}
        }
        write!(nats.writer, "CONNECT {connect}\r\nSUB {INBOX} {SID}\r\n")?;
        Ok(nats)
    }

    /// One line from the server, without its CR LF.
    fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        (&mut self.reader).take(MAX_LINE).read_line(&mut line).context("reading from NATS")?;
        if !line.ends_with("\r\n") {
            bail!("NATS closed the connection or sent an overlong line");
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }

    /// Sends `payload` to the JetStream API's `subject` and returns the answer.
    pub fn request(&mut self, subject: &str, payload: &Value) -> Result<Value> {
        let body = if payload.is_null() { String::new() } else { payload.to_string() };
        write!(self.writer, "PUB {subject} {INBOX} {}\r\n{body}\r\n", body.len())?;
        loop {
            let line = self.line()?;
            if line == "PING" {
                self.writer.write_all(b"PONG\r\n")?;
            } else if let Some(err) = line.strip_prefix("-ERR") {
                bail!("NATS refused: {}", err.trim());
            } else if line.starts_with("MSG ") {
                let size: usize = line
                    .rsplit(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .with_context(|| format!("a malformed MSG line: {line}"))?;
                if size > MAX_ANSWER {
                    bail!("an answer of {size} bytes from NATS, over {MAX_ANSWER}");
                }
                let mut answer = vec![0; size + 2];
                self.reader.read_exact(&mut answer).context("reading an answer")?;
                answer.truncate(size);
                return serde_json::from_slice(&answer).context("JetStream's answer");
            }
            // +OK, PONG and INFO updates need nothing.
        }
    }

    /// Deletes the stream `name` (a key-value bucket `B` is the stream `KV_B`); `Ok(false)`
    /// if there was none.
    pub fn delete_stream(&mut self, name: &str) -> Result<bool> {
        let answer = self.request(&format!("$JS.API.STREAM.DELETE.{name}"), &Value::Null)?;
        if answer["success"] == true {
            return Ok(true);
        }
        if answer["error"]["code"] == 404 {
            return Ok(false);
        }
        bail!("deleting the stream {name}: {}", answer["error"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_the_first_server_and_its_credentials() {
        let t = |url: &str| target(url).expect(url);
        assert_eq!(
            t("nats://127.0.0.1:4222"),
            Target { addr: "127.0.0.1:4222".into(), auth: None }
        );
        assert_eq!(t("nats://nats.internal").addr, "nats.internal:4222");
        assert_eq!(t("127.0.0.1:5000").addr, "127.0.0.1:5000");
        assert_eq!(t("nats://u:p@a:1,nats://b:2").auth, Some(("u".into(), Some("p".into()))));
        assert_eq!(t("nats://s3cret@a:1").auth, Some(("s3cret".into(), None)));
        assert!(target("tls://a:1").is_err());
        assert!(target("nats://").is_err());
    }

    /// Against the NATS the project's machines run (CHATTERBOX_TEST_NATS to point elsewhere):
    /// a stream made here is deleted, and deleting it again says there was none.
    #[test]
    fn a_stream_is_deleted_and_a_missing_one_is_no_error() {
        let url = std::env::var("CHATTERBOX_TEST_NATS")
            .unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        let mut nats = Nats::connect(&url)
            .unwrap_or_else(|e| panic!("NATS with JetStream is needed for this test: {e:#}"));
        let name = format!("xtask_test_{}", std::process::id());
        let config = json!({
            "name": name, "subjects": [format!("{name}.x")], "storage": "memory",
            "retention": "limits", "max_consumers": -1, "max_msgs": -1, "max_bytes": -1,
            "max_age": 0, "discard": "old", "num_replicas": 1,
        });
        let created = nats.request(&format!("$JS.API.STREAM.CREATE.{name}"), &config).expect("a");
        assert!(created["error"].is_null(), "{created}");
        assert!(nats.delete_stream(&name).expect("deleted"));
        assert!(!nats.delete_stream(&name).expect("none left"));
    }
}
