//! A `chatterbox-server` binary started as a child process for a benchmark scenario, in
//! directories of its own, through the test kit's [`BinServer`] (which reads the ports from
//! the server's `listening on` log lines).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use test_support::{BinServer, Dirs};

/// The ports a server listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// The native protocol over TLS.
    pub native: u16,
    /// The web gateway (HTTPS and the WebSocket at /ws), if it runs.
    pub web: Option<u16>,
}

/// A running server; stopped and its directories removed when dropped, after its warnings
/// and errors are shown (they matter to whoever reads the results).
#[derive(Debug)]
pub struct ServerProcess {
    server: BinServer,
    /// Its data and certificate directories; also where the scenario writes its results.
    pub dirs: Dirs,
    /// The certificates' directory when it is not in `dirs` (a cluster's shared one).
    certs: Option<PathBuf>,
    /// Where it listens.
    pub ports: Ports,
}

impl ServerProcess {
    /// Its process id (for the load generator's memory readings).
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// The development CA its certificate is signed by.
    pub fn ca(&self) -> PathBuf {
        self.certs.as_ref().map_or_else(|| self.dirs.ca(), |c| c.join("ca.pem"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        for line in self.server.log_text().lines().filter(|l| !l.contains(" INFO ")) {
            eprintln!("{line}");
        }
    }
}

/// Starts the server binary `bin` on 127.0.0.1 with free ports (the web gateway only with
/// `web`) and `extra` arguments, in fresh temporary directories, and waits until it reports
/// where it listens.
pub fn start(bin: &Path, extra: &[&str], web: bool) -> Result<ServerProcess> {
    start_node(bin, extra, web, None, &[])
}

/// The same with the certificates in `certs` rather than its own directory (the nodes of a
/// cluster share one CA: the first creates it) and `env` in its environment.
pub fn start_node(
    bin: &Path,
    extra: &[&str],
    web: bool,
    certs: Option<&Path>,
    env: &[(&str, &str)],
) -> Result<ServerProcess> {
    let dirs = Dirs::new();
    let mut cmd =
        Command::new(std::fs::canonicalize(bin).with_context(|| bin.display().to_string())?);
    cmd.args(["127.0.0.1", "-p", "0"])
        .args(if web { ["--web-port", "0"].as_slice() } else { ["--no-web"].as_slice() })
        .arg("--data-dir")
        .arg(dirs.data())
        .arg("--certs-dir")
        .arg(certs.map_or_else(|| dirs.certs(), Path::to_path_buf))
        .args(extra)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn,chatterbox_server=info");
    let server = BinServer::try_spawn_command(cmd)?;
    let ports = Ports { native: server.addr.port(), web: server.web.map(|a| a.port()) };
    Ok(ServerProcess { server, dirs, certs: certs.map(Path::to_path_buf), ports })
}
