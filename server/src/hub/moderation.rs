//! The `moderation` extension at the hub: operators kick, ban and mute. Every action is
//! checked here (the session only decoded it), written to the audit log, and answered with
//! the list of bans and mutes in force.

use std::net::IpAddr;

use shared::Frame;
use shared::frame::{Ban, Kick, Mute, ended};
use shared::names::name_key;
use shared::validate::{parse_duration, validate_reason, validate_username};

use super::{ConnId, Goodbye, Hub, unix_now};
use crate::registry::{Kind, RegistryOp, Sanction};
use crate::throttle::Cidr;

/// A request of the `moderation` extension.
#[derive(Debug)]
pub enum Moderation {
    /// `KICK`.
    Kick(Kick),
    /// `BAN`.
    Ban(Ban),
    /// `UNBAN`: a name or an address.
    Unban(String),
    /// `MUTE`.
    Mute(Mute),
    /// `UNMUTE`: a name.
    Unmute(String),
    /// `LIST_BANS`.
    List,
}

impl Hub {
    /// Handles a moderation request from the user on `conn`.
    pub(super) fn moderate(&mut self, conn: ConnId, action: Moderation) {
        let Some(me) = self.names.get(&conn).cloned() else { return };
        let Some(u) = self.users.get(&me) else { return };
        if !u.operator {
            self.send_error(
                &me,
                "Only an operator can kick, ban or mute; nothing was changed.".to_owned(),
            );
            return;
        }
        let (my_key, my_ip) = (u.key.clone(), u.ip);
        let now = unix_now();
        let result = match action {
            Moderation::Kick(k) => self.kick_user(&me, &my_key, k, now),
            Moderation::Ban(b) => self.ban(&me, &my_key, my_ip, b, now),
            Moderation::Unban(target) => self.unban(&me, &target, now),
            Moderation::Mute(m) => self.mute(&me, &my_key, m, now),
            Moderation::Unmute(name) => self.unmute(&me, &name, now),
            Moderation::List => Ok(None),
        };
        let frame = match result {
            Ok(info) => Frame { bans: Some(self.registry.in_force(now)), info, ..Frame::default() },
            Err(e) => Frame::error(e),
        };
        self.send_frame(&me, &frame);
    }

    /// Checks that `name` is a name another operator action may target.
    /// `what`: the action ("kick"), `done`: its participle ("kicked").
    fn target(&self, me_key: &str, name: &str, what: &str, done: &str) -> Result<String, String> {
        validate_username(name).map_err(|e| format!("Cannot {what} {name:?}: {e}"))?;
        let key = name_key(name);
        if key == me_key {
            return Err(format!("You cannot {what} yourself."));
        }
        if self.registry.is_operator(&key) {
            return Err(format!("{name} is an operator and cannot be {done}."));
        }
        Ok(key)
    }

    fn audit(
        &mut self,
        actor: &str,
        action: &'static str,
        target: String,
        reason: Option<String>,
        now: i64,
    ) {
        self.writes.push(RegistryOp::Audit {
            at: now,
            actor: actor.to_owned(),
            action: action.to_owned(),
            target,
            reason,
        });
    }

    fn kick_user(
        &mut self,
        me: &str,
        me_key: &str,
        k: Kick,
        now: i64,
    ) -> Result<Option<String>, String> {
        let reason = checked_reason(k.reason)?;
        let key = self.target(me_key, &k.name, "kick", "kicked")?;
        let Some(name) = self.keys.get(&key).cloned() else {
            // On another node of the cluster: that node removes it.
            let remote = self.link.as_mut().and_then(|l| {
                let name = l.remote_keys.get(&key).cloned()?;
                let event = crate::cluster::Event::Kick {
                    node: l.node.clone(),
                    key: key.clone(),
                    by: me.to_owned(),
                    reason: reason.clone(),
                };
                l.later(super::cluster::Job::Publish { event, from: Vec::new() });
                Some(name)
            });
            let Some(name) = remote else {
                return Err(format!("{} is not online.", k.name));
            };
            self.audit(me, "kick", name.clone(), reason, now);
            return Ok(Some(format!("{name} was removed.")));
        };
        self.audit(me, "kick", name.clone(), reason.clone(), now);
        self.throw_out(std::slice::from_ref(&name), me, "removed", reason.as_deref());
        Ok(Some(format!("{name} was removed.")))
    }

    fn ban(
        &mut self,
        me: &str,
        me_key: &str,
        my_ip: IpAddr,
        b: Ban,
        now: i64,
    ) -> Result<Option<String>, String> {
        let reason = checked_reason(b.reason)?;
        let secs = parse_duration(&b.duration).map_err(|e| e.to_string())?;
        let until = secs.map(|s| now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX)));
        if b.name.is_none() && b.address.is_none() {
            return Err("A ban needs a NAME, an ADDRESS, or both.".to_owned());
        }
        let named = match &b.name {
            Some(n) => Some((self.target(me_key, n, "ban", "banned")?, n.clone())),
            None => None,
        };
        let mut address: Option<Cidr> = match &b.address {
            Some(a) => Some(a.trim().parse::<Cidr>().map_err(|e| e.to_string())?),
            None => None,
        };
        if b.with_address == Some(true) {
            let Some((key, name)) = &named else {
                return Err("WITH_ADDRESS needs a NAME whose address to ban.".to_owned());
            };
            let ip = self
                .keys
                .get(key)
                .and_then(|n| self.users.get(n))
                .map(|u| u.ip)
                .or_else(|| self.registry.reserved_address(key));
            let Some(ip) = ip else {
                return Err(format!("The address of {name} is not known; ban the name alone."));
            };
            address = Some(Cidr::host(ip));
        }
        if address.is_some_and(|a| a.contains(my_ip)) {
            return Err("That address is your own; nothing was changed.".to_owned());
        }
        let s = self.registry.sanction(
            Kind::Ban,
            named.clone(),
            address,
            me,
            now,
            until,
            reason.clone(),
            &mut self.writes,
        );
        let target = describe_target(&s);
        self.audit(me, "ban", target.clone(), reason.clone(), now);
        // Whoever the ban covers and is online goes now.
        let gone: Vec<String> = self
            .users
            .iter()
            .filter(|(_, u)| {
                !u.operator
                    && (named.as_ref().is_some_and(|(k, _)| *k == u.key)
                        || address.is_some_and(|a| a.contains(u.ip)))
            })
            .map(|(n, _)| n.clone())
            .collect();
        self.throw_out(&gone, me, "banned", reason.as_deref());
        Ok(Some(format!("{target} is banned {}.", s.describe())))
    }

    fn unban(&mut self, me: &str, target: &str, now: i64) -> Result<Option<String>, String> {
        let target = target.trim();
        let lifted = if let Ok(cidr) = target.parse::<Cidr>() {
            let ip = cidr.network();
            self.registry.lift(
                Kind::Ban,
                now,
                |s| s.address.is_some_and(|a| a == cidr || a.contains(ip)),
                &mut self.writes,
            )
        } else {
            let key = name_key(target);
            self.registry.lift(
                Kind::Ban,
                now,
                |s| s.name.as_ref().is_some_and(|(k, _)| *k == key),
                &mut self.writes,
            )
        };
        if lifted == 0 {
            return Err(format!("No ban in force on {target}; nothing was changed."));
        }
        self.audit(me, "unban", target.to_owned(), None, now);
        Ok(Some(format!("The ban on {target} is lifted.")))
    }

    fn mute(
        &mut self,
        me: &str,
        me_key: &str,
        m: Mute,
        now: i64,
    ) -> Result<Option<String>, String> {
        let reason = checked_reason(m.reason)?;
        let secs = parse_duration(&m.duration).map_err(|e| e.to_string())?;
        let key = self.target(me_key, &m.name, "mute", "muted")?;
        let until = secs.map(|s| now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX)));
        let shown = self.keys.get(&key).cloned().unwrap_or_else(|| m.name.clone());
        let s = self.registry.sanction(
            Kind::Mute,
            Some((key, shown.clone())),
            None,
            me,
            now,
            until,
            reason.clone(),
            &mut self.writes,
        );
        self.audit(me, "mute", shown.clone(), reason, now);
        if self.users.contains_key(&shown) {
            self.send_error(&shown, format!("An operator muted you {}.", s.describe()));
        }
        Ok(Some(format!("{shown} is muted {}.", s.describe())))
    }

    fn unmute(&mut self, me: &str, name: &str, now: i64) -> Result<Option<String>, String> {
        let key = name_key(name.trim());
        let lifted = self.registry.lift(
            Kind::Mute,
            now,
            |s| s.name.as_ref().is_some_and(|(k, _)| *k == key),
            &mut self.writes,
        );
        if lifted == 0 {
            return Err(format!("{name} is not muted; nothing was changed."));
        }
        self.audit(me, "unmute", name.to_owned(), None, now);
        if let Some(shown) = self.keys.get(&key).cloned() {
            self.send_frame(
                &shown,
                &Frame { info: Some("You are no longer muted.".to_owned()), ..Frame::default() },
            );
        }
        Ok(Some(format!("{name} is no longer muted.")))
    }

    /// Disconnects `names` with an ERROR giving the reason, and tells everyone (in a
    /// cluster, the other nodes tell theirs).
    pub(super) fn throw_out(
        &mut self,
        names: &[String],
        by: &str,
        how: &str,
        reason: Option<&str>,
    ) {
        for name in names {
            let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
            let text = format!("You were {how} by {by}{why}");
            self.remove(name, Some(Goodbye { text, ended: Some(ended::REMOVED) }));
            self.announce_removal(name, how, by, reason);
            if let Some(link) = self.link.as_mut() {
                let event = crate::cluster::Event::Removed {
                    node: link.node.clone(),
                    name: name.clone(),
                    how: how.to_owned(),
                    by: by.to_owned(),
                    reason: reason.map(str::to_owned),
                };
                link.later(super::cluster::Job::Publish { event, from: Vec::new() });
            }
        }
    }

    /// Tells everyone online here that `name` was removed.
    pub(super) fn announce_removal(
        &mut self,
        name: &str,
        how: &str,
        by: &str,
        reason: Option<&str>,
    ) {
        let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
        let info = format!("{name} was {how} by {by}{why}");
        self.send_to_all(&Frame { info: Some(info), ..Frame::default() });
    }
}

/// The reason, checked; an empty one is none.
fn checked_reason(reason: Option<String>) -> Result<Option<String>, String> {
    match reason.map(|r| r.trim().to_owned()) {
        Some(r) if r.is_empty() => Ok(None),
        Some(r) => validate_reason(&r).map(|()| Some(r)),
        None => Ok(None),
    }
}

/// "bob", "192.0.2.7/32" or "bob (192.0.2.7/32)".
fn describe_target(s: &Sanction) -> String {
    match (&s.name, &s.address) {
        (Some((_, n)), Some(a)) => format!("{n} ({a})"),
        (Some((_, n)), None) => n.clone(),
        (None, Some(a)) => a.to_string(),
        (None, None) => String::new(),
    }
}
