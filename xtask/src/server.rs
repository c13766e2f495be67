//! A `chatterbox-server` binary started as a child process, in a directory of its own, and
//! the ports it reports in its `listening on` log lines.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How long a server may take to report its ports: it creates its certificates and database
/// on the way, which takes seconds on a busy machine, never this long.
const STARTUP: Duration = Duration::from_secs(60);

/// Listening lines in flight from the log reader: the server writes one per address and port
/// (two addresses at most for 127.0.0.1 or localhost, two ports).
const LISTENING_LINES: usize = 8;

/// The ports a server listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// The native protocol over TLS.
    pub native: u16,
    /// The web gateway (HTTPS and the WebSocket at /ws), if it runs.
    pub web: Option<u16>,
}

/// A running server; stopped (SIGTERM) and its directory removed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Its working directory: `certs/` and `data/` are created there.
    pub dir: PathBuf,
    /// Where it listens.
    pub ports: Ports,
}

impl ServerProcess {
    /// Its process id (for the load generator's memory readings).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The development CA its certificate is signed by.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("certs/ca.pem")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the server binary `bin` on 127.0.0.1 with free ports (the web gateway only with
/// `web`) and `extra` arguments, in a fresh temporary directory named after `name`, and waits
/// until it reports where it listens. Its warnings and errors go on to this process's stderr.
pub fn start(bin: &Path, name: &str, extra: &[&str], web: bool) -> Result<ServerProcess> {
    let dir = std::env::temp_dir().join(format!("chatterbox-xtask-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cmd =
        Command::new(std::fs::canonicalize(bin).with_context(|| bin.display().to_string())?);
    cmd.current_dir(&dir)
        .args(["127.0.0.1", "-p", "0"])
        .args(if web { ["--web-port", "0"].as_slice() } else { ["--no-web"].as_slice() })
        .args(extra)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "warn,chatterbox_server=info");
    let mut child = cmd.spawn().with_context(|| format!("starting {}", bin.display()))?;
    let stderr = child.stderr.take().context("the server's log")?;
    let (tx, rx) = mpsc::sync_channel(LISTENING_LINES);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            match listening(&line) {
                // Once the ports are known nobody receives: the rest is only passed on.
                Some(found) => {
                    let _ = tx.try_send(found);
                }
                // Warnings and errors matter to whoever reads the results.
                None if !line.contains(" INFO ") => eprintln!("{line}"),
                None => {}
            }
        }
    });
    // The server is stopped by the guard's drop if its ports never come.
    let mut server = ServerProcess { child, dir, ports: Ports { native: 0, web: None } };
    let mut native = None;
    while native.is_none() || (web && server.ports.web.is_none()) {
        match rx.recv_timeout(STARTUP) {
            Ok(Listening::Native(port)) => {
                native.get_or_insert(port);
            }
            Ok(Listening::Web(port)) => {
                server.ports.web.get_or_insert(port);
            }
            Err(_) => bail!("{} did not report its ports", bin.display()),
        }
    }
    server.ports.native = native.unwrap_or_default();
    Ok(server)
}

/// What a `listening on` line announces.
#[derive(Debug, PartialEq, Eq)]
enum Listening {
    /// The native protocol's port.
    Native(u16),
    /// The web gateway's port.
    Web(u16),
}

/// The port a log line says the server listens on, and for what.
fn listening(line: &str) -> Option<Listening> {
    let addr: SocketAddr =
        line.split("listening on ").nth(1)?.split_whitespace().next()?.parse().ok()?;
    Some(if line.contains("(web") {
        Listening::Web(addr.port())
    } else {
        Listening::Native(addr.port())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ports_are_read_from_the_servers_log_lines() {
        let native = "2026-01-01T00:00:00Z  INFO chatterbox_server: listening on 127.0.0.1:41234 (native protocol, TLS)";
        let web =
            "INFO chatterbox_server: listening on [::1]:8443 (web client and WebSocket, HTTPS)";
        assert_eq!(listening(native), Some(Listening::Native(41234)));
        assert_eq!(listening(web), Some(Listening::Web(8443)));
        assert_eq!(listening("INFO chatterbox_server: shutting down"), None);
        assert_eq!(listening("listening on nowhere (web"), None);
    }
}
