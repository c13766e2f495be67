//! Flood control: token buckets, per connection for messages and per address for logins, and
//! the count of connections per address, which exempt addresses (a NAT, a reverse proxy) are
//! not subject to.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
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

/// A block of addresses: a network and the length of its prefix (`192.0.2.0/24`), or one
/// address (`/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

/// Why a block of addresses could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidrError {
    /// Not an address.
    #[error("{0:?} is not an IP address or block (like 192.0.2.7, 192.0.2.0/24 or 2001:db8::/32)")]
    Address(String),
    /// The prefix length is not a number within the address's bits.
    #[error("{given:?}: the prefix length must be a number from 0 to {max}")]
    Prefix {
        /// What was given.
        given: String,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// The address has bits set beyond the prefix, so it names no network exactly.
    #[error("{given:?} has bits set beyond its prefix; the block is {network}")]
    HostBits {
        /// What was given.
        given: String,
        /// The block it lies in.
        network: Cidr,
    },
}

/// `ip` with every bit beyond the first `prefix` cleared.
fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

impl Cidr {
    /// True if `ip` is in the block (an IPv4 address also in its IPv6-mapped form).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.net.is_ipv4() && masked(ip, self.prefix) == self.net
    }

    /// The block of one address.
    pub fn host(ip: IpAddr) -> Self {
        let ip = ip.to_canonical();
        Cidr { net: ip, prefix: if ip.is_ipv4() { 32 } else { 128 } }
    }

    /// The block's first address.
    pub fn network(&self) -> IpAddr {
        self.net
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| CidrError::Address(s.to_owned()))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| CidrError::Prefix { given: s.to_owned(), max })?,
        };
        let net = masked(addr, prefix);
        if net != addr {
            return Err(CidrError::HostBits { given: s.to_owned(), network: Cidr { net, prefix } });
        }
        Ok(Cidr { net, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
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
    /// Addresses under neither limit (a NAT or a reverse proxy many people share).
    exempt: Vec<Cidr>,
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
    /// False for an exempt address, which is not counted.
    counted: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
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
    /// Limits of `max_connections` per address and, if given, a login rate per address, for
    /// every address but the `exempt` ones.
    pub fn new(max_connections: usize, login: Option<Rate>, exempt: Vec<Cidr>) -> Arc<Self> {
        Arc::new(PerAddress { max_connections, login, exempt, state: Mutex::new(State::default()) })
    }

    /// Connections one address may hold.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    fn is_exempt(&self, ip: IpAddr) -> bool {
        self.exempt.iter().any(|c| c.contains(ip))
    }

    /// Counts a new connection from `ip`, or refuses it when the address has its maximum.
    pub fn connect(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        if self.is_exempt(ip) {
            return Some(Slot { limits: Arc::clone(self), ip, counted: false });
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let n = state.connections.entry(ip).or_default();
        if *n >= self.max_connections {
            return None;
        }
        *n += 1;
        Some(Slot { limits: Arc::clone(self), ip, counted: true })
    }

    /// Whether `ip` may try a login now.
    pub fn login(&self, ip: IpAddr) -> bool {
        let Some(rate) = self.login else { return true };
        if self.is_exempt(ip) {
            return true;
        }
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.logins.len() >= MAX_TRACKED_ADDRESSES && !state.logins.contains_key(&ip) {
            state.logins.retain(|_, b| !b.full(now));
        }
        state.logins.entry(ip).or_insert_with(|| Bucket::new(rate, now)).try_take(now)
    }

    /// Charges `n` more login attempts to `ip`: a wrong password costs more than a login, so
    /// that guessing from one address soon meets the login limit.
    pub fn penalize(&self, ip: IpAddr, n: u32) {
        let Some(rate) = self.login else { return };
        if self.is_exempt(ip) {
            return;
        }
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.logins.len() >= MAX_TRACKED_ADDRESSES && !state.logins.contains_key(&ip) {
            state.logins.retain(|_, b| !b.full(now));
        }
        state.logins.entry(ip).or_insert_with(|| Bucket::new(rate, now)).take(n, now);
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
        let limits = PerAddress::new(2, None, Vec::new());
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
        let limits = PerAddress::new(10, Some(Rate { burst: 2, per_second: 0.001 }), Vec::new());
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!(limits.login(a) && limits.login(a));
        assert!(!limits.login(a));
        assert!(limits.login("192.0.2.9".parse().expect("ip")));
        assert!(PerAddress::new(1, None, Vec::new()).login(a), "no rate: always");
    }

    #[test]
    fn blocks_of_addresses_parse_and_match() {
        let v4: Cidr = "192.0.2.0/24".parse().expect("IPv4 block");
        assert!(v4.contains("192.0.2.200".parse().expect("ip")));
        assert!(!v4.contains("192.0.3.1".parse().expect("ip")));
        assert!(v4.contains("::ffff:192.0.2.9".parse().expect("mapped")), "IPv4-mapped IPv6");
        assert!(!v4.contains("2001:db8::1".parse().expect("ip")));
        let one: Cidr = "198.51.100.7".parse().expect("one address");
        assert_eq!(one.to_string(), "198.51.100.7/32");
        assert!(one.contains("198.51.100.7".parse().expect("ip")));
        assert!(!one.contains("198.51.100.8".parse().expect("ip")));
        let v6: Cidr = "2001:db8::/32".parse().expect("IPv6 block");
        assert!(v6.contains("2001:db8:ffff::1".parse().expect("ip")));
        assert!(!v6.contains("2001:db9::1".parse().expect("ip")));
        let all: Cidr = "0.0.0.0/0".parse().expect("everything");
        assert!(all.contains("203.0.113.1".parse().expect("ip")));
        assert!("::1".parse::<Cidr>().expect("IPv6 address").contains("::1".parse().expect("ip")));
    }

    #[test]
    fn malformed_blocks_say_what_is_wrong() {
        assert!(matches!("nat".parse::<Cidr>(), Err(CidrError::Address(_))));
        assert!(matches!("10.0.0.0/33".parse::<Cidr>(), Err(CidrError::Prefix { max: 32, .. })));
        assert!(matches!("::/129".parse::<Cidr>(), Err(CidrError::Prefix { max: 128, .. })));
        assert!(matches!("10.0.0.0/x".parse::<Cidr>(), Err(CidrError::Prefix { .. })));
        let e = "10.1.2.3/8".parse::<Cidr>().expect_err("host bits");
        assert!(e.to_string().contains("the block is 10.0.0.0/8"), "{e}");
    }

    #[test]
    fn exempt_addresses_are_under_neither_limit() {
        let nat: IpAddr = "203.0.113.5".parse().expect("ip");
        let other: IpAddr = "192.0.2.1".parse().expect("ip");
        let rate = Some(Rate { burst: 1, per_second: 0.001 });
        let limits = PerAddress::new(1, rate, vec!["203.0.113.0/24".parse().expect("block")]);
        let slots: Vec<Slot> = (0..5).map(|_| limits.connect(nat).expect("exempt")).collect();
        assert!((0..5).all(|_| limits.login(nat)), "no login rate either");
        let _o = limits.connect(other).expect("first");
        assert!(limits.connect(other).is_none(), "others keep their limit");
        assert!(limits.login(other) && !limits.login(other));
        drop(slots);
        assert!(limits.connect(other).is_none(), "exempt slots never counted");
    }
}
