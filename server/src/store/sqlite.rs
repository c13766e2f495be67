//! The SQLite backend (the default): one file in the data directory.
//!
//! One writer thread owns the only writing connection and commits operations in batches
//! (group commit): it takes whatever the hub has queued, up to [`STORE_BATCH`], and commits it in
//! one transaction. After each commit it publishes the highest message id now durable on a
//! `watch` channel; the hub delivers a message only once its id is published, so a message
//! somebody has seen is always on disk, even after `kill -9`.
//!
//! History is read on separate read-only connections (WAL lets readers run beside the writer),
//! on tokio's blocking pool, so logins never wait behind a commit.
//!
//! Durability: WAL with `synchronous=NORMAL`. A commit is in the WAL file before it is
//! published, so a crash of the process loses nothing; only a power failure or kernel crash
//! can lose the last transactions (SQLite's documented trade-off for NORMAL in WAL mode).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use shared::Message;
use shared::frame::Change;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{
    COMMIT_ATTEMPTS, Finished, Loaded, MAX_ALL_USERS, Op, Place, StoreError, Writer, publish,
};
use crate::config::{STORE_BATCH, STORE_QUEUE, STORE_READERS};
use crate::files::{FileStore, Sha256};
use crate::registry::{self, Account, Kind, RegistryOp, Reservation, Sanction, Token};
use crate::rooms::{RoomOp, StoredRoom, room_of};
use crate::search::{Arg, FilterColumns, Scope};
use shared::frame::Hit;
use shared::limits::MAX_ROOMS;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "chatterbox.db";

/// The search index's file (extension `search`), beside [`DB_FILE`]. A file of its own, with
/// its own writer thread: indexing costs several times what storing a message does, and in
/// the writer's transaction it cut the commits from about 500,000 messages a second to
/// 90,000; beside it, on another core, it costs the commits nothing. It holds only the
/// words (no text) and is rebuilt from the messages if it is lost.
pub const SEARCH_FILE: &str = "chatterbox-search.db";

/// Most messages the indexer reads and indexes per transaction. Behind a burst it takes many
/// commits' worth at once: FTS5 writes a segment per transaction and merges segments later,
/// so fewer, larger steps cost less merging (about 2 MB of rows in memory at most).
const INDEX_BATCH: i64 = 16384;

/// How long a search waits for the index to reach the messages committed when it was asked
/// (it is usually a few milliseconds behind); past that it searches what is indexed.
const INDEX_WAIT: Duration = Duration::from_secs(2);

/// Schema version kept in `PRAGMA user_version`; migrations move older files forward.
pub const SCHEMA_VERSION: i64 = 5;

/// How long a reader waits for a lock before giving up (checkpoints hold one briefly).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read access to history: read-only connections on the blocking pool.
#[derive(Debug, Clone)]
pub struct Reader {
    inner: Arc<ReaderPool>,
}

#[derive(Debug)]
struct ReaderPool {
    path: PathBuf,
    /// The search index's file, attached to each connection as `idx`.
    search: PathBuf,
    /// The highest message id committed.
    committed: watch::Receiver<i64>,
    /// The highest message id the search index has taken in.
    indexed: watch::Receiver<i64>,
    /// Idle connections. The lock is only taken on blocking threads, for a push or a pop.
    idle: Mutex<Vec<Connection>>,
    /// Bounds the reads running at once (and so the connections open) to [`STORE_READERS`].
    permits: Semaphore,
}

/// Opens (creating or migrating) the database in `dir` and starts the writer thread.
///
/// `fatal` is cancelled if the writer cannot commit: a server that cannot keep history must
/// not go on pretending to.
pub fn open(
    dir: &Path,
    fatal: CancellationToken,
) -> Result<(Writer, super::Reader, Loaded), StoreError> {
    open_measured(dir, fatal, crate::metrics::commit_histogram())
}

/// [`open`], with each batch's commit time observed in `commit_seconds`.
pub fn open_measured(
    dir: &Path,
    fatal: CancellationToken,
    commit_seconds: Histogram,
) -> Result<(Writer, super::Reader, Loaded), StoreError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| StoreError::Dir { path: dir.to_owned(), source })?;
    let path = dir.join(DB_FILE);
    let mut conn = Connection::open(&path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A deleted message's text is overwritten where it lay in the file, not only unlinked.
    conn.pragma_update(None, "secure_delete", "ON")?;
    migrate(&mut conn)?;
    let last_id: i64 =
        conn.query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| r.get(0))?;
    let blocks = {
        let mut stmt = conn.prepare("SELECT blocker_key, blocked_key, blocked_name FROM blocks")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<Vec<(String, String, String)>, _>>()?
    };
    let registry = load_registry(&conn)?;
    let rooms = load_rooms(&conn)?;

    let search = dir.join(SEARCH_FILE);
    let index = open_index(&search)?;
    let indexed_at_start: i64 = index.query_row("SELECT last_id FROM indexed", [], |r| r.get(0))?;
    let (indexed_tx, indexed) = watch::channel(indexed_at_start);
    // Told (without waiting, one at a time) that there are new messages to index.
    let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
    let _ = wake.try_send(()); // catch up with what is stored already
    let main = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    main.busy_timeout(BUSY_TIMEOUT)?;
    std::thread::Builder::new()
        .name("store-indexer".into())
        .spawn(move || index_loop(&main, index, &woken, &indexed_tx))
        .map_err(StoreError::Spawn)?;

    let files = FileStore::open(dir)
        .map_err(|source| StoreError::Dir { path: dir.join(crate::files::FILES_DIR), source })?;
    let (ops, rx) = mpsc::channel(STORE_QUEUE);
    let (committed_tx, committed) = watch::channel(last_id);
    let thread = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || {
            if let Err(e) = write_loop(conn, &files, rx, &committed_tx, &commit_seconds, &wake) {
                tracing::error!(error = %e, "the store cannot commit; shutting down");
                fatal.cancel();
            }
        })
        .map_err(StoreError::Spawn)?;
    let reader = Reader {
        inner: Arc::new(ReaderPool {
            path,
            search,
            committed: committed.clone(),
            indexed,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(STORE_READERS),
        }),
    };
    let writer = Writer { ops, committed, finished: Finished::Thread(thread) };
    Ok((writer, super::Reader::Sqlite(reader), Loaded { last_id, blocks, registry, rooms }))
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew(version));
    }
    if version < 1 {
        let tx = conn.transaction()?;
        tx.execute_batch(
            "CREATE TABLE messages (
                 id      INTEGER PRIMARY KEY,
                 src     TEXT NOT NULL,
                 dest    TEXT NOT NULL,
                 ts      INTEGER NOT NULL,
                 content TEXT NOT NULL
             );
             -- broadcasts (dest = 'ALL') and private messages to a user, newest first
             CREATE INDEX messages_by_dest ON messages (dest, id);
             -- private messages a user sent
             CREATE INDEX messages_private_by_src ON messages (src, id) WHERE dest <> 'ALL';
             CREATE TABLE users (
                 name       TEXT PRIMARY KEY,
                 first_seen INTEGER NOT NULL,
                 last_seen  INTEGER NOT NULL
             ) WITHOUT ROWID;
             CREATE TABLE blocks (
                 blocker TEXT NOT NULL,
                 blocked TEXT NOT NULL,
                 PRIMARY KEY (blocker, blocked)
             ) WITHOUT ROWID;
             PRAGMA user_version = 1;",
        )?;
        tx.commit()?;
    }
    if version < 2 {
        let tx = conn.transaction()?;
        // Blocks are kept by the names' keys (letter case and look-alikes are one name).
        let old: Vec<(String, String)> = {
            let mut stmt = tx.prepare("SELECT blocker, blocked FROM blocks")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute_batch(
            "DROP TABLE blocks;
             CREATE TABLE blocks (
                 blocker_key  TEXT NOT NULL,
                 blocked_key  TEXT NOT NULL,
                 blocked_name TEXT NOT NULL,
                 PRIMARY KEY (blocker_key, blocked_key)
             ) WITHOUT ROWID;
             CREATE TABLE accounts (
                 key      TEXT PRIMARY KEY,
                 name     TEXT NOT NULL,
                 hash     TEXT NOT NULL,
                 since_id INTEGER NOT NULL,
                 created  INTEGER NOT NULL
             ) WITHOUT ROWID;
             -- session tokens, by the SHA-256 of the token (never the token itself)
             CREATE TABLE tokens (
                 hash      TEXT PRIMARY KEY,
                 key       TEXT NOT NULL,
                 created   INTEGER NOT NULL,
                 last_used INTEGER NOT NULL,
                 expires   INTEGER NOT NULL
             ) WITHOUT ROWID;
             -- until: NULL while the holder is online
             CREATE TABLE reservations (
                 key      TEXT PRIMARY KEY,
                 name     TEXT NOT NULL,
                 address  TEXT NOT NULL,
                 until    INTEGER,
                 since_id INTEGER NOT NULL
             ) WITHOUT ROWID;
             -- bans and mutes; lifted: when an operator lifted it (NULL: not lifted)
             CREATE TABLE sanctions (
                 id      INTEGER PRIMARY KEY,
                 kind    TEXT NOT NULL,
                 key     TEXT,
                 name    TEXT,
                 address TEXT,
                 by      TEXT NOT NULL,
                 at      INTEGER NOT NULL,
                 until   INTEGER,
                 reason  TEXT,
                 lifted  INTEGER
             );
             CREATE TABLE audit (
                 id     INTEGER PRIMARY KEY,
                 at     INTEGER NOT NULL,
                 actor  TEXT NOT NULL,
                 action TEXT NOT NULL,
                 target TEXT NOT NULL,
                 reason TEXT
             );
             PRAGMA user_version = 2;",
        )?;
        {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO blocks (blocker_key, blocked_key, blocked_name)
                 VALUES (?1, ?2, ?3)",
            )?;
            for (blocker, blocked) in old {
                insert.execute(params![name_key(&blocker), name_key(&blocked), blocked])?;
            }
        }
        tx.commit()?;
    }
    if version < 3 {
        let tx = conn.transaction()?;
        // Rooms (extension `rooms`). A message to a room keeps the room in `room` too: private
        // and public history never read those rows, and a DEST that began with `#` before
        // rooms existed (a name allowed then) is never taken for a room.
        tx.execute_batch(
            "ALTER TABLE messages ADD COLUMN room TEXT;
             CREATE INDEX messages_by_room ON messages (room, id) WHERE room IS NOT NULL;
             CREATE TABLE rooms (
                 name        TEXT PRIMARY KEY,
                 topic       TEXT,
                 invite_only INTEGER NOT NULL,
                 created     INTEGER NOT NULL
             ) WITHOUT ROWID;
             CREATE TABLE room_members (
                 room TEXT NOT NULL,
                 key  TEXT NOT NULL,
                 PRIMARY KEY (room, key)
             ) WITHOUT ROWID;
             CREATE INDEX room_members_by_key ON room_members (key);
             CREATE TABLE room_invites (
                 room TEXT NOT NULL,
                 key  TEXT NOT NULL,
                 PRIMARY KEY (room, key)
             ) WITHOUT ROWID;
             PRAGMA user_version = 3;",
        )?;
        tx.commit()?;
    }
    if version < 4 {
        let tx = conn.transaction()?;
        // Edits and deletes (extension `edit`). An edit or a delete is a row of its own (`op`
        // 1 or 2, `target` the message it changes), so that it has an id in the order and
        // reaches a client that resumes; the message itself holds the result (`edited`,
        // `deleted`: when). The search index is a file of its own (see [`index_loop`]).
        tx.execute_batch(
            "ALTER TABLE messages ADD COLUMN edited INTEGER;
             ALTER TABLE messages ADD COLUMN deleted INTEGER;
             ALTER TABLE messages ADD COLUMN target INTEGER;
             ALTER TABLE messages ADD COLUMN op INTEGER;
             CREATE INDEX messages_by_target ON messages (target) WHERE target IS NOT NULL;
             PRAGMA user_version = 4;",
        )?;
        tx.commit()?;
    }
    if version < 5 {
        let tx = conn.transaction()?;
        // Files (extension `files`): a file's message holds what its clients are shown (the
        // JSON of its `FILE`) and the SHA-256 its bytes are stored under, by which a delete
        // finds whether anything else still refers to them.
        tx.execute_batch(
            "ALTER TABLE messages ADD COLUMN file TEXT;
             ALTER TABLE messages ADD COLUMN file_sha TEXT;
             CREATE INDEX messages_by_file ON messages (file_sha) WHERE file_sha IS NOT NULL;
             PRAGMA user_version = 5;",
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// Reads what the registry keeps in memory, dropping what has expired.
/// Every room with its members' keys.
fn load_rooms(conn: &Connection) -> Result<Vec<StoredRoom>, StoreError> {
    let mut rooms: Vec<StoredRoom> = {
        let mut stmt = conn.prepare(
            "SELECT name, topic, invite_only, created FROM rooms ORDER BY name LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![MAX_ROOMS as i64], |r| {
            Ok(StoredRoom {
                name: r.get(0)?,
                topic: r.get(1)?,
                invite_only: r.get(2)?,
                created: r.get(3)?,
                members: Vec::new(),
                invited: Vec::new(),
            })
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let mut members = conn.prepare("SELECT key FROM room_members WHERE room = ?1 ORDER BY key")?;
    let mut invited = conn.prepare("SELECT key FROM room_invites WHERE room = ?1 ORDER BY key")?;
    for room in &mut rooms {
        let keys = members.query_map(params![room.name], |r| r.get(0))?;
        room.members = keys.collect::<Result<_, _>>()?;
        let keys = invited.query_map(params![room.name], |r| r.get(0))?;
        room.invited = keys.collect::<Result<_, _>>()?;
    }
    Ok(rooms)
}

/// Writes one room change inside the batch's transaction.
fn write_room(tx: &rusqlite::Transaction<'_>, op: &RoomOp) -> Result<(), StoreError> {
    match op {
        RoomOp::Put { room, topic, invite_only, created } => {
            tx.prepare_cached(
                "INSERT INTO rooms (name, topic, invite_only, created) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET topic = excluded.topic,
                     invite_only = excluded.invite_only",
            )?
            .execute(params![room, topic, invite_only, created])?;
        }
        RoomOp::Invite { room, key, .. } => {
            tx.prepare_cached("INSERT OR IGNORE INTO room_invites (room, key) VALUES (?1, ?2)")?
                .execute(params![room, key])?;
        }
        RoomOp::Join { room, key } => {
            tx.prepare_cached("INSERT OR IGNORE INTO room_members (room, key) VALUES (?1, ?2)")?
                .execute(params![room, key])?;
            tx.prepare_cached("DELETE FROM room_invites WHERE room = ?1 AND key = ?2")?
                .execute(params![room, key])?;
        }
        RoomOp::Part { room, key } => {
            tx.prepare_cached("DELETE FROM room_members WHERE room = ?1 AND key = ?2")?
                .execute(params![room, key])?;
        }
        RoomOp::PartAll { key } => {
            tx.prepare_cached("DELETE FROM room_members WHERE key = ?1")?.execute(params![key])?;
            tx.prepare_cached("DELETE FROM room_invites WHERE key = ?1")?.execute(params![key])?;
        }
    }
    Ok(())
}

fn load_registry(conn: &Connection) -> Result<registry::Loaded, StoreError> {
    let now = crate::hub::unix_now();
    conn.execute("DELETE FROM tokens WHERE expires <= ?1", params![now])?;
    conn.execute("DELETE FROM reservations WHERE until IS NOT NULL AND until <= ?1", params![now])?;
    let accounts = conn
        .prepare("SELECT key, name, hash, since_id FROM accounts")?
        .query_map([], |r| {
            let hash: String = r.get(2)?;
            Ok((r.get(0)?, Account { name: r.get(1)?, hash: Arc::from(hash), since: r.get(3)? }))
        })?
        .collect::<Result<_, _>>()?;
    let tokens = conn
        .prepare("SELECT hash, key, created, last_used, expires FROM tokens")?
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                Token {
                    key: r.get(1)?,
                    created: r.get(2)?,
                    last_used: r.get(3)?,
                    expires: r.get(4)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    let reservations = conn
        .prepare("SELECT key, name, address, until, since_id FROM reservations")?
        .query_map([], |r| {
            let address: String = r.get(2)?;
            Ok((r.get::<_, String>(0)?, r.get(1)?, address, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<Vec<(String, String, String, Option<i64>, i64)>, _>>()?
        .into_iter()
        .filter_map(|(key, name, address, until, since)| {
            let ip = address.parse().ok()?;
            Some((key, Reservation { name, ip, until, since }))
        })
        .collect();
    let sanctions = conn
        .prepare(
            "SELECT id, kind, key, name, address, by, at, until, reason FROM sanctions
             WHERE lifted IS NULL AND (until IS NULL OR until > ?1)",
        )?
        .query_map(params![now], |r| {
            let kind: String = r.get(1)?;
            let key: Option<String> = r.get(2)?;
            let name: Option<String> = r.get(3)?;
            let address: Option<String> = r.get(4)?;
            Ok(Sanction {
                id: r.get(0)?,
                kind: if kind == "mute" { Kind::Mute } else { Kind::Ban },
                name: key.zip(name),
                address: address.and_then(|a| a.parse().ok()),
                by: r.get(5)?,
                at: r.get(6)?,
                until: r.get(7)?,
                reason: r.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let last_sanction =
        conn.query_row("SELECT COALESCE(MAX(id), 0) FROM sanctions", [], |r| r.get(0))?;
    Ok(registry::Loaded { accounts, tokens, reservations, sanctions, last_sanction })
}

/// The SQL function `name_key(name)`: [`shared::names::name_key`], so that queries compare
/// names as the hub does.
fn name_key(name: &str) -> String {
    shared::names::name_key(name)
}

fn add_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "name_key",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(name_key(&ctx.get::<String>(0)?)),
    )
}

fn write_loop(
    mut conn: Connection,
    files: &FileStore,
    mut rx: mpsc::Receiver<Op>,
    committed: &watch::Sender<i64>,
    commit_seconds: &Histogram,
    index: &std::sync::mpsc::SyncSender<()>,
) -> Result<(), StoreError> {
    let mut batch = Vec::with_capacity(STORE_BATCH);
    while let Some(op) = rx.blocking_recv() {
        batch.push(op);
        while batch.len() < STORE_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut attempt = 1;
        let started = std::time::Instant::now();
        let (last, released) = loop {
            match commit(&mut conn, &batch) {
                Ok(done) => break done,
                Err(e) if attempt < COMMIT_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "commit failed; retrying");
                    std::thread::sleep(Duration::from_millis(100 << attempt));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        commit_seconds.observe(started.elapsed().as_secs_f64());
        let deletes = batch.iter().any(|op| {
            matches!(op, Op::Message { message, .. } if matches!(message.change, Some(Change::Delete(_))))
        });
        batch.clear();
        remove_unreferenced(&conn, files, &released);
        if deletes {
            // The write-ahead log still holds the deleted text's earlier page images: moved
            // into the file (where it is overwritten) and the log emptied.
            wipe_log(&conn);
        }
        if let Some(id) = last {
            publish(committed, id);
            // Full: the indexer has been told already and has not begun yet.
            let _ = index.try_send(());
        }
    }
    // Everything in the file, the log empty, whichever connection closes last.
    wipe_log(&conn);
    Ok(())
}

/// Checkpoints the write-ahead log into the file and truncates it. A reader in the way makes
/// it give up after the busy timeout: the next checkpoint does it.
fn wipe_log(conn: &Connection) {
    let done = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
    if !matches!(done, Ok(0)) {
        tracing::debug!(?done, "the write-ahead log could not be checkpointed whole yet");
    }
}

/// Opens (creating) the search index's file: an FTS5 table of the messages' words, without
/// their text (`content=''`), whose rows can be deleted by id (`contentless_delete`) and whose
/// deleted words leave the index (`secure-delete`), and the last message id taken in.
fn open_index(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // Lost on a power failure, the index is rebuilt from the messages: no need to sync.
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS indexed (last_id INTEGER NOT NULL);
         INSERT INTO indexed (last_id) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM indexed);
         CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
             content, content = '', contentless_delete = 1,
             tokenize = 'unicode61 remove_diacritics 2'
         );
         INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);",
    )?;
    Ok(conn)
}

/// The indexer: whenever woken, takes in the messages stored after the last one it took in,
/// [`INDEX_BATCH`] at a time in id order (a message's words; an edit row: its message's new
/// words; a delete row: none of its message's), and publishes how far it got. Ends when the
/// writer has ended and all is taken in. An error is logged and tried again a second later:
/// a search may find too little meanwhile, the chat goes on.
fn index_loop(
    main: &Connection,
    mut index: Connection,
    woken: &std::sync::mpsc::Receiver<()>,
    indexed: &watch::Sender<i64>,
) {
    let mut last = *indexed.borrow();
    loop {
        match index_batch(main, &mut index, last) {
            Ok(Some(next)) => {
                last = next;
                indexed.send_replace(last);
                continue; // maybe more
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "the search index cannot take messages in; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        }
        if woken.recv().is_err() {
            // The writer has ended: what it committed last is taken in above.
            if let Ok(Some(next)) = index_batch(main, &mut index, last) {
                indexed.send_replace(next);
            }
            return;
        }
    }
}

/// Indexes the messages after `last` (at most [`INDEX_BATCH`]); the last id taken in, `None`
/// if there was none.
fn index_batch(
    main: &Connection,
    index: &mut Connection,
    last: i64,
) -> Result<Option<i64>, StoreError> {
    type Row = (i64, String, Option<i64>, Option<i64>, Option<i64>);
    let rows: Vec<Row> = main
        .prepare_cached(
            "SELECT id, content, deleted, target, op FROM messages
             WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?
        .query_map(params![last, INDEX_BATCH], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    let Some(newest) = rows.last().map(|r| r.0) else { return Ok(None) };
    let tx = index.transaction()?;
    {
        let mut insert =
            tx.prepare_cached("INSERT INTO messages_fts (rowid, content) VALUES (?1, ?2)")?;
        let mut remove = tx.prepare_cached("DELETE FROM messages_fts WHERE rowid = ?1")?;
        let mut now_reads = main.prepare_cached(
            "SELECT content FROM messages WHERE id = ?1 AND op IS NULL AND deleted IS NULL",
        )?;
        for (id, content, deleted, target, op) in rows {
            match (op, target) {
                (None, _) if deleted.is_none() => {
                    insert.execute(params![id, content])?;
                }
                (Some(_), Some(target)) => {
                    // What the message reads now (an edit's text, or nothing once deleted).
                    remove.execute(params![target])?;
                    let text: Option<String> =
                        now_reads.query_row(params![target], |r| r.get(0)).optional()?;
                    if let Some(text) = text {
                        insert.execute(params![target, text])?;
                    }
                }
                _ => {}
            }
        }
        tx.prepare_cached("UPDATE indexed SET last_id = ?1")?.execute(params![newest])?;
    }
    tx.commit()?;
    Ok(Some(newest))
}

/// Commits one batch; returns the highest message id in it, and the files that deleted
/// messages referred to (whose bytes go if nothing else refers to them).
fn commit(conn: &mut Connection, batch: &[Op]) -> Result<(Option<i64>, Vec<String>), StoreError> {
    let tx = conn.transaction()?;
    let mut last = None;
    let mut released = Vec::new();
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO messages
                 (id, src, dest, ts, content, room, target, op, file, file_sha)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;

        let mut block = tx.prepare_cached(
            "INSERT INTO blocks (blocker_key, blocked_key, blocked_name) VALUES (?1, ?2, ?3)
             ON CONFLICT DO UPDATE SET blocked_name = excluded.blocked_name",
        )?;
        let mut unblock =
            tx.prepare_cached("DELETE FROM blocks WHERE blocker_key = ?1 AND blocked_key = ?2")?;
        let mut seen = tx.prepare_cached(
            "INSERT INTO users (name, first_seen, last_seen) VALUES (?1, ?2, ?2)
             ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen",
        )?;
        for op in batch {
            match op {
                Op::Message { id, message: m } => {
                    let room = room_of(&m.dest);
                    let (target, op) = stored_change(m.change);
                    let (file, file_sha) = super::stored_file(m.file.as_ref());
                    let new = insert.execute(params![
                        id,
                        m.src,
                        m.dest,
                        m.timestamp,
                        m.content,
                        room,
                        target,
                        op,
                        file,
                        file_sha
                    ])? == 1;
                    // A message stored before (a retry, another node) changes nothing again.
                    if new && let Some(change) = m.change {
                        released.extend(apply_change(&tx, change, m)?);
                    }
                    last = Some(*id);
                }
                Op::UserSeen { name, at } => {
                    seen.execute(params![name, at])?;
                }
                Op::Block { blocker_key, blocked_key, blocked_name } => {
                    block.execute(params![blocker_key, blocked_key, blocked_name])?;
                }
                Op::Unblock { blocker_key, blocked_key } => {
                    unblock.execute(params![blocker_key, blocked_key])?;
                }
                Op::Registry(op) => write_registry(&tx, op)?,
                Op::Room(op) => write_room(&tx, op)?,
            }
        }
    }
    tx.commit()?;
    Ok((last, released))
}

/// Removes the stored bytes of each of `released` that no message refers to any more.
fn remove_unreferenced(conn: &Connection, files: &FileStore, released: &[String]) {
    for sha in released {
        let referred = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE file_sha = ?1)")
            .and_then(|mut stmt| stmt.query_row(params![sha], |r| r.get::<_, bool>(0)));
        match (referred, Sha256::parse(sha)) {
            (Ok(false), Ok(sha)) => {
                if let Err(e) = files.remove(&sha) {
                    tracing::warn!(error = %e, "removing a deleted message's file");
                }
            }
            (Err(e), _) => tracing::warn!(error = %e, "checking a deleted file's references"),
            _ => {}
        }
    }
}

/// How a message's change is kept: (`target`, `op`) of an edit (1) or delete (2) row.
fn stored_change(change: Option<Change>) -> (Option<i64>, Option<i64>) {
    match change {
        Some(Change::Edit(target)) => (Some(target), Some(1)),
        Some(Change::Delete(target)) => (Some(target), Some(2)),
        _ => (None, None),
    }
}

/// Applies an edit or delete row `m` to the message it changes: an edit replaces the text, a
/// delete removes it (and the text of the message's earlier edits, and its file: the SHA-256
/// returned). A message already deleted stays so. (The search index follows on its own, see
/// [`index_loop`].)
fn apply_change(
    tx: &rusqlite::Transaction<'_>,
    change: Change,
    m: &Message,
) -> Result<Option<String>, StoreError> {
    let (Change::Edit(target) | Change::Delete(target)) = change else {
        return Ok(None);
    };
    let mut released = None;
    if let Change::Edit(_) = change {
        tx.prepare_cached(
            "UPDATE messages SET content = ?2, edited = ?3
             WHERE id = ?1 AND op IS NULL AND deleted IS NULL",
        )?
        .execute(params![target, m.content, m.timestamp])?;
    } else {
        released = tx
            .prepare_cached(
                "SELECT file_sha FROM messages WHERE id = ?1 AND op IS NULL AND deleted IS NULL",
            )?
            .query_row(params![target], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten();
        let deleted = tx
            .prepare_cached(
                "UPDATE messages SET content = '', deleted = ?2, file = NULL, file_sha = NULL
                 WHERE id = ?1 AND op IS NULL AND deleted IS NULL",
            )?
            .execute(params![target, m.timestamp])?;
        if deleted == 0 {
            return Ok(None);
        }
        tx.prepare_cached("UPDATE messages SET content = '' WHERE target = ?1 AND op = 1")?
            .execute(params![target])?;
    }
    Ok(released)
}

/// Writes one registry change inside the batch's transaction.
fn write_registry(tx: &rusqlite::Transaction<'_>, op: &RegistryOp) -> Result<(), StoreError> {
    match op {
        RegistryOp::PutAccount { key, name, hash, since, created } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO accounts (key, name, hash, since_id, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![key, name, hash, since, created])?;
        }
        RegistryOp::DeleteAccount { key } => {
            tx.prepare_cached("DELETE FROM accounts WHERE key = ?1")?.execute(params![key])?;
            tx.prepare_cached("DELETE FROM tokens WHERE key = ?1")?.execute(params![key])?;
        }
        RegistryOp::SetHash { key, hash } => {
            tx.prepare_cached("UPDATE accounts SET hash = ?2 WHERE key = ?1")?
                .execute(params![key, hash])?;
        }
        RegistryOp::PutToken { hash, key, created, expires } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO tokens (hash, key, created, last_used, expires)
                 VALUES (?1, ?2, ?3, ?3, ?4)",
            )?
            .execute(params![hash, key, created, expires])?;
        }
        RegistryOp::TouchToken { hash, last_used, expires } => {
            tx.prepare_cached("UPDATE tokens SET last_used = ?2, expires = ?3 WHERE hash = ?1")?
                .execute(params![hash, last_used, expires])?;
        }
        RegistryOp::DeleteToken { hash } => {
            tx.prepare_cached("DELETE FROM tokens WHERE hash = ?1")?.execute(params![hash])?;
        }
        RegistryOp::PutReservation { key, name, address, until, since } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO reservations (key, name, address, until, since_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![key, name, address, until, since])?;
        }
        RegistryOp::DeleteReservation { key } => {
            tx.prepare_cached("DELETE FROM reservations WHERE key = ?1")?.execute(params![key])?;
        }
        RegistryOp::PutSanction { id, kind, key, name, address, by, at, until, reason } => {
            tx.prepare_cached(
                "INSERT INTO sanctions (id, kind, key, name, address, by, at, until, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![id, kind, key, name, address, by, at, until, reason])?;
        }
        RegistryOp::LiftSanction { id, at } => {
            tx.prepare_cached("UPDATE sanctions SET lifted = ?2 WHERE id = ?1")?
                .execute(params![id, at])?;
        }
        RegistryOp::Audit { at, actor, action, target, reason } => {
            tx.prepare_cached(
                "INSERT INTO audit (at, actor, action, target, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![at, actor, action, target, reason])?;
        }
        RegistryOp::ClearBlocks { blocker_key } => {
            tx.prepare_cached("DELETE FROM blocks WHERE blocker_key = ?1")?
                .execute(params![blocker_key])?;
        }
    }
    Ok(())
}

/// The join history is read in three parts, each a range scan of an index from the newest
/// end, and merged: the newest broadcasts (?1: up to id, ?2: limit, ?3: JSON array of hidden
/// names), then the private messages to and from the user (?1: user, ?2: up to id, ?3:
/// lower bound, ?4: limit, ?5: hidden names).
///
/// The private parts are bounded below by the oldest of the broadcasts kept: anything older
/// cannot be among the newest `limit` overall. Without that bound every private message a
/// user ever got was read at each login, so the cost grew with the store (the history
/// benchmark: p99 2.1 ms at 200,000 messages, 4.6 ms at 1,000,000); with it, the rows read
/// depend on the limit alone. (One statement with a materialized common table expression
/// did the same, but its temporary table cost a fifth of a login's CPU in a fresh store.)
const HISTORY_PUBLIC_SQL: [&str; 2] = [
    "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
     WHERE dest = 'ALL' AND id <= ?1 AND id > ?3
     ORDER BY id DESC LIMIT ?2",
    "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
     WHERE dest = 'ALL' AND id <= ?1 AND id > ?3
       AND name_key(src) NOT IN (SELECT value FROM json_each(?4))
     ORDER BY id DESC LIMIT ?2",
];

/// Private messages to the user (see [`HISTORY_PUBLIC_SQL`]).
const HISTORY_TO_SQL: [&str; 2] = [
    "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
     WHERE dest = ?1 AND id <= ?2 AND id >= ?3
     ORDER BY id DESC LIMIT ?4",
    "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
     WHERE dest = ?1 AND id <= ?2 AND id >= ?3
       AND name_key(src) NOT IN (SELECT value FROM json_each(?5))
     ORDER BY id DESC LIMIT ?4",
];

/// Private messages from the user to others (see [`HISTORY_PUBLIC_SQL`]).
const HISTORY_FROM_SQL: [&str; 2] = [
    "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
     WHERE src = ?1 AND dest <> 'ALL' AND dest <> ?1 AND room IS NULL
       AND id <= ?2 AND id >= ?3
     ORDER BY id DESC LIMIT ?4",
    "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
     WHERE src = ?1 AND dest <> 'ALL' AND dest <> ?1 AND room IS NULL
       AND id <= ?2 AND id >= ?3
       AND name_key(dest) NOT IN (SELECT value FROM json_each(?5))
     ORDER BY id DESC LIMIT ?4",
];

/// A room's messages (see [`HISTORY_PUBLIC_SQL`]).
const HISTORY_ROOM_SQL: [&str; 2] = [
    "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
     WHERE room = ?1 AND id <= ?2 AND id >= ?3
     ORDER BY id DESC LIMIT ?4",
    "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
     WHERE room = ?1 AND id <= ?2 AND id >= ?3
       AND name_key(src) NOT IN (SELECT value FROM json_each(?5))
     ORDER BY id DESC LIMIT ?4",
];

/// A stored message with its id (the columns `id, src, dest, ts, content, edited, deleted,
/// target, op, file`).
fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Message)> {
    let id = r.get(0)?;
    let change = super::change_of(r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?);
    let file = super::file_of(r.get::<_, Option<String>>(9)?.as_deref());
    let m = Message::new(
        r.get::<_, String>(1)?,
        r.get::<_, String>(2)?,
        r.get(3)?,
        r.get::<_, String>(4)?,
    );
    Ok((id, Message { id: Some(id), change, file, ..m }))
}

/// The newest `limit` messages of `room` with ids from `lo` to `upto`, newest first.
fn room_rows(
    conn: &Connection,
    variant: usize,
    room: &str,
    upto: i64,
    lo: i64,
    limit: i64,
    hidden: &str,
) -> Result<Vec<(i64, Message)>, StoreError> {
    let mut stmt = conn.prepare_cached(HISTORY_ROOM_SQL[variant])?;
    let rows = if variant == 0 {
        stmt.query_map(params![room, upto, lo, limit], message_row)?.collect::<Result<_, _>>()?
    } else {
        stmt.query_map(params![room, upto, lo, limit, hidden], message_row)?
            .collect::<Result<_, _>>()?
    };
    Ok(rows)
}

/// A statement built with its parameters numbered as they are added.
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<rusqlite::types::Value>,
}

impl Sql {
    /// Adds a parameter; its placeholder.
    fn arg(&mut self, value: impl Into<rusqlite::types::Value>) -> String {
        self.args.push(value.into());
        format!("?{}", self.args.len())
    }
}

/// A list as a JSON array, for `json_each`.
fn json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

/// The visible messages just before and just after `m` in its conversation, oldest first.
fn context(conn: &Connection, m: &Message, scope: &Scope) -> Result<Vec<Message>, StoreError> {
    let Some(id) = m.id else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(2);
    for (compare, order) in [("<", "DESC"), (">", "ASC")] {
        let mut sql = Sql::default();
        let place = match Place::of(m, scope) {
            Place::All => "dest = 'ALL'".to_owned(),
            Place::Room(room) => format!("room = {}", sql.arg(room.to_owned())),
            Place::Private(a, b) => {
                let (a, b) = (sql.arg(a.to_owned()), sql.arg(b.to_owned()));
                format!(
                    "room IS NULL AND id > {} AND ((src = {a} AND dest = {b}) OR (src = {b} AND dest = {a}))",
                    sql.arg(scope.since)
                )
            }
        };
        let hidden = if scope.hidden.is_empty() {
            String::new()
        } else {
            format!(
                " AND name_key(src) NOT IN (SELECT value FROM json_each({}))",
                sql.arg(json(&scope.hidden))
            )
        };
        sql.text = format!(
            "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
             WHERE {place} AND id {compare} {id} AND op IS NULL AND deleted IS NULL{hidden}
             ORDER BY id {order} LIMIT 1",
            id = sql.arg(id),
        );
        let mut stmt = conn.prepare_cached(&sql.text)?;
        let found =
            stmt.query_row(rusqlite::params_from_iter(&sql.args), message_row).optional()?;
        out.extend(found.map(|(_, m)| m));
    }
    out.sort_by_key(|m| m.id);
    Ok(out)
}

impl Reader {
    /// The join history of `user`: messages with id up to `upto`, at most `limit`, oldest
    /// first: broadcasts, the messages of `rooms`, and the private messages to or from `user`
    /// with ids above `since` (where the user's claim to the name began), without any message
    /// from or to a name whose key is in `hidden`; only ids above `after` (a resumed login's).
    ///
    /// Each variant of the statements leaves the key comparison out when nothing is hidden:
    /// computing a name's key costs about a microsecond per row read.
    #[allow(clippy::too_many_arguments, reason = "the history's parts and its bounds")]
    pub(super) async fn history(
        &self,
        user: &str,
        upto: i64,
        limit: usize,
        hidden: &[String],
        since: i64,
        rooms: &[String],
        after: i64,
    ) -> Result<Vec<Message>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let user = user.to_owned();
        let rooms = rooms.to_vec();
        let variant = usize::from(!hidden.is_empty());
        let hidden = serde_json::to_string(hidden).unwrap_or_else(|_| "[]".to_owned());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(HISTORY_PUBLIC_SQL[variant])?;
            let mut rows: Vec<(i64, Message)> = if variant == 0 {
                stmt.query_map(params![upto, limit, after], message_row)?
                    .collect::<Result<_, _>>()?
            } else {
                stmt.query_map(params![upto, limit, after, hidden], message_row)?
                    .collect::<Result<_, _>>()?
            };
            let full = rows.len() == usize::try_from(limit).unwrap_or(usize::MAX);
            let lo_public = if full { rows.last().map_or(0, |(id, _)| *id) } else { 0 };
            let lo_public = lo_public.max(after.saturating_add(1));
            let lo = lo_public.max(since.saturating_add(1));
            for sql in [HISTORY_TO_SQL[variant], HISTORY_FROM_SQL[variant]] {
                let mut stmt = conn.prepare_cached(sql)?;
                let found = if variant == 0 {
                    stmt.query_map(params![user, upto, lo, limit], message_row)?
                        .collect::<Result<Vec<_>, _>>()?
                } else {
                    stmt.query_map(params![user, upto, lo, limit, hidden], message_row)?
                        .collect::<Result<Vec<_>, _>>()?
                };
                rows.extend(found);
            }
            for room in &rooms {
                rows.extend(room_rows(conn, variant, room, upto, lo_public, limit, &hidden)?);
            }
            // Newest `limit` of all the parts, oldest first.
            rows.sort_unstable_by_key(|(id, _)| std::cmp::Reverse(*id));
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            Ok(rows.into_iter().rev().map(|(_, m)| m).collect())
        })
        .await
    }

    /// The newest `limit` messages of `room` with ids up to `upto`, oldest first, without
    /// any from a name whose key is in `hidden`.
    pub(super) async fn room_history(
        &self,
        room: &str,
        upto: i64,
        limit: usize,
        hidden: &[String],
    ) -> Result<Vec<Message>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let room = room.to_owned();
        let variant = usize::from(!hidden.is_empty());
        let hidden = serde_json::to_string(hidden).unwrap_or_else(|_| "[]".to_owned());
        self.read(move |conn| {
            let rows = room_rows(conn, variant, &room, upto, 0, limit, &hidden)?;
            Ok(rows.into_iter().rev().map(|(_, m)| m).collect())
        })
        .await
    }

    /// See [`super::Reader::count_between`].
    pub(super) async fn count_between(
        &self,
        user: &str,
        after: i64,
        before: i64,
        hidden: &[String],
        since: i64,
        rooms: &[String],
    ) -> Result<u64, StoreError> {
        let user = user.to_owned();
        let rooms = rooms.to_vec();
        let hide = !hidden.is_empty();
        let hidden = serde_json::to_string(hidden).unwrap_or_else(|_| "[]".to_owned());
        let cap = i64::try_from(super::MAX_MISSED).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let not_hidden = |column: &str| {
                if hide {
                    format!(" AND name_key({column}) NOT IN (SELECT value FROM json_each(?5))")
                } else {
                    // Nothing hidden: no key computed per row, but ?5 stays in the statement
                    // so that every part binds the same five parameters.
                    " AND ?5 IS NOT NULL".to_owned()
                }
            };
            let private_after = after.max(since);
            let parts: Vec<(String, String, i64)> = [
                ("dest = 'ALL'".to_owned(), not_hidden("src"), after, String::new()),
                ("dest = ?4".to_owned(), not_hidden("src"), private_after, user.clone()),
                (
                    "src = ?4 AND dest <> 'ALL' AND dest <> ?4 AND room IS NULL".to_owned(),
                    not_hidden("dest"),
                    private_after,
                    user.clone(),
                ),
            ]
            .into_iter()
            .chain(
                rooms.iter().map(|r| ("room = ?4".to_owned(), not_hidden("src"), after, r.clone())),
            )
            .map(|(place, filter, lo, arg)| {
                (
                    format!(
                        "SELECT COUNT(*) FROM (SELECT 1 FROM messages
                         WHERE {place} AND id > ?1 AND id < ?2{filter} LIMIT ?3)"
                    ),
                    arg,
                    lo,
                )
            })
            .collect();
            let mut total: u64 = 0;
            for (sql, arg, lo) in parts {
                let mut stmt = conn.prepare_cached(&sql)?;
                let n: i64 = stmt.query_row(params![lo, before, cap, arg, hidden], |r| r.get(0))?;
                total = total.saturating_add(u64::try_from(n).unwrap_or(0));
            }
            Ok(total.min(super::MAX_MISSED))
        })
        .await
    }

    /// Every user ever seen (the [`MAX_ALL_USERS`] most recently seen), sorted by name.
    pub(super) async fn all_users(&self) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name FROM (SELECT name FROM users ORDER BY last_seen DESC LIMIT ?1)
                 ORDER BY name",
            )?;
            let rows = stmt.query_map(params![MAX_ALL_USERS as i64], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }

    /// See [`super::Reader::message`].
    /// See [`super::Reader::file_usage`].
    pub(super) async fn file_usage(&self, key: String) -> Result<u64, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT COALESCE(SUM(json_extract(file, '$.SIZE')), 0) FROM messages
                 WHERE file_sha IS NOT NULL AND name_key(src) = ?1",
            )?;
            Ok(stmt.query_row(params![key], |r| r.get::<_, i64>(0))?.max(0).unsigned_abs())
        })
        .await
    }

    pub(super) async fn message(&self, id: i64) -> Result<Option<Message>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
                 WHERE id = ?1",
            )?;
            Ok(stmt.query_row(params![id], message_row).optional()?.map(|(_, m)| m))
        })
        .await
    }

    /// See [`super::Reader::search`].
    pub(super) async fn search(
        &self,
        terms: &[String],
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        let query = crate::search::fts5(terms);
        let scope = scope.clone();
        // What was committed when the search was asked is searched (the index is usually a
        // few milliseconds behind).
        let asked = *self.inner.committed.borrow();
        let mut indexed = self.inner.indexed.clone();
        let _ = tokio::time::timeout(INDEX_WAIT, indexed.wait_for(|i| *i >= asked)).await;
        self.read(move |conn| {
            let mut sql = Sql::default();
            let text = format!(
                "SELECT m.id, m.src, m.dest, m.ts, m.content, m.edited, m.deleted, m.target, m.op, m.file
                 FROM idx.messages_fts AS f CROSS JOIN messages AS m ON m.id = f.rowid
                 WHERE f.messages_fts MATCH {query} AND f.rowid < {older}
                   AND m.op IS NULL AND m.deleted IS NULL
                   AND (m.dest = 'ALL' OR m.room IN (SELECT value FROM json_each({rooms}))
                        OR (m.room IS NULL AND m.id > {since}
                            AND (m.dest = {user} OR m.src = {user})))",
                query = sql.arg(query),
                older = sql.arg(scope.older_than.unwrap_or(i64::MAX)),
                rooms = sql.arg(json(&scope.rooms)),
                since = sql.arg(scope.since),
                user = sql.arg(scope.user.clone()),
            );
            sql.text = text;
            if !scope.hidden.is_empty() {
                let hidden = sql.arg(json(&scope.hidden));
                sql.text += &format!(
                    " AND name_key(m.src) NOT IN (SELECT value FROM json_each({hidden}))
                      AND (m.dest = 'ALL' OR m.room IS NOT NULL
                           OR name_key(m.dest) NOT IN (SELECT value FROM json_each({hidden})))"
                );
            }
            let columns = FilterColumns {
                dest: "m.dest",
                room: "m.room",
                sender_key: "name_key(m.src)",
                ts: "m.ts",
            };
            let filters = scope.filters(columns, &mut |value| match value {
                Arg::Text(t) => sql.arg(t),
                Arg::Int(i) => sql.arg(i),
            });
            sql.text += &filters;
            let limit = sql.arg(i64::try_from(limit).unwrap_or(i64::MAX));
            sql.text += &format!(" ORDER BY f.rowid DESC LIMIT {limit}");
            let found: Vec<Message> = {
                let mut stmt = conn.prepare(&sql.text)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(&sql.args), message_row)?;
                rows.map(|r| r.map(|(_, m)| m)).collect::<Result<_, _>>()?
            };
            found
                .into_iter()
                .map(|message| {
                    let context = context(conn, &message, &scope)?;
                    Ok(Hit { message, context })
                })
                .collect()
        })
        .await
    }

    /// Runs `f` on a pooled read-only connection on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _permit = self.inner.permits.acquire().await.map_err(|_| StoreError::Closed)?;
        let pool = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let idle = pool.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match idle {
                Some(c) => c,
                None => {
                    let c = Connection::open_with_flags(
                        &pool.path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    c.busy_timeout(BUSY_TIMEOUT)?;
                    add_functions(&c)?;
                    let search = pool.search.to_string_lossy().into_owned();
                    c.execute("ATTACH DATABASE ?1 AS idx", params![search])?;
                    c
                }
            };
            let out = f(&conn);
            pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
            out
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What only SQLite has: readers beside a writer's transaction (WAL), the file's schema
    /// version and journal mode, and the refusal of a newer file. What both backends do is
    /// tested in `store::tests`, against both.
    async fn store_with(n: i64) -> (tempfile::TempDir, Writer, super::super::Reader) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (writer, reader, loaded) = open(dir.path(), CancellationToken::new()).expect("open");
        assert_eq!(loaded.last_id, 0);
        for id in 1..=n {
            let message = Message::new("a", "ALL", 0, format!("{id}"));
            writer.ops.send(Op::Message { id, message }).await.expect("queued");
        }
        let mut committed = writer.committed.clone();
        committed.wait_for(|c| *c >= n).await.expect("committed");
        (dir, writer, reader)
    }

    fn ids(h: &[Message]) -> Vec<String> {
        h.iter().map(|m| m.content.clone()).collect()
    }

    #[tokio::test]
    async fn history_reads_do_not_wait_for_a_writer_holding_a_transaction() {
        let (dir, _w, reader) = store_with(1).await;
        // EXCLUSIVE would lock every reader out of a rollback-journal database; WAL lets
        // them read the last committed state meanwhile.
        let other = Connection::open(dir.path().join(DB_FILE)).expect("second writer");
        other
            .execute_batch(
                "BEGIN EXCLUSIVE;
                 INSERT INTO messages (id, src, dest, ts, content) VALUES (2, 'a', 'ALL', 0, '2');",
            )
            .expect("write transaction open");
        let read = tokio::time::timeout(
            Duration::from_secs(2),
            reader.history("x", i64::MAX, 10, &[], 0, &[]),
        )
        .await
        .expect("the read did not wait for the writer")
        .expect("read");
        assert_eq!(ids(&read), ["1"], "uncommitted rows are not visible");
        other.execute_batch("ROLLBACK").expect("rollback");
    }

    #[tokio::test]
    async fn a_private_message_to_a_hash_name_from_before_rooms_is_no_rooms() {
        // Before rooms, `#old` was a name anyone could take; its private messages stay private
        // after the upgrade however a room of that name is used.
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut conn = Connection::open(dir.path().join(DB_FILE)).expect("open");
            conn.execute_batch(
                "CREATE TABLE messages (id INTEGER PRIMARY KEY, src TEXT NOT NULL,
                     dest TEXT NOT NULL, ts INTEGER NOT NULL, content TEXT NOT NULL);
                 CREATE INDEX messages_by_dest ON messages (dest, id);
                 CREATE INDEX messages_private_by_src ON messages (src, id) WHERE dest <> 'ALL';
                 CREATE TABLE users (name TEXT PRIMARY KEY, first_seen INTEGER NOT NULL,
                     last_seen INTEGER NOT NULL) WITHOUT ROWID;
                 CREATE TABLE blocks (blocker TEXT NOT NULL, blocked TEXT NOT NULL,
                     PRIMARY KEY (blocker, blocked)) WITHOUT ROWID;
                 INSERT INTO messages VALUES (1, 'ann', '#old', 0, 'private to #old');
                 PRAGMA user_version = 1;",
            )
            .expect("a version 1 database");
            migrate(&mut conn).expect("migrated");
        }
        let (writer, reader, _) = open(dir.path(), CancellationToken::new()).expect("open");
        let message = Message::new("bob", "#old", 0, "to the room");
        writer.ops.send(Op::Message { id: 2, message }).await.expect("queued");
        writer.committed.clone().wait_for(|c| *c >= 2).await.expect("committed");
        let room = reader.room_history("#old", i64::MAX, 10, &[]).await.expect("read");
        let contents: Vec<&str> = room.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["to the room"]);
        let rooms = ["#old".to_owned()];
        let member = reader.history("cy", i64::MAX, 10, &[], 0, &rooms).await.expect("read");
        assert!(member.iter().all(|m| m.content != "private to #old"), "{member:?}");
    }

    #[tokio::test]
    async fn a_lost_search_index_is_rebuilt_from_the_messages() {
        let (dir, writer, _r) = store_with(3).await;
        drop(writer.ops);
        assert!(writer.finished.wait().await, "writer ends");
        for file in [SEARCH_FILE.to_owned(), format!("{SEARCH_FILE}-wal")] {
            let _ = std::fs::remove_file(dir.path().join(file));
        }
        let (_w, reader, _) = open(dir.path(), CancellationToken::new()).expect("open");
        let scope = crate::search::Scope { user: "x".into(), ..Default::default() };
        let terms = crate::search::terms("2").expect("terms");
        let found = reader.search(&terms, &scope, 10).await.expect("search");
        let ids: Vec<Option<i64>> = found.iter().map(|h| h.message.id).collect();
        assert_eq!(ids, [Some(2)], "indexed again at the start");
    }

    #[tokio::test]
    async fn the_file_keeps_its_schema_version_in_wal_mode() {
        let (dir, writer, _r) = store_with(2).await;
        drop(writer.ops);
        assert!(writer.finished.wait().await, "writer ends");
        let conn = Connection::open(dir.path().join(DB_FILE)).expect("open");
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
        assert_eq!(v, SCHEMA_VERSION);
        let mode: String =
            conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("mode");
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn a_database_from_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = Connection::open(dir.path().join(DB_FILE)).expect("create");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).expect("set version");
        drop(conn);
        let err = open(dir.path(), CancellationToken::new()).expect_err("refused");
        assert!(matches!(err, StoreError::TooNew(v) if v == SCHEMA_VERSION + 1), "{err}");
    }
}
