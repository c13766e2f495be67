//! Listening sockets: every address the host name resolves to, and the accept loops.
//!
//! Each accepted connection gets TCP_NODELAY, a bounded TLS handshake and then, according to
//! its port, a session on the native framing or the web gateway. A connection over its
//! address's limit is told why (an ERROR after the handshake) and closed.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Either;
use rustls::ServerConfig;
use shared::Frame;
use shared::limits::MAX_CLIENT_FRAME_LEN;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

use crate::config::GOODBYE_TIMEOUT;
use crate::http::Gateway;
use crate::session::{self, Context};
use crate::throttle::Slot;
use crate::transport::Transport;
use crate::transport::native::Native;
use crate::transport::tls::Tls;

/// Pending connections the kernel queues per listening socket. Logins arrive in bursts (a
/// restart reconnects everyone at once); a deep backlog lets the accept loop catch up.
const LISTEN_BACKLOG: i32 = 4096;

/// Pause after a failed `accept` (out of file descriptors, say) before trying again, so that
/// the loop does not spin while nothing can be accepted.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why no socket could be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The host name did not resolve.
    #[error("cannot resolve {host:?}: {source}")]
    Resolve {
        /// The host.
        host: String,
        /// What the resolver said.
        source: io::Error,
    },
    /// Binding failed on every address.
    #[error("cannot listen on {addrs}: {source}")]
    Bind {
        /// The addresses tried.
        addrs: String,
        /// The last error.
        source: io::Error,
    },
}

/// The addresses to listen on: every interface for an empty host (IPv6 and IPv4), otherwise
/// every address `getaddrinfo` gives for the host, without duplicates.
pub async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, BindError> {
    if host.is_empty() {
        return Ok(vec![
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        ]);
    }
    let host_only = host.trim_start_matches('[').trim_end_matches(']');
    let found = tokio::net::lookup_host((host_only, port))
        .await
        .map_err(|source| BindError::Resolve { host: host.to_owned(), source })?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for a in found {
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    Ok(addrs)
}

/// Binds every address. With port 0 the first socket picks a free port and the others use the
/// same one. Addresses that cannot be bound (say, IPv6 on a host without it) are skipped with a
/// warning, as long as one can.
pub fn bind(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, BindError> {
    let mut listeners: Vec<TcpListener> = Vec::new();
    let mut last_err = None;
    let mut port = addrs.first().map(SocketAddr::port).unwrap_or(0);
    for addr in addrs {
        let mut addr = *addr;
        if addr.port() == 0 {
            addr.set_port(port);
        }
        match bind_one(addr) {
            Ok(l) => {
                if port == 0 {
                    port = l.local_addr().map(|a| a.port()).unwrap_or(0);
                }
                listeners.push(l);
            }
            Err(e) => {
                tracing::warn!(%addr, error = %e, "cannot listen on this address");
                last_err = Some(e);
            }
        }
    }
    if listeners.is_empty() {
        let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        return Err(BindError::Bind {
            addrs: list.join(", "),
            source: last_err.unwrap_or_else(|| io::Error::other("no address to listen on")),
        });
    }
    Ok(listeners)
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        // IPv4 gets its own socket; a dual-stack one would collide with it.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// TCP_NODELAY (a chat line should leave at once, not wait for an ACK) and keepalive (to
/// find peers that vanished) on an accepted socket.
pub fn tune(tcp: &tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(crate::config::KEEPALIVE_TIME)
        .with_interval(crate::config::KEEPALIVE_INTERVAL);
    let _ = socket2::SockRef::from(tcp).set_tcp_keepalive(&keepalive);
}

/// Refused connections (over their address's limit) being told why at once: each costs a
/// TLS handshake, bounded in time by the handshake timeout and in number by this, so that one
/// address cannot take more of the server by being refused. Beyond it they are closed
/// without a word.
pub const MAX_REFUSALS_IN_FLIGHT: usize = 64;

/// What an admitted connection holds for its whole life: a place under the connection limit
/// and one among its address's connections.
pub type Admission = (OwnedSemaphorePermit, Slot);

/// How an accepted connection is let in.
#[derive(Debug)]
pub enum Entry {
    /// Within every limit.
    Admitted(Admission),
    /// Over its address's limit: it is told why, then closed. The permit is its place among
    /// the refusals in flight.
    Refused(String, OwnedSemaphorePermit),
}

impl Entry {
    /// Why the connection is refused, if it is.
    pub fn refusal(&self) -> Option<&str> {
        match self {
            Entry::Admitted(_) => None,
            Entry::Refused(why, _) => Some(why),
        }
    }

    /// Runs a session on `t`, or tells a refused connection why and closes it.
    ///
    /// The session's future is returned as it is rather than awaited in an `async` block,
    /// which would hold the transport twice (see [`session::serve`]).
    pub fn serve<T: Transport>(
        self,
        t: T,
        ctx: Arc<Context>,
        ip: IpAddr,
    ) -> impl Future<Output = ()> + Send {
        self.serve_as(t, ctx, ip, crate::hub::ConnId::next(), None)
    }

    /// [`Entry::serve`] as the connection `conn`, whose page fetches files under `files_url`.
    pub fn serve_as<T: Transport>(
        self,
        mut t: T,
        ctx: Arc<Context>,
        ip: IpAddr,
        conn: crate::hub::ConnId,
        files_url: Option<String>,
    ) -> impl Future<Output = ()> + Send {
        match self {
            Entry::Admitted(admission) => {
                let open = ctx.metrics.open_connection(T::KIND);
                let session = session::serve_as(t, ctx, ip, conn, files_url);
                Either::Left(session.map(move |()| drop((admission, open))))
            }
            Entry::Refused(why, permit) => Either::Right(async move {
                let error = shared::encode(&Frame::error(why));
                let _ = tokio::time::timeout(GOODBYE_TIMEOUT, t.send(&error)).await;
                let _ = tokio::time::timeout(GOODBYE_TIMEOUT, t.close()).await;
                drop(permit);
            }),
        }
    }
}

/// The ERROR of a connection over its address's limit.
pub fn over_the_address_limit(max: usize) -> String {
    format!(
        "Too many connections from your address (at most {max} at once); close one and try \
         again. The server's operator can exempt a shared address (--exempt-address)."
    )
}

/// Waits for the next connection within the connection limit, tuned (see [`tune`]), and
/// admitted or refused by its address's limit; connections beyond that are closed at once.
/// `None` at shutdown.
pub async fn next_admitted(
    listener: &TcpListener,
    ctx: &Context,
    limit: &Arc<Semaphore>,
    refusals: &Arc<Semaphore>,
) -> Option<(TcpStream, SocketAddr, Entry)> {
    loop {
        let accepted = tokio::select! {
            () = ctx.shutdown.cancelled() => return None,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(limit).try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; refusing");
            continue;
        };
        let entry = match ctx.per_address.connect(peer.ip()) {
            Some(slot) => Entry::Admitted((permit, slot)),
            None => {
                drop(permit);
                let Ok(refusing) = Arc::clone(refusals).try_acquire_owned() else {
                    tracing::info!(%peer, "too many connections from this address; closing");
                    continue;
                };
                tracing::info!(%peer, "too many connections from this address; refusing");
                Entry::Refused(over_the_address_limit(ctx.per_address.max_connections()), refusing)
            }
        };
        tune(&tcp);
        return Some((tcp, peer, entry));
    }
}

/// What a listening port serves.
#[derive(Debug, Clone)]
pub enum Port {
    /// The native protocol over TLS.
    Native(Arc<ServerConfig>),
    /// The native protocol on plain TCP (for debugging only).
    Plaintext,
    /// The web gateway over TLS: the browser client and its WebSocket.
    Web(Arc<Gateway>),
}

impl Port {
    /// Logs what a listener of this port serves.
    fn announce(&self, addr: SocketAddr) {
        match self {
            Port::Native(_) => tracing::info!("listening on {addr} (native protocol, TLS)"),
            Port::Plaintext => tracing::warn!(
                "listening on {addr} (native protocol, PLAINTEXT: for debugging only; \
                 messages and names travel unencrypted)"
            ),
            Port::Web(..) => {
                tracing::info!("listening on {addr} (web client and WebSocket, HTTPS)");
            }
        }
    }
}

/// What every accept loop shares.
#[derive(Debug, Clone)]
pub struct Acceptor {
    /// What every session shares.
    pub ctx: Arc<Context>,
    /// The connection limit, shared by every port.
    pub limit: Arc<Semaphore>,
    /// Refusals in flight ([`MAX_REFUSALS_IN_FLIGHT`]).
    pub refusals: Arc<Semaphore>,
    /// Every connection's task, waited for at shutdown.
    pub tracker: TaskTracker,
    /// Time allowed for a TLS handshake (and for an HTTP request's header).
    pub handshake_timeout: Duration,
}

impl Acceptor {
    /// Starts an accept loop on each of `listeners`, serving `port`.
    pub fn spawn(&self, listeners: Vec<TcpListener>, port: &Port) {
        for l in listeners {
            if let Ok(addr) = l.local_addr() {
                port.announce(addr);
            }
            tokio::spawn(self.clone().accept_loop(l, port.clone()));
        }
    }

    /// Accepts connections until shutdown. Each connection's task is its own kind of future,
    /// so that a native connection's task is no larger than it needs to be.
    async fn accept_loop(self, listener: TcpListener, port: Port) {
        while let Some((tcp, peer, entry)) =
            next_admitted(&listener, &self.ctx, &self.limit, &self.refusals).await
        {
            let ctx = Arc::clone(&self.ctx);
            let timeout = self.handshake_timeout;
            match &port {
                Port::Plaintext => {
                    let t = Native::new(tcp, MAX_CLIENT_FRAME_LEN);
                    self.tracker.spawn(entry.serve(t, ctx, peer.ip()));
                }
                // The handshake's future is made inside the task (one made outside would be
                // held, at its full size, for the connection's whole life) and awaited in a
                // `let` statement, whose temporaries end with it: the scrutinee of an `if let`
                // would stay in the task's state beside the session.
                Port::Native(config) => {
                    let config = Arc::clone(config);
                    self.tracker.spawn(async move {
                        let handshake = Tls::accept(tcp, config, MAX_CLIENT_FRAME_LEN);
                        let Some(t) = handshake_within(handshake, timeout, &ctx, peer).await else {
                            return;
                        };
                        entry.serve(t, ctx, peer.ip()).await;
                    });
                }
                Port::Web(gateway) => {
                    self.tracker.spawn(Arc::clone(gateway).serve(tcp, peer, entry));
                }
            }
        }
    }
}

/// Runs a TLS handshake for at most `timeout`, unless the server stops first.
pub async fn handshake_within<T>(
    handshake: impl Future<Output = io::Result<T>>,
    timeout: Duration,
    ctx: &Context,
    peer: SocketAddr,
) -> Option<T> {
    tokio::select! {
        () = ctx.shutdown.cancelled() => None,
        r = tokio::time::timeout(timeout, handshake) => match r {
            Ok(Ok(t)) => Some(t),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                None
            }
        },
    }
}
