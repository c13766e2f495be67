//! File transfers (extension `files`) for the terminal client, run by the engine beside the
//! relay: `/send` uploads a file from the disk in pieces, `/get` downloads a received one into
//! a directory. One upload and one download at a time; each reports its progress and its end.
//!
//! Both survive a dropped connection: after the next login an upload is announced again (the
//! server answers where its bytes go on) and a download asks again from where it stopped.
//! Reads and writes of the disk run on the blocking pool, and the next piece of an upload is
//! read at its offset each time, so that a read the relay abandons (another event came first)
//! loses nothing.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use client_core::chat::Transfer;
use shared::Frame;
use shared::frame::{Chunk, Fetch, FileRef, Upload};
use shared::limits::FILE_CHUNK;
use shared::size::human_size as human;

/// Pieces of a download asked for ahead of the one being written: enough to keep the
/// connection busy, few enough that little is in flight.
const FETCH_AHEAD: u64 = 4;

/// Progress is reported each time a transfer passes another quarter.
const STEPS: u64 = 4;

/// An upload under way.
#[derive(Debug)]
struct Up {
    path: PathBuf,
    name: String,
    size: u64,
    sha: String,
    to: String,
    /// The next offset to send (`None`: waiting for `UPLOADING`).
    next: Option<u64>,
    /// Quarters reported so far.
    shown: u64,
}

/// A download under way.
struct Down {
    id: i64,
    file: FileRef,
    /// Where the bytes go until they are checked.
    part: PathBuf,
    /// Where the file goes then.
    dest: PathBuf,
    /// Bytes written.
    received: u64,
    /// The next offset to ask for.
    asked: u64,
    hasher: ring::digest::Context,
    shown: u64,
}

/// What a frame from the server meant for the transfers.
#[derive(Debug, Default)]
pub struct Reaction {
    /// The frame was a transfer's (not for the front end).
    pub consumed: bool,
    /// Frames to send.
    pub send: Vec<Frame>,
    /// Progress to show.
    pub notes: Vec<String>,
    /// Transfers that ended, and how.
    pub done: Vec<String>,
}

/// The transfers under way.
#[derive(Debug, Default)]
pub struct Transfers {
    up: Option<Up>,
    down: Option<Down>,
}

impl Transfers {
    /// Starts `transfer`: the frames to send and a note, or why it cannot start.
    pub async fn start(&mut self, transfer: Transfer) -> Result<(Vec<Frame>, String), String> {
        match transfer {
            Transfer::Send { path, to } => self.start_upload(home(&path), to).await,
            Transfer::Get { id, file, dir } => {
                let dir = home(dir.as_deref().unwrap_or("."));
                self.start_download(id, file, &dir).await
            }
        }
    }

    async fn start_upload(
        &mut self,
        path: PathBuf,
        to: String,
    ) -> Result<(Vec<Frame>, String), String> {
        if let Some(up) = &self.up {
            return Err(format!("{} is still being sent; wait for it to finish.", up.name));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{} is not a file.", path.display()))?;
        let p = path.clone();
        let (size, sha) = blocking(move || hash_file(&p))
            .await?
            .map_err(|e| format!("{} cannot be read: {e}", path.display()))?;
        let up = Up { path, name, size, sha, to, next: None, shown: 0 };
        let frame = up.announce();
        let note = format!("Sending {} ({}) to {}…", up.name, human(up.size), up.to);
        self.up = Some(up);
        Ok((vec![frame], note))
    }

    async fn start_download(
        &mut self,
        id: i64,
        file: FileRef,
        dir: &Path,
    ) -> Result<(Vec<Frame>, String), String> {
        if let Some(down) = &self.down {
            return Err(format!("{} is still being saved; wait for it to finish.", down.file.name));
        }
        let dir = dir.to_owned();
        let name = safe_name(&file.name);
        let (part, dest) =
            blocking(move || place(&dir, &name)).await?.map_err(|e| e.to_string())?;
        let down = Down {
            id,
            file,
            part,
            dest,
            received: 0,
            asked: 0,
            hasher: ring::digest::Context::new(&ring::digest::SHA256),
            shown: 0,
        };
        let note = format!("Saving {} ({})…", down.file.name, human(down.file.size));
        self.down = Some(down);
        Ok((self.fetch_more(), note))
    }

    /// The frames that pick the transfers up again after a new login.
    pub fn resume(&mut self) -> Vec<Frame> {
        let mut out = Vec::new();
        if let Some(up) = &mut self.up {
            up.next = None;
            out.push(up.announce());
        }
        if let Some(down) = &mut self.down {
            down.asked = down.received;
        }
        out.extend(self.fetch_more());
        out
    }

    /// FETCHes up to [`FETCH_AHEAD`] pieces ahead of what was written.
    fn fetch_more(&mut self) -> Vec<Frame> {
        let mut out = Vec::new();
        let Some(down) = &mut self.down else { return out };
        let end = down.file.size.max(1);
        while down.asked < end && down.asked < down.received + FETCH_AHEAD * FILE_CHUNK as u64 {
            let fetch = Fetch { id: down.id, offset: down.asked };
            out.push(Frame { fetch: Some(fetch), ..Frame::default() });
            down.asked += FILE_CHUNK as u64;
        }
        out
    }

    /// Whether an upload has bytes to send now.
    pub fn sending(&self) -> bool {
        self.up.as_ref().is_some_and(|u| u.next.is_some_and(|n| n < u.size))
    }

    /// The next piece of the upload, read from the disk: the frame, and a progress note.
    pub async fn next_chunk(&self) -> Result<(Frame, u64), String> {
        let Some(up) = &self.up else { return Err("nothing to send".into()) };
        let Some(offset) = up.next else { return Err("nothing to send".into()) };
        let (path, len) = (up.path.clone(), (up.size - offset).min(FILE_CHUNK as u64));
        let data = blocking(move || read_at(&path, offset, len))
            .await?
            .map_err(|e| format!("{} cannot be read: {e}", up.path.display()))?;
        let chunk = Chunk { sha256: up.sha.clone(), offset, data: BASE64.encode(&data) };
        Ok((Frame { chunk: Some(chunk), ..Frame::default() }, offset + len))
    }

    /// A piece was sent: the upload goes on from `next`; a progress note now and then.
    pub fn sent(&mut self, next: u64) -> Option<String> {
        let up = self.up.as_mut()?;
        up.next = Some(next);
        progress(&mut up.shown, next, up.size).map(|pct| {
            format!("Sending {}: {pct}% ({} of {})", up.name, human(next), human(up.size))
        })
    }

    /// The upload cannot go on (its file became unreadable).
    pub fn upload_failed(&mut self, why: String) -> String {
        let name = self.up.take().map(|u| u.name).unwrap_or_default();
        format!("Sending {name} stopped: {why}")
    }

    /// Takes in a frame from the server.
    pub async fn on_frame(&mut self, f: &Frame) -> Reaction {
        let mut r = Reaction::default();
        if let (Some(u), Some(up)) = (&f.uploading, &mut self.up)
            && u.sha256 == up.sha
        {
            r.consumed = true;
            up.next = Some(u.offset);
            if u.offset > 0 {
                r.notes.push(format!("Sending {}: going on from {}.", up.name, human(u.offset)));
            }
        }
        if let (Some(sha), Some(up)) = (&f.uploaded, &self.up)
            && *sha == up.sha
        {
            r.consumed = true;
            r.done.push(format!("Sent {} ({}) to {}.", up.name, human(up.size), up.to));
            self.up = None;
        }
        if let Some(data) = &f.file_data
            && self.down.as_ref().is_some_and(|d| d.id == data.id)
        {
            r.consumed = true;
            match self.write_piece(data).await {
                Ok(Some(done)) => r.done.push(done),
                Ok(None) => {
                    r.send = self.fetch_more();
                    if let Some(d) = &mut self.down
                        && let Some(pct) = progress(&mut d.shown, d.received, d.file.size)
                    {
                        let (got, of) = (human(d.received), human(d.file.size));
                        r.notes.push(format!("Saving {}: {pct}% ({got} of {of})", d.file.name));
                    }
                }
                Err(why) => r.done.push(self.download_failed(&why).await),
            }
        }
        if let Some(e) = &f.error {
            // The server refused what a transfer sent (it says why; the front end shows it).
            if let Some(up) = self.up.take() {
                r.done.push(format!("Sending {} stopped: {e}", up.name));
            }
            if self.down.is_some() {
                r.done.push(self.download_failed(e).await);
            }
        }
        r
    }

    /// Writes a piece of the download; once the whole file is in, checks it and moves it into
    /// place.
    async fn write_piece(
        &mut self,
        data: &shared::frame::FileData,
    ) -> Result<Option<String>, String> {
        let Some(down) = &mut self.down else { return Ok(None) };
        if data.offset != down.received {
            return Ok(None); // a piece asked for again after a reconnect, already written
        }
        let bytes =
            BASE64.decode(&data.data).map_err(|_| "the server sent bytes that are not base64")?;
        if bytes.is_empty() || down.received + bytes.len() as u64 > down.file.size {
            return Err("the server sent more bytes than the file has".into());
        }
        down.hasher.update(&bytes);
        let (part, n) = (down.part.clone(), bytes.len() as u64);
        blocking(move || append(&part, &bytes)).await?.map_err(|e| e.to_string())?;
        down.received = data.offset + n;
        if down.received < down.file.size {
            return Ok(None);
        }
        let Some(down) = self.down.take() else { return Ok(None) };
        let sha: String =
            down.hasher.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect();
        if sha != down.file.sha256 {
            let _ = std::fs::remove_file(&down.part);
            return Ok(Some(format!(
                "Saving {} failed: what arrived does not match its SHA-256; nothing was kept.",
                down.file.name
            )));
        }
        let (part, dest) = (down.part.clone(), down.dest.clone());
        blocking(move || std::fs::rename(&part, &dest)).await?.map_err(|e| e.to_string())?;
        Ok(Some(format!(
            "Saved {} ({}) as {}.",
            down.file.name,
            human(down.file.size),
            down.dest.display()
        )))
    }

    /// Ends the download, removing what it wrote.
    async fn download_failed(&mut self, why: &str) -> String {
        let Some(down) = self.down.take() else { return String::new() };
        let part = down.part.clone();
        let _ = blocking(move || std::fs::remove_file(part)).await;
        format!("Saving {} stopped: {why}", down.file.name)
    }
}

impl std::fmt::Debug for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Down")
            .field("id", &self.id)
            .field("file", &self.file)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl Up {
    fn announce(&self) -> Frame {
        let upload = Upload {
            name: self.name.clone(),
            size: self.size,
            sha256: self.sha.clone(),
            to: self.to.clone(),
        };
        Frame { upload: Some(upload), ..Frame::default() }
    }
}

/// `path` with a leading `~/` read as the home directory, as a shell would.
fn home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// The next quarter passed, if `done` of `total` passed one since `shown`.
fn progress(shown: &mut u64, done: u64, total: u64) -> Option<u64> {
    let quarter = done.saturating_mul(STEPS) / total.max(1);
    (quarter > *shown && done < total).then(|| {
        *shown = quarter;
        quarter * 100 / STEPS
    })
}

/// A name to save a file under: the server refuses names with path separators or control
/// characters, and this client does not take its word for it.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').trim().to_owned();
    if cleaned.is_empty() { "file".to_owned() } else { cleaned }
}

/// Where a download of `name` goes in `dir`: a name not taken yet ("name (1).ext", …) and the
/// part file beside it.
fn place(dir: &Path, name: &str) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
        _ => (name.to_owned(), String::new()),
    };
    for n in 0.. {
        let candidate = if n == 0 { name.to_owned() } else { format!("{stem} ({n}){ext}") };
        let dest = dir.join(&candidate);
        let part = dir.join(format!(".{candidate}.part"));
        if !dest.exists() && !part.exists() {
            std::fs::File::create(&part)?;
            return Ok((part, dest));
        }
    }
    unreachable!("some name is free")
}

/// A file's length and SHA-256.
fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; FILE_CHUNK];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect()))
}

fn read_at(path: &Path, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(FILE_CHUNK));
    file.take(len).read_to_end(&mut out)?;
    Ok(out)
}

fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::OpenOptions::new().append(true).open(path)?.write_all(bytes)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_names_never_leave_the_directory() {
        assert_eq!(safe_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_name(".bashrc"), "bashrc");
        assert_eq!(safe_name("a\u{7}b.txt"), "a_b.txt");
        assert_eq!(safe_name(""), "file");
    }

    #[test]
    fn a_taken_name_gets_a_number() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("a.txt"), b"x").expect("write");
        let (part, dest) = place(dir.path(), "a.txt").expect("place");
        assert_eq!(dest, dir.path().join("a (1).txt"));
        assert!(part.exists() && !dest.exists());
    }

    #[test]
    fn progress_is_told_each_quarter() {
        let mut shown = 0;
        assert_eq!(progress(&mut shown, 10, 100), None);
        assert_eq!(progress(&mut shown, 30, 100), Some(25));
        assert_eq!(progress(&mut shown, 40, 100), None);
        assert_eq!(progress(&mut shown, 80, 100), Some(75));
        assert_eq!(progress(&mut shown, 100, 100), None, "the end is told as done");
    }
}
