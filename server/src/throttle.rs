//! Flood control: token buckets, per connection for messages and per address for logins, and
//! the count of connections per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A rate: `burst` at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// How many may go at once after a quiet spell.
    pub burst: u32,
    /// How many a second in the long run.
    pub per_second: f64,
}

/// A token bucket.
#[derive(Debug, Clone)]
pub struct Bucket {
    rate: Rate,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(rate: Rate, now: Instant) -> Self {
        Bucket { rate, tokens: f64::from(rate.burst), last: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * self.rate.per_second).min(f64::from(self.rate.burst));
        self.last = now;
    }

    /// Takes `n` tokens. Returns how long the caller must wait before what it takes is within
    /// the rate (zero if it is already). The tokens are taken either way (the bucket may go
    /// negative), so a caller that waits as told never exceeds the rate.
    pub fn take(&mut self, n: u32, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= f64::from(n);
        if self.tokens >= 0.0 || self.rate.per_second <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate.per_second)
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= f64::from(self.rate.burst)
    }
}

/// Addresses whose login buckets are kept at most; beyond that, full buckets (addresses that
/// have been quiet) are forgotten, so the table cannot grow without limit.
pub const MAX_TRACKED_ADDRESSES: usize = 65_536;

/// Limits per client address: open connections, and login attempts.
#[derive(Debug)]
pub struct PerAddress {
    max_connections: usize,
    login: Option<Rate>,
    /// The lock is held only for a lookup or an update, never across an await.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    connections: HashMap<IpAddr, usize>,
    logins: HashMap<IpAddr, Bucket>,
}

/// A connection counted against its address; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<PerAddress>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.limits.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = state.connections.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                state.connections.remove(&self.ip);
            }
        }
    }
}

impl PerAddress {
    /// Limits of `max_connections` per address and, if given, a login rate per address.
    pub fn new(max_connections: usize, login: Option<Rate>) -> Arc<Self> {
        Arc::new(PerAddress { max_connections, login, state: Mutex::new(State::default()) })
    }

    /// Counts a new connection from `ip`, or refuses it when the address has its maximum.
    pub fn connect(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let n = state.connections.entry(ip).or_default();
        if *n >= self.max_connections {
            return None;
        }
        *n += 1;
        Some(Slot { limits: Arc::clone(self), ip })
    }

    /// Whether `ip` may try a login now.
    pub fn login(&self, ip: IpAddr) -> bool {
        let Some(rate) = self.login else { return true };
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.logins.len() >= MAX_TRACKED_ADDRESSES && !state.logins.contains_key(&ip) {
            state.logins.retain(|_, b| !b.full(now));
        }
        state.logins.entry(ip).or_insert_with(|| Bucket::new(rate, now)).try_take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(Rate { burst: 3, per_second: 2.0 }, t0);
        assert_eq!(b.take(3, t0), Duration::ZERO);
        assert_eq!(b.take(1, t0), Duration::from_millis(500));
        // after the wait it was told, the next is again half a second away
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(b.take(1, t1), Duration::from_millis(500));
        // a long quiet spell refills only up to the burst
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!(b.take(3, t2), Duration::ZERO);
        assert!(!b.try_take(t2));
    }

    #[test]
    fn connections_per_address_are_counted_and_freed() {
        let limits = PerAddress::new(2, None);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let s1 = limits.connect(a).expect("first");
        let _s2 = limits.connect(a).expect("second");
        assert!(limits.connect(a).is_none(), "third from the same address");
        assert!(limits.connect(b).is_some(), "another address is not affected");
        drop(s1);
        assert!(limits.connect(a).is_some(), "a freed place can be used again");
    }

    #[test]
    fn logins_per_address_are_rate_limited() {
        let limits = PerAddress::new(10, Some(Rate { burst: 2, per_second: 0.001 }));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!(limits.login(a) && limits.login(a));
        assert!(!limits.login(a));
        assert!(limits.login("192.0.2.9".parse().expect("ip")));
        assert!(PerAddress::new(1, None).login(a), "no rate: always");
    }
}
