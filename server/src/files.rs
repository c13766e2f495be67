//! Files (extension `files`): the bytes, stored content-addressed in the data directory.
//!
//! A finished file lives at `files/ab/abcdef…` (its SHA-256 in hex, under a directory of its
//! first two digits), once however many messages refer to it. An upload in progress is a
//! partial file of its own, `files/partial/<uploader>-<sha256>`, that grows only at its end
//! (an upload resumes where the partial file ends), and becomes the stored file only once its
//! length is the one announced and its bytes hash to the announced SHA-256; anything else
//! removes it. Nothing here trusts a name from a client: names are checked and only ever
//! shown, never used as a path, and the type served is the one the bytes show.
//!
//! Every function here does blocking file I/O: callers run them on the blocking pool.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ring::digest;

use crate::accounts::hex;

/// The directory of the files inside the data directory.
pub const FILES_DIR: &str = "files";

/// The directory of uploads in progress, inside [`FILES_DIR`].
const PARTIAL_DIR: &str = "partial";

/// The directory of pictures' thumbnails, inside [`FILES_DIR`].
const THUMBS_DIR: &str = "thumbs";

/// Default largest file, in MiB (`--max-file-mb`): a phone's video clip or a document; larger
/// belongs on a file host.
pub const DEFAULT_MAX_FILE_MB: u64 = 100;

/// Default space each user's files may take, in MiB (`--quota-mb`): counted per upload (a
/// file two users send counts for both, though it is stored once).
pub const DEFAULT_QUOTA_MB: u64 = 1024;

/// Bytes of file per `CHUNK` and `FILE_DATA` frame (see the shared limit).
pub const CHUNK: usize = shared::limits::FILE_CHUNK;

/// How long an interrupted upload waits to be resumed before its partial file is removed:
/// a day covers a laptop closed overnight.
pub const PARTIAL_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How often abandoned partial uploads are looked for.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Longest file name, in characters (as most file systems allow).
pub const MAX_NAME_CHARS: usize = 255;

/// Bytes read from a file's start to tell its type.
pub const SNIFF_LEN: usize = 512;

/// Why a file operation was refused: each is the text of the ERROR the client gets.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A name that could be taken for a path or hides what it is.
    #[error("The file name {0:?} cannot be used: {1}.")]
    BadName(String, &'static str),
    /// Over the per-file limit.
    #[error("The file is {size} bytes; files may be up to {max} bytes.")]
    TooLarge {
        /// The announced size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Over the user's quota.
    #[error(
        "The file of {size} bytes would take your files past your quota of {quota} bytes ({used} used)."
    )]
    OverQuota {
        /// The announced size.
        size: u64,
        /// What the user's files take already.
        used: u64,
        /// The quota.
        quota: u64,
    },
    /// Not a SHA-256 in hex.
    #[error("SHA256 must be 64 hexadecimal digits.")]
    BadHash,
    /// A chunk that is not where the upload stands.
    #[error("The upload has {have} bytes; a chunk at offset {offset} does not follow them.")]
    Offset {
        /// Where the chunk says it goes.
        offset: u64,
        /// The bytes the upload has.
        have: u64,
    },
    /// More bytes than were announced.
    #[error("The upload is longer than the {size} bytes announced; it was removed.")]
    TooLong {
        /// The announced size.
        size: u64,
    },
    /// The bytes do not hash to what was announced.
    #[error("The file's bytes do not match its SHA256; the upload was removed.")]
    Mismatch,
    /// The disk failed.
    #[error("The file could not be stored: {0}")]
    Io(#[from] io::Error),
}

/// A file's SHA-256, as 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(String);

impl Sha256 {
    /// `text` if it is a SHA-256 in hex (either case; kept in lower case).
    pub fn parse(text: &str) -> Result<Sha256, FileError> {
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Sha256(text.to_ascii_lowercase()))
        } else {
            Err(FileError::BadHash)
        }
    }

    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256 {
        Sha256(hex(digest::digest(&digest::SHA256, bytes).as_ref()))
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `name` if it may be shown as a file's name: refused if empty, longer than
/// [`MAX_NAME_CHARS`], holding a path separator, control or bidirectional-override
/// characters, or being `.` or `..` (or beginning with `..`). Refused rather than cleaned, so
/// that what the sender sees is what everyone sees.
pub fn check_name(name: &str) -> Result<&str, FileError> {
    let bad = |why| Err(FileError::BadName(name.chars().take(80).collect(), why));
    if name.trim().is_empty() {
        return bad("it is empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return bad("it is longer than 255 characters");
    }
    if name.contains(['/', '\\']) {
        return bad("it holds a path separator");
    }
    if name == "." || name.starts_with("..") {
        return bad("it could be read as a directory");
    }
    // Controls, and the formatting characters that make a name read other than it is
    // (a right-to-left override turns "gpj.exe" into "exe.jpg" on screen).
    let hides = |c: char| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    };
    if name.chars().any(hides) {
        return bad("it holds control or text-direction characters");
    }
    Ok(name)
}

/// The type a file's first bytes show: the image types browsers show inline, PDF, and a few
/// containers; plain text for UTF-8 without NULs; anything else (SVG and HTML included:
/// they can carry scripts) is `application/octet-stream`. The type a sender claims is never
/// used.
pub fn sniff(head: &[u8]) -> &'static str {
    const SIGNATURES: [(&[u8], &str); 7] = [
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
    ];
    for (magic, kind) in SIGNATURES {
        if head.starts_with(magic) {
            return kind;
        }
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return "image/webp";
    }
    let text = match std::str::from_utf8(head) {
        Ok(t) => Some(t),
        // A multi-byte character cut by the end of the sniffed bytes.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    let markup = |t: &str| {
        let t = t.trim_start().to_ascii_lowercase();
        ["<", "\u{feff}<"].iter().any(|p| t.starts_with(p))
    };
    match text {
        Some(t) if !t.contains('\0') && !markup(t) => "text/plain",
        _ => "application/octet-stream",
    }
}

/// True for the types served inline (pictures); everything else is an attachment.
pub fn is_image(kind: &str) -> bool {
    matches!(kind, "image/png" | "image/jpeg" | "image/gif" | "image/webp")
}

/// The stored files and the uploads in progress under a data directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    /// The store under `data_dir` (its directories made if missing).
    pub fn open(data_dir: &Path) -> io::Result<FileStore> {
        FileStore::open_root(&data_dir.join(FILES_DIR))
    }

    /// The store in the directory `root` itself (a cluster's shared directory).
    pub fn open_root(root: &Path) -> io::Result<FileStore> {
        fs::create_dir_all(root.join(PARTIAL_DIR))?;
        Ok(FileStore { root: root.to_owned() })
    }

    /// Where the file with hash `sha` is stored.
    pub fn path(&self, sha: &Sha256) -> PathBuf {
        self.root.join(&sha.0[..2]).join(&sha.0)
    }

    /// Whether the file with hash `sha` is stored.
    pub fn has(&self, sha: &Sha256) -> bool {
        self.path(sha).is_file()
    }

    /// The partial file of `uploader`'s upload of `sha`: the uploader's name key is hashed, so
    /// that no name ever becomes part of a path.
    fn partial(&self, uploader: &str, sha: &Sha256) -> PathBuf {
        let who = Sha256::of(uploader.as_bytes());
        self.root.join(PARTIAL_DIR).join(format!("{}-{}", &who.0[..16], sha.0))
    }

    /// The bytes `uploader` has uploaded of `sha` so far: where a resumed upload goes on.
    pub fn uploaded(&self, uploader: &str, sha: &Sha256) -> u64 {
        fs::metadata(self.partial(uploader, sha)).map_or(0, |m| m.len())
    }

    /// Appends `bytes` at `offset` to `uploader`'s upload of `sha`, announced as `size`
    /// bytes; returns the bytes it now has. A chunk must start where the upload ends; one
    /// that would take it past `size` removes the upload.
    pub fn append(
        &self,
        uploader: &str,
        sha: &Sha256,
        size: u64,
        offset: u64,
        bytes: &[u8],
    ) -> Result<u64, FileError> {
        let path = self.partial(uploader, sha);
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        let have = file.metadata()?.len();
        if offset != have {
            return Err(FileError::Offset { offset, have });
        }
        let now = have + bytes.len() as u64;
        if now > size {
            drop(file);
            let _ = fs::remove_file(&path);
            return Err(FileError::TooLong { size });
        }
        file.write_all(bytes)?;
        Ok(now)
    }

    /// Finishes `uploader`'s upload of `sha` once it has all `size` bytes: checks the hash
    /// and moves the file into place (if the same bytes are stored already, the upload is
    /// simply removed); returns its type as its first bytes show it ([`sniff`]). A mismatch
    /// removes the upload.
    pub fn finish(
        &self,
        uploader: &str,
        sha: &Sha256,
        size: u64,
    ) -> Result<&'static str, FileError> {
        let path = self.partial(uploader, sha);
        let mut file = File::open(&path)?;
        let mut ctx = digest::Context::new(&digest::SHA256);
        let mut buf = vec![0u8; CHUNK];
        let mut head = Vec::with_capacity(SNIFF_LEN);
        let mut total = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            let want = SNIFF_LEN - head.len();
            head.extend_from_slice(&buf[..n.min(want)]);
            ctx.update(&buf[..n]);
            total += n as u64;
        }
        drop(file);
        if total != size || hex(ctx.finish().as_ref()) != sha.0 {
            let _ = fs::remove_file(&path);
            return Err(FileError::Mismatch);
        }
        let target = self.path(sha);
        if target.is_file() {
            fs::remove_file(&path)?;
            return Ok(sniff(&head));
        }
        fs::create_dir_all(target.parent().unwrap_or(&self.root))?;
        File::open(&path)?.sync_all()?;
        fs::rename(&path, &target)?;
        Ok(sniff(&head))
    }

    /// Removes `uploader`'s upload of `sha`, if there is one (cancelled, or refused).
    pub fn discard(&self, uploader: &str, sha: &Sha256) {
        let _ = fs::remove_file(self.partial(uploader, sha));
    }

    /// Up to `len` bytes of the stored file `sha` from `offset` (fewer at its end).
    pub fn read(&self, sha: &Sha256, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut file = File::open(self.path(sha))?;
        file.seek(SeekFrom::Start(offset))?;
        let mut out = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut out)?;
        Ok(out)
    }

    /// Where the thumbnail of `sha` (a JPEG or PNG, by `ext`) is kept.
    pub fn thumb_path(&self, sha: &Sha256, ext: &str) -> PathBuf {
        self.root.join(THUMBS_DIR).join(format!("{}.{ext}", sha.0))
    }

    /// Keeps a thumbnail of `sha`, made once (written aside, then moved into place).
    pub fn keep_thumb(&self, sha: &Sha256, ext: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.thumb_path(sha, ext);
        fs::create_dir_all(path.parent().unwrap_or(&self.root))?;
        let part = path.with_extension(format!("{ext}.part"));
        fs::write(&part, bytes)?;
        fs::rename(&part, &path)
    }

    /// Removes the stored file `sha` (no message refers to it any more).
    pub fn remove(&self, sha: &Sha256) -> io::Result<()> {
        for ext in ["jpg", "png"] {
            let _ = fs::remove_file(self.thumb_path(sha, ext));
        }
        match fs::remove_file(self.path(sha)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes uploads in progress last written before `before`: an upload that stopped
    /// halfway and was never resumed leaves nothing behind for long.
    pub fn sweep(&self, before: std::time::SystemTime) -> io::Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(self.root.join(PARTIAL_DIR))? {
            let entry = entry?;
            let old = entry.metadata()?.modified().is_ok_and(|t| t < before);
            if old && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused_and_ordinary_ones_kept() {
        for good in ["holiday.jpg", "Résumé 2026.pdf", ".profile", "a.b.c", "日本.txt"] {
            assert_eq!(check_name(good).expect(good), good);
        }
        for bad in [
            "",
            "   ",
            "../etc/passwd",
            "..",
            "..hidden",
            ".",
            "a/b",
            "a\\b",
            "evil\u{202E}gpj.exe",
            "bell\u{7}",
            "new\nline",
            "zero\u{200B}width",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"x".repeat(256)).is_err());
        assert!(check_name(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn types_come_from_the_bytes_not_the_name() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF"), "image/jpeg");
        assert_eq!(sniff(b"GIF89a\x01\0"), "image/gif");
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(sniff("plain words, ünïcode".as_bytes()), "text/plain");
        // Markup can carry scripts: never text, never an image.
        assert_eq!(
            sniff(b"<svg xmlns='http://www.w3.org/2000/svg'><script>"),
            "application/octet-stream"
        );
        assert_eq!(sniff(b"  <!DOCTYPE html><html>"), "application/octet-stream");
        assert_eq!(sniff(b"\0\x01\x02binary"), "application/octet-stream");
        // A character cut at the end of the sniffed bytes is still text.
        assert_eq!(sniff(&"é".as_bytes()[..1]), "text/plain");
        assert!(is_image("image/png") && !is_image("application/octet-stream"));
    }

    #[test]
    fn an_upload_resumes_is_checked_and_stored_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("store");
        let bytes: Vec<u8> = (0..500_000u32).map(|i| (i % 251) as u8).collect();
        let sha = Sha256::of(&bytes);
        let size = bytes.len() as u64;
        assert_eq!(store.uploaded("ann", &sha), 0);
        assert_eq!(
            store.append("ann", &sha, size, 0, &bytes[..CHUNK]).expect("chunk"),
            CHUNK as u64
        );
        // Dropped here: the upload resumes where its file ends, and only there.
        assert_eq!(store.uploaded("ann", &sha), CHUNK as u64);
        assert!(matches!(
            store.append("ann", &sha, size, 0, &bytes[..10]),
            Err(FileError::Offset { offset: 0, have }) if have == CHUNK as u64
        ));
        store.append("ann", &sha, size, CHUNK as u64, &bytes[CHUNK..]).expect("rest");
        store.finish("ann", &sha, size).expect("finished");
        assert!(store.has(&sha));
        assert_eq!(store.read(&sha, 1000, 10).expect("read"), &bytes[1000..1010]);
        assert_eq!(store.read(&sha, size - 3, 10).expect("end"), &bytes[bytes.len() - 3..]);
        assert_eq!(store.uploaded("ann", &sha), 0, "nothing partial left");
        // The same bytes from someone else: stored once.
        store.append("bob", &sha, size, 0, &bytes).expect("all at once");
        store.finish("bob", &sha, size).expect("finished");
        let partial = fs::read_dir(dir.path().join(FILES_DIR).join(PARTIAL_DIR)).expect("dir");
        assert_eq!(partial.count(), 0);
        store.remove(&sha).expect("removed");
        assert!(!store.has(&sha));
    }

    #[test]
    fn lying_uploads_leave_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).expect("store");
        let bytes = b"the real bytes".to_vec();
        let claimed = Sha256::of(b"other bytes");
        store.append("ann", &claimed, bytes.len() as u64, 0, &bytes).expect("chunk");
        assert!(matches!(
            store.finish("ann", &claimed, bytes.len() as u64),
            Err(FileError::Mismatch)
        ));
        assert_eq!(store.uploaded("ann", &claimed), 0);
        assert!(!store.has(&claimed));
        // Longer than announced.
        let sha = Sha256::of(&bytes);
        assert!(matches!(
            store.append("ann", &sha, 4, 0, &bytes),
            Err(FileError::TooLong { size: 4 })
        ));
        assert_eq!(store.uploaded("ann", &sha), 0);
        // Stopped halfway and never resumed: swept.
        store.append("ann", &sha, bytes.len() as u64, 0, &bytes[..4]).expect("half");
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(1);
        assert_eq!(store.sweep(later).expect("sweep"), 1);
        assert_eq!(store.uploaded("ann", &sha), 0);
        assert!(Sha256::parse("abc").is_err());
        assert!(Sha256::parse(&"G".repeat(64)).is_err());
        assert_eq!(Sha256::parse(&"AB".repeat(32)).expect("hex").as_str(), "ab".repeat(32));
    }
}
