//! `cargo xtask cluster N [-- SERVER ARGS…]`: N release servers on this machine as the nodes
//! of one cluster, sharing the local NATS and a fresh PostgreSQL database, until Ctrl-C.
//!
//! Node `i` listens on `localhost`, native port [`NATIVE_BASE`]` + i` and web port
//! [`WEB_BASE`]` + i`, with its data directory in `target/cluster/node-i/` and the
//! certificates of every node in `target/cluster/certs/` (one development CA for all, created
//! by the first node). Each run has its own stream and buckets on NATS (prefix `dev_<time>_<pid>`)
//! and its own database (`chatterbox_cluster_<time>_<pid>`), so runs never collide; when the
//! nodes have stopped, both are removed again. The nodes' logs go to this terminal, each line
//! after its node's name.
//!
//! NATS is `$CHATTERBOX_CLUSTER`, by default the local one. The database is made with `psql`
//! on the PostgreSQL server of `$CHATTERBOX_TEST_POSTGRES` (the tests' own setting), by default
//! the local one; with `$CHATTERBOX_DATABASE` set, the nodes use that database instead, and
//! it is kept.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use test_support::{Listener, listening, with_database};

use crate::cmd::{cargo, step};
use crate::nats::Nats;
use crate::setup::setup;
use crate::web::build_web;

/// Most nodes: each is a release server with its own threads, and on a 2-core machine nine
/// are already more than the cores can keep busy; the ports stay within blocks of ten.
pub const MAX_NODES: usize = 9;

/// Node 0's native port; node `i` listens on `NATIVE_BASE + i`. Away from the defaults (9443
/// and 8443), so that `cargo xtask run` can run beside the cluster.
pub const NATIVE_BASE: u16 = 9500;

/// Node 0's web port; node `i` listens on `WEB_BASE + i`.
pub const WEB_BASE: u16 = 8500;

/// Where the nodes' directories go (target/ is ignored by git and cleaned by `cargo clean`).
const ROOT: &str = "target/cluster";

/// The NATS the project's machines run, unless `$CHATTERBOX_CLUSTER` names another.
const DEFAULT_NATS: &str = "nats://127.0.0.1:4222";

/// The PostgreSQL database connected to for creating and dropping the run's database, unless
/// `$CHATTERBOX_TEST_POSTGRES` names another (the machines' PostgreSQL, trust authentication).
const DEFAULT_ADMIN_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long a node may take to say where it listens: a release server starts in well under a
/// second, plus connecting to NATS and creating the database's tables.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the nodes may take to stop before they are killed: a server exits within two
/// seconds of SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How often the supervisor looks at the signals and the nodes.
const POLL: Duration = Duration::from_millis(200);

/// `listening on` lines a node's log reader keeps for the start-up; later ones (there are
/// none) would be dropped rather than block the node's log.
const NODE_EVENTS: usize = 8;

/// One node of the plan: its name, ports and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `node-i`.
    pub name: String,
    /// The native (TLS) port.
    pub native: u16,
    /// The web port.
    pub web: u16,
    /// The server's arguments (the URLs of NATS and the database go in its environment).
    pub args: Vec<String>,
}

/// `N` and the server arguments from `cargo xtask cluster N [--] [ARGS…]`.
pub fn parse_args(args: &[String]) -> Result<(usize, Vec<String>)> {
    let usage = "usage: cargo xtask cluster N [-- SERVER ARGS…]";
    let n: usize = args
        .first()
        .with_context(|| usage.to_owned())?
        .parse()
        .with_context(|| format!("N is a number of nodes; {usage}"))?;
    if !(1..=MAX_NODES).contains(&n) {
        bail!("{n} nodes: from 1 to {MAX_NODES}");
    }
    let rest = &args[1..];
    let extra = rest.strip_prefix(&["--".to_owned()]).unwrap_or(rest);
    Ok((n, extra.to_vec()))
}

/// The nodes of a cluster of `n` under `root` with the stream prefix `prefix`, each given
/// `extra` after its own arguments.
pub fn plan(n: usize, prefix: &str, root: &Path, extra: &[String]) -> Vec<Node> {
    let certs = root.join("certs");
    (0..n)
        .map(|i| {
            let name = format!("node-{i}");
            // n ≤ MAX_NODES, so the ports stay below 9510 and 8510.
            let offset = u16::try_from(i).unwrap_or(u16::MAX);
            let (native, web) = (NATIVE_BASE + offset, WEB_BASE + offset);
            let data = root.join(&name).join("data");
            let mut args: Vec<String> = vec![
                "localhost".into(),
                "--port".into(),
                native.to_string(),
                "--web-port".into(),
                web.to_string(),
                "--data-dir".into(),
                data.display().to_string(),
                "--certs-dir".into(),
                certs.display().to_string(),
                "--cluster-prefix".into(),
                prefix.into(),
            ];
            args.extend(extra.iter().cloned());
            Node { name, native, web, args }
        })
        .collect()
}

/// `url` without user information (which may hold a password or a token), for printing.
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{host}")
        }
        None => url.rsplit_once('@').map_or(url, |(_, h)| h).to_owned(),
    }
}

/// The cluster's database.
#[derive(Debug)]
pub enum Database {
    /// Made for this run on the server of `admin`; dropped at the end.
    Own { name: String, admin: String, url: String },
    /// `$CHATTERBOX_DATABASE`, used as it is and kept.
    Given { url: String },
}

/// Runs `sql` with psql on the database at `admin`.
fn psql(admin: &str, sql: &str) -> Result<()> {
    let out = Command::new("psql")
        .args(["-X", "-w", "-q", "-v", "ON_ERROR_STOP=1", "-d", admin, "-c", sql])
        .output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "psql is needed to make the cluster's database: install PostgreSQL's client \
             (apt-get install postgresql-client), or set CHATTERBOX_DATABASE to a database \
             the nodes should use"
        ),
        Err(e) => Err(e).context("running psql"),
        Ok(out) if !out.status.success() => {
            bail!("psql: {}", String::from_utf8_lossy(&out.stderr).trim())
        }
        Ok(_) => Ok(()),
    }
}

impl Database {
    /// `$CHATTERBOX_DATABASE` if set, else a fresh database called `name`.
    fn open(name: &str) -> Result<Database> {
        if let Some(url) = std::env::var("CHATTERBOX_DATABASE").ok().filter(|u| !u.is_empty()) {
            return Ok(Database::Given { url });
        }
        Database::fresh(name)
    }

    /// A fresh database called `name` on the PostgreSQL server of `$CHATTERBOX_TEST_POSTGRES`
    /// (by default the local one), dropped by [`Database::close`].
    pub fn fresh(name: &str) -> Result<Database> {
        let admin = std::env::var("CHATTERBOX_TEST_POSTGRES")
            .unwrap_or_else(|_| DEFAULT_ADMIN_POSTGRES.to_owned());
        psql(&admin, &format!("CREATE DATABASE {name}"))
            .with_context(|| format!("creating the database {name}"))?;
        let url = with_database(&admin, name);
        Ok(Database::Own { name: name.to_owned(), admin, url })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        match self {
            Database::Own { url, .. } | Database::Given { url } => url,
        }
    }

    fn describe(&self) -> String {
        match self {
            Database::Own { name, .. } => format!("database {name} (dropped at the end)"),
            Database::Given { .. } => "the database of CHATTERBOX_DATABASE (kept)".to_owned(),
        }
    }

    /// Drops it if it was made for this run.
    pub fn close(self) {
        if let Database::Own { name, admin, .. } = self {
            match psql(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")) {
                Ok(()) => eprintln!("==> dropped the database {name}"),
                Err(e) => eprintln!("==> could not drop the database {name}: {e:#}"),
            }
        }
    }
}

/// A node's process and what its log reader saw of its listeners.
struct Running {
    node: Node,
    child: Child,
    listening: Receiver<Listener>,
    exited: bool,
}

/// Starts `node`'s server `bin`; its log goes to stderr after its name.
fn spawn(bin: &Path, node: Node, nats: &str, db: &str) -> Result<Running> {
    let mut child = Command::new(bin)
        .args(&node.args)
        .env("CHATTERBOX_CLUSTER", nats)
        .env("CHATTERBOX_DATABASE", db)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", node.name))?;
    let stderr = child.stderr.take().context("the node's log")?;
    let (tx, announced): (SyncSender<Listener>, _) = sync_channel(NODE_EVENTS);
    let name = node.name.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{name} | {line}");
            if let Some((kind, _)) = listening(&line) {
                let _ = tx.try_send(kind);
            }
        }
    });
    Ok(Running { node, child, listening: announced, exited: false })
}

impl Running {
    /// Waits until the node listens on its native and (unless `--no-web`) web ports.
    fn wait_listening(&mut self, stop: &AtomicBool) -> Result<()> {
        let want_web = !self.node.args.iter().any(|a| a == "--no-web");
        let (mut native, mut web) = (false, !want_web);
        let deadline = Instant::now() + START_TIMEOUT;
        while !(native && web) {
            match self.listening.recv_timeout(POLL) {
                Ok(Listener::Native) => native = true,
                Ok(Listener::Web) => web = true,
                Ok(Listener::Plaintext) | Err(RecvTimeoutError::Timeout) => {}
                // The log ended: the process is ending, and try_wait says so in a moment.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(POLL),
            }
            if let Some(status) = self.child.try_wait()? {
                self.exited = true;
                bail!("{} stopped before it listened ({status}); its log is above", self.node.name);
            }
            if stop.load(Ordering::Relaxed) {
                bail!("stopped while starting");
            }
            if Instant::now() > deadline {
                bail!("{} did not listen within {START_TIMEOUT:?}", self.node.name);
            }
        }
        Ok(())
    }
}

/// Stops every node still running: SIGTERM, then SIGKILL after [`STOP_GRACE`].
fn stop_all(nodes: &mut [Running]) {
    for n in nodes.iter_mut().filter(|n| !n.exited) {
        let _ = Command::new("kill").arg("-TERM").arg(n.child.id().to_string()).status();
    }
    let deadline = Instant::now() + STOP_GRACE;
    for n in nodes.iter_mut().filter(|n| !n.exited) {
        loop {
            if let Ok(Some(_)) | Err(_) = n.child.try_wait() {
                break;
            }
            if Instant::now() > deadline {
                eprintln!("==> {} did not stop in time; killing it", n.node.name);
                let _ = n.child.kill();
                let _ = n.child.wait();
                break;
            }
            std::thread::sleep(POLL / 4);
        }
        n.exited = true;
    }
}

/// Starts the planned nodes one after the other (the first creates the shared certificates)
/// and keeps them until `stop` is set or every one has ended.
fn run_nodes(
    bin: &Path,
    plan: Vec<Node>,
    nats: &str,
    db: &Database,
    stop: &AtomicBool,
) -> Result<()> {
    let mut nodes: Vec<Running> = Vec::with_capacity(plan.len());
    let started = (|| {
        for node in plan {
            nodes.push(spawn(bin, node, nats, db.url())?);
            nodes.last_mut().map_or(Ok(()), |n| n.wait_listening(stop))?;
        }
        anyhow::Ok(())
    })();
    if let Err(e) = started {
        stop_all(&mut nodes);
        return Err(e);
    }
    let certs = Path::new(ROOT).join("certs");
    eprintln!("\n==> {} nodes are up:", nodes.len());
    for n in &nodes {
        let Node { name, native, web, .. } = &n.node;
        eprintln!("    {name}: native localhost:{native}, web https://localhost:{web}/");
    }
    let first = &nodes[0].node;
    eprintln!(
        "    terminal client: cargo run --release -p chatterbox-client -- localhost -p {} --ca {}",
        first.native,
        certs.join("ca.pem").display()
    );
    eprintln!(
        "    browser: https://localhost:{}/ (trust {}, or accept the warning)",
        first.web,
        certs.join("ca.pem").display()
    );
    eprintln!("    health and metrics: https://localhost:{0}/healthz, /metrics", first.web);
    eprintln!("==> Ctrl-C stops every node, then removes the run's database and NATS streams.\n");
    while !stop.load(Ordering::Relaxed) {
        for n in nodes.iter_mut().filter(|n| !n.exited) {
            if let Some(status) = n.child.try_wait()? {
                n.exited = true;
                eprintln!("==> {} stopped ({status}); the others go on", n.node.name);
            }
        }
        if nodes.iter().all(|n| n.exited) {
            eprintln!("==> every node has stopped");
            break;
        }
        std::thread::sleep(POLL);
    }
    eprintln!("==> stopping the nodes");
    stop_all(&mut nodes);
    Ok(())
}

/// Deletes the run's stream and buckets (`<prefix>_events`, `KV_<prefix>_names`,
/// `KV_<prefix>_nodes`).
fn delete_streams(nats: &str, prefix: &str) -> Result<()> {
    let mut conn = Nats::connect(nats)?;
    for stream in
        [format!("{prefix}_events"), format!("KV_{prefix}_names"), format!("KV_{prefix}_nodes")]
    {
        conn.delete_stream(&stream)?;
    }
    Ok(())
}

/// `cargo xtask cluster N [-- ARGS…]`.
pub fn cluster(args: &[String]) -> Result<()> {
    let (n, extra) = parse_args(args)?;
    setup(false)?;
    build_web()?;
    step(
        "build the release server (the web client embedded)",
        cargo().args(["build", "--release", "--package", "chatterbox-server"]),
    )?;
    let bin = std::fs::canonicalize("target/release/chatterbox-server")
        .context("target/release/chatterbox-server")?;

    // Ctrl-C (SIGINT, which the nodes get from the terminal too) and SIGTERM ask for a clean
    // stop; a second one while stopping ends this at once.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }

    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let run = format!("{stamp}_{}", std::process::id());
    let prefix = format!("dev_{run}");
    let nats = std::env::var("CHATTERBOX_CLUSTER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_NATS.to_owned());
    let db = Database::open(&format!("chatterbox_cluster_{run}"))?;
    eprintln!(
        "==> a cluster of {n}: NATS {} (prefix {prefix}), {}",
        without_credentials(&nats),
        db.describe()
    );
    let root = PathBuf::from(ROOT);
    let result = run_nodes(&bin, plan(n, &prefix, &root, &extra), &nats, &db, &stop);
    db.close();
    match delete_streams(&nats, &prefix) {
        Ok(()) => eprintln!("==> deleted the stream and buckets {prefix}_*"),
        Err(e) => eprintln!("==> could not delete the streams {prefix}_* from NATS: {e:#}"),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn n_and_the_server_arguments_are_read_with_or_without_a_separator() {
        assert_eq!(parse_args(&strings(&["3"])).expect("ok"), (3, vec![]));
        let with = parse_args(&strings(&["2", "--", "--history", "50"])).expect("ok");
        assert_eq!(with, (2, strings(&["--history", "50"])));
        let without = parse_args(&strings(&["2", "--history", "50"])).expect("ok");
        assert_eq!(without, with);
        for bad in [&[][..], &["0"], &["10"], &["three"]] {
            assert!(parse_args(&strings(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_node_has_its_own_ports_and_data_and_all_share_the_certificates_and_prefix() {
        let extra = strings(&["--history", "50"]);
        let nodes = plan(3, "dev_1_2", Path::new("target/cluster"), &extra);
        let ports: Vec<(u16, u16)> = nodes.iter().map(|n| (n.native, n.web)).collect();
        assert_eq!(ports, [(9500, 8500), (9501, 8501), (9502, 8502)]);
        assert_eq!(
            nodes[1].args,
            strings(&[
                "localhost",
                "--port",
                "9501",
                "--web-port",
                "8501",
                "--data-dir",
                "target/cluster/node-1/data",
                "--certs-dir",
                "target/cluster/certs",
                "--cluster-prefix",
                "dev_1_2",
                "--history",
                "50",
            ])
        );
        assert_eq!(nodes[2].name, "node-2");
        // NATS's and the database's URLs go in the environment, never on a command line
        assert!(!nodes.iter().flat_map(|n| &n.args).any(|a| a.contains("://")), "{nodes:?}");
        // the largest cluster stays within its blocks of ports
        let last = plan(MAX_NODES, "p", Path::new("r"), &[]).pop().expect("nodes");
        assert_eq!((last.native, last.web), (9508, 8508));
    }

    #[test]
    fn urls_are_rewritten_and_shown_without_secrets() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "c1"),
            "postgres://postgres@127.0.0.1:5432/c1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "c2"),
            "postgres://u:p@h/c2?sslmode=disable"
        );
        assert_eq!(without_credentials("nats://tok@n:4222"), "nats://n:4222");
        assert_eq!(without_credentials("nats://u:p@n:4222"), "nats://n:4222");
        assert_eq!(without_credentials("nats://n:4222"), "nats://n:4222");
    }
}
