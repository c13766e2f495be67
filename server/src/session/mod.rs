//! The session: one connection's protocol state machine, shared by every transport.
//!
//! A session is `Anonymous` until the hub accepts a `USERNAME`, then `LoggedIn`. It decodes
//! each frame, enforces the rules that concern one connection (types, login first, one login,
//! SRC equals the username, content size) and hands routing to the hub. The one loop in
//! [`serve`] reads frames, writes the outbox the hub fills, and waits for the hub, all at once:
//! while a frame waits for room in the hub's queue the session reads no further frames (TCP
//! pushes back on the sender), but it keeps writing, so no outbox fills up behind a busy hub.
//!
//! - `io`: that loop, with the connection's timer and its writes.
//! - `machine`: the state machine's decisions: what each frame asks of the connection and of
//!   the hub.
//! - `login`: the login at the hub and the answer it brings (the join history).
//! - `account`: the `account` requests that need a password hashed or checked first.

use std::sync::Arc;

use shared::frame::features;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::hub::HubHandle;
use crate::store::Reader;
use crate::throttle::{PerAddress, Rate};

mod account;
mod edit;
pub(crate) mod files;
mod io;
mod login;
mod machine;
mod rooms;

pub use io::{serve, serve_as};

/// The INFO of an accepted login.
pub const WELCOME: &str = "Welcome!";

/// The ERROR every client gets when the server stops.
pub const SHUTTING_DOWN: &str = "The server is shutting down.";

/// Extensions this server supports (see docs/PROTOCOL.md, "Extensions").
pub const SUPPORTED_FEATURES: &[&str] = &features::ALL;

/// What every session shares.
#[derive(Debug)]
pub struct Context {
    /// The hub's queue.
    pub hub: HubHandle,
    /// History reads.
    pub reader: Reader,
    /// The highest committed message id.
    pub committed: watch::Receiver<i64>,
    /// Messages replayed at login.
    pub history: usize,
    /// Seconds after sending a message its author may edit it.
    pub edit_window: i64,
    /// The stored files (extension `files`).
    pub files: crate::files::FileStore,
    /// Largest file a user may send, in bytes.
    pub max_file: u64,
    /// Bytes each user's files may take.
    pub quota: u64,
    /// Time a connection may stay without a login.
    pub login_timeout: std::time::Duration,
    /// Time a logged-in connection may send nothing (zero: no limit).
    pub idle_timeout: std::time::Duration,
    /// Time a frame may stay incomplete once begun.
    pub frame_timeout: std::time::Duration,
    /// Flood control per connection (`None`: off).
    pub flood: Option<Rate>,
    /// Limits per client address (connections, login attempts).
    pub per_address: Arc<PerAddress>,
    /// Cancelled when the server stops.
    pub shutdown: CancellationToken,
    /// Password hashing, a few at a time on the blocking pool.
    pub hasher: crate::accounts::Hasher,
    /// In a cluster: the bus, where a login claims its name for the whole cluster.
    pub bus: Option<crate::cluster::Bus>,
    /// What `/metrics` reports; sessions count their logins in it.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What `/healthz` reports.
    pub readiness: Arc<crate::readiness::Readiness>,
}
