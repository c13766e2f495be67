//! How long the page waits before it opens the WebSocket again: at once after the user left,
//! otherwise twice as long after each failed attempt, from [`FIRST_BACKOFF_MS`] up to
//! [`MAX_BACKOFF_MS`], and from the start again once logged in. With several gateways the
//! wait comes once per full round of them (see [`crate::gateways`]).

/// First pause before reconnecting, in milliseconds; doubles up to [`MAX_BACKOFF_MS`].
pub const FIRST_BACKOFF_MS: u32 = 500;
/// Longest pause between attempts, in milliseconds: a server down for long is tried twice a
/// minute, and a page left open does not keep a restarted server busy.
pub const MAX_BACKOFF_MS: u32 = 30_000;

/// How a connection (or an attempt at one) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It failed before the server said anything: the socket did not open (or closed at
    /// once), or the login could not be sent.
    Failed,
    /// The connection dropped after the server had answered on it: the gateway was there.
    Dropped,
    /// The user left; the next connection opens at once.
    Left,
}

/// The pause before the next attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    next_ms: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next_ms: FIRST_BACKOFF_MS }
    }
}

impl Backoff {
    /// Logged in: the next failure waits the shortest pause again.
    pub fn reset(&mut self) {
        self.next_ms = FIRST_BACKOFF_MS;
    }

    /// The connection ended; returns how many milliseconds to wait before the next attempt.
    pub fn after(&mut self, ended: Ended) -> u32 {
        match ended {
            Ended::Left => {
                self.reset();
                0
            }
            Ended::Failed | Ended::Dropped => {
                let wait = self.next_ms;
                self.next_ms = wait.saturating_mul(2).min(MAX_BACKOFF_MS);
                wait
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_wait_longer_each_time_up_to_the_longest_pause() {
        let mut b = Backoff::default();
        let waits: Vec<u32> =
            (0..9).map(|i| b.after([Ended::Failed, Ended::Dropped][i % 2])).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
        b.reset();
        assert_eq!(b.after(Ended::Failed), FIRST_BACKOFF_MS, "logged in: from the start again");
    }

    #[test]
    fn leaving_reconnects_at_once_and_a_failure_after_it_waits() {
        let mut b = Backoff::default();
        b.after(Ended::Failed);
        b.after(Ended::Failed);
        assert_eq!(b.after(Ended::Left), 0);
        assert_eq!(b.after(Ended::Failed), FIRST_BACKOFF_MS, "never a loop without a pause");
    }
}
