//! The hub's side of the extensions `edit` and `search`: what a user may see (for the
//! session, which reads the store and checks a request against it), and an accepted edit or
//! delete put in the order like a message, to the same people as the message it changes.

use shared::Message;
use shared::frame::Change;
use shared::names::name_key;
use tokio::sync::oneshot;

use super::{ConnId, Hub, unix_now};

/// What one user may see: the history's bounds, as a search or an edit needs them.
#[derive(Debug, Clone)]
pub struct Sight {
    /// The user's name as shown.
    pub name: String,
    /// Its key.
    pub key: String,
    /// Private messages only with ids above this (where the claim to the name began).
    pub since: i64,
    /// The rooms the user is in.
    pub rooms: Vec<String>,
    /// Keys of the names in a block with the user, either way.
    pub hidden: Vec<String>,
    /// The user is an operator.
    pub operator: bool,
}

impl Hub {
    /// What the user on `conn` may see (`None`: it is gone).
    pub(super) fn sight(&self, conn: ConnId, reply: oneshot::Sender<Option<Sight>>) {
        let sight = self.names.get(&conn).and_then(|name| {
            let u = self.users.get(name)?;
            Some(Sight {
                name: name.clone(),
                key: u.key.clone(),
                since: u.since,
                rooms: self.rooms.of(&u.key),
                hidden: self.hidden_from(&u.key).into_iter().collect(),
                operator: u.operator,
            })
        });
        let _ = reply.send(sight);
    }

    /// Whether the user on `conn` may send a message to `to` now (extension `files`, before
    /// the bytes of a file travel): [`Hub::reach`], as [`Hub::route`] will decide it.
    pub(super) fn may_send(&self, conn: ConnId, to: &str) -> Result<(), String> {
        let gone = || super::super::session::SHUTTING_DOWN.to_owned();
        let me = self.names.get(&conn).ok_or_else(gone)?;
        let u = self.users.get(me).ok_or_else(gone)?;
        if let Some(mute) = self.registry.muted(&u.key, unix_now()) {
            return Err(format!("You are muted {}; the file was not sent.", mute.describe()));
        }
        match self.reach(&u.key, u.rooms, to) {
            Ok(_) => Ok(()),
            Err(why) => Err(why.text(to, super::Lost::File)),
        }
    }

    /// An edit or delete row `m` from the user on `conn`, checked by its session against the
    /// message it changes: it goes where that message went. `plain` is the text clients
    /// without `edit` get for an edit.
    pub(super) async fn change(&mut self, conn: ConnId, mut m: Message, plain: Option<String>) {
        let Some(me) = self.names.get(&conn).cloned() else { return };
        let Some(key) = self.users.get(&me).map(|u| u.key.clone()) else { return };
        let now = unix_now();
        if matches!(m.change, Some(Change::Edit(_)))
            && let Some(mute) = self.registry.muted(&key, now)
        {
            let text = format!("You are muted {}; your edit was not made.", mute.describe());
            self.send_error(&me, text);
            return;
        }
        m.src.clone_from(&me);
        m.timestamp = now;
        let hidden = {
            let h = self.hidden_from(&key);
            (!h.is_empty()).then(|| std::sync::Arc::new(h))
        };
        let to = if m.is_broadcast() || crate::rooms::room_of(&m.dest).is_some() {
            None
        } else {
            // The other side of a private conversation, as it is online now (if it is).
            let dest_key = name_key(&m.dest);
            Some(self.keys.get(&dest_key).cloned().unwrap_or_else(|| m.dest.clone()))
        };
        self.accept(conn, &me, m, to, hidden, plain).await;
    }
}
