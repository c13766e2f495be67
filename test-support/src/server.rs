//! The server running in the test's own process.

use std::net::SocketAddr;
use std::path::PathBuf;

use chatterbox_server::{Config, Server, ServerError};
use tokio::sync::oneshot;

use crate::client::Client;

/// A server running in this process, stopped when dropped.
#[derive(Debug)]
pub struct TestServer {
    /// The first native (TLS) address.
    pub addr: SocketAddr,
    /// Every native address (one per resolved address of the host).
    pub addrs: Vec<SocketAddr>,
    /// The web gateway's first address, if it has one.
    pub web: Option<SocketAddr>,
    /// The development CA the server's certificate is signed by.
    pub ca: PathBuf,
    /// Tells the server to shut down.
    stop: Option<oneshot::Sender<()>>,
    /// The server's run, awaited by [`TestServer::stop`].
    task: Option<tokio::task::JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    /// Binds `config` and runs the server in a task of the current runtime.
    pub async fn start(config: Config) -> Self {
        let server = Server::bind(config).await.expect("server binds");
        let addrs = server.local_addrs();
        let web = server.web_addrs().first().copied();
        let ca = server.ca_path().expect("generated CA").to_owned();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestServer { addr: addrs[0], addrs, web, ca, stop: Some(stop), task: Some(task) }
    }

    /// Stops the server and waits until it has finished.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran cleanly");
        }
    }

    /// A protocol client connected over TLS, not logged in.
    pub async fn client(&self) -> Client {
        Client::connect(self.addr, &self.ca).await
    }

    /// A protocol client logged in under `name`.
    pub async fn user(&self, name: &str) -> Client {
        let mut c = self.client().await;
        let r = c.login(name).await;
        assert_eq!(r.username_accepted, Some(true), "{name} logs in: {r:?}");
        c
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
