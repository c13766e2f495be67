//! Listening sockets: every address the host name resolves to, and the accept loop.
//!
//! The listener knows TCP and TLS and nothing of the protocol; each accepted connection gets
//! TCP_NODELAY, a bounded TLS handshake and then a session.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

use crate::session::{self, Context};
use crate::throttle::Slot;
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

/// What an admitted connection holds for its whole life: a place under the connection limit
/// and one among its address's connections.
pub type Admission = (OwnedSemaphorePermit, Slot);

/// Waits for the next connection that fits both limits, tuned (see [`tune`]); connections
/// over a limit are closed at once. `None` at shutdown.
pub async fn next_admitted(
    listener: &TcpListener,
    ctx: &Context,
    limit: &Arc<Semaphore>,
) -> Option<(TcpStream, SocketAddr, Admission)> {
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
        let Some(slot) = ctx.per_address.connect(peer.ip()) else {
            tracing::info!(%peer, "too many connections from this address; refusing");
            continue;
        };
        tune(&tcp);
        return Some((tcp, peer, (permit, slot)));
    }
}

/// Accepts connections until shutdown. Without a TLS configuration the connections are plain
/// TCP (the debugging listener).
pub async fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    ctx: Arc<Context>,
    limit: Arc<Semaphore>,
    tracker: TaskTracker,
    max_frame: usize,
    handshake_timeout: Duration,
) {
    while let Some((tcp, peer, admission)) = next_admitted(&listener, &ctx, &limit).await {
        let ctx = Arc::clone(&ctx);
        let Some(config) = tls.clone() else {
            tracker.spawn(async move {
                let _admission = admission;
                session::serve(Native::new(tcp, max_frame), ctx, peer.ip()).await;
            });
            continue;
        };
        tracker.spawn(async move {
            let _admission = admission;
            let handshake =
                tokio::time::timeout(handshake_timeout, Tls::accept(tcp, config, max_frame));
            let tls = tokio::select! {
                () = ctx.shutdown.cancelled() => return,
                r = handshake => match r {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
            };
            session::serve(tls, ctx, peer.ip()).await;
        });
    }
}
