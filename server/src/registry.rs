//! Who may hold which name: accounts, session tokens, address reservations, bans and mutes.
//!
//! The [`Registry`] is plain data owned by the hub (one task, no locks). Every method takes
//! the time it is asked at, decides, changes memory, and returns the writes ([`RegistryOp`])
//! the hub queues for the store, so the rules are unit-tested here without a server. The
//! expensive parts (argon2) never run here: sessions verify passwords on blocking threads and
//! hand the hub only the hash they checked ([`crate::accounts`]).
//!
//! Names are held by their key ([`shared::names::name_key`]): one key, one holder.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::frame::{BanInfo, SessionInfo};

use crate::throttle::Cidr;

/// Most session tokens one account keeps; the oldest is revoked when a new one would pass
/// it. Enough for every device a person uses, few enough to list on one screen.
pub const MAX_SESSIONS_PER_ACCOUNT: usize = 32;

/// Wrong passwords in a row an account forgives before each attempt waits: a person
/// mistyping is never slowed down.
pub const FREE_FAILURES: u32 = 3;

/// The first wait after [`FREE_FAILURES`], doubled with each further failure.
pub const BACKOFF_START: Duration = Duration::from_secs(1);

/// The longest wait between two password attempts on one account: at most 288 guesses a day,
/// however many addresses an attacker has, while the owner waits at most 5 minutes.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Hex digits of a token's hash that name it in `SESSIONS` (64 bits: unique per account,
/// and nothing that helps to forge the token).
const SESSION_ID_HEX: usize = 16;

/// A registered name.
#[derive(Debug, Clone)]
pub struct Account {
    /// The name as its owner wrote it.
    pub name: String,
    /// The argon2id PHC string.
    pub hash: Arc<str>,
    /// Private history replays messages with ids above this (the claim it was registered
    /// from began there).
    pub since: i64,
}

/// A session token, known by its hash.
#[derive(Debug, Clone)]
pub struct Token {
    /// The account's key.
    pub key: String,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds.
    pub last_used: i64,
    /// Unix seconds.
    pub expires: i64,
}

/// An unregistered name bound to the address that holds or last held it.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// The spelling of its holder.
    pub name: String,
    /// The holder's address.
    pub ip: IpAddr,
    /// When the reservation ends (Unix seconds); `None` while the holder is online.
    pub until: Option<i64>,
    /// The claim's first message id bound (private history replays ids above it).
    pub since: i64,
}

/// A ban or a mute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// May not log in.
    Ban,
    /// May not send.
    Mute,
}

impl Kind {
    /// As stored and listed.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ban => "ban",
            Kind::Mute => "mute",
        }
    }
}

/// A ban or mute in force.
#[derive(Debug, Clone)]
pub struct Sanction {
    /// Its row.
    pub id: i64,
    /// Ban or mute.
    pub kind: Kind,
    /// The name's key and spelling, if it applies to a name.
    pub name: Option<(String, String)>,
    /// The address block, if it applies to an address.
    pub address: Option<Cidr>,
    /// The operator's name.
    pub by: String,
    /// Unix seconds.
    pub at: i64,
    /// Unix seconds; `None` for ever.
    pub until: Option<i64>,
    /// Why.
    pub reason: Option<String>,
}

impl Sanction {
    fn active(&self, now: i64) -> bool {
        self.until.is_none_or(|u| u > now)
    }

    /// As listed in `BANS`.
    pub fn info(&self) -> BanInfo {
        BanInfo {
            kind: self.kind.as_str().to_owned(),
            name: self.name.as_ref().map(|(_, n)| n.clone()),
            address: self.address.map(|a| a.to_string()),
            by: self.by.clone(),
            at: self.at,
            until: self.until,
            reason: self.reason.clone(),
        }
    }

    /// "until 2026-12-01 18:00 UTC" or "for ever", and the reason.
    pub fn describe(&self) -> String {
        let until = match self.until {
            Some(t) => format!("until {}", utc(t)),
            None => "for ever".to_owned(),
        };
        match &self.reason {
            Some(r) if !r.is_empty() => format!("{until} ({r})"),
            _ => until,
        }
    }
}

/// A Unix time as `2026-12-01 18:00 UTC`.
pub fn utc(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map_or_else(|| t.to_string(), |d| d.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// A write for the store, in the order the registry decided it (in a cluster also an event
/// for the other nodes' registries, see [`Registry::apply`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RegistryOp {
    /// Create an account.
    PutAccount { key: String, name: String, hash: String, since: i64, created: i64 },
    /// Remove an account (its tokens go with it).
    DeleteAccount { key: String },
    /// A new password hash.
    SetHash { key: String, hash: String },
    /// A new session token.
    PutToken { hash: String, key: String, created: i64, expires: i64 },
    /// A token was used.
    TouchToken { hash: String, last_used: i64, expires: i64 },
    /// Revoke a token.
    DeleteToken { hash: String },
    /// Hold or release a name (`until`: `None` while online).
    PutReservation { key: String, name: String, address: String, until: Option<i64>, since: i64 },
    /// Forget a reservation.
    DeleteReservation { key: String },
    /// Record a ban or mute.
    PutSanction {
        id: i64,
        kind: String,
        key: Option<String>,
        name: Option<String>,
        address: Option<String>,
        by: String,
        at: i64,
        until: Option<i64>,
        reason: Option<String>,
    },
    /// Lift a ban or mute.
    LiftSanction { id: i64, at: i64 },
    /// One line of the audit table.
    Audit { at: i64, actor: String, action: String, target: String, reason: Option<String> },
    /// Drop every block a name's previous claim set.
    ClearBlocks { blocker_key: String },
}

/// What a login offers as proof of owning the name.
#[derive(Debug, Clone)]
pub enum Proof {
    /// Nothing: a plain login.
    None,
    /// A password the session checked against this hash.
    Password(Arc<str>),
    /// A session token's hash (hex SHA-256).
    Token(String),
}

/// An accepted login's standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The spelling the user is shown under.
    pub name: String,
    /// Private history replays ids above this.
    pub since: i64,
    /// The name is a registered account (and the login proved it).
    pub registered: bool,
    /// An operator.
    pub operator: bool,
    /// Blocks set by the name's previous claim are dropped.
    pub new_claim: bool,
    /// The token this connection holds (its hash), if any.
    pub token: Option<String>,
    /// Issue a new token for this connection (a password login).
    pub issue_token: bool,
}

/// Everything the registry knows. See the module documentation.
#[derive(Debug)]
pub struct Registry {
    accounts: HashMap<String, Account>,
    tokens: HashMap<String, Token>,
    reservations: HashMap<String, Reservation>,
    sanctions: Vec<Sanction>,
    next_sanction: i64,
    failures: HashMap<String, Backoff>,
    operators: HashSet<String>,
    /// How long a reservation lasts after its holder leaves (seconds; 0: none).
    reserve_secs: i64,
    /// How long a token lasts after its last use (seconds).
    session_secs: i64,
    /// Sanction ids are random (nodes of a cluster give them out at once), not consecutive.
    random_ids: bool,
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    /// The earliest the next attempt may be checked.
    next: Instant,
}

/// What the store loaded for the registry.
#[derive(Debug, Default)]
pub struct Loaded {
    /// key → account.
    pub accounts: Vec<(String, Account)>,
    /// hash → token.
    pub tokens: Vec<(String, Token)>,
    /// key → reservation.
    pub reservations: Vec<(String, Reservation)>,
    /// Bans and mutes not lifted (expired ones are dropped on use).
    pub sanctions: Vec<Sanction>,
    /// The highest sanction id ever used.
    pub last_sanction: i64,
}

impl Registry {
    /// The registry as loaded at `now`; `operators` are keys of registered accounts. Names
    /// that were online when the server stopped are reserved from `now`.
    pub fn new(
        loaded: Loaded,
        operators: HashSet<String>,
        reserve: Duration,
        session: Duration,
        now: i64,
    ) -> Self {
        let reserve_secs = i64::try_from(reserve.as_secs()).unwrap_or(i64::MAX);
        let reservations = loaded
            .reservations
            .into_iter()
            .map(|(k, mut r)| {
                r.until = Some(r.until.unwrap_or(now.saturating_add(reserve_secs)));
                (k, r)
            })
            .collect();
        Registry {
            accounts: loaded.accounts.into_iter().collect(),
            tokens: loaded.tokens.into_iter().collect(),
            reservations,
            sanctions: loaded.sanctions,
            next_sanction: loaded.last_sanction + 1,
            failures: HashMap::new(),
            operators,
            reserve_secs,
            session_secs: i64::try_from(session.as_secs()).unwrap_or(i64::MAX),
            random_ids: false,
        }
    }

    /// The registry of a node of a cluster: it gives out sanction ids that other nodes, giving
    /// out theirs at the same time, do not.
    pub fn in_cluster(mut self) -> Self {
        self.random_ids = true;
        self
    }

    /// Applies a change another node of the cluster decided (and wrote to the shared
    /// database): this node's registry follows. Blocks and the audit log are not kept here.
    pub fn apply(&mut self, op: &RegistryOp) {
        match op {
            RegistryOp::PutAccount { key, name, hash, since, .. } => {
                let account =
                    Account { name: name.clone(), hash: Arc::from(hash.as_str()), since: *since };
                self.accounts.insert(key.clone(), account);
            }
            RegistryOp::DeleteAccount { key } => {
                self.accounts.remove(key);
                self.tokens.retain(|_, t| t.key != *key);
            }
            RegistryOp::SetHash { key, hash } => {
                if let Some(a) = self.accounts.get_mut(key) {
                    a.hash = Arc::from(hash.as_str());
                }
            }
            RegistryOp::PutToken { hash, key, created, expires } => {
                let token = Token {
                    key: key.clone(),
                    created: *created,
                    last_used: *created,
                    expires: *expires,
                };
                self.tokens.insert(hash.clone(), token);
            }
            RegistryOp::TouchToken { hash, last_used, expires } => {
                if let Some(t) = self.tokens.get_mut(hash) {
                    t.last_used = *last_used;
                    t.expires = *expires;
                }
            }
            RegistryOp::DeleteToken { hash } => {
                self.tokens.remove(hash);
            }
            RegistryOp::PutReservation { key, name, address, until, since } => {
                if let Ok(ip) = address.parse() {
                    let r = Reservation { name: name.clone(), ip, until: *until, since: *since };
                    self.reservations.insert(key.clone(), r);
                }
            }
            RegistryOp::DeleteReservation { key } => {
                self.reservations.remove(key);
            }
            RegistryOp::PutSanction { id, kind, key, name, address, by, at, until, reason } => {
                if self.sanctions.iter().any(|s| s.id == *id) {
                    return;
                }
                self.sanctions.push(Sanction {
                    id: *id,
                    kind: if kind == "mute" { Kind::Mute } else { Kind::Ban },
                    name: key.clone().zip(name.clone()),
                    address: address.as_deref().and_then(|a| a.parse().ok()),
                    by: by.clone(),
                    at: *at,
                    until: *until,
                    reason: reason.clone(),
                });
            }
            RegistryOp::LiftSanction { id, .. } => self.sanctions.retain(|s| s.id != *id),
            RegistryOp::Audit { .. } | RegistryOp::ClearBlocks { .. } => {}
        }
    }

    /// The account registered under `key`.
    pub fn account(&self, key: &str) -> Option<&Account> {
        self.accounts.get(key)
    }

    /// Whether `key` is an operator's.
    pub fn is_operator(&self, key: &str) -> bool {
        self.operators.contains(key) && self.accounts.contains_key(key)
    }

    /// The hash to check a password against, and when the check may run (the account's
    /// backoff). Each call while backing off moves the next slot on, so attempts in parallel
    /// queue behind each other.
    pub fn credentials(&mut self, key: &str, now: Instant) -> Option<(Arc<str>, Instant)> {
        let hash = Arc::clone(&self.accounts.get(key)?.hash);
        let at = match self.failures.get_mut(key) {
            Some(b) if b.failures >= FREE_FAILURES => {
                let at = b.next.max(now);
                b.next = at + backoff(b.failures);
                at
            }
            _ => now,
        };
        Some((hash, at))
    }

    /// A password check failed.
    pub fn password_failed(&mut self, key: &str, now: Instant) {
        if !self.accounts.contains_key(key) {
            return;
        }
        let b = self.failures.entry(key.to_owned()).or_insert(Backoff { failures: 0, next: now });
        b.failures = b.failures.saturating_add(1);
        if b.failures >= FREE_FAILURES {
            b.next = b.next.max(now + backoff(b.failures));
        }
    }

    /// Whether `proof` shows that a login from `ip` is the owner of the account `key`, and
    /// the owner may log in now (not banned): what lets it take the name over from another
    /// connection. Changes nothing (the login that follows does, through [`Registry::admit`]).
    pub fn proves(&self, key: &str, ip: IpAddr, proof: &Proof, now: i64) -> bool {
        let Some(account) = self.accounts.get(key) else { return false };
        let owner = match proof {
            Proof::None => false,
            Proof::Password(hash) => **hash == *account.hash,
            Proof::Token(hash) => {
                self.tokens.get(hash).is_some_and(|t| t.key == key && t.expires > now)
            }
        };
        owner && self.banned(key, ip, now, self.is_operator(key)).is_none()
    }

    /// Decides a login to `name` (key `key`) from `ip` with `proof`, made when the last
    /// message id was `upto`. The caller has checked that nobody holds the key now.
    #[allow(clippy::too_many_arguments, reason = "one login's parts")]
    pub fn admit(
        &mut self,
        name: &str,
        key: &str,
        ip: IpAddr,
        proof: &Proof,
        upto: i64,
        now: i64,
        ops: &mut Vec<RegistryOp>,
    ) -> Result<Admitted, String> {
        let operator = self.is_operator(key);
        if let Some(s) = self.banned(key, ip, now, operator) {
            return Err(match s.name {
                Some(_) if s.address.is_none() => format!("{name} is banned {}.", s.describe()),
                _ => format!("Your address is banned {}.", s.describe()),
            });
        }
        if let Some(account) = self.accounts.get(key) {
            let token = match proof {
                Proof::None => return Err(registered_info(&account.name)),
                Proof::Password(hash) if **hash == *account.hash => None,
                Proof::Password(_) => {
                    return Err("The password was changed meanwhile; log in again.".to_owned());
                }
                Proof::Token(hash) => match self.tokens.get_mut(hash) {
                    Some(t) if t.key == key && t.expires > now => {
                        t.last_used = now;
                        t.expires = now.saturating_add(self.session_secs);
                        ops.push(RegistryOp::TouchToken {
                            hash: hash.clone(),
                            last_used: t.last_used,
                            expires: t.expires,
                        });
                        Some(hash.clone())
                    }
                    _ => return Err(BAD_TOKEN.to_owned()),
                },
            };
            self.failures.remove(key);
            let issue_token = token.is_none();
            return Ok(Admitted {
                name: account.name.clone(),
                since: account.since,
                registered: true,
                operator,
                new_claim: false,
                token,
                issue_token,
            });
        }
        match proof {
            Proof::None => {}
            Proof::Password(_) => return Err(not_registered(name)),
            Proof::Token(_) => return Err(BAD_TOKEN.to_owned()),
        }
        let held = self.reservations.get(key).filter(|r| r.until.is_none_or(|u| u > now));
        let (name, since, new_claim) = match held {
            Some(r) if r.ip == ip => (r.name.clone(), r.since, false),
            Some(r) => {
                let minutes = r.until.map_or(1, |u| ((u - now) + 59) / 60).max(1);
                return Err(format!(
                    "The name {} is reserved for its last user for {minutes} more minute{}; \
                     choose another name or try again later.",
                    r.name,
                    if minutes == 1 { "" } else { "s" }
                ));
            }
            None => (name.to_owned(), upto, true),
        };
        if new_claim {
            ops.push(RegistryOp::ClearBlocks { blocker_key: key.to_owned() });
        }
        if self.reserve_secs > 0 {
            self.hold(key, &name, ip, since, ops);
        }
        Ok(Admitted {
            name,
            since,
            registered: false,
            operator: false,
            new_claim,
            token: None,
            issue_token: false,
        })
    }

    fn hold(&mut self, key: &str, name: &str, ip: IpAddr, since: i64, ops: &mut Vec<RegistryOp>) {
        self.reservations
            .insert(key.to_owned(), Reservation { name: name.to_owned(), ip, until: None, since });
        ops.push(RegistryOp::PutReservation {
            key: key.to_owned(),
            name: name.to_owned(),
            address: ip.to_string(),
            until: None,
            since,
        });
    }

    /// The holder of an unregistered `key` left: its reservation runs from now.
    pub fn left(&mut self, key: &str, now: i64, ops: &mut Vec<RegistryOp>) {
        if self.accounts.contains_key(key) {
            return;
        }
        let Some(r) = self.reservations.get_mut(key) else { return };
        if r.until.is_some() {
            return;
        }
        let until = now.saturating_add(self.reserve_secs);
        r.until = Some(until);
        ops.push(RegistryOp::PutReservation {
            key: key.to_owned(),
            name: r.name.clone(),
            address: r.ip.to_string(),
            until: Some(until),
            since: r.since,
        });
    }

    /// The address that holds or last held `key`, if known.
    pub fn reserved_address(&self, key: &str) -> Option<IpAddr> {
        self.reservations.get(key).map(|r| r.ip)
    }

    /// Registers `name` (key `key`, held now by its user, whose claim began at `since`).
    pub fn register(
        &mut self,
        key: &str,
        name: &str,
        hash: &str,
        since: i64,
        now: i64,
        ops: &mut Vec<RegistryOp>,
    ) -> Result<(), String> {
        if self.accounts.contains_key(key) {
            return Err(format!("{name} is registered already."));
        }
        self.accounts.insert(
            key.to_owned(),
            Account { name: name.to_owned(), hash: Arc::from(hash), since },
        );
        ops.push(RegistryOp::PutAccount {
            key: key.to_owned(),
            name: name.to_owned(),
            hash: hash.to_owned(),
            since,
            created: now,
        });
        if self.reservations.remove(key).is_some() {
            ops.push(RegistryOp::DeleteReservation { key: key.to_owned() });
        }
        Ok(())
    }

    /// Changes the password of `key`, whose old `checked` hash the session verified.
    pub fn set_password(
        &mut self,
        key: &str,
        checked: &Arc<str>,
        hash: &str,
        ops: &mut Vec<RegistryOp>,
    ) -> Result<(), String> {
        let Some(a) = self.accounts.get_mut(key) else {
            return Err("Your name is not registered.".to_owned());
        };
        if *a.hash != **checked {
            return Err("The password was changed meanwhile; nothing was changed.".to_owned());
        }
        a.hash = Arc::from(hash);
        ops.push(RegistryOp::SetHash { key: key.to_owned(), hash: hash.to_owned() });
        Ok(())
    }

    /// Removes the account of `key` (the session verified its `checked` hash); the name
    /// stays held by `ip`, as any unregistered name.
    pub fn unregister(
        &mut self,
        key: &str,
        checked: &Arc<str>,
        ip: IpAddr,
        ops: &mut Vec<RegistryOp>,
    ) -> Result<(), String> {
        match self.accounts.get(key) {
            Some(a) if *a.hash == **checked => {}
            Some(_) => {
                return Err("The password was changed meanwhile; nothing was changed.".to_owned());
            }
            None => return Err("Your name is not registered.".to_owned()),
        }
        let Some(a) = self.accounts.remove(key) else { return Ok(()) };
        self.tokens.retain(|_, t| t.key != key);
        self.failures.remove(key);
        ops.push(RegistryOp::DeleteAccount { key: key.to_owned() });
        if self.reserve_secs > 0 {
            self.hold(key, &a.name, ip, a.since, ops);
        }
        Ok(())
    }

    /// A new token for `key` (its hash given): registers it, revoking the oldest beyond
    /// [`MAX_SESSIONS_PER_ACCOUNT`].
    pub fn add_token(&mut self, key: &str, hash: String, now: i64, ops: &mut Vec<RegistryOp>) {
        let mut mine: Vec<(i64, String)> = self
            .tokens
            .iter()
            .filter(|(_, t)| t.key == key)
            .map(|(h, t)| (t.last_used, h.clone()))
            .collect();
        if mine.len() >= MAX_SESSIONS_PER_ACCOUNT {
            mine.sort_unstable();
            for (_, old) in mine.iter().take(mine.len() + 1 - MAX_SESSIONS_PER_ACCOUNT) {
                self.tokens.remove(old);
                ops.push(RegistryOp::DeleteToken { hash: old.clone() });
            }
        }
        let expires = now.saturating_add(self.session_secs);
        self.tokens.insert(
            hash.clone(),
            Token { key: key.to_owned(), created: now, last_used: now, expires },
        );
        ops.push(RegistryOp::PutToken { hash, key: key.to_owned(), created: now, expires });
    }

    /// Revokes every token of `key` but `keep`.
    pub fn revoke_all(&mut self, key: &str, keep: Option<&str>, ops: &mut Vec<RegistryOp>) {
        let gone: Vec<String> = self
            .tokens
            .iter()
            .filter(|(h, t)| t.key == key && Some(h.as_str()) != keep)
            .map(|(h, _)| h.clone())
            .collect();
        for h in gone {
            self.tokens.remove(&h);
            ops.push(RegistryOp::DeleteToken { hash: h });
        }
    }

    /// Revokes the token of `key` whose id is `id`; false if there is none.
    pub fn revoke(&mut self, key: &str, id: &str, ops: &mut Vec<RegistryOp>) -> bool {
        let found = self
            .tokens
            .iter()
            .find(|(h, t)| t.key == key && session_id(h) == id)
            .map(|(h, _)| h.clone());
        match found {
            Some(h) => {
                self.tokens.remove(&h);
                ops.push(RegistryOp::DeleteToken { hash: h });
                true
            }
            None => false,
        }
    }

    /// The tokens of `key`, newest first (`current`: this connection's).
    pub fn sessions(&self, key: &str, current: Option<&str>, now: i64) -> Vec<SessionInfo> {
        let mut list: Vec<SessionInfo> = self
            .tokens
            .iter()
            .filter(|(_, t)| t.key == key && t.expires > now)
            .map(|(h, t)| SessionInfo {
                id: session_id(h).to_owned(),
                created: t.created,
                last_used: t.last_used,
                expires: t.expires,
                current: Some(h.as_str()) == current,
            })
            .collect();
        list.sort_unstable_by(|a, b| b.last_used.cmp(&a.last_used).then(b.id.cmp(&a.id)));
        list
    }

    /// The ban in force on `key` or `ip`; operators pass address bans (an operator is
    /// never banned by name).
    fn banned(&self, key: &str, ip: IpAddr, now: i64, operator: bool) -> Option<&Sanction> {
        self.sanctions.iter().find(|s| {
            s.kind == Kind::Ban
                && s.active(now)
                && (s.name.as_ref().is_some_and(|(k, _)| k == key)
                    || !operator && s.address.is_some_and(|a| a.contains(ip)))
        })
    }

    /// The mute in force on `key`.
    pub fn muted(&self, key: &str, now: i64) -> Option<&Sanction> {
        if self.sanctions.is_empty() {
            return None;
        }
        self.sanctions.iter().find(|s| {
            s.kind == Kind::Mute && s.active(now) && s.name.as_ref().is_some_and(|(k, _)| k == key)
        })
    }

    /// Records a ban or mute; returns it.
    #[allow(clippy::too_many_arguments, reason = "one record's fields")]
    pub fn sanction(
        &mut self,
        kind: Kind,
        name: Option<(String, String)>,
        address: Option<Cidr>,
        by: &str,
        now: i64,
        until: Option<i64>,
        reason: Option<String>,
        ops: &mut Vec<RegistryOp>,
    ) -> Sanction {
        let id = if self.random_ids {
            // Nodes of a cluster give out ids at once: random ones do not collide (53 bits,
            // so that they stay exact wherever they are read as JSON numbers).
            let mut bytes = [0u8; 8];
            let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
            i64::from_le_bytes(bytes) & ((1 << 53) - 1)
        } else {
            self.next_sanction
        };
        let s = Sanction { id, kind, name, address, by: by.to_owned(), at: now, until, reason };
        self.next_sanction += 1;
        ops.push(RegistryOp::PutSanction {
            id: s.id,
            kind: kind.as_str().to_owned(),
            key: s.name.as_ref().map(|(k, _)| k.clone()),
            name: s.name.as_ref().map(|(_, n)| n.clone()),
            address: s.address.map(|a| a.to_string()),
            by: s.by.clone(),
            at: now,
            until,
            reason: s.reason.clone(),
        });
        self.sanctions.push(s.clone());
        s
    }

    /// Lifts the sanctions of `kind` in force that `matches`; returns how many.
    pub fn lift(
        &mut self,
        kind: Kind,
        now: i64,
        matches: impl Fn(&Sanction) -> bool,
        ops: &mut Vec<RegistryOp>,
    ) -> usize {
        let mut lifted = 0;
        self.sanctions.retain(|s| {
            let lift = s.kind == kind && s.active(now) && matches(s);
            if lift {
                lifted += 1;
                ops.push(RegistryOp::LiftSanction { id: s.id, at: now });
            }
            // Expired ones are forgotten on the way.
            !lift && s.active(now)
        });
        lifted
    }

    /// Bans and mutes in force, oldest first.
    pub fn in_force(&self, now: i64) -> Vec<BanInfo> {
        self.sanctions.iter().filter(|s| s.active(now)).map(Sanction::info).collect()
    }
}

/// The INFO for a plain login to a registered name.
pub fn registered_info(name: &str) -> String {
    format!(
        "The name {name} is registered. Log in with its password (PASSWORD, extension \
         account) or a session token (TOKEN)."
    )
}

/// The INFO for a password login to a name that is not registered.
pub fn not_registered(name: &str) -> String {
    format!("The name {name} is not registered; log in without a password.")
}

/// The INFO for a token that does not log in.
pub const BAD_TOKEN: &str =
    "The session token is unknown, expired or revoked; log in with the password.";

/// The id of a token in `SESSIONS`, from its hash.
pub fn session_id(hash: &str) -> &str {
    &hash[..hash.len().min(SESSION_ID_HEX)]
}

/// The wait before the next check after `failures` wrong passwords in a row.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(FREE_FAILURES).min(16);
    BACKOFF_START.saturating_mul(1 << doublings).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn registry() -> Registry {
        Registry::new(Loaded::default(), HashSet::new(), Duration::from_secs(1800), HOUR, 0)
    }

    fn admit(
        r: &mut Registry,
        name: &str,
        from: IpAddr,
        proof: &Proof,
        now: i64,
    ) -> Result<Admitted, String> {
        let key = shared::names::name_key(name);
        r.admit(name, &key, from, proof, 100, now, &mut Vec::new())
    }

    #[test]
    fn a_reserved_name_is_kept_for_its_address_for_the_window() {
        let mut r = registry();
        let first = admit(&mut r, "ann", ip(1), &Proof::None, 0).expect("free");
        assert!(first.new_claim);
        assert_eq!(first.since, 100);
        r.left("ann", 10, &mut Vec::new());
        let err = admit(&mut r, "Ann", ip(2), &Proof::None, 20).expect_err("reserved");
        assert!(err.contains("reserved") && err.contains("30 more minutes"), "{err}");
        let back = admit(&mut r, "ANN", ip(1), &Proof::None, 20).expect("same address");
        assert_eq!((back.name.as_str(), back.since, back.new_claim), ("ann", 100, false));
        r.left("ann", 30, &mut Vec::new());
        let other = admit(&mut r, "Ann", ip(2), &Proof::None, 30 + 1800).expect("window over");
        assert!(other.new_claim);
        assert_eq!(other.name, "Ann");
    }

    #[test]
    fn registered_names_need_proof() {
        let mut r = registry();
        admit(&mut r, "bob", ip(1), &Proof::None, 0).expect("free");
        r.register("bob", "bob", "H1", 100, 0, &mut Vec::new()).expect("registered");
        assert!(r.register("bob", "Bob", "H2", 0, 0, &mut Vec::new()).is_err());
        let err = admit(&mut r, "bob", ip(1), &Proof::None, 5).expect_err("plain");
        assert!(err.contains("registered"), "{err}");
        let ok = admit(&mut r, "BOB", ip(9), &Proof::Password(Arc::from("H1")), 5).expect("pw");
        assert_eq!((ok.name.as_str(), ok.registered, ok.issue_token), ("bob", true, true));
        let mut ops = Vec::new();
        r.add_token("bob", "T".repeat(64), 5, &mut ops);
        let by_token = admit(&mut r, "bob", ip(7), &Proof::Token("T".repeat(64)), 6).expect("tok");
        assert!(!by_token.issue_token);
        assert_eq!(
            admit(&mut r, "bob", ip(7), &Proof::Token("U".repeat(64)), 6),
            Err(BAD_TOKEN.into())
        );
        // expiry slides with use: an hour after the last use it is gone
        assert!(admit(&mut r, "bob", ip(7), &Proof::Token("T".repeat(64)), 6 + 3601).is_err());
    }

    #[test]
    fn backoff_queues_attempts_after_the_free_failures() {
        let mut r = registry();
        r.register("k", "k", "H", 0, 0, &mut Vec::new()).expect("registered");
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(r.credentials("k", t0).expect("account").1, t0);
            r.password_failed("k", t0);
        }
        let (_, a) = r.credentials("k", t0).expect("account");
        let (_, b) = r.credentials("k", t0).expect("account");
        assert_eq!(a, t0 + BACKOFF_START);
        assert!(b > a, "a parallel attempt waits behind the first");
        assert!(backoff(100) == BACKOFF_MAX);
        assert!(r.credentials("nobody", t0).is_none());
    }

    #[test]
    fn bans_and_mutes() {
        let mut r = registry();
        let mut ops = Vec::new();
        let key = |n: &str| shared::names::name_key(n);
        r.sanction(
            Kind::Ban,
            Some((key("eve"), "eve".into())),
            None,
            "op",
            0,
            Some(60),
            Some("spam".into()),
            &mut ops,
        );
        let err = admit(&mut r, "EVE", ip(3), &Proof::None, 10).expect_err("banned");
        assert!(err.contains("banned until") && err.contains("spam"), "{err}");
        assert!(admit(&mut r, "eve", ip(3), &Proof::None, 61).is_ok(), "expired");
        r.sanction(
            Kind::Ban,
            None,
            Some("192.0.2.0/24".parse().expect("cidr")),
            "op",
            0,
            None,
            None,
            &mut ops,
        );
        assert!(
            admit(&mut r, "zed", ip(4), &Proof::None, 100)
                .expect_err("address")
                .contains("address")
        );
        assert_eq!(r.lift(Kind::Ban, 100, |s| s.address.is_some(), &mut ops), 1);
        assert!(admit(&mut r, "zed", ip(4), &Proof::None, 100).is_ok());
        r.sanction(
            Kind::Mute,
            Some((key("zed"), "zed".into())),
            None,
            "op",
            0,
            None,
            None,
            &mut ops,
        );
        assert!(r.muted(&key("ZED"), 1000).is_some());
        assert_eq!(r.in_force(1000).len(), 1);
    }

    #[test]
    fn another_node_applying_the_ops_knows_what_this_one_decided() {
        let mut here = registry().in_cluster();
        let mut there = registry().in_cluster();
        let mut ops = Vec::new();
        here.register("ann", "Ann", "phc", 5, 1, &mut ops).expect("registered");
        here.add_token("ann", "tokenhash".into(), 1, &mut ops);
        let bob = Some(("bob".to_owned(), "bob".to_owned()));
        let ban = here.sanction(Kind::Ban, bob, None, "opal", 1, None, None, &mut ops);
        let cat = Some(("cat".to_owned(), "cat".to_owned()));
        let mute = here.sanction(Kind::Mute, cat.clone(), None, "opal", 1, None, None, &mut ops);
        let other = there.sanction(Kind::Mute, cat, None, "olga", 1, None, None, &mut Vec::new());
        assert_ne!(mute.id, other.id, "random ids do not collide");
        assert_ne!(ban.id, mute.id);
        for op in &ops {
            // the round trip the stream makes
            let json = serde_json::to_vec(op).expect("encode");
            there.apply(&serde_json::from_slice(&json).expect("decode"));
        }
        assert_eq!(there.account("ann").map(|a| a.name.as_str()), Some("Ann"));
        assert!(there.proves("ann", ip(1), &Proof::Token("tokenhash".into()), 2));
        assert!(
            admit(&mut there, "bob", ip(1), &Proof::None, 2).is_err_and(|e| e.contains("banned"))
        );
        assert!(there.muted("cat", 2).is_some());
        // applying twice changes nothing
        for op in &ops {
            there.apply(op);
        }
        assert_eq!(there.in_force(2).len(), 3);
        let mut lifted = Vec::new();
        here.lift(Kind::Ban, 2, |s| s.id == ban.id, &mut lifted);
        for op in &lifted {
            there.apply(op);
        }
        assert!(admit(&mut there, "bob", ip(1), &Proof::None, 2).is_ok());
    }
}
