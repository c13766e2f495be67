//! The cluster benchmark (`cargo xtask bench cluster`, and part of `cargo xtask bench`): the
//! same load against one server (SQLite, no cluster) and against clusters of 1, 2 and 3 nodes,
//! the clients spread over the nodes; then docs/SCALING.md, which turns the measured CPU time
//! per delivery of each node, of NATS and of PostgreSQL into a model of throughput against
//! the number of nodes.
//!
//! Each run of a scenario gets a fresh deployment: a nats-server of its own (a free port, its
//! JetStream store in a temporary directory, so that its CPU time is the cluster's alone), a
//! fresh PostgreSQL database (dropped after), and the nodes sharing one development CA.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use test_support::Dirs;

use crate::bench::{SERVER_ARGS, Scenario};
use crate::cluster::Database;
use crate::server::{self, ServerProcess};

/// How the server runs in a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One server on SQLite, as most people run it: the baseline.
    Single,
    /// This many nodes on NATS and PostgreSQL.
    Cluster(usize),
}

impl Layout {
    /// The layout as the report names it.
    pub fn label(self) -> String {
        match self {
            Layout::Single => "one server (SQLite)".into(),
            Layout::Cluster(1) => "cluster of 1 node".into(),
            Layout::Cluster(n) => format!("cluster of {n} nodes"),
        }
    }
}

/// The layouts measured, in the report's order.
pub const LAYOUTS: [Layout; 4] =
    [Layout::Single, Layout::Cluster(1), Layout::Cluster(2), Layout::Cluster(3)];

/// The scenarios run in each layout: the standard fan-out flood and lockstep and the plain
/// logins, with the clients spread over the nodes (client `i` on node `i mod N`).
pub const CLUSTER_SCENARIOS: &[Scenario] = &[
    Scenario {
        label: "fan-out, flood, 1,000 TLS clients spread over the nodes, 10 senders, 64 B",
        target: "none set (one server: >= 3,000,000 deliveries/s)",
        web: false,
        logins: false,
        args: "--clients 1000 --senders 10 --messages 300 --size 64 --mode flood",
    },
    // The same offered load for every deployment, below what each sustains: a flood beyond
    // what the load generator's 1,000 readers take in on these shared cores has the servers
    // rightly drop the slowest as too slow, and that would measure the generator. 10,000,000
    // deliveries: /proc counts CPU time in ticks of 10 ms, and the smallest share (NATS's,
    // PostgreSQL's) must be many ticks for its cost per delivery to mean something.
    Scenario {
        label: "steady fan-out: 10 senders at 500 messages/s each to 1,000 TLS clients spread over the nodes, 64 B",
        target: "cluster CPU per delivery <= 1.5x one server's",
        web: false,
        logins: false,
        args: "--clients 1000 --senders 10 --messages 1000 --rate 500 --size 64 --mode flood",
    },
    Scenario {
        label: "lockstep fan-out to 1,000 TLS clients spread over the nodes",
        target: "none set (one server: p99 <= 2 ms)",
        web: false,
        logins: false,
        args: "--clients 1000 --senders 1 --messages 300 --size 64 --mode lockstep",
    },
    Scenario {
        label: "logins: 1,000 TLS clients spread over the nodes, 256 at a time",
        target: "none set (one server: >= 5,000 logins/s)",
        web: false,
        logins: true,
        args: "--clients 1000 --senders 1 --messages 1 --size 16 --concurrency 256",
    },
];

/// How long a nats-server of the benchmark's own may take to listen.
const NATS_START: Duration = Duration::from_secs(15);

/// One measurement: a scenario in a layout.
#[derive(Debug)]
pub struct ClusterRow {
    /// How the server ran.
    pub layout: Layout,
    /// What was run.
    pub scenario: &'static Scenario,
    /// The load generator's JSON output.
    pub result: Value,
}

/// A nats-server with JetStream of the benchmark's own; killed when dropped.
struct OwnNats {
    child: Child,
    port: u16,
    _store: Dirs,
}

impl OwnNats {
    /// Starts `$CHATTERBOX_NATS_SERVER`, /usr/sbin/nats-server (Debian's) or `nats-server`
    /// from the PATH on a free port, and waits until it listens.
    fn start() -> Result<OwnNats> {
        let program = std::env::var("CHATTERBOX_NATS_SERVER").unwrap_or_else(|_| {
            let sbin = "/usr/sbin/nats-server";
            if Path::new(sbin).exists() { sbin.into() } else { "nats-server".into() }
        });
        let store = Dirs::new();
        let port = test_support::free_port();
        let child = Command::new(&program)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {program}: the cluster benchmark runs a NATS server of its own \
                     (install nats-server, or set CHATTERBOX_NATS_SERVER to its path)"
                )
            })?;
        let nats = OwnNats { child, port, _store: store };
        let deadline = Instant::now() + NATS_START;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("{program} did not listen on port {port} within {NATS_START:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(nats)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The async worker threads each of `n` nodes gets on a machine of `cores` cores: its share
/// of the cores, at least one. Each node on a machine of its own would have every core; here
/// they share them, and a runtime with a worker per core in each of three nodes puts six
/// busy threads on two cores, whose switching and spinning would be counted as the cluster's
/// cost (measured: 0.21 µs per delivery on three nodes instead of 0.135 with one worker each).
fn node_workers(n: usize, cores: usize) -> usize {
    (cores / n.max(1)).max(1)
}

/// The servers of one measurement and what they run on; everything stopped and removed when
/// dropped (the nodes first).
struct Deployment {
    nodes: Vec<ServerProcess>,
    nats: Option<OwnNats>,
    db: Option<Database>,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.nodes.clear();
        self.nats = None;
        if let Some(db) = self.db.take() {
            db.close();
        }
    }
}

impl Deployment {
    /// Starts `layout` from the server binary `bin`; `run` names this run's database and
    /// stream.
    fn start(bin: &Path, layout: Layout, run: &str) -> Result<Deployment> {
        let n = match layout {
            Layout::Single => {
                let node = server::start(bin, &SERVER_ARGS, false)?;
                return Ok(Deployment { nodes: vec![node], nats: None, db: None });
            }
            Layout::Cluster(n) => n,
        };
        let mut deployment = Deployment {
            nodes: Vec::with_capacity(n),
            nats: Some(OwnNats::start()?),
            db: Some(Database::fresh(&format!("chatterbox_bench_{run}"))?),
        };
        let nats = deployment.nats.as_ref().map(OwnNats::url).unwrap_or_default();
        let db = deployment.db.as_ref().map(|d| d.url().to_owned()).unwrap_or_default();
        let workers = node_workers(n, std::thread::available_parallelism().map_or(2, |c| c.get()));
        let workers = workers.to_string();
        let env = [
            ("CHATTERBOX_CLUSTER", nats.as_str()),
            ("CHATTERBOX_DATABASE", db.as_str()),
            ("TOKIO_WORKER_THREADS", workers.as_str()),
        ];
        let mut args: Vec<&str> = SERVER_ARGS.to_vec();
        args.extend(["--cluster-prefix", "bench"]);
        for _ in 0..n {
            // The first node creates the CA; the others use it.
            let certs = deployment.nodes.first().map(|first| first.dirs.certs());
            let node = server::start_node(bin, &args, false, certs.as_deref(), &env)?;
            deployment.nodes.push(node);
        }
        Ok(deployment)
    }

    /// The load generator's arguments for this deployment: every node's port and process, and
    /// in a cluster NATS's process and PostgreSQL's.
    fn generator_args(&self) -> Vec<String> {
        let join = |v: Vec<String>| v.join(",");
        let mut args = vec![
            "--port".to_owned(),
            join(self.nodes.iter().map(|n| n.ports.native.to_string()).collect()),
            "--ca".to_owned(),
            self.nodes[0].ca().display().to_string(),
            "--server-pid".to_owned(),
            join(self.nodes.iter().map(|n| n.pid().to_string()).collect()),
        ];
        if let Some(nats) = &self.nats {
            args.extend([
                "--nats-pid".to_owned(),
                nats.child.id().to_string(),
                "--postgres".into(),
            ]);
        }
        args
    }
}

/// Runs every cluster scenario in every layout with the server binary `server_bin` and the
/// load generator `bench_bin`.
pub fn run_all(server_bin: &Path, bench_bin: &Path) -> Result<Vec<ClusterRow>> {
    let bench_bin =
        std::fs::canonicalize(bench_bin).with_context(|| bench_bin.display().to_string())?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut rows = Vec::new();
    for (k, layout) in LAYOUTS.into_iter().enumerate() {
        for (s, scenario) in CLUSTER_SCENARIOS.iter().enumerate() {
            eprintln!("==> {}: {}", layout.label(), scenario.label);
            let run = format!("{stamp}_{}_{k}_{s}", std::process::id());
            let deployment = Deployment::start(server_bin, layout, &run)?;
            let json = deployment.nodes[0].dirs.root.path().join("result.json");
            let status = Command::new(&bench_bin)
                .args(deployment.generator_args())
                .args(scenario.flags())
                .arg("--json")
                .arg(&json)
                .status()
                .context("running the load generator")?;
            if !status.success() {
                bail!("{}: scenario failed: {}", layout.label(), scenario.label);
            }
            let text = std::fs::read_to_string(&json)?;
            let result = serde_json::from_str(&text)
                .with_context(|| format!("the load generator's results for {}", scenario.label))?;
            rows.push(ClusterRow { layout, scenario, result });
        }
    }
    Ok(rows)
}

/// What the model needs of the flood measurements, in microseconds of CPU time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    /// A node's cost per delivery (writing one message to one of its clients).
    pub per_delivery: f64,
    /// Each node's cost per message, whatever its number of recipients (consuming it from
    /// the stream, deciding who gets it, encoding it once).
    pub per_message_per_node: f64,
    /// NATS's cost per message that does not depend on the nodes (storing it in the stream,
    /// acknowledging the publish).
    pub nats_per_message: f64,
    /// NATS's cost per message and node (delivering it to one more consumer).
    pub nats_per_message_per_node: f64,
    /// PostgreSQL's cost per message that does not depend on the nodes.
    pub postgres_per_message: f64,
    /// PostgreSQL's cost per message and node (every node writes what it consumes; all but
    /// the first write find it there).
    pub postgres_per_message_per_node: f64,
    /// Bytes a client receives per delivery.
    pub bytes_per_delivery: f64,
}

/// The network link of each node in the model: 10 Gbit/s, a server's usual port today, in
/// bytes a second.
pub const LINK_BYTES_PER_SEC: f64 = 10e9 / 8.0;

/// The least-squares line through `points`: (intercept, slope).
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    Some((my - slope * mx, slope))
}

/// A number of a result, if it has one.
fn num(result: &Value, key: &str) -> Option<f64> {
    result[key].as_f64()
}

/// The model's costs from the steady rows of the clusters. With `R` recipients per message and
/// `n` nodes, the nodes' CPU per delivery is `d + n·m/R` (every node pays `m` for every
/// message, and the deliveries are shared out), and NATS's per message is `a + b·n`: both are
/// straight lines in `n`, fitted through the measurements. A cost the noise makes negative is
/// taken as zero.
pub fn costs(rows: &[ClusterRow]) -> Option<Costs> {
    let flood: Vec<(usize, &Value)> = rows
        .iter()
        .filter(|r| r.scenario.label == CLUSTER_SCENARIOS[1].label)
        .filter_map(|r| match r.layout {
            Layout::Cluster(n) => Some((n, &r.result)),
            Layout::Single => None,
        })
        .collect();
    let recipients = |r: &Value| num(r, "clients").map(|c| c - 1.0);
    let mut nodes = Vec::new();
    let mut nats = Vec::new();
    let mut postgres = Vec::new();
    let mut bytes = Vec::new();
    for (n, r) in &flood {
        let rcpt = recipients(r)?;
        nodes.push((*n as f64, num(r, "server_cpu_us_per_delivery")?));
        nats.push((*n as f64, num(r, "nats_cpu_us_per_delivery")? * rcpt));
        postgres.push((*n as f64, num(r, "postgres_cpu_us_per_delivery")? * rcpt));
        bytes.push(num(r, "bytes_per_delivery")?);
    }
    let rcpt = recipients(flood.first()?.1)?;
    let (d, slope) = fit(&nodes)?;
    let (a, b) = fit(&nats)?;
    let (g, h) = fit(&postgres)?;
    Some(Costs {
        per_delivery: d.max(0.0),
        per_message_per_node: (slope * rcpt).max(0.0),
        nats_per_message: a.max(0.0),
        nats_per_message_per_node: b.max(0.0),
        postgres_per_message: g.max(0.0),
        postgres_per_message_per_node: h.max(0.0),
        bytes_per_delivery: bytes.iter().sum::<f64>() / bytes.len() as f64,
    })
}

/// What limits a cluster's throughput in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Nodes,
    Nats,
    Postgres,
    Network,
}

impl Limit {
    /// As the report names it.
    fn label(self) -> &'static str {
        match self {
            Limit::Nodes => "the nodes' CPU",
            Limit::Nats => "NATS",
            Limit::Postgres => "PostgreSQL",
            Limit::Network => "the nodes' network links",
        }
    }
}

/// The model's deliveries a second for `n` nodes of `cores` cores each with a link of
/// [`LINK_BYTES_PER_SEC`], NATS and PostgreSQL on machines of `cores` cores too, and messages
/// of `recipients` recipients spread evenly over the nodes; and which limit binds.
pub fn projected(c: &Costs, n: usize, cores: f64, recipients: f64) -> (f64, Limit) {
    let n = n as f64;
    let budget = cores * 1e6; // CPU microseconds a second
    let node_cost = c.per_delivery * recipients / n + c.per_message_per_node;
    let nats_cost = c.nats_per_message + c.nats_per_message_per_node * n;
    let postgres_cost = c.postgres_per_message + c.postgres_per_message_per_node * n;
    let link = LINK_BYTES_PER_SEC / (c.bytes_per_delivery * recipients / n);
    let limits = [
        (budget / node_cost, Limit::Nodes),
        (budget / nats_cost, Limit::Nats),
        (budget / postgres_cost, Limit::Postgres),
        (link, Limit::Network),
    ];
    let (messages, limit) = limits
        .into_iter()
        .filter(|(m, _)| m.is_finite())
        .min_by(|x, y| x.0.total_cmp(&y.0))
        .unwrap_or((f64::INFINITY, Limit::Nodes));
    (messages * recipients, limit)
}

/// The nodes beyond which the model's throughput no longer grows (within 5%), up to `max`.
pub fn saturation(c: &Costs, cores: f64, recipients: f64, max: usize) -> usize {
    let rate = |n| projected(c, n, cores, recipients).0;
    (1..max).find(|&n| rate(n + 1) < rate(n) * 1.05).unwrap_or(max)
}

/// Writes docs/SCALING.md from the cluster measurements.
pub fn write_scaling(rows: &[ClusterRow]) -> Result<()> {
    let md = scaling_text(rows, std::thread::available_parallelism().map_or(2, |n| n.get()));
    std::fs::write("docs/SCALING.md", md)?;
    eprintln!("==> wrote docs/SCALING.md");
    Ok(())
}

/// A number for a table: whole numbers and large ones whole, small ones with three decimals.
fn show(x: Option<f64>) -> String {
    match x {
        None => "-".into(),
        Some(x) if x >= 100.0 || x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) if x >= 1.0 => format!("{x:.2}"),
        Some(x) => format!("{x:.3}"),
    }
}

/// The row of `layout` and the scenario labelled `label`.
fn row<'a>(rows: &'a [ClusterRow], layout: Layout, label: &str) -> Option<&'a Value> {
    rows.iter().find(|r| r.layout == layout && r.scenario.label == label).map(|r| &r.result)
}

/// docs/SCALING.md's text, for a machine of `cores` cores.
pub fn scaling_text(rows: &[ClusterRow], cores: usize) -> String {
    let [flood, steady, lockstep, logins] = [0, 1, 2, 3].map(|i| CLUSTER_SCENARIOS[i].label);
    let single =
        row(rows, Layout::Single, steady).and_then(|r| num(r, "total_cpu_us_per_delivery"));
    let mut md = format!(
        "# Scaling: one server and a cluster\n\n\
         Written by `cargo xtask bench cluster` (and `cargo xtask bench`) from its measurements;\n\
         rewritten by each run. Every deployment is fresh: one server on SQLite, or N nodes\n\
         started with `--cluster` on a nats-server of the benchmark's own and a fresh PostgreSQL\n\
         database. The load generator spreads its 1,000 TLS clients over the nodes (client i on\n\
         node i mod N), so that senders and receivers are on every node. CPU time is each\n\
         process's user and system time (`/proc/PID/stat`) over the sending and delivering,\n\
         divided by the deliveries; PostgreSQL's is every `postgres` process's.\n\n\
         This machine has {cores} cores, shared by every node, NATS, PostgreSQL and the load\n\
         generator: deliveries/s here says what {cores} cores do, not what N machines would.\n\
         So that each node runs as on a share of its own, a node gets `TOKIO_WORKER_THREADS`\n\
         = cores / nodes (at least 1) async worker threads: the one server and a cluster of 1\n\
         get {cores}, larger clusters fewer each. The model below uses the CPU time per\n\
         delivery, which does not depend on how the processes share the cores.\n\n\
         ## Measured\n\n\
         Throughput ({flood}, as fast as the senders go): deliveries a frame is how many\n\
         messages a client got in each frame (a server merges what is queued for a client into\n\
         one write); dropped, clients a server disconnected as too slow to read (more than\n\
         4,096 messages behind), whose missed deliveries count as lost.\n\n\
         | deployment | deliveries/s | deliveries a frame | lost | dropped | p99 ms |\n\
         |---|---|---|---|---|---|\n",
    );
    for layout in LAYOUTS {
        let Some(r) = row(rows, layout, flood) else { continue };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            layout.label(),
            show(num(r, "deliveries_per_sec")),
            show(num(r, "deliveries_per_frame")),
            show(num(r, "lost")),
            show(num(r, "dropped")),
            show(num(r, "p99_ms")),
        ));
    }
    md.push_str(&format!(
        "\nCPU time per delivery ({steady}: the same 5,000,000 deliveries a second offered to\n\
         every deployment):\n\n\
         | deployment | deliveries/s | lost | CPU µs per delivery: nodes | each node | NATS | PostgreSQL | total | × one server |\n\
         |---|---|---|---|---|---|---|---|---|\n"
    ));
    for layout in LAYOUTS {
        let Some(r) = row(rows, layout, steady) else { continue };
        let each: Vec<String> = r["node_cpu_us_per_delivery"]
            .as_array()
            .map(|a| a.iter().map(|c| show(c.as_f64())).collect())
            .unwrap_or_default();
        let total = num(r, "total_cpu_us_per_delivery");
        let ratio = match (total, single) {
            (Some(t), Some(s)) if s > 0.0 => format!("{:.2}", t / s),
            _ => "-".into(),
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            layout.label(),
            show(num(r, "deliveries_per_sec")),
            show(num(r, "lost")),
            show(num(r, "server_cpu_us_per_delivery")),
            each.join(" / "),
            show(num(r, "nats_cpu_us_per_delivery")),
            show(num(r, "postgres_cpu_us_per_delivery")),
            show(total),
            ratio,
        ));
    }
    md.push_str(&format!(
        "\nLockstep ({lockstep}: one broadcast at a time, timed until every client has it) and \
         logins ({logins}):\n\n\
         | deployment | lockstep p50 ms | lockstep p99 ms | logins/s | login p99 ms |\n\
         |---|---|---|---|---|\n"
    ));
    for layout in LAYOUTS {
        let (l, g) = (row(rows, layout, lockstep), row(rows, layout, logins));
        let get = |r: Option<&Value>, k: &str| show(r.and_then(|r| num(r, k)));
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            layout.label(),
            get(l, "p50_ms"),
            get(l, "p99_ms"),
            get(g, "logins_per_sec"),
            get(g, "login_p99_ms"),
        ));
    }
    md.push_str(
        "\nThe join replay from PostgreSQL (1,000 messages of 1,000,000) is in \
         [PERFORMANCE.md](PERFORMANCE.md), beside SQLite's.\n",
    );
    md.push_str(&model_text(rows, cores as f64));
    md
}

/// The model's section: the fitted costs, the projection and where it stops growing.
fn model_text(rows: &[ClusterRow], cores: f64) -> String {
    let Some(c) = costs(rows) else {
        return "\n## Model\n\nNot enough cluster measurements for the model.\n".into();
    };
    let recipients = 1000.0;
    let mut md = format!(
        "\n## Model\n\n\
         A message of R recipients, in a cluster of n nodes with the recipients spread evenly,\n\
         costs CPU time in three places and bytes on the nodes' links:\n\n\
         - each node: `m` for consuming it from the stream, deciding who gets it, encoding it\n  \
           once and writing it to the database, plus `d` for each of its R/n deliveries\n  \
           (queueing the bytes for a client and writing them to its TLS connection);\n\
         - NATS: `a` for storing it in the stream and acknowledging the publish, plus `b` for\n  \
           each node's consumer it goes to (events carry up to 256 messages each under load,\n  \
           so both are shared by the messages of an event);\n\
         - PostgreSQL: `g`, plus `h` for each node, as every node writes what it consumes\n  \
           (idempotently: the first write stores it, the others find it there; so a node\n  \
           that dies cannot take a message out of the history);\n\
         - the network: `B` bytes per delivery from the recipient's node.\n\n\
         The nodes' CPU per delivery together is `d + n·m/R`; NATS's and PostgreSQL's per\n\
         message `a + b·n` and `g + h·n`: lines in n, fitted through the clusters of 1, 2 and\n\
         3 (a cost the noise makes negative counts as zero). From this run:\n\n\
         | cost | measured |\n|---|---|\n\
         | `d`, per delivery, on the recipient's node | {} µs |\n\
         | `m`, per message, on every node | {} µs |\n\
         | `a`, per message, on NATS | {} µs |\n\
         | `b`, per message and node, on NATS | {} µs |\n\
         | `g`, per message, on PostgreSQL | {} µs |\n\
         | `h`, per message and node, on PostgreSQL | {} µs |\n\
         | `B`, bytes per delivery | {} |\n\n\
         With each node, NATS and PostgreSQL on a machine of {cores} cores of its own and each\n\
         node on a 10 Gbit/s link, messages of R = 1,000 recipients are limited to\n\
         `{cores}·10⁶ / (d·R/n + m)` a second by the nodes' CPU, `{cores}·10⁶ / (a + b·n)` by\n\
         NATS, `{cores}·10⁶ / (g + h·n)` by PostgreSQL and `1.25·10⁹ / (B·R/n)` by the links:\n\n\
         | nodes | deliveries/s | limited by |\n|---|---|---|\n",
        show(Some(c.per_delivery)),
        show(Some(c.per_message_per_node)),
        show(Some(c.nats_per_message)),
        show(Some(c.nats_per_message_per_node)),
        show(Some(c.postgres_per_message)),
        show(Some(c.postgres_per_message_per_node)),
        show(Some(c.bytes_per_delivery)),
    );
    for n in [1, 2, 3, 4, 6, 8, 12, 16] {
        let (rate, limit) = projected(&c, n, cores, recipients);
        md.push_str(&format!("| {n} | {} | {} |\n", show(Some(rate)), limit.label()));
    }
    let stop = saturation(&c, cores, recipients, 64);
    let (_, at) = projected(&c, stop, cores, recipients);
    md.push_str(&format!(
        "\nIn this model throughput stops growing (less than 5% from one more node) at {stop} \
         nodes, where {} is the limit. What bounds it, and what would move each bound:\n\n\
         - **Every node consumes every message.** The deliveries are shared out, but `m` is\n  \
           paid n times, so the nodes' bound approaches `{cores}·10⁶·R / m` however many there\n  \
           are; the smaller the rooms, the sooner. Rooms, with each node consuming only the\n  \
           subjects of the rooms its users are in, would move it.\n\
         - **NATS pays per consumer** (`b·n`) and keeps one ordered log on one stream leader.\n  \
           Splitting the stream by room (one subject or stream per group of rooms, each with\n  \
           its own leader) spreads it over a NATS cluster's servers.\n\
         - **PostgreSQL takes every node's write** of every message (`h·n`). Letting only the\n  \
           sending node write, with the others writing only for a node that died, would cut\n  \
           it to `g + h`; partitioning the messages table or a faster disk move the rest.\n  \
           Replicas help only the reads (the join replay).\n\
         - **The links**: a node sends `B` bytes per delivery; a 1 Gbit/s link would be the\n  \
           first limit by far (a tenth of the figures above for the links' rows). NATS sends\n  \
           each message to each node once, R/n times fewer bytes than the deliveries.\n\n\
         The target for cluster mode is at most 1.5× one server's CPU per delivery; the\n\
         `× one server` column above holds the measured ratio for each cluster size.\n",
        at.label()
    ));
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flood results as the load generator writes them, for a cluster of `n` whose costs are
    /// exactly those of `c` with 999 recipients per message.
    fn measured(c: &Costs, n: usize) -> Value {
        let r = 999.0;
        let nodes = c.per_delivery + n as f64 * c.per_message_per_node / r;
        let nats = (c.nats_per_message + c.nats_per_message_per_node * n as f64) / r;
        let pg = (c.postgres_per_message + c.postgres_per_message_per_node * n as f64) / r;
        serde_json::json!({
            "clients": 1000, "deliveries_per_sec": 1.0e6, "lost": 0,
            "server_cpu_us_per_delivery": nodes,
            "node_cpu_us_per_delivery": vec![nodes / n as f64; n],
            "nats_cpu_us_per_delivery": nats, "postgres_cpu_us_per_delivery": pg,
            "total_cpu_us_per_delivery": nodes + nats + pg, "bytes_per_delivery": c.bytes_per_delivery,
        })
    }

    fn rows(c: &Costs) -> Vec<ClusterRow> {
        let mut rows = vec![ClusterRow {
            layout: Layout::Single,
            scenario: &CLUSTER_SCENARIOS[1],
            result: serde_json::json!({"clients": 1000, "total_cpu_us_per_delivery": 0.5}),
        }];
        for n in 1..=3 {
            let result = measured(c, n);
            rows.push(ClusterRow {
                layout: Layout::Cluster(n),
                scenario: &CLUSTER_SCENARIOS[1],
                result,
            });
        }
        rows
    }

    const COSTS: Costs = Costs {
        per_delivery: 0.4,
        per_message_per_node: 30.0,
        nats_per_message: 20.0,
        nats_per_message_per_node: 5.0,
        postgres_per_message: 10.0,
        postgres_per_message_per_node: 2.0,
        bytes_per_delivery: 100.0,
    };

    #[test]
    fn each_node_gets_its_share_of_the_cores() {
        assert_eq!(node_workers(1, 2), 2);
        assert_eq!(node_workers(2, 2), 1);
        assert_eq!(node_workers(3, 2), 1);
        assert_eq!(node_workers(3, 8), 2);
        assert_eq!(node_workers(0, 2), 2);
    }

    #[test]
    fn the_costs_are_recovered_from_the_measurements() {
        let got = costs(&rows(&COSTS)).expect("enough rows");
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(got.per_delivery, 0.4), "{got:?}");
        assert!(close(got.per_message_per_node, 30.0), "{got:?}");
        assert!(close(got.nats_per_message, 20.0), "{got:?}");
        assert!(close(got.nats_per_message_per_node, 5.0), "{got:?}");
        assert!(close(got.postgres_per_message, 10.0), "{got:?}");
        assert!(close(got.postgres_per_message_per_node, 2.0), "{got:?}");
        assert!(close(got.bytes_per_delivery, 100.0), "{got:?}");
        assert!(costs(&rows(&COSTS)[..2]).is_none(), "one cluster size is no line");
    }

    #[test]
    fn the_projection_grows_with_nodes_until_a_shared_part_limits_it() {
        // Nodes' bound at n: 2e6 / (400/n + 30) messages; NATS's: 2e6 / (20 + 5n).
        let (one, limit) = projected(&COSTS, 1, 2.0, 1000.0);
        assert_eq!(limit, Limit::Nodes);
        assert!((one - 2e6 / 430.0 * 1000.0).abs() < 1.0, "{one}");
        let (two, _) = projected(&COSTS, 2, 2.0, 1000.0);
        assert!(two > one * 1.5, "{one} {two}");
        // From 16 nodes NATS (2e6/100 = 20,000 messages/s) is below the nodes' 2e6/55.
        let (_, limit) = projected(&COSTS, 16, 2.0, 1000.0);
        assert_eq!(limit, Limit::Nats);
        let stop = saturation(&COSTS, 2.0, 1000.0, 64);
        assert!((4..=16).contains(&stop), "{stop}");
        let pg_bound = Costs { postgres_per_message: 1000.0, ..COSTS };
        assert_eq!(projected(&pg_bound, 1, 2.0, 1000.0).1, Limit::Postgres);
        // 10 kB a delivery: a 10 Gbit/s link carries 125 messages of 1,000 recipients a second
        let heavy = Costs { bytes_per_delivery: 10_000.0, ..COSTS };
        let (rate, limit) = projected(&heavy, 1, 2.0, 1000.0);
        assert_eq!((rate.round(), limit), (125_000.0, Limit::Network));
    }

    #[test]
    fn the_report_shows_each_layout_and_the_ratio_to_one_server() {
        let md = scaling_text(&rows(&COSTS), 2);
        let line = |label: &str| {
            md.lines().find(|l| l.starts_with(&format!("| {label} |"))).unwrap_or("").to_owned()
        };
        assert!(line("one server (SQLite)").ends_with("| 0.500 | 1.00 |"), "{md}");
        // a cluster of 1: 0.4 + 30/999 + 25/999 + 12/999 = 0.467 µs, 0.93 of one server's
        let one = line("cluster of 1 node");
        assert!(one.contains("| 0.467 | 0.93 |"), "{one}");
        assert!(line("cluster of 3 nodes").contains("0.163 / 0.163 / 0.163"), "{md}");
        assert!(md.contains("| `m`, per message, on every node | 30.00 µs |"), "{md}");
        assert!(md.contains("| `B`, bytes per delivery | 100 |"), "{md}");
        assert!(md.contains("stops growing"), "{md}");
    }
}
