//! Files over HTTPS for the browser (extension `files`): the page uploads with a `POST`, shows
//! pictures and offers downloads with `GET`s, each authorised by its WebSocket's session.
//!
//! The WebSocket's upgrade answer sets a cookie (`HttpOnly`, `Secure`, `SameSite=Strict`)
//! holding a random pass, scoped to a path of the connection's own, `/files/<tag>/`, and the
//! login answer tells the page that path (`FILES_URL`). A request under it must carry the
//! pass, which names the WebSocket's connection, and is answered as that connection's user,
//! exactly as a `FETCH` or an `UPLOAD` on it would be: a file reaches only who its message
//! reaches. The pass ends with the connection: a URL copied elsewhere, or used after the page
//! closed, gets a 404. Each tab has its own path and cookie, so two tabs logged in as two
//! people never mix. Scripts cannot read the pass, and other sites cannot send it.
//!
//! What is served is served as the bytes show it: pictures inline (the page shows them),
//! everything else as an attachment; never sniffed by the browser, and under a CSP that
//! allows nothing, so an SVG or HTML upload cannot run.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use shared::frame::{FileRef, Upload};
use shared::limits::FILE_CHUNK;

use super::Web;
use crate::accounts::hex;
use crate::files::{self, FileStore, Sha256};
use crate::hub::ConnId;
use crate::session::files::{self as upload, Asker, Uploads};
use crate::thumbs;

/// The cookie holding a WebSocket's pass.
pub const COOKIE: &str = "chatterbox_files";

/// Random bytes of a pass: as many as a session token's, beyond guessing.
const PASS_BYTES: usize = 32;

/// Random bytes of a connection's path tag: not secret (the pass is), only distinct.
const TAG_BYTES: usize = 12;

/// Thumbnails made at once: decoding a picture may take up to [`thumbs::MAX_DECODE_BYTES`]
/// of memory, so only a couple at a time.
const THUMB_JOBS: usize = 2;

/// The passes of the WebSockets open now, by their path tag: (the pass's SHA-256, the
/// connection). One entry per open WebSocket, so the map is bounded by the connection limit.
#[derive(Debug)]
pub struct Passes {
    by_tag: Mutex<HashMap<String, (Vec<u8>, ConnId)>>,
    thumbs: tokio::sync::Semaphore,
}

impl Default for Passes {
    fn default() -> Self {
        Passes {
            by_tag: Mutex::new(HashMap::new()),
            thumbs: tokio::sync::Semaphore::new(THUMB_JOBS),
        }
    }
}

/// A WebSocket's pass, as issued.
#[derive(Debug, Clone)]
pub struct Pass {
    /// The path tag: its files live under `/files/<tag>/`.
    pub tag: String,
    /// The cookie's value (never stored: only its hash is).
    secret: String,
}

impl Pass {
    /// The `Set-Cookie` of this pass.
    pub fn cookie(&self) -> String {
        format!(
            "{COOKIE}={}; Path=/files/{}/; Secure; HttpOnly; SameSite=Strict",
            self.secret, self.tag
        )
    }

    /// The path the page fetches its files under (the login answer's `FILES_URL`).
    pub fn url(&self) -> String {
        format!("/files/{}", self.tag)
    }
}

impl Passes {
    /// Issues a pass for the WebSocket `conn`.
    pub fn issue(&self, conn: ConnId) -> Option<Pass> {
        use ring::rand::SecureRandom;
        let rng = ring::rand::SystemRandom::new();
        let mut secret = [0u8; PASS_BYTES];
        let mut tag = [0u8; TAG_BYTES];
        rng.fill(&mut secret).ok()?;
        rng.fill(&mut tag).ok()?;
        let pass = Pass { tag: hex(&tag), secret: hex(&secret) };
        let hash = ring::digest::digest(&ring::digest::SHA256, pass.secret.as_bytes());
        self.lock().insert(pass.tag.clone(), (hash.as_ref().to_vec(), conn));
        Some(pass)
    }

    /// Ends the pass of path `tag` (its WebSocket closed).
    pub fn revoke(&self, tag: &str) {
        self.lock().remove(tag);
    }

    /// The connection whose pass `headers` carry for path `tag`.
    fn check(&self, tag: &str, headers: &HeaderMap) -> Option<ConnId> {
        let secret = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))?;
        let hash = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
        let map = self.lock();
        let (want, conn) = map.get(tag)?;
        // Hashes compared, not passes: how long the comparison takes tells nothing of a pass.
        (want.as_slice() == hash.as_ref()).then_some(*conn)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Vec<u8>, ConnId)>> {
        self.by_tag.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An answer with `status` and a line of text saying why.
fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    let kind = (header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    (status, [kind], text.into()).into_response()
}

/// What the page asked for without a pass that works: the same answer as for a file that
/// does not exist, so that nothing is learnt from it.
fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "There is no such file here.")
}

/// The file of message `id` and its hash, if the pass in `headers` opens path `tag` and its
/// WebSocket's user may see that message.
async fn visible(web: &Web, tag: &str, headers: &HeaderMap, id: i64) -> Option<(FileRef, Sha256)> {
    let conn = web.passes.check(tag, headers)?;
    let file = upload::visible_file(&web.ctx, conn, id).await.ok()?;
    let sha = Sha256::parse(&file.sha256).ok()?;
    Some((file, sha))
}

/// `GET /files/<tag>/<id>`: the file of message `id`.
pub(super) async fn original(
    State(web): State<Web>,
    headers: HeaderMap,
    Path((tag, id)): Path<(String, i64)>,
) -> Response {
    let Some((file, sha)) = visible(&web, &tag, &headers, id).await else { return not_found() };
    let path = web.ctx.files.path(&sha);
    let stream =
        futures_util::stream::unfold((path, 0u64, file.size), |(path, at, size)| async move {
            if at >= size {
                return None;
            }
            let p = path.clone();
            let read = tokio::task::spawn_blocking(move || read_piece(&p, at)).await;
            match read {
                Ok(Ok(bytes)) if !bytes.is_empty() => {
                    let next = at + bytes.len() as u64;
                    Some((Ok::<_, std::io::Error>(bytes), (path, next, size)))
                }
                Ok(Err(e)) => Some((Err(e), (path, size, size))),
                _ => None,
            }
        });
    let mut response = Body::from_stream(stream).into_response();
    served_as(response.headers_mut(), &file, false);
    response
}

/// `GET /files/<tag>/<id>/thumb`: a small picture of the picture of message `id`, made once
/// and kept beside the files.
pub(super) async fn thumbnail(
    State(web): State<Web>,
    headers: HeaderMap,
    Path((tag, id)): Path<(String, i64)>,
) -> Response {
    let Some((file, sha)) = visible(&web, &tag, &headers, id).await else { return not_found() };
    if !files::is_image(&file.kind) {
        return not_found();
    }
    let Ok(_permit) = web.passes.thumbs.acquire().await else { return not_found() };
    let store = web.ctx.files.clone();
    let kind = file.kind.clone();
    let made = tokio::task::spawn_blocking(move || thumb(&store, &sha, &kind)).await;
    match made {
        Ok(Ok((bytes, kind))) => {
            let mut response = bytes.into_response();
            let shown = FileRef { kind: kind.to_owned(), ..file };
            served_as(response.headers_mut(), &shown, true);
            response
        }
        Ok(Err(e)) => plain(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "The picture could not be read."),
    }
}

/// The stored thumbnail of `sha`, made now if there is none yet.
fn thumb(
    store: &FileStore,
    sha: &Sha256,
    kind: &str,
) -> Result<(Vec<u8>, &'static str), thumbs::ThumbError> {
    for (ext, kind) in [("jpg", "image/jpeg"), ("png", "image/png")] {
        if let Ok(bytes) = std::fs::read(store.thumb_path(sha, ext)) {
            return Ok((bytes, kind));
        }
    }
    let bytes = std::fs::read(store.path(sha))
        .map_err(|e| thumbs::ThumbError::Unreadable(e.to_string()))?;
    let (small, kind_out) = thumbs::thumbnail(&bytes, kind)?;
    let ext = if kind_out == "image/png" { "png" } else { "jpg" };
    let _ = store.keep_thumb(sha, ext, &small);
    Ok((small, kind_out))
}

/// The headers a file is served with: its type as the bytes show it; pictures inline, the
/// rest as attachments under their name; never sniffed; a CSP that lets nothing run.
fn served_as(headers: &mut HeaderMap, file: &FileRef, thumb: bool) {
    let image = files::is_image(&file.kind);
    if let Ok(v) = HeaderValue::from_str(&file.kind) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if !thumb && let Ok(v) = HeaderValue::from_str(&file.size.to_string()) {
        headers.insert(header::CONTENT_LENGTH, v);
    }
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if image { "inline" } else { "attachment" },
        percent_encode(&file.name)
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
}

/// `POST /files/<tag>/upload?name=…&size=…&sha256=…&to=…&offset=…`: the body is the file's
/// bytes from `offset` on, sent as `UPLOAD` and `CHUNK`s would be. The answer: 200 with the
/// SHA-256 once the file is posted; 409 with the offset to go on from when `offset` is not
/// where the upload stands; 400/403/413 with the reason otherwise.
pub(super) async fn upload(
    State(web): State<Web>,
    Path(tag): Path<String>,
    req: Request,
) -> Response {
    let Some(conn) = web.passes.check(&tag, req.headers()) else { return not_found() };
    let query = req.uri().query().unwrap_or_default().to_owned();
    let arg = |key: &str| {
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == key).then(|| percent_decode(v)).flatten()
        })
    };
    let (Some(name), Some(size), Some(sha256), Some(to)) =
        (arg("name"), arg("size").and_then(|s| s.parse::<u64>().ok()), arg("sha256"), arg("to"))
    else {
        return plain(StatusCode::BAD_REQUEST, "An upload needs name, size, sha256 and to.");
    };
    let offset = arg("offset").and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    let Some((user, key)) = upload::user_of(&web.ctx, conn).await else { return not_found() };
    let who = Asker { conn, name: &user, key: &key };
    let mut uploads = Uploads::default();
    let announced = Upload { name, size, sha256: sha256.clone(), to };
    let have = match upload::announce(&web.ctx, &who, &mut uploads, announced).await {
        Ok(upload::Announced::From(have)) => have,
        Ok(upload::Announced::Done) => return done(&sha256),
        Err(text) => {
            let status = if text.contains("may be up to") || text.contains("quota") {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return plain(status, text);
        }
    };
    if have != offset {
        return (StatusCode::CONFLICT, [(header::CONTENT_TYPE, "text/plain")], have.to_string())
            .into_response();
    }
    let Ok(sha) = Sha256::parse(&sha256) else { return plain(StatusCode::BAD_REQUEST, "sha256") };
    let mut body = req.into_body().into_data_stream();
    let mut at = offset;
    let mut piece: Vec<u8> = Vec::with_capacity(FILE_CHUNK);
    loop {
        let next = body.next().await;
        let end = next.is_none();
        match next {
            Some(Ok(bytes)) => piece.extend_from_slice(&bytes),
            // The page cancelled, or the connection dropped: what arrived stays, to resume.
            Some(Err(_)) => return plain(StatusCode::BAD_REQUEST, "The upload was interrupted."),
            None => {}
        }
        while piece.len() >= FILE_CHUNK || (end && !piece.is_empty()) {
            let rest = piece.split_off(piece.len().min(FILE_CHUNK));
            let len = piece.len() as u64;
            let bytes = std::mem::replace(&mut piece, rest);
            match upload::append(&web.ctx, &who, &mut uploads, &sha, at, bytes).await {
                Ok(Some(_)) => return done(&sha256),
                Ok(None) => at += len,
                Err(text) => return plain(StatusCode::BAD_REQUEST, text),
            }
        }
        if end {
            return (StatusCode::CONFLICT, [(header::CONTENT_TYPE, "text/plain")], at.to_string())
                .into_response();
        }
    }
}

/// `DELETE /files/<tag>/upload?sha256=…`: the page cancelled an upload; what arrived of it
/// is removed.
pub(super) async fn cancel(
    State(web): State<Web>,
    Path(tag): Path<String>,
    req: Request,
) -> Response {
    let Some(conn) = web.passes.check(&tag, req.headers()) else { return not_found() };
    let query = req.uri().query().unwrap_or_default();
    let Some(sha) = query.strip_prefix("sha256=").and_then(|s| Sha256::parse(s).ok()) else {
        return plain(StatusCode::BAD_REQUEST, "Which upload? (sha256=…)");
    };
    let Some((_, key)) = upload::user_of(&web.ctx, conn).await else { return not_found() };
    let store = web.ctx.files.clone();
    let _ = tokio::task::spawn_blocking(move || store.discard(&key, &sha)).await;
    StatusCode::NO_CONTENT.into_response()
}

fn done(sha256: &str) -> Response {
    let body = shared::encode(&shared::Frame {
        uploaded: Some(sha256.to_owned()),
        ..shared::Frame::default()
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn read_piece(path: &std::path::Path, at: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(at))?;
    let mut out = Vec::with_capacity(FILE_CHUNK);
    file.take(FILE_CHUNK as u64).read_to_end(&mut out)?;
    Ok(out)
}

/// `text` with everything but unreserved characters percent-encoded (RFC 3986), for
/// `filename*`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query value percent-decoded (`+` is a space); `None` if it is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_and_queries_decoded() {
        assert_eq!(percent_encode("a b/é.txt"), "a%20b%2F%C3%A9.txt");
        assert_eq!(percent_decode("a%20b+c%C3%A9").as_deref(), Some("a b cé"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("%FF"), None, "not UTF-8");
    }

    #[test]
    fn a_pass_opens_only_its_own_path() {
        let passes = Passes::default();
        let a = passes.issue(ConnId::next()).expect("pass");
        let b = passes.issue(ConnId::next()).expect("pass");
        let with = |p: &Pass| {
            let mut h = HeaderMap::new();
            h.insert(
                header::COOKIE,
                HeaderValue::from_str(&format!("x=1; {COOKIE}={}", p.secret)).expect("header"),
            );
            h
        };
        assert!(passes.check(&a.tag, &with(&a)).is_some());
        assert!(passes.check(&a.tag, &with(&b)).is_none(), "another tab's pass");
        assert!(passes.check(&a.tag, &HeaderMap::new()).is_none(), "no cookie");
        passes.revoke(&a.tag);
        assert!(passes.check(&a.tag, &with(&a)).is_none(), "the WebSocket closed");
    }
}
