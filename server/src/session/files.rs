//! The session's side of the extension `files`.
//!
//! `UPLOAD` announces a file: its name, size and SHA-256 are checked, with where it goes (the
//! hub says whether the user may send there now), the per-file limit and the user's quota,
//! before any byte travels; the answer `UPLOADING` says where the bytes go on (past 0 when an
//! interrupted upload resumes). `CHUNK`s are appended to the user's partial file in order;
//! the last one has the whole file checked against its SHA-256 and moved into the store, and
//! its message posted like any other, from the user to where the upload said. `FETCH` reads a
//! piece of the file of a message the user may see (the same rule as its history's): the
//! message id is the file's only handle, so a file reaches only who its message reaches.
//!
//! Everything that touches the disk runs on the blocking pool. A connection holds one upload
//! at a time (its [`Uploads`]), handed to the request's future and back, so that nothing is
//! shared.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use shared::frame::{self, FileData, FileRef, Uploading};
use shared::limits::FILE_CHUNK;
use shared::validate::{validate_room, validate_username};
use shared::{Frame, Message, encode};
use tokio::sync::oneshot;

use super::{Context, SHUTTING_DOWN};
use crate::files::{self, FileError, Sha256};
use crate::hub::{Command, ConnId, unix_now};

/// Longest an upload's answer waits for its message to be stored: a commit takes
/// milliseconds; past this the store is in trouble and the answer goes anyway.
const COMMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Most characters of base64 in a `CHUNK`'s DATA: [`FILE_CHUNK`] bytes, encoded and padded.
const MAX_CHUNK_BASE64: usize = FILE_CHUNK.div_ceil(3) * 4;

/// A request of the extension `files`.
pub(crate) enum Request {
    /// `UPLOAD`.
    Upload(frame::Upload),
    /// `CHUNK`.
    Chunk(frame::Chunk),
    /// `FETCH`.
    Fetch(frame::Fetch),
}

/// The upload a connection has announced and not finished.
struct Upload {
    sha: Sha256,
    name: String,
    size: u64,
    /// `ALL`, a name or a room, as checked.
    to: String,
}

/// What a connection holds of its uploads between frames.
#[derive(Default)]
pub(crate) struct Uploads {
    current: Option<Upload>,
    /// An upload refused halfway: the chunks already on their way after the refusal are
    /// dropped without an ERROR each (the one ERROR said why), until the next `UPLOAD`.
    failed: Option<Sha256>,
}

/// Who is asking: the connection, the user's name and key.
pub(crate) struct Asker<'a> {
    pub(crate) conn: ConnId,
    pub(crate) name: &'a str,
    pub(crate) key: &'a str,
}

/// Where an announced upload stands.
pub(crate) enum Announced {
    /// Its bytes go on from this offset.
    From(u64),
    /// It had every byte already: it is posted.
    Done,
}

/// Carries out `request`; the JSON of the frame to answer with, if any.
pub(super) async fn answer(
    ctx: &Context,
    who: &Asker<'_>,
    uploads: &mut Uploads,
    request: Request,
) -> Option<Vec<u8>> {
    let result = match request {
        Request::Upload(u) => upload(ctx, who, uploads, u).await,
        Request::Chunk(c) => chunk(ctx, who, uploads, c).await,
        Request::Fetch(f) => fetch(ctx, who.conn, f).await.map(Some),
    };
    match result {
        Ok(None) => None,
        Ok(Some(frame)) => Some(encode(&frame)),
        Err(text) => Some(encode(&Frame::error(text))),
    }
}

/// `UPLOAD`: checks the announcement and says where the bytes go on.
async fn upload(
    ctx: &Context,
    who: &Asker<'_>,
    uploads: &mut Uploads,
    u: frame::Upload,
) -> Result<Option<Frame>, String> {
    let sha256 = u.sha256.to_ascii_lowercase();
    Ok(Some(match announce(ctx, who, uploads, u).await? {
        Announced::From(offset) => {
            Frame { uploading: Some(Uploading { sha256, offset }), ..Frame::default() }
        }
        Announced::Done => Frame { uploaded: Some(sha256), ..Frame::default() },
    }))
}

/// Checks an announced upload (`UPLOAD`, or the browser's `POST`) and makes it `uploads`'
/// current one: where its bytes go on.
pub(crate) async fn announce(
    ctx: &Context,
    who: &Asker<'_>,
    uploads: &mut Uploads,
    u: frame::Upload,
) -> Result<Announced, String> {
    *uploads = Uploads::default();
    let not_sent = |e: FileError| format!("{e} The file was not sent.");
    let name = files::check_name(&u.name).map_err(not_sent)?.to_owned();
    let sha = Sha256::parse(&u.sha256).map_err(not_sent)?;
    if u.size == 0 {
        return Err("The file is empty; there is nothing to send.".to_owned());
    }
    if u.size > ctx.max_file {
        return Err(not_sent(FileError::TooLarge { size: u.size, max: ctx.max_file }));
    }
    let to = if u.to == shared::BROADCAST {
        u.to
    } else if u.to.starts_with('#') {
        validate_room(&u.to).map_err(|e| format!("UPLOAD: {:?} is not a room's name: {e}", u.to))?
    } else {
        validate_username(&u.to).map_err(|e| format!("UPLOAD: {:?} is not a name: {e}", u.to))?;
        u.to
    };
    let (reply, reached) = oneshot::channel();
    let ask = Command::Reach { conn: who.conn, to: to.clone(), reply };
    if ctx.hub.send(ask).await.is_err() {
        return Err(SHUTTING_DOWN.to_owned());
    }
    reached.await.map_err(|_| SHUTTING_DOWN.to_owned())??;
    within_quota(ctx, who.key, u.size).await?;
    let store = ctx.files.clone();
    let (key, s) = (who.key.to_owned(), sha.clone());
    let size = u.size;
    let have = blocking(move || {
        let have = store.uploaded(&key, &s);
        if have > size {
            store.discard(&key, &s);
            return 0;
        }
        have
    })
    .await?;
    uploads.current = Some(Upload { sha, name, size, to });
    if have == size {
        // Everything arrived before the connection dropped; only the end was missing.
        finish(ctx, who, uploads).await?;
        return Ok(Announced::Done);
    }
    Ok(Announced::From(have))
}

/// Refuses a file of `size` bytes that would take the user past the quota.
async fn within_quota(ctx: &Context, key: &str, size: u64) -> Result<(), String> {
    let used = ctx.reader.file_usage(key).await.map_err(|e| {
        tracing::error!(error = %e, "reading a user's file usage");
        "Files cannot be sent right now; please try again.".to_owned()
    })?;
    if used.saturating_add(size) > ctx.quota {
        let e = FileError::OverQuota { size, used, quota: ctx.quota };
        return Err(format!("{e} The file was not sent."));
    }
    Ok(())
}

/// `CHUNK`: appends its bytes; the last one finishes the upload.
async fn chunk(
    ctx: &Context,
    who: &Asker<'_>,
    uploads: &mut Uploads,
    c: frame::Chunk,
) -> Result<Option<Frame>, String> {
    let sha = Sha256::parse(&c.sha256).map_err(|e| e.to_string())?;
    if uploads.failed.as_ref() == Some(&sha) {
        return Ok(None);
    }
    if uploads.current.as_ref().is_none_or(|u| u.sha != sha) {
        return Err(format!(
            "CHUNK: no upload of {} is in progress here; send UPLOAD first.",
            sha.as_str()
        ));
    }
    if c.data.len() > MAX_CHUNK_BASE64 {
        let text = format!(
            "CHUNK: a chunk holds at most {FILE_CHUNK} bytes; the upload was stopped and removed."
        );
        return Err(stop(ctx, who, uploads, text, true).await);
    }
    let Ok(bytes) = BASE64.decode(c.data.as_bytes()) else {
        let text = "CHUNK: DATA is not base64; the upload was stopped and removed.".to_owned();
        return Err(stop(ctx, who, uploads, text, true).await);
    };
    append(ctx, who, uploads, &sha, c.offset, bytes).await
}

/// Appends `bytes` at `offset` to the current upload, whose SHA-256 is `sha` (a `CHUNK`'s, or
/// a piece of the browser's `POST`); the last piece finishes it (`UPLOADED`).
pub(crate) async fn append(
    ctx: &Context,
    who: &Asker<'_>,
    uploads: &mut Uploads,
    sha: &Sha256,
    offset: u64,
    bytes: Vec<u8>,
) -> Result<Option<Frame>, String> {
    let Some(size) = uploads.current.as_ref().filter(|u| u.sha == *sha).map(|u| u.size) else {
        return Err(format!("No upload of {} is in progress here.", sha.as_str()));
    };
    if bytes.len() > FILE_CHUNK {
        let text = format!("A piece holds at most {FILE_CHUNK} bytes; the upload was removed.");
        return Err(stop(ctx, who, uploads, text, true).await);
    }
    let (store, key, s) = (ctx.files.clone(), who.key.to_owned(), sha.clone());
    let appended = blocking(move || store.append(&key, &s, size, offset, &bytes)).await?;
    let now = match appended {
        Ok(now) => now,
        // Out of order: what arrived stays, and a new UPLOAD says where to go on.
        Err(e @ FileError::Offset { .. }) => {
            let text = format!("{e} Send UPLOAD again to resume.");
            return Err(stop(ctx, who, uploads, text, false).await);
        }
        Err(e) => return Err(stop(ctx, who, uploads, e.to_string(), true).await),
    };
    if now < size {
        return Ok(None);
    }
    finish(ctx, who, uploads).await.map(Some)
}

/// Stops the current upload with the ERROR `text`, its partial file removed if `discard`
/// (otherwise it stays, for the upload to resume); the chunks already on their way are
/// dropped quietly.
async fn stop(
    ctx: &Context,
    who: &Asker<'_>,
    uploads: &mut Uploads,
    text: String,
    discard: bool,
) -> String {
    if let Some(up) = uploads.current.take() {
        if discard {
            let (store, key, sha) = (ctx.files.clone(), who.key.to_owned(), up.sha.clone());
            if let Err(e) = blocking(move || store.discard(&key, &sha)).await {
                return e;
            }
        }
        uploads.failed = Some(up.sha);
    }
    text
}

/// The upload has all its bytes: checks them against the quota and the SHA-256, stores the
/// file and posts its message.
async fn finish(ctx: &Context, who: &Asker<'_>, uploads: &mut Uploads) -> Result<Frame, String> {
    // Other uploads may have finished meanwhile (another connection of the same account's):
    // the quota is checked again at the end.
    if let Some(up) = &uploads.current
        && let Err(e) = within_quota(ctx, who.key, up.size).await
    {
        return Err(stop(ctx, who, uploads, e, true).await);
    }
    let Some(up) = uploads.current.take() else {
        return Err("No upload is in progress.".to_owned());
    };
    let (store, key, sha, size) = (ctx.files.clone(), who.key.to_owned(), up.sha.clone(), up.size);
    let kind =
        blocking(move || store.finish(&key, &sha, size)).await?.map_err(|e| e.to_string())?;
    let content =
        format!("{} shared {} ({})", who.name, up.name, shared::size::human_size(up.size));
    let file = FileRef {
        name: up.name,
        size: up.size,
        kind: kind.to_owned(),
        sha256: up.sha.as_str().to_owned(),
    };
    let message =
        Message { file: Some(file), ..Message::new(who.name, up.to, unix_now(), content) };
    let post = Command::Route { conn: who.conn, messages: vec![message] };
    let (reply, last) = oneshot::channel();
    if ctx.hub.send(post).await.is_err() || ctx.hub.send(Command::LastId { reply }).await.is_err() {
        return Err(SHUTTING_DOWN.to_owned());
    }
    // UPLOADED once the message is stored, so that the user's next UPLOAD counts this file
    // against the quota. (In a cluster the stream orders the message later; the wait is
    // bounded, and the quota then allows at most the one file in flight past it.)
    if let Ok(id) = last.await {
        let mut committed = ctx.committed.clone();
        let _ = tokio::time::timeout(COMMIT_WAIT, committed.wait_for(|c| *c >= id)).await;
    }
    Ok(Frame { uploaded: Some(up.sha.as_str().to_owned()), ..Frame::default() })
}

/// What the user on `conn` may see, from the hub (`None`: the user is gone).
async fn sight(ctx: &Context, conn: ConnId) -> Option<crate::hub::edit::Sight> {
    let (reply, sight) = oneshot::channel();
    ctx.hub.send(Command::Sight { conn, reply }).await.ok()?;
    sight.await.ok().flatten()
}

/// The name and key of the user on `conn` (`None`: not logged in, or gone).
pub(crate) async fn user_of(ctx: &Context, conn: ConnId) -> Option<(String, String)> {
    sight(ctx, conn).await.map(|s| (s.name, s.key))
}

/// The file of message `id`, if the user on `conn` may see that message.
pub(crate) async fn visible_file(ctx: &Context, conn: ConnId, id: i64) -> Result<FileRef, String> {
    let Some(sight) = sight(ctx, conn).await else {
        return Err(SHUTTING_DOWN.to_owned());
    };
    let m = ctx.reader.message(id).await.map_err(|e| {
        tracing::error!(error = %e, "reading a file's message");
        "Files cannot be read right now; please try again.".to_owned()
    })?;
    match m.filter(|m| super::edit::sees(&sight, m)).and_then(|m| m.file) {
        Some(file) => Ok(file),
        None => Err(format!("There is no file {id} you can see.")),
    }
}

/// `FETCH`: a piece of the file of a message the user may see.
async fn fetch(ctx: &Context, conn: ConnId, f: frame::Fetch) -> Result<Frame, String> {
    let id = f.id;
    let file = visible_file(ctx, conn, id).await?;
    if f.offset > file.size {
        return Err(format!(
            "FETCH: offset {} is past the end of file {id} ({} bytes).",
            f.offset, file.size
        ));
    }
    let sha = Sha256::parse(&file.sha256).map_err(|e| e.to_string())?;
    let store = ctx.files.clone();
    let offset = f.offset;
    let bytes = blocking(move || store.read(&sha, offset, FILE_CHUNK)).await?.map_err(|e| {
        tracing::warn!(error = %e, id, "a file's bytes cannot be read");
        format!("The file of message {id} cannot be read; it is no longer stored.")
    })?;
    let data = FileData { id, offset, size: file.size, data: BASE64.encode(bytes) };
    Ok(Frame { file_data: Some(data), ..Frame::default() })
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "a file task failed");
        "The file could not be handled; please try again.".to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_chunk_fits_its_base64_bound() {
        let data = BASE64.encode(vec![0u8; FILE_CHUNK]);
        assert_eq!(data.len(), MAX_CHUNK_BASE64);
        assert!(BASE64.encode(vec![0u8; FILE_CHUNK + 1]).len() > MAX_CHUNK_BASE64);
    }
}
