//! The `account` extension at the hub: registering, passwords, session tokens. Password
//! checks and hashing happened in the session (they are slow); the hub only compares the hash
//! the session checked with the one it holds, so a password changed meanwhile is noticed.

use std::sync::Arc;

use shared::Frame;

use super::{ConnId, Hub, unix_now};
use crate::registry::session_id;

/// A request of the `account` extension, checked by the session.
#[derive(Debug)]
pub enum Request {
    /// Register the current name with this password hash.
    Register {
        /// The new PHC string.
        hash: String,
    },
    /// Change the password; the session verified the old one against `checked`.
    ChangePassword {
        /// The hash the old password matched.
        checked: Arc<str>,
        /// The new PHC string.
        hash: String,
    },
    /// Remove the account; the session verified the password against `checked`.
    Unregister {
        /// The hash the password matched.
        checked: Arc<str>,
    },
    /// Answer with `SESSIONS`.
    ListSessions,
    /// Revoke the token with this id.
    Revoke {
        /// Its id in `SESSIONS`.
        id: String,
    },
    /// Revoke this connection's token, or every token of the account.
    SignOut {
        /// Every token.
        everywhere: bool,
    },
}

/// The ERROR for account requests from a name that is not registered.
pub(crate) const NOT_REGISTERED: &str =
    "Your name is not registered; register it first (REGISTER).";

impl Hub {
    /// Handles an `account` request from the user on `conn`.
    pub(super) fn account(&mut self, conn: ConnId, request: Request) {
        let Some(me) = self.names.get(&conn).cloned() else { return };
        let Some(u) = self.users.get(&me) else { return };
        let (key, ip, since, registered) = (u.key.clone(), u.ip, u.since, u.registered);
        let now = unix_now();
        let frame = match request {
            Request::Register { hash } => {
                match self.registry.register(&key, &me, &hash, since, now, &mut self.writes) {
                    Ok(()) => {
                        let token = self.issue_token(&me, &key, now);
                        if let Some(u) = self.users.get_mut(&me) {
                            u.registered = true;
                        }
                        tracing::info!(user = %me, "name registered");
                        Frame {
                            registered: Some(true),
                            token: Some(token),
                            info: Some(format!(
                                "The name {me} is registered to you: from now on it takes its \
                                 password or a session token to log in as {me}."
                            )),
                            ..Frame::default()
                        }
                    }
                    Err(e) => Frame::error(e),
                }
            }
            _ if !registered => Frame::error(NOT_REGISTERED),
            Request::ChangePassword { checked, hash } => {
                match self.registry.set_password(&key, &checked, &hash, &mut self.writes) {
                    Ok(()) => {
                        self.registry.revoke_all(&key, None, &mut self.writes);
                        let token = self.issue_token(&me, &key, now);
                        Frame {
                            token: Some(token),
                            info: Some(
                                "Password changed; every other session of this account is \
                                 logged out."
                                    .to_owned(),
                            ),
                            ..Frame::default()
                        }
                    }
                    Err(e) => Frame::error(e),
                }
            }
            Request::Unregister { checked } => {
                match self.registry.unregister(&key, &checked, ip, &mut self.writes) {
                    Ok(()) => {
                        if let Some(u) = self.users.get_mut(&me) {
                            u.registered = false;
                            u.operator = false;
                            u.token = None;
                        }
                        tracing::info!(user = %me, "account removed");
                        Frame {
                            registered: Some(false),
                            info: Some(format!(
                                "The account {me} is removed; the name is yours only while you \
                                 hold it, like any unregistered name."
                            )),
                            ..Frame::default()
                        }
                    }
                    Err(e) => Frame::error(e),
                }
            }
            Request::ListSessions => self.sessions_frame(&me, &key, now, None),
            Request::Revoke { id } => {
                if self.registry.revoke(&key, &id, &mut self.writes) {
                    self.forget_token_if(&me, &id);
                    self.sessions_frame(&me, &key, now, Some(format!("Session {id} revoked.")))
                } else {
                    Frame::error(format!("{id:?} is not one of your sessions; nothing changed."))
                }
            }
            Request::SignOut { everywhere } => {
                let current = self.users.get(&me).and_then(|u| u.token.clone());
                let info = if everywhere {
                    self.registry.revoke_all(&key, None, &mut self.writes);
                    "Logged out everywhere: every session token of this account is revoked."
                } else {
                    if let Some(h) = &current {
                        let id = session_id(h).to_owned();
                        self.registry.revoke(&key, &id, &mut self.writes);
                    }
                    "Logged out: this session's token is revoked."
                };
                if let Some(u) = self.users.get_mut(&me) {
                    u.token = None;
                }
                self.sessions_frame(&me, &key, now, Some(info.to_owned()))
            }
        };
        self.send_frame(&me, &frame);
    }

    /// A new token for the user `me` (key `key`), which this connection now holds.
    fn issue_token(&mut self, me: &str, key: &str, now: i64) -> String {
        let (token, hash) = crate::accounts::new_token();
        self.registry.add_token(key, hash.clone(), now, &mut self.writes);
        if let Some(u) = self.users.get_mut(me) {
            u.token = Some(hash);
        }
        token
    }

    /// This connection no longer holds a token if `id` was its own.
    fn forget_token_if(&mut self, me: &str, id: &str) {
        if let Some(u) = self.users.get_mut(me)
            && u.token.as_deref().is_some_and(|h| session_id(h) == id)
        {
            u.token = None;
        }
    }

    fn sessions_frame(&self, me: &str, key: &str, now: i64, info: Option<String>) -> Frame {
        let current = self.users.get(me).and_then(|u| u.token.as_deref());
        Frame {
            sessions: Some(self.registry.sessions(key, current, now)),
            info,
            ..Frame::default()
        }
    }
}
