//! The session's side of the extensions `edit` and `search`: a request is checked against
//! what the user may see (the hub's [`Sight`]) and the store, here, off the hub's loop; an
//! edit or delete that passes goes to the hub, which orders it like a message.

use shared::frame::{Change, Edit, Found, Search, features::Granted};
use shared::limits::SEARCH_PAGE;
use shared::names::name_key;
use shared::validate::{validate_content, validate_room, validate_username};
use shared::{Frame, Message, encode};
use tokio::sync::oneshot;

use super::SHUTTING_DOWN;
use crate::hub::edit::Sight;
use crate::hub::{Command, ConnId, HubHandle, unix_now};
use crate::rooms::room_of;
use crate::search::{self, Scope};
use crate::store::Reader;

/// Most characters of the replaced text an edit quotes for clients without `edit`: enough
/// to recognise the message, short enough not to repeat it whole.
const QUOTE_CHARS: usize = 60;

/// A request of the extensions `edit` and `search`.
pub(super) enum Request {
    /// `EDIT`.
    Edit(Edit),
    /// `DELETE`.
    Delete(i64),
    /// `SEARCH`.
    Search(Search),
}

/// Checks and carries out `request` for the connection `conn`; the JSON of the frame to
/// answer with, if any (an edit or delete that is made is answered by its own entry).
pub(super) async fn answer(
    hub: &HubHandle,
    reader: &Reader,
    conn: ConnId,
    request: Request,
    granted: Granted,
    window: i64,
) -> Option<Vec<u8>> {
    let (reply, sight) = oneshot::channel();
    if hub.send(Command::Sight { conn, reply }).await.is_err() {
        return Some(encode(&Frame::error(SHUTTING_DOWN)));
    }
    // The connection left the hub meanwhile: nothing to answer.
    let sight = sight.await.ok().flatten()?;
    let result = match request {
        Request::Search(search) => search_frame(reader, &sight, search, granted).await,
        Request::Edit(edit) => {
            change(hub, reader, &sight, conn, edit.id, Some((edit.content, window))).await
        }
        Request::Delete(id) => change(hub, reader, &sight, conn, id, None).await,
    };
    match result {
        Ok(None) => None,
        Ok(Some(frame)) => Some(encode(&frame)),
        Err(text) => Some(encode(&Frame::error(text))),
    }
}

/// Whether `sight` may see the stored message `m` (its history would show it).
pub(super) fn sees(sight: &Sight, m: &Message) -> bool {
    let id = m.id.unwrap_or(0);
    if sight.hidden.contains(&name_key(&m.src)) {
        return false;
    }
    if m.is_broadcast() {
        return true;
    }
    if let Some(room) = room_of(&m.dest) {
        return sight.rooms.iter().any(|r| r == room);
    }
    id > sight.since
        && (m.src == sight.name || m.dest == sight.name)
        && !sight.hidden.contains(&name_key(&m.dest))
}

/// An edit (the new text, and the window in seconds) or delete of message `id`, checked;
/// `Ok(None)` once it is queued.
async fn change(
    hub: &HubHandle,
    reader: &Reader,
    sight: &Sight,
    conn: ConnId,
    id: i64,
    content: Option<(String, i64)>,
) -> Result<Option<Frame>, String> {
    let unreadable = |e: crate::store::StoreError| {
        tracing::error!(error = %e, "reading a message to change");
        "The message cannot be read right now; nothing was changed.".to_owned()
    };
    let what = if content.is_some() { "edit" } else { "delete" };
    let Some(m) = reader.message(id).await.map_err(unreadable)?.filter(|m| sees(sight, m)) else {
        return Err(format!("There is no message {id} you can see; nothing was changed."));
    };
    match m.change {
        Some(c) if c.is_event() => {
            return Err(format!("Message {id} is an edit or a delete; {what} the message itself."));
        }
        _ if m.file.is_some() && content.is_some() => {
            return Err(format!(
                "Message {id} shares a file; it cannot be edited (DELETE removes it). Nothing was \
                 changed."
            ));
        }
        Some(Change::Deleted(_)) => {
            return Err(format!("Message {id} was deleted; nothing was changed."));
        }
        _ => {}
    }
    // Only the claim to the name that wrote it (not a later holder of an unregistered name).
    let own = name_key(&m.src) == sight.key && id > sight.since;
    let (change, plain) = match content {
        Some((text, window)) => {
            if !own {
                return Err(format!(
                    "Message {id} is not yours; only its author can edit it. Nothing was changed."
                ));
            }
            if unix_now().saturating_sub(m.timestamp) > window {
                return Err(format!(
                    "Message {id} is older than {}; it can no longer be edited.",
                    span(window)
                ));
            }
            if text.trim().is_empty() {
                return Err(format!(
                    "The edit of message {id} was not made: the new text is empty (DELETE \
                     removes a message)."
                ));
            }
            if let Err(e) = validate_content(&text) {
                return Err(format!("The edit of message {id} was not made: {e}"));
            }
            let plain = plain_edit(&m.content, &text);
            (
                Message { change: Some(Change::Edit(id)), ..Message::new("", &m.dest, 0, text) },
                Some(plain),
            )
        }
        None => {
            let public = m.is_broadcast() || room_of(&m.dest).is_some();
            let may = own || (sight.operator && public);
            if !may {
                return Err(format!(
                    "Message {id} is not yours; only its author (or an operator, for a public \
                     message) can delete it. Nothing was changed."
                ));
            }
            (Message { change: Some(Change::Delete(id)), ..Message::new("", &m.dest, 0, "") }, None)
        }
    };
    if hub.send(Command::Change { conn, message: change, plain }).await.is_err() {
        return Err(SHUTTING_DOWN.to_owned());
    }
    Ok(None)
}

/// A window in words: "60 minutes", "90 seconds".
fn span(secs: i64) -> String {
    if secs >= 120 && secs % 60 == 0 {
        format!("{} minutes", secs / 60)
    } else {
        format!("{secs} seconds")
    }
}

/// What clients without `edit` get for an edit: the new text, quoting the start of the old.
fn plain_edit(old: &str, new: &str) -> String {
    let mut quote: String = old.chars().take(QUOTE_CHARS).collect();
    if old.chars().nth(QUOTE_CHARS).is_some() {
        quote.push('…');
    }
    format!("[edit] \"{quote}\" -> {new}")
}

/// A `SEARCH`, checked and run: the `FOUND` frame.
async fn search_frame(
    reader: &Reader,
    sight: &Sight,
    search: Search,
    granted: Granted,
) -> Result<Option<Frame>, String> {
    let terms = search::terms(&search.query).map_err(|e| e.to_string())?;
    let place = match search.room.as_deref() {
        None => None,
        Some(shared::BROADCAST) => Some(shared::BROADCAST.to_owned()),
        Some(name) => {
            let room = validate_room(name)
                .map_err(|e| format!("Search: {name:?} is not a room's name: {e}"))?;
            if !sight.rooms.contains(&room) {
                return Err(format!("Search: you are not in {room}; join it to search it."));
            }
            Some(room)
        }
    };
    let from_key = match search.from.as_deref() {
        None => None,
        Some(name) => {
            validate_username(name).map_err(|e| format!("Search: {name:?} is not a name: {e}"))?;
            Some(name_key(name))
        }
    };
    let scope = Scope {
        user: sight.name.clone(),
        since: sight.since,
        rooms: sight.rooms.clone(),
        hidden: sight.hidden.clone(),
        place,
        from_key,
        after: search.after,
        before: search.before,
        older_than: search.older_than,
    };
    let mut results = reader.search(&terms, &scope, SEARCH_PAGE + 1).await.map_err(|e| {
        tracing::error!(error = %e, "searching");
        "Search is not available right now; please try again.".to_owned()
    })?;
    let more = results.len() > SEARCH_PAGE;
    results.truncate(SEARCH_PAGE);
    for hit in &mut results {
        for m in std::iter::once(&mut hit.message).chain(&mut hit.context) {
            if !granted.edit {
                m.change = None;
            }
            if !granted.files {
                m.file = None;
            }
        }
    }
    let found = Found { query: search.query, results, more };
    Ok(Some(Frame { found: Some(found), ..Frame::default() }))
}

/// A history as a client with `granted` gets it: without `edit`, no edit or delete rows and
/// no deleted messages, and no changes; without `resume` or `edit`, no ids.
pub(super) fn shown(history: &mut Vec<Message>, granted: Granted) {
    if !granted.edit {
        history
            .retain(|m| !m.change.is_some_and(|c| c.is_event() || matches!(c, Change::Deleted(_))));
        for m in history.iter_mut() {
            m.change = None;
        }
    }
    if !granted.files {
        for m in history.iter_mut() {
            m.file = None;
        }
    }
    if !granted.resume && !granted.edit {
        // A file's message keeps its id: the handle its file is fetched by.
        for m in history.iter_mut().filter(|m| m.file.is_none()) {
            m.id = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_for_plain_clients_quotes_the_start_of_what_it_replaces() {
        assert_eq!(plain_edit("teh cat", "the cat"), "[edit] \"teh cat\" -> the cat");
        let long = "é".repeat(QUOTE_CHARS + 5);
        let quoted = plain_edit(&long, "x");
        assert!(quoted.contains(&format!("\"{}…\"", "é".repeat(QUOTE_CHARS))), "{quoted}");
    }
}
