//! Cluster nodes in the test's own process against the real NATS JetStream and PostgreSQL:
//! each [`Cluster`] has its own database ([`TestDb`]) and its own stream and buckets (a prefix
//! of its own), deleted when it is dropped, also when the test failed. The nodes share one
//! development CA, so that one certificate verifies every node (as a load balancer's clients
//! need).
//!
//! NATS is `CHATTERBOX_TEST_NATS`, by default the local one the project's machines run; a
//! test that needs it fails with a message saying so when it is not reachable.

use std::sync::atomic::{AtomicU32, Ordering};

use chatterbox_server::cluster::{Bus, BusSettings};
use chatterbox_server::config::ClusterConfig;

use crate::{Dirs, TestDb, TestServer};

/// The environment variable naming the NATS server for tests.
pub const ENV: &str = "CHATTERBOX_TEST_NATS";

/// The NATS server the tests use: [`ENV`], or the one the project's machines run.
pub fn nats_url() -> String {
    std::env::var(ENV).unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A number not used before in this process (for names of streams).
pub fn unique() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Bus settings with a prefix of their own, starting with `what`.
pub fn own_settings(what: &str) -> BusSettings {
    BusSettings {
        prefix: format!("{what}_{}_{}", std::process::id(), unique()),
        ..BusSettings::default()
    }
}

/// Nodes sharing one database and one stream.
#[derive(Debug)]
pub struct Cluster {
    /// The nodes, in the order started.
    pub nodes: Vec<TestServer>,
    /// Each node's directories (the first's certificates are everyone's).
    pub dirs: Vec<Dirs>,
    /// A connection of the test's own to the cluster's stream and buckets.
    pub bus: Bus,
    /// The cluster's database.
    pub db: TestDb,
    /// Deletes the stream and buckets when dropped.
    pub cleanup: Cleanup,
}

/// Deletes a test's stream and buckets when dropped, also when the test failed.
#[derive(Debug)]
pub struct Cleanup {
    /// The NATS server they are on.
    pub nats: String,
    /// Whose they are.
    pub settings: BusSettings,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Dropped from synchronous code, perhaps inside a runtime: a thread of its own with a
        // small runtime of its own.
        let (nats, settings) = (self.nats.clone(), self.settings.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let bus = Bus::connect(&nats, settings, "cleanup".into()).await.ok()?;
                bus.destroy().await.ok()
            })
        })
        .join();
    }
}

impl Cluster {
    /// `n` nodes on a fresh database.
    pub async fn start(n: usize) -> Cluster {
        Cluster::start_with(n, &[], TestDb::new().await).await
    }

    /// `n` nodes with `operators`, on the database `db`.
    pub async fn start_with(n: usize, operators: &[&str], db: TestDb) -> Cluster {
        Cluster::start_on(n, operators, db, &nats_url()).await
    }

    /// The same against the NATS at `nats`.
    pub async fn start_on(n: usize, operators: &[&str], db: TestDb, nats: &str) -> Cluster {
        Cluster::start_configured(n, db, nats, |config| {
            config.operators = operators.iter().map(|o| (*o).to_owned()).collect();
        })
        .await
    }

    /// `n` nodes on `db` and the NATS at `nats`, each configuration changed by `adjust`.
    pub async fn start_configured(
        n: usize,
        db: TestDb,
        nats: &str,
        adjust: impl Fn(&mut chatterbox_server::Config),
    ) -> Cluster {
        let settings = own_settings("test");
        let bus = Bus::connect(nats, settings.clone(), "test".into()).await.unwrap_or_else(|e| {
            panic!("NATS with JetStream is needed ({e}); start it or set {ENV}")
        });
        let mut nodes = Vec::new();
        let mut dirs: Vec<Dirs> = Vec::new();
        for _ in 0..n {
            let d = Dirs::new();
            let mut config = d.config();
            // One set of certificates, and one directory of files every node shares (as a
            // network file system would be in production).
            let shared = dirs.first().unwrap_or(&d);
            config.certs_dir = shared.certs();
            config.files_dir = Some(shared.data().join("files"));
            config.cluster = Some(ClusterConfig {
                nats_url: nats.to_owned(),
                database_url: db.url.clone(),
                bus: settings.clone(),
            });
            adjust(&mut config);
            nodes.push(TestServer::start(config).await);
            dirs.push(d);
        }
        let cleanup = Cleanup { nats: nats.to_owned(), settings };
        Cluster { nodes, dirs, bus, db, cleanup }
    }

    /// Stops the nodes; the stream and buckets go with the [`Cleanup`].
    pub async fn stop(self) {
        for node in self.nodes {
            node.stop().await;
        }
    }
}
