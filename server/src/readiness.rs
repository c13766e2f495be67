//! Whether the server is ready to serve, as `/healthz` on the web port reports it.
//!
//! [`Readiness`] is a list of named [`Check`]s; the server is ready when every one passes. A
//! check only looks at state that is already known (a flag, a channel's state): it must not
//! do I/O, because a probe may come every second. Something that needs I/O to find out (is the
//! message bus reachable?) keeps its answer up to date from its own task and the check reads it.

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// One condition of readiness: `Ok`, or why not (a short sentence for the `503`'s body).
pub trait Check: Send + Sync {
    /// Whether the condition holds now.
    fn check(&self) -> Result<(), String>;
}

impl<F: Fn() -> Result<(), String> + Send + Sync> Check for F {
    fn check(&self) -> Result<(), String> {
        self()
    }
}

/// The checks that make up readiness.
#[derive(Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Box<dyn Check>)>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.checks.iter().map(|(name, _)| name)).finish()
    }
}

impl Readiness {
    /// No checks: always ready.
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// Adds the check `name`.
    pub fn add(&mut self, name: &'static str, check: impl Check + 'static) {
        self.checks.push((name, Box::new(check)));
    }

    /// `self` with the check `name` added.
    pub fn with(mut self, name: &'static str, check: impl Check + 'static) -> Readiness {
        self.add(name, check);
        self
    }

    /// `Ok` when every check passes; otherwise each failing one as `name: why`, joined by
    /// `; `.
    pub fn check(&self) -> Result<(), String> {
        let failing: Vec<String> = self
            .checks
            .iter()
            .filter_map(|(name, c)| c.check().err().map(|why| format!("{name}: {why}")))
            .collect();
        if failing.is_empty() { Ok(()) } else { Err(failing.join("; ")) }
    }
}

/// The store's writer is running: the `committed` channel it publishes on is still open
/// (the writer thread ends, dropping it, when it cannot commit, and at shutdown).
pub fn store_writer(committed: watch::Receiver<i64>) -> impl Check + 'static {
    move || match committed.has_changed() {
        Ok(_) => Ok(()),
        Err(_) => Err("the writer has stopped".to_owned()),
    }
}

/// The server is not stopping (`stop` is cancelled at shutdown and on a fatal error).
pub fn running(stop: CancellationToken) -> impl Check + 'static {
    move || if stop.is_cancelled() { Err("shutting down".to_owned()) } else { Ok(()) }
}

/// The connection to the cluster's NATS is up (the client's own record of it, kept up to date
/// by its connection task): a node cut off from NATS can neither deliver nor accept messages.
pub fn nats(bus: crate::cluster::Bus) -> impl Check + 'static {
    move || {
        if bus.connected() {
            Ok(())
        } else {
            Err("not connected to NATS (reconnecting)".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_until_a_check_fails_and_then_says_which_and_why() {
        let (tx, rx) = watch::channel(0);
        let stop = CancellationToken::new();
        let ready =
            Readiness::new().with("store", store_writer(rx)).with("server", running(stop.clone()));
        assert_eq!(ready.check(), Ok(()));
        drop(tx);
        assert_eq!(ready.check(), Err("store: the writer has stopped".to_owned()));
        stop.cancel();
        assert_eq!(
            ready.check(),
            Err("store: the writer has stopped; server: shutting down".to_owned())
        );
        assert_eq!(format!("{ready:?}"), r#"["store", "server"]"#);
    }
}
