//! The session's side of the extension `rooms`: the hub decides, and a `JOIN`'s answer carries
//! the room's history, read here once the hub's bound is committed (as a login's is).

use shared::limits::MAX_SERVER_FRAME_LEN;
use shared::{Frame, encode};
use tokio::sync::oneshot;

use super::{Context, SHUTTING_DOWN};
use crate::hub::rooms::{RoomAnswer, RoomRequest};
use crate::hub::{Command, ConnId, HubHandle};
use crate::store::Reader;
use crate::wire;

/// Asks the hub `request` for the connection `conn` and returns the answer's JSON (a room's
/// history as the session's extensions show it).
pub(super) async fn answer(
    hub: &HubHandle,
    reader: &Reader,
    ctx: &Context,
    conn: ConnId,
    request: RoomRequest,
    granted: shared::frame::features::Granted,
) -> Vec<u8> {
    let (reply, answer) = oneshot::channel();
    if hub.send(Command::Room { conn, request, reply }).await.is_err() {
        return encode(&Frame::error(SHUTTING_DOWN));
    }
    let (info, upto, hidden) = match answer.await {
        // The connection left the hub meanwhile: nothing to answer.
        Err(_) => return encode(&Frame::error(SHUTTING_DOWN)),
        Ok(RoomAnswer::Frame(frame)) => return encode(&frame),
        Ok(RoomAnswer::Joined { info, upto, hidden }) => (info, upto, hidden),
    };
    let mut committed = ctx.committed.clone();
    if committed.wait_for(|c| *c >= upto).await.is_err() {
        return encode(&Frame::error(SHUTTING_DOWN));
    }
    match reader.room_history(&info.name, upto, ctx.history, &hidden).await {
        Ok(mut history) => {
            super::edit::shown(&mut history, granted);
            let head = Frame { joined: Some(info), ..Frame::default() };
            wire::history_frame(&head, &history, MAX_SERVER_FRAME_LEN)
        }
        Err(e) => {
            tracing::error!(error = %e, "reading a room's history");
            let head = Frame {
                joined: Some(info),
                ..Frame::error("You joined, but the room's history cannot be read right now.")
            };
            encode(&head)
        }
    }
}
