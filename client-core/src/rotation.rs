//! Which of several servers (the nodes of a cluster) a client tries next, and when it has to
//! wait before trying again. Both clients follow the same rule:
//!
//! - At start the servers are tried in the order given; the first that connects is used.
//! - When a connection that was made ends, the *next* server is tried first (the node it was
//!   on may be dead), then the others in turn, cycling, the one that was lost last.
//! - A failed attempt moves on to the next server at once. Only once every server has failed
//!   in a row (a full round) does the client wait, so its backoff applies per round, not per
//!   server: a dead node costs a connection attempt, not a pause.
//!
//! The wait itself (its length, its doubling) is the client's own; this type only says when a
//! round is over.

/// A non-empty list of servers and where the client is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation<T> {
    /// The servers, in the order the user gave them.
    servers: Vec<T>,
    /// The index of the server to try next (or connected to).
    at: usize,
    /// Attempts that failed in a row since the last connection or the last wait: a round is
    /// over when it reaches the number of servers.
    failed: usize,
}

impl<T> Rotation<T> {
    /// A rotation starting at the first of `servers`; `None` if there is none.
    pub fn new(servers: Vec<T>) -> Option<Self> {
        (!servers.is_empty()).then_some(Rotation { servers, at: 0, failed: 0 })
    }

    /// A rotation of one server: every failure ends a round.
    pub fn single(server: T) -> Self {
        Rotation { servers: vec![server], at: 0, failed: 0 }
    }

    /// The server to try next (or the one connected to).
    pub fn current(&self) -> &T {
        &self.servers[self.at]
    }

    /// The servers, in the order given.
    pub fn servers(&self) -> &[T] {
        &self.servers
    }

    /// How many servers there are (never 0).
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Whether there are no servers: never, as [`Rotation::new`] refuses an empty list.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// An attempt at the current server failed: the next one becomes current. Returns `true`
    /// when that completes a round (every server failed in a row): the client waits its
    /// backoff before the next attempt. `false`: the next server is tried at once.
    pub fn failed(&mut self) -> bool {
        self.advance();
        self.failed += 1;
        if self.failed >= self.servers.len() {
            self.failed = 0;
            return true;
        }
        false
    }

    /// A connection to the current server was made and has ended: the next server becomes
    /// current, and a new round begins (the client waits its backoff first, as after any
    /// lost connection).
    pub fn lost(&mut self) {
        self.advance();
        self.failed = 0;
    }

    /// The connection ended on purpose (the user left): the same server again, in a new
    /// round.
    pub fn stay(&mut self) {
        self.failed = 0;
    }

    fn advance(&mut self) {
        self.at = (self.at + 1) % self.servers.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which server each attempt goes to and whether a wait follows it, for `outcomes` (true:
    /// connected, then lost; false: failed).
    fn trace(n: usize, outcomes: &[bool]) -> Vec<(char, bool)> {
        let names: Vec<char> = ('a'..).take(n).collect();
        let mut r = Rotation::new(names).expect("servers");
        outcomes
            .iter()
            .map(|&connected| {
                let tried = *r.current();
                let wait = if connected {
                    r.lost();
                    true
                } else {
                    r.failed()
                };
                (tried, wait)
            })
            .collect()
    }

    #[test]
    fn the_first_server_that_connects_is_used_and_a_wait_follows_only_a_full_round() {
        // a and b down, c up
        assert_eq!(trace(3, &[false, false, true]), [('a', false), ('b', false), ('c', true)]);
        // all down: one wait per round of three attempts, cycling from the start
        assert_eq!(
            trace(3, &[false; 7]),
            [
                ('a', false),
                ('b', false),
                ('c', true),
                ('a', false),
                ('b', false),
                ('c', true),
                ('a', false)
            ]
        );
    }

    #[test]
    fn after_a_lost_connection_the_next_server_comes_first_and_the_lost_one_last() {
        // on b, lost; then c, a fail and b (back again) connects
        let t = trace(3, &[false, true, false, false, true]);
        assert_eq!(t, [('a', false), ('b', true), ('c', false), ('a', false), ('b', true)]);
        // a round after a loss is a full one: c, a, b fail, then the wait
        let t = trace(3, &[false, true, false, false, false, false]);
        assert_eq!(t[2..], [('c', false), ('a', false), ('b', true), ('c', false)]);
    }

    #[test]
    fn one_server_waits_after_every_attempt_as_a_single_server_client_always_did() {
        assert_eq!(trace(1, &[false, false, true, false]), [('a', true); 4]);
    }

    #[test]
    fn leaving_on_purpose_stays_on_the_server_and_starts_a_new_round() {
        let mut r = Rotation::new(vec!['a', 'b']).expect("servers");
        assert!(!r.failed());
        assert_eq!(*r.current(), 'b');
        r.stay();
        assert_eq!(*r.current(), 'b');
        assert!(!r.failed(), "a new round: b failing is not the end of one");
        assert!(r.failed());
    }

    #[test]
    fn an_empty_list_has_no_rotation() {
        assert!(Rotation::<char>::new(Vec::new()).is_none());
        let r = Rotation::new(vec![1, 2]).expect("servers");
        assert_eq!((r.len(), r.is_empty(), r.servers()), (2, false, &[1, 2][..]));
        let mut one = Rotation::single('a');
        assert_eq!((one.len(), *one.current()), (1, 'a'));
        assert!(one.failed() && one.failed());
    }
}
