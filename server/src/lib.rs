//! The Chatterbox server.
//!
//! [`Server::bind`] prepares everything that can fail (certificates, database, sockets) and
//! [`Server::run`] serves until the given shutdown future resolves; [`run`] does both. Tests
//! start it on `127.0.0.1:0`; the binary only parses arguments.
//!
//! # Layout
//!
//! - [`config`]: what an operator chooses, and the named limits that protect the server.
//! - [`tls`]: the development CA and server certificate, and the rustls configuration.
//! - [`listener`]: resolving the host, binding every address, accepting with a connection limit
//!   and a handshake timeout, and telling a connection over its address's limit why.
//! - [`transport`]: how frames get on and off a connection ([`transport::tls`]: rustls with
//!   connection-owned buffers and the length-prefixed frames on it; [`transport::ws`]: WebSocket
//!   on the same TLS; [`transport::native`]: the plaintext debugging port). The only part that
//!   differs between transports.
//! - [`session`]: one connection's protocol state machine and its read/write loop.
//! - [`http`]: the web gateway: HTTPS for the embedded browser client and the WebSocket
//!   handshake, whose connections run through the same sessions as native ones; `/healthz`
//!   and `/metrics`.
//! - [`hub`]: who is online, message order, routing, and fan-out of bytes encoded once.
//! - [`outbox`]: a connection's queued output and the merging of messages into frames.
//! - [`wire`]: the frames spliced from JSON pieces encoded once (lists, the login answer).
//! - [`throttle`]: flood control (token buckets) and the limits per client address.
//! - [`store`]: SQLite history with one group-committing writer thread and pooled readers.
//! - [`metrics`] and [`readiness`]: what `/metrics` and `/healthz` on the web port report.

pub mod accounts;
pub mod cluster;
pub mod config;
pub mod files;
pub mod http;
pub mod hub;
pub mod listener;
pub mod metrics;
pub mod outbox;
pub mod readiness;
pub mod registry;
pub mod rooms;
pub mod search;
pub mod session;
pub mod store;
pub mod throttle;
pub mod thumbs;
pub mod tls;
pub mod transport;
pub mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;

use crate::config::{HUB_QUEUE, SHUTDOWN_GRACE};
use crate::listener::Port;
use crate::session::Context;

/// Why the server could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The cluster's NATS could not be used.
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    /// The cluster's database could not be used (`url` without its password).
    #[error("the cluster's database at {url} cannot be used: {source}")]
    ClusterDatabase {
        /// Where it was looked for, the password hidden.
        url: String,
        /// What went wrong.
        source: store::StoreError,
    },
    /// No socket could be bound.
    #[error(transparent)]
    Bind(#[from] listener::BindError),
    /// Only one of --cert and --key was given.
    #[error("--cert and --key go together")]
    CertWithoutKey,
    /// The store could not commit, so the server stopped.
    #[error("the store failed; see the log")]
    StoreFailed,
    /// An `--operator` is not a registered account.
    #[error(
        "--operator {0}: there is no registered account {0}; start the server without it, log in \
         as {0} and register the name (REGISTER, or /register in the terminal client), then restart"
    )]
    OperatorNotRegistered(String),
}

/// A server with its sockets bound and its state opened, ready to [`run`](Server::run).
pub struct Server {
    config: Config,
    listeners: Vec<TcpListener>,
    web_listeners: Vec<TcpListener>,
    plain_listeners: Vec<TcpListener>,
    /// The TLS configuration of both the native and the web listeners.
    tls_config: Arc<rustls::ServerConfig>,
    ca: Option<PathBuf>,
    writer: store::Writer,
    reader: store::Reader,
    loaded: store::Loaded,
    /// The files users send (extension `files`).
    files: files::FileStore,
    /// In a cluster: the bus and the names held in the cluster at start.
    bus: Option<(cluster::Bus, Vec<(String, cluster::Holder)>)>,
    /// Cancelled to stop; the store cancels it too if it cannot commit.
    stop: CancellationToken,
    /// What `/metrics` reports.
    metrics: Arc<metrics::Metrics>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addrs", &self.local_addrs()).finish_non_exhaustive()
    }
}

impl Server {
    /// Loads or creates the certificates, opens the database and binds the listening sockets.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let (cert, key, ca) = match (&config.cert, &config.key) {
            (Some(c), Some(k)) => (c.clone(), k.clone(), None),
            (None, None) => {
                let paths = tls::ensure_dev_certs(&config.certs_dir)?;
                (paths.cert, paths.key, paths.ca)
            }
            _ => return Err(ServerError::CertWithoutKey),
        };
        let tls_config = tls::server_config(&cert, &key)?;
        let stop = CancellationToken::new();
        let metrics = Arc::new(metrics::Metrics::new());
        let commit_seconds = metrics.store_commit_seconds.clone();
        let files_root =
            config.files_dir.clone().unwrap_or_else(|| config.data_dir.join(files::FILES_DIR));
        let file_store = files::FileStore::open_root(&files_root)
            .map_err(|source| store::StoreError::Dir { path: files_root.clone(), source })?;
        let backend = match &config.cluster {
            Some(c) => store::Backend::Postgres(&c.database_url, Some(&files_root)),
            None => store::Backend::Sqlite(&config.data_dir),
        };
        let opened = store::open(backend, stop.clone(), commit_seconds).await;
        let (writer, reader, loaded) = match (opened, &config.cluster) {
            (Ok(store), _) => store,
            (Err(source), Some(c)) => {
                return Err(ServerError::ClusterDatabase {
                    url: c.database_url_redacted(),
                    source,
                });
            }
            (Err(e), None) => return Err(e.into()),
        };
        let bus = match &config.cluster {
            Some(c) => {
                let node = cluster::node_id();
                tracing::info!(node = %node, "joining the cluster");
                let bus =
                    cluster::Bus::connect(&c.nats_url, c.bus.clone(), node).await.map_err(|e| {
                        match e {
                            cluster::ClusterError::Unreachable { why, .. } => {
                                cluster::ClusterError::Unreachable {
                                    url: c.nats_url_redacted(),
                                    why,
                                }
                            }
                            other => other,
                        }
                    })?;
                let holders = bus.holders().await?;
                Some((bus, holders))
            }
            None => None,
        };
        for name in &config.operators {
            let key = shared::names::name_key(name);
            if !loaded.registry.accounts.iter().any(|(k, _)| *k == key) {
                return Err(ServerError::OperatorNotRegistered(name.clone()));
            }
        }
        let addrs = listener::resolve(&config.host, config.port).await?;
        let listeners = listener::bind(&addrs)?;
        let web_listeners = match config.web_port {
            Some(port) => listener::bind(&listener::resolve(&config.host, port).await?)?,
            None => Vec::new(),
        };
        let plain_listeners = match config.plaintext_port {
            Some(port) => listener::bind(&listener::resolve(&config.host, port).await?)?,
            None => Vec::new(),
        };
        Ok(Server {
            config,
            listeners,
            web_listeners,
            plain_listeners,
            tls_config,
            ca,
            writer,
            reader,
            loaded,
            files: file_store,
            bus,
            stop,
            metrics,
        })
    }

    /// The addresses the server listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// The addresses of the plaintext debugging listener, if one was asked for.
    pub fn plaintext_addrs(&self) -> Vec<SocketAddr> {
        self.plain_listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// The addresses of the web gateway (HTTPS and WebSocket).
    pub fn web_addrs(&self) -> Vec<SocketAddr> {
        self.web_listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// The development CA clients should trust, when the certificates were generated.
    pub fn ca_path(&self) -> Option<&std::path::Path> {
        self.ca.as_deref()
    }

    /// Serves until `shutdown` resolves (or the store fails), then stops accepting, tells every
    /// client, commits what is queued and returns within about two seconds.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServerError> {
        let Server {
            config,
            listeners,
            web_listeners,
            plain_listeners,
            tls_config,
            ca: _,
            writer,
            reader,
            loaded,
            files: file_store,
            bus,
            stop,
            metrics,
        } = self;
        let store::Writer { ops, committed, finished } = writer;
        let mut loaded = loaded;
        let operators = config.operators.iter().map(|n| shared::names::name_key(n)).collect();
        let mut registry = registry::Registry::new(
            std::mem::take(&mut loaded.registry),
            operators,
            config.reserve,
            config.session,
            hub::unix_now(),
        );
        if config.cluster.is_some() {
            registry = registry.in_cluster();
        }
        let bus_for_sessions = bus.as_ref().map(|(b, _)| b.clone());
        let (hub, hub_task) = hub::spawn(hub::Setup {
            store: ops,
            committed: committed.clone(),
            loaded,
            registry,
            queue: HUB_QUEUE,
            shutdown: stop.clone(),
            metrics: Arc::clone(&metrics),
            cluster: bus,
        });
        let mut readiness = readiness::Readiness::new()
            .with("store", readiness::store_writer(committed.clone()))
            .with("server", readiness::running(stop.clone()));
        if let Some(bus) = &bus_for_sessions {
            readiness.add("nats", readiness::nats(bus.clone()));
        }
        let ctx = Arc::new(Context {
            hub,
            reader,
            committed,
            history: config.history,
            edit_window: config.edit_window,
            files: file_store.clone(),
            max_file: config.max_file,
            quota: config.quota,
            login_timeout: config.login_timeout,
            idle_timeout: config.idle_timeout,
            frame_timeout: config.frame_timeout,
            flood: config.flood,
            per_address: throttle::PerAddress::new(
                config.max_per_address,
                config.login_rate,
                config.exempt.clone(),
            ),
            shutdown: stop.clone(),
            hasher: accounts::Hasher::default(),
            bus: bus_for_sessions,
            metrics,
            readiness: Arc::new(readiness),
        });
        let tracker = TaskTracker::new();
        let acceptor = listener::Acceptor {
            ctx: Arc::clone(&ctx),
            limit: Arc::new(Semaphore::new(config.max_connections)),
            refusals: Arc::new(Semaphore::new(listener::MAX_REFUSALS_IN_FLIGHT)),
            tracker: tracker.clone(),
            handshake_timeout: config.handshake_timeout,
        };
        acceptor.spawn(listeners, &Port::Native(Arc::clone(&tls_config)));
        acceptor.spawn(plain_listeners, &Port::Plaintext);
        if !web_listeners.is_empty() {
            if !http::web_client_built() {
                tracing::warn!("built without the web client; the page explains how to build it");
            }
            let gateway = http::Gateway::new(
                Arc::clone(&ctx),
                tls_config,
                http::Origins { extra: config.allow_origins.clone() },
                config.ws_ping,
                config.handshake_timeout,
            );
            acceptor.spawn(web_listeners, &Port::Web(Arc::new(gateway)));
        }
        drop(acceptor);
        drop(ctx);
        tracker.spawn(sweep_partial_uploads(file_store, stop.clone()));

        let failed = tokio::select! {
            () = shutdown => false,
            () = stop.cancelled() => true,
        };
        tracing::info!("shutting down");
        stop.cancel();
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        tracker.close();
        if tokio::time::timeout_at(deadline, tracker.wait()).await.is_err() {
            tracing::warn!("some connections did not close in time");
        }
        let _ = tokio::time::timeout_at(deadline, hub_task).await;
        // The hub has dropped its side of the store's queue: the writer commits what is left
        // and ends.
        match tokio::time::timeout_at(deadline + SHUTDOWN_GRACE / 3, finished.wait()).await {
            Ok(true) => {}
            Ok(false) => tracing::error!("the store's writer panicked"),
            Err(_) => tracing::warn!("the store did not finish in time"),
        }
        tracing::info!("stopped");
        if failed { Err(ServerError::StoreFailed) } else { Ok(()) }
    }
}

/// Removes, now and then, uploads that stopped halfway and were not resumed for
/// [`files::PARTIAL_TTL`], until the server stops.
async fn sweep_partial_uploads(files: files::FileStore, stop: CancellationToken) {
    loop {
        let before = std::time::SystemTime::now() - files::PARTIAL_TTL;
        let store = files.clone();
        match tokio::task::spawn_blocking(move || store.sweep(before)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(removed = n, "removed abandoned partial uploads"),
            Ok(Err(e)) => tracing::warn!(error = %e, "sweeping partial uploads"),
            Err(_) => {}
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(files::SWEEP_EVERY) => {}
        }
    }
}

/// Binds and runs a server until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    Server::bind(config).await?.run(shutdown).await
}
