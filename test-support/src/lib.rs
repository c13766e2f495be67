//! The test kit shared by the server's, the terminal client's and the load generator's tests
//! (a dev-dependency only).
//!
//! # Layout
//!
//! - [`dirs`]: temporary data and certificate directories, and a configuration using them
//!   that binds on `127.0.0.1:0`.
//! - [`server`]: the server running in the test's own process ([`TestServer`]).
//! - [`process`]: the server binary as a child process ([`BinServer`]), with its log read for
//!   the `listening on` lines.
//! - [`tls`]: TLS connections that verify the server against the generated development CA.
//! - [`client`]: a protocol client over TLS ([`Client`]) with the frame helpers: wait for a
//!   frame matching a predicate within [`PATIENCE`], log in, send, and show that something
//!   did not arrive by waiting for a probe sent after it.
//! - [`ws`]: the web gateway from a test: HTTPS requests and WebSocket sessions.
//! - [`cli`]: the terminal client binary, read line by line ([`Cli`]).
//! - [`pg`]: a PostgreSQL database of the test's own ([`TestDb`]), dropped after it.
//! - [`cluster`]: cluster nodes on the real NATS and a [`TestDb`] ([`Cluster`]), their
//!   stream and buckets deleted after them.
//!
//! Without the default feature `in-process`, only [`dirs`] and [`process`] remain (what
//! xtask needs to run server binaries for its benchmarks).

#[cfg(feature = "in-process")]
pub mod cli;
#[cfg(feature = "in-process")]
pub mod client;
#[cfg(feature = "in-process")]
pub mod cluster;
pub mod dirs;
#[cfg(feature = "in-process")]
pub mod pg;
pub mod process;
#[cfg(feature = "in-process")]
pub mod server;
#[cfg(feature = "in-process")]
pub mod tls;
#[cfg(feature = "in-process")]
pub mod ws;

use std::time::Duration;

#[cfg(feature = "in-process")]
pub use cli::{Cli, CliLauncher};
#[cfg(feature = "in-process")]
pub use client::{Client, Next, contents};
#[cfg(feature = "in-process")]
pub use cluster::{Cleanup, Cluster};
pub use dirs::Dirs;
#[cfg(feature = "in-process")]
pub use pg::TestDb;
pub use process::{BinServer, Listener, SpawnError, listening};
#[cfg(feature = "in-process")]
pub use server::TestServer;
#[cfg(feature = "in-process")]
pub use tls::{
    stream_closed, tls_connect, tls_connect_as, tls_connect_from, tls_connector, try_tls,
};
#[cfg(feature = "in-process")]
pub use ws::{
    HttpAnswer, WsStream, https_get, https_request, ws_closed, ws_connect, ws_connect_with_cookie,
    ws_recv, ws_recv_where, ws_send,
};

/// How long a test waits for something that should happen at once: a frame, a line of
/// output, a closed connection, a process's exit. Generous, because the tests run on loaded
/// 2-core machines; it only bounds how long a failing test takes to say so.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The path of a binary of the calling package, as Cargo builds it for that package's
/// integration tests: `bin!("chatterbox-server")`.
#[macro_export]
macro_rules! bin {
    ($name:literal) => {
        ::std::path::Path::new(env!(concat!("CARGO_BIN_EXE_", $name)))
    };
}

/// The PostgreSQL URL `url` with its database name replaced by `db` (the query kept): how
/// the tests and xtask reach a database they made on the server of an admin URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    let scheme_len = base.len() - rest.len();
    let base = match rest.find('/') {
        Some(slash) => &base[..scheme_len + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Current Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for a listener whose port must be
/// given on a command line before it starts).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// A server's answer to an accepted login that granted every extension, with `users` online
/// and `history` as the join history: what a client's state is fed in unit tests.
#[cfg(feature = "in-process")]
pub fn accepted_login(users: &[&str], history: Vec<shared::Message>) -> shared::Frame {
    shared::Frame {
        username_accepted: Some(true),
        info: Some("Welcome!".into()),
        features: Some(shared::frame::features::CLIENTS.map(String::from).to_vec()),
        user_list: Some(users.iter().map(|u| (*u).to_owned()).collect()),
        messages: Some(history),
        ..shared::Frame::default()
    }
}
